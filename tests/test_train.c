/* test_train.c -- gradient checks of the training backward pass, packing and masking,
 * agreement with the inference engine, AdamW, schedule, determinism and resuming. */
#include "config.h"

#include <math.h>

#include "test_util.h"

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "engine/train.h"

#define T_SEQ 8

static void tiny_config(struct train_config *c)
{
    train_config_init(c);
    c->n_vocab = 40;
    c->dim = 16;
    c->n_layer = 2;
    c->n_head = 4;
    c->n_head_kv = 2;
    c->n_ff = 24;
    c->n_ctx = 16;
}

static struct train_model *tiny_model(uint64_t seed)
{
    struct train_config c;
    tiny_config(&c);
    struct train_model *m = NULL;
    assert_int_equal(train_model_new(&c, seed, &m), STATUS_OK);
    /* norm weights away from 1 so their gradients and uses are visible */
    uint64_t s = seed * 7 + 1;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        if (t != TRAIN_TENSOR_ATTN_NORM && t != TRAIN_TENSOR_FFN_NORM &&
            t != TRAIN_TENSOR_OUTPUT_NORM)
            continue;
        for (size_t l = 0; l < 2; l++) {
            size_t n;
            float *w = train_param(m, (enum train_tensor)t, l, &n);
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                w[i] = 0.7f + 0.6f * (float)(s >> 40) / (float)(1ull << 24);
            }
        }
    }
    return m;
}

/* Two rows of 8: row 0 packs two examples (4 + 4 tokens), row 1 one example with a loss
 * mask on its first half. */
struct tiny_batch {
    int32_t tokens[2 * T_SEQ], targets[2 * T_SEQ], pos[2 * T_SEQ];
    struct train_batch b;
};

static void tiny_batch(struct tiny_batch *tb, unsigned salt)
{
    for (int i = 0; i < 2 * T_SEQ; i++)
        tb->tokens[i] = (int32_t)((i * 7 + 3 + salt * 11) % 40);
    for (int i = 0; i < 2 * T_SEQ; i++) {
        int row = i / T_SEQ, t = i % T_SEQ;
        if (row == 0) {
            tb->pos[i] = t % 4;
            tb->targets[i] = t % 4 == 3 ? -1 : tb->tokens[i + 1];
        } else {
            tb->pos[i] = t;
            tb->targets[i] = (t < 3 || t == T_SEQ - 1) ? -1 : tb->tokens[i + 1];
        }
    }
    tb->b.n_seq = 2;
    tb->b.seq_len = T_SEQ;
    tb->b.tokens = tb->tokens;
    tb->b.targets = tb->targets;
    tb->b.pos = tb->pos;
}

static double loss_of(struct train_model *m, const struct train_batch *b)
{
    double sum;
    size_t n;
    assert_int_equal(train_forward(m, b, &sum, &n, NULL), STATUS_OK);
    assert_true(n > 0);
    return sum / (double)n;
}

/* Central differences on every element of every tensor (they are tiny), compared with
 * the analytic gradient relative to the tensor's largest gradient. */
static void test_train_gradients_match_finite_differences(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(42);
    struct tiny_batch tb;
    tiny_batch(&tb, 0);
    double sum;
    size_t cnt;
    assert_int_equal(train_forward(m, &tb.b, &sum, &cnt, NULL), STATUS_OK);
    assert_int_equal(cnt, 6 + 4);
    train_zero_grad(m);
    assert_int_equal(train_backward(m, &tb.b, 1.0f / (float)cnt, NULL, NULL), STATUS_OK);
    const float h = 1e-2f;
    for (int t = 0; t < TRAIN_TENSOR_COUNT_; t++) {
        for (size_t l = 0; l < 2; l++) {
            size_t n;
            float *w = train_param(m, (enum train_tensor)t, l, &n);
            const float *g = train_grad(m, (enum train_tensor)t, l, NULL);
            float gmax = 0;
            for (size_t i = 0; i < n; i++)
                gmax = fabsf(g[i]) > gmax ? fabsf(g[i]) : gmax;
            assert_true(gmax > 1e-5f);
            double worst = 0;
            for (size_t i = 0; i < n; i++) {
                float w0 = w[i];
                w[i] = w0 + h;
                double lp = loss_of(m, &tb.b);
                w[i] = w0 - h;
                double lm = loss_of(m, &tb.b);
                w[i] = w0;
                double num = (lp - lm) / (2.0 * h);
                double err = fabs(num - g[i]) / gmax;
                worst = err > worst ? err : worst;
            }
            char name[64];
            train_tensor_name((enum train_tensor)t, l, name, sizeof name);
            if (worst > 1e-2)
                fail_msg("%s: gradient error %.3g of the largest gradient %.3g", name, worst,
                         (double)gmax);
        }
    }
    train_model_free(m);
}

