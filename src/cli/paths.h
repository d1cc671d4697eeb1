/* paths.h -- the default locations of the files memllm uses (after options and env). */
#ifndef MEMLLM_PATHS_H
#define MEMLLM_PATHS_H

#include "cli/opts.h"
#include "util/status.h"

/* File name of the bundled default model inside $(pkgdatadir). */
#define PATHS_DEFAULT_MODEL "memllm-default.gguf"

/* Owned strings (free()). */
enum status paths_default_db(char **out);
enum status paths_default_log(char **out);
enum status paths_default_config(char **out);

/* --model, else $MEMLLM_MODEL, else the bundled model; borrowed/static. */
const char *paths_model(const struct opts *g);

#endif /* MEMLLM_PATHS_H */
