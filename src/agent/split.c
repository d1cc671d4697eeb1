/* split.c -- sentence splitter for the write mode (rules in split.h). */
#include "config.h"
#include "agent/split.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const split_abbrevs[] = {
    "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "mt", "gen", "col", "lt", "sgt",
    "rev", "gov", "sen", "rep", "inc", "ltd", "co", "corp", "no", "vs", "cf", "approx",
    "jan", "feb", "mar", "apr", "aug", "sep", "sept", "oct", "nov", "dec", "fig",
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Length of a closing quote or bracket at s[i], 0 if none. */
static size_t closer_len(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}')
        return 1;
    if (i + 2 < len && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0x9D || (unsigned char)s[i + 2] == 0x99))
        return 3; /* U+201D, U+2019 */
    if (i + 1 < len && c == 0xC2 && (unsigned char)s[i + 1] == 0xBB)
        return 2; /* U+00BB */
    return 0;
}

static bool is_ellipsis_char(const char *s, size_t len, size_t i)
{
    return i + 2 < len && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
           (unsigned char)s[i + 2] == 0xA6;
}

/* Is the '.' at s[dot] (a single one) part of an abbreviation or an initial? */
static bool dot_is_abbrev(const char *s, size_t dot)
{
    size_t b = dot;
    while (b > 0 && !is_space((unsigned char)s[b - 1]) && s[b - 1] != '"' && s[b - 1] != '(' &&
           s[b - 1] != '\'')
        b--;
    size_t wl = dot - b;
    if (wl == 0)
        return false;
    /* single letter: an initial */
    if (wl == 1 && is_alpha((unsigned char)s[b]))
        return true;
    /* dotted: every dot-separated part is 1-2 letters and there is another dot */
    bool inner_dot = false, parts_ok = true;
    size_t part = 0;
    for (size_t i = b; i < dot; i++) {
        if (s[i] == '.') {
            inner_dot = true;
            if (part == 0 || part > 2)
                parts_ok = false;
            part = 0;
        } else if (is_alpha((unsigned char)s[i])) {
            part++;
        } else {
            parts_ok = false;
        }
    }
    if (part == 0 || part > 2)
        parts_ok = false;
    if (inner_dot && parts_ok)
        return true;
    if (wl > 6)
        return false;
    char w[8];
    for (size_t i = 0; i < wl; i++) {
        unsigned char c = (unsigned char)s[b + i];
        w[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    w[wl] = '\0';
    for (size_t i = 0; i < sizeof split_abbrevs / sizeof split_abbrevs[0]; i++)
        if (strcmp(w, split_abbrevs[i]) == 0)
            return true;
    return false;
}

struct spans {
    struct split_span *v;
    size_t n, cap;
};

static bool spans_add(struct spans *sp, const char *text, size_t b, size_t e)
{
    while (b < e && is_space((unsigned char)text[b]))
        b++;
    while (e > b && is_space((unsigned char)text[e - 1]))
        e--;
    if (b == e)
        return true;
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 16;
        struct split_span *v = realloc(sp->v, cap * sizeof *v);
        if (!v)
            return false;
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n].off = b;
    sp->v[sp->n].len = e - b;
    sp->n++;
    return true;
}

/* If a blank line starts at s[i] (a '\n' followed by spaces and another '\n'), return the
 * offset after it, else 0. */
static size_t blank_line_end(const char *s, size_t len, size_t i)
{
    if (s[i] != '\n')
        return 0;
    size_t j = i + 1;
    while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
        j++;
    if (j < len && s[j] == '\n')
        return j + 1;
    return 0;
}

enum status split_sentences(const char *text, size_t len, struct split_span **out, size_t *n)
{
    struct spans sp = {NULL, 0, 0};
    size_t start = 0, i = 0;
    while (i < len) {
        size_t bl = blank_line_end(text, len, i);
        if (bl) {
            if (!spans_add(&sp, text, start, i))
                goto nomem;
            start = i = bl;
            continue;
        }
        char c = text[i];
        bool ell = is_ellipsis_char(text, len, i);
        if (c != '.' && c != '!' && c != '?' && !ell) {
            i++;
            continue;
        }
        /* a run of terminators */
        size_t j = i, n_dots = 0;
        bool other = false;
        while (j < len) {
            if (text[j] == '.') {
                n_dots++;
                j++;
            } else if (text[j] == '!' || text[j] == '?') {
                other = true;
                j++;
            } else if (is_ellipsis_char(text, len, j)) {
                other = true;
                j += 3;
            } else {
                break;
            }
        }
        bool single_dot = n_dots == 1 && !other;
        if (single_dot && i > 0 && j < len && is_digit((unsigned char)text[i - 1]) &&
            is_digit((unsigned char)text[j])) {
            i = j; /* decimal */
            continue;
        }
        size_t k = j, cl;
        while (k < len && (cl = closer_len(text, len, k)) != 0)
            k += cl;
        if (k < len && !is_space((unsigned char)text[k])) {
            i = k > j ? k : j;
            continue;
        }
        size_t m = k;
        while (m < len && is_space((unsigned char)text[m]) && !blank_line_end(text, len, m))
            m++;
        bool ends;
        if (m >= len || blank_line_end(text, len, m)) {
            ends = true;
        } else {
            unsigned char nx = (unsigned char)text[m];
            ends = !(nx >= 'a' && nx <= 'z') && nx != ',' && nx != ';' && nx != ':';
            if (ends && single_dot && dot_is_abbrev(text, i))
                ends = false;
        }
        if (ends) {
            if (!spans_add(&sp, text, start, k))
                goto nomem;
            start = k;
        }
        i = k > i ? k : i + 1;
    }
    if (!spans_add(&sp, text, start, len))
        goto nomem;
    if (sp.n == 0) {
        free(sp.v);
        sp.v = NULL;
    }
    *out = sp.v;
    *n = sp.n;
    return STATUS_OK;
nomem:
    free(sp.v);
    return STATUS_NOMEM;
}
