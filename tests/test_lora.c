/* test_lora.c -- LoRA adapters: validation, spec parsing, run-time deltas and merging, checked
 * against sums computed here in double precision on tiny models built with the GGUF writer.
 *
 * Also a fixture tool for tests/e2e/lora.sh:
 *   test_lora --write-fixtures DIR     writes the base models and adapters listed below
 *   test_lora --check-merged BASE ADAPTER SCALE MERGED TOL
 *       exit 0 when every tensor of MERGED is, within TOL, BASE + SCALE * alpha / r * dW
 *       (computed in double) for the tensors ADAPTER changes, and byte-identical otherwise. */
#include "config.h"

#include <math.h>

#include "test_util.h"

#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/quant.h"

/* ---- Tiny models and adapters ------------------------------------------------------------ */

#define DIM 32
#define N_HEAD 4
#define N_HEAD_KV 2
#define N_FF 64
#define N_VOCAB 40
#define KV_DIM (DIM / N_HEAD * N_HEAD_KV)

static uint64_t rng_state;
static double rnd_uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}
static float rnd_sym(void)
{
    return (float)(2.0 * rnd_uniform() - 1.0);
}

/* Buffers that must live until the writer has written. */
struct keep {
    void *p[256];
    size_t n;
};

static void *keep_alloc(struct keep *k, size_t size)
{
    assert_true(k->n < 256);
    void *p = calloc(1, size ? size : 1);
    assert_non_null(p);
    k->p[k->n++] = p;
    return p;
}

static void keep_free(struct keep *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->p[i]);
    k->n = 0;
}

/* Add tensor name of dims [ne0, ne1] (ne1 0: one dimension) with values v, as type ty. */
static void add_tensor(struct gguf_writer *w, struct keep *k, const char *name, enum dtype ty,
                       uint32_t ne0, uint32_t ne1, const float *v)
{
    size_t row, rows = ne1 ? ne1 : 1;
    assert_int_equal(dtype_row_bytes(ty, ne0, &row), STATUS_OK);
    unsigned char *data = keep_alloc(k, row * rows);
    for (size_t r = 0; r < rows; r++)
        quant_quantize_row(ty, v + r * ne0, data + r * row, ne0);
    uint64_t dims[2] = {ne0, ne1};
    assert_int_equal(gguf_writer_add_tensor(w, name, ty, ne1 ? 2 : 1, dims, data, row * rows),
                     STATUS_OK);
}

static void add_random(struct gguf_writer *w, struct keep *k, const char *name, enum dtype ty,
                       uint32_t ne0, uint32_t ne1, float amp, float offset)
{
    size_t n = (size_t)ne0 * (ne1 ? ne1 : 1);
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = offset + amp * rnd_sym();
    add_tensor(w, k, name, ty, ne0, ne1, v);
    free(v);
}

/* A one-layer llama model that model_open() accepts; matrices of type wtype. */
static struct gguf_writer *base_writer(enum dtype wtype, const char *arch, struct keep *k)
{
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", arch), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.name", "lora-test-base"), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.embedding_length", DIM), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.block_count", 1), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.feed_forward_length", N_FF), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.attention.head_count", N_HEAD), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.attention.head_count_kv", N_HEAD_KV),
                     STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.context_length", 32), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "llama.rope.dimension_count", DIM / N_HEAD),
                     STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f), STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f),
                     STATUS_OK);
    rng_state = 42;
    float s = 0.3f;
    add_random(w, k, "token_embd.weight", wtype, DIM, N_VOCAB, 1.0f, 0);
    add_random(w, k, "blk.0.attn_norm.weight", DTYPE_F32, DIM, 0, 0.1f, 1.0f);
    add_random(w, k, "blk.0.attn_q.weight", wtype, DIM, DIM, s, 0);
    add_random(w, k, "blk.0.attn_k.weight", wtype, DIM, KV_DIM, s, 0);
    add_random(w, k, "blk.0.attn_v.weight", wtype, DIM, KV_DIM, s, 0);
    add_random(w, k, "blk.0.attn_output.weight", wtype, DIM, DIM, s, 0);
    add_random(w, k, "blk.0.ffn_norm.weight", DTYPE_F32, DIM, 0, 0.1f, 1.0f);
    add_random(w, k, "blk.0.ffn_gate.weight", wtype, DIM, N_FF, s, 0);
    add_random(w, k, "blk.0.ffn_up.weight", wtype, DIM, N_FF, s, 0);
    add_random(w, k, "blk.0.ffn_down.weight", wtype, N_FF, DIM, s, 0);
    add_random(w, k, "output_norm.weight", DTYPE_F32, DIM, 0, 0.1f, 1.0f);
    add_random(w, k, "output.weight", wtype, DIM, N_VOCAB, s, 0);
    return w;
}

struct mem_gguf {
    void *buf;
    size_t size;
    struct gguf *g;
};

static void mem_open(struct gguf_writer *w, struct mem_gguf *m)
{
    assert_int_equal(gguf_writer_to_buffer(w, &m->buf, &m->size), STATUS_OK);
    gguf_writer_free(w);
    assert_int_equal(gguf_open_buffer(m->buf, m->size, &m->g), STATUS_OK);
}

static void mem_close(struct mem_gguf *m)
{
    gguf_close(m->g);
    free(m->buf);
    memset(m, 0, sizeof *m);
}

static void base_open(enum dtype wtype, struct mem_gguf *m)
{
    struct keep k = {0};
    mem_open(base_writer(wtype, "llama", &k), m);
    keep_free(&k);
}

/* One adapter pair.  Values are q / 64 with |q| <= 127 and +-127/64 first in every 32-value
 * block, so that F16, BF16 and Q8_0 hold them exactly (Q8_0's d is then exactly 1/64) and the
 * reference can use the floats themselves. */
struct pair {
    const char *name;        /* base tensor */
    uint32_t n_in, n_out, r; /* base dims [n_in, n_out]; rank */
    enum dtype ta, tb;
    bool zero_b;             /* B = 0 */
    uint32_t a_rank;         /* A's rank when != 0 (for mismatch tests) */
    bool no_b;               /* leave lora_b out */
    float *a, *b;            /* as stored (filled by the builder, in keep) */
};

struct adapter_cfg {
    const char *general_type, *adapter_type, *arch; /* NULL: key absent */
    float alpha;                                     /* < 0: key absent */
    struct pair *p;
    size_t n_p;
    const char *extra; /* an extra tensor with this name */
};

