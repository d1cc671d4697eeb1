/* test_xdg.c -- XDG base directory resolution and directory creation. */
#include "config.h"

#include <sys/stat.h>

#include "test_util.h"
#include "util/xdg.h"

static void test_xdg_uses_absolute_variable(void **state)
{
    (void)state;
    char *p = NULL;
    setenv("XDG_DATA_HOME", "/srv/data", 1);
    assert_int_equal(xdg_path(XDG_KIND_DATA, "memory.db", &p), STATUS_OK);
    assert_string_equal(p, "/srv/data/memllm/memory.db");
    free(p);
    setenv("XDG_DATA_HOME", "/srv/data/", 1); /* trailing slash: no double slash */
    assert_int_equal(xdg_path(XDG_KIND_DATA, NULL, &p), STATUS_OK);
    assert_string_equal(p, "/srv/data/memllm");
    free(p);
}

static void test_xdg_ignores_relative_variable_and_falls_back_to_home(void **state)
{
    (void)state;
    char *p = NULL;
    setenv("HOME", "/home/ada", 1);
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    assert_int_equal(xdg_path(XDG_KIND_CONFIG, "config", &p), STATUS_OK);
    assert_string_equal(p, "/home/ada/.config/memllm/config");
    free(p);
    unsetenv("XDG_STATE_HOME");
    assert_int_equal(xdg_path(XDG_KIND_STATE, "memllm.log", &p), STATUS_OK);
    assert_string_equal(p, "/home/ada/.local/state/memllm/memllm.log");
    free(p);
    setenv("XDG_DATA_HOME", "", 1);
    assert_int_equal(xdg_path(XDG_KIND_DATA, NULL, &p), STATUS_OK);
    assert_string_equal(p, "/home/ada/.local/share/memllm");
    free(p);
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(xdg_path(XDG_KIND_CACHE, NULL, &p), STATUS_OK);
    assert_string_equal(p, "/home/ada/.cache/memllm");
    free(p);
}

static void test_xdg_rejects_unknown_kind(void **state)
{
    (void)state;
    char *p = NULL;
    assert_int_equal(xdg_path((enum xdg_kind)42, NULL, &p), STATUS_INVALID);
    assert_null(p);
}

static void test_xdg_mkdirs_creates_parents_private(void **state)
{
    (void)state;
    char *tmp = test_tmpdir();
    char dir[4200], file[4300];
    snprintf(dir, sizeof dir, "%s/a/b/c", tmp);
    assert_int_equal(xdg_mkdirs(dir), STATUS_OK);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(xdg_mkdirs(dir), STATUS_OK); /* idempotent */
    snprintf(file, sizeof file, "%s/x/y/memory.db", tmp);
    assert_int_equal(xdg_mkdirs_for(file), STATUS_OK);
    snprintf(dir, sizeof dir, "%s/x/y", tmp);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(xdg_mkdirs_for("plain-file"), STATUS_OK);
    test_rmtree(tmp);
}

static void test_xdg_mkdirs_reports_a_file_in_the_way(void **state)
{
    (void)state;
    char *tmp = test_tmpdir();
    char file[4200], dir[4300];
    snprintf(file, sizeof file, "%s/blocker", tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/blocker/sub", tmp);
    assert_int_equal(xdg_mkdirs(dir), STATUS_IO);
    assert_non_null(strstr(status_detail(), "blocker"));
    test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xdg_uses_absolute_variable),
        cmocka_unit_test(test_xdg_ignores_relative_variable_and_falls_back_to_home),
        cmocka_unit_test(test_xdg_rejects_unknown_kind),
        cmocka_unit_test(test_xdg_mkdirs_creates_parents_private),
        cmocka_unit_test(test_xdg_mkdirs_reports_a_file_in_the_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
