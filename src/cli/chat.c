/* chat.c -- `memllm chat`: a line-based question loop over the read mode. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ask.h"
#include "cli/commands.h"
#include "util/i18n.h"

static void chat_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] chat [OPTION]...\n"), PACKAGE);
    puts(_("Read questions from standard input, one per line, and answer each with the model\n"
           "reading memory (as 'memllm ask'; each question is answered on its own).  An empty\n"
           "line is skipped; /quit or end of input ends the session.  Ctrl-C stops the\n"
           "current answer."));
    putchar('\n');
    cli_agent_help(true);
    puts(_("  -h, --help               show this help and exit"));
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
    bool tty = isatty(STDIN_FILENO) && !g->json;
    char *line = NULL;
    size_t cap = 0;
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
        if (!line[s])
            continue;
        if (strcmp(line + s, "/quit") == 0 || strcmp(line + s, "/exit") == 0)
            break;
        cli_agent_sigint(ca.a);
        enum status st = agent_ask(ca.a, line + s, NULL, NULL);
        cli_agent_sigint(NULL);
        if (st != STATUS_OK && st != STATUS_CANCELLED) {
            rc = CLI_EXIT_FAILURE;
            break;
        }
    }
    free(line);
    cli_agent_close(&ca);
    return rc;
}
