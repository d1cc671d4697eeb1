/* sim.c -- exact cosine top-k: a float BLAS scan with a proven error margin, then a double
 * re-score of the few rows that can still be in the top k. */
#include "config.h"
#include "memory/sim.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "util/i18n.h"

#define SIM_DIM_MAX 65536
#define SIM_GROUP_MAX 64   /* queries per pass over the matrix in a batch */
#define NO_ROW SIZE_MAX

struct sim {
    size_t dim;
    size_t n, cap;     /* rows used, rows allocated */
    float *mat;        /* (cap, dim), rows 0..n valid, each of unit norm */
    int64_t *ids;      /* (cap) */
    /* id -> row: open addressing with linear probing, backward-shift deletion */
    int64_t *keys;     /* (mask + 1) */
    size_t *rows;      /* (mask + 1), NO_ROW marks an empty slot */
    size_t mask;
    double margin;     /* bound on |float score - double score| for unit vectors */
};

/* ---- id map -------------------------------------------------------------------------- */

static size_t map_slot(int64_t id, size_t mask)
{
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h ^ (h >> 29)) & mask;
}

static size_t map_find(const struct sim *s, int64_t id)
{
    if (!s->rows)
        return NO_ROW;
    for (size_t i = map_slot(id, s->mask);; i = (i + 1) & s->mask) {
        if (s->rows[i] == NO_ROW)
            return NO_ROW;
        if (s->keys[i] == id)
            return i;
    }
}

/* Insert (id, row) assuming id is absent and the table has room. */
static void map_put(struct sim *s, int64_t id, size_t row)
{
    size_t i = map_slot(id, s->mask);
    while (s->rows[i] != NO_ROW)
        i = (i + 1) & s->mask;
    s->keys[i] = id;
    s->rows[i] = row;
}

static void map_delete_slot(struct sim *s, size_t i)
{
    /* backward shift: move later entries of the probe run into the hole */
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        if (s->rows[j] == NO_ROW)
            break;
        size_t home = map_slot(s->keys[j], s->mask);
        /* j's entry may fill the hole i unless its home lies cyclically in (i, j] */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->keys[i] = s->keys[j];
            s->rows[i] = s->rows[j];
            i = j;
        }
    }
    s->rows[i] = NO_ROW;
}

/* Grow the map so that `want` entries keep the load at or below one half. */
static enum status map_reserve(struct sim *s, size_t want)
{
    size_t size = s->rows ? s->mask + 1 : 0;
    if (want <= size / 2)
        return STATUS_OK;
    size_t nsize = size ? size : 64;
    while (want > nsize / 2) {
        if (nsize > SIZE_MAX / 2 / sizeof(size_t))
            return STATUS_OVERFLOW;
        nsize *= 2;
    }
    int64_t *keys = malloc(nsize * sizeof *keys);
    size_t *rows = malloc(nsize * sizeof *rows);
    if (!keys || !rows) {
        free(keys);
        free(rows);
        return STATUS_NOMEM;
    }
    for (size_t i = 0; i < nsize; i++)
        rows[i] = NO_ROW;
    int64_t *okeys = s->keys;
    size_t *orows = s->rows;
    s->keys = keys;
    s->rows = rows;
    s->mask = nsize - 1;
    for (size_t i = 0; i < size; i++)
        if (orows[i] != NO_ROW)
            map_put(s, okeys[i], orows[i]);
    free(okeys);
    free(orows);
    return STATUS_OK;
}

/* ---- handle ---------------------------------------------------------------------------- */

enum status sim_new(size_t dim, struct sim **out)
{
    if (!out || dim == 0 || dim > SIM_DIM_MAX)
        return status_detail_set(STATUS_INVALID, _("vector dimension %zu is outside 1..%d"),
                                 dim, SIM_DIM_MAX);
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return STATUS_NOMEM;
    s->dim = dim;
    /* |fl(x.y) - x.y| <= gamma_dim * sum |x_i y_i| <= gamma_dim * |x| |y| for any summation
     * order, gamma_d = d u / (1 - d u), u = 2^-24; rows and queries have norm <= 1 + tol.
     * Doubled for safety, plus the double reference sum's own (far smaller) error. */
    double du = (double)dim * ldexp(1.0, -24);
    s->margin = 2.0 * du / (1.0 - du) * (1.0 + SIM_NORM_TOL) + (double)dim * ldexp(1.0, -50);
    *out = s;
    return STATUS_OK;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    free(s->mat);
    free(s->ids);
    free(s->keys);
    free(s->rows);
    free(s);
}

