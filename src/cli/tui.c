/* tui.c -- `memllm tui` (also `memllm` with no command): the terminal interface.
 * Opens the memory (--db or the default, seeded) and the model (--model, $MEMLLM_MODEL or
 * the bundled one); without a model the interface opens in memory-browsing mode. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/mem.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "tui/app.h"
#include "tui/tui.h"
#include "util/i18n.h"
#include "util/timing.h"

static volatile sig_atomic_t tui_stop, tui_winch;

static void on_stop(int sig)
{
    (void)sig;
    tui_stop = 1;
}

static void on_winch(int sig)
{
    (void)sig;
    tui_winch = 1;
}

static void tui_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--model=FILE] [tui [OPTION]...]\n"), PACKAGE);
    puts(_("Open the terminal interface: watch the model answer while it reads its memory,\n"
           "teach it text, browse and edit the triple table, audit past runs.  Without a\n"
           "model the interface opens for browsing the memory only.  F1 inside lists every\n"
           "key; Ctrl-P picks any action by name; Ctrl-Q quits."));
    putchar('\n');
    puts(_("      --no-color           draw without colours (also when NO_COLOR is set)"));
    puts(_("  -h, --help               show this help and exit"));
}

struct tui_model {
    struct gguf *gf;
    struct tok *tk;
    struct model *m;
    struct agent *a;
    char *t_ask, *t_write;
};

static void model_free(struct tui_model *tm)
{
    agent_free(tm->a);
    model_close(tm->m);
    tok_free(tm->tk);
    gguf_close(tm->gf);
    free(tm->t_ask);
    free(tm->t_write);
    memset(tm, 0, sizeof *tm);
}

/* Open the model and the agent; on failure a translated reason goes to msg. */
static bool model_try(const struct opts *g, struct ctrl *c, struct tui_model *tm, char *msg,
                      size_t size)
{
    const char *path = paths_model(g);
    enum status st;
    memset(tm, 0, sizeof *tm);
    if ((st = gguf_open(path, &tm->gf)) != STATUS_OK ||
        (st = tok_from_gguf(tm->gf, &tm->tk)) != STATUS_OK ||
        (st = agent_templates_load(tm->gf, &tm->t_ask, &tm->t_write)) != STATUS_OK)
        goto fail;
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = g->threads;
    if ((st = model_open(tm->gf, &mp, &tm->m)) != STATUS_OK)
        goto fail;
    struct agent_params p;
    agent_params_init(&p);
    p.samp.seed = (uint64_t)time(NULL) ^ timing_now_ns();
    const char *base = strrchr(path, '/');
    p.model_name = base ? base + 1 : path;
    p.template_ask = tm->t_ask;
    p.template_write = tm->t_write;
    struct agent_lm lm;
    agent_lm_from_model(tm->m, &lm);
    if ((st = agent_new(&lm, tm->tk, c, &p, &tm->a)) != STATUS_OK)
        goto fail;
    return true;
fail: {
    const char *d = status_detail();
    /* the detail names the file when it is about the file */
    snprintf(msg, size, _("memory browsing only: no model (%s: %s); start with --model=FILE"),
             status_str(st), d[0] ? d : path);
    model_free(tm);
    return false;
}
}

int cli_tui_run(const struct opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool color = true;
    int c;
    optind = 1;
    opterr = 0;
    while (argc > 0 && (c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'C': color = false; break;
        case 'h': tui_help(); return CLI_EXIT_OK;
        default:
            if (optopt)
                cli_error(_("tui: invalid option -- '%c'"), optopt);
            else
                cli_error(_("tui: unrecognized option '%s'"), argv[optind - 1]);
            cli_try_help("tui");
            return CLI_EXIT_USAGE;
        }
    }
    if (argc > 0 && optind < argc) {
        cli_error(_("tui: unexpected argument '%s'"), argv[optind]);
        cli_try_help("tui");
        return CLI_EXIT_USAGE;
    }

    struct cli_mem mc;
    int rc = cli_mem_open(g, true, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct tui_model tm;
    char msg[1024] = "";
    bool have_model = model_try(g, mc.c, &tm, msg, sizeof msg);
    /* the table browses through its own connection while the worker uses the ctrl's */
    struct mem *browse = mc.m;
    struct mem *own = NULL;
    if (have_model && strcmp(mc.path, ":memory:") != 0 &&
        mem_open(mc.path, &own) == STATUS_OK)
        browse = own;

    struct sigaction sa, old_int, old_term, old_winch;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, &old_winch);
    tui_stop = tui_winch = 0;

    struct app *app = NULL;
    struct tui *t = NULL;
    struct app_config cfg = {
        .m = browse, .ctrl = mc.c, .agent = tm.a, .status = have_model ? NULL : msg,
    };
    enum status st = app_new(&cfg, &app);
    if (st != STATUS_OK) {
        cli_status_error("tui", st);
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    if (tm.a)
        agent_set_events(tm.a, app_event_cb, app);
    if ((st = tui_open(stdout, stdin, color, &t)) != STATUS_OK) {
        cli_status_error("tui", st);
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    tui_run(t, app, &tui_stop, &tui_winch);
    rc = CLI_EXIT_OK;
done:
    app_free(app); /* stops the worker before the terminal and the model go */
    tui_close(t);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    if (tm.a)
        agent_set_events(tm.a, NULL, NULL);
    model_free(&tm);
    mem_close(own);
    cli_mem_close(&mc);
    return rc;
}