static bool is_embd(const char *name)
{
    size_t n = strlen(name);
    return n >= 17 && strcmp(name + n - 17, "token_embd.weight") == 0;
}

static float *exact_values(struct keep *k, size_t n, bool zero)
{
    float *v = keep_alloc(k, n * sizeof *v);
    for (size_t i = 0; i < n && !zero; i++) {
        int q = (int)(rnd_uniform() * 255.0) - 127;
        v[i] = (i % 32 == 0 ? (rnd_uniform() < 0.5 ? -127 : 127) : q) / 64.0f;
    }
    return v;
}

static struct gguf_writer *adapter_writer(const struct adapter_cfg *c, struct keep *k)
{
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    if (c->general_type)
        assert_int_equal(gguf_writer_set_str(w, "general.type", c->general_type), STATUS_OK);
    if (c->adapter_type)
        assert_int_equal(gguf_writer_set_str(w, "adapter.type", c->adapter_type), STATUS_OK);
    if (c->arch)
        assert_int_equal(gguf_writer_set_str(w, "general.architecture", c->arch), STATUS_OK);
    if (c->alpha >= 0)
        assert_int_equal(gguf_writer_set_f32(w, "adapter.lora.alpha", c->alpha), STATUS_OK);
    char name[128];
    for (size_t i = 0; i < c->n_p; i++) {
        struct pair *p = &c->p[i];
        uint32_t ra = p->a_rank ? p->a_rank : p->r;
        /* usual: A [n_in, r], B [r, n_out]; token_embd: A [r, n_vocab], B [r, n_embd] */
        bool e = is_embd(p->name);
        uint32_t a0 = e ? ra : p->n_in, a1 = e ? p->n_out : ra;
        uint32_t b0 = p->r, b1 = e ? p->n_in : p->n_out;
        p->a = exact_values(k, (size_t)a0 * a1, false);
        p->b = exact_values(k, (size_t)b0 * b1, p->zero_b);
        snprintf(name, sizeof name, "%s.lora_a", p->name);
        add_tensor(w, k, name, p->ta, a0, a1, p->a);
        if (!p->no_b) {
            snprintf(name, sizeof name, "%s.lora_b", p->name);
            add_tensor(w, k, name, p->tb, b0, b1, p->b);
        }
    }
    if (c->extra) {
        float v[DIM] = {0};
        add_tensor(w, k, c->extra, DTYPE_F32, DIM, 0, v);
    }
    return w;
}

/* dW[o][i] of pair p as stored, in double. */
static double ref_dw(const struct pair *p, size_t o, size_t i)
{
    double s = 0;
    if (is_embd(p->name)) {
        for (size_t k = 0; k < p->r; k++)
            s += (double)p->a[o * p->r + k] * p->b[i * p->r + k];
    } else {
        for (size_t k = 0; k < p->r; k++)
            s += (double)p->b[o * p->r + k] * p->a[k * p->n_in + i];
    }
    return s;
}

static struct pair pair_q(void)
{
    return (struct pair){"blk.0.attn_q.weight", DIM, DIM, 4, DTYPE_F32, DTYPE_F32, false, 0,
                         false, NULL, NULL};
}
static struct pair pair_down(void)
{
    return (struct pair){"blk.0.ffn_down.weight", N_FF, DIM, 2, DTYPE_F32, DTYPE_F32, false, 0,
                         false, NULL, NULL};
}
static struct pair pair_embd(void)
{
    return (struct pair){"token_embd.weight", DIM, N_VOCAB, 3, DTYPE_F32, DTYPE_F32, false, 0,
                         false, NULL, NULL};
}

static struct adapter_cfg adapter_default(struct pair *p, size_t n)
{
    return (struct adapter_cfg){"adapter", "lora", "llama", 8.0f, p, n, NULL};
}

/* Open an adapter built from c; returns lora_open_gguf's status (*out set on success). */
static enum status adapter_open(const struct adapter_cfg *c, struct keep *k, struct mem_gguf *m,
                                struct lora **out)
{
    rng_state = 7;
    mem_open(adapter_writer(c, k), m);
    return lora_open_gguf(m->g, out);
}

/* ---- Validation -------------------------------------------------------------------------- */

static void test_lora_open_reads_pairs(void **state)
{
    (void)state;
    struct pair p[3] = {pair_q(), pair_down(), pair_embd()};
    struct adapter_cfg c = adapter_default(p, 3);
    c.extra = "blk.0.attn_norm.weight";
    struct keep k = {0};
    struct mem_gguf m;
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    assert_string_equal(lora_arch(l), "llama");
    assert_true(lora_alpha(l) == 8.0f);
    assert_int_equal(lora_n_targets(l), 3);
    assert_int_equal(lora_n_ignored(l), 1);
    /* sorted by name */
    assert_string_equal(lora_target_name(l, 0), "blk.0.attn_q.weight");
    assert_string_equal(lora_target_name(l, 1), "blk.0.ffn_down.weight");
    assert_string_equal(lora_target_name(l, 2), "token_embd.weight");
    assert_int_equal(lora_target_rank(l, 1), 2);
    assert_int_equal(lora_target_n_in(l, 1), N_FF);
    assert_int_equal(lora_target_n_out(l, 1), DIM);
    assert_int_equal(lora_target_rank(l, 2), 3);
    assert_int_equal(lora_target_n_in(l, 2), DIM);
    assert_int_equal(lora_target_n_out(l, 2), N_VOCAB);
    struct mem_gguf base;
    base_open(DTYPE_F32, &base);
    assert_int_equal(lora_check_base(l, base.g), STATUS_OK);
    mem_close(&base);
    lora_close(l);
    mem_close(&m);
    keep_free(&k);
}

