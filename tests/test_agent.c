/* test_agent.c -- cmocka tests of the MemLLM loop (src/agent/agent.c) driven by a scripted
 * fake model over a tiny vocabulary and a ":memory:" controller. */
#include "config.h"

#include "test_util.h"

#include <stdatomic.h>
#include <time.h>

#include "agent/agent.h"
#include "engine/tok.h"
#include "memory/ctrl.h"
#include "memory/embed.h"
#include "memory/store.h"

/* ---- a tiny vocabulary ------------------------------------------------------------------
 * 0 <unk>, 1 <s>, 2 </s>, 3 "({", 4 "})", 5 "-->" (user-defined), then every printable
 * ASCII character (' ' as U+2581), some words the script uses and the 256 byte tokens. */
static const char *const words[] = {
    "MEM_READ(", "MEM_WRITE", "France", "capital", "Paris", "Germany", "Berlin", "Nowhere", "Lyon",
    ">>", "\xE2\x96\x81" "is", "The", "\xE2\x96\x81" "answer", "\xE2\x96\x81" "done", "zz",
};

static struct tok *make_tok(void)
{
    const char *toks[512];
    int32_t types[512];
    char chars[128][2];
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
        chars[c][1] = '\0';
        toks[n] = chars[c], types[n++] = TOK_TYPE_NORMAL;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
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
    d.add_space_prefix = false;
    struct tok *t = NULL;
    enum status st = tok_new(&d, &t);
    if (st != STATUS_OK)
        fprintf(stderr, "tok_new: %s: %s\n", status_str(st), status_detail());
    assert_int_equal(st, STATUS_OK);
    return t;
}

static int32_t id_of(const struct tok *t, const char *piece)
{
    int32_t id = tok_find(t, piece, strlen(piece));
    if (id < 0)
        fprintf(stderr, "no piece '%s'\n", piece);
    assert_true(id >= 0);
    return id;
}

/* ---- the scripted fake model --------------------------------------------------------------
 * It proposes script[cursor] (logit strength, default 10) and script[cursor + 1] (logit 5)
 * as the runner-up; every other token gets 0; after the script, EOS (or, when endless, the
 * token "zz").  Each evaluation after the first means the previous proposal was consumed:
 * the cursor moves by one, or by two when the runner-up was taken instead (the first token
 * appended is script[cursor + 1]).  The fake keeps the tokens it holds (its context). */
#define FAKE_MAX 4096
struct fake {
    const struct tok *tk;
    size_t n_vocab;
    int32_t script[256];
    float strength[256];
    size_t n_script, cursor, n_past, n_calls;
    int32_t ctx[FAKE_MAX];
    bool endless;
    unsigned delay_us;
};

static enum status fake_eval(void *ctxp, const int32_t *tokens, size_t n, size_t pos,
                             float *logits)
{
    struct fake *f = ctxp;
    assert_true(pos <= f->n_past);
    assert_true(pos + n <= FAKE_MAX);
    if (f->n_calls > 0) {
        bool append = pos == f->n_past;
        if (append && f->cursor + 1 < f->n_script && tokens[0] == f->script[f->cursor + 1] &&
            tokens[0] != f->script[f->cursor])
            f->cursor += 2;
        else
            f->cursor += 1;
    }
    f->n_calls++;
    memcpy(f->ctx + pos, tokens, n * sizeof *tokens);
    f->n_past = pos + n;
    for (size_t i = 0; i < f->n_vocab; i++)
        logits[i] = 0.0f;
    if (f->cursor + 1 < f->n_script)
        logits[f->script[f->cursor + 1]] = 5.0f;
    if (f->cursor < f->n_script)
        logits[f->script[f->cursor]] = f->strength[f->cursor];
    else
        logits[f->endless ? id_of(f->tk, "zz") : 2] = 10.0f;
    if (f->delay_us) {
        struct timespec ts = {0, (long)f->delay_us * 1000L};
        nanosleep(&ts, NULL);
    }
    return STATUS_OK;
}

/* Append pieces to the script (NULL-terminated). */
static void fake_script(struct fake *f, const char *const *pieces)
{
    for (size_t i = 0; pieces[i]; i++) {
        assert_true(f->n_script < 256);
        f->strength[f->n_script] = 10.0f;
        f->script[f->n_script++] = id_of(f->tk, pieces[i]);
    }
}

/* The fake's context after the prompt, decoded. */
static char *fake_context(const struct fake *f)
{
    char *s = NULL;
    assert_int_equal(tok_decode(f->tk, f->ctx, f->n_past, 0, &s, NULL), STATUS_OK);
    return s;
}

/* ---- the fixture: tokenizer, fake, memory ----------------------------------------------- */

struct rec_event {
    enum agent_event_kind kind;
    char text[256];
    bool failed;
    size_t n_triples;
    /* READ */
    size_t call_no, n_reads, n_answers[4], n_found[4];
    bool truncated[4], read_null[4];
    char reason[64];
};

struct fx {
    struct tok *tk;
    struct fake f;
    struct agent_lm lm;
    struct mem *m;
    struct embedder e;
    struct ctrl *c;
    struct agent_params p;
    struct agent *a;
    struct rec_event ev[512];
    size_t n_ev;
    size_t cancel_after; /* cancel from the callback after this many token events */
    size_t n_tok_ev;
};

static void on_event(void *user, const struct agent_event *ev)
{
    struct fx *x = user;
    if (x->n_ev < 512) {
        struct rec_event *r = &x->ev[x->n_ev++];
        r->kind = ev->kind;
        const char *t = ev->kind == AGENT_EVENT_READ ? ev->results : ev->text;
        if (ev->kind == AGENT_EVENT_WRITE)
            t = ev->raw;
        if (ev->kind == AGENT_EVENT_DONE)
            t = ev->stop;
        snprintf(r->text, sizeof r->text, "%.*s",
                 (int)(ev->kind == AGENT_EVENT_TOKEN || ev->kind == AGENT_EVENT_CALL_START
                           ? ev->len
                           : (t ? strlen(t) : 0)),
                 t ? t : "");
        r->failed = ev->failed;
        r->n_triples = ev->n_triples;
        r->call_no = ev->call_no;
        if (ev->kind == AGENT_EVENT_READ) {
            r->n_reads = ev->n_reads;
            for (size_t q = 0; q < ev->n_reads && q < 4; q++) {
                r->read_null[q] = ev->reads[q] == NULL;
                if (ev->reads[q]) {
                    r->n_answers[q] = ev->reads[q]->n_answers;
                    r->n_found[q] = ev->reads[q]->n_found;
                    r->truncated[q] = ev->reads[q]->truncated;
                }
            }
            snprintf(r->reason, sizeof r->reason, "%s", ev->reason ? ev->reason : "");
        }
    }
    if (ev->kind == AGENT_EVENT_TOKEN && x->cancel_after && ++x->n_tok_ev == x->cancel_after)
        agent_cancel(x->a);
}

