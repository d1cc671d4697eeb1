/* eval.c -- reproducible MemLLM evaluation: write P/R/F1 on Re-DocRED, ZsRE editing
 * (REL/GEN/LOC), perplexity with and without memory.  The protocols are in eval.h. */
#include "config.h"
#include "agent/eval.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/memcons.h"
#include "agent/synth.h"
#include "agent/traindata.h"
#include "engine/tok.h"
#include "memory/embed.h"
#include "memory/store.h"
#include "protocol/call.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/utf8.h"

/* ---- names ---------------------------------------------------------------------------- */

/* Simple case folding over a fixed table (see eval.h): locale-independent. */
static uint32_t fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c < 0x80)
        return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c & 1) ? c : c + 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 0x20;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    return c;
}

static bool is_space_cp(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
           c == 0xA0;
}

/* Fold s[0..len) into a new string; collapse: whitespace runs become one space, trimmed. */
static char *fold(const char *s, size_t len, bool collapse)
{
    char *out = malloc(len + 1); /* folding never lengthens: the table maps within a
                                    UTF-8 length class */
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    bool pending_space = false;
    while (i < len) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k <= 0) { /* invalid byte: copied unchanged */
            if (pending_space && o) {
                out[o++] = ' ';
            }
            pending_space = false;
            out[o++] = s[i++];
            continue;
        }
        i += (size_t)k;
        if (collapse && is_space_cp(cp)) {
            pending_space = true;
            continue;
        }
        if (pending_space && o)
            out[o++] = ' ';
        pending_space = false;
        char buf[4];
        size_t n = utf8_encode(fold_cp(cp), buf);
        memcpy(out + o, buf, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

enum status eval_norm(const char *s, size_t len, char **out)
{
    char *r = fold(s, len, true);
    if (!r)
        return STATUS_NOMEM;
    *out = r;
    return STATUS_OK;
}

bool eval_contains_ci(const char *hay, const char *needle)
{
    char *h = fold(hay, strlen(hay), false);
    char *n = fold(needle, strlen(needle), false);
    bool found = h && n && strstr(h, n) != NULL;
    free(h);
    free(n);
    return found;
}

static char *xstrndup(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

/* ---- files ---------------------------------------------------------------------------- */

static enum status read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_detail_set(STATUS_IO, _("%s: %s"), path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    enum status st = STATUS_OK;
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (!b)
        st = STATUS_NOMEM;
    else if (ferror(f))
        st = status_detail_set(STATUS_IO, _("%s: %s"), path, strerror(errno));
    fclose(f);
    if (st != STATUS_OK) {
        free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return STATUS_OK;
}

/* ---- relation map --------------------------------------------------------------------- */

struct relmap {
    char **id, **name;
    size_t n;
};

static void relmap_free(struct relmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->id[i]);
        free(m->name[i]);
    }
    free(m->id);
    free(m->name);
    memset(m, 0, sizeof *m);
}

static bool relmap_add(struct relmap *m, const char *id, size_t il, const char *name,
                       size_t nl)
{
    char **ni = realloc(m->id, (m->n + 1) * sizeof *ni);
    if (!ni)
        return false;
    m->id = ni;
    char **nn = realloc(m->name, (m->n + 1) * sizeof *nn);
    if (!nn)
        return false;
    m->name = nn;
    m->id[m->n] = xstrndup(id, il);
    m->name[m->n] = xstrndup(name, nl);
    if (!m->id[m->n] || !m->name[m->n]) {
        free(m->id[m->n]);
        free(m->name[m->n]);
        return false;
    }
    m->n++;
    return true;
}

static const char *relmap_find(const struct relmap *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->id[i], id) == 0)
            return m->name[i];
    return NULL;
}

static enum status relmap_parse(const char *buf, size_t len, struct relmap *m)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)buf[i]))
        i++;
    if (i < len && buf[i] == '{') {
        struct json_doc *doc;
        enum status st = json_parse(buf, len, &doc);
        if (st != STATUS_OK)
            return st;
        const struct json_value *root = json_doc_root(doc);
        for (size_t k = 0; k < json_len(root); k++) {
            size_t kl, vl;
            const char *key = json_key_at(root, k, &kl);
            const char *v = json_str(json_at(root, k), &vl);
            if (!v) {
                /* key lives in doc: format the message before freeing it */
                status_detail_set(STATUS_FORMAT, _("relation %s: not a string"), key);
                json_doc_free(doc);
                return STATUS_FORMAT;
            }
            if (!relmap_add(m, key, kl, v, vl)) {
                json_doc_free(doc);
                return STATUS_NOMEM;
            }
        }
        json_doc_free(doc);
        return STATUS_OK;
    }
    /* relations.tsv: id TAB name [TAB ...] */
    size_t line = 0;
    for (i = 0; i < len;) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t le = e;
        if (le > i && buf[le - 1] == '\r')
            le--;
        if (le > i && buf[i] != '#') {
            const char *tab = memchr(buf + i, '\t', le - i);
            if (!tab)
                return status_detail_set(STATUS_FORMAT, _("line %zu: no tab"), line);
            const char *ns = tab + 1;
            const char *tab2 = memchr(ns, '\t', (size_t)(buf + le - ns));
            size_t nl = tab2 ? (size_t)(tab2 - ns) : (size_t)(buf + le - ns);
            if (!relmap_add(m, buf + i, (size_t)(tab - (buf + i)), ns, nl))
                return STATUS_NOMEM;
        }
        i = e + 1;
    }
    return STATUS_OK;
}

/* ---- documents ------------------------------------------------------------------------ */

struct mention {
    size_t start, end; /* bytes of the document text */
    char *norm;        /* normalized surface form */
    char *name_norm;   /* normalized "name" field, or NULL */
};

struct entity {
    struct mention *m;
    size_t n_m;
    size_t first; /* index of the mention earliest in the text */
};

struct label {
    size_t h, t;
    char *rel;      /* relation name */
    char *rel_norm;
};

struct doc {
    char *title;
    char *text;
    size_t len;
    size_t *sent_start; /* byte offset of each non-empty sentence, n_sents of them */
    size_t n_sents;
    struct entity *ents;
    size_t n_ents;
    struct label *labels;
    size_t n_labels;
};

struct eval_docs {
    struct doc *docs;
    size_t n;
};

static void doc_free(struct doc *d)
{
    free(d->title);
    free(d->text);
    free(d->sent_start);
    for (size_t e = 0; e < d->n_ents; e++) {
        for (size_t k = 0; k < d->ents[e].n_m; k++) {
            free(d->ents[e].m[k].norm);
            free(d->ents[e].m[k].name_norm);
        }
        free(d->ents[e].m);
    }
    free(d->ents);
    for (size_t l = 0; l < d->n_labels; l++) {
        free(d->labels[l].rel);
        free(d->labels[l].rel_norm);
    }
    free(d->labels);
}

void eval_docs_free(struct eval_docs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        doc_free(&d->docs[i]);
    free(d->docs);
    free(d);
}

static bool get_index(const struct json_value *v, size_t limit, size_t *out)
{
    int64_t x;
    if (!json_int(v, &x) || x < 0 || (uint64_t)x >= limit)
        return false;
    *out = (size_t)x;
    return true;
}

