## src/engine/quantize -- model conversion (`memllm quantize`) with llama-quantize's recipes.
src_libmemllm_a_SOURCES += src/engine/quantize.c src/engine/quantize.h src/cli/quantize.c

check_PROGRAMS += tests/test_quantize
tests_test_quantize_SOURCES = tests/test_quantize.c
tests_test_quantize_CFLAGS = $(TEST_CFLAGS)
tests_test_quantize_LDADD = $(TEST_LDADD)
TESTS += tests/e2e/quantize.sh
EXTRA_DIST += tests/e2e/quantize.sh
