#!/bin/sh
# mem.sh -- end-to-end checks of `memllm mem`: every subcommand, its --help, --json output,
# malformed imports, awkward text, seeds, locked/corrupt/newer databases.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
MEMLLM_DATADIR="${top_srcdir:-.}/data"
export MEMLLM_DATADIR
DB="$TMP/m.db"

# JSON validity: python3 when there is one, else a rough shape check with grep.
json_ok() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if line.strip():
        try:
            json.loads(line)
        except Exception as e:
            sys.exit("line %d: %s" % (n, e))
' "$1" || fail "$1 is not valid JSON lines: $(head -c 300 "$1")"
    else
        grep -v '^{.*}$' "$1" | grep -q . && fail "$1 has a line that is not a JSON object"
    fi
    return 0
}

# --help of mem and of every subcommand
expect_rc 0 "$M" mem --help
expect_in "$TMP/out" "Usage: memllm [--db=PATH] [--json] mem"
for sub in add rm edit list query show stats conflicts import export reindex check bench; do
    expect_rc 0 "$M" mem "$sub" --help
    expect_in "$TMP/out" "Usage: memllm mem $sub"
    [ -s "$TMP/err" ] && fail "mem $sub --help wrote to stderr"
done
expect_rc 0 "$M" --help
expect_in "$TMP/out" "mem "
expect_rc 1 "$M" mem
expect_in "$TMP/err" "Try 'memllm mem --help'"
expect_rc 1 "$M" mem frobnicate
expect_in "$TMP/err" "unknown command 'frobnicate'"
expect_rc 1 "$M" --db "$DB" mem add only two
expect_in "$TMP/err" "Try 'memllm mem add --help'"
expect_rc 1 "$M" --db "$DB" mem list --bogus
expect_in "$TMP/err" "--bogus"
# a long option without its argument is named as typed, not as its short twin
expect_rc 1 "$M" --db "$DB" mem import --format
expect_in "$TMP/err" "'--format'"
expect_not_in "$TMP/err" "'-f'"

# seeds: the default database gets them on first use; --db and --no-seed do not
expect_rc 0 "$M" mem stats
expect_in "$TMP/out" "$TMP/data/memllm/memory.db"
expect_in "$TMP/out" "triples:    2514"
expect_rc 0 "$M" mem query 'France>>capital>>'
expect_in "$TMP/out" "1. Paris"
expect_rc 0 "$M" --json mem show 1
expect_in "$TMP/out" '"text":"seed: countries-list"'
rm -rf "$TMP/data"
# a first run whose seeding fails keeps nothing half-done and seeds on the next start
mkdir -p "$TMP/baddata"
cp "$MEMLLM_DATADIR/relations.tsv" "$TMP/baddata/"
{ head -n 20 "$MEMLLM_DATADIR/seed-facts.tsv"; printf 'only two\tfields\n'; } \
    >"$TMP/baddata/seed-facts.tsv"
expect_rc 2 env MEMLLM_DATADIR="$TMP/baddata" "$M" mem stats
expect_in "$TMP/err" "seed-facts.tsv:21"
expect_rc 0 "$M" mem stats
expect_in "$TMP/out" "triples:    2514"
expect_rc 0 "$M" mem stats
expect_in "$TMP/out" "triples:    2514"
rm -rf "$TMP/data"
expect_rc 0 "$M" mem --no-seed stats
expect_in "$TMP/out" "triples:    0"
expect_rc 0 "$M" --db "$DB" mem stats
expect_in "$TMP/out" "triples:    0"
expect_in "$TMP/out" "relations:  96"

