/* samp.c -- token sampling over a scratch candidate array, and stop-string matching. */
#include "config.h"
#include "engine/samp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/i18n.h"

struct cand {
    int32_t id;
    float logit;
};

struct samp {
    struct samp_params p;
    size_t n_vocab;
    uint64_t rng[4];      /* xoshiro256** state */
    struct cand *cand;    /* (n_vocab) */
    float *work;          /* (n_vocab) logits after masks and penalty */
    unsigned char *allow; /* (n_vocab) 1 = on the allow-list */
    unsigned char *forbid;/* (n_vocab) */
    unsigned char *seen;  /* (n_vocab) marks for the penalty */
    bool has_allow;
    int32_t *hist;        /* ring of the last repeat_last_n tokens */
    size_t hist_len, hist_pos;
};

void samp_params_init(struct samp_params *p)
{
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t samp_rand_u64(struct samp *s)
{
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9;
    uint64_t t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

/* uniform in [0, 1) with 53 random bits */
static double rand_unit(struct samp *s)
{
    return (double)(samp_rand_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

void samp_reset(struct samp *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->hist_len = s->hist_pos = 0;
}

enum status samp_new(const struct samp_params *p, size_t n_vocab, struct samp **out)
{
    if (n_vocab == 0 || n_vocab > INT32_MAX)
        return status_detail_set(STATUS_INVALID, _("invalid vocabulary size %zu"), n_vocab);
    if (p->repeat_last_n > SIZE_MAX / sizeof(int32_t))
        return status_detail_set(STATUS_INVALID, _("invalid repetition window %zu"),
                                 p->repeat_last_n);
    struct samp *s = calloc(1, sizeof *s);
    if (!s)
        return STATUS_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc(n_vocab * sizeof *s->cand);
    s->work = malloc(n_vocab * sizeof *s->work);
    s->allow = calloc(n_vocab, 1);
    s->forbid = calloc(n_vocab, 1);
    s->seen = calloc(n_vocab, 1);
    s->hist = malloc((p->repeat_last_n ? p->repeat_last_n : 1) * sizeof *s->hist);
    if (!s->cand || !s->work || !s->allow || !s->forbid || !s->seen || !s->hist) {
        samp_free(s);
        return STATUS_NOMEM;
    }
    samp_reset(s);
    *out = s;
    return STATUS_OK;
}

void samp_free(struct samp *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->work);
    free(s->allow);
    free(s->forbid);
    free(s->seen);
    free(s->hist);
    free(s);
}

void samp_accept(struct samp *s, int32_t tok)
{
    if (s->p.repeat_last_n == 0)
        return;
    s->hist[s->hist_pos] = tok;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_len < s->p.repeat_last_n)
        s->hist_len++;
}

void samp_mask_allow(struct samp *s, const int32_t *ids, size_t n)
{
    memset(s->allow, 0, s->n_vocab);
    s->has_allow = n > 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < s->n_vocab)
            s->allow[ids[i]] = 1;
}

void samp_mask_forbid(struct samp *s, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < s->n_vocab)
            s->forbid[ids[i]] = 1;
}

void samp_mask_clear(struct samp *s)
{
    memset(s->allow, 0, s->n_vocab);
    memset(s->forbid, 0, s->n_vocab);
    s->has_allow = false;
}

