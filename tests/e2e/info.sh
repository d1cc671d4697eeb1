#!/bin/sh
# info.sh -- end-to-end checks of `memllm info` on a GGUF file built here byte by byte,
# on corrupt files, and (when ../shared is present) on a golden model.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

# little-endian integers and GGUF strings on stdout
le32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
        $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
le64() { le32 "$1"; le32 0; } # values below 2^32 only
str() { le64 "${#1}"; printf '%s' "$1"; }

F="$TMP/tiny.gguf"
{
    printf 'GGUF'; le32 3; le64 1; le64 7
    str general.architecture; le32 8; str llama
    str general.name; le32 8; str e2e-tiny
    str llama.context_length; le32 4; le32 128
    str llama.embedding_length; le32 4; le32 4
    str tokenizer.ggml.tokens; le32 9; le32 8; le64 4; str '<unk>'; str '<s>'; str '</s>'; str '<0x0A>'
    str tokenizer.ggml.token_type; le32 9; le32 5; le64 4; le32 2; le32 3; le32 3; le32 6
    str tokenizer.ggml.bos_token_id; le32 4; le32 1
    str token_embd.weight; le32 2; le64 4; le64 3; le32 0; le64 0
} >"$F"
size=$(wc -c <"$F")
head -c $(( (32 - size % 32) % 32 + 48 )) /dev/zero >>"$F"

expect_rc 0 "$M" info "$F"
expect_in "$TMP/out" "architecture:    llama"
expect_in "$TMP/out" "e2e-tiny"
expect_in "$TMP/out" "llama.context_length"
expect_in "$TMP/out" "128"
expect_in "$TMP/out" "4 tokens"
expect_in "$TMP/out" "2 control, 0 user-defined, 1 byte"
expect_in "$TMP/out" "token_embd.weight"
expect_in "$TMP/out" "4 x 3"
expect_in "$TMP/out" "1 tensors, 12 parameters, 48 bytes, 32.00 bits per weight"
expect_not_in "$TMP/out" "Metadata"
[ -s "$TMP/err" ] && fail "info wrote to stderr: $(cat "$TMP/err")"

expect_rc 0 "$M" info --kv "$F"
expect_in "$TMP/out" "Metadata (7 keys):"
expect_in "$TMP/out" '[string x 4] "<unk>", "<s>", "</s>", "<0x0A>"'

expect_rc 0 "$M" --json info --kv "$F"
expect_in "$TMP/out" '"n_params":12'
expect_in "$TMP/out" '"n_vocab":4'
expect_in "$TMP/out" '"shape":[4,3]'
expect_in "$TMP/out" '"context_length":128'
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(sys.stdin)' <"$TMP/out" || fail "--json output is not JSON"
fi

# names from the file are shown like string values: no control bytes reach the terminal
E="$TMP/esc.gguf"
esc=$(printf '\033')
{
    printf 'GGUF'; le32 3; le64 1; le64 2
    str general.architecture; le32 8; str llama
    str "llama.x${esc}[2J"; le32 4; le32 7
    str "w${esc}]0;t"; le32 1; le64 4; le32 0; le64 0
} >"$E"
size=$(wc -c <"$E")
head -c $(( (32 - size % 32) % 32 + 16 )) /dev/zero >>"$E"
expect_rc 0 "$M" info --kv "$E"
expect_in "$TMP/out" "w?]0;t"
expect_in "$TMP/out" "llama.x?[2J"
LC_ALL=C grep -q "$esc" "$TMP/out" && fail "info printed an escape byte from the file"

# corrupt inputs: exit 1, file name and reason on stderr, nothing on stdout
head -c 100 "$F" >"$TMP/cut.gguf"
expect_rc 1 "$M" info "$TMP/cut.gguf"
expect_in "$TMP/err" "$TMP/cut.gguf"
expect_in "$TMP/err" "data ends too early"
[ -s "$TMP/out" ] && fail "corrupt file produced output"
printf 'GGML and more bytes here' >"$TMP/bad.gguf"
expect_rc 1 "$M" info "$TMP/bad.gguf"
expect_in "$TMP/err" "bad.gguf"
expect_in "$TMP/err" "bad magic"
expect_rc 1 "$M" info "$TMP/missing.gguf"
expect_in "$TMP/err" "missing.gguf"

expect_rc 1 "$M" info --bogus "$F"
expect_in "$TMP/err" "Try 'memllm info --help' for more information."
expect_rc 1 "$M" info "$F" extra
expect_rc 0 "$M" info --help
expect_in "$TMP/out" "Usage: memllm info"

G="${MEMLLM_SHARED:-../shared}/golden/tiny-mistral-a-f32.gguf"
if [ -r "$G" ]; then
    expect_rc 0 "$M" info "$G"
    expect_in "$TMP/out" "32000 tokens"
    expect_in "$TMP/out" "21 tensors"
    expect_in "$TMP/out" "llama.attention.head_count_kv"
else
    echo "SKIP: $G not found (../shared is absent); golden part not run" >&2
fi

finish
