/* test_bpe_train.c -- tests of the BPE trainer: the GGUF it writes loads with tok and
 * encodes losslessly, keeps the protocol delimiters whole, learns frequent words, and is
 * deterministic. */
#include "config.h"

#include "test_util.h"

#include "engine/bpe_train.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/json.h"
#include "util/utf8.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252u;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Append a random piece of text: words, spaces, line feeds, CJK, emoji, accents, the
 * protocol delimiters and strings that look like special tokens.  Never U+2581. */
static size_t random_text(char *buf, size_t cap)
{
    static const char *const words[] = {"the", "of", "memory", "Glenda", "Adams", "author",
                                        ">>", ";", "MEM_READ(", "MEM_WRITE", "({", "})", "-->",
                                        "<s>", "</s>", "<unk>", "<0x41>", "(", ")", "--", "-",
                                        "\t", "Zürich", "naïve", "1998", ".", ","};
    size_t n = 0;
    while (n + 16 < cap) {
        uint32_t k = rnd(10);
        uint32_t cp;
        if (k < 4) {
            const char *w = words[rnd(sizeof words / sizeof *words)];
            size_t l = strlen(w);
            memcpy(buf + n, w, l);
            n += l;
            continue;
        } else if (k < 6) {
            buf[n++] = rnd(5) ? ' ' : '\n';
            continue;
        } else if (k == 6) {
            cp = 0x4E00 + rnd(0x9FFF - 0x4E00); /* CJK */
        } else if (k == 7) {
            cp = 0x1F600 + rnd(0x50); /* emoji */
        } else if (k == 8) {
            cp = 0x20 + rnd(0x5F); /* printable ASCII */
        } else {
            cp = 0xA0 + rnd(0x2400); /* Latin, Greek, Cyrillic, ... */
            if (cp == 0x2581)
                cp = 'x';
        }
        n += utf8_encode(cp, buf + n);
    }
    return n;
}

static const char corpus_en[] =
    "Dancing on Coral is a novel by Glenda Adams. The novel was published in 1987.\n"
    "Glenda Adams was an Australian writer. She was born in Sydney and died in Sydney.\n"
    "({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})Glenda Adams wrote it.\n"
    "({USER_ST})Apple was founded by Steve Jobs.({USER_END})"
    "({MEM_WRITE-->Apple>>founded by>>Steve Jobs})\n"
    "Zürich ist eine Stadt in der Schweiz. 東京は日本の首都です。 Emoji 🙂 and 🚀 too.\n";

/* Train on corpus_en repeated `reps` times, plus `extra` (may be NULL). */
static struct bpe_trainer *train(size_t vocab, int reps, const char *extra)
{
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    p.vocab_size = vocab;
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    for (int i = 0; i < reps; i++)
        assert_int_equal(bpe_trainer_add_text(t, corpus_en, strlen(corpus_en)), STATUS_OK);
    if (extra)
        assert_int_equal(bpe_trainer_add_text(t, extra, strlen(extra)), STATUS_OK);
    assert_int_equal(bpe_trainer_train(t), STATUS_OK);
    return t;
}

/* The trainer's vocabulary written to GGUF in memory, read back as a tok. */
static struct tok *tok_via_gguf(const struct bpe_trainer *t, void **bytes, size_t *size)
{
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(bpe_trainer_to_writer(t, w), STATUS_OK);
    assert_int_equal(gguf_writer_to_buffer(w, bytes, size), STATUS_OK);
    gguf_writer_free(w);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(*bytes, *size, &g), STATUS_OK);
    struct tok *tk = NULL;
    assert_int_equal(tok_from_gguf(g, &tk), STATUS_OK);
    gguf_close(g);
    return tk;
}

static int32_t *encode(struct tok *tk, const char *s, size_t len, size_t *n)
{
    size_t cap = tok_encode_bound(len);
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(tok_encode(tk, s, len, 0, ids, cap, n), STATUS_OK);
    return ids;
}

