/* quant.c -- scalar block kernels, weight and activation quantizers, CPU dispatch. */
#include "config.h"
#include "engine/quant.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QUANT_X86 1
#endif

/* ---- fp16 / bf16 ----------------------------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float quant_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 31;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in binary32 */
        float v = (float)mant * 0x1p-24f;
        return f32_from_bits(sign | f32_bits(v));
    }
    if (exp == 31)
        return f32_from_bits(sign | 0x7f800000u | mant << 13);
    return f32_from_bits(sign | (exp + 112) << 23 | mant << 13);
}

uint16_t quant_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, payload dropped (ggml's software path) */
        return sign | 0x7e00;
    if (ax >= 0x47800000u) /* >= 65536 (and inf): infinity */
        return sign | 0x7c00;
    if (ax < 0x33000000u) /* < 2^-25: rounds to zero (2^-25 itself ties to even 0) */
        return sign;
    int e = (int)(ax >> 23) - 127;
    uint32_t mant = ax & 0x7fffff;
    uint32_t h, rem, half;
    if (e >= -14) { /* normal half; a carry out of the mantissa bumps the exponent */
        h = (uint32_t)(e + 15) << 10 | mant >> 13;
        rem = mant & 0x1fff;
        half = 0x1000;
    } else { /* subnormal half: units of 2^-24 */
        uint32_t m = mant | 0x800000;
        int shift = -(e + 1); /* 14 .. 24 */
        h = m >> shift;
        rem = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    }
    if (rem > half || (rem == half && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float quant_bf16_to_fp32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t quant_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep the top bits, force quiet */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ggml's nearest_int(): round half to even through the float mantissa; valid for
 * |v| <= 4194303, and reproduced as is so that quantizers stay bit-exact. */
static int nearest_int(float v)
{
    uint32_t u = f32_bits(v + 12582912.f);
    return (int)(u & 0x007fffff) - 0x00400000;
}

/* ---- Dequantization ------------------------------------------------------------------- */

static void dequant_q8_0(const void *src, float *y, size_t n)
{
    const struct quant_block_q8_0 *b = src;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++) {
        float d = quant_fp16_to_fp32(b->d);
        for (int j = 0; j < 32; j++)
            *y++ = b->qs[j] * d;
    }
}

static void dequant_q4_0(const void *src, float *y, size_t n)
{
    const struct quant_block_q4_0 *b = src;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++, y += 32) {
        float d = quant_fp16_to_fp32(b->d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((b->qs[j] & 15) - 8) * d;
            y[j + 16] = ((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_K(const void *src, float *y, size_t n)
{
    const struct quant_block_q4_K *b = src;
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++) {
        float d = quant_fp16_to_fp32(b->d);
        float dmin = quant_fp16_to_fp32(b->dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            quant_k4_scale_min(s, b->scales, &sc, &m);
            float ds = d * sc, ms = dmin * m;
            const uint8_t *q = b->qs + 32 * (s / 2);
            int shift = 4 * (s & 1);
            for (int l = 0; l < 32; l++)
                *y++ = ds * ((q[l] >> shift) & 15) - ms;
        }
    }
}

static void dequant_q5_K(const void *src, float *y, size_t n)
{
    const struct quant_block_q5_K *b = src;
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++) {
        float d = quant_fp16_to_fp32(b->d);
        float dmin = quant_fp16_to_fp32(b->dmin);
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            quant_k4_scale_min(s, b->scales, &sc, &m);
            float ds = d * sc, ms = dmin * m;
            const uint8_t *q = b->qs + 32 * (s / 2);
            int shift = 4 * (s & 1);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 15) + ((b->qh[l] >> s) & 1 ? 16 : 0);
                *y++ = ds * v - ms;
            }
        }
    }
}

/* The 256 values of a Q6_K block, minus 32, in order. */
static void q6_K_unpack(const struct quant_block_q6_K *b, int8_t q[256])
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32);
        }
    }
}

static void dequant_q6_K(const void *src, float *y, size_t n)
{
    const struct quant_block_q6_K *b = src;
    int8_t q[256];
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++) {
        float d = quant_fp16_to_fp32(b->d);
        q6_K_unpack(b, q);
        for (int v = 0; v < 256; v++)
            *y++ = d * b->scales[v / 16] * q[v];
    }
}

