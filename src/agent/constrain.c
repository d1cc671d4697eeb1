/* constrain.c -- call-grammar state machine and token allow-lists (see constrain.h). */
#include "config.h"

#include "agent/constrain.h"

#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "engine/samp.h"
#include "engine/tok.h"
#include "protocol/call.h"
#include "util/i18n.h"

/* ---- byte tries of names ------------------------------------------------------------- */

/* Node 0 is the root; a child index is never 0, so 0 also means "none".  After
 * trie_finish(), lo is the node's pre-order number and [lo, hi) the numbers of its
 * subtree, so "is terminal t below node n" is lo[n] <= lo[t] < hi[n]; nterm counts the
 * names (terminals) in the subtree. */
struct trie_node {
    uint32_t first, next, lo, hi, nterm;
    uint8_t byte, term;
};

struct trie {
    struct trie_node *n;
    size_t len, cap;
};

static enum status trie_reset(struct trie *t)
{
    if (!t->n) {
        t->cap = 64;
        t->n = malloc(t->cap * sizeof *t->n);
        if (!t->n)
            return STATUS_NOMEM;
    }
    memset(&t->n[0], 0, sizeof t->n[0]);
    t->len = 1;
    return STATUS_OK;
}

static uint32_t trie_child(const struct trie *t, uint32_t node, uint8_t b)
{
    for (uint32_t c = t->n[node].first; c; c = t->n[c].next)
        if (t->n[c].byte == b)
            return c;
    return 0;
}

static enum status trie_insert(struct trie *t, const char *s, size_t len)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        uint32_t c = trie_child(t, node, b);
        if (!c) {
            if (t->len == t->cap) {
                if (t->cap > UINT32_MAX / 4)
                    return STATUS_OVERFLOW;
                struct trie_node *nn = realloc(t->n, 2 * t->cap * sizeof *nn);
                if (!nn)
                    return STATUS_NOMEM;
                t->n = nn;
                t->cap *= 2;
            }
            c = (uint32_t)t->len++;
            memset(&t->n[c], 0, sizeof t->n[c]);
            t->n[c].byte = b;
            t->n[c].next = t->n[node].first;
            t->n[node].first = c;
        }
        node = c;
    }
    if (node)
        t->n[node].term = 1;
    return STATUS_OK;
}

/* Pre-order numbers and terminal counts, iteratively (names may be long). */
static enum status trie_finish(struct trie *t)
{
    uint32_t *stack = malloc(t->len * sizeof *stack);
    uint8_t *done = calloc(t->len, 1);
    if (!stack || !done) {
        free(stack);
        free(done);
        return STATUS_NOMEM;
    }
    size_t sp = 0;
    uint32_t order = 0;
    stack[sp++] = 0;
    while (sp) {
        uint32_t n = stack[sp - 1];
        if (!done[n]) {
            done[n] = 1;
            t->n[n].lo = order++;
            t->n[n].nterm = t->n[n].term;
            for (uint32_t c = t->n[n].first; c; c = t->n[c].next)
                stack[sp++] = c;
        } else {
            sp--;
            t->n[n].hi = order;
            for (uint32_t c = t->n[n].first; c; c = t->n[c].next)
                t->n[n].nterm += t->n[c].nterm;
        }
    }
    free(stack);
    free(done);
    return STATUS_OK;
}

/* How many of ids[0..n) (terminal nodes, distinct) lie in node's subtree. */
static uint32_t trie_count_below(const struct trie *t, uint32_t node, const uint32_t *ids,
                                 size_t n)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t->n[ids[i]].lo >= t->n[node].lo && t->n[ids[i]].lo < t->n[node].hi)
            k++;
    return k;
}

/* ---- names ---------------------------------------------------------------------------- */

/* A name can be a field value: call_name_check() clean, untrimmed, no '>' or '}' (they
 * would make field ends ambiguous), balanced parentheses (so that a ')' after a complete
 * object name always closes the query list), and every byte is the text of some token
 * (byte_ok), so that whatever part of it has been written, the rest can be: without
 * that an allow-list could run empty in the middle of a name.  Vocabularies with byte
 * fallback (all Llama/Mistral ones) cover every byte. */
static bool name_usable(const uint8_t *byte_ok, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!byte_ok[(uint8_t)s[i]])
            return false;
    if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
        return false;
    if (call_name_check(s, len, NULL) != CALL_ERR_NONE)
        return false;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '>' || s[i] == '}' || s[i] == ';')
            return false;
        if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && --depth < 0)
            return false;
    }
    return depth == 0;
}

static const char *const stopwords[] = {
    "a", "about", "after", "also", "an", "and", "are", "as", "at", "be", "been", "before",
    "but", "by", "during", "for", "from", "had", "has", "have", "he", "her", "here", "him",
    "his", "i", "in", "into", "is", "it", "its", "of", "on", "or", "our", "she", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "whom", "whose", "with",
    "you", "your",
};

