/* bpe_train.c -- BPE vocabulary training (see bpe_train.h for the algorithm). */
#include "config.h"
#include "engine/bpe_train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/utf8.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 */
#define N_FIXED 259                /* <unk> <s> </s> and 256 byte tokens */

static const char *const default_user_tokens[] = {"({", "})", "-->"};

/* ---- Interned byte strings ------------------------------------------------------------ */

/* Strings in one arena, each with an id (0, 1, ...), found again through a hash table. */
struct strmap {
    char *buf;
    size_t len, cap;
    size_t *off;
    uint32_t *slen;
    size_t n, ncap, scap;
    int32_t *slots; /* id or -1 */
    size_t mask;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 31;
    h *= 0x9e3779b97f4a7c15u;
    return h ^ (h >> 29);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem)
            return false;
        nc *= 2;
    }
    void *np = realloc(*p, nc * elem);
    if (!np)
        return false;
    *p = np;
    *cap = nc;
    return true;
}

static void strmap_free(struct strmap *m)
{
    free(m->buf);
    free(m->off);
    free(m->slen);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static const char *strmap_str(const struct strmap *m, int32_t id, size_t *len)
{
    *len = m->slen[id];
    return m->buf + m->off[id];
}

static int32_t strmap_find(const struct strmap *m, const char *s, size_t len)
{
    if (!m->slots)
        return -1;
    for (size_t i = (size_t)hash_bytes(s, len) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0)
            return -1;
        if (m->slen[id] == len && memcmp(m->buf + m->off[id], s, len) == 0)
            return id;
    }
}

static bool strmap_rehash(struct strmap *m, size_t nslots)
{
    int32_t *slots = malloc(nslots * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0xff, nslots * sizeof *slots);
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    for (size_t id = 0; id < m->n; id++) {
        size_t i = (size_t)hash_bytes(m->buf + m->off[id], m->slen[id]) & m->mask;
        while (m->slots[i] >= 0)
            i = (i + 1) & m->mask;
        m->slots[i] = (int32_t)id;
    }
    return true;
}

/* Id of s (added when new; *added says which).  s must not point into m's arena. */
static enum status strmap_intern(struct strmap *m, const char *s, size_t len, int32_t *id,
                                 bool *added)
{
    int32_t found = strmap_find(m, s, len);
    if (found >= 0) {
        *id = found;
        *added = false;
        return STATUS_OK;
    }
    if (m->n >= INT32_MAX - 1 || len > UINT32_MAX)
        return STATUS_OVERFLOW;
    if (!grow((void **)&m->buf, &m->cap, m->len + len, 1) ||
        !grow((void **)&m->off, &m->ncap, m->n + 1, sizeof *m->off) ||
        !grow((void **)&m->slen, &m->scap, m->n + 1, sizeof *m->slen))
        return STATUS_NOMEM;
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
        if (!strmap_rehash(m, m->slots ? (m->mask + 1) * 2 : 1024))
            return STATUS_NOMEM;
    }
    memcpy(m->buf + m->len, s, len);
    m->off[m->n] = m->len;
    m->slen[m->n] = (uint32_t)len;
    m->len += len;
    size_t i = (size_t)hash_bytes(s, len) & m->mask;
    while (m->slots[i] >= 0)
        i = (i + 1) & m->mask;
    m->slots[i] = (int32_t)m->n;
    *id = (int32_t)m->n++;
    *added = true;
    return STATUS_OK;
}

/* ---- The trainer ---------------------------------------------------------------------- */

struct pair {
    int32_t a, b;
    int64_t count;
    uint32_t *words; /* words that held the pair at some time (may be stale) */
    uint32_t n_words, cap_words;
    uint32_t stamp;
    bool banned;
};

struct heap_ent {
    int64_t count;
    int32_t a, b;
    uint32_t pair;
};

struct bpe_trainer {
    struct bpe_train_params p;
    char **user; /* user-defined tokens, longest first (ties: given order) */
    size_t *user_len;
    size_t n_user;
    char *special[N_FIXED]; /* "<unk>" "<s>" "</s>" "<0x00>".. */

    struct strmap words;
    uint64_t *wcount;
    size_t wcount_cap;
    uint64_t n_bytes, n_word_occ;
    bool trained;

    /* after training */
    struct strmap syms;  /* symbol strings: characters, then merge results */
    uint32_t *sym_chars; /* characters in each symbol */
    size_t sym_chars_cap;
    size_t n_chars, n_chars_seen;
    int32_t *seq;        /* segmentation of all words; a negative entry -k stands for a
                          * character (or invalid byte) of k bytes that has no symbol */
    size_t *seq_off;
    uint32_t *seq_len;
    int32_t *merges;     /* result symbol of each merge, in order */
    bool *merge_new;     /* the merge added a piece */
    size_t n_merges, merges_cap, merge_new_cap;
    size_t n_vocab;

    /* work during training */
    struct pair *pairs;
    size_t n_pairs, pairs_cap;
    int32_t *pslots;
    size_t pmask;
    struct heap_ent *heap;
    size_t heap_n, heap_cap;
    uint32_t *touched;
    size_t n_touched, touched_cap;
    uint32_t *wstamp;
    uint32_t stamp;
};

