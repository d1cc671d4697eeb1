/* fuzz_mem_import.c -- libFuzzer harness for `memllm mem import`: TSV, JSON lines and
 * Re-DocRED JSON read from arbitrary bytes into a fresh in-memory database through the
 * memory controller.  The first input byte picks the format (mod 3).
 *
 * Build (from the source tree, with a configured build directory B for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I B \
 *     -DPKGDATADIR='"/nonexistent"' -DLOCALEDIR='"/nonexistent"' \
 *     tests/fuzz/fuzz_mem_import.c src/cli/mem.c src/cli/mem_io.c src/cli/mem_bench.c \
 *     src/cli/paths.c src/memory/ctrl.c src/memory/store.c src/memory/relations.c \
 *     src/memory/embed.c src/memory/sim.c src/protocol/call.c src/util/[a-z]*.c \
 *     -lsqlite3 -lopenblas -lm -lpthread -o fuzz_mem_import
 * Run from the source tree (relations.tsv is read from $MEMLLM_DATADIR, default data/):
 *   ./fuzz_mem_import -close_fd_mask=3 tests/fuzz/corpus_mem_import */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/mem.h"

/* The CLI's shared helpers, without the whole command table. */
void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_status_error(const char *what, enum status st)
{
    fprintf(stderr, "%s: %s: %s\n", what, status_str(st), status_detail());
}

void cli_try_help(const char *cmd)
{
    (void)cmd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {"tsv", "jsonl", "redocred"};
    /* one in-memory database for the whole run (opening one costs more than an import);
     * it is checked for consistency every 64 inputs and started afresh */
    static struct cli_mem mc;
    static struct opts g;
    static bool open;
    static unsigned runs;
    if (size < 1)
        return 0;
    if (!open) {
        if (!getenv("MEMLLM_DATADIR"))
            setenv("MEMLLM_DATADIR", "data", 1);
        g.db_path = ":memory:";
        if (cli_mem_open(&g, false, true, &mc) != 0)
            abort(); /* an in-memory database always opens */
        open = true;
    }
    const char *format = formats[data[0] % 3];
    FILE *in = fmemopen((void *)(uintptr_t)(data + 1), size - 1 ? size - 1 : 1, "rb");
    if (in) {
        if (size == 1)
            fgetc(in); /* an empty stream */
        cli_mem_import_stream(&g, &mc, in, "fuzz", format, NULL, true, false);
        fclose(in);
    }
    if (++runs % 64 == 0) {
        /* whatever was imported must leave store and indexes consistent */
        if (ctrl_check(mc.c, NULL) != STATUS_OK) {
            fprintf(stderr, "check failed: %s\n", status_detail());
            abort();
        }
        cli_mem_close(&mc);
        open = false;
    }
    return 0;
}
