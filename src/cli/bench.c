/* bench.c -- `memllm bench`: prompt and generation speed (llama-bench's table), memory
 * bandwidth and how close decoding comes to its limit; `--make-model` writes the random
 * model that the speeds are quoted for. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "engine/bench.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "engine/quantize.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/timing.h"

#define BENCH_MAX_MODELS 16

static void bn_help(void)
{
    printf(_("Usage: %s bench [OPTION]... --model FILE [--model FILE]...\n"), PACKAGE);
    printf(_("  or:  %s bench --make-model OUT [SHAPE OPTION]...\n"), PACKAGE);
    puts(_("Measure prompt processing (one batch of -p tokens from position 0) and text\n"
           "generation (-n single-token steps) in tokens per second, as llama-bench does,\n"
           "with random token ids.  The machine's memory read bandwidth is measured in the\n"
           "same run with the same threads, and generation speed is shown as a fraction of\n"
           "its limit: bandwidth / bytes of weights read per token.  The cpu column is\n"
           "the CPU time the run got over (wall time x threads): well below 100%, other\n"
           "programs were using the cores and the speeds understate the engine."));
    putchar('\n');
    puts(_("  -m, --model FILE     GGUF model to measure (repeatable; default: the global\n"
           "                       --model, else the bundled model)"));
    puts(_("  -p, --n-prompt N     prompt tokens (default 512; 0 skips the test)"));
    puts(_("  -n, --n-gen N        generated tokens (default 128; 0 skips the test)"));
    puts(_("  -r, --repetitions N  repetitions of each test (default 5)"));
    puts(_("  -t, --threads N      threads (default: the global --threads, else all cores)"));
    puts(_("      --seed N         seed of the random token ids and weights (default 1)"));
    puts(_("      --bw-mib N       bandwidth buffer in MiB (default: 4 x the L3 cache, at\n"
           "                       least 256; 0 skips the probe)"));
    puts(_("      --json           machine-readable output"));
    putchar('\n');
    puts(_("Random model (--make-model OUT; defaults: the 852.56 M-parameter model of\n"
           "shared/golden/PERF.md):"));
    puts(_("      --dim N          embedding length (default 2048)"));
    puts(_("      --layers N       blocks (default 16)"));
    puts(_("      --heads N        attention heads (default 32)"));
    puts(_("      --kv-heads N     key/value heads (default 8)"));
    puts(_("      --ffn N          feed-forward length (default 5632)"));
    puts(_("      --vocab N        vocabulary size, at least 259 (default 32000)"));
    puts(_("      --ctx N          context length (default 4096)"));
    puts(_("      --type TYPE      F16 or F32 weights (default F16)"));
    puts(_("  -h, --help           display this help and exit"));
}

enum {
    OPT_SEED = 256,
    OPT_BW,
    OPT_JSON,
    OPT_MAKE,
    OPT_DIM,
    OPT_LAYERS,
    OPT_HEADS,
    OPT_KV,
    OPT_FFN,
    OPT_VOCAB,
    OPT_CTX,
    OPT_TYPE,
};

static bool parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* Four times the last-level cache (at least 256 MiB): the probe must measure memory, not
 * a cache that large servers make hundreds of MiB big. */
static unsigned long long default_bw_mib(void)
{
    long l3 = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    unsigned long long mib = l3 > 0 ? 4 * (((unsigned long long)l3 + (1u << 20) - 1) >> 20) : 0;
    return mib < 256 ? 256 : mib > 16384 ? 16384 : mib;
}

struct bn_model {
    const char *path;
    char name[96];
    uint64_t size_bytes, n_params, weight_bytes;
    uint64_t copied, huge; /* model_weights_copied() / _huge() after the runs */
    int threads;
    struct bench_result r;
};

/* "852M" / "1.1B" style, as llama-bench names models. */
static void fmt_params_short(char *buf, size_t cap, uint64_t n)
{
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%" PRIu64 "M", (n + 500000) / 1000000);
    else
        snprintf(buf, cap, "%" PRIu64 "K", (n + 500) / 1000);
}

