/* ask.c -- `memllm ask`: answer a question with the model reading memory; and the parts the
 * agent subcommands share (opening model, memory and agent; printing events). */
#include "config.h"
#include "cli/ask.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/embed_model.h"
#include "agent/memcons.h"
#include "cli/commands.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/timing.h"

#define CLI_AGENT_CTX_MAX 4096
#define CLI_PROMPTED_CTX_MIN 1024  /* default context in prompted mode, at least */
#define CLI_PROMPTED_RELATIONS 128 /* relations listed in a prompted write prompt */

/* ---- options ------------------------------------------------------------------------------ */

void cli_agent_args_init(struct cli_agent_args *x)
{
    memset(x, 0, sizeof *x);
    agent_params_init(&x->p);
    x->p.stops = x->stops;
    x->constrain = true;
}

int cli_agent_option(const char *cmd, int c, const char *arg, struct cli_agent_args *x)
{
    const char *bad = NULL;
    uint64_t u = 0;
    switch (c) {
    case 'm':
        x->model = arg;
        return 1;
    case 'n':
        if (!cli_parse_u64(arg, 1u << 24, &u) || u == 0)
            bad = "--n-predict";
        x->p.max_tokens = (size_t)u;
        break;
    case CLI_AGENT_OPT_CTX:
        if (!cli_parse_u64(arg, 1u << 20, &u) || u == 0)
            bad = "--ctx";
        x->ctx = (size_t)u;
        break;
    case CLI_AGENT_OPT_CONSTRAIN:
        if (strcmp(arg, "on") == 0)
            x->constrain = true;
        else if (strcmp(arg, "off") == 0)
            x->constrain = false;
        else
            bad = "--constrain";
        break;
    case CLI_AGENT_OPT_HISTORY:
        if (strcmp(cmd, "chat") != 0)
            return 0;
        if (!cli_parse_u64(arg, 1u << 20, &u))
            bad = "--history";
        x->history = (size_t)u;
        x->have_history = true;
        break;
    case CLI_AGENT_OPT_EMBEDDER:
        if (!embed_model_name_ok(arg))
            bad = "--embedder";
        x->embed_model = arg && strcmp(arg, "model") == 0;
        break;
    case CLI_AGENT_OPT_MODE:
        if (!prompted_mode_parse(arg, &x->mode))
            bad = "--mode";
        break;
    case CLI_AGENT_OPT_NO_RECORD:
        x->p.record = false;
        return 1;
    case CLI_AGENT_OPT_TEMP:
        if (!cli_parse_float(arg, 0.0, 100.0, &x->p.samp.temp))
            bad = "--temp";
        x->have_temp = true;
        break;
    case CLI_AGENT_OPT_TOP_K:
        if (!cli_parse_u64(arg, INT32_MAX, &u))
            bad = "--top-k";
        x->p.samp.top_k = (int32_t)u;
        break;
    case CLI_AGENT_OPT_TOP_P:
        if (!cli_parse_float(arg, 0.0, 1.0, &x->p.samp.top_p))
            bad = "--top-p";
        break;
    case CLI_AGENT_OPT_MIN_P:
        if (!cli_parse_float(arg, 0.0, 1.0, &x->p.samp.min_p))
            bad = "--min-p";
        break;
    case CLI_AGENT_OPT_REPEAT_PENALTY:
        if (!cli_parse_float(arg, 0.01, 100.0, &x->p.samp.repeat_penalty))
            bad = "--repeat-penalty";
        break;
    case CLI_AGENT_OPT_SEED:
        if (!cli_parse_u64(arg, UINT64_MAX, &u))
            bad = "--seed";
        x->p.samp.seed = u;
        x->have_seed = true;
        break;
    case CLI_AGENT_OPT_STOP:
        if (x->p.n_stops == CLI_AGENT_MAX_STOPS) {
            /* TRANSLATORS: first %s is the subcommand, %d the most --stop options allowed */
            cli_error(_("%s: at most %d --stop options"), cmd, CLI_AGENT_MAX_STOPS);
            cli_try_help(cmd);
            return -1;
        }
        x->stops[x->p.n_stops++] = arg;
        return 1;
    case CLI_AGENT_OPT_MAX_CALLS:
        if (!cli_parse_u64(arg, 1000, &u))
            bad = "--max-calls";
        x->p.max_calls = (size_t)u;
        break;
    case CLI_AGENT_OPT_NO_READ:
        x->p.read = false;
        return 1;
    case CLI_AGENT_OPT_IGNORE_EOS:
        x->p.ignore_eos = true;
        return 1;
    default:
        return 0;
    }
    if (bad) {
        /* TRANSLATORS: first %s is the subcommand, then an option such as --temp, then its
         * value */
        cli_error(_("%s: invalid value for %s: '%s'"), cmd, bad, arg);
        cli_try_help(cmd);
        return -1;
    }
    return 1;
}