#define DOC_BAD(...) \
    do { \
        st = status_detail_set(STATUS_FORMAT, __VA_ARGS__); \
        goto fail; \
    } while (0)

static enum status doc_parse(const struct json_value *o, size_t di, const struct relmap *rm,
                             struct doc *d)
{
    enum status st = STATUS_NOMEM;
    size_t *tok_start = NULL, *sent_tok0 = NULL; /* per token: byte start; per sentence:
                                                    its first token's index */
    size_t *tok_len = NULL;
    const struct json_value *sents = json_get(o, "sents");
    const struct json_value *vs = json_get(o, "vertexSet");
    const struct json_value *labels = json_get(o, "labels");
    size_t tl;
    const char *title = json_str(json_get(o, "title"), &tl);
    if (!title)
        title = "", tl = 0;
    if (!(d->title = xstrndup(title, tl)))
        goto fail;
    if (json_kind(sents) != JSON_ARRAY || json_kind(vs) != JSON_ARRAY)
        DOC_BAD(_("document %zu: sents and vertexSet must be arrays"), di + 1);
    size_t n_sents = json_len(sents), n_tok = 0, bytes = 0;
    for (size_t s = 0; s < n_sents; s++) {
        const struct json_value *sv = json_at(sents, s);
        if (json_kind(sv) != JSON_ARRAY)
            DOC_BAD(_("document %zu: sentence %zu is not an array"), di + 1, s);
        for (size_t k = 0; k < json_len(sv); k++) {
            size_t l;
            if (!json_str(json_at(sv, k), &l))
                DOC_BAD(_("document %zu: sentence %zu: token %zu is not a string"), di + 1, s, k);
            bytes += l + 1;
            n_tok++;
        }
    }
    tok_start = calloc(n_tok + 1, sizeof *tok_start);
    tok_len = calloc(n_tok + 1, sizeof *tok_len);
    sent_tok0 = calloc(n_sents + 1, sizeof *sent_tok0);
    d->text = malloc(bytes + 1);
    d->sent_start = malloc((n_sents + 1) * sizeof *d->sent_start);
    if (!tok_start || !tok_len || !sent_tok0 || !d->text || !d->sent_start)
        goto fail;
    size_t o_len = 0, t = 0;
    for (size_t s = 0; s < n_sents; s++) {
        const struct json_value *sv = json_at(sents, s);
        sent_tok0[s] = t;
        for (size_t k = 0; k < json_len(sv); k++) {
            size_t l;
            const char *w = json_str(json_at(sv, k), &l);
            if (o_len)
                d->text[o_len++] = ' ';
            if (k == 0)
                d->sent_start[d->n_sents++] = o_len;
            tok_start[t] = o_len;
            tok_len[t] = l;
            memcpy(d->text + o_len, w, l);
            o_len += l;
            t++;
        }
    }
    sent_tok0[n_sents] = t;
    d->text[o_len] = '\0';
    d->len = o_len;

    d->n_ents = json_len(vs);
    if (d->n_ents && !(d->ents = calloc(d->n_ents, sizeof *d->ents)))
        goto fail;
    for (size_t e = 0; e < d->n_ents; e++) {
        const struct json_value *ev = json_at(vs, e);
        struct entity *en = &d->ents[e];
        if (json_kind(ev) != JSON_ARRAY || json_len(ev) == 0)
            DOC_BAD(_("document %zu: entity %zu has no mentions"), di + 1, e);
        if (!(en->m = calloc(json_len(ev), sizeof *en->m)))
            goto fail;
        for (size_t k = 0; k < json_len(ev); k++) {
            const struct json_value *mv = json_at(ev, k);
            const struct json_value *pos = json_get(mv, "pos");
            size_t sid, a, b;
            if (!get_index(json_get(mv, "sent_id"), n_sents, &sid))
                DOC_BAD(_("document %zu: entity %zu: bad sent_id"), di + 1, e);
            size_t ns = sent_tok0[sid + 1] - sent_tok0[sid];
            if (json_len(pos) != 2 || !get_index(json_at(pos, 0), ns, &a) ||
                !get_index(json_at(pos, 1), ns + 1, &b) || b <= a)
                DOC_BAD(_("document %zu: entity %zu: bad pos"), di + 1, e);
            struct mention *m = &en->m[en->n_m++];
            m->start = tok_start[sent_tok0[sid] + a];
            m->end = tok_start[sent_tok0[sid] + b - 1] + tok_len[sent_tok0[sid] + b - 1];
            if (eval_norm(d->text + m->start, m->end - m->start, &m->norm) != STATUS_OK)
                goto fail;
            size_t nl;
            const char *nm = json_str(json_get(mv, "name"), &nl);
            if (nm && eval_norm(nm, nl, &m->name_norm) != STATUS_OK)
                goto fail;
            if (m->start < en->m[en->first].start)
                en->first = en->n_m - 1;
        }
    }

    size_t nl = json_len(labels);
    if (nl && !(d->labels = calloc(nl, sizeof *d->labels)))
        goto fail;
    for (size_t l = 0; l < nl; l++) {
        const struct json_value *lv = json_at(labels, l);
        size_t h, tt, rl;
        const char *r = json_str(json_get(lv, "r"), &rl);
        if (!r || !get_index(json_get(lv, "h"), d->n_ents, &h) ||
            !get_index(json_get(lv, "t"), d->n_ents, &tt))
            DOC_BAD(_("document %zu: label %zu: needs r, h and t"), di + 1, l);
        const char *name = relmap_find(rm, r);
        if (!name)
            name = r;
        bool dup = false;
        for (size_t q = 0; q < d->n_labels && !dup; q++)
            dup = d->labels[q].h == h && d->labels[q].t == tt &&
                  strcmp(d->labels[q].rel, name) == 0;
        if (dup)
            continue;
        struct label *lb = &d->labels[d->n_labels];
        if (!(lb->rel = strdup(name)))
            goto fail;
        if (eval_norm(name, strlen(name), &lb->rel_norm) != STATUS_OK) {
            free(lb->rel);
            goto fail;
        }
        lb->h = h;
        lb->t = tt;
        d->n_labels++;
    }
    st = STATUS_OK;
fail:
    free(tok_start);
    free(tok_len);
    free(sent_tok0);
    return st;
}

enum status eval_docs_load(const char *json, size_t len, const char *rel, size_t rel_len,
                           struct eval_docs **out)
{
    struct relmap rm = {0};
    struct json_doc *jd = NULL;
    struct eval_docs *d = calloc(1, sizeof *d);
    enum status st = STATUS_NOMEM;
    if (!d)
        goto fail;
    if (rel && (st = relmap_parse(rel, rel_len, &rm)) != STATUS_OK)
        goto fail;
    if ((st = json_parse(json, len, &jd)) != STATUS_OK)
        goto fail;
    const struct json_value *root = json_doc_root(jd);
    if (json_kind(root) != JSON_ARRAY) {
        st = status_detail_set(STATUS_FORMAT, _("expected a JSON array of documents"));
        goto fail;
    }
    size_t n = json_len(root);
    if (n && !(d->docs = calloc(n, sizeof *d->docs))) {
        st = STATUS_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        d->n = i + 1; /* so that a partly built document is freed */
        if ((st = doc_parse(json_at(root, i), i, &rm, &d->docs[i])) != STATUS_OK)
            goto fail;
    }
    d->n = n;
    json_doc_free(jd);
    relmap_free(&rm);
    *out = d;
    return STATUS_OK;
fail:
    json_doc_free(jd);
    relmap_free(&rm);
    eval_docs_free(d);
    return st;
}

