#!/bin/sh
# lora.sh -- end-to-end checks of `memllm lora-merge` on tiny models and adapters that
# tests/test_lora writes (--write-fixtures); merged weights are checked against sums in double
# precision by the same program (--check-merged).
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
T="${top_builddir:-.}/tests/test_lora"
[ -x "$T" ] || { echo "ERROR: $T is not built" >&2; exit 99; }
F="$TMP/fx"
mkdir -p "$F"
"$T" --write-fixtures "$F" || { echo "ERROR: fixtures not written" >&2; exit 99; }

# help and usage errors
expect_rc 0 "$M" lora-merge --help
expect_in "$TMP/out" "Usage: memllm lora-merge"
[ -s "$TMP/err" ] && fail "--help wrote to stderr"
expect_rc 1 "$M" lora-merge --base "$F/base.gguf" --out
expect_in "$TMP/err" "option '--out' needs an argument"
expect_rc 1 "$M" lora-merge --lora "$F/adapter.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "--base is required"
expect_in "$TMP/err" "Try 'memllm lora-merge --help'"
expect_rc 1 "$M" lora-merge --base "$F/base.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "--lora is required"
expect_rc 1 "$M" lora-merge --base "$F/base.gguf" --lora "$F/adapter.gguf"
expect_in "$TMP/err" "--out is required"
expect_rc 1 "$M" lora-merge --base "$F/base.gguf" --lora "$F/adapter.gguf:abc" --out "$TMP/o.gguf"
expect_in "$TMP/err" "invalid LoRA scale 'abc'"
expect_rc 1 "$M" lora-merge --base "$F/base.gguf" --lora "$F/adapter.gguf" --out "$TMP/o.gguf" \
    --type Q9_9
expect_in "$TMP/err" "invalid value for --type: 'Q9_9'"
expect_rc 1 "$M" lora-merge --bogus
expect_in "$TMP/err" "unrecognized option '--bogus'"

# input errors name the file and the reason; nothing is written
expect_rc 2 "$M" lora-merge --base "$F/base.gguf" --lora "$F/none.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "none.gguf"
expect_rc 2 "$M" lora-merge --base "$F/base.gguf" --lora "$F/base.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "not a LoRA adapter"
expect_rc 2 "$M" lora-merge --base "$F/qwen.gguf" --lora "$F/adapter.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "adapter.gguf"
expect_in "$TMP/err" "architecture 'llama' but the base model is 'qwen2'"
expect_rc 2 "$M" lora-merge --base "$F/base.gguf" --lora "$F/wide.gguf" --out "$TMP/o.gguf"
expect_in "$TMP/err" "blk.0.attn_k.weight is 32 x 16"
expect_rc 2 "$M" lora-merge --base "$F/base.gguf" --lora "$F/adapter.gguf" --out "$TMP/o.gguf" \
    --type Q4_K
expect_in "$TMP/err" "Q4_K"
[ -e "$TMP/o.gguf" ] && fail "a failed merge left $TMP/o.gguf"

# B = 0: the merged F32 model is the base, tensor bytes and all
expect_rc 0 "$M" lora-merge --base "$F/base.gguf" --lora "$F/zero.gguf" --out "$TMP/z.gguf"
expect_in "$TMP/err" "[3/3]"
cmp -s "$F/base.gguf" "$TMP/z.gguf" || fail "merging a zero adapter changed the file"

# a real merge, checked against double-precision sums; scale 0.5 as FILE:SCALE
expect_rc 0 "$M" lora-merge -b "$F/base.gguf" -l "$F/adapter.gguf:0.5" -o "$TMP/m.gguf"
expect_in "$TMP/err" "blk.0.attn_q.weight"
expect_in "$TMP/err" "(tensors changed: 3, adapters: 1)"
[ -s "$TMP/out" ] && fail "lora-merge wrote to stdout"
"$T" --check-merged "$F/base.gguf" "$F/adapter.gguf" 0.5 "$TMP/m.gguf" 2e-6 ||
    fail "merged F32 weights differ from base + 0.5 * alpha / r * B A"
"$T" --check-merged "$F/base.gguf" "$F/adapter.gguf" 1 "$TMP/m.gguf" 2e-6 2>/dev/null &&
    fail "the check accepts a merge made with another scale"
# the same adapter twice at 0.25 equals once at 0.5
expect_rc 0 "$M" lora-merge -q -b "$F/base.gguf" -l "$F/adapter.gguf:0.25" \
    -l "$F/adapter.gguf:0.25" -o "$TMP/m2.gguf"
[ -s "$TMP/err" ] && fail "--quiet wrote to stderr"
"$T" --check-merged "$F/base.gguf" "$F/adapter.gguf" 0.5 "$TMP/m2.gguf" 2e-6 ||
    fail "two adapters at 0.25 differ from one at 0.5"
# a quantized base stays quantized; --type converts the merged tensors only
expect_rc 0 "$M" lora-merge -q -b "$F/base-q8_0.gguf" -l "$F/adapter.gguf" -o "$TMP/q.gguf"
"$T" --check-merged "$F/base-q8_0.gguf" "$F/adapter.gguf" 1 "$TMP/q.gguf" 0 ||
    fail "merged Q8_0 weights are off by more than the quantization step"
expect_rc 0 "$M" lora-merge -q -b "$F/base.gguf" -l "$F/adapter.gguf" -o "$TMP/f16.gguf" -t f16
"$T" --check-merged "$F/base.gguf" "$F/adapter.gguf" 1 "$TMP/f16.gguf" 1e-3 ||
    fail "merged F16 weights are off"
expect_rc 0 "$M" info "$TMP/f16.gguf"
expect_in "$TMP/out" "F16"
finish
