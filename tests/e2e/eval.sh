#!/bin/sh
# eval.sh -- end-to-end checks of `memllm eval`: usage errors, and `eval write`, `eval edit`
# and `eval ppl` on the golden tiny random model over the tiny fixtures (its text is
# gibberish, so scores are about 0, but the pipeline and the report format must work;
# skipped without ../shared).
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
D="${top_srcdir:-.}/tests/data"
DOCS="$D/redocred-tiny.json"
REL="$D/rel_info-tiny.json"
ZSRE="$D/zsre-tiny.json"

expect_rc 0 "$M" eval --help
expect_in "$TMP/out" "Usage: memllm [--json] eval write"
expect_in "$TMP/out" "TARGET"
expect_rc 0 "$M" eval write --help
expect_in "$TMP/out" "--sequential"
expect_in "$TMP/out" "--constrain=on|off"
expect_in "$TMP/out" "--facts=FILE"
expect_rc 1 "$M" eval
expect_in "$TMP/err" "Try 'memllm eval --help'"
expect_rc 1 "$M" eval frobnicate x
expect_in "$TMP/err" "frobnicate"
expect_rc 1 "$M" eval write
expect_in "$TMP/err" "data file is required"
expect_rc 1 "$M" eval write --bogus "$DOCS"
expect_in "$TMP/err" "--bogus"
expect_rc 1 "$M" eval write --held-out "$DOCS"
expect_in "$TMP/err" "--split"
expect_rc 1 "$M" eval edit --dist-thr=abc "$ZSRE"
expect_in "$TMP/err" "invalid value for --dist-thr"
expect_rc 1 "$M" eval write "$TMP/absent.json"
expect_in "$TMP/err" "absent.json"
expect_rc 1 "$M" eval edit "$DOCS"
expect_in "$TMP/err" "record 1"
expect_rc 2 "$M" eval write --model "$TMP/nonexistent.gguf" "$DOCS"
expect_in "$TMP/err" "nonexistent.gguf"
# --constrain: on or off, for the modes that generate text
expect_rc 1 "$M" eval edit --constrain=maybe "$ZSRE"
expect_in "$TMP/err" "invalid value for --constrain: 'maybe'"
expect_rc 1 "$M" eval ppl --constrain=off "$DOCS"
expect_in "$TMP/err" "--constrain does not apply"
expect_in "$TMP/err" "Try 'memllm eval --help'"
# --facts: edit only; a bad file is named with its line before any model is loaded
printf '# facts\nFrance\tcapital\tParis\nGermany\tcapital\tBerlin\n' >"$TMP/facts.tsv"
expect_rc 1 "$M" eval write --facts "$TMP/facts.tsv" "$DOCS"
expect_in "$TMP/err" "eval write: --facts applies to edit only"
expect_rc 1 "$M" eval ppl --facts "$TMP/facts.tsv" "$DOCS"
expect_in "$TMP/err" "eval ppl: --facts applies to edit only"
expect_rc 1 "$M" eval edit --facts "$TMP/absent.tsv" --model "$TMP/nonexistent.gguf" "$ZSRE"
expect_in "$TMP/err" "absent.tsv"
printf '# facts\nFrance\tcapital\tParis\n\nGermany\tcapital\n' >"$TMP/bad.tsv"
expect_rc 1 "$M" eval edit --facts "$TMP/bad.tsv" --model "$TMP/nonexistent.gguf" "$ZSRE"
expect_in "$TMP/err" "bad.tsv:4:"
expect_not_in "$TMP/err" "nonexistent.gguf"
printf 'France\tcapital\tPar\377s\n' >"$TMP/enc.tsv"
expect_rc 1 "$M" eval edit --facts "$TMP/enc.tsv" --model "$TMP/nonexistent.gguf" "$ZSRE"
expect_in "$TMP/err" "enc.tsv:1:"

G="${MEMLLM_SHARED:-../shared}/golden/tiny-mistral-a-f32.gguf"
if [ ! -r "$G" ]; then
    echo "SKIP: $G not found (../shared is absent); golden evaluations not run" >&2
    [ "$failures" -ne 0 ] && finish
    exit 77
fi

