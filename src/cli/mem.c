/* mem.c -- `memllm mem`: inspect and edit the explicit memory (add, rm, edit, list, query,
 * show, stats, conflicts, reindex, check; import, export and bench live in mem_io.c and
 * mem_bench.c). */
#include "config.h"

#include "cli/mem.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "protocol/call.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

/* ---- shared helpers ------------------------------------------------------------------ */

void cli_mem_put(FILE *f, const char *s)
{
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0;
        int n = utf8_decode(s + i, len - i, &cp);
        if (n < 0) {
            fprintf(f, "\\x%02X", (unsigned char)s[i]);
            i++;
            continue;
        }
        if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (cp == '\r')
            fputs("\\r", f);
        else if (cp < 0x20 || cp == 0x7f)
            fprintf(f, "\\x%02X", (unsigned)cp);
        else if (cp >= 0x80 && cp < 0xa0)
            fprintf(f, "\\u%04X", (unsigned)cp);
        else
            fwrite(s + i, 1, (size_t)n, f);
        i += (size_t)n;
    }
}

void cli_mem_json(FILE *f, const char *s)
{
    json_write_str(f, s ? s : "", s ? strlen(s) : 0);
}

bool cli_mem_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return false;
    *out = v;
    return true;
}

bool cli_mem_parse_size(const char *s, size_t max, size_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static bool mem_parse_thr(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0.0) || v > 2.0)
        return false;
    *out = v;
    return true;
}

int cli_mem_bad_option(const char *sub, char **argv, int optind_now, int optopt_now)
{
    /* a long option that lacks its argument sets optopt to its short twin: name it as
     * typed */
    const char *typed = optind_now > 0 ? argv[optind_now - 1] : NULL;
    bool is_long = typed && strncmp(typed, "--", 2) == 0;
    if (optopt_now && optopt_now < 256 && optopt_now != '?' && !is_long)
        /* TRANSLATORS: "mem add: invalid or incomplete option '-x'" */
        cli_error(_("mem %s: invalid or incomplete option '-%c'"), sub, optopt_now);
    else
        cli_error(_("mem %s: unrecognized or incomplete option '%s'"), sub,
                  argv[optind_now - 1]);
    char what[64];
    snprintf(what, sizeof what, "mem %s", sub);
    cli_try_help(what);
    return CLI_EXIT_USAGE;
}

static int mem_usage_error(const char *sub, const char *msg)
{
    cli_error("mem %s: %s", sub, msg);
    char what[64];
    snprintf(what, sizeof what, "mem %s", sub);
    cli_try_help(what);
    return CLI_EXIT_USAGE;
}

static int mem_status_exit(enum status st)
{
    switch (st) {
    case STATUS_OK:
        return CLI_EXIT_OK;
    case STATUS_INVALID:
    case STATUS_NOT_FOUND:
    case STATUS_ENCODING:
    case STATUS_USAGE:
    case STATUS_PARSE:
    case STATUS_FORMAT:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_FAILURE;
    }
}

/* ---- data files and opening ---------------------------------------------------------- */

static char *mem_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *mem_try(const char *dir, const char *name)
{
    char *p = mem_join(dir, name);
    if (p && access(p, R_OK) == 0)
        return p;
    free(p);
    return NULL;
}

char *cli_mem_data_file(const char *name)
{
    char *p = mem_try(PKGDATADIR, name);
    if (p)
        return p;
    const char *env = getenv("MEMLLM_DATADIR");
    if (env && env[0] && (p = mem_try(env, name)))
        return p;
    /* uninstalled: <top_srcdir>/data, with the binary at <top_builddir>/src/memllm and the
     * build directory either the source tree or one level below it */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    static const char *const rel[] = {"/../data", "/../../data"};
    for (size_t i = 0; i < 2; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s%s", exe, rel[i]);
        if ((p = mem_try(dir, name)))
            return p;
    }
    return NULL;
}

static int mem_busy_timeout_ms(void)
{
    const char *env = getenv("MEMLLM_BUSY_TIMEOUT_MS");
    size_t v = 0;
    if (env && cli_mem_parse_size(env, 600000, &v))
        return (int)v;
    return MEM_BUSY_TIMEOUT_DEFAULT_MS;
}

/* Progress of building the search index of an existing database (a long first open
 * after an upgrade): a percentage updated in place on a terminal, else one line. */
static void mem_open_progress(void *ctx, int64_t done, int64_t total)
{
    const char *path = ctx;
    if (isatty(STDERR_FILENO)) {
        fputc('\r', stderr);
        /* TRANSLATORS: %s is a database file, %d a percentage */
        fprintf(stderr, _("%s: building the search index: %d%%"), path,
                total > 0 ? (int)(100 * done / total) : 100);
        if (done >= total)
            fputc('\n', stderr);
    } else if (done == 0) {
        /* TRANSLATORS: %s is a database file, %lld a number of rows */
        fprintf(stderr, _("%s: building the search index (%lld names and sources)\n"), path,
                (long long)total);
    }
    fflush(stderr);
}

