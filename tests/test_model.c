/* test_model.c -- the forward pass against llama.cpp's logits (golden files in ../shared) and
 * invariants on small random models built in memory with the GGUF writer. */
#include "config.h"

#include <math.h>

#include "test_util.h"

#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/quant.h"

/* ---- Helpers ----------------------------------------------------------------------------- */

/* Whole file into memory (owned), or NULL when it is absent (after a loud SKIP line). */
static void *slurp_shared(const char *rel, size_t *size)
{
    char *path = test_shared_path(rel);
    if (!path)
        return NULL;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    void *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(path);
    *size = (size_t)n;
    return buf;
}

struct golden {
    struct gguf *g;
    struct model *m;
    int32_t *prompt;
    size_t n_prompt;
};

static size_t golden_qblas; /* model_params.quant_blas_min for golden_open() */
static bool golden_kv_f16;  /* model_params.kv_f16 for golden_open() */

static bool golden_open(const char *name, const char *prompt_rel, int threads, struct golden *gd)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s.gguf", name);
    char *path = test_shared_path(rel);
    if (!path)
        return false;
    assert_int_equal(gguf_open(path, &gd->g), STATUS_OK);
    free(path);
    struct model_params p;
    model_params_init(&p);
    p.n_threads = threads;
    p.quant_blas_min = golden_qblas;
    p.kv_f16 = golden_kv_f16;
    enum status st = model_open(gd->g, &p, &gd->m);
    if (st != STATUS_OK)
        fail_msg("model_open(%s): %s: %s", name, status_str(st), status_detail());
    size_t sz;
    gd->prompt = slurp_shared(prompt_rel, &sz);
    assert_non_null(gd->prompt);
    gd->n_prompt = sz / sizeof(int32_t);
    return true;
}

static void golden_close(struct golden *gd)
{
    model_close(gd->m);
    gguf_close(gd->g);
    free(gd->prompt);
}

struct diff {
    double max, mean;
};

static struct diff logit_diff(const float *a, const float *b, size_t n)
{
    struct diff d = {0, 0};
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d.max)) /* NaN propagates as a failure */
            d.max = isnan(e) ? INFINITY : e;
        d.mean += e;
    }
    d.mean /= (double)n;
    return d;
}

static int32_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) /* lowest id on ties, as the reference */
            best = i;
    return (int32_t)best;
}

/* Greedy decoding after the prompt's last logits: n tokens, one model_eval each. */
static void greedy(struct model *m, const float *last_logits, size_t pos, int32_t *out, size_t n)
{
    size_t nv = model_n_vocab(m);
    float *lg = malloc(nv * sizeof *lg);
    assert_non_null(lg);
    memcpy(lg, last_logits, nv * sizeof *lg);
    for (size_t s = 0; s < n; s++) {
        out[s] = argmax(lg, nv);
        if (s + 1 < n)
            assert_int_equal(model_eval(m, &out[s], 1, pos + s, lg, false), STATUS_OK);
    }
    free(lg);
}

/* Margins (top1 - second) of the reference's greedy steps, from *.greedy.tsv. */
static size_t read_margins(const char *name, double *margins, size_t cap)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s.greedy.tsv", name);
    size_t sz;
    char *txt = slurp_shared(rel, &sz);
    assert_non_null(txt);
    txt[sz] = '\0';
    size_t n = 0;
    for (char *line = strtok(txt, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        int step, pos, in, am, second;
        double top1, top2;
        if (sscanf(line, "%d %d %d %d %lf %d %lf", &step, &pos, &in, &am, &top1, &second, &top2) ==
            7)
            margins[n++] = top1 - top2;
    }
    free(txt);
    return n;
}

/* ---- Golden: F32 ------------------------------------------------------------------------- */

static void check_f32_prompt(const char *prompt_rel, const char *logits_rel, size_t ref_first,
                             const char *greedy_rel, double *max_out)
{
    struct golden gd;
    if (!golden_open("tiny-mistral-a-f32", prompt_rel, 1, &gd))
        return;
    size_t nv = model_n_vocab(gd.m), P = gd.n_prompt;
    assert_int_equal(nv, 32000);
    float *lg = malloc(P * nv * sizeof *lg);
    assert_non_null(lg);
    assert_int_equal(model_eval(gd.m, gd.prompt, P, 0, lg, true), STATUS_OK);
    size_t sz;
    float *ref = slurp_shared(logits_rel, &sz);
    assert_non_null(ref);
    size_t rows = sz / (nv * sizeof(float));
    assert_int_equal(ref_first + rows, P);
    struct diff d = logit_diff(lg + ref_first * nv, ref, rows * nv);
    fprintf(stderr, "# %s: %zu rows, max abs diff %.3g, mean %.3g\n", logits_rel, rows, d.max,
            d.mean);
    assert_true(d.max <= 1e-4);
    *max_out = d.max;

    int32_t *want = slurp_shared(greedy_rel, &sz);
    assert_non_null(want);
    int32_t got[16];
    greedy(gd.m, lg + (P - 1) * nv, P, got, 16);
    for (int s = 0; s < 16; s++)
        assert_int_equal(got[s], want[s]);
    free(want);
    free(ref);
    free(lg);
    golden_close(&gd);
}

static void test_model_golden_f32_short(void **state)
{
    (void)state;
    double mx;
    check_f32_prompt("golden/tiny-mistral-a-f32.prompt.i32", "golden/tiny-mistral-a-f32.logits.f32",
                     0, "golden/tiny-mistral-a-f32.greedy.i32", &mx);
}