static bool is_stopword(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof stopwords / sizeof stopwords[0]; i++) {
        const char *s = stopwords[i];
        size_t k = 0;
        while (k < len && s[k]) {
            char a = w[k];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (a != s[k])
                break;
            k++;
        }
        if (k == len && !s[k])
            return true;
    }
    return false;
}

static bool is_article(const char *w, size_t len)
{
    return (len == 3 && (w[0] == 't' || w[0] == 'T') && w[1] == 'h' && w[2] == 'e') ||
           (len == 1 && (w[0] == 'a' || w[0] == 'A')) ||
           (len == 2 && (w[0] == 'a' || w[0] == 'A') && w[1] == 'n');
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Length of an opening quote/bracket at s[0..n) (0 if none). */
static size_t lead_punct(const char *s, size_t n)
{
    if (n >= 1 && strchr("\"'([{`", s[0]) && s[0])
        return 1;
    if (n >= 3 && (uint8_t)s[0] == 0xE2 && (uint8_t)s[1] == 0x80 &&
        ((uint8_t)s[2] == 0x9C || (uint8_t)s[2] == 0x98))
        return 3; /* U+201C, U+2018 */
    return 0;
}

/* Length of a closing punctuation mark ending s[0..n) (0 if none). */
static size_t trail_punct(const char *s, size_t n)
{
    if (n >= 1 && s[n - 1] && strchr(".,;:!?\"')]}`", s[n - 1]))
        return 1;
    if (n >= 3 && (uint8_t)s[n - 3] == 0xE2 && (uint8_t)s[n - 2] == 0x80 &&
        ((uint8_t)s[n - 1] == 0x9D || (uint8_t)s[n - 1] == 0x99))
        return 3; /* U+201D, U+2019 */
    return 0;
}

struct word {
    size_t a, b;       /* raw extent */
    size_t ca, cb;     /* core: without leading/trailing punctuation */
    size_t ends[3];    /* possible span ends inside this word */
    size_t n_ends;
};

static void word_analyse(const char *s, struct word *w)
{
    size_t a = w->a, b = w->b, k;
    while (a < b && (k = lead_punct(s + a, b - a)) > 0)
        a += k;
    size_t cb = b;
    while (cb > a && (k = trail_punct(s + a, cb - a)) > 0)
        cb -= k;
    w->ca = a;
    w->cb = cb;
    w->n_ends = 0;
    if (cb == a)
        return;
    w->ends[w->n_ends++] = cb;
    if (cb < b && s[cb] == '.') {
        bool has_dot = memchr(s + a, '.', cb - a) != NULL;
        bool short_cap = cb - a <= 4 && s[a] >= 'A' && s[a] <= 'Z';
        if (has_dot || short_cap)
            w->ends[w->n_ends++] = cb + 1;
    } else if (cb < b && s[cb] == ')') {
        w->ends[w->n_ends++] = cb + 1;
    }
    if (cb - a > 2 && s[cb - 1] == 's' && s[cb - 2] == '\'')
        w->ends[w->n_ends++] = cb - 2;
}

/* Insert every usable whole-word span of text[0..len) of at most max_words words. */
static enum status insert_spans(struct trie *t, const uint8_t *byte_ok, const char *text,
                                size_t len, size_t max_words, bool stop)
{
    size_t n_words = 0, cap = 16;
    struct word *w = malloc(cap * sizeof *w);
    if (!w)
        return STATUS_NOMEM;
    for (size_t i = 0; i < len;) {
        while (i < len && is_space(text[i]))
            i++;
        if (i == len)
            break;
        size_t a = i;
        while (i < len && !is_space(text[i]))
            i++;
        if (n_words == cap) {
            struct word *nw = realloc(w, 2 * cap * sizeof *nw);
            if (!nw) {
                free(w);
                return STATUS_NOMEM;
            }
            w = nw;
            cap *= 2;
        }
        w[n_words].a = a;
        w[n_words].b = i;
        word_analyse(text, &w[n_words]);
        n_words++;
    }
    enum status st = STATUS_OK;
    for (size_t i = 0; i < n_words && st == STATUS_OK; i++) {
        if (w[i].cb == w[i].ca)
            continue;
        bool first_stop = stop && is_stopword(text + w[i].ca, w[i].cb - w[i].ca);
        bool first_art = is_article(text + w[i].ca, w[i].cb - w[i].ca);
        for (size_t j = i; j < n_words && j - i < max_words && st == STATUS_OK; j++) {
            if (first_stop && !first_art)
                break;
            if (first_stop && j == i)
                continue;
            if (w[j].n_ends == 0)
                continue;
            if (stop && j > i && is_stopword(text + w[j].ca, w[j].cb - w[j].ca))
                continue;
            for (size_t e = 0; e < w[j].n_ends; e++) {
                size_t end = w[j].ends[e];
                if (end <= w[i].ca)
                    continue;
                if (name_usable(byte_ok, text + w[i].ca, end - w[i].ca))
                    st = trie_insert(t, text + w[i].ca, end - w[i].ca);
            }
        }
    }
    free(w);
    return st;
}

/* ---- the grammar ---------------------------------------------------------------------- */

enum cpos {
    P_HEAD,    /* keyword after "({" (lit bytes matched, heads still possible) */
    P_ARROW,   /* "-->" (lit bytes matched) */
    P_W_START, /* write, after "-->": SP, "})" or the first subject */
    P_FIELD,   /* inside a field (field, node) */
    P_GT,      /* first '>' of ">>" read; field = what follows */
    P_CLOSE,   /* '}' of "})" read */
    P_Q_START, /* read: start of a query */
    P_Q_END,   /* read: after "e>>r>>": ';' or ')' */
    P_DONE,
};

enum cfield {
    F_W_SUBJ, F_W_REL, F_W_OBJ, /* write */
    F_R_ENT,                    /* read: given subject (object wanted) */
    F_R_REL,
    F_R_OBJ,                    /* read: given object (subject wanted) */
    F_Q_END,                    /* P_GT only: the query is complete after ">>" */
};

#define HEAD_READ 1u
#define HEAD_WRITE 2u

/* The whole state; small so that the mask walk can copy it at every level. */
struct cstate {
    uint8_t pos, kind, field, lit, heads, sp, want, n_done;
    uint32_t node;
    uint32_t cur[2];                          /* write: s, r; read: e (OBJ form), r */
    uint32_t done[CONSTRAIN_MAX_TRIPLES][3];  /* write: s r o; read: want e r */
};


struct constrain {
    struct constrain_params p;
    struct trie rel;       /* relation names */
    struct trie ew, er;    /* write entities (spans); read entities (spans + memory) */
    /* token index */
    struct trie_node *tn;  /* token trie nodes (term unused) */
    int32_t *tn_head;      /* first token ending at node, -1 */
    int32_t *tok_next;     /* next token with the same text, -1 */
    size_t n_tn;
    int32_t *udt;          /* user-defined tokens, tried one by one */
    size_t n_udt;
    bool udt_arrow, udt_close; /* "-->" / "})" must be written as their own token */
    uint8_t byte_ok[256];  /* some normal or byte token is exactly this byte */
    int32_t n_vocab;
    char *text;            /* decoded texts of all tokens, back to back */
    uint32_t *tok_off, *tok_len; /* per token; tok_len 0: never allowed */
    uint8_t *tok_udt;      /* per token: user-defined */
    /* current call */
    bool active;
    struct cstate st;
    uint8_t eff_cap, eff_q;
    bool read_ok;
    int32_t *allowed;
    size_t n_allowed;
    /* source for the agent hook */
    char *src;
    size_t src_len;
    char **src_names;
    size_t n_src_names;
    enum constrain_kind hook_kind;
    bool hook_dead;        /* the hook's call cannot be completed: refuse every token */
};

static const char *const head_kw[2] = {"MEM_READ(", "MEM_WRITE"};

static const struct trie *field_trie(const struct constrain *c, uint8_t field)
{
    switch (field) {
    case F_W_REL:
    case F_R_REL:
        return &c->rel;
    case F_W_SUBJ:
    case F_W_OBJ:
        return &c->ew;
    default:
        return &c->er;
    }
}

static uint32_t n_names(const struct trie *t)
{
    return t->n[0].nterm;
}

static bool id_in(uint32_t id, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* Names the current field may not take (distinct terminal ids of its trie). */
static size_t field_excluded(const struct constrain *c, const struct cstate *s,
                             uint32_t *out)
{
    size_t n = 0;
    switch (s->field) {
    case F_W_REL: {
        /* relations r whose objects are used up for subject s */
        uint32_t subj = s->cur[0], nn = n_names(&c->ew);
        for (size_t i = 0; i < s->n_done; i++) {
            uint32_t r = s->done[i][1];
            if ((s->done[i][0] != subj && s->done[i][2] != subj) || id_in(r, out, n))
                continue;
            uint32_t used = 1;
            for (size_t k = 0; k < s->n_done; k++)
                if (s->done[k][1] == r && (s->done[k][0] == subj || s->done[k][2] == subj))
                    used++;
            if (used >= nn)
                out[n++] = r;
        }
        break;
    }
    case F_W_OBJ:
        out[n++] = s->cur[0];
        for (size_t i = 0; i < s->n_done; i++) {
            if (s->done[i][1] != s->cur[1])
                continue;
            if (s->done[i][0] == s->cur[0])
                out[n++] = s->done[i][2];
            else if (s->done[i][2] == s->cur[0])
                out[n++] = s->done[i][0];
        }
        break;
    case F_R_REL:
        if (s->want == CALL_WANT_OBJECT) {
            for (size_t i = 0; i < s->n_done; i++)
                if (s->done[i][0] == CALL_WANT_OBJECT && s->done[i][1] == s->cur[0])
                    out[n++] = s->done[i][2];
        } else {
            uint32_t nn = n_names(&c->er);
            for (size_t i = 0; i < s->n_done; i++) {
                uint32_t r = s->done[i][2], used = 0;
                if (s->done[i][0] != CALL_WANT_SUBJECT || id_in(r, out, n))
                    continue;
                for (size_t k = 0; k < s->n_done; k++)
                    if (s->done[k][0] == CALL_WANT_SUBJECT && s->done[k][2] == r)
                        used++;
                if (used >= nn)
                    out[n++] = r;
            }
        }
        break;
    case F_R_OBJ:
        for (size_t i = 0; i < s->n_done; i++)
            if (s->done[i][0] == CALL_WANT_SUBJECT && s->done[i][2] == s->cur[1])
                out[n++] = s->done[i][1];
        break;
    default:
        break; /* subjects and read entities are always live (see the caps) */
    }
    return n;
}

static void set_field(struct cstate *s, uint8_t field)
{
    s->pos = P_FIELD;
    s->field = field;
    s->node = 0;
}

static void push_done(struct cstate *s, uint32_t a, uint32_t b, uint32_t d)
{
    s->done[s->n_done][0] = a;
    s->done[s->n_done][1] = b;
    s->done[s->n_done][2] = d;
    s->n_done++;
}

/* A byte inside a field (or the first byte of one). */
static bool field_step(const struct constrain *c, struct cstate *s, uint8_t b, bool udt)
{
    const struct trie *t = field_trie(c, s->field);
    uint32_t ex[2 * CONSTRAIN_MAX_TRIPLES + 2];
    size_t n_ex = field_excluded(c, s, ex);
    uint32_t ch = trie_child(t, s->node, b);
    if (ch) {
        if (t->n[ch].nterm <= trie_count_below(t, ch, ex, n_ex))
            return false;
        s->node = ch;
        return true;
    }
    uint32_t node = s->node;
    if (!node || !t->n[node].term || id_in(node, ex, n_ex))
        return false;
    switch (s->field) {
    case F_W_SUBJ:
    case F_R_ENT:
        if (b != '>')
            return false;
        s->cur[0] = node;
        s->pos = P_GT;
        s->field = s->field == F_W_SUBJ ? F_W_REL : F_R_REL;
        return true;
    case F_W_REL:
        if (b != '>')
            return false;
        s->cur[1] = node;
        s->pos = P_GT;
        s->field = F_W_OBJ;
        return true;
    case F_R_REL:
        if (b != '>')
            return false;
        s->pos = P_GT;
        if (s->want == CALL_WANT_OBJECT) {
            push_done(s, CALL_WANT_OBJECT, s->cur[0], node);
            s->field = F_Q_END;
        } else {
            s->cur[1] = node;
            s->field = F_R_OBJ;
        }
        return true;
    case F_W_OBJ:
        if (b == ';') {
            if (s->n_done + 1u >= c->eff_cap)
                return false;
            push_done(s, s->cur[0], s->cur[1], node);
            set_field(s, F_W_SUBJ);
            return true;
        }
        if (b == '}' && (udt || !c->udt_close)) {
            push_done(s, s->cur[0], s->cur[1], node);
            s->pos = P_CLOSE;
            return true;
        }
        return false;
    case F_R_OBJ:
        if (b == ';' && s->n_done + 1u < c->eff_q) {
            push_done(s, CALL_WANT_SUBJECT, node, s->cur[1]);
            s->pos = P_Q_START;
            return true;
        }
        if (b == ')') {
            push_done(s, CALL_WANT_SUBJECT, node, s->cur[1]);
            s->pos = P_ARROW;
            s->lit = 0;
            return true;
        }
        return false;
    default:
        return false;
    }
}

/* One byte of call text; false (s then undefined) when the grammar refuses it.  udt: the
 * byte belongs to a user-defined token. */
static bool step(const struct constrain *c, struct cstate *s, uint8_t b, bool udt)
{
    switch (s->pos) {
    case P_HEAD: {
        if (s->lit == 0 && !s->sp && b == ' ') {
            s->sp = 1;
            return true;
        }
        unsigned keep = 0;
        for (unsigned k = 0; k < 2; k++)
            if ((s->heads & (1u << k)) && (uint8_t)head_kw[k][s->lit] == b)
                keep |= 1u << k;
        if (!keep)
            return false;
        s->heads = (uint8_t)keep;
        s->lit++;
        for (unsigned k = 0; k < 2; k++) {
            if ((keep & (1u << k)) && head_kw[k][s->lit] == '\0') {
                if (k == 0) {
                    s->kind = CONSTRAIN_KIND_READ;
                    s->pos = P_Q_START;
                } else {
                    s->kind = CONSTRAIN_KIND_WRITE;
                    s->pos = P_ARROW;
                    s->lit = 0;
                }
            }
        }
        return true;
    }
    case P_ARROW:
        if (b != (uint8_t)"-->"[s->lit] || (s->lit == 0 && c->udt_arrow && !udt))
            return false;
        if (++s->lit == 3) {
            s->pos = s->kind == CONSTRAIN_KIND_WRITE ? P_W_START : P_DONE;
            s->sp = 0;
        }
        return true;
    case P_W_START:
        if (b == ' ' && !s->sp) {
            s->sp = 1;
            return true;
        }
        if (b == '}') {
            if (c->udt_close && !udt)
                return false;
            s->pos = P_CLOSE;
            return true;
        }
        if (c->eff_cap == 0)
            return false;
        set_field(s, F_W_SUBJ);
        return field_step(c, s, b, udt);
    case P_FIELD:
        return field_step(c, s, b, udt);
    case P_GT:
        if (b != '>')
            return false;
        if (s->field == F_Q_END)
            s->pos = P_Q_END;
        else
            set_field(s, s->field);
        return true;
    case P_CLOSE:
        if (b != ')')
            return false;
        s->pos = P_DONE;
        return true;
    case P_Q_START:
        if (b == '>') {
            s->want = CALL_WANT_SUBJECT;
            s->pos = P_GT;
            s->field = F_R_REL;
            return true;
        }
        s->want = CALL_WANT_OBJECT;
        set_field(s, F_R_ENT);
        return field_step(c, s, b, udt);
    case P_Q_END:
        if (b == ';' && s->n_done < c->eff_q) {
            s->pos = P_Q_START;
            return true;
        }
        if (b == ')') {
            s->pos = P_ARROW;
            s->lit = 0;
            return true;
        }
        return false;
    default:
        return false;
    }
}

static bool step_text(const struct constrain *c, struct cstate *s, const char *text,
                      size_t len, bool udt)
{
    for (size_t i = 0; i < len; i++)
        if (!step(c, s, (uint8_t)text[i], udt))
            return false;
    return true;
}

/* ---- construction --------------------------------------------------------------------- */

void constrain_params_init(struct constrain_params *p)
{
    memset(p, 0, sizeof *p);
    p->max_span_words = 8;
    p->max_triples = 6;
    p->max_queries = CALL_MAX_QUERIES;
    p->stopwords = true;
    p->byte_cover = true;
}

static enum status rel_insert(struct constrain *c, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        size_t len = strlen(names[i]);
        if (!name_usable(c->byte_ok, names[i], len))
            continue;
        enum status st = trie_insert(&c->rel, names[i], len);
        if (st != STATUS_OK)
            return st;
    }
    return trie_finish(&c->rel);
}

static enum status tn_grow(struct constrain *c, size_t *cap)
{
    if (c->n_tn < *cap)
        return STATUS_OK;
    size_t nc = *cap * 2;
    struct trie_node *n = realloc(c->tn, nc * sizeof *n);
    if (!n)
        return STATUS_NOMEM;
    c->tn = n;
    int32_t *h = realloc(c->tn_head, nc * sizeof *h);
    if (!h)
        return STATUS_NOMEM;
    c->tn_head = h;
    *cap = nc;
    return STATUS_OK;
}

static enum status index_vocab(struct constrain *c, const struct tok *t)
{
    int32_t nv = tok_n_vocab(t);
    c->n_vocab = nv;
    size_t cap = 1024, text_cap = 4096, text_len = 0;
    char buf[TOK_MAX_PIECE];
    c->tn = malloc(cap * sizeof *c->tn);
    c->tn_head = malloc(cap * sizeof *c->tn_head);
    c->tok_next = malloc((size_t)nv * sizeof *c->tok_next);
    c->tok_off = malloc((size_t)nv * sizeof *c->tok_off);
    c->tok_len = malloc((size_t)nv * sizeof *c->tok_len);
    c->tok_udt = calloc((size_t)nv, 1);
    c->allowed = malloc(((size_t)nv + 1) * sizeof *c->allowed);
    c->udt = malloc(((size_t)nv + 1) * sizeof *c->udt);
    c->text = malloc(text_cap);
    if (!c->tn || !c->tn_head || !c->tok_next || !c->tok_off || !c->tok_len || !c->tok_udt ||
        !c->allowed || !c->udt || !c->text)
        return STATUS_NOMEM;
    memset(&c->tn[0], 0, sizeof c->tn[0]);
    c->tn_head[0] = -1;
    c->n_tn = 1;
    if (!c->p.byte_cover)
        memset(c->byte_ok, 1, sizeof c->byte_ok);
    for (int32_t id = 0; id < nv; id++) {
        c->tok_next[id] = -1;
        size_t len = tok_token_text(t, id, buf, sizeof buf);
        c->tok_off[id] = (uint32_t)text_len;
        c->tok_len[id] = (uint32_t)len;
        if (len == 0)
            continue;
        if (text_len + len > text_cap) {
            while (text_len + len > text_cap)
                text_cap *= 2;
            if (text_cap > UINT32_MAX)
                return STATUS_OVERFLOW;
            char *nt = realloc(c->text, text_cap);
            if (!nt)
                return STATUS_NOMEM;
            c->text = nt;
        }
        memcpy(c->text + text_len, buf, len);
        text_len += len;
        if (tok_token_type(t, id) == TOK_TYPE_USER_DEFINED) {
            c->tok_udt[id] = 1;
            c->udt[c->n_udt++] = id;
            if (len == 3 && memcmp(buf, "-->", 3) == 0)
                c->udt_arrow = true;
            if (len == 2 && memcmp(buf, "})", 2) == 0)
                c->udt_close = true;
            continue;
        }
        if (len == 1)
            c->byte_ok[(uint8_t)buf[0]] = 1;
        uint32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            uint8_t b = (uint8_t)buf[i];
            uint32_t ch = 0;
            for (uint32_t k = c->tn[node].first; k; k = c->tn[k].next)
                if (c->tn[k].byte == b) {
                    ch = k;
                    break;
                }
            if (!ch) {
                enum status st = tn_grow(c, &cap);
                if (st != STATUS_OK)
                    return st;
                ch = (uint32_t)c->n_tn++;
                memset(&c->tn[ch], 0, sizeof c->tn[ch]);
                c->tn_head[ch] = -1;
                c->tn[ch].byte = b;
                c->tn[ch].next = c->tn[node].first;
                c->tn[node].first = ch;
            }
            node = ch;
        }
        c->tok_next[id] = c->tn_head[node];
        c->tn_head[node] = id;
    }
    return STATUS_OK;
}

