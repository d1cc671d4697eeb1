/* test_embed.c -- the embedder interface and the default hashed n-gram embedder. */
#include "config.h"

#include <math.h>

#include "memory/embed.h"
#include "test_util.h"

static double cosine(const float *a, const float *b, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double cos_texts(const struct embedder *e, const char *x, const char *y)
{
    float *a = malloc(e->dim * sizeof *a), *b = malloc(e->dim * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(embed_one(e, x, strlen(x), a), STATUS_OK);
    assert_int_equal(embed_one(e, y, strlen(y), b), STATUS_OK);
    double c = cosine(a, b, e->dim);
    free(a);
    free(b);
    return c;
}

static void check_norm(const char *in, const char *want)
{
    char out[256];
    size_t n = embed_normalize(in, strlen(in), out, sizeof out);
    assert_int_not_equal(n, (size_t)-1);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_true(n <= strlen(in));
}

static void test_embed_normalize_folds_case_accents_punctuation(void **state)
{
    (void)state;
    check_norm("U.S.A.", "usa");
    check_norm("Washington, D.C.", "washington dc");
    check_norm("  Zürich  ", "zurich");
    check_norm("Zu\xcc\x88rich", "zurich"); /* decomposed u + combining diaeresis */
    check_norm("Straße", "strasse");
    check_norm("ÆSIR Øresund Łódź", "aesir oresund lodz");
    check_norm("Ĳssel Œuvre Þór", "ijssel oeuvre thor");
    check_norm("O'Neil’s", "oneil");
    check_norm("Jean-Paul\tSartre", "jean paul sartre");
    check_norm("ΑΘΉΝΑ Σοφοκλής", "αθηνα σοφοκλησ");
    check_norm("МОСКВА Ёлка", "москва елка");
    check_norm("Nguyễn Tấn Dũng", "nguyen tan dung");
    check_norm("ＡＢＣ", "abc");
    check_norm("東京 (Tokyo)", "東京 tokyo");
    check_norm("1.6% of 16", "1 6 of 16"); /* a dot between digits separates */
    check_norm("Morris & Co.'s shop", "morris co shop"); /* possessive 's dropped */
    check_norm("O'Sullivan", "osullivan");
    check_norm("", "");
    check_norm("...,,;", "");
}

static void test_embed_normalize_invalid_utf8_separates(void **state)
{
    (void)state;
    check_norm("Z\xffrich", "z rich");
    check_norm("\xc3", "");            /* sequence cut short */
    check_norm("a\xed\xa0\x80z", "a z"); /* surrogate: three invalid bytes, one separator */
    check_norm("\xc0\xaf" "abc", "abc"); /* overlong form */
}

static void test_embed_normalize_reports_small_buffer(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(embed_normalize("Barack", 6, out, sizeof out), (size_t)-1);
    assert_string_equal(out, "bar");
    char big[7];
    assert_int_equal(embed_normalize("Barack", 6, big, sizeof big), 6);
    assert_int_equal(embed_normalize("x", 1, NULL, 0), (size_t)-1);
}

static void test_embed_hash_id_and_dim(void **state)
{
    (void)state;
    struct embedder e;
    assert_int_equal(embed_hash_new(0, &e), STATUS_OK);
    assert_int_equal(e.dim, EMBED_HASH_DIM_DEFAULT);
    assert_string_equal(e.id, "hash-ngram-v1-d512");
    embed_free(&e);
    assert_null(e.ctx);
    embed_free(&e); /* zeroed: no-op */
    embed_free(NULL);
    assert_int_equal(embed_hash_new(256, &e), STATUS_OK);
    assert_string_equal(e.id, "hash-ngram-v1-d256");
    embed_free(&e);
    assert_int_equal(embed_hash_new(8, &e), STATUS_INVALID);
    assert_int_equal(embed_hash_new(EMBED_DIM_MAX + 1, &e), STATUS_INVALID);
}

static void test_embed_hash_unit_norm_and_deterministic(void **state)
{
    (void)state;
    struct embedder e1, e2;
    assert_int_equal(embed_hash_new(0, &e1), STATUS_OK);
    assert_int_equal(embed_hash_new(0, &e2), STATUS_OK);
    const char *texts[] = { "Barack Obama", "", "place of birth", "\xff\xfe", "東京", "a" };
    size_t n = sizeof texts / sizeof texts[0];
    float *a = malloc(n * e1.dim * sizeof *a), *b = malloc(n * e1.dim * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(embed_texts(&e1, texts, NULL, n, a), STATUS_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(embed_one(&e2, texts[i], strlen(texts[i]), b + i * e1.dim), STATUS_OK);
        double nn = cosine(a + i * e1.dim, a + i * e1.dim, e1.dim);
        assert_true(fabs(nn - 1.0) < 1e-5);
    }
    assert_memory_equal(a, b, n * e1.dim * sizeof *a); /* batch == single, instance-free */
    free(a);
    free(b);
    embed_free(&e1);
    embed_free(&e2);
}

static void test_embed_hash_aliases_close(void **state)
{
    (void)state;
    struct embedder e;
    assert_int_equal(embed_hash_new(0, &e), STATUS_OK);
    static const char *const pairs[][2] = {
        { "U.S.A.", "USA" },
        { "Washington, D.C.", "Washington D.C." },
        { "Zürich", "Zurich" },
        { "Barack Obama", "barack obama" },
        { "Barack Obama", "Obama Barack" },
        { "Straße", "Strasse" },
        { "МОСКВА", "Москва" },
        { "Αθήνα", "ΑΘΗΝΑ" },
        { "New York City", "New York, city" },
        { "the United States", "United States" },
        { "Mumford & Sons'", "Mumford & Sons" },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double c = cos_texts(&e, pairs[i][0], pairs[i][1]);
        if (c < 0.9)
            fail_msg("\"%s\" vs \"%s\": cos %.3f < 0.9", pairs[i][0], pairs[i][1], c);
    }
    /* near spellings stay fairly close */
    assert_true(cos_texts(&e, "Barack Obama", "Barak Obama") > 0.6);
    embed_free(&e);
}

static void test_embed_hash_unrelated_far(void **state)
{
    (void)state;
    struct embedder e;
    assert_int_equal(embed_hash_new(0, &e), STATUS_OK);
    static const char *const pairs[][2] = {
        { "Barack Obama", "Zurich" },
        { "Paris", "London" },
        { "Apple Inc.", "Microsoft" },
        { "place of birth", "country" },
        { "author", "founder" },
        { "Germany", "Japan" },
        { "1.6", "16" },
        { "", "a" },
        { "", "Barack Obama" },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double c = cos_texts(&e, pairs[i][0], pairs[i][1]);
        if (c > 0.3)
            fail_msg("\"%s\" vs \"%s\": cos %.3f > 0.3", pairs[i][0], pairs[i][1], c);
    }
    embed_free(&e);
}

static void test_embed_hash_empty_and_invalid_share_empty_vector(void **state)
{
    (void)state;
    struct embedder e;
    assert_int_equal(embed_hash_new(64, &e), STATUS_OK);
    assert_true(cos_texts(&e, "", "...") > 0.999999);
    assert_true(cos_texts(&e, "", "\xff\xc3") > 0.999999);
    float v[64];
    assert_int_equal(embed_one(&e, NULL, 0, v), STATUS_OK); /* NULL with length 0 is "" */
    assert_true(fabs(cosine(v, v, 64) - 1.0) < 1e-5);
    assert_true(cos_texts(&e, "Z\xffrich", "z rich") > 0.999999);
    embed_free(&e);
}

static void test_embed_texts_checks_arguments(void **state)
{
    (void)state;
    struct embedder e;
    assert_int_equal(embed_hash_new(32, &e), STATUS_OK);
    float v[32];
    const char *texts[] = { "a", NULL };
    size_t lens[] = { 1, 3 };
    assert_int_equal(embed_texts(&e, NULL, NULL, 0, NULL), STATUS_OK);
    assert_int_equal(embed_texts(&e, NULL, NULL, 1, v), STATUS_INVALID);
    assert_int_equal(embed_texts(&e, texts, lens, 2, v), STATUS_INVALID); /* NULL, len 3 */
    assert_int_equal(embed_texts(&e, texts, NULL, 2, v), STATUS_INVALID); /* NULL, strlen */
    assert_int_equal(embed_texts(&e, texts, lens, 1, NULL), STATUS_INVALID);
    assert_int_equal(embed_texts(NULL, texts, lens, 1, v), STATUS_INVALID);
    struct embedder zero = { 0 };
    assert_int_equal(embed_texts(&zero, texts, lens, 1, v), STATUS_INVALID);
    embed_free(&e);
}

/* A plugged-in embedder: every text maps to the first basis vector; records free(). */
static int fake_freed;

static enum status fake_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                              float *out)
{
    (void)texts;
    (void)lens;
    size_t dim = *(size_t *)ctx;
    memset(out, 0, n * dim * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i * dim] = 1.0f;
    return STATUS_OK;
}

static void fake_free(void *ctx)
{
    (void)ctx;
    fake_freed++;
}

static void test_embed_interface_accepts_plugged_embedder(void **state)
{
    (void)state;
    static size_t dim = 4;
    struct embedder e = { "fake-v0-d4", 4, fake_embed, fake_free, &dim };
    float v[8];
    const char *texts[] = { "x", "yy" };
    assert_int_equal(embed_texts(&e, texts, NULL, 2, v), STATUS_OK);
    assert_true(v[0] == 1.0f && v[4] == 1.0f && v[1] == 0.0f);
    fake_freed = 0;
    embed_free(&e);
    assert_int_equal(fake_freed, 1);
    assert_null(e.embed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_normalize_folds_case_accents_punctuation),
        cmocka_unit_test(test_embed_normalize_invalid_utf8_separates),
        cmocka_unit_test(test_embed_normalize_reports_small_buffer),
        cmocka_unit_test(test_embed_hash_id_and_dim),
        cmocka_unit_test(test_embed_hash_unit_norm_and_deterministic),
        cmocka_unit_test(test_embed_hash_aliases_close),
        cmocka_unit_test(test_embed_hash_unrelated_far),
        cmocka_unit_test(test_embed_hash_empty_and_invalid_share_empty_vector),
        cmocka_unit_test(test_embed_texts_checks_arguments),
        cmocka_unit_test(test_embed_interface_accepts_plugged_embedder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
