/* lora.c -- LoRA adapter files: validation, F32 deltas applied at run time, merging. */
#include "config.h"
#include "engine/lora.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "engine/gguf.h"
#include "engine/quant.h"
#include "util/i18n.h"

#define LORA_SUFFIX_A ".lora_a"
#define LORA_SUFFIX_B ".lora_b"
#define LORA_SUFFIX_LEN 7
#define LORA_NORM_SUFFIX "_norm.weight"
#define LORA_EMBD_SUFFIX "token_embd.weight"
#define LORA_MAX_DIM ((uint64_t)1 << 31) /* BLAS takes int sizes */
/* rows of a merged tensor converted to F32 at once: bounds the temporary buffer */
#define LORA_MERGE_CHUNK_FLOATS ((size_t)1 << 22)

/* ---- One adapter file ---------------------------------------------------------------- */

struct lora_target {
    char *name;       /* base tensor name; owned */
    int64_t ia, ib;   /* tensor indices of lora_a, lora_b in g */
    bool embd;        /* the token_embd layout */
    size_t rank, n_in, n_out;
};

struct lora {
    const struct gguf *g; /* borrowed, or owned when own_g */
    bool own_g;
    char *arch;           /* owned */
    float alpha;
    struct lora_target *t; /* (n_t), sorted by name */
    size_t n_t, n_ignored;
};

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int target_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lora_target *)a)->name, ((const struct lora_target *)b)->name);
}

static struct lora_target *target_find(struct lora *l, const char *name)
{
    for (size_t i = 0; i < l->n_t; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    return NULL;
}

/* A string key that must be present and equal want (general.type, adapter.type). */
static enum status check_str_key(const struct gguf *g, const char *key, const char *want,
                                 enum status wrong)
{
    const char *s;
    size_t len;
    enum status st = gguf_get_str(g, key, &s, &len);
    if (st == STATUS_NOT_FOUND)
        /* TRANSLATORS: %s is a metadata key such as general.type */
        return status_detail_set(STATUS_FORMAT, _("not a LoRA adapter: key %s is missing"), key);
    if (st != STATUS_OK)
        return st;
    if (len != strlen(want) || memcmp(s, want, len) != 0)
        /* TRANSLATORS: first %s is a key, then its value in the file, then the value wanted */
        return status_detail_set(wrong, _("not a LoRA adapter: %s is '%.*s', expected '%s'"),
                                 key, (int)(len > 64 ? 64 : len), s, want);
    return STATUS_OK;
}

static enum status check_pair_tensor(const struct gguf *g, int64_t i)
{
    enum dtype ty = gguf_tensor_type(g, i);
    if (ty != DTYPE_F32 && ty != DTYPE_F16 && ty != DTYPE_BF16 && ty != DTYPE_Q8_0) {
        const char *name = dtype_name(ty);
        /* TRANSLATORS: first %s is a tensor name, second a type such as Q4_K */
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("LoRA tensor %s has type %s; F32, F16, BF16 or Q8_0 "
                                   "are supported"),
                                 gguf_tensor_name(g, i), name ? name : "?");
    }
    if (gguf_tensor_n_dims(g, i) > 2)
        return status_detail_set(STATUS_FORMAT, _("LoRA tensor %s has more than 2 dimensions"),
                                 gguf_tensor_name(g, i));
    for (uint32_t d = 0; d < 2; d++)
        if (gguf_tensor_dim(g, i, d) == 0 || gguf_tensor_dim(g, i, d) > LORA_MAX_DIM)
            return status_detail_set(STATUS_FORMAT, _("LoRA tensor %s has a dimension out of "
                                                      "range"),
                                     gguf_tensor_name(g, i));
    return STATUS_OK;
}

