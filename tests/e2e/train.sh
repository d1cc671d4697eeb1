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
expect_rc 1 "$M" train --data
expect_in "$TMP/err" "option '--data' needs an argument"
expect_rc 1 "$M" train -zh
expect_in "$TMP/err" "unrecognized option '-z'"
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
[ $rc -eq 130 ] || fail "interrupted training exited $rc (want 130); stderr: $(head -c 400 "$TMP/ierr")"
expect_in "$TMP/ierr" "checkpoint saved to"
[ -f "$TMP/i.gguf.ckpt" ] || fail "no checkpoint after Ctrl-C"
expect_rc 0 "$M" info "$TMP/i.gguf.ckpt"

# LoRA on a Q8_0 base: JSON progress, an adapter that the engine loads and lora-merge merges,
# stop + resume of the adapter byte-identical to a straight run
expect_rc 0 "$M" --threads 1 train --vocab-from "$V" --data "$D" --out "$TMP/b.gguf" \
    --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 64 --ctx 16 --batch 4 --steps 4
expect_rc 0 "$M" quantize -q "$TMP/b.gguf" "$TMP/b8.gguf" Q8_0
LORA="--lora-rank 4 --lora-alpha 8 --lora-targets q,k,v,o,gate,up,down,output --batch 4"
expect_rc 0 "$M" --threads 1 train --init "$TMP/b8.gguf" $LORA --data "$D" \
    --out "$TMP/ad.gguf" --steps 30 --lr 1e-2 --warmup 2 --log-every 5 --json
expect_in "$TMP/err" "LoRA: rank 4"
expect_in "$TMP/out" '{"event":"step","step":1,"steps":30,"loss":'
expect_in "$TMP/out" '{"event":"done","steps":30,'
lines=$(grep -c '"event":"step"' "$TMP/out")
[ "$lines" -eq 7 ] || fail "expected 7 JSON step lines, got $lines"
grep -v '^{.*}$' "$TMP/out" && fail "a --json line that is not an object"
first=$(grep '"step":1,' "$TMP/out" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(grep '"step":30,' "$TMP/out" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' ||
    fail "LoRA loss did not fall: $first -> $last"
expect_rc 0 "$M" info "$TMP/ad.gguf"
expect_in "$TMP/out" "blk.1.ffn_down.weight.lora_b"
expect_rc 0 "$M" generate --model "$TMP/b8.gguf" --lora "$TMP/ad.gguf" -p "a b" -n 4 --temp 0
expect_rc 0 "$M" lora-merge --base "$TMP/b8.gguf" --lora "$TMP/ad.gguf" --out "$TMP/m8.gguf"
expect_rc 0 "$M" generate --model "$TMP/m8.gguf" -p "a b" -n 4 --temp 0
expect_rc 0 "$M" --threads 1 train --init "$TMP/b8.gguf" $LORA --data "$D" \
    --out "$TMP/ad2.gguf" --steps 6 --lora-dropout 0.2
expect_rc 0 "$M" --threads 1 train --init "$TMP/b8.gguf" $LORA --data "$D" \
    --out "$TMP/ad3.gguf" --steps 6 --lora-dropout 0.2 --stop-at 2 --json
expect_in "$TMP/out" '{"event":"checkpoint","step":2,"reason":"stop-at","path":'
expect_rc 0 "$M" --threads 1 train --init "$TMP/b8.gguf" $LORA --data "$D" \
    --out "$TMP/ad3.gguf" --steps 6 --lora-dropout 0.2 --resume "$TMP/ad3.gguf.ckpt"
expect_in "$TMP/err" "step 3/6"
cmp -s "$TMP/ad2.gguf" "$TMP/ad3.gguf" || fail "resumed LoRA run differs from the straight run"
expect_rc 1 "$M" train --vocab-from "$V" --lora-rank 4 --data "$D" --out "$TMP/x.gguf"
expect_in "$TMP/err" "--init"
expect_rc 1 "$M" train --init "$TMP/b8.gguf" --lora-rank 4 --lora-targets q,x --data "$D" \
    --out "$TMP/x.gguf"
expect_in "$TMP/err" "'x'"
# a time-based checkpoint: every 0 < X minutes writes one after the first step
expect_rc 0 "$M" --threads 1 train --init "$TMP/b8.gguf" $LORA --data "$D" \
    --out "$TMP/ad4.gguf" --steps 2 --save-every-min 0.000001 --json
expect_in "$TMP/out" '"reason":"minutes"'

finish
