/* model.h -- Mistral/Llama forward pass over GGUF weights (arch "llama"), with a KV cache.
 *
 * The math is that of llama.cpp for arch "llama" (see shared/golden/README.md section 3):
 *   x = token_embd[token]
 *   per layer: h = rmsnorm(x) * attn_norm; q, k, v = Wq h, Wk h, Wv h;
 *              q, k rotated by RoPE on adjacent pairs (x[2i], x[2i+1]) of each head;
 *              query head j reads kv head j / (n_head / n_head_kv) (GQA);
 *              a = softmax(q.k / sqrt(hd) + causal mask [+ sliding window]) v;
 *              x += Wo a; h = rmsnorm(x) * ffn_norm; x += Wdown(silu(Wgate h) * Wup h)
 *   logits = Woutput (rmsnorm(x) * output_norm)      (Woutput = token_embd when absent)
 * Quantized weights multiply activations quantized the way llama.cpp does (Q8_0 or Q8_K,
 * see quant.h); F32 weights use f32 math (OpenBLAS sgemm for batches).
 *
 * Weights stay in the GGUF mapping (never copied): the struct gguf must outlive the model.
 * The KV cache and all scratch are allocated by model_open(); evaluation allocates nothing.
 *
 * Context and positions: the cache holds positions 0 .. model_n_past()-1.  model_eval()
 * at pos < n_past first forgets positions >= pos (rewind), so a caller may re-evaluate
 * from any earlier point.  When pos + n would pass n_ctx the call fails with
 * STATUS_CONTEXT_FULL; model_shift() then frees room (see there). */
#ifndef MEMLLM_MODEL_H
#define MEMLLM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct gguf;
struct lora_set;

/* MODEL_WEIGHTS_AUTO: copy the tensor data into memory backed by transparent huge pages
 * when the kernel offers them and the copy takes at most 3/4 of physical memory, else
 * (or when the copy cannot be allocated) read it through the file mapping.  Generation
 * reads every weight once per token; in huge pages it reaches several percent more of
 * the memory bandwidth.  MAPPED: always read through the mapping (no copy: the fastest
 * start, and processes share the page cache).  COPY: always copy (STATUS_NOMEM when
 * impossible), even without huge pages. */
enum model_weights { MODEL_WEIGHTS_AUTO, MODEL_WEIGHTS_MAPPED, MODEL_WEIGHTS_COPY };

/* Options for model_open(); start from model_params_init(). */
struct model_params {
    size_t n_ctx;       /* context length in tokens; 0 = the file's context_length, at most
                         * 4096 (the KV cache takes n_layer * n_ctx * 2 * kv_dim values) */
    size_t n_batch;     /* most tokens evaluated in one pass (longer batches are cut); 0 = 512 */
    int n_threads;      /* 0 = one per online core */
    bool kv_f16;        /* store K and V as IEEE f16 instead of f32 (half the memory) */
    /* Sliding-window attention: 0 = as the file says (<arch>.attention.sliding_window,
     * none when absent), < 0 = off, > 0 = this window (a query at position p sees keys at
     * positions p - window + 1 .. p).  llama.cpp applies none for arch "llama". */
    int64_t sliding_window;
    /* Passes of at least this many tokens multiply quantized weights as batch products:
     * Q8_0 and Q4_0 weights through qgemm's int8 panels where the CPU has AVX-512 VNNI
     * (the integer kernels' arithmetic, organized for many tokens), other types as BLAS
     * products of dequantized weight blocks with the dequantized 8-bit activations.  The
     * activations are still quantized exactly as llama.cpp does (the step that decides
     * the results), only the f32 summation order changes (~1e-6), and long prompts run
     * faster.  0 = the defaults (6 tokens for the int8 panels, 64 for BLAS); SIZE_MAX =
     * never (always the integer kernels). */
    size_t quant_blas_min;
    /* LoRA adapters applied at run time (y = W x + scale B (A x), see lora.h); borrowed, must
     * outlive the model; NULL = none.  Every tensor the set targets must be one the model
     * uses, with the same shape (else STATUS_INVALID). */
    const struct lora_set *lora;
    /* Where the weights live while the model runs (see wmem.h). */
    enum model_weights weights;
};

