/* bench.c -- random-weight models, the bandwidth probe and pp/tg speed runs. */
#include "config.h"
#include "engine/bench.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "util/i18n.h"
#include "util/timing.h"

void bench_shape_init(struct bench_shape *s)
{
    s->dim = 2048;
    s->n_layer = 16;
    s->n_head = 32;
    s->n_head_kv = 8;
    s->n_ff = 5632;
    s->n_vocab = 32000;
    s->n_ctx = 4096;
    s->wtype = DTYPE_F16;
    s->seed = 1;
}

uint64_t bench_shape_n_params(const struct bench_shape *s)
{
    uint64_t d = s->dim, hd = s->n_head ? d / s->n_head : 0, kv = hd * s->n_head_kv;
    uint64_t per_layer = 2 * d          /* attn_norm, ffn_norm */
                         + d * d * 2    /* attn_q, attn_output */
                         + d * kv * 2   /* attn_k, attn_v */
                         + d * s->n_ff * 3;
    return (uint64_t)s->n_vocab * d * 2 /* token_embd, output */ + d /* output_norm */ +
           per_layer * s->n_layer;
}

/* splitmix64: a fast generator whose every output is well mixed (seeded by any value). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) from 32 random bits. */
static float rng_unit(uint32_t bits)
{
    return (float)((double)bits * (2.0 / 4294967296.0) - 1.0);
}

/* ---- Model generator ----------------------------------------------------------------- */

struct gen {
    struct gguf_writer *w;
    void **blobs;
    size_t n_blobs, cap_blobs;
    uint64_t rng;
    enum dtype wtype;
};

/* Add an F32 norm weight (all ones plus a little noise) or a 2-D weight (n_in values per
 * row, n_out rows) uniform in [-amp, amp). */
static enum status gen_tensor(struct gen *g, const char *name, uint32_t n_in, uint32_t n_out,
                              float amp)
{
    bool norm = n_out == 0;
    enum dtype ty = norm ? DTYPE_F32 : g->wtype;
    size_t rows = norm ? 1 : n_out, n = (size_t)n_in * rows;
    size_t esize = ty == DTYPE_F16 ? 2 : 4;
    if (g->n_blobs == g->cap_blobs)
        return STATUS_INVALID; /* cap_blobs counts every tensor of the shape */
    void *data = malloc(n * esize);
    if (!data)
        return STATUS_NOMEM;
    g->blobs[g->n_blobs++] = data;
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(i & 1))
            r = rng_next(&g->rng);
        float v = rng_unit((uint32_t)(i & 1 ? r >> 32 : r));
        v = norm ? 1.0f + 0.05f * v : amp * v;
        if (ty == DTYPE_F16) {
            ((uint16_t *)data)[i] = quant_fp32_to_fp16(v);
        } else {
            ((float *)data)[i] = v;
        }
    }
    uint64_t dims[2] = {n_in, n_out};
    return gguf_writer_add_tensor(g->w, name, ty, norm ? 1 : 2, dims, data, n * esize);
}

static bool shape_ok(const struct bench_shape *s)
{
    if (!s->dim || !s->n_layer || !s->n_head || !s->n_head_kv || !s->n_ff || !s->n_ctx)
        return false;
    if (s->dim % s->n_head || s->n_head % s->n_head_kv || (s->dim / s->n_head) % 2)
        return false;
    if (s->n_vocab < 259 || s->n_vocab > (1u << 24))
        return false;
    return s->wtype == DTYPE_F16 || s->wtype == DTYPE_F32;
}

/* The vocabulary: 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens <0x00>..<0xFF>, 259 "▁",
 * then as far as n_vocab allows the printable ASCII characters '!'..'~' and "▁p<i>" dummy
 * pieces with falling scores (all distinct, valid UTF-8). */
