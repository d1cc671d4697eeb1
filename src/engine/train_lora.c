/* train_lora.c -- LoRA adapters trained through struct train_hook on a frozen base. */
#include "config.h"

#include "engine/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "util/i18n.h"

/* One adapted layer: A (r, n_in) and B (n_out, r) at off / off + r * n_in in the arrays. */
struct lora_slot {
    bool on;
    size_t n_in, n_out, off;
};

struct train_lora {
    struct train_model *m;
    struct train_lora_params p;
    float scale; /* alpha / r */
    struct lora_slot *slot; /* (TRAIN_TENSOR_COUNT_ * n_layer) */
    size_t n_layer, n_params, step;
    float *w, *grad, *m1, *m2; /* (n_params) each */
    bool training;
    uint64_t round;
    enum status err;
    /* scratch for n_cap tokens */
    size_t n_cap, max_in, n_rows; /* n_rows: rows of the current hook call */
    float *xd, *h, *dh; /* (n_cap, max_in), (n_cap, r), (n_cap, r) */
};

static const char *const target_names[] = {"q", "k", "v", "o", "gate", "up", "down", "output"};
static const enum train_tensor target_kinds[] = {
    TRAIN_TENSOR_ATTN_Q, TRAIN_TENSOR_ATTN_K, TRAIN_TENSOR_ATTN_V, TRAIN_TENSOR_ATTN_OUTPUT,
    TRAIN_TENSOR_FFN_GATE, TRAIN_TENSOR_FFN_UP, TRAIN_TENSOR_FFN_DOWN, TRAIN_TENSOR_OUTPUT,
};

void train_lora_params_init(struct train_lora_params *p)
{
    memset(p, 0, sizeof *p);
    p->rank = 16;
    p->alpha = 32.0f;
    p->dropout = 0.05f;
    p->targets = 1u << TRAIN_TENSOR_ATTN_Q | 1u << TRAIN_TENSOR_ATTN_K |
                 1u << TRAIN_TENSOR_ATTN_V | 1u << TRAIN_TENSOR_ATTN_OUTPUT;
    p->seed = 1;
}

enum status train_lora_targets_parse(const char *s, unsigned *mask)
{
    unsigned m = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        bool found = false;
        if (len == 3 && strncmp(p, "all", 3) == 0) {
            for (size_t i = 0; i < sizeof target_kinds / sizeof target_kinds[0]; i++)
                m |= 1u << target_kinds[i];
            found = true;
        }
        for (size_t i = 0; i < sizeof target_kinds / sizeof target_kinds[0] && !found; i++) {
            if (strlen(target_names[i]) == len && strncmp(p, target_names[i], len) == 0) {
                m |= 1u << target_kinds[i];
                found = true;
            }
        }
        if (!found)
            /* TRANSLATORS: %.*s is one item of --lora-targets; the list is literal */
            return status_detail_set(STATUS_USAGE,
                                     _("unknown LoRA target '%.*s' (use q, k, v, o, gate, up, "
                                       "down, output or all)"),
                                     (int)len, p);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *mask = m;
    return STATUS_OK;
}

static size_t slot_index(const struct train_lora *l, enum train_tensor kind, size_t layer)
{
    return (size_t)kind * l->n_layer + layer;
}

static bool layer_kind(enum train_tensor t)
{
    return t != TRAIN_TENSOR_TOK_EMBD && t != TRAIN_TENSOR_OUTPUT_NORM &&
           t != TRAIN_TENSOR_OUTPUT;
}

/* (n_out, n_in) of a linear kind */
static void lin_shape(const struct train_config *c, enum train_tensor t, size_t *n_out,
                      size_t *n_in)
{
    size_t hd = c->dim / c->n_head, kv = c->n_head_kv * hd;
    size_t o = c->dim, i = c->dim;
    switch (t) {
    case TRAIN_TENSOR_ATTN_K: case TRAIN_TENSOR_ATTN_V: o = kv; break;
    case TRAIN_TENSOR_FFN_GATE: case TRAIN_TENSOR_FFN_UP: o = c->n_ff; break;
    case TRAIN_TENSOR_FFN_DOWN: i = c->n_ff; break;
    case TRAIN_TENSOR_OUTPUT: o = c->n_vocab; break;
    default: break;
    }
    *n_out = o;
    *n_in = i;
}