static void test_model_golden_f32_long(void **state)
{
    (void)state;
    double mx;
    check_f32_prompt("golden/tiny-mistral-a-f32.long.prompt.i32",
                     "golden/tiny-mistral-a-f32.long.logits-last8.f32", 140,
                     "golden/tiny-mistral-a-f32.long.greedy.i32", &mx);
}

/* An f16 KV cache costs ~3e-3 (llama.cpp measured 3.1e-3 between its f16 and f32 caches). */
static void test_model_golden_f32_kv_f16(void **state)
{
    (void)state;
    struct golden gd;
    golden_kv_f16 = true;
    bool have = golden_open("tiny-mistral-a-f32", "golden/tiny-mistral-a-f32.prompt.i32", 2, &gd);
    golden_kv_f16 = false;
    if (!have)
        return;
    size_t nv = model_n_vocab(gd.m), P = gd.n_prompt, sz;
    float *lg = malloc(P * nv * sizeof *lg);
    assert_non_null(lg);
    assert_int_equal(model_eval(gd.m, gd.prompt, P, 0, lg, true), STATUS_OK);
    float *ref = slurp_shared("golden/tiny-mistral-a-f32.logits.f32", &sz);
    assert_non_null(ref);
    struct diff d = logit_diff(lg, ref, P * nv);
    fprintf(stderr, "# f16 KV cache: max abs diff %.3g, mean %.3g\n", d.max, d.mean);
    assert_true(d.max > 0 && d.max <= 1e-2);
    free(ref);
    free(lg);
    golden_close(&gd);
}

/* The prompt fed one token per call gives the batch's logits (within f32 noise). */
static void test_model_golden_f32_one_by_one_matches_batch(void **state)
{
    (void)state;
    struct golden gd;
    if (!golden_open("tiny-mistral-a-f32", "golden/tiny-mistral-a-f32.prompt.i32", 1, &gd))
        return;
    size_t nv = model_n_vocab(gd.m), P = gd.n_prompt;
    float *batch = malloc(P * nv * sizeof *batch), *one = malloc(P * nv * sizeof *one);
    assert_non_null(batch);
    assert_non_null(one);
    assert_int_equal(model_eval(gd.m, gd.prompt, P, 0, batch, true), STATUS_OK);
    model_reset(gd.m);
    for (size_t i = 0; i < P; i++)
        assert_int_equal(model_eval(gd.m, gd.prompt + i, 1, i, one + i * nv, false), STATUS_OK);
    struct diff d = logit_diff(batch, one, P * nv);
    fprintf(stderr, "# batch vs one-by-one: max abs diff %.3g\n", d.max);
    assert_true(d.max <= 1e-4);
    free(batch);
    free(one);
    golden_close(&gd);
}

/* 1 and 2 threads give bit-identical logits, batch and decode. */
static void test_model_golden_f32_threads_bit_identical(void **state)
{
    (void)state;
    struct golden g1, g2;
    if (!golden_open("tiny-mistral-a-f32", "golden/tiny-mistral-a-f32.long.prompt.i32", 1, &g1))
        return;
    assert_true(golden_open("tiny-mistral-a-f32", "golden/tiny-mistral-a-f32.long.prompt.i32", 2,
                            &g2));
    assert_int_equal(model_n_threads(g2.m), 2);
    size_t nv = model_n_vocab(g1.m), P = g1.n_prompt;
    float *a = malloc(P * nv * sizeof *a), *b = malloc(P * nv * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(model_eval(g1.m, g1.prompt, P, 0, a, true), STATUS_OK);
    assert_int_equal(model_eval(g2.m, g2.prompt, P, 0, b, true), STATUS_OK);
    assert_memory_equal(a, b, P * nv * sizeof *a);
    int32_t t = 42;
    assert_int_equal(model_eval(g1.m, &t, 1, P, a, false), STATUS_OK);
    assert_int_equal(model_eval(g2.m, &t, 1, P, b, false), STATUS_OK);
    assert_memory_equal(a, b, nv * sizeof *a);
    free(a);
    free(b);
    golden_close(&g1);
    golden_close(&g2);
}

/* ---- Golden: quantized ------------------------------------------------------------------- */

static void check_quant_path(const char *name, const char *logits_suffix, size_t n_vocab)
{
    char rel[256], rel2[256];
    snprintf(rel, sizeof rel, "golden/%s.prompt.i32", name);
    struct golden gd;
    if (!golden_open(name, rel, 1, &gd))
        return;
    size_t nv = model_n_vocab(gd.m), P = gd.n_prompt;
    assert_int_equal(nv, n_vocab);
    float *lg = malloc(P * nv * sizeof *lg);
    assert_non_null(lg);
    assert_int_equal(model_eval(gd.m, gd.prompt, P, 0, lg, true), STATUS_OK);
    size_t sz;
    snprintf(rel2, sizeof rel2, "golden/%s.%s", name, logits_suffix);
    float *ref = slurp_shared(rel2, &sz);
    assert_non_null(ref);
    size_t rows = sz / (nv * sizeof(float));
    assert_true(rows <= P);
    struct diff d = logit_diff(lg + (P - rows) * nv, ref, rows * nv);
    /* argmax agreement where the reference is decisive */
    size_t argmax_bad = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *rr = ref + r * nv;
        int32_t a = argmax(rr, nv);
        float second = -INFINITY;
        for (size_t i = 0; i < nv; i++)
            if ((int32_t)i != a && rr[i] > second)
                second = rr[i];
        if (rr[a] - second > 0.3f && argmax(lg + (P - rows + r) * nv, nv) != a)
            argmax_bad++;
    }
    double margins[16];
    size_t nm = read_margins(name, margins, 16);
    assert_int_equal(nm, 16);
    snprintf(rel2, sizeof rel2, "golden/%s.greedy.i32", name);
    int32_t *want = slurp_shared(rel2, &sz);
    assert_non_null(want);
    int32_t got[16];
    greedy(gd.m, lg + (P - 1) * nv, P, got, 16);
    size_t compared = 0;
    for (size_t s = 0; s < 16 && margins[s] >= d.max; s++, compared++)
        assert_int_equal(got[s], want[s]);
    fprintf(stderr, "# %s (%s): %zu rows, max abs diff %.3g, mean %.3g; greedy equal for the "
            "%zu steps with margin >= max diff\n", name,
            golden_qblas == SIZE_MAX ? "integer mat-vec" : "batch products: int8 panels or BLAS", rows,
            d.max, d.mean, compared);
    assert_true(d.max <= 0.25);
    assert_true(d.mean <= 0.01);
    assert_int_equal(argmax_bad, 0);
    free(want);
    free(ref);
    free(lg);
    golden_close(&gd);
}

