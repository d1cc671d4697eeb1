/* mem.h -- shared parts of the `memllm mem` subcommands (src/cli/mem*.c): opening the
 * memory, data files, safe printing.  Not a library interface: only the CLI uses it. */
#ifndef MEMLLM_CLI_MEM_H
#define MEMLLM_CLI_MEM_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/opts.h"
#include "memory/ctrl.h"
#include "memory/embed.h"
#include "memory/store.h"
#include "util/status.h"

/* Source text of the seed facts loaded into a new default database. */
#define CLI_MEM_SEED_SOURCE "seed: countries-list"
#define CLI_MEM_SEED_FILE "seed-facts.tsv"
#define CLI_MEM_RELATIONS_FILE "relations.tsv"

struct cli_mem {
    char *path;         /* owned */
    struct mem *m;
    struct embedder e;
    struct ctrl *c;     /* NULL when opened without the controller */
    bool created;       /* the file did not exist before */
};

/* Open the database of the global options: --db or the default one.  A new database gets
 * the relations of relations.tsv and, when it is the default one and seed is true, the
 * seed facts.  with_ctrl: also open the controller (embedder checked).  Errors are
 * printed (naming the file); returns a CLI exit code. */
int cli_mem_open(const struct opts *g, bool seed, bool with_ctrl, struct cli_mem *mc);
void cli_mem_close(struct cli_mem *mc);

/* Path of a data file: $(pkgdatadir)/name, else $MEMLLM_DATADIR/name, else the source
 * tree's data/name next to the binary (uninstalled runs).  Owned; NULL when none exists. */
char *cli_mem_data_file(const char *name);

/* Print s for a terminal: control characters and invalid UTF-8 bytes escaped (\n, \t,
 * \xHH, \u0085). */
void cli_mem_put(FILE *f, const char *s);
/* s as a JSON string. */
void cli_mem_json(FILE *f, const char *s);

/* A file name as the store keeps it (sources and runs hold UTF-8; names are bytes): a
 * byte that starts no valid character becomes U+FFFD.  NULL for NULL; owned; *oom set
 * when it could not be allocated. */
char *cli_mem_file_name(const char *path, bool *oom);

/* Import a file into mc (see `memllm mem import --help`); format "tsv", "jsonl",
 * "redocred" or NULL (from the name).  source_text may be NULL.  quiet: no summary. */
int cli_mem_import_file(const struct opts *g, struct cli_mem *mc, const char *path,
                        const char *format, const char *source_text, bool quiet);

/* The same from an open stream; path names it in messages (NULL: standard input);
 * progress: report read lines on stderr. */
int cli_mem_import_stream(const struct opts *g, struct cli_mem *mc, FILE *in, const char *path,
                          const char *format, const char *source_text, bool quiet,
                          bool progress);

int cli_mem_import_run(const struct opts *g, bool seed, int argc, char **argv);
int cli_mem_export_run(const struct opts *g, bool seed, int argc, char **argv);
int cli_mem_bench_run(const struct opts *g, int argc, char **argv);

/* Parse helpers: true on success. */
bool cli_mem_parse_id(const char *s, int64_t *out);
bool cli_mem_parse_size(const char *s, size_t max, size_t *out);

/* "mem SUB: unrecognized option" style errors for getopt loops; returns CLI_EXIT_USAGE. */
int cli_mem_bad_option(const char *sub, char **argv, int optind_now, int optopt_now);

#endif /* MEMLLM_CLI_MEM_H */
