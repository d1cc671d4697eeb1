/* test_quant.c -- block formats, conversions, quantizers and dot kernels (scalar vs SIMD). */
#include "config.h"

#include <math.h>

#include "engine/gguf.h"
#include "engine/quant.h"
#include "test_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TEST_X86 1
#endif

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) /* (0, 1) */
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_normal(void)
{
    return (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static size_t row_bytes(enum dtype t, size_t n)
{
    size_t b = 0;
    assert_int_equal(dtype_row_bytes(t, n, &b), STATUS_OK);
    return b;
}

/* Values per block of t together with its activation format. */
static size_t quant_block_values(enum dtype t)
{
    size_t a = dtype_block_size(t), b = dtype_block_size(quant_act_type(t));
    return a > b ? a : b;
}

static const enum dtype weight_types[] = {DTYPE_F32,  DTYPE_F16,  DTYPE_BF16, DTYPE_Q8_0,
                                          DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

/* ---- conversions ---- */

static void test_quant_fp16_known_values(void **state)
{
    (void)state;
    assert_int_equal(quant_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(quant_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(quant_fp32_to_fp16(0.0f), 0x0000);
    assert_int_equal(quant_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(quant_fp32_to_fp16(65504.0f), 0x7bff);     /* largest finite */
    assert_int_equal(quant_fp32_to_fp16(65519.99f), 0x7bff);    /* below the midpoint */
    assert_int_equal(quant_fp32_to_fp16(65520.0f), 0x7c00);     /* midpoint, ties to even: inf */
    assert_int_equal(quant_fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(quant_fp32_to_fp16(-INFINITY), 0xfc00);
    assert_int_equal(quant_fp32_to_fp16(NAN) & 0x7fff, 0x7e00);
    assert_int_equal(quant_fp32_to_fp16(0x1p-24f), 0x0001);     /* smallest subnormal */
    assert_int_equal(quant_fp32_to_fp16(0x1p-25f), 0x0000);     /* tie to even: zero */
    assert_int_equal(quant_fp32_to_fp16(0x1.8p-25f), 0x0001);
    assert_int_equal(quant_fp32_to_fp16(0x1.8p-24f), 0x0002);   /* 1.5 units: tie to 2 */
    assert_int_equal(quant_fp32_to_fp16(0x1p-14f), 0x0400);     /* smallest normal */
    assert_int_equal(quant_fp32_to_fp16(0x1.ffcp-15f), 0x0400); /* rounds up into normal */
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1) */
    assert_int_equal(quant_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(quant_fp32_to_fp16(1.0f + 0x1p-10f + 0x1p-11f), 0x3c02);
    assert_true(quant_fp16_to_fp32(0x3555) == 0x1.554p-2f);
    assert_true(quant_fp16_to_fp32(0x0001) == 0x1p-24f);
    assert_true(quant_fp16_to_fp32(0x83ff) == -0x1.ff8p-15f);
    assert_true(isinf(quant_fp16_to_fp32(0xfc00)) && quant_fp16_to_fp32(0xfc00) < 0);
    assert_true(isnan(quant_fp16_to_fp32(0x7e01)));
}

static void test_quant_fp16_round_trips_every_half(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_fp16_to_fp32((uint16_t)h);
        if (isnan(f))
            assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff));
        else
            assert_int_equal(quant_fp32_to_fp16(f), h);
    }
}

#ifdef TEST_X86
__attribute__((target("f16c"))) static uint16_t hw_fp16(float f)
{
    return (uint16_t)_cvtss_sh(f, 0); /* round to nearest even */
}
#endif

static void test_quant_fp16_matches_hardware_rounding(void **state)
{
    (void)state;
#ifdef TEST_X86
    if (!quant_cpu_supported(QUANT_CPU_AVX2)) {
        fprintf(stderr, "SKIP: no F16C on this CPU\n");
        return;
    }
    rng_state = 11;
    for (int i = 0; i < 2000000; i++) {
        /* random bit patterns concentrated on the half range (exponents 100..150) */
        uint32_t u = (uint32_t)rng_next();
        u = (u & 0x807fffffu) | (uint32_t)(100 + (rng_next() % 51)) << 23;
        float f = from_bits(u);
        assert_int_equal(quant_fp32_to_fp16(f), hw_fp16(f));
    }
#else
    fprintf(stderr, "SKIP: not x86\n");
#endif
}

static void test_quant_bf16_rounds_to_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(quant_fp32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(quant_fp32_to_bf16(from_bits(0x3f808000)), 0x3f80); /* tie, even stays */
    assert_int_equal(quant_fp32_to_bf16(from_bits(0x3f818000)), 0x3f82); /* tie, odd goes up */
    assert_int_equal(quant_fp32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(quant_fp32_to_bf16(from_bits(0x7f800001)), 0x7fc0); /* quiet NaN */
    assert_true(quant_bf16_to_fp32(0xc0a0) == -5.0f);
}

/* ---- dequantization of hand-made blocks ---- */

static void test_quant_dequantize_q8_0_and_q4_0_blocks(void **state)
{
    (void)state;
    struct quant_block_q8_0 b8 = {.d = 0x3800 /* 0.5 */};
    b8.qs[0] = -128;
    b8.qs[5] = 7;
    b8.qs[31] = 127;
    float y[64];
    quant_dequantize_row(DTYPE_Q8_0, &b8, y, 32);
    assert_true(y[0] == -64.0f && y[5] == 3.5f && y[31] == 63.5f && y[1] == 0.0f);

    struct quant_block_q4_0 b4[2] = {{.d = 0x3800}, {.d = 0xc000 /* -2 */}};
    memset(b4[0].qs, 0x88, 16); /* every value 8 - 8 = 0 */
    b4[0].qs[0] = 0x1f;         /* value 0: 15 - 8, value 16: 1 - 8 */
    b4[1].qs[15] = 0xf0;        /* value 15: 0 - 8, value 31: 15 - 8 */
    quant_dequantize_row(DTYPE_Q4_0, b4, y, 64);
    assert_true(y[0] == 3.5f && y[16] == -3.5f && y[1] == 0.0f);
    assert_true(y[32 + 15] == 16.0f && y[32 + 31] == -14.0f && y[32] == 16.0f);
}

static void test_quant_dequantize_k_blocks(void **state)
{
    (void)state;
    float y[256];
    /* Q4_K: sub-block 5 gets scale 37 and min 26 from the 6-bit packing */
    struct quant_block_q4_K k4;
    memset(&k4, 0, sizeof k4);
    k4.d = 0x3c00;              /* 1 */
    k4.dmin = 0x3800;           /* 0.5 */
    k4.scales[9] = 0xa5;        /* low 4 bits of scale 5 (5) and of min 5 (10) */
    k4.scales[1] = 0x80 | 3;    /* bits 4-5 of scale 5 = 2; scale 1 = 3 */
    k4.scales[5] = 0x40 | 9;    /* bits 4-5 of min 5 = 1; min 1 = 9 */
    k4.qs[64 + 7] = 0xc0;       /* sub-block 5 = high nibbles of qs[64..95]: value 160+7 = 12 */
    k4.qs[2] = 0x0b;            /* sub-block 0, value 2 = 11 (scale 0 and min 0 are 0) */
    k4.qs[32 + 1] = 0x06;       /* sub-block 2 (scale 0): value 65 */
    k4.qs[0 + 4] = 0x50;        /* sub-block 1, value 32 + 4 = 5 with scale 3 and min 9 */
    quant_dequantize_row(DTYPE_Q4_K, &k4, y, 256);
    assert_true(y[160 + 7] == 37.0f * 12 - 0.5f * 26);
    assert_true(y[160] == -0.5f * 26);
    assert_true(y[2] == 0.0f && y[65] == 0.0f);
    assert_true(y[36] == 3.0f * 5 - 0.5f * 9);
    assert_true(y[33] == -4.5f);

    /* Q5_K: the same scales; the fifth bit of value 32s + l is bit s of qh[l] */
    struct quant_block_q5_K k5;
    memset(&k5, 0, sizeof k5);
    k5.d = k4.d;
    k5.dmin = k4.dmin;
    memcpy(k5.scales, k4.scales, 12);
    memcpy(k5.qs, k4.qs, 128);
    k5.qh[7] = 1 << 5;
    k5.qh[4] = 1 << 1;
    quant_dequantize_row(DTYPE_Q5_K, &k5, y, 256);
    assert_true(y[160 + 7] == 37.0f * 28 - 0.5f * 26);
    assert_true(y[36] == 3.0f * 21 - 0.5f * 9);
    assert_true(y[32 + 7] == -4.5f); /* qh[7] bit 1 not set */

    /* Q6_K: value 100 = half 0, quarter 3 (ql[32 + 4] high nibble, qh[4] bits 6-7),
     * value 200 = half 1, quarter 2 (ql[64 + 8] high nibble, qh[32 + 8] bits 4-5) */
    struct quant_block_q6_K k6;
    memset(&k6, 0, sizeof k6);
    k6.d = 0x3400; /* 0.25 */
    for (int g = 0; g < 16; g++)
        k6.scales[g] = (int8_t)(g - 8);
    k6.ql[32 + 4] = 0x90;
    k6.qh[4] = 0x80;            /* high bits 2: q = 9 | 2 << 4 = 41 */
    k6.ql[64 + 8] = 0xf3;       /* high nibble 15 (value 200), low nibble 3 (value 136) */
    k6.qh[32 + 8] = 0x30 | 1;   /* value 200 high bits 3 (q = 63); value 136 high bits 1 */
    quant_dequantize_row(DTYPE_Q6_K, &k6, y, 256);
    assert_true(y[100] == 0.25f * (100 / 16 - 8) * (41 - 32));
    assert_true(y[200] == 0.25f * (200 / 16 - 8) * (63 - 32));
    assert_true(y[136] == 0.25f * (136 / 16 - 8) * (19 - 32));
    assert_true(y[0] == 0.25f * -8 * -32);
}

static void test_quant_k4_unpack_matches_scale_min(void **state)
{
    (void)state;
    rng_state = 5;
    for (int it = 0; it < 2000; it++) {
        uint8_t s12[12];
        for (int i = 0; i < 12; i++)
            s12[i] = (uint8_t)rng_next();
        uint64_t sc, m;
        quant_k4_unpack(s12, &sc, &m);
        for (int s = 0; s < 8; s++) {
            uint8_t a, b;
            quant_k4_scale_min(s, s12, &a, &b);
            assert_int_equal((sc >> (8 * s)) & 0xff, a);
            assert_int_equal((m >> (8 * s)) & 0xff, b);
        }
    }
}

/* ---- activation quantization ---- */

static void test_quant_q8_0_activation_rounds_half_even(void **state)
{
    (void)state;
    float x[32] = {0};
    x[0] = 127.0f; /* amax 127: multiplier exactly 1 */
    x[1] = 2.5f;
    x[2] = 3.5f;
    x[3] = -2.5f;
    x[4] = -126.4f;
    struct quant_block_q8_0 act, ref;
    quant_quantize_row_q8_0(x, &act, 32);
    assert_int_equal(act.d, 0x3c00);
    assert_int_equal(act.qs[0], 127);
    assert_int_equal(act.qs[1], 2);
    assert_int_equal(act.qs[2], 4);
    assert_int_equal(act.qs[3], -2);
    assert_int_equal(act.qs[4], -126);
    /* the weight quantizer (ggml's reference) uses roundf: halves away from zero */
    quant_quantize_row(DTYPE_Q8_0, x, &ref, 32);
    assert_int_equal(ref.d, 0x3c00);
    assert_int_equal(ref.qs[1], 3);
    assert_int_equal(ref.qs[3], -3);

    float z[32] = {0};
    quant_quantize_row_q8_0(z, &act, 32);
    assert_int_equal(act.d, 0);
    for (int j = 0; j < 32; j++)
        assert_int_equal(act.qs[j], 0);
}

static void test_quant_q8_K_activation(void **state)
{
    (void)state;
    float x[256] = {0};
    x[0] = 1.0f;
    x[1] = -2.0f; /* largest magnitude, negative: iscale = 63.5 */
    x[17] = 1.5f / 63.5f; /* 1.5 after scaling: ties to even 2 */
    x[18] = 0.5f / 63.5f; /* 0.5: ties to 0 */
    struct quant_block_q8_K b;
    quant_quantize_row_q8_K(x, &b, 256);
    assert_true(b.d == 1 / 63.5f);
    assert_int_equal(b.qs[1], -127);
    assert_int_equal(b.qs[0], 64);   /* 63.5 -> 64 (even) */
    assert_int_equal(b.qs[17], 2);
    assert_int_equal(b.qs[18], 0);
    assert_int_equal(b.bsums[0], 64 - 127);
    assert_int_equal(b.bsums[1], 2);
    for (int g = 2; g < 16; g++)
        assert_int_equal(b.bsums[g], 0);

    float z[256] = {0};
    quant_quantize_row_q8_K(z, &b, 256);
    assert_true(b.d == 0.0f && b.qs[0] == 0 && b.bsums[15] == 0);
}

/* The SIMD activation quantizers give the scalar bytes: random rows of several scales, with
 * magnitude ties of both signs (Q8_K keeps the first one's sign), half-way products, zero
 * blocks and blocks so small that the scale overflows. */
static void test_quant_act_quantizers_same_bytes_at_every_level(void **state)
{
    (void)state;
    const size_t n = 4096;
    float *x = malloc(n * sizeof *x);
    unsigned char *want = malloc(n * 2), *got = malloc(n * 2);
    assert_true(x && want && got);
    static const enum dtype wts[] = {DTYPE_Q8_0, DTYPE_Q4_K};
    for (int rep = 0; rep < 40; rep++) {
        rng_state = 900 + (uint64_t)rep;
        for (size_t i = 0; i < n; i++) {
            size_t blk = i / 256;
            float scale = blk % 4 == 0 ? 1.0f : blk % 4 == 1 ? 1e-3f : blk % 4 == 2 ? 30.0f
                                                                                   : 1e-39f;
            x[i] = rng_normal() * scale;
            if (rep % 4 == 1)
                x[i] = (float)(int)(x[i] * 4.0f) / 4.0f; /* many exact ties and zeros */
        }
        if (rep % 2 == 0) {
            for (size_t i = 512; i < 768; i++) /* a zero Q8_K block and eight Q8_0 ones */
                x[i] = 0.0f;
            x[1024 + 7] = 5.0f; /* magnitude tie: the negative one comes first */
            x[1024 + 3] = -5.0f;
            x[2048 + 9] = 3.0f;
            x[2048 + 200] = -3.0f;
        }
        for (size_t k = 0; k < 2; k++) {
            size_t bytes = quant_act_row_bytes(wts[k], n);
            quant_quantize_act_at(QUANT_CPU_SCALAR, wts[k], x, want, n);
            for (int l = 1; l < QUANT_CPU_COUNT_; l++) {
                if (!quant_cpu_supported((enum quant_cpu)l))
                    continue;
                memset(got, 0x5a, bytes);
                quant_quantize_act_at((enum quant_cpu)l, wts[k], x, got, n);
                if (memcmp(got, want, bytes) != 0)
                    fail_msg("%s activations differ at level %d (rep %d)",
                             dtype_name(quant_act_type(wts[k])), l, rep);
            }
        }
    }
    free(x);
    free(want);
    free(got);
}

static void test_quant_act_pairing(void **state)
{
    (void)state;
    assert_int_equal(quant_act_type(DTYPE_Q8_0), DTYPE_Q8_0);
    assert_int_equal(quant_act_type(DTYPE_Q4_0), DTYPE_Q8_0);
    assert_int_equal(quant_act_type(DTYPE_Q4_K), DTYPE_Q8_K);
    assert_int_equal(quant_act_type(DTYPE_Q5_K), DTYPE_Q8_K);
    assert_int_equal(quant_act_type(DTYPE_Q6_K), DTYPE_Q8_K);
    assert_int_equal(quant_act_type(DTYPE_F16), DTYPE_F16);
    assert_int_equal(quant_act_type(DTYPE_BF16), DTYPE_BF16);
    assert_int_equal(quant_act_type(DTYPE_F32), DTYPE_F32);
    assert_int_equal(quant_act_row_bytes(DTYPE_Q4_K, 512), 2 * 292);
    assert_int_equal(quant_act_row_bytes(DTYPE_Q4_0, 64), 2 * 34);
    assert_int_equal(quant_act_row_bytes(DTYPE_F16, 64), 128);
    assert_true(quant_weight_supported(DTYPE_Q6_K));
    assert_false(quant_weight_supported(DTYPE_Q8_K));
    assert_false(quant_weight_supported(DTYPE_Q2_K));
}

/* ---- weight quantizers ---- */

static void test_quant_q4_0_known_block(void **state)
{
    (void)state;
    /* max = -8 (largest magnitude) gives d = 1, and q = trunc(x + 8.5) capped at 15 */
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = -8.0f + 0.5f * j; /* -8, -7.5, ..., 7.5 */
    struct quant_block_q4_0 b;
    quant_quantize_row(DTYPE_Q4_0, x, &b, 32);
    assert_int_equal(b.d, 0x3c00);
    for (int j = 0; j < 16; j++) {
        int lo = (int)(x[j] + 8.5f), hi = (int)(x[j + 16] + 8.5f);
        hi = hi > 15 ? 15 : hi;
        assert_int_equal(b.qs[j], lo | hi << 4);
    }
    assert_int_equal(b.qs[0], 0 | 8 << 4);  /* -8 -> 0, 0 -> 8 */
    assert_int_equal(b.qs[15], 8 | 15 << 4); /* -0.5 -> trunc(8.0) = 8, 7.5 -> 16 -> 15 */
}

/* Relative RMS error of a quantize/dequantize round trip over rows of gaussian values. */
static double round_trip_rel_rms(enum dtype t, size_t n, uint64_t seed, double *max_rel)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *q = malloc(row_bytes(t, n));
    assert_true(x && y && q);
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = rng_normal() * (i % 256 < 128 ? 1.0f : 0.01f); /* two magnitudes */
    quant_quantize_row(t, x, q, n);
    quant_dequantize_row(t, q, y, n);
    double se = 0, sx = 0, worst = 0;
    size_t bs = dtype_block_size(t) > 1 ? dtype_block_size(t) : 32;
    for (size_t b0 = 0; b0 < n; b0 += bs) {
        double amax = 0;
        for (size_t i = b0; i < b0 + bs; i++)
            amax = fmax(amax, fabs(x[i]));
        for (size_t i = b0; i < b0 + bs; i++) {
            double e = (double)y[i] - x[i];
            se += e * e;
            sx += (double)x[i] * x[i];
            if (amax > 0)
                worst = fmax(worst, fabs(e) / amax);
        }
    }
    free(x);
    free(y);
    free(q);
    *max_rel = worst;
    return sqrt(se / sx);
}

static void test_quant_round_trip_error_bounds(void **state)
{
    (void)state;
    /* bounds: a few times the expected error of each format for gaussian data; the max
     * error relative to the block's largest magnitude is about half a step (a whole step
     * for Q4_0, whose levels -8..7 cannot reach +amax when the extreme is negative) */
    static const struct {
        enum dtype t;
        double rms, max_rel;
    } cases[] = {
        {DTYPE_F32, 0.0, 0.0},        {DTYPE_F16, 1e-3, 1e-3},     {DTYPE_BF16, 8e-3, 8e-3},
        {DTYPE_Q8_0, 0.01, 0.0045},   {DTYPE_Q4_0, 0.15, 0.1300},  {DTYPE_Q6_K, 0.025, 0.03},
        {DTYPE_Q5_K, 0.05, 0.0700},   {DTYPE_Q4_K, 0.10, 0.1400},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
            double max_rel;
            double rms = round_trip_rel_rms(cases[c].t, 2048, seed, &max_rel);
            if (rms > cases[c].rms || max_rel > cases[c].max_rel)
                fail_msg("%s seed %d: rel rms %g (bound %g), max rel %g (bound %g)",
                         dtype_name(cases[c].t), (int)seed, rms, cases[c].rms, max_rel,
                         cases[c].max_rel);
        }
    }
}

static void test_quant_quantizers_handle_zero_and_constant_rows(void **state)
{
    (void)state;
    float x[256], y[256];
    unsigned char q[292];
    enum dtype ts[] = {DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        memset(x, 0, sizeof x);
        quant_quantize_row(ts[k], x, q, 256);
        quant_dequantize_row(ts[k], q, y, 256);
        for (int i = 0; i < 256; i++)
            assert_true(y[i] == 0.0f);
        for (int i = 0; i < 256; i++)
            x[i] = 0.75f;
        quant_quantize_row(ts[k], x, q, 256);
        quant_dequantize_row(ts[k], q, y, 256);
        for (int i = 0; i < 256; i++)
            assert_true(fabsf(y[i] - 0.75f) < 0.05f);
    }
}

/* ---- dot products ---- */

/* Fill a weight row of type t: mode 0 quantizes gaussian values, mode 1 writes random bytes
 * (sane f16 scales), mode 2 the extreme bytes (all bits set, maximal scales), mode 3 zeros. */
static void make_weights(enum dtype t, size_t n, int mode, void *w)
{
    size_t bytes = row_bytes(t, n);
    if (mode == 0) {
        float *x = malloc(n * sizeof *x);
        assert_non_null(x);
        for (size_t i = 0; i < n; i++)
            x[i] = rng_normal();
        quant_quantize_row(t, x, w, n);
        free(x);
        return;
    }
    unsigned char *p = w;
    for (size_t i = 0; i < bytes; i++)
        p[i] = mode == 1 ? (unsigned char)rng_next() : mode == 2 ? 0xff : 0;
    if (mode == 3)
        return;
    /* patch the scale fields to finite values */
    uint16_t dval = mode == 1 ? quant_fp32_to_fp16(0.01f + 0.1f * (float)rng_uniform()) : 0x3c00;
    size_t bs = dtype_type_size(t), nb = bytes / bs;
    for (size_t b = 0; b < nb; b++) {
        unsigned char *blk = p + b * bs;
        switch (t) {
        case DTYPE_F16:
            for (size_t i = 0; i < bs; i += 2)
                memcpy(blk + i, &(uint16_t){quant_fp32_to_fp16(mode == 2 ? -1 : rng_normal())}, 2);
            break;
        case DTYPE_BF16:
            for (size_t i = 0; i < bs; i += 2)
                memcpy(blk + i, &(uint16_t){quant_fp32_to_bf16(mode == 2 ? -1 : rng_normal())}, 2);
            break;
        case DTYPE_F32:
            memcpy(blk, &(float){mode == 2 ? -1.0f : rng_normal()}, 4);
            break;
        case DTYPE_Q8_0:
        case DTYPE_Q4_0:
            memcpy(blk, &dval, 2);
            break;
        case DTYPE_Q4_K:
        case DTYPE_Q5_K:
            memcpy(blk, &dval, 2);
            memcpy(blk + 2, &dval, 2);
            break;
        case DTYPE_Q6_K:
            memcpy(blk + 208, &dval, 2);
            break;
        default:
            break;
        }
    }
}

/* Activations: gaussian, or the extremes (+1 everywhere: all q = -127 for Q8_K, 127 for
 * Q8_0), or zeros. */
static void make_act(enum dtype wt, size_t n, int mode, void *xa, float *xf)
{
    for (size_t i = 0; i < n; i++)
        xf[i] = mode == 0 ? rng_normal() * (1.0f + 3.0f * (i % 97 == 0)) : mode == 1 ? 1.0f : 0.0f;
    quant_quantize_act(wt, xf, xa, n);
}

static double dot_reference(enum dtype wt, size_t n, const void *w, const void *xa, double *abs_sum)
{
    float *wf = malloc(n * sizeof *wf), *xf = malloc(n * sizeof *xf);
    assert_true(wf && xf);
    quant_dequantize_row(wt, w, wf, n);
    quant_dequantize_row(quant_act_type(wt), xa, xf, n);
    double s = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)wf[i] * xf[i];
        a += fabs((double)wf[i] * xf[i]);
    }
    free(wf);
    free(xf);
    *abs_sum = a;
    return s;
}

static void test_quant_dots_match_reference_at_every_level(void **state)
{
    (void)state;
    /* for the 32-value block types: 1, 3, 6, 7, 17 blocks exercise every step width of the
     * SIMD loops (4, 2 and 1 blocks); 40 and 48 values end in partial float steps */
    static const size_t sizes[] = {40, 48, 32, 96, 192, 224, 256, 512, 544, 1792};
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        enum dtype t = weight_types[ti];
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            if (n % quant_block_values(t) != 0)
                continue;
            void *w = malloc(row_bytes(t, n));
            void *xa = malloc(quant_act_row_bytes(t, n));
            float *xf = malloc(n * sizeof *xf);
            assert_true(w && xa && xf);
            for (int seed = 0; seed < 24; seed++) {
                rng_state = 1000u * (uint64_t)seed + 17 * ti + si;
                int wmode = seed < 16 ? seed % 2 : seed % 4;
                int amode = seed < 20 ? 0 : seed % 3;
                make_weights(t, n, wmode, w);
                make_act(t, n, amode, xa, xf);
                double abs_sum;
                double ref = dot_reference(t, n, w, xa, &abs_sum);
                float scalar = quant_vec_dot_at(QUANT_CPU_SCALAR, t, n, w, xa);
                /* scalar kernel vs double dot of the dequantized operands */
                double tol = 2e-6 * abs_sum + 1e-30;
                if (fabs(scalar - ref) > tol)
                    fail_msg("%s n=%zu seed %d: scalar %.9g vs double %.9g (tol %g)",
                             dtype_name(t), n, seed, scalar, ref, tol);
                if (wmode == 3 || amode == 2)
                    assert_true(scalar == 0.0f);
                for (int l = 1; l < QUANT_CPU_COUNT_; l++) {
                    if (!quant_cpu_supported((enum quant_cpu)l))
                        continue;
                    float v = quant_vec_dot_at((enum quant_cpu)l, t, n, w, xa);
                    /* different summation order in f32: bound by the magnitude of the terms */
                    double tol2 = 1e-5 * abs_sum + 1e-30;
                    if (!(fabs(v - scalar) <= tol2))
                        fail_msg("%s n=%zu seed %d level %d: %.9g vs scalar %.9g (tol %g)",
                                 dtype_name(t), n, seed, l, v, scalar, tol2);
                }
            }
            free(w);
            free(xa);
            free(xf);
        }
    }
}

