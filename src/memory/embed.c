/* embed.c -- the embedder interface helpers and the default hashed character n-gram embedder. */
#include "config.h"
#include "memory/embed.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

/* ---- normalization ---------------------------------------------------------------- */

/* What one code point becomes: deleted, a word separator, or replacement text. */
enum fold_kind {
    FOLD_DELETE,
    FOLD_SEP,
    FOLD_TEXT,
};

struct fold {
    enum fold_kind kind;
    char text[5]; /* NUL-terminated when kind is FOLD_TEXT */
};

/* U+00C0..U+00FF: base letter, '*' for the multi-letter ones, ' ' for x and / signs. */
static const char latin1_base[] =
    "aaaaaa*ceeeeiiiidnooooo ouuuuy**"
    "aaaaaa*ceeeeiiiidnooooo ouuuuy*y";

/* U+0100..U+017F: base letter, '*' for the ligatures U+0132/3 (ij) and U+0152/3 (oe). */
static const char latin_ext_a_base[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii**jjkkklllllll"
    "lllnnnnnnnnnoooooo**rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* U+1EA0..U+1EF9 (Vietnamese letters with stacked diacritics): base letters. */
static const char viet_base[] =
    "aaaaaaaaaaaaaaaaaaaaaaaa" "eeeeeeeeeeeeeeee" "iiii" "oooooooooooooooooooooooo"
    "uuuuuuuuuuuuuu" "yyyyyyyy";

_Static_assert(sizeof latin1_base == 0x40 + 1, "one entry per code point");
_Static_assert(sizeof latin_ext_a_base == 0x80 + 1, "one entry per code point");
_Static_assert(sizeof viet_base == 0x5A + 1, "one entry per code point");

static struct fold fold_letter(char c)
{
    struct fold f = { FOLD_TEXT, { c, 0, 0, 0, 0 } };
    return f;
}

static struct fold fold_str(const char *s)
{
    struct fold f = { FOLD_TEXT, { 0 } };
    memcpy(f.text, s, strlen(s) + 1);
    return f;
}

static struct fold fold_cp(uint32_t cp)
{
    struct fold f = { FOLD_TEXT, { 0 } };
    size_t n = utf8_encode(cp, f.text);
    f.text[n] = 0;
    return f;
}

/* Lower case of a Greek code point with tonos/dialytika removed; 0 if not handled. */
static uint32_t fold_greek(uint32_t cp)
{
    switch (cp) {
    case 0x0386: case 0x03AC: return 0x03B1; /* alpha */
    case 0x0388: case 0x03AD: return 0x03B5; /* epsilon */
    case 0x0389: case 0x03AE: return 0x03B7; /* eta */
    case 0x038A: case 0x03AF: case 0x03AA: case 0x03CA: case 0x0390: return 0x03B9; /* iota */
    case 0x038C: case 0x03CC: return 0x03BF; /* omicron */
    case 0x038E: case 0x03CD: case 0x03AB: case 0x03CB: case 0x03B0: return 0x03C5; /* upsilon */
    case 0x038F: case 0x03CE: return 0x03C9; /* omega */
    case 0x03C2: return 0x03C3;              /* final sigma */
    default: break;
    }
    if (cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2)
        return cp + 0x20;
    if (cp >= 0x03B1 && cp <= 0x03C9)
        return cp;
    return 0;
}

/* Lower case of a Cyrillic code point (U+0400..U+052F), yo folded to ye. */
static uint32_t fold_cyrillic(uint32_t cp)
{
    if (cp == 0x0401 || cp == 0x0451)
        return 0x0435;
    if (cp >= 0x0410 && cp <= 0x042F)
        return cp + 0x20;
    if (cp >= 0x0400 && cp <= 0x040F)
        return cp + 0x50;
    if (cp == 0x04C0)
        return 0x04CF;
    if ((cp >= 0x0460 && cp <= 0x0481) || (cp >= 0x048A && cp <= 0x04BF) ||
        (cp >= 0x04D0 && cp <= 0x052F))
        return cp | 1; /* upper case even, lower case odd */
    if (cp >= 0x04C1 && cp <= 0x04CE)
        return (cp & 1) ? cp + 1 : cp; /* upper case odd, lower case even */
    return cp;
}

static struct fold fold(uint32_t cp)
{
    struct fold sep = { FOLD_SEP, { 0 } };
    struct fold del = { FOLD_DELETE, { 0 } };

    if (cp >= 0xFF01 && cp <= 0xFF5E)
        cp -= 0xFEE0; /* fullwidth ASCII */
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z')
            return fold_letter((char)(cp + 32));
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
            return fold_letter((char)cp);
        if (cp == '.' || cp == '\'')
            return del;
        return sep;
    }
    if (cp < 0xC0)
        return cp == 0xAD ? del : sep; /* soft hyphen; Latin-1 symbols and NBSP */
    if (cp <= 0xFF) {
        char c = latin1_base[cp - 0xC0];
        if (c == ' ')
            return sep;
        if (c != '*')
            return fold_letter(c);
        switch (cp) {
        case 0xC6: case 0xE6: return fold_str("ae");
        case 0xDE: case 0xFE: return fold_str("th");
        default: return fold_str("ss"); /* U+00DF */
        }
    }
    if (cp <= 0x17F) {
        char c = latin_ext_a_base[cp - 0x100];
        if (c != '*')
            return fold_letter(c);
        return fold_str(cp <= 0x133 ? "ij" : "oe");
    }
    switch (cp) {
    case 0x0180: case 0x0243: return fold_letter('b');
    case 0x0191: case 0x0192: return fold_letter('f');
    case 0x01A0: case 0x01A1: return fold_letter('o');
    case 0x01AF: case 0x01B0: return fold_letter('u');
    case 0x0218: case 0x0219: return fold_letter('s');
    case 0x021A: case 0x021B: return fold_letter('t');
    case 0x02BB: case 0x02BC: return del; /* modifier letter apostrophes */
    default: break;
    }
    if (cp >= 0x01CD && cp <= 0x01DC) /* pinyin tone marks: A a I i O o U u, then U-umlaut */
        return fold_letter(cp <= 0x01CE ? 'a' : cp <= 0x01D0 ? 'i' : cp <= 0x01D2 ? 'o' : 'u');
    if (cp >= 0x0300 && cp <= 0x036F)
        return del; /* combining diacritical marks (decomposed input) */
    if (cp >= 0x0370 && cp <= 0x03FF) {
        uint32_t g = fold_greek(cp);
        return fold_cp(g ? g : cp);
    }
    if (cp >= 0x0400 && cp <= 0x052F)
        return fold_cp(fold_cyrillic(cp));
    if (cp >= 0x1E00 && cp <= 0x1E95)
        return fold_cp(cp | 1); /* Latin Extended Additional: upper even, lower odd */
    if (cp >= 0x1EA0 && cp <= 0x1EF9)
        return fold_letter(viet_base[cp - 0x1EA0]);
    if (cp == 0x2018 || cp == 0x2019 || cp == 0x200C || cp == 0x200D || cp == 0xFEFF ||
        cp == 0x2060)
        return del; /* curly apostrophes, zero-width joiners, BOM, word joiner */
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0x2190 && cp <= 0x2BFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF65))
        return sep; /* general punctuation, CJK punctuation, arrows/math/symbols */
    return fold_cp(cp);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Could this byte continue a word?  ASCII letters and digits, and any non-ASCII byte. */
