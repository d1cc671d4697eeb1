/* eval.h -- reproducible evaluation of MemLLM (arXiv 2404.11672): memory-write quality on
 * Re-DocRED documents, knowledge editing on ZsRE records, perplexity with and without memory.
 *
 * Names.  Two names are equal when their normalized forms are byte-equal: eval_norm()
 * folds case (ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic; a fixed table,
 * not the locale, so results do not depend on the environment), turns every run of
 * whitespace (ASCII space, tab, CR, LF, VT, FF, U+00A0) into one space and trims both ends.
 *
 * Write scoring (per document).  Stored triples are de-duplicated after normalization; gold
 * labels are de-duplicated by (head, relation, tail).  A stored triple (s, r, o) matches a
 * gold label (h, R, t) when norm(s) equals the normalized name of ANY mention of entity h,
 * norm(o) that of any mention of t, and norm(r) equals norm(R's relation name).
 *   precision = stored triples matching some label / stored triples
 *   recall    = labels matched by some stored triple / labels
 *   F1        = 2PR / (P + R)   (0 when P + R = 0)
 * Tallies are summed over documents (micro average), overall and per relation: a stored
 * triple counts under its own (normalized) relation name, a label under its relation's.
 *
 * Relation names of labels: a map from Wikidata id ("P50") to name, read either from a
 * rel_info.json object {"P50": "author", ...} or from data/relations.tsv lines
 * "P50<TAB>author[<TAB>...]" ('#' lines ignored).  An id the map lacks is its own name.
 *
 * Edit scoring (ZsRE).  Records are {src, alt, rephrase, loc, loc_ans, subject}.  The
 * statement written for a record is  src + " It is or they are \"" + alt + "\"".
 *   Reliability:    alt occurs in the answer to src (case-insensitive, eval_contains_ci)
 *   Generalization: alt occurs in the answer to rephrase
 *   Locality:       the answer to loc after the edit(s) equals (eval_norm) the answer to
 *                   loc asked of a fresh memory before any edit (empty, or holding the
 *                   facts of eval_agent_set_facts(), as every record's memory does)
 * Scores are fractions of records; the mean is (REL + GEN + LOC) / 3.
 *
 * Perplexity.  Each scored token has a natural-log probability and a class mask; OVERALL
 * takes every scored token, TARGET those with EVAL_TOK_TARGET, ENTITY those with
 * EVAL_TOK_ENTITY; each perplexity is exp(-(sum of log p) / count).  The document protocol
 * (which tokens, which calls) is described at eval_ppl_doc().
 *
 * Library rules: nothing here prints or exits; the loops report progress through a
 * callback and stop with STATUS_CANCELLED (tallies hold what was done) when cancelled. */
#ifndef MEMLLM_EVAL_H
#define MEMLLM_EVAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "memory/ctrl.h"
#include "util/status.h"

struct synth_facts;
struct tok;

/* ---- names ---------------------------------------------------------------------------- */

/* Normalized copy of s[0..len) (owned, free()); *out set only on success.
 * STATUS_NOMEM; invalid UTF-8 bytes are copied unchanged. */
enum status eval_norm(const char *s, size_t len, char **out);

/* Does needle occur in hay, both case-folded as eval_norm() does (whitespace is kept)?
 * An empty needle occurs everywhere.  false when out of memory. */
bool eval_contains_ci(const char *hay, const char *needle);

/* ---- Re-DocRED documents -------------------------------------------------------------- */

struct eval_docs; /* opaque: parsed documents with their mentions and labels */

/* Parse a Re-DocRED / DocRED JSON array (title, sents, vertexSet, labels) and a relation
 * map (rel_json: rel_info.json object or relations.tsv text; NULL: ids are names).
 * STATUS_PARSE for bad JSON, STATUS_FORMAT (detail "document N: ...") otherwise. */
enum status eval_docs_load(const char *json, size_t len, const char *rel, size_t rel_len,
                           struct eval_docs **out);
/* The same from files (rel_path may be NULL); the detail names the file. */
enum status eval_docs_open(const char *path, const char *rel_path, struct eval_docs **out);
void eval_docs_free(struct eval_docs *d); /* NULL is a no-op */

size_t eval_docs_count(const struct eval_docs *d);
const char *eval_doc_title(const struct eval_docs *d, size_t i);  /* borrowed */
/* The document text: tokens of a sentence joined by ' ', sentences joined by ' '. */
const char *eval_doc_text(const struct eval_docs *d, size_t i, size_t *len);
size_t eval_doc_n_labels(const struct eval_docs *d, size_t i);    /* after de-duplication */

/* Keep the documents a split file selects: held_out true keeps those whose title hash
 * (traindata_title_hash) is listed, false those not listed.  STATUS_IO, STATUS_FORMAT
 * (detail: file and line) as traindata_split_read(). */
enum status eval_docs_split(struct eval_docs *d, const char *split_path, bool held_out);
/* Keep only the first n documents. */
void eval_docs_truncate(struct eval_docs *d, size_t n);

/* ---- write scoring -------------------------------------------------------------------- */

struct eval_triple {
    const char *subj, *rel, *obj;
};

