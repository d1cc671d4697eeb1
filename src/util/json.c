/* json.c -- strict RFC 8259 parser (recursive descent into an arena) and string escaping. */
#include "config.h"
#include "util/json.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

struct json_member {
    const char *key;
    size_t key_len;
    struct json_value *val;
};

struct json_value {
    enum json_kind kind;
    bool b;      /* JSON_BOOL */
    bool is_int; /* JSON_NUMBER whose value is an integer within int64 */
    int64_t i;   /* valid when is_int */
    size_t len;  /* string bytes, array elements, object members */
    union {
        double num;
        const char *str;
        struct json_value **items;
        struct json_member *members;
    } u;
};

/* Arena: a list of blocks; values never move once allocated. */
struct json_block {
    struct json_block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

struct json_doc {
    struct json_block *blocks;
    size_t next_cap; /* capacity of the next ordinary block */
    struct json_value *root;
};

enum { JSON_BLOCK_MIN = 4096, JSON_BLOCK_MAX = 1 << 20 };

static void *json_alloc(struct json_doc *d, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    struct json_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = d->next_cap;
        if (cap < n)
            cap = n;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A block bigger than the ordinary size goes second so the current block keeps
         * serving small requests. */
        if (d->blocks && cap > d->next_cap) {
            b->next = d->blocks->next;
            d->blocks->next = b;
        } else {
            b->next = d->blocks;
            d->blocks = b;
            if (d->next_cap < JSON_BLOCK_MAX)
                d->next_cap *= 2;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void json_doc_free(struct json_doc *d)
{
    if (!d)
        return;
    struct json_block *b = d->blocks;
    while (b) {
        struct json_block *next = b->next;
        free(b);
        b = next;
    }
    free(d);
}

/* ---- parser ---- */

struct json_parser {
    const char *s;
    size_t len, pos;
    struct json_doc *doc;
    /* scratch stacks shared by all nesting levels: children are pushed, and a finished
     * array or object copies its range into the arena and pops it */
    struct json_value **items;
    size_t n_items, cap_items;
    struct json_member *members;
    size_t n_members, cap_members;
};

/* Report a parse error at byte offset at (line and column computed now, on failure only). */
static enum status json_fail(const struct json_parser *p, enum status st, size_t at,
                             const char *reason)
{
    size_t line = 1, line_start = 0;
    if (at > p->len)
        at = p->len;
    for (size_t k = 0; k < at; k++) {
        if (p->s[k] == '\n') {
            line++;
            line_start = k + 1;
        }
    }
    size_t col = 1;
    for (size_t k = line_start; k < at;) {
        uint32_t cp;
        int n = utf8_decode(p->s + k, at - k, &cp);
        k += n > 0 ? (size_t)n : 1;
        col++;
    }
    /* TRANSLATORS: position of a JSON syntax error; the last %s is the reason */
    return status_detail_set(st, _("line %zu, column %zu: %s"), line, col, reason);
}

static void json_skip_ws(struct json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The C locale, so that strtod() reads '.' whatever LC_NUMERIC the program set. */
static locale_t json_c_locale;
static pthread_once_t json_c_locale_once = PTHREAD_ONCE_INIT;

static void json_c_locale_init(void)
{
    json_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Exact integer value of a validated number token, if it is one within int64.
 * With M the mantissa digits (integer part then fraction), the value is
 * M * 10^(exp - fraction digits); it is an integer when that power, after moving M's
 * trailing zeros into it, is not negative. */
static bool json_number_exact_int(const char *t, size_t n, int64_t *out)
{
    size_t k = 0;
    bool neg = t[0] == '-';
    if (neg)
        k++;
    size_t i0 = k, ni = 0, f0 = 0, nf = 0;
    while (k < n && json_is_digit(t[k]))
        k++, ni++;
    if (k < n && t[k] == '.') {
        f0 = ++k;
        while (k < n && json_is_digit(t[k]))
            k++, nf++;
    }
    long long exp = 0;
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        k++;
        bool eneg = false;
        if (t[k] == '+' || t[k] == '-')
            eneg = t[k++] == '-';
        for (; k < n && json_is_digit(t[k]); k++) {
            if (exp < 1000000000LL)
                exp = exp * 10 + (t[k] - '0');
        }
        if (eneg)
            exp = -exp;
    }
    size_t m_len = ni + nf, first = m_len, last = 0;
    for (size_t j = 0; j < m_len; j++) {
        char c = j < ni ? t[i0 + j] : t[f0 + j - ni];
        if (c != '0') {
            if (first == m_len)
                first = j;
            last = j;
        }
    }
    if (first == m_len) {
        *out = 0;
        return true;
    }
    long long e10 = exp - (long long)nf + (long long)(m_len - 1 - last);
    size_t nd = last - first + 1;
    if (e10 < 0 || (long long)nd + e10 > 19)
        return false;
    uint64_t v = 0;
    for (size_t j = first; j <= last; j++)
        v = v * 10 + (uint64_t)((j < ni ? t[i0 + j] : t[f0 + j - ni]) - '0');
    for (long long j = 0; j < e10; j++)
        v *= 10; /* at most 19 digits in all: no overflow of uint64 */
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

static enum status json_parse_number(struct json_parser *p, struct json_value *v)
{
    const char *s = p->s;
    size_t start = p->pos, k = p->pos;
    bool plain = true; /* no fraction, no exponent */
    if (k < p->len && s[k] == '-')
        k++;
    if (k >= p->len)
        return json_fail(p, STATUS_PARSE, k, _("unexpected end of input"));
    if (s[k] == '0') {
        k++;
        if (k < p->len && json_is_digit(s[k]))
            return json_fail(p, STATUS_PARSE, k, _("leading zeros are not allowed"));
    } else if (json_is_digit(s[k])) {
        while (k < p->len && json_is_digit(s[k]))
            k++;
    } else {
        return json_fail(p, STATUS_PARSE, k, _("invalid number"));
    }
    if (k < p->len && s[k] == '.') {
        plain = false;
        k++;
        if (k >= p->len || !json_is_digit(s[k]))
            return json_fail(p, STATUS_PARSE, k, _("digit expected after '.'"));
        while (k < p->len && json_is_digit(s[k]))
            k++;
    }
    if (k < p->len && (s[k] == 'e' || s[k] == 'E')) {
        plain = false;
        k++;
        if (k < p->len && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k >= p->len || !json_is_digit(s[k]))
            return json_fail(p, STATUS_PARSE, k, _("digit expected in exponent"));
        while (k < p->len && json_is_digit(s[k]))
            k++;
    }
    size_t n = k - start;
    v->kind = JSON_NUMBER;
    v->is_int = json_number_exact_int(s + start, n, &v->i);
    if (plain && v->is_int && v->i > -(INT64_C(1) << 53) && v->i < (INT64_C(1) << 53)) {
        v->u.num = v->i == 0 && s[start] == '-' ? -0.0 : (double)v->i; /* exact */
    } else {
        char small[64];
        char *buf = n < sizeof small ? small : malloc(n + 1);
        if (!buf)
            return STATUS_NOMEM;
        memcpy(buf, s + start, n);
        buf[n] = '\0';
        pthread_once(&json_c_locale_once, json_c_locale_init);
        double d;
        if (json_c_locale) {
            locale_t old = uselocale(json_c_locale);
            d = strtod(buf, NULL);
            uselocale(old);
        } else {
            d = strtod(buf, NULL); /* no C locale object: the process locale's '.' */
        }
        if (buf != small)
            free(buf);
        if (isinf(d))
            return json_fail(p, STATUS_PARSE, start, _("number out of range"));
        v->u.num = d;
    }
    p->pos = k;
    return STATUS_OK;
}

static int json_hex4(const char *s)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* p->pos is at the opening quote.  Decodes into the arena; *out_len excludes the NUL. */
static enum status json_parse_string(struct json_parser *p, const char **out, size_t *out_len)
{
    const char *s = p->s;
    size_t start = p->pos + 1, end = start;
    /* find the closing quote first so the decoded string (never longer) fits one allocation */
    while (end < p->len && s[end] != '"') {
        if (s[end] == '\\' && end + 1 < p->len)
            end++;
        end++;
    }
    char *dst = json_alloc(p->doc, end - start + 1);
    if (!dst)
        return STATUS_NOMEM;
    size_t n = 0, k = start;
    for (;;) {
        if (k >= p->len)
            return json_fail(p, STATUS_PARSE, k, _("unterminated string"));
        unsigned char c = (unsigned char)s[k];
        if (c == '"')
            break;
        if (c < 0x20)
            return json_fail(p, STATUS_PARSE, k, _("control character in string"));
        if (c == '\\') {
            if (k + 1 >= p->len)
                return json_fail(p, STATUS_PARSE, k + 1, _("unterminated string"));
            char e = s[k + 1];
            switch (e) {
            case '"': dst[n++] = '"'; break;
            case '\\': dst[n++] = '\\'; break;
            case '/': dst[n++] = '/'; break;
            case 'b': dst[n++] = '\b'; break;
            case 'f': dst[n++] = '\f'; break;
            case 'n': dst[n++] = '\n'; break;
            case 'r': dst[n++] = '\r'; break;
            case 't': dst[n++] = '\t'; break;
            case 'u': {
                int hi = p->len - k >= 6 ? json_hex4(s + k + 2) : -1;
                if (hi < 0)
                    return json_fail(p, STATUS_PARSE, k, _("invalid \\u escape"));
                uint32_t cp = (uint32_t)hi;
                size_t esc_len = 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return json_fail(p, STATUS_PARSE, k, _("lone surrogate in \\u escape"));
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo = -1;
                    if (p->len - k >= 12 && s[k + 6] == '\\' && s[k + 7] == 'u')
                        lo = json_hex4(s + k + 8);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return json_fail(p, STATUS_PARSE, k, _("lone surrogate in \\u escape"));
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    esc_len = 12;
                }
                /* a \u escape is 6 bytes and encodes to at most 3; a pair is 12 -> 4 */
                n += utf8_encode(cp, dst + n);
                k += esc_len;
                continue;
            }
            default:
                return json_fail(p, STATUS_PARSE, k, _("invalid escape sequence"));
            }
            k += 2;
            continue;
        }
        if (c < 0x80) {
            dst[n++] = (char)c;
            k++;
            continue;
        }
        uint32_t cp;
        int m = utf8_decode(s + k, p->len - k, &cp);
        if (m <= 0)
            return json_fail(p, STATUS_ENCODING, k, _("invalid UTF-8"));
        memcpy(dst + n, s + k, (size_t)m);
        n += (size_t)m;
        k += (size_t)m;
    }
    dst[n] = '\0';
    p->pos = k + 1;
    *out = dst;
    *out_len = n;
    return STATUS_OK;
}

static enum status json_push_item(struct json_parser *p, struct json_value *v)
{
    if (p->n_items == p->cap_items) {
        size_t cap = p->cap_items ? p->cap_items * 2 : 64;
        struct json_value **t = realloc(p->items, cap * sizeof *t);
        if (!t)
            return STATUS_NOMEM;
        p->items = t;
        p->cap_items = cap;
    }
    p->items[p->n_items++] = v;
    return STATUS_OK;
}

static enum status json_push_member(struct json_parser *p, const char *key, size_t key_len,
                                    struct json_value *v)
{
    if (p->n_members == p->cap_members) {
        size_t cap = p->cap_members ? p->cap_members * 2 : 32;
        struct json_member *t = realloc(p->members, cap * sizeof *t);
        if (!t)
            return STATUS_NOMEM;
        p->members = t;
        p->cap_members = cap;
    }
    p->members[p->n_members++] = (struct json_member){key, key_len, v};
    return STATUS_OK;
}

static bool json_literal(const struct json_parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return false;
    return true; /* "truex": the caller reports the 'x' */
}

static enum status json_parse_value(struct json_parser *p, unsigned depth,
                                    struct json_value **out);

static enum status json_parse_array(struct json_parser *p, unsigned depth,
                                    struct json_value *v)
{
    size_t mark = p->n_items;
    enum status st;
    p->pos++; /* '[' */
    json_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        goto done;
    }
    for (;;) {
        struct json_value *child;
        st = json_parse_value(p, depth + 1, &child);
        if (st != STATUS_OK)
            return st;
        st = json_push_item(p, child);
        if (st != STATUS_OK)
            return st;
        json_skip_ws(p);
        if (p->pos >= p->len)
            return json_fail(p, STATUS_PARSE, p->pos, _("unexpected end of input"));
        char c = p->s[p->pos++];
        if (c == ']')
            break;
        if (c != ',')
            return json_fail(p, STATUS_PARSE, p->pos - 1, _("expected ',' or ']'"));
        json_skip_ws(p);
    }
done:
    v->kind = JSON_ARRAY;
    v->len = p->n_items - mark;
    v->u.items = NULL;
    if (v->len) {
        v->u.items = json_alloc(p->doc, v->len * sizeof *v->u.items);
        if (!v->u.items)
            return STATUS_NOMEM;
        memcpy(v->u.items, p->items + mark, v->len * sizeof *v->u.items);
    }
    p->n_items = mark;
    return STATUS_OK;
}

static enum status json_parse_object(struct json_parser *p, unsigned depth,
                                     struct json_value *v)
{
    size_t mark = p->n_members;
    enum status st;
    p->pos++; /* '{' */
    json_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        goto done;
    }
    for (;;) {
        if (p->pos >= p->len)
            return json_fail(p, STATUS_PARSE, p->pos, _("unexpected end of input"));
        if (p->s[p->pos] != '"')
            return json_fail(p, STATUS_PARSE, p->pos, _("expected a string key"));
        const char *key;
        size_t key_len;
        st = json_parse_string(p, &key, &key_len);
        if (st != STATUS_OK)
            return st;
        json_skip_ws(p);
        if (p->pos >= p->len)
            return json_fail(p, STATUS_PARSE, p->pos, _("unexpected end of input"));
        if (p->s[p->pos] != ':')
            return json_fail(p, STATUS_PARSE, p->pos, _("expected ':'"));
        p->pos++;
        struct json_value *child;
        st = json_parse_value(p, depth + 1, &child);
        if (st != STATUS_OK)
            return st;
        st = json_push_member(p, key, key_len, child);
        if (st != STATUS_OK)
            return st;
        json_skip_ws(p);
        if (p->pos >= p->len)
            return json_fail(p, STATUS_PARSE, p->pos, _("unexpected end of input"));
        char c = p->s[p->pos++];
        if (c == '}')
            break;
        if (c != ',')
            return json_fail(p, STATUS_PARSE, p->pos - 1, _("expected ',' or '}'"));
        json_skip_ws(p);
    }
done:
    v->kind = JSON_OBJECT;
    v->len = p->n_members - mark;
    v->u.members = NULL;
    if (v->len) {
        v->u.members = json_alloc(p->doc, v->len * sizeof *v->u.members);
        if (!v->u.members)
            return STATUS_NOMEM;
        memcpy(v->u.members, p->members + mark, v->len * sizeof *v->u.members);
    }
    p->n_members = mark;
    return STATUS_OK;
}

/* Parses one value after optional whitespace; depth counts enclosing arrays/objects. */
static enum status json_parse_value(struct json_parser *p, unsigned depth,
                                    struct json_value **out)
{
    json_skip_ws(p);
    if (p->pos >= p->len)
        return json_fail(p, STATUS_PARSE, p->pos, _("unexpected end of input"));
    struct json_value *v = json_alloc(p->doc, sizeof *v);
    if (!v)
        return STATUS_NOMEM;
    memset(v, 0, sizeof *v);
    *out = v;
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH) {
            char reason[96];
            snprintf(reason, sizeof reason, _("nesting deeper than %d levels"),
                     JSON_MAX_DEPTH);
            return json_fail(p, STATUS_LIMIT, p->pos, reason);
        }
        return c == '{' ? json_parse_object(p, depth, v) : json_parse_array(p, depth, v);
    case '"':
        v->kind = JSON_STRING;
        return json_parse_string(p, &v->u.str, &v->len);
    case 't':
    case 'f':
        if (json_literal(p, c == 't' ? "true" : "false")) {
            v->kind = JSON_BOOL;
            v->b = c == 't';
            p->pos += c == 't' ? 4 : 5;
            return STATUS_OK;
        }
        return json_fail(p, STATUS_PARSE, p->pos, _("invalid literal"));
    case 'n':
        if (json_literal(p, "null")) {
            v->kind = JSON_NULL;
            p->pos += 4;
            return STATUS_OK;
        }
        return json_fail(p, STATUS_PARSE, p->pos, _("invalid literal"));
    default:
        if (c == '-' || json_is_digit(c))
            return json_parse_number(p, v);
        if ((unsigned char)c >= 0x80) {
            uint32_t cp;
            if (utf8_decode(p->s + p->pos, p->len - p->pos, &cp) <= 0)
                return json_fail(p, STATUS_ENCODING, p->pos, _("invalid UTF-8"));
        }
        if (c == ']' || c == '}' || c == ',')
            return json_fail(p, STATUS_PARSE, p->pos, _("expected a value"));
        return json_fail(p, STATUS_PARSE, p->pos, _("unexpected character"));
    }
}

