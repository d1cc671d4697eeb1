#!/bin/sh
# interrupt.sh -- Ctrl-C (SIGINT) during `memllm write` and `memllm eval write` on the bundled
# model: the command stops, keeps what it finished (stored triples; the partial report),
# says it was interrupted and exits 130 (128 + SIGINT, as a shell reports it), not 0.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
D="${top_srcdir:-.}/tests/data"
MODEL="${MEMLLM_DATADIR:-${top_srcdir:-.}/data}/memllm-default.gguf"
[ -r "$MODEL" ] || { echo "FAIL: the bundled model $MODEL is missing" >&2; exit 1; }
command -v timeout >/dev/null 2>&1 || { echo "SKIP: timeout (coreutils) not found" >&2; exit 77; }

# 2,000 sentences take the small model minutes; SIGINT comes after 4 s, when the
# model is loaded and the handler installed (timeout runs memllm in the foreground, so
# SIGINT is not ignored there as in a background job).  --preserve-status: memllm's own
# exit status, or 128 + the signal if the signal killed it.
i=0
: >"$TMP/long.txt"
while [ $i -lt 250 ]; do
    for pair in Paris:France Berlin:Germany Rome:Italy Madrid:Spain Lisbon:Portugal \
                Vienna:Austria Oslo:Norway Bern:Switzerland; do
        printf '%s is the capital of %s. ' "${pair%%:*}" "${pair#*:}" >>"$TMP/long.txt"
    done
    i=$((i + 1))
done
timeout --preserve-status -s INT 4 "$M" --db "$TMP/mem.db" --model "$MODEL" write \
    "$TMP/long.txt" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 130 ] ||
    fail "interrupted write exited $rc, expected 130; stderr: $(head -c 300 "$TMP/err")"
expect_in "$TMP/err" "interrupted"
expect_in "$TMP/err" "sentences,"
# what was written before Ctrl-C stays stored
expect_rc 0 "$M" --db "$TMP/mem.db" mem list
expect_in "$TMP/out" "France	capital	Paris"

# --json: the same status; standard output stays JSON lines
timeout --preserve-status -s INT 4 "$M" --db "$TMP/mem2.db" --model "$MODEL" --json write \
    "$TMP/long.txt" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 130 ] ||
    fail "interrupted write --json exited $rc, expected 130; stderr: $(head -c 300 "$TMP/err")"
expect_in "$TMP/err" "interrupted"

# eval write: the partial report is printed, then the status says it was cut short
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d * 1000, open(sys.argv[2], "w"))
' "$D/redocred-tiny.json" "$TMP/many.json"
    timeout --preserve-status -s INT 4 "$M" eval write --model "$MODEL" --max-tokens 8 \
        --rel-info "$D/rel_info-tiny.json" "$TMP/many.json" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 130 ] ||
        fail "interrupted eval write exited $rc, expected 130; stderr: $(head -c 300 "$TMP/err")"
    expect_in "$TMP/out" "# interrupted: partial results over"
    expect_in "$TMP/err" "interrupted"
else
    echo "SKIP: python3 not found: eval write interruption not checked" >&2
fi
finish