static void dequant_q8_K(const void *src, float *y, size_t n)
{
    const struct quant_block_q8_K *b = src;
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++)
        for (int j = 0; j < 256; j++)
            *y++ = b->d * b->qs[j];
}

bool quant_weight_supported(enum dtype t)
{
    switch (t) {
    case DTYPE_F32:
    case DTYPE_F16:
    case DTYPE_BF16:
    case DTYPE_Q8_0:
    case DTYPE_Q4_0:
    case DTYPE_Q4_K:
    case DTYPE_Q5_K:
    case DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

void quant_dequantize_row(enum dtype t, const void *src, float *dst, size_t n)
{
    assert(dtype_block_size(t) && n % dtype_block_size(t) == 0);
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case DTYPE_F16: {
        const uint16_t *h = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = quant_fp16_to_fp32(h[i]);
        break;
    }
    case DTYPE_BF16: {
        const uint16_t *h = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = quant_bf16_to_fp32(h[i]);
        break;
    }
    case DTYPE_Q8_0:
        dequant_q8_0(src, dst, n);
        break;
    case DTYPE_Q4_0:
        dequant_q4_0(src, dst, n);
        break;
    case DTYPE_Q4_K:
        dequant_q4_K(src, dst, n);
        break;
    case DTYPE_Q5_K:
        dequant_q5_K(src, dst, n);
        break;
    case DTYPE_Q6_K:
        dequant_q6_K(src, dst, n);
        break;
    case DTYPE_Q8_K:
        dequant_q8_K(src, dst, n);
        break;
    default:
        assert(!"quant_dequantize_row: unsupported type");
        break;
    }
}

/* ---- Activation quantization ----------------------------------------------------------- */

static void quantize_act_q8_0_scalar(const float *x, void *dst, size_t n)
{
    assert(n % QUANT_QK == 0);
    struct quant_block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            float ax = fabsf(x[j]);
            amax = ax > amax ? ax : amax; /* fmaxf for finite values, without a libm call */
        }
        /* as ggml's AVX2 path: d from amax / 127, but the multiplier is 127 / amax
         * (not 1 / d), and the rounding is to nearest even */
        b->d = quant_fp32_to_fp16(amax / 127.f);
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        if (!isfinite(id))
            id = 0.0f; /* subnormal amax: d rounds to 0 in f16 anyway, and inf must not
                        * reach the int8 conversion */
        for (int j = 0; j < 32; j++) /* |x * id| <= 127: nearest_int() is nearbyintf() */
            b->qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

void quant_q8_K_block_scalar(const float *x, struct quant_block_q8_K *b)
{
    float max = 0, amax = 0;
    for (int j = 0; j < QUANT_QK_K; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0) {
        memset(b, 0, sizeof *b);
        return;
    }
    float iscale = -127.f / max;
    for (int j = 0; j < QUANT_QK_K; j++) {
        int v = nearest_int(iscale * x[j]);
        b->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++)
            sum += b->qs[16 * g + l];
        b->bsums[g] = (int16_t)sum;
    }
    b->d = 1 / iscale;
}

static void quantize_act_q8_K_scalar(const float *x, void *dst, size_t n)
{
    assert(n % QUANT_QK_K == 0);
    struct quant_block_q8_K *b = dst;
    for (size_t i = 0; i < n / QUANT_QK_K; i++)
        quant_q8_K_block_scalar(x + i * QUANT_QK_K, b + i);
}

enum dtype quant_act_type(enum dtype wt)
{
    switch (wt) {
    case DTYPE_Q8_0:
    case DTYPE_Q4_0:
        return DTYPE_Q8_0;
    case DTYPE_Q4_K:
    case DTYPE_Q5_K:
    case DTYPE_Q6_K:
        return DTYPE_Q8_K;
    case DTYPE_F16:
        return DTYPE_F16;
    case DTYPE_BF16:
        return DTYPE_BF16;
    default:
        return DTYPE_F32;
    }
}

size_t quant_act_row_bytes(enum dtype wt, size_t n)
{
    enum dtype a = quant_act_type(wt);
    assert(n % dtype_block_size(a) == 0);
    return n / dtype_block_size(a) * dtype_type_size(a);
}

void quant_quantize_act(enum dtype wt, const float *x, void *dst, size_t n)
{
    quant_quantize_act_at(quant_cpu_level(), wt, x, dst, n);
}