void model_params_init(struct model_params *p);

struct model; /* opaque */

/* Read hyper-parameters and locate every tensor by name, checking shapes and types.
 * STATUS_FORMAT / STATUS_UNSUPPORTED / STATUS_NOT_FOUND with a detail naming the key or
 * tensor; STATUS_NOMEM for the cache.  g is borrowed for the model's lifetime.  *out is
 * set only on success; free with model_close(). */
enum status model_open(const struct gguf *g, const struct model_params *p, struct model **out);
void model_close(struct model *m); /* NULL is a no-op */

/* Evaluate tokens[0..n) at positions pos .. pos+n-1 (causal; pos <= model_n_past()).
 * logits (may be NULL): with all_logits, n rows of model_n_vocab() floats (row r for
 * position pos+r); otherwise one row, for the last token.  STATUS_INVALID for a token out
 * of range or pos > n_past, STATUS_CONTEXT_FULL when pos + n > n_ctx (nothing changed in
 * these cases); STATUS_CANCELLED (see model_set_abort()); STATUS_FORMAT when activations
 * became NaN or infinite (damaged weights).  Results do not depend on the thread count. */
enum status model_eval(struct model *m, const int32_t *tokens, size_t n, size_t pos,
                       float *logits, bool all_logits);

/* Text embedding (used by the agent's model-based embedder): evaluate tokens[0..n) from
 * position 0 (the cache is overwritten: it then holds these n positions) and write to
 * out[0..model_n_embd()) the mean over positions n_skip .. n-1 (all of them when
 * n_skip >= n; use n_skip 1 to leave out a BOS) of the final hidden state as the output
 * head sees it (after the output RMSNorm, before the output matrix), L2-normalized.
 * Errors as model_eval() (STATUS_INVALID also for n == 0). */
enum status model_embed(struct model *m, const int32_t *tokens, size_t n, size_t n_skip,
                        float *out);

/* Cancellation: model_eval() calls abort_cb(user) before each layer of each pass and, when
 * it returns true, stops with STATUS_CANCELLED; the cache then holds the positions of the
 * passes that finished (model_n_past()).  abort_cb NULL removes the hook.  The callback runs
 * on the evaluating thread and must be cheap (read a flag). */
void model_set_abort(struct model *m, bool (*abort_cb)(void *user), void *user);

/* Forget the whole cache (n_past = 0). */
void model_reset(struct model *m);

/* Context shift (as llama.cpp's): keep positions 0 .. n_keep-1, drop the next n_discard
 * positions and move the rest down by n_discard.  Cached keys are re-rotated by -n_discard
 * positions (RoPE rotations compose, so a key rotated for position p becomes the key for
 * p - n_discard without recomputing; values carry no position).  Nothing is re-evaluated:
 * the moved entries were computed while the dropped tokens were visible, so the result is
 * close to, not equal to, evaluating the shortened text afresh (equal up to rounding for a
 * one-layer model).  The following tokens continue at position model_n_past().
 * n_discard 0 = half of what follows n_keep.  STATUS_INVALID when n_keep + n_discard >
 * n_past. */
enum status model_shift(struct model *m, size_t n_keep, size_t n_discard);

size_t model_n_past(const struct model *m);
size_t model_n_ctx(const struct model *m);
size_t model_n_vocab(const struct model *m);
size_t model_n_embd(const struct model *m);
size_t model_n_layer(const struct model *m);
size_t model_n_head(const struct model *m);
size_t model_n_head_kv(const struct model *m);
size_t model_n_ff(const struct model *m);
size_t model_n_params(const struct model *m); /* weights, counted in values */
int model_n_threads(const struct model *m);
int64_t model_sliding_window(const struct model *m); /* 0 = none */
bool model_output_tied(const struct model *m);       /* output.weight absent */
/* Bytes of tensor data copied out of the file (0 = read through the mapping), and how
 * many of them the kernel backs with huge pages now. */
size_t model_weights_copied(const struct model *m);
size_t model_weights_huge(const struct model *m);

#endif /* MEMLLM_MODEL_H */