static enum status gen_vocab(struct gguf_writer *w, uint32_t n_vocab)
{
    enum status st = STATUS_NOMEM;
    const size_t piece_cap = 24;
    char *blob = malloc((size_t)n_vocab * piece_cap);
    const char **strs = malloc((size_t)n_vocab * sizeof *strs);
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    if (!blob || !strs || !scores || !types)
        goto done;
    for (uint32_t i = 0; i < n_vocab; i++) {
        char *p = blob + (size_t)i * piece_cap;
        strs[i] = p;
        scores[i] = 0.0f;
        if (i < 3) {
            static const char *const special[3] = {"<unk>", "<s>", "</s>"};
            snprintf(p, piece_cap, "%s", special[i]);
            types[i] = i == 0 ? 2 /* UNKNOWN */ : 3 /* CONTROL */;
        } else if (i < 259) {
            snprintf(p, piece_cap, "<0x%02X>", (unsigned)(i - 3));
            types[i] = 6; /* BYTE */
        } else if (i == 259) {
            snprintf(p, piece_cap, "\xe2\x96\x81");
            types[i] = 1; /* NORMAL */
        } else if (i < 260 + 94) {
            snprintf(p, piece_cap, "%c", (char)('!' + (i - 260)));
            scores[i] = -1.0f;
            types[i] = 1;
        } else {
            snprintf(p, piece_cap, "\xe2\x96\x81p%u", (unsigned)(i - 354));
            scores[i] = -2.0f - (float)(i - 354);
            types[i] = 1;
        }
    }
    if ((st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) != STATUS_OK ||
        (st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, n_vocab)) !=
            STATUS_OK ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32, scores,
                                  n_vocab)) != STATUS_OK ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, types,
                                  n_vocab)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) != STATUS_OK)
        goto done;
done:
    free(blob);
    free(strs);
    free(scores);
    free(types);
    return st;
}

enum status bench_make_model(const struct bench_shape *s, const char *path)
{
    if (!shape_ok(s))
        return status_detail_set(STATUS_INVALID,
                                 _("impossible model shape (dim %u, %u heads, %u KV heads, "
                                   "vocab %u)"),
                                 s->dim, s->n_head, s->n_head_kv, s->n_vocab);
    struct gen g = {0};
    g.rng = s->seed;
    g.wtype = s->wtype;
    g.cap_blobs = 3 + (size_t)s->n_layer * 9;
    enum status st = STATUS_NOMEM;
    g.blobs = calloc(g.cap_blobs, sizeof *g.blobs);
    if (!g.blobs)
        goto fail;
    if ((st = gguf_writer_new(&g.w)) != STATUS_OK)
        goto fail;
    struct gguf_writer *w = g.w;
    uint32_t hd = s->dim / s->n_head;
    if ((st = gguf_writer_set_str(w, "general.architecture", "llama")) != STATUS_OK ||
        (st = gguf_writer_set_str(w, "general.name", "memllm bench (random weights)")) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "general.file_type", s->wtype == DTYPE_F16 ? 1 : 0)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.context_length", s->n_ctx)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.embedding_length", s->dim)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.block_count", s->n_layer)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.feed_forward_length", s->n_ff)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count", s->n_head)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count_kv", s->n_head_kv)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.rope.dimension_count", hd)) != STATUS_OK ||
        (st = gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f)) != STATUS_OK ||
        (st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.vocab_size", s->n_vocab)) != STATUS_OK)
        goto fail;
    if ((st = gen_vocab(w, s->n_vocab)) != STATUS_OK)
        goto fail;

    /* Amplitudes: a uniform [-a, a) value has variance a^2 / 3, so a = sqrt(3 / n_in)
     * keeps each output of a mat-vec near unit variance for unit-variance inputs. */
    float a_dim = sqrtf(3.0f / (float)s->dim), a_ff = sqrtf(3.0f / (float)s->n_ff);
    if ((st = gen_tensor(&g, "token_embd.weight", s->dim, s->n_vocab, 1.0f)) != STATUS_OK)
        goto fail;
    char name[64];
    for (uint32_t l = 0; l < s->n_layer; l++) {
        static const struct {
            const char *suffix;
            int in_ff, out; /* out: 0 norm, 1 dim, 2 kv, 3 ff */
        } t[9] = {
            {"attn_norm", 0, 0}, {"attn_q", 0, 1},      {"attn_k", 0, 2},
            {"attn_v", 0, 2},    {"attn_output", 0, 1}, {"ffn_norm", 0, 0},
            {"ffn_gate", 0, 3},  {"ffn_up", 0, 3},      {"ffn_down", 1, 1},
        };
        for (int i = 0; i < 9; i++) {
            uint32_t n_out = t[i].out == 0   ? 0
                             : t[i].out == 1 ? s->dim
                             : t[i].out == 2 ? hd * s->n_head_kv
                                             : s->n_ff;
            snprintf(name, sizeof name, "blk.%u.%s.weight", (unsigned)l, t[i].suffix);
            st = gen_tensor(&g, name, t[i].in_ff ? s->n_ff : s->dim, n_out,
                            t[i].in_ff ? a_ff : a_dim);
            if (st != STATUS_OK)
                goto fail;
        }
    }
    if ((st = gen_tensor(&g, "output_norm.weight", s->dim, 0, 0.0f)) != STATUS_OK ||
        (st = gen_tensor(&g, "output.weight", s->dim, s->n_vocab, a_dim)) != STATUS_OK)
        goto fail;
    st = gguf_writer_write(w, path);
fail:
    gguf_writer_free(g.w);
    for (size_t i = 0; i < g.n_blobs; i++)
        free(g.blobs[i]);
    free(g.blobs);
    return st;
}

