/* test_sim.c -- exact cosine top-k against a scalar double-precision brute force. */
#include "config.h"

#include <math.h>

#include "memory/sim.h"
#include "test_util.h"

/* xorshift64*: reproducible data without touching the C library's rand() state */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static double rng_unif(void) /* (-1, 1) */
{
    return ((double)(rng_next() >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

static void unitize(float *v, size_t dim)
{
    double ss = 0;
    for (size_t i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    double inv = 1.0 / sqrt(ss);
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] * inv);
}

/* kinds of rows: independent random; tight cluster around one direction (float scores
 * tie or misorder); exact copy of an earlier row (ties broken by id) */
static void make_row(float *v, size_t dim, const float *center, const float *prev, int kind)
{
    if (kind == 2 && prev) {
        memcpy(v, prev, dim * sizeof *v);
        return;
    }
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(kind == 1 ? center[i] + 1e-4 * rng_unif() : rng_unif());
    unitize(v, dim);
}

/* The test's own model of the index: the rows it added and has not removed. */
struct model {
    size_t dim, n, cap;
    float *vec;
    int64_t *ids;
};

static void model_add(struct model *m, int64_t id, const float *v)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->vec = realloc(m->vec, m->cap * m->dim * sizeof *m->vec);
        m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
        assert_non_null(m->vec);
        assert_non_null(m->ids);
    }
    memcpy(m->vec + m->n * m->dim, v, m->dim * sizeof *v);
    m->ids[m->n++] = id;
}

static void model_remove_at(struct model *m, size_t i)
{
    m->n--;
    memmove(m->vec + i * m->dim, m->vec + (i + 1) * m->dim,
            (m->n - i) * m->dim * sizeof *m->vec);
    memmove(m->ids + i, m->ids + i + 1, (m->n - i) * sizeof *m->ids);
}

