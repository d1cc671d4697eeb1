#!/bin/sh
# tui.sh -- end-to-end test of `memllm tui` (and `memllm` with no command) in a tmux pane:
# browsing mode without a model, the triple table with a filter, help, quit with Ctrl-Q and
# with SIGTERM (the terminal is restored: the shell after it prints its line).
# Needs tmux; without it the test is skipped (exit 77).
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MEMLLM_BIN" tui --help
expect_in "$TMP/out" "Usage:"
expect_in "$TMP/out" "--no-color"
expect_rc 1 "$MEMLLM_BIN" tui --bogus
expect_in "$TMP/err" "bogus"
expect_rc 1 "$MEMLLM_BIN" tui extra
expect_in "$TMP/err" "extra"

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP: tmux is not installed; interactive checks not run" >&2
    [ "$failures" -ne 0 ] && finish
    exit 77
fi

N=0
SOCK="$TMP/tmux0.sock"
T() { tmux -S "$SOCK" "$@"; }
trap 'T kill-server >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# a fresh tmux server (own socket) for each session
fresh() {
    T kill-server >/dev/null 2>&1
    N=$((N + 1))
    SOCK="$TMP/tmux$N.sock"
}

# wait_for TEXT [SECONDS]: the pane shows TEXT
wait_for() {
    i=0
    limit=$(( ${2:-10} * 10 ))
    while [ $i -lt $limit ]; do
        T capture-pane -p -t tui >"$TMP/pane" 2>/dev/null
        grep -qF -- "$1" "$TMP/pane" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "pane never showed '$1'; it has: $(head -c 600 "$TMP/pane") ... $(tail -c 300 "$TMP/pane")"
    return 1
}

# wait_gone TEXT [SECONDS]: the pane stops showing TEXT
wait_gone() {
    i=0
    limit=$(( ${2:-10} * 10 ))
    while [ $i -lt $limit ]; do
        T capture-pane -p -t tui >"$TMP/pane" 2>/dev/null
        grep -qF -- "$1" "$TMP/pane" || return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "pane still shows '$1'; it has: $(head -c 600 "$TMP/pane") ... $(tail -c 300 "$TMP/pane")"
    return 1
}

# start CMD...: run CMD in a fresh 100x30 pane; its pid goes to $TMP/pid
start() {
    fresh
    rm -f "$TMP/pid"
    T -f /dev/null new-session -d -s tui -x 100 -y 30 \
        "sh -c 'echo \$\$ >$TMP/pid; exec env LC_ALL=C.UTF-8 TERM=xterm-256color MEMLLM_MODEL=$TMP/none.gguf $*'; echo EXIT=\$?; sleep 30"
}

# 1. no command: the TUI opens in memory-browsing mode with the seeded default memory
start "$MEMLLM_BIN"
wait_for "memory browsing only"
wait_for "Generation"
T send-keys -t tui F3
wait_for "triples"
wait_for "subject"
# incremental filter on the subject column
T send-keys -t tui /
wait_for "Filter"
T send-keys -t tui -l "Switz"
T send-keys -t tui Enter
wait_for "Switzerland"
# Enter closed the prompt: the matches are counted ("?" while the filter is typed)
wait_gone "? triples"
T capture-pane -p -t tui >"$TMP/pane"
grep -qF "filter: subject~Switz" "$TMP/pane" || fail "filter not shown in the heading"
# help lists the keys
T send-keys -t tui F1
wait_for "command palette"
T send-keys -t tui Escape
# Ctrl-Q quits with status 0 and the shell prints after the restored screen
T send-keys -t tui C-q
wait_for "EXIT=0"

# 2. `memllm tui` and SIGTERM; while it runs, what is written to its standard error goes
# to the log file, not over the screen, and it says so after the screen is restored
start "$MEMLLM_BIN" tui --no-color
wait_for "memory browsing only"
pid=$(cat "$TMP/pid" 2>/dev/null || true)
if [ -n "$pid" ]; then
    stray=no
    if [ -e "/proc/$pid/fd/2" ]; then
        stray=yes
        echo "STRAY-STDERR-LINE" >"/proc/$pid/fd/2"
        sleep 0.5
        T capture-pane -p -t tui >"$TMP/pane"
        expect_not_in "$TMP/pane" "STRAY-STDERR-LINE"
        expect_in "$XDG_STATE_HOME/memllm/memllm.log" "STRAY-STDERR-LINE"
    fi
    kill -TERM "$pid"
    wait_for "EXIT=0"
    [ "$stray" = no ] || wait_for "messages written while the interface was open are in"
else
    fail "memllm tui process not found"
fi

# 3. a tiny terminal does not crash: it shows the "too small" notice
fresh
T -f /dev/null new-session -d -s tui -x 10 -y 3 \
    "env LC_ALL=C.UTF-8 TERM=xterm-256color MEMLLM_MODEL=$TMP/none.gguf $MEMLLM_BIN; echo EXIT=\$?; sleep 30"
wait_for "terminal t"
T send-keys -t tui F2
sleep 0.3
# growing the window (SIGWINCH) lays the screen out again: the call panel appears
if T resize-window -t tui -x 120 -y 30 >/dev/null 2>&1; then
    wait_for "Memory calls"
fi
T send-keys -t tui C-q
wait_for "EXIT=0"

finish
