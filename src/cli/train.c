/* train.c -- `memllm train`: train a model from scratch or continue a GGUF, with checkpoints. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "engine/train.h"
#include "util/i18n.h"
#include "util/timing.h"

static volatile sig_atomic_t train_interrupted;

static void train_on_sigint(int sig)
{
    (void)sig;
    train_interrupted = 1;
}

static void train_help(void)
{
    printf(_("Usage: %s train [OPTION]... --data FILE --out MODEL.gguf\n"), PACKAGE);
    printf(_("  or:  %s train --init BASE.gguf --lora-rank=N [OPTION]... --data FILE\n"
             "                    --out ADAPTER.gguf\n"), PACKAGE);
    puts(_("Train a Llama/Mistral model on JSON lines ({\"text\": ..., \"loss_from\": N,\n"
           "\"loss_spans\": [[BEGIN, END], ...]} or {\"prompt\": ..., \"completion\": ...}),\n"
           "from scratch with the vocabulary of --vocab-from, or continuing --init; or\n"
           "finetune LoRA adapters on --init, whose weights stay frozen and quantized.\n"
           "Offsets are in characters; with loss_spans only tokens that lie wholly inside\n"
           "a span get a loss.  Progress goes to standard error (or, with --json, to\n"
           "standard output as JSON lines)."));
    putchar('\n');
    puts(_("Model (from scratch):"));
    puts(_("      --vocab-from=FILE  GGUF whose tokenizer the model uses"));
    puts(_("      --dim=N            embedding size (default 256)"));
    puts(_("      --layers=N         number of layers (default 4)"));
    puts(_("      --heads=N          attention heads (default 8)"));
    puts(_("      --kv-heads=N       key/value heads (default: --heads)"));
    puts(_("      --ffn=N            feed-forward size (default 688)"));
    puts(_("      --ctx=N            context length (default 256, or that of --init)"));
    puts(_("      --init=FILE        continue training this GGUF model instead"));
    puts(_("      --resume=FILE      continue from a checkpoint (same other options)"));
    putchar('\n');
    puts(_("Training:"));
    puts(_("      --data=FILE        training examples (JSON lines)"));
    puts(_("      --out=FILE         where to write the trained model (F32 GGUF)"));
    puts(_("      --steps=N          optimizer steps in all (default 1000)"));
    puts(_("      --batch=N          rows of --ctx tokens per micro-batch (default 8)"));
    puts(_("      --accum=N          micro-batches per step (default 1)"));
    puts(_("      --lr=X             peak learning rate (default 1e-3)"));
    puts(_("      --lr-min=X         floor of the cosine decay (default lr / 10)"));
    puts(_("      --warmup=N         linear warm-up steps (default 100)"));
    puts(_("      --weight-decay=X   AdamW weight decay of matrices (default 0.1)"));
    puts(_("      --beta1=X, --beta2=X  Adam moments (default 0.9, 0.95)"));
    puts(_("      --clip=X           clip the gradient norm (default 1; 0 = off)"));
    puts(_("      --seed=N           initialization and data order (default 1)"));
    puts(_("      --eval-data=FILE   held-out examples for the eval loss"));
    puts(_("      --eval-fraction=X  hold out this fraction of --data instead"));
    puts(_("      --eval-every=N     evaluate every N steps (default 100 with eval data)"));
    puts(_("      --eval-batches=N   micro-batches per evaluation (default 4)"));
    puts(_("      --save-every=N     write a checkpoint every N steps (default 0 = only on\n"
           "                         Ctrl-C and at the end)"));
    puts(_("      --checkpoint=FILE  checkpoint path (default OUT.ckpt)"));
    puts(_("      --stop-at=N        stop after step N with a checkpoint, as Ctrl-C does"));
    puts(_("      --meta=KEY=TEXT    set a string in the written model's metadata (e.g.\n"
           "                         memllm.template.ask; repeatable)"));
    puts(_("      --meta-u32=KEY=N   set an integer in the written model's metadata"));
    puts(_("      --meta-f32=KEY=X   set a real number in the written model's metadata"));
    puts(_("      --save-every-min=X  also write a checkpoint every X minutes (default 0 =\n"
           "                         off)"));
    puts(_("      --log-every=N      progress line every N steps (default 10)"));
    puts(_("      --json             progress as JSON lines on standard output (events\n"
           "                         \"step\", \"checkpoint\", \"done\")"));
    putchar('\n');
    puts(_("LoRA finetuning (with --init; --out is then an adapter GGUF for --lora):"));
    puts(_("      --lora-rank=N      train rank-N adapters on the frozen base (default 0 =\n"
           "                         train all weights)"));
    puts(_("      --lora-alpha=X     adapter output scale alpha / rank (default 2 * rank)"));
    puts(_("      --lora-dropout=X   dropout on the adapter input (default 0.05)"));
    puts(_("      --lora-targets=LIST  layers to adapt among q,k,v,o,gate,up,down,output\n"
           "                         or all (default q,k,v,o)"));
    puts(_("  -h, --help             display this help and exit"));
    putchar('\n');
    puts(_("The global --threads sets the threads of the matrix products.  Ctrl-C writes\n"
           "a checkpoint and stops; continue with --resume=CHECKPOINT (for LoRA, with the\n"
           "same --init and --lora-* options)."));
    putchar('\n');
    puts(_("A full training run writes F32 weights; make the model small and fast with\n"
           "  memllm quantize MODEL.gguf MODEL-Q4_K_M.gguf Q4_K_M\n"
           "(see 'memllm quantize --help').  An adapter is used as is with\n"
           "  memllm --model BASE.gguf generate --lora ADAPTER.gguf ...\n"
           "or merged into the base with 'memllm lora-merge' (then quantized)."));
}

enum {
    OPT_VOCAB = 256, OPT_DIM, OPT_LAYERS, OPT_HEADS, OPT_KV, OPT_FFN, OPT_CTX, OPT_INIT,
    OPT_RESUME, OPT_DATA, OPT_OUT, OPT_STEPS, OPT_BATCH, OPT_ACCUM, OPT_LR, OPT_LR_MIN,
    OPT_WARMUP, OPT_WD, OPT_BETA1, OPT_BETA2, OPT_CLIP, OPT_SEED, OPT_EVAL_DATA, OPT_EVAL_FRAC,
    OPT_EVAL_EVERY, OPT_EVAL_BATCHES, OPT_SAVE_EVERY, OPT_CKPT, OPT_STOP_AT, OPT_LOG_EVERY,
    OPT_SAVE_MIN, OPT_JSON, OPT_META, OPT_META_U32, OPT_META_F32, OPT_LORA_RANK,
    OPT_LORA_ALPHA, OPT_LORA_DROPOUT, OPT_LORA_TARGETS,
};

/* --meta, --meta-u32, --meta-f32: set on the written model and checkpoints */
static struct cli_meta train_meta;

