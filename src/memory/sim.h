/* sim.h -- exact cosine top-k over unit vectors held in RAM (one handle per kind: entities,
 * relations), scanned with OpenBLAS.
 *
 * The handle owns an n x dim float matrix of L2-normalized rows, each tagged with a
 * caller id (the store's row id), and an id -> row map.  Rows are appended in bulk at
 * open (sim_add with many rows), appended on insert, and swap-removed on retire, so the
 * row order is arbitrary; results never depend on it.
 *
 * A search is exact.  Scores are cosines computed as double-precision sums over the
 * stored floats (the same value a scalar double loop over the row in index order gives).
 * The scan itself runs in single precision (cblas_sgemv for one query, cblas_sgemm for
 * several, over blocks of SIM_BLOCK_ROWS rows so scratch stays small) and keeps every
 * row whose float score is within twice a proven rounding bound of the running k-th best;
 * those few candidates are then re-scored in double and sorted.  Order: distance
 * ascending (cosine descending), then id ascending.  Distances are 1 - cos; with a
 * threshold thr only hits with distance < thr are returned (pass INFINITY for none).
 *
 * Threads: a handle is not locked.  Searches only read it and allocate their own scratch,
 * so several searches may run at once; sim_add/sim_remove need exclusive use.  sim never
 * changes OpenBLAS's thread count: BLAS runs with whatever the program set (once, at
 * start-up, with openblas_set_num_threads where available).  With Debian's pthreads
 * OpenBLAS, call sim from one thread at a time and not while another thread runs its own
 * compute pool (see README: the scan is memory-bound, so one BLAS thread already gets most
 * of the bandwidth). */
#ifndef MEMLLM_SIM_H
#define MEMLLM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

#define SIM_BLOCK_ROWS 8192
/* Rows must have squared norm within this of 1 (NaN and infinity are rejected). */
#define SIM_NORM_TOL 1e-3

struct sim; /* opaque */

struct sim_hit {
    int64_t id;
    double dist; /* 1 - cos, cos as a double sum over the stored floats */
};

/* A new empty index of dim-dimensional vectors (dim 1 .. 65536). */
enum status sim_new(size_t dim, struct sim **out);
void sim_free(struct sim *s); /* NULL is a no-op */

size_t sim_dim(const struct sim *s);
size_t sim_count(const struct sim *s);

/* Make room for n rows in total, so that a bulk load does not reallocate. */
enum status sim_reserve(struct sim *s, size_t n);

/* Append n rows: vecs is n x dim (row-major), ids[i] tags row i.  dim must equal the
 * index's dimension (STATUS_INVALID otherwise).  All or nothing: a duplicate id (already
 * present or twice in ids) gives STATUS_EXISTS, a row that is not a unit vector
 * STATUS_INVALID (details name the row); the index is then unchanged. */
enum status sim_add(struct sim *s, const int64_t *ids, const float *vecs, size_t n, size_t dim);

/* Remove the row tagged id (the last row moves into its place); STATUS_NOT_FOUND if absent. */
enum status sim_remove(struct sim *s, int64_t id);

bool sim_contains(const struct sim *s, int64_t id);

/* The stored vector of id (dim floats), or NULL; borrowed until the next add/remove/free. */
const float *sim_vector(const struct sim *s, int64_t id);

/* The k nearest rows to the unit vector q (dim floats, dim must match) with distance < thr,
 * best first, into hits[0..*n_hits); *n_hits <= min(k, count).  k == 0 or an empty index
 * gives 0 hits. */
enum status sim_search(const struct sim *s, const float *q, size_t dim, size_t k, double thr,
                       struct sim_hit *hits, size_t *n_hits);

/* nq queries at once (qs is nq x dim), reading the matrix once: query j's hits go to
 * hits[j * k ..] and their number to n_hits[j].  Same results as nq sim_search calls. */
enum status sim_search_batch(const struct sim *s, const float *qs, size_t nq, size_t dim,
                             size_t k, double thr, struct sim_hit *hits, size_t *n_hits);

#endif /* MEMLLM_SIM_H */
