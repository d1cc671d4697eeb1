/* test_eval.c -- tests of the evaluation metrics and loops (src/agent/eval.c): name
 * normalization, mention matching, per-relation tallies, REL/GEN/LOC counting, perplexity
 * arithmetic, and the write/edit loops driven by a scripted fake backend.  Expected numbers
 * are worked out by hand in the comments. */
#include "config.h"

#include "test_util.h"

#include <math.h>

#include "agent/eval.h"
#include "agent/traindata.h"
#include "engine/gguf.h"
#include "engine/tok.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

/* tests/data/<name> under $top_srcdir (set by make check), else TEST_SRCDIR. */
static const char *data_path(const char *name)
{
    static char p[4][4096];
    static int k;
    const char *src = getenv("top_srcdir");
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/tests/data/%s", src && src[0] ? src : TEST_SRCDIR, name);
    return p[k];
}

static struct eval_docs *load_tiny(void)
{
    struct eval_docs *d = NULL;
    enum status st = eval_docs_open(data_path("redocred-tiny.json"),
                                    data_path("rel_info-tiny.json"), &d);
    if (st != STATUS_OK)
        fprintf(stderr, "eval_docs_open: %s: %s\n", status_str(st), status_detail());
    assert_int_equal(st, STATUS_OK);
    return d;
}

static void assert_norm(const char *in, const char *want)
{
    char *out = NULL;
    assert_int_equal(eval_norm(in, strlen(in), &out), STATUS_OK);
    assert_string_equal(out, want);
    free(out);
}

/* ---- names ------------------------------------------------------------------------------ */

static void test_eval_norm_folds_case_and_whitespace(void **state)
{
    (void)state;
    assert_norm("  Glenda\t\n ADAMS  ", "glenda adams");
    assert_norm("", "");
    assert_norm(" \t ", "");
    /* "ÉCOLE<NBSP>Ñ" */
    assert_norm("\xc3\x89" "COLE\xc2\xa0" "\xc3\x91", "\xc3\xa9" "cole " "\xc3\xb1");
    assert_norm("\xce\x91\xce\x92", "\xce\xb1\xce\xb2");                             /* ΑΒ */
    assert_norm("\xd0\x9c\xd0\xbe\xd1\x81", "\xd0\xbc\xd0\xbe\xd1\x81");             /* Мос */
    assert_norm("\xc5\x81\xc3\xb3" "d\xc5\xba", "\xc5\x82\xc3\xb3" "d\xc5\xba");     /* Łódź */
    assert_norm("a\xff" "B", "a\xff" "b"); /* an invalid byte is kept */
}

static void test_eval_contains_ci(void **state)
{
    (void)state;
    assert_true(eval_contains_ci("The answer is PETER carey.", "Peter Carey"));
    assert_false(eval_contains_ci("The answer is Peter", "Peter Carey"));
    assert_false(eval_contains_ci("peter carey", "Peter  Carey")); /* spaces are kept */
    assert_true(eval_contains_ci("anything", ""));
    assert_true(eval_contains_ci("\xc3\x89" "cole", "\xc3\xa9" "COLE"));
}

/* ---- documents -------------------------------------------------------------------------- */

static void test_eval_docs_load_text_and_labels(void **state)
{
    (void)state;
    struct eval_docs *d = load_tiny();
    assert_int_equal(eval_docs_count(d), 3);
    assert_string_equal(eval_doc_title(d, 0), "Dancing on Coral");
    size_t len;
    const char *t = eval_doc_text(d, 0, &len);
    assert_string_equal(t, "Dancing on Coral is a novel by Glenda Adams . Adams was born in "
                           "Sydney . The novel won a prize in 1988 .");
    assert_int_equal(len, strlen(t));
    assert_int_equal(eval_doc_n_labels(d, 0), 3);
    assert_int_equal(eval_doc_n_labels(d, 1), 6); /* 7 labels, one repeated */
    assert_int_equal(eval_doc_n_labels(d, 2), 4);
    eval_docs_truncate(d, 1);
    assert_int_equal(eval_docs_count(d), 1);
    eval_docs_free(d);
}