/* Fill rank and shape of a complete pair, checking that A and B agree on the rank. */
static enum status target_shape(const struct gguf *g, struct lora_target *t)
{
    enum status st = check_pair_tensor(g, t->ia);
    if (st == STATUS_OK)
        st = check_pair_tensor(g, t->ib);
    if (st != STATUS_OK)
        return st;
    uint64_t a0 = gguf_tensor_dim(g, t->ia, 0), a1 = gguf_tensor_dim(g, t->ia, 1);
    uint64_t b0 = gguf_tensor_dim(g, t->ib, 0), b1 = gguf_tensor_dim(g, t->ib, 1);
    uint64_t ra = t->embd ? a0 : a1;
    if (ra != b0)
        /* TRANSLATORS: %s is a tensor name; the numbers are the ranks of lora_a and lora_b */
        return status_detail_set(STATUS_FORMAT,
                                 _("LoRA pair for %s: lora_a has rank %llu but lora_b has "
                                   "rank %llu"),
                                 t->name, (unsigned long long)ra, (unsigned long long)b0);
    t->rank = (size_t)b0;
    t->n_in = (size_t)(t->embd ? b1 : a0);
    t->n_out = (size_t)(t->embd ? a1 : b1);
    return STATUS_OK;
}

static enum status lora_load(struct lora *l)
{
    const struct gguf *g = l->g;
    enum status st = check_str_key(g, "general.type", "adapter", STATUS_FORMAT);
    if (st == STATUS_OK)
        st = check_str_key(g, "adapter.type", "lora", STATUS_UNSUPPORTED);
    if (st != STATUS_OK)
        return st;
    const char *arch;
    st = gguf_get_cstr(g, "general.architecture", &arch);
    if (st == STATUS_NOT_FOUND)
        return status_detail_set(STATUS_FORMAT, _("not a LoRA adapter: key %s is missing"),
                                 "general.architecture");
    if (st != STATUS_OK)
        return st;
    l->arch = strdup(arch);
    if (!l->arch)
        return STATUS_NOMEM;
    double alpha = 0.0;
    st = gguf_get_float(g, "adapter.lora.alpha", &alpha);
    if (st != STATUS_OK && st != STATUS_NOT_FOUND)
        return st;
    if (!isfinite(alpha) || fabs(alpha) > 1e30)
        return status_detail_set(STATUS_FORMAT, _("adapter.lora.alpha is not a finite number"));
    l->alpha = (float)alpha;

    int64_t n = gguf_n_tensors(g);
    l->t = calloc(n > 0 ? (size_t)n : 1, sizeof *l->t);
    if (!l->t)
        return STATUS_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        const char *name = gguf_tensor_name(g, i);
        size_t len = strlen(name);
        bool is_a = ends_with(name, len, LORA_SUFFIX_A);
        if (!is_a && !ends_with(name, len, LORA_SUFFIX_B)) {
            if (ends_with(name, len, LORA_NORM_SUFFIX)) {
                l->n_ignored++;
                continue;
            }
            /* TRANSLATORS: %s is a tensor name; .lora_a and .lora_b are literal */
            return status_detail_set(STATUS_FORMAT, _("LoRA adapter tensor %s does not end in "
                                                      ".lora_a or .lora_b"),
                                     name);
        }
        if (len == LORA_SUFFIX_LEN)
            return status_detail_set(STATUS_FORMAT, _("LoRA adapter tensor %s names no base "
                                                      "tensor"),
                                     name);
        char *base = strndup(name, len - LORA_SUFFIX_LEN);
        if (!base)
            return STATUS_NOMEM;
        struct lora_target *t = target_find(l, base);
        if (!t) {
            t = &l->t[l->n_t++];
            t->name = base;
            t->ia = t->ib = -1;
            t->embd = ends_with(base, strlen(base), LORA_EMBD_SUFFIX);
        } else {
            free(base);
        }
        /* names are unique in a GGUF file, so a slot is never filled twice */
        if (is_a)
            t->ia = i;
        else
            t->ib = i;
    }
    for (size_t i = 0; i < l->n_t; i++) {
        struct lora_target *t = &l->t[i];
        if (t->ia < 0 || t->ib < 0)
            /* TRANSLATORS: first %s is a base tensor name, second "lora_a" or "lora_b" */
            return status_detail_set(STATUS_FORMAT, _("LoRA pair for %s lacks its %s tensor"),
                                     t->name, t->ia < 0 ? "lora_a" : "lora_b");
        st = target_shape(g, t);
        if (st != STATUS_OK)
            return st;
    }
    qsort(l->t, l->n_t, sizeof *l->t, target_cmp);
    return STATUS_OK;
}