size_t sim_dim(const struct sim *s)
{
    return s->dim;
}

size_t sim_count(const struct sim *s)
{
    return s->n;
}

enum status sim_reserve(struct sim *s, size_t n)
{
    if (n <= s->cap)
        return map_reserve(s, n);
    if (n > SIZE_MAX / sizeof(float) / s->dim)
        return STATUS_OVERFLOW;
    float *mat = realloc(s->mat, n * s->dim * sizeof *mat);
    if (!mat)
        return STATUS_NOMEM;
    s->mat = mat;
    int64_t *ids = realloc(s->ids, n * sizeof *ids);
    if (!ids)
        return STATUS_NOMEM;
    s->ids = ids;
    s->cap = n;
    return map_reserve(s, n);
}

static bool is_unit(const float *v, size_t dim)
{
    double ss = 0;
    for (size_t i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    return fabs(ss - 1.0) <= SIM_NORM_TOL; /* false for NaN */
}

enum status sim_add(struct sim *s, const int64_t *ids, const float *vecs, size_t n, size_t dim)
{
    if (!s)
        return STATUS_INVALID;
    if (dim != s->dim)
        return status_detail_set(STATUS_INVALID,
                                 _("vector dimension %zu does not match the index's %zu"), dim,
                                 s->dim);
    if (n == 0)
        return STATUS_OK;
    if (!ids || !vecs)
        return STATUS_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!is_unit(vecs + i * dim, dim))
            return status_detail_set(STATUS_INVALID,
                                     _("vector %zu (id %lld) is not of unit length"), i,
                                     (long long)ids[i]);
    if (n > SIZE_MAX - s->n)
        return STATUS_OVERFLOW;
    size_t need = s->n + n;
    if (need > s->cap) {
        size_t ncap = s->cap ? s->cap : 64;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        enum status st = sim_reserve(s, ncap);
        if (st != STATUS_OK)
            return st;
    } else {
        enum status st = map_reserve(s, need);
        if (st != STATUS_OK)
            return st;
    }
    for (size_t i = 0; i < n; i++) {
        if (map_find(s, ids[i]) != NO_ROW) {
            for (size_t j = 0; j < i; j++) /* roll back this call's ids */
                map_delete_slot(s, map_find(s, ids[j]));
            return status_detail_set(STATUS_EXISTS, _("vector id %lld is already present"),
                                     (long long)ids[i]);
        }
        map_put(s, ids[i], s->n + i);
    }
    memcpy(s->mat + s->n * dim, vecs, n * dim * sizeof *vecs);
    memcpy(s->ids + s->n, ids, n * sizeof *ids);
    s->n += n;
    return STATUS_OK;
}

enum status sim_remove(struct sim *s, int64_t id)
{
    size_t slot = map_find(s, id);
    if (slot == NO_ROW)
        return STATUS_NOT_FOUND;
    size_t row = s->rows[slot];
    map_delete_slot(s, slot);
    size_t last = s->n - 1;
    if (row != last) {
        memcpy(s->mat + row * s->dim, s->mat + last * s->dim, s->dim * sizeof *s->mat);
        s->ids[row] = s->ids[last];
        s->rows[map_find(s, s->ids[row])] = row;
    }
    s->n = last;
    return STATUS_OK;
}

bool sim_contains(const struct sim *s, int64_t id)
{
    return map_find(s, id) != NO_ROW;
}

const float *sim_vector(const struct sim *s, int64_t id)
{
    size_t slot = map_find(s, id);
    return slot == NO_ROW ? NULL : s->mat + s->rows[slot] * s->dim;
}

