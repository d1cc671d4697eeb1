/* tok.c -- SentencePiece-BPE tokenizer: vocabulary, hash lookup, BPE merges, decoding. */
#include "config.h"
#include "engine/tok.h"

#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "util/i18n.h"
#include "util/utf8.h"

#define NONE UINT32_MAX       /* "no symbol" in the linked list */
#define TOK_MAX_TEXT (1u << 30) /* bytes of text one call encodes; keeps indices in u32 */

static const char SPACE_MARK[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */

struct tok {
    int32_t n_vocab;
    char *blob;         /* every piece followed by a NUL; owned */
    size_t *off;        /* (n_vocab) start of piece i in blob */
    uint32_t *len;      /* (n_vocab) byte length of piece i */
    float *scores;      /* (n_vocab) */
    uint8_t *types;     /* (n_vocab) enum tok_type */
    int32_t *map;       /* open-addressing hash table of ids, -1 = empty; (map_mask + 1) */
    size_t map_mask;
    int32_t byte_id[256]; /* token for a byte that has no piece of its own, -1 = use unk */
    int32_t *special;   /* ids matched whole in raw text, longest first; (n_special) */
    size_t n_special;
    size_t max_len;
    /* Every pair of adjacent characters that occurs inside some piece.  No merge can ever
     * join two neighbours whose pair is absent (the merged symbol would be a piece
     * containing it), so the text is cut there and each run merged on its own: the
     * result is the same, and the heap stays small and in cache. */
    struct tok_pair *pairs; /* (pairs_mask + 1) open addressing, len 0 = empty */
    size_t pairs_mask, n_pairs;
    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix;
    struct tok_work *work; /* for tok_encode(); owned */
};

/* Two adjacent characters, at most 4 + 4 bytes, packed into an integer. */
struct tok_pair {
    uint64_t bytes;
    uint8_t len;
};

/* A run of text being merged: symbols form a doubly linked list over the fragment. */
struct tok_sym {
    uint32_t start, n; /* bytes text[start .. start+n); n == 0 once merged away */
    uint32_t prev, next;
};

/* A candidate merge of symbol left with its right neighbour into size bytes. */
struct tok_cand {
    float score;
    uint32_t left, size;
};

/* A piece of the input after pre-splitting: raw text (id -1) or a whole token. */
struct tok_frag {
    size_t start, len;
    int32_t id;
    size_t next; /* index of the following fragment, SIZE_MAX at the end */
};

struct tok_work {
    char *text;
    size_t text_cap;
    struct tok_sym *sym;
    size_t sym_cap;
    struct tok_cand *heap;
    size_t heap_cap, heap_n;
    struct tok_frag *frag;
    size_t frag_cap, frag_n;
};

/* Output ids: count them all, store those that fit. */
struct tok_out {
    int32_t *ids;
    size_t cap, n;
};

static void out_push(struct tok_out *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

/* ---- Hash map piece -> id ------------------------------------------------------------ */

static uint64_t tok_hash(const char *s, size_t len)
{
    /* FNV-1a, then a final avalanche so the low bits used for the slot are well mixed. */
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

static bool piece_eq(const struct tok *t, int32_t id, const char *s, size_t len)
{
    return t->len[id] == len && memcmp(t->blob + t->off[id], s, len) == 0;
}

int32_t tok_find(const struct tok *t, const char *piece, size_t len)
{
    size_t i = (size_t)tok_hash(piece, len) & t->map_mask;
    for (;;) {
        int32_t id = t->map[i];
        if (id < 0)
            return -1;
        if (piece_eq(t, id, piece, len))
            return id;
        i = (i + 1) & t->map_mask;
    }
}

/* Insert id; a later id with the same piece replaces the earlier (llama.cpp keeps the
 * last one too). */
static void map_insert(struct tok *t, int32_t id)
{
    const char *s = t->blob + t->off[id];
    size_t len = t->len[id];
    size_t i = (size_t)tok_hash(s, len) & t->map_mask;
    while (t->map[i] >= 0) {
        if (piece_eq(t, t->map[i], s, len)) {
            t->map[i] = id;
            return;
        }
        i = (i + 1) & t->map_mask;
    }
    t->map[i] = id;
}

static struct tok_pair pair_key(const char *s, size_t len)
{
    struct tok_pair k = {0, (uint8_t)len};
    memcpy(&k.bytes, s, len); /* len <= 8 */
    return k;
}

static size_t pair_slot(const struct tok_pair *k, size_t mask)
{
    /* Fibonacci hashing of the packed bytes; the upper half of the product is well mixed */
    uint64_t h = (k->bytes ^ ((uint64_t)k->len << 59)) * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32) & mask;
}

/* Could the characters s[0..len) (two of them) end up in one symbol? */
static bool pair_joinable(const struct tok *t, const char *s, size_t len)
{
    if (len > 8)
        return false;
    struct tok_pair k = pair_key(s, len);
    for (size_t i = pair_slot(&k, t->pairs_mask);; i = (i + 1) & t->pairs_mask) {
        const struct tok_pair *e = &t->pairs[i];
        if (e->len == 0)
            return false;
        if (e->len == k.len && e->bytes == k.bytes)
            return true;
    }
}

static bool pair_insert(struct tok *t, const char *s, size_t len)
{
    if (2 * (t->n_pairs + 1) > t->pairs_mask + 1) {
        size_t size = 2 * (t->pairs_mask + 1);
        struct tok_pair *np = calloc(size, sizeof *np);
        if (!np)
            return false;
        for (size_t i = 0; i <= t->pairs_mask; i++) {
            if (t->pairs[i].len == 0)
                continue;
            size_t j = pair_slot(&t->pairs[i], size - 1);
            while (np[j].len != 0)
                j = (j + 1) & (size - 1);
            np[j] = t->pairs[i];
        }
        free(t->pairs);
        t->pairs = np;
        t->pairs_mask = size - 1;
    }
    struct tok_pair k = pair_key(s, len);
    size_t i = pair_slot(&k, t->pairs_mask);
    while (t->pairs[i].len != 0) {
        if (t->pairs[i].len == k.len && t->pairs[i].bytes == k.bytes)
            return true;
        i = (i + 1) & t->pairs_mask;
    }
    t->pairs[i] = k;
    t->n_pairs++;
    return true;
}

/* Record the adjacent character pairs of a (valid UTF-8) piece. */
static bool pairs_add_piece(struct tok *t, const char *s, size_t len)
{
    uint32_t cp;
    int prev = 0;
    for (size_t i = 0; i < len;) {
        int n = utf8_decode(s + i, len - i, &cp);
        if (n <= 0)
            return true; /* cannot happen: pieces are validated */
        if (prev > 0 && !pair_insert(t, s + i - prev, (size_t)(prev + n)))
            return false;
        prev = n;
        i += (size_t)n;
    }
    return true;
}

/* ---- Construction -------------------------------------------------------------------- */

void tok_vocab_desc_init(struct tok_vocab_desc *d)
{
    memset(d, 0, sizeof *d);
    d->bos_id = d->eos_id = d->unk_id = -1;
    d->add_space_prefix = true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Value of a "<0xXX>" piece, or -1. */
static int parse_byte_piece(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi * 16 + lo;
}

struct special_key {
    uint32_t len;
    int32_t id;
};

static int special_cmp(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static enum status check_id(int32_t id, size_t n, const char *what)
{
    if (id < -1 || (id >= 0 && (size_t)id >= n))
        /* TRANSLATORS: %s names a special token ("BOS", "EOS", "unknown") */
        return status_detail_set(STATUS_FORMAT, _("%s token id %ld is not in the vocabulary "
                                                  "(%zu tokens)"), what, (long)id, n);
    return STATUS_OK;
}

enum status tok_new(const struct tok_vocab_desc *d, struct tok **out)
{
    if (!d || !d->tokens)
        return status_detail_set(STATUS_INVALID, _("vocabulary has no token array"));
    size_t n = d->n_tokens;
    if (n == 0)
        return status_detail_set(STATUS_FORMAT, _("vocabulary is empty"));
    if (n > TOK_MAX_VOCAB)
        return status_detail_set(STATUS_OVERFLOW, _("vocabulary has %zu tokens (at most %d)"),
                                 n, TOK_MAX_VOCAB);
    enum status st;
    if ((st = check_id(d->bos_id, n, "BOS")) != STATUS_OK ||
        (st = check_id(d->eos_id, n, "EOS")) != STATUS_OK ||
        (st = check_id(d->unk_id, n, "unknown")) != STATUS_OK)
        return st;

    /* First pass: validate every piece and size the blob. */
    size_t blob_size = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = d->tokens[i];
        if (!s)
            return status_detail_set(STATUS_FORMAT, _("token %zu has no text"), i);
        size_t len = d->token_lens ? d->token_lens[i] : strlen(s);
        if (len > TOK_MAX_PIECE)
            return status_detail_set(STATUS_FORMAT,
                                     _("token %zu is %zu bytes long (at most %d)"), i, len,
                                     TOK_MAX_PIECE);
        int32_t type = d->types ? d->types[i] : TOK_TYPE_NORMAL;
        if (type < TOK_TYPE_NORMAL || type > TOK_TYPE_BYTE)
            return status_detail_set(STATUS_FORMAT, _("token %zu has unknown type %ld"), i,
                                     (long)type);
        if (type == TOK_TYPE_BYTE && parse_byte_piece(s, len) < 0)
            return status_detail_set(STATUS_FORMAT,
                                     _("byte token %zu is not of the form <0xXX>"), i);
        if (!utf8_valid(s, len))
            return status_detail_set(STATUS_FORMAT, _("token %zu is not valid UTF-8"), i);
        if (d->scores && d->scores[i] != d->scores[i])
            return status_detail_set(STATUS_FORMAT, _("token %zu has a NaN score"), i);
        blob_size += len + 1;
    }

    struct tok *t = calloc(1, sizeof *t);
    if (!t)
        return STATUS_NOMEM;
    t->n_vocab = (int32_t)n;
    t->bos = d->bos_id;
    t->eos = d->eos_id;
    t->unk = d->unk_id;
    t->add_bos = d->add_bos;
    t->add_eos = d->add_eos;
    t->add_space_prefix = d->add_space_prefix;
    size_t map_size = 16;
    while (map_size < 2 * n)
        map_size *= 2;
    t->map_mask = map_size - 1;
    t->blob = malloc(blob_size);
    t->off = malloc(n * sizeof *t->off);
    t->len = malloc(n * sizeof *t->len);
    t->scores = malloc(n * sizeof *t->scores);
    t->types = malloc(n);
    t->map = malloc(map_size * sizeof *t->map);
    t->pairs_mask = 1023;
    t->pairs = calloc(t->pairs_mask + 1, sizeof *t->pairs);
    if (!t->blob || !t->off || !t->len || !t->scores || !t->types || !t->map || !t->pairs)
        goto nomem;
    if (tok_work_new(&t->work) != STATUS_OK)
        goto nomem;
    memset(t->map, 0xff, map_size * sizeof *t->map); /* all -1 */
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = -1;

    size_t pos = 0, n_special = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = d->tokens[i];
        size_t len = d->token_lens ? d->token_lens[i] : strlen(s);
        memcpy(t->blob + pos, s, len);
        t->blob[pos + len] = '\0';
        t->off[i] = pos;
        t->len[i] = (uint32_t)len;
        pos += len + 1;
        t->scores[i] = d->scores ? d->scores[i] : 0.0f;
        t->types[i] = (uint8_t)(d->types ? d->types[i] : TOK_TYPE_NORMAL);
        if (len > t->max_len)
            t->max_len = len;
        if (t->types[i] == TOK_TYPE_BYTE) {
            int v = parse_byte_piece(s, len);
            if (t->byte_id[v] >= 0) {
                status_detail_set(STATUS_FORMAT, _("tokens %ld and %zu are both byte 0x%02X"),
                                  (long)t->byte_id[v], i, (unsigned)v);
                goto fail;
            }
            t->byte_id[v] = (int32_t)i;
        }
        if ((t->types[i] == TOK_TYPE_USER_DEFINED || t->types[i] == TOK_TYPE_CONTROL ||
             t->types[i] == TOK_TYPE_UNKNOWN) && len > 0)
            n_special++;
        map_insert(t, (int32_t)i);
        if (!pairs_add_piece(t, t->blob + t->off[i], len))
            goto nomem;
    }

    /* Byte fallback: all 256 byte tokens, or none and then single-byte pieces / unk. */
    int n_bytes = 0;
    for (int b = 0; b < 256; b++)
        n_bytes += t->byte_id[b] >= 0;
    if (n_bytes > 0 && n_bytes < 256) {
        for (int b = 0; b < 256; b++) {
            if (t->byte_id[b] < 0) {
                status_detail_set(STATUS_FORMAT,
                                  _("vocabulary has byte tokens but none for byte 0x%02X"),
                                  (unsigned)b);
                goto fail;
            }
        }
    }
    if (n_bytes == 0) {
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            t->byte_id[b] = tok_find(t, &c, 1);
            if (t->byte_id[b] < 0 && t->unk < 0) {
                status_detail_set(STATUS_FORMAT,
                                  _("vocabulary has neither byte tokens nor an unknown token"));
                goto fail;
            }
        }
    }

    if (n_special > 0) {
        struct special_key *keys = malloc(n_special * sizeof *keys);
        t->special = malloc(n_special * sizeof *t->special);
        if (!keys || !t->special) {
            free(keys);
            goto nomem;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if ((t->types[i] == TOK_TYPE_USER_DEFINED || t->types[i] == TOK_TYPE_CONTROL ||
                 t->types[i] == TOK_TYPE_UNKNOWN) && t->len[i] > 0)
                keys[k++] = (struct special_key){t->len[i], (int32_t)i};
        }
        qsort(keys, n_special, sizeof *keys, special_cmp);
        for (size_t i = 0; i < n_special; i++)
            t->special[i] = keys[i].id;
        free(keys);
        t->n_special = n_special;
    }
    *out = t;
    return STATUS_OK;
nomem:
    status_detail_clear();
    tok_free(t);
    return STATUS_NOMEM;
fail:
    tok_free(t);
    return STATUS_FORMAT;
}

void tok_free(struct tok *t)
{
    if (!t)
        return;
    tok_work_free(t->work);
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->scores);
    free(t->types);
    free(t->map);
    free(t->special);
    free(t->pairs);
    free(t);
}

