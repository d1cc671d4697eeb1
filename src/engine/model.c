/* model.c -- Mistral/Llama forward pass: weights viewed in the GGUF mapping, f32 or f16 KV. */
#include "config.h"
#include "engine/model.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h> /* configure requires it (OpenBLAS) */

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/pool.h"
#include "engine/qgemm.h"
#include "engine/quant.h"
#include "engine/wmem.h"
#include "util/i18n.h"
#include "util/log.h"

#define MODEL_DEFAULT_BATCH 512
#define MODEL_DEFAULT_CTX_CAP 4096 /* n_ctx 0 takes the file's length, but at most this */
#define MODEL_MAX_DIM (1u << 20)   /* sanity bound on every hyper-parameter */
#define MM_BLOCK 128               /* rows per BLAS call: fixed, so splits never change sums */
#define ATT_BLOCK 32               /* query tokens per BLAS attention task (batches only) */
#define QB_BLOCK 64                /* weight rows dequantized per BLAS call (quantized batches) */
#define QB_DEFAULT_MIN 64          /* default quant_blas_min (measured cross-over) */
#define QG_DEFAULT_MIN 6           /* the same for qgemm's int8 panels (measured: 4 tokens
                                    * tie with the mat-vec kernels, 8 run 1.3-1.6x faster) */

/* A weight matrix in the mapping: n_out rows of n_in values, rows row_bytes apart. */
struct mat {
    enum dtype type;
    const void *data;
    size_t n_in, n_out, row_bytes;
    const struct lora_delta *lora; /* run-time adapter change, or NULL */
};

struct layer {
    const float *attn_norm, *ffn_norm; /* (dim) */
    struct mat wq;                     /* (n_head*hd, dim) */
    struct mat wk, wv;                 /* (n_head_kv*hd, dim) */
    struct mat wo;                     /* (dim, n_head*hd) */
    struct mat wgate, wup;             /* (n_ff, dim) */
    struct mat wdown;                  /* (dim, n_ff) */
};

struct model {
    const struct gguf *g; /* borrowed */
    size_t n_embd, n_layer, n_head, n_head_kv, hd, n_rot, n_ff, n_vocab;
    size_t q_dim, kv_dim;
    size_t n_ctx, n_batch, n_past;
    float eps, rope_base, rope_theta_scale;
    int64_t swa; /* 0 = no sliding window */
    bool tied, kv_f16;
    size_t n_params;

    struct mat tok_embd;      /* (n_vocab, dim) */
    struct mat output;        /* (n_vocab, dim); tok_embd when tied */
    const float *output_norm; /* (dim) */
    struct layer *layers;     /* (n_layer) */

    /* KV cache: (n_layer, n_ctx, kv_dim) elements of f32 or f16 each. */
    void *k_cache, *v_cache;

    struct pool *pool; /* owned */
    struct wmem *wmem; /* owned: the weights' copy, NULL when they are read from the file */

    /* Scratch, allocated once; nb = n_batch. */
    float *x;       /* (nb, dim) residual stream */
    float *xb;      /* (nb, dim) normed input */
    float *q;       /* (nb, q_dim) */
    float *k, *v;   /* (nb, kv_dim) */
    float *att_out; /* (nb, q_dim) */
    float *ffa;     /* (nb, n_ff) gate, then silu(gate) * up */
    float *ffb;     /* (nb, n_ff) up; also (nb, dim) after the layers */
    float *rope;    /* (nb, n_rot) cos, sin interleaved, per token */
    float *att;     /* (n_threads, ATT_BLOCK * group, n_ctx) attention weights */
    float *attq;    /* (n_threads, 2, ATT_BLOCK * group, hd) stacked queries and outputs */
    float *kvrow;   /* (2 * hd) scratch: one head of K while model_shift() rotates it */
    float *kvf;     /* (n_threads, 2, n_ctx, hd) an f16 cache head converted (BLAS attention) */
    unsigned char *act; /* (nb, act_stride) quantized activations */
    size_t act_stride;
    size_t max_in;      /* longest weight row (values) */
    size_t qblas_min;   /* see model_params.quant_blas_min */
    size_t qgemm_min;   /* the same for the qgemm path */
    float *actf;        /* (nb, max_in) activations dequantized again; NULL when unused */
    float *wblk;        /* (n_threads, QB_BLOCK, max_in) dequantized weight rows */
    unsigned char *qact; /* (nb, qgemm_act_bytes(max_in)) tokens prepared for qgemm; NULL
                          * when the CPU has no fast qgemm kernel */
    unsigned char *qscr; /* (n_threads, qgemm_scratch_bytes(max_in)) weight panels */
    float *lora_scratch; /* lora_set_scratch_floats(set, nb) */
    atomic_bool nonfinite; /* an activation was NaN or infinite during this evaluation */
    bool (*abort_cb)(void *user);
    void *abort_user;
};

void model_params_init(struct model_params *p)
{
    memset(p, 0, sizeof *p);
}

/* ---- Loading --------------------------------------------------------------------------- */

static enum status get_hparam(const struct gguf *g, const char *arch, const char *name,
                              bool required, int64_t def, size_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    enum status st = gguf_get_int(g, key, &v);
    if (st == STATUS_NOT_FOUND && !required) {
        *out = (size_t)def;
        return STATUS_OK;
    }
    if (st == STATUS_NOT_FOUND)
        return status_detail_set(st, _("model metadata key %s is missing"), key);
    if (st != STATUS_OK)
        return st;
    if (v < 0 || v > (int64_t)MODEL_MAX_DIM)
        return status_detail_set(STATUS_FORMAT, _("model metadata %s = %lld is out of range"),
                                 key, (long long)v);
    *out = (size_t)v;
    return STATUS_OK;
}

static enum status get_fparam(const struct gguf *g, const char *arch, const char *name,
                              double def, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    double v;
    enum status st = gguf_get_float(g, key, &v);
    if (st == STATUS_NOT_FOUND) {
        *out = (float)def;
        return STATUS_OK;
    }
    if (st != STATUS_OK)
        return st;
    if (!(v > 0) || !isfinite(v))
        return status_detail_set(STATUS_FORMAT, _("model metadata %s = %g is out of range"),
                                 key, v);
    *out = (float)v;
    return STATUS_OK;
}

/* Find tensor name with dims [d0, d1] (d1 0: a vector [d0]). */
static enum status find_tensor(const struct gguf *g, const char *name, size_t d0, size_t d1,
                               bool optional, int64_t *out)
{
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0) {
        *out = -1;
        if (optional)
            return STATUS_OK;
        return status_detail_set(STATUS_NOT_FOUND, _("model tensor %s is missing"), name);
    }
    uint32_t nd = gguf_tensor_n_dims(g, i);
    uint64_t e0 = gguf_tensor_dim(g, i, 0), e1 = gguf_tensor_dim(g, i, 1);
    bool ok = d1 ? (nd == 2 && e0 == d0 && e1 == d1)
                 : (e0 == d0 && gguf_tensor_n_elements(g, i) == d0);
    if (!ok) {
        if (d1)
            return status_detail_set(STATUS_FORMAT,
                                     _("model tensor %s has shape [%llu, %llu], expected "
                                       "[%zu, %zu]"),
                                     name, (unsigned long long)e0, (unsigned long long)e1, d0, d1);
        return status_detail_set(STATUS_FORMAT,
                                 _("model tensor %s has %llu values, expected %zu"), name,
                                 (unsigned long long)gguf_tensor_n_elements(g, i), d0);
    }
    *out = i;
    return STATUS_OK;
}

