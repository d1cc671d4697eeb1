/* mem_io.c -- `memllm mem import` (TSV, JSON lines, Re-DocRED JSON) and `memllm mem export`
 * (TSV, JSON lines, Graphviz dot). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/mem.h"
#include "memory/relations.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/utf8.h"

/* Malformed-line messages printed before they are only counted. */
#define IMPORT_MAX_MESSAGES 100
/* Files at least this large report progress on stderr. */
#define IMPORT_PROGRESS_BYTES (16u << 20)
#define IMPORT_PROGRESS_LINES 1000000

struct import {
    const struct opts *g;
    const char *path;
    const char *src_file;    /* path as stored in sources (valid UTF-8) */
    struct ctrl_batch *b;
    int64_t source_id;       /* the import's own source */
    const char *source_text;
    size_t lines, skipped, messages;
    bool progress;
};

/* Report a malformed line and count it. */
static void import_skip(struct import *im, size_t line, const char *reason)
{
    im->skipped++;
    if (im->messages++ < IMPORT_MAX_MESSAGES) {
        fflush(stdout);
        fprintf(stderr, "%s:%zu: ", im->path, line);
        cli_mem_put(stderr, reason);
        fputc('\n', stderr);
    }
}

/* Queue one triple; bad names are skipped with a message.  Returns a hard error or OK. */
static enum status import_add(struct import *im, size_t line, const char *s, const char *r,
                              const char *o, int64_t source_id)
{
    enum status st = ctrl_batch_add(im->b, s, r, o, source_id ? source_id : im->source_id);
    if (st == STATUS_INVALID || st == STATUS_ENCODING) {
        import_skip(im, line, status_detail()[0] ? status_detail() : status_str(st));
        return STATUS_OK;
    }
    return st;
}

static void import_progress(struct import *im)
{
    if (im->progress && im->lines % IMPORT_PROGRESS_LINES == 0) {
        struct ctrl_batch_stats s;
        ctrl_batch_stats_get(im->b, &s);
        /* TRANSLATORS: progress of an import: file, lines read */
        fprintf(stderr, _("%s: %zu lines read\n"), im->path, im->lines);
    }
}

/* Split a TSV line into exactly three fields (in place). */
static const char *tsv_split(char *line, char **f)
{
    size_t n = 0;
    char *p = line;
    f[n++] = p;
    while ((p = strchr(p, '\t')) != NULL) {
        *p++ = '\0';
        if (n == 3)
            return _("more than 3 tab-separated fields");
        f[n++] = p;
    }
    if (n < 3)
        return _("expected 3 tab-separated fields: subject, relation, object");
    return NULL;
}

static enum status import_tsv(struct import *im, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    enum status st = STATUS_OK;
    while (st == STATUS_OK && (len = getline(&line, &cap, in)) >= 0) {
        im->lines++;
        import_progress(im);
        size_t n = (size_t)len;
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (strlen(line) != n) {
            import_skip(im, im->lines, _("NUL byte in line"));
            continue;
        }
        if (!utf8_valid(line, n)) {
            char msg[128];
            size_t i = 0;
            while (i < n) {
                uint32_t cp;
                int k = utf8_decode(line + i, n - i, &cp);
                if (k < 0)
                    break;
                i += (size_t)k;
            }
            /* TRANSLATORS: %zu is a byte number within the line, from 1 */
            snprintf(msg, sizeof msg, _("invalid UTF-8 at byte %zu"), i + 1);
            import_skip(im, im->lines, msg);
            continue;
        }
        char *f[3];
        const char *bad = tsv_split(line, f);
        if (bad) {
            import_skip(im, im->lines, bad);
            continue;
        }
        st = import_add(im, im->lines, f[0], f[1], f[2], 0);
    }
    if (st == STATUS_OK && ferror(in))
        st = status_detail_set(STATUS_IO, "%s: %s", im->path, strerror(errno));
    free(line);
    return st;
}

