/* fuzz_split.c -- libFuzzer harness for the sentence splitter (src/agent/split.c).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I <builddir> \
 *        tests/fuzz/fuzz_split.c src/agent/split.c src/util/status.c src/util/utf8.c
 * Checks: spans are in bounds, in order, non-overlapping, non-empty and trimmed. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct split_span *sp = NULL;
    size_t n = 0;
    if (split_sentences(text, size, &sp, &n) != STATUS_OK)
        return 0;
    size_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].len == 0 || sp[i].off < prev_end || sp[i].off + sp[i].len > size)
            abort();
        if (is_ws(text[sp[i].off]) || is_ws(text[sp[i].off + sp[i].len - 1]))
            abort();
        prev_end = sp[i].off + sp[i].len;
    }
    free(sp);
    return 0;
}
