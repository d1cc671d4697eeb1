/* tui.c -- the TUI's view: curses drawing, key translation and the main loop.
 * The only file of memllm that includes curses.h. */
#include "config.h"
#include "tui/tui.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "util/i18n.h"
#include "util/utf8.h"

struct tui {
    SCREEN *scr;
    FILE *out, *in;
    bool color;
    int rows, cols;
    struct tui_layout lay;
    size_t input_lines;
    int mouse_y, mouse_x; /* the last mouse event (tui_read_key) */
    enum keymap_mouse mouse_ev;
};

/* ---- styles -------------------------------------------------------------------------- */

enum { PAIR_BASE = 1 };

static attr_t style_attr(const struct tui *t, enum app_style s)
{
    if (!t->color) {
        switch (s) {
        case APP_STYLE_TITLE: return A_BOLD;
        case APP_STYLE_USER: return A_BOLD;
        case APP_STYLE_READ: return A_UNDERLINE;
        case APP_STYLE_WRITE: return A_UNDERLINE | A_BOLD;
        case APP_STYLE_FAIL: return A_DIM | A_UNDERLINE;
        case APP_STYLE_INFO: return A_DIM;
        case APP_STYLE_ERROR: return A_BOLD | A_STANDOUT;
        case APP_STYLE_MARK: return A_BOLD;
        case APP_STYLE_DIM: return A_DIM;
        case APP_STYLE_NORMAL: break;
        }
        return A_NORMAL;
    }
    attr_t extra = s == APP_STYLE_TITLE || s == APP_STYLE_MARK ? A_BOLD : A_NORMAL;
    if (s == APP_STYLE_NORMAL)
        return A_NORMAL;
    return COLOR_PAIR(PAIR_BASE + (int)s) | extra;
}

static void colors_init(struct tui *t)
{
    const char *nc = getenv("NO_COLOR");
    if (!t->color || (nc && nc[0]) || !has_colors() || start_color() == ERR) {
        t->color = false;
        return;
    }
    use_default_colors();
    static const short fg[] = {
        [APP_STYLE_NORMAL] = -1, [APP_STYLE_TITLE] = COLOR_CYAN, [APP_STYLE_USER] = COLOR_GREEN,
        [APP_STYLE_READ] = COLOR_BLUE, [APP_STYLE_WRITE] = COLOR_MAGENTA,
        [APP_STYLE_FAIL] = COLOR_YELLOW, [APP_STYLE_INFO] = COLOR_CYAN,
        [APP_STYLE_ERROR] = COLOR_RED, [APP_STYLE_MARK] = COLOR_YELLOW,
        [APP_STYLE_DIM] = COLOR_BLACK,
    };
    for (int s = 0; s <= APP_STYLE_DIM; s++)
        init_pair((short)(PAIR_BASE + s), s == APP_STYLE_DIM && COLORS >= 16 ? 8 : fg[s], -1);
}

/* ---- text ---------------------------------------------------------------------------- */

/* Draw s[0..len) at (y, x), at most w cells; control characters and invalid bytes show as
 * U+FFFD; returns the cells used. */
static int put(int y, int x, int w, const char *s, size_t len, attr_t attr)
{
    if (w <= 0 || y < 0 || x < 0)
        return 0;
    int used = 0;
    wchar_t buf[2] = {0, 0};
    attr_t old_a;
    short old_p;
    wattr_get(stdscr, &old_a, &old_p, NULL);
    wattrset(stdscr, (int)attr);
    wmove(stdscr, y, x);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k <= 0) {
            cp = 0xFFFD;
            k = 1;
        }
        i += (size_t)k;
        int cw = utf8_cp_width(cp);
        if (cw < 0) {
            cp = cp == '\t' ? ' ' : 0xFFFD;
            cw = 1;
        }
        if (cw == 0) {
            if (used == 0)
                continue; /* nothing to combine with */
            buf[0] = (wchar_t)cp;
            waddnwstr(stdscr, buf, 1);
            continue;
        }
        if (used + cw > w)
            break;
        buf[0] = (wchar_t)cp;
        waddnwstr(stdscr, buf, 1);
        used += cw;
    }
    wattr_set(stdscr, old_a, old_p, NULL);
    return used;
}

static int puts_(int y, int x, int w, const char *s, attr_t attr)
{
    return put(y, x, w, s, strlen(s), attr);
}

static void fill(int y, int x, int w, attr_t attr)
{
    if (w <= 0)
        return;
    wattrset(stdscr, (int)attr);
    mvwhline(stdscr, y, x, ' ', w);
    wattrset(stdscr, A_NORMAL);
}

/* A heading row over a pane: reverse video and a leading arrow when focused (the arrow
 * marks the focus on terminals without attributes too). */
static void heading(const struct tui *t, struct tui_rect r, const char *text, bool focused)
{
    if (r.h <= 0)
        return;
    attr_t a = focused ? A_REVERSE | A_BOLD : (t->color ? style_attr(t, APP_STYLE_TITLE)
                                                        : A_UNDERLINE);
    fill(r.y, r.x, r.w, a);
    if (focused && r.w > 1) {
        puts_(r.y, r.x, 1, "\u25b6", a);
        puts_(r.y, r.x + 1, r.w - 1, text, a);
    } else {
        puts_(r.y, r.x, r.w, text, a);
    }
}

/* ---- the transcript: character wrap over the spans ----------------------------------- */