void cli_agent_help(bool sampling)
{
    puts(_("  -m, --model=FILE         GGUF model (default: the global --model or the bundled\n"
           "                           one)"));
    puts(_("      --ctx=N              context length in tokens (default: the model's, at most\n"
           "                           4096; in prompted mode at least 1024)"));
    puts(_("      --no-record          do not record the run in the memory database"));
    puts(_("      --embedder=NAME      how memory compares names: hash (default; no weights)\n"
           "                           or model (the model's mean final hidden state); a\n"
           "                           database keeps the embedder it was built with"));
    puts(_("      --mode=MODE          native: a memllm-trained model (calls are special\n"
           "                           tokens); prompted: few-shot instructions in the model's\n"
           "                           chat template, for any instruct model; auto (default):\n"
           "                           prompted when the vocabulary lacks the call tokens"));
    if (!sampling)
        return;
    puts(_("  -n, --n-predict=N        most tokens to generate, calls included (default 256)"));
    puts(_("      --temp=T             temperature; 0 = greedy (default: the model's\n"
           "                           memllm.sampling.temperature, else 0.8)"));
    puts(_("      --top-k=K            keep the K most likely tokens; 0 = off (default 40)"));
    puts(_("      --top-p=P            nucleus sampling; 1 = off (default 0.95)"));
    puts(_("      --min-p=P            drop tokens below P times the best; 0 = off\n"
           "                           (default 0.05)"));
    puts(_("      --repeat-penalty=R   penalise recent tokens; 1 = off (default 1)"));
    puts(_("      --seed=S             random seed (default: from the clock)"));
    puts(_("      --stop=TEXT          stop when TEXT appears (repeatable)"));
    puts(_("      --ignore-eos         do not stop at the end-of-text token"));
    puts(_("      --max-calls=N        memory reads per answer (default 5)"));
    puts(_("      --no-read            answer without reading memory"));
    puts(_("      --constrain=on|off   keep memory calls well-formed with token masks: reads\n"
           "                           name entities of the question or of memory (default on)"));
}

/* ---- opening ------------------------------------------------------------------------------ */

/* <arch>.context_length, or 0. */
static size_t file_ctx(const struct gguf *gf)
{
    int64_t i = gguf_find_key(gf, "general.architecture");
    if (i < 0)
        return 0;
    struct gguf_value v;
    gguf_kv_value(gf, i, &v);
    if (v.type != GGUF_VTYPE_STRING || v.v.str.len > 64)
        return 0;
    char key[128];
    snprintf(key, sizeof key, "%.*s.context_length", (int)v.v.str.len, v.v.str.ptr);
    uint32_t n = 0;
    if (gguf_get_u32(gf, key, &n) != STATUS_OK)
        return 0;
    return n;
}

/* Constrained decoding over the memory's relation names; reads may also name memory
 * entities (agent/memcons.h) when names is true. */