enum status eval_docs_open(const char *path, const char *rel_path, struct eval_docs **out)
{
    char *buf = NULL, *rbuf = NULL;
    size_t len = 0, rlen = 0;
    enum status st = read_file(path, &buf, &len);
    if (st != STATUS_OK)
        return st;
    if (rel_path && (st = read_file(rel_path, &rbuf, &rlen)) != STATUS_OK) {
        free(buf);
        return st;
    }
    st = eval_docs_load(buf, len, rbuf, rlen, out);
    if (st != STATUS_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        status_detail_set(st, "%s: %s", path, detail);
    }
    free(buf);
    free(rbuf);
    return st;
}

size_t eval_docs_count(const struct eval_docs *d)
{
    return d->n;
}

const char *eval_doc_title(const struct eval_docs *d, size_t i)
{
    return d->docs[i].title;
}

const char *eval_doc_text(const struct eval_docs *d, size_t i, size_t *len)
{
    if (len)
        *len = d->docs[i].len;
    return d->docs[i].text;
}

size_t eval_doc_n_labels(const struct eval_docs *d, size_t i)
{
    return d->docs[i].n_labels;
}

void eval_docs_truncate(struct eval_docs *d, size_t n)
{
    while (d->n > n)
        doc_free(&d->docs[--d->n]);
}

enum status eval_docs_split(struct eval_docs *d, const char *split_path, bool held_out)
{
    char *buf;
    size_t len;
    enum status st = read_file(split_path, &buf, &len);
    if (st != STATUS_OK)
        return st;
    char (*hashes)[TRAINDATA_HASH_HEX + 1] = NULL;
    size_t nh = 0, line = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t a = i, b = e;
        while (a < b && isspace((unsigned char)buf[a]))
            a++;
        while (b > a && isspace((unsigned char)buf[b - 1]))
            b--;
        i = e + 1;
        if (a == b || buf[a] == '#')
            continue;
        bool ok = b - a == TRAINDATA_HASH_HEX;
        for (size_t k = a; ok && k < b; k++)
            ok = isxdigit((unsigned char)buf[k]);
        if (!ok) {
            free(buf);
            free(hashes);
            return status_detail_set(STATUS_FORMAT, _("%s:%zu: not a title hash"), split_path,
                                     line);
        }
        void *nhp = realloc(hashes, (nh + 1) * sizeof *hashes);
        if (!nhp) {
            free(buf);
            free(hashes);
            return STATUS_NOMEM;
        }
        hashes = nhp;
        for (size_t k = 0; k < TRAINDATA_HASH_HEX; k++)
            hashes[nh][k] = (char)tolower((unsigned char)buf[a + k]);
        hashes[nh][TRAINDATA_HASH_HEX] = '\0';
        nh++;
    }
    free(buf);
    size_t w = 0;
    for (size_t i = 0; i < d->n; i++) {
        char h[TRAINDATA_HASH_HEX + 1];
        traindata_title_hash(d->docs[i].title, strlen(d->docs[i].title), h);
        bool listed = false;
        for (size_t k = 0; k < nh && !listed; k++)
            listed = strcmp(hashes[k], h) == 0;
        if (listed == held_out)
            d->docs[w++] = d->docs[i];
        else
            doc_free(&d->docs[i]);
    }
    d->n = w;
    free(hashes);
    return STATUS_OK;
}

/* ---- write scoring -------------------------------------------------------------------- */

double eval_prf_precision(const struct eval_prf *p)
{
    return p->stored ? (double)p->stored_ok / (double)p->stored : 0.0;
}

double eval_prf_recall(const struct eval_prf *p)
{
    return p->gold ? (double)p->gold_ok / (double)p->gold : 0.0;
}

double eval_prf_f1(const struct eval_prf *p)
{
    double pr = eval_prf_precision(p), rc = eval_prf_recall(p);
    return pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0.0;
}

struct rel_tally {
    char *name;
    struct eval_prf prf;
};

struct eval_write_score {
    struct eval_prf total;
    struct rel_tally *rels;
    size_t n_rels, docs;
};

enum status eval_write_score_new(struct eval_write_score **out)
{
    struct eval_write_score *s = calloc(1, sizeof *s);
    if (!s)
        return STATUS_NOMEM;
    *out = s;
    return STATUS_OK;
}

void eval_write_score_free(struct eval_write_score *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_rels; i++)
        free(s->rels[i].name);
    free(s->rels);
    free(s);
}

/* The tally of relation name (normalized), created in sorted position; NULL: no memory. */
static struct eval_prf *rel_get(struct eval_write_score *s, const char *name)
{
    size_t lo = 0, hi = s->n_rels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->rels[mid].name, name);
        if (c == 0)
            return &s->rels[mid].prf;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct rel_tally *nr = realloc(s->rels, (s->n_rels + 1) * sizeof *nr);
    if (!nr)
        return NULL;
    s->rels = nr;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    memmove(&s->rels[lo + 1], &s->rels[lo], (s->n_rels - lo) * sizeof *nr);
    s->rels[lo].name = copy;
    memset(&s->rels[lo].prf, 0, sizeof s->rels[lo].prf);
    s->n_rels++;
    return &s->rels[lo].prf;
}

static bool entity_has_name(const struct entity *e, const char *norm)
{
    for (size_t k = 0; k < e->n_m; k++)
        if (strcmp(e->m[k].norm, norm) == 0 ||
            (e->m[k].name_norm && strcmp(e->m[k].name_norm, norm) == 0))
            return true;
    return false;
}

static bool label_matches(const struct doc *d, const struct label *l, char *const nt[3])
{
    return strcmp(l->rel_norm, nt[1]) == 0 && entity_has_name(&d->ents[l->h], nt[0]) &&
           entity_has_name(&d->ents[l->t], nt[2]);
}

