/* call.c -- MemLLM call syntax: tolerant parser with per-piece errors, scanner, formatters. */
#include "config.h"
#include "protocol/call.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

static const char *const call_error_messages[] = {
    [CALL_ERR_NONE] = N_("no error"),
    [CALL_ERR_EMPTY_PIECE] = N_("empty piece between separators"),
    [CALL_ERR_FIELD_COUNT] = N_("expected three fields separated by '>>'"),
    [CALL_ERR_BOTH_SIDES] = N_("query gives both subject and object"),
    [CALL_ERR_NO_SIDE] = N_("query gives neither subject nor object"),
    [CALL_ERR_EMPTY_SUBJECT] = N_("empty subject"),
    [CALL_ERR_EMPTY_RELATION] = N_("empty relation"),
    [CALL_ERR_EMPTY_OBJECT] = N_("empty object"),
    [CALL_ERR_EMPTY_NAME] = N_("empty name"),
    /* TRANSLATORS: a memory read call takes at most 3 queries */
    [CALL_ERR_TOO_MANY_QUERIES] = N_("more than 3 queries"),
    /* TRANSLATORS: a memory read returns at most 30 names */
    [CALL_ERR_TOO_MANY_RESULTS] = N_("more than 30 results"),
    [CALL_ERR_ENCODING] = N_("invalid UTF-8"),
    [CALL_ERR_CONTROL] = N_("control character or line break in a name"),
    [CALL_ERR_DELIMITER] = N_("'({', '})', '-->', ';' or '>>' inside a name"),
    [CALL_ERR_EDGE] = N_("name starts or ends with '>', starts with '{', or ends with '}' or '--'"),
    [CALL_ERR_MISSING_PAREN] = N_("missing ')' before '-->'"),
    [CALL_ERR_UNTERMINATED] = N_("call not closed with '})'"),
    [CALL_ERR_TRAILING] = N_("text after the end of the call"),
};

_Static_assert(sizeof call_error_messages / sizeof call_error_messages[0] == CALL_ERR_COUNT_,
               "one message per call error kind");

const char *call_error_str(enum call_error_kind kind)
{
    if ((unsigned)kind >= CALL_ERR_COUNT_)
        return _("unknown error");
    return _(call_error_messages[kind]);
}

/* ---- shared helpers ---- */

/* Offset of the first needle in s[from..to), or SIZE_MAX. */
static size_t call_search(const char *s, size_t from, size_t to, const char *needle)
{
    size_t n = strlen(needle);
    if (to < n)
        return SIZE_MAX;
    for (size_t i = from; i + n <= to; i++) {
        if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
            return i;
    }
    return SIZE_MAX;
}

static bool call_starts(const char *s, size_t i, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len - i >= n && memcmp(s + i, word, n) == 0;
}

/* Trim spaces from both ends of s[*a..*b); an all-space range becomes empty at *a, so
 * that errors about it point at its start. */
static void call_trim(const char *s, size_t *a, size_t *b)
{
    size_t i = *a;
    while (i < *b && s[i] == ' ')
        i++;
    if (i == *b) {
        *b = *a;
        return;
    }
    *a = i;
    while (s[*b - 1] == ' ')
        (*b)--;
}

/* Check a trimmed, non-empty name against the rules in call.h; on a problem returns its
 * kind and sets *bad to the offending byte's offset within s. */
