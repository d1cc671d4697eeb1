/* train_data.c -- `memllm train-data redocred`: MemLLM training examples from Re-DocRED. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/synth.h"
#include "agent/traindata.h"
#include "cli/mem.h"
#include "cli/commands.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/i18n.h"

static void train_data_help(void)
{
    printf(_("Usage: %s train-data redocred --input=FILE --split=FILE --out-train=FILE\n"
             "                 --out-eval=FILE [OPTION]...\n"
             "  or:  %s train-data synthetic --out=FILE [OPTION]...\n"), PACKAGE, PACKAGE);
    puts(_("Turn Re-DocRED documents into MemLLM training examples, one JSON object per\n"
           "line: memory writes {\"kind\":\"write\",\"prompt\",\"completion\"} (one per\n"
           "sentence; the loss belongs on the completion) and memory reads\n"
           "{\"kind\":\"read\",\"text\",\"loss_from\",\"loss_spans\"} (character ranges\n"
           "that carry the loss).  Documents whose title hash is in the split file go to the\n"
           "evaluation file, all others to the training file.  When the split file does\n"
           "not exist it is created, holding out the last --eval-docs documents.\n"
           "See 'memllm train-data synthetic --help' for the synthetic examples."));
    putchar('\n');
    puts(_("  -i, --input=FILE         Re-DocRED JSON file (e.g. dev_revised.json)"));
    puts(_("      --rel-info=FILE      relation names (default: rel_info.json beside the\n"
           "                           input)"));
    puts(_("  -s, --split=FILE         held-out title hashes (read, or created)"));
    puts(_("      --eval-docs=N        documents to hold out when creating the split\n"
           "                           (default 100)"));
    puts(_("      --out-train=FILE     write the training examples here"));
    puts(_("      --out-eval=FILE      write the evaluation examples here"));
    puts(_("  -c, --context-sents=N    earlier sentences before each example (default 25)"));
    puts(_("      --no-writes          make no memory-write examples"));
    puts(_("      --no-reads           make no memory-read examples"));
    puts(_("      --read-to-sentence-end  end a read example with the sentence of its call\n"
           "                           (default: run on to the next read point)"));
    puts(_("      --reads-in-context   read only about partners mentioned within the\n"
           "                           --context-sents window (default: anywhere before)"));
    puts(_("  -t, --tokenizer=FILE     also count tokens with this GGUF vocabulary"));
    puts(_("  -h, --help               display this help and exit"));
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    if (!s[0] || s[0] == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

struct counts {
    size_t n_writes, n_reads;
    uint64_t tokens, loss_tokens;
    size_t max_tokens;
};

struct sink_ctx {
    FILE *train, *eval;
    const struct traindata_split *split;
    const struct traindata *td;
    struct tok *tok;
    int32_t *ids;
    size_t ids_cap;
    struct counts c[2]; /* train, eval */
};

/* The vocabulary of a GGUF file, for counting tokens. */
static enum status load_tok(const char *path, struct tok **out)
{
    struct gguf *m = NULL;
    enum status st = gguf_open(path, &m);
    if (st == STATUS_OK) {
        st = tok_from_gguf(m, out);
        gguf_close(m);
    }
    return st;
}

static enum status count_tokens(struct sink_ctx *k, const char *s, size_t len, size_t *n)
{
    size_t need = tok_encode_bound(len);
    if (need > k->ids_cap) {
        int32_t *ni = realloc(k->ids, need * sizeof *ni);
        if (!ni)
            return STATUS_NOMEM;
        k->ids = ni;
        k->ids_cap = need;
    }
    return tok_encode(k->tok, s, len, 0, k->ids, k->ids_cap, n);
}

