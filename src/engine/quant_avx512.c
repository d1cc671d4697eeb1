/* quant_avx512.c -- AVX-512 (F, BW, VL, VNNI) dot products and mat-vec kernels.
 *
 * Compiled for that instruction set through a target pragma (the rest of the build stays
 * generic x86-64); quant.c calls quant_avx512_register() only on a CPU that has it.  As in
 * quant_avx2.c, each kernel is one inline body over NR rows (NR = 4 or 1) doing the same
 * operations per row, so mat-vec and single dots agree bit for bit. */
#include "config.h"
#include "engine/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(                                                                 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))),           \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif

#define Z_INLINE static inline __attribute__((always_inline))

Z_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

Z_INLINE float hsum16(__m512 v)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}

/* Two blocks per 512-bit step.  The f16 scales of blocks i and i + 1 of a row come from
 * one load (the second sits a fixed number of halves after the first); a word permute
 * spreads them to the lanes that hold each block's integer sums, and they are multiplied
 * by the activation scales laid out the same way. */
Z_INLINE __m512 scale_pair64(const void *blk, __m512i idx, __m512 dy) /* reads 64 bytes */
{
    __m512i raw = _mm512_loadu_si512(blk);
    __m256i h = _mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, raw));
    return _mm512_mul_ps(_mm512_cvtph_ps(h), dy);
}

Z_INLINE __m512 scale_pair32(const void *blk, __m256i idx, __m512 dy) /* reads 32 bytes */
{
    __m256i raw = _mm256_loadu_si256((const __m256i *)blk);
    return _mm512_mul_ps(_mm512_cvtph_ps(_mm256_permutexvar_epi16(idx, raw)), dy);
}

Z_INLINE __m512 join_ps(__m256 lo, __m256 hi)
{
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

/* ---- Q8_0 x Q8_0: |w| (u8) . y * sign(w) (s8) with VNNI ---- */

Z_INLINE __m256i q8_0_block_dot(const struct quant_block_q8_0 *b, __m256i qy)
{
    __m256i qw = _mm256_loadu_si256((const __m256i *)b->qs);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qw),
                               _mm256_sign_epi8(qy, qw));
}

Z_INLINE void q8_0_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                        const struct quant_block_q8_0 *x, float *out)
{
    /* 34-byte blocks: the next d is 17 halves on; lanes 0-7 block i, 8-15 block i + 1 */
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17,
                                         17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qy = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[i].qs)),
            _mm256_loadu_si256((const __m256i *)x[i + 1].qs), 1);
        __m512 dy = join_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d)), _mm256_set1_ps(_cvtsh_ss(x[i + 1].d)));
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b = (const struct quant_block_q8_0 *)(w + r * rb) + i;
            __m512i qw = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
            __mmask64 neg = _mm512_movepi8_mask(qw);
            __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), sy);
            acc[r] = _mm512_fmadd_ps(scale_pair64(b, idx, dy), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    if (i < nb) { /* odd block count: one 256-bit block */
        __m256i qy = _mm256_loadu_si256((const __m256i *)x[i].qs);
        float dy = _cvtsh_ss(x[i].d);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b = (const struct quant_block_q8_0 *)(w + r * rb) + i;
            __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d) * dy);
            __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(q8_0_block_dot(b, qy)));
            acc[r] = _mm512_add_ps(acc[r], _mm512_zextps256_ps512(v));
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

/* ---- Q4_0 x Q8_0: q (u8, 0..15) . y with VNNI, started from -8 * sum(y) (shared) ----
 * Two blocks per step; the nibbles come out as [lo0 lo1 hi0 hi1] (16 bytes each), so the
 * activations are reordered the same way once per step, for all rows. */

Z_INLINE void q4_0_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                        const struct quant_block_q8_0 *x, float *out)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i eight = _mm512_set1_epi8(8);
    /* 18-byte blocks: the next d is 9 halves on; int32 lanes in runs of 4 alternate blocks */
    const __m256i idx = _mm256_set_epi16(9, 9, 9, 9, 0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0);
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i y = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[i].qs)),
            _mm256_loadu_si256((const __m256i *)x[i + 1].qs), 1);
        y = _mm512_shuffle_i64x2(y, y, _MM_SHUFFLE(3, 1, 2, 0)); /* y0lo y1lo y0hi y1hi */
        __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, y));
        __m256 dy0 = _mm256_set1_ps(_cvtsh_ss(x[i].d)), dy1 = _mm256_set1_ps(_cvtsh_ss(x[i + 1].d));
        __m256 dy01 = _mm256_blend_ps(dy0, dy1, 0xf0);
        __m512 dy = join_ps(dy01, dy01);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            __m256i q = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                _mm_loadu_si128((const __m128i *)b[1].qs), 1);
            __m512i qq = _mm512_and_si512(
                _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), lo4);
            __m512i p = _mm512_dpbusd_epi32(neg, qq, y);
            acc[r] = _mm512_fmadd_ps(scale_pair32(b, idx, dy), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    if (i < nb) { /* odd block count: one 256-bit block */
        __m256i qy = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i neg = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), qy));
        float dy = _cvtsh_ss(x[i].d);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
            __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q),
                                          _mm256_set1_epi8(15));
            __m256i p = _mm256_dpbusd_epi32(neg, qq, qy);
            __m256 v = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d) * dy), _mm256_cvtepi32_ps(p));
            acc[r] = _mm512_add_ps(acc[r], _mm512_zextps256_ps512(v));
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

