/* test_prompted.c -- prompted mode: detection, chat formats, few-shot prompts. */
#include "config.h"

#include "test_util.h"

#include "agent/constrain.h"
#include "agent/prompted.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/samp.h"
#include "engine/tok.h"
#include "protocol/call.h"
#include "util/timing.h"

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

static void test_prompted_mode_auto_resolves_by_vocabulary(void **state)
{
    (void)state;
    enum prompted_mode m = PROMPTED_MODE_NATIVE;
    assert_true(prompted_mode_parse("auto", &m));
    assert_int_equal(m, PROMPTED_MODE_AUTO);
    assert_true(prompted_mode_parse("prompted", &m));
    assert_int_equal(m, PROMPTED_MODE_PROMPTED);
    assert_true(prompted_mode_parse("native", &m));
    assert_int_equal(m, PROMPTED_MODE_NATIVE);
    assert_false(prompted_mode_parse("Native", &m));
    assert_false(prompted_mode_parse("", &m));
    assert_false(prompted_mode_parse(NULL, &m));
    assert_string_equal(prompted_mode_name(PROMPTED_MODE_PROMPTED), "prompted");
    /* a hand-built memllm vocabulary: auto is native; overrides are kept */
    struct tok *t = vocab(true);
    assert_int_equal(prompted_mode_resolve(PROMPTED_MODE_AUTO, t), PROMPTED_MODE_NATIVE);
    assert_int_equal(prompted_mode_resolve(PROMPTED_MODE_PROMPTED, t), PROMPTED_MODE_PROMPTED);
    tok_free(t);
    t = vocab(false);
    assert_int_equal(prompted_mode_resolve(PROMPTED_MODE_AUTO, t), PROMPTED_MODE_PROMPTED);
    assert_int_equal(prompted_mode_resolve(PROMPTED_MODE_NATIVE, t), PROMPTED_MODE_NATIVE);
    tok_free(t);
    /* the golden tiny model has no "({" token: auto picks prompted */
    char *path = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    if (path) {
        struct gguf *g = NULL;
        assert_int_equal(gguf_open(path, &g), STATUS_OK);
        assert_int_equal(tok_from_gguf(g, &t), STATUS_OK);
        int32_t open = tok_find(t, "({", 2);
        assert_true(open < 0 || tok_token_type(t, open) != TOK_TYPE_USER_DEFINED);
        assert_int_equal(prompted_mode_resolve(PROMPTED_MODE_AUTO, t), PROMPTED_MODE_PROMPTED);
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

/* ---- the golden model, prompted and constrained ----------------------------------------- */

struct gen {
    struct tok *t;
    struct model *m;
    struct samp *s;
    struct constrain *c;
    float *logits;
    double eval_s, mask_s;
    size_t n_steps;
};

/* Evaluate prompt + opener, then decode greedily under the constraint until the call is
 * complete; return the call text from its "({" (owned). */
static char *constrained_call(struct gen *g, const char *prompt, const char *opener,
                              enum constrain_kind kind, const char *source,
                              const char *const *names, size_t n_names)
{
    size_t plen = strlen(prompt), olen = strlen(opener);
    char *text = malloc(plen + olen + 1);
    assert_non_null(text);
    memcpy(text, prompt, plen);
    memcpy(text + plen, opener, olen + 1);
    size_t cap = tok_encode_bound(plen + olen), n = 0;
    int32_t *ids = malloc((cap + 700) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(tok_encode(g->t, text, plen + olen, TOK_ENCODE_ADD_SPECIAL, ids, cap, &n),
                     STATUS_OK);
    free(text);
    assert_true(n + 600 < model_n_ctx(g->m));
    assert_int_equal(model_eval(g->m, ids, n, 0, g->logits, false), STATUS_OK);
    assert_int_equal(constrain_begin(g->c, kind, source, strlen(source), names, n_names),
                     STATUS_OK);
    const char *after_open = strstr(opener, "({") + 2;
    assert_int_equal(constrain_feed(g->c, after_open, strlen(after_open), NULL), STATUS_OK);
    size_t first = n;
    bool complete = false;
    while (!complete) {
        assert_true(n - first < 600);
        samp_mask_clear(g->s);
        uint64_t t0 = timing_now_ns();
        assert_int_equal(constrain_mask(g->c, g->s), STATUS_OK);
        g->mask_s += timing_since_s(t0);
        int32_t id;
        assert_int_equal(samp_sample(g->s, g->logits, &id, NULL), STATUS_OK);
        assert_int_equal(constrain_accept(g->c, id, &complete), STATUS_OK);
        ids[n++] = id;
        t0 = timing_now_ns();
        assert_int_equal(model_eval(g->m, &id, 1, n - 1, g->logits, false), STATUS_OK);
        g->eval_s += timing_since_s(t0);
        g->n_steps++;
    }
    constrain_end(g->c);
    char *gen = NULL;
    assert_int_equal(tok_decode(g->t, ids + first, n - first, 0, &gen, NULL), STATUS_OK);
    free(ids);
    size_t glen = strlen(gen);
    char *call = malloc(strlen(after_open) + glen + 3);
    assert_non_null(call);
    sprintf(call, "({%s%s", after_open, gen);
    free(gen);
    model_reset(g->m);
    return call;
}

static void test_prompted_golden_model_constrained_calls(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    if (!path) {
        skip();
        return;
    }
    static const char *const rels[] = {"author", "country", "place of birth", "capital",
                                       "founded by", "director", "publication date",
                                       "instance of", "spouse", "employer"};
    struct gen g = {0};
    struct gguf *gf = NULL;
    assert_int_equal(gguf_open(path, &gf), STATUS_OK);
    assert_int_equal(tok_from_gguf(gf, &g.t), STATUS_OK);
    assert_true(prompted_detect(g.t));
    enum prompted_format fmt = prompted_format_from_gguf(gf);
    struct model_params mp;
    model_params_init(&mp);
    mp.n_ctx = 2048; /* the prompts are longer than the file's 256 */
    assert_int_equal(model_open(gf, &mp, &g.m), STATUS_OK);
    struct samp_params sp;
    samp_params_init(&sp);
    sp.temp = 0;
    assert_int_equal(samp_new(&sp, model_n_vocab(g.m), &g.s), STATUS_OK);
    struct constrain_params cp;
    constrain_params_init(&cp);
    cp.relations = rels;
    cp.n_relations = sizeof rels / sizeof rels[0];
    assert_int_equal(constrain_new(g.t, &cp, &g.c), STATUS_OK);
    g.logits = malloc(model_n_vocab(g.m) * sizeof *g.logits);
    assert_non_null(g.logits);

    /* write: the agent appends "({MEM_WRITE-->" to the prompt */
    const char *sentence = "Metropolis is a 1927 film directed by Fritz Lang in Berlin.";
    char *prompt = NULL;
    assert_int_equal(prompted_build_write(fmt, NULL, sentence, rels, cp.n_relations, &prompt),
                     STATUS_OK);
    char *call = constrained_call(&g, prompt, " ({MEM_WRITE-->", CONSTRAIN_KIND_WRITE,
                                  sentence, NULL, 0);
    free(prompt);
    struct call *pc = NULL;
    assert_int_equal(call_parse_write(call, strlen(call), &pc), STATUS_OK);
    assert_int_equal(pc->n_errors, 0);
    assert_true(pc->closed);
    fprintf(stderr, "prompted write, greedy + constraint: %s\n", call);
    call_free(pc);
    free(call);

    /* read: the answer opens a call; names come from the question and the memory */
    const char *question = "Who directed Metropolis?";
    static const char *const names[] = {"Fritz Lang", "Thea von Harbou"};
    assert_int_equal(prompted_build_read(fmt, question, &prompt), STATUS_OK);
    call = constrained_call(&g, prompt, " ({", CONSTRAIN_KIND_READ, question, names, 2);
    free(prompt);
    assert_int_equal(call_parse_read(call, strlen(call), &pc), STATUS_OK);
    assert_int_equal(pc->n_errors, 0);
    assert_true(pc->n_queries >= 1);
    fprintf(stderr, "prompted read, greedy + constraint: %s\n", call);
    call_free(pc);
    free(call);

    fprintf(stderr, "golden model: %zu constrained steps, %.3f ms per model step, %.1f us "
            "per mask (%.2f %% of a step)\n", g.n_steps, g.eval_s / (double)g.n_steps * 1e3,
            g.mask_s / (double)g.n_steps * 1e6, 100.0 * g.mask_s / g.eval_s);
    assert_true(g.mask_s < 0.1 * g.eval_s);
    free(g.logits);
    constrain_free(g.c);
    samp_free(g.s);
    model_close(g.m);
    tok_free(g.t);
    gguf_close(gf);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompted_detect_needs_user_defined_open),
        cmocka_unit_test(test_prompted_mode_auto_resolves_by_vocabulary),
        cmocka_unit_test(test_prompted_format_from_template),
        cmocka_unit_test(test_prompted_read_prompt),
        cmocka_unit_test(test_prompted_write_prompt),
        cmocka_unit_test(test_prompted_golden_model_constrained_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
