## src/protocol/call -- MemLLM call syntax: parse, find and format MEM_READ / MEM_WRITE.
src_libmemllm_a_SOURCES += src/protocol/call.c src/protocol/call.h

check_PROGRAMS += tests/test_call
tests_test_call_SOURCES = tests/test_call.c
tests_test_call_CFLAGS = $(TEST_CFLAGS)
tests_test_call_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/fuzz/fuzz_call.c tests/fuzz/corpus_call