/* Count ex into c (examples; tokens when a tokenizer is loaded). */
static enum status count_example(struct sink_ctx *k, struct counts *c,
                                 const struct traindata_example *ex)
{
    if (ex->kind == TRAINDATA_KIND_WRITE)
        c->n_writes++;
    else
        c->n_reads++;
    if (!k->tok)
        return STATUS_OK;
    /* Every boundary below sits next to a whole token ("({", "-->", "})"), so the pieces
     * encode as the whole text does (the trained vocabulary adds no space prefix). */
    size_t total = 0, loss = 0, n;
    enum status st;
    if (ex->kind == TRAINDATA_KIND_WRITE) {
        if ((st = count_tokens(k, ex->prompt, ex->prompt_len, &n)) != STATUS_OK)
            return st;
        total += n;
        if ((st = count_tokens(k, ex->completion, ex->completion_len, &n)) != STATUS_OK)
            return st;
        total += n;
        loss += n;
    } else {
        size_t at = 0;
        for (size_t i = 0; i <= ex->n_spans; i++) {
            size_t b = i < ex->n_spans ? ex->spans[i][0] : ex->text_len;
            if ((st = count_tokens(k, ex->text + at, b - at, &n)) != STATUS_OK)
                return st;
            total += n;
            if (i == ex->n_spans)
                break;
            size_t e = ex->spans[i][1];
            if ((st = count_tokens(k, ex->text + b, e - b, &n)) != STATUS_OK)
                return st;
            total += n;
            loss += n;
            at = e;
        }
    }
    c->tokens += total;
    c->loss_tokens += loss;
    if (total > c->max_tokens)
        c->max_tokens = total;
    return STATUS_OK;
}

static enum status sink(void *ctx, const struct traindata_example *ex)
{
    struct sink_ctx *k = ctx;
    bool eval = traindata_split_is_eval(k->split, k->td, ex->doc);
    traindata_example_write_json(eval ? k->eval : k->train, ex);
    return count_example(k, &k->c[eval], ex);
}

static enum status synth_sink(void *ctx, const struct traindata_example *ex)
{
    struct sink_ctx *k = ctx;
    traindata_example_write_json(k->train, ex);
    return count_example(k, &k->c[0], ex);
}

/* rel_info.json beside the input (owned). */
static char *default_rel_info(const char *input)
{
    const char *slash = strrchr(input, '/');
    size_t dir = slash ? (size_t)(slash - input) + 1 : 0;
    char *p = malloc(dir + sizeof "rel_info.json");
    if (p) {
        memcpy(p, input, dir);
        memcpy(p + dir, "rel_info.json", sizeof "rel_info.json");
    }
    return p;
}

/* ---- train-data synthetic -------------------------------------------------------------- */

static void synthetic_help(void)
{
    printf(_("Usage: %s train-data synthetic --out=FILE [OPTION]...\n"), PACKAGE);
    puts(_("Write synthetic MemLLM training examples, one JSON object per line, about\n"
           "invented entities (fresh names in every example, so that names must be copied)\n"
           "and real seed facts: memory writes of sentences in many phrasings (one or two\n"
           "facts, no fact, a question with its answer), questions answered through a\n"
           "MEM_READ call whose result the answer quotes, subject-missing queries, reads\n"
           "inside statements, and \"I do not know.\" after an empty read.  Questions use\n"
           "the ask template \"Q: {question}\\nA:\" and writes one earlier sentence of\n"
           "context; the model trained on them should carry those settings (see\n"
           "'memllm train --help', --meta)."));
    putchar('\n');
    puts(_("  -o, --out=FILE           write the training examples here"));
    puts(_("  -n, --examples=N         examples to make (default 100000)"));
    puts(_("      --seed=N             random seed (default 1)"));
    puts(_("      --facts=FILE         real facts, subject<TAB>relation<TAB>object\n"
           "                           (default: the bundled seed-facts.tsv)"));
    puts(_("      --no-facts           use invented entities only"));
    puts(_("      --write-share=X      share of memory-write examples (default 0.45)"));
    puts(_("      --real-share=X       share of examples about real facts (default 0.2)"));
    puts(_("      --zsre-out=FILE      also write knowledge-editing records\n"
           "                           {src, alt, rephrase, loc, loc_ans, subject} about\n"
           "                           invented entities and held-out real facts, with\n"
           "                           rephrasings unlike any training question"));
    puts(_("      --zsre-records=N     records for --zsre-out (default 200)"));
    puts(_("      --docred-out=FILE    also write short documents about invented entities\n"
           "                           in the Re-DocRED JSON format (for 'memllm eval ppl')"));
    puts(_("      --docred-docs=N      documents for --docred-out (default 200)"));
    puts(_("  -t, --tokenizer=FILE     also count tokens with this GGUF vocabulary"));
    puts(_("  -h, --help               display this help and exit"));
}

