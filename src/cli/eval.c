/* eval.c -- `memllm eval write|edit|ppl`: reproducible MemLLM evaluations (arXiv 2404.11672)
 * over fresh in-memory databases, reported as text or JSON (protocols in agent/eval.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/eval.h"
#include "agent/synth.h"
#include "cli/commands.h"
#include "cli/mem.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"

enum eval_mode { MODE_WRITE, MODE_EDIT, MODE_PPL };

enum {
    OPT_CTX = 500,
    OPT_SEED,
    OPT_DOCS,
    OPT_RECORDS,
    OPT_SPLIT,
    OPT_HELD_OUT,
    OPT_REL_INFO,
    OPT_SEQUENTIAL,
    OPT_DIST_THR,
    OPT_REL_THR,
    OPT_Q_THR,
    OPT_CONTEXT_SENTS,
    OPT_MIN_CUTS,
    OPT_MAX_TOKENS,
    OPT_ANSWER_TOKENS,
    OPT_JSON,
    OPT_CONSTRAIN,
    OPT_FACTS,
};

static void eval_help(void)
{
    printf(_("Usage: %s [--json] eval write [OPTION]... FILE\n"
             "  or:  %s [--json] eval edit [OPTION]... FILE\n"
             "  or:  %s [--json] eval ppl [OPTION]... FILE\n"),
           PACKAGE, PACKAGE, PACKAGE);
    puts(_("Evaluate MemLLM as in its paper, reproducibly: greedy decoding, a fresh\n"
           "in-memory database (no file is touched), settings listed in the report's\n"
           "header.  Results go to standard output, progress to standard error; Ctrl-C\n"
           "stops and prints the results so far."));
    putchar('\n');
    puts(_("write: FILE is Re-DocRED JSON.  Each document is memorized in write mode into a\n"
           "  fresh memory; the stored triples are scored against the gold labels: a triple\n"
           "  is correct when its subject equals (case and whitespace folded) any mention of\n"
           "  the head entity, its object any mention of the tail, and its relation the\n"
           "  label's relation name.  Precision, recall and F1 overall and per relation,\n"
           "  summed over documents."));
    puts(_("edit: FILE is ZsRE JSON (records with src, alt, rephrase, loc, loc_ans).  Each\n"
           "  record's statement  src + ' It is or they are \"' + alt + '\"'  is memorized;\n"
           "  then src (reliability, REL) and rephrase (generalization, GEN) are asked and\n"
           "  count when the answer contains alt (case-insensitive); locality (LOC) counts\n"
           "  when the answer to loc equals the answer given before any edit.  Default: a\n"
           "  fresh memory per record; --sequential: all statements into one memory, then\n"
           "  all questions."));
    puts(_("ppl: FILE is Re-DocRED JSON.  Perplexity of each document's tokens with memory\n"
           "  (the gold triples in a fresh memory; at the first mention of an entity that a\n"
           "  gold fact links to an earlier-mentioned entity, a MEM_READ call answered by\n"
           "  the memory is inserted, as read mode would; only the latest call stays in\n"
           "  context; call tokens are not scored) and without memory (same tokens, no\n"
           "  calls).  OVERALL: all document tokens; TARGET: tokens of those first mentions\n"
           "  (right after an inserted read); ENTITY: tokens of all entity mentions.  The\n"
           "  text is cut at mention boundaries and each piece encoded on its own.  A\n"
           "  document longer than the context is skipped (counted in the report)."));
    putchar('\n');
    puts(_("  -m, --model=FILE         GGUF model (default: the bundled one)"));
    puts(_("      --ctx=N              context length (default: the model's, at most 4096)"));
    puts(_("      --seed=N             sampler seed, recorded in the report (default 0)"));
    puts(_("      --dist-thr=X         entity distance threshold of reads"));
    puts(_("      --rel-thr=X          relation distance threshold of reads"));
    puts(_("      --q-thr=X            pair score threshold of reads"));
    puts(_("      --docs=N             write, ppl: only the first N documents"));
    puts(_("      --split=FILE         write, ppl: a split file of title hashes"));
    puts(_("      --held-out           with --split: the listed documents (default: the\n"
           "                           others)"));
    puts(_("      --rel-info=FILE      relation names of label ids: rel_info.json or\n"
           "                           relations.tsv (default: the bundled relations.tsv)"));
    puts(_("      --records=N          edit: only the first N records"));
    puts(_("      --sequential         edit: one growing memory for all records"));
    puts(_("      --facts=FILE         edit: subject<TAB>relation<TAB>object facts ('#' lines\n"
           "                           skipped) loaded into every fresh memory, also the one\n"
           "                           that gives the answers before any edit, so locality is\n"
           "                           measured with a populated memory"));
    puts(_("      --constrain=on|off   write, edit: keep memory calls well-formed with token\n"
           "                           masks, as ask and write do: relations of the memory,\n"
           "                           reads name entities of the question or memory, writes\n"
           "                           spans of the sentence and its context (default on)"));
    puts(_("      --context-sents=N    write mode: earlier sentences as context (default: the\n"
           "                           model's memllm.write.context_sents, else 25)"));
    puts(_("      --min-cuts=N         write mode: late-stopping candidates (default 5)"));
    puts(_("      --max-tokens=N       write mode: tokens per write call (default 128)"));
    puts(_("      --answer-tokens=N    edit: tokens per answer (default 32)"));
    puts(_("      --json               report as one JSON object (as the global --json)"));
    puts(_("  -h, --help               show this help and exit"));
}

/* ---- progress and cancellation ------------------------------------------------------------ */

