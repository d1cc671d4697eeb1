/* test_bench.c -- the random-model generator (valid files that model_open and the tokenizer
 * accept, of the requested shape), weight bytes per token, statistics, the bandwidth probe
 * and the pp/tg runner, on tiny models only. */
#include "config.h"

#include "engine/bench.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include <math.h>

#include "test_util.h"

static const struct bench_shape tiny_shape = {
    .dim = 32, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 64, .n_vocab = 300,
    .n_ctx = 64, .wtype = DTYPE_F16, .seed = 7,
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void check_model(const struct bench_shape *s, const char *path)
{
    struct gguf *g;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    int64_t q = gguf_find_tensor(g, "blk.1.attn_q.weight");
    assert_true(q >= 0);
    assert_int_equal(gguf_tensor_type(g, q), s->wtype);
    int64_t norm = gguf_find_tensor(g, "blk.0.ffn_norm.weight");
    assert_true(norm >= 0);
    assert_int_equal(gguf_tensor_type(g, norm), DTYPE_F32);
    int64_t k = gguf_find_tensor(g, "blk.0.attn_k.weight");
    assert_int_equal(gguf_tensor_dim(g, k, 0), s->dim);
    assert_int_equal(gguf_tensor_dim(g, k, 1), s->dim / s->n_head * s->n_head_kv);

    struct model_params p;
    model_params_init(&p);
    p.n_threads = 1;
    struct model *m;
    assert_int_equal(model_open(g, &p, &m), STATUS_OK);
    assert_int_equal(model_n_embd(m), s->dim);
    assert_int_equal(model_n_layer(m), s->n_layer);
    assert_int_equal(model_n_head(m), s->n_head);
    assert_int_equal(model_n_head_kv(m), s->n_head_kv);
    assert_int_equal(model_n_ff(m), s->n_ff);
    assert_int_equal(model_n_vocab(m), s->n_vocab);
    assert_int_equal(model_n_ctx(m), s->n_ctx);
    assert_false(model_output_tied(m));
    assert_int_equal(model_n_params(m), bench_shape_n_params(s));
    /* The weights are scaled so that activations stay finite (model_eval checks). */
    int32_t toks[5] = {1, 17, 299, 3, 260};
    float *logits = malloc(s->n_vocab * sizeof *logits);
    assert_non_null(logits);
    assert_int_equal(model_eval(m, toks, 5, 0, logits, false), STATUS_OK);
    for (size_t i = 0; i < s->n_vocab; i++)
        assert_true(isfinite(logits[i]));
    free(logits);
    model_close(m);

    /* A SentencePiece vocabulary with byte tokens: any text round-trips. */
    struct tok *t;
    assert_int_equal(tok_from_gguf(g, &t), STATUS_OK);
    assert_int_equal(tok_n_vocab(t), (int32_t)s->n_vocab);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    assert_int_equal(tok_byte_value(t, 3 + 'A'), 'A');
    int32_t ids[64];
    size_t n_ids;
    const char *text = "bench \xc3\xa9t\xc3\xa9 42";
    assert_int_equal(tok_encode(t, text, strlen(text), 0, ids, 64, &n_ids), STATUS_OK);
    assert_true(n_ids > 0);
    char *back;
    size_t back_len;
    assert_int_equal(tok_decode(t, ids, n_ids, TOK_STREAM_STRIP_START, &back, &back_len),
                     STATUS_OK);
    /* the byte tokens make encoding lossless */
    assert_int_equal(back_len, strlen(text));
    assert_memory_equal(back, text, back_len);
    free(back);
    tok_free(t);
    gguf_close(g);
}

static void test_bench_make_model_opens_with_requested_shape(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/f16.gguf", dir);
    assert_int_equal(bench_make_model(&tiny_shape, path), STATUS_OK);
    check_model(&tiny_shape, path);
    struct bench_shape s32 = tiny_shape;
    s32.wtype = DTYPE_F32;
    s32.n_layer = 3;
    s32.n_head_kv = 4;
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    assert_int_equal(bench_make_model(&s32, path), STATUS_OK);
    check_model(&s32, path);
    test_rmtree(dir);
}

static void test_bench_make_model_is_seeded(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char a[4200], b[4200], c[4200];
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    snprintf(c, sizeof c, "%s/c.gguf", dir);
    struct bench_shape s = tiny_shape;
    assert_int_equal(bench_make_model(&s, a), STATUS_OK);
    assert_int_equal(bench_make_model(&s, b), STATUS_OK);
    s.seed = 8;
    assert_int_equal(bench_make_model(&s, c), STATUS_OK);
    size_t la, lb, lc;
    char *da = read_all(a, &la), *db = read_all(b, &lb), *dc = read_all(c, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    assert_int_equal(la, lc);
    assert_true(memcmp(da, dc, la) != 0);
    free(da);
    free(db);
    free(dc);
    test_rmtree(dir);
}

static void test_bench_make_model_rejects_bad_shapes(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    struct bench_shape s = tiny_shape;
    s.dim = 30; /* not a multiple of 4 heads */
    assert_int_equal(bench_make_model(&s, path), STATUS_INVALID);
    s = tiny_shape;
    s.n_head_kv = 3; /* 4 heads do not share 3 KV heads */
    assert_int_equal(bench_make_model(&s, path), STATUS_INVALID);
    s = tiny_shape;
    s.n_vocab = 258; /* no room for the special and byte tokens */
    assert_int_equal(bench_make_model(&s, path), STATUS_INVALID);
    s = tiny_shape;
    s.wtype = DTYPE_Q8_0;
    assert_int_equal(bench_make_model(&s, path), STATUS_INVALID);
    assert_int_not_equal(access(path, F_OK), 0);
    test_rmtree(dir);
}

static void test_bench_shape_defaults_match_perf_md(void **state)
{
    (void)state;
    struct bench_shape s;
    bench_shape_init(&s);
    /* PERF.md: 852.56 M parameters */
    assert_int_equal((bench_shape_n_params(&s) + 5000) / 10000, 85256);
    assert_int_equal(s.wtype, DTYPE_F16);
}

static void test_bench_weight_bytes_counts_one_embedding_row(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    struct bench_shape s = tiny_shape;
    s.wtype = DTYPE_F32;
    assert_int_equal(bench_make_model(&s, path), STATUS_OK);
    struct gguf *g;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    /* all F32: every value but the embedding rows not looked up */
    uint64_t want = 4 * (bench_shape_n_params(&s) - (uint64_t)s.n_vocab * s.dim + s.dim);
    assert_int_equal(bench_weight_bytes(g), want);
    gguf_close(g);
    test_rmtree(dir);

    /* tied: the embedding is the output head and is read whole */
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    float emb[12] = {0}, norm[4] = {1, 1, 1, 1};
    uint64_t d2[2] = {4, 3}, d1[1] = {4};
    assert_int_equal(gguf_writer_add_tensor(w, "token_embd.weight", DTYPE_F32, 2, d2, emb,
                                            sizeof emb),
                     STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "output_norm.weight", DTYPE_F32, 1, d1, norm,
                                            sizeof norm),
                     STATUS_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size), STATUS_OK);
    gguf_writer_free(w);
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    assert_int_equal(bench_weight_bytes(g), sizeof emb + sizeof norm);
    gguf_close(g);
    free(buf);
}