void bpe_train_params_init(struct bpe_train_params *p)
{
    memset(p, 0, sizeof *p);
    p->vocab_size = 4096;
    p->char_coverage = 0.9995;
    p->min_freq = 2;
    p->max_piece_chars = 16;
}

static void free_work(struct bpe_trainer *t)
{
    for (size_t i = 0; i < t->n_pairs; i++)
        free(t->pairs[i].words);
    free(t->pairs);
    free(t->pslots);
    free(t->heap);
    free(t->touched);
    free(t->wstamp);
    t->pairs = NULL;
    t->pslots = NULL;
    t->heap = NULL;
    t->touched = NULL;
    t->wstamp = NULL;
    t->n_pairs = t->pairs_cap = t->heap_n = t->heap_cap = t->n_touched = t->touched_cap = 0;
}

void bpe_trainer_free(struct bpe_trainer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_user; i++)
        free(t->user[i]);
    free(t->user);
    free(t->user_len);
    for (size_t i = 0; i < N_FIXED; i++)
        free(t->special[i]);
    strmap_free(&t->words);
    free(t->wcount);
    strmap_free(&t->syms);
    free(t->sym_chars);
    free(t->seq);
    free(t->seq_off);
    free(t->seq_len);
    free(t->merges);
    free(t->merge_new);
    free_work(t);
    free(t);
}

static enum status add_user(struct bpe_trainer *t, const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > TOK_MAX_PIECE || !utf8_valid(s, len))
        return status_detail_set(STATUS_INVALID, _("user token '%s' is empty, too long or not "
                                                   "valid UTF-8"), s);
    for (size_t i = 0; i < N_FIXED; i++)
        if (strcmp(t->special[i], s) == 0)
            return status_detail_set(STATUS_INVALID,
                                     _("user token '%s' is one of the fixed tokens"), s);
    for (size_t i = 0; i < t->n_user; i++)
        if (strcmp(t->user[i], s) == 0)
            return STATUS_OK;
    char *copy = strdup(s);
    if (!copy)
        return STATUS_NOMEM;
    t->user[t->n_user] = copy;
    t->user_len[t->n_user++] = len;
    return STATUS_OK;
}

enum status bpe_trainer_new(const struct bpe_train_params *p, struct bpe_trainer **out)
{
    if (p->n_user_tokens > BPE_TRAIN_MAX_USER_TOKENS)
        return status_detail_set(STATUS_INVALID, _("at most %d user tokens"),
                                 BPE_TRAIN_MAX_USER_TOKENS);
    if (!(p->char_coverage > 0.0 && p->char_coverage <= 1.0))
        return status_detail_set(STATUS_INVALID, _("character coverage must be in (0, 1]"));
    if (p->vocab_size > TOK_MAX_VOCAB)
        return status_detail_set(STATUS_INVALID, _("vocabulary size above %d"), TOK_MAX_VOCAB);
    struct bpe_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return STATUS_NOMEM;
    enum status st = STATUS_NOMEM;
    t->p = *p;
    t->p.user_tokens = NULL;
    t->p.n_user_tokens = 0;
    if (t->p.min_freq < 1)
        t->p.min_freq = 1;
    if (t->p.max_piece_chars < 2)
        t->p.max_piece_chars = 2;
    static const char *const fixed[3] = {"<unk>", "<s>", "</s>"};
    for (size_t i = 0; i < N_FIXED; i++) {
        char buf[8];
        if (i < 3)
            snprintf(buf, sizeof buf, "%s", fixed[i]);
        else
            snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3));
        if (!(t->special[i] = strdup(buf)))
            goto fail;
    }
    size_t n_user_max = 3 + p->n_user_tokens;
    t->user = calloc(n_user_max, sizeof *t->user);
    t->user_len = calloc(n_user_max, sizeof *t->user_len);
    if (!t->user || !t->user_len)
        goto fail;
    for (size_t i = 0; i < 3; i++)
        if ((st = add_user(t, default_user_tokens[i])) != STATUS_OK)
            goto fail;
    for (size_t i = 0; i < p->n_user_tokens; i++)
        if ((st = add_user(t, p->user_tokens[i])) != STATUS_OK)
            goto fail;
    /* longest first, stable (insertion sort: a handful of tokens) */
    for (size_t i = 1; i < t->n_user; i++) {
        for (size_t j = i; j > 0 && t->user_len[j] > t->user_len[j - 1]; j--) {
            char *s = t->user[j];
            size_t l = t->user_len[j];
            t->user[j] = t->user[j - 1];
            t->user_len[j] = t->user_len[j - 1];
            t->user[j - 1] = s;
            t->user_len[j - 1] = l;
        }
    }
    if (t->p.vocab_size < N_FIXED + t->n_user + 1) {
        st = status_detail_set(STATUS_INVALID, _("vocabulary size %zu is too small (at least "
                                                 "%zu)"), t->p.vocab_size,
                               (size_t)N_FIXED + t->n_user + 1);
        goto fail;
    }
    *out = t;
    return STATUS_OK;
fail:
    bpe_trainer_free(t);
    return st;
}

/* ---- Counting words ------------------------------------------------------------------- */

