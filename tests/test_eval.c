/* test_eval.c -- tests of the evaluation metrics and loops (src/agent/eval.c): name
 * normalization, mention matching, per-relation tallies, REL/GEN/LOC counting, perplexity
 * arithmetic, and the write/edit loops driven by a scripted fake backend.  Expected numbers
 * are worked out by hand in the comments. */
#include "config.h"

#include "test_util.h"

#include <math.h>

#include "agent/constrain.h"
#include "agent/eval.h"
#include "agent/memcons.h"
#include "agent/synth.h"
#include "agent/traindata.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "memory/ctrl.h"
#include "memory/store.h"
#include "protocol/call.h"

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

/* ---- facts files -------------------------------------------------------------------------- */

static char *write_tmp(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

#define FACTS_TSV "# test facts\nFrance\tcapital\tParis\n\nGermany\tcapital\tBerlin\r\n" \
                  "Paris\tcountry\tFrance\n"

static void test_eval_facts_open_names_file_and_line(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *good = write_tmp(dir, "good.tsv", FACTS_TSV, sizeof FACTS_TSV - 1);
    struct synth_facts *f = NULL;
    assert_int_equal(eval_facts_open(good, &f), STATUS_OK);
    assert_int_equal(synth_facts_count(f), 3);
    assert_string_equal(synth_facts_get(f, 1)->s, "Germany");
    assert_string_equal(synth_facts_get(f, 1)->o, "Berlin"); /* CR dropped */
    synth_facts_free(f);

    /* two fields on line 4 (after a comment and a blank line) */
    static const char two[] = "# c\nA\tr\tB\n\nC\tr\n";
    char *bad = write_tmp(dir, "two.tsv", two, sizeof two - 1);
    f = NULL;
    status_detail_clear();
    assert_int_equal(eval_facts_open(bad, &f), STATUS_FORMAT);
    assert_null(f);
    char want[4200];
    snprintf(want, sizeof want, "%s:4:", bad);
    assert_non_null(strstr(status_detail(), want));
    free(bad);

    /* an object that is not UTF-8, on line 5 */
    static const char enc[] = "# c\nA\tr\tB\n\n# d\nC\tr\tD\xff\n";
    bad = write_tmp(dir, "enc.tsv", enc, sizeof enc - 1);
    status_detail_clear();
    assert_int_equal(eval_facts_open(bad, &f), STATUS_ENCODING);
    assert_null(f);
    snprintf(want, sizeof want, "%s:5:", bad);
    assert_non_null(strstr(status_detail(), want));
    assert_non_null(strstr(status_detail(), "object"));
    free(bad);

    /* a file that is not there */
    snprintf(want, sizeof want, "%s/absent.tsv", dir);
    status_detail_clear();
    assert_int_equal(eval_facts_open(want, &f), STATUS_IO);
    assert_non_null(strstr(status_detail(), "absent.tsv"));
    free(good);
    test_rmtree(dir);
}

/* ---- the eval agent over a text-driven fake model ------------------------------------------
 * A tiny vocabulary: 0 <unk>, 1 <s>, 2 </s>, 3 "({", 4 "})", 5 "-->" (user-defined), U+2581,
 * the printable ASCII characters, some words, the 256 byte tokens. */
static const char *const tiny_words[] = {
    "MEM_READ(", "MEM_WRITE", "France", "Germany", "capital", "country", "Paris", "Berlin",
    "Lyon", ">>",
};

static struct tok *tiny_tok(void)
{
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
        chars[c][1] = '\0';
        toks[n] = chars[c], types[n++] = TOK_TYPE_NORMAL;
    }
    for (size_t i = 0; i < sizeof tiny_words / sizeof tiny_words[0]; i++)
        toks[n] = tiny_words[i], types[n++] = TOK_TYPE_NORMAL;
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
    assert_int_equal(tok_new(&d, &t), STATUS_OK);
    return t;
}

/* The fake decodes the context it holds.  In a write call (after the last "MEM_WRITE-->")
 * it steers towards write_target; otherwise the text after the last '?' (the question's
 * end) is what it generated, and it steers towards the read call of the first rule whose
 * key occurs in the context: the longest vocabulary piece that continues the target gets
 * logit 10, EOS 5 (runner-up), everything else 0.  Once the text is off the target (the
 * constraint chose otherwise) or complete, or a call has been answered ("})"), EOS gets 10.
 * No rule: EOS. */
struct steer_rule {
    const char *key, *target;
};

struct steer {
    const struct tok *tk;
    size_t n_vocab;
    const char *write_target;
    const struct steer_rule *rules;
    size_t n_rules;
    int32_t ctx[4096];
    size_t n_past;
};

