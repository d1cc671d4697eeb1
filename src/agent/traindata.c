/* traindata.c -- MemLLM write and read training examples from Re-DocRED documents. */
#include "config.h"
#include "agent/traindata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/call.h"
#include "util/i18n.h"
#include "util/json.h"

struct mention {
    uint32_t ent, sent;
    size_t off, end; /* byte range in the document text */
};

struct label {
    uint32_t h, t, rel;
    uint32_t *ev;
    size_t n_ev;
};

struct doc {
    char *title;
    char *text;
    size_t text_len;
    size_t n_sents;
    size_t *sent_off, *sent_end;
    struct mention *m; /* sorted by (off, ent) */
    size_t n_m;
    size_t n_ent;
    size_t *first_m;   /* per entity: index of its first mention in m, SIZE_MAX if none */
    struct label *l;
    size_t n_l;
};

struct traindata {
    struct doc *docs;
    size_t n_docs;
    char **rel_ids, **rel_names;
    size_t n_rels;
};

void traindata_params_init(struct traindata_params *p)
{
    p->context_sents = 25;
    p->writes = true;
    p->reads = true;
    p->read_to_sentence_end = false;
    p->read_partner_in_context = false;
}

/* ---- Loading -------------------------------------------------------------------------- */

static void doc_free(struct doc *d)
{
    free(d->title);
    free(d->text);
    free(d->sent_off);
    free(d->sent_end);
    free(d->m);
    free(d->first_m);
    for (size_t i = 0; i < d->n_l; i++)
        free(d->l[i].ev);
    free(d->l);
}

