/* pool.c -- worker threads that claim fixed chunks of a job from an atomic counter.
 *
 * Why chunks are claimed rather than assigned: on a machine whose cores are shared (other
 * processes, or OpenBLAS threads) a worker may not run for milliseconds; with a static
 * split the caller would wait for it, while with claiming the threads that do run take
 * the rest.  Which thread computes a task never changes the task's result, so outputs stay
 * bit-identical for any thread count and any schedule.
 *
 * Protocol (all under mu unless noted): pool_run() publishes the job, bumps generation and
 * sets open.  A worker joins a job only while it is open (active++), then claims chunks with
 * an atomic fetch-add (outside mu) until none are left, and leaves (active--).  The caller
 * claims chunks too, then waits for active == 0 and closes the job, so a worker that wakes
 * late can never run a finished job's function or claim chunks of the next job.
 *
 * Cheap hand-off for short jobs: a decode step runs ~100 small jobs, and a futex sleep and
 * wake-up per job costs about as much as the job.  So before sleeping, an idle worker spins
 * (reading generation and quit, with a CPU pause hint) and the caller spins on active, for
 * at most spin_ns (MEMLLM_SPIN_US, default POOL_SPIN_US_DEFAULT; 0 turns spinning off).  The
 * spins only decide WHEN to take mu: every decision (join, leave, close, quit) is still
 * made under mu exactly as above, and a waiter re-checks its condition under mu before
 * pthread_cond_wait, so no wake-up can be lost.  generation, quit and active are atomics
 * because the spins read them without mu; they are written only under mu.  The spin is
 * bounded in time, so on an oversubscribed machine a thread waiting for a descheduled
 * partner gives its core back after spin_ns instead of burning a time slice. */
#include "config.h"
#include "engine/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#if HAVE_CBLAS_H
#include <cblas.h>
#endif

#include "util/i18n.h"
#include "util/timing.h"

#define POOL_CHUNKS_PER_THREAD 4
#define POOL_SPIN_US_DEFAULT 50
#define POOL_SPIN_US_MAX 100000 /* 100 ms: beyond that spinning only wastes cores */
#define POOL_SPIN_CHECK 32      /* pause hints between clock readings */

struct pool_worker {
    struct pool *pool;
    pthread_t thread;
    int index;
};

struct pool {
    int n_threads;
    int n_started; /* workers actually created */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t done; /* the caller waits here for active == 0 */
    uint64_t spin_ns; /* longest spin before sleeping; 0 = never spin */
    /* generation, quit and active: written under mu, read without it by the spins. */
    atomic_ulong generation;
    atomic_bool quit;
    bool open;         /* the current job may still be joined */
    atomic_int active; /* workers inside the current job */
    /* The current job; written under mu before generation is bumped. */
    pool_fn fn;
    void *ctx;
    size_t n_tasks, chunk, n_chunks;
    atomic_size_t next; /* next chunk to claim */
    struct pool_worker *workers; /* (n_threads - 1) */
};

int pool_online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
}

void pool_split(size_t n, int parts, int part, size_t *begin, size_t *end)
{
    size_t base = n / (size_t)parts, rem = n % (size_t)parts, k = (size_t)part;
    /* the first `rem` parts get one extra task */
    *begin = k * base + (k < rem ? k : rem);
    *end = *begin + base + (k < rem ? 1 : 0);
}

/* Tell the CPU we are in a spin-wait loop (frees pipeline resources for a sibling
 * hyper-thread and avoids a memory-order flush when the loop exits). */
static inline void pool_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* MEMLLM_SPIN_US from the environment: microseconds to spin before sleeping. */
static uint64_t pool_spin_ns_from_env(void)
{
    const char *s = getenv("MEMLLM_SPIN_US");
    if (!s || !*s)
        return (uint64_t)POOL_SPIN_US_DEFAULT * 1000;
    char *end;
    long long us = strtoll(s, &end, 10);
    if (*end != '\0' || us < 0)
        return (uint64_t)POOL_SPIN_US_DEFAULT * 1000; /* malformed: keep the default */
    if (us > POOL_SPIN_US_MAX)
        us = POOL_SPIN_US_MAX;
    return (uint64_t)us * 1000;
}

/* Worker: spin until a generation other than seen (or quit) shows up, for at most spin_ns.
 * True if it did; false on time-out.  The answer is only a hint: the caller re-checks
 * under mu. */
