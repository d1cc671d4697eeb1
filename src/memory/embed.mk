## src/memory/embed, src/memory/sim -- embedders behind one interface; exact cosine top-k.
src_libmemllm_a_SOURCES += \
	src/memory/embed.c src/memory/embed.h \
	src/memory/sim.c src/memory/sim.h

check_PROGRAMS += tests/test_embed tests/test_sim
tests_test_embed_SOURCES = tests/test_embed.c
tests_test_embed_CFLAGS = $(TEST_CFLAGS)
tests_test_embed_LDADD = $(TEST_LDADD)
tests_test_sim_SOURCES = tests/test_sim.c
tests_test_sim_CFLAGS = $(TEST_CFLAGS)
tests_test_sim_LDADD = $(TEST_LDADD)

# Measurement program, not a test (Makefile.am has no EXTRA_PROGRAMS to append to, so it
# is an explicit rule): `make bench-sim` builds it and `make bench` builds all benchmarks.
SIM_BENCH = tests/bench/sim_bench$(EXEEXT)
$(SIM_BENCH): tests/bench/sim_bench.c src/libmemllm.a
	@$(MKDIR_P) tests/bench
	$(AM_V_CC)$(CC) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) \
		$(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/tests/bench/sim_bench.c \
		src/libmemllm.a $(LIBS_ALL) $(LIBS)
CLEANFILES += $(SIM_BENCH)
bench-sim: $(SIM_BENCH)
bench: bench-sim
.PHONY: bench-sim
EXTRA_DIST += tests/bench/sim_bench.c
EXTRA_DIST += tests/fuzz/fuzz_embed.c tests/fuzz/corpus_embed