static void model_type_name(const struct gguf *g, char *buf, size_t cap)
{
    int64_t ft;
    const char *name = "?";
    if (gguf_get_int(g, "general.file_type", &ft) == STATUS_OK && ft >= 0 && ft < 1000)
        name = quantize_ftype_name((enum quantize_ftype)ft);
    if (strcmp(name, "?") == 0) {
        /* No (known) file type: the type of the largest tensor. */
        size_t best = 0;
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            if (gguf_tensor_size(g, i) > best) {
                best = gguf_tensor_size(g, i);
                name = dtype_name(gguf_tensor_type(g, i)) ? dtype_name(gguf_tensor_type(g, i))
                                                           : "?";
            }
        }
    }
    snprintf(buf, cap, "%s", name);
}

static void fmt_size(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes >= (1ull << 30))
        snprintf(buf, cap, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else
        snprintf(buf, cap, "%.2f MiB", (double)bytes / (double)(1ull << 20));
}

static void table_header(void)
{
    printf("| %-30s | %10s | %10s | %7s | %15s | %20s | %5s |\n", _("model"), _("size"),
           _("params"), _("threads"), _("test"), _("t/s"), _("cpu"));
    printf("| ------------------------------ | ---------: | ---------: | ------: | "
           "--------------: | -------------------: | ----: |\n");
}

static void table_row(const struct bn_model *bm, const char *test,
                      const struct bench_series *s)
{
    char size[32], params[32], ts[48];
    fmt_size(size, sizeof size, bm->size_bytes);
    snprintf(params, sizeof params, "%.2f M", (double)bm->n_params / 1e6);
    snprintf(ts, sizeof ts, "%.2f \xc2\xb1 %.2f", s->mean, s->stdev);
    /* "±" is two bytes but one column: pad by one more. */
    printf("| %-30s | %10s | %10s | %7d | %15s | %21s | %4.0f%% |\n", bm->name, size, params,
           bm->threads, test, ts, 100.0 * s->cpu_share);
    fflush(stdout);
}

static void json_series(const char *test, size_t n_prompt, size_t n_gen,
                        const struct bench_series *s)
{
    printf("{\"test\":\"%s\",\"n_prompt\":%zu,\"n_gen\":%zu,\"ts_mean\":%.4f,"
           "\"ts_stdev\":%.4f,\"cpu_share\":%.4f,\"samples_ts\":[",
           test, n_prompt, n_gen, s->mean, s->stdev, s->cpu_share);
    for (size_t i = 0; i < s->n; i++)
        printf("%s%.4f", i ? "," : "", s->ts[i]);
    printf("]}");
}

