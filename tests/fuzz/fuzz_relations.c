/* fuzz_relations.c -- libFuzzer harness for the relations.tsv parser and loader.
 *
 * Build (from the source tree, with a configured build directory for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DPKGDATADIR='"data"' -I src -I <builddir> \
 *     tests/fuzz/fuzz_relations.c src/memory/relations.c src/memory/store.c \
 *     src/util/status.c src/util/utf8.c src/util/log.c src/util/xdg.c -lsqlite3
 * Run: ./a.out tests/fuzz/corpus_relations */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "memory/relations.h"
#include "memory/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_row(void *ctx, const struct relations_row *row)
{
    size_t *n = ctx;
    /* Every row handed out is terminated, non-empty and free of control bytes. */
    size_t len = strlen(row->name);
    if (len == 0 || len > RELATIONS_NAME_MAX || strlen(row->wikidata_id) > RELATIONS_ID_MAX)
        __builtin_trap();
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)row->name[i] < 0x20)
            __builtin_trap();
    }
    (*n)++;
    return 0;
}

static struct mem *fuzz_mem;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    enum status st = relations_parse((const char *)data, size, "fuzz", fuzz_row, &n);
    if (st != STATUS_OK && st != STATUS_PARSE && st != STATUS_ENCODING)
        __builtin_trap();
    /* The loader on top: the same verdict, and the database stays consistent. */
    if (!fuzz_mem && mem_open(":memory:", &fuzz_mem) != STATUS_OK)
        __builtin_trap();
    size_t loaded = 0;
    enum status lst = mem_relations_load_buffer(fuzz_mem, (const char *)data, size, "fuzz",
                                                &loaded);
    if (lst != st)
        __builtin_trap();
    if (st == STATUS_OK && loaded != n)
        __builtin_trap();
    return 0;
}