/* Rank 1: ggml drops trailing dimensions of size 1, so lora_a may be written with one. */
static void test_lora_open_accepts_rank_one_as_1d(void **state)
{
    (void)state;
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.type", "adapter"), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "adapter.type", "lora"), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama"), STATUS_OK);
    float a[DIM], b[DIM];
    for (size_t i = 0; i < DIM; i++) {
        a[i] = (float)i / DIM;
        b[i] = 1.0f - (float)i / DIM;
    }
    struct keep k = {0};
    add_tensor(w, &k, "blk.0.attn_q.weight.lora_a", DTYPE_F32, DIM, 0, a); /* [32] */
    add_tensor(w, &k, "blk.0.attn_q.weight.lora_b", DTYPE_F32, 1, DIM, b); /* [1, 32] */
    struct mem_gguf m;
    mem_open(w, &m);
    struct lora *l;
    assert_int_equal(lora_open_gguf(m.g, &l), STATUS_OK);
    assert_int_equal(lora_target_rank(l, 0), 1);
    assert_int_equal(lora_target_n_in(l, 0), DIM);
    assert_int_equal(lora_target_n_out(l, 0), DIM);
    assert_true(lora_alpha(l) == 0.0f); /* absent */
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 3.0f), STATUS_OK);
    float x[DIM], y[DIM] = {0}, scratch[1];
    double ax = 0;
    for (size_t i = 0; i < DIM; i++) {
        x[i] = rnd_sym();
        ax += (double)a[i] * x[i];
    }
    lora_apply(lora_find(s, "blk.0.attn_q.weight"), x, 1, y, scratch);
    for (size_t o = 0; o < DIM; o++)
        assert_float_equal(y[o], 3.0 * b[o] * ax, 1e-5);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    keep_free(&k);
}

/* Build c, expect lora_open_gguf to fail with want and a detail containing detail. */
static void expect_open_fails(const struct adapter_cfg *c, enum status want, const char *detail)
{
    struct keep k = {0};
    struct mem_gguf m;
    struct lora *l = NULL;
    enum status st = adapter_open(c, &k, &m, &l);
    if (st != want)
        fail_msg("got %s (%s), want %s", status_name(st), status_detail(), status_name(want));
    if (!strstr(status_detail(), detail))
        fail_msg("detail '%s' lacks '%s'", status_detail(), detail);
    assert_null(l);
    mem_close(&m);
    keep_free(&k);
}

static void test_lora_open_rejects_non_adapters(void **state)
{
    (void)state;
    struct pair p[1] = {pair_q()};
    struct adapter_cfg c = adapter_default(p, 1);
    c.general_type = NULL;
    expect_open_fails(&c, STATUS_FORMAT, "general.type");
    c.general_type = "model";
    expect_open_fails(&c, STATUS_FORMAT, "'model'");
    c.general_type = "adapter";
    c.adapter_type = "control_vector";
    expect_open_fails(&c, STATUS_UNSUPPORTED, "control_vector");
    c.adapter_type = NULL;
    expect_open_fails(&c, STATUS_FORMAT, "adapter.type");
    c.adapter_type = "lora";
    c.arch = NULL;
    expect_open_fails(&c, STATUS_FORMAT, "general.architecture");
}

static void test_lora_open_rejects_broken_pairs(void **state)
{
    (void)state;
    struct pair p[2] = {pair_q(), pair_down()};
    struct adapter_cfg c = adapter_default(p, 2);
    p[1].a_rank = 3; /* A has rank 3, B rank 2 */
    expect_open_fails(&c, STATUS_FORMAT, "blk.0.ffn_down.weight: lora_a has rank 3");
    p[1].a_rank = 0;
    p[1].no_b = true;
    expect_open_fails(&c, STATUS_FORMAT, "blk.0.ffn_down.weight lacks its lora_b");
    p[1].no_b = false;
    c.extra = "blk.0.attn_q.weight.lora_c";
    expect_open_fails(&c, STATUS_FORMAT, "lora_c");
    c.extra = NULL;
    p[0].ta = DTYPE_Q4_0;
    expect_open_fails(&c, STATUS_UNSUPPORTED, "Q4_0");
    /* token_embd: ranks compared on ne0 of both */
    struct pair e[1] = {pair_embd()};
    e[0].a_rank = 5;
    c = adapter_default(e, 1);
    expect_open_fails(&c, STATUS_FORMAT, "token_embd.weight: lora_a has rank 5");
}

static void test_lora_check_base_rejects_mismatches(void **state)
{
    (void)state;
    struct mem_gguf base;
    base_open(DTYPE_F32, &base);
    struct keep k = {0};
    struct mem_gguf m;
    struct lora *l;

    struct pair p[1] = {pair_q()};
    struct adapter_cfg c = adapter_default(p, 1);
    c.arch = "qwen2";
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    assert_int_equal(lora_check_base(l, base.g), STATUS_INVALID);
    assert_non_null(strstr(status_detail(), "qwen2"));
    lora_close(l);
    mem_close(&m);

    c = adapter_default(p, 1);
    p[0].name = "blk.7.attn_q.weight";
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    assert_int_equal(lora_check_base(l, base.g), STATUS_NOT_FOUND);
    assert_non_null(strstr(status_detail(), "blk.7.attn_q.weight"));
    lora_close(l);
    mem_close(&m);

    p[0] = pair_q();
    p[0].name = "blk.0.attn_k.weight"; /* 32 x 32 against the base's 32 x 16 */
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    assert_int_equal(lora_check_base(l, base.g), STATUS_INVALID);
    assert_non_null(strstr(status_detail(), "blk.0.attn_k.weight is 32 x 16"));
    /* the merge refuses it as well, even without the check */
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 1.0f), STATUS_OK);
    void *out = NULL;
    size_t size;
    assert_int_equal(lora_merge_to_buffer(base.g, s, NULL, &out, &size), STATUS_INVALID);
    assert_null(out);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);

    keep_free(&k);
    mem_close(&base);
}

static void test_lora_open_file_errors_name_the_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/none.gguf", dir);
    struct lora *l = NULL;
    assert_int_equal(lora_open(path, &l), STATUS_NOT_FOUND);
    assert_non_null(strstr(status_detail(), "none.gguf"));
    /* a base model is not an adapter */
    struct keep k = {0};
    struct gguf_writer *w = base_writer(DTYPE_F32, "llama", &k);
    snprintf(path, sizeof path, "%s/base.gguf", dir);
    assert_int_equal(gguf_writer_write(w, path), STATUS_OK);
    gguf_writer_free(w);
    keep_free(&k);
    assert_int_equal(lora_open(path, &l), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "base.gguf"));
    assert_non_null(strstr(status_detail(), "general.type"));
    assert_null(l);
    test_rmtree(dir);
}

/* ---- --lora FILE[:SCALE] ------------------------------------------------------------------ */

