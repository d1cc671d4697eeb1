## src/engine/gguf -- GGUF v2/v3 reader and writer.
src_libmemllm_a_SOURCES += src/engine/gguf.c src/engine/gguf.h

check_PROGRAMS += tests/test_gguf
tests_test_gguf_SOURCES = tests/test_gguf.c
tests_test_gguf_CFLAGS = $(TEST_CFLAGS)
tests_test_gguf_LDADD = $(TEST_LDADD)

EXTRA_DIST += tests/fuzz/fuzz_gguf.c tests/fuzz/corpus_gguf

## `memllm info`, the GGUF inspector, and its end-to-end test.
src_libmemllm_a_SOURCES += src/cli/info.c
TESTS += tests/e2e/info.sh
EXTRA_DIST += tests/e2e/info.sh