int cli_mem_open(const struct opts *g, bool seed, bool with_ctrl, struct cli_mem *mc)
{
    memset(mc, 0, sizeof *mc);
    enum status st = STATUS_OK;
    bool is_default = !g->db_path;
    if (is_default) {
        st = paths_default_db(&mc->path);
        if (st != STATUS_OK) {
            cli_status_error(_("default database"), st);
            return CLI_EXIT_FAILURE;
        }
    } else {
        mc->path = strdup(g->db_path);
        if (!mc->path) {
            cli_status_error("mem", STATUS_NOMEM);
            return CLI_EXIT_FAILURE;
        }
    }
    bool in_memory = strcmp(mc->path, ":memory:") == 0;
    mc->created = in_memory || access(mc->path, F_OK) != 0;
    int busy_ms = mem_busy_timeout_ms();
    struct mem_open_opts oo = {.progress = mem_open_progress,
                               .progress_ctx = mc->path,
                               .busy_timeout_ms = busy_ms > 0 ? busy_ms : -1}; /* 0: no wait */
    st = mem_open_with(mc->path, &oo, &mc->m);
    if (st != STATUS_OK) {
        cli_status_error(mc->path, st);
        goto fail;
    }
    if (mc->created) {
        char *rel = cli_mem_data_file(CLI_MEM_RELATIONS_FILE);
        if (rel) {
            st = mem_relations_load(mc->m, rel, NULL);
            if (st != STATUS_OK) {
                cli_status_error(rel, st);
                free(rel);
                goto fail;
            }
            free(rel);
        } else {
            log_msg(LOG_LEVEL_WARN, "mem: %s not found; relations have no flags",
                    CLI_MEM_RELATIONS_FILE);
        }
    }
    st = embed_hash_new(0, &mc->e);
    if (st != STATUS_OK) {
        cli_status_error("embedder", st);
        goto fail;
    }
    /* The default database is seeded on creation.  "seed.state" is "pending" until the
     * import has succeeded, so a first run that failed or was killed while seeding
     * retries on the next start (the import is idempotent: known triples stay as they
     * are). */
    bool do_seed = false;
    if (is_default && seed) {
        char *state = NULL;
        if (mc->created)
            st = mem_meta_set(mc->m, "seed.state", "pending");
        else
            st = mem_meta_get(mc->m, "seed.state", &state);
        if (st == STATUS_NOT_FOUND) /* seeded before the state was kept, or not default */
            st = STATUS_OK;
        if (st != STATUS_OK) {
            cli_status_error(mc->path, st);
            goto fail;
        }
        do_seed = mc->created || (state && strcmp(state, "pending") == 0);
        free(state);
    }
    if (with_ctrl || do_seed) {
        st = ctrl_open(mc->m, &mc->e, &mc->c);
        if (st != STATUS_OK) {
            cli_status_error(mc->path, st);
            goto fail;
        }
    }
    if (do_seed) {
        char *facts = cli_mem_data_file(CLI_MEM_SEED_FILE);
        if (!facts) {
            /* TRANSLATORS: %s is a file name */
            cli_error(_("warning: %s not found; the new memory starts empty"),
                      CLI_MEM_SEED_FILE);
        } else {
            int rc = cli_mem_import_file(g, mc, facts, "tsv", CLI_MEM_SEED_SOURCE, true);
            free(facts);
            if (rc != CLI_EXIT_OK)
                goto fail_rc;
            if ((st = mem_meta_set(mc->m, "seed.state", "done")) != STATUS_OK) {
                cli_status_error(mc->path, st);
                goto fail;
            }
        }
    }
    return CLI_EXIT_OK;
fail:
    cli_mem_close(mc);
    return mem_status_exit(st) == CLI_EXIT_USAGE ? CLI_EXIT_FAILURE : mem_status_exit(st);
fail_rc:
    cli_mem_close(mc);
    return CLI_EXIT_FAILURE;
}

void cli_mem_close(struct cli_mem *mc)
{
    ctrl_close(mc->c);
    mc->c = NULL;
    mem_close(mc->m);
    mc->m = NULL;
    embed_free(&mc->e);
    free(mc->path);
    mc->path = NULL;
}

/* ---- output of triples ---------------------------------------------------------------- */

static const char *mem_outcome_name(enum mem_outcome oc)
{
    switch (oc) {
    case MEM_OUTCOME_NEW:
        return "new";
    case MEM_OUTCOME_KNOWN:
        return "known";
    case MEM_OUTCOME_CONFLICT:
        return "conflict";
    }
    return "?";
}

static void mem_print_time(FILE *f, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        fputs(buf, f);
    else
        fprintf(f, "%" PRId64, ms);
}

/* One triple as a JSON object (no newline). */
static void mem_json_triple(FILE *f, const struct mem_triple *t)
{
    fprintf(f, "{\"id\":%" PRId64 ",\"subject\":", t->id);
    cli_mem_json(f, t->subj_name);
    fputs(",\"relation\":", f);
    cli_mem_json(f, t->rel_name);
    fputs(",\"object\":", f);
    cli_mem_json(f, t->obj_name);
    fprintf(f, ",\"source_id\":%" PRId64 ",\"created_at\":%" PRId64, t->source_id, t->created_at);
    if (t->retired_at) {
        fprintf(f, ",\"retired_at\":%" PRId64 ",\"retire_reason\":", t->retired_at);
        if (t->retire_reason)
            cli_mem_json(f, t->retire_reason);
        else
            fputs("null", f);
    } else {
        fputs(",\"retired_at\":null", f);
    }
    if (t->replaced_by)
        fprintf(f, ",\"replaced_by\":%" PRId64, t->replaced_by);
    fprintf(f, ",\"conflict\":%s}", t->conflict ? "true" : "false");
}

