/* test_app.c -- the TUI model without a terminal: commands, text input, events from a
 * (fake) worker, and the triple table's keyset paging over a store of 10,000 triples. */
#include "config.h"

#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#include "engine/tok.h"
#include "memory/ctrl.h"
#include "memory/embed.h"
#include "memory/store.h"
#include "tui/app.h"
#include "tui/keymap.h"
#include "util/log.h"
#include "util/utf8.h"

#define N_BIG 10000

/* ---- helpers ------------------------------------------------------------------------- */

struct app_fixture {
    struct mem *m;
    struct app *a;
};

static void type(struct app *a, const char *s)
{
    for (size_t i = 0; s[i];) {
        uint32_t cp;
        int k = utf8_decode(s + i, strlen(s + i), &cp);
        assert_true(k > 0);
        app_key(a, (int)cp);
        i += (size_t)k;
    }
}

static struct app *open_app(struct mem *m)
{
    struct app_config cfg = {.m = m};
    struct app *a = NULL;
    assert_int_equal(app_new(&cfg, &a), STATUS_OK);
    return a;
}

/* The full order of the store, as mem_triple_list gives it (ids). */
struct ids {
    int64_t *v;
    size_t n;
};

static int ids_cb(void *ctx, const struct mem_triple *t)
{
    struct ids *s = ctx;
    s->v[s->n++] = t->id;
    return 0;
}

static struct ids full_order(struct mem *m, enum mem_sort sort, size_t n)
{
    struct ids s = {calloc(n + 1, sizeof(int64_t)), 0};
    assert_non_null(s.v);
    struct mem_filter f = {.match = MEM_MATCH_SUBSTRING};
    struct mem_page p = {.sort = sort};
    assert_int_equal(mem_triple_list(m, &f, &p, ids_cb, &s), STATUS_OK);
    assert_int_equal(s.n, n);
    return s;
}

/* The page shown equals order[from .. from + n). */
static void assert_page(struct app *a, const struct ids *order, size_t from, size_t page)
{
    const struct app_row *rows;
    size_t n = app_table_rows(a, &rows);
    size_t want = order->n - from < page ? order->n - from : page;
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].id, order->v[from + i]);
}

static int big_setup(void **state)
{
    struct app_fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(mem_open(":memory:", &fx->m), STATUS_OK);
    assert_int_equal(mem_begin(fx->m), STATUS_OK);
    for (int i = 0; i < N_BIG; i++) {
        char s[32], o[32];
        /* subjects in a scrambled order so the name sorts differ from id order; some
           subjects repeat so ties are broken by id */
        snprintf(s, sizeof s, "e%05d", (i * 7919) % 3001);
        snprintf(o, sizeof o, "v%05d", (i * 104729) % N_BIG);
        const char *rel = i % 3 == 0 ? "capital" : i % 3 == 1 ? "continent" : "currency";
        int64_t id;
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add(fx->m, s, rel, o, 0, &id, &oc), STATUS_OK);
    }
    assert_int_equal(mem_commit(fx->m), STATUS_OK);
    fx->a = open_app(fx->m);
    app_apply(fx->a, CMD_SCREEN_TABLE);
    *state = fx;
    return 0;
}

static int big_teardown(void **state)
{
    struct app_fixture *fx = *state;
    app_free(fx->a);
    mem_close(fx->m);
    free(fx);
    return 0;
}

/* ---- paging -------------------------------------------------------------------------- */

static void check_paging(struct app_fixture *fx, enum mem_sort sort, size_t page)
{
    struct app *a = fx->a;
    while (app_table_sort(a) != sort)
        app_apply(a, CMD_SORT_NEXT);
    app_set_page_rows(a, page, page);
    struct ids order = full_order(fx->m, sort, N_BIG);
    app_apply(a, CMD_HOME);
    assert_page(a, &order, 0, page);
    assert_int_equal(app_table_total(a), N_BIG);

    /* page down through everything: consecutive pages, the last one full (ends at the end) */
    size_t from = 0;
    for (;;) {
        app_apply(a, CMD_PAGE_DOWN);
        size_t next = from + page;
        if (next + page > N_BIG)
            next = N_BIG - page;
        if (from + page >= N_BIG)
            next = from;
        assert_page(a, &order, next, page);
        if (next == from)
            break;
        from = next;
    }
    assert_int_equal(from, N_BIG - page);
    /* end is the same last page, the cursor on the last row */
    app_apply(a, CMD_END);
    assert_page(a, &order, N_BIG - page, page);
    assert_int_equal(app_table_cursor(a), page - 1);
    /* page up all the way back */
    for (;;) {
        app_apply(a, CMD_PAGE_UP);
        size_t prev = from >= page ? from - page : 0;
        assert_page(a, &order, prev, page);
        if (prev == from)
            break;
        from = prev;
    }
    assert_int_equal(from, 0);
    /* row by row across a page boundary and back */
    app_apply(a, CMD_HOME);
    for (size_t i = 0; i < page + 3; i++)
        app_apply(a, CMD_DOWN);
    assert_page(a, &order, 4, page); /* page - 1 moves of the cursor, 4 scrolls */
    assert_int_equal(app_table_cursor(a), page - 1);
    const struct app_row *rows;
    app_table_rows(a, &rows);
    assert_int_equal(rows[app_table_cursor(a)].id, order.v[page + 3]);
    for (size_t i = 0; i < page + 1; i++) /* page - 1 moves, 2 scrolls */
        app_apply(a, CMD_UP);
    assert_page(a, &order, 2, page);
    assert_int_equal(app_table_cursor(a), 0);
    app_apply(a, CMD_HOME);
    assert_page(a, &order, 0, page);
    app_apply(a, CMD_UP); /* at the top: stays */
    assert_page(a, &order, 0, page);
    assert_int_equal(app_table_cursor(a), 0);
    app_apply(a, CMD_END);
    app_apply(a, CMD_DOWN); /* at the bottom: stays */
    assert_page(a, &order, N_BIG - page, page);
    free(order.v);
}

static void test_app_table_paging_by_id(void **state)
{
    check_paging(*state, MEM_SORT_ID, 25);
}

static void test_app_table_paging_by_subject(void **state)
{
    check_paging(*state, MEM_SORT_SUBJECT, 37);
}

static void test_app_table_paging_by_object(void **state)
{
    check_paging(*state, MEM_SORT_OBJECT, 100);
}

