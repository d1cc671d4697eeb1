#!/bin/sh
# generate.sh -- end-to-end checks of `memllm generate`: usage errors, and greedy decoding of the
# golden F32 model matching llama.cpp's token ids (skipped without ../shared).
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

expect_rc 0 "$M" generate --help
expect_in "$TMP/out" "Usage: memllm generate"
expect_rc 1 "$M" generate
expect_in "$TMP/err" "prompt is required"
expect_in "$TMP/err" "Try 'memllm generate --help'"
expect_rc 1 "$M" generate -p x --temp=abc
expect_in "$TMP/err" "invalid value for --temp"
expect_rc 1 "$M" generate -zp x
expect_in "$TMP/err" "unrecognized option '-z'"
# a missing option argument is named as such (not as an unknown option)
expect_rc 1 "$M" generate -p
expect_in "$TMP/err" "option '-p' needs an argument"
expect_rc 1 "$M" generate -p x --model
expect_in "$TMP/err" "option '--model' needs an argument"
expect_rc 2 "$M" generate --model "$TMP/nonexistent.gguf" -p x
expect_in "$TMP/err" "nonexistent.gguf"

G="${MEMLLM_SHARED:-../shared}/golden"
if [ ! -r "$G/tiny-mistral-a-f32.gguf" ]; then
    echo "SKIP: $G/tiny-mistral-a-f32.gguf not found (../shared is absent); golden test not run" >&2
    [ "$failures" -ne 0 ] && finish
    exit 77
fi
# the reference ids, one per line
od -An -v -t d4 -w4 "$G/tiny-mistral-a-f32.greedy.i32" | tr -d ' ' >"$TMP/want"
prompt=$(cat "$G/prompt-short.txt")
expect_rc 2 "$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p x --lora "$TMP/no-adapter.gguf:0.5"
expect_in "$TMP/err" "no-adapter.gguf"
for th in 1 2; do
    expect_rc 0 "$M" --json --threads=$th generate --model "$G/tiny-mistral-a-f32.gguf" \
        -p "$prompt" -n 16 --temp 0 --ignore-eos
    sed -n 's/^{"id":\([0-9]*\),.*/\1/p' "$TMP/out" >"$TMP/got"
    cmp -s "$TMP/want" "$TMP/got" ||
        fail "greedy ids ($th threads): got $(tr '\n' ' ' <"$TMP/got"), want $(tr '\n' ' ' <"$TMP/want")"
    expect_in "$TMP/out" '"logprob":'
    expect_in "$TMP/err" "tok/s"
done
# a write error on standard output is a failure even when each line was flushed as it came
if [ -w /dev/full ]; then
    "$M" --json generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 4 --temp 0 \
        >/dev/full 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "generate --json >/dev/full exited $rc, expected 2"
    expect_in "$TMP/err" "write error"
fi
# plain text output streams the same continuation; a stop string cuts it
expect_rc 0 "$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 16 --temp 0 \
    --ignore-eos
[ -s "$TMP/out" ] || fail "generate printed no text"
head -n 1 "$TMP/out" >"$TMP/full"
# a stop string taken from the middle of that text: the output ends right before it
stop=$(LC_ALL=C cut -c 8-12 "$TMP/full")
prefix=$(LC_ALL=C awk -v s="$stop" '{ print substr($0, 1, index($0, s) - 1) }' "$TMP/full")
expect_rc 0 "$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 16 --temp 0 \
    --ignore-eos --stop "$stop"
[ "$(head -n 1 "$TMP/out")" = "$prefix" ] ||
    fail "--stop '$stop': got '$(head -n 1 "$TMP/out")', want '$prefix'"
expect_in "$TMP/err" "stopped by stop"
# same seed, same text
expect_rc 0 "$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 8 --seed 7
cp "$TMP/out" "$TMP/seed1"
expect_rc 0 "$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 8 --seed 7
cmp -s "$TMP/out" "$TMP/seed1" || fail "the same seed gave different text"
# Ctrl-C stops cleanly after the current token (a long run that also shifts the context)
"$M" generate --model "$G/tiny-mistral-a-f32.gguf" -p "$prompt" -n 1000000 --ctx 64 \
    --ignore-eos >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
# the handler is in place once text appears (it is installed before the prompt is read)
i=0
while [ ! -s "$TMP/int.out" ] && [ $i -lt 1200 ]; do
    sleep 0.1
    i=$((i + 1))
done
sleep 0.5
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "interrupted generate exited $rc (want 130): $(head -c 300 "$TMP/int.err")"
expect_in "$TMP/int.err" "stopped by interrupt"
[ -s "$TMP/int.out" ] || fail "interrupted generate printed nothing"
finish
