/* qgemm.c -- int8 products for prompt batches: panel re-layout, scalar reference, AVX-512
 * VNNI kernel.  See qgemm.h for the arithmetic and the layouts. */
#include "config.h"
#include "engine/qgemm.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BLK QUANT_QK       /* values per block */
#define PANEL 16           /* rows per panel: one 512-bit register of int32 sums */
#define QUADS (BLK / 4)    /* 4-value groups per block */
#define PBLK_VALUES (PANEL * BLK)             /* 512 bytes of values per panel block */
/* + 16 scales, 16 corrections, then 16 min terms (Q4_K) or the second half's 16 scales
 * and 16 corrections (Q6_K) */
#define PBLK_BYTES (PBLK_VALUES + 4 * 4 * PANEL)
#define PBLK_SCALE PBLK_VALUES
#define PBLK_CORR (PBLK_VALUES + 4 * PANEL)
#define PBLK_MIN (PBLK_VALUES + 8 * PANEL)
#define PBLK_SCALE2 PBLK_MIN
#define PBLK_CORR2 (PBLK_VALUES + 12 * PANEL)

bool qgemm_supported(enum dtype wt)
{
    return wt == DTYPE_Q8_0 || wt == DTYPE_Q4_0 || wt == DTYPE_Q4_K || wt == DTYPE_Q5_K ||
           wt == DTYPE_Q6_K;
}

size_t qgemm_act_bytes(size_t n_in)
{
    size_t nb = n_in / BLK;
    return (nb * (4 + 4 + BLK) + 63) / 64 * 64;
}

size_t qgemm_scratch_bytes(size_t n_in)
{
    return (QGEMM_ROWS / PANEL) * (n_in / BLK) * PBLK_BYTES;
}

/* Layout of a prepared token, per 32-value block b: the scale d[b], the scaled sum
 * d[b] * sum(q) (the min terms of K-quant weights multiply it), and q + 128 as bytes. */
void qgemm_prepare_act(enum dtype wt, const void *x_act, size_t n_in, void *dst)
{
    size_t nb = n_in / BLK;
    float *d = dst, *ds = d + nb;
    uint8_t *q = (uint8_t *)(ds + nb);
    for (size_t b = 0; b < nb; b++) {
        const int8_t *qs;
        if (quant_act_type(wt) == DTYPE_Q8_K) {
            const struct quant_block_q8_K *a =
                (const struct quant_block_q8_K *)x_act + b / (QUANT_QK_K / BLK);
            size_t j = b % (QUANT_QK_K / BLK);
            d[b] = a->d;
            qs = a->qs + j * BLK;
        } else {
            const struct quant_block_q8_0 *a = (const struct quant_block_q8_0 *)x_act + b;
            d[b] = quant_fp16_to_fp32(a->d);
            qs = a->qs;
        }
        int32_t sum = 0;
        for (int k = 0; k < BLK; k++) {
            sum += qs[k];
            q[b * BLK + (size_t)k] = (uint8_t)(qs[k] ^ 0x80); /* q + 128 */
        }
        ds[b] = d[b] * (float)sum;
    }
    size_t used = nb * (4 + 4 + BLK), total = qgemm_act_bytes(n_in);
    memset((uint8_t *)dst + used, 0, total - used);
}

/* Q4_K and Q5_K super-blocks begin alike (d, dmin, the packed 6-bit scales and mins); they
 * differ in size and where the nibbles start. */
_Static_assert(offsetof(struct quant_block_q4_K, d) == offsetof(struct quant_block_q5_K, d) &&
                   offsetof(struct quant_block_q4_K, dmin) ==
                       offsetof(struct quant_block_q5_K, dmin) &&
                   offsetof(struct quant_block_q4_K, scales) ==
                       offsetof(struct quant_block_q5_K, scales),
               "Q4_K and Q5_K headers");

static size_t k45_bytes(enum dtype wt)
{
    return wt == DTYPE_Q5_K ? sizeof(struct quant_block_q5_K) : sizeof(struct quant_block_q4_K);
}

static size_t k45_qs_offset(enum dtype wt)
{
    return wt == DTYPE_Q5_K ? offsetof(struct quant_block_q5_K, qs)
                            : offsetof(struct quant_block_q4_K, qs);
}