static bool is_word_byte(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 0x80 || is_digit(c) || ((u | 0x20) >= 'a' && (u | 0x20) <= 'z');
}

size_t embed_normalize(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool pending_sep = false;
    bool overflow = false;

    for (size_t i = 0; i < len && !overflow;) {
        uint32_t cp = 0;
        int n = utf8_decode(s + i, len - i, &cp);
        struct fold f;
        if (n <= 0) {
            f.kind = FOLD_SEP; /* invalid byte: a separator */
            n = 1;
        } else {
            f = fold(cp);
        }
        i += (size_t)n;
        if (cp == '.' && n == 1 && o > 0 && !pending_sep && is_digit(out[o - 1]) && i < len &&
            is_digit(s[i]))
            f.kind = FOLD_SEP; /* "1.6" stays two numbers, not "16" */
        if (n > 0 && (cp == '\'' || cp == 0x2019 || cp == 0x02BC) && i < len &&
            (s[i] == 's' || s[i] == 'S') && (i + 1 == len || !is_word_byte(s[i + 1]))) {
            i++; /* possessive 's: "Co.'s" -> "co" */
            continue;
        }
        if (f.kind == FOLD_DELETE)
            continue;
        if (f.kind == FOLD_SEP) {
            pending_sep = o > 0;
            continue;
        }
        size_t tl = strlen(f.text);
        if (o + pending_sep + tl + 1 > cap) {
            overflow = true;
            break;
        }
        if (pending_sep)
            out[o++] = ' ';
        pending_sep = false;
        memcpy(out + o, f.text, tl);
        o += tl;
    }
    if (cap > 0)
        out[o < cap ? o : cap - 1] = 0;
    return overflow ? (size_t)-1 : o;
}

