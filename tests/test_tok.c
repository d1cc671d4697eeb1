/* test_tok.c -- SentencePiece-BPE tokenizer: hand-built vocabularies, golden llama.cpp
 * cases, round trips, the streaming decoder and vocabulary validation. */
#include "config.h"

#include "engine/tok.h"
#include "test_util.h"

#include <math.h>

#include "engine/gguf.h"
#include "util/json.h"
#include "util/utf8.h"

#define SP "\xE2\x96\x81" /* U+2581 */

/* ---- Helpers ------------------------------------------------------------------------- */

struct piece {
    const char *text;
    float score;
    int32_t type;
};

/* A small vocabulary: <unk> <s> </s>, then (with bytes) <0x00>..<0xFF>, then extra.
 * Returns the tok; *first receives the id of extra[0]. */
static struct tok *build_vocab(const struct piece *extra, size_t n_extra, bool bytes,
                               int32_t *first)
{
    size_t n = 3 + (bytes ? 256 : 0) + n_extra;
    const char **toks = calloc(n, sizeof *toks);
    float *scores = calloc(n, sizeof *scores);
    int32_t *types = calloc(n, sizeof *types);
    char(*bytebuf)[7] = calloc(256, sizeof *bytebuf);
    assert_non_null(toks);
    assert_non_null(scores);
    assert_non_null(types);
    assert_non_null(bytebuf);
    size_t k = 0;
    toks[k] = "<unk>", types[k++] = TOK_TYPE_UNKNOWN;
    toks[k] = "<s>", types[k++] = TOK_TYPE_CONTROL;
    toks[k] = "</s>", types[k++] = TOK_TYPE_CONTROL;
    for (int b = 0; bytes && b < 256; b++) {
        snprintf(bytebuf[b], sizeof bytebuf[b], "<0x%02X>", (unsigned)b);
        toks[k] = bytebuf[b], types[k++] = TOK_TYPE_BYTE;
    }
    if (first)
        *first = (int32_t)k;
    for (size_t i = 0; i < n_extra; i++) {
        toks[k] = extra[i].text;
        scores[k] = extra[i].score;
        types[k++] = extra[i].type ? extra[i].type : TOK_TYPE_NORMAL;
    }
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = toks;
    d.scores = scores;
    d.types = types;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    d.add_bos = true;
    struct tok *t = NULL;
    enum status st = tok_new(&d, &t);
    if (st != STATUS_OK)
        fprintf(stderr, "tok_new: %s: %s\n", status_str(st), status_detail());
    assert_int_equal(st, STATUS_OK);
    free(toks);
    free(scores);
    free(types);
    free(bytebuf);
    return t;
}

/* Encode a C string; returns the count and fills ids (at most 256). */
static size_t enc(struct tok *t, const char *s, unsigned flags, int32_t *ids)
{
    size_t n = 0;
    enum status st = tok_encode(t, s, strlen(s), flags, ids, 256, &n);
    assert_int_equal(st, STATUS_OK);
    return n;
}

static int32_t id_of(const struct tok *t, const char *piece)
{
    int32_t id = tok_find(t, piece, strlen(piece));
    assert_true(id >= 0);
    return id;
}

static void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t n_want)
{
    if (n != n_want) {
        fprintf(stderr, "got %zu ids:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* The tokenizer of a shared golden model, or NULL (skipped loudly) without ../shared. */
static struct tok *golden_tok(const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s.gguf", model);
    char *path = test_shared_path(rel);
    if (!path)
        return NULL;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    struct tok *t = NULL;
    enum status st = tok_from_gguf(g, &t);
    if (st != STATUS_OK)
        fprintf(stderr, "tok_from_gguf: %s: %s\n", status_str(st), status_detail());
    assert_int_equal(st, STATUS_OK);
    gguf_close(g); /* the tok must not borrow from the file */
    free(path);
    return t;
}

/* ---- Hand-built vocabularies ----------------------------------------------------------- */

static void test_tok_merges_by_score_not_left_to_right(void **state)
{
    (void)state;
    const struct piece v[] = {
        {SP, -1, 0}, {"a", -2, 0}, {"b", -2, 0}, {"c", -2, 0},
        {"ab", -5, 0}, {"bc", -3, 0}, {"abc", -4, 0},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    int32_t ids[256];
    /* "bc" outscores "ab", then "a"+"bc" = "abc"; "▁abc" is not a piece */
    size_t n = enc(t, "abc", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "abc")};
    assert_ids(ids, n, want, 2);
    tok_free(t);

    /* without "abc" the result is a, bc: a left-to-right greedy merge would give ab, c */
    t = build_vocab(v, 6, true, NULL);
    n = enc(t, "abc", 0, ids);
    int32_t want2[] = {id_of(t, SP), id_of(t, "a"), id_of(t, "bc")};
    assert_ids(ids, n, want2, 3);
    tok_free(t);
}

static void test_tok_equal_scores_merge_leftmost_first(void **state)
{
    (void)state;
    const struct piece v[] = {
        {SP, -1, 0}, {"a", -2, 0}, {"b", -2, 0}, {"c", -2, 0}, {"ab", -3, 0}, {"bc", -3, 0},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    int32_t ids[256];
    size_t n = enc(t, "abc", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "ab"), id_of(t, "c")};
    assert_ids(ids, n, want, 3);
    /* four spaces: "▁▁" pairs merge from the left, "▁▁▁" is not a piece */
    const struct piece v2[] = {{SP, -1, 0}, {SP SP, -2, 0}};
    tok_free(t);
    t = build_vocab(v2, 2, true, NULL);
    n = enc(t, "   ", 0, ids);
    int32_t want2[] = {id_of(t, SP SP), id_of(t, SP SP)};
    assert_ids(ids, n, want2, 2);
    n = enc(t, "  ", 0, ids);
    int32_t want3[] = {id_of(t, SP SP), id_of(t, SP)};
    assert_ids(ids, n, want3, 2);
    tok_free(t);
}

static void test_tok_byte_fallback_for_missing_chars(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}};
    struct tok *t = build_vocab(v, 2, true, NULL);
    int32_t ids[256];
    /* é = C3 A9 is not a piece: its two bytes go out as byte tokens (byte b = id b + 3) */
    size_t n = enc(t, "a\xC3\xA9", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "a"), 3 + 0xC3, 3 + 0xA9};
    assert_ids(ids, n, want, 4);
    assert_int_equal(tok_byte_value(t, 3 + 0xC3), 0xC3);
    assert_int_equal(tok_byte_value(t, id_of(t, "a")), -1);
    tok_free(t);
}

