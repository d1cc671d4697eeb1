## src/engine/qgemm -- int8 products for prompt batches (panel re-layout, VNNI kernel).
src_libmemllm_a_SOURCES += src/engine/qgemm.c src/engine/qgemm.h

check_PROGRAMS += tests/test_qgemm
tests_test_qgemm_SOURCES = tests/test_qgemm.c
tests_test_qgemm_CFLAGS = $(TEST_CFLAGS)
tests_test_qgemm_LDADD = $(TEST_LDADD)
