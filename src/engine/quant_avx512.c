/* quant_avx512.c -- AVX-512 (F, BW, VL, VNNI) dot products and mat-vec kernels.
 *
 * Compiled for that instruction set through a target pragma (the rest of the build stays
 * generic x86-64); quant.c calls quant_avx512_register() only on a CPU that has it.
 *
 * Each kernel is one inline body over a tile of NR weight rows (4, 2 or 1) by NT activation
 * rows (tokens: 4, 2 or 1).  Work that depends only on a weight row (unpacking its blocks)
 * is done once per tile row, work that depends only on a token once per tile column, and
 * every (row, token) pair goes through exactly the same operations whatever the tile shape,
 * so quant_vec_dot(), quant_matvec() and quant_matmul() agree bit for bit.  One-token Q4_0 and
 * Q8_0 products (decode) take a path of their own: the activation steps are prepared once per
 * call and tiles of VEC_ROWS rows share them, again with every row's operations unchanged.
 * All mat-vec loops prefetch the weights one tile of rows ahead. */
#include "config.h"
#include "engine/quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#if defined(__clang__)
#pragma clang attribute push(                                                                 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl,avx512vnni"))),           \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl,avx512vnni")
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

/* Two 32-value blocks per 512-bit step.  The f16 scales of blocks i and i + 1 of a row
 * come from one load (the second sits a fixed number of halves after the first); a word
 * permute spreads them to the lanes that hold each block's integer sums. */
Z_INLINE __m512 dpair64(const void *blk, __m512i idx) /* reads 64 bytes */
{
    __m512i raw = _mm512_loadu_si512(blk);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, raw)));
}

Z_INLINE __m512 dpair32(const void *blk, __m256i idx) /* reads 32 bytes */
{
    __m256i raw = _mm256_loadu_si256((const __m256i *)blk);
    return _mm512_cvtph_ps(_mm256_permutexvar_epi16(idx, raw));
}

Z_INLINE __m512 join_ps(__m256 lo, __m256 hi)
{
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

Z_INLINE __m512i join_si(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* fixed short loops over small register arrays: unrolled so the arrays stay in registers */
#define UNROLL4 _Pragma("GCC unroll 4")
#define UNROLL8 _Pragma("GCC unroll 8")

/* Prefetch the LEN bytes a step reads from a weight row, DIST bytes further on: one tile of
 * rows on (a tile's rows are contiguous, so this streams the matrix ahead of the loads).
 * Hardware prefetchers stop at page boundaries, which with mmapped 4 KiB pages come every
 * few rows; measured on a 600 MB Q4_0 matrix this doubles the mat-vec rate. */
#ifndef QUANT_PF_TILES /* tuning knobs for experiments */
#define QUANT_PF_TILES 1
#endif
#ifndef QUANT_PF_HINT
#define QUANT_PF_HINT _MM_HINT_T0
#endif
Z_INLINE void prefetch_ahead(const void *p, size_t dist, size_t len)
{
    const char *a = (const char *)p + QUANT_PF_TILES * dist;
    for (size_t o = 0; o < len; o += 64)
        _mm_prefetch(a + o, QUANT_PF_HINT);
    _mm_prefetch(a + len - 1, QUANT_PF_HINT);
}

#define TILE_ARGS                                                                            \
    int nr, int nt, size_t nb, const unsigned char *w, size_t rb, const unsigned char *x,    \
        size_t xs, float *out, size_t ys

#define ACC_ZERO(acc)                                                                        \
    UNROLL4 for (int r_ = 0; r_ < nr; r_++)                                                  \
        UNROLL4 for (int t_ = 0; t_ < nt; t_++)                                              \
            acc[r_][t_] = _mm512_setzero_ps();

#define ACC_STORE(acc)                                                                       \
    UNROLL4 for (int r_ = 0; r_ < nr; r_++)                                                  \
        UNROLL4 for (int t_ = 0; t_ < nt; t_++)                                              \
            out[t_ * ys + r_] = hsum16(acc[r_][t_]);

/* ---- Q8_0 x Q8_0: |w| (u8) . y * sign(w) (s8) with VNNI ---- */

Z_INLINE void q8_0_tile(TILE_ARGS)
{
    /* 34-byte blocks: the next d is 17 halves on; lanes 0-7 block i, 8-15 block i + 1 */
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17,
                                         17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc[4][4];
    ACC_ZERO(acc)
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qy[4];
        __m512 dy[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)(x + t * xs) + i;
            qy[t] = join_si(_mm256_loadu_si256((const __m256i *)a[0].qs),
                            _mm256_loadu_si256((const __m256i *)a[1].qs));
            dy[t] = join_ps(_mm256_set1_ps(_cvtsh_ss(a[0].d)), _mm256_set1_ps(_cvtsh_ss(a[1].d)));
        }
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b = (const struct quant_block_q8_0 *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, 2 * sizeof *b);
            __m512i qw = join_si(_mm256_loadu_si256((const __m256i *)b[0].qs),
                                 _mm256_loadu_si256((const __m256i *)b[1].qs));
            __mmask64 neg = _mm512_movepi8_mask(qw);
            __m512i aw = _mm512_abs_epi8(qw);
            __m512 dw = dpair64(b, idx);
            for (int t = 0; t < nt; t++) {
                __m512i sy = _mm512_mask_sub_epi8(qy[t], neg, _mm512_setzero_si512(), qy[t]);
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sy);
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy[t]), _mm512_cvtepi32_ps(p),
                                            acc[r][t]);
            }
        }
    }
    if (i < nb) { /* odd block count: the last block in 256 bits */
        __m256i qy[4];
        float dy[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)(x + t * xs) + i;
            qy[t] = _mm256_loadu_si256((const __m256i *)a->qs);
            dy[t] = _cvtsh_ss(a->d);
        }
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b = (const struct quant_block_q8_0 *)(w + r * rb) + i;
            __m256i qw = _mm256_loadu_si256((const __m256i *)b->qs);
            __m256i aw = _mm256_abs_epi8(qw);
            float dw = _cvtsh_ss(b->d);
            for (int t = 0; t < nt; t++) {
                __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw,
                                                _mm256_sign_epi8(qy[t], qw));
                __m256 v = _mm256_mul_ps(_mm256_set1_ps(dw * dy[t]), _mm256_cvtepi32_ps(p));
                acc[r][t] = _mm512_add_ps(acc[r][t], _mm512_zextps256_ps512(v));
            }
        }
    }
    ACC_STORE(acc)
}