# add: new, known, conflict (capital is single-valued in relations.tsv)
expect_rc 0 "$M" --db "$DB" mem add Paris capital France
expect_rc 0 "$M" --db "$DB" mem add France capital Paris --source "atlas"
expect_in "$TMP/out" "added triple 2"
expect_rc 0 "$M" --db "$DB" mem add France capital Paris
expect_in "$TMP/out" "already known: triple 2"
expect_rc 0 "$M" --db "$DB" --json mem add France capital Lyon
expect_in "$TMP/out" '"outcome":"conflict"'
json_ok "$TMP/out"
expect_rc 0 "$M" --db "$DB" mem conflicts
expect_in "$TMP/out" "Lyon"
expect_in "$TMP/out" "Paris"
expect_rc 0 "$M" --db "$DB" --json mem conflicts
json_ok "$TMP/out"
expect_rc 1 "$M" --db "$DB" mem add France "" Paris
expect_in "$TMP/err" "empty"

# awkward text is stored as is and shown escaped
odd="Rock'n'Roll \"Band\"; DROP TABLE triples;-- a>>b"
expect_rc 0 "$M" --db "$DB" mem add "$odd" genre "two
lines"
expect_rc 0 "$M" --db "$DB" mem list --subject "rock'n"
expect_in "$TMP/out" "$odd"
expect_in "$TMP/out" 'two\nlines'
expect_rc 0 "$M" --db "$DB" --json mem list --subject "rock'n"
expect_in "$TMP/out" '"object":"two\nlines"'
json_ok "$TMP/out"
expect_rc 0 "$M" --db "$DB" mem add "bell$(printf '\007')name" has x
expect_rc 0 "$M" --db "$DB" mem list --subject bell
expect_in "$TMP/out" 'bell\x07name'
expect_rc 1 "$M" --db "$DB" mem add "$(printf 'bad\377')" has x
expect_in "$TMP/err" "UTF-8"

