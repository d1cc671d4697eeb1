/* train_data.c -- training examples from JSON lines: tokenize, mask, pack into rows. */
#include "config.h"

#include "engine/train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/utf8.h"

#define PACK_WINDOW 64 /* open rows searched for room */

struct train_data {
    size_t seq_len, n_rows;
    int32_t *tokens, *targets, *pos; /* (n_rows, seq_len) */
    uint64_t seed;
    struct train_data_stats st;
    /* the current epoch's row order */
    uint64_t perm_epoch;
    size_t *perm; /* (n_rows); NULL until first used */
};

/* One tokenized example before packing. */
struct example {
    int32_t *ids; /* BOS, text, EOS */
    size_t n;
    size_t loss_from; /* targets at input index i >= loss_from - 1 carry loss */
    unsigned char *learn; /* (n) or NULL: token j is a target iff learn[j] (loss_spans) */
};

struct ex_list {
    struct example *v;
    size_t n, cap;
};

static uint64_t mix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher-Yates with a seeded generator; the bound is reduced by multiply-shift. */
static void shuffle(size_t *v, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = n; i > 1; i--) {
        uint64_t r = mix64(&s);
        size_t j = (size_t)(((unsigned __int128)r * i) >> 64);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

void train_data_free(struct train_data *d)
{
    if (!d)
        return;
    free(d->tokens);
    free(d->targets);
    free(d->pos);
    free(d->perm);
    free(d);
}

static void ex_list_free(struct ex_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].ids);
        free(l->v[i].learn);
    }
    free(l->v);
}

static enum status encode(struct tok *t, const char *text, size_t len, int32_t **ids, size_t *n)
{
    size_t cap = tok_encode_bound(len) + 2;
    int32_t *buf = malloc(cap * sizeof *buf);
    if (!buf)
        return STATUS_NOMEM;
    enum status st = tok_encode(t, text, len, TOK_ENCODE_BOS, buf, cap - 1, n);
    if (st != STATUS_OK) {
        free(buf);
        return st;
    }
    *ids = buf;
    return STATUS_OK;
}

/* The text bytes [start[j], end[j]) each token ids[j] (j in 1 .. n_text, after BOS) spells:
 * pieces with U+2581 for a space, byte tokens for one byte, the tokenizer's dummy space
 * prefix spelling nothing.  false when the pieces do not spell the text exactly (an
 * unknown token, say). */
static bool token_extents(const struct tok *t, const char *text, size_t len, const int32_t *ids,
                          size_t n_text, size_t *start, size_t *end)
{
    size_t pos = 0;
    bool prefix = tok_add_space_prefix(t) && len > 0;
    for (size_t j = 1; j <= n_text; j++) {
        start[j] = pos;
        int bv = tok_byte_value(t, ids[j]);
        size_t pl;
        const char *pc = tok_piece(t, ids[j], &pl);
        unsigned char one;
        if (bv >= 0) {
            one = (unsigned char)bv;
            pc = (const char *)&one;
            pl = 1;
        } else if (!pc || tok_is_control(t, ids[j])) {
            return false;
        }
        for (size_t k = 0; k < pl;) {
            char c = pc[k];
            size_t step = 1;
            if (bv < 0 && pl - k >= 3 && memcmp(pc + k, "\xe2\x96\x81", 3) == 0) {
                c = ' ';
                step = 3;
            }
            k += step;
            if (prefix && c == ' ' && pos == 0) {
                prefix = false; /* the dummy space: nothing of the text */
                start[j] = 0;
                continue;
            }
            prefix = false;
            if (pos >= len || text[pos] != c)
                return false;
            pos++;
        }
        end[j] = pos;
    }
    return pos == len;
}

/* learn[j] for loss_spans (byte ranges [b, e)): a token gets loss only when the bytes it
 * spells lie wholly inside one span; a token that spells nothing (the dummy space alone)
 * counts as inside when its position is; EOS when a span reaches the end of the text. */
