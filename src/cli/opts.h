/* opts.h -- the global command-line options that come before a subcommand. */
#ifndef MEMLLM_OPTS_H
#define MEMLLM_OPTS_H

#include <stdbool.h>

#include "util/status.h"

#define OPTS_THREADS_MAX 1024

struct opts {
    const char *db_path;    /* --db PATH; NULL = the XDG default (borrowed from argv) */
    const char *model_path; /* --model PATH; NULL = $MEMLLM_MODEL or the bundled model */
    int threads;            /* --threads N; 0 = one per online core */
    bool mmap;              /* --mmap: read model weights through the file mapping */
    bool json;              /* --json: machine-readable output */
    int verbose;            /* -v, repeatable */
    bool help, version;
    int cmd_index;          /* argv index of the subcommand; argc when there is none */
};

/* Parse the options before the first non-option argument (the subcommand name).
 * On failure returns STATUS_USAGE with a translated explanation in status_detail();
 * the caller prints it followed by the "Try --help" hint.  argv is not modified. */
enum status opts_parse(int argc, const char *const *argv, struct opts *o);

/* Parse a decimal thread count 1..OPTS_THREADS_MAX into *out (0 for "auto"). */
enum status opts_parse_threads(const char *s, int *out);

#endif /* MEMLLM_OPTS_H */
