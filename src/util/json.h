/* json.h -- strict JSON (RFC 8259) reader into an immutable document, and string writers.
 *
 * Reading: json_parse() checks the whole text against the RFC 8259 grammar and builds a
 * document that owns every value (one arena, freed at once by json_doc_free()).
 * - Any value may be the root; only the four JSON whitespace bytes (space, tab, LF, CR)
 *   are skipped; anything after the root value is an error; a byte order mark is an error.
 * - Strings must be valid UTF-8 with no raw control characters (< U+0020); \u escapes
 *   are decoded, UTF-16 surrogate pairs are joined, a lone surrogate is an error.
 *   "\u0000" is allowed, so a decoded string may contain NUL: use the length.
 * - Numbers follow the grammar exactly (no leading zeros, no '+', no bare '.', no NaN or
 *   Infinity).  A number too large for a double is an error (it would become infinity).
 * - Arrays and objects nest at most JSON_MAX_DEPTH levels deep.
 * - Duplicate object keys are kept in document order; json_get() returns the FIRST.
 * Time and memory are linear in the input length.  Parse errors return STATUS_PARSE
 * (STATUS_ENCODING for invalid UTF-8, STATUS_LIMIT for nesting, STATUS_NOMEM) and set a
 * status detail "line L, column C: reason"; lines and columns start at 1, a line ends at
 * LF, and the column counts characters (each invalid byte counts as one).
 *
 * JSON lines: split the text at '\n' and call json_parse() on each non-empty line.
 *
 * Writing: json_write_str() / json_escape() produce a quoted JSON string from bytes:
 * '"' and '\\' are escaped, control characters become \b \f \n \r \t or \u00XX, every
 * other valid UTF-8 character is written as is, and each byte that is not part of a
 * valid UTF-8 sequence becomes \ufffd, so the output is always valid JSON. */
#ifndef MEMLLM_JSON_H
#define MEMLLM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/status.h"

#define JSON_MAX_DEPTH 512

enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_doc;   /* opaque: a parsed document owning all its values */
struct json_value; /* opaque: borrowed from the doc, valid until json_doc_free() */

/* Parse text[0..len) (need not be NUL-terminated).  On success *out is an owned
 * document (free with json_doc_free()); on failure *out is untouched. */
enum status json_parse(const char *text, size_t len, struct json_doc **out);
void json_doc_free(struct json_doc *d); /* NULL is a no-op */

/* The root value; borrowed from d.  Never NULL for a parsed document. */
const struct json_value *json_doc_root(const struct json_doc *d);

/* All accessors accept NULL and then return the "wrong kind" answer. */
enum json_kind json_kind(const struct json_value *v); /* JSON_NULL for a NULL v */

/* Member count of an array or object, else 0. */
size_t json_len(const struct json_value *v);

/* Element i of an array or the value of member i of an object (document order);
 * NULL when out of range or v is neither. */
const struct json_value *json_at(const struct json_value *v, size_t i);

/* Key of member i of an object (decoded, NUL-terminated, may contain NUL; *len, if
 * not NULL, receives its byte length); NULL when out of range or not an object. */
const char *json_key_at(const struct json_value *obj, size_t i, size_t *len);

/* Value of the first member whose key equals the C string key (linear scan);
 * NULL when absent or obj is not an object. */
const struct json_value *json_get(const struct json_value *obj, const char *key);

/* Decoded UTF-8 bytes of a string, NUL-terminated (may contain NUL: use *len, which may
 * be NULL); NULL if v is not a string. */
const char *json_str(const struct json_value *v, size_t *len);

/* The number as the nearest double; false (and *out untouched) if not a number. */
bool json_num(const struct json_value *v, double *out);

/* The number as an int64 when its value is an exact integer in range ("3", "-0",
 * "1e2", "2.50e1"); false (and *out untouched) otherwise ("1.5", "1e19"). */
bool json_int(const struct json_value *v, int64_t *out);

bool json_bool(const struct json_value *v, bool *out); /* false if not true/false */

/* Write s[0..len) to f as a quoted, escaped JSON string (see the header comment). */
void json_write_str(FILE *f, const char *s, size_t len);

/* The same as an owned NUL-terminated string (free()); NULL when out of memory. */
char *json_escape(const char *s, size_t len);

#endif /* MEMLLM_JSON_H */
