/* dtype.c -- the table of GGUF tensor element types. */
#include "config.h"
#include "engine/dtype.h"

#include <strings.h>

struct dtype_info {
    const char *name;
    uint16_t block_size;
    uint16_t type_size;
    bool supported;
};

/* Block layouts (ggml): Q8_0 = f16 d + 32 x i8; Q4_0 = f16 d + 16 bytes of nibbles;
 * Q4_1 = f16 d, f16 m + 16 bytes; Q5_0 = f16 d + 4 bytes high bits + 16 bytes;
 * Q5_1 = f16 d, f16 m + 4 + 16; Q8_1 = f32 d, f32 s + 32 x i8.  K types use
 * 256-value super-blocks: Q2_K 84, Q3_K 110, Q4_K 144 (f16 d, f16 dmin, 12 bytes of
 * 6-bit scales, 128 bytes of nibbles), Q5_K 176 (+32 bytes of high bits),
 * Q6_K 210 (128 low nibbles, 64 high 2-bit, 16 x i8 scales, f16 d), Q8_K 292
 * (f32 d, 256 x i8, 16 x i16 block sums). */
static const struct dtype_info dtype_table[DTYPE_COUNT_] = {
    [DTYPE_F32] = {"F32", 1, 4, true},       [DTYPE_F16] = {"F16", 1, 2, true},
    [DTYPE_Q4_0] = {"Q4_0", 32, 18, true},   [DTYPE_Q4_1] = {"Q4_1", 32, 20, false},
    [DTYPE_Q5_0] = {"Q5_0", 32, 22, false},  [DTYPE_Q5_1] = {"Q5_1", 32, 24, false},
    [DTYPE_Q8_0] = {"Q8_0", 32, 34, true},   [DTYPE_Q8_1] = {"Q8_1", 32, 40, false},
    [DTYPE_Q2_K] = {"Q2_K", 256, 84, false}, [DTYPE_Q3_K] = {"Q3_K", 256, 110, false},
    [DTYPE_Q4_K] = {"Q4_K", 256, 144, true}, [DTYPE_Q5_K] = {"Q5_K", 256, 176, true},
    [DTYPE_Q6_K] = {"Q6_K", 256, 210, true}, [DTYPE_Q8_K] = {"Q8_K", 256, 292, true},
    [DTYPE_I8] = {"I8", 1, 1, false},        [DTYPE_I16] = {"I16", 1, 2, false},
    [DTYPE_I32] = {"I32", 1, 4, false},      [DTYPE_I64] = {"I64", 1, 8, false},
    [DTYPE_F64] = {"F64", 1, 8, false},      [DTYPE_BF16] = {"BF16", 1, 2, true},
};

static const struct dtype_info *dtype_info(uint32_t type)
{
    if (type >= DTYPE_COUNT_ || !dtype_table[type].name)
        return NULL;
    return &dtype_table[type];
}

size_t dtype_block_size(uint32_t type)
{
    const struct dtype_info *i = dtype_info(type);
    return i ? i->block_size : 0;
}

size_t dtype_type_size(uint32_t type)
{
    const struct dtype_info *i = dtype_info(type);
    return i ? i->type_size : 0;
}

const char *dtype_name(uint32_t type)
{
    const struct dtype_info *i = dtype_info(type);
    return i ? i->name : NULL;
}

int dtype_from_name(const char *name)
{
    for (int t = 0; t < DTYPE_COUNT_; t++)
        if (dtype_table[t].name && strcasecmp(dtype_table[t].name, name) == 0)
            return t;
    return -1;
}

bool dtype_is_supported(uint32_t type)
{
    const struct dtype_info *i = dtype_info(type);
    return i && i->supported;
}

enum status dtype_row_bytes(uint32_t type, uint64_t n, size_t *out)
{
    const struct dtype_info *i = dtype_info(type);
    if (!i || n % i->block_size != 0)
        return STATUS_INVALID;
    uint64_t blocks = n / i->block_size;
    if (blocks > SIZE_MAX / i->type_size)
        return STATUS_OVERFLOW;
    *out = (size_t)(blocks * i->type_size);
    return STATUS_OK;
}
