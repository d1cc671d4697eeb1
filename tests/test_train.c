/* test_train.c -- gradient checks of the training backward pass, packing and masking,
 * agreement with the inference engine, AdamW, schedule, determinism and resuming. */
#include "config.h"

#include <math.h>

#include "test_util.h"

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/quant.h"
#include "engine/tok.h"
#include "engine/train.h"
#include "util/json.h"

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
    /* the detail is "line N: " and then the JSON parser's own detail, intact */
    char want[512], got[512];
    struct json_doc *jd = NULL;
    assert_int_equal(json_parse(junk, strlen(junk) - 1, &jd), STATUS_PARSE);
    snprintf(want, sizeof want, "line 1: %s", status_detail());
    assert_int_equal(train_data_from_text(junk, strlen(junk), t, 12, 0.0, 1, &d, NULL),
                     STATUS_PARSE);
    snprintf(got, sizeof got, "%s", status_detail());
    assert_string_equal(got, want);
    tok_free(t);
}

/* ---- LoRA ------------------------------------------------------------------------------ */

/* A base model as a GGUF image (owned, free()): dims that Q8_0 blocks divide; with q8 every
 * matrix (embedding and head included) is stored as Q8_0, the norms as F32. */
static void *lora_base(uint64_t seed, bool q8, size_t *size)
{
    struct train_config c;
    train_config_init(&c);
    c.n_vocab = 40;
    c.dim = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_head_kv = 2;
    c.n_ff = 64;
    c.n_ctx = 16;
    struct train_model *m;
    assert_int_equal(train_model_new(&c, seed, &m), STATUS_OK);
    struct gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(train_add_to_writer(m, w, false), STATUS_OK);
    void *buf;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, size), STATUS_OK);
    gguf_writer_free(w);
    train_model_free(m);
    if (!q8)
        return buf;
    struct gguf *g;
    assert_int_equal(gguf_open_buffer(buf, *size, &g), STATUS_OK);
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_copy_kv(w, g, NULL), STATUS_OK);
    int64_t nt = gguf_n_tensors(g);
    void **blobs = calloc((size_t)nt, sizeof *blobs);
    quant_init();
    for (int64_t i = 0; i < nt; i++) {
        uint64_t dims[2] = {gguf_tensor_dim(g, i, 0), gguf_tensor_dim(g, i, 1)};
        uint32_t nd = gguf_tensor_n_dims(g, i);
        if (nd == 1) {
            assert_int_equal(gguf_writer_add_tensor(w, gguf_tensor_name(g, i), DTYPE_F32, 1,
                                                    dims, gguf_tensor_data(g, i),
                                                    gguf_tensor_size(g, i)),
                             STATUS_OK);
            continue;
        }
        size_t rb;
        assert_int_equal(dtype_row_bytes(DTYPE_Q8_0, dims[0], &rb), STATUS_OK);
        unsigned char *q = malloc(rb * dims[1]);
        blobs[i] = q;
        const float *src = gguf_tensor_data(g, i);
        for (uint64_t r = 0; r < dims[1]; r++)
            quant_quantize_row(DTYPE_Q8_0, src + r * dims[0], q + r * rb, dims[0]);
        assert_int_equal(gguf_writer_add_tensor(w, gguf_tensor_name(g, i), DTYPE_Q8_0, 2, dims,
                                                q, rb * dims[1]),
                         STATUS_OK);
    }
    void *out;
    assert_int_equal(gguf_writer_to_buffer(w, &out, size), STATUS_OK);
    gguf_writer_free(w);
    for (int64_t i = 0; i < nt; i++)
        free(blobs[i]);
    free(blobs);
    gguf_close(g);
    free(buf);
    return out;
}

#define LORA_ALL                                                                              \
    (1u << TRAIN_TENSOR_ATTN_Q | 1u << TRAIN_TENSOR_ATTN_K | 1u << TRAIN_TENSOR_ATTN_V |       \
     1u << TRAIN_TENSOR_ATTN_OUTPUT | 1u << TRAIN_TENSOR_FFN_GATE | 1u << TRAIN_TENSOR_FFN_UP | \
     1u << TRAIN_TENSOR_FFN_DOWN | 1u << TRAIN_TENSOR_OUTPUT)

