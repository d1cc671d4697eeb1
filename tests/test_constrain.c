/* test_constrain.c -- the call-grammar state machine and token allow-lists. */
#include "config.h"

#include "test_util.h"

#include "agent/agent.h"
#include "agent/constrain.h"
#include "engine/gguf.h"
#include "engine/samp.h"
#include "engine/tok.h"
#include "memory/relations.h"
#include "protocol/call.h"
#include "util/timing.h"

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static const char *const rels[] = {"place of birth", "capital", "country", "author"};

/* A hand-made vocabulary: ids are the indices. */
static const char *const hand_pieces[] = {
    "<unk>", "<s>", "</s>", "({", "})", "-->",                     /* 0-5 */
    SP "MEM", "MEM_READ(", "MEM_WRITE", "_READ(", "_WRITE",        /* 6-10 */
    ">>", ">", ";", ")", "}", "-", SP,                             /* 11-17 */
    "Bob", SP "Bob", SP "Smith", "Smith", "Paris", SP "Paris",     /* 18-23 */
    "Par", "is", "place", SP "of", SP "birth", "capital",          /* 24-29 */
    SP "was", "born", SP "born", "country", "P", "B", ")-->",      /* 30-36 */
    "->", "Paris>>", ",", ".",                                     /* 37-40 */
};
#define N_HAND (sizeof hand_pieces / sizeof hand_pieces[0])

static struct tok *hand_tok(bool with_chars)
{
    enum { N_CHARS = 95 };
    static const char *pieces[N_HAND + N_CHARS];
    static char chars[N_CHARS][2];
    static int32_t types[N_HAND + N_CHARS];
    size_t n = 0;
    for (size_t i = 0; i < N_HAND; i++) {
        pieces[n] = hand_pieces[i];
        types[n++] = i == 0 ? TOK_TYPE_UNKNOWN
                     : i < 3 ? TOK_TYPE_CONTROL
                     : i < 6 ? TOK_TYPE_USER_DEFINED
                             : TOK_TYPE_NORMAL;
    }
    if (with_chars) {
        for (int ch = 33; ch < 127; ch++) { /* every printable ASCII character but ' ' */
            chars[ch - 33][0] = (char)ch;
            chars[ch - 33][1] = '\0';
            pieces[n] = chars[ch - 33];
            types[n++] = TOK_TYPE_NORMAL;
        }
    }
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = pieces;
    d.types = types;
    d.unk_id = 0;
    d.bos_id = 1;
    d.eos_id = 2;
    struct tok *t = NULL;
    assert_int_equal(tok_new(&d, &t), STATUS_OK);
    return t;
}

static struct constrain *make_ex(const struct tok *t, size_t max_triples, bool byte_cover)
{
    struct constrain_params p;
    constrain_params_init(&p);
    p.relations = rels;
    p.n_relations = sizeof rels / sizeof rels[0];
    p.max_triples = max_triples;
    p.byte_cover = byte_cover;
    struct constrain *c = NULL;
    assert_int_equal(constrain_new(t, &p, &c), STATUS_OK);
    return c;
}

/* The hand vocabulary cannot spell most names letter by letter: no byte cover. */
static struct constrain *make(const struct tok *t, size_t max_triples)
{
    return make_ex(t, max_triples, false);
}

/* 1: complete call, 0: valid prefix only, -1: refused. */
static int run_text(struct constrain *c, enum constrain_kind kind, const char *ctx,
                    const char *const *names, size_t n_names, const char *text)
{
    assert_int_equal(constrain_begin(c, kind, ctx, strlen(ctx), names, n_names), STATUS_OK);
    bool complete = false;
    if (constrain_feed(c, text, strlen(text), &complete) != STATUS_OK)
        return -1;
    return complete ? 1 : 0;
}

struct gcase {
    enum constrain_kind kind;
    const char *text;
    int want;
};

static const char *const wctx = "Bob Smith was born in Paris.";