static enum status count_word(struct bpe_trainer *t, const char *w, size_t len)
{
    int32_t id;
    bool added;
    enum status st = strmap_intern(&t->words, w, len, &id, &added);
    if (st != STATUS_OK)
        return st;
    if (added) {
        if (!grow((void **)&t->wcount, &t->wcount_cap, (size_t)id + 1, sizeof *t->wcount))
            return STATUS_NOMEM;
        t->wcount[id] = 0;
    }
    t->wcount[id]++;
    t->n_word_occ++;
    return STATUS_OK;
}

/* Split one fragment (no user tokens in it) into words and count them. */
static enum status count_fragment(struct bpe_trainer *t, const char *s, size_t len, char **buf,
                                  size_t *cap)
{
    size_t i = 0;
    while (i < len) {
        size_t n = 0;
        if (s[i] == '\n') {
            while (i < len && s[i] == '\n')
                i++, n++;
            if (!grow((void **)buf, cap, n, 1))
                return STATUS_NOMEM;
            memset(*buf, '\n', n);
        } else {
            /* a word: an optional leading space, then up to the next space or line feed */
            if (!grow((void **)buf, cap, 3 + (len - i), 1))
                return STATUS_NOMEM;
            if (s[i] == ' ') {
                memcpy(*buf, SPACE_MARK, 3);
                n = 3;
                i++;
            }
            while (i < len && s[i] != ' ' && s[i] != '\n')
                (*buf)[n++] = s[i++];
        }
        enum status st = count_word(t, *buf, n);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        const char *p = memchr(hay + i, needle[0], n - m - i + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
        i = (size_t)(p - hay);
    }
    return NULL;
}

struct frag {
    size_t start, len;
    bool token;
};

enum status bpe_trainer_add_text(struct bpe_trainer *t, const char *text, size_t len)
{
    if (t->trained)
        return status_detail_set(STATUS_INVALID, _("the trainer has already been trained"));
    t->n_bytes += len;
    if (len == 0)
        return STATUS_OK;
    /* Cut out the user tokens exactly as tok does: for each token, longest first, every
     * occurrence in every remaining text fragment. */
    struct frag *f = malloc(sizeof *f), *nf = NULL;
    size_t nfr = 1, fcap = 1, nfcap = 0;
    char *buf = NULL;
    size_t bcap = 0;
    enum status st = STATUS_NOMEM;
    if (!f)
        return STATUS_NOMEM;
    f[0] = (struct frag){0, len, false};
    for (size_t k = 0; k < t->n_user; k++) {
        const char *tokstr = t->user[k];
        size_t tl = t->user_len[k];
        size_t nn = 0;
        for (size_t i = 0; i < nfr; i++) {
            struct frag fr = f[i];
            for (;;) {
                const char *hit = fr.token ? NULL : find_bytes(text + fr.start, fr.len, tokstr, tl);
                if (!grow((void **)&nf, &nfcap, nn + 3, sizeof *nf))
                    goto done;
                if (!hit) {
                    if (fr.len > 0 || fr.token)
                        nf[nn++] = fr;
                    break;
                }
                size_t before = (size_t)(hit - (text + fr.start));
                if (before > 0)
                    nf[nn++] = (struct frag){fr.start, before, false};
                nf[nn++] = (struct frag){fr.start + before, tl, true};
                fr = (struct frag){fr.start + before + tl, fr.len - before - tl, false};
            }
        }
        struct frag *tmp = f;
        f = nf;
        nf = tmp;
        size_t tc = fcap;
        fcap = nfcap;
        nfcap = tc;
        nfr = nn;
    }
    for (size_t i = 0; i < nfr; i++) {
        if (f[i].token)
            continue;
        if ((st = count_fragment(t, text + f[i].start, f[i].len, &buf, &bcap)) != STATUS_OK)
            goto done;
    }
    st = STATUS_OK;
done:
    free(f);
    free(nf);
    free(buf);
    return st;
}

/* ---- Files ---------------------------------------------------------------------------- */

static enum status read_file(const char *path, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    enum status st = STATUS_NOMEM;
    if (!buf)
        goto fail;
    for (;;) {
        if (n == cap && !grow((void **)&buf, &cap, cap + 1, 1))
            goto fail;
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        st = status_detail_set(STATUS_IO, "%s: %s", path, _("read error"));
        goto fail;
    }
    fclose(fp);
    *out = buf;
    *len = n;
    return STATUS_OK;
fail:
    free(buf);
    fclose(fp);
    return st;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static enum status add_json_line(struct bpe_trainer *t, const char *path, size_t lineno,
                                 const char *s, size_t n)
{
    struct json_doc *d = NULL;
    enum status st = json_parse(s, n, &d);
    if (st != STATUS_OK) {
        if (st == STATUS_NOMEM)
            return st;
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        return status_detail_set(STATUS_PARSE, "%s:%zu: %s", path, lineno, detail);
    }
    const struct json_value *root = json_doc_root(d);
    const struct json_value *text = json_get(root, "text");
    const struct json_value *prompt = json_get(root, "prompt");
    const struct json_value *compl = json_get(root, "completion");
    size_t tl = 0, pl = 0, cl = 0;
    const char *ts = json_str(text, &tl), *ps = json_str(prompt, &pl), *cs = json_str(compl, &cl);
    if (json_kind(root) != JSON_OBJECT || (!ts && !ps && !cs)) {
        json_doc_free(d);
        return status_detail_set(STATUS_PARSE, _("%s:%zu: not an object with a \"text\", "
                                                 "\"prompt\" or \"completion\" string"),
                                 path, lineno);
    }
    st = STATUS_OK;
    if (ts)
        st = bpe_trainer_add_text(t, ts, tl);
    if (st == STATUS_OK && (ps || cs)) {
        char *joined = malloc(pl + cl + 1);
        if (!joined) {
            st = STATUS_NOMEM;
        } else {
            if (ps)
                memcpy(joined, ps, pl);
            if (cs)
                memcpy(joined + pl, cs, cl);
            st = bpe_trainer_add_text(t, joined, pl + cl);
            free(joined);
        }
    }
    json_doc_free(d);
    return st;
}

enum status bpe_trainer_add_file(struct bpe_trainer *t, const char *path, enum bpe_input fmt)
{
    char *buf = NULL;
    size_t len = 0;
    enum status st = read_file(path, &buf, &len);
    if (st != STATUS_OK)
        return st;
    if (fmt == BPE_INPUT_AUTO) {
        fmt = BPE_INPUT_PLAIN;
        size_t i = 0;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
            i++;
        if (i < len && buf[i] == '{') {
            const char *e = memchr(buf + i, '\n', len - i);
            size_t n = e ? (size_t)(e - (buf + i)) : len - i;
            struct json_doc *d = NULL;
            if (json_parse(buf + i, n, &d) == STATUS_OK &&
                json_kind(json_doc_root(d)) == JSON_OBJECT)
                fmt = BPE_INPUT_JSONL;
            json_doc_free(d);
            status_detail_clear();
        }
    }
    if (fmt == BPE_INPUT_PLAIN) {
        st = bpe_trainer_add_text(t, buf, len);
    } else {
        size_t lineno = 0;
        for (size_t i = 0; i < len && st == STATUS_OK;) {
            const char *e = memchr(buf + i, '\n', len - i);
            size_t n = e ? (size_t)(e - (buf + i)) : len - i;
            lineno++;
            if (!blank(buf + i, n))
                st = add_json_line(t, path, lineno, buf + i, n);
            i += n + 1;
        }
    }
    free(buf);
    return st;
}

/* ---- Pairs, heap ---------------------------------------------------------------------- */

static uint64_t pair_key_hash(int32_t a, int32_t b)
{
    uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9e3779b97f4a7c15u;
    return h ^ (h >> 32);
}

static bool pairs_rehash(struct bpe_trainer *t, size_t nslots)
{
    int32_t *slots = malloc(nslots * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0xff, nslots * sizeof *slots);
    free(t->pslots);
    t->pslots = slots;
    t->pmask = nslots - 1;
    for (size_t p = 0; p < t->n_pairs; p++) {
        size_t i = (size_t)pair_key_hash(t->pairs[p].a, t->pairs[p].b) & t->pmask;
        while (t->pslots[i] >= 0)
            i = (i + 1) & t->pmask;
        t->pslots[i] = (int32_t)p;
    }
    return true;
}

/* Index of pair (a, b), created with count 0 when absent; -1 when out of memory. */
static int64_t pair_get(struct bpe_trainer *t, int32_t a, int32_t b)
{
    size_t i = (size_t)pair_key_hash(a, b) & t->pmask;
    for (;; i = (i + 1) & t->pmask) {
        int32_t p = t->pslots[i];
        if (p < 0)
            break;
        if (t->pairs[p].a == a && t->pairs[p].b == b)
            return p;
    }
    if (t->n_pairs >= INT32_MAX - 1 ||
        !grow((void **)&t->pairs, &t->pairs_cap, t->n_pairs + 1, sizeof *t->pairs))
        return -1;
    size_t p = t->n_pairs++;
    t->pairs[p] = (struct pair){.a = a, .b = b};
    if (t->n_pairs * 2 > t->pmask + 1) {
        if (!pairs_rehash(t, (t->pmask + 1) * 2))
            return -1;
    } else {
        t->pslots[i] = (int32_t)p;
    }
    return (int64_t)p;
}

static bool heap_less(const struct heap_ent *x, const struct heap_ent *y)
{
    /* "x has lower priority than y" */
    if (x->count != y->count)
        return x->count < y->count;
    if (x->a != y->a)
        return x->a > y->a;
    return x->b > y->b;
}

static bool heap_push(struct bpe_trainer *t, uint32_t p)
{
    if (!grow((void **)&t->heap, &t->heap_cap, t->heap_n + 1, sizeof *t->heap))
        return false;
    struct heap_ent e = {t->pairs[p].count, t->pairs[p].a, t->pairs[p].b, p};
    size_t i = t->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_less(&t->heap[up], &e))
            break;
        t->heap[i] = t->heap[up];
        i = up;
    }
    t->heap[i] = e;
    return true;
}

