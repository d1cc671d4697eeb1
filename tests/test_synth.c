/* test_synth.c -- tests of the synthetic MemLLM example generator (agent/synth.h): the
 * exact protocol form of every write, read and "I do not know." example, that names are
 * copied from the text, that the kinds follow the shares, determinism, held-out seed
 * facts, the facts reader and the ZsRE records. */
#include "config.h"

#include "test_util.h"

#include <math.h>
#include <stdbool.h>

#include "agent/eval.h"
#include "agent/synth.h"
#include "protocol/call.h"
#include "util/json.h"

/* ---- collecting examples ---------------------------------------------------------------- */

struct ex {
    struct traindata_example e; /* pointers replaced by the owned copies below */
    char *a, *b;                /* prompt and completion, or text and NULL */
};

struct got {
    struct ex *v;
    size_t n, cap;
    size_t stop_after; /* the sink fails with STATUS_IO once it holds this many (0: never) */
};

static enum status collect(void *ctx, const struct traindata_example *e)
{
    struct got *g = ctx;
    if (g->stop_after && g->n == g->stop_after)
        return status_detail_set(STATUS_IO, "test sink full");
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 256;
        g->v = realloc(g->v, g->cap * sizeof *g->v);
        assert_non_null(g->v);
    }
    struct ex *x = &g->v[g->n++];
    x->e = *e;
    if (e->kind == TRAINDATA_KIND_WRITE) {
        /* no NUL inside the strings the sink gets */
        assert_int_equal(strlen(e->prompt), e->prompt_len);
        assert_int_equal(strlen(e->completion), e->completion_len);
        x->a = strndup(e->prompt, e->prompt_len);
        x->b = strndup(e->completion, e->completion_len);
        assert_non_null(x->a);
        assert_non_null(x->b);
        x->e.prompt = x->a;
        x->e.completion = x->b;
    } else {
        assert_int_equal(e->kind, TRAINDATA_KIND_READ);
        assert_int_equal(strlen(e->text), e->text_len);
        x->a = strndup(e->text, e->text_len);
        x->b = NULL;
        assert_non_null(x->a);
        x->e.text = x->a;
    }
    return STATUS_OK;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].a);
        free(g->v[i].b);
    }
    free(g->v);
    memset(g, 0, sizeof *g);
}

static void generate(const struct synth_params *p, const struct synth_facts *f, struct got *g)
{
    memset(g, 0, sizeof *g);
    enum status st = synth_generate(p, f, collect, g);
    if (st != STATUS_OK)
        fail_msg("synth_generate: %s: %s", status_str(st), status_detail());
    assert_int_equal(g->n, p->n_examples);
}

static bool same_examples(const struct got *x, const struct got *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++) {
        const struct ex *a = &x->v[i], *b = &y->v[i];
        if (a->e.kind != b->e.kind || strcmp(a->a, b->a) != 0 ||
            (a->b && strcmp(a->b, b->b) != 0) || a->e.loss_from != b->e.loss_from ||
            a->e.n_spans != b->e.n_spans || a->e.n_items != b->e.n_items ||
            memcmp(a->e.spans, b->e.spans, sizeof a->e.spans) != 0)
            return false;
    }
    return true;
}

/* ---- classifying examples --------------------------------------------------------------- */

enum kind { K_WRITE, K_UNKNOWN, K_INLINE, K_QUESTION, K_N };

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static enum kind kind_of(const struct ex *x)
{
    if (x->e.kind == TRAINDATA_KIND_WRITE)
        return K_WRITE;
    if (!strstr(x->a, "({"))
        return K_UNKNOWN;
    return starts_with(x->a, "Q: ") ? K_QUESTION : K_INLINE;
}

static void count_kinds(const struct got *g, size_t n[K_N])
{
    memset(n, 0, K_N * sizeof n[0]);
    for (size_t i = 0; i < g->n; i++)
        n[kind_of(&g->v[i])]++;
}

static bool is_relation(const char *r)
{
    for (size_t i = 0; i < synth_n_relations(); i++)
        if (strcmp(synth_relation_name(i), r) == 0)
            return true;
    return false;
}

/* Does text[0..len) contain needle? */
static bool contains_n(const char *text, size_t len, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= len && i <= len - k; i++)
        if (memcmp(text + i, needle, k) == 0)
            return true;
    return false;
}

/* ---- checking the form of each kind ----------------------------------------------------- */

/* [context " "] "({USER_ST})" sentence "({USER_END})"; the completion a clean write
 * call whose names all occur in the prompt. */
static void check_write(const struct ex *x)
{
    const char *p = x->a;
    size_t n = strlen(p);
    const char *st = strstr(p, CALL_USER_ST);
    if (!st || !ends_with(p, n, CALL_USER_END))
        fail_msg("write prompt without the markers: %s", p);
    size_t ctx = (size_t)(st - p);
    if (ctx > 0 && (ctx < 2 || p[ctx - 1] != ' ' || p[ctx - 2] == ' '))
        fail_msg("context not followed by exactly one space: %s", p);
    /* no other call-like text anywhere: one "({" before USER_ST's and one for USER_END */
    assert_false(contains_n(p, ctx, "({"));
    const char *sent = st + strlen(CALL_USER_ST);
    size_t sent_len = (size_t)(p + n - strlen(CALL_USER_END) - sent);
    assert_true(sent_len > 0);
    assert_false(contains_n(sent, sent_len, "({"));
    assert_false(contains_n(sent, sent_len, "})"));
    assert_null(strchr(p, '\n'));

    struct call *c = NULL;
    enum status s = call_parse_write(x->b, strlen(x->b), &c);
    if (s != STATUS_OK)
        fail_msg("completion does not parse: %s (%s)", x->b, status_detail());
    if (c->n_errors != 0 || !c->closed)
        fail_msg("completion with errors: %s", x->b);
    assert_int_equal(c->kind, CALL_KIND_WRITE);
    assert_int_equal(c->n_triples, x->e.n_items);
    assert_true(starts_with(x->b, CALL_WRITE_PREFIX));
    for (size_t i = 0; i < c->n_triples; i++) {
        const struct call_triple *t = &c->triples[i];
        /* copy-dense: subject and object are spans of the prompt, untrimmed */
        if (!strstr(p, t->subj) || !strstr(p, t->obj))
            fail_msg("triple %s>>%s>>%s not copied from: %s", t->subj, t->rel, t->obj, p);
        if (!is_relation(t->rel))
            fail_msg("unknown relation '%s'", t->rel);
        assert_string_not_equal(t->subj, t->obj);
    }
    call_free(c);
}