enum status constrain_new(const struct tok *t, const struct constrain_params *p,
                          struct constrain **out)
{
    if (!t || !p)
        return status_detail_set(STATUS_INVALID, "constrain_new: %s", !t ? "tok" : "params");
    if (p->max_span_words == 0)
        return status_detail_set(STATUS_INVALID, _("constraint: max_span_words must be > 0"));
    if (p->max_triples > CONSTRAIN_MAX_TRIPLES)
        return status_detail_set(STATUS_INVALID, _("constraint: max_triples must be <= %d"),
                                 CONSTRAIN_MAX_TRIPLES);
    if (p->max_queries == 0 || p->max_queries > CALL_MAX_QUERIES)
        return status_detail_set(STATUS_INVALID, _("constraint: max_queries must be 1 to %d"),
                                 CALL_MAX_QUERIES);
    enum status st = STATUS_NOMEM;
    struct constrain *c = calloc(1, sizeof *c);
    if (!c)
        return STATUS_NOMEM;
    c->p = *p;
    c->p.relations = NULL;
    c->p.n_relations = 0;
    if ((st = trie_reset(&c->rel)) != STATUS_OK || (st = trie_reset(&c->ew)) != STATUS_OK ||
        (st = trie_reset(&c->er)) != STATUS_OK)
        goto fail;
    if ((st = index_vocab(c, t)) != STATUS_OK)
        goto fail;
    if ((st = rel_insert(c, p->relations, p->n_relations)) != STATUS_OK)
        goto fail;
    *out = c;
    return STATUS_OK;
fail:
    constrain_free(c);
    return st;
}

