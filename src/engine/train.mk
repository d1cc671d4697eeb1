## src/engine/train -- backward pass, AdamW, checkpoints; `memllm train`.
src_libmemllm_a_SOURCES += src/engine/train.c src/engine/train.h

check_PROGRAMS += tests/test_train
tests_test_train_SOURCES = tests/test_train.c
tests_test_train_CFLAGS = $(TEST_CFLAGS)
tests_test_train_LDADD = $(TEST_LDADD)

src_libmemllm_a_SOURCES += src/engine/train_data.c src/cli/train.c
TESTS += tests/e2e/train.sh
EXTRA_DIST += tests/e2e/train.sh
