/* train.c -- forward with saved activations, backward pass, AdamW and GGUF I/O for training. */
#include "config.h"

#include "engine/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "util/i18n.h"


/* Saved activations of one layer for n rows (see forward()). */
struct layer_act {
    float *x;    /* (n, dim) residual entering the layer */
    float *xn1;  /* (n, dim) attention input after RMSNorm */
    float *r1;   /* (n) 1/rms of x */
    float *q;    /* (n, q_dim) after RoPE */
    float *k;    /* (n, kv_dim) after RoPE */
    float *v;    /* (n, kv_dim) */
    float *att;  /* (n_seq, n_head, T, T) softmax probabilities */
    float *ao;   /* (n, q_dim) attention output, heads concatenated */
    float *xmid; /* (n, dim) residual after attention */
    float *xn2;  /* (n, dim) */
    float *r2;   /* (n) */
    float *g;    /* (n, n_ff) gate pre-activation */
    float *u;    /* (n, n_ff) up */
    float *h;    /* (n, n_ff) silu(g) * u */
};

struct train_model {
    struct train_config c;
    size_t hd, q_dim, kv_dim;
    float theta_scale;
    size_t off[TRAIN_TENSOR_COUNT_]; /* offset of layer 0 of each kind; see tensor_off() */
    size_t layer_stride;             /* values of one layer's tensors */
    size_t n_params;
    float *w, *grad, *m1, *m2; /* (n_params) each */
    size_t step;
    struct train_hook hook;
    bool has_hook;
    bool frozen; /* base weights get no gradients and no updates */
    float *rope; /* (n_ctx, hd/2, 2): cos, sin */

    /* activations for up to cap_n rows of sequences of up to cap_t tokens */
    size_t cap_seq, cap_t;
    float *act_mem;
    struct layer_act *la; /* (n_layer) */
    float *xfin, *xnf, *rf, *logits;
    /* backward scratch */
    float *dx, *dxn, *dq, *dk, *dv, *dao, *dg, *du, *dh, *tmp;
    float *dp;    /* (n_parts, 2, T, T) attention backward scratch */
    float *dwpart; /* (n_parts, max(dim, ...)) partial norm-weight gradients */

    /* Quantized frozen base (train_model_from_gguf_quant()): the matrices stay in the
     * borrowed GGUF, w/grad/m1/m2 hold only the norm weights, and every product
     * dequantizes row chunks of W into wbuf (per call, in parallel) before sgemm. */
    bool quant;
    struct qweight {
        const unsigned char *data; /* (rows) rows of row_bytes, borrowed from the GGUF */
        enum dtype type;
        size_t row_bytes;
    } *qw;        /* (TRAIN_TENSOR_COUNT_ * n_layer), see qslot() */
    float *wbuf;  /* (wbuf_n) dequantized row chunk of a matrix */
    size_t wbuf_n;

    /* Work is cut into n_parts = 2 * threads fixed parts (pool_split), whatever thread runs
     * them, and partial sums are added in part order: bit-identical for a thread count. */
    struct pool *pool;
    size_t n_parts;
};

static bool is_layer_kind(enum train_tensor t)
{
    return t != TRAIN_TENSOR_TOK_EMBD && t != TRAIN_TENSOR_OUTPUT_NORM &&
           t != TRAIN_TENSOR_OUTPUT;
}

static bool is_norm_kind(enum train_tensor t)
{
    return t == TRAIN_TENSOR_ATTN_NORM || t == TRAIN_TENSOR_FFN_NORM ||
           t == TRAIN_TENSOR_OUTPUT_NORM;
}

static size_t qslot(const struct train_model *m, enum train_tensor t, size_t layer)
{
    return (size_t)t * m->c.n_layer + (is_layer_kind(t) ? layer : 0);
}

/* Shape (rows = n_out, cols = n_in; 1-D tensors have rows 1). */
static void tensor_shape(const struct train_model *m, enum train_tensor t, size_t *rows,
                         size_t *cols)
{
    const struct train_config *c = &m->c;
    size_t r = 1, k = c->dim;
    switch (t) {
    case TRAIN_TENSOR_TOK_EMBD: r = c->n_vocab; break;
    case TRAIN_TENSOR_ATTN_NORM: case TRAIN_TENSOR_FFN_NORM: case TRAIN_TENSOR_OUTPUT_NORM: break;
    case TRAIN_TENSOR_ATTN_Q: r = m->q_dim; break;
    case TRAIN_TENSOR_ATTN_K: case TRAIN_TENSOR_ATTN_V: r = m->kv_dim; break;
    case TRAIN_TENSOR_ATTN_OUTPUT: r = c->dim; k = m->q_dim; break;
    case TRAIN_TENSOR_FFN_GATE: case TRAIN_TENSOR_FFN_UP: r = c->n_ff; break;
    case TRAIN_TENSOR_FFN_DOWN: r = c->dim; k = c->n_ff; break;
    case TRAIN_TENSOR_OUTPUT: r = c->n_vocab; break;
    default: break;
    }
    *rows = r;
    *cols = k;
}

static size_t tensor_n(const struct train_model *m, enum train_tensor t)
{
    size_t r, k;
    tensor_shape(m, t, &r, &k);
    return r * k;
}

/* Values stored in w for t: none for the matrices of a quantized base. */
static size_t stored_n(const struct train_model *m, enum train_tensor t)
{
    return m->quant && !is_norm_kind(t) ? 0 : tensor_n(m, t);
}

static size_t tensor_off(const struct train_model *m, enum train_tensor t, size_t layer)
{
    return m->off[t] + (is_layer_kind(t) ? layer * m->layer_stride : 0);
}

void train_config_init(struct train_config *c)
{
    memset(c, 0, sizeof *c);
    c->norm_eps = 1e-5f;
    c->rope_base = 10000.0f;
}

void train_tensor_name(enum train_tensor t, size_t layer, char *buf, size_t cap)
{
    static const char *const names[TRAIN_TENSOR_COUNT_] = {
        "token_embd", "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
        "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "output_norm", "output",
    };
    if (is_layer_kind(t))
        snprintf(buf, cap, "blk.%zu.%s.weight", layer, names[t]);
    else
        snprintf(buf, cap, "%s.weight", names[t]);
}