static void test_tok_invalid_utf8_becomes_byte_tokens(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}, {"b", -2, 0}, {"ab", -1, 0}};
    struct tok *t = build_vocab(v, 4, true, NULL);
    int32_t ids[256];
    /* a lone lead byte E4 stands alone and never merges, even with valid neighbours */
    size_t n = enc(t, "a\xE4" "b\xFF", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "a"), 3 + 0xE4, id_of(t, "b"), 3 + 0xFF};
    assert_ids(ids, n, want, 5);
    /* the decoder turns the stray bytes into U+FFFD */
    char *s;
    assert_int_equal(tok_decode(t, ids, n, TOK_STREAM_STRIP_START, &s, NULL), STATUS_OK);
    assert_string_equal(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
    free(s);
    tok_free(t);
}

static void test_tok_without_byte_tokens_uses_unk_per_char(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}};
    struct tok *t = build_vocab(v, 2, false, NULL);
    int32_t ids[256];
    size_t n = enc(t, "a\xC3\xA9" "a", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "a"), 0, id_of(t, "a")};
    assert_ids(ids, n, want, 4);
    tok_free(t);
}

/* tok_token_text: the text a token stands for in generated text. */
static void test_tok_token_text(void **state)
{
    (void)state;
    const struct piece v[] = {
        {SP "Paris", -1, 0}, {"({", 0, TOK_TYPE_USER_DEFINED}, {"a" SP "b", -1, 0},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    char buf[16];
    size_t n = tok_token_text(t, id_of(t, SP "Paris"), buf, sizeof buf);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " Paris", 6);
    n = tok_token_text(t, id_of(t, "a" SP "b"), buf, sizeof buf);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "a b", 3);
    n = tok_token_text(t, id_of(t, "({"), buf, sizeof buf);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "({", 2);
    n = tok_token_text(t, id_of(t, "<0x41>"), buf, sizeof buf);
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], 'A');
    assert_int_equal(tok_token_text(t, 1, buf, sizeof buf), 0);   /* <s> */
    assert_int_equal(tok_token_text(t, 0, buf, sizeof buf), 0);   /* <unk> */
    assert_int_equal(tok_token_text(t, 9999, buf, sizeof buf), 0); /* out of range */
    assert_int_equal(tok_token_text(t, id_of(t, SP "Paris"), buf, 3), 3); /* capped */
    assert_memory_equal(buf, " Pa", 3);
    tok_free(t);
}

static void test_tok_user_defined_tokens_matched_whole(void **state)
{
    (void)state;
    const struct piece v[] = {
        {SP, -1, 0}, {"x", -2, 0}, {"y", -2, 0}, {"z", -2, 0}, {"-", -2, 0}, {">", -2, 0},
        {"(", -2, 0}, {"{", -2, 0}, {"}", -2, 0}, {")", -2, 0}, {"--", -1, 0},
        {"({", 0, TOK_TYPE_USER_DEFINED}, {"})", 0, TOK_TYPE_USER_DEFINED},
        {"-->", 0, TOK_TYPE_USER_DEFINED}, {"->", 0, TOK_TYPE_USER_DEFINED},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    int32_t ids[256];
    /* the text after a whole token gets the space prefix again, as in llama.cpp */
    size_t n = enc(t, "x({y})-->z", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "x"), id_of(t, "({"), id_of(t, SP),
                      id_of(t, "y"), id_of(t, "})"), id_of(t, "-->"), id_of(t, SP),
                      id_of(t, "z")};
    assert_ids(ids, n, want, 9);
    /* longest first: "-->" wins over "->" */
    n = enc(t, "-->", 0, ids);
    int32_t want2[] = {id_of(t, "-->")};
    assert_ids(ids, n, want2, 1);
    n = enc(t, "->", 0, ids);
    int32_t want3[] = {id_of(t, "->")};
    assert_ids(ids, n, want3, 1);
    /* "---->": the "-->" at the end is taken whole; "--" before it is text */
    n = enc(t, "---->", 0, ids);
    int32_t want4[] = {id_of(t, SP), id_of(t, "--"), id_of(t, "-->")};
    assert_ids(ids, n, want4, 3);
    tok_free(t);
}

static void test_tok_longer_special_tokens_are_cut_first(void **state)
{
    (void)state;
    /* llama.cpp cuts out the longest special token everywhere before shorter ones, so in
     * "xabcd" the 4-byte "abcd" wins although the 3-byte "xab" starts earlier */
    const struct piece v[] = {
        {SP, -1, 0}, {"x", -2, 0}, {"abcd", 0, TOK_TYPE_USER_DEFINED},
        {"xab", 0, TOK_TYPE_USER_DEFINED},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    int32_t ids[256];
    size_t n = enc(t, "xabcd", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "x"), id_of(t, "abcd")};
    assert_ids(ids, n, want, 3);
    tok_free(t);
}

