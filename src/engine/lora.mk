## src/engine/lora -- LoRA adapters (llama.cpp adapter GGUF files): load, check, apply, merge;
## and `memllm lora-merge`.
src_libmemllm_a_SOURCES += src/engine/lora.c src/engine/lora.h src/cli/lora_merge.c

check_PROGRAMS += tests/test_lora
tests_test_lora_SOURCES = tests/test_lora.c
tests_test_lora_CFLAGS = $(TEST_CFLAGS)
tests_test_lora_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/lora.sh
EXTRA_DIST += tests/e2e/lora.sh tests/fuzz/fuzz_lora.c tests/fuzz/corpus_lora