double bench_cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Bandwidth ----------------------------------------------------------------------- */

#define BW_BLOCK ((size_t)1 << 20) /* one task reads this many bytes */

/* 16-byte vectors (SSE2 on any x86-64): four independent accumulators keep enough loads
 * in flight to saturate memory, which a scalar loop on one core may not. */
typedef uint64_t bw_vec __attribute__((vector_size(16)));

struct bw_ctx {
    const unsigned char *buf;
    bw_vec sum[POOL_MAX_THREADS];
};

static void bw_read(void *ctx, size_t begin, size_t end, int thread)
{
    struct bw_ctx *c = ctx;
    bw_vec a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
    const unsigned char *p = c->buf + begin * BW_BLOCK, *e = c->buf + end * BW_BLOCK;
    for (; p < e; p += 64) {
        bw_vec v0, v1, v2, v3;
        memcpy(&v0, p, 16);
        memcpy(&v1, p + 16, 16);
        memcpy(&v2, p + 32, 16);
        memcpy(&v3, p + 48, 16);
        a0 += v0;
        a1 += v1;
        a2 += v2;
        a3 += v3;
    }
    c->sum[thread] += a0 + a1 + a2 + a3; /* kept, so the loads cannot be dropped */
}

enum status bench_bandwidth(int n_threads, size_t bytes, int passes, double *out,
                            double *cpu_share)
{
    if (bytes == 0)
        return STATUS_INVALID;
    size_t blocks = (bytes + BW_BLOCK - 1) / BW_BLOCK;
    if (passes < 1)
        passes = 1;
    struct pool *p = NULL;
    struct bw_ctx *c = calloc(1, sizeof *c);
    unsigned char *buf = NULL;
    enum status st = STATUS_NOMEM;
    if (!c || blocks > SIZE_MAX / BW_BLOCK)
        goto done;
    buf = aligned_alloc(64, blocks * BW_BLOCK);
    if (!buf)
        goto done;
    memset(buf, 1, blocks * BW_BLOCK);
    if ((st = pool_new(n_threads, &p)) != STATUS_OK)
        goto done;
    c->buf = buf;
    pool_run(p, blocks, bw_read, c); /* warm-up: threads started, TLBs filled */
    double best = 0.0, share = 0.0;
    for (int i = 0; i < passes; i++) {
        double c0 = bench_cpu_seconds();
        uint64_t t0 = timing_now_ns();
        pool_run(p, blocks, bw_read, c);
        double s = timing_since_s(t0);
        if (s > 0 && (double)(blocks * BW_BLOCK) / s > best) {
            best = (double)(blocks * BW_BLOCK) / s;
            share = (bench_cpu_seconds() - c0) / (s * pool_n_threads(p));
        }
    }
    *out = best;
    if (cpu_share)
        *cpu_share = share;
    st = STATUS_OK;
done:
    pool_free(p);
    free(buf);
    free(c);
    return st;
}