static int fx_setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->tk = make_tok();
    x->f.tk = x->tk;
    x->f.n_vocab = (size_t)tok_n_vocab(x->tk);
    x->lm.n_vocab = x->f.n_vocab;
    x->lm.n_ctx = FAKE_MAX;
    x->lm.eval = fake_eval;
    x->lm.ctx = &x->f;
    assert_int_equal(mem_open(":memory:", &x->m), STATUS_OK);
    assert_int_equal(embed_hash_new(0, &x->e), STATUS_OK);
    assert_int_equal(ctrl_open(x->m, &x->e, &x->c), STATUS_OK);
    const struct ctrl_triple_in facts[] = {
        {"France", "capital", "Paris"},
        {"Germany", "capital", "Berlin"},
    };
    assert_int_equal(ctrl_write(x->c, facts, 2, NULL, NULL), STATUS_OK);
    agent_params_init(&x->p);
    x->p.samp.temp = 0; /* greedy */
    x->p.model_name = "fake";
    /* the model's own text after reads (quoting, which constrain turns on, has its own
     * tests; so have the constraint hooks) */
    x->p.constrain = false;
    *state = x;
    return 0;
}

static void fx_agent(struct fx *x)
{
    agent_free(x->a);
    assert_int_equal(agent_new(&x->lm, x->tk, x->c, &x->p, &x->a), STATUS_OK);
    agent_set_events(x->a, on_event, x);
}

static int fx_teardown(void **state)
{
    struct fx *x = *state;
    agent_free(x->a);
    ctrl_close(x->c);
    embed_free(&x->e);
    mem_close(x->m);
    tok_free(x->tk);
    free(x);
    return 0;
}

static size_t count_kind(const struct fx *x, enum agent_event_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < x->n_ev; i++)
        n += x->ev[i].kind == k;
    return n;
}

/* ---- read mode ----------------------------------------------------------------------------- */

static void test_agent_read_call_spliced_and_events_in_order(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ")",
                            "-->", "\xE2\x96\x81" "is", ".", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    assert_string_equal(out, "The({MEM_READ(France>>capital>>)-->Paris}) is.");
    /* the model saw the results and the closing token */
    char *ctx = fake_context(&x->f);
    assert_non_null(strstr(ctx, "({MEM_READ(France>>capital>>)-->Paris}) is."));
    free(ctx);
    /* events: tokens, call start, read with results, tokens, done */
    assert_true(x->n_ev >= 5);
    assert_int_equal(x->ev[0].kind, AGENT_EVENT_TOKEN);
    assert_string_equal(x->ev[0].text, "The");
    size_t i = 1;
    assert_int_equal(x->ev[i].kind, AGENT_EVENT_CALL_START);
    assert_string_equal(x->ev[i].text, "({MEM_READ(France>>capital>>)-->");
    i++;
    assert_int_equal(x->ev[i].kind, AGENT_EVENT_READ);
    assert_false(x->ev[i].failed);
    assert_string_equal(x->ev[i].text, "Paris");
    i++;
    for (; i < x->n_ev - 1; i++)
        assert_int_equal(x->ev[i].kind, AGENT_EVENT_TOKEN);
    assert_int_equal(x->ev[x->n_ev - 1].kind, AGENT_EVENT_DONE);
    assert_string_equal(x->ev[x->n_ev - 1].text, "eos");
    assert_int_equal(count_kind(x, AGENT_EVENT_ERROR), 0);
    /* the run is recorded: prompt, output, the call and the triple it used */
    assert_true(run > 0);
    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_string_equal(r->prompt, "Q?");
    assert_string_equal(r->output, out);
    assert_string_equal(r->model, "fake");
    assert_non_null(strstr(r->settings, "\"max_calls\":5"));
    assert_int_equal(r->n_calls, 1);
    assert_string_equal(r->calls[0].raw, "({MEM_READ(France>>capital>>)-->");
    assert_string_equal(r->calls[0].result, "Paris");
    assert_int_equal(r->n_reads, 1);
    assert_string_equal(r->reads[0].query, "France>>capital>>");
    assert_string_equal(r->reads[0].triple.obj_name, "Paris");
    assert_string_equal(r->reads[0].triple.subj_name, "France");
    mem_run_free(r);
    free(out);
}

/* With constrain on, the answer after a read spells a result: the model's "Lyon" is not
 * allowed, its runner-up "Paris" is; off, the model's own text stays. */
static void test_agent_answer_quotes_read_result(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"({", "MEM_READ(", "France", ">>", "capital", ">>", ")", "-->",
                            "Lyon", "Paris", ".", NULL};
    fake_script(&x->f, script);
    x->p.constrain = true;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "({MEM_READ(France>>capital>>)-->Paris})Paris.");
    free(out);
    x->f.cursor = x->f.n_calls = x->f.n_script = x->f.n_past = 0;
    fake_script(&x->f, script);
    x->p.constrain = false;
    fx_agent(x);
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "({MEM_READ(France>>capital>>)-->Paris})LyonParis.");
    free(out);
}

/* Once a result is spelt, the next token may not run on with a letter ("Parisian"). */
static void test_agent_quote_ends_at_word_boundary(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"({", "MEM_READ(", "France", ">>", "capital", ">>", ")", "-->",
                            "Paris", "i", ".", NULL};
    fake_script(&x->f, script);
    x->p.constrain = true;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "({MEM_READ(France>>capital>>)-->Paris})Paris.");
    free(out);
}

/* Prompted mode (an instruct model with few-shot prompts) answers in its own words. */
static void test_agent_no_quote_in_prompted_mode(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"({", "MEM_READ(", "France", ">>", "capital", ">>", ")", "-->",
                            "Lyon", "Paris", ".", NULL};
    fake_script(&x->f, script);
    x->p.constrain = true;
    x->p.prompted = true;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "({MEM_READ(France>>capital>>)-->Paris})LyonParis.");
    free(out);
}

/* No quoting without a read, nor after a failed read: the text is the model's. */
static void test_agent_no_quote_without_results(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"({", "MEM_READ(", "Nowhere", ">>", "capital", ">>", ")", "-->",
                            "Lyon", ".", NULL};
    fake_script(&x->f, script);
    x->p.constrain = true;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_non_null(strstr(out, "Lyon."));
    assert_null(strstr(out, "Paris"));
    free(out);
}

static void test_agent_only_latest_call_stays_in_context(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ")",
                            "-->", "\xE2\x96\x81" "is", "({", "MEM_READ(", "Germany", ">>",
                            "capital", ">>", ")", "-->", "\xE2\x96\x81" "done", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    /* the answer keeps both calls inline */
    assert_string_equal(out, "The({MEM_READ(France>>capital>>)-->Paris}) is"
                             "({MEM_READ(Germany>>capital>>)-->Berlin}) done");
    /* the model's context has only the second call */
    char *ctx = fake_context(&x->f);
    assert_null(strstr(ctx, "France"));
    assert_non_null(strstr(ctx, "The is({MEM_READ(Germany>>capital>>)-->Berlin}) done"));
    free(ctx);
    assert_int_equal(count_kind(x, AGENT_EVENT_READ), 2);
    free(out);
}

static void test_agent_failed_read_removed_and_open_forbidden(void **state)
{
    struct fx *x = *state;
    /* the read finds nothing; the model then wants "({" again (runner-up: "zz") */
    const char *script[] = {"The", "({", "MEM_READ(", "Nowhere", ">>", "capital", ">>", ")",
                            "-->", "({", "zz", "\xE2\x96\x81" "done", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    assert_string_equal(out, "Thezz done");
    char *ctx = fake_context(&x->f);
    assert_null(strstr(ctx, "MEM_READ"));
    assert_null(strstr(ctx, "({"));
    assert_non_null(strstr(ctx, "Thezz done"));
    free(ctx);
    bool saw_failed = false;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_READ)
            saw_failed = x->ev[i].failed;
    assert_true(saw_failed);
    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_int_equal(r->n_calls, 0);
    assert_int_equal(r->n_reads, 0);
    mem_run_free(r);
    free(out);
}

