/* quant.h -- tensor block formats: dequantize, quantize, dot products; scalar + AVX2/AVX-512.
 *
 * Block layouts (those of ggml, little-endian, bit for bit; sizes in dtype.h):
 *   1. F32, F16 (IEEE binary16), BF16 (upper half of a binary32): one value each.
 *   2. Q8_0, 34 bytes / 32 values: f16 d; int8 qs[32].            x[j] = d * qs[j]
 *   3. Q4_0, 18 bytes / 32 values: f16 d; uint8 qs[16].
 *        x[j] = d * ((qs[j] & 15) - 8),  x[j + 16] = d * ((qs[j] >> 4) - 8)   (j < 16)
 *   4. Q4_K, 144 bytes / 256 values: f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128].
 *        Eight sub-blocks of 32 with a 6-bit scale sc[s] and a 6-bit min m[s] each:
 *          s < 4: sc = scales[s] & 63, m = scales[s + 4] & 63
 *          s >= 4: sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4,
 *                  m  = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4
 *        Bytes qs[32c .. 32c+31] hold sub-block 2c in their low and 2c+1 in their high nibbles;
 *        x = d * sc * q - dmin * m.
 *   5. Q5_K, 176 bytes: f16 d; f16 dmin; scales[12]; uint8 qh[32]; uint8 qs[128]: Q4_K plus a
 *        fifth bit: value 32s + l (l < 32) adds 16 when bit s of qh[l] is set.
 *   6. Q6_K, 210 bytes: uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d.  In each half h
 *        (128 values; ql += 64h, qh += 32h), for l < 32, with q - 32 taken:
 *          value l:      ql[l] & 15      | (qh[l] & 3) << 4          value l + 64: ql[l] >> 4 | ...
 *          value l + 32: ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4     value l + 96: ql[l + 32] >> 4
 *        (bits 4-5 and 6-7 of qh[l] for the last two); value v has scale scales[v / 16].
 *   7. Q8_K (activations only), 292 bytes: f32 d; int8 qs[256]; int16 bsums[16] (sums of 16 qs).
 *
 * Matrix-vector products follow llama.cpp's CPU backend: the activation vector is first brought
 * into the format paired with the weight type (quant_act_type()), then each row dot is integer
 * per block and scaled.  All functions are thread-safe once quant_init() has run (the other
 * entry points call it themselves; it is cheap after the first call).  n is always a multiple
 * of the block size of the types involved (checked with assert()).
 *
 * Alignment: weight rows need 2-byte alignment (f16 fields; GGUF's 32-byte data alignment and
 * even row sizes give it), activation rows 4 bytes (Q8_K starts with a float).  Values to be
 * quantized must be finite (an infinity or NaN has no 8-bit code); callers check.
 *
 * Accuracy of the SIMD kernels: the integer part of every block dot is exact; only the f32
 * accumulation order differs from the scalar reference: both stay within 4e-8 of
 * sum |w_i x_i| of the exact dot of the dequantized operands at n = 4096 (measured; the
 * tests allow 2e-6 for scalar and 1e-5 between levels). */
#ifndef MEMLLM_QUANT_H
#define MEMLLM_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/dtype.h"

/* ---- Blocks ------------------------------------------------------------------------------ */

#define QUANT_QK 32   /* values per Q8_0 / Q4_0 block */
#define QUANT_QK_K 256 /* values per K super-block */