static enum call_error_kind call_check_name(const char *s, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            *bad = i;
            return CALL_ERR_CONTROL;
        }
        if (c >= 0x80) {
            uint32_t cp;
            int m = utf8_decode(s + i, n - i, &cp);
            if (m <= 0) {
                *bad = i;
                return CALL_ERR_ENCODING;
            }
            i += (size_t)m;
            continue;
        }
        if (c == ';' || (n - i >= 2 && ((c == '>' && s[i + 1] == '>') ||
                                        (c == '(' && s[i + 1] == '{') ||
                                        (c == '}' && s[i + 1] == ')'))) ||
            (n - i >= 3 && memcmp(s + i, "-->", 3) == 0)) {
            *bad = i;
            return CALL_ERR_DELIMITER;
        }
        i++;
    }
    if (s[0] == '>' || s[0] == '{') {
        *bad = 0;
        return CALL_ERR_EDGE;
    }
    /* a trailing "--" would make "-->" with the ">>" that follows */
    if (s[n - 1] == '>' || s[n - 1] == '}') {
        *bad = n - 1;
        return CALL_ERR_EDGE;
    }
    if (n >= 2 && s[n - 1] == '-' && s[n - 2] == '-') {
        *bad = n - 2;
        return CALL_ERR_EDGE;
    }
    return CALL_ERR_NONE;
}

enum call_error_kind call_name_check(const char *name, size_t len, size_t *bad)
{
    size_t a = 0, b = len, where = 0;
    if (!name)
        return CALL_ERR_EMPTY_NAME;
    call_trim(name, &a, &b);
    if (a == b)
        return CALL_ERR_EMPTY_NAME;
    enum call_error_kind k = call_check_name(name + a, b - a, &where);
    if (k != CALL_ERR_NONE && bad)
        *bad = a + where;
    return k;
}

/* ---- parsing ---- */

struct call_parser {
    const char *s;
    size_t len;
    struct call *c;
    size_t pool_used;
    size_t cap_queries, cap_results, cap_triples, cap_errors;
};

static enum status call_grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return STATUS_OK;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / size)
        return STATUS_NOMEM;
    void *t = realloc(*p, ncap * size);
    if (!t)
        return STATUS_NOMEM;
    *p = t;
    *cap = ncap;
    return STATUS_OK;
}

static enum status call_add_error(struct call_parser *p, size_t pos, enum call_error_kind kind)
{
    struct call *c = p->c;
    void *e = c->errors;
    if (call_grow(&e, &p->cap_errors, c->n_errors, sizeof *c->errors) != STATUS_OK)
        return STATUS_NOMEM;
    c->errors = e;
    c->errors[c->n_errors++] = (struct call_error){pos, kind};
    return STATUS_OK;
}

/* Copy s[a..b) into the pool (sized for every name of the text plus a NUL each). */
static const char *call_keep(struct call_parser *p, size_t a, size_t b)
{
    char *d = p->c->pool_ + p->pool_used;
    memcpy(d, p->s + a, b - a);
    d[b - a] = '\0';
    p->pool_used += b - a + 1;
    return d;
}

/* Split piece [a, b) at ">>" into exactly three trimmed fields; false if not three. */
static bool call_split3(const char *s, size_t a, size_t b, size_t fa[3], size_t fb[3])
{
    size_t k = 0, start = a;
    for (size_t i = a; i + 1 < b; i++) {
        if (s[i] == '>' && s[i + 1] == '>') {
            if (k == 2)
                return false;
            fa[k] = start;
            fb[k] = i;
            k++;
            i++;
            start = i + 1;
        }
    }
    if (k != 2)
        return false;
    fa[2] = start;
    fb[2] = b;
    for (int j = 0; j < 3; j++)
        call_trim(s, &fa[j], &fb[j]);
    return true;
}

/* A delimiter of the call syntax inside a piece means a broken or nested call. */
static size_t call_find_delim(const char *s, size_t a, size_t b)
{
    size_t best = SIZE_MAX;
    static const char *const delims[] = {"({", "})", "-->"};
    for (size_t k = 0; k < 3; k++) {
        size_t at = call_search(s, a, b, delims[k]);
        if (at < best)
            best = at;
    }
    return best;
}

/* Check the non-empty fields of a piece; returns the first problem. */
static enum call_error_kind call_check_fields(const char *s, const size_t fa[3],
                                              const size_t fb[3], size_t *pos)
{
    for (int j = 0; j < 3; j++) {
        if (fa[j] == fb[j])
            continue;
        size_t bad = 0;
        enum call_error_kind k = call_check_name(s + fa[j], fb[j] - fa[j], &bad);
        if (k != CALL_ERR_NONE) {
            *pos = fa[j] + bad;
            return k;
        }
    }
    return CALL_ERR_NONE;
}

