/* test_traindata.c -- tests of the MemLLM training-data builder: exact example strings on
 * hand-written Re-DocRED fixtures (tests/data), the JSON lines, the split, SHA-256, and
 * (when ../shared is present) counts and protocol checks on the real dev set. */
#include "config.h"

#include "test_util.h"

#include "agent/traindata.h"
#include "protocol/call.h"
#include "util/json.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

/* ---- collecting examples ---------------------------------------------------------------- */

struct got {
    size_t n;
    struct traindata_example ex[64];
    char *a[64], *b[64]; /* copies: prompt/completion or text */
};

static enum status collect(void *ctx, const struct traindata_example *ex)
{
    struct got *g = ctx;
    assert_true(g->n < 64);
    g->ex[g->n] = *ex;
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        g->a[g->n] = strndup(ex->prompt, ex->prompt_len);
        g->b[g->n] = strndup(ex->completion, ex->completion_len);
        g->ex[g->n].prompt = g->a[g->n]; /* the callback's pointers are borrowed */
        g->ex[g->n].completion = g->b[g->n];
    } else {
        g->a[g->n] = strndup(ex->text, ex->text_len);
        g->b[g->n] = NULL;
        g->ex[g->n].text = g->a[g->n];
    }
    g->n++;
    return STATUS_OK;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->a[i]);
        free(g->b[i]);
    }
    g->n = 0;
}

static char *fixture(const char *name)
{
    const char *src = getenv("top_srcdir");
    char *p = malloc(4096);
    assert_non_null(p);
    snprintf(p, 4096, "%s/tests/data/%s", src && src[0] ? src : TEST_SRCDIR, name);
    return p;
}

static struct traindata *open_tiny(void)
{
    char *d = fixture("redocred-tiny.json"), *r = fixture("rel_info-tiny.json");
    struct traindata *td = NULL;
    enum status st = traindata_open(d, r, &td);
    if (st != STATUS_OK)
        fail_msg("open fixtures: %s: %s", status_str(st), status_detail());
    free(d);
    free(r);
    return td;
}

static bool to_sentence_end; /* run() sets read_to_sentence_end from this */
static bool in_context;      /* and read_partner_in_context from this */

static void run(const struct traindata *td, size_t doc, size_t ctx_sents, bool writes,
                bool reads, struct got *g, struct traindata_stats *stats)
{
    struct traindata_params p;
    traindata_params_init(&p);
    p.read_to_sentence_end = to_sentence_end;
    p.read_partner_in_context = in_context;
    p.context_sents = ctx_sents;
    p.writes = writes;
    p.reads = reads;
    memset(stats, 0, sizeof *stats);
    assert_int_equal(traindata_doc_examples(td, doc, &p, collect, g, stats), STATUS_OK);
}