/* ---- Q4_0 x Q8_0: q (u8, 0..15) . y with VNNI, started from -8 * sum(y) per token ----
 * Two blocks per step; the nibbles come out as [lo0 lo1 hi0 hi1] (16 bytes each), so the
 * activations are reordered the same way, once per token. */

Z_INLINE void q4_0_tile(TILE_ARGS)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i eight = _mm512_set1_epi8(8);
    /* 18-byte blocks: the next d is 9 halves on; int32 lanes in runs of 4 alternate blocks */
    const __m256i idx = _mm256_set_epi16(9, 9, 9, 9, 0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0);
    /* four blocks: d at halves 0, 9, 18, 27 of a 64-byte load; int32 lanes 4b..4b+3 hold
     * block b's sums */
    const __m512i idx4 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    const __m512i quad = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[4][4];
    ACC_ZERO(acc)
    size_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i ylo[4], yhi[4], neg[4];
        __m512 dy[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)(x + t * xs) + i;
            __m512i a01 = join_si(_mm256_loadu_si256((const __m256i *)a[0].qs),
                                  _mm256_loadu_si256((const __m256i *)a[1].qs));
            __m512i a23 = join_si(_mm256_loadu_si256((const __m256i *)a[2].qs),
                                  _mm256_loadu_si256((const __m256i *)a[3].qs));
            ylo[t] = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(2, 0, 2, 0)); /* first halves */
            yhi[t] = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(3, 1, 3, 1)); /* second halves */
            __m512i s8 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, ylo[t]);
            s8 = _mm512_dpbusd_epi32(s8, eight, yhi[t]);
            neg[t] = _mm512_sub_epi32(_mm512_setzero_si512(), s8);
            __m128 d4 = _mm_cvtph_ps(_mm_setr_epi16((short)a[0].d, (short)a[1].d, (short)a[2].d,
                                                    (short)a[3].d, 0, 0, 0, 0));
            dy[t] = _mm512_permutexvar_ps(quad, _mm512_castps128_ps512(d4));
        }
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, 4 * sizeof *b);
            __m256i q01 = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                _mm_loadu_si128((const __m128i *)b[1].qs), 1);
            __m256i q23 = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[2].qs)),
                _mm_loadu_si128((const __m128i *)b[3].qs), 1);
            __m512i v = join_si(q01, q23);
            __m512i lo = _mm512_and_si512(v, lo4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
            __m512 dw = dpair64(b, idx4);
            for (int t = 0; t < nt; t++) {
                __m512i p = _mm512_dpbusd_epi32(neg[t], lo, ylo[t]);
                p = _mm512_dpbusd_epi32(p, hi, yhi[t]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy[t]), _mm512_cvtepi32_ps(p),
                                            acc[r][t]);
            }
        }
    }
    for (; i + 2 <= nb; i += 2) {
        __m512i y[4], neg[4];
        __m512 dy[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)(x + t * xs) + i;
            __m512i v = join_si(_mm256_loadu_si256((const __m256i *)a[0].qs),
                                _mm256_loadu_si256((const __m256i *)a[1].qs));
            y[t] = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0)); /* y0lo y1lo y0hi y1hi */
            neg[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                      _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, y[t]));
            __m256 d01 = _mm256_blend_ps(_mm256_set1_ps(_cvtsh_ss(a[0].d)),
                                         _mm256_set1_ps(_cvtsh_ss(a[1].d)), 0xf0);
            dy[t] = join_ps(d01, d01);
        }
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            __m256i q = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                _mm_loadu_si128((const __m128i *)b[1].qs), 1);
            __m512i qq = _mm512_and_si512(join_si(q, _mm256_srli_epi16(q, 4)), lo4);
            __m512 dw = dpair32(b, idx);
            for (int t = 0; t < nt; t++) {
                __m512i p = _mm512_dpbusd_epi32(neg[t], qq, y[t]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy[t]), _mm512_cvtepi32_ps(p),
                                            acc[r][t]);
            }
        }
    }
    if (i < nb) { /* odd block count: the last block in 256 bits */
        __m256i qy[4], neg[4];
        float dy[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)(x + t * xs) + i;
            qy[t] = _mm256_loadu_si256((const __m256i *)a->qs);
            neg[t] = _mm256_sub_epi32(
                _mm256_setzero_si256(),
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), qy[t]));
            dy[t] = _cvtsh_ss(a->d);
        }
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b = (const struct quant_block_q4_0 *)(w + r * rb) + i;
            __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
            __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q),
                                          _mm256_set1_epi8(15));
            float dw = _cvtsh_ss(b->d);
            for (int t = 0; t < nt; t++) {
                __m256i p = _mm256_dpbusd_epi32(neg[t], qq, qy[t]);
                __m256 v = _mm256_mul_ps(_mm256_set1_ps(dw * dy[t]), _mm256_cvtepi32_ps(p));
                acc[r][t] = _mm512_add_ps(acc[r][t], _mm512_zextps256_ps512(v));
            }
        }
    }
    ACC_STORE(acc)
}