static void test_constrain_write_grammar_table(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    static const struct gcase cases[] = {
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->})", 1},
        {CONSTRAIN_KIND_AUTO, " MEM_WRITE-->})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE--> })", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE--> Bob Smith>>place of birth>>Paris})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth>>Paris})", 1},
        {CONSTRAIN_KIND_WRITE,
         "MEM_WRITE-->Bob Smith>>place of birth>>Paris;Paris>>country>>Bob Smith})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob Smith>>place of birth>>Paris", 0},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob Smith>>place of birth>>Par", 0},
        /* reversed, repeated, subject = object */
        {CONSTRAIN_KIND_WRITE,
         "MEM_WRITE-->Bob Smith>>place of birth>>Paris;Paris>>place of birth>>Bob Smith})", -1},
        {CONSTRAIN_KIND_WRITE,
         "MEM_WRITE-->Bob Smith>>place of birth>>Paris;Bob Smith>>place of birth>>Paris})", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Paris>>capital>>Paris})", -1},
        /* not whole words, not spans, stop words, unknown relation */
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bo>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->ob", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Paris.>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->was born>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->in Paris>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob Smith was>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>birthplace>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth >>", -1},
        /* syntax */
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth>>Paris;})", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth>>Paris;;", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->  Bob", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE -->", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>>place", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth>>>Paris", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->})x", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_READ(", -1},
        {CONSTRAIN_KIND_WRITE, "  MEM_WRITE", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Bob>>place of birth>>Paris)", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = run_text(c, cases[i].kind, wctx, NULL, 0, cases[i].text);
        if (got != cases[i].want)
            fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].text, got, cases[i].want);
    }
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_read_grammar_table(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    const char *q = "Where was Bob Smith born? Who wrote Queen (band) songs?";
    static const char *const names[] = {"Glenda Adams", "Apple Inc.", "bad>>name", "Odd (x"};
    static const struct gcase cases[] = {
        {CONSTRAIN_KIND_READ, "MEM_READ(Bob Smith>>place of birth>>)-->", 1},
        {CONSTRAIN_KIND_AUTO, " MEM_READ(Bob Smith>>place of birth>>)-->", 1},
        {CONSTRAIN_KIND_READ, "MEM_READ(>>author>>Glenda Adams)-->", 1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Apple Inc.>>country>>)-->", 1},
        {CONSTRAIN_KIND_READ, "MEM_READ(>>author>>Queen (band))-->", 1},
        {CONSTRAIN_KIND_READ, "MEM_READ(>>author>>Queen)-->", 1},
        {CONSTRAIN_KIND_READ,
         "MEM_READ(Bob Smith>>place of birth>>;>>author>>Bob Smith;Bob>>country>>)-->", 1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Bob Smith>>place of birth>>)", 0},
        {CONSTRAIN_KIND_READ,
         "MEM_READ(Bob>>country>>;Bob>>capital>>;Bob>>author>>;Bob>>place of birth>>)-->", -1},
        {CONSTRAIN_KIND_READ,
         "MEM_READ(Bob Smith>>place of birth>>;Bob Smith>>place of birth>>)", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(>>author>>Glenda Adams;>>author>>Glenda Adams)", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Bob Smith>>place of birth>>Paris)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(>>place of birth>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Glenda>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Queen (band>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(band)>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(bad>>name>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Odd (x>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Where>>author>>)-->", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Bob Smith>>place of birth>>)-->x", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(Bob Smith>>place of birth>>)--> ", -1},
        {CONSTRAIN_KIND_READ, "MEM_READ(;", -1},
        {CONSTRAIN_KIND_READ, "MEM_WRITE", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = run_text(c, cases[i].kind, q, names, 4, cases[i].text);
        if (got != cases[i].want)
            fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].text, got, cases[i].want);
    }
    /* memory names are read entities only */
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, q, names, 4,
                              "MEM_WRITE-->Glenda"), -1);
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_spans_are_whole_words(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    /* by hand: Bob, Bob Smith, Bob Smith was born, Bob Smith was born in Paris, Smith,
     * Smith was born, Smith was born in Paris, born, born in Paris, Paris */
    assert_int_equal(constrain_begin(c, CONSTRAIN_KIND_WRITE, wctx, strlen(wctx), NULL, 0),
                     STATUS_OK);
    assert_int_equal(constrain_entity_count(c), 10);
    const char *ctx2 = "Apple Inc. was founded by Steve Jobs's father in \"Cupertino\", 1976.";
    static const struct gcase cases[] = {
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Apple Inc.>>country>>Cupertino})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Apple Inc>>country>>1976})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Steve Jobs>>country>>Cupertino})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Steve Jobs's father>>country>>Cupertino})", 1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Cupertino\">>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->\"Cupertino>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->1976.>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Cupertino,>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->pple>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Jobs'>>", -1},
        {CONSTRAIN_KIND_WRITE, "MEM_WRITE-->Apple Inc. was founded by Steve Jobs's>>", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = run_text(c, cases[i].kind, ctx2, NULL, 0, cases[i].text);
        if (got != cases[i].want)
            fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].text, got, cases[i].want);
    }
    /* the span limit: 9 words are too many with the default 8 */
    const char *ctx3 = "Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa";
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx3, NULL, 0,
                              "MEM_WRITE-->Alpha Beta Gamma Delta Epsilon Zeta Eta Theta>>"), 0);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx3, NULL, 0,
                              "MEM_WRITE-->Alpha Beta Gamma Delta Epsilon Zeta Eta Theta "
                              "Iota>>"), -1);
    /* a sentence of pronouns alone gives no spans: only the empty write */
    const char *ctx4 = "It was he.";
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx4, NULL, 0, "MEM_WRITE-->It"), -1);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx4, NULL, 0, "MEM_WRITE-->})"), 1);
    /* a read with neither entity nor memory names cannot start */
    assert_int_equal(constrain_begin(c, CONSTRAIN_KIND_READ, ctx4, strlen(ctx4), NULL, 0),
                     STATUS_NOT_FOUND);
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_add_relations(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    const char *w = "MEM_WRITE-->Bob>>birthplace>>Paris})";
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0, w), -1);
    static const char *const extra[] = {"birthplace", "bad>>rel", NULL};
    assert_int_equal(constrain_add_relations(c, extra, 3), STATUS_OK);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0, w), 1);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0,
                              "MEM_WRITE-->Bob>>bad"), -1);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0,
                              "MEM_WRITE-->Bob>>country>>Paris})"), 1);
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_byte_cover_drops_unspellable_names(void **state)
{
    (void)state;
    struct tok *t = hand_tok(true); /* single-character tokens for ASCII only */
    const char *ctx = "Bob opened the Caf\xc3\xa9 Luna in Paris.";
    struct constrain *c = make_ex(t, 6, true);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx, NULL, 0, "MEM_WRITE-->Caf"), -1);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx, NULL, 0,
                              "MEM_WRITE-->Bob>>country>>Luna})"), 1);
    constrain_free(c);
    c = make_ex(t, 6, false);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, ctx, NULL, 0,
                              "MEM_WRITE-->Bob>>country>>Caf\xc3\xa9 Luna})"), 1);
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_triple_cap(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 2);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0,
                              "MEM_WRITE-->Bob>>country>>Paris;Smith>>country>>Paris})"), 1);
    assert_int_equal(run_text(c, CONSTRAIN_KIND_WRITE, wctx, NULL, 0,
                              "MEM_WRITE-->Bob>>country>>Paris;Smith>>country>>Paris;"), -1);
    constrain_free(c);
    tok_free(t);
}