/* Both ways of multiplying a prompt batch with quantized weights. */
static void check_quant(const char *name, const char *logits_suffix, size_t n_vocab)
{
    golden_qblas = SIZE_MAX;
    check_quant_path(name, logits_suffix, n_vocab);
    golden_qblas = 2;
    check_quant_path(name, logits_suffix, n_vocab);
    golden_qblas = 0;
}

static void test_model_golden_q8_0(void **state)
{
    (void)state;
    check_quant("tiny-mistral-a-Q8_0", "logits-last8.f32", 32000);
}

static void test_model_golden_q4_0(void **state)
{
    (void)state;
    check_quant("tiny-mistral-a-Q4_0", "logits-last8.f32", 32000);
}

static void test_model_golden_q4_k_m(void **state)
{
    (void)state;
    check_quant("tiny-mistral-c-Q4_K_M", "logits.f32", 8192);
}

/* ---- Self-contained: random models built with the GGUF writer ---------------------------- */

/* splitmix64 + Box-Muller, for weights */
static uint64_t rng_state;
static double rnd_uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}
static float rnd_normal(void)
{
    double u = rnd_uniform(), v = rnd_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

struct tiny_cfg {
    uint32_t dim, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    bool tied;        /* leave output.weight out */
    enum dtype wtype; /* type of the matrices */
    int64_t swa;      /* write attention.sliding_window when > 0 */
    const char *break_tensor; /* give this tensor a wrong shape */
    const char *drop_tensor;  /* leave this tensor out */
};

struct tiny {
    void *buf;
    size_t size;
    struct gguf *g;
    struct model *m;
    void *blobs[64];
    size_t n_blobs;
};

static void tiny_add(struct gguf_writer *w, struct tiny *t, const struct tiny_cfg *c,
                     const char *name, uint32_t n_in, uint32_t n_out, float std, bool is_norm)
{
    if (c->drop_tensor && strcmp(name, c->drop_tensor) == 0)
        return;
    size_t n = (size_t)n_in * (n_out ? n_out : 1);
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = is_norm ? 1.0f + 0.1f * rnd_normal() : std * rnd_normal();
    enum dtype ty = is_norm ? DTYPE_F32 : c->wtype;
    size_t row;
    assert_int_equal(dtype_row_bytes(ty, n_in, &row), STATUS_OK);
    size_t rows = n_out ? n_out : 1;
    unsigned char *data = malloc(row * rows);
    assert_non_null(data);
    for (size_t r = 0; r < rows; r++)
        quant_quantize_row(ty, v + r * n_in, data + r * row, n_in);
    free(v);
    uint64_t dims[2] = {n_in, n_out};
    if (c->break_tensor && strcmp(name, c->break_tensor) == 0)
        dims[1] = n_out - 1;
    assert_true(t->n_blobs < 64);
    t->blobs[t->n_blobs++] = data;
    assert_int_equal(gguf_writer_add_tensor(w, name, ty, n_out ? 2 : 1, dims, data,
                                            row * (n_out ? dims[1] : 1)),
                     STATUS_OK);
}

/* Build the model file in memory and open it; returns model_open's status. */
static enum status tiny_build(const struct tiny_cfg *c, int threads, uint64_t seed,
                              struct tiny *t)
{
    memset(t, 0, sizeof *t);
    rng_state = seed;
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.embedding_length", c->dim), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.block_count", c->n_layer), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.feed_forward_length", c->n_ff), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.attention.head_count", c->n_head), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.attention.head_count_kv", c->n_head_kv),
                     STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.context_length", c->n_ctx), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.rope.dimension_count", c->dim / c->n_head),
                     STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f), STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f),
                     STATUS_OK);
    if (c->swa > 0)
        assert_int_equal(gguf_writer_set_u32(w, "llama.attention.sliding_window",
                                             (uint32_t)c->swa),
                         STATUS_OK);
    uint32_t hd = c->dim / c->n_head;
    float sd = 1.0f / sqrtf((float)c->dim);
    tiny_add(w, t, c, "token_embd.weight", c->dim, c->n_vocab, 1.0f, false);
    char name[64];
    for (uint32_t l = 0; l < c->n_layer; l++) {
#define N(s) (snprintf(name, sizeof name, "blk.%u." s ".weight", l), name)
        tiny_add(w, t, c, N("attn_norm"), c->dim, 0, 0, true);
        tiny_add(w, t, c, N("attn_q"), c->dim, c->n_head * hd, 1.2f * sd, false);
        tiny_add(w, t, c, N("attn_k"), c->dim, c->n_head_kv * hd, 1.2f * sd, false);
        tiny_add(w, t, c, N("attn_v"), c->dim, c->n_head_kv * hd, sd, false);
        tiny_add(w, t, c, N("attn_output"), c->n_head * hd, c->dim, sd, false);
        tiny_add(w, t, c, N("ffn_norm"), c->dim, 0, 0, true);
        tiny_add(w, t, c, N("ffn_gate"), c->dim, c->n_ff, sd, false);
        tiny_add(w, t, c, N("ffn_up"), c->dim, c->n_ff, sd, false);
        tiny_add(w, t, c, N("ffn_down"), c->n_ff, c->dim, 1.0f / sqrtf((float)c->n_ff), false);
#undef N
    }
    tiny_add(w, t, c, "output_norm.weight", c->dim, 0, 0, true);
    if (!c->tied)
        tiny_add(w, t, c, "output.weight", c->dim, c->n_vocab, 2.0f * sd, false);
    assert_int_equal(gguf_writer_to_buffer(w, &t->buf, &t->size), STATUS_OK);
    gguf_writer_free(w);
    assert_int_equal(gguf_open_buffer(t->buf, t->size, &t->g), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.n_threads = threads;
    return model_open(t->g, &p, &t->m);
}