static void test_tok_control_tokens_parsed_only_on_request(void **state)
{
    (void)state;
    const struct piece v[] = {
        {SP, -1, 0}, {"<", -2, 0}, {"s", -2, 0}, {">", -2, 0}, {"a", -2, 0},
    };
    struct tok *t = build_vocab(v, sizeof v / sizeof *v, true, NULL);
    int32_t ids[256];
    size_t n = enc(t, "<s>a", 0, ids);
    int32_t want[] = {id_of(t, SP), id_of(t, "<"), id_of(t, "s"), id_of(t, ">"),
                      id_of(t, "a")};
    assert_ids(ids, n, want, 5);
    n = enc(t, "<s>a", TOK_ENCODE_PARSE_SPECIAL, ids);
    int32_t want2[] = {1, id_of(t, SP), id_of(t, "a")};
    assert_ids(ids, n, want2, 3);
    n = enc(t, "a</s>", TOK_ENCODE_PARSE_SPECIAL, ids);
    int32_t want3[] = {id_of(t, SP), id_of(t, "a"), 2};
    assert_ids(ids, n, want3, 3);
    assert_true(tok_is_control(t, 1));
    assert_false(tok_is_control(t, id_of(t, "a")));
    assert_false(tok_is_control(t, -1));
    assert_false(tok_is_control(t, 100000));
    tok_free(t);
}

static void test_tok_empty_text_and_special_flags(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}};
    struct tok *t = build_vocab(v, 2, true, NULL);
    int32_t ids[256];
    assert_int_equal(enc(t, "", 0, ids), 0);
    size_t n = enc(t, "", TOK_ENCODE_ADD_SPECIAL, ids);
    int32_t want[] = {1};
    assert_ids(ids, n, want, 1);
    n = enc(t, "a", TOK_ENCODE_BOS, ids);
    int32_t want2[] = {1, id_of(t, SP), id_of(t, "a")};
    assert_ids(ids, n, want2, 3);
    n = enc(t, " ", 0, ids);
    int32_t want3[] = {id_of(t, SP), id_of(t, SP)};
    assert_ids(ids, n, want3, 2);
    tok_free(t);
}

static void test_tok_output_overflow_reports_needed_count(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}};
    struct tok *t = build_vocab(v, 2, true, NULL);
    int32_t ids[2] = {-7, -7};
    size_t n = 0;
    assert_int_equal(tok_encode(t, "aaa", 3, 0, ids, 1, &n), STATUS_OVERFLOW);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], id_of(t, SP));
    assert_int_equal(ids[1], -7); /* nothing written past cap */
    assert_true(tok_encode_bound(3) >= 4);
    tok_free(t);
}

static void test_tok_separate_work_buffer_gives_same_ids(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}, {"b", -2, 0}, {"ab", -1, 0}};
    struct tok *t = build_vocab(v, 4, true, NULL);
    struct tok_work *w = NULL;
    assert_int_equal(tok_work_new(&w), STATUS_OK);
    int32_t a[64], b[64];
    size_t na, nb;
    const char *s = "ab ba abab b\xC3\xA9";
    assert_int_equal(tok_encode(t, s, strlen(s), 0, a, 64, &na), STATUS_OK);
    assert_int_equal(tok_encode_work(t, w, s, strlen(s), 0, b, 64, &nb), STATUS_OK);
    assert_ids(b, nb, a, na);
    tok_work_free(w);
    tok_free(t);
}

static void test_tok_accessors(void **state)
{
    (void)state;
    const struct piece v[] = {{SP "hi", -1.5f, 0}, {"u", 0, TOK_TYPE_UNUSED}};
    int32_t first;
    struct tok *t = build_vocab(v, 2, true, &first);
    assert_int_equal(tok_n_vocab(t), 3 + 256 + 2);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    assert_int_equal(tok_unk(t), 0);
    assert_true(tok_add_bos(t));
    assert_false(tok_add_eos(t));
    assert_true(tok_add_space_prefix(t));
    size_t len;
    assert_string_equal(tok_piece(t, first, &len), SP "hi");
    assert_int_equal(len, 5);
    assert_null(tok_piece(t, -1, &len));
    assert_null(tok_piece(t, tok_n_vocab(t), &len));
    assert_int_equal(tok_find(t, SP "hi", 5), first);
    assert_int_equal(tok_find(t, SP "h", 4), -1);
    assert_int_equal(tok_find(t, "<0x41>", 6), 3 + 0x41);
    assert_true(tok_score(t, first) == -1.5f);
    assert_int_equal(tok_token_type(t, first + 1), TOK_TYPE_UNUSED);
    assert_int_equal(tok_token_type(t, 0), TOK_TYPE_UNKNOWN);
    assert_int_equal(tok_token_type(t, 5), TOK_TYPE_BYTE);
    assert_int_equal(tok_token_type(t, -3), 0);
    assert_int_equal(tok_max_piece_len(t), 6);
    tok_free(t);
    tok_free(NULL);
}

static void test_tok_duplicate_pieces_encode_as_last_id(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {"a", -2, 0}, {"a", -2, 0}};
    int32_t first;
    struct tok *t = build_vocab(v, 3, true, &first);
    assert_int_equal(tok_find(t, "a", 1), first + 2);
    tok_free(t);
}

/* ---- Streaming decoder -------------------------------------------------------------- */

