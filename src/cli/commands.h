/* commands.h -- the subcommand table that main.c dispatches through.
 *
 * A subcommand is a function that gets the parsed global options and its own
 * argv (argv[0] is the subcommand name) and returns the process exit status:
 * 0 success, 1 usage or input error, 2 other failure.  It may print (it is a front
 * end) but never exits.  To add one: write src/cli/<name>.c with its run function,
 * declare it below and add a row to cli_commands[] in commands.c. */
#ifndef MEMLLM_COMMANDS_H
#define MEMLLM_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/opts.h"

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,   /* also: bad input */
    CLI_EXIT_FAILURE = 2,
    CLI_EXIT_INTERRUPTED = 130, /* stopped by Ctrl-C (SIGINT) after keeping its work: 128 + 2 */
};

typedef int (*cli_run_fn)(const struct opts *g, int argc, char **argv);

struct cli_command {
    const char *name;
    const char *summary; /* marked for translation; translate it when printing */
    cli_run_fn run;
};

/* NULL-terminated table, in the order --help lists it. */
extern const struct cli_command cli_commands[];

/* The command called name, or NULL. */
const struct cli_command *cli_command_find(const char *name);

/* Shared helpers for subcommands. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "memllm: <what>: <status message>[: <detail>]" on stderr */
void cli_status_error(const char *what, enum status st);
/* "Try 'memllm[ CMD] --help' for more information." on stderr */
void cli_try_help(const char *cmd);
/* "memllm: <message>" then the --help hint for cmd; returns CLI_EXIT_USAGE */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Option values: a decimal number in [lo, hi] (NaN refused); a non-negative integer
 * <= max (no sign, no trailing text).  *out is set only on success. */
bool cli_parse_float(const char *s, double lo, double hi, float *out);
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* --meta=KEY=TEXT, --meta-u32=KEY=N, --meta-f32=KEY=X: metadata a command writes into the
 * GGUF file it makes (train, quantize), after the keys it copies. */
enum cli_meta_type { CLI_META_STR, CLI_META_U32, CLI_META_F32 };
#define CLI_MAX_META 16
struct cli_meta {
    const char *arg[CLI_MAX_META]; /* "KEY=VALUE" as given (borrowed) */
    enum cli_meta_type type[CLI_MAX_META];
    size_t n;
};
/* Add one option's argument; false (nothing added) when it is not KEY=VALUE with a value
 * of the type, or when CLI_MAX_META are set. */
bool cli_meta_add(struct cli_meta *m, enum cli_meta_type type, const char *arg);
struct gguf_writer;
enum status cli_meta_apply(const struct cli_meta *m, struct gguf_writer *w);

int cli_paths_run(const struct opts *g, int argc, char **argv);
int cli_info_run(const struct opts *g, int argc, char **argv);
int cli_tokenize_run(const struct opts *g, int argc, char **argv);
int cli_generate_run(const struct opts *g, int argc, char **argv);
int cli_train_run(const struct opts *g, int argc, char **argv);
int cli_train_tokenizer_run(const struct opts *g, int argc, char **argv);
int cli_train_data_run(const struct opts *g, int argc, char **argv);
int cli_lora_merge_run(const struct opts *g, int argc, char **argv);
int cli_quantize_run(const struct opts *g, int argc, char **argv);
int cli_bench_run(const struct opts *g, int argc, char **argv);
int cli_mem_run(const struct opts *g, int argc, char **argv);
int cli_tui_run(const struct opts *g, int argc, char **argv);
int cli_ask_run(const struct opts *g, int argc, char **argv);
int cli_write_run(const struct opts *g, int argc, char **argv);
int cli_chat_run(const struct opts *g, int argc, char **argv);
int cli_audit_run(const struct opts *g, int argc, char **argv);
int cli_eval_run(const struct opts *g, int argc, char **argv);

#endif /* MEMLLM_COMMANDS_H */