/* A read example given as its three parts, by hand. */
static void assert_read(const struct got *g, size_t i, const char *before, const char *call,
                        const char *after)
{
    const struct traindata_example *ex = &g->ex[i];
    assert_int_equal(ex->kind, TRAINDATA_KIND_READ);
    size_t lb = strlen(before), lc = strlen(call), la = strlen(after);
    char *want = malloc(lb + lc + la + 1);
    assert_non_null(want);
    snprintf(want, lb + lc + la + 1, "%s%s%s", before, call, after);
    assert_string_equal(g->a[i], want);
    free(want);
    assert_int_equal(ex->loss_from, lb);
    assert_int_equal(ex->n_spans, 2);
    const char *arrow = strstr(call, "-->");
    assert_non_null(arrow);
    assert_int_equal(ex->spans[0][0], lb);
    assert_int_equal(ex->spans[0][1], lb + (size_t)(arrow - call) + 3);
    assert_int_equal(ex->spans[1][0], lb + lc);
    assert_int_equal(ex->spans[1][1], lb + lc + la);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_traindata_loads_fixtures(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    assert_int_equal(traindata_n_docs(td), 3);
    assert_string_equal(traindata_doc_title(td, 0), "Dancing on Coral");
    assert_string_equal(traindata_doc_title(td, 1), "Apple Inc.");
    assert_int_equal(traindata_doc_n_sents(td, 0), 3);
    assert_int_equal(traindata_doc_n_sents(td, 2), 1);
    assert_null(traindata_doc_title(td, 3));
    traindata_free(td);
}

static void test_traindata_writes_one_example_per_sentence(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    run(td, 0, 1, true, false, &g, &s);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.a[0], "({USER_ST})Dancing on Coral is a novel by Glenda Adams ."
                                "({USER_END})");
    assert_string_equal(g.b[0], "({MEM_WRITE-->Dancing on Coral>>author>>Glenda Adams})");
    /* one earlier sentence of context; "Adams" is the mention in this sentence */
    assert_string_equal(g.a[1], "Dancing on Coral is a novel by Glenda Adams .({USER_ST})"
                                "Adams was born in Sydney .({USER_END})");
    assert_string_equal(g.b[1], "({MEM_WRITE-->Adams>>place of birth>>Sydney})");
    /* the publication date's subject is not in sentence 2: nothing to write there */
    assert_string_equal(g.a[2], "Adams was born in Sydney .({USER_ST})The novel won a prize "
                                "in 1988 .({USER_END})");
    assert_string_equal(g.b[2], "({MEM_WRITE-->})");
    assert_int_equal(g.ex[1].sent, 1);
    assert_int_equal(g.ex[1].n_items, 1);
    assert_int_equal(s.n_writes, 3);
    assert_int_equal(s.n_writes_empty, 1);
    assert_int_equal(s.n_labels, 3);
    assert_int_equal(s.n_labels_written, 2);
    got_free(&g);

    /* no context at all */
    run(td, 0, 0, true, false, &g, &s);
    assert_string_equal(g.a[2], "({USER_ST})The novel won a prize in 1988 .({USER_END})");
    got_free(&g);
    /* context reaching past the document start */
    run(td, 0, 25, true, false, &g, &s);
    assert_string_equal(g.a[2], "Dancing on Coral is a novel by Glenda Adams . Adams was born "
                                "in Sydney .({USER_ST})The novel won a prize in 1988 ."
                                "({USER_END})");
    got_free(&g);
    traindata_free(td);
}

static void test_traindata_write_rule_order_and_skips(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    run(td, 1, 0, true, false, &g, &s);
    assert_int_equal(g.n, 2);
    /* empty evidence counts where both entities appear; the duplicate label is written
     * once; ordered by the later mention */
    assert_string_equal(g.b[0], "({MEM_WRITE-->Apple>>founded by>>Steve Jobs;"
                                "Apple>>founded by>>Steve Wozniak})");
    /* headquarters: evidence says sentence 1, but neither entity is there; the entity
     * "Francisco ; Wozniak" has a ';' the protocol cannot carry */
    assert_string_equal(g.a[1], "({USER_ST})Jobs was born in San Francisco ; Wozniak in San "
                                "Jose .({USER_END})");
    assert_string_equal(g.b[1], "({MEM_WRITE-->Jobs>>place of birth>>San Francisco;"
                                "Wozniak>>place of birth>>San Jose})");
    assert_int_equal(s.n_write_triples, 4);
    assert_int_equal(s.n_triples_skipped, 1);
    assert_int_equal(s.n_labels, 7);
    assert_int_equal(s.n_labels_written, 5);
    got_free(&g);

    run(td, 2, 0, true, false, &g, &s);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.b[0], "({MEM_WRITE-->Marie Curie>>spouse>>Pierre Curie;"
                                "Pierre Curie>>spouse>>Marie Curie;"
                                "Marie Curie>>residence>>Paris;Pierre Curie>>residence>>Paris})");
    got_free(&g);
    traindata_free(td);
}