enum status json_parse(const char *text, size_t len, struct json_doc **out)
{
    struct json_parser p = {.s = text ? text : "", .len = text ? len : 0};
    enum status st = STATUS_NOMEM;
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc)
        goto fail;
    p.doc->next_cap = JSON_BLOCK_MIN;
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) {
        st = json_fail(&p, STATUS_PARSE, 0, _("byte order mark is not allowed"));
        goto fail;
    }
    st = json_parse_value(&p, 0, &p.doc->root);
    if (st != STATUS_OK)
        goto fail;
    json_skip_ws(&p);
    if (p.pos < p.len) {
        st = json_fail(&p, STATUS_PARSE, p.pos, _("unexpected data after the value"));
        goto fail;
    }
    free(p.items);
    free(p.members);
    *out = p.doc;
    return STATUS_OK;
fail:
    if (st == STATUS_NOMEM)
        status_detail_clear();
    free(p.items);
    free(p.members);
    json_doc_free(p.doc);
    return st;
}

/* ---- accessors ---- */

const struct json_value *json_doc_root(const struct json_doc *d)
{
    return d ? d->root : NULL;
}

enum json_kind json_kind(const struct json_value *v)
{
    return v ? v->kind : JSON_NULL;
}

size_t json_len(const struct json_value *v)
{
    return v && (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT) ? v->len : 0;
}