static int make_model(const struct bench_shape *s, const char *out)
{
    uint64_t t0 = timing_now_ns();
    enum status st = bench_make_model(s, out);
    if (st != STATUS_OK) {
        cli_status_error(out, st);
        return st == STATUS_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    /* TRANSLATORS: file, parameters in millions, seconds */
    fprintf(stderr, _("bench: wrote %s (%.2f M parameters) in %.1f s\n"), out,
            (double)bench_shape_n_params(s) / 1e6, timing_since_s(t0));
    return CLI_EXIT_OK;
}

/* Open path, run the tests, fill bm.  Prints the table rows unless json. */
static int run_one(struct bn_model *bm, const struct bench_params *bp, int threads, bool mmap,
                   bool json)
{
    struct gguf *gf = NULL;
    struct model *m = NULL;
    enum status st = gguf_open(bm->path, &gf);
    if (st != STATUS_OK) {
        cli_status_error(bm->path, st);
        return st == STATUS_IO || st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    struct model_params mp;
    model_params_init(&mp);
    size_t need = bp->n_prompt > bp->n_gen ? bp->n_prompt : bp->n_gen;
    mp.n_ctx = need ? need : 1;
    mp.n_batch = bp->n_prompt ? bp->n_prompt : 1;
    mp.n_threads = threads;
    mp.weights = mmap ? MODEL_WEIGHTS_MAPPED : MODEL_WEIGHTS_AUTO;
    if ((st = model_open(gf, &mp, &m)) != STATUS_OK) {
        cli_status_error(bm->path, st);
        gguf_close(gf);
        return CLI_EXIT_FAILURE;
    }
    const char *arch = "?";
    gguf_get_cstr(gf, "general.architecture", &arch);
    char ps[32], ty[32];
    fmt_params_short(ps, sizeof ps, model_n_params(m));
    model_type_name(gf, ty, sizeof ty);
    snprintf(bm->name, sizeof bm->name, "%.24s %s %s", arch, ps, ty);
    bm->size_bytes = 0;
    for (int64_t i = 0; i < gguf_n_tensors(gf); i++)
        bm->size_bytes += gguf_tensor_size(gf, i);
    bm->n_params = model_n_params(m);
    bm->weight_bytes = bench_weight_bytes(gf);
    bm->threads = model_n_threads(m);
    st = bench_model_run(m, bp, &bm->r);
    bm->copied = model_weights_copied(m);
    bm->huge = model_weights_huge(m);
    model_close(m);
    gguf_close(gf);
    if (st != STATUS_OK) {
        cli_status_error(bm->path, st);
        return CLI_EXIT_FAILURE;
    }
    if (!json) {
        char test[32];
        if (bp->n_prompt) {
            snprintf(test, sizeof test, "pp%zu", bp->n_prompt);
            table_row(bm, test, &bm->r.pp);
        }
        if (bp->n_gen) {
            snprintf(test, sizeof test, "tg%zu", bp->n_gen);
            table_row(bm, test, &bm->r.tg);
        }
    }
    return CLI_EXIT_OK;
}

/* Where each model's weights were (see enum model_weights). */
static void print_weights(const struct bn_model *bms, size_t n)
{
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        char cb[32], hb[32];
        fmt_size(cb, sizeof cb, bms[i].copied);
        fmt_size(hb, sizeof hb, bms[i].huge);
        if (bms[i].copied)
            /* TRANSLATORS: model name, bytes in huge pages, bytes copied */
            printf(_("%s: weights copied into memory, %s of %s in huge pages\n"), bms[i].name,
                   hb, cb);
        else
            printf(_("%s: weights read through the file mapping\n"), bms[i].name);
    }
}

static void print_limits(const struct bn_model *bms, size_t n, double bw, double bw_cpu,
                         int threads, size_t bw_mib, size_t n_gen)
{
    putchar('\n');
    /* TRANSLATORS: MiB buffer size, thread count, GB/s, percentage of CPU time obtained */
    printf(_("memory read bandwidth (%zu MiB buffer, %d threads): %.2f GB/s (cpu %.0f%%)\n"),
           bw_mib, threads, bw / 1e9, 100.0 * bw_cpu);
    if (!n_gen)
        return;
    printf("| %-30s | %14s | %12s | %12s | %8s |\n", _("model"), _("weights/token"),
           _("tg limit t/s"), _("tg t/s"), _("of limit"));
    printf("| ------------------------------ | -------------: | -----------: | -----------: | "
           "-------: |\n");
    for (size_t i = 0; i < n; i++) {
        char wb[32];
        fmt_size(wb, sizeof wb, bms[i].weight_bytes);
        double limit = bms[i].weight_bytes ? bw / (double)bms[i].weight_bytes : 0.0;
        printf("| %-30s | %14s | %12.2f | %12.2f | %7.1f%% |\n", bms[i].name, wb, limit,
               bms[i].r.tg.mean, limit > 0 ? 100.0 * bms[i].r.tg.mean / limit : 0.0);
    }
}

static void print_json(const struct bn_model *bms, size_t n, const struct bench_params *bp,
                       double bw, double bw_cpu, int threads, size_t bw_mib,
                       const double *load)
{
    printf("{\"threads\":%d,\"kernels\":\"%s\",\"loadavg\":[%.2f,%.2f,%.2f],", threads,
           quant_cpu_level_name(), load[0], load[1], load[2]);
    printf("\"bandwidth\":{\"buffer_mib\":%zu,\"bytes_per_s\":%.0f,\"cpu_share\":%.4f},"
           "\"models\":[",
           bw_mib, bw, bw_cpu);
    for (size_t i = 0; i < n; i++) {
        const struct bn_model *b = &bms[i];
        printf("%s{\"file\":", i ? "," : "");
        json_write_str(stdout, b->path, strlen(b->path));
        printf(",\"model\":");
        json_write_str(stdout, b->name, strlen(b->name));
        printf(",\"size_bytes\":%" PRIu64 ",\"n_params\":%" PRIu64
               ",\"weight_bytes_per_token\":%" PRIu64 ",\"weights_copied_bytes\":%" PRIu64
               ",\"weights_huge_bytes\":%" PRIu64 ",\"threads\":%d,\"tests\":[",
               b->size_bytes, b->n_params, b->weight_bytes, b->copied, b->huge, b->threads);
        char test[32];
        bool any = false;
        if (bp->n_prompt) {
            snprintf(test, sizeof test, "pp%zu", bp->n_prompt);
            json_series(test, bp->n_prompt, 0, &b->r.pp);
            any = true;
        }
        if (bp->n_gen) {
            if (any)
                putchar(',');
            snprintf(test, sizeof test, "tg%zu", bp->n_gen);
            json_series(test, 0, bp->n_gen, &b->r.tg);
        }
        printf("]");
        if (bp->n_gen && bw > 0 && b->weight_bytes) {
            double limit = bw / (double)b->weight_bytes;
            printf(",\"tg_limit_ts\":%.4f,\"tg_fraction\":%.4f", limit, b->r.tg.mean / limit);
        }
        printf("}");
    }
    printf("]}\n");
}

int cli_bench_run(const struct opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"n-prompt", required_argument, NULL, 'p'},
        {"n-gen", required_argument, NULL, 'n'},
        {"repetitions", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"bw-mib", required_argument, NULL, OPT_BW},
        {"json", no_argument, NULL, OPT_JSON},
        {"make-model", required_argument, NULL, OPT_MAKE},
        {"dim", required_argument, NULL, OPT_DIM},
        {"layers", required_argument, NULL, OPT_LAYERS},
        {"heads", required_argument, NULL, OPT_HEADS},
        {"kv-heads", required_argument, NULL, OPT_KV},
        {"ffn", required_argument, NULL, OPT_FFN},
        {"vocab", required_argument, NULL, OPT_VOCAB},
        {"ctx", required_argument, NULL, OPT_CTX},
        {"type", required_argument, NULL, OPT_TYPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *models[BENCH_MAX_MODELS];
    size_t n_models = 0;
    struct bench_params bp = {.n_prompt = 512, .n_gen = 128, .reps = 5, .seed = 1};
    struct bench_shape shape;
    bench_shape_init(&shape);
    int threads = g->threads;
    bool json = g->json, shape_set = false;
    unsigned long long bw_mib = default_bw_mib();
    const char *make_out = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:m:p:n:r:t:h", longopts, NULL)) != -1) {
        unsigned long long v = 0;
        const char *arg = optarg;
        bool ok = true;
        switch (c) {
        case 'm':
            if (n_models == BENCH_MAX_MODELS) {
                cli_error(_("bench: at most %d models"), BENCH_MAX_MODELS);
                return CLI_EXIT_USAGE;
            }
            models[n_models++] = optarg;
            break;
        case 'p':
            ok = parse_num(arg, 1u << 20, &v);
            bp.n_prompt = (size_t)v;
            break;
        case 'n':
            ok = parse_num(arg, 1u << 20, &v);
            bp.n_gen = (size_t)v;
            break;
        case 'r':
            ok = parse_num(arg, BENCH_MAX_REPS, &v) && v >= 1;
            bp.reps = (int)v;
            break;
        case 't':
            if (opts_parse_threads(optarg, &threads) != STATUS_OK) {
                cli_status_error("bench", STATUS_USAGE);
                cli_try_help("bench");
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_SEED:
            ok = parse_num(arg, UINT64_MAX, &v);
            bp.seed = v;
            shape.seed = v;
            break;
        case OPT_BW:
            ok = parse_num(arg, 1u << 20, &bw_mib);
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_MAKE:
            make_out = optarg;
            break;
        case OPT_DIM:
        case OPT_LAYERS:
        case OPT_HEADS:
        case OPT_KV:
        case OPT_FFN:
        case OPT_VOCAB:
        case OPT_CTX:
            ok = parse_num(arg, 1u << 24, &v) && v >= 1;
            shape_set = true;
            *(c == OPT_DIM      ? &shape.dim
              : c == OPT_LAYERS ? &shape.n_layer
              : c == OPT_HEADS  ? &shape.n_head
              : c == OPT_KV     ? &shape.n_head_kv
              : c == OPT_FFN    ? &shape.n_ff
              : c == OPT_VOCAB  ? &shape.n_vocab
                                : &shape.n_ctx) = (uint32_t)v;
            break;
        case OPT_TYPE:
            shape_set = true;
            if (strcmp(optarg, "F16") == 0 || strcmp(optarg, "f16") == 0) {
                shape.wtype = DTYPE_F16;
            } else if (strcmp(optarg, "F32") == 0 || strcmp(optarg, "f32") == 0) {
                shape.wtype = DTYPE_F32;
            } else {
                cli_error(_("bench: --type must be F16 or F32, not '%s'"), optarg);
                cli_try_help("bench");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            bn_help();
            return CLI_EXIT_OK;
        case ':':
            cli_error(_("bench: option '%s' needs an argument"), argv[optind - 1]);
            cli_try_help("bench");
            return CLI_EXIT_USAGE;
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            cli_error(_("bench: unrecognized option '%s'"), optopt ? so : argv[optind - 1]);
            cli_try_help("bench");
            return CLI_EXIT_USAGE;
        }
        }
        if (!ok) {
            /* TRANSLATORS: option name, the value given */
            cli_error(_("bench: invalid value for %s: '%s'"), argv[optind - 1], arg);
            cli_try_help("bench");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error(_("bench: unexpected argument '%s'"), argv[optind]);
        cli_try_help("bench");
        return CLI_EXIT_USAGE;
    }
    if (make_out) {
        if (n_models) {
            cli_error(_("bench: --make-model does not measure; give no --model with it"));
            cli_try_help("bench");
            return CLI_EXIT_USAGE;
        }
        return make_model(&shape, make_out);
    }
    if (shape_set) {
        cli_error(_("bench: shape options need --make-model"));
        cli_try_help("bench");
        return CLI_EXIT_USAGE;
    }
    if (!n_models)
        models[n_models++] = paths_model(g);
    if (threads == 0)
        threads = pool_online_cores();

    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 3)
        load[0] = load[1] = load[2] = -1;
    double bw = 0.0, bw_cpu = 0.0;
    if (bw_mib) {
        enum status st = bench_bandwidth(threads, (size_t)bw_mib << 20, 5, &bw, &bw_cpu);
        if (st != STATUS_OK) {
            cli_status_error(_("bandwidth probe"), st);
            return CLI_EXIT_FAILURE;
        }
    }
    struct bn_model *bms = calloc(n_models, sizeof *bms);
    if (!bms) {
        cli_status_error("bench", STATUS_NOMEM);
        return CLI_EXIT_FAILURE;
    }
    if (!json) {
        /* TRANSLATORS: kernel level (avx512, avx2, scalar), three load averages */
        printf(_("kernels: %s; load average before the run: %.2f %.2f %.2f\n\n"),
               quant_cpu_level_name(), load[0], load[1], load[2]);
        table_header();
    }
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n_models && rc == CLI_EXIT_OK; i++) {
        bms[i].path = models[i];
        rc = run_one(&bms[i], &bp, threads, g->mmap, json);
    }
    if (rc == CLI_EXIT_OK) {
        if (json) {
            print_json(bms, n_models, &bp, bw, bw_cpu, threads, (size_t)bw_mib, load);
        } else {
            print_weights(bms, n_models);
            if (bw_mib)
                print_limits(bms, n_models, bw, bw_cpu, threads, (size_t)bw_mib, bp.n_gen);
        }
    }
    if (rc == CLI_EXIT_OK && !json) {
        double low = 1.0;
        for (size_t i = 0; i < n_models; i++) {
            if (bp.n_prompt && bms[i].r.pp.cpu_share < low)
                low = bms[i].r.pp.cpu_share;
            if (bp.n_gen && bms[i].r.tg.cpu_share < low)
                low = bms[i].r.tg.cpu_share;
        }
        if (low < 0.8)
            /* TRANSLATORS: percentage of CPU time the slowest-served test got */
            printf(_("\nnote: a test got only %.0f%% of its threads' CPU time: other programs "
                     "may have\nbeen using the cores, and then its speed understates the "
                     "engine.\n"),
                   100.0 * low);
    }
    free(bms);
    return rc;
}