static void test_quant_matvec_equals_row_dots(void **state)
{
    (void)state;
    const size_t rows = 11;
    for (size_t ti = 0; ti < 2 * N_WEIGHT_TYPES; ti++) {
        enum dtype t = weight_types[ti % N_WEIGHT_TYPES];
        /* 17 blocks of 32 (odd); 552 plain values end in a partial SIMD step; the second
         * pass takes 1024 values (a multiple of the 4-block steps of the one-token kernels) */
        size_t bv = quant_block_values(t), n = bv == 256 ? 512 : bv == 32 ? 544 : 552;
        if (ti >= N_WEIGHT_TYPES)
            n = 1024;
        size_t rb = row_bytes(t, n);
        unsigned char *w = malloc(rb * rows);
        void *xa = malloc(quant_act_row_bytes(t, n));
        float *xf = malloc(n * sizeof *xf);
        assert_true(w && xa && xf);
        rng_state = 77 + ti;
        for (size_t r = 0; r < rows; r++)
            make_weights(t, n, (int)(r % 2), w + r * rb);
        make_act(t, n, 0, xa, xf);
        for (int l = 0; l < QUANT_CPU_COUNT_; l++) {
            if (!quant_cpu_supported((enum quant_cpu)l))
                continue;
            /* several splits: the per-row result must not depend on the split */
            static const size_t splits[][2] = {{0, 11}, {1, 6}, {3, 11}, {5, 6}, {2, 10}};
            for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
                float y[11];
                for (size_t r = 0; r < rows; r++)
                    y[r] = -12345.0f;
                quant_matvec_at((enum quant_cpu)l, t, w, rb, n, splits[s][0], splits[s][1], xa, y);
                for (size_t r = 0; r < rows; r++) {
                    if (r < splits[s][0] || r >= splits[s][1]) {
                        assert_true(y[r] == -12345.0f); /* untouched */
                        continue;
                    }
                    float d = quant_vec_dot_at((enum quant_cpu)l, t, n, w + r * rb, xa);
                    if (bits_of(d) != bits_of(y[r]))
                        fail_msg("%s level %d row %zu split %zu: matvec %.9g != dot %.9g",
                                 dtype_name(t), l, r, s, y[r], d);
                }
            }
        }
        free(w);
        free(xa);
        free(xf);
    }
}