static void test_tok_stream_reassembles_bytes_and_holds_back(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {SP "Hello", -1, 0}, {"a", -1, 0}};
    struct tok *t = build_vocab(v, 3, true, NULL);
    struct tok_stream s;
    tok_stream_init(&s, t, 0);
    char buf[256];
    size_t n;
    /* U+1F999 = F0 9F A6 99 arrives in four byte tokens: nothing until the last */
    const unsigned char llama[] = {0xF0, 0x9F, 0xA6, 0x99};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tok_stream_put(&s, 3 + llama[i], buf, sizeof buf, &n), STATUS_OK);
        assert_int_equal(n, i < 3 ? 0 : 4);
    }
    assert_memory_equal(buf, llama, 4);
    /* an unfinished character at the end becomes one U+FFFD */
    assert_int_equal(tok_stream_put(&s, 3 + 0xE4, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_put(&s, 3 + 0xB8, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_flush(&s, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "\xEF\xBF\xBD", 3);
    /* a broken sequence followed by text: U+FFFD, then the text */
    assert_int_equal(tok_stream_put(&s, 3 + 0xF0, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(tok_stream_put(&s, id_of(t, "a"), buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "\xEF\xBF\xBD" "a", 4);
    /* a surrogate (ED A0) can never complete: U+FFFD at once for ED, then for A0 */
    assert_int_equal(tok_stream_put(&s, 3 + 0xED, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_put(&s, 3 + 0xA0, buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 6);
    /* out of range ids are refused */
    assert_int_equal(tok_stream_put(&s, -1, buf, sizeof buf, &n), STATUS_INVALID);
    assert_int_equal(tok_stream_put(&s, tok_n_vocab(t), buf, sizeof buf, &n), STATUS_INVALID);
    /* a too small buffer is refused without consuming the token */
    assert_int_equal(tok_stream_put(&s, id_of(t, SP "Hello"), buf, 2, &n), STATUS_OVERFLOW);
    assert_int_equal(tok_stream_put(&s, id_of(t, SP "Hello"), buf, sizeof buf, &n), STATUS_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " Hello", 6);
    tok_free(t);
}

static void test_tok_stream_strips_space_after_bos(void **state)
{
    (void)state;
    const struct piece v[] = {{SP, -1, 0}, {SP "Hello", -1, 0}, {SP "world", -1, 0}};
    struct tok *t = build_vocab(v, 3, true, NULL);
    int32_t hello = id_of(t, SP "Hello"), world = id_of(t, SP "world");
    int32_t ids[] = {1, hello, world, 2};
    char *s;
    assert_int_equal(tok_decode(t, ids, 4, 0, &s, NULL), STATUS_OK);
    assert_string_equal(s, "Hello world"); /* BOS and EOS write nothing */
    free(s);
    assert_int_equal(tok_decode(t, ids + 1, 2, 0, &s, NULL), STATUS_OK);
    assert_string_equal(s, " Hello world"); /* a continuation keeps its space */
    free(s);
    assert_int_equal(tok_decode(t, ids + 1, 2, TOK_STREAM_STRIP_START, &s, NULL), STATUS_OK);
    assert_string_equal(s, "Hello world");
    free(s);
    size_t len;
    assert_int_equal(tok_decode(t, ids, 4, TOK_STREAM_SPECIAL, &s, &len), STATUS_OK);
    assert_string_equal(s, "<s>Hello world</s>");
    assert_int_equal(len, 18);
    free(s);
    tok_free(t);
}

/* ---- Bad vocabularies ----------------------------------------------------------------- */

static enum status try_vocab(const char **toks, size_t n, const int32_t *types, int32_t unk,
                             int32_t bos)
{
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = toks;
    d.types = types;
    d.unk_id = unk;
    d.bos_id = bos;
    struct tok *t = (struct tok *)&d; /* must stay untouched on failure */
    enum status st = tok_new(&d, &t);
    if (st == STATUS_OK)
        tok_free(t);
    else
        assert_ptr_equal(t, (struct tok *)&d);
    return st;
}

static void test_tok_rejects_bad_vocabularies(void **state)
{
    (void)state;
    const char *ok[] = {"<unk>", "a", SP};
    int32_t types[] = {TOK_TYPE_UNKNOWN, TOK_TYPE_NORMAL, TOK_TYPE_NORMAL};
    assert_int_equal(try_vocab(ok, 3, types, 0, -1), STATUS_OK);
    assert_int_equal(try_vocab(ok, 0, types, -1, -1), STATUS_FORMAT);
    assert_int_equal(try_vocab(NULL, 3, types, 0, -1), STATUS_INVALID);
    /* ids out of range */
    assert_int_equal(try_vocab(ok, 3, types, 3, -1), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "3"));
    assert_int_equal(try_vocab(ok, 3, types, 0, 7), STATUS_FORMAT);
    assert_int_equal(try_vocab(ok, 3, types, -2, -1), STATUS_FORMAT);
    /* no byte tokens and no unknown token: characters outside the vocab are unencodable */
    assert_int_equal(try_vocab(ok, 3, types, -1, -1), STATUS_FORMAT);
    /* unknown type */
    int32_t bad_types[] = {TOK_TYPE_UNKNOWN, 9, TOK_TYPE_NORMAL};
    assert_int_equal(try_vocab(ok, 3, bad_types, 0, -1), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "token 1"));
    int32_t zero_types[] = {TOK_TYPE_UNKNOWN, 0, TOK_TYPE_NORMAL};
    assert_int_equal(try_vocab(ok, 3, zero_types, 0, -1), STATUS_FORMAT);
    /* invalid UTF-8 piece */
    const char *bad_utf8[] = {"<unk>", "a\xC3", SP};
    assert_int_equal(try_vocab(bad_utf8, 3, types, 0, -1), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "token 1"));
    /* NULL piece */
    const char *null_piece[] = {"<unk>", NULL, SP};
    assert_int_equal(try_vocab(null_piece, 3, types, 0, -1), STATUS_FORMAT);
    /* byte token of the wrong form */
    const char *bad_byte[] = {"<unk>", "<0xZZ>", SP};
    int32_t byte_types[] = {TOK_TYPE_UNKNOWN, TOK_TYPE_BYTE, TOK_TYPE_NORMAL};
    assert_int_equal(try_vocab(bad_byte, 3, byte_types, 0, -1), STATUS_FORMAT);
    /* some byte tokens but not all 256 */
    const char *some_bytes[] = {"<unk>", "<0x41>", SP};
    assert_int_equal(try_vocab(some_bytes, 3, byte_types, 0, -1), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "0x00"));
    /* a piece too long */
    char *big = malloc(TOK_MAX_PIECE + 2);
    assert_non_null(big);
    memset(big, 'a', TOK_MAX_PIECE + 1);
    big[TOK_MAX_PIECE + 1] = '\0';
    const char *too_long[] = {"<unk>", big, SP};
    assert_int_equal(try_vocab(too_long, 3, types, 0, -1), STATUS_FORMAT);
    free(big);
    /* NaN score */
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    float scores[] = {0, NAN, 0};
    d.n_tokens = 3;
    d.tokens = ok;
    d.types = types;
    d.scores = scores;
    d.unk_id = 0;
    struct tok *t = NULL;
    assert_int_equal(tok_new(&d, &t), STATUS_FORMAT);
    assert_null(t);
}

static void test_tok_rejects_duplicate_byte_values(void **state)
{
    (void)state;
    const char *toks[257];
    int32_t types[257];
    char buf[257][7];
    for (int b = 0; b < 256; b++) {
        snprintf(buf[b], sizeof buf[b], "<0x%02X>", (unsigned)b);
        toks[b] = buf[b];
        types[b] = TOK_TYPE_BYTE;
    }
    toks[256] = "<0x0a>"; /* the same byte as <0x0A>, lower case */
    types[256] = TOK_TYPE_BYTE;
    assert_int_equal(try_vocab(toks, 257, types, -1, -1), STATUS_FORMAT);
    assert_int_equal(try_vocab(toks, 256, types, -1, -1), STATUS_OK);
}

/* ---- GGUF metadata ------------------------------------------------------------------- */

/* A GGUF image with a 4-token vocabulary plus whatever edit() changes. */
static enum status gguf_vocab(void (*edit)(struct gguf_writer *), struct tok **out)
{
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    const char *toks[] = {"<unk>", "<s>", "</s>", SP "a"};
    float scores[] = {0, 0, 0, -1};
    int32_t types[] = {2, 3, 3, 1};
    assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32,
                                         scores, 4), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32,
                                         types, 4), STATUS_OK);
    if (edit)
        edit(w);
    void *buf = NULL;
    size_t size = 0;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size), STATUS_OK);
    gguf_writer_free(w);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    enum status st = tok_from_gguf(g, out);
    gguf_close(g);
    free(buf);
    return st;
}

