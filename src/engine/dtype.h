/* dtype.h -- tensor element types of GGUF files (the ggml type ids) and their block sizes.
 *
 * Quantized types store values in blocks: `block_size` values take `type_size` bytes.
 * A row of n values (n a multiple of block_size) takes n / block_size * type_size bytes.
 * The numeric ids are those written in GGUF tensor infos and must not change. */
#ifndef MEMLLM_DTYPE_H
#define MEMLLM_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

enum dtype {
    DTYPE_F32 = 0,
    DTYPE_F16 = 1,
    DTYPE_Q4_0 = 2,
    DTYPE_Q4_1 = 3,
    DTYPE_Q5_0 = 6,
    DTYPE_Q5_1 = 7,
    DTYPE_Q8_0 = 8,
    DTYPE_Q8_1 = 9,
    DTYPE_Q2_K = 10,
    DTYPE_Q3_K = 11,
    DTYPE_Q4_K = 12,
    DTYPE_Q5_K = 13,
    DTYPE_Q6_K = 14,
    DTYPE_Q8_K = 15,
    DTYPE_I8 = 24,
    DTYPE_I16 = 25,
    DTYPE_I32 = 26,
    DTYPE_I64 = 27,
    DTYPE_F64 = 28,
    DTYPE_BF16 = 30,
    DTYPE_COUNT_ = 40 /* ids are below this; not all ids in between are known */
};

/* Values per block (1 for plain types) and bytes per block; 0 for an unknown id. */
size_t dtype_block_size(uint32_t type);
size_t dtype_type_size(uint32_t type);

/* Upper-case name as llama.cpp prints it ("Q4_K"), or NULL for an unknown id. */
const char *dtype_name(uint32_t type);

/* The type named name (case-insensitive), or -1. */
int dtype_from_name(const char *name);

/* True for ids whose block layout this build can compute with
 * (F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K, and Q8_K as an activation format). */
bool dtype_is_supported(uint32_t type);

/* Bytes of a row of n values: STATUS_INVALID when n is not a multiple of the block
 * size or the type is unknown, STATUS_OVERFLOW when the size does not fit in size_t. */
enum status dtype_row_bytes(uint32_t type, uint64_t n, size_t *out);

#endif /* MEMLLM_DTYPE_H */