/* ---- hashed features -------------------------------------------------------------- */

#define WORD_WEIGHT 3.0
#define ARTICLE_WEIGHT 0.2 /* "the", "a", "an": "the United States" ~ "United States" */
#define MARK_BEGIN 0x02
#define MARK_END 0x03

struct hash_ctx {
    size_t dim;
    char id[48];
};

static uint64_t fnv_byte(uint64_t h, unsigned char b)
{
    return (h ^ b) * UINT64_C(0x100000001b3);
}

static uint64_t fnv_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = fnv_byte(h, (unsigned char)s[i]);
    return h;
}

/* Final avalanche (the splitmix64 finalizer), so bucket and sign bits are independent. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

static void add_feature(double *acc, size_t dim, uint64_t h, double w)
{
    h = mix64(h);
    size_t b = (size_t)((h & 0xFFFFFFFFu) % dim);
    acc[b] += (h >> 63) ? -w : w;
}

/* Features of one word w[0..wl) whose code points start at offs[0..L) (offs[L] = wl). */
static void add_word(double *acc, size_t dim, const char *w, const size_t *offs, size_t L)
{
    const uint64_t basis = UINT64_C(0xcbf29ce484222325);
    size_t wl = offs[L];
    bool article = (wl == 3 && !memcmp(w, "the", 3)) || (wl == 2 && !memcmp(w, "an", 2)) ||
                   (wl == 1 && w[0] == 'a');
    double scale = article ? ARTICLE_WEIGHT : 1.0;
    add_feature(acc, dim, fnv_bytes(fnv_byte(basis, 'w'), w, wl), WORD_WEIGHT * scale);
    /* units: 0 = begin marker, 1..L = code points, L + 1 = end marker */
    for (size_t n = 2; n <= 4; n++) {
        for (size_t i = 0; i + n <= L + 2; i++) {
            uint64_t h = fnv_byte(basis, (unsigned char)('0' + n));
            size_t first = i, last = i + n - 1; /* inclusive unit range */
            if (first == 0) {
                h = fnv_byte(h, MARK_BEGIN);
                first = 1;
            }
            size_t cp_last = last <= L ? last : L;
            if (first <= cp_last)
                h = fnv_bytes(h, w + offs[first - 1], offs[cp_last] - offs[first - 1]);
            if (last == L + 1)
                h = fnv_byte(h, MARK_END);
            add_feature(acc, dim, h, scale);
        }
    }
}