static int ref_cmp(const void *pa, const void *pb)
{
    const struct sim_hit *a = pa, *b = pb;
    if (a->dist < b->dist)
        return -1;
    if (a->dist > b->dist)
        return 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Brute force: every row, double sum in index order, filter, full sort, first k. */
static size_t brute_topk(const struct model *m, const float *q, size_t k, double thr,
                         struct sim_hit *out)
{
    struct sim_hit *all = malloc((m->n + 1) * sizeof *all);
    assert_non_null(all);
    size_t w = 0;
    for (size_t r = 0; r < m->n; r++) {
        double s = 0;
        for (size_t i = 0; i < m->dim; i++)
            s += (double)m->vec[r * m->dim + i] * (double)q[i];
        double d = 1.0 - s;
        if (d < thr) {
            all[w].id = m->ids[r];
            all[w].dist = d;
            w++;
        }
    }
    qsort(all, w, sizeof *all, ref_cmp);
    if (w > k)
        w = k;
    memcpy(out, all, w * sizeof *all);
    free(all);
    return w;
}

static void check_query(const struct sim *s, const struct model *m, const float *q, size_t k,
                        double thr)
{
    struct sim_hit *got = malloc((k + 1) * sizeof *got), *want = malloc((k + 1) * sizeof *want);
    assert_non_null(got);
    assert_non_null(want);
    size_t ng = 12345;
    assert_int_equal(sim_search(s, q, m->dim, k, thr, got, &ng), STATUS_OK);
    size_t nw = brute_topk(m, q, k, thr, want);
    assert_int_equal(ng, nw);
    for (size_t i = 0; i < nw; i++) {
        if (got[i].id != want[i].id || got[i].dist != want[i].dist)
            fail_msg("n=%zu k=%zu thr=%g rank %zu: got id %lld dist %.17g, want id %lld "
                     "dist %.17g", m->n, k, thr, i, (long long)got[i].id, got[i].dist,
                     (long long)want[i].id, want[i].dist);
    }
    free(got);
    free(want);
}

static void run_random(size_t dim, size_t n0, size_t rounds)
{
    struct sim *s = NULL;
    struct model m = { dim, 0, 0, NULL, NULL };
    float *center = malloc(dim * sizeof *center);
    float *batch = malloc(n0 * dim * sizeof *batch + dim * sizeof *batch);
    int64_t *ids = malloc((n0 + 1) * sizeof *ids);
    float *q = malloc(dim * sizeof *q);
    assert_true(center && batch && ids && q);
    make_row(center, dim, NULL, NULL, 0);
    assert_int_equal(sim_new(dim, &s), STATUS_OK);

    int64_t next_id = 1000;
    /* bulk load: ids not in row order (descending), a third clustered, some duplicates */
    for (size_t i = 0; i < n0; i++) {
        int kind = (int)(rng_next() % 10);
        kind = kind < 6 ? 0 : kind < 9 ? 1 : 2;
        make_row(batch + i * dim, dim, center, i ? batch + (i - 1) * dim : NULL, kind);
        ids[i] = next_id + (int64_t)(n0 - i) * 3;
        model_add(&m, ids[i], batch + i * dim);
    }
    next_id += (int64_t)(n0 + 1) * 3;
    assert_int_equal(sim_add(s, ids, batch, n0, dim), STATUS_OK);
    assert_int_equal(sim_count(s), n0);

    static const size_t ks[] = { 1, 10, 300 };
    static const double thrs[] = { INFINITY, 1.0, 0.05, 1e-6 };
    for (size_t round = 0; round < rounds; round++) {
        for (size_t t = 0; t < 4; t++) {
            int kind = (int)(t % 3);
            make_row(q, dim, center, m.n ? m.vec : NULL, kind); /* t == 2: equals a row */
            for (size_t ki = 0; ki < 3; ki++)
                check_query(s, &m, q, ks[ki], thrs[(t + ki) % 4]);
        }
        check_query(s, &m, q, m.n + 5, INFINITY); /* k > n: everything, sorted */
        /* retire a few rows and append a few */
        for (size_t r = 0; r < 5 && m.n; r++) {
            size_t at = (size_t)(rng_next() % m.n);
            assert_int_equal(sim_remove(s, m.ids[at]), STATUS_OK);
            assert_false(sim_contains(s, m.ids[at]));
            model_remove_at(&m, at);
        }
        for (size_t r = 0; r < 4; r++) {
            int kind = (int)(r % 3);
            make_row(q, dim, center, m.n ? m.vec + (m.n - 1) * dim : NULL, kind);
            int64_t id = next_id++;
            assert_int_equal(sim_add(s, &id, q, 1, dim), STATUS_OK);
            model_add(&m, id, q);
        }
        assert_int_equal(sim_count(s), m.n);
        for (size_t i = 0; i < m.n; i += 1 + m.n / 7)
            assert_memory_equal(sim_vector(s, m.ids[i]), m.vec + i * dim, dim * sizeof(float));
    }
    sim_free(s);
    free(m.vec);
    free(m.ids);
    free(center);
    free(batch);
    free(ids);
    free(q);
}

static void test_sim_topk_matches_brute_force_small(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15u;
    run_random(3, 0, 3);
    run_random(3, 1, 3);
    run_random(8, 7, 5);
    run_random(64, 100, 5);
    run_random(17, 1000, 4);
}

static void test_sim_topk_matches_brute_force_large(void **state)
{
    (void)state;
    rng_state = 0xD1B54A32D192ED03u;
    run_random(128, 20000, 2); /* several scan blocks, a partial last one */
    run_random(512, 9000, 1);
}

static void test_sim_batch_equals_single(void **state)
{
    (void)state;
    rng_state = 42;
    const size_t dim = 32, n = 5000, nq = 70, k = 12; /* nq > one query group */
    struct sim *s = NULL;
    assert_int_equal(sim_new(dim, &s), STATUS_OK);
    assert_int_equal(sim_reserve(s, n), STATUS_OK);
    float *v = malloc(n * dim * sizeof *v), *qs = malloc(nq * dim * sizeof *qs);
    int64_t *ids = malloc(n * sizeof *ids);
    assert_true(v && qs && ids);
    for (size_t i = 0; i < n; i++) {
        make_row(v + i * dim, dim, NULL, NULL, 0);
        ids[i] = (int64_t)i * 7 - 100;
    }
    assert_int_equal(sim_add(s, ids, v, n, dim), STATUS_OK);
    for (size_t j = 0; j < nq; j++)
        make_row(qs + j * dim, dim, NULL, NULL, 0);
    struct sim_hit *hb = malloc(nq * k * sizeof *hb), hs[12];
    size_t *nb = malloc(nq * sizeof *nb);
    assert_true(hb && nb);
    assert_int_equal(sim_search_batch(s, qs, nq, dim, k, 0.9, hb, nb), STATUS_OK);
    for (size_t j = 0; j < nq; j++) {
        size_t ns;
        assert_int_equal(sim_search(s, qs + j * dim, dim, k, 0.9, hs, &ns), STATUS_OK);
        assert_int_equal(nb[j], ns);
        for (size_t i = 0; i < ns; i++) {
            assert_int_equal(hb[j * k + i].id, hs[i].id);
            assert_true(hb[j * k + i].dist == hs[i].dist);
            assert_true(hs[i].dist < 0.9);
        }
    }
    sim_free(s);
    free(v);
    free(qs);
    free(ids);
    free(hb);
    free(nb);
}

static void test_sim_threshold_and_exact_match(void **state)
{
    (void)state;
    struct sim *s = NULL;
    assert_int_equal(sim_new(2, &s), STATUS_OK);
    /* angles 0, 60, 90, 180 degrees from the query (1, 0): distances 0, 0.5, 1, 2 */
    float v[] = { 1, 0, 0.5f, 0.8660254f, 0, 1, -1, 0 };
    int64_t ids[] = { 4, 3, 2, 1 };
    assert_int_equal(sim_add(s, ids, v, 4, 2), STATUS_OK);
    float q[] = { 1, 0 };
    struct sim_hit h[8];
    size_t n;
    assert_int_equal(sim_search(s, q, 2, 8, 0.6, h, &n), STATUS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].id, 4);
    assert_true(h[0].dist == 0.0);
    assert_int_equal(h[1].id, 3);
    assert_true(fabs(h[1].dist - 0.5) < 1e-6);
    assert_int_equal(sim_search(s, q, 2, 8, 0.5, h, &n), STATUS_OK); /* strict: 0.5 is out */
    assert_int_equal(n, 1);
    assert_int_equal(sim_search(s, q, 2, 8, 0.0, h, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sim_search(s, q, 2, 8, INFINITY, h, &n), STATUS_OK);
    assert_int_equal(n, 4);
    assert_int_equal(h[3].id, 1);
    assert_true(h[3].dist == 2.0);
    assert_int_equal(sim_search(s, q, 2, SIZE_MAX, INFINITY, h, &n), STATUS_OK); /* "all" */
    assert_int_equal(n, 4);
    assert_int_equal(h[0].id, 4);
    assert_int_equal(sim_search(s, q, 2, 0, INFINITY, h, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sim_search(s, q, 2, 8, NAN, h, &n), STATUS_INVALID);
    sim_free(s);
}

static void test_sim_empty_index(void **state)
{
    (void)state;
    struct sim *s = NULL;
    assert_int_equal(sim_new(4, &s), STATUS_OK);
    float q[] = { 0, 0, 1, 0 };
    struct sim_hit h[2];
    size_t n = 99;
    assert_int_equal(sim_search(s, q, 4, 2, INFINITY, h, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sim_remove(s, 1), STATUS_NOT_FOUND);
    assert_false(sim_contains(s, 1));
    assert_null(sim_vector(s, 1));
    assert_int_equal(sim_add(s, NULL, NULL, 0, 4), STATUS_OK);
    /* a filled index emptied again behaves the same */
    int64_t id = 9;
    assert_int_equal(sim_add(s, &id, q, 1, 4), STATUS_OK);
    assert_int_equal(sim_remove(s, 9), STATUS_OK);
    n = 99;
    assert_int_equal(sim_search(s, q, 4, 2, INFINITY, h, &n), STATUS_OK);
    assert_int_equal(n, 0);
    sim_free(s);
    sim_free(NULL);
}

static void test_sim_rejects_dim_mismatch_and_bad_vectors(void **state)
{
    (void)state;
    struct sim *s = NULL;
    assert_int_equal(sim_new(0, &s), STATUS_INVALID);
    assert_int_equal(sim_new(3, &s), STATUS_OK);
    assert_int_equal(sim_dim(s), 3);
    float v[] = { 1, 0, 0, 0, 1, 0 };
    int64_t ids[] = { 1, 2 };
    struct sim_hit h[2];
    size_t n;
    assert_int_equal(sim_add(s, ids, v, 2, 2), STATUS_INVALID);
    assert_int_equal(sim_add(s, ids, v, 1, 4), STATUS_INVALID);
    assert_int_equal(sim_count(s), 0);
    assert_int_equal(sim_add(s, ids, v, 2, 3), STATUS_OK);
    assert_int_equal(sim_search(s, v, 2, 1, INFINITY, h, &n), STATUS_INVALID);
    assert_int_equal(sim_search_batch(s, v, 1, 4, 1, INFINITY, h, &n), STATUS_INVALID);
    float notunit[] = { 2, 0, 0 }, zero[] = { 0, 0, 0 }, nan3[] = { NAN, 0, 0 };
    int64_t id3 = 3;
    assert_int_equal(sim_add(s, &id3, notunit, 1, 3), STATUS_INVALID);
    assert_int_equal(sim_add(s, &id3, zero, 1, 3), STATUS_INVALID);
    assert_int_equal(sim_add(s, &id3, nan3, 1, 3), STATUS_INVALID);
    assert_int_equal(sim_search(s, zero, 3, 1, INFINITY, h, &n), STATUS_INVALID);
    sim_free(s);
}

static void test_sim_duplicate_ids_rejected_all_or_nothing(void **state)
{
    (void)state;
    struct sim *s = NULL;
    assert_int_equal(sim_new(2, &s), STATUS_OK);
    float v[] = { 1, 0, 0, 1, 0.6f, 0.8f };
    int64_t ids[] = { 5, 6, 5 };
    assert_int_equal(sim_add(s, ids, v, 3, 2), STATUS_EXISTS); /* twice in one call */
    assert_int_equal(sim_count(s), 0);
    assert_false(sim_contains(s, 5));
    assert_false(sim_contains(s, 6));
    assert_int_equal(sim_add(s, ids, v, 2, 2), STATUS_OK);
    int64_t more[] = { 7, 6 };
    assert_int_equal(sim_add(s, more, v, 2, 2), STATUS_EXISTS); /* already present */
    assert_int_equal(sim_count(s), 2);
    assert_false(sim_contains(s, 7));
    assert_int_equal(sim_remove(s, 5), STATUS_OK);
    assert_int_equal(sim_remove(s, 5), STATUS_NOT_FOUND);
    assert_int_equal(sim_add(s, ids, v + 4, 1, 2), STATUS_OK); /* id 5 may come back */
    const float *got = sim_vector(s, 5);
    assert_non_null(got);
    assert_true(got[0] == 0.6f && got[1] == 0.8f);
    sim_free(s);
}

static void test_sim_many_removes_keep_map_consistent(void **state)
{
    (void)state;
    rng_state = 7;
    const size_t dim = 4, n = 3000;
    struct sim *s = NULL;
    assert_int_equal(sim_new(dim, &s), STATUS_OK);
    float v[4];
    for (size_t i = 0; i < n; i++) {
        make_row(v, dim, NULL, NULL, 0);
        int64_t id = (int64_t)(i * 64); /* ids that collide in naive hashing */
        assert_int_equal(sim_add(s, &id, v, 1, dim), STATUS_OK);
    }
    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(sim_remove(s, (int64_t)(i * 64)), STATUS_OK);
    assert_int_equal(sim_count(s), n / 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sim_contains(s, (int64_t)(i * 64)), i % 2 == 1);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_topk_matches_brute_force_small),
        cmocka_unit_test(test_sim_topk_matches_brute_force_large),
        cmocka_unit_test(test_sim_batch_equals_single),
        cmocka_unit_test(test_sim_threshold_and_exact_match),
        cmocka_unit_test(test_sim_empty_index),
        cmocka_unit_test(test_sim_rejects_dim_mismatch_and_bad_vectors),
        cmocka_unit_test(test_sim_duplicate_ids_rejected_all_or_nothing),
        cmocka_unit_test(test_sim_many_removes_keep_map_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
