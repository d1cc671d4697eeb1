## src/tui -- the terminal interface: app (model), keymap (controller), tui (view), and
## `memllm tui` (src/cli/tui.c, kept with it).
src_libmemllm_a_SOURCES += \
	src/tui/app.c src/tui/app.h \
	src/tui/keymap.c src/tui/keymap.h \
	src/tui/layout.c src/tui/tui.c src/tui/tui.h \
	src/cli/tui.c

check_PROGRAMS += tests/test_app tests/test_keymap tests/test_tui_screen
tests_test_app_SOURCES = tests/test_app.c
tests_test_app_CFLAGS = $(TEST_CFLAGS)
tests_test_app_LDADD = $(TEST_LDADD)
tests_test_keymap_SOURCES = tests/test_keymap.c
tests_test_keymap_CFLAGS = $(TEST_CFLAGS)
tests_test_keymap_LDADD = $(TEST_LDADD)
tests_test_tui_screen_SOURCES = tests/test_tui_screen.c
tests_test_tui_screen_CFLAGS = $(TEST_CFLAGS)
tests_test_tui_screen_LDADD = $(TEST_LDADD)

TESTS += tests/e2e/tui.sh tests/e2e/tui_scenario.sh
EXTRA_DIST += tests/e2e/tui.sh tests/e2e/tui_scenario.sh