enum status lora_open_gguf(const struct gguf *g, struct lora **out)
{
    struct lora *l = calloc(1, sizeof *l);
    if (!l)
        return STATUS_NOMEM;
    l->g = g;
    enum status st = lora_load(l);
    if (st != STATUS_OK) {
        lora_close(l);
        return st;
    }
    *out = l;
    return STATUS_OK;
}

enum status lora_open(const char *path, struct lora **out)
{
    struct gguf *g;
    enum status st = gguf_open(path, &g);
    if (st != STATUS_OK)
        return st;
    struct lora *l;
    st = lora_open_gguf(g, &l);
    if (st != STATUS_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        gguf_close(g);
        return status_detail_set(st, "%s: %s", path, detail);
    }
    l->own_g = true;
    *out = l;
    return STATUS_OK;
}

void lora_close(struct lora *l)
{
    if (!l)
        return;
    if (l->t)
        for (size_t i = 0; i < l->n_t; i++)
            free(l->t[i].name);
    free(l->t);
    free(l->arch);
    if (l->own_g)
        gguf_close((struct gguf *)(uintptr_t)l->g);
    free(l);
}

enum status lora_check_base(const struct lora *l, const struct gguf *base)
{
    const char *arch;
    enum status st = gguf_get_cstr(base, "general.architecture", &arch);
    if (st == STATUS_NOT_FOUND)
        arch = "";
    else if (st != STATUS_OK)
        return st;
    if (strcmp(arch, l->arch) != 0)
        /* TRANSLATORS: the two %s are architecture names such as "llama" */
        return status_detail_set(STATUS_INVALID, _("the adapter is for architecture '%s' but "
                                                   "the base model is '%s'"),
                                 l->arch, arch);
    for (size_t i = 0; i < l->n_t; i++) {
        const struct lora_target *t = &l->t[i];
        int64_t bi = gguf_find_tensor(base, t->name);
        if (bi < 0)
            /* TRANSLATORS: %s is a tensor name */
            return status_detail_set(STATUS_NOT_FOUND, _("the adapter changes tensor %s, which "
                                                         "the base model lacks (wrong base "
                                                         "model?)"),
                                     t->name);
        if (gguf_tensor_n_dims(base, bi) > 2 || gguf_tensor_dim(base, bi, 0) != t->n_in ||
            gguf_tensor_dim(base, bi, 1) != t->n_out)
            /* TRANSLATORS: %s is a tensor name; the numbers are its dimensions */
            return status_detail_set(STATUS_INVALID, _("tensor %s is %llu x %llu in the base "
                                                       "model but %zu x %zu in the adapter "
                                                       "(wrong base model?)"),
                                     t->name, (unsigned long long)gguf_tensor_dim(base, bi, 0),
                                     (unsigned long long)gguf_tensor_dim(base, bi, 1), t->n_in,
                                     t->n_out);
    }
    return STATUS_OK;
}

const char *lora_arch(const struct lora *l) { return l->arch; }
float lora_alpha(const struct lora *l) { return l->alpha; }
size_t lora_n_targets(const struct lora *l) { return l->n_t; }
size_t lora_n_ignored(const struct lora *l) { return l->n_ignored; }
const char *lora_target_name(const struct lora *l, size_t i) { return l->t[i].name; }
size_t lora_target_rank(const struct lora *l, size_t i) { return l->t[i].rank; }
size_t lora_target_n_in(const struct lora *l, size_t i) { return l->t[i].n_in; }
size_t lora_target_n_out(const struct lora *l, size_t i) { return l->t[i].n_out; }