/* ---- From GGUF ----------------------------------------------------------------------- */

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"

/* An optional id key: default when absent, STATUS_FORMAT when not an integer. */
static enum status gguf_opt_id(const struct gguf *g, const char *key, int32_t def,
                               size_t n, int32_t *out)
{
    int64_t v;
    enum status st = gguf_get_int(g, key, &v);
    if (st == STATUS_NOT_FOUND) {
        *out = def < 0 || (size_t)def < n ? def : -1;
        return STATUS_OK;
    }
    if (st != STATUS_OK)
        return st;
    if (v < -1 || v >= (int64_t)n)
        return status_detail_set(STATUS_FORMAT, _("%s = %lld is not a token id (%zu tokens)"),
                                 key, (long long)v, n);
    *out = (int32_t)v;
    return STATUS_OK;
}

static enum status gguf_opt_bool(const struct gguf *g, const char *key, bool def, bool *out)
{
    enum status st = gguf_get_bool(g, key, out);
    if (st == STATUS_NOT_FOUND) {
        *out = def;
        return STATUS_OK;
    }
    return st;
}

/* Length of an optional array key that must match n; *present tells whether it exists. */
static enum status gguf_opt_array(const struct gguf *g, const char *key, size_t n,
                                  bool *present)
{
    uint64_t len;
    enum status st = gguf_arr_len(g, key, &len);
    *present = false;
    if (st == STATUS_NOT_FOUND)
        return STATUS_OK;
    if (st != STATUS_OK)
        return st;
    if (len != n)
        return status_detail_set(STATUS_FORMAT,
                                 _("%s has %llu elements but %s has %zu"), key,
                                 (unsigned long long)len, KEY_TOKENS, n);
    *present = true;
    return STATUS_OK;
}