static void edit_model(struct gguf_writer *w)
{
    assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), STATUS_OK);
}
static void edit_no_model(struct gguf_writer *w)
{
    gguf_writer_remove(w, "tokenizer.ggml.model");
}
static void edit_no_tokens(struct gguf_writer *w)
{
    gguf_writer_remove(w, "tokenizer.ggml.tokens");
}
static void edit_short_scores(struct gguf_writer *w)
{
    float s[] = {0, 0, 0};
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32, s, 3),
                     STATUS_OK);
}
static void edit_long_types(struct gguf_writer *w)
{
    int32_t ty[] = {1, 1, 1, 1, 1};
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, ty,
                                         5), STATUS_OK);
}
static void edit_bad_type(struct gguf_writer *w)
{
    int32_t ty[] = {2, 3, 3, 7};
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, ty,
                                         4), STATUS_OK);
}
static void edit_bad_bos(struct gguf_writer *w)
{
    assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 4), STATUS_OK);
}
static void edit_int_tokens(struct gguf_writer *w)
{
    int32_t v[] = {1, 2, 3, 4};
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.tokens", GGUF_VTYPE_INT32, v, 4),
                     STATUS_OK);
}
static void edit_flags(struct gguf_writer *w)
{
    assert_int_equal(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false), STATUS_OK);
    assert_int_equal(gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true), STATUS_OK);
    assert_int_equal(gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false),
                     STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1), STATUS_OK);
}
static void edit_flag_type(struct gguf_writer *w)
{
    assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.add_bos_token", "yes"), STATUS_OK);
}

static void test_tok_from_gguf_reads_and_validates_metadata(void **state)
{
    (void)state;
    struct tok *t = NULL;
    assert_int_equal(gguf_vocab(NULL, &t), STATUS_OK);
    assert_int_equal(tok_n_vocab(t), 4);
    assert_int_equal(tok_bos(t), 1); /* llama.cpp's defaults */
    assert_int_equal(tok_eos(t), 2);
    assert_int_equal(tok_unk(t), 0);
    assert_true(tok_add_bos(t));
    assert_false(tok_add_eos(t));
    assert_true(tok_add_space_prefix(t));
    assert_true(tok_score(t, 3) == -1.0f);
    assert_true(tok_is_control(t, 2));
    tok_free(t);

    t = NULL;
    assert_int_equal(gguf_vocab(edit_flags, &t), STATUS_OK);
    assert_false(tok_add_bos(t));
    assert_true(tok_add_eos(t));
    assert_false(tok_add_space_prefix(t));
    assert_int_equal(tok_eos(t), 1);
    int32_t ids[8];
    size_t n;
    /* no space prefix: " a" is just "▁a"; then EOS (id 1 here) */
    assert_int_equal(tok_encode(t, " a", 2, TOK_ENCODE_ADD_SPECIAL, ids, 8, &n), STATUS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 1);
    tok_free(t);

    t = NULL;
    assert_int_equal(gguf_vocab(edit_model, &t), STATUS_UNSUPPORTED);
    assert_non_null(strstr(status_detail(), "gpt2"));
    assert_int_equal(gguf_vocab(edit_no_model, &t), STATUS_NOT_FOUND);
    assert_int_equal(gguf_vocab(edit_no_tokens, &t), STATUS_NOT_FOUND);
    assert_int_equal(gguf_vocab(edit_short_scores, &t), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "tokenizer.ggml.scores"));
    assert_int_equal(gguf_vocab(edit_long_types, &t), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "tokenizer.ggml.token_type"));
    assert_int_equal(gguf_vocab(edit_bad_type, &t), STATUS_FORMAT);
    assert_int_equal(gguf_vocab(edit_bad_bos, &t), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "bos_token_id"));
    assert_int_equal(gguf_vocab(edit_int_tokens, &t), STATUS_FORMAT);
    assert_int_equal(gguf_vocab(edit_flag_type, &t), STATUS_FORMAT);
    assert_null(t);
}

