## data -- files installed to $(pkgdatadir) and their documentation.
dist_pkgdata_DATA += data/seed-facts.tsv data/LICENSE.countries-list data/memllm-default.gguf
EXTRA_DIST += data/README data/README.embed data/gen-seed-facts.py doc/design-notes.md \
	data/make-default-model.sh

# `make default-model`: train the bundled default model again from this tree (see data/README
# and data/make-default-model.sh; about 1 h 45 min on two cores).  Work files go to
# default-model/ in the build directory; a stopped run resumes when started again.  The
# quantized model and the latest F32 weights are copied into the source tree's data/.
DEFAULT_MODEL_STEPS = 6500
.PHONY: default-model
default-model: src/memllm$(EXEEXT)
	MEMLLM_SHARED="$(abs_top_srcdir)/../shared" $(SHELL) $(srcdir)/data/make-default-model.sh \
	    "$(abs_top_builddir)/src/memllm$(EXEEXT)" "$(abs_top_builddir)/default-model" \
	    $(DEFAULT_MODEL_STEPS)
	cp default-model/memllm-default.gguf $(srcdir)/data/memllm-default.gguf
	cp default-model/model.gguf $(srcdir)/data/memllm-default-f32.gguf

TESTS += tests/e2e/default_model.sh
EXTRA_DIST += tests/e2e/default_model.sh