static void test_agent_malformed_call_removed(void **state)
{
    struct fx *x = *state;
    /* a query without ">>" fields, then a write call in read mode */
    const char *script[] = {"The", "({", "MEM_READ(", "France", ")", "-->", "({", "zz",
                            "({", "MEM_WRITE", "-->", "})", "({", "\xE2\x96\x81" "done", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "Thezz done");
    assert_int_equal(count_kind(x, AGENT_EVENT_READ), 2);
    free(out);
}

/* The last READ event recorded (NULL when none). */
static const struct rec_event *last_read(const struct fx *x)
{
    const struct rec_event *r = NULL;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_READ)
            r = &x->ev[i];
    return r;
}

/* Three queries in one call (object, subject, object wanted): each runs through the
 * controller, the answers are spliced in query order joined by ';', and the run records
 * one read per answer with its own query. */
static void test_agent_read_three_queries_in_one_call(void **state)
{
    struct fx *x = *state;
    const struct ctrl_triple_in facts[] = {{"Spain", "currency", "Euro"}};
    assert_int_equal(ctrl_write(x->c, facts, 1, NULL, NULL), STATUS_OK);
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ";",
                            ">>", "capital", ">>", "Berlin", ";", "S", "p", "a", "i", "n",
                            ">>", "c", "u", "r", "r", "e", "n", "c", "y", ">>", ")", "-->",
                            "\xE2\x96\x81" "done", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    assert_string_equal(out, "The({MEM_READ(France>>capital>>;>>capital>>Berlin;"
                             "Spain>>currency>>)-->Paris;Germany;Euro}) done");
    /* the model saw the three results after the call */
    char *ctx = fake_context(&x->f);
    assert_non_null(strstr(ctx, "currency>>)-->Paris;Germany;Euro}) done"));
    free(ctx);
    const struct rec_event *r = last_read(x);
    assert_non_null(r);
    assert_false(r->failed);
    assert_string_equal(r->text, "Paris;Germany;Euro");
    assert_int_equal(r->n_reads, 3);
    for (size_t q = 0; q < 3; q++) {
        assert_false(r->read_null[q]);
        assert_int_equal(r->n_answers[q], 1);
        assert_false(r->truncated[q]);
    }
    assert_int_equal(count_kind(x, AGENT_EVENT_READ), 1);
    assert_int_equal(count_kind(x, AGENT_EVENT_ERROR), 0);
    struct mem_run *mr = NULL;
    assert_int_equal(mem_run_get(x->m, run, &mr), STATUS_OK);
    assert_int_equal(mr->n_calls, 1);
    assert_string_equal(mr->calls[0].result, "Paris;Germany;Euro");
    assert_int_equal(mr->n_reads, 3);
    const char *queries[] = {"France>>capital>>", ">>capital>>Berlin", "Spain>>currency>>"};
    const char *subj[] = {"France", "Germany", "Spain"};
    const char *obj[] = {"Paris", "Berlin", "Euro"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mr->reads[i].call_no, 1);
        assert_string_equal(mr->reads[i].query, queries[i]);
        assert_string_equal(mr->reads[i].triple.subj_name, subj[i]);
        assert_string_equal(mr->reads[i].triple.obj_name, obj[i]);
    }
    mem_run_free(mr);
    free(out);
}

/* 45 answers to one query: exactly 30 are spliced, in (score, triple id) order (all score
 * the same here, so insertion order), and the READ event shows the truncation. */
static void test_agent_read_results_capped_at_30(void **state)
{
    struct fx *x = *state;
    char objs[45][8];
    struct ctrl_triple_in facts[45];
    for (int i = 0; i < 45; i++) {
        snprintf(objs[i], sizeof objs[i], "o%02d", i);
        facts[i].subj = "Big";
        facts[i].rel = "has";
        facts[i].obj = objs[i];
    }
    struct ctrl_written w[45];
    assert_int_equal(ctrl_write(x->c, facts, 45, NULL, w), STATUS_OK);
    for (int i = 1; i < 45; i++)
        assert_true(w[i].triple_id > w[i - 1].triple_id);
    const char *script[] = {"({", "MEM_READ(", "B", "i", "g", ">>", "h", "a", "s", ">>", ")",
                            "-->", ".", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    char want[512] = "";
    for (int i = 0; i < 30; i++) {
        if (i)
            strcat(want, ";");
        strcat(want, objs[i]);
    }
    const struct rec_event *r = last_read(x);
    assert_non_null(r);
    assert_false(r->failed);
    assert_string_equal(r->text, want);
    assert_int_equal(r->n_reads, 1);
    assert_int_equal(r->n_answers[0], 30);
    assert_true(r->truncated[0]);
    assert_true(r->n_found[0] >= 45);
    char full[600];
    snprintf(full, sizeof full, "({MEM_READ(Big>>has>>)-->%s}).", want);
    assert_string_equal(out, full);
    assert_null(strstr(out, "o30"));
    struct mem_run *mr = NULL;
    assert_int_equal(mem_run_get(x->m, run, &mr), STATUS_OK);
    assert_int_equal(mr->n_reads, 30);
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(mr->reads[i].triple.id, w[i].triple_id);
    mem_run_free(mr);
    free(out);
}

/* Three queries whose answers add up to more than 30: the splice stops at 30 names in
 * query order, and the run records exactly the spliced ones. */
static void test_agent_read_cap_spans_queries(void **state)
{
    struct fx *x = *state;
    char objs[2][20][8];
    struct ctrl_triple_in facts[40];
    for (int q = 0; q < 2; q++)
        for (int i = 0; i < 20; i++) {
            snprintf(objs[q][i], sizeof objs[q][i], "%c%02d", q ? 'q' : 'p', i);
            facts[q * 20 + i].subj = q ? "Lyon" : "Big";
            facts[q * 20 + i].rel = "has";
            facts[q * 20 + i].obj = objs[q][i];
        }
    assert_int_equal(ctrl_write(x->c, facts, 40, NULL, NULL), STATUS_OK);
    const char *script[] = {"({", "MEM_READ(", "B", "i", "g", ">>", "h", "a", "s", ">>", ";",
                            "Lyon", ">>", "h", "a", "s", ">>", ";", "France", ">>", "capital",
                            ">>", ")", "-->", ".", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    char want[512] = "";
    for (int i = 0; i < 30; i++) {
        if (i)
            strcat(want, ";");
        strcat(want, objs[i / 20][i % 20]);
    }
    const struct rec_event *r = last_read(x);
    assert_non_null(r);
    assert_string_equal(r->text, want);
    assert_int_equal(r->n_reads, 3);
    assert_null(strstr(out, "Paris")); /* the third query's answer did not fit */
    struct mem_run *mr = NULL;
    assert_int_equal(mem_run_get(x->m, run, &mr), STATUS_OK);
    assert_int_equal(mr->n_reads, 30);
    assert_string_equal(mr->reads[29].query, "Lyon>>has>>");
    mem_run_free(mr);
    free(out);
}

/* The same call a second time is refused: removed from the context, "({" forbidden next,
 * reason "repeated call", nothing recorded for it. */
static void test_agent_repeated_call_refused(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ")",
                            "-->", ".", "({", "MEM_READ(", "France", ">>", "capital", ">>",
                            ")", "-->", "({", "zz", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    assert_string_equal(out, "The({MEM_READ(France>>capital>>)-->Paris}).zz");
    const struct rec_event *r = last_read(x);
    assert_non_null(r);
    assert_true(r->failed);
    assert_string_equal(r->reason, "repeated call");
    assert_int_equal(r->call_no, 2);
    assert_int_equal(count_kind(x, AGENT_EVENT_READ), 2);
    char *ctx = fake_context(&x->f);
    assert_non_null(strstr(ctx, "-->Paris}).zz"));
    free(ctx);
    struct mem_run *mr = NULL;
    assert_int_equal(mem_run_get(x->m, run, &mr), STATUS_OK);
    assert_int_equal(mr->n_calls, 1);
    assert_int_equal(mr->n_reads, 1);
    mem_run_free(mr);
    free(out);
}

static void test_agent_utf8_across_byte_tokens(void **state)
{
    struct fx *x = *state;
    /* "caf\u00e9 ok" with the e-acute as two byte tokens */
    const char *script[] = {"c", "a", "f", "<0xC3>", "<0xA9>", "\xE2\x96\x81", "o", "k", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "caf\xC3\xA9 ok");
    /* the token events, joined, are the same text */
    char joined[64] = "";
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_TOKEN)
            strncat(joined, x->ev[i].text, sizeof joined - strlen(joined) - 1);
    assert_string_equal(joined, "caf\xC3\xA9 ok");
    free(out);
}

static void test_agent_context_full_stops(void **state)
{
    struct fx *x = *state;
    x->f.endless = true;
    x->lm.n_ctx = 8; /* BOS + "Q?" (3 tokens) + 5 generated */
    x->p.max_tokens = 100;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(x->ev[x->n_ev - 1].text, "context");
    assert_string_equal(out, "zzzzzzzzzzzz"); /* 6 sampled, the last one not evaluated */
    free(out);
}

static void test_agent_call_cap(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ")",
                            "-->", "({", "zz", NULL};
    fake_script(&x->f, script);
    x->p.max_calls = 1;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    /* after one call "({" is forbidden: the runner-up "zz" comes instead */
    assert_string_equal(out, "The({MEM_READ(France>>capital>>)-->Paris})zz");
    free(out);
}