struct eval_prf {
    size_t stored, stored_ok; /* stored triples, those matching a label */
    size_t gold, gold_ok;     /* labels, those matched */
};

double eval_prf_precision(const struct eval_prf *p); /* 0 when nothing was stored */
double eval_prf_recall(const struct eval_prf *p);    /* 0 when there are no labels */
double eval_prf_f1(const struct eval_prf *p);

struct eval_write_score; /* opaque: overall and per-relation tallies */

enum status eval_write_score_new(struct eval_write_score **out);
void eval_write_score_free(struct eval_write_score *s); /* NULL is a no-op */

/* Score the triples stored for document doc (see the header comment) and add the counts. */
enum status eval_write_score_doc(struct eval_write_score *s, const struct eval_docs *d,
                                 size_t doc, const struct eval_triple *stored, size_t n);

void eval_write_score_total(const struct eval_write_score *s, struct eval_prf *out);
size_t eval_write_score_docs(const struct eval_write_score *s); /* documents scored */
/* Relations seen (stored or gold), sorted by name; name borrowed from s. */
size_t eval_write_score_n_rel(const struct eval_write_score *s);
const char *eval_write_score_rel(const struct eval_write_score *s, size_t i,
                                 struct eval_prf *out);

/* ---- ZsRE records and edit scoring ---------------------------------------------------- */

struct eval_edit_record {
    const char *src, *alt, *rephrase, *loc, *loc_ans, *subject; /* "" when absent */
};

struct eval_edits; /* opaque */

/* A JSON array of objects; src and alt are required (STATUS_FORMAT "record N: ..."). */
enum status eval_edits_load(const char *json, size_t len, struct eval_edits **out);
enum status eval_edits_open(const char *path, struct eval_edits **out);
void eval_edits_free(struct eval_edits *e);
size_t eval_edits_count(const struct eval_edits *e);
const struct eval_edit_record *eval_edits_get(const struct eval_edits *e, size_t i);
void eval_edits_truncate(struct eval_edits *e, size_t n);

/* The statement written for r (owned, free()); NULL when out of memory. */
char *eval_edit_statement(const struct eval_edit_record *r);

struct eval_edit_tally {
    size_t n, rel, gen, loc;
};

/* Count one record from its answers (NULL answers count as misses / as changed). */
void eval_edit_tally_add(struct eval_edit_tally *t, const struct eval_edit_record *r,
                         const char *ans_src, const char *ans_rephrase,
                         const char *loc_before, const char *loc_after);
/* Fractions (0 when n = 0); mean = (rel + gen + loc) / 3. */
void eval_edit_tally_scores(const struct eval_edit_tally *t, double *rel, double *gen,
                            double *loc, double *mean);

/* ---- perplexity arithmetic ------------------------------------------------------------ */

enum eval_tok_class {
    EVAL_TOK_ENTITY = 1u << 0, /* inside a mention of an entity */
    EVAL_TOK_TARGET = 1u << 1, /* inside the target mention right after an inserted read */
};

enum eval_ppl_kind { EVAL_PPL_OVERALL, EVAL_PPL_TARGET, EVAL_PPL_ENTITY, EVAL_PPL_KINDS };

struct eval_ppl {
    double sum_logp[EVAL_PPL_KINDS]; /* natural log */
    size_t n[EVAL_PPL_KINDS];
};

void eval_ppl_add(struct eval_ppl *p, double logp, unsigned cls);
/* exp(-sum_logp / n); NAN when n = 0. */
double eval_ppl_value(const struct eval_ppl *p, enum eval_ppl_kind k);

/* ---- the evaluation loops ------------------------------------------------------------- */

typedef void (*eval_triple_sink)(void *sink_ctx, const struct eval_triple *t);

/* What the loops need from a MemLLM system.  fresh(): drop the memory and start an empty
 * one.  write(): memorize text in write mode, calling sink once per triple stored (also one
 * that was already known).  ask(): answer in read mode; *answer owned (free()). */
struct eval_backend {
    enum status (*fresh)(void *ctx);
    enum status (*write)(void *ctx, const char *text, size_t len, const char *title,
                         eval_triple_sink sink, void *sink_ctx);
    enum status (*ask)(void *ctx, const char *question, char **answer);
    void *ctx;
};

/* Called after each item (document or record) with items done and total. */
typedef void (*eval_progress_fn)(void *user, size_t done, size_t total);

/* Each document of d into a fresh memory, scored into s.  The text written is the document
 * with its sentences joined by a blank line (so the write mode's splitter keeps at least
 * Re-DocRED's sentence boundaries; the write mode collapses it to one space).
 * STATUS_CANCELLED (the documents finished before it are scored) or the backend's error. */
enum status eval_write_run(const struct eval_backend *b, const struct eval_docs *d,
                           struct eval_write_score *s, eval_progress_fn progress, void *user);

/* The edit protocol: first every loc is asked of a fresh memory (the answers before any
 * edit).  Per-record (sequential false): for each record a fresh memory, its statement
 * written, then src, rephrase and loc asked.  Sequential: one fresh memory, every
 * statement written in order, then every record's three questions asked.  Progress counts
 * the 2 or 3 passes' records.  STATUS_CANCELLED leaves the records finished in t. */