/* Question and inline reads: the call from loss_from to the end of the first span is
 * the pending read, the second span starts right after "})" and runs to the end, and the
 * wanted names memory gives back are quoted after the call. */
static void check_read(const struct ex *x, enum kind k)
{
    const char *t = x->a;
    size_t n = x->e.text_len;
    const struct traindata_example *e = &x->e;
    if (e->n_spans != 2)
        fail_msg("%zu loss spans in: %s", e->n_spans, t);
    size_t b0 = e->spans[0][0], e0 = e->spans[0][1], b1 = e->spans[1][0];
    assert_int_equal(b0, e->loss_from);
    assert_true(b0 < e0 && e0 + 2 <= b1 && b1 < n);
    assert_int_equal(e->spans[1][1], n);
    assert_true(starts_with(t + b0, CALL_READ_PREFIX));
    assert_memory_equal(t + e0 - 3, CALL_ARROW, 3);
    assert_memory_equal(t + b1 - 2, CALL_CLOSE, 2);
    /* exactly one call, and the text before it has no call-like text */
    assert_false(contains_n(t, b0, "({"));
    assert_false(contains_n(t + b1, n - b1, "({"));
    assert_false(contains_n(t + b1, n - b1, "})"));

    struct call *c = NULL;
    enum status s = call_parse_read(t + b0, e0 - b0, &c);
    if (s != STATUS_OK || c->n_errors != 0)
        fail_msg("pending read does not parse cleanly: %.*s", (int)(e0 - b0), t + b0);
    assert_int_equal(c->kind, CALL_KIND_READ);
    assert_false(c->has_results);
    assert_int_equal(c->n_queries, e->n_items);
    assert_int_equal(c->n_queries, 1);
    const struct call_query *q = &c->queries[0];
    assert_true(is_relation(q->rel));
    /* the given side is copied from the text before the call */
    const char *given = q->want == CALL_WANT_OBJECT ? q->subj : q->obj;
    assert_non_null(given);
    if (!contains_n(t, b0, given))
        fail_msg("query name '%s' not in the text before the call: %s", given, t);
    call_free(c);

    c = NULL;
    s = call_parse_read(t + b0, b1 - b0, &c);
    if (s != STATUS_OK || c->n_errors != 0 || !c->closed || !c->has_results)
        fail_msg("completed read does not parse cleanly: %.*s", (int)(b1 - b0), t + b0);
    assert_true(c->n_results >= 1);
    for (size_t i = 0; i < c->n_results; i++)
        if (!contains_n(t + b1, n - b1, c->results[i]))
            fail_msg("result '%s' not quoted in the answer: %s", c->results[i], t);
    if (k == K_INLINE) /* the statement goes on with the name read */
        assert_true(starts_with(t + b1, c->results[0]));
    call_free(c);

    if (k == K_QUESTION) {
        assert_true(starts_with(t, "Q: "));
        assert_true(b0 >= 3);
        assert_memory_equal(t + b0 - 3, "\nA:", 3);
        assert_ptr_equal(memchr(t, '\n', n), t + b0 - 3); /* a one-line question */
    } else {
        assert_false(starts_with(t, "Q: "));
        assert_null(memchr(t, '\n', n));
    }
}

static void check_unknown(const struct ex *x)
{
    const char *t = x->a;
    size_t n = x->e.text_len;
    const struct traindata_example *e = &x->e;
    assert_true(starts_with(t, "Q: "));
    assert_true(ends_with(t, n, "\nA: " SYNTH_UNKNOWN_ANSWER));
    assert_null(strstr(t, "({"));
    assert_null(strstr(t, "})"));
    assert_int_equal(e->n_items, 0);
    assert_int_equal(e->n_spans, 1);
    assert_int_equal(e->loss_from, e->spans[0][0]);
    assert_int_equal(e->spans[0][1], n);
    assert_string_equal(t + e->loss_from, " " SYNTH_UNKNOWN_ANSWER);
}

static void check_all(const struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct ex *x = &g->v[i];
        assert_int_equal(x->e.doc, i);
        assert_int_equal(x->e.sent, 0);
        enum kind k = kind_of(x);
        if (k == K_WRITE)
            check_write(x);
        else if (k == K_UNKNOWN)
            check_unknown(x);
        else
            check_read(x, k);
    }
}

/* ---- a small facts file ------------------------------------------------------------------ */

struct facts_fixture {
    char *dir, *path;
    /* subjects and objects used in the file, by whether synth_fact_held_out() marks them */
    char held_s[5][32], held_o[5][32], train_s[5][32], train_o[5][32];
    char bad_s[3][32]; /* subjects of facts the generator must skip (not held out) */
};

static const char *const real_rels[5] = {"capital", "country", "official language", "currency",
                                         "continent"};

/* The next subject name "Qarvex ZumNq" (none a substring of another) with the wanted
 * held-out verdict. */