enum status eval_write_score_doc(struct eval_write_score *s, const struct eval_docs *d,
                                 size_t doc, const struct eval_triple *stored, size_t n)
{
    if (doc >= d->n)
        return STATUS_INVALID;
    const struct doc *dc = &d->docs[doc];
    enum status st = STATUS_NOMEM;
    char *(*nt)[3] = n ? calloc(n, sizeof *nt) : NULL;
    bool *hit = dc->n_labels ? calloc(dc->n_labels, sizeof *hit) : NULL;
    size_t m = 0;
    if ((n && !nt) || (dc->n_labels && !hit))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *parts[3] = {stored[i].subj, stored[i].rel, stored[i].obj};
        for (int k = 0; k < 3; k++)
            if (eval_norm(parts[k] ? parts[k] : "", parts[k] ? strlen(parts[k]) : 0,
                          &nt[m][k]) != STATUS_OK)
                goto out_m1;
        bool dup = false;
        for (size_t q = 0; q < m && !dup; q++)
            dup = !strcmp(nt[q][0], nt[m][0]) && !strcmp(nt[q][1], nt[m][1]) &&
                  !strcmp(nt[q][2], nt[m][2]);
        if (dup) {
            for (int k = 0; k < 3; k++) {
                free(nt[m][k]);
                nt[m][k] = NULL;
            }
            continue;
        }
        m++;
    }
    /* every allocation happens before counting, so a failure adds nothing */
    for (size_t i = 0; i < m; i++)
        if (!rel_get(s, nt[i][1]))
            goto out;
    for (size_t l = 0; l < dc->n_labels; l++)
        if (!rel_get(s, dc->labels[l].rel_norm))
            goto out;
    for (size_t i = 0; i < m; i++) {
        bool ok = false;
        for (size_t l = 0; l < dc->n_labels; l++) {
            if (label_matches(dc, &dc->labels[l], nt[i])) {
                ok = true;
                hit[l] = true;
            }
        }
        struct eval_prf *r = rel_get(s, nt[i][1]);
        r->stored++;
        s->total.stored++;
        if (ok) {
            r->stored_ok++;
            s->total.stored_ok++;
        }
    }
    for (size_t l = 0; l < dc->n_labels; l++) {
        struct eval_prf *r = rel_get(s, dc->labels[l].rel_norm);
        r->gold++;
        s->total.gold++;
        if (hit[l]) {
            r->gold_ok++;
            s->total.gold_ok++;
        }
    }
    s->docs++;
    st = STATUS_OK;
    goto out;
out_m1:
    m++; /* free the partly normalized triple too */
out:
    for (size_t i = 0; i < m; i++)
        for (int k = 0; k < 3; k++)
            free(nt[i][k]);
    free(nt);
    free(hit);
    return st;
}

void eval_write_score_total(const struct eval_write_score *s, struct eval_prf *out)
{
    *out = s->total;
}

size_t eval_write_score_docs(const struct eval_write_score *s)
{
    return s->docs;
}

size_t eval_write_score_n_rel(const struct eval_write_score *s)
{
    return s->n_rels;
}

const char *eval_write_score_rel(const struct eval_write_score *s, size_t i,
                                 struct eval_prf *out)
{
    if (i >= s->n_rels)
        return NULL;
    if (out)
        *out = s->rels[i].prf;
    return s->rels[i].name;
}

/* ---- ZsRE ----------------------------------------------------------------------------- */

struct eval_edits {
    struct eval_edit_record *r;
    char **strs; /* every owned string */
    size_t n, n_strs;
};

void eval_edits_free(struct eval_edits *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_strs; i++)
        free(e->strs[i]);
    free(e->strs);
    free(e->r);
    free(e);
}

static const char *edit_field(struct eval_edits *e, const struct json_value *o, const char *key,
                              bool *nomem)
{
    size_t l = 0;
    const struct json_value *v = json_get(o, key);
    const char *s = json_str(v, &l);
    if (!s && json_kind(v) == JSON_ARRAY) /* some ZsRE files give loc_ans as a list */
        s = json_str(json_at(v, 0), &l);
    if (!s)
        return "";
    char *c = xstrndup(s, strnlen(s, l)); /* an embedded NUL ends the text */
    if (!c) {
        *nomem = true;
        return "";
    }
    e->strs[e->n_strs++] = c;
    return c;
}

enum status eval_edits_load(const char *json, size_t len, struct eval_edits **out)
{
    struct json_doc *jd;
    enum status st = json_parse(json, len, &jd);
    if (st != STATUS_OK)
        return st;
    const struct json_value *root = json_doc_root(jd);
    struct eval_edits *e = calloc(1, sizeof *e);
    if (!e) {
        json_doc_free(jd);
        return STATUS_NOMEM;
    }
    if (json_kind(root) != JSON_ARRAY) {
        st = status_detail_set(STATUS_FORMAT, _("expected a JSON array of records"));
        goto fail;
    }
    size_t n = json_len(root);
    st = STATUS_NOMEM;
    if (n && (!(e->r = calloc(n, sizeof *e->r)) || !(e->strs = calloc(n * 6, sizeof(char *)))))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct json_value *o = json_at(root, i);
        if (json_kind(o) != JSON_OBJECT) {
            st = status_detail_set(STATUS_FORMAT, _("record %zu: not an object"), i + 1);
            goto fail;
        }
        bool nomem = false;
        struct eval_edit_record *r = &e->r[i];
        r->src = edit_field(e, o, "src", &nomem);
        r->alt = edit_field(e, o, "alt", &nomem);
        r->rephrase = edit_field(e, o, "rephrase", &nomem);
        r->loc = edit_field(e, o, "loc", &nomem);
        r->loc_ans = edit_field(e, o, "loc_ans", &nomem);
        r->subject = edit_field(e, o, "subject", &nomem);
        if (nomem)
            goto fail;
        if (!r->src[0] || !r->alt[0]) {
            st = status_detail_set(STATUS_FORMAT, _("record %zu: src and alt are required"),
                                   i + 1);
            goto fail;
        }
        e->n = i + 1;
    }
    json_doc_free(jd);
    *out = e;
    return STATUS_OK;
fail:
    json_doc_free(jd);
    eval_edits_free(e);
    return st;
}

enum status eval_edits_open(const char *path, struct eval_edits **out)
{
    char *buf;
    size_t len;
    enum status st = read_file(path, &buf, &len);
    if (st != STATUS_OK)
        return st;
    st = eval_edits_load(buf, len, out);
    if (st != STATUS_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        status_detail_set(st, "%s: %s", path, detail);
    }
    free(buf);
    return st;
}

size_t eval_edits_count(const struct eval_edits *e)
{
    return e->n;
}

const struct eval_edit_record *eval_edits_get(const struct eval_edits *e, size_t i)
{
    return i < e->n ? &e->r[i] : NULL;
}

void eval_edits_truncate(struct eval_edits *e, size_t n)
{
    if (n < e->n)
        e->n = n;
}

char *eval_edit_statement(const struct eval_edit_record *r)
{
    static const char mid[] = " It is or they are \"";
    size_t a = strlen(r->src), b = strlen(r->alt);
    char *s = malloc(a + sizeof mid - 1 + b + 2);
    if (!s)
        return NULL;
    memcpy(s, r->src, a);
    memcpy(s + a, mid, sizeof mid - 1);
    memcpy(s + a + sizeof mid - 1, r->alt, b);
    memcpy(s + a + sizeof mid - 1 + b, "\"", 2);
    return s;
}

static bool same_answer(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    char *na, *nb;
    if (eval_norm(a, strlen(a), &na) != STATUS_OK)
        return false;
    if (eval_norm(b, strlen(b), &nb) != STATUS_OK) {
        free(na);
        return false;
    }
    bool same = strcmp(na, nb) == 0;
    free(na);
    free(nb);
    return same;
}

