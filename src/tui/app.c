/* app.c -- the TUI's model (no curses): state, commands, the event queue, table paging. */
#include "config.h"
#include "tui/app.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/i18n.h"
#include "util/timing.h"
#include "util/utf8.h"

#define APP_HISTORY_MAX 100
#define APP_FIELDS_MAX 4
#define APP_AUDIT_RUNS 200
#define APP_ENTITY_ROWS 40
#define APP_CHAT_TURNS 4

/* ---- small helpers ------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* printf into a new string (owned; NULL when out of memory). */
static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A growable string. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s ? s : "", strlen(s ? s : ""));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Take the string (never NULL unless out of memory). */
static char *sb_take(struct sbuf *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    char *s = b->s ? b->s : xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

/* Lines: a growable array of owned styled lines. */
struct lines {
    struct app_line *v;
    size_t n, cap;
};

static void lines_add(struct lines *l, enum app_style style, char *owned)
{
    if (!owned)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct app_line *p = realloc(l->v, cap * sizeof *p);
        if (!p) {
            free(owned);
            return;
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n].style = style;
    l->v[l->n].text = owned;
    l->n++;
}

static void lines_addf(struct lines *l, enum app_style style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void lines_addf(struct lines *l, enum app_style style, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    lines_add(l, style, s);
}

/* Add text split at '\n' into several lines. */
static void lines_add_text(struct lines *l, enum app_style style, const char *prefix,
                           const char *text)
{
    const char *p = text ? text : "";
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lines_addf(l, style, "%s%.*s", prefix, (int)n, p);
        if (!nl)
            break;
        p = nl + 1;
    }
}

static void lines_clear(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Code-point strings (the input line and form fields). */
struct cps {
    uint32_t *v;
    size_t n, cap, cursor;
};

static bool cps_insert(struct cps *c, uint32_t cp)
{
    if (c->n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *p = realloc(c->v, cap * sizeof *p);
        if (!p)
            return false;
        c->v = p;
        c->cap = cap;
    }
    memmove(c->v + c->cursor + 1, c->v + c->cursor, (c->n - c->cursor) * sizeof *c->v);
    c->v[c->cursor++] = cp;
    c->n++;
    return true;
}

static void cps_set_utf8(struct cps *c, const char *s)
{
    c->n = c->cursor = 0;
    size_t len = strlen(s ? s : "");
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0xFFFD;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k <= 0) {
            k = 1;
            cp = 0xFFFD;
        }
        if (!cps_insert(c, cp))
            break;
        i += (size_t)k;
    }
}

/* Owned UTF-8 copy. */
static char *cps_utf8(const struct cps *c)
{
    char *s = malloc(c->n * 4 + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t k = utf8_encode(c->v[i], s + o);
        if (k == 0)
            k = utf8_encode(0xFFFD, s + o);
        o += k;
    }
    s[o] = '\0';
    return s;
}