static void test_app_table_resize_keeps_position(void **state)
{
    struct app_fixture *fx = *state;
    struct app *a = fx->a;
    while (app_table_sort(a) != MEM_SORT_ID)
        app_apply(a, CMD_SORT_NEXT);
    app_set_page_rows(a, 10, 10);
    struct ids order = full_order(fx->m, MEM_SORT_ID, N_BIG);
    app_apply(a, CMD_HOME);
    app_apply(a, CMD_PAGE_DOWN);
    app_apply(a, CMD_PAGE_DOWN);
    assert_page(a, &order, 20, 10);
    app_set_page_rows(a, 30, 30); /* a taller terminal: same first row */
    assert_page(a, &order, 20, 30);
    app_set_page_rows(a, 1, 1); /* a tiny one */
    assert_page(a, &order, 20, 1);
    app_set_page_rows(a, 0, 0); /* nonsense sizes count as 1 */
    assert_page(a, &order, 20, 1);
    free(order.v);
}

static void test_app_table_filter_incremental(void **state)
{
    struct app_fixture *fx = *state;
    struct app *a = fx->a;
    app_set_page_rows(a, 20, 20);
    app_apply(a, CMD_FILTER);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    type(a, "e0001");
    assert_true(app_idle_pending(a)); /* applied when the typing pauses */
    assert_true(app_idle(a) & REACT_REDRAW);
    assert_false(app_idle_pending(a));
    /* the table is narrowed */
    const struct app_row *rows;
    size_t n = app_table_rows(a, &rows);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        assert_non_null(strstr(rows[i].subj, "e0001"));
    struct mem_filter f = {.subj = "e0001", .match = MEM_MATCH_SUBSTRING};
    int64_t want;
    assert_int_equal(mem_triple_count(fx->m, &f, &want), STATUS_OK);
    assert_int_equal(app_table_total(a), -1); /* counted when the prompt closes */
    /* Tab to the relation field, filter on it as well */
    app_key(a, KEYMAP_KEY_TAB);
    type(a, "CAPITAL"); /* ASCII case-insensitive */
    app_idle(a);
    n = app_table_rows(a, &rows);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i].rel, "capital");
    assert_non_null(strstr(app_table_filter_text(a), "e0001"));
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    f.rel = "capital";
    assert_int_equal(mem_triple_count(fx->m, &f, &want), STATUS_OK);
    assert_true(want > 0 && want < N_BIG);
    assert_int_equal(app_table_total(a), want);
    assert_false(app_table_total_capped(a));
    /* clear both fields again */
    app_apply(a, CMD_FILTER);
    app_apply(a, CMD_KILL_LINE);
    app_key(a, KEYMAP_KEY_TAB);
    app_apply(a, CMD_KILL_LINE);
    app_key(a, KEYMAP_KEY_ESC);
    assert_int_equal(app_table_total(a), N_BIG);
    assert_false(app_table_total_capped(a)); /* unfiltered: the exact count */
    assert_string_equal(app_table_filter_text(a), "");
    /* a filter that matches every row is counted up to the cap only */
    app_apply(a, CMD_FILTER);
    type(a, "e");
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_table_total(a), 1000);
    assert_true(app_table_total_capped(a));
}

/* The filter's fourth field matches the source text or file of a triple. */
static void test_app_table_filter_by_source(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    struct mem_source sa = {.kind = MEM_SOURCE_KIND_USER, .text = "from the atlas, page 12"};
    struct mem_source sb = {.kind = MEM_SOURCE_KIND_USER, .text = "a diary entry"};
    int64_t ida, idb, id;
    enum mem_outcome oc;
    assert_int_equal(mem_source_add(m, &sa, &ida), STATUS_OK);
    assert_int_equal(mem_source_add(m, &sb, &idb), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Quillonia", "capital", "Zorvath", ida, &id, &oc),
                     STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Mirela Tosk", "place of birth", "Vandermoor", idb, &id,
                                    &oc), STATUS_OK);
    struct app *a = open_app(m);
    app_apply(a, CMD_SCREEN_TABLE);
    app_set_page_rows(a, 10, 10);
    app_apply(a, CMD_FILTER);
    assert_int_equal(app_prompt_fields(a), 4);
    assert_string_equal(app_prompt_label(a, 3), "source");
    for (int i = 0; i < 3; i++)
        app_key(a, KEYMAP_KEY_TAB);
    type(a, "ATLAS");
    app_key(a, KEYMAP_KEY_RETURN);
    const struct app_row *rows;
    size_t n = app_table_rows(a, &rows);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].subj, "Quillonia");
    assert_int_equal(app_table_total(a), 1);
    assert_non_null(strstr(app_table_filter_text(a), "source~ATLAS"));
    app_free(a);
    mem_close(m);
}

/* ---- editing with confirmation ------------------------------------------------------- */

static void test_app_add_edit_retire(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    int64_t id0;
    enum mem_outcome oc0;
    assert_int_equal(mem_triple_add(m, "Zürich", "country", "Switzerland", 0, &id0, &oc0),
                     STATUS_OK);
    struct app *a = open_app(m);
    app_apply(a, CMD_SCREEN_TABLE);
    app_set_page_rows(a, 10, 10);
    /* add: form, then a question; 'n' goes back to the form, 'y' stores */
    app_key(a, 'a');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    assert_int_equal(app_prompt_fields(a), 3);
    type(a, "東京");
    app_key(a, KEYMAP_KEY_TAB);
    type(a, "country");
    app_key(a, KEYMAP_KEY_RETURN); /* object empty: refused */
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    app_key(a, KEYMAP_KEY_TAB);
    type(a, "Japan");
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_CONFIRM);
    assert_non_null(strstr(app_confirm_text(a), "東京"));
    app_key(a, 'n');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    app_key(a, KEYMAP_KEY_RETURN);
    app_key(a, 'y');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    struct mem_filter f = {.match = MEM_MATCH_EXACT, .subj = "東京"};
    int64_t n;
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(app_table_total(a), 2);

    /* edit the selected (first) row: the object becomes "Schweiz" */
    app_apply(a, CMD_HOME);
    app_key(a, 'e');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    app_key(a, KEYMAP_KEY_TAB);
    app_key(a, KEYMAP_KEY_TAB);
    app_apply(a, CMD_KILL_LINE);
    type(a, "Schweiz");
    app_key(a, KEYMAP_KEY_RETURN);
    app_key(a, 'y');
    f.subj = "Zürich";
    f.obj = "Schweiz";
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 1);
    f.obj = "Switzerland";
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 0); /* retired by the edit */

    /* retire: 'n' keeps it, 'y' retires it; retired rows show on request */
    const struct app_row *rows;
    size_t before = app_table_rows(a, &rows);
    assert_int_equal(before, 2);
    app_apply(a, CMD_HOME);
    app_table_rows(a, &rows); /* rows are valid until the next app_ call */
    int64_t id = rows[0].id;
    app_key(a, 'd');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_CONFIRM);
    app_key(a, 'n');
    assert_int_equal(app_table_rows(a, &rows), 2);
    app_key(a, 'd');
    app_key(a, 'y');
    assert_int_equal(app_table_rows(a, &rows), 1);
    assert_true(rows[0].id != id);
    app_key(a, 'r');
    assert_true(app_table_retired_shown(a));
    size_t all = app_table_rows(a, &rows);
    assert_int_equal(all, 3); /* the edited original, the edit, the retired one */
    bool seen = false;
    for (size_t i = 0; i < all; i++)
        if (rows[i].id == id) {
            seen = true;
            assert_true(rows[i].retired);
            assert_int_equal(app_row_style(a, &rows[i], NULL), APP_STYLE_DIM);
        }
    assert_true(seen);

    /* details: source, history */
    app_apply(a, CMD_HOME);
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_VIEWER);
    const struct app_line *l;
    size_t nl = app_viewer_lines(a, &l);
    bool hist = false;
    for (size_t i = 0; i < nl; i++)
        if (strstr(l[i].text, "Schweiz"))
            hist = true;
    assert_true(hist); /* the first row's history names its successor */
    app_key(a, 'q');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    app_free(a);
    mem_close(m);
}

