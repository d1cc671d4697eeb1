/* pool.h -- a fixed pool of worker threads that run one range-split job at a time.
 *
 * pool_run(p, n, fn, ctx) cuts [0, n) into contiguous chunks (about four per thread), which
 * the calling thread and the workers claim until none are left, and returns when all are
 * done.  Which thread runs a chunk depends on scheduling, so fn must compute each task the
 * same way whatever range it comes in (each output element inside exactly one task, with a
 * fixed summation order): results are then bit-identical for any thread count.
 *
 * Hand-off: between jobs an idle worker, and the caller waiting for the last chunks, spin
 * for a short bounded time before sleeping on a condition variable, so back-to-back short
 * jobs cost no system calls.  The environment variable MEMLLM_SPIN_US (read by pool_new)
 * sets that time in microseconds: default 50, 0 = never spin, capped at 100000.
 *
 * BLAS: pool_new() calls openblas_set_num_threads(1) (when the library has it), so
 * OpenBLAS never starts threads of its own that would fight the workers for cores;
 * parallel BLAS work is done by giving each worker its own block of rows. */
#ifndef MEMLLM_POOL_H
#define MEMLLM_POOL_H

#include <stddef.h>

#include "util/status.h"

#define POOL_MAX_THREADS 256

struct pool; /* opaque */

/* Work on [begin, end); thread is 0 .. n_threads-1 (0 = the caller), handy for picking
 * per-thread scratch. */
typedef void (*pool_fn)(void *ctx, size_t begin, size_t end, int thread);

/* n_threads 0 = one per online core; capped at POOL_MAX_THREADS.  Starts n_threads - 1
 * workers.  *out set only on success; free with pool_free(). */
enum status pool_new(int n_threads, struct pool **out);
void pool_free(struct pool *p); /* NULL is a no-op; joins the workers */

int pool_n_threads(const struct pool *p);

/* Number of online cores (at least 1). */
int pool_online_cores(void);

/* Run fn over [0, n_tasks) and wait.  Not reentrant: call it from one thread at a time
 * and never from inside fn.  n_tasks 0 returns at once; one task (or one thread) runs on
 * the caller alone. */
void pool_run(struct pool *p, size_t n_tasks, pool_fn fn, void *ctx);

/* Range `part` of `parts` nearly equal contiguous ranges over [0, n) (a static split). */
void pool_split(size_t n, int parts, int part, size_t *begin, size_t *end);

#endif /* MEMLLM_POOL_H */