/* splitmix64 finalizer: the dropout mask is a pure function of its inputs */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Dropout keeps element (row, col) of a layer's input in a round unless a 16-bit lane of
 * a per-row xorshift64* stream, seeded by a hash of (seed, round, slot, row), falls below
 * thr = round(p * 65536): one multiply per four elements. */
struct mask {
    uint64_t base;
    uint32_t thr;
    float keep; /* 1 / (1 - thr / 65536): unbiased for the rate actually drawn */
};

static struct mask mask_of(const struct train_lora *l, size_t si)
{
    struct mask mk;
    mk.base = mix64(mix64(l->p.seed ^ 0x6c6f7261ull) ^ l->round) ^ ((uint64_t)si << 40);
    mk.thr = (uint32_t)((double)l->p.dropout * 65536.0 + 0.5);
    mk.keep = (float)(65536.0 / (65536.0 - (double)mk.thr));
    return mk;
}

/* rows [r0, r1) of width w: y = f * x (or y += f * x with acc), f = keep or 0 per element */
static void mask_apply(const struct mask *mk, size_t r0, size_t r1, size_t w, const float *x,
                       float *y, bool acc)
{
    for (size_t r = r0; r < r1; r++) {
        uint64_t st = mix64(mk->base + r) | 1; /* xorshift state must not be 0 */
        const float *xr = x + (r - r0) * w;
        float *yr = y + (r - r0) * w;
        for (size_t c = 0; c < w; c += 4) {
            st ^= st >> 12;
            st ^= st << 25;
            st ^= st >> 27;
            uint64_t h = st * 0x2545F4914F6CDD1Dull;
            size_t m = w - c < 4 ? w - c : 4;
            float f[4];
            for (size_t q = 0; q < 4; q++)
                f[q] = ((h >> (16 * q)) & 0xFFFF) >= mk->thr ? mk->keep : 0.0f;
            if (acc) {
                for (size_t q = 0; q < m; q++)
                    yr[c + q] += xr[c + q] * f[q];
            } else {
                for (size_t q = 0; q < m; q++)
                    yr[c + q] = xr[c + q] * f[q];
            }
        }
    }
}

struct hook_job {
    struct train_lora *l;
    const float *x, *dy, *A, *B;
    const float *xs; /* the adapter's input: xd with dropout, else x itself */
    float *y, *dx, *gA, *gB;
    size_t n_in, n_out, r;
    bool drop;
    struct mask mk;
};

/* rows [b, e) of xd = drop(x) and h = xd A^T */
static void rows_xd_h(const struct hook_job *j, size_t b, size_t e)
{
    struct train_lora *l = j->l;
    size_t n_in = j->n_in, r = j->r;
    if (j->drop)
        mask_apply(&j->mk, b, e, n_in, j->x + b * n_in, l->xd + b * n_in, false);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(e - b), (int)r, (int)n_in, 1.0f,
                j->xs + b * n_in, (int)n_in, j->A, (int)n_in, 0.0f, l->h + b * r, (int)r);
}

/* forward rows: y += scale h B^T */
static void fwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct hook_job *j = ctx;
    rows_xd_h(j, b, e);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(e - b), (int)j->n_out, (int)j->r,
                j->l->scale, j->l->h + b * j->r, (int)j->r, j->B, (int)j->r, 1.0f,
                j->y + b * j->n_out, (int)j->n_out);
}

/* backward rows, phase 1: xd, h and dh = scale dy B */
static void bwd_rows_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct hook_job *j = ctx;
    rows_xd_h(j, b, e);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b), (int)j->r,
                (int)j->n_out, j->l->scale, j->dy + b * j->n_out, (int)j->n_out, j->B, (int)j->r,
                0.0f, j->l->dh + b * j->r, (int)j->r);
}