static void test_bench_stats_mean_and_sample_stdev(void **state)
{
    (void)state;
    double v[4] = {1, 2, 3, 4}, mean, sd;
    bench_stats(v, 4, &mean, &sd);
    assert_float_equal(mean, 2.5, 1e-12);
    assert_float_equal(sd, sqrt(5.0 / 3.0), 1e-12);
    bench_stats(v + 2, 1, &mean, &sd);
    assert_float_equal(mean, 3.0, 1e-12);
    assert_float_equal(sd, 0.0, 0.0);
    bench_stats(v, 0, &mean, &sd);
    assert_float_equal(mean, 0.0, 0.0);
}

static void test_bench_bandwidth_measures_something(void **state)
{
    (void)state;
    double bw = -1;
    double share = -1;
    assert_int_equal(bench_bandwidth(1, 4u << 20, 2, &bw, &share), STATUS_OK);
    /* the process's CPU time over the wall time (threads of libraries such as OpenBLAS,
     * spinning just after their start, also count: no upper bound here) */
    assert_true(share > 0 && isfinite(share));
    /* 4 MiB read in finite time: more than 10 MB/s on any machine, less than 10 TB/s */
    assert_true(bw > 1e7 && bw < 1e13);
    assert_int_equal(bench_bandwidth(2, 1, 1, &bw, NULL), STATUS_OK);
    assert_int_equal(bench_bandwidth(1, 0, 1, &bw, NULL), STATUS_INVALID);
}

static void test_bench_model_run_counts_and_resets(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    assert_int_equal(bench_make_model(&tiny_shape, path), STATUS_OK);
    struct gguf *g;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.n_threads = 2;
    struct model *m;
    assert_int_equal(model_open(g, &p, &m), STATUS_OK);
    struct bench_params bp = {.n_prompt = 8, .n_gen = 4, .reps = 3, .seed = 5};
    struct bench_result r;
    assert_int_equal(bench_model_run(m, &bp, &r), STATUS_OK);
    assert_int_equal(r.pp.n, 3);
    assert_int_equal(r.tg.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(r.pp.ts[i] > 0 && r.tg.ts[i] > 0);
    /* measured (see test_bench_bandwidth_measures_something on the upper bound) */
    assert_true(r.pp.cpu_share > 0 && isfinite(r.pp.cpu_share));
    assert_true(r.tg.cpu_share > 0 && isfinite(r.tg.cpu_share));
    double mean, sd;
    bench_stats(r.tg.ts, 3, &mean, &sd);
    assert_float_equal(r.tg.mean, mean, 1e-9);
    assert_float_equal(r.tg.stdev, sd, 1e-9);
    assert_int_equal(model_n_past(m), 0);

    bp.n_prompt = 0; /* skipped test */
    bp.reps = 1;
    assert_int_equal(bench_model_run(m, &bp, &r), STATUS_OK);
    assert_int_equal(r.pp.n, 0);
    assert_int_equal(r.tg.n, 1);

    bp.reps = 0;
    assert_int_equal(bench_model_run(m, &bp, &r), STATUS_INVALID);
    bp.reps = 1;
    bp.n_prompt = 65; /* over the 64-token context */
    assert_int_equal(bench_model_run(m, &bp, &r), STATUS_INVALID);
    model_close(m);
    gguf_close(g);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_make_model_opens_with_requested_shape),
        cmocka_unit_test(test_bench_make_model_is_seeded),
        cmocka_unit_test(test_bench_make_model_rejects_bad_shapes),
        cmocka_unit_test(test_bench_shape_defaults_match_perf_md),
        cmocka_unit_test(test_bench_weight_bytes_counts_one_embedding_row),
        cmocka_unit_test(test_bench_stats_mean_and_sample_stdev),
        cmocka_unit_test(test_bench_bandwidth_measures_something),
        cmocka_unit_test(test_bench_model_run_counts_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
