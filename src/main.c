/* main.c -- memllm's entry point: locale, global options, subcommand dispatch.
 * The only place that exits. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/paths.h"
#include "util/i18n.h"
#include "util/log.h"

static void print_help(void)
{
    printf(_("Usage: %s [OPTION]... [COMMAND [ARG]...]\n"), PACKAGE);
    puts(_("Run a language model with an explicit, inspectable read-write memory (MemLLM)."));
    putchar('\n');
    puts(_("Options:"));
    puts(_("      --db=PATH        memory database (default: $XDG_DATA_HOME/memllm/memory.db)"));
    puts(_("  -m, --model=FILE     GGUF model (default: $MEMLLM_MODEL or the bundled model)"));
    puts(_("  -t, --threads=N      worker threads, or 'auto' for one per core (default)"));
    puts(_("      --mmap           read the model's weights through the file mapping instead\n"
           "                       of copying them into huge pages (faster start, slower\n"
           "                       generation)"));
    puts(_("      --json           machine-readable output (JSON lines)"));
    puts(_("  -v, --verbose        write more detail to the log; repeat for more"));
    puts(_("  -h, --help           display this help and exit"));
    puts(_("  -V, --version        output version information and exit"));
    putchar('\n');
    puts(_("Commands:"));
    int width = 0;
    for (const struct cli_command *c = cli_commands; c->name; c++)
        width = (int)strlen(c->name) > width ? (int)strlen(c->name) : width;
    for (const struct cli_command *c = cli_commands; c->name; c++)
        printf("  %-*s  %s\n", width, c->name, _(c->summary));
    putchar('\n');
    printf(_("Run '%s COMMAND --help' for a command's own options.\n"), PACKAGE);
}

static void print_version(void)
{
    printf("%s (%s) %s\n", PACKAGE, PACKAGE_NAME, PACKAGE_VERSION);
    puts("Copyright (C) 2026 the memllm authors.");
    puts(_("License MIT: <https://opensource.org/licenses/MIT>.\n"
           "This is free software: you are free to change and redistribute it.\n"
           "There is NO WARRANTY, to the extent permitted by law."));
}

static void open_log(const struct opts *o)
{
    char *path = NULL;
    if (paths_default_log(&path) != STATUS_OK)
        return; /* no home directory: run without a log */
    enum log_level level = o->verbose >= 2 ? LOG_LEVEL_DEBUG
                         : o->verbose == 1 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
    if (log_open(path, level) != STATUS_OK && o->verbose)
        cli_error(_("cannot open the log %s: %s"), path, status_detail());
    free(path);
}

/* Locale and message catalogs.  glibc ignores $LANGUAGE while the messages locale is
 * "C"; a user who asked for a language by $LANGUAGE alone gets it through C.UTF-8.
 * $MEMLLM_LOCALEDIR points at catalogs that are not installed (the tests use it). */
static void setup_locale(void)
{
    const char *loc = setlocale(LC_ALL, "");
    /* Numbers keep the '.': option values such as --temp=0.7 and thresholds are read
     * with strtod(), and --json output is printed with printf(); a decimal comma would
     * reject the first and make the second invalid JSON. */
    setlocale(LC_NUMERIC, "C");
    const char *language = getenv("LANGUAGE");
    if (language && language[0]) {
        const char *msg = setlocale(LC_MESSAGES, NULL);
        if (!loc || !msg || strcmp(msg, "C") == 0 || strcmp(msg, "POSIX") == 0)
            setlocale(LC_MESSAGES, "C.UTF-8");
    }
#if ENABLE_NLS
    const char *dir = getenv("MEMLLM_LOCALEDIR");
    bindtextdomain(PACKAGE, dir && dir[0] ? dir : LOCALEDIR);
    bind_textdomain_codeset(PACKAGE, "UTF-8");
    textdomain(PACKAGE);
#endif
}

int main(int argc, char **argv)
{
    setup_locale();

    struct opts o;
    enum status st = opts_parse(argc, (const char *const *)argv, &o);
    if (st != STATUS_OK) {
        cli_error("%s", status_detail());
        cli_try_help(NULL);
        return CLI_EXIT_USAGE;
    }
    if (o.help) {
        print_help();
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    }
    if (o.version) {
        print_version();
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    }

    const struct cli_command *cmd;
    if (o.cmd_index >= argc) {
        cmd = cli_command_find("tui");
        if (!cmd) {
            /* no interactive front end in this build: show what there is */
            print_help();
            return CLI_EXIT_OK;
        }
    } else {
        cmd = cli_command_find(argv[o.cmd_index]);
        if (!cmd) {
            cli_error(_("unknown command '%s'"), argv[o.cmd_index]);
            cli_try_help(NULL);
            return CLI_EXIT_USAGE;
        }
    }

    open_log(&o);
    int rc = cmd->run(&o, argc - o.cmd_index, argv + o.cmd_index);
    log_close();
    /* ferror too: a command that flushed as it wrote leaves nothing for this flush to fail */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK) {
        cli_error(_("write error on standard output"));
        rc = CLI_EXIT_FAILURE;
    }
    return rc;
}
