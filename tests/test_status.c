/* test_status.c -- status messages, names and the per-thread detail line. */
#include "config.h"

#include <pthread.h>

#include "test_util.h"
#include "util/status.h"
#include "util/utf8.h"

static void test_status_every_code_has_a_distinct_message(void **state)
{
    (void)state;
    for (int i = 0; i < STATUS_COUNT_; i++) {
        const char *m = status_str((enum status)i);
        assert_non_null(m);
        assert_true(strlen(m) > 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(m, status_str((enum status)j));
    }
    assert_string_equal(status_str(STATUS_OK), "success");
    assert_string_equal(status_name(STATUS_FORMAT), "STATUS_FORMAT");
}

static void test_status_unknown_code_is_safe(void **state)
{
    (void)state;
    assert_string_equal(status_str((enum status)STATUS_COUNT_), "unknown status");
    assert_string_equal(status_str((enum status)-1), "unknown status");
    assert_string_equal(status_name((enum status)9999), "STATUS_UNKNOWN");
}

static void test_status_detail_set_returns_code_and_formats(void **state)
{
    (void)state;
    status_detail_clear();
    assert_string_equal(status_detail(), "");
    assert_int_equal(status_detail_set(STATUS_TRUNCATED, "field %s at byte %d", "n_tensors", 8),
                     STATUS_TRUNCATED);
    assert_string_equal(status_detail(), "field n_tensors at byte 8");
    status_detail_clear();
    assert_string_equal(status_detail(), "");
}

static void test_status_detail_truncates_at_character_boundary(void **state)
{
    (void)state;
    /* 300 two-byte characters = 600 bytes, more than the 511-byte buffer */
    char big[601];
    for (int i = 0; i < 300; i++) {
        big[2 * i] = (char)0xC3;
        big[2 * i + 1] = (char)0xA9; /* é */
    }
    big[600] = '\0';
    status_detail_set(STATUS_FORMAT, "x%s", big);
    const char *d = status_detail();
    assert_true(strlen(d) < 512);
    assert_true(strlen(d) >= 500);
    assert_true(utf8_valid(d, strlen(d)));
}

static void *other_thread(void *arg)
{
    (void)arg;
    status_detail_set(STATUS_IO, "from the other thread");
    return NULL;
}

static void test_status_detail_is_per_thread(void **state)
{
    (void)state;
    status_detail_set(STATUS_IO, "main thread");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    assert_string_equal(status_detail(), "main thread");
}

/* A caller may prefix the current detail with context: the detail passed as an argument
 * is read in full before it is overwritten. */
static void test_status_detail_may_wrap_the_current_detail(void **state)
{
    (void)state;
    status_detail_set(STATUS_PARSE, "byte %d: bad", 7);
    assert_int_equal(status_detail_set(STATUS_PARSE, "%s: %s", "file.json", status_detail()),
                     STATUS_PARSE);
    assert_string_equal(status_detail(), "file.json: byte 7: bad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_every_code_has_a_distinct_message),
        cmocka_unit_test(test_status_unknown_code_is_safe),
        cmocka_unit_test(test_status_detail_set_returns_code_and_formats),
        cmocka_unit_test(test_status_detail_truncates_at_character_boundary),
        cmocka_unit_test(test_status_detail_is_per_thread),
        cmocka_unit_test(test_status_detail_may_wrap_the_current_detail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
