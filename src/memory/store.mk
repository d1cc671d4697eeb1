## src/memory/store -- the SQLite triple store (explicit memory) and relations.tsv.
src_libmemllm_a_SOURCES += \
	src/memory/store.c src/memory/store.h \
	src/memory/relations.c src/memory/relations.h

dist_pkgdata_DATA += data/relations.tsv
EXTRA_DIST += data/README.relations tests/fuzz/fuzz_relations.c

check_PROGRAMS += tests/test_store
tests_test_store_SOURCES = tests/test_store.c
tests_test_store_CFLAGS = $(TEST_CFLAGS)
tests_test_store_LDADD = $(TEST_LDADD)
