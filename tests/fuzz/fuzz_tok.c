/* fuzz_tok.c -- libFuzzer harness for the tokenizer: encoding arbitrary bytes, the
 * streaming decoder with arbitrary ids, and vocabulary validation.
 *
 * Build (from the source root, with a configured build directory BUILD for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILD \
 *       tests/fuzz/fuzz_tok.c src/engine/tok.c src/engine/gguf.c src/engine/dtype.c \
 *       src/util/status.c src/util/utf8.c -o fuzz_tok
 *   ./fuzz_tok -max_total_time=60 tests/fuzz/corpus_tok
 *
 * The first input byte picks the mode:
 *   0: encode the rest with a fixed vocabulary (flags from byte 1); ids must be in range,
 *      within tok_encode_bound(), and, when no whole token was cut out, the pieces must
 *      give back exactly the input (encoding is lossless; "▁" in the input reads as ' ');
 *      the stream decoder's output must be valid UTF-8.
 *   1: feed the rest as 16-bit ids to the stream decoder; every chunk must be valid UTF-8.
 *   2: build a vocabulary from the rest (pieces split at '\n', type from each piece's first
 *      byte) and, if it is accepted, encode and decode the input with it. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tok.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SP "\xE2\x96\x81"

static struct tok *fixed_vocab(void)
{
    static struct tok *t;
    if (t)
        return t;
    static const char *extra[] = {
        SP, SP SP, SP SP SP SP, "a", "b", "c", "e", "l", "m", "o", SP "a", SP "b", "ab", "bc",
        "abc", "ll", "lo", "ol", "lol", "\xC3\xA9", SP "\xC3\xA9", "\xE3\x81\x93",
        "\xE3\x82\x93", "\xE3\x81\x93\xE3\x82\x93", "<", ">", "s", "-", "(", "{", "}", ")",
        "({", "})", "-->", "<s>x",
    };
    size_t n_extra = sizeof extra / sizeof *extra;
    size_t n = 3 + 256 + n_extra;
    const char **toks = calloc(n, sizeof *toks);
    float *scores = calloc(n, sizeof *scores);
    int32_t *types = calloc(n, sizeof *types);
    static char bytes[256][7];
    if (!toks || !scores || !types)
        abort();
    toks[0] = "<unk>", types[0] = TOK_TYPE_UNKNOWN;
    toks[1] = "<s>", types[1] = TOK_TYPE_CONTROL;
    toks[2] = "</s>", types[2] = TOK_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", (unsigned)b);
        toks[3 + b] = bytes[b];
        types[3 + b] = TOK_TYPE_BYTE;
    }
    for (size_t i = 0; i < n_extra; i++) {
        size_t id = 3 + 256 + i;
        toks[id] = extra[i];
        scores[id] = -(float)(i % 7); /* many equal scores, to exercise the tie rule */
        bool whole = strcmp(extra[i], "({") == 0 || strcmp(extra[i], "})") == 0 ||
                     strcmp(extra[i], "-->") == 0;
        types[id] = whole ? TOK_TYPE_USER_DEFINED : TOK_TYPE_NORMAL;
    }
    struct tok_vocab_desc d;
    tok_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = toks;
    d.scores = scores;
    d.types = types;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    if (tok_new(&d, &t) != STATUS_OK)
        abort();
    free(toks);
    free(scores);
    free(types);
    return t;
}

static bool contains(const uint8_t *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, needle, m) == 0)
            return true;
    return false;
}

/* Concatenate the pieces of ids as raw bytes (byte tokens as their byte, "▁" as ' '). */
static size_t raw_pieces(const struct tok *t, const int32_t *ids, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int b = tok_byte_value(t, ids[i]);
        if (b >= 0) {
            out[k++] = (char)b;
            continue;
        }
        size_t len;
        const char *p = tok_piece(t, ids[i], &len);
        for (size_t j = 0; j < len;) {
            if (len - j >= 3 && memcmp(p + j, SP, 3) == 0) {
                out[k++] = ' ';
                j += 3;
            } else {
                out[k++] = p[j++];
            }
        }
    }
    return k;
}

