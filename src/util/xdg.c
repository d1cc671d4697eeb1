/* xdg.c -- XDG base directories. */
#include "config.h"
#include "util/xdg.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *var, *fallback;
} xdg_bases[] = {
    [XDG_KIND_DATA] = {"XDG_DATA_HOME", ".local/share"},
    [XDG_KIND_CONFIG] = {"XDG_CONFIG_HOME", ".config"},
    [XDG_KIND_STATE] = {"XDG_STATE_HOME", ".local/state"},
    [XDG_KIND_CACHE] = {"XDG_CACHE_HOME", ".cache"},
};

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *s = malloc(la + lb + lc + 3);
    if (!s)
        return NULL;
    char *p = s;
    memcpy(p, a, la);
    p += la;
    if (la == 0 || a[la - 1] != '/')
        *p++ = '/';
    memcpy(p, b, lb);
    p += lb;
    if (c) {
        *p++ = '/';
        memcpy(p, c, lc);
        p += lc;
    }
    *p = '\0';
    return s;
}

enum status xdg_path(enum xdg_kind kind, const char *name, char **out)
{
    if ((unsigned)kind > XDG_KIND_CACHE)
        return STATUS_INVALID;
    const char *base = getenv(xdg_bases[kind].var);
    char *dir;
    if (base && base[0] == '/') {
        dir = join3(base, "memllm", NULL);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') {
            struct passwd *pw = getpwuid(getuid());
            home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
        }
        if (!home)
            return status_detail_set(STATUS_NOT_FOUND, "no home directory ($HOME is unset)");
        dir = join3(home, xdg_bases[kind].fallback, "memllm");
    }
    if (!dir)
        return STATUS_NOMEM;
    if (!name) {
        *out = dir;
        return STATUS_OK;
    }
    char *full = join3(dir, name, NULL);
    free(dir);
    if (!full)
        return STATUS_NOMEM;
    *out = full;
    return STATUS_OK;
}

enum status xdg_mkdirs(const char *dir)
{
    size_t n = strlen(dir);
    if (n == 0)
        return STATUS_INVALID;
    char *p = malloc(n + 1);
    if (!p)
        return STATUS_NOMEM;
    memcpy(p, dir, n + 1);
    enum status st = STATUS_OK;
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            st = status_detail_set(STATUS_IO, "%s: %s", p, strerror(errno));
            break;
        }
        p[i] = saved;
    }
    if (st == STATUS_OK) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = status_detail_set(STATUS_IO, "%s: not a directory", dir);
    }
    free(p);
    return st;
}

enum status xdg_mkdirs_for(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return STATUS_OK; /* current directory or the root: nothing to create */
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir)
        return STATUS_NOMEM;
    memcpy(dir, path, n);
    dir[n] = '\0';
    enum status st = xdg_mkdirs(dir);
    free(dir);
    return st;
}