static void test_traindata_reads_at_first_mentions(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    run(td, 0, 25, false, true, &g, &s);
    assert_int_equal(g.n, 3);
    assert_read(&g, 0, "Dancing on Coral is a novel by ",
                "({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})",
                "Glenda Adams . Adams was born in ({");
    /* the partner is named by its latest mention before the read */
    assert_read(&g, 1, "Dancing on Coral is a novel by Glenda Adams . Adams was born in ",
                "({MEM_READ(Adams>>place of birth>>)-->Sydney})",
                "Sydney . The novel won a prize in ({");
    /* the last read runs to the end of the document, with no "({" */
    assert_read(&g, 2, "Dancing on Coral is a novel by Glenda Adams . Adams was born in "
                       "Sydney . The novel won a prize in ",
                "({MEM_READ(Dancing on Coral>>publication date>>)-->1988})", "1988 .");
    assert_int_equal(g.ex[2].sent, 2);
    assert_int_equal(s.n_reads, 3);
    assert_int_equal(s.n_read_queries, 3);
    got_free(&g);

    /* no context: the text still starts at the partner's sentence */
    run(td, 0, 0, false, true, &g, &s);
    assert_read(&g, 1, "Adams was born in ", "({MEM_READ(Adams>>place of birth>>)-->Sydney})",
                "Sydney . The novel won a prize in ({");
    assert_read(&g, 2, "Dancing on Coral is a novel by Glenda Adams . Adams was born in "
                       "Sydney . The novel won a prize in ",
                "({MEM_READ(Dancing on Coral>>publication date>>)-->1988})", "1988 .");
    got_free(&g);
    traindata_free(td);
}

static void test_traindata_read_results_and_queries(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    run(td, 1, 0, false, true, &g, &s);
    assert_int_equal(g.n, 5);
    /* all founders are results, the target first (as written at the read point) */
    assert_read(&g, 0, "Apple was founded by ",
                "({MEM_READ(Apple>>founded by>>)-->Steve Jobs;Steve Wozniak})",
                "Steve Jobs and ({");
    assert_read(&g, 1, "Apple was founded by Steve Jobs and ",
                "({MEM_READ(Apple>>founded by>>)-->Steve Wozniak;Steve Jobs})",
                "Steve Wozniak in ({");
    assert_read(&g, 2, "Apple was founded by Steve Jobs and Steve Wozniak in ",
                "({MEM_READ(Apple>>headquarters location>>)-->Cupertino})",
                "Cupertino . Jobs was born in ({");
    assert_read(&g, 3, "Jobs was born in ",
                "({MEM_READ(Jobs>>place of birth>>)-->San Francisco})",
                "San Francisco ; Wozniak in ({");
    assert_read(&g, 4, "Jobs was born in San Francisco ; Wozniak in ",
                "({MEM_READ(Wozniak>>place of birth>>)-->San Jose})", "San Jose .");
    got_free(&g);

    /* two queries for one target, both directions */
    run(td, 2, 0, false, true, &g, &s);
    assert_int_equal(g.n, 2);
    assert_read(&g, 0, "Marie Curie and ",
                "({MEM_READ(Marie Curie>>spouse>>;>>spouse>>Marie Curie)-->Pierre Curie})",
                "Pierre Curie lived in ({");
    assert_read(&g, 1, "Marie Curie and Pierre Curie lived in ",
                "({MEM_READ(Marie Curie>>residence>>;Pierre Curie>>residence>>)-->Paris})",
                "Paris .");
    assert_int_equal(g.ex[0].n_items, 2);
    got_free(&g);
    traindata_free(td);
}

static void test_traindata_reads_to_sentence_end(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    to_sentence_end = true;
    run(td, 0, 0, false, true, &g, &s);
    assert_int_equal(g.n, 3);
    /* the next read point is in the next sentence: stop at the end of this one */
    assert_read(&g, 0, "Dancing on Coral is a novel by ",
                "({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})", "Glenda Adams .");
    assert_read(&g, 2, "Dancing on Coral is a novel by Glenda Adams . Adams was born in "
                       "Sydney . The novel won a prize in ",
                "({MEM_READ(Dancing on Coral>>publication date>>)-->1988})", "1988 .");
    got_free(&g);
    run(td, 1, 0, false, true, &g, &s);
    /* the next read point is in the same sentence: run on to it, as without the option */
    assert_read(&g, 0, "Apple was founded by ",
                "({MEM_READ(Apple>>founded by>>)-->Steve Jobs;Steve Wozniak})",
                "Steve Jobs and ({");
    assert_read(&g, 2, "Apple was founded by Steve Jobs and Steve Wozniak in ",
                "({MEM_READ(Apple>>headquarters location>>)-->Cupertino})", "Cupertino .");
    got_free(&g);
    to_sentence_end = false;
    traindata_free(td);
}