/* ---- Q4_K / Q5_K x Q8_K: 64 values per 512-bit step (sub-blocks 2c and 2c + 1) ---- */

/* 8 scales (bytes) as int16 in the low 128 bits of a 512-bit register. */
Z_INLINE __m512i k4_scales16(const uint8_t *s12, __m128i *mins16)
{
    uint64_t sc, m;
    quant_k4_unpack(s12, &sc, &m);
    __m128i m8 = _mm_cvtsi64_si128((long long)m);
    *mins16 = _mm_unpacklo_epi8(m8, m8); /* m0 m0 m1 m1 ... as bytes */
    return _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
}

/* int16 lanes 0..15 = scale[2c], 16..31 = scale[2c + 1] */
Z_INLINE __m512i k4_scale_pair(__m512i sc16, int c)
{
    __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(2 * c))),
                                     _mm256_set1_epi16((short)(2 * c + 1)), 1);
    return _mm512_permutexvar_epi16(idx, sc16);
}

Z_INLINE void q4_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                        const struct quant_block_q8_K *x, float *out)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_K *b = (const struct quant_block_q4_K *)(w + r * rb) + i;
            __m128i m16;
            __m512i sc16 = k4_scales16(b->scales, &m16);
            __m256i mins = _mm256_madd_epi16(bsums, _mm256_cvtepu8_epi16(m16));
            __m512i sumi = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
                __m512i qq = _mm512_and_si512(
                    _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), lo4);
                __m512i y = _mm512_loadu_si512((const void *)(x[i].qs + 64 * c));
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(qq, y), k4_scale_pair(sc16, c));
            }
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d) * x[i].d);
            __m512 dmin = _mm512_set1_ps(_cvtsh_ss(b->dmin) * x[i].d);
            acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc[r]);
            acc[r] = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

Z_INLINE void q5_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                        const struct quant_block_q8_K *x, float *out)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i one = _mm512_set1_epi8(1);
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q5_K *b = (const struct quant_block_q5_K *)(w + r * rb) + i;
            __m128i m16;
            __m512i sc16 = k4_scales16(b->scales, &m16);
            __m256i mins = _mm256_madd_epi16(bsums, _mm256_cvtepu8_epi16(m16));
            /* [qh | qh >> 1]: bit 2c of each byte then serves both halves of chunk c */
            __m256i h = _mm256_loadu_si256((const __m256i *)b->qh);
            __m512i hh = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 1), 1);
            __m512i sumi = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
                __m512i qq = _mm512_and_si512(
                    _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), lo4);
                __m512i hbit = _mm512_and_si512(_mm512_srl_epi16(hh, _mm_cvtsi32_si128(2 * c)), one);
                qq = _mm512_or_si512(qq, _mm512_slli_epi16(hbit, 4));
                __m512i y = _mm512_loadu_si512((const void *)(x[i].qs + 64 * c));
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(qq, y), k4_scale_pair(sc16, c));
            }
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d) * x[i].d);
            __m512 dmin = _mm512_set1_ps(_cvtsh_ss(b->dmin) * x[i].d);
            acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc[r]);
            acc[r] = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

/* ---- Q6_K x Q8_K: 64 values per step; stored values are q + 32 (u8 for maddubs) ---- */

/* int16 lane j = scale[4t + j / 8] */
Z_INLINE __m512i q6_scale_quad(__m512i sc16, int t)
{
    const __m512i base = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1,
                                          1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(base, _mm512_set1_epi16((short)(4 * t))), sc16);
}

Z_INLINE void q6_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                        const struct quant_block_q8_K *x, float *out)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q6_K *b = (const struct quant_block_q6_K *)(w + r * rb) + i;
            __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            __m512i sc16 = _mm512_castsi256_si512(sc);
            __m256i corr = _mm256_madd_epi16(bsums, sc);
            __m512i sumi = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                __m512i qh2 =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                __m512i va = _mm512_or_si512(_mm512_and_si512(ql, lo4),
                                             _mm512_slli_epi16(_mm512_and_si512(qh2, m3), 4));
                __m512i vb = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4),
                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), m3), 4));
                __m512i ya = _mm512_loadu_si512((const void *)(x[i].qs + 128 * h));
                __m512i yb = _mm512_loadu_si512((const void *)(x[i].qs + 128 * h + 64));
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(va, ya),
                                           q6_scale_quad(sc16, 2 * h));
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(vb, yb),
                                           q6_scale_quad(sc16, 2 * h + 1));
            }
            sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d) * x[i].d);
            acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

/* ---- F32, F16, BF16: 64 values a step in four accumulators, then a masked tail ---- */

Z_INLINE __m512 ld_f32(const void *p, __mmask16 k)
{
    return _mm512_maskz_loadu_ps(k, p);
}