static void tiny_free(struct tiny *t)
{
    model_close(t->m);
    gguf_close(t->g);
    free(t->buf);
    for (size_t i = 0; i < t->n_blobs; i++)
        free(t->blobs[i]);
}

static const struct tiny_cfg tiny_default = {
    .dim = 32, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 64, .n_vocab = 50,
    .n_ctx = 64, .wtype = DTYPE_F32,
};

static void test_model_open_reads_hparams(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 1, &t), STATUS_OK);
    assert_int_equal(model_n_vocab(t.m), 50);
    assert_int_equal(model_n_ctx(t.m), 64);
    assert_int_equal(model_n_embd(t.m), 32);
    assert_int_equal(model_n_layer(t.m), 2);
    assert_int_equal(model_n_head(t.m), 4);
    assert_int_equal(model_n_head_kv(t.m), 2);
    assert_int_equal(model_n_ff(t.m), 64);
    assert_int_equal(model_n_past(t.m), 0);
    assert_false(model_output_tied(t.m));
    assert_int_equal(model_sliding_window(t.m), 0);
    tiny_free(&t);
}

static void test_model_open_rejects_bad_shape(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.break_tensor = "blk.1.ffn_up.weight";
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 1, &t), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "blk.1.ffn_up.weight"));
    tiny_free(&t);
}

static void test_model_open_rejects_missing_tensor(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.drop_tensor = "blk.0.attn_v.weight";
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 1, &t), STATUS_NOT_FOUND);
    assert_non_null(strstr(status_detail(), "blk.0.attn_v.weight"));
    tiny_free(&t);
}

static const int32_t seq[12] = {1, 7, 33, 2, 49, 10, 10, 3, 25, 17, 0, 44};

/* Logits at position t depend on tokens 0..t only. */
static void test_model_causal(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 2, &t), STATUS_OK);
    size_t nv = model_n_vocab(t.m);
    float a[12 * 50], b[12 * 50];
    int32_t s2[12];
    memcpy(s2, seq, sizeof s2);
    s2[8] = 5;
    s2[11] = 6;
    assert_int_equal(model_eval(t.m, seq, 12, 0, a, true), STATUS_OK);
    assert_int_equal(model_eval(t.m, s2, 12, 0, b, true), STATUS_OK); /* rewinds to 0 */
    assert_memory_equal(a, b, 8 * nv * sizeof(float));
    assert_memory_not_equal(a + 8 * nv, b + 8 * nv, nv * sizeof(float));
    tiny_free(&t);
}

/* Batch, one-by-one and mixed chunks agree; the last-row call matches the full batch. */
static void test_model_batch_matches_one_by_one(void **state)
{
    (void)state;
    for (int q = 0; q < 2; q++) {
        struct tiny_cfg c = tiny_default;
        if (q) { /* a quantized model: same activations per token in both paths */
            c.dim = 64;
            c.n_ff = 128;
            c.wtype = DTYPE_Q8_0;
        }
        struct tiny t;
        assert_int_equal(tiny_build(&c, 1, 3, &t), STATUS_OK);
        size_t nv = model_n_vocab(t.m);
        float a[12 * 50], b[12 * 50], last[50];
        assert_int_equal(model_eval(t.m, seq, 12, 0, a, true), STATUS_OK);
        assert_int_equal(model_n_past(t.m), 12);
        for (size_t i = 0; i < 12; i++)
            assert_int_equal(model_eval(t.m, seq + i, 1, i, b + i * nv, false), STATUS_OK);
        assert_true(logit_diff(a, b, 12 * nv).max <= 1e-4);
        assert_int_equal(model_eval(t.m, seq, 5, 0, NULL, false), STATUS_OK);
        assert_int_equal(model_eval(t.m, seq + 5, 7, 5, last, false), STATUS_OK);
        assert_true(logit_diff(a + 11 * nv, last, nv).max <= 1e-4);
        tiny_free(&t);
    }
}