/* One triple as a text line: "ID<TAB>S<TAB>R<TAB>O[<TAB>flags]". */
static void mem_text_triple(FILE *f, const struct mem_triple *t)
{
    fprintf(f, "%" PRId64 "\t", t->id);
    cli_mem_put(f, t->subj_name);
    fputc('\t', f);
    cli_mem_put(f, t->rel_name);
    fputc('\t', f);
    cli_mem_put(f, t->obj_name);
    if (t->retired_at)
        /* TRANSLATORS: flag after a triple in listings */
        fprintf(f, "\t[%s]", _("retired"));
    if (t->conflict)
        /* TRANSLATORS: flag after a triple in listings */
        fprintf(f, "\t[%s]", _("conflict"));
    fputc('\n', f);
}

struct mem_print {
    const struct opts *g;
    size_t n;
    int64_t last;
};

static int mem_print_row(void *ctx, const struct mem_triple *t)
{
    struct mem_print *p = ctx;
    if (p->g->json) {
        mem_json_triple(stdout, t);
        putchar('\n');
    } else {
        mem_text_triple(stdout, t);
    }
    p->n++;
    p->last = t->id;
    return 0;
}

/* ---- add -------------------------------------------------------------------------------- */

static void mem_add_help(void)
{
    printf(_("Usage: %s mem add SUBJECT RELATION OBJECT [OPTION]...\n"), PACKAGE);
    puts(_("Store one triple (subject, relation, object) in the memory."));
    putchar('\n');
    puts(_("      --source=TEXT    where the fact comes from (default: a user edit)"));
    puts(_("  -h, --help           display this help and exit"));
}

