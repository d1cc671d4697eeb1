#!/bin/sh
# tui_scenario.sh -- issue 7's acceptance test: the real `memllm tui` on the bundled default
# model, driven in tmux at 120x40 and again at 80x24.  Teach a sentence (Teach mode) and see
# its triple in the triple table; ask (Ask mode) and see the MEM_READ with its result in the
# transcript, the call panel and the answer; open the audit view of that answer; retire the
# triple (declining once, then confirming); ask again and see the read come back empty and
# the model say it does not know.  Greedy decoding (--temp 0, checked in the settings).
# Each step polls `tmux capture-pane -p` every 0.2 s (up to WAIT seconds) for screen text.
# Needs tmux (skipped loudly with exit 77 without it) and data/memllm-default.gguf.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
MODEL="${MEMLLM_DATADIR:-${top_srcdir:-.}/data}/memllm-default.gguf"
WAIT=${TUI_SCENARIO_WAIT:-60} # seconds per step: generous for the sanitizer build

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP: tmux is not installed; the TUI scenario (issue 7) was NOT run" >&2
    echo "SKIP: install it with build-aux/install-deps" >&2
    exit 77
fi
[ -r "$MODEL" ] || { echo "FAIL: the bundled model $MODEL is missing" >&2; exit 1; }

# a terminal type whose key sequences are the ones tmux sends (Home/End differ in xterm's)
TERM_IN=screen
for t in tmux-256color screen-256color; do
    if infocmp "$t" >/dev/null 2>&1; then
        TERM_IN=$t
        break
    fi
done

SOCK="$TMP/tmux.sock"
N=0
T() { tmux -S "$SOCK" "$@"; }
trap 'T kill-server >/dev/null 2>&1; rm -rf "$TMP"' EXIT
PANE="$TMP/pane"
snap() { T capture-pane -p -t tui >"$PANE" 2>/dev/null; }

# wait_for TEXT: poll until the pane shows TEXT (fixed string); fail with the screen if not
wait_for() {
    i=0
    while [ $i -lt $((WAIT * 5)) ]; do
        snap
        grep -qF -- "$1" "$PANE" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    fail "[$SIZE] $STEP: the screen never showed '$1'; it has:
$(cat "$PANE")"
    return 1
}

# wait_re REGEX: as wait_for with an extended regular expression
wait_re() {
    i=0
    while [ $i -lt $((WAIT * 5)) ]; do
        snap
        grep -qE -- "$1" "$PANE" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    fail "[$SIZE] $STEP: the screen never matched /$1/; it has:
$(cat "$PANE")"
    return 1
}

