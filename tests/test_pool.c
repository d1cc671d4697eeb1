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

/* Many tiny jobs back to back (the decode pattern: hand-off cost dominates): every task of
 * every job runs exactly once and its result is visible when pool_run returns, for 1-4
 * threads and with spinning off, short, and default. */
struct tiny_job {
    unsigned long tag;
    unsigned long out[16];
    int hits[16];
};
static void tiny_task(void *ctx, size_t begin, size_t end, int thread)
{
    struct tiny_job *j = ctx;
    (void)thread;
    for (size_t i = begin; i < end; i++) {
        j->out[i] = j->tag * 31 + i;
        j->hits[i]++;
    }
}

static void run_tiny_jobs(int threads, int n_jobs)
{
    struct pool *p;
    assert_int_equal(pool_new(threads, &p), STATUS_OK);
    struct tiny_job j;
    for (int k = 0; k < n_jobs; k++) {
        size_t n = 1 + (size_t)k % 16;
        memset(&j, 0, sizeof j);
        j.tag = (unsigned long)k;
        pool_run(p, n, tiny_task, &j);
        for (size_t i = 0; i < 16; i++) {
            assert_int_equal(j.hits[i], i < n ? 1 : 0);
            assert_int_equal(j.out[i], i < n ? (unsigned long)k * 31 + i : 0);
        }
    }
    pool_free(p);
}

static void test_pool_many_tiny_jobs_stress(void **state)
{
    (void)state;
    static const char *const spins[] = {"0", "3", NULL};
    for (size_t s = 0; s < sizeof spins / sizeof spins[0]; s++) {
        if (spins[s])
            assert_int_equal(setenv("MEMLLM_SPIN_US", spins[s], 1), 0);
        else
            assert_int_equal(unsetenv("MEMLLM_SPIN_US"), 0);
        for (int th = 1; th <= 4; th++)
            run_tiny_jobs(th, 4000);
    }
    assert_int_equal(unsetenv("MEMLLM_SPIN_US"), 0);
}

/* Malformed or huge MEMLLM_SPIN_US values still give a working pool. */
static void test_pool_spin_env_values(void **state)
{
    (void)state;
    static const char *const spins[] = {"", "abc", "-5", "12x", "99999999999"};
    for (size_t s = 0; s < sizeof spins / sizeof spins[0]; s++) {
        assert_int_equal(setenv("MEMLLM_SPIN_US", spins[s], 1), 0);
        run_tiny_jobs(3, 200);
    }
    assert_int_equal(unsetenv("MEMLLM_SPIN_US"), 0);
}

/* pool_free right after a job, while the workers are still spinning or only just asleep,
 * joins them all (a lost quit would hang here). */
static void test_pool_free_while_spinning(void **state)
{
    (void)state;
    for (int rep = 0; rep < 200; rep++) {
        struct pool *p;
        assert_int_equal(pool_new(2 + rep % 3, &p), STATUS_OK);
        struct tiny_job j;
        memset(&j, 0, sizeof j);
        pool_run(p, 8, tiny_task, &j);
        for (size_t i = 0; i < 8; i++)
            assert_int_equal(j.hits[i], 1);
        if (rep % 2)
            usleep(100); /* sometimes let the spin time out first */
        pool_free(p);
    }
}

/* Jobs separated by pauses longer than the spin: workers go to sleep and must still be
 * woken for the next job (no lost wake-up), and results stay right. */
static void test_pool_sleep_then_wake(void **state)
{
    (void)state;
    assert_int_equal(setenv("MEMLLM_SPIN_US", "20", 1), 0);
    struct pool *p;
    assert_int_equal(pool_new(3, &p), STATUS_OK);
    assert_int_equal(unsetenv("MEMLLM_SPIN_US"), 0);
    struct count_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    for (int rep = 0; rep < 30; rep++) {
        memset(j, 0, sizeof *j);
        pool_run(p, 1000, count_task, j);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(j->hits[i], 1);
        usleep((useconds_t)(rep % 3) * 1000);
    }
    free(j);
    pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_every_task_once),
        cmocka_unit_test(test_pool_split_covers_range),
        cmocka_unit_test(test_pool_thread_count_invariant),
        cmocka_unit_test(test_pool_stalled_thread_work_is_claimed),
        cmocka_unit_test(test_pool_auto_and_invalid),
        cmocka_unit_test(test_pool_many_tiny_jobs_stress),
        cmocka_unit_test(test_pool_spin_env_values),
        cmocka_unit_test(test_pool_free_while_spinning),
        cmocka_unit_test(test_pool_sleep_then_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
