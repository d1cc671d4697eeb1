/* test_embed_model.c -- the model-based embedder (src/agent/embed_model.c) and
 * model_embed() (src/engine/model.c) on the golden tiny model (skipped loudly without
 * ../shared). */
#include "config.h"

#include "test_util.h"

#include <math.h>

#include "agent/embed_model.h"
#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "memory/ctrl.h"
#include "memory/embed.h"
#include "memory/store.h"

#define GOLDEN "golden/tiny-mistral-a-f32.gguf"

static struct gguf *open_golden(void)
{
    char *path = test_shared_path(GOLDEN);
    if (!path)
        return NULL;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    free(path);
    return g;
}

/* model_embed() of the last position alone is the hidden state the output head multiplies:
 * the logits of model_eval() are W_out times it, up to its norm (one common factor). */
static void test_embed_model_hidden_state_is_what_the_head_sees(void **state)
{
    (void)state;
    struct gguf *g = open_golden();
    if (!g)
        skip();
    struct model_params mp;
    model_params_init(&mp);
    mp.n_ctx = 64;
    struct model *m = NULL;
    assert_int_equal(model_open(g, &mp, &m), STATUS_OK);
    size_t nv = model_n_vocab(m), d = model_n_embd(m);
    int64_t ti = gguf_find_tensor(g, "output.weight");
    if (ti < 0)
        ti = gguf_find_tensor(g, "token_embd.weight");
    assert_true(ti >= 0);
    assert_int_equal(gguf_tensor_type(g, ti), DTYPE_F32);
    const float *w = gguf_tensor_data(g, ti);
    const int32_t toks[] = {1, 415, 5565, 302, 4843, 349};
    float *logits = malloc(nv * sizeof *logits), *e = malloc(d * sizeof *e);
    assert_non_null(logits);
    assert_non_null(e);
    assert_int_equal(model_eval(m, toks, 6, 0, logits, false), STATUS_OK);
    assert_int_equal(model_embed(m, toks, 6, 5, e), STATUS_OK);
    assert_int_equal(model_n_past(m), 6);
    double norm = 0;
    for (size_t i = 0; i < d; i++)
        norm += (double)e[i] * e[i];
    assert_true(fabs(norm - 1.0) < 1e-5);
    /* logits[v] = |h| * (w_v . e) for every v: estimate |h| by least squares, check all */
    double num = 0, den = 0;
    double *dots = malloc(nv * sizeof *dots);
    assert_non_null(dots);
    for (size_t v = 0; v < nv; v++) {
        double s = 0;
        for (size_t i = 0; i < d; i++)
            s += (double)w[v * d + i] * e[i];
        dots[v] = s;
        num += s * logits[v];
        den += s * s;
    }
    double scale = num / den, maxerr = 0, maxlog = 0;
    assert_true(scale > 0);
    for (size_t v = 0; v < nv; v++) {
        double err = fabs(scale * dots[v] - logits[v]);
        maxerr = err > maxerr ? err : maxerr;
        maxlog = fabs(logits[v]) > maxlog ? fabs(logits[v]) : maxlog;
    }
    assert_true(maxerr < 1e-3 * (maxlog + 1));
    /* pooling over all positions differs from the last one alone; empty input refused */
    float *e2 = malloc(d * sizeof *e2);
    assert_non_null(e2);
    assert_int_equal(model_embed(m, toks, 6, 1, e2), STATUS_OK);
    double dot = 0;
    for (size_t i = 0; i < d; i++)
        dot += (double)e[i] * e2[i];
    assert_true(dot < 0.9999);
    assert_int_equal(model_embed(m, toks, 0, 0, e2), STATUS_INVALID);
    free(e2);
    free(dots);
    free(logits);
    free(e);
    model_close(m);
    gguf_close(g);
}