/* Tokens without a target contribute nothing: changing the target of a masked token does
 * not change loss or gradients, and the last token of an example never sees the next one. */
static void test_train_packed_examples_do_not_attend_across(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(3);
    size_t V = 40;
    struct tiny_batch tb;
    tiny_batch(&tb, 1);
    float *logits = malloc(2 * T_SEQ * V * sizeof(float));
    float *alone = malloc(T_SEQ * V * sizeof(float));
    assert_int_equal(train_forward(m, &tb.b, NULL, NULL, logits), STATUS_OK);
    /* the second example of row 0, run alone at positions 0..3 */
    struct train_batch one = {1, 4, tb.tokens + 4, tb.targets + 4, tb.pos + 4};
    assert_int_equal(train_forward(m, &one, NULL, NULL, alone), STATUS_OK);
    for (size_t i = 0; i < 4 * V; i++)
        assert_float_equal(logits[4 * V + i], alone[i], 1e-5);
    /* changing the first example does not move the second */
    tb.tokens[1] = (tb.tokens[1] + 5) % 40;
    float *again = malloc(2 * T_SEQ * V * sizeof(float));
    assert_int_equal(train_forward(m, &tb.b, NULL, NULL, again), STATUS_OK);
    bool moved = false;
    for (size_t i = 0; i < 4 * V; i++)
        moved |= again[i] != logits[i];
    assert_true(moved);
    assert_memory_equal(again + 4 * V, logits + 4 * V, 4 * V * sizeof(float));
    /* the loss is the mean over tokens with a target, from the logits (in double here) */
    double l1;
    size_t n1;
    assert_int_equal(train_forward(m, &tb.b, &l1, &n1, NULL), STATUS_OK);
    double want = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < 2 * T_SEQ; i++) {
        if (tb.targets[i] < 0)
            continue;
        const float *z = again + i * V;
        double mx = z[0], s = 0;
        for (size_t j = 1; j < V; j++)
            mx = z[j] > mx ? z[j] : mx;
        for (size_t j = 0; j < V; j++)
            s += exp(z[j] - mx);
        want += mx + log(s) - z[tb.targets[i]];
        cnt++;
    }
    assert_int_equal(n1, cnt);
    assert_int_equal(cnt, 10);
    assert_float_equal(l1, want, 1e-5 * cnt); /* f32 logits and expf */
    free(logits);
    free(alone);
    free(again);
    train_model_free(m);
}

/* A toy adapter through the hook: y[:, 0] += alpha_k * x[:, 0] on two layers; its
 * gradients (collected in bwd, with its share added to dx) match finite differences, and
 * a frozen base gets no gradient. */
struct toy_adapter {
    float alpha[2];
    double grad[2];
    int calls;
};

static int toy_slot(enum train_tensor kind, size_t layer)
{
    if (kind == TRAIN_TENSOR_ATTN_Q && layer == 1)
        return 0;
    if (kind == TRAIN_TENSOR_FFN_UP && layer == 0)
        return 1;
    return -1;
}

static void toy_fwd(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                    size_t n_in, float *y, size_t n_out)
{
    struct toy_adapter *a = ctx;
    int k = toy_slot(kind, layer);
    if (k < 0)
        return;
    for (size_t i = 0; i < n; i++)
        y[i * n_out] += a->alpha[k] * x[i * n_in];
}