static void find_subject(bool held, size_t *next, char out[32])
{
    for (;; (*next)++) {
        snprintf(out, 32, "Qarvex Zum%zuq", *next);
        if (synth_fact_held_out(out) == held) {
            (*next)++;
            return;
        }
    }
}

static void facts_fixture_make(struct facts_fixture *fx)
{
    fx->dir = test_tmpdir();
    fx->path = malloc(4200);
    assert_non_null(fx->path);
    snprintf(fx->path, 4200, "%s/facts.tsv", fx->dir);
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    fputs("# test facts\n\n", f);
    size_t next = 0;
    for (size_t i = 0; i < 5; i++) {
        find_subject(true, &next, fx->held_s[i]);
        find_subject(false, &next, fx->train_s[i]);
        snprintf(fx->held_o[i], 32, "Wopplex Held%zu", i);
        snprintf(fx->train_o[i], 32, "Wopplex Train%zu", i);
        fprintf(f, "%s\t%s\t%s\n", fx->held_s[i], real_rels[i], fx->held_o[i]);
        fprintf(f, "%s\t%s\t%s\r\n", fx->train_s[i], real_rels[i], fx->train_o[i]);
    }
    /* facts the generator cannot use: an unknown relation, a subject equal to its object,
     * a name the call protocol cannot carry */
    find_subject(false, &next, fx->bad_s[0]);
    find_subject(false, &next, fx->bad_s[1]);
    find_subject(false, &next, fx->bad_s[2]);
    fprintf(f, "%s\tnot a relation\tWopplex Bad0\n", fx->bad_s[0]);
    fprintf(f, "%s\tcapital\t%s\n", fx->bad_s[1], fx->bad_s[1]);
    fprintf(f, "%s\tcapital\tWopplex;Bad2\n", fx->bad_s[2]);
    assert_int_equal(fclose(f), 0);
}

static void facts_fixture_free(struct facts_fixture *fx)
{
    free(fx->path);
    test_rmtree(fx->dir);
}

static bool got_mentions(const struct got *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (strstr(g->v[i].a, name) || (g->v[i].b && strstr(g->v[i].b, name)))
            return true;
    return false;
}

/* ---- tests: generation -------------------------------------------------------------------- */

static void test_synth_generate_same_seed_same_examples(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 400;
    p.seed = 7;
    struct got a, b, c;
    generate(&p, NULL, &a);
    generate(&p, NULL, &b);
    assert_true(same_examples(&a, &b));
    p.seed = 8;
    generate(&p, NULL, &c);
    assert_false(same_examples(&a, &c));
    /* not merely shifted: most texts differ */
    size_t same = 0;
    for (size_t i = 0; i < a.n; i++)
        same += strcmp(a.v[i].a, c.v[i].a) == 0;
    assert_true(same < a.n / 10);
    got_free(&a);
    got_free(&b);
    got_free(&c);
}

static void test_synth_generate_defaults_well_formed(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 5000;
    p.seed = 3;
    struct got g;
    generate(&p, NULL, &g);
    check_all(&g);
    size_t n[K_N];
    count_kinds(&g, n);
    double N = (double)g.n;
    /* 5000 examples: a standard error of at most 0.7 points; allow 3 points */
    assert_true(fabs(n[K_WRITE] / N - p.write_share) < 0.03);
    assert_true(fabs(n[K_UNKNOWN] / N - p.unknown_share) < 0.03);
    assert_true(fabs(n[K_INLINE] / N - p.inline_share) < 0.03);
    assert_true(fabs(n[K_QUESTION] / N -
                     (1 - p.write_share - p.unknown_share - p.inline_share)) < 0.03);
    /* the write sub-kinds: empty writes (no-fact sentences and a quarter of the lone
     * questions), two-fact sentences, question + "It is or they are" pairs */
    size_t empty = 0, two = 0, qa = 0, ctx = 0, reverse = 0, questions = 0, multi = 0;
    for (size_t i = 0; i < g.n; i++) {
        const struct ex *x = &g.v[i];
        enum kind k = kind_of(x);
        if (k == K_WRITE) {
            empty += x->e.n_items == 0;
            two += x->e.n_items == 2;
            qa += strstr(x->a, CALL_USER_ST "It is or they are \"") != NULL;
            ctx += !starts_with(x->a, CALL_USER_ST);
        } else if (k == K_QUESTION) {
            questions++;
            reverse += starts_with(x->a + x->e.loss_from, CALL_READ_PREFIX ">>");
            multi += contains_n(x->a + x->e.spans[0][1], x->e.spans[1][0] - x->e.spans[0][1],
                                ";");
        }
    }
    double W = (double)n[K_WRITE];
    assert_true(fabs(empty / W - (p.nofact_share + p.qa_share * 0.25)) < 0.04);
    assert_true(fabs(qa / W - p.qa_share * 0.75) < 0.04);
    assert_true(two > 0 && two / W < p.two_share + 0.03);
    assert_true(ctx > 0 && ctx < n[K_WRITE]);
    assert_true(reverse > 0 && reverse / (double)questions < p.reverse_share + 0.04);
    assert_true(multi > 0); /* some subject-missing reads give several subjects */
    got_free(&g);
}