static enum status load_vec(const struct gguf *g, const char *name, size_t dim, const float **out)
{
    int64_t i;
    enum status st = find_tensor(g, name, dim, 0, false, &i);
    if (st != STATUS_OK)
        return st;
    if (gguf_tensor_type(g, i) != DTYPE_F32) {
        const char *tn = dtype_name(gguf_tensor_type(g, i));
        return status_detail_set(STATUS_UNSUPPORTED, _("model tensor %s has type %s, expected F32"),
                                 name, tn ? tn : "?");
    }
    const void *d = gguf_tensor_data(g, i);
    if ((uintptr_t)d % sizeof(float) != 0)
        return status_detail_set(STATUS_FORMAT, _("model tensor %s is not aligned"), name);
    *out = d;
    return STATUS_OK;
}

/* A matrix stored [n_in, n_out] (ne0 = n_in contiguous). */
static enum status load_mat_opt(const struct gguf *g, const char *name, size_t n_in,
                                size_t n_out, bool optional, struct mat *out)
{
    int64_t i;
    enum status st = find_tensor(g, name, n_in, n_out, optional, &i);
    if (st != STATUS_OK)
        return st;
    if (i < 0) {
        out->data = NULL;
        return STATUS_OK;
    }
    enum dtype t = gguf_tensor_type(g, i);
    if (!quant_weight_supported(t)) {
        const char *tn = dtype_name(t);
        return status_detail_set(STATUS_UNSUPPORTED, _("model tensor %s has unsupported type %s"),
                                 name, tn ? tn : "?");
    }
    size_t rb;
    st = dtype_row_bytes(t, n_in, &rb);
    if (st != STATUS_OK)
        return status_detail_set(st, _("model tensor %s: rows of %zu values do not fit type %s"),
                                 name, n_in, dtype_name(t));
    /* the paired activation format needs whole blocks too (Q8_K: 256 values) */
    enum dtype at = quant_act_type(t);
    size_t ab = dtype_block_size(at);
    if (ab == 0 || n_in % ab != 0)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("model tensor %s: rows of %zu values do not fit type %s"),
                                 name, n_in, dtype_name(at));
    const void *d = gguf_tensor_data(g, i);
    if (t == DTYPE_F32 && (uintptr_t)d % sizeof(float) != 0)
        return status_detail_set(STATUS_FORMAT, _("model tensor %s is not aligned"), name);
    out->type = t;
    out->data = d;
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = rb;
    return STATUS_OK;
}

static enum status load_mat(const struct gguf *g, const char *name, size_t n_in, size_t n_out,
                            struct mat *out)
{
    return load_mat_opt(g, name, n_in, n_out, false, out);
}

static size_t act_bytes(const struct mat *w)
{
    return w->type == DTYPE_F32 ? 0 : quant_act_row_bytes(w->type, w->n_in);
}

static void *alloc_floats(size_t n, bool *ok)
{
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

/* a * b with an overflow check, for buffer sizes */
static bool mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* A layer's matrices, in the order of their file names attn_q, attn_k, attn_v,
 * attn_output, ffn_gate, ffn_up, ffn_down. */
#define LAYER_MATS 7
static void layer_mats(struct layer *L, struct mat *out[LAYER_MATS])
{
    struct mat *ws[LAYER_MATS] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wgate, &L->wup, &L->wdown};
    memcpy(out, ws, sizeof ws);
}

/* Repoint *p into the copy when it lies in the copied range [lo, lo + n). */
static void rebase(const void **p, const unsigned char *lo, size_t n, const unsigned char *to)
{
    const unsigned char *c = *p;
    if (c && (uintptr_t)c >= (uintptr_t)lo && (uintptr_t)c - (uintptr_t)lo < n)
        *p = to + ((uintptr_t)c - (uintptr_t)lo);
}

static void rebase_vec(const float **p, const unsigned char *lo, size_t n,
                       const unsigned char *to)
{
    const void *v = *p;
    rebase(&v, lo, n, to);
    *p = v;
}

/* Copy the file's tensor data into huge pages and point the weights there (see
 * enum model_weights). */
static enum status place_weights(struct model *m, enum model_weights mode)
{
    const struct gguf *g = m->g;
    if (mode == MODEL_WEIGHTS_MAPPED || (mode == MODEL_WEIGHTS_AUTO && !wmem_huge_pages()))
        return STATUS_OK;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        uintptr_t a = (uintptr_t)gguf_tensor_data(g, i);
        size_t sz = gguf_tensor_size(g, i);
        if (sz == 0)
            continue;
        lo = a < lo ? a : lo;
        hi = a + sz > hi ? a + sz : hi;
    }
    if (hi <= lo)
        return STATUS_OK;
    size_t n = hi - lo;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (mode == MODEL_WEIGHTS_AUTO && pages > 0 && psz > 0 &&
        n > (size_t)pages / 4 * 3 * (size_t)psz)
        return STATUS_OK;
    const void *to;
    enum status st = wmem_copy((const void *)lo, n, gguf_is_mapped(g), &m->wmem, &to);
    if (st != STATUS_OK) {
        if (mode == MODEL_WEIGHTS_COPY)
            return st;
        log_msg(LOG_LEVEL_INFO, "model: weights stay in the file mapping: %s", status_detail());
        return STATUS_OK;
    }
    const unsigned char *from = (const unsigned char *)lo;
    rebase(&m->tok_embd.data, from, n, to);
    rebase(&m->output.data, from, n, to);
    rebase_vec(&m->output_norm, from, n, to);
    for (size_t l = 0; l < m->n_layer; l++) {
        struct layer *L = &m->layers[l];
        struct mat *ws[LAYER_MATS];
        layer_mats(L, ws);
        for (size_t i = 0; i < LAYER_MATS; i++)
            rebase(&ws[i]->data, from, n, to);
        rebase_vec(&L->attn_norm, from, n, to);
        rebase_vec(&L->ffn_norm, from, n, to);
    }
    return STATUS_OK;
}

size_t model_weights_copied(const struct model *m)
{
    return m->wmem ? wmem_size(m->wmem) : 0;
}

size_t model_weights_huge(const struct model *m)
{
    return m->wmem ? wmem_huge_bytes(m->wmem) : 0;
}

/* Look up each weight's adapter delta; every delta of the set must land on a weight. */
static enum status attach_lora(struct model *m, const struct lora_set *set)
{
    static const char *const suffix[LAYER_MATS] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                   "ffn_gate", "ffn_up", "ffn_down"};
    size_t used = 0;
    char name[96];
    for (size_t l = 0; l <= m->n_layer; l++) {
        struct mat *ws[LAYER_MATS];
        size_t n;
        if (l == m->n_layer) {
            ws[0] = &m->tok_embd;
            ws[1] = &m->output;
            n = m->tied ? 1 : 2;
        } else {
            layer_mats(&m->layers[l], ws);
            n = LAYER_MATS;
        }
        for (size_t i = 0; i < n; i++) {
            if (l == m->n_layer)
                snprintf(name, sizeof name, "%s", i == 0 ? "token_embd.weight" : "output.weight");
            else
                snprintf(name, sizeof name, "blk.%zu.%s.weight", l, suffix[i]);
            const struct lora_delta *d = lora_find(set, name);
            if (!d)
                continue;
            if (lora_delta_n_in(d) != ws[i]->n_in || lora_delta_n_out(d) != ws[i]->n_out)
                return status_detail_set(STATUS_INVALID,
                                         _("LoRA adapter for %s has shape [%zu, %zu], the model "
                                           "[%zu, %zu]"),
                                         name, lora_delta_n_in(d), lora_delta_n_out(d),
                                         ws[i]->n_in, ws[i]->n_out);
            ws[i]->lora = d;
            used++;
        }
    }
    if (m->tied)
        m->output.lora = m->tok_embd.lora; /* the same matrix, so the same change */
    if (used == lora_set_n_tensors(set))
        return STATUS_OK;
    for (size_t i = 0; i < lora_set_n_tensors(set); i++) {
        const struct lora_delta *d = lora_set_delta(set, i);
        bool found = d == m->tok_embd.lora || d == m->output.lora;
        for (size_t l = 0; l < m->n_layer && !found; l++) {
            const struct layer *L = &m->layers[l];
            found = d == L->wq.lora || d == L->wk.lora || d == L->wv.lora || d == L->wo.lora ||
                    d == L->wgate.lora || d == L->wup.lora || d == L->wdown.lora;
        }
        if (!found)
            return status_detail_set(STATUS_INVALID,
                                     _("LoRA adapter changes %s, which the model does not use"),
                                     lora_delta_name(d));
    }
    return STATUS_INTERNAL;
}