/* ---- Weight quantizers (ggml's reference algorithms, operation for operation) ---------- */

static void quantize_q8_0_ref(const float *x, void *dst, size_t n)
{
    struct quant_block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        float d = amax / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = quant_fp32_to_fp16(d);
        for (int j = 0; j < 32; j++)
            b->qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void quantize_q4_0_ref(const float *x, void *dst, size_t n)
{
    struct quant_block_q4_0 *b = dst;
    for (size_t i = 0; i < n / QUANT_QK; i++, b++, x += 32) {
        float amax = 0.0f, max = 0.0f; /* max keeps its sign */
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = quant_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int lo = (int8_t)(x[j] * id + 8.5f);
            int hi = (int8_t)(x[j + 16] * id + 8.5f);
            lo = lo < 15 ? lo : 15;
            hi = hi < 15 ? hi : 15;
            b->qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Fit x[0..n) ~ scale * L - min with L in [0, nmax] (min >= 0 returned in *the_min),
 * weighted least squares over a small grid of trial scales: ggml's make_qkx2_quants. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *the_min, float rmin, float rdelta, int nstep)
{
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    uint8_t Laux[32];
    assert(n <= 32);
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            float wl = w[i] * l;
            sum_l += wl;
            sum_l2 += wl * l;
            sum_xl += wl * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): sub-block scales and mins, packed 6-bit
 * scales, d/dmin, and the final levels L[256] re-derived from the rounded scales. */
static void quantize_k_scales(const float *x, int nmax, float rmin, int nstep, uint8_t *scales12,
                              uint16_t *d_out, uint16_t *dmin_out, uint8_t *L)
{
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(scales12, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            scales12[j] = ls;
            scales12[j + 4] = lm;
        } else {
            scales12[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            scales12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = quant_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = quant_fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales12, &sc, &m);
        float d = quant_fp16_to_fp32(*d_out) * sc;
        if (d == 0.0f)
            continue; /* keeps the levels of the first fit */
        float dm = quant_fp16_to_fp32(*dmin_out) * m;
        for (int l = 0; l < 32; l++) {
            int q = nearest_int((x[32 * j + l] + dm) / d);
            L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > nmax ? nmax : q);
        }
    }
}

static void quantize_q4_K_ref(const float *x, void *dst, size_t n)
{
    struct quant_block_q4_K *b = dst;
    uint8_t L[QUANT_QK_K];
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++, x += QUANT_QK_K) {
        quantize_k_scales(x, 15, -1.f, 20, b->scales, &b->d, &b->dmin, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quantize_q5_K_ref(const float *x, void *dst, size_t n)
{
    struct quant_block_q5_K *b = dst;
    uint8_t L[QUANT_QK_K];
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++, x += QUANT_QK_K) {
        quantize_k_scales(x, 31, -0.5f, 15, b->scales, &b->d, &b->dmin, L);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                if (lo > 15) {
                    lo -= 16;
                    b->qh[l] |= (uint8_t)(1u << (2 * c));
                }
                if (hi > 15) {
                    hi -= 16;
                    b->qh[l] |= (uint8_t)(2u << (2 * c));
                }
                b->qs[32 * c + l] = (uint8_t)(lo | hi << 4);
            }
        }
    }
}

/* Signed levels L in [-nmax, nmax) for 16 values with the scale chosen by a weighted
 * (x^2) least-squares search over 19 trial scales: ggml's make_qx_quants, rmse_type 1. */
static float fit_scale_signed(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void quantize_q6_K_ref(const float *x, void *dst, size_t n)
{
    struct quant_block_q6_K *b = dst;
    int8_t L[QUANT_QK_K];
    float scales[16];
    for (size_t i = 0; i < n / QUANT_QK_K; i++, b++, x += QUANT_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int g = 0; g < 16; g++) {
            scales[g] = fit_scale_signed(16, 32, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        if (max_abs_scale < 1e-15f) {
            memset(b, 0, sizeof *b);
            continue;
        }
        float iscale = -128.f / max_scale;
        b->d = quant_fp32_to_fp16(1 / iscale);
        for (int g = 0; g < 16; g++) {
            int s = nearest_int(iscale * scales[g]);
            b->scales[g] = (int8_t)(s < 127 ? s : 127);
        }
        for (int g = 0; g < 16; g++) {
            float d = quant_fp16_to_fp32(b->d) * b->scales[g];
            if (d == 0.0f)
                continue;
            for (int l = 0; l < 16; l++) {
                int q = nearest_int(x[16 * g + l] / d);
                q = q < -32 ? -32 : q > 31 ? 31 : q;
                L[16 * g + l] = (int8_t)(q + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 15) | (Lh[l + 64] & 15) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 15) | (Lh[l + 96] & 15) << 4);
                qh[l] = (uint8_t)((Lh[l] >> 4) | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                  (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

void quant_quantize_row(enum dtype t, const float *x, void *dst, size_t n)
{
    assert(dtype_block_size(t) && n % dtype_block_size(t) == 0);
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, x, n * sizeof(float));
        break;
    case DTYPE_F16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++)
            h[i] = quant_fp32_to_fp16(x[i]);
        break;
    }
    case DTYPE_BF16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++)
            h[i] = quant_fp32_to_bf16(x[i]);
        break;
    }
    case DTYPE_Q8_0:
        quantize_q8_0_ref(x, dst, n);
        break;
    case DTYPE_Q4_0:
        quantize_q4_0_ref(x, dst, n);
        break;
    case DTYPE_Q4_K:
        quantize_q4_K_ref(x, dst, n);
        break;
    case DTYPE_Q5_K:
        quantize_q5_K_ref(x, dst, n);
        break;
    case DTYPE_Q6_K:
        quantize_q6_K_ref(x, dst, n);
        break;
    case DTYPE_Q8_K:
        quant_quantize_row_q8_K(x, dst, n);
        break;
    default:
        assert(!"quant_quantize_row: unsupported type");
        break;
    }
}

/* ---- Scalar dot products (ggml's reference arithmetic: integer per block, then scaled) -- */

static float dot_f32(size_t n, const void *w, const void *x)
{
    const float *a = w, *b = x;
    double sum = 0; /* ggml_vec_dot_f32 without SIMD sums in double */
    for (size_t i = 0; i < n; i++)
        sum += (double)(a[i] * b[i]);
    return (float)sum;
}

static float dot_f16(size_t n, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(quant_fp16_to_fp32(a[i]) * quant_fp16_to_fp32(b[i]));
    return (float)sum;
}

static float dot_bf16(size_t n, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(quant_bf16_to_fp32(a[i]) * quant_bf16_to_fp32(b[i]));
    return (float)sum;
}

static float dot_q8_0(size_t n, const void *w, const void *x)
{
    const struct quant_block_q8_0 *a = w, *b = x;
    float sum = 0;
    for (size_t i = 0; i < n / QUANT_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += a[i].qs[j] * b[i].qs[j];
        sum += sumi * (quant_fp16_to_fp32(a[i].d) * quant_fp16_to_fp32(b[i].d));
    }
    return sum;
}

static float dot_q4_0(size_t n, const void *w, const void *x)
{
    const struct quant_block_q4_0 *a = w;
    const struct quant_block_q8_0 *b = x;
    float sum = 0;
    for (size_t i = 0; i < n / QUANT_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((a[i].qs[j] & 15) - 8) * b[i].qs[j];
            sumi += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        sum += sumi * quant_fp16_to_fp32(a[i].d) * quant_fp16_to_fp32(b[i].d);
    }
    return sum;
}

static float dot_q4_K(size_t n, const void *w, const void *x)
{
    const struct quant_block_q4_K *a = w;
    const struct quant_block_q8_K *b = x;
    float sum = 0;
    for (size_t i = 0; i < n / QUANT_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            quant_k4_scale_min(s, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (s / 2);
            const int8_t *y = b[i].qs + 32 * s;
            int shift = 4 * (s & 1), dot = 0;
            for (int l = 0; l < 32; l++)
                dot += ((q[l] >> shift) & 15) * y[l];
            sumi += sc * dot;
            summ += m * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        }
        sum += quant_fp16_to_fp32(a[i].d) * b[i].d * sumi;
        sum -= quant_fp16_to_fp32(a[i].dmin) * b[i].d * summ;
    }
    return sum;
}

static float dot_q5_K(size_t n, const void *w, const void *x)
{
    const struct quant_block_q5_K *a = w;
    const struct quant_block_q8_K *b = x;
    float sum = 0;
    for (size_t i = 0; i < n / QUANT_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            quant_k4_scale_min(s, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (s / 2);
            const int8_t *y = b[i].qs + 32 * s;
            int shift = 4 * (s & 1), dot = 0;
            for (int l = 0; l < 32; l++)
                dot += (((q[l] >> shift) & 15) | ((a[i].qh[l] >> s) & 1) << 4) * y[l];
            sumi += sc * dot;
            summ += m * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        }
        sum += quant_fp16_to_fp32(a[i].d) * b[i].d * sumi;
        sum -= quant_fp16_to_fp32(a[i].dmin) * b[i].d * summ;
    }
    return sum;
}

static float dot_q6_K(size_t n, const void *w, const void *x)
{
    const struct quant_block_q6_K *a = w;
    const struct quant_block_q8_K *b = x;
    int8_t q[256];
    float sum = 0;
    for (size_t i = 0; i < n / QUANT_QK_K; i++) {
        q6_K_unpack(&a[i], q);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int dot = 0;
            for (int l = 0; l < 16; l++)
                dot += q[16 * g + l] * b[i].qs[16 * g + l];
            sumi += a[i].scales[g] * dot;
        }
        sum += quant_fp16_to_fp32(a[i].d) * b[i].d * sumi;
    }
    return sum;
}