/* Allowed ids after feeding text, compared with a hand-written list. */
static void expect_allowed(struct constrain *c, const int32_t *want, size_t n_want)
{
    const int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(constrain_allowed(c, &ids, &n), STATUS_OK);
    bool same = n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    if (!same) {
        char buf[1024];
        size_t k = 0;
        for (size_t i = 0; i < n && k < sizeof buf - 16; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%d ", (int)ids[i]);
        buf[k] = '\0';
        fail_msg("allowed: %s(%zu ids, want %zu)", buf, n, n_want);
    }
}

static void feed(struct constrain *c, const char *text)
{
    assert_int_equal(constrain_feed(c, text, strlen(text), NULL), STATUS_OK);
}

static void test_constrain_masks_hand_vocab(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    assert_int_equal(constrain_begin(c, CONSTRAIN_KIND_AUTO, wctx, strlen(wctx), NULL, 0),
                     STATUS_OK);
    expect_allowed(c, (const int32_t[]){6, 7, 8, 17}, 4);
    bool complete = true;
    assert_int_equal(constrain_accept(c, 6, &complete), STATUS_OK); /* " MEM" */
    assert_false(complete);
    expect_allowed(c, (const int32_t[]){9, 10}, 2);
    assert_int_equal(constrain_accept(c, 9 + 1, NULL), STATUS_OK); /* "_WRITE" */
    assert_int_equal(constrain_kind_get(c), CONSTRAIN_KIND_WRITE);
    /* "-->" is a user-defined token: "-" and "->" may not spell it */
    expect_allowed(c, (const int32_t[]){5}, 1);
    assert_int_equal(constrain_accept(c, 16, NULL), STATUS_INVALID);
    assert_int_equal(constrain_accept(c, 5, NULL), STATUS_OK);
    expect_allowed(c, (const int32_t[]){4, 17, 18, 19, 20, 21, 22, 23, 24, 31, 32, 34, 35, 38},
                   14);
    assert_int_equal(constrain_accept(c, 18, NULL), STATUS_OK); /* "Bob" */
    expect_allowed(c, (const int32_t[]){11, 12, 17, 20}, 4);
    assert_int_equal(constrain_accept(c, 20, NULL), STATUS_OK); /* " Smith" */
    assert_int_equal(constrain_accept(c, 11, NULL), STATUS_OK); /* ">>" */
    expect_allowed(c, (const int32_t[]){26, 29, 33}, 3);
    assert_int_equal(constrain_accept(c, 26, NULL), STATUS_OK); /* "place" */
    expect_allowed(c, (const int32_t[]){17, 27}, 2);
    feed(c, " of birth>>");
    /* the object may be anything but "Bob Smith" itself; "Paris>>" would end it wrongly */
    expect_allowed(c, (const int32_t[]){18, 21, 22, 24, 31, 34, 35}, 7);
    assert_int_equal(constrain_accept(c, 22, NULL), STATUS_OK); /* "Paris" */
    expect_allowed(c, (const int32_t[]){4, 13}, 2);
    assert_int_equal(constrain_accept(c, 15, NULL), STATUS_INVALID); /* "}" alone */
    assert_int_equal(constrain_accept(c, 13, NULL), STATUS_OK);
    expect_allowed(c, (const int32_t[]){18, 21, 22, 24, 31, 34, 35, 38}, 8);
    feed(c, "Paris>>place of birth>>Bob Smith");
    /* "Paris>>place of birth>>Bob Smith" would reverse the first triple */
    expect_allowed(c, (const int32_t[]){17, 30}, 2);
    feed(c, " was born;Paris>>country>>Bob");
    assert_int_equal(constrain_accept(c, 4, &complete), STATUS_OK);
    assert_true(complete);
    assert_true(constrain_complete(c));
    const int32_t *ids;
    size_t n;
    assert_int_equal(constrain_allowed(c, &ids, &n), STATUS_INVALID);
    constrain_end(c);
    assert_false(constrain_active(c));

    /* read */
    const char *q = "Where was Bob Smith born?";
    static const char *const names[] = {"Glenda Adams"};
    assert_int_equal(constrain_begin(c, CONSTRAIN_KIND_READ, q, strlen(q), names, 1), STATUS_OK);
    assert_int_equal(constrain_accept(c, 7, NULL), STATUS_OK); /* "MEM_READ(" */
    expect_allowed(c, (const int32_t[]){11, 12, 18, 21, 31, 35}, 6);
    feed(c, "Bob Smith>>place of birth>>");
    /* ")-->" spells the special token out: refused */
    expect_allowed(c, (const int32_t[]){13, 14}, 2);
    assert_int_equal(constrain_accept(c, 14, NULL), STATUS_OK);
    expect_allowed(c, (const int32_t[]){5}, 1);
    assert_int_equal(constrain_accept(c, 5, &complete), STATUS_OK);
    assert_true(complete);
    constrain_free(c);
    tok_free(t);
}

/* ---- random walks ------------------------------------------------------------------------ */

/* Walk from a fresh begin, always picking an allowed token; return the decoded call
 * (owned) with its "({". */
#define MAX_TIMES 16384

struct walk_stats {
    double mask_s, mask_max_s;
    double *times; /* each mask's seconds when not NULL (MAX_TIMES) */
    size_t n_masks, n_triples, n_queries, n_writes, n_reads;
};

static char *random_walk(struct constrain *c, const struct tok *t, enum constrain_kind kind,
                         const char *ctx, const char *const *names, size_t n_names,
                         uint64_t *rng, struct walk_stats *ws)
{
    assert_int_equal(constrain_begin(c, kind, ctx, strlen(ctx), names, n_names), STATUS_OK);
    int32_t ids[4096];
    size_t n_ids = 0;
    ids[n_ids++] = tok_find(t, "({", 2) >= 0 ? tok_find(t, "({", 2) : -1;
    if (ids[0] < 0)
        n_ids = 0;
    bool complete = false;
    while (!complete) {
        const int32_t *allowed;
        size_t n;
        uint64_t t0 = timing_now_ns();
        assert_int_equal(constrain_allowed(c, &allowed, &n), STATUS_OK);
        double dt = timing_since_s(t0);
        ws->mask_s += dt;
        ws->mask_max_s = dt > ws->mask_max_s ? dt : ws->mask_max_s;
        if (ws->times && ws->n_masks < MAX_TIMES)
            ws->times[ws->n_masks] = dt;
        ws->n_masks++;
        assert_true(n > 0);
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        int32_t pick = allowed[(*rng >> 33) % n];
        assert_int_equal(constrain_accept(c, pick, &complete), STATUS_OK);
        assert_true(n_ids < sizeof ids / sizeof ids[0]);
        ids[n_ids++] = pick;
    }
    char *text = NULL;
    assert_int_equal(tok_decode(t, ids, n_ids, 0, &text, NULL), STATUS_OK);
    if (n_ids && ids[0] >= 0 && tok_find(t, "({", 2) >= 0)
        return text;
    size_t len = strlen(text);
    char *full = malloc(len + 3);
    assert_non_null(full);
    memcpy(full, "({", 2);
    memcpy(full + 2, text, len + 1);
    free(text);
    return full;
}

static bool name_is_span(const char *ctx, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(ctx, name); p; p = strstr(p + 1, name)) {
        bool start_ok = p == ctx || p[-1] == ' ' || p[-1] == '"' || p[-1] == '(';
        char after = p[nl];
        bool end_ok = after == '\0' || after == ' ' || after == '.' || after == ',' ||
                      after == '"' || after == '\'' || after == ')' || after == '?';
        if (start_ok && end_ok)
            return true;
    }
    return false;
}

