/* test_quantize.c -- model conversion: recipes (checked against llama-quantize's files)
 * and byte-exact conversion of the golden F32 model. */
#include "config.h"

#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/quantize.h"
#include <math.h>

#include "test_util.h"

static void test_quantize_ftype_names(void **state)
{
    (void)state;
    enum quantize_ftype ft;
    assert_int_equal(quantize_ftype_parse("q4_k_m", &ft), STATUS_OK);
    assert_int_equal(ft, QUANTIZE_FTYPE_Q4_K_M);
    assert_string_equal(quantize_ftype_name(ft), "Q4_K_M");
    assert_int_equal(quantize_ftype_parse("Q8_0", &ft), STATUS_OK);
    assert_int_equal(ft, 7); /* llama.cpp's general.file_type number */
    assert_int_equal(quantize_ftype_parse("Q3_K_L", &ft), STATUS_INVALID);
    assert_non_null(strstr(status_detail(), "Q3_K_L"));
}

static void test_quantize_choose_rules(void **state)
{
    (void)state;
    /* norms are never converted */
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_0, "blk.0.attn_norm.weight", 1, 4096, 0,
                                     32, false, DTYPE_F32),
                     DTYPE_F32);
    /* the output head gets 6 bits in 4-bit recipes, stays 8 bits in Q8_0 */
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_0, "output.weight", 2, 4096, -1, 32, false,
                                     DTYPE_F32),
                     DTYPE_Q6_K);
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q8_0, "output.weight", 2, 4096, -1, 32, false,
                                     DTYPE_F32),
                     DTYPE_Q8_0);
    /* a tied embedding is the output head */
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_K_M, "token_embd.weight", 2, 4096, -1, 32,
                                     true, DTYPE_F32),
                     DTYPE_Q6_K);
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_K_M, "token_embd.weight", 2, 4096, -1, 32,
                                     false, DTYPE_F32),
                     DTYPE_Q4_K);
    /* Q4_K_M over 32 layers: attn_v/ffn_down get Q6_K in layers 0-3, 28-31, and 6, 9, ... */
    int more[32] = {0};
    for (int l = 0; l < 4; l++)
        more[l] = more[28 + l] = 1;
    for (int l = 6; l < 28; l += 3)
        more[l] = 1;
    for (int l = 0; l < 32; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        enum dtype t = quantize_choose(QUANTIZE_FTYPE_Q4_K_M, name, 2, 14336, l, 32, false,
                                       DTYPE_F16);
        assert_int_equal(t, more[l] ? DTYPE_Q6_K : DTYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_K_M, name, 2, 4096, l, 32, false,
                                         DTYPE_F16),
                         DTYPE_Q4_K);
    }
    /* rows that do not hold whole blocks fall back */
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q4_K_M, "blk.0.attn_q.weight", 2, 64, 0, 2,
                                     false, DTYPE_F32),
                     DTYPE_Q8_0);
    assert_int_equal(quantize_choose(QUANTIZE_FTYPE_Q8_0, "blk.0.attn_q.weight", 2, 48, 0, 2,
                                     false, DTYPE_F32),
                     DTYPE_F16);
}

/* Every tensor type in a llama-quantize file is what our recipe picks. */
static void check_recipe_against(const char *rel, enum quantize_ftype ft)
{
    char *path = test_shared_path(rel);
    if (!path)
        return;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    int64_t n_layer = 0;
    assert_int_equal(gguf_get_int(g, "llama.block_count", &n_layer), STATUS_OK);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const char *name = gguf_tensor_name(g, i);
        int layer = -1;
        sscanf(name, "blk.%d.", &layer);
        enum dtype want = gguf_tensor_type(g, i);
        enum dtype from = gguf_tensor_n_dims(g, i) < 2 ? want : DTYPE_F32;
        enum dtype got = quantize_choose(ft, name, gguf_tensor_n_dims(g, i),
                                         gguf_tensor_dim(g, i, 0), layer, (int)n_layer, false, from);
        if (got != want)
            fail_msg("%s: %s chose %s, llama-quantize wrote %s", rel, name, dtype_name(got),
                     dtype_name(want));
    }
    gguf_close(g);
    free(path);
}

static void test_quantize_recipes_match_llama_quantize(void **state)
{
    (void)state;
    check_recipe_against("golden/tiny-mistral-c-Q4_K_M.gguf", QUANTIZE_FTYPE_Q4_K_M);
    check_recipe_against("golden/tiny-mistral-a-Q4_0.gguf", QUANTIZE_FTYPE_Q4_0);
    check_recipe_against("golden/tiny-mistral-a-Q8_0.gguf", QUANTIZE_FTYPE_Q8_0);
}

