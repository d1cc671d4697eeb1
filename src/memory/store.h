/* store.h -- memllm's explicit memory: a SQLite triple store with provenance and history.
 *
 * One SQLite file (WAL journal, synchronous=NORMAL, foreign keys on (a bulk transaction
 * checks the same references itself, see mem_begin_bulk), schema version in
 * PRAGMA user_version, application_id "MLLM", 8 KiB pages in new files; older files keep
 * theirs).  A commit that returned survives a crash
 * of the process; a power loss may lose the last commits, never part of one.  Tables:
 *   1. meta(key, value)                     "embedder.id", "embedder.dim",
 *                                           "schema.created_by"; callers may add keys
 *   2. entities(id, name UNIQUE, emb)       emb: float32 vector BLOB or NULL (NULL for
 *                                           embedders whose vectors are computed at open)
 *   3. relations(id, name UNIQUE, emb, single_valued, wikidata_id)
 *   4. sources(id, kind, text, file, line, run_id, created_at)
 *   5. triples(id, subj, rel, obj, source_id, created_at, retired_at, retire_reason,
 *              replaced_by, conflict)        never erased: edits and deletions retire
 *   6. runs(id, prompt, output, model, settings, created_at, finished_at)
 *   7. run_calls(run_id, call_no, kind, raw, result, created_at)
 *   8. reads(id, run_id, call_no, query, triple_id, score)
 *
 * Search index (schema version 2): when SQLite has FTS5 with the trigram tokenizer
 * (checked at open), contentless trigram tables entities_fts(name) and sources_fts(text,
 * file) index every entity name and source; the store fills them itself in the insert
 * paths (no triggers, so an SQLite without FTS5 still reads and writes the file).
 * meta "search.trigram" is "ready" while they are complete.  An open with FTS5 builds
 * them when they are not (a database from schema 1, or one written by an SQLite without
 * FTS5, which marks them "stale"); substring filters of 3 or more characters use them.
 * Schema version 3 drops the unused index triples_created.
 *
 * Names are stored byte for byte as given; they must be non-empty valid UTF-8
 * (STATUS_ENCODING / STATUS_INVALID otherwise).  Times are milliseconds since the Unix
 * epoch (UTC).  Ids are positive; 0 means "none" in every struct below.
 *
 * The store computes no embeddings: vectors are float arrays of the dimension recorded
 * with mem_embedder_set(), stored in host byte order.
 *
 * Errors: STATUS_DB_BUSY after the busy timeout (default 5000 ms), STATUS_DB_CORRUPT for
 * a file that is not SQLite or not a memllm database (path in the detail),
 * STATUS_DB_SCHEMA for a database from a newer memllm, STATUS_DB for other SQLite
 * failures (SQLite's message in the detail and the log).
 *
 * A struct mem is used by one thread at a time (the connection is opened without
 * SQLite's per-connection mutex). */
#ifndef MEMLLM_STORE_H
#define MEMLLM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct mem; /* opaque */

/* Schema version this build writes (PRAGMA user_version). */
#define MEM_SCHEMA_VERSION 3
#define MEM_BUSY_TIMEOUT_DEFAULT_MS 5000

/* ---- open, close, integrity ------------------------------------------------------ */

/* Open or create the database at path (":memory:" for a private in-RAM one).  Parent
 * directories of a new file are created.  Pending migrations are applied, one
 * transaction per step.  *out is set only on success; close it with mem_close(). */
enum status mem_open(const char *path, struct mem **out);

/* Called now and then while an open builds the search index of an existing database
 * (only when it holds 50,000 rows or more): done of total rows indexed so far. */
typedef void (*mem_progress_cb)(void *ctx, int64_t done, int64_t total);
struct mem_open_opts {
    mem_progress_cb progress; /* NULL: none */
    void *progress_ctx;
    bool no_search_index;     /* neither use nor maintain the trigram index, as with an
                                 SQLite without FTS5 (tests, comparisons) */
    int walk_budget;          /* thousands of SQLite VM steps a filtered page may walk in
                                 sort order before it looks up the matching names instead
                                 (see mem_triple_list); 0: the default, 200 */
    int64_t defer_min_rows;   /* triples a bulk transaction adds before it may defer its
                                 index work (see mem_begin_bulk); 0: the default, 16384;
                                 negative: never (tests, comparisons) */
    int busy_timeout_ms;      /* how long a locked database is waited for, opening it
                                 included; 0: MEM_BUSY_TIMEOUT_DEFAULT_MS, negative: not */
};
/* mem_open() with options (o NULL: the defaults). */
enum status mem_open_with(const char *path, const struct mem_open_opts *o, struct mem **out);

