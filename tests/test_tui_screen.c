/* test_tui_screen.c -- the view: the layout function for many sizes, and screens drawn by
 * curses through newterm() onto a throwaway file at a fixed size, read back row by row
 * with mvwinnwstr() (tui_row_text). */
#include "config.h"

#include <locale.h>

#include "test_util.h"

#include "memory/store.h"
#include "tui/app.h"
#include "tui/keymap.h"
#include "tui/tui.h"
#include "util/utf8.h"

/* ---- layout -------------------------------------------------------------------------- */

static void check_rect(struct tui_rect r, int rows, int cols)
{
    assert_true(r.h >= 0 && r.w >= 0);
    if (r.h == 0 || r.w == 0)
        return;
    assert_true(r.y >= 0 && r.x >= 0);
    assert_true(r.y + r.h <= rows);
    assert_true(r.x + r.w <= cols);
}

static bool overlap(struct tui_rect a, struct tui_rect b)
{
    if (!a.h || !a.w || !b.h || !b.w)
        return false;
    return a.y < b.y + b.h && b.y < a.y + a.h && a.x < b.x + b.w && b.x < a.x + a.w;
}

static void test_tui_layout_all_sizes(void **state)
{
    (void)state;
    static const enum app_screen screens[] = {APP_SCREEN_GEN, APP_SCREEN_TABLE,
                                              APP_SCREEN_AUDIT, APP_SCREEN_SETTINGS};
    for (int rows = -2; rows <= 70; rows++)
        for (int cols = -2; cols <= 240; cols += (cols < 30 ? 1 : 7))
            for (size_t s = 0; s < 4; s++)
                for (size_t in = 0; in <= 7; in += 3) {
                    struct tui_layout l;
                    tui_layout(rows, cols, screens[s], in, &l);
                    int R = rows < 0 ? 0 : rows, C = cols < 0 ? 0 : cols;
                    struct tui_rect all[] = {l.title, l.status, l.main, l.input, l.side,
                                             l.overlay};
                    for (size_t i = 0; i < 6; i++)
                        check_rect(all[i], R, C);
                    /* panes never overlap each other or the bars */
                    for (size_t i = 0; i < 5; i++)
                        for (size_t j = i + 1; j < 5; j++)
                            assert_false(overlap(all[i], all[j]));
                }
}

static void test_tui_layout_shapes(void **state)
{
    (void)state;
    struct tui_layout l;
    /* wide: the call panel beside the transcript, the input under the transcript */
    tui_layout(30, 120, APP_SCREEN_GEN, 1, &l);
    assert_int_equal(l.title.h, 1);
    assert_int_equal(l.status.y, 29);
    assert_true(l.side.w > 0 && l.side.x == l.main.w);
    assert_int_equal(l.input.h, 2);
    assert_int_equal(l.main.h + l.input.h, 28);
    /* narrow and tall: the panel below */
    tui_layout(40, 80, APP_SCREEN_GEN, 3, &l);
    assert_int_equal(l.side.w, 80);
    assert_true(l.side.y > l.main.y);
    assert_int_equal(l.input.h, 4);
    assert_int_equal(l.main.h + l.side.h + l.input.h, 38);
    /* the input grows to 5 lines at most */
    tui_layout(40, 80, APP_SCREEN_GEN, 50, &l);
    assert_int_equal(l.input.h, 6);
    /* the table with its detail pane below it, or beside it when wide */
    tui_layout(30, 100, APP_SCREEN_TABLE, 1, &l);
    assert_int_equal(l.main.h + l.side.h, 28);
    assert_true(l.side.h >= 5 && l.side.y == l.main.y + l.main.h);
    assert_int_equal(l.main.w, 100);
    assert_int_equal(l.side.w, 100);
    tui_layout(30, 150, APP_SCREEN_TABLE, 1, &l);
    assert_int_equal(l.main.h, 28);
    assert_int_equal(l.side.h, 28);
    assert_int_equal(l.main.w + l.side.w, 150);
    assert_int_equal(l.side.x, l.main.w);
    /* 80 x 24 is the smallest full layout */
    tui_layout(24, 80, APP_SCREEN_GEN, 1, &l);
    assert_false(l.too_small);
    assert_int_equal(l.status.y, 23);
    assert_true(l.main.h > 0 && l.input.h > 0);
    /* one row or one column less: no cramped layout, only the notice */
    static const int small[][2] = {{23, 80}, {24, 79}, {3, 10}, {1, 10}, {0, 0}, {100, 40}};
    for (size_t i = 0; i < sizeof small / sizeof *small; i++)
        for (int s = APP_SCREEN_GEN; s <= APP_SCREEN_SETTINGS; s++) {
            tui_layout(small[i][0], small[i][1], (enum app_screen)s, 1, &l);
            assert_true(l.too_small);
            assert_int_equal(l.main.h + l.input.h + l.side.h + l.title.h + l.status.h, 0);
        }
}

