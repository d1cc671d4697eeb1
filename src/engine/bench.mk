## src/engine/bench -- `memllm bench`: pp/tg speed, bandwidth probe, random-weight models.
src_libmemllm_a_SOURCES += src/engine/bench.c src/engine/bench.h src/cli/bench.c

check_PROGRAMS += tests/test_bench
tests_test_bench_SOURCES = tests/test_bench.c
tests_test_bench_CFLAGS = $(TEST_CFLAGS)
tests_test_bench_LDADD = $(TEST_LDADD)
TESTS += tests/e2e/bench.sh
EXTRA_DIST += tests/e2e/bench.sh

# `make bench-engine` (and `make bench`): the 852.56 M-parameter random model of
# shared/golden/PERF.md in F16, converted with memllm quantize to Q8_0, Q4_0 and Q4_K_M
# (kept in $(BENCH_MODELS_DIR) and reused), then llama-bench's pp512 / tg128 on all four.
# Needs ~3.7 GB of disk and ~2 GB of memory while the F16 file is written.
BENCH_MODELS_DIR = bench-models
BENCH_THREADS = 2
BENCH_REPS = 1
BENCH_ARGS = -p 512 -n 128 -r $(BENCH_REPS) -t $(BENCH_THREADS)
bench-engine: src/memllm$(EXEEXT)
	@$(MKDIR_P) $(BENCH_MODELS_DIR)
	@test -f $(BENCH_MODELS_DIR)/F16.gguf || \
		src/memllm$(EXEEXT) bench --make-model $(BENCH_MODELS_DIR)/F16.gguf
	@for q in Q8_0 Q4_0 Q4_K_M; do \
		test -f $(BENCH_MODELS_DIR)/$$q.gguf || \
		src/memllm$(EXEEXT) quantize -q $(BENCH_MODELS_DIR)/F16.gguf \
			$(BENCH_MODELS_DIR)/$$q.gguf $$q || exit 1; \
	done
	src/memllm$(EXEEXT) bench $(BENCH_ARGS) \
		-m $(BENCH_MODELS_DIR)/F16.gguf -m $(BENCH_MODELS_DIR)/Q8_0.gguf \
		-m $(BENCH_MODELS_DIR)/Q4_0.gguf -m $(BENCH_MODELS_DIR)/Q4_K_M.gguf
bench: bench-engine
.PHONY: bench-engine
