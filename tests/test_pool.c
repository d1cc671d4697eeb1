/* test_pool.c -- the worker pool: every task runs once, stalled threads do not hold a job,
 * results do not depend on the thread count. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#include "engine/pool.h"

struct count_job {
    int hits[1000];
    int thread_of[1000];
};

static void count_task(void *ctx, size_t begin, size_t end, int thread)
{
    struct count_job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        j->hits[i]++; /* each index belongs to one range: no race */
        j->thread_of[i] = thread;
    }
}

static void test_pool_runs_every_task_once(void **state)
{
    (void)state;
    for (int th = 1; th <= 5; th++) {
        struct pool *p;
        assert_int_equal(pool_new(th, &p), STATUS_OK);
        assert_int_equal(pool_n_threads(p), th);
        static const size_t sizes[] = {0, 1, 2, 3, 7, 999, 1000};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            for (int rep = 0; rep < 20; rep++) {
                struct count_job *j = calloc(1, sizeof *j);
                assert_non_null(j);
                pool_run(p, sizes[s], count_task, j);
                for (size_t i = 0; i < 1000; i++)
                    assert_int_equal(j->hits[i], i < sizes[s] ? 1 : 0);
                for (size_t i = 0; i < sizes[s]; i++)
                    assert_true(j->thread_of[i] >= 0 && j->thread_of[i] < th);
                free(j);
            }
        }
        pool_free(p);
    }
}

static void test_pool_split_covers_range(void **state)
{
    (void)state;
    for (size_t n = 0; n < 40; n++) {
        for (int parts = 1; parts <= 7; parts++) {
            size_t expect = 0;
            for (int k = 0; k < parts; k++) {
                size_t b, e;
                pool_split(n, parts, k, &b, &e);
                assert_int_equal(b, expect);
                assert_true(e >= b);
                assert_true(e - b <= n / (size_t)parts + 1);
                expect = e;
            }
            assert_int_equal(expect, n);
        }
    }
}

/* A float reduction done per range element gives the same bits for any thread count. */
struct sum_job {
    const float *x;
    float *out;
};
static void sum_task(void *ctx, size_t begin, size_t end, int thread)
{
    struct sum_job *j = ctx;
    (void)thread;
    for (size_t r = begin; r < end; r++) {
        float s = 0;
        for (size_t i = 0; i < 300; i++)
            s += j->x[r * 300 + i] * (float)(i + 1) * 1e-3f;
        j->out[r] = s;
    }
}

static void test_pool_thread_count_invariant(void **state)
{
    (void)state;
    float *x = malloc(64 * 300 * sizeof *x), a[64], b[64];
    assert_non_null(x);
    for (size_t i = 0; i < 64 * 300; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 37.0f;
    for (int th = 1; th <= 4; th++) {
        struct pool *p;
        assert_int_equal(pool_new(th, &p), STATUS_OK);
        struct sum_job j = {x, th == 1 ? a : b};
        pool_run(p, 64, sum_task, &j);
        if (th > 1)
            assert_memory_equal(a, b, sizeof a);
        pool_free(p);
    }
    free(x);
}

/* A thread that stalls does not hold the job: the others claim the remaining chunks. */
struct stall_job {
    atomic_int done_by[4];
};
static void stall_task(void *ctx, size_t begin, size_t end, int thread)
{
    struct stall_job *j = ctx;
    if (thread == 1)
        usleep(50000);
    atomic_fetch_add(&j->done_by[thread], (int)(end - begin));
}

static void test_pool_stalled_thread_work_is_claimed(void **state)
{
    (void)state;
    struct pool *p;
    assert_int_equal(pool_new(3, &p), STATUS_OK);
    struct stall_job j;
    for (int i = 0; i < 4; i++)
        atomic_init(&j.done_by[i], 0);
    pool_run(p, 120, stall_task, &j);
    int total = 0;
    for (int i = 0; i < 4; i++)
        total += atomic_load(&j.done_by[i]);
    assert_int_equal(total, 120);
    /* the stalled worker did a small part of the 12 chunks */
    assert_true(atomic_load(&j.done_by[1]) <= 60);
    pool_free(p);
}

static void test_pool_auto_and_invalid(void **state)
{
    (void)state;
    struct pool *p = NULL;
    assert_int_equal(pool_new(0, &p), STATUS_OK);
    assert_int_equal(pool_n_threads(p), pool_online_cores());
    pool_free(p);
    p = NULL;
    assert_int_equal(pool_new(-1, &p), STATUS_INVALID);
    assert_null(p);
    pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_every_task_once),
        cmocka_unit_test(test_pool_split_covers_range),
        cmocka_unit_test(test_pool_thread_count_invariant),
        cmocka_unit_test(test_pool_stalled_thread_work_is_claimed),
        cmocka_unit_test(test_pool_auto_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