/* ---- Q4_K / Q5_K x Q8_K: 64 values per 512-bit step (sub-blocks 2c and 2c + 1) ---- */

/* The 8 scales as int16 in the low 128 bits; the mins as int16 pairs m0 m0 m1 m1 ... */
Z_INLINE __m512i k4_scales16(const uint8_t *s12, __m256i *mins16)
{
    uint64_t sc, m;
    quant_k4_unpack(s12, &sc, &m);
    __m128i m8 = _mm_cvtsi64_si128((long long)m);
    *mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    return _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
}

/* int16 lanes 0..15 = scale[2c], 16..31 = scale[2c + 1] */
Z_INLINE __m512i k4_scale_pair(__m512i sc16, int c)
{
    __m512i idx = join_si(_mm256_set1_epi16((short)(2 * c)), _mm256_set1_epi16((short)(2 * c + 1)));
    return _mm512_permutexvar_epi16(idx, sc16);
}

/* Q4_K when HIGH is 0, Q5_K when it is 1 (the two share their layout but for qh). */
Z_INLINE void k45_tile(int high, TILE_ARGS)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i one = _mm512_set1_epi8(1);
    const size_t bs = high ? sizeof(struct quant_block_q5_K) : sizeof(struct quant_block_q4_K);
    __m512 acc[4][4];
    ACC_ZERO(acc)
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_K *a = (const struct quant_block_q8_K *)(x + t * xs) + i;
            bsums[t] = _mm256_loadu_si256((const __m256i *)a->bsums);
        }
        UNROLL4
        for (int r = 0; r < nr; r++) {
            const unsigned char *blk = w + r * rb + i * bs;
            prefetch_ahead(blk, nr * rb, bs);
            uint16_t d16, dmin16;
            memcpy(&d16, blk, 2);
            memcpy(&dmin16, blk + 2, 2);
            const uint8_t *qs = high ? ((const struct quant_block_q5_K *)blk)->qs
                                     : ((const struct quant_block_q4_K *)blk)->qs;
            __m256i m16;
            __m512i sc16 = k4_scales16(blk + 4, &m16);
            __m512i hh = _mm512_setzero_si512();
            if (high) { /* [qh | qh >> 1]: bit 2c of each byte serves both halves of chunk c */
                const uint8_t *qh = ((const struct quant_block_q5_K *)blk)->qh;
                __m256i h = _mm256_loadu_si256((const __m256i *)qh);
                hh = join_si(h, _mm256_srli_epi16(h, 1));
            }
            __m512i qq[4], sp[4];
            UNROLL4
            for (int c = 0; c < 4; c++) {
                /* [q | q >> 4] from a broadcast load (no shuffle-port work) */
                __m512i q =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * c)));
                qq[c] = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xffff0000u, q, 4), lo4);
                if (high) {
                    __m512i hb = _mm512_srl_epi16(hh, _mm_cvtsi32_si128(2 * c));
                    hb = _mm512_and_si512(hb, one);
                    qq[c] = _mm512_or_si512(qq[c], _mm512_slli_epi16(hb, 4));
                }
                sp[c] = k4_scale_pair(sc16, c);
            }
            float dw = _cvtsh_ss(d16), dmw = _cvtsh_ss(dmin16);
            UNROLL4
            for (int t = 0; t < nt; t++) {
                const struct quant_block_q8_K *a =
                    (const struct quant_block_q8_K *)(x + t * xs) + i;
                __m512i sumi = _mm512_setzero_si512();
                UNROLL4
                for (int c = 0; c < 4; c++) {
                    __m512i y = _mm512_loadu_si512((const void *)(a->qs + 64 * c));
                    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(qq[c], y), sp[c]);
                }
                __m256i mins = _mm256_madd_epi16(bsums[t], m16);
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * a->d), _mm512_cvtepi32_ps(sumi),
                                            acc[r][t]);
                acc[r][t] = _mm512_fnmadd_ps(_mm512_set1_ps(dmw * a->d),
                                             _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)),
                                             acc[r][t]);
            }
        }
    }
    ACC_STORE(acc)
}

