/* test_utf8.c -- decoding, validation, widths and truncation of UTF-8 text. */
#include "config.h"

#include "test_util.h"
#include "util/utf8.h"

static void test_utf8_decode_accepts_each_length(void **state)
{
    (void)state;
    uint32_t cp;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(utf8_decode("\xC3\xA9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(utf8_decode("\xE2\x96\x81", 3, &cp), 3);
    assert_int_equal(cp, 0x2581);
    assert_int_equal(utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(utf8_decode("", 0, &cp), 0);
}

static void test_utf8_decode_rejects_malformed(void **state)
{
    (void)state;
    uint32_t cp = 7;
    assert_int_equal(utf8_decode("\x80", 1, &cp), -1);             /* lone continuation */
    assert_int_equal(utf8_decode("\xC0\xAF", 2, &cp), -1);         /* overlong '/' */
    assert_int_equal(utf8_decode("\xE0\x80\xAF", 3, &cp), -1);     /* overlong, 3 bytes */
    assert_int_equal(utf8_decode("\xED\xA0\x80", 3, &cp), -1);     /* surrogate */
    assert_int_equal(utf8_decode("\xF4\x90\x80\x80", 4, &cp), -1); /* above U+10FFFF */
    assert_int_equal(utf8_decode("\xE2\x96", 2, &cp), -1);         /* cut short */
    assert_int_equal(utf8_decode("\xC3\x41", 2, &cp), -1);         /* bad continuation */
    assert_int_equal(cp, 7);                                       /* untouched */
}

static void test_utf8_encode_round_trips(void **state)
{
    (void)state;
    const uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFD, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char buf[4];
        uint32_t back;
        size_t n = utf8_encode(cps[i], buf);
        assert_true(n >= 1 && n <= 4);
        assert_int_equal(utf8_decode(buf, n, &back), (int)n);
        assert_int_equal(back, cps[i]);
    }
    char buf[4];
    assert_int_equal(utf8_encode(0xD800, buf), 0);
    assert_int_equal(utf8_encode(0x110000, buf), 0);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("Zürich 東京 🎉", strlen("Zürich 東京 🎉")));
    assert_false(utf8_valid("ab\xFF", 3));
    assert_false(utf8_valid("ab\xE6\x9D", 4));
}

static void test_utf8_prefix_complete_holds_back_partial_characters(void **state)
{
    (void)state;
    const char *s = "a\xE6\x9D\xB1"; /* "a東" */
    assert_int_equal(utf8_prefix_complete(s, 4), 4);
    assert_int_equal(utf8_prefix_complete(s, 3), 1);
    assert_int_equal(utf8_prefix_complete(s, 2), 1);
    assert_int_equal(utf8_prefix_complete(s, 1), 1);
    assert_int_equal(utf8_prefix_complete("\xF0\x9F\x98", 3), 0);
    /* garbage that can never become valid is passed on, not held forever */
    assert_int_equal(utf8_prefix_complete("a\xFF", 2), 2);
    assert_int_equal(utf8_prefix_complete("a\x80", 2), 2);
    assert_int_equal(utf8_prefix_complete("\xED\xA0", 2), 2); /* would be a surrogate */
    assert_int_equal(utf8_prefix_complete("", 0), 0);
}

static void test_utf8_width_counts_cells(void **state)
{
    (void)state;
    assert_int_equal(utf8_width_cstr("hello"), 5);
    assert_int_equal(utf8_width_cstr("Zürich"), 6);
    assert_int_equal(utf8_width_cstr("東京"), 4);
    assert_int_equal(utf8_width_cstr("e\xCC\x81"), 1); /* e + combining acute */
    assert_int_equal(utf8_width_cstr("🎉"), 2);
    assert_int_equal(utf8_width_cstr("ｶ"), 1);          /* halfwidth katakana */
    assert_int_equal(utf8_width_cstr("Ａ"), 2);         /* fullwidth A */
    assert_int_equal(utf8_width_cstr("a\xFF" "b"), 3);  /* invalid byte = one cell */
    assert_int_equal(utf8_width_cstr("\xE2\x80\x8B"), 0); /* zero width space */
    assert_int_equal(utf8_cp_width('\n'), -1);
    assert_int_equal(utf8_cp_width(0x9F), -1);
}

static void test_utf8_truncate_never_splits_a_character(void **state)
{
    (void)state;
    size_t cols;
    const char *s = "ab東京c";
    assert_int_equal(utf8_truncate(s, strlen(s), 3, &cols), 2); /* 東 needs 2 cells */
    assert_int_equal(cols, 2);
    assert_int_equal(utf8_truncate(s, strlen(s), 4, &cols), 5);
    assert_int_equal(cols, 4);
    assert_int_equal(utf8_truncate(s, strlen(s), 100, &cols), strlen(s));
    assert_int_equal(cols, 7);
    assert_int_equal(utf8_truncate(s, strlen(s), 0, NULL), 0);
    /* a combining mark stays with its base */
    const char *e = "e\xCC\x81x";
    assert_int_equal(utf8_truncate(e, strlen(e), 1, &cols), 3);
    assert_int_equal(cols, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode_accepts_each_length),
        cmocka_unit_test(test_utf8_decode_rejects_malformed),
        cmocka_unit_test(test_utf8_encode_round_trips),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_prefix_complete_holds_back_partial_characters),
        cmocka_unit_test(test_utf8_width_counts_cells),
        cmocka_unit_test(test_utf8_truncate_never_splits_a_character),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