static bool is_rel(const char *r, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r, list[i]) == 0)
            return true;
    return false;
}

/* Every walk ends in a call that protocol/call parses with no errors, within the rules. */
static void check_walks(struct constrain *c, const struct tok *t, const char *const *rel_list,
                        size_t n_rel, size_t walks, size_t cap, struct walk_stats *ws)
{
    const char *wc = "Dancing on Coral is a novel by Glenda Adams, published in Sydney "
                     "(Australia) by Angus & Robertson in 1987.";
    const char *rq = "Who wrote Dancing on Coral and where was Glenda Adams born?";
    static const char *const names[] = {"Angus & Robertson", "Sydney", "Queen (band)"};
    uint64_t rng = 42;
    for (size_t w = 0; w < walks; w++) {
        enum constrain_kind kind = (enum constrain_kind)(w % 3);
        bool rd = kind == CONSTRAIN_KIND_READ;
        char *text = random_walk(c, t, kind, rd ? rq : wc, names, 3, &rng, ws);
        struct call *call = NULL;
        enum constrain_kind got = constrain_kind_get(c);
        if (got == CONSTRAIN_KIND_READ) {
            assert_int_equal(call_parse_read(text, strlen(text), &call), STATUS_OK);
            if (call->n_errors)
                fail_msg("walk %zu: \"%s\": %zu errors", w, text, call->n_errors);
            assert_true(call->n_queries >= 1 && call->n_queries <= 3);
            assert_false(call->has_results);
            ws->n_reads++;
            ws->n_queries += call->n_queries;
            for (size_t i = 0; i < call->n_queries; i++) {
                const struct call_query *q = &call->queries[i];
                assert_true(is_rel(q->rel, rel_list, n_rel));
                const char *given = q->want == CALL_WANT_OBJECT ? q->subj : q->obj;
                const char *src = kind == CONSTRAIN_KIND_READ ? rq : wc;
                bool in_mem = false;
                for (size_t k = 0; k < 3; k++)
                    in_mem |= strcmp(given, names[k]) == 0;
                if (!in_mem && !name_is_span(src, given))
                    fail_msg("walk %zu: \"%s\": entity \"%s\"", w, text, given);
                for (size_t k = 0; k < i; k++) {
                    const struct call_query *o = &call->queries[k];
                    const char *og = o->want == CALL_WANT_OBJECT ? o->subj : o->obj;
                    if (o->want == q->want && !strcmp(o->rel, q->rel) && !strcmp(og, given))
                        fail_msg("walk %zu: \"%s\": repeated query", w, text);
                }
            }
        } else {
            assert_int_equal(got, CONSTRAIN_KIND_WRITE);
            assert_int_equal(call_parse_write(text, strlen(text), &call), STATUS_OK);
            if (call->n_errors || !call->closed)
                fail_msg("walk %zu: \"%s\": %zu errors", w, text, call->n_errors);
            assert_true(call->n_triples <= cap);
            ws->n_writes++;
            ws->n_triples += call->n_triples;
            for (size_t i = 0; i < call->n_triples; i++) {
                const struct call_triple *x = &call->triples[i];
                if (!name_is_span(wc, x->subj) || !name_is_span(wc, x->obj) ||
                    !is_rel(x->rel, rel_list, n_rel) || !strcmp(x->subj, x->obj))
                    fail_msg("walk %zu: \"%s\": triple %zu", w, text, i);
                for (size_t k = 0; k < i; k++) {
                    const struct call_triple *y = &call->triples[k];
                    if (strcmp(x->rel, y->rel))
                        continue;
                    if ((!strcmp(x->subj, y->subj) && !strcmp(x->obj, y->obj)) ||
                        (!strcmp(x->subj, y->obj) && !strcmp(x->obj, y->subj)))
                        fail_msg("walk %zu: \"%s\": repeated/reversed triple", w, text);
                }
            }
        }
        call_free(call);
        free(text);
        constrain_end(c);
    }
}