enum status model_open(const struct gguf *g, const struct model_params *p, struct model **out)
{
    struct model_params defaults;
    if (!p) {
        model_params_init(&defaults);
        p = &defaults;
    }
    quant_init();
    enum status st;
    const char *arch;
    st = gguf_get_cstr(g, "general.architecture", &arch);
    if (st == STATUS_NOT_FOUND)
        return status_detail_set(st, _("model metadata key %s is missing"),
                                 "general.architecture");
    if (st != STATUS_OK)
        return st;
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "mistral") != 0)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("model architecture '%s' is not supported (only llama)"), arch);
    if (strlen(arch) > 32)
        return STATUS_UNSUPPORTED;

    struct model *m = calloc(1, sizeof *m);
    if (!m)
        return STATUS_NOMEM;
    m->g = g;
    size_t n_ctx_train = 0, key_len = 0, swa = 0;
    if ((st = get_hparam(g, arch, "embedding_length", true, 0, &m->n_embd)) != STATUS_OK ||
        (st = get_hparam(g, arch, "block_count", true, 0, &m->n_layer)) != STATUS_OK ||
        (st = get_hparam(g, arch, "feed_forward_length", true, 0, &m->n_ff)) != STATUS_OK ||
        (st = get_hparam(g, arch, "attention.head_count", true, 0, &m->n_head)) != STATUS_OK ||
        (st = get_hparam(g, arch, "context_length", true, 0, &n_ctx_train)) != STATUS_OK)
        goto fail;
    if (m->n_embd == 0 || m->n_layer == 0 || m->n_ff == 0 || m->n_head == 0 ||
        n_ctx_train == 0) {
        st = status_detail_set(STATUS_FORMAT, _("model hyper-parameters must be positive"));
        goto fail;
    }
    if ((st = get_hparam(g, arch, "attention.head_count_kv", false, (int64_t)m->n_head,
                         &m->n_head_kv)) != STATUS_OK ||
        (st = get_hparam(g, arch, "attention.key_length", false,
                         (int64_t)(m->n_embd / m->n_head), &key_len)) != STATUS_OK ||
        (st = get_hparam(g, arch, "attention.sliding_window", false, 0, &swa)) != STATUS_OK)
        goto fail;
    m->hd = key_len;
    if (m->n_head_kv == 0 || m->n_head % m->n_head_kv != 0 || m->hd == 0 || m->hd % 2 != 0) {
        st = status_detail_set(STATUS_FORMAT,
                               _("model heads do not fit: %zu query heads, %zu kv heads, "
                                 "head size %zu"),
                               m->n_head, m->n_head_kv, m->hd);
        goto fail;
    }
    if ((st = get_hparam(g, arch, "rope.dimension_count", false, (int64_t)m->hd, &m->n_rot)) !=
        STATUS_OK)
        goto fail;
    if (m->n_rot == 0 || m->n_rot % 2 != 0 || m->n_rot > m->hd) {
        st = status_detail_set(STATUS_FORMAT, _("model rope.dimension_count %zu does not fit "
                                                "head size %zu"),
                               m->n_rot, m->hd);
        goto fail;
    }
    if ((st = get_fparam(g, arch, "rope.freq_base", 10000.0, &m->rope_base)) != STATUS_OK ||
        (st = get_fparam(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, &m->eps)) !=
            STATUS_OK)
        goto fail;
    m->rope_theta_scale = powf(m->rope_base, -2.0f / (float)m->n_rot);
    m->q_dim = m->n_head * m->hd;
    m->kv_dim = m->n_head_kv * m->hd;
    m->swa = p->sliding_window < 0 ? 0 : p->sliding_window > 0 ? p->sliding_window : (int64_t)swa;

    /* tensors */
    int64_t ti = gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) {
        st = status_detail_set(STATUS_NOT_FOUND, _("model tensor %s is missing"),
                               "token_embd.weight");
        goto fail;
    }
    m->n_vocab = (size_t)gguf_tensor_dim(g, ti, 1);
    if (m->n_vocab == 0 || m->n_vocab > (1u << 24) || m->n_vocab > INT32_MAX) {
        st = status_detail_set(STATUS_FORMAT, _("model vocabulary size %zu is out of range"),
                               m->n_vocab);
        goto fail;
    }
    if ((st = load_mat(g, "token_embd.weight", m->n_embd, m->n_vocab, &m->tok_embd)) !=
            STATUS_OK ||
        (st = load_vec(g, "output_norm.weight", m->n_embd, &m->output_norm)) != STATUS_OK ||
        (st = load_mat_opt(g, "output.weight", m->n_embd, m->n_vocab, true, &m->output)) !=
            STATUS_OK)
        goto fail;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied = true;
    }
    m->layers = calloc(m->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = STATUS_NOMEM;
        goto fail;
    }
    m->n_params = m->n_vocab * m->n_embd * (m->tied ? 1 : 2) + m->n_embd;
    for (size_t l = 0; l < m->n_layer; l++) {
        struct layer *L = &m->layers[l];
        char name[96];
#define LNAME(s) (snprintf(name, sizeof name, "blk.%zu." s ".weight", l), name)
        if ((st = load_vec(g, LNAME("attn_norm"), m->n_embd, &L->attn_norm)) != STATUS_OK ||
            (st = load_vec(g, LNAME("ffn_norm"), m->n_embd, &L->ffn_norm)) != STATUS_OK ||
            (st = load_mat(g, LNAME("attn_q"), m->n_embd, m->q_dim, &L->wq)) != STATUS_OK ||
            (st = load_mat(g, LNAME("attn_k"), m->n_embd, m->kv_dim, &L->wk)) != STATUS_OK ||
            (st = load_mat(g, LNAME("attn_v"), m->n_embd, m->kv_dim, &L->wv)) != STATUS_OK ||
            (st = load_mat(g, LNAME("attn_output"), m->q_dim, m->n_embd, &L->wo)) != STATUS_OK ||
            (st = load_mat(g, LNAME("ffn_gate"), m->n_embd, m->n_ff, &L->wgate)) != STATUS_OK ||
            (st = load_mat(g, LNAME("ffn_up"), m->n_embd, m->n_ff, &L->wup)) != STATUS_OK ||
            (st = load_mat(g, LNAME("ffn_down"), m->n_ff, m->n_embd, &L->wdown)) != STATUS_OK)
            goto fail;
#undef LNAME
        m->n_params += 2 * m->n_embd + m->n_embd * (m->q_dim * 2 + m->kv_dim * 2) +
                       3 * m->n_embd * m->n_ff;
    }

    if ((st = place_weights(m, p->weights)) != STATUS_OK)
        goto fail;
    if (p->lora && (st = attach_lora(m, p->lora)) != STATUS_OK)
        goto fail;

    /* context, batch, threads */
    m->n_ctx = p->n_ctx ? p->n_ctx
                        : (n_ctx_train < MODEL_DEFAULT_CTX_CAP ? n_ctx_train
                                                               : MODEL_DEFAULT_CTX_CAP);
    if (m->n_ctx > MODEL_MAX_DIM) {
        st = status_detail_set(STATUS_INVALID, _("context length %zu is too large"), m->n_ctx);
        goto fail;
    }
    m->n_batch = p->n_batch ? p->n_batch : MODEL_DEFAULT_BATCH;
    if (m->n_batch > m->n_ctx)
        m->n_batch = m->n_ctx;
    m->kv_f16 = p->kv_f16;
    if ((st = pool_new(p->n_threads, &m->pool)) != STATUS_OK)
        goto fail;
    size_t nt = (size_t)pool_n_threads(m->pool);

    /* KV cache and scratch */
    size_t kv_elems;
    if (!mul_ok(m->n_layer * m->n_ctx, m->kv_dim, &kv_elems)) {
        st = STATUS_OVERFLOW;
        goto fail;
    }
    size_t esz = m->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    m->k_cache = calloc(kv_elems, esz);
    m->v_cache = calloc(kv_elems, esz);
    m->act_stride = act_bytes(&m->output);
    for (size_t l = 0; l < m->n_layer; l++) {
        struct mat *ms[LAYER_MATS];
        layer_mats(&m->layers[l], ms);
        for (size_t j = 0; j < LAYER_MATS; j++)
            if (act_bytes(ms[j]) > m->act_stride)
                m->act_stride = act_bytes(ms[j]);
    }
    m->act_stride = (m->act_stride + 63) / 64 * 64;
    size_t nb = m->n_batch;
    bool ok = m->k_cache && m->v_cache;
    m->x = alloc_floats(nb * m->n_embd, &ok);
    m->xb = alloc_floats(nb * m->n_embd, &ok);
    m->q = alloc_floats(nb * m->q_dim, &ok);
    m->k = alloc_floats(nb * m->kv_dim, &ok);
    m->v = alloc_floats(nb * m->kv_dim, &ok);
    m->att_out = alloc_floats(nb * m->q_dim, &ok);
    m->ffa = alloc_floats(nb * (m->n_ff > m->n_embd ? m->n_ff : m->n_embd), &ok);
    m->ffb = alloc_floats(nb * (m->n_ff > m->n_embd ? m->n_ff : m->n_embd), &ok);
    m->rope = alloc_floats(nb * m->n_rot, &ok);
    size_t group = m->n_head / m->n_head_kv;
    m->att = alloc_floats(nt * ATT_BLOCK * group * m->n_ctx, &ok);
    m->attq = alloc_floats(nt * 2 * ATT_BLOCK * group * m->hd, &ok);
    m->kvrow = alloc_floats(nt * 2 * m->hd, &ok);
    if (m->kv_f16)
        m->kvf = alloc_floats(nt * 2 * m->n_ctx * m->hd, &ok);
    m->act = calloc(nb, m->act_stride ? m->act_stride : 1);
    m->max_in = m->n_embd > m->q_dim ? m->n_embd : m->q_dim;
    if (m->n_ff > m->max_in)
        m->max_in = m->n_ff;
    m->qblas_min = p->quant_blas_min ? p->quant_blas_min : QB_DEFAULT_MIN;
    m->qgemm_min = p->quant_blas_min ? p->quant_blas_min : QG_DEFAULT_MIN;
    if (p->lora && lora_set_scratch_floats(p->lora, nb) > 0)
        m->lora_scratch = alloc_floats(lora_set_scratch_floats(p->lora, nb), &ok);
    if (m->act_stride > 0 && (m->qblas_min <= nb || m->qgemm_min <= nb)) { /* quantized */
        m->actf = alloc_floats(nb * m->max_in, &ok);
        m->wblk = alloc_floats(nt * QB_BLOCK * m->max_in, &ok);
        if (qgemm_fast()) {
            m->qact = aligned_alloc(64, nb * qgemm_act_bytes(m->max_in));
            m->qscr = aligned_alloc(64, (size_t)nt * qgemm_scratch_bytes(m->max_in));
            ok = ok && m->qact && m->qscr;
        }
    }
    if (!ok || !m->act) {
        st = status_detail_set(STATUS_NOMEM, _("cannot allocate the KV cache and buffers for a "
                                               "context of %zu tokens"),
                               m->n_ctx);
        goto fail;
    }
    *out = m;
    return STATUS_OK;