static void test_traindata_reads_in_context_only(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    in_context = true;
    /* no context: the partner must be in the read's own sentence; "1988" (partner in
     * sentence 0, read in sentence 2) is left out */
    run(td, 0, 0, false, true, &g, &s);
    assert_int_equal(g.n, 2);
    assert_read(&g, 0, "Dancing on Coral is a novel by ",
                "({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})",
                "Glenda Adams . Adams was born in ({");
    assert_read(&g, 1, "Adams was born in ", "({MEM_READ(Adams>>place of birth>>)-->Sydney})",
                "Sydney . The novel won a prize in 1988 .");
    got_free(&g);
    /* two sentences of context reach it */
    run(td, 0, 2, false, true, &g, &s);
    assert_int_equal(g.n, 3);
    got_free(&g);
    in_context = false;
    traindata_free(td);
}

static void test_traindata_json_lines(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct got g = {0};
    struct traindata_stats s;
    run(td, 0, 0, true, true, &g, &s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    traindata_example_write_json(f, &g.ex[0]);
    traindata_example_write_json(f, &g.ex[3]);
    assert_int_equal(fclose(f), 0);
    const char *want =
        "{\"kind\":\"write\",\"prompt\":\"({USER_ST})Dancing on Coral is a novel by Glenda "
        "Adams .({USER_END})\",\"completion\":\"({MEM_WRITE-->Dancing on Coral>>author>>"
        "Glenda Adams})\"}\n"
        "{\"kind\":\"read\",\"text\":\"Dancing on Coral is a novel by ({MEM_READ(Dancing on "
        "Coral>>author>>)-->Glenda Adams})Glenda Adams . Adams was born in ({\","
        "\"loss_from\":31,\"loss_spans\":[[31,72],[86,121]]}\n";
    assert_string_equal(buf, want);
    free(buf);
    got_free(&g);
    traindata_free(td);
}

static void test_traindata_json_offsets_count_characters(void **state)
{
    (void)state;
    /* "é" and "—" are 2 and 3 bytes but one character each */
    const char *text = "\xc3\xa9 \xe2\x80\x94 ({MEM_READ(a>>r>>)-->b})b";
    struct traindata_example ex = {.kind = TRAINDATA_KIND_READ, .text = text,
                                   .text_len = strlen(text), .loss_from = 7,
                                   .spans = {{7, 28}, {31, 32}}, .n_spans = 2};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    traindata_example_write_json(f, &ex);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "{\"kind\":\"read\",\"text\":\"\xc3\xa9 \xe2\x80\x94 "
                             "({MEM_READ(a>>r>>)-->b})b\",\"loss_from\":4,"
                             "\"loss_spans\":[[4,25],[28,29]]}\n");
    free(buf);
}