static void test_constrain_random_walks_parse(void **state)
{
    (void)state;
    struct tok *t = hand_tok(true);
    struct constrain *c = make_ex(t, 6, true);
    struct walk_stats ws = {0};
    check_walks(c, t, rels, 4, 600, 6, &ws);
    /* the walks explore: both kinds, several triples and queries per call on average */
    assert_true(ws.n_reads > 100 && ws.n_writes > 300);
    assert_true(ws.n_triples > ws.n_writes && ws.n_queries > ws.n_reads);
    constrain_free(c);
    /* a small relation list lowers the cap so that walks cannot get stuck */
    struct constrain_params p;
    constrain_params_init(&p);
    p.relations = rels;
    p.n_relations = 1;
    p.max_triples = 16;
    p.byte_cover = true;
    assert_int_equal(constrain_new(t, &p, &c), STATUS_OK);
    memset(&ws, 0, sizeof ws);
    check_walks(c, t, rels, 1, 300, 1, &ws);
    assert_true(ws.n_triples > 0);
    constrain_free(c);
    tok_free(t);
}

static void test_constrain_agent_hook(void **state)
{
    (void)state;
    struct tok *t = hand_tok(false);
    struct constrain *c = make(t, 6);
    struct agent_constraint h;
    constrain_as_agent_constraint(c, &h);
    assert_int_equal(constrain_set_source(c, wctx, strlen(wctx), NULL, 0), STATUS_OK);
    const char *so_far = "({MEM_WRITE-->";
    assert_int_equal(h.begin(h.ctx, CALL_KIND_WRITE, so_far, strlen(so_far)), STATUS_OK);
    struct samp_params sp;
    samp_params_init(&sp);
    sp.temp = 0;
    struct samp *s = NULL;
    assert_int_equal(samp_new(&sp, (size_t)tok_n_vocab(t), &s), STATUS_OK);
    assert_int_equal(h.mask(h.ctx, s), STATUS_OK);
    /* logits favour a refused token; the mask must keep the sampler off it */
    float logits[N_HAND];
    for (size_t i = 0; i < N_HAND; i++)
        logits[i] = 0.0f;
    logits[30] = 10.0f; /* " was" */
    logits[22] = 5.0f;  /* "Paris" */
    int32_t pick = -1;
    assert_int_equal(samp_sample(s, logits, &pick, NULL), STATUS_OK);
    assert_int_equal(pick, 22);
    assert_true(h.accept(h.ctx, pick));
    assert_false(h.accept(h.ctx, 30));
    h.end(h.ctx);
    assert_false(constrain_active(c));
    /* the hook kind decides what an unknown call may become */
    constrain_set_hook_kind(c, CONSTRAIN_KIND_READ);
    assert_int_equal(h.begin(h.ctx, CALL_KIND_UNKNOWN, "({", 2), STATUS_OK);
    assert_false(h.accept(h.ctx, 8));                     /* "MEM_WRITE" */
    assert_true(h.accept(h.ctx, 7));                      /* "MEM_READ(" */
    h.end(h.ctx);
    /* a call the machine cannot follow: no error, but the next token is refused */
    assert_int_equal(h.begin(h.ctx, CALL_KIND_WRITE, "({MEM_READ(", 11), STATUS_OK);
    samp_mask_clear(s);
    assert_int_equal(h.mask(h.ctx, s), STATUS_OK);
    assert_int_equal(samp_sample(s, logits, &pick, NULL), STATUS_OK);
    assert_int_equal(pick, 30); /* unmasked */
    assert_false(h.accept(h.ctx, pick));
    h.end(h.ctx);
    assert_int_equal(h.source(h.ctx, "It was he.", 10), STATUS_OK);
    assert_int_equal(h.begin(h.ctx, CALL_KIND_UNKNOWN, "({", 2), STATUS_OK); /* no entity */
    assert_false(h.accept(h.ctx, 7));
    h.end(h.ctx);
    /* memory names set beside the source stay when the agent gives the next question */
    static const char *const names[] = {"Paris"};
    assert_int_equal(constrain_set_source(c, "", 0, names, 1), STATUS_OK);
    assert_int_equal(h.source(h.ctx, "Who is Bob?", 11), STATUS_OK);
    assert_int_equal(h.begin(h.ctx, CALL_KIND_UNKNOWN, "({", 2), STATUS_OK);
    assert_true(h.accept(h.ctx, 7));
    assert_true(h.accept(h.ctx, 22));  /* "Paris": a memory name */
    h.end(h.ctx);
    assert_int_equal(h.begin(h.ctx, CALL_KIND_UNKNOWN, "({MEM_READ(", 11), STATUS_OK);
    assert_true(h.accept(h.ctx, 18)); /* "Bob": from the question */
    h.end(h.ctx);
    samp_free(s);
    constrain_free(c);
    tok_free(t);
}

