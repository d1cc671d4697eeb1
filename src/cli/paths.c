/* paths.c -- `memllm paths`: where the database, configuration, log and model are. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/paths.h"

#include "cli/mem.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/xdg.h"

enum status paths_default_db(char **out)
{
    return xdg_path(XDG_KIND_DATA, "memory.db", out);
}

enum status paths_default_log(char **out)
{
    return xdg_path(XDG_KIND_STATE, "memllm.log", out);
}

enum status paths_default_config(char **out)
{
    return xdg_path(XDG_KIND_CONFIG, "config", out);
}

const char *paths_model(const struct opts *g)
{
    if (g->model_path)
        return g->model_path;
    const char *env = getenv("MEMLLM_MODEL");
    if (env && env[0])
        return env;
    /* installed, else $MEMLLM_DATADIR, else the source tree's data/ (uninstalled runs) */
    static char *bundled;
    if (!bundled)
        bundled = cli_mem_data_file(PATHS_DEFAULT_MODEL);
    return bundled ? bundled : PKGDATADIR "/" PATHS_DEFAULT_MODEL;
}

/* Print one "label: value" line, or a JSON member. */
static void paths_print(const struct opts *g, const char *key, const char *label,
                        const char *value, bool last)
{
    if (g->json) {
        printf("\"%s\":", key);
        json_write_str(stdout, value, strlen(value)); /* valid JSON for any bytes */
        fputs(last ? "}\n" : ",", stdout);
    } else {
        printf("%-10s %s\n", label, value);
    }
}

int cli_paths_run(const struct opts *g, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf(_("Usage: %s paths\n"), PACKAGE);
        puts(_("Show the files memllm uses: the memory database, the configuration file,\n"
               "the log and the model, after --db, --model, $MEMLLM_MODEL and the XDG\n"
               "base directory variables are applied."));
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error(_("paths: unexpected argument '%s'"), argv[1]);
        cli_try_help("paths");
        return CLI_EXIT_USAGE;
    }
    char *db = NULL, *cfg = NULL, *log = NULL;
    enum status st = STATUS_OK;
    if (!g->db_path)
        st = paths_default_db(&db);
    if (st == STATUS_OK)
        st = paths_default_config(&cfg);
    if (st == STATUS_OK)
        st = paths_default_log(&log);
    if (st != STATUS_OK) {
        cli_status_error("paths", st);
        free(db);
        free(cfg);
        return CLI_EXIT_FAILURE;
    }
    if (g->json)
        putchar('{');
    /* TRANSLATORS: labels of `memllm paths`, padded to 10 columns */
    paths_print(g, "database", _("database:"), g->db_path ? g->db_path : db, false);
    paths_print(g, "config", _("config:"), cfg, false);
    paths_print(g, "log", _("log:"), log, false);
    paths_print(g, "model", _("model:"), paths_model(g), true);
    free(db);
    free(cfg);
    free(log);
    return CLI_EXIT_OK;
}