/* ---- search ---------------------------------------------------------------------------- */

struct cand {
    float a;     /* float score from the scan */
    size_t row;
};

/* Per-query scan state: a min-heap of the k best float scores and the candidate rows. */
struct qstate {
    float *heap; /* (k) */
    size_t nheap;
    struct cand *cand;
    size_t ncand, capcand;
    float lo;    /* float scores below this cannot pass the threshold */
    float cut;   /* rows below this cannot be in the top k (nor pass the threshold) */
};

static void heap_push(float *h, size_t *n, size_t k, float a)
{
    if (*n < k) {
        size_t i = (*n)++;
        while (i > 0 && h[(i - 1) / 2] > a) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = a;
        return;
    }
    if (a <= h[0])
        return;
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= k)
            break;
        if (c + 1 < k && h[c + 1] < h[c])
            c++;
        if (h[c] >= a)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = a;
}

static void update_cut(struct qstate *q, size_t k, double margin)
{
    float c = q->lo;
    if (q->nheap == k) {
        double td = (double)q->heap[0] - 2.0 * margin;
        float t = (float)td;
        if ((double)t > td)
            t = nextafterf(t, -FLT_MAX); /* round down, never up */
        if (t > c)
            c = t;
    }
    q->cut = c;
}

static enum status cand_push(struct qstate *q, float a, size_t row)
{
    if (q->ncand == q->capcand) {
        /* drop rows that fell below the cut since they were added, then grow if needed */
        size_t w = 0;
        for (size_t i = 0; i < q->ncand; i++)
            if (q->cand[i].a >= q->cut)
                q->cand[w++] = q->cand[i];
        q->ncand = w;
        if (w > q->capcand / 2) {
            size_t ncap = q->capcand * 2;
            struct cand *c = realloc(q->cand, ncap * sizeof *c);
            if (!c)
                return STATUS_NOMEM;
            q->cand = c;
            q->capcand = ncap;
        }
    }
    q->cand[q->ncand].a = a;
    q->cand[q->ncand].row = row;
    q->ncand++;
    return STATUS_OK;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const struct sim_hit *a = pa, *b = pb;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static double dot_double(const float *x, const float *y, size_t dim)
{
    double acc = 0;
    for (size_t i = 0; i < dim; i++)
        acc += (double)x[i] * (double)y[i];
    return acc;
}

/* Re-score q's candidates in double and write its exact top k. */
static enum status finish(const struct sim *s, struct qstate *q, const float *qv, size_t k,
                          double thr, struct sim_hit *hits, size_t *n_hits)
{
    size_t w = 0;
    struct sim_hit *tmp = malloc((q->ncand ? q->ncand : 1) * sizeof *tmp);
    if (!tmp)
        return STATUS_NOMEM;
    for (size_t i = 0; i < q->ncand; i++) {
        if (q->cand[i].a < q->cut)
            continue;
        size_t row = q->cand[i].row;
        double d = 1.0 - dot_double(s->mat + row * s->dim, qv, s->dim);
        if (!(d < thr))
            continue;
        tmp[w].id = s->ids[row];
        tmp[w].dist = d;
        w++;
    }
    qsort(tmp, w, sizeof *tmp, hit_cmp);
    if (w > k)
        w = k;
    memcpy(hits, tmp, w * sizeof *tmp);
    *n_hits = w;
    free(tmp);
    return STATUS_OK;
}

static enum status search_group(const struct sim *s, const float *qs, size_t nq, size_t k,
                                double thr, struct sim_hit *hits, size_t *n_hits)
{
    size_t kk = k < s->n ? k : s->n;
    enum status st = STATUS_NOMEM;
    size_t brows = s->n < SIM_BLOCK_ROWS ? s->n : SIM_BLOCK_ROWS;
    float *scores = malloc(brows * nq * sizeof *scores); /* (nq, brows) */
    float *heaps = malloc(kk * nq * sizeof *heaps);
    struct qstate *qst = calloc(nq, sizeof *qst);
    if (!scores || !heaps || !qst)
        goto done;
    /* a float score a can belong to a row with cos > 1 - thr only if a > 1 - thr - margin */
    double fl = 1.0 - thr - s->margin;
    float lo = fl < -2.0 ? -FLT_MAX : (float)fl;
    if ((double)lo > fl)
        lo = nextafterf(lo, -FLT_MAX); /* round down, never up */
    for (size_t j = 0; j < nq; j++) {
        qst[j].heap = heaps + j * kk;
        qst[j].capcand = 2 * kk + 64;
        qst[j].cand = malloc(qst[j].capcand * sizeof *qst[j].cand);
        if (!qst[j].cand)
            goto done;
        qst[j].lo = lo;
        update_cut(&qst[j], kk, s->margin);
    }
    for (size_t r0 = 0; r0 < s->n; r0 += brows) {
        size_t nb = s->n - r0 < brows ? s->n - r0 : brows;
        const float *blk = s->mat + r0 * s->dim;
        if (nq == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)s->dim, 1.0f, blk,
                        (int)s->dim, qs, 1, 0.0f, scores, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb,
                        (int)s->dim, 1.0f, qs, (int)s->dim, blk, (int)s->dim, 0.0f, scores,
                        (int)nb);
        for (size_t j = 0; j < nq; j++) {
            struct qstate *q = &qst[j];
            const float *sc = scores + j * nb;
            for (size_t r = 0; r < nb; r++) {
                float a = sc[r];
                if (!(a >= q->cut))
                    continue;
                if (cand_push(q, a, r0 + r) != STATUS_OK)
                    goto done;
                if (q->nheap < kk || a > q->heap[0]) {
                    heap_push(q->heap, &q->nheap, kk, a);
                    update_cut(q, kk, s->margin);
                }
            }
        }
    }
    for (size_t j = 0; j < nq; j++) {
        st = finish(s, &qst[j], qs + j * s->dim, kk, thr, hits + j * k, &n_hits[j]);
        if (st != STATUS_OK)
            goto done;
    }
    st = STATUS_OK;
done:
    if (qst)
        for (size_t j = 0; j < nq; j++)
            free(qst[j].cand);
    free(qst);
    free(heaps);
    free(scores);
    return st;
}