static struct heap_ent heap_pop(struct bpe_trainer *t)
{
    struct heap_ent top = t->heap[0];
    struct heap_ent last = t->heap[--t->heap_n];
    size_t n = t->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&t->heap[c], &t->heap[c + 1]))
            c++;
        if (!heap_less(&last, &t->heap[c]))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n > 0)
        t->heap[i] = last;
    return top;
}

/* Add delta to pair (a, b) for word w; when track, remember w in the pair's word list and
 * the pair as touched in this step. */
static bool pair_add(struct bpe_trainer *t, int32_t a, int32_t b, int64_t delta, uint32_t w,
                     bool track)
{
    int64_t p = pair_get(t, a, b);
    if (p < 0)
        return false;
    struct pair *pr = &t->pairs[p];
    pr->count += delta;
    if (!track)
        return true;
    if (pr->n_words == 0 || pr->words[pr->n_words - 1] != w) {
        if (pr->n_words == UINT32_MAX)
            return false;
        size_t cap = pr->cap_words;
        if (!grow((void **)&pr->words, &cap, (size_t)pr->n_words + 1, sizeof *pr->words) ||
            cap > UINT32_MAX)
            return false;
        pr->cap_words = (uint32_t)cap;
        pr->words[pr->n_words++] = w;
    }
    if (pr->stamp != t->stamp) {
        pr->stamp = t->stamp;
        if (!grow((void **)&t->touched, &t->touched_cap, t->n_touched + 1, sizeof *t->touched))
            return false;
        t->touched[t->n_touched++] = (uint32_t)p;
    }
    return true;
}