static void test_quant_matmul_equals_token_dots(void **state)
{
    (void)state;
    const size_t rows = 9, max_tok = 7;
    for (size_t ti = 0; ti < 2 * N_WEIGHT_TYPES; ti++) {
        enum dtype t = weight_types[ti % N_WEIGHT_TYPES];
        size_t bv = quant_block_values(t), n = bv == 256 ? 512 : bv == 32 ? 544 : 552;
        if (ti >= N_WEIGHT_TYPES)
            n = 1024; /* whole 4-block steps, as the one-token kernels' fast path needs */
        size_t rb = row_bytes(t, n), ab = quant_act_row_bytes(t, n) + 8; /* padded rows */
        unsigned char *w = malloc(rb * rows), *xa = malloc(ab * max_tok);
        float *xf = malloc(n * sizeof *xf), *y = malloc(max_tok * 16 * sizeof *y);
        assert_true(w && xa && xf && y);
        rng_state = 313 + ti;
        for (size_t r = 0; r < rows; r++)
            make_weights(t, n, (int)(r % 2), w + r * rb);
        for (size_t k = 0; k < max_tok; k++)
            make_act(t, n, k == 3 ? 1 : 0, xa + k * ab, xf);
        for (int l = 0; l < QUANT_CPU_COUNT_; l++) {
            if (!quant_cpu_supported((enum quant_cpu)l))
                continue;
            static const size_t toks[] = {1, 2, 3, 4, 5, 7};
            for (size_t s = 0; s < sizeof toks / sizeof toks[0]; s++) {
                size_t nt = toks[s], r0 = s % 3, r1 = rows - (s % 2);
                for (size_t i = 0; i < max_tok * 16; i++)
                    y[i] = -777.0f;
                quant_matmul_at((enum quant_cpu)l, t, w, rb, n, r0, r1, xa, ab, nt, y, 16);
                for (size_t k = 0; k < max_tok; k++) {
                    for (size_t r = 0; r < 16; r++) {
                        float got = y[k * 16 + r];
                        if (k >= nt || r < r0 || r >= r1) {
                            assert_true(got == -777.0f);
                            continue;
                        }
                        float d =
                            quant_vec_dot_at((enum quant_cpu)l, t, n, w + r * rb, xa + k * ab);
                        if (bits_of(d) != bits_of(got))
                            fail_msg("%s level %d tokens %zu: y[%zu][%zu] = %.9g, dot %.9g",
                                     dtype_name(t), l, nt, k, r, got, d);
                    }
                }
            }
        }
        free(w);
        free(xa);
        free(xf);
        free(y);
    }
}