Z_INLINE void q4_K_tile(TILE_ARGS)
{
    k45_tile(0, nr, nt, nb, w, rb, x, xs, out, ys);
}

Z_INLINE void q5_K_tile(TILE_ARGS)
{
    k45_tile(1, nr, nt, nb, w, rb, x, xs, out, ys);
}

/* ---- Q6_K x Q8_K: 64 values per step; stored values are q + 32 (u8 for maddubs) ---- */

/* int16 lane j = scale[4q + j / 8] */
Z_INLINE __m512i q6_scale_quad(__m512i sc16, int q)
{
    const __m512i base = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                          1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512i idx = _mm512_add_epi16(base, _mm512_set1_epi16((short)(4 * q)));
    return _mm512_permutexvar_epi16(idx, sc16);
}

Z_INLINE void q6_K_tile(TILE_ARGS)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512 acc[4][4];
    ACC_ZERO(acc)
    for (size_t i = 0; i < nb; i++) {
        __m256i bsums[4];
        for (int t = 0; t < nt; t++) {
            const struct quant_block_q8_K *a = (const struct quant_block_q8_K *)(x + t * xs) + i;
            bsums[t] = _mm256_loadu_si256((const __m256i *)a->bsums);
        }
        UNROLL4
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q6_K *b = (const struct quant_block_q6_K *)(w + r * rb) + i;
            prefetch_ahead(b, nr * rb, sizeof *b);
            __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            __m512i sc16 = _mm512_castsi256_si512(sc);
            __m512i v[4], sq[4]; /* values 0-63, 64-127, 128-191, 192-255 and their scales */
            UNROLL4
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
                __m512i qh =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
                __m512i qh2 = _mm512_mask_srli_epi16(qh, 0xffff0000u, qh, 2);
                v[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, lo4),
                                           _mm512_slli_epi16(_mm512_and_si512(qh2, m3), 4));
                v[2 * h + 1] = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4),
                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), m3), 4));
                sq[2 * h] = q6_scale_quad(sc16, 2 * h);
                sq[2 * h + 1] = q6_scale_quad(sc16, 2 * h + 1);
            }
            float dw = _cvtsh_ss(b->d);
            UNROLL4
            for (int t = 0; t < nt; t++) {
                const struct quant_block_q8_K *a =
                    (const struct quant_block_q8_K *)(x + t * xs) + i;
                __m512i sumi = _mm512_setzero_si512();
                UNROLL4
                for (int k = 0; k < 4; k++) {
                    __m512i y = _mm512_loadu_si512((const void *)(a->qs + 64 * k));
                    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(v[k], y), sq[k]);
                }
                /* q + 32 was multiplied: subtract 32 * sum_g scale_g * bsums_g */
                __m256i corr = _mm256_madd_epi16(bsums[t], sc);
                sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * a->d), _mm512_cvtepi32_ps(sumi),
                                            acc[r][t]);
            }
        }
    }
    ACC_STORE(acc)
}

