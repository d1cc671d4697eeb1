/* quantize.c -- model conversion with llama-quantize's tensor-type recipes. */
#include "config.h"
#include "engine/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/quant.h"
#include "util/i18n.h"

static const struct {
    const char *name;
    enum quantize_ftype ft;
    enum dtype base; /* the type most weights get */
} ftypes[] = {
    {"F32", QUANTIZE_FTYPE_F32, DTYPE_F32},       {"F16", QUANTIZE_FTYPE_F16, DTYPE_F16},
    {"BF16", QUANTIZE_FTYPE_BF16, DTYPE_BF16},    {"Q8_0", QUANTIZE_FTYPE_Q8_0, DTYPE_Q8_0},
    {"Q4_0", QUANTIZE_FTYPE_Q4_0, DTYPE_Q4_0},    {"Q4_K_M", QUANTIZE_FTYPE_Q4_K_M, DTYPE_Q4_K},
    {"Q5_K_M", QUANTIZE_FTYPE_Q5_K_M, DTYPE_Q5_K}, {"Q6_K", QUANTIZE_FTYPE_Q6_K, DTYPE_Q6_K},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

enum status quantize_ftype_parse(const char *name, enum quantize_ftype *out)
{
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (strcasecmp(ftypes[i].name, name) == 0) {
            *out = ftypes[i].ft;
            return STATUS_OK;
        }
    }
    return status_detail_set(STATUS_INVALID, _("unknown type '%s' (expected one of %s)"), name,
                             quantize_ftype_names());
}

const char *quantize_ftype_name(enum quantize_ftype ft)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ft == ft)
            return ftypes[i].name;
    return "?";
}

const char *quantize_ftype_names(void)
{
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K";
}

static enum dtype ftype_base(enum quantize_ftype ft)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ft == ft)
            return ftypes[i].base;
    return DTYPE_F32;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* llama.cpp's rule for which layers of a mixed recipe get more bits: the first and last
 * eighth of the layers, and every third layer in between. */
