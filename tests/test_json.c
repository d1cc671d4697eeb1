/* test_json.c -- strict JSON parsing, error positions, accessors and string escaping. */
#include "config.h"

#include "test_util.h"
#include "util/json.h"
#include "util/utf8.h"

#include <math.h>

/* Parse a C string; returns the status and frees the document. */
static enum status parse_status(const char *text)
{
    struct json_doc *d = NULL;
    enum status st = json_parse(text, strlen(text), &d);
    json_doc_free(d);
    return st;
}

static struct json_doc *parse_ok(const char *text, size_t len)
{
    struct json_doc *d = NULL;
    enum status st = json_parse(text, len, &d);
    if (st != STATUS_OK)
        fprintf(stderr, "unexpected failure on [%.*s]: %s\n", (int)len, text, status_detail());
    assert_int_equal(st, STATUS_OK);
    assert_non_null(d);
    return d;
}

static void test_json_accepts_valid_corpus(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "null", "true", "false", "0", "-0", "1", "-1", "12345", "0.5", "-0.0e0", "1e5", "1E+5",
        "1e-5", "123.456e-789", "1.7976931348623157e308", "\"\"", "\"a\"", "\" \"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u4e2d\"", "\"\\uD834\\uDD1E\"",
        "\"\\ud83d\\ude00\"", "\"\\u0000\"", "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"",
        "\"\x7F\"", "[]", "{}", "[[]]", "[{}]", " [ ] ", "\t\n\r [1 , 2\n,3 ]\r\n",
        "{\"a\":1}", "{\"a\" : [true, false, null], \"b\": {\"c\": \"d\"}}",
        "{\"\":0}", "{\"a\":1,\"a\":2}", "[1,\"x\",{\"y\":[null]},-2.5e-3]", "\"/\"",
        "[\"\\uFFFF\", \"\\uDBFF\\uDFFF\"]", "{\"\\u0000\":1}",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        struct json_doc *d = NULL;
        enum status st = json_parse(valid[i], strlen(valid[i]), &d);
        if (st != STATUS_OK)
            fprintf(stderr, "valid case %zu [%s] rejected: %s\n", i, valid[i], status_detail());
        assert_int_equal(st, STATUS_OK);
        assert_non_null(json_doc_root(d));
        json_doc_free(d);
    }
}

static void test_json_rejects_invalid_corpus(void **state)
{
    (void)state;
    static const char *const invalid[] = {
        "", " ", "nul", "nulll", "True", "tru", "[", "]", "[1", "[1,", "[1,]", "[,1]", "[1 2]",
        "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "{,}",
        "{\"a\":1 \"b\":2}", "[1]]", "[1] x", "1 2", "01", "-01", "00", "+1", ".5", "1.", "1.e5",
        "1e", "1e+", "-", "--1", "0x10", "NaN", "Infinity", "-Infinity", "1_000", "\"abc",
        "\"\\\"", "\"\\x41\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\uD800\"", "\"\\uDC00\"",
        "\"\\uD800\\u0041\"", "\"\\uD800x\"", "\"\\uDBFF\\uDBFF\"", "\"a\nb\"", "\"a\tb\"",
        "\"\x01\"", "\"\\U0041\"", "'a'", "[\"a\",]", "\xEF\xBB\xBF[]", "[1]\xC2\xA0",
        "\xC2\xA0[1]", "[\f1]", "[\v1]", "/* c */ 1", "1 // c", "[1]\x00",
        /* grammatical, but beyond a double: refused rather than read as infinity */
        "1e999999999999999999999999", "-1e309",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct json_doc *d = (struct json_doc *)&d; /* must stay untouched */
        struct json_doc *sentinel = d;
        size_t len = strlen(invalid[i]);
        if (strcmp(invalid[i], "[1]") == 0)
            len = 4; /* "[1]\x00": the NUL is part of the text */
        enum status st = json_parse(invalid[i], len, &d);
        if (st == STATUS_OK)
            fprintf(stderr, "invalid case %zu [%s] accepted\n", i, invalid[i]);
        assert_int_not_equal(st, STATUS_OK);
        assert_ptr_equal(d, sentinel);
        assert_true(strncmp(status_detail(), "line ", 5) == 0);
    }
}