static void assert_roundtrip(struct tok *tk, const char *s, size_t len)
{
    size_t n;
    int32_t *ids = encode(tk, s, len, &n);
    char *back = NULL;
    size_t blen = 0;
    assert_int_equal(tok_decode(tk, ids, n, 0, &back, &blen), STATUS_OK);
    if (blen != len || memcmp(back, s, len) != 0)
        fail_msg("round trip differs:\n in: %.*s\nout: %s", (int)len, s, back);
    free(back);
    free(ids);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_bpe_train_gguf_layout(void **state)
{
    (void)state;
    struct bpe_trainer *t = train(400, 20, NULL);
    void *bytes;
    size_t size;
    struct tok *tk = tok_via_gguf(t, &bytes, &size);
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    assert_int_equal(tok_n_vocab(tk), (int32_t)s.n_vocab);
    assert_true(s.n_vocab <= 400);
    assert_int_equal(tok_unk(tk), 0);
    assert_int_equal(tok_bos(tk), 1);
    assert_int_equal(tok_eos(tk), 2);
    assert_true(tok_add_bos(tk));
    assert_false(tok_add_eos(tk));
    assert_false(tok_add_space_prefix(tk));
    assert_int_equal(tok_token_type(tk, 0), TOK_TYPE_UNKNOWN);
    assert_string_equal(tok_piece(tk, 0, NULL), "<unk>");
    assert_int_equal(tok_token_type(tk, 1), TOK_TYPE_CONTROL);
    assert_string_equal(tok_piece(tk, 1, NULL), "<s>");
    assert_int_equal(tok_token_type(tk, 2), TOK_TYPE_CONTROL);
    assert_string_equal(tok_piece(tk, 2, NULL), "</s>");
    for (int b = 0; b < 256; b++) {
        char want[8];
        snprintf(want, sizeof want, "<0x%02X>", (unsigned)b);
        assert_int_equal(tok_token_type(tk, 3 + b), TOK_TYPE_BYTE);
        assert_string_equal(tok_piece(tk, 3 + b, NULL), want);
        assert_int_equal(tok_byte_value(tk, 3 + b), b);
    }
    /* the user-defined tokens, longest first */
    assert_string_equal(tok_piece(tk, 259, NULL), "-->");
    assert_string_equal(tok_piece(tk, 260, NULL), "({");
    assert_string_equal(tok_piece(tk, 261, NULL), "})");
    for (int i = 259; i < 262; i++)
        assert_int_equal(tok_token_type(tk, i), TOK_TYPE_USER_DEFINED);
    /* normal pieces after them; merged pieces have falling scores, no piece is an
     * unusable fragment of a special token */
    float prev = 1.0f;
    bool seen_merge = false;
    for (int32_t i = 262; i < tok_n_vocab(tk); i++) {
        size_t len;
        const char *p = tok_piece(tk, i, &len);
        assert_int_equal(tok_token_type(tk, i), TOK_TYPE_NORMAL);
        assert_true(utf8_valid(p, len));
        bool multi = len > (size_t)utf8_decode(p, len, &(uint32_t){0});
        if (multi) {
            assert_true(tok_score(tk, i) < prev);
            prev = tok_score(tk, i);
            seen_merge = true;
        } else {
            assert_false(seen_merge); /* characters come before merged pieces */
        }
    }
    assert_true(seen_merge);
    tok_free(tk);
    free(bytes);
    bpe_trainer_free(t);
}

static void test_bpe_train_roundtrip_random_text(void **state)
{
    (void)state;
    /* train on the corpus plus some random text, so rare characters and odd pieces exist */
    char *extra = malloc(20000);
    assert_non_null(extra);
    size_t n = random_text(extra, 19999);
    extra[n] = '\0';
    /* random_text may produce a NUL byte from no path (all code points >= 0x20) */
    struct bpe_trainer *t = train(1200, 30, extra);
    free(extra);
    void *bytes;
    size_t size;
    struct tok *tk = tok_via_gguf(t, &bytes, &size);
    char buf[600];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = random_text(buf, 16 + rnd(sizeof buf - 16));
        assert_true(utf8_valid(buf, len));
        assert_roundtrip(tk, buf, len);
    }
    static const char *const fixed[] = {
        "", " ", "  leading and trailing  ", "\n\nx\n", "({MEM_READ(>>founder>>Apple Inc.)-->",
        "<s>hello</s><unk><0x41>", "🙂🙂🙂 東京 Zürich", "a\tb\rc", "({({})})-->--->",
        corpus_en};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        assert_roundtrip(tk, fixed[i], strlen(fixed[i]));
    tok_free(tk);
    free(bytes);
    bpe_trainer_free(t);
}

