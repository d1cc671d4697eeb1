/* test_keymap.c -- the key table: lookups per context, names, help/palette coverage. */
#include "config.h"

#include "test_util.h"

#include "tui/keymap.h"

static const unsigned all_ctx[] = {
    KEYMAP_CTX_INPUT, KEYMAP_CTX_CALLS, KEYMAP_CTX_TABLE, KEYMAP_CTX_AUDIT,
    KEYMAP_CTX_SETTINGS, KEYMAP_CTX_PROMPT, KEYMAP_CTX_CONFIRM, KEYMAP_CTX_VIEWER,
    KEYMAP_CTX_PALETTE, KEYMAP_CTX_TRANSCRIPT, KEYMAP_CTX_DETAIL,
};

static void test_keymap_global_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_ctx / sizeof *all_ctx; i++) {
        assert_int_equal(keymap_lookup(all_ctx[i], KEYMAP_CTRL('q')), CMD_QUIT);
        assert_int_equal(keymap_lookup(all_ctx[i], KEYMAP_KEY_ESC), CMD_CANCEL);
        if (all_ctx[i] != KEYMAP_CTX_CONFIRM && all_ctx[i] != KEYMAP_CTX_PROMPT)
            assert_int_equal(keymap_lookup(all_ctx[i], KEYMAP_KEY_F1), CMD_HELP);
    }
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, KEYMAP_CTRL('p')), CMD_PALETTE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, KEYMAP_KEY_F(3)), CMD_SCREEN_TABLE);
}

static void test_keymap_letters_are_text_in_the_input(void **state)
{
    (void)state;
    /* a letter that is a command in the table is text in the input and in prompts */
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, 'q'), CMD_QUIT);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, 'q'), CMD_NONE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_PROMPT, 'a'), CMD_NONE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, 'a'), CMD_ADD);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, '?'), CMD_NONE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, '?'), CMD_HELP);
    assert_true(keymap_ctx_text(KEYMAP_CTX_INPUT));
    assert_true(keymap_ctx_text(KEYMAP_CTX_PROMPT));
    assert_false(keymap_ctx_text(KEYMAP_CTX_TABLE));
    /* Enter depends on where it is pressed */
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, KEYMAP_KEY_RETURN), CMD_SUBMIT);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, KEYMAP_KEY_RETURN), CMD_OPEN);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, KEYMAP_KEY_NEWLINE), CMD_NEWLINE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_INPUT, KEYMAP_KEY_UP), CMD_HISTORY_PREV);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TABLE, KEYMAP_KEY_UP), CMD_UP);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_CONFIRM, 'y'), CMD_YES);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_CONFIRM, 'q'), CMD_NONE);
}

/* Esc cancels and Ctrl-C stops a generation from every pane; 'q' quits only where it is
 * not text; Tab and Shift-Tab move the focus between panes. */
static void test_keymap_cancel_quit_and_focus(void **state)
{
    (void)state;
    static const unsigned panes[] = {KEYMAP_CTX_INPUT, KEYMAP_CTX_TRANSCRIPT, KEYMAP_CTX_CALLS,
                                     KEYMAP_CTX_TABLE, KEYMAP_CTX_AUDIT, KEYMAP_CTX_SETTINGS,
                                     KEYMAP_CTX_DETAIL};
    for (size_t i = 0; i < sizeof panes / sizeof *panes; i++) {
        assert_int_equal(keymap_lookup(panes[i], KEYMAP_KEY_ESC), CMD_CANCEL);
        assert_int_equal(keymap_lookup(panes[i], KEYMAP_CTRL('c')), CMD_STOP);
        assert_int_equal(keymap_lookup(panes[i], KEYMAP_KEY_TAB), CMD_FOCUS_NEXT);
        assert_int_equal(keymap_lookup(panes[i], KEYMAP_KEY_BTAB), CMD_FOCUS_PREV);
        assert_int_equal(keymap_lookup(panes[i], 'q'),
                         panes[i] == KEYMAP_CTX_INPUT ? CMD_NONE : CMD_QUIT);
    }
    assert_int_equal(keymap_lookup(KEYMAP_CTX_PROMPT, 'q'), CMD_NONE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_PALETTE, 'q'), CMD_NONE);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_TRANSCRIPT, KEYMAP_KEY_UP), CMD_UP);
    assert_int_equal(keymap_lookup(KEYMAP_CTX_CALLS, KEYMAP_KEY_DOWN), CMD_DOWN);
}

/* No row is shadowed entirely by earlier rows with the same key (it could never fire). */
static void test_keymap_no_dead_rows(void **state)
{
    (void)state;
    for (const struct keymap_entry *e = keymap_table; e->cmd != CMD_NONE; e++) {
        unsigned left = e->ctx;
        for (const struct keymap_entry *p = keymap_table; p != e; p++)
            if (p->key == e->key)
                left &= ~p->ctx;
        char name[32];
        if (left == 0)
            fail_msg("row for key %s (%s) is never reached",
                     keymap_key_name(e->key, name, sizeof name), keymap_cmd_desc(e->cmd));
    }
}

static void test_keymap_every_command_has_key_and_text(void **state)
{
    (void)state;
    for (int c = CMD_NONE + 1; c < CMD_COUNT_; c++) {
        char keys[128];
        keymap_keys_of((enum cmd)c, keys, sizeof keys);
        assert_true(keys[0] != '\0');
        assert_true(keymap_cmd_desc((enum cmd)c)[0] != '\0');
    }
    assert_true(keymap_cmd_in_palette(CMD_SORT_NEXT));
    assert_false(keymap_cmd_in_palette(CMD_UP));
    char keys[128];
    assert_string_equal(keymap_keys_of(CMD_HELP, keys, sizeof keys), "F1, ?");
}

static void test_keymap_key_names(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(keymap_key_name(KEYMAP_CTRL('p'), b, sizeof b), "Ctrl-P");
    assert_string_equal(keymap_key_name(KEYMAP_KEY_F(5), b, sizeof b), "F5");
    assert_string_equal(keymap_key_name(KEYMAP_KEY_PGDN, b, sizeof b), "PgDn");
    assert_string_equal(keymap_key_name(KEYMAP_KEY_RETURN, b, sizeof b), "Enter");
    assert_string_equal(keymap_key_name(0xE9, b, sizeof b), "\xc3\xa9");
    assert_string_equal(keymap_key_name('/', b, sizeof b), "/");
    /* a small buffer truncates, never overflows */
    char tiny[4];
    keymap_key_name(KEYMAP_KEY_BACKSPACE, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keymap_global_keys),
        cmocka_unit_test(test_keymap_letters_are_text_in_the_input),
        cmocka_unit_test(test_keymap_cancel_quit_and_focus),
        cmocka_unit_test(test_keymap_no_dead_rows),
        cmocka_unit_test(test_keymap_every_command_has_key_and_text),
        cmocka_unit_test(test_keymap_key_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
