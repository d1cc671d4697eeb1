/* audit.c -- `memllm audit`: trace a recorded answer to the triples it read and their sources. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/mem.h"
#include "util/i18n.h"
#include "util/utf8.h"

static void audit_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] audit [RUN]\n"
             "  or:  %s [--db=PATH] [--json] audit --list [--limit=N]\n"
             "  or:  %s [--db=PATH] audit --delete RUN\n"),
           PACKAGE, PACKAGE, PACKAGE);
    puts(_("Show what a recorded run (an answer of 'ask' or 'chat', or a 'write') read from\n"
           "memory: each call, the triples it returned with their sources, and the part of\n"
           "the answer that followed it.  RUN defaults to the newest run."));
    putchar('\n');
    puts(_("      --list               list the recorded runs, newest first"));
    puts(_("      --limit=N            list at most N runs (default 20; 0 = all)"));
    puts(_("      --delete=RUN         delete a run with its calls and reads"));
    puts(_("  -h, --help               show this help and exit"));
}

struct audit_list {
    bool json;
    size_t n;
};

static int audit_list_row(void *ctx, const struct mem_run *r)
{
    struct audit_list *l = ctx;
    if (l->json) {
        printf("{\"run\":%lld,\"prompt\":", (long long)r->id);
        cli_mem_json(stdout, r->prompt ? r->prompt : "");
        fputs(",\"model\":", stdout);
        if (r->model)
            cli_mem_json(stdout, r->model);
        else
            fputs("null", stdout);
        printf(",\"created_at\":%lld,\"finished_at\":%lld}\n", (long long)r->created_at,
               (long long)r->finished_at);
    } else {
        printf("%6lld  ", (long long)r->id);
        /* at most 80 bytes, cut between characters (a cut one would print as \x escapes) */
        const char *p = r->prompt ? r->prompt : "";
        size_t len = strlen(p), keep = len > 80 ? utf8_prefix_complete(p, 80) : len;
        char buf[81];
        memcpy(buf, p, keep);
        buf[keep] = '\0';
        cli_mem_put(stdout, buf);
        if (keep < len)
            fputs("...", stdout);
        putchar('\n');
    }
    l->n++;
    return 0;
}

int cli_audit_run(const struct opts *g, int argc, char **argv)
{
    enum { OPT_LIST = 500, OPT_LIMIT, OPT_DELETE };
    static const struct option longopts[] = {
        {"list", no_argument, NULL, OPT_LIST},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"delete", required_argument, NULL, OPT_DELETE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool list = false;
    size_t limit = 20;
    int64_t del = 0, run = 0;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            audit_help();
            return CLI_EXIT_OK;
        case OPT_LIST:
            list = true;
            break;
        case OPT_LIMIT:
            if (!cli_mem_parse_size(optarg, (size_t)1 << 40, &limit)) {
                cli_error(_("%s: invalid value for %s: '%s'"), "audit", "--limit", optarg);
                cli_try_help("audit");
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_DELETE:
            if (!cli_mem_parse_id(optarg, &del)) {
                cli_error(_("%s: invalid value for %s: '%s'"), "audit", "--delete", optarg);
                cli_try_help("audit");
                return CLI_EXIT_USAGE;
            }
            break;
        default:
            if (optopt >= OPT_LIST)
                cli_error(_("%s: option '%s' needs an argument"), "audit", argv[optind - 1]);
            else
                cli_error(_("%s: unrecognized option '%s'"), "audit", argv[optind - 1]);
            cli_try_help("audit");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        if (list || del || optind + 1 < argc || !cli_mem_parse_id(argv[optind], &run)) {
            cli_error(_("audit: unexpected argument '%s'"), argv[optind]);
            cli_try_help("audit");
            return CLI_EXIT_USAGE;
        }
    }
    if (list && del) {
        cli_error(_("audit: --list and --delete cannot be combined"));
        cli_try_help("audit");
        return CLI_EXIT_USAGE;
    }
    struct cli_mem mc;
    int rc = cli_mem_open(g, true, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    enum status st;
    rc = CLI_EXIT_OK;
    if (list) {
        struct audit_list l = {g->json, 0};
        st = mem_run_list(mc.m, 0, limit, audit_list_row, &l);
        if (st == STATUS_OK && l.n == 0 && !g->json)
            puts(_("no runs recorded"));
    } else if (del) {
        st = mem_run_delete(mc.m, del);
        if (st == STATUS_OK && !g->json)
            printf(_("deleted run %lld\n"), (long long)del);
        else if (st == STATUS_OK)
            printf("{\"deleted\":%lld}\n", (long long)del);
    } else {
        st = agent_audit(mc.m, run, g->json, stdout);
    }
    if (st != STATUS_OK) {
        cli_status_error(mc.path, st);
        rc = st == STATUS_NOT_FOUND ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    cli_mem_close(&mc);
    return rc;
}