static void cps_free(struct cps *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static void cps_edit(struct cps *c, enum cmd cmd)
{
    switch (cmd) {
    case CMD_BACKSPACE:
        if (c->cursor > 0) {
            memmove(c->v + c->cursor - 1, c->v + c->cursor,
                    (c->n - c->cursor) * sizeof *c->v);
            c->cursor--;
            c->n--;
        }
        break;
    case CMD_DELETE:
        if (c->cursor < c->n) {
            memmove(c->v + c->cursor, c->v + c->cursor + 1,
                    (c->n - c->cursor - 1) * sizeof *c->v);
            c->n--;
        }
        break;
    case CMD_KILL_LINE: c->n = c->cursor = 0; break;
    case CMD_LEFT: if (c->cursor > 0) c->cursor--; break;
    case CMD_RIGHT: if (c->cursor < c->n) c->cursor++; break;
    case CMD_HOME: c->cursor = 0; break;
    case CMD_END: c->cursor = c->n; break;
    default: break;
    }
}

static void clock_text(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(buf, size, "%H:%M:%S", &tm);
    else
        snprintf(buf, size, "--:--:--");
}

/* ---- state --------------------------------------------------------------------------- */

struct span {
    enum app_style style;
    char *text;     /* full text */
    char *folded;   /* short label of a call span, else NULL */
    bool write;     /* the span of a write call */
};

/* One memory call of the call panel. */
struct callrec {
    enum app_style style; /* READ, WRITE or FAIL */
    char *title;
    struct lines lines;
    int64_t *ids; /* triples returned or stored */
    size_t n_ids;
    char *full, *folded; /* transcript span texts */
    bool write;          /* a write call (else a read) */
};

enum msg_kind { MSG_TOKEN, MSG_CALL, MSG_ERROR, MSG_DONE, MSG_FINISHED, MSG_LOG };

struct msg {
    enum msg_kind kind;
    char *text;
    struct callrec *call;
    size_t n_gen;
    double t_gen, t_total;
    int64_t run_id;
    enum status status;
    char *output;
    struct msg *next;
};

struct row_vec {
    struct app_row *v;
    size_t n, cap;
};

enum pending { PEND_NONE, PEND_FILTER, PEND_ADD, PEND_EDIT, PEND_RETIRE, PEND_FILE,
               PEND_SETTING };

enum setting {
    SET_DIST_THR, SET_DIST_REL_THR, SET_Q_THR, SET_TEMP, SET_TOP_K, SET_TOP_P,
    SET_MAX_TOKENS, SET_MAX_CALLS, SET_CONSTRAIN, SET_READ, SET_COUNT_
};

struct app {
    struct mem *m;
    struct ctrl *ctrl;
    struct agent *agent;
    bool shared_conn; /* m is the ctrl's connection: no browsing while the worker runs */
    struct agent_history *chat_hist;
    struct tok *tk;
    size_t history_tokens;
    char *chat_question; /* the question of the running chat turn */

    enum app_screen screen;
    enum app_focus focus;
    enum app_overlay overlay, overlay_back; /* back: under a confirm over a prompt */
    enum app_mode mode;
    char *status;
    enum app_style status_style;
    char speed[96];

    /* transcript */
    struct span *spans;
    size_t n_spans, cap_spans;
    size_t scroll;
    bool folded;
    struct cps input;
    char *history[APP_HISTORY_MAX];
    size_t n_history, history_pos;
    char *last_question;
    enum app_mode last_mode;

    /* worker */
    pthread_t worker;
    bool worker_on;
    pthread_mutex_t lock;
    struct msg *q_head, *q_tail;
    uint64_t t_start;
    size_t n_tok_events;
    uint64_t call_t0; /* worker thread only */
    int64_t *grounded; /* triples the current answer's reads returned */
    size_t n_grounded, cap_grounded;

    /* calls */
    struct callrec **calls;
    size_t n_calls, cap_calls, call_sel;
    bool call_open;
    size_t list_rows;

    /* table */
    struct row_vec rows;
    size_t cursor, page;
    bool anchor_on;
    char *anchor_key;
    int64_t anchor_id;
    enum mem_sort sort;
    bool retired;
    char *filter[4]; /* subject, relation, object, source; NULL: none */
    int64_t total;
    bool total_capped; /* a filter's count stopped at APP_COUNT_CAP */
    char filter_text[256];
    bool filter_dirty; /* typed into the filter prompt, not applied yet (app_idle) */

    /* overlays */
    char *viewer_title;
    struct lines viewer;
    struct lines detail;   /* the memory screen's detail pane: the selected triple */
    int64_t detail_id;     /* whose details those are (0: none) */
    size_t detail_scroll;
    size_t viewer_scroll;
    struct cps palette_q;
    char *palette_utf8;
    enum cmd palette_items[CMD_COUNT_];
    size_t n_palette, palette_cursor;
    char *prompt_title;
    char *labels[APP_FIELDS_MAX];
    struct cps fields[APP_FIELDS_MAX];
    size_t n_fields, field;
    char *confirm;
    enum pending pending;
    int64_t pending_id;

    /* audit */
    struct lines runs;
    int64_t *run_ids;
    size_t audit_cursor, audit_top;
    struct lines audit;

    /* settings */
    size_t set_cursor;
};

static void set_status(struct app *a, enum app_style style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_status(struct app *a, enum app_style style, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(a->status);
    a->status = s;
    a->status_style = style;
}

static void status_from(struct app *a, const char *what, enum status st)
{
    const char *d = status_detail();
    set_status(a, APP_STYLE_ERROR, "%s: %s%s%s", what, status_str(st), d[0] ? ": " : "", d);
}

/* ---- transcript ---------------------------------------------------------------------- */

static struct span *span_push(struct app *a, enum app_style style, char *text, char *folded)
{
    if (!text) {
        free(folded);
        return NULL;
    }
    if (a->n_spans == a->cap_spans) {
        size_t cap = a->cap_spans ? a->cap_spans * 2 : 32;
        struct span *p = realloc(a->spans, cap * sizeof *p);
        if (!p) {
            free(text);
            free(folded);
            return NULL;
        }
        a->spans = p;
        a->cap_spans = cap;
    }
    struct span *s = &a->spans[a->n_spans++];
    s->style = style;
    s->text = text;
    s->folded = folded;
    s->write = false;
    return s;
}

/* Append answer text to the last NORMAL span (or a new one). */
static void span_append(struct app *a, enum app_style style, const char *t, size_t n)
{
    if (a->n_spans && a->spans[a->n_spans - 1].style == style &&
        !a->spans[a->n_spans - 1].folded) {
        struct span *s = &a->spans[a->n_spans - 1];
        size_t old = strlen(s->text);
        char *p = realloc(s->text, old + n + 1);
        if (!p)
            return;
        memcpy(p + old, t, n);
        p[old + n] = '\0';
        s->text = p;
        return;
    }
    char *d = malloc(n + 1);
    if (!d)
        return;
    memcpy(d, t, n);
    d[n] = '\0';
    span_push(a, style, d, NULL);
}

/* ---- events (worker thread) ---------------------------------------------------------- */

static void queue_push(struct app *a, struct msg *m)
{
    pthread_mutex_lock(&a->lock);
    if (a->q_tail)
        a->q_tail->next = m;
    else
        a->q_head = m;
    a->q_tail = m;
    pthread_mutex_unlock(&a->lock);
}

static void callrec_free(struct callrec *c)
{
    if (!c)
        return;
    free(c->title);
    lines_clear(&c->lines);
    free(c->ids);
    free(c->full);
    free(c->folded);
    free(c);
}

static void callrec_id(struct callrec *c, int64_t id)
{
    if (id <= 0)
        return;
    for (size_t i = 0; i < c->n_ids; i++)
        if (c->ids[i] == id)
            return;
    int64_t *p = realloc(c->ids, (c->n_ids + 1) * sizeof *p);
    if (!p)
        return;
    c->ids = p;
    c->ids[c->n_ids++] = id;
}

static const char *outcome_name(enum mem_outcome o)
{
    switch (o) {
    case MEM_OUTCOME_NEW: return _("new");
    case MEM_OUTCOME_KNOWN: return _("known");
    case MEM_OUTCOME_CONFLICT: return _("conflict");
    }
    return "?";
}

static void candidates_line(struct lines *l, const char *what, const struct ctrl_candidate *c,
                            size_t n)
{
    struct sbuf b = {0};
    sb_printf(&b, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, " %s (%.3f %s)%s", c[i].name, c[i].dist, c[i].passed ? "\u2713" : "\u2717",
                  i + 1 < n ? "," : "");
    if (n == 0)
        sb_printf(&b, " %s", _("none"));
    lines_add(l, APP_STYLE_NORMAL, sb_take(&b));
}

static struct callrec *read_record(const struct agent_event *ev, double ms)
{
    struct callrec *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    char clock[16];
    clock_text(clock, sizeof clock);
    struct sbuf q = {0};
    for (size_t i = 0; i < ev->n_reads; i++) {
        const struct ctrl_read *r = ev->reads[i];
        if (!r)
            continue;
        if (q.len)
            sb_str(&q, "; ");
        if (r->want == CTRL_WANT_OBJECT)
            sb_printf(&q, "%s>>%s>>?", r->name, r->relation);
        else
            sb_printf(&q, ">>%s>>%s", r->relation, r->name);
    }
    char *query = sb_take(&q);
    c->style = ev->failed ? APP_STYLE_FAIL : APP_STYLE_READ;
    /* the title carries the result, so a folded call (or a short panel) still shows it */
    const char *res = ev->results ? ev->results : "";
    c->title = xprintf("%s %s  %s  %s%s  %.1f ms", clock, _("read"), query ? query : "",
                       ev->failed ? _("failed") : "\u2192 ", ev->failed ? "" : res, ms);
    if (ev->failed)
        lines_addf(&c->lines, APP_STYLE_FAIL, "    %s: %s", _("failed"),
                   ev->reason ? ev->reason : "");
    for (size_t i = 0; i < ev->n_reads; i++) {
        const struct ctrl_read *r = ev->reads[i];
        if (!r) {
            lines_addf(&c->lines, APP_STYLE_FAIL, "  %s %zu: %s", _("query"), i + 1,
                       _("failed"));
            continue;
        }
        if (r->want == CTRL_WANT_OBJECT)
            lines_addf(&c->lines, APP_STYLE_READ, "  %s %zu: %s>>%s>>?", _("query"), i + 1,
                       r->name, r->relation);
        else
            lines_addf(&c->lines, APP_STYLE_READ, "  %s %zu: >>%s>>%s", _("query"), i + 1,
                       r->relation, r->name);
        candidates_line(&c->lines, _("entities"), r->entities, r->n_entities);
        candidates_line(&c->lines, _("relations"), r->relations, r->n_relations);
        for (size_t k = 0; k < r->n_found; k++) {
            const struct ctrl_found *f = &r->found[k];
            if (!f->kept)
                continue;
            lines_addf(&c->lines, APP_STYLE_MARK, "    #%lld %s | %s | %s  (%.3f)",
                       (long long)f->id, f->subj_name, f->rel_name, f->obj_name, f->score);
            callrec_id(c, f->id);
        }
        struct sbuf b = {0};
        sb_printf(&b, "    \u2192 ");
        for (size_t k = 0; k < r->n_answers; k++)
            sb_printf(&b, "%s%s", k ? "; " : "", r->answers[k].name);
        if (!r->n_answers)
            sb_str(&b, _("nothing found"));
        lines_add(&c->lines, APP_STYLE_READ, sb_take(&b));
    }
    c->full = xprintf("({MEM_READ(%s)-->%s})", query ? query : "", ev->failed ? "\u2717" : res);
    c->folded = xprintf("\u27e6%s %zu\u27e7", ev->failed ? _("read failed") : _("read"),
                        ev->call_no);
    free(query);
    return c;
}

static struct callrec *write_record(const struct agent_event *ev, double ms)
{
    struct callrec *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    char clock[16];
    clock_text(clock, sizeof clock);
    size_t n_new = 0, n_known = 0, n_conf = 0;
    for (size_t i = 0; ev->written && i < ev->n_triples; i++) {
        if (ev->written[i].outcome == MEM_OUTCOME_NEW) n_new++;
        else if (ev->written[i].outcome == MEM_OUTCOME_KNOWN) n_known++;
        else n_conf++;
    }
    c->style = ev->status != STATUS_OK ? APP_STYLE_FAIL : APP_STYLE_WRITE;
    c->write = true;
    c->title = xprintf("%s %s  %zu/%zu  %zu %s, %zu %s, %zu %s, %zu %s  %.1f ms", clock,
                       _("write"), ev->sentence_no, ev->n_sentences, n_new, _("new"), n_known,
                       _("known"), n_conf, _("conflict"), ev->n_rejected, _("rejected"), ms);
    lines_addf(&c->lines, APP_STYLE_USER, "  %s", ev->sentence ? ev->sentence : "");
    struct sbuf full = {0};
    sb_str(&full, "({MEM_WRITE-->");
    for (size_t i = 0; i < ev->n_triples; i++) {
        const struct ctrl_triple_in *t = &ev->triples[i];
        const char *o = ev->written ? outcome_name(ev->written[i].outcome) : _("not stored");
        lines_addf(&c->lines, ev->written && ev->written[i].outcome == MEM_OUTCOME_CONFLICT
                   ? APP_STYLE_FAIL : APP_STYLE_WRITE, "    %s | %s | %s  (%s)",
                   t->subj, t->rel, t->obj, o);
        if (ev->written)
            callrec_id(c, ev->written[i].triple_id);
        sb_printf(&full, "%s%s>>%s>>%s", i ? ";" : "", t->subj, t->rel, t->obj);
    }
    for (size_t i = 0; i < ev->n_rejected; i++)
        lines_addf(&c->lines, APP_STYLE_FAIL, "    %s %zu", _("rejected piece"), i + 1);
    if (ev->status != STATUS_OK)
        lines_addf(&c->lines, APP_STYLE_ERROR, "    %s", status_str(ev->status));
    sb_str(&full, "})");
    c->full = sb_take(&full);
    c->folded = xprintf("\u27e6%s %zu: %zu\u27e7", _("write"), ev->sentence_no, ev->n_triples);
    return c;
}

void app_event_cb(void *user, const struct agent_event *ev)
{
    struct app *a = user;
    struct msg *m = calloc(1, sizeof *m);
    if (!m)
        return;
    switch (ev->kind) {
    case AGENT_EVENT_TOKEN:
        m->kind = MSG_TOKEN;
        m->text = malloc(ev->len + 1);
        if (m->text) {
            memcpy(m->text, ev->text, ev->len);
            m->text[ev->len] = '\0';
        }
        break;
    case AGENT_EVENT_CALL_START:
        a->call_t0 = timing_now_ns();
        free(m);
        return;
    case AGENT_EVENT_READ:
        m->kind = MSG_CALL;
        m->call = read_record(ev, a->call_t0 ? timing_since_s(a->call_t0) * 1000.0 : 0.0);
        a->call_t0 = 0;
        break;
    case AGENT_EVENT_WRITE:
        /* a sentence's time: since the previous sentence (or the start of the job) */
        m->kind = MSG_CALL;
        m->call = write_record(ev, a->call_t0 ? timing_since_s(a->call_t0) * 1000.0 : 0.0);
        a->call_t0 = timing_now_ns();
        break;
    case AGENT_EVENT_ERROR:
        m->kind = MSG_ERROR;
        m->text = xstrdup(ev->text);
        m->status = ev->status;
        break;
    case AGENT_EVENT_DONE:
        m->kind = MSG_DONE;
        m->text = xstrdup(ev->stop);
        m->run_id = ev->run_id;
        if (ev->timing) {
            m->n_gen = ev->timing->n_gen;
            m->t_gen = ev->timing->t_gen;
            m->t_total = ev->timing->t_total;
        }
        break;
    }
    queue_push(a, m);
}

void app_log_cb(void *user, enum log_level level, const char *msg)
{
    struct app *a = user;
    if (level > LOG_LEVEL_WARN) /* info and debug lines are for the log file only */
        return;
    struct msg *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->kind = MSG_LOG;
    m->text = xstrdup(msg);
    m->status = level == LOG_LEVEL_ERROR ? STATUS_INTERNAL : STATUS_OK;
    queue_push(a, m);
}

/* ---- the worker ---------------------------------------------------------------------- */

struct job {
    struct app *a;
    enum app_mode mode;
    char *text;
    char *file;
};

static void *worker_main(void *arg)
{
    struct job *j = arg;
    struct app *a = j->a;
    struct msg *m = calloc(1, sizeof *m);
    enum status st;
    a->call_t0 = timing_now_ns();
    if (j->mode == APP_MODE_TEACH) {
        struct agent_write_stats ws = {0};
        st = agent_write_text(a->agent, j->text, strlen(j->text), j->file,
                              j->file ? j->file : _("taught in the TUI"), &ws);
        if (m) {
            char *sent = xprintf(P_("taught %zu sentence", "taught %zu sentences",
                                    ws.sentences), ws.sentences);
            /* TRANSLATORS: %s is "taught N sentences"; the plural follows the triples */
            m->text = xprintf(P_("%s: %zu triple (%zu new, %zu known, %zu conflicts), "
                                 "%zu rejected",
                                 "%s: %zu triples (%zu new, %zu known, %zu conflicts), "
                                 "%zu rejected", ws.triples), sent ? sent : "", ws.triples,
                              ws.n_new, ws.n_known, ws.n_conflict, ws.rejected);
            free(sent);
        }
    } else {
        char *out = NULL;
        st = agent_ask(a->agent, j->text, &out, NULL);
        if (m && st == STATUS_OK) {
            m->output = out; /* the answer with calls inline (chat history) */
            out = NULL;
        }
        free(out);
    }
    if (m) {
        m->kind = MSG_FINISHED;
        m->status = st;
        if (st != STATUS_OK && st != STATUS_CANCELLED) {
            free(m->text);
            const char *d = status_detail();
            m->text = xprintf("%s%s%s", status_str(st), d[0] ? ": " : "", d);
        }
        queue_push(a, m);
    }
    free(j->text);
    free(j->file);
    free(j);
    return NULL;
}

static void worker_join(struct app *a)
{
    if (a->worker_on) {
        pthread_join(a->worker, NULL);
        a->worker_on = false;
    }
}

static void grounded_clear(struct app *a)
{
    a->n_grounded = 0;
}

static void grounded_add(struct app *a, int64_t id)
{
    for (size_t i = 0; i < a->n_grounded; i++)
        if (a->grounded[i] == id)
            return;
    if (a->n_grounded == a->cap_grounded) {
        size_t cap = a->cap_grounded ? a->cap_grounded * 2 : 16;
        int64_t *p = realloc(a->grounded, cap * sizeof *p);
        if (!p)
            return;
        a->grounded = p;
        a->cap_grounded = cap;
    }
    a->grounded[a->n_grounded++] = id;
}

/* Start a job on the worker (text owned by the job afterwards). */
static unsigned start_job(struct app *a, enum app_mode mode, char *text, const char *file)
{
    if (!a->agent) {
        free(text);
        set_status(a, APP_STYLE_ERROR, "%s",
                   _("no model is open: memory browsing only (start with --model=FILE)"));
        return REACT_REDRAW;
    }
    if (a->worker_on) {
        free(text);
        set_status(a, APP_STYLE_ERROR, "%s", _("busy: wait for the answer or press Ctrl-C"));
        return REACT_REDRAW;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        free(text);
        return REACT_NONE;
    }
    j->a = a;
    j->mode = mode;
    j->text = text;
    j->file = file ? xstrdup(file) : NULL;
    grounded_clear(a);
    a->t_start = timing_now_ns();
    a->n_tok_events = 0;
    a->scroll = 0;
    if (pthread_create(&a->worker, NULL, worker_main, j) != 0) {
        free(j->text);
        free(j->file);
        free(j);
        set_status(a, APP_STYLE_ERROR, "%s", _("cannot start the worker thread"));
        return REACT_REDRAW;
    }
    a->worker_on = true;
    set_status(a, APP_STYLE_INFO, "%s", mode == APP_MODE_TEACH ? _("memorizing...")
                                                               : _("thinking..."));
    return REACT_REDRAW;
}

static void table_reload(struct app *a);
static void audit_load(struct app *a);

unsigned app_drain(struct app *a)
{
    pthread_mutex_lock(&a->lock);
    struct msg *m = a->q_head;
    a->q_head = a->q_tail = NULL;
    pthread_mutex_unlock(&a->lock);
    unsigned r = REACT_NONE;
    bool reload = false;
    while (m) {
        struct msg *next = m->next;
        r |= REACT_REDRAW;
        switch (m->kind) {
        case MSG_TOKEN:
            if (m->text)
                span_append(a, APP_STYLE_NORMAL, m->text, strlen(m->text));
            a->n_tok_events++;
            break;
        case MSG_CALL:
            if (m->call) {
                struct callrec *c = m->call;
                m->call = NULL;
                if (c->style == APP_STYLE_READ)
                    for (size_t i = 0; i < c->n_ids; i++)
                        grounded_add(a, c->ids[i]);
                if (c->style == APP_STYLE_WRITE)
                    reload = true;
                /* the writes of a taught text, one per sentence, each on its own line */
                if (c->write && a->n_spans && a->spans[a->n_spans - 1].write)
                    span_push(a, APP_STYLE_NORMAL, xstrdup("\n"), NULL);
                struct span *sp = span_push(a, c->style, xstrdup(c->full), xstrdup(c->folded));
                if (sp)
                    sp->write = c->write;
                if (a->n_calls == a->cap_calls) {
                    size_t cap = a->cap_calls ? a->cap_calls * 2 : 16;
                    struct callrec **p = realloc(a->calls, cap * sizeof *p);
                    if (!p) {
                        callrec_free(c);
                        break;
                    }
                    a->calls = p;
                    a->cap_calls = cap;
                }
                a->calls[a->n_calls++] = c;
            }
            break;
        case MSG_ERROR:
            span_append(a, APP_STYLE_ERROR, "\n", 1);
            if (m->text)
                span_append(a, APP_STYLE_ERROR, m->text, strlen(m->text));
            set_status(a, APP_STYLE_ERROR, "%s", m->text ? m->text : "");
            break;
        case MSG_LOG: /* status: an error (not OK) or a warning */
            set_status(a, m->status != STATUS_OK ? APP_STYLE_ERROR : APP_STYLE_INFO, "%s",
                       m->text ? m->text : "");
            break;
        case MSG_DONE: {
            double tps = m->t_gen > 0 ? (double)m->n_gen / m->t_gen : 0.0;
            snprintf(a->speed, sizeof a->speed, "%.1f tok/s  %.1f s", tps, m->t_total);
            char run[48] = "";
            if (m->run_id > 0)
                snprintf(run, sizeof run, "  run %lld", (long long)m->run_id);
            span_push(a, APP_STYLE_INFO,
                      xprintf("\n[%s: %s, %zu tokens, %s%s]\n", _("done"),
                              m->text ? m->text : "", m->n_gen, a->speed, run), NULL);
            break;
        }
        case MSG_FINISHED:
            worker_join(a);
            if (a->chat_question && a->chat_hist && m->status == STATUS_OK) {
                enum status hs = agent_history_add(a->chat_hist, a->chat_question,
                                                   m->output ? m->output : "");
                if (hs != STATUS_OK)
                    status_from(a, _("chat"), hs);
            }
            free(a->chat_question);
            a->chat_question = NULL;
            if (m->status == STATUS_OK || m->status == STATUS_CANCELLED) {
                if (m->text) {
                    span_push(a, APP_STYLE_INFO, xprintf("\n%s\n", m->text), NULL);
                    set_status(a, APP_STYLE_INFO, "%s", m->text);
                } else {
                    set_status(a, APP_STYLE_INFO, "%s", m->status == STATUS_CANCELLED
                               ? _("stopped") : _("ready"));
                }
            } else {
                set_status(a, APP_STYLE_ERROR, "%s", m->text ? m->text : "");
                span_push(a, APP_STYLE_ERROR, xprintf("\n%s\n", m->text ? m->text : ""), NULL);
            }
            if (!a->speed[0] || m->status != STATUS_OK)
                snprintf(a->speed, sizeof a->speed, "%.1f s", timing_since_s(a->t_start));
            reload = true;
            break;
        }
        free(m->text);
        free(m->output);
        callrec_free(m->call);
        free(m);
        m = next;
    }
    if (a->worker_on && r) {
        double el = timing_since_s(a->t_start);
        snprintf(a->speed, sizeof a->speed, "%.1f tok/s  %.1f s",
                 el > 0 ? (double)a->n_tok_events / el : 0.0, el);
    }
    if (reload) {
        table_reload(a);
        if (a->screen == APP_SCREEN_AUDIT)
            audit_load(a);
    }
    return r;
}

bool app_busy(const struct app *a)
{
    return a->worker_on;
}

/* ---- the triple table: keyset pagination ---------------------------------------------- */

static void row_free(struct app_row *r)
{
    free(r->subj);
    free(r->rel);
    free(r->obj);
}

static void rows_clear(struct row_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        row_free(&v->v[i]);
    v->n = 0;
}

static int rows_cb(void *ctx, const struct mem_triple *t)
{
    struct row_vec *v = ctx;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        struct app_row *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return 1;
        v->v = p;
        v->cap = cap;
    }
    struct app_row *r = &v->v[v->n];
    r->id = t->id;
    r->subj = xstrdup(t->subj_name);
    r->rel = xstrdup(t->rel_name);
    r->obj = xstrdup(t->obj_name);
    r->source_id = t->source_id;
    r->retired = t->retired_at != 0;
    r->conflict = t->conflict;
    if (!r->subj || !r->rel || !r->obj) {
        row_free(r);
        return 1;
    }
    v->n++;
    return 0;
}

static const char *row_key(const struct app *a, const struct app_row *r)
{
    switch (a->sort) {
    case MEM_SORT_SUBJECT: return r->subj;
    case MEM_SORT_RELATION: return r->rel;
    case MEM_SORT_OBJECT: return r->obj;
    case MEM_SORT_ID: break;
    }
    return NULL;
}

static void filter_of(const struct app *a, struct mem_filter *f)
{
    memset(f, 0, sizeof *f);
    f->subj = a->filter[0];
    f->rel = a->filter[1];
    f->obj = a->filter[2];
    f->source = a->filter[3];
    f->match = MEM_MATCH_SUBSTRING;
    f->include_retired = a->retired;
}

/* Rows after (or before) a cursor into out (cleared first). */
static enum status fetch(struct app *a, bool from_edge, const char *key, int64_t id,
                         bool backward, size_t limit, struct row_vec *out)
{
    if (a->shared_conn && a->worker_on) {
        set_status(a, APP_STYLE_INFO, "%s", _("the table updates when the answer is done"));
        return STATUS_INVALID;
    }
    rows_clear(out);
    if (!a->m)
        return STATUS_OK;
    struct mem_filter f;
    filter_of(a, &f);
    struct mem_page p = {
        .sort = a->sort, .backward = backward, .after_key = from_edge ? NULL : key,
        .after_id = from_edge ? 0 : id, .limit = limit,
    };
    enum status st = mem_triple_list(a->m, &f, &p, rows_cb, out);
    if (st != STATUS_OK)
        status_from(a, _("memory"), st);
    return st;
}

/* False (with a message) while the worker uses the only connection. */
static bool browse_ok(struct app *a)
{
    if (a->shared_conn && a->worker_on) {
        set_status(a, APP_STYLE_INFO, "%s", _("the memory is busy until the answer is done"));
        return false;
    }
    return true;
}

static void anchor_set(struct app *a, const struct app_row *r)
{
    free(a->anchor_key);
    a->anchor_key = NULL;
    a->anchor_on = r != NULL;
    a->anchor_id = r ? r->id : 0;
    if (r && row_key(a, r))
        a->anchor_key = xstrdup(row_key(a, r));
}

static void rows_swap(struct row_vec *x, struct row_vec *y)
{
    struct row_vec t = *x;
    *x = *y;
    *y = t;
}

static void rows_reverse(struct row_vec *v)
{
    for (size_t i = 0; i < v->n / 2; i++) {
        struct app_row t = v->v[i];
        v->v[i] = v->v[v->n - 1 - i];
        v->v[v->n - 1 - i] = t;
    }
}

static void table_end(struct app *a)
{
    struct row_vec b = {0};
    if (fetch(a, true, NULL, 0, true, a->page + 1, &b) == STATUS_OK) {
        if (b.n > a->page) {
            anchor_set(a, &b.v[a->page]);
            row_free(&b.v[a->page]);
            b.n = a->page;
        } else {
            anchor_set(a, NULL);
        }
        rows_reverse(&b);
        rows_swap(&a->rows, &b);
        a->cursor = a->rows.n ? a->rows.n - 1 : 0;
    }
    rows_clear(&b);
    free(b.v);
}

static void table_load(struct app *a)
{
    struct row_vec b = {0};
    if (fetch(a, !a->anchor_on, a->anchor_key, a->anchor_id, false, a->page, &b) ==
        STATUS_OK) {
        if (b.n < a->page && a->anchor_on) {
            /* rows vanished at the end (retired, filtered): show the last full page */
            size_t keep = a->cursor;
            table_end(a);
            if (keep < a->rows.n)
                a->cursor = keep;
        } else {
            rows_swap(&a->rows, &b);
        }
    }
    rows_clear(&b);
    free(b.v);
    if (a->cursor >= a->rows.n)
        a->cursor = a->rows.n ? a->rows.n - 1 : 0;
}

/* A filtered count stops here (counting every match of a one-letter filter over a
 * million triples takes most of a second; the first APP_COUNT_CAP take milliseconds). */
#define APP_COUNT_CAP 1000

static void table_count(struct app *a)
{
    struct mem_filter f;
    filter_of(a, &f);
    int64_t n = -1;
    if (a->shared_conn && a->worker_on)
        return;
    bool filtered = f.subj || f.rel || f.obj || f.source;
    enum status st = STATUS_INVALID;
    if (a->m)
        st = filtered ? mem_triple_count_max(a->m, &f, APP_COUNT_CAP, &n)
                      : mem_triple_count(a->m, &f, &n);
    if (st != STATUS_OK)
        n = -1;
    a->total = n;
    a->total_capped = filtered && n >= APP_COUNT_CAP;
}

/* Keep the position, reload the page and the count. */
static void table_reload(struct app *a)
{
    table_load(a);
    table_count(a);
}

static void table_home(struct app *a)
{
    anchor_set(a, NULL);
    a->cursor = 0;
    table_load(a);
}

static void table_down(struct app *a)
{
    if (a->cursor + 1 < a->rows.n) {
        a->cursor++;
        return;
    }
    if (!a->rows.n)
        return;
    struct row_vec b = {0};
    const struct app_row *last = &a->rows.v[a->rows.n - 1];
    if (fetch(a, false, row_key(a, last), last->id, false, 1, &b) == STATUS_OK && b.n) {
        if (a->rows.n < a->page) {
            /* room left on the page (rows appeared) */
            table_load(a);
        } else {
            anchor_set(a, &a->rows.v[0]);
            row_free(&a->rows.v[0]);
            memmove(a->rows.v, a->rows.v + 1, (a->rows.n - 1) * sizeof *a->rows.v);
            a->rows.n--;
            rows_cb(&a->rows, &(struct mem_triple){
                .id = b.v[0].id, .subj_name = b.v[0].subj, .rel_name = b.v[0].rel,
                .obj_name = b.v[0].obj, .source_id = b.v[0].source_id,
                .retired_at = b.v[0].retired, .conflict = b.v[0].conflict});
        }
        a->cursor = a->rows.n - 1;
    }
    rows_clear(&b);
    free(b.v);
}

static void table_up(struct app *a)
{
    if (a->cursor > 0) {
        a->cursor--;
        return;
    }
    if (!a->anchor_on)
        return;
    struct row_vec b = {0};
    const struct app_row *first = &a->rows.v[0];
    if (a->rows.n &&
        fetch(a, false, row_key(a, first), first->id, true, 2, &b) == STATUS_OK && b.n) {
        anchor_set(a, b.n >= 2 ? &b.v[1] : NULL);
        table_load(a);
        a->cursor = 0;
    } else if (!a->rows.n) {
        table_home(a);
    }
    rows_clear(&b);
    free(b.v);
}

static void table_page_down(struct app *a)
{
    if (a->rows.n < a->page) {
        a->cursor = a->rows.n ? a->rows.n - 1 : 0;
        return;
    }
    struct row_vec b = {0};
    const struct app_row *last = &a->rows.v[a->rows.n - 1];
    if (fetch(a, false, row_key(a, last), last->id, false, a->page, &b) == STATUS_OK) {
        if (b.n == 0) {
            a->cursor = a->rows.n - 1;
        } else if (b.n == a->page) {
            anchor_set(a, last);
            rows_swap(&a->rows, &b);
        } else {
            size_t keep = a->cursor;
            table_end(a);
            a->cursor = keep < a->rows.n ? keep : a->rows.n - 1;
        }
    }
    rows_clear(&b);
    free(b.v);
}

static void table_page_up(struct app *a)
{
    if (!a->anchor_on || !a->rows.n) {
        a->cursor = 0;
        return;
    }
    struct row_vec b = {0};
    const struct app_row *first = &a->rows.v[0];
    if (fetch(a, false, row_key(a, first), first->id, true, a->page + 1, &b) == STATUS_OK) {
        if (b.n > a->page) {
            anchor_set(a, &b.v[a->page]);
            row_free(&b.v[a->page]);
            b.n = a->page;
            rows_reverse(&b);
            rows_swap(&a->rows, &b);
        } else {
            size_t keep = a->cursor;
            table_home(a);
            a->cursor = keep < a->rows.n ? keep : 0;
        }
    }
    rows_clear(&b);
    free(b.v);
}

static void filter_text_update(struct app *a)
{
    static const char *const names[4] = {N_("subject"), N_("relation"), N_("object"),
                                         N_("source")};
    size_t o = 0;
    a->filter_text[0] = '\0';
    for (int i = 0; i < 4; i++) {
        if (!a->filter[i] || !a->filter[i][0])
            continue;
        int n = snprintf(a->filter_text + o, sizeof a->filter_text - o, "%s%s~%s",
                         o ? " " : "", _(names[i]), a->filter[i]);
        if (n < 0 || (size_t)n >= sizeof a->filter_text - o)
            break;
        o += (size_t)n;
    }
}

/* ---- overlays ------------------------------------------------------------------------ */

static void viewer_open(struct app *a, enum app_overlay kind, char *title)
{
    free(a->viewer_title);
    a->viewer_title = title;
    a->viewer_scroll = 0;
    a->overlay = kind;
}

static void help_open(struct app *a)
{
    lines_clear(&a->viewer);
    lines_addf(&a->viewer, APP_STYLE_TITLE, "%s", _("Keys (Esc or q closes this help)"));
    for (int c = CMD_NONE + 1; c < CMD_COUNT_; c++) {
        char keys[96];
        keymap_keys_of((enum cmd)c, keys, sizeof keys);
        if (!keys[0])
            continue;
        size_t w = utf8_width_cstr(keys);
        lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %s%*s %s", keys, w < 22 ? (int)(22 - w) : 0,
                   "", keymap_cmd_desc((enum cmd)c));
    }
    lines_addf(&a->viewer, APP_STYLE_INFO, "%s", "");
    lines_addf(&a->viewer, APP_STYLE_INFO, "%s",
               _("Modes: Ask reads memory while answering, Teach stores the triples of the "
                 "text you type or load, Chat answers with the conversation so far."));
    viewer_open(a, APP_OVERLAY_HELP, xstrdup(_("Help")));
}

