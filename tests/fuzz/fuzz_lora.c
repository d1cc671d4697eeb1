/* fuzz_lora.c -- libFuzzer harness: an adapter file from arbitrary GGUF bytes through
 * lora_open_gguf(), lora_check_base() (against itself), lora_set_add() and one application of
 * every delta; the first line of the input also goes through lora_spec_parse().  Build (from the
 * top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I <builddir> \
 *     tests/fuzz/fuzz_lora.c src/engine/lora.c src/engine/gguf.c src/engine/dtype.c \
 *     src/engine/quant.c src/engine/quant_avx2.c src/engine/quant_avx512.c \
 *     src/util/status.c src/util/utf8.c -lopenblas -lm -lpthread
 * Seeds: tests/fuzz/corpus_lora/ (adapters written by tests/test_lora --write-fixtures). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/lora.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void spec_once(const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n < size && n < 256 && data[n] != '\n')
        n++;
    char *s = malloc(n + 1);
    if (!s)
        return;
    memcpy(s, data, n);
    s[n] = '\0';
    struct lora_spec spec;
    if (lora_spec_parse(s, &spec) == STATUS_OK)
        lora_spec_clear(&spec);
    free(s);
}

static void apply_all(const struct lora_set *s)
{
    for (size_t i = 0; i < lora_set_n_tensors(s); i++) {
        const struct lora_delta *d = lora_set_delta(s, i);
        size_t ni = lora_delta_n_in(d), no = lora_delta_n_out(d);
        float *x = calloc(2 * ni, sizeof *x), *y = calloc(2 * no, sizeof *y);
        float *scratch = calloc(lora_set_scratch_floats(s, 2) + 1, sizeof *scratch);
        if (x && y && scratch) {
            for (size_t k = 0; k < 2 * ni; k++)
                x[k] = (float)(k % 7) - 3.0f;
            lora_apply(d, x, 1, y, scratch);
            lora_apply(d, x, 2, y, scratch);
            int32_t row = (int32_t)(no - 1);
            lora_apply_rows(d, &row, 1, x);
        }
        free(x);
        free(y);
        free(scratch);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spec_once(data, size);
    struct gguf *g;
    if (gguf_open_buffer(data, size, &g) != STATUS_OK)
        return 0;
    struct lora *l;
    if (lora_open_gguf(g, &l) == STATUS_OK) {
        (void)lora_check_base(l, g);
        struct lora_set *s;
        if (lora_set_new(&s) == STATUS_OK) {
            if (lora_set_add(s, l, 0.5f) == STATUS_OK)
                apply_all(s);
            lora_set_free(s);
        }
        lora_close(l);
    }
    gguf_close(g);
    return 0;
}
