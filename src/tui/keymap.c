/* keymap.c -- the key table, key names and command descriptions. */
#include "config.h"
#include "tui/keymap.h"

#include <stdio.h>
#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

#define NOT_DIALOG (KEYMAP_CTX_ALL & ~(unsigned)(KEYMAP_CTX_CONFIRM | KEYMAP_CTX_PROMPT))
#define PANES (KEYMAP_CTX_INPUT | KEYMAP_CTX_LISTS)
#define MOVERS (KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER | KEYMAP_CTX_PALETTE)
#define EDITORS (KEYMAP_CTX_INPUT | KEYMAP_CTX_PROMPT | KEYMAP_CTX_PALETTE)

/* First matching row wins, so context-specific rows come before general ones. */
const struct keymap_entry keymap_table[] = {
    {KEYMAP_KEY_F1, NOT_DIALOG, CMD_HELP},
    {'?', KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_HELP},
    {KEYMAP_CTRL('p'), NOT_DIALOG & ~(unsigned)KEYMAP_CTX_PALETTE, CMD_PALETTE},
    {KEYMAP_CTRL('q'), KEYMAP_CTX_ALL, CMD_QUIT},
    {'q', KEYMAP_CTX_LISTS, CMD_QUIT},
    {'q', KEYMAP_CTX_VIEWER, CMD_CANCEL},
    {KEYMAP_KEY_F(2), NOT_DIALOG, CMD_SCREEN_GEN},
    {KEYMAP_KEY_F(3), NOT_DIALOG, CMD_SCREEN_TABLE},
    {KEYMAP_KEY_F(4), NOT_DIALOG, CMD_SCREEN_AUDIT},
    {KEYMAP_KEY_F(5), NOT_DIALOG, CMD_SCREEN_SETTINGS},
    {KEYMAP_KEY_TAB, PANES, CMD_FOCUS_NEXT},
    {KEYMAP_KEY_BTAB, PANES, CMD_FOCUS_PREV},
    {KEYMAP_KEY_TAB, KEYMAP_CTX_PROMPT, CMD_FILTER_FIELD},
    {KEYMAP_CTRL('t'), KEYMAP_CTX_INPUT | KEYMAP_CTX_CALLS | KEYMAP_CTX_TRANSCRIPT,
     CMD_MODE_NEXT},
    {KEYMAP_KEY_ESC, KEYMAP_CTX_ALL, CMD_CANCEL},
    {KEYMAP_CTRL('c'), PANES, CMD_STOP},
    {KEYMAP_CTRL('r'), KEYMAP_CTX_INPUT | KEYMAP_CTX_CALLS | KEYMAP_CTX_SETTINGS, CMD_RERUN},
    {KEYMAP_CTRL('f'), KEYMAP_CTX_INPUT | KEYMAP_CTX_CALLS | KEYMAP_CTX_TRANSCRIPT, CMD_FOLD},
    {KEYMAP_CTRL('o'), KEYMAP_CTX_INPUT, CMD_LOAD_FILE},
    /* the input line */
    {KEYMAP_KEY_RETURN, EDITORS, CMD_SUBMIT},
    {KEYMAP_KEY_NEWLINE, KEYMAP_CTX_INPUT, CMD_NEWLINE},
    {KEYMAP_KEY_UP, KEYMAP_CTX_INPUT, CMD_HISTORY_PREV},
    {KEYMAP_KEY_DOWN, KEYMAP_CTX_INPUT, CMD_HISTORY_NEXT},
    {KEYMAP_KEY_BACKSPACE, EDITORS, CMD_BACKSPACE},
    {KEYMAP_CTRL('h'), EDITORS, CMD_BACKSPACE},
    {KEYMAP_KEY_DELETE, EDITORS, CMD_DELETE},
    {KEYMAP_CTRL('u'), EDITORS, CMD_KILL_LINE},
    {KEYMAP_CTRL('a'), EDITORS, CMD_HOME},
    {KEYMAP_CTRL('e'), EDITORS, CMD_END},
    {KEYMAP_KEY_LEFT, EDITORS | KEYMAP_CTX_SETTINGS, CMD_LEFT},
    {KEYMAP_KEY_RIGHT, EDITORS | KEYMAP_CTX_SETTINGS, CMD_RIGHT},
    {KEYMAP_KEY_HOME, EDITORS, CMD_HOME},
    {KEYMAP_KEY_END, EDITORS, CMD_END},
    {KEYMAP_KEY_PGUP, KEYMAP_CTX_INPUT, CMD_PAGE_UP},
    {KEYMAP_KEY_PGDN, KEYMAP_CTX_INPUT, CMD_PAGE_DOWN},
    /* lists and viewers */
    {KEYMAP_KEY_UP, MOVERS, CMD_UP},
    {'k', KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_UP},
    {KEYMAP_KEY_DOWN, MOVERS, CMD_DOWN},
    {'j', KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_DOWN},
    {KEYMAP_KEY_PGUP, MOVERS, CMD_PAGE_UP},
    {KEYMAP_KEY_PGDN, MOVERS, CMD_PAGE_DOWN},
    {' ', KEYMAP_CTX_TABLE | KEYMAP_CTX_VIEWER, CMD_PAGE_DOWN},
    {KEYMAP_KEY_HOME, KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_HOME},
    {'g', KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_HOME},
    {KEYMAP_KEY_END, KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_END},
    {'G', KEYMAP_CTX_LISTS | KEYMAP_CTX_VIEWER, CMD_END},
    {KEYMAP_KEY_RETURN, KEYMAP_CTX_LISTS, CMD_OPEN},
    {'h', KEYMAP_CTX_SETTINGS, CMD_LEFT},
    {'l', KEYMAP_CTX_SETTINGS, CMD_RIGHT},
    /* the triple table */
    {'/', KEYMAP_CTX_TABLE, CMD_FILTER},
    {'s', KEYMAP_CTX_TABLE, CMD_SORT_NEXT},
    {'r', KEYMAP_CTX_TABLE, CMD_TOGGLE_RETIRED},
    {'a', KEYMAP_CTX_TABLE, CMD_ADD},
    {'e', KEYMAP_CTX_TABLE, CMD_EDIT},
    {'d', KEYMAP_CTX_TABLE, CMD_RETIRE},
    {KEYMAP_KEY_DELETE, KEYMAP_CTX_TABLE, CMD_RETIRE},
    {'v', KEYMAP_CTX_TABLE, CMD_ENTITY},
    {' ', KEYMAP_CTX_CALLS, CMD_OPEN},
    /* yes / no */
    {'y', KEYMAP_CTX_CONFIRM, CMD_YES},
    {'Y', KEYMAP_CTX_CONFIRM, CMD_YES},
    {'n', KEYMAP_CTX_CONFIRM, CMD_NO},
    {'N', KEYMAP_CTX_CONFIRM, CMD_NO},
    {KEYMAP_KEY_NONE, 0, CMD_NONE},
};

