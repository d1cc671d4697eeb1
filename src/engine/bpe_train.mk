## src/engine/bpe_train -- BPE vocabulary training into a GGUF tokenizer; `memllm train-tokenizer`.
src_libmemllm_a_SOURCES += src/engine/bpe_train.c src/engine/bpe_train.h \
	src/cli/train_tokenizer.c

check_PROGRAMS += tests/test_bpe_train
tests_test_bpe_train_SOURCES = tests/test_bpe_train.c
tests_test_bpe_train_CFLAGS = $(TEST_CFLAGS)
tests_test_bpe_train_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/train_tools.sh
EXTRA_DIST += tests/e2e/train_tools.sh tests/fuzz/fuzz_bpe_train.c \
	tests/fuzz/corpus_bpe_train/mixed tests/fuzz/corpus_bpe_train/repeat