static void test_json_rejects_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"\x80\"", "\"\xC3\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"",
        "\"\xFF\"", "\"\xE2\x82\"", "\x80", "[\xFE]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_status(bad[i]), STATUS_ENCODING);
}

/* The detail for text must be exactly want. */
static void check_error(const char *text, size_t len, enum status want_st, const char *want)
{
    struct json_doc *d = NULL;
    assert_int_equal(json_parse(text, len, &d), want_st);
    assert_null(d);
    assert_string_equal(status_detail(), want);
}

static void test_json_reports_exact_error_positions(void **state)
{
    (void)state;
    check_error("", 0, STATUS_PARSE, "line 1, column 1: unexpected end of input");
    check_error("[1,2", 4, STATUS_PARSE, "line 1, column 5: unexpected end of input");
    check_error("[1 2]", 5, STATUS_PARSE, "line 1, column 4: expected ',' or ']'");
    check_error("{\"a\":1,}", 8, STATUS_PARSE, "line 1, column 8: expected a string key");
    check_error("{\"a\" 1}", 7, STATUS_PARSE, "line 1, column 6: expected ':'");
    check_error("[1,]", 4, STATUS_PARSE, "line 1, column 4: expected a value");
    check_error("{\n  \"a\": [1,\n    2,,\n  ]\n}", 25, STATUS_PARSE,
                "line 3, column 7: expected a value");
    check_error("01", 2, STATUS_PARSE, "line 1, column 2: leading zeros are not allowed");
    check_error("[1.]", 4, STATUS_PARSE, "line 1, column 4: digit expected after '.'");
    check_error("1e+", 3, STATUS_PARSE, "line 1, column 4: digit expected in exponent");
    check_error("[-x]", 4, STATUS_PARSE, "line 1, column 3: invalid number");
    check_error("nul", 3, STATUS_PARSE, "line 1, column 1: invalid literal");
    check_error("true x", 6, STATUS_PARSE, "line 1, column 6: unexpected data after the value");
    /* columns count characters: two 2-byte characters before the bad byte */
    check_error("\"\xC3\xA9\xC3\xA9\x80\"", 7, STATUS_ENCODING, "line 1, column 4: invalid UTF-8");
    check_error("\"ab\\q\"", 6, STATUS_PARSE, "line 1, column 4: invalid escape sequence");
    check_error("[\"\\uD800\"]", 10, STATUS_PARSE,
                "line 1, column 3: lone surrogate in \\u escape");
    check_error("\"a\tb\"", 5, STATUS_PARSE, "line 1, column 3: control character in string");
    check_error("\"abc", 4, STATUS_PARSE, "line 1, column 5: unterminated string");
    check_error("\r\n\r\n @", 6, STATUS_PARSE, "line 3, column 2: unexpected character");
    check_error("\xEF\xBB\xBF{}", 5, STATUS_PARSE,
                "line 1, column 1: byte order mark is not allowed");
    check_error("[1e400]", 7, STATUS_PARSE, "line 1, column 2: number out of range");
}

