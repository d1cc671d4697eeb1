/* test_call.c -- MemLLM call syntax: DESIGN.md examples, malformed calls, scanner, formatters. */
#include "config.h"

#include "protocol/call.h"
#include "test_util.h"

static struct call *parse_ok(enum status (*fn)(const char *, size_t, struct call **),
                             const char *text)
{
    struct call *c = NULL;
    enum status st = fn(text, strlen(text), &c);
    if (st != STATUS_OK)
        fprintf(stderr, "cannot parse [%s]: %s\n", text, status_detail());
    assert_int_equal(st, STATUS_OK);
    assert_non_null(c);
    return c;
}

static void assert_error(const struct call *c, size_t i, size_t pos, enum call_error_kind kind)
{
    assert_true(i < c->n_errors);
    assert_int_equal(c->errors[i].kind, kind);
    assert_int_equal(c->errors[i].pos, pos);
}

/* Byte offset of needle's first occurrence in hay (test helper, needle must occur). */
static size_t off(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    assert_non_null(p);
    return (size_t)(p - hay);
}

/* ---- the examples of DESIGN.md section 3 ---- */

static const char design_read1[] = "({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})";
static const char design_read2[] =
    "({MEM_READ(>>founder>>Apple Inc.)-->Steve Jobs;Steve Wozniak;Ronald Wayne})";
static const char design_write[] = "({MEM_WRITE-->s1>>r1>>o1;s2>>r2>>o2})";
static const char design_write0[] = "({MEM_WRITE-->})";

static void test_call_parses_design_read_examples(void **state)
{
    (void)state;
    struct call *c = parse_ok(call_parse_read, design_read1);
    assert_int_equal(c->kind, CALL_KIND_READ);
    assert_true(c->closed);
    assert_true(c->has_results);
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(c->n_queries, 1);
    assert_string_equal(c->queries[0].subj, "Dancing on Coral");
    assert_string_equal(c->queries[0].rel, "author");
    assert_null(c->queries[0].obj);
    assert_int_equal(c->queries[0].want, CALL_WANT_OBJECT);
    assert_int_equal(c->n_results, 1);
    assert_string_equal(c->results[0], "Glenda Adams");
    call_free(c);

    c = parse_ok(call_parse_read, design_read2);
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(c->n_queries, 1);
    assert_null(c->queries[0].subj);
    assert_string_equal(c->queries[0].rel, "founder");
    assert_string_equal(c->queries[0].obj, "Apple Inc.");
    assert_int_equal(c->queries[0].want, CALL_WANT_SUBJECT);
    assert_int_equal(c->n_results, 3);
    assert_string_equal(c->results[0], "Steve Jobs");
    assert_string_equal(c->results[1], "Steve Wozniak");
    assert_string_equal(c->results[2], "Ronald Wayne");
    call_free(c);
}

static void test_call_parses_design_write_examples(void **state)
{
    (void)state;
    struct call *c = parse_ok(call_parse_write, design_write);
    assert_int_equal(c->kind, CALL_KIND_WRITE);
    assert_true(c->closed);
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(c->n_triples, 2);
    assert_string_equal(c->triples[0].subj, "s1");
    assert_string_equal(c->triples[0].rel, "r1");
    assert_string_equal(c->triples[0].obj, "o1");
    assert_string_equal(c->triples[1].subj, "s2");
    assert_string_equal(c->triples[1].rel, "r2");
    assert_string_equal(c->triples[1].obj, "o2");
    call_free(c);

    c = parse_ok(call_parse_write, design_write0);
    assert_int_equal(c->n_triples, 0);
    assert_int_equal(c->n_errors, 0);
    assert_true(c->closed);
    call_free(c);

    /* call_parse picks the kind from the keyword */
    c = parse_ok(call_parse, design_write);
    assert_int_equal(c->kind, CALL_KIND_WRITE);
    call_free(c);
    c = parse_ok(call_parse, design_read2);
    assert_int_equal(c->kind, CALL_KIND_READ);
    call_free(c);
}

