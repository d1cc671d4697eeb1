/* fuzz_synth.c -- libFuzzer harness for the seed-facts reader (src/agent/synth.c): the
 * input is written to a file and read with synth_facts_read(); every fact it accepts has
 * three non-empty fields without tabs or line breaks, and the generator runs on the facts
 * (real_share 1), skipping those the call protocol cannot carry: every call it writes
 * parses without errors.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I src -I BUILD \
 *       tests/fuzz/fuzz_synth.c src/agent/synth.c src/protocol/call.c src/util/json.c \
 *       src/util/status.c src/util/utf8.c -o fuzz_synth
 *   ./fuzz_synth -max_total_time=60 tests/fuzz/corpus_synth
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/synth.h"
#include "protocol/call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

/* A written example's calls must parse without errors. */
static enum status check(void *ctx, const struct traindata_example *ex)
{
    (void)ctx;
    struct call *c = NULL;
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        if (call_parse_write(ex->completion, ex->completion_len, &c) != STATUS_OK ||
            c->n_errors != 0 || c->n_triples != ex->n_items)
            abort();
    } else if (ex->n_spans == 2) {
        size_t b = ex->loss_from, e = ex->spans[1][0];
        if (b >= e || e > ex->text_len ||
            call_parse_read(ex->text + b, e - b, &c) != STATUS_OK || c->n_errors != 0)
            abort();
    }
    call_free(c);
    return STATUS_OK;
}

static int field_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && !strchr(s, '\t') && !strchr(s, '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_synth-%ld.tsv", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
    struct synth_facts *sf = NULL;
    enum status st = synth_facts_read(path, &sf);
    if (st != STATUS_OK) {
        if (st != STATUS_FORMAT || sf)
            abort();
        return 0;
    }
    size_t n = synth_facts_count(sf);
    for (size_t i = 0; i < n; i++) {
        const struct synth_fact *x = synth_facts_get(sf, i);
        if (!x || !field_ok(x->s) || !field_ok(x->r) || !field_ok(x->o) || x->s[0] == '#')
            abort();
    }
    if (synth_facts_get(sf, n))
        abort();
    /* nothing dropped: one fact per line that is neither blank nor a comment */
    size_t lines = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) : size, len = end - i;
        if (len && data[end - 1] == '\r')
            len--;
        lines += len && data[i] != '#';
        i = end + 1;
    }
    if (lines != n)
        abort();
    struct synth_params p;
    synth_params_init(&p);
    p.seed = size;
    p.n_examples = 40;
    p.real_share = 1;
    if (synth_generate(&p, sf, check, NULL) != STATUS_OK)
        abort();
    synth_facts_free(sf);
    return 0;
}
