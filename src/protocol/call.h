/* call.h -- parse, find and format MemLLM memory calls (the exact strings of DESIGN.md section 3).
 *
 * Grammar (SP = one optional space; spaces around every name are also tolerated):
 *   read    = "({" SP "MEM_READ(" query *2(";" query) ")" "-->" SP [results "})"]
 *   query   = subject ">>" relation ">>"        (object wanted)
 *           | ">>" relation ">>" object         (subject wanted)
 *   results = [name *29(";" name)]              (the wanted side's names, in score order)
 *   write   = "({" SP "MEM_WRITE" SP "-->" SP [triple *(";" triple)] "})"
 *   triple  = subject ">>" relation ">>" object
 *   markers = "({USER_ST})" sentence "({USER_END})"
 * Examples:
 *   ({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})
 *   ({MEM_READ(>>founder>>Apple Inc.)-->Steve Jobs;Steve Wozniak;Ronald Wayne})
 *   ({MEM_WRITE-->s1>>r1>>o1;s2>>r2>>o2})      ({MEM_WRITE-->})
 *
 * Names.  A name (subject, relation, object, result) is trimmed of spaces and must then be
 * non-empty valid UTF-8 without control characters (line breaks included) and without
 * ">>", ";", "({", "})" or "-->"; it must not start or end with '>', start with '{', or
 * end with '}' or "--" (those would merge with a neighbouring delimiter).  Parentheses are fine:
 * "Queen (band)" round-trips, because the query list ends at the ')' just before the
 * first "-->".  The parser checks every name with exactly the rules the formatters
 * enforce, so format(parse(x)) always re-parses to the same structure.
 *
 * Errors.  A text that is not a call of the expected kind at all (wrong opening, no "-->")
 * gives STATUS_PARSE with a detail "byte N: reason".  Otherwise parsing succeeds and each
 * malformed piece (query, result, triple) is left out of the lists and reported in
 * call->errors with its byte offset, one record per piece; a call that is not closed,
 * text after the closing "})", more than 3 queries or 30 results are reported the same
 * way.  The caller decides what a call with errors means. */
#ifndef MEMLLM_CALL_H
#define MEMLLM_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/status.h"

#define CALL_OPEN "({"
#define CALL_CLOSE "})"
#define CALL_ARROW "-->"
#define CALL_READ_PREFIX "({MEM_READ("
#define CALL_WRITE_PREFIX "({MEM_WRITE-->"
#define CALL_USER_ST "({USER_ST})"
#define CALL_USER_END "({USER_END})"
#define CALL_MAX_QUERIES 3
#define CALL_MAX_RESULTS 30

enum call_kind {
    CALL_KIND_UNKNOWN,  /* "({" followed by nothing recognizable (yet) */
    CALL_KIND_READ,     /* ({MEM_READ(...)-->...}) */
    CALL_KIND_WRITE,    /* ({MEM_WRITE-->...}) */
    CALL_KIND_USER_ST,  /* ({USER_ST}) */
    CALL_KIND_USER_END, /* ({USER_END}) */
};

enum call_want {
    CALL_WANT_OBJECT,  /* subject>>relation>> */
    CALL_WANT_SUBJECT, /* >>relation>>object */
};

/* A read query.  The wanted side is NULL in parsed queries; the formatters accept NULL
 * or "" there.  In a parsed call the strings are borrowed from it. */
struct call_query {
    const char *subj, *rel, *obj;
    enum call_want want;
};

struct call_triple {
    const char *subj, *rel, *obj;
};

enum call_error_kind {
    CALL_ERR_NONE,
    CALL_ERR_EMPTY_PIECE,       /* nothing between two ';' (or around one) */
    CALL_ERR_FIELD_COUNT,       /* not three fields separated by ">>" */
    CALL_ERR_BOTH_SIDES,        /* query gives subject and object */
    CALL_ERR_NO_SIDE,           /* query gives neither */
    CALL_ERR_EMPTY_SUBJECT,
    CALL_ERR_EMPTY_RELATION,
    CALL_ERR_EMPTY_OBJECT,
    CALL_ERR_EMPTY_NAME,        /* empty result name */
    CALL_ERR_TOO_MANY_QUERIES,  /* the 4th and later queries */
    CALL_ERR_TOO_MANY_RESULTS,  /* the 31st and later results */
    CALL_ERR_ENCODING,          /* invalid UTF-8 (pos: the bad byte) */
    CALL_ERR_CONTROL,           /* control character or line break (pos: that byte) */
    CALL_ERR_DELIMITER,         /* "({", "})", "-->", ";" or ">>" inside a name (pos: it) */
    CALL_ERR_EDGE,              /* starts/ends with '>', starts with '{', ends with '}' or '--' */
    CALL_ERR_MISSING_PAREN,     /* no ')' right before "-->" in a read (pos: "-->") */
    CALL_ERR_UNTERMINATED,      /* no closing "})" (pos: end of text) */
    CALL_ERR_TRAILING,          /* text after the closing "})" (pos: its first byte) */
    CALL_ERR_COUNT_
};