static void test_call_formats_design_examples_exactly(void **state)
{
    (void)state;
    char *s = NULL;
    struct call_query q1 = {.subj = "Dancing on Coral", .rel = "author",
                            .want = CALL_WANT_OBJECT};
    const char *r1[] = {"Glenda Adams"};
    assert_int_equal(call_format_read_result(&q1, 1, r1, 1, &s), STATUS_OK);
    assert_string_equal(s, design_read1);
    free(s);
    assert_int_equal(call_format_read_query(&q1, 1, &s), STATUS_OK);
    assert_string_equal(s, "({MEM_READ(Dancing on Coral>>author>>)-->");
    free(s);

    struct call_query q2 = {.rel = "founder", .obj = "Apple Inc.", .want = CALL_WANT_SUBJECT};
    const char *r2[] = {"Steve Jobs", "Steve Wozniak", "Ronald Wayne"};
    assert_int_equal(call_format_read_result(&q2, 1, r2, 3, &s), STATUS_OK);
    assert_string_equal(s, design_read2);
    free(s);
    assert_int_equal(call_format_results(r2, 3, &s), STATUS_OK);
    assert_string_equal(s, "Steve Jobs;Steve Wozniak;Ronald Wayne})");
    free(s);

    struct call_triple t[] = {{"s1", "r1", "o1"}, {"s2", "r2", "o2"}};
    assert_int_equal(call_format_write(t, 2, &s), STATUS_OK);
    assert_string_equal(s, design_write);
    free(s);
    assert_int_equal(call_format_write(NULL, 0, &s), STATUS_OK);
    assert_string_equal(s, design_write0);
    free(s);
}

/* format(parse(x)) == x for canonical texts. */
static void test_call_round_trips_canonical_texts(void **state)
{
    (void)state;
    static const char *const texts[] = {
        design_read1,
        design_read2,
        design_write,
        design_write0,
        "({MEM_READ(Queen (band)>>genre>>)-->rock music;glam rock})",
        "({MEM_READ(>>member of>>Queen (band))-->Freddie Mercury (singer)})",
        "({MEM_READ(Z\xC3\xBCrich>>country>>;>>capital>>\xE6\x97\xA5\xE6\x9C\xAC;a>>b>>)-->})",
        "({MEM_WRITE-->\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0>>capital of>>Russia})",
        "({MEM_WRITE-->A-B>>x->y>>a>b;C (c)>>d{x>>e}f})",
        "({MEM_READ(x>>place of birth>>)-->})",
        "({MEM_READ(a>>r>>)-->",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct call *c = parse_ok(call_parse, texts[i]);
        assert_int_equal(c->n_errors, 0);
        char *s = NULL;
        if (c->kind == CALL_KIND_WRITE)
            assert_int_equal(call_format_write(c->triples, c->n_triples, &s), STATUS_OK);
        else if (c->has_results)
            assert_int_equal(call_format_read_result(c->queries, c->n_queries, c->results,
                                                     c->n_results, &s),
                             STATUS_OK);
        else
            assert_int_equal(call_format_read_query(c->queries, c->n_queries, &s), STATUS_OK);
        assert_string_equal(s, texts[i]);
        free(s);
        call_free(c);
    }
}

static void test_call_parses_pending_read(void **state)
{
    (void)state;
    struct call *c = parse_ok(call_parse_read, "({MEM_READ(a>>b>>;>>c>>d)-->");
    assert_false(c->has_results);
    assert_false(c->closed);
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(c->n_queries, 2);
    assert_int_equal(c->n_results, 0);
    assert_int_equal(c->queries[1].want, CALL_WANT_SUBJECT);
    call_free(c);
    /* the optional space after "-->" is still pending */
    c = parse_ok(call_parse_read, "({MEM_READ(a>>b>>)--> ");
    assert_false(c->has_results);
    assert_int_equal(c->n_errors, 0);
    call_free(c);
    /* an empty result list that is closed is a finished (empty) read */
    c = parse_ok(call_parse_read, "({MEM_READ(a>>b>>)-->})");
    assert_true(c->has_results);
    assert_true(c->closed);
    assert_int_equal(c->n_results, 0);
    assert_int_equal(c->n_errors, 0);
    call_free(c);
}

