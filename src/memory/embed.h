/* embed.h -- text embedders behind one interface, and the default one that needs no weights.
 *
 * An embedder turns short texts (entity and relation names) into L2-normalized float
 * vectors of a fixed dimension.  The memory compares them by cosine (memory/sim), so two
 * names that mean the same entity should get nearby vectors.  The interface is a small
 * struct of function pointers so that the agent layer can plug in a model-based embedder
 * later; memory/ never knows which one it holds.  Its `id` names the embedder and every
 * parameter that changes its output ("hash-ngram-v1-d512"); the store records it, and a
 * database built with another id must be reindexed.
 *
 * The default embedder ("hash-ngram-v1-d<dim>") is deterministic, needs no weights and no
 * network, and gives identical output on every platform:
 *   1. normalize (embed_normalize below): Unicode-aware case folding for Latin, Greek and
 *      Cyrillic, Latin accents stripped (à -> a, ß -> ss, æ -> ae, ł -> l), Greek tonos
 *      and dialytika stripped, Cyrillic yo -> ye, fullwidth ASCII mapped to ASCII,
 *      combining marks dropped; '.' and apostrophes are deleted ("U.S.A." -> "usa",
 *      "O'Neil" -> "oneil"), except that a '.' between two digits separates ("1.6" ->
 *      "1 6", not "16") and a possessive 's is dropped ("Co.'s" -> "co"); all other
 *      punctuation, symbols, spaces and control characters separate words; every byte that
 *      does not start a valid UTF-8 sequence is a separator too (so invalid UTF-8 is
 *      accepted, never an error); other scripts (CJK, Arabic, ...) pass through unchanged;
 *   2. features: each word as a whole token (weight 3) plus the character 2-, 3- and
 *      4-grams of the word wrapped in begin/end markers (weight 1 each, counted per
 *      occurrence); the articles "the", "a", "an" count one fifth; word order does not
 *      matter;
 *   3. signed feature hashing of those features (64-bit FNV-1a, then a mixing step) into
 *      `dim` buckets, then L2 normalization.
 * A text with no words (empty, or only punctuation/invalid bytes) gets one fixed
 * "empty" feature: all such texts share one vector, far from every real name. */
#ifndef MEMLLM_EMBED_H
#define MEMLLM_EMBED_H

#include <stddef.h>

#include "util/status.h"

/* The interface.  A caller-owned value; fill it in to plug in another embedder.
 * embed(): writes n rows of dim floats to out (n x dim, row-major), each L2-normalized
 *   (norm 1 within float rounding, never a zero row); texts[i] is lens[i] bytes, not
 *   necessarily NUL-terminated, and may be NULL when lens[i] is 0.  Returns STATUS_OK or
 *   an error (out's contents then unspecified).  Must be safe to call from one thread at
 *   a time; the default embedder is also safe from several threads at once.
 * free(): releases ctx (may be NULL when there is nothing to release). */
struct embedder {
    const char *id; /* borrowed from ctx; stable for the embedder's lifetime */
    size_t dim;
    enum status (*embed)(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                         float *out);
    void (*free)(void *ctx);
    void *ctx;
};

#define EMBED_HASH_DIM_DEFAULT 512
#define EMBED_DIM_MAX 65536

/* Distance thresholds (1 - cos) measured for hash-ngram-v1-d512 on Re-DocRED (figures in
 * data/README.embed): entities within 0.20 are surface or close spelling variants (about
 * 2 false matches per 1000 unrelated names); 0.13 is just below the closest pair of
 * distinct Re-DocRED relation names (participant / participant of, 0.136).  Suggested
 * defaults for the read thresholds dist_thr and dist_rel_thr with this embedder. */
#define EMBED_HASH_DIST_THR 0.20
#define EMBED_HASH_DIST_REL_THR 0.13

/* Fill *out with the default hashed n-gram embedder of dimension dim (0 means
 * EMBED_HASH_DIM_DEFAULT; otherwise 16 .. EMBED_DIM_MAX).  Release with embed_free(). */
enum status embed_hash_new(size_t dim, struct embedder *out);

/* Release e's context and zero *e.  NULL, and a zeroed struct, are no-ops. */
void embed_free(struct embedder *e);

/* Checked call of e->embed: rejects a NULL/zero-dimension embedder and NULL arrays
 * (STATUS_INVALID); lens may be NULL, then every texts[i] must be NUL-terminated.
 * n == 0 does nothing and returns STATUS_OK. */
enum status embed_texts(const struct embedder *e, const char *const *texts, const size_t *lens,
                        size_t n, float *out);

/* One text of len bytes into out[0..e->dim). */
enum status embed_one(const struct embedder *e, const char *text, size_t len, float *out);

/* The default embedder's normalization (step 1 above): writes the normalized text,
 * words separated by single spaces, no leading or trailing space, NUL-terminated, into
 * out (cap bytes).  The result is never longer than len bytes, so cap = len + 1 always
 * suffices.  Returns its length, or (size_t)-1 when cap is too small (out then holds a
 * truncated, NUL-terminated prefix when cap > 0). */
size_t embed_normalize(const char *s, size_t len, char *out, size_t cap);

#endif /* MEMLLM_EMBED_H */
