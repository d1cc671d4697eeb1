/* info.c -- `memllm info [--kv] [FILE]`: what a GGUF model file holds. */
#include "config.h"

#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "util/i18n.h"
#include "util/json.h"

#define INFO_ARRAY_HEAD 5 /* elements shown of an array */

/* Print bytes with control characters shown as '?' (text output only). */
static void put_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        putchar(c < 0x20 || c == 0x7f ? '?' : c);
    }
}

/* A key or tensor name from the file, as put_text, padded with spaces to width w. */
static void put_name(const char *s, int w)
{
    size_t len = strlen(s);
    put_text(s, len);
    for (size_t i = len; i < (size_t)w; i++)
        putchar(' ');
}

static void put_json_double(double d)
{
    if (isfinite(d))
        printf("%.9g", d);
    else
        fputs("null", stdout);
}

/* A scalar or string value; arrays are summarized: length and the first elements. */
static void put_value(const struct gguf_value *v, bool json)
{
    switch (v->type) {
    case GGUF_VTYPE_UINT8:
        printf("%u", (unsigned)v->v.u8);
        break;
    case GGUF_VTYPE_INT8:
        printf("%d", (int)v->v.i8);
        break;
    case GGUF_VTYPE_UINT16:
        printf("%u", (unsigned)v->v.u16);
        break;
    case GGUF_VTYPE_INT16:
        printf("%d", (int)v->v.i16);
        break;
    case GGUF_VTYPE_UINT32:
        printf("%" PRIu32, v->v.u32);
        break;
    case GGUF_VTYPE_INT32:
        printf("%" PRId32, v->v.i32);
        break;
    case GGUF_VTYPE_UINT64:
        printf("%" PRIu64, v->v.u64);
        break;
    case GGUF_VTYPE_INT64:
        printf("%" PRId64, v->v.i64);
        break;
    case GGUF_VTYPE_FLOAT32:
        if (json)
            put_json_double(v->v.f32);
        else
            printf("%g", (double)v->v.f32);
        break;
    case GGUF_VTYPE_FLOAT64:
        if (json)
            put_json_double(v->v.f64);
        else
            printf("%g", v->v.f64);
        break;
    case GGUF_VTYPE_BOOL:
        fputs(v->v.b ? "true" : "false", stdout);
        break;
    case GGUF_VTYPE_STRING:
        if (json) {
            json_write_str(stdout, v->v.str.ptr, (size_t)v->v.str.len);
        } else {
            putchar('"');
            put_text(v->v.str.ptr, (size_t)v->v.str.len);
            putchar('"');
        }
        break;
    case GGUF_VTYPE_ARRAY: {
        struct gguf_iter it;
        struct gguf_value e;
        uint64_t shown = 0;
        if (json)
            printf("{\"array\":\"%s\",\"length\":%" PRIu64 ",\"head\":[",
                   gguf_vtype_name(v->v.arr.type), v->v.arr.len);
        else
            printf("[%s x %" PRIu64 "]", gguf_vtype_name(v->v.arr.type), v->v.arr.len);
        gguf_iter_init(&it, v);
        while (shown < INFO_ARRAY_HEAD && gguf_iter_next(&it, &e)) {
            fputs(shown ? ", " : (json ? "" : " "), stdout);
            put_value(&e, json);
            shown++;
        }
        if (json)
            fputs("]}", stdout);
        else if (shown < v->v.arr.len)
            fputs(", ...", stdout);
        break;
    }
    default:
        fputs(json ? "null" : "?", stdout);
        break;
    }
}

/* Print the value of key (text) or nothing when absent. */
static bool put_key(const struct gguf *g, const char *key, bool json)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return false;
    struct gguf_value v;
    gguf_kv_value(g, i, &v);
    if (!json && v.type == GGUF_VTYPE_STRING)
        put_text(v.v.str.ptr, (size_t)v.v.str.len);
    else
        put_value(&v, json);
    return true;
}

