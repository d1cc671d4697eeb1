/* fuzz_train.c -- libFuzzer harness for the training-data reader: arbitrary bytes as JSON
 * lines, tokenized with a small fixed vocabulary and packed into rows.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILD \
 *       tests/fuzz/fuzz_train.c src/engine/train_data.c src/engine/tok.c src/engine/gguf.c \
 *       src/engine/dtype.c src/util/json.c src/util/status.c src/util/utf8.c -o fuzz_train
 *   ./fuzz_train -max_total_time=60 tests/fuzz/corpus_train
 *
 * The first byte picks the row length (2..65) and the held-out fraction; the rest is the
 * text.  Accepted data must satisfy the packing invariants: positions count up from 0
 * inside an example, every target is the next token of the same example, and every
 * token is in the vocabulary. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tok.h"
#include "engine/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tok *vocab(void)
{
    static struct tok *t;
    if (t)
        return t;
    static const char *const pieces[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                         "\xe2\x96\x81" "a", "ab", "({", "})"};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 4, 4};
    static const float scores[] = {0, 0, 0, -3, -1, -1, -2, -0.5f, 0, 0};
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = 10;
    d.tokens = pieces;
    d.types = types;
    d.scores = scores;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    if (tok_new(&d, &t) != STATUS_OK)
        abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t T = 2 + (data[0] & 63);
    double hold = (data[0] >> 6) * 0.2;
    struct train_data *a = NULL, *b = NULL;
    enum status st = train_data_from_text((const char *)data + 1, size - 1, vocab(), T, hold, 3,
                                          &a, &b);
    if (st != STATUS_OK)
        return 0;
    struct train_data *parts[2] = {a, b};
    int32_t *tk = malloc(T * sizeof *tk), *tg = malloc(T * sizeof *tg), *ps = malloc(T * sizeof *ps);
    for (int k = 0; k < 2; k++) {
        if (!parts[k])
            continue;
        struct train_data_stats s;
        train_data_stats(parts[k], &s);
        for (size_t r = 0; r < s.n_rows; r++) {
            train_data_row(parts[k], r, tk, tg, ps);
            for (size_t i = 0; i < T; i++) {
                if (tk[i] < 0 || tk[i] >= 10 || tg[i] < -1 || tg[i] >= 10)
                    abort();
                if (ps[i] < 0 || (ps[i] > 0 && (i == 0 || ps[i - 1] != ps[i] - 1)))
                    abort();
                if (tg[i] >= 0 && (i + 1 >= T || tg[i] != tk[i + 1] || ps[i + 1] != ps[i] + 1))
                    abort();
            }
        }
    }
    free(tk);
    free(tg);
    free(ps);
    train_data_free(a);
    train_data_free(b);
    return 0;
}