static struct eval_agent *volatile eval_sig_target;
static volatile sig_atomic_t eval_sig_flag;

static void eval_on_sigint(int sig)
{
    (void)sig;
    eval_sig_flag = 1;
    struct eval_agent *ea = eval_sig_target;
    if (ea)
        eval_agent_cancel(ea);
}

struct progress {
    const char *what; /* "documents", "records" */
    bool tty;
    int last_decile;
};

static void on_progress(void *user, size_t done, size_t total)
{
    struct progress *p = user;
    if (p->tty) {
        /* TRANSLATORS: progress of an evaluation: done/total, then "documents" or "steps" */
        fputc('\r', stderr);
        fprintf(stderr, _("eval: %zu/%zu %s"), done, total, p->what);
        if (done == total)
            fputs("\r\033[K", stderr);
    } else {
        int dec = total ? (int)(done * 10 / total) : 10;
        if (dec != p->last_decile) {
            fprintf(stderr, _("eval: %zu/%zu %s"), done, total, p->what);
            fputc('\n', stderr);
        }
        p->last_decile = dec;
    }
    fflush(stderr);
}

/* ---- the report ---------------------------------------------------------------------------- */

struct setup {
    const char *mode, *model, *data, *split, *rel, *relations_db;
    const char *facts; /* --facts; NULL: none */
    size_t n_facts;
    long long model_bytes;
    bool held_out, sequential;
    bool decodes; /* write, edit: the constrain setting applies */
    size_t items, ctx;
    const struct agent_params *p;
    const struct ctrl_params *cp;
};

static void header_text(const struct setup *s)
{
    printf("# memllm eval %s (%s %s)\n", s->mode, PACKAGE, VERSION);
    printf("# model: %s (%lld bytes), context %zu tokens\n", s->model, s->model_bytes, s->ctx);
    printf("# data: %s (%zu %s)", s->data, s->items,
           strcmp(s->mode, "edit") == 0 ? "records" : "documents");
    if (s->split)
        printf(", split %s (%s)", s->split, s->held_out ? "held-out" : "not held-out");
    putchar('\n');
    if (s->rel)
        printf("# label relation names: %s\n", s->rel);
    printf("# memory: fresh \":memory:\" database %s, default hash n-gram embedder, "
           "relations from %s\n",
           strcmp(s->mode, "edit") == 0 ? (s->sequential ? "for all records (sequential)"
                                                         : "per record")
                                        : "per document",
           s->relations_db ? s->relations_db : "(none)");
    if (s->facts)
        printf("# facts: %s (%zu facts) loaded into every fresh memory, also before any edit\n",
               s->facts, s->n_facts);
    printf("# reads: dist_thr %.4g, dist_rel_thr %.4g, q_thr %.4g, exact_thr %.4g, "
           "top %zu entities, %zu relations, at most %zu answers\n",
           s->cp->dist_thr, s->cp->dist_rel_thr, s->cp->q_thr, s->cp->exact_thr,
           s->cp->top_entities, s->cp->top_relations, s->cp->max_answers);
    printf("# decoding: greedy; seed %llu", (unsigned long long)s->p->samp.seed);
    if (s->decodes)
        printf("; constrain %s", s->p->constrain ? "on" : "off");
    printf("; write: context %zu sentences, late stopping with %zu cuts, at most %zu tokens; "
           "read: at most %zu tokens, %zu calls\n",
           s->p->context_sents, s->p->min_cuts, s->p->write_max_tokens, s->p->max_tokens,
           s->p->max_calls);
}