/* Higher logit first; lower id first among equals. */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool cand_better(const struct cand *x, const struct cand *y)
{
    return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

/* Move the k best of c[0..n) to the front, sorted (a bounded selection, O(n log k)). */
static void top_k_select(struct cand *c, size_t n, size_t k)
{
    /* min-heap of the k best so far in c[0..k) (root = worst of them) */
    for (size_t i = 0; i < k; i++) {
        size_t j = i;
        while (j > 0 && cand_better(&c[(j - 1) / 2], &c[j])) {
            struct cand t = c[j];
            c[j] = c[(j - 1) / 2];
            c[(j - 1) / 2] = t;
            j = (j - 1) / 2;
        }
    }
    for (size_t i = k; i < n; i++) {
        if (!cand_better(&c[i], &c[0]))
            continue;
        c[0] = c[i];
        size_t j = 0;
        for (;;) {
            size_t l = 2 * j + 1, r = l + 1, w = j;
            if (l < k && cand_better(&c[w], &c[l]))
                w = l;
            if (r < k && cand_better(&c[w], &c[r]))
                w = r;
            if (w == j)
                break;
            struct cand t = c[j];
            c[j] = c[w];
            c[w] = t;
            j = w;
        }
    }
    qsort(c, k, sizeof *c, cand_cmp);
}

enum status samp_sample(struct samp *s, const float *logits, int32_t *tok, float *logprob)
{
    size_t nv = s->n_vocab;
    float *w = s->work;
    memcpy(w, logits, nv * sizeof *w);
    /* masks */
    for (size_t i = 0; i < nv; i++)
        if (s->forbid[i] || (s->has_allow && !s->allow[i]))
            w[i] = -INFINITY;
    /* repetition penalty, once per distinct token in the window (as llama.cpp) */
    if (s->p.repeat_penalty != 1.0f && s->hist_len > 0) {
        for (size_t i = 0; i < s->hist_len; i++) {
            int32_t t = s->hist[i];
            if (t < 0 || (size_t)t >= nv || s->seen[t])
                continue;
            s->seen[t] = 1;
            if (w[t] > 0)
                w[t] /= s->p.repeat_penalty;
            else
                w[t] *= s->p.repeat_penalty;
        }
        for (size_t i = 0; i < s->hist_len; i++)
            if (s->hist[i] >= 0 && (size_t)s->hist[i] < nv)
                s->seen[s->hist[i]] = 0;
    }
    /* candidates that are still possible, and the log-sum-exp for logprob */
    size_t n = 0;
    float mx = -INFINITY;
    for (size_t i = 0; i < nv; i++) {
        if (w[i] == -INFINITY || isnan(w[i]))
            continue;
        s->cand[n].id = (int32_t)i;
        s->cand[n].logit = w[i];
        n++;
        if (w[i] > mx)
            mx = w[i];
    }
    if (n == 0)
        return status_detail_set(STATUS_INVALID, _("the sampling masks exclude every token"));
    struct cand *c = s->cand;
    int32_t chosen;
    if (s->p.temp <= 0.0f || s->p.top_k == 1) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (cand_better(&c[i], &c[best]))
                best = i;
        chosen = c[best].id;
    } else {
        /* top-k (sorts the survivors), else a full sort when top-p needs the order */
        if (s->p.top_k > 0 && (size_t)s->p.top_k < n) {
            top_k_select(c, n, (size_t)s->p.top_k);
            n = (size_t)s->p.top_k;
        } else {
            qsort(c, n, sizeof *c, cand_cmp);
        }
        /* top-p: smallest prefix whose probability reaches top_p */
        if (s->p.top_p < 1.0f) {
            double sum = 0.0;
            for (size_t i = 0; i < n; i++)
                sum += exp((double)c[i].logit - (double)c[0].logit);
            double cum = 0.0;
            for (size_t i = 0; i < n; i++) {
                cum += exp((double)c[i].logit - (double)c[0].logit) / sum;
                if (cum >= (double)s->p.top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        /* min-p: p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        if (s->p.min_p > 0.0f) {
            double thr = (double)c[0].logit + log((double)s->p.min_p);
            size_t keep = 1;
            while (keep < n && (double)c[keep].logit >= thr)
                keep++;
            n = keep;
        }
        /* temperature, then a draw */
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += exp(((double)c[i].logit - (double)c[0].logit) / (double)s->p.temp);
        double u = rand_unit(s) * sum, cum = 0.0;
        chosen = c[n - 1].id;
        for (size_t i = 0; i < n; i++) {
            cum += exp(((double)c[i].logit - (double)c[0].logit) / (double)s->p.temp);
            if (u < cum) {
                chosen = c[i].id;
                break;
            }
        }
    }
    if (logprob) {
        double sum = 0.0;
        for (size_t i = 0; i < nv; i++)
            if (w[i] != -INFINITY && !isnan(w[i]))
                sum += exp((double)w[i] - (double)mx);
        *logprob = (float)((double)w[chosen] - (double)mx - log(sum));
    }
    samp_accept(s, chosen);
    *tok = chosen;
    return STATUS_OK;
}

/* ---- Stop strings ----------------------------------------------------------------------- */

struct samp_stop {
    char **stops;
    size_t *lens;
    size_t n;
    char *buf; /* text not yet taken */
    size_t len, cap;
    size_t safe;  /* bytes of buf that may be shown */
    int matched;  /* index of the stop string found, or -1 */
    size_t taken; /* for take(): bytes handed out at the last call */
};

enum status samp_stop_new(const char *const *stops, size_t n, struct samp_stop **out)
{
    struct samp_stop *st = calloc(1, sizeof *st);
    if (!st)
        return STATUS_NOMEM;
    st->matched = -1;
    st->stops = calloc(n ? n : 1, sizeof *st->stops);
    st->lens = calloc(n ? n : 1, sizeof *st->lens);
    if (!st->stops || !st->lens)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0])
            continue;
        st->lens[st->n] = strlen(stops[i]);
        st->stops[st->n] = malloc(st->lens[st->n] + 1);
        if (!st->stops[st->n])
            goto fail;
        memcpy(st->stops[st->n], stops[i], st->lens[st->n] + 1);
        st->n++;
    }
    *out = st;
    return STATUS_OK;
fail:
    samp_stop_free(st);
    return STATUS_NOMEM;
}

