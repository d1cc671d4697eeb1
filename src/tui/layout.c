/* layout.c -- the TUI's layout: a pure function of the terminal size (no curses). */
#include "config.h"
#include "tui/tui.h"

#include <string.h>

static struct tui_rect rect(int y, int x, int h, int w)
{
    struct tui_rect r = {y, x, h < 0 ? 0 : h, w < 0 ? 0 : w};
    if (r.h == 0 || r.w == 0)
        r.h = r.w = 0;
    return r;
}

void tui_layout(int rows, int cols, enum app_screen screen, size_t input_lines,
                struct tui_layout *out)
{
    memset(out, 0, sizeof *out);
    if (rows < 0)
        rows = 0;
    if (cols < 0)
        cols = 0;
    if (input_lines < 1)
        input_lines = 1;
    if (input_lines > 5)
        input_lines = 5;
    if (rows < TUI_MIN_ROWS || cols < TUI_MIN_COLS) {
        out->too_small = true;
        return;
    }
    /* title and status need a row each; with fewer than 3 rows only the status shows */
    if (rows >= 3) {
        out->title = rect(0, 0, 1, cols);
        out->status = rect(rows - 1, 0, 1, cols);
    } else {
        out->status = rect(rows - 1, 0, 1, cols);
    }
    int top = rows >= 3 ? 1 : 0;
    int body = rows >= 3 ? rows - 2 : 0;

    /* the overlay box: most of the screen, at least what fits */
    int oh = body > 6 ? body - body / 6 : body;
    int ow = cols > 20 ? cols - cols / 8 : cols;
    out->overlay = rect(top + (body - oh) / 2, (cols - ow) / 2, oh, ow);

    switch (screen) {
    case APP_SCREEN_GEN: {
        int ih = (int)input_lines + 1; /* heading + lines */
        bool side_right = cols >= 100 && body >= 4;
        bool side_below = !side_right && body >= 16;
        int left_w = side_right ? cols - cols * 2 / 5 : cols;
        if (ih > body / 2)
            ih = body / 2 >= 2 ? body / 2 : (body >= 2 ? 2 : 0);
        int side_h = side_below ? (body - ih) / 3 : 0;
        int main_h = body - ih - side_h;
        out->main = rect(top, 0, main_h, left_w);
        out->input = rect(top + main_h + side_h, 0, ih, left_w);
        if (side_right)
            out->side = rect(top, left_w, body, cols - left_w);
        else if (side_below)
            out->side = rect(top + main_h, 0, side_h, cols);
        break;
    }
    case APP_SCREEN_AUDIT: {
        if (cols >= 60) {
            int lw = cols / 3;
            out->main = rect(top, 0, body, lw);
            out->side = rect(top, lw, body, cols - lw);
        } else {
            int mh = body / 3 > 2 ? body / 3 : (body >= 2 ? 2 : body);
            out->main = rect(top, 0, mh, cols);
            out->side = rect(top + mh, 0, body - mh, cols);
        }
        break;
    }
    case APP_SCREEN_TABLE:
        /* the selected triple's details: beside the table when wide, else below it */
        if (cols >= 140) {
            int lw = cols - cols / 3;
            out->main = rect(top, 0, body, lw);
            out->side = rect(top, lw, body, cols - lw);
        } else {
            int sh = body / 3;
            out->main = rect(top, 0, body - sh, cols);
            out->side = rect(top + body - sh, 0, sh, cols);
        }
        break;
    case APP_SCREEN_SETTINGS:
        out->main = rect(top, 0, body, cols);
        break;
    }
}
