/* log.h -- diagnostic log written to a file, never to a terminal (the TUI owns it).
 *
 * Until log_open() succeeds every call is a cheap no-op.  Thread-safe: lines from
 * several threads never interleave. */
#ifndef MEMLLM_LOG_H
#define MEMLLM_LOG_H

#include <stdarg.h>

#include "util/status.h"

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* Append to path (created with mode 0600, parent directories made).  Lines above
 * level are dropped.  Reopening closes the previous file. */
enum status log_open(const char *path, enum log_level level);
void log_close(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A function that also gets each message that passes the level (the formatted text, no time
 * stamp or newline), whether or not a file is open: a full-screen interface shows them
 * itself.  It runs on the logging thread under the hook's own lock, so it must not log and
 * should return quickly.  NULL removes it; once log_set_hook() returns, the previous hook
 * is neither running nor called again, so its user may be freed. */
typedef void (*log_hook_fn)(void *user, enum log_level level, const char *msg);
void log_set_hook(log_hook_fn fn, void *user);

/* For the lifetime of a full-screen interface, where anything written to the terminal would
 * garble the screen: point standard error (fd 2, after flushing stderr) at path (appended,
 * created with mode 0600 and its directories), or at /dev/null when path is NULL or cannot
 * be opened.  STATUS_IO when fd 2 cannot be redirected at all; STATUS_INVALID when already
 * diverted.  log_stderr_restore() flushes and puts fd 2 back where it was and returns how
 * many bytes path grew by meanwhile (0 for /dev/null or when not diverted). */
enum status log_stderr_divert(const char *path);
unsigned long long log_stderr_restore(void);

#endif /* MEMLLM_LOG_H */