static void test_bpe_train_user_tokens_are_single(void **state)
{
    (void)state;
    struct bpe_trainer *t = train(600, 20, NULL);
    void *bytes;
    size_t size;
    struct tok *tk = tok_via_gguf(t, &bytes, &size);
    const char *s = "({MEM_READ(Glenda Adams>>author>>)-->x})";
    size_t n;
    int32_t *ids = encode(tk, s, strlen(s), &n);
    assert_true(n > 3);
    assert_int_equal(ids[0], tok_find(tk, "({", 2));
    assert_int_equal(ids[n - 1], tok_find(tk, "})", 2));
    bool arrow = false;
    for (size_t i = 0; i < n; i++)
        arrow |= ids[i] == tok_find(tk, "-->", 3);
    assert_true(arrow);
    /* no other token's piece contains a delimiter */
    for (int32_t i = 262; i < tok_n_vocab(tk); i++) {
        const char *p = tok_piece(tk, i, NULL);
        assert_null(strstr(p, "({"));
        assert_null(strstr(p, "})"));
        assert_null(strstr(p, "-->"));
    }
    free(ids);
    tok_free(tk);
    free(bytes);
    bpe_trainer_free(t);
}

static void test_bpe_train_extra_user_token(void **state)
{
    (void)state;
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    p.vocab_size = 500;
    const char *extra[] = {"<|sep|>", "({"}; /* "({" repeats a default: ignored */
    p.user_tokens = extra;
    p.n_user_tokens = 2;
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    const char *text = "a<|sep|>b <|sep|> c";
    for (int i = 0; i < 10; i++)
        assert_int_equal(bpe_trainer_add_text(t, text, strlen(text)), STATUS_OK);
    assert_int_equal(bpe_trainer_train(t), STATUS_OK);
    struct tok *tk = NULL;
    assert_int_equal(bpe_trainer_tok(t, &tk), STATUS_OK);
    int32_t sep = tok_find(tk, "<|sep|>", 7);
    assert_int_equal(sep, 259);
    assert_int_equal(tok_token_type(tk, sep), TOK_TYPE_USER_DEFINED);
    assert_int_equal(tok_token_type(tk, 262), TOK_TYPE_USER_DEFINED); /* 4 in all */
    assert_int_not_equal(tok_token_type(tk, 263), TOK_TYPE_USER_DEFINED);
    size_t n;
    int32_t *ids = encode(tk, "x<|sep|>y", 9, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], sep);
    free(ids);
    tok_free(tk);
    bpe_trainer_free(t);
}

static void test_bpe_train_frequent_words_become_tokens(void **state)
{
    (void)state;
    struct bpe_trainer *t = train(600, 50, NULL);
    struct tok *tk = NULL;
    assert_int_equal(bpe_trainer_tok(t, &tk), STATUS_OK);
    /* each of these appears 50+ times in the corpus */
#define SP "\xe2\x96\x81"
    static const char *const words[] = {"Glenda", SP "Adams", SP "novel", SP "was",
                                        SP "published", SP "Sydney"};
#undef SP
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (tok_find(tk, words[i], strlen(words[i])) < 0)
            fail_msg("'%s' is not a token", words[i]);
    size_t n;
    int32_t *ids = encode(tk, "Glenda Adams", 12, &n);
    assert_int_equal(n, 2);
    free(ids);
    /* the training words encode as the training merges segmented them */
    size_t checked = 0, bad = 1;
    assert_int_equal(bpe_trainer_check(t, tk, &checked, &bad), STATUS_OK);
    assert_true(checked > 40);
    assert_int_equal(bad, 0);
    tok_free(tk);
    bpe_trainer_free(t);
}

static void test_bpe_train_is_deterministic(void **state)
{
    (void)state;
    void *b1, *b2;
    size_t s1, s2;
    struct bpe_trainer *t1 = train(700, 25, "extra text 123");
    struct bpe_trainer *t2 = train(700, 25, "extra text 123");
    struct tok *k1 = tok_via_gguf(t1, &b1, &s1);
    struct tok *k2 = tok_via_gguf(t2, &b2, &s2);
    assert_int_equal(s1, s2);
    assert_memory_equal(b1, b2, s1);
    tok_free(k1);
    tok_free(k2);
    free(b1);
    free(b2);
    bpe_trainer_free(t1);
    bpe_trainer_free(t2);
}

static void test_bpe_train_special_lookalikes_stay_text(void **state)
{
    (void)state;
    /* a corpus full of "<s>" and byte-token lookalikes must not learn pieces that join into
     * a control or byte token (which would decode to nothing or to another byte) */
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    p.vocab_size = 400;
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    const char *text = "<s> <s> </s> <unk> <0x41> <0x0A> <s>x</s> ";
    for (int i = 0; i < 50; i++)
        assert_int_equal(bpe_trainer_add_text(t, text, strlen(text)), STATUS_OK);
    assert_int_equal(bpe_trainer_train(t), STATUS_OK);
    struct tok *tk = NULL;
    assert_int_equal(bpe_trainer_tok(t, &tk), STATUS_OK);
    assert_int_equal(tok_find(tk, "<s", 2), -1);
    assert_int_equal(tok_find(tk, "s>", 2), -1);
    assert_roundtrip(tk, text, strlen(text));
    size_t n;
    int32_t *ids = encode(tk, "<s>", 3, &n);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(tok_token_type(tk, ids[i]), TOK_TYPE_CONTROL);
    free(ids);
    tok_free(tk);
    bpe_trainer_free(t);
}