/* ---- golden files: llama-quantize's output must be reproduced byte for byte ---- */

static struct gguf *open_golden(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s", name);
    char *path = test_shared_path(rel);
    if (!path)
        return NULL;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    free(path);
    return g;
}

/* Quantize every F32 tensor of the F32 model that the quantized file stores as Q8_0/Q4_0
 * and compare the bytes; returns how many tensors were compared. */
static int compare_requantized(const struct gguf *f32, const struct gguf *q)
{
    int compared = 0;
    for (int64_t i = 0; i < gguf_n_tensors(q); i++) {
        enum dtype t = gguf_tensor_type(q, i);
        if (t != DTYPE_Q8_0 && t != DTYPE_Q4_0)
            continue;
        const char *name = gguf_tensor_name(q, i);
        int64_t j = gguf_find_tensor(f32, name);
        assert_true(j >= 0);
        assert_int_equal(gguf_tensor_type(f32, j), DTYPE_F32);
        uint64_t ne0 = gguf_tensor_dim(q, i, 0), rows = gguf_tensor_n_elements(q, i) / ne0;
        assert_int_equal(gguf_tensor_n_elements(f32, j), ne0 * rows);
        size_t rb = row_bytes(t, ne0);
        assert_int_equal(gguf_tensor_size(q, i), rb * rows);
        unsigned char *buf = malloc(rb);
        float *row = malloc(ne0 * sizeof *row);
        assert_true(buf && row);
        const unsigned char *src = gguf_tensor_data(f32, j), *want = gguf_tensor_data(q, i);
        for (uint64_t r = 0; r < rows; r++) {
            memcpy(row, src + r * ne0 * sizeof(float), ne0 * sizeof(float));
            quant_quantize_row(t, row, buf, ne0);
            if (memcmp(buf, want + r * rb, rb) != 0)
                fail_msg("%s (%s) row %d differs from llama-quantize's bytes", name,
                         dtype_name(t), (int)r);
        }
        free(buf);
        free(row);
        compared++;
    }
    return compared;
}