/* phase 2: rows [b, e) of gB += scale dy^T h (over n_out) */
static void bwd_gb_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct hook_job *j = ctx;
    size_t n = j->l->n_rows;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(e - b), (int)j->r, (int)n,
                j->l->scale, j->dy + b, (int)j->n_out, j->l->h, (int)j->r, 1.0f, j->gB + b * j->r,
                (int)j->r);
}

/* phase 2: columns [b, e) of gA += dh^T xd (over n_in) */
static void bwd_ga_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct hook_job *j = ctx;
    size_t n = j->l->n_rows;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)j->r, (int)(e - b), (int)n, 1.0f,
                j->l->dh, (int)j->r, j->xs + b, (int)j->n_in, 1.0f, j->gA + b, (int)j->n_in);
}

/* phase 3 rows: dx += (dh A) * d drop(x) / dx (xd is free again: used as scratch) */
static void bwd_dx_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct hook_job *j = ctx;
    struct train_lora *l = j->l;
    size_t n_in = j->n_in, r = j->r;
    if (!j->drop) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b), (int)n_in, (int)r,
                    1.0f, l->dh + b * r, (int)r, j->A, (int)n_in, 1.0f, j->dx + b * n_in,
                    (int)n_in);
        return;
    }
    float *t = l->xd + b * n_in;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b), (int)n_in, (int)r, 1.0f,
                l->dh + b * r, (int)r, j->A, (int)n_in, 0.0f, t, (int)n_in);
    mask_apply(&j->mk, b, e, n_in, t, j->dx + b * n_in, true);
}

static bool grow(struct train_lora *l, size_t n)
{
    if (n <= l->n_cap)
        return true;
    if (train_lora_reserve(l, n) != STATUS_OK) {
        l->err = STATUS_NOMEM;
        return false;
    }
    return true;
}

static bool job_init(struct train_lora *l, enum train_tensor kind, size_t layer, size_t n,
                     size_t n_in, size_t n_out, struct hook_job *j)
{
    size_t si = slot_index(l, kind, layer);
    const struct lora_slot *s = &l->slot[si];
    if (!s->on || n == 0 || !grow(l, n))
        return false;
    memset(j, 0, sizeof *j);
    j->l = l;
    j->r = l->p.rank;
    j->n_in = n_in;
    j->n_out = n_out;
    j->A = l->w + s->off;
    j->B = j->A + j->r * n_in;
    j->gA = l->grad + s->off;
    j->gB = j->gA + j->r * n_in;
    j->mk = mask_of(l, si);
    j->drop = l->training && j->mk.thr > 0;
    l->n_rows = n;
    return true;
}

static void hook_fwd(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                     size_t n_in, float *y, size_t n_out)
{
    struct train_lora *l = ctx;
    struct hook_job j;
    if (!job_init(l, kind, layer, n, n_in, n_out, &j))
        return;
    j.x = x;
    j.xs = j.drop ? l->xd : x;
    j.y = y;
    train_model_par_run(l->m, n, fwd_part, &j);
}

static void hook_bwd(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                     size_t n_in, const float *dy, size_t n_out, float *dx)
{
    struct train_lora *l = ctx;
    struct hook_job j;
    if (!job_init(l, kind, layer, n, n_in, n_out, &j))
        return;
    j.x = x;
    j.xs = j.drop ? l->xd : x;
    j.dy = dy;
    j.dx = dx;
    /* xd and h are recomputed (the same mask: same round) rather than kept per layer */
    train_model_par_run(l->m, n, bwd_rows_part, &j);
    train_model_par_run(l->m, n_out, bwd_gb_part, &j);
    train_model_par_run(l->m, n_in, bwd_ga_part, &j);
    train_model_par_run(l->m, n, bwd_dx_part, &j);
}

