/* tui.c -- `memllm tui` (also `memllm` with no command): the terminal interface.
 * Opens the model, the memory (--db or the default, seeded) and the agent as `memllm ask`
 * does (cli_agent_open: templates, prompted mode, constrained decoding with memory
 * names); when the model cannot be opened the interface opens in memory-browsing mode
 * with the reason on its status line. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/ask.h"
#include "cli/commands.h"
#include "cli/mem.h"
#include "cli/paths.h"
#include "engine/model.h"
#include "tui/app.h"
#include "tui/tui.h"
#include "util/i18n.h"
#include "util/log.h"

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

/* A crash must not leave the terminal in raw mode on the alternate screen: the handler
 * puts back the saved terminal modes, leaves the alternate screen, shows the cursor
 * (async-signal-safe calls only) and dies of the same signal. */
static struct termios tui_saved_tio;
static volatile sig_atomic_t tui_have_tio;

static void on_fatal(int sig)
{
    static const char reset[] = "\033[0m\033[?1049l\033[?25h\r\n";
    if (tui_have_tio)
        tcsetattr(STDIN_FILENO, TCSANOW, &tui_saved_tio);
    ssize_t w = write(STDOUT_FILENO, reset, sizeof reset - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void fatal_handlers(bool on)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_fatal : SIG_DFL;
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
}

static void tui_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--model=FILE] [tui [OPTION]...]\n"), PACKAGE);
    puts(_("Open the terminal interface: watch the model answer while it reads its memory,\n"
           "teach it text, browse and edit the triple table, audit past runs.  Without a\n"
           "model the interface opens for browsing the memory only.  F1 inside lists every\n"
           "key; Ctrl-P picks any action by name; Ctrl-Q quits."));
    putchar('\n');
    cli_agent_help(true);
    puts(_("      --no-color           draw without colours (also when NO_COLOR is set)"));
    puts(_("  -h, --help               show this help and exit"));
}

/* Run f with standard error sent to /dev/null (the reason goes to the status line). */
static int quietly(const struct opts *g, struct cli_agent_args *x, struct cli_agent *ca)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0)
        dup2(null, STDERR_FILENO);
    int rc = cli_agent_open(g, x, ca);
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, STDERR_FILENO);
        close(saved);
    }
    if (null >= 0)
        close(null);
    return rc;
}

static enum agent_history_format history_format(const struct cli_agent *ca)
{
    if (!ca->prompted)
        return AGENT_HISTORY_PLAIN;
    return ca->fmt == PROMPTED_FORMAT_CHATML ? AGENT_HISTORY_CHATML : AGENT_HISTORY_MISTRAL;
}

int cli_tui_run(const struct opts *g, int argc, char **argv)
{
    /* --no-color is ours; everything else is an agent option as for `memllm ask` */
    static char tui_name[] = "tui";
    char *fake[2] = {tui_name, NULL};
    char **args = calloc((size_t)(argc > 0 ? argc : 1) + 1, sizeof *args);
    if (!args) {
        cli_error("%s", _("out of memory"));
        return CLI_EXIT_FAILURE;
    }
    int n = 0;
    bool color = true;
    if (argc <= 0) {
        argv = fake;
        argc = 1;
    }
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--no-color") == 0)
            color = false;
        else
            args[n++] = argv[i];
    }
    struct cli_agent_args x;
    int rc = cli_agent_parse("tui", n, args, &x, tui_help);
    if (rc < 0 && optind < n) {
        cli_error(_("tui: unexpected argument '%s'"), args[optind]);
        cli_try_help("tui");
        rc = CLI_EXIT_USAGE;
    }
    free(args);
    if (rc >= 0)
        return rc;

    struct cli_agent ca;
    struct cli_mem mc;
    memset(&mc, 0, sizeof mc);
    char msg[1024] = "";
    bool have_model = quietly(g, &x, &ca) == CLI_EXIT_OK;
    if (!have_model) {
        const char *d = status_detail();
        snprintf(msg, sizeof msg, _("memory browsing only: no model (%s); start with "
                                    "--model=FILE"), d[0] ? d : (x.model ? x.model
                                                                         : paths_model(g)));
        if ((rc = cli_mem_open(g, true, true, &mc)) != CLI_EXIT_OK)
            return rc;
    }
    struct cli_mem *mem = have_model ? &ca.mc : &mc;
    /* the table browses through its own connection while the worker uses the ctrl's */
    struct mem *browse = mem->m;
    struct mem *own = NULL;
    if (have_model && strcmp(mem->path, ":memory:") != 0 &&
        mem_open(mem->path, &own) == STATUS_OK)
        browse = own;
    struct agent_history *hist = NULL;
    if (have_model && agent_history_new(history_format(&ca), &hist) != STATUS_OK)
        hist = NULL;

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
    char *stderr_log = NULL;
    bool diverted = false;
    struct app_config cfg = {
        .m = browse, .ctrl = mem->c, .agent = have_model ? ca.a : NULL,
        .status = have_model ? NULL : msg, .history = hist, .tk = have_model ? ca.tk : NULL,
        .history_tokens = have_model ? model_n_ctx(ca.m) / 4 : 0,
    };
    enum status st = app_new(&cfg, &app);
    if (st != STATUS_OK) {
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    if (have_model)
        agent_set_events(ca.a, app_event_cb, app);
    tui_have_tio = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tui_saved_tio) == 0;
    fatal_handlers(true);
    /* While curses owns the terminal, log messages go to the status line (and the log
     * file), and whatever a module or library writes to standard error goes to the log
     * file (or /dev/null without one) instead of over the screen. */
    log_set_hook(app_log_cb, app);
    if (paths_default_log(&stderr_log) != STATUS_OK)
        stderr_log = NULL;
    diverted = log_stderr_divert(stderr_log) == STATUS_OK;
    if ((st = tui_open(stdout, stdin, color, &t)) != STATUS_OK) {
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    tui_run(t, app, &tui_stop, &tui_winch);
    rc = CLI_EXIT_OK;
done:
    log_set_hook(NULL, NULL);
    app_free(app); /* stops the worker before the terminal and the model go */
    tui_close(t);
    if (diverted && log_stderr_restore() > 0 && stderr_log)
        /* TRANSLATORS: after the terminal interface closed; %s is the log file */
        cli_error(_("messages written while the interface was open are in %s"), stderr_log);
    if (st != STATUS_OK)
        cli_status_error("tui", st); /* after standard error is back */
    free(stderr_log);
    fatal_handlers(false);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    agent_history_free(hist);
    mem_close(own);
    if (have_model)
        cli_agent_close(&ca);
    else
        cli_mem_close(&mc);
    return rc;
}
