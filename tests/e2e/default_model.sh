#!/bin/sh
# default_model.sh -- the behaviour the demo relies on, on the model that ships in data/
# (issue 8): teach a fact and see the MEM_WRITE, ask and see the MEM_READ whose result the
# answer quotes, invented entities and a paraphrase, an edited and a retired fact, and a
# question memory cannot answer.  Greedy decoding, so the outcome is fixed for the model.
. "${top_srcdir:-.}/tests/e2e/lib.sh"
M=$MEMLLM_BIN
MODEL="${MEMLLM_DATADIR:-${top_srcdir:-.}/data}/memllm-default.gguf"
DB="$TMP/mem.db"
[ -r "$MODEL" ] || { echo "FAIL: the bundled model $MODEL is missing" >&2; exit 1; }
run() { "$M" --db "$DB" --model "$MODEL" "$@"; }

# the write template and context come from the model's metadata
expect_rc 0 "$M" info "$MODEL"
expect_in "$TMP/out" "memllm-default"

# 0. a new user's first question about a seed fact, on the default (seeded) database
expect_rc 0 "$M" --model "$MODEL" ask --temp=0 "What is the capital of Japan?"
expect_in "$TMP/out" "({MEM_READ(Japan>>capital>>)-->Tokyo})"
sed 's/.*})//' "$TMP/out" >"$TMP/answer"
expect_in "$TMP/answer" "Tokyo"

# 1. teach: "Paris is the capital of France." -> France>>capital>>Paris
printf 'Paris is the capital of France.\n' >"$TMP/teach1.txt"
expect_rc 0 run --json write "$TMP/teach1.txt"
expect_in "$TMP/out" '"raw":"({MEM_WRITE-->France>>capital>>Paris})"'
expect_rc 0 "$M" --db "$DB" mem list
expect_in "$TMP/out" "France	capital	Paris"

# 2. ask: a MEM_READ(France>>capital>>) whose result the answer quotes
expect_rc 0 run ask --temp=0 "What is the capital of France?"
expect_in "$TMP/out" "({MEM_READ(France>>capital>>)-->Paris})"
sed 's/.*})//' "$TMP/out" >"$TMP/answer"
expect_in "$TMP/answer" "Paris"

# 3. invented entities, asked directly and in other words
printf 'Zorvath is the capital of Quillonia. Mirela Tosk was born in Vandermoor.\n' \
    >"$TMP/teach2.txt"
expect_rc 0 run write "$TMP/teach2.txt"
expect_in "$TMP/out" "Quillonia | capital | Zorvath"
expect_in "$TMP/out" "Mirela Tosk | place of birth | Vandermoor"
expect_rc 0 run ask --temp=0 "What is the capital of Quillonia?"
expect_in "$TMP/out" "-->Zorvath})Zorvath"
# phrasings that are none of the training questions (src/agent/synth.c)
expect_rc 0 run ask --temp=0 "Quillonia's capital is which city?"
expect_in "$TMP/out" "-->Zorvath})Zorvath"
expect_rc 0 run ask --temp=0 "Mirela Tosk was born where?"
expect_in "$TMP/out" "-->Vandermoor})Vandermoor"
# the subject-missing direction
expect_rc 0 run ask --temp=0 "Who was born in Vandermoor?"
expect_in "$TMP/out" "({MEM_READ(>>place of birth>>Vandermoor)-->Mirela Tosk})Mirela Tosk"
# the model's metadata makes decoding greedy without --temp
cp "$TMP/out" "$TMP/greedy"
expect_rc 0 run ask "Who was born in Vandermoor?"
cmp -s "$TMP/out" "$TMP/greedy" || fail "ask without --temp is not greedy"

# 4. edit the fact: the answer follows memory, not the old fact
id=$("$M" --db "$DB" mem list --subject=Quillonia | cut -f1 | head -n 1)
[ -n "$id" ] || fail "no triple about Quillonia to edit"
expect_rc 0 "$M" --db "$DB" mem edit "$id" --object=Brenhaven --reason=test
expect_rc 0 run ask --temp=0 "What is the capital of Quillonia?"
expect_in "$TMP/out" "-->Brenhaven})Brenhaven"
expect_not_in "$TMP/out" "Zorvath"

# 5. retire it: the read comes back empty and the model says it does not know
id=$("$M" --db "$DB" mem list --subject=Quillonia | cut -f1 | head -n 1)
expect_rc 0 "$M" --db "$DB" mem rm "$id" --reason=test
expect_rc 0 run ask --temp=0 "What is the capital of Quillonia?"
expect_in "$TMP/out" "I do not know."
expect_not_in "$TMP/out" "Brenhaven"

# 6. something memory never held
expect_rc 0 run ask --temp=0 "Who founded Stravel Dynamics?"
expect_in "$TMP/out" "I do not know."

# every answer above was recorded with its reads
expect_rc 0 "$M" --db "$DB" audit --list
expect_in "$TMP/out" "What is the capital of France?"
finish
