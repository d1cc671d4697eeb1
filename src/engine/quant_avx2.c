/* quant_avx2.c -- AVX2 + FMA + F16C dot products and mat-vec kernels (chosen at run time).
 *
 * The kernels are compiled for that instruction set through a target pragma, so the rest
 * of the build stays generic x86-64; quant.c calls quant_avx2_register() only after the
 * CPU said it has AVX2, FMA and F16C.  Every kernel exists as a static inline body over
 * NR rows at once (NR = 4 and NR = 1), with the same operations per row in both, so that
 * quant_matvec() and quant_vec_dot() agree bit for bit whatever the row split.  Several
 * tokens (quant_matmul()) are taken one after the other. */
#include "config.h"
#include "engine/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#define AVX2_INLINE static inline __attribute__((always_inline))

/* fixed short loops over small register arrays: unrolled so the arrays stay in registers */
#define UNROLL4 _Pragma("GCC unroll 4")

AVX2_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Prefetch the LEN bytes a step reads from a weight row, DIST bytes further on (one tile of
 * rows on: the rows are contiguous); hardware prefetchers stop at 4 KiB page boundaries. */
AVX2_INLINE void prefetch_ahead(const void *p, size_t dist, size_t len)
{
    const char *a = (const char *)p + dist;
    for (size_t o = 0; o < len; o += 64)
        _mm_prefetch(a + o, _MM_HINT_T0);
    _mm_prefetch(a + len - 1, _MM_HINT_T0);
}

AVX2_INLINE float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 16 pairwise int16 sums of u8 x s8 products, then pairs of those: 8 int32 lanes. */
AVX2_INLINE __m256i dot_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* ---- Q8_0 x Q8_0 ---- */

AVX2_INLINE void q8_0_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                           const struct quant_block_q8_0 *x, float *out)
{
    __m256 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)x[i].qs);
        float dy = f16(x[i].d);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b = (const struct quant_block_q8_0 *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            __m256i qw = _mm256_loadu_si256((const __m256i *)b->qs);
            /* u8 x s8 multiply: |w| times y with w's sign */
            __m256i p = dot_u8s8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qy, qw));
            __m256 d = _mm256_set1_ps(f16(b->d) * dy);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum8(acc[r]);
}

/* ---- Q4_0 x Q8_0 ---- */

AVX2_INLINE void q4_0_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                           const struct quant_block_q8_0 *x, float *out)
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)x[i].qs);
        /* (q - 8) . y = q . y - 8 * sum(y): the second term is shared by all rows */
        __m256i corr = _mm256_maddubs_epi16(eight, qy);
        float dy = f16(x[i].d);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
            __m256i qq = _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(q, 4), q), lo4); /* values 0..15, 16..31 */
            __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(qq, qy), corr);
            __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
            __m256 d = _mm256_set1_ps(f16(b->d) * dy);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum8(acc[r]);
}

/* ---- K quants: unpack the 12-byte scales into 8 scales and 8 mins (bytes) ---- */

AVX2_INLINE void k4_scales(const uint8_t *s12, uint8_t sc[8], uint8_t m[8])
{
    uint64_t s8, m8;
    quant_k4_unpack(s12, &s8, &m8);
    memcpy(sc, &s8, 8);
    memcpy(m, &m8, 8);
}

/* ---- Q4_K x Q8_K ---- */

AVX2_INLINE void q4_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                           const struct quant_block_q8_K *x, float *out)
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    __m256 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_K *b = (const struct quant_block_q4_K *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            uint8_t sc[8], m[8];
            k4_scales(b->scales, sc, m);
            /* mins . (bsums pairs): 8 lanes of m[s] * (bsums[2s] + bsums[2s + 1]) */
            __m128i m8 = _mm_loadl_epi64((const __m128i *)m);
            __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            __m256i mins = _mm256_madd_epi16(bsums, m16);
            __m256i sumi = _mm256_setzero_si256();
            UNROLL4
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
                __m256i y0 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c));
                __m256i y1 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32));
                __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, lo4), y0);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
                __m256i p1 = _mm256_maddubs_epi16(hi, y1);
                p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * c]));
                p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * c + 1]));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            __m256 d = _mm256_set1_ps(f16(b->d) * x[i].d);
            __m256 dmin = _mm256_set1_ps(f16(b->dmin) * x[i].d);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc[r]);
            acc[r] = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(mins), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum8(acc[r]);
}