static void test_eval_docs_load_rejects_bad_pos(void **state)
{
    (void)state;
    const char *js = "[{\"title\":\"x\",\"sents\":[[\"a\",\"b\"]],\"vertexSet\":[[{\"name\":\"a\","
                     "\"sent_id\":0,\"pos\":[1,3]}]],\"labels\":[]}]";
    struct eval_docs *d = NULL;
    assert_int_equal(eval_docs_load(js, strlen(js), NULL, 0, &d), STATUS_FORMAT);
    assert_null(d);
    assert_non_null(strstr(status_detail(), "document 1"));
    assert_int_equal(eval_docs_load("[", 1, NULL, 0, &d), STATUS_PARSE);
    const char *lab = "[{\"title\":\"x\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,"
                      "\"pos\":[0,1]}]],\"labels\":[{\"r\":\"P1\",\"h\":0,\"t\":1}]}]";
    assert_int_equal(eval_docs_load(lab, strlen(lab), NULL, 0, &d), STATUS_FORMAT);
}

/* Relation names from relations.tsv text; an id the map lacks stays its own name. */
static void test_eval_docs_relation_names_from_tsv(void **state)
{
    (void)state;
    const char *js = "[{\"title\":\"x\",\"sents\":[[\"A\",\"B\",\"C\"]],\"vertexSet\":["
                     "[{\"sent_id\":0,\"pos\":[0,1]}],[{\"sent_id\":0,\"pos\":[1,2]}],"
                     "[{\"sent_id\":0,\"pos\":[2,3]}]],\"labels\":[{\"r\":\"P50\",\"h\":0,"
                     "\"t\":1},{\"r\":\"P577\",\"h\":0,\"t\":2}]}]";
    const char *tsv = "# relations\nP50\tauthor\t0\nP19\tplace of birth\t1\n";
    struct eval_docs *d = NULL;
    assert_int_equal(eval_docs_load(js, strlen(js), tsv, strlen(tsv), &d), STATUS_OK);
    struct eval_write_score *s;
    assert_int_equal(eval_write_score_new(&s), STATUS_OK);
    struct eval_triple t = {"a", "author", "b"};
    assert_int_equal(eval_write_score_doc(s, d, 0, &t, 1), STATUS_OK);
    assert_int_equal(eval_write_score_n_rel(s), 2);
    struct eval_prf r;
    assert_string_equal(eval_write_score_rel(s, 0, &r), "author");
    assert_int_equal(r.stored_ok, 1);
    assert_int_equal(r.gold_ok, 1);
    assert_string_equal(eval_write_score_rel(s, 1, &r), "p577");
    assert_int_equal(r.gold, 1);
    assert_int_equal(r.gold_ok, 0);
    eval_write_score_free(s);
    eval_docs_free(d);
}

static void test_eval_docs_split_by_title_hash(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/split.txt", dir);
    char h[TRAINDATA_HASH_HEX + 1];
    traindata_title_hash("Apple Inc.", strlen("Apple Inc."), h);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# held out\n\n%s\n", h);
    fclose(f);
    struct eval_docs *d = load_tiny();
    assert_int_equal(eval_docs_split(d, path, true), STATUS_OK);
    assert_int_equal(eval_docs_count(d), 1);
    assert_string_equal(eval_doc_title(d, 0), "Apple Inc.");
    eval_docs_free(d);
    d = load_tiny();
    assert_int_equal(eval_docs_split(d, path, false), STATUS_OK);
    assert_int_equal(eval_docs_count(d), 2);
    assert_string_equal(eval_doc_title(d, 1), "Curie");
    f = fopen(path, "w");
    fputs("not-a-hash\n", f);
    fclose(f);
    assert_int_equal(eval_docs_split(d, path, true), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), ":1"));
    eval_docs_free(d);
    test_rmtree(dir);
}

/* ---- write scoring ---------------------------------------------------------------------- */

/* Document 0's gold: (Dancing on Coral, author, Glenda Adams|Adams),
 * (Glenda Adams|Adams, place of birth, Sydney), (Dancing on Coral, publication date, 1988).
 * Stored (after normalization and de-duplication):
 *   a  dancing on coral | author         | adams         correct (any mention of the tail)
 *   b  adams            | place of birth | sydney        correct
 *   c  dancing on coral | author         | glenda adams  correct (same label as a)
 *   d  sydney           | country        | australia     wrong
 *   f  glenda adams     | place of death | sydney        wrong (relation differs)
 *   e  = a after normalization: dropped
 * stored 5, correct 3; gold 3, found 2 (publication date missed).
 * P = 0.6, R = 2/3, F1 = 2 * 0.6 * (2/3) / (0.6 + 2/3) = 0.8 / (19/15) = 12/19. */