static void expect_spec(const char *arg, const char *path, float scale)
{
    struct lora_spec s;
    enum status st = lora_spec_parse(arg, &s);
    if (st != STATUS_OK)
        fail_msg("'%s': %s", arg, status_detail());
    assert_string_equal(s.path, path);
    assert_true(s.scale == scale);
    lora_spec_clear(&s);
    assert_null(s.path);
}

static void expect_bad_spec(const char *arg)
{
    struct lora_spec s = {NULL, 7.0f};
    if (lora_spec_parse(arg, &s) != STATUS_USAGE)
        fail_msg("'%s' was accepted", arg);
    assert_null(s.path);
    assert_true(s.scale == 7.0f);
    assert_true(status_detail()[0] != '\0');
}

static void test_lora_spec_parse(void **state)
{
    (void)state;
    expect_spec("file.gguf", "file.gguf", 1.0f);
    expect_spec("file.gguf:0.5", "file.gguf", 0.5f);
    expect_spec("file.gguf:-1.25", "file.gguf", -1.25f);
    expect_spec("file.gguf:2", "file.gguf", 2.0f);
    expect_spec("file.gguf:1e-1", "file.gguf", 0.1f);
    expect_spec("a:b.gguf:1", "a:b.gguf", 1.0f);      /* a path with ':' and a scale */
    expect_spec("dir:1/a.gguf", "dir:1/a.gguf", 1.0f); /* ':' inside a directory name */
    expect_bad_spec("file.gguf:");
    expect_bad_spec("file.gguf:abc");
    expect_bad_spec("file.gguf:1.5x");
    expect_bad_spec("file.gguf:nan");
    expect_bad_spec("file.gguf:inf");
    expect_bad_spec("file.gguf:0x10");
    expect_bad_spec("file.gguf: 1");
    expect_bad_spec("file.gguf:1e99");
    expect_bad_spec(":0.5");
    expect_bad_spec("");
}

/* ---- Run-time application -------------------------------------------------------------- */

static double pair_scale(const struct pair *p, double alpha, double user)
{
    return alpha != 0 ? user * alpha / p->r : user;
}

static void test_lora_apply_matches_double_reference(void **state)
{
    (void)state;
    enum dtype types[4] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0};
    for (int ti = 0; ti < 4; ti++) {
        struct pair p[2] = {pair_q(), pair_down()};
        p[0].ta = p[0].tb = types[ti];
        p[1].ta = types[ti]; /* B of ffn_down has 2 values a row: Q8_0 cannot hold it */
        p[1].tb = types[ti] == DTYPE_Q8_0 ? DTYPE_F16 : types[ti];
        if (types[ti] == DTYPE_Q8_0) {
            p[0].r = 32; /* B rows of r values */
        }
        struct adapter_cfg c = adapter_default(p, 2);
        struct keep k = {0};
        struct mem_gguf m;
        struct lora *l;
        assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
        struct lora_set *s;
        assert_int_equal(lora_set_new(&s), STATUS_OK);
        assert_int_equal(lora_set_add(s, l, 0.5f), STATUS_OK);
        lora_close(l);
        mem_close(&m); /* the set is self-contained */
        assert_int_equal(lora_set_n_tensors(s), 2);
        assert_int_equal(lora_set_max_rank(s), p[0].r);
        assert_null(lora_find(s, "blk.0.attn_k.weight"));
        assert_ptr_equal(lora_find_blk(s, 0, "attn_q"), lora_find(s, "blk.0.attn_q.weight"));
        assert_ptr_equal(lora_find_blk(s, 0, "ffn_down"), lora_find(s, "blk.0.ffn_down.weight"));
        assert_null(lora_find_blk(s, 1, "attn_q"));
        assert_null(lora_find(NULL, "blk.0.attn_q.weight"));
        for (int pi = 0; pi < 2; pi++) {
            const struct lora_delta *d = lora_find(s, p[pi].name);
            assert_non_null(d);
            assert_string_equal(lora_delta_name(d), p[pi].name);
            assert_int_equal(lora_delta_n_in(d), p[pi].n_in);
            assert_int_equal(lora_delta_n_out(d), p[pi].n_out);
            double sc = pair_scale(&p[pi], 8.0, 0.5);
            size_t counts[2] = {1, 5};
            for (int ci = 0; ci < 2; ci++) {
                size_t n = counts[ci], ni = p[pi].n_in, no = p[pi].n_out;
                float *x = malloc(n * ni * sizeof *x), *y = malloc(n * no * sizeof *y);
                float *scratch = malloc(lora_set_scratch_floats(s, n) * sizeof *scratch);
                assert_true(x && y && scratch);
                for (size_t i = 0; i < n * ni; i++)
                    x[i] = rnd_sym();
                for (size_t i = 0; i < n * no; i++)
                    y[i] = rnd_sym();
                float *y0 = malloc(n * no * sizeof *y0);
                memcpy(y0, y, n * no * sizeof *y);
                lora_apply(d, x, n, y, scratch);
                for (size_t t = 0; t < n; t++)
                    for (size_t o = 0; o < no; o++) {
                        double want = y0[t * no + o];
                        for (size_t i = 0; i < ni; i++)
                            want += sc * ref_dw(&p[pi], o, i) * x[t * ni + i];
                        double got = y[t * no + o];
                        if (fabs(got - want) > 1e-4 * (1 + fabs(want)))
                            fail_msg("%s %s n=%zu y[%zu][%zu] = %g, want %g",
                                     dtype_name(types[ti]), p[pi].name, n, t, o, got, want);
                    }
                lora_apply(NULL, x, n, y, scratch); /* no-op */
                free(x);
                free(y);
                free(y0);
                free(scratch);
            }
        }
        lora_set_free(s);
        keep_free(&k);
    }
}

