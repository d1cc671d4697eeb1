/* train.h -- training of Mistral/Llama models on the CPU: forward with saved activations,
 * backward pass, AdamW with warm-up + cosine schedule, checkpoints as GGUF.
 *
 * The forward math is exactly that of model.h (shared/golden/README.md section 3):
 * RMSNorm with eps, adjacent-pair RoPE with ggml's running-product theta, grouped-query
 * causal attention, SwiGLU, untied output head.  Every matrix product runs through
 * OpenBLAS cblas_sgemm over blocks of the batch x sequence rows.  Threads: the model's own
 * worker pool (train_model_set_threads()) runs everything, BLAS calls included, in fixed
 * parts (rows, output rows of a weight gradient, (sequence, kv head) pairs of attention);
 * OpenBLAS itself is set to one thread (pool.h), so the two never fight for cores.
 * Partial sums are added in part order: results are bit-identical for a given thread
 * count.
 *
 * A batch is n_seq rows of seq_len tokens.  Each row may hold several examples packed one
 * after another: pos[] restarts at 0 where an example starts, and a token at index t of a
 * row attends only to indices t - pos[t] .. t (block-diagonal causal mask).  targets[] is
 * the token to predict at each index, or -1 for none (the loss mask).  The loss is the
 * mean cross-entropy over the tokens with a target.
 *
 * Parameters and gradients are F32 arrays owned by the struct train_model; a tensor is
 * addressed by (enum train_tensor, layer).  Matrices are stored as in GGUF: (n_out, n_in)
 * row-major, i.e. ne0 = n_in.  LoRA (later work) can reuse forward/backward through
 * struct train_hook: it is called after every linear product y = x W^T with x and y, and
 * in the backward pass with dy and x, so a low-rank delta can add to y and collect its own
 * gradients (and add its part of dx).
 *
 * Weight decay (AdamW, decoupled: w -= lr * wd * w) is applied by default only to the
 * matrices of the linear layers (attention, feed-forward, output head), not to the norm
 * weights and not to the token embedding (struct train_opt_params.decay_embd/decay_norm). */
#ifndef MEMLLM_TRAIN_H
#define MEMLLM_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct gguf;
struct gguf_writer;

/* Hyper-parameters of a model. */
struct train_config {
    size_t n_vocab, dim, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float norm_eps;  /* RMSNorm epsilon (default 1e-5) */
    float rope_base; /* RoPE frequency base (default 10000) */
};

/* Parameter tensors.  Per-layer kinds take a layer index, the others ignore it. */
enum train_tensor {
    TRAIN_TENSOR_TOK_EMBD,    /* (n_vocab, dim) */
    TRAIN_TENSOR_ATTN_NORM,   /* (dim) per layer */
    TRAIN_TENSOR_ATTN_Q,      /* (n_head*hd, dim) */
    TRAIN_TENSOR_ATTN_K,      /* (n_head_kv*hd, dim) */
    TRAIN_TENSOR_ATTN_V,      /* (n_head_kv*hd, dim) */
    TRAIN_TENSOR_ATTN_OUTPUT, /* (dim, n_head*hd) */
    TRAIN_TENSOR_FFN_NORM,    /* (dim) */
    TRAIN_TENSOR_FFN_GATE,    /* (n_ff, dim) */
    TRAIN_TENSOR_FFN_UP,      /* (n_ff, dim) */
    TRAIN_TENSOR_FFN_DOWN,    /* (dim, n_ff) */
    TRAIN_TENSOR_OUTPUT_NORM, /* (dim) */
    TRAIN_TENSOR_OUTPUT,      /* (n_vocab, dim) */
    TRAIN_TENSOR_COUNT_
};

/* Fills norm_eps and rope_base with their defaults and zeroes the sizes. */
void train_config_init(struct train_config *c);

/* Optional per-linear-layer hook (for LoRA).  kind is the weight's tensor kind; x is
 * (n, n_in), y (n, n_out).  fwd adds to y; bwd receives dy and x and may add to dx. */
struct train_hook {
    void *ctx;
    void (*fwd)(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                size_t n_in, float *y, size_t n_out);
    void (*bwd)(void *ctx, enum train_tensor kind, size_t layer, size_t n, const float *x,
                size_t n_in, const float *dy, size_t n_out, float *dx);
};

/* One batch; all arrays have n_seq * seq_len elements and are borrowed. */
struct train_batch {
    size_t n_seq, seq_len;
    const int32_t *tokens;  /* input ids */
    const int32_t *targets; /* id to predict at each index, -1 = no loss */
    const int32_t *pos;     /* position inside its example: 0 where one starts, then +1 */
};

struct train_model; /* opaque: parameters, gradients, Adam moments, activations */

