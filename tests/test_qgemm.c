/* test_qgemm.c -- int8 prompt products: the AVX-512 kernel against the scalar reference
 * (bit for bit) for Q8_0, Q4_0, Q4_K, Q5_K and Q6_K, row splits, and agreement with quant_matmul(). */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "engine/qgemm.h"
#include "engine/quant.h"
#include "test_util.h"

static uint64_t rng_state = 1;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_sym(void) /* [-1, 1) */
{
    return (float)((double)(rng_next() >> 11) / 4503599627370496.0 - 1.0);
}

struct fixture {
    enum dtype wt;
    size_t n_in, n_out, n_tok, row_bytes, act_q8_bytes, act_stride;
    unsigned char *w, *act_q8, *act;
    void *scratch;
};

/* Random weights quantized to wt and n_tok random tokens quantized to Q8_0 and prepared. */
static void fixture_make(struct fixture *f, enum dtype wt, size_t n_in, size_t n_out,
                         size_t n_tok)
{
    f->wt = wt;
    f->n_in = n_in;
    f->n_out = n_out;
    f->n_tok = n_tok;
    assert_int_equal(dtype_row_bytes(wt, n_in, &f->row_bytes), STATUS_OK);
    f->act_q8_bytes = quant_act_row_bytes(wt, n_in);
    f->act_stride = qgemm_act_bytes(n_in);
    assert_int_equal(f->act_stride % 64, 0);
    float *row = malloc(n_in * sizeof *row);
    f->w = malloc(n_out * f->row_bytes);
    f->act_q8 = malloc(n_tok * f->act_q8_bytes);
    f->act = aligned_alloc(64, n_tok * f->act_stride);
    f->scratch = aligned_alloc(64, qgemm_scratch_bytes(n_in));
    assert_non_null(row);
    assert_non_null(f->w);
    assert_non_null(f->act_q8);
    assert_non_null(f->act);
    assert_non_null(f->scratch);
    for (size_t r = 0; r < n_out; r++) {
        float scale = 0.01f + 0.1f * (float)(r % 7);
        for (size_t i = 0; i < n_in; i++)
            row[i] = scale * rng_sym();
        quant_quantize_row(wt, row, f->w + r * f->row_bytes, n_in);
    }
    for (size_t t = 0; t < n_tok; t++) {
        for (size_t i = 0; i < n_in; i++) /* outliers too: the full 8-bit range */
            row[i] = (i % 97 == 0 ? 40.0f : 2.0f) * rng_sym();
        quant_quantize_act(wt, row, f->act_q8 + t * f->act_q8_bytes, n_in);
        qgemm_prepare_act(wt, f->act_q8 + t * f->act_q8_bytes, n_in, f->act + t * f->act_stride);
    }
    free(row);
}

static void fixture_free(struct fixture *f)
{
    free(f->w);
    free(f->act_q8);
    free(f->act);
    free(f->scratch);
}

static float *run(const struct fixture *f, enum quant_cpu level, size_t r0, size_t r1,
                  float *y)
{
    qgemm_run_at(level, f->wt, f->w, f->row_bytes, f->n_in, r0, r1, f->act, f->act_stride,
                 f->n_tok, y, f->n_out, f->scratch);
    return y;
}

static void test_qgemm_prepare_act_keeps_values(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, DTYPE_Q8_0, 96, 1, 1);
    const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)f.act_q8;
    const float *d = (const float *)f.act;
    const uint8_t *q = f.act + 3 * 8;
    for (size_t b = 0; b < 3; b++) {
        assert_true(d[b] == quant_fp16_to_fp32(a[b].d));
        int sum = 0;
        for (size_t k = 0; k < 32; k++) {
            assert_int_equal((int)q[b * 32 + k] - 128, a[b].qs[k]);
            sum += a[b].qs[k];
        }
        assert_true(d[3 + b] == d[b] * (float)sum);
    }
    for (size_t i = 3 * 40; i < f.act_stride; i++) /* the padding is defined */
        assert_int_equal(f.act[i], 0);
    fixture_free(&f);
}