static enum status span_mask(struct tok *t, const char *text, size_t len, const int32_t *ids,
                             size_t n, bool has_eos, const size_t (*spans)[2], size_t n_spans,
                             unsigned char **out)
{
    size_t n_text = n - 1 - (has_eos ? 1 : 0);
    unsigned char *learn = calloc(n, 1);
    size_t *ext = malloc(2 * (n + 1) * sizeof *ext);
    if (!learn || !ext) {
        free(learn);
        free(ext);
        return STATUS_NOMEM;
    }
    size_t *start = ext, *end = ext + n + 1;
    if (!token_extents(t, text, len, ids, n_text, start, end)) {
        free(learn);
        free(ext);
        return status_detail_set(STATUS_FORMAT, _("the tokens do not spell the text, so "
                                                  "loss_spans cannot be placed"));
    }
    for (size_t j = 1; j <= n_text; j++) {
        for (size_t k = 0; k < n_spans; k++) {
            size_t b = spans[k][0], e = spans[k][1];
            bool in = start[j] == end[j] ? start[j] >= b && start[j] < e
                                         : start[j] >= b && end[j] <= e;
            if (in) {
                learn[j] = 1;
                break;
            }
        }
    }
    if (has_eos) {
        for (size_t k = 0; k < n_spans; k++)
            learn[n - 1] |= spans[k][1] == len && spans[k][0] < spans[k][1];
    }
    free(ext);
    *out = learn;
    return STATUS_OK;
}

/* Tokenize one example; *ex->ids NULL when it has nothing to learn.  spans (byte ranges,
 * n_spans of them) replace loss_byte when has_spans. */
static enum status make_example(struct tok *t, const char *text, size_t len, size_t loss_byte,
                                bool has_spans, const size_t (*spans)[2], size_t n_spans,
                                struct example *ex)
{
    int32_t *ids;
    size_t n;
    enum status st = encode(t, text, len, &ids, &n);
    if (st != STATUS_OK)
        return st;
    bool has_eos = tok_eos(t) >= 0;
    if (has_eos)
        ids[n++] = tok_eos(t);
    size_t from = 1;
    ex->learn = NULL;
    if (has_spans) {
        st = span_mask(t, text, len, ids, n, has_eos, spans, n_spans, &ex->learn);
        if (st != STATUS_OK) {
            free(ids);
            return st;
        }
    } else if (loss_byte > 0) {
        int32_t *pre;
        size_t np;
        if ((st = encode(t, text, loss_byte, &pre, &np)) != STATUS_OK) {
            free(ids);
            return st;
        }
        size_t k = 0;
        while (k < np && k < n && pre[k] == ids[k])
            k++;
        free(pre);
        from = k > 1 ? k : 1;
    }
    ex->ids = ids;
    ex->n = n;
    ex->loss_from = from;
    return STATUS_OK;
}

/* characters (code points) to a byte offset in s[0..len), clamped at len */
static size_t char_to_byte(const char *s, size_t len, int64_t chars)
{
    size_t b = 0;
    for (int64_t c = 0; c < chars && b < len; c++) {
        uint32_t cp;
        int k = utf8_decode(s + b, len - b, &cp);
        b += k > 0 ? (size_t)k : 1;
    }
    return b;
}

#define MAX_SPANS 256

/* Prefix the current detail with the line number.  The detail is copied first: passing
 * status_detail() itself would make vsnprintf read the buffer it is writing. */
static enum status line_detail(enum status st, size_t lineno)
{
    char detail[512];
    snprintf(detail, sizeof detail, "%s", status_detail());
    return status_detail_set(st, _("line %zu: %s"), lineno, detail);
}