static void test_lora_apply_token_embd_rows_and_tied_output(void **state)
{
    (void)state;
    struct pair p[1] = {pair_embd()};
    struct adapter_cfg c = adapter_default(p, 1);
    c.alpha = 0; /* scale = user scale */
    struct keep k = {0};
    struct mem_gguf m;
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, -2.0f), STATUS_OK);
    const struct lora_delta *d = lora_find(s, "token_embd.weight");
    assert_non_null(d);
    /* embedding rows: y[i] += dW[tok] */
    int32_t toks[3] = {0, 39, 17};
    float y[3 * DIM] = {0};
    lora_apply_rows(d, toks, 3, y);
    for (size_t i = 0; i < 3; i++)
        for (size_t e = 0; e < DIM; e++) {
            double want = -2.0 * ref_dw(&p[0], (size_t)toks[i], e);
            assert_float_equal(y[i * DIM + e], want, 1e-4);
        }
    /* as a linear map (tied output): logits[t] += sum_e dW[t][e] h[e] */
    float h[DIM], logits[N_VOCAB] = {0};
    float *scratch = malloc(lora_set_scratch_floats(s, 1) * sizeof *scratch);
    for (size_t e = 0; e < DIM; e++)
        h[e] = rnd_sym();
    lora_apply(d, h, 1, logits, scratch);
    for (size_t t = 0; t < N_VOCAB; t++) {
        double want = 0;
        for (size_t e = 0; e < DIM; e++)
            want += -2.0 * ref_dw(&p[0], t, e) * h[e];
        assert_float_equal(logits[t], want, 1e-4);
    }
    free(scratch);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    keep_free(&k);
}

static void test_lora_set_adds_adapters_on_one_tensor(void **state)
{
    (void)state;
    struct keep k = {0};
    struct mem_gguf m1, m2;
    struct lora *l1, *l2;
    struct pair p1[1] = {pair_q()}, p2[2] = {pair_q(), pair_down()};
    p2[0].r = 6;
    struct adapter_cfg c1 = adapter_default(p1, 1), c2 = adapter_default(p2, 2);
    c2.alpha = 3.0f;
    assert_int_equal(adapter_open(&c1, &k, &m1, &l1), STATUS_OK);
    assert_int_equal(adapter_open(&c2, &k, &m2, &l2), STATUS_OK);
    /* same seed, but another rank: the two deltas differ */
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l1, 1.0f), STATUS_OK);
    assert_int_equal(lora_set_add(s, l2, 0.25f), STATUS_OK);
    assert_int_equal(lora_set_n_adapters(s), 2);
    assert_int_equal(lora_set_n_tensors(s), 2);
    assert_int_equal(lora_set_max_rank(s), 6);
    const struct lora_delta *d = lora_find(s, "blk.0.attn_q.weight");
    float x[2 * DIM], y[2 * DIM] = {0};
    for (size_t i = 0; i < 2 * DIM; i++)
        x[i] = rnd_sym();
    float scratch[2 * 6];
    lora_apply(d, x, 2, y, scratch);
    for (size_t t = 0; t < 2; t++)
        for (size_t o = 0; o < DIM; o++) {
            double want = 0;
            for (size_t i = 0; i < DIM; i++)
                want += (pair_scale(&p1[0], 8, 1) * ref_dw(&p1[0], o, i) +
                         pair_scale(&p2[0], 3, 0.25) * ref_dw(&p2[0], o, i)) *
                        x[t * DIM + i];
            assert_float_equal(y[t * DIM + o], want, 1e-4);
        }
    /* a third adapter with another shape for the same name is refused, the set unchanged */
    struct mem_gguf m3;
    struct lora *l3;
    struct pair p3[1] = {pair_q()};
    p3[0].n_out = 16;
    struct adapter_cfg c3 = adapter_default(p3, 1);
    assert_int_equal(adapter_open(&c3, &k, &m3, &l3), STATUS_OK);
    assert_int_equal(lora_set_add(s, l3, 1.0f), STATUS_INVALID);
    assert_non_null(strstr(status_detail(), "blk.0.attn_q.weight"));
    assert_int_equal(lora_set_n_adapters(s), 2);
    assert_false(lora_set_add(s, l1, NAN) == STATUS_OK);
    lora_close(l3);
    mem_close(&m3);
    lora_set_free(s);
    lora_close(l1);
    lora_close(l2);
    mem_close(&m1);
    mem_close(&m2);
    keep_free(&k);
}

/* ---- Merging --------------------------------------------------------------------------- */

/* Index of the first value of got (type ty) that is not want within tolerance, or -1.  Q8_0:
 * at most 0.6 of a step (max |want| of the 32-value block / 127; rounding gives half a step,
 * the f16 scale a little more); other types: tol * (1 + |want|). */
static long row_mismatch(enum dtype ty, const double *want, const float *got, size_t n,
                         double tol)
{
    for (size_t i = 0; i < n; i++) {
        double lim = tol * (1 + fabs(want[i]));
        if (ty == DTYPE_Q8_0) {
            double amax = 0;
            for (size_t j = i / 32 * 32; j < i / 32 * 32 + 32; j++)
                amax = fmax(amax, fabs(want[j]));
            lim = 0.6 * amax / 127 + 1e-6;
        }
        if (!(fabs(got[i] - want[i]) <= lim))
            return (long)i;
    }
    return -1;
}

/* Every tensor of merged vs base: pairs p (scale from alpha and user) within tol of the double
 * sum, out_type when >= 0, all others byte for byte. */
static void check_merged(const struct gguf *base, const struct gguf *merged,
                         const struct pair *p, size_t n_p, double alpha, double user,
                         int out_type, double tol)
{
    assert_int_equal(gguf_n_tensors(merged), gguf_n_tensors(base));
    assert_int_equal(gguf_n_kv(merged), gguf_n_kv(base));
    const char *nm;
    assert_int_equal(gguf_get_cstr(merged, "general.name", &nm), STATUS_OK);
    assert_string_equal(nm, "lora-test-base");
    for (int64_t i = 0; i < gguf_n_tensors(base); i++) {
        const char *name = gguf_tensor_name(base, i);
        int64_t j = gguf_find_tensor(merged, name);
        assert_true(j >= 0);
        assert_int_equal(gguf_tensor_n_dims(merged, j), gguf_tensor_n_dims(base, i));
        const struct pair *pp = NULL;
        for (size_t q = 0; q < n_p; q++)
            if (strcmp(p[q].name, name) == 0)
                pp = &p[q];
        if (!pp) {
            assert_int_equal(gguf_tensor_type(merged, j), gguf_tensor_type(base, i));
            assert_int_equal(gguf_tensor_size(merged, j), gguf_tensor_size(base, i));
            assert_memory_equal(gguf_tensor_data(merged, j), gguf_tensor_data(base, i),
                                gguf_tensor_size(base, i));
            continue;
        }
        enum dtype want_type = out_type >= 0 ? (enum dtype)out_type : gguf_tensor_type(base, i);
        assert_int_equal(gguf_tensor_type(merged, j), want_type);
        size_t ni = pp->n_in, no = pp->n_out;
        float *wb = malloc(ni * sizeof *wb), *wm = malloc(ni * sizeof *wm);
        size_t rb = gguf_tensor_size(base, i) / no, rm = gguf_tensor_size(merged, j) / no;
        double sc = pair_scale(pp, alpha, user);
        double *want = malloc(ni * sizeof *want);
        for (size_t o = 0; o < no; o++) {
            quant_dequantize_row(gguf_tensor_type(base, i),
                                 (const unsigned char *)gguf_tensor_data(base, i) + o * rb, wb,
                                 ni);
            quant_dequantize_row(want_type,
                                 (const unsigned char *)gguf_tensor_data(merged, j) + o * rm,
                                 wm, ni);
            for (size_t c = 0; c < ni; c++)
                want[c] = wb[c] + sc * ref_dw(pp, o, c);
            long bad = row_mismatch(want_type, want, wm, ni, tol);
            if (bad >= 0)
                fail_msg("%s[%zu][%ld] = %.9g, want %.9g", name, o, bad, wm[bad], want[bad]);
        }
        free(want);
        free(wb);
        free(wm);
    }
}