static bool ascii_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i]) {
            char x = hay[i], y = needle[i];
            if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
            if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
            if (x != y)
                break;
            i++;
        }
        if (i == n)
            return true;
    }
    return false;
}

static void palette_update(struct app *a)
{
    free(a->palette_utf8);
    a->palette_utf8 = cps_utf8(&a->palette_q);
    a->n_palette = 0;
    for (int c = CMD_NONE + 1; c < CMD_COUNT_; c++)
        if (keymap_cmd_in_palette((enum cmd)c) &&
            ascii_icontains(keymap_cmd_desc((enum cmd)c), a->palette_utf8 ? a->palette_utf8 : ""))
            a->palette_items[a->n_palette++] = (enum cmd)c;
    if (a->palette_cursor >= a->n_palette)
        a->palette_cursor = a->n_palette ? a->n_palette - 1 : 0;
}

static void prompt_open(struct app *a, enum pending what, const char *title, size_t n,
                        const char *const *labels, const char *const *values)
{
    free(a->prompt_title);
    a->prompt_title = xstrdup(title);
    for (size_t i = 0; i < APP_FIELDS_MAX; i++) {
        free(a->labels[i]);
        a->labels[i] = NULL;
        a->fields[i].n = a->fields[i].cursor = 0;
    }
    for (size_t i = 0; i < n && i < APP_FIELDS_MAX; i++) {
        a->labels[i] = xstrdup(labels[i]);
        cps_set_utf8(&a->fields[i], values ? values[i] : "");
    }
    a->n_fields = n;
    a->field = 0;
    a->pending = what;
    a->overlay = APP_OVERLAY_PROMPT;
}