static void test_synth_generate_follows_shares(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 3000;
    p.write_share = 0.2;
    p.unknown_share = 0.3;
    p.inline_share = 0.1;
    p.context_share = 0;
    p.qa_share = 0;
    p.nofact_share = 0.5;
    p.two_share = 0;
    p.reverse_share = 0;
    struct got g;
    generate(&p, NULL, &g);
    check_all(&g);
    size_t n[K_N];
    count_kinds(&g, n);
    double N = (double)g.n;
    assert_true(fabs(n[K_WRITE] / N - 0.2) < 0.03);
    assert_true(fabs(n[K_UNKNOWN] / N - 0.3) < 0.03);
    assert_true(fabs(n[K_INLINE] / N - 0.1) < 0.03);
    assert_true(fabs(n[K_QUESTION] / N - 0.4) < 0.03);
    size_t empty = 0;
    for (size_t i = 0; i < g.n; i++) {
        const struct ex *x = &g.v[i];
        if (kind_of(x) == K_WRITE) {
            empty += x->e.n_items == 0;
            assert_true(x->e.n_items <= 1);                /* two_share 0 */
            assert_true(starts_with(x->a, CALL_USER_ST)); /* no context, no question */
        } else if (kind_of(x) == K_QUESTION) {           /* reverse_share 0 */
            assert_false(starts_with(x->a + x->e.loss_from, CALL_READ_PREFIX ">>"));
        }
    }
    assert_true(fabs(empty / (double)n[K_WRITE] - 0.5) < 0.06);
    got_free(&g);

    /* only writes, every one with a context sentence and two facts where it can */
    synth_params_init(&p);
    p.n_examples = 500;
    p.write_share = 1;
    p.unknown_share = 0;
    p.inline_share = 0;
    p.context_share = 1;
    p.nofact_share = 0;
    p.qa_share = 0;
    p.two_share = 1;
    generate(&p, NULL, &g);
    check_all(&g);
    count_kinds(&g, n);
    assert_int_equal(n[K_WRITE], g.n);
    size_t two = 0;
    for (size_t i = 0; i < g.n; i++) {
        assert_false(starts_with(g.v[i].a, CALL_USER_ST));
        assert_true(g.v[i].e.n_items >= 1);
        two += g.v[i].e.n_items == 2;
    }
    assert_true(two > g.n / 4);
    got_free(&g);

    /* no writes at all: question reads only */
    synth_params_init(&p);
    p.n_examples = 300;
    p.write_share = 0;
    p.unknown_share = 0;
    p.inline_share = 0;
    generate(&p, NULL, &g);
    check_all(&g);
    count_kinds(&g, n);
    assert_int_equal(n[K_QUESTION], g.n);
    got_free(&g);
}

static void test_synth_generate_zero_examples(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 0;
    struct got g;
    generate(&p, NULL, &g);
    assert_int_equal(g.n, 0);
    got_free(&g);
}

static void test_synth_generate_rejects_bad_shares(void **state)
{
    (void)state;
    struct synth_params p;
    const double bad[] = {-0.01, 1.01, NAN, INFINITY};
    for (size_t f = 0; f < 10; f++) { /* each of the ten shares */
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            synth_params_init(&p);
            p.n_examples = 10;
            double *v[] = {&p.write_share,   &p.unknown_share, &p.inline_share, &p.real_share,
                           &p.edited_share,  &p.context_share, &p.nofact_share, &p.two_share,
                           &p.qa_share,      &p.reverse_share};
            *v[f] = bad[b];
            struct got g = {0};
            status_detail_clear();
            assert_int_equal(synth_generate(&p, NULL, collect, &g), STATUS_INVALID);
            assert_int_equal(g.n, 0);
            assert_true(status_detail()[0] != '\0');
            got_free(&g);
        }
    }
    /* shares that add up to more than 1 */
    struct got g = {0};
    synth_params_init(&p);
    p.write_share = 0.6;
    p.inline_share = 0.5;
    assert_int_equal(synth_generate(&p, NULL, collect, &g), STATUS_INVALID);
    synth_params_init(&p);
    p.nofact_share = 0.5;
    p.qa_share = 0.3;
    p.two_share = 0.3;
    assert_int_equal(synth_generate(&p, NULL, collect, &g), STATUS_INVALID);
    assert_int_equal(g.n, 0);
    /* the edges themselves are fine */
    synth_params_init(&p);
    p.n_examples = 20;
    p.real_share = 1;
    p.edited_share = 0;
    p.reverse_share = 1;
    p.write_share = 0.5;
    p.unknown_share = 0.5;
    p.inline_share = 0;
    generate(&p, NULL, &g);
    got_free(&g);
}

static void test_synth_generate_stops_on_sink_status(void **state)
{
    (void)state;
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 100;
    struct got g = {0};
    g.stop_after = 3;
    assert_int_equal(synth_generate(&p, NULL, collect, &g), STATUS_IO);
    assert_int_equal(g.n, 3);
    got_free(&g);
}

static void test_synth_relations_are_protocol_names(void **state)
{
    (void)state;
    size_t n = synth_n_relations();
    assert_true(n >= 5);
    for (size_t i = 0; i < n; i++) {
        const char *r = synth_relation_name(i);
        assert_non_null(r);
        assert_int_equal(call_name_check(r, strlen(r), NULL), CALL_ERR_NONE);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(r, synth_relation_name(j));
    }
    assert_null(synth_relation_name(n));
    /* the relations of the seed facts are among them */
    for (size_t i = 0; i < 5; i++)
        assert_true(is_relation(real_rels[i]));
}

static void test_synth_held_out_is_a_fifth(void **state)
{
    (void)state;
    size_t held = 0, n = 20000;
    char s[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(s, sizeof s, "Subject number %zu", i);
        bool h = synth_fact_held_out(s);
        assert_int_equal(h, synth_fact_held_out(s)); /* a function of the name */
        held += h;
    }
    assert_true(fabs(held / (double)n - 0.2) < 0.02);
}

