#!/bin/sh
# agent.sh -- end-to-end checks of `memllm ask`, `write`, `chat` and `audit`: usage errors, and a
# whole pipeline on the golden tiny random model (gibberish text, but runs must be recorded;
# skipped without ../shared).
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
DB="$TMP/mem.db"

for c in ask write chat audit; do
    expect_rc 0 "$M" $c --help
    expect_in "$TMP/out" "Usage: memllm"
done
expect_rc 1 "$M" ask
expect_in "$TMP/err" "question is required"
expect_in "$TMP/err" "Try 'memllm ask --help'"
expect_rc 1 "$M" ask --temp=abc x
expect_in "$TMP/err" "invalid value for --temp"
expect_rc 1 "$M" ask --constrain=maybe x
expect_in "$TMP/err" "--constrain"
expect_rc 1 "$M" ask --mode=maybe x
expect_in "$TMP/err" "--mode"
expect_rc 1 "$M" write
expect_in "$TMP/err" "Try 'memllm write --help'"
expect_rc 1 "$M" write "$TMP/absent.txt"
expect_in "$TMP/err" "absent.txt"
expect_rc 1 "$M" audit --list --delete 3
expect_rc 2 "$M" --db "$DB" ask --model "$TMP/nonexistent.gguf" x
expect_in "$TMP/err" "nonexistent.gguf"
expect_rc 0 "$M" --db "$DB" audit --list
expect_in "$TMP/out" "no runs recorded"

G="${MEMLLM_SHARED:-../shared}/golden/tiny-mistral-a-f32.gguf"
if [ ! -r "$G" ]; then
    echo "SKIP: $G not found (../shared is absent); golden pipeline not run" >&2
    [ "$failures" -ne 0 ] && finish
    exit 77
fi

# ask: streams text, records run 1
expect_rc 0 "$M" --db "$DB" ask --model "$G" -n 16 --temp 0 "Who founded Apple Inc.?"
expect_in "$TMP/err" "generation: 16 tokens"
expect_in "$TMP/err" "run 1 recorded"
[ -s "$TMP/out" ] || fail "ask printed no answer"
# the same greedy answer twice
cp "$TMP/out" "$TMP/ans1"
expect_rc 0 "$M" --db "$DB" ask --model "$G" -n 16 --temp 0 --no-record "Who founded Apple Inc.?"
cmp -s "$TMP/out" "$TMP/ans1" || fail "greedy answers differ"
expect_not_in "$TMP/err" "recorded"
# JSON events end with done
expect_rc 0 "$M" --db "$DB" --json ask --model "$G" -n 4 --seed 7 --constrain=on "Hi"
expect_in "$TMP/out" '"event":"token"'
tail -n 1 "$TMP/out" >"$TMP/last"
expect_in "$TMP/last" '"event":"done"'
expect_in "$TMP/last" '"run":2'
# audit
expect_rc 0 "$M" --db "$DB" audit --list
expect_in "$TMP/out" "Who founded Apple Inc.?"
expect_rc 0 "$M" --db "$DB" audit 1
expect_in "$TMP/out" "prompt: Who founded Apple Inc.?"
expect_rc 0 "$M" --db "$DB" --json audit 1
expect_in "$TMP/out" '"run":1'
expect_in "$TMP/out" '"calls":['
# constrained decoding is on by default; --constrain off turns it off (run settings)
expect_in "$TMP/out" 'constrain\":true'
# the golden model's vocabulary has no memllm call tokens: auto picks the prompted mode
expect_in "$TMP/out" 'mode\":\"prompted'
expect_rc 0 "$M" --db "$DB" --json ask --model "$G" -n 2 --temp 0 --constrain off "Hi"
tail -n 1 "$TMP/out" >"$TMP/last"
expect_in "$TMP/last" '"run":3'
expect_rc 0 "$M" --db "$DB" --json audit 3
expect_in "$TMP/out" 'constrain\":false'
expect_rc 0 "$M" --db "$DB" --json ask --model "$G" -n 2 --temp 0 --mode native --no-record "Hi"
expect_rc 0 "$M" --db "$DB" ask --model "$G" -n 2 --temp 0 --mode native "Hi"
expect_in "$TMP/err" "run 4 recorded"
expect_rc 0 "$M" --db "$DB" --json audit 4
expect_in "$TMP/out" 'mode\":\"native'
# write: a dry run stores nothing; a real run is recorded
printf 'Paris is the capital of France. Dr. Smith lives there.\n\nIt rains.\n' >"$TMP/doc.txt"
expect_rc 0 "$M" --db "$DB" write --dry-run --model "$G" --max-tokens 8 "$TMP/doc.txt"
expect_in "$TMP/err" "3 sentences"
expect_in "$TMP/err" "dry run"
expect_rc 0 "$M" --db "$DB" write --dry-run --constrain=on --model "$G" --max-tokens 8 "$TMP/doc.txt"
expect_in "$TMP/err" "3 sentences"
expect_rc 0 "$M" --db "$DB" --json write --model "$G" --max-tokens 8 - <"$TMP/doc.txt"
expect_in "$TMP/out" '"event":"write"'
expect_in "$TMP/out" '"sentence":"Dr. Smith lives there."'
expect_rc 0 "$M" --db "$DB" audit --list
expect_in "$TMP/out" "write: "
# a file name that is not UTF-8: the run is still recorded (titled with U+FFFD)
cp "$TMP/doc.txt" "$TMP/doc$(printf '\351').txt"
expect_rc 0 "$M" --db "$DB" write --model "$G" --max-tokens 2 "$TMP/doc$(printf '\351').txt"
expect_not_in "$TMP/err" "recording the run"
expect_rc 0 "$M" --db "$DB" audit --list
expect_in "$TMP/out" "write: doc$(printf '\357\277\275').txt"
# chat: one question, then /quit (the line after it is not asked)
printf 'hello\n\n/quit\nnot asked\n' >"$TMP/chat.in"
"$M" --db "$DB" chat --model "$G" -n 3 <"$TMP/chat.in" >"$TMP/out" 2>"$TMP/err" ||
    fail "chat failed: $(head -c 300 "$TMP/err")"