typedef void (*piece_fn)(void *ctx, size_t line, int x, enum app_style s, const char *p,
                         size_t n);

/* Walk the spans wrapped at width w; returns the number of lines. */
static size_t wrap_spans(const struct app *a, int w, piece_fn fn, void *ctx)
{
    size_t line = 0;
    int x = 0;
    if (w <= 0)
        return 0;
    for (size_t i = 0; i < app_span_count(a); i++) {
        struct app_span sp = app_span_get(a, i);
        size_t start = 0, pos = 0;
        int start_x = x;
        while (pos < sp.len) {
            uint32_t cp;
            int k = utf8_decode(sp.text + pos, sp.len - pos, &cp);
            if (k <= 0) {
                k = 1;
                cp = 0xFFFD;
            }
            if (cp == '\n') {
                if (fn && pos > start)
                    fn(ctx, line, start_x, sp.style, sp.text + start, pos - start);
                line++;
                x = 0;
                pos += (size_t)k;
                start = pos;
                start_x = 0;
                continue;
            }
            int cw = utf8_cp_width(cp);
            if (cw < 0)
                cw = 1;
            if (x + cw > w) {
                if (fn && pos > start)
                    fn(ctx, line, start_x, sp.style, sp.text + start, pos - start);
                line++;
                x = 0;
                start = pos;
                start_x = 0;
            }
            x += cw;
            pos += (size_t)k;
        }
        if (fn && pos > start)
            fn(ctx, line, start_x, sp.style, sp.text + start, pos - start);
    }
    return line + 1;
}

struct draw_ctx {
    const struct tui *t;
    struct tui_rect r;
    size_t first;
};

static void draw_piece(void *ctx, size_t line, int x, enum app_style s, const char *p, size_t n)
{
    struct draw_ctx *d = ctx;
    if (line < d->first || line >= d->first + (size_t)d->r.h)
        return;
    put(d->r.y + (int)(line - d->first), d->r.x + x, d->r.w - x, p, n, style_attr(d->t, s));
}

static void draw_transcript(const struct tui *t, const struct app *a, struct tui_rect r,
                            bool focus)
{
    if (r.h <= 1)
        return;
    char head[160];
    snprintf(head, sizeof head, " %s \u2014 %s ", _("Generation"), app_mode_name(app_mode_get(a)));
    heading(t, r, head, focus);
    struct tui_rect body = {r.y + 1, r.x, r.h - 1, r.w};
    size_t total = wrap_spans(a, body.w, NULL, NULL);
    size_t scroll = app_transcript_scroll(a);
    size_t h = (size_t)body.h;
    size_t max_first = total > h ? total - h : 0;
    size_t first = max_first > scroll ? max_first - scroll : 0;
    if (app_span_count(a) == 0)
        puts_(body.y, body.x, body.w, _("Type a question and press Enter (F1: help)."),
              style_attr(t, APP_STYLE_INFO));
    struct draw_ctx d = {t, body, first};
    wrap_spans(a, body.w, draw_piece, &d);
}

/* ---- the input box ------------------------------------------------------------------- */

/* Visual lines of the input at width w, and the cursor's position. */
static size_t input_layout(const struct app *a, int w, int *cy, int *cx)
{
    const uint32_t *cps;
    size_t n, cur;
    app_input_get(a, &cps, &n, &cur);
    int x = 0;
    size_t line = 0;
    *cy = 0;
    *cx = 0;
    if (w <= 0)
        return 1;
    for (size_t i = 0; i <= n; i++) {
        if (i == cur) {
            if (x >= w) {
                *cy = (int)line + 1;
                *cx = 0;
            } else {
                *cy = (int)line;
                *cx = x;
            }
        }
        if (i == n)
            break;
        if (cps[i] == '\n') {
            line++;
            x = 0;
            continue;
        }
        int cw = utf8_cp_width(cps[i]);
        if (cw < 0)
            cw = 1;
        if (x + cw > w) {
            line++;
            x = 0;
        }
        x += cw;
    }
    size_t lines = line + 1;
    if ((size_t)*cy + 1 > lines)
        lines = (size_t)*cy + 1;
    return lines;
}

static void draw_input(const struct tui *t, const struct app *a, struct tui_rect r, bool focus,
                       int *cur_y, int *cur_x)
{
    *cur_y = *cur_x = -1;
    if (r.h <= 0)
        return;
    char head[200];
    snprintf(head, sizeof head, " %s [%s]  %s ", _("Input"), app_mode_name(app_mode_get(a)),
             _("Enter: send  Ctrl-J: new line  Ctrl-T: mode"));
    heading(t, r, head, focus);
    if (r.h < 2)
        return;
    const uint32_t *cps;
    size_t n, cur;
    app_input_get(a, &cps, &n, &cur);
    int w = r.w - 2;
    int cy, cx;
    size_t lines = input_layout(a, w, &cy, &cx);
    int h = r.h - 1;
    int first = cy >= h ? cy - h + 1 : 0;
    (void)lines;
    const char *mark = app_mode_get(a) == APP_MODE_TEACH ? "+" : ">";
    puts_(r.y + 1, r.x, 2, mark, style_attr(t, APP_STYLE_USER));
    int x = 0, line = 0;
    wchar_t b[2] = {0, 0};
    for (size_t i = 0; i < n && w > 0; i++) {
        if (cps[i] == '\n') {
            line++;
            x = 0;
            continue;
        }
        int cw = utf8_cp_width(cps[i]);
        uint32_t cp = cps[i];
        if (cw < 0) {
            cw = 1;
            cp = 0xFFFD;
        }
        if (x + cw > w) {
            line++;
            x = 0;
        }
        if (line >= first && line - first < h) {
            b[0] = (wchar_t)cp;
            mvwaddnwstr(stdscr, r.y + 1 + line - first, r.x + 2 + x, b, 1);
        }
        x += cw;
    }
    if (focus) {
        *cur_y = r.y + 1 + cy - first;
        *cur_x = r.x + 2 + cx;
    }
}

