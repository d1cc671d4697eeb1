/* quantize.c -- `memllm quantize IN OUT TYPE`: convert a model's weights. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "engine/gguf.h"
#include "engine/quantize.h"
#include "util/i18n.h"
#include "util/timing.h"

static void qz_help(void)
{
    printf(_("Usage: %s quantize [OPTION]... IN OUT TYPE\n"), PACKAGE);
    puts(_("Convert the weights of the GGUF model IN to TYPE and write the result to OUT.\n"
           "Q4_K_M and Q5_K_M are llama.cpp's mixed recipes: the output head and some\n"
           "attn_v and ffn_down weights get 6 bits.  Norm weights stay 32-bit floats;\n"
           "metadata is copied.  OUT is replaced atomically."));
    printf(_("TYPE is one of: %s\n"), quantize_ftype_names());
    putchar('\n');
    puts(_("  -q, --quiet          no progress lines"));
    puts(_("      --meta=KEY=TEXT  set a string in OUT's metadata (repeatable)"));
    puts(_("      --meta-u32=KEY=N, --meta-f32=KEY=X  set an integer or a real number"));
    puts(_("  -h, --help           display this help and exit"));
}

static void qz_progress(void *user, size_t done, size_t total, const char *tensor,
                        enum dtype from, enum dtype to)
{
    (void)user;
    if (!tensor)
        return;
    /* TRANSLATORS: progress: tensor number, total, name, old type -> new type */
    fprintf(stderr, _("quantize: [%zu/%zu] %s %s -> %s\n"), done + 1, total, tensor,
            dtype_name(from) ? dtype_name(from) : "?", dtype_name(to) ? dtype_name(to) : "?");
}

static enum status qz_meta(void *user, struct gguf_writer *w)
{
    return cli_meta_apply(user, w);
}

int cli_quantize_run(const struct opts *g, int argc, char **argv)
{
    (void)g;
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"meta", required_argument, NULL, 'M'},
        {"meta-u32", required_argument, NULL, 'U'},
        {"meta-f32", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    struct cli_meta meta = {0};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'M':
        case 'U':
        case 'F':
            if (!cli_meta_add(&meta, c == 'M' ? CLI_META_STR : c == 'U' ? CLI_META_U32
                                                                        : CLI_META_F32,
                              optarg)) {
                cli_error(_("quantize: invalid metadata '%s' (KEY=VALUE of the option's "
                            "type)"), optarg);
                cli_try_help("quantize");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            qz_help();
            return CLI_EXIT_OK;
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            cli_error(_("quantize: unrecognized option '%s'"), optopt ? so : argv[optind - 1]);
            cli_try_help("quantize");
            return CLI_EXIT_USAGE;
        }
        }
    }
    if (argc - optind != 3) {
        cli_error(_("quantize: expected IN OUT TYPE"));
        cli_try_help("quantize");
        return CLI_EXIT_USAGE;
    }
    const char *in_path = argv[optind], *out_path = argv[optind + 1];
    struct quantize_params p = {0};
    enum status st = quantize_ftype_parse(argv[optind + 2], &p.ftype);
    if (st != STATUS_OK) {
        cli_status_error("quantize", st);
        cli_try_help("quantize");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(in_path, out_path) == 0) {
        cli_error(_("quantize: IN and OUT must be different files"));
        return CLI_EXIT_USAGE;
    }
    struct gguf *in = NULL;
    uint64_t t0 = timing_now_ns();
    st = gguf_open(in_path, &in);
    if (st != STATUS_OK) {
        cli_status_error(in_path, st);
        return st == STATUS_IO || st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    if (!quiet)
        p.progress = qz_progress;
    if (meta.n) {
        p.edit_kv = qz_meta;
        p.user = &meta;
    }
    st = quantize_file(in, &p, out_path);
    gguf_close(in);
    if (st != STATUS_OK) {
        cli_status_error(out_path, st);
        return CLI_EXIT_FAILURE;
    }
    if (!quiet)
        /* TRANSLATORS: output file, type, seconds */
        fprintf(stderr, _("quantize: wrote %s (%s) in %.1f s\n"), out_path,
                quantize_ftype_name(p.ftype), timing_since_s(t0));
    return CLI_EXIT_OK;
}