static const enum train_tensor lora_kinds[] = {
    TRAIN_TENSOR_ATTN_Q, TRAIN_TENSOR_ATTN_K, TRAIN_TENSOR_ATTN_V, TRAIN_TENSOR_ATTN_OUTPUT,
    TRAIN_TENSOR_FFN_GATE, TRAIN_TENSOR_FFN_UP, TRAIN_TENSOR_FFN_DOWN, TRAIN_TENSOR_OUTPUT,
};

/* B of every target filled with seeded values of size `amp` (B = 0 hides A's gradient) */
static void lora_fill_b(struct train_lora *l, float amp, uint64_t seed)
{
    for (size_t k = 0; k < sizeof lora_kinds / sizeof lora_kinds[0]; k++) {
        for (size_t layer = 0; layer < 2; layer++) {
            size_t n;
            float *b = train_lora_param(l, lora_kinds[k], layer, 1, &n);
            for (size_t i = 0; b && i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                b[i] = amp * ((float)(seed >> 40) / (float)(1ull << 24) - 0.5f);
            }
        }
    }
}

static void lora_eval(const struct gguf *g, const struct lora_set *set, const int32_t *tokens,
                      size_t n, float *logits)
{
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = 1;
    mp.lora = set;
    struct model *mod;
    assert_int_equal(model_open(g, &mp, &mod), STATUS_OK);
    assert_int_equal(model_eval(mod, tokens, n, 0, logits, true), STATUS_OK);
    model_close(mod);
}

/* Step 0: an adapter with B = 0 leaves the logits of the base bit for bit (dropout on or
 * off); the quantized base's own forward agrees with model_eval of the same file and with
 * the base dequantized to F32 as a whole. */
static void test_train_lora_untrained_adapter_keeps_base_logits(void **state)
{
    (void)state;
    size_t V = 40, n = 12;
    int32_t tokens[12], targets[12], pos[12];
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (int32_t)((i * 13 + 5) % V);
        targets[i] = -1;
        pos[i] = (int32_t)i;
    }
    struct train_batch b = {1, n, tokens, targets, pos};
    float *base = malloc(n * V * sizeof(float)), *with = malloc(n * V * sizeof(float));
    float *ref = malloc(n * V * sizeof(float)), *f32 = malloc(n * V * sizeof(float));
    for (int q8 = 0; q8 < 2; q8++) {
        size_t size;
        void *buf = lora_base(5, q8, &size);
        struct gguf *g;
        assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
        struct train_model *m, *full;
        assert_int_equal(train_model_from_gguf_quant(g, 0, &m), STATUS_OK);
        assert_true(train_model_is_quant(m));
        assert_null(train_param(m, TRAIN_TENSOR_ATTN_Q, 0, NULL));
        assert_int_equal(train_model_set_threads(m, 2), STATUS_OK);
        assert_int_equal(train_forward(m, &b, NULL, NULL, base), STATUS_OK);
        assert_int_equal(train_model_from_gguf(g, 0, &full), STATUS_OK);
        assert_int_equal(train_forward(full, &b, NULL, NULL, f32), STATUS_OK);
        lora_eval(g, NULL, tokens, n, ref);
        double worst = 0;
        for (size_t i = 0; i < n * V; i++) {
            assert_float_equal(base[i], f32[i], 1e-4);
            double d = fabs((double)base[i] - ref[i]);
            worst = d > worst ? d : worst;
        }
        /* model_eval multiplies Q8_0 rows with Q8_0-quantized activations: not exact */
        if (worst > (q8 ? 3e-2 : 1e-4))
            fail_msg("base %s: |train - model_eval| up to %g", q8 ? "Q8_0" : "F32", worst);

        struct train_lora_params lp;
        train_lora_params_init(&lp);
        lp.rank = 4;
        lp.dropout = 0.5f;
        lp.targets = LORA_ALL;
        struct train_lora *l;
        assert_int_equal(train_lora_new(m, &lp, &l), STATUS_OK);
        /* per layer r (n_in + n_out) for q k v o gate up down, then the head */
        assert_int_equal(train_lora_n_params(l),
                         2 * 4 * (64 + 48 + 48 + 64 + 96 + 96 + 96) + 4 * (32 + 40));
        for (int training = 0; training < 2; training++) {
            train_lora_set_training(l, training, 3);
            assert_int_equal(train_forward(m, &b, NULL, NULL, with), STATUS_OK);
            for (size_t i = 0; i < n * V; i++)
                assert_true(with[i] == base[i]);
        }
        train_lora_free(l);
        train_model_free(full);
        train_model_free(m);
        gguf_close(g);
        free(buf);
    }
    free(base);
    free(with);
    free(ref);
    free(f32);
}