enum cmd keymap_lookup(unsigned ctx, int key)
{
    for (const struct keymap_entry *e = keymap_table; e->cmd != CMD_NONE; e++)
        if (e->key == key && (e->ctx & ctx))
            return e->cmd;
    return CMD_NONE;
}

bool keymap_ctx_text(unsigned ctx)
{
    return (ctx & (KEYMAP_CTX_INPUT | KEYMAP_CTX_PROMPT | KEYMAP_CTX_PALETTE)) != 0;
}

const char *keymap_key_name(int key, char *buf, size_t size)
{
    static const char *const special[] = {
        "Up", "Down", "Left", "Right", "Home", "End", "PgUp", "PgDn", "Del", "Shift-Tab",
    };
    if (size == 0)
        return buf;
    if (key == KEYMAP_KEY_TAB)
        snprintf(buf, size, "Tab");
    else if (key == KEYMAP_KEY_RETURN)
        snprintf(buf, size, "Enter");
    else if (key == KEYMAP_KEY_NEWLINE)
        snprintf(buf, size, "Ctrl-J");
    else if (key == KEYMAP_KEY_ESC)
        snprintf(buf, size, "Esc");
    else if (key == KEYMAP_KEY_BACKSPACE)
        snprintf(buf, size, "Backspace");
    else if (key == ' ')
        snprintf(buf, size, "Space");
    else if (key > 0 && key < 32)
        snprintf(buf, size, "Ctrl-%c", 'A' + key - 1);
    else if (key >= KEYMAP_KEY_F1 && key <= KEYMAP_KEY_F12)
        snprintf(buf, size, "F%d", key - KEYMAP_KEY_F1 + 1);
    else if (key >= KEYMAP_KEY_UP && key <= KEYMAP_KEY_BTAB)
        snprintf(buf, size, "%s", special[key - KEYMAP_KEY_UP]);
    else if (key > 32 && key < KEYMAP_KEY_BASE_) {
        char u[5] = {0};
        if (utf8_encode((uint32_t)key, u) == 0)
            snprintf(buf, size, "?");
        else
            snprintf(buf, size, "%s", u);
    } else
        snprintf(buf, size, "?");
    return buf;
}

