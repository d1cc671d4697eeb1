#!/bin/sh
# train_tools.sh -- end-to-end checks of `memllm train-tokenizer` and `memllm train-data`
# on small inputs made here and on the hand-written fixtures in tests/data.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
D="${top_srcdir:-.}/tests/data"

# ---- train-tokenizer ----
i=0
while [ $i -lt 40 ]; do
    echo "Glenda Adams wrote Dancing on Coral. ({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})"
    i=$((i + 1))
done >"$TMP/corpus.txt"
printf '{"prompt":"({USER_ST})Paris is in France.({USER_END})","completion":"({MEM_WRITE-->Paris>>country>>France})"}\n' >"$TMP/ex.jsonl"
expect_rc 0 "$M" train-tokenizer --vocab-size 400 --out "$TMP/tok.gguf" "$TMP/corpus.txt" "$TMP/ex.jsonl"
expect_in "$TMP/out" " tokens ("
expect_in "$TMP/out" "check: 0 of"
expect_rc 0 "$M" tokenize --model "$TMP/tok.gguf" --ids "({MEM_WRITE-->})"
expect_in "$TMP/out" "260 "
expect_in "$TMP/out" " 259 261"
expect_rc 0 "$M" tokenize --model "$TMP/tok.gguf" "Glenda Adams"
expect_in "$TMP/out" "$(printf '\tGlenda')"
# same input, same bytes
expect_rc 0 "$M" --json train-tokenizer -n 400 -o "$TMP/tok2.gguf" "$TMP/corpus.txt" "$TMP/ex.jsonl"
expect_in "$TMP/out" '"check_mismatches":0'
cmp -s "$TMP/tok.gguf" "$TMP/tok2.gguf" || fail "train-tokenizer is not deterministic"
# an extra user token
expect_rc 0 "$M" train-tokenizer -n 300 -u '<|x|>' -o "$TMP/tok3.gguf" "$TMP/corpus.txt"
expect_rc 0 "$M" tokenize --model "$TMP/tok3.gguf" --ids 'a<|x|>'
expect_in "$TMP/out" "259"
# usage and input errors
expect_rc 0 "$M" train-tokenizer --help
expect_in "$TMP/out" "Usage: memllm train-tokenizer"
expect_rc 1 "$M" train-tokenizer --bogus
expect_in "$TMP/err" "Try 'memllm train-tokenizer --help' for more information."
expect_rc 1 "$M" train-tokenizer -n 300 "$TMP/corpus.txt"
expect_in "$TMP/err" "--out"
expect_rc 1 "$M" train-tokenizer -n 300 -o "$TMP/x.gguf"
expect_rc 1 "$M" train-tokenizer -n 12 -o "$TMP/x.gguf" "$TMP/corpus.txt"
expect_in "$TMP/err" "too small"
expect_rc 1 "$M" train-tokenizer -n 300 -o "$TMP/x.gguf" "$TMP/missing.txt"
expect_in "$TMP/err" "missing.txt"
printf '{"text":"a"}\n{"no":"text"}\n' >"$TMP/bad.jsonl"
expect_rc 1 "$M" train-tokenizer -n 300 -o "$TMP/x.gguf" "$TMP/bad.jsonl"
expect_in "$TMP/err" "bad.jsonl:2"
[ -e "$TMP/x.gguf" ] && fail "a failed run left an output file"

finish