static void test_json_limits_nesting_depth(void **state)
{
    (void)state;
    enum { N = JSON_MAX_DEPTH + 1 };
    char *text = malloc(2 * N + 1);
    assert_non_null(text);
    /* exactly JSON_MAX_DEPTH levels parse */
    memset(text, '[', JSON_MAX_DEPTH);
    memset(text + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
    struct json_doc *d = parse_ok(text, 2 * JSON_MAX_DEPTH);
    const struct json_value *v = json_doc_root(d);
    for (int i = 1; i < JSON_MAX_DEPTH; i++)
        v = json_at(v, 0);
    assert_int_equal(json_kind(v), JSON_ARRAY);
    assert_int_equal(json_len(v), 0);
    json_doc_free(d);
    /* one more is refused at the innermost bracket */
    memset(text, '[', N);
    memset(text + N, ']', N);
    char want[128];
    snprintf(want, sizeof want, "line 1, column %d: nesting deeper than %d levels", N,
             JSON_MAX_DEPTH);
    check_error(text, 2 * N, STATUS_LIMIT, want);
    free(text);
    /* deep objects count the same way */
    size_t big = 100000;
    text = malloc(big);
    assert_non_null(text);
    for (size_t i = 0; i < big; i += 5)
        memcpy(text + i, "{\"a\":", 5);
    assert_int_equal(json_parse(text, big, &d), STATUS_LIMIT);
    free(text);
}

static void test_json_objects_keep_duplicates_first_wins(void **state)
{
    (void)state;
    const char *t = "{\"k\": 1, \"other\": \"x\", \"k\": 2, \"a\\u0000b\": true}";
    struct json_doc *d = parse_ok(t, strlen(t));
    const struct json_value *o = json_doc_root(d);
    assert_int_equal(json_kind(o), JSON_OBJECT);
    assert_int_equal(json_len(o), 4);
    int64_t i = 0;
    assert_true(json_int(json_get(o, "k"), &i));
    assert_int_equal(i, 1);
    assert_true(json_int(json_at(o, 2), &i));
    assert_int_equal(i, 2);
    size_t klen = 0;
    assert_string_equal(json_key_at(o, 1, &klen), "other");
    assert_int_equal(klen, 5);
    const char *k3 = json_key_at(o, 3, &klen);
    assert_int_equal(klen, 3);
    assert_memory_equal(k3, "a\0b", 4);
    assert_null(json_get(o, "a")); /* a C-string key cannot match "a\0b" */
    assert_null(json_get(o, "missing"));
    assert_null(json_key_at(o, 4, NULL));
    assert_null(json_at(o, 4));
    assert_null(json_get(json_get(o, "other"), "k")); /* not an object */
    json_doc_free(d);
}

static void test_json_accessors_check_kinds(void **state)
{
    (void)state;
    const char *t = "[null, true, false, 3, \"s\", [1], {}]";
    struct json_doc *d = parse_ok(t, strlen(t));
    const struct json_value *a = json_doc_root(d);
    assert_int_equal(json_len(a), 7);
    static const enum json_kind kinds[] = {JSON_NULL,   JSON_BOOL,  JSON_BOOL,  JSON_NUMBER,
                                           JSON_STRING, JSON_ARRAY, JSON_OBJECT};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(json_kind(json_at(a, i)), kinds[i]);
    assert_null(json_at(a, 7));
    assert_null(json_key_at(a, 0, NULL));
    assert_null(json_get(a, "x"));
    bool b = false;
    assert_true(json_bool(json_at(a, 1), &b));
    assert_true(b);
    assert_true(json_bool(json_at(a, 2), &b));
    assert_false(b);
    assert_false(json_bool(json_at(a, 0), &b));
    double x = -1;
    assert_false(json_num(json_at(a, 4), &x));
    assert_true(x == -1);
    int64_t i = 42;
    assert_false(json_int(json_at(a, 1), &i));
    assert_int_equal(i, 42);
    assert_null(json_str(json_at(a, 3), NULL));
    assert_int_equal(json_len(json_at(a, 3)), 0);
    assert_int_equal(json_len(json_at(a, 5)), 1);
    assert_null(json_at(json_at(a, 4), 0));
    /* NULL values are tolerated everywhere */
    assert_int_equal(json_kind(NULL), JSON_NULL);
    assert_int_equal(json_len(NULL), 0);
    assert_null(json_at(NULL, 0));
    assert_null(json_str(NULL, NULL));
    assert_false(json_num(NULL, &x));
    assert_null(json_doc_root(NULL));
    json_doc_free(NULL);
    json_doc_free(d);
}

static void test_json_decodes_strings(void **state)
{
    (void)state;
    const char *t = "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u0041\\u00E9\\u20ac\", "
                    "\"\\uD83D\\uDE00\", \"x\\u0000y\", \"\xE4\xB8\xAD\\u6587\"]";
    struct json_doc *d = parse_ok(t, strlen(t));
    const struct json_value *a = json_doc_root(d);
    size_t n = 0;
    const char *s = json_str(json_at(a, 0), &n);
    assert_int_equal(n, 8);
    assert_memory_equal(s, "\"\\/\b\f\n\r\t", 9);
    assert_string_equal(json_str(json_at(a, 1), NULL), "A\xC3\xA9\xE2\x82\xAC");
    assert_string_equal(json_str(json_at(a, 2), NULL), "\xF0\x9F\x98\x80");
    s = json_str(json_at(a, 3), &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "x\0y", 4);
    assert_string_equal(json_str(json_at(a, 4), NULL), "\xE4\xB8\xAD\xE6\x96\x87");
    json_doc_free(d);
}

static void test_json_reads_numbers(void **state)
{
    (void)state;
    const char *t = "[0, -0, 42, -17, 2.5, 1e2, 2.50e1, 1.5, 1e19, 9223372036854775807, "
                    "-9223372036854775808, 9223372036854775808, 1e-400, 0.1, 100e-2, "
                    "123456789012345678901234567890e-11, 0.000e99999, 9007199254740993, "
                    "1E3]";
    struct json_doc *d = parse_ok(t, strlen(t));
    const struct json_value *a = json_doc_root(d);
    struct {
        bool is_int;
        int64_t i;
        double x;
    } want[] = {
        {true, 0, 0.0},
        {true, 0, -0.0},
        {true, 42, 42.0},
        {true, -17, -17.0},
        {false, 0, 2.5},
        {true, 100, 100.0},
        {true, 25, 25.0},
        {false, 0, 1.5},
        {false, 0, 1e19},
        {true, INT64_MAX, 9223372036854775807.0},
        {true, INT64_MIN, -9223372036854775808.0},
        {false, 0, 9223372036854775808.0},
        {false, 0, 0.0},
        {false, 0, 0.1},
        {true, 1, 1.0},
        {false, 0, 1234567890123456789.01234567890},
        {true, 0, 0.0},
        {true, INT64_C(9007199254740993), 9007199254740992.0},
        {true, 1000, 1000.0},
    };
    assert_int_equal(json_len(a), sizeof want / sizeof want[0]);
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const struct json_value *v = json_at(a, k);
        double x = -123;
        int64_t i = -123;
        assert_true(json_num(v, &x));
        assert_true(x == want[k].x);
        assert_int_equal(signbit(x) != 0, signbit(want[k].x) != 0);
        assert_int_equal(json_int(v, &i), want[k].is_int);
        if (want[k].is_int)
            assert_int_equal(i, want[k].i);
        else
            assert_int_equal(i, -123);
    }
    json_doc_free(d);
}