/* ---- "--lora FILE[:SCALE]" ------------------------------------------------------------- */

enum status lora_spec_parse(const char *arg, struct lora_spec *out)
{
    const char *colon = strrchr(arg, ':');
    size_t path_len = strlen(arg);
    float scale = 1.0f;
    if (colon && !strchr(colon + 1, '/')) {
        const char *s = colon + 1;
        char *end;
        errno = 0;
        double v = *s ? strtod(s, &end) : 0.0;
        /* decimal numbers only: no "nan", "inf", hex or surrounding blanks */
        bool ok = *s && *end == '\0' && errno == 0 && isfinite(v) && fabs(v) < 1e30 &&
                  strspn(s, "+-.0123456789eE") == strlen(s);
        if (!ok)
            /* TRANSLATORS: %s is what followed the ':' in --lora FILE:SCALE */
            return status_detail_set(STATUS_USAGE, _("invalid LoRA scale '%s' (expected "
                                                     "FILE[:SCALE] with a number)"),
                                     s);
        scale = (float)v;
        path_len = (size_t)(colon - arg);
    }
    if (path_len == 0)
        return status_detail_set(STATUS_USAGE, _("LoRA adapter file name is empty"));
    char *path = strndup(arg, path_len);
    if (!path)
        return STATUS_NOMEM;
    out->path = path;
    out->scale = scale;
    return STATUS_OK;
}

void lora_spec_clear(struct lora_spec *s)
{
    free(s->path);
    s->path = NULL;
}

/* ---- Run-time application ------------------------------------------------------------ */

/* dW = U V with U (n_out, rank) and V (rank, n_in), both row-major F32: for the usual
 * layout U = B and V = A as stored; for token_embd U = A and V = B transposed. */
struct lora_delta {
    char *name; /* owned */
    size_t n_in, n_out, rank;
    float scale;
    float *u, *v;            /* owned */
    struct lora_delta *next; /* another adapter's delta for the same tensor; owned */
};

struct lora_set {
    struct lora_delta **d; /* (n_d) chain heads, sorted by name; owned */
    size_t n_d, cap;
    size_t n_adapters, max_rank;
};

enum status lora_set_new(struct lora_set **out)
{
    struct lora_set *s = calloc(1, sizeof *s);
    if (!s)
        return STATUS_NOMEM;
    *out = s;
    return STATUS_OK;
}

static void delta_free(struct lora_delta *d)
{
    while (d) {
        struct lora_delta *next = d->next;
        free(d->name);
        free(d->u);
        free(d->v);
        free(d);
        d = next;
    }
}

void lora_set_free(struct lora_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_d; i++)
        delta_free(s->d[i]);
    free(s->d);
    free(s);
}

/* All of tensor i of g as F32, (ne1, ne0) row-major, into dst. */
static void tensor_to_f32(const struct gguf *g, int64_t i, float *dst)
{
    enum dtype ty = gguf_tensor_type(g, i);
    size_t ne0 = (size_t)gguf_tensor_dim(g, i, 0), ne1 = (size_t)gguf_tensor_dim(g, i, 1);
    size_t row_bytes = gguf_tensor_size(g, i) / ne1;
    const unsigned char *src = gguf_tensor_data(g, i);
    for (size_t r = 0; r < ne1; r++)
        quant_dequantize_row(ty, src + r * row_bytes, dst + r * ne0, ne0);
}

static float *alloc_floats(size_t a, size_t b)
{
    if (b && a > SIZE_MAX / sizeof(float) / b)
        return NULL;
    return malloc(a * b * sizeof(float) + 1);
}