static enum status model_alloc(const struct train_config *c, bool quant,
                               struct train_model **out)
{
    if (c->n_vocab == 0 || c->dim == 0 || c->n_layer == 0 || c->n_head == 0 ||
        c->n_head_kv == 0 || c->n_ff == 0 || c->n_ctx == 0 || c->n_head % c->n_head_kv != 0 ||
        c->dim % c->n_head != 0 || (c->dim / c->n_head) % 2 != 0 || c->n_vocab > INT32_MAX ||
        c->dim > (1u << 20) || c->n_ff > (1u << 22) || c->n_layer > 4096 || c->n_ctx > (1u << 20))
        return status_detail_set(STATUS_INVALID,
                                 _("model shape does not fit: dim %zu, %zu heads, %zu kv heads"),
                                 c->dim, c->n_head, c->n_head_kv);
    struct train_model *m = calloc(1, sizeof *m);
    if (!m)
        return STATUS_NOMEM;
    m->c = *c;
    m->quant = quant;
    m->hd = c->dim / c->n_head;
    m->q_dim = c->dim;
    m->kv_dim = c->n_head_kv * m->hd;
    m->theta_scale = powf(c->rope_base, -2.0f / (float)m->hd);
    size_t o = 0;
    m->off[TRAIN_TENSOR_TOK_EMBD] = o;
    o += stored_n(m, TRAIN_TENSOR_TOK_EMBD);
    size_t l0 = o;
    for (int t = TRAIN_TENSOR_ATTN_NORM; t <= TRAIN_TENSOR_FFN_DOWN; t++) {
        m->off[t] = o;
        o += stored_n(m, (enum train_tensor)t);
    }
    m->layer_stride = o - l0;
    o = l0 + m->layer_stride * c->n_layer;
    m->off[TRAIN_TENSOR_OUTPUT_NORM] = o;
    o += c->dim;
    m->off[TRAIN_TENSOR_OUTPUT] = o;
    o += stored_n(m, TRAIN_TENSOR_OUTPUT);
    m->n_params = o;
    m->w = calloc(o, sizeof(float));
    m->grad = calloc(o, sizeof(float));
    m->m1 = calloc(o, sizeof(float));
    m->m2 = calloc(o, sizeof(float));
    m->rope = malloc(c->n_ctx * m->hd * sizeof(float));
    m->la = calloc(c->n_layer, sizeof *m->la);
    if (quant) {
        size_t big = c->n_ff > c->dim ? c->n_ff : c->dim;
        m->wbuf_n = ((size_t)1 << 20) + 16 * big;
        m->wbuf = malloc(m->wbuf_n * sizeof(float));
        m->qw = calloc(TRAIN_TENSOR_COUNT_ * c->n_layer, sizeof *m->qw);
        if (!m->wbuf || !m->qw) {
            train_model_free(m);
            return STATUS_NOMEM;
        }
    }
    m->n_parts = 2;
    if (pool_new(1, &m->pool) != STATUS_OK)
        m->pool = NULL;
    if (!m->pool || !m->w || !m->grad || !m->m1 || !m->m2 || !m->rope || !m->la) {
        train_model_free(m);
        return STATUS_NOMEM;
    }
    /* ggml's theta: a float running product from theta_0 = pos */
    for (size_t p = 0; p < c->n_ctx; p++) {
        float theta = (float)p;
        float *cs = m->rope + p * m->hd;
        for (size_t i = 0; i < m->hd / 2; i++) {
            cs[2 * i] = cosf(theta);
            cs[2 * i + 1] = sinf(theta);
            theta *= m->theta_scale;
        }
    }
    *out = m;
    return STATUS_OK;
}

void train_model_free(struct train_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->grad);
    free(m->m1);
    free(m->m2);
    free(m->rope);
    free(m->la);
    free(m->act_mem);
    free(m->wbuf);
    free(m->qw);
    pool_free(m->pool);
    free(m);
}

/* splitmix64 and Box-Muller in double */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rand_normal(uint64_t *s)
{
    double u1 = ((double)(splitmix64(s) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(splitmix64(s) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

enum status train_model_new(const struct train_config *c, uint64_t seed, struct train_model **out)
{
    struct train_model *m;
    enum status st = model_alloc(c, false, &m);
    if (st != STATUS_OK)
        return st;
    uint64_t s = seed;
    /* Residual branches (attn_output, ffn_down) are scaled down by sqrt(2 n_layer) so the
     * residual stream keeps its size with depth (GPT-2's rule); inputs to a product get
     * 1/sqrt(fan_in); the embedding std 1 matches RMSNorm's output scale. */
    double depth = sqrt(2.0 * (double)c->n_layer);
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        size_t nl = is_layer_kind((enum train_tensor)t) ? c->n_layer : 1;
        size_t rows, cols;
        tensor_shape(m, (enum train_tensor)t, &rows, &cols);
        double std = 1.0 / sqrt((double)cols);
        if (t == TRAIN_TENSOR_TOK_EMBD)
            std = 1.0;
        else if (t == TRAIN_TENSOR_ATTN_OUTPUT || t == TRAIN_TENSOR_FFN_DOWN)
            std /= depth;
        for (size_t l = 0; l < nl; l++) {
            float *w = m->w + tensor_off(m, (enum train_tensor)t, l);
            size_t n = rows * cols;
            for (size_t i = 0; i < n; i++)
                w[i] = is_norm_kind((enum train_tensor)t) ? 1.0f : (float)(std * rand_normal(&s));
        }
    }
    *out = m;
    return STATUS_OK;
}

static enum status get_hp(const struct gguf *g, const char *arch, const char *name, bool req,
                          int64_t def, size_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    enum status st = gguf_get_int(g, key, &v);
    if (st == STATUS_NOT_FOUND && !req)
        v = def;
    else if (st != STATUS_OK)
        return status_detail_set(st == STATUS_NOT_FOUND ? st : STATUS_FORMAT,
                                 _("model metadata key %s is missing or not an integer"), key);
    if (v < 0)
        return status_detail_set(STATUS_FORMAT, _("model metadata key %s is negative"), key);
    *out = (size_t)v;
    return STATUS_OK;
}

/* Copy tensor name (rows x cols) from g into dst as F32. */
static enum status load_tensor(const struct gguf *g, const char *name, size_t rows, size_t cols,
                               float *dst)
{
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0)
        return status_detail_set(STATUS_NOT_FOUND, _("model tensor %s is missing"), name);
    enum dtype t = gguf_tensor_type(g, i);
    if (gguf_tensor_dim(g, i, 0) != cols || gguf_tensor_n_elements(g, i) != (uint64_t)rows * cols)
        return status_detail_set(STATUS_FORMAT, _("model tensor %s has the wrong shape"), name);
    if (!quant_weight_supported(t))
        return status_detail_set(STATUS_UNSUPPORTED, _("model tensor %s has unsupported type %s"),
                                 name, dtype_name(t));
    size_t rb;
    enum status st = dtype_row_bytes(t, cols, &rb);
    if (st != STATUS_OK)
        return st;
    const unsigned char *src = gguf_tensor_data(g, i);
    for (size_t r = 0; r < rows; r++)
        quant_dequantize_row(t, src + r * rb, dst + r * cols, cols);
    return STATUS_OK;
}

/* Hyper-parameters of a GGUF llama/mistral model. */
static enum status config_from_gguf(const struct gguf *g, size_t n_ctx, struct train_config *cp)
{
    quant_init();
    const char *arch;
    enum status st = gguf_get_cstr(g, "general.architecture", &arch);
    if (st != STATUS_OK)
        return status_detail_set(STATUS_FORMAT, _("model metadata key %s is missing"),
                                 "general.architecture");
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "mistral") != 0)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("model architecture '%s' is not supported (only llama)"), arch);
    struct train_config c;
    train_config_init(&c);
    size_t ctx_file, n_rot = 0, key_len = 0;
    if ((st = get_hp(g, arch, "embedding_length", true, 0, &c.dim)) != STATUS_OK ||
        (st = get_hp(g, arch, "block_count", true, 0, &c.n_layer)) != STATUS_OK ||
        (st = get_hp(g, arch, "feed_forward_length", true, 0, &c.n_ff)) != STATUS_OK ||
        (st = get_hp(g, arch, "attention.head_count", true, 0, &c.n_head)) != STATUS_OK ||
        (st = get_hp(g, arch, "context_length", true, 0, &ctx_file)) != STATUS_OK)
        return st;
    if ((st = get_hp(g, arch, "attention.head_count_kv", false, (int64_t)c.n_head,
                     &c.n_head_kv)) != STATUS_OK)
        return st;
    if (c.n_head == 0 || c.dim % c.n_head)
        return status_detail_set(STATUS_FORMAT, _("model hyper-parameters must be positive"));
    if ((st = get_hp(g, arch, "attention.key_length", false, (int64_t)(c.dim / c.n_head),
                     &key_len)) != STATUS_OK ||
        (st = get_hp(g, arch, "rope.dimension_count", false, (int64_t)(c.dim / c.n_head),
                     &n_rot)) != STATUS_OK)
        return st;
    if (key_len != c.dim / c.n_head || n_rot != key_len)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("training needs head size = dim / heads = rope dimensions"));
    char key[128];
    double f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (gguf_get_float(g, key, &f) == STATUS_OK)
        c.rope_base = (float)f;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (gguf_get_float(g, key, &f) == STATUS_OK)
        c.norm_eps = (float)f;
    int64_t ti = gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0)
        return status_detail_set(STATUS_NOT_FOUND, _("model tensor %s is missing"),
                                 "token_embd.weight");
    c.n_vocab = (size_t)gguf_tensor_dim(g, ti, 1);
    c.n_ctx = n_ctx ? n_ctx : ctx_file;
    *cp = c;
    return STATUS_OK;
}

