/* wmem.h -- model weights copied into anonymous memory backed by transparent huge pages.
 *
 * Generation reads every weight once per token, so its speed is the memory bandwidth the
 * mat-vec kernels reach.  Weights read through a file mapping sit in 4 KiB page-cache
 * pages: a 0.5 GB model spans 120,000 pages and the page walks of their TLB misses cost
 * several percent of that bandwidth.  A copy in 2 MiB pages needs 500 TLB entries.
 *
 * wmem_copy() allocates an anonymous region aligned to 2 MiB, asks for huge pages
 * (madvise MADV_HUGEPAGE; the kernel gives them when transparent huge pages are "always"
 * or "madvise"), and copies the source into it in chunks.  When the source is a private
 * file mapping (drop_src), each copied chunk's pages are released from the mapping
 * (MADV_DONTNEED; a later access reads them from the file again), so resident memory
 * does not hold the weights twice.  The copy keeps the source's offset within a page, so
 * every pointer keeps its alignment. */
#ifndef MEMLLM_WMEM_H
#define MEMLLM_WMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/status.h"

struct wmem; /* opaque */

/* Whether the kernel may back an madvise()d region with transparent huge pages
 * (/sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise"). */
bool wmem_huge_pages(void);

/* Copy [src, src + n) (n > 0).  *out receives the handle, *dst the copy of src.
 * drop_src: src lies in a private read-only file mapping whose pages may be released
 * after copying (never pass true for heap or other anonymous memory: it would be zeroed).
 * STATUS_NOMEM when the region cannot be allocated; *out and *dst are set only on
 * success. */
enum status wmem_copy(const void *src, size_t n, bool drop_src, struct wmem **out,
                      const void **dst);

size_t wmem_size(const struct wmem *w); /* bytes copied */

/* Bytes of the copy that the kernel backs with huge pages now (from /proc/self/smaps;
 * 0 when unknown). */
size_t wmem_huge_bytes(const struct wmem *w);

void wmem_free(struct wmem *w); /* NULL is a no-op */

#endif /* MEMLLM_WMEM_H */