static const struct eval_triple doc0_stored[] = {
    {"dancing on coral", "Author", "Adams"},
    {"Adams", "place of birth", " Sydney "},
    {"Dancing on Coral", "author", "Glenda  Adams"},
    {"Sydney", "country", "Australia"},
    {"DANCING ON CORAL", "author", "adams"},
    {"Glenda Adams", "place of death", "Sydney"},
};

static void check_doc0_totals(const struct eval_write_score *s, size_t extra_gold)
{
    struct eval_prf t;
    eval_write_score_total(s, &t);
    assert_int_equal(t.stored, 5);
    assert_int_equal(t.stored_ok, 3);
    assert_int_equal(t.gold, 3 + extra_gold);
    assert_int_equal(t.gold_ok, 2);
}

static void test_eval_write_score_matches_any_mention(void **state)
{
    (void)state;
    struct eval_docs *d = load_tiny();
    struct eval_write_score *s;
    assert_int_equal(eval_write_score_new(&s), STATUS_OK);
    assert_int_equal(eval_write_score_doc(s, d, 0, doc0_stored, 6), STATUS_OK);
    check_doc0_totals(s, 0);
    struct eval_prf t;
    eval_write_score_total(s, &t);
    assert_float_equal(eval_prf_precision(&t), 0.6, 1e-12);
    assert_float_equal(eval_prf_recall(&t), 2.0 / 3.0, 1e-12);
    assert_float_equal(eval_prf_f1(&t), 12.0 / 19.0, 1e-12);

    /* per relation, sorted by name */
    static const struct {
        const char *name;
        size_t stored, stored_ok, gold, gold_ok;
    } want[] = {
        {"author", 2, 2, 1, 1},         {"country", 1, 0, 0, 0},
        {"place of birth", 1, 1, 1, 1}, {"place of death", 1, 0, 0, 0},
        {"publication date", 0, 0, 1, 0},
    };
    assert_int_equal(eval_write_score_n_rel(s), 5);
    for (size_t i = 0; i < 5; i++) {
        struct eval_prf r;
        assert_string_equal(eval_write_score_rel(s, i, &r), want[i].name);
        assert_int_equal(r.stored, want[i].stored);
        assert_int_equal(r.stored_ok, want[i].stored_ok);
        assert_int_equal(r.gold, want[i].gold);
        assert_int_equal(r.gold_ok, want[i].gold_ok);
    }
    assert_null(eval_write_score_rel(s, 5, NULL));

    /* Curie: nothing stored adds 4 gold labels; micro totals */
    assert_int_equal(eval_write_score_doc(s, d, 2, NULL, 0), STATUS_OK);
    check_doc0_totals(s, 4);
    assert_int_equal(eval_write_score_docs(s), 2);
    eval_write_score_total(s, &t);
    assert_float_equal(eval_prf_recall(&t), 2.0 / 7.0, 1e-12);
    assert_int_equal(eval_write_score_doc(s, d, 3, NULL, 0), STATUS_INVALID);
    eval_write_score_free(s);
    eval_docs_free(d);
}

/* The "name" field of a mention also counts (Apple Inc.: "Francisco ; Wozniak" is entity 5's
 * name and surface; entity 1's mention "Jobs" / "Steve Jobs"). */
static void test_eval_write_score_name_field_and_empty(void **state)
{
    (void)state;
    struct eval_docs *d = load_tiny();
    struct eval_write_score *s;
    assert_int_equal(eval_write_score_new(&s), STATUS_OK);
    const struct eval_triple st[] = {
        {"Apple", "founded by", "jobs"},                   /* correct */
        {"francisco ; wozniak", "country", "San Francisco"}, /* correct (P17 h 5 t 4) */
    };
    assert_int_equal(eval_write_score_doc(s, d, 1, st, 2), STATUS_OK);
    struct eval_prf t;
    eval_write_score_total(s, &t);
    assert_int_equal(t.stored, 2);
    assert_int_equal(t.stored_ok, 2);
    assert_int_equal(t.gold, 6);
    assert_int_equal(t.gold_ok, 2);
    eval_write_score_free(s);

    struct eval_prf z = {0};
    assert_float_equal(eval_prf_precision(&z), 0.0, 0);
    assert_float_equal(eval_prf_recall(&z), 0.0, 0);
    assert_float_equal(eval_prf_f1(&z), 0.0, 0);
    eval_docs_free(d);
}