/* Gradients of A and B (every target, dropout on with a fixed round) against central
 * differences, on an F32 and a Q8_0 base. */
static void test_train_lora_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int q8 = 0; q8 < 2; q8++) {
        size_t size;
        void *buf = lora_base(9, q8, &size);
        struct gguf *g;
        assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
        struct train_model *m;
        assert_int_equal(train_model_from_gguf_quant(g, 0, &m), STATUS_OK);
        struct train_lora_params lp;
        train_lora_params_init(&lp);
        lp.rank = 2;
        lp.alpha = 4;
        lp.dropout = 0.25f;
        lp.targets = LORA_ALL;
        struct train_lora *l;
        assert_int_equal(train_lora_new(m, &lp, &l), STATUS_OK);
        lora_fill_b(l, 0.6f, 77);
        train_lora_set_training(l, true, 11);
        struct tiny_batch tb;
        tiny_batch(&tb, 2);
        double sum;
        size_t cnt;
        assert_int_equal(train_forward(m, &tb.b, &sum, &cnt, NULL), STATUS_OK);
        train_lora_zero_grad(l);
        assert_int_equal(train_backward(m, &tb.b, 1.0f / (float)cnt, NULL, NULL), STATUS_OK);
        assert_int_equal(train_lora_status(l), STATUS_OK);
        const float h = 1e-2f;
        for (size_t k = 0; k < sizeof lora_kinds / sizeof lora_kinds[0]; k++) {
            for (size_t layer = 0; layer < 2; layer++) {
                for (int which = 0; which < 2; which++) {
                    size_t np;
                    float *w = train_lora_param(l, lora_kinds[k], layer, which, &np);
                    const float *gr = train_lora_grad(l, lora_kinds[k], layer, which, NULL);
                    if (!w) {
                        assert_true(lora_kinds[k] == TRAIN_TENSOR_OUTPUT && layer == 1);
                        continue;
                    }
                    float gmax = 0;
                    for (size_t i = 0; i < np; i++)
                        gmax = fabsf(gr[i]) > gmax ? fabsf(gr[i]) : gmax;
                    assert_true(gmax > 1e-6f);
                    double worst = 0;
                    for (size_t i = 0; i < np; i++) {
                        float w0 = w[i];
                        w[i] = w0 + h;
                        double lp1 = loss_of(m, &tb.b);
                        w[i] = w0 - h;
                        double lm1 = loss_of(m, &tb.b);
                        w[i] = w0;
                        double err = fabs((lp1 - lm1) / (2.0 * h) - gr[i]) / gmax;
                        worst = err > worst ? err : worst;
                    }
                    if (worst > 1e-2)
                        fail_msg("%s base, kind %d layer %zu %s: gradient error %.3g of %.3g",
                                 q8 ? "Q8_0" : "F32", (int)lora_kinds[k], layer,
                                 which ? "B" : "A", worst, (double)gmax);
                }
            }
        }
        train_lora_free(l);
        train_model_free(m);
        gguf_close(g);
        free(buf);
    }
}

/* The adapter file: lora.c opens it, model_eval with it (--lora) gives the trainer's
 * logits, lora-merge's merged model too, and train_lora_load() restores it; a checkpoint
 * restores the Adam state and step. */