fail:
    model_close(m);
    return st;
}

void model_close(struct model *m)
{
    if (!m)
        return;
    pool_free(m->pool);
    wmem_free(m->wmem);
    free(m->layers);
    free(m->k_cache);
    free(m->v_cache);
    free(m->x);
    free(m->xb);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->att_out);
    free(m->ffa);
    free(m->ffb);
    free(m->rope);
    free(m->att);
    free(m->attq);
    free(m->kvrow);
    free(m->kvf);
    free(m->act);
    free(m->actf);
    free(m->wblk);
    free(m->qact);
    free(m->qscr);
    free(m->lora_scratch);
    free(m);
}

/* ---- Kernels --------------------------------------------------------------------------- */


/* y = rmsnorm(x) * w, as ggml: sum of squares in double, scale in float. */
static void rmsnorm(float *y, const float *x, const float *w, size_t n, float eps)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / (double)n);
    float scale = 1.0f / sqrtf(mean + eps);
    for (size_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

/* cos/sin of pos * base^(-2i/n_rot), the angles built as a running product in float32 as
 * ggml does, so that the rounding matches llama.cpp. */
static void rope_table(float *cs, float pos, size_t n_rot, float theta_scale)
{
    float theta = pos;
    for (size_t i = 0; i < n_rot / 2; i++) {
        cs[2 * i] = cosf(theta);
        cs[2 * i + 1] = sinf(theta);
        theta *= theta_scale;
    }
}

/* Rotate adjacent pairs (x[2i], x[2i+1]) of each of n_heads heads of hd values. */
static void rope_apply(float *x, size_t n_heads, size_t hd, size_t n_rot, const float *cs)
{
    for (size_t h = 0; h < n_heads; h++) {
        float *v = x + h * hd;
        for (size_t i = 0; i < n_rot / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c - b * s;
            v[2 * i + 1] = a * s + b * c;
        }
    }
}

/* NaN or infinity cannot be quantized to 8 bits (and only comes from broken weights): the
 * row's non-finite values become zeros, so that nothing undefined happens, and the model
 * is flagged.  The test is branch-free integer work: an exponent of all ones carries into
 * the top bit when one more exponent step is added. */
static void row_sanitize(struct model *m, float *row, size_t n)
{
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, row + i, sizeof u);
        acc |= (u & 0x7f800000u) + 0x00800000u;
    }
    if (!(acc & 0x80000000u))
        return;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(row[i]))
            row[i] = 0.0f;
    atomic_store_explicit(&m->nonfinite, true, memory_order_relaxed);
}

/* Y[t][o] = W[o] . X[t] for t < n_tok, o < n_out. */
struct mm_job {
    const struct mat *w;
    float *x;
    size_t n_tok, x_stride;
    float *y;
    size_t y_stride;
    unsigned char *act;
    size_t act_stride;
    struct model *m;
};

