## src/memory/ctrl -- the MemLLM read and write semantics over store + embed + sim.
src_libmemllm_a_SOURCES += src/memory/ctrl.c src/memory/ctrl.h

check_PROGRAMS += tests/test_ctrl
tests_test_ctrl_SOURCES = tests/test_ctrl.c
tests_test_ctrl_CFLAGS = $(TEST_CFLAGS)
tests_test_ctrl_LDADD = $(TEST_LDADD)

## src/cli/mem*.c -- the `memllm mem` subcommands (they need ctrl; kept with it).
src_libmemllm_a_SOURCES += src/cli/mem.c src/cli/mem.h src/cli/mem_io.c src/cli/mem_bench.c

TESTS += tests/e2e/mem.sh tests/e2e/mem_crash.sh
EXTRA_DIST += tests/e2e/mem.sh tests/e2e/mem_crash.sh
EXTRA_DIST += tests/fuzz/fuzz_mem_import.c tests/fuzz/corpus_mem_import
