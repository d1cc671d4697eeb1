/* test_log.c -- the log file: levels, format, no output before open; the hook; diverting
 * standard error. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

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

struct seen {
    int n;
    enum log_level level[8];
    char msg[8][64];
};

static void record(void *user, enum log_level level, const char *msg)
{
    struct seen *s = user;
    if (s->n < 8) {
        s->level[s->n] = level;
        snprintf(s->msg[s->n], sizeof s->msg[0], "%s", msg);
        s->n++;
    }
}

static void test_log_hook_gets_messages_that_pass_the_level(void **state)
{
    (void)state;
    struct seen s = {0};
    log_set_level(LOG_LEVEL_WARN);
    log_set_hook(record, &s); /* no file open: the hook still gets them */
    log_msg(LOG_LEVEL_ERROR, "disk %s", "full");
    log_msg(LOG_LEVEL_WARN, "slow %d", 7);
    log_msg(LOG_LEVEL_INFO, "chatty");
    log_msg(LOG_LEVEL_DEBUG, "chattier");
    char *tmp = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/memllm.log", tmp);
    assert_int_equal(log_open(path, LOG_LEVEL_INFO), STATUS_OK);
    log_msg(LOG_LEVEL_INFO, "%s", "now info too"); /* the file and the hook */
    log_set_hook(NULL, NULL);
    log_msg(LOG_LEVEL_ERROR, "after removal");
    log_close();
    log_set_level(LOG_LEVEL_WARN);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.level[0], LOG_LEVEL_ERROR);
    assert_string_equal(s.msg[0], "disk full");
    assert_int_equal(s.level[1], LOG_LEVEL_WARN);
    assert_string_equal(s.msg[1], "slow 7");
    assert_int_equal(s.level[2], LOG_LEVEL_INFO);
    assert_string_equal(s.msg[2], "now info too");
    char *text = slurp(path);
    assert_non_null(strstr(text, "info: now info too\n"));
    assert_non_null(strstr(text, "error: after removal\n"));
    free(text);
    test_rmtree(tmp);
}

static bool same_file(int fd, const struct stat *want)
{
    struct stat sb;
    return fstat(fd, &sb) == 0 && sb.st_dev == want->st_dev && sb.st_ino == want->st_ino;
}

/* What is written to fd 2 or stderr while diverted lands in the file, and fd 2 is the
 * same file as before afterwards. */
static void test_log_stderr_divert_and_restore(void **state)
{
    (void)state;
    char *tmp = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/state/memllm.log", tmp);
    struct stat before;
    assert_int_equal(fstat(STDERR_FILENO, &before), 0);
    assert_int_equal(log_stderr_restore(), 0); /* not diverted: nothing to do */

    assert_int_equal(log_stderr_divert(path), STATUS_OK);
    assert_int_equal(log_stderr_divert(path), STATUS_INVALID); /* not nested */
    assert_false(same_file(STDERR_FILENO, &before));
    assert_int_equal(write(STDERR_FILENO, "raw bytes\n", 10), 10);
    fprintf(stderr, "through stdio %d\n", 5); /* 16 bytes; flushed by the restore */
    assert_int_equal(log_stderr_restore(), 26);
    assert_true(same_file(STDERR_FILENO, &before));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *text = slurp(path);
    assert_string_equal(text, "raw bytes\nthrough stdio 5\n");
    free(text);

    /* appended to, and only the growth counted */
    assert_int_equal(log_stderr_divert(path), STATUS_OK);
    assert_int_equal(write(STDERR_FILENO, "more\n", 5), 5);
    assert_int_equal(log_stderr_restore(), 5);
    text = slurp(path);
    assert_string_equal(text, "raw bytes\nthrough stdio 5\nmore\n");
    free(text);

    /* no path, or one that cannot be opened: /dev/null */
    assert_int_equal(log_stderr_divert(NULL), STATUS_OK);
    assert_false(same_file(STDERR_FILENO, &before));
    assert_int_equal(write(STDERR_FILENO, "gone\n", 5), 5);
    assert_int_equal(log_stderr_restore(), 0);
    assert_true(same_file(STDERR_FILENO, &before));
    assert_int_equal(log_stderr_divert("/proc/memllm-no/such.log"), STATUS_OK);
    assert_int_equal(log_stderr_restore(), 0);
    assert_true(same_file(STDERR_FILENO, &before));
    test_rmtree(tmp);
}

/* A failed assertion must not leave standard error (where cmocka reports) diverted. */
static int restore_stderr(void **state)
{
    (void)state;
    log_stderr_restore();
    log_set_hook(NULL, NULL);
    return 0;
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
        cmocka_unit_test_teardown(test_log_hook_gets_messages_that_pass_the_level,
                                  restore_stderr),
        cmocka_unit_test_teardown(test_log_stderr_divert_and_restore, restore_stderr),
        cmocka_unit_test(test_timing_is_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