const char *keymap_cmd_desc(enum cmd c)
{
    switch (c) {
    case CMD_NONE: return "";
    case CMD_QUIT: return _("quit");
    case CMD_HELP: return _("show this help");
    case CMD_PALETTE: return _("command palette: pick any action by name");
    case CMD_SCREEN_GEN: return _("screen: generation and memory calls");
    case CMD_SCREEN_TABLE: return _("screen: triple table");
    case CMD_SCREEN_AUDIT: return _("screen: audit of past runs");
    case CMD_SCREEN_SETTINGS: return _("screen: settings");
    case CMD_FOCUS_NEXT: return _("move the focus to the next pane");
    case CMD_FOCUS_PREV: return _("move the focus to the previous pane");
    case CMD_MODE_NEXT: return _("switch mode: Ask, Teach, Chat");
    case CMD_CANCEL: return _("close, cancel");
    case CMD_UP: return _("up");
    case CMD_DOWN: return _("down");
    case CMD_PAGE_UP: return _("page up");
    case CMD_PAGE_DOWN: return _("page down");
    case CMD_HOME: return _("first row, start of line");
    case CMD_END: return _("last row, end of line");
    case CMD_LEFT: return _("left, decrease a setting");
    case CMD_RIGHT: return _("right, increase a setting");
    case CMD_SUBMIT: return _("send the input (ask, teach or chat)");
    case CMD_NEWLINE: return _("new line in the input");
    case CMD_BACKSPACE: return _("delete the character before the cursor");
    case CMD_DELETE: return _("delete the character under the cursor");
    case CMD_KILL_LINE: return _("clear the input");
    case CMD_HISTORY_PREV: return _("previous input from the history");
    case CMD_HISTORY_NEXT: return _("next input from the history");
    case CMD_STOP: return _("stop the generation");
    case CMD_RERUN: return _("run the last question again");
    case CMD_FOLD: return _("fold or unfold the memory calls in the answer");
    case CMD_LOAD_FILE: return _("teach: load a text file");
    case CMD_OPEN: return _("open: details, expand a call, show a run");
    case CMD_FILTER: return _("filter the table (Tab: next column)");
    case CMD_FILTER_FIELD: return _("next filter column");
    case CMD_SORT_NEXT: return _("sort by the next column");
    case CMD_TOGGLE_RETIRED: return _("show or hide retired triples");
    case CMD_ADD: return _("add a triple");
    case CMD_EDIT: return _("edit the selected triple");
    case CMD_RETIRE: return _("retire the selected triple");
    case CMD_ENTITY: return _("entity view: the subject's neighbourhood");
    case CMD_YES: return _("yes");
    case CMD_NO: return _("no");
    case CMD_COUNT_: break;
    }
    return "";
}

bool keymap_cmd_in_palette(enum cmd c)
{
    switch (c) {
    case CMD_NONE: case CMD_UP: case CMD_DOWN: case CMD_LEFT: case CMD_RIGHT:
    case CMD_BACKSPACE: case CMD_DELETE: case CMD_YES: case CMD_NO: case CMD_PALETTE:
    case CMD_COUNT_: case CMD_CANCEL: case CMD_FILTER_FIELD: case CMD_NEWLINE:
        return false;
    default:
        return true;
    }
}

const char *keymap_keys_of(enum cmd c, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (const struct keymap_entry *e = keymap_table; e->cmd != CMD_NONE; e++) {
        if (e->cmd != c)
            continue;
        bool dup = false; /* the same key in several rows */
        for (const struct keymap_entry *p = keymap_table; p != e; p++)
            if (p->cmd == c && p->key == e->key)
                dup = true;
        if (dup)
            continue;
        char name[24];
        keymap_key_name(e->key, name, sizeof name);
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}