static const char *json_member_str(const struct json_value *obj, const char *key, bool *bad)
{
    const struct json_value *v = json_get(obj, key);
    if (!v)
        return NULL;
    size_t len = 0;
    const char *s = json_str(v, &len);
    if (!s || strlen(s) != len) {
        *bad = true;
        return NULL;
    }
    return s;
}

static enum status import_jsonl(struct import *im, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    enum status st = STATUS_OK;
    while (st == STATUS_OK && (len = getline(&line, &cap, in)) >= 0) {
        im->lines++;
        import_progress(im);
        size_t n = (size_t)len;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            n--;
        size_t a = 0;
        while (a < n && (line[a] == ' ' || line[a] == '\t'))
            a++;
        if (a == n)
            continue;
        struct json_doc *doc = NULL;
        enum status pst = json_parse(line + a, n - a, &doc);
        if (pst != STATUS_OK) {
            import_skip(im, im->lines, status_detail());
            continue;
        }
        const struct json_value *root = json_doc_root(doc);
        bool bad = false;
        const char *s = json_member_str(root, "subject", &bad);
        const char *r = json_member_str(root, "relation", &bad);
        const char *o = json_member_str(root, "object", &bad);
        const char *src = json_member_str(root, "source", &bad);
        if (json_kind(root) != JSON_OBJECT) {
            import_skip(im, im->lines, _("not a JSON object"));
        } else if (bad) {
            import_skip(im, im->lines,
                        _("\"subject\", \"relation\", \"object\" and \"source\" must be "
                          "strings without NUL"));
        } else if (!s || !r || !o) {
            import_skip(im, im->lines,
                        _("needs \"subject\", \"relation\" and \"object\" members"));
        } else {
            int64_t sid = 0;
            if (src) {
                struct mem_source ms = {.kind = MEM_SOURCE_KIND_IMPORT, .text = src,
                                        .file = im->src_file, .line = (int64_t)im->lines};
                st = ctrl_batch_source(im->b, &ms, &sid);
            }
            if (st == STATUS_OK)
                st = import_add(im, im->lines, s, r, o, sid);
        }
        json_doc_free(doc);
    }
    if (st == STATUS_OK && ferror(in))
        st = status_detail_set(STATUS_IO, "%s: %s", im->path, strerror(errno));
    free(line);
    return st;
}

/* ---- Re-DocRED ------------------------------------------------------------------------- */

struct pid_map {
    char (*pid)[RELATIONS_ID_MAX + 1];
    char (*name)[RELATIONS_NAME_MAX + 1];
    size_t n, cap;
};

static int pid_row(void *ctx, const struct relations_row *row)
{
    struct pid_map *m = ctx;
    if (!row->wikidata_id[0])
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 128;
        void *a = realloc(m->pid, cap * sizeof *m->pid);
        if (a)
            m->pid = a;
        void *b = realloc(m->name, cap * sizeof *m->name);
        if (b)
            m->name = b;
        if (!a || !b)
            return 1;
        m->cap = cap;
    }
    memcpy(m->pid[m->n], row->wikidata_id, sizeof m->pid[m->n]);
    memcpy(m->name[m->n], row->name, sizeof m->name[m->n]);
    m->n++;
    return 0;
}

static const char *pid_name(const struct pid_map *m, const char *pid)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->pid[i], pid) == 0)
            return m->name[i];
    return NULL;
}

static enum status read_all(const char *path, FILE *in, char **buf, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    if (!b)
        return STATUS_NOMEM;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return STATUS_NOMEM;
            }
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, in);
        n += k;
        if (k == 0)
            break;
    }
    if (ferror(in)) {
        free(b);
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    }
    *buf = b;
    *len = n;
    return STATUS_OK;
}