/* Whether substring filters use the trigram index on this connection. */
bool mem_search_indexed(const struct mem *m);
void mem_close(struct mem *m); /* NULL is a no-op; finalizes every statement */

/* Wait at most ms for another connection's lock before STATUS_DB_BUSY (0: fail at once). */
void mem_set_busy_timeout(struct mem *m, int ms);

/* The path given to mem_open(); borrowed until mem_close(). */
const char *mem_path(const struct mem *m);

/* PRAGMA quick_check plus a foreign-key check.  STATUS_OK when clean, else
 * STATUS_DB_CORRUPT with the first problem in the detail. */
enum status mem_check(struct mem *m);

/* ---- transactions ------------------------------------------------------------------ */

/* Group many writes into one transaction (BEGIN IMMEDIATE: takes the write lock now,
 * waiting up to the busy timeout).  Not nestable: STATUS_INVALID when one is open.
 * Every mem_ write is atomic on its own as well (a savepoint inside a transaction). */
enum status mem_begin(struct mem *m);
enum status mem_commit(struct mem *m);
enum status mem_rollback(struct mem *m); /* no-op when none is open */
bool mem_in_transaction(const struct mem *m);

/* Like mem_begin(), for bulk writes that are all-or-nothing as a whole (imports, a
 * controller's write).  Until mem_commit() or mem_rollback():
 *   - mem_ writes take no savepoint of their own, so a write that fails may leave part
 *     of its effect (each SQL statement stays atomic): after any failure the caller
 *     must roll the whole transaction back (committing it then is a bug);
 *   - get-or-create is one INSERT that skips an existing name, a triple of a relation
 *     that is not single-valued one INSERT that skips an identical live triple, and
 *     relation flags and checked source ids are cached (the write lock is held);
 *   - the page cache is 256 MiB instead of 32 MiB, and temporary storage is SQLite's
 *     default (files, cached in memory) instead of memory, which sorts faster;
 *   - SQLite's foreign-key checks are off (it switches them only between
 *     transactions): the store checks every reference a write makes before it writes,
 *     with the same status and detail, and mem_run_delete() does the deletes and
 *     unlinking that SQLite's ON DELETE actions would;
 *   - new entity names and sources enter the search index in one statement at the
 *     commit;
 *   - once the transaction has added 16,384 triples and at least a quarter of the
 *     number the table held before, the triple table's secondary indexes (all but the
 *     unique live-triple index and the replaced_by one) are dropped and built again,
 *     from sorted rows, at the commit.
 * Reads through this connection (lists, counts, lookups, stats, check) do the deferred
 * work first, so they see complete indexes; a rollback or a killed process restores
 * the indexes with the rest of the transaction, so no committed state ever lacks one.
 * The database contents after a commit are the same as with mem_begin() and the same
 * calls. */
enum status mem_begin_bulk(struct mem *m);
bool mem_in_bulk(const struct mem *m); /* a transaction from mem_begin_bulk() is open */
/* Indexes the open bulk transaction has dropped until its commit (0 when none). */
size_t mem_bulk_deferred(const struct mem *m);

/* ---- meta and embedder ------------------------------------------------------------- */

/* *value is owned (free()); STATUS_NOT_FOUND when the key is absent. */
enum status mem_meta_get(struct mem *m, const char *key, char **value);
enum status mem_meta_set(struct mem *m, const char *key, const char *value);

/* The embedder recorded in meta: *id borrowed until the next mem_embedder_ call or
 * close, NULL and 0 when none is recorded yet. */
void mem_embedder_get(const struct mem *m, const char **id, size_t *dim);

/* Record the embedder.  When it differs from the recorded one, every stored vector is
 * cleared in the same transaction (a reindex then sets them again). */
enum status mem_embedder_set(struct mem *m, const char *id, size_t dim);

/* Compare with the recorded embedder: records it when none is, STATUS_OK when equal,
 * STATUS_EMBEDDER_MISMATCH (both named in the detail) when different. */
enum status mem_embedder_check(struct mem *m, const char *id, size_t dim);

/* ---- entities and relations -------------------------------------------------------- */