static void test_train_lora_adapter_loads_in_engine_and_merges(void **state)
{
    (void)state;
    size_t V = 40, n = 10;
    int32_t tokens[10], targets[10], pos[10];
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (int32_t)((i * 7 + 2) % V);
        targets[i] = -1;
        pos[i] = (int32_t)i;
    }
    struct train_batch b = {1, n, tokens, targets, pos};
    float *ours = malloc(n * V * sizeof(float)), *theirs = malloc(n * V * sizeof(float));
    for (int q8 = 0; q8 < 2; q8++) {
        size_t size;
        void *buf = lora_base(3, q8, &size);
        struct gguf *g;
        assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
        struct train_model *m;
        assert_int_equal(train_model_from_gguf_quant(g, 0, &m), STATUS_OK);
        struct train_lora_params lp;
        train_lora_params_init(&lp);
        lp.rank = 4;
        lp.alpha = 8;
        lp.targets = LORA_ALL;
        struct train_lora *l;
        assert_int_equal(train_lora_new(m, &lp, &l), STATUS_OK);
        lora_fill_b(l, 0.5f, 5);
        assert_int_equal(train_forward(m, &b, NULL, NULL, ours), STATUS_OK);

        struct gguf_writer *w;
        assert_int_equal(gguf_writer_new(&w), STATUS_OK);
        assert_int_equal(train_lora_add_to_writer(l, w, "llama", false), STATUS_OK);
        void *abuf;
        size_t asize;
        assert_int_equal(gguf_writer_to_buffer(w, &abuf, &asize), STATUS_OK);
        gguf_writer_free(w);
        struct gguf *ga;
        assert_int_equal(gguf_open_buffer(abuf, asize, &ga), STATUS_OK);
        struct lora *la;
        assert_int_equal(lora_open_gguf(ga, &la), STATUS_OK);
        assert_int_equal(lora_check_base(la, g), STATUS_OK);
        assert_int_equal(lora_n_targets(la), 2 * 7 + 1);
        assert_float_equal(lora_alpha(la), 8.0, 0);
        struct lora_set *set;
        assert_int_equal(lora_set_new(&set), STATUS_OK);
        assert_int_equal(lora_set_add(set, la, 1.0f), STATUS_OK);
        lora_eval(g, set, tokens, n, theirs);
        /* model_eval multiplies Q8_0 rows with Q8_0-quantized activations: 2.5 % of the
         * largest logit (the F32 base checks the adapter to 1e-4) */
        double worst = 0, big = 0;
        for (size_t i = 0; i < n * V; i++) {
            double d = fabs((double)ours[i] - theirs[i]);
            worst = d > worst ? d : worst;
            big = fabs(ours[i]) > big ? fabs(ours[i]) : big;
        }
        if (worst > (q8 ? 2.5e-2 * big : 1e-4))
            fail_msg("%s base with --lora: |train - model_eval| up to %g (logits up to %g)",
                     q8 ? "Q8_0" : "F32", worst, big);
        if (!q8) { /* merging into F32 is exact up to rounding */
            struct lora_merge_params mp;
            lora_merge_params_init(&mp);
            void *mbuf;
            size_t msize;
            assert_int_equal(lora_merge_to_buffer(g, set, &mp, &mbuf, &msize), STATUS_OK);
            struct gguf *gm;
            assert_int_equal(gguf_open_buffer(mbuf, msize, &gm), STATUS_OK);
            lora_eval(gm, NULL, tokens, n, theirs);
            for (size_t i = 0; i < n * V; i++)
                assert_float_equal(ours[i], theirs[i], 1e-4);
            gguf_close(gm);
            free(mbuf);
        }
        /* the file back into a fresh adapter: same parameters */
        struct train_lora_params lp2 = lp;
        lp2.seed = 99;
        struct train_model *m2;
        assert_int_equal(train_model_from_gguf_quant(g, 0, &m2), STATUS_OK);
        struct train_lora *l2;
        assert_int_equal(train_lora_new(m2, &lp2, &l2), STATUS_OK);
        assert_int_equal(train_lora_load(l2, ga), STATUS_OK);
        size_t na;
        const float *a1 = train_lora_param(l, TRAIN_TENSOR_FFN_UP, 1, 0, &na);
        assert_memory_equal(a1, train_lora_param(l2, TRAIN_TENSOR_FFN_UP, 1, 0, NULL),
                            na * sizeof(float));
        lp2.alpha = 16; /* another alpha is refused */
        struct train_lora *l3;
        train_lora_free(l2);
        assert_int_equal(train_lora_new(m2, &lp2, &l3), STATUS_OK);
        assert_int_equal(train_lora_load(l3, ga), STATUS_INVALID);
        train_lora_free(l3);

        /* a checkpoint (with Adam state) after two steps resumes the step and moments */
        struct train_opt_params op;
        train_opt_params_init(&op);
        op.warmup = 1;
        struct tiny_batch tb;
        tiny_batch(&tb, 1);
        for (int s = 0; s < 2; s++) {
            train_lora_zero_grad(l);
            assert_int_equal(train_backward(m, &tb.b, 0.1f, NULL, NULL), STATUS_OK);
            train_lora_opt_step(l, &op, NULL);
        }
        assert_int_equal(train_lora_step(l), 2);
        assert_int_equal(train_model_step(m), 2);
        assert_int_equal(gguf_writer_new(&w), STATUS_OK);
        assert_int_equal(train_lora_add_to_writer(l, w, "llama", true), STATUS_OK);
        void *cbuf;
        size_t csize;
        assert_int_equal(gguf_writer_to_buffer(w, &cbuf, &csize), STATUS_OK);
        gguf_writer_free(w);
        struct gguf *gc;
        assert_int_equal(gguf_open_buffer(cbuf, csize, &gc), STATUS_OK);
        lp2.alpha = lp.alpha;
        assert_int_equal(train_lora_new(m2, &lp2, &l2), STATUS_OK);
        assert_int_equal(train_lora_load(l2, gc), STATUS_OK);
        assert_int_equal(train_lora_step(l2), 2);
        for (int s = 0; s < 2; s++) { /* one more step each: the same weights */
            struct train_lora *x = s ? l2 : l;
            struct train_model *xm = s ? m2 : m;
            train_lora_zero_grad(x);
            assert_int_equal(train_backward(xm, &tb.b, 0.1f, NULL, NULL), STATUS_OK);
            train_lora_opt_step(x, &op, NULL);
        }
        const float *b1 = train_lora_param(l, TRAIN_TENSOR_ATTN_V, 0, 1, &na);
        assert_memory_equal(b1, train_lora_param(l2, TRAIN_TENSOR_ATTN_V, 0, 1, NULL),
                            na * sizeof(float));
        train_lora_free(l2);
        gguf_close(gc);
        free(cbuf);
        train_model_free(m2);
        lora_set_free(set);
        lora_close(la);
        gguf_close(ga);
        free(abuf);
        train_lora_free(l);
        train_model_free(m);
        gguf_close(g);
        free(buf);
    }
    free(ours);
    free(theirs);
}

