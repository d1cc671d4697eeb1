## src/engine/quant -- block formats, dequantize/quantize, dot products (scalar, AVX2, AVX-512).
## The SIMD files carry their own target pragmas, so they build with the generic flags.
src_libmemllm_a_SOURCES += src/engine/quant.c src/engine/quant.h \
	src/engine/quant_avx2.c src/engine/quant_avx512.c

check_PROGRAMS += tests/test_quant
tests_test_quant_SOURCES = tests/test_quant.c
tests_test_quant_CFLAGS = $(TEST_CFLAGS)
tests_test_quant_LDADD = $(TEST_LDADD)
