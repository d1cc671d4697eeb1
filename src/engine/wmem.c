/* wmem.c -- model weights in anonymous memory backed by transparent huge pages. */
#include "config.h"
#include "engine/wmem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/i18n.h"

#define WMEM_HUGE ((size_t)2 << 20)  /* the x86-64 transparent huge page */
#define WMEM_CHUNK ((size_t)64 << 20) /* copied, then released from the source, at a time */

struct wmem {
    void *map;     /* the whole anonymous mapping */
    size_t map_len;
    unsigned char *data; /* the copy: map + 2 MiB alignment + the source's page offset */
    size_t n;
};

bool wmem_huge_pages(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return false;
    char line[128];
    bool ok = fgets(line, sizeof line, f) != NULL &&
              (strstr(line, "[always]") != NULL || strstr(line, "[madvise]") != NULL);
    fclose(f);
    return ok;
}

static size_t wmem_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

enum status wmem_copy(const void *src, size_t n, bool drop_src, struct wmem **out,
                      const void **dst)
{
    if (!src || n == 0)
        return status_detail_set(STATUS_INVALID, "wmem_copy: empty source");
    size_t page = wmem_page();
    size_t lead = (uintptr_t)src % page;
    /* room for the lead, the data and aligning the start to a huge page */
    if (n > SIZE_MAX - lead - 2 * WMEM_HUGE)
        return STATUS_OVERFLOW;
    size_t len = (lead + n + WMEM_HUGE - 1) / WMEM_HUGE * WMEM_HUGE;
    size_t map_len = len + WMEM_HUGE;
    void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return status_detail_set(STATUS_NOMEM,
                                 _("cannot allocate %zu bytes for the weights: %s"), map_len,
                                 strerror(errno));
    struct wmem *w = calloc(1, sizeof *w);
    if (!w) {
        munmap(map, map_len);
        return STATUS_NOMEM;
    }
    unsigned char *aligned =
        (unsigned char *)(((uintptr_t)map + WMEM_HUGE - 1) & ~(uintptr_t)(WMEM_HUGE - 1));
    /* advisory: without transparent huge pages the copy still works, in small pages */
    (void)madvise(aligned, len, MADV_HUGEPAGE);
    w->map = map;
    w->map_len = map_len;
    w->data = aligned + lead;
    w->n = n;
    const unsigned char *s = src;
    for (size_t off = 0; off < n; off += WMEM_CHUNK) {
        size_t c = n - off < WMEM_CHUNK ? n - off : WMEM_CHUNK;
        memcpy(w->data + off, s + off, c);
        if (!drop_src)
            continue;
        /* release the whole source pages inside this chunk (partial pages at its ends
         * may hold bytes of the next chunk or of data before the weights) */
        uintptr_t lo = ((uintptr_t)(s + off) + page - 1) & ~(uintptr_t)(page - 1);
        uintptr_t hi = (uintptr_t)(s + off + c) & ~(uintptr_t)(page - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    *out = w;
    *dst = w->data;
    return STATUS_OK;
}

size_t wmem_size(const struct wmem *w)
{
    return w->n;
}

size_t wmem_huge_bytes(const struct wmem *w)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[256];
    bool in = false;
    size_t kib = 0;
    uintptr_t start = (uintptr_t)w->map, end = start + w->map_len;
    while (fgets(line, sizeof line, f)) {
        uintptr_t a, b;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &a, &b) == 2) {
            in = a < end && b > start;
            continue;
        }
        size_t v;
        if (in && sscanf(line, "AnonHugePages: %zu kB", &v) == 1)
            kib += v;
    }
    fclose(f);
    return kib * 1024;
}

void wmem_free(struct wmem *w)
{
    if (!w)
        return;
    munmap(w->map, w->map_len);
    free(w);
}