static bool pool_spin_for_job(struct pool *p, unsigned long seen)
{
    if (p->spin_ns == 0)
        return false;
    uint64_t start = timing_now_ns();
    for (;;) {
        for (int i = 0; i < POOL_SPIN_CHECK; i++) {
            if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
                atomic_load_explicit(&p->quit, memory_order_acquire))
                return true;
            pool_cpu_relax();
        }
        if (timing_now_ns() - start >= p->spin_ns)
            return false;
    }
}

/* Caller: spin until no worker is inside the job, for at most spin_ns. */
static void pool_spin_for_done(struct pool *p)
{
    if (p->spin_ns == 0)
        return;
    uint64_t start = timing_now_ns();
    for (;;) {
        for (int i = 0; i < POOL_SPIN_CHECK; i++) {
            if (atomic_load_explicit(&p->active, memory_order_acquire) == 0)
                return;
            pool_cpu_relax();
        }
        if (timing_now_ns() - start >= p->spin_ns)
            return;
    }
}

/* Claim and run chunks of the current job until none are left. */
static void pool_work(struct pool *p, pool_fn fn, void *ctx, int thread)
{
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (c >= p->n_chunks)
            return;
        size_t begin = c * p->chunk;
        size_t end = begin + p->chunk < p->n_tasks ? begin + p->chunk : p->n_tasks;
        fn(ctx, begin, end, thread);
    }
}

static void *pool_main(void *arg)
{
    struct pool_worker *w = arg;
    struct pool *p = w->pool;
    unsigned long seen = 0;
    for (;;) {
        /* Spin first (without mu); then sleep only if there is still nothing to do. */
        pool_spin_for_job(p, seen);
        pthread_mutex_lock(&p->mu);
        while (!atomic_load_explicit(&p->quit, memory_order_relaxed) &&
               atomic_load_explicit(&p->generation, memory_order_relaxed) == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (atomic_load_explicit(&p->quit, memory_order_relaxed))
            break;
        seen = atomic_load_explicit(&p->generation, memory_order_relaxed);
        if (!p->open) {
            pthread_mutex_unlock(&p->mu);
            continue; /* finished before this worker woke up */
        }
        atomic_fetch_add_explicit(&p->active, 1, memory_order_relaxed);
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, fn, ctx, w->index);
        pthread_mutex_lock(&p->mu);
        /* release: a caller that sees 0 in its spin then takes mu anyway */
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_release) == 1)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

enum status pool_new(int n_threads, struct pool **out)
{
    if (n_threads < 0)
        return status_detail_set(STATUS_INVALID, _("invalid thread count %d"), n_threads);
    if (n_threads == 0)
        n_threads = pool_online_cores();
    if (n_threads > POOL_MAX_THREADS)
        n_threads = POOL_MAX_THREADS;
#if HAVE_OPENBLAS_SET_NUM_THREADS
    /* One set of threads only: ours.  BLAS work is split into per-worker blocks. */
    openblas_set_num_threads(1);
#endif
    enum status st = STATUS_NOMEM;
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        return STATUS_NOMEM;
    p->n_threads = n_threads;
    p->spin_ns = pool_spin_ns_from_env();
    atomic_init(&p->next, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->quit, false);
    atomic_init(&p->active, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers)
            goto fail;
        for (int i = 1; i < n_threads; i++) {
            struct pool_worker *w = &p->workers[i - 1];
            w->pool = p;
            w->index = i;
            if (pthread_create(&w->thread, NULL, pool_main, w) != 0) {
                st = status_detail_set(STATUS_INTERNAL, _("cannot start worker thread %d"), i);
                goto fail;
            }
            p->n_started++;
        }
    }
    *out = p;
    return STATUS_OK;
fail:
    pool_free(p);
    return st;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->quit, true, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int pool_n_threads(const struct pool *p)
{
    return p->n_threads;
}

void pool_run(struct pool *p, size_t n_tasks, pool_fn fn, void *ctx)
{
    if (n_tasks == 0)
        return;
    if (p->n_threads == 1 || n_tasks == 1) {
        fn(ctx, 0, n_tasks, 0);
        return;
    }
    size_t want = (size_t)p->n_threads * POOL_CHUNKS_PER_THREAD;
    size_t chunk = (n_tasks + want - 1) / want;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->chunk = chunk;
    p->n_chunks = (n_tasks + chunk - 1) / chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    p->open = true;
    /* release: a spinning worker that sees the new generation then takes mu anyway */
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake); /* no system call when every worker is spinning */
    pthread_mutex_unlock(&p->mu);

    pool_work(p, fn, ctx, 0);

    pool_spin_for_done(p);
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->active, memory_order_relaxed) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->open = false;
    pthread_mutex_unlock(&p->mu);
}