static enum status delta_new(const struct lora *l, const struct lora_target *t, float user_scale,
                             struct lora_delta **out)
{
    struct lora_delta *d = calloc(1, sizeof *d);
    if (!d)
        return STATUS_NOMEM;
    d->name = strdup(t->name);
    d->n_in = t->n_in;
    d->n_out = t->n_out;
    d->rank = t->rank;
    d->scale = l->alpha != 0.0f ? user_scale * l->alpha / (float)t->rank : user_scale;
    d->u = alloc_floats(t->n_out, t->rank);
    d->v = alloc_floats(t->rank, t->n_in);
    if (!d->name || !d->u || !d->v) {
        delta_free(d);
        return STATUS_NOMEM;
    }
    if (!t->embd) {
        tensor_to_f32(l->g, t->ib, d->u);
        tensor_to_f32(l->g, t->ia, d->v);
    } else {
        tensor_to_f32(l->g, t->ia, d->u);
        /* B is stored (n_embd, r); V is its transpose */
        float *b = alloc_floats(t->n_in, t->rank);
        if (!b) {
            delta_free(d);
            return STATUS_NOMEM;
        }
        tensor_to_f32(l->g, t->ib, b);
        for (size_t e = 0; e < t->n_in; e++)
            for (size_t k = 0; k < t->rank; k++)
                d->v[k * t->n_in + e] = b[e * t->rank + k];
        free(b);
    }
    *out = d;
    return STATUS_OK;
}

static int head_cmp(const void *a, const void *b)
{
    return strcmp((*(struct lora_delta *const *)a)->name, (*(struct lora_delta *const *)b)->name);
}

static int key_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, (*(struct lora_delta *const *)elem)->name);
}

static struct lora_delta **head_find(const struct lora_set *s, const char *name)
{
    if (!s || s->n_d == 0)
        return NULL;
    return bsearch(name, s->d, s->n_d, sizeof *s->d, key_cmp);
}

enum status lora_set_add(struct lora_set *s, const struct lora *l, float user_scale)
{
    if (!isfinite(user_scale))
        return status_detail_set(STATUS_INVALID, _("LoRA scale is not a finite number"));
    /* check shapes against what the set holds first, so a failure changes nothing */
    for (size_t i = 0; i < l->n_t; i++) {
        struct lora_delta **h = head_find(s, l->t[i].name);
        if (h && ((*h)->n_in != l->t[i].n_in || (*h)->n_out != l->t[i].n_out))
            /* TRANSLATORS: %s is a tensor name */
            return status_detail_set(STATUS_INVALID, _("two LoRA adapters disagree on the "
                                                       "shape of tensor %s"),
                                     l->t[i].name);
    }
    if (s->n_d + l->n_t > s->cap) {
        size_t cap = s->n_d + l->n_t + 16;
        struct lora_delta **nd = realloc(s->d, cap * sizeof *nd);
        if (!nd)
            return STATUS_NOMEM;
        s->d = nd;
        s->cap = cap;
    }
    struct lora_delta **made = calloc(l->n_t ? l->n_t : 1, sizeof *made);
    if (!made)
        return STATUS_NOMEM;
    enum status st = STATUS_OK;
    for (size_t i = 0; i < l->n_t && st == STATUS_OK; i++)
        st = delta_new(l, &l->t[i], user_scale, &made[i]);
    if (st != STATUS_OK) {
        for (size_t i = 0; i < l->n_t; i++)
            delta_free(made[i]);
        free(made);
        return st;
    }
    /* link: append to an existing chain, or add a new head (sorted once at the end) */
    size_t n_old = s->n_d;
    for (size_t i = 0; i < l->n_t; i++) {
        struct lora_delta **h = n_old ? bsearch(made[i]->name, s->d, n_old, sizeof *s->d,
                                                key_cmp)
                                      : NULL;
        if (h) {
            struct lora_delta *p = *h;
            while (p->next)
                p = p->next;
            p->next = made[i];
        } else {
            s->d[s->n_d++] = made[i];
        }
        if (made[i]->rank > s->max_rank)
            s->max_rank = made[i]->rank;
    }
    free(made);
    if (s->n_d > 1)
        qsort(s->d, s->n_d, sizeof *s->d, head_cmp);
    s->n_adapters++;
    return STATUS_OK;
}