/* ---- screens ------------------------------------------------------------------------- */

struct screen_fx {
    FILE *out, *in;
    struct tui *t;
    struct mem *m;
    struct app *a;
};

static const char *term_name(void)
{
    static const char *const names[] = {"xterm-256color", "xterm", "vt100"};
    for (size_t i = 0; i < 3; i++) {
        char p1[128], p2[128], p3[128];
        snprintf(p1, sizeof p1, "/usr/share/terminfo/%c/%s", names[i][0], names[i]);
        snprintf(p2, sizeof p2, "/lib/terminfo/%c/%s", names[i][0], names[i]);
        snprintf(p3, sizeof p3, "/etc/terminfo/%c/%s", names[i][0], names[i]);
        if (access(p1, R_OK) == 0 || access(p2, R_OK) == 0 || access(p3, R_OK) == 0)
            return names[i];
    }
    return NULL;
}

static int screen_setup(void **state)
{
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        fprintf(stderr, "SKIP: no C.UTF-8 locale; screen tests not run\n");
        return -1;
    }
    const char *term = term_name();
    if (!term) {
        fprintf(stderr, "SKIP: no terminfo entry for xterm or vt100; screen tests not run\n");
        return -1;
    }
    setenv("TERM", term, 1);
    setenv("LINES", "30", 1);
    setenv("COLUMNS", "100", 1);
    unsetenv("NO_COLOR");
    struct screen_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->out = tmpfile();
    fx->in = fopen("/dev/null", "r");
    assert_non_null(fx->out);
    assert_non_null(fx->in);
    assert_int_equal(mem_open(":memory:", &fx->m), STATUS_OK);
    static const char *const t[][3] = {
        {"Zürich", "country", "Switzerland"},
        {"東京", "country", "日本"},
        {"Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "country", "Wales"},
        {"France", "capital", "Paris"},
    };
    for (size_t i = 0; i < 4; i++) {
        int64_t id;
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add(fx->m, t[i][0], t[i][1], t[i][2], 0, &id, &oc),
                         STATUS_OK);
    }
    struct app_config cfg = {.m = fx->m, .status = "no model: memory browsing only"};
    assert_int_equal(app_new(&cfg, &fx->a), STATUS_OK);
    assert_int_equal(tui_open(fx->out, fx->in, true, &fx->t), STATUS_OK);
    *state = fx;
    return 0;
}

static int screen_teardown(void **state)
{
    struct screen_fx *fx = *state;
    tui_close(fx->t);
    app_free(fx->a);
    mem_close(fx->m);
    fclose(fx->out);
    fclose(fx->in);
    free(fx);
    return 0;
}

static bool screen_has(struct screen_fx *fx, const char *text, int *row)
{
    char buf[1024];
    for (int y = 0; y < 30; y++)
        if (strstr(tui_row_text(fx->t, y, buf, sizeof buf), text)) {
            if (row)
                *row = y;
            return true;
        }
    return false;
}

/* Display column where text starts in row y (-1: absent). */
static int column_of(struct screen_fx *fx, int y, const char *text)
{
    char buf[1024];
    tui_row_text(fx->t, y, buf, sizeof buf);
    const char *p = strstr(buf, text);
    return p ? (int)utf8_width(buf, (size_t)(p - buf)) : -1;
}