/* ---- input, help, palette, modes ----------------------------------------------------- */

static void test_app_input_editing_and_history(void **state)
{
    (void)state;
    struct app *a = open_app(NULL);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    type(a, "Wo liegt Zürich?");
    const uint32_t *cps;
    size_t n, cur;
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 16);
    assert_int_equal(cur, 16);
    assert_int_equal(cps[10], 0xFC); /* ü is one code point */
    app_key(a, KEYMAP_KEY_LEFT);
    app_key(a, KEYMAP_KEY_BACKSPACE);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 15);
    assert_int_equal(cps[14], '?');
    assert_int_equal(cps[13], 'c');
    app_key(a, KEYMAP_KEY_NEWLINE);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(cps[14], '\n');
    /* submit without a model: refused with a message, but kept in the history */
    app_key(a, KEYMAP_KEY_RETURN);
    enum app_style st;
    assert_non_null(strstr(app_status_text(a, &st), "model"));
    assert_int_equal(st, APP_STYLE_ERROR);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 0);
    type(a, "second");
    app_key(a, KEYMAP_KEY_RETURN);
    app_key(a, KEYMAP_KEY_UP);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 6);
    app_key(a, KEYMAP_KEY_UP);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 16);
    app_key(a, KEYMAP_KEY_DOWN);
    app_key(a, KEYMAP_KEY_DOWN);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 0);
    /* 'q' is text here, Ctrl-Q quits */
    assert_false(app_key(a, 'q') & REACT_QUIT);
    assert_true(app_key(a, KEYMAP_CTRL('q')) & REACT_QUIT);
    app_free(a);
}

static void test_app_teach_file_prompt(void **state)
{
    (void)state;
    struct app *a = open_app(NULL);
    app_key(a, KEYMAP_CTRL('o'));
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PROMPT);
    assert_int_equal(app_prompt_fields(a), 1);
    type(a, "/nonexistent/dir/facts.txt");
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    enum app_style st;
    const char *msg = app_status_text(a, &st);
    assert_non_null(strstr(msg, "/nonexistent/dir/facts.txt"));
    assert_int_equal(st, APP_STYLE_ERROR);
    /* a readable file without a model: the file is read, the model is missing */
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/facts.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("Bern is the capital of Switzerland.\n", f);
    fclose(f);
    app_key(a, KEYMAP_CTRL('o'));
    type(a, path);
    app_key(a, KEYMAP_KEY_RETURN);
    msg = app_status_text(a, &st);
    assert_non_null(strstr(msg, "model"));
    assert_false(app_busy(a));
    /* Esc in a prompt cancels it */
    app_key(a, KEYMAP_CTRL('o'));
    app_key(a, KEYMAP_KEY_ESC);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    test_rmtree(dir);
    app_free(a);
}

static void test_app_help_lists_every_action(void **state)
{
    (void)state;
    struct app *a = open_app(NULL);
    app_key(a, KEYMAP_KEY_F1);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_HELP);
    const struct app_line *l;
    size_t n = app_viewer_lines(a, &l);
    for (int c = CMD_NONE + 1; c < CMD_COUNT_; c++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            if (strstr(l[i].text, keymap_cmd_desc((enum cmd)c)))
                found = true;
        if (!found)
            fail_msg("help lacks '%s'", keymap_cmd_desc((enum cmd)c));
    }
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_viewer_scroll(a), 1);
    app_key(a, KEYMAP_KEY_ESC);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    app_free(a);
}

static void test_app_palette_runs_a_command(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    struct app *a = open_app(m);
    app_key(a, KEYMAP_KEY_F(3));
    assert_int_equal(app_screen_get(a), APP_SCREEN_TABLE);
    app_key(a, KEYMAP_CTRL('p'));
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_PALETTE);
    const enum cmd *items;
    size_t all = app_palette_items(a, &items);
    type(a, "sort");
    size_t n = app_palette_items(a, &items);
    assert_true(n >= 1 && n < all);
    assert_int_equal(items[0], CMD_SORT_NEXT);
    assert_int_equal(app_table_sort(a), MEM_SORT_ID);
    app_key(a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_NONE);
    assert_int_equal(app_table_sort(a), MEM_SORT_SUBJECT);
    /* screens and focus */
    app_key(a, KEYMAP_KEY_F(2));
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_TRANSCRIPT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_CALLS);
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    assert_int_equal(app_mode_get(a), APP_MODE_ASK);
    app_key(a, KEYMAP_CTRL('t'));
    assert_int_equal(app_mode_get(a), APP_MODE_TEACH);
    app_key(a, KEYMAP_CTRL('t'));
    assert_int_equal(app_mode_get(a), APP_MODE_CHAT);
    app_key(a, KEYMAP_CTRL('t'));
    assert_int_equal(app_mode_get(a), APP_MODE_ASK);
    app_key(a, KEYMAP_KEY_F(4));
    assert_int_equal(app_screen_get(a), APP_SCREEN_AUDIT);
    app_key(a, KEYMAP_KEY_F(5));
    assert_int_equal(app_screen_get(a), APP_SCREEN_SETTINGS);
    app_free(a);
    mem_close(m);
}

/* ---- events -------------------------------------------------------------------------- */

static void *log_from_thread(void *arg)
{
    (void)arg;
    log_msg(LOG_LEVEL_ERROR, "store: %s: close: %s", "x.db", "disk I/O error");
    return NULL;
}

/* Through the log hook a module's warnings and errors reach the status line (queued, any
 * thread), not the terminal; info lines do not. */
