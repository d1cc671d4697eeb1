/* generate.c -- `memllm generate`: continue a prompt with the model, streaming text. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/samp.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/timing.h"

#define GEN_MAX_STOPS 16
#define GEN_MAX_LORAS 8

static volatile sig_atomic_t gen_interrupted;

static void gen_on_sigint(int sig)
{
    (void)sig;
    gen_interrupted = 1;
}

static bool gen_abort(void *user)
{
    (void)user;
    return gen_interrupted != 0;
}

static void gen_help(void)
{
    printf(_("Usage: %s generate [OPTION]... -p TEXT\n"), PACKAGE);
    puts(_("Continue TEXT with the model and stream the new text to standard output.\n"
           "Timing goes to standard error.  Ctrl-C stops after the current token."));
    putchar('\n');
    puts(_("  -m, --model=FILE         GGUF model (default: the global --model)"));
    puts(_("  -p, --prompt=TEXT        the text to continue (required)"));
    puts(_("  -n, --n-predict=N        tokens to generate (default 128)"));
    puts(_("      --temp=T             temperature; 0 = greedy (default 0.8)"));
    puts(_("      --top-k=K            keep the K most likely tokens; 0 = off (default 40)"));
    puts(_("      --top-p=P            nucleus sampling; 1 = off (default 0.95)"));
    puts(_("      --min-p=P            drop tokens under P x the best (default 0.05)"));
    puts(_("      --repeat-penalty=R   penalise recent tokens; 1 = off (default 1)"));
    puts(_("      --repeat-last-n=N    how many recent tokens the penalty sees (default 64)"));
    puts(_("      --seed=S             random seed (default: from the clock)"));
    puts(_("      --ctx=N              context length (default: the model's, at most 4096)"));
    puts(_("      --kv-f16             keep the attention cache in 16-bit floats"));
    puts(_("      --stop=TEXT          stop when TEXT appears (repeatable)"));
    puts(_("      --ignore-eos         do not stop at the end-of-text token"));
    puts(_("      --lora=FILE[:SCALE]  apply a LoRA adapter at run time (repeatable)"));
    puts(_("  -h, --help               show this help and exit"));
    putchar('\n');
    puts(_("With the global --json option each token is one JSON line:\n"
           "{\"id\": N, \"piece\": TEXT, \"logprob\": X}."));
}

enum {
    GEN_OPT_TEMP = 256,
    GEN_OPT_TOP_K,
    GEN_OPT_TOP_P,
    GEN_OPT_MIN_P,
    GEN_OPT_REPEAT_PENALTY,
    GEN_OPT_REPEAT_LAST_N,
    GEN_OPT_SEED,
    GEN_OPT_CTX,
    GEN_OPT_KV_F16,
    GEN_OPT_STOP,
    GEN_OPT_IGNORE_EOS,
    GEN_OPT_LORA,
};

struct gen_args {
    const char *model, *prompt;
    uint64_t n_predict, ctx, seed;
    bool have_seed, kv_f16, ignore_eos;
    struct samp_params sp;
    const char *stops[GEN_MAX_STOPS];
    size_t n_stops;
    const char *loras[GEN_MAX_LORAS];
    size_t n_loras;
};

/* Returns -1 to go on, else the exit code. */
static int gen_parse(int argc, char **argv, struct gen_args *a)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"prompt", required_argument, NULL, 'p'},
        {"n-predict", required_argument, NULL, 'n'},
        {"temp", required_argument, NULL, GEN_OPT_TEMP},
        {"top-k", required_argument, NULL, GEN_OPT_TOP_K},
        {"top-p", required_argument, NULL, GEN_OPT_TOP_P},
        {"min-p", required_argument, NULL, GEN_OPT_MIN_P},
        {"repeat-penalty", required_argument, NULL, GEN_OPT_REPEAT_PENALTY},
        {"repeat-last-n", required_argument, NULL, GEN_OPT_REPEAT_LAST_N},
        {"seed", required_argument, NULL, GEN_OPT_SEED},
        {"ctx", required_argument, NULL, GEN_OPT_CTX},
        {"kv-f16", no_argument, NULL, GEN_OPT_KV_F16},
        {"stop", required_argument, NULL, GEN_OPT_STOP},
        {"ignore-eos", no_argument, NULL, GEN_OPT_IGNORE_EOS},
        {"lora", required_argument, NULL, GEN_OPT_LORA},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    samp_params_init(&a->sp);
    a->n_predict = 128;
    opterr = 0;
    optind = 0; /* GNU: full re-initialisation, scanning from argv[1] */
    int c;
    uint64_t u;
    while ((c = getopt_long(argc, argv, "+:m:p:n:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case 'p':
            a->prompt = optarg;
            break;
        case 'n':
            if (!cli_parse_u64(optarg, 1u << 24, &a->n_predict))
                bad = "--n-predict";
            break;
        case GEN_OPT_TEMP:
            if (!cli_parse_float(optarg, 0.0, 100.0, &a->sp.temp))
                bad = "--temp";
            break;
        case GEN_OPT_TOP_K:
            if (!cli_parse_u64(optarg, INT32_MAX, &u))
                bad = "--top-k";
            a->sp.top_k = (int32_t)u;
            break;
        case GEN_OPT_TOP_P:
            if (!cli_parse_float(optarg, 0.0, 1.0, &a->sp.top_p))
                bad = "--top-p";
            break;
        case GEN_OPT_MIN_P:
            if (!cli_parse_float(optarg, 0.0, 1.0, &a->sp.min_p))
                bad = "--min-p";
            break;
        case GEN_OPT_REPEAT_PENALTY:
            if (!cli_parse_float(optarg, 0.01, 100.0, &a->sp.repeat_penalty))
                bad = "--repeat-penalty";
            break;
        case GEN_OPT_REPEAT_LAST_N:
            if (!cli_parse_u64(optarg, 1u << 20, &u))
                bad = "--repeat-last-n";
            a->sp.repeat_last_n = (size_t)u;
            break;
        case GEN_OPT_SEED:
            if (!cli_parse_u64(optarg, UINT64_MAX, &a->seed))
                bad = "--seed";
            a->have_seed = true;
            break;
        case GEN_OPT_CTX:
            if (!cli_parse_u64(optarg, 1u << 20, &a->ctx) || a->ctx == 0)
                bad = "--ctx";
            break;
        case GEN_OPT_KV_F16:
            a->kv_f16 = true;
            break;
        case GEN_OPT_STOP:
            if (a->n_stops == GEN_MAX_STOPS) {
                /* TRANSLATORS: %d is the most --stop options allowed */
                cli_error(_("generate: at most %d --stop options"), GEN_MAX_STOPS);
                cli_try_help("generate");
                return CLI_EXIT_USAGE;
            }
            a->stops[a->n_stops++] = optarg;
            break;
        case GEN_OPT_IGNORE_EOS:
            a->ignore_eos = true;
            break;
        case GEN_OPT_LORA:
            if (a->n_loras == GEN_MAX_LORAS) {
                /* TRANSLATORS: %d is the most --lora options allowed */
                cli_error(_("generate: at most %d --lora options"), GEN_MAX_LORAS);
                cli_try_help("generate");
                return CLI_EXIT_USAGE;
            }
            a->loras[a->n_loras++] = optarg;
            break;
        case 'h':
            gen_help();
            return CLI_EXIT_OK;
        case ':':
            cli_error(_("generate: option '%s' needs an argument"), argv[optind - 1]);
            cli_try_help("generate");
            return CLI_EXIT_USAGE;
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            cli_error(_("generate: unrecognized option '%s'"), optopt ? so : argv[optind - 1]);
            cli_try_help("generate");
            return CLI_EXIT_USAGE;
        }
        }
        if (bad) {
            /* TRANSLATORS: first %s is an option such as --temp, second its value */
            cli_error(_("generate: invalid value for %s: '%s'"), bad, optarg);
            cli_try_help("generate");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error(_("generate: unexpected argument '%s'"), argv[optind]);
        cli_try_help("generate");
        return CLI_EXIT_USAGE;
    }
    if (!a->prompt) {
        cli_error(_("generate: a prompt is required (-p TEXT)"));
        cli_try_help("generate");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* Write text (stdout): plain, or as part of the JSON line the caller is building. */
static void gen_emit(const struct opts *g, const char *text, size_t len)
{
    if (!g->json && len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
}

int cli_generate_run(const struct opts *g, int argc, char **argv)
{
    struct gen_args a;
    int rc = gen_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!a.have_seed)
        a.seed = (uint64_t)time(NULL) ^ timing_now_ns();
    a.sp.seed = a.seed;
    const char *path = a.model ? a.model : paths_model(g);

    struct gguf *gf = NULL;
    struct lora_set *lset = NULL;
    struct tok *tk = NULL;
    struct model *m = NULL;
    struct samp *sp = NULL;
    struct samp_stop *stop = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    char *piece = NULL;
    rc = CLI_EXIT_FAILURE;
    enum status st;
    if ((st = gguf_open(path, &gf)) != STATUS_OK) {
        cli_status_error(path, st);
        goto done;
    }
    if ((st = tok_from_gguf(gf, &tk)) != STATUS_OK) {
        cli_status_error(path, st);
        goto done;
    }
    for (size_t i = 0; i < a.n_loras; i++) {
        struct lora_spec spec;
        if ((st = lora_spec_parse(a.loras[i], &spec)) != STATUS_OK) {
            cli_status_error("--lora", st);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (!lset)
            st = lora_set_new(&lset);
        if (st == STATUS_OK)
            st = lora_set_load(lset, &spec, gf);
        if (st != STATUS_OK) {
            cli_status_error(spec.path, st);
            lora_spec_clear(&spec);
            goto done;
        }
        lora_spec_clear(&spec);
    }
    struct model_params mp;
    model_params_init(&mp);
    mp.lora = lset;
    mp.n_ctx = (size_t)a.ctx;
    mp.n_threads = g->threads;
    mp.weights = g->mmap ? MODEL_WEIGHTS_MAPPED : MODEL_WEIGHTS_AUTO;
    mp.kv_f16 = a.kv_f16;
    if ((st = model_open(gf, &mp, &m)) != STATUS_OK) {
        cli_status_error(path, st);
        goto done;
    }
    size_t nv = model_n_vocab(m);
    if ((size_t)tok_n_vocab(tk) > nv) {
        /* TRANSLATORS: the numbers are vocabulary sizes */
        cli_error(_("%s: the tokenizer has %ld tokens but the model only %zu"), path,
                  (long)tok_n_vocab(tk), nv);
        goto done;
    }
    size_t plen = strlen(a.prompt), cap = tok_encode_bound(plen), n_prompt;
    ids = malloc((cap ? cap : 1) * sizeof *ids);
    logits = malloc(nv * sizeof *logits);
    piece = malloc(tok_stream_bufsize(tk) + 1);
    if (!ids || !logits || !piece) {
        cli_status_error(path, STATUS_NOMEM);
        goto done;
    }
    if ((st = tok_encode(tk, a.prompt, plen, TOK_ENCODE_ADD_SPECIAL, ids, cap, &n_prompt)) !=
        STATUS_OK) {
        cli_status_error(_("prompt"), st);
        goto done;
    }
    if (n_prompt == 0) {
        cli_error(_("generate: the prompt gives no tokens"));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (n_prompt >= model_n_ctx(m)) {
        cli_error(_("generate: the prompt has %zu tokens, more than the context of %zu "
                    "(use --ctx)"),
                  n_prompt, model_n_ctx(m));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if ((st = samp_new(&a.sp, nv, &sp)) != STATUS_OK ||
        (st = samp_stop_new(a.stops, a.n_stops, &stop)) != STATUS_OK) {
        cli_status_error(_("sampler"), st);
        goto done;
    }
    for (size_t i = 0; i < n_prompt; i++)
        samp_accept(sp, ids[i]);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gen_on_sigint;
    sigemptyset(&sa.sa_mask);
    gen_interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);

    model_set_abort(m, gen_abort, NULL); /* Ctrl-C also stops a long prompt */
    uint64_t t0 = timing_now_ns();
    st = model_eval(m, ids, n_prompt, 0, logits, false);
    double t_prompt = timing_since_s(t0);
    if (st != STATUS_OK && st != STATUS_CANCELLED) {
        cli_status_error(path, st);
        goto restore;
    }
    struct tok_stream ts;
    tok_stream_init(&ts, tk, 0); /* a continuation keeps its leading space */
    size_t bufsz = tok_stream_bufsize(tk);
    uint64_t n_gen = 0;
    const char *reason = "length";
    uint64_t t1 = timing_now_ns();
    while (n_gen < a.n_predict) {
        if (gen_interrupted) {
            reason = "interrupt";
            break;
        }
        int32_t t;
        float lp;
        if ((st = samp_sample(sp, logits, &t, &lp)) != STATUS_OK) {
            cli_status_error(_("sampler"), st);
            goto restore;
        }
        n_gen++;
        if (t == tok_eos(tk) && !a.ignore_eos) {
            reason = "eos";
            break;
        }
        size_t n_piece = 0;
        if ((st = tok_stream_put(&ts, t, piece, bufsz, &n_piece)) != STATUS_OK) {
            cli_status_error(_("detokenizer"), st);
            goto restore;
        }
        bool stopped = samp_stop_feed(stop, piece, n_piece);
        const char *safe;
        size_t n_safe;
        samp_stop_take(stop, &safe, &n_safe);
        if (g->json) {
            printf("{\"id\":%" PRId32 ",\"piece\":", t);
            json_write_str(stdout, piece, n_piece);
            printf(",\"logprob\":%.6g}\n", isfinite(lp) ? (double)lp : -1e30);
            fflush(stdout);
        } else {
            gen_emit(g, safe, n_safe);
        }
        if (stopped) {
            reason = "stop";
            break;
        }
        if (n_gen == a.n_predict)
            break;
        /* the context is full: keep the BOS, drop half of the rest (see model_shift) */
        if (model_n_past(m) + 1 > model_n_ctx(m) &&
            (st = model_shift(m, 1, 0)) != STATUS_OK) {
            cli_status_error(path, st);
            goto restore;
        }
        st = model_eval(m, &t, 1, model_n_past(m), logits, false);
        if (st == STATUS_CANCELLED) {
            reason = "interrupt";
            break;
        }
        if (st != STATUS_OK) {
            cli_status_error(path, st);
            goto restore;
        }
    }
    double t_gen = timing_since_s(t1);
    {
        size_t n_tail = 0;
        const char *tail;
        size_t n_rest;
        if (tok_stream_flush(&ts, piece, bufsz, &n_tail) == STATUS_OK && n_tail)
            samp_stop_feed(stop, piece, n_tail);
        samp_stop_flush(stop, &tail, &n_rest);
        gen_emit(g, tail, n_rest);
    }
    if (!g->json)
        putchar('\n');
    fprintf(stderr,
            /* TRANSLATORS: timing summary; tok/s = tokens per second */
            _("prompt: %zu tokens in %.3f s (%.1f tok/s); generation: %" PRIu64
              " tokens in %.3f s (%.1f tok/s); stopped by %s\n"),
            n_prompt, t_prompt, t_prompt > 0 ? (double)n_prompt / t_prompt : 0.0, n_gen, t_gen,
            t_gen > 0 ? (double)n_gen / t_gen : 0.0, reason);
    rc = gen_interrupted ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK; /* as eval and write */
restore:
    sigaction(SIGINT, &old_sa, NULL);
done:
    free(piece);
    free(logits);
    free(ids);
    samp_stop_free(stop);
    samp_free(sp);
    model_close(m);
    lora_set_free(lset);
    tok_free(tk);
    gguf_close(gf);
    return rc;
}
