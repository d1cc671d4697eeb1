/* app.h -- the TUI's model: everything the screen shows, with no curses (STYLE.md 7).
 *
 * The model holds the screen and focus, the overlays (help, command palette, viewer,
 * prompt/form, yes/no question), the transcript of the generation pane as styled spans,
 * the multi-line input (code points) with its history, the memory-call list, one page of
 * the triple table (keyset pagination over mem_triple_list(): never more than a page in
 * RAM), the audit screen's run list and the settings.
 *
 * Commands come from the controller (keymap.h): app_apply() changes the model and returns
 * a reaction mask; app_input_char() inserts typed text.  It never draws.
 *
 * Threads.  Generation runs on a worker thread that the model starts (agent_ask() or
 * agent_write_text()); the agent's events arrive on that thread through
 * app_event_cb(), which converts each into an owned message and queues it under a mutex.
 * The main loop calls app_drain() (main thread) to apply the queued messages.  Every other
 * function is for the main thread only.  While a worker runs, the controller (and so the
 * store it writes) belongs to the worker: edits and settings wait; the table browses
 * through its own connection (app_new's m). */
#ifndef MEMLLM_APP_H
#define MEMLLM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "memory/ctrl.h"
#include "memory/store.h"
#include "tui/keymap.h"
#include "util/log.h"
#include "util/status.h"

enum react {
    REACT_NONE = 0,
    REACT_REDRAW = 1u << 0,
    REACT_RELAYOUT = 1u << 1,
    REACT_QUIT = 1u << 2,
};

enum app_screen { APP_SCREEN_GEN, APP_SCREEN_TABLE, APP_SCREEN_AUDIT, APP_SCREEN_SETTINGS };
enum app_focus { APP_FOCUS_INPUT, APP_FOCUS_CALLS, APP_FOCUS_TABLE, APP_FOCUS_AUDIT,
                 APP_FOCUS_SETTINGS, APP_FOCUS_TRANSCRIPT, APP_FOCUS_DETAIL };
enum app_overlay { APP_OVERLAY_NONE, APP_OVERLAY_HELP, APP_OVERLAY_PALETTE, APP_OVERLAY_VIEWER,
                   APP_OVERLAY_PROMPT, APP_OVERLAY_CONFIRM };
enum app_mode { APP_MODE_ASK, APP_MODE_TEACH, APP_MODE_CHAT };

/* How a piece of text is drawn (the view maps styles to colours or attributes). */
enum app_style {
    APP_STYLE_NORMAL,
    APP_STYLE_TITLE,
    APP_STYLE_USER,   /* the user's question or taught text */
    APP_STYLE_READ,   /* a read call and its results */
    APP_STYLE_WRITE,  /* a write call and its triples */
    APP_STYLE_FAIL,   /* a failed read, a rejected piece */
    APP_STYLE_INFO,   /* timings, notes */
    APP_STYLE_ERROR,
    APP_STYLE_MARK,   /* a triple that grounded the answer / of the selected call */
    APP_STYLE_DIM,    /* retired rows */
};

/* Options for app_new(); borrowed pointers must outlive the app. */
struct app_config {
    struct mem *m;       /* browsing connection (may be NULL: no memory at all) */
    struct ctrl *ctrl;   /* for edits and the agent (may be NULL: edits via m) */
    struct agent *agent; /* may be NULL: memory-browsing mode */
    const char *status;  /* first status line (copied; may be NULL) */
    /* Chat mode: earlier turns go before each question (agent_history_prompt() with tk
     * and at most history_tokens tokens).  history NULL: each question on its own. */
    struct agent_history *history;
    struct tok *tk;
    size_t history_tokens;
};

struct app; /* opaque */

enum status app_new(const struct app_config *cfg, struct app **out);
/* Stops and joins a running worker first.  NULL is a no-op. */
void app_free(struct app *a);

/* ---- input from the controller ------------------------------------------------------- */

/* The keymap context of the current focus/overlay (one KEYMAP_CTX_ bit). */
unsigned app_context(const struct app *a);
/* Apply a command; returns enum react bits. */
unsigned app_apply(struct app *a, enum cmd c);
/* A typed character in a text context (ignored elsewhere); returns enum react bits. */
unsigned app_input_char(struct app *a, uint32_t cp);
/* Key dispatch: keymap_lookup() in app_context(), else text; returns enum react bits. */
unsigned app_key(struct app *a, int key);

/* A mouse event that the view has mapped to a pane of the current screen and the item
 * under the pointer (the call in the panel, the row of the table page, the run, the
 * setting; SIZE_MAX: none).  A click focuses that pane and selects the item; the wheel
 * scrolls that pane by 3 lines without moving the focus (in a help/viewer/palette
 * overlay it scrolls the overlay).  Panes of other screens are ignored.  Returns enum
 * react bits. */
unsigned app_mouse(struct app *a, enum app_focus pane, enum keymap_mouse ev, size_t item);

/* Work deferred while keys keep coming: the incremental filter is applied when the
 * typing pauses (so a burst of keys costs one query).  The loop calls app_idle() when no
 * key is waiting; app_idle_pending() says whether there is such work (read keys without
 * waiting then).  Returns enum react bits. */
bool app_idle_pending(const struct app *a);
unsigned app_idle(struct app *a);

/* The view tells the model how many rows the table and lists have on screen (page
 * size; at least 1 is used).  Returns enum react bits. */
unsigned app_set_page_rows(struct app *a, size_t table_rows, size_t list_rows);

/* ---- events from the worker ---------------------------------------------------------- */