static enum status parse_line(struct tok *t, const char *line, size_t len, size_t lineno,
                              struct example *ex)
{
    size_t spans[MAX_SPANS][2];
    size_t n_spans = 0;
    bool has_spans = false;
    struct json_doc *doc;
    enum status st = json_parse(line, len, &doc);
    if (st != STATUS_OK)
        return line_detail(st, lineno);
    const struct json_value *root = json_doc_root(doc);
    const struct json_value *text = json_get(root, "text");
    const struct json_value *prompt = json_get(root, "prompt");
    const struct json_value *compl = json_get(root, "completion");
    char *buf = NULL;
    size_t blen = 0, loss_byte = 0;
    if (text && json_kind(text) == JSON_STRING && !prompt && !compl) {
        const char *s = json_str(text, &blen);
        buf = malloc(blen + 1);
        if (!buf) {
            st = STATUS_NOMEM;
            goto out;
        }
        memcpy(buf, s, blen + 1);
        const struct json_value *lf = json_get(root, "loss_from");
        int64_t chars = 0;
        if (lf && (!json_int(lf, &chars) || chars < 0)) {
            st = status_detail_set(STATUS_FORMAT,
                                   _("line %zu: loss_from must be a non-negative integer"),
                                   lineno);
            goto out;
        }
        loss_byte = char_to_byte(buf, blen, chars);
        const struct json_value *ls = json_get(root, "loss_spans");
        if (ls) {
            size_t n_chars = 0;
            for (size_t b = 0; b < blen; n_chars++) {
                uint32_t cp;
                int k = utf8_decode(buf + b, blen - b, &cp);
                b += k > 0 ? (size_t)k : 1;
            }
            has_spans = true;
            if (json_kind(ls) != JSON_ARRAY || json_len(ls) > MAX_SPANS) {
                st = status_detail_set(STATUS_FORMAT, _("line %zu: loss_spans must be an array "
                                                        "of at most %d [begin, end] pairs"),
                                       lineno, MAX_SPANS);
                goto out;
            }
            for (size_t i = 0; i < json_len(ls); i++) {
                const struct json_value *pr = json_at(ls, i);
                int64_t cb, ce;
                if (json_kind(pr) != JSON_ARRAY || json_len(pr) != 2 ||
                    !json_int(json_at(pr, 0), &cb) || !json_int(json_at(pr, 1), &ce) || cb < 0 ||
                    ce < cb || (uint64_t)ce > n_chars) {
                    /* TRANSLATORS: %zu are a line number and a span's index from 0 */
                    st = status_detail_set(STATUS_FORMAT,
                                           _("line %zu: loss_spans[%zu] is not a pair 0 <= "
                                             "begin <= end <= characters of the text"),
                                           lineno, i);
                    goto out;
                }
                spans[n_spans][0] = char_to_byte(buf, blen, cb);
                spans[n_spans][1] = char_to_byte(buf, blen, ce);
                n_spans++;
            }
        }
    } else if (prompt && compl && json_kind(prompt) == JSON_STRING &&
               json_kind(compl) == JSON_STRING && !text) {
        size_t pl, cl;
        const char *ps = json_str(prompt, &pl), *cs = json_str(compl, &cl);
        buf = malloc(pl + cl + 1);
        if (!buf) {
            st = STATUS_NOMEM;
            goto out;
        }
        memcpy(buf, ps, pl);
        memcpy(buf + pl, cs, cl);
        buf[pl + cl] = '\0';
        blen = pl + cl;
        loss_byte = pl;
    } else {
        st = status_detail_set(STATUS_FORMAT,
                               _("line %zu: expected an object with \"text\" or with "
                                 "\"prompt\" and \"completion\" strings"),
                               lineno);
        goto out;
    }
    st = make_example(t, buf, blen, loss_byte, has_spans, (const size_t(*)[2])spans, n_spans,
                      ex);
    if (st == STATUS_FORMAT && has_spans) /* the spans could not be placed */
        st = line_detail(st, lineno);
out:
    free(buf);
    json_doc_free(doc);
    return st;
}

