/* tok.h -- SentencePiece-BPE tokenizer (GGUF `tokenizer.ggml.model = "llama"`).
 *
 * Encoding follows llama.cpp's SPM tokenizer, so token ids match the ones a model was
 * run with there:
 *   1. Pre-split: tokens of type USER_DEFINED (and, with TOK_ENCODE_PARSE_SPECIAL, also
 *      CONTROL and UNKNOWN) are cut out of the raw text first.  Longer tokens go first:
 *      for each such token, longest first (ties: lower id), every occurrence in every
 *      remaining text fragment becomes that token and splits the fragment around it.
 *   2. Each remaining text fragment that starts the text or follows such a token gets a
 *      space prepended (when add_space_prefix), then every ' ' becomes U+2581 "▁".
 *   3. The fragment is split into UTF-8 characters; then, repeatedly, the adjacent pair
 *      whose concatenation is a vocabulary piece with the highest score is merged (ties:
 *      the leftmost pair).  A priority queue over a linked list of symbols makes this
 *      O(n log n) in the fragment length.  Two neighbouring characters that occur next
 *      to each other in no piece can never end up in one symbol, so the fragment is cut
 *      there first and each run merged with its own small heap (same result, and linear
 *      in practice: about 7 MB/s of English text with the 32000-token Llama vocabulary).
 *   4. Each final symbol is its piece's id; a symbol without a piece (a character
 *      missing from the vocabulary) goes out as one byte token `<0xXX>` per UTF-8 byte.
 *      A vocabulary without byte tokens uses a single-byte piece when it has one, and
 *      otherwise one unknown token per such character.
 * Invalid UTF-8 input is not an error: each byte that is not part of a valid sequence
 * is a symbol of its own that never merges (no piece contains it) and so becomes its
 * byte token (or the unknown token).  Encoding is therefore lossless for any bytes when
 * the vocabulary has byte tokens.  (llama.cpp groups such bytes by their lead byte; the
 * results differ only on invalid input.)
 *
 * Decoding (tok_stream): normal pieces with "▁" -> ' ', byte tokens reassembled into
 * UTF-8 across tokens, user-defined tokens as their text, control/unknown/unused tokens
 * as nothing (unless TOK_STREAM_SPECIAL).  The output is always valid UTF-8: an
 * unfinished character is held back until the next token, and bytes that cannot form
 * a character become U+FFFD (one per maximal invalid subsequence).
 *
 * Thread safety: a struct tok is immutable after construction except for its built-in
 * work buffer, which tok_encode() reuses.  Use one tok per thread, or share one tok and
 * give each thread its own struct tok_work with tok_encode_work().  Decoding functions
 * only read the tok. */
#ifndef MEMLLM_TOK_H
#define MEMLLM_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct gguf;