void traindata_free(struct traindata *td)
{
    if (!td)
        return;
    for (size_t i = 0; i < td->n_docs; i++)
        doc_free(&td->docs[i]);
    free(td->docs);
    for (size_t i = 0; i < td->n_rels; i++) {
        free(td->rel_ids[i]);
        free(td->rel_names[i]);
    }
    free(td->rel_ids);
    free(td->rel_names);
    free(td);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool get_uint(const struct json_value *v, uint64_t limit, uint32_t *out)
{
    int64_t x;
    if (!json_int(v, &x) || x < 0 || (uint64_t)x >= limit)
        return false;
    *out = (uint32_t)x;
    return true;
}

static int mention_cmp(const void *x, const void *y)
{
    const struct mention *a = x, *b = y;
    if (a->off != b->off)
        return a->off < b->off ? -1 : 1;
    if (a->ent != b->ent)
        return a->ent < b->ent ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

#define BAD(...) (st = status_detail_set(STATUS_FORMAT, __VA_ARGS__))

/* Build document di from its JSON object. */
static enum status doc_parse(const struct traindata *td, const struct json_value *o, size_t di,
                             struct doc *d)
{
    enum status st = STATUS_NOMEM;
    size_t **tok_off = NULL, **tok_end = NULL; /* per sentence, per token: byte offsets */
    size_t title_len;
    const char *title = json_str(json_get(o, "title"), &title_len);
    const struct json_value *sents = json_get(o, "sents");
    const struct json_value *vs = json_get(o, "vertexSet");
    const struct json_value *labels = json_get(o, "labels");
    if (json_kind(o) != JSON_OBJECT)
        return BAD(_("document %zu: not an object"), di);
    if (!title || memchr(title, '\0', title_len))
        return BAD(_("document %zu: no \"title\" string"), di);
    if (json_kind(sents) != JSON_ARRAY || json_len(sents) == 0)
        return BAD(_("document %zu: no \"sents\" array"), di);
    if (json_kind(vs) != JSON_ARRAY)
        return BAD(_("document %zu: no \"vertexSet\" array"), di);
    if (labels && json_kind(labels) != JSON_ARRAY)
        return BAD(_("document %zu: \"labels\" is not an array"), di);
    if (!(d->title = dup_n(title, title_len)))
        return STATUS_NOMEM;

    /* text: tokens joined by spaces, sentences joined by spaces */
    d->n_sents = json_len(sents);
    d->sent_off = malloc(d->n_sents * sizeof *d->sent_off);
    d->sent_end = malloc(d->n_sents * sizeof *d->sent_end);
    tok_off = calloc(d->n_sents, sizeof *tok_off);
    tok_end = calloc(d->n_sents, sizeof *tok_end);
    if (!d->sent_off || !d->sent_end || !tok_off || !tok_end)
        goto fail;
    size_t total = 0;
    for (size_t s = 0; s < d->n_sents; s++) {
        const struct json_value *sent = json_at(sents, s);
        if (json_kind(sent) != JSON_ARRAY) {
            BAD(_("document %zu: sentence %zu is not an array"), di, s);
            goto fail;
        }
        for (size_t k = 0; k < json_len(sent); k++) {
            size_t l;
            const char *w = json_str(json_at(sent, k), &l);
            if (!w || memchr(w, '\0', l)) {
                BAD(_("document %zu: sentence %zu, token %zu is not a string"), di, s, k);
                goto fail;
            }
            total += l + 1;
        }
        total += 1;
    }
    d->text = malloc(total + 1);
    if (!d->text)
        goto fail;
    size_t pos = 0;
    for (size_t s = 0; s < d->n_sents; s++) {
        const struct json_value *sent = json_at(sents, s);
        size_t nt = json_len(sent);
        tok_off[s] = malloc((nt ? nt : 1) * sizeof **tok_off);
        tok_end[s] = malloc((nt ? nt : 1) * sizeof **tok_end);
        if (!tok_off[s] || !tok_end[s])
            goto fail;
        if (s > 0)
            d->text[pos++] = ' ';
        d->sent_off[s] = pos;
        for (size_t k = 0; k < nt; k++) {
            size_t l;
            const char *w = json_str(json_at(sent, k), &l);
            if (k > 0)
                d->text[pos++] = ' ';
            tok_off[s][k] = pos;
            memcpy(d->text + pos, w, l);
            pos += l;
            tok_end[s][k] = pos;
        }
        d->sent_end[s] = pos;
    }
    d->text[pos] = '\0';
    d->text_len = pos;

    /* mentions */
    d->n_ent = json_len(vs);
    size_t n_m = 0;
    for (size_t e = 0; e < d->n_ent; e++) {
        if (json_kind(json_at(vs, e)) != JSON_ARRAY) {
            BAD(_("document %zu: entity %zu is not an array of mentions"), di, e);
            goto fail;
        }
        n_m += json_len(json_at(vs, e));
    }
    d->m = malloc((n_m ? n_m : 1) * sizeof *d->m);
    d->first_m = malloc((d->n_ent ? d->n_ent : 1) * sizeof *d->first_m);
    if (!d->m || !d->first_m)
        goto fail;
    for (size_t e = 0; e < d->n_ent; e++) {
        const struct json_value *ms = json_at(vs, e);
        for (size_t k = 0; k < json_len(ms); k++) {
            const struct json_value *mv = json_at(ms, k);
            const struct json_value *p = json_get(mv, "pos");
            uint32_t sid, b, en;
            if (!get_uint(json_get(mv, "sent_id"), d->n_sents, &sid)) {
                BAD(_("document %zu: entity %zu, mention %zu: bad \"sent_id\""), di, e, k);
                goto fail;
            }
            size_t nt = json_len(json_at(sents, sid));
            if (json_kind(p) != JSON_ARRAY || json_len(p) != 2 ||
                !get_uint(json_at(p, 0), nt, &b) || !get_uint(json_at(p, 1), nt + 1, &en) ||
                en <= b) {
                BAD(_("document %zu: entity %zu, mention %zu: bad \"pos\""), di, e, k);
                goto fail;
            }
            d->m[d->n_m++] = (struct mention){(uint32_t)e, sid, tok_off[sid][b],
                                              tok_end[sid][en - 1]};
        }
    }
    qsort(d->m, d->n_m, sizeof *d->m, mention_cmp);
    for (size_t e = 0; e < d->n_ent; e++)
        d->first_m[e] = SIZE_MAX;
    for (size_t i = d->n_m; i-- > 0;)
        d->first_m[d->m[i].ent] = i;

    /* labels */
    size_t n_l = json_len(labels);
    d->l = calloc(n_l ? n_l : 1, sizeof *d->l);
    if (!d->l)
        goto fail;
    for (size_t i = 0; i < n_l; i++) {
        const struct json_value *lv = json_at(labels, i);
        const struct json_value *ev = json_get(lv, "evidence");
        struct label *L = &d->l[d->n_l];
        size_t rl;
        const char *r = json_str(json_get(lv, "r"), &rl);
        if (!get_uint(json_get(lv, "h"), d->n_ent, &L->h) ||
            !get_uint(json_get(lv, "t"), d->n_ent, &L->t) || !r) {
            BAD(_("document %zu: label %zu: bad \"h\", \"t\" or \"r\""), di, i);
            goto fail;
        }
        size_t ri = 0;
        while (ri < td->n_rels && strcmp(td->rel_ids[ri], r) != 0)
            ri++;
        if (ri == td->n_rels) {
            BAD(_("document %zu: label %zu: relation '%s' is not in the relation names"), di,
                i, r);
            goto fail;
        }
        L->rel = (uint32_t)ri;
        if (ev && json_kind(ev) != JSON_ARRAY) {
            BAD(_("document %zu: label %zu: \"evidence\" is not an array"), di, i);
            goto fail;
        }
        d->n_l++;
        L->n_ev = json_len(ev);
        L->ev = malloc((L->n_ev ? L->n_ev : 1) * sizeof *L->ev);
        if (!L->ev)
            goto fail;
        for (size_t k = 0; k < L->n_ev; k++) {
            if (!get_uint(json_at(ev, k), d->n_sents, &L->ev[k])) {
                BAD(_("document %zu: label %zu: bad evidence sentence"), di, i);
                goto fail;
            }
        }
    }
    st = STATUS_OK;
fail:
    for (size_t s = 0; tok_off && s < d->n_sents; s++)
        free(tok_off[s]);
    for (size_t s = 0; tok_end && s < d->n_sents; s++)
        free(tok_end[s]);
    free(tok_off);
    free(tok_end);
    return st;
}

/* *in_rel tells whether a failure came from the relation names. */
static enum status load(const char *docs_json, size_t docs_len, const char *rel_json,
                        size_t rel_len, struct traindata **out, bool *in_rel)
{
    struct json_doc *jd = NULL, *jr = NULL;
    *in_rel = true;
    enum status st;
    struct traindata *td = calloc(1, sizeof *td);
    if (!td)
        return STATUS_NOMEM;
    if ((st = json_parse(rel_json, rel_len, &jr)) != STATUS_OK)
        goto fail;
    const struct json_value *rels = json_doc_root(jr);
    if (json_kind(rels) != JSON_OBJECT) {
        st = status_detail_set(STATUS_FORMAT, _("relation names: not a JSON object"));
        goto fail;
    }
    size_t nr = json_len(rels);
    td->rel_ids = calloc(nr ? nr : 1, sizeof *td->rel_ids);
    td->rel_names = calloc(nr ? nr : 1, sizeof *td->rel_names);
    st = STATUS_NOMEM;
    if (!td->rel_ids || !td->rel_names)
        goto fail;
    for (size_t i = 0; i < nr; i++) {
        size_t kl, vl;
        const char *k = json_key_at(rels, i, &kl);
        const char *v = json_str(json_at(rels, i), &vl);
        if (!v || memchr(v, '\0', vl) || memchr(k, '\0', kl) ||
            call_name_check(v, vl, NULL) != CALL_ERR_NONE) {
            st = status_detail_set(STATUS_FORMAT, _("relation names: '%s' has no usable name"),
                                   k);
            goto fail;
        }
        td->rel_ids[i] = dup_n(k, kl);
        td->rel_names[i] = dup_n(v, vl);
        td->n_rels++;
        if (!td->rel_ids[i] || !td->rel_names[i])
            goto fail;
    }
    *in_rel = false;
    if ((st = json_parse(docs_json, docs_len, &jd)) != STATUS_OK)
        goto fail;
    const struct json_value *docs = json_doc_root(jd);
    if (json_kind(docs) != JSON_ARRAY) {
        st = status_detail_set(STATUS_FORMAT, _("documents: not a JSON array"));
        goto fail;
    }
    td->docs = calloc(json_len(docs) ? json_len(docs) : 1, sizeof *td->docs);
    st = STATUS_NOMEM;
    if (!td->docs)
        goto fail;
    for (size_t i = 0; i < json_len(docs); i++) {
        td->n_docs++;
        if ((st = doc_parse(td, json_at(docs, i), i, &td->docs[i])) != STATUS_OK)
            goto fail;
    }
    json_doc_free(jd);
    json_doc_free(jr);
    *out = td;
    return STATUS_OK;
fail:
    json_doc_free(jd);
    json_doc_free(jr);
    traindata_free(td);
    return st;
}

enum status traindata_load(const char *docs_json, size_t docs_len, const char *rel_json,
                           size_t rel_len, struct traindata **out)
{
    bool in_rel;
    return load(docs_json, docs_len, rel_json, rel_len, out, &in_rel);
}

static enum status slurp(const char *path, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    bool err = ferror(fp);
    fclose(fp);
    if (!buf)
        return STATUS_NOMEM;
    if (err) {
        free(buf);
        return status_detail_set(STATUS_IO, "%s: %s", path, _("read error"));
    }
    *out = buf;
    *len = n;
    return STATUS_OK;
}

enum status traindata_open(const char *docs_path, const char *rel_path, struct traindata **out)
{
    char *d = NULL, *r = NULL;
    size_t dl = 0, rl = 0;
    enum status st = slurp(docs_path, &d, &dl);
    if (st == STATUS_OK)
        st = slurp(rel_path, &r, &rl);
    if (st == STATUS_OK) {
        bool in_rel;
        st = load(d, dl, r, rl, out, &in_rel);
        if (st != STATUS_OK && st != STATUS_NOMEM) {
            char detail[512];
            snprintf(detail, sizeof detail, "%s", status_detail());
            status_detail_set(st, "%s: %s", in_rel ? rel_path : docs_path, detail);
        }
    }
    free(d);
    free(r);
    return st;
}

size_t traindata_n_docs(const struct traindata *td) { return td->n_docs; }

const char *traindata_doc_title(const struct traindata *td, size_t i)
{
    return i < td->n_docs ? td->docs[i].title : NULL;
}

size_t traindata_doc_n_sents(const struct traindata *td, size_t i)
{
    return i < td->n_docs ? td->docs[i].n_sents : 0;
}

/* ---- Growing strings ------------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* ---- Write examples ------------------------------------------------------------------- */

struct wtriple {
    size_t k1, k2, label;
    char *s, *o;
    const char *r;
};

static int wtriple_cmp(const void *x, const void *y)
{
    const struct wtriple *a = x, *b = y;
    if (a->k1 != b->k1)
        return a->k1 < b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 < b->k2 ? -1 : 1;
    return a->label < b->label ? -1 : a->label > b->label;
}

/* First mention of entity e in sentence s, or NULL. */
static const struct mention *mention_in(const struct doc *d, uint32_t e, size_t s)
{
    for (size_t i = 0; i < d->n_m; i++)
        if (d->m[i].ent == e && d->m[i].sent == s)
            return &d->m[i];
    return NULL;
}

static bool name_ok(const char *s)
{
    return call_name_check(s, strlen(s), NULL) == CALL_ERR_NONE;
}

static enum status doc_writes(const struct traindata *td, size_t di,
                              const struct traindata_params *p, traindata_sink sink, void *ctx,
                              struct traindata_stats *stats, bool *written)
{
    const struct doc *d = &td->docs[di];
    struct wtriple *tr = malloc((d->n_l ? d->n_l : 1) * sizeof *tr);
    struct call_triple *ct = malloc((d->n_l ? d->n_l : 1) * sizeof *ct);
    struct sbuf prompt = {0};
    char *call = NULL;
    size_t n_tr = 0;
    enum status st = STATUS_NOMEM;
    if (!tr || !ct)
        goto done;
    for (size_t s = 0; s < d->n_sents; s++) {
        n_tr = 0;
        for (size_t li = 0; li < d->n_l; li++) {
            const struct label *L = &d->l[li];
            bool ev = L->n_ev == 0;
            for (size_t k = 0; k < L->n_ev && !ev; k++)
                ev = L->ev[k] == s;
            if (!ev || L->h == L->t)
                continue;
            const struct mention *mh = mention_in(d, L->h, s), *mt = mention_in(d, L->t, s);
            if (!mh || !mt)
                continue;
            struct wtriple w = {mh->off > mt->off ? mh->off : mt->off,
                                mh->off < mt->off ? mh->off : mt->off, li,
                                dup_n(d->text + mh->off, mh->end - mh->off),
                                dup_n(d->text + mt->off, mt->end - mt->off),
                                td->rel_names[L->rel]};
            if (!w.s || !w.o) {
                free(w.s);
                free(w.o);
                goto done;
            }
            if (!name_ok(w.s) || !name_ok(w.o)) {
                stats->n_triples_skipped++;
                free(w.s);
                free(w.o);
                continue;
            }
            bool dup = false;
            for (size_t k = 0; k < n_tr && !dup; k++)
                dup = strcmp(tr[k].s, w.s) == 0 && strcmp(tr[k].o, w.o) == 0 &&
                      strcmp(tr[k].r, w.r) == 0;
            written[li] = true;
            if (dup) {
                free(w.s);
                free(w.o);
                continue;
            }
            tr[n_tr++] = w;
        }
        qsort(tr, n_tr, sizeof *tr, wtriple_cmp);
        for (size_t k = 0; k < n_tr; k++)
            ct[k] = (struct call_triple){tr[k].s, tr[k].r, tr[k].o};
        if ((st = call_format_write(ct, n_tr, &call)) != STATUS_OK)
            goto done;
        prompt.n = 0;
        size_t first = s > p->context_sents ? s - p->context_sents : 0;
        if (first < s)
            sb_add(&prompt, d->text + d->sent_off[first], d->sent_end[s - 1] - d->sent_off[first]);
        sb_str(&prompt, CALL_USER_ST);
        sb_add(&prompt, d->text + d->sent_off[s], d->sent_end[s] - d->sent_off[s]);
        sb_str(&prompt, CALL_USER_END);
        st = STATUS_NOMEM;
        if (prompt.oom)
            goto done;
        struct traindata_example ex = {.kind = TRAINDATA_KIND_WRITE, .doc = di, .sent = s,
                                       .prompt = prompt.p, .prompt_len = prompt.n,
                                       .completion = call, .completion_len = strlen(call),
                                       .n_items = n_tr};
        stats->n_writes++;
        stats->n_write_triples += n_tr;
        stats->n_writes_empty += n_tr == 0;
        if ((st = sink(ctx, &ex)) != STATUS_OK)
            goto done;
        free(call);
        call = NULL;
        for (size_t k = 0; k < n_tr; k++) {
            free(tr[k].s);
            free(tr[k].o);
        }
        n_tr = 0;
    }
    st = STATUS_OK;
done:
    for (size_t k = 0; tr && k < n_tr; k++) {
        free(tr[k].s);
        free(tr[k].o);
    }
    free(tr);
    free(ct);
    free(call);
    free(prompt.p);
    return st;
}

/* ---- Read examples -------------------------------------------------------------------- */

struct rquery {
    enum call_want want;
    uint32_t partner, rel;
    const struct mention *pm; /* the partner's latest mention before the read point */
    size_t n_results, order;
};

struct rpoint {
    const struct mention *m;
    struct call_query q[CALL_MAX_QUERIES];
    char *qnames[CALL_MAX_QUERIES]; /* owned partner names */
    size_t n_q;
    char *results[CALL_MAX_RESULTS];
    size_t n_results;
    size_t start; /* byte offset where the example's text starts */
};

static void rpoint_clear(struct rpoint *r)
{
    for (size_t i = 0; i < r->n_q; i++)
        free(r->qnames[i]);
    for (size_t i = 0; i < r->n_results; i++)
        free(r->results[i]);
    r->n_q = r->n_results = 0;
}

static int rquery_cmp(const void *x, const void *y)
{
    const struct rquery *a = x, *b = y;
    if (a->n_results != b->n_results)
        return a->n_results < b->n_results ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Entity wanted by label L for query q, or -1 when L does not match q. */
static int64_t label_answer(const struct label *L, const struct rquery *q)
{
    if (L->rel != q->rel)
        return -1;
    if (q->want == CALL_WANT_OBJECT)
        return L->h == q->partner ? (int64_t)L->t : -1;
    return L->t == q->partner ? (int64_t)L->h : -1;
}

static bool has_substr(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return false;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* The read point at mention mi, if it has one (r->n_q > 0). */
static enum status make_rpoint(const struct traindata *td, const struct doc *d, size_t mi,
                               const struct traindata_params *p, struct rpoint *r,
                               struct rquery *qs, struct traindata_stats *stats)
{
    const struct mention *m = &d->m[mi];
    uint32_t E = m->ent;
    size_t nq = 0;
    r->m = m;
    r->n_q = r->n_results = 0;
    for (size_t li = 0; li < d->n_l; li++) {
        const struct label *L = &d->l[li];
        if (L->h == L->t || (L->h != E && L->t != E))
            continue;
        struct rquery q = {L->t == E ? CALL_WANT_OBJECT : CALL_WANT_SUBJECT,
                           L->t == E ? L->h : L->t, L->rel, NULL, 0, li};
        for (size_t k = 0; k < d->n_m && d->m[k].off < m->off; k++)
            if (d->m[k].ent == q.partner && d->m[k].end <= m->off)
                q.pm = &d->m[k];
        if (!q.pm || (p->read_partner_in_context && q.pm->sent + p->context_sents < m->sent))
            continue;
        bool dup = false;
        for (size_t k = 0; k < nq && !dup; k++)
            dup = qs[k].want == q.want && qs[k].partner == q.partner && qs[k].rel == q.rel;
        if (dup)
            continue;
        char *pname = dup_n(d->text + q.pm->off, q.pm->end - q.pm->off);
        if (!pname)
            return STATUS_NOMEM;
        bool ok = name_ok(pname);
        free(pname);
        if (!ok)
            continue;
        for (size_t l2 = 0; l2 < d->n_l; l2++) {
            int64_t a = label_answer(&d->l[l2], &q);
            if (a < 0)
                continue;
            bool seen = false; /* count distinct wanted entities */
            for (size_t l3 = 0; l3 < l2 && !seen; l3++)
                seen = label_answer(&d->l[l3], &q) == a;
            q.n_results += !seen;
        }
        qs[nq++] = q;
    }
    if (nq == 0)
        return STATUS_OK;
    const char *tname = d->text + m->off;
    size_t tlen = m->end - m->off;
    if (has_substr(d->text, m->off, tname, tlen)) {
        stats->n_reads_skipped_copyable++;
        return STATUS_OK;
    }
    qsort(qs, nq, sizeof *qs, rquery_cmp);
    if (nq > CALL_MAX_QUERIES)
        nq = CALL_MAX_QUERIES;
    size_t first_sent = m->sent > p->context_sents ? m->sent - p->context_sents : 0;
    for (size_t k = 0; k < nq; k++) {
        char *pname = dup_n(d->text + qs[k].pm->off, qs[k].pm->end - qs[k].pm->off);
        if (!pname)
            return STATUS_NOMEM;
        r->qnames[r->n_q] = pname;
        r->q[r->n_q++] = (struct call_query){qs[k].want == CALL_WANT_OBJECT ? pname : NULL,
                                             td->rel_names[qs[k].rel],
                                             qs[k].want == CALL_WANT_SUBJECT ? pname : NULL,
                                             qs[k].want};
        if (qs[k].pm->sent < first_sent)
            first_sent = qs[k].pm->sent;
    }
    r->start = d->sent_off[first_sent];
    /* results: the target as written at m first, then the others by query and label */
    char *t = dup_n(tname, tlen);
    if (!t)
        return STATUS_NOMEM;
    if (!name_ok(t)) {
        free(t);
        rpoint_clear(r);
        stats->n_triples_skipped++;
        return STATUS_OK;
    }
    r->results[r->n_results++] = t;
    for (size_t k = 0; k < nq; k++) {
        for (size_t l2 = 0; l2 < d->n_l && r->n_results < CALL_MAX_RESULTS; l2++) {
            int64_t a = label_answer(&d->l[l2], &qs[k]);
            if (a < 0 || (uint32_t)a == E || d->first_m[a] == SIZE_MAX)
                continue;
            const struct mention *fm = &d->m[d->first_m[a]];
            char *nm = dup_n(d->text + fm->off, fm->end - fm->off);
            if (!nm)
                return STATUS_NOMEM;
            bool dup = !name_ok(nm);
            for (size_t j = 0; j < r->n_results && !dup; j++)
                dup = strcmp(r->results[j], nm) == 0;
            if (dup) {
                free(nm);
                continue;
            }
            r->results[r->n_results++] = nm;
        }
    }
    return STATUS_OK;
}

static enum status emit_read(const struct doc *d, size_t di, const struct rpoint *r,
                             const struct rpoint *next, bool to_sentence_end,
                             traindata_sink sink, void *ctx, struct traindata_stats *stats)
{
    char *pending = NULL, *full = NULL;
    struct sbuf text = {0};
    enum status st;
    if ((st = call_format_read_query(r->q, r->n_q, &pending)) != STATUS_OK ||
        (st = call_format_read_result(r->q, r->n_q, (const char *const *)r->results,
                                      r->n_results, &full)) != STATUS_OK)
        goto done;
    sb_add(&text, d->text + r->start, r->m->off - r->start);
    size_t call_at = text.n;
    sb_str(&text, full);
    size_t after = text.n;
    if (next && to_sentence_end && next->m->off > d->sent_end[r->m->sent])
        next = NULL;
    size_t cont_end = next ? next->m->off
                           : to_sentence_end ? d->sent_end[r->m->sent] : d->text_len;
    sb_add(&text, d->text + r->m->off, cont_end - r->m->off);
    if (next)
        sb_str(&text, CALL_OPEN);
    st = STATUS_NOMEM;
    if (text.oom)
        goto done;
    struct traindata_example ex = {.kind = TRAINDATA_KIND_READ, .doc = di, .sent = r->m->sent,
                                   .text = text.p, .text_len = text.n, .loss_from = call_at,
                                   .spans = {{call_at, call_at + strlen(pending)},
                                             {after, text.n}},
                                   .n_spans = 2, .n_items = r->n_q};
    stats->n_reads++;
    stats->n_read_queries += r->n_q;
    stats->n_read_results += r->n_results;
    st = sink(ctx, &ex);
done:
    free(pending);
    free(full);
    free(text.p);
    return st;
}

static enum status doc_reads(const struct traindata *td, size_t di,
                             const struct traindata_params *p, traindata_sink sink, void *ctx,
                             struct traindata_stats *stats)
{
    const struct doc *d = &td->docs[di];
    struct rquery *qs = malloc((d->n_l ? d->n_l : 1) * sizeof *qs);
    struct rpoint cur = {0}, nxt = {0};
    enum status st = STATUS_NOMEM;
    if (!qs)
        goto done;
    /* walk the read points keeping one look-ahead: cur is emitted once nxt is known */
    bool have = false;
    for (size_t mi = 0; mi <= d->n_m; mi++) {
        if (mi < d->n_m) {
            if (d->first_m[d->m[mi].ent] != mi)
                continue;
            if ((st = make_rpoint(td, d, mi, p, &nxt, qs, stats)) != STATUS_OK)
                goto done;
            if (nxt.n_q == 0)
                continue;
            if (have && nxt.m->off < cur.m->end) {
                /* starts inside the current target (nested mentions): the text after the
                 * current call would be cut inside the name it just read */
                rpoint_clear(&nxt);
                continue;
            }
        }
        if (have && (st = emit_read(d, di, &cur, mi < d->n_m ? &nxt : NULL,
                                    p->read_to_sentence_end, sink, ctx, stats)) != STATUS_OK)
            goto done;
        rpoint_clear(&cur);
        if (mi < d->n_m) {
            cur = nxt;
            memset(&nxt, 0, sizeof nxt);
            have = true;
        }
    }
    st = STATUS_OK;
done:
    rpoint_clear(&cur);
    rpoint_clear(&nxt);
    free(qs);
    return st;
}

enum status traindata_doc_examples(const struct traindata *td, size_t doc,
                                   const struct traindata_params *p, traindata_sink sink,
                                   void *ctx, struct traindata_stats *stats)
{
    if (doc >= td->n_docs)
        return status_detail_set(STATUS_INVALID, _("document %zu out of range"), doc);
    const struct doc *d = &td->docs[doc];
    enum status st = STATUS_OK;
    if (p->writes) {
        bool *written = calloc(d->n_l ? d->n_l : 1, sizeof *written);
        if (!written)
            return STATUS_NOMEM;
        st = doc_writes(td, doc, p, sink, ctx, stats, written);
        stats->n_labels += d->n_l;
        for (size_t i = 0; i < d->n_l; i++)
            stats->n_labels_written += written[i];
        free(written);
    }
    if (st == STATUS_OK && p->reads)
        st = doc_reads(td, doc, p, sink, ctx, stats);
    return st;
}

/* Characters (code points) in the valid UTF-8 text[0..off). */
static size_t char_offset(const char *text, size_t off)
{
    size_t n = 0;
    for (size_t i = 0; i < off; i++)
        n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

void traindata_example_write_json(FILE *f, const struct traindata_example *ex)
{
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        fputs("{\"kind\":\"write\",\"prompt\":", f);
        json_write_str(f, ex->prompt, ex->prompt_len);
        fputs(",\"completion\":", f);
        json_write_str(f, ex->completion, ex->completion_len);
        fputs("}\n", f);
        return;
    }
    fputs("{\"kind\":\"read\",\"text\":", f);
    json_write_str(f, ex->text, ex->text_len);
    fprintf(f, ",\"loss_from\":%zu,\"loss_spans\":[", char_offset(ex->text, ex->loss_from));
    for (size_t i = 0; i < ex->n_spans; i++)
        fprintf(f, "%s[%zu,%zu]", i ? "," : "", char_offset(ex->text, ex->spans[i][0]),
                char_offset(ex->text, ex->spans[i][1]));
    fputs("]}\n", f);
}

/* ---- SHA-256 (FIPS 180-4) --------------------------------------------------------------- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const uint8_t *b)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha_k[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = bb;
        bb = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

void traindata_sha256(const void *data, size_t len, uint8_t digest[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t n = len;
    while (n >= 64) {
        sha_block(h, p);
        p += 64;
        n -= 64;
    }
    uint8_t last[128] = {0};
    memcpy(last, p, n);
    last[n] = 0x80;
    size_t tail = n + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        last[tail - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha_block(h, last);
    if (tail == 128)
        sha_block(h, last + 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
}

void traindata_title_hash(const char *title, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t dg[32];
    traindata_sha256(title, len, dg);
    for (int i = 0; i < TRAINDATA_HASH_HEX / 2; i++) {
        out[2 * i] = hex[dg[i] >> 4];
        out[2 * i + 1] = hex[dg[i] & 15];
    }
    out[TRAINDATA_HASH_HEX] = '\0';
}

/* ---- Split ---------------------------------------------------------------------------- */

struct traindata_split {
    char (*h)[TRAINDATA_HASH_HEX + 1];
    size_t n, cap;
};

void traindata_split_free(struct traindata_split *s)
{
    if (!s)
        return;
    free(s->h);
    free(s);
}

size_t traindata_split_size(const struct traindata_split *s) { return s->n; }

static bool split_add(struct traindata_split *s, const char *hash)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        void *np = realloc(s->h, nc * sizeof *s->h);
        if (!np)
            return false;
        s->h = np;
        s->cap = nc;
    }
    memcpy(s->h[s->n++], hash, TRAINDATA_HASH_HEX + 1);
    return true;
}

static bool split_has(const struct traindata_split *s, const char *hash)
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->h[i], hash, TRAINDATA_HASH_HEX) == 0)
            return true;
    return false;
}