static void test_agent_no_read_forbids_calls(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "({", "zz", NULL};
    fake_script(&x->f, script);
    x->p.read = false;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "Thezz");
    free(out);
}

static void test_agent_token_cap_and_stop_string(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"The", "\xE2\x96\x81" "answer", "\xE2\x96\x81" "is", ".", "zz", NULL};
    fake_script(&x->f, script);
    x->p.max_tokens = 2;
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "The answer");
    assert_string_equal(x->ev[x->n_ev - 1].text, "length");
    free(out);
    /* a stop string ends the answer before it */
    x->f.cursor = 0;
    x->f.n_calls = 0;
    x->f.n_past = 0;
    x->n_ev = 0;
    x->p.max_tokens = 100;
    const char *stops[] = {" is"};
    x->p.stops = stops;
    x->p.n_stops = 1;
    fx_agent(x);
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_string_equal(out, "The answer");
    assert_string_equal(x->ev[x->n_ev - 1].text, "stop");
    free(out);
}

/* A constraint that forbids ")" inside calls: the read cannot be closed properly. */
struct cons_rec {
    int begins, ends, masks, accepts, kind;
    int32_t forbid;
    char source[128], context[64];
};

static enum status cons_source(void *ctx, const char *text, size_t len)
{
    struct cons_rec *c = ctx;
    snprintf(c->source, sizeof c->source, "%.*s", (int)len, text);
    return STATUS_OK;
}

static enum status cons_begin(void *ctx, int kind, const char *text, size_t len)
{
    struct cons_rec *c = ctx;
    c->begins++;
    c->kind = kind;
    snprintf(c->context, sizeof c->context, "%.*s", (int)len, text);
    return STATUS_OK;
}

static enum status cons_mask(void *ctx, struct samp *s)
{
    struct cons_rec *c = ctx;
    c->masks++;
    samp_mask_forbid(s, &c->forbid, 1);
    return STATUS_OK;
}

static bool cons_accept(void *ctx, int32_t t)
{
    struct cons_rec *c = ctx;
    c->accepts++;
    return t != c->forbid;
}

static void cons_end(void *ctx)
{
    ((struct cons_rec *)ctx)->ends++;
}

static void test_agent_constraint_hook(void **state)
{
    struct fx *x = *state;
    /* ")" is masked inside the call: the runner-up "zz" is taken, the call breaks */
    const char *script[] = {"The", "({", "MEM_READ(", "France", ">>", "capital", ">>", ")",
                            "zz", "-->", NULL};
    fake_script(&x->f, script);
    x->p.constrain = true;
    fx_agent(x);
    struct cons_rec rec = {0};
    rec.forbid = id_of(x->tk, ")");
    struct agent_constraint c = {0};
    c.source = cons_source;
    c.begin = cons_begin;
    c.mask = cons_mask;
    c.accept = cons_accept;
    c.end = cons_end;
    c.ctx = &rec;
    agent_set_constraint(x->a, &c);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_int_equal(rec.begins, 1);
    assert_string_equal(rec.source, "Q?");
    assert_string_equal(rec.context, "({");
    assert_true(rec.masks >= 5);
    assert_true(rec.accepts >= 5);
    assert_int_equal(rec.ends, 1);
    /* the call never completed ("zz" instead of ")"), so no read ran */
    assert_null(strstr(out, "Paris"));
    free(out);
    /* switched off: the read runs (the same agent: it keeps the model's cache of the
     * prompt, so the fake keeps its context too) */
    x->f.cursor = 0;
    x->f.n_calls = 0;
    x->f.n_script = 0;
    const char *script2[] = {"({", "MEM_READ(", "France", ">>", "capital", ">>", ")", "-->",
                             NULL};
    fake_script(&x->f, script2);
    x->p.constrain = false;
    assert_int_equal(agent_params_set(x->a, &x->p), STATUS_OK);
    memset(&rec, 0, sizeof rec);
    rec.forbid = id_of(x->tk, ")");
    assert_int_equal(agent_ask(x->a, "Q?", &out, NULL), STATUS_OK);
    assert_int_equal(rec.begins, 0);
    assert_string_equal(out, "({MEM_READ(France>>capital>>)-->Paris})");
    free(out);
}

static void test_agent_cancel_from_callback(void **state)
{
    struct fx *x = *state;
    x->f.endless = true;
    x->p.max_tokens = 1000000;
    fx_agent(x);
    x->cancel_after = 3;
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_CANCELLED);
    assert_string_equal(out, "zzzzzz");
    assert_string_equal(x->ev[x->n_ev - 1].text, "cancelled");
    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_string_equal(r->output, "zzzzzz");
    assert_true(r->finished_at > 0);
    mem_run_free(r);
    free(out);
}