/* A model with parameters drawn from a seeded normal generator (splitmix64 + Box-Muller):
 * token_embd std 1, attn_q/k std 1.2/sqrt(dim) scaled down, ... see train.c; norms 1.
 * STATUS_INVALID for sizes that do not fit (heads, even head size).  Free with
 * train_model_free(). */
enum status train_model_new(const struct train_config *c, uint64_t seed, struct train_model **out);
/* The weights of a GGUF model (arch llama/mistral; any type quant.h dequantizes), as F32.
 * n_ctx 0 = the file's context length.  A tied output head becomes an untied copy. */
enum status train_model_from_gguf(const struct gguf *g, size_t n_ctx, struct train_model **out);
/* A frozen base for LoRA over g's weights as they are stored (any type quant.h
 * dequantizes; F32 included): the matrices and the token embedding stay in g, which is
 * borrowed and must outlive m; only the norm weights are copied to F32.  Every product
 * dequantizes W a chunk of rows at a time into a scratch of about 4 MiB and runs sgemm on
 * it, for y = x W^T and for dx = dy W alike, so no F32 copy of the model is ever made.
 * The model is frozen for good (train_set_frozen(false) has no effect); train_param() and
 * train_grad() of a matrix give NULL and *n = 0; train_add_to_writer() and
 * train_load_opt() give STATUS_UNSUPPORTED.  A tied output head reads token_embd. */
enum status train_model_from_gguf_quant(const struct gguf *g, size_t n_ctx,
                                        struct train_model **out);
bool train_model_is_quant(const struct train_model *m);
void train_model_free(struct train_model *m); /* NULL is a no-op */

const struct train_config *train_model_config(const struct train_model *m);
/* Number of parameters in total, and without the token embedding ("N" of 6N). */
size_t train_model_n_params(const struct train_model *m);
size_t train_model_n_params_nonembd(const struct train_model *m);

/* Parameter / gradient array of a tensor (borrowed from m) and its element count. */
float *train_param(struct train_model *m, enum train_tensor t, size_t layer, size_t *n);
float *train_grad(struct train_model *m, enum train_tensor t, size_t layer, size_t *n);
/* GGUF name of a tensor ("blk.3.attn_q.weight") into buf. */
void train_tensor_name(enum train_tensor t, size_t layer, char *buf, size_t cap);

void train_set_hook(struct train_model *m, const struct train_hook *h); /* NULL = none */
/* Frozen base weights (LoRA): train_backward() still computes every activation gradient
 * and calls the hook, but adds nothing to the model's own gradients, and
 * train_opt_step() only counts the step. */
void train_set_frozen(struct train_model *m, bool frozen);
/* Threads for m's work (0 = one per online core; default 1).  STATUS_NOMEM/INVALID. */
enum status train_model_set_threads(struct train_model *m, int n_threads);
int train_model_threads(const struct train_model *m);
/* Run fn over [0, n) cut into m's fixed parts on m's threads (a hook's own work); parts
 * are the same for a given thread count, so results stay reproducible. */
void train_model_par_run(struct train_model *m, size_t n,
                         void (*fn)(void *ctx, size_t begin, size_t end, size_t part), void *ctx);

/* Forward only: sum of the cross-entropy over tokens with a target into *loss_sum and
 * their count into *n_loss (either may be NULL).  logits (may be NULL): n_seq*seq_len rows
 * of n_vocab.  STATUS_INVALID for a token or target out of range, bad pos, or seq_len >
 * n_ctx. */
enum status train_forward(struct train_model *m, const struct train_batch *b, double *loss_sum,
                          size_t *n_loss, float *logits);
/* Forward and backward: ADDS grad_scale * d(sum of losses)/d(param) to the gradients
 * (grad_scale = 1 / (tokens with a target over all accumulated batches) gives the mean).
 * loss_sum / n_loss as for train_forward(). */
enum status train_backward(struct train_model *m, const struct train_batch *b, float grad_scale,
                           double *loss_sum, size_t *n_loss);
void train_zero_grad(struct train_model *m);

/* ---- Optimizer ----------------------------------------------------------------------- */

struct train_opt_params {
    float lr;          /* peak learning rate */
    float lr_min;      /* floor of the cosine decay */
    size_t warmup;     /* linear warm-up steps (from lr/warmup at step 1 to lr) */
    size_t total;      /* steps of the whole run (cosine reaches lr_min there) */
    float beta1, beta2, eps;
    float weight_decay;
    bool decay_embd, decay_norm; /* defaults false */
    float clip;        /* global gradient-norm clip; 0 = none */
};

/* lr 1e-3, lr_min 1e-4, warmup 100, total 1000, betas 0.9/0.95, eps 1e-8, wd 0.1,
 * clip 1.0. */