void eval_edit_tally_add(struct eval_edit_tally *t, const struct eval_edit_record *r,
                         const char *ans_src, const char *ans_rephrase,
                         const char *loc_before, const char *loc_after)
{
    t->n++;
    if (ans_src && eval_contains_ci(ans_src, r->alt))
        t->rel++;
    if (ans_rephrase && eval_contains_ci(ans_rephrase, r->alt))
        t->gen++;
    if (same_answer(loc_before, loc_after))
        t->loc++;
}

void eval_edit_tally_scores(const struct eval_edit_tally *t, double *rel, double *gen,
                            double *loc, double *mean)
{
    double n = (double)t->n;
    double r = t->n ? (double)t->rel / n : 0, g = t->n ? (double)t->gen / n : 0,
           l = t->n ? (double)t->loc / n : 0;
    if (rel)
        *rel = r;
    if (gen)
        *gen = g;
    if (loc)
        *loc = l;
    if (mean)
        *mean = (r + g + l) / 3;
}

/* ---- perplexity arithmetic ------------------------------------------------------------ */

void eval_ppl_add(struct eval_ppl *p, double logp, unsigned cls)
{
    p->sum_logp[EVAL_PPL_OVERALL] += logp;
    p->n[EVAL_PPL_OVERALL]++;
    if (cls & EVAL_TOK_TARGET) {
        p->sum_logp[EVAL_PPL_TARGET] += logp;
        p->n[EVAL_PPL_TARGET]++;
    }
    if (cls & EVAL_TOK_ENTITY) {
        p->sum_logp[EVAL_PPL_ENTITY] += logp;
        p->n[EVAL_PPL_ENTITY]++;
    }
}

double eval_ppl_value(const struct eval_ppl *p, enum eval_ppl_kind k)
{
    if (k >= EVAL_PPL_KINDS || p->n[k] == 0)
        return NAN;
    return exp(-p->sum_logp[k] / (double)p->n[k]);
}

/* ---- the loops ------------------------------------------------------------------------ */

struct triple_buf {
    struct eval_triple *t;
    size_t n, cap;
    bool nomem;
};

static void triple_buf_sink(void *ctx, const struct eval_triple *t)
{
    struct triple_buf *b = ctx;
    if (b->nomem)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct eval_triple *nt = realloc(b->t, cap * sizeof *nt);
        if (!nt) {
            b->nomem = true;
            return;
        }
        b->t = nt;
        b->cap = cap;
    }
    struct eval_triple *o = &b->t[b->n];
    o->subj = strdup(t->subj);
    o->rel = strdup(t->rel);
    o->obj = strdup(t->obj);
    if (!o->subj || !o->rel || !o->obj) {
        free((char *)(uintptr_t)o->subj);
        free((char *)(uintptr_t)o->rel);
        free((char *)(uintptr_t)o->obj);
        b->nomem = true;
        return;
    }
    b->n++;
}

static void triple_buf_clear(struct triple_buf *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free((char *)(uintptr_t)b->t[i].subj);
        free((char *)(uintptr_t)b->t[i].rel);
        free((char *)(uintptr_t)b->t[i].obj);
    }
    b->n = 0;
    b->nomem = false;
}

/* The document text with its sentences joined by a blank line instead of a space, so the
 * write mode's splitter ends a sentence at least where Re-DocRED does (owned). */
static char *write_text(const struct doc *dc, size_t *len)
{
    char *w = malloc(dc->len + dc->n_sents + 1);
    if (!w)
        return NULL;
    size_t o = 0, from = 0;
    for (size_t s = 1; s < dc->n_sents; s++) {
        size_t at = dc->sent_start[s] - 1; /* the space before sentence s */
        memcpy(w + o, dc->text + from, at - from);
        o += at - from;
        w[o++] = '\n';
        w[o++] = '\n';
        from = at + 1;
    }
    memcpy(w + o, dc->text + from, dc->len - from);
    o += dc->len - from;
    w[o] = '\0';
    *len = o;
    return w;
}

enum status eval_write_run(const struct eval_backend *b, const struct eval_docs *d,
                           struct eval_write_score *s, eval_progress_fn progress, void *user)
{
    struct triple_buf tb = {0};
    enum status st = STATUS_OK;
    for (size_t i = 0; i < d->n && st == STATUS_OK; i++) {
        triple_buf_clear(&tb);
        if ((st = b->fresh(b->ctx)) != STATUS_OK)
            break;
        size_t wl;
        char *wt = write_text(&d->docs[i], &wl);
        if (!wt) {
            st = STATUS_NOMEM;
            break;
        }
        st = b->write(b->ctx, wt, wl, d->docs[i].title, triple_buf_sink, &tb);
        free(wt);
        if (st == STATUS_OK && tb.nomem)
            st = STATUS_NOMEM;
        if (st == STATUS_OK)
            st = eval_write_score_doc(s, d, i, tb.t, tb.n);
        if (st == STATUS_OK && progress)
            progress(user, i + 1, d->n);
    }
    triple_buf_clear(&tb);
    free(tb.t);
    return st;
}

enum status eval_edit_run(const struct eval_backend *b, const struct eval_edits *e,
                          bool sequential, struct eval_edit_tally *t,
                          eval_progress_fn progress, void *user)
{
    size_t n = e->n, total = sequential ? 3 * n : 2 * n, done = 0;
    char **before = n ? calloc(n, sizeof *before) : NULL;
    char *stmt = NULL, *a_src = NULL, *a_reph = NULL, *a_loc = NULL;
    if (n && !before)
        return STATUS_NOMEM;
    enum status st = b->fresh(b->ctx);
    /* answers to loc before any edit */
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        st = b->ask(b->ctx, e->r[i].loc, &before[i]);
        if (st == STATUS_OK && progress)
            progress(user, ++done, total);
    }
    if (st == STATUS_OK && sequential) {
        if ((st = b->fresh(b->ctx)) == STATUS_OK) {
            for (size_t i = 0; i < n && st == STATUS_OK; i++) {
                if (!(stmt = eval_edit_statement(&e->r[i]))) {
                    st = STATUS_NOMEM;
                    break;
                }
                st = b->write(b->ctx, stmt, strlen(stmt), NULL, NULL, NULL);
                free(stmt);
                stmt = NULL;
                if (st == STATUS_OK && progress)
                    progress(user, ++done, total);
            }
        }
    }
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        const struct eval_edit_record *r = &e->r[i];
        if (!sequential) {
            if ((st = b->fresh(b->ctx)) != STATUS_OK)
                break;
            if (!(stmt = eval_edit_statement(r))) {
                st = STATUS_NOMEM;
                break;
            }
            st = b->write(b->ctx, stmt, strlen(stmt), NULL, NULL, NULL);
            free(stmt);
            stmt = NULL;
            if (st != STATUS_OK)
                break;
        }
        if ((st = b->ask(b->ctx, r->src, &a_src)) != STATUS_OK ||
            (st = b->ask(b->ctx, r->rephrase, &a_reph)) != STATUS_OK ||
            (st = b->ask(b->ctx, r->loc, &a_loc)) != STATUS_OK)
            break;
        eval_edit_tally_add(t, r, a_src, a_reph, before[i], a_loc);
        free(a_src);
        free(a_reph);
        free(a_loc);
        a_src = a_reph = a_loc = NULL;
        if (progress)
            progress(user, ++done, total);
    }
    free(a_src);
    free(a_reph);
    free(a_loc);
    for (size_t i = 0; i < n; i++)
        free(before[i]);
    free(before);
    return st;
}