enum status lora_set_load(struct lora_set *s, const struct lora_spec *spec,
                          const struct gguf *base)
{
    struct lora *l;
    enum status st = lora_open(spec->path, &l);
    if (st != STATUS_OK)
        return st; /* the detail names the file */
    st = lora_check_base(l, base);
    if (st == STATUS_OK)
        st = lora_set_add(s, l, spec->scale);
    if (st != STATUS_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        status_detail_set(st, "%s: %s", spec->path, detail);
    }
    lora_close(l);
    return st;
}

size_t lora_set_n_adapters(const struct lora_set *s) { return s->n_adapters; }
size_t lora_set_n_tensors(const struct lora_set *s) { return s->n_d; }
size_t lora_set_max_rank(const struct lora_set *s) { return s->max_rank; }

size_t lora_set_scratch_floats(const struct lora_set *s, size_t n_tokens)
{
    return s ? n_tokens * s->max_rank : 0;
}

const struct lora_delta *lora_find(const struct lora_set *s, const char *tensor_name)
{
    struct lora_delta **h = head_find(s, tensor_name);
    return h ? *h : NULL;
}

const struct lora_delta *lora_find_blk(const struct lora_set *s, size_t layer, const char *what)
{
    char name[256];
    int n = snprintf(name, sizeof name, "blk.%zu.%s.weight", layer, what);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    return lora_find(s, name);
}

const struct lora_delta *lora_set_delta(const struct lora_set *s, size_t i) { return s->d[i]; }
const char *lora_delta_name(const struct lora_delta *d) { return d->name; }
size_t lora_delta_n_in(const struct lora_delta *d) { return d->n_in; }
size_t lora_delta_n_out(const struct lora_delta *d) { return d->n_out; }

void lora_apply(const struct lora_delta *d, const float *x, size_t n_tokens, float *y,
                float *scratch)
{
    if (n_tokens == 0)
        return;
    for (; d; d = d->next) {
        int n_in = (int)d->n_in, n_out = (int)d->n_out, r = (int)d->rank;
        if (n_tokens == 1) {
            /* t = V x; y += scale U t */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, r, n_in, 1.0f, d->v, n_in, x, 1, 0.0f,
                        scratch, 1);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, r, d->scale, d->u, r, scratch, 1,
                        1.0f, y, 1);
        } else {
            /* T (n, r) = X V^T; Y += scale T U^T */
            int n = (int)n_tokens;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r, n_in, 1.0f, x, n_in,
                        d->v, n_in, 0.0f, scratch, r);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_out, r, d->scale, scratch,
                        r, d->u, r, 1.0f, y, n_out);
        }
    }
}

void lora_apply_rows(const struct lora_delta *d, const int32_t *rows, size_t n, float *y)
{
    for (; d; d = d->next) {
        int n_in = (int)d->n_in, r = (int)d->rank;
        for (size_t i = 0; i < n; i++) {
            assert(rows[i] >= 0 && (size_t)rows[i] < d->n_out);
            /* y_i += scale V^T u_row */
            cblas_sgemv(CblasRowMajor, CblasTrans, r, n_in, d->scale, d->v, n_in,
                        d->u + (size_t)rows[i] * d->rank, 1, 1.0f, y + i * d->n_in, 1);
        }
    }
}