# query: candidates with pass/fail, results; JSON; overrides; bad queries
expect_rc 0 "$M" --db "$DB" mem query 'France>>capital>>'
expect_in "$TMP/out" "pass"
expect_in "$TMP/out" "France"
expect_in "$TMP/out" "1. Paris"
expect_in "$TMP/out" "2. Lyon"
expect_rc 0 "$M" --db "$DB" mem query '>>capital>>Paris'
expect_in "$TMP/out" "1. France"
expect_rc 0 "$M" --db "$DB" --json mem query 'france>>Capital>>;>>capital>>Lyon'
json_ok "$TMP/out"
[ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "two queries should give two JSON lines"
expect_in "$TMP/out" '"answers":[{"name":"Paris"'
expect_in "$TMP/out" '"passed":true'
expect_rc 0 "$M" --db "$DB" mem query 'The France>>capital>>'
expect_in "$TMP/out" "1. Paris"
expect_rc 0 "$M" --db "$DB" mem query --dist-thr 0.1 --rel-thr 0.1 --q-thr 0.001 'The France>>capital>>'
expect_in "$TMP/out" "(none)"
expect_in "$TMP/out" "fail"
expect_rc 1 "$M" --db "$DB" mem query 'France>>capital'
expect_in "$TMP/err" "mem query: byte"
expect_rc 1 "$M" --db "$DB" mem query 'a>>b>>c'
expect_rc 1 "$M" --db "$DB" mem query --q-thr nope 'a>>b>>'

# rm, edit, show with history, list paging and retired rows
expect_rc 0 "$M" --db "$DB" mem rm 3 --reason "wrong city"
expect_in "$TMP/out" "retired triple 3"
expect_rc 1 "$M" --db "$DB" mem rm 3
expect_in "$TMP/err" "already retired"
expect_rc 1 "$M" --db "$DB" mem rm 999
expect_rc 0 "$M" --db "$DB" mem query 'France>>capital>>'
expect_not_in "$TMP/out" ". Lyon"
expect_rc 0 "$M" --db "$DB" mem edit 1 --object "French Republic" --reason "full name"
expect_in "$TMP/out" "triple 1 replaced by"
new_id=$(sed -n 's/.*replaced by \([0-9]*\).*/\1/p' "$TMP/out")
expect_rc 0 "$M" --db "$DB" mem show "$new_id"
expect_in "$TMP/out" "French Republic"
expect_in "$TMP/out" "history:"
expect_in "$TMP/out" "full name"
expect_rc 0 "$M" --db "$DB" --json mem show "$new_id"
json_ok "$TMP/out"
expect_in "$TMP/out" '"history":[{"id":1,'
expect_rc 0 "$M" --db "$DB" mem query '>>capital>>French Republic'
expect_in "$TMP/out" "1. Paris"
expect_rc 1 "$M" --db "$DB" mem edit 1
expect_in "$TMP/err" "nothing to change"
expect_rc 0 "$M" --db "$DB" mem list --limit 2
[ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "list --limit 2 printed $(wc -l <"$TMP/out") lines"
expect_in "$TMP/err" "--after="
last=$(tail -n 1 "$TMP/out" | cut -f1)
expect_rc 0 "$M" --db "$DB" mem list --after "$last" --limit 0
first_next=$(head -n 1 "$TMP/out" | cut -f1)
[ "$first_next" -gt "$last" ] || fail "keyset page did not continue after $last"
expect_rc 0 "$M" --db "$DB" mem list --include-retired --relation capital
expect_in "$TMP/out" "[retired]"
expect_rc 0 "$M" --db "$DB" --json mem list --limit 0 --include-retired
json_ok "$TMP/out"
expect_rc 0 "$M" --db "$DB" --json mem stats
json_ok "$TMP/out"
expect_in "$TMP/out" '"retired":2'

# import: TSV with malformed lines (reported FILE:LINE, skipped, the rest kept)
printf '# comment\nBerlin\tcapital of\tGermany\n\nbad line without tabs\nA\tB\tC\tD\nMunich\tcountry\tGermany\r\nX\t\tY\n\377bad\tcountry\tGermany\n' >"$TMP/in.tsv"
expect_rc 1 "$M" --db "$DB" mem import "$TMP/in.tsv"
expect_in "$TMP/err" "$TMP/in.tsv:4: expected 3 tab-separated fields"
expect_in "$TMP/err" "$TMP/in.tsv:5: more than 3"
expect_in "$TMP/err" "$TMP/in.tsv:7:"
expect_in "$TMP/err" "$TMP/in.tsv:8: invalid UTF-8 at byte 1"
expect_in "$TMP/out" "2 triples imported"
expect_rc 0 "$M" --db "$DB" mem query '>>country>>Germany'
expect_in "$TMP/out" "1. Munich"
# a file name that is not UTF-8 (Linux names are bytes) still imports
printf 'Latin1\tcountry\tFileName\n' >"$TMP/lat$(printf '\351').tsv"
expect_rc 0 "$M" --db "$DB" mem import "$TMP/lat$(printf '\351').tsv"
expect_rc 0 "$M" --db "$DB" mem query '>>country>>FileName'
expect_in "$TMP/out" "1. Latin1"
expect_rc 2 "$M" --db "$DB" mem import "$TMP/missing.tsv"
expect_in "$TMP/err" "$TMP/missing.tsv"
# JSON lines with a per-line source
cat >"$TMP/in.jsonl" <<'EOF'
{"subject":"Rome","relation":"capital of","object":"Italy","source":"an atlas"}
{"subject":"Milan","relation":"country","object":"Italy"}
not json
{"subject":"Turin","relation":"country"}
["a","b","c"]
EOF
expect_rc 1 "$M" --db "$DB" --json mem import "$TMP/in.jsonl"
json_ok "$TMP/out"
expect_in "$TMP/out" '"triples":2'
expect_in "$TMP/out" '"skipped":3'
expect_in "$TMP/err" "$TMP/in.jsonl:3:"
expect_in "$TMP/err" "$TMP/in.jsonl:4:"
expect_in "$TMP/err" "$TMP/in.jsonl:5:"
expect_rc 0 "$M" --db "$DB" --json mem list --subject Rome
id=$(sed -n 's/^{"id":\([0-9]*\).*/\1/p' "$TMP/out" | head -n 1)
expect_rc 0 "$M" --db "$DB" mem show "$id"
expect_in "$TMP/out" "an atlas"
# Re-DocRED: gold labels with evidence sentences as the source
cat >"$TMP/doc.json" <<'EOF'
[{"title": "Glenda Adams",
  "sents": [["Dancing", "on", "Coral", "is", "a", "novel", "by", "Glenda", "Adams", "."],
            ["She", "was", "born", "in", "Sydney", "."]],
  "vertexSet": [[{"name": "Dancing on Coral", "sent_id": 0, "pos": [0, 3], "type": "MISC"}],
                [{"name": "Glenda Adams", "sent_id": 0, "pos": [7, 9], "type": "PER"}],
                [{"name": "Sydney", "sent_id": 1, "pos": [4, 5], "type": "LOC"}]],
  "labels": [{"h": 0, "t": 1, "r": "P50", "evidence": [0]},
             {"h": 1, "t": 2, "r": "P19", "evidence": [0, 1]},
             {"h": 1, "t": 7, "r": "P19", "evidence": []},
             {"h": 0, "t": 1, "r": "P99999", "evidence": []}]}]
EOF
expect_rc 1 "$M" --db "$DB" mem import "$TMP/doc.json"
expect_in "$TMP/out" "2 triples imported"
expect_in "$TMP/err" "document 1: label 3"
expect_in "$TMP/err" "document 1: label 4: unknown relation"
expect_rc 0 "$M" --db "$DB" mem query 'Dancing on Coral>>author>>'
expect_in "$TMP/out" "1. Glenda Adams"
expect_rc 0 "$M" --db "$DB" --json mem list --subject "Glenda"
id=$(sed -n 's/^{"id":\([0-9]*\).*/\1/p' "$TMP/out" | head -n 1)
expect_rc 0 "$M" --db "$DB" mem show "$id"
expect_in "$TMP/out" "Glenda Adams: Dancing on Coral is a novel by Glenda Adams . She was born in Sydney ."
printf '[{"title": ' >"$TMP/broken.json"
expect_rc 2 "$M" --db "$DB" mem import "$TMP/broken.json"
expect_in "$TMP/err" "nothing stored"
expect_rc 1 "$M" --db "$DB" mem import --format xml "$TMP/in.tsv"

# export
expect_rc 0 "$M" --db "$DB" mem export
expect_in "$TMP/out" "$(printf 'Berlin\tcapital of\tGermany')"
expect_rc 0 "$M" --db "$DB" mem export --format jsonl
json_ok "$TMP/out"
expect_in "$TMP/out" '"subject":"Rome"'
expect_rc 0 "$M" --db "$DB" mem export --format dot --entity Germany --depth 1
expect_in "$TMP/out" "digraph memory {"
expect_in "$TMP/out" '"Munich" -> "Germany" [label="country"];'
expect_not_in "$TMP/out" "Rome"
expect_rc 0 "$M" --db "$DB" mem export --format dot
expect_in "$TMP/out" '"Rome" -> "Italy"'
# an export re-imports to the same live triples
"$M" --db "$DB" mem export --format jsonl >"$TMP/all.jsonl" 2>/dev/null
expect_rc 0 "$M" --db "$TMP/copy.db" mem import "$TMP/all.jsonl"
"$M" --db "$TMP/copy.db" mem export | sort >"$TMP/a.tsv"
"$M" --db "$DB" mem export | sort >"$TMP/b.tsv"
cmp -s "$TMP/a.tsv" "$TMP/b.tsv" || fail "export -> import -> export changed the triples"
# a TSV import reads a line starting with '#' as a comment: the export says so
expect_rc 0 "$M" --db "$TMP/hash.db" mem add '#hashtag' 'used by' Twitter
expect_rc 0 "$M" --db "$TMP/hash.db" mem export
expect_in "$TMP/err" "'#'"
expect_rc 0 "$M" --db "$TMP/hash.db" mem export --format jsonl
expect_not_in "$TMP/err" "'#'"

# reindex and check
expect_rc 0 "$M" --db "$DB" mem check
expect_in "$TMP/out" "ok"
expect_rc 0 "$M" --db "$DB" --json mem check
json_ok "$TMP/out"
expect_in "$TMP/out" '"ok":true'
expect_rc 0 "$M" --db "$DB" mem reindex
expect_in "$TMP/out" "re-embedded"
expect_rc 0 "$M" --db "$DB" mem check

# bench, tiny
expect_rc 0 "$M" --json mem bench --sizes 300,600 --queries 3
json_ok "$TMP/out"
[ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "bench should print one line per size"
expect_in "$TMP/out" '"answers_per_query":1.00'

# a database from elsewhere: not SQLite, a newer schema, another embedder, locked
printf 'this is not a database at all, just text...........................' >"$TMP/junk.db"
expect_rc 2 "$M" --db "$TMP/junk.db" mem stats
expect_in "$TMP/err" "$TMP/junk.db"
expect_in "$TMP/err" "not a memllm database"
if command -v python3 >/dev/null 2>&1 && python3 -c 'import sqlite3' 2>/dev/null; then
    cp "$DB" "$TMP/newer.db"
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 99"); c.commit()' "$TMP/newer.db"
    expect_rc 2 "$M" --db "$TMP/newer.db" mem stats
    expect_in "$TMP/err" "newer version"
    cp "$DB" "$TMP/other.db"
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE meta SET value = ? WHERE key = ?", ("other-embedder", "embedder.id")); c.commit()' "$TMP/other.db"
    expect_rc 2 "$M" --db "$TMP/other.db" mem query 'France>>capital>>'
    expect_in "$TMP/err" "memllm mem reindex"
    expect_rc 0 "$M" --db "$TMP/other.db" mem reindex
    expect_rc 0 "$M" --db "$TMP/other.db" mem query 'France>>capital>>'
    expect_in "$TMP/out" "1. Paris"
else
    echo "SKIP: no python3 sqlite3 module: newer-schema and embedder checks not run" >&2
fi
# an import reading a pipe holds the write lock; a second writer waits, then reports
mkfifo "$TMP/fifo"
"$M" --db "$DB" mem import --format tsv - <"$TMP/fifo" >/dev/null 2>&1 &
holder=$!
exec 3>"$TMP/fifo"
printf 'Held\tcountry\tLock\n' >&3
sleep 2
MEMLLM_BUSY_TIMEOUT_MS=300 expect_rc 2 "$M" --db "$DB" mem add a b c
expect_in "$TMP/err" "locked"
exec 3>&-
wait "$holder" || fail "the lock-holding import failed"
expect_rc 0 "$M" --db "$DB" mem query '>>country>>Lock'
expect_in "$TMP/out" "1. Held"

# a locale with a decimal comma: numbers in options and JSON keep the '.'
mkdir -p "$TMP/loc"
if command -v localedef >/dev/null 2>&1 &&
    localedef -i de_DE -f UTF-8 "$TMP/loc/de_DE.UTF-8" >/dev/null 2>&1; then
    expect_rc 0 env LOCPATH="$TMP/loc" LC_ALL=de_DE.UTF-8 "$M" --db "$DB" --json mem query \
        --dist-thr=0.5 '>>country>>Lock'
    json_ok "$TMP/out"
    expect_in "$TMP/out" '"dist_thr":0.5,'
else
    echo "note: no localedef or de_DE source; decimal-comma check skipped" >&2
fi

# substring filters (the trigram index for 3+ characters, a scan for shorter ones) and
# the source filter: literal %, _ and \, ASCII case ignored, other letters exact
SD="$TMP/filter.db"
cat >"$TMP/filter.jsonl" <<'JSONL'
{"subject":"100%_Sure Co","relation":"country","object":"Wakanda","source":"Press release, 2024"}
{"subject":"École Normale","relation":"located in","object":"Paris","source":"Guide Michelin"}
{"subject":"école du Louvre","relation":"located in","object":"Paris"}
{"subject":"back\\slash","relation":"country","object":"Nowhere","source":"Press kit"}
{"subject":"Ab","relation":"country","object":"Cd"}
JSONL
expect_rc 0 "$M" --db "$SD" mem import "$TMP/filter.jsonl"
expect_rc 0 "$M" --db "$SD" mem list --subject "0%_s"
expect_in "$TMP/out" "100%_Sure Co"
expect_rc 0 "$M" --db "$SD" mem list --subject "%_"
expect_in "$TMP/out" "100%_Sure Co"
expect_not_in "$TMP/out" "Ab"
expect_rc 0 "$M" --db "$SD" mem list --subject '\s'
expect_in "$TMP/out" 'back\slash'
expect_not_in "$TMP/out" "100%"
expect_rc 0 "$M" --db "$SD" mem list --subject "NORMALE"
expect_in "$TMP/out" "École Normale"
expect_rc 0 "$M" --db "$SD" mem list --subject "école"
expect_in "$TMP/out" "école du Louvre"
expect_not_in "$TMP/out" "École Normale"
expect_rc 0 "$M" --db "$SD" mem list --subject "AB"
expect_in "$TMP/out" "Ab"
expect_rc 0 "$M" --db "$SD" mem list --subject "xyz"
[ -s "$TMP/out" ] && fail "a filter that matches nothing listed rows"
# --source: the source's text or the imported file's name
expect_rc 0 "$M" --db "$SD" mem list --help
expect_in "$TMP/out" "--source=TEXT"
expect_rc 0 "$M" --db "$SD" mem list --source "press"
expect_in "$TMP/out" "100%_Sure Co"
expect_in "$TMP/out" 'back\slash'
expect_not_in "$TMP/out" "cole"
expect_rc 0 "$M" --db "$SD" --json mem list --source "michelin" --relation "located"
json_ok "$TMP/out"
expect_in "$TMP/out" '"subject":"École Normale"'
[ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "--source michelin: $(cat "$TMP/out")"
expect_rc 0 "$M" --db "$SD" mem list --source "filter.jsonl" --limit 0
[ "$(wc -l <"$TMP/out")" -eq 5 ] || fail "--source by file name: $(cat "$TMP/out")"
expect_rc 1 "$M" --db "$SD" mem list --source "$(printf 'bad\377')"
expect_in "$TMP/err" "UTF-8"
# a schema-1 database (no index) gains it on open; a large one says so on stderr
if python3 -c 'import sqlite3' 2>/dev/null; then
    python3 - "$SD" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("""DROP TABLE entities_fts; DROP TABLE sources_fts;
DELETE FROM meta WHERE key = 'search.trigram'; PRAGMA user_version = 1;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO entities(name, created_at) SELECT 'Filler ' || i, 0 FROM n;""")
c.commit()
PY
    expect_rc 0 "$M" --db "$SD" mem list --subject "NORMALE"
    expect_in "$TMP/out" "École Normale"
    expect_in "$TMP/err" "building the search index"
    expect_rc 0 "$M" --db "$SD" mem list --source "press"
    expect_in "$TMP/out" 'back\slash'
    [ -s "$TMP/err" ] && fail "a second open built the index again: $(cat "$TMP/err")"
    v=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$SD")
    [ "$v" = 3 ] || fail "schema version after migration: $v"
    n=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sqlite_schema WHERE name = '"'"'triples_created'"'"'").fetchone()[0])' "$SD")
    [ "$n" = 0 ] || fail "triples_created still there after migration"
else
    echo "SKIP: no python3 sqlite3 module: schema-1 migration check not run" >&2
fi

finish