static void free_source(struct constrain *c)
{
    for (size_t i = 0; i < c->n_src_names; i++)
        free(c->src_names[i]);
    free(c->src_names);
    free(c->src);
    c->src = NULL;
    c->src_names = NULL;
    c->n_src_names = 0;
    c->src_len = 0;
}

void constrain_free(struct constrain *c)
{
    if (!c)
        return;
    free(c->rel.n);
    free(c->ew.n);
    free(c->er.n);
    free(c->tn);
    free(c->tn_head);
    free(c->tok_next);
    free(c->udt);
    free(c->text);
    free(c->tok_off);
    free(c->tok_len);
    free(c->tok_udt);
    free(c->allowed);
    free_source(c);
    free(c);
}

enum status constrain_add_relations(struct constrain *c, const char *const *names, size_t n)
{
    constrain_end(c);
    return rel_insert(c, names, n);
}

/* ---- a call ----------------------------------------------------------------------------- */

enum status constrain_begin(struct constrain *c, enum constrain_kind kind, const char *context,
                            size_t len, const char *const *memory_names, size_t n_names_in)
{
    enum status st;
    constrain_end(c);
    if (!context)
        len = 0;
    if ((st = trie_reset(&c->ew)) != STATUS_OK || (st = trie_reset(&c->er)) != STATUS_OK)
        return st;
    if (kind != CONSTRAIN_KIND_READ) {
        st = insert_spans(&c->ew, c->byte_ok, context, len, c->p.max_span_words, c->p.stopwords);
        if (st == STATUS_OK)
            st = trie_finish(&c->ew);
        if (st != STATUS_OK)
            return st;
    }
    if (kind != CONSTRAIN_KIND_WRITE) {
        st = insert_spans(&c->er, c->byte_ok, context, len, c->p.max_span_words, c->p.stopwords);
        for (size_t i = 0; i < n_names_in && st == STATUS_OK; i++) {
            if (!memory_names[i])
                continue;
            size_t nl = strlen(memory_names[i]);
            if (name_usable(c->byte_ok, memory_names[i], nl))
                st = trie_insert(&c->er, memory_names[i], nl);
        }
        if (st == STATUS_OK)
            st = trie_finish(&c->er);
        if (st != STATUS_OK)
            return st;
    }
    uint32_t n_rel = n_names(&c->rel);
    size_t cap = c->p.max_triples < n_rel ? c->p.max_triples : n_rel;
    c->eff_cap = (uint8_t)(n_names(&c->ew) >= 2 ? cap : 0);
    c->eff_q = (uint8_t)(c->p.max_queries < n_rel ? c->p.max_queries : n_rel);
    c->read_ok = n_names(&c->er) > 0 && n_rel > 0;
    if (kind == CONSTRAIN_KIND_READ && !c->read_ok)
        return status_detail_set(STATUS_NOT_FOUND,
                                 _("constraint: a read call needs an entity and a relation"));
    memset(&c->st, 0, sizeof c->st);
    c->st.pos = P_HEAD;
    c->st.kind = (uint8_t)kind;
    c->st.heads = kind == CONSTRAIN_KIND_READ    ? HEAD_READ
                  : kind == CONSTRAIN_KIND_WRITE ? HEAD_WRITE
                  : (uint8_t)(HEAD_WRITE | (c->read_ok ? HEAD_READ : 0));
    c->active = true;
    return STATUS_OK;
}

