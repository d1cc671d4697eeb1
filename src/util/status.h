/* status.h -- the one project-wide result code, its messages, and a per-thread detail line.
 *
 * Library modules return an enum status and never print.  When a failure needs more
 * than the generic message (which field of which file, at which byte), the module
 * also calls status_detail_set() and the front end shows status_detail() after
 * status_str().  The detail is per thread and overwritten by the next failure. */
#ifndef MEMLLM_STATUS_H
#define MEMLLM_STATUS_H

#include <stdarg.h>

/* X(NAME, message): one line per code.  Messages are marked for translation. */
#define STATUS_LIST(X)                                                              \
    X(OK, N_("success"))                                                            \
    X(NOMEM, N_("out of memory"))                                                   \
    X(IO, N_("input/output error"))                                                 \
    X(NOT_FOUND, N_("not found"))                                                   \
    X(EXISTS, N_("already exists"))                                                 \
    X(INVALID, N_("invalid argument"))                                              \
    X(USAGE, N_("invalid usage"))                                                   \
    X(FORMAT, N_("malformed data"))                                                 \
    X(TRUNCATED, N_("data ends too early"))                                         \
    X(OVERFLOW, N_("size or count out of range"))                                   \
    X(UNSUPPORTED, N_("not supported"))                                             \
    X(PARSE, N_("cannot parse input"))                                              \
    X(ENCODING, N_("invalid UTF-8 text"))                                           \
    X(DB, N_("database error"))                                                     \
    X(DB_BUSY, N_("database is locked by another process"))                         \
    X(DB_SCHEMA, N_("database was written by a newer version of memllm"))           \
    X(DB_CORRUPT, N_("database file is corrupt or not a memllm database"))          \
    X(EMBEDDER_MISMATCH,                                                            \
      N_("database was built with another embedder; run 'memllm mem reindex'"))     \
    X(CONTEXT_FULL, N_("model context is full"))                                    \
    X(LIMIT, N_("a configured limit was reached"))                                  \
    X(CANCELLED, N_("cancelled"))                                                   \
    X(INTERNAL, N_("internal error"))

enum status {
#define STATUS_ENUM_(name, msg) STATUS_##name,
    STATUS_LIST(STATUS_ENUM_)
#undef STATUS_ENUM_
    STATUS_COUNT_
};

/* Translated message for s; never NULL (unknown codes give "unknown status"). */
const char *status_str(enum status s);

/* The code's name as in the source ("STATUS_FORMAT"), for logs and --json output. */
const char *status_name(enum status s);

/* Record a detail line for the current thread (printf-style, truncated to 511 bytes
 * at a character boundary).  Returns s so that callers can write
 * `return status_detail_set(STATUS_FORMAT, "...", ...);`. */
enum status status_detail_set(enum status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum status status_detail_vset(enum status s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The current thread's detail line ("" when none); borrowed until the next set/clear. */
const char *status_detail(void);
void status_detail_clear(void);

#endif /* MEMLLM_STATUS_H */