enum status tok_from_gguf(const struct gguf *g, struct tok **out)
{
    const char *model;
    size_t model_len;
    enum status st = gguf_get_str(g, KEY_MODEL, &model, &model_len);
    if (st == STATUS_NOT_FOUND)
        return status_detail_set(st, _("the model file has no tokenizer (%s is absent)"),
                                 KEY_MODEL);
    if (st != STATUS_OK)
        return st;
    if (model_len != 5 || memcmp(model, "llama", 5) != 0)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("tokenizer model '%.*s' is not supported (only 'llama', "
                                   "SentencePiece)"), (int)(model_len > 64 ? 64 : model_len),
                                 model);
    enum gguf_vtype vt;
    st = gguf_arr_type(g, KEY_TOKENS, &vt);
    if (st == STATUS_NOT_FOUND)
        return status_detail_set(st, _("the model file has no %s"), KEY_TOKENS);
    if (st != STATUS_OK)
        return st;
    if (vt != GGUF_VTYPE_STRING)
        return status_detail_set(STATUS_FORMAT, _("%s is an array of %s, not of strings"),
                                 KEY_TOKENS, gguf_vtype_name(vt));
    uint64_t n64;
    if ((st = gguf_arr_len(g, KEY_TOKENS, &n64)) != STATUS_OK)
        return st;
    if (n64 > TOK_MAX_VOCAB)
        return status_detail_set(STATUS_OVERFLOW, _("%s has %llu tokens (at most %d)"),
                                 KEY_TOKENS, (unsigned long long)n64, TOK_MAX_VOCAB);
    size_t n = (size_t)n64;
    bool has_scores, has_types;
    if ((st = gguf_opt_array(g, KEY_SCORES, n, &has_scores)) != STATUS_OK ||
        (st = gguf_opt_array(g, KEY_TYPES, n, &has_types)) != STATUS_OK)
        return st;

    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    float *scores = has_scores ? malloc((n ? n : 1) * sizeof *scores) : NULL;
    int32_t *types = has_types ? malloc((n ? n : 1) * sizeof *types) : NULL;
    if (!strs || !lens || (has_scores && !scores) || (has_types && !types)) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if ((st = gguf_arr_str(g, KEY_TOKENS, i, &strs[i], &lens[i])) != STATUS_OK)
            goto done;
    }
    for (size_t i = 0; has_scores && i < n; i++) {
        double v;
        if ((st = gguf_arr_float(g, KEY_SCORES, i, &v)) != STATUS_OK)
            goto done;
        scores[i] = (float)v;
    }
    for (size_t i = 0; has_types && i < n; i++) {
        int64_t v;
        if ((st = gguf_arr_int(g, KEY_TYPES, i, &v)) != STATUS_OK)
            goto done;
        if (v < TOK_TYPE_NORMAL || v > TOK_TYPE_BYTE) {
            st = status_detail_set(STATUS_FORMAT, _("%s[%zu] = %lld is not a token type"),
                                   KEY_TYPES, i, (long long)v);
            goto done;
        }
        types[i] = (int32_t)v;
    }
    d.n_tokens = n;
    d.tokens = strs;
    d.token_lens = lens;
    d.scores = scores;
    d.types = types;
    if ((st = gguf_opt_id(g, "tokenizer.ggml.bos_token_id", 1, n, &d.bos_id)) != STATUS_OK ||
        (st = gguf_opt_id(g, "tokenizer.ggml.eos_token_id", 2, n, &d.eos_id)) != STATUS_OK ||
        (st = gguf_opt_id(g, "tokenizer.ggml.unknown_token_id", 0, n, &d.unk_id)) !=
            STATUS_OK ||
        (st = gguf_opt_bool(g, "tokenizer.ggml.add_bos_token", true, &d.add_bos)) !=
            STATUS_OK ||
        (st = gguf_opt_bool(g, "tokenizer.ggml.add_eos_token", false, &d.add_eos)) !=
            STATUS_OK ||
        (st = gguf_opt_bool(g, "tokenizer.ggml.add_space_prefix", true,
                            &d.add_space_prefix)) != STATUS_OK)
        goto done;
    st = tok_new(&d, out);