struct quant_block_q8_0 {
    uint16_t d; /* f16 */
    int8_t qs[32];
};
struct quant_block_q4_0 {
    uint16_t d; /* f16 */
    uint8_t qs[16];
};
struct quant_block_q4_K {
    uint16_t d, dmin; /* f16 */
    uint8_t scales[12];
    uint8_t qs[128];
};
struct quant_block_q5_K {
    uint16_t d, dmin; /* f16 */
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct quant_block_q6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d; /* f16 */
};
struct quant_block_q8_K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};
_Static_assert(sizeof(struct quant_block_q8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(struct quant_block_q4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(struct quant_block_q4_K) == 144, "Q4_K block");
_Static_assert(sizeof(struct quant_block_q5_K) == 176, "Q5_K block");
_Static_assert(sizeof(struct quant_block_q6_K) == 210, "Q6_K block");
_Static_assert(sizeof(struct quant_block_q8_K) == 292, "Q8_K block");

/* The 6-bit scale and min of sub-block s (0..7) of a Q4_K/Q5_K scales[12] array. */
static inline void quant_k4_scale_min(int s, const uint8_t *scales, uint8_t *sc, uint8_t *m)
{
    if (s < 4) {
        *sc = scales[s] & 63;
        *m = scales[s + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4);
        *m = (uint8_t)((scales[s + 4] >> 4) | (scales[s] >> 6) << 4);
    }
}

/* All 8 scales (byte s of *sc = scale s) and mins of a Q4_K/Q5_K scales[12] array at once:
 * with w0 w1 w2 its three little-endian 32-bit words, scales 0-3 = w0 & 63 per byte,
 * mins 0-3 = w1 & 63, scales 4-7 = (w2 & 15) | (w0 >> 6 & 3) << 4, mins 4-7 =
 * (w2 >> 4 & 15) | (w1 >> 6 & 3) << 4 (the same as quant_k4_scale_min()). */
static inline void quant_k4_unpack(const uint8_t *scales, uint64_t *sc, uint64_t *m)
{
    uint32_t w[3];
    memcpy(w, scales, 12);
    uint32_t s_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
    *sc = (uint64_t)(w[0] & 0x3f3f3f3fu) | (uint64_t)s_hi << 32;
    *m = (uint64_t)(w[1] & 0x3f3f3f3fu) | (uint64_t)m_hi << 32;
}

/* ---- CPU level ------------------------------------------------------------------------- */

enum quant_cpu {
    QUANT_CPU_SCALAR = 0, /* portable C */
    QUANT_CPU_AVX2 = 1,   /* AVX2 + FMA + F16C */
    QUANT_CPU_AVX512 = 2, /* AVX-512 F/BW/VL + VNNI, plus the AVX2 set */
    QUANT_CPU_COUNT_
};

/* Detects the CPU and fills the kernel table once (pthread_once).  The environment variable
 * MEMLLM_CPU=scalar|avx2|avx512 caps the level (a level the CPU lacks is never used; any
 * other value is ignored). */
void quant_init(void);
enum quant_cpu quant_cpu_level(void);       /* the level in use */
const char *quant_cpu_level_name(void);     /* "scalar", "avx2" or "avx512"; static string */
bool quant_cpu_supported(enum quant_cpu l); /* whether this CPU can run level l */

/* ---- Scalar conversions (round to nearest even; NaN stays NaN, as ggml) --------------- */

float quant_fp16_to_fp32(uint16_t h);
uint16_t quant_fp32_to_fp16(float f);
float quant_bf16_to_fp32(uint16_t h);
uint16_t quant_fp32_to_bf16(float f);

/* ---- Rows ------------------------------------------------------------------------------- */

/* Whether t is a weight type this module handles: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K. */
bool quant_weight_supported(enum dtype t);

/* dst[0..n) = the values of a row of type t (the weight types above and Q8_K). */
void quant_dequantize_row(enum dtype t, const void *src, float *dst, size_t n);

/* Quantize a row of weights to type t (F16, BF16, F32 and the block types above), bit-exact
 * with ggml's reference quantizers (quantize_row_*_ref; no importance matrix). */
void quant_quantize_row(enum dtype t, const float *x, void *dst, size_t n);

/* ---- Activations -------------------------------------------------------------------------- */

/* The activation format paired with weight type wt, as in llama.cpp: Q8_0 for Q8_0 and Q4_0,
 * Q8_K for the K types, F16 for F16 and BF16 for BF16 (llama.cpp converts the activations
 * of 16-bit weights to the weight's format), F32 for F32. */
enum dtype quant_act_type(enum dtype wt);

/* Bytes of an activation row of n values for weight type wt (n a multiple of the paired
 * block size). */
size_t quant_act_row_bytes(enum dtype wt, size_t n);

/* x[0..n) into dst in the format paired with wt (quant_act_row_bytes(wt, n) bytes). */
void quant_quantize_act(enum dtype wt, const float *x, void *dst, size_t n);

/* Activation Q8_0 as llama.cpp's x86 CPU backend does it: per block amax = max |x|,
 * d = amax / 127 stored as f16, q = round-half-even(x * (127 / amax)) (0 when amax is 0). */
void quant_quantize_row_q8_0(const float *x, void *dst, size_t n);

/* Activation Q8_K (ggml's quantize_row_q8_K): max = the value of largest magnitude,
 * iscale = -127 / max, q = min(127, round-half-even(iscale * x)), d = 1 / iscale as f32,
 * bsums = sums of 16 consecutive q; an all-zero block gets d = 0 and q = 0. */
void quant_quantize_row_q8_K(const float *x, void *dst, size_t n);

/* The same at an explicit level (for tests and benchmarks); level must be supported.  Every
 * level gives the same bytes. */
void quant_quantize_act_at(enum quant_cpu level, enum dtype wt, const float *x, void *dst,
                           size_t n);

/* ---- Dot products ----------------------------------------------------------------------- */

/* Dot of a weight row of type wt with an activation row in quant_act_type(wt) format. */
float quant_vec_dot(enum dtype wt, size_t n, const void *w_row, const void *x_act);

/* y[r] = dot(row r of w, x_act) for r in [row_begin, row_end); rows are row_bytes apart.
 * Each y[r] is bit-identical to quant_vec_dot() on that row at the same CPU level, so how
 * callers split rows between threads never changes a result. */
void quant_matvec(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
                  size_t row_end, const void *x_act, float *y);

/* Several activation rows (tokens) at once, as for a prompt: for t < n_tok and r in
 * [row_begin, row_end), y[t * y_stride + r] = dot(row r of w, activation row t), where
 * activation row t starts act_stride bytes after row t - 1.  Weight blocks are unpacked
 * once for up to 4 tokens; each result is bit-identical to quant_matvec() on that token. */
void quant_matmul(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
                  size_t row_end, const void *x_act, size_t act_stride, size_t n_tok, float *y,
                  size_t y_stride);

/* The same at an explicit level (for tests and benchmarks); level must be supported. */
float quant_vec_dot_at(enum quant_cpu level, enum dtype wt, size_t n, const void *w_row,
                       const void *x_act);
void quant_matvec_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                     size_t n_in, size_t row_begin, size_t row_end, const void *x_act, float *y);
void quant_matmul_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                     size_t n_in, size_t row_begin, size_t row_end, const void *x_act,
                     size_t act_stride, size_t n_tok, float *y, size_t y_stride);