static enum status open_constrain(struct cli_agent *ca, bool names)
{
    enum status st = memcons_new(ca->tk, ca->mc.m, &ca->cons);
    if (st != STATUS_OK)
        return st;
    memcons_set_memory(ca->cons, names ? ca->mc.m : NULL);
    struct agent_constraint ac;
    memcons_hook(ca->cons, &ac);
    agent_set_constraint(ca->a, &ac);
    return STATUS_OK;
}

/* Prompted mode: the few-shot templates of agent/prompted.h in the model's chat format
 * replace the GGUF's own; the write prompt lists the relations of the memory. */
static enum status open_prompted(struct cli_agent *ca)
{
    char **names = NULL;
    size_t n = 0;
    enum status st = memcons_relation_names(ca->mc.m, &names, &n);
    ca->fmt = prompted_format_from_gguf(ca->gf);
    free(ca->t_ask);
    free(ca->t_write);
    ca->t_ask = ca->t_write = NULL;
    if (st == STATUS_OK)
        st = prompted_template_read(ca->fmt, &ca->t_ask);
    if (st == STATUS_OK)
        st = prompted_template_write(ca->fmt, (const char *const *)names,
                                     n < CLI_PROMPTED_RELATIONS ? n : CLI_PROMPTED_RELATIONS,
                                     &ca->t_write);
    agent_names_free(names, n);
    return st;
}

/* The memory with the model embedder (agent/embed_model.h) in place of the default one:
 * opened without the controller and unseeded, then the controller over the model
 * embedder (which a new database records), then the seed facts of a new default
 * database (as cli_mem_open() seeds them, but embedded by the model). */