static void test_tui_screen_table(void **state)
{
    struct screen_fx *fx = *state;
    tui_resize(fx->t, 30, 100);
    app_apply(fx->a, CMD_SCREEN_TABLE);
    tui_draw(fx->t, fx->a);
    char buf[1024];
    assert_non_null(strstr(tui_row_text(fx->t, 0, buf, sizeof buf), "memllm"));
    assert_non_null(strstr(tui_row_text(fx->t, 1, buf, sizeof buf), "4"));
    int hy = -1, zy = -1, ty = -1, ly = -1;
    assert_true(screen_has(fx, "subject", &hy));
    assert_true(screen_has(fx, "Zürich", &zy));
    assert_true(screen_has(fx, "東京", &ty));
    assert_true(screen_has(fx, "日本", NULL));
    /* columns line up whatever the cell widths of the names before them */
    assert_true(column_of(fx, zy, "country") > 0);
    assert_int_equal(column_of(fx, zy, "country"), column_of(fx, ty, "country"));
    assert_int_equal(column_of(fx, hy, "relation"), column_of(fx, ty, "country"));
    /* the long name is cut with an ellipsis and the columns still line up */
    assert_true(screen_has(fx, "Llanfairpwll", &ly));
    assert_false(screen_has(fx, "gogogoch", NULL));
    assert_true(column_of(fx, ly, "\u2026") > 0);
    assert_int_equal(column_of(fx, ly, "country"), column_of(fx, zy, "country"));
    /* the status line is the last row */
    assert_non_null(strstr(tui_row_text(fx->t, 29, buf, sizeof buf), "memory browsing"));
    /* the heading counts the rows, singular for one */
    assert_non_null(strstr(tui_row_text(fx->t, 1, buf, sizeof buf), " 4 triples "));
    app_apply(fx->a, CMD_FILTER);
    const char *q = "France";
    for (size_t i = 0; q[i]; i++)
        app_key(fx->a, q[i]);
    app_key(fx->a, KEYMAP_KEY_RETURN);
    assert_int_equal(app_table_total(fx->a), 1);
    tui_draw(fx->t, fx->a);
    assert_non_null(strstr(tui_row_text(fx->t, 1, buf, sizeof buf), " 1 triple "));
    app_apply(fx->a, CMD_FILTER);
    app_apply(fx->a, CMD_KILL_LINE);
    app_key(fx->a, KEYMAP_KEY_ESC);
    assert_int_equal(app_table_total(fx->a), 4);
    tui_draw(fx->t, fx->a);
}

/* A click on a table row selects that row (the view maps the position). */
static void test_tui_screen_mouse_table(void **state)
{
    struct screen_fx *fx = *state;
    tui_resize(fx->t, 30, 100);
    app_apply(fx->a, CMD_SCREEN_TABLE);
    tui_draw(fx->t, fx->a);
    static const char *const subj[] = {"東京", "France", "Zürich"};
    for (size_t k = 0; k < 3; k++) {
        int y = -1;
        assert_true(screen_has(fx, subj[k], &y));
        assert_true(tui_mouse(fx->t, fx->a, y, 40, KEYMAP_MOUSE_CLICK) & REACT_REDRAW);
        const struct app_row *rows;
        size_t n = app_table_rows(fx->a, &rows);
        assert_true(app_table_cursor(fx->a) < n);
        assert_string_equal(rows[app_table_cursor(fx->a)].subj, subj[k]);
        tui_draw(fx->t, fx->a);
    }
    /* the detail pane shows the selected triple; a click there focuses it */
    int dy = -1, zy = -1;
    assert_true(screen_has(fx, "Details", &dy));
    char buf[1024];
    bool shown = false;
    for (int y = dy + 1; y < 29; y++)
        if (strstr(tui_row_text(fx->t, y, buf, sizeof buf), "Zürich"))
            shown = true;
    assert_true(shown);
    assert_true(screen_has(fx, "Zürich", &zy));
    assert_true(zy < dy);
    tui_mouse(fx->t, fx->a, dy + 1, 10, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_focus_get(fx->a), APP_FOCUS_DETAIL);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "\u25b6 Details", NULL));
    tui_mouse(fx->t, fx->a, zy, 40, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_focus_get(fx->a), APP_FOCUS_TABLE);
    tui_draw(fx->t, fx->a);
    /* the wheel moves the cursor 3 rows */
    size_t before = app_table_cursor(fx->a);
    tui_mouse(fx->t, fx->a, 10, 40, KEYMAP_MOUSE_WHEEL_UP);
    assert_int_equal(app_table_cursor(fx->a), before >= 3 ? before - 3 : 0);
    /* too small: nothing is hit */
    tui_resize(fx->t, 20, 100);
    tui_draw(fx->t, fx->a);
    assert_int_equal(tui_mouse(fx->t, fx->a, 3, 40, KEYMAP_MOUSE_CLICK), REACT_NONE);
    tui_resize(fx->t, 30, 100);
    tui_draw(fx->t, fx->a);
}