/* ---- facts ---------------------------------------------------------------------------- */

/* The line of the file that holds its i-th fact (from 0), counted as synth_facts_read()
 * counts: lines end at '\n', a trailing '\r' is dropped, blank and '#' lines hold no fact,
 * the text ends at its first NUL byte.  0 when it cannot be read or has fewer facts. */
static size_t fact_line(const char *path, size_t i)
{
    char *buf = NULL;
    size_t len = 0, line = 0, facts = 0, at = 0;
    if (read_file(path, &buf, &len) != STATUS_OK)
        return 0;
    const char *p = buf, *end = memchr(buf, '\0', len);
    if (!end)
        end = buf + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        line++;
        if (n && p[n - 1] == '\r')
            n--;
        if (n && p[0] != '#' && facts++ == i) {
            at = line;
            break;
        }
        if (!e)
            break;
        p = e + 1;
    }
    free(buf);
    return at;
}

enum status eval_facts_open(const char *path, struct synth_facts **out)
{
    struct synth_facts *f = NULL;
    enum status st = synth_facts_read(path, &f);
    if (st != STATUS_OK)
        return st;
    for (size_t i = 0; i < synth_facts_count(f); i++) {
        const struct synth_fact *x = synth_facts_get(f, i);
        const char *bad = !utf8_valid(x->s, strlen(x->s))   ? "subject"
                          : !utf8_valid(x->r, strlen(x->r)) ? "relation"
                          : !utf8_valid(x->o, strlen(x->o)) ? "object"
                                                            : NULL;
        if (bad) {
            size_t line = fact_line(path, i);
            synth_facts_free(f);
            /* TRANSLATORS: file, line number, then "subject", "relation" or "object" */
            return status_detail_set(STATUS_ENCODING, _("%s:%zu: the %s is not valid UTF-8"),
                                     path, line, bad);
        }
    }
    *out = f;
    return STATUS_OK;
}

/* ---- the agent backend ---------------------------------------------------------------- */

struct eval_agent {
    struct agent_lm lm;
    struct tok *tk;
    struct agent_params p;
    struct ctrl_params cp;
    char *relations_path;
    const struct synth_facts *facts; /* borrowed; NULL: none */
    struct memcons *mc;              /* p.constrain: made at the first fresh() */
    struct embedder e;
    bool have_e;
    struct mem *m;
    struct ctrl *c;
    struct agent *volatile a;
    volatile sig_atomic_t cancelled;
    eval_triple_sink sink; /* of the write in progress */
    void *sink_ctx;
};

static void ea_close_memory(struct eval_agent *ea)
{
    struct agent *a = ea->a;
    ea->a = NULL;
    agent_free(a);
    memcons_set_memory(ea->mc, NULL);
    ctrl_close(ea->c);
    ea->c = NULL;
    mem_close(ea->m);
    ea->m = NULL;
}

void eval_agent_free(struct eval_agent *ea)
{
    if (!ea)
        return;
    ea_close_memory(ea);
    memcons_free(ea->mc);
    if (ea->have_e)
        embed_free(&ea->e);
    free(ea->relations_path);
    free(ea);
}

void eval_agent_set_facts(struct eval_agent *ea, const struct synth_facts *f)
{
    ea->facts = f;
}

/* The facts into the new memory: one batch (one transaction, names embedded a chunk at a
 * time), as `memllm mem import` writes. */
static enum status ea_load_facts(struct eval_agent *ea)
{
    struct ctrl_batch *b = NULL;
    enum status st = ctrl_batch_begin(ea->c, &b);
    if (st != STATUS_OK)
        return st;
    size_t n = synth_facts_count(ea->facts);
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        const struct synth_fact *f = synth_facts_get(ea->facts, i);
        st = ctrl_batch_add(b, f->s, f->r, f->o, 0);
    }
    if (st != STATUS_OK) {
        ctrl_batch_abort(b);
        return st;
    }
    return ctrl_batch_commit(b, NULL);
}

static void ea_on_event(void *user, const struct agent_event *ev)
{
    struct eval_agent *ea = user;
    if (ev->kind != AGENT_EVENT_WRITE || !ea->sink || !ev->written || ev->status != STATUS_OK)
        return;
    for (size_t i = 0; i < ev->n_triples; i++) {
        struct eval_triple t = {ev->triples[i].subj, ev->triples[i].rel, ev->triples[i].obj};
        ea->sink(ea->sink_ctx, &t);
    }
}

enum status eval_agent_fresh(struct eval_agent *ea)
{
    ea_close_memory(ea);
    if (ea->cancelled)
        return STATUS_CANCELLED;
    enum status st = mem_open(":memory:", &ea->m);
    if (st != STATUS_OK)
        return st;
    if (ea->relations_path && (st = mem_relations_load(ea->m, ea->relations_path, NULL)) !=
                                  STATUS_OK)
        return st;
    if ((st = ctrl_open(ea->m, &ea->e, &ea->c)) != STATUS_OK ||
        (st = ctrl_params_set(ea->c, &ea->cp)) != STATUS_OK)
        return st;
    if (ea->facts && (st = ea_load_facts(ea)) != STATUS_OK)
        return st;
    /* every fresh memory has the same relations: one constraint (its vocabulary index is
     * the costly part) for all of them */
    if (ea->p.constrain && !ea->mc && (st = memcons_new(ea->tk, ea->m, &ea->mc)) != STATUS_OK)
        return st;
    memcons_set_memory(ea->mc, ea->m);
    struct agent *a;
    if ((st = agent_new(&ea->lm, ea->tk, ea->c, &ea->p, &a)) != STATUS_OK)
        return st;
    agent_set_events(a, ea_on_event, ea);
    if (ea->mc) {
        struct agent_constraint ac;
        memcons_hook(ea->mc, &ac);
        agent_set_constraint(a, &ac);
    }
    ea->a = a;
    if (ea->cancelled)
        return STATUS_CANCELLED;
    return STATUS_OK;
}

struct ctrl *eval_agent_ctrl(struct eval_agent *ea)
{
    return ea->c;
}

static enum status ea_fresh(void *ctx)
{
    return eval_agent_fresh(ctx);
}

static enum status ea_write(void *ctx, const char *text, size_t len, const char *title,
                            eval_triple_sink sink, void *sink_ctx)
{
    struct eval_agent *ea = ctx;
    if (!ea->a)
        return STATUS_INVALID;
    ea->sink = sink;
    ea->sink_ctx = sink_ctx;
    /* write calls name spans of the text, not memory (as memllm write) */
    memcons_set_memory(ea->mc, NULL);
    enum status st = agent_write_text(ea->a, text, len, NULL, title, NULL);
    memcons_set_memory(ea->mc, ea->m);
    ea->sink = NULL;
    ea->sink_ctx = NULL;
    if (st == STATUS_OK && ea->cancelled)
        st = STATUS_CANCELLED;
    return st;
}

