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

#endif /* MEMLLM_LOG_H */