/* ---- the call panel ------------------------------------------------------------------ */

/* The call panel's rows: one per call plus the selected call's expansion lines.  Returns
 * the first row shown in h rows and the expansion lines: the selected call stays visible
 * with as much of its expansion as fits (in a short panel, such as the one below the
 * transcript at 80x24, the calls above it scroll away rather than its results). */
static size_t calls_first(const struct app *a, int h, const struct app_line **lines,
                          size_t *n_lines)
{
    size_t n = app_call_count(a), sel = app_call_selected(a);
    *lines = NULL;
    *n_lines = sel < n && app_call_expanded(a) ? app_call_lines(a, sel, lines) : 0;
    if (n == 0 || h <= 0)
        return 0;
    size_t total = n + *n_lines;
    if (sel >= n)
        return total > (size_t)h ? total - (size_t)h : 0;
    size_t end = sel + 1 + *n_lines; /* one past the selection's last row */
    if (end <= (size_t)h)
        return 0;
    return end - (size_t)h < sel ? end - (size_t)h : sel;
}

/* The call shown on row y (0: first row under the heading) of a panel of h rows, or
 * SIZE_MAX (an expansion line or nothing). */
static size_t calls_item_at(const struct app *a, int h, int y)
{
    const struct app_line *lines;
    size_t n_lines, n = app_call_count(a), sel = app_call_selected(a);
    if (y < 0 || y >= h)
        return SIZE_MAX;
    size_t row = calls_first(a, h, &lines, &n_lines) + (size_t)y;
    for (size_t i = 0, r = 0; i < n; i++) {
        if (r == row)
            return i;
        r++;
        if (i == sel) {
            if (row < r + n_lines)
                return SIZE_MAX;
            r += n_lines;
        }
    }
    return SIZE_MAX;
}

static void draw_calls(const struct tui *t, const struct app *a, struct tui_rect r, bool focus)
{
    if (r.h <= 0 || r.w <= 0)
        return;
    char head[120];
    snprintf(head, sizeof head, " %s (%zu) ", _("Memory calls"), app_call_count(a));
    heading(t, r, head, focus);
    int h = r.h - 1;
    if (h <= 0)
        return;
    size_t n = app_call_count(a), sel = app_call_selected(a);
    if (n == 0) {
        puts_(r.y + 1, r.x + 1, r.w - 1, _("no memory calls yet"), style_attr(t, APP_STYLE_DIM));
        return;
    }
    const struct app_line *lines = NULL;
    size_t n_lines = 0;
    size_t first = calls_first(a, h, &lines, &n_lines);
    int y = 0;
    for (size_t row = 0, i = 0; i < n && y < h; i++) {
        enum app_style st = APP_STYLE_NORMAL;
        const char *title = app_call_title(a, i, &st);
        if (row >= first) {
            attr_t at = style_attr(t, st) | (i == sel ? A_REVERSE : A_NORMAL);
            if (i == sel)
                fill(r.y + 1 + y, r.x, r.w, at);
            puts_(r.y + 1 + y, r.x + 1, r.w - 1, title, at);
            y++;
        }
        row++;
        if (i == sel)
            for (size_t k = 0; k < n_lines && y < h; k++, row++)
                if (row >= first)
                    puts_(r.y + 1 + y++, r.x + 1, r.w - 1, lines[k].text,
                          style_attr(t, lines[k].style));
    }
}

/* ---- the triple table ---------------------------------------------------------------- */

static void cell(int y, int x, int w, const char *s, attr_t at)
{
    if (w <= 0)
        return;
    size_t cols = 0;
    size_t len = strlen(s);
    size_t cut = utf8_truncate(s, len, (size_t)w, &cols);
    if (cut < len && w >= 2) {
        cut = utf8_truncate(s, len, (size_t)w - 1, &cols);
        put(y, x, w - 1, s, cut, at);
        put(y, x + (int)cols, 1, "\u2026", 3, at);
    } else {
        put(y, x, w, s, cut, at);
    }
}

