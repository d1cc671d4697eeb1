#!/bin/sh
# quantize.sh -- end-to-end checks of `memllm quantize`: usage errors, bad input, and a
# conversion of the golden model checked with `memllm info`.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

expect_rc 0 "$M" quantize --help
expect_in "$TMP/out" "Usage: memllm quantize"
expect_in "$TMP/out" "Q4_K_M"
# an unknown short option inside a cluster is named itself
expect_rc 1 "$M" quantize -xq a.gguf b.gguf Q8_0
expect_in "$TMP/err" "unrecognized option '-x'"
expect_rc 1 "$M" quantize only-two args
expect_in "$TMP/err" "Try 'memllm quantize --help' for more information."
expect_rc 1 "$M" quantize a.gguf b.gguf Q9_9
expect_in "$TMP/err" "unknown type 'Q9_9'"
printf 'GGUF\003\000\000\000' >"$TMP/short.gguf"
expect_rc 1 "$M" quantize "$TMP/short.gguf" "$TMP/o.gguf" Q8_0
expect_in "$TMP/err" "$TMP/short.gguf"
[ -e "$TMP/o.gguf" ] && fail "a failed conversion left an output file"

expect_rc 1 "$M" quantize --meta=novalue a.gguf b.gguf Q8_0
expect_in "$TMP/err" "invalid metadata 'novalue'"
expect_rc 1 "$M" quantize --meta-u32=k=-1 a.gguf b.gguf Q8_0
expect_in "$TMP/err" "invalid metadata 'k=-1'"
expect_rc 1 "$M" quantize --meta-f32=k=warm a.gguf b.gguf Q8_0
expect_in "$TMP/err" "invalid metadata 'k=warm'"

GOLD="${MEMLLM_SHARED:-../shared}/golden/tiny-mistral-a-f32.gguf"
if [ -f "$GOLD" ]; then
    expect_rc 0 "$M" quantize "$GOLD" "$TMP/q.gguf" Q4_K_M
    expect_in "$TMP/err" "quantize: wrote"
    expect_rc 0 "$M" info "$TMP/q.gguf"
    # model A's rows (64 and 192 values) hold no whole 256-value K blocks: Q8_0 fallback
    expect_in "$TMP/out" "blk.0.attn_q.weight"
    grep -q 'blk.0.attn_q.weight.*Q8_0' "$TMP/out" || fail "attn_q was not converted to Q8_0"
    grep -q 'blk.0.attn_norm.weight.*F32' "$TMP/out" || fail "a norm weight was converted"
    # --meta sets keys after the copied ones (a copied key is replaced)
    expect_rc 0 "$M" quantize -q --meta=general.name=renamed --meta-u32=x.count=7 \
        --meta-f32=memllm.sampling.temperature=0.25 "$GOLD" "$TMP/qm.gguf" Q8_0
    expect_rc 0 "$M" info --kv "$TMP/qm.gguf"
    expect_in "$TMP/out" "renamed"
    expect_in "$TMP/out" "x.count"
    expect_in "$TMP/out" "0.25"
    expect_rc 0 "$M" quantize -q "$GOLD" "$TMP/q8.gguf" q8_0
    [ -s "$TMP/err" ] && fail "--quiet still printed: $(cat "$TMP/err")"
else
    echo "SKIP: $GOLD not found (../shared is absent); golden conversion not run" >&2
fi
finish
