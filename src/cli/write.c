/* write.c -- `memllm write`: memorize a text with the model's write mode (one MEM_WRITE call
 * per sentence), showing the triples and a progress bar. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/memcons.h"
#include "cli/ask.h"
#include "cli/commands.h"
#include "util/i18n.h"

enum {
    WRITE_OPT_DRY_RUN = 400,
    WRITE_OPT_CONTEXT_SENTS,
    WRITE_OPT_MIN_CUTS,
    WRITE_OPT_MAX_TOKENS,
    WRITE_OPT_TITLE,
};

static void write_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] write [OPTION]... FILE|-\n"), PACKAGE);
    puts(_("Memorize the text of FILE (or standard input): the text is split into sentences\n"
           "and for each the model writes a MEM_WRITE call with the facts it states, decoded\n"
           "greedily; the triples are stored with the sentence as their source.  Triples go to\n"
           "standard output, progress and a summary to standard error."));
    putchar('\n');
    cli_agent_help(false);
    puts(_("      --constrain=on|off   keep write calls well-formed with token masks (triples\n"
           "                           from whole-word spans of the sentence; default on)"));
    puts(_("      --dry-run            show the triples without storing them"));
    puts(_("      --context-sents=N    earlier sentences given as context (default:\n"
           "                           the model's memllm.write.context_sents, else 25)"));
    puts(_("      --min-cuts=N         late stopping: candidate ends to collect (default 5)"));
    puts(_("      --max-tokens=N       most tokens per write call (default 128)"));
    puts(_("      --title=TEXT         name of the document in the run record"));
    puts(_("  -h, --help               show this help and exit"));
    putchar('\n');
    puts(_("With the global --json option each sentence's call is one JSON line."));
}

struct write_ui {
    struct cli_agent *ca;
    bool progress; /* draw a bar on stderr */
    bool drawn;
    bool dry_run;
    size_t triples;
};

static void write_clear_bar(struct write_ui *u)
{
    if (u->drawn) {
        fputs("\r\033[K", stderr);
        u->drawn = false;
    }
}