Z_INLINE __m512 ld_f16(const void *p, __mmask16 k)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
}

Z_INLINE __m512 ld_bf16(const void *p, __mmask16 k)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* NR rows of n values: two accumulators per row, 32 values a step, masked tail */
#define FLOAT_ROWS(NAME, T, LOAD)                                                            \
    Z_INLINE void NAME##_rows(int nr, size_t n, const unsigned char *w, size_t rb,           \
                              const T *x, float *out)                                        \
    {                                                                                        \
        const __mmask16 all = 0xffff;                                                        \
        __m512 s0[4], s1[4];                                                                 \
        for (int r = 0; r < nr; r++)                                                         \
            s0[r] = s1[r] = _mm512_setzero_ps();                                             \
        size_t i = 0;                                                                        \
        for (; i + 32 <= n; i += 32) {                                                       \
            __m512 x0 = LOAD(x + i, all), x1 = LOAD(x + i + 16, all);                        \
            for (int r = 0; r < nr; r++) {                                                   \
                const T *a = (const T *)(w + r * rb);                                        \
                s0[r] = _mm512_fmadd_ps(LOAD(a + i, all), x0, s0[r]);                        \
                s1[r] = _mm512_fmadd_ps(LOAD(a + i + 16, all), x1, s1[r]);                   \
            }                                                                                \
        }                                                                                    \
        for (; i < n; i += 16) {                                                             \
            __mmask16 k = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);              \
            __m512 x0 = LOAD(x + i, k);                                                      \
            for (int r = 0; r < nr; r++)                                                     \
                s0[r] = _mm512_fmadd_ps(LOAD((const T *)(w + r * rb) + i, k), x0, s0[r]);    \
        }                                                                                    \
        for (int r = 0; r < nr; r++)                                                         \
            out[r] = hsum16(_mm512_add_ps(s0[r], s1[r]));                                    \
    }

FLOAT_ROWS(f32, float, ld_f32)
FLOAT_ROWS(f16, uint16_t, ld_f16)
FLOAT_ROWS(bf16, uint16_t, ld_bf16)

#define QUANT_ENTRY(NAME, XBLOCK, QK)                                                        \
    static float avx512_dot_##NAME(size_t n, const void *w, const void *x)                  \
    {                                                                                        \
        float out;                                                                           \
        NAME##_rows(1, n / (QK), w, 0, x, &out);                                             \
        return out;                                                                          \
    }                                                                                        \
    static void avx512_matvec_##NAME(const void *w, size_t rb, size_t n, size_t r0,          \
                                     size_t r1, const void *x, float *y)                     \
    {                                                                                        \
        const unsigned char *base = w;                                                       \
        const XBLOCK *xb = x;                                                                \
        size_t r = r0;                                                                       \
        for (; r + 4 <= r1; r += 4)                                                          \
            NAME##_rows(4, n / (QK), base + r * rb, rb, xb, y + r);                          \
        for (; r < r1; r++)                                                                  \
            NAME##_rows(1, n / (QK), base + r * rb, rb, xb, y + r);                          \
    }

QUANT_ENTRY(f32, float, 1)
QUANT_ENTRY(f16, uint16_t, 1)
QUANT_ENTRY(bf16, uint16_t, 1)
QUANT_ENTRY(q8_0, struct quant_block_q8_0, QUANT_QK)
QUANT_ENTRY(q4_0, struct quant_block_q8_0, QUANT_QK)
QUANT_ENTRY(q4_K, struct quant_block_q8_K, QUANT_QK_K)
QUANT_ENTRY(q5_K, struct quant_block_q8_K, QUANT_QK_K)
QUANT_ENTRY(q6_K, struct quant_block_q8_K, QUANT_QK_K)

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void quant_avx512_register(struct quant_kernels *k)
{
    k->dot[DTYPE_F32] = avx512_dot_f32;
    k->matvec[DTYPE_F32] = avx512_matvec_f32;
    k->dot[DTYPE_F16] = avx512_dot_f16;
    k->matvec[DTYPE_F16] = avx512_matvec_f16;
    k->dot[DTYPE_BF16] = avx512_dot_bf16;
    k->matvec[DTYPE_BF16] = avx512_matvec_bf16;
    k->dot[DTYPE_Q8_0] = avx512_dot_q8_0;
    k->matvec[DTYPE_Q8_0] = avx512_matvec_q8_0;
    k->dot[DTYPE_Q4_0] = avx512_dot_q4_0;
    k->matvec[DTYPE_Q4_0] = avx512_matvec_q4_0;
    k->dot[DTYPE_Q4_K] = avx512_dot_q4_K;
    k->matvec[DTYPE_Q4_K] = avx512_matvec_q4_K;
    k->dot[DTYPE_Q5_K] = avx512_dot_q5_K;
    k->matvec[DTYPE_Q5_K] = avx512_matvec_q5_K;
    k->dot[DTYPE_Q6_K] = avx512_dot_q6_K;
    k->matvec[DTYPE_Q6_K] = avx512_matvec_q6_K;
}

#else /* not x86 */

void quant_avx512_register(struct quant_kernels *k)
{
    (void)k;
}

#endif