enum status constrain_feed(struct constrain *c, const char *text, size_t len, bool *complete)
{
    if (!c->active)
        return status_detail_set(STATUS_INVALID, _("constraint: no call is active"));
    for (size_t i = 0; i < len; i++) {
        struct cstate s = c->st;
        if (!step(c, &s, (uint8_t)text[i], true))
            return status_detail_set(STATUS_INVALID,
                                     _("constraint: byte %zu does not continue the call"), i);
        c->st = s;
    }
    if (complete)
        *complete = c->st.pos == P_DONE;
    return STATUS_OK;
}

/* Depth-first walk of the token trie under node, with the grammar in state s. */
static void mask_walk(struct constrain *c, uint32_t node, const struct cstate *s)
{
    for (uint32_t ch = c->tn[node].first; ch; ch = c->tn[ch].next) {
        struct cstate t = *s;
        if (!step(c, &t, c->tn[ch].byte, false))
            continue;
        for (int32_t id = c->tn_head[ch]; id >= 0; id = c->tok_next[id])
            c->allowed[c->n_allowed++] = id;
        if (c->tn[ch].first && t.pos != P_DONE)
            mask_walk(c, ch, &t);
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

enum status constrain_allowed(struct constrain *c, const int32_t **ids, size_t *n)
{
    if (!c->active || c->st.pos == P_DONE)
        return status_detail_set(STATUS_INVALID, _("constraint: no call is being written"));
    c->n_allowed = 0;
    mask_walk(c, 0, &c->st);
    for (size_t i = 0; i < c->n_udt; i++) {
        struct cstate t = c->st;
        int32_t id = c->udt[i];
        if (step_text(c, &t, c->text + c->tok_off[id], c->tok_len[id], true))
            c->allowed[c->n_allowed++] = id;
    }
    if (c->n_allowed == 0)
        return status_detail_set(STATUS_NOT_FOUND, _("constraint: no token continues the call"));
    qsort(c->allowed, c->n_allowed, sizeof *c->allowed, cmp_i32);
    *ids = c->allowed;
    *n = c->n_allowed;
    return STATUS_OK;
}

enum status constrain_mask(struct constrain *c, struct samp *s)
{
    const int32_t *ids;
    size_t n;
    enum status st = constrain_allowed(c, &ids, &n);
    if (st != STATUS_OK)
        return st;
    samp_mask_allow(s, ids, n);
    return STATUS_OK;
}

enum status constrain_accept(struct constrain *c, int32_t token, bool *complete)
{
    if (!c->active || c->st.pos == P_DONE)
        return status_detail_set(STATUS_INVALID, _("constraint: no call is being written"));
    if (token < 0 || token >= c->n_vocab)
        return status_detail_set(STATUS_INVALID, _("constraint: token %ld out of range"),
                                 (long)token);
    struct cstate s = c->st;
    if (c->tok_len[token] == 0 ||
        !step_text(c, &s, c->text + c->tok_off[token], c->tok_len[token], c->tok_udt[token]))
        return status_detail_set(STATUS_INVALID,
                                 _("constraint: token %ld does not continue the call"),
                                 (long)token);
    c->st = s;
    if (complete)
        *complete = s.pos == P_DONE;
    return STATUS_OK;
}

bool constrain_active(const struct constrain *c)
{
    return c->active;
}

bool constrain_complete(const struct constrain *c)
{
    return c->active && c->st.pos == P_DONE;
}

enum constrain_kind constrain_kind_get(const struct constrain *c)
{
    if (!c->active || c->st.pos == P_HEAD)
        return CONSTRAIN_KIND_AUTO;
    return (enum constrain_kind)c->st.kind;
}

size_t constrain_entity_count(const struct constrain *c)
{
    if (!c->active)
        return 0;
    return c->st.kind == CONSTRAIN_KIND_WRITE ? n_names(&c->ew) : n_names(&c->er);
}

void constrain_end(struct constrain *c)
{
    if (c)
        c->active = false;
}

/* ---- the agent's hook ------------------------------------------------------------------ */

enum status constrain_set_source(struct constrain *c, const char *text, size_t len,
                                 const char *const *memory_names, size_t n_names_in)
{
    free_source(c);
    c->src = malloc(len + 1);
    if (!c->src)
        return STATUS_NOMEM;
    if (len)
        memcpy(c->src, text, len);
    c->src[len] = '\0';
    c->src_len = len;
    if (n_names_in) {
        c->src_names = calloc(n_names_in, sizeof *c->src_names);
        if (!c->src_names)
            goto fail;
        for (size_t i = 0; i < n_names_in; i++) {
            c->n_src_names = i + 1;
            if (memory_names[i] && !(c->src_names[i] = strdup(memory_names[i])))
                goto fail;
        }
    }
    return STATUS_OK;
fail:
    free_source(c);
    return STATUS_NOMEM;
}

void constrain_set_hook_kind(struct constrain *c, enum constrain_kind kind)
{
    c->hook_kind = kind;
}

/* A call the machine cannot follow (a read with no entity, text the grammar refuses) is
 * not an error of the run: the hook masks nothing and refuses the next token, so the
 * agent drops the call as a failed read. */
static enum status hook_begin(void *ctx, int kind, const char *context, size_t len)
{
    struct constrain *c = ctx;
    enum constrain_kind k = kind == CALL_KIND_READ    ? CONSTRAIN_KIND_READ
                            : kind == CALL_KIND_WRITE ? CONSTRAIN_KIND_WRITE
                                                      : c->hook_kind;
    c->hook_dead = false;
    enum status st = constrain_begin(c, k, c->src, c->src_len,
                                     (const char *const *)c->src_names, c->n_src_names);
    /* context is the call text so far, from its "({" */
    if (st == STATUS_OK && context && len >= 2 && context[0] == '(' && context[1] == '{') {
        context += 2;
        len -= 2;
    }
    if (st == STATUS_OK && context && len)
        st = constrain_feed(c, context, len, NULL);
    if (st == STATUS_NOT_FOUND || st == STATUS_INVALID) {
        c->hook_dead = true;
        st = STATUS_OK;
    }
    return st;
}

static enum status hook_source(void *ctx, const char *text, size_t len)
{
    struct constrain *c = ctx;
    char *src = malloc(len + 1);
    if (!src)
        return STATUS_NOMEM;
    if (len)
        memcpy(src, text, len);
    src[len] = '\0';
    free(c->src);
    c->src = src;
    c->src_len = len;
    return STATUS_OK;
}

static enum status hook_mask(void *ctx, struct samp *s)
{
    struct constrain *c = ctx;
    if (c->hook_dead)
        return STATUS_OK;
    enum status st = constrain_mask(c, s);
    if (st == STATUS_NOT_FOUND || st == STATUS_INVALID) {
        c->hook_dead = true;
        st = STATUS_OK;
    }
    return st;
}

static bool hook_accept(void *ctx, int32_t token)
{
    struct constrain *c = ctx;
    return !c->hook_dead && constrain_accept(c, token, NULL) == STATUS_OK;
}

static void hook_end(void *ctx)
{
    constrain_end(ctx);
}

void constrain_as_agent_constraint(struct constrain *c, struct agent_constraint *out)
{
    memset(out, 0, sizeof *out);
    out->source = hook_source;
    out->begin = hook_begin;
    out->mask = hook_mask;
    out->accept = hook_accept;
    out->end = hook_end;
    out->ctx = c;
}