/* ---- Dispatch ------------------------------------------------------------------------ */

static struct quant_kernels quant_tables[QUANT_CPU_COUNT_];
static bool quant_supported[QUANT_CPU_COUNT_];
static enum quant_cpu quant_level;
static pthread_once_t quant_once = PTHREAD_ONCE_INIT;

static enum quant_cpu detect_cpu(void)
{
#ifdef QUANT_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return QUANT_CPU_SCALAR;
    bool fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx)
        return QUANT_CPU_SCALAR;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0x6) != 0x6) /* the OS does not save YMM state */
        return QUANT_CPU_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return QUANT_CPU_SCALAR;
    bool avx2 = b >> 5 & 1;
    if (!avx2 || !fma || !f16c)
        return QUANT_CPU_SCALAR;
    /* F (b16), DQ (b17: _mm512_insertf32x8 and friends), BW (b30), VL (b31), VNNI (c11) */
    bool avx512 = (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1) &&
                  (c >> 11 & 1);
    if (avx512 && (xlo & 0xe0) == 0xe0) /* opmask and ZMM state saved */
        return QUANT_CPU_AVX512;
    return QUANT_CPU_AVX2;
#else
    return QUANT_CPU_SCALAR;
#endif
}

static const char *const quant_level_names[QUANT_CPU_COUNT_] = {"scalar", "avx2", "avx512"};