static void confirm_open(struct app *a, char *text)
{
    free(a->confirm);
    a->confirm = text;
    a->overlay_back = a->overlay;
    a->overlay = APP_OVERLAY_CONFIRM;
}

static const struct app_row *row_selected(const struct app *a)
{
    return a->cursor < a->rows.n ? &a->rows.v[a->cursor] : NULL;
}

/* ---- details, entity view ------------------------------------------------------------ */

struct hist_ctx {
    struct app *a;
    int64_t current;
};

static int hist_cb(void *ctx, const struct mem_triple *t)
{
    struct hist_ctx *h = ctx;
    lines_addf(&h->a->viewer, t->id == h->current ? APP_STYLE_MARK : APP_STYLE_NORMAL,
               "  #%lld  %s | %s | %s  %s%s", (long long)t->id, t->subj_name, t->rel_name,
               t->obj_name, t->retired_at ? _("retired") : _("live"),
               t->retire_reason ? t->retire_reason : "");
    return 0;
}

static int uses_cb(void *ctx, const struct mem_triple_use *u)
{
    struct app *a = ctx;
    lines_addf(&a->viewer, APP_STYLE_READ, "  %s %lld, %s %lld: %s  (%.3f)", _("run"),
               (long long)u->run_id, _("call"), (long long)u->call_no, u->query, u->score);
    return 0;
}

/* The selected row's details into a->viewer; false when there is none. */
static bool detail_build(struct app *a)
{
    const struct app_row *r = row_selected(a);
    if (!r || !a->m || !browse_ok(a))
        return false;
    struct mem_triple_info *info = NULL;
    enum status st = mem_triple_get(a->m, r->id, &info);
    if (st != STATUS_OK) {
        status_from(a, _("triple"), st);
        return false;
    }
    lines_clear(&a->viewer);
    const struct mem_triple *t = &info->triple;
    lines_addf(&a->viewer, APP_STYLE_TITLE, "#%lld", (long long)t->id);
    lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %-10s %s", _("subject"), t->subj_name);
    lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %-10s %s", _("relation"), t->rel_name);
    lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %-10s %s", _("object"), t->obj_name);
    if (t->retired_at)
        lines_addf(&a->viewer, APP_STYLE_DIM, "  %s: %s", _("retired"),
                   t->retire_reason ? t->retire_reason : "");
    if (t->replaced_by)
        lines_addf(&a->viewer, APP_STYLE_DIM, "  %s #%lld", _("replaced by"),
                   (long long)t->replaced_by);
    if (t->conflict)
        lines_addf(&a->viewer, APP_STYLE_FAIL, "  %s", _("conflict: a second value of a "
                                                         "single-valued relation"));
    lines_addf(&a->viewer, APP_STYLE_TITLE, "%s", _("Source"));
    if (info->source.id) {
        lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %s", mem_source_kind_name(info->source.kind));
        if (info->source.text)
            lines_add_text(&a->viewer, APP_STYLE_USER, "  ", info->source.text);
        if (info->source.file)
            lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %s:%lld", info->source.file,
                       (long long)info->source.line);
        if (info->source.run_id)
            lines_addf(&a->viewer, APP_STYLE_NORMAL, "  %s %lld", _("run"),
                       (long long)info->source.run_id);
    } else {
        lines_addf(&a->viewer, APP_STYLE_DIM, "  %s", _("none"));
    }
    lines_addf(&a->viewer, APP_STYLE_TITLE, "%s", _("History"));
    struct hist_ctx h = {a, t->id};
    mem_triple_history(a->m, t->id, hist_cb, &h);
    lines_addf(&a->viewer, APP_STYLE_TITLE, "%s", _("Read by"));
    size_t before = a->viewer.n;
    mem_triple_uses(a->m, t->id, uses_cb, a);
    if (a->viewer.n == before)
        lines_addf(&a->viewer, APP_STYLE_DIM, "  %s", _("no run read it yet"));
    mem_triple_info_free(info);
    return true;
}

static void detail_open(struct app *a)
{
    const struct app_row *r = row_selected(a);
    int64_t id = r ? r->id : 0;
    if (detail_build(a))
        viewer_open(a, APP_OVERLAY_VIEWER, xprintf("%s #%lld", _("Triple"), (long long)id));
}

unsigned app_detail_update(struct app *a)
{
    if (a->screen != APP_SCREEN_TABLE || a->overlay != APP_OVERLAY_NONE)
        return REACT_NONE;
    const struct app_row *r = row_selected(a);
    int64_t id = r ? r->id : 0;
    if (id == a->detail_id)
        return REACT_NONE;
    a->detail_id = id;
    a->detail_scroll = 0;
    /* built in the (closed) viewer's place: the same lines as the details overlay */
    struct lines keep = a->viewer;
    a->viewer = a->detail;
    memset(&a->detail, 0, sizeof a->detail);
    if (!detail_build(a))
        lines_clear(&a->viewer);
    a->detail = a->viewer;
    a->viewer = keep;
    return REACT_REDRAW;
}

size_t app_detail_lines(const struct app *a, const struct app_line **lines)
{
    *lines = a->detail.v;
    return a->detail.n;
}

size_t app_detail_scroll(const struct app *a) { return a->detail_scroll; }

struct ent_ctx {
    struct app *a;
    bool out;
    size_t n;
};

static int ent_cb(void *ctx, const struct mem_triple *t)
{
    struct ent_ctx *e = ctx;
    e->n++;
    if (e->out)
        lines_addf(&e->a->viewer, APP_STYLE_NORMAL, "  \u251c\u2500 %s \u2500\u2500\u25b6 %s",
                   t->rel_name, t->obj_name);
    else
        lines_addf(&e->a->viewer, APP_STYLE_NORMAL, "  \u25c0\u2500\u2500 %s \u2500\u2500 %s",
                   t->rel_name, t->subj_name);
    return 0;
}

static void entity_open(struct app *a, const char *name)
{
    if (!a->m || !name || !browse_ok(a))
        return;
    lines_clear(&a->viewer);
    lines_addf(&a->viewer, APP_STYLE_TITLE, "%s", name);
    struct mem_filter f = {.subj = name, .match = MEM_MATCH_EXACT};
    struct mem_page p = {.sort = MEM_SORT_RELATION, .limit = APP_ENTITY_ROWS};
    struct ent_ctx e = {a, true, 0};
    mem_triple_list(a->m, &f, &p, ent_cb, &e);
    struct mem_filter g = {.obj = name, .match = MEM_MATCH_EXACT};
    e.out = false;
    mem_triple_list(a->m, &g, &p, ent_cb, &e);
    if (e.n == 0)
        lines_addf(&a->viewer, APP_STYLE_DIM, "  %s", _("no live triples"));
    viewer_open(a, APP_OVERLAY_VIEWER, xprintf("%s: %s", _("Entity"), name));
}

/* ---- audit --------------------------------------------------------------------------- */

struct run_ctx {
    struct app *a;
    size_t n;
};