enum status train_model_from_gguf(const struct gguf *g, size_t n_ctx, struct train_model **out)
{
    struct train_config c;
    enum status st = config_from_gguf(g, n_ctx, &c);
    if (st != STATUS_OK)
        return st;
    struct train_model *m;
    if ((st = model_alloc(&c, false, &m)) != STATUS_OK)
        return st;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        size_t nl = is_layer_kind((enum train_tensor)t) ? c.n_layer : 1;
        size_t rows, cols;
        tensor_shape(m, (enum train_tensor)t, &rows, &cols);
        for (size_t l = 0; l < nl; l++) {
            char name[96];
            train_tensor_name((enum train_tensor)t, l, name, sizeof name);
            const char *src = name;
            if (t == TRAIN_TENSOR_OUTPUT && gguf_find_tensor(g, name) < 0)
                src = "token_embd.weight"; /* tied head: start from a copy */
            st = load_tensor(g, src, rows, cols, m->w + tensor_off(m, (enum train_tensor)t, l));
            if (st != STATUS_OK) {
                train_model_free(m);
                return st;
            }
        }
    }
    *out = m;
    return STATUS_OK;
}

/* Point m's quantized slot for (t, l) at tensor name of g, checking its shape and type. */
static enum status quant_ref(struct train_model *m, const struct gguf *g, const char *name,
                             enum train_tensor t, size_t l)
{
    size_t rows, cols;
    tensor_shape(m, t, &rows, &cols);
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0)
        return status_detail_set(STATUS_NOT_FOUND, _("model tensor %s is missing"), name);
    enum dtype ty = gguf_tensor_type(g, i);
    if (gguf_tensor_dim(g, i, 0) != cols || gguf_tensor_n_elements(g, i) != (uint64_t)rows * cols)
        return status_detail_set(STATUS_FORMAT, _("model tensor %s has the wrong shape"), name);
    if (!quant_weight_supported(ty))
        return status_detail_set(STATUS_UNSUPPORTED, _("model tensor %s has unsupported type %s"),
                                 name, dtype_name(ty));
    struct qweight *q = &m->qw[qslot(m, t, l)];
    enum status st = dtype_row_bytes(ty, cols, &q->row_bytes);
    if (st != STATUS_OK)
        return st;
    q->data = gguf_tensor_data(g, i);
    q->type = ty;
    return STATUS_OK;
}

enum status train_model_from_gguf_quant(const struct gguf *g, size_t n_ctx,
                                        struct train_model **out)
{
    struct train_config c;
    enum status st = config_from_gguf(g, n_ctx, &c);
    if (st != STATUS_OK)
        return st;
    struct train_model *m;
    if ((st = model_alloc(&c, true, &m)) != STATUS_OK)
        return st;
    m->frozen = true;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_ && st == STATUS_OK; t++) {
        enum train_tensor kind = (enum train_tensor)t;
        size_t nl = is_layer_kind(kind) ? c.n_layer : 1, rows, cols;
        tensor_shape(m, kind, &rows, &cols);
        for (size_t l = 0; l < nl && st == STATUS_OK; l++) {
            char name[96];
            train_tensor_name(kind, l, name, sizeof name);
            if (is_norm_kind(kind)) /* small: copied to F32 */
                st = load_tensor(g, name, rows, cols, m->w + tensor_off(m, kind, l));
            else if (kind == TRAIN_TENSOR_OUTPUT && gguf_find_tensor(g, name) < 0)
                st = quant_ref(m, g, "token_embd.weight", kind, l); /* tied head */
            else
                st = quant_ref(m, g, name, kind, l);
        }
    }
    if (st != STATUS_OK) {
        train_model_free(m);
        return st;
    }
    *out = m;
    return STATUS_OK;
}

bool train_model_is_quant(const struct train_model *m)
{
    return m->quant;
}

const struct train_config *train_model_config(const struct train_model *m)
{
    return &m->c;
}

size_t train_model_n_params(const struct train_model *m)
{
    size_t n = 0;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++)
        n += tensor_n(m, (enum train_tensor)t) *
             (is_layer_kind((enum train_tensor)t) ? m->c.n_layer : 1);
    return n;
}

size_t train_model_n_params_nonembd(const struct train_model *m)
{
    return train_model_n_params(m) - tensor_n(m, TRAIN_TENSOR_TOK_EMBD);
}

float *train_param(struct train_model *m, enum train_tensor t, size_t layer, size_t *n)
{
    if (n)
        *n = stored_n(m, t);
    return stored_n(m, t) ? m->w + tensor_off(m, t, layer) : NULL;
}

float *train_grad(struct train_model *m, enum train_tensor t, size_t layer, size_t *n)
{
    if (n)
        *n = stored_n(m, t);
    return stored_n(m, t) ? m->grad + tensor_off(m, t, layer) : NULL;
}

void train_set_hook(struct train_model *m, const struct train_hook *h)
{
    m->has_hook = h != NULL;
    if (h)
        m->hook = *h;
}

void train_set_frozen(struct train_model *m, bool frozen)
{
    m->frozen = frozen || m->quant;
}

enum status train_model_set_threads(struct train_model *m, int n_threads)
{
    struct pool *p;
    enum status st = pool_new(n_threads, &p);
    if (st != STATUS_OK)
        return st;
    size_t parts = 2 * (size_t)pool_n_threads(p);
    if (parts != m->n_parts) {
        free(m->act_mem); /* per-part scratch is sized by n_parts */
        m->act_mem = NULL;
        m->cap_seq = m->cap_t = 0;
    }
    pool_free(m->pool);
    m->pool = p;
    m->n_parts = parts;
    return STATUS_OK;
}

int train_model_threads(const struct train_model *m)
{
    return pool_n_threads(m->pool);
}

void train_zero_grad(struct train_model *m)
{
    memset(m->grad, 0, m->n_params * sizeof(float));
}

size_t train_model_step(const struct train_model *m)
{
    return m->step;
}

/* ---- Activations ------------------------------------------------------------------- */