static void quant_init_once(void)
{
    struct quant_kernels *k = &quant_tables[QUANT_CPU_SCALAR];
    k->dot[DTYPE_F32] = dot_f32;
    k->dot[DTYPE_F16] = dot_f16;
    k->dot[DTYPE_BF16] = dot_bf16;
    k->dot[DTYPE_Q8_0] = dot_q8_0;
    k->dot[DTYPE_Q4_0] = dot_q4_0;
    k->dot[DTYPE_Q4_K] = dot_q4_K;
    k->dot[DTYPE_Q5_K] = dot_q5_K;
    k->dot[DTYPE_Q6_K] = dot_q6_K;

    enum quant_cpu hw = detect_cpu();
    quant_supported[QUANT_CPU_SCALAR] = true;
    for (int l = 1; l < QUANT_CPU_COUNT_; l++) {
        quant_tables[l] = quant_tables[l - 1];
        for (int t = 0; t < DTYPE_COUNT_; t++)
            quant_tables[l].matmul[t] = NULL; /* a lower level's would mix arithmetic */
        quant_supported[l] = (int)hw >= l;
    }
#ifdef QUANT_X86
    if (hw >= QUANT_CPU_AVX2)
        quant_avx2_register(&quant_tables[QUANT_CPU_AVX2]);
    if (hw >= QUANT_CPU_AVX512) {
        quant_tables[QUANT_CPU_AVX512] = quant_tables[QUANT_CPU_AVX2];
        quant_avx512_register(&quant_tables[QUANT_CPU_AVX512]);
    }
#endif

    enum quant_cpu level = hw;
    const char *env = getenv("MEMLLM_CPU");
    if (env && env[0]) {
        for (int l = 0; l < QUANT_CPU_COUNT_; l++)
            if (strcmp(env, quant_level_names[l]) == 0 && l < (int)level)
                level = (enum quant_cpu)l;
    }
    quant_level = level;
}