/* Target lists, bad settings. */
static void test_train_lora_targets_and_settings(void **state)
{
    (void)state;
    unsigned mask;
    assert_int_equal(train_lora_targets_parse("q,k,v,o,gate,up,down,output", &mask), STATUS_OK);
    assert_int_equal(mask, LORA_ALL);
    assert_int_equal(train_lora_targets_parse("all", &mask), STATUS_OK);
    assert_int_equal(mask, LORA_ALL);
    assert_int_equal(train_lora_targets_parse("down,q", &mask), STATUS_OK);
    assert_int_equal(mask, 1u << TRAIN_TENSOR_FFN_DOWN | 1u << TRAIN_TENSOR_ATTN_Q);
    assert_int_equal(train_lora_targets_parse("q,,k", &mask), STATUS_USAGE);
    assert_int_equal(train_lora_targets_parse("qq", &mask), STATUS_USAGE);
    assert_non_null(strstr(status_detail(), "qq"));
    struct train_model *m = tiny_model(1);
    struct train_lora_params lp;
    train_lora_params_init(&lp);
    struct train_lora *l;
    lp.rank = 17; /* above dim 16 */
    assert_int_equal(train_lora_new(m, &lp, &l), STATUS_INVALID);
    lp.rank = 2;
    lp.dropout = 1.0f;
    assert_int_equal(train_lora_new(m, &lp, &l), STATUS_INVALID);
    lp.dropout = 0;
    lp.targets = 0;
    assert_int_equal(train_lora_new(m, &lp, &l), STATUS_INVALID);
    lp.targets = 1u << TRAIN_TENSOR_TOK_EMBD;
    assert_int_equal(train_lora_new(m, &lp, &l), STATUS_INVALID);
    train_model_free(m);
}