/* Pack examples idx[0..n) in that order into a new train_data. */
static enum status pack(const struct ex_list *l, const size_t *idx, size_t n, size_t T,
                        uint64_t seed, struct train_data **out)
{
    struct train_data *d = calloc(1, sizeof *d);
    if (!d)
        return STATUS_NOMEM;
    d->seq_len = T;
    d->seed = seed;
    size_t cap = 0;
    size_t *fill = NULL; /* tokens used in each row */
    enum status st = STATUS_NOMEM;
    for (size_t e = 0; e < n; e++) {
        const struct example *ex = &l->v[idx[e]];
        size_t len = ex->n;
        if (len > T) {
            len = T;
            d->st.n_truncated++;
        }
        bool any = false;
        for (size_t j = 1; j < len && ex->learn && !any; j++)
            any = ex->learn[j];
        if (len < 2 || (ex->learn ? !any : ex->loss_from >= len)) {
            d->st.n_skipped++;
            continue;
        }
        size_t row = d->n_rows;
        for (size_t r = d->n_rows > PACK_WINDOW ? d->n_rows - PACK_WINDOW : 0; r < d->n_rows; r++) {
            if (fill[r] + len <= T) {
                row = r;
                break;
            }
        }
        if (row == d->n_rows) {
            if (d->n_rows == cap) {
                size_t nc = cap ? cap * 2 : 64;
                int32_t *a = realloc(d->tokens, nc * T * sizeof(int32_t));
                if (a)
                    d->tokens = a;
                int32_t *b = realloc(d->targets, nc * T * sizeof(int32_t));
                if (b)
                    d->targets = b;
                int32_t *c = realloc(d->pos, nc * T * sizeof(int32_t));
                if (c)
                    d->pos = c;
                size_t *f = realloc(fill, nc * sizeof *f);
                if (f)
                    fill = f;
                if (!a || !b || !c || !f)
                    goto fail;
                cap = nc;
            }
            fill[d->n_rows++] = 0;
        }
        int32_t *tk = d->tokens + row * T + fill[row];
        int32_t *tg = d->targets + row * T + fill[row];
        int32_t *ps = d->pos + row * T + fill[row];
        for (size_t i = 0; i < len; i++) {
            tk[i] = ex->ids[i];
            ps[i] = (int32_t)i;
            bool loss = i + 1 < len &&
                        (ex->learn ? ex->learn[i + 1] != 0 : i + 1 >= ex->loss_from);
            tg[i] = loss ? ex->ids[i + 1] : -1;
            d->st.n_loss_tokens += loss;
        }
        fill[row] += len;
        d->st.n_tokens += len;
        d->st.n_examples++;
    }
    /* padding: single-token segments (pos 0) without loss */
    for (size_t r = 0; r < d->n_rows; r++) {
        for (size_t i = fill[r]; i < T; i++) {
            d->tokens[r * T + i] = 0;
            d->targets[r * T + i] = -1;
            d->pos[r * T + i] = 0;
        }
    }
    d->st.n_rows = d->n_rows;
    free(fill);
    *out = d;
    return STATUS_OK;
fail:
    free(fill);
    train_data_free(d);
    return st;
}