void quant_init(void)
{
    pthread_once(&quant_once, quant_init_once);
}

enum quant_cpu quant_cpu_level(void)
{
    quant_init();
    return quant_level;
}

const char *quant_cpu_level_name(void)
{
    quant_init();
    return quant_level_names[quant_level];
}

bool quant_cpu_supported(enum quant_cpu l)
{
    quant_init();
    return (unsigned)l < QUANT_CPU_COUNT_ && quant_supported[l];
}

void quant_quantize_act_at(enum quant_cpu level, enum dtype wt, const float *x, void *dst,
                           size_t n)
{
    quant_init();
    assert((unsigned)level < QUANT_CPU_COUNT_ && quant_supported[level]);
    const struct quant_kernels *k = &quant_tables[level];
    switch (quant_act_type(wt)) {
    case DTYPE_Q8_0:
        (k->act_q8_0 ? k->act_q8_0 : quantize_act_q8_0_scalar)(x, dst, n);
        break;
    case DTYPE_Q8_K:
        (k->act_q8_K ? k->act_q8_K : quantize_act_q8_K_scalar)(x, dst, n);
        break;
    case DTYPE_F16:
    case DTYPE_BF16:
        quant_quantize_row(quant_act_type(wt), x, dst, n);
        break;
    default:
        memcpy(dst, x, n * sizeof(float));
        break;
    }
}

void quant_quantize_row_q8_0(const float *x, void *dst, size_t n)
{
    quant_quantize_act_at(quant_cpu_level(), DTYPE_Q8_0, x, dst, n);
}

void quant_quantize_row_q8_K(const float *x, void *dst, size_t n)
{
    quant_quantize_act_at(quant_cpu_level(), DTYPE_Q4_K, x, dst, n);
}

float quant_vec_dot_at(enum quant_cpu level, enum dtype wt, size_t n, const void *w_row,
                       const void *x_act)
{
    quant_init();
    assert((unsigned)level < QUANT_CPU_COUNT_ && quant_supported[level]);
    assert(quant_weight_supported(wt) && n % dtype_block_size(quant_act_type(wt)) == 0 &&
           n % dtype_block_size(wt) == 0);
    return quant_tables[level].dot[wt](n, w_row, x_act);
}

void quant_matmul_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                     size_t n_in, size_t row_begin, size_t row_end, const void *x_act,
                     size_t act_stride, size_t n_tok, float *y, size_t y_stride)
{
    quant_init();
    assert((unsigned)level < QUANT_CPU_COUNT_ && quant_supported[level]);
    assert(quant_weight_supported(wt) && n_in % dtype_block_size(quant_act_type(wt)) == 0 &&
           n_in % dtype_block_size(wt) == 0);
    const struct quant_kernels *k = &quant_tables[level];
    if (k->matmul[wt]) {
        k->matmul[wt](w, row_bytes, n_in, row_begin, row_end, x_act, act_stride, n_tok, y,
                      y_stride);
        return;
    }
    const unsigned char *base = w, *xb = x_act;
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = row_begin; r < row_end; r++)
            y[t * y_stride + r] = k->dot[wt](n_in, base + r * row_bytes, xb + t * act_stride);
}

void quant_matvec_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                     size_t n_in, size_t row_begin, size_t row_end, const void *x_act, float *y)
{
    quant_matmul_at(level, wt, w, row_bytes, n_in, row_begin, row_end, x_act, 0, 1, y, 0);
}

float quant_vec_dot(enum dtype wt, size_t n, const void *w_row, const void *x_act)
{
    return quant_vec_dot_at(quant_cpu_level(), wt, n, w_row, x_act);
}

void quant_matvec(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
                  size_t row_end, const void *x_act, float *y)
{
    quant_matvec_at(quant_cpu_level(), wt, w, row_bytes, n_in, row_begin, row_end, x_act, y);
}

void quant_matmul(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
                  size_t row_end, const void *x_act, size_t act_stride, size_t n_tok, float *y,
                  size_t y_stride)
{
    quant_matmul_at(quant_cpu_level(), wt, w, row_bytes, n_in, row_begin, row_end, x_act,
                    act_stride, n_tok, y, y_stride);
}