/* ---- F32, F16, BF16: 32 values a step in two accumulators, then a masked tail ---- */

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

/* nb is the number of values here; at most 2 tokens per tile (registers) */
#define FLOAT_TILE(NAME, T, LOAD)                                                            \
    Z_INLINE void NAME##_tile(TILE_ARGS)                                                     \
    {                                                                                        \
        const __mmask16 all = 0xffff;                                                        \
        const size_t n = nb;                                                                 \
        __m512 s0[4][2], s1[4][2];                                                           \
        for (int r = 0; r < nr; r++)                                                         \
            for (int t = 0; t < nt; t++)                                                     \
                s0[r][t] = s1[r][t] = _mm512_setzero_ps();                                   \
        size_t i = 0;                                                                        \
        for (; i + 32 <= n; i += 32) {                                                       \
            __m512 x0[2], x1[2];                                                             \
            for (int t = 0; t < nt; t++) {                                                   \
                const T *xt = (const T *)(x + t * xs);                                       \
                x0[t] = LOAD(xt + i, all);                                                   \
                x1[t] = LOAD(xt + i + 16, all);                                              \
            }                                                                                \
            for (int r = 0; r < nr; r++) {                                                   \
                const T *a = (const T *)(w + r * rb);                                        \
                prefetch_ahead(a + i, nr * rb, 32 * sizeof(T));                              \
                __m512 w0 = LOAD(a + i, all), w1 = LOAD(a + i + 16, all);                    \
                for (int t = 0; t < nt; t++) {                                               \
                    s0[r][t] = _mm512_fmadd_ps(w0, x0[t], s0[r][t]);                         \
                    s1[r][t] = _mm512_fmadd_ps(w1, x1[t], s1[r][t]);                         \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        for (; i < n; i += 16) {                                                             \
            __mmask16 k = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);              \
            for (int r = 0; r < nr; r++) {                                                   \
                __m512 w0 = LOAD((const T *)(w + r * rb) + i, k);                            \
                for (int t = 0; t < nt; t++)                                                 \
                    s0[r][t] = _mm512_fmadd_ps(w0, LOAD((const T *)(x + t * xs) + i, k),     \
                                               s0[r][t]);                                    \
            }                                                                                \
        }                                                                                    \
        for (int r = 0; r < nr; r++)                                                         \
            for (int t = 0; t < nt; t++)                                                     \
                out[t * ys + r] = hsum16(_mm512_add_ps(s0[r][t], s1[r][t]));                 \
    }

FLOAT_TILE(f32, float, ld_f32)
FLOAT_TILE(f16, uint16_t, ld_f16)
FLOAT_TILE(bf16, uint16_t, ld_bf16)

/* ---- Entry points: a single dot, and tiles over rows x tokens ---- */

/* Rows per tile of a mat-vec (one token).  A tile reads its rows side by side, and the
 * prefetch (see prefetch_ahead) reads the next tile's: 2 x VEC_ROWS streams of memory per
 * thread.  Generation is bound by memory bandwidth, and the memory system serves fewer
 * streams faster: measured on the 852M Q4_0 / Q8_0 / Q4_K_M models with 2 threads, 2-row
 * tiles generate 53.6 / 31.2 / 46.5 tokens/s where 8-row (Q4_0, Q8_0) and 4-row (K-quants)
 * tiles gave 48.2 / 28.6 / 43.9, and 1-row tiles 48.5 for Q4_0 (a plain read of one 460 MB
 * buffer by 2 threads: 29 GB/s in one stream per thread, 28 in 4, 23 in 8, 19 in 16).
 * Batches keep 4-row tiles, which share each activation load among more rows. */
#define VEC_ROWS 2

/* Token tile width for each kernel (accumulators must fit in the 32 registers). */
#define TMAX_q8_0 4
#define TMAX_q4_0 4
#define TMAX_q4_K 4
#define TMAX_q5_K 4
#define TMAX_q6_K 4
#define TMAX_f32 2
#define TMAX_f16 2
#define TMAX_bf16 2

#define QUANT_ENTRY(NAME, QK)                                                                \
    static float avx512_dot_##NAME(size_t n, const void *w, const void *x)                  \
    {                                                                                        \
        float out;                                                                           \
        NAME##_tile(1, 1, n / (QK), w, 0, x, 0, &out, 0);                                    \
        return out;                                                                          \
    }                                                                                        \
    static void avx512_matmul_##NAME(const void *w, size_t rb, size_t n, size_t r0,          \
                                     size_t r1, const void *x, size_t xs, size_t nt,         \
                                     float *y, size_t ys)                                    \
    {                                                                                        \
        const unsigned char *wb = w, *xb = x;                                                \
        for (size_t t = 0; t < nt;) {                                                        \
            size_t tn = nt - t >= TMAX_##NAME ? TMAX_##NAME : nt - t >= 2 ? 2 : 1;           \
            const unsigned char *xt = xb + t * xs;                                           \
            float *yt = y + t * ys;                                                          \
            size_t r = r0;                                                                   \
            if (tn == 1)                                                                     \
                for (; r + VEC_ROWS <= r1; r += VEC_ROWS)                                    \
                    NAME##_tile(VEC_ROWS, 1, n / (QK), wb + r * rb, rb, xt, xs, yt + r, ys); \
            for (; r + 4 <= r1; r += 4) {                                                    \
                if (tn == 4)                                                                 \
                    NAME##_tile(4, TMAX_##NAME == 4 ? 4 : 2, n / (QK), wb + r * rb, rb, xt,  \
                                xs, yt + r, ys);                                             \
                else if (tn == 2)                                                            \
                    NAME##_tile(4, 2, n / (QK), wb + r * rb, rb, xt, xs, yt + r, ys);        \
                else                                                                         \
                    NAME##_tile(4, 1, n / (QK), wb + r * rb, rb, xt, xs, yt + r, ys);        \
            }                                                                                \
            for (; r < r1; r++) {                                                            \
                if (tn == 4)                                                                 \
                    NAME##_tile(1, TMAX_##NAME == 4 ? 4 : 2, n / (QK), wb + r * rb, rb, xt,  \
                                xs, yt + r, ys);                                             \
                else if (tn == 2)                                                            \
                    NAME##_tile(1, 2, n / (QK), wb + r * rb, rb, xt, xs, yt + r, ys);        \
                else                                                                         \
                    NAME##_tile(1, 1, n / (QK), wb + r * rb, rb, xt, xs, yt + r, ys);        \
            }                                                                                \
            t += tn;                                                                         \
        }                                                                                    \
    }

