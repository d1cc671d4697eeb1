## src/util -- status codes, i18n, UTF-8, XDG paths, log, timing.
src_libmemllm_a_SOURCES += \
	src/util/status.c src/util/status.h \
	src/util/i18n.h \
	src/util/utf8.c src/util/utf8.h \
	src/util/xdg.c src/util/xdg.h \
	src/util/log.c src/util/log.h \
	src/util/timing.c src/util/timing.h

check_PROGRAMS += tests/test_status tests/test_utf8 tests/test_xdg tests/test_log
tests_test_status_SOURCES = tests/test_status.c
tests_test_status_CFLAGS = $(TEST_CFLAGS)
tests_test_status_LDADD = $(TEST_LDADD)
tests_test_utf8_SOURCES = tests/test_utf8.c
tests_test_utf8_CFLAGS = $(TEST_CFLAGS)
tests_test_utf8_LDADD = $(TEST_LDADD)
tests_test_xdg_SOURCES = tests/test_xdg.c
tests_test_xdg_CFLAGS = $(TEST_CFLAGS)
tests_test_xdg_LDADD = $(TEST_LDADD)
tests_test_log_SOURCES = tests/test_log.c
tests_test_log_CFLAGS = $(TEST_CFLAGS)
tests_test_log_LDADD = $(TEST_LDADD)