static int run_cb(void *ctx, const struct mem_run *r)
{
    struct run_ctx *rc = ctx;
    struct app *a = rc->a;
    int64_t *p = realloc(a->run_ids, (rc->n + 1) * sizeof *p);
    if (!p)
        return 1;
    a->run_ids = p;
    time_t t = (time_t)(r->created_at / 1000);
    struct tm tm;
    char when[32] = "";
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    const char *nl = strchr(r->prompt ? r->prompt : "", '\n');
    int plen = nl ? (int)(nl - r->prompt) : (int)strlen(r->prompt ? r->prompt : "");
    size_t before = a->runs.n;
    lines_addf(&a->runs, APP_STYLE_NORMAL, "#%lld %s %.*s", (long long)r->id, when, plen,
               r->prompt ? r->prompt : "");
    if (a->runs.n == before)
        return 1;
    a->run_ids[rc->n++] = r->id;
    return 0;
}

static void audit_detail(struct app *a)
{
    if (!browse_ok(a))
        return;
    lines_clear(&a->audit);
    if (!a->m || a->audit_cursor >= a->runs.n)
        return;
    struct mem_run *run = NULL;
    enum status st = mem_run_get(a->m, a->run_ids[a->audit_cursor], &run);
    if (st != STATUS_OK) {
        status_from(a, _("run"), st);
        return;
    }
    lines_addf(&a->audit, APP_STYLE_TITLE, "%s %lld  %s", _("Run"), (long long)run->id,
               run->model ? run->model : "");
    lines_add_text(&a->audit, APP_STYLE_USER, "> ", run->prompt);
    lines_addf(&a->audit, APP_STYLE_TITLE, "%s", _("Answer"));
    lines_add_text(&a->audit, APP_STYLE_NORMAL, "  ", run->output ? run->output : "");
    for (size_t i = 0; i < run->n_calls; i++) {
        const struct mem_run_call *c = &run->calls[i];
        lines_addf(&a->audit, c->kind == MEM_CALL_KIND_READ ? APP_STYLE_READ : APP_STYLE_WRITE,
                   "%s %lld: %s \u2192 %s", _("Call"), (long long)c->call_no,
                   c->raw ? c->raw : "", c->result ? c->result : "");
        for (size_t k = 0; k < run->n_reads; k++) {
            const struct mem_run_read *r = &run->reads[k];
            if (r->call_no != c->call_no)
                continue;
            lines_addf(&a->audit, APP_STYLE_MARK, "    #%lld %s | %s | %s  (%.3f, %s)",
                       (long long)r->triple.id, r->triple.subj_name, r->triple.rel_name,
                       r->triple.obj_name, r->score, r->query ? r->query : "");
            if (r->source.id && r->source.text)
                lines_add_text(&a->audit, APP_STYLE_DIM, "        \u00ab ", r->source.text);
        }
        /* the answer span that followed the call: up to the next call or the end */
        const char *at = c->raw && run->output ? strstr(run->output, c->raw) : NULL;
        const char *end = at ? strstr(at, "})") : NULL;
        if (end) {
            end += 2;
            const char *next = strstr(end, "({");
            int n = next ? (int)(next - end) : (int)strlen(end);
            lines_addf(&a->audit, APP_STYLE_INFO, "    %s: %.*s", _("answer span"), n, end);
        }
    }
    mem_run_free(run);
}

static void audit_load(struct app *a)
{
    if (!browse_ok(a))
        return;
    lines_clear(&a->runs);
    struct run_ctx rc = {a, 0};
    if (a->m) {
        enum status st = mem_run_list(a->m, 0, APP_AUDIT_RUNS, run_cb, &rc);
        if (st != STATUS_OK)
            status_from(a, _("runs"), st);
    }
    if (a->audit_cursor >= a->runs.n)
        a->audit_cursor = a->runs.n ? a->runs.n - 1 : 0;
    audit_detail(a);
}

/* ---- settings ------------------------------------------------------------------------ */

size_t app_settings_count(const struct app *a)
{
    (void)a;
    return SET_COUNT_;
}

const char *app_settings_label(const struct app *a, size_t i)
{
    (void)a;
    switch ((enum setting)i) {
    case SET_DIST_THR: return _("read: entity distance threshold");
    case SET_DIST_REL_THR: return _("read: relation distance threshold");
    case SET_Q_THR: return _("read: pair score threshold");
    case SET_TEMP: return _("sampling: temperature");
    case SET_TOP_K: return _("sampling: top-k");
    case SET_TOP_P: return _("sampling: top-p");
    case SET_MAX_TOKENS: return _("answer: maximum tokens");
    case SET_MAX_CALLS: return _("answer: maximum reads");
    case SET_CONSTRAIN: return _("constrained decoding of calls");
    case SET_READ: return _("read memory while answering");
    case SET_COUNT_: break;
    }
    return "";
}

const char *app_settings_value(const struct app *a, size_t i, char *buf, size_t size)
{
    const struct ctrl_params *cp = a->ctrl ? ctrl_params_get(a->ctrl) : NULL;
    const struct agent_params *ap = a->agent ? agent_params_get(a->agent) : NULL;
    if (size)
        buf[0] = '\0';
    switch ((enum setting)i) {
    case SET_DIST_THR: if (cp) snprintf(buf, size, "%.3f", cp->dist_thr); break;
    case SET_DIST_REL_THR: if (cp) snprintf(buf, size, "%.3f", cp->dist_rel_thr); break;
    case SET_Q_THR: if (cp) snprintf(buf, size, "%.3f", cp->q_thr); break;
    case SET_TEMP: if (ap) snprintf(buf, size, "%.2f", (double)ap->samp.temp); break;
    case SET_TOP_K: if (ap) snprintf(buf, size, "%d", (int)ap->samp.top_k); break;
    case SET_TOP_P: if (ap) snprintf(buf, size, "%.2f", (double)ap->samp.top_p); break;
    case SET_MAX_TOKENS: if (ap) snprintf(buf, size, "%zu", ap->max_tokens); break;
    case SET_MAX_CALLS: if (ap) snprintf(buf, size, "%zu", ap->max_calls); break;
    case SET_CONSTRAIN: if (ap) snprintf(buf, size, "%s", ap->constrain ? _("on") : _("off"));
        break;
    case SET_READ: if (ap) snprintf(buf, size, "%s", ap->read ? _("on") : _("off")); break;
    case SET_COUNT_: break;
    }
    if (size && !buf[0])
        snprintf(buf, size, "%s", "\u2014");
    return buf;
}

size_t app_settings_cursor(const struct app *a)
{
    return a->set_cursor;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Set item i to value v (absolute); STATUS_INVALID when not possible now. */
static enum status setting_set(struct app *a, size_t i, double v)
{
    if (a->worker_on)
        return status_detail_set(STATUS_INVALID, "%s", _("busy: settings change after the answer"));
    if (i <= SET_Q_THR) {
        if (!a->ctrl)
            return status_detail_set(STATUS_INVALID, "%s", _("no memory controller"));
        struct ctrl_params p = *ctrl_params_get(a->ctrl);
        v = clampd(v, 0.0, 2.0);
        if (i == SET_DIST_THR) p.dist_thr = v;
        else if (i == SET_DIST_REL_THR) p.dist_rel_thr = v;
        else p.q_thr = v;
        return ctrl_params_set(a->ctrl, &p);
    }
    if (!a->agent)
        return status_detail_set(STATUS_INVALID, "%s", _("no model is open"));
    struct agent_params p = *agent_params_get(a->agent);
    switch ((enum setting)i) {
    case SET_TEMP: p.samp.temp = (float)clampd(v, 0.0, 5.0); break;
    case SET_TOP_K: p.samp.top_k = (int32_t)clampd(v, 0.0, 100000.0); break;
    case SET_TOP_P: p.samp.top_p = (float)clampd(v, 0.0, 1.0); break;
    case SET_MAX_TOKENS: p.max_tokens = (size_t)clampd(v, 1.0, 65536.0); break;
    case SET_MAX_CALLS: p.max_calls = (size_t)clampd(v, 0.0, 100.0); break;
    case SET_CONSTRAIN: p.constrain = v != 0.0; break;
    case SET_READ: p.read = v != 0.0; break;
    default: break;
    }
    return agent_params_set(a->agent, &p);
}

static void setting_step(struct app *a, int dir)
{
    char buf[64];
    size_t i = a->set_cursor;
    app_settings_value(a, i, buf, sizeof buf);
    double v = strtod(buf, NULL), step;
    switch ((enum setting)i) {
    case SET_DIST_THR: case SET_DIST_REL_THR: case SET_Q_THR: step = 0.01; break;
    case SET_TEMP: case SET_TOP_P: step = 0.05; break;
    case SET_TOP_K: step = 5; break;
    case SET_MAX_TOKENS: step = 32; break;
    case SET_MAX_CALLS: step = 1; break;
    default: {
        const struct agent_params *ap = a->agent ? agent_params_get(a->agent) : NULL;
        bool on = ap && (i == SET_CONSTRAIN ? ap->constrain : ap->read);
        v = on ? 0.0 : 1.0;
        step = 0;
        break;
    }
    }
    enum status st = setting_set(a, i, v + dir * step);
    if (st != STATUS_OK)
        status_from(a, app_settings_label(a, i), st);
    else
        set_status(a, APP_STYLE_INFO, "%s: %s", app_settings_label(a, i),
                   app_settings_value(a, i, buf, sizeof buf));
}

/* ---- commands ------------------------------------------------------------------------ */

static void history_push(struct app *a, const char *s)
{
    if (a->n_history && strcmp(a->history[a->n_history - 1], s) == 0)
        return;
    if (a->n_history == APP_HISTORY_MAX) {
        free(a->history[0]);
        memmove(a->history, a->history + 1, (APP_HISTORY_MAX - 1) * sizeof *a->history);
        a->n_history--;
    }
    char *d = xstrdup(s);
    if (d)
        a->history[a->n_history++] = d;
}

static unsigned ask(struct app *a, enum app_mode mode, const char *text)
{
    free(a->last_question);
    a->last_question = xstrdup(text);
    a->last_mode = mode;
    if (!a->agent) /* keep the question in the transcript only when it will run */
        return start_job(a, mode, xstrdup(text), NULL);
    span_push(a, APP_STYLE_USER, xprintf("%s%s %s\n", a->n_spans ? "\n" : "",
                                         mode == APP_MODE_TEACH ? "+" : ">", text), NULL);
    char *job = NULL;
    if (mode == APP_MODE_CHAT && a->chat_hist && !a->worker_on) {
        /* earlier turns of the conversation before the question */
        size_t kept = 0;
        enum status st = agent_history_prompt(a->chat_hist, a->tk, text, a->history_tokens,
                                              &job, &kept);
        if (st != STATUS_OK) {
            status_from(a, _("chat"), st);
            return REACT_REDRAW;
        }
        free(a->chat_question);
        a->chat_question = xstrdup(text);
    } else {
        job = xstrdup(text);
    }
    return start_job(a, mode, job, NULL);
}

static unsigned submit_input(struct app *a)
{
    char *text = cps_utf8(&a->input);
    if (!text)
        return REACT_NONE;
    if (!text[0]) {
        free(text);
        return REACT_NONE;
    }
    if (a->worker_on) {
        free(text);
        set_status(a, APP_STYLE_ERROR, "%s", _("busy: wait for the answer or press Ctrl-C"));
        return REACT_REDRAW;
    }
    history_push(a, text);
    a->history_pos = a->n_history;
    a->input.n = a->input.cursor = 0;
    unsigned r = ask(a, a->mode, text);
    free(text);
    return r | REACT_REDRAW;
}

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sbuf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len < max)
        sb_add(&b, tmp, n);
    fclose(f);
    return sb_take(&b);
}

