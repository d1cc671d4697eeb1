/* bpe_train.h -- learn a SentencePiece-style BPE vocabulary from text and write it as a
 * GGUF tokenizer that engine/tok encodes with exactly the learned merges.
 *
 * Pre-splitting mirrors tok_encode() on the written vocabulary (add_space_prefix false):
 *   1. The user-defined tokens ("({", "})", "-->" and any extra ones) are cut out of the
 *      text first, longest first (ties: the order given), as tok does; they never take
 *      part in a merge.
 *   2. In each remaining fragment every ' ' becomes U+2581 "▁" and starts a new word; a
 *      run of line feeds is a word of its own.  No space is put in front of a fragment
 *      (the vocabulary says add_space_prefix = false), so decode(encode(x)) == x for every
 *      valid UTF-8 x that has no "▁" of its own (tok reads "▁" in the input as a space).
 *   3. Words are counted; characters are kept by frequency until char_coverage of all
 *      character occurrences is reached (and the vocabulary has room); a character left
 *      out, and any invalid byte, separates its neighbours and encodes as byte tokens.
 *   4. BPE: the most frequent adjacent pair of symbols (ties: lower left symbol id, then
 *      lower right id) becomes a new symbol, until the vocabulary is full or no pair
 *      occurs min_freq times.  Pair counts are updated incrementally from the words that
 *      hold the merged pair, and a max-heap with lazy deletion picks the next pair.
 *      A pair is never merged when its text would be longer than max_piece_chars
 *      characters, or a proper prefix or suffix (of two or more characters) of a control,
 *      unknown or byte token ("<s>", "<0x41>"): tok looks every concatenation up among
 *      all pieces, and such pieces could otherwise join into "<s>" and lose text.
 *      A merge whose text is already a piece (from another split) is applied to the words
 *      but adds no piece.
 * Vocabulary written: <unk> (0, unknown), <s> (1, control), </s> (2, control), the byte
 * tokens <0x00>..<0xFF> (3..258), the user-defined tokens, the kept characters (most
 * frequent first), then the merged pieces in merge order.  Merged piece k (0-based) has
 * score -k, so tok's "merge the highest score first" replays the learned order; the
 * characters score below every merge; all other tokens score 0.
 * Everything is deterministic: the same texts in the same order give the same file. */
#ifndef MEMLLM_BPE_TRAIN_H
#define MEMLLM_BPE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct gguf_writer;
struct tok;

#define BPE_TRAIN_MAX_USER_TOKENS 64

/* Settings; fill with bpe_train_params_init(), then change what you need. */
struct bpe_train_params {
    size_t vocab_size;          /* total tokens wanted (default 4096) */
    double char_coverage;       /* share of character occurrences kept (default 0.9995) */
    uint64_t min_freq;          /* a pair must occur this often to be merged (default 2) */
    size_t max_piece_chars;     /* longest merged piece in characters (default 16) */
    /* User-defined tokens besides "({", "})", "-->" (borrowed during bpe_trainer_new());
     * duplicates of the defaults are ignored. */
    const char *const *user_tokens;
    size_t n_user_tokens;
};

void bpe_train_params_init(struct bpe_train_params *p);

struct bpe_trainer; /* opaque */

/* STATUS_INVALID (detail names the setting) for a vocabulary that cannot hold the 259
 * fixed tokens, the user tokens and one character, a bad coverage, or a user token that
 * is empty, not valid UTF-8, longer than TOK_MAX_PIECE or equal to a fixed token. */
enum status bpe_trainer_new(const struct bpe_train_params *p, struct bpe_trainer **out);
void bpe_trainer_free(struct bpe_trainer *t); /* NULL is a no-op */

/* Count the words of text[0..len) (any bytes; see the header comment).  Only before
 * bpe_trainer_train(); STATUS_INVALID after it. */
enum status bpe_trainer_add_text(struct bpe_trainer *t, const char *text, size_t len);

/* Input file formats for bpe_trainer_add_file(). */
enum bpe_input {
    BPE_INPUT_AUTO,  /* JSON lines when the first non-blank line is a JSON object */
    BPE_INPUT_PLAIN, /* the whole file is one text */
    BPE_INPUT_JSONL, /* one JSON object per line: "text", or "prompt" + "completion" */
};

/* Add a file.  JSON lines: each non-blank line is an object; its "text" string is one
 * text, its "prompt" and "completion" strings are joined into one text; other members are
 * ignored.  STATUS_IO (detail: file and reason), STATUS_PARSE (detail: file, line and
 * reason) for a line that is not such an object. */
enum status bpe_trainer_add_file(struct bpe_trainer *t, const char *path, enum bpe_input fmt);

/* Learn the merges.  Once only (STATUS_INVALID the second time); STATUS_NOMEM. */
enum status bpe_trainer_train(struct bpe_trainer *t);

/* What was counted and learned (valid after bpe_trainer_train(); counts before it
 * otherwise). */
struct bpe_train_stats {
    uint64_t n_bytes;        /* text bytes added */
    uint64_t n_words;        /* word occurrences */
    size_t n_distinct;       /* distinct words */
    size_t n_chars_seen;     /* distinct characters in the text */
    size_t n_chars;          /* characters kept as pieces */
    size_t n_merges;         /* merges learned (including those that added no piece) */
    size_t n_vocab;          /* tokens in the vocabulary (<= vocab_size) */
};
void bpe_trainer_stats(const struct bpe_trainer *t, struct bpe_train_stats *out);

/* Add the tokenizer keys (tokenizer.ggml.*) to w. */
enum status bpe_trainer_to_writer(const struct bpe_trainer *t, struct gguf_writer *w);

/* Build a tok directly from the learned vocabulary (the same one the writer writes);
 * free it with tok_free(). */
enum status bpe_trainer_tok(const struct bpe_trainer *t, struct tok **out);

/* Self-check: encode every distinct training word with tok (a tokenizer made from this
 * trainer) and count those whose pieces differ from the segmentation the merges gave in
 * training.  *n_checked receives the number of words checked. */
enum status bpe_trainer_check(const struct bpe_trainer *t, struct tok *tok, size_t *n_checked,
                              size_t *n_mismatch);

#endif /* MEMLLM_BPE_TRAIN_H */