enum call_piece { CALL_PIECE_QUERY, CALL_PIECE_TRIPLE, CALL_PIECE_RESULT };

static enum status call_parse_piece(struct call_parser *p, enum call_piece what, size_t a,
                                    size_t b)
{
    const char *s = p->s;
    struct call *c = p->c;
    size_t ta = a, tb = b;
    call_trim(s, &ta, &tb);
    if (ta == tb)
        return call_add_error(p, a, CALL_ERR_EMPTY_PIECE);
    size_t pos = call_find_delim(s, ta, tb);
    if (pos != SIZE_MAX)
        return call_add_error(p, pos, CALL_ERR_DELIMITER);

    if (what == CALL_PIECE_RESULT) {
        size_t bad = 0;
        enum call_error_kind k = call_check_name(s + ta, tb - ta, &bad);
        if (k != CALL_ERR_NONE)
            return call_add_error(p, ta + bad, k);
        if (c->n_results >= CALL_MAX_RESULTS)
            return call_add_error(p, ta, CALL_ERR_TOO_MANY_RESULTS);
        void *r = c->results;
        if (call_grow(&r, &p->cap_results, c->n_results, sizeof *c->results) != STATUS_OK)
            return STATUS_NOMEM;
        c->results = r;
        c->results[c->n_results++] = call_keep(p, ta, tb);
        return STATUS_OK;
    }

    size_t fa[3], fb[3];
    if (!call_split3(s, ta, tb, fa, fb))
        return call_add_error(p, ta, CALL_ERR_FIELD_COUNT);
    bool has_s = fa[0] < fb[0], has_r = fa[1] < fb[1], has_o = fa[2] < fb[2];
    enum call_error_kind k = call_check_fields(s, fa, fb, &pos);
    if (k != CALL_ERR_NONE)
        return call_add_error(p, pos, k);

    if (what == CALL_PIECE_TRIPLE) {
        if (!has_s)
            return call_add_error(p, fa[0], CALL_ERR_EMPTY_SUBJECT);
        if (!has_r)
            return call_add_error(p, fa[1], CALL_ERR_EMPTY_RELATION);
        if (!has_o)
            return call_add_error(p, fa[2], CALL_ERR_EMPTY_OBJECT);
        void *t = c->triples;
        if (call_grow(&t, &p->cap_triples, c->n_triples, sizeof *c->triples) != STATUS_OK)
            return STATUS_NOMEM;
        c->triples = t;
        struct call_triple *tr = &c->triples[c->n_triples++];
        tr->subj = call_keep(p, fa[0], fb[0]);
        tr->rel = call_keep(p, fa[1], fb[1]);
        tr->obj = call_keep(p, fa[2], fb[2]);
        return STATUS_OK;
    }

    if (!has_r)
        return call_add_error(p, fa[1], CALL_ERR_EMPTY_RELATION);
    if (has_s && has_o)
        return call_add_error(p, ta, CALL_ERR_BOTH_SIDES);
    if (!has_s && !has_o)
        return call_add_error(p, ta, CALL_ERR_NO_SIDE);
    if (c->n_queries >= CALL_MAX_QUERIES)
        return call_add_error(p, ta, CALL_ERR_TOO_MANY_QUERIES);
    void *q = c->queries;
    if (call_grow(&q, &p->cap_queries, c->n_queries, sizeof *c->queries) != STATUS_OK)
        return STATUS_NOMEM;
    c->queries = q;
    struct call_query *qu = &c->queries[c->n_queries++];
    qu->want = has_s ? CALL_WANT_OBJECT : CALL_WANT_SUBJECT;
    qu->subj = has_s ? call_keep(p, fa[0], fb[0]) : NULL;
    qu->rel = call_keep(p, fa[1], fb[1]);
    qu->obj = has_o ? call_keep(p, fa[2], fb[2]) : NULL;
    return STATUS_OK;
}