static void jstr(const char *key, const char *v)
{
    printf("\"%s\":", key);
    if (v)
        json_write_str(stdout, v, strlen(v));
    else
        fputs("null", stdout);
}

static void header_json(const struct setup *s, size_t done, bool complete)
{
    printf("{\"eval\":\"%s\",", s->mode);
    jstr("version", VERSION);
    putchar(',');
    jstr("model", s->model);
    printf(",\"model_bytes\":%lld,\"ctx\":%zu,", s->model_bytes, s->ctx);
    jstr("data", s->data);
    putchar(',');
    jstr("split", s->split);
    printf(",\"held_out\":%s,", s->held_out ? "true" : "false");
    jstr("rel_info", s->rel);
    putchar(',');
    jstr("relations", s->relations_db);
    putchar(',');
    jstr("facts", s->facts);
    printf(",\"facts_count\":%zu", s->n_facts);
    printf(",\"items\":%zu,\"done\":%zu,\"complete\":%s,", s->items, done,
           complete ? "true" : "false");
    printf("\"settings\":{\"db\":\":memory:\",\"fresh\":\"%s\",\"embedder\":\"hash\","
           "\"dist_thr\":%.6g,\"dist_rel_thr\":%.6g,\"q_thr\":%.6g,\"exact_thr\":%.6g,"
           "\"top_entities\":%zu,\"top_relations\":%zu,\"max_answers\":%zu,"
           "\"decoding\":\"greedy\",\"constrain\":%s,\"seed\":%llu,\"context_sents\":%zu,"
           "\"min_cuts\":%zu,\"write_max_tokens\":%zu,\"answer_tokens\":%zu,\"max_calls\":%zu}",
           strcmp(s->mode, "edit") ? "document" : s->sequential ? "none" : "record",
           s->cp->dist_thr, s->cp->dist_rel_thr, s->cp->q_thr, s->cp->exact_thr,
           s->cp->top_entities, s->cp->top_relations, s->cp->max_answers,
           !s->decodes ? "null" : s->p->constrain ? "\"on\"" : "\"off\"",
           (unsigned long long)s->p->samp.seed, s->p->context_sents, s->p->min_cuts,
           s->p->write_max_tokens, s->p->max_tokens, s->p->max_calls);
}

static void prf_json(const struct eval_prf *p)
{
    printf("\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"stored\":%zu,\"stored_ok\":%zu,"
           "\"gold\":%zu,\"gold_ok\":%zu",
           eval_prf_precision(p), eval_prf_recall(p), eval_prf_f1(p), p->stored, p->stored_ok,
           p->gold, p->gold_ok);
}

static void report_write(const struct setup *s, bool json, const struct eval_write_score *sc,
                         bool complete)
{
    struct eval_prf t;
    eval_write_score_total(sc, &t);
    size_t done = eval_write_score_docs(sc);
    if (json) {
        header_json(s, done, complete);
        fputs(",\"overall\":{", stdout);
        prf_json(&t);
        fputs("},\"relations\":[", stdout);
        for (size_t i = 0; i < eval_write_score_n_rel(sc); i++) {
            struct eval_prf r;
            const char *name = eval_write_score_rel(sc, i, &r);
            printf("%s{", i ? "," : "");
            jstr("name", name);
            putchar(',');
            prf_json(&r);
            putchar('}');
        }
        puts("]}");
        return;
    }
    header_text(s);
    if (!complete)
        /* TRANSLATORS: the run was stopped; %zu of %zu documents were evaluated */
        printf(_("# interrupted: partial results over %zu of %zu documents\n"), done, s->items);
    printf("documents %zu\n", done);
    printf("overall   P %.4f  R %.4f  F1 %.4f  (stored %zu, correct %zu; gold %zu, found %zu)\n",
           eval_prf_precision(&t), eval_prf_recall(&t), eval_prf_f1(&t), t.stored, t.stored_ok,
           t.gold, t.gold_ok);
    printf("\n%-32s %7s %7s %7s %7s %7s %7s %7s\n", "relation", "stored", "correct", "gold",
           "found", "P", "R", "F1");
    for (size_t i = 0; i < eval_write_score_n_rel(sc); i++) {
        struct eval_prf r;
        const char *name = eval_write_score_rel(sc, i, &r);
        cli_mem_put(stdout, name);
        size_t w = strlen(name);
        printf("%*s %7zu %7zu %7zu %7zu %7.4f %7.4f %7.4f\n", w < 32 ? (int)(32 - w) : 0, "",
               r.stored, r.stored_ok, r.gold, r.gold_ok, eval_prf_precision(&r),
               eval_prf_recall(&r), eval_prf_f1(&r));
    }
}