done:
    free(strs);
    free(lens);
    free(scores);
    free(types);
    return st;
}

/* ---- Accessors ---------------------------------------------------------------------- */

static bool in_range(const struct tok *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab;
}

int32_t tok_n_vocab(const struct tok *t) { return t->n_vocab; }
int32_t tok_bos(const struct tok *t) { return t->bos; }
int32_t tok_eos(const struct tok *t) { return t->eos; }
int32_t tok_unk(const struct tok *t) { return t->unk; }
bool tok_add_bos(const struct tok *t) { return t->add_bos; }
bool tok_add_eos(const struct tok *t) { return t->add_eos; }
bool tok_add_space_prefix(const struct tok *t) { return t->add_space_prefix; }
size_t tok_max_piece_len(const struct tok *t) { return t->max_len; }

size_t tok_token_text(const struct tok *t, int32_t id, char *buf, size_t cap)
{
    enum tok_type ty = tok_token_type(t, id);
    if (ty == TOK_TYPE_BYTE) {
        if (cap == 0)
            return 0;
        buf[0] = (char)tok_byte_value(t, id);
        return 1;
    }
    if (ty != TOK_TYPE_NORMAL && ty != TOK_TYPE_USER_DEFINED)
        return 0;
    size_t len = 0;
    const char *p = tok_piece(t, id, &len);
    size_t n = 0;
    for (size_t i = 0; p && i < len && n < cap; i++) {
        if (ty == TOK_TYPE_NORMAL && i + 2 < len && (uint8_t)p[i] == 0xE2 &&
            (uint8_t)p[i + 1] == 0x96 && (uint8_t)p[i + 2] == 0x81) {
            buf[n++] = ' ';
            i += 2;
        } else {
            buf[n++] = p[i];
        }
    }
    return n;
}