static void test_agent_worker_thread_cancel(void **state)
{
    struct fx *x = *state;
    x->f.endless = true;
    x->f.delay_us = 200;
    x->p.max_tokens = 1000000;
    fx_agent(x);
    assert_int_equal(agent_ask_start(x->a, "Q?"), STATUS_OK);
    assert_int_equal(agent_ask_start(x->a, "again"), STATUS_INVALID);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_true(agent_running(x->a));
    agent_cancel(x->a);
    char *out = NULL;
    assert_int_equal(agent_wait(x->a, &out, NULL), STATUS_CANCELLED);
    assert_false(agent_running(x->a));
    assert_non_null(out);
    assert_true(strlen(out) > 0);
    assert_int_equal(x->ev[x->n_ev - 1].kind, AGENT_EVENT_DONE);
    free(out);
    /* the worker can run again, to the end */
    x->f.endless = false;
    x->f.delay_us = 0;
    assert_int_equal(agent_ask_start(x->a, "Q?"), STATUS_OK);
    assert_int_equal(agent_wait(x->a, &out, NULL), STATUS_OK);
    free(out);
}

/* ---- write mode ---------------------------------------------------------------------------- */

/* A sentence and file name that are not valid UTF-8 (Latin-1) still store their triple; the
 * source keeps them with U+FFFD for the bad bytes. */
static void test_agent_write_stores_invalid_utf8_sentence(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"Paris", ">>", "capital", ">>", "France", "})", NULL};
    fake_script(&x->f, script);
    x->p.min_cuts = 1;
    fx_agent(x);
    const char *text = "Paris is the capital of France, caf\xE9.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), "d\xE9.txt", NULL, &ws),
                     STATUS_OK);
    assert_int_equal(ws.n_new, 1);
    assert_int_equal(count_kind(x, AGENT_EVENT_ERROR), 0);
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(x->c, CTRL_WANT_OBJECT, "Paris", "capital", &r), STATUS_OK);
    assert_int_equal(r->n_answers, 1);
    struct mem_triple_info *ti = NULL;
    assert_int_equal(mem_triple_get(x->m, r->answers[0].triple_id, &ti), STATUS_OK);
    assert_string_equal(ti->source.text, "Paris is the capital of France, caf\xEF\xBF\xBD.");
    assert_string_equal(ti->source.file, "d\xEF\xBF\xBD.txt");
    assert_true(ti->source.run_id > 0);
    mem_triple_info_free(ti);
    ctrl_read_free(r);
}

static void test_agent_write_stores_with_sentence_source(void **state)
{
    struct fx *x = *state;
    /* sentence 1: one triple; sentence 2: none */
    const char *script[] = {"Paris", ">>", "capital", ">>", "France", "})",
                            "})", NULL};
    fake_script(&x->f, script);
    x->p.min_cuts = 1;
    fx_agent(x);
    const char *text = "Paris is the capital of France.\n\nIt is big.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), "doc.txt", "Doc", &ws),
                     STATUS_OK);
    assert_int_equal(ws.sentences, 2);
    assert_int_equal(ws.triples, 1);
    assert_int_equal(ws.n_new, 1);
    /* the prompt of sentence 2 has sentence 1 as context, in the default template */
    char *ctx = fake_context(&x->f);
    assert_non_null(strstr(ctx, "Paris is the capital of France.({USER_ST})It is big."
                                "({USER_END})({MEM_WRITE-->"));
    free(ctx);
    struct mem_filter flt = {0};
    flt.subj = "Paris";
    int64_t n = 0;
    assert_int_equal(mem_triple_count(x->m, &flt, &n), STATUS_OK);
    assert_int_equal(n, 1);
    size_t w = 0;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_WRITE) {
            w++;
            if (w == 1) {
                assert_string_equal(x->ev[i].text, "({MEM_WRITE-->Paris>>capital>>France})");
                assert_int_equal(x->ev[i].n_triples, 1);
            } else {
                assert_string_equal(x->ev[i].text, "({MEM_WRITE-->})");
                assert_int_equal(x->ev[i].n_triples, 0);
            }
        }
    assert_int_equal(w, 2);
    /* the triple's source is the sentence and the file */
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(x->c, CTRL_WANT_OBJECT, "Paris", "capital", &r), STATUS_OK);
    assert_int_equal(r->n_answers, 1);
    struct mem_triple_info *ti = NULL;
    assert_int_equal(mem_triple_get(x->m, r->answers[0].triple_id, &ti), STATUS_OK);
    assert_string_equal(ti->source.text, "Paris is the capital of France.");
    assert_string_equal(ti->source.file, "doc.txt");
    assert_int_equal(ti->source.kind, MEM_SOURCE_KIND_SENTENCE);
    assert_true(ti->source.run_id > 0);
    mem_triple_info_free(ti);
    ctrl_read_free(r);
}

/* Two sentences, each with two candidate cuts (min_cuts 2): late stopping is applied per
 * sentence.  Sentence 1's cuts both have "})" at 10: the first (no detour) wins.  Sentence
 * 2's first "})" is weak (5.5) and its second strong (12): the second wins, as in the
 * single-sentence test.  Only the kept cuts' triples are stored. */
static void test_agent_write_sentences_late_stopping(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"A", ">>", "r", ">>", "B", "})", ";", "C", ">>", "r", ">>", "D", "})",
                            "E", ">>", "r", ">>", "F", "})", ";", "G", ">>", "r", ">>", "H",
                            "})", NULL};
    fake_script(&x->f, script);
    x->f.strength[18] = 5.5f;
    x->f.strength[25] = 12.0f;
    x->p.min_cuts = 2;
    fx_agent(x);
    const char *text = "One sentence.  Another one.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), NULL, "T", &ws), STATUS_OK);
    assert_int_equal(ws.sentences, 2);
    assert_int_equal(ws.calls_ok, 2);
    assert_int_equal(ws.triples, 3);
    assert_int_equal(ws.n_new, 3);
    const char *want[] = {"({MEM_WRITE-->A>>r>>B})", "({MEM_WRITE-->E>>r>>F;G>>r>>H})"};
    size_t w = 0;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_WRITE) {
            assert_true(w < 2);
            assert_string_equal(x->ev[i].text, want[w]);
            w++;
        }
    assert_int_equal(w, 2);
    /* the discarded cut of sentence 1 (C>>r>>D) was not stored */
    struct mem_filter flt = {0};
    flt.subj = "C";
    int64_t n = -1;
    assert_int_equal(mem_triple_count(x->m, &flt, &n), STATUS_OK);
    assert_int_equal(n, 0);
    flt.subj = "G";
    assert_int_equal(mem_triple_count(x->m, &flt, &n), STATUS_OK);
    assert_int_equal(n, 1);
    /* the write run (named by the title) has one write call per sentence */
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(x->c, CTRL_WANT_OBJECT, "G", "r", &r), STATUS_OK);
    assert_true(r->n_answers >= 1);
    struct mem_triple_info *ti = NULL;
    assert_int_equal(mem_triple_get(x->m, r->answers[0].triple_id, &ti), STATUS_OK);
    assert_string_equal(ti->source.text, "Another one.");
    struct mem_run *mr = NULL;
    assert_int_equal(mem_run_get(x->m, ti->source.run_id, &mr), STATUS_OK);
    assert_string_equal(mr->prompt, "write: T");
    assert_int_equal(mr->n_calls, 2);
    assert_int_equal(mr->calls[0].kind, MEM_CALL_KIND_WRITE);
    assert_string_equal(mr->calls[1].raw, want[1]);
    mem_run_free(mr);
    mem_triple_info_free(ti);
    ctrl_read_free(r);
}