/* ---- Training ------------------------------------------------------------------------- */

struct char_count {
    uint32_t cp;
    uint64_t n;
};

static int char_count_cmp(const void *x, const void *y)
{
    const struct char_count *a = x, *b = y;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

/* A piece that must never exist: a proper prefix or suffix, of at least two bytes, of a
 * control, unknown or byte token (all ASCII, so bytes are characters here). */
static bool piece_forbidden(const struct bpe_trainer *t, const char *s, size_t len)
{
    if (len < 2 || len > 5 || (s[0] != '<' && s[len - 1] != '>'))
        return false;
    for (size_t i = 0; i < N_FIXED; i++) {
        size_t l = strlen(t->special[i]);
        if (len >= l)
            continue;
        if (memcmp(t->special[i], s, len) == 0 || memcmp(t->special[i] + l - len, s, len) == 0)
            return true;
    }
    return false;
}

/* Code point -> (count, symbol) table: open addressing on cp + 1 (0 = empty slot). */
struct cpmap {
    uint32_t *key;
    uint64_t *cnt;
    int32_t *sym;
    size_t mask, n;
};

static void cpmap_free(struct cpmap *m)
{
    free(m->key);
    free(m->cnt);
    free(m->sym);
}

static bool cpmap_init(struct cpmap *m, size_t nslots)
{
    m->key = calloc(nslots, sizeof *m->key);
    m->cnt = calloc(nslots, sizeof *m->cnt);
    m->sym = malloc(nslots * sizeof *m->sym);
    m->mask = nslots - 1;
    m->n = 0;
    if (!m->key || !m->cnt || !m->sym)
        return false;
    memset(m->sym, 0xff, nslots * sizeof *m->sym);
    return true;
}

static size_t cpmap_slot(const struct cpmap *m, uint32_t cp)
{
    size_t i = (size_t)(((uint64_t)cp * 0x9e3779b97f4a7c15u) >> 20) & m->mask;
    while (m->key[i] != 0 && m->key[i] != cp + 1)
        i = (i + 1) & m->mask;
    return i;
}

/* Slot of cp, inserting it when absent; SIZE_MAX when out of memory. */
static size_t cpmap_put(struct cpmap *m, uint32_t cp)
{
    size_t i = cpmap_slot(m, cp);
    if (m->key[i] != 0)
        return i;
    if ((m->n + 1) * 2 > m->mask + 1) {
        struct cpmap big;
        if (!cpmap_init(&big, (m->mask + 1) * 2)) {
            cpmap_free(&big);
            return SIZE_MAX;
        }
        for (size_t k = 0; k <= m->mask; k++) {
            if (m->key[k] == 0)
                continue;
            size_t j = cpmap_slot(&big, m->key[k] - 1);
            big.key[j] = m->key[k];
            big.cnt[j] = m->cnt[k];
            big.sym[j] = m->sym[k];
        }
        big.n = m->n;
        cpmap_free(m);
        *m = big;
        i = cpmap_slot(m, cp);
    }
    m->key[i] = cp + 1;
    m->n++;
    return i;
}

static enum status pick_chars(struct bpe_trainer *t, struct cpmap *cm)
{
    enum status st = STATUS_NOMEM;
    struct char_count *cc = NULL;
    if (!cpmap_init(cm, 256))
        goto done;
    for (size_t w = 0; w < t->words.n; w++) {
        size_t len;
        const char *s = strmap_str(&t->words, (int32_t)w, &len);
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int n = utf8_decode(s + i, len - i, &cp);
            if (n <= 0) {
                i++;
                continue;
            }
            i += (size_t)n;
            if (cp == 0)
                continue; /* NUL cannot be in a GGUF string piece: it uses a byte token */
            size_t slot = cpmap_put(cm, cp);
            if (slot == SIZE_MAX)
                goto done;
            cm->cnt[slot] += t->wcount[w];
        }
    }
    size_t n_seen = cm->n;
    uint64_t total = 0;
    cc = malloc((n_seen + 1) * sizeof *cc);
    if (!cc)
        goto done;
    size_t k = 0;
    for (size_t i = 0; i <= cm->mask; i++) {
        if (cm->key[i] != 0) {
            cc[k++] = (struct char_count){cm->key[i] - 1, cm->cnt[i]};
            total += cm->cnt[i];
        }
    }
    qsort(cc, n_seen, sizeof *cc, char_count_cmp);
    /* "▁" always comes first: as byte tokens it would decode to itself, not to a space */
    size_t sp = 0;
    while (sp < n_seen && cc[sp].cp != 0x2581)
        sp++;
    if (sp == n_seen)
        cc[n_seen] = (struct char_count){0x2581, 0};
    struct char_count space = cc[sp];
    memmove(cc + 1, cc, sp * sizeof *cc);
    cc[0] = space;
    size_t n_cand = n_seen + (sp == n_seen);
    size_t room = t->p.vocab_size - N_FIXED - t->n_user;
    uint64_t cum = 0;
    size_t keep = 0;
    while (keep < n_cand && keep < room &&
           (keep == 0 || (double)cum < t->p.char_coverage * (double)total)) {
        cum += cc[keep].n;
        keep++;
    }
    for (size_t i = 0; i < keep; i++) {
        char enc[4];
        size_t el = utf8_encode(cc[i].cp, enc);
        int32_t id;
        bool added;
        if ((st = strmap_intern(&t->syms, enc, el, &id, &added)) != STATUS_OK)
            goto done;
        st = STATUS_NOMEM;
        if (!grow((void **)&t->sym_chars, &t->sym_chars_cap, (size_t)id + 1,
                  sizeof *t->sym_chars))
            goto done;
        t->sym_chars[id] = 1;
        size_t slot = cpmap_put(cm, cc[i].cp);
        if (slot == SIZE_MAX)
            goto done;
        cm->sym[slot] = id;
    }
    t->n_chars = keep;
    t->n_chars_seen = n_seen;
    st = STATUS_OK;
done:
    free(cc);
    return st;
}