void train_opt_params_init(struct train_opt_params *p);
/* Learning rate at step (1-based): step/warmup*lr during warm-up, then cosine from lr
 * down to lr_min at `total`, lr_min after. */
float train_lr(const struct train_opt_params *p, size_t step);
/* One AdamW step with the current gradients (clipped first); returns the gradient norm
 * before clipping in *grad_norm (may be NULL).  Increments the step counter. */
void train_opt_step(struct train_model *m, const struct train_opt_params *p, float *grad_norm);
size_t train_model_step(const struct train_model *m); /* optimizer steps taken */

/* ---- LoRA finetuning (train_lora.c) ---------------------------------------------------
 *
 * Low-rank adapters (Hu et al. 2021) on a frozen base (train_model_from_gguf_quant() or any
 * model; train_lora_new() freezes it): for each targeted linear layer W (n_out, n_in),
 *   y = W x + (alpha / r) B (A drop(x)),   A (r, n_in), B (n_out, r),
 * with drop() inverted dropout on the adapter's input while training (probability
 * dropout, kept values scaled by 1 / (1 - dropout)), as in PEFT.  A starts uniform in
 * +-1/sqrt(n_in) (seeded), B at zero, so the untrained adapter changes nothing: the
 * logits are bit-identical to the base's.  Only A and B have gradients and AdamW state;
 * the hook is struct train_hook, so train_forward()/train_backward() drive everything.
 * The dropout mask is a hash of (seed, round, layer, element): train_lora_set_training()
 * names the round (the micro-batch number), so a resumed run draws the same masks. */
struct train_lora; /* opaque */

struct train_lora_params {
    size_t rank;      /* r (default 16) */
    float alpha;      /* the adapter's output is scaled by alpha / r (default 32) */
    float dropout;    /* [0, 1) on the adapter input while training (default 0.05) */
    unsigned targets; /* bit (1u << enum train_tensor) per targeted kind (default q,k,v,o) */
    uint64_t seed;    /* A's initialization and the dropout masks */
};

/* rank 16, alpha 32, dropout 0.05, targets q,k,v,o, seed 1. */
void train_lora_params_init(struct train_lora_params *p);
/* "q,k,v,o,gate,up,down,output" (any subset, any order; "all" = all eight) into a target
 * mask.  STATUS_USAGE with a detail naming a bad item. */
enum status train_lora_targets_parse(const char *s, unsigned *mask);

/* Adapters on every targeted layer of m; installs the hook and freezes m (borrowed: m must
 * outlive the adapter and gets no other hook).  STATUS_INVALID for rank 0, a rank above
 * min(n_in, n_out) of a target, dropout outside [0, 1), no targets or the token embedding
 * as a target.  Free with train_lora_free() (which removes the hook). */
enum status train_lora_new(struct train_model *m, const struct train_lora_params *p,
                           struct train_lora **out);
void train_lora_free(struct train_lora *l); /* NULL is a no-op */

/* Dropout on (training, with masks of that round) or off (evaluation; the default). */
void train_lora_set_training(struct train_lora *l, bool training, uint64_t round);
/* Scratch for micro-batches of up to n_tokens tokens (otherwise grown on first use).
 * STATUS_NOMEM. */
enum status train_lora_reserve(struct train_lora *l, size_t n_tokens);
/* STATUS_NOMEM when a hook call could not grow its scratch since the last call (that
 * call then added nothing); clears the flag. */
enum status train_lora_status(struct train_lora *l);

size_t train_lora_n_params(const struct train_lora *l);
/* A (which 0) or B (which 1) of a target, and its gradient: borrowed from l; NULL when
 * (kind, layer) is not targeted.  *n gets the element count. */
float *train_lora_param(struct train_lora *l, enum train_tensor kind, size_t layer, int which,
                        size_t *n);
float *train_lora_grad(struct train_lora *l, enum train_tensor kind, size_t layer, int which,
                       size_t *n);
void train_lora_zero_grad(struct train_lora *l);
/* One AdamW step on A and B (clipping by p->clip first, weight decay p->weight_decay on
 * both), with train_lr(p, step); *grad_norm (may be NULL) before clipping.  Also counts the
 * base model's step. */
void train_lora_opt_step(struct train_lora *l, const struct train_opt_params *p,
                         float *grad_norm);
size_t train_lora_step(const struct train_lora *l);

/* An adapter file in llama.cpp's layout (see lora.h): general.architecture = arch,
 * general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per target
 * "<W>.lora_a" dims [n_in, r] and "<W>.lora_b" dims [r, n_out] (F32).  With optimizer
 * state (a checkpoint: not loadable with --lora) also "train.m.<...>"/"train.v.<...>",
 * train.step, train.lora.rank/targets/dropout/seed.  Data borrowed from l until the write. */
enum status train_lora_add_to_writer(struct train_lora *l, struct gguf_writer *w,
                                     const char *arch, bool with_opt);
