#!/bin/sh
# bench.sh -- end-to-end checks of `memllm bench`: usage errors, a tiny random model made
# with --make-model, and the table and JSON output of a short run (-p 8 -n 4).
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

expect_rc 0 "$M" bench --help
expect_in "$TMP/out" "Usage: memllm bench"
expect_in "$TMP/out" "--make-model"
expect_rc 1 "$M" bench -m
expect_in "$TMP/err" "option '-m' needs an argument"
expect_rc 1 "$M" bench --bogus
expect_in "$TMP/err" "Try 'memllm bench --help' for more information."
expect_rc 1 "$M" bench -p x -m "$TMP/none.gguf"
expect_in "$TMP/err" "invalid value"
expect_rc 1 "$M" bench --dim 64 -m "$TMP/none.gguf"
expect_in "$TMP/err" "--make-model"
expect_rc 1 "$M" bench --make-model "$TMP/bad.gguf" --dim 30 --heads 4
[ -e "$TMP/bad.gguf" ] && fail "an impossible shape left a file"
expect_rc 1 "$M" bench -m "$TMP/none.gguf" -p 8 -n 4 -r 1 --bw-mib 0
expect_in "$TMP/err" "$TMP/none.gguf"

T="$TMP/tiny.gguf"
expect_rc 0 "$M" bench --make-model "$T" --dim 64 --layers 2 --heads 4 --kv-heads 2 \
    --ffn 128 --vocab 400 --ctx 128
expect_in "$TMP/err" "bench: wrote"
expect_rc 0 "$M" info "$T"
expect_in "$TMP/out" "blk.1.ffn_down.weight"

expect_rc 0 "$M" bench -m "$T" -p 8 -n 4 -r 2 -t 1 --bw-mib 16
expect_in "$TMP/out" "| model"
expect_in "$TMP/out" " test |"
expect_in "$TMP/out" " t/s |"
grep -Eq '^\| llama [0-9.]+[KMB] F16 +\| +[0-9.]+ MiB \| +[0-9.]+ M \| +1 \| +pp8 \| +[0-9.]+ ± [0-9.]+ \| +[0-9]+% \|$' \
    "$TMP/out" || fail "no pp8 row: $(cat "$TMP/out")"
grep -Eq '\| +tg4 \| +[0-9.]+ ± [0-9.]+ \| +[0-9]+% \|$' "$TMP/out" || fail "no tg4 row"
grep -Eq '^memory read bandwidth \(16 MiB buffer, 1 threads\): [0-9.]+ GB/s \(cpu [0-9]+%\)$' "$TMP/out" \
    || fail "no bandwidth line"
grep -Eq '^\| llama .* \| +[0-9.]+ +\| +[0-9.]+ +\| +[0-9.]+% \|$' "$TMP/out" \
    || fail "no limit row"
# where the weights were: copied when the kernel offers huge pages, else the mapping
if grep -Eq '\[(always|madvise)\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    grep -Eq '^llama .*: weights copied into memory, [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B in huge pages$' \
        "$TMP/out" || fail "no weights-copied line: $(cat "$TMP/out")"
else
    expect_in "$TMP/out" "weights read through the file mapping"
fi
expect_rc 0 "$M" --mmap bench -m "$T" -p 0 -n 2 -r 1 -t 1 --bw-mib 0
expect_in "$TMP/out" "F16: weights read through the file mapping"

expect_rc 0 "$M" --json bench -m "$T" -p 8 -n 4 -r 1 -t 2 --bw-mib 16
expect_in "$TMP/out" '"threads":2'
expect_in "$TMP/out" '"test":"pp8","n_prompt":8,"n_gen":0'
expect_in "$TMP/out" '"test":"tg4","n_prompt":0,"n_gen":4'
expect_in "$TMP/out" '"tg_fraction":'
expect_in "$TMP/out" '"cpu_share":'
expect_in "$TMP/out" '"weights_huge_bytes":'
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["models"][0]["tests"][1]["ts_mean"] > 0' \
        "$TMP/out" || fail "--json output is not the expected JSON: $(cat "$TMP/out")"
fi
expect_rc 0 "$M" --json --mmap bench -m "$T" -p 0 -n 2 -r 1 -t 1 --bw-mib 0
expect_in "$TMP/out" '"weights_copied_bytes":0,"weights_huge_bytes":0'
finish