/* Sub-block j of the super-block at sb: d * scale, and the min term -dmin * min. */
static void k45_scale_min(const unsigned char *sb, size_t j, float *scale, float *min)
{
    uint16_t d, dmin;
    memcpy(&d, sb + offsetof(struct quant_block_q4_K, d), sizeof d);
    memcpy(&dmin, sb + offsetof(struct quant_block_q4_K, dmin), sizeof dmin);
    uint8_t sc, m;
    quant_k4_scale_min((int)j, sb + offsetof(struct quant_block_q4_K, scales), &sc, &m);
    *scale = quant_fp16_to_fp32(d) * (float)sc;
    *min = -(quant_fp16_to_fp32(dmin) * (float)m);
}

/* Q6_K: the signed values of 32-value block b (one quarter of a 128-value half of the
 * super-block) and the scales of its two 16-value halves. */
static void q6_K_block(const unsigned char *row, size_t b, int8_t *q, float *sc)
{
    size_t j = b % (QUANT_QK_K / BLK), n = j / 4, qq = j % 4;
    const struct quant_block_q6_K *blk =
        (const struct quant_block_q6_K *)row + b / (QUANT_QK_K / BLK);
    const uint8_t *ql = blk->ql + 64 * n + 32 * (qq % 2), *qh = blk->qh + 32 * n;
    for (int l = 0; l < BLK; l++) {
        int lo = (ql[l] >> (4 * (qq / 2))) & 15, hi = (qh[l] >> (2 * qq)) & 3;
        q[l] = (int8_t)((lo | hi << 4) - 32);
    }
    float d = quant_fp16_to_fp32(blk->d);
    sc[0] = d * (float)blk->scales[2 * j];
    sc[1] = d * (float)blk->scales[2 * j + 1];
}

/* The values (signed; 0..15 for Q4_K, 0..31 for Q5_K), the scale and the min term (what
 * multiplies the activation's scaled sum; 0 but for those two) of block b of a weight row. */
static float weight_block(enum dtype wt, const unsigned char *row, size_t b, int8_t *q,
                          float *min)
{
    *min = 0.0f;
    if (wt == DTYPE_Q4_K || wt == DTYPE_Q5_K) { /* Q5_K adds bit j of qh[k] */
        size_t j = b % (QUANT_QK_K / BLK);
        const unsigned char *sb = row + (b / (QUANT_QK_K / BLK)) * k45_bytes(wt);
        const uint8_t *qs = sb + k45_qs_offset(wt) + (j / 2) * BLK;
        const uint8_t *qh = sb + offsetof(struct quant_block_q5_K, qh);
        float sc;
        k45_scale_min(sb, j, &sc, min);
        for (int k = 0; k < BLK; k++) {
            int v = j % 2 ? qs[k] >> 4 : qs[k] & 15;
            if (wt == DTYPE_Q5_K)
                v |= ((qh[k] >> j) & 1) << 4;
            q[k] = (int8_t)v;
        }
        return sc;
    }
    if (wt == DTYPE_Q8_0) {
        const struct quant_block_q8_0 *blk = (const struct quant_block_q8_0 *)row + b;
        memcpy(q, blk->qs, BLK);
        return quant_fp16_to_fp32(blk->d);
    }
    const struct quant_block_q4_0 *blk = (const struct quant_block_q4_0 *)row + b;
    for (int k = 0; k < BLK / 2; k++) {
        q[k] = (int8_t)((blk->qs[k] & 15) - 8);
        q[k + BLK / 2] = (int8_t)((blk->qs[k] >> 4) - 8);
    }
    return quant_fp16_to_fp32(blk->d);
}

/* ---- scalar reference: straight from the weight rows ---- */

/* sum of q[k] * (qy[k] - 128) for k in [lo, hi) */
static int32_t dot_range(const int8_t *q, const uint8_t *qy, int lo, int hi)
{
    int32_t s = 0;
    for (int k = lo; k < hi; k++)
        s += (int32_t)q[k] * ((int32_t)qy[k] - 128);
    return s;
}