static void draw_table(const struct tui *t, const struct app *a, struct tui_rect r)
{
    if (r.h <= 0)
        return;
    static const char *const sorts[] = {N_("id"), N_("subject"), N_("relation"), N_("object")};
    char head[400];
    int64_t total = app_table_total(a);
    char count[48] = "?", counted[96];
    if (total >= 0)
        snprintf(count, sizeof count, "%lld%s", (long long)total,
                 app_table_total_capped(a) ? "+" : "");
    /* TRANSLATORS: the number of triples in the memory table's heading; %s is the number,
     * "?" while unknown, with a "+" when the count stopped early */
    snprintf(counted, sizeof counted, P_("%s triple", "%s triples",
                                         total >= 0 ? (unsigned long)total : 2ul), count);
    snprintf(head, sizeof head, " %s  %s  %s: %s%s%s%s ", _("Memory"), counted,
             _("sorted by"), _(sorts[app_table_sort(a)]),
             app_table_retired_shown(a) ? "  +" : "", app_table_retired_shown(a)
             ? _("retired") : "", app_table_filter_text(a)[0] ? "" : "");
    if (app_table_filter_text(a)[0]) {
        size_t l = strlen(head);
        snprintf(head + l, sizeof head - l, " %s: %s ", _("filter"), app_table_filter_text(a));
    }
    heading(t, r, head, app_focus_get(a) == APP_FOCUS_TABLE);
    if (r.h < 2)
        return;
    int idw = 8, mw = 2;
    int rest = r.w - idw - mw - 3;
    if (rest < 3) {
        idw = 0;
        rest = r.w - mw - 2;
    }
    int sw = rest * 35 / 100, rw = rest * 25 / 100;
    int ow = rest - sw - rw;
    if (sw < 1 || rw < 1 || ow < 1) {
        sw = rw = 0;
        ow = r.w - mw;
    }
    int xs = r.x + mw + idw + (idw ? 1 : 0), xr = xs + sw + 1, xo = xr + rw + 1;
    attr_t ha = A_BOLD;
    fill(r.y + 1, r.x, r.w, ha);
    if (idw)
        cell(r.y + 1, r.x + mw, idw, "id", ha);
    cell(r.y + 1, xs, sw, _("subject"), ha);
    cell(r.y + 1, xr, rw, _("relation"), ha);
    cell(r.y + 1, xo, ow, _("object"), ha);
    const struct app_row *rows;
    size_t n = app_table_rows(a, &rows);
    size_t cur = app_table_cursor(a);
    int h = r.h - 2;
    if (n == 0 && h > 0)
        puts_(r.y + 2, r.x + 1, r.w - 1, _("no triples (a: add one, /: change the filter)"),
              style_attr(t, APP_STYLE_DIM));
    for (size_t i = 0; i < n && (int)i < h; i++) {
        bool g = false;
        enum app_style st = app_row_style(a, &rows[i], &g);
        attr_t at = style_attr(t, st);
        if (i == cur && app_focus_get(a) == APP_FOCUS_TABLE)
            at |= A_REVERSE;
        int y = r.y + 2 + (int)i;
        fill(y, r.x, r.w, at);
        const char *m = rows[i].retired ? "\u2717" : g ? "\u25cf" : rows[i].conflict ? "!" : " ";
        if (st == APP_STYLE_MARK && !g)
            m = "\u25b8";
        puts_(y, r.x, mw, m, at);
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)rows[i].id);
        if (idw)
            cell(y, r.x + mw, idw, id, at);
        cell(y, xs, sw, rows[i].subj, at);
        cell(y, xr, rw, rows[i].rel, at);
        cell(y, xo, ow, rows[i].obj, at);
    }
}

/* ---- lists: audit, settings ---------------------------------------------------------- */

static void draw_lines(const struct tui *t, struct tui_rect r, const struct app_line *l,
                       size_t n, size_t first, size_t sel, bool focus)
{
    for (int y = 0; y < r.h && first + (size_t)y < n; y++) {
        size_t i = first + (size_t)y;
        attr_t at = style_attr(t, l[i].style);
        if (i == sel && focus) {
            at |= A_REVERSE;
            fill(r.y + y, r.x, r.w, at);
        }
        puts_(r.y + y, r.x, r.w, l[i].text, at);
    }
}

static size_t first_for(size_t sel, size_t n, int h)
{
    if (h <= 0 || n <= (size_t)h)
        return 0;
    size_t first = sel >= (size_t)h / 2 ? sel - (size_t)h / 2 : 0;
    return first + (size_t)h > n ? n - (size_t)h : first;
}

static void draw_detail(const struct tui *t, const struct app *a, struct tui_rect r)
{
    if (r.h <= 0 || r.w <= 1)
        return;
    heading(t, r, _(" Details (Tab: focus, Enter: open) "),
            app_focus_get(a) == APP_FOCUS_DETAIL);
    const struct app_line *l;
    size_t n = app_detail_lines(a, &l);
    struct tui_rect b = {r.y + 1, r.x + 1, r.h - 1, r.w - 1};
    draw_lines(t, b, l, n, app_detail_scroll(a), SIZE_MAX, false);
}

static void draw_audit(const struct tui *t, const struct app *a)
{
    struct tui_rect r = t->lay.main;
    const struct app_line *l;
    size_t n = app_audit_runs(a, &l);
    if (r.h > 0) {
        heading(t, r, _(" Runs (Enter: open) "), app_focus_get(a) == APP_FOCUS_AUDIT);
        struct tui_rect b = {r.y + 1, r.x, r.h - 1, r.w};
        if (n == 0 && b.h > 0)
            puts_(b.y, b.x + 1, b.w - 1, _("no recorded runs yet"), style_attr(t, APP_STYLE_DIM));
        draw_lines(t, b, l, n, first_for(app_audit_cursor(a), n, b.h), app_audit_cursor(a),
                   true);
    }
    struct tui_rect s = t->lay.side;
    if (s.h > 0) {
        heading(t, s, _(" Reads, triples, answer spans, sources "), false);
        n = app_audit_detail(a, &l);
        struct tui_rect b = {s.y + 1, s.x + 1, s.h - 1, s.w - 1};
        draw_lines(t, b, l, n, 0, SIZE_MAX, false);
    }
}

