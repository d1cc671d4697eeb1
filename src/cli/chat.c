/* chat.c -- `memllm chat`: a line-based conversation over the read mode, with history. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ask.h"
#include "cli/commands.h"
#include "engine/model.h"
#include "util/i18n.h"

static void chat_commands_help(void)
{
    puts(_("Commands: /reset forgets the conversation so far; /help shows this; /quit (or\n"
           "end of input) ends the session."));
}

static void chat_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] chat [OPTION]...\n"), PACKAGE);
    puts(_("Read questions from standard input, one per line, and answer each with the model\n"
           "reading memory (as 'memllm ask').  Earlier questions and answers stay in the\n"
           "prompt (the most recent ones, up to --history tokens); memory reads are shown as\n"
           "[memory: QUERY -> RESULTS].  An empty line is skipped.  Ctrl-C stops the current\n"
           "answer."));
    chat_commands_help();
    putchar('\n');
    cli_agent_help(true);
    puts(_("      --history=N          tokens of earlier turns kept in the prompt; 0 = none\n"
           "                           (default: a quarter of the context)"));
    puts(_("  -h, --help               show this help and exit"));
    putchar('\n');
    puts(_("With the global --json option every event is one JSON line, as in 'memllm ask',\n"
           "and each question starts with {\"event\":\"turn\",\"turn\":N,\"history\":K} (K\n"
           "earlier turns in its prompt); /reset prints {\"event\":\"reset\"}."));
}

static enum agent_history_format history_format(const struct cli_agent *ca)
{
    if (!ca->prompted)
        return AGENT_HISTORY_PLAIN;
    return ca->fmt == PROMPTED_FORMAT_CHATML ? AGENT_HISTORY_CHATML : AGENT_HISTORY_MISTRAL;
}

int cli_chat_run(const struct opts *g, int argc, char **argv)
{
    struct cli_agent_args x;
    int rc = cli_agent_parse("chat", argc, argv, &x, chat_help);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        cli_error(_("chat: unexpected argument '%s'"), argv[optind]);
        cli_try_help("chat");
        return CLI_EXIT_USAGE;
    }
    struct cli_agent ca;
    if ((rc = cli_agent_open(g, &x, &ca)) != CLI_EXIT_OK)
        return rc;
    ca.chat = true;
    size_t budget = x.have_history ? x.history : model_n_ctx(ca.m) / 4;
    struct agent_history *h = NULL;
    enum status st = agent_history_new(history_format(&ca), &h);
    if (st != STATUS_OK) {
        cli_status_error("chat", st);
        cli_agent_close(&ca);
        return CLI_EXIT_FAILURE;
    }
    bool tty = isatty(STDIN_FILENO) && !g->json;
    if (tty)
        chat_commands_help();
    char *line = NULL;
    size_t cap = 0, turn = 0;
    rc = CLI_EXIT_OK;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        size_t s = 0;
        while (line[s] == ' ' || line[s] == '\t')
            s++;
        while (n > (ssize_t)s && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        const char *q = line + s;
        if (!*q)
            continue;
        if (strcmp(q, "/quit") == 0 || strcmp(q, "/exit") == 0)
            break;
        if (strcmp(q, "/help") == 0) {
            if (g->json)
                puts("{\"event\":\"help\"}");
            else
                chat_commands_help();
            fflush(stdout);
            continue;
        }
        if (strcmp(q, "/reset") == 0) {
            agent_history_clear(h);
            if (g->json)
                puts("{\"event\":\"reset\"}");
            else
                puts(_("[conversation reset]"));
            fflush(stdout);
            continue;
        }
        if (q[0] == '/' && q[1] != '/' && !strchr(q, ' ')) {
            /* TRANSLATORS: %s is what the user typed, e.g. /foo */
            cli_error(_("chat: unknown command '%s' (try /help)"), q);
            continue;
        }
        char *prompt = NULL, *answer = NULL;
        size_t kept = 0;
        if ((st = agent_history_prompt(h, ca.tk, q, budget, &prompt, &kept)) != STATUS_OK) {
            cli_status_error("chat", st);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        turn++;
        if (g->json) {
            printf("{\"event\":\"turn\",\"turn\":%zu,\"history\":%zu}\n", turn, kept);
            fflush(stdout);
        }
        cli_agent_sigint(ca.a);
        st = agent_ask(ca.a, prompt, &answer, NULL);
        cli_agent_sigint(NULL);
        free(prompt);
        if (st == STATUS_OK)
            st = agent_history_add(h, q, answer ? answer : "");
        free(answer);
        if (st != STATUS_OK && st != STATUS_CANCELLED) {
            rc = CLI_EXIT_FAILURE;
            break;
        }
    }
    free(line);
    agent_history_free(h);
    cli_agent_close(&ca);
    return rc;
}