/* A and B (and, when g has them, the Adam moments and step) from an adapter or checkpoint
 * written by train_lora_add_to_writer() for the same base and targets.  STATUS_FORMAT
 * naming a missing or malformed tensor; STATUS_INVALID for another alpha or rank. */
enum status train_lora_load(struct train_lora *l, const struct gguf *g);

/* ---- Files --------------------------------------------------------------------------- */

/* Add llama.* hyper-parameter keys and every weight tensor (F32) to w; the data stays
 * borrowed from m until the write.  With optimizer state, also the Adam moments as
 * tensors "train.m.<name>" / "train.v.<name>" and the key train.step. */
enum status train_add_to_writer(struct train_model *m, struct gguf_writer *w, bool with_opt);
/* Load the Adam moments and step written by train_add_to_writer(with_opt) from g into m
 * (whose weights came from the same file via train_model_from_gguf()).  STATUS_NOT_FOUND
 * when g has no optimizer state. */
enum status train_load_opt(struct train_model *m, const struct gguf *g);

/* ---- Data ----------------------------------------------------------------------------
 *
 * JSON lines, one example per line:
 *   {"text": "...", "loss_from": CHARS}  loss on the text from that character (code point)
 *                                        offset on; loss_from absent = the whole text
 *   {"text": "...", "loss_spans": [[BEGIN, END], ...]}   loss only inside the spans:
 *                                        character (code point) ranges [BEGIN, END) of the
 *                                        text (src/agent/traindata.c writes them for read
 *                                        examples, leaving out the results memory supplies);
 *                                        with loss_spans, loss_from is ignored
 *   {"prompt": "...", "completion": "..."}   loss on the completion only
 * loss_spans are placed on the tokens by the bytes each token spells (its piece, U+2581 as
 * a space, a byte token as its byte, the tokenizer's dummy leading space as nothing): a
 * token learns only when ALL its bytes lie inside one span, so a token that straddles a
 * span's edge gets no loss (a memory result merged into the token before it is never
 * learned); a token that spells nothing learns when its position is inside a span; EOS
 * learns when a non-empty span reaches the end of the text.  A text that its tokens do
 * not spell exactly (an <unk>, no byte fallback) is an error when it has loss_spans.
 * Each example is tokenized whole (BOS prepended, EOS appended), so the tokens are exactly
 * those of the full text; the loss starts at the first token that differs from the
 * tokenization of the text before the offset (a token that spans the boundary gets
 * loss).  Examples are packed in a seeded random order into rows of seq_len tokens, each
 * into the first of the last 64 rows with room (examples longer than a row are cut);
 * the rest of a row is padding without loss.  Rows are served in a fresh seeded order
 * every epoch, so the batch at a given step depends only on the data, the seed and the
 * step (this is what makes resuming exact). */
struct tok;
struct train_data; /* opaque */

struct train_data_stats {
    size_t n_examples, n_rows, n_tokens, n_loss_tokens;
    size_t n_truncated; /* examples cut to seq_len */
    size_t n_skipped;   /* examples without any token to learn */
};

/* Parse and tokenize text[0..len) (JSON lines).  holdout in [0, 1): that fraction of the
 * examples (chosen by the seed) goes to *held_out instead (NULL when holdout is 0; pass
 * held_out NULL to keep all).  STATUS_PARSE / STATUS_FORMAT with a detail "line N: ...".
 * Free both with train_data_free(). */
enum status train_data_from_text(const char *text, size_t len, struct tok *t, size_t seq_len,
                                 double holdout, uint64_t seed, struct train_data **out,
                                 struct train_data **held_out);
/* The same for a file (the detail names it). */
enum status train_data_load(const char *path, struct tok *t, size_t seq_len, double holdout,
                            uint64_t seed, struct train_data **out, struct train_data **held_out);
void train_data_free(struct train_data *d); /* NULL is a no-op */
void train_data_stats(const struct train_data *d, struct train_data_stats *out);

/* Fill b (with the caller's arrays of n_seq * seq_len elements each) with rows
 * first_row .. first_row + n_seq - 1 of the endless epoch-shuffled row sequence.  Row
 * index r of epoch e is permuted with a generator seeded by (seed, e).  STATUS_NOMEM. */
enum status train_data_batch(struct train_data *d, uint64_t first_row, size_t n_seq,
                             int32_t *tokens, int32_t *targets, int32_t *pos,
                             struct train_batch *b);
/* Rows in order, without shuffling (for evaluation): row index < n_rows. */
void train_data_row(const struct train_data *d, size_t row, int32_t *tokens, int32_t *targets,
                    int32_t *pos);
size_t train_data_seq_len(const struct train_data *d);

#endif /* MEMLLM_TRAIN_H */