/* ---- Golden: llama.cpp on the 32000-token vocabulary ----------------------------------- */

static void test_tok_golden_cases_match_llama_cpp(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tokenizer-cases.json");
    if (!path)
        return;
    struct tok *t = golden_tok("tiny-mistral-a-f32");
    assert_non_null(t);
    assert_int_equal(tok_n_vocab(t), 32000);
    size_t len;
    char *text = read_all(path, &len);
    struct json_doc *doc = NULL;
    assert_int_equal(json_parse(text, len, &doc), STATUS_OK);
    const struct json_value *root = json_doc_root(doc);
    assert_int_equal(json_len(root), 22);
    int32_t ids[512];
    for (size_t c = 0; c < json_len(root); c++) {
        const struct json_value *cs = json_at(root, c);
        size_t tlen;
        const char *in = json_str(json_get(cs, "text"), &tlen);
        const struct json_value *want = json_get(cs, "ids");
        const struct json_value *pieces = json_get(cs, "pieces");
        assert_non_null(in);
        assert_int_equal(json_len(want), json_len(pieces));
        size_t n = 0;
        assert_int_equal(tok_encode(t, in, tlen, 0, ids, 512, &n), STATUS_OK);
        if (n != json_len(want))
            fprintf(stderr, "case %zu (%s): %zu ids, want %zu\n", c, in, n, json_len(want));
        assert_int_equal(n, json_len(want));
        for (size_t i = 0; i < n; i++) {
            int64_t w;
            assert_true(json_int(json_at(want, i), &w));
            if (ids[i] != w)
                fprintf(stderr, "case %zu (%s): id %zu is %d, want %lld\n", c, in, i, ids[i],
                        (long long)w);
            assert_int_equal(ids[i], w);
            size_t plen, wlen;
            const char *p = tok_piece(t, ids[i], &plen);
            const char *wp = json_str(json_at(pieces, i), &wlen);
            assert_int_equal(plen, wlen);
            assert_memory_equal(p, wp, plen);
        }
        /* and back: decoding gives the text again */
        char *back;
        size_t blen;
        assert_int_equal(tok_decode(t, ids, n, TOK_STREAM_STRIP_START, &back, &blen),
                         STATUS_OK);
        assert_int_equal(blen, tlen);
        assert_memory_equal(back, in, tlen);
        free(back);
    }
    json_doc_free(doc);
    free(text);
    free(path);
    tok_free(t);
}

static void check_prompt(const char *model, const char *prompt_file, const char *ids_file)
{
    char *ppath = test_shared_path(prompt_file);
    char *ipath = test_shared_path(ids_file);
    if (!ppath || !ipath) {
        free(ppath);
        free(ipath);
        return;
    }
    struct tok *t = golden_tok(model);
    assert_non_null(t);
    size_t plen, ilen;
    char *prompt = read_all(ppath, &plen);
    char *raw = read_all(ipath, &ilen);
    assert_int_equal(ilen % 4, 0);
    size_t n_want = ilen / 4;
    int32_t *want = malloc(ilen);
    assert_non_null(want);
    memcpy(want, raw, ilen); /* little-endian file on a little-endian host */
    size_t cap = tok_encode_bound(plen), n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    /* the vocabulary says add_bos, so ADD_SPECIAL gives "BOS + tokenize(prompt)" */
    assert_true(tok_add_bos(t));
    assert_int_equal(tok_encode(t, prompt, plen, TOK_ENCODE_ADD_SPECIAL, ids, cap, &n),
                     STATUS_OK);
    assert_ids(ids, n, want, n_want);
    free(ids);
    free(want);
    free(raw);
    free(prompt);
    free(ppath);
    free(ipath);
    tok_free(t);
}

static void test_tok_golden_prompt_ids_model_a(void **state)
{
    (void)state;
    check_prompt("tiny-mistral-a-f32", "golden/prompt-short.txt",
                 "golden/tiny-mistral-a-f32.prompt.i32");
    check_prompt("tiny-mistral-a-f32", "golden/prompt-long.txt",
                 "golden/tiny-mistral-a-f32.long.prompt.i32");
}

static void test_tok_golden_prompt_ids_model_c_byte_fallback(void **state)
{
    (void)state;
    /* 8192-token vocabulary: "." has no piece and falls back to <0x2E> */
    check_prompt("tiny-mistral-c-Q4_K_M", "golden/prompt-short.txt",
                 "golden/tiny-mistral-c-Q4_K_M.prompt.i32");
}