static void test_app_log_messages_reach_the_status_line(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    struct app *a = open_app(m);
    enum app_style style;
    char before[256];
    snprintf(before, sizeof before, "%s", app_status_text(a, &style));
    log_set_level(LOG_LEVEL_DEBUG);
    log_set_hook(app_log_cb, a);
    log_msg(LOG_LEVEL_WARN, "store: %s: journal mode is %s, not wal", "x.db", "delete");
    assert_string_equal(app_status_text(a, &style), before); /* nothing until drained */
    assert_true(app_drain(a) & REACT_REDRAW);
    assert_string_equal(app_status_text(a, &style), "store: x.db: journal mode is delete, not wal");
    assert_int_equal(style, APP_STYLE_INFO);

    log_msg(LOG_LEVEL_INFO, "just chatter");
    app_drain(a);
    assert_string_equal(app_status_text(a, &style), "store: x.db: journal mode is delete, not wal");

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, log_from_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    app_drain(a);
    assert_string_equal(app_status_text(a, &style), "store: x.db: close: disk I/O error");
    assert_int_equal(style, APP_STYLE_ERROR);

    log_set_hook(NULL, NULL);
    log_set_level(LOG_LEVEL_WARN);
    log_msg(LOG_LEVEL_ERROR, "after the hook was removed");
    app_drain(a);
    assert_string_equal(app_status_text(a, &style), "store: x.db: close: disk I/O error");
    app_free(a);
    mem_close(m);
}

/* The transcript as the view reads it: every span's text, in order. */
static char *transcript_text(const struct app *a)
{
    size_t len = 0;
    for (size_t i = 0; i < app_span_count(a); i++)
        len += app_span_get(a, i).len;
    char *s = calloc(1, len + 1);
    assert_non_null(s);
    for (size_t i = 0, at = 0; i < app_span_count(a); i++) {
        struct app_span sp = app_span_get(a, i);
        memcpy(s + at, sp.text, sp.len);
        at += sp.len;
    }
    return s;
}

/* Teaching a text writes once per sentence: each write starts its own line, folded or
 * not, instead of running into the previous one; a read inside an answer stays inline. */
static void test_app_teach_writes_are_separated(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    struct app *a = open_app(m);
    struct ctrl_triple_in ti[2] = {{"France", "capital", "Paris"},
                                   {"Germany", "capital", "Berlin"}};
    struct ctrl_written wr = {7, MEM_OUTCOME_NEW, false, false, true};
    for (size_t i = 0; i < 2; i++) {
        struct agent_event w = {.kind = AGENT_EVENT_WRITE, .sentence = "A sentence.",
                                .sentence_no = i + 1, .n_sentences = 2,
                                .triples = &ti[i], .written = &wr, .n_triples = 1};
        app_event_cb(a, &w);
    }
    app_drain(a);
    /* unfolded and folded (Ctrl-F toggles), in either order */
    for (int pass = 0; pass < 2; pass++) {
        char *text = transcript_text(a);
        if (strstr(text, "MEM_WRITE")) {
            assert_non_null(strstr(text, "({MEM_WRITE-->France>>capital>>Paris})\n"
                                         "({MEM_WRITE-->Germany>>capital>>Berlin})"));
        } else {
            assert_null(strstr(text, "\u27e7\u27e6"));
            assert_non_null(strstr(text, "\u27e7\n\u27e6"));
        }
        free(text);
        assert_true(app_key(a, KEYMAP_CTRL('f')) & REACT_REDRAW);
    }
    app_free(a);
    mem_close(m);
}

static void test_app_events_stream_into_the_transcript(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    int64_t id_paris, id_other;
    enum mem_outcome oc;
    assert_int_equal(mem_triple_add(m, "France", "capital", "Paris", 0, &id_paris, &oc),
                     STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Spain", "capital", "Madrid", 0, &id_other, &oc),
                     STATUS_OK);
    struct app *a = open_app(m);
    app_set_page_rows(a, 10, 10);

    struct agent_event ev = {.kind = AGENT_EVENT_TOKEN, .text = "The capital is ", .len = 15};
    app_event_cb(a, &ev);
    assert_int_equal(app_span_count(a), 0); /* nothing until drained */
    assert_true(app_drain(a) & REACT_REDRAW);
    assert_int_equal(app_span_count(a), 1);

    struct ctrl_candidate ents[2] = {{1, "France", 0.0, true}, {3, "Franc", 0.4, false}};
    struct ctrl_candidate rels[1] = {{2, "capital", 0.0, true}};
    struct ctrl_found found[1] = {{id_paris, 1, 2, 3, "France", "capital", "Paris", 0.0, 0.0,
                                   0.0, true}};
    struct ctrl_answer ans[1] = {{4, "Paris", 0.0, id_paris}};
    struct ctrl_read rd = {
        .want = CTRL_WANT_OBJECT, .name = "France", .relation = "capital",
        .entities = ents, .n_entities = 2, .n_entities_passed = 1,
        .relations = rels, .n_relations = 1, .n_relations_passed = 1,
        .found = found, .n_found = 1, .answers = ans, .n_answers = 1,
    };
    struct ctrl_read *reads[1] = {&rd};
    struct agent_event cs = {.kind = AGENT_EVENT_CALL_START, .text = "({MEM_READ(France>>capital>>)-->",
                             .call_no = 1};
    cs.len = strlen(cs.text);
    app_event_cb(a, &cs);
    struct agent_event rv = {.kind = AGENT_EVENT_READ, .call_no = 1, .reads = reads,
                             .n_reads = 1, .results = "Paris"};
    app_event_cb(a, &rv);
    struct agent_event t2 = {.kind = AGENT_EVENT_TOKEN, .text = "Paris.", .len = 6};
    app_event_cb(a, &t2);
    struct agent_timing tm = {.n_prompt = 5, .n_gen = 10, .t_prompt = 0.1, .t_gen = 0.5,
                              .t_total = 0.6};
    struct agent_event done = {.kind = AGENT_EVENT_DONE, .stop = "eos", .timing = &tm,
                               .run_id = 7};
    app_event_cb(a, &done);
    app_drain(a);

    /* transcript: text, the read span, more text, the done note */
    struct sbuf_check { char all[1024]; } c = {{0}};
    for (size_t i = 0; i < app_span_count(a); i++) {
        struct app_span s = app_span_get(a, i);
        strncat(c.all, s.text, sizeof c.all - strlen(c.all) - 1);
    }
    assert_non_null(strstr(c.all, "The capital is ({MEM_READ(France>>capital>>?)-->Paris})Paris."));
    assert_non_null(strstr(app_speed_text(a), "20.0 tok/s"));
    /* folded: the call shows as a short label */
    app_key(a, KEYMAP_CTRL('f'));
    c.all[0] = '\0';
    for (size_t i = 0; i < app_span_count(a); i++) {
        struct app_span s = app_span_get(a, i);
        strncat(c.all, s.text, sizeof c.all - strlen(c.all) - 1);
    }
    assert_null(strstr(c.all, "MEM_READ"));
    assert_non_null(strstr(c.all, "Paris."));

    /* the call panel: one read with candidates and pass/fail marks */
    assert_int_equal(app_call_count(a), 1);
    enum app_style st;
    assert_non_null(strstr(app_call_title(a, 0, &st), "France>>capital>>?"));
    assert_int_equal(st, APP_STYLE_READ);
    /* the heading carries the result, so the folded call shows it too */
    assert_non_null(strstr(app_call_title(a, 0, &st), "France>>capital>>?  \u2192 Paris  "));
    const struct app_line *l;
    size_t n = app_call_lines(a, 0, &l);
    bool cand = false, trip = false;
    for (size_t i = 0; i < n; i++) {
        if (strstr(l[i].text, "Franc (0.400 \u2717)"))
            cand = true;
        if (strstr(l[i].text, "France | capital | Paris"))
            trip = true;
    }
    assert_true(cand);
    assert_true(trip);

    /* the table marks the triple that grounded the answer */
    const struct app_row *rows;
    size_t nr = app_table_rows(a, &rows);
    assert_int_equal(nr, 2);
    for (size_t i = 0; i < nr; i++) {
        bool g = false;
        enum app_style rs = app_row_style(a, &rows[i], &g);
        assert_int_equal(g, rows[i].id == id_paris);
        assert_int_equal(rs, rows[i].id == id_paris ? APP_STYLE_MARK : APP_STYLE_NORMAL);
    }
    /* the entity view of the selected row's subject */
    app_key(a, KEYMAP_KEY_F(3));
    app_key(a, KEYMAP_KEY_HOME);
    app_key(a, 'v');
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_VIEWER);
    assert_non_null(strstr(app_viewer_title(a), "France"));
    n = app_viewer_lines(a, &l);
    bool edge = false;
    for (size_t i = 0; i < n; i++)
        if (strstr(l[i].text, "capital") && strstr(l[i].text, "Paris"))
            edge = true;
    assert_true(edge);
    app_key(a, KEYMAP_KEY_ESC);
    app_key(a, KEYMAP_KEY_F(2));
    /* selecting the call in the panel expands it (Shift-Tab: input -> call panel) */
    app_key(a, KEYMAP_KEY_BTAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_CALLS);
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_call_selected(a), 0);
    app_key(a, KEYMAP_KEY_RETURN);
    assert_true(app_call_expanded(a));
    app_free(a);
    mem_close(m);
}