/* Token types; the numbers are those of GGUF `tokenizer.ggml.token_type`. */
enum tok_type {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* Limits a vocabulary must respect. */
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_MAX_PIECE 1024 /* bytes in one piece */

/* A vocabulary as arrays.  All arrays have n_tokens elements and are borrowed only
 * during tok_new() (everything is copied).  Initialise with tok_vocab_desc_init(). */
struct tok_vocab_desc {
    size_t n_tokens;
    const char *const *tokens; /* UTF-8 pieces; byte tokens are "<0xXX>" */
    const size_t *token_lens;  /* byte lengths; NULL: tokens are NUL-terminated */
    const float *scores;       /* NULL: all 0 */
    const int32_t *types;      /* enum tok_type values; NULL: all TOK_TYPE_NORMAL */
    int32_t bos_id, eos_id, unk_id; /* -1: none */
    bool add_bos, add_eos;     /* what TOK_ENCODE_ADD_SPECIAL adds */
    bool add_space_prefix;     /* prepend ' ' to text (default true) */
};

/* Defaults: no arrays, bos/eos/unk -1, add_bos/add_eos false, add_space_prefix true. */
void tok_vocab_desc_init(struct tok_vocab_desc *d);

struct tok; /* opaque */

/* Build a tokenizer and validate the vocabulary: ids in range, types 1..6, pieces
 * valid UTF-8 of at most TOK_MAX_PIECE bytes, byte tokens exactly "<0xXX>" and each byte
 * value once; when the vocabulary has any byte token it must have all 256, otherwise
 * the unknown id must be set.  Several ids may share a piece: the piece then encodes
 * as the highest of them (as in llama.cpp).  STATUS_FORMAT (or STATUS_OVERFLOW for
 * sizes, STATUS_INVALID for a NULL array) with a detail naming the token; *out is set
 * only on success, free it with tok_free(). */
enum status tok_new(const struct tok_vocab_desc *d, struct tok **out);

/* Build from GGUF metadata: tokenizer.ggml.model (must be "llama"), .tokens (string
 * array), .scores (float array, optional), .token_type (integer array, optional),
 * .bos_token_id / .eos_token_id / .unknown_token_id (defaults 1 / 2 / 0, as
 * llama.cpp), .add_bos_token (default true), .add_eos_token (default false),
 * .add_space_prefix (default true).  The arrays must have equal lengths.  Nothing is
 * borrowed from g: the tok outlives it.  STATUS_UNSUPPORTED for another tokenizer
 * model, STATUS_NOT_FOUND without tokens, STATUS_FORMAT for bad values (detail names
 * the key). */
enum status tok_from_gguf(const struct gguf *g, struct tok **out);

void tok_free(struct tok *t); /* NULL is a no-op */

/* ---- Accessors ---------------------------------------------------------------------- */

int32_t tok_n_vocab(const struct tok *t);
int32_t tok_bos(const struct tok *t); /* -1 when none */
int32_t tok_eos(const struct tok *t);
int32_t tok_unk(const struct tok *t);
bool tok_add_bos(const struct tok *t);
bool tok_add_eos(const struct tok *t);
bool tok_add_space_prefix(const struct tok *t);
/* Type of id; 0 when id is out of range. */
enum tok_type tok_token_type(const struct tok *t, int32_t id);
bool tok_is_control(const struct tok *t, int32_t id); /* false when out of range */
float tok_score(const struct tok *t, int32_t id);     /* 0 when out of range */
/* The raw piece of id ("▁Hello", "<0x0A>"), NUL-terminated, borrowed until tok_free();
 * NULL when id is out of range.  *len (may be NULL) receives its byte length. */
const char *tok_piece(const struct tok *t, int32_t id, size_t *len);
/* Id whose piece is exactly piece[0..len), or -1. */
int32_t tok_find(const struct tok *t, const char *piece, size_t len);
/* Byte value of a byte token, or -1 for any other id. */
int tok_byte_value(const struct tok *t, int32_t id);
/* Longest piece in bytes. */
size_t tok_max_piece_len(const struct tok *t);
/* The text token id stands for inside generated text, into buf (at most cap bytes, not
 * NUL-terminated): a byte token's byte; a normal piece with each U+2581 as ' '; a
 * user-defined piece as it is; length 0 for control, unknown, unused and out-of-range
 * ids.  At most tok_max_piece_len() bytes. */
size_t tok_token_text(const struct tok *t, int32_t id, char *buf, size_t cap);

/* ---- Encoding ----------------------------------------------------------------------- */

enum tok_encode_flags {
    TOK_ENCODE_ADD_SPECIAL = 1u << 0,   /* add BOS/EOS as the vocabulary's add_bos/add_eos say */
    TOK_ENCODE_BOS = 1u << 1,           /* add BOS regardless (once) */
    TOK_ENCODE_PARSE_SPECIAL = 1u << 2, /* control and unknown pieces in the text are tokens */
};

/* Reusable scratch memory for encoding; one per thread that encodes. */
struct tok_work;
enum status tok_work_new(struct tok_work **out);
void tok_work_free(struct tok_work *w); /* NULL is a no-op */

/* Encode text[0..len) into ids[0..cap).  *n_out receives the number of ids the text
 * needs; when that is more than cap, ids holds the first cap of them and the result is
 * STATUS_OVERFLOW (call again with a larger buffer; tok_encode_bound() always suffices).
 * STATUS_NOMEM when the work buffer cannot grow, STATUS_INVALID when a requested
 * BOS/EOS does not exist.  Uses t's own work buffer: not thread-safe on one t. */
enum status tok_encode(struct tok *t, const char *text, size_t len, unsigned flags,
                       int32_t *ids, size_t cap, size_t *n_out);
/* The same with a caller-owned work buffer; t is only read. */
enum status tok_encode_work(const struct tok *t, struct tok_work *w, const char *text,
                            size_t len, unsigned flags, int32_t *ids, size_t cap,
                            size_t *n_out);
/* Upper bound on the ids tok_encode() produces for len bytes of text (any flags). */
size_t tok_encode_bound(size_t len);

/* ---- Decoding ----------------------------------------------------------------------- */

enum tok_stream_flags {
    /* The stream starts a text: the first piece loses one leading space (the one that
     * add_space_prefix put there).  The piece after a BOS token always does. */
    TOK_STREAM_STRIP_START = 1u << 0,
    /* Write control and unknown tokens as their pieces ("<s>") instead of nothing. */
    TOK_STREAM_SPECIAL = 1u << 1,
};

/* Streaming detokenizer: feed ids one at a time, get text that never ends inside a
 * character.  A plain struct so it can live on the stack; no allocation. */
struct tok_stream {
    const struct tok *t; /* borrowed */
    unsigned flags;
    bool strip;          /* the next output loses one leading space */
    unsigned char held[4]; /* the bytes of an unfinished character */
    uint8_t n_held, need;
};

void tok_stream_init(struct tok_stream *s, const struct tok *t, unsigned flags);
/* Output bytes that always suffice for one tok_stream_put() or tok_stream_flush(). */
size_t tok_stream_bufsize(const struct tok *t);
/* Decode one id: write the newly completed text to out[0..cap) (not NUL-terminated) and
 * its length to *n_out.  STATUS_INVALID for an id out of range, STATUS_OVERFLOW when
 * cap is too small (use tok_stream_bufsize()); in both cases s is unchanged. */
enum status tok_stream_put(struct tok_stream *s, int32_t id, char *out, size_t cap,
                           size_t *n_out);
/* End of text: a held-back unfinished character becomes U+FFFD.  s is then ready for
 * a new text (its STRIP_START setting applies again). */
enum status tok_stream_flush(struct tok_stream *s, char *out, size_t cap, size_t *n_out);

/* Whole sequence: decode ids[0..n) with tok_stream flags into an owned, NUL-terminated,
 * valid UTF-8 string (free()); *len (may be NULL) receives its length. */
enum status tok_decode(const struct tok *t, const int32_t *ids, size_t n, unsigned flags,
                       char **out, size_t *len);

#endif /* MEMLLM_TOK_H */
