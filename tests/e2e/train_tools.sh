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
expect_rc 1 "$M" train-tokenizer -n 300 "$TMP/corpus.txt" -o
expect_in "$TMP/err" "option '-o' needs an argument"
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

# ---- train-data ----
I="$D/redocred-tiny.json"
R="$D/rel_info-tiny.json"
S="$TMP/split.txt"
expect_rc 0 "$M" train-data redocred --input "$I" --rel-info "$R" --split "$S" --eval-docs 1 \
    --out-train "$TMP/train.jsonl" --out-eval "$TMP/eval.jsonl"
expect_in "$TMP/out" "created the split"
expect_in "$TMP/out" "train: 2 documents, 5 sentences: 5 write examples, 8 read examples"
expect_in "$TMP/out" "eval: 1 documents, 1 sentences: 1 write examples, 2 read examples"
# the split holds the hash of the last title only (SHA-256 of "Curie", first 16 digits)
grep -v '^#' "$S" >"$TMP/hashes"
[ "$(cat "$TMP/hashes")" = "$(printf 'Curie' | sha256sum | cut -c1-16)" ] ||
    fail "split file holds $(cat "$TMP/hashes")"
expect_not_in "$S" "Curie"
[ "$(wc -l <"$TMP/train.jsonl")" -eq 13 ] || fail "train.jsonl has $(wc -l <"$TMP/train.jsonl") lines"
[ "$(wc -l <"$TMP/eval.jsonl")" -eq 3 ] || fail "eval.jsonl has $(wc -l <"$TMP/eval.jsonl") lines"
expect_in "$TMP/train.jsonl" '{"kind":"write","prompt":"({USER_ST})Dancing on Coral is a novel by Glenda Adams .({USER_END})","completion":"({MEM_WRITE-->Dancing on Coral>>author>>Glenda Adams})"}'
expect_in "$TMP/eval.jsonl" '"completion":"({MEM_WRITE-->Marie Curie>>spouse>>Pierre Curie;'
expect_in "$TMP/eval.jsonl" '{"kind":"read","text":"Marie Curie and ({MEM_READ(Marie Curie>>spouse>>;>>spouse>>Marie Curie)-->Pierre Curie})Pierre Curie lived in ({"'
python3 -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        e = json.loads(line)
        if e["kind"] == "write":
            assert e["completion"].startswith("({MEM_WRITE-->") and e["completion"].endswith("})")
        else:
            t = e["text"]
            (a, b), (c, d) = e["loss_spans"]
            assert e["loss_from"] == a and t[a:a + 2] == "({" and t[b - 3:b] == "-->"
            assert t[c - 2:c] == "})" and d == len(t)
' "$TMP/train.jsonl" "$TMP/eval.jsonl" || fail "train-data wrote malformed JSON lines"
# the same split again: the same files
cp "$TMP/train.jsonl" "$TMP/train1.jsonl"
expect_rc 0 "$M" train-data redocred -i "$I" --rel-info "$R" -s "$S" \
    --out-train "$TMP/train.jsonl" --out-eval "$TMP/eval.jsonl"
expect_not_in "$TMP/out" "created the split"
cmp -s "$TMP/train.jsonl" "$TMP/train1.jsonl" || fail "train-data output differs on a rerun"
# options: no reads, no context, token counts, JSON summary
expect_rc 0 "$M" --json train-data redocred -i "$I" --rel-info "$R" -s "$S" --no-reads \
    --context-sents 0 --tokenizer "$TMP/tok.gguf" --out-train "$TMP/w.jsonl" --out-eval "$TMP/we.jsonl"
expect_in "$TMP/out" '"writes":[5,1],"reads":[0,0]'
expect_in "$TMP/out" '"loss_tokens":['
expect_in "$TMP/w.jsonl" '"prompt":"({USER_ST})Adams was born in Sydney .({USER_END})"'
expect_rc 0 "$M" train-data redocred -i "$I" --rel-info "$R" -s "$S" --no-writes \
    --read-to-sentence-end --out-train "$TMP/r.jsonl" --out-eval "$TMP/re.jsonl"
expect_in "$TMP/r.jsonl" '-->Glenda Adams})Glenda Adams .","loss_from":31,'
expect_not_in "$TMP/r.jsonl" '"kind":"write"'
expect_rc 0 "$M" --json train-data redocred -i "$I" --rel-info "$R" -s "$S" --no-writes \
    --context-sents 0 --reads-in-context --out-train "$TMP/r.jsonl" --out-eval "$TMP/re.jsonl"
expect_in "$TMP/out" '"reads":[7,2]'
# errors
expect_rc 0 "$M" train-data --help
expect_in "$TMP/out" "Usage: memllm train-data redocred"
expect_rc 1 "$M" train-data redocred -i "$I" -s "$S" --out-train "$TMP/a"
expect_in "$TMP/err" "Try 'memllm train-data --help' for more information."
expect_rc 1 "$M" train-data docred -i "$I" -s "$S" --out-train "$TMP/a" --out-eval "$TMP/b"
expect_in "$TMP/err" "docred"
expect_rc 1 "$M" train-data redocred -i "$TMP/missing.json" --rel-info "$R" -s "$S" \
    --out-train "$TMP/a" --out-eval "$TMP/b"
expect_in "$TMP/err" "missing.json"
expect_rc 1 "$M" train-data redocred -i "$I" -s "$S" --out-train "$TMP/a" --out-eval "$TMP/b"
expect_in "$TMP/err" "rel_info.json"
printf 'nothex\n' >"$TMP/badsplit.txt"
expect_rc 1 "$M" train-data redocred -i "$I" --rel-info "$R" -s "$TMP/badsplit.txt" \
    --out-train "$TMP/a" --out-eval "$TMP/b"
expect_in "$TMP/err" "badsplit.txt:1"

finish