/* ---- Q5_K x Q8_K ---- */

AVX2_INLINE void q5_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                           const struct quant_block_q8_K *x, float *out)
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q5_K *b = (const struct quant_block_q5_K *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            uint8_t sc[8], m[8];
            k4_scales(b->scales, sc, m);
            __m128i m8 = _mm_loadl_epi64((const __m128i *)m);
            __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            __m256i mins = _mm256_madd_epi16(bsums, m16);
            __m256i hbits = _mm256_loadu_si256((const __m256i *)b->qh);
            __m256i sumi = _mm256_setzero_si256();
            UNROLL4
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
                __m256i y0 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c));
                __m256i y1 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32));
                /* bit 2c (2c + 1) of each qh byte, moved to bit 4 */
                __m256i h0 = _mm256_slli_epi16(
                    _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * c)), one), 4);
                __m256i h1 = _mm256_slli_epi16(
                    _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * c + 1)), one),
                    4);
                __m256i v0 = _mm256_or_si256(_mm256_and_si256(q, lo4), h0);
                __m256i v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), lo4), h1);
                __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(v0, y0),
                                               _mm256_set1_epi16(sc[2 * c]));
                __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(v1, y1),
                                               _mm256_set1_epi16(sc[2 * c + 1]));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            __m256 d = _mm256_set1_ps(f16(b->d) * x[i].d);
            __m256 dmin = _mm256_set1_ps(f16(b->dmin) * x[i].d);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc[r]);
            acc[r] = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(mins), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum8(acc[r]);
}

/* ---- Q6_K x Q8_K ---- */

/* int16 lanes: the low 128 bits all scale s, the high 128 bits all scale s + 1, from the
 * 16 scales sign-extended to int16 (s even). */
AVX2_INLINE __m256i q6_scale_pair(__m256i sc16, int s)
{
    __m256i pair = _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(s / 2));
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(pair, pick);
}

AVX2_INLINE void q6_K_rows(int nr, size_t nb, const unsigned char *w, size_t rb,
                           const struct quant_block_q8_K *x, float *out)
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q6_K *b = (const struct quant_block_q6_K *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            /* values are stored + 32: subtract 32 * sum_g scale_g * bsums_g at the end */
            __m256i corr = _mm256_madd_epi16(bsums, sc16);
            __m256i sumi = _mm256_setzero_si256();
            UNROLL4
            for (int h = 0; h < 2; h++) {
                __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
                __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                __m256i v[4];
                v[0] = _mm256_or_si256(_mm256_and_si256(ql0, lo4),
                                       _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
                v[1] = _mm256_or_si256(
                    _mm256_and_si256(ql1, lo4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
                v[2] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), lo4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
                v[3] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), lo4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
                UNROLL4
                for (int k = 0; k < 4; k++) {
                    __m256i y = _mm256_loadu_si256((const __m256i *)(x[i].qs + 128 * h + 32 * k));
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v[k], y),
                                                  q6_scale_pair(sc16, 8 * h + 2 * k));
                    sumi = _mm256_add_epi32(sumi, p);
                }
            }
            sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
            __m256 d = _mm256_set1_ps(f16(b->d) * x[i].d);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum8(acc[r]);
}

/* ---- F32, F16, BF16 (32 values a step, four accumulators; scalar tail) ---- */

