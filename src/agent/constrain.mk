## src/agent/constrain -- constrained decoding of MemLLM calls; prompted mode for general
## instruct models (few-shot prompts in the model's chat template).
src_libmemllm_a_SOURCES += src/agent/constrain.c src/agent/constrain.h

check_PROGRAMS += tests/test_constrain
tests_test_constrain_SOURCES = tests/test_constrain.c
tests_test_constrain_CFLAGS = $(TEST_CFLAGS)
tests_test_constrain_LDADD = $(TEST_LDADD)

src_libmemllm_a_SOURCES += src/agent/prompted.c src/agent/prompted.h
check_PROGRAMS += tests/test_prompted
tests_test_prompted_SOURCES = tests/test_prompted.c
tests_test_prompted_CFLAGS = $(TEST_CFLAGS)
tests_test_prompted_LDADD = $(TEST_LDADD)

EXTRA_DIST += tests/fuzz/fuzz_constrain.c tests/fuzz/corpus_constrain/write1 \
	tests/fuzz/corpus_constrain/read1 tests/fuzz/corpus_constrain/auto1