/* The architecture as a NUL-terminated copy (owned), or NULL. */
static char *arch_of(const struct gguf *g)
{
    const char *s;
    size_t len;
    if (gguf_get_str(g, "general.architecture", &s, &len) != STATUS_OK)
        return NULL;
    char *a = malloc(len + 2);
    if (!a)
        return NULL;
    memcpy(a, s, len);
    a[len] = '.';
    a[len + 1] = '\0';
    return a; /* "llama." -- the prefix of its hyper-parameter keys */
}

struct tok_summary {
    bool present;
    uint64_t n_vocab;
    uint64_t n_control, n_user, n_byte;
    bool have_types;
};

static void tok_summarize(const struct gguf *g, struct tok_summary *t)
{
    memset(t, 0, sizeof *t);
    t->present = gguf_arr_len(g, "tokenizer.ggml.tokens", &t->n_vocab) == STATUS_OK;
    uint64_t n;
    if (gguf_arr_len(g, "tokenizer.ggml.token_type", &n) != STATUS_OK)
        return;
    t->have_types = true;
    /* token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
    for (uint64_t i = 0; i < n; i++) {
        int64_t ty;
        if (gguf_arr_int(g, "tokenizer.ggml.token_type", i, &ty) != STATUS_OK) {
            t->have_types = false;
            return;
        }
        t->n_control += ty == 3;
        t->n_user += ty == 4;
        t->n_byte += ty == 6;
    }
}

struct totals {
    uint64_t params, bytes;
};

static void compute_totals(const struct gguf *g, struct totals *t)
{
    t->params = t->bytes = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        t->params += gguf_tensor_n_elements(g, i);
        t->bytes += gguf_tensor_size(g, i);
    }
}

static double bits_per_weight(const struct totals *t)
{
    return t->params ? (double)t->bytes * 8.0 / (double)t->params : 0.0;
}

static void print_json(const struct gguf *g, const char *path, const char *arch, bool kv)
{
    struct tok_summary tk;
    struct totals tot;
    tok_summarize(g, &tk);
    compute_totals(g, &tot);
    fputs("{\"file\":", stdout);
    json_write_str(stdout, path, strlen(path));
    printf(",\"version\":%" PRIu32 ",\"alignment\":%zu,\"file_size\":%" PRIu64,
           gguf_version(g), gguf_alignment(g), gguf_file_size(g));
    fputs(",\"architecture\":", stdout);
    if (!put_key(g, "general.architecture", true))
        fputs("null", stdout);
    fputs(",\"name\":", stdout);
    if (!put_key(g, "general.name", true))
        fputs("null", stdout);
    fputs(",\"hparams\":{", stdout);
    bool first = true;
    size_t alen = arch ? strlen(arch) : 0;
    for (int64_t i = 0; arch && i < gguf_n_kv(g); i++) {
        const char *k = gguf_key_name(g, i);
        if (strncmp(k, arch, alen) != 0)
            continue;
        struct gguf_value v;
        gguf_kv_value(g, i, &v);
        if (!first)
            putchar(',');
        first = false;
        json_write_str(stdout, k + alen, strlen(k + alen));
        putchar(':');
        put_value(&v, true);
    }
    fputs("},\"tokenizer\":", stdout);
    if (tk.present) {
        fputs("{\"model\":", stdout);
        if (!put_key(g, "tokenizer.ggml.model", true))
            fputs("null", stdout);
        printf(",\"n_vocab\":%" PRIu64, tk.n_vocab);
        static const char *const ids[][2] = {{"bos_id", "tokenizer.ggml.bos_token_id"},
                                             {"eos_id", "tokenizer.ggml.eos_token_id"},
                                             {"unk_id", "tokenizer.ggml.unknown_token_id"},
                                             {"add_bos", "tokenizer.ggml.add_bos_token"},
                                             {"add_eos", "tokenizer.ggml.add_eos_token"}};
        for (size_t j = 0; j < sizeof ids / sizeof *ids; j++) {
            printf(",\"%s\":", ids[j][0]);
            if (!put_key(g, ids[j][1], true))
                fputs("null", stdout);
        }
        if (tk.have_types)
            printf(",\"n_control\":%" PRIu64 ",\"n_user_defined\":%" PRIu64
                   ",\"n_byte\":%" PRIu64,
                   tk.n_control, tk.n_user, tk.n_byte);
        putchar('}');
    } else {
        fputs("null", stdout);
    }
    fputs(",\"tensors\":[", stdout);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const char *nm = gguf_tensor_name(g, i);
        fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
        json_write_str(stdout, nm, strlen(nm));
        printf(",\"type\":\"%s\",\"shape\":[", dtype_name(gguf_tensor_type(g, i)));
        for (uint32_t d = 0; d < gguf_tensor_n_dims(g, i); d++)
            printf("%s%" PRIu64, d ? "," : "", gguf_tensor_dim(g, i, d));
        printf("],\"bytes\":%zu,\"offset\":%" PRIu64 "}", gguf_tensor_size(g, i),
               gguf_tensor_offset(g, i));
    }
    printf("],\"n_tensors\":%" PRId64 ",\"n_params\":%" PRIu64 ",\"n_bytes\":%" PRIu64
           ",\"bits_per_weight\":",
           gguf_n_tensors(g), tot.params, tot.bytes);
    put_json_double(bits_per_weight(&tot));
    if (kv) {
        fputs(",\"kv\":{", stdout);
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            const char *k = gguf_key_name(g, i);
            struct gguf_value v;
            gguf_kv_value(g, i, &v);
            if (i)
                putchar(',');
            json_write_str(stdout, k, strlen(k));
            putchar(':');
            put_value(&v, true);
        }
        putchar('}');
    }
    fputs("}\n", stdout);
}

/* "label value" with the label padded to a common width. */
static void label(const char *l)
{
    printf("%-16s ", l);
}

static void print_text(const struct gguf *g, const char *path, const char *arch, bool kv)
{
    struct tok_summary tk;
    struct totals tot;
    tok_summarize(g, &tk);
    compute_totals(g, &tot);
    /* TRANSLATORS: labels of `memllm info`, padded to 16 columns by the program */
    label(_("file:"));
    puts(path);
    label(_("format:"));
    printf(_("GGUF version %" PRIu32 ", alignment %zu, %" PRIu64 " bytes\n"), gguf_version(g),
           gguf_alignment(g), gguf_file_size(g));
    label(_("architecture:"));
    if (!put_key(g, "general.architecture", false))
        fputs(_("(none)"), stdout);
    putchar('\n');
    label(_("name:"));
    if (!put_key(g, "general.name", false))
        fputs(_("(none)"), stdout);
    putchar('\n');

    if (arch) {
        size_t alen = strlen(arch);
        putchar('\n');
        puts(_("Hyper-parameters:"));
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            const char *k = gguf_key_name(g, i);
            if (strncmp(k, arch, alen) != 0)
                continue;
            struct gguf_value v;
            gguf_kv_value(g, i, &v);
            fputs("  ", stdout);
            put_name(k, 40);
            putchar(' ');
            put_value(&v, false);
            putchar('\n');
        }
    }

    if (tk.present) {
        putchar('\n');
        puts(_("Tokenizer:"));
        printf("  ");
        label(_("model:"));
        if (!put_key(g, "tokenizer.ggml.model", false))
            fputs(_("(none)"), stdout);
        putchar('\n');
        printf("  ");
        label(_("vocabulary:"));
        printf(_("%" PRIu64 " tokens\n"), tk.n_vocab);
        static const char *const ids[][2] = {
            {N_("bos id:"), "tokenizer.ggml.bos_token_id"},
            {N_("eos id:"), "tokenizer.ggml.eos_token_id"},
            {N_("unknown id:"), "tokenizer.ggml.unknown_token_id"},
            {N_("add bos:"), "tokenizer.ggml.add_bos_token"},
            {N_("add eos:"), "tokenizer.ggml.add_eos_token"}};
        for (size_t j = 0; j < sizeof ids / sizeof *ids; j++) {
            if (gguf_find_key(g, ids[j][1]) < 0)
                continue;
            printf("  ");
            label(_(ids[j][0]));
            put_key(g, ids[j][1], false);
            putchar('\n');
        }
        if (tk.have_types) {
            printf("  ");
            label(_("special tokens:"));
            printf(_("%" PRIu64 " control, %" PRIu64 " user-defined, %" PRIu64 " byte\n"),
                   tk.n_control, tk.n_user, tk.n_byte);
        }
    }

    putchar('\n');
    puts(_("Tensors:"));
    int w = 4;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        size_t l = strlen(gguf_tensor_name(g, i));
        if (l > (size_t)w)
            w = l > 64 ? 64 : (int)l;
    }
    /* TRANSLATORS: column heads of the tensor table */
    printf("  %-*s %-6s %-24s %s\n", w, _("name"), _("type"), _("shape"), _("bytes"));
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        char shape[96];
        size_t n = 0;
        for (uint32_t d = 0; d < gguf_tensor_n_dims(g, i) && n < sizeof shape; d++)
            n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%" PRIu64, d ? " x " : "",
                                  gguf_tensor_dim(g, i, d));
        fputs("  ", stdout);
        put_name(gguf_tensor_name(g, i), w);
        printf(" %-6s %-24s %zu\n", dtype_name(gguf_tensor_type(g, i)), shape,
               gguf_tensor_size(g, i));
    }
    putchar('\n');
    printf(_("%" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes,"
             " %.2f bits per weight\n"),
           gguf_n_tensors(g), tot.params, tot.bytes, bits_per_weight(&tot));

    if (kv) {
        putchar('\n');
        printf(_("Metadata (%" PRId64 " keys):\n"), gguf_n_kv(g));
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            struct gguf_value v;
            gguf_kv_value(g, i, &v);
            fputs("  ", stdout);
            put_name(gguf_key_name(g, i), 40);
            printf(" %-8s ", gguf_vtype_name(v.type));
            put_value(&v, false);
            putchar('\n');
        }
    }
}