static void test_synth_generate_skips_held_out_facts(void **state)
{
    (void)state;
    struct facts_fixture fx;
    facts_fixture_make(&fx);
    struct synth_facts *f = NULL;
    if (synth_facts_read(fx.path, &f) != STATUS_OK)
        fail_msg("synth_facts_read: %s", status_detail());
    assert_int_equal(synth_facts_count(f), 13);
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 3000;
    p.real_share = 1;
    struct got g;
    generate(&p, f, &g);
    check_all(&g);
    for (size_t i = 0; i < 5; i++) {
        if (got_mentions(&g, fx.held_s[i]) || got_mentions(&g, fx.held_o[i]))
            fail_msg("held-out fact %s (%s) used for training", fx.held_s[i], real_rels[i]);
        if (!got_mentions(&g, fx.train_s[i]))
            fail_msg("training fact %s (%s) never used", fx.train_s[i], real_rels[i]);
        /* the CRLF line's object comes without its '\r' */
        assert_true(got_mentions(&g, fx.train_o[i]));
    }
    for (size_t i = 0; i < 3; i++)
        if (got_mentions(&g, fx.bad_s[i]))
            fail_msg("unusable fact %s used", fx.bad_s[i]);
    assert_false(got_mentions(&g, "\r"));
    assert_false(got_mentions(&g, "Wopplex Bad"));
    got_free(&g);

    /* real_share 0: no seed fact at all */
    p.real_share = 0;
    p.n_examples = 1000;
    struct got h, none;
    generate(&p, f, &h);
    check_all(&h);
    assert_false(got_mentions(&h, "Qarvex"));
    assert_false(got_mentions(&h, "Wopplex"));
    got_free(&h);

    /* facts and seed fixed: deterministic too */
    p.real_share = 0.5;
    generate(&p, f, &h);
    generate(&p, f, &none);
    assert_true(same_examples(&h, &none));
    got_free(&h);
    got_free(&none);
    synth_facts_free(f);
    facts_fixture_free(&fx);
}

/* ---- tests: the facts reader --------------------------------------------------------------- */

static char *write_file_n(const char *dir, const char *name, const char *content, size_t n)
{
    char *path = malloc(4200);
    assert_non_null(path);
    snprintf(path, 4200, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static char *write_file(const char *dir, const char *name, const char *content)
{
    return write_file_n(dir, name, content, strlen(content));
}

static void test_synth_facts_read_accepts_comments_blank_lines_crlf(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *path = write_file(dir, "ok.tsv",
                            "# comment\r\n\r\n\nFrance\tcapital\tParis\r\n# another\n"
                            "Peru\tcurrency\tsol (money)\n\n"
                            "Bad Name\tofficial language\tLast line, no newline");
    struct synth_facts *f = NULL;
    assert_int_equal(synth_facts_read(path, &f), STATUS_OK);
    assert_int_equal(synth_facts_count(f), 3);
    const struct synth_fact *a = synth_facts_get(f, 0), *b = synth_facts_get(f, 1),
                            *c = synth_facts_get(f, 2);
    assert_string_equal(a->s, "France");
    assert_string_equal(a->r, "capital");
    assert_string_equal(a->o, "Paris");
    assert_string_equal(b->s, "Peru");
    assert_string_equal(b->r, "currency");
    assert_string_equal(b->o, "sol (money)");
    assert_string_equal(c->s, "Bad Name");
    assert_string_equal(c->o, "Last line, no newline");
    assert_null(synth_facts_get(f, 3));
    synth_facts_free(f);
    free(path);

    /* an empty file and a file of comments only hold no facts */
    path = write_file(dir, "empty.tsv", "");
    f = NULL;
    assert_int_equal(synth_facts_read(path, &f), STATUS_OK);
    assert_int_equal(synth_facts_count(f), 0);
    assert_null(synth_facts_get(f, 0));
    synth_facts_free(f);
    free(path);
    path = write_file(dir, "comments.tsv", "# a\n#b\tc\td\n\n");
    f = NULL;
    assert_int_equal(synth_facts_read(path, &f), STATUS_OK);
    assert_int_equal(synth_facts_count(f), 0);
    synth_facts_free(f);
    free(path);

    assert_int_equal(synth_facts_count(NULL), 0);
    assert_null(synth_facts_get(NULL, 0));
    synth_facts_free(NULL);
    test_rmtree(dir);
}

static void expect_format_error_n(const char *dir, const char *name, const char *content,
                                  size_t len, size_t line)
{
    char *path = write_file_n(dir, name, content, len);
    struct synth_facts *f = (struct synth_facts *)(uintptr_t)1; /* must stay untouched */
    status_detail_clear();
    enum status st = synth_facts_read(path, &f);
    if (st != STATUS_FORMAT)
        fail_msg("%s: %s, expected STATUS_FORMAT", name, status_str(st));
    assert_ptr_equal(f, (struct synth_facts *)(uintptr_t)1);
    char want[4300];
    snprintf(want, sizeof want, "%s:%zu", path, line);
    if (!strstr(status_detail(), want))
        fail_msg("detail '%s' does not name '%s'", status_detail(), want);
    free(path);
}

static void expect_format_error(const char *dir, const char *name, const char *content,
                                size_t line)
{
    expect_format_error_n(dir, name, content, strlen(content), line);
}

static void test_synth_facts_read_errors(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-facts.tsv", dir);
    struct synth_facts *f = NULL;
    status_detail_clear();
    assert_int_equal(synth_facts_read(missing, &f), STATUS_IO);
    assert_null(f);
    assert_non_null(strstr(status_detail(), missing));
    /* a directory cannot be read as a file either */
    assert_int_equal(synth_facts_read(dir, &f), STATUS_IO);
    assert_null(f);

    expect_format_error(dir, "two.tsv", "# x\nA\tcapital\tB\nC\tcapital\n", 3);
    expect_format_error(dir, "one.tsv", "just one field\n", 1);
    expect_format_error(dir, "four.tsv", "A\tcapital\tB\n\nA\tb\tc\td\n", 3);
    expect_format_error(dir, "empty-s.tsv", "\tcapital\tB\n", 1);
    expect_format_error(dir, "empty-r.tsv", "A\tcapital\tB\r\nA\t\tB\r\n", 2);
    expect_format_error(dir, "empty-o.tsv", "A\tcapital\t\n", 1);
    expect_format_error(dir, "empty-o-crlf.tsv", "A\tcapital\t\r\n", 1);
    /* a NUL byte is no text: it must not end the file early, dropping the facts after it */
    static const char nul[] = "A\tcapital\tB\nC\tcapital\tD\0junk\nE\tcapital\tF\n";
    expect_format_error_n(dir, "nul.tsv", nul, sizeof nul - 1, 2);
    static const char nul2[] = "# x\n\0\nE\tcapital\tF\n";
    expect_format_error_n(dir, "nul2.tsv", nul2, sizeof nul2 - 1, 2);
    test_rmtree(dir);
}

/* ---- tests: ZsRE records -------------------------------------------------------------------- */

static const char *const zsre_keys[6] = {"src", "alt", "rephrase", "loc", "loc_ans", "subject"};

struct zsre_rec {
    char *v[6];
};

/* Write n records and parse them back (all six keys, non-empty strings). */
static size_t zsre_read_back(uint64_t seed, size_t n, const struct synth_facts *facts,
                             struct zsre_rec *out, char **raw)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    enum status st = synth_zsre_write(seed, n, facts, f);
    assert_int_equal(fclose(f), 0);
    if (st != STATUS_OK)
        fail_msg("synth_zsre_write: %s: %s", status_str(st), status_detail());
    /* a JSON array (what `memllm eval edit` reads), one record per line */
    struct json_doc *d = NULL;
    if (json_parse(buf, len, &d) != STATUS_OK)
        fail_msg("not JSON: %s", buf);
    const struct json_value *arr = json_doc_root(d);
    assert_int_equal(json_kind(arr), JSON_ARRAY);
    size_t k = json_len(arr), lines = 0;
    assert_true(k <= n);
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, k + 2);
    for (size_t j = 0; j < k; j++) {
        const struct json_value *root = json_at(arr, j);
        assert_int_equal(json_kind(root), JSON_OBJECT);
        assert_int_equal(json_len(root), 6);
        for (size_t i = 0; i < 6; i++) {
            size_t sl = 0;
            const char *s = json_str(json_get(root, zsre_keys[i]), &sl);
            if (!s || sl == 0)
                fail_msg("record %zu: '%s' missing or empty", j, zsre_keys[i]);
            out[j].v[i] = strndup(s, sl);
            assert_non_null(out[j].v[i]);
        }
    }
    json_doc_free(d);
    if (raw)
        *raw = buf;
    else
        free(buf);
    return k;
}