static void report_edit(const struct setup *s, bool json, const struct eval_edit_tally *t,
                        bool complete)
{
    double rel, gen, loc, mean;
    eval_edit_tally_scores(t, &rel, &gen, &loc, &mean);
    if (json) {
        header_json(s, t->n, complete);
        printf(",\"setting\":\"%s\",\"records\":%zu,\"rel\":%.6f,\"gen\":%.6f,\"loc\":%.6f,"
               "\"mean\":%.6f,\"rel_hits\":%zu,\"gen_hits\":%zu,\"loc_hits\":%zu}\n",
               s->sequential ? "sequential" : "per-record", t->n, rel, gen, loc, mean, t->rel,
               t->gen, t->loc);
        return;
    }
    header_text(s);
    if (!complete)
        /* TRANSLATORS: the run was stopped; %zu of %zu records were evaluated */
        printf(_("# interrupted: partial results over %zu of %zu records\n"), t->n, s->items);
    printf("setting   %s\nrecords   %zu\n", s->sequential ? "sequential" : "per-record", t->n);
    printf("REL  %.4f  (%zu)\nGEN  %.4f  (%zu)\nLOC  %.4f  (%zu)\nmean %.4f\n", rel, t->rel,
           gen, t->gen, loc, t->loc, mean);
}

static void ppl_num(double v)
{
    if (isnan(v))
        fputs("null", stdout);
    else
        printf("%.6f", v);
}

static void report_ppl(const struct setup *s, bool json, const struct eval_ppl *with,
                       const struct eval_ppl *without, size_t done, size_t skipped,
                       bool complete)
{
    static const char *const kinds[] = {"overall", "target", "entity"};
    if (json) {
        header_json(s, done, complete);
        printf(",\"skipped_too_long\":%zu", skipped);
        const struct eval_ppl *both[2] = {with, without};
        for (int w = 0; w < 2; w++) {
            printf(",\"%s\":{", w == 0 ? "with_memory" : "without_memory");
            for (int k = 0; k < EVAL_PPL_KINDS; k++) {
                printf("%s\"%s\":", k ? "," : "", kinds[k]);
                ppl_num(eval_ppl_value(both[w], (enum eval_ppl_kind)k));
                printf(",\"%s_tokens\":%zu", kinds[k], both[w]->n[k]);
            }
            putchar('}');
        }
        puts("}");
        return;
    }
    header_text(s);
    if (!complete)
        printf(_("# interrupted: partial results over %zu of %zu documents\n"), done, s->items);
    printf("documents %zu (%zu skipped: longer than the context)\n", done, skipped);
    printf("%-16s %12s %12s %12s\n", "", "OVERALL", "TARGET", "ENTITY");
    printf("%-16s %12zu %12zu %12zu\n", "tokens", with->n[0], with->n[1], with->n[2]);
    const struct eval_ppl *both[2] = {with, without};
    for (int w = 0; w < 2; w++) {
        printf("%-16s", w == 0 ? "with memory" : "without memory");
        for (int k = 0; k < EVAL_PPL_KINDS; k++)
            printf(" %12.4f", eval_ppl_value(both[w], (enum eval_ppl_kind)k));
        putchar('\n');
    }
}

/* ---- the command --------------------------------------------------------------------------- */

static bool parse_thr(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 2)
        return false;
    *out = v;
    return true;
}