static enum status ensure_act(struct train_model *m, size_t n_seq, size_t T)
{
    if (n_seq <= m->cap_seq && T <= m->cap_t)
        return STATUS_OK;
    size_t ns = n_seq > m->cap_seq ? n_seq : m->cap_seq;
    size_t nt = T > m->cap_t ? T : m->cap_t;
    const struct train_config *c = &m->c;
    size_t n = ns * nt;
    size_t att = ns * c->n_head * nt * nt;
    size_t per_layer = n * (5 * c->dim + 2 + 2 * m->q_dim + 2 * m->kv_dim + 3 * c->n_ff) + att;
    size_t fin = n * (2 * c->dim + 1 + c->n_vocab);
    size_t big = c->n_ff > c->dim ? c->n_ff : c->dim;
    size_t scratch = n * (2 * c->dim + 2 * m->q_dim + 2 * m->kv_dim + 3 * c->n_ff + big) +
                     m->n_parts * (2 * nt * nt + c->dim);
    size_t total = per_layer * c->n_layer + fin + scratch;
    float *mem = malloc(total * sizeof(float));
    if (!mem)
        return status_detail_set(STATUS_NOMEM, _("cannot allocate %zu MiB of activations"),
                                 total * sizeof(float) >> 20);
    free(m->act_mem);
    m->act_mem = mem;
    m->cap_seq = ns;
    m->cap_t = nt;
    float *p = mem;
#define TAKE(dst, cnt) ((dst) = p, p += (cnt))
    for (size_t l = 0; l < c->n_layer; l++) {
        struct layer_act *a = &m->la[l];
        TAKE(a->x, n * c->dim);
        TAKE(a->xn1, n * c->dim);
        TAKE(a->r1, n);
        TAKE(a->q, n * m->q_dim);
        TAKE(a->k, n * m->kv_dim);
        TAKE(a->v, n * m->kv_dim);
        TAKE(a->att, att);
        TAKE(a->ao, n * m->q_dim);
        TAKE(a->xmid, n * c->dim);
        TAKE(a->xn2, n * c->dim);
        TAKE(a->r2, n);
        TAKE(a->g, n * c->n_ff);
        TAKE(a->u, n * c->n_ff);
        TAKE(a->h, n * c->n_ff);
    }
    TAKE(m->xfin, n * c->dim);
    TAKE(m->xnf, n * c->dim);
    TAKE(m->rf, n);
    TAKE(m->logits, n * c->n_vocab);
    TAKE(m->dx, n * c->dim);
    TAKE(m->dxn, n * c->dim);
    TAKE(m->dq, n * m->q_dim);
    TAKE(m->dao, n * m->q_dim);
    TAKE(m->dk, n * m->kv_dim);
    TAKE(m->dv, n * m->kv_dim);
    TAKE(m->dg, n * c->n_ff);
    TAKE(m->du, n * c->n_ff);
    TAKE(m->dh, n * c->n_ff);
    TAKE(m->tmp, n * big);
    TAKE(m->dp, m->n_parts * 2 * nt * nt);
    TAKE(m->dwpart, m->n_parts * c->dim);
#undef TAKE
    return STATUS_OK;
}

/* ---- Parallel parts ---------------------------------------------------------------------- */

typedef void (*part_fn)(void *ctx, size_t begin, size_t end, size_t part);

struct par {
    part_fn fn;
    void *ctx;
    size_t n, parts;
};

static void par_task(void *ctx, size_t b, size_t e, int thread)
{
    (void)thread;
    const struct par *p = ctx;
    for (size_t k = b; k < e; k++) {
        size_t s, t;
        pool_split(p->n, (int)p->parts, (int)k, &s, &t);
        if (s < t)
            p->fn(p->ctx, s, t, k);
    }
}

/* fn over [0, n) cut into m->n_parts fixed parts */
static void par_run(struct train_model *m, size_t n, part_fn fn, void *ctx)
{
    struct par p = {fn, ctx, n, m->n_parts};
    pool_run(m->pool, m->n_parts, par_task, &p);
}

void train_model_par_run(struct train_model *m, size_t n,
                         void (*fn)(void *ctx, size_t begin, size_t end, size_t part), void *ctx)
{
    par_run(m, n, fn, ctx);
}

/* ---- Building blocks ----------------------------------------------------------------- */

struct gemm_job {
    const float *x, *w, *dy;
    float *y, *dx, *dw;
    size_t n, n_in, n_out;
    float beta;
};

/* rows of y = x W^T */
static void lin_fwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct gemm_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(e - b), (int)j->n_out,
                (int)j->n_in, 1.0f, j->x + b * j->n_in, (int)j->n_in, j->w, (int)j->n_in, 0.0f,
                j->y + b * j->n_out, (int)j->n_out);
}

/* rows of dx = beta dx + dy W */
static void lin_dx_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct gemm_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b), (int)j->n_in,
                (int)j->n_out, 1.0f, j->dy + b * j->n_out, (int)j->n_out, j->w, (int)j->n_in,
                j->beta, j->dx + b * j->n_in, (int)j->n_in);
}

/* output rows [b, e) of dW += dy^T x */
static void lin_dw_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct gemm_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(e - b), (int)j->n_in, (int)j->n,
                1.0f, j->dy + b, (int)j->n_out, j->x, (int)j->n_in, 1.0f, j->dw + b * j->n_in,
                (int)j->n_in);
}

/* ---- Products with a quantized W: row chunks dequantized into wbuf, then sgemm ---- */

struct qlin_job {
    const struct qweight *q;
    const float *x, *dy;
    float *y, *dx, *wbuf;
    size_t n, n_in, n_out, r0, rows;
    float beta;
};

static void qdeq_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct qlin_job *j = ctx;
    for (size_t r = b; r < e; r++)
        quant_dequantize_row(j->q->type, j->q->data + (j->r0 + r) * j->q->row_bytes,
                             j->wbuf + r * j->n_in, j->n_in);
}

/* rows [b, e) of y[:, r0 .. r0 + rows) = x Wc^T */
static void qfwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct qlin_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(e - b), (int)j->rows,
                (int)j->n_in, 1.0f, j->x + b * j->n_in, (int)j->n_in, j->wbuf, (int)j->n_in,
                0.0f, j->y + b * j->n_out + j->r0, (int)j->n_out);
}

/* rows [b, e) of dx = beta dx + dy[:, r0 .. r0 + rows) Wc */
static void qdx_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct qlin_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(e - b), (int)j->n_in,
                (int)j->rows, 1.0f, j->dy + b * j->n_out + j->r0, (int)j->n_out, j->wbuf,
                (int)j->n_in, j->beta, j->dx + b * j->n_in, (int)j->n_in);
}

/* y = x W^T (dx NULL) or dx = beta dx + dy W, W quantized: the whole of W is dequantized
 * once per call, a chunk of rows at a time (no F32 copy of the model is kept). */
static void qlin(struct train_model *m, enum train_tensor kind, size_t layer, const float *x,
                 float *y, const float *dy, float *dx, float beta, size_t n, size_t n_in,
                 size_t n_out)
{
    struct qlin_job j = {.q = &m->qw[qslot(m, kind, layer)], .x = x, .dy = dy, .y = y,
                         .dx = dx, .wbuf = m->wbuf, .n = n, .n_in = n_in, .n_out = n_out};
    size_t chunk = m->wbuf_n / n_in;
    for (size_t r0 = 0; r0 < n_out; r0 += chunk) {
        j.r0 = r0;
        j.rows = n_out - r0 < chunk ? n_out - r0 : chunk;
        j.beta = r0 == 0 ? beta : 1.0f;
        par_run(m, j.rows, qdeq_part, &j);
        par_run(m, n, dx ? qdx_part : qfwd_part, &j);
    }
}