static void test_quant_golden_q8_0_q4_0_bytes_match_llama_quantize(void **state)
{
    (void)state;
    struct gguf *f32 = open_golden("tiny-mistral-a-f32.gguf");
    if (!f32)
        return;
    struct gguf *q8 = open_golden("tiny-mistral-a-Q8_0.gguf");
    struct gguf *q4 = open_golden("tiny-mistral-a-Q4_0.gguf");
    assert_true(q8 && q4);
    assert_int_equal(compare_requantized(f32, q8), 16); /* all 2-D tensors */
    assert_int_equal(compare_requantized(f32, q4), 16); /* 15 Q4_0 + output.weight Q8_0 */
    gguf_close(q4);
    gguf_close(q8);
    gguf_close(f32);
}

/* Real Q4_K / Q6_K tensors (model C): dequantized values look like the generator's weights,
 * and every kernel level agrees with the double dot of the dequantized operands. */
static void test_quant_golden_k_tensors_dot(void **state)
{
    (void)state;
    struct gguf *g = open_golden("tiny-mistral-c-Q4_K_M.gguf");
    if (!g)
        return;
    static const char *const names[] = {"blk.0.ffn_down.weight", "blk.1.ffn_down.weight",
                                        "blk.0.attn_q.weight", "output.weight"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int64_t i = gguf_find_tensor(g, names[k]);
        assert_true(i >= 0);
        enum dtype t = gguf_tensor_type(g, i);
        assert_true(t == DTYPE_Q4_K || t == DTYPE_Q6_K);
        size_t n = (size_t)gguf_tensor_dim(g, i, 0), rows = 8;
        size_t rb = row_bytes(t, n);
        const unsigned char *w = gguf_tensor_data(g, i);
        float *xf = malloc(n * sizeof *xf), *wf = malloc(n * sizeof *wf);
        void *xa = malloc(quant_act_row_bytes(t, n));
        assert_true(xf && wf && xa);
        rng_state = 99 + k;
        make_act(t, n, 0, xa, xf);
        double ss = 0;
        for (size_t r = 0; r < rows; r++) {
            quant_dequantize_row(t, w + r * rb, wf, n);
            for (size_t c = 0; c < n; c++) {
                assert_true(isfinite(wf[c]));
                ss += (double)wf[c] * wf[c];
            }
            double abs_sum, ref = dot_reference(t, n, w + r * rb, xa, &abs_sum);
            for (int l = 0; l < QUANT_CPU_COUNT_; l++) {
                if (!quant_cpu_supported((enum quant_cpu)l))
                    continue;
                float v = quant_vec_dot_at((enum quant_cpu)l, t, n, w + r * rb, xa);
                if (!(fabs(v - ref) <= 1e-5 * abs_sum))
                    fail_msg("%s row %zu level %d: %.9g vs %.9g", names[k], r, l, v, ref);
            }
        }
        /* generator std: 1/sqrt(768) for ffn_down, 1.2/sqrt(256) attn_q, 2/sqrt(256) output */
        double std = sqrt(ss / (double)(rows * n));
        double want = k < 2 ? 1 / sqrt(768.0) : k == 2 ? 1.2 / 16 : 2.0 / 16;
        if (fabs(std / want - 1) > 0.1)
            fail_msg("%s: dequantized std %g, generator std %g", names[k], std, want);
        free(xf);
        free(wf);
        free(xa);
    }
    gguf_close(g);
}

