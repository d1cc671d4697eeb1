/* fuzz_traindata.c -- libFuzzer harness for the Re-DocRED reader and example builder:
 * arbitrary bytes as the documents JSON (with a fixed relation table); every example of
 * every accepted document must be well formed.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILD \
 *       tests/fuzz/fuzz_traindata.c src/agent/traindata.c src/protocol/call.c \
 *       src/util/json.c src/util/status.c src/util/utf8.c -o fuzz_traindata
 *   ./fuzz_traindata -max_total_time=60 tests/fuzz/corpus_traindata
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/traindata.h"
#include "protocol/call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum status check(void *ctx, const struct traindata_example *ex)
{
    (void)ctx;
    struct call *c = NULL;
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        if (call_parse_write(ex->completion, ex->completion_len, &c) != STATUS_OK ||
            c->n_errors != 0 || c->n_triples != ex->n_items)
            abort();
    } else {
        if (ex->n_spans != 2 || ex->spans[0][0] != ex->loss_from ||
            ex->spans[0][1] > ex->spans[1][0] || ex->spans[1][1] != ex->text_len)
            abort();
        size_t b = ex->loss_from, e = ex->spans[1][0];
        if (call_parse_read(ex->text + b, e - b, &c) != STATUS_OK || c->n_errors != 0 ||
            c->n_queries != ex->n_items || !c->has_results)
            abort();
    }
    call_free(c);
    return STATUS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char rel[] = "{\"P1\":\"author\",\"P2\":\"place of birth\",\"P3\":\"x (y)\"}";
    struct traindata *td = NULL;
    if (traindata_load((const char *)data, size, rel, sizeof rel - 1, &td) != STATUS_OK)
        return 0;
    struct traindata_params p;
    traindata_params_init(&p);
    p.context_sents = size % 3;
    p.read_to_sentence_end = size & 4;
    p.read_partner_in_context = size & 8;
    struct traindata_stats s = {0};
    for (size_t i = 0; i < traindata_n_docs(td); i++)
        if (traindata_doc_examples(td, i, &p, check, NULL, &s) != STATUS_OK)
            abort();
    traindata_free(td);
    return 0;
}
