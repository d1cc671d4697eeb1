#!/bin/sh
# po_complete.sh -- every translatable string has a translation in every language,
# and every source file that marks strings is listed in po/POTFILES.in.
set -u
src=${top_srcdir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memllm-po-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

for t in xgettext msgcmp msgfmt; do
    command -v "$t" >/dev/null || { echo "FAIL: $t not found (Debian package gettext)" >&2; exit 1; }
done

# 1. files that use _( or N_( or P_( must be in POTFILES.in, and listed files must exist
grep -v '^#' "$src/po/POTFILES.in" | sed '/^$/d' | sort >"$tmp/listed"
(cd "$src" && grep -rlE '(^|[^A-Za-z0-9_])(_|N_|P_)\(' --include='*.c' --include='*.h' src | grep -v "^src/util/i18n.h$" | sort) >"$tmp/using"
missing=$(comm -13 "$tmp/listed" "$tmp/using")
if [ -n "$missing" ]; then
    echo "FAIL: files with translatable strings missing from po/POTFILES.in:" >&2
    echo "$missing" >&2
    status=1
fi
while read -r f; do
    [ -f "$src/$f" ] || { echo "FAIL: po/POTFILES.in lists $f, which does not exist" >&2; status=1; }
done <"$tmp/listed"

# 2. a fresh template from the sources
(cd "$src" && xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=P_:1,2 \
    --add-comments=TRANSLATORS: --files-from="$tmp/listed" -o "$tmp/memllm.pot") \
    2>"$tmp/xgettext.err" || { cat "$tmp/xgettext.err" >&2; exit 1; }
# a warning (say, one msgid used both with and without a plural, which gives translators one
# entry for two uses) is an error here
if grep -q . "$tmp/xgettext.err"; then
    echo "FAIL: xgettext warns:" >&2
    cat "$tmp/xgettext.err" >&2
    status=1
fi

# 3. each language has every msgid, none fuzzy or untranslated, and compiles cleanly
for lang in $(sed 's/#.*//' "$src/po/LINGUAS"); do
    po="$src/po/$lang.po"
    if [ ! -f "$po" ]; then
        echo "FAIL: po/$lang.po is missing" >&2
        status=1
        continue
    fi
    if ! msgcmp "$po" "$tmp/memllm.pot" 2>"$tmp/cmp"; then
        echo "FAIL: po/$lang.po lacks messages:" >&2
        cat "$tmp/cmp" >&2
        status=1
    fi
    if ! msgfmt -c --statistics -o /dev/null "$po" 2>"$tmp/stat"; then
        echo "FAIL: po/$lang.po does not compile:" >&2
        cat "$tmp/stat" >&2
        status=1
    elif grep -Eq 'fuzzy|untranslated' "$tmp/stat"; then
        echo "FAIL: po/$lang.po is incomplete: $(cat "$tmp/stat")" >&2
        status=1
    else
        echo "po/$lang.po: $(cat "$tmp/stat")"
    fi
done
exit $status