static bool need_idle(struct app *a)
{
    if (a->worker_on) {
        set_status(a, APP_STYLE_ERROR, "%s", _("busy: edits wait until the answer is done"));
        return false;
    }
    if (!a->m) {
        set_status(a, APP_STYLE_ERROR, "%s", _("no memory is open"));
        return false;
    }
    return true;
}

static void do_pending(struct app *a)
{
    a->detail_id = -1; /* a retire changes the selected triple: reload its details */
    char *v[APP_FIELDS_MAX] = {0};
    for (size_t i = 0; i < a->n_fields; i++)
        v[i] = cps_utf8(&a->fields[i]);
    enum status st = STATUS_OK;
    int64_t new_id = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = _("edited in the TUI")};
    switch (a->pending) {
    case PEND_ADD:
        if (a->ctrl) {
            struct ctrl_triple_in t = {v[0], v[1], v[2]};
            struct ctrl_written w;
            st = ctrl_write(a->ctrl, &t, 1, &src, &w);
            new_id = w.triple_id;
            oc = w.outcome;
        } else {
            st = mem_triple_add(a->m, v[0], v[1], v[2], 0, &new_id, &oc);
        }
        if (st == STATUS_OK)
            set_status(a, APP_STYLE_INFO, "%s #%lld (%s)", _("added"), (long long)new_id,
                       outcome_name(oc));
        break;
    case PEND_EDIT:
        if (a->ctrl)
            st = ctrl_edit(a->ctrl, a->pending_id, v[0], v[1], v[2], &src, _("edited"),
                           &new_id, &oc);
        else
            st = mem_triple_edit(a->m, a->pending_id, v[0], v[1], v[2], 0, _("edited"),
                                 &new_id, &oc);
        if (st == STATUS_OK)
            set_status(a, APP_STYLE_INFO, "#%lld %s #%lld (%s)", (long long)a->pending_id,
                       _("replaced by"), (long long)new_id, outcome_name(oc));
        break;
    case PEND_RETIRE:
        st = a->ctrl ? ctrl_retire(a->ctrl, a->pending_id, _("retired in the TUI"))
                     : mem_triple_retire(a->m, a->pending_id, _("retired in the TUI"));
        if (st == STATUS_OK)
            set_status(a, APP_STYLE_INFO, "%s #%lld", _("retired"), (long long)a->pending_id);
        break;
    default:
        break;
    }
    if (st != STATUS_OK)
        status_from(a, _("memory"), st);
    for (size_t i = 0; i < APP_FIELDS_MAX; i++)
        free(v[i]);
    a->pending = PEND_NONE;
    a->overlay = APP_OVERLAY_NONE;
    table_reload(a);
}

/* Apply the filter fields to the table (incremental filter). */
static void filter_apply(struct app *a)
{
    a->filter_dirty = false;
    for (int i = 0; i < 4; i++) {
        free(a->filter[i]);
        a->filter[i] = cps_utf8(&a->fields[i]);
        if (a->filter[i] && !a->filter[i][0]) {
            free(a->filter[i]);
            a->filter[i] = NULL;
        }
    }
    filter_text_update(a);
    table_home(a);
    a->total = -1; /* counted when the prompt closes: a count scans every match */
}

static unsigned prompt_submit(struct app *a)
{
    a->detail_id = -1; /* an edit may change the selected triple: reload its details */
    switch (a->pending) {
    case PEND_FILTER:
        if (a->filter_dirty)
            filter_apply(a);
        a->overlay = APP_OVERLAY_NONE;
        a->pending = PEND_NONE;
        table_count(a);
        break;
    case PEND_ADD:
    case PEND_EDIT: {
        char *v[3];
        bool ok = true;
        for (int i = 0; i < 3; i++) {
            v[i] = cps_utf8(&a->fields[i]);
            if (!v[i] || !v[i][0])
                ok = false;
        }
        if (ok)
            confirm_open(a, xprintf("%s (%s | %s | %s)?", a->pending == PEND_ADD
                                    ? _("Add the triple") : _("Replace the triple with"),
                                    v[0], v[1], v[2]));
        else
            set_status(a, APP_STYLE_ERROR, "%s", _("subject, relation and object must not be "
                                                   "empty"));
        for (int i = 0; i < 3; i++)
            free(v[i]);
        break;
    }
    case PEND_FILE: {
        char *path = cps_utf8(&a->fields[0]);
        a->overlay = APP_OVERLAY_NONE;
        a->pending = PEND_NONE;
        if (!path)
            break;
        char *text = read_file(path, 16u << 20);
        if (!text) {
            set_status(a, APP_STYLE_ERROR, "%s: %s", path, strerror(errno));
        } else {
            if (a->agent)
                span_push(a, APP_STYLE_USER, xprintf("\n+ %s\n", path), NULL);
            start_job(a, APP_MODE_TEACH, text, path);
        }
        free(path);
        break;
    }
    case PEND_SETTING: {
        char *s = cps_utf8(&a->fields[0]);
        char *end = NULL;
        double v = s ? strtod(s, &end) : NAN;
        a->overlay = APP_OVERLAY_NONE;
        a->pending = PEND_NONE;
        if (!s || end == s || isnan(v)) {
            set_status(a, APP_STYLE_ERROR, "%s: '%s'", _("not a number"), s ? s : "");
        } else {
            enum status st = setting_set(a, a->set_cursor, v);
            if (st != STATUS_OK)
                status_from(a, app_settings_label(a, a->set_cursor), st);
        }
        free(s);
        break;
    }
    default:
        a->overlay = APP_OVERLAY_NONE;
        break;
    }
    return REACT_REDRAW;
}

static void screen_set(struct app *a, enum app_screen s)
{
    a->screen = s;
    a->overlay = APP_OVERLAY_NONE;
    switch (s) {
    case APP_SCREEN_GEN: a->focus = APP_FOCUS_INPUT; break;
    case APP_SCREEN_TABLE: a->focus = APP_FOCUS_TABLE; table_reload(a); break;
    case APP_SCREEN_AUDIT: a->focus = APP_FOCUS_AUDIT; audit_load(a); break;
    case APP_SCREEN_SETTINGS: a->focus = APP_FOCUS_SETTINGS; break;
    }
}

static void list_move(size_t *cur, size_t n, enum cmd c, size_t page)
{
    if (n == 0) {
        *cur = 0;
        return;
    }
    if (page == 0)
        page = 1;
    switch (c) {
    case CMD_UP: if (*cur > 0) (*cur)--; break;
    case CMD_DOWN: if (*cur + 1 < n) (*cur)++; break;
    case CMD_PAGE_UP: *cur = *cur > page ? *cur - page : 0; break;
    case CMD_PAGE_DOWN: *cur = *cur + page < n ? *cur + page : n - 1; break;
    case CMD_HOME: *cur = 0; break;
    case CMD_END: *cur = n - 1; break;
    default: break;
    }
    if (*cur >= n)
        *cur = n - 1;
}

static unsigned apply_table(struct app *a, enum cmd c)
{
    const struct app_row *r = row_selected(a);
    switch (c) {
    case CMD_UP: table_up(a); break;
    case CMD_DOWN: table_down(a); break;
    case CMD_PAGE_UP: table_page_up(a); break;
    case CMD_PAGE_DOWN: table_page_down(a); break;
    case CMD_HOME: table_home(a); break;
    case CMD_END: table_end(a); break;
    case CMD_OPEN: detail_open(a); break;
    case CMD_ENTITY: if (r) entity_open(a, r->subj); break;
    case CMD_SORT_NEXT:
        a->sort = (enum mem_sort)((a->sort + 1) % 4);
        table_home(a);
        break;
    case CMD_TOGGLE_RETIRED:
        a->retired = !a->retired;
        table_home(a);
        table_count(a);
        set_status(a, APP_STYLE_INFO, "%s", a->retired ? _("retired triples shown")
                                                       : _("retired triples hidden"));
        break;
    case CMD_FILTER: {
        const char *labels[4] = {_("subject"), _("relation"), _("object"), _("source")};
        const char *vals[4] = {a->filter[0], a->filter[1], a->filter[2], a->filter[3]};
        prompt_open(a, PEND_FILTER, _("Filter (substring; Tab: next column)"), 4, labels, vals);
        break;
    }
    case CMD_ADD: {
        if (!need_idle(a))
            break;
        const char *labels[3] = {_("subject"), _("relation"), _("object")};
        prompt_open(a, PEND_ADD, _("Add a triple"), 3, labels, NULL);
        break;
    }
    case CMD_EDIT: {
        if (!r || !need_idle(a))
            break;
        if (r->retired) {
            set_status(a, APP_STYLE_ERROR, "%s", _("a retired triple cannot be edited"));
            break;
        }
        const char *labels[3] = {_("subject"), _("relation"), _("object")};
        const char *vals[3] = {r->subj, r->rel, r->obj};
        a->pending_id = r->id;
        prompt_open(a, PEND_EDIT, _("Edit the triple"), 3, labels, vals);
        a->pending_id = r->id;
        break;
    }
    case CMD_RETIRE:
        if (!r || !need_idle(a))
            break;
        if (r->retired) {
            set_status(a, APP_STYLE_ERROR, "%s", _("already retired"));
            break;
        }
        a->pending = PEND_RETIRE;
        a->pending_id = r->id;
        confirm_open(a, xprintf("%s #%lld (%s | %s | %s)?", _("Retire the triple"),
                                (long long)r->id, r->subj, r->rel, r->obj));
        break;
    default:
        return REACT_NONE;
    }
    return REACT_REDRAW;
}

static unsigned apply_global(struct app *a, enum cmd c)
{
    switch (c) {
    case CMD_QUIT:
        if (a->worker_on)
            agent_cancel(a->agent);
        return REACT_QUIT;
    case CMD_HELP: help_open(a); return REACT_REDRAW;
    case CMD_PALETTE:
        a->palette_q.n = a->palette_q.cursor = 0;
        a->palette_cursor = 0;
        palette_update(a);
        a->overlay = APP_OVERLAY_PALETTE;
        return REACT_REDRAW;
    case CMD_SCREEN_GEN: screen_set(a, APP_SCREEN_GEN); return REACT_REDRAW | REACT_RELAYOUT;
    case CMD_SCREEN_TABLE: screen_set(a, APP_SCREEN_TABLE); return REACT_REDRAW | REACT_RELAYOUT;
    case CMD_SCREEN_AUDIT: screen_set(a, APP_SCREEN_AUDIT); return REACT_REDRAW | REACT_RELAYOUT;
    case CMD_SCREEN_SETTINGS:
        screen_set(a, APP_SCREEN_SETTINGS);
        return REACT_REDRAW | REACT_RELAYOUT;
    case CMD_FOCUS_NEXT:
    case CMD_FOCUS_PREV: {
        /* the panes of the generation screen in Tab order; the other screens have one */
        static const enum app_focus gen[] = {APP_FOCUS_INPUT, APP_FOCUS_TRANSCRIPT,
                                             APP_FOCUS_CALLS};
        if (a->screen == APP_SCREEN_TABLE) { /* table <-> detail */
            a->focus = a->focus == APP_FOCUS_TABLE ? APP_FOCUS_DETAIL : APP_FOCUS_TABLE;
            return REACT_REDRAW;
        }
        if (a->screen != APP_SCREEN_GEN)
            return REACT_NONE;
        size_t i = 0;
        while (i < 3 && gen[i] != a->focus)
            i++;
        if (i == 3)
            i = 0;
        i = c == CMD_FOCUS_NEXT ? (i + 1) % 3 : (i + 2) % 3;
        a->focus = gen[i];
        return REACT_REDRAW;
    }
    case CMD_MODE_NEXT:
        a->mode = (enum app_mode)((a->mode + 1) % 3);
        set_status(a, APP_STYLE_INFO, "%s: %s", _("mode"), app_mode_name(a->mode));
        return REACT_REDRAW;
    case CMD_STOP:
        if (a->worker_on) {
            agent_cancel(a->agent);
            set_status(a, APP_STYLE_INFO, "%s", _("stopping..."));
        }
        return REACT_REDRAW;
    case CMD_CANCEL:
        if (a->worker_on) {
            agent_cancel(a->agent);
            set_status(a, APP_STYLE_INFO, "%s", _("stopping..."));
        }
        return REACT_REDRAW;
    case CMD_RERUN:
        if (!a->last_question) {
            set_status(a, APP_STYLE_ERROR, "%s", _("no question to run again"));
            return REACT_REDRAW;
        }
        if (a->worker_on) {
            set_status(a, APP_STYLE_ERROR, "%s", _("busy: wait for the answer or press Ctrl-C"));
            return REACT_REDRAW;
        } else {
            char *q = xstrdup(a->last_question);
            unsigned r = q ? ask(a, a->last_mode, q) : REACT_NONE;
            free(q);
            if (a->screen != APP_SCREEN_GEN)
                screen_set(a, APP_SCREEN_GEN);
            return r | REACT_REDRAW | REACT_RELAYOUT;
        }
    case CMD_FOLD:
        a->folded = !a->folded;
        return REACT_REDRAW;
    case CMD_LOAD_FILE: {
        const char *label = _("file");
        prompt_open(a, PEND_FILE, _("Teach: load a text file"), 1, &label, NULL);
        return REACT_REDRAW;
    }
    default:
        return REACT_NONE;
    }
}