struct call_error {
    size_t pos; /* byte offset into the parsed text */
    enum call_error_kind kind;
};

/* A parsed call; owned by the caller, free with call_free().  Every string in it is
 * NUL-terminated and borrowed from it (valid until call_free()). */
struct call {
    enum call_kind kind;          /* CALL_KIND_READ or CALL_KIND_WRITE */
    bool closed;                  /* the closing "})" was present */
    struct call_query *queries;   /* READ */
    size_t n_queries;
    const char **results;         /* READ with results; n_results may be 0 */
    size_t n_results;
    bool has_results;             /* READ: text went on after "-->" (results given) */
    struct call_triple *triples;  /* WRITE */
    size_t n_triples;
    struct call_error *errors;    /* malformed pieces, in text order */
    size_t n_errors;
    char *pool_;                  /* private: storage of all the strings */
};

/* Translated description of an error kind; never NULL. */
const char *call_error_str(enum call_error_kind kind);

/* Check one name (subject, relation, object or result) by the rules above after trimming
 * spaces, as the formatters do: CALL_ERR_NONE when it can be written, else the problem
 * (CALL_ERR_EMPTY_NAME for a NULL or blank name) and, if bad is not NULL, the byte
 * offset in name of the offending byte. */
enum call_error_kind call_name_check(const char *name, size_t len, size_t *bad);

/* Parse a read call: text[0..len) starts with "({" and is either the pending form that
 * ends after "-->" (has_results false) or the full form with results and "})".
 * *out is set only on STATUS_OK.  STATUS_NOMEM, STATUS_PARSE. */
enum status call_parse_read(const char *text, size_t len, struct call **out);

/* Parse a write call "({MEM_WRITE-->...})" (see call_parse_read). */
enum status call_parse_write(const char *text, size_t len, struct call **out);

/* Either of the two, by the keyword after "({". */
enum status call_parse(const char *text, size_t len, struct call **out);

void call_free(struct call *c); /* NULL is a no-op */

/* Scanning generated text for the first call. */
enum call_state {
    CALL_STATE_NONE,         /* no call and no possible start of one */
    CALL_STATE_PREFIX,       /* text ends with "(", which may become "({": hold it back */
    CALL_STATE_OPEN,         /* "({" seen at begin, call not finished (end = len) */
    CALL_STATE_READ_PENDING, /* a read's "-->" is written and no "})" follows: run the
                              * read now; end is just after "-->" and one optional space,
                              * and any text after end (results the model made up) is not
                              * part of the call */
    CALL_STATE_COMPLETE,     /* "({" ... "})" at [begin, end) */
    CALL_STATE_ABANDONED,    /* "({" at begin, then another "({" at end before any "})":
                              * the first call is broken; scan again from end */
};

/* Find the first call in text[0..len).  Sets *begin (offset of "({" or of the trailing
 * "("), *end and *kind for every state but NONE (then they are untouched).  The kind is
 * known as soon as its keyword is complete; before that it is CALL_KIND_UNKNOWN. */
enum call_state call_find(const char *text, size_t len, size_t *begin, size_t *end,
                          enum call_kind *kind);

/* Formatters: each returns an owned NUL-terminated string in *out (free()), set only on
 * success.  Names are trimmed of spaces; a name breaking the rules above gives
 * STATUS_INVALID with a detail naming it ("query 2, subject: ..."), as does a wrong
 * count (queries 1..3, results 0..30) or a query whose sides do not match its want. */

/* "({MEM_READ(q1;q2)-->": what the model writes before the controller answers. */
enum status call_format_read_query(const struct call_query *q, size_t n, char **out);

/* "r1;r2})": what the controller appends after "-->". */
enum status call_format_results(const char *const *results, size_t n, char **out);

/* "({MEM_READ(q1;q2)-->r1;r2})": a completed read as it stays in the context. */
enum status call_format_read_result(const struct call_query *q, size_t n_queries,
                                    const char *const *results, size_t n_results, char **out);

/* "({MEM_WRITE-->s1>>r1>>o1;s2>>r2>>o2})", and "({MEM_WRITE-->})" for n = 0. */
enum status call_format_write(const struct call_triple *t, size_t n, char **out);

#endif /* MEMLLM_CALL_H */