QUANT_ENTRY(f32, 1)
QUANT_ENTRY(f16, 1)
QUANT_ENTRY(bf16, 1)
QUANT_ENTRY(q8_0, QUANT_QK)
QUANT_ENTRY(q4_0, QUANT_QK)

/* ---- Q8_0 mat-vec (one token): activations prepared once per call ----
 * q8_0_tile() multiplies |w| (u8) by y with w's sign moved over.  Here w + 128 (w xor 0x80,
 * u8) multiplies y, and each int32 lane starts from -128 times the sum of its four y bytes:
 * the same exact integer lane sums with three fewer operations per row, the float work
 * unchanged, so the results are bit-identical to q8_0_tile()'s. */

struct q8_0_act2 { /* one 2-block step of the activation row */
    __m512i qy, c;
    __m512 dy;
};

#define Q8_0_VEC_MAX_STEPS 128 /* n <= 8192: a 24 KiB table on the stack */

Z_INLINE void q8_0_vec_tile(int nr, size_t ns, const unsigned char *w, size_t rb,
                            const struct q8_0_act2 *ya, float *out)
{
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17,
                                         17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512 acc[VEC_ROWS];
    UNROLL8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t s = 0; s < ns; s++) {
        const __m512i qy = ya[s].qy, c = ya[s].c;
        const __m512 dy = ya[s].dy;
        UNROLL8
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q8_0 *b =
                (const struct quant_block_q8_0 *)(w + r * rb) + 2 * s;
            prefetch_ahead(b, nr * rb, 2 * sizeof *b);
            __m512i qw = join_si(_mm256_loadu_si256((const __m256i *)b[0].qs),
                                 _mm256_loadu_si256((const __m256i *)b[1].qs));
            __m512i p = _mm512_dpbusd_epi32(c, _mm512_xor_si512(qw, bias), qy);
            __m512 dw = dpair64(b, idx);
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

static void avx512_matmul_q8_0_vec(const void *w, size_t rb, size_t n, size_t r0, size_t r1,
                                   const void *x, size_t xs, size_t nt, float *y, size_t ys)
{
    size_t nb = n / QUANT_QK;
    if (nt != 1 || nb % 2 != 0 || nb / 2 > Q8_0_VEC_MAX_STEPS) {
        avx512_matmul_q8_0(w, rb, n, r0, r1, x, xs, nt, y, ys);
        return;
    }
    const __m512i m128 = _mm512_set1_epi8((char)0x80); /* as u8: 128 */
    struct q8_0_act2 ya[Q8_0_VEC_MAX_STEPS];
    size_t ns = nb / 2;
    for (size_t s = 0; s < ns; s++) { /* as q8_0_tile()'s per-token step */
        const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)x + 2 * s;
        ya[s].qy = join_si(_mm256_loadu_si256((const __m256i *)a[0].qs),
                           _mm256_loadu_si256((const __m256i *)a[1].qs));
        ya[s].dy = join_ps(_mm256_set1_ps(_cvtsh_ss(a[0].d)), _mm256_set1_ps(_cvtsh_ss(a[1].d)));
        ya[s].c = _mm512_sub_epi32(_mm512_setzero_si512(),
                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), m128, ya[s].qy));
    }
    const unsigned char *wb = w;
    size_t r = r0;
    for (; r + VEC_ROWS <= r1; r += VEC_ROWS)
        q8_0_vec_tile(VEC_ROWS, ns, wb + r * rb, rb, ya, y + r);
    for (; r < r1; r++)
        q8_0_vec_tile(1, ns, wb + r * rb, rb, ya, y + r);
}