static double cosine(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void test_embed_model_same_text_same_unit_vector(void **state)
{
    (void)state;
    struct gguf *g = open_golden();
    if (!g)
        skip();
    struct embedder e;
    assert_int_equal(embed_model_new(g, 1, &e), STATUS_OK);
    assert_int_equal(strncmp(e.id, "model:", 6), 0);
    char dimtxt[32];
    snprintf(dimtxt, sizeof dimtxt, ":%zu:", e.dim);
    assert_non_null(strstr(e.id, dimtxt));
    assert_true(e.dim > 0);
    const char *texts[] = {"Steve Jobs", "Apple Inc.", "Steve Jobs", ""};
    size_t lens[] = {10, 10, 10, 0};
    float *v = malloc(4 * e.dim * sizeof *v);
    assert_non_null(v);
    assert_int_equal(embed_texts(&e, texts, lens, 4, v), STATUS_OK);
    for (size_t r = 0; r < 4; r++)
        assert_true(fabs(cosine(v + r * e.dim, v + r * e.dim, e.dim) - 1.0) < 1e-5);
    assert_memory_equal(v, v + 2 * e.dim, e.dim * sizeof *v);
    assert_true(cosine(v, v + e.dim, e.dim) < 0.9999);
    assert_true(cosine(v, v + 3 * e.dim, e.dim) < 0.9999);
    /* one at a time gives the same as in a batch */
    float *one = malloc(e.dim * sizeof *one);
    assert_non_null(one);
    assert_int_equal(embed_one(&e, "Apple Inc.", 10, one), STATUS_OK);
    assert_memory_equal(one, v + e.dim, e.dim * sizeof *one);
    /* a long text is cut, not refused */
    char longtxt[2000];
    memset(longtxt, 'a', sizeof longtxt - 1);
    for (size_t i = 5; i < sizeof longtxt - 1; i += 6)
        longtxt[i] = ' ';
    longtxt[sizeof longtxt - 1] = '\0';
    assert_int_equal(embed_one(&e, longtxt, strlen(longtxt), one), STATUS_OK);
    free(one);
    free(v);
    embed_free(&e);
    assert_true(embed_model_name_ok("hash"));
    assert_true(embed_model_name_ok("model"));
    assert_false(embed_model_name_ok("Model"));
    gguf_close(g);
}

/* A database built with one embedder refuses the other; with the model embedder a
 * memory works (a write is read back). */
static void test_embed_model_database_mismatch_detected(void **state)
{
    (void)state;
    struct gguf *g = open_golden();
    if (!g)
        skip();
    char *dir = test_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/m.db", dir);
    struct embedder eh, em;
    assert_int_equal(embed_hash_new(0, &eh), STATUS_OK);
    assert_int_equal(embed_model_new(g, 1, &em), STATUS_OK);
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &eh, &c), STATUS_OK);
    ctrl_close(c);
    assert_int_equal(ctrl_open(m, &em, &c), STATUS_EMBEDDER_MISMATCH);
    mem_close(m);
    /* a fresh database with the model embedder */
    snprintf(path, sizeof path, "%s/m2.db", dir);
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &em, &c), STATUS_OK);
    const struct ctrl_triple_in t = {"Apple Inc.", "founder", "Steve Jobs"};
    assert_int_equal(ctrl_write(c, &t, 1, NULL, NULL), STATUS_OK);
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(c, CTRL_WANT_OBJECT, "Apple Inc.", "founder", &r), STATUS_OK);
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "Steve Jobs");
    ctrl_read_free(r);
    ctrl_close(c);
    const char *id = NULL;
    size_t dim = 0;
    mem_embedder_get(m, &id, &dim);
    assert_string_equal(id, em.id);
    assert_int_equal(dim, em.dim);
    assert_int_equal(ctrl_open(m, &eh, &c), STATUS_EMBEDDER_MISMATCH);
    mem_close(m);
    embed_free(&eh);
    embed_free(&em);
    test_rmtree(dir);
    gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_model_hidden_state_is_what_the_head_sees),
        cmocka_unit_test(test_embed_model_same_text_same_unit_vector),
        cmocka_unit_test(test_embed_model_database_mismatch_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
