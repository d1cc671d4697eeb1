/* train_tokenizer.c -- `memllm train-tokenizer`: learn a BPE vocabulary, write a GGUF tokenizer. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "engine/bpe_train.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/timing.h"

static void train_tokenizer_help(void)
{
    printf(_("Usage: %s train-tokenizer --vocab-size=N --out=FILE [OPTION]... FILE...\n"),
           PACKAGE);
    puts(_("Learn a SentencePiece-style BPE vocabulary from the texts in FILE... and write it\n"
           "as a GGUF tokenizer (tokenizer.ggml.model \"llama\", byte fallback, no space\n"
           "prefix).  A file is either plain UTF-8 text or JSON lines whose \"text\" (or\n"
           "\"prompt\" + \"completion\") strings are the texts.  The tokens '({', '})' and\n"
           "'-->' are always single tokens."));
    putchar('\n');
    puts(_("  -n, --vocab-size=N       tokens in the vocabulary (default 4096)"));
    puts(_("  -o, --out=FILE           write the GGUF tokenizer to FILE"));
    puts(_("  -u, --user-token=TEXT    also keep TEXT as one token (repeatable)"));
    puts(_("      --char-coverage=X    share of character occurrences that get their own\n"
           "                           piece; rarer ones use byte tokens (default 0.9995)"));
    puts(_("      --min-freq=N         merge only pairs seen at least N times (default 2)"));
    puts(_("      --format=FMT         input format: auto, plain or jsonl (default auto)"));
    puts(_("  -h, --help               display this help and exit"));
}

static bool parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s[0] || s[0] == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

int cli_train_tokenizer_run(const struct opts *g, int argc, char **argv)
{
    static const struct option lo[] = {{"vocab-size", required_argument, NULL, 'n'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"user-token", required_argument, NULL, 'u'},
                                       {"char-coverage", required_argument, NULL, 'c'},
                                       {"min-freq", required_argument, NULL, 'm'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    struct bpe_train_params p;
    bpe_train_params_init(&p);
    const char *out = NULL;
    const char *user[BPE_TRAIN_MAX_USER_TOKENS];
    size_t n_user = 0;
    enum bpe_input fmt = BPE_INPUT_AUTO;
    unsigned long long v;
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, ":n:o:u:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (!parse_count(optarg, TOK_MAX_VOCAB, &v))
                return cli_usage_error("train-tokenizer", _("train-tokenizer: --vocab-size needs a number, not '%s'"),
                                   optarg);
            p.vocab_size = (size_t)v;
            break;
        case 'o':
            out = optarg;
            break;
        case 'u':
            if (n_user == BPE_TRAIN_MAX_USER_TOKENS)
                return cli_usage_error("train-tokenizer", _("train-tokenizer: too many user tokens ('%s')"), optarg);
            user[n_user++] = optarg;
            break;
        case 'c': {
            char *end;
            errno = 0;
            double c = strtod(optarg, &end);
            if (errno || *end || !(c > 0.0 && c <= 1.0))
                return cli_usage_error("train-tokenizer", _("train-tokenizer: --char-coverage needs a number in "
                                     "(0, 1], not '%s'"), optarg);
            p.char_coverage = c;
            break;
        }
        case 'm':
            if (!parse_count(optarg, UINT64_MAX, &v) || v == 0)
                return cli_usage_error("train-tokenizer", _("train-tokenizer: --min-freq needs a positive number, "
                                     "not '%s'"), optarg);
            p.min_freq = v;
            break;
        case 'f':
            if (strcmp(optarg, "auto") == 0)
                fmt = BPE_INPUT_AUTO;
            else if (strcmp(optarg, "plain") == 0)
                fmt = BPE_INPUT_PLAIN;
            else if (strcmp(optarg, "jsonl") == 0)
                fmt = BPE_INPUT_JSONL;
            else
                return cli_usage_error("train-tokenizer", _("train-tokenizer: unknown format '%s' (auto, plain, "
                                     "jsonl)"), optarg);
            break;
        case 'h':
            train_tokenizer_help();
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error("train-tokenizer", _("train-tokenizer: option '%s' needs an argument"),
                               argv[optind - 1]);
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            return cli_usage_error("train-tokenizer", _("train-tokenizer: unrecognized option '%s'"),
                               optopt ? so : argv[optind - 1]);
        }
        }
    }
    if (!out)
        return cli_usage_error("train-tokenizer", "%s", _("train-tokenizer: --out=FILE is required"));
    if (optind >= argc)
        return cli_usage_error("train-tokenizer", "%s", _("train-tokenizer: no input files"));
    p.user_tokens = user;
    p.n_user_tokens = n_user;

    int rc = CLI_EXIT_FAILURE;
    struct bpe_trainer *t = NULL;
    struct gguf_writer *w = NULL;
    struct tok *tk = NULL;
    uint64_t t0 = timing_now_ns();
    enum status st = bpe_trainer_new(&p, &t);
    if (st != STATUS_OK) {
        cli_status_error("train-tokenizer", st);
        return st == STATUS_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    for (int i = optind; i < argc; i++) {
        if ((st = bpe_trainer_add_file(t, argv[i], fmt)) != STATUS_OK) {
            cli_status_error(argv[i], st);
            rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
            goto done;
        }
    }
    if ((st = bpe_trainer_train(t)) != STATUS_OK) {
        cli_status_error("train-tokenizer", st);
        goto done;
    }
    size_t n_checked = 0, n_bad = 0;
    if ((st = bpe_trainer_tok(t, &tk)) != STATUS_OK ||
        (st = bpe_trainer_check(t, tk, &n_checked, &n_bad)) != STATUS_OK ||
        (st = gguf_writer_new(&w)) != STATUS_OK ||
        (st = gguf_writer_set_str(w, "general.name", "memllm BPE tokenizer")) != STATUS_OK ||
        (st = bpe_trainer_to_writer(t, w)) != STATUS_OK) {
        cli_status_error("train-tokenizer", st);
        goto done;
    }
    if ((st = gguf_writer_write(w, out)) != STATUS_OK) {
        cli_status_error(out, st);
        goto done;
    }
    double secs = timing_since_s(t0);
    struct bpe_train_stats s;
    bpe_trainer_stats(t, &s);
    if (g->json) {
        fputs("{\"out\":", stdout);
        json_write_str(stdout, out, strlen(out));
        printf(",\"n_vocab\":%zu,\"n_chars\":%zu,\"n_chars_seen\":%zu,\"n_merges\":%zu,"
               "\"n_bytes\":%llu,\"n_words\":%llu,\"n_distinct_words\":%zu,"
               "\"check_mismatches\":%zu,\"seconds\":%.3f}\n",
               s.n_vocab, s.n_chars, s.n_chars_seen, s.n_merges,
               (unsigned long long)s.n_bytes, (unsigned long long)s.n_words, s.n_distinct,
               n_bad, secs);
    } else {
        printf(_("%s: %zu tokens (%zu of %zu characters, %zu merges) from %llu bytes, "
                 "%llu words (%zu distinct) in %.2f s\n"),
               out, s.n_vocab, s.n_chars, s.n_chars_seen, s.n_merges,
               (unsigned long long)s.n_bytes, (unsigned long long)s.n_words, s.n_distinct,
               secs);
        printf(_("check: %zu of %zu training words encode differently from their training "
                 "segmentation\n"), n_bad, n_checked);
    }
    if (fflush(stdout) != 0) {
        cli_error(_("train-tokenizer: cannot write the output"));
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    tok_free(tk);
    gguf_writer_free(w);
    bpe_trainer_free(t);
    return rc;
}