enum tok_type tok_token_type(const struct tok *t, int32_t id)
{
    return in_range(t, id) ? (enum tok_type)t->types[id] : (enum tok_type)0;
}

bool tok_is_control(const struct tok *t, int32_t id)
{
    return in_range(t, id) && t->types[id] == TOK_TYPE_CONTROL;
}

float tok_score(const struct tok *t, int32_t id)
{
    return in_range(t, id) ? t->scores[id] : 0.0f;
}

const char *tok_piece(const struct tok *t, int32_t id, size_t *len)
{
    if (!in_range(t, id))
        return NULL;
    if (len)
        *len = t->len[id];
    return t->blob + t->off[id];
}

int tok_byte_value(const struct tok *t, int32_t id)
{
    if (!in_range(t, id) || t->types[id] != TOK_TYPE_BYTE)
        return -1;
    return parse_byte_piece(t->blob + t->off[id], t->len[id]);
}

/* ---- Work buffers -------------------------------------------------------------------- */

enum status tok_work_new(struct tok_work **out)
{
    struct tok_work *w = calloc(1, sizeof *w);
    if (!w)
        return STATUS_NOMEM;
    *out = w;
    return STATUS_OK;
}

void tok_work_free(struct tok_work *w)
{
    if (!w)
        return;
    free(w->text);
    free(w->sym);
    free(w->heap);
    free(w->frag);
    free(w);
}

/* Grow *buf to hold at least n elements of size bytes (geometric growth, kept). */
static bool grow(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c = c > SIZE_MAX / 2 ? n : c * 2;
    if (c > SIZE_MAX / size)
        return false;
    void *p = realloc(*buf, c * size);
    if (!p)
        return false;
    *buf = p;
    *cap = c;
    return true;
}

/* ---- BPE over one fragment ------------------------------------------------------------ */

/* Heap order: higher score first, then the leftmost pair. */
static bool cand_before(const struct tok_cand *a, const struct tok_cand *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->left < b->left;
}

static void heap_push(struct tok_work *w, struct tok_cand c)
{
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&c, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = c;
}