static const char *last_of(const char *hay, const char *needle)
{
    const char *at = NULL;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        at = p;
    return at;
}

static void steer_towards(const struct steer *f, const char *target, const char *g, float *logits)
{
    size_t gl = strlen(g), tl = strlen(target);
    if (gl >= tl || strncmp(target, g, gl) != 0 || strstr(g, "})"))
        return;
    const char *rest = target + gl;
    for (size_t len = strlen(rest) < 16 ? strlen(rest) : 16; len > 0; len--) {
        int32_t id = tok_find(f->tk, rest, len);
        if (id >= 3) {
            logits[2] = 5.0f;
            logits[id] = 10.0f;
            return;
        }
    }
}

static enum status steer_eval(void *ctxp, const int32_t *tokens, size_t n, size_t pos,
                              float *logits)
{
    struct steer *f = ctxp;
    assert_true(pos <= f->n_past);
    assert_true(pos + n <= 4096);
    memcpy(f->ctx + pos, tokens, n * sizeof *tokens);
    f->n_past = pos + n;
    char *text = NULL;
    assert_int_equal(tok_decode(f->tk, f->ctx, f->n_past, 0, &text, NULL), STATUS_OK);
    for (size_t i = 0; i < f->n_vocab; i++)
        logits[i] = 0.0f;
    logits[2] = 10.0f;
    const char *w = last_of(text, "MEM_WRITE-->");
    if (w) {
        logits[2] = 0.0f;
        steer_towards(f, f->write_target, w + strlen("MEM_WRITE-->"), logits);
        if (logits[2] == 0.0f)
            logits[2] = 10.0f;
    } else {
        const char *q = strrchr(text, '?');
        for (size_t i = 0; q && i < f->n_rules; i++) {
            if (strstr(text, f->rules[i].key)) {
                logits[2] = 0.0f;
                steer_towards(f, f->rules[i].target, q + 1, logits);
                if (logits[2] == 0.0f)
                    logits[2] = 10.0f;
                break;
            }
        }
    }
    free(text);
    return STATUS_OK;
}

struct ea_fx {
    struct tok *tk;
    struct steer f;
    struct agent_lm lm;
    struct agent_params p;
    struct ctrl_params cp;
    struct eval_agent *ea;
    struct eval_backend b;
    char *dir, *facts_path;
    struct synth_facts *facts;
};

/* An eval agent over the fake; with_facts: FACTS_TSV in every fresh memory. */
static void ea_fx_open(struct ea_fx *x, bool constrain, bool with_facts)
{
    memset(x, 0, sizeof *x);
    x->tk = tiny_tok();
    x->f.tk = x->tk;
    x->f.n_vocab = (size_t)tok_n_vocab(x->tk);
    x->lm.n_vocab = x->f.n_vocab;
    x->lm.n_ctx = 4096;
    x->lm.eval = steer_eval;
    x->lm.ctx = &x->f;
    agent_params_init(&x->p);
    x->p.samp.temp = 0;
    x->p.record = false;
    x->p.max_tokens = 64;
    x->p.min_cuts = 1;
    x->p.write_max_tokens = 48;
    x->p.constrain = constrain;
    ctrl_params_default(&x->cp);
    assert_int_equal(eval_agent_new(&x->lm, x->tk, &x->p, &x->cp, NULL, &x->ea), STATUS_OK);
    if (with_facts) {
        x->dir = test_tmpdir();
        x->facts_path = write_tmp(x->dir, "facts.tsv", FACTS_TSV, sizeof FACTS_TSV - 1);
        assert_int_equal(eval_facts_open(x->facts_path, &x->facts), STATUS_OK);
        eval_agent_set_facts(x->ea, x->facts);
    }
    eval_agent_backend(x->ea, &x->b);
}

static void ea_fx_close(struct ea_fx *x)
{
    eval_agent_free(x->ea);
    synth_facts_free(x->facts);
    free(x->facts_path);
    if (x->dir)
        test_rmtree(x->dir);
    tok_free(x->tk);
}

/* The answers of (subject, relation, ?) in the agent's current memory, joined by ';'. */
static void read_objects(struct eval_agent *ea, const char *subj, const char *rel, char *out,
                         size_t cap)
{
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(eval_agent_ctrl(ea), CTRL_WANT_OBJECT, subj, rel, &r), STATUS_OK);
    out[0] = '\0';
    for (size_t i = 0; i < r->n_answers; i++) {
        if (i)
            strncat(out, ";", cap - strlen(out) - 1);
        strncat(out, r->answers[i].name, cap - strlen(out) - 1);
    }
    ctrl_read_free(r);
}