/* ---- Round trips and the streaming decoder on the full vocabulary --------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* A random code point from a mix of scripts, emoji, spaces and controls. */
static uint32_t random_cp(void)
{
    static const uint32_t ranges[][2] = {
        {'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {' ', ' '}, {' ', '/'}, {'\n', '\n'},
        {'\t', '\t'}, {0x00, 0x1F}, {0xC0, 0xFF}, {0x400, 0x44F}, {0x3040, 0x30FF},
        {0x4E00, 0x9FFF}, {0x1F300, 0x1FAFF}, {0x200D, 0x200D}, {0xFE0F, 0xFE0F},
        {0xA640, 0xA69F}, {0x1D400, 0x1D7FF}, {0x10000, 0x10FFFF}, {0xE000, 0xFFFD},
    };
    size_t n = sizeof ranges / sizeof *ranges;
    const uint32_t *r = ranges[rng() % n];
    uint32_t cp = r[0] + (uint32_t)(rng() % (r[1] - r[0] + 1));
    return cp;
}

static void test_tok_roundtrip_random_utf8(void **state)
{
    (void)state;
    struct tok *t = golden_tok("tiny-mistral-a-f32");
    if (!t)
        return;
    char text[4 * 64 + 1];
    int32_t ids[1024];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 0, n_cp = (size_t)(rng() % 64);
        for (size_t i = 0; i < n_cp; i++)
            len += utf8_encode(random_cp(), text + len);
        size_t n = 0;
        assert_int_equal(tok_encode(t, text, len, 0, ids, 1024, &n), STATUS_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(ids[i] >= 0 && ids[i] < tok_n_vocab(t));
            assert_false(tok_is_control(t, ids[i]));
        }
        char *back;
        size_t blen;
        assert_int_equal(tok_decode(t, ids, n, TOK_STREAM_STRIP_START, &back, &blen),
                         STATUS_OK);
        if (blen != len || memcmp(back, text, len) != 0)
            fprintf(stderr, "round trip failed for '%.*s'\n", (int)len, text);
        assert_int_equal(blen, len);
        assert_memory_equal(back, text, len);
        free(back);
    }
    tok_free(t);
}

static void test_tok_stream_random_ids_always_valid_utf8(void **state)
{
    (void)state;
    struct tok *t = golden_tok("tiny-mistral-a-f32");
    if (!t)
        return;
    size_t cap = tok_stream_bufsize(t);
    char *buf = malloc(cap);
    char *all = malloc(64 * cap);
    assert_non_null(buf);
    assert_non_null(all);
    for (int iter = 0; iter < 500; iter++) {
        struct tok_stream s;
        tok_stream_init(&s, t, iter % 2 ? TOK_STREAM_SPECIAL : 0);
        size_t total = 0;
        for (int i = 0; i < 40; i++) {
            /* half byte tokens (ids 3..258) so that multi-byte sequences form and break */
            int32_t id = rng() % 2 ? (int32_t)(3 + rng() % 256)
                                   : (int32_t)(rng() % (uint64_t)tok_n_vocab(t));
            size_t n;
            assert_int_equal(tok_stream_put(&s, id, buf, cap, &n), STATUS_OK);
            assert_true(n <= cap);
            assert_true(utf8_valid(buf, n));
            memcpy(all + total, buf, n);
            total += n;
            assert_true(utf8_valid(all, total));
        }
        size_t n;
        assert_int_equal(tok_stream_flush(&s, buf, cap, &n), STATUS_OK);
        assert_true(utf8_valid(buf, n));
    }
    free(all);
    free(buf);
    tok_free(t);
}

static void test_tok_stream_piecewise_equals_whole(void **state)
{
    (void)state;
    struct tok *t = golden_tok("tiny-mistral-a-f32");
    if (!t)
        return;
    const char *text = "\xF0\x9F\xA6\x99 llama \xE2\x80\x8D naïve こんにちは 𝔘𝔫𝔦";
    int32_t ids[256];
    size_t n = 0;
    assert_int_equal(tok_encode(t, text, strlen(text), TOK_ENCODE_ADD_SPECIAL, ids, 256, &n),
                     STATUS_OK);
    assert_int_equal(ids[0], 1);
    struct tok_stream s;
    tok_stream_init(&s, t, 0);
    char out[1024], buf[256];
    size_t total = 0, got;
    int silent = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tok_stream_put(&s, ids[i], buf, sizeof buf, &got), STATUS_OK);
        assert_true(utf8_valid(buf, got));
        silent += got == 0;
        memcpy(out + total, buf, got);
        total += got;
    }
    assert_int_equal(tok_stream_flush(&s, buf, sizeof buf, &got), STATUS_OK);
    assert_int_equal(got, 0);
    assert_true(silent >= 4); /* BOS and held-back bytes of the emoji */
    assert_int_equal(total, strlen(text));
    assert_memory_equal(out, text, total);
    tok_free(t);
}

/* ---- An independent, naive BPE to compare against ---------------------------------- */

/* Quadratic reference: escape, split into characters, then repeatedly merge the
 * leftmost adjacent pair with the highest score whose concatenation is a piece;
 * leftovers as byte tokens.  Only for texts without special tokens. */