static struct tok_cand heap_pop(struct tok_work *w)
{
    struct tok_cand top = w->heap[0];
    struct tok_cand last = w->heap[--w->heap_n];
    size_t n = w->heap_n, i = 0;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        const struct tok_cand *bc = &last;
        if (l < n && cand_before(&w->heap[l], bc)) {
            best = l;
            bc = &w->heap[l];
        }
        if (l + 1 < n && cand_before(&w->heap[l + 1], bc))
            best = l + 1;
        if (best == i)
            break;
        w->heap[i] = w->heap[best];
        i = best;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

/* Queue the merge of symbol l with its right neighbour if their text is a piece. */
static void try_pair(const struct tok *t, struct tok_work *w, uint32_t l)
{
    if (l == NONE)
        return;
    uint32_t r = w->sym[l].next;
    if (r == NONE)
        return;
    uint32_t size = w->sym[l].n + w->sym[r].n;
    int32_t id = tok_find(t, w->text + w->sym[l].start, size);
    if (id < 0)
        return;
    heap_push(w, (struct tok_cand){t->scores[id], l, size});
}

/* Emit the bytes of a symbol that has no piece. */
static void emit_bytes(const struct tok *t, const char *s, size_t n, struct tok_out *o)
{
    bool unk_done = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(unsigned char)s[i]];
        if (id >= 0) {
            out_push(o, id);
        } else if (!unk_done) {
            out_push(o, t->unk); /* one unknown token per character */
            unk_done = true;
        }
    }
}

/* Merge the run of symbols starting at first (a list ending in NONE), then emit it. */
static void bpe_run(const struct tok *t, struct tok_work *w, uint32_t first, struct tok_out *o)
{
    w->heap_n = 0;
    for (uint32_t i = first; w->sym[i].next != NONE; i = w->sym[i].next)
        try_pair(t, w, i);
    while (w->heap_n > 0) {
        struct tok_cand c = heap_pop(w);
        struct tok_sym *l = &w->sym[c.left];
        /* Stale candidate: the left symbol was merged away, or either side has grown
         * since it was queued (symbols only grow, so equal sizes mean unchanged). */
        if (l->n == 0 || l->next == NONE)
            continue;
        struct tok_sym *r = &w->sym[l->next];
        if (l->n + r->n != c.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (l->next != NONE)
            w->sym[l->next].prev = c.left;
        try_pair(t, w, l->prev);
        try_pair(t, w, c.left);
    }
    for (uint32_t i = first; i != NONE; i = w->sym[i].next) {
        const char *s = w->text + w->sym[i].start;
        int32_t id = tok_find(t, s, w->sym[i].n);
        if (id >= 0)
            out_push(o, id);
        else
            emit_bytes(t, s, w->sym[i].n, o);
    }
}

/* Tokenize raw[0..len) (one fragment, before whitespace escaping). */
static enum status encode_fragment(const struct tok *t, struct tok_work *w, const char *raw,
                                   size_t len, bool prefix, struct tok_out *o)
{
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++)
        spaces += raw[i] == ' ';
    size_t n_text = len + 2 * spaces + (prefix ? 3 : 0);
    if (n_text == 0)
        return STATUS_OK;
    if (!grow((void **)&w->text, &w->text_cap, n_text, 1) ||
        !grow((void **)&w->sym, &w->sym_cap, n_text, sizeof *w->sym) ||
        !grow((void **)&w->heap, &w->heap_cap, 3 * n_text, sizeof *w->heap))
        return STATUS_NOMEM;
    char *p = w->text;
    if (prefix) {
        memcpy(p, SPACE_MARK, 3);
        p += 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == ' ') {
            memcpy(p, SPACE_MARK, 3);
            p += 3;
        } else {
            *p++ = raw[i];
        }
    }

    /* One symbol per UTF-8 character; a byte outside any valid sequence stands alone. */
    uint32_t n_sym = 0;
    for (size_t i = 0; i < n_text;) {
        uint32_t cp;
        int n = utf8_decode(w->text + i, n_text - i, &cp);
        if (n <= 0)
            n = 1;
        w->sym[n_sym] = (struct tok_sym){(uint32_t)i, (uint32_t)n,
                                         n_sym == 0 ? NONE : n_sym - 1, n_sym + 1};
        n_sym++;
        i += (size_t)n;
    }
    w->sym[n_sym - 1].next = NONE;

    /* Merge each run between uncrossable neighbours on its own (see struct tok). */
    uint32_t seg = 0;
    for (uint32_t i = 0; i < n_sym; i++) {
        if (i + 1 < n_sym &&
            pair_joinable(t, w->text + w->sym[i].start, w->sym[i].n + w->sym[i + 1].n))
            continue;
        w->sym[seg].prev = NONE;
        w->sym[i].next = NONE;
        bpe_run(t, w, seg, o);
        seg = i + 1;
    }
    return STATUS_OK;
}

/* ---- Pre-splitting around whole tokens ------------------------------------------------ */

