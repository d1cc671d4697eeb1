/* mem_bench.c -- `memllm mem bench`: bulk-import throughput and query latency of the
 * memory controller end to end (SQLite + embedder + similarity index), at several sizes.
 *
 * For each size n: a fresh database in a temporary directory gets n synthetic triples
 * (n distinct entity names shaped like "Kamo Ritel 123 x1f"; subject i, one of 96
 * relations, object a pseudo-random other entity) through one batch (one transaction,
 * new names embedded a chunk at a time): that is the import throughput, embeddings
 * included, in triples per second of wall time and per CPU second of this process (the
 * fairer figure on a shared machine; the 1-minute load average is printed next to it).
 * Then the database is closed and opened again (store + controller, which embeds the
 * names whose vectors are computed rather than stored): the open time.  Then queries for random stored subjects: ctrl_read() with the default
 * settings (top 300 entities), and with top_entities = 10 (the exact top-10 search the
 * performance bar names), median latency each, compared with the time one thread takes to
 * read an n x dim float matrix once (a STREAM-like sum, best of several runs).
 *
 * Then the triple table's substring filter (what `mem list --subject` and the TUI's
 * incremental filter run): for filters of 1, 2, 3 and 6 characters cut from random
 * stored names (ASCII-lowercased), and the letter "q" that no name has, the first page
 * of 50 in id order, the first page in subject order, the count and the count capped at
 * 1000, median wall time and mean CPU time (of this process) each. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/mem.h"
#include "memory/store.h"
#include "util/i18n.h"
#include "util/timing.h"

#define BENCH_MAX_SIZES 8
#define BENCH_RELATIONS 96

static uint64_t bench_rng;

static uint64_t bench_rnd(void)
{
    bench_rng ^= bench_rng >> 12;
    bench_rng ^= bench_rng << 25;
    bench_rng ^= bench_rng >> 27;
    return bench_rng * UINT64_C(2685821657736338717);
}

static size_t bench_word(char *out)
{
    static const char cons[] = "bcdfghjklmnprstvwz";
    static const char vow[] = "aeiou";
    size_t n = 3 + bench_rnd() % 7;
    for (size_t i = 0; i < n; i++)
        out[i] = (i % 2) ? vow[bench_rnd() % 5] : cons[bench_rnd() % 18];
    out[0] = (char)(out[0] - 32);
    return n;
}

/* Append the digits of v in base 10 or 16 (lower case) at out; returns their count. */
static size_t bench_digits(char *out, uint64_t v, unsigned base)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    return n;
}

/* Entity i's name, "%s %s %u x%zx" of two words, a number below 1000 and i: deterministic
 * in i, distinct for distinct i.  Formatted by hand: snprintf() was 6% of the import's
 * main thread at a million triples, time the memory itself does not spend. */
static void bench_name(size_t i, char *out, size_t cap)
{
    uint64_t saved = bench_rng;
    bench_rng = UINT64_C(0x9E3779B97F4A7C15) * (i + 1) | 1;
    char buf[64];
    size_t n = bench_word(buf);
    buf[n++] = ' ';
    n += bench_word(buf + n);
    buf[n++] = ' ';
    n += bench_digits(buf + n, bench_rnd() % 1000, 10);
    buf[n++] = ' ';
    buf[n++] = 'x';
    n += bench_digits(buf + n, i, 16);
    size_t len = n < cap - 1 ? n : cap - 1; /* cut to cap like snprintf() */
    memcpy(out, buf, len);
    out[len] = '\0';
    bench_rng = saved;
}

/* CPU seconds this process has used (user + system). */
static double bench_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds to read n floats once (best of reps); sink defeats the optimizer. */
static double bench_read(const float *p, size_t n, int reps, double *sink)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = timing_now_ns();
        float acc[8] = {0};
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                acc[k] += p[i + k];
        for (; i < n; i++)
            acc[0] += p[i];
        double el = timing_since_s(t0);
        for (int k = 0; k < 8; k++)
            *sink += acc[k];
        if (el < best)
            best = el;
    }
    return best;
}

/* Filter lengths measured (the last one a letter no name has: the worst case of a
 * short filter), filters per length, rows per page, the cap of the capped count. */
#define BENCH_FILTER_LENS 5
static const size_t bench_filter_len[BENCH_FILTER_LENS] = {1, 2, 3, 6, 1};
#define BENCH_ABSENT (BENCH_FILTER_LENS - 1)
#define BENCH_FILTERS 5
#define BENCH_PAGE 50
#define BENCH_COUNT_MAX 1000

/* One filter length: median wall ms and mean CPU ms of a first page in id order, a first
 * page in subject order and a count; mean number of matching triples. */