static void test_call_accepts_spaces_after_delimiters(void **state)
{
    (void)state;
    struct call *c = parse_ok(call_parse_read,
                              "({ MEM_READ( Dancing on Coral >> author >> )--> Glenda Adams ; "
                              "Someone Else }) ");
    assert_int_equal(c->n_errors, 0);
    assert_string_equal(c->queries[0].subj, "Dancing on Coral");
    assert_string_equal(c->queries[0].rel, "author");
    assert_int_equal(c->n_results, 2);
    assert_string_equal(c->results[0], "Glenda Adams");
    assert_string_equal(c->results[1], "Someone Else");
    call_free(c);
    c = parse_ok(call_parse_write, "({ MEM_WRITE --> a >> b c >> d ; e>>f>>g })\n");
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(c->n_triples, 2);
    assert_string_equal(c->triples[0].rel, "b c");
    assert_string_equal(c->triples[1].obj, "g");
    call_free(c);
}

static void test_call_rejects_text_that_is_not_a_call(void **state)
{
    (void)state;
    struct call *c = (struct call *)&c;
    struct call *sentinel = c;
    assert_int_equal(call_parse_read("MEM_READ(a>>b>>)-->", 19, &c), STATUS_PARSE);
    assert_string_equal(status_detail(), "byte 0: expected '({'");
    const char *t = "({MEM_READ(a>>b>>)})";
    assert_int_equal(call_parse_read(t, strlen(t), &c), STATUS_PARSE);
    assert_string_equal(status_detail(), "byte 18: missing '-->'");
    t = "({MEM_READ(a>>b>>";
    assert_int_equal(call_parse_read(t, strlen(t), &c), STATUS_PARSE);
    assert_string_equal(status_detail(), "byte 17: missing '-->'");
    t = "({MEM_WRITE>>a>>b})";
    assert_int_equal(call_parse_write(t, strlen(t), &c), STATUS_PARSE);
    assert_string_equal(status_detail(), "byte 11: missing '-->'");
    t = "({MEM_WRITE-->})";
    assert_int_equal(call_parse_read(t, strlen(t), &c), STATUS_PARSE);
    assert_string_equal(status_detail(), "byte 2: expected 'MEM_READ('");
    t = "({USER_ST})";
    assert_int_equal(call_parse(t, strlen(t), &c), STATUS_PARSE);
    assert_int_equal(call_parse(NULL, 0, &c), STATUS_PARSE);
    assert_ptr_equal(c, sentinel);
}

static void test_call_reports_malformed_queries(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *at; /* the error is at the first occurrence of this */
        enum call_error_kind kind;
        size_t n_queries;
    } cases[] = {
        {"({MEM_READ()-->", ")-->", CALL_ERR_EMPTY_PIECE, 0},
        {"({MEM_READ(  )-->", "  )", CALL_ERR_EMPTY_PIECE, 0},
        {"({MEM_READ(a>>b>>;;c>>d>>)-->", ";c", CALL_ERR_EMPTY_PIECE, 2},
        {"({MEM_READ(a>>b>>;)-->", ")", CALL_ERR_EMPTY_PIECE, 1},
        {"({MEM_READ(a>>b>>c)-->", "a>>", CALL_ERR_BOTH_SIDES, 0},
        {"({MEM_READ(>>b>>)-->", ">>b", CALL_ERR_NO_SIDE, 0},
        {"({MEM_READ(a>>>>)-->", ">>)", CALL_ERR_EMPTY_RELATION, 0},
        {"({MEM_READ(a>>b)-->", "a>>", CALL_ERR_FIELD_COUNT, 0},
        {"({MEM_READ(a>>b>>>>)-->", "a>>", CALL_ERR_FIELD_COUNT, 0},
        {"({MEM_READ(a>>b>>c>>d;e>>f>>)-->", "a>>", CALL_ERR_FIELD_COUNT, 1},
        {"({MEM_READ(a>>>b>>)-->", ">b", CALL_ERR_EDGE, 0},
        {"({MEM_READ(a>>b>>;c>>d>>;e>>f>>;g>>h>>)-->", "g>>", CALL_ERR_TOO_MANY_QUERIES, 3},
        {"({MEM_READ(a>>b>>({MEM_READ(c>>d>>)-->", "({MEM_READ(c", CALL_ERR_DELIMITER, 0},
        {"({MEM_READ(a\nb>>c>>)-->", "\n", CALL_ERR_CONTROL, 0},
        {"({MEM_READ(a\xC3>>c>>)-->", "\xC3", CALL_ERR_ENCODING, 0},
        {"({MEM_READ(x>>y>>;a>>b>>-->", "-->", CALL_ERR_MISSING_PAREN, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct call *c = parse_ok(call_parse_read, cases[i].text);
        if (c->n_errors != 1)
            fprintf(stderr, "case %zu [%s]: %zu errors\n", i, cases[i].text, c->n_errors);
        assert_int_equal(c->n_errors, 1);
        assert_error(c, 0, off(cases[i].text, cases[i].at), cases[i].kind);
        assert_int_equal(c->n_queries, cases[i].n_queries);
        assert_false(c->has_results);
        call_free(c);
    }
}