/* y (n, n_out) = x (n, n_in) W^T, W (n_out, n_in) */
static void lin_fwd(struct train_model *m, enum train_tensor kind, size_t layer, const float *x,
                    size_t n, size_t n_in, float *y, size_t n_out)
{
    struct gemm_job j = {.x = x, .w = m->w + tensor_off(m, kind, layer), .y = y, .n = n,
                         .n_in = n_in, .n_out = n_out};
    if (m->quant)
        qlin(m, kind, layer, x, y, NULL, NULL, 0.0f, n, n_in, n_out);
    else
        par_run(m, n, lin_fwd_part, &j);
    if (m->has_hook && m->hook.fwd)
        m->hook.fwd(m->hook.ctx, kind, layer, n, x, n_in, y, n_out);
}

/* dW += dy^T x; dx = beta * dx + dy W */
static void lin_bwd(struct train_model *m, enum train_tensor kind, size_t layer, const float *x,
                    const float *dy, size_t n, size_t n_in, size_t n_out, float *dx, float beta)
{
    size_t o = tensor_off(m, kind, layer);
    struct gemm_job j = {.x = x, .w = m->w + o, .dy = dy, .dx = dx, .dw = m->grad + o, .n = n,
                         .n_in = n_in, .n_out = n_out, .beta = beta};
    if (!m->frozen)
        par_run(m, n_out, lin_dw_part, &j);
    if (m->quant)
        qlin(m, kind, layer, NULL, NULL, dy, dx, beta, n, n_in, n_out);
    else
        par_run(m, n, lin_dx_part, &j);
    if (m->has_hook && m->hook.bwd)
        m->hook.bwd(m->hook.ctx, kind, layer, n, x, n_in, dy, n_out, dx);
}

struct norm_job {
    const float *x, *w, *dy;
    float *y, *r, *dx, *dw, *dwpart;
    size_t d;
    float eps;
    bool acc;
};

/* y = x / rms(x) * w per row; r[i] = 1 / rms */
static void rmsnorm_fwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct norm_job *j = ctx;
    size_t d = j->d;
    for (size_t i = b; i < e; i++) {
        const float *xi = j->x + i * d;
        double ss = 0;
        for (size_t k = 0; k < d; k++)
            ss += (double)xi[k] * xi[k];
        float ri = (float)(1.0 / sqrt(ss / (double)d + (double)j->eps));
        j->r[i] = ri;
        for (size_t k = 0; k < d; k++)
            j->y[i * d + k] = xi[k] * ri * j->w[k];
    }
}

/* dx (=, or += when acc) from dy; this part's share of dw into dwpart[part] */
static void rmsnorm_bwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    const struct norm_job *j = ctx;
    size_t d = j->d;
    float *dw = j->dwpart + part * d;
    memset(dw, 0, d * sizeof(float));
    for (size_t i = b; i < e; i++) {
        const float *xi = j->x + i * d, *dyi = j->dy + i * d;
        float *dxi = j->dx + i * d;
        float ri = j->r[i];
        double s = 0;
        for (size_t k = 0; k < d; k++) {
            s += (double)dyi[k] * j->w[k] * xi[k];
            dw[k] += dyi[k] * xi[k] * ri;
        }
        float c = (float)(s * (double)ri * ri * ri / (double)d);
        for (size_t k = 0; k < d; k++) {
            float v = ri * dyi[k] * j->w[k] - xi[k] * c;
            dxi[k] = j->acc ? dxi[k] + v : v;
        }
    }
}

static void rmsnorm_fwd(struct train_model *m, const float *x, const float *w, float *y,
                        float *r, size_t n)
{
    struct norm_job j = {.x = x, .w = w, .y = y, .r = r, .d = m->c.dim, .eps = m->c.norm_eps};
    par_run(m, n, rmsnorm_fwd_part, &j);
}

static void rmsnorm_bwd(struct train_model *m, const float *x, const float *w, const float *r,
                        const float *dy, float *dx, float *dw, size_t n, bool acc)
{
    size_t d = m->c.dim;
    struct norm_job j = {.x = x, .w = w, .r = (float *)(uintptr_t)r, .dy = dy, .dx = dx,
                         .dwpart = m->dwpart, .d = d, .acc = acc};
    par_run(m, n, rmsnorm_bwd_part, &j);
    size_t used = n < m->n_parts ? n : m->n_parts; /* parts with rows, in order */
    for (size_t p = 0; p < used && !m->frozen; p++)
        for (size_t k = 0; k < d; k++)
            dw[k] += m->dwpart[p * d + k];
}

struct rope_job {
    const struct train_model *m;
    float *x;
    size_t width;
    const int32_t *pos;
    float sign;
};

/* Rotate (sign = 1) or rotate back (sign = -1, the transpose) rows of width n_heads * hd. */
static void rope_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct rope_job *j = ctx;
    size_t hd = j->m->hd;
    for (size_t i = b; i < e; i++) {
        const float *cs = j->m->rope + (size_t)j->pos[i] * hd;
        float *row = j->x + i * j->width;
        for (size_t h = 0; h < j->width; h += hd) {
            for (size_t p = 0; p < hd / 2; p++) {
                float c = cs[2 * p], s = j->sign * cs[2 * p + 1];
                float a = row[h + 2 * p], bb = row[h + 2 * p + 1];
                row[h + 2 * p] = a * c - bb * s;
                row[h + 2 * p + 1] = a * s + bb * c;
            }
        }
    }
}

static void rope_apply(struct train_model *m, float *x, size_t n, size_t width,
                       const int32_t *pos, float sign)
{
    struct rope_job j = {m, x, width, pos, sign};
    par_run(m, n, rope_part, &j);
}

struct ew_job {
    const float *a, *b, *c;
    float *y, *y2;
};

/* y = a + b */
static void add_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct ew_job *j = ctx;
    for (size_t i = b; i < e; i++)
        j->y[i] = j->a[i] + j->b[i];
}

/* y = silu(g) * u, with g = a, u = b */
static void swiglu_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct ew_job *j = ctx;
    for (size_t i = b; i < e; i++) {
        float g = j->a[i];
        j->y[i] = g / (1.0f + expf(-g)) * j->b[i];
    }
}

/* from dh = c: dg into y, du into y2 */
static void swiglu_bwd_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct ew_job *j = ctx;
    for (size_t i = b; i < e; i++) {
        float g = j->a[i], sg = 1.0f / (1.0f + expf(-g)), dh = j->c[i];
        j->y2[i] = dh * g * sg;
        j->y[i] = dh * j->b[i] * sg * (1.0f + g * (1.0f - sg));
    }
}

static void ew_run(struct train_model *m, size_t n, part_fn fn, const float *a, const float *b,
                   const float *c, float *y, float *y2)
{
    struct ew_job j = {a, b, c, y, y2};
    par_run(m, n, fn, &j);
}

static enum status check_batch(const struct train_model *m, const struct train_batch *b)
{
    if (b->n_seq == 0 || b->seq_len == 0 || b->seq_len > m->c.n_ctx)
        return status_detail_set(STATUS_INVALID, _("batch of %zu x %zu tokens does not fit "
                                                   "context %zu"),
                                 b->n_seq, b->seq_len, m->c.n_ctx);
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t t = 0; t < b->seq_len; t++) {
            size_t i = s * b->seq_len + t;
            int32_t tok = b->tokens[i], tg = b->targets[i], p = b->pos[i];
            if (tok < 0 || (size_t)tok >= m->c.n_vocab || tg < -1 ||
                (tg >= 0 && (size_t)tg >= m->c.n_vocab))
                return status_detail_set(STATUS_INVALID, _("token id out of range at %zu"), i);
            if (p < 0 || (size_t)p > t || (p > 0 && b->pos[i - 1] != p - 1))
                return status_detail_set(STATUS_INVALID, _("bad position at %zu"), i);
        }
    }
    return STATUS_OK;
}

