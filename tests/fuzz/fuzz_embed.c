/* fuzz_embed.c -- libFuzzer harness for src/memory/embed.c: any bytes normalize without
 * crashing to valid UTF-8 no longer than the input, with single inner spaces only, and
 * normalizing again changes nothing; the default embedder returns a unit vector.
 * Sources: src/memory/embed.c src/util/utf8.c src/util/status.c */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/embed.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *a = malloc(size + 1), *b = malloc(size + 1);
    if (!a || !b)
        abort();
    size_t n = embed_normalize(s, size, a, size + 1);
    if (n == (size_t)-1 || n > size || strlen(a) != n || !utf8_valid(a, n))
        abort();
    if (n && (a[0] == ' ' || a[n - 1] == ' ' || strstr(a, "  ")))
        abort();
    if (embed_normalize(a, n, b, n + 1) != n || memcmp(a, b, n) != 0)
        abort();

    static struct embedder e;
    if (!e.embed && embed_hash_new(64, &e) != STATUS_OK)
        abort();
    float v[64];
    if (embed_one(&e, s, size, v) != STATUS_OK)
        abort();
    double ss = 0;
    for (size_t i = 0; i < 64; i++)
        ss += (double)v[i] * v[i];
    if (!(fabs(ss - 1.0) < 1e-4))
        abort();
    free(a);
    free(b);
    return 0;
}
