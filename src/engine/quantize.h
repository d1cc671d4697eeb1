/* quantize.h -- convert a GGUF model's weights to another type, with llama-quantize's
 * mixed recipes (Q4_K_M, Q5_K_M: some tensors get more bits).
 *
 * Only 2-D weights are converted; 1-D tensors (norms) stay as they are.  A weight whose
 * row length is not a multiple of the chosen type's block size falls back to Q8_0 (or
 * F16 if even Q8_0's 32 does not divide it): llama.cpp falls back to Q5_0/Q5_1 for
 * K types, which memllm does not compute with, so Q8_0 is the nearest supported choice
 * that loses less. */
#ifndef MEMLLM_QUANTIZE_H
#define MEMLLM_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "util/status.h"

/* Output file types; the values are llama.cpp's `general.file_type` numbers. */
enum quantize_ftype {
    QUANTIZE_FTYPE_F32 = 0,
    QUANTIZE_FTYPE_F16 = 1,
    QUANTIZE_FTYPE_Q4_0 = 2,
    QUANTIZE_FTYPE_Q8_0 = 7,
    QUANTIZE_FTYPE_Q4_K_M = 15,
    QUANTIZE_FTYPE_Q5_K_M = 17,
    QUANTIZE_FTYPE_Q6_K = 18,
    QUANTIZE_FTYPE_BF16 = 32,
};

/* Parse "Q4_K_M", "q8_0", "f16", ... (case-insensitive).  STATUS_INVALID if unknown. */
enum status quantize_ftype_parse(const char *name, enum quantize_ftype *out);
/* Upper-case name of an ftype ("Q4_K_M"). */
const char *quantize_ftype_name(enum quantize_ftype ft);
/* Comma-separated list of every accepted name, for help texts. */
const char *quantize_ftype_names(void);

/* What a tensor becomes under ft.  `layer` is the tensor's block index (-1 for tensors
 * outside blocks), `n_layer` the model's block count, `tied` whether the model has no
 * output.weight (token_embd then doubles as the output head and is treated like it). */
enum dtype quantize_choose(enum quantize_ftype ft, const char *name, uint32_t n_dims,
                           uint64_t ne0, int layer, int n_layer, bool tied, enum dtype current);

typedef void (*quantize_progress_fn)(void *user, size_t done, size_t total, const char *tensor,
                                     enum dtype from, enum dtype to);

struct gguf_writer;

struct quantize_params {
    enum quantize_ftype ftype;
    quantize_progress_fn progress; /* NULL: none */
    void *user;
    /* called after the input's metadata is copied, to add or replace keys (NULL: none) */
    enum status (*edit_kv)(void *user, struct gguf_writer *w);
};

/* Write in's metadata and tensors to out_path with weights converted per ft
 * (general.file_type and general.quantization_version updated).  The file is written
 * atomically (temporary file + rename).  Bytes of tensors whose type does not change
 * are copied unchanged. */
enum status quantize_file(const struct gguf *in, const struct quantize_params *p,
                          const char *out_path);

#endif /* MEMLLM_QUANTIZE_H */