static void mm_f32_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    const float *w = j->w->data;
    size_t n_in = j->w->n_in;
    (void)thread;
    if (j->n_tok == 1) {
        /* quant's SIMD f32 dot; the activation format of F32 weights is plain f32 */
        quant_matvec(DTYPE_F32, w, j->w->row_bytes, n_in, begin, end, j->x, j->y);
        return;
    }
    /* tasks are blocks of MM_BLOCK rows, each one identical BLAS call whatever the split */
    for (size_t b = begin; b < end; b++) {
        size_t r0 = b * MM_BLOCK;
        size_t r1 = r0 + MM_BLOCK < j->w->n_out ? r0 + MM_BLOCK : j->w->n_out;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n_tok, (int)(r1 - r0),
                    (int)n_in, 1.0f, j->x, (int)j->x_stride, w + r0 * n_in, (int)n_in, 0.0f,
                    j->y + r0, (int)j->y_stride);
    }
}

static void mm_quant_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    const struct mat *w = j->w;
    (void)thread;
    if (j->n_tok == 1) {
        quant_matvec(w->type, w->data, w->row_bytes, w->n_in, begin, end, j->act, j->y);
        return;
    }
    /* blocks of rows, every token per block, so a block's weights are read from cache;
     * quant_matmul unpacks each weight block once for several tokens */
    for (size_t r0 = begin; r0 < end; r0 += MM_BLOCK) {
        size_t r1 = r0 + MM_BLOCK < end ? r0 + MM_BLOCK : end;
        quant_matmul(w->type, w->data, w->row_bytes, w->n_in, r0, r1, j->act, j->act_stride,
                     j->n_tok, j->y, j->y_stride);
    }
}

static void mm_act_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    (void)thread;
    for (size_t t = begin; t < end; t++) {
        row_sanitize(j->m, j->x + t * j->x_stride, j->w->n_in);
        quant_quantize_act(j->w->type, j->x + t * j->x_stride,
                           j->act + t * j->act_stride, j->w->n_in);
    }
}

/* The quantized activations of tokens [begin, end) back to f32 (exact: d * q). */
static void mm_deq_act_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    (void)thread;
    enum dtype at = quant_act_type(j->w->type);
    for (size_t t = begin; t < end; t++)
        quant_dequantize_row(at, j->act + t * j->act_stride, j->m->actf + t * j->w->n_in,
                             j->w->n_in);
}

/* One task = QB_BLOCK weight rows, dequantized and multiplied with every token by BLAS. */
static void mm_qblas_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    const struct mat *w = j->w;
    float *wb = j->m->wblk + (size_t)thread * QB_BLOCK * j->m->max_in;
    for (size_t b = begin; b < end; b++) {
        size_t r0 = b * QB_BLOCK, r1 = r0 + QB_BLOCK < w->n_out ? r0 + QB_BLOCK : w->n_out;
        for (size_t r = r0; r < r1; r++)
            quant_dequantize_row(w->type, (const unsigned char *)w->data + r * w->row_bytes,
                                 wb + (r - r0) * w->n_in, w->n_in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n_tok, (int)(r1 - r0),
                    (int)w->n_in, 1.0f, j->m->actf, (int)w->n_in, wb, (int)w->n_in, 0.0f,
                    j->y + r0, (int)j->y_stride);
    }
}

/* Tokens [begin, end) quantized (mm_act_task()) and prepared for qgemm. */
static void mm_qgemm_act_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_job *j = ctx;
    size_t n_in = j->w->n_in, stride = qgemm_act_bytes(n_in);
    mm_act_task(ctx, begin, end, thread);
    for (size_t t = begin; t < end; t++)
        qgemm_prepare_act(j->w->type, j->act + t * j->act_stride, n_in, j->m->qact + t * stride);
}

/* Batch products of up to three qgemm matrices with the same input (n_tok >= qgemm_min):
 * the activations prepared once, then one pool_run over the QGEMM_ROWS tasks of all of
 * them.  Y outputs are packed (n_tok, n_out).  No LoRA here: the callers add it. */
struct mm_qgemm_job {
    const struct mat *w[3];
    float *y[3];
    size_t n, n_tok, first[4]; /* matrix i has tasks [first[i], first[i + 1]) */
    struct model *m;
};

static void mm_qgemm_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_qgemm_job *j = ctx;
    for (size_t i = 0; i < j->n; i++) {
        size_t lo = begin > j->first[i] ? begin : j->first[i];
        size_t hi = end < j->first[i + 1] ? end : j->first[i + 1];
        if (lo >= hi)
            continue;
        const struct mat *w = j->w[i];
        size_t r0 = (lo - j->first[i]) * QGEMM_ROWS, r1 = (hi - j->first[i]) * QGEMM_ROWS;
        qgemm_run(w->type, w->data, w->row_bytes, w->n_in, r0, r1 < w->n_out ? r1 : w->n_out,
                  j->m->qact, qgemm_act_bytes(w->n_in), j->n_tok, j->y[i], w->n_out,
                  j->m->qscr + (size_t)thread * qgemm_scratch_bytes(j->m->max_in));
    }
}

/* Whether qgemm takes these n matrices with one input: all of its types, one input size
 * and one activation format, a batch long enough, a CPU with the kernel. */
static bool qgemm_takes(const struct model *m, const struct mat *const *ws, size_t n,
                        size_t n_tok)
{
    if (!m->qact || n_tok < m->qgemm_min)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!qgemm_supported(ws[i]->type) || ws[i]->n_in != ws[0]->n_in ||
            quant_act_type(ws[i]->type) != quant_act_type(ws[0]->type))
            return false;
    return true;
}

static void qgemm_batch(struct model *m, const struct mat *const *ws, float *const *ys,
                        size_t n, float *x, size_t x_stride, size_t n_tok)
{
    struct mm_job a = {ws[0], x, n_tok, x_stride, NULL, 0, m->act, m->act_stride, m};
    pool_run(m->pool, n_tok, mm_qgemm_act_task, &a);
    struct mm_qgemm_job j = {{NULL}, {NULL}, n, n_tok, {0}, m};
    for (size_t i = 0; i < n; i++) {
        j.w[i] = ws[i];
        j.y[i] = ys[i];
        j.first[i + 1] = j.first[i] + (ws[i]->n_out + QGEMM_ROWS - 1) / QGEMM_ROWS;
    }
    pool_run(m->pool, j.first[n], mm_qgemm_task, &j);
}

/* x is scratch: non-finite values in it are zeroed (row_sanitize()) */
static void matmul_base(struct model *m, const struct mat *w, float *x, size_t x_stride,
                   size_t n_tok, float *y, size_t y_stride)
{
    struct mm_job j = {w, x, n_tok, x_stride, y, y_stride, m->act, m->act_stride, m};
    if (w->type == DTYPE_F32) {
        if (n_tok == 1)
            pool_run(m->pool, w->n_out, mm_f32_task, &j);
        else
            pool_run(m->pool, (w->n_out + MM_BLOCK - 1) / MM_BLOCK, mm_f32_task, &j);
        return;
    }
    if (qgemm_takes(m, &w, 1, n_tok)) {
        assert(y_stride == w->n_out); /* every caller passes packed rows */
        qgemm_batch(m, &w, &y, 1, x, x_stride, n_tok);
        return;
    }
    if (n_tok == 1)
        mm_act_task(&j, 0, 1, 0);
    else
        pool_run(m->pool, n_tok, mm_act_task, &j);
    if (m->actf && n_tok >= m->qblas_min) {
        pool_run(m->pool, n_tok, mm_deq_act_task, &j);
        pool_run(m->pool, (w->n_out + QB_BLOCK - 1) / QB_BLOCK, mm_qblas_task, &j);
        return;
    }
    pool_run(m->pool, w->n_out, mm_quant_task, &j);
}