static void draw_settings(const struct tui *t, const struct app *a)
{
    struct tui_rect r = t->lay.main;
    if (r.h <= 0)
        return;
    heading(t, r, _(" Settings (Left/Right: change, Enter: type a value, Ctrl-R: run the last "
                    "question again) "), true);
    size_t n = app_settings_count(a), cur = app_settings_cursor(a);
    for (size_t i = 0; i < n && (int)i + 1 < r.h; i++) {
        char val[64];
        attr_t at = i == cur ? A_REVERSE : A_NORMAL;
        int y = r.y + 1 + (int)i;
        fill(y, r.x, r.w, at);
        int lw = r.w * 3 / 5;
        cell(y, r.x + 1, lw - 1, app_settings_label(a, i), at);
        cell(y, r.x + lw, r.w - lw, app_settings_value(a, i, val, sizeof val), at | A_BOLD);
    }
}

/* ---- overlays ------------------------------------------------------------------------ */

static void box_frame(const struct tui *t, struct tui_rect r, const char *title)
{
    for (int y = 0; y < r.h; y++)
        fill(r.y + y, r.x, r.w, A_NORMAL);
    if (r.h >= 2 && r.w >= 2) {
        wattrset(stdscr, (int)style_attr(t, APP_STYLE_TITLE));
        mvwhline(stdscr, r.y, r.x, ACS_HLINE, r.w);
        mvwhline(stdscr, r.y + r.h - 1, r.x, ACS_HLINE, r.w);
        mvwvline(stdscr, r.y, r.x, ACS_VLINE, r.h);
        mvwvline(stdscr, r.y, r.x + r.w - 1, ACS_VLINE, r.h);
        mvwaddch(stdscr, r.y, r.x, ACS_ULCORNER);
        mvwaddch(stdscr, r.y, r.x + r.w - 1, ACS_URCORNER);
        mvwaddch(stdscr, r.y + r.h - 1, r.x, ACS_LLCORNER);
        mvwaddch(stdscr, r.y + r.h - 1, r.x + r.w - 1, ACS_LRCORNER);
        wattrset(stdscr, A_NORMAL);
    }
    puts_(r.y, r.x + 2, r.w - 4, title, style_attr(t, APP_STYLE_TITLE) | A_BOLD);
}

static struct tui_rect inner(struct tui_rect r)
{
    struct tui_rect i = {r.y + 1, r.x + 2, r.h - 2, r.w - 4};
    if (i.h < 0) i.h = 0;
    if (i.w < 0) i.w = 0;
    return i;
}

static void draw_field(int y, int x, int w, const uint32_t *cps, size_t n, size_t cur,
                       int *cy, int *cx)
{
    int col = 0;
    size_t start = 0;
    /* scroll so the cursor fits */
    int cw_total = 0;
    for (size_t i = 0; i < cur; i++) {
        int k = utf8_cp_width(cps[i]);
        cw_total += k < 0 ? 1 : k;
    }
    while (cw_total >= w && start < cur) {
        int k = utf8_cp_width(cps[start++]);
        cw_total -= k < 0 ? 1 : k;
    }
    wchar_t b[2] = {0, 0};
    for (size_t i = start; i < n; i++) {
        int k = utf8_cp_width(cps[i]);
        uint32_t cp = cps[i];
        if (k < 0) {
            k = 1;
            cp = 0xFFFD;
        }
        if (col + k > w)
            break;
        b[0] = (wchar_t)cp;
        mvwaddnwstr(stdscr, y, x + col, b, 1);
        col += k;
    }
    *cy = y;
    *cx = x + (cw_total < w ? cw_total : w - 1);
}

