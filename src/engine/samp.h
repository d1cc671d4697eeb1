/* samp.h -- choose the next token from logits: greedy, temperature, top-k, top-p, min-p,
 * repetition penalty, logit masks, a seeded RNG; and stop strings on the decoded text.
 *
 * The chain follows llama.cpp's default order: masks, repetition penalty, then (unless
 * greedy) top-k, top-p, min-p, temperature, and a draw from the remaining distribution.
 * Ties between equal logits always go to the lower token id, so results do not depend
 * on the platform's sort.  The RNG is xoshiro256** seeded through splitmix64: the same
 * seed gives the same tokens on every platform. */
#ifndef MEMLLM_SAMP_H
#define MEMLLM_SAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct samp_params {
    float temp;            /* <= 0: greedy (argmax) */
    int32_t top_k;         /* keep the k most likely; <= 0: off */
    float top_p;           /* keep the smallest set with probability >= top_p; >= 1: off */
    float min_p;           /* drop tokens with p < min_p * p_max; <= 0: off */
    float repeat_penalty;  /* 1: off; logits of recent tokens: positive / r, negative * r */
    size_t repeat_last_n;  /* the window of recent tokens the penalty looks at */
    uint64_t seed;
};

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1
 * (off), repeat_last_n 64, seed 0. */
void samp_params_init(struct samp_params *p);

struct samp; /* opaque */

/* A sampler for a vocabulary of n_vocab tokens; all scratch is allocated here.  *out is
 * set only on success; free with samp_free(). */
enum status samp_new(const struct samp_params *p, size_t n_vocab, struct samp **out);
void samp_free(struct samp *s); /* NULL is a no-op */

/* Pick a token from logits[0..n_vocab) (not modified) and record it in the history (as
 * samp_accept).  *logprob (may be NULL) receives the token's log-probability under the
 * model after masks and repetition penalty, at temperature 1, before truncation.
 * STATUS_INVALID when the masks leave no token. */
enum status samp_sample(struct samp *s, const float *logits, int32_t *tok, float *logprob);

/* Record a token (e.g. of the prompt) in the history that the repetition penalty sees. */
void samp_accept(struct samp *s, int32_t tok);

/* Forget the history and restart the RNG from the seed. */
void samp_reset(struct samp *s);

/* Masks, applied to every following samp_sample() until changed.  allow: only these ids
 * may be chosen (replaces an earlier allow-list; n 0 removes it).  forbid: these ids may
 * not be chosen (adds to the forbid-list).  Ids out of range are ignored. */
void samp_mask_allow(struct samp *s, const int32_t *ids, size_t n);
void samp_mask_forbid(struct samp *s, const int32_t *ids, size_t n);
void samp_mask_clear(struct samp *s); /* both lists */

/* The RNG alone, for tests: next 64 random bits. */
uint64_t samp_rand_u64(struct samp *s);

/* ---- Stop strings ----------------------------------------------------------------------- */

/* Watches decoded text, piece by piece, for any of a set of stop strings (which may span
 * token boundaries).  Text that might be the start of a stop string is held back until
 * it is known not to be one. */
struct samp_stop; /* opaque */

/* stops[0..n) are copied; empty strings are ignored. */
enum status samp_stop_new(const char *const *stops, size_t n, struct samp_stop **out);
void samp_stop_free(struct samp_stop *st); /* NULL is a no-op */

/* Add text; returns true once a stop string has appeared (further input is ignored).
 * STATUS-free: on allocation failure the text is passed through unchecked. */
bool samp_stop_feed(struct samp_stop *st, const char *text, size_t len);

/* The text that is safe to show now (before any stop string, not a possible start of
 * one): *out borrowed until the next call on st.  Removes it from st. */
void samp_stop_take(struct samp_stop *st, const char **out, size_t *len);

/* At the end: everything still held back (nothing after a stop).  Resets st. */
void samp_stop_flush(struct samp_stop *st, const char **out, size_t *len);

/* Index of the stop string that matched, or -1. */
int samp_stop_which(const struct samp_stop *st);

#endif /* MEMLLM_SAMP_H */