/* ---- Kernel table (internal to quant*.c; here so one header serves the module) ---------- */

typedef float (*quant_dot_fn)(size_t n, const void *w, const void *x);
typedef void (*quant_matmul_fn)(const void *w, size_t row_bytes, size_t n, size_t r0, size_t r1,
                                const void *x, size_t act_stride, size_t n_tok, float *y,
                                size_t y_stride);

typedef void (*quant_act_fn)(const float *x, void *dst, size_t n);

struct quant_kernels {
    quant_dot_fn dot[DTYPE_COUNT_];       /* NULL: the next lower level's */
    quant_matmul_fn matmul[DTYPE_COUNT_]; /* NULL: loops over dot */
    quant_act_fn act_q8_0, act_q8_K;      /* activation quantizers; NULL: the scalar ones */
};

/* One Q8_K block of 256 values, the scalar way (quant_quantize_row_q8_K()); for the SIMD
 * quantizers' rare blocks whose scale overflows. */
void quant_q8_K_block_scalar(const float *x, struct quant_block_q8_K *b);

/* Fill in the kernels of one level (defined in quant_avx2.c, quant_avx512.c). */
void quant_avx2_register(struct quant_kernels *k);
void quant_avx512_register(struct quant_kernels *k);

#endif /* MEMLLM_QUANT_H */
