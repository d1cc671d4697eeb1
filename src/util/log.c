/* log.c -- the diagnostic log file. */
#include "config.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/xdg.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static enum log_level log_level = LOG_LEVEL_WARN;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

enum status log_open(const char *path, enum log_level level)
{
    enum status st = xdg_mkdirs_for(path);
    if (st != STATUS_OK)
        return st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "a");
    if (!f) {
        close(fd);
        return STATUS_NOMEM;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = f;
    log_level = level;
    pthread_mutex_unlock(&log_lock);
    return STATUS_OK;
}

void log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    pthread_mutex_unlock(&log_lock);
}

void log_set_level(enum log_level level)
{
    pthread_mutex_lock(&log_lock);
    log_level = level;
    pthread_mutex_unlock(&log_lock);
}

enum log_level log_get_level(void)
{
    pthread_mutex_lock(&log_lock);
    enum log_level l = log_level;
    pthread_mutex_unlock(&log_lock);
    return l;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&log_lock);
    if (log_file && level <= log_level && (unsigned)level <= LOG_LEVEL_DEBUG) {
        struct timespec ts;
        struct tm tm;
        char stamp[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(log_file, "%s.%03ldZ [%d] %s: ", stamp, ts.tv_nsec / 1000000L, (int)getpid(),
                log_level_names[level]);
        vfprintf(log_file, fmt, ap);
        fputc('\n', log_file);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