void samp_stop_free(struct samp_stop *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->stops[i]);
    free(st->stops);
    free(st->lens);
    free(st->buf);
    free(st);
}

/* Drop the bytes handed out by the previous take. */
static void stop_consume(struct samp_stop *st)
{
    if (st->taken) {
        memmove(st->buf, st->buf + st->taken, st->len - st->taken);
        st->len -= st->taken;
        st->safe -= st->taken;
        st->taken = 0;
    }
}

bool samp_stop_feed(struct samp_stop *st, const char *text, size_t len)
{
    stop_consume(st);
    if (st->matched >= 0)
        return true;
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 64;
        while (cap < st->len + len)
            cap *= 2;
        char *nb = realloc(st->buf, cap);
        if (!nb)
            return false;
        st->buf = nb;
        st->cap = cap;
    }
    if (len) /* buf is still NULL when the first piece is empty */
        memcpy(st->buf + st->len, text, len);
    st->len += len;
    /* earliest complete match anywhere in the unshown text (it may start in held text) */
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < st->n; k++) {
        if (st->lens[k] > st->len)
            continue;
        for (size_t i = 0; i + st->lens[k] <= st->len; i++) {
            if (i >= best)
                break;
            if (memcmp(st->buf + i, st->stops[k], st->lens[k]) == 0) {
                best = i;
                st->matched = (int)k;
                break;
            }
        }
    }
    if (best != SIZE_MAX) {
        st->len = best; /* the stop string and anything after it are dropped */
        st->safe = best;
        return true;
    }
    /* hold back the longest tail that is a proper prefix of some stop string */
    size_t hold = 0;
    for (size_t k = 0; k < st->n; k++) {
        size_t max = st->lens[k] - 1 < st->len ? st->lens[k] - 1 : st->len;
        for (size_t h = max; h > hold; h--) {
            if (memcmp(st->buf + st->len - h, st->stops[k], h) == 0) {
                hold = h;
                break;
            }
        }
    }
    st->safe = st->len - hold;
    return false;
}

void samp_stop_take(struct samp_stop *st, const char **out, size_t *len)
{
    stop_consume(st);
    *out = st->buf ? st->buf : "";
    *len = st->safe;
    st->taken = st->safe;
}

void samp_stop_flush(struct samp_stop *st, const char **out, size_t *len)
{
    stop_consume(st);
    *out = st->buf ? st->buf : "";
    *len = st->len;
    /* the next call starts over */
    st->taken = st->len;
    st->safe = st->len;
    st->matched = -1;
}

int samp_stop_which(const struct samp_stop *st)
{
    return st->matched;
}