static enum status hash_embed(void *vctx, const char *const *texts, const size_t *lens, size_t n,
                              float *out)
{
    const struct hash_ctx *c = vctx;
    size_t dim = c->dim;
    size_t maxlen = 0;
    for (size_t t = 0; t < n; t++)
        if (lens[t] > maxlen)
            maxlen = lens[t];
    if (maxlen > SIZE_MAX / sizeof(size_t) - 2)
        return status_detail_set(STATUS_OVERFLOW, _("text too long to embed"));

    enum status st = STATUS_NOMEM;
    double *acc = malloc(dim * sizeof *acc);
    char *norm = malloc(maxlen + 1);
    size_t *offs = malloc((maxlen + 2) * sizeof *offs);
    if (!acc || !norm || !offs)
        goto done;

    for (size_t t = 0; t < n; t++) {
        memset(acc, 0, dim * sizeof *acc);
        size_t m = lens[t] ? embed_normalize(texts[t], lens[t], norm, maxlen + 1) : 0;
        if (m == (size_t)-1) {
            st = STATUS_INTERNAL; /* cannot happen: the result never outgrows the input */
            goto done;
        }
        bool any = false;
        for (size_t a = 0; a < m;) {
            size_t b = a;
            while (b < m && norm[b] != ' ')
                b++;
            size_t L = 0;
            for (size_t p = a; p < b;) {
                uint32_t cp;
                int k = utf8_decode(norm + p, b - p, &cp);
                offs[L++] = p - a;
                p += k > 0 ? (size_t)k : 1;
            }
            offs[L] = b - a;
            if (L > 0) {
                add_word(acc, dim, norm + a, offs, L);
                any = true;
            }
            a = b + 1;
        }
        if (!any)
            add_feature(acc, dim, fnv_byte(UINT64_C(0xcbf29ce484222325), 'e'), 1.0);
        double ss = 0;
        for (size_t d = 0; d < dim; d++)
            ss += acc[d] * acc[d];
        if (ss == 0) {
            /* every feature cancelled out (possible with signed hashing, vanishingly rare):
             * fall back to the empty vector's bucket so the row is still a unit vector */
            add_feature(acc, dim, fnv_byte(UINT64_C(0xcbf29ce484222325), 'e'), 1.0);
            ss = 1;
        }
        double inv = 1.0 / sqrt(ss);
        float *row = out + t * dim;
        for (size_t d = 0; d < dim; d++)
            row[d] = (float)(acc[d] * inv);
    }
    st = STATUS_OK;
done:
    free(acc);
    free(norm);
    free(offs);
    return st;
}

static void hash_free(void *ctx)
{
    free(ctx);
}

enum status embed_hash_new(size_t dim, struct embedder *out)
{
    if (!out)
        return STATUS_INVALID;
    if (dim == 0)
        dim = EMBED_HASH_DIM_DEFAULT;
    if (dim < 16 || dim > EMBED_DIM_MAX)
        return status_detail_set(STATUS_INVALID, _("embedding dimension %zu is outside 16..%d"),
                                 dim, EMBED_DIM_MAX);
    struct hash_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return STATUS_NOMEM;
    c->dim = dim;
    snprintf(c->id, sizeof c->id, "hash-ngram-v1-d%zu", dim);
    out->id = c->id;
    out->dim = dim;
    out->embed = hash_embed;
    out->free = hash_free;
    out->ctx = c;
    return STATUS_OK;
}

void embed_free(struct embedder *e)
{
    if (!e)
        return;
    if (e->free)
        e->free(e->ctx);
    memset(e, 0, sizeof *e);
}

enum status embed_texts(const struct embedder *e, const char *const *texts, const size_t *lens,
                        size_t n, float *out)
{
    if (!e || !e->embed || e->dim == 0)
        return STATUS_INVALID;
    if (n == 0)
        return STATUS_OK;
    if (!texts || !out)
        return STATUS_INVALID;
    if (n > SIZE_MAX / sizeof(float) / e->dim)
        return STATUS_OVERFLOW;
    if (lens) {
        for (size_t i = 0; i < n; i++)
            if (lens[i] && !texts[i])
                return STATUS_INVALID;
        return e->embed(e->ctx, texts, lens, n, out);
    }
    size_t *l = malloc(n * sizeof *l);
    if (!l)
        return STATUS_NOMEM;
    enum status st = STATUS_OK;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) {
            st = STATUS_INVALID;
            break;
        }
        l[i] = strlen(texts[i]);
    }
    if (st == STATUS_OK)
        st = e->embed(e->ctx, texts, l, n, out);
    free(l);
    return st;
}

enum status embed_one(const struct embedder *e, const char *text, size_t len, float *out)
{
    const char *texts[1] = { text };
    size_t lens[1] = { len };
    return embed_texts(e, texts, lens, 1, out);
}