/* ---- the worker: a real agent over a scripted fake model ----------------------------- */

/* Vocabulary: <unk> <s> </s> "({" "})" "-->", U+2581, printable ASCII, a few words, bytes. */
static struct tok *make_tok(void)
{
    static const char *const words[] = {"MEM_READ(", "France", "capital", "Paris", ">>",
                                        "\xE2\x96\x81" "is", "The", "zz"};
    const char *toks[512];
    int32_t types[512];
    static char chars[128][2];
    static char bytes[256][8];
    size_t n = 0;
    toks[n] = "<unk>", types[n++] = TOK_TYPE_UNKNOWN;
    toks[n] = "<s>", types[n++] = TOK_TYPE_CONTROL;
    toks[n] = "</s>", types[n++] = TOK_TYPE_CONTROL;
    toks[n] = "({", types[n++] = TOK_TYPE_USER_DEFINED;
    toks[n] = "})", types[n++] = TOK_TYPE_USER_DEFINED;
    toks[n] = "-->", types[n++] = TOK_TYPE_USER_DEFINED;
    toks[n] = "\xE2\x96\x81", types[n++] = TOK_TYPE_NORMAL;
    for (int c = 0x21; c < 0x7f; c++) {
        chars[c][0] = (char)c;
        toks[n] = chars[c], types[n++] = TOK_TYPE_NORMAL;
    }
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        toks[n] = words[i], types[n++] = TOK_TYPE_NORMAL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[n] = bytes[b], types[n++] = TOK_TYPE_BYTE;
    }
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = toks;
    d.types = types;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    d.add_bos = true;
    struct tok *t = NULL;
    assert_int_equal(tok_new(&d, &t), STATUS_OK);
    return t;
}

/* The fake proposes script[cursor] and moves on at every evaluation after the first;
 * after the script: EOS, or "zz" forever (slowly) when endless. */
struct fake {
    struct tok *tk;
    size_t n_vocab, n_script, cursor, n_calls, n_past;
    int32_t script[64];
    bool endless;
};

static enum status fake_eval(void *ctxp, const int32_t *tokens, size_t n, size_t pos,
                             float *logits)
{
    struct fake *f = ctxp;
    (void)tokens;
    if (f->n_calls++ > 0)
        f->cursor++;
    f->n_past = pos + n;
    for (size_t i = 0; i < f->n_vocab; i++)
        logits[i] = 0.0f;
    if (f->cursor < f->n_script) {
        logits[f->script[f->cursor]] = 10.0f;
    } else if (f->endless) {
        logits[tok_find(f->tk, "zz", 2)] = 10.0f;
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    } else {
        logits[2] = 10.0f;
    }
    return STATUS_OK;
}

struct live {
    struct tok *tk;
    struct fake f;
    struct agent_lm lm;
    struct mem *m;
    struct embedder e;
    struct ctrl *c;
    struct agent *ag;
    struct app *a;
    int64_t id_paris;
};

static void live_open(struct live *x, const char *const *script, bool endless)
{
    memset(x, 0, sizeof *x);
    x->tk = make_tok();
    x->f.tk = x->tk;
    x->f.n_vocab = (size_t)tok_n_vocab(x->tk);
    x->f.endless = endless;
    for (size_t i = 0; script[i]; i++) {
        x->f.script[x->f.n_script] = tok_find(x->tk, script[i], strlen(script[i]));
        assert_true(x->f.script[x->f.n_script] >= 0);
        x->f.n_script++;
    }
    x->lm.n_vocab = x->f.n_vocab;
    x->lm.n_ctx = 4096;
    x->lm.eval = fake_eval;
    x->lm.ctx = &x->f;
    assert_int_equal(mem_open(":memory:", &x->m), STATUS_OK);
    assert_int_equal(embed_hash_new(0, &x->e), STATUS_OK);
    assert_int_equal(ctrl_open(x->m, &x->e, &x->c), STATUS_OK);
    const struct ctrl_triple_in facts[] = {{"France", "capital", "Paris"},
                                           {"Spain", "capital", "Madrid"}};
    struct ctrl_written w[2];
    assert_int_equal(ctrl_write(x->c, facts, 2, NULL, w), STATUS_OK);
    x->id_paris = w[0].triple_id;
    struct agent_params p;
    agent_params_init(&p);
    p.samp.temp = 0;
    p.model_name = "fake";
    assert_int_equal(agent_new(&x->lm, x->tk, x->c, &p, &x->ag), STATUS_OK);
    struct app_config cfg = {.m = x->m, .ctrl = x->c, .agent = x->ag};
    assert_int_equal(app_new(&cfg, &x->a), STATUS_OK);
    agent_set_events(x->ag, app_event_cb, x->a);
    app_set_page_rows(x->a, 10, 10);
}

