/* qgemm -- prompt-batch matrix products through 8-bit integer dot products.
 *
 * Y[t][r] = sum over 32-value blocks b of  dw[r][b] * dy[t][b] * sum_k qw[r][k] * qy[t][k]
 * for Q8_0 or Q4_0 weights and Q8_0 activations: the arithmetic of quant_matmul() (exact
 * integer block sums, scaled in float), reorganized for many tokens.  A task takes
 * QGEMM_ROWS weight rows, re-lays them once into a panel in per-thread scratch (16 rows
 * interleaved per 4 values, so one 512-bit VNNI instruction multiplies 4 values of 16 rows
 * with 4 values of one token), then runs every token against the panel.  Each output is
 * accumulated over its blocks in order with one fused multiply-add per block, so the scalar
 * reference and the AVX-512 kernel agree bit for bit, and the result does not depend on how
 * rows are split between threads.
 *
 * The activation of one token is prepared once per product (qgemm_prepare_act()) from its
 * Q8_0 blocks: the block scales as floats, then the values offset by 128 as unsigned bytes
 * (the VNNI instruction multiplies unsigned by signed bytes; the panel carries the
 * correction 128 * sum(qw) per block). */
#ifndef MEMLLM_QGEMM_H
#define MEMLLM_QGEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/dtype.h"
#include "engine/quant.h"

#define QGEMM_ROWS 32 /* rows per task: task boundaries are multiples of this (or n_out) */

/* Whether qgemm computes products of weights of type wt (Q8_0, Q4_0). */
bool qgemm_supported(enum dtype wt);

/* Whether the CPU level in use has a kernel faster than dequantizing for BLAS. */
bool qgemm_fast(void);

/* Bytes of one token's prepared activation (n_in a multiple of 32), rounded up to 64. */
size_t qgemm_act_bytes(size_t n_in);

/* One token: its n_in Q8_0-quantized values (quant_quantize_act() of a Q8_0 or Q4_0
 * weight) into dst, qgemm_act_bytes(n_in) bytes, 64-byte aligned for the fast kernel. */
void qgemm_prepare_act(const void *x_q8_0, size_t n_in, void *dst);

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