# wait_input TEXT: poll until the input box (the line under its heading) reads TEXT
wait_input() {
    i=0
    while [ $i -lt $((WAIT * 5)) ]; do
        snap
        got=$(awk 'p { print; exit } /Input \[/ { p = 1 }' "$PANE")
        [ "$got" = "$1" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    fail "[$SIZE] $STEP: the input box never read '$1'; it has:
$(cat "$PANE")"
    return 1
}

# gone TEXT: poll until the pane no longer shows TEXT
gone() {
    i=0
    while [ $i -lt $((WAIT * 5)) ]; do
        snap
        grep -qF -- "$1" "$PANE" || return 0
        sleep 0.2
        i=$((i + 1))
    done
    fail "[$SIZE] $STEP: '$1' stayed on the screen"
    return 1
}

# on_screen TEXT / not_on_screen TEXT: the last snapshot has / lacks TEXT
on_screen() {
    grep -qF -- "$1" "$PANE" || fail "[$SIZE] $STEP: '$1' not on the screen:
$(cat "$PANE")"
}
not_on_screen() {
    if grep -qF -- "$1" "$PANE"; then
        fail "[$SIZE] $STEP: '$1' should not be on the screen:
$(cat "$PANE")"
    fi
}

keys() { T send-keys -t tui "$@"; }
type_text() { T send-keys -t tui -l "$1"; }

# scenario COLS ROWS: the whole scenario on a fresh database in a COLSxROWS window
scenario() {
    SIZE="$1x$2"
    STEP=start
    N=$((N + 1))
    DB="$TMP/mem$N.db"
    T kill-server >/dev/null 2>&1
    SOCK="$TMP/tmux$N.sock"
    # no --model: `memllm tui` must find the bundled model itself (MEMLLM_DATADIR)
    T -f /dev/null new-session -d -s tui -x "$1" -y "$2" \
        "env -u MEMLLM_MODEL LC_ALL=C.UTF-8 TERM=$TERM_IN '$M' --db='$DB' tui --temp 0 \
         2>'$TMP/stderr$N'; echo EXIT=\$?; sleep 600"
    got=$(T display-message -p -t tui '#{pane_width}x#{pane_height}')
    [ "$got" = "$SIZE" ] || fail "[$SIZE] the tmux pane is $got"
    wait_for "ready: type a question" || return 0
    on_screen "[Ask]"
    not_on_screen "memory browsing only"

    STEP="settings: greedy decoding"
    keys F5
    wait_re "sampling: temperature +0\.00" || return 0
    keys F2
    wait_for "Input [Ask]" || return 0

    STEP="teach a sentence"
    keys C-t
    wait_for "Input [Teach]" || return 0
    type_text "Zorvath is the capital of Quillonia."
    wait_input "+ Zorvath is the capital of Quillonia." || return 0
    keys Enter
    wait_for "taught 1 sentence: 1 triple (1 new" || return 0
    on_screen "({MEM_WRITE-->Quillonia>>capital>>Zorvath})"

    STEP="the triple table"
    keys F3
    wait_re "^. *[0-9]+ +Quillonia +capital +Zorvath *$" || return 0
    on_screen "Memory  1 triple "
    # the detail pane (all of it from 40 rows) shows the triple's source sentence
    if [ "$2" -ge 40 ]; then
        wait_for "Zorvath is the capital of Quillonia." || return 0
    fi

    STEP="ask a question"
    keys F2
    wait_for "Input [Teach]" || return 0
    keys C-t
    wait_for "Input [Chat]" || return 0
    keys C-t
    wait_for "Input [Ask]" || return 0
    type_text "What is the capital of Quillonia?"
    wait_input "> What is the capital of Quillonia?" || return 0
    keys Enter
    wait_re "\[done: .* run 2\]" || return 0
    # the inline read with its result, then the answer that quotes it
    wait_re "MEM_READ\(Quillonia>>capital>>\??\)-->Zorvath\}\) *Zorvath" || return 0
    # the call panel's heading of the read carries its result
    wait_re "read  Quillonia>>capital>>\?  → Zorvath" || return 0

    STEP="the call panel"
    keys Tab
    wait_for "▶ Generation" || return 0
    keys Tab
    wait_for "▶ Memory calls (2)" || return 0
    keys G # the newest call (the read)
    keys Space # expands it
    wait_for "query 1: Quillonia>>capital>>?" || return 0
    wait_re "#[0-9]+ Quillonia \| capital \| Zorvath" || return 0
    keys Space # folds it again
    gone "query 1: Quillonia>>capital>>?" || return 0

    STEP="the audit view of the answer"
    keys F4
    wait_for "▶ Runs" || return 0
    wait_re "^#[0-9]+ .*What is the capital" || return 0
    keys Enter
    wait_re "Audit─" || return 0
    wait_for "> What is the capital of Quillonia?" || return 0
    wait_re "Call 1: .*MEM_READ\(Quillonia>>capital>>" || return 0
    wait_re "#[0-9]+ Quillonia \| capital \| Zorvath" || return 0
    wait_for "« Zorvath is the capital of Quillonia." || return 0
    wait_for "answer span: Zorvath" || return 0
    keys Escape
    gone "Audit─" || return 0

    STEP="retire the triple"
    keys F3
    wait_re "^. *[0-9]+ +Quillonia +capital +Zorvath *$" || return 0
    keys d
    wait_re "Retire the triple #[0-9]+ \(Quillonia \| capital \| Zorvath\)\?" || return 0
    keys n # declined: nothing changes
    gone "Retire the triple" || return 0
    on_screen "Memory  1 triple "
    keys d
    wait_for "Retire the triple" || return 0
    keys y
    wait_re "^retired #[0-9]+" || return 0
    wait_for "Memory  0 triples " || return 0
    # shown again with the retired ones
    keys r
    wait_for "retired triples shown" || return 0
    wait_re "[0-9]+ +Quillonia +capital +Zorvath" || return 0
    keys r
    wait_for "retired triples hidden" || return 0

    STEP="ask again: the read comes back empty"
    keys F2
    wait_for "Input [Ask]" || return 0
    type_text "What is the capital of Quillonia?"
    wait_input "> What is the capital of Quillonia?" || return 0
    keys Enter
    wait_re "\[done: .* run 3\]" || return 0
    wait_re "MEM_READ\(Quillonia>>capital>>\??\)-->✗\}\)" || return 0
    wait_for "I do not know." || return 0
    wait_for "Memory calls (3)" || return 0
    # the call panel: the newest read failed, nothing was found
    keys Tab
    wait_for "▶ Generation" || return 0
    keys Tab
    wait_for "▶ Memory calls (3)" || return 0
    keys G
    keys Space
    wait_for "read  Quillonia>>capital>>?  failed" || return 0
    wait_for "failed: nothing found" || return 0

    STEP="quit"
    keys C-q
    wait_for "EXIT=0" || return 0
    # nothing on standard error (a sanitizer report would be there)
    if [ -s "$TMP/stderr$N" ]; then
        fail "[$SIZE] memllm tui wrote to standard error: $(head -c 2000 "$TMP/stderr$N")"
    fi
}

scenario 120 40
scenario 80 24

finish
