/* relations.h -- parse relations.tsv, the list of known relations and their flags.
 *
 * Layout, one relation per line (LF or CRLF; the last line may lack its newline):
 *   1. Wikidata property id ("P19") or empty for a relation Wikidata lacks
 *   2. TAB, the relation name (non-empty UTF-8, no control characters, at most
 *      RELATIONS_NAME_MAX bytes)
 *   3. TAB, single_valued: "0" or "1"
 * Empty lines and lines starting with '#' are skipped. */
#ifndef MEMLLM_RELATIONS_H
#define MEMLLM_RELATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/status.h"

#define RELATIONS_NAME_MAX 1024
#define RELATIONS_ID_MAX 32

struct relations_row {
    char wikidata_id[RELATIONS_ID_MAX + 1]; /* "" when none */
    char name[RELATIONS_NAME_MAX + 1];
    bool single_valued;
    size_t line; /* 1-based */
};

/* Called once per relation; return 0 to go on, non-zero to stop (relations_parse then
 * returns STATUS_CANCELLED).  The row is borrowed for the call. */
typedef int (*relations_cb)(void *ctx, const struct relations_row *row);

/* Parse buf[0..len).  STATUS_PARSE or STATUS_ENCODING with "<name>:<line>: reason" in
 * the detail (name labels the input, e.g. its path) at the first bad line; rows before
 * it have been passed to cb. */
enum status relations_parse(const char *buf, size_t len, const char *name, relations_cb cb,
                            void *ctx);

#endif /* MEMLLM_RELATIONS_H */
