/* qgemm.c -- int8 products for prompt batches: panel re-layout, scalar reference, AVX-512
 * VNNI kernel.  See qgemm.h for the arithmetic and the layouts. */
#include "config.h"
#include "engine/qgemm.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLK QUANT_QK       /* values per block */
#define PANEL 16           /* rows per panel: one 512-bit register of int32 sums */
#define QUADS (BLK / 4)    /* 4-value groups per block */
#define PBLK_VALUES (PANEL * BLK)             /* 512 bytes of values per panel block */
#define PBLK_BYTES (PBLK_VALUES + 2 * 4 * PANEL) /* + 16 scales + 16 corrections */

bool qgemm_supported(enum dtype wt) { return wt == DTYPE_Q8_0 || wt == DTYPE_Q4_0; }

size_t qgemm_act_bytes(size_t n_in)
{
    size_t nb = n_in / BLK;
    return (nb * (4 + BLK) + 63) / 64 * 64;
}

size_t qgemm_scratch_bytes(size_t n_in)
{
    return (QGEMM_ROWS / PANEL) * (n_in / BLK) * PBLK_BYTES;
}

/* Layout of a prepared token: nb float scales, then nb * 32 bytes q + 128. */
void qgemm_prepare_act(const void *x_q8_0, size_t n_in, void *dst)
{
    size_t nb = n_in / BLK;
    const struct quant_block_q8_0 *a = x_q8_0;
    float *d = dst;
    uint8_t *q = (uint8_t *)dst + nb * 4;
    for (size_t b = 0; b < nb; b++) {
        d[b] = quant_fp16_to_fp32(a[b].d);
        for (int k = 0; k < BLK; k++)
            q[b * BLK + (size_t)k] = (uint8_t)(a[b].qs[k] ^ 0x80); /* q + 128 */
    }
    size_t used = nb * (4 + BLK), total = qgemm_act_bytes(n_in);
    memset((uint8_t *)dst + used, 0, total - used);
}

/* The signed values and the scale of block b of a weight row. */
static float weight_block(enum dtype wt, const unsigned char *row, size_t b, int8_t *q)
{
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

static void run_scalar(enum dtype wt, const unsigned char *w, size_t row_bytes, size_t n_in,
                       size_t r0, size_t r1, const unsigned char *act, size_t act_stride,
                       size_t n_tok, float *y, size_t y_stride)
{
    size_t nb = n_in / BLK;
    int8_t q[BLK];
    for (size_t r = r0; r < r1; r++) {
        for (size_t t = 0; t < n_tok; t++) {
            const float *dy = (const float *)(act + t * act_stride);
            const uint8_t *qy = act + t * act_stride + nb * 4;
            float acc = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                float dw = weight_block(wt, w + r * row_bytes, b, q);
                int32_t s = 0;
                for (int k = 0; k < BLK; k++)
                    s += (int32_t)q[k] * ((int32_t)qy[b * BLK + (size_t)k] - 128);
                acc = fmaf((float)s, dw * dy[b], acc);
            }
            y[t * y_stride + r] = acc;
        }
    }
}

#if defined(__x86_64__)
#define QGEMM_X86 1
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")
#endif

#define Z_INLINE static inline __attribute__((always_inline))
#define TOK_MAX 6

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
                    __m512i ql = _mm512_maskz_mov_epi32(m, _mm512_sub_epi8(_mm512_and_si512(v, lo4), eight));
                    __m512i qh = _mm512_maskz_mov_epi32(
                        m, _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo4), eight));
                    _mm512_store_si512(pb + (size_t)g * 64, ql);
                    _mm512_store_si512(pb + (size_t)(g + QUADS / 2) * 64, qh);
                    sum = _mm512_dpbusd_epi32(sum, ones, ql);
                    sum = _mm512_dpbusd_epi32(sum, ones, qh);
                }
            }
            __m256i h = _mm512_cvtepi32_epi16(_mm512_and_si512(d16, half));
            _mm512_store_ps((float *)(pb + PBLK_VALUES), _mm512_cvtph_ps(h));
            _mm512_store_si512(pb + PBLK_VALUES + 4 * PANEL, _mm512_slli_epi32(sum, 7));
        }
    }
}

/* NP panels (1 or 2) by NT tokens (1..TOK_MAX): every block, every group of 4 values. */
Z_INLINE void kernel(int np, int nt, size_t nb, const unsigned char *pan,
                     const unsigned char *act, size_t act_stride, float *y, size_t y_stride,
                     const __mmask16 *mask)
{
    __m512 acc[2][TOK_MAX];
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
            acc[p][t] = _mm512_setzero_ps();
    const unsigned char *qy = act + nb * 4;
    for (size_t b = 0; b < nb; b++) {
        const unsigned char *pb = pan + b * (size_t)np * PBLK_BYTES;
        __m512i s[2][TOK_MAX];
        _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
            _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
                s[p][t] = _mm512_setzero_si512();
        _Pragma("GCC unroll 8") for (int g = 0; g < QUADS; g++) {
            __m512i wv[2];
            _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
                wv[p] = _mm512_load_si512(pb + (size_t)p * PBLK_BYTES + (size_t)g * 64);
            _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++) {
                int32_t a4;
                memcpy(&a4, qy + t * act_stride + b * BLK + (size_t)g * 4, 4);
                __m512i av = _mm512_set1_epi32(a4);
                _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
                    s[p][t] = _mm512_dpbusd_epi32(s[p][t], av, wv[p]);
            }
        }
        _Pragma("GCC unroll 2") for (int p = 0; p < np; p++) {
            const unsigned char *tail = pb + (size_t)p * PBLK_BYTES + PBLK_VALUES;
            __m512 dw = _mm512_load_ps((const float *)tail);
            __m512i corr = _mm512_load_si512(tail + 4 * PANEL);
            _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++) {
                __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(((const float *)(act + t * act_stride))[b]));
                __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(s[p][t], corr));
                acc[p][t] = _mm512_fmadd_ps(v, d, acc[p][t]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int p = 0; p < np; p++)
        _Pragma("GCC unroll 8") for (int t = 0; t < nt; t++)
            _mm512_mask_storeu_ps(y + t * y_stride + p * PANEL, mask[p], acc[p][t]);
}

#define KERNEL_CASE(NP, NT)                                                                   \
    static void kernel_##NP##_##NT(size_t nb, const unsigned char *pan,                      \
                                   const unsigned char *act, size_t as, float *y, size_t ys,  \
                                   const __mmask16 *mask)                                     \
    {                                                                                         \
        kernel(NP, NT, nb, pan, act, as, y, ys, mask);                                        \
    }
KERNEL_CASE(1, 1)
KERNEL_CASE(1, 2)
KERNEL_CASE(1, 3)
KERNEL_CASE(1, 4)
KERNEL_CASE(1, 5)
KERNEL_CASE(1, 6)
KERNEL_CASE(2, 1)
KERNEL_CASE(2, 2)
KERNEL_CASE(2, 3)
KERNEL_CASE(2, 4)
KERNEL_CASE(2, 5)
KERNEL_CASE(2, 6)

typedef void (*kernel_fn)(size_t, const unsigned char *, const unsigned char *, size_t, float *,
                          size_t, const __mmask16 *);
static const kernel_fn kernels[2][TOK_MAX] = {
    {kernel_1_1, kernel_1_2, kernel_1_3, kernel_1_4, kernel_1_5, kernel_1_6},
    {kernel_2_1, kernel_2_2, kernel_2_3, kernel_2_4, kernel_2_5, kernel_2_6},
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
            kernels[np - 1][nt - 1](nb, scratch, act + t * act_stride, act_stride,
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