static void check_stream(const struct tok *t, const int32_t *ids, size_t n, unsigned flags)
{
    struct tok_stream s;
    tok_stream_init(&s, t, flags);
    size_t cap = tok_stream_bufsize(t);
    char *buf = malloc(cap);
    if (!buf)
        abort();
    for (size_t i = 0; i <= n; i++) {
        size_t got;
        enum status st = i < n ? tok_stream_put(&s, ids[i], buf, cap, &got)
                               : tok_stream_flush(&s, buf, cap, &got);
        if (st == STATUS_INVALID && i < n && (ids[i] < 0 || ids[i] >= tok_n_vocab(t)))
            continue;
        if (st != STATUS_OK || got > cap || !utf8_valid(buf, got))
            abort();
    }
    free(buf);
}

static void encode_check(struct tok *t, const uint8_t *text, size_t len, unsigned flags,
                         bool check_lossless)
{
    size_t cap = tok_encode_bound(len);
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        abort();
    size_t n = 0;
    enum status st = tok_encode(t, (const char *)text, len, flags, ids, cap, &n);
    if (st != STATUS_OK || n > cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tok_n_vocab(t))
            abort();
    if (check_lossless) {
        char *raw = malloc(3 * len + 8);
        char *want = malloc(len + 1);
        if (!raw || !want)
            abort();
        size_t k = raw_pieces(t, ids, n, raw);
        size_t w = 0;
        if (len > 0 && tok_add_space_prefix(t))
            want[w++] = ' ';
        for (size_t i = 0; i < len;) {
            if (len - i >= 3 && memcmp(text + i, SP, 3) == 0) {
                want[w++] = ' ';
                i += 3;
            } else {
                want[w++] = (char)text[i++];
            }
        }
        if (k != w || memcmp(raw, want, k) != 0)
            abort();
        free(raw);
        free(want);
    }
    check_stream(t, ids, n, flags & 1 ? TOK_STREAM_SPECIAL : TOK_STREAM_STRIP_START);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct tok *t = fixed_vocab();
    const uint8_t *rest = data + 2;
    size_t n_rest = size - 2;
    switch (data[0] % 3) {
    case 0: {
        unsigned flags = data[1] & (TOK_ENCODE_ADD_SPECIAL | TOK_ENCODE_BOS |
                                    TOK_ENCODE_PARSE_SPECIAL);
        bool plain = !(flags & (TOK_ENCODE_ADD_SPECIAL | TOK_ENCODE_BOS)) &&
                     !contains(rest, n_rest, "({") && !contains(rest, n_rest, "})") &&
                     !contains(rest, n_rest, "-->") &&
                     (!(flags & TOK_ENCODE_PARSE_SPECIAL) ||
                      (!contains(rest, n_rest, "<s>") && !contains(rest, n_rest, "</s>") &&
                       !contains(rest, n_rest, "<unk>")));
        encode_check(t, rest, n_rest, flags, plain);
        break;
    }
    case 1: {
        size_t n = n_rest / 2;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        if (!ids)
            abort();
        for (size_t i = 0; i < n; i++) {
            int v = rest[2 * i] | rest[2 * i + 1] << 8;
            ids[i] = v % (tok_n_vocab(t) + 8) - 4; /* a few out of range on both sides */
        }
        check_stream(t, ids, n, data[1] & 3);
        free(ids);
        break;
    }
    default: {
        size_t cap = 64, n = 0;
        const char **toks = malloc(cap * sizeof *toks);
        size_t *lens = malloc(cap * sizeof *lens);
        int32_t *types = malloc(cap * sizeof *types);
        if (!toks || !lens || !types)
            abort();
        size_t start = 0;
        for (size_t i = 0; i <= n_rest && n < cap; i++) {
            if (i == n_rest || rest[i] == '\n') {
                toks[n] = (const char *)rest + start;
                lens[n] = i - start;
                /* mostly normal pieces; now and then a special, byte or invalid type */
                types[n] = lens[n] && rest[start] >= 0xF8 ? rest[start] - 0xF8 : 1;
                n++;
                start = i + 1;
            }
        }
        struct tok_vocab_desc d;
        tok_vocab_desc_init(&d);
        d.n_tokens = n;
        d.tokens = toks;
        d.token_lens = lens;
        d.types = types;
        d.unk_id = data[1] % 4 < n ? (int32_t)(data[1] % 4) : -1;
        d.bos_id = n > 1 ? 1 : -1;
        d.add_space_prefix = data[1] & 0x80;
        struct tok *v = NULL;
        if (tok_new(&d, &v) == STATUS_OK) {
            encode_check(v, data, size, data[1] & TOK_ENCODE_PARSE_SPECIAL, false);
            tok_free(v);
        }
        free(toks);
        free(lens);
        free(types);
        break;
    }
    }
    return 0;
}