static void test_agent_write_late_stopping_picks_best_cut(void **state)
{
    struct fx *x = *state;
    /* Three places where "})" is the most likely token.  With logits 0 for the other
     * ~115 tokens and the runner-up at 5: the first cut ("})" at 5.5) has a mean log-prob
     * of about -0.13, the second ("})" at 12, reached through ";" at about -1.24) about
     * -0.10, the third (reached through ";" at about -7) far less.  The second wins. */
    const char *script[] = {"A", ">>", "r", ">>", "B", "})", ";", "C", ">>", "r", ">>",
                            "D", "})", ";", "E", ">>", "r", ">>", "F", "})", NULL};
    fake_script(&x->f, script);
    x->f.strength[5] = 5.5f;
    x->f.strength[12] = 12.0f;
    x->f.strength[19] = 7.0f;
    x->p.min_cuts = 3;
    fx_agent(x);
    const char *text = "A sentence.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), NULL, NULL, &ws), STATUS_OK);
    assert_int_equal(ws.triples, 2);
    bool seen = false;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_WRITE) {
            assert_string_equal(x->ev[i].text, "({MEM_WRITE-->A>>r>>B;C>>r>>D})");
            seen = true;
        }
    assert_true(seen);
    /* with a single candidate wanted, the first cut is kept */
    x->f.cursor = 0;
    x->f.n_calls = 0;
    x->f.n_past = 0;
    x->n_ev = 0;
    x->p.min_cuts = 1;
    x->p.dry_run = true;
    fx_agent(x);
    assert_int_equal(agent_write_text(x->a, text, strlen(text), NULL, NULL, &ws), STATUS_OK);
    assert_int_equal(ws.triples, 1);
    assert_int_equal(ws.n_new, 0); /* dry run: nothing stored */
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_WRITE)
            assert_string_equal(x->ev[i].text, "({MEM_WRITE-->A>>r>>B})");
    struct mem_filter flt = {0};
    flt.subj = "A";
    int64_t n = 0;
    assert_int_equal(mem_triple_count(x->m, &flt, &n), STATUS_OK);
    assert_int_equal(n, 1); /* from the first, stored run */
}

static void test_agent_write_uses_constraint(void **state)
{
    struct fx *x = *state;
    /* "France" is masked: the runner-up "Lyon" is written instead */
    const char *script[] = {"Paris", ">>", "capital", ">>", "France", "Lyon", "})", NULL};
    fake_script(&x->f, script);
    x->p.min_cuts = 1;
    x->p.dry_run = true;
    x->p.constrain = true;
    fx_agent(x);
    struct cons_rec rec = {0};
    rec.forbid = id_of(x->tk, "France");
    struct agent_constraint c = {0};
    c.source = cons_source;
    c.begin = cons_begin;
    c.mask = cons_mask;
    c.accept = cons_accept;
    c.end = cons_end;
    c.ctx = &rec;
    agent_set_constraint(x->a, &c);
    const char *text = "Paris is the capital of France.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), NULL, NULL, &ws), STATUS_OK);
    assert_int_equal(rec.begins, 1);
    assert_int_equal(rec.kind, CALL_KIND_WRITE);
    assert_string_equal(rec.context, "({MEM_WRITE-->");
    assert_string_equal(rec.source, text);
    assert_int_equal(rec.ends, 1);
    assert_true(rec.masks >= 6);
    bool seen = false;
    for (size_t i = 0; i < x->n_ev; i++)
        if (x->ev[i].kind == AGENT_EVENT_WRITE) {
            assert_string_equal(x->ev[i].text, "({MEM_WRITE-->Paris>>capital>>Lyon})");
            seen = true;
        }
    assert_true(seen);
}

/* A constraint that allows only "})" from its third step on (a complete call), while the
 * model prefers other tokens: late stopping must take "})" (it is the only allowed token,
 * so the step is a candidate cut and nothing else can follow). */
struct close_only {
    int32_t close;
    int steps;
};

static enum status close_only_mask(void *ctx, struct samp *s)
{
    struct close_only *c = ctx;
    if (++c->steps >= 3)
        samp_mask_allow(s, &c->close, 1);
    return STATUS_OK;
}

static void test_agent_write_constraint_only_close_allowed(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"A", ">>", "r", ">>", "B", "})", NULL};
    fake_script(&x->f, script);
    x->p.min_cuts = 5;
    x->p.dry_run = true;
    x->p.constrain = true;
    fx_agent(x);
    struct close_only co = {id_of(x->tk, "})"), 0};
    struct agent_constraint c = {0};
    c.mask = close_only_mask;
    c.ctx = &co;
    agent_set_constraint(x->a, &c);
    const char *text = "A sentence.";
    struct agent_write_stats ws;
    assert_int_equal(agent_write_text(x->a, text, strlen(text), NULL, NULL, &ws), STATUS_OK);
    bool seen = false;
    for (size_t i = 0; i < x->n_ev; i++) {
        assert_int_not_equal(x->ev[i].kind, AGENT_EVENT_ERROR);
        if (x->ev[i].kind == AGENT_EVENT_WRITE) {
            /* cut right where only "})" was allowed, though the model wanted ">>" */
            assert_string_equal(x->ev[i].text, "({MEM_WRITE-->A>>})");
            seen = true;
        }
    }
    assert_true(seen);
    /* three steps; the third asked twice (the best token, then the best non-closing one,
     * of which there was none) */
    assert_int_equal(co.steps, 4);
}

static void test_agent_memory_names_bounded_and_on_word_boundaries(void **state)
{
    struct fx *x = *state;
    const struct ctrl_triple_in facts[] = {
        {"Apple Inc.", "founder", "Steve Jobs"},
        {"Apple", "color", "red"},
        {"Applebee's", "country", "United States"},
        {"The Who", "genre", "rock"},
    };
    assert_int_equal(ctrl_write(x->c, facts, 4, NULL, NULL), STATUS_OK);
    char **names = NULL;
    size_t n = 0;
    const char *q = "Who founded apple inc. with steve?";
    assert_int_equal(agent_memory_names(x->m, q, strlen(q), AGENT_NAMES_MAX,
                                        AGENT_NAMES_BYTES, &names, &n),
                     STATUS_OK);
    bool apple_inc = false, apple = false, steve = false;
    for (size_t i = 0; i < n; i++) {
        apple_inc |= strcmp(names[i], "Apple Inc.") == 0;
        apple |= strcmp(names[i], "Apple") == 0;
        steve |= strcmp(names[i], "Steve Jobs") == 0;
        assert_string_not_equal(names[i], "Applebee's"); /* not on a word boundary */
        assert_string_not_equal(names[i], "The Who");    /* "who" is a function word */
        assert_string_not_equal(names[i], "France");     /* shares no word */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
    assert_true(apple_inc);
    assert_true(apple);
    assert_true(steve);
    agent_names_free(names, n);
    /* bounds: one name, then too few bytes for any */
    assert_int_equal(agent_memory_names(x->m, q, strlen(q), 1, AGENT_NAMES_BYTES, &names, &n),
                     STATUS_OK);
    assert_int_equal(n, 1);
    agent_names_free(names, n);
    assert_int_equal(agent_memory_names(x->m, q, strlen(q), 8, 3, &names, &n), STATUS_OK);
    assert_int_equal(n, 0);
    agent_names_free(names, n);
    assert_int_equal(agent_memory_names(NULL, q, strlen(q), 8, 100, &names, &n), STATUS_OK);
    assert_int_equal(n, 0);
}

/* A question and an answer that are not valid UTF-8 (a Latin-1 byte; a byte token that
 * starts no character) are still recorded, with U+FFFD for the bad bytes. */
static void test_agent_run_records_invalid_utf8(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"H", "i", "<0xE2>", "!", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    int64_t run = 0;
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "caf\xE9?", &out, &run), STATUS_OK);
    free(out);
    assert_true(run > 0);
    assert_int_equal(count_kind(x, AGENT_EVENT_ERROR), 0);
    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_string_equal(r->prompt, "caf\xEF\xBF\xBD?");
    assert_non_null(r->output);
    assert_string_equal(r->output, "Hi\xEF\xBF\xBD!");
    assert_true(r->finished_at > 0);
    mem_run_free(r);
}