/* Exact-name lookup; STATUS_NOT_FOUND when absent. */
enum status mem_entity_find(struct mem *m, const char *name, int64_t *id);
enum status mem_relation_find(struct mem *m, const char *name, int64_t *id);

/* Get-or-create by exact name.  emb (dim floats, may be NULL) is stored only when the
 * row is created; dim must equal the recorded embedder's dimension (STATUS_INVALID).
 * *created (may be NULL) tells whether a row was inserted. */
enum status mem_entity_ensure(struct mem *m, const char *name, const float *emb, size_t dim,
                              int64_t *id, bool *created);
enum status mem_relation_ensure(struct mem *m, const char *name, const float *emb, size_t dim,
                                int64_t *id, bool *created);

/* Name of an id; *name owned (free()).  STATUS_NOT_FOUND when absent. */
enum status mem_entity_name(struct mem *m, int64_t id, char **name);
enum status mem_relation_name(struct mem *m, int64_t id, char **name);

/* Relation flags.  wikidata_id may be NULL. */
enum status mem_relation_set_single_valued(struct mem *m, int64_t id, bool single_valued);
enum status mem_relation_single_valued(struct mem *m, int64_t id, bool *single_valued);
enum status mem_relation_set_wikidata_id(struct mem *m, int64_t id, const char *wikidata_id);

/* Replace a stored vector (reindex); emb NULL clears it. */
enum status mem_entity_set_emb(struct mem *m, int64_t id, const float *emb, size_t dim);
enum status mem_relation_set_emb(struct mem *m, int64_t id, const float *emb, size_t dim);

/* One entity or relation with its vector.  name and emb are borrowed for the duration
 * of the callback; emb is NULL (dim 0) when the row has no vector. */
struct mem_named {
    int64_t id;
    const char *name;
    const float *emb;
    size_t dim;
    bool single_valued; /* relations only */
};
/* Callbacks return 0 to go on, non-zero to stop (the iterating call still returns OK).
 * A callback may call other mem_ functions, writes included, but not the iterating
 * function itself (its prepared statement is in use). */
typedef int (*mem_named_cb)(void *ctx, const struct mem_named *row);

/* Every entity / relation in id order, with vectors (load into RAM for search).
 * missing_only: only rows without a vector (to fill them in). */
enum status mem_entity_each(struct mem *m, bool missing_only, mem_named_cb cb, void *ctx);
enum status mem_relation_each(struct mem *m, bool missing_only, mem_named_cb cb, void *ctx);

/* Entities whose name starts with prefix (byte-wise, case-sensitive), in name order,
 * after the name after (NULL: from the first), at most limit.  emb is not loaded. */
enum status mem_entity_prefix(struct mem *m, const char *prefix, const char *after,
                              size_t limit, mem_named_cb cb, void *ctx);

/* Seed the relations table from a relations.tsv file (see relations.h): each relation is
 * created if absent and gets the file's single_valued flag and Wikidata id.  *n (may be
 * NULL) receives the number of lines applied.  One transaction. */
enum status mem_relations_load(struct mem *m, const char *path, size_t *n);
/* $MEMLLM_RELATIONS, else the installed $(pkgdatadir)/relations.tsv; static or env. */
const char *mem_relations_default_path(void);
enum status mem_relations_load_buffer(struct mem *m, const char *buf, size_t len,
                                      const char *name, size_t *n);

/* ---- sources ----------------------------------------------------------------------- */

enum mem_source_kind {
    MEM_SOURCE_KIND_SENTENCE, /* a sentence the write mode memorized */
    MEM_SOURCE_KIND_DOCUMENT, /* a whole document */
    MEM_SOURCE_KIND_USER,     /* a user's teaching or edit */
    MEM_SOURCE_KIND_IMPORT,   /* a bulk import */
};
const char *mem_source_kind_name(enum mem_source_kind k); /* "sentence", ...; static */

struct mem_source {
    int64_t id;                /* output only */
    enum mem_source_kind kind;
    const char *text;          /* may be NULL */
    const char *file;          /* may be NULL */
    int64_t line;              /* 0: none */
    int64_t run_id;            /* 0: none; set to 0 when that run is deleted */
    int64_t created_at;        /* output only */
};

enum status mem_source_add(struct mem *m, const struct mem_source *src, int64_t *id);

/* ---- triples ----------------------------------------------------------------------- */

