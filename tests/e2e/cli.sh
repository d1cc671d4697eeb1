#!/bin/sh
# cli.sh -- end-to-end checks of memllm's command line: help, version, usage errors,
# translations and the paths command.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

expect_rc 0 "$M" --help
expect_in "$TMP/out" "Usage: memllm [OPTION]..."
expect_in "$TMP/out" "--version"
expect_in "$TMP/out" "paths"
[ -s "$TMP/err" ] && fail "--help wrote to stderr"

expect_rc 0 "$M" --version
head -n 1 "$TMP/out" | grep -Eq '^memllm \(memllm\) [0-9]+\.[0-9]+' || fail "bad --version first line"
expect_in "$TMP/out" "NO WARRANTY"

expect_rc 1 "$M" --no-such-option
expect_in "$TMP/err" "memllm: unrecognized option '--no-such-option'"
expect_in "$TMP/err" "Try 'memllm --help' for more information."
[ -s "$TMP/out" ] && fail "usage error wrote to stdout"

expect_rc 1 "$M" no-such-command
expect_in "$TMP/err" "unknown command 'no-such-command'"
expect_in "$TMP/err" "Try 'memllm --help' for more information."

expect_rc 1 "$M" --threads=0 paths
expect_in "$TMP/err" "invalid thread count '0'"

# translations: the catalogs built in po/ are put where the binary is told to look
for lang in de fr; do
    gmo=
    for d in "${top_builddir:-.}/po" "${top_srcdir:-.}/po"; do
        [ -f "$d/$lang.gmo" ] && { gmo="$d/$lang.gmo"; break; }
    done
    if [ -z "$gmo" ]; then
        fail "no $lang.gmo was built"
        continue
    fi
    mkdir -p "$TMP/locale/$lang/LC_MESSAGES"
    cp "$gmo" "$TMP/locale/$lang/LC_MESSAGES/memllm.mo"
done
MEMLLM_LOCALEDIR="$TMP/locale" LC_ALL=C.UTF-8 LANGUAGE=de expect_rc 0 "$M" --help
expect_in "$TMP/out" "Aufruf: memllm"
MEMLLM_LOCALEDIR="$TMP/locale" LC_ALL=C.UTF-8 LANGUAGE=fr expect_rc 0 "$M" --help
expect_in "$TMP/out" "Utilisation : memllm"
MEMLLM_LOCALEDIR="$TMP/locale" LC_ALL=C.UTF-8 LANGUAGE=fr expect_rc 1 "$M" --bogus
expect_in "$TMP/err" "Saisissez"
# a user whose locale is plain C still gets the language LANGUAGE asks for
MEMLLM_LOCALEDIR="$TMP/locale" LC_ALL=C LANGUAGE=de expect_rc 0 "$M" --help
expect_in "$TMP/out" "Aufruf: memllm"

# paths follows --db, --model, $MEMLLM_MODEL and the XDG variables
expect_rc 0 "$M" paths
expect_in "$TMP/out" "$TMP/data/memllm/memory.db"
expect_in "$TMP/out" "$TMP/config/memllm/config"
expect_in "$TMP/out" "$TMP/state/memllm/memllm.log"
expect_rc 0 "$M" --db "$TMP/x.db" --model m.gguf paths
expect_in "$TMP/out" "$TMP/x.db"
expect_in "$TMP/out" "m.gguf"
MEMLLM_MODEL=/opt/env.gguf expect_rc 0 "$M" --json paths
expect_in "$TMP/out" '"model":"/opt/env.gguf"}'
expect_in "$TMP/out" "{\"database\":\"$TMP/data/memllm/memory.db\""
# a --db that is not UTF-8 still gives valid JSON (U+FFFD for the bad byte)
expect_rc 0 "$M" --db "/tmp/x$(printf '\377').db" --json paths
expect_in "$TMP/out" '"database":"/tmp/x\ufffd.db"'
expect_rc 1 "$M" paths extra
expect_in "$TMP/err" "Try 'memllm paths --help' for more information."
expect_rc 0 "$M" paths --help
expect_in "$TMP/out" "Usage: memllm paths"

finish
