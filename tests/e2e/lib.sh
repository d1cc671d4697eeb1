# lib.sh -- helpers for the end-to-end shell tests (sourced, not run).
# Exit codes follow automake's test protocol: 0 pass, 77 skip, 99 hard error, else fail.
set -u
: "${MEMLLM_BIN:?MEMLLM_BIN must point at the built memllm}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/memllm-e2e-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export HOME="$TMP/home" XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config" \
       XDG_STATE_HOME="$TMP/state" XDG_CACHE_HOME="$TMP/cache"
mkdir -p "$HOME"
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_rc WANT CMD... : run CMD, capture stdout/stderr in $TMP/out and $TMP/err
expect_rc() {
    want=$1
    shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(head -c 400 "$TMP/err")"
}

# expect_in FILE TEXT : FILE contains TEXT (fixed string)
expect_in() {
    grep -qF -- "$2" "$1" || fail "$1 lacks '$2'; it has: $(head -c 400 "$1")"
}

expect_not_in() {
    if grep -qF -- "$2" "$1"; then fail "$1 should not contain '$2'"; fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    exit 0
}