/* The reference against quant_matmul() (the same integer block sums, scaled in float;
 * only the order of the float additions differs). */
static void check_against_matmul(enum dtype wt)
{
    struct fixture f;
    fixture_make(&f, wt, 512, 37, 5);
    float *y = malloc(f.n_out * f.n_tok * sizeof *y), *ref = malloc(f.n_out * f.n_tok * sizeof *ref);
    assert_non_null(y);
    assert_non_null(ref);
    run(&f, QUANT_CPU_SCALAR, 0, f.n_out, y);
    quant_matmul_at(QUANT_CPU_SCALAR, wt, f.w, f.row_bytes, f.n_in, 0, f.n_out, f.act_q8,
                    f.act_q8_bytes, f.n_tok, ref, f.n_out);
    double worst = 0.0;
    for (size_t i = 0; i < f.n_out * f.n_tok; i++) {
        double e = fabs((double)y[i] - ref[i]) / (1.0 + fabs((double)ref[i]));
        worst = e > worst ? e : worst;
    }
    assert_true(worst < 1e-5);
    assert_true(fabsf(ref[0]) > 0.0f); /* not a product of zeros */
    free(y);
    free(ref);
    fixture_free(&f);
}

static void test_qgemm_matches_quant_matmul_q8_0(void **state)
{
    (void)state;
    check_against_matmul(DTYPE_Q8_0);
}

static void test_qgemm_matches_quant_matmul_q4_0(void **state)
{
    (void)state;
    check_against_matmul(DTYPE_Q4_0);
}

static void test_qgemm_matches_quant_matmul_q4_K(void **state)
{
    (void)state;
    check_against_matmul(DTYPE_Q4_K);
}

static void test_qgemm_matches_quant_matmul_q5_K(void **state)
{
    (void)state;
    check_against_matmul(DTYPE_Q5_K);
}

static void test_qgemm_matches_quant_matmul_q6_K(void **state)
{
    (void)state;
    check_against_matmul(DTYPE_Q6_K);
}

/* Q8_K activations: each 32-value block takes its super-block's scale. */
static void test_qgemm_prepare_act_q8_K(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, DTYPE_Q4_K, 512, 1, 1);
    const struct quant_block_q8_K *a = (const struct quant_block_q8_K *)f.act_q8;
    const float *d = (const float *)f.act;
    const uint8_t *q = f.act + 16 * 8;
    for (size_t b = 0; b < 16; b++) {
        const struct quant_block_q8_K *sb = a + b / 8;
        assert_true(d[b] == sb->d);
        int sum = sb->bsums[2 * (b % 8)] + sb->bsums[2 * (b % 8) + 1];
        assert_true(d[16 + b] == sb->d * (float)sum);
        for (size_t k = 0; k < 32; k++)
            assert_int_equal((int)q[b * 32 + k] - 128, sb->qs[(b % 8) * 32 + k]);
    }
    fixture_free(&f);
}

/* Every kernel shape (1 or 2 panels, partial panels, 1..4 tokens and more) bit for bit. */
static void check_kernel(enum dtype wt)
{
    if (!quant_cpu_supported(QUANT_CPU_AVX512)) {
        print_message("[ SKIPPED  ] no AVX-512 VNNI on this CPU: kernel not compared\n");
        skip();
    }
    static const size_t rows[] = {1, 15, 16, 17, 31, 32, 33, 64, 75};
    static const size_t toks[] = {1, 2, 3, 4, 5, 7, 9};
    static const size_t ins[] = {32, 64, 160}, ins_k[] = {256, 512, 768};
    for (size_t a = 0; a < sizeof rows / sizeof *rows; a++) {
        for (size_t b = 0; b < sizeof toks / sizeof *toks; b++) {
            for (size_t c = 0; c < sizeof ins / sizeof *ins; c++) {
                struct fixture f;
                fixture_make(&f, wt, wt == DTYPE_Q4_K || wt == DTYPE_Q5_K || wt == DTYPE_Q6_K ? ins_k[c] : ins[c], rows[a], toks[b]);
                size_t n = f.n_out * f.n_tok;
                float *ys = malloc(n * sizeof *ys), *yv = malloc(n * sizeof *yv);
                assert_non_null(ys);
                assert_non_null(yv);
                for (size_t i = 0; i < n; i++)
                    yv[i] = -1234.5f; /* every output written */
                run(&f, QUANT_CPU_SCALAR, 0, f.n_out, ys);
                run(&f, QUANT_CPU_AVX512, 0, f.n_out, yv);
                assert_memory_equal(ys, yv, n * sizeof *ys);
                free(ys);
                free(yv);
                fixture_free(&f);
            }
        }
    }
}

