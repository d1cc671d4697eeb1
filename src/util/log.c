/* log.c -- the diagnostic log file. */
#include "config.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/xdg.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static enum log_level log_level = LOG_LEVEL_WARN;

/* The hook has its own lock, taken after log_lock is released, so that a hook may take
 * locks of its own (the TUI's queue) without ordering against log_lock. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static log_hook_fn log_hook;
static void *log_hook_user;

/* fd 2 as it was before log_stderr_divert(), -1 while not diverted; the divert file's
 * size then (-1 for /dev/null). */
static int stderr_saved = -1;
static off_t stderr_start = -1;

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

void log_set_hook(log_hook_fn fn, void *user)
{
    pthread_mutex_lock(&hook_lock);
    log_hook = fn;
    log_hook_user = user;
    pthread_mutex_unlock(&hook_lock);
}

static void call_hook(enum log_level level, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&hook_lock);
    if (log_hook) {
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (s) {
            vsnprintf(s, (size_t)n + 1, fmt, ap);
            log_hook(log_hook_user, level, s);
            free(s);
        }
    }
    pthread_mutex_unlock(&hook_lock);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    va_list ap_hook;
    va_copy(ap_hook, ap);
    pthread_mutex_lock(&log_lock);
    bool pass = level <= log_level && (unsigned)level <= LOG_LEVEL_DEBUG;
    if (log_file && pass) {
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
    if (pass)
        call_hook(level, fmt, ap_hook);
    va_end(ap_hook);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

enum status log_stderr_divert(const char *path)
{
    if (stderr_saved >= 0)
        return STATUS_INVALID; /* a programmer error: not nested */
    fflush(stderr);
    int fd = -1;
    off_t start = -1;
    if (path && xdg_mkdirs_for(path) == STATUS_OK)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct stat sb;
    if (fd >= 0)
        start = fstat(fd, &sb) == 0 ? sb.st_size : 0;
    else
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return status_detail_set(STATUS_IO, "/dev/null: %s", strerror(errno));
    int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
        int e = errno;
        if (saved >= 0)
            close(saved);
        close(fd);
        return status_detail_set(STATUS_IO, "dup2: %s", strerror(e));
    }
    close(fd);
    stderr_saved = saved;
    stderr_start = start;
    return STATUS_OK;
}

unsigned long long log_stderr_restore(void)
{
    if (stderr_saved < 0)
        return 0;
    fflush(stderr);
    unsigned long long grew = 0;
    struct stat sb;
    if (stderr_start >= 0 && fstat(STDERR_FILENO, &sb) == 0 && sb.st_size > stderr_start)
        grew = (unsigned long long)(sb.st_size - stderr_start);
    (void)dup2(stderr_saved, STDERR_FILENO);
    close(stderr_saved);
    stderr_saved = -1;
    stderr_start = -1;
    return grew;
}