static void toy_bwd(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                    size_t n_in, const float *dy, size_t n_out, float *dx)
{
    struct toy_adapter *a = ctx;
    a->calls++;
    int k = toy_slot(kind, layer);
    if (k < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        a->grad[k] += (double)dy[i * n_out] * x[i * n_in];
        dx[i * n_in] += a->alpha[k] * dy[i * n_out];
    }
}

static void test_train_hook_gradients_and_frozen_base(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(31);
    struct toy_adapter ad = {{0.3f, -0.4f}, {0, 0}, 0};
    struct train_hook h = {&ad, toy_fwd, toy_bwd};
    train_set_hook(m, &h);
    train_set_frozen(m, true);
    struct tiny_batch tb;
    tiny_batch(&tb, 2);
    train_zero_grad(m);
    assert_int_equal(train_backward(m, &tb.b, 1.0f / 10.0f, NULL, NULL), STATUS_OK);
    assert_int_equal(ad.calls, 2 * 7 + 1); /* seven products per layer and the head */
    size_t n = train_model_n_params(m);
    const float *g = train_grad(m, TRAIN_TENSOR_TOK_EMBD, 0, NULL);
    for (size_t i = 0; i < n; i++)
        assert_true(g[i] == 0.0f);
    const float eps = 1e-2f;
    for (int k = 0; k < 2; k++) {
        float a0 = ad.alpha[k];
        ad.alpha[k] = a0 + eps;
        double lp = loss_of(m, &tb.b);
        ad.alpha[k] = a0 - eps;
        double lm = loss_of(m, &tb.b);
        ad.alpha[k] = a0;
        double num = (lp - lm) / (2.0 * eps);
        assert_true(fabs(ad.grad[k]) > 1e-4);
        if (fabs(num - ad.grad[k]) > 1e-2 * fabs(ad.grad[k]) + 1e-5)
            fail_msg("adapter %d: analytic %.6g, numeric %.6g", k, ad.grad[k], num);
    }
    train_model_free(m);
}

static void test_train_rejects_bad_batches(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(5);
    struct tiny_batch tb;
    tiny_batch(&tb, 0);
    tb.pos[2] = 5;
    assert_int_equal(train_forward(m, &tb.b, NULL, NULL, NULL), STATUS_INVALID);
    tiny_batch(&tb, 0);
    tb.tokens[3] = 40;
    assert_int_equal(train_forward(m, &tb.b, NULL, NULL, NULL), STATUS_INVALID);
    tiny_batch(&tb, 0);
    tb.b.seq_len = 17;
    assert_int_equal(train_forward(m, &tb.b, NULL, NULL, NULL), STATUS_INVALID);
    train_model_free(m);
}

/* The training forward and the inference engine agree on a model saved as GGUF. */
static void test_train_logits_match_model_eval(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(11);
    size_t V = 40, n = 12;
    int32_t tokens[12], targets[12], pos[12];
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (int32_t)((i * 13 + 1) % V);
        targets[i] = -1;
        pos[i] = (int32_t)i;
    }
    struct train_batch b = {1, n, tokens, targets, pos};
    float *ours = malloc(n * V * sizeof(float)), *theirs = malloc(n * V * sizeof(float));
    assert_int_equal(train_forward(m, &b, NULL, NULL, ours), STATUS_OK);

    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(train_add_to_writer(m, w, false), STATUS_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size), STATUS_OK);
    gguf_writer_free(w);
    struct gguf *g;
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = 1;
    struct model *mod;
    assert_int_equal(model_open(g, &mp, &mod), STATUS_OK);
    assert_int_equal(model_eval(mod, tokens, n, 0, theirs, true), STATUS_OK);
    for (size_t i = 0; i < n * V; i++)
        assert_float_equal(ours[i], theirs[i], 1e-4);

    /* and loading the file back for training gives the same weights */
    struct train_model *m2;
    assert_int_equal(train_model_from_gguf(g, 0, &m2), STATUS_OK);
    size_t cnt;
    const float *a = train_param(m, TRAIN_TENSOR_FFN_DOWN, 1, &cnt);
    assert_memory_equal(a, train_param(m2, TRAIN_TENSOR_FFN_DOWN, 1, NULL), cnt * sizeof(float));
    assert_int_equal(train_load_opt(m2, g), STATUS_NOT_FOUND);
    train_model_free(m2);
    model_close(mod);
    gguf_close(g);
    free(buf);
    free(ours);
    free(theirs);
    train_model_free(m);
}