static void live_close(struct live *x)
{
    app_free(x->a);
    agent_free(x->ag);
    ctrl_close(x->c);
    embed_free(&x->e);
    mem_close(x->m);
    tok_free(x->tk);
}

/* Drain until the worker is done (at most ~10 s). */
static void live_wait(struct live *x)
{
    for (int i = 0; i < 10000 && app_busy(x->a); i++) {
        app_drain(x->a);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    app_drain(x->a);
    assert_false(app_busy(x->a));
}

/* An empty read (a retired fact): the heading says it failed and names no result; the
 * expansion says nothing was found. */
static void test_app_empty_read_in_the_call_panel(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    struct app *a = open_app(m);
    struct ctrl_candidate ents[1] = {{1, "Quillonia", 0.0, true}};
    struct ctrl_candidate rels[1] = {{2, "capital", 0.0, true}};
    struct ctrl_read rd = {
        .want = CTRL_WANT_OBJECT, .name = "Quillonia", .relation = "capital",
        .entities = ents, .n_entities = 1, .n_entities_passed = 1,
        .relations = rels, .n_relations = 1, .n_relations_passed = 1,
    };
    struct ctrl_read *reads[1] = {&rd};
    struct agent_event rv = {.kind = AGENT_EVENT_READ, .call_no = 1, .reads = reads,
                             .n_reads = 1, .failed = true, .reason = "nothing found"};
    app_event_cb(a, &rv);
    app_drain(a);
    assert_int_equal(app_call_count(a), 1);
    enum app_style st;
    const char *title = app_call_title(a, 0, &st);
    assert_non_null(strstr(title, "Quillonia>>capital>>?  failed  "));
    assert_null(strstr(title, "\u2192"));
    assert_int_equal(st, APP_STYLE_FAIL);
    const struct app_line *l;
    size_t n = app_call_lines(a, 0, &l);
    bool none = false;
    for (size_t i = 0; i < n; i++)
        if (strstr(l[i].text, "\u2192 nothing found"))
            none = true;
    assert_true(none);
    app_free(a);
    mem_close(m);
}

static char *transcript(const struct app *a)
{
    static char all[4096];
    all[0] = '\0';
    for (size_t i = 0; i < app_span_count(a); i++) {
        struct app_span s = app_span_get(a, i);
        strncat(all, s.text, sizeof all - strlen(all) - 1);
    }
    return all;
}

static void test_app_worker_answers_with_a_read(void **state)
{
    (void)state;
    static const char *const script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital",
                                         ">>", ")", "-->", "Paris", ".", NULL};
    struct live x;
    live_open(&x, script, false);
    type(x.a, "Capital of France?");
    app_key(x.a, KEYMAP_KEY_RETURN);
    live_wait(&x);
    const char *t = transcript(x.a);
    assert_non_null(strstr(t, "> Capital of France?"));
    /* the answer quotes the read (constrained decoding is on by default) */
    assert_non_null(strstr(t, "The({MEM_READ(France>>capital>>?)-->Paris})Paris."));
    assert_int_equal(app_call_count(x.a), 1);
    assert_non_null(strstr(app_speed_text(x.a), "tok/s"));
    /* the grounding triple is marked in the table */
    const struct app_row *rows;
    size_t n = app_table_rows(x.a, &rows);
    size_t marked = 0;
    for (size_t i = 0; i < n; i++) {
        bool g;
        app_row_style(x.a, &rows[i], &g);
        if (g) {
            marked++;
            assert_int_equal(rows[i].id, x.id_paris);
        }
    }
    assert_int_equal(marked, 1);
    /* the run is in the audit screen with the triple and the answer span after the read */
    app_key(x.a, KEYMAP_KEY_F(4));
    const struct app_line *l;
    assert_int_equal(app_audit_runs(x.a, &l), 1);
    assert_non_null(strstr(l[0].text, "Capital of France?"));
    n = app_audit_detail(x.a, &l);
    bool triple = false, span = false;
    for (size_t i = 0; i < n; i++) {
        if (strstr(l[i].text, "France | capital | Paris"))
            triple = true;
        if (strstr(l[i].text, "answer span: Paris."))
            span = true;
    }
    assert_true(triple);
    assert_true(span);
    /* settings change the controller's and the agent's parameters */
    app_key(x.a, KEYMAP_KEY_F(5));
    assert_int_equal(app_settings_cursor(x.a), 0);
    double thr = ctrl_params_get(x.c)->dist_thr;
    app_key(x.a, KEYMAP_KEY_RIGHT);
    assert_true(ctrl_params_get(x.c)->dist_thr > thr + 0.005);
    app_key(x.a, KEYMAP_KEY_LEFT);
    assert_true(fabs(ctrl_params_get(x.c)->dist_thr - thr) < 1e-9);
    for (size_t i = 0; i < app_settings_count(x.a); i++) {
        if (strstr(app_settings_label(x.a, app_settings_cursor(x.a)), "temperature"))
            break;
        app_key(x.a, KEYMAP_KEY_DOWN);
    }
    app_key(x.a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_overlay_get(x.a), APP_OVERLAY_PROMPT);
    app_key(x.a, KEYMAP_CTRL('u'));
    type(x.a, "0.5");
    app_key(x.a, KEYMAP_KEY_RETURN);
    assert_true(fabs(agent_params_get(x.ag)->samp.temp - 0.5) < 1e-6);
    app_key(x.a, KEYMAP_KEY_RETURN);
    app_key(x.a, KEYMAP_CTRL('u'));
    type(x.a, "0"); /* back to greedy for the re-run */
    app_key(x.a, KEYMAP_KEY_RETURN);
    assert_true(agent_params_get(x.ag)->samp.temp == 0.0f);
    /* run it again from the settings screen: a second run */
    x.f.cursor = 0;
    x.f.n_calls = 0;
    app_key(x.a, KEYMAP_CTRL('r'));
    assert_int_equal(app_screen_get(x.a), APP_SCREEN_GEN);
    live_wait(&x);
    app_key(x.a, KEYMAP_KEY_F(4));
    assert_int_equal(app_audit_runs(x.a, &l), 2);
    live_close(&x);
}