static void merge_case(enum dtype base_type, int out_type, double tol)
{
    struct mem_gguf base, m;
    base_open(base_type, &base);
    struct pair p[3] = {pair_q(), pair_down(), pair_embd()};
    p[0].tb = DTYPE_F16;
    struct adapter_cfg c = adapter_default(p, 3);
    struct keep k = {0};
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    assert_int_equal(lora_check_base(l, base.g), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 0.75f), STATUS_OK);
    struct lora_merge_params mp;
    lora_merge_params_init(&mp);
    mp.out_type = out_type;
    struct mem_gguf out = {0};
    assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &out.buf, &out.size), STATUS_OK);
    assert_int_equal(gguf_open_buffer(out.buf, out.size, &out.g), STATUS_OK);
    check_merged(base.g, out.g, p, 3, 8.0, 0.75, out_type, tol);
    mem_close(&out);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    mem_close(&base);
    keep_free(&k);
}

static void test_lora_merge_f32_matches_double_reference(void **state)
{
    (void)state;
    merge_case(DTYPE_F32, -1, 2e-6);
}

static void test_lora_merge_to_f16(void **state)
{
    (void)state;
    merge_case(DTYPE_F32, DTYPE_F16, 1.0 / 1024); /* f16 keeps 11 significant bits */
}

static void test_lora_merge_q8_0_requantizes(void **state)
{
    (void)state;
    merge_case(DTYPE_Q8_0, -1, 0); /* tolerance: a fraction of the block's step */
}

static void test_lora_merge_zero_b_is_identity(void **state)
{
    (void)state;
    struct mem_gguf base, m;
    base_open(DTYPE_F32, &base);
    struct pair p[3] = {pair_q(), pair_down(), pair_embd()};
    for (int i = 0; i < 3; i++)
        p[i].zero_b = true;
    struct adapter_cfg c = adapter_default(p, 3);
    struct keep k = {0};
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 1.0f), STATUS_OK);
    struct mem_gguf out = {0};
    assert_int_equal(lora_merge_to_buffer(base.g, s, NULL, &out.buf, &out.size), STATUS_OK);
    assert_int_equal(gguf_open_buffer(out.buf, out.size, &out.g), STATUS_OK);
    /* every tensor, merged or not, is byte-identical */
    for (int64_t i = 0; i < gguf_n_tensors(base.g); i++) {
        int64_t j = gguf_find_tensor(out.g, gguf_tensor_name(base.g, i));
        assert_true(j >= 0);
        assert_int_equal(gguf_tensor_size(out.g, j), gguf_tensor_size(base.g, i));
        assert_memory_equal(gguf_tensor_data(out.g, j), gguf_tensor_data(base.g, i),
                            gguf_tensor_size(base.g, i));
    }
    /* and the model computes the same logits */
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = 1;
    struct model *mb, *mo;
    assert_int_equal(model_open(base.g, &mp, &mb), STATUS_OK);
    assert_int_equal(model_open(out.g, &mp, &mo), STATUS_OK);
    int32_t toks[4] = {1, 5, 9, 33};
    float lb[4 * N_VOCAB], lo[4 * N_VOCAB];
    assert_int_equal(model_eval(mb, toks, 4, 0, lb, true), STATUS_OK);
    assert_int_equal(model_eval(mo, toks, 4, 0, lo, true), STATUS_OK);
    assert_memory_equal(lb, lo, sizeof lb);
    model_close(mb);
    model_close(mo);
    mem_close(&out);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    mem_close(&base);
    keep_free(&k);
}

/* One-token forward of the first layer's q projection: merged W x == W x + lora_apply. */
static void test_lora_apply_matches_merge(void **state)
{
    (void)state;
    struct mem_gguf base, m;
    base_open(DTYPE_F32, &base);
    struct pair p[1] = {pair_q()};
    struct adapter_cfg c = adapter_default(p, 1);
    struct keep k = {0};
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 1.5f), STATUS_OK);
    struct mem_gguf out = {0};
    assert_int_equal(lora_merge_to_buffer(base.g, s, NULL, &out.buf, &out.size), STATUS_OK);
    assert_int_equal(gguf_open_buffer(out.buf, out.size, &out.g), STATUS_OK);
    const float *wb = gguf_tensor_data(base.g, gguf_find_tensor(base.g, p[0].name));
    const float *wm = gguf_tensor_data(out.g, gguf_find_tensor(out.g, p[0].name));
    float x[DIM], y_run[DIM], y_merged[DIM], scratch[4];
    for (size_t i = 0; i < DIM; i++)
        x[i] = rnd_sym();
    for (size_t o = 0; o < DIM; o++) {
        double a = 0, b = 0;
        for (size_t i = 0; i < DIM; i++) {
            a += (double)wb[o * DIM + i] * x[i];
            b += (double)wm[o * DIM + i] * x[i];
        }
        y_run[o] = (float)a;
        y_merged[o] = (float)b;
    }
    lora_apply(lora_find(s, p[0].name), x, 1, y_run, scratch);
    for (size_t o = 0; o < DIM; o++)
        assert_float_equal(y_run[o], y_merged[o], 1e-4);
    mem_close(&out);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    mem_close(&base);
    keep_free(&k);
}