enum status train_data_from_text(const char *text, size_t len, struct tok *t, size_t seq_len,
                                 double holdout, uint64_t seed, struct train_data **out,
                                 struct train_data **held_out)
{
    if (seq_len < 2 || !(holdout >= 0 && holdout < 1))
        return status_detail_set(STATUS_INVALID, _("bad sequence length or held-out fraction"));
    struct ex_list l = {0};
    size_t *idx = NULL;
    struct train_data *a = NULL, *b = NULL;
    enum status st = STATUS_OK;
    size_t lineno = 0;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) : len;
        lineno++;
        size_t s = p;
        while (s < e && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r'))
            s++;
        if (s < e) {
            if (l.n == l.cap) {
                size_t nc = l.cap ? l.cap * 2 : 256;
                struct example *v = realloc(l.v, nc * sizeof *v);
                if (!v) {
                    st = STATUS_NOMEM;
                    goto done;
                }
                l.v = v;
                l.cap = nc;
            }
            if ((st = parse_line(t, text + p, e - p, lineno, &l.v[l.n])) != STATUS_OK)
                goto done;
            l.n++;
        }
        p = e + 1;
    }
    if (l.n == 0) {
        st = status_detail_set(STATUS_FORMAT, _("no examples"));
        goto done;
    }
    idx = malloc(l.n * sizeof *idx);
    if (!idx) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < l.n; i++)
        idx[i] = i;
    shuffle(idx, l.n, seed ^ 0x5eed0001u);
    size_t n_hold = held_out ? (size_t)(holdout * (double)l.n) : 0;
    if (holdout > 0 && held_out && n_hold == 0 && l.n > 1)
        n_hold = 1;
    if ((st = pack(&l, idx + n_hold, l.n - n_hold, seq_len, seed, &a)) != STATUS_OK)
        goto done;
    if (a->n_rows == 0) {
        st = status_detail_set(STATUS_FORMAT, _("no example has a token to learn"));
        goto done;
    }
    if (n_hold && (st = pack(&l, idx, n_hold, seq_len, seed, &b)) != STATUS_OK)
        goto done;
    *out = a;
    a = NULL;
    if (held_out)
        *held_out = b;
    b = NULL;
done:
    train_data_free(a);
    train_data_free(b);
    free(idx);
    ex_list_free(&l);
    return st;
}

enum status train_data_load(const char *path, struct tok *t, size_t seq_len, double holdout,
                            uint64_t seed, struct train_data **out, struct train_data **held_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    enum status st = STATUS_OK;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, nc);
            if (!nb) {
                st = STATUS_NOMEM;
                goto done;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        st = status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    st = train_data_from_text(buf, n, t, seq_len, holdout, seed, out, held_out);
    if (st != STATUS_OK && st != STATUS_NOMEM) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        status_detail_set(st, "%s: %s", path, detail);
    }
done:
    free(buf);
    fclose(f);
    return st;
}

void train_data_stats(const struct train_data *d, struct train_data_stats *out)
{
    *out = d->st;
}

size_t train_data_seq_len(const struct train_data *d)
{
    return d->seq_len;
}

void train_data_row(const struct train_data *d, size_t row, int32_t *tokens, int32_t *targets,
                    int32_t *pos)
{
    size_t T = d->seq_len;
    memcpy(tokens, d->tokens + row * T, T * sizeof(int32_t));
    memcpy(targets, d->targets + row * T, T * sizeof(int32_t));
    memcpy(pos, d->pos + row * T, T * sizeof(int32_t));
}

enum status train_data_batch(struct train_data *d, uint64_t first_row, size_t n_seq,
                             int32_t *tokens, int32_t *targets, int32_t *pos,
                             struct train_batch *b)
{
    size_t T = d->seq_len;
    if (!d->perm) {
        d->perm = malloc(d->n_rows * sizeof *d->perm);
        if (!d->perm)
            return STATUS_NOMEM;
        d->perm_epoch = UINT64_MAX;
    }
    for (size_t s = 0; s < n_seq; s++) {
        uint64_t g = first_row + s;
        uint64_t epoch = g / d->n_rows;
        if (epoch != d->perm_epoch) {
            for (size_t i = 0; i < d->n_rows; i++)
                d->perm[i] = i;
            shuffle(d->perm, d->n_rows, d->seed * 0x100000001B3ull + epoch);
            d->perm_epoch = epoch;
        }
        train_data_row(d, d->perm[g % d->n_rows], tokens + s * T, targets + s * T, pos + s * T);
    }
    b->n_seq = n_seq;
    b->seq_len = T;
    b->tokens = tokens;
    b->targets = targets;
    b->pos = pos;
    return STATUS_OK;
}