# write: header, overall line and per-relation table; gold counted from the labels
expect_rc 0 "$M" eval write --model "$G" --max-tokens 8 --rel-info "$REL" "$DOCS"
expect_in "$TMP/out" "# memllm eval write"
expect_in "$TMP/out" "tiny-mistral-a-f32.gguf ("
expect_in "$TMP/out" "bytes)"
expect_in "$TMP/out" "# decoding: greedy; seed 0; constrain on;"
expect_in "$TMP/out" "dist_thr"
expect_in "$TMP/out" "documents 3"
expect_in "$TMP/out" "gold 13,"
expect_in "$TMP/out" "place of birth"
cp "$TMP/out" "$TMP/write1"
# reproducible: the same report twice
expect_rc 0 "$M" eval write --model "$G" --max-tokens 8 --rel-info "$REL" "$DOCS"
cmp -s "$TMP/out" "$TMP/write1" || fail "eval write is not reproducible"
# --docs and JSON
expect_rc 0 "$M" --json eval write --model "$G" --max-tokens 8 --docs 1 --rel-info "$REL" "$DOCS"
expect_in "$TMP/out" '"eval":"write"'
expect_in "$TMP/out" '"items":1,"done":1,"complete":true'
expect_in "$TMP/out" '"gold":3,'
expect_in "$TMP/out" '"relations":[{"name":'
# a split file: hold out one document by its title hash
printf '# held out\n' >"$TMP/split.txt"
if command -v sha256sum >/dev/null 2>&1; then
    printf 'Curie' | sha256sum | cut -c1-16 >>"$TMP/split.txt"
    expect_rc 0 "$M" eval write --json --model "$G" --max-tokens 4 --rel-info "$REL" \
        --split "$TMP/split.txt" --held-out "$DOCS"
    expect_in "$TMP/out" '"items":1,'
    expect_in "$TMP/out" '"gold":4,'
fi

# edit: both settings
expect_rc 0 "$M" eval edit --model "$G" --max-tokens 8 --answer-tokens 6 "$ZSRE"
expect_in "$TMP/out" "# memllm eval edit"
expect_in "$TMP/out" "setting   per-record"
expect_in "$TMP/out" "records   3"
expect_in "$TMP/out" "REL  "
expect_in "$TMP/out" "GEN  "
expect_in "$TMP/out" "LOC  "
expect_in "$TMP/out" "mean "
expect_rc 0 "$M" --json eval edit --sequential --records 2 --model "$G" --max-tokens 8 \
    --answer-tokens 6 "$ZSRE"
expect_in "$TMP/out" '"setting":"sequential","records":2,'
expect_in "$TMP/out" '"mean":'
expect_in "$TMP/out" '"constrain":"on"'
expect_in "$TMP/out" '"facts":null,"facts_count":0,'
# edit over a populated memory, constrained or not: the header says which
expect_rc 0 "$M" eval edit --model "$G" --max-tokens 8 --answer-tokens 6 \
    --facts "$TMP/facts.tsv" "$ZSRE"
expect_in "$TMP/out" "# facts: $TMP/facts.tsv (2 facts) loaded into every fresh memory"
expect_in "$TMP/out" "; constrain on;"
expect_in "$TMP/out" "records   3"
expect_rc 0 "$M" --json eval edit --constrain=off --records 1 --model "$G" --max-tokens 8 \
    --answer-tokens 6 --facts "$TMP/facts.tsv" "$ZSRE"
expect_in "$TMP/out" '"constrain":"off"'
expect_in "$TMP/out" '"facts_count":2,'
expect_in "$TMP/out" '"records":1,'
expect_rc 0 "$M" eval write --constrain=off --model "$G" --max-tokens 4 --docs 1 \
    --rel-info "$REL" "$DOCS"
expect_in "$TMP/out" "; constrain off;"

# ppl: the same tokens are scored with and without memory
expect_rc 0 "$M" eval ppl --model "$G" --rel-info "$REL" "$DOCS"
expect_in "$TMP/out" "OVERALL"
expect_in "$TMP/out" "with memory"
expect_in "$TMP/out" "without memory"
expect_not_in "$TMP/out" "constrain"
expect_rc 0 "$M" --json eval ppl --model "$G" --rel-info "$REL" "$DOCS"
expect_in "$TMP/out" '"constrain":null'
expect_in "$TMP/out" '"with_memory":{"overall":'
expect_in "$TMP/out" '"without_memory":{"overall":'
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
w, o = r["with_memory"], r["without_memory"]
for k in ("overall", "target", "entity"):
    assert w[k + "_tokens"] == o[k + "_tokens"], k
assert w["overall_tokens"] >= w["entity_tokens"] >= w["target_tokens"] > 0
assert w["overall"] > 1 and o["overall"] > 1
' "$TMP/out" || fail "ppl JSON report is inconsistent: $(head -c 400 "$TMP/out")"
fi

# Ctrl-C: a long run stops and still prints the results so far
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d * 1000, open(sys.argv[2], "w"))
' "$DOCS" "$TMP/many.json"
    "$M" eval write --model "$G" --max-tokens 8 --rel-info "$REL" "$TMP/many.json" \
        >"$TMP/out" 2>"$TMP/err" &
    pid=$!
    sleep 2
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 130 ] || fail "interrupted eval write exited $rc; stderr: $(head -c 300 "$TMP/err")"
    expect_in "$TMP/out" "# interrupted: partial results over"
    expect_in "$TMP/out" "overall   P"
    expect_in "$TMP/err" "interrupted"
fi
finish