enum status train_lora_reserve(struct train_lora *l, size_t n)
{
    if (n <= l->n_cap)
        return STATUS_OK;
    size_t r = l->p.rank;
    if (n > SIZE_MAX / sizeof(float) / (l->max_in + 2 * r))
        return STATUS_NOMEM;
    float *mem = malloc(n * (l->max_in + 2 * r) * sizeof(float));
    if (!mem)
        return STATUS_NOMEM;
    free(l->xd);
    l->xd = mem;
    l->h = mem + n * l->max_in;
    l->dh = l->h + n * r;
    l->n_cap = n;
    return STATUS_OK;
}

enum status train_lora_status(struct train_lora *l)
{
    enum status st = l->err;
    l->err = STATUS_OK;
    return st;
}

enum status train_lora_new(struct train_model *m, const struct train_lora_params *p,
                           struct train_lora **out)
{
    const struct train_config *c = train_model_config(m);
    if (p->rank == 0 || !(p->dropout >= 0.0f && p->dropout < 1.0f) || !isfinite(p->alpha) ||
        (p->targets & ~((1u << TRAIN_TENSOR_COUNT_) - 1)) != 0 ||
        (p->targets & (1u << TRAIN_TENSOR_TOK_EMBD)) != 0)
        return status_detail_set(STATUS_INVALID, _("invalid LoRA settings (rank %zu, dropout "
                                                   "%g)"),
                                 p->rank, (double)p->dropout);
    unsigned lin = 0;
    for (size_t i = 0; i < sizeof target_kinds / sizeof target_kinds[0]; i++)
        lin |= 1u << target_kinds[i];
    if ((p->targets & lin) == 0 || (p->targets & ~lin) != 0)
        return status_detail_set(STATUS_INVALID, _("no valid LoRA targets"));
    struct train_lora *l = calloc(1, sizeof *l);
    if (!l)
        return STATUS_NOMEM;
    l->m = m;
    l->p = *p;
    l->scale = p->alpha / (float)p->rank;
    l->n_layer = c->n_layer;
    l->slot = calloc(TRAIN_TENSOR_COUNT_ * c->n_layer, sizeof *l->slot);
    if (!l->slot)
        goto nomem;
    size_t off = 0;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        enum train_tensor kind = (enum train_tensor)t;
        if (!(p->targets & (1u << t)))
            continue;
        size_t nl = layer_kind(kind) ? c->n_layer : 1, n_out, n_in;
        lin_shape(c, kind, &n_out, &n_in);
        if (p->rank > n_in || p->rank > n_out) {
            train_lora_free(l);
            return status_detail_set(STATUS_INVALID,
                                     _("LoRA rank %zu is larger than a %zu x %zu layer"),
                                     p->rank, n_out, n_in);
        }
        for (size_t layer = 0; layer < nl; layer++) {
            struct lora_slot *s = &l->slot[slot_index(l, kind, layer)];
            s->on = true;
            s->n_in = n_in;
            s->n_out = n_out;
            s->off = off;
            off += p->rank * (n_in + n_out);
        }
        if (n_in > l->max_in)
            l->max_in = n_in;
    }
    l->n_params = off;
    l->w = calloc(off, sizeof(float));
    l->grad = calloc(off, sizeof(float));
    l->m1 = calloc(off, sizeof(float));
    l->m2 = calloc(off, sizeof(float));
    if (!l->w || !l->grad || !l->m1 || !l->m2)
        goto nomem;
    /* A uniform in +-1/sqrt(n_in) (PEFT's Kaiming-uniform bound), B = 0 (calloc) */
    uint64_t rs = p->seed ^ 0x41ull;
    for (size_t i = 0; i < TRAIN_TENSOR_COUNT_ * c->n_layer; i++) {
        const struct lora_slot *s = &l->slot[i];
        if (!s->on)
            continue;
        float bound = 1.0f / sqrtf((float)s->n_in);
        for (size_t k = 0; k < p->rank * s->n_in; k++) {
            double u = (double)(mix64(rs++) >> 11) * 0x1p-53;
            l->w[s->off + k] = (float)((2.0 * u - 1.0) * bound);
        }
    }
    struct train_hook h = {l, hook_fwd, hook_bwd};
    train_set_hook(m, &h);
    train_set_frozen(m, true);
    *out = l;
    return STATUS_OK;