static void test_model_threads_bit_identical(void **state)
{
    (void)state;
    for (int q = 0; q < 2; q++) {
        struct tiny_cfg c = tiny_default;
        if (q) {
            c.dim = 256;
            c.n_ff = 512;
            c.wtype = DTYPE_Q4_K;
        }
        float a[12 * 50], b[12 * 50], qa[12 * 50], qb[12 * 50], da[50], db[50];
        for (int th = 1; th <= 3; th++) {
            struct tiny t;
            assert_int_equal(tiny_build(&c, th, 4, &t), STATUS_OK);
            assert_int_equal(model_eval(t.m, seq, 12, 0, th == 1 ? a : b, true), STATUS_OK);
            if (th > 1)
                assert_memory_equal(a, b, sizeof a);
            /* the single-token path (merged q/k/v and gate/up jobs) */
            assert_int_equal(model_eval(t.m, seq + 3, 1, 12, th == 1 ? da : db, false), STATUS_OK);
            if (th > 1)
                assert_memory_equal(da, db, sizeof da);
            /* and with quantized batches through the batch products (qgemm or BLAS) */
            struct model_params p;
            model_params_init(&p);
            p.n_threads = th;
            p.quant_blas_min = 2;
            struct model *m2;
            assert_int_equal(model_open(t.g, &p, &m2), STATUS_OK);
            assert_int_equal(model_eval(m2, seq, 12, 0, th == 1 ? qa : qb, true), STATUS_OK);
            if (th > 1)
                assert_memory_equal(qa, qb, sizeof qa);
            /* the BLAS path sums in another order, so an 8-bit activation that sits on a
             * rounding boundary may round the other way (golden README sections 5-6): that
             * moves some logits by a few hundredths (0.037 here with the scalar and AVX2
             * kernels, 1.4e-6 with AVX-512), so bound the mean tightly and the max by a
             * single flip */
            struct diff dq = logit_diff(a, th == 1 ? qa : qb, 12 * 50);
            assert_true(dq.mean <= 1e-3);
            assert_true(dq.max <= 0.1);
            model_close(m2);
            tiny_free(&t);
        }
    }
}

/* Logits of seq through a model opened on g with the given weights placement. */
static void weights_eval(const struct gguf *g, enum model_weights w, float *lg, size_t *copied)
{
    struct model_params p;
    model_params_init(&p);
    p.n_threads = 2;
    p.weights = w;
    struct model *m;
    assert_int_equal(model_open(g, &p, &m), STATUS_OK);
    *copied = model_weights_copied(m);
    assert_int_equal(model_eval(m, seq, 12, 0, lg, true), STATUS_OK);
    model_close(m);
}

/* Weights copied into huge pages give the very logits of weights read in place: over a
 * borrowed buffer (which must come through the copy unchanged) and over a file mapping
 * (whose copied pages are released and read again from the file when used later). */
static void test_model_weights_copy_matches_mapped(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    for (int q = 0; q < 3; q++) {
        struct tiny_cfg c = tiny_default;
        c.tied = q == 2;
        if (q >= 1) {
            c.dim = 256;
            c.n_ff = 512;
            c.wtype = q == 1 ? DTYPE_Q4_K : DTYPE_Q8_0;
        }
        struct tiny t;
        assert_int_equal(tiny_build(&c, 1, 11, &t), STATUS_OK);
        float mapped[12 * 50], copy[12 * 50], again[12 * 50], file[12 * 50];
        size_t n_mapped, n_copy, n_again, n_file;
        weights_eval(t.g, MODEL_WEIGHTS_MAPPED, mapped, &n_mapped);
        weights_eval(t.g, MODEL_WEIGHTS_COPY, copy, &n_copy);
        weights_eval(t.g, MODEL_WEIGHTS_MAPPED, again, &n_again);
        assert_int_equal(n_mapped, 0);
        assert_int_equal(n_again, 0);
        assert_true(n_copy > 0 && n_copy < t.size);
        assert_memory_equal(mapped, copy, sizeof mapped);
        assert_memory_equal(mapped, again, sizeof mapped);

        char path[512];
        snprintf(path, sizeof path, "%s/weights-%d.gguf", dir, q);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(t.buf, 1, t.size, f), t.size);
        assert_int_equal(fclose(f), 0);
        struct gguf *g;
        assert_int_equal(gguf_open(path, &g), STATUS_OK);
        assert_true(gguf_is_mapped(g));
        assert_false(gguf_is_mapped(t.g));
        weights_eval(g, MODEL_WEIGHTS_COPY, file, &n_file);
        assert_int_equal(n_file, n_copy);
        assert_memory_equal(mapped, file, sizeof mapped);
        weights_eval(g, MODEL_WEIGHTS_MAPPED, file, &n_file);
        assert_memory_equal(mapped, file, sizeof mapped);
        gguf_close(g);
        unlink(path);
        tiny_free(&t);
    }
    test_rmtree(dir);
}

