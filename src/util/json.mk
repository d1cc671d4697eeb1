## src/util/json -- strict JSON reader and string writer.
src_libmemllm_a_SOURCES += src/util/json.c src/util/json.h

check_PROGRAMS += tests/test_json
tests_test_json_SOURCES = tests/test_json.c
tests_test_json_CFLAGS = $(TEST_CFLAGS)
tests_test_json_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/fuzz/fuzz_json.c tests/fuzz/corpus_json
