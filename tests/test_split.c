/* test_split.c -- cmocka tests of the sentence splitter (src/agent/split.c). */
#include "config.h"

#include "test_util.h"

#include "agent/split.h"

/* Split text and compare with the expected sentences (NULL-terminated list). */
static void check_split(const char *text, const char *const *want)
{
    struct split_span *sp = NULL;
    size_t n = 99;
    assert_int_equal(split_sentences(text, strlen(text), &sp, &n), STATUS_OK);
    size_t n_want = 0;
    while (want[n_want])
        n_want++;
    for (size_t i = 0; i < n && i < n_want; i++) {
        char buf[512];
        assert_true(sp[i].len < sizeof buf);
        memcpy(buf, text + sp[i].off, sp[i].len);
        buf[sp[i].len] = '\0';
        assert_string_equal(buf, want[i]);
    }
    assert_int_equal(n, n_want);
    free(sp);
}

static void test_split_plain_sentences(void **state)
{
    (void)state;
    const char *w[] = {"Paris is in France.", "It is big!", "Is it old?", NULL};
    check_split("Paris is in France. It is big!  Is it old?", w);
}

static void test_split_abbreviations(void **state)
{
    (void)state;
    const char *w[] = {"Dr. Smith met Mr. Jones in the U.S. Army.",
                       "They liked fruit, e.g. apples and i.e. pears.", NULL};
    check_split("Dr. Smith met Mr. Jones in the U.S. Army. They liked fruit, e.g. apples and "
                "i.e. pears.", w);
}

static void test_split_initials(void **state)
{
    (void)state;
    const char *w[] = {"J. R. R. Tolkien wrote The Hobbit.", "It sold well.", NULL};
    check_split("J. R. R. Tolkien wrote The Hobbit. It sold well.", w);
}

static void test_split_decimals(void **state)
{
    (void)state;
    const char *w[] = {"Pi is about 3.14 and e about 2.718.", "Both are irrational.", NULL};
    check_split("Pi is about 3.14 and e about 2.718. Both are irrational.", w);
}

static void test_split_quotes(void **state)
{
    (void)state;
    const char *w[] = {"He said \"Stop.\"", "She left.", "(It rained.)",
                       "\xE2\x80\x9CYes!\xE2\x80\x9D", "Done.", NULL};
    check_split("He said \"Stop.\" She left. (It rained.) \xE2\x80\x9CYes!\xE2\x80\x9D Done.", w);
}

static void test_split_ellipses(void **state)
{
    (void)state;
    const char *w[] = {"Wait... and then it came.", "Then silence...", "Later\xE2\x80\xA6",
                       "The end.", NULL};
    check_split("Wait... and then it came. Then silence... Later\xE2\x80\xA6 The end.", w);
}

static void test_split_paragraphs(void **state)
{
    (void)state;
    const char *w[] = {"A Title", "First line\ncontinues here.", "Second paragraph.", NULL};
    check_split("A Title\n\nFirst line\ncontinues here.\n \nSecond paragraph.\n", w);
}

static void test_split_lowercase_after_dot_does_not_split(void **state)
{
    (void)state;
    const char *w[] = {"The approx. value is 5.", "Fine.", NULL};
    check_split("The approx. value is 5. Fine.", w);
    const char *w2[] = {"It was 5 p.m. when he came.", NULL};
    check_split("It was 5 p.m. when he came.", w2);
}

static void test_split_empty_and_blank(void **state)
{
    (void)state;
    struct split_span *sp = (struct split_span *)1;
    size_t n = 7;
    assert_int_equal(split_sentences("", 0, &sp, &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_null(sp);
    assert_int_equal(split_sentences(" \n\n \t", 5, &sp, &n), STATUS_OK);
    assert_int_equal(n, 0);
    const char *w[] = {"No terminator at the end", NULL};
    check_split("  No terminator at the end  ", w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_plain_sentences),
        cmocka_unit_test(test_split_abbreviations),
        cmocka_unit_test(test_split_initials),
        cmocka_unit_test(test_split_decimals),
        cmocka_unit_test(test_split_quotes),
        cmocka_unit_test(test_split_ellipses),
        cmocka_unit_test(test_split_paragraphs),
        cmocka_unit_test(test_split_lowercase_after_dot_does_not_split),
        cmocka_unit_test(test_split_empty_and_blank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
