/* utf8.h -- UTF-8 decoding, validation, terminal cell width and safe truncation.
 *
 * Strings are byte ranges (pointer + length) and need not be NUL-terminated.
 * Decoding is strict: overlong forms, surrogates (U+D800..U+DFFF), code points above
 * U+10FFFF and sequences cut short are invalid.  Width follows the usual terminal
 * rules (East Asian wide and fullwidth = 2 cells, combining marks and zero-width
 * format characters = 0, everything else printable = 1); a byte that does not start
 * a valid sequence, and a control character, is counted as 1 cell because the view
 * draws a replacement glyph for it. */
#ifndef MEMLLM_UTF8_H
#define MEMLLM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the code point at s[0..len).  Returns its byte length (1..4) and sets *cp,
 * 0 when len is 0, or -1 when the bytes are not a valid sequence (*cp untouched). */
int utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Encode cp into out (at least 4 bytes).  Returns the length, or 0 for a surrogate
 * or a value above U+10FFFF. */
size_t utf8_encode(uint32_t cp, char *out);

/* True when s[0..len) is entirely valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

/* Length of the longest prefix of s[0..len) that does not end inside a multi-byte
 * sequence which could still be completed by more bytes.  Used to stream text
 * without ever emitting half a character.  Invalid bytes count as complete. */
size_t utf8_prefix_complete(const char *s, size_t len);

/* Cells one code point occupies: 0, 1 or 2; -1 for control characters. */
int utf8_cp_width(uint32_t cp);

/* Cells s[0..len) occupies (see the header comment for invalid bytes and controls). */
size_t utf8_width(const char *s, size_t len);
size_t utf8_width_cstr(const char *s);

/* Bytes of the longest prefix of s[0..len) that fits in max_cols cells without
 * splitting a character; zero-width characters that follow the last one kept are
 * kept with it.  *cols (may be NULL) receives the prefix's width. */
size_t utf8_truncate(const char *s, size_t len, size_t max_cols, size_t *cols);

#endif /* MEMLLM_UTF8_H */