static void test_bpe_train_rare_chars_fall_back_to_bytes(void **state)
{
    (void)state;
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    p.vocab_size = 300;
    p.char_coverage = 0.99;
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    for (int i = 0; i < 200; i++)
        assert_int_equal(bpe_trainer_add_text(t, "aaaa bbbb ", 10), STATUS_OK);
    assert_int_equal(bpe_trainer_add_text(t, "\xc3\xa9", 2), STATUS_OK); /* é once */
    assert_int_equal(bpe_trainer_train(t), STATUS_OK);
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    assert_int_equal(s.n_chars_seen, 4);
    assert_int_equal(s.n_chars, 3); /* é is below the coverage */
    struct tok *tk = NULL;
    assert_int_equal(bpe_trainer_tok(t, &tk), STATUS_OK);
    size_t n;
    int32_t *ids = encode(tk, "\xc3\xa9", 2, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 3 + 0xC3);
    assert_int_equal(ids[1], 3 + 0xA9);
    free(ids);
    assert_roundtrip(tk, "aa\xc3\xa9 bb", 8);
    tok_free(tk);
    bpe_trainer_free(t);
}

static void test_bpe_train_fills_vocab(void **state)
{
    (void)state;
    char *extra = malloc(200000);
    assert_non_null(extra);
    size_t n = random_text(extra, 199999);
    extra[n] = '\0';
    struct bpe_trainer *t = train(1000, 5, extra);
    free(extra);
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    assert_int_equal(s.n_vocab, 1000);
    struct tok *tk = NULL;
    assert_int_equal(bpe_trainer_tok(t, &tk), STATUS_OK);
    assert_int_equal(tok_n_vocab(tk), 1000);
    size_t checked, bad;
    assert_int_equal(bpe_trainer_check(t, tk, &checked, &bad), STATUS_OK);
    assert_int_equal(bad, 0);
    tok_free(tk);
    bpe_trainer_free(t);
}

static void test_bpe_train_rejects_bad_params(void **state)
{
    (void)state;
    struct bpe_train_params p;
    struct bpe_trainer *t = NULL;
    bpe_train_params_init(&p);
    p.vocab_size = 262; /* 259 fixed + 3 user tokens leave no room for a character */
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_INVALID);
    bpe_train_params_init(&p);
    p.char_coverage = 0.0;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_INVALID);
    bpe_train_params_init(&p);
    const char *bad[] = {""};
    p.user_tokens = bad;
    p.n_user_tokens = 1;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_INVALID);
    const char *fixed[] = {"<s>"};
    p.user_tokens = fixed;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_INVALID);
    assert_null(t);
    bpe_train_params_init(&p);
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    assert_int_equal(bpe_trainer_train(t), STATUS_OK); /* no text: characters only */
    assert_int_equal(bpe_trainer_train(t), STATUS_INVALID);
    assert_int_equal(bpe_trainer_add_text(t, "x", 1), STATUS_INVALID);
    bpe_trainer_free(t);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
    assert_int_equal(fclose(f), 0);
}

static void test_bpe_train_reads_plain_and_jsonl(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char plain[4200], jsonl[4200], bad[4200];
    snprintf(plain, sizeof plain, "%s/a.txt", dir);
    snprintf(jsonl, sizeof jsonl, "%s/b.jsonl", dir);
    snprintf(bad, sizeof bad, "%s/c.jsonl", dir);
    write_file(plain, "{not json} one two\n");
    write_file(jsonl, "{\"text\":\"alpha beta\"}\n\n"
                      "{\"prompt\":\"x ({USER_ST})\",\"completion\":\"y})\",\"n\":1}\n");
    write_file(bad, "{\"text\":\"ok\"}\n{\"other\":1}\n");
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    assert_int_equal(bpe_trainer_add_file(t, plain, BPE_INPUT_AUTO), STATUS_OK);
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    /* "{not", "▁json}", "▁one", "▁two", "\n" */
    assert_int_equal(s.n_words, 5);
    assert_int_equal(bpe_trainer_add_file(t, jsonl, BPE_INPUT_AUTO), STATUS_OK);
    bpe_trainer_stats(t, &s);
    /* + "alpha", "▁beta"; "x", "▁", "USER_ST", "y" (the delimiters are cut out) */
    assert_int_equal(s.n_words, 11);
    assert_int_equal(bpe_trainer_add_file(t, bad, BPE_INPUT_AUTO), STATUS_PARSE);
    assert_non_null(strstr(status_detail(), "c.jsonl:2"));
    strcat(bad, ".missing");
    assert_int_equal(bpe_trainer_add_file(t, bad, BPE_INPUT_AUTO), STATUS_IO);
    assert_non_null(strstr(status_detail(), ".missing"));
    bpe_trainer_free(t);
    test_rmtree(dir);
}