static void write_on_event(void *user, const struct agent_event *ev)
{
    struct write_ui *u = user;
    if (u->ca->json) {
        if (ev->kind != AGENT_EVENT_TOKEN) {
            agent_event_json(stdout, ev);
            putchar('\n');
            fflush(stdout);
        }
        return;
    }
    if (ev->kind == AGENT_EVENT_ERROR) {
        write_clear_bar(u);
        cli_error("%s", ev->text);
        return;
    }
    if (ev->kind != AGENT_EVENT_WRITE)
        return;
    write_clear_bar(u);
    u->triples += ev->n_triples;
    if (ev->n_triples || ev->n_rejected || ev->status != STATUS_OK) {
        printf("[%zu/%zu] ", ev->sentence_no, ev->n_sentences);
        cli_mem_put(stdout, ev->sentence);
        putchar('\n');
    }
    for (size_t i = 0; i < ev->n_triples; i++) {
        fputs("  ", stdout);
        cli_mem_put(stdout, ev->triples[i].subj);
        fputs(" | ", stdout);
        cli_mem_put(stdout, ev->triples[i].rel);
        fputs(" | ", stdout);
        cli_mem_put(stdout, ev->triples[i].obj);
        if (ev->written) {
            const struct ctrl_written *w = &ev->written[i];
            const char *oc = w->outcome == MEM_OUTCOME_NEW     ? _("new")
                             : w->outcome == MEM_OUTCOME_KNOWN ? _("known")
                                                               : _("conflict");
            printf("  (%s #%lld)", oc, (long long)w->triple_id);
        } else if (u->dry_run) {
            printf("  (%s)", _("not stored"));
        }
        putchar('\n');
    }
    for (size_t i = 0; i < ev->n_rejected; i++)
        /* TRANSLATORS: a malformed piece of a write call; %zu is a byte offset */
        printf(_("  rejected at byte %zu: %s\n"), ev->rejected[i].pos,
               call_error_str(ev->rejected[i].kind));
    if (ev->status != STATUS_OK) {
        printf(_("  call not usable: %s: "), status_str(ev->status));
        cli_mem_put(stdout, ev->raw ? ev->raw : "");
        putchar('\n');
    }
    fflush(stdout);
    if (u->progress && ev->n_sentences) {
        int w = 30, done = (int)(ev->sentence_no * (size_t)w / ev->n_sentences);
        fputs("\r[", stderr);
        for (int i = 0; i < w; i++)
            fputc(i < done ? '#' : '-', stderr);
        /* TRANSLATORS: progress: sentences done / total, then triples found */
        fprintf(stderr, _("] %zu/%zu sentences, %zu triples"), ev->sentence_no,
                ev->n_sentences, u->triples);
        fflush(stderr);
        u->drawn = true;
    }
}

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int cli_write_run(const struct opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"ctx", required_argument, NULL, CLI_AGENT_OPT_CTX},
        {"no-record", no_argument, NULL, CLI_AGENT_OPT_NO_RECORD},
        {"constrain", required_argument, NULL, CLI_AGENT_OPT_CONSTRAIN},
        {"mode", required_argument, NULL, CLI_AGENT_OPT_MODE},
        {"embedder", required_argument, NULL, CLI_AGENT_OPT_EMBEDDER},
        {"dry-run", no_argument, NULL, WRITE_OPT_DRY_RUN},
        {"context-sents", required_argument, NULL, WRITE_OPT_CONTEXT_SENTS},
        {"min-cuts", required_argument, NULL, WRITE_OPT_MIN_CUTS},
        {"max-tokens", required_argument, NULL, WRITE_OPT_MAX_TOKENS},
        {"title", required_argument, NULL, WRITE_OPT_TITLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_agent_args x;
    cli_agent_args_init(&x);
    const char *title = NULL;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+m:h", longopts, NULL)) != -1) {
        size_t v = 0;
        const char *bad = NULL;
        switch (c) {
        case 'h':
            write_help();
            return CLI_EXIT_OK;
        case WRITE_OPT_DRY_RUN:
            x.p.dry_run = true;
            continue;
        case WRITE_OPT_TITLE:
            title = optarg;
            continue;
        case WRITE_OPT_CONTEXT_SENTS:
            if (!cli_mem_parse_size(optarg, 1000, &v))
                bad = "--context-sents";
            x.p.context_sents = v;
            x.have_context_sents = true;
            break;
        case WRITE_OPT_MIN_CUTS:
            if (!cli_mem_parse_size(optarg, 1000, &v) || v == 0)
                bad = "--min-cuts";
            x.p.min_cuts = v;
            break;
        case WRITE_OPT_MAX_TOKENS:
            if (!cli_mem_parse_size(optarg, 1u << 16, &v) || v == 0)
                bad = "--max-tokens";
            x.p.write_max_tokens = v;
            break;
        case '?':
        case ':':
            if (optopt == 'm' || optopt >= CLI_AGENT_OPT_CTX)
                cli_error(_("%s: option '%s' needs an argument"), "write", argv[optind - 1]);
            else
                cli_error(_("%s: unrecognized option '%s'"), "write", argv[optind - 1]);
            cli_try_help("write");
            return CLI_EXIT_USAGE;
        default:
            if (cli_agent_option("write", c, optarg, &x) < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (bad) {
            cli_error(_("%s: invalid value for %s: '%s'"), "write", bad, optarg);
            cli_try_help("write");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        if (optind >= argc)
            cli_error(_("write: a file to memorize is required (- for standard input)"));
        else
            cli_error(_("write: unexpected argument '%s'"), argv[optind + 1]);
        cli_try_help("write");
        return CLI_EXIT_USAGE;
    }
    const char *path = argv[optind];
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    size_t len = 0;
    char *text = read_stream(f, &len);
    int err = errno;
    if (!is_stdin)
        fclose(f);
    if (!text) {
        cli_error("%s: %s", is_stdin ? _("standard input") : path, strerror(err));
        return CLI_EXIT_FAILURE;
    }
    struct cli_agent ca;
    int rc = cli_agent_open(g, &x, &ca);
    memcons_set_memory(ca.cons, NULL); /* write calls name spans of the text, not memory */
    if (rc != CLI_EXIT_OK) {
        free(text);
        return rc;
    }
    struct write_ui u = {0};
    u.ca = &ca;
    u.dry_run = x.p.dry_run;
    u.progress = !g->json && isatty(STDERR_FILENO);
    agent_set_events(ca.a, write_on_event, &u);
    /* the store keeps UTF-8: a file name that is not gets U+FFFD for its bad bytes */
    bool oom = false;
    char *file = is_stdin ? NULL : cli_mem_file_name(path, &oom);
    if (oom) {
        cli_status_error("write", STATUS_NOMEM);
        free(text);
        cli_agent_close(&ca);
        return CLI_EXIT_FAILURE;
    }
    const char *base = file ? strrchr(file, '/') : NULL;
    if (!title)
        title = !file ? NULL : base ? base + 1 : file;
    struct agent_write_stats ws;
    cli_agent_sigint(ca.a);
    enum status st = agent_write_text(ca.a, text, len, file, title, &ws);
    cli_agent_sigint(NULL);
    write_clear_bar(&u);
    if (!g->json)
        fprintf(stderr,
                /* TRANSLATORS: summary of memorizing a text */
                _("%zu sentences, %zu triples (%zu new, %zu known, %zu conflicts), %zu rejected "
                  "pieces%s\n"),
                ws.sentences, ws.triples, ws.n_new, ws.n_known, ws.n_conflict, ws.rejected,
                x.p.dry_run ? _("; dry run: nothing stored") : "");
    /* Ctrl-C: the sentences already written stay stored; the status says the text was
     * not finished, as a shell reports a command killed by SIGINT */
    rc = st == STATUS_OK ? CLI_EXIT_OK : st == STATUS_CANCELLED ? CLI_EXIT_INTERRUPTED
                                                                : CLI_EXIT_FAILURE;
    if (st == STATUS_CANCELLED)
        fprintf(stderr, "%s\n", _("interrupted"));
    free(text);
    free(file);
    cli_agent_close(&ca);
    return rc;
}
