## tests -- shared test files and end-to-end scripts.
noinst_HEADERS += tests/test_util.h
TESTS += tests/e2e/cli.sh tests/po_complete.sh
EXTRA_DIST += tests/e2e/cli.sh tests/po_complete.sh tests/e2e/lib.sh \
	tests/fuzz/fuzz_utf8.c tests/fuzz/corpus_utf8/mixed tests/fuzz/corpus_utf8/broken