/* Append the tokens of sentence i of a document to *out (space-joined). */
static bool sent_text(const struct json_value *sents, int64_t i, char **out, size_t *len,
                      size_t *cap)
{
    const struct json_value *s = json_at(sents, (size_t)i);
    if (i < 0 || json_kind(s) != JSON_ARRAY)
        return false;
    for (size_t k = 0; k < json_len(s); k++) {
        size_t tl = 0;
        const char *tok = json_str(json_at(s, k), &tl);
        if (!tok)
            return false;
        if (*len + tl + 2 > *cap) {
            size_t nc = (*len + tl + 2) * 2;
            char *p = realloc(*out, nc);
            if (!p)
                return false;
            *out = p;
            *cap = nc;
        }
        if (*len)
            (*out)[(*len)++] = ' ';
        memcpy(*out + *len, tok, tl);
        *len += tl;
        (*out)[*len] = '\0';
    }
    return true;
}

static enum status import_redocred(struct import *im, FILE *in)
{
    char *relpath = cli_mem_data_file(CLI_MEM_RELATIONS_FILE);
    if (!relpath)
        return status_detail_set(STATUS_NOT_FOUND,
                                 _("%s not found in the data directory: it maps P-ids to "
                                   "relation names"),
                                 CLI_MEM_RELATIONS_FILE);
    char *buf = NULL, *text = NULL;
    size_t len = 0;
    struct pid_map pm = {0};
    struct json_doc *doc = NULL;
    enum status st = STATUS_OK;
    FILE *rf = fopen(relpath, "rb");
    if (!rf) {
        st = status_detail_set(STATUS_IO, "%s: %s", relpath, strerror(errno));
        goto done;
    }
    st = read_all(relpath, rf, &buf, &len);
    fclose(rf);
    if (st == STATUS_OK)
        st = relations_parse(buf, len, relpath, pid_row, &pm);
    free(buf);
    buf = NULL;
    if (st != STATUS_OK)
        goto done;

    st = read_all(im->path, in, &buf, &len);
    if (st != STATUS_OK)
        goto done;
    st = json_parse(buf, len, &doc);
    if (st != STATUS_OK) {
        st = status_detail_set(st, "%s: %s", im->path, status_detail());
        goto done;
    }
    const struct json_value *root = json_doc_root(doc);
    if (json_kind(root) != JSON_ARRAY) {
        st = status_detail_set(STATUS_FORMAT, _("%s: not a JSON array of documents"),
                               im->path);
        goto done;
    }
    size_t tcap = 0;
    for (size_t d = 0; d < json_len(root) && st == STATUS_OK; d++) {
        const struct json_value *doc_v = json_at(root, d);
        im->lines = d + 1;
        char where[96];
        const struct json_value *vs = json_get(doc_v, "vertexSet");
        const struct json_value *labels = json_get(doc_v, "labels");
        const struct json_value *sents = json_get(doc_v, "sents");
        bool tbad = false;
        const char *title = json_member_str(doc_v, "title", &tbad);
        if (json_kind(doc_v) != JSON_OBJECT || json_kind(vs) != JSON_ARRAY ||
            json_kind(sents) != JSON_ARRAY) {
            snprintf(where, sizeof where, _("document %zu: needs \"vertexSet\" and \"sents\""),
                     d + 1);
            im->skipped++;
            if (im->messages++ < IMPORT_MAX_MESSAGES)
                fprintf(stderr, "%s: %s\n", im->path, where);
            continue;
        }
        for (size_t l = 0; l < json_len(labels) && st == STATUS_OK; l++) {
            const struct json_value *lab = json_at(labels, l);
            int64_t h = -1, t = -1;
            bool rbad = false;
            const char *pid = json_member_str(lab, "r", &rbad);
            const char *reason = NULL;
            const char *rel = pid ? pid_name(&pm, pid) : NULL;
            const char *hn = NULL, *tn = NULL;
            if (!json_int(json_get(lab, "h"), &h) || !json_int(json_get(lab, "t"), &t) || !pid)
                reason = _("label needs integer \"h\", \"t\" and a string \"r\"");
            else if (!rel)
                reason = _("unknown relation id");
            else {
                bool b1 = false, b2 = false;
                hn = h >= 0 ? json_member_str(json_at(json_at(vs, (size_t)h), 0), "name", &b1)
                            : NULL;
                tn = t >= 0 ? json_member_str(json_at(json_at(vs, (size_t)t), 0), "name", &b2)
                            : NULL;
                if (!hn || !tn)
                    reason = _("\"h\" or \"t\" is not an entity of vertexSet");
            }
            if (reason) {
                im->skipped++;
                if (im->messages++ < IMPORT_MAX_MESSAGES) {
                    fflush(stdout);
                    /* TRANSLATORS: FILE: document N: label M: reason */
                    fprintf(stderr, _("%s: document %zu: label %zu: %s\n"), im->path, d + 1,
                            l + 1, reason);
                }
                continue;
            }
            /* the source: title and evidence sentences */
            size_t tlen = 0;
            if (text)
                text[0] = '\0';
            if (title) {
                size_t n = strlen(title);
                if (n + 3 > tcap) {
                    char *p = realloc(text, n + 64);
                    if (!p) {
                        st = STATUS_NOMEM;
                        break;
                    }
                    text = p;
                    tcap = n + 64;
                }
                memcpy(text, title, n);
                text[n] = ':';
                tlen = n + 1;
                text[tlen] = '\0';
            }
            const struct json_value *ev = json_get(lab, "evidence");
            for (size_t k = 0; k < json_len(ev); k++) {
                int64_t si = -1;
                if (json_int(json_at(ev, k), &si))
                    sent_text(sents, si, &text, &tlen, &tcap);
            }
            struct mem_source ms = {.kind = MEM_SOURCE_KIND_DOCUMENT,
                                    .text = text && text[0] ? text : NULL,
                                    .file = im->src_file, .line = (int64_t)(d + 1)};
            int64_t sid = 0;
            st = ctrl_batch_source(im->b, &ms, &sid);
            if (st == STATUS_ENCODING) {
                st = STATUS_OK;
                sid = 0;
            }
            if (st == STATUS_OK)
                st = ctrl_batch_add(im->b, hn, rel, tn, sid);
            if (st == STATUS_INVALID || st == STATUS_ENCODING) {
                im->skipped++;
                if (im->messages++ < IMPORT_MAX_MESSAGES)
                    fprintf(stderr, _("%s: document %zu: label %zu: %s\n"), im->path, d + 1,
                            l + 1, status_detail());
                st = STATUS_OK;
            }
        }
    }
done:
    json_doc_free(doc);
    free(buf);
    free(text);
    free(pm.pid);
    free(pm.name);
    free(relpath);
    return st;
}