n=$(grep -c "recorded" "$TMP/err")
[ "$n" -eq 1 ] || fail "chat answered $n questions, expected 1"
# chat keeps history: the second question's prompt holds the first turn; /reset forgets it
printf 'hello there\n/help\nsecond question\n/reset\nthird\n/bogus\n/quit\n' >"$TMP/chat.in"
"$M" --db "$DB" --json chat --model "$G" -n 3 --temp 0 <"$TMP/chat.in" >"$TMP/out" 2>"$TMP/err" ||
    fail "chat --json failed: $(head -c 300 "$TMP/err")"
expect_in "$TMP/out" '{"event":"turn","turn":1,"history":0}'
expect_in "$TMP/out" '{"event":"help"}'
expect_in "$TMP/out" '{"event":"turn","turn":2,"history":1}'
expect_in "$TMP/out" '{"event":"reset"}'
expect_in "$TMP/out" '{"event":"turn","turn":3,"history":0}'
expect_in "$TMP/err" "/bogus"
run=$(grep -o '"event":"done","stop":"[a-z]*","run":[0-9]*' "$TMP/out" | sed -n 2p |
    sed 's/.*"run"://')
expect_rc 0 "$M" --db "$DB" --json audit "$run"
expect_in "$TMP/out" 'hello there [/INST] '
expect_in "$TMP/out" '</s>[INST] second question'
expect_rc 0 "$M" --db "$DB" --json audit "$((run + 1))"
expect_in "$TMP/out" '"prompt":"third"'
expect_rc 1 "$M" ask --history=3 x
expect_in "$TMP/err" "unrecognized option '--history'"
# --embedder model: a database built with one embedder refuses the other
DB2="$TMP/model-emb.db"
printf 'Paris is the capital of France.\n' >"$TMP/one.txt"
expect_rc 0 "$M" --db "$DB2" write --embedder=model --model "$G" --max-tokens 8 "$TMP/one.txt"
expect_rc 0 "$M" --db "$DB2" ask --embedder=model --model "$G" -n 2 "Hi"
expect_rc 2 "$M" --db "$DB2" ask --model "$G" -n 2 "Hi"
expect_in "$TMP/err" "embedder 'model:"
expect_rc 2 "$M" --db "$DB" ask --embedder=model --model "$G" -n 2 "Hi"
expect_in "$TMP/err" "hash-ngram"
expect_rc 1 "$M" ask --embedder=bogus x
expect_in "$TMP/err" "--embedder"
# delete a run
expect_rc 0 "$M" --db "$DB" audit --delete 1
expect_rc 1 "$M" --db "$DB" audit 1
expect_in "$TMP/err" "not found"
finish
