/* split.h -- split prose into sentences for the MemLLM write mode (one write call each).
 *
 * Rules, in order:
 *   1. A blank line (a line break, optional spaces/tabs, another line break) ends a
 *      sentence (paragraphs, titles).  A single line break is a space (wrapped text).
 *   2. A sentence ends after '.', '!', '?', "..." or U+2026 (a run of them, e.g. "?!"),
 *      followed by any closing quotes or brackets (" ' ) ] } and U+201D U+2019 U+00BB),
 *      when whitespace follows and the next non-space character is not a lower-case
 *      ASCII letter and not one of , ; : (so "... and then" and "3.14" never split).
 *   3. A single '.' does not end a sentence after: a known abbreviation (Dr Mr Mrs Ms
 *      Prof St Jr Sr Mt Gen Col Lt Sgt Rev Gov Sen Rep Inc Ltd Co Corp No vs cf approx
 *      Jan Feb Mar Apr Aug Sep Sept Oct Nov Dec Fig, any case), a single letter (initials:
 *      "J. R. R. Tolkien"), or a dotted abbreviation ("U.S.", "e.g.", "i.e.", "a.m.":
 *      a word with another '.' inside whose dot-separated parts are at most 2 letters).
 *      '.' between digits (3.14) is never an end.
 * Sentences are trimmed of surrounding whitespace; empty ones are dropped.  Text is bytes
 * (UTF-8 expected; invalid bytes are kept as they are, never an error). */
#ifndef MEMLLM_SPLIT_H
#define MEMLLM_SPLIT_H

#include <stddef.h>

#include "util/status.h"

struct split_span {
    size_t off, len; /* byte range in the text */
};

/* Split text[0..len) into *out (owned, free()) with *n spans, in order.  *out is NULL
 * when *n is 0.  STATUS_NOMEM. */
enum status split_sentences(const char *text, size_t len, struct split_span **out, size_t *n);

#endif /* MEMLLM_SPLIT_H */
