## src/cli -- global options, the subcommand table and one file per subcommand.
src_libmemllm_a_SOURCES += \
	src/cli/opts.c src/cli/opts.h \
	src/cli/commands.c src/cli/commands.h \
	src/cli/paths.c src/cli/paths.h

check_PROGRAMS += tests/test_opts
tests_test_opts_SOURCES = tests/test_opts.c
tests_test_opts_CFLAGS = $(TEST_CFLAGS)
tests_test_opts_LDADD = $(TEST_LDADD)