static void run_scalar(enum dtype wt, const unsigned char *w, size_t row_bytes, size_t n_in,
                       size_t r0, size_t r1, const unsigned char *act, size_t act_stride,
                       size_t n_tok, float *y, size_t y_stride)
{
    size_t nb = n_in / BLK;
    int8_t q[BLK];
    for (size_t r = r0; r < r1; r++) {
        for (size_t t = 0; t < n_tok; t++) {
            const float *dy = (const float *)(act + t * act_stride), *ds = dy + nb;
            const uint8_t *qy = (const uint8_t *)(ds + nb);
            float acc = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                if (wt == DTYPE_Q6_K) { /* two 16-value halves, each with its scale */
                    float sc[2];
                    q6_K_block(w + r * row_bytes, b, q, sc);
                    for (int h = 0; h < 2; h++) {
                        int32_t s = dot_range(q, qy + b * BLK, h * BLK / 2, (h + 1) * BLK / 2);
                        acc = fmaf((float)s, sc[h] * dy[b], acc);
                    }
                    continue;
                }
                float min, dw = weight_block(wt, w + r * row_bytes, b, q, &min);
                int32_t s = dot_range(q, qy + b * BLK, 0, BLK);
                acc = fmaf((float)s, dw * dy[b], acc);
                if (wt == DTYPE_Q4_K || wt == DTYPE_Q5_K)
                    acc = fmaf(min, ds[b], acc);
            }
            y[t * y_stride + r] = acc;
        }
    }
}

#if defined(__x86_64__)
#define QGEMM_X86 1
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(                                                               \
    __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")
#endif

#define Z_INLINE static inline __attribute__((always_inline))
#define TOK_MAX 6

/* Block b of a Q4_K or Q5_K panel (n rows, mask m): the nibbles of sub-block b % 8 (low
 * nibbles for even sub-blocks, high for odd, of the super-block's 32-byte group
 * (b % 8) / 2; Q5_K adds bit b % 8 of qh), then per row d * scale, 128 * sum(q) and
 * -dmin * min. */
static void pack_k45_block(enum dtype wt, const unsigned char *base, size_t row_bytes, size_t b,
                           size_t n, __mmask16 m, __m512i rows, unsigned char *pb)
{
    const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(15);
    bool q5 = wt == DTYPE_Q5_K;
    size_t j = b % (QUANT_QK_K / BLK);
    const unsigned char *sb = base + (b / (QUANT_QK_K / BLK)) * k45_bytes(wt);
    const unsigned char *qs = sb + k45_qs_offset(wt) + (j / 2) * BLK;
    const unsigned char *qh = sb + offsetof(struct quant_block_q5_K, qh);
    __m512i sum = _mm512_setzero_si512();
    for (int g = 0; g < QUADS; g++) {
        __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, qs + 4 * g, 1);
        if (j % 2)
            v = _mm512_srli_epi16(v, 4);
        v = _mm512_and_si512(v, lo4);
        if (q5) { /* bit j of qh as bit 4 (the 16-bit shift's spill is masked off) */
            __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, qh + 4 * g, 1);
            h = _mm512_and_si512(_mm512_srli_epi16(h, (unsigned)j), ones);
            v = _mm512_or_si512(v, _mm512_slli_epi16(h, 4));
        }
        _mm512_store_si512(pb + (size_t)g * 64, v);
        sum = _mm512_dpbusd_epi32(sum, ones, v);
    }
    float *sc = (float *)(pb + PBLK_SCALE), *mn = (float *)(pb + PBLK_MIN);
    for (size_t i = 0; i < PANEL; i++) {
        if (i >= n) {
            sc[i] = mn[i] = 0.0f;
            continue;
        }
        k45_scale_min(sb + i * row_bytes, j, &sc[i], &mn[i]);
    }
    _mm512_store_si512(pb + PBLK_CORR, _mm512_slli_epi32(sum, 7));
}

/* Block b of a Q6_K panel: the signed 6-bit values of quarter b % 4 of the super-block's
 * 128-value half (b % 8) / 4, then per row the two halves' d * scale and 128 * sum(q). */