/* Parse the ';'-separated pieces of [a, b); a blank region has no pieces. */
static enum status call_parse_list(struct call_parser *p, enum call_piece what, size_t a,
                                   size_t b)
{
    size_t ta = a, tb = b;
    call_trim(p->s, &ta, &tb);
    if (ta == tb)
        return STATUS_OK;
    size_t start = a;
    for (size_t i = a; i <= b; i++) {
        if (i == b || p->s[i] == ';') {
            enum status st = call_parse_piece(p, what, start, i);
            if (st != STATUS_OK)
                return st;
            start = i + 1;
        }
    }
    return STATUS_OK;
}

/* After the closing "})" (at close) only whitespace may follow. */
static enum status call_check_trailing(struct call_parser *p, size_t close)
{
    for (size_t i = close + 2; i < p->len; i++) {
        char ch = p->s[i];
        if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r')
            return call_add_error(p, i, CALL_ERR_TRAILING);
    }
    return STATUS_OK;
}

static enum status call_fail(size_t at, const char *reason)
{
    /* TRANSLATORS: where a memory call fails to parse; %s is the reason */
    return status_detail_set(STATUS_PARSE, _("byte %zu: %s"), at, reason);
}

static enum status call_parse_kind(const char *text, size_t len, enum call_kind want,
                                   struct call **out)
{
    struct call_parser p = {.s = text ? text : "", .len = text ? len : 0};
    const char *s = p.s;
    enum status st = STATUS_NOMEM;
    len = p.len;
    p.c = calloc(1, sizeof *p.c);
    if (!p.c)
        goto fail;
    /* every name is a distinct stretch of the text: len bytes plus one NUL per name */
    if (len > (SIZE_MAX - 1) / 2)
        goto fail;
    p.c->pool_ = malloc(2 * len + 1);
    if (!p.c->pool_)
        goto fail;

    if (!call_starts(s, 0, len, CALL_OPEN)) {
        st = call_fail(0, _("expected '({'"));
        goto fail;
    }
    size_t i = 2;
    if (i < len && s[i] == ' ')
        i++;
    if (want == CALL_KIND_UNKNOWN) {
        if (call_starts(s, i, len, "MEM_READ("))
            want = CALL_KIND_READ;
        else if (call_starts(s, i, len, "MEM_WRITE"))
            want = CALL_KIND_WRITE;
        else {
            st = call_fail(i, _("expected 'MEM_READ(' or 'MEM_WRITE'"));
            goto fail;
        }
    }
    p.c->kind = want;
    size_t close = call_search(s, i, len, CALL_CLOSE);
    size_t body_end = close == SIZE_MAX ? len : close;

    if (want == CALL_KIND_READ) {
        if (!call_starts(s, i, len, "MEM_READ(")) {
            st = call_fail(i, _("expected 'MEM_READ('"));
            goto fail;
        }
        size_t qs = i + strlen("MEM_READ(");
        size_t arrow = call_search(s, qs, body_end, CALL_ARROW);
        if (arrow == SIZE_MAX) {
            st = call_fail(body_end, _("missing '-->'"));
            goto fail;
        }
        size_t qe = arrow;
        bool paren = qe > qs && s[qe - 1] == ')';
        if (paren)
            qe--;
        size_t errors_before = p.c->n_errors;
        if ((st = call_parse_list(&p, CALL_PIECE_QUERY, qs, qe)) != STATUS_OK)
            goto fail;
        /* "MEM_READ()" asks nothing: that is a malformed (empty) query too */
        if (p.c->n_queries == 0 && p.c->n_errors == errors_before &&
            (st = call_add_error(&p, qs, CALL_ERR_EMPTY_PIECE)) != STATUS_OK)
            goto fail;
        if (!paren && (st = call_add_error(&p, arrow, CALL_ERR_MISSING_PAREN)) != STATUS_OK)
            goto fail;
        size_t r = arrow + 3;
        if (r < len && s[r] == ' ')
            r++;
        if (close == SIZE_MAX && r == len) {
            p.c->has_results = false; /* the pending form: results still to come */
        } else {
            p.c->has_results = true;
            if ((st = call_parse_list(&p, CALL_PIECE_RESULT, r, body_end)) != STATUS_OK)
                goto fail;
        }
    } else {
        if (!call_starts(s, i, len, "MEM_WRITE")) {
            st = call_fail(i, _("expected 'MEM_WRITE'"));
            goto fail;
        }
        i += strlen("MEM_WRITE");
        if (i < len && s[i] == ' ')
            i++;
        if (!call_starts(s, i, len, CALL_ARROW)) {
            st = call_fail(i, _("missing '-->'"));
            goto fail;
        }
        i += 3;
        if (i < len && s[i] == ' ')
            i++;
        if ((st = call_parse_list(&p, CALL_PIECE_TRIPLE, i, body_end)) != STATUS_OK)
            goto fail;
    }