enum status eval_edit_run(const struct eval_backend *b, const struct eval_edits *e,
                          bool sequential, struct eval_edit_tally *t,
                          eval_progress_fn progress, void *user);

/* ---- facts for a populated memory ----------------------------------------------------- */

/* Read a facts file for eval_agent_set_facts(): subject<TAB>relation<TAB>object lines,
 * '#' lines and blank lines skipped (synth_facts_read(); free with synth_facts_free()),
 * every name also checked as the store checks it.  STATUS_IO (detail: file and reason),
 * STATUS_FORMAT (detail "FILE:LINE: ...") for a line without three non-empty fields,
 * STATUS_ENCODING (detail "FILE:LINE: ...") for a name that is not valid UTF-8. */
enum status eval_facts_open(const char *path, struct synth_facts **out);

/* ---- the backend over the real agent ------------------------------------------------- */

struct eval_agent; /* opaque: an agent over a fresh ":memory:" database per fresh() */

/* lm and tk borrowed (must outlive it); p and cp copied (p's strings stay borrowed);
 * relations_path (may be NULL; copied) is loaded into every fresh memory (relation flags,
 * as a new database gets them).  Decoding is greedy for writes; reads use p->samp.
 *
 * Constrained decoding (p->constrain, as memllm ask and write use it; agent/memcons.h):
 * the constraint is made once, at the first fresh(), over the relation names of that
 * memory (relations_path and the facts: every fresh memory starts with the same ones),
 * and installed on every agent; a read may name spans of the question or names of the
 * current memory, a write spans of the sentence and its context.  p->constrain false:
 * no constraint. */
enum status eval_agent_new(const struct agent_lm *lm, struct tok *tk,
                           const struct agent_params *p, const struct ctrl_params *cp,
                           const char *relations_path, struct eval_agent **out);
void eval_agent_free(struct eval_agent *ea); /* NULL is a no-op */
/* Facts written into every fresh memory after the relations (one ctrl_batch transaction
 * per memory), so that the answers before any edit and each record's memory start from
 * the same populated memory.  f borrowed (must outlive ea); NULL: none.  Takes effect at
 * the next fresh(); call it before the first, or the constraint misses the facts'
 * relation names. */
void eval_agent_set_facts(struct eval_agent *ea, const struct synth_facts *f);
void eval_agent_backend(struct eval_agent *ea, struct eval_backend *out);
/* Stop the current and every later step (async-signal-safe). */
void eval_agent_cancel(struct eval_agent *ea);
bool eval_agent_cancelled(const struct eval_agent *ea);
/* Start a fresh memory (the backend's fresh()): relations, then facts; its controller,
 * borrowed until the next
 * fresh() or free. */
enum status eval_agent_fresh(struct eval_agent *ea);
struct ctrl *eval_agent_ctrl(struct eval_agent *ea);

/* ---- perplexity of a document -------------------------------------------------------- */

/* Score document doc of d with lm (teacher forcing, one token per evaluation).
 *
 * Pieces.  The text is cut at every mention's start and end; each piece, trimmed of
 * spaces, is encoded on its own with the tokenizer's space prefix (Re-DocRED mentions lie
 * on word boundaries, so this is SentencePiece's word-initial tokenization); the
 * sequence starts with BOS.  A token is EVAL_TOK_ENTITY when its piece is a mention.
 *
 * Read points (c not NULL: with memory).  Every gold label is first written into c as
 * (first mention of head, relation name, first mention of tail).  At the first mention m
 * of an entity E (text order), each label linking E to a partner P that has a mention
 * ending before m gives a query "P>>r>>" (E is the tail) or ">>r>>P" (E is the head), P
 * named by its first mention; identical queries merged, at most 3 in label order; m's
 * tokens are EVAL_TOK_TARGET.  The queries are run with ctrl_read() and the answers
 * (de-duplicated, at most 30) joined by ';'.  When some query has answers,
 * "({MEM_READ(" q1;q2 ")-->" answers "})"  is encoded (special tokens parsed) and put
 * before m's tokens.
 * As in read mode only the most recent call stays in the context: the previous call's
 * tokens are removed (and the cache re-evaluated from there) when a new one is inserted.
 * Call tokens are context only, never scored.
 *
 * Targets are the first mentions at which some query can be formed, with or without
 * memory, so both runs score exactly the same tokens in every class; a call is inserted
 * only with memory and only when it finds answers.
 * Without memory (c NULL): the same pieces and tokens, no calls.
 *
 * Scored tokens: every document token after BOS (OVERALL).  Needs n_ctx > tokens of the
 * document plus the longest call (STATUS_LIMIT otherwise).  cancel (may be NULL) is
 * polled between tokens. */
enum status eval_ppl_doc(const struct agent_lm *lm, struct tok *tk, struct ctrl *c,
                         const struct eval_docs *d, size_t doc, struct eval_ppl *acc,
                         const volatile sig_atomic_t *cancel);

#endif /* MEMLLM_EVAL_H */