/* The Re-DocRED dev documents (../shared): a 4096-token vocabulary trained on them encodes
 * every training word as trained and every document losslessly. */
static void test_bpe_train_real_documents(void **state)
{
    (void)state;
    char *path = test_shared_path("data/redocred/dev_revised.json");
    if (!path)
        skip();
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    struct json_doc *d = NULL;
    assert_int_equal(json_parse(buf, (size_t)size, &d), STATUS_OK);
    const struct json_value *docs = json_doc_root(d);
    size_t n_docs = json_len(docs);
    char **texts = calloc(n_docs, sizeof *texts);
    size_t *lens = calloc(n_docs, sizeof *lens);
    assert_true(texts && lens);
    for (size_t i = 0; i < n_docs; i++) {
        const struct json_value *sents = json_get(json_at(docs, i), "sents");
        char *t = NULL;
        size_t cap = 0;
        FILE *m = open_memstream(&t, &cap);
        assert_non_null(m);
        for (size_t s = 0; s < json_len(sents); s++) {
            const struct json_value *sent = json_at(sents, s);
            for (size_t k = 0; k < json_len(sent); k++)
                fprintf(m, "%s%s", s + k ? " " : "", json_str(json_at(sent, k), NULL));
        }
        fclose(m);
        texts[i] = t;
        lens[i] = strlen(t);
    }
    json_doc_free(d);
    free(buf);
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    struct bpe_trainer *t = NULL;
    assert_int_equal(bpe_trainer_new(&p, &t), STATUS_OK);
    for (size_t i = 0; i < n_docs; i++)
        assert_int_equal(bpe_trainer_add_text(t, texts[i], lens[i]), STATUS_OK);
    assert_int_equal(bpe_trainer_train(t), STATUS_OK);
    void *bytes;
    size_t gsize;
    struct tok *tk = tok_via_gguf(t, &bytes, &gsize);
    assert_int_equal(tok_n_vocab(tk), 4096);
    size_t checked, bad;
    assert_int_equal(bpe_trainer_check(t, tk, &checked, &bad), STATUS_OK);
    assert_true(checked > 10000);
    assert_int_equal(bad, 0);
    size_t n_tokens = 0, n_bytes = 0;
    for (size_t i = 0; i < n_docs; i++) {
        size_t n;
        int32_t *ids = encode(tk, texts[i], lens[i], &n);
        free(ids);
        n_tokens += n;
        n_bytes += lens[i];
        assert_roundtrip(tk, texts[i], lens[i]);
        free(texts[i]);
    }
    fprintf(stderr, "dev documents: %zu bytes -> %zu tokens (%.2f bytes per token)\n", n_bytes,
            n_tokens, (double)n_bytes / (double)n_tokens);
    free(texts);
    free(lens);
    tok_free(tk);
    free(bytes);
    bpe_trainer_free(t);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_train_gguf_layout),
        cmocka_unit_test(test_bpe_train_roundtrip_random_text),
        cmocka_unit_test(test_bpe_train_user_tokens_are_single),
        cmocka_unit_test(test_bpe_train_extra_user_token),
        cmocka_unit_test(test_bpe_train_frequent_words_become_tokens),
        cmocka_unit_test(test_bpe_train_is_deterministic),
        cmocka_unit_test(test_bpe_train_special_lookalikes_stay_text),
        cmocka_unit_test(test_bpe_train_rare_chars_fall_back_to_bytes),
        cmocka_unit_test(test_bpe_train_fills_vocab),
        cmocka_unit_test(test_bpe_train_rejects_bad_params),
        cmocka_unit_test(test_bpe_train_reads_plain_and_jsonl),
        cmocka_unit_test(test_bpe_train_real_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
