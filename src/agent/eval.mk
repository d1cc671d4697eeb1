## src/agent/eval -- reproducible evaluation (memllm eval write|edit|ppl): metrics, the
## evaluation loops over the agent, and the subcommand.
src_libmemllm_a_SOURCES += src/agent/eval.c src/agent/eval.h src/cli/eval.c
## constrained decoding over a memory (relation names, memory names for reads): shared by
## the eval agent and memllm ask/chat/write; tested in tests/test_eval.c
src_libmemllm_a_SOURCES += src/agent/memcons.c src/agent/memcons.h

check_PROGRAMS += tests/test_eval
tests_test_eval_SOURCES = tests/test_eval.c
tests_test_eval_CFLAGS = $(TEST_CFLAGS)
tests_test_eval_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/eval.sh
EXTRA_DIST += tests/e2e/eval.sh tests/data/zsre-tiny.json tests/fuzz/fuzz_eval.c \
	tests/fuzz/corpus_eval/docs tests/fuzz/corpus_eval/rel_json tests/fuzz/corpus_eval/rel_tsv \
	tests/fuzz/corpus_eval/zsre tests/fuzz/corpus_eval/rel_not_string
