/* ctrl.h -- the MemLLM memory controller: read and write semantics over the triple store.
 *
 * A struct ctrl joins the SQLite store (memory/store), an embedder (memory/embed) and two
 * in-RAM similarity indexes (memory/sim): one over entity names, one over relation names.
 * At open the vectors are loaded from the store; rows that have none yet (relations seeded
 * from relations.tsv, rows written through the store directly) are embedded and saved.
 *
 * Computed vectors.  The default hashed n-gram embedder (id "hash-ngram-...") is
 * deterministic, platform-independent and fast (200k-500k names/s), so its vectors are
 * not stored: writes leave emb NULL and every open embeds the names again (a stored vector,
 * from an older build, is loaded and checked as before).  Measured: a 100k-entity memory
 * opens in 0.3-0.6 s this way against 1.0-1.2 s loading stored vectors, the file is 16
 * times smaller, and a bulk import spends half the CPU time it did.  Older builds open such
 * a database too (they embed and store the missing vectors).  Any other embedder's vectors
 * are stored.
 * The database records its embedder; opening it with another one is
 * STATUS_EMBEDDER_MISMATCH (fix: `memllm mem reindex`, i.e. ctrl_reindex()).  A new
 * database records the embedder it is opened with.
 *
 * Read of (s, r, ?) (mirror (?, r, o)); distances are cosine distances 1 - cos:
 *   1. E = the top_entities (300) entities nearest to s; those with d_e < dist_thr pass
 *   2. R = the top_relations (25) relations nearest to r; those with d_r < dist_rel_thr pass
 *   3. for each passing (e, rel) with score = (d_e + d_r) / 2 < q_thr: the live triples
 *      (e, rel, *) are candidates with that score
 *   4. if some candidate has score < exact_thr (0.001), only those are kept
 *      (exact-match priority)
 *   5. answers = the wanted side's entities of the kept candidates, de-duplicated, in
 *      (score, triple id) order, at most max_answers (30)
 * Every list in the result is in a deterministic order (distance or score, then id).
 *
 * Write: entities and relations are found by exact name (byte for byte) first; new ones
 * are inserted together with their embedding.  An identical live triple is not stored
 * twice (MEM_OUTCOME_KNOWN); a second live value of a single-valued relation is stored but
 * flagged (MEM_OUTCOME_CONFLICT).  Each call is one transaction, and the indexes change
 * only with it: a failed call leaves store and indexes as they were.  Write and batch
 * transactions are the store's bulk transactions (mem_begin_bulk(): no savepoint per row;
 * safe because any failure rolls the whole transaction back).
 *
 * Transactions: ctrl owns them.  Do not call mem_begin() on the store while a ctrl is
 * open over it (ctrl calls return STATUS_INVALID when a transaction is already open).
 * Entities and relations that another process adds while a ctrl is open are not in its
 * indexes (reads cannot find them by similarity) until the ctrl is reopened; writes that
 * name them still work.
 *
 * A struct ctrl is used by one thread at a time. */
#ifndef MEMLLM_CTRL_H
#define MEMLLM_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/embed.h"
#include "memory/store.h"
#include "util/status.h"

/* Defaults chosen for the default hashed n-gram embedder from the measurements in
 * data/README.embed (the reference code's are 0.1 / 0.1 / 0.001; see ctrl.c for why
 * these differ). */
#define CTRL_DIST_THR_DEFAULT 0.20
#define CTRL_DIST_REL_THR_DEFAULT 0.13
#define CTRL_Q_THR_DEFAULT 0.10
#define CTRL_EXACT_THR_DEFAULT 0.001
#define CTRL_TOP_ENTITIES_DEFAULT 300
#define CTRL_TOP_RELATIONS_DEFAULT 25
#define CTRL_MAX_ANSWERS_DEFAULT 30
#define CTRL_SHOW_FAILED_DEFAULT 5
#define CTRL_TOP_MAX 100000

/* Read settings; a plain struct callers fill in (start from ctrl_params_default()). */
struct ctrl_params {
    double dist_thr;      /* entity distance must be below this */
    double dist_rel_thr;  /* relation distance must be below this */
    double q_thr;         /* pair score must be below this */
    double exact_thr;     /* scores below this win over all others */
    size_t top_entities;  /* nearest entities considered (1 .. CTRL_TOP_MAX) */
    size_t top_relations; /* nearest relations considered (1 .. CTRL_TOP_MAX) */
    size_t max_answers;   /* 1 .. CTRL_TOP_MAX */
    size_t show_failed;   /* how many nearest failing candidates a result reports
                             besides the passing ones (for display only) */
};