static void test_traindata_rejects_bad_documents(void **state)
{
    (void)state;
    const char *rel = "{\"P1\":\"r\"}";
    static const char *const bad[] = {
        "{}",
        "[1]",
        "[{\"title\":\"t\",\"sents\":[],\"vertexSet\":[]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":1,\"pos\":[0,1]}]]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,\"pos\":[0,2]}]]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,\"pos\":[1,1]}]]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,\"pos\":[0,1]}]],"
        "\"labels\":[{\"h\":0,\"t\":0,\"r\":\"P2\",\"evidence\":[]}]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,\"pos\":[0,1]}]],"
        "\"labels\":[{\"h\":0,\"t\":1,\"r\":\"P1\",\"evidence\":[]}]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,\"pos\":[0,1]}]],"
        "\"labels\":[{\"h\":0,\"t\":0,\"r\":\"P1\",\"evidence\":[3]}]}]",
        "[{\"title\":\"t\",\"sents\":[[\"a\", 5]],\"vertexSet\":[]}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct traindata *td = NULL;
        enum status st = traindata_load(bad[i], strlen(bad[i]), rel, strlen(rel), &td);
        if (st != STATUS_FORMAT)
            fail_msg("case %zu: got %s", i, status_name(st));
        assert_null(td);
    }
    const char *ok = "[{\"title\":\"t\",\"sents\":[[\"a\"]],\"vertexSet\":[[{\"sent_id\":0,"
                     "\"pos\":[0,1]}]],\"labels\":[{\"h\":0,\"t\":0,\"r\":\"P1\","
                     "\"evidence\":[0]}]}]";
    struct traindata *td = NULL;
    assert_int_equal(traindata_load(ok, strlen(ok), rel, strlen(rel), &td), STATUS_OK);
    traindata_free(td);
    assert_int_equal(traindata_load("[", 1, rel, strlen(rel), &td), STATUS_PARSE);
    assert_int_equal(traindata_load(ok, strlen(ok), "{\"P1\":\"a>>b\"}", 13, &td),
                     STATUS_FORMAT);
}

static void test_traindata_sha256_known_vectors(void **state)
{
    (void)state;
    /* FIPS 180-4 examples */
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t dg[32];
        char hex[65];
        traindata_sha256(v[i].msg, strlen(v[i].msg), dg);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", dg[k]);
        assert_string_equal(hex, v[i].hex);
    }
    char h[TRAINDATA_HASH_HEX + 1];
    traindata_title_hash("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea");
}

static void test_traindata_split_file_roundtrip(void **state)
{
    (void)state;
    struct traindata *td = open_tiny();
    struct traindata_split *s = NULL;
    assert_int_equal(traindata_split_last(td, 2, &s), STATUS_OK);
    assert_int_equal(traindata_split_size(s), 2);
    assert_false(traindata_split_is_eval(s, td, 0));
    assert_true(traindata_split_is_eval(s, td, 1));
    assert_true(traindata_split_is_eval(s, td, 2));
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/split.txt", dir);
    assert_int_equal(traindata_split_write(s, path, "a comment\nover two lines"), STATUS_OK);
    traindata_split_free(s);
    s = NULL;
    assert_int_equal(traindata_split_read(path, &s), STATUS_OK);
    assert_int_equal(traindata_split_size(s), 2);
    assert_false(traindata_split_is_eval(s, td, 0));
    assert_true(traindata_split_is_eval(s, td, 2));
    traindata_split_free(s);
    /* the file holds comments and hashes only: no title text */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        assert_null(strstr(line, "Apple"));
        n += line[0] != '#';
    }
    fclose(f);
    assert_int_equal(n, 2);
    FILE *b = fopen(path, "w");
    assert_non_null(b);
    fputs("# x\n0123456789abcdef\nnot-a-hash\n", b);
    fclose(b);
    assert_int_equal(traindata_split_read(path, &s), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "split.txt:3"));
    test_rmtree(dir);
    traindata_free(td);
}

/* ---- the real dev set (skips loudly without ../shared) --------------------------------------- */

struct real_ctx {
    size_t writes, reads, bad;
    size_t triples, queries;
};

