#!/bin/sh
# train.sh -- end-to-end checks of `memllm train` on a tiny vocabulary built here byte by
# byte: training lowers the loss, the output runs in the engine, a run stopped and resumed
# from its checkpoint writes the same bytes as a straight run, Ctrl-C saves a checkpoint.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

le32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
        $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
le64() { le32 "$1"; le32 0; } # values below 2^32 only
str() { le64 "${#1}"; printf '%s' "$1"; }
sp=$(printf '\342\226\201') # U+2581, SentencePiece's space

# ids: 0 <unk> 1 <s> 2 </s> 3 ▁ 4 a 5 b 6 ▁a 7 ab 8 ▁ab
V="$TMP/vocab.gguf"
{
    printf 'GGUF'; le32 3; le64 0; le64 4
    str tokenizer.ggml.model; le32 8; str llama
    str tokenizer.ggml.tokens; le32 9; le32 8; le64 9
    str '<unk>'; str '<s>'; str '</s>'; le64 3; printf '%s' "$sp"; str a; str b
    le64 4; printf '%sa' "$sp"; str ab; le64 5; printf '%sab' "$sp"
    str tokenizer.ggml.token_type; le32 9; le32 5; le64 9
    le32 2; le32 3; le32 3; le32 1; le32 1; le32 1; le32 1; le32 1; le32 1
    str tokenizer.ggml.bos_token_id; le32 4; le32 1
} >"$V"
size=$(wc -c <"$V")
head -c $(( (32 - size % 32) % 32 )) /dev/zero >>"$V"

D="$TMP/data.jsonl"
i=0
while [ $i -lt 30 ]; do
    echo '{"text": "ab ab a b ab ba", "loss_from": 3}'
    echo '{"prompt": "a b", "completion": " ab ab"}'
    i=$((i + 1))
done >"$D"

SHAPE="--dim 16 --layers 2 --heads 4 --kv-heads 2 --ffn 24 --ctx 16 --batch 4 --lr 1e-2 --warmup 2"

expect_rc 0 "$M" train --help
expect_in "$TMP/out" "Usage: memllm train"
expect_rc 1 "$M" train --bogus
expect_in "$TMP/err" "Try 'memllm train --help' for more information."
expect_rc 1 "$M" train --data "$D" --out "$TMP/x.gguf"
expect_in "$TMP/err" "--vocab-from"
expect_rc 1 "$M" train --vocab-from "$V" --data "$D" --out "$TMP/x.gguf" --lr abc
expect_in "$TMP/err" "--lr"
printf '{"text": 5}\n' >"$TMP/bad.jsonl"
expect_rc 2 "$M" train --vocab-from "$V" --data "$TMP/bad.jsonl" --out "$TMP/x.gguf" $SHAPE
expect_in "$TMP/err" "line 1"

# training lowers the loss; the model loads in the engine
expect_rc 0 "$M" --threads 1 train --vocab-from "$V" --data "$D" --out "$TMP/a.gguf" $SHAPE \
    --steps 30 --eval-fraction 0.1 --eval-every 10
expect_in "$TMP/err" "step 1/30"
expect_in "$TMP/err" "model written to"
first=$(grep '^step 1/' "$TMP/err" | sed 's/.*loss \([0-9.]*\).*/\1/')
last=$(grep '^step 30/' "$TMP/err" | sed 's/.*loss \([0-9.]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 4) }' ||
    fail "loss did not fall: $first -> $last"
expect_rc 0 "$M" generate --model "$TMP/a.gguf" -p "a b" -n 4 --temp 0
expect_rc 0 "$M" info "$TMP/a.gguf"
expect_in "$TMP/out" "llama.block_count"

# 8 straight steps == 3 steps, stop, resume, 5 more (byte-identical files)
expect_rc 0 "$M" --threads 1 train --vocab-from "$V" --data "$D" --out "$TMP/s.gguf" $SHAPE \
    --steps 8 --accum 2
expect_rc 0 "$M" --threads 1 train --vocab-from "$V" --data "$D" --out "$TMP/r.gguf" $SHAPE \
    --steps 8 --accum 2 --stop-at 3 --checkpoint "$TMP/r.ckpt"
expect_in "$TMP/err" "stopped at step 3"
[ -f "$TMP/r.ckpt" ] || fail "no checkpoint after --stop-at"
[ -f "$TMP/r.gguf" ] && fail "a stopped run wrote its output"
expect_rc 0 "$M" --threads 1 train --resume "$TMP/r.ckpt" --data "$D" --out "$TMP/r.gguf" \
    $SHAPE --steps 8 --accum 2 --checkpoint "$TMP/r.ckpt"
expect_in "$TMP/err" "step 4/8"
expect_not_in "$TMP/err" "step 3/8"
cmp -s "$TMP/s.gguf" "$TMP/r.gguf" || fail "resumed run differs from the straight run"

# continue training a GGUF
expect_rc 0 "$M" train --init "$TMP/a.gguf" --data "$D" --out "$TMP/c.gguf" --batch 2 \
    --steps 2 --lr 1e-4
expect_in "$TMP/err" "context 16"

# Ctrl-C: a checkpoint, a clean exit (status 2: the model was not finished)
"$M" --threads 1 train --vocab-from "$V" --data "$D" --out "$TMP/i.gguf" $SHAPE \
    --steps 100000000 --log-every 1000 >"$TMP/iout" 2>"$TMP/ierr" &
pid=$!
# (a background job of a non-interactive sh starts with SIGINT ignored until memllm installs
# its handler, which happens before step 1 is printed; wait for that line, however slow)
n=0
while ! grep -q '^step 1/100000000' "$TMP/ierr" 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
kill -INT $pid
n=0
while kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $pid 2>/dev/null && { kill -KILL $pid; fail "training did not stop on SIGINT"; }
wait $pid
rc=$?
[ $rc -eq 2 ] || fail "interrupted training exited $rc; stderr: $(head -c 400 "$TMP/ierr")"
expect_in "$TMP/ierr" "checkpoint saved to"
[ -f "$TMP/i.gguf.ckpt" ] || fail "no checkpoint after Ctrl-C"
expect_rc 0 "$M" info "$TMP/i.gguf.ckpt"

finish