void ctrl_params_default(struct ctrl_params *p);

/* STATUS_INVALID (detail names the field) for NaN/negative thresholds or counts out of
 * range. */
enum status ctrl_params_check(const struct ctrl_params *p);

struct ctrl; /* opaque */

/* Open over m with embedder e; both are borrowed and must outlive the ctrl.  Records e in
 * a database that has no embedder yet; STATUS_EMBEDDER_MISMATCH when it has another one.
 * Parameters start as ctrl_params_default(). */
enum status ctrl_open(struct mem *m, const struct embedder *e, struct ctrl **out);
void ctrl_close(struct ctrl *c); /* NULL is a no-op; does not close m or e */

struct mem *ctrl_mem(const struct ctrl *c);
const struct ctrl_params *ctrl_params_get(const struct ctrl *c);
enum status ctrl_params_set(struct ctrl *c, const struct ctrl_params *p); /* checked */

/* Rows in the two indexes. */
size_t ctrl_entity_count(const struct ctrl *c);
size_t ctrl_relation_count(const struct ctrl *c);

/* ---- read --------------------------------------------------------------------------- */

enum ctrl_want {
    CTRL_WANT_OBJECT,  /* subject>>relation>> */
    CTRL_WANT_SUBJECT, /* >>relation>>object */
};

/* A near entity or relation.  passed: its distance is below the threshold. */
struct ctrl_candidate {
    int64_t id;
    const char *name;
    double dist;
    bool passed;
};

/* A triple found through a passing (entity, relation) pair. */
struct ctrl_found {
    int64_t id, subj, rel, obj;
    const char *subj_name, *rel_name, *obj_name;
    double score;  /* (d_e + d_r) / 2 of the pair that found it */
    double d_e, d_r;
    bool kept;     /* survived exact-match priority */
};

/* One answer: the wanted side's entity and the first (best) kept triple naming it. */
struct ctrl_answer {
    int64_t entity_id;
    const char *name;
    double score;
    int64_t triple_id;
};

/* A read's result; owned, free with ctrl_read_free().  Every string in it is borrowed
 * from it. */
struct ctrl_read {
    enum ctrl_want want;
    const char *name;      /* the given side (subject or object) as asked */
    const char *relation;  /* as asked */
    struct ctrl_params params;
    struct ctrl_candidate *entities;  /* passing ones, then up to show_failed failing */
    size_t n_entities, n_entities_passed;
    struct ctrl_candidate *relations; /* likewise */
    size_t n_relations, n_relations_passed;
    size_t n_pairs;                   /* (e, rel) pairs whose score passed q_thr */
    struct ctrl_found *found;         /* every candidate triple, (score, id) order */
    size_t n_found;
    bool exact;                       /* exact-match priority applied */
    struct ctrl_answer *answers;      /* (score, triple id) order, de-duplicated */
    size_t n_answers;
    bool truncated;                   /* more distinct answers than max_answers */
    void *pool_;                      /* private */
};

/* Run one query.  name and relation must be non-empty (STATUS_INVALID). */
enum status ctrl_read(struct ctrl *c, enum ctrl_want want, const char *name,
                      const char *relation, struct ctrl_read **out);
void ctrl_read_free(struct ctrl_read *r); /* NULL is a no-op */

/* ---- write -------------------------------------------------------------------------- */

struct ctrl_triple_in {
    const char *subj, *rel, *obj;
};

struct ctrl_written {
    int64_t triple_id;          /* the stored or the already known triple */
    enum mem_outcome outcome;   /* NEW, KNOWN or CONFLICT */
    bool new_subj, new_rel, new_obj; /* the call created that entity / relation */
};

/* Store n triples in one transaction.  src (may be NULL: no source) is added once and
 * becomes the source of every triple.  res (may be NULL) receives one record per triple,
 * in order.  Names must be non-empty valid UTF-8 (STATUS_INVALID / STATUS_ENCODING with
 * the triple's number in the detail; nothing is stored then). */
enum status ctrl_write(struct ctrl *c, const struct ctrl_triple_in *t, size_t n,
                       const struct mem_source *src, struct ctrl_written *res);