/* An agent_event_fn: pass it to agent_set_events() with the app as user.  Any thread. */
void app_event_cb(void *user, const struct agent_event *ev);
/* A log_hook_fn: pass it to log_set_hook() with the app as user while the interface runs
 * (and remove it before app_free()), so that a module's warnings and errors show on the
 * status line instead of being written over the screen.  Any thread. */
void app_log_cb(void *user, enum log_level level, const char *msg);
/* Apply the queued messages (main thread); returns enum react bits. */
unsigned app_drain(struct app *a);
bool app_busy(const struct app *a);

/* ---- state for the view (borrowed until the next app_ call) -------------------------- */

enum app_screen app_screen_get(const struct app *a);
enum app_focus app_focus_get(const struct app *a);
enum app_overlay app_overlay_get(const struct app *a);
enum app_mode app_mode_get(const struct app *a);
const char *app_mode_name(enum app_mode m); /* translated */
const char *app_status_text(const struct app *a, enum app_style *style);
/* "12.3 tok/s  4.5 s" of the running or last answer; "" when none. */
const char *app_speed_text(const struct app *a);

/* The transcript: spans of styled text ('\n' breaks lines).  Folded call spans carry
 * their short label as text. */
struct app_span {
    enum app_style style;
    const char *text;
    size_t len;
};
size_t app_span_count(const struct app *a);
struct app_span app_span_get(const struct app *a, size_t i);
/* Lines scrolled back from the bottom of the transcript (0: follow the end). */
size_t app_transcript_scroll(const struct app *a);
/* The view says how far back the transcript can scroll (its wrapped lines minus the
 * pane's height) so that scrolling back past the top does not pile up; returns enum
 * react bits. */
unsigned app_transcript_clamp(struct app *a, size_t max_scroll);

/* The input: code points, the cursor index and the prompt label. */
void app_input_get(const struct app *a, const uint32_t **cps, size_t *n, size_t *cursor);

/* Lines of a list or viewer: style + UTF-8 text. */
struct app_line {
    enum app_style style;
    char *text; /* owned by the app */
};

/* Memory calls, oldest first; the selected one (SIZE_MAX: none) is expanded. */
size_t app_call_count(const struct app *a);
/* Heading of call i ("12:03:04 read  France>>capital>>?  2 results  3.1 ms"). */
const char *app_call_title(const struct app *a, size_t i, enum app_style *style);
/* Expansion lines of call i. */
size_t app_call_lines(const struct app *a, size_t i, const struct app_line **lines);
size_t app_call_selected(const struct app *a);
bool app_call_expanded(const struct app *a);

/* The triple table page. */
struct app_row {
    int64_t id;
    char *subj, *rel, *obj;
    int64_t source_id;
    bool retired, conflict;
};
size_t app_table_rows(const struct app *a, const struct app_row **rows);
size_t app_table_cursor(const struct app *a);
enum mem_sort app_table_sort(const struct app *a);
bool app_table_retired_shown(const struct app *a);
int64_t app_table_total(const struct app *a);       /* rows matching the filter; -1 unknown */
bool app_table_total_capped(const struct app *a);   /* total is a lower bound (filtered) */
const char *app_table_filter_text(const struct app *a); /* "subject~fra" or "" */
/* A row's mark: APP_STYLE_MARK when the triple grounded the current answer or belongs to
 * the selected call, APP_STYLE_DIM when retired, else APP_STYLE_NORMAL.  *grounded is
 * set when it grounded the answer. */
enum app_style app_row_style(const struct app *a, const struct app_row *r, bool *grounded);

/* The memory screen's detail pane: the selected triple's details (the lines of the
 * details overlay) and its scroll offset.  app_detail_update() reloads them when the
 * selection changed (the view calls it before drawing); returns enum react bits. */
unsigned app_detail_update(struct app *a);
size_t app_detail_lines(const struct app *a, const struct app_line **lines);
size_t app_detail_scroll(const struct app *a);

/* Viewer and help overlays: title and lines, scroll offset. */
const char *app_viewer_title(const struct app *a);
size_t app_viewer_lines(const struct app *a, const struct app_line **lines);
size_t app_viewer_scroll(const struct app *a);

/* The palette: its filter text and the matching commands with a cursor. */
const char *app_palette_query(const struct app *a);
size_t app_palette_items(const struct app *a, const enum cmd **cmds);
size_t app_palette_cursor(const struct app *a);

/* Prompt / form: a title and up to 3 fields; the active one has the cursor. */
const char *app_prompt_title(const struct app *a);
size_t app_prompt_fields(const struct app *a);
const char *app_prompt_label(const struct app *a, size_t i);
void app_prompt_field(const struct app *a, size_t i, const uint32_t **cps, size_t *n,
                      size_t *cursor);
size_t app_prompt_active(const struct app *a);

/* The yes/no question. */
const char *app_confirm_text(const struct app *a);

/* Audit screen: runs (newest first) with a cursor, and the selected run's lines. */
size_t app_audit_runs(const struct app *a, const struct app_line **lines);
size_t app_audit_cursor(const struct app *a);
size_t app_audit_detail(const struct app *a, const struct app_line **lines);

/* Settings: label and value text of each item, and the cursor. */
size_t app_settings_count(const struct app *a);
const char *app_settings_label(const struct app *a, size_t i);
const char *app_settings_value(const struct app *a, size_t i, char *buf, size_t size);
size_t app_settings_cursor(const struct app *a);

#endif /* MEMLLM_APP_H */
