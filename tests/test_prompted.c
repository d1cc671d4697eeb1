/* test_prompted.c -- prompted mode: detection, chat formats, few-shot prompts. */
#include "config.h"

#include "test_util.h"

#include "agent/prompted.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "protocol/call.h"

static struct tok *vocab(bool memllm)
{
    static const char *const pieces[] = {"<unk>", "<s>", "</s>", "({", "})", "-->", "a"};
    int32_t types[] = {TOK_TYPE_UNKNOWN, TOK_TYPE_CONTROL, TOK_TYPE_CONTROL, 0, 0, 0,
                       TOK_TYPE_NORMAL};
    for (int i = 3; i < 6; i++)
        types[i] = memllm ? TOK_TYPE_USER_DEFINED : TOK_TYPE_NORMAL;
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = 7;
    d.tokens = pieces;
    d.types = types;
    d.unk_id = 0;
    struct tok *t = NULL;
    assert_int_equal(tok_new(&d, &t), STATUS_OK);
    return t;
}

static void test_prompted_detect_needs_user_defined_open(void **state)
{
    (void)state;
    struct tok *t = vocab(true);
    assert_false(prompted_detect(t));
    tok_free(t);
    t = vocab(false); /* "({" exists but as ordinary text */
    assert_true(prompted_detect(t));
    tok_free(t);
    char *path = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    if (path) {
        struct gguf *g = NULL;
        assert_int_equal(gguf_open(path, &g), STATUS_OK);
        assert_int_equal(tok_from_gguf(g, &t), STATUS_OK);
        assert_true(prompted_detect(t)); /* a plain Llama vocabulary */
        assert_int_equal(prompted_format_from_gguf(g), PROMPTED_FORMAT_MISTRAL);
        tok_free(t);
        gguf_close(g);
        free(path);
    }
}

static void test_prompted_format_from_template(void **state)
{
    (void)state;
    assert_int_equal(prompted_format_from_template(NULL), PROMPTED_FORMAT_MISTRAL);
    assert_int_equal(prompted_format_from_template(
                         "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} "
                         "[/INST]{% endfor %}"),
                     PROMPTED_FORMAT_MISTRAL);
    assert_int_equal(prompted_format_from_template(
                         "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                         "{{ m['content'] }}<|im_end|>\n{% endfor %}"),
                     PROMPTED_FORMAT_CHATML);
    assert_string_equal(prompted_format_name(PROMPTED_FORMAT_CHATML), "chatml");
    assert_string_equal(prompted_format_name(PROMPTED_FORMAT_MISTRAL), "mistral");
}

/* Every example line ("Answer: " / "Call: ") holds one call that parses with no error;
 * returns how many there were. */
static size_t check_examples(const char *prompt, enum call_kind want)
{
    size_t n = 0;
    for (const char *line = prompt; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *body = NULL;
        if (len > 8 && !strncmp(line, "Answer: ", 8))
            body = line + 8;
        else if (len > 6 && !strncmp(line, "Call: ", 6))
            body = line + 6;
        if (body) {
            size_t blen = len - (size_t)(body - line), b = 0, e = 0;
            enum call_kind kind = CALL_KIND_UNKNOWN;
            assert_int_equal(call_find(body, blen, &b, &e, &kind), CALL_STATE_COMPLETE);
            assert_int_equal(b, 0);
            assert_int_equal(kind, want);
            struct call *c = NULL;
            assert_int_equal(call_parse(body + b, e - b, &c), STATUS_OK);
            if (c->n_errors)
                fail_msg("example \"%.*s\": %zu errors", (int)(e - b), body + b, c->n_errors);
            assert_true(c->closed);
            assert_true(want == CALL_KIND_READ ? c->n_queries >= 1 : true);
            call_free(c);
            n++;
        }
        line = eol ? eol + 1 : NULL;
    }
    return n;
}

static void test_prompted_read_prompt(void **state)
{
    (void)state;
    char *p = NULL;
    const char *q = "Who directed Metropolis?";
    assert_int_equal(prompted_build_read(PROMPTED_FORMAT_MISTRAL, q, &p), STATUS_OK);
    assert_int_equal(strncmp(p, "[INST] ", 7), 0);
    size_t len = strlen(p);
    assert_true(len > 8 && !strcmp(p + len - 8, " [/INST]"));
    assert_non_null(strstr(p, "Question: Who directed Metropolis? [/INST]"));
    assert_true(check_examples(p, CALL_KIND_READ) >= 3);
    free(p);
    assert_int_equal(prompted_build_read(PROMPTED_FORMAT_CHATML, q, &p), STATUS_OK);
    assert_int_equal(strncmp(p, "<|im_start|>user\n", 17), 0);
    assert_non_null(strstr(p, "Who directed Metropolis?<|im_end|>\n<|im_start|>assistant\n"));
    assert_true(check_examples(p, CALL_KIND_READ) >= 3);
    free(p);
    assert_int_equal(prompted_build_read(PROMPTED_FORMAT_MISTRAL, NULL, &p), STATUS_INVALID);
    assert_int_equal(prompted_template_read(PROMPTED_FORMAT_MISTRAL, &p), STATUS_OK);
    assert_non_null(strstr(p, "Question: {question} [/INST]"));
    free(p);
}

static void test_prompted_write_prompt(void **state)
{
    (void)state;
    static const char *const rels[] = {"author", "country", "place of birth"};
    char *p = NULL;
    assert_int_equal(prompted_build_write(PROMPTED_FORMAT_MISTRAL, "Fritz Lang was a director.",
                                          "He directed Metropolis.", rels, 3, &p),
                     STATUS_OK);
    assert_int_equal(strncmp(p, "[INST] ", 7), 0);
    assert_non_null(strstr(p, "Relations to use: author; country; place of birth\n"));
    assert_non_null(strstr(p, "Earlier text: Fritz Lang was a director.\n"));
    assert_non_null(strstr(p, "Sentence: He directed Metropolis. [/INST]"));
    assert_true(check_examples(p, CALL_KIND_WRITE) >= 3);
    free(p);
    assert_int_equal(prompted_build_write(PROMPTED_FORMAT_CHATML, NULL, "X is Y.", NULL, 0, &p),
                     STATUS_OK);
    assert_null(strstr(p, "Earlier text"));
    assert_null(strstr(p, "Relations to use"));
    assert_non_null(strstr(p, "Sentence: X is Y.<|im_end|>\n<|im_start|>assistant\n"));
    assert_true(check_examples(p, CALL_KIND_WRITE) >= 3);
    free(p);
    assert_int_equal(prompted_template_write(PROMPTED_FORMAT_MISTRAL, NULL, 0, &p), STATUS_OK);
    assert_non_null(strstr(p, "Earlier text: {context}\nSentence: {sentence} [/INST]"));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompted_detect_needs_user_defined_open),
        cmocka_unit_test(test_prompted_format_from_template),
        cmocka_unit_test(test_prompted_read_prompt),
        cmocka_unit_test(test_prompted_write_prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