/* Text that is not UTF-8 (a Latin-1 question) still finds the names of its valid words. */
static void test_agent_memory_names_skip_invalid_utf8_words(void **state)
{
    struct fx *x = *state;
    const struct ctrl_triple_in facts[] = {{"Paris", "country", "France"}};
    assert_int_equal(ctrl_write(x->c, facts, 1, NULL, NULL), STATUS_OK);
    char **names = NULL;
    size_t n = 0;
    const char *q = "caf\xE9 in Paris?";
    assert_int_equal(agent_memory_names(x->m, q, strlen(q), AGENT_NAMES_MAX,
                                        AGENT_NAMES_BYTES, &names, &n),
                     STATUS_OK);
    bool paris = false;
    for (size_t i = 0; i < n; i++)
        paris |= strcmp(names[i], "Paris") == 0;
    assert_true(paris);
    agent_names_free(names, n);
}

static void test_agent_parse_special_prompt(void **state)
{
    struct fx *x = *state;
    x->p.template_ask = "</s>{question}";
    x->p.parse_special = true;
    x->p.prompted = true;
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    free(out);
    /* BOS, then the control token itself (not the characters "</s>") */
    assert_int_equal(x->f.ctx[0], 1);
    assert_int_equal(x->f.ctx[1], 2);
    assert_int_equal(x->f.ctx[2], id_of(x->tk, "Q"));
    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_non_null(strstr(r->settings, "\"mode\":\"prompted\""));
    mem_run_free(r);
    /* without it the text is text */
    x->f.cursor = 0;
    x->f.n_calls = 0;
    x->f.n_past = 0;
    x->p.parse_special = false;
    x->p.prompted = false;
    fx_agent(x);
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    free(out);
    assert_int_equal(x->f.ctx[1], id_of(x->tk, "<"));
    assert_int_equal(mem_run_get(x->m, run, &r), STATUS_OK);
    assert_non_null(strstr(r->settings, "\"mode\":\"native\""));
    mem_run_free(r);
}