/* Every fresh memory holds the facts (and only them: what an earlier memory learnt is
 * gone); without facts a fresh memory is empty. */
static void test_eval_agent_facts_in_every_fresh_memory(void **state)
{
    (void)state;
    struct ea_fx x;
    ea_fx_open(&x, false, true);
    char got[256];
    assert_int_equal(eval_agent_fresh(x.ea), STATUS_OK);
    read_objects(x.ea, "France", "capital", got, sizeof got);
    assert_string_equal(got, "Paris");
    read_objects(x.ea, "Paris", "country", got, sizeof got);
    assert_string_equal(got, "France");
    struct ctrl_triple_in t = {"France", "capital", "Lyon"};
    assert_int_equal(ctrl_write(eval_agent_ctrl(x.ea), &t, 1, NULL, NULL), STATUS_OK);
    read_objects(x.ea, "France", "capital", got, sizeof got);
    assert_non_null(strstr(got, "Lyon"));
    assert_int_equal(eval_agent_fresh(x.ea), STATUS_OK);
    read_objects(x.ea, "France", "capital", got, sizeof got);
    assert_string_equal(got, "Paris");
    read_objects(x.ea, "Germany", "capital", got, sizeof got);
    assert_string_equal(got, "Berlin");
    ea_fx_close(&x);

    ea_fx_open(&x, false, false);
    assert_int_equal(eval_agent_fresh(x.ea), STATUS_OK);
    read_objects(x.ea, "France", "capital", got, sizeof got);
    assert_string_equal(got, "");
    ea_fx_close(&x);
}

/* A backend that passes every call on and keeps the answers, in order. */
struct rec_backend {
    struct eval_backend inner;
    char *q[16], *a[16];
    size_t n;
    char log[64];
};

static enum status rec_fresh(void *ctx)
{
    struct rec_backend *r = ctx;
    strcat(r->log, "F");
    return r->inner.fresh(r->inner.ctx);
}

static enum status rec_write(void *ctx, const char *text, size_t len, const char *title,
                             eval_triple_sink sink, void *sink_ctx)
{
    struct rec_backend *r = ctx;
    strcat(r->log, "W");
    return r->inner.write(r->inner.ctx, text, len, title, sink, sink_ctx);
}

static enum status rec_ask(void *ctx, const char *question, char **answer)
{
    struct rec_backend *r = ctx;
    strcat(r->log, "A");
    enum status st = r->inner.ask(r->inner.ctx, question, answer);
    assert_true(r->n < 16);
    r->q[r->n] = strdup(question);
    r->a[r->n++] = st == STATUS_OK ? strdup(*answer) : NULL;
    return st;
}

static void rec_free(struct rec_backend *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->q[i]);
        free(r->a[i]);
    }
}

static const char edit_json[] =
    "[{\"src\": \"Where is france?\", \"alt\": \"Lyon\", \"rephrase\": \"Where is france now?\","
    "  \"loc\": \"Where is germany?\", \"loc_ans\": \"Berlin\"}]";

static const struct steer_rule edit_rules[] = {
    {"germany", "({MEM_READ(Germany>>capital>>)-->"},
    {"france", "({MEM_READ(France>>capital>>)-->"},
};

/* The edit protocol over the real eval agent, unconstrained.  The model reads
 * Germany>>capital>> for loc and France>>capital>> for src and rephrase; the statement's
 * write stores France>>capital>>Lyon.  With facts the answer to loc before any edit is
 * read from the populated memory (Berlin), and after the edit it is the same: locality
 * compares two answers from populated memories.  Without facts that read finds nothing
 * (a failed read is dropped from the answer). */
