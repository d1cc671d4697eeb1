#!/bin/sh
# synth.sh -- end-to-end checks of `memllm train-data synthetic`: invented entities only,
# a tiny facts file, the bundled seed facts, ZsRE records, determinism, usage and input
# errors.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
O="$TMP/synth.jsonl"

# lines of FILE that are write / read examples
count_kind() {
    grep -c "^{\"kind\":\"$2\"" "$1"
}

# ---- invented entities only ----
expect_rc 0 "$M" train-data synthetic --out "$O" -n 200 --no-facts
[ "$(wc -l <"$O")" -eq 200 ] || fail "expected 200 lines in $O, got $(wc -l <"$O")"
w=$(count_kind "$O" write)
r=$(count_kind "$O" read)
[ $((w + r)) -eq 200 ] || fail "expected 200 write or read examples, got $w + $r"
[ "$w" -gt 40 ] && [ "$w" -lt 140 ] || fail "expected about 90 write examples, got $w"
expect_in "$TMP/out" "$O: $w write examples, $r read examples"
expect_in "$O" '"completion":"({MEM_WRITE-->'
expect_in "$O" '({MEM_READ('
expect_in "$O" '"loss_from":'
expect_in "$O" '({USER_ST})'
# the same seed gives the same file, another seed another one
expect_rc 0 "$M" train-data synthetic -o "$TMP/again.jsonl" --examples=200 --no-facts
cmp -s "$O" "$TMP/again.jsonl" || fail "train-data synthetic is not deterministic"
expect_rc 0 "$M" train-data synthetic -o "$TMP/seed2.jsonl" -n 200 --seed 2 --no-facts
cmp -s "$O" "$TMP/seed2.jsonl" && fail "--seed 2 gave the same examples as seed 1"
# --json summary
expect_rc 0 "$M" --json train-data synthetic -o "$TMP/j.jsonl" -n 50 --no-facts
expect_in "$TMP/out" '"writes":'
expect_in "$TMP/out" '"reads":'
# --write-share 0: reads only
expect_rc 0 "$M" train-data synthetic -o "$TMP/reads.jsonl" -n 100 --write-share 0 --no-facts
[ "$(count_kind "$TMP/reads.jsonl" read)" -eq 100 ] || fail "--write-share 0 still wrote writes"
# no examples at all
expect_rc 0 "$M" train-data synthetic -o "$TMP/none.jsonl" -n 0 --no-facts
[ -e "$TMP/none.jsonl" ] && [ ! -s "$TMP/none.jsonl" ] || fail "-n 0 should give an empty file"

# ---- a tiny facts file ----
F="$TMP/facts.tsv"
{
    printf '# tiny facts\r\n\n'
    for i in 1 2 3 4 5 6 7 8 9; do
        printf 'Zorvania%s\tcapital\tQuelport%s\n' "$i" "$i"
        printf 'Zorvania%s\tcontinent\tEurope\r\n' "$i"
    done
} >"$F"
expect_rc 0 "$M" train-data synthetic --out "$O" -n 200 --facts "$F" --real-share 1 \
    --zsre-out "$TMP/zsre.json" --zsre-records 30
[ "$(wc -l <"$O")" -eq 200 ] || fail "expected 200 lines with --facts, got $(wc -l <"$O")"
expect_in "$O" "Zorvania"
expect_not_in "$O" "$(printf '\r')"
# a JSON array, one record per line
[ "$(wc -l <"$TMP/zsre.json")" -eq 32 ] || fail "expected 30 ZsRE records in a JSON array"
[ "$(head -n 1 "$TMP/zsre.json")" = "[" ] || fail "the ZsRE file does not start an array"
for k in src alt rephrase loc loc_ans subject; do
    [ "$(grep -c "\"$k\":\"[^\"]" "$TMP/zsre.json")" -eq 30 ] ||
        fail "not every ZsRE record has a non-empty '$k'"
done
# --real-share 0: the facts are read but not used
expect_rc 0 "$M" train-data synthetic --out "$O" -n 200 --facts "$F" --real-share 0
expect_not_in "$O" "Zorvania"

# ---- the bundled seed facts ----
expect_rc 0 "$M" train-data synthetic --out "$O" -n 100
[ "$(wc -l <"$O")" -eq 100 ] || fail "expected 100 lines with the bundled facts"

# ---- usage and input errors ----
expect_rc 0 "$M" train-data synthetic --help
expect_in "$TMP/out" "Usage: memllm train-data synthetic"
expect_in "$TMP/out" "--write-share"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --write-share 1.5 --no-facts
expect_in "$TMP/err" "--write-share"
expect_in "$TMP/err" "1.5"
expect_in "$TMP/err" "Try 'memllm train-data --help' for more information."
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --write-share abc --no-facts
expect_in "$TMP/err" "abc"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --write-share 0.95 --no-facts
expect_in "$TMP/err" "too large"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --real-share -1 --no-facts
expect_in "$TMP/err" "--real-share"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" -n many --no-facts
expect_in "$TMP/err" "many"
expect_rc 1 "$M" train-data synthetic -n 10 --no-facts
expect_in "$TMP/err" "--out"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --bogus
expect_in "$TMP/err" "--bogus"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" extra --no-facts
expect_in "$TMP/err" "extra"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --facts "$TMP/missing-facts.tsv"
expect_in "$TMP/err" "$TMP/missing-facts.tsv"
printf 'A\tcapital\tB\nC\tcapital\n' >"$TMP/bad.tsv"
expect_rc 1 "$M" train-data synthetic --out "$TMP/x.jsonl" --facts "$TMP/bad.tsv"
expect_in "$TMP/err" "$TMP/bad.tsv:2"
[ -e "$TMP/x.jsonl" ] && fail "a run that failed before generating left $TMP/x.jsonl"
# an output that cannot be written
expect_rc 2 "$M" train-data synthetic --out "$TMP/no-dir/x.jsonl" -n 5 --no-facts
expect_in "$TMP/err" "$TMP/no-dir/x.jsonl"

finish