/* Without output.weight the output matrix is token_embd. */
static void test_model_tied_output(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.tied = true;
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 5, &t), STATUS_OK);
    assert_true(model_output_tied(t.m));
    float lg[50], h[32];
    int32_t tok = 9;
    assert_int_equal(model_eval(t.m, &tok, 1, 0, lg, false), STATUS_OK);
    /* the untied model from the same seed shares every tensor but output.weight (drawn last) */
    struct tiny_cfg c2 = c;
    c2.tied = false;
    struct tiny u;
    assert_int_equal(tiny_build(&c2, 1, 5, &u), STATUS_OK);
    float lu[50];
    assert_int_equal(model_eval(u.m, &tok, 1, 0, lu, false), STATUS_OK);
    assert_memory_not_equal(lg, lu, sizeof lg);
    /* logits = E h for the final hidden state h: solve h from the first 32 rows of the
     * embedding E (Gauss-Jordan) and predict the other 18 logits with it */
    int64_t ei = gguf_find_tensor(t.g, "token_embd.weight");
    const float *E = gguf_tensor_data(t.g, ei);
    double A[32][33];
    for (int r = 0; r < 32; r++) {
        for (int k = 0; k < 32; k++)
            A[r][k] = E[r * 32 + k];
        A[r][32] = lg[r];
    }
    for (int col = 0; col < 32; col++) {
        int piv = col;
        for (int r = col + 1; r < 32; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col]))
                piv = r;
        for (int k = 0; k < 33; k++) {
            double tmp = A[col][k];
            A[col][k] = A[piv][k];
            A[piv][k] = tmp;
        }
        for (int r = 0; r < 32; r++) {
            if (r == col)
                continue;
            double f = A[r][col] / A[col][col];
            for (int k = col; k < 33; k++)
                A[r][k] -= f * A[col][k];
        }
    }
    for (int k = 0; k < 32; k++)
        h[k] = (float)(A[k][32] / A[k][k]);
    for (int v = 32; v < 50; v++) {
        double pred = 0;
        for (int k = 0; k < 32; k++)
            pred += (double)E[v * 32 + k] * h[k];
        assert_true(fabs(pred - lg[v]) < 1e-3);
    }
    tiny_free(&t);
    tiny_free(&u);
}

static void test_model_context_full_and_rewind(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 6, &t), STATUS_OK);
    int32_t toks[64];
    for (int i = 0; i < 64; i++)
        toks[i] = (i * 7) % 50;
    assert_int_equal(model_eval(t.m, toks, 64, 0, NULL, false), STATUS_OK);
    assert_int_equal(model_eval(t.m, toks, 1, 64, NULL, false), STATUS_CONTEXT_FULL);
    assert_int_equal(model_eval(t.m, toks, 1, 65, NULL, false), STATUS_INVALID);
    int32_t bad = 50;
    assert_int_equal(model_eval(t.m, &bad, 1, 0, NULL, false), STATUS_INVALID);
    assert_int_equal(model_n_past(t.m), 64);
    model_reset(t.m);
    assert_int_equal(model_n_past(t.m), 0);
    tiny_free(&t);
}

/* With one layer, K and V of a token depend on that token alone, so after a context shift
 * the cache equals a fresh evaluation of the kept tokens at their new positions. */
static void test_model_shift_matches_fresh(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.n_layer = 1;
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 7, &t), STATUS_OK);
    size_t nv = model_n_vocab(t.m);
    assert_int_equal(model_eval(t.m, seq, 12, 0, NULL, false), STATUS_OK);
    assert_int_equal(model_shift(t.m, 2, 0), STATUS_OK); /* drops (12-2)/2 = 5 */
    assert_int_equal(model_n_past(t.m), 7);
    int32_t next = 21;
    float a[50], b[50];
    assert_int_equal(model_eval(t.m, &next, 1, 7, a, false), STATUS_OK);
    int32_t fresh[8] = {seq[0], seq[1], seq[7], seq[8], seq[9], seq[10], seq[11], next};
    model_reset(t.m);
    assert_int_equal(model_eval(t.m, fresh, 8, 0, b, false), STATUS_OK);
    assert_true(logit_diff(a, b, nv).max <= 1e-4);
    assert_int_equal(model_shift(t.m, 9, 0), STATUS_INVALID);
    tiny_free(&t);
}

/* With one layer and a window of 4, position t ignores tokens before t - 3. */
static void test_model_sliding_window(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.n_layer = 1;
    c.swa = 4;
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 8, &t), STATUS_OK);
    assert_int_equal(model_sliding_window(t.m), 4);
    size_t nv = model_n_vocab(t.m);
    float a[12 * 50], b[12 * 50];
    int32_t s2[12];
    memcpy(s2, seq, sizeof s2);
    s2[2] = 48;
    assert_int_equal(model_eval(t.m, seq, 12, 0, a, true), STATUS_OK);
    assert_int_equal(model_eval(t.m, s2, 12, 0, b, true), STATUS_OK);
    assert_memory_not_equal(a + 5 * nv, b + 5 * nv, nv * sizeof(float)); /* sees 2..5 */
    assert_memory_equal(a + 6 * nv, b + 6 * nv, 6 * nv * sizeof(float)); /* 3..6 onwards */
    tiny_free(&t);
}

static void test_model_kv_f16_close_to_f32(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 9, &t), STATUS_OK);
    float a[12 * 50], b[12 * 50];
    assert_int_equal(model_eval(t.m, seq, 12, 0, a, true), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.kv_f16 = true;
    p.n_threads = 1;
    struct model *m2;
    assert_int_equal(model_open(t.g, &p, &m2), STATUS_OK);
    assert_int_equal(model_eval(m2, seq, 12, 0, b, true), STATUS_OK);
    double d = logit_diff(a, b, sizeof a / sizeof a[0]).max;
    assert_true(d > 0 && d < 2e-2);
    model_close(m2);
    tiny_free(&t);
}