/* ---- edit scoring ----------------------------------------------------------------------- */

static void test_eval_edit_statement_and_tally(void **state)
{
    (void)state;
    struct eval_edit_record r = {"Who wrote Dancing on Coral?", "Peter Carey", "Author of it?",
                                 "loc q", "x", "Dancing on Coral"};
    char *s = eval_edit_statement(&r);
    assert_string_equal(s, "Who wrote Dancing on Coral? It is or they are \"Peter Carey\"");
    free(s);
    struct eval_edit_tally t = {0};
    eval_edit_tally_add(&t, &r, "It is peter CAREY.", "Glenda Adams", "Wham !", " wham  ! ");
    eval_edit_tally_add(&t, &r, NULL, "peter carey", "Wham", "Queen");
    eval_edit_tally_add(&t, &r, "no", NULL, NULL, NULL);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.rel, 1);
    assert_int_equal(t.gen, 1);
    assert_int_equal(t.loc, 1);
    double rel, gen, loc, mean;
    eval_edit_tally_scores(&t, &rel, &gen, &loc, &mean);
    assert_float_equal(rel, 1.0 / 3, 1e-12);
    assert_float_equal(gen, 1.0 / 3, 1e-12);
    assert_float_equal(loc, 1.0 / 3, 1e-12);
    assert_float_equal(mean, 1.0 / 3, 1e-12);
    struct eval_edit_tally z = {0};
    eval_edit_tally_scores(&z, &rel, NULL, NULL, &mean);
    assert_float_equal(rel, 0, 0);
    assert_float_equal(mean, 0, 0);
}

static void test_eval_edits_load(void **state)
{
    (void)state;
    struct eval_edits *e = NULL;
    assert_int_equal(eval_edits_open(data_path("zsre-tiny.json"), &e), STATUS_OK);
    assert_int_equal(eval_edits_count(e), 3);
    const struct eval_edit_record *r = eval_edits_get(e, 1);
    assert_string_equal(r->alt, "Austin");
    assert_string_equal(r->loc_ans, "Canberra"); /* first of a list */
    assert_string_equal(r->subject, "Apple Inc.");
    assert_null(eval_edits_get(e, 3));
    eval_edits_truncate(e, 2);
    assert_int_equal(eval_edits_count(e), 2);
    eval_edits_free(e);
    const char *bad = "[{\"src\":\"q\"}]";
    assert_int_equal(eval_edits_load(bad, strlen(bad), &e), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "record 1"));
    assert_int_equal(eval_edits_load("{}", 2, &e), STATUS_FORMAT);
}

/* ---- perplexity ------------------------------------------------------------------------- */

/* log p = ln 1/2 (plain), ln 1/4 (entity, target), ln 1/8 (entity):
 * OVERALL = exp((ln 2 + ln 4 + ln 8) / 3) = exp(ln 64 / 3) = 4; TARGET = 4;
 * ENTITY = exp((ln 4 + ln 8) / 2) = sqrt(32). */
static void test_eval_ppl_arithmetic(void **state)
{
    (void)state;
    struct eval_ppl p = {0};
    assert_true(isnan(eval_ppl_value(&p, EVAL_PPL_OVERALL)));
    eval_ppl_add(&p, log(0.5), 0);
    eval_ppl_add(&p, log(0.25), EVAL_TOK_ENTITY | EVAL_TOK_TARGET);
    eval_ppl_add(&p, log(0.125), EVAL_TOK_ENTITY);
    assert_float_equal(eval_ppl_value(&p, EVAL_PPL_OVERALL), 4.0, 1e-9);
    assert_float_equal(eval_ppl_value(&p, EVAL_PPL_TARGET), 4.0, 1e-9);
    assert_float_equal(eval_ppl_value(&p, EVAL_PPL_ENTITY), sqrt(32.0), 1e-9);
    assert_int_equal(p.n[EVAL_PPL_OVERALL], 3);
    assert_int_equal(p.n[EVAL_PPL_TARGET], 1);
    assert_int_equal(p.n[EVAL_PPL_ENTITY], 2);
}

