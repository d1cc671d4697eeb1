/* pool.c -- worker threads that wait on a generation counter and run one range each. */
#include "config.h"
#include "engine/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#if HAVE_CBLAS_H
#include <cblas.h>
#endif

#include "util/i18n.h"

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
    pthread_cond_t done; /* the caller waits here for pending == 0 */
    unsigned long generation;
    bool quit;
    /* The current job; written under mu before generation is bumped. */
    pool_fn fn;
    void *ctx;
    size_t n_tasks;
    int n_parts;
    int pending;
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

static void *pool_main(void *arg)
{
    struct pool_worker *w = arg;
    struct pool *p = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        int part = w->index;
        if (part >= p->n_parts)
            continue; /* not needed for this job */
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        size_t begin, end;
        pool_split(p->n_tasks, p->n_parts, part, &begin, &end);
        pthread_mutex_unlock(&p->mu);
        fn(ctx, begin, end, part);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
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
    p->quit = true;
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
    int parts = p->n_threads;
    if ((size_t)parts > n_tasks)
        parts = (int)n_tasks;
    size_t begin, end;
    if (parts == 1) {
        fn(ctx, 0, n_tasks, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->n_parts = parts;
    p->pending = parts - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    pool_split(n_tasks, parts, 0, &begin, &end);
    fn(ctx, begin, end, 0);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