static size_t naive_encode(const struct tok *t, const char *text, size_t len, int32_t *ids)
{
    char *e = malloc(3 * len + 4);
    size_t *st = malloc((3 * len + 4) * sizeof *st), *ln = malloc((3 * len + 4) * sizeof *ln);
    assert_non_null(e);
    assert_non_null(st);
    assert_non_null(ln);
    size_t n = 0, k = 0;
    if (len > 0) {
        memcpy(e, SP, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(e + n, SP, 3);
            n += 3;
        } else {
            e[n++] = text[i];
        }
    }
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int c = utf8_decode(e + i, n - i, &cp);
        if (c <= 0)
            c = 1;
        st[ns] = i;
        ln[ns++] = (size_t)c;
        i += (size_t)c;
    }
    for (;;) {
        size_t best = SIZE_MAX;
        float best_score = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            int32_t id = tok_find(t, e + st[i], ln[i] + ln[i + 1]);
            if (id >= 0 && (best == SIZE_MAX || tok_score(t, id) > best_score)) {
                best = i;
                best_score = tok_score(t, id);
            }
        }
        if (best == SIZE_MAX)
            break;
        ln[best] += ln[best + 1];
        memmove(st + best + 1, st + best + 2, (ns - best - 2) * sizeof *st);
        memmove(ln + best + 1, ln + best + 2, (ns - best - 2) * sizeof *ln);
        ns--;
    }
    for (size_t i = 0; i < ns; i++) {
        int32_t id = tok_find(t, e + st[i], ln[i]);
        if (id >= 0) {
            ids[k++] = id;
            continue;
        }
        for (size_t j = 0; j < ln[i]; j++) {
            char hex[7];
            snprintf(hex, sizeof hex, "<0x%02X>", (unsigned)(unsigned char)e[st[i] + j]);
            ids[k++] = tok_find(t, hex, 6);
        }
    }
    free(e);
    free(st);
    free(ln);
    return k;
}

static void compare_with_naive(struct tok *t, const char *text, size_t len)
{
    int32_t got[1024], want[1024];
    size_t n = 0;
    assert_int_equal(tok_encode(t, text, len, 0, got, 1024, &n), STATUS_OK);
    size_t nw = naive_encode(t, text, len, want);
    if (n != nw || memcmp(got, want, n * sizeof *got) != 0)
        fprintf(stderr, "differs from the naive BPE on '%.*s'\n", (int)len, text);
    assert_ids(got, n, want, nw);
}

static void test_tok_matches_naive_bpe_on_random_vocab(void **state)
{
    (void)state;
    /* every string of 2..4 symbols over {a, b, c, ▁} with probability 1/2, scores from a
     * small set so that ties are common */
    static const char *alpha[] = {"a", "b", "c", SP};
    struct piece v[4 + 64 + 256 + 1024];
    char store[4 + 64 + 256 + 1024][16];
    size_t nv = 0;
    for (int a = 0; a < 4; a++)
        v[nv++] = (struct piece){alpha[a], -10, 0};
    for (int len = 2; len <= 4; len++) {
        int combos = 1 << (2 * len);
        for (int c = 0; c < combos; c++) {
            if (rng() % 2)
                continue;
            store[nv][0] = '\0';
            for (int i = 0; i < len; i++)
                strcat(store[nv], alpha[(c >> (2 * i)) & 3]);
            v[nv] = (struct piece){store[nv], -(float)(rng() % 4), 0};
            nv++;
        }
    }
    struct tok *t = build_vocab(v, nv, true, NULL);
    char text[64];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)(rng() % 48);
        for (size_t i = 0; i < len; i++)
            text[i] = "abc d"[rng() % 5]; /* 'd' is not in the vocabulary: a byte token */
        compare_with_naive(t, text, len);
    }
    tok_free(t);
}

static void test_tok_matches_naive_bpe_on_golden_vocab(void **state)
{
    (void)state;
    struct tok *t = golden_tok("tiny-mistral-a-f32");
    if (!t)
        return;
    char text[4 * 48 + 1];
    for (int iter = 0; iter < 500; iter++) {
        size_t len = 0, n_cp = (size_t)(rng() % 48);
        for (size_t i = 0; i < n_cp; i++)
            len += utf8_encode(rng() % 3 ? (uint32_t)"etaoin shrdlu"[rng() % 13] : random_cp(),
                               text + len);
        compare_with_naive(t, text, len);
    }
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok_merges_by_score_not_left_to_right),
        cmocka_unit_test(test_tok_equal_scores_merge_leftmost_first),
        cmocka_unit_test(test_tok_byte_fallback_for_missing_chars),
        cmocka_unit_test(test_tok_invalid_utf8_becomes_byte_tokens),
        cmocka_unit_test(test_tok_without_byte_tokens_uses_unk_per_char),
        cmocka_unit_test(test_tok_token_text),
        cmocka_unit_test(test_tok_user_defined_tokens_matched_whole),
        cmocka_unit_test(test_tok_longer_special_tokens_are_cut_first),
        cmocka_unit_test(test_tok_control_tokens_parsed_only_on_request),
        cmocka_unit_test(test_tok_empty_text_and_special_flags),
        cmocka_unit_test(test_tok_output_overflow_reports_needed_count),
        cmocka_unit_test(test_tok_separate_work_buffer_gives_same_ids),
        cmocka_unit_test(test_tok_accessors),
        cmocka_unit_test(test_tok_duplicate_pieces_encode_as_last_id),
        cmocka_unit_test(test_tok_stream_reassembles_bytes_and_holds_back),
        cmocka_unit_test(test_tok_stream_strips_space_after_bos),
        cmocka_unit_test(test_tok_rejects_bad_vocabularies),
        cmocka_unit_test(test_tok_rejects_duplicate_byte_values),
        cmocka_unit_test(test_tok_from_gguf_reads_and_validates_metadata),
        cmocka_unit_test(test_tok_golden_cases_match_llama_cpp),
        cmocka_unit_test(test_tok_golden_prompt_ids_model_a),
        cmocka_unit_test(test_tok_golden_prompt_ids_model_c_byte_fallback),
        cmocka_unit_test(test_tok_roundtrip_random_utf8),
        cmocka_unit_test(test_tok_stream_random_ids_always_valid_utf8),
        cmocka_unit_test(test_tok_stream_piecewise_equals_whole),
        cmocka_unit_test(test_tok_matches_naive_bpe_on_random_vocab),
        cmocka_unit_test(test_tok_matches_naive_bpe_on_golden_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