static void zsre_free(struct zsre_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 6; j++)
            free(r[i].v[j]);
}

enum { Z_SRC, Z_ALT, Z_REPH, Z_LOC, Z_LOC_ANS, Z_SUBJ };

static void test_synth_zsre_records(void **state)
{
    (void)state;
    enum { N = 120 };
    struct zsre_rec r[N];
    char *raw1 = NULL, *raw2 = NULL, *raw3 = NULL;
    assert_int_equal(zsre_read_back(5, N, NULL, r, &raw1), N);
    for (size_t i = 0; i < N; i++) {
        const char *const *v = (const char *const *)r[i].v;
        if (!strstr(v[Z_SRC], v[Z_SUBJ]) || !strstr(v[Z_REPH], v[Z_SUBJ]))
            fail_msg("record %zu: question without its subject: %s / %s", i, v[Z_SRC],
                     v[Z_REPH]);
        assert_string_not_equal(v[Z_SRC], v[Z_REPH]);
        assert_string_not_equal(v[Z_ALT], v[Z_SUBJ]);
        assert_true(ends_with(v[Z_SRC], strlen(v[Z_SRC]), "?") ||
                    ends_with(v[Z_SRC], strlen(v[Z_SRC]), "."));
        assert_null(strchr(v[Z_SRC], '\n'));
    }
    zsre_free(r, N);
    /* deterministic in the seed */
    struct zsre_rec r2[N];
    assert_int_equal(zsre_read_back(5, N, NULL, r2, &raw2), N);
    assert_string_equal(raw1, raw2);
    zsre_free(r2, N);
    assert_int_equal(zsre_read_back(6, N, NULL, r2, &raw3), N);
    assert_string_not_equal(raw1, raw3);
    zsre_free(r2, N);
    free(raw1);
    free(raw2);
    free(raw3);
    /* n = 0 writes nothing */
    assert_int_equal(zsre_read_back(5, 0, NULL, r2, NULL), 0);
}

/* Rephrasings are held out: no record's rephrase is a training question, i.e. none of the
 * questions the generator puts into its examples (checked by the question's shape with the
 * subject cut out). */
