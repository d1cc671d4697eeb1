#!/usr/bin/env python3
"""gen-seed-facts.py PACKAGE_DIR > data/seed-facts.tsv

Maintainer tool, not run by the build: turns the country data of the npm package
`countries-list` (MIT, Annexare Studio; `npm pack countries-list` and unpack it)
into subject<TAB>relation<TAB>object facts with Wikidata/Re-DocRED relation names.
Output is sorted and de-duplicated so that regenerating it gives a stable diff."""
import json
import os
import sys

pkg = sys.argv[1]


def load(name):
    with open(os.path.join(pkg, name), encoding="utf-8") as f:
        return json.load(f)


countries = load("countries.min.json")
continents = load("continents.min.json")
languages = load("languages.min.json")
currencies = load("currencies.min.json")

facts = set()


def add(s, r, o):
    s, o = s.strip(), o.strip()
    for field in (s, r, o):
        # the call syntax cannot carry these; none occur in the source today
        if not field or any(bad in field for bad in (">>", ";", "\t", "\n", "({", "})", "-->")):
            return
    facts.add((s, r, o))


for code, c in countries.items():
    name = c["name"]
    if c.get("capital"):
        for cap in c["capital"].split(","):
            add(name, "capital", cap)
            add(cap, "capital of", name)
            add(cap, "country", name)
    if c.get("continent") in continents:
        add(name, "continent", continents[c["continent"]])
    for lang in c.get("languages", []):
        if lang in languages:
            add(name, "official language", languages[lang]["name"])
    for cur in c.get("currency", []):
        if cur in currencies:
            add(name, "currency", currencies[cur]["name"])
    add(name, "ISO 3166-1 alpha-2 code", code)
    for phone in c.get("phone", []):
        add(name, "country calling code", "+%d" % phone)
    if c.get("native") and c["native"] != name:
        add(name, "native label", c["native"])
    for alias in c.get("alias", []):
        add(name, "short name", alias)
    if c.get("partOf") in countries:
        add(name, "part of", countries[c["partOf"]]["name"])

for code, cur in currencies.items():
    add(cur["name"], "ISO 4217 code", code)

out = sys.stdout
out.write("# seed-facts.tsv -- facts loaded into a new memllm database (see data/README).\n")
out.write("# Source: countries-list (npm), MIT licence, (c) Annexare Studio.\n")
out.write("# subject<TAB>relation<TAB>object\n")
for s, r, o in sorted(facts):
    out.write("%s\t%s\t%s\n" % (s, r, o))