static bool parse_share(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

static int synthetic_run(const struct opts *g, int argc, char **argv)
{
    static const struct option lo[] = {{"out", required_argument, NULL, 'o'},
                                       {"examples", required_argument, NULL, 'n'},
                                       {"seed", required_argument, NULL, 'S'},
                                       {"facts", required_argument, NULL, 'f'},
                                       {"no-facts", no_argument, NULL, 'F'},
                                       {"write-share", required_argument, NULL, 'w'},
                                       {"real-share", required_argument, NULL, 'r'},
                                       {"zsre-out", required_argument, NULL, 'z'},
                                       {"zsre-records", required_argument, NULL, 'Z'},
                                       {"docred-out", required_argument, NULL, 'D'},
                                       {"docred-docs", required_argument, NULL, 'N'},
                                       {"tokenizer", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    struct synth_params p;
    synth_params_init(&p);
    const char *out = NULL, *facts_path = NULL, *zsre_out = NULL, *tok_path = NULL;
    const char *docred_out = NULL;
    size_t n_docred = 200;
    bool no_facts = false;
    size_t n_zsre = 200, seed;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "o:n:t:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'n':
            if (!parse_size(optarg, &p.n_examples))
                return cli_usage_error("train-data", _("train-data: --examples needs a number, "
                                                       "not '%s'"), optarg);
            break;
        case 'S':
            if (!parse_size(optarg, &seed))
                return cli_usage_error("train-data", _("train-data: --seed needs a number, not "
                                                       "'%s'"), optarg);
            p.seed = seed;
            break;
        case 'f':
            facts_path = optarg;
            break;
        case 'F':
            no_facts = true;
            break;
        case 'w':
            if (!parse_share(optarg, &p.write_share))
                return cli_usage_error("train-data", _("train-data: --write-share needs a number "
                                                       "from 0 to 1, not '%s'"), optarg);
            break;
        case 'r':
            if (!parse_share(optarg, &p.real_share))
                return cli_usage_error("train-data", _("train-data: --real-share needs a number "
                                                       "from 0 to 1, not '%s'"), optarg);
            break;
        case 'z':
            zsre_out = optarg;
            break;
        case 'Z':
            if (!parse_size(optarg, &n_zsre))
                return cli_usage_error("train-data", _("train-data: --zsre-records needs a "
                                                       "number, not '%s'"), optarg);
            break;
        case 'D':
            docred_out = optarg;
            break;
        case 'N':
            if (!parse_size(optarg, &n_docred))
                return cli_usage_error("train-data", _("train-data: --docred-docs needs a "
                                                       "number, not '%s'"), optarg);
            break;
        case 't':
            tok_path = optarg;
            break;
        case 'h':
            synthetic_help();
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("train-data", _("train-data: unrecognized option '%s'"),
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("train-data", _("train-data: unexpected argument '%s'"),
                               argv[optind]);
    if (!out)
        return cli_usage_error("train-data", "%s", _("train-data: synthetic needs --out"));
    if (p.write_share + p.unknown_share + p.inline_share > 1.0)
        return cli_usage_error("train-data", "%s", _("train-data: --write-share is too large "
                                                     "(at most 0.83)"));

    int rc = CLI_EXIT_FAILURE;
    char *facts_owned = NULL;
    struct synth_facts *facts = NULL;
    struct sink_ctx k = {0};
    FILE *zf = NULL;
    enum status st;
    if (!no_facts && !facts_path && !(facts_path = facts_owned = cli_mem_data_file("seed-facts.tsv"))) {
        cli_error("%s", _("train-data: the bundled seed-facts.tsv was not found; name one with "
                          "--facts or use --no-facts"));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (!no_facts && (st = synth_facts_read(facts_path, &facts)) != STATUS_OK) {
        cli_status_error(facts_path, st);
        rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    if (tok_path && (st = load_tok(tok_path, &k.tok)) != STATUS_OK) {
        cli_status_error(tok_path, st);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (!(k.train = fopen(out, "w"))) {
        cli_error("%s: %s", out, strerror(errno));
        goto done;
    }
    if ((st = synth_generate(&p, facts, synth_sink, &k)) != STATUS_OK) {
        cli_status_error(_("train-data"), st);
        goto done;
    }
    bool werr = fclose(k.train) != 0;
    k.train = NULL;
    if (werr) {
        cli_error("%s: %s", out, strerror(errno));
        goto done;
    }
    if (zsre_out) {
        if (!(zf = fopen(zsre_out, "w"))) {
            cli_error("%s: %s", zsre_out, strerror(errno));
            goto done;
        }
        if ((st = synth_zsre_write(p.seed, n_zsre, facts, zf)) != STATUS_OK) {
            cli_status_error(zsre_out, st);
            goto done;
        }
        werr = fclose(zf) != 0;
        zf = NULL;
        if (werr) {
            cli_error("%s: %s", zsre_out, strerror(errno));
            goto done;
        }
    }
    if (docred_out) {
        if (!(zf = fopen(docred_out, "w"))) {
            cli_error("%s: %s", docred_out, strerror(errno));
            goto done;
        }
        if ((st = synth_docred_write(p.seed, n_docred, zf)) != STATUS_OK) {
            cli_status_error(docred_out, st);
            goto done;
        }
        werr = fclose(zf) != 0;
        zf = NULL;
        if (werr) {
            cli_error("%s: %s", docred_out, strerror(errno));
            goto done;
        }
    }
    if (g->json) {
        printf("{\"writes\":%zu,\"reads\":%zu", k.c[0].n_writes, k.c[0].n_reads);
        if (k.tok)
            printf(",\"tokens\":%llu,\"loss_tokens\":%llu,\"max_tokens\":%zu",
                   (unsigned long long)k.c[0].tokens, (unsigned long long)k.c[0].loss_tokens,
                   k.c[0].max_tokens);
        puts("}");
    } else {
        printf(_("%s: %zu write examples, %zu read examples\n"), out, k.c[0].n_writes,
               k.c[0].n_reads);
        if (k.tok)
            printf(_("%s: %llu tokens, %llu with loss, longest example %zu tokens\n"), out,
                   (unsigned long long)k.c[0].tokens, (unsigned long long)k.c[0].loss_tokens,
                   k.c[0].max_tokens);
    }
    if (fflush(stdout) != 0) {
        cli_error(_("train-data: cannot write the output"));
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    if (k.train)
        fclose(k.train);
    if (zf)
        fclose(zf);
    free(k.ids);
    tok_free(k.tok);
    synth_facts_free(facts);
    free(facts_owned);
    return rc;
}

int cli_train_data_run(const struct opts *g, int argc, char **argv)
{
    static const struct option lo[] = {{"input", required_argument, NULL, 'i'},
                                       {"rel-info", required_argument, NULL, 'r'},
                                       {"split", required_argument, NULL, 's'},
                                       {"eval-docs", required_argument, NULL, 'e'},
                                       {"out-train", required_argument, NULL, 'T'},
                                       {"out-eval", required_argument, NULL, 'E'},
                                       {"context-sents", required_argument, NULL, 'c'},
                                       {"no-writes", no_argument, NULL, 'W'},
                                       {"no-reads", no_argument, NULL, 'R'},
                                       {"read-to-sentence-end", no_argument, NULL, 'S'},
                                       {"reads-in-context", no_argument, NULL, 'P'},
                                       {"tokenizer", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    if (argc > 1 && strcmp(argv[1], "synthetic") == 0)
        return synthetic_run(g, argc - 1, argv + 1);
    struct traindata_params p;
    traindata_params_init(&p);
    const char *input = NULL, *rel = NULL, *split_path = NULL, *out_train = NULL;
    const char *out_eval = NULL, *tok_path = NULL;
    size_t n_eval = 100;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "i:s:c:t:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'i':
            input = optarg;
            break;
        case 'r':
            rel = optarg;
            break;
        case 's':
            split_path = optarg;
            break;
        case 'e':
            if (!parse_size(optarg, &n_eval))
                return cli_usage_error("train-data", _("train-data: --eval-docs needs a number, not '%s'"),
                                   optarg);
            break;
        case 'T':
            out_train = optarg;
            break;
        case 'E':
            out_eval = optarg;
            break;
        case 'c':
            if (!parse_size(optarg, &p.context_sents))
                return cli_usage_error("train-data", _("train-data: --context-sents needs a number, not '%s'"),
                                   optarg);
            break;
        case 'W':
            p.writes = false;
            break;
        case 'R':
            p.reads = false;
            break;
        case 'S':
            p.read_to_sentence_end = true;
            break;
        case 'P':
            p.read_partner_in_context = true;
            break;
        case 't':
            tok_path = optarg;
            break;
        case 'h':
            train_data_help();
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("train-data", _("train-data: unrecognized option '%s'"), argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("train-data", "%s", _("train-data: name the dataset format (redocred or synthetic)"));
    if (strcmp(argv[optind], "redocred") != 0)
        return cli_usage_error("train-data", _("train-data: unknown dataset format '%s' (known: redocred, synthetic)"),
                           argv[optind]);
    if (optind + 1 < argc)
        return cli_usage_error("train-data", _("train-data: unexpected argument '%s'"), argv[optind + 1]);
    if (!input || !split_path || !out_train || !out_eval)
        return cli_usage_error("train-data", "%s", _("train-data: --input, --split, --out-train and --out-eval "
                                   "are required"));

    int rc = CLI_EXIT_FAILURE;
    char *rel_owned = NULL;
    struct traindata *td = NULL;
    struct traindata_split *split = NULL;
    struct sink_ctx k = {0};
    enum status st;
    if (!rel && !(rel = rel_owned = default_rel_info(input))) {
        cli_status_error("train-data", STATUS_NOMEM);
        goto done;
    }
    if ((st = traindata_open(input, rel, &td)) != STATUS_OK) {
        cli_status_error(_("train-data"), st);
        rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    if (access(split_path, F_OK) == 0) {
        st = traindata_split_read(split_path, &split);
    } else {
        char comment[512];
        const char *base = strrchr(input, '/');
        snprintf(comment, sizeof comment,
                 "memllm train-data split: the first %d hex digits of SHA-256(title) of each\n"
                 "held-out document: the last %zu of the %zu documents of %s, in file order.",
                 TRAINDATA_HASH_HEX, n_eval < traindata_n_docs(td) ? n_eval :
                 traindata_n_docs(td), traindata_n_docs(td), base ? base + 1 : input);
        st = traindata_split_last(td, n_eval, &split);
        if (st == STATUS_OK)
            st = traindata_split_write(split, split_path, comment);
        if (st == STATUS_OK && !g->json)
            printf(_("created the split %s (%zu held-out documents)\n"), split_path,
                   traindata_split_size(split));
    }
    if (st != STATUS_OK) {
        cli_status_error(split_path, st);
        rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    if (tok_path && (st = load_tok(tok_path, &k.tok)) != STATUS_OK) {
        cli_status_error(tok_path, st);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    k.train = fopen(out_train, "w");
    if (!k.train) {
        cli_error("%s: %s", out_train, strerror(errno));
        goto done;
    }
    k.eval = fopen(out_eval, "w");
    if (!k.eval) {
        cli_error("%s: %s", out_eval, strerror(errno));
        goto done;
    }
    k.split = split;
    k.td = td;
    struct traindata_stats stats = {0};
    size_t docs[2] = {0, 0}, sents[2] = {0, 0};
    for (size_t i = 0; i < traindata_n_docs(td); i++) {
        bool ev = traindata_split_is_eval(split, td, i);
        docs[ev]++;
        sents[ev] += traindata_doc_n_sents(td, i);
        if ((st = traindata_doc_examples(td, i, &p, sink, &k, &stats)) != STATUS_OK) {
            cli_status_error(_("train-data"), st);
            goto done;
        }
    }
    bool werr = fclose(k.train) != 0;
    k.train = NULL;
    if (werr) {
        cli_error("%s: %s", out_train, strerror(errno));
        goto done;
    }
    werr = fclose(k.eval) != 0;
    k.eval = NULL;
    if (werr) {
        cli_error("%s: %s", out_eval, strerror(errno));
        goto done;
    }
    if (g->json) {
        printf("{\"docs\":[%zu,%zu],\"sentences\":[%zu,%zu],\"writes\":[%zu,%zu],"
               "\"reads\":[%zu,%zu],\"write_triples\":%zu,\"labels\":%zu,"
               "\"labels_written\":%zu,\"triples_skipped\":%zu,\"read_queries\":%zu,"
               "\"reads_skipped_copyable\":%zu",
               docs[0], docs[1], sents[0], sents[1], k.c[0].n_writes, k.c[1].n_writes,
               k.c[0].n_reads, k.c[1].n_reads, stats.n_write_triples, stats.n_labels,
               stats.n_labels_written, stats.n_triples_skipped, stats.n_read_queries,
               stats.n_reads_skipped_copyable);
        if (k.tok)
            printf(",\"tokens\":[%llu,%llu],\"loss_tokens\":[%llu,%llu],\"max_tokens\":[%zu,%zu]",
                   (unsigned long long)k.c[0].tokens, (unsigned long long)k.c[1].tokens,
                   (unsigned long long)k.c[0].loss_tokens,
                   (unsigned long long)k.c[1].loss_tokens, k.c[0].max_tokens,
                   k.c[1].max_tokens);
        puts("}");
    } else {
        for (int s = 0; s < 2; s++) {
            /* TRANSLATORS: %s is "train" or "eval" (not translated: they name files) */
            printf(_("%s: %zu documents, %zu sentences: %zu write examples, %zu read "
                     "examples\n"), s ? "eval" : "train", docs[s], sents[s], k.c[s].n_writes,
                   k.c[s].n_reads);
            if (k.tok)
                printf(_("%s: %llu tokens, %llu with loss, longest example %zu tokens\n"),
                       s ? "eval" : "train", (unsigned long long)k.c[s].tokens,
                       (unsigned long long)k.c[s].loss_tokens, k.c[s].max_tokens);
        }
        printf(_("writes: %zu triples (%zu of %zu gold labels used, %zu left out for their "
                 "names); reads: %zu queries (%zu targets skipped: already in the text)\n"),
               stats.n_write_triples, stats.n_labels_written, stats.n_labels,
               stats.n_triples_skipped, stats.n_read_queries, stats.n_reads_skipped_copyable);
    }
    if (fflush(stdout) != 0) {
        cli_error(_("train-data: cannot write the output"));
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    if (k.train)
        fclose(k.train);
    if (k.eval)
        fclose(k.eval);
    free(k.ids);
    tok_free(k.tok);
    traindata_split_free(split);
    traindata_free(td);
    free(rel_owned);
    return rc;
}