enum mem_outcome {
    MEM_OUTCOME_NEW,      /* stored */
    MEM_OUTCOME_KNOWN,    /* an identical live triple exists; its id is returned */
    MEM_OUTCOME_CONFLICT, /* stored, but its single-valued relation already had a live
                             value for this subject: flagged, see mem_conflict_each() */
};

/* A triple with names.  Strings are borrowed for the duration of a callback (or owned by
 * the containing struct for mem_triple_get()). */
struct mem_triple {
    int64_t id, subj, rel, obj;
    const char *subj_name, *rel_name, *obj_name;
    int64_t source_id;
    int64_t created_at;
    int64_t retired_at;         /* 0 while live */
    const char *retire_reason;  /* NULL while live */
    int64_t replaced_by;        /* 0 when none */
    bool conflict;              /* arrived as a second value of a single-valued relation */
};
typedef int (*mem_triple_cb)(void *ctx, const struct mem_triple *t);

/* Store (subj, rel, obj) from source_id (0: none).  Entities and the relation are found
 * by exact name or created (without vectors) by the name version. */
enum status mem_triple_add(struct mem *m, const char *subj, const char *rel, const char *obj,
                           int64_t source_id, int64_t *id, enum mem_outcome *outcome);
enum status mem_triple_add_ids(struct mem *m, int64_t subj, int64_t rel, int64_t obj,
                               int64_t source_id, int64_t *id, enum mem_outcome *outcome);

/* Delete: retire a live triple with a reason (may be NULL).  STATUS_NOT_FOUND for an
 * unknown id, STATUS_INVALID for one already retired. */
enum status mem_triple_retire(struct mem *m, int64_t id, const char *reason);

/* Edit: retire triple id (reason may be NULL) and store the new version; NULL names keep
 * the old part.  replaced_by of the old triple points at the new one (or at the
 * identical live triple that already existed: outcome KNOWN).  An edit that changes
 * nothing is STATUS_INVALID.  source_id 0 keeps the old triple's source. */
enum status mem_triple_edit(struct mem *m, int64_t id, const char *subj, const char *rel,
                            const char *obj, int64_t source_id, const char *reason,
                            int64_t *new_id, enum mem_outcome *outcome);

/* One triple with its source; owned, free with mem_triple_info_free(). */
struct mem_triple_info {
    struct mem_triple triple;
    struct mem_source source; /* id 0 when the triple has none */
    void *pool_;              /* private */
};
enum status mem_triple_get(struct mem *m, int64_t id, struct mem_triple_info **out);
void mem_triple_info_free(struct mem_triple_info *info);

/* Every version of the triple's edit chain (predecessors and successors through
 * replaced_by), oldest first. */
enum status mem_triple_history(struct mem *m, int64_t id, mem_triple_cb cb, void *ctx);

/* Live triples (subj, rel, *) and (*, rel, obj) by id, in id order: the read algorithm's
 * lookups. */
enum status mem_triples_by_subj_rel(struct mem *m, int64_t subj, int64_t rel,
                                    mem_triple_cb cb, void *ctx);
enum status mem_triples_by_rel_obj(struct mem *m, int64_t rel, int64_t obj,
                                   mem_triple_cb cb, void *ctx);

/* Every triple (live or retired) stored from one source, in id order: what a sentence
 * or an import taught. */
enum status mem_triples_by_source(struct mem *m, int64_t source_id, mem_triple_cb cb,
                                  void *ctx);

/* Live triples of single-valued relations whose subject has two or more live values,
 * ordered by subject, relation, id. */
enum status mem_conflict_each(struct mem *m, mem_triple_cb cb, void *ctx);

/* ---- listing with keyset pagination ------------------------------------------------ */

enum mem_match {
    MEM_MATCH_EXACT,     /* name equal, byte for byte */
    MEM_MATCH_SUBSTRING, /* name contains the text (ASCII letters case-insensitive) */
};
enum mem_sort {
    MEM_SORT_ID,       /* by id */
    MEM_SORT_SUBJECT,  /* by subject name, then id */
    MEM_SORT_RELATION, /* by relation name, then id */
    MEM_SORT_OBJECT,   /* by object name, then id */
};
struct mem_filter {
    const char *subj, *rel, *obj; /* NULL: any */
    enum mem_match match;         /* for all four */
    bool include_retired;
    const char *source;           /* NULL: any; else the triple's source text or file name
                                     contains it (MEM_MATCH_SUBSTRING) or equals it
                                     (MEM_MATCH_EXACT); triples without a source never
                                     match */
};
/* Substring filters ("contains TEXT"): TEXT is literal ('%', '_' and '\' are no
 * wildcards), ASCII letters match either case, other characters only themselves.
 *
 * A page: the rows after (or, backward, before) the cursor (after_key, after_id) in the
 * sort order.  The cursor is the last row seen: after_id its id and, for the name sorts,
 * after_key its subj_name / rel_name / obj_name.  after_key NULL and after_id 0 mean
 * "from the start" (backward: "from the end").  Backward pages come nearest-first, in
 * reverse order.  Pages stay correct when rows are inserted between calls. */
