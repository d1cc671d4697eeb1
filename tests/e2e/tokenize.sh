#!/bin/sh
# tokenize.sh -- end-to-end checks of `memllm tokenize` on a tiny GGUF vocabulary built
# here byte by byte, and (when ../shared is present) on a golden model.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN

# little-endian integers and GGUF strings on stdout
le32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
        $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
le64() { le32 "$1"; le32 0; } # values below 2^32 only
str() { le64 "${#1}"; printf '%s' "$1"; }
sp=$(printf '\342\226\201') # U+2581, SentencePiece's space

# ids: 0 <unk> 1 <s> 2 </s> 3 ▁ 4 a 5 b 6 ▁a 7 ab 8 ▁ab; no scores (all 0), no byte tokens
F="$TMP/vocab.gguf"
{
    printf 'GGUF'; le32 3; le64 0; le64 4
    str tokenizer.ggml.model; le32 8; str llama
    str tokenizer.ggml.tokens; le32 9; le32 8; le64 9
    str '<unk>'; str '<s>'; str '</s>'; le64 3; printf '%s' "$sp"; str a; str b
    le64 4; printf '%sa' "$sp"; str ab; le64 5; printf '%sab' "$sp"
    str tokenizer.ggml.token_type; le32 9; le32 5; le64 9
    le32 2; le32 3; le32 3; le32 1; le32 1; le32 1; le32 1; le32 1; le32 1
    str tokenizer.ggml.bos_token_id; le32 4; le32 1
} >"$F"
size=$(wc -c <"$F")
head -c $(( (32 - size % 32) % 32 )) /dev/zero >>"$F"

# equal scores merge leftmost first: ▁a, then ▁ab, twice
expect_rc 0 "$M" tokenize --model "$F" --ids ab ab
expect_in "$TMP/out" "8 8"
expect_rc 0 "$M" tokenize --model="$F" --ids --add-special "ab ab"
expect_in "$TMP/out" "1 8 8"
# "c" is not in the vocabulary and there are no byte tokens: the unknown token
expect_rc 0 "$M" tokenize -m "$F" abc
expect_in "$TMP/out" "$(printf '8\t%sab' "$sp")"
expect_in "$TMP/out" "$(printf '0\t<unk>')"
# standard input, and control tokens only with --parse-special
printf '<s>a' | expect_rc 0 "$M" tokenize --model "$F" --ids --parse-special
expect_in "$TMP/out" "1 6"
printf 'a' | expect_rc 0 "$M" tokenize --model "$F" --ids -
expect_in "$TMP/out" "6"
expect_rc 0 "$M" --json tokenize --model "$F" ab
expect_in "$TMP/out" '"ids":[8],"pieces":["'"$sp"'ab"]}'
expect_rc 0 "$M" tokenize --help
expect_in "$TMP/out" "Usage: memllm tokenize"
expect_rc 1 "$M" tokenize --bogus x
expect_in "$TMP/err" "Try 'memllm tokenize --help' for more information."
expect_rc 1 "$M" tokenize --model
expect_rc 1 "$M" tokenize --model "$TMP/missing.gguf" x
expect_in "$TMP/err" "missing.gguf"
# a GGUF file without a tokenizer
{
    printf 'GGUF'; le32 3; le64 0; le64 1
    str general.architecture; le32 8; str llama
} >"$TMP/notok.gguf"
size=$(wc -c <"$TMP/notok.gguf")
head -c $(( (32 - size % 32) % 32 )) /dev/zero >>"$TMP/notok.gguf"
expect_rc 1 "$M" tokenize --model "$TMP/notok.gguf" x
expect_in "$TMP/err" "tokenizer.ggml.model"

# the golden 32000-token vocabulary, when ../shared is beside the checkout
G="${MEMLLM_SHARED:-../shared}/golden/tiny-mistral-a-f32.gguf"
if [ -r "$G" ]; then
    expect_rc 0 "$M" tokenize --model "$G" --ids "Hello world"
    expect_in "$TMP/out" "15043 3186"
    expect_rc 0 "$M" tokenize --model "$G" --ids --add-special "$(printf 'Hello\nworld')"
    expect_in "$TMP/out" "1 15043 13 11526"
else
    echo "SKIP: $G not found (../shared is absent); golden tokenize check not run" >&2
fi

finish