unsigned app_apply(struct app *a, enum cmd c)
{
    switch (a->overlay) {
    case APP_OVERLAY_HELP:
    case APP_OVERLAY_VIEWER: {
        size_t n = a->viewer.n;
        switch (c) {
        case CMD_CANCEL: a->overlay = APP_OVERLAY_NONE; return REACT_REDRAW;
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN: case CMD_HOME:
        case CMD_END:
            list_move(&a->viewer_scroll, n, c, a->list_rows);
            return REACT_REDRAW;
        case CMD_HELP: help_open(a); return REACT_REDRAW;
        default: break;
        }
        break;
    }
    case APP_OVERLAY_PALETTE:
        switch (c) {
        case CMD_CANCEL: a->overlay = APP_OVERLAY_NONE; return REACT_REDRAW;
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN:
            list_move(&a->palette_cursor, a->n_palette, c, a->list_rows);
            return REACT_REDRAW;
        case CMD_SUBMIT:
            a->overlay = APP_OVERLAY_NONE;
            if (a->palette_cursor < a->n_palette)
                return app_apply(a, a->palette_items[a->palette_cursor]) | REACT_REDRAW;
            return REACT_REDRAW;
        case CMD_BACKSPACE: case CMD_DELETE: case CMD_KILL_LINE: case CMD_LEFT: case CMD_RIGHT:
        case CMD_HOME: case CMD_END:
            cps_edit(&a->palette_q, c);
            palette_update(a);
            return REACT_REDRAW;
        default: break;
        }
        break;
    case APP_OVERLAY_PROMPT:
        switch (c) {
        case CMD_CANCEL:
            a->overlay = APP_OVERLAY_NONE;
            if (a->pending == PEND_FILTER) {
                if (a->filter_dirty)
                    filter_apply(a);
                table_count(a); /* the filter stays */
            }
            a->pending = PEND_NONE;
            return REACT_REDRAW;
        case CMD_SUBMIT: return prompt_submit(a);
        case CMD_FILTER_FIELD:
            if (a->n_fields)
                a->field = (a->field + 1) % a->n_fields;
            return REACT_REDRAW;
        case CMD_BACKSPACE: case CMD_DELETE: case CMD_KILL_LINE: case CMD_LEFT: case CMD_RIGHT:
        case CMD_HOME: case CMD_END:
            cps_edit(&a->fields[a->field], c);
            if (a->pending == PEND_FILTER)
                a->filter_dirty = true;
            return REACT_REDRAW;
        default: break;
        }
        break;
    case APP_OVERLAY_CONFIRM:
        switch (c) {
        case CMD_YES: do_pending(a); return REACT_REDRAW;
        case CMD_NO: case CMD_CANCEL:
            a->overlay = a->overlay_back == APP_OVERLAY_PROMPT ? APP_OVERLAY_PROMPT
                                                               : APP_OVERLAY_NONE;
            if (a->overlay == APP_OVERLAY_NONE)
                a->pending = PEND_NONE;
            return REACT_REDRAW;
        case CMD_QUIT: return REACT_QUIT;
        default: return REACT_NONE;
        }
    case APP_OVERLAY_NONE:
        break;
    }
    if (a->overlay != APP_OVERLAY_NONE && c == CMD_QUIT)
        return REACT_QUIT;
    if (a->overlay != APP_OVERLAY_NONE && c != CMD_PALETTE && c != CMD_SCREEN_GEN &&
        c != CMD_SCREEN_TABLE && c != CMD_SCREEN_AUDIT && c != CMD_SCREEN_SETTINGS)
        return REACT_NONE;

    switch (a->focus) {
    case APP_FOCUS_INPUT:
        switch (c) {
        case CMD_SUBMIT: return submit_input(a);
        case CMD_NEWLINE: cps_insert(&a->input, '\n'); return REACT_REDRAW;
        case CMD_BACKSPACE: case CMD_DELETE: case CMD_KILL_LINE: case CMD_LEFT: case CMD_RIGHT:
        case CMD_HOME: case CMD_END:
            cps_edit(&a->input, c);
            return REACT_REDRAW;
        case CMD_HISTORY_PREV:
            if (a->history_pos > 0) {
                a->history_pos--;
                cps_set_utf8(&a->input, a->history[a->history_pos]);
            }
            return REACT_REDRAW;
        case CMD_HISTORY_NEXT:
            if (a->history_pos < a->n_history) {
                a->history_pos++;
                if (a->history_pos < a->n_history)
                    cps_set_utf8(&a->input, a->history[a->history_pos]);
                else
                    a->input.n = a->input.cursor = 0;
            }
            return REACT_REDRAW;
        case CMD_PAGE_UP:
            a->scroll += a->list_rows > 2 ? a->list_rows - 2 : 1;
            return REACT_REDRAW;
        case CMD_PAGE_DOWN: {
            size_t step = a->list_rows > 2 ? a->list_rows - 2 : 1;
            a->scroll = a->scroll > step ? a->scroll - step : 0;
            return REACT_REDRAW;
        }
        default: break;
        }
        break;
    case APP_FOCUS_TRANSCRIPT: {
        size_t step = a->list_rows > 2 ? a->list_rows - 2 : 1;
        switch (c) {
        case CMD_UP: a->scroll++; return REACT_REDRAW;
        case CMD_DOWN: if (a->scroll > 0) a->scroll--; return REACT_REDRAW;
        case CMD_PAGE_UP: a->scroll += step; return REACT_REDRAW;
        case CMD_PAGE_DOWN: a->scroll = a->scroll > step ? a->scroll - step : 0;
            return REACT_REDRAW;
        case CMD_END: a->scroll = 0; return REACT_REDRAW;
        default: break;
        }
        break;
    }
    case APP_FOCUS_DETAIL:
        switch (c) {
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN: case CMD_HOME:
        case CMD_END:
            list_move(&a->detail_scroll, a->detail.n, c, a->list_rows);
            return REACT_REDRAW;
        default: break;
        }
        break;
    case APP_FOCUS_CALLS:
        switch (c) {
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN: case CMD_HOME:
        case CMD_END:
            if (a->call_sel == SIZE_MAX)
                a->call_sel = a->n_calls ? a->n_calls - 1 : 0;
            else
                list_move(&a->call_sel, a->n_calls, c, a->list_rows);
            if (!a->n_calls)
                a->call_sel = SIZE_MAX;
            return REACT_REDRAW;
        case CMD_OPEN:
            if (a->call_sel != SIZE_MAX)
                a->call_open = !a->call_open;
            return REACT_REDRAW;
        default: break;
        }
        break;
    case APP_FOCUS_TABLE: {
        unsigned r = apply_table(a, c);
        if (r)
            return r;
        break;
    }
    case APP_FOCUS_AUDIT:
        switch (c) {
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN: case CMD_HOME:
        case CMD_END:
            list_move(&a->audit_cursor, a->runs.n, c, a->list_rows);
            audit_detail(a);
            return REACT_REDRAW;
        case CMD_OPEN:
            lines_clear(&a->viewer);
            for (size_t i = 0; i < a->audit.n; i++)
                lines_add(&a->viewer, a->audit.v[i].style, xstrdup(a->audit.v[i].text));
            viewer_open(a, APP_OVERLAY_VIEWER, xstrdup(_("Audit")));
            return REACT_REDRAW;
        default: break;
        }
        break;
    case APP_FOCUS_SETTINGS:
        switch (c) {
        case CMD_UP: case CMD_DOWN: case CMD_PAGE_UP: case CMD_PAGE_DOWN: case CMD_HOME:
        case CMD_END:
            list_move(&a->set_cursor, SET_COUNT_, c, a->list_rows);
            return REACT_REDRAW;
        case CMD_LEFT: setting_step(a, -1); return REACT_REDRAW;
        case CMD_RIGHT: setting_step(a, +1); return REACT_REDRAW;
        case CMD_OPEN: {
            char buf[64];
            const char *label = app_settings_label(a, a->set_cursor);
            const char *val = app_settings_value(a, a->set_cursor, buf, sizeof buf);
            if (a->set_cursor == SET_CONSTRAIN || a->set_cursor == SET_READ) {
                setting_step(a, 1);
                return REACT_REDRAW;
            }
            prompt_open(a, PEND_SETTING, _("New value"), 1, &label, &val);
            return REACT_REDRAW;
        }
        default: break;
        }
        break;
    }
    return apply_global(a, c);
}

unsigned app_input_char(struct app *a, uint32_t cp)
{
    if (cp < 32 && cp != '\n')
        return REACT_NONE;
    switch (a->overlay) {
    case APP_OVERLAY_PALETTE:
        cps_insert(&a->palette_q, cp);
        a->palette_cursor = 0;
        palette_update(a);
        return REACT_REDRAW;
    case APP_OVERLAY_PROMPT:
        if (a->n_fields) {
            cps_insert(&a->fields[a->field], cp);
            if (a->pending == PEND_FILTER)
                a->filter_dirty = true;
        }
        return REACT_REDRAW;
    case APP_OVERLAY_NONE:
        if (a->focus == APP_FOCUS_INPUT) {
            cps_insert(&a->input, cp);
            return REACT_REDRAW;
        }
        return REACT_NONE;
    default:
        return REACT_NONE;
    }
}

unsigned app_context(const struct app *a)
{
    switch (a->overlay) {
    case APP_OVERLAY_HELP: case APP_OVERLAY_VIEWER: return KEYMAP_CTX_VIEWER;
    case APP_OVERLAY_PALETTE: return KEYMAP_CTX_PALETTE;
    case APP_OVERLAY_PROMPT: return KEYMAP_CTX_PROMPT;
    case APP_OVERLAY_CONFIRM: return KEYMAP_CTX_CONFIRM;
    case APP_OVERLAY_NONE: break;
    }
    switch (a->focus) {
    case APP_FOCUS_INPUT: return KEYMAP_CTX_INPUT;
    case APP_FOCUS_CALLS: return KEYMAP_CTX_CALLS;
    case APP_FOCUS_TRANSCRIPT: return KEYMAP_CTX_TRANSCRIPT;
    case APP_FOCUS_DETAIL: return KEYMAP_CTX_DETAIL;
    case APP_FOCUS_TABLE: return KEYMAP_CTX_TABLE;
    case APP_FOCUS_AUDIT: return KEYMAP_CTX_AUDIT;
    case APP_FOCUS_SETTINGS: return KEYMAP_CTX_SETTINGS;
    }
    return KEYMAP_CTX_INPUT;
}