/* ---- the loops over a scripted fake backend --------------------------------------------- */

struct fake {
    size_t fresh, writes, asks;
    size_t cancel_at_write; /* 1-based; 0: never */
    char *mem[16];          /* statements written since the last fresh() */
    size_t n_mem;
    char log[512];          /* "F" fresh, "W" write, "A" ask */
};

static void fake_forget(struct fake *f)
{
    for (size_t i = 0; i < f->n_mem; i++)
        free(f->mem[i]);
    f->n_mem = 0;
}

static enum status fake_fresh(void *ctx)
{
    struct fake *f = ctx;
    fake_forget(f);
    f->fresh++;
    strcat(f->log, "F");
    return STATUS_OK;
}

/* Write: documents give doc0_stored for "Dancing on Coral", nothing otherwise; any text is
 * remembered. */
static enum status fake_write(void *ctx, const char *text, size_t len, const char *title,
                              eval_triple_sink sink, void *sink_ctx)
{
    struct fake *f = ctx;
    f->writes++;
    strcat(f->log, "W");
    if (f->cancel_at_write && f->writes == f->cancel_at_write)
        return STATUS_CANCELLED;
    assert_true(f->n_mem < 16);
    f->mem[f->n_mem++] = strndup(text, len);
    if (title && strcmp(title, "Dancing on Coral") == 0)
        assert_string_equal(f->mem[f->n_mem - 1],
                            "Dancing on Coral is a novel by Glenda Adams .\n\nAdams was born "
                            "in Sydney .\n\nThe novel won a prize in 1988 .");
    if (sink && title && strcmp(title, "Dancing on Coral") == 0)
        for (size_t i = 0; i < 6; i++)
            sink(sink_ctx, &doc0_stored[i]);
    return STATUS_OK;
}

/* Ask: a question that starts a remembered statement is answered with the statement's
 * quoted part; otherwise "unknown", or "confused" once 2 or more statements are held. */
static enum status fake_ask(void *ctx, const char *q, char **answer)
{
    struct fake *f = ctx;
    f->asks++;
    strcat(f->log, "A");
    for (size_t i = 0; i < f->n_mem; i++) {
        if (strncmp(f->mem[i], q, strlen(q)) == 0) {
            const char *a = strchr(f->mem[i], '"');
            *answer = strdup(a ? a + 1 : "");
            return STATUS_OK;
        }
    }
    *answer = strdup(f->n_mem >= 2 ? "confused" : "unknown");
    return STATUS_OK;
}

static void fake_backend(struct fake *f, struct eval_backend *b)
{
    memset(f, 0, sizeof *f);
    b->fresh = fake_fresh;
    b->write = fake_write;
    b->ask = fake_ask;
    b->ctx = f;
}

static size_t progress_calls, progress_last, progress_total;

static void on_progress(void *user, size_t done, size_t total)
{
    (void)user;
    progress_calls++;
    assert_true(done > progress_last);
    progress_last = done;
    progress_total = total;
}

static void test_eval_write_run_fresh_memory_per_document(void **state)
{
    (void)state;
    struct eval_docs *d = load_tiny();
    struct fake f;
    struct eval_backend b;
    fake_backend(&f, &b);
    struct eval_write_score *s;
    assert_int_equal(eval_write_score_new(&s), STATUS_OK);
    progress_calls = progress_last = 0;
    assert_int_equal(eval_write_run(&b, d, s, on_progress, NULL), STATUS_OK);
    assert_string_equal(f.log, "FWFWFW");
    assert_int_equal(progress_calls, 3);
    assert_int_equal(progress_total, 3);
    check_doc0_totals(s, 6 + 4);
    assert_int_equal(eval_write_score_docs(s), 3);
    eval_write_score_free(s);
    fake_forget(&f);

    /* cancelled during the second document: only the first is scored */
    fake_backend(&f, &b);
    f.cancel_at_write = 2;
    assert_int_equal(eval_write_score_new(&s), STATUS_OK);
    assert_int_equal(eval_write_run(&b, d, s, NULL, NULL), STATUS_CANCELLED);
    assert_int_equal(eval_write_score_docs(s), 1);
    check_doc0_totals(s, 0);
    eval_write_score_free(s);
    fake_forget(&f);
    eval_docs_free(d);
}

