/* fuzz_model.c -- libFuzzer harness: model_open() on arbitrary GGUF bytes, then a short
 * evaluation when it accepts them.  Build (from the top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I <builddir> \
 *     tests/fuzz/fuzz_model.c src/engine/model.c src/engine/pool.c src/engine/gguf.c \
 *     src/engine/dtype.c src/engine/quant.c src/engine/quant_avx2.c src/engine/quant_avx512.c \
 *     src/engine/qgemm.c \
 *     src/util/status.c src/util/utf8.c -lopenblas -lm -lpthread
 * (quant_avx2.c / quant_avx512.c may need their own -m flags, as in quant.mk).
 * Seeds: tests/fuzz/corpus_model/ (a tiny valid model). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/gguf.h"
#include "engine/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf *g;
    if (gguf_open_buffer(data, size, &g) != STATUS_OK)
        return 0;
    struct model_params p;
    model_params_init(&p);
    p.n_ctx = 16; /* bounded memory whatever context_length says */
    p.n_threads = 1;
    struct model *m;
    if (model_open(g, &p, &m) == STATUS_OK) {
        size_t nv = model_n_vocab(m);
        float *logits = malloc(2 * nv * sizeof *logits);
        int32_t toks[2] = {0, (int32_t)(nv - 1)};
        if (logits) {
            model_eval(m, toks, 2, 0, logits, true);
            model_eval(m, toks, 1, 2, logits, false);
            model_shift(m, 1, 0);
        }
        free(logits);
        model_close(m);
    }
    gguf_close(g);
    return 0;
}
