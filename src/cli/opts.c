/* opts.c -- global option parsing.
 *
 * A hand-written scanner rather than getopt_long: it must stop at the subcommand,
 * leave argv untouched for the subcommand's own parser, be re-entrant for tests,
 * and produce translated messages instead of getopt's. */
#include "config.h"
#include "cli/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/i18n.h"

enum opt_id {
    OPT_DB,
    OPT_MODEL,
    OPT_THREADS,
    OPT_MMAP,
    OPT_JSON,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_VERSION
};

static const struct {
    const char *long_name;
    char short_name; /* 0 = none */
    bool has_arg;
    enum opt_id id;
} opt_table[] = {
    {"db", 0, true, OPT_DB},           {"model", 'm', true, OPT_MODEL},
    {"threads", 't', true, OPT_THREADS}, {"mmap", 0, false, OPT_MMAP},
    {"json", 0, false, OPT_JSON},
    {"verbose", 'v', false, OPT_VERBOSE}, {"help", 'h', false, OPT_HELP},
    {"version", 'V', false, OPT_VERSION},
};
#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

enum status opts_parse_threads(const char *s, int *out)
{
    if (strcmp(s, "auto") == 0) {
        *out = 0;
        return STATUS_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno || v < 1 || v > OPTS_THREADS_MAX)
        return status_detail_set(STATUS_USAGE,
                                 _("invalid thread count '%s' (expected 1 to %d or 'auto')"), s,
                                 OPTS_THREADS_MAX);
    *out = (int)v;
    return STATUS_OK;
}

static enum status opts_apply(struct opts *o, enum opt_id id, const char *arg)
{
    switch (id) {
    case OPT_DB:
        o->db_path = arg;
        break;
    case OPT_MODEL:
        o->model_path = arg;
        break;
    case OPT_THREADS:
        return opts_parse_threads(arg, &o->threads);
    case OPT_MMAP:
        o->mmap = true;
        break;
    case OPT_JSON:
        o->json = true;
        break;
    case OPT_VERBOSE:
        o->verbose++;
        break;
    case OPT_HELP:
        o->help = true;
        break;
    case OPT_VERSION:
        o->version = true;
        break;
    }
    if ((id == OPT_DB || id == OPT_MODEL) && arg[0] == '\0')
        return status_detail_set(STATUS_USAGE, _("option '--%s' needs a non-empty argument"),
                                 id == OPT_DB ? "db" : "model");
    return STATUS_OK;
}

/* One "--name", "--name=value" argument; *i advances past a separate value. */
static enum status opts_long(struct opts *o, int argc, const char *const *argv, int *i)
{
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    int found = -1, matches = 0;
    for (size_t k = 0; k < OPT_COUNT; k++) {
        const char *name = opt_table[k].long_name;
        if (strncmp(name, a, n) != 0)
            continue;
        if (strlen(name) == n) { /* exact match wins over prefixes */
            found = (int)k;
            matches = 1;
            break;
        }
        found = (int)k;
        matches++;
    }
    if (matches == 0 || n == 0)
        return status_detail_set(STATUS_USAGE, _("unrecognized option '%s'"), argv[*i]);
    if (matches > 1)
        return status_detail_set(STATUS_USAGE, _("option '%s' is ambiguous"), argv[*i]);
    const char *arg = NULL;
    if (opt_table[found].has_arg) {
        if (eq) {
            arg = eq + 1;
        } else if (*i + 1 < argc) {
            arg = argv[++*i];
        } else {
            return status_detail_set(STATUS_USAGE, _("option '--%s' requires an argument"),
                                     opt_table[found].long_name);
        }
    } else if (eq) {
        return status_detail_set(STATUS_USAGE, _("option '--%s' doesn't allow an argument"),
                                 opt_table[found].long_name);
    }
    return opts_apply(o, opt_table[found].id, arg);
}

/* A cluster of short options ("-vv", "-t2", "-t 2"). */
static enum status opts_short(struct opts *o, int argc, const char *const *argv, int *i)
{
    const char *a = argv[*i] + 1;
    for (; *a; a++) {
        size_t k;
        for (k = 0; k < OPT_COUNT; k++)
            if (opt_table[k].short_name == *a)
                break;
        if (k == OPT_COUNT)
            return status_detail_set(STATUS_USAGE, _("invalid option -- '%c'"), *a);
        if (!opt_table[k].has_arg) {
            enum status st = opts_apply(o, opt_table[k].id, NULL);
            if (st != STATUS_OK)
                return st;
            continue;
        }
        const char *arg;
        if (a[1]) {
            arg = a + 1;
        } else if (*i + 1 < argc) {
            arg = argv[++*i];
        } else {
            return status_detail_set(STATUS_USAGE, _("option requires an argument -- '%c'"), *a);
        }
        return opts_apply(o, opt_table[k].id, arg);
    }
    return STATUS_OK;
}

enum status opts_parse(int argc, const char *const *argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        enum status st;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break; /* the subcommand (or "-") */
        st = a[1] == '-' ? opts_long(o, argc, argv, &i) : opts_short(o, argc, argv, &i);
        if (st != STATUS_OK)
            return st;
    }
    o->cmd_index = i;
    return STATUS_OK;
}