/* Whole file into memory (owned), or NULL when ../shared is absent (after a loud SKIP). */
static void *slurp_shared(const char *rel, size_t *size)
{
    char *path = test_shared_path(rel);
    if (!path)
        return NULL;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    void *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(path);
    *size = (size_t)n;
    return buf;
}

/* The training forward on a golden model's weights (continued training starts here)
 * against llama.cpp's logits for every prompt position: F32 exactly (1e-4 as model.c's
 * test), Q4_K_M dequantized to F32 loosely: llama.cpp also quantizes the activations
 * (to Q8_K), which this path does not, so only the size of the difference is bounded. */
static void check_golden(const char *model, const char *prompt, const char *logits,
                         double tol_max, double tol_mean)
{
    size_t gsize, psize, lsize;
    void *gbuf = slurp_shared(model, &gsize);
    if (!gbuf)
        return;
    int32_t *ids = slurp_shared(prompt, &psize);
    float *want = slurp_shared(logits, &lsize);
    assert_non_null(ids);
    assert_non_null(want);
    struct gguf *g;
    assert_int_equal(gguf_open_buffer(gbuf, gsize, &g), STATUS_OK);
    struct train_model *m;
    assert_int_equal(train_model_from_gguf(g, 64, &m), STATUS_OK);
    size_t P = psize / 4, V = train_model_config(m)->n_vocab;
    assert_int_equal(lsize, P * V * 4);
    int32_t *tg = malloc(P * sizeof *tg), *pos = malloc(P * sizeof *pos);
    for (size_t i = 0; i < P; i++) {
        tg[i] = -1;
        pos[i] = (int32_t)i;
    }
    struct train_batch b = {1, P, ids, tg, pos};
    float *got = malloc(P * V * sizeof(float));
    assert_int_equal(train_forward(m, &b, NULL, NULL, got), STATUS_OK);
    double mx = 0, mean = 0;
    for (size_t i = 0; i < P * V; i++) {
        double d = fabs((double)got[i] - want[i]);
        mx = d > mx ? d : mx;
        mean += d;
    }
    mean /= (double)(P * V);
    if (mx > tol_max || mean > tol_mean)
        fail_msg("%s: logits differ from llama.cpp by %.3g max, %.3g mean", model, mx, mean);
    free(got);
    free(tg);
    free(pos);
    train_model_free(m);
    gguf_close(g);
    free(gbuf);
    free(ids);
    free(want);
}

static void test_train_golden_forward_matches_llama_cpp(void **state)
{
    (void)state;
    check_golden("golden/tiny-mistral-a-f32.gguf", "golden/tiny-mistral-a-f32.prompt.i32",
                 "golden/tiny-mistral-a-f32.logits.f32", 1e-4, 1e-5);
    check_golden("golden/tiny-mistral-c-Q4_K_M.gguf", "golden/tiny-mistral-c-Q4_K_M.prompt.i32",
                 "golden/tiny-mistral-c-Q4_K_M.logits.f32", 0.5, 0.05); /* measured 0.17, 0.028 */
}

static void test_train_lr_schedule(void **state)
{
    (void)state;
    struct train_opt_params p;
    train_opt_params_init(&p);
    p.lr = 1.0f;
    p.lr_min = 0.1f;
    p.warmup = 10;
    p.total = 110;
    assert_float_equal(train_lr(&p, 1), 0.1, 1e-7);
    assert_float_equal(train_lr(&p, 5), 0.5, 1e-7);
    assert_float_equal(train_lr(&p, 10), 1.0, 1e-7);
    assert_float_equal(train_lr(&p, 60), 0.55, 1e-6); /* half way: mean of lr and floor */
    assert_float_equal(train_lr(&p, 110), 0.1, 1e-7);
    assert_float_equal(train_lr(&p, 500), 0.1, 1e-7);
    assert_true(train_lr(&p, 30) > train_lr(&p, 31));
}

