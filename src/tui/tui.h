/* tui.h -- the TUI's view: the only module that includes curses.h (STYLE.md section 7).
 *
 * tui_layout() is a pure function of the terminal size, the screen and the input height:
 * it never returns a negative size and every rectangle lies inside the terminal (a pane
 * that does not fit gets height or width 0).  tui_draw() redraws the whole screen from the
 * model into stdscr and shows it with wnoutrefresh() + one doupdate().  tui_read_key()
 * waits for a key with a timeout and returns the project's key codes (keymap.h).
 *
 * Colours: when the terminal has them and NO_COLOR is unset (or empty), styles get
 * colours; otherwise attributes only (bold, underline, dim, reverse). */
#ifndef MEMLLM_TUI_H
#define MEMLLM_TUI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tui/app.h"
#include "util/status.h"

struct tui_rect {
    int y, x, h, w;
};

struct tui_layout {
    struct tui_rect title;   /* top row */
    struct tui_rect status;  /* bottom row */
    struct tui_rect main;    /* transcript / table / run list / settings (heading row
                                included) */
    struct tui_rect input;   /* generation screen: the input box (else h 0) */
    struct tui_rect side;    /* generation: the memory-call panel; memory: the selected
                                triple's details; audit: the run's details (h or w 0
                                when it does not fit) */
    struct tui_rect overlay; /* the box of help, palette, viewer, prompt and question */
    bool too_small;          /* below TUI_MIN_COLS x TUI_MIN_ROWS: every rectangle is
                                empty and the view shows one line saying so */
};

/* Minimal usable size; smaller terminals get a one-line "too small" notice. */
#define TUI_MIN_ROWS 24
#define TUI_MIN_COLS 80

/* Layout for a rows x cols terminal (negative sizes count as 0).  input_lines: lines the
 * input needs (at least 1 is given, at most 5).  Below the minimum size only too_small
 * is set. */
void tui_layout(int rows, int cols, enum app_screen screen, size_t input_lines,
                struct tui_layout *out);

struct tui; /* opaque */

/* Start curses on the streams (newterm; out NULL = stdout, in NULL = stdin); color false
 * forces monochrome.  The terminal is restored by tui_close(). */
enum status tui_open(FILE *out, FILE *in, bool color, struct tui **out_t);
void tui_close(struct tui *t); /* endwin(); NULL is a no-op */

/* Redraw everything from a (also tells it the page sizes). */
void tui_draw(struct tui *t, struct app *a);
/* A key (keymap.h codes), KEYMAP_KEY_RESIZE after a size change, KEYMAP_KEY_NONE after
 * timeout_ms without input. */
int tui_read_key(struct tui *t, int timeout_ms);
/* After tui_read_key() returned KEYMAP_KEY_MOUSE: where (row, column) and what it was. */
void tui_last_mouse(const struct tui *t, int *y, int *x, enum keymap_mouse *ev);
/* A mouse event at screen row y, column x: finds the pane and item under it in the last
 * drawn layout and passes them to app_mouse().  Returns enum react bits. */
unsigned tui_mouse(struct tui *t, struct app *a, int y, int x, enum keymap_mouse ev);
/* Apply a new terminal size (after SIGWINCH); 0/0: ask the terminal. */
void tui_resize(struct tui *t, int rows, int cols);

/* Tests: the text of screen row y as UTF-8 (trailing blanks removed) into buf. */
const char *tui_row_text(struct tui *t, int y, char *buf, size_t size);

/* The main loop: draw, drain the app's events, read keys with a timeout, until a quit
 * command or *stop becomes non-zero (set from signal handlers).  *winch non-zero
 * (set by a SIGWINCH handler) means the size changed.  Either pointer may be NULL. */
void tui_run(struct tui *t, struct app *a, volatile sig_atomic_t *stop,
             volatile sig_atomic_t *winch);

#endif /* MEMLLM_TUI_H */
