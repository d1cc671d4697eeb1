## src/engine/tok -- SentencePiece-BPE tokenizer (GGUF tokenizer.ggml.model = "llama").
src_libmemllm_a_SOURCES += src/engine/tok.c src/engine/tok.h

check_PROGRAMS += tests/test_tok
tests_test_tok_SOURCES = tests/test_tok.c
tests_test_tok_CFLAGS = $(TEST_CFLAGS)
tests_test_tok_LDADD = $(TEST_LDADD)

EXTRA_DIST += tests/fuzz/fuzz_tok.c
EXTRA_DIST += tests/fuzz/corpus_tok/enc_text tests/fuzz/corpus_tok/enc_special \
	tests/fuzz/corpus_tok/enc_invalid tests/fuzz/corpus_tok/stream_bytes \
	tests/fuzz/corpus_tok/vocab

## `memllm tokenize` and its end-to-end test.
src_libmemllm_a_SOURCES += src/cli/tokenize.c
TESTS += tests/e2e/tokenize.sh
EXTRA_DIST += tests/e2e/tokenize.sh