/* The first AdamW step moves each weight by lr * (sign(g) + wd * w) (bias-corrected
 * moments make m/sqrt(v) = g/|g|); norms and the embedding are not decayed. */
static void test_train_adamw_first_step_and_decay(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(9);
    struct train_opt_params p;
    train_opt_params_init(&p);
    p.lr = 0.01f;
    p.warmup = 0;
    p.total = 1000000;
    p.weight_decay = 0.5f;
    p.clip = 0;
    size_t nq, nn, ne;
    float *q = train_param(m, TRAIN_TENSOR_ATTN_Q, 0, &nq);
    float *nw = train_param(m, TRAIN_TENSOR_ATTN_NORM, 1, &nn);
    float *e = train_param(m, TRAIN_TENSOR_TOK_EMBD, 0, &ne);
    float q0 = q[3], n0 = nw[2], e0 = e[7];
    train_zero_grad(m);
    train_grad(m, TRAIN_TENSOR_ATTN_Q, 0, NULL)[3] = -2.0f;
    train_grad(m, TRAIN_TENSOR_ATTN_NORM, 1, NULL)[2] = 0.5f;
    train_grad(m, TRAIN_TENSOR_TOK_EMBD, 0, NULL)[7] = 1e-3f;
    float q5 = q[5];
    float gn;
    train_opt_step(m, &p, &gn);
    assert_float_equal(gn, sqrt(4.0 + 0.25 + 1e-6), 1e-5);
    float lr = train_lr(&p, 1);
    assert_float_equal(q[3], q0 - lr * (-1.0f + 0.5f * q0), 1e-6);
    assert_float_equal(nw[2], n0 - lr * 1.0f, 1e-6);
    assert_float_equal(e[7], e0 - lr * 1.0f, 1e-5);
    assert_float_equal(q[5], q5 - lr * 0.5f * q5, 1e-7); /* zero gradient: decay only */
    assert_int_equal(train_model_step(m), 1);

    /* clipping: the update uses the gradient scaled to norm `clip` */
    struct train_model *a = tiny_model(9), *b = tiny_model(9);
    p.clip = 1.0f;
    train_zero_grad(a);
    train_zero_grad(b);
    train_grad(a, TRAIN_TENSOR_OUTPUT, 0, NULL)[0] = 30.0f;
    train_grad(a, TRAIN_TENSOR_OUTPUT, 0, NULL)[1] = 40.0f;
    train_grad(b, TRAIN_TENSOR_OUTPUT, 0, NULL)[0] = 0.6f;
    train_grad(b, TRAIN_TENSOR_OUTPUT, 0, NULL)[1] = 0.8f;
    train_opt_step(a, &p, &gn);
    assert_float_equal(gn, 50.0, 1e-4);
    train_opt_step(b, &p, &gn);
    /* one step then a second with zero gradient: the moments must match too */
    train_zero_grad(a);
    train_zero_grad(b);
    train_opt_step(a, &p, NULL);
    train_opt_step(b, &p, NULL);
    size_t no;
    const float *oa = train_param(a, TRAIN_TENSOR_OUTPUT, 0, &no);
    const float *ob = train_param(b, TRAIN_TENSOR_OUTPUT, 0, NULL);
    for (size_t i = 0; i < no; i++)
        assert_float_equal(oa[i], ob[i], 1e-6);
    train_model_free(a);
    train_model_free(b);
    train_model_free(m);
}

/* n steps of accumulated (2 micro-batches) training */
static void run_steps(struct train_model *m, size_t from, size_t to,
                      const struct train_opt_params *p)
{
    for (size_t s = from; s < to; s++) {
        struct tiny_batch b1, b2;
        tiny_batch(&b1, (unsigned)(2 * s));
        tiny_batch(&b2, (unsigned)(2 * s + 1));
        train_zero_grad(m);
        float scale = 1.0f / 20.0f;
        assert_int_equal(train_backward(m, &b1.b, scale, NULL, NULL), STATUS_OK);
        assert_int_equal(train_backward(m, &b2.b, scale, NULL, NULL), STATUS_OK);
        train_opt_step(m, p, NULL);
    }
}