void lora_add_rows(const struct lora_delta *d, size_t row0, size_t n_rows, float *dst)
{
    if (n_rows == 0)
        return;
    for (; d; d = d->next) {
        assert(row0 + n_rows <= d->n_out);
        int n_in = (int)d->n_in, r = (int)d->rank;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_rows, n_in, r, d->scale,
                    d->u + row0 * d->rank, r, d->v, n_in, 1.0f, dst, n_in);
    }
}

/* ---- Merging ------------------------------------------------------------------------- */

void lora_merge_params_init(struct lora_merge_params *p)
{
    memset(p, 0, sizeof *p);
    p->out_type = -1;
}

static bool convertible(enum dtype t)
{
    return quant_weight_supported(t);
}

/* Tensor bi of base with d added, as out_type, into *out (owned). */
static enum status merge_tensor(const struct gguf *base, int64_t bi, const struct lora_delta *d,
                                enum dtype out_type, void **out, size_t *out_size)
{
    enum dtype in_type = gguf_tensor_type(base, bi);
    size_t n_in = d->n_in, n_out = d->n_out;
    const char *name = gguf_tensor_name(base, bi);
    if (!convertible(in_type)) {
        const char *tn = dtype_name(in_type);
        /* TRANSLATORS: first %s is a tensor name, second a type such as Q2_K */
        return status_detail_set(STATUS_UNSUPPORTED, _("cannot merge into tensor %s of type "
                                                       "%s"),
                                 name, tn ? tn : "?");
    }
    size_t out_row, in_row = gguf_tensor_size(base, bi) / n_out;
    if (dtype_row_bytes(out_type, n_in, &out_row) != STATUS_OK)
        /* TRANSLATORS: %s %s are a type such as Q4_K and a tensor name; %zu a row length */
        return status_detail_set(STATUS_UNSUPPORTED, _("type %s cannot hold the rows of "
                                                       "tensor %s (%zu values)"),
                                 dtype_name(out_type), name, n_in);
    if (out_row && n_out > SIZE_MAX / out_row)
        return STATUS_OVERFLOW;
    unsigned char *dst = malloc(out_row * n_out + 1);
    size_t chunk = LORA_MERGE_CHUNK_FLOATS / n_in;
    if (chunk == 0)
        chunk = 1;
    if (chunk > n_out)
        chunk = n_out;
    float *buf = alloc_floats(chunk, n_in);
    if (!dst || !buf) {
        free(dst);
        free(buf);
        return STATUS_NOMEM;
    }
    const unsigned char *src = gguf_tensor_data(base, bi);
    for (size_t r0 = 0; r0 < n_out; r0 += chunk) {
        size_t nr = n_out - r0 < chunk ? n_out - r0 : chunk;
        for (size_t r = 0; r < nr; r++)
            quant_dequantize_row(in_type, src + (r0 + r) * in_row, buf + r * n_in, n_in);
        lora_add_rows(d, r0, nr, buf);
        for (size_t r = 0; r < nr; r++) {
            unsigned char *q = dst + (r0 + r) * out_row;
            quant_quantize_row(out_type, buf + r * n_in, q, n_in);
            /* a huge delta overflows the f16 scales of the block formats (or F16 itself) into
             * infinities and NaN: read the row back rather than write a broken model */
            quant_dequantize_row(out_type, q, buf + r * n_in, n_in);
            for (size_t c = 0; c < n_in; c++) {
                if (!isfinite(buf[r * n_in + c])) {
                    free(buf);
                    free(dst);
                    /* TRANSLATORS: %s is a tensor name, then a type such as Q4_K */
                    return status_detail_set(STATUS_INVALID,
                                             _("merged tensor %s has values out of range for "
                                               "type %s (is the scale too large?)"),
                                             name, dtype_name(out_type));
                }
            }
        }
    }
    free(buf);
    *out = dst;
    *out_size = out_row * n_out;
    return STATUS_OK;
}