static void test_qgemm_kernel_bit_exact_q8_0(void **state)
{
    (void)state;
    check_kernel(DTYPE_Q8_0);
}

static void test_qgemm_kernel_bit_exact_q4_0(void **state)
{
    (void)state;
    check_kernel(DTYPE_Q4_0);
}

static void test_qgemm_kernel_bit_exact_q4_K(void **state)
{
    (void)state;
    check_kernel(DTYPE_Q4_K);
}

static void test_qgemm_kernel_bit_exact_q5_K(void **state)
{
    (void)state;
    check_kernel(DTYPE_Q5_K);
}

static void test_qgemm_kernel_bit_exact_q6_K(void **state)
{
    (void)state;
    check_kernel(DTYPE_Q6_K);
}

/* Rows split between tasks at multiples of QGEMM_ROWS give the same outputs as one call,
 * and rows outside the range are left alone. */
static void test_qgemm_split_invariant(void **state)
{
    (void)state;
    struct fixture f;
    fixture_make(&f, DTYPE_Q4_0, 4096, 3 * QGEMM_ROWS + 5, 6);
    size_t n = f.n_out * f.n_tok;
    float *whole = malloc(n * sizeof *whole), *parts = malloc(n * sizeof *parts);
    assert_non_null(whole);
    assert_non_null(parts);
    for (size_t i = 0; i < n; i++)
        parts[i] = 7.0f;
    run(&f, quant_cpu_level(), 0, f.n_out, whole);
    run(&f, quant_cpu_level(), QGEMM_ROWS, 2 * QGEMM_ROWS, parts);
    for (size_t t = 0; t < f.n_tok; t++)
        for (size_t r = 0; r < f.n_out; r++)
            if (r < QGEMM_ROWS || r >= 2 * QGEMM_ROWS)
                assert_true(parts[t * f.n_out + r] == 7.0f);
    run(&f, quant_cpu_level(), 0, QGEMM_ROWS, parts);
    run(&f, quant_cpu_level(), 2 * QGEMM_ROWS, f.n_out, parts);
    assert_memory_equal(whole, parts, n * sizeof *whole);
    free(whole);
    free(parts);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qgemm_prepare_act_keeps_values),
        cmocka_unit_test(test_qgemm_matches_quant_matmul_q8_0),
        cmocka_unit_test(test_qgemm_matches_quant_matmul_q4_0),
        cmocka_unit_test(test_qgemm_matches_quant_matmul_q4_K),
        cmocka_unit_test(test_qgemm_matches_quant_matmul_q5_K),
        cmocka_unit_test(test_qgemm_matches_quant_matmul_q6_K),
        cmocka_unit_test(test_qgemm_prepare_act_q8_K),
        cmocka_unit_test(test_qgemm_kernel_bit_exact_q8_0),
        cmocka_unit_test(test_qgemm_kernel_bit_exact_q4_0),
        cmocka_unit_test(test_qgemm_kernel_bit_exact_q4_K),
        cmocka_unit_test(test_qgemm_kernel_bit_exact_q5_K),
        cmocka_unit_test(test_qgemm_kernel_bit_exact_q6_K),
        cmocka_unit_test(test_qgemm_split_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