static void test_synth_zsre_rephrase_not_a_training_question(void **state)
{
    (void)state;
    enum { N = 200 };
    struct zsre_rec r[N];
    assert_int_equal(zsre_read_back(9, N, NULL, r, NULL), N);
    /* the training question shapes: "Q: " + question + "\nA:" with the query name cut */
    struct synth_params p;
    synth_params_init(&p);
    p.n_examples = 4000;
    p.write_share = 0;
    p.unknown_share = 0;
    p.inline_share = 0;
    p.reverse_share = 0;
    struct got g;
    generate(&p, NULL, &g);
    size_t cap = 64, n_shapes = 0;
    char **shapes = malloc(cap * sizeof *shapes);
    assert_non_null(shapes);
    for (size_t i = 0; i < g.n; i++) {
        /* the question lies between "Q: " and "\n", its subject is what the call queries */
        assert_int_equal(kind_of(&g.v[i]), K_QUESTION);
        const char *q = g.v[i].a + 3, *nl = strchr(q, '\n');
        assert_non_null(nl);
        const char *call = g.v[i].a + g.v[i].e.loss_from + strlen(CALL_READ_PREFIX);
        const char *gt = strstr(call, ">>");
        assert_non_null(gt);
        char subj[256];
        snprintf(subj, sizeof subj, "%.*s", (int)(gt - call), call);
        const char *at = strstr(q, subj);
        assert_true(at && at < nl);
        char shape[512];
        snprintf(shape, sizeof shape, "%.*s{s}%.*s", (int)(at - q), q,
                 (int)(nl - at - strlen(subj)), at + strlen(subj));
        bool seen = false;
        for (size_t k = 0; k < n_shapes && !seen; k++)
            seen = strcmp(shapes[k], shape) == 0;
        if (!seen) {
            if (n_shapes == cap) {
                cap *= 2;
                shapes = realloc(shapes, cap * sizeof *shapes);
                assert_non_null(shapes);
            }
            shapes[n_shapes++] = strdup(shape);
        }
    }
    assert_true(n_shapes > 20);
    for (size_t i = 0; i < N; i++) {
        const char *subj = r[i].v[Z_SUBJ];
        /* src is asked in a training phrasing (which also shows the shapes are right),
         * rephrase in a held-out one */
        for (size_t which = 0; which < 2; which++) {
            const char *q = r[i].v[which ? Z_REPH : Z_SRC];
            const char *at = strstr(q, subj);
            assert_non_null(at);
            char shape[512];
            snprintf(shape, sizeof shape, "%.*s{s}%s", (int)(at - q), q, at + strlen(subj));
            bool seen = false;
            for (size_t k = 0; k < n_shapes && !seen; k++)
                seen = strcmp(shapes[k], shape) == 0;
            if (which == 0 && !seen)
                fail_msg("src '%s' is in no training phrasing", q);
            if (which == 1 && seen)
                fail_msg("rephrase '%s' is a training question", q);
        }
    }
    for (size_t k = 0; k < n_shapes; k++)
        free(shapes[k]);
    free(shapes);
    got_free(&g);
    zsre_free(r, N);
}

static void test_synth_zsre_uses_held_out_facts_only(void **state)
{
    (void)state;
    struct facts_fixture fx;
    facts_fixture_make(&fx);
    struct synth_facts *f = NULL;
    assert_int_equal(synth_facts_read(fx.path, &f), STATUS_OK);
    enum { N = 400 };
    struct zsre_rec *r = calloc(N, sizeof *r);
    assert_non_null(r);
    assert_int_equal(zsre_read_back(2, N, f, r, NULL), N);
    size_t real = 0;
    for (size_t i = 0; i < N; i++) {
        const char *const *v = (const char *const *)r[i].v;
        /* the locality question is always a held-out real fact, with its true answer */
        bool loc_ok = false;
        for (size_t k = 0; k < 5 && !loc_ok; k++)
            loc_ok = strstr(v[Z_LOC], fx.held_s[k]) && strcmp(v[Z_LOC_ANS], fx.held_o[k]) == 0;
        if (!loc_ok)
            fail_msg("record %zu: locality '%s' -> '%s' is no held-out fact", i, v[Z_LOC],
                     v[Z_LOC_ANS]);
        /* an edited real fact gets a new answer different from the true one */
        for (size_t k = 0; k < 5; k++) {
            if (strcmp(v[Z_SUBJ], fx.held_s[k]) != 0)
                continue;
            real++;
            if (strcmp(v[Z_ALT], fx.held_o[k]) == 0)
                fail_msg("record %zu: the new answer for %s is its true answer '%s'", i,
                         fx.held_s[k], v[Z_ALT]);
        }
        /* training facts never leak into evaluation records */
        for (size_t j = 0; j < 6; j++)
            for (size_t k = 0; k < 5; k++)
                if (strstr(v[j], fx.train_s[k]) || strstr(v[j], fx.train_o[k]))
                    fail_msg("record %zu uses the training fact of %s", i, fx.train_s[k]);
    }
    assert_int_equal(real, N / 4); /* every fourth record */
    zsre_free(r, N);
    free(r);
    synth_facts_free(f);
    facts_fixture_free(&fx);
}

/* With only continent facts held out, the "changed" answer is drawn from a handful of real
 * continents: it must still differ from the true one. */
static void test_synth_zsre_changed_answer_differs(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/continents.tsv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char *const cont[] = {"Africa", "Asia", "Europe", "Oceania"};
    size_t next = 0;
    char subj[4][32];
    for (size_t i = 0; i < 4; i++) {
        find_subject(true, &next, subj[i]);
        fprintf(f, "%s\tcontinent\t%s\n", subj[i], cont[i]);
    }
    assert_int_equal(fclose(f), 0);
    struct synth_facts *facts = NULL;
    assert_int_equal(synth_facts_read(path, &facts), STATUS_OK);
    enum { N = 400 };
    struct zsre_rec *r = calloc(N, sizeof *r);
    assert_non_null(r);
    assert_int_equal(zsre_read_back(4, N, facts, r, NULL), N);
    size_t edited = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < 4; k++)
            if (strcmp(r[i].v[Z_SUBJ], subj[k]) == 0) {
                edited++;
                if (strcmp(r[i].v[Z_ALT], cont[k]) == 0)
                    fail_msg("record %zu: new answer for %s equals the true '%s'", i, subj[k],
                             cont[k]);
            }
    assert_int_equal(edited, N / 4);
    zsre_free(r, N);
    free(r);
    synth_facts_free(facts);
    test_rmtree(dir);
}