struct bench_filter {
    double id_ms, id_cpu_ms, subj_ms, subj_cpu_ms, count_ms, count_cpu_ms, cmax_ms,
        cmax_cpu_ms, matches;
};

struct bench_result {
    size_t n;
    double insert_s, insert_cpu_s, open_s, load1, q_ms, q10_ms, read_ms;
    size_t answers;
    struct bench_filter filter[BENCH_FILTER_LENS];
};

/* CPU seconds of this process, finer than getrusage's ticks. */
static double bench_cpu_fine_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return bench_cpu_s();
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double bench_median_ms(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp);
    return 1000.0 * (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

static int bench_count_row(void *ctx, const struct mem_triple *t)
{
    (void)t;
    ++*(size_t *)ctx;
    return 0;
}

/* The substring filters of the triple table at this size. */
static enum status bench_filters(struct mem *m, size_t n, struct bench_filter *out)
{
    enum status st = STATUS_OK;
    bench_rng = UINT64_C(0x6A09E667F3BCC909);
    for (size_t l = 0; l < BENCH_FILTER_LENS && st == STATUS_OK; l++) {
        double wall[4][BENCH_FILTERS], cpu[4] = {0, 0, 0, 0}, matches = 0;
        for (size_t k = 0; k < BENCH_FILTERS && st == STATUS_OK; k++) {
            char name[96], text[16];
            bench_name(bench_rnd() % n, name, sizeof name);
            size_t len = strlen(name), want = bench_filter_len[l];
            size_t at = len > want ? bench_rnd() % (len - want + 1) : 0;
            const char *from = l == BENCH_ABSENT ? "q" : name + at;
            snprintf(text, sizeof text, "%.*s", (int)want, from);
            for (char *c = text; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            struct mem_filter f = {.subj = text, .match = MEM_MATCH_SUBSTRING};
            for (int kind = 0; kind < 4 && st == STATUS_OK; kind++) {
                struct mem_page p = {.sort = kind == 1 ? MEM_SORT_SUBJECT : MEM_SORT_ID,
                                     .limit = BENCH_PAGE};
                size_t rows = 0;
                int64_t count = 0;
                uint64_t t0 = timing_now_ns();
                double c0 = bench_cpu_fine_s();
                if (kind < 2)
                    st = mem_triple_list(m, &f, &p, bench_count_row, &rows);
                else if (kind == 2)
                    st = mem_triple_count(m, &f, &count);
                else
                    st = mem_triple_count_max(m, &f, BENCH_COUNT_MAX, &count);
                wall[kind][k] = timing_since_s(t0);
                cpu[kind] += bench_cpu_fine_s() - c0;
                if (kind == 2)
                    matches += (double)count;
            }
        }
        if (st != STATUS_OK)
            break;
        struct bench_filter *b = &out[l];
        b->id_ms = bench_median_ms(wall[0], BENCH_FILTERS);
        b->subj_ms = bench_median_ms(wall[1], BENCH_FILTERS);
        b->count_ms = bench_median_ms(wall[2], BENCH_FILTERS);
        b->id_cpu_ms = 1000.0 * cpu[0] / BENCH_FILTERS;
        b->subj_cpu_ms = 1000.0 * cpu[1] / BENCH_FILTERS;
        b->count_cpu_ms = 1000.0 * cpu[2] / BENCH_FILTERS;
        b->cmax_ms = bench_median_ms(wall[3], BENCH_FILTERS);
        b->cmax_cpu_ms = 1000.0 * cpu[3] / BENCH_FILTERS;
        b->matches = matches / BENCH_FILTERS;
    }
    return st;
}

static enum status bench_one(const char *dir, size_t n, size_t nq, struct bench_result *res)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/bench-%zu.db", dir, n);
    struct mem *m = NULL;
    struct embedder e = {0};
    struct ctrl *c = NULL;
    struct ctrl_batch *b = NULL;
    double *lat = NULL;
    float *mat = NULL;
    enum status st = mem_open(path, &m);
    if (st == STATUS_OK)
        st = embed_hash_new(0, &e);
    if (st == STATUS_OK)
        st = ctrl_open(m, &e, &c);
    if (st != STATUS_OK)
        goto done;
    memset(res, 0, sizeof *res);
    res->n = n;

    char s[96], o[96], r[32], rels[BENCH_RELATIONS][16];
    for (size_t k = 0; k < BENCH_RELATIONS; k++)
        snprintf(rels[k], sizeof rels[k], "relation %zu", k);
    uint64_t t0 = timing_now_ns();
    double cpu0 = bench_cpu_s();
    st = ctrl_batch_begin(c, &b);
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        bench_name(i, s, sizeof s);
        bench_name((i * 7919 + 1) % n, o, sizeof o);
        st = ctrl_batch_add(b, s, rels[i % BENCH_RELATIONS], o, 0);
    }
    if (st == STATUS_OK) {
        st = ctrl_batch_commit(b, NULL);
    } else {
        ctrl_batch_abort(b);
    }
    b = NULL;
    res->insert_s = timing_since_s(t0);
    res->insert_cpu_s = bench_cpu_s() - cpu0;
    double load[1];
    res->load1 = getloadavg(load, 1) == 1 ? load[0] : -1;
    if (st != STATUS_OK)
        goto done;

    /* reopen: what a later session (the TUI, a query) pays before its first read */
    ctrl_close(c);
    c = NULL;
    mem_close(m);
    m = NULL;
    t0 = timing_now_ns();
    st = mem_open(path, &m);
    if (st == STATUS_OK)
        st = ctrl_open(m, &e, &c);
    res->open_s = timing_since_s(t0);
    if (st != STATUS_OK)
        goto done;

    lat = malloc(nq * sizeof *lat);
    size_t dim = e.dim;
    mat = malloc(n * dim * sizeof *mat);
    if (!lat || !mat) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n * dim; i++)
        mat[i] = (float)(i % 7) * 0.01f;
    double sink = 0;
    res->read_ms = 1000.0 * bench_read(mat, n * dim, n >= 1000000 ? 5 : 20, &sink);
    if (sink == 1234.5)
        fputc(' ', stderr);

    struct ctrl_params p;
    for (int pass = 0; pass < 2 && st == STATUS_OK; pass++) {
        ctrl_params_default(&p);
        if (pass == 1)
            p.top_entities = 10;
        st = ctrl_params_set(c, &p);
        bench_rng = UINT64_C(0x2545F4914F6CDD1D);
        for (size_t q = 0; q <= nq && st == STATUS_OK; q++) {
            size_t i = bench_rnd() % n;
            bench_name(i, s, sizeof s);
            snprintf(r, sizeof r, "relation %zu", i % BENCH_RELATIONS);
            struct ctrl_read *rd = NULL;
            uint64_t q0 = timing_now_ns();
            st = ctrl_read(c, CTRL_WANT_OBJECT, s, r, &rd);
            double el = timing_since_s(q0);
            if (st != STATUS_OK)
                break;
            if (q > 0) /* the first one warms up */
                lat[q - 1] = el;
            if (pass == 0 && q > 0)
                res->answers += rd->n_answers;
            ctrl_read_free(rd);
        }
        if (st != STATUS_OK)
            break;
        double med = bench_median_ms(lat, nq);
        if (pass == 0)
            res->q_ms = med;
        else
            res->q10_ms = med;
    }
    if (st == STATUS_OK)
        st = bench_filters(m, n, res->filter);