static enum status ea_ask(void *ctx, const char *question, char **answer)
{
    struct eval_agent *ea = ctx;
    if (!ea->a)
        return STATUS_INVALID;
    char *out = NULL;
    enum status st = agent_ask(ea->a, question, &out, NULL);
    if (st == STATUS_OK && ea->cancelled)
        st = STATUS_CANCELLED;
    if (st != STATUS_OK) {
        free(out);
        return st;
    }
    if (!out && !(out = strdup("")))
        return STATUS_NOMEM;
    *answer = out;
    return STATUS_OK;
}

enum status eval_agent_new(const struct agent_lm *lm, struct tok *tk,
                           const struct agent_params *p, const struct ctrl_params *cp,
                           const char *relations_path, struct eval_agent **out)
{
    struct eval_agent *ea = calloc(1, sizeof *ea);
    if (!ea)
        return STATUS_NOMEM;
    ea->lm = *lm;
    ea->tk = tk;
    ea->p = *p;
    ea->cp = *cp;
    enum status st = ctrl_params_check(cp);
    if (st != STATUS_OK)
        goto fail;
    st = STATUS_NOMEM;
    if (relations_path && !(ea->relations_path = strdup(relations_path)))
        goto fail;
    if ((st = embed_hash_new(0, &ea->e)) != STATUS_OK)
        goto fail;
    ea->have_e = true;
    *out = ea;
    return STATUS_OK;
fail:
    eval_agent_free(ea);
    return st;
}

void eval_agent_backend(struct eval_agent *ea, struct eval_backend *out)
{
    out->fresh = ea_fresh;
    out->write = ea_write;
    out->ask = ea_ask;
    out->ctx = ea;
}

void eval_agent_cancel(struct eval_agent *ea)
{
    ea->cancelled = 1;
    struct agent *a = ea->a;
    if (a)
        agent_cancel(a);
}

bool eval_agent_cancelled(const struct eval_agent *ea)
{
    return ea->cancelled != 0;
}

/* ---- perplexity of a document --------------------------------------------------------- */

struct ids {
    int32_t *v;
    size_t n, cap;
};

static bool ids_reserve(struct ids *x, size_t more)
{
    if (x->n + more <= x->cap)
        return true;
    size_t cap = x->cap ? x->cap : 256;
    while (cap < x->n + more)
        cap *= 2;
    int32_t *nv = realloc(x->v, cap * sizeof *nv);
    if (!nv)
        return false;
    x->v = nv;
    x->cap = cap;
    return true;
}

/* Append the encoding of text[0..len) to x. */
static enum status ids_encode(struct ids *x, struct tok *tk, const char *text, size_t len,
                              unsigned flags)
{
    size_t bound = tok_encode_bound(len), n = 0;
    if (!ids_reserve(x, bound))
        return STATUS_NOMEM;
    enum status st = tok_encode(tk, text, len, flags, x->v + x->n, bound, &n);
    if (st != STATUS_OK)
        return st;
    x->n += n;
    return STATUS_OK;
}

