/* fuzz_eval.c -- libFuzzer harness for the evaluation readers (src/agent/eval.c): Re-DocRED
 * documents, relation maps (rel_info.json or relations.tsv), ZsRE records, name folding.
 * Build (eval.c links the agent, memory and engine layers; tests/fuzz/run.sh does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I <builddir> \
 *     tests/fuzz/fuzz_eval.c $(find src -name '*.c' ! -name main.c) \
 *     $(pkg-config --libs openblas sqlite3 ncursesw) -lm -lpthread
 * Input: first byte selects the reader (0 documents, 1 relation map, 2 ZsRE records);
 * the rest is the text.  Checks: every loaded document scores its own mention names
 * without error, normalization is idempotent and never longer than its input. */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char docs_fixed[] =
    "[{\"title\":\"t\",\"sents\":[[\"A\",\"b\",\"C\"]],\"vertexSet\":[[{\"sent_id\":0,"
    "\"pos\":[0,1]}],[{\"sent_id\":0,\"pos\":[2,3]}]],\"labels\":[{\"r\":\"P50\",\"h\":0,"
    "\"t\":1},{\"r\":\"P19\",\"h\":1,\"t\":0}]}]";

static void check_docs(const struct eval_docs *d)
{
    struct eval_write_score *s;
    if (eval_write_score_new(&s) != STATUS_OK)
        return;
    for (size_t i = 0; i < eval_docs_count(d); i++) {
        size_t len;
        const char *text = eval_doc_text(d, i, &len);
        assert(strlen(text) == len);
        /* a triple of text pieces: scoring must not fail except for memory */
        struct eval_triple t = {text, eval_doc_title(d, i), text + len / 2};
        enum status st = eval_write_score_doc(s, d, i, &t, 1);
        assert(st == STATUS_OK || st == STATUS_NOMEM);
    }
    struct eval_prf p;
    eval_write_score_total(s, &p);
    assert(p.stored_ok <= p.stored && p.gold_ok <= p.gold);
    double f = eval_prf_f1(&p);
    assert(f >= 0 && f <= 1);
    eval_write_score_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char *n1 = NULL, *n2 = NULL;
    /* idempotence is checked on NUL-free text (a NUL ends the normalized C string) */
    if (!memchr(text, '\0', len) && eval_norm(text, len, &n1) == STATUS_OK) {
        assert(strlen(n1) <= len);
        if (eval_norm(n1, strlen(n1), &n2) == STATUS_OK)
            assert(strcmp(n1, n2) == 0);
    }
    free(n1);
    free(n2);
    struct eval_docs *d = NULL;
    struct eval_edits *e = NULL;
    switch (data[0] % 3) {
    case 0:
        if (eval_docs_load(text, len, NULL, 0, &d) == STATUS_OK)
            check_docs(d);
        break;
    case 1:
        if (eval_docs_load(docs_fixed, sizeof docs_fixed - 1, text, len, &d) == STATUS_OK)
            check_docs(d);
        break;
    default:
        if (eval_edits_load(text, len, &e) == STATUS_OK) {
            for (size_t i = 0; i < eval_edits_count(e); i++) {
                const struct eval_edit_record *r = eval_edits_get(e, i);
                char *st = eval_edit_statement(r);
                struct eval_edit_tally t = {0};
                eval_edit_tally_add(&t, r, st, r->rephrase, r->loc, r->loc_ans);
                assert(t.n == 1 && t.rel == (st != NULL));
                free(st);
            }
        }
        break;
    }
    eval_docs_free(d);
    eval_edits_free(e);
    return 0;
}
