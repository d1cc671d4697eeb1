/* xdg.h -- per-user file locations after the XDG Base Directory specification. */
#ifndef MEMLLM_XDG_H
#define MEMLLM_XDG_H

#include "util/status.h"

enum xdg_kind {
    XDG_KIND_DATA,   /* $XDG_DATA_HOME   or ~/.local/share : the memory database */
    XDG_KIND_CONFIG, /* $XDG_CONFIG_HOME or ~/.config      : settings */
    XDG_KIND_STATE,  /* $XDG_STATE_HOME  or ~/.local/state : the log */
    XDG_KIND_CACHE,  /* $XDG_CACHE_HOME  or ~/.cache       : rebuildable files */
};

/* "<base>/memllm" or, with name, "<base>/memllm/<name>".  The base comes from the
 * kind's variable when it is set to an absolute path (the specification says
 * relative values are invalid and must be ignored), otherwise from $HOME or, failing
 * that, the password database.  *out is owned: free() it.  STATUS_NOT_FOUND when no
 * home directory can be found. */
enum status xdg_path(enum xdg_kind kind, const char *name, char **out);

/* Create dir and its missing parents (mode 0700 as the specification asks). */
enum status xdg_mkdirs(const char *dir);

/* Create the directory that will hold the file at path. */
enum status xdg_mkdirs_for(const char *path);

#endif /* MEMLLM_XDG_H */