/* Threads change nothing but the rounding; the same thread count is bit-identical. */
static void test_train_threads_agree(void **state)
{
    (void)state;
    struct train_opt_params p;
    train_opt_params_init(&p);
    p.warmup = 1;
    struct train_model *one = tiny_model(21), *a = tiny_model(21), *b = tiny_model(21);
    assert_int_equal(train_model_set_threads(a, 3), STATUS_OK);
    assert_int_equal(train_model_set_threads(b, 3), STATUS_OK);
    assert_int_equal(train_model_threads(a), 3);
    run_steps(one, 0, 3, &p);
    run_steps(a, 0, 3, &p);
    run_steps(b, 0, 3, &p);
    size_t n = train_model_n_params(a);
    const float *w1 = train_param(one, TRAIN_TENSOR_TOK_EMBD, 0, NULL);
    const float *wa = train_param(a, TRAIN_TENSOR_TOK_EMBD, 0, NULL);
    assert_memory_equal(wa, train_param(b, TRAIN_TENSOR_TOK_EMBD, 0, NULL), n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        assert_float_equal(wa[i], w1[i], 1e-4);
    train_model_free(one);
    train_model_free(a);
    train_model_free(b);
}

static void test_train_deterministic_and_resumes_bit_identically(void **state)
{
    (void)state;
    struct train_opt_params p;
    train_opt_params_init(&p);
    p.lr = 3e-3f;
    p.warmup = 2;
    p.total = 8;
    struct train_model *a = tiny_model(77), *b = tiny_model(77);
    struct tiny_batch tb;
    tiny_batch(&tb, 0);
    double before = loss_of(a, &tb.b);
    run_steps(a, 0, 8, &p);
    run_steps(b, 0, 8, &p);
    size_t n = train_model_n_params(a);
    const float *wa = train_param(a, TRAIN_TENSOR_TOK_EMBD, 0, NULL);
    const float *wb = train_param(b, TRAIN_TENSOR_TOK_EMBD, 0, NULL);
    assert_memory_equal(wa, wb, n * sizeof(float));
    assert_true(loss_of(a, &tb.b) < before);

    /* 3 steps, checkpoint through a GGUF image, 5 more == 8 straight */
    struct train_model *c = tiny_model(77);
    run_steps(c, 0, 3, &p);
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(train_add_to_writer(c, w, true), STATUS_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size), STATUS_OK);
    gguf_writer_free(w);
    train_model_free(c);
    struct gguf *g;
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    struct train_model *d;
    assert_int_equal(train_model_from_gguf(g, 16, &d), STATUS_OK);
    assert_int_equal(train_load_opt(d, g), STATUS_OK);
    assert_int_equal(train_model_step(d), 3);
    gguf_close(g);
    free(buf);
    run_steps(d, 3, 8, &p);
    assert_memory_equal(train_param(d, TRAIN_TENSOR_TOK_EMBD, 0, NULL), wa, n * sizeof(float));
    train_model_free(a);
    train_model_free(b);
    train_model_free(d);
}

/* ids: 0 <unk> 1 <s> 2 </s> 3 "\xe2\x96\x81" 4 a 5 b 6 "\xe2\x96\x81a" 7 ab */
static struct tok *tiny_tok(void)
{
    static const char *const pieces[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                         "\xe2\x96\x81" "a", "ab"};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1};
    static const float scores[] = {0, 0, 0, -3, -1, -1, -2, -0.5f};
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = 8;
    d.tokens = pieces;
    d.types = types;
    d.scores = scores;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    struct tok *t;
    assert_int_equal(tok_new(&d, &t), STATUS_OK);
    return t;
}

/* Masks from loss_from and prompt/completion, packing with restarting positions, and a
 * held-out split that takes whole examples. */