struct train_args {
    const char *vocab, *init, *resume, *data, *out, *eval_data, *ckpt;
    uint64_t dim, layers, heads, kv_heads, ffn, ctx, steps, batch, accum, seed;
    uint64_t eval_every, eval_batches, save_every, stop_at, log_every;
    double eval_frac, save_min;
    bool have_lr_min, json, have_alpha;
    struct train_opt_params op;
    struct train_lora_params lp; /* lp.rank 0: no LoRA */
};

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_dbl(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int usage_error(void)
{
    cli_try_help("train");
    return CLI_EXIT_USAGE;
}

/* -1 to go on, else the exit code */
static int train_parse(int argc, char **argv, struct train_args *a)
{
    static const struct option longopts[] = {
        {"vocab-from", required_argument, NULL, OPT_VOCAB},
        {"dim", required_argument, NULL, OPT_DIM},
        {"layers", required_argument, NULL, OPT_LAYERS},
        {"heads", required_argument, NULL, OPT_HEADS},
        {"kv-heads", required_argument, NULL, OPT_KV},
        {"ffn", required_argument, NULL, OPT_FFN},
        {"ctx", required_argument, NULL, OPT_CTX},
        {"init", required_argument, NULL, OPT_INIT},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"data", required_argument, NULL, OPT_DATA},
        {"out", required_argument, NULL, OPT_OUT},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"accum", required_argument, NULL, OPT_ACCUM},
        {"lr", required_argument, NULL, OPT_LR},
        {"lr-min", required_argument, NULL, OPT_LR_MIN},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"weight-decay", required_argument, NULL, OPT_WD},
        {"beta1", required_argument, NULL, OPT_BETA1},
        {"beta2", required_argument, NULL, OPT_BETA2},
        {"clip", required_argument, NULL, OPT_CLIP},
        {"seed", required_argument, NULL, OPT_SEED},
        {"eval-data", required_argument, NULL, OPT_EVAL_DATA},
        {"eval-fraction", required_argument, NULL, OPT_EVAL_FRAC},
        {"eval-every", required_argument, NULL, OPT_EVAL_EVERY},
        {"eval-batches", required_argument, NULL, OPT_EVAL_BATCHES},
        {"save-every", required_argument, NULL, OPT_SAVE_EVERY},
        {"checkpoint", required_argument, NULL, OPT_CKPT},
        {"stop-at", required_argument, NULL, OPT_STOP_AT},
        {"log-every", required_argument, NULL, OPT_LOG_EVERY},
        {"save-every-min", required_argument, NULL, OPT_SAVE_MIN},
        {"json", no_argument, NULL, OPT_JSON},
        {"meta", required_argument, NULL, OPT_META},
        {"meta-u32", required_argument, NULL, OPT_META_U32},
        {"meta-f32", required_argument, NULL, OPT_META_F32},
        {"lora-rank", required_argument, NULL, OPT_LORA_RANK},
        {"lora-alpha", required_argument, NULL, OPT_LORA_ALPHA},
        {"lora-dropout", required_argument, NULL, OPT_LORA_DROPOUT},
        {"lora-targets", required_argument, NULL, OPT_LORA_TARGETS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    memset(&train_meta, 0, sizeof train_meta);
    train_opt_params_init(&a->op);
    train_lora_params_init(&a->lp);
    a->lp.rank = 0;
    a->dim = 256;
    a->layers = 4;
    a->heads = 8;
    a->ffn = 688;
    a->steps = 1000;
    a->batch = 8;
    a->accum = 1;
    a->seed = 1;
    a->eval_batches = 4;
    a->log_every = 10;
    opterr = 0;
    optind = 0;
    int c, li = -1;
    double d;
    uint64_t u;
    const uint64_t big = 1u << 24;
    while ((li = -1, c = getopt_long(argc, argv, "+:h", longopts, &li)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_VOCAB: a->vocab = optarg; break;
        case OPT_INIT: a->init = optarg; break;
        case OPT_RESUME: a->resume = optarg; break;
        case OPT_DATA: a->data = optarg; break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_EVAL_DATA: a->eval_data = optarg; break;
        case OPT_CKPT: a->ckpt = optarg; break;
        case OPT_DIM: ok = parse_u64(optarg, 2, 1u << 16, &a->dim); break;
        case OPT_LAYERS: ok = parse_u64(optarg, 1, 1024, &a->layers); break;
        case OPT_HEADS: ok = parse_u64(optarg, 1, 1024, &a->heads); break;
        case OPT_KV: ok = parse_u64(optarg, 1, 1024, &a->kv_heads); break;
        case OPT_FFN: ok = parse_u64(optarg, 1, 1u << 18, &a->ffn); break;
        case OPT_CTX: ok = parse_u64(optarg, 2, 1u << 16, &a->ctx); break;
        case OPT_STEPS: ok = parse_u64(optarg, 1, big * 64, &a->steps); break;
        case OPT_BATCH: ok = parse_u64(optarg, 1, 4096, &a->batch); break;
        case OPT_ACCUM: ok = parse_u64(optarg, 1, 4096, &a->accum); break;
        case OPT_SEED: ok = parse_u64(optarg, 0, UINT64_MAX, &a->seed); break;
        case OPT_WARMUP:
            ok = parse_u64(optarg, 0, big * 64, &u);
            a->op.warmup = (size_t)u;
            break;
        case OPT_EVAL_EVERY: ok = parse_u64(optarg, 1, big * 64, &a->eval_every); break;
        case OPT_EVAL_BATCHES: ok = parse_u64(optarg, 1, big, &a->eval_batches); break;
        case OPT_SAVE_EVERY: ok = parse_u64(optarg, 0, big * 64, &a->save_every); break;
        case OPT_STOP_AT: ok = parse_u64(optarg, 1, big * 64, &a->stop_at); break;
        case OPT_LOG_EVERY: ok = parse_u64(optarg, 1, big * 64, &a->log_every); break;
        case OPT_EVAL_FRAC: ok = parse_dbl(optarg, 0.0, 0.9, &a->eval_frac); break;
        case OPT_SAVE_MIN: ok = parse_dbl(optarg, 0.0, 1e6, &a->save_min); break;
        case OPT_META: ok = cli_meta_add(&train_meta, CLI_META_STR, optarg); break;
        case OPT_META_U32: ok = cli_meta_add(&train_meta, CLI_META_U32, optarg); break;
        case OPT_META_F32: ok = cli_meta_add(&train_meta, CLI_META_F32, optarg); break;
        case OPT_JSON: a->json = true; break;
        case OPT_LORA_RANK:
            ok = parse_u64(optarg, 1, 1u << 16, &u);
            a->lp.rank = (size_t)u;
            break;
        case OPT_LORA_ALPHA:
            ok = parse_dbl(optarg, -1e6, 1e6, &d);
            a->lp.alpha = (float)d;
            a->have_alpha = true;
            break;
        case OPT_LORA_DROPOUT:
            ok = parse_dbl(optarg, 0.0, 0.99, &d);
            a->lp.dropout = (float)d;
            break;
        case OPT_LORA_TARGETS: {
            enum status st = train_lora_targets_parse(optarg, &a->lp.targets);
            if (st != STATUS_OK) {
                cli_status_error("--lora-targets", st);
                return usage_error();
            }
            break;
        }
        case OPT_LR:
            ok = parse_dbl(optarg, 0.0, 10.0, &d);
            a->op.lr = (float)d;
            break;
        case OPT_LR_MIN:
            ok = parse_dbl(optarg, 0.0, 10.0, &d);
            a->op.lr_min = (float)d;
            a->have_lr_min = true;
            break;
        case OPT_WD:
            ok = parse_dbl(optarg, 0.0, 10.0, &d);
            a->op.weight_decay = (float)d;
            break;
        case OPT_BETA1:
            ok = parse_dbl(optarg, 0.0, 0.9999999, &d);
            a->op.beta1 = (float)d;
            break;
        case OPT_BETA2:
            ok = parse_dbl(optarg, 0.0, 0.9999999, &d);
            a->op.beta2 = (float)d;
            break;
        case OPT_CLIP:
            ok = parse_dbl(optarg, 0.0, 1e9, &d);
            a->op.clip = (float)d;
            break;
        case 'h':
            train_help();
            return CLI_EXIT_OK;
        case ':':
            cli_error(_("train: option '%s' needs an argument"), argv[optind - 1]);
            return usage_error();
        default: {
            /* optopt: an unknown short option may sit inside a cluster such as -xq */
            char so[3] = {'-', (char)optopt, '\0'};
            cli_error(_("train: unrecognized option '%s'"), optopt ? so : argv[optind - 1]);
            return usage_error();
        }
        }
        if (!ok) {
            /* TRANSLATORS: first %s is an option name such as lr, second its value */
            cli_error(_("train: invalid value for --%s: '%s'"), li >= 0 ? longopts[li].name : "?",
                      optarg);
            return usage_error();
        }
    }
    if (optind < argc) {
        cli_error(_("train: unexpected argument '%s'"), argv[optind]);
        return usage_error();
    }
    if (!a->data || !a->out) {
        cli_error(_("train: --data and --out are required"));
        return usage_error();
    }
    if (!a->vocab && !a->init && !a->resume) {
        cli_error(_("train: give --vocab-from (a new model), --init or --resume"));
        return usage_error();
    }
    if (a->lp.rank && !a->init) {
        cli_error(_("train: --lora-rank needs --init (the base model)"));
        return usage_error();
    }
    if (a->lp.rank && !a->have_alpha)
        a->lp.alpha = 2.0f * (float)a->lp.rank;
    a->lp.seed = a->seed;
    if (a->kv_heads == 0)
        a->kv_heads = a->heads;
    if (!a->have_lr_min)
        a->op.lr_min = a->op.lr / 10;
    a->op.total = (size_t)a->steps;
    if ((a->eval_data || a->eval_frac > 0) && a->eval_every == 0)
        a->eval_every = 100;
    return -1;
}