/* Prompts longer than n_batch are cut into passes; the logits do not change beyond noise. */
static void test_model_small_batch_passes(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 2, 10, &t), STATUS_OK);
    float a[12 * 50], b[12 * 50];
    assert_int_equal(model_eval(t.m, seq, 12, 0, a, true), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.n_batch = 5;
    p.n_threads = 2;
    struct model *m2;
    assert_int_equal(model_open(t.g, &p, &m2), STATUS_OK);
    assert_int_equal(model_eval(m2, seq, 12, 0, b, true), STATUS_OK);
    assert_int_equal(model_n_past(m2), 12);
    assert_true(logit_diff(a, b, 12 * 50).max <= 1e-4);
    model_close(m2);
    tiny_free(&t);
}

/* A NaN in the weights of a quantized model is reported, not quantized. */
static void test_model_nan_weights_reported(void **state)
{
    (void)state;
    struct tiny_cfg c = tiny_default;
    c.wtype = DTYPE_Q8_0;
    struct tiny t;
    assert_int_equal(tiny_build(&c, 1, 11, &t), STATUS_OK);
    int64_t i = gguf_find_tensor(t.g, "blk.1.ffn_norm.weight");
    assert_true(i >= 0);
    size_t off = (size_t)((const char *)gguf_tensor_data(t.g, i) - (const char *)gguf_base(t.g));
    float nan = NAN;
    memcpy((char *)t.buf + off + 4 * sizeof(float), &nan, sizeof nan);
    /* a model opened after the change (the one open already may hold a copy) */
    struct model_params p;
    model_params_init(&p);
    p.n_threads = 1;
    struct model *m;
    assert_int_equal(model_open(t.g, &p, &m), STATUS_OK);
    float lg[50];
    assert_int_equal(model_eval(m, seq, 3, 0, lg, false), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "NaN"));
    model_close(m);
    tiny_free(&t);
}

static int abort_calls;
static bool abort_after_three(void *user)
{
    (void)user;
    return ++abort_calls > 3;
}

/* The abort hook stops a long evaluation between layers; finished passes stay cached. */
static void test_model_abort(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 12, &t), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.n_batch = 4;
    p.n_threads = 1;
    struct model *m;
    assert_int_equal(model_open(t.g, &p, &m), STATUS_OK);
    model_set_abort(m, abort_after_three, NULL);
    abort_calls = 0;
    /* 2 layers per pass: calls 1-2 pass one, 3 and 4 (abort) in pass two */
    assert_int_equal(model_eval(m, seq, 12, 0, NULL, false), STATUS_CANCELLED);
    assert_int_equal(model_n_past(m), 4);
    model_set_abort(m, NULL, NULL);
    float a[50], b[50];
    assert_int_equal(model_eval(m, seq + 4, 8, 4, a, false), STATUS_OK);
    assert_int_equal(model_eval(t.m, seq, 12, 0, b, false), STATUS_OK);
    assert_true(logit_diff(a, b, 50).max <= 1e-4);
    model_close(m);
    tiny_free(&t);
}

/* ---- LoRA at run time -------------------------------------------------------------------- */

struct adapter {
    void *buf;
    size_t size;
    struct gguf *g;
    struct lora *l;
    float *data[16];
    size_t n_data;
};

/* An adapter of rank 4 (alpha 8) on the named tensors of a tiny_default-shaped model;
 * names[i] with shape n_in[i] x n_out[i]. */
static void adapter_build(struct adapter *a, const char *const *names, const uint32_t *n_in,
                          const uint32_t *n_out, size_t n)
{
    memset(a, 0, sizeof *a);
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.type", "adapter"), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "adapter.type", "lora"), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "adapter.lora.alpha", 8.0f), STATUS_OK);
    const uint32_t r = 4;
    char name[128];
    for (size_t i = 0; i < n; i++) {
        bool embd = strcmp(names[i], "token_embd.weight") == 0;
        /* usual: A [n_in, r], B [r, n_out]; token_embd: A [r, n_vocab], B [r, n_embd] */
        uint64_t da[2] = {embd ? r : n_in[i], embd ? n_out[i] : r};
        uint64_t db[2] = {r, embd ? n_in[i] : n_out[i]};
        for (int ab = 0; ab < 2; ab++) {
            const uint64_t *d = ab ? db : da;
            float *v = malloc(d[0] * d[1] * sizeof *v);
            assert_non_null(v);
            for (size_t j = 0; j < d[0] * d[1]; j++)
                v[j] = 0.1f * rnd_normal();
            a->data[a->n_data++] = v;
            snprintf(name, sizeof name, "%s.%s", names[i], ab ? "lora_b" : "lora_a");
            assert_int_equal(gguf_writer_add_tensor(w, name, DTYPE_F32, 2, d, v,
                                                    d[0] * d[1] * sizeof *v),
                             STATUS_OK);
        }
    }
    assert_int_equal(gguf_writer_to_buffer(w, &a->buf, &a->size), STATUS_OK);
    gguf_writer_free(w);
    assert_int_equal(gguf_open_buffer(a->buf, a->size, &a->g), STATUS_OK);
    enum status st = lora_open_gguf(a->g, &a->l);
    if (st != STATUS_OK)
        fail_msg("lora_open_gguf: %s", status_detail());
}

static void adapter_free(struct adapter *a)
{
    lora_close(a->l);
    gguf_close(a->g);
    free(a->buf);
    for (size_t i = 0; i < a->n_data; i++)
        free(a->data[i]);
}