unsigned app_key(struct app *a, int key)
{
    unsigned ctx = app_context(a);
    enum cmd c = keymap_lookup(ctx, key);
    if (c != CMD_NONE)
        return app_apply(a, c);
    if (keymap_ctx_text(ctx) && key >= 32 && key < KEYMAP_KEY_BASE_ && key != 127)
        return app_input_char(a, (uint32_t)key);
    return REACT_NONE;
}

static bool pane_on_screen(const struct app *a, enum app_focus pane)
{
    switch (a->screen) {
    case APP_SCREEN_GEN:
        return pane == APP_FOCUS_INPUT || pane == APP_FOCUS_TRANSCRIPT ||
               pane == APP_FOCUS_CALLS;
    case APP_SCREEN_TABLE: return pane == APP_FOCUS_TABLE || pane == APP_FOCUS_DETAIL;
    case APP_SCREEN_AUDIT: return pane == APP_FOCUS_AUDIT;
    case APP_SCREEN_SETTINGS: return pane == APP_FOCUS_SETTINGS;
    }
    return false;
}

unsigned app_mouse(struct app *a, enum app_focus pane, enum keymap_mouse ev, size_t item)
{
    enum cmd step = ev == KEYMAP_MOUSE_WHEEL_UP ? CMD_UP : CMD_DOWN;
    unsigned r = REACT_NONE;
    switch (a->overlay) {
    case APP_OVERLAY_HELP: case APP_OVERLAY_VIEWER: case APP_OVERLAY_PALETTE:
        if (ev != KEYMAP_MOUSE_CLICK)
            for (int k = 0; k < 3; k++)
                r |= app_apply(a, step);
        return r;
    case APP_OVERLAY_PROMPT: case APP_OVERLAY_CONFIRM:
        return REACT_NONE;
    case APP_OVERLAY_NONE:
        break;
    }
    if (!pane_on_screen(a, pane))
        return REACT_NONE;
    if (ev == KEYMAP_MOUSE_CLICK) {
        a->focus = pane;
        switch (pane) {
        case APP_FOCUS_CALLS:
            if (item < a->n_calls) {
                if (a->call_sel != item)
                    a->call_open = false;
                a->call_sel = item;
            }
            break;
        case APP_FOCUS_TABLE:
            if (item < a->rows.n)
                a->cursor = item;
            break;
        case APP_FOCUS_AUDIT:
            if (item < a->runs.n) {
                a->audit_cursor = item;
                audit_detail(a);
            }
            break;
        case APP_FOCUS_SETTINGS:
            if (item < SET_COUNT_)
                a->set_cursor = item;
            break;
        case APP_FOCUS_INPUT: case APP_FOCUS_TRANSCRIPT: case APP_FOCUS_DETAIL:
            break;
        }
        return REACT_REDRAW;
    }
    if (pane == APP_FOCUS_INPUT)
        return REACT_NONE; /* Up/Down there walk the history: not for the wheel */
    enum app_focus keep = a->focus;
    a->focus = pane;
    for (int k = 0; k < 3; k++)
        r |= app_apply(a, step);
    a->focus = keep;
    return r;
}

bool app_idle_pending(const struct app *a)
{
    return a->filter_dirty;
}

unsigned app_idle(struct app *a)
{
    if (!a->filter_dirty)
        return REACT_NONE;
    filter_apply(a);
    return REACT_REDRAW;
}

unsigned app_set_page_rows(struct app *a, size_t table_rows, size_t list_rows)
{
    if (table_rows == 0)
        table_rows = 1;
    a->list_rows = list_rows ? list_rows : 1;
    if (table_rows == a->page)
        return REACT_NONE;
    a->page = table_rows;
    size_t keep = a->cursor;
    table_load(a);
    a->cursor = keep < a->rows.n ? keep : (a->rows.n ? a->rows.n - 1 : 0);
    return REACT_REDRAW;
}

/* ---- life cycle ---------------------------------------------------------------------- */

enum status app_new(const struct app_config *cfg, struct app **out)
{
    struct app *a = calloc(1, sizeof *a);
    if (!a)
        return status_detail_set(STATUS_NOMEM, "%s", _("out of memory"));
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        return status_detail_set(STATUS_NOMEM, "%s", _("cannot create a mutex"));
    }
    a->m = cfg->m;
    a->ctrl = cfg->ctrl;
    a->agent = cfg->agent;
    a->shared_conn = cfg->ctrl && cfg->m && ctrl_mem(cfg->ctrl) == cfg->m;
    a->chat_hist = cfg->history;
    a->tk = cfg->tk;
    a->history_tokens = cfg->history_tokens ? cfg->history_tokens : 1024;
    a->call_sel = SIZE_MAX;
    a->page = 20;
    a->list_rows = 20;
    a->total = -1;
    a->folded = false;
    if (cfg->status)
        set_status(a, APP_STYLE_INFO, "%s", cfg->status);
    else
        set_status(a, APP_STYLE_INFO, "%s", a->agent ? _("ready: type a question, F1 for help")
                                                     : _("memory browsing: no model is open"));
    table_reload(a);
    *out = a;
    return STATUS_OK;
}

void app_free(struct app *a)
{
    if (!a)
        return;
    if (a->worker_on) {
        agent_cancel(a->agent);
        worker_join(a);
    }
    app_drain(a); /* frees the rest of the queue */
    for (size_t i = 0; i < a->n_spans; i++) {
        free(a->spans[i].text);
        free(a->spans[i].folded);
    }
    free(a->spans);
    for (size_t i = 0; i < a->n_calls; i++)
        callrec_free(a->calls[i]);
    free(a->calls);
    for (size_t i = 0; i < a->n_history; i++)
        free(a->history[i]);
    free(a->last_question);
    free(a->chat_question);
    free(a->grounded);
    rows_clear(&a->rows);
    free(a->rows.v);
    free(a->anchor_key);
    for (int i = 0; i < 4; i++)
        free(a->filter[i]);
    free(a->viewer_title);
    lines_clear(&a->viewer);
    lines_clear(&a->detail);
    cps_free(&a->palette_q);
    free(a->palette_utf8);
    free(a->prompt_title);
    for (size_t i = 0; i < APP_FIELDS_MAX; i++) {
        free(a->labels[i]);
        cps_free(&a->fields[i]);
    }
    free(a->confirm);
    lines_clear(&a->runs);
    free(a->run_ids);
    lines_clear(&a->audit);
    cps_free(&a->input);
    free(a->status);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* ---- getters ------------------------------------------------------------------------- */

enum app_screen app_screen_get(const struct app *a) { return a->screen; }
enum app_focus app_focus_get(const struct app *a) { return a->focus; }
enum app_overlay app_overlay_get(const struct app *a) { return a->overlay; }
enum app_mode app_mode_get(const struct app *a) { return a->mode; }

const char *app_mode_name(enum app_mode m)
{
    switch (m) {
    case APP_MODE_ASK: return _("Ask");
    case APP_MODE_TEACH: return _("Teach");
    case APP_MODE_CHAT: return _("Chat");
    }
    return "";
}

const char *app_status_text(const struct app *a, enum app_style *style)
{
    if (style)
        *style = a->status_style;
    return a->status ? a->status : "";
}

const char *app_speed_text(const struct app *a) { return a->speed; }

size_t app_span_count(const struct app *a) { return a->n_spans; }

struct app_span app_span_get(const struct app *a, size_t i)
{
    struct app_span s = {APP_STYLE_NORMAL, "", 0};
    if (i >= a->n_spans)
        return s;
    const struct span *p = &a->spans[i];
    s.style = p->style;
    s.text = a->folded && p->folded ? p->folded : p->text;
    s.len = strlen(s.text);
    return s;
}

size_t app_transcript_scroll(const struct app *a) { return a->scroll; }

unsigned app_transcript_clamp(struct app *a, size_t max_scroll)
{
    if (a->scroll <= max_scroll)
        return REACT_NONE;
    a->scroll = max_scroll;
    return REACT_REDRAW;
}

void app_input_get(const struct app *a, const uint32_t **cps, size_t *n, size_t *cursor)
{
    *cps = a->input.v;
    *n = a->input.n;
    *cursor = a->input.cursor;
}

size_t app_call_count(const struct app *a) { return a->n_calls; }

const char *app_call_title(const struct app *a, size_t i, enum app_style *style)
{
    if (i >= a->n_calls)
        return "";
    if (style)
        *style = a->calls[i]->style;
    return a->calls[i]->title ? a->calls[i]->title : "";
}

size_t app_call_lines(const struct app *a, size_t i, const struct app_line **lines)
{
    if (i >= a->n_calls) {
        *lines = NULL;
        return 0;
    }
    *lines = a->calls[i]->lines.v;
    return a->calls[i]->lines.n;
}

size_t app_call_selected(const struct app *a) { return a->call_sel; }
bool app_call_expanded(const struct app *a) { return a->call_open && a->call_sel != SIZE_MAX; }

size_t app_table_rows(const struct app *a, const struct app_row **rows)
{
    *rows = a->rows.v;
    return a->rows.n;
}

size_t app_table_cursor(const struct app *a) { return a->cursor; }
enum mem_sort app_table_sort(const struct app *a) { return a->sort; }
bool app_table_retired_shown(const struct app *a) { return a->retired; }
int64_t app_table_total(const struct app *a) { return a->total; }
bool app_table_total_capped(const struct app *a) { return a->total_capped; }
const char *app_table_filter_text(const struct app *a) { return a->filter_text; }

enum app_style app_row_style(const struct app *a, const struct app_row *r, bool *grounded)
{
    bool g = false;
    for (size_t i = 0; i < a->n_grounded; i++)
        if (a->grounded[i] == r->id)
            g = true;
    if (grounded)
        *grounded = g;
    if (a->call_sel < a->n_calls) {
        const struct callrec *c = a->calls[a->call_sel];
        for (size_t i = 0; i < c->n_ids; i++)
            if (c->ids[i] == r->id)
                return APP_STYLE_MARK;
    }
    if (r->retired)
        return APP_STYLE_DIM;
    return g ? APP_STYLE_MARK : APP_STYLE_NORMAL;
}

const char *app_viewer_title(const struct app *a)
{
    return a->viewer_title ? a->viewer_title : "";
}

size_t app_viewer_lines(const struct app *a, const struct app_line **lines)
{
    *lines = a->viewer.v;
    return a->viewer.n;
}

size_t app_viewer_scroll(const struct app *a) { return a->viewer_scroll; }

const char *app_palette_query(const struct app *a)
{
    return a->palette_utf8 ? a->palette_utf8 : "";
}

size_t app_palette_items(const struct app *a, const enum cmd **cmds)
{
    *cmds = a->palette_items;
    return a->n_palette;
}

size_t app_palette_cursor(const struct app *a) { return a->palette_cursor; }
const char *app_prompt_title(const struct app *a) { return a->prompt_title ? a->prompt_title : ""; }
size_t app_prompt_fields(const struct app *a) { return a->n_fields; }

const char *app_prompt_label(const struct app *a, size_t i)
{
    return i < a->n_fields && a->labels[i] ? a->labels[i] : "";
}

void app_prompt_field(const struct app *a, size_t i, const uint32_t **cps, size_t *n,
                      size_t *cursor)
{
    if (i >= APP_FIELDS_MAX)
        i = 0;
    *cps = a->fields[i].v;
    *n = a->fields[i].n;
    *cursor = a->fields[i].cursor;
}

size_t app_prompt_active(const struct app *a) { return a->field; }
const char *app_confirm_text(const struct app *a) { return a->confirm ? a->confirm : ""; }

size_t app_audit_runs(const struct app *a, const struct app_line **lines)
{
    *lines = a->runs.v;
    return a->runs.n;
}

size_t app_audit_cursor(const struct app *a) { return a->audit_cursor; }

size_t app_audit_detail(const struct app *a, const struct app_line **lines)
{
    *lines = a->audit.v;
    return a->audit.n;
}
