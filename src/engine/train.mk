## src/engine/train -- backward pass, AdamW, checkpoints; `memllm train`.
src_libmemllm_a_SOURCES += src/engine/train.c src/engine/train.h src/engine/train_lora.c

check_PROGRAMS += tests/test_train
tests_test_train_SOURCES = tests/test_train.c
tests_test_train_CFLAGS = $(TEST_CFLAGS)
tests_test_train_LDADD = $(TEST_LDADD)

src_libmemllm_a_SOURCES += src/engine/train_data.c src/cli/train.c
TESTS += tests/e2e/train.sh
EXTRA_DIST += tests/e2e/train.sh

# Throughput measurement, not a test: `make bench-train`; see tests/bench/train_bench.c.
TRAIN_BENCH = tests/bench/train_bench$(EXEEXT)
$(TRAIN_BENCH): tests/bench/train_bench.c src/libmemllm.a
	@$(MKDIR_P) tests/bench
	$(AM_V_CC)$(CC) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) \
		$(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/tests/bench/train_bench.c \
		src/libmemllm.a $(LIBS_ALL) $(LIBS)
CLEANFILES += $(TRAIN_BENCH)
bench-train: $(TRAIN_BENCH)
bench: bench-train
.PHONY: bench-train
EXTRA_DIST += tests/bench/train_bench.c
EXTRA_DIST += tests/fuzz/fuzz_train.c tests/fuzz/corpus_train/mixed tests/fuzz/corpus_train/holdout \
	tests/fuzz/corpus_train/spans