static void test_call_reports_malformed_results(void **state)
{
    (void)state;
    struct call *c = parse_ok(call_parse_read, "({MEM_READ(a>>b>>)-->x;;y;z\x01w;>v})");
    assert_int_equal(c->n_results, 2);
    assert_string_equal(c->results[0], "x");
    assert_string_equal(c->results[1], "y");
    assert_int_equal(c->n_errors, 3);
    assert_error(c, 0, 23, CALL_ERR_EMPTY_PIECE);
    assert_error(c, 1, 27, CALL_ERR_CONTROL);
    assert_error(c, 2, 30, CALL_ERR_EDGE);
    call_free(c);

    /* 31 results: 30 kept, the last reported */
    char text[512] = "({MEM_READ(a>>b>>)-->";
    for (int i = 0; i < 31; i++) {
        char r[8];
        snprintf(r, sizeof r, "%sr%d", i ? ";" : "", i);
        strcat(text, r);
    }
    strcat(text, "})");
    c = parse_ok(call_parse_read, text);
    assert_int_equal(c->n_results, 30);
    assert_string_equal(c->results[29], "r29");
    assert_int_equal(c->n_errors, 1);
    assert_error(c, 0, off(text, "r30"), CALL_ERR_TOO_MANY_RESULTS);
    call_free(c);

    /* results without the closing "})" and text after it */
    const char *t = "({MEM_READ(a>>b>>)-->x;y";
    c = parse_ok(call_parse_read, t);
    assert_int_equal(c->n_results, 2);
    assert_false(c->closed);
    assert_int_equal(c->n_errors, 1);
    assert_error(c, 0, strlen(t), CALL_ERR_UNTERMINATED);
    call_free(c);
    t = "({MEM_READ(a>>b>>)-->x}) and more";
    c = parse_ok(call_parse_read, t);
    assert_int_equal(c->n_results, 1);
    assert_int_equal(c->n_errors, 1);
    assert_error(c, 0, off(t, "and"), CALL_ERR_TRAILING);
    call_free(c);
}