/* Retire a live triple (reason may be NULL).  Entities and relations stay. */
enum status ctrl_retire(struct ctrl *c, int64_t id, const char *reason);

/* Edit triple id: NULL names keep the old part; new names are embedded and indexed.
 * src (may be NULL: keep the old source) is added and becomes the new triple's source.
 * See mem_triple_edit() for outcomes and errors. */
enum status ctrl_edit(struct ctrl *c, int64_t id, const char *subj, const char *rel,
                      const char *obj, const struct mem_source *src, const char *reason,
                      int64_t *new_id, enum mem_outcome *outcome);

/* ---- batch write (imports) ---------------------------------------------------------- */

/* One transaction for many triples.  Triples are buffered and written in chunks; the
 * names new to the memory are embedded a chunk at a time and inserted in name order.
 * With computed vectors (see the top) and 1024 or more new entity names in a chunk, those
 * names are embedded and indexed on a helper thread while the chunk's triples and the
 * next chunk's names are stored; it is joined before the next chunk's names are
 * embedded, before a read, and by the commit or abort.  The embedder is then used from
 * that thread, one thread at a time as the interface requires: the caller must not use
 * it directly while a batch is open.
 * Durability: the commit is durable against a crash of the process (WAL); with
 * synchronous=NORMAL a power loss may lose the last commits, never a part of one, and
 * never corrupts the file.  Until ctrl_batch_commit()
 * nothing is visible to other connections; after ctrl_batch_abort() (or a failed commit)
 * the store and the indexes are as before the batch.  No other ctrl call may be made
 * while a batch is open (STATUS_INVALID). */
struct ctrl_batch; /* opaque */

struct ctrl_batch_stats {
    size_t triples;               /* added to the batch */
    size_t n_new, n_known, n_conflict;
    size_t entities_new, relations_new;
};

enum status ctrl_batch_begin(struct ctrl *c, struct ctrl_batch **out);

/* A source for some of the batch's triples (written at once, inside the transaction). */
enum status ctrl_batch_source(struct ctrl_batch *b, const struct mem_source *src, int64_t *id);

/* Queue one triple (source_id 0: none).  Names are checked now: STATUS_INVALID for an
 * empty one, STATUS_ENCODING for invalid UTF-8 (the triple is not queued, the batch
 * goes on).  Other failures come from writing a full chunk: the batch is then broken and
 * can only be aborted. */
enum status ctrl_batch_add(struct ctrl_batch *b, const char *subj, const char *rel,
                           const char *obj, int64_t source_id);

/* Counts so far (after the last written chunk). */
void ctrl_batch_stats_get(const struct ctrl_batch *b, struct ctrl_batch_stats *out);

/* Write the rest and commit; b is freed in every case.  *stats (may be NULL) is set on
 * success.  On failure everything is rolled back. */
enum status ctrl_batch_commit(struct ctrl_batch *b, struct ctrl_batch_stats *stats);
void ctrl_batch_abort(struct ctrl_batch *b); /* rolls back and frees; NULL is a no-op */

/* ---- maintenance -------------------------------------------------------------------- */

/* Re-embed every entity and relation of m with e and record e (one transaction); works
 * on a database recorded with another embedder.  For an embedder with computed vectors
 * (see the top) the stored vectors are cleared instead.  *n_entities / *n_relations (may be
 * NULL) receive the counts. */
enum status ctrl_reindex(struct mem *m, const struct embedder *e, size_t *n_entities,
                         size_t *n_relations);

struct ctrl_check_report {
    size_t entities, relations;         /* rows in the tables */
    size_t entities_indexed, relations_indexed;
    size_t missing_vectors;             /* rows without a stored vector (0 for an embedder
                                           with computed vectors) */
    size_t index_mismatch;              /* index rows whose vector differs from the table's
                                           (computed vectors: from a fresh embedding) */
    size_t stale_vectors;               /* stored vectors that differ from a fresh embedding */
    size_t orphan_entities;             /* entities no triple (live or retired) names;
                                           allowed, reported for information */
};

/* Integrity: mem_check() (SQLite quick_check + foreign keys), then the indexes against
 * the tables.  STATUS_OK when consistent (orphans are allowed), STATUS_DB_CORRUPT with
 * the first problem in the detail otherwise; *rep (may be NULL) is filled either way
 * as far as the check got. */
enum status ctrl_check(struct ctrl *c, struct ctrl_check_report *rep);

#endif /* MEMLLM_CTRL_H */