enum status traindata_split_read(const char *path, struct traindata_split **out)
{
    char *buf;
    size_t len;
    enum status st = slurp(path, &buf, &len);
    if (st != STATUS_OK)
        return st;
    struct traindata_split *s = calloc(1, sizeof *s);
    st = STATUS_NOMEM;
    if (!s)
        goto fail;
    size_t lineno = 0;
    for (size_t i = 0; i < len;) {
        const char *e = memchr(buf + i, '\n', len - i);
        size_t n = e ? (size_t)(e - (buf + i)) : len - i;
        const char *l = buf + i;
        i += n + 1;
        lineno++;
        while (n > 0 && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
            n--;
        if (n == 0 || l[0] == '#')
            continue;
        bool ok = n == TRAINDATA_HASH_HEX;
        for (size_t k = 0; k < n && ok; k++)
            ok = (l[k] >= '0' && l[k] <= '9') || (l[k] >= 'a' && l[k] <= 'f');
        if (!ok) {
            st = status_detail_set(STATUS_FORMAT, _("%s:%zu: not a title hash of %d hex "
                                                    "digits"), path, lineno,
                                   TRAINDATA_HASH_HEX);
            goto fail;
        }
        char h[TRAINDATA_HASH_HEX + 1];
        memcpy(h, l, TRAINDATA_HASH_HEX);
        h[TRAINDATA_HASH_HEX] = '\0';
        if (!split_has(s, h) && !split_add(s, h))
            goto fail;
    }
    free(buf);
    *out = s;
    return STATUS_OK;
fail:
    free(buf);
    traindata_split_free(s);
    return st;
}

enum status traindata_split_last(const struct traindata *td, size_t n_eval,
                                 struct traindata_split **out)
{
    struct traindata_split *s = calloc(1, sizeof *s);
    if (!s)
        return STATUS_NOMEM;
    size_t first = n_eval < td->n_docs ? td->n_docs - n_eval : 0;
    for (size_t i = first; i < td->n_docs; i++) {
        char h[TRAINDATA_HASH_HEX + 1];
        traindata_title_hash(td->docs[i].title, strlen(td->docs[i].title), h);
        if (!split_has(s, h) && !split_add(s, h)) {
            traindata_split_free(s);
            return STATUS_NOMEM;
        }
    }
    *out = s;
    return STATUS_OK;
}

enum status traindata_split_write(const struct traindata_split *s, const char *path,
                                  const char *comment)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    if (comment) {
        const char *c = comment;
        while (*c) {
            const char *e = strchr(c, '\n');
            size_t n = e ? (size_t)(e - c) : strlen(c);
            fprintf(f, "# %.*s\n", (int)n, c);
            c += n + (e != NULL);
        }
    }
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s\n", s->h[i]);
    if (fclose(f) != 0)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    return STATUS_OK;
}

bool traindata_split_is_eval(const struct traindata_split *s, const struct traindata *td,
                             size_t i)
{
    if (i >= td->n_docs)
        return false;
    char h[TRAINDATA_HASH_HEX + 1];
    traindata_title_hash(td->docs[i].title, strlen(td->docs[i].title), h);
    return split_has(s, h);
}
