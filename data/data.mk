## data -- files installed to $(pkgdatadir) and their documentation.
dist_pkgdata_DATA += data/seed-facts.tsv data/LICENSE.countries-list
EXTRA_DIST += data/README data/README.embed data/gen-seed-facts.py doc/design-notes.md