static void pack_k6_block(const unsigned char *base, size_t row_bytes, size_t b, size_t n,
                          __mmask16 m, __m512i rows, unsigned char *pb)
{
    const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(15);
    const __m512i three = _mm512_set1_epi8(3), off = _mm512_set1_epi8(32);
    size_t j = b % (QUANT_QK_K / BLK), hf = j / 4, qq = j % 4;
    const unsigned char *sb = base + (b / (QUANT_QK_K / BLK)) * sizeof(struct quant_block_q6_K);
    const unsigned char *ql = sb + offsetof(struct quant_block_q6_K, ql) + 64 * hf + 32 * (qq % 2);
    const unsigned char *qh = sb + offsetof(struct quant_block_q6_K, qh) + 32 * hf;
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int g = 0; g < QUADS; g++) {
        __m512i l = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, ql + 4 * g, 1);
        __m512i h = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, qh + 4 * g, 1);
        l = _mm512_and_si512(_mm512_srli_epi16(l, (unsigned)(4 * (qq / 2))), lo4);
        h = _mm512_and_si512(_mm512_srli_epi16(h, (unsigned)(2 * qq)), three);
        __m512i v = _mm512_sub_epi8(_mm512_or_si512(l, _mm512_slli_epi16(h, 4)), off);
        v = _mm512_maskz_mov_epi32(m, v); /* rows past r1: zero, not -32 */
        _mm512_store_si512(pb + (size_t)g * 64, v);
        sum[g / (QUADS / 2)] = _mm512_dpbusd_epi32(sum[g / (QUADS / 2)], ones, v);
    }
    float *sc = (float *)(pb + PBLK_SCALE), *sc2 = (float *)(pb + PBLK_SCALE2);
    for (size_t i = 0; i < PANEL; i++) {
        if (i >= n) {
            sc[i] = sc2[i] = 0.0f;
            continue;
        }
        const struct quant_block_q6_K *blk = (const struct quant_block_q6_K *)(sb + i * row_bytes);
        float d = quant_fp16_to_fp32(blk->d);
        sc[i] = d * (float)blk->scales[2 * j];
        sc2[i] = d * (float)blk->scales[2 * j + 1];
    }
    _mm512_store_si512(pb + PBLK_CORR, _mm512_slli_epi32(sum[0], 7));
    _mm512_store_si512(pb + PBLK_CORR2, _mm512_slli_epi32(sum[1], 7));
}

/* Rows [r0, r1) (at most QGEMM_ROWS) into panels: per block, per panel, the values as 8
 * groups of (16 rows x 4 bytes), then the 16 scales as floats, then the 16 corrections
 * 128 * sum(q); rows past r1 are zero (masked gathers: nothing past r1 is read). */
static void pack_panels(enum dtype wt, const unsigned char *w, size_t row_bytes, size_t nb,
                        size_t r0, size_t r1, unsigned char *dst)
{
    size_t np = (r1 - r0 + PANEL - 1) / PANEL;
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32((int)row_bytes));
    const __m512i ones = _mm512_set1_epi8(1), lo4 = _mm512_set1_epi8(15);
    const __m512i eight = _mm512_set1_epi8(8), half = _mm512_set1_epi32(0xffff);
    for (size_t p = 0; p < np; p++) {
        size_t lo = r0 + p * PANEL, n = r1 - lo < PANEL ? r1 - lo : PANEL;
        __mmask16 m = (__mmask16)(n == PANEL ? 0xffffu : (1u << n) - 1u);
        const unsigned char *base = w + lo * row_bytes;
        for (size_t b = 0; b < nb; b++) {
            unsigned char *pb = dst + (b * np + p) * PBLK_BYTES;
            __m512i sum = _mm512_setzero_si512(), d16;
            if (wt == DTYPE_Q4_K || wt == DTYPE_Q5_K) {
                pack_k45_block(wt, base, row_bytes, b, n, m, rows, pb);
                continue;
            }
            if (wt == DTYPE_Q6_K) {
                pack_k6_block(base, row_bytes, b, n, m, rows, pb);
                continue;
            }
            _mm512_store_ps((float *)(pb + PBLK_MIN), _mm512_setzero_ps());
            if (wt == DTYPE_Q8_0) {
                const unsigned char *blk = base + b * sizeof(struct quant_block_q8_0);
                d16 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, blk, 1);
                for (int g = 0; g < QUADS; g++) {
                    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows,
                                                            blk + 2 + 4 * g, 1);
                    _mm512_store_si512(pb + (size_t)g * 64, v);
                    sum = _mm512_dpbusd_epi32(sum, ones, v);
                }
            } else {
                const unsigned char *blk = base + b * sizeof(struct quant_block_q4_0);
                d16 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows, blk, 1);
                for (int g = 0; g < QUADS / 2; g++) {
                    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, rows,
                                                            blk + 2 + 4 * g, 1);
                    /* rows past r1 stay zero: their nibbles would otherwise become -8 */
                    __m512i ql =
                        _mm512_maskz_mov_epi32(m, _mm512_sub_epi8(_mm512_and_si512(v, lo4), eight));
                    __m512i qh = _mm512_maskz_mov_epi32(
                        m, _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo4), eight));
                    _mm512_store_si512(pb + (size_t)g * 64, ql);
                    _mm512_store_si512(pb + (size_t)(g + QUADS / 2) * 64, qh);
                    sum = _mm512_dpbusd_epi32(sum, ones, ql);
                    sum = _mm512_dpbusd_epi32(sum, ones, qh);
                }
            }
            __m256i h = _mm512_cvtepi32_epi16(_mm512_and_si512(d16, half));
            _mm512_store_ps((float *)(pb + PBLK_SCALE), _mm512_cvtph_ps(h));
            _mm512_store_si512(pb + PBLK_CORR, _mm512_slli_epi32(sum, 7));
        }
    }
}

