/* lora_merge.c -- `memllm lora-merge`: fold LoRA adapters into a base model's weights. */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/lora.h"
#include "engine/quant.h"
#include "util/i18n.h"
#include "util/timing.h"

#define LM_MAX_LORAS 64

static void lm_help(void)
{
    printf(_("Usage: %s lora-merge --base FILE --lora FILE[:SCALE]... --out FILE [OPTION]...\n"),
           PACKAGE);
    puts(_("Add the changes of one or more LoRA adapters (llama.cpp's adapter GGUF files) to\n"
           "a base model's weights and write the result as a new GGUF model.  Each changed\n"
           "tensor is converted to 32-bit floats, gets scale * B A added and is converted\n"
           "back to its own type (or --type); all other tensors and all metadata are\n"
           "copied unchanged.  The scale is SCALE * alpha / rank (SCALE when the adapter\n"
           "has no alpha); SCALE is 1 when not given and may be negative.  Progress goes\n"
           "to standard error."));
    putchar('\n');
    puts(_("  -b, --base=FILE            the base model (default: the global --model)"));
    puts(_("  -l, --lora=FILE[:SCALE]    an adapter and its scale (repeatable)"));
    puts(_("  -o, --out=FILE             the merged model to write (replaced atomically)"));
    puts(_("  -t, --type=TYPE            write changed tensors as F32, F16, BF16, Q8_0,\n"
           "                             Q4_0, Q4_K, Q5_K or Q6_K instead of their own type"));
    puts(_("  -q, --quiet                no progress lines"));
    puts(_("  -h, --help                 display this help and exit"));
}

struct lm_args {
    const char *base, *out;
    const char *loras[LM_MAX_LORAS];
    size_t n_loras;
    int type;
    bool quiet;
};

/* Returns -1 to go on, else the exit code. */
static int lm_parse(const struct opts *g, int argc, char **argv, struct lm_args *a)
{
    static const struct option longopts[] = {
        {"base", required_argument, NULL, 'b'}, {"lora", required_argument, NULL, 'l'},
        {"out", required_argument, NULL, 'o'},  {"type", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->type = -1;
    opterr = 0;
    optind = 0; /* GNU: full re-initialisation, scanning from argv[1] */
    int c;
    while ((c = getopt_long(argc, argv, "+:b:l:o:t:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            a->base = optarg;
            break;
        case 'l':
            if (a->n_loras == LM_MAX_LORAS) {
                /* TRANSLATORS: %d is the most --lora options allowed */
                cli_error(_("lora-merge: at most %d --lora options"), LM_MAX_LORAS);
                cli_try_help("lora-merge");
                return CLI_EXIT_USAGE;
            }
            a->loras[a->n_loras++] = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 't':
            a->type = dtype_from_name(optarg);
            if (a->type < 0 || !quant_weight_supported((enum dtype)a->type)) {
                /* TRANSLATORS: %s is the value given to --type */
                cli_error(_("lora-merge: invalid value for --type: '%s'"), optarg);
                cli_try_help("lora-merge");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            lm_help();
            return CLI_EXIT_OK;
        case ':':
            cli_error(_("lora-merge: option '%s' needs an argument"), argv[optind - 1]);
            cli_try_help("lora-merge");
            return CLI_EXIT_USAGE;
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            cli_error(_("lora-merge: unrecognized option '%s'"), optopt ? so : argv[optind - 1]);
            cli_try_help("lora-merge");
            return CLI_EXIT_USAGE;
        }
        }
    }
    if (optind < argc) {
        cli_error(_("lora-merge: unexpected argument '%s'"), argv[optind]);
        cli_try_help("lora-merge");
        return CLI_EXIT_USAGE;
    }
    if (!a->base)
        a->base = g->model_path;
    const char *missing = !a->base ? "--base" : a->n_loras == 0 ? "--lora" : !a->out ? "--out"
                                                                                      : NULL;
    if (missing) {
        /* TRANSLATORS: %s is an option name such as --base */
        cli_error(_("lora-merge: %s is required"), missing);
        cli_try_help("lora-merge");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

static void lm_progress(void *ud, size_t done, size_t total, const char *tensor)
{
    (void)ud;
    /* TRANSLATORS: progress line: tensors merged so far, total, tensor name */
    fprintf(stderr, _("lora-merge: [%zu/%zu] %s\n"), done, total, tensor);
}

int cli_lora_merge_run(const struct opts *g, int argc, char **argv)
{
    struct lm_args a;
    int rc = lm_parse(g, argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct lora_spec specs[LM_MAX_LORAS];
    size_t n_specs = 0;
    struct gguf *base = NULL;
    struct lora_set *set = NULL;
    uint64_t t0 = timing_now_ns();
    enum status st;
    /* check every spec before the (possibly long) loading */
    for (size_t i = 0; i < a.n_loras; i++) {
        st = lora_spec_parse(a.loras[i], &specs[n_specs]);
        if (st != STATUS_OK) {
            cli_status_error("lora-merge", st);
            cli_try_help("lora-merge");
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        n_specs++;
    }
    st = gguf_open(a.base, &base);
    if (st != STATUS_OK) {
        cli_status_error(a.base, st);
        rc = CLI_EXIT_FAILURE;
        goto out;
    }
    st = lora_set_new(&set);
    if (st != STATUS_OK)
        cli_status_error("lora-merge", st);
    for (size_t i = 0; i < n_specs && st == STATUS_OK; i++) {
        st = lora_set_load(set, &specs[i], base);
        if (st != STATUS_OK)
            cli_status_error("lora-merge", st); /* the detail names the file */
    }
    if (st == STATUS_OK) {
        struct lora_merge_params p;
        lora_merge_params_init(&p);
        p.out_type = a.type;
        if (!a.quiet)
            p.progress = lm_progress;
        st = lora_merge_write(base, set, &p, a.out);
        if (st != STATUS_OK)
            cli_status_error(a.out, st);
    }
    if (st == STATUS_OK && !a.quiet)
        /* TRANSLATORS: output file, then counts of changed tensors and adapters, seconds */
        fprintf(stderr, _("lora-merge: wrote %s (tensors changed: %zu, adapters: %zu) in %.1f s\n"),
                a.out, lora_set_n_tensors(set), lora_set_n_adapters(set), timing_since_s(t0));
    rc = st == STATUS_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
out:
    lora_set_free(set);
    gguf_close(base);
    for (size_t i = 0; i < n_specs; i++)
        lora_spec_clear(&specs[i]);
    return rc;
}