struct mem_page {
    enum mem_sort sort;
    bool backward;
    const char *after_key;
    int64_t after_id;
    size_t limit; /* 0: no limit */
};
enum status mem_triple_list(struct mem *m, const struct mem_filter *f,
                            const struct mem_page *p, mem_triple_cb cb, void *ctx);
enum status mem_triple_count(struct mem *m, const struct mem_filter *f, int64_t *n);
/* min(count, max): cheap when the filter matches many rows (an incremental filter can
 * show "max or more"); max 0 counts all. */
enum status mem_triple_count_max(struct mem *m, const struct mem_filter *f, int64_t max,
                                 int64_t *n);

/* ---- statistics -------------------------------------------------------------------- */

struct mem_stats {
    int64_t entities, relations, triples_live, triples_retired, conflicts, sources, runs;
};
enum status mem_stats_get(struct mem *m, struct mem_stats *out);

/* ---- runs: what a generation read, so answers trace back to triples and sources ---- */

enum mem_call_kind { MEM_CALL_KIND_READ, MEM_CALL_KIND_WRITE };

/* model and settings may be NULL. */
enum status mem_run_create(struct mem *m, const char *prompt, const char *model,
                           const char *settings, int64_t *run_id);
/* A call of the run (call_no unique within it): the raw call text and its result
 * (may be NULL). */
enum status mem_run_add_call(struct mem *m, int64_t run_id, int64_t call_no,
                             enum mem_call_kind kind, const char *raw, const char *result);
/* One triple a read call returned for query (the call must exist). */
enum status mem_run_add_read(struct mem *m, int64_t run_id, int64_t call_no, const char *query,
                             int64_t triple_id, double score);
/* Record the output (may be NULL) and the finishing time. */
enum status mem_run_finish(struct mem *m, int64_t run_id, const char *output);
/* Deletes the run with its calls and reads; sources keep their text (run_id cleared). */
enum status mem_run_delete(struct mem *m, int64_t run_id);

struct mem_run_call {
    int64_t call_no;
    enum mem_call_kind kind;
    const char *raw, *result;
    int64_t created_at;
};
struct mem_run_read {
    int64_t call_no;
    const char *query;
    double score;
    struct mem_triple triple;
    struct mem_source source; /* the triple's source; id 0 when none */
};
struct mem_run {
    int64_t id;
    const char *prompt, *output, *model, *settings; /* output etc. may be NULL */
    int64_t created_at, finished_at;                /* finished_at 0 while unfinished */
    size_t n_calls, n_reads;
    struct mem_run_call *calls; /* by call_no */
    struct mem_run_read *reads; /* by call_no, then insertion order */
    void *pool_;                /* private */
};
/* The run with its calls and reads; owned, free with mem_run_free().  In a list
 * callback the run is borrowed and carries no calls or reads. */
enum status mem_run_get(struct mem *m, int64_t run_id, struct mem_run **out);
void mem_run_free(struct mem_run *run);
typedef int (*mem_run_cb)(void *ctx, const struct mem_run *run);
/* Newest first: runs with id < before_id (0: from the newest), at most limit (0: all). */
enum status mem_run_list(struct mem *m, int64_t before_id, size_t limit, mem_run_cb cb,
                         void *ctx);

/* The runs whose reads returned a triple (audit: "which answers did this fact ground?"),
 * newest run first.  query is borrowed for the duration of the callback. */
struct mem_triple_use {
    int64_t run_id, call_no;
    const char *query;
    double score;
    int64_t run_created_at;
};
typedef int (*mem_use_cb)(void *ctx, const struct mem_triple_use *use);
enum status mem_triple_uses(struct mem *m, int64_t triple_id, mem_use_cb cb, void *ctx);

#endif /* MEMLLM_STORE_H */