/* The integer sums of quads [g0, g1) of one block: s[p][t] for NP panels, NT tokens. */
Z_INLINE void block_sums(int np, int nt, int g0, int g1, const unsigned char *pb,
                         const unsigned char *qyb, size_t act_stride, __m512i s[2][TOK_MAX])
{
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
            s[p][t] = _mm512_setzero_si512();
    _Pragma("GCC unroll 8") for (int g = g0; g < g1; g++) {
        __m512i wv[2];
        _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
            wv[p] = _mm512_load_si512(pb + (size_t)p * PBLK_BYTES + (size_t)g * 64);
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++) {
            int32_t a4;
            memcpy(&a4, qyb + t * act_stride + (size_t)g * 4, 4);
            __m512i av = _mm512_set1_epi32(a4);
            _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
                s[p][t] = _mm512_dpbusd_epi32(s[p][t], av, wv[p]);
        }
    }
}

/* acc += (s - corr) * scale * dy[b] with the scale and correction at the given offsets. */
Z_INLINE void block_scale(int np, int nt, const unsigned char *pb, size_t scale_off,
                          size_t corr_off, const unsigned char *act, size_t act_stride, size_t b,
                          __m512i s[2][TOK_MAX], __m512 acc[2][TOK_MAX])
{
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++) {
        const unsigned char *pp = pb + (size_t)p * PBLK_BYTES;
        __m512 dw = _mm512_load_ps((const float *)(pp + scale_off));
        __m512i corr = _mm512_load_si512(pp + corr_off);
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++) {
            const float *dy = (const float *)(act + t * act_stride);
            __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(dy[b]));
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(s[p][t], corr));
            acc[p][t] = _mm512_fmadd_ps(v, d, acc[p][t]);
        }
    }
}

enum { MODE_PLAIN, MODE_MINS, MODE_HALVES };

/* NP panels (1 or 2) by NT tokens (1..TOK_MAX), every block: MODE_PLAIN one scale per
 * block; MODE_MINS also the min term; MODE_HALVES a scale and a correction for each half
 * of the block (Q6_K's 16-value sub-blocks). */
Z_INLINE void kernel(int mode, int np, int nt, size_t nb, const unsigned char *pan,
                     const unsigned char *act, size_t act_stride, float *y, size_t y_stride,
                     const __mmask16 *mask)
{
    __m512 acc[2][TOK_MAX];
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
            acc[p][t] = _mm512_setzero_ps();
    const unsigned char *qy = act + nb * 8;
    for (size_t b = 0; b < nb; b++) {
        const unsigned char *pb = pan + b * (size_t)np * PBLK_BYTES;
        __m512i s[2][TOK_MAX];
        if (mode == MODE_HALVES) {
            block_sums(np, nt, 0, QUADS / 2, pb, qy + b * BLK, act_stride, s);
            block_scale(np, nt, pb, PBLK_SCALE, PBLK_CORR, act, act_stride, b, s, acc);
            block_sums(np, nt, QUADS / 2, QUADS, pb, qy + b * BLK, act_stride, s);
            block_scale(np, nt, pb, PBLK_SCALE2, PBLK_CORR2, act, act_stride, b, s, acc);
            continue;
        }
        block_sums(np, nt, 0, QUADS, pb, qy + b * BLK, act_stride, s);
        block_scale(np, nt, pb, PBLK_SCALE, PBLK_CORR, act, act_stride, b, s, acc);
        if (mode == MODE_MINS) {
            _Pragma("GCC unroll 2") for (int p = 0; p < np; p++) {
                __m512 mw = _mm512_load_ps((const float *)(pb + (size_t)p * PBLK_BYTES + PBLK_MIN));
                _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++) {
                    const float *dy = (const float *)(act + t * act_stride);
                    acc[p][t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(dy[nb + b]), acc[p][t]);
                }
            }
        }
    }
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
            _mm512_mask_storeu_ps(y + t * y_stride + p * PANEL, mask[p], acc[p][t]);
}

#define KERNEL_CASE(M, NP, NT)                                                                \
    static void kernel_##M##_##NP##_##NT(size_t nb, const unsigned char *pan,                \
                                         const unsigned char *act, size_t as, float *y,       \
                                         size_t ys, const __mmask16 *mask)                    \
    {                                                                                         \
        kernel(M, NP, NT, nb, pan, act, as, y, ys, mask);                                     \
    }
