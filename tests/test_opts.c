/* test_opts.c -- global option parsing and the subcommand table. */
#include "config.h"

#include "cli/commands.h"
#include "cli/opts.h"
#include "test_util.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_opts_defaults_without_arguments(void **state)
{
    (void)state;
    const char *argv[] = {"memllm"};
    struct opts o;
    assert_int_equal(opts_parse(ARGC(argv), argv, &o), STATUS_OK);
    assert_null(o.db_path);
    assert_null(o.model_path);
    assert_int_equal(o.threads, 0);
    assert_false(o.json || o.help || o.version || o.mmap);
    assert_int_equal(o.verbose, 0);
    assert_int_equal(o.cmd_index, 1);
}

static void test_opts_long_forms_and_stop_at_subcommand(void **state)
{
    (void)state;
    const char *argv[] = {"memllm", "--db", "/tmp/m.db", "--model=x.gguf", "--threads=2",
                    "--mmap", "--json", "mem", "--json", "list"};
    struct opts o;
    assert_int_equal(opts_parse(ARGC(argv), argv, &o), STATUS_OK);
    assert_string_equal(o.db_path, "/tmp/m.db");
    assert_string_equal(o.model_path, "x.gguf");
    assert_int_equal(o.threads, 2);
    assert_true(o.mmap);
    assert_true(o.json);
    assert_int_equal(o.cmd_index, 7);
    assert_string_equal(argv[o.cmd_index], "mem");
}

static void test_opts_short_clusters_and_attached_values(void **state)
{
    (void)state;
    const char *argv[] = {"memllm", "-vv", "-t4", "-m", "a.gguf", "-v"};
    struct opts o;
    assert_int_equal(opts_parse(ARGC(argv), argv, &o), STATUS_OK);
    assert_int_equal(o.verbose, 3);
    assert_int_equal(o.threads, 4);
    assert_string_equal(o.model_path, "a.gguf");
    assert_int_equal(o.cmd_index, ARGC(argv));
}

static void test_opts_unique_prefix_and_double_dash(void **state)
{
    (void)state;
    const char *argv[] = {"memllm", "--vers", "--", "--help"};
    struct opts o;
    assert_int_equal(opts_parse(ARGC(argv), argv, &o), STATUS_OK);
    assert_true(o.version);
    assert_false(o.help);
    assert_int_equal(o.cmd_index, 3);
}

static void expect_usage_error(int argc, const char **argv, const char *needle)
{
    struct opts o;
    status_detail_clear();
    assert_int_equal(opts_parse(argc, argv, &o), STATUS_USAGE);
    if (!strstr(status_detail(), needle))
        fail_msg("detail '%s' lacks '%s'", status_detail(), needle);
}

static void test_opts_reject_bad_usage_with_a_reason(void **state)
{
    (void)state;
    const char *unknown[] = {"memllm", "--frobnicate"};
    expect_usage_error(2, unknown, "unrecognized option '--frobnicate'");
    const char *missing[] = {"memllm", "--db"};
    expect_usage_error(2, missing, "requires an argument");
    const char *shortmissing[] = {"memllm", "-t"};
    expect_usage_error(2, shortmissing, "requires an argument -- 't'");
    const char *badshort[] = {"memllm", "-x"};
    expect_usage_error(2, badshort, "invalid option -- 'x'");
    const char *ambiguous[] = {"memllm", "--ver"}; /* --verbose and --version */
    expect_usage_error(2, ambiguous, "ambiguous");
    const char *noarg[] = {"memllm", "--json=yes"};
    expect_usage_error(2, noarg, "doesn't allow an argument");
    const char *empty[] = {"memllm", "--db="};
    expect_usage_error(2, empty, "non-empty");
    const char *noname[] = {"memllm", "--=x"}; /* an empty name abbreviates nothing */
    expect_usage_error(2, noname, "unrecognized option '--=x'");
}

static void test_opts_threads_range(void **state)
{
    (void)state;
    int t = -1;
    assert_int_equal(opts_parse_threads("auto", &t), STATUS_OK);
    assert_int_equal(t, 0);
    assert_int_equal(opts_parse_threads("1", &t), STATUS_OK);
    assert_int_equal(t, 1);
    assert_int_equal(opts_parse_threads("1024", &t), STATUS_OK);
    const char *bad[] = {"0", "-1", "1025", "2x", "", " 2", "+2", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 77;
        assert_int_equal(opts_parse_threads(bad[i], &t), STATUS_USAGE);
        assert_int_equal(t, 77);
    }
}

static void test_commands_table_lookup(void **state)
{
    (void)state;
    const struct cli_command *c = cli_command_find("paths");
    assert_non_null(c);
    assert_non_null(c->run);
    assert_null(cli_command_find("no-such-command"));
    for (const struct cli_command *k = cli_commands; k->name; k++) {
        assert_non_null(k->summary);
        assert_ptr_equal(cli_command_find(k->name), k); /* names are unique */
    }
}

static void test_commands_parse_option_values(void **state)
{
    (void)state;
    float f = 7.0f;
    assert_true(cli_parse_float("0.5", 0.0, 1.0, &f));
    assert_true(f == 0.5f);
    f = 7.0f;
    assert_false(cli_parse_float("1.5", 0.0, 1.0, &f));
    assert_false(cli_parse_float("nan", 0.0, 1.0, &f));
    assert_false(cli_parse_float("0.5x", 0.0, 1.0, &f));
    assert_false(cli_parse_float("", 0.0, 1.0, &f));
    assert_true(f == 7.0f);
    uint64_t u = 9;
    assert_true(cli_parse_u64("42", 100, &u));
    assert_int_equal(u, 42);
    u = 9;
    assert_false(cli_parse_u64("101", 100, &u));
    assert_false(cli_parse_u64("-1", 100, &u));
    assert_false(cli_parse_u64("", 100, &u));
    assert_false(cli_parse_u64("4 ", 100, &u));
    assert_false(cli_parse_u64("99999999999999999999999", UINT64_MAX, &u));
    assert_int_equal(u, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_defaults_without_arguments),
        cmocka_unit_test(test_opts_long_forms_and_stop_at_subcommand),
        cmocka_unit_test(test_opts_short_clusters_and_attached_values),
        cmocka_unit_test(test_opts_unique_prefix_and_double_dash),
        cmocka_unit_test(test_opts_reject_bad_usage_with_a_reason),
        cmocka_unit_test(test_opts_threads_range),
        cmocka_unit_test(test_commands_table_lookup),
        cmocka_unit_test(test_commands_parse_option_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