static void test_call_reports_malformed_triples(void **state)
{
    (void)state;
    /* three triples, the second malformed: two triples and one error */
    const char *t = "({MEM_WRITE-->a>>b>>c;d>>e;f>>g>>h})";
    struct call *c = parse_ok(call_parse_write, t);
    assert_int_equal(c->n_triples, 2);
    assert_string_equal(c->triples[0].subj, "a");
    assert_string_equal(c->triples[1].subj, "f");
    assert_int_equal(c->n_errors, 1);
    assert_error(c, 0, off(t, "d>>"), CALL_ERR_FIELD_COUNT);
    call_free(c);

    struct {
        const char *text;
        const char *at;
        enum call_error_kind kind;
    } cases[] = {
        {"({MEM_WRITE-->>>r>>o})", ">>r", CALL_ERR_EMPTY_SUBJECT},
        {"({MEM_WRITE-->s>> >>o})", " >>o", CALL_ERR_EMPTY_RELATION},
        {"({MEM_WRITE-->s>>r>> })", " })", CALL_ERR_EMPTY_OBJECT},
        {"({MEM_WRITE-->s>>r>>o;})", "})", CALL_ERR_EMPTY_PIECE},
        {"({MEM_WRITE-->s>>r>>o>>p})", "s", CALL_ERR_FIELD_COUNT},
        {"({MEM_WRITE-->s>>r>>o-->x})", "-->x", CALL_ERR_DELIMITER},
        {"({MEM_WRITE-->s>>r>>o({x})", "({x", CALL_ERR_DELIMITER},
        {"({MEM_WRITE-->s>>r>>o--})", "--}", CALL_ERR_EDGE},
        {"({MEM_WRITE-->s>>r\x7f>>o})", "\x7f", CALL_ERR_CONTROL},
        {"({MEM_WRITE-->s>>r>>\xED\xA0\x80})", "\xED", CALL_ERR_ENCODING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = parse_ok(call_parse_write, cases[i].text);
        if (c->n_errors != 1)
            fprintf(stderr, "case %zu [%s]: %zu errors\n", i, cases[i].text, c->n_errors);
        assert_int_equal(c->n_errors, 1);
        assert_error(c, 0, off(cases[i].text, cases[i].at), cases[i].kind);
        call_free(c);
    }

    /* cut off mid-generation: the complete triple, the partial one, and the missing "})" */
    t = "({MEM_WRITE-->a>>b>>c;d>>e";
    c = parse_ok(call_parse_write, t);
    assert_int_equal(c->n_triples, 1);
    assert_false(c->closed);
    assert_int_equal(c->n_errors, 2);
    assert_error(c, 0, off(t, "d>>"), CALL_ERR_FIELD_COUNT);
    assert_error(c, 1, strlen(t), CALL_ERR_UNTERMINATED);
    call_free(c);
}

static void test_call_find_tracks_generation_states(void **state)
{
    (void)state;
    size_t b = 99, e = 99;
    enum call_kind k = CALL_KIND_READ;
    const char *t = "plain text with f(x) in it";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_NONE);
    assert_int_equal(b, 99);
    t = "Dancing on Coral is a novel by (";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_PREFIX);
    assert_int_equal(b, strlen(t) - 1);
    assert_int_equal(e, strlen(t));
    t = "Dancing on Coral is a novel by ({MEM_RE";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_OPEN);
    assert_int_equal(b, off(t, "({"));
    assert_int_equal(k, CALL_KIND_UNKNOWN);
    t = "Dancing on Coral is a novel by ({MEM_READ(Dancing on Coral>>au";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_OPEN);
    assert_int_equal(k, CALL_KIND_READ);
    assert_int_equal(e, strlen(t));
    t = "Dancing on Coral is a novel by ({MEM_READ(Dancing on Coral>>author>>)-->";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_READ_PENDING);
    assert_int_equal(b, off(t, "({"));
    assert_int_equal(e, strlen(t));
    assert_int_equal(k, CALL_KIND_READ);
    t = "x ({ MEM_READ(a>>b>>)--> ";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_READ_PENDING);
    assert_int_equal(e, strlen(t));
    /* the full sentence from DESIGN.md */
    t = "Dancing on Coral is a novel by ({MEM_READ(Dancing on Coral>>author>>)-->Glenda "
        "Adams})Glenda Adams.";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_COMPLETE);
    assert_int_equal(b, 31);
    assert_int_equal(e, off(t, "})") + 2);
    assert_int_equal(k, CALL_KIND_READ);
    t = "Who founded Apple Inc.?({MEM_READ(>>founder>>Apple Inc.)-->Steve Jobs;Steve Wozniak;"
        "Ronald Wayne})...";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_COMPLETE);
    assert_int_equal(b, 23);
    assert_int_equal(e, strlen(t) - 3);
    struct call *c = NULL;
    assert_int_equal(call_parse_read(t + b, e - b, &c), STATUS_OK);
    assert_int_equal(c->n_results, 3);
    assert_int_equal(c->n_errors, 0);
    call_free(c);
    /* results the model writes itself are not part of the pending call */
    t = "({MEM_READ(a>>b>>)--> Glen";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_READ_PENDING);
    assert_int_equal(e, off(t, "Glen"));
    /* a write is open until its "})" */
    t = "({MEM_WRITE-->a>>b>>c";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_OPEN);
    assert_int_equal(k, CALL_KIND_WRITE);
    assert_int_equal(e, strlen(t));
    /* a nested "({" abandons the first call */
    t = "({MEM_READ(a>>b({MEM_READ(c>>d>>)-->";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_ABANDONED);
    assert_int_equal(b, 0);
    assert_int_equal(e, off(t + 1, "({") + 1);
    assert_int_equal(call_find(t + e, strlen(t) - e, &b, &e, &k), CALL_STATE_READ_PENDING);
    /* unknown keyword, closed */
    t = "({FOO})";
    assert_int_equal(call_find(t, strlen(t), &b, &e, &k), CALL_STATE_COMPLETE);
    assert_int_equal(k, CALL_KIND_UNKNOWN);
    assert_int_equal(e, 7);
}