static void count_progress(void *ud, size_t done, size_t total, const char *tensor)
{
    size_t *n = ud;
    assert_int_equal(done, *n + 1);
    assert_int_equal(total, 3);
    assert_non_null(tensor);
    (*n)++;
}

static void test_lora_merge_progress_and_bad_types(void **state)
{
    (void)state;
    struct mem_gguf base, m;
    base_open(DTYPE_F32, &base);
    struct pair p[3] = {pair_q(), pair_down(), pair_embd()};
    struct adapter_cfg c = adapter_default(p, 3);
    struct keep k = {0};
    struct lora *l;
    assert_int_equal(adapter_open(&c, &k, &m, &l), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 1.0f), STATUS_OK);
    struct lora_merge_params mp;
    lora_merge_params_init(&mp);
    size_t n = 0;
    mp.progress = count_progress;
    mp.progress_ud = &n;
    void *buf = NULL;
    size_t size;
    assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &buf, &size), STATUS_OK);
    assert_int_equal(n, 3);
    free(buf);
    buf = NULL;
    mp.progress = NULL;
    mp.out_type = DTYPE_Q4_K; /* 256-value blocks do not divide rows of 32 */
    assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &buf, &size), STATUS_UNSUPPORTED);
    assert_non_null(strstr(status_detail(), "Q4_K"));
    mp.out_type = DTYPE_Q2_K; /* no quantizer */
    assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &buf, &size), STATUS_UNSUPPORTED);
    assert_null(buf);
    lora_set_free(s);
    /* a scale that overflows F16 (or a block format's f16 scales) is refused, not written */
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    assert_int_equal(lora_set_add(s, l, 1e6f), STATUS_OK);
    enum dtype over[2] = {DTYPE_F16, DTYPE_Q8_0};
    for (int i = 0; i < 2; i++) {
        mp.out_type = over[i];
        assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &buf, &size), STATUS_INVALID);
        assert_non_null(strstr(status_detail(), "out of range"));
        assert_null(buf);
    }
    mp.out_type = -1; /* F32 holds it */
    assert_int_equal(lora_merge_to_buffer(base.g, s, &mp, &buf, &size), STATUS_OK);
    free(buf);
    lora_set_free(s);
    lora_close(l);
    mem_close(&m);
    mem_close(&base);
    keep_free(&k);
}

static void test_lora_merge_write_is_atomic_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char bpath[4200], apath[4200], opath[4200], tmp[4300];
    snprintf(bpath, sizeof bpath, "%s/base.gguf", dir);
    snprintf(apath, sizeof apath, "%s/a.gguf", dir);
    snprintf(opath, sizeof opath, "%s/out.gguf", dir);
    struct keep k = {0};
    struct gguf_writer *w = base_writer(DTYPE_F32, "llama", &k);
    assert_int_equal(gguf_writer_write(w, bpath), STATUS_OK);
    gguf_writer_free(w);
    struct pair p[1] = {pair_down()};
    struct adapter_cfg c = adapter_default(p, 1);
    rng_state = 7;
    w = adapter_writer(&c, &k);
    assert_int_equal(gguf_writer_write(w, apath), STATUS_OK);
    gguf_writer_free(w);
    struct gguf *base;
    assert_int_equal(gguf_open(bpath, &base), STATUS_OK);
    struct lora_set *s;
    assert_int_equal(lora_set_new(&s), STATUS_OK);
    struct lora_spec spec;
    snprintf(tmp, sizeof tmp, "%s:2", apath);
    assert_int_equal(lora_spec_parse(tmp, &spec), STATUS_OK);
    assert_int_equal(lora_set_load(s, &spec, base), STATUS_OK);
    lora_spec_clear(&spec);
    assert_int_equal(lora_merge_write(base, s, NULL, opath), STATUS_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", opath);
    assert_int_not_equal(access(tmp, F_OK), 0);
    struct gguf *out;
    assert_int_equal(gguf_open(opath, &out), STATUS_OK);
    check_merged(base, out, p, 1, 8.0, 2.0, -1, 2e-6);
    gguf_close(out);
    /* lora_set_load names the file when the check fails */
    struct gguf *other;
    w = base_writer(DTYPE_F32, "qwen2", &k);
    snprintf(tmp, sizeof tmp, "%s/qwen.gguf", dir);
    assert_int_equal(gguf_writer_write(w, tmp), STATUS_OK);
    gguf_writer_free(w);
    assert_int_equal(gguf_open(tmp, &other), STATUS_OK);
    spec.path = apath;
    spec.scale = 1;
    assert_int_equal(lora_set_load(s, &spec, other), STATUS_INVALID);
    assert_non_null(strstr(status_detail(), "a.gguf"));
    assert_non_null(strstr(status_detail(), "qwen2"));
    assert_int_equal(lora_set_n_adapters(s), 1);
    gguf_close(other);
    lora_set_free(s);
    gguf_close(base);
    keep_free(&k);
    test_rmtree(dir);
}

/* ---- Fixture tool for tests/e2e/lora.sh ---------------------------------------------- */

static int write_file(struct gguf_writer *w, const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    enum status st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    if (st != STATUS_OK) {
        fprintf(stderr, "%s: %s: %s\n", path, status_str(st), status_detail());
        return 1;
    }
    return 0;
}

/* base.gguf (F32), base-q8_0.gguf, qwen.gguf (another architecture), adapter.gguf (attn_q,
 * ffn_down, token_embd; alpha 8), zero.gguf (the same with B = 0), wide.gguf (attn_k with
 * attn_q's shape: wrong for the base) */
static int write_fixtures(const char *dir)
{
    struct keep k = {0};
    int rc = write_file(base_writer(DTYPE_F32, "llama", &k), dir, "base.gguf");
    rc |= write_file(base_writer(DTYPE_Q8_0, "llama", &k), dir, "base-q8_0.gguf");
    rc |= write_file(base_writer(DTYPE_F32, "qwen2", &k), dir, "qwen.gguf");
    struct pair p[3] = {pair_q(), pair_down(), pair_embd()};
    p[0].tb = DTYPE_F16;
    struct adapter_cfg c = adapter_default(p, 3);
    rng_state = 7;
    rc |= write_file(adapter_writer(&c, &k), dir, "adapter.gguf");
    for (int i = 0; i < 3; i++)
        p[i].zero_b = true;
    rc |= write_file(adapter_writer(&c, &k), dir, "zero.gguf");
    struct pair wide[1] = {pair_q()};
    wide[0].name = "blk.0.attn_k.weight";
    c = adapter_default(wide, 1);
    rc |= write_file(adapter_writer(&c, &k), dir, "wide.gguf");
    keep_free(&k);
    return rc;
}

