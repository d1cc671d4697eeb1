/* lora.h -- LoRA adapters in llama.cpp's adapter GGUF layout: load, check against a base
 * model, apply at run time, merge into a new model file.
 *
 * Layout of an adapter file (a GGUF file, see gguf.h):
 *   1. general.type = "adapter", adapter.type = "lora" (string keys)
 *   2. general.architecture: must equal the base model's
 *   3. adapter.lora.alpha (f32; f64 and integers are accepted too; absent means 0)
 *   4. for each targeted base tensor W with dims [n_in, n_out] (ne0 first: n_out rows of
 *      n_in values), two tensors of at most 2 dims:
 *        "<W>.lora_a" dims [n_in, r]   (A as a row-major r x n_in matrix)
 *        "<W>.lora_b" dims [r, n_out]  (B as a row-major n_out x r matrix)
 *      and the change to W (as an n_out x n_in matrix) is  dW = B A.
 *      Exception, as in llama.cpp: a name ending in "token_embd.weight" (dims
 *      [n_embd, n_vocab]) has A dims [r, n_vocab] and B dims [r, n_embd], and
 *      dW[t][e] = sum_k A[t][k] B[e][k].
 *   5. tensors named "*_norm.weight" may be present; they are ignored (llama.cpp does too).
 *      Any other tensor is an error.  A and B are F32, F16, BF16 or Q8_0.
 *
 * The delta added is scale * dW with scale = user_scale * alpha / r, or user_scale when alpha
 * is 0 (llama.cpp's rule; r is the rank of that tensor's pair).  At run time a layer y = W x
 * becomes y = W x + scale * B (A x), which costs r (n_in + n_out) per token instead of
 * n_in n_out.
 *
 * Hook for a forward pass (model.c): look every weight up once when the set is attached
 * (d = lora_find(set, "blk.<l>.attn_q.weight"), ...; NULL when not targeted), allocate
 * lora_set_scratch_floats(set, n_batch) floats, and right after each product y = W x of a
 * batch call lora_apply(d, x, n_tokens, y, scratch) with the same x and y (contiguous rows).
 * After the embedding lookup call lora_apply_rows(d_embd, tokens, n_tokens, x); for a tied
 * output layer use token_embd.weight's delta with lora_apply() like any other weight.
 *
 * Errors are STATUS_FORMAT (not an adapter, broken pairs, rank mismatch between A and B),
 * STATUS_UNSUPPORTED (adapter.type other than lora, a tensor type other than the four above),
 * STATUS_NOT_FOUND (a target tensor the base lacks) and STATUS_INVALID (architecture or
 * shape mismatch against the base), with a status_detail() naming the tensor or key. */
#ifndef MEMLLM_LORA_H
#define MEMLLM_LORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "util/status.h"

struct gguf;

/* ---- One adapter file ---------------------------------------------------------------- */

struct lora; /* opaque */

/* Open and validate an adapter file (see the layout above).  *out only on success; close
 * it with lora_close(). */
enum status lora_open(const char *path, struct lora **out);
/* The same over an opened GGUF, which is borrowed and must outlive the adapter. */
enum status lora_open_gguf(const struct gguf *g, struct lora **out);
void lora_close(struct lora *l); /* NULL is a no-op */

/* Check l against a base model: the same general.architecture, every target present in
 * base with n_dims <= 2 and the dims the pair implies.  STATUS_INVALID / STATUS_NOT_FOUND
 * with a detail naming the tensor. */
enum status lora_check_base(const struct lora *l, const struct gguf *base);

const char *lora_arch(const struct lora *l); /* borrowed until lora_close() */
float lora_alpha(const struct lora *l);      /* 0 when the file has none */
size_t lora_n_targets(const struct lora *l); /* tensor pairs, sorted by base tensor name */
size_t lora_n_ignored(const struct lora *l); /* "*_norm.weight" tensors skipped */
/* Target i (< lora_n_targets()): base tensor name (borrowed until lora_close()), rank and the
 * base tensor's shape (n_in = its ne0, n_out = its ne1). */
const char *lora_target_name(const struct lora *l, size_t i);
size_t lora_target_rank(const struct lora *l, size_t i);
size_t lora_target_n_in(const struct lora *l, size_t i);
size_t lora_target_n_out(const struct lora *l, size_t i);

/* ---- "--lora FILE[:SCALE]" ------------------------------------------------------------- */

struct lora_spec {
    char *path;  /* owned; free with lora_spec_clear() */
    float scale; /* user scale; 1 when not given */
};

/* Split arg at its last ':' into FILE and SCALE, unless the text after that ':' contains a
 * '/' (then it is part of the path: "dir:1/a.gguf").  SCALE is a finite decimal number
 * (negative allowed: it subtracts the adapter).  A path that itself has a ':' is written
 * with an explicit scale: "a:b.gguf:1".  STATUS_USAGE (detail says why) for an empty path or
 * a bad scale ("a.gguf:", "a.gguf:x", "a.gguf:nan"); *out is set only on success. */
enum status lora_spec_parse(const char *arg, struct lora_spec *out);
void lora_spec_clear(struct lora_spec *s); /* frees path; NULL path is fine */

/* ---- Run-time application ------------------------------------------------------------ */