/* Checkpoint or final model: tokenizer/metadata keys of src, then the weights. */
static enum status write_model(struct train_model *m, const struct gguf *src, bool with_opt,
                               uint64_t seed, const char *path)
{
    struct gguf_writer *w;
    enum status st = gguf_writer_new(&w);
    if (st != STATUS_OK)
        return st;
    if ((st = gguf_writer_copy_kv(w, src, "train.")) != STATUS_OK)
        goto done;
    if ((st = cli_meta_apply(&train_meta, w)) != STATUS_OK)
        goto done;
    if ((st = train_add_to_writer(m, w, with_opt)) != STATUS_OK)
        goto done;
    if (with_opt && (st = gguf_writer_set_u64(w, "train.seed", seed)) != STATUS_OK)
        goto done;
    st = gguf_writer_write(w, path);
done:
    gguf_writer_free(w);
    return st;
}

/* Adapter (final) or adapter checkpoint (with_opt) of a LoRA run on base src. */
static enum status write_adapter(struct train_lora *l, const struct gguf *src, bool with_opt,
                                 uint64_t seed, const char *path)
{
    const char *arch = "llama";
    gguf_get_cstr(src, "general.architecture", &arch);
    struct gguf_writer *w;
    enum status st = gguf_writer_new(&w);
    if (st != STATUS_OK)
        return st;
    if ((st = train_lora_add_to_writer(l, w, arch, with_opt)) != STATUS_OK)
        goto done;
    if (with_opt && (st = gguf_writer_set_u64(w, "train.seed", seed)) != STATUS_OK)
        goto done;
    st = gguf_writer_write(w, path);
done:
    gguf_writer_free(w);
    return st;
}

