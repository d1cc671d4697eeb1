## src/engine/model, samp, pool -- the forward pass, the sampler and the worker pool.
src_libmemllm_a_SOURCES += \
	src/engine/pool.c src/engine/pool.h \
	src/engine/model.c src/engine/model.h \
	src/engine/wmem.c src/engine/wmem.h \
	src/engine/samp.c src/engine/samp.h \
	src/cli/generate.c

check_PROGRAMS += tests/test_pool tests/test_model tests/test_samp tests/test_wmem
tests_test_pool_SOURCES = tests/test_pool.c
tests_test_pool_CFLAGS = $(TEST_CFLAGS)
tests_test_pool_LDADD = $(TEST_LDADD)
tests_test_model_SOURCES = tests/test_model.c
tests_test_model_CFLAGS = $(TEST_CFLAGS)
tests_test_model_LDADD = $(TEST_LDADD)
tests_test_wmem_SOURCES = tests/test_wmem.c
tests_test_wmem_CFLAGS = $(TEST_CFLAGS)
tests_test_wmem_LDADD = $(TEST_LDADD)
tests_test_samp_SOURCES = tests/test_samp.c
tests_test_samp_CFLAGS = $(TEST_CFLAGS)
tests_test_samp_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/generate.sh
EXTRA_DIST += tests/e2e/generate.sh
EXTRA_DIST += tests/fuzz/fuzz_model.c tests/fuzz/corpus_model/tiny-q8_0.gguf \
	tests/fuzz/corpus_model/tiny-f32.gguf