/* A few hundred LoRA steps on a Q8_0 base fit one repeated batch: the loss falls far. */
static void test_train_lora_learns_on_quantized_base(void **state)
{
    (void)state;
    size_t size;
    void *buf = lora_base(4, true, &size);
    struct gguf *g;
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    struct train_model *m;
    assert_int_equal(train_model_from_gguf_quant(g, 0, &m), STATUS_OK);
    struct train_lora_params lp;
    train_lora_params_init(&lp);
    lp.rank = 4;
    lp.alpha = 8;
    lp.dropout = 0;
    lp.targets = LORA_ALL;
    struct train_lora *l;
    assert_int_equal(train_lora_new(m, &lp, &l), STATUS_OK);
    struct train_opt_params op;
    train_opt_params_init(&op);
    op.lr = 2e-2f;
    op.warmup = 5;
    op.total = 150;
    op.weight_decay = 0;
    struct tiny_batch tb;
    tiny_batch(&tb, 3);
    double first = loss_of(m, &tb.b);
    for (int s = 0; s < 150; s++) {
        train_lora_set_training(l, true, (uint64_t)s);
        train_lora_zero_grad(l);
        assert_int_equal(train_backward(m, &tb.b, 0.1f, NULL, NULL), STATUS_OK);
        train_lora_opt_step(l, &op, NULL);
    }
    train_lora_set_training(l, false, 0);
    double last = loss_of(m, &tb.b);
    if (!(last < first / 4))
        fail_msg("LoRA loss %.4f -> %.4f", first, last);
    train_lora_free(l);
    train_model_free(m);
    gguf_close(g);
    free(buf);
}

/* The sanity check: a tiny model trained on one small repeated batch drives its
 * loss near zero (in well under a second). */
static void test_train_overfits_repeated_corpus_to_near_zero_loss(void **state)
{
    (void)state;
    struct train_model *m = tiny_model(8);
    struct train_opt_params op;
    train_opt_params_init(&op);
    op.lr = 1e-2f;
    op.lr_min = 1e-3f;
    op.warmup = 10;
    op.total = 300;
    op.weight_decay = 0;
    struct tiny_batch tb;
    tiny_batch(&tb, 4);
    double first = loss_of(m, &tb.b);
    for (int s = 0; s < 300; s++) {
        train_zero_grad(m);
        assert_int_equal(train_backward(m, &tb.b, 0.1f, NULL, NULL), STATUS_OK);
        train_opt_step(m, &op, NULL);
    }
    double last = loss_of(m, &tb.b);
    if (!(first > 2.0 && last < 0.05))
        fail_msg("loss %.4f -> %.4f", first, last);
    train_model_free(m);
}

/* loss of example `line` with tokenizer t: number of tokens with loss (0 when skipped) */
static size_t span_loss(struct tok *t, const char *line, int32_t *targets)
{
    struct train_data *d = NULL;
    enum status st = train_data_from_text(line, strlen(line), t, 12, 0.0, 1, &d, NULL);
    if (st == STATUS_FORMAT && strstr(status_detail(), "no example has a token"))
        return 0;
    assert_int_equal(st, STATUS_OK);
    struct train_data_stats ds;
    train_data_stats(d, &ds);
    if (targets) {
        int32_t tk[12], ps[12];
        train_data_row(d, 0, tk, targets, ps);
    }
    train_data_free(d);
    return ds.n_loss_tokens;
}

/* loss_spans, hand-written: "a b" is <s> ▁a ▁ b </s> (spelling [0,1) [1,2) [2,3)); only
 * tokens wholly inside a span learn, EOS when a span reaches the end; offsets count code
 * points ("é" is two byte tokens); a token straddling a span edge gets no loss. */