done:
    free(lat);
    free(mat);
    ctrl_close(c);
    mem_close(m);
    embed_free(&e);
    unlink(path);
    char side[4400];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return st;
}

int cli_mem_bench_run(const struct opts *g, int argc, char **argv)
{
    static const struct option lo[] = {{"sizes", required_argument, NULL, 's'},
                                       {"queries", required_argument, NULL, 'q'},
                                       {"dir", required_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    size_t sizes[BENCH_MAX_SIZES] = {10000, 100000, 1000000};
    size_t n_sizes = 3, nq = 50;
    const char *dir = NULL;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 's': {
            n_sizes = 0;
            char *copy = strdup(optarg), *save = NULL;
            bool ok = copy != NULL;
            for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && ok;
                 t = strtok_r(NULL, ",", &save)) {
                ok = n_sizes < BENCH_MAX_SIZES &&
                     cli_mem_parse_size(t, 100000000, &sizes[n_sizes]) && sizes[n_sizes] > 0;
                n_sizes++;
            }
            free(copy);
            if (!ok || n_sizes == 0) {
                cli_error(_("mem bench: --sizes needs up to %d numbers such as 1000,10000"),
                          BENCH_MAX_SIZES);
                cli_try_help("mem bench");
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'q':
            if (!cli_mem_parse_size(optarg, 100000, &nq) || nq == 0) {
                cli_error(_("mem bench: --queries needs a number from 1 to 100000"));
                cli_try_help("mem bench");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'd':
            dir = optarg;
            break;
        case 'h':
            printf(_("Usage: %s mem bench [OPTION]...\n"), PACKAGE);
            puts(_("Measure the memory end to end in temporary databases: bulk import of\n"
                   "synthetic triples (embeddings included), the time to open the result\n"
                   "again, query latency against the time to read the entity vectors once,\n"
                   "and the latency of the triple table's substring filter."));
            putchar('\n');
            puts(_("      --sizes=N,N,...  entity counts (default 10000,100000,1000000)"));
            puts(_("      --queries=Q      queries per size (default 50)"));
            puts(_("      --dir=DIR        where the temporary databases go (default $TMPDIR)"));
            puts(_("  -h, --help           display this help and exit"));
            return CLI_EXIT_OK;
        default:
            return cli_mem_bad_option("bench", argv, optind, optopt);
        }
    }
    if (optind != argc) {
        cli_error(_("mem bench: unexpected argument '%s'"), argv[optind]);
        cli_try_help("mem bench");
        return CLI_EXIT_USAGE;
    }
    char tmpl[4200];
    const char *base = dir ? dir : getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/memllm-bench-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        cli_error("%s: %s", tmpl, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (!g->json)
        printf("%10s %9s %9s %10s %10s %6s %8s %9s %9s %9s %7s %7s\n", "entities", "import_s",
               "cpu_s", "triples/s", "per_cpu_s", "load1", "open_s", "query_ms", "top10_ms",
               "read_ms", "x_read", "answers");
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n_sizes; i++) {
        struct bench_result r;
        enum status st = bench_one(tmpl, sizes[i], nq, &r);
        if (st != STATUS_OK) {
            cli_status_error("mem bench", st);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        double tps = r.insert_s > 0 ? (double)r.n / r.insert_s : 0;
        double tpc = r.insert_cpu_s > 0 ? (double)r.n / r.insert_cpu_s : 0;
        double ratio = r.read_ms > 0 ? r.q10_ms / r.read_ms : 0;
        double apq = (double)r.answers / (double)nq;
        if (g->json)
            printf("{\"entities\":%zu,\"triples\":%zu,\"import_s\":%.3f,"
                   "\"import_cpu_s\":%.3f,\"triples_per_s\":%.0f,\"triples_per_cpu_s\":%.0f,"
                   "\"load_avg_1m\":%.2f,\"open_s\":%.3f,"
                   "\"query_ms\":%.3f,\"top10_query_ms\":%.3f,\"read_once_ms\":%.3f,"
                   "\"top10_over_read\":%.3f,\"answers_per_query\":%.2f,\"filters\":[",
                   r.n, r.n, r.insert_s, r.insert_cpu_s, tps, tpc, r.load1, r.open_s, r.q_ms,
                   r.q10_ms, r.read_ms, ratio, apq);
        else
            printf("%10zu %9.3f %9.3f %10.0f %10.0f %6.2f %8.3f %9.3f %9.3f %9.3f %7.2f %7.2f\n",
                   r.n, r.insert_s, r.insert_cpu_s, tps, tpc, r.load1, r.open_s, r.q_ms,
                   r.q10_ms, r.read_ms, ratio, apq);
        for (size_t l = 0; l < BENCH_FILTER_LENS; l++) {
            const struct bench_filter *b = &r.filter[l];
            if (g->json)
                printf("%s{\"chars\":%zu,\"absent\":%s,"
                       "\"matches\":%.0f,\"id_page_ms\":%.3f,\"id_page_cpu_ms\":%.3f,"
                       "\"subject_page_ms\":%.3f,\"subject_page_cpu_ms\":%.3f,"
                       "\"count_ms\":%.3f,\"count_cpu_ms\":%.3f,"
                       "\"count_max_ms\":%.3f,\"count_max_cpu_ms\":%.3f}%s",
                       l ? "," : "", bench_filter_len[l], l == BENCH_ABSENT ? "true" : "false",
                       b->matches, b->id_ms, b->id_cpu_ms, b->subj_ms, b->subj_cpu_ms,
                       b->count_ms, b->count_cpu_ms, b->cmax_ms, b->cmax_cpu_ms,
                       l + 1 == BENCH_FILTER_LENS ? "]}\n" : "");
            else
                /* TRANSLATORS: a line of `mem bench` output; times in milliseconds; the
                   last count stops at 1000 */
                printf(_("%10s filter %zu chars: %.0f matches; page by id %.2f ms (cpu %.2f), "
                         "by subject %.2f ms (cpu %.2f), count %.2f ms (cpu %.2f), "
                         "count to 1000 %.2f ms (cpu %.2f)\n"),
                       "", bench_filter_len[l], b->matches, b->id_ms, b->id_cpu_ms, b->subj_ms,
                       b->subj_cpu_ms, b->count_ms, b->count_cpu_ms, b->cmax_ms,
                       b->cmax_cpu_ms);
        }
        fflush(stdout);
    }
    rmdir(tmpl);
    return rc;
}