#define KERNEL_CASES(M)                                                                       \
    KERNEL_CASE(M, 1, 1) KERNEL_CASE(M, 1, 2) KERNEL_CASE(M, 1, 3) KERNEL_CASE(M, 1, 4)      \
    KERNEL_CASE(M, 1, 5) KERNEL_CASE(M, 1, 6) KERNEL_CASE(M, 2, 1) KERNEL_CASE(M, 2, 2)      \
    KERNEL_CASE(M, 2, 3) KERNEL_CASE(M, 2, 4) KERNEL_CASE(M, 2, 5) KERNEL_CASE(M, 2, 6)
KERNEL_CASES(0)
KERNEL_CASES(1)
KERNEL_CASES(2)
#define KERNEL_ROW(M, NP)                                                                     \
    {kernel_##M##_##NP##_1, kernel_##M##_##NP##_2, kernel_##M##_##NP##_3,                    \
     kernel_##M##_##NP##_4, kernel_##M##_##NP##_5, kernel_##M##_##NP##_6}

typedef void (*kernel_fn)(size_t, const unsigned char *, const unsigned char *, size_t, float *,
                          size_t, const __mmask16 *);
static const kernel_fn kernels[3][2][TOK_MAX] = {
    {KERNEL_ROW(0, 1), KERNEL_ROW(0, 2)},
    {KERNEL_ROW(1, 1), KERNEL_ROW(1, 2)},
    {KERNEL_ROW(2, 1), KERNEL_ROW(2, 2)},
};

static void run_avx512(enum dtype wt, const unsigned char *w, size_t row_bytes, size_t n_in,
                       size_t r0, size_t r1, const unsigned char *act, size_t act_stride,
                       size_t n_tok, float *y, size_t y_stride, unsigned char *scratch)
{
    size_t nb = n_in / BLK;
    for (size_t c0 = r0; c0 < r1; c0 += QGEMM_ROWS) {
        size_t c1 = c0 + QGEMM_ROWS < r1 ? c0 + QGEMM_ROWS : r1;
        pack_panels(wt, w, row_bytes, nb, c0, c1, scratch);
        size_t np = (c1 - c0 + PANEL - 1) / PANEL;
        __mmask16 mask[2];
        for (size_t p = 0; p < 2; p++) {
            size_t lo = c0 + p * PANEL, n = lo < c1 ? c1 - lo : 0;
            mask[p] = (__mmask16)(n >= PANEL ? 0xffffu : (1u << n) - 1u);
        }
        for (size_t t = 0; t < n_tok; t += TOK_MAX) {
            size_t nt = n_tok - t < TOK_MAX ? n_tok - t : TOK_MAX;
            int mode = wt == DTYPE_Q4_K || wt == DTYPE_Q5_K ? MODE_MINS
                       : wt == DTYPE_Q6_K                      ? MODE_HALVES
                                                               : MODE_PLAIN;
            kernels[mode][np - 1][nt - 1](nb, scratch, act + t * act_stride, act_stride,
                                    y + t * y_stride + c0, y_stride, mask);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* __x86_64__ */

bool qgemm_fast(void)
{
#ifdef QGEMM_X86
    return quant_cpu_level() >= QUANT_CPU_AVX512;
#else
    return false;
#endif
}

void qgemm_run_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                  size_t n_in, size_t row_begin, size_t row_end, const void *act,
                  size_t act_stride, size_t n_tok, float *y, size_t y_stride, void *scratch)
{
    assert(qgemm_supported(wt) && n_in % BLK == 0 && row_begin <= row_end);
    assert(quant_cpu_supported(level));
#ifdef QGEMM_X86
    if (level >= QUANT_CPU_AVX512) {
        run_avx512(wt, w, row_bytes, n_in, row_begin, row_end, act, act_stride, n_tok, y,
                   y_stride, scratch);
        return;
    }
#endif
    (void)scratch;
    run_scalar(wt, w, row_bytes, n_in, row_begin, row_end, act, act_stride, n_tok, y,
               y_stride);
}

void qgemm_run(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
               size_t row_end, const void *act, size_t act_stride, size_t n_tok, float *y,
               size_t y_stride, void *scratch)
{
    qgemm_run_at(quant_cpu_level(), wt, w, row_bytes, n_in, row_begin, row_end, act,
                 act_stride, n_tok, y, y_stride, scratch);
}