static void test_agent_history_formats_strips_calls_and_keeps_recent(void **state)
{
    (void)state;
    struct agent_history *h = NULL;
    assert_int_equal(agent_history_new(AGENT_HISTORY_PLAIN, &h), STATUS_OK);
    char *p = NULL;
    size_t kept = 9;
    assert_int_equal(agent_history_prompt(h, NULL, "Q0?", 1000, &p, &kept), STATUS_OK);
    assert_string_equal(p, "Q0?");
    assert_int_equal(kept, 0);
    free(p);
    assert_int_equal(agent_history_add(h, "Q1?", " It is ({MEM_READ(France>>capital>>)-->Paris})"
                                                  "Paris. ({MEM_READ(x"),
                     STATUS_OK);
    assert_int_equal(agent_history_add(h, "Q2?", "A2"), STATUS_OK);
    assert_int_equal(agent_history_count(h), 2);
    assert_int_equal(agent_history_prompt(h, NULL, "Q3?", 1000, &p, &kept), STATUS_OK);
    assert_string_equal(p, "Q1?\nIt is Paris.\n\nQ2?\nA2\n\nQ3?");
    assert_int_equal(kept, 2);
    free(p);
    /* a budget (bytes without a tokenizer) for the newest turn only: "Q2?\nA2\n\n" is 8 */
    assert_int_equal(agent_history_prompt(h, NULL, "Q3?", 10, &p, &kept), STATUS_OK);
    assert_string_equal(p, "Q2?\nA2\n\nQ3?");
    assert_int_equal(kept, 1);
    free(p);
    assert_int_equal(agent_history_prompt(h, NULL, "Q3?", 0, &p, &kept), STATUS_OK);
    assert_string_equal(p, "Q3?");
    free(p);
    agent_history_clear(h);
    assert_int_equal(agent_history_count(h), 0);
    assert_int_equal(agent_history_prompt(h, NULL, "Q3?", 1000, &p, &kept), STATUS_OK);
    assert_string_equal(p, "Q3?");
    free(p);
    agent_history_free(h);
    /* Mistral: earlier answers close the [INST] turn and a new one opens */
    assert_int_equal(agent_history_new(AGENT_HISTORY_MISTRAL, &h), STATUS_OK);
    assert_int_equal(agent_history_add(h, "Q1?", "A1"), STATUS_OK);
    assert_int_equal(agent_history_prompt(h, NULL, "Q2?", 1000, &p, NULL), STATUS_OK);
    assert_string_equal(p, "Q1? [/INST] A1</s>[INST] Q2?");
    free(p);
    agent_history_free(h);
    assert_int_equal(agent_history_new(AGENT_HISTORY_CHATML, &h), STATUS_OK);
    assert_int_equal(agent_history_add(h, "Q1?", "A1"), STATUS_OK);
    assert_int_equal(agent_history_prompt(h, NULL, "Q2?", 1000, &p, NULL), STATUS_OK);
    assert_string_equal(p, "Q1?<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                           "<|im_start|>user\nQ2?");
    free(p);
    agent_history_free(h);
    /* an unknown format is refused (its turn markers would be read out of bounds) */
    h = NULL;
    assert_int_equal(agent_history_new((enum agent_history_format)7, &h), STATUS_INVALID);
    assert_null(h);
}

static void test_agent_history_budget_counts_tokens(void **state)
{
    struct fx *x = *state;
    struct agent_history *h = NULL;
    assert_int_equal(agent_history_new(AGENT_HISTORY_PLAIN, &h), STATUS_OK);
    /* each turn is "-->-->\nA\n\n" (10 bytes): count its tokens with the encoder */
    const char *turn = "-->-->\nA\n\n";
    int32_t ids[64];
    size_t nt = 0;
    assert_int_equal(tok_encode(x->tk, turn, strlen(turn), 0, ids, 64, &nt), STATUS_OK);
    assert_true(nt < strlen(turn)); /* tokens, not bytes, are counted below */
    assert_int_equal(agent_history_add(h, "-->-->", "A"), STATUS_OK);
    assert_int_equal(agent_history_add(h, "-->-->", "({MEM_READ(x)-->y})A"), STATUS_OK);
    char *p = NULL;
    size_t kept = 0;
    assert_int_equal(agent_history_prompt(h, x->tk, "Q3?", 2 * nt, &p, &kept), STATUS_OK);
    assert_int_equal(kept, 2);
    free(p);
    assert_int_equal(agent_history_prompt(h, x->tk, "Q3?", 2 * nt - 1, &p, &kept), STATUS_OK);
    assert_int_equal(kept, 1);
    free(p);
    assert_int_equal(agent_history_prompt(h, x->tk, "Q3?", nt - 1, &p, &kept), STATUS_OK);
    assert_int_equal(kept, 0);
    free(p);
    agent_history_free(h);
}

static void test_agent_templates(void **state)
{
    struct fx *x = *state;
    char *s = NULL;
    assert_int_equal(agent_template_fill("[INST] {question} [/INST]{x}", "Why?", NULL, NULL, &s),
                     STATUS_OK);
    assert_string_equal(s, "[INST] Why? [/INST]{x}");
    free(s);
    assert_int_equal(agent_template_fill("{context}|{sentence}", NULL, "a b", "c", &s),
                     STATUS_OK);
    assert_string_equal(s, "a b|c");
    free(s);
    /* the ask template wraps the question the model sees */
    const char *script[] = {"zz", NULL};
    fake_script(&x->f, script);
    x->p.template_ask = "Q: {question} A:";
    fx_agent(x);
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Why?", &out, NULL), STATUS_OK);
    char *ctx = fake_context(&x->f);
    assert_non_null(strstr(ctx, "Q: Why? A:zz"));
    free(ctx);
    free(out);
}

/* ---- audit --------------------------------------------------------------------------------- */

static char *audit_text(struct mem *m, int64_t run, bool json)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(agent_audit(m, run, json, f), STATUS_OK);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static void test_agent_audit_shows_triples_sources_and_spans(void **state)
{
    struct fx *x = *state;
    /* a fact with a source sentence */
    struct mem_source src = {0};
    src.kind = MEM_SOURCE_KIND_SENTENCE;
    src.text = "Rome is the capital of Italy.";
    const struct ctrl_triple_in t = {"Italy", "capital", "Rome"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(x->c, &t, 1, &src, &w), STATUS_OK);
    const char *script[] = {"The", "({", "MEM_READ(", "I", "t", "a", "l", "y", ">>", "capital",
                            ">>", ")", "-->", "\xE2\x96\x81" "is", ".", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    int64_t run = 0;
    char *out = NULL;
    assert_int_equal(agent_ask(x->a, "Capital of Italy?", &out, &run), STATUS_OK);
    assert_string_equal(out, "The({MEM_READ(Italy>>capital>>)-->Rome}) is.");
    free(out);
    char *s = audit_text(x->m, 0, false); /* 0: the newest run */
    assert_non_null(strstr(s, "Capital of Italy?"));
    assert_non_null(strstr(s, "Italy | capital | Rome"));
    assert_non_null(strstr(s, "Rome is the capital of Italy."));
    assert_non_null(strstr(s, "followed by:  is."));
    free(s);
    s = audit_text(x->m, run, true);
    assert_non_null(strstr(s, "\"span\":\" is.\""));
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "\"triple\":{\"id\":%lld", (long long)w.triple_id);
    assert_non_null(strstr(s, idbuf));
    assert_non_null(strstr(s, "\"text\":\"Rome is the capital of Italy.\""));
    free(s);
    FILE *f = tmpfile();
    assert_int_equal(agent_audit(x->m, run + 100, false, f), STATUS_NOT_FOUND);
    fclose(f);
}

/* Stored text reaches the terminal escaped: no raw ESC or C1 control from the model name,
 * a read's query, a source's file or text. */
static void test_agent_audit_escapes_control_characters(void **state)
{
    struct fx *x = *state;
    struct mem_source src = {0};
    src.kind = MEM_SOURCE_KIND_IMPORT;
    src.text = "text\x1b]0;t\x07";
    src.file = "f\x1b[2J.txt";
    const struct ctrl_triple_in t = {"Italy", "capital", "Rome"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(x->c, &t, 1, &src, &w), STATUS_OK);
    int64_t run = 0;
    assert_int_equal(mem_run_create(x->m, "p\xC2\x9B" "31m", "m\x1b[31m", NULL, &run), STATUS_OK);
    assert_int_equal(mem_run_add_call(x->m, run, 1, MEM_CALL_KIND_READ, "r", "Rome"), STATUS_OK);
    assert_int_equal(mem_run_add_read(x->m, run, 1, "q\x1b[1m>>capital>>", w.triple_id, 0.5),
                     STATUS_OK);
    assert_int_equal(mem_run_finish(x->m, run, "out"), STATUS_OK);
    char *s = audit_text(x->m, run, false);
    assert_null(strchr(s, '\x1b'));
    assert_null(strchr(s, '\x07'));
    assert_null(strstr(s, "\xC2\x9B"));
    free(s);
}

/* The audit of a call with three queries lists each triple under the one call, with the
 * query that found it, in splice order, and the span that followed. */
static void test_agent_audit_multi_query_call(void **state)
{
    struct fx *x = *state;
    const char *script[] = {"({", "MEM_READ(", "France", ">>", "capital", ">>", ";", ">>",
                            "capital", ">>", "Berlin", ")", "-->", "\xE2\x96\x81" "done", NULL};
    fake_script(&x->f, script);
    fx_agent(x);
    char *out = NULL;
    int64_t run = 0;
    assert_int_equal(agent_ask(x->a, "Q?", &out, &run), STATUS_OK);
    assert_string_equal(out, "({MEM_READ(France>>capital>>;>>capital>>Berlin)-->Paris;Germany})"
                             " done");
    free(out);
    char *s = audit_text(x->m, run, true);
    const char *q1 = strstr(s, "{\"query\":\"France>>capital>>\"");
    const char *q2 = strstr(s, "{\"query\":\">>capital>>Berlin\"");
    assert_non_null(q1);
    assert_non_null(q2);
    assert_true(q1 < q2);
    assert_non_null(strstr(q1, "\"object\":\"Paris\""));
    assert_non_null(strstr(q2, "\"subject\":\"Germany\""));
    assert_non_null(strstr(s, "\"result\":\"Paris;Germany\""));
    assert_non_null(strstr(s, "\"span\":\" done\""));
    /* one call only */
    assert_non_null(strstr(s, "\"call\":1,"));
    assert_null(strstr(s, "\"call\":2,"));
    free(s);
    s = audit_text(x->m, run, false);
    assert_non_null(strstr(s, "France | capital | Paris"));
    assert_non_null(strstr(s, "Germany | capital | Berlin"));
    assert_non_null(strstr(s, "followed by:  done"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_answer_quotes_read_result, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_quote_ends_at_word_boundary, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_no_quote_without_results, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_no_quote_in_prompted_mode, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_read_call_spliced_and_events_in_order,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_only_latest_call_stays_in_context, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_failed_read_removed_and_open_forbidden,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_malformed_call_removed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_read_three_queries_in_one_call, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_read_results_capped_at_30, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_read_cap_spans_queries, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_repeated_call_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_utf8_across_byte_tokens, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_context_full_stops, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_call_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_no_read_forbids_calls, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_token_cap_and_stop_string, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_constraint_hook, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_cancel_from_callback, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_worker_thread_cancel, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_stores_with_sentence_source, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_late_stopping_picks_best_cut,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_sentences_late_stopping, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_uses_constraint, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_constraint_only_close_allowed,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_run_records_invalid_utf8, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_write_stores_invalid_utf8_sentence, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_memory_names_skip_invalid_utf8_words,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_memory_names_bounded_and_on_word_boundaries,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_parse_special_prompt, fx_setup, fx_teardown),
        cmocka_unit_test(test_agent_history_formats_strips_calls_and_keeps_recent),
        cmocka_unit_test_setup_teardown(test_agent_history_budget_counts_tokens, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_templates, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_audit_escapes_control_characters, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_audit_shows_triples_sources_and_spans,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_agent_audit_multi_query_call, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
