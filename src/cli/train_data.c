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

#include "agent/traindata.h"
#include "cli/commands.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/i18n.h"

static void train_data_help(void)
{
    printf(_("Usage: %s train-data redocred --input=FILE --split=FILE --out-train=FILE\n"
             "                 --out-eval=FILE [OPTION]...\n"), PACKAGE);
    puts(_("Turn Re-DocRED documents into MemLLM training examples, one JSON object per\n"
           "line: memory writes {\"kind\":\"write\",\"prompt\",\"completion\"} (one per\n"
           "sentence; the loss belongs on the completion) and memory reads\n"
           "{\"kind\":\"read\",\"text\",\"loss_from\",\"loss_spans\"} (character ranges\n"
           "that carry the loss).  Documents whose title hash is in the split file go to the\n"
           "evaluation file, all others to the training file.  When the split file does\n"
           "not exist it is created, holding out the last --eval-docs documents."));
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

static enum status sink(void *ctx, const struct traindata_example *ex)
{
    struct sink_ctx *k = ctx;
    bool eval = traindata_split_is_eval(k->split, k->td, ex->doc);
    struct counts *c = &k->c[eval];
    traindata_example_write_json(eval ? k->eval : k->train, ex);
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
        return cli_usage_error("train-data", "%s", _("train-data: name the dataset format (redocred)"));
    if (strcmp(argv[optind], "redocred") != 0)
        return cli_usage_error("train-data", _("train-data: unknown dataset format '%s' (known: redocred)"),
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
    if (tok_path) {
        struct gguf *m = NULL;
        st = gguf_open(tok_path, &m);
        if (st == STATUS_OK) {
            st = tok_from_gguf(m, &k.tok);
            gguf_close(m);
        }
        if (st != STATUS_OK) {
            cli_status_error(tok_path, st);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
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