static void test_call_find_walks_a_write_prompt(void **state)
{
    (void)state;
    const char *t = "Earlier text.({USER_ST})Glenda Adams wrote Dancing on Coral."
                    "({USER_END})({MEM_WRITE-->Dancing on Coral>>author>>Glenda Adams})";
    static const enum call_kind want[] = {CALL_KIND_USER_ST, CALL_KIND_USER_END,
                                          CALL_KIND_WRITE};
    static const char *const at[] = {CALL_USER_ST, CALL_USER_END, CALL_WRITE_PREFIX};
    size_t pos = 0, len = strlen(t);
    for (int i = 0; i < 3; i++) {
        size_t b, e;
        enum call_kind k;
        assert_int_equal(call_find(t + pos, len - pos, &b, &e, &k), CALL_STATE_COMPLETE);
        assert_int_equal(k, want[i]);
        assert_int_equal(pos + b, off(t, at[i]));
        if (i == 2) {
            assert_int_equal(pos + e, len);
            struct call *c = NULL;
            assert_int_equal(call_parse_write(t + pos + b, e - b, &c), STATUS_OK);
            assert_int_equal(c->n_triples, 1);
            assert_string_equal(c->triples[0].obj, "Glenda Adams");
            call_free(c);
        }
        pos += e;
    }
    size_t b, e;
    enum call_kind k;
    assert_int_equal(call_find(t + pos, len - pos, &b, &e, &k), CALL_STATE_NONE);
}