enum status sim_search_batch(const struct sim *s, const float *qs, size_t nq, size_t dim,
                             size_t k, double thr, struct sim_hit *hits, size_t *n_hits)
{
    if (!s || (nq && (!qs || !n_hits)) || (nq && k && !hits))
        return STATUS_INVALID;
    if (dim != s->dim)
        return status_detail_set(STATUS_INVALID,
                                 _("vector dimension %zu does not match the index's %zu"), dim,
                                 s->dim);
    if (isnan(thr))
        return STATUS_INVALID;
    for (size_t j = 0; j < nq; j++) {
        if (!is_unit(qs + j * dim, dim))
            return status_detail_set(STATUS_INVALID, _("query %zu is not of unit length"), j);
        n_hits[j] = 0;
    }
    if (k == 0 || s->n == 0 || nq == 0)
        return STATUS_OK;
    if (s->n > INT32_MAX || dim > INT32_MAX)
        return STATUS_OVERFLOW;
    if (nq > 1 && k > SIZE_MAX / sizeof(struct sim_hit) / nq)
        return STATUS_OVERFLOW; /* hits + j * k must stay addressable */
    for (size_t j0 = 0; j0 < nq; j0 += SIM_GROUP_MAX) {
        size_t g = nq - j0 < SIM_GROUP_MAX ? nq - j0 : SIM_GROUP_MAX;
        enum status st = search_group(s, qs + j0 * dim, g, k, thr, hits + j0 * k, n_hits + j0);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

enum status sim_search(const struct sim *s, const float *q, size_t dim, size_t k, double thr,
                       struct sim_hit *hits, size_t *n_hits)
{
    if (!n_hits)
        return STATUS_INVALID;
    return sim_search_batch(s, q, 1, dim, k, thr, hits, n_hits);
}