/* A set of adapters with their scales, each pair converted to F32 once when added, so that
 * applying allocates nothing.  Self-contained: adapters added may be closed afterwards. */
struct lora_set;   /* opaque */
struct lora_delta; /* opaque: all adapters' changes to one base tensor; borrowed from the set */

enum status lora_set_new(struct lora_set **out);
void lora_set_free(struct lora_set *s); /* NULL is a no-op; invalidates every lora_delta */

/* Add every pair of l with the given user scale.  Two adapters may target the same tensor
 * (their deltas add up); their shapes must agree (STATUS_INVALID).  l is not checked
 * against a base here: call lora_check_base() first, or use lora_set_load(). */
enum status lora_set_add(struct lora_set *s, const struct lora *l, float user_scale);
/* Open spec->path, check it against base, add it with spec->scale and close it again.
 * The detail of a failure names the file. */
enum status lora_set_load(struct lora_set *s, const struct lora_spec *spec,
                          const struct gguf *base);

size_t lora_set_n_adapters(const struct lora_set *s);
size_t lora_set_n_tensors(const struct lora_set *s); /* distinct base tensors targeted */
size_t lora_set_max_rank(const struct lora_set *s);  /* 0 for an empty set */
/* Floats of scratch lora_apply() needs for n_tokens tokens on any tensor of the set:
 * n_tokens * lora_set_max_rank(s).  0 for an empty set (scratch may be NULL then). */
size_t lora_set_scratch_floats(const struct lora_set *s, size_t n_tokens);

/* The delta for base tensor name ("blk.0.attn_q.weight"), or NULL when no adapter of the
 * set targets it (s may be NULL: no adapters).  O(log n) string compares: look each weight
 * up once at load and keep the pointer. */
const struct lora_delta *lora_find(const struct lora_set *s, const char *tensor_name);
/* lora_find() of "blk.<layer>.<what>.weight" (what: "attn_q", "ffn_down", ...). */
const struct lora_delta *lora_find_blk(const struct lora_set *s, size_t layer, const char *what);
/* The i-th targeted tensor (< lora_set_n_tensors()), in name order. */
const struct lora_delta *lora_set_delta(const struct lora_set *s, size_t i);
const char *lora_delta_name(const struct lora_delta *d); /* borrowed from the set */
size_t lora_delta_n_in(const struct lora_delta *d);     /* base tensor ne0 */
size_t lora_delta_n_out(const struct lora_delta *d);    /* base tensor ne1 */

/* y += sum over adapters of scale * B (A x) for a batch: x is (n_tokens, n_in) row-major,
 * y is (n_tokens, n_out) row-major and is accumulated into.  For the token_embd exception
 * this is the same dW applied as a linear map (for a tied output layer, logits = Wembd h).
 * scratch holds at least lora_set_scratch_floats(set, n_tokens) floats (n_tokens *
 * max rank); its contents are overwritten.  d == NULL or n_tokens == 0 is a no-op.  Uses
 * OpenBLAS sgemm (sgemv for one token); allocates nothing; thread-safe for distinct y and
 * scratch. */
void lora_apply(const struct lora_delta *d, const float *x, size_t n_tokens, float *y,
                float *scratch);

/* Embedding lookup: y[i] (n_in floats, row-major (n, n_in)) += scale * dW row rows[i], for a
 * tensor read by rows (token_embd: rows are token ids, each < lora_delta_n_out()).
 * d == NULL is a no-op.  No scratch. */
void lora_apply_rows(const struct lora_delta *d, const int32_t *rows, size_t n, float *y);

/* dst (n_rows, n_in) += the delta's rows row0 .. row0 + n_rows - 1 (for merging). */
void lora_add_rows(const struct lora_delta *d, size_t row0, size_t n_rows, float *dst);

/* ---- Merging ------------------------------------------------------------------------- */

/* Called after each merged tensor: done of total, and its name. */
typedef void (*lora_progress_fn)(void *ud, size_t done, size_t total, const char *tensor);

struct lora_merge_params {
    int out_type;              /* a dtype for the merged tensors; -1 = each base tensor's own */
    lora_progress_fn progress; /* may be NULL */
    void *progress_ud;
};

void lora_merge_params_init(struct lora_merge_params *p);

/* Write base with every tensor the set targets replaced by W + sum of scale * dW: rows are
 * dequantized to F32, the deltas added, and the rows quantized again to the base tensor's
 * type (or p->out_type).  All other tensors are copied byte for byte and all metadata is
 * kept.  The write is atomic (path.tmp + rename).  The merged tensors are held in memory
 * until the file is written.  STATUS_INVALID / STATUS_NOT_FOUND when a delta does not fit
 * base, STATUS_UNSUPPORTED for a base or output type this build cannot convert or whose
 * block size does not divide a merged tensor's rows. */
enum status lora_merge_write(const struct gguf *base, const struct lora_set *s,
                             const struct lora_merge_params *p, const char *path);
/* The same into memory: *out owned, free() it. */
enum status lora_merge_to_buffer(const struct gguf *base, const struct lora_set *s,
                                 const struct lora_merge_params *p, void **out, size_t *size);

#endif /* MEMLLM_LORA_H */