/* ---- Q4_0 mat-vec (one token): activations prepared once per call ----
 * q4_0_tile() with NT = 1 repeats the activation work of a 4-block step (reordering the
 * halves, -8 * sum(y), converting the scales) for every tile of 4 rows.  Here it is done once
 * per call into a table, and tiles of VEC_ROWS rows share each step's loads from it.  Every
 * row goes through the same operations as in q4_0_tile() (the same step values, the same
 * order), so the results are bit-identical to the matmul and dot entry points. */

struct q4_0_act4 { /* one 4-block step of the activation row */
    __m512i ylo, yhi, neg;
    __m512 dy;
};

#define Q4_0_VEC_MAX_STEPS 128 /* n <= 16384: a 32 KiB table on the stack */

Z_INLINE void q4_0_vec_tile(int nr, size_t ns, const unsigned char *w, size_t rb,
                            const struct q4_0_act4 *ya, float *out)
{
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i idx4 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    __m512 acc[VEC_ROWS];
    UNROLL8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t s = 0; s < ns; s++) {
        const __m512i ylo = ya[s].ylo, yhi = ya[s].yhi, neg = ya[s].neg;
        const __m512 dy = ya[s].dy;
        UNROLL8
        for (int r = 0; r < nr; r++) {
            const struct quant_block_q4_0 *b =
                (const struct quant_block_q4_0 *)(w + r * rb) + 4 * s;
            prefetch_ahead(b, nr * rb, 4 * sizeof *b);
            __m256i q01 = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                _mm_loadu_si128((const __m128i *)b[1].qs), 1);
            __m256i q23 = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[2].qs)),
                _mm_loadu_si128((const __m128i *)b[3].qs), 1);
            __m512i v = join_si(q01, q23);
            __m512i lo = _mm512_and_si512(v, lo4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
            __m512 dw = dpair64(b, idx4);
            __m512i p = _mm512_dpbusd_epi32(neg, lo, ylo);
            p = _mm512_dpbusd_epi32(p, hi, yhi);
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        out[r] = hsum16(acc[r]);
}

static void avx512_matmul_q4_0_vec(const void *w, size_t rb, size_t n, size_t r0, size_t r1,
                                   const void *x, size_t xs, size_t nt, float *y, size_t ys)
{
    size_t nb = n / QUANT_QK;
    if (nt != 1 || nb % 4 != 0 || nb / 4 > Q4_0_VEC_MAX_STEPS) {
        avx512_matmul_q4_0(w, rb, n, r0, r1, x, xs, nt, y, ys);
        return;
    }
    const __m512i eight = _mm512_set1_epi8(8);
    const __m512i quad = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    struct q4_0_act4 ya[Q4_0_VEC_MAX_STEPS];
    size_t ns = nb / 4;
    for (size_t s = 0; s < ns; s++) { /* as q4_0_tile()'s per-token step */
        const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)x + 4 * s;
        __m512i a01 = join_si(_mm256_loadu_si256((const __m256i *)a[0].qs),
                              _mm256_loadu_si256((const __m256i *)a[1].qs));
        __m512i a23 = join_si(_mm256_loadu_si256((const __m256i *)a[2].qs),
                              _mm256_loadu_si256((const __m256i *)a[3].qs));
        ya[s].ylo = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));
        ya[s].yhi = _mm512_shuffle_i64x2(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));
        __m512i s8 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, ya[s].ylo);
        s8 = _mm512_dpbusd_epi32(s8, eight, ya[s].yhi);
        ya[s].neg = _mm512_sub_epi32(_mm512_setzero_si512(), s8);
        __m128 d4 = _mm_cvtph_ps(_mm_setr_epi16((short)a[0].d, (short)a[1].d, (short)a[2].d,
                                                (short)a[3].d, 0, 0, 0, 0));
        ya[s].dy = _mm512_permutexvar_ps(quad, _mm512_castps128_ps512(d4));
    }
    const unsigned char *wb = w;
    size_t r = r0;
    for (; r + VEC_ROWS <= r1; r += VEC_ROWS)
        q4_0_vec_tile(VEC_ROWS, ns, wb + r * rb, rb, ya, y + r);
    for (; r < r1; r++)
        q4_0_vec_tile(1, ns, wb + r * rb, rb, ya, y + r);
}
QUANT_ENTRY(q4_K, QUANT_QK_K)
QUANT_ENTRY(q5_K, QUANT_QK_K)
QUANT_ENTRY(q6_K, QUANT_QK_K)