static void test_json_escape_writes_expected_text(void **state)
{
    (void)state;
    struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"a\"b\\c/", 6, "\"a\\\"b\\\\c/\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\""},
        {"x\0y", 3, "\"x\\u0000y\""},
        {"\xC3\xA9\xF0\x9F\x98\x80", 6, "\"\xC3\xA9\xF0\x9F\x98\x80\""},
        {"a\x80" "b", 3, "\"a\\ufffdb\""},
        {"\xC3", 1, "\"\\ufffd\""},
        {"\xED\xA0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xE2\x82", 2, "\"\\ufffd\\ufffd\""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *e = json_escape(cases[k].in, cases[k].len);
        assert_non_null(e);
        assert_string_equal(e, cases[k].out);
        /* the FILE writer produces the same bytes */
        char *buf = NULL;
        size_t blen = 0;
        FILE *f = open_memstream(&buf, &blen);
        assert_non_null(f);
        json_write_str(f, cases[k].in, cases[k].len);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(blen, strlen(e));
        assert_memory_equal(buf, e, blen);
        free(buf);
        free(e);
    }
}

static void test_json_escape_round_trips(void **state)
{
    (void)state;
    /* every byte value below 0x80 plus multi-byte characters, then random valid UTF-8 */
    char in[256];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++)
        in[n++] = (char)c;
    memcpy(in + n, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBF", 12);
    n += 12;
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t len = round == 0 ? n : 0;
        char buf[256];
        const char *s = in;
        if (round > 0) {
            /* random sequence of code points from several ranges */
            while (len < 200) {
                seed = seed * 1103515245u + 12345u;
                uint32_t cp = (seed >> 8) % 0x110000;
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    continue;
                char enc[4];
                size_t m = 0;
                m = (seed & 3) == 0 ? (size_t)1 : 0;
                if (m) {
                    buf[len++] = (char)((seed >> 4) & 0x7f);
                    continue;
                }
                m = utf8_encode(cp, enc);
                memcpy(buf + len, enc, m);
                len += m;
            }
            s = buf;
        }
        char *e = json_escape(s, len);
        assert_non_null(e);
        struct json_doc *d = parse_ok(e, strlen(e));
        size_t got_len = 0;
        const char *got = json_str(json_doc_root(d), &got_len);
        assert_non_null(got);
        assert_int_equal(got_len, len);
        assert_memory_equal(got, s, len);
        json_doc_free(d);
        free(e);
    }
    /* invalid bytes come back as U+FFFD */
    char *e = json_escape("a\xFF" "b", 3);
    struct json_doc *d = parse_ok(e, strlen(e));
    assert_string_equal(json_str(json_doc_root(d), NULL), "a\xEF\xBF\xBD" "b");
    json_doc_free(d);
    free(e);
}