static void test_app_worker_stops_on_ctrl_c(void **state)
{
    (void)state;
    static const char *const script[] = {"The", NULL};
    struct live x;
    live_open(&x, script, true);
    type(x.a, "Talk forever");
    app_key(x.a, KEYMAP_KEY_RETURN);
    assert_true(app_busy(x.a));
    /* edits wait while the worker owns the controller */
    app_key(x.a, KEYMAP_KEY_F(3));
    app_key(x.a, 'a');
    assert_int_equal(app_overlay_get(x.a), APP_OVERLAY_NONE);
    enum app_style st;
    assert_non_null(strstr(app_status_text(x.a, &st), "busy"));
    app_key(x.a, KEYMAP_KEY_F(2));
    /* tokens stream in while it runs */
    for (int i = 0; i < 5000 && !strstr(transcript(x.a), "zzzz"); i++) {
        app_drain(x.a);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(strstr(transcript(x.a), "Thezzzz"));
    app_key(x.a, KEYMAP_CTRL('c'));
    live_wait(&x);
    assert_non_null(strstr(transcript(x.a), "cancelled"));
    live_close(&x);
}

/* Esc cancels a running generation too, from any pane of the generation screen. */
static void test_app_worker_stops_on_escape(void **state)
{
    (void)state;
    static const char *const script[] = {"The", NULL};
    struct live x;
    live_open(&x, script, true);
    type(x.a, "Talk forever");
    app_key(x.a, KEYMAP_KEY_RETURN);
    assert_true(app_busy(x.a));
    for (int i = 0; i < 5000 && !strstr(transcript(x.a), "zzzz"); i++) {
        app_drain(x.a);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(strstr(transcript(x.a), "Thezzzz"));
    app_key(x.a, KEYMAP_KEY_TAB); /* the transcript has focus: Esc still stops */
    assert_int_equal(app_focus_get(x.a), APP_FOCUS_TRANSCRIPT);
    unsigned r = app_key(x.a, KEYMAP_KEY_ESC);
    assert_int_equal(r & REACT_QUIT, 0);
    live_wait(&x);
    assert_false(app_busy(x.a));
    assert_non_null(strstr(transcript(x.a), "cancelled"));
    live_close(&x);
}

/* Tab and Shift-Tab cycle input -> transcript -> call panel; keys act on the focused pane;
 * 'q' is text in the input but quits elsewhere; Ctrl-Q quits everywhere. */
static void test_app_tab_cycles_panes(void **state)
{
    (void)state;
    struct app_config cfg = {0};
    struct app *a = NULL;
    assert_int_equal(app_new(&cfg, &a), STATUS_OK);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    assert_int_equal(app_key(a, 'q') & REACT_QUIT, 0); /* typed text */
    const uint32_t *cps;
    size_t n, cur;
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 1);
    assert_int_equal(cps[0], 'q');
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_TRANSCRIPT);
    assert_int_equal(app_context(a), KEYMAP_CTX_TRANSCRIPT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_CALLS);
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    app_key(a, KEYMAP_KEY_BTAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_CALLS);
    app_key(a, KEYMAP_KEY_BTAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_TRANSCRIPT);
    /* Up/Down scroll the transcript when it has focus; the input is untouched */
    assert_int_equal(app_transcript_scroll(a), 0);
    app_key(a, KEYMAP_KEY_UP);
    app_key(a, 'k');
    assert_int_equal(app_transcript_scroll(a), 2);
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_transcript_scroll(a), 1);
    assert_int_equal(app_transcript_clamp(a, 5), REACT_NONE);
    assert_int_equal(app_transcript_scroll(a), 1);
    assert_true(app_transcript_clamp(a, 0) & REACT_REDRAW);
    assert_int_equal(app_transcript_scroll(a), 0);
    app_key(a, KEYMAP_KEY_UP);
    app_key(a, KEYMAP_KEY_END);
    assert_int_equal(app_transcript_scroll(a), 0);
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_transcript_scroll(a), 0);
    app_input_get(a, &cps, &n, &cur);
    assert_int_equal(n, 1);
    /* the memory screen: Tab and Shift-Tab switch table and detail pane */
    app_key(a, KEYMAP_KEY_F(3));
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_DETAIL);
    assert_int_equal(app_context(a), KEYMAP_CTX_DETAIL);
    app_key(a, KEYMAP_KEY_BTAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_TABLE);
    app_key(a, KEYMAP_KEY_F(2));
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_true(app_key(a, 'q') & REACT_QUIT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_true(app_key(a, 'q') & REACT_QUIT);
    app_key(a, KEYMAP_KEY_TAB);
    assert_true(app_key(a, KEYMAP_CTRL('q')) & REACT_QUIT);
    app_free(a);
}

/* Mouse events as the view passes them: a click focuses the pane and selects the call,
 * row or setting under it; the wheel scrolls the pane under the pointer and leaves the
 * focus; panes of another screen are ignored. */
