/* tokenize.c -- `memllm tokenize [--model FILE] [--ids] [TEXT]...`: a model's token ids. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"

static void tokenize_help(void)
{
    printf(_("Usage: %s tokenize [OPTION]... [TEXT]...\n"), PACKAGE);
    puts(_("Split TEXT (the arguments joined by spaces, or standard input when there are\n"
           "none or TEXT is '-') into the tokens of a model's vocabulary and print one\n"
           "line per token: its id and its piece.  The model is FILE, else the global\n"
           "--model, $MEMLLM_MODEL or the bundled model.  The global --json prints one\n"
           "JSON object with the ids and pieces."));
    putchar('\n');
    puts(_("  -m, --model=FILE     read the vocabulary from this GGUF file"));
    puts(_("      --ids            print only the ids, on one line"));
    puts(_("      --add-special    add BOS/EOS as the model asks (as for a prompt)"));
    puts(_("      --parse-special  read control tokens such as <s> in TEXT as tokens"));
    puts(_("  -h, --help           display this help and exit"));
}

/* All of standard input (owned), or NULL on a read error / out of memory. */
static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The arguments joined by single spaces (owned). */
static char *join_args(int argc, char **argv, size_t *len)
{
    size_t n = 0;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    size_t k = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            buf[k++] = ' ';
        size_t l = strlen(argv[i]);
        memcpy(buf + k, argv[i], l);
        k += l;
    }
    buf[k] = '\0';
    *len = k;
    return buf;
}

/* A piece for the terminal: control characters escaped as \xNN. */
static void put_piece(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            printf("\\x%02X", (unsigned)c);
        else
            putchar(c);
    }
}

static void print_result(const struct opts *g, const struct tok *t, const char *file,
                         const int32_t *ids, size_t n, bool ids_only)
{
    size_t len;
    if (g->json) {
        fputs("{\"model\":", stdout);
        json_write_str(stdout, file, strlen(file));
        printf(",\"n_tokens\":%zu,\"ids\":[", n);
        for (size_t i = 0; i < n; i++)
            printf("%s%ld", i ? "," : "", (long)ids[i]);
        putchar(']');
        if (!ids_only) {
            fputs(",\"pieces\":[", stdout);
            for (size_t i = 0; i < n; i++) {
                const char *p = tok_piece(t, ids[i], &len);
                if (i)
                    putchar(',');
                json_write_str(stdout, p, len);
            }
            putchar(']');
        }
        puts("}");
    } else if (ids_only) {
        for (size_t i = 0; i < n; i++)
            printf("%s%ld", i ? " " : "", (long)ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *p = tok_piece(t, ids[i], &len);
            printf("%ld\t", (long)ids[i]);
            put_piece(p, len);
            putchar('\n');
        }
    }
}

int cli_tokenize_run(const struct opts *g, int argc, char **argv)
{
    const char *file = NULL;
    bool ids_only = false;
    unsigned flags = 0;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            first_text = i + 1;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            first_text = i;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tokenize_help();
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--ids") == 0) {
            ids_only = true;
        } else if (strcmp(a, "--add-special") == 0) {
            flags |= TOK_ENCODE_ADD_SPECIAL;
        } else if (strcmp(a, "--parse-special") == 0) {
            flags |= TOK_ENCODE_PARSE_SPECIAL;
        } else if (strncmp(a, "--model=", 8) == 0) {
            file = a + 8;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) {
            if (i + 1 >= argc) {
                cli_error(_("tokenize: option '%s' requires an argument"), a);
                cli_try_help("tokenize");
                return CLI_EXIT_USAGE;
            }
            file = argv[++i];
        } else {
            cli_error(_("tokenize: unrecognized option '%s'"), a);
            cli_try_help("tokenize");
            return CLI_EXIT_USAGE;
        }
    }
    if (!file)
        file = paths_model(g);

    size_t len = 0;
    char *text;
    bool from_stdin = first_text >= argc ||
                      (first_text == argc - 1 && strcmp(argv[first_text], "-") == 0);
    if (from_stdin)
        text = read_stdin(&len);
    else
        text = join_args(argc - first_text, argv + first_text, &len);
    if (!text) {
        cli_error(_("tokenize: cannot read the text: %s"),
                  from_stdin ? _("read error or out of memory") : _("out of memory"));
        return CLI_EXIT_FAILURE;
    }

    int rc = CLI_EXIT_FAILURE;
    struct gguf *m = NULL;
    struct tok *t = NULL;
    int32_t *ids = NULL;
    enum status st = gguf_open(file, &m);
    if (st == STATUS_OK) {
        st = tok_from_gguf(m, &t);
        gguf_close(m);
    }
    if (st != STATUS_OK) {
        cli_status_error(file, st);
        rc = st == STATUS_NOMEM || st == STATUS_IO ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    size_t cap = tok_encode_bound(len), n = 0;
    ids = cap < SIZE_MAX / sizeof *ids ? malloc(cap * sizeof *ids) : NULL;
    if (!ids) {
        cli_status_error("tokenize", STATUS_NOMEM);
        goto done;
    }
    st = tok_encode(t, text, len, flags, ids, cap, &n);
    if (st != STATUS_OK) {
        cli_status_error("tokenize", st);
        rc = st == STATUS_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    print_result(g, t, file, ids, n, ids_only);
    if (fflush(stdout) != 0) {
        cli_error(_("tokenize: cannot write the output"));
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    free(ids);
    tok_free(t);
    free(text);
    return rc;
}