static int open_mem_model_embedder(const struct opts *g, struct cli_agent *ca)
{
    int rc = cli_mem_open(g, false, false, &ca->mc);
    if (rc != CLI_EXIT_OK)
        return rc;
    embed_free(&ca->mc.e);
    enum status st = embed_model_new(ca->gf, g->threads, &ca->mc.e);
    if (st != STATUS_OK) {
        cli_status_error("--embedder=model", st);
        return CLI_EXIT_FAILURE;
    }
    if ((st = ctrl_open(ca->mc.m, &ca->mc.e, &ca->mc.c)) != STATUS_OK) {
        cli_status_error(ca->mc.path, st);
        if (st == STATUS_EMBEDDER_MISMATCH)
            cli_error(_("note: a memory built with --embedder=model works only with the model "
                        "that built it; use the embedder the database was built with, or a "
                        "new --db"));
        return CLI_EXIT_FAILURE;
    }
    if (ca->mc.created && !g->db_path) {
        char *facts = cli_mem_data_file(CLI_MEM_SEED_FILE);
        if (facts) {
            rc = cli_mem_import_file(g, &ca->mc, facts, "tsv", CLI_MEM_SEED_SOURCE, true);
            free(facts);
            if (rc != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        }
    }
    return CLI_EXIT_OK;
}

int cli_agent_open(const struct opts *g, struct cli_agent_args *x, struct cli_agent *ca)
{
    memset(ca, 0, sizeof *ca);
    ca->json = g->json;
    const char *path = x->model ? x->model : paths_model(g);
    enum status st;
    int rc = CLI_EXIT_FAILURE;
    if ((st = gguf_open(path, &ca->gf)) != STATUS_OK ||
        (st = tok_from_gguf(ca->gf, &ca->tk)) != STATUS_OK ||
        (st = agent_templates_load(ca->gf, &ca->t_ask, &ca->t_write)) != STATUS_OK) {
        cli_status_error(path, st);
        goto fail;
    }
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = g->threads;
    mp.weights = g->mmap ? MODEL_WEIGHTS_MAPPED : MODEL_WEIGHTS_AUTO;
    mp.n_ctx = x->ctx;
    ca->prompted = prompted_mode_resolve(x->mode, ca->tk) == PROMPTED_MODE_PROMPTED;
    if (!mp.n_ctx) {
        size_t fc = file_ctx(ca->gf);
        mp.n_ctx = fc && fc < CLI_AGENT_CTX_MAX ? fc : CLI_AGENT_CTX_MAX;
        /* the few-shot prompts alone take ~350 tokens */
        if (ca->prompted && mp.n_ctx < CLI_PROMPTED_CTX_MIN)
            mp.n_ctx = CLI_PROMPTED_CTX_MIN;
    }
    if ((st = model_open(ca->gf, &mp, &ca->m)) != STATUS_OK) {
        cli_status_error(path, st);
        goto fail;
    }
    if (x->embed_model)
        rc = open_mem_model_embedder(g, ca);
    else
        rc = cli_mem_open(g, true, true, &ca->mc);
    if (rc != CLI_EXIT_OK)
        goto fail;
    rc = CLI_EXIT_FAILURE;
    if (ca->prompted && (st = open_prompted(ca)) != STATUS_OK) {
        cli_status_error(path, st);
        goto fail;
    }
    float mtemp;
    if (!x->have_temp &&
        gguf_get_f32(ca->gf, "memllm.sampling.temperature", &mtemp) == STATUS_OK &&
        mtemp >= 0.0f && mtemp <= 100.0f)
        x->p.samp.temp = mtemp;
    if (!x->have_context_sents)
        x->p.context_sents = agent_context_sents_load(ca->gf, x->p.context_sents);
    if (!x->have_seed)
        x->p.samp.seed = (uint64_t)time(NULL) ^ timing_now_ns();
    const char *base = strrchr(path, '/');
    x->p.model_name = base ? base + 1 : path;
    x->p.template_ask = ca->t_ask;
    x->p.template_write = ca->t_write;
    x->p.constrain = x->constrain;
    x->p.prompted = ca->prompted;
    x->p.parse_special = ca->prompted;
    struct agent_lm lm;
    agent_lm_from_model(ca->m, &lm);
    if ((st = agent_new(&lm, ca->tk, ca->mc.c, &x->p, &ca->a)) != STATUS_OK) {
        cli_status_error(path, st);
        goto fail;
    }
    if (x->constrain && (st = open_constrain(ca, x->p.read)) != STATUS_OK) {
        cli_status_error("--constrain", st);
        goto fail;
    }
    agent_set_events(ca->a, cli_agent_on_event, ca);
    return CLI_EXIT_OK;
fail:
    cli_agent_close(ca);
    return rc;
}

void cli_agent_close(struct cli_agent *ca)
{
    agent_free(ca->a);
    ca->a = NULL;
    memcons_free(ca->cons);
    ca->cons = NULL;
    cli_mem_close(&ca->mc);
    model_close(ca->m);
    ca->m = NULL;
    tok_free(ca->tk);
    ca->tk = NULL;
    gguf_close(ca->gf);
    ca->gf = NULL;
    free(ca->t_ask);
    free(ca->t_write);
    ca->t_ask = ca->t_write = NULL;
}

/* ---- events -------------------------------------------------------------------------------- */

static char *cli_last_call; /* raw text of the call being run (printing state) */

void cli_agent_on_event(void *user, const struct agent_event *ev)
{
    struct cli_agent *ca = user;
    if (ca->json) {
        if (ev->kind == AGENT_EVENT_WRITE || ev->kind == AGENT_EVENT_DONE ||
            ev->kind == AGENT_EVENT_ERROR || ev->kind == AGENT_EVENT_READ ||
            ev->kind == AGENT_EVENT_CALL_START || ev->kind == AGENT_EVENT_TOKEN) {
            agent_event_json(stdout, ev);
            putchar('\n');
            fflush(stdout);
        }
        return;
    }
    switch (ev->kind) {
    case AGENT_EVENT_TOKEN:
        fwrite(ev->text, 1, ev->len, stdout);
        fflush(stdout);
        break;
    case AGENT_EVENT_CALL_START:
        free(cli_last_call);
        cli_last_call = strndup(ev->text, ev->len);
        break;
    case AGENT_EVENT_READ:
        if (!ev->failed && ca->chat) {
            /* a marked note: [memory: QUERIES -> RESULTS] */
            const char *q = cli_last_call ? cli_last_call : "";
            size_t ql = strlen(q), pl = strlen(CALL_READ_PREFIX), al = strlen(")" CALL_ARROW);
            bool tty = isatty(STDOUT_FILENO);
            if (ql >= pl + al && strncmp(q, CALL_READ_PREFIX, pl) == 0)
                q += pl, ql -= pl + al;
            fputs(tty ? "\033[36m[" : "[", stdout);
            /* TRANSLATORS: shown before a memory read's query in chat */
            fputs(_("memory: "), stdout);
            fwrite(q, 1, ql, stdout);
            fputs(" -> ", stdout);
            cli_mem_put(stdout, ev->results ? ev->results : ""); /* stored names */
            fputs(tty ? "]\033[0m" : "]", stdout);
            fflush(stdout);
        } else if (!ev->failed) {
            fputs(cli_last_call ? cli_last_call : "", stdout);
            cli_mem_put(stdout, ev->results ? ev->results : ""); /* stored names */
            fputs(CALL_CLOSE, stdout);
            fflush(stdout);
        } else {
            fflush(stdout);
            /* TRANSLATORS: %s is why a memory read was dropped, then the call text */
            fprintf(stderr, _("[memory read dropped (%s): %s]\n"), ev->reason ? ev->reason : "",
                    cli_last_call ? cli_last_call : "");
        }
        free(cli_last_call);
        cli_last_call = NULL;
        break;
    case AGENT_EVENT_ERROR:
        cli_error("%s", ev->text);
        break;
    case AGENT_EVENT_DONE:
        if (ev->output) { /* read mode */
            const struct agent_timing *t = ev->timing;
            putchar('\n');
            fflush(stdout);
            fprintf(stderr,
                    /* TRANSLATORS: timing summary; tok/s = tokens per second */
                    _("prompt: %zu tokens in %.3f s (%.1f tok/s); generation: %zu tokens in "
                      "%.3f s (%.1f tok/s); stopped by %s\n"),
                    t->n_prompt, t->t_prompt,
                    t->t_prompt > 0 ? (double)t->n_prompt / t->t_prompt : 0.0, t->n_gen,
                    t->t_gen, t->t_gen > 0 ? (double)t->n_gen / t->t_gen : 0.0, ev->stop);
            if (ev->run_id)
                /* TRANSLATORS: %lld is a run number; 'memllm audit' is a command */
                fprintf(stderr, _("run %lld recorded (see 'memllm audit %lld')\n"),
                        (long long)ev->run_id, (long long)ev->run_id);
        }
        break;
    case AGENT_EVENT_WRITE:
        break;
    }
}

static struct agent *volatile cli_sig_agent;

static void on_sigint(int sig)
{
    (void)sig;
    struct agent *a = cli_sig_agent;
    if (a)
        agent_cancel(a);
}

void cli_agent_sigint(struct agent *a)
{
    static struct sigaction old;
    static bool installed;
    cli_sig_agent = a;
    if (a && !installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
        installed = true;
    } else if (!a && installed) {
        sigaction(SIGINT, &old, NULL);
        installed = false;
    }
}

/* ---- memllm ask ---------------------------------------------------------------------------- */

static void ask_help(void)
{
    printf(_("Usage: %s [--db=PATH] [--json] ask [OPTION]... QUESTION\n"), PACKAGE);
    puts(_("Answer QUESTION with the model, which may read the memory with MEM_READ calls.\n"
           "The answer streams to standard output with each read shown inline as\n"
           "({MEM_READ(query)-->results}); timing goes to standard error.  Each answer is\n"
           "recorded as a run: see 'memllm audit'.  Ctrl-C stops the answer."));
    putchar('\n');
    cli_agent_help(true);
    puts(_("  -h, --help               show this help and exit"));
    putchar('\n');
    puts(_("With the global --json option every event is one JSON line: token, call, read\n"
           "(queries, candidates with distances, triples), error and done (timing)."));
}

static const struct option ask_longopts[] = {
    {"model", required_argument, NULL, 'm'},
    {"n-predict", required_argument, NULL, 'n'},
    {"ctx", required_argument, NULL, CLI_AGENT_OPT_CTX},
    {"constrain", required_argument, NULL, CLI_AGENT_OPT_CONSTRAIN},
    {"no-record", no_argument, NULL, CLI_AGENT_OPT_NO_RECORD},
    {"temp", required_argument, NULL, CLI_AGENT_OPT_TEMP},
    {"top-k", required_argument, NULL, CLI_AGENT_OPT_TOP_K},
    {"top-p", required_argument, NULL, CLI_AGENT_OPT_TOP_P},
    {"min-p", required_argument, NULL, CLI_AGENT_OPT_MIN_P},
    {"repeat-penalty", required_argument, NULL, CLI_AGENT_OPT_REPEAT_PENALTY},
    {"seed", required_argument, NULL, CLI_AGENT_OPT_SEED},
    {"stop", required_argument, NULL, CLI_AGENT_OPT_STOP},
    {"max-calls", required_argument, NULL, CLI_AGENT_OPT_MAX_CALLS},
    {"no-read", no_argument, NULL, CLI_AGENT_OPT_NO_READ},
    {"ignore-eos", no_argument, NULL, CLI_AGENT_OPT_IGNORE_EOS},
    {"mode", required_argument, NULL, CLI_AGENT_OPT_MODE},
    {"embedder", required_argument, NULL, CLI_AGENT_OPT_EMBEDDER},
    {"history", required_argument, NULL, CLI_AGENT_OPT_HISTORY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_agent_parse(const char *cmd, int argc, char **argv, struct cli_agent_args *x,
                     void (*help)(void))
{
    cli_agent_args_init(x);
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+m:n:h", ask_longopts, NULL)) != -1) {
        if (c == 'h') {
            help();
            return CLI_EXIT_OK;
        }
        if (c == '?' || c == ':') {
            if (optopt == 'm' || optopt == 'n' || optopt >= CLI_AGENT_OPT_CTX)
                /* TRANSLATORS: first %s is the subcommand, second an option */
                cli_error(_("%s: option '%s' needs an argument"), cmd, argv[optind - 1]);
            else
                /* TRANSLATORS: first %s is the subcommand, second an option */
                cli_error(_("%s: unrecognized option '%s'"), cmd, argv[optind - 1]);
            cli_try_help(cmd);
            return CLI_EXIT_USAGE;
        }
        int r = cli_agent_option(cmd, c, optarg, x);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 0) { /* an option of another subcommand (--history) */
            /* TRANSLATORS: first %s is the subcommand, second an option */
            cli_error(_("%s: unrecognized option '%s'"), cmd, "--history");
            cli_try_help(cmd);
            return CLI_EXIT_USAGE;
        }
    }
    return -1;
}

int cli_ask_run(const struct opts *g, int argc, char **argv)
{
    struct cli_agent_args x;
    int rc = cli_agent_parse("ask", argc, argv, &x, ask_help);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1) {
        if (optind >= argc)
            cli_error(_("ask: a question is required"));
        else
            cli_error(_("ask: unexpected argument '%s'"), argv[optind + 1]);
        cli_try_help("ask");
        return CLI_EXIT_USAGE;
    }
    const char *question = argv[optind];
    struct cli_agent ca;
    if ((rc = cli_agent_open(g, &x, &ca)) != CLI_EXIT_OK)
        return rc;
    cli_agent_sigint(ca.a);
    enum status st = agent_ask(ca.a, question, NULL, NULL);
    cli_agent_sigint(NULL);
    rc = st == STATUS_OK || st == STATUS_CANCELLED ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    cli_agent_close(&ca);
    return rc;
}
