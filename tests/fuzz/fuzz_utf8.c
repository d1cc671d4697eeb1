/* fuzz_utf8.c -- libFuzzer harness for src/util/utf8.c: the decoder, validation,
 * width and truncation must agree with each other on arbitrary bytes.
 * Sources: src/util/utf8.c (tests/fuzz/run.sh links all library objects). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* decoding step by step covers the input exactly once */
    size_t i = 0;
    bool all_valid = true;
    while (i < size) {
        uint32_t cp;
        int n = utf8_decode(s + i, size - i, &cp);
        if (n == 0 || n > 4)
            abort();
        if (n < 0) {
            all_valid = false;
            i++;
            continue;
        }
        char enc[4];
        if (utf8_encode(cp, enc) != (size_t)n || memcmp(enc, s + i, (size_t)n) != 0)
            abort(); /* strict decoding means re-encoding gives the same bytes */
        i += (size_t)n;
    }
    if (utf8_valid(s, size) != all_valid)
        abort();

    size_t keep = utf8_prefix_complete(s, size);
    if (keep > size || size - keep > 3)
        abort();
    if (all_valid && keep != size)
        abort();

    size_t width = utf8_width(s, size);
    size_t cols;
    if (utf8_truncate(s, size, width, &cols) != size || cols != width)
        abort();
    for (size_t max = 0; max <= width && max < 64; max++) {
        size_t b = utf8_truncate(s, size, max, &cols);
        if (cols > max || b > size || utf8_width(s, b) != cols)
            abort();
        if (all_valid && !utf8_valid(s, b))
            abort(); /* a cut never splits a character */
    }
    return 0;
}