static void draw_overlay(const struct tui *t, const struct app *a, int *cur_y, int *cur_x)
{
    struct tui_rect r = t->lay.overlay;
    if (r.h < 3 || r.w < 6)
        return;
    enum app_overlay o = app_overlay_get(a);
    struct tui_rect in = inner(r);
    switch (o) {
    case APP_OVERLAY_HELP:
    case APP_OVERLAY_VIEWER: {
        box_frame(t, r, app_viewer_title(a));
        const struct app_line *l;
        size_t n = app_viewer_lines(a, &l);
        size_t first = app_viewer_scroll(a);
        if (n > (size_t)in.h && first > n - (size_t)in.h)
            first = n - (size_t)in.h;
        else if (n <= (size_t)in.h)
            first = 0;
        draw_lines(t, in, l, n, first, SIZE_MAX, false);
        break;
    }
    case APP_OVERLAY_PALETTE: {
        box_frame(t, r, _("Command palette (type to filter, Enter: run)"));
        if (in.h < 1)
            break;
        puts_(in.y, in.x, 2, ">", A_BOLD);
        puts_(in.y, in.x + 2, in.w - 2, app_palette_query(a), A_NORMAL);
        *cur_y = in.y;
        *cur_x = in.x + 2 + (int)utf8_width_cstr(app_palette_query(a));
        if (*cur_x >= in.x + in.w)
            *cur_x = in.x + in.w - 1;
        const enum cmd *items;
        size_t n = app_palette_items(a, &items), cur = app_palette_cursor(a);
        int h = in.h - 1;
        size_t first = first_for(cur, n, h);
        for (int y = 0; y < h && first + (size_t)y < n; y++) {
            size_t i = first + (size_t)y;
            char keys[96];
            keymap_keys_of(items[i], keys, sizeof keys);
            attr_t at = i == cur ? A_REVERSE : A_NORMAL;
            fill(in.y + 1 + y, in.x, in.w, at);
            int kw = in.w / 3;
            cell(in.y + 1 + y, in.x, in.w - kw, keymap_cmd_desc(items[i]), at);
            cell(in.y + 1 + y, in.x + in.w - kw, kw, keys, at | A_BOLD);
        }
        break;
    }
    case APP_OVERLAY_PROMPT: {
        struct tui_rect p = r;
        int need = (int)app_prompt_fields(a) + 2;
        if (p.h > need) {
            p.y += (p.h - need) / 2;
            p.h = need;
        }
        box_frame(t, p, app_prompt_title(a));
        in = inner(p);
        int lw = 0;
        for (size_t i = 0; i < app_prompt_fields(a); i++) {
            int w = (int)utf8_width_cstr(app_prompt_label(a, i));
            if (w > lw)
                lw = w;
        }
        lw += 2;
        if (lw > in.w / 2)
            lw = in.w / 2;
        for (size_t i = 0; i < app_prompt_fields(a) && (int)i < in.h; i++) {
            int y = in.y + (int)i;
            bool act = i == app_prompt_active(a);
            puts_(y, in.x, lw, app_prompt_label(a, i), act ? A_BOLD : A_DIM);
            const uint32_t *cps;
            size_t n, cur;
            app_prompt_field(a, i, &cps, &n, &cur);
            fill(y, in.x + lw, in.w - lw, A_UNDERLINE);
            wattrset(stdscr, A_UNDERLINE);
            int cy, cx;
            draw_field(y, in.x + lw, in.w - lw, cps, n, cur, &cy, &cx);
            wattrset(stdscr, A_NORMAL);
            if (act) {
                *cur_y = cy;
                *cur_x = cx;
            }
        }
        break;
    }
    case APP_OVERLAY_CONFIRM: {
        struct tui_rect p = r;
        if (p.h > 4) {
            p.y += (p.h - 4) / 2;
            p.h = 4;
        }
        box_frame(t, p, _("Confirm"));
        in = inner(p);
        if (in.h >= 1)
            puts_(in.y, in.x, in.w, app_confirm_text(a), A_BOLD);
        if (in.h >= 2)
            puts_(in.y + 1, in.x, in.w, _("y: yes   n or Esc: no"), A_NORMAL);
        break;
    }
    case APP_OVERLAY_NONE:
        break;
    }
}

/* ---- the whole screen ---------------------------------------------------------------- */

void tui_draw(struct tui *t, struct app *a)
{
    getmaxyx(stdscr, t->rows, t->cols);
    enum app_screen scr = app_screen_get(a);
    tui_layout(t->rows, t->cols, scr, 1, &t->lay);
    if (scr == APP_SCREEN_GEN && t->lay.input.w > 2) {
        int cy, cx;
        size_t lines = input_layout(a, t->lay.input.w - 2, &cy, &cx);
        if (lines > 1)
            tui_layout(t->rows, t->cols, scr, lines, &t->lay);
    }
    size_t table_rows = t->lay.main.h > 2 ? (size_t)t->lay.main.h - 2 : 1;
    size_t list_rows = t->lay.main.h > 1 ? (size_t)t->lay.main.h - 1 : 1;
    app_set_page_rows(a, table_rows, list_rows);

    app_detail_update(a);
    if (scr == APP_SCREEN_GEN && t->lay.main.h > 1 && t->lay.main.w > 0) {
        size_t total = wrap_spans(a, t->lay.main.w, NULL, NULL);
        size_t h = (size_t)t->lay.main.h - 1;
        app_transcript_clamp(a, total > h ? total - h : 0);
    }
    werase(stdscr);
    int cur_y = -1, cur_x = -1;
    if (t->lay.too_small) {
        char msg[160];
        snprintf(msg, sizeof msg, _("terminal too small: need at least %dx%d, have %dx%d"),
                 TUI_MIN_COLS, TUI_MIN_ROWS, t->cols, t->rows);
        puts_(0, 0, t->cols, msg, A_BOLD);
    } else {
        /* title */
        char title[300];
        snprintf(title, sizeof title, " memllm  [%s]  %s%s  F1 %s  Ctrl-P %s  F2 %s  F3 %s  F4 %s"
                 "  F5 %s ", app_mode_name(app_mode_get(a)), app_busy(a) ? "\u25cf " : "",
                 app_busy(a) ? _("busy") : "", _("help"), _("palette"), _("generate"),
                 _("memory"), _("audit"), _("settings"));
        fill(0, 0, t->cols, A_REVERSE);
        puts_(0, 0, t->cols, title, A_REVERSE);
        switch (scr) {
        case APP_SCREEN_GEN:
            draw_transcript(t, a, t->lay.main, app_focus_get(a) == APP_FOCUS_TRANSCRIPT);
            draw_calls(t, a, t->lay.side, app_focus_get(a) == APP_FOCUS_CALLS);
            draw_input(t, a, t->lay.input, app_focus_get(a) == APP_FOCUS_INPUT, &cur_y, &cur_x);
            break;
        case APP_SCREEN_TABLE:
            draw_table(t, a, t->lay.main);
            draw_detail(t, a, t->lay.side);
            break;
        case APP_SCREEN_AUDIT:
            draw_audit(t, a);
            break;
        case APP_SCREEN_SETTINGS:
            draw_settings(t, a);
            break;
        }
        if (app_overlay_get(a) != APP_OVERLAY_NONE) {
            cur_y = cur_x = -1;
            draw_overlay(t, a, &cur_y, &cur_x);
        }
        /* status line: message left, speed right */
        enum app_style ss;
        const char *st = app_status_text(a, &ss);
        struct tui_rect s = t->lay.status;
        const char *speed = app_speed_text(a);
        int sw = speed[0] ? (int)utf8_width_cstr(speed) + 2 : 0;
        if (sw > s.w / 2)
            sw = 0;
        fill(s.y, s.x, s.w, A_NORMAL);
        cell(s.y, s.x, s.w - sw, st, style_attr(t, ss));
        if (sw)
            puts_(s.y, s.x + s.w - sw + 1, sw - 1, speed, style_attr(t, APP_STYLE_INFO));
    }
    if (cur_y >= 0 && cur_x >= 0 && cur_y < t->rows && cur_x < t->cols) {
        curs_set(1);
        wmove(stdscr, cur_y, cur_x);
    } else {
        curs_set(0);
    }
    wnoutrefresh(stdscr);
    doupdate();
}