    if (close == SIZE_MAX) {
        /* a pending read is complete as it is; anything else lacks its "})" */
        if (want != CALL_KIND_READ || p.c->has_results)
            st = call_add_error(&p, len, CALL_ERR_UNTERMINATED);
        else
            st = STATUS_OK;
    } else {
        p.c->closed = true;
        st = call_check_trailing(&p, close);
    }
    if (st != STATUS_OK)
        goto fail;
    *out = p.c;
    return STATUS_OK;
fail:
    call_free(p.c);
    return st;
}

enum status call_parse_read(const char *text, size_t len, struct call **out)
{
    return call_parse_kind(text, len, CALL_KIND_READ, out);
}

enum status call_parse_write(const char *text, size_t len, struct call **out)
{
    return call_parse_kind(text, len, CALL_KIND_WRITE, out);
}

enum status call_parse(const char *text, size_t len, struct call **out)
{
    return call_parse_kind(text, len, CALL_KIND_UNKNOWN, out);
}

void call_free(struct call *c)
{
    if (!c)
        return;
    free(c->queries);
    free(c->results);
    free(c->triples);
    free(c->errors);
    free(c->pool_);
    free(c);
}

/* ---- scanning ---- */

enum call_state call_find(const char *text, size_t len, size_t *begin, size_t *end,
                          enum call_kind *kind)
{
    static const struct {
        const char *word;
        enum call_kind kind;
    } words[] = {
        {"MEM_READ(", CALL_KIND_READ},
        {"MEM_WRITE", CALL_KIND_WRITE},
        {"USER_ST})", CALL_KIND_USER_ST},
        {"USER_END})", CALL_KIND_USER_END},
    };
    const char *s = text;
    if (!s)
        return CALL_STATE_NONE;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '(')
            continue;
        if (i + 1 == len) {
            *begin = i;
            *end = len;
            *kind = CALL_KIND_UNKNOWN;
            return CALL_STATE_PREFIX;
        }
        if (s[i + 1] != '{')
            continue;
        *begin = i;
        *kind = CALL_KIND_UNKNOWN;
        size_t j = i + 2;
        if (j < len && s[j] == ' ')
            j++;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
            if (call_starts(s, j, len, words[w].word)) {
                *kind = words[w].kind;
                j += strlen(words[w].word);
                break;
            }
        }
        if (*kind == CALL_KIND_USER_ST || *kind == CALL_KIND_USER_END) {
            *end = j;
            return CALL_STATE_COMPLETE;
        }
        bool arrow = false;
        size_t arrow_end = 0;
        for (size_t k = j; k < len; k++) {
            if (k + 1 < len && s[k] == '(' && s[k + 1] == '{') {
                *end = k;
                return CALL_STATE_ABANDONED;
            }
            if (k + 1 < len && s[k] == '}' && s[k + 1] == ')') {
                *end = k + 2;
                return CALL_STATE_COMPLETE;
            }
            if (*kind == CALL_KIND_READ && !arrow && call_starts(s, k, len, CALL_ARROW)) {
                arrow = true;
                arrow_end = k + 3;
                if (arrow_end < len && s[arrow_end] == ' ')
                    arrow_end++;
                k += 2;
            }
        }
        if (arrow) {
            *end = arrow_end;
            return CALL_STATE_READ_PENDING;
        }
        *end = len;
        return CALL_STATE_OPEN;
    }
    return CALL_STATE_NONE;
}