struct attn_job {
    struct train_model *m;
    const struct train_batch *b;
    struct layer_act *a;
};

/* Units are (sequence, kv head) pairs; each does the query heads of its group, so that
 * dK and dV of a kv head are written by one part only. */
static void attn_fwd_part(void *ctx, size_t ub, size_t ue, size_t part)
{
    (void)part;
    const struct attn_job *j = ctx;
    const struct train_model *m = j->m;
    struct layer_act *a = j->a;
    size_t T = j->b->seq_len, hd = m->hd, QD = m->q_dim, KD = m->kv_dim, H = m->c.n_head;
    size_t nkv = m->c.n_head_kv, group = H / nkv;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t u = ub; u < ue; u++) {
        size_t s = u / nkv, kh = u % nkv;
        const int32_t *pos = j->b->pos + s * T;
        const float *k = a->k + s * T * KD + kh * hd;
        const float *v = a->v + s * T * KD + kh * hd;
        for (size_t h = kh * group; h < (kh + 1) * group; h++) {
            float *P = a->att + (s * H + h) * T * T;
            const float *q = a->q + s * T * QD + h * hd;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)hd, scale,
                        q, (int)QD, k, (int)KD, 0.0f, P, (int)T);
            for (size_t t = 0; t < T; t++) {
                float *row = P + t * T;
                size_t j0 = t - (size_t)pos[t];
                float mx = row[j0];
                for (size_t i = j0 + 1; i <= t; i++)
                    mx = row[i] > mx ? row[i] : mx;
                float sum = 0;
                for (size_t i = j0; i <= t; i++) {
                    row[i] = expf(row[i] - mx); /* subtract the max: no overflow */
                    sum += row[i];
                }
                float inv = 1.0f / sum;
                for (size_t i = 0; i < j0; i++)
                    row[i] = 0;
                for (size_t i = j0; i <= t; i++)
                    row[i] *= inv;
                for (size_t i = t + 1; i < T; i++)
                    row[i] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f,
                        P, (int)T, v, (int)KD, 0.0f, a->ao + s * T * QD + h * hd, (int)QD);
        }
    }
}

