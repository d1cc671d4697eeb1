/* fuzz_gguf.c -- libFuzzer harness for the GGUF reader: open a buffer, walk everything.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILD \
 *       tests/fuzz/fuzz_gguf.c src/engine/gguf.c src/engine/dtype.c \
 *       src/util/status.c src/util/utf8.c -o fuzz_gguf
 *   ./fuzz_gguf -max_total_time=60 tests/fuzz/corpus_gguf */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

/* Touch every element of a value, descending into nested arrays. */
static void walk(const struct gguf_value *v)
{
    if (v->type == GGUF_VTYPE_STRING) {
        if (v->v.str.len)
            sink += (unsigned char)v->v.str.ptr[0] + (unsigned char)v->v.str.ptr[v->v.str.len - 1];
        return;
    }
    if (v->type != GGUF_VTYPE_ARRAY) {
        sink += v->v.u8;
        return;
    }
    struct gguf_iter it;
    struct gguf_value e;
    gguf_iter_init(&it, v);
    while (gguf_iter_next(&it, &e))
        walk(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy of exactly size bytes, so any over-read is caught */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct gguf *g = NULL;
    if (gguf_open_buffer(copy, size, &g) != STATUS_OK) {
        free(copy);
        return 0;
    }
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        const char *key = gguf_key_name(g, i);
        struct gguf_value v;
        gguf_kv_value(g, i, &v);
        walk(&v);
        int64_t x;
        double d;
        const char *s;
        size_t len;
        uint64_t n;
        (void)gguf_get_int(g, key, &x);
        (void)gguf_get_float(g, key, &d);
        (void)gguf_get_cstr(g, key, &s);
        if (gguf_get_str(g, key, &s, &len) == STATUS_OK && len)
            sink += (unsigned char)s[len - 1];
        if (gguf_arr_len(g, key, &n) == STATUS_OK && n) {
            if (gguf_arr_str(g, key, n - 1, &s, &len) == STATUS_OK && len)
                sink += (unsigned char)s[len - 1];
            (void)gguf_arr_int(g, key, n - 1, &x);
            (void)gguf_arr_float(g, key, 0, &d);
        }
        if (gguf_find_key(g, key) != i)
            abort();
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const unsigned char *p = gguf_tensor_data(g, i);
        size_t sz = gguf_tensor_size(g, i);
        sink += p[0] + p[sz - 1];
        if (gguf_find_tensor(g, gguf_tensor_name(g, i)) != i)
            abort();
    }
    /* copying the metadata into a writer and back must give a readable file; a file may
     * legitimately ask for a huge alignment (any power of two), which the writer honours
     * by padding the header to it, so skip the round trip where that would be gigabytes */
    struct gguf_writer *w = NULL;
    if (gguf_alignment(g) <= 65536 && gguf_writer_new(&w) == STATUS_OK) {
        void *buf;
        size_t bsize;
        if (gguf_writer_copy_kv(w, g, NULL) == STATUS_OK &&
            gguf_writer_to_buffer(w, &buf, &bsize) == STATUS_OK) {
            struct gguf *g2 = NULL;
            if (gguf_open_buffer(buf, bsize, &g2) != STATUS_OK ||
                gguf_n_kv(g2) != gguf_n_kv(g))
                abort();
            gguf_close(g2);
            free(buf);
        }
        gguf_writer_free(w);
    }
    gguf_close(g);
    free(copy);
    return 0;
}