/* First occurrence of needle in hay, or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    const char *end = hay + (n - m);
    for (const char *p = hay; p <= end;) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
        p++;
    }
    return NULL;
}

static size_t frag_add(struct tok_work *w, size_t start, size_t len, int32_t id, size_t next)
{
    size_t i = w->frag_n++;
    w->frag[i] = (struct tok_frag){start, len, id, next};
    return i;
}

static enum status split_special(const struct tok *t, struct tok_work *w, const char *text,
                                 size_t len, bool parse_special)
{
    w->frag_n = 0;
    if (!grow((void **)&w->frag, &w->frag_cap, 1, sizeof *w->frag))
        return STATUS_NOMEM;
    frag_add(w, 0, len, -1, SIZE_MAX);
    for (size_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse_special && t->types[id] != TOK_TYPE_USER_DEFINED)
            continue;
        const char *piece = t->blob + t->off[id];
        size_t plen = t->len[id];
        for (size_t f = 0; f != SIZE_MAX; f = w->frag[f].next) {
            if (w->frag[f].id >= 0 || w->frag[f].len < plen)
                continue;
            const char *base = text + w->frag[f].start;
            const char *hit = find_bytes(base, w->frag[f].len, piece, plen);
            if (!hit)
                continue;
            /* Split f into [before] [token] [after]; [after] is searched next. */
            if (!grow((void **)&w->frag, &w->frag_cap, w->frag_n + 2, sizeof *w->frag))
                return STATUS_NOMEM;
            size_t before = (size_t)(hit - base);
            size_t after = w->frag[f].len - before - plen;
            size_t next = w->frag[f].next;
            size_t start = w->frag[f].start;
            if (after > 0)
                next = frag_add(w, start + before + plen, after, -1, next);
            if (before > 0) {
                w->frag[f].len = before;
                w->frag[f].next = frag_add(w, start + before, plen, id, next);
                f = w->frag[f].next; /* the token; the loop step moves to [after] */
            } else {
                w->frag[f] = (struct tok_frag){start + before, plen, id, next};
            }
        }
    }
    return STATUS_OK;
}

size_t tok_encode_bound(size_t len)
{
    /* Each input byte gives at most 3 bytes of escaped text (a space), each escaped byte
     * at most one id; each fragment adds a 3-byte prefix; BOS and EOS. */
    if (len > (SIZE_MAX - 8) / 6)
        return SIZE_MAX;
    return 6 * len + 8;
}

enum status tok_encode_work(const struct tok *t, struct tok_work *w, const char *text,
                            size_t len, unsigned flags, int32_t *ids, size_t cap,
                            size_t *n_out)
{
    if (len > TOK_MAX_TEXT)
        return status_detail_set(STATUS_LIMIT, _("text of %zu bytes is too long to tokenize "
                                                 "at once (at most %u)"), len, TOK_MAX_TEXT);
    bool add_bos = (flags & TOK_ENCODE_BOS) || ((flags & TOK_ENCODE_ADD_SPECIAL) && t->add_bos);
    bool add_eos = (flags & TOK_ENCODE_ADD_SPECIAL) && t->add_eos;
    if ((add_bos && t->bos < 0) || (add_eos && t->eos < 0))
        return status_detail_set(STATUS_INVALID, _("the vocabulary has no %s token"),
                                 add_bos && t->bos < 0 ? "BOS" : "EOS");
    struct tok_out o = {ids, cap, 0};
    if (add_bos)
        out_push(&o, t->bos);
    if (len > 0) {
        enum status st = split_special(t, w, text, len, flags & TOK_ENCODE_PARSE_SPECIAL);
        if (st != STATUS_OK)
            return st;
        bool prev_special = true; /* the text start counts as following a special token */
        for (size_t f = 0; f != SIZE_MAX; f = w->frag[f].next) {
            const struct tok_frag *fr = &w->frag[f];
            if (fr->id >= 0) {
                out_push(&o, fr->id);
                prev_special = true;
                continue;
            }
            st = encode_fragment(t, w, text + fr->start, fr->len,
                                 t->add_space_prefix && prev_special, &o);
            if (st != STATUS_OK)
                return st;
            prev_special = false;
        }
    }
    if (add_eos)
        out_push(&o, t->eos);
    *n_out = o.n;
    return o.n > cap ? STATUS_OVERFLOW : STATUS_OK;
}

enum status tok_encode(struct tok *t, const char *text, size_t len, unsigned flags,
                       int32_t *ids, size_t cap, size_t *n_out)
{
    return tok_encode_work(t, t->work, text, len, flags, ids, cap, n_out);
}

/* ---- Decoding ------------------------------------------------------------------------ */

void tok_stream_init(struct tok_stream *s, const struct tok *t, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->flags = flags;
    s->strip = (flags & TOK_STREAM_STRIP_START) && t->add_space_prefix;
}

size_t tok_stream_bufsize(const struct tok *t)
{
    /* every byte (held or new) yields at most 3 output bytes (U+FFFD) */
    return 3 * (t->max_len + 4);
}

/* Writer with a known-sufficient buffer. */
struct sink {
    char *p;
    size_t n;
};

static void sink_byte(struct sink *k, unsigned char b)
{
    k->p[k->n++] = (char)b;
}

static void sink_fffd(struct sink *k)
{
    k->n += utf8_encode(0xFFFD, k->p + k->n);
}

