/* keymap.h -- the TUI's controller: the project's own key codes, the commands (enum cmd)
 * and the one table that maps keys to commands (STYLE.md section 7).
 *
 * A key is an int: a Unicode code point for a character (Ctrl-A .. Ctrl-Z are 1 .. 26,
 * Escape 27, Backspace 127), or one of the KEYMAP_KEY_ values above U+10FFFF for the keys
 * that have no character.  The view (tui.c) turns curses key codes into these.
 *
 * The table is searched in the current context: a row applies when its context mask has
 * the context's bit.  In text contexts (the input line, a prompt, a form) a printable
 * character that no row claims is text for the model (app_input_char()).  The help screen
 * and the command palette are generated from the same table. */
#ifndef MEMLLM_KEYMAP_H
#define MEMLLM_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum keymap_key {
    KEYMAP_KEY_NONE = 0,
    KEYMAP_KEY_CTRL_A = 1, /* Ctrl-<letter> = 1 .. 26 */
    KEYMAP_KEY_TAB = 9,
    KEYMAP_KEY_NEWLINE = 10, /* Ctrl-J */
    KEYMAP_KEY_RETURN = 13,
    KEYMAP_KEY_ESC = 27,
    KEYMAP_KEY_BACKSPACE = 127,
    KEYMAP_KEY_BASE_ = 0x110000,
    KEYMAP_KEY_UP,
    KEYMAP_KEY_DOWN,
    KEYMAP_KEY_LEFT,
    KEYMAP_KEY_RIGHT,
    KEYMAP_KEY_HOME,
    KEYMAP_KEY_END,
    KEYMAP_KEY_PGUP,
    KEYMAP_KEY_PGDN,
    KEYMAP_KEY_DELETE,
    KEYMAP_KEY_BTAB, /* Shift-Tab */
    KEYMAP_KEY_F1,   /* F1 .. F12 consecutive */
    KEYMAP_KEY_F12 = KEYMAP_KEY_F1 + 11,
    KEYMAP_KEY_RESIZE,
    KEYMAP_KEY_MOUSE, /* a mouse event: the view maps it to a pane (app_mouse()) */
};

/* Mouse events as the view hands them to the model (app_mouse()); no curses here. */
enum keymap_mouse {
    KEYMAP_MOUSE_CLICK,      /* button 1 pressed or clicked */
    KEYMAP_MOUSE_WHEEL_UP,   /* wheel away from the user: scroll back */
    KEYMAP_MOUSE_WHEEL_DOWN, /* wheel towards the user */
};
#define KEYMAP_CTRL(c) ((c) & 0x1f)
#define KEYMAP_KEY_F(n) (KEYMAP_KEY_F1 + (n) - 1)

enum cmd {
    CMD_NONE = 0,
    /* global */
    CMD_QUIT,
    CMD_HELP,
    CMD_PALETTE,
    CMD_SCREEN_GEN,
    CMD_SCREEN_TABLE,
    CMD_SCREEN_AUDIT,
    CMD_SCREEN_SETTINGS,
    CMD_FOCUS_NEXT,
    CMD_FOCUS_PREV,
    CMD_MODE_NEXT, /* Ask -> Teach -> Chat */
    CMD_CANCEL,    /* Escape: close the overlay, stop the prompt, stop generation */
    /* moving */
    CMD_UP,
    CMD_DOWN,
    CMD_PAGE_UP,
    CMD_PAGE_DOWN,
    CMD_HOME,
    CMD_END,
    CMD_LEFT,
    CMD_RIGHT,
    /* text */
    CMD_SUBMIT,
    CMD_NEWLINE,
    CMD_BACKSPACE,
    CMD_DELETE,
    CMD_KILL_LINE,
    CMD_HISTORY_PREV,
    CMD_HISTORY_NEXT,
    CMD_STOP, /* stop the generation */
    CMD_RERUN,
    CMD_FOLD,
    CMD_LOAD_FILE,
    /* table */
    CMD_OPEN,  /* details of the selected row / expand a call / open a run */
    CMD_FILTER,
    CMD_FILTER_FIELD,
    CMD_SORT_NEXT,
    CMD_TOGGLE_RETIRED,
    CMD_ADD,
    CMD_EDIT,
    CMD_RETIRE,
    CMD_ENTITY,
    /* dialogs */
    CMD_YES,
    CMD_NO,
    CMD_COUNT_
};

/* Where a key is pressed (bits of a context mask). */
enum keymap_ctx {
    KEYMAP_CTX_INPUT = 1u << 0,    /* the generation pane's input line */
    KEYMAP_CTX_CALLS = 1u << 1,    /* the memory-call panel */
    KEYMAP_CTX_TABLE = 1u << 2,    /* the triple table */
    KEYMAP_CTX_AUDIT = 1u << 3,    /* the run list of the audit screen */
    KEYMAP_CTX_SETTINGS = 1u << 4, /* the settings panel */
    KEYMAP_CTX_PROMPT = 1u << 5,   /* a one-line prompt or form field (filter, edit, file) */
    KEYMAP_CTX_CONFIRM = 1u << 6,  /* a yes/no question */
    KEYMAP_CTX_VIEWER = 1u << 7,   /* a scrolled overlay: help, details, entity */
    KEYMAP_CTX_PALETTE = 1u << 8,  /* the command palette */
    KEYMAP_CTX_TRANSCRIPT = 1u << 9, /* the generation pane's transcript (scrolls) */
    KEYMAP_CTX_DETAIL = 1u << 10,    /* the memory screen's detail pane (scrolls) */
};
#define KEYMAP_CTX_LISTS (KEYMAP_CTX_CALLS | KEYMAP_CTX_TABLE | KEYMAP_CTX_AUDIT | \
                          KEYMAP_CTX_SETTINGS | KEYMAP_CTX_TRANSCRIPT | KEYMAP_CTX_DETAIL)
#define KEYMAP_CTX_ALL 0x7ffu

struct keymap_entry {
    int key;
    unsigned ctx;     /* enum keymap_ctx bits */
    enum cmd cmd;
};

/* The table (ends with a row whose cmd is CMD_NONE). */
extern const struct keymap_entry keymap_table[];

/* The command of key in context ctx (one KEYMAP_CTX_ bit), or CMD_NONE. */
enum cmd keymap_lookup(unsigned ctx, int key);

/* True when the context takes typed characters as text. */
bool keymap_ctx_text(unsigned ctx);

/* Name of a key for the help screen ("Ctrl-P", "F1", "PgDn", "q"); written to buf
 * (at least 16 bytes), which is returned. */
const char *keymap_key_name(int key, char *buf, size_t size);

/* What a command does, translated (for help and palette); "" for CMD_NONE. */
const char *keymap_cmd_desc(enum cmd c);

/* Commands a user can pick in the palette (no pure movement or text editing). */
bool keymap_cmd_in_palette(enum cmd c);

/* All keys bound to c (in any context) as "F1, ?" into buf; returns buf. */
const char *keymap_keys_of(enum cmd c, char *buf, size_t size);

#endif /* MEMLLM_KEYMAP_H */