static void test_tui_screen_generation_and_calls(void **state)
{
    struct screen_fx *fx = *state;
    tui_resize(fx->t, 30, 100);
    app_apply(fx->a, CMD_SCREEN_GEN);
    struct agent_event ev = {.kind = AGENT_EVENT_TOKEN, .text = "Die Hauptstadt ist Bern.",
                             .len = 24};
    app_event_cb(fx->a, &ev);
    struct agent_event w = {.kind = AGENT_EVENT_WRITE, .sentence = "Bern is the capital.",
                            .sentence_no = 1, .n_sentences = 1};
    struct ctrl_triple_in ti = {"Switzerland", "capital", "Bern"};
    struct ctrl_written wr = {42, MEM_OUTCOME_NEW, false, false, true};
    w.triples = &ti;
    w.written = &wr;
    w.n_triples = 1;
    app_event_cb(fx->a, &w);
    app_drain(fx->a);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "Die Hauptstadt ist Bern.", NULL));
    assert_true(screen_has(fx, "Memory calls (1)", NULL));
    assert_true(screen_has(fx, "write", NULL));
    assert_true(screen_has(fx, "Input [Ask]", NULL));
    /* the focused pane's heading starts with an arrow; Tab moves it */
    int hy = -1;
    assert_true(screen_has(fx, "\u25b6 Input [Ask]", NULL));
    assert_false(screen_has(fx, "\u25b6 Generation", NULL));
    app_key(fx->a, KEYMAP_KEY_TAB);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "\u25b6 Generation", &hy));
    assert_false(screen_has(fx, "\u25b6 Input", NULL));
    app_key(fx->a, KEYMAP_KEY_TAB);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "\u25b6 Memory calls (1)", NULL));
    assert_false(screen_has(fx, "\u25b6 Generation", NULL));
    app_key(fx->a, KEYMAP_KEY_TAB);
    tui_draw(fx->t, fx->a);
    /* mouse: a click on the call's row in the panel selects it and focuses the panel */
    struct tui_layout l;
    tui_layout(30, 100, APP_SCREEN_GEN, 1, &l);
    int cy = -1;
    assert_true(screen_has(fx, "write", &cy));
    assert_true(cy > l.side.y);
    assert_int_equal(app_call_selected(fx->a), SIZE_MAX);
    tui_mouse(fx->t, fx->a, cy, l.side.x + 3, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_focus_get(fx->a), APP_FOCUS_CALLS);
    assert_int_equal(app_call_selected(fx->a), 0);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "\u25b6 Memory calls (1)", NULL));
    /* the wheel over the transcript scrolls it; a click in the input box focuses it */
    tui_mouse(fx->t, fx->a, l.main.y + 2, l.main.x + 2, KEYMAP_MOUSE_WHEEL_UP);
    assert_int_equal(app_transcript_scroll(fx->a), 3);
    assert_int_equal(app_focus_get(fx->a), APP_FOCUS_CALLS);
    tui_mouse(fx->t, fx->a, l.main.y + 2, l.main.x + 2, KEYMAP_MOUSE_WHEEL_DOWN);
    assert_int_equal(app_transcript_scroll(fx->a), 0);
    /* the transcript fits its pane: scrolling back does not pile up past the top */
    tui_mouse(fx->t, fx->a, l.main.y + 2, l.main.x + 2, KEYMAP_MOUSE_WHEEL_UP);
    tui_draw(fx->t, fx->a);
    assert_int_equal(app_transcript_scroll(fx->a), 0);
    tui_mouse(fx->t, fx->a, l.input.y + 1, l.input.x + 2, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_focus_get(fx->a), APP_FOCUS_INPUT);
    /* the title bar is no pane */
    assert_int_equal(tui_mouse(fx->t, fx->a, 0, 5, KEYMAP_MOUSE_CLICK), REACT_NONE);
    tui_draw(fx->t, fx->a);
    /* typed text shows in the input box */
    const char *q = "Wo liegt Zürich?";
    for (size_t i = 0; q[i];) {
        uint32_t cp;
        int k = utf8_decode(q + i, strlen(q + i), &cp);
        app_key(fx->a, (int)cp);
        i += (size_t)k;
    }
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "> Wo liegt Zürich?", NULL));
    /* the help overlay lists actions with their keys */
    app_key(fx->a, KEYMAP_KEY_F1);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "Help", NULL));
    assert_true(screen_has(fx, "Ctrl-P", NULL));
    app_key(fx->a, KEYMAP_KEY_ESC);
    app_key(fx->a, KEYMAP_CTRL('u'));
}

