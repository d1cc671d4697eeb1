/* fuzz_constrain.c -- libFuzzer harness for src/agent/constrain.c: arbitrary source text,
 * memory names and call text never crash the state machine; every call text it accepts
 * as complete, and every walk of allowed tokens, parses with protocol/call without
 * errors; an allow-list is never empty before the call is complete.
 * Input: flags byte, source text, NUL, memory names (one a line), NUL, call text / walk.
 * Sources: src/agent/constrain.c src/protocol/call.c src/engine/tok.c src/engine/samp.c
 * src/engine/gguf.c src/engine/dtype.c src/util/{*}.c, i.e. every .c in src/util
 * (tests/fuzz/run.sh links all library objects). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/constrain.h"
#include "engine/tok.h"
#include "protocol/call.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SP "\xe2\x96\x81"

static struct tok *vocab(void)
{
    static const char *const base[] = {
        "<unk>", "<s>", "</s>", "({", "})", "-->", SP "MEM", "MEM_READ(", "MEM_WRITE",
        ">>", ";", ")", SP, SP "the", "Paris", SP "Paris", "of", SP "of", "place", "in",
        "er", "an", "on", "is", "(", "ing", SP "a", "Bob", "é",
    };
    static const char *pieces[sizeof base / sizeof base[0] + 94];
    static char chars[94][2];
    static int32_t types[sizeof base / sizeof base[0] + 94];
    size_t n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        pieces[n] = base[i];
        types[n++] = i == 0 ? TOK_TYPE_UNKNOWN
                     : i < 3 ? TOK_TYPE_CONTROL
                     : i < 6 ? TOK_TYPE_USER_DEFINED
                             : TOK_TYPE_NORMAL;
    }
    for (int ch = 33; ch < 127; ch++) {
        chars[ch - 33][0] = (char)ch;
        pieces[n] = chars[ch - 33];
        types[n++] = TOK_TYPE_NORMAL;
    }
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = pieces;
    d.types = types;
    d.unk_id = 0;
    struct tok *t = NULL;
    if (tok_new(&d, &t) != STATUS_OK)
        abort();
    return t;
}

static void check_call(const char *text, size_t len, enum constrain_kind kind)
{
    char *full = malloc(len + 3);
    if (!full)
        return;
    memcpy(full, "({", 2);
    memcpy(full + 2, text, len);
    full[len + 2] = '\0';
    struct call *c = NULL;
    enum status st = kind == CONSTRAIN_KIND_READ ? call_parse_read(full, len + 2, &c)
                                                 : call_parse_write(full, len + 2, &c);
    if (st != STATUS_OK || c->n_errors || (kind == CONSTRAIN_KIND_WRITE && !c->closed)) {
        fprintf(stderr, "accepted call does not parse cleanly: %s\n", full);
        abort();
    }
    call_free(c);
    free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tok *t;
    static const char *const rels[] = {"author", "country", "place of birth", "capital (city)",
                                       "a"};
    if (!t)
        t = vocab();
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    struct constrain_params p;
    constrain_params_init(&p);
    p.relations = rels;
    p.n_relations = 1 + (flags >> 4) % 5;
    p.max_triples = (flags >> 2) % 4 + 1;
    p.max_span_words = 1 + (flags >> 6);
    p.stopwords = flags & 0x80;
    enum constrain_kind kind = (enum constrain_kind)(flags % 3);
    struct constrain *c = NULL;
    if (constrain_new(t, &p, &c) != STATUS_OK)
        return 0;

    const uint8_t *z = memchr(data, 0, size);
    size_t ctx_len = z ? (size_t)(z - data) : size;
    char *ctx = malloc(ctx_len + 1);
    memcpy(ctx, data, ctx_len);
    ctx[ctx_len] = '\0';
    size_t off = z ? ctx_len + 1 : size;
    const uint8_t *z2 = memchr(data + off, 0, size - off);
    size_t names_len = z2 ? (size_t)(z2 - (data + off)) : size - off;
    char *names_buf = malloc(names_len + 1);
    memcpy(names_buf, data + off, names_len);
    names_buf[names_len] = '\0';
    const char *names[16];
    size_t n_names = 0;
    for (char *s = names_buf; s && n_names < 16;) {
        names[n_names++] = s;
        s = strchr(s, '\n');
        if (s)
            *s++ = '\0';
    }
    off += names_len + (z2 ? 1 : 0);
    const char *rest = (const char *)data + off;
    size_t rest_len = size - off;

    /* text: whatever the machine accepts as a complete call parses cleanly */
    if (constrain_begin(c, kind, ctx, ctx_len, names, n_names) == STATUS_OK) {
        bool complete = false;
        size_t fed = 0;
        for (; fed < rest_len && !complete; fed++)
            if (constrain_feed(c, rest + fed, 1, &complete) != STATUS_OK)
                break;
        if (complete)
            check_call(rest, fed, constrain_kind_get(c));
    }
    /* tokens: a walk picking allowed[byte % n] ends in a clean call */
    if (constrain_begin(c, kind, ctx, ctx_len, names, n_names) == STATUS_OK) {
        char text[8192];
        size_t len = 0;
        bool complete = false;
        for (size_t i = 0; !complete; i++) {
            const int32_t *ids;
            size_t n;
            if (constrain_allowed(c, &ids, &n) != STATUS_OK || n == 0)
                abort(); /* liveness */
            int32_t id = ids[(i < rest_len ? (uint8_t)rest[i] : 0) % n];
            size_t pl;
            const char *piece = tok_piece(t, id, &pl);
            if (constrain_accept(c, id, &complete) != STATUS_OK)
                abort();
            for (size_t k = 0; k < pl && len < sizeof text - 1; k++) {
                if (k + 2 < pl && !memcmp(piece + k, SP, 3)) {
                    text[len++] = ' ';
                    k += 2;
                } else {
                    text[len++] = piece[k];
                }
            }
            if (i > 4000)
                abort(); /* a walk must end */
        }
        check_call(text, len, constrain_kind_get(c));
    }
    free(names_buf);
    free(ctx);
    constrain_free(c);
    return 0;
}