static void test_train_data_masks_and_packs(void **state)
{
    (void)state;
    struct tok *t = tiny_tok();
    int32_t ids[16];
    size_t n;
    /* the reference tokenization, from the tokenizer itself */
    assert_int_equal(tok_encode(t, "a b", 3, TOK_ENCODE_BOS, ids, 16, &n), STATUS_OK);
    assert_int_equal(n, 4); /* <s> \u2581a \u2581 b */
    const char *text = "{\"prompt\": \"a\", \"completion\": \" b\"}\n"
                       "\n"
                       "{\"text\": \"a b\", \"loss_from\": 2}\n"
                       "{\"text\": \"ab\"}\n";
    struct train_data *d = NULL;
    assert_int_equal(train_data_from_text(text, strlen(text), t, 12, 0.0, 1, &d, NULL),
                     STATUS_OK);
    struct train_data_stats st;
    train_data_stats(d, &st);
    assert_int_equal(st.n_examples, 3);
    /* <s> \u2581a \u2581 b </s> twice and <s> \u2581 ab </s> (ab outscores \u2581a):
     * 5 + 5 + 4 tokens do not fit in one row of 12 */
    assert_int_equal(st.n_rows, 2);
    assert_int_equal(st.n_tokens, 14);
    /* "a"+" b": loss on \u2581, b, </s>; "a b" from char 2 ("b"): on b, </s>; "ab": all 3 */
    assert_int_equal(st.n_loss_tokens, 3 + 2 + 3);
    int32_t tk[24], tg[24], ps[24];
    size_t seen_starts = 0;
    for (size_t r = 0; r < 2; r++) {
        train_data_row(d, r, tk + 12 * r, tg + 12 * r, ps + 12 * r);
        for (size_t i = 0; i < 12; i++) {
            size_t k = 12 * r + i;
            if (ps[k] == 0 && tk[k] == 1)
                seen_starts++;
            if (i + 1 < 12 && tg[k] >= 0) /* a target is the next token of the same example */
                assert_int_equal(tg[k], tk[k + 1]);
            if (i > 0 && ps[k] > 0)
                assert_int_equal(ps[k], ps[k - 1] + 1);
            assert_true(tk[k] != 2 || tg[k] == -1); /* nothing after EOS */
        }
    }
    assert_int_equal(seen_starts, 3);
    train_data_free(d);

    /* the held-out part takes whole examples */
    struct train_data *a = NULL, *b = NULL;
    assert_int_equal(train_data_from_text(text, strlen(text), t, 12, 0.34, 7, &a, &b),
                     STATUS_OK);
    assert_non_null(b);
    struct train_data_stats sa, sb;
    train_data_stats(a, &sa);
    train_data_stats(b, &sb);
    assert_int_equal(sa.n_examples + sb.n_examples, 3);
    assert_int_equal(sb.n_examples, 1);
    /* batches cycle through every row once per epoch */
    int32_t bt[36], btg[36], bp[36];
    struct train_batch bb;
    assert_int_equal(train_data_batch(a, 0, 3, bt, btg, bp, &bb), STATUS_OK);
    assert_int_equal(bb.n_seq, 3);
    train_data_free(a);
    train_data_free(b);

    const char *bad = "{\"text\": \"a\"}\n{\"prompt\": 1}\n";
    assert_int_equal(train_data_from_text(bad, strlen(bad), t, 12, 0.0, 1, &d, NULL),
                     STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "line 2"));
    const char *junk = "{\"text\": \"a\"\n";
    assert_int_equal(train_data_from_text(junk, strlen(junk), t, 12, 0.0, 1, &d, NULL),
                     STATUS_PARSE);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_gradients_match_finite_differences),
        cmocka_unit_test(test_train_packed_examples_do_not_attend_across),
        cmocka_unit_test(test_train_rejects_bad_batches),
        cmocka_unit_test(test_train_hook_gradients_and_frozen_base),
        cmocka_unit_test(test_train_logits_match_model_eval),
        cmocka_unit_test(test_train_golden_forward_matches_llama_cpp),
        cmocka_unit_test(test_train_lr_schedule),
        cmocka_unit_test(test_train_adamw_first_step_and_decay),
        cmocka_unit_test(test_train_deterministic_and_resumes_bit_identically),
        cmocka_unit_test(test_train_data_masks_and_packs),
        cmocka_unit_test(test_train_threads_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