nomem:
    train_lora_free(l);
    return STATUS_NOMEM;
}

void train_lora_free(struct train_lora *l)
{
    if (!l)
        return;
    train_set_hook(l->m, NULL);
    free(l->slot);
    free(l->w);
    free(l->grad);
    free(l->m1);
    free(l->m2);
    free(l->xd);
    free(l);
}

void train_lora_set_training(struct train_lora *l, bool training, uint64_t round)
{
    l->training = training;
    l->round = round;
}

size_t train_lora_n_params(const struct train_lora *l)
{
    return l->n_params;
}

static float *lora_ptr(struct train_lora *l, float *base, enum train_tensor kind, size_t layer,
                       int which, size_t *n)
{
    if ((unsigned)kind >= TRAIN_TENSOR_COUNT_ || layer >= l->n_layer ||
        (!layer_kind(kind) && layer != 0) || !l->slot[slot_index(l, kind, layer)].on) {
        if (n)
            *n = 0;
        return NULL;
    }
    const struct lora_slot *s = &l->slot[slot_index(l, kind, layer)];
    size_t r = l->p.rank;
    if (n)
        *n = r * (which ? s->n_out : s->n_in);
    return base + s->off + (which ? r * s->n_in : 0);
}

float *train_lora_param(struct train_lora *l, enum train_tensor kind, size_t layer, int which,
                        size_t *n)
{
    return lora_ptr(l, l->w, kind, layer, which, n);
}

float *train_lora_grad(struct train_lora *l, enum train_tensor kind, size_t layer, int which,
                       size_t *n)
{
    return lora_ptr(l, l->grad, kind, layer, which, n);
}

void train_lora_zero_grad(struct train_lora *l)
{
    memset(l->grad, 0, l->n_params * sizeof(float));
}

size_t train_lora_step(const struct train_lora *l)
{
    return l->step;
}

void train_lora_opt_step(struct train_lora *l, const struct train_opt_params *p,
                         float *grad_norm)
{
    double ss = 0;
    for (size_t i = 0; i < l->n_params; i++)
        ss += (double)l->grad[i] * l->grad[i];
    float norm = (float)sqrt(ss);
    if (grad_norm)
        *grad_norm = norm;
    float cf = (p->clip > 0 && norm > p->clip) ? p->clip / norm : 1.0f;
    l->step++;
    train_opt_step(l->m, p, NULL); /* frozen: counts the step only */
    float lr = train_lr(p, l->step);
    float bc1 = (float)(1.0 - pow(p->beta1, (double)l->step));
    float bc2 = (float)(1.0 - pow(p->beta2, (double)l->step));
    for (size_t i = 0; i < l->n_params; i++) {
        float gi = l->grad[i] * cf;
        l->m1[i] = p->beta1 * l->m1[i] + (1.0f - p->beta1) * gi;
        l->m2[i] = p->beta2 * l->m2[i] + (1.0f - p->beta2) * gi * gi;
        float mh = l->m1[i] / bc1, vh = l->m2[i] / bc2;
        l->w[i] -= lr * (mh / (sqrtf(vh) + p->eps) + p->weight_decay * l->w[i]);
    }
}

/* "<prefix><W>.lora_a" / "_b" of a slot */
static void pair_name(enum train_tensor kind, size_t layer, int which, const char *prefix,
                      char *buf, size_t cap)
{
    char w[96];
    train_tensor_name(kind, layer, w, sizeof w);
    snprintf(buf, cap, "%s%s.lora_%c", prefix, w, which ? 'b' : 'a');
}