static enum status build_sequences(struct bpe_trainer *t, const struct cpmap *cm)
{
    size_t nw = t->words.n;
    t->seq = malloc((t->words.len ? t->words.len : 1) * sizeof *t->seq);
    t->seq_off = malloc((nw ? nw : 1) * sizeof *t->seq_off);
    t->seq_len = malloc((nw ? nw : 1) * sizeof *t->seq_len);
    t->wstamp = calloc(nw ? nw : 1, sizeof *t->wstamp);
    if (!t->seq || !t->seq_off || !t->seq_len || !t->wstamp)
        return STATUS_NOMEM;
    size_t pos = 0;
    for (size_t w = 0; w < nw; w++) {
        size_t len;
        const char *s = strmap_str(&t->words, (int32_t)w, &len);
        t->seq_off[w] = pos;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int n = utf8_decode(s + i, len - i, &cp);
            if (n <= 0) {
                t->seq[pos++] = -1;
                i++;
            } else {
                size_t slot = cpmap_slot(cm, cp);
                int32_t id = cm->key[slot] ? cm->sym[slot] : -1;
                t->seq[pos++] = id >= 0 ? id : -n;
                i += (size_t)n;
            }
        }
        t->seq_len[w] = (uint32_t)(pos - t->seq_off[w]);
    }
    return STATUS_OK;
}

static enum status count_pairs(struct bpe_trainer *t)
{
    if (!pairs_rehash(t, 1 << 16))
        return STATUS_NOMEM;
    t->stamp = 1;
    for (size_t w = 0; w < t->words.n; w++) {
        const int32_t *s = t->seq + t->seq_off[w];
        for (uint32_t i = 0; i + 1 < t->seq_len[w]; i++)
            if (s[i] >= 0 && s[i + 1] >= 0 &&
                !pair_add(t, s[i], s[i + 1], (int64_t)t->wcount[w], (uint32_t)w, true))
                return STATUS_NOMEM;
    }
    for (size_t i = 0; i < t->n_touched; i++)
        if (!heap_push(t, t->touched[i]))
            return STATUS_NOMEM;
    t->n_touched = 0;
    return STATUS_OK;
}

/* Merge pair p into symbol z in every word that holds it. */
static enum status apply_merge(struct bpe_trainer *t, uint32_t p, int32_t z)
{
    int32_t a = t->pairs[p].a, b = t->pairs[p].b;
    t->stamp++;
    t->n_touched = 0;
    uint32_t n_list = t->pairs[p].n_words;
    for (uint32_t k = 0; k < n_list; k++) {
        uint32_t w = t->pairs[p].words[k]; /* the list does not grow here: z != a, b */
        if (t->wstamp[w] == t->stamp)
            continue;
        t->wstamp[w] = t->stamp;
        int32_t *s = t->seq + t->seq_off[w];
        uint32_t n = t->seq_len[w];
        bool has = false;
        for (uint32_t i = 0; i + 1 < n && !has; i++)
            has = s[i] == a && s[i + 1] == b;
        if (!has)
            continue;
        int64_t f = (int64_t)t->wcount[w];
        for (uint32_t i = 0; i + 1 < n; i++)
            if (s[i] >= 0 && s[i + 1] >= 0 && !pair_add(t, s[i], s[i + 1], -f, w, false))
                return STATUS_NOMEM;
        uint32_t j = 0;
        for (uint32_t i = 0; i < n;) {
            if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                s[j++] = z;
                i += 2;
            } else {
                s[j++] = s[i++];
            }
        }
        t->seq_len[w] = j;
        for (uint32_t i = 0; i + 1 < j; i++)
            if (s[i] >= 0 && s[i + 1] >= 0 &&
                !pair_add(t, s[i], s[i + 1], f, w, s[i] == z || s[i + 1] == z))
                return STATUS_NOMEM;
    }
    free(t->pairs[p].words);
    t->pairs[p].words = NULL;
    t->pairs[p].n_words = t->pairs[p].cap_words = 0;
    for (size_t i = 0; i < t->n_touched; i++)
        if (t->pairs[t->touched[i]].count > 0 && !heap_push(t, t->touched[i]))
            return STATUS_NOMEM;
    return STATUS_OK;
}