/* ---- formatting ---- */

struct call_buf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void call_put(struct call_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n >= b->cap - b->n || !b->p) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *t = realloc(b->p, cap);
        if (!t) {
            b->oom = true;
            return;
        }
        b->p = t;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void call_puts(struct call_buf *b, const char *s)
{
    call_put(b, s, strlen(s));
}

static enum status call_buf_finish(struct call_buf *b, char **out)
{
    if (b->oom) {
        free(b->p);
        return STATUS_NOMEM;
    }
    *out = b->p;
    return STATUS_OK;
}

/* Trimmed view of a (possibly NULL) name. */
static void call_view(const char *s, const char **p, size_t *n)
{
    size_t a = 0, b = s ? strlen(s) : 0;
    if (s)
        call_trim(s, &a, &b);
    *p = s ? s + a : "";
    *n = b - a;
}

/* TRANSLATORS: the three parts of a memory triple (subject, relation, object) */
static const char *const call_field_names[] = {N_("subject"), N_("relation"), N_("object")};

/* STATUS_INVALID naming field f (0..2) of query or triple idx (1-based). */
static enum status call_field_error(bool triple, size_t idx, int f, enum call_error_kind k)
{
    if (triple)
        /* TRANSLATORS: "triple 2, object: empty object"; the first %s is a field name */
        return status_detail_set(STATUS_INVALID, _("triple %zu, %s: %s"), idx,
                                 _(call_field_names[f]), call_error_str(k));
    /* TRANSLATORS: "query 2, subject: empty subject"; the first %s is a field name */
    return status_detail_set(STATUS_INVALID, _("query %zu, %s: %s"), idx,
                             _(call_field_names[f]), call_error_str(k));
}

/* Validate a trimmed field: empty is reported as empty_kind. */
static enum status call_check_field(bool triple, size_t idx, int f, const char *s, size_t n,
                                    enum call_error_kind empty_kind)
{
    size_t bad;
    enum call_error_kind k = n ? call_check_name(s, n, &bad) : empty_kind;
    return k == CALL_ERR_NONE ? STATUS_OK : call_field_error(triple, idx, f, k);
}