static void test_train_data_loss_spans(void **state)
{
    (void)state;
    struct tok *t = tiny_tok();
    int32_t tg[12];
    /* the memory result "b" is outside the span: ▁a and ▁ learn, b and </s> do not */
    assert_int_equal(span_loss(t, "{\"text\": \"a b\", \"loss_from\": 0, \"loss_spans\": [[0, 2]]}",
                               tg), 2);
    assert_int_equal(tg[0], 6);  /* <s> -> ▁a */
    assert_int_equal(tg[1], 3);  /* ▁a -> ▁ */
    assert_int_equal(tg[2], -1); /* ▁ -> b: outside */
    assert_int_equal(tg[3], -1); /* b -> </s>: outside */
    assert_int_equal(span_loss(t, "{\"text\": \"a b\", \"loss_spans\": [[2, 3]]}", tg), 2);
    assert_int_equal(tg[0], -1);
    assert_int_equal(tg[1], -1);
    assert_int_equal(tg[2], 5);
    assert_int_equal(tg[3], 2);
    /* two spans; loss_from does not widen them */
    assert_int_equal(span_loss(t, "{\"text\": \"a b\", \"loss_from\": 0, "
                                  "\"loss_spans\": [[0, 1], [2, 3]]}", NULL), 3);
    assert_int_equal(span_loss(t, "{\"text\": \"a b\", \"loss_spans\": [[1, 2]]}", NULL), 1);
    /* "ab" is <s> ▁ ab </s>: "ab" straddles a span that holds only "b" and gets no loss;
     * </s> does (the span reaches the end) */
    assert_int_equal(span_loss(t, "{\"text\": \"ab\", \"loss_spans\": [[1, 2]]}", tg), 1);
    assert_int_equal(tg[0], -1);
    assert_int_equal(tg[1], -1);
    assert_int_equal(tg[2], 2);
    assert_int_equal(span_loss(t, "{\"text\": \"ab\", \"loss_spans\": [[0, 1]]}", NULL), 1);
    assert_int_equal(span_loss(t, "{\"text\": \"ab\", \"loss_spans\": [[0, 2]]}", NULL), 3);
    assert_int_equal(span_loss(t, "{\"text\": \"ab\", \"loss_spans\": []}", NULL), 0);
    assert_int_equal(span_loss(t, "{\"text\": \"ab\", \"loss_spans\": [[1, 1]]}", NULL), 0);

    struct train_data *d = NULL;
    const char *bad[] = {
        "{\"text\": \"ab\", \"loss_spans\": [[2, 1]]}",
        "{\"text\": \"ab\", \"loss_spans\": [[0, 3]]}",
        "{\"text\": \"ab\", \"loss_spans\": [[-1, 1]]}",
        "{\"text\": \"ab\", \"loss_spans\": [[0]]}",
        "{\"text\": \"ab\", \"loss_spans\": 5}",
        "{\"text\": \"ab\", \"loss_spans\": [[0, \"1\"]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(train_data_from_text(bad[i], strlen(bad[i]), t, 12, 0.0, 1, &d, NULL),
                         STATUS_FORMAT);
        assert_non_null(strstr(status_detail(), "line 1"));
    }
    tok_free(t);

    /* a vocabulary with byte fallback: "é b" is <s> ▁ <0xC3> <0xA9> ▁ b </s> */
    enum { NB = 6 + 256 };
    static char bytes[256][7];
    static const char *pieces[NB] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b"};
    static int32_t types[NB] = {2, 3, 3, 1, 1, 1};
    static float scores[NB] = {0, 0, 0, -3, -1, -1};
    for (int i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i);
        pieces[6 + i] = bytes[i];
        types[6 + i] = 6;
    }
    struct tok_vocab_desc vd;
    tok_vocab_desc_init(&vd);
    vd.n_tokens = NB;
    vd.tokens = pieces;
    vd.types = types;
    vd.scores = scores;
    vd.bos_id = 1;
    vd.eos_id = 2;
    vd.unk_id = 0;
    assert_int_equal(tok_new(&vd, &t), STATUS_OK);
    /* [0, 1) is the one character é (two bytes): ▁ (the dummy space), C3, A9 */
    assert_int_equal(span_loss(t, "{\"text\": \"\xc3\xa9 b\", \"loss_spans\": [[0, 1]]}", tg), 3);
    assert_int_equal(tg[0], 3);
    assert_int_equal(tg[1], 6 + 0xC3);
    assert_int_equal(tg[2], 6 + 0xA9);
    assert_int_equal(tg[3], -1);
    assert_int_equal(span_loss(t, "{\"text\": \"\xc3\xa9 b\", \"loss_spans\": [[2, 3]]}", NULL), 2);
    tok_free(t);

    /* a text the pieces cannot spell (no byte fallback: <unk>) cannot place spans */
    t = tiny_tok();
    const char *unk = "{\"text\": \"a \xc3\xa9\", \"loss_spans\": [[0, 1]]}";
    assert_int_equal(train_data_from_text(unk, strlen(unk), t, 12, 0.0, 1, &d, NULL),
                     STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "loss_spans"));
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
        cmocka_unit_test(test_train_lora_untrained_adapter_keeps_base_logits),
        cmocka_unit_test(test_train_lora_gradients_match_finite_differences),
        cmocka_unit_test(test_train_lora_adapter_loads_in_engine_and_merges),
        cmocka_unit_test(test_train_lora_targets_and_settings),
        cmocka_unit_test(test_train_lora_learns_on_quantized_base),
        cmocka_unit_test(test_train_overfits_repeated_corpus_to_near_zero_loss),
        cmocka_unit_test(test_train_data_loss_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