static void attn_bwd_part(void *ctx, size_t ub, size_t ue, size_t part)
{
    const struct attn_job *j = ctx;
    struct train_model *m = j->m;
    const struct layer_act *a = j->a;
    size_t T = j->b->seq_len, hd = m->hd, QD = m->q_dim, KD = m->kv_dim, H = m->c.n_head;
    size_t nkv = m->c.n_head_kv, group = H / nkv;
    float scale = 1.0f / sqrtf((float)hd);
    float *dP = m->dp + part * 2 * T * T, *dS = dP + T * T;
    for (size_t u = ub; u < ue; u++) {
        size_t s = u / nkv, kh = u % nkv;
        const int32_t *pos = j->b->pos + s * T;
        const float *k = a->k + s * T * KD + kh * hd;
        const float *v = a->v + s * T * KD + kh * hd;
        float *dk = m->dk + s * T * KD + kh * hd;
        float *dv = m->dv + s * T * KD + kh * hd;
        for (size_t t = 0; t < T; t++) {
            memset(dk + t * KD, 0, hd * sizeof(float));
            memset(dv + t * KD, 0, hd * sizeof(float));
        }
        for (size_t h = kh * group; h < (kh + 1) * group; h++) {
            const float *P = a->att + (s * H + h) * T * T;
            const float *q = a->q + s * T * QD + h * hd;
            const float *dO = m->dao + s * T * QD + h * hd;
            float *dq = m->dq + s * T * QD + h * hd;
            /* dV += P^T dO; dP = dO V^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f, P,
                        (int)T, dO, (int)QD, 1.0f, dv, (int)KD);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)hd, 1.0f, dO,
                        (int)QD, v, (int)KD, 0.0f, dP, (int)T);
            /* softmax: dS = P * (dP - sum_i P dP), times the score scale */
            for (size_t t = 0; t < T; t++) {
                const float *pr = P + t * T, *dpr = dP + t * T;
                float *dsr = dS + t * T;
                size_t j0 = t - (size_t)pos[t];
                float dot = 0;
                for (size_t i = j0; i <= t; i++)
                    dot += pr[i] * dpr[i];
                for (size_t i = 0; i < T; i++)
                    dsr[i] = (i >= j0 && i <= t) ? scale * pr[i] * (dpr[i] - dot) : 0.0f;
            }
            /* dQ = dS K; dK += dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f,
                        dS, (int)T, k, (int)KD, 0.0f, dq, (int)QD);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)hd, (int)T, 1.0f, dS,
                        (int)T, q, (int)QD, 1.0f, dk, (int)KD);
        }
    }
}

/* The forward pass; leaves logits in m->logits and all activations saved. */
static void forward(struct train_model *m, const struct train_batch *b)
{
    const struct train_config *c = &m->c;
    size_t T = b->seq_len, n = b->n_seq * T, D = c->dim, F = c->n_ff;
    size_t QD = m->q_dim, KD = m->kv_dim;
    const float *emb = m->w + tensor_off(m, TRAIN_TENSOR_TOK_EMBD, 0);
    const struct qweight *qe = m->quant ? &m->qw[qslot(m, TRAIN_TENSOR_TOK_EMBD, 0)] : NULL;
    float *x0 = m->la[0].x;
    for (size_t i = 0; i < n; i++) {
        if (qe)
            quant_dequantize_row(qe->type, qe->data + (size_t)b->tokens[i] * qe->row_bytes,
                                 x0 + i * D, D);
        else
            memcpy(x0 + i * D, emb + (size_t)b->tokens[i] * D, D * sizeof(float));
    }
    for (size_t l = 0; l < c->n_layer; l++) {
        struct layer_act *a = &m->la[l];
        float *xnext = l + 1 < c->n_layer ? m->la[l + 1].x : m->xfin;
        rmsnorm_fwd(m, a->x, m->w + tensor_off(m, TRAIN_TENSOR_ATTN_NORM, l), a->xn1, a->r1, n);
        lin_fwd(m, TRAIN_TENSOR_ATTN_Q, l, a->xn1, n, D, a->q, QD);
        lin_fwd(m, TRAIN_TENSOR_ATTN_K, l, a->xn1, n, D, a->k, KD);
        lin_fwd(m, TRAIN_TENSOR_ATTN_V, l, a->xn1, n, D, a->v, KD);
        rope_apply(m, a->q, n, QD, b->pos, 1.0f);
        rope_apply(m, a->k, n, KD, b->pos, 1.0f);
        struct attn_job aj = {m, b, a};
        par_run(m, b->n_seq * c->n_head_kv, attn_fwd_part, &aj);
        lin_fwd(m, TRAIN_TENSOR_ATTN_OUTPUT, l, a->ao, n, QD, m->tmp, D);
        ew_run(m, n * D, add_part, a->x, m->tmp, NULL, a->xmid, NULL);
        rmsnorm_fwd(m, a->xmid, m->w + tensor_off(m, TRAIN_TENSOR_FFN_NORM, l), a->xn2, a->r2, n);
        lin_fwd(m, TRAIN_TENSOR_FFN_GATE, l, a->xn2, n, D, a->g, F);
        lin_fwd(m, TRAIN_TENSOR_FFN_UP, l, a->xn2, n, D, a->u, F);
        ew_run(m, n * F, swiglu_part, a->g, a->u, NULL, a->h, NULL);
        lin_fwd(m, TRAIN_TENSOR_FFN_DOWN, l, a->h, n, F, m->tmp, D);
        ew_run(m, n * D, add_part, a->xmid, m->tmp, NULL, xnext, NULL);
    }
    rmsnorm_fwd(m, m->xfin, m->w + tensor_off(m, TRAIN_TENSOR_OUTPUT_NORM, 0), m->xnf, m->rf, n);
    lin_fwd(m, TRAIN_TENSOR_OUTPUT, 0, m->xnf, n, D, m->logits, c->n_vocab);
}

struct ce_job {
    struct train_model *m;
    const int32_t *targets;
    float dscale;
    bool grad;
    double loss[2 * POOL_MAX_THREADS];
    size_t cnt[2 * POOL_MAX_THREADS];
};

/* Cross-entropy of the rows with a target; with grad the logits are replaced by
 * dscale * d(loss)/d(logits) (zero rows for tokens without a target). */
static void ce_part(void *ctx, size_t b, size_t e, size_t part)
{
    struct ce_job *j = ctx;
    size_t V = j->m->c.n_vocab;
    double total = 0;
    size_t cnt = 0;
    for (size_t i = b; i < e; i++) {
        float *z = j->m->logits + i * V;
        int32_t tg = j->targets[i];
        if (tg < 0) {
            if (j->grad)
                memset(z, 0, V * sizeof(float));
            continue;
        }
        float mx = z[0], zt = z[tg];
        for (size_t k = 1; k < V; k++)
            mx = z[k] > mx ? z[k] : mx;
        /* one expf per logit (the max subtracted: no overflow), summed in double */
        double sum = 0;
        if (j->grad) {
            for (size_t k = 0; k < V; k++) {
                float ex = expf(z[k] - mx);
                z[k] = ex;
                sum += ex;
            }
        } else {
            for (size_t k = 0; k < V; k++)
                sum += expf(z[k] - mx);
        }
        total += log(sum) + (double)mx - (double)zt;
        cnt++;
        if (j->grad) {
            float f = (float)((double)j->dscale / sum);
            for (size_t k = 0; k < V; k++)
                z[k] *= f;
            z[tg] -= j->dscale;
        }
    }
    j->loss[part] = total;
    j->cnt[part] = cnt;
}

static void cross_entropy(struct train_model *m, const struct train_batch *b, float dscale,
                          bool grad, double *loss_sum, size_t *n_loss)
{
    struct ce_job j = {.m = m, .targets = b->targets, .dscale = dscale, .grad = grad};
    par_run(m, b->n_seq * b->seq_len, ce_part, &j);
    double total = 0;
    size_t cnt = 0;
    for (size_t p = 0; p < m->n_parts; p++) { /* in part order: deterministic */
        total += j.loss[p];
        cnt += j.cnt[p];
    }
    if (loss_sum)
        *loss_sum = total;
    if (n_loss)
        *n_loss = cnt;
}

enum status train_forward(struct train_model *m, const struct train_batch *b, double *loss_sum,
                          size_t *n_loss, float *logits)
{
    enum status st = check_batch(m, b);
    if (st == STATUS_OK)
        st = ensure_act(m, b->n_seq, b->seq_len);
    if (st != STATUS_OK)
        return st;
    forward(m, b);
    if (logits)
        memcpy(logits, m->logits, b->n_seq * b->seq_len * m->c.n_vocab * sizeof(float));
    cross_entropy(m, b, 0, false, loss_sum, n_loss);
    return STATUS_OK;
}

enum status train_backward(struct train_model *m, const struct train_batch *b, float grad_scale,
                           double *loss_sum, size_t *n_loss)
{
    enum status st = check_batch(m, b);
    if (st == STATUS_OK)
        st = ensure_act(m, b->n_seq, b->seq_len);
    if (st != STATUS_OK)
        return st;
    forward(m, b);
    cross_entropy(m, b, grad_scale, true, loss_sum, n_loss);

    const struct train_config *c = &m->c;
    size_t T = b->seq_len, n = b->n_seq * T, D = c->dim, F = c->n_ff;
    size_t QD = m->q_dim, KD = m->kv_dim;

    /* head and final norm: dx = d loss / d xfin */
    lin_bwd(m, TRAIN_TENSOR_OUTPUT, 0, m->xnf, m->logits, n, D, c->n_vocab, m->dxn, 0.0f);
    rmsnorm_bwd(m, m->xfin, m->w + tensor_off(m, TRAIN_TENSOR_OUTPUT_NORM, 0), m->rf, m->dxn,
                m->dx, m->grad + tensor_off(m, TRAIN_TENSOR_OUTPUT_NORM, 0), n, false);
    for (size_t l = c->n_layer; l-- > 0;) {
        struct layer_act *a = &m->la[l];
        /* feed-forward: dx is d/d(x after the layer) = d/d xmid through the residual */
        lin_bwd(m, TRAIN_TENSOR_FFN_DOWN, l, a->h, m->dx, n, F, D, m->dh, 0.0f);
        ew_run(m, n * F, swiglu_bwd_part, a->g, a->u, m->dh, m->dg, m->du);
        lin_bwd(m, TRAIN_TENSOR_FFN_GATE, l, a->xn2, m->dg, n, D, F, m->dxn, 0.0f);
        lin_bwd(m, TRAIN_TENSOR_FFN_UP, l, a->xn2, m->du, n, D, F, m->dxn, 1.0f);
        rmsnorm_bwd(m, a->xmid, m->w + tensor_off(m, TRAIN_TENSOR_FFN_NORM, l), a->r2, m->dxn,
                    m->dx, m->grad + tensor_off(m, TRAIN_TENSOR_FFN_NORM, l), n, true);
        /* attention: dx is now d/d xmid */
        lin_bwd(m, TRAIN_TENSOR_ATTN_OUTPUT, l, a->ao, m->dx, n, QD, D, m->dao, 0.0f);
        struct attn_job aj = {m, b, a};
        par_run(m, b->n_seq * c->n_head_kv, attn_bwd_part, &aj);
        rope_apply(m, m->dq, n, QD, b->pos, -1.0f);
        rope_apply(m, m->dk, n, KD, b->pos, -1.0f);
        lin_bwd(m, TRAIN_TENSOR_ATTN_Q, l, a->xn1, m->dq, n, D, QD, m->dxn, 0.0f);
        lin_bwd(m, TRAIN_TENSOR_ATTN_K, l, a->xn1, m->dk, n, D, KD, m->dxn, 1.0f);
        lin_bwd(m, TRAIN_TENSOR_ATTN_V, l, a->xn1, m->dv, n, D, KD, m->dxn, 1.0f);
        rmsnorm_bwd(m, a->x, m->w + tensor_off(m, TRAIN_TENSOR_ATTN_NORM, l), a->r1, m->dxn,
                    m->dx, m->grad + tensor_off(m, TRAIN_TENSOR_ATTN_NORM, l), n, true);
    }
    float *demb = m->grad + tensor_off(m, TRAIN_TENSOR_TOK_EMBD, 0);
    for (size_t i = 0; i < n && !m->frozen; i++) {
        float *row = demb + (size_t)b->tokens[i] * D;
        for (size_t j = 0; j < D; j++)
            row[j] += m->dx[i * D + j];
    }
    return STATUS_OK;
}

/* ---- Optimizer ------------------------------------------------------------------------- */

void train_opt_params_init(struct train_opt_params *p)
{
    memset(p, 0, sizeof *p);
    p->lr = 1e-3f;
    p->lr_min = 1e-4f;
    p->warmup = 100;
    p->total = 1000;
    p->beta1 = 0.9f;
    p->beta2 = 0.95f;
    p->eps = 1e-8f;
    p->weight_decay = 0.1f;
    p->clip = 1.0f;
}

float train_lr(const struct train_opt_params *p, size_t step)
{
    if (step < 1)
        step = 1;
    if (p->warmup > 0 && step <= p->warmup)
        return p->lr * (float)step / (float)p->warmup;
    if (step >= p->total || p->total <= p->warmup)
        return step >= p->total ? p->lr_min : p->lr;
    double frac = (double)(step - p->warmup) / (double)(p->total - p->warmup);
    return (float)(p->lr_min + 0.5 * (p->lr - p->lr_min) * (1.0 + cos(M_PI * frac)));
}

struct opt_job {
    struct train_model *m;
    const struct train_opt_params *p;
    size_t off;
    float cf, lr, bc1, bc2, wd;
    double ss[2 * POOL_MAX_THREADS];
};

static void sumsq_part(void *ctx, size_t b, size_t e, size_t part)
{
    struct opt_job *j = ctx;
    const float *g = j->m->grad;
    double s = 0;
    for (size_t i = b; i < e; i++)
        s += (double)g[i] * g[i];
    j->ss[part] = s;
}

static void adamw_part(void *ctx, size_t b, size_t e, size_t part)
{
    (void)part;
    const struct opt_job *j = ctx;
    const struct train_opt_params *p = j->p;
    size_t o = j->off;
    float *w = j->m->w + o, *g = j->m->grad + o, *m1 = j->m->m1 + o, *m2 = j->m->m2 + o;
    for (size_t i = b; i < e; i++) {
        float gi = g[i] * j->cf;
        m1[i] = p->beta1 * m1[i] + (1.0f - p->beta1) * gi;
        m2[i] = p->beta2 * m2[i] + (1.0f - p->beta2) * gi * gi;
        float mh = m1[i] / j->bc1, vh = m2[i] / j->bc2;
        w[i] -= j->lr * (mh / (sqrtf(vh) + p->eps) + j->wd * w[i]);
    }
}

void train_opt_step(struct train_model *m, const struct train_opt_params *p, float *grad_norm)
{
    struct opt_job j = {.m = m, .p = p};
    if (m->frozen) {
        m->step++;
        if (grad_norm)
            *grad_norm = 0;
        return;
    }
    par_run(m, m->n_params, sumsq_part, &j);
    double ss = 0;
    for (size_t k = 0; k < m->n_parts; k++)
        ss += j.ss[k];
    float norm = (float)sqrt(ss);
    if (grad_norm)
        *grad_norm = norm;
    j.cf = (p->clip > 0 && norm > p->clip) ? p->clip / norm : 1.0f;
    m->step++;
    j.lr = train_lr(p, m->step);
    j.bc1 = (float)(1.0 - pow(p->beta1, (double)m->step));
    j.bc2 = (float)(1.0 - pow(p->beta2, (double)m->step));
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        enum train_tensor kind = (enum train_tensor)t;
        bool decay = is_norm_kind(kind) ? p->decay_norm
                     : kind == TRAIN_TENSOR_TOK_EMBD ? p->decay_embd : true;
        j.wd = decay ? p->weight_decay : 0.0f;
        size_t nl = is_layer_kind(kind) ? m->c.n_layer : 1, cnt = tensor_n(m, kind);
        for (size_t l = 0; l < nl; l++) {
            j.off = tensor_off(m, kind, l);
            par_run(m, cnt, adamw_part, &j);
        }
    }
}

/* ---- Files ---------------------------------------------------------------------------- */

enum status train_add_to_writer(struct train_model *m, struct gguf_writer *w, bool with_opt)
{
    const struct train_config *c = &m->c;
    enum status st;
    if (m->quant)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("a quantized frozen base model is not written by training"));
    if ((st = gguf_writer_set_str(w, "general.architecture", "llama")) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "general.file_type", 0)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->n_ctx)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layer)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_head)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_head_kv)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)m->hd)) !=
            STATUS_OK ||
        (st = gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_base)) != STATUS_OK ||
        (st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps)) !=
            STATUS_OK ||
        (st = gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->n_vocab)) != STATUS_OK)
        return st;
    if (with_opt && (st = gguf_writer_set_u64(w, "train.step", m->step)) != STATUS_OK)
        return st;
    for (int pass = 0; pass < (with_opt ? 3 : 1); pass++) {
        const float *base = pass == 0 ? m->w : pass == 1 ? m->m1 : m->m2;
        for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
            enum train_tensor kind = (enum train_tensor)t;
            size_t nl = is_layer_kind(kind) ? c->n_layer : 1, rows, cols;
            tensor_shape(m, kind, &rows, &cols);
            for (size_t l = 0; l < nl; l++) {
                char name[96], full[112];
                train_tensor_name(kind, l, name, sizeof name);
                snprintf(full, sizeof full, "%s%s", pass == 0 ? "" : pass == 1 ? "train.m." :
                         "train.v.", name);
                uint64_t dims[2] = {cols, rows};
                st = gguf_writer_add_tensor(w, full, DTYPE_F32, rows > 1 ? 2 : 1, dims,
                                            base + tensor_off(m, kind, l),
                                            rows * cols * sizeof(float));
                if (st != STATUS_OK)
                    return st;
            }
        }
    }
    return STATUS_OK;
}