static void info_help(void)
{
    printf(_("Usage: %s info [--kv] [FILE]\n"), PACKAGE);
    puts(_("Show what a GGUF model file holds: architecture, hyper-parameters, tokenizer,\n"
           "the tensor table and totals.  Without FILE, the model from --model,\n"
           "$MEMLLM_MODEL or the bundled model.  The global --json gives one JSON object."));
    putchar('\n');
    puts(_("      --kv         also list every metadata key (arrays summarized)"));
    puts(_("  -h, --help       display this help and exit"));
}

int cli_info_run(const struct opts *g, int argc, char **argv)
{
    bool kv = false, opts_done = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && a[0] == '-' && a[1]) {
            if (strcmp(a, "--") == 0) {
                opts_done = true;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                info_help();
                return CLI_EXIT_OK;
            } else if (strcmp(a, "--kv") == 0) {
                kv = true;
            } else {
                cli_error(_("info: unrecognized option '%s'"), a);
                cli_try_help("info");
                return CLI_EXIT_USAGE;
            }
        } else if (!file) {
            file = a;
        } else {
            cli_error(_("info: unexpected argument '%s'"), a);
            cli_try_help("info");
            return CLI_EXIT_USAGE;
        }
    }
    if (!file)
        file = paths_model(g);

    struct gguf *m = NULL;
    enum status st = gguf_open(file, &m);
    if (st != STATUS_OK) {
        cli_status_error("info", st);
        return st == STATUS_NOMEM || st == STATUS_IO ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    char *arch = arch_of(m);
    if (g->json)
        print_json(m, file, arch, kv);
    else
        print_text(m, file, arch, kv);
    free(arch);
    gguf_close(m);
    if (fflush(stdout) != 0) {
        cli_error(_("info: cannot write the output"));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