static void test_app_mouse_selects_and_scrolls(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    static const char *const subj[] = {"Aa", "Bb", "Cc", "Dd", "Ee"};
    for (size_t i = 0; i < 5; i++) {
        int64_t id;
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add(m, subj[i], "rel", "obj", 0, &id, &oc), STATUS_OK);
    }
    struct app *a = open_app(m);
    /* three memory calls in the panel */
    struct ctrl_triple_in ti = {"Switzerland", "capital", "Bern"};
    struct ctrl_written wr = {42, MEM_OUTCOME_NEW, false, false, true};
    for (int i = 0; i < 3; i++) {
        struct agent_event w = {.kind = AGENT_EVENT_WRITE, .sentence = "Bern is the capital.",
                                .sentence_no = (size_t)i + 1, .n_sentences = 3,
                                .triples = &ti, .written = &wr, .n_triples = 1};
        app_event_cb(a, &w);
    }
    app_drain(a);
    assert_int_equal(app_call_count(a), 3);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    /* click on the second call */
    assert_true(app_mouse(a, APP_FOCUS_CALLS, KEYMAP_MOUSE_CLICK, 1) & REACT_REDRAW);
    assert_int_equal(app_focus_get(a), APP_FOCUS_CALLS);
    assert_int_equal(app_call_selected(a), 1);
    /* a click below the last call focuses but keeps the selection */
    app_mouse(a, APP_FOCUS_CALLS, KEYMAP_MOUSE_CLICK, SIZE_MAX);
    assert_int_equal(app_call_selected(a), 1);
    app_mouse(a, APP_FOCUS_CALLS, KEYMAP_MOUSE_CLICK, 7);
    assert_int_equal(app_call_selected(a), 1);
    /* keys now act on the call panel */
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_call_selected(a), 2);
    app_key(a, KEYMAP_KEY_UP);
    app_key(a, KEYMAP_KEY_UP);
    assert_int_equal(app_call_selected(a), 0);
    /* click in the input; the wheel over the transcript scrolls it, focus stays */
    app_mouse(a, APP_FOCUS_INPUT, KEYMAP_MOUSE_CLICK, SIZE_MAX);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    app_mouse(a, APP_FOCUS_TRANSCRIPT, KEYMAP_MOUSE_WHEEL_UP, SIZE_MAX);
    assert_int_equal(app_transcript_scroll(a), 3);
    app_mouse(a, APP_FOCUS_TRANSCRIPT, KEYMAP_MOUSE_WHEEL_DOWN, SIZE_MAX);
    assert_int_equal(app_transcript_scroll(a), 0);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    /* the wheel over the call panel moves its selection (clamped) */
    app_mouse(a, APP_FOCUS_CALLS, KEYMAP_MOUSE_WHEEL_DOWN, SIZE_MAX);
    assert_int_equal(app_call_selected(a), 2);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    /* the table is not on this screen */
    assert_int_equal(app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_CLICK, 0), REACT_NONE);
    assert_int_equal(app_focus_get(a), APP_FOCUS_INPUT);
    /* the table: click a row, the wheel moves the cursor */
    app_key(a, KEYMAP_KEY_F(3));
    const struct app_row *rows;
    assert_int_equal(app_table_rows(a, &rows), 5);
    app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_CLICK, 3);
    assert_int_equal(app_table_cursor(a), 3);
    assert_string_equal(rows[app_table_cursor(a)].subj, "Dd");
    app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_CLICK, 9); /* below the last row */
    assert_int_equal(app_table_cursor(a), 3);
    app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_WHEEL_UP, SIZE_MAX);
    assert_int_equal(app_table_cursor(a), 0);
    app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_WHEEL_DOWN, SIZE_MAX);
    assert_int_equal(app_table_cursor(a), 3);
    /* settings: click an item */
    app_key(a, KEYMAP_KEY_F(5));
    app_mouse(a, APP_FOCUS_SETTINGS, KEYMAP_MOUSE_CLICK, 2);
    assert_int_equal(app_settings_cursor(a), 2);
    /* an overlay takes the wheel, clicks do nothing there */
    app_key(a, KEYMAP_KEY_F1);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_HELP);
    app_mouse(a, APP_FOCUS_SETTINGS, KEYMAP_MOUSE_WHEEL_DOWN, SIZE_MAX);
    assert_int_equal(app_viewer_scroll(a), 3);
    app_mouse(a, APP_FOCUS_SETTINGS, KEYMAP_MOUSE_CLICK, 0);
    assert_int_equal(app_settings_cursor(a), 2);
    assert_int_equal(app_overlay_get(a), APP_OVERLAY_HELP);
    app_free(a);
    mem_close(m);
}

/* The memory screen's detail pane follows the table's selection and scrolls when it
 * has the focus; the table keeps its cursor meanwhile. */
static void test_app_detail_pane_follows_selection(void **state)
{
    (void)state;
    struct mem *m;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    static const char *const subj[] = {"Alpha", "Beta"};
    for (size_t i = 0; i < 2; i++) {
        int64_t id;
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add(m, subj[i], "rel", "obj", 0, &id, &oc), STATUS_OK);
    }
    struct app *a = open_app(m);
    const struct app_line *l;
    app_detail_update(a); /* not the memory screen: nothing */
    assert_int_equal(app_detail_lines(a, &l), 0);
    app_key(a, KEYMAP_KEY_F(3));
    assert_true(app_detail_update(a) & REACT_REDRAW);
    size_t n = app_detail_lines(a, &l);
    assert_true(n > 3);
    bool alpha = false;
    for (size_t i = 0; i < n; i++)
        if (strstr(l[i].text, "Alpha"))
            alpha = true;
    assert_true(alpha);
    assert_int_equal(app_detail_update(a), REACT_NONE); /* same row: no reload */
    app_key(a, KEYMAP_KEY_DOWN);
    assert_true(app_detail_update(a) & REACT_REDRAW);
    n = app_detail_lines(a, &l);
    bool beta = false;
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(l[i].text, "Alpha"));
        if (strstr(l[i].text, "Beta"))
            beta = true;
    }
    assert_true(beta);
    /* focus the details: Down scrolls them, not the table */
    app_key(a, KEYMAP_KEY_TAB);
    assert_int_equal(app_focus_get(a), APP_FOCUS_DETAIL);
    app_key(a, KEYMAP_KEY_DOWN);
    app_key(a, KEYMAP_KEY_DOWN);
    assert_int_equal(app_detail_scroll(a), 2);
    app_key(a, KEYMAP_KEY_UP);
    assert_int_equal(app_detail_scroll(a), 1);
    assert_int_equal(app_table_cursor(a), 1);
    app_key(a, KEYMAP_KEY_HOME);
    assert_int_equal(app_detail_scroll(a), 0);
    /* a click on a table row focuses the table again */
    app_mouse(a, APP_FOCUS_TABLE, KEYMAP_MOUSE_CLICK, 0);
    assert_int_equal(app_focus_get(a), APP_FOCUS_TABLE);
    assert_int_equal(app_table_cursor(a), 0);
    app_mouse(a, APP_FOCUS_DETAIL, KEYMAP_MOUSE_CLICK, SIZE_MAX);
    assert_int_equal(app_focus_get(a), APP_FOCUS_DETAIL);
    app_free(a);
    mem_close(m);
}

int main(void)
{
    const struct CMUnitTest big[] = {
        cmocka_unit_test(test_app_table_paging_by_id),
        cmocka_unit_test(test_app_table_paging_by_subject),
        cmocka_unit_test(test_app_table_paging_by_object),
        cmocka_unit_test(test_app_table_resize_keeps_position),
        cmocka_unit_test(test_app_table_filter_incremental),
        cmocka_unit_test(test_app_table_filter_by_source),
    };
    const struct CMUnitTest small[] = {
        cmocka_unit_test(test_app_add_edit_retire),
        cmocka_unit_test(test_app_input_editing_and_history),
        cmocka_unit_test(test_app_teach_file_prompt),
        cmocka_unit_test(test_app_help_lists_every_action),
        cmocka_unit_test(test_app_palette_runs_a_command),
        cmocka_unit_test(test_app_log_messages_reach_the_status_line),
        cmocka_unit_test(test_app_teach_writes_are_separated),
        cmocka_unit_test(test_app_events_stream_into_the_transcript),
        cmocka_unit_test(test_app_empty_read_in_the_call_panel),
        cmocka_unit_test(test_app_worker_answers_with_a_read),
        cmocka_unit_test(test_app_worker_stops_on_ctrl_c),
        cmocka_unit_test(test_app_tab_cycles_panes),
        cmocka_unit_test(test_app_worker_stops_on_escape),
        cmocka_unit_test(test_app_mouse_selects_and_scrolls),
        cmocka_unit_test(test_app_detail_pane_follows_selection),
    };
    int rc = cmocka_run_group_tests_name("table", big, big_setup, big_teardown);
    rc |= cmocka_run_group_tests_name("app", small, NULL, NULL);
    return rc;
}