/* Bytes a lead byte starts (2..4), 1 for ASCII, 0 for a byte that cannot start one. */
static int lead_need(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* Can b follow the held bytes of an unfinished character?  The second byte has tighter
 * bounds after E0, ED, F0 and F4 (no overlongs, surrogates or values past U+10FFFF). */
static bool continues(const struct tok_stream *s, unsigned char b)
{
    unsigned char lo = 0x80, hi = 0xBF;
    if (s->n_held == 1) {
        switch (s->held[0]) {
        case 0xE0: lo = 0xA0; break;
        case 0xED: hi = 0x9F; break;
        case 0xF0: lo = 0x90; break;
        case 0xF4: hi = 0x8F; break;
        default: break;
        }
    }
    return b >= lo && b <= hi;
}

/* Feed one byte through the UTF-8 assembler. */
static void stream_byte(struct tok_stream *s, unsigned char b, struct sink *k)
{
    if (s->n_held > 0) {
        if (continues(s, b)) {
            s->held[s->n_held++] = b;
            if (s->n_held == s->need) {
                for (int i = 0; i < s->n_held; i++)
                    sink_byte(k, s->held[i]);
                s->n_held = 0;
            }
            return;
        }
        sink_fffd(k); /* the unfinished character is broken: one U+FFFD for all of it */
        s->n_held = 0;
    }
    int need = lead_need(b);
    if (need == 1) {
        sink_byte(k, b);
    } else if (need == 0) {
        sink_fffd(k);
    } else {
        s->held[0] = b;
        s->n_held = 1;
        s->need = (uint8_t)need;
    }
}

enum status tok_stream_put(struct tok_stream *s, int32_t id, char *out, size_t cap,
                           size_t *n_out)
{
    const struct tok *t = s->t;
    if (!in_range(t, id))
        return status_detail_set(STATUS_INVALID, _("token id %ld is not in the vocabulary "
                                                   "(%ld tokens)"), (long)id,
                                 (long)t->n_vocab);
    const char *piece = t->blob + t->off[id];
    size_t plen = t->len[id];
    unsigned char byte;
    switch ((enum tok_type)t->types[id]) {
    case TOK_TYPE_NORMAL:
    case TOK_TYPE_USER_DEFINED:
        break;
    case TOK_TYPE_BYTE:
        byte = (unsigned char)parse_byte_piece(piece, plen);
        piece = (const char *)&byte;
        plen = 1;
        break;
    case TOK_TYPE_CONTROL:
    case TOK_TYPE_UNKNOWN:
        if (!(s->flags & TOK_STREAM_SPECIAL))
            plen = 0;
        break;
    default:
        plen = 0;
        break;
    }
    if (cap < 3 * (plen + s->n_held))
        return status_detail_set(STATUS_OVERFLOW, _("decoding buffer too small"));
    struct sink k = {out, 0};
    bool unescape = t->types[id] == TOK_TYPE_NORMAL;
    for (size_t i = 0; i < plen;) {
        unsigned char b = (unsigned char)piece[i];
        if (unescape && plen - i >= 3 && memcmp(piece + i, SPACE_MARK, 3) == 0) {
            b = ' ';
            i += 3;
        } else {
            i++;
        }
        if (s->strip) {
            s->strip = false;
            if (b == ' ')
                continue;
        }
        stream_byte(s, b, &k);
    }
    if (id == t->bos && t->add_space_prefix)
        s->strip = true;
    *n_out = k.n;
    return STATUS_OK;
}

enum status tok_stream_flush(struct tok_stream *s, char *out, size_t cap, size_t *n_out)
{
    size_t n = 0;
    if (s->n_held > 0) {
        if (cap < 3)
            return status_detail_set(STATUS_OVERFLOW, _("decoding buffer too small"));
        n = utf8_encode(0xFFFD, out);
    }
    tok_stream_init(s, s->t, s->flags);
    *n_out = n;
    return STATUS_OK;
}

enum status tok_decode(const struct tok *t, const int32_t *ids, size_t n, unsigned flags,
                       char **out, size_t *len)
{
    struct tok_stream s;
    tok_stream_init(&s, t, flags);
    size_t step = tok_stream_bufsize(t);
    size_t cap = step + 1, used = 0;
    char *buf = malloc(cap);
    if (!buf)
        return STATUS_NOMEM;
    for (size_t i = 0; i <= n; i++) {
        if (cap - used < step + 1) {
            size_t nc = cap * 2 > used + step + 1 ? cap * 2 : used + step + 1;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                return STATUS_NOMEM;
            }
            buf = nb;
            cap = nc;
        }
        size_t got;
        enum status st = i < n ? tok_stream_put(&s, ids[i], buf + used, cap - used, &got)
                               : tok_stream_flush(&s, buf + used, cap - used, &got);
        if (st != STATUS_OK) {
            free(buf);
            return st;
        }
        used += got;
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    *out = buf;
    return STATUS_OK;
}