enum status train_lora_add_to_writer(struct train_lora *l, struct gguf_writer *w,
                                     const char *arch, bool with_opt)
{
    enum status st;
    if ((st = gguf_writer_set_str(w, "general.architecture", arch)) != STATUS_OK ||
        (st = gguf_writer_set_str(w, "general.type", "adapter")) != STATUS_OK ||
        (st = gguf_writer_set_str(w, "adapter.type", "lora")) != STATUS_OK ||
        (st = gguf_writer_set_f32(w, "adapter.lora.alpha", l->p.alpha)) != STATUS_OK)
        return st;
    if (with_opt &&
        ((st = gguf_writer_set_u64(w, "train.step", l->step)) != STATUS_OK ||
         (st = gguf_writer_set_u64(w, "train.lora.rank", l->p.rank)) != STATUS_OK ||
         (st = gguf_writer_set_u32(w, "train.lora.targets", l->p.targets)) != STATUS_OK ||
         (st = gguf_writer_set_f32(w, "train.lora.dropout", l->p.dropout)) != STATUS_OK ||
         (st = gguf_writer_set_u64(w, "train.lora.seed", l->p.seed)) != STATUS_OK))
        return st;
    size_t r = l->p.rank;
    for (int pass = 0; pass < (with_opt ? 3 : 1); pass++) {
        const float *base = pass == 0 ? l->w : pass == 1 ? l->m1 : l->m2;
        const char *prefix = pass == 0 ? "" : pass == 1 ? "train.m." : "train.v.";
        for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
            for (size_t layer = 0; layer < l->n_layer; layer++) {
                const struct lora_slot *s = &l->slot[slot_index(l, (enum train_tensor)t, layer)];
                if (!s->on)
                    continue;
                for (int which = 0; which < 2; which++) {
                    char name[128];
                    pair_name((enum train_tensor)t, layer, which, prefix, name, sizeof name);
                    /* A: dims [n_in, r]; B: dims [r, n_out] (ne0 first) */
                    uint64_t dims[2] = {which ? r : s->n_in, which ? s->n_out : r};
                    size_t cnt = (size_t)dims[0] * dims[1];
                    st = gguf_writer_add_tensor(w, name, DTYPE_F32, 2, dims,
                                                base + s->off + (which ? r * s->n_in : 0),
                                                cnt * sizeof(float));
                    if (st != STATUS_OK)
                        return st;
                }
            }
        }
    }
    return STATUS_OK;
}

enum status train_lora_load(struct train_lora *l, const struct gguf *g)
{
    double alpha;
    if (gguf_get_float(g, "adapter.lora.alpha", &alpha) != STATUS_OK ||
        (float)alpha != l->p.alpha)
        return status_detail_set(STATUS_INVALID, _("the adapter's alpha differs from "
                                                   "--lora-alpha %g"),
                                 (double)l->p.alpha);
    int64_t step = -1;
    bool with_opt = gguf_get_int(g, "train.step", &step) == STATUS_OK && step >= 0;
    size_t r = l->p.rank;
    for (int pass = 0; pass < (with_opt ? 3 : 1); pass++) {
        float *base = pass == 0 ? l->w : pass == 1 ? l->m1 : l->m2;
        const char *prefix = pass == 0 ? "" : pass == 1 ? "train.m." : "train.v.";
        for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
            for (size_t layer = 0; layer < l->n_layer; layer++) {
                const struct lora_slot *s = &l->slot[slot_index(l, (enum train_tensor)t, layer)];
                if (!s->on)
                    continue;
                for (int which = 0; which < 2; which++) {
                    char name[128];
                    pair_name((enum train_tensor)t, layer, which, prefix, name, sizeof name);
                    int64_t i = gguf_find_tensor(g, name);
                    uint64_t d0 = which ? r : s->n_in, d1 = which ? s->n_out : r;
                    if (i < 0 || gguf_tensor_type(g, i) != DTYPE_F32 ||
                        gguf_tensor_dim(g, i, 0) != d0 || gguf_tensor_n_elements(g, i) != d0 * d1)
                        return status_detail_set(STATUS_FORMAT,
                                                 _("adapter tensor %s is missing or malformed "
                                                   "(another rank or targets?)"),
                                                 name);
                    memcpy(base + s->off + (which ? r * s->n_in : 0), gguf_tensor_data(g, i),
                           (size_t)(d0 * d1) * sizeof(float));
                }
            }
        }
    }
    if (with_opt)
        l->step = (size_t)step;
    return STATUS_OK;
}