/* At 80x24 the call panel (below the transcript) has 5 rows: an expanded call keeps its
 * heading and as much of its expansion as fits, the calls above it scroll away. */
static void test_tui_screen_short_call_panel(void **state)
{
    struct screen_fx *fx = *state;
    tui_resize(fx->t, 24, 80);
    app_apply(fx->a, CMD_SCREEN_GEN);
    for (size_t k = 0; k < 4; k++) {
        struct agent_event w = {.kind = AGENT_EVENT_WRITE, .sentence = "Bern is the capital.",
                                .sentence_no = k + 1, .n_sentences = 4};
        app_event_cb(fx->a, &w);
    }
    struct ctrl_candidate ents[1] = {{1, "France", 0.0, true}};
    struct ctrl_candidate rels[1] = {{2, "capital", 0.0, true}};
    struct ctrl_found found[1] = {{4, 1, 2, 3, "France", "capital", "Paris", 0.0, 0.0, 0.0,
                                   true}};
    struct ctrl_answer ans[1] = {{3, "Paris", 0.0, 4}};
    struct ctrl_read rd = {
        .want = CTRL_WANT_OBJECT, .name = "France", .relation = "capital",
        .entities = ents, .n_entities = 1, .n_entities_passed = 1,
        .relations = rels, .n_relations = 1, .n_relations_passed = 1,
        .found = found, .n_found = 1, .answers = ans, .n_answers = 1,
    };
    struct ctrl_read *reads[1] = {&rd};
    struct agent_event rv = {.kind = AGENT_EVENT_READ, .call_no = 1, .reads = reads,
                             .n_reads = 1, .results = "Paris"};
    app_event_cb(fx->a, &rv);
    app_drain(fx->a);
    size_t n = app_call_count(fx->a);
    assert_true(n >= 5);
    struct tui_layout l;
    tui_layout(24, 80, APP_SCREEN_GEN, 1, &l);
    assert_int_equal(l.side.w, 80);
    assert_int_equal(l.side.h, 6);
    /* focus the panel, select the read (the newest call) and expand it */
    while (app_focus_get(fx->a) != APP_FOCUS_CALLS)
        app_key(fx->a, KEYMAP_KEY_TAB);
    app_key(fx->a, 'G');
    assert_int_equal(app_call_selected(fx->a), n - 1);
    app_key(fx->a, ' ');
    assert_true(app_call_expanded(fx->a));
    tui_draw(fx->t, fx->a);
    char buf[1024];
    /* the read's heading (with its result) is the panel's first row, the found triple
     * shows under it */
    tui_row_text(fx->t, l.side.y + 1, buf, sizeof buf);
    assert_non_null(strstr(buf, "France>>capital>>?  \u2192 Paris"));
    int qy = -1, ty = -1;
    assert_true(screen_has(fx, "query 1: France>>capital>>?", &qy));
    assert_true(screen_has(fx, "#4 France | capital | Paris", &ty));
    assert_true(qy > l.side.y + 1 && ty > qy && ty < l.side.y + l.side.h);
    /* the mouse maps the scrolled rows: a click on the heading keeps the read selected
     * and expanded, a click on an expansion row selects no other call */
    tui_mouse(fx->t, fx->a, l.side.y + 1, 5, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_call_selected(fx->a), n - 1);
    assert_true(app_call_expanded(fx->a));
    tui_mouse(fx->t, fx->a, ty, 5, KEYMAP_MOUSE_CLICK);
    assert_int_equal(app_call_selected(fx->a), n - 1);
    assert_true(app_call_expanded(fx->a));
    tui_draw(fx->t, fx->a);
    /* folded again: the newest calls fill the panel */
    app_key(fx->a, ' ');
    tui_draw(fx->t, fx->a);
    assert_false(screen_has(fx, "query 1: France>>capital>>?", NULL));
    assert_true(screen_has(fx, "France>>capital>>?  \u2192 Paris", NULL));
    while (app_focus_get(fx->a) != APP_FOCUS_INPUT)
        app_key(fx->a, KEYMAP_KEY_TAB);
    tui_resize(fx->t, 30, 100);
}