/* Run-time adapters give the logits of the model with the adapters merged into its weights
 * (lora_merge), untied and tied. */
static void test_model_lora_matches_merged(void **state)
{
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        struct tiny_cfg c = tiny_default;
        c.tied = tied;
        struct tiny t;
        assert_int_equal(tiny_build(&c, 2, 13, &t), STATUS_OK);
        const char *names[] = {"token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_v.weight",
                               "blk.1.ffn_down.weight", "output.weight"};
        const uint32_t n_in[] = {32, 32, 32, 64, 32}, n_out[] = {50, 32, 16, 32, 50};
        struct adapter a;
        adapter_build(&a, names, n_in, n_out, tied ? 4 : 5);
        struct lora_set *set;
        assert_int_equal(lora_set_new(&set), STATUS_OK);
        assert_int_equal(lora_set_add(set, a.l, 0.5f), STATUS_OK);

        struct model_params p;
        model_params_init(&p);
        p.n_threads = 2;
        p.lora = set;
        struct model *ml;
        assert_int_equal(model_open(t.g, &p, &ml), STATUS_OK);
        float got[12 * 50], want[12 * 50], base[12 * 50];
        assert_int_equal(model_eval(ml, seq, 12, 0, got, true), STATUS_OK);
        assert_int_equal(model_eval(t.m, seq, 12, 0, base, true), STATUS_OK);

        struct lora_merge_params mp;
        lora_merge_params_init(&mp);
        void *mbuf;
        size_t msize;
        assert_int_equal(lora_merge_to_buffer(t.g, set, &mp, &mbuf, &msize), STATUS_OK);
        struct gguf *mg;
        assert_int_equal(gguf_open_buffer(mbuf, msize, &mg), STATUS_OK);
        struct model *mm;
        p.lora = NULL;
        assert_int_equal(model_open(mg, &p, &mm), STATUS_OK);
        assert_int_equal(model_eval(mm, seq, 12, 0, want, true), STATUS_OK);
        double d = logit_diff(got, want, 12 * 50).max;
        assert_true(d <= 1e-4);
        assert_true(logit_diff(got, base, 12 * 50).max > 1e-2); /* the adapter does something */
        /* one token at a time as well */
        float one[50];
        for (size_t i = 0; i < 12; i++)
            assert_int_equal(model_eval(ml, seq + i, 1, i, one, false), STATUS_OK);
        assert_true(logit_diff(one, want + 11 * 50, 50).max <= 1e-4);
        model_close(mm);
        gguf_close(mg);
        free(mbuf);
        model_close(ml);
        lora_set_free(set);
        adapter_free(&a);
        tiny_free(&t);
    }
}

static void test_model_lora_rejects_foreign_tensors(void **state)
{
    (void)state;
    struct tiny t;
    assert_int_equal(tiny_build(&tiny_default, 1, 14, &t), STATUS_OK);
    struct model_params p;
    model_params_init(&p);
    p.n_threads = 1;
    struct model *m = NULL;
    for (int k = 0; k < 2; k++) {
        /* k 0: a layer the model lacks; k 1: a shape that does not fit */
        const char *names[] = {k ? "blk.0.ffn_up.weight" : "blk.7.attn_q.weight"};
        const uint32_t n_in[] = {32}, n_out[] = {k ? 48 : 32};
        struct adapter a;
        adapter_build(&a, names, n_in, n_out, 1);
        struct lora_set *set;
        assert_int_equal(lora_set_new(&set), STATUS_OK);
        assert_int_equal(lora_set_add(set, a.l, 1.0f), STATUS_OK);
        p.lora = set;
        assert_int_equal(model_open(t.g, &p, &m), STATUS_INVALID);
        assert_non_null(strstr(status_detail(), names[0]));
        lora_set_free(set);
        adapter_free(&a);
    }
    tiny_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_open_reads_hparams),
        cmocka_unit_test(test_model_open_rejects_bad_shape),
        cmocka_unit_test(test_model_open_rejects_missing_tensor),
        cmocka_unit_test(test_model_causal),
        cmocka_unit_test(test_model_batch_matches_one_by_one),
        cmocka_unit_test(test_model_threads_bit_identical),
        cmocka_unit_test(test_model_tied_output),
        cmocka_unit_test(test_model_weights_copy_matches_mapped),
        cmocka_unit_test(test_model_context_full_and_rewind),
        cmocka_unit_test(test_model_shift_matches_fresh),
        cmocka_unit_test(test_model_sliding_window),
        cmocka_unit_test(test_model_kv_f16_close_to_f32),
        cmocka_unit_test(test_model_small_batch_passes),
        cmocka_unit_test(test_model_nan_weights_reported),
        cmocka_unit_test(test_model_abort),
        cmocka_unit_test(test_model_lora_matches_merged),
        cmocka_unit_test(test_model_lora_rejects_foreign_tensors),
        cmocka_unit_test(test_model_golden_f32_short),
        cmocka_unit_test(test_model_golden_f32_long),
        cmocka_unit_test(test_model_golden_f32_one_by_one_matches_batch),
        cmocka_unit_test(test_model_golden_f32_kv_f16),
        cmocka_unit_test(test_model_golden_f32_threads_bit_identical),
        cmocka_unit_test(test_model_golden_q8_0),
        cmocka_unit_test(test_model_golden_q4_0),
        cmocka_unit_test(test_model_golden_q4_k_m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
