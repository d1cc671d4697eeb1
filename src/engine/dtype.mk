## src/engine/dtype -- GGUF tensor element types and block sizes.
src_libmemllm_a_SOURCES += src/engine/dtype.c src/engine/dtype.h

check_PROGRAMS += tests/test_dtype
tests_test_dtype_SOURCES = tests/test_dtype.c
tests_test_dtype_CFLAGS = $(TEST_CFLAGS)
tests_test_dtype_LDADD = $(TEST_LDADD)