/* Single-token products of several matrices with the same input (q, k, v; gate, up): one
 * activation quantization and one pool_run over all their rows together. */
struct mm_multi_job {
    const struct mat *w[3];
    float *y[3];
    size_t n;
    const float *x;
    const unsigned char *act;
};

static void mm_multi_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct mm_multi_job *j = ctx;
    (void)thread;
    size_t off = 0;
    for (size_t i = 0; i < j->n && off < end; off += j->w[i]->n_out, i++) {
        const struct mat *w = j->w[i];
        size_t lo = begin > off ? begin - off : 0;
        size_t hi = end - off < w->n_out ? end - off : w->n_out;
        if (lo >= hi)
            continue;
        quant_matvec(w->type, w->data, w->row_bytes, w->n_in, lo, hi,
                     w->type == DTYPE_F32 ? (const void *)j->x : (const void *)j->act, j->y[i]);
    }
}

/* Y = W X (+ the adapter's B A X). */
static void matmul(struct model *m, const struct mat *w, float *x, size_t x_stride, size_t n_tok,
                   float *y, size_t y_stride)
{
    matmul_base(m, w, x, x_stride, n_tok, y, y_stride);
    if (w->lora) {
        /* every caller passes packed rows: (n_tok, n_in) in, (n_tok, n_out) out */
        assert(x_stride == w->n_in && y_stride == w->n_out);
        lora_apply(w->lora, x, n_tok, y, m->lora_scratch);
    }
}

/* ys[i] = ws[i] x for n (2 or 3) matrices that share the input x.  A batch qgemm takes:
 * one activation preparation and one job (qgemm_batch()).  One token: the rows of all of
 * them form one job (the activation quantized once when they pair with the same
 * activation format).  Otherwise each is a matmul() of its own. */
static void matmul_shared(struct model *m, const struct mat *const *ws, float *const *ys,
                          size_t n, float *x, size_t x_stride, size_t n_tok)
{
    if (n_tok > 1 && qgemm_takes(m, ws, n, n_tok)) {
        qgemm_batch(m, ws, ys, n, x, x_stride, n_tok);
    } else {
        bool merge = n_tok == 1;
        for (size_t i = 0; i < n && merge; i++)
            merge = ws[i]->n_in == ws[0]->n_in &&
                    quant_act_type(ws[i]->type) == quant_act_type(ws[0]->type);
        if (!merge) {
            for (size_t i = 0; i < n; i++) /* each with its own adapter */
                matmul(m, ws[i], x, x_stride, n_tok, ys[i], ws[i]->n_out);
            return;
        }
        struct mm_multi_job j = {{NULL}, {NULL}, n, x, m->act};
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
            j.w[i] = ws[i];
            j.y[i] = ys[i];
            rows += ws[i]->n_out;
        }
        if (ws[0]->type != DTYPE_F32) {
            row_sanitize(m, x, ws[0]->n_in);
            quant_quantize_act(ws[0]->type, x, m->act, ws[0]->n_in);
        }
        pool_run(m->pool, rows, mm_multi_task, &j);
    }
    for (size_t i = 0; i < n; i++) {
        if (ws[i]->lora) {
            assert(x_stride == ws[i]->n_in); /* packed rows, as matmul() */
            lora_apply(ws[i]->lora, x, n_tok, ys[i], m->lora_scratch);
        }
    }
}

/* ---- KV cache -------------------------------------------------------------------------- */

static size_t kv_off(const struct model *m, size_t layer, size_t pos)
{
    return (layer * m->n_ctx + pos) * m->kv_dim;
}

static void kv_store(struct model *m, void *cache, size_t off, const float *src, size_t n)
{
    if (m->kv_f16) {
        uint16_t *d = (uint16_t *)cache + off;
        for (size_t i = 0; i < n; i++)
            d[i] = quant_fp32_to_fp16(src[i]);
    } else {
        memcpy((float *)cache + off, src, n * sizeof(float));
    }
}

/* Pointer to n cache values as f32 (converted into tmp for an f16 cache). */
static const float *kv_load(const struct model *m, const void *cache, size_t off, float *tmp,
                            size_t n)
{
    if (!m->kv_f16)
        return (const float *)cache + off;
    const uint16_t *s = (const uint16_t *)cache + off;
    for (size_t i = 0; i < n; i++)
        tmp[i] = quant_fp16_to_fp32(s[i]);
    return tmp;
}

/* ---- Attention ------------------------------------------------------------------------- */

struct att_job {
    struct model *m;
    size_t layer, pos, n_tok;
};

/* One task = one query head and ATT_BLOCK query tokens, as two BLAS products (S = Q K^T
 * over the keys the block can see, then out = P V with the keys a row may not see set to
 * 0; matrix-vector products for a single token).  An f16 cache is converted per head first.
 * The blocks are fixed, so results do not depend on threads. */
/* Softmax attention for `rows` query rows (ldq floats apart; row r belongs to position
 * first_q + r / per_pos) over the nk keys from position klo (rows of k and v ld floats
 * apart), into o (rows ldo floats apart).  S: rows * nk floats of scratch. */
static void att_rows(const struct model *m, const float *q, size_t ldq, size_t rows,
                     size_t per_pos, const float *k, const float *v, size_t ld, size_t first_q,
                     size_t klo, size_t nk, float *S, float *o, size_t ldo)
{
    size_t hd = m->hd;
    float scale = 1.0f / sqrtf((float)hd);
    /* one query row: matrix-vector products, which need no packing of K and V */
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nk, (int)hd, 1.0f, k, (int)ld, q, 1, 0.0f,
                    S, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nk, (int)hd, 1.0f,
                    q, (int)ldq, k, (int)ld, 0.0f, S, (int)nk);
    for (size_t r = 0; r < rows; r++) {
        float *srow = S + r * nk;
        size_t qpos = first_q + r / per_pos, lo = klo;
        if (m->swa > 0 && qpos + 1 > (size_t)m->swa)
            lo = qpos + 1 - (size_t)m->swa;
        size_t a = lo - klo, z = qpos - klo; /* visible keys: a .. z */
        float mx = -INFINITY;
        for (size_t p = a; p <= z; p++) {
            srow[p] *= scale;
            if (srow[p] > mx)
                mx = srow[p];
        }
        /* subtract the max before expf so nothing overflows; sum in double as ggml */
        double sum = 0.0;
        for (size_t p = a; p <= z; p++) {
            float e = expf(srow[p] - mx);
            srow[p] = e;
            sum += (double)e;
        }
        float inv = (float)(1.0 / sum);
        for (size_t p = 0; p < a; p++)
            srow[p] = 0.0f;
        for (size_t p = a; p <= z; p++)
            srow[p] *= inv;
        for (size_t p = z + 1; p < nk; p++)
            srow[p] = 0.0f;
    }
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)nk, (int)hd, 1.0f, v, (int)ld, S, 1, 0.0f, o,
                    1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)hd, (int)nk, 1.0f,
                    S, (int)nk, v, (int)ld, 0.0f, o, (int)ldo);
}

/* One task = one kv head and ATT_BLOCK query tokens.  The query heads sharing the kv head
 * are stacked into one matrix (rows (token, head)), so K and V are packed once for all of
 * them: S = Q K^T over the keys the block can see, then out = P V with the keys a row may
 * not see set to 0 (matrix-vector products per head for a single token).  An f16 cache is
 * converted to f32 first.  The blocks are fixed, so results do not depend on threads. */