static bool more_bits(int layer, int n_layer)
{
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

enum dtype quantize_choose(enum quantize_ftype ft, const char *name, uint32_t n_dims,
                           uint64_t ne0, int layer, int n_layer, bool tied, enum dtype current)
{
    if (n_dims < 2 || !ends_with(name, ".weight"))
        return current; /* norms and anything that is not a weight matrix */
    enum dtype base = ftype_base(ft);
    enum dtype t = base;
    bool is_output = strcmp(name, "output.weight") == 0 ||
                     (tied && strcmp(name, "token_embd.weight") == 0);
    if (is_output) {
        /* the output head is the most sensitive matrix: 6 bits unless 8 bits or more
         * were asked for anyway */
        if (base != DTYPE_F32 && base != DTYPE_F16 && base != DTYPE_BF16 && base != DTYPE_Q8_0)
            t = DTYPE_Q6_K;
    } else if (layer >= 0 && (ft == QUANTIZE_FTYPE_Q4_K_M || ft == QUANTIZE_FTYPE_Q5_K_M) &&
               (ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight"))) {
        if (more_bits(layer, n_layer))
            t = DTYPE_Q6_K;
    }
    /* a row must hold whole blocks; fall back to the nearest type that fits */
    if (ne0 % dtype_block_size(t) != 0) {
        if (ne0 % 32 == 0 && t != DTYPE_Q8_0)
            t = DTYPE_Q8_0;
        else
            t = DTYPE_F16;
    }
    return t;
}

/* Block index of "blk.N.<...>", or -1. */
static int tensor_layer(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || v < 0 || v > 1000000)
        return -1;
    return (int)v;
}

enum status quantize_file(const struct gguf *in, const struct quantize_params *p,
                          const char *out_path)
{
    enum status st;
    struct gguf_writer *w = NULL;
    int64_t n_t = gguf_n_tensors(in);
    void **bufs = calloc((size_t)(n_t > 0 ? n_t : 1), sizeof *bufs);
    float *row = NULL;
    size_t row_cap = 0;
    if (!bufs)
        return STATUS_NOMEM;

    int n_layer = 0;
    bool tied = gguf_find_tensor(in, "output.weight") < 0;
    for (int64_t i = 0; i < n_t; i++) {
        int l = tensor_layer(gguf_tensor_name(in, i));
        if (l + 1 > n_layer)
            n_layer = l + 1;
    }

    st = gguf_writer_new(&w);
    if (st != STATUS_OK)
        goto done;
    st = gguf_writer_copy_kv(w, in, NULL);
    if (st == STATUS_OK)
        st = gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype);
    if (st == STATUS_OK)
        st = gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (st == STATUS_OK && p->edit_kv)
        st = p->edit_kv(p->user, w);
    if (st != STATUS_OK)
        goto done;

    for (int64_t i = 0; i < n_t; i++) {
        const char *name = gguf_tensor_name(in, i);
        enum dtype from = gguf_tensor_type(in, i);
        uint32_t nd = gguf_tensor_n_dims(in, i);
        uint64_t dims[GGUF_MAX_DIMS];
        for (uint32_t d = 0; d < nd; d++)
            dims[d] = gguf_tensor_dim(in, i, d);
        enum dtype to = quantize_choose(p->ftype, name, nd, dims[0], tensor_layer(name), n_layer,
                                        tied, from);
        const void *src = gguf_tensor_data(in, i);
        size_t src_size = gguf_tensor_size(in, i);
        if (p->progress)
            p->progress(p->user, (size_t)i, (size_t)n_t, name, from, to);
        if (to == from) {
            st = gguf_writer_add_tensor(w, name, to, nd, dims, src, src_size);
            if (st != STATUS_OK)
                goto done;
            continue;
        }
        if (!quant_weight_supported(from)) {
            st = status_detail_set(STATUS_UNSUPPORTED, _("tensor '%s' has type %s, which cannot be converted"),
                                   name, dtype_name(from) ? dtype_name(from) : "?");
            goto done;
        }
        uint64_t ne0 = dims[0];
        uint64_t rows = gguf_tensor_n_elements(in, i) / ne0;
        size_t in_row, out_row;
        if (dtype_row_bytes(from, ne0, &in_row) != STATUS_OK ||
            dtype_row_bytes(to, ne0, &out_row) != STATUS_OK) {
            st = status_detail_set(STATUS_INVALID, _("tensor '%s': rows of %llu values cannot be stored as %s"),
                                   name, (unsigned long long)ne0, dtype_name(to));
            goto done;
        }
        if (rows && out_row > SIZE_MAX / rows) {
            st = STATUS_OVERFLOW;
            goto done;
        }
        size_t bytes = (size_t)rows * out_row;
        bufs[i] = malloc(bytes ? bytes : 1);
        if (!bufs[i]) {
            st = STATUS_NOMEM;
            goto done;
        }
        if (ne0 > row_cap) {
            float *r = realloc(row, ne0 * sizeof *row);
            if (!r) {
                st = STATUS_NOMEM;
                goto done;
            }
            row = r;
            row_cap = ne0;
        }
        for (uint64_t r = 0; r < rows; r++) {
            quant_dequantize_row(from, (const unsigned char *)src + r * in_row, row, ne0);
            quant_quantize_row(to, row, (unsigned char *)bufs[i] + r * out_row, ne0);
        }
        st = gguf_writer_add_tensor(w, name, to, nd, dims, bufs[i], bytes);
        if (st != STATUS_OK)
            goto done;
    }
    if (p->progress)
        p->progress(p->user, (size_t)n_t, (size_t)n_t, NULL, DTYPE_F32, DTYPE_F32);
    st = gguf_writer_write(w, out_path);
done:
    gguf_writer_free(w);
    for (int64_t i = 0; i < n_t; i++)
        free(bufs[i]);
    free(bufs);
    free(row);
    return st;
}
