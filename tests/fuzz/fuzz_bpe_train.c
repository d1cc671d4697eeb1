/* fuzz_bpe_train.c -- libFuzzer harness for the BPE trainer: train a small vocabulary on
 * arbitrary bytes, then check that the trained tokenizer encodes the same bytes and
 * decodes them back exactly when they are valid UTF-8 without U+2581.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILD \
 *       tests/fuzz/fuzz_bpe_train.c src/engine/bpe_train.c src/engine/tok.c \
 *       src/engine/gguf.c src/engine/dtype.c src/util/status.c src/util/utf8.c \
 *       src/util/json.c -o fuzz_bpe_train
 *   ./fuzz_bpe_train -max_total_time=60 tests/fuzz/corpus_bpe_train
 *
 * The first input byte sets the vocabulary size (263 + byte * 4); the rest is the text,
 * added three times so that pairs reach the minimum frequency. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bpe_train.h"
#include "engine/tok.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    p.vocab_size = 263 + (size_t)data[0] * 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct bpe_trainer *t = NULL;
    if (bpe_trainer_new(&p, &t) != STATUS_OK)
        abort();
    for (int i = 0; i < 3; i++)
        if (bpe_trainer_add_text(t, text, len) != STATUS_OK)
            abort();
    if (bpe_trainer_train(t) != STATUS_OK)
        abort();
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    if (s.n_vocab > p.vocab_size)
        abort();
    struct tok *tk = NULL;
    if (bpe_trainer_tok(t, &tk) != STATUS_OK)
        abort();
    size_t checked, bad;
    if (bpe_trainer_check(t, tk, &checked, &bad) != STATUS_OK || bad != 0)
        abort();
    size_t cap = tok_encode_bound(len), n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids || tok_encode(tk, text, len, 0, ids, cap, &n) != STATUS_OK)
        abort();
    bool plain = utf8_valid(text, len) && !memmem(text, len, "\xe2\x96\x81", 3);
    if (plain) {
        char *back = NULL;
        size_t blen = 0;
        if (tok_decode(tk, ids, n, 0, &back, &blen) != STATUS_OK || blen != len ||
            memcmp(back, text, len) != 0)
            abort();
        free(back);
    }
    free(ids);
    tok_free(tk);
    bpe_trainer_free(t);
    return 0;
}