/* JSON string body of s (quotes, backslashes and control characters escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A finite number, or null. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

/* Mean loss over up to n_batches micro-batches of held-out rows. */
static enum status eval_loss(struct train_model *m, struct train_data *ev, size_t batch,
                             size_t n_batches, int32_t *tk, int32_t *tg, int32_t *ps,
                             double *out)
{
    struct train_data_stats s;
    train_data_stats(ev, &s);
    size_t T = train_data_seq_len(ev);
    double sum = 0;
    size_t cnt = 0;
    for (size_t r = 0; r < s.n_rows && r < n_batches * batch; r += batch) {
        size_t n = s.n_rows - r < batch ? s.n_rows - r : batch;
        for (size_t i = 0; i < n; i++)
            train_data_row(ev, r + i, tk + i * T, tg + i * T, ps + i * T);
        struct train_batch b = {n, T, tk, tg, ps};
        double ls;
        size_t nl;
        enum status st = train_forward(m, &b, &ls, &nl, NULL);
        if (st != STATUS_OK)
            return st;
        sum += ls;
        cnt += nl;
    }
    *out = cnt ? sum / (double)cnt : 0.0;
    return STATUS_OK;
}

static void fmt_eta(double s, char *buf, size_t cap)
{
    unsigned long t = s > 0 && s < 1e9 ? (unsigned long)(s + 0.5) : 0;
    snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

/* A checkpoint (reason: "steps", "minutes", "interrupt", "stop-at", "end") or the final
 * output (with_opt false). */
static enum status save(struct train_model *m, struct train_lora *l, const struct gguf *src,
                        bool with_opt, uint64_t seed, const char *path)
{
    return l ? write_adapter(l, src, with_opt, seed, path)
             : write_model(m, src, with_opt, seed, path);
}

static void json_checkpoint(bool json, size_t step, const char *path, const char *reason)
{
    if (!json)
        return;
    printf("{\"event\":\"checkpoint\",\"step\":%zu,\"reason\":\"%s\",\"path\":", step, reason);
    json_str(stdout, path);
    fputs("}\n", stdout);
    fflush(stdout);
}

int cli_train_run(const struct opts *g, int argc, char **argv)
{
    struct train_args a;
    int rc = train_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_FAILURE;
    struct gguf *src = NULL, *ck = NULL;
    struct tok *tk = NULL;
    struct train_model *m = NULL;
    struct train_lora *lora = NULL;
    struct train_data *data = NULL, *ev = NULL;
    int32_t *buf = NULL;
    char *ckpt_alloc = NULL;
    enum status st;
    uint64_t seed = a.seed;
    bool use_lora = a.lp.rank > 0;
    /* a LoRA run keeps its base (--init) as the source; --resume is the adapter checkpoint */
    const char *src_path = use_lora ? a.init : a.resume ? a.resume : a.init ? a.init : a.vocab;
    const char *ckpt = a.ckpt;
    if (!ckpt) {
        size_t l = strlen(a.out);
        ckpt_alloc = malloc(l + 6);
        if (!ckpt_alloc)
            goto nomem;
        memcpy(ckpt_alloc, a.out, l);
        memcpy(ckpt_alloc + l, ".ckpt", 6);
        ckpt = ckpt_alloc;
    }

    if ((st = gguf_open(src_path, &src)) != STATUS_OK) {
        cli_status_error(src_path, st);
        goto done;
    }
    if ((st = tok_from_gguf(src, &tk)) != STATUS_OK) {
        cli_status_error(src_path, st);
        goto done;
    }
    if (use_lora) {
        if ((a.lp.targets & (1u << TRAIN_TENSOR_OUTPUT)) &&
            gguf_find_tensor(src, "output.weight") < 0) {
            /* TRANSLATORS: %s is the base model file; "output" is a --lora-targets item */
            cli_error(_("train: %s has a tied output head (no output.weight); leave 'output' "
                        "out of --lora-targets"), src_path);
            goto done;
        }
        st = train_model_from_gguf_quant(src, (size_t)a.ctx, &m);
        if (st == STATUS_OK)
            st = train_lora_new(m, &a.lp, &lora);
        if (st == STATUS_OK && a.resume) {
            if ((st = gguf_open(a.resume, &ck)) != STATUS_OK ||
                (st = train_lora_load(lora, ck)) != STATUS_OK) {
                cli_status_error(a.resume, st);
                goto done;
            }
            uint64_t sd;
            if (gguf_get_u64(ck, "train.seed", &sd) == STATUS_OK)
                seed = sd;
        }
    } else if (a.resume || a.init) {
        st = train_model_from_gguf(src, a.resume ? 0 : (size_t)a.ctx, &m);
        if (st == STATUS_OK && a.resume) {
            st = train_load_opt(m, src);
            uint64_t sd;
            if (st == STATUS_OK && gguf_get_u64(src, "train.seed", &sd) == STATUS_OK)
                seed = sd; /* the data order of the interrupted run */
        }
    } else {
        struct train_config c;
        train_config_init(&c);
        c.n_vocab = (size_t)tok_n_vocab(tk);
        c.dim = a.dim;
        c.n_layer = a.layers;
        c.n_head = a.heads;
        c.n_head_kv = a.kv_heads;
        c.n_ff = a.ffn;
        c.n_ctx = a.ctx ? a.ctx : 256;
        st = train_model_new(&c, seed, &m);
    }
    if (st != STATUS_OK) {
        cli_status_error(src_path, st);
        goto done;
    }
    if ((st = train_model_set_threads(m, g->threads)) != STATUS_OK) {
        cli_status_error("train", st);
        goto done;
    }
    const struct train_config *cfg = train_model_config(m);
    if (cfg->n_vocab != (size_t)tok_n_vocab(tk)) {
        cli_error(_("train: %s: the model has %zu tokens but its tokenizer %ld"), src_path,
                  cfg->n_vocab, (long)tok_n_vocab(tk));
        goto done;
    }
    size_t T = cfg->n_ctx;
    if ((st = train_data_load(a.data, tk, T, a.eval_data ? 0.0 : a.eval_frac, seed, &data,
                              a.eval_data ? NULL : &ev)) != STATUS_OK) {
        cli_status_error(a.data, st);
        goto done;
    }
    if (a.eval_data &&
        (st = train_data_load(a.eval_data, tk, T, 0.0, seed, &ev, NULL)) != STATUS_OK) {
        cli_status_error(a.eval_data, st);
        goto done;
    }
    struct train_data_stats ds;
    train_data_stats(data, &ds);
    size_t B = (size_t)a.batch, A = (size_t)a.accum;
    size_t nonemb = train_model_n_params_nonembd(m);
    fprintf(stderr,
            /* TRANSLATORS: summary before training starts */
            _("model: %zu parameters (%zu without the embedding), dim %zu, %zu layers, "
              "%zu/%zu heads, ffn %zu, context %zu, vocabulary %zu\n"),
            train_model_n_params(m), nonemb, cfg->dim, cfg->n_layer, cfg->n_head,
            cfg->n_head_kv, cfg->n_ff, T, cfg->n_vocab);
    if (lora)
        fprintf(stderr,
                /* TRANSLATORS: LoRA summary; the base weights are not trained */
                _("LoRA: rank %zu, alpha %g, dropout %g, %zu trainable parameters; base "
                  "frozen as stored\n"),
                a.lp.rank, (double)a.lp.alpha, (double)a.lp.dropout, train_lora_n_params(lora));
    fprintf(stderr,
            _("data: %zu examples, %zu tokens (%zu with loss) in %zu rows; %zu cut, %zu "
              "skipped\n"),
            ds.n_examples, ds.n_tokens, ds.n_loss_tokens, ds.n_rows, ds.n_truncated,
            ds.n_skipped);
    if (ev) {
        struct train_data_stats es;
        train_data_stats(ev, &es);
        fprintf(stderr, _("eval data: %zu examples in %zu rows\n"), es.n_examples, es.n_rows);
    }

    size_t per = B * T;
    buf = malloc(3 * A * per * sizeof(int32_t));
    if (!buf)
        goto nomem;
    if (lora && (st = train_lora_reserve(lora, per)) != STATUS_OK)
        goto nomem;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = train_on_sigint;
    sigemptyset(&sa.sa_mask);
    train_interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);

    /* a frozen base needs no weight gradients: about 4N per token instead of 6N */
    double flop_per_token = (lora ? 4.0 : 6.0) * (double)nonemb + 12.0 * (double)cfg->n_layer *
                            (double)cfg->dim * (double)T;
    uint64_t t_start = timing_now_ns(), t_last = t_start, t_saved = t_start;
    size_t first_step = lora ? train_lora_step(lora) : train_model_step(m), tok_since = 0;
    double last_loss = 0, last_eval = -1;
    bool stopped = false;
    for (size_t step = first_step + 1; step <= a.steps; step++) {
        struct train_batch mb[64];
        struct train_batch *bs = A <= 64 ? mb : NULL;
        if (!bs) {
            bs = malloc(A * sizeof *bs);
            if (!bs)
                goto nomem_sig;
        }
        size_t n_loss = 0;
        for (size_t k = 0; k < A; k++) {
            int32_t *tkn = buf + 3 * k * per;
            uint64_t row = ((uint64_t)(step - 1) * A + k) * B;
            if ((st = train_data_batch(data, row, B, tkn, tkn + per, tkn + 2 * per, &bs[k])) !=
                STATUS_OK)
                break;
            for (size_t i = 0; i < per; i++)
                n_loss += bs[k].targets[i] >= 0;
        }
        if (lora)
            train_lora_zero_grad(lora);
        else
            train_zero_grad(m);
        double loss = 0;
        for (size_t k = 0; k < A && st == STATUS_OK; k++) {
            double ls;
            if (lora) /* dropout masks of micro-batch number (step - 1) * A + k */
                train_lora_set_training(lora, true, (uint64_t)(step - 1) * A + k);
            st = train_backward(m, &bs[k], n_loss ? 1.0f / (float)n_loss : 0.0f, &ls, NULL);
            if (st == STATUS_OK && lora)
                st = train_lora_status(lora);
            loss += ls;
        }
        if (lora)
            train_lora_set_training(lora, false, 0);
        if (bs != mb)
            free(bs);
        if (st != STATUS_OK) {
            cli_status_error(_("training step"), st);
            goto restore;
        }
        float gnorm;
        if (lora)
            train_lora_opt_step(lora, &a.op, &gnorm);
        else
            train_opt_step(m, &a.op, &gnorm);
        last_loss = n_loss ? loss / (double)n_loss : 0;
        tok_since += A * per;
        bool do_eval = ev && a.eval_every && (step % a.eval_every == 0 || step == a.steps);
        if (do_eval) {
            if ((st = eval_loss(m, ev, B, (size_t)a.eval_batches, buf, buf + per, buf + 2 * per,
                                &last_eval)) != STATUS_OK) {
                cli_status_error(_("evaluation"), st);
                goto restore;
            }
        }
        if (step % a.log_every == 0 || step == first_step + 1 || step == a.steps || do_eval) {
            uint64_t now = timing_now_ns();
            double dt = (double)(now - t_last) * 1e-9;
            double tps = dt > 0 ? (double)tok_since / dt : 0;
            double all = (double)(now - t_start) * 1e-9;
            double eta = all / (double)(step - first_step) * (double)(a.steps - step);
            if (a.json) {
                printf("{\"event\":\"step\",\"step\":%zu,\"steps\":%" PRIu64 ",\"loss\":", step,
                       a.steps);
                json_num(stdout, last_loss);
                fputs(",\"eval_loss\":", stdout);
                if (last_eval >= 0)
                    json_num(stdout, last_eval);
                else
                    fputs("null", stdout);
                fputs(",\"lr\":", stdout);
                json_num(stdout, (double)train_lr(&a.op, step));
                fputs(",\"grad_norm\":", stdout);
                json_num(stdout, (double)gnorm);
                fputs(",\"tokens_per_s\":", stdout);
                json_num(stdout, tps);
                fputs(",\"gflops\":", stdout);
                json_num(stdout, tps * flop_per_token * 1e-9);
                fputs(",\"elapsed_s\":", stdout);
                json_num(stdout, all);
                fputs(",\"eta_s\":", stdout);
                json_num(stdout, eta);
                fputs("}\n", stdout);
                fflush(stdout);
            } else {
                char etab[32];
                fmt_eta(eta, etab, sizeof etab);
                char evb[32] = "";
                if (last_eval >= 0)
                    snprintf(evb, sizeof evb, "%.4f", last_eval);
                /* TRANSLATORS: one progress line; tok/s = tokens per second, ETA = time left */
                fprintf(stderr, _("step %zu/%" PRIu64 "  loss %.4f  eval %s  lr %.3g  gnorm %.3g  "
                                  "%.0f tok/s  %.1f GFLOP/s  ETA %s\n"),
                        step, a.steps, last_loss, last_eval >= 0 ? evb : "-",
                        (double)train_lr(&a.op, step), (double)gnorm, tps,
                        tps * flop_per_token * 1e-9, etab);
            }
            t_last = now;
            tok_since = 0;
        }
        bool stop = train_interrupted || (a.stop_at && step == a.stop_at && step < a.steps);
        uint64_t now = timing_now_ns();
        bool by_time = a.save_min > 0 && (double)(now - t_saved) * 1e-9 >= a.save_min * 60.0;
        bool by_steps = a.save_every && step % a.save_every == 0;
        if (stop || by_steps || by_time) {
            if ((st = save(m, lora, src, true, seed, ckpt)) != STATUS_OK) {
                cli_status_error(ckpt, st);
                goto restore;
            }
            t_saved = timing_now_ns();
            json_checkpoint(a.json, step, ckpt, train_interrupted ? "interrupt" : stop ?
                            "stop-at" : by_steps ? "steps" : "minutes");
        }
        if (stop) {
            /* TRANSLATORS: %s is the checkpoint file */
            fprintf(stderr, _("stopped at step %zu; checkpoint saved to %s (continue with "
                              "--resume)\n"), step, ckpt);
            stopped = true;
            break;
        }
    }
    if (!stopped) {
        size_t now_step = lora ? train_lora_step(lora) : train_model_step(m);
        if (now_step < a.steps || a.save_every || a.save_min > 0) {
            if ((st = save(m, lora, src, true, seed, ckpt)) != STATUS_OK) {
                cli_status_error(ckpt, st);
                goto restore;
            }
            json_checkpoint(a.json, now_step, ckpt, "end");
        }
        if ((st = save(m, lora, src, false, seed, a.out)) != STATUS_OK) {
            cli_status_error(a.out, st);
            goto restore;
        }
        double all = (double)(timing_now_ns() - t_start) * 1e-9;
        size_t done_steps = now_step - first_step;
        double tps = all > 0 ? (double)(done_steps * A * per) / all : 0;
        if (a.json) {
            printf("{\"event\":\"done\",\"steps\":%zu,\"seconds\":", done_steps);
            json_num(stdout, all);
            fputs(",\"tokens_per_s\":", stdout);
            json_num(stdout, tps);
            fputs(",\"loss\":", stdout);
            json_num(stdout, last_loss);
            fputs(",\"out\":", stdout);
            json_str(stdout, a.out);
            fputs("}\n", stdout);
            fflush(stdout);
        }
        fprintf(stderr,
                /* TRANSLATORS: final summary; %s is the output file */
                _("trained %zu steps in %.1f s (%.0f tok/s, %.1f GFLOP/s); final loss %.4f; "
                  "model written to %s\n"),
                done_steps, all, tps, tps * flop_per_token * 1e-9, last_loss, a.out);
    }
    rc = train_interrupted ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK; /* the checkpoint is kept */
restore:
    sigaction(SIGINT, &old_sa, NULL);
    goto done;
nomem_sig:
    sigaction(SIGINT, &old_sa, NULL);
nomem:
    cli_status_error("train", STATUS_NOMEM);
done:
    free(buf);
    free(ckpt_alloc);
    train_data_free(data);
    train_data_free(ev);
    train_lora_free(lora);
    train_model_free(m);
    tok_free(tk);
    gguf_close(ck);
    gguf_close(src);
    return rc;
}