static const char *format_from_name(const char *path)
{
    size_t n = strlen(path);
    if (n >= 6 && strcmp(path + n - 6, ".jsonl") == 0)
        return "jsonl";
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        return "redocred";
    return "tsv";
}

int cli_mem_import_file(const struct opts *g, struct cli_mem *mc, const char *path,
                        const char *format, const char *source_text, bool quiet)
{
    if (!format)
        format = format_from_name(path);
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(path, "rb");
    if (!in) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    struct stat sb;
    bool progress = !quiet && !is_stdin && stat(path, &sb) == 0 &&
                    (uint64_t)sb.st_size >= IMPORT_PROGRESS_BYTES;
    int rc = cli_mem_import_stream(g, mc, in, is_stdin ? NULL : path, format, source_text,
                                   quiet, progress);
    if (!is_stdin)
        fclose(in);
    return rc;
}

char *cli_mem_file_name(const char *path, bool *oom)
{
    *oom = false;
    if (!path)
        return NULL;
    size_t len = strlen(path);
    char *out = malloc(3 * len + 1); /* each invalid byte grows to 3 */
    if (!out) {
        *oom = true;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = utf8_decode(path + i, len - i, &cp);
        if (n > 0) {
            memcpy(out + o, path + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

int cli_mem_import_stream(const struct opts *g, struct cli_mem *mc, FILE *in, const char *path,
                          const char *format, const char *source_text, bool quiet,
                          bool progress)
{
    struct import im = {.g = g, .path = path ? path : _("(standard input)"),
                        .source_text = source_text, .progress = progress};
    bool oom = false;
    char *src_file = cli_mem_file_name(path, &oom);
    im.src_file = src_file;
    enum status st = oom ? STATUS_NOMEM : ctrl_batch_begin(mc->c, &im.b);
    if (st == STATUS_OK) {
        struct mem_source src = {.kind = MEM_SOURCE_KIND_IMPORT, .text = source_text,
                                 .file = src_file};
        st = ctrl_batch_source(im.b, &src, &im.source_id);
    }
    if (st == STATUS_OK) {
        if (!strcmp(format, "tsv"))
            st = import_tsv(&im, in);
        else if (!strcmp(format, "jsonl"))
            st = import_jsonl(&im, in);
        else
            st = import_redocred(&im, in);
    }
    struct ctrl_batch_stats bs = {0};
    if (st == STATUS_OK) {
        st = ctrl_batch_commit(im.b, &bs);
    } else {
        ctrl_batch_abort(im.b);
    }
    im.b = NULL;
    free(src_file);
    im.src_file = NULL;
    if (st != STATUS_OK) {
        /* TRANSLATORS: %s is a file name; nothing of it was stored */
        char what[4200];
        snprintf(what, sizeof what, _("%s: import failed, nothing stored"), im.path);
        cli_status_error(what, st);
        return CLI_EXIT_FAILURE;
    }
    if (im.messages > IMPORT_MAX_MESSAGES)
        fprintf(stderr, _("%s: %zu more malformed lines not shown\n"), im.path,
                im.messages - IMPORT_MAX_MESSAGES);
    if (!quiet) {
        if (g->json) {
            fputs("{\"file\":", stdout);
            cli_mem_json(stdout, im.path);
            printf(",\"format\":\"%s\",\"triples\":%zu,\"new\":%zu,\"known\":%zu,"
                   "\"conflicts\":%zu,\"entities_new\":%zu,\"relations_new\":%zu,"
                   "\"skipped\":%zu}\n",
                   format, bs.triples, bs.n_new, bs.n_known, bs.n_conflict, bs.entities_new,
                   bs.relations_new, im.skipped);
        } else {
            printf(_("%s: %zu triples imported (%zu new, %zu known, %zu conflicts), "
                     "%zu new entities, %zu new relations, %zu malformed skipped\n"),
                   im.path, bs.triples, bs.n_new, bs.n_known, bs.n_conflict, bs.entities_new,
                   bs.relations_new, im.skipped);
        }
    }
    return im.skipped ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

int cli_mem_import_run(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {{"format", required_argument, NULL, 'f'},
                                       {"source", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    const char *format = NULL, *source = NULL;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl") && strcmp(optarg, "redocred")) {
                cli_error(_("mem import: unknown format '%s' (tsv, jsonl or redocred)"), optarg);
                cli_try_help("mem import");
                return CLI_EXIT_USAGE;
            }
            format = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 'h':
            printf(_("Usage: %s mem import FILE [OPTION]...\n"), PACKAGE);
            puts(_("Load triples from FILE ('-' for standard input) in one transaction: all\n"
                   "valid lines are stored, or nothing when an error stops the import.\n"
                   "Malformed lines are reported as FILE:LINE: reason and skipped (exit\n"
                   "status 1 then).  Formats:\n"
                   "  tsv       subject<TAB>relation<TAB>object; '#' lines are comments\n"
                   "  jsonl     {\"subject\":..,\"relation\":..,\"object\":..[,\"source\":..]}\n"
                   "  redocred  Re-DocRED/DocRED JSON: the gold labels of each document, the\n"
                   "            evidence sentences and title as the source"));
            putchar('\n');
            puts(_("  -f, --format=FORMAT  tsv, jsonl or redocred (default: from the file name:\n"
                   "                       .jsonl, .json, else tsv)"));
            puts(_("      --source=TEXT    describe where the file comes from"));
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("import", argv, optind, optopt);
        }
    }
    if (argc - optind != 1) {
        cli_error(_("mem import: expected one FILE"));
        cli_try_help("mem import");
        return CLI_EXIT_USAGE;
    }
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, true, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_mem_import_file(g, &mc, argv[optind], format, source, false);
    cli_mem_close(&mc);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

struct xt {
    int64_t id;
    char *s, *r, *o;
};

struct xlist {
    struct xt *t;
    size_t n, cap;
    bool oom;
};

static int xlist_row(void *ctx, const struct mem_triple *t)
{
    struct xlist *l = ctx;
    for (size_t i = 0; i < l->n; i++)
        if (l->t[i].id == t->id)
            return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct xt *nt = realloc(l->t, cap * sizeof *nt);
        if (!nt) {
            l->oom = true;
            return 1;
        }
        l->t = nt;
        l->cap = cap;
    }
    struct xt *x = &l->t[l->n];
    x->id = t->id;
    x->s = strdup(t->subj_name);
    x->r = strdup(t->rel_name);
    x->o = strdup(t->obj_name);
    if (!x->s || !x->r || !x->o) {
        free(x->s);
        free(x->r);
        free(x->o);
        l->oom = true;
        return 1;
    }
    l->n++;
    return 0;
}

static void dot_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else if ((unsigned char)*s < 0x20)
            fputc(' ', f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static size_t tsv_field(FILE *f, const char *s)
{
    size_t changed = 0;
    for (; *s; s++) {
        if (*s == '\t' || *s == '\n' || *s == '\r') {
            fputc(' ', f);
            changed = 1;
        } else {
            fputc(*s, f);
        }
    }
    return changed;
}

struct xout {
    const char *format;
    size_t n, changed;
    size_t hashed; /* TSV lines starting with '#': an import reads them as comments */
};

static void x_emit(struct xout *x, int64_t id, const char *s, const char *r, const char *o)
{
    if (!strcmp(x->format, "tsv")) {
        size_t c = tsv_field(stdout, s);
        putchar('\t');
        c |= tsv_field(stdout, r);
        putchar('\t');
        c |= tsv_field(stdout, o);
        putchar('\n');
        x->changed += c;
        x->hashed += s[0] == '#';
    } else if (!strcmp(x->format, "jsonl")) {
        printf("{\"id\":%" PRId64 ",\"subject\":", id);
        cli_mem_json(stdout, s);
        fputs(",\"relation\":", stdout);
        cli_mem_json(stdout, r);
        fputs(",\"object\":", stdout);
        cli_mem_json(stdout, o);
        fputs("}\n", stdout);
    } else {
        fputs("  ", stdout);
        dot_str(stdout, s);
        fputs(" -> ", stdout);
        dot_str(stdout, o);
        fputs(" [label=", stdout);
        dot_str(stdout, r);
        fputs("];\n", stdout);
    }
    x->n++;
}

static int x_row(void *ctx, const struct mem_triple *t)
{
    x_emit(ctx, t->id, t->subj_name, t->rel_name, t->obj_name);
    return 0;
}

static bool name_in(char **names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

/* Live triples within depth hops of entity (either direction). */
static enum status neighbourhood(struct mem *m, const char *entity, size_t depth,
                                 struct xlist *out)
{
    char **seen = malloc(sizeof *seen);
    size_t n_seen = 1, done = 0;
    if (!seen)
        return STATUS_NOMEM;
    seen[0] = strdup(entity);
    enum status st = seen[0] ? STATUS_OK : STATUS_NOMEM;
    for (size_t level = 0; level < depth && st == STATUS_OK; level++) {
        size_t end = n_seen;
        for (; done < end && st == STATUS_OK; done++) {
            size_t before = out->n;
            struct mem_filter f = {.subj = seen[done], .match = MEM_MATCH_EXACT};
            struct mem_page p = {.sort = MEM_SORT_ID};
            st = mem_triple_list(m, &f, &p, xlist_row, out);
            struct mem_filter f2 = {.obj = seen[done], .match = MEM_MATCH_EXACT};
            if (st == STATUS_OK)
                st = mem_triple_list(m, &f2, &p, xlist_row, out);
            if (st == STATUS_OK && out->oom)
                st = STATUS_NOMEM;
            for (size_t i = before; i < out->n && st == STATUS_OK; i++) {
                const char *nb[2] = {out->t[i].s, out->t[i].o};
                for (int k = 0; k < 2; k++) {
                    if (name_in(seen, n_seen, nb[k]))
                        continue;
                    char **ns = realloc(seen, (n_seen + 1) * sizeof *ns);
                    if (!ns) {
                        st = STATUS_NOMEM;
                        break;
                    }
                    seen = ns;
                    seen[n_seen] = strdup(nb[k]);
                    if (!seen[n_seen]) {
                        st = STATUS_NOMEM;
                        break;
                    }
                    n_seen++;
                }
            }
        }
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    return st;
}

static int xt_cmp(const void *a, const void *b)
{
    const struct xt *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int cli_mem_export_run(const struct opts *g, bool seed, int argc, char **argv)
{
    static const struct option lo[] = {{"format", required_argument, NULL, 'f'},
                                       {"entity", required_argument, NULL, 'e'},
                                       {"depth", required_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    const char *format = "tsv", *entity = NULL;
    size_t depth = 1;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl") && strcmp(optarg, "dot")) {
                cli_error(_("mem export: unknown format '%s' (tsv, jsonl or dot)"), optarg);
                cli_try_help("mem export");
                return CLI_EXIT_USAGE;
            }
            format = optarg;
            break;
        case 'e':
            entity = optarg;
            break;
        case 'd':
            if (!cli_mem_parse_size(optarg, 100, &depth) || depth == 0) {
                cli_error(_("mem export: --depth needs a number from 1 to 100"));
                cli_try_help("mem export");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            printf(_("Usage: %s mem export [OPTION]...\n"), PACKAGE);
            puts(_("Write the live triples to standard output."));
            putchar('\n');
            puts(_("  -f, --format=FORMAT  tsv (default; tabs and line breaks inside names\n"
                   "                       become spaces), jsonl, or dot (Graphviz)"));
            puts(_("      --entity=NAME    only the neighbourhood of entity NAME"));
            puts(_("      --depth=N        hops from --entity (default 1)"));
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("export", argv, optind, optopt);
        }
    }
    if (optind != argc) {
        cli_error(_("mem export: unexpected argument '%s'"), argv[optind]);
        cli_try_help("mem export");
        return CLI_EXIT_USAGE;
    }
    struct cli_mem mc;
    int rc = cli_mem_open(g, seed, false, &mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct xout x = {format, 0, 0, 0};
    bool dot = !strcmp(format, "dot");
    if (dot)
        puts("digraph memory {");
    enum status st = STATUS_OK;
    if (entity) {
        struct xlist l = {0};
        st = neighbourhood(mc.m, entity, depth, &l);
        if (st == STATUS_OK) {
            qsort(l.t, l.n, sizeof *l.t, xt_cmp);
            for (size_t i = 0; i < l.n; i++)
                x_emit(&x, l.t[i].id, l.t[i].s, l.t[i].r, l.t[i].o);
        }
        for (size_t i = 0; i < l.n; i++) {
            free(l.t[i].s);
            free(l.t[i].r);
            free(l.t[i].o);
        }
        free(l.t);
    } else {
        struct mem_filter f = {0};
        struct mem_page p = {.sort = MEM_SORT_ID};
        st = mem_triple_list(mc.m, &f, &p, x_row, &x);
    }
    if (dot)
        puts("}");
    if (st != STATUS_OK)
        cli_status_error("mem export", st);
    else if (x.changed)
        fprintf(stderr, _("mem export: %zu triples had tabs or line breaks in names, written "
                          "as spaces\n"),
                x.changed);
    if (st == STATUS_OK && x.hashed)
        fprintf(stderr, _("mem export: %zu triples have a subject starting with '#', which a "
                          "TSV import reads as a comment; --format=jsonl keeps them\n"),
                x.hashed);
    cli_mem_close(&mc);
    return st == STATUS_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