static double log_prob(const float *logits, size_t n_vocab, int32_t id)
{
    float mx = logits[0];
    for (size_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0; /* subtract the max before exp so nothing overflows */
    for (size_t i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - mx);
    return (double)logits[id] - mx - log(sum);
}

struct sbuf {
    char *s;
    size_t n, cap;
};

static bool sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return false;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

static bool sb_str(struct sbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

/* The read call for target entity e (whose first mention starts at pos) of doc dc, or an
 * empty b when no query can be formed; *has_query tells whether one could.  c NULL: only
 * decide has_query. */
static enum status build_call(const struct doc *dc, size_t e, struct ctrl *c, struct sbuf *b,
                              bool *has_query)
{
    size_t at = dc->ents[e].m[dc->ents[e].first].start;
    struct sbuf q = {0}, ans = {0};
    struct {
        size_t partner;
        const char *rel;
        bool want_obj;
    } qs[3];
    size_t nq = 0;
    enum status st = STATUS_OK;
    for (size_t l = 0; l < dc->n_labels && nq < 3; l++) {
        const struct label *lb = &dc->labels[l];
        size_t partner;
        bool want_obj;
        if (lb->t == e && lb->h != e) {
            partner = lb->h;
            want_obj = true;
        } else if (lb->h == e && lb->t != e) {
            partner = lb->t;
            want_obj = false;
        } else {
            continue;
        }
        const struct entity *pe = &dc->ents[partner];
        bool before = false;
        for (size_t k = 0; k < pe->n_m && !before; k++)
            before = pe->m[k].end <= at;
        if (!before)
            continue;
        bool dup = false;
        for (size_t k = 0; k < nq && !dup; k++)
            dup = qs[k].partner == partner && qs[k].want_obj == want_obj &&
                  strcmp(qs[k].rel, lb->rel) == 0;
        if (dup)
            continue;
        qs[nq].partner = partner;
        qs[nq].rel = lb->rel;
        qs[nq].want_obj = want_obj;
        nq++;
    }
    *has_query = nq > 0;
    b->n = 0;
    if (!c || !nq)
        return STATUS_OK;
    char **seen = NULL;
    size_t n_seen = 0;
    for (size_t k = 0; k < nq && st == STATUS_OK; k++) {
        const struct entity *pe = &dc->ents[qs[k].partner];
        const struct mention *pm = &pe->m[pe->first];
        char *pname = xstrndup(dc->text + pm->start, pm->end - pm->start);
        if (!pname) {
            st = STATUS_NOMEM;
            break;
        }
        bool ok = (!k || sb_str(&q, ";")) &&
                  (qs[k].want_obj ? sb_str(&q, pname) && sb_str(&q, ">>") &&
                                        sb_str(&q, qs[k].rel) && sb_str(&q, ">>")
                                  : sb_str(&q, ">>") && sb_str(&q, qs[k].rel) &&
                                        sb_str(&q, ">>") && sb_str(&q, pname));
        struct ctrl_read *r = NULL;
        if (!ok)
            st = STATUS_NOMEM;
        else
            st = ctrl_read(c, qs[k].want_obj ? CTRL_WANT_OBJECT : CTRL_WANT_SUBJECT, pname,
                           qs[k].rel, &r);
        free(pname);
        for (size_t a = 0; st == STATUS_OK && a < r->n_answers && n_seen < CALL_MAX_RESULTS;
             a++) {
            bool dup = false;
            for (size_t s = 0; s < n_seen && !dup; s++)
                dup = strcmp(seen[s], r->answers[a].name) == 0;
            if (dup)
                continue;
            char **ns = realloc(seen, (n_seen + 1) * sizeof *ns);
            if (!ns || !(ns[n_seen] = strdup(r->answers[a].name))) {
                if (ns)
                    seen = ns;
                st = STATUS_NOMEM;
                break;
            }
            seen = ns;
            if ((n_seen && !sb_str(&ans, ";")) || !sb_str(&ans, seen[n_seen]))
                st = STATUS_NOMEM;
            n_seen++;
        }
        ctrl_read_free(r);
    }
    if (st == STATUS_OK && n_seen) {
        if (!sb_str(b, CALL_OPEN) || !sb_str(b, "MEM_READ(") || !sb_add(b, q.s, q.n) ||
            !sb_str(b, ")") || !sb_str(b, CALL_ARROW) || !sb_add(b, ans.s, ans.n) ||
            !sb_str(b, CALL_CLOSE))
            st = STATUS_NOMEM;
    }
    for (size_t s = 0; s < n_seen; s++)
        free(seen[s]);
    free(seen);
    free(q.s);
    free(ans.s);
    return st;
}

struct piece {
    size_t start, end;
    unsigned cls;
    size_t target; /* entity whose first mention starts here, or SIZE_MAX */
};

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

enum status eval_ppl_doc(const struct agent_lm *lm, struct tok *tk, struct ctrl *c,
                         const struct eval_docs *d, size_t doc, struct eval_ppl *acc,
                         const volatile sig_atomic_t *cancel)
{
    if (doc >= d->n)
        return STATUS_INVALID;
    const struct doc *dc = &d->docs[doc];
    enum status st = STATUS_NOMEM;
    size_t n_m = 0;
    for (size_t e = 0; e < dc->n_ents; e++)
        n_m += dc->ents[e].n_m;
    size_t *cuts = malloc((2 * n_m + 2) * sizeof *cuts);
    struct piece *pc = malloc((2 * n_m + 1) * sizeof *pc);
    bool *is_target = dc->n_ents ? calloc(dc->n_ents, sizeof *is_target) : NULL;
    float *logits = malloc(lm->n_vocab * sizeof *logits);
    struct ids seq = {0}, tmp = {0};
    struct sbuf call = {0};
    size_t n_pc = 0;
    if (!cuts || !pc || (dc->n_ents && !is_target) || !logits)
        goto out;

    /* gold triples into memory */
    if (c) {
        for (size_t l = 0; l < dc->n_labels; l++) {
            const struct label *lb = &dc->labels[l];
            const struct mention *hm = &dc->ents[lb->h].m[dc->ents[lb->h].first];
            const struct mention *tm = &dc->ents[lb->t].m[dc->ents[lb->t].first];
            char *hs = xstrndup(dc->text + hm->start, hm->end - hm->start);
            char *ts = xstrndup(dc->text + tm->start, tm->end - tm->start);
            struct ctrl_triple_in t = {hs, lb->rel, ts};
            st = hs && ts ? ctrl_write(c, &t, 1, NULL, NULL) : STATUS_NOMEM;
            free(hs);
            free(ts);
            if (st != STATUS_OK)
                goto out;
        }
    }
    for (size_t e = 0; e < dc->n_ents; e++) {
        struct sbuf dummy = {0};
        if ((st = build_call(dc, e, NULL, &dummy, &is_target[e])) != STATUS_OK)
            goto out;
    }

    /* pieces between all mention boundaries */
    size_t nc = 0;
    cuts[nc++] = 0;
    cuts[nc++] = dc->len;
    for (size_t e = 0; e < dc->n_ents; e++)
        for (size_t k = 0; k < dc->ents[e].n_m; k++) {
            cuts[nc++] = dc->ents[e].m[k].start;
            cuts[nc++] = dc->ents[e].m[k].end;
        }
    qsort(cuts, nc, sizeof *cuts, cmp_size);
    for (size_t i = 0; i + 1 < nc; i++) {
        if (cuts[i] == cuts[i + 1])
            continue;
        struct piece *p = &pc[n_pc++];
        p->start = cuts[i];
        p->end = cuts[i + 1];
        p->cls = 0;
        p->target = SIZE_MAX;
        for (size_t e = 0; e < dc->n_ents; e++)
            for (size_t k = 0; k < dc->ents[e].n_m; k++) {
                const struct mention *m = &dc->ents[e].m[k];
                if (m->start <= p->start && p->end <= m->end) {
                    p->cls |= EVAL_TOK_ENTITY;
                    if (is_target[e] && k == dc->ents[e].first) {
                        p->cls |= EVAL_TOK_TARGET;
                        if (m->start == p->start && p->target == SIZE_MAX)
                            p->target = e;
                    }
                }
            }
    }

    /* teacher forcing */
    int32_t bos = tok_bos(tk);
    if (bos < 0 || (size_t)bos >= lm->n_vocab) {
        st = status_detail_set(STATUS_UNSUPPORTED, _("the vocabulary has no BOS token"));
        goto out;
    }
    if (!ids_reserve(&seq, 1))
        goto out;
    seq.v[seq.n++] = bos;
    size_t evaluated = 0;     /* tokens of seq the model holds */
    size_t call_at = 0, call_len = 0; /* the call in the context (call_len 0: none) */
    for (size_t i = 0; i < n_pc; i++) {
        const struct piece *p = &pc[i];
        size_t a = p->start, b = p->end;
        while (a < b && dc->text[a] == ' ')
            a++;
        while (b > a && dc->text[b - 1] == ' ')
            b--;
        if (a == b)
            continue;
        if (c && p->target != SIZE_MAX) {
            bool hq;
            if ((st = build_call(dc, p->target, c, &call, &hq)) != STATUS_OK)
                goto out;
            if (call.n) {
                if (call_len) { /* only the most recent call stays in the context */
                    memmove(seq.v + call_at, seq.v + call_at + call_len,
                            (seq.n - call_at - call_len) * sizeof *seq.v);
                    seq.n -= call_len;
                    if (evaluated > call_at)
                        evaluated = call_at;
                }
                call_at = seq.n;
                size_t before = seq.n;
                if ((st = ids_encode(&seq, tk, call.s, call.n, TOK_ENCODE_PARSE_SPECIAL)) !=
                    STATUS_OK)
                    goto out;
                call_len = seq.n - before;
            }
        }
        tmp.n = 0;
        if ((st = ids_encode(&tmp, tk, dc->text + a, b - a, 0)) != STATUS_OK)
            goto out;
        if (seq.n + tmp.n > lm->n_ctx) {
            st = status_detail_set(STATUS_LIMIT, _("document %zu needs more than %zu tokens"),
                                   doc + 1, lm->n_ctx);
            goto out;
        }
        if (!ids_reserve(&seq, tmp.n)) {
            st = STATUS_NOMEM;
            goto out;
        }
        for (size_t k = 0; k < tmp.n; k++) {
            if (cancel && *cancel) {
                st = STATUS_CANCELLED;
                goto out;
            }
            if (evaluated < seq.n) { /* bring the cache up to date (edits, first token) */
                if ((st = lm->eval(lm->ctx, seq.v + evaluated, seq.n - evaluated, evaluated,
                                   logits)) != STATUS_OK)
                    goto out;
                evaluated = seq.n;
            }
            int32_t id = tmp.v[k];
            if (id < 0 || (size_t)id >= lm->n_vocab) {
                st = status_detail_set(STATUS_INVALID, _("token %d out of range"), (int)id);
                goto out;
            }
            eval_ppl_add(acc, log_prob(logits, lm->n_vocab, id), p->cls);
            seq.v[seq.n++] = id;
        }
    }
    st = STATUS_OK;
out:
    free(cuts);
    free(pc);
    free(is_target);
    free(logits);
    free(seq.v);
    free(tmp.v);
    free(call.s);
    return st;
}