/* ---- Activation quantizers: the same bytes as quant.c's scalar ones ----
 * _mm512_cvtps_epi32 rounds to nearest even (the default MXCSR mode), as nearest_int() does
 * for the |v| <= 127 that occur; max is order-free, and the int32 sums are exact. */

static void avx512_act_q8_0(const float *x, void *dst, size_t n)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    struct quant_block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++, x += 32) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1));
        float amax = _mm512_reduce_max_ps(m);
        b->d = quant_fp32_to_fp16(amax / 127.f);
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        if (!(id <= 3.4028235e38f))
            id = 0.0f; /* as the scalar code: inf must not reach the conversion */
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
        _mm_storeu_si128((__m128i *)b->qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(b->qs + 16), _mm512_cvtsepi32_epi8(q1));
    }
}

static void avx512_act_q8_K(const float *x, void *dst, size_t n)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512i q127 = _mm512_set1_epi32(127);
    struct quant_block_q8_K *b = dst;
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++, x += QUANT_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int k = 0; k < 16; k++)
            m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * k)));
        float amax = _mm512_reduce_max_ps(m);
        if (amax == 0) {
            memset(b, 0, sizeof *b);
            continue;
        }
        int j = 0; /* the first value of that magnitude, with its sign */
        while (!(x[j] == amax || x[j] == -amax))
            j++;
        float iscale = -127.f / x[j];
        if (!(iscale <= 3.4028235e38f && iscale >= -3.4028235e38f)) {
            quant_q8_K_block_scalar(x, b); /* the scalar code's inf arithmetic, bit for bit */
            continue;
        }
        __m512 vs = _mm512_set1_ps(iscale);
        for (int k = 0; k < 16; k++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * k)));
            q = _mm512_min_epi32(q, q127);
            _mm_storeu_si128((__m128i *)(b->qs + 16 * k), _mm512_cvtsepi32_epi8(q));
            b->bsums[k] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        b->d = 1 / iscale;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void quant_avx512_register(struct quant_kernels *k)
{
    k->dot[DTYPE_F32] = avx512_dot_f32;
    k->matmul[DTYPE_F32] = avx512_matmul_f32;
    k->dot[DTYPE_F16] = avx512_dot_f16;
    k->matmul[DTYPE_F16] = avx512_matmul_f16;
    k->dot[DTYPE_BF16] = avx512_dot_bf16;
    k->matmul[DTYPE_BF16] = avx512_matmul_bf16;
    k->dot[DTYPE_Q8_0] = avx512_dot_q8_0;
    k->matmul[DTYPE_Q8_0] = avx512_matmul_q8_0_vec;
    k->dot[DTYPE_Q4_0] = avx512_dot_q4_0;
    k->matmul[DTYPE_Q4_0] = avx512_matmul_q4_0_vec;
    k->dot[DTYPE_Q4_K] = avx512_dot_q4_K;
    k->matmul[DTYPE_Q4_K] = avx512_matmul_q4_K;
    k->dot[DTYPE_Q5_K] = avx512_dot_q5_K;
    k->matmul[DTYPE_Q5_K] = avx512_matmul_q5_K;
    k->dot[DTYPE_Q6_K] = avx512_dot_q6_K;
    k->matmul[DTYPE_Q6_K] = avx512_matmul_q6_K;
    k->act_q8_0 = avx512_act_q8_0;
    k->act_q8_K = avx512_act_q8_K;
}

#else /* not x86 */

void quant_avx512_register(struct quant_kernels *k)
{
    (void)k;
}

#endif