const struct json_value *json_at(const struct json_value *v, size_t i)
{
    if (!v || i >= v->len)
        return NULL;
    if (v->kind == JSON_ARRAY)
        return v->u.items[i];
    if (v->kind == JSON_OBJECT)
        return v->u.members[i].val;
    return NULL;
}

const char *json_key_at(const struct json_value *obj, size_t i, size_t *len)
{
    if (!obj || obj->kind != JSON_OBJECT || i >= obj->len)
        return NULL;
    if (len)
        *len = obj->u.members[i].key_len;
    return obj->u.members[i].key;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->kind != JSON_OBJECT || !key)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->len; i++) {
        const struct json_member *m = &obj->u.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m->val;
    }
    return NULL;
}

const char *json_str(const struct json_value *v, size_t *len)
{
    if (!v || v->kind != JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->u.str;
}

bool json_num(const struct json_value *v, double *out)
{
    if (!v || v->kind != JSON_NUMBER)
        return false;
    *out = v->u.num;
    return true;
}

bool json_int(const struct json_value *v, int64_t *out)
{
    if (!v || v->kind != JSON_NUMBER || !v->is_int)
        return false;
    *out = v->i;
    return true;
}

bool json_bool(const struct json_value *v, bool *out)
{
    if (!v || v->kind != JSON_BOOL)
        return false;
    *out = v->b;
    return true;
}

/* ---- writing ---- */

/* Calls emit(ctx, bytes, n) for consecutive pieces of the escaped, quoted string. */
static void json_escape_run(const char *s, size_t len,
                            void (*emit)(void *ctx, const char *b, size_t n), void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    emit(ctx, "\"", 1);
    size_t k = 0, run = 0; /* s[run..k) is pending verbatim output */
    while (k < len) {
        unsigned char c = (unsigned char)s[k];
        char esc[7];
        size_t esc_n = 0;
        int m = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc_n = 2;
        } else if (c < 0x20) {
            const char *short_esc = NULL;
            switch (c) {
            case '\b': short_esc = "\\b"; break;
            case '\f': short_esc = "\\f"; break;
            case '\n': short_esc = "\\n"; break;
            case '\r': short_esc = "\\r"; break;
            case '\t': short_esc = "\\t"; break;
            default: break;
            }
            if (short_esc) {
                memcpy(esc, short_esc, 2);
                esc_n = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                esc_n = 6;
            }
        } else if (c >= 0x80) {
            uint32_t cp;
            m = utf8_decode(s + k, len - k, &cp);
            if (m <= 0) {
                memcpy(esc, "\\ufffd", 6);
                esc_n = 6;
                m = 1;
            }
        }
        if (esc_n) {
            if (k > run)
                emit(ctx, s + run, k - run);
            emit(ctx, esc, esc_n);
            k += (size_t)m;
            run = k;
        } else {
            k += (size_t)m;
        }
    }
    if (k > run)
        emit(ctx, s + run, k - run);
    emit(ctx, "\"", 1);
}

static void json_emit_file(void *ctx, const char *b, size_t n)
{
    fwrite(b, 1, n, (FILE *)ctx);
}

void json_write_str(FILE *f, const char *s, size_t len)
{
    json_escape_run(s ? s : "", s ? len : 0, json_emit_file, f);
}

struct json_sink {
    char *buf; /* NULL while counting */
    size_t n;
};

static void json_emit_buf(void *ctx, const char *b, size_t n)
{
    struct json_sink *k = ctx;
    if (k->buf)
        memcpy(k->buf + k->n, b, n);
    k->n += n;
}

char *json_escape(const char *s, size_t len)
{
    if (!s) {
        s = "";
        len = 0;
    }
    if (len > (SIZE_MAX - 3) / 6)
        return NULL; /* an input byte becomes at most 6 output bytes */
    struct json_sink count = {NULL, 0};
    json_escape_run(s, len, json_emit_buf, &count);
    struct json_sink fill = {malloc(count.n + 1), 0};
    if (!fill.buf)
        return NULL;
    json_escape_run(s, len, json_emit_buf, &fill);
    fill.buf[fill.n] = '\0';
    return fill.buf;
}