static void att_block_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct att_job *j = ctx;
    struct model *m = j->m;
    size_t hd = m->hd, group = m->n_head / m->n_head_kv;
    size_t n_blocks = (j->n_tok + ATT_BLOCK - 1) / ATT_BLOCK;
    float *S = m->att + (size_t)thread * ATT_BLOCK * group * m->n_ctx;
    float *Qp = m->attq + (size_t)thread * 2 * ATT_BLOCK * group * hd;
    float *Op = Qp + ATT_BLOCK * group * hd;
    for (size_t task = begin; task < end; task++) {
        size_t kvh = task / n_blocks, b = task % n_blocks, h0 = kvh * group;
        size_t t0 = b * ATT_BLOCK, t1 = t0 + ATT_BLOCK < j->n_tok ? t0 + ATT_BLOCK : j->n_tok;
        size_t rows = t1 - t0;
        size_t first_q = j->pos + t0, last_q = j->pos + t1 - 1;
        size_t klo = 0;
        if (m->swa > 0 && first_q + 1 > (size_t)m->swa)
            klo = first_q + 1 - (size_t)m->swa;
        size_t nk = last_q + 1 - klo;
        const float *k, *v;
        size_t ld = m->kv_dim;
        if (m->kv_f16) {
            /* this kv head's keys and values to f32, packed (nk, hd) */
            float *kb = m->kvf + (size_t)thread * 2 * m->n_ctx * hd, *vb = kb + m->n_ctx * hd;
            const uint16_t *kc = (const uint16_t *)m->k_cache + kv_off(m, j->layer, klo) + kvh * hd;
            const uint16_t *vc = (const uint16_t *)m->v_cache + kv_off(m, j->layer, klo) + kvh * hd;
            for (size_t p = 0; p < nk; p++) {
                for (size_t i = 0; i < hd; i++) {
                    kb[p * hd + i] = quant_fp16_to_fp32(kc[p * m->kv_dim + i]);
                    vb[p * hd + i] = quant_fp16_to_fp32(vc[p * m->kv_dim + i]);
                }
            }
            k = kb;
            v = vb;
            ld = hd;
        } else {
            k = (const float *)m->k_cache + kv_off(m, j->layer, klo) + kvh * hd;
            v = (const float *)m->v_cache + kv_off(m, j->layer, klo) + kvh * hd;
        }
        if (rows == 1) {
            for (size_t h = h0; h < h0 + group; h++)
                att_rows(m, m->q + t0 * m->q_dim + h * hd, hd, 1, 1, k, v, ld, first_q, klo, nk,
                         S, m->att_out + t0 * m->q_dim + h * hd, hd);
            continue;
        }
        /* rows (t, g) of the group's query heads; each head's hd values are contiguous */
        for (size_t r = 0; r < rows; r++)
            memcpy(Qp + r * group * hd, m->q + (t0 + r) * m->q_dim + h0 * hd,
                   group * hd * sizeof(float));
        att_rows(m, Qp, hd, rows * group, group, k, v, ld, first_q, klo, nk, S, Op, hd);
        for (size_t r = 0; r < rows; r++)
            memcpy(m->att_out + (t0 + r) * m->q_dim + h0 * hd, Op + r * group * hd,
                   group * hd * sizeof(float));
    }
}

/* ---- Forward --------------------------------------------------------------------------- */

static void embed(struct model *m, int32_t tok, float *dst)
{
    const struct mat *e = &m->tok_embd;
    const unsigned char *row = (const unsigned char *)e->data + (size_t)tok * e->row_bytes;
    quant_dequantize_row(e->type, row, dst, m->n_embd);
    if (e->lora)
        lora_apply_rows(e->lora, &tok, 1, dst);
}

/* Per-token work of a layer, split over the pool by tokens (a one-token pass runs inline). */
struct tok_job {
    struct model *m;
    const struct layer *L;
    size_t layer, pos;
    const float *norm; /* add_norm_task: the norm weights, NULL = add only */
};

/* xb = rmsnorm(x) with the layer's attention norm */
static void attn_norm_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct tok_job *j = ctx;
    size_t dim = j->m->n_embd;
    (void)thread;
    for (size_t t = begin; t < end; t++)
        rmsnorm(j->m->xb + t * dim, j->m->x + t * dim, j->L->attn_norm, dim, j->m->eps);
}

/* RoPE on q and k, then k and v into the cache */
static void rope_kv_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct tok_job *j = ctx;
    struct model *m = j->m;
    (void)thread;
    for (size_t t = begin; t < end; t++) {
        const float *cs = m->rope + t * m->n_rot;
        rope_apply(m->q + t * m->q_dim, m->n_head, m->hd, m->n_rot, cs);
        rope_apply(m->k + t * m->kv_dim, m->n_head_kv, m->hd, m->n_rot, cs);
        kv_store(m, m->k_cache, kv_off(m, j->layer, j->pos + t), m->k + t * m->kv_dim,
                 m->kv_dim);
        kv_store(m, m->v_cache, kv_off(m, j->layer, j->pos + t), m->v + t * m->kv_dim,
                 m->kv_dim);
    }
}

/* x += xb, then xb = rmsnorm(x) when a norm is given */
static void add_norm_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct tok_job *j = ctx;
    size_t dim = j->m->n_embd;
    (void)thread;
    for (size_t t = begin; t < end; t++) {
        float *x = j->m->x + t * dim, *xb = j->m->xb + t * dim;
        for (size_t i = 0; i < dim; i++)
            x[i] += xb[i];
        if (j->norm)
            rmsnorm(xb, x, j->norm, dim, j->m->eps);
    }
}

/* ffa = silu(ffa) * ffb */
static void swiglu_task(void *ctx, size_t begin, size_t end, int thread)
{
    const struct tok_job *j = ctx;
    size_t nf = j->m->n_ff;
    (void)thread;
    for (size_t i = begin * nf; i < end * nf; i++) {
        float gv = j->m->ffa[i];
        j->m->ffa[i] = gv / (1.0f + expf(-gv)) * j->m->ffb[i];
    }
}

/* Evaluate n <= n_batch tokens at pos (cache already holds pos positions).  False when the
 * abort callback asked to stop. */
static bool forward(struct model *m, const int32_t *tokens, size_t n, size_t pos, float *logits,
                    bool all_logits)
{
    size_t dim = m->n_embd;
    for (size_t t = 0; t < n; t++) {
        embed(m, tokens[t], m->x + t * dim);
        rope_table(m->rope + t * m->n_rot, (float)(pos + t), m->n_rot, m->rope_theta_scale);
    }
    for (size_t l = 0; l < m->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        if (m->abort_cb && m->abort_cb(m->abort_user))
            return false;
        struct tok_job tj = {m, L, l, pos, L->ffn_norm};
        pool_run(m->pool, n, attn_norm_task, &tj);
        const struct mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {m->q, m->k, m->v};
        matmul_shared(m, qkv, qkv_out, 3, m->xb, dim, n);
        pool_run(m->pool, n, rope_kv_task, &tj);
        struct att_job aj = {m, l, pos, n};
        pool_run(m->pool, m->n_head_kv * ((n + ATT_BLOCK - 1) / ATT_BLOCK), att_block_task, &aj);
        /* x += Wo att_out: computed into xb, then added (and xb = the FFN's norm of x) */
        matmul(m, &L->wo, m->att_out, m->q_dim, n, m->xb, dim);
        pool_run(m->pool, n, add_norm_task, &tj);

        const struct mat *gu[2] = {&L->wgate, &L->wup};
        float *gu_out[2] = {m->ffa, m->ffb};
        matmul_shared(m, gu, gu_out, 2, m->xb, dim, n);
        pool_run(m->pool, n, swiglu_task, &tj);
        matmul(m, &L->wdown, m->ffa, m->n_ff, n, m->xb, dim);
        tj.norm = NULL;
        pool_run(m->pool, n, add_norm_task, &tj);
    }
    if (!logits)
        return true;
    size_t first = all_logits ? 0 : n - 1;
    for (size_t t = first; t < n; t++)
        rmsnorm(m->xb + t * dim, m->x + t * dim, m->output_norm, dim, m->eps);
    matmul(m, &m->output, m->xb + first * dim, dim, n - first, logits, m->n_vocab);
    return true;
}

