/* test_log.c -- the log file: levels, format, no output before open. */
#include "config.h"

#include "test_util.h"
#include "util/log.h"
#include "util/timing.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_log_writes_levels_up_to_the_threshold(void **state)
{
    (void)state;
    char *tmp = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/sub/memllm.log", tmp);
    log_msg(LOG_LEVEL_ERROR, "before open %d", 1); /* dropped, no crash */
    assert_int_equal(log_open(path, LOG_LEVEL_INFO), STATUS_OK);
    log_msg(LOG_LEVEL_ERROR, "an error %d", 42);
    log_msg(LOG_LEVEL_INFO, "some info");
    log_msg(LOG_LEVEL_DEBUG, "hidden debug");
    log_set_level(LOG_LEVEL_DEBUG);
    assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
    log_msg(LOG_LEVEL_DEBUG, "shown debug");
    log_close();
    log_msg(LOG_LEVEL_ERROR, "after close");
    char *text = slurp(path);
    assert_null(strstr(text, "before open"));
    assert_non_null(strstr(text, "error: an error 42\n"));
    assert_non_null(strstr(text, "info: some info\n"));
    assert_null(strstr(text, "hidden debug"));
    assert_non_null(strstr(text, "debug: shown debug\n"));
    assert_null(strstr(text, "after close"));
    /* lines start with an ISO 8601 UTC timestamp */
    assert_true(text[4] == '-' && text[10] == 'T');
    free(text);
    test_rmtree(tmp);
}

static void test_log_open_reports_unwritable_path(void **state)
{
    (void)state;
    assert_int_equal(log_open("/proc/memllm-no/such.log", LOG_LEVEL_INFO), STATUS_IO);
    assert_true(strlen(status_detail()) > 0);
}

static void test_timing_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = timing_now_ns();
    uint64_t b = timing_now_ns();
    assert_true(b >= a);
    assert_true(timing_since_s(a) >= 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_writes_levels_up_to_the_threshold),
        cmocka_unit_test(test_log_open_reports_unwritable_path),
        cmocka_unit_test(test_timing_is_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