static void test_eval_edit_locality_with_populated_memory(void **state)
{
    (void)state;
    struct eval_edits *e = NULL;
    assert_int_equal(eval_edits_load(edit_json, sizeof edit_json - 1, &e), STATUS_OK);
    for (int with_facts = 1; with_facts >= 0; with_facts--) {
        struct ea_fx x;
        ea_fx_open(&x, false, with_facts);
        x.f.write_target = "France>>capital>>Lyon})";
        x.f.rules = edit_rules;
        x.f.n_rules = 2;
        struct rec_backend r = {0};
        r.inner = x.b;
        struct eval_backend b = {rec_fresh, rec_write, rec_ask, &r};
        struct eval_edit_tally t = {0};
        assert_int_equal(eval_edit_run(&b, e, false, &t, NULL, NULL), STATUS_OK);
        assert_string_equal(r.log, "FA" "FWAAA");
        assert_int_equal(r.n, 4);
        assert_string_equal(r.q[0], "Where is germany?"); /* loc, before any edit */
        assert_string_equal(r.q[3], "Where is germany?"); /* loc, after the edit */
        if (with_facts) {
            assert_string_equal(r.a[0], "({MEM_READ(Germany>>capital>>)-->Berlin})");
            /* src and rephrase: the facts' Paris and the edit's Lyon */
            assert_non_null(strstr(r.a[1], "({MEM_READ(France>>capital>>)-->"));
            assert_non_null(strstr(r.a[1], "Paris"));
            assert_non_null(strstr(r.a[1], "Lyon"));
        } else {
            assert_null(strstr(r.a[0], "Berlin"));
            assert_string_equal(r.a[1], "({MEM_READ(France>>capital>>)-->Lyon})");
        }
        assert_string_equal(r.a[3], r.a[0]);
        assert_int_equal(t.n, 1);
        assert_int_equal(t.rel, 1);
        assert_int_equal(t.gen, 1);
        assert_int_equal(t.loc, 1);
        rec_free(&r);
        ea_fx_close(&x);
    }
    eval_edits_free(e);
}

static const struct steer_rule cons_rules[] = {
    {"france really", "({MEM_READ(Germany>>capital>>)-->"},
    {"france", "({MEM_READ(France>>capital>>)-->"},
};

static char *ask_one(struct ea_fx *x, const char *question)
{
    char *a = NULL;
    assert_int_equal(x->b.fresh(x->b.ctx), STATUS_OK);
    assert_int_equal(x->b.ask(x->b.ctx, question, &a), STATUS_OK);
    return a;
}

/* With the constraint on, a read may name a memory entity that shares a word with the
 * question (France for "france") but not one that does not (Germany); off, the model's
 * call goes through as it is. */
static void test_eval_agent_constraint_on_off(void **state)
{
    (void)state;
    for (int on = 1; on >= 0; on--) {
        struct ea_fx x;
        ea_fx_open(&x, on, true);
        x.f.rules = cons_rules;
        x.f.n_rules = 2;
        char *a = ask_one(&x, "Where is france?");
        /* on: the answer also quotes the read (agent.h, constrain) */
        assert_string_equal(a, on ? "({MEM_READ(France>>capital>>)-->Paris})Paris"
                                  : "({MEM_READ(France>>capital>>)-->Paris})");
        free(a);
        a = ask_one(&x, "Where is france really?");
        if (on)
            assert_null(strstr(a, "Germany"));
        else
            assert_string_equal(a, "({MEM_READ(Germany>>capital>>)-->Berlin})");
        free(a);
        ea_fx_close(&x);
    }
}

/* memcons: the relation names of the memory in id order; source() adds the memory names
 * that share a word with the text, only while a memory is set. */
static void test_eval_memcons_relations_and_memory_names(void **state)
{
    (void)state;
    struct ea_fx x;
    ea_fx_open(&x, false, true);
    assert_int_equal(eval_agent_fresh(x.ea), STATUS_OK);
    struct mem *m = ctrl_mem(eval_agent_ctrl(x.ea));
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(memcons_relation_names(m, &names, &n), STATUS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "capital");
    assert_string_equal(names[1], "country");
    agent_names_free(names, n);

    struct memcons *mc = NULL;
    assert_int_equal(memcons_new(x.tk, m, &mc), STATUS_OK);
    struct agent_constraint h;
    memcons_hook(mc, &h);
    static const char q[] = "Where is france?";
    static const char head[] = "({MEM_READ(";
    size_t counts[2];
    for (int with = 0; with < 2; with++) {
        memcons_set_memory(mc, with ? m : NULL);
        assert_int_equal(h.source(h.ctx, q, sizeof q - 1), STATUS_OK);
        assert_int_equal(h.begin(h.ctx, CALL_KIND_READ, head, sizeof head - 1), STATUS_OK);
        counts[with] = constrain_entity_count(memcons_constrain(mc));
        h.end(h.ctx);
    }
    assert_true(counts[0] > 0);               /* spans of the question */
    assert_int_equal(counts[1], counts[0] + 1); /* and France */
    memcons_free(mc);
    ea_fx_close(&x);
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
        cmocka_unit_test(test_eval_facts_open_names_file_and_line),
        cmocka_unit_test(test_eval_agent_facts_in_every_fresh_memory),
        cmocka_unit_test(test_eval_edit_locality_with_populated_memory),
        cmocka_unit_test(test_eval_agent_constraint_on_off),
        cmocka_unit_test(test_eval_memcons_relations_and_memory_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