/* ---- keys ---------------------------------------------------------------------------- */

static int key_from_curses(int code)
{
    switch (code) {
    case KEY_UP: return KEYMAP_KEY_UP;
    case KEY_DOWN: return KEYMAP_KEY_DOWN;
    case KEY_LEFT: return KEYMAP_KEY_LEFT;
    case KEY_RIGHT: return KEYMAP_KEY_RIGHT;
    case KEY_HOME: return KEYMAP_KEY_HOME;
    case KEY_END: return KEYMAP_KEY_END;
    case KEY_PPAGE: return KEYMAP_KEY_PGUP;
    case KEY_NPAGE: return KEYMAP_KEY_PGDN;
    case KEY_DC: return KEYMAP_KEY_DELETE;
    case KEY_BTAB: return KEYMAP_KEY_BTAB;
    case KEY_BACKSPACE: return KEYMAP_KEY_BACKSPACE;
    case KEY_ENTER: return KEYMAP_KEY_RETURN;
    case KEY_RESIZE: return KEYMAP_KEY_RESIZE;
    default: break;
    }
    if (code >= KEY_F(1) && code <= KEY_F(12))
        return KEYMAP_KEY_F1 + (code - KEY_F(1));
    return KEYMAP_KEY_NONE;
}

int tui_read_key(struct tui *t, int timeout_ms)
{
    wtimeout(stdscr, timeout_ms);
    wint_t ch;
    int r = wget_wch(stdscr, &ch);
    if (r == ERR)
        return KEYMAP_KEY_NONE;
    if (r == KEY_CODE_YES && ch == KEY_MOUSE) {
        MEVENT me;
        if (getmouse(&me) != OK)
            return KEYMAP_KEY_NONE;
        if (me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))
            t->mouse_ev = KEYMAP_MOUSE_CLICK;
        else if (me.bstate & BUTTON4_PRESSED)
            t->mouse_ev = KEYMAP_MOUSE_WHEEL_UP;
#ifdef BUTTON5_PRESSED
        else if (me.bstate & BUTTON5_PRESSED)
            t->mouse_ev = KEYMAP_MOUSE_WHEEL_DOWN;
#endif
        else
            return KEYMAP_KEY_NONE;
        t->mouse_y = me.y;
        t->mouse_x = me.x;
        return KEYMAP_KEY_MOUSE;
    }
    if (r == KEY_CODE_YES)
        return key_from_curses((int)ch);
    if (ch == 8)
        return KEYMAP_KEY_BACKSPACE;
    if (ch == '\r') {
        /* more input already waiting after Enter: pasted text, keep its line breaks */
        wtimeout(stdscr, 0);
        wint_t next;
        int r2 = wget_wch(stdscr, &next);
        if (r2 != ERR) {
            if (r2 == KEY_CODE_YES)
                ungetch((int)next);
            else
                unget_wch((wchar_t)next);
            return KEYMAP_KEY_NEWLINE;
        }
    }
    if ((uint32_t)ch >= 0x110000)
        return KEYMAP_KEY_NONE;
    return (int)ch;
}

void tui_last_mouse(const struct tui *t, int *y, int *x, enum keymap_mouse *ev)
{
    *y = t->mouse_y;
    *x = t->mouse_x;
    *ev = t->mouse_ev;
}

static bool inside(struct tui_rect r, int y, int x)
{
    return r.h > 0 && r.w > 0 && y >= r.y && y < r.y + r.h && x >= r.x && x < r.x + r.w;
}