static int mem_add(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {
        {"source", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *source = NULL;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 's')
            source = optarg;
        else if (ch == 'h') {
            mem_add_help();
            return CLI_EXIT_OK;
        } else
            return cli_mem_bad_option("add", argv, optind, optopt);
    }
    if (argc - optind != 3)
        return mem_usage_error("add", _("expected SUBJECT RELATION OBJECT"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct ctrl_triple_in t = {argv[optind], argv[optind + 1], argv[optind + 2]};
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER,
                             .text = source ? source : "memllm mem add"};
    struct ctrl_written w;
    enum status st = ctrl_write(mc.c, &t, 1, &src, &w);
    if (st != STATUS_OK) {
        cli_status_error("mem add", st);
        cli_mem_close(&mc);
        return mem_status_exit(st);
    }
    if (g->json) {
        printf("{\"id\":%" PRId64 ",\"outcome\":\"%s\",\"subject\":", w.triple_id,
               mem_outcome_name(w.outcome));
        cli_mem_json(stdout, t.subj);
        fputs(",\"relation\":", stdout);
        cli_mem_json(stdout, t.rel);
        fputs(",\"object\":", stdout);
        cli_mem_json(stdout, t.obj);
        printf(",\"new_subject\":%s,\"new_relation\":%s,\"new_object\":%s}\n",
               w.new_subj ? "true" : "false", w.new_rel ? "true" : "false",
               w.new_obj ? "true" : "false");
    } else if (w.outcome == MEM_OUTCOME_KNOWN) {
        printf(_("already known: triple %" PRId64 "\n"), w.triple_id);
    } else if (w.outcome == MEM_OUTCOME_CONFLICT) {
        printf(_("added triple %" PRId64 " (conflict: the relation is single-valued and "
                 "the subject already has a value; see 'memllm mem conflicts')\n"),
               w.triple_id);
    } else {
        printf(_("added triple %" PRId64 "\n"), w.triple_id);
    }
    cli_mem_close(&mc);
    return CLI_EXIT_OK;
}

/* ---- rm ------------------------------------------------------------------------------- */

static int mem_rm(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {
        {"reason", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *reason = NULL;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch == 'r')
            reason = optarg;
        else if (ch == 'h') {
            printf(_("Usage: %s mem rm ID [OPTION]...\n"), PACKAGE);
            puts(_("Retire triple ID: it no longer answers reads but stays in the history."));
            putchar('\n');
            puts(_("      --reason=TEXT    why it was removed"));
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        } else
            return cli_mem_bad_option("rm", argv, optind, optopt);
    }
    int64_t id = 0;
    if (argc - optind != 1 || !cli_mem_parse_id(argv[optind], &id))
        return mem_usage_error("rm", _("expected one triple ID (a positive number)"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    enum status st = ctrl_retire(mc.c, id, reason);
    if (st != STATUS_OK) {
        cli_status_error("mem rm", st);
    } else if (g->json) {
        printf("{\"id\":%" PRId64 ",\"retired\":true}\n", id);
    } else {
        printf(_("retired triple %" PRId64 "\n"), id);
    }
    cli_mem_close(&mc);
    return mem_status_exit(st);
}

/* ---- edit ----------------------------------------------------------------------------- */

static int mem_edit(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {{"subject", required_argument, NULL, 's'},
                                       {"relation", required_argument, NULL, 'r'},
                                       {"object", required_argument, NULL, 'o'},
                                       {"reason", required_argument, NULL, 'R'},
                                       {"source", required_argument, NULL, 'S'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    const char *s = NULL, *r = NULL, *o = NULL, *reason = NULL, *source = NULL;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            s = optarg;
            break;
        case 'r':
            r = optarg;
            break;
        case 'o':
            o = optarg;
            break;
        case 'R':
            reason = optarg;
            break;
        case 'S':
            source = optarg;
            break;
        case 'h':
            printf(_("Usage: %s mem edit ID [OPTION]...\n"), PACKAGE);
            puts(_("Replace triple ID by a corrected version; the old one is retired and kept\n"
                   "in the history."));
            putchar('\n');
            puts(_("      --subject=NAME   new subject"));
            puts(_("      --relation=NAME  new relation"));
            puts(_("      --object=NAME    new object"));
            puts(_("      --reason=TEXT    why it was changed"));
            puts(_("      --source=TEXT    source of the new version (default: the old one's)"));
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("edit", argv, optind, optopt);
        }
    }
    int64_t id = 0;
    if (argc - optind != 1 || !cli_mem_parse_id(argv[optind], &id))
        return mem_usage_error("edit", _("expected one triple ID (a positive number)"));
    if (!s && !r && !o)
        return mem_usage_error("edit", _("nothing to change: give --subject, --relation or "
                                         "--object"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = source};
    int64_t nid = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    enum status st = ctrl_edit(mc.c, id, s, r, o, source ? &src : NULL, reason, &nid, &oc);
    if (st != STATUS_OK)
        cli_status_error("mem edit", st);
    else if (g->json)
        printf("{\"id\":%" PRId64 ",\"new_id\":%" PRId64 ",\"outcome\":\"%s\"}\n", id, nid,
               mem_outcome_name(oc));
    else
        printf(_("triple %" PRId64 " replaced by %" PRId64 " (%s)\n"), id, nid,
               mem_outcome_name(oc));
    cli_mem_close(&mc);
    return mem_status_exit(st);
}

/* ---- list ----------------------------------------------------------------------------- */

static int mem_list(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {{"subject", required_argument, NULL, 's'},
                                       {"relation", required_argument, NULL, 'r'},
                                       {"object", required_argument, NULL, 'o'},
                                       {"limit", required_argument, NULL, 'n'},
                                       {"after", required_argument, NULL, 'a'},
                                       {"include-retired", no_argument, NULL, 'i'},
                                       {"source", required_argument, NULL, 'S'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    struct mem_filter f = {.match = MEM_MATCH_SUBSTRING};
    struct mem_page p = {.sort = MEM_SORT_ID, .limit = 50};
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            f.subj = optarg;
            break;
        case 'r':
            f.rel = optarg;
            break;
        case 'o':
            f.obj = optarg;
            break;
        case 'S':
            f.source = optarg;
            break;
        case 'n':
            if (!cli_mem_parse_size(optarg, SIZE_MAX, &p.limit))
                return mem_usage_error("list", _("--limit needs a number (0: no limit)"));
            break;
        case 'a':
            if (!cli_mem_parse_id(optarg, &p.after_id))
                return mem_usage_error("list", _("--after needs a triple ID"));
            break;
        case 'i':
            f.include_retired = true;
            break;
        case 'h':
            printf(_("Usage: %s mem list [OPTION]...\n"), PACKAGE);
            puts(_("List triples by id: ID, subject, relation, object and flags, tab-separated\n"
                   "(with --json: one JSON object per line).  Continue a listing with\n"
                   "--after=<last ID shown>."));
            putchar('\n');
            puts(_("      --subject=TEXT     subject contains TEXT (ASCII case ignored)"));
            puts(_("      --relation=TEXT    relation contains TEXT"));
            puts(_("      --object=TEXT      object contains TEXT"));
            puts(_("      --source=TEXT      the source's text or file name contains TEXT"));
            puts(_("  -n, --limit=N          at most N triples (default 50; 0: all)"));
            puts(_("      --after=ID         only triples after ID"));
            puts(_("      --include-retired  also retired (removed or edited) triples"));
            puts(_("  -h, --help             display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("list", argv, optind, optopt);
        }
    }
    if (optind != argc)
        return mem_usage_error("list", _("unexpected argument"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct mem_print pr = {g, 0, 0};
    enum status st = mem_triple_list(mc.m, &f, &p, mem_print_row, &pr);
    if (st != STATUS_OK)
        cli_status_error("mem list", st);
    else if (!g->json && p.limit && pr.n == p.limit)
        /* TRANSLATORS: printed on stderr after a full page */
        fprintf(stderr, _("(more may follow: --after=%" PRId64 ")\n"), pr.last);
    cli_mem_close(&mc);
    return mem_status_exit(st);
}

/* ---- query ---------------------------------------------------------------------------- */

static void mem_json_cands(const struct ctrl_candidate *c, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"id\":%" PRId64 ",\"name\":", i ? "," : "", c[i].id);
        cli_mem_json(stdout, c[i].name);
        printf(",\"distance\":%.6f,\"similarity\":%.6f,\"passed\":%s}", c[i].dist,
               1.0 - c[i].dist, c[i].passed ? "true" : "false");
    }
    putchar(']');
}

static void mem_print_read_json(const char *query, const struct ctrl_read *r)
{
    fputs("{\"query\":", stdout);
    cli_mem_json(stdout, query);
    printf(",\"want\":\"%s\",\"params\":{\"dist_thr\":%g,\"dist_rel_thr\":%g,\"q_thr\":%g}",
           r->want == CTRL_WANT_OBJECT ? "object" : "subject", r->params.dist_thr,
           r->params.dist_rel_thr, r->params.q_thr);
    fputs(",\"entities\":", stdout);
    mem_json_cands(r->entities, r->n_entities);
    fputs(",\"relations\":", stdout);
    mem_json_cands(r->relations, r->n_relations);
    fputs(",\"triples\":[", stdout);
    for (size_t i = 0; i < r->n_found; i++) {
        const struct ctrl_found *f = &r->found[i];
        printf("%s{\"id\":%" PRId64 ",\"subject\":", i ? "," : "", f->id);
        cli_mem_json(stdout, f->subj_name);
        fputs(",\"relation\":", stdout);
        cli_mem_json(stdout, f->rel_name);
        fputs(",\"object\":", stdout);
        cli_mem_json(stdout, f->obj_name);
        printf(",\"score\":%.6f,\"kept\":%s}", f->score, f->kept ? "true" : "false");
    }
    printf("],\"exact\":%s,\"answers\":[", r->exact ? "true" : "false");
    for (size_t i = 0; i < r->n_answers; i++) {
        printf("%s{\"name\":", i ? "," : "");
        cli_mem_json(stdout, r->answers[i].name);
        printf(",\"score\":%.6f,\"triple\":%" PRId64 "}", r->answers[i].score,
               r->answers[i].triple_id);
    }
    printf("],\"truncated\":%s}\n", r->truncated ? "true" : "false");
}

static void mem_print_cands(const char *title, const struct ctrl_candidate *c, size_t n,
                            double thr)
{
    printf("%s (%s %.3f):\n", title, _("distance below"), thr);
    if (n == 0)
        printf("  %s\n", _("(none)"));
    for (size_t i = 0; i < n; i++) {
        printf("  %s  %.4f  %.4f  ", c[i].passed ? _("pass") : _("fail"), 1.0 - c[i].dist,
               c[i].dist);
        cli_mem_put(stdout, c[i].name);
        printf("  (#%" PRId64 ")\n", c[i].id);
    }
}

static void mem_print_read_text(const char *query, const struct ctrl_read *r)
{
    printf("%s ", _("query:"));
    cli_mem_put(stdout, query);
    putchar('\n');
    /* TRANSLATORS: column heads: pass/fail, similarity, distance, name */
    printf("%s\n", _("  ok    sim     dist    name"));
    mem_print_cands(_("entities"), r->entities, r->n_entities, r->params.dist_thr);
    mem_print_cands(_("relations"), r->relations, r->n_relations, r->params.dist_rel_thr);
    printf(_("triples (%zu found through %zu pairs with score below %.3f%s):\n"), r->n_found,
           r->n_pairs, r->params.q_thr, r->exact ? _("; exact matches only") : "");
    for (size_t i = 0; i < r->n_found; i++) {
        const struct ctrl_found *f = &r->found[i];
        printf("  %c %.4f  #%" PRId64 "  ", f->kept ? '*' : ' ', f->score, f->id);
        cli_mem_put(stdout, f->subj_name);
        fputs(" >> ", stdout);
        cli_mem_put(stdout, f->rel_name);
        fputs(" >> ", stdout);
        cli_mem_put(stdout, f->obj_name);
        putchar('\n');
    }
    printf("%s\n", _("results:"));
    if (r->n_answers == 0)
        printf("  %s\n", _("(none)"));
    for (size_t i = 0; i < r->n_answers; i++) {
        printf("  %zu. ", i + 1);
        cli_mem_put(stdout, r->answers[i].name);
        printf("  (%s %.4f, %s #%" PRId64 ")\n", _("score"), r->answers[i].score, _("triple"),
               r->answers[i].triple_id);
    }
    if (r->truncated)
        printf("  %s\n", _("(more answers were cut off)"));
}

static int mem_query(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {{"dist-thr", required_argument, NULL, 'e'},
                                       {"rel-thr", required_argument, NULL, 'r'},
                                       {"q-thr", required_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    struct ctrl_params p;
    ctrl_params_default(&p);
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'e':
            if (!mem_parse_thr(optarg, &p.dist_thr))
                return mem_usage_error("query", _("--dist-thr needs a number from 0 to 2"));
            break;
        case 'r':
            if (!mem_parse_thr(optarg, &p.dist_rel_thr))
                return mem_usage_error("query", _("--rel-thr needs a number from 0 to 2"));
            break;
        case 'q':
            if (!mem_parse_thr(optarg, &p.q_thr))
                return mem_usage_error("query", _("--q-thr needs a number from 0 to 2"));
            break;
        case 'h':
            printf(_("Usage: %s mem query 'SUBJECT>>RELATION>>' | '>>RELATION>>OBJECT'\n"),
                   PACKAGE);
            puts(_("Read the memory as the model does (MEM_READ): show the candidate entities\n"
                   "and relations with their similarities, whether they passed, the triples\n"
                   "found and the answers.  Up to 3 queries joined by ';'."));
            putchar('\n');
            printf(_("      --dist-thr=D     entity distance threshold (default %.2f)\n"),
                   CTRL_DIST_THR_DEFAULT);
            printf(_("      --rel-thr=D      relation distance threshold (default %.2f)\n"),
                   CTRL_DIST_REL_THR_DEFAULT);
            printf(_("      --q-thr=D        pair score threshold (default %.2f)\n"),
                   CTRL_Q_THR_DEFAULT);
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("query", argv, optind, optopt);
        }
    }
    if (argc - optind != 1)
        return mem_usage_error("query", _("expected one query such as 'Paris>>country>>'"));
    const char *q = argv[optind];
    size_t ql = strlen(q);
    char *text = malloc(ql + sizeof CALL_READ_PREFIX + 8);
    if (!text) {
        cli_status_error("mem query", STATUS_NOMEM);
        return CLI_EXIT_FAILURE;
    }
    size_t tl = (size_t)sprintf(text, "%s%s)%s", CALL_READ_PREFIX, q, CALL_ARROW);
    struct call *call = NULL;
    enum status st = call_parse_read(text, tl, &call);
    if (st == STATUS_OK && (call->n_errors > 0 || call->n_queries == 0)) {
        size_t off = sizeof CALL_READ_PREFIX - 1;
        size_t pos = call->n_errors ? call->errors[0].pos : 0;
        /* TRANSLATORS: "mem query: byte 3: empty relation" */
        cli_error(_("mem query: byte %zu: %s"), pos >= off ? pos - off + 1 : 1,
                  call->n_errors ? call_error_str(call->errors[0].kind) : _("no query"));
        cli_try_help("mem query");
        call_free(call);
        free(text);
        return CLI_EXIT_USAGE;
    }
    if (st != STATUS_OK) {
        cli_status_error("mem query", st);
        cli_try_help("mem query");
        free(text);
        return CLI_EXIT_USAGE;
    }
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, true, &mc);
    if (rc != CLI_EXIT_OK) {
        call_free(call);
        free(text);
        return rc;
    }
    st = ctrl_params_set(mc.c, &p);
    for (size_t i = 0; i < call->n_queries && st == STATUS_OK; i++) {
        const struct call_query *cq = &call->queries[i];
        bool want_obj = cq->want == CALL_WANT_OBJECT;
        struct ctrl_read *r = NULL;
        st = ctrl_read(mc.c, want_obj ? CTRL_WANT_OBJECT : CTRL_WANT_SUBJECT,
                       want_obj ? cq->subj : cq->obj, cq->rel, &r);
        if (st != STATUS_OK)
            break;
        char *qs = NULL;
        if (call_format_read_query(cq, 1, &qs) == STATUS_OK) {
            /* "({MEM_READ(" q ")-->": show just q */
            size_t a = sizeof CALL_READ_PREFIX - 1, n = strlen(qs);
            memmove(qs, qs + a, n - a + 1);
            qs[n - a - 4] = '\0';
        }
        if (g->json)
            mem_print_read_json(qs ? qs : q, r);
        else {
            if (i)
                putchar('\n');
            mem_print_read_text(qs ? qs : q, r);
        }
        free(qs);
        ctrl_read_free(r);
    }
    if (st != STATUS_OK)
        cli_status_error("mem query", st);
    cli_mem_close(&mc);
    call_free(call);
    free(text);
    return mem_status_exit(st);
}

/* ---- show ----------------------------------------------------------------------------- */

struct mem_hist {
    const struct opts *g;
    size_t n;
};

static int mem_hist_row(void *ctx, const struct mem_triple *t)
{
    struct mem_hist *h = ctx;
    if (h->g->json) {
        fputs(h->n ? "," : "", stdout);
        mem_json_triple(stdout, t);
    } else {
        fputs("  ", stdout);
        mem_print_time(stdout, t->created_at);
        putchar(' ');
        mem_text_triple(stdout, t);
        if (t->retired_at) {
            fputs("    ", stdout);
            /* TRANSLATORS: followed by a time and maybe a reason */
            fputs(_("retired"), stdout);
            putchar(' ');
            mem_print_time(stdout, t->retired_at);
            if (t->retire_reason) {
                fputs(": ", stdout);
                cli_mem_put(stdout, t->retire_reason);
            }
            putchar('\n');
        }
    }
    h->n++;
    return 0;
}

static int mem_show(const struct opts *g, bool seed, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf(_("Usage: %s mem show ID\n"), PACKAGE);
        puts(_("Show triple ID with its source and the history of its edits."));
        return CLI_EXIT_OK;
    }
    int64_t id = 0;
    if (argc != 2 || !cli_mem_parse_id(argv[1], &id))
        return mem_usage_error("show", _("expected one triple ID (a positive number)"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct mem_triple_info *info = NULL;
    enum status st = mem_triple_get(mc.m, id, &info);
    if (st != STATUS_OK) {
        cli_status_error("mem show", st);
        cli_mem_close(&mc);
        return mem_status_exit(st);
    }
    const struct mem_source *s = &info->source;
    struct mem_hist h = {g, 0};
    if (g->json) {
        fputs("{\"triple\":", stdout);
        mem_json_triple(stdout, &info->triple);
        fputs(",\"source\":", stdout);
        if (s->id) {
            printf("{\"id\":%" PRId64 ",\"kind\":\"%s\",\"text\":", s->id,
                   mem_source_kind_name(s->kind));
            if (s->text)
                cli_mem_json(stdout, s->text);
            else
                fputs("null", stdout);
            fputs(",\"file\":", stdout);
            if (s->file)
                cli_mem_json(stdout, s->file);
            else
                fputs("null", stdout);
            printf(",\"line\":%" PRId64 ",\"run_id\":%" PRId64 ",\"created_at\":%" PRId64 "}",
                   s->line, s->run_id, s->created_at);
        } else {
            fputs("null", stdout);
        }
        fputs(",\"history\":[", stdout);
        st = mem_triple_history(mc.m, id, mem_hist_row, &h);
        fputs("]}\n", stdout);
    } else {
        const struct mem_triple *t = &info->triple;
        printf("%-10s %" PRId64 "\n", _("triple:"), t->id);
        printf("%-10s ", _("subject:"));
        cli_mem_put(stdout, t->subj_name);
        printf("\n%-10s ", _("relation:"));
        cli_mem_put(stdout, t->rel_name);
        printf("\n%-10s ", _("object:"));
        cli_mem_put(stdout, t->obj_name);
        printf("\n%-10s ", _("created:"));
        mem_print_time(stdout, t->created_at);
        putchar('\n');
        if (t->retired_at) {
            printf("%-10s ", _("retired:"));
            mem_print_time(stdout, t->retired_at);
            if (t->retire_reason) {
                fputs(" (", stdout);
                cli_mem_put(stdout, t->retire_reason);
                putchar(')');
            }
            putchar('\n');
        }
        if (t->replaced_by)
            printf("%-10s %" PRId64 "\n", _("replaced:"), t->replaced_by);
        if (t->conflict)
            printf("%-10s %s\n", _("conflict:"),
                   _("yes (second value of a single-valued relation)"));
        printf("%-10s ", _("source:"));
        if (!s->id) {
            puts(_("(none)"));
        } else {
            printf("#%" PRId64 " %s", s->id, mem_source_kind_name(s->kind));
            if (s->file) {
                fputs(" ", stdout);
                cli_mem_put(stdout, s->file);
                if (s->line)
                    printf(":%" PRId64, s->line);
            }
            if (s->text) {
                fputs(": ", stdout);
                cli_mem_put(stdout, s->text);
            }
            putchar('\n');
        }
        printf("%s\n", _("history:"));
        st = mem_triple_history(mc.m, id, mem_hist_row, &h);
    }
    if (st != STATUS_OK)
        cli_status_error("mem show", st);
    mem_triple_info_free(info);
    cli_mem_close(&mc);
    return mem_status_exit(st);
}

/* ---- stats, conflicts ------------------------------------------------------------------- */

static int mem_stats_cmd(const struct opts *g, bool seed, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf(_("Usage: %s mem stats\n"), PACKAGE);
        puts(_("Count entities, relations, live and retired triples, conflicts, sources and\n"
               "runs, and name the database file and its embedder."));
        return CLI_EXIT_OK;
    }
    if (argc != 1)
        return mem_usage_error("stats", _("unexpected argument"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct mem_stats s;
    enum status st = mem_stats_get(mc.m, &s);
    if (st != STATUS_OK) {
        cli_status_error("mem stats", st);
        cli_mem_close(&mc);
        return mem_status_exit(st);
    }
    const char *eid = NULL;
    size_t edim = 0;
    mem_embedder_get(mc.m, &eid, &edim);
    if (g->json) {
        fputs("{\"database\":", stdout);
        cli_mem_json(stdout, mc.path);
        fputs(",\"embedder\":", stdout);
        if (eid)
            cli_mem_json(stdout, eid);
        else
            fputs("null", stdout);
        printf(",\"dim\":%zu,\"entities\":%" PRId64 ",\"relations\":%" PRId64
               ",\"triples\":%" PRId64 ",\"retired\":%" PRId64 ",\"conflicts\":%" PRId64
               ",\"sources\":%" PRId64 ",\"runs\":%" PRId64 "}\n",
               edim, s.entities, s.relations, s.triples_live, s.triples_retired, s.conflicts,
               s.sources, s.runs);
    } else {
        /* TRANSLATORS: labels of `memllm mem stats`, padded to 11 columns */
        printf("%-11s ", _("database:"));
        cli_mem_put(stdout, mc.path);
        printf("\n%-11s ", _("embedder:"));
        cli_mem_put(stdout, eid ? eid : "-"); /* read from the database's meta */
        printf(" (%zu)\n", edim);
        printf("%-11s %" PRId64 "\n", _("entities:"), s.entities);
        printf("%-11s %" PRId64 "\n", _("relations:"), s.relations);
        printf("%-11s %" PRId64 "\n", _("triples:"), s.triples_live);
        printf("%-11s %" PRId64 "\n", _("retired:"), s.triples_retired);
        printf("%-11s %" PRId64 "\n", _("conflicts:"), s.conflicts);
        printf("%-11s %" PRId64 "\n", _("sources:"), s.sources);
        printf("%-11s %" PRId64 "\n", _("runs:"), s.runs);
    }
    cli_mem_close(&mc);
    return CLI_EXIT_OK;
}

static int mem_conflicts(const struct opts *g, bool seed, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf(_("Usage: %s mem conflicts\n"), PACKAGE);
        puts(_("List live triples of single-valued relations (such as 'capital' or 'place of\n"
               "birth') whose subject has more than one value; fix them with 'mem rm' or\n"
               "'mem edit'."));
        return CLI_EXIT_OK;
    }
    if (argc != 1)
        return mem_usage_error("conflicts", _("unexpected argument"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct mem_print pr = {g, 0, 0};
    enum status st = mem_conflict_each(mc.m, mem_print_row, &pr);
    if (st != STATUS_OK)
        cli_status_error("mem conflicts", st);
    cli_mem_close(&mc);
    return mem_status_exit(st);
}

/* ---- reindex, check ----------------------------------------------------------------------- */

static int mem_reindex(const struct opts *g, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf(_("Usage: %s mem reindex\n"), PACKAGE);
        puts(_("Compute the vectors of every entity and relation again with the current\n"
               "embedder and record it in the database (needed after the embedder changed)."));
        return CLI_EXIT_OK;
    }
    if (argc != 1)
        return mem_usage_error("reindex", _("unexpected argument"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, false, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    size_t ne = 0, nr = 0;
    enum status st = ctrl_reindex(mc.m, &mc.e, &ne, &nr);
    if (st != STATUS_OK)
        cli_status_error(mc.path, st);
    else if (g->json) {
        printf("{\"entities\":%zu,\"relations\":%zu,\"embedder\":", ne, nr);
        cli_mem_json(stdout, mc.e.id);
        fputs("}\n", stdout);
    }
    else
        printf(_("re-embedded %zu entities and %zu relations with %s\n"), ne, nr, mc.e.id);
    cli_mem_close(&mc);
    return st == STATUS_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int mem_check_cmd(const struct opts *g, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf(_("Usage: %s mem check\n"), PACKAGE);
        puts(_("Check the database: SQLite's quick_check and foreign keys, every stored\n"
               "vector against the similarity index and the embedder, and entities that no\n"
               "triple names (allowed; reported).  Exit status 0 when consistent."));
        return CLI_EXIT_OK;
    }
    if (argc != 1)
        return mem_usage_error("check", _("unexpected argument"));
    struct cli_mem mc;
    int rc = cli_mem_open(g, false, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct ctrl_check_report r;
    enum status st = ctrl_check(mc.c, &r);
    if (g->json) {
        printf("{\"ok\":%s,\"entities\":%zu,\"relations\":%zu,\"entities_indexed\":%zu,"
               "\"relations_indexed\":%zu,\"missing_vectors\":%zu,\"index_mismatch\":%zu,"
               "\"stale_vectors\":%zu,\"orphan_entities\":%zu",
               st == STATUS_OK ? "true" : "false", r.entities, r.relations, r.entities_indexed,
               r.relations_indexed, r.missing_vectors, r.index_mismatch, r.stale_vectors,
               r.orphan_entities);
        if (st != STATUS_OK) {
            fputs(",\"error\":", stdout);
            cli_mem_json(stdout, status_detail()[0] ? status_detail() : status_str(st));
        }
        fputs("}\n", stdout);
    } else {
        printf(_("entities: %zu (%zu indexed), relations: %zu (%zu indexed)\n"), r.entities,
               r.entities_indexed, r.relations, r.relations_indexed);
        printf(_("missing vectors: %zu, index mismatches: %zu, stale vectors: %zu, "
                 "orphan entities: %zu\n"),
               r.missing_vectors, r.index_mismatch, r.stale_vectors, r.orphan_entities);
        if (st == STATUS_OK)
            puts(_("ok"));
    }
    if (st != STATUS_OK)
        cli_status_error(mc.path, st);
    cli_mem_close(&mc);
    return st == STATUS_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void mem_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] mem [--no-seed] COMMAND [ARG]...\n"), PACKAGE);
    puts(_("Inspect and edit the explicit memory: triples (subject, relation, object) with\n"
           "their sources and history."));
    putchar('\n');
    puts(_("Commands:"));
    puts(_("  add S R O        store a triple"));
    puts(_("  rm ID            retire a triple"));
    puts(_("  edit ID          replace a triple by a corrected one"));
    puts(_("  list             list triples (filters, pages)"));
    puts(_("  query 'S>>R>>'   read as the model does; also '>>R>>O'"));
    puts(_("  show ID          a triple with its source and history"));
    puts(_("  stats            counts"));
    puts(_("  conflicts        second values of single-valued relations"));
    puts(_("  import FILE      load triples (TSV, JSON lines, Re-DocRED JSON)"));
    puts(_("  export           write triples (TSV, JSON lines, Graphviz dot)"));
    puts(_("  reindex          re-embed all names with the current embedder"));
    puts(_("  check            check the database's integrity"));
    puts(_("  bench            measure query latency and import throughput"));
    putchar('\n');
    puts(_("Options:"));
    puts(_("      --no-seed    do not load the seed facts into a new default database"));
    puts(_("  -h, --help       display this help and exit"));
    putchar('\n');
    puts(_("The default database is $XDG_DATA_HOME/memllm/memory.db; when it is created it\n"
           "gets the seed facts (countries) from the data directory: $(pkgdatadir), else\n"
           "$MEMLLM_DATADIR, else the source tree's data/ for an uninstalled build.\n"
           "A locked database is waited for $MEMLLM_BUSY_TIMEOUT_MS milliseconds\n"
           "(default 5000)."));
    printf(_("Run '%s mem COMMAND --help' for a command's own options.\n"), PACKAGE);
}

int cli_mem_run(const struct opts *g, int argc, char **argv)
{
    bool seed = true;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--no-seed")) {
            seed = false;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            mem_help();
            return CLI_EXIT_OK;
        } else {
            cli_error(_("mem: unrecognized option '%s'"), argv[i]);
            cli_try_help("mem");
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        cli_error(_("mem: missing command"));
        cli_try_help("mem");
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[i];
    int sargc = argc - i;
    char **sargv = argv + i;
    if (!strcmp(sub, "add"))
        return mem_add(g, seed, sargc, sargv);
    if (!strcmp(sub, "rm"))
        return mem_rm(g, seed, sargc, sargv);
    if (!strcmp(sub, "edit"))
        return mem_edit(g, seed, sargc, sargv);
    if (!strcmp(sub, "list"))
        return mem_list(g, seed, sargc, sargv);
    if (!strcmp(sub, "query"))
        return mem_query(g, seed, sargc, sargv);
    if (!strcmp(sub, "show"))
        return mem_show(g, seed, sargc, sargv);
    if (!strcmp(sub, "stats"))
        return mem_stats_cmd(g, seed, sargc, sargv);
    if (!strcmp(sub, "conflicts"))
        return mem_conflicts(g, seed, sargc, sargv);
    if (!strcmp(sub, "import"))
        return cli_mem_import_run(g, seed, sargc, sargv);
    if (!strcmp(sub, "export"))
        return cli_mem_export_run(g, seed, sargc, sargv);
    if (!strcmp(sub, "reindex"))
        return mem_reindex(g, sargc, sargv);
    if (!strcmp(sub, "check"))
        return mem_check_cmd(g, sargc, sargv);
    if (!strcmp(sub, "bench"))
        return cli_mem_bench_run(g, sargc, sargv);
    cli_error(_("mem: unknown command '%s'"), sub);
    cli_try_help("mem");
    return CLI_EXIT_USAGE;
}