static enum status merge(const struct gguf *base, const struct lora_set *s,
                         const struct lora_merge_params *p, const char *path, void **out,
                         size_t *out_size)
{
    struct lora_merge_params defaults;
    if (!p) {
        lora_merge_params_init(&defaults);
        p = &defaults;
    }
    if (p->out_type >= 0 && !convertible((enum dtype)p->out_type)) {
        const char *tn = dtype_name((uint32_t)p->out_type);
        /* TRANSLATORS: %s is a type name such as Q2_K */
        return status_detail_set(STATUS_UNSUPPORTED, _("cannot write merged tensors as %s"),
                                 tn ? tn : "?");
    }
    /* every delta must meet a base tensor of its shape */
    for (size_t i = 0; i < s->n_d; i++) {
        const struct lora_delta *d = s->d[i];
        int64_t bi = gguf_find_tensor(base, d->name);
        if (bi < 0)
            return status_detail_set(STATUS_NOT_FOUND, _("the adapter changes tensor %s, which "
                                                         "the base model lacks (wrong base "
                                                         "model?)"),
                                     d->name);
        if (gguf_tensor_n_dims(base, bi) > 2 || gguf_tensor_dim(base, bi, 0) != d->n_in ||
            gguf_tensor_dim(base, bi, 1) != d->n_out)
            return status_detail_set(STATUS_INVALID, _("tensor %s is %llu x %llu in the base "
                                                       "model but %zu x %zu in the adapter "
                                                       "(wrong base model?)"),
                                     d->name, (unsigned long long)gguf_tensor_dim(base, bi, 0),
                                     (unsigned long long)gguf_tensor_dim(base, bi, 1), d->n_in,
                                     d->n_out);
    }
    struct gguf_writer *w = NULL;
    void **merged = calloc(s->n_d ? s->n_d : 1, sizeof *merged);
    if (!merged)
        return STATUS_NOMEM;
    size_t n_merged = 0;
    enum status st = gguf_writer_new(&w);
    if (st != STATUS_OK)
        goto done;
    st = gguf_writer_copy_kv(w, base, NULL);
    int64_t n = gguf_n_tensors(base);
    for (int64_t i = 0; i < n && st == STATUS_OK; i++) {
        const char *name = gguf_tensor_name(base, i);
        uint64_t dims[GGUF_MAX_DIMS];
        uint32_t nd = gguf_tensor_n_dims(base, i);
        for (uint32_t k = 0; k < nd; k++)
            dims[k] = gguf_tensor_dim(base, i, k);
        const struct lora_delta *d = lora_find(s, name);
        if (!d) {
            st = gguf_writer_add_tensor(w, name, gguf_tensor_type(base, i), nd, dims,
                                        gguf_tensor_data(base, i), gguf_tensor_size(base, i));
            continue;
        }
        enum dtype ty = p->out_type >= 0 ? (enum dtype)p->out_type : gguf_tensor_type(base, i);
        size_t size = 0;
        st = merge_tensor(base, i, d, ty, &merged[n_merged], &size);
        if (st != STATUS_OK)
            break;
        st = gguf_writer_add_tensor(w, name, ty, nd, dims, merged[n_merged], size);
        n_merged++;
        if (p->progress)
            p->progress(p->progress_ud, n_merged, s->n_d, name);
    }
    if (st == STATUS_OK)
        st = path ? gguf_writer_write(w, path) : gguf_writer_to_buffer(w, out, out_size);
done:
    gguf_writer_free(w);
    for (size_t i = 0; i < n_merged; i++)
        free(merged[i]);
    free(merged);
    return st;
}

enum status lora_merge_write(const struct gguf *base, const struct lora_set *s,
                             const struct lora_merge_params *p, const char *path)
{
    return merge(base, s, p, path, NULL, NULL);
}

enum status lora_merge_to_buffer(const struct gguf *base, const struct lora_set *s,
                                 const struct lora_merge_params *p, void **out, size_t *size)
{
    return merge(base, s, p, NULL, out, size);
}