enum status model_eval(struct model *m, const int32_t *tokens, size_t n, size_t pos,
                       float *logits, bool all_logits)
{
    if (pos > m->n_past)
        return status_detail_set(STATUS_INVALID, _("evaluation at position %zu, but only %zu "
                                                   "positions are cached"),
                                 pos, m->n_past);
    if (n > m->n_ctx || pos > m->n_ctx - n)
        return status_detail_set(STATUS_CONTEXT_FULL, _("%zu tokens at position %zu do not fit "
                                                        "a context of %zu"),
                                 n, pos, m->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (size_t)tokens[i] >= m->n_vocab)
            return status_detail_set(STATUS_INVALID, _("token id %ld is out of range (vocabulary "
                                                       "of %zu)"),
                                     (long)tokens[i], m->n_vocab);
    m->n_past = pos;
    m->nonfinite = false;
    for (size_t done = 0; done < n;) {
        size_t c = n - done < m->n_batch ? n - done : m->n_batch;
        bool last = done + c == n;
        float *out = NULL;
        if (logits && all_logits)
            out = logits + done * m->n_vocab;
        else if (logits && last)
            out = logits;
        if (!forward(m, tokens + done, c, pos + done, out, all_logits))
            return status_detail_set(STATUS_CANCELLED, _("evaluation cancelled after %zu of "
                                                         "%zu tokens"),
                                     done, n);
        if (m->nonfinite) {
            m->n_past = pos + done; /* the cache holds garbage from here */
            return status_detail_set(STATUS_FORMAT, _("the model computed NaN or infinite "
                                                      "values (are its weights damaged?)"));
        }
        done += c;
        m->n_past = pos + done;
    }
    return STATUS_OK;
}

/* ---- Embeddings (for a model-based text embedder in the agent layer) ------------------ */

enum status model_embed(struct model *m, const int32_t *tokens, size_t n, size_t n_skip,
                        float *out)
{
    if (n == 0)
        return status_detail_set(STATUS_INVALID, _("nothing to embed (no tokens)"));
    if (n > m->n_ctx)
        return status_detail_set(STATUS_CONTEXT_FULL, _("%zu tokens at position %zu do not fit "
                                                        "a context of %zu"),
                                 n, (size_t)0, m->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (size_t)tokens[i] >= m->n_vocab)
            return status_detail_set(STATUS_INVALID, _("token id %ld is out of range (vocabulary "
                                                       "of %zu)"),
                                     (long)tokens[i], m->n_vocab);
    size_t dim = m->n_embd, skip = n_skip < n ? n_skip : 0;
    for (size_t i = 0; i < dim; i++)
        out[i] = 0.0f;
    m->n_past = 0;
    m->nonfinite = false;
    for (size_t done = 0; done < n;) {
        size_t c = n - done < m->n_batch ? n - done : m->n_batch;
        if (!forward(m, tokens + done, c, done, NULL, false))
            return status_detail_set(STATUS_CANCELLED, _("evaluation cancelled after %zu of "
                                                         "%zu tokens"),
                                     done, n);
        if (m->nonfinite) {
            m->n_past = done;
            return status_detail_set(STATUS_FORMAT, _("the model computed NaN or infinite "
                                                      "values (are its weights damaged?)"));
        }
        for (size_t t = 0; t < c; t++) {
            if (done + t < skip)
                continue;
            float *h = m->xb + t * dim;
            rmsnorm(h, m->x + t * dim, m->output_norm, dim, m->eps);
            for (size_t i = 0; i < dim; i++)
                out[i] += h[i];
        }
        done += c;
        m->n_past = done;
    }
    double ss = 0;
    for (size_t i = 0; i < dim; i++) {
        out[i] /= (float)(n - skip);
        ss += (double)out[i] * out[i];
    }
    if (!(ss > 0) || !isfinite(ss))
        return status_detail_set(STATUS_FORMAT, _("the model computed NaN or infinite "
                                                  "values (are its weights damaged?)"));
    float inv = (float)(1.0 / sqrt(ss));
    for (size_t i = 0; i < dim; i++)
        out[i] *= inv;
    return STATUS_OK;
}

void model_set_abort(struct model *m, bool (*abort_cb)(void *user), void *user)
{
    m->abort_cb = abort_cb;
    m->abort_user = user;
}

void model_reset(struct model *m)
{
    m->n_past = 0;
}

enum status model_shift(struct model *m, size_t n_keep, size_t n_discard)
{
    if (n_keep > m->n_past)
        return status_detail_set(STATUS_INVALID, _("cannot keep %zu of %zu cached positions"),
                                 n_keep, m->n_past);
    if (n_discard == 0)
        n_discard = (m->n_past - n_keep) / 2;
    if (n_discard > m->n_past - n_keep)
        return status_detail_set(STATUS_INVALID, _("cannot drop %zu of %zu cached positions"),
                                 n_discard, m->n_past - n_keep);
    if (n_discard == 0)
        return STATUS_OK;
    float *cs = m->rope; /* n_rot floats of scratch */
    rope_table(cs, -(float)n_discard, m->n_rot, m->rope_theta_scale);
    float *tmp = m->kvrow;
    for (size_t l = 0; l < m->n_layer; l++) {
        for (size_t p = n_keep + n_discard; p < m->n_past; p++) {
            size_t src = kv_off(m, l, p), dst = kv_off(m, l, p - n_discard);
            /* K: load, rotate back by n_discard positions, store at the new place */
            for (size_t h = 0; h < m->n_head_kv; h++) {
                const float *k = kv_load(m, m->k_cache, src + h * m->hd, tmp, m->hd);
                if (k != tmp)
                    memcpy(tmp, k, m->hd * sizeof(float));
                rope_apply(tmp, 1, m->hd, m->n_rot, cs);
                kv_store(m, m->k_cache, dst + h * m->hd, tmp, m->hd);
            }
            size_t esz = m->kv_f16 ? sizeof(uint16_t) : sizeof(float);
            memmove((unsigned char *)m->v_cache + dst * esz,
                    (unsigned char *)m->v_cache + src * esz, m->kv_dim * esz);
        }
    }
    m->n_past -= n_discard;
    return STATUS_OK;
}

size_t model_n_past(const struct model *m) { return m->n_past; }
size_t model_n_ctx(const struct model *m) { return m->n_ctx; }
size_t model_n_vocab(const struct model *m) { return m->n_vocab; }
size_t model_n_embd(const struct model *m) { return m->n_embd; }
size_t model_n_layer(const struct model *m) { return m->n_layer; }
size_t model_n_head(const struct model *m) { return m->n_head; }
size_t model_n_head_kv(const struct model *m) { return m->n_head_kv; }
size_t model_n_ff(const struct model *m) { return m->n_ff; }
size_t model_n_params(const struct model *m) { return m->n_params; }
int model_n_threads(const struct model *m) { return pool_n_threads(m->pool); }
int64_t model_sliding_window(const struct model *m) { return m->swa; }
bool model_output_tied(const struct model *m) { return m->tied; }