enum status bpe_trainer_train(struct bpe_trainer *t)
{
    if (t->trained)
        return status_detail_set(STATUS_INVALID, _("the trainer has already been trained"));
    t->trained = true;
    struct cpmap cm = {0};
    char *cat = NULL;
    enum status st = pick_chars(t, &cm);
    if (st != STATUS_OK)
        goto done;
    if ((st = build_sequences(t, &cm)) != STATUS_OK)
        goto done;
    st = STATUS_NOMEM;
    cat = malloc(2 * TOK_MAX_PIECE);
    if (!cat)
        goto done;
    if ((st = count_pairs(t)) != STATUS_OK)
        goto done;
    size_t n_vocab = N_FIXED + t->n_user + t->n_chars;
    while (n_vocab < t->p.vocab_size && t->heap_n > 0) {
        struct heap_ent e = heap_pop(t);
        struct pair *pr = &t->pairs[e.pair];
        if (pr->banned)
            continue;
        if (e.count != pr->count) {
            /* stale: the count fell since this entry was queued (rises are re-queued) */
            if (pr->count > 0 && !heap_push(t, e.pair))
                goto nomem;
            continue;
        }
        if ((uint64_t)e.count < t->p.min_freq)
            break;
        size_t la, lb;
        const char *sa = strmap_str(&t->syms, pr->a, &la);
        const char *sb = strmap_str(&t->syms, pr->b, &lb);
        uint32_t nch = t->sym_chars[pr->a] + t->sym_chars[pr->b];
        if (nch > t->p.max_piece_chars || la + lb > TOK_MAX_PIECE ||
            piece_forbidden(t, sa, la) || piece_forbidden(t, sb, lb)) {
            pr->banned = true;
            continue;
        }
        memcpy(cat, sa, la);
        memcpy(cat + la, sb, lb);
        if (piece_forbidden(t, cat, la + lb)) {
            pr->banned = true;
            continue;
        }
        int32_t z;
        bool added;
        if ((st = strmap_intern(&t->syms, cat, la + lb, &z, &added)) != STATUS_OK)
            goto done;
        if (added) {
            if (!grow((void **)&t->sym_chars, &t->sym_chars_cap, (size_t)z + 1,
                      sizeof *t->sym_chars))
                goto nomem;
            t->sym_chars[z] = nch;
            n_vocab++;
        }
        if (!grow((void **)&t->merges, &t->merges_cap, t->n_merges + 1, sizeof *t->merges) ||
            !grow((void **)&t->merge_new, &t->merge_new_cap, t->n_merges + 1,
                  sizeof *t->merge_new))
            goto nomem;
        t->merges[t->n_merges] = z;
        t->merge_new[t->n_merges++] = added;
        if ((st = apply_merge(t, e.pair, z)) != STATUS_OK)
            goto done;
    }
    t->n_vocab = n_vocab;
    st = STATUS_OK;
    goto done;
nomem:
    st = STATUS_NOMEM;
done:
    cpmap_free(&cm);
    free(cat);
    free_work(t);
    return st;
}

void bpe_trainer_stats(const struct bpe_trainer *t, struct bpe_train_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n_bytes = t->n_bytes;
    out->n_words = t->n_word_occ;
    out->n_distinct = t->words.n;
    out->n_chars_seen = t->n_chars_seen;
    out->n_chars = t->n_chars;
    out->n_merges = t->n_merges;
    out->n_vocab = t->trained ? t->n_vocab : 0;
}

/* ---- Output --------------------------------------------------------------------------- */

/* The vocabulary as arrays; pieces point into t (or into a small static table).
 * sym_id[s] is the token id of symbol s. */
struct vocab {
    size_t n;
    const char **tokens;
    size_t *lens;
    float *scores;
    int32_t *types;
    int32_t *sym_id;
};

static void vocab_free(struct vocab *v)
{
    free(v->tokens);
    free(v->lens);
    free(v->scores);
    free(v->types);
    free(v->sym_id);
}

