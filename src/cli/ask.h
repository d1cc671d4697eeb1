/* ask.h -- shared parts of the agent subcommands (ask, chat, write): opening model, memory
 * and agent, option parsing, printing events.  Not a library interface: only src/cli uses it. */
#ifndef MEMLLM_CLI_ASK_H
#define MEMLLM_CLI_ASK_H

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>

#include "agent/agent.h"
#include "agent/prompted.h"
#include "cli/mem.h"
#include "cli/opts.h"

#define CLI_AGENT_MAX_STOPS 16

struct memcons;

/* Options every agent subcommand takes. */
struct cli_agent_args {
    const char *model;   /* -m; NULL = global/bundled */
    size_t ctx;          /* --ctx; 0 = the model's, at most 4096 */
    bool constrain;      /* --constrain on|off (default on) */
    enum prompted_mode mode; /* --mode native|prompted|auto (default auto) */
    bool embed_model;    /* --embedder model (else hash) */
    bool have_history;
    size_t history;      /* chat: --history=N tokens of earlier turns */
    bool have_seed;
    bool have_context_sents;
    bool have_temp;          /* --temp given: memllm.sampling.temperature is not used */ /* --context-sents given: the model's own value is not used */
    struct agent_params p;
    const char *stops[CLI_AGENT_MAX_STOPS];
};

struct cli_agent {
    struct gguf *gf;
    struct tok *tk;
    struct model *m;
    struct cli_mem mc;
    struct agent *a;
    struct memcons *cons; /* --constrain on: the agent's constraint (agent/memcons.h) */
    char *t_ask, *t_write; /* templates from the GGUF (owned) */
    bool json;
    bool prompted;             /* prompted mode in use (agent/prompted.h) */
    enum prompted_format fmt;  /* its chat format */
    bool chat;                 /* print read calls as marked notes (memllm chat) */
};

void cli_agent_args_init(struct cli_agent_args *x);

/* Handle one option shared by the agent subcommands (getopt_long value c with optarg).
 * Returns 1 when handled, 0 when not one of them, -1 after printing a usage error. */
int cli_agent_option(const char *cmd, int c, const char *arg, struct cli_agent_args *x);

/* getopt_long values of the shared options ('m' and 'n' are -m/--model, -n/--n-predict). */
enum {
    CLI_AGENT_OPT_CTX = 300,
    CLI_AGENT_OPT_CONSTRAIN,
    CLI_AGENT_OPT_NO_RECORD,
    CLI_AGENT_OPT_TEMP,
    CLI_AGENT_OPT_TOP_K,
    CLI_AGENT_OPT_TOP_P,
    CLI_AGENT_OPT_MIN_P,
    CLI_AGENT_OPT_REPEAT_PENALTY,
    CLI_AGENT_OPT_SEED,
    CLI_AGENT_OPT_STOP,
    CLI_AGENT_OPT_MAX_CALLS,
    CLI_AGENT_OPT_NO_READ,
    CLI_AGENT_OPT_IGNORE_EOS,
    CLI_AGENT_OPT_MODE,
    CLI_AGENT_OPT_HISTORY, /* chat only */
    CLI_AGENT_OPT_EMBEDDER,
};

/* Help lines of the shared options; sampling: also those of read mode. */
void cli_agent_help(bool sampling);

/* Parse the options of ask or chat (help: prints --help); returns -1 to go on (optind is
 * the first operand), else an exit code. */
int cli_agent_parse(const char *cmd, int argc, char **argv, struct cli_agent_args *x,
                    void (*help)(void));

/* Open everything (errors printed); returns a CLI exit code. */
int cli_agent_open(const struct opts *g, struct cli_agent_args *x, struct cli_agent *ca);
void cli_agent_close(struct cli_agent *ca);

/* Print events for ask/chat: text inline on stdout (JSON lines with g->json). */
void cli_agent_on_event(void *user, const struct agent_event *ev);

/* Set (or clear with NULL) the agent that SIGINT cancels. */
void cli_agent_sigint(struct agent *a);

#endif /* MEMLLM_CLI_ASK_H */