static void test_quant_cpu_level_and_env(void **state)
{
    (void)state;
    const char *name = quant_cpu_level_name();
    enum quant_cpu l = quant_cpu_level();
    assert_true(quant_cpu_supported(l));
    assert_true(quant_cpu_supported(QUANT_CPU_SCALAR));
    assert_false(quant_cpu_supported(QUANT_CPU_COUNT_));
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    assert_string_equal(name, names[l]);
    const char *env = getenv("MEMLLM_CPU");
    if (env && strcmp(env, "scalar") == 0)
        assert_int_equal(l, QUANT_CPU_SCALAR);
    if (env && strcmp(env, "avx2") == 0)
        assert_true(l <= QUANT_CPU_AVX2);
    fprintf(stderr, "quant: CPU level %s\n", name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quant_fp16_known_values),
        cmocka_unit_test(test_quant_fp16_round_trips_every_half),
        cmocka_unit_test(test_quant_fp16_matches_hardware_rounding),
        cmocka_unit_test(test_quant_bf16_rounds_to_nearest_even),
        cmocka_unit_test(test_quant_dequantize_q8_0_and_q4_0_blocks),
        cmocka_unit_test(test_quant_dequantize_k_blocks),
        cmocka_unit_test(test_quant_k4_unpack_matches_scale_min),
        cmocka_unit_test(test_quant_q8_0_activation_rounds_half_even),
        cmocka_unit_test(test_quant_q8_K_activation),
        cmocka_unit_test(test_quant_act_quantizers_same_bytes_at_every_level),
        cmocka_unit_test(test_quant_act_pairing),
        cmocka_unit_test(test_quant_q4_0_known_block),
        cmocka_unit_test(test_quant_round_trip_error_bounds),
        cmocka_unit_test(test_quant_quantizers_handle_zero_and_constant_rows),
        cmocka_unit_test(test_quant_dots_match_reference_at_every_level),
        cmocka_unit_test(test_quant_matvec_equals_row_dots),
        cmocka_unit_test(test_quant_matmul_equals_token_dots),
        cmocka_unit_test(test_quant_golden_q8_0_q4_0_bytes_match_llama_quantize),
        cmocka_unit_test(test_quant_golden_k_tensors_dot),
        cmocka_unit_test(test_quant_cpu_level_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