static void test_call_format_rejects_bad_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a>>b", "a;b", "a({b", "a})b", "a-->b", "a\nb", "a\tb", "\xC3(", ">a", "a>", "{a",
        "a}", "a--", "   ", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s = (char *)&s;
        char *sentinel = s;
        struct call_query q = {.subj = "x", .rel = bad[i], .want = CALL_WANT_OBJECT};
        assert_int_equal(call_format_read_query(&q, 1, &s), STATUS_INVALID);
        assert_true(strncmp(status_detail(), "query 1, relation: ", 19) == 0);
        struct call_triple t[2] = {{"a", "b", "c"}, {"a", "b", bad[i]}};
        assert_int_equal(call_format_write(t, 2, &s), STATUS_INVALID);
        assert_true(strncmp(status_detail(), "triple 2, object: ", 18) == 0);
        const char *r[] = {"ok", bad[i]};
        assert_int_equal(call_format_results(r, 2, &s), STATUS_INVALID);
        assert_true(strncmp(status_detail(), "result 2: ", 10) == 0);
        assert_ptr_equal(s, sentinel);
    }
    char *s = NULL;
    struct call_triple t = {"a", "b", "c--"};
    assert_int_equal(call_format_write(&t, 1, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "triple 1, object: name starts or ends with '>', "
                                         "starts with '{', or ends with '}' or '--'");
    t.obj = "a\n";
    assert_int_equal(call_format_write(&t, 1, &s), STATUS_INVALID);
    assert_string_equal(status_detail(),
                        "triple 1, object: control character or line break in a name");
    t.obj = NULL;
    assert_int_equal(call_format_write(&t, 1, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "triple 1, object: empty object");
}

static void test_call_format_checks_query_sides_and_counts(void **state)
{
    (void)state;
    char *s = NULL;
    struct call_query both = {.subj = "a", .rel = "r", .obj = "o", .want = CALL_WANT_OBJECT};
    assert_int_equal(call_format_read_query(&both, 1, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "query 1: query gives both subject and object");
    struct call_query none = {.rel = "r", .obj = "", .want = CALL_WANT_SUBJECT};
    assert_int_equal(call_format_read_query(&none, 1, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "query 1, object: empty object");
    struct call_query q[4] = {
        {.subj = "a", .rel = "r", .want = CALL_WANT_OBJECT},
        {.subj = "b", .rel = "r", .obj = "", .want = CALL_WANT_OBJECT},
        {.rel = "r", .obj = " c ", .want = CALL_WANT_SUBJECT},
        {.subj = "d", .rel = "r", .want = CALL_WANT_OBJECT},
    };
    assert_int_equal(call_format_read_query(q, 0, &s), STATUS_INVALID);
    assert_int_equal(call_format_read_query(q, 4, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "4 queries (a read takes 1 to 3)");
    /* empty wanted side is fine; names are trimmed */
    assert_int_equal(call_format_read_query(q, 3, &s), STATUS_OK);
    assert_string_equal(s, "({MEM_READ(a>>r>>;b>>r>>;>>r>>c)-->");
    free(s);
    const char *r[31];
    for (int i = 0; i < 31; i++)
        r[i] = "x";
    assert_int_equal(call_format_results(r, 31, &s), STATUS_INVALID);
    assert_string_equal(status_detail(), "31 results (at most 30)");
    assert_int_equal(call_format_results(r, 30, &s), STATUS_OK);
    free(s);
    assert_int_equal(call_format_results(NULL, 0, &s), STATUS_OK);
    assert_string_equal(s, "})");
    free(s);
    struct call_triple t = {" s ", " r  x ", " o"};
    assert_int_equal(call_format_write(&t, 1, &s), STATUS_OK);
    assert_string_equal(s, "({MEM_WRITE-->s>>r  x>>o})");
    free(s);
}

/* Random structures from tricky names survive format -> parse unchanged. */
static void test_call_random_round_trips(void **state)
{
    (void)state;
    static const char *const names[] = {
        "Queen (band)", "a-b", "x->y", "a>b", "x{}y", "(", ")", "-", "-}-", "a - b", "C++",
        "\xC3\xA9t\xC3\xA9", "\xE6\x9D\xB1\xE4\xBA\xAC", "\xF0\x9F\x98\x80", "M\xC3\xBCller",
        "MEM_READ(", "USER_ST", "x -- y", "((", "a)b(c", "1,000", "x > y < z", "-a-", "}x",
    };
    const size_t nn = sizeof names / sizeof names[0];
    unsigned seed = 7;
#define RND(n) (seed = seed * 1103515245u + 12345u, (seed >> 8) % (n))
    for (int round = 0; round < 500; round++) {
        struct call_triple t[6];
        size_t nt = RND(7);
        for (size_t i = 0; i < nt; i++)
            t[i] = (struct call_triple){names[RND(nn)], names[RND(nn)], names[RND(nn)]};
        char *s = NULL;
        assert_int_equal(call_format_write(t, nt, &s), STATUS_OK);
        struct call *c = parse_ok(call_parse_write, s);
        assert_int_equal(c->n_errors, 0);
        assert_int_equal(c->n_triples, nt);
        for (size_t i = 0; i < nt; i++) {
            assert_string_equal(c->triples[i].subj, t[i].subj);
            assert_string_equal(c->triples[i].rel, t[i].rel);
            assert_string_equal(c->triples[i].obj, t[i].obj);
        }
        call_free(c);
        free(s);

        struct call_query q[3];
        size_t nq = 1 + RND(3);
        for (size_t i = 0; i < nq; i++) {
            bool obj = RND(2);
            q[i] = (struct call_query){obj ? names[RND(nn)] : NULL, names[RND(nn)],
                                       obj ? NULL : names[RND(nn)],
                                       obj ? CALL_WANT_OBJECT : CALL_WANT_SUBJECT};
        }
        const char *r[30];
        size_t nr = RND(31);
        for (size_t i = 0; i < nr; i++)
            r[i] = names[RND(nn)];
        assert_int_equal(call_format_read_result(q, nq, r, nr, &s), STATUS_OK);
        c = parse_ok(call_parse_read, s);
        assert_int_equal(c->n_errors, 0);
        assert_true(c->has_results);
        assert_int_equal(c->n_queries, nq);
        assert_int_equal(c->n_results, nr);
        for (size_t i = 0; i < nq; i++) {
            assert_int_equal(c->queries[i].want, q[i].want);
            assert_string_equal(c->queries[i].rel, q[i].rel);
            if (q[i].want == CALL_WANT_OBJECT)
                assert_string_equal(c->queries[i].subj, q[i].subj);
            else
                assert_string_equal(c->queries[i].obj, q[i].obj);
        }
        for (size_t i = 0; i < nr; i++)
            assert_string_equal(c->results[i], r[i]);
        call_free(c);
        /* the scanner sees one complete read spanning the whole text */
        size_t b, e;
        enum call_kind k;
        assert_int_equal(call_find(s, strlen(s), &b, &e, &k), CALL_STATE_COMPLETE);
        assert_int_equal(b, 0);
        assert_int_equal(e, strlen(s));
        free(s);
    }
#undef RND
}

static void test_call_name_check_matches_formatter(void **state)
{
    (void)state;
    size_t bad = 99;
    assert_int_equal(call_name_check("Queen (band)", 12, &bad), CALL_ERR_NONE);
    assert_int_equal(bad, 99);
    assert_int_equal(call_name_check("  x  ", 5, &bad), CALL_ERR_NONE);
    assert_int_equal(call_name_check("   ", 3, &bad), CALL_ERR_EMPTY_NAME);
    assert_int_equal(call_name_check(NULL, 0, &bad), CALL_ERR_EMPTY_NAME);
    assert_int_equal(call_name_check(" a;b", 4, &bad), CALL_ERR_DELIMITER);
    assert_int_equal(bad, 2);
    assert_int_equal(call_name_check(" ab--", 5, &bad), CALL_ERR_EDGE);
    assert_int_equal(bad, 3);
    assert_int_equal(call_name_check("a\xFF" "b", 3, NULL), CALL_ERR_ENCODING);
    assert_int_equal(call_name_check("a\0b", 3, &bad), CALL_ERR_CONTROL);
    assert_int_equal(bad, 1);
}

static void test_call_error_strings_are_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < CALL_ERR_COUNT_; i++) {
        assert_true(strlen(call_error_str(i)) > 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(call_error_str(i), call_error_str(j));
    }
    assert_string_equal(call_error_str(CALL_ERR_COUNT_), "unknown error");
    call_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_parses_design_read_examples),
        cmocka_unit_test(test_call_parses_design_write_examples),
        cmocka_unit_test(test_call_formats_design_examples_exactly),
        cmocka_unit_test(test_call_round_trips_canonical_texts),
        cmocka_unit_test(test_call_parses_pending_read),
        cmocka_unit_test(test_call_accepts_spaces_after_delimiters),
        cmocka_unit_test(test_call_rejects_text_that_is_not_a_call),
        cmocka_unit_test(test_call_reports_malformed_queries),
        cmocka_unit_test(test_call_reports_malformed_results),
        cmocka_unit_test(test_call_reports_malformed_triples),
        cmocka_unit_test(test_call_find_tracks_generation_states),
        cmocka_unit_test(test_call_find_walks_a_write_prompt),
        cmocka_unit_test(test_call_format_rejects_bad_names),
        cmocka_unit_test(test_call_format_checks_query_sides_and_counts),
        cmocka_unit_test(test_call_random_round_trips),
        cmocka_unit_test(test_call_name_check_matches_formatter),
        cmocka_unit_test(test_call_error_strings_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