/* Per record: each record alone in memory, so src is answered (REL 3/3), rephrase never
 * starts the statement (GEN 0/3), loc gets "unknown" as before the edits (LOC 3/3).
 * Sequential: all 3 statements held, REL still 3/3, but loc now gets "confused" (LOC 0/3). */
static void test_eval_edit_run_settings(void **state)
{
    (void)state;
    struct eval_edits *e = NULL;
    assert_int_equal(eval_edits_open(data_path("zsre-tiny.json"), &e), STATUS_OK);
    struct fake f;
    struct eval_backend b;
    fake_backend(&f, &b);
    struct eval_edit_tally t = {0};
    progress_calls = progress_last = 0;
    assert_int_equal(eval_edit_run(&b, e, false, &t, on_progress, NULL), STATUS_OK);
    assert_string_equal(f.log, "FAAA" "FWAAA" "FWAAA" "FWAAA");
    assert_int_equal(progress_total, 6);
    assert_int_equal(progress_calls, 6);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.rel, 3);
    assert_int_equal(t.gen, 0);
    assert_int_equal(t.loc, 3);
    fake_forget(&f);

    fake_backend(&f, &b);
    memset(&t, 0, sizeof t);
    progress_calls = progress_last = 0;
    assert_int_equal(eval_edit_run(&b, e, true, &t, on_progress, NULL), STATUS_OK);
    assert_string_equal(f.log, "FAAA" "FWWW" "AAAAAAAAA");
    assert_int_equal(progress_total, 9);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.rel, 3);
    assert_int_equal(t.gen, 0);
    assert_int_equal(t.loc, 0);
    fake_forget(&f);

    /* cancelled at the second record's write: one record counted */
    fake_backend(&f, &b);
    f.cancel_at_write = 2;
    memset(&t, 0, sizeof t);
    assert_int_equal(eval_edit_run(&b, e, false, &t, NULL, NULL), STATUS_CANCELLED);
    assert_int_equal(t.n, 1);
    fake_forget(&f);
    eval_edits_free(e);
}

/* ---- perplexity of a document over a uniform fake model ----------------------------------
 * Every next-token distribution is uniform, so every scored token has log p = -ln V and
 * each perplexity is exactly V, with or without memory; both runs score the same tokens.
 * The fake also checks the evaluation contract (pos never beyond what it holds). */
struct uniform {
    size_t held, evals, max_held;
};

static enum status uniform_eval(void *ctx, const int32_t *tokens, size_t n, size_t pos,
                                float *logits)
{
    struct uniform *u = ctx;
    (void)tokens;
    assert_true(n > 0);
    assert_true(pos <= u->held);
    u->held = pos + n;
    if (u->held > u->max_held)
        u->max_held = u->held;
    u->evals++;
    (void)logits; /* uniform_eval_fill() fills them */
    return STATUS_OK;
}

static size_t uniform_vocab;

static enum status uniform_eval_fill(void *ctx, const int32_t *tokens, size_t n, size_t pos,
                                     float *logits)
{
    for (size_t i = 0; i < uniform_vocab; i++)
        logits[i] = 0.25f;
    return uniform_eval(ctx, tokens, n, pos, logits);
}