/* ---- Re-DocRED-format documents ---------------------------------------------------------- */

static size_t jnum(const struct json_value *v)
{
    double x = -1;
    assert_true(json_num(v, &x));
    assert_true(x >= 0 && x < 1e9);
    return (size_t)x;
}

static char *docred_text(uint64_t seed, size_t n, size_t *len)
{
    char *buf = NULL;
    size_t l = 0;
    FILE *f = open_memstream(&buf, &l);
    assert_non_null(f);
    enum status st = synth_docred_write(seed, n, f);
    assert_int_equal(fclose(f), 0);
    if (st != STATUS_OK)
        fail_msg("synth_docred_write: %s: %s", status_str(st), status_detail());
    *len = l;
    return buf;
}

static void test_synth_docred_documents(void **state)
{
    (void)state;
    size_t len = 0, len2 = 0;
    char *buf = docred_text(1, 300, &len);
    char *again = docred_text(1, 300, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, again, len); /* deterministic */
    free(again);
    struct json_doc *d = NULL;
    assert_int_equal(json_parse(buf, len, &d), STATUS_OK);
    const struct json_value *root = json_doc_root(d);
    assert_int_equal(json_kind(root), JSON_ARRAY);
    assert_int_equal(json_len(root), 300);
    size_t labels = 0;
    for (size_t i = 0; i < json_len(root); i++) {
        const struct json_value *doc = json_at(root, i);
        const struct json_value *sents = json_get(doc, "sents");
        const struct json_value *vs = json_get(doc, "vertexSet");
        const struct json_value *lb = json_get(doc, "labels");
        assert_true(json_len(lb) >= 1 && json_len(lb) <= 4);
        assert_true(json_len(sents) >= json_len(lb));
        assert_int_equal(json_len(vs), json_len(lb) + 1);
        /* every mention's tokens spell its entity's name */
        size_t first_sent[8], first_pos[8];
        for (size_t e = 0; e < json_len(vs); e++) {
            const struct json_value *ms = json_at(vs, e);
            assert_true(json_len(ms) >= 1);
            first_sent[e] = first_pos[e] = SIZE_MAX;
            for (size_t k = 0; k < json_len(ms); k++) {
                const struct json_value *m = json_at(ms, k);
                size_t nl = 0;
                const char *name = json_str(json_get(m, "name"), &nl);
                size_t sid = jnum(json_get(m, "sent_id"));
                const struct json_value *pos = json_get(m, "pos");
                size_t b = jnum(json_at(pos, 0)), en = jnum(json_at(pos, 1));
                const struct json_value *toks = json_at(sents, sid);
                assert_true(b < en && en <= json_len(toks));
                char joined[512] = "";
                for (size_t t = b; t < en; t++) {
                    size_t tl = 0;
                    const char *tk = json_str(json_at(toks, t), &tl);
                    assert_true(tl > 0 && !strchr(tk, ' '));
                    if (t > b)
                        strcat(joined, " ");
                    strncat(joined, tk, tl);
                }
                assert_int_equal(strlen(joined), nl);
                assert_memory_equal(joined, name, nl);
                if (sid < first_sent[e] || (sid == first_sent[e] && b < first_pos[e]))
                    first_sent[e] = sid, first_pos[e] = b;
            }
        }
        /* labels link the subject (entity 0) to an object first mentioned after it */
        for (size_t l = 0; l < json_len(lb); l++) {
            const struct json_value *x = json_at(lb, l);
            size_t h = jnum(json_get(x, "h")), t = jnum(json_get(x, "t"));
            size_t rl = 0;
            const char *r = json_str(json_get(x, "r"), &rl);
            assert_int_equal(h, 0);
            assert_true(t >= 1 && t < json_len(vs));
            bool known = false;
            for (size_t k = 0; k < synth_n_relations(); k++)
                known = known || (strlen(synth_relation_name(k)) == rl &&
                                  memcmp(synth_relation_name(k), r, rl) == 0);
            assert_true(known);
            assert_true(first_sent[0] < first_sent[t] ||
                        (first_sent[0] == first_sent[t] && first_pos[0] < first_pos[t]));
            labels++;
        }
    }
    json_doc_free(d);
    /* the evaluation reads it as Re-DocRED */
    struct eval_docs *ed = NULL;
    assert_int_equal(eval_docs_load(buf, len, NULL, 0, &ed), STATUS_OK);
    assert_int_equal(eval_docs_count(ed), 300);
    size_t ev_labels = 0;
    for (size_t i = 0; i < 300; i++)
        ev_labels += eval_doc_n_labels(ed, i);
    assert_int_equal(ev_labels, labels);
    eval_docs_free(ed);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_generate_same_seed_same_examples),
        cmocka_unit_test(test_synth_generate_defaults_well_formed),
        cmocka_unit_test(test_synth_generate_follows_shares),
        cmocka_unit_test(test_synth_generate_zero_examples),
        cmocka_unit_test(test_synth_generate_rejects_bad_shares),
        cmocka_unit_test(test_synth_generate_stops_on_sink_status),
        cmocka_unit_test(test_synth_relations_are_protocol_names),
        cmocka_unit_test(test_synth_held_out_is_a_fifth),
        cmocka_unit_test(test_synth_generate_skips_held_out_facts),
        cmocka_unit_test(test_synth_facts_read_accepts_comments_blank_lines_crlf),
        cmocka_unit_test(test_synth_facts_read_errors),
        cmocka_unit_test(test_synth_zsre_records),
        cmocka_unit_test(test_synth_zsre_rephrase_not_a_training_question),
        cmocka_unit_test(test_synth_zsre_uses_held_out_facts_only),
        cmocka_unit_test(test_synth_zsre_changed_answer_differs),
        cmocka_unit_test(test_synth_docred_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