static enum status call_check_query(const struct call_query *q, size_t idx)
{
    static const enum call_error_kind empty[3] = {CALL_ERR_EMPTY_SUBJECT,
                                                  CALL_ERR_EMPTY_RELATION,
                                                  CALL_ERR_EMPTY_OBJECT};
    if (q->want != CALL_WANT_OBJECT && q->want != CALL_WANT_SUBJECT)
        return status_detail_set(STATUS_INVALID, _("query %zu: invalid wanted side"), idx);
    const char *f[3];
    size_t n[3];
    call_view(q->subj, &f[0], &n[0]);
    call_view(q->rel, &f[1], &n[1]);
    call_view(q->obj, &f[2], &n[2]);
    int given = q->want == CALL_WANT_OBJECT ? 0 : 2, wanted = 2 - given;
    if (n[wanted] > 0)
        return status_detail_set(STATUS_INVALID, _("query %zu: %s"), idx,
                                 call_error_str(CALL_ERR_BOTH_SIDES));
    for (int k = 0; k < 3; k++) {
        if (k == wanted)
            continue;
        enum status st = call_check_field(false, idx, k, f[k], n[k], empty[k]);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

static enum status call_put_queries(struct call_buf *b, const struct call_query *q, size_t n)
{
    if (n == 0 || n > CALL_MAX_QUERIES || !q)
        return status_detail_set(STATUS_INVALID, _("%zu queries (a read takes 1 to %d)"), n,
                                 CALL_MAX_QUERIES);
    for (size_t i = 0; i < n; i++) {
        enum status st = call_check_query(&q[i], i + 1);
        if (st != STATUS_OK)
            return st;
    }
    call_puts(b, CALL_READ_PREFIX);
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        if (i)
            call_puts(b, ";");
        if (q[i].want == CALL_WANT_OBJECT) {
            call_view(q[i].subj, &p, &len);
            call_put(b, p, len);
        }
        call_puts(b, ">>");
        call_view(q[i].rel, &p, &len);
        call_put(b, p, len);
        call_puts(b, ">>");
        if (q[i].want == CALL_WANT_SUBJECT) {
            call_view(q[i].obj, &p, &len);
            call_put(b, p, len);
        }
    }
    call_puts(b, ")" CALL_ARROW);
    return STATUS_OK;
}

static enum status call_put_results(struct call_buf *b, const char *const *r, size_t n)
{
    if (n > CALL_MAX_RESULTS || (n && !r))
        return status_detail_set(STATUS_INVALID, _("%zu results (at most %d)"), n,
                                 CALL_MAX_RESULTS);
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t len, bad;
        call_view(r[i], &p, &len);
        enum call_error_kind k = len ? call_check_name(p, len, &bad) : CALL_ERR_EMPTY_NAME;
        if (k != CALL_ERR_NONE)
            return status_detail_set(STATUS_INVALID, _("result %zu: %s"), i + 1,
                                     call_error_str(k));
    }
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        if (i)
            call_puts(b, ";");
        call_view(r[i], &p, &len);
        call_put(b, p, len);
    }
    call_puts(b, CALL_CLOSE);
    return STATUS_OK;
}

enum status call_format_read_query(const struct call_query *q, size_t n, char **out)
{
    struct call_buf b = {0};
    enum status st = call_put_queries(&b, q, n);
    if (st != STATUS_OK) {
        free(b.p);
        return st;
    }
    return call_buf_finish(&b, out);
}

enum status call_format_results(const char *const *results, size_t n, char **out)
{
    struct call_buf b = {0};
    enum status st = call_put_results(&b, results, n);
    if (st != STATUS_OK) {
        free(b.p);
        return st;
    }
    return call_buf_finish(&b, out);
}

enum status call_format_read_result(const struct call_query *q, size_t n_queries,
                                    const char *const *results, size_t n_results, char **out)
{
    struct call_buf b = {0};
    enum status st = call_put_queries(&b, q, n_queries);
    if (st == STATUS_OK)
        st = call_put_results(&b, results, n_results);
    if (st != STATUS_OK) {
        free(b.p);
        return st;
    }
    return call_buf_finish(&b, out);
}

enum status call_format_write(const struct call_triple *t, size_t n, char **out)
{
    static const enum call_error_kind empty[3] = {CALL_ERR_EMPTY_SUBJECT,
                                                  CALL_ERR_EMPTY_RELATION,
                                                  CALL_ERR_EMPTY_OBJECT};
    if (n && !t)
        return status_detail_set(STATUS_INVALID, _("%zu triples but no array"), n);
    for (size_t i = 0; i < n; i++) {
        const char *f[3] = {t[i].subj, t[i].rel, t[i].obj};
        for (int k = 0; k < 3; k++) {
            const char *p;
            size_t len;
            call_view(f[k], &p, &len);
            enum status st = call_check_field(true, i + 1, k, p, len, empty[k]);
            if (st != STATUS_OK)
                return st;
        }
    }
    struct call_buf b = {0};
    call_puts(&b, CALL_WRITE_PREFIX);
    for (size_t i = 0; i < n; i++) {
        const char *f[3] = {t[i].subj, t[i].rel, t[i].obj};
        if (i)
            call_puts(&b, ";");
        for (int k = 0; k < 3; k++) {
            const char *p;
            size_t len;
            call_view(f[k], &p, &len);
            if (k)
                call_puts(&b, ">>");
            call_put(&b, p, len);
        }
    }
    call_puts(&b, CALL_CLOSE);
    return call_buf_finish(&b, out);
}