AVX2_INLINE __m256 load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2_INLINE __m256 load_bf16(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2_INLINE __m256 load_f32(const float *p)
{
    return _mm256_loadu_ps(p);
}

/* NR rows of n values: two accumulators per row, 16 values a step, scalar tail */
#define FLOAT_ROWS(NAME, T, LOAD, CONV)                                                      \
    AVX2_INLINE void NAME##_rows(int nr, size_t n, const unsigned char *w, size_t rb,        \
                                 const T *x, float *out)                                     \
    {                                                                                        \
        __m256 s0[4], s1[4];                                                                 \
        for (int r = 0; r < nr; r++)                                                         \
            s0[r] = s1[r] = _mm256_setzero_ps();                                             \
        size_t i = 0;                                                                        \
        for (; i + 16 <= n; i += 16) {                                                       \
            __m256 x0 = LOAD(x + i), x1 = LOAD(x + i + 8);                                   \
            for (int r = 0; r < nr; r++) {                                                   \
                const T *a = (const T *)(w + r * rb);                                        \
                prefetch_ahead(a + i, nr * rb, 16 * sizeof(T));                              \
                s0[r] = _mm256_fmadd_ps(LOAD(a + i), x0, s0[r]);                             \
                s1[r] = _mm256_fmadd_ps(LOAD(a + i + 8), x1, s1[r]);                         \
            }                                                                                \
        }                                                                                    \
        for (int r = 0; r < nr; r++) {                                                       \
            const T *a = (const T *)(w + r * rb);                                            \
            float sum = hsum8(_mm256_add_ps(s0[r], s1[r]));                                  \
            for (size_t j = i; j < n; j++)                                                   \
                sum += CONV(a[j]) * CONV(x[j]);                                              \
            out[r] = sum;                                                                    \
        }                                                                                    \
    }

static float plain(float v)
{
    return v;
}

static float bf16(uint16_t h)
{
    return quant_bf16_to_fp32(h);
}

FLOAT_ROWS(f32, float, load_f32, plain)
FLOAT_ROWS(f16, uint16_t, load_f16, f16)
FLOAT_ROWS(bf16, uint16_t, load_bf16, bf16)

/* ---- Entry points: one row, and rows in fours ---- */

#define QUANT_ENTRY(NAME, XBLOCK, QK)                                                        \
    static float avx2_dot_##NAME(size_t n, const void *w, const void *x)                    \
    {                                                                                        \
        float out;                                                                           \
        NAME##_rows(1, n / (QK), w, 0, x, &out);                                             \
        return out;                                                                          \
    }                                                                                        \
    static void avx2_matmul_##NAME(const void *w, size_t rb, size_t n, size_t r0, size_t r1, \
                                   const void *x, size_t xs, size_t nt, float *y, size_t ys) \
    {                                                                                        \
        const unsigned char *base = w;                                                       \
        for (size_t t = 0; t < nt; t++) {                                                    \
            const XBLOCK *xb = (const XBLOCK *)((const unsigned char *)x + t * xs);          \
            float *yt = y + t * ys;                                                          \
            size_t r = r0;                                                                   \
            for (; r + 4 <= r1; r += 4)                                                      \
                NAME##_rows(4, n / (QK), base + r * rb, rb, xb, yt + r);                     \
            for (; r < r1; r++)                                                              \
                NAME##_rows(1, n / (QK), base + r * rb, rb, xb, yt + r);                     \
        }                                                                                    \
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

void quant_avx2_register(struct quant_kernels *k)
{
    k->dot[DTYPE_F32] = avx2_dot_f32;
    k->matmul[DTYPE_F32] = avx2_matmul_f32;
    k->dot[DTYPE_F16] = avx2_dot_f16;
    k->matmul[DTYPE_F16] = avx2_matmul_f16;
    k->dot[DTYPE_BF16] = avx2_dot_bf16;
    k->matmul[DTYPE_BF16] = avx2_matmul_bf16;
    k->dot[DTYPE_Q8_0] = avx2_dot_q8_0;
    k->matmul[DTYPE_Q8_0] = avx2_matmul_q8_0;
    k->dot[DTYPE_Q4_0] = avx2_dot_q4_0;
    k->matmul[DTYPE_Q4_0] = avx2_matmul_q4_0;
    k->dot[DTYPE_Q4_K] = avx2_dot_q4_K;
    k->matmul[DTYPE_Q4_K] = avx2_matmul_q4_K;
    k->dot[DTYPE_Q5_K] = avx2_dot_q5_K;
    k->matmul[DTYPE_Q5_K] = avx2_matmul_q5_K;
    k->dot[DTYPE_Q6_K] = avx2_dot_q6_K;
    k->matmul[DTYPE_Q6_K] = avx2_matmul_q6_K;
}

#else /* not x86 */

void quant_avx2_register(struct quant_kernels *k)
{
    (void)k;
}

#endif