/* Converting the golden F32 model reproduces llama-quantize's tensors byte for byte. */
static void convert_and_compare(const char *ref_rel, enum quantize_ftype ft)
{
    char *src = test_shared_path("golden/tiny-mistral-a-f32.gguf");
    char *ref = test_shared_path(ref_rel);
    if (!src || !ref) {
        free(src);
        free(ref);
        return;
    }
    char *tmp = test_tmpdir();
    char out[4200];
    snprintf(out, sizeof out, "%s/out.gguf", tmp);
    struct gguf *in = NULL, *a = NULL, *b = NULL;
    assert_int_equal(gguf_open(src, &in), STATUS_OK);
    struct quantize_params p = {.ftype = ft};
    assert_int_equal(quantize_file(in, &p, out), STATUS_OK);
    assert_int_equal(gguf_open(out, &a), STATUS_OK);
    assert_int_equal(gguf_open(ref, &b), STATUS_OK);
    assert_int_equal(gguf_n_tensors(a), gguf_n_tensors(b));
    for (int64_t i = 0; i < gguf_n_tensors(b); i++) {
        const char *name = gguf_tensor_name(b, i);
        int64_t j = gguf_find_tensor(a, name);
        assert_true(j >= 0);
        assert_int_equal(gguf_tensor_type(a, j), gguf_tensor_type(b, i));
        assert_int_equal(gguf_tensor_size(a, j), gguf_tensor_size(b, i));
        if (memcmp(gguf_tensor_data(a, j), gguf_tensor_data(b, i), gguf_tensor_size(b, i)) != 0)
            fail_msg("%s: tensor %s differs from llama-quantize's", ref_rel, name);
    }
    uint32_t ftype = 0;
    assert_int_equal(gguf_get_u32(a, "general.file_type", &ftype), STATUS_OK);
    assert_int_equal(ftype, (uint32_t)ft);
    /* metadata is carried over */
    assert_true(gguf_find_key(a, "tokenizer.ggml.tokens") >= 0);
    gguf_close(a);
    gguf_close(b);
    gguf_close(in);
    test_rmtree(tmp);
    free(src);
    free(ref);
}

static void test_quantize_golden_q8_0_bytes(void **state)
{
    (void)state;
    convert_and_compare("golden/tiny-mistral-a-Q8_0.gguf", QUANTIZE_FTYPE_Q8_0);
}

static void test_quantize_golden_q4_0_bytes(void **state)
{
    (void)state;
    convert_and_compare("golden/tiny-mistral-a-Q4_0.gguf", QUANTIZE_FTYPE_Q4_0);
}

/* A small model built here: weights converted, norms and metadata untouched. */
static void test_quantize_self_contained_model(void **state)
{
    (void)state;
    enum { N_IN = 256, N_OUT = 8 };
    static float w[N_OUT * N_IN], norm[N_IN];
    uint64_t seed = 42;
    for (size_t i = 0; i < N_OUT * N_IN; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (float)((int64_t)(seed >> 40) - (1 << 23)) / (float)(1 << 23);
    }
    for (size_t i = 0; i < N_IN; i++)
        norm[i] = 1.0f + (float)i / N_IN;
    struct gguf_writer *wr = NULL;
    assert_int_equal(gguf_writer_new(&wr), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(wr, "general.architecture", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(wr, "llama.block_count", 1), STATUS_OK);
    uint64_t d2[2] = {N_IN, N_OUT}, d1[1] = {N_IN};
    assert_int_equal(gguf_writer_add_tensor(wr, "blk.0.ffn_up.weight", DTYPE_F32, 2, d2, w,
                                            sizeof w),
                     STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(wr, "blk.0.ffn_norm.weight", DTYPE_F32, 1, d1, norm,
                                            sizeof norm),
                     STATUS_OK);
    char *tmp = test_tmpdir();
    char in_path[4200], out_path[4200];
    snprintf(in_path, sizeof in_path, "%s/in.gguf", tmp);
    snprintf(out_path, sizeof out_path, "%s/out.gguf", tmp);
    assert_int_equal(gguf_writer_write(wr, in_path), STATUS_OK);
    gguf_writer_free(wr);

    const enum quantize_ftype fts[] = {QUANTIZE_FTYPE_Q8_0, QUANTIZE_FTYPE_Q4_0,
                                       QUANTIZE_FTYPE_Q4_K_M, QUANTIZE_FTYPE_Q5_K_M,
                                       QUANTIZE_FTYPE_Q6_K, QUANTIZE_FTYPE_F16};
    const enum dtype want[] = {DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K,
                               DTYPE_F16};
    const float tol[] = {0.01f, 0.15f, 0.15f, 0.08f, 0.04f, 0.001f};
    for (size_t k = 0; k < sizeof fts / sizeof fts[0]; k++) {
        struct gguf *in = NULL, *out = NULL;
        assert_int_equal(gguf_open(in_path, &in), STATUS_OK);
        struct quantize_params p = {.ftype = fts[k]};
        assert_int_equal(quantize_file(in, &p, out_path), STATUS_OK);
        gguf_close(in);
        assert_int_equal(gguf_open(out_path, &out), STATUS_OK);
        int64_t t = gguf_find_tensor(out, "blk.0.ffn_up.weight");
        assert_int_equal(gguf_tensor_type(out, t), want[k]);
        static float back[N_IN];
        size_t row_bytes = gguf_tensor_size(out, t) / N_OUT;
        for (size_t r = 0; r < N_OUT; r++) {
            quant_dequantize_row(want[k], (const char *)gguf_tensor_data(out, t) + r * row_bytes,
                                 back, N_IN);
            for (size_t i = 0; i < N_IN; i++)
                if (fabsf(back[i] - w[r * N_IN + i]) > tol[k])
                    fail_msg("%s: value %zu,%zu off by %g", dtype_name(want[k]), r, i,
                             (double)fabsf(back[i] - w[r * N_IN + i]));
        }
        int64_t n = gguf_find_tensor(out, "blk.0.ffn_norm.weight");
        assert_int_equal(gguf_tensor_type(out, n), DTYPE_F32);
        assert_memory_equal(gguf_tensor_data(out, n), norm, sizeof norm);
        gguf_close(out);
    }
    test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_ftype_names),
        cmocka_unit_test(test_quantize_choose_rules),
        cmocka_unit_test(test_quantize_recipes_match_llama_quantize),
        cmocka_unit_test(test_quantize_golden_q8_0_bytes),
        cmocka_unit_test(test_quantize_golden_q4_0_bytes),
        cmocka_unit_test(test_quantize_self_contained_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