uint64_t bench_weight_bytes(const struct gguf *g)
{
    bool untied = gguf_find_tensor(g, "output.weight") >= 0;
    uint64_t total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        uint64_t size = gguf_tensor_size(g, i);
        if (untied && strcmp(gguf_tensor_name(g, i), "token_embd.weight") == 0) {
            uint64_t rows = gguf_tensor_n_elements(g, i) / gguf_tensor_dim(g, i, 0);
            size = rows ? size / rows : 0;
        }
        total += size;
    }
    return total;
}

/* ---- Speed runs ---------------------------------------------------------------------- */

void bench_stats(const double *v, size_t n, double *mean, double *stdev)
{
    double m = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        m += v[i];
    m = n ? m / (double)n : 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *stdev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
}

static void random_tokens(int32_t *t, size_t n, uint32_t n_vocab, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        t[i] = (int32_t)(rng_next(rng) % n_vocab);
}

enum status bench_model_run(struct model *m, const struct bench_params *p,
                            struct bench_result *out)
{
    if (p->reps < 1 || p->reps > BENCH_MAX_REPS || p->n_prompt > model_n_ctx(m) ||
        p->n_gen > model_n_ctx(m))
        return STATUS_INVALID;
    size_t n_tok = p->n_prompt > p->n_gen ? p->n_prompt : p->n_gen;
    if (n_tok == 0)
        n_tok = 1;
    uint32_t n_vocab = (uint32_t)model_n_vocab(m);
    int32_t *tok = malloc(n_tok * sizeof *tok);
    float *logits = malloc(model_n_vocab(m) * sizeof *logits);
    enum status st = STATUS_NOMEM;
    struct bench_result r;
    memset(&r, 0, sizeof r);
    if (!tok || !logits)
        goto done;
    double pp_wall = 0, pp_cpu = 0, tg_wall = 0, tg_cpu = 0;
    int threads = model_n_threads(m);
    uint64_t rng = p->seed;
    random_tokens(tok, 1, n_vocab, &rng);
    model_reset(m);
    if ((st = model_eval(m, tok, 1, 0, logits, false)) != STATUS_OK)
        goto done;
    for (int rep = 0; rep < p->reps; rep++) {
        if (p->n_prompt) {
            random_tokens(tok, p->n_prompt, n_vocab, &rng);
            model_reset(m);
            double c0 = bench_cpu_seconds();
            uint64_t t0 = timing_now_ns();
            if ((st = model_eval(m, tok, p->n_prompt, 0, logits, false)) != STATUS_OK)
                goto done;
            double s = timing_since_s(t0);
            pp_cpu += bench_cpu_seconds() - c0;
            pp_wall += s;
            r.pp.ts[r.pp.n++] = s > 0 ? (double)p->n_prompt / s : 0.0;
        }
        if (p->n_gen) {
            random_tokens(tok, p->n_gen, n_vocab, &rng);
            model_reset(m);
            double c0 = bench_cpu_seconds();
            uint64_t t0 = timing_now_ns();
            for (size_t i = 0; i < p->n_gen; i++)
                if ((st = model_eval(m, tok + i, 1, i, logits, false)) != STATUS_OK)
                    goto done;
            double s = timing_since_s(t0);
            tg_cpu += bench_cpu_seconds() - c0;
            tg_wall += s;
            r.tg.ts[r.tg.n++] = s > 0 ? (double)p->n_gen / s : 0.0;
        }
    }
    bench_stats(r.pp.ts, r.pp.n, &r.pp.mean, &r.pp.stdev);
    bench_stats(r.tg.ts, r.tg.n, &r.tg.mean, &r.tg.stdev);
    r.pp.cpu_share = pp_wall > 0 ? pp_cpu / (pp_wall * threads) : 0.0;
    r.tg.cpu_share = tg_wall > 0 ? tg_cpu / (tg_wall * threads) : 0.0;
    *out = r;
    st = STATUS_OK;
done:
    model_reset(m);
    free(tok);
    free(logits);
    return st;
}