/* Exit status 0 when merged = base + scale * dW within tol (see the top of the file). */
static int check_merged_files(const char *bpath, const char *apath, const char *scale_s,
                              const char *mpath, const char *tol_s)
{
    struct gguf *base = NULL, *merged = NULL;
    struct lora *l = NULL;
    int rc = 1;
    enum status st = gguf_open(bpath, &base);
    if (st == STATUS_OK)
        st = gguf_open(mpath, &merged);
    if (st == STATUS_OK)
        st = lora_open(apath, &l);
    if (st != STATUS_OK) {
        fprintf(stderr, "%s: %s\n", status_str(st), status_detail());
        goto out;
    }
    double user = strtod(scale_s, NULL), tol = strtod(tol_s, NULL);
    const struct gguf *ag = NULL;
    struct gguf *ad;
    if (gguf_open(apath, &ad) != STATUS_OK)
        goto out;
    ag = ad;
    rc = 0;
    for (int64_t i = 0; i < gguf_n_tensors(base) && rc == 0; i++) {
        const char *name = gguf_tensor_name(base, i);
        int64_t j = gguf_find_tensor(merged, name);
        if (j < 0) {
            fprintf(stderr, "%s missing\n", name);
            rc = 1;
            break;
        }
        char an[256], bn[256];
        snprintf(an, sizeof an, "%s.lora_a", name);
        snprintf(bn, sizeof bn, "%s.lora_b", name);
        int64_t ia = gguf_find_tensor(ag, an), ib = gguf_find_tensor(ag, bn);
        if (ia < 0) {
            if (gguf_tensor_size(merged, j) != gguf_tensor_size(base, i) ||
                memcmp(gguf_tensor_data(merged, j), gguf_tensor_data(base, i),
                       gguf_tensor_size(base, i)) != 0) {
                fprintf(stderr, "%s changed\n", name);
                rc = 1;
            }
            continue;
        }
        /* decode A and B into the pair struct the reference uses */
        struct pair p = {name, (uint32_t)gguf_tensor_dim(base, i, 0),
                         (uint32_t)gguf_tensor_dim(base, i, 1),
                         (uint32_t)gguf_tensor_dim(ag, ib, 0), 0, 0, false, 0, false, NULL,
                         NULL};
        float *ab[2];
        int64_t idx[2] = {ia, ib};
        for (int h = 0; h < 2; h++) {
            size_t ne0 = gguf_tensor_dim(ag, idx[h], 0), ne1 = gguf_tensor_dim(ag, idx[h], 1);
            size_t rb = gguf_tensor_size(ag, idx[h]) / ne1;
            ab[h] = malloc(ne0 * ne1 * sizeof(float));
            for (size_t r = 0; r < ne1; r++)
                quant_dequantize_row(gguf_tensor_type(ag, idx[h]),
                                     (const unsigned char *)gguf_tensor_data(ag, idx[h]) + r * rb,
                                     ab[h] + r * ne0, ne0);
        }
        p.a = ab[0];
        p.b = ab[1];
        double sc = pair_scale(&p, lora_alpha(l), user);
        size_t ni = p.n_in, no = p.n_out;
        size_t rb = gguf_tensor_size(base, i) / no, rm = gguf_tensor_size(merged, j) / no;
        float *wb = malloc(ni * sizeof *wb), *wm = malloc(ni * sizeof *wm);
        double *want = malloc(ni * sizeof *want);
        for (size_t o = 0; o < no && rc == 0; o++) {
            quant_dequantize_row(gguf_tensor_type(base, i),
                                 (const unsigned char *)gguf_tensor_data(base, i) + o * rb, wb,
                                 ni);
            quant_dequantize_row(gguf_tensor_type(merged, j),
                                 (const unsigned char *)gguf_tensor_data(merged, j) + o * rm,
                                 wm, ni);
            for (size_t cc = 0; cc < ni; cc++)
                want[cc] = wb[cc] + sc * ref_dw(&p, o, cc);
            long bad = row_mismatch(gguf_tensor_type(merged, j), want, wm, ni, tol);
            if (bad >= 0) {
                fprintf(stderr, "%s[%zu][%ld] = %.9g, want %.9g\n", name, o, bad, wm[bad],
                        want[bad]);
                rc = 1;
            }
        }
        free(want);
        free(wb);
        free(wm);
        free(ab[0]);
        free(ab[1]);
    }
    gguf_close(ad);
out:
    lora_close(l);
    gguf_close(merged);
    gguf_close(base);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
        return write_fixtures(argv[2]);
    if (argc == 7 && strcmp(argv[1], "--check-merged") == 0)
        return check_merged_files(argv[2], argv[3], argv[4], argv[5], argv[6]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lora_open_reads_pairs),
        cmocka_unit_test(test_lora_open_accepts_rank_one_as_1d),
        cmocka_unit_test(test_lora_open_rejects_non_adapters),
        cmocka_unit_test(test_lora_open_rejects_broken_pairs),
        cmocka_unit_test(test_lora_check_base_rejects_mismatches),
        cmocka_unit_test(test_lora_open_file_errors_name_the_file),
        cmocka_unit_test(test_lora_spec_parse),
        cmocka_unit_test(test_lora_apply_matches_double_reference),
        cmocka_unit_test(test_lora_apply_token_embd_rows_and_tied_output),
        cmocka_unit_test(test_lora_set_adds_adapters_on_one_tensor),
        cmocka_unit_test(test_lora_merge_f32_matches_double_reference),
        cmocka_unit_test(test_lora_merge_to_f16),
        cmocka_unit_test(test_lora_merge_q8_0_requantizes),
        cmocka_unit_test(test_lora_merge_zero_b_is_identity),
        cmocka_unit_test(test_lora_apply_matches_merge),
        cmocka_unit_test(test_lora_merge_progress_and_bad_types),
        cmocka_unit_test(test_lora_merge_write_is_atomic_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
