/* fuzz_call.c -- libFuzzer harness for src/protocol/call.c: parsing and scanning arbitrary
 * bytes never crashes, error offsets lie inside the text, and a parsed call formatted
 * again re-parses to the same structure without errors.
 * Sources: src/protocol/call.c src/util/utf8.c src/util/status.c
 * (tests/fuzz/run.sh links all library objects). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_call(const struct call *a, const struct call *b)
{
    if (a->kind != b->kind || a->n_queries != b->n_queries || a->n_results != b->n_results ||
        a->n_triples != b->n_triples)
        return false;
    for (size_t i = 0; i < a->n_queries; i++) {
        const struct call_query *x = &a->queries[i], *y = &b->queries[i];
        if (x->want != y->want || !same_str(x->subj, y->subj) || !same_str(x->rel, y->rel) ||
            !same_str(x->obj, y->obj))
            return false;
    }
    for (size_t i = 0; i < a->n_results; i++) {
        if (!same_str(a->results[i], b->results[i]))
            return false;
    }
    for (size_t i = 0; i < a->n_triples; i++) {
        const struct call_triple *x = &a->triples[i], *y = &b->triples[i];
        if (!same_str(x->subj, y->subj) || !same_str(x->rel, y->rel) ||
            !same_str(x->obj, y->obj))
            return false;
    }
    return true;
}

static void check_round_trip(const struct call *c)
{
    char *s = NULL;
    enum status st;
    bool pending = false;
    if (c->kind == CALL_KIND_WRITE) {
        st = call_format_write(c->triples, c->n_triples, &s);
    } else {
        if (c->n_queries == 0)
            return; /* nothing to format */
        if (c->has_results) {
            st = call_format_read_result(c->queries, c->n_queries, c->results, c->n_results,
                                         &s);
        } else {
            st = call_format_read_query(c->queries, c->n_queries, &s);
            pending = true;
        }
    }
    if (st != STATUS_OK)
        abort(); /* everything the parser accepts must be formattable */
    size_t len = strlen(s);
    struct call *c2 = NULL;
    if (call_parse(s, len, &c2) != STATUS_OK)
        abort();
    if (c2->n_errors != 0 || !same_call(c, c2) || c2->has_results != c->has_results)
        abort();
    call_free(c2);
    size_t b, e;
    enum call_kind k;
    enum call_state want = pending ? CALL_STATE_READ_PENDING : CALL_STATE_COMPLETE;
    if (call_find(s, len, &b, &e, &k) != want || b != 0 || e != len || k != c->kind)
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    enum status (*const parsers[])(const char *, size_t, struct call **) = {
        call_parse, call_parse_read, call_parse_write};
    for (size_t p = 0; p < 3; p++) {
        struct call *c = NULL;
        enum status st = parsers[p](text, size, &c);
        if (st != STATUS_OK) {
            if (c || (st != STATUS_PARSE && st != STATUS_NOMEM))
                abort();
            continue;
        }
        if (c->n_queries > CALL_MAX_QUERIES || c->n_results > CALL_MAX_RESULTS)
            abort();
        for (size_t i = 0; i < c->n_errors; i++) {
            if (c->errors[i].pos > size || c->errors[i].kind <= CALL_ERR_NONE ||
                c->errors[i].kind >= CALL_ERR_COUNT_)
                abort();
            if (i && c->errors[i].pos < c->errors[i - 1].pos)
                abort(); /* text order */
        }
        check_round_trip(c);
        call_free(c);
    }

    /* scanning: offsets in range, and scanning on from each end terminates */
    size_t pos = 0;
    while (pos <= size) {
        size_t b = SIZE_MAX, e = SIZE_MAX;
        enum call_kind k = CALL_KIND_UNKNOWN;
        enum call_state st = call_find(text + pos, size - pos, &b, &e, &k);
        if (st == CALL_STATE_NONE)
            break;
        if (b > e || e > size - pos)
            abort();
        if (st != CALL_STATE_COMPLETE && st != CALL_STATE_ABANDONED)
            break;
        if (e == 0)
            abort();
        pos += e;
    }
    return 0;
}