static void test_tui_screen_audit_and_settings(void **state)
{
    struct screen_fx *fx = *state;
    tui_resize(fx->t, 30, 100);
    app_apply(fx->a, CMD_SCREEN_AUDIT);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "Runs", NULL));
    assert_true(screen_has(fx, "no recorded runs yet", NULL));
    app_apply(fx->a, CMD_SCREEN_SETTINGS);
    tui_draw(fx->t, fx->a);
    int y = -1;
    assert_true(screen_has(fx, "read: entity distance threshold", &y));
    /* without a controller or a model the values are shown as unavailable */
    assert_true(column_of(fx, y, "\u2014") > 0);
    assert_true(screen_has(fx, "sampling: temperature", NULL));
    /* the palette lists actions with their keys */
    app_apply(fx->a, CMD_PALETTE);
    tui_draw(fx->t, fx->a);
    assert_true(screen_has(fx, "Command palette", NULL));
    assert_true(screen_has(fx, "Ctrl-Q", NULL));
    app_apply(fx->a, CMD_CANCEL);
}

static void test_tui_screen_tiny_sizes(void **state)
{
    struct screen_fx *fx = *state;
    static const int sizes[][2] = {{3, 10}, {10, 3}, {1, 1}, {2, 5}, {4, 12}, {6, 40},
                                   {30, 100}};
    static const enum cmd screens[] = {CMD_SCREEN_GEN, CMD_SCREEN_TABLE, CMD_SCREEN_AUDIT,
                                       CMD_SCREEN_SETTINGS};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t s = 0; s < 4; s++) {
            tui_resize(fx->t, sizes[i][0], sizes[i][1]);
            app_apply(fx->a, screens[s]);
            tui_draw(fx->t, fx->a);
            app_apply(fx->a, CMD_HELP);
            tui_draw(fx->t, fx->a);
            app_apply(fx->a, CMD_CANCEL);
            app_apply(fx->a, CMD_PALETTE);
            tui_draw(fx->t, fx->a);
            app_apply(fx->a, CMD_CANCEL);
        }
    /* below 80x24: one line says so (cut at the width), nothing else is drawn */
    char buf[256];
    tui_resize(fx->t, 23, 100);
    app_apply(fx->a, CMD_SCREEN_GEN);
    tui_draw(fx->t, fx->a);
    assert_string_equal(tui_row_text(fx->t, 0, buf, sizeof buf),
                        "terminal too small: need at least 80x24, have 100x23");
    for (int y = 1; y < 23; y++)
        assert_string_equal(tui_row_text(fx->t, y, buf, sizeof buf), "");
    tui_resize(fx->t, 30, 79);
    tui_draw(fx->t, fx->a);
    assert_string_equal(tui_row_text(fx->t, 0, buf, sizeof buf),
                        "terminal too small: need at least 80x24, have 79x30");
    tui_resize(fx->t, 3, 10);
    tui_draw(fx->t, fx->a);
    assert_string_equal(tui_row_text(fx->t, 0, buf, sizeof buf), "terminal t");
    /* at 80x24 the normal screen is back */
    tui_resize(fx->t, 24, 80);
    tui_draw(fx->t, fx->a);
    assert_non_null(strstr(tui_row_text(fx->t, 0, buf, sizeof buf), "memllm"));
    tui_resize(fx->t, 30, 100);
}

int main(void)
{
    const struct CMUnitTest layout[] = {
        cmocka_unit_test(test_tui_layout_all_sizes),
        cmocka_unit_test(test_tui_layout_shapes),
    };
    const struct CMUnitTest screen[] = {
        cmocka_unit_test(test_tui_screen_table),
        cmocka_unit_test(test_tui_screen_mouse_table),
        cmocka_unit_test(test_tui_screen_generation_and_calls),
        cmocka_unit_test(test_tui_screen_short_call_panel),
        cmocka_unit_test(test_tui_screen_audit_and_settings),
        cmocka_unit_test(test_tui_screen_tiny_sizes),
    };
    int rc = cmocka_run_group_tests_name("layout", layout, NULL, NULL);
    if (setlocale(LC_ALL, "C.UTF-8") && term_name())
        rc |= cmocka_run_group_tests_name("screen", screen, screen_setup, screen_teardown);
    else
        fprintf(stderr, "SKIP: no C.UTF-8 locale or terminfo entry; screen tests not run\n");
    return rc;
}