static void test_json_parses_json_lines(void **state)
{
    (void)state;
    const char *t = "{\"n\":1}\n{\"n\":2}\n\n[3]\n";
    const char *p = t, *end = t + strlen(t);
    int64_t sum = 0;
    int docs = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len) {
            struct json_doc *d = parse_ok(p, len);
            const struct json_value *r = json_doc_root(d);
            int64_t i = 0;
            if (json_kind(r) == JSON_OBJECT)
                assert_true(json_int(json_get(r, "n"), &i));
            else
                assert_true(json_int(json_at(r, 0), &i));
            sum += i;
            docs++;
            json_doc_free(d);
        }
        p += len + 1;
    }
    assert_int_equal(docs, 3);
    assert_int_equal(sum, 6);
}

static void test_json_handles_large_documents(void **state)
{
    (void)state;
    /* enough values to need many arena blocks; also checks that values do not move */
    size_t n = 50000;
    size_t cap = n * 40 + 16;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t len = 0;
    t[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%s{\"i\":%zu,\"s\":\"v%zu\"}", i ? "," : "",
                                i, i);
    t[len++] = ']';
    struct json_doc *d = parse_ok(t, len);
    const struct json_value *a = json_doc_root(d);
    assert_int_equal(json_len(a), n);
    for (size_t i = 0; i < n; i += 997) {
        int64_t v = -1;
        assert_true(json_int(json_get(json_at(a, i), "i"), &v));
        assert_int_equal(v, (int64_t)i);
        char want[32];
        snprintf(want, sizeof want, "v%zu", i);
        assert_string_equal(json_str(json_get(json_at(a, i), "s"), NULL), want);
    }
    json_doc_free(d);
    free(t);
}

static void test_json_reads_golden_tokenizer_cases(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tokenizer-cases.json");
    if (!path) {
        skip();
        return;
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    struct json_doc *d = parse_ok(buf, len);
    const struct json_value *cases = json_doc_root(d);
    assert_int_equal(json_kind(cases), JSON_ARRAY);
    assert_true(json_len(cases) > 0);
    for (size_t i = 0; i < json_len(cases); i++) {
        const struct json_value *c = json_at(cases, i);
        assert_non_null(json_str(json_get(c, "text"), NULL));
        const struct json_value *ids = json_get(c, "ids");
        const struct json_value *pieces = json_get(c, "pieces");
        assert_int_equal(json_kind(ids), JSON_ARRAY);
        assert_int_equal(json_len(ids), json_len(pieces));
        for (size_t k = 0; k < json_len(ids); k++) {
            int64_t id = -1;
            assert_true(json_int(json_at(ids, k), &id));
            assert_true(id >= 0);
            assert_non_null(json_str(json_at(pieces, k), NULL));
        }
    }
    /* the first case is plain text, known from the file itself */
    assert_string_equal(json_str(json_get(json_at(cases, 0), "text"), NULL), "Hello world");
    json_doc_free(d);
    free(buf);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_accepts_valid_corpus),
        cmocka_unit_test(test_json_rejects_invalid_corpus),
        cmocka_unit_test(test_json_rejects_invalid_utf8),
        cmocka_unit_test(test_json_reports_exact_error_positions),
        cmocka_unit_test(test_json_limits_nesting_depth),
        cmocka_unit_test(test_json_objects_keep_duplicates_first_wins),
        cmocka_unit_test(test_json_accessors_check_kinds),
        cmocka_unit_test(test_json_decodes_strings),
        cmocka_unit_test(test_json_reads_numbers),
        cmocka_unit_test(test_json_escape_writes_expected_text),
        cmocka_unit_test(test_json_escape_round_trips),
        cmocka_unit_test(test_json_parses_json_lines),
        cmocka_unit_test(test_json_handles_large_documents),
        cmocka_unit_test(test_json_reads_golden_tokenizer_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