enum status train_load_opt(struct train_model *m, const struct gguf *g)
{
    int64_t step;
    if (m->quant)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("a quantized frozen base model has no optimizer state"));
    enum status st = gguf_get_int(g, "train.step", &step);
    if (st != STATUS_OK || step < 0)
        return status_detail_set(STATUS_NOT_FOUND, _("no optimizer state (train.step) in the "
                                                     "checkpoint"));
    for (int pass = 1; pass < 3; pass++) {
        float *base = pass == 1 ? m->m1 : m->m2;
        for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
            enum train_tensor kind = (enum train_tensor)t;
            size_t nl = is_layer_kind(kind) ? m->c.n_layer : 1, rows, cols;
            tensor_shape(m, kind, &rows, &cols);
            for (size_t l = 0; l < nl; l++) {
                char name[96], full[112];
                train_tensor_name(kind, l, name, sizeof name);
                snprintf(full, sizeof full, "%s%s", pass == 1 ? "train.m." : "train.v.", name);
                int64_t i = gguf_find_tensor(g, full);
                if (i < 0 || gguf_tensor_type(g, i) != DTYPE_F32 ||
                    gguf_tensor_n_elements(g, i) != (uint64_t)rows * cols)
                    return status_detail_set(STATUS_FORMAT,
                                             _("checkpoint tensor %s is missing or malformed"),
                                             full);
                memcpy(base + tensor_off(m, kind, l), gguf_tensor_data(g, i),
                       rows * cols * sizeof(float));
            }
        }
    }
    m->step = (size_t)step;
    return STATUS_OK;
}
