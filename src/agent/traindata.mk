## src/agent/traindata -- MemLLM training examples from Re-DocRED; `memllm train-data`.
src_libmemllm_a_SOURCES += src/agent/traindata.c src/agent/traindata.h src/cli/train_data.c \
	src/agent/synth.c src/agent/synth.h

check_PROGRAMS += tests/test_traindata
tests_test_traindata_SOURCES = tests/test_traindata.c
tests_test_traindata_CFLAGS = $(TEST_CFLAGS)
tests_test_traindata_LDADD = $(TEST_LDADD)

check_PROGRAMS += tests/test_synth
tests_test_synth_SOURCES = tests/test_synth.c
tests_test_synth_CFLAGS = $(TEST_CFLAGS)
tests_test_synth_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/synth.sh

EXTRA_DIST += tests/data/redocred-tiny.json tests/data/rel_info-tiny.json \
	tests/fuzz/fuzz_traindata.c tests/fuzz/corpus_traindata/tiny.json \
	data/redocred-split.txt \
	tests/e2e/synth.sh tests/fuzz/fuzz_synth.c tests/fuzz/corpus_synth/facts.tsv \
	tests/fuzz/corpus_synth/crlf.tsv tests/fuzz/corpus_synth/bad.tsv \
	tests/fuzz/corpus_synth/nul.tsv