static enum status check_real(void *ctx, const struct traindata_example *ex)
{
    struct real_ctx *c = ctx;
    struct call *call = NULL;
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        c->writes++;
        if (call_parse_write(ex->completion, ex->completion_len, &call) != STATUS_OK ||
            call->n_errors != 0 || !call->closed || call->n_triples != ex->n_items ||
            ex->prompt_len < strlen(CALL_USER_END) ||
            memcmp(ex->prompt + ex->prompt_len - strlen(CALL_USER_END), CALL_USER_END,
                   strlen(CALL_USER_END)) != 0)
            c->bad++;
        c->triples += ex->n_items;
    } else {
        c->reads++;
        /* the call is text[loss_from, spans[1][0]); the first span ends at its "-->" */
        size_t b = ex->loss_from, e = ex->spans[1][0];
        if (call_parse_read(ex->text + b, e - b, &call) != STATUS_OK || call->n_errors != 0 ||
            !call->closed || !call->has_results || call->n_queries != ex->n_items ||
            call->n_results == 0 || ex->spans[0][0] != b ||
            memcmp(ex->text + ex->spans[0][1] - 3, "-->", 3) != 0 ||
            ex->spans[1][1] != ex->text_len ||
            /* the text right after the call starts with the first result */
            strncmp(ex->text + e, call->results[0], strlen(call->results[0])) != 0)
            c->bad++;
        c->queries += ex->n_items;
    }
    call_free(call);
    return STATUS_OK;
}

static void test_traindata_real_dev_set(void **state)
{
    (void)state;
    char *docs = test_shared_path("data/redocred/dev_revised.json");
    char *rels = test_shared_path("data/redocred/rel_info.json");
    if (!docs || !rels) {
        free(docs);
        free(rels);
        skip();
    }
    struct traindata *td = NULL;
    assert_int_equal(traindata_open(docs, rels, &td), STATUS_OK);
    assert_int_equal(traindata_n_docs(td), 500);
    struct traindata_split *split = NULL;
    assert_int_equal(traindata_split_last(td, 100, &split), STATUS_OK);
    assert_int_equal(traindata_split_size(split), 100);
    /* the recorded split (data/redocred-split.txt) is exactly that: the last 100 */
    struct traindata_split *recorded = NULL;
    const char *src = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/redocred-split.txt", src && src[0] ? src : ".");
    assert_int_equal(traindata_split_read(path, &recorded), STATUS_OK);
    assert_int_equal(traindata_split_size(recorded), 100);
    for (size_t i = 0; i < traindata_n_docs(td); i++)
        assert_int_equal(traindata_split_is_eval(recorded, td, i), i >= 400);
    traindata_split_free(recorded);
    struct traindata_params p;
    traindata_params_init(&p);
    p.context_sents = 3;
    struct real_ctx c = {0};
    struct traindata_stats s = {0};
    size_t train_sents = 0, all_sents = 0;
    for (size_t i = 0; i < traindata_n_docs(td); i++) {
        all_sents += traindata_doc_n_sents(td, i);
        if (traindata_split_is_eval(split, td, i))
            continue;
        train_sents += traindata_doc_n_sents(td, i);
        assert_int_equal(traindata_doc_examples(td, i, &p, check_real, &c, &s), STATUS_OK);
    }
    /* README: 8.1 sentences per document on average */
    assert_true(all_sents > 4000 && all_sents < 4200);
    assert_int_equal(c.writes, train_sents);
    assert_int_equal(s.n_writes, train_sents);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.triples, s.n_write_triples);
    assert_true(c.reads > 1000);
    assert_int_equal(c.queries, s.n_read_queries);
    fprintf(stderr, "real dev train split: %zu writes (%zu triples), %zu reads (%zu queries)\n",
            c.writes, c.triples, c.reads, c.queries);
    traindata_split_free(split);
    traindata_free(td);
    free(docs);
    free(rels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traindata_loads_fixtures),
        cmocka_unit_test(test_traindata_writes_one_example_per_sentence),
        cmocka_unit_test(test_traindata_write_rule_order_and_skips),
        cmocka_unit_test(test_traindata_reads_at_first_mentions),
        cmocka_unit_test(test_traindata_read_results_and_queries),
        cmocka_unit_test(test_traindata_reads_to_sentence_end),
        cmocka_unit_test(test_traindata_reads_in_context_only),
        cmocka_unit_test(test_traindata_json_lines),
        cmocka_unit_test(test_traindata_json_offsets_count_characters),
        cmocka_unit_test(test_traindata_rejects_bad_documents),
        cmocka_unit_test(test_traindata_sha256_known_vectors),
        cmocka_unit_test(test_traindata_split_file_roundtrip),
        cmocka_unit_test(test_traindata_real_dev_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