static void test_eval_ppl_doc_uniform_model(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    if (!path)
        skip();
    struct gguf *g = NULL;
    struct tok *tk = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    assert_int_equal(tok_from_gguf(g, &tk), STATUS_OK);
    struct uniform u = {0};
    struct agent_lm lm = {0};
    uniform_vocab = (size_t)tok_n_vocab(tk);
    lm.n_vocab = uniform_vocab;
    lm.n_ctx = 4096;
    lm.eval = uniform_eval_fill;
    lm.ctx = &u;
    struct eval_docs *d = load_tiny();
    struct agent_params p;
    agent_params_init(&p);
    struct ctrl_params cp;
    ctrl_params_default(&cp);
    struct eval_agent *ea = NULL;
    assert_int_equal(eval_agent_new(&lm, tk, &p, &cp, NULL, &ea), STATUS_OK);
    double v = (double)uniform_vocab;
    for (size_t i = 0; i < eval_docs_count(d); i++) {
        struct eval_ppl with = {0}, without = {0};
        assert_int_equal(eval_agent_fresh(ea), STATUS_OK);
        memset(&u, 0, sizeof u);
        assert_int_equal(eval_ppl_doc(&lm, tk, eval_agent_ctrl(ea), d, i, &with, NULL),
                         STATUS_OK);
        size_t held_with = u.max_held;
        memset(&u, 0, sizeof u);
        assert_int_equal(eval_ppl_doc(&lm, tk, NULL, d, i, &without, NULL), STATUS_OK);
        /* one evaluation per scored token without memory (BOS, then each token but the
         * last is fed back) */
        assert_int_equal(u.evals, without.n[EVAL_PPL_OVERALL]);
        for (int k = 0; k < EVAL_PPL_KINDS; k++) {
            assert_int_equal(with.n[k], without.n[k]);
            assert_true(with.n[k] > 0);
            assert_float_equal(eval_ppl_value(&with, (enum eval_ppl_kind)k), v, v * 1e-5);
            assert_float_equal(eval_ppl_value(&without, (enum eval_ppl_kind)k), v, v * 1e-5);
        }
        assert_true(with.n[EVAL_PPL_OVERALL] >= with.n[EVAL_PPL_ENTITY]);
        assert_true(with.n[EVAL_PPL_ENTITY] >= with.n[EVAL_PPL_TARGET]);
        /* with memory the context held read calls too */
        assert_true(held_with > u.max_held);
    }
    /* cancelled before the first token */
    volatile sig_atomic_t stop = 1;
    struct eval_ppl x = {0};
    assert_int_equal(eval_ppl_doc(&lm, tk, NULL, d, 0, &x, &stop), STATUS_CANCELLED);
    /* a context too small for the document */
    lm.n_ctx = 4;
    assert_int_equal(eval_ppl_doc(&lm, tk, NULL, d, 0, &x, NULL), STATUS_LIMIT);
    eval_agent_free(ea);
    eval_docs_free(d);
    tok_free(tk);
    gguf_close(g);
    free(path);
}

/* A rel_info.json value that is not a string is refused, and the message names the key
 * (the key lives in the parsed document, which must outlive the message). */
static void test_eval_relmap_rejects_non_string_value(void **state)
{
    (void)state;
    static const char docs[] =
        "[{\"title\":\"t\",\"sents\":[[\"A\",\"b\"]],\"vertexSet\":[[{\"sent_id\":0,"
        "\"pos\":[0,1]}]],\"labels\":[]}]";
    static const char rel[] = "{\"P17\": \"country\", \"P_odd_key\": 5555555555}";
    struct eval_docs *d = NULL;
    status_detail_clear();
    assert_int_equal(eval_docs_load(docs, sizeof docs - 1, rel, sizeof rel - 1, &d),
                     STATUS_FORMAT);
    assert_null(d);
    assert_non_null(strstr(status_detail(), "P_odd_key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_norm_folds_case_and_whitespace),
        cmocka_unit_test(test_eval_contains_ci),
        cmocka_unit_test(test_eval_docs_load_text_and_labels),
        cmocka_unit_test(test_eval_docs_load_rejects_bad_pos),
        cmocka_unit_test(test_eval_docs_relation_names_from_tsv),
        cmocka_unit_test(test_eval_docs_split_by_title_hash),
        cmocka_unit_test(test_eval_write_score_matches_any_mention),
        cmocka_unit_test(test_eval_write_score_name_field_and_empty),
        cmocka_unit_test(test_eval_edit_statement_and_tally),
        cmocka_unit_test(test_eval_edits_load),
        cmocka_unit_test(test_eval_ppl_arithmetic),
        cmocka_unit_test(test_eval_write_run_fresh_memory_per_document),
        cmocka_unit_test(test_eval_edit_run_settings),
        cmocka_unit_test(test_eval_ppl_doc_uniform_model),
        cmocka_unit_test(test_eval_relmap_rejects_non_string_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