/* ---- the 32000-token golden vocabulary ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct rel_list {
    char **names;
    size_t n, cap;
};

static int rel_row(void *ctx, const struct relations_row *row)
{
    struct rel_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 128;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        assert_non_null(l->names);
    }
    l->names[l->n++] = strdup(row->name);
    return 0;
}

static void test_constrain_golden_vocab_walks_and_timing(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    if (!path) {
        skip();
        return;
    }
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    struct tok *t = NULL;
    assert_int_equal(tok_from_gguf(g, &t), STATUS_OK);
    gguf_close(g);
    free(path);

    const char *top = getenv("top_srcdir");
    char rpath[4096];
    snprintf(rpath, sizeof rpath, "%s/data/relations.tsv", top && top[0] ? top : "..");
    FILE *f = fopen(rpath, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct rel_list l = {0};
    assert_int_equal(relations_parse(buf, len, rpath, rel_row, &l), STATUS_OK);
    assert_true(l.n >= 90);

    struct constrain_params p;
    constrain_params_init(&p);
    p.relations = (const char *const *)l.names;
    p.n_relations = l.n;
    struct constrain *c = NULL;
    uint64_t t0 = timing_now_ns();
    assert_int_equal(constrain_new(t, &p, &c), STATUS_OK);
    double t_new = timing_since_s(t0);
    struct walk_stats ws = {0};
    ws.times = malloc(MAX_TIMES * sizeof *ws.times);
    assert_non_null(ws.times);
    check_walks(c, t, (const char *const *)l.names, l.n, 90, 6, &ws);
    size_t nt = ws.n_masks < MAX_TIMES ? ws.n_masks : MAX_TIMES;
    qsort(ws.times, nt, sizeof *ws.times, cmp_double);
    fprintf(stderr, "constrain: 32000-token vocabulary indexed in %.1f ms; %zu masks: "
            "mean %.1f us, median %.1f us, p99 %.1f us, max %.1f us (wall clock); "
            "%zu triples in %zu writes, %zu queries in %zu reads\n", t_new * 1e3, ws.n_masks,
            ws.mask_s / (double)ws.n_masks * 1e6, ws.times[nt / 2] * 1e6,
            ws.times[nt * 99 / 100] * 1e6, ws.mask_max_s * 1e6, ws.n_triples, ws.n_writes,
            ws.n_queries, ws.n_reads);
    free(ws.times);
    /* a step of the smallest golden model takes milliseconds; the mask must be far below */
    assert_true(ws.mask_s / (double)ws.n_masks < 1e-3);
    assert_true(ws.n_triples > ws.n_writes);
    constrain_free(c);
    for (size_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constrain_write_grammar_table),
        cmocka_unit_test(test_constrain_read_grammar_table),
        cmocka_unit_test(test_constrain_spans_are_whole_words),
        cmocka_unit_test(test_constrain_triple_cap),
        cmocka_unit_test(test_constrain_add_relations),
        cmocka_unit_test(test_constrain_byte_cover_drops_unspellable_names),
        cmocka_unit_test(test_constrain_masks_hand_vocab),
        cmocka_unit_test(test_constrain_random_walks_parse),
        cmocka_unit_test(test_constrain_agent_hook),
        cmocka_unit_test(test_constrain_golden_vocab_walks_and_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