static enum status vocab_build(const struct bpe_trainer *t, struct vocab *v)
{
    memset(v, 0, sizeof *v);
    if (!t->trained)
        return status_detail_set(STATUS_INVALID, _("the trainer has not been trained"));
    size_t n = t->n_vocab;
    v->tokens = malloc(n * sizeof *v->tokens);
    v->lens = malloc(n * sizeof *v->lens);
    v->scores = malloc(n * sizeof *v->scores);
    v->types = malloc(n * sizeof *v->types);
    v->sym_id = malloc((t->syms.n ? t->syms.n : 1) * sizeof *v->sym_id);
    if (!v->tokens || !v->lens || !v->scores || !v->types || !v->sym_id) {
        vocab_free(v);
        return STATUS_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < N_FIXED; i++, k++) {
        v->tokens[k] = t->special[i];
        v->lens[k] = strlen(t->special[i]);
        v->scores[k] = 0.0f;
        v->types[k] = i == 0 ? TOK_TYPE_UNKNOWN : i < 3 ? TOK_TYPE_CONTROL : TOK_TYPE_BYTE;
    }
    for (size_t i = 0; i < t->n_user; i++, k++) {
        v->tokens[k] = t->user[i];
        v->lens[k] = t->user_len[i];
        v->scores[k] = 0.0f;
        v->types[k] = TOK_TYPE_USER_DEFINED;
    }
    for (size_t c = 0; c < t->n_chars; c++, k++) {
        v->tokens[k] = strmap_str(&t->syms, (int32_t)c, &v->lens[k]);
        v->scores[k] = -(float)(t->n_merges + 1 + c);
        v->types[k] = TOK_TYPE_NORMAL;
        v->sym_id[c] = (int32_t)k;
    }
    for (size_t m = 0; m < t->n_merges; m++) {
        if (!t->merge_new[m])
            continue;
        int32_t z = t->merges[m];
        v->tokens[k] = strmap_str(&t->syms, z, &v->lens[k]);
        v->scores[k] = -(float)m;
        v->types[k] = TOK_TYPE_NORMAL;
        v->sym_id[z] = (int32_t)k;
        k++;
    }
    v->n = k;
    return STATUS_OK;
}

enum status bpe_trainer_to_writer(const struct bpe_trainer *t, struct gguf_writer *w)
{
    struct vocab v;
    enum status st = vocab_build(t, &v);
    if (st != STATUS_OK)
        return st;
    /* gguf strings are written from NUL-terminated pieces: copy each one */
    char **strs = calloc(v.n, sizeof *strs);
    st = STATUS_NOMEM;
    if (!strs)
        goto done;
    for (size_t i = 0; i < v.n; i++) {
        if (!(strs[i] = malloc(v.lens[i] + 1)))
            goto done;
        memcpy(strs[i], v.tokens[i], v.lens[i]);
        strs[i][v.lens[i]] = '\0';
    }
    if ((st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) != STATUS_OK ||
        (st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs,
                                      v.n)) != STATUS_OK ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32, v.scores,
                                  v.n)) != STATUS_OK ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, v.types,
                                  v.n)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) != STATUS_OK ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) != STATUS_OK ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true)) != STATUS_OK ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false)) != STATUS_OK ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false)) != STATUS_OK)
        goto done;
    st = STATUS_OK;
done:
    if (strs)
        for (size_t i = 0; i < v.n; i++)
            free(strs[i]);
    free(strs);
    vocab_free(&v);
    return st;
}

enum status bpe_trainer_tok(const struct bpe_trainer *t, struct tok **out)
{
    struct vocab v;
    enum status st = vocab_build(t, &v);
    if (st != STATUS_OK)
        return st;
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = v.n;
    d.tokens = v.tokens;
    d.token_lens = v.lens;
    d.scores = v.scores;
    d.types = v.types;
    d.unk_id = 0;
    d.bos_id = 1;
    d.eos_id = 2;
    d.add_bos = true;
    d.add_eos = false;
    d.add_space_prefix = false;
    st = tok_new(&d, out);
    vocab_free(&v);
    return st;
}

enum status bpe_trainer_check(const struct bpe_trainer *t, struct tok *tok, size_t *n_checked,
                              size_t *n_mismatch)
{
    struct vocab v;
    enum status st = vocab_build(t, &v);
    if (st != STATUS_OK)
        return st;
    int32_t *ids = NULL, *want = NULL;
    size_t cap = 0, wcap = 0, bad = 0;
    st = STATUS_NOMEM;
    for (size_t w = 0; w < t->words.n; w++) {
        size_t len, n = 0, nw = 0;
        const char *s = strmap_str(&t->words, (int32_t)w, &len);
        size_t need = tok_encode_bound(len);
        if (!grow((void **)&ids, &cap, need, sizeof *ids) ||
            !grow((void **)&want, &wcap, len + 1, sizeof *want))
            goto done;
        if ((st = tok_encode(tok, s, len, 0, ids, cap, &n)) != STATUS_OK)
            goto done;
        st = STATUS_NOMEM;
        const int32_t *q = t->seq + t->seq_off[w];
        size_t pos = 0;
        for (uint32_t i = 0; i < t->seq_len[w]; i++) {
            if (q[i] >= 0) {
                size_t l;
                strmap_str(&t->syms, q[i], &l);
                want[nw++] = v.sym_id[q[i]];
                pos += l;
            } else {
                for (int32_t b = 0; b < -q[i]; b++)
                    want[nw++] = 3 + (unsigned char)s[pos++];
            }
        }
        if (n != nw || memcmp(ids, want, n * sizeof *ids) != 0)
            bad++;
    }
    *n_checked = t->words.n;
    *n_mismatch = bad;
    st = STATUS_OK;
done:
    free(ids);
    free(want);
    vocab_free(&v);
    return st;
}