int cli_eval_run(const struct opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"ctx", required_argument, NULL, OPT_CTX},
        {"seed", required_argument, NULL, OPT_SEED},
        {"docs", required_argument, NULL, OPT_DOCS},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"held-out", no_argument, NULL, OPT_HELD_OUT},
        {"rel-info", required_argument, NULL, OPT_REL_INFO},
        {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
        {"dist-thr", required_argument, NULL, OPT_DIST_THR},
        {"rel-thr", required_argument, NULL, OPT_REL_THR},
        {"q-thr", required_argument, NULL, OPT_Q_THR},
        {"context-sents", required_argument, NULL, OPT_CONTEXT_SENTS},
        {"min-cuts", required_argument, NULL, OPT_MIN_CUTS},
        {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
        {"answer-tokens", required_argument, NULL, OPT_ANSWER_TOKENS},
        {"json", no_argument, NULL, OPT_JSON},
        {"constrain", required_argument, NULL, OPT_CONSTRAIN},
        {"facts", required_argument, NULL, OPT_FACTS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *split = NULL, *rel_info = NULL, *facts_path = NULL;
    size_t ctx = 0, max_items = SIZE_MAX;
    bool held_out = false, sequential = false, json = g->json, have_context_sents = false;
    bool constrain = true, have_constrain = false;
    struct agent_params p;
    agent_params_init(&p);
    p.samp.temp = 0; /* greedy */
    p.samp.seed = 0;
    p.record = false;
    p.max_tokens = 32;
    struct ctrl_params cp;
    ctrl_params_default(&cp);

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        eval_help();
        return CLI_EXIT_OK;
    }
    if (argc < 2) {
        cli_error(_("eval: a mode is required: write, edit or ppl"));
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    enum eval_mode mode;
    if (strcmp(argv[1], "write") == 0)
        mode = MODE_WRITE;
    else if (strcmp(argv[1], "edit") == 0)
        mode = MODE_EDIT;
    else if (strcmp(argv[1], "ppl") == 0)
        mode = MODE_PPL;
    else {
        cli_error(_("eval: unknown mode '%s' (write, edit or ppl)"), argv[1]);
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    const char *mode_name = argv[1];
    argc--;
    argv++;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+m:h", longopts, NULL)) != -1) {
        size_t v = 0;
        const char *bad = NULL;
        switch (c) {
        case 'h':
            eval_help();
            return CLI_EXIT_OK;
        case 'm':
            model_path = optarg;
            break;
        case OPT_CTX:
            if (!cli_mem_parse_size(optarg, 1u << 20, &ctx) || ctx == 0)
                bad = "--ctx";
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                bad = "--seed";
            p.samp.seed = s;
            break;
        }
        case OPT_DOCS:
        case OPT_RECORDS:
            if (!cli_mem_parse_size(optarg, SIZE_MAX, &max_items))
                bad = c == OPT_DOCS ? "--docs" : "--records";
            break;
        case OPT_SPLIT:
            split = optarg;
            break;
        case OPT_HELD_OUT:
            held_out = true;
            break;
        case OPT_REL_INFO:
            rel_info = optarg;
            break;
        case OPT_SEQUENTIAL:
            sequential = true;
            break;
        case OPT_DIST_THR:
            if (!parse_thr(optarg, &cp.dist_thr))
                bad = "--dist-thr";
            break;
        case OPT_REL_THR:
            if (!parse_thr(optarg, &cp.dist_rel_thr))
                bad = "--rel-thr";
            break;
        case OPT_Q_THR:
            if (!parse_thr(optarg, &cp.q_thr))
                bad = "--q-thr";
            break;
        case OPT_CONTEXT_SENTS:
            if (!cli_mem_parse_size(optarg, 1000, &v))
                bad = "--context-sents";
            p.context_sents = v;
            have_context_sents = true;
            break;
        case OPT_MIN_CUTS:
            if (!cli_mem_parse_size(optarg, 1000, &v) || v == 0)
                bad = "--min-cuts";
            p.min_cuts = v;
            break;
        case OPT_MAX_TOKENS:
            if (!cli_mem_parse_size(optarg, 1u << 16, &v) || v == 0)
                bad = "--max-tokens";
            p.write_max_tokens = v;
            break;
        case OPT_ANSWER_TOKENS:
            if (!cli_mem_parse_size(optarg, 1u << 16, &v) || v == 0)
                bad = "--answer-tokens";
            p.max_tokens = v;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_CONSTRAIN:
            if (strcmp(optarg, "on") == 0)
                constrain = true;
            else if (strcmp(optarg, "off") == 0)
                constrain = false;
            else
                bad = "--constrain";
            have_constrain = true;
            break;
        case OPT_FACTS:
            facts_path = optarg;
            break;
        default:
            if (optopt)
                cli_error(_("%s: option '%s' needs an argument"), "eval", argv[optind - 1]);
            else
                cli_error(_("%s: unrecognized option '%s'"), "eval", argv[optind - 1]);
            cli_try_help("eval");
            return CLI_EXIT_USAGE;
        }
        if (bad) {
            cli_error(_("%s: invalid value for %s: '%s'"), "eval", bad, optarg);
            cli_try_help("eval");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        if (optind >= argc)
            /* TRANSLATORS: %s is the mode: write, edit or ppl */
            cli_error(_("eval %s: a data file is required"), mode_name);
        else
            cli_error(_("eval: unexpected argument '%s'"), argv[optind + 1]);
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    if (held_out && !split) {
        cli_error(_("eval: --held-out needs --split"));
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    if (have_constrain && mode == MODE_PPL) {
        cli_error(_("eval ppl: --constrain does not apply: ppl generates no text"));
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    if (facts_path && mode != MODE_EDIT) {
        /* TRANSLATORS: %s is the mode: write or ppl */
        cli_error(_("eval %s: --facts applies to edit only"), mode_name);
        cli_try_help("eval");
        return CLI_EXIT_USAGE;
    }
    p.constrain = constrain && mode != MODE_PPL;
    const char *data = argv[optind];

    int rc = CLI_EXIT_FAILURE;
    enum status st;
    struct eval_docs *docs = NULL;
    struct eval_edits *edits = NULL;
    struct synth_facts *facts = NULL;
    struct gguf *gf = NULL;
    struct tok *tk = NULL;
    struct model *m = NULL;
    struct eval_agent *ea = NULL;
    struct eval_write_score *score = NULL;
    char *t_ask = NULL, *t_write = NULL, *rel_default = NULL, *relations_db = NULL;
    size_t items;

    /* data first: a bad file is reported before a model is loaded */
    if (mode == MODE_EDIT) {
        if ((st = eval_edits_open(data, &edits)) != STATUS_OK) {
            cli_status_error(data, st);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        eval_edits_truncate(edits, max_items);
        items = eval_edits_count(edits);
        if (facts_path && (st = eval_facts_open(facts_path, &facts)) != STATUS_OK) {
            cli_status_error("--facts", st);
            rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
            goto out;
        }
    } else {
        const char *rel = rel_info;
        if (!rel)
            rel = rel_default = cli_mem_data_file(CLI_MEM_RELATIONS_FILE);
        rel_info = rel;
        if ((st = eval_docs_open(data, rel, &docs)) != STATUS_OK) {
            cli_status_error(data, st);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        if (split && (st = eval_docs_split(docs, split, held_out)) != STATUS_OK) {
            cli_status_error(split, st);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        eval_docs_truncate(docs, max_items);
        items = eval_docs_count(docs);
    }
    relations_db = cli_mem_data_file(CLI_MEM_RELATIONS_FILE);

    const char *path = model_path ? model_path : paths_model(g);
    struct stat sb;
    long long model_bytes = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    if ((st = gguf_open(path, &gf)) != STATUS_OK || (st = tok_from_gguf(gf, &tk)) != STATUS_OK ||
        (st = agent_templates_load(gf, &t_ask, &t_write)) != STATUS_OK) {
        cli_status_error(path, st);
        goto out;
    }
    struct model_params mp;
    model_params_init(&mp);
    mp.n_threads = g->threads;
    mp.weights = g->mmap ? MODEL_WEIGHTS_MAPPED : MODEL_WEIGHTS_AUTO;
    mp.n_ctx = ctx;
    if ((st = model_open(gf, &mp, &m)) != STATUS_OK) {
        cli_status_error(path, st);
        goto out;
    }
    const char *base = strrchr(path, '/');
    p.model_name = base ? base + 1 : path;
    p.template_ask = t_ask;
    p.template_write = t_write;
    if (!have_context_sents)
        p.context_sents = agent_context_sents_load(gf, p.context_sents);
    struct agent_lm lm;
    agent_lm_from_model(m, &lm);
    if ((st = eval_agent_new(&lm, tk, &p, &cp, relations_db, &ea)) != STATUS_OK) {
        cli_status_error(path, st);
        goto out;
    }
    eval_agent_set_facts(ea, facts);
    struct backend_holder {
        struct eval_backend b;
    } bh;
    eval_agent_backend(ea, &bh.b);

    struct setup su = {
        .mode = mode_name, .model = path, .data = data, .split = split,
        .rel = mode == MODE_EDIT ? NULL : rel_info, .relations_db = relations_db,
        .facts = facts_path, .n_facts = facts ? synth_facts_count(facts) : 0,
        .model_bytes = model_bytes, .held_out = held_out, .sequential = sequential,
        .decodes = mode != MODE_PPL,
        .items = items, .ctx = lm.n_ctx, .p = &p, .cp = &cp,
    };
    struct progress pr = {mode == MODE_EDIT ? _("steps") : _("documents"),
                          isatty(STDERR_FILENO) != 0, -1};

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = eval_on_sigint;
    sigemptyset(&sa.sa_mask);
    eval_sig_flag = 0;
    eval_sig_target = ea;
    sigaction(SIGINT, &sa, &old);

    if (mode == MODE_WRITE) {
        if ((st = eval_write_score_new(&score)) == STATUS_OK)
            st = eval_write_run(&bh.b, docs, score, on_progress, &pr);
        if (st == STATUS_OK || st == STATUS_CANCELLED)
            report_write(&su, json, score, st == STATUS_OK);
    } else if (mode == MODE_EDIT) {
        struct eval_edit_tally t = {0};
        st = eval_edit_run(&bh.b, edits, sequential, &t, on_progress, &pr);
        if (st == STATUS_OK || st == STATUS_CANCELLED)
            report_edit(&su, json, &t, st == STATUS_OK);
    } else {
        struct eval_ppl with = {0}, without = {0};
        size_t done = 0, skipped = 0;
        st = STATUS_OK;
        for (size_t i = 0; i < items && st == STATUS_OK; i++) {
            struct eval_ppl w1 = {0}, w0 = {0};
            if ((st = eval_agent_fresh(ea)) != STATUS_OK)
                break;
            if ((st = eval_ppl_doc(&lm, tk, eval_agent_ctrl(ea), docs, i, &w1,
                                   &eval_sig_flag)) != STATUS_OK ||
                (st = eval_ppl_doc(&lm, tk, NULL, docs, i, &w0, &eval_sig_flag)) != STATUS_OK) {
                if (st != STATUS_LIMIT)
                    break;
                skipped++; /* longer than the context: left out of both runs */
                st = STATUS_OK;
                on_progress(&pr, done + skipped, items);
                continue;
            }
            for (int k = 0; k < EVAL_PPL_KINDS; k++) { /* only whole documents count */
                with.sum_logp[k] += w1.sum_logp[k];
                with.n[k] += w1.n[k];
                without.sum_logp[k] += w0.sum_logp[k];
                without.n[k] += w0.n[k];
            }
            done++;
            on_progress(&pr, done + skipped, items);
        }
        if (st == STATUS_OK || st == STATUS_CANCELLED)
            report_ppl(&su, json, &with, &without, done, skipped, st == STATUS_OK);
    }
    fflush(stdout);
    sigaction(SIGINT, &old, NULL);
    eval_sig_target = NULL;
    if (st == STATUS_CANCELLED) {
        fprintf(stderr, "%s\n", _("interrupted"));
        rc = CLI_EXIT_INTERRUPTED;
    } else if (st != STATUS_OK) {
        cli_status_error(mode_name, st);
    } else {
        rc = CLI_EXIT_OK;
    }
out:
    eval_agent_free(ea);
    eval_write_score_free(score);
    model_close(m);
    tok_free(tk);
    gguf_close(gf);
    free(t_ask);
    free(t_write);
    free(rel_default);
    free(relations_db);
    eval_docs_free(docs);
    eval_edits_free(edits);
    synth_facts_free(facts);
    return rc;
}