unsigned tui_mouse(struct tui *t, struct app *a, int y, int x, enum keymap_mouse ev)
{
    const struct tui_layout *l = &t->lay;
    if (l->too_small)
        return REACT_NONE;
    if (app_overlay_get(a) != APP_OVERLAY_NONE) /* the overlay takes the wheel */
        return inside(l->overlay, y, x) ? app_mouse(a, app_focus_get(a), ev, SIZE_MAX)
                                        : REACT_NONE;
    size_t item = SIZE_MAX;
    switch (app_screen_get(a)) {
    case APP_SCREEN_GEN:
        if (inside(l->input, y, x))
            return app_mouse(a, APP_FOCUS_INPUT, ev, SIZE_MAX);
        if (inside(l->main, y, x))
            return app_mouse(a, APP_FOCUS_TRANSCRIPT, ev, SIZE_MAX);
        if (inside(l->side, y, x))
            return app_mouse(a, APP_FOCUS_CALLS, ev,
                             calls_item_at(a, l->side.h - 1, y - l->side.y - 1));
        return REACT_NONE;
    case APP_SCREEN_TABLE:
        if (inside(l->side, y, x))
            return app_mouse(a, APP_FOCUS_DETAIL, ev, SIZE_MAX);
        if (!inside(l->main, y, x))
            return REACT_NONE;
        if (y >= l->main.y + 2)
            item = (size_t)(y - l->main.y - 2);
        return app_mouse(a, APP_FOCUS_TABLE, ev, item);
    case APP_SCREEN_AUDIT: {
        if (!inside(l->main, y, x))
            return REACT_NONE;
        const struct app_line *lines;
        size_t n = app_audit_runs(a, &lines);
        if (y >= l->main.y + 1)
            item = first_for(app_audit_cursor(a), n, l->main.h - 1) +
                   (size_t)(y - l->main.y - 1);
        return app_mouse(a, APP_FOCUS_AUDIT, ev, item);
    }
    case APP_SCREEN_SETTINGS:
        if (!inside(l->main, y, x))
            return REACT_NONE;
        if (y >= l->main.y + 1)
            item = (size_t)(y - l->main.y - 1);
        return app_mouse(a, APP_FOCUS_SETTINGS, ev, item);
    }
    return REACT_NONE;
}

void tui_resize(struct tui *t, int rows, int cols)
{
    if (rows <= 0 || cols <= 0) {
        struct winsize ws;
        if (ioctl(fileno(t->out), TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            rows = ws.ws_row;
            cols = ws.ws_col;
        } else {
            return;
        }
    }
    resizeterm(rows, cols);
    clearok(curscr, TRUE);
}

const char *tui_row_text(struct tui *t, int y, char *buf, size_t size)
{
    (void)t;
    if (!size)
        return buf;
    buf[0] = '\0';
    int cols = getmaxx(stdscr);
    if (cols <= 0 || y < 0 || y >= getmaxy(stdscr))
        return buf;
    wchar_t *w = calloc((size_t)cols + 1, sizeof *w);
    if (!w)
        return buf;
    int n = mvwinnwstr(stdscr, y, 0, w, cols);
    size_t o = 0;
    for (int i = 0; i < n && w[i]; i++) {
        char u[4];
        size_t k = utf8_encode((uint32_t)w[i], u);
        if (o + k + 1 > size)
            break;
        memcpy(buf + o, u, k);
        o += k;
    }
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
    free(w);
    return buf;
}

/* ---- open, close, loop --------------------------------------------------------------- */

enum status tui_open(FILE *out, FILE *in, bool color, struct tui **out_t)
{
    struct tui *t = calloc(1, sizeof *t);
    if (!t)
        return status_detail_set(STATUS_NOMEM, "%s", _("out of memory"));
    t->out = out ? out : stdout;
    t->in = in ? in : stdin;
    t->color = color;
    t->scr = newterm(NULL, t->out, t->in);
    if (!t->scr) {
        free(t);
        const char *term = getenv("TERM");
        return status_detail_set(STATUS_INVALID, _("cannot start the terminal interface "
                                                   "(TERM=%s)"), term ? term : "");
    }
    set_term(t->scr);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    /* clicks and the wheel (KEY_MOUSE); without a mouse this does nothing */
    mmask_t mask = BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED;
#ifdef BUTTON5_PRESSED
    mask |= BUTTON5_PRESSED;
#endif
    mousemask(mask, NULL);
    mouseinterval(0);
    colors_init(t);
    getmaxyx(stdscr, t->rows, t->cols);
    *out_t = t;
    return STATUS_OK;
}

void tui_close(struct tui *t)
{
    if (!t)
        return;
    curs_set(1);
    mousemask(0, NULL);
    endwin();
    delscreen(t->scr);
    free(t);
}

void tui_run(struct tui *t, struct app *a, volatile sig_atomic_t *stop,
             volatile sig_atomic_t *winch)
{
    bool dirty = true;
    for (;;) {
        if (stop && *stop)
            break;
        if (winch && *winch) {
            *winch = 0;
            tui_resize(t, 0, 0);
            dirty = true;
        }
        if (app_drain(a))
            dirty = true;
        if (dirty) {
            tui_draw(t, a);
            dirty = false;
        }
        int key = tui_read_key(t, app_idle_pending(a) ? 0 : app_busy(a) ? 30 : 250);
        if (key == KEYMAP_KEY_NONE && app_idle_pending(a)) {
            if (app_idle(a))
                dirty = true;
            continue;
        }
        if (key == KEYMAP_KEY_NONE) {
            if (app_busy(a))
                dirty = true; /* elapsed time ticks */
            continue;
        }
        if (key == KEYMAP_KEY_RESIZE) {
            dirty = true;
            continue;
        }
        if (key == KEYMAP_KEY_MOUSE) {
            if (tui_mouse(t, a, t->mouse_y, t->mouse_x, t->mouse_ev))
                dirty = true;
            continue;
        }
        unsigned r = app_key(a, key);
        if (r & REACT_QUIT)
            break;
        if (r)
            dirty = true;
    }
}
