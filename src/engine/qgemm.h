/* qgemm -- prompt-batch matrix products through 8-bit integer dot products.
 *
 * Y[t][r] = sum over 32-value blocks b of  dw[r][b] * dy[t][b] * sum_k qw[r][k] * qy[t][k]
 *                                        + mw[r][b] * dy[t][b] * sum_k qy[t][k]
 * for Q8_0 or Q4_0 weights with Q8_0 activations and Q4_K/Q5_K weights with Q8_K activations
 * (dw = d * scale of the sub-block, mw = -dmin * min; mw = 0 for the others), and Q6_K
 * with Q8_K, whose 16-value sub-blocks make two such terms per block (no mw): exact
 * integer block sums, scaled in float, as quant_matmul() computes, organized for many
 * tokens.  A task takes
 * QGEMM_ROWS weight rows, re-lays them once into a panel in per-thread scratch (16 rows
 * interleaved per 4 values, so one 512-bit VNNI instruction multiplies 4 values of 16 rows
 * with 4 values of one token), then runs every token against the panel.  Each output is
 * accumulated over its blocks in order with one fused multiply-add per block, so the scalar
 * reference and the AVX-512 kernel agree bit for bit, and the result does not depend on how
 * rows are split between threads.
 *
 * The activation of one token is prepared once per product (qgemm_prepare_act()) from its
 * Q8_0 or Q8_K blocks: per 32 values the scale and the scaled sum as floats, then the
 * values offset by 128 as unsigned bytes
 * (the VNNI instruction multiplies unsigned by signed bytes; the panel carries the
 * correction 128 * sum(qw) per block). */
#ifndef MEMLLM_QGEMM_H
#define MEMLLM_QGEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/dtype.h"
#include "engine/quant.h"

#define QGEMM_ROWS 32 /* rows per task: task boundaries are multiples of this (or n_out) */

/* Whether qgemm computes products of weights of type wt (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K). */
bool qgemm_supported(enum dtype wt);

/* Whether the CPU level in use has a kernel faster than dequantizing for BLAS. */
bool qgemm_fast(void);

/* Bytes of one token's prepared activation (n_in a multiple of 32), rounded up to 64. */
size_t qgemm_act_bytes(size_t n_in);

/* One token: its n_in values as quant_quantize_act(wt, ...) made them (Q8_0 or Q8_K) into
 * dst, qgemm_act_bytes(n_in) bytes, 64-byte aligned for the fast kernel. */
void qgemm_prepare_act(enum dtype wt, const void *x_act, size_t n_in, void *dst);

/* Bytes of per-thread scratch one call needs for rows of n_in values. */
size_t qgemm_scratch_bytes(size_t n_in);

/* y[t * y_stride + r] for rows [row_begin, row_end) and tokens [0, n_tok); act holds the
 * prepared tokens act_stride bytes apart; scratch is qgemm_scratch_bytes(n_in) bytes,
 * 64-byte aligned, private to the caller. */
void qgemm_run(enum dtype wt, const void *w, size_t row_bytes, size_t n_in, size_t row_begin,
               size_t row_end, const void *act, size_t act_stride, size_t n_tok, float *y,
               size_t y_stride, void *scratch);

/* The same at a given CPU level (tests compare the scalar reference with the kernel); a
 * level without a kernel of its own computes with the scalar one. */
void qgemm_run_at(enum quant_cpu level, enum dtype wt, const void *w, size_t row_bytes,
                  size_t n_in, size_t row_begin, size_t row_end, const void *act,
                  size_t act_stride, size_t n_tok, float *y, size_t y_stride, void *scratch);

#endif
