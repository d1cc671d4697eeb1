/* commands.c -- the subcommand table and the messages all subcommands share. */
#include "config.h"
#include "cli/commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "util/i18n.h"

const struct cli_command cli_commands[] = {
    {"paths", N_("show where memllm keeps its files"), cli_paths_run},
    {"info", N_("show what a GGUF model file holds"), cli_info_run},
    {"tokenize", N_("show how a model splits text into tokens"), cli_tokenize_run},
    {"generate", N_("continue a prompt with the model"), cli_generate_run},
    {"train", N_("train a model from scratch or continue one"), cli_train_run},
    {"train-tokenizer", N_("learn a BPE tokenizer from text"), cli_train_tokenizer_run},
    {"train-data", N_("build MemLLM training examples from a dataset"), cli_train_data_run},
    {"lora-merge", N_("fold LoRA adapters into a model's weights"), cli_lora_merge_run},
    {"quantize", N_("convert a model's weights to another type"), cli_quantize_run},
    {"bench", N_("measure prompt and generation speed and memory bandwidth"), cli_bench_run},
    {"tui", N_("open the terminal interface (the default command)"), cli_tui_run},
    {"mem", N_("inspect and edit the memory: add, list, query, import, ..."), cli_mem_run},
    {"ask", N_("answer a question, reading memory"), cli_ask_run},
    {"write", N_("memorize a text: the model writes the facts of each sentence"), cli_write_run},
    {"chat", N_("answer questions line by line, reading memory"), cli_chat_run},
    {"audit", N_("show which triples and sources an answer was based on"), cli_audit_run},
    {"eval", N_("evaluate memory writing, knowledge editing and perplexity"), cli_eval_run},
    {NULL, NULL, NULL},
};

const struct cli_command *cli_command_find(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: ", PACKAGE);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_status_error(const char *what, enum status st)
{
    const char *detail = status_detail();
    if (detail[0])
        cli_error("%s: %s: %s", what, status_str(st), detail);
    else
        cli_error("%s: %s", what, status_str(st));
}

void cli_try_help(const char *cmd)
{
    if (cmd) {
        /* TRANSLATORS: %s %s is the program and the subcommand, e.g. "memllm mem" */
        fprintf(stderr, _("Try '%s %s --help' for more information.\n"), PACKAGE, cmd);
    } else {
        fprintf(stderr, _("Try '%s --help' for more information.\n"), PACKAGE);
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error("%s", msg);
    cli_try_help(cmd);
    return CLI_EXIT_USAGE;
}

bool cli_parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = (float)v;
    return true;
}

bool cli_meta_add(struct cli_meta *m, enum cli_meta_type type, const char *arg)
{
    const char *eq = strchr(arg, '=');
    uint64_t u;
    float f;
    if (!eq || eq == arg || (size_t)(eq - arg) >= 256 || m->n >= CLI_MAX_META)
        return false;
    if ((type == CLI_META_U32 && !cli_parse_u64(eq + 1, UINT32_MAX, &u)) ||
        (type == CLI_META_F32 && !cli_parse_float(eq + 1, -3.4e38, 3.4e38, &f)))
        return false;
    m->arg[m->n] = arg;
    m->type[m->n++] = type;
    return true;
}

enum status cli_meta_apply(const struct cli_meta *m, struct gguf_writer *w)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *eq = strchr(m->arg[i], '=');
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - m->arg[i]), m->arg[i]);
        uint64_t u = 0;
        float f = 0;
        enum status st;
        switch (m->type[i]) {
        case CLI_META_U32:
            cli_parse_u64(eq + 1, UINT32_MAX, &u);
            st = gguf_writer_set_u32(w, key, (uint32_t)u);
            break;
        case CLI_META_F32:
            cli_parse_float(eq + 1, -3.4e38, 3.4e38, &f);
            st = gguf_writer_set_f32(w, key, f);
            break;
        default:
            st = gguf_writer_set_str(w, key, eq + 1);
            break;
        }
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}
