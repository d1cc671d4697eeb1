## src/agent/agent -- the MemLLM loop (read mode, write mode, events, grounding), the
## sentence splitter, and the subcommands ask, write, chat and audit.
src_libmemllm_a_SOURCES += src/agent/agent.c src/agent/agent.h \
	src/agent/split.c src/agent/split.h \
	src/agent/embed_model.c src/agent/embed_model.h \
	src/cli/ask.c src/cli/ask.h src/cli/write.c src/cli/chat.c src/cli/audit.c

check_PROGRAMS += tests/test_agent tests/test_split tests/test_embed_model
tests_test_embed_model_SOURCES = tests/test_embed_model.c
tests_test_embed_model_CFLAGS = $(TEST_CFLAGS)
tests_test_embed_model_LDADD = $(TEST_LDADD)
tests_test_agent_SOURCES = tests/test_agent.c
tests_test_agent_CFLAGS = $(TEST_CFLAGS)
tests_test_agent_LDADD = $(TEST_LDADD)
tests_test_split_SOURCES = tests/test_split.c
tests_test_split_CFLAGS = $(TEST_CFLAGS)
tests_test_split_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/agent.sh tests/e2e/interrupt.sh
EXTRA_DIST += tests/e2e/agent.sh tests/e2e/interrupt.sh tests/fuzz/fuzz_split.c \
	tests/fuzz/corpus_split/mixed
