/* store.c -- the SQLite triple store behind memllm's explicit memory (see store.h). */
#include "config.h"

#include "memory/store.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "memory/relations.h"
#include "util/i18n.h"
#include "util/log.h"
#include "util/timing.h"
#include "util/utf8.h"
#include "util/xdg.h"

/* "MLLM" in PRAGMA application_id marks a memllm database. */
#define MEM_APPLICATION_ID 0x4d4c4c4d

/* Page size of new database files (bytes, as SQL text). */
#define MEM_PAGE_SIZE_NEW "8192"

/* A filtered page's walk in sort order may take MEM_PROBE_TICKS progress calls, one per
 * MEM_PROBE_OPS virtual-machine instructions, before it changes plan (see
 * mem_triple_list): about 20,000 triples, 20-30 ms of CPU at a million triples. */
#define MEM_PROBE_OPS 1000
#define MEM_PROBE_TICKS 200

/* Largest relations.tsv mem_relations_load() reads. */
#define MEM_RELATIONS_FILE_MAX (16u << 20)

/* ---- schema and migrations ---------------------------------------------------------- */

/* migrations[v] takes a database from user_version v to v + 1.  Steps are append-only:
 * never edit one that has shipped, add a new one. */
static const char *const mem_migrations[MEM_SCHEMA_VERSION] = {
    /* 0 -> 1: the initial schema. */
    "CREATE TABLE meta("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE entities("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
    "  emb BLOB,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE relations("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
    "  emb BLOB,"
    "  single_valued INTEGER NOT NULL DEFAULT 0 CHECK (single_valued IN (0, 1)),"
    "  wikidata_id TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY,"
    "  prompt TEXT NOT NULL,"
    "  output TEXT,"
    "  model TEXT,"
    "  settings TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER);"
    "CREATE TABLE sources("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('sentence', 'document', 'user', 'import')),"
    "  text TEXT,"
    "  file TEXT,"
    "  line INTEGER,"
    "  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE triples("
    "  id INTEGER PRIMARY KEY,"
    "  subj INTEGER NOT NULL REFERENCES entities(id),"
    "  rel INTEGER NOT NULL REFERENCES relations(id),"
    "  obj INTEGER NOT NULL REFERENCES entities(id),"
    "  source_id INTEGER REFERENCES sources(id),"
    "  created_at INTEGER NOT NULL,"
    "  retired_at INTEGER,"
    "  retire_reason TEXT,"
    "  replaced_by INTEGER REFERENCES triples(id),"
    "  conflict INTEGER NOT NULL DEFAULT 0 CHECK (conflict IN (0, 1)));"
    /* At most one live copy of a triple, enforced by the database itself. */
    "CREATE UNIQUE INDEX triples_live ON triples(subj, rel, obj) WHERE retired_at IS NULL;"
    /* Single-column indexes end in the rowid, so each yields (name's id, triple id)
     * order: what keyset pages sorted by subject / relation / object walk. */
    "CREATE INDEX triples_subj ON triples(subj);"
    "CREATE INDEX triples_rel ON triples(rel);"
    "CREATE INDEX triples_obj ON triples(obj);"
    /* The read algorithm's (?, r, o) lookup; (s, r, ?) uses triples_live. */
    "CREATE INDEX triples_rel_obj ON triples(rel, obj) WHERE retired_at IS NULL;"
    "CREATE INDEX triples_created ON triples(created_at);"
    "CREATE INDEX triples_replaced_by ON triples(replaced_by) WHERE replaced_by IS NOT NULL;"
    "CREATE INDEX triples_source ON triples(source_id);"
    "CREATE INDEX sources_run ON sources(run_id) WHERE run_id IS NOT NULL;"
    "CREATE INDEX sources_created ON sources(created_at);"
    "CREATE INDEX runs_created ON runs(created_at);"
    "CREATE TABLE run_calls("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  call_no INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('read', 'write')),"
    "  raw TEXT NOT NULL,"
    "  result TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, call_no)) WITHOUT ROWID;"
    "CREATE TABLE reads("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL,"
    "  call_no INTEGER NOT NULL,"
    "  query TEXT NOT NULL,"
    "  triple_id INTEGER NOT NULL REFERENCES triples(id),"
    "  score REAL NOT NULL,"
    "  FOREIGN KEY (run_id, call_no) REFERENCES run_calls(run_id, call_no) ON DELETE CASCADE);"
    "CREATE INDEX reads_run ON reads(run_id, call_no);"
    "CREATE INDEX reads_triple ON reads(triple_id);"
    "INSERT INTO meta(key, value) VALUES ('schema.created_by', 'memllm " PACKAGE_VERSION "');",
    /* 1 -> 2: the trigram search index.  Its tables need FTS5, which an SQLite may lack,
     * so mem_search_prepare() creates and fills them after the migrations; this step
     * marks them missing (and keeps memllm builds that do not maintain them away). */
    "INSERT INTO meta(key, value) VALUES ('search.trigram', 'missing')"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
    /* 2 -> 3: no query reads triples in created_at order through triples_created (a
     * history sorts its few rows), yet every write kept it up to date and a bulk import
     * rebuilt it at its commit (0.2 s of a million-triple import, 6% of the file). */
    "DROP INDEX IF EXISTS triples_created;",
};

/* ---- prepared statements ------------------------------------------------------------ */

#define TRIPLE_COLS                                                                      \
    "t.id, t.subj, t.rel, t.obj, s.name, r.name, o.name, t.source_id, t.created_at, "   \
    "t.retired_at, t.retire_reason, t.replaced_by, t.conflict"
#define TRIPLE_NCOLS 13
#define TRIPLE_FROM                                                                      \
    " FROM triples t JOIN entities s ON s.id = t.subj JOIN relations r ON r.id = t.rel"  \
    " JOIN entities o ON o.id = t.obj"
/* Conflicts: walk the few single-valued relations' triples, not the whole table. */
#define CONFLICT_FROM                                                                    \
    " FROM relations r CROSS JOIN triples t INDEXED BY triples_rel ON t.rel = r.id"      \
    " JOIN entities s ON s.id = t.subj JOIN entities o ON o.id = t.obj"
#define SOURCE_COLS "src.id, src.kind, src.text, src.file, src.line, src.run_id, src.created_at"
#define SOURCE_JOIN " LEFT JOIN sources src ON src.id = t.source_id"
#define RUN_COLS "id, prompt, output, model, settings, created_at, finished_at"

/* X(NAME, sql) */
#define MEM_STMTS(X)                                                                     \
    X(BEGIN, "BEGIN IMMEDIATE")                                                          \
    X(COMMIT, "COMMIT")                                                                  \
    X(ROLLBACK, "ROLLBACK")                                                              \
    X(SP, "SAVEPOINT mem_op")                                                            \
    X(SP_RELEASE, "RELEASE mem_op")                                                      \
    X(SP_ROLLBACK, "ROLLBACK TO mem_op")                                                 \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                 \
    X(META_SET, "INSERT INTO meta(key, value) VALUES (?1, ?2)"                           \
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value")                \
    X(ENT_FIND, "SELECT id FROM entities WHERE name = ?1")                               \
    X(ENT_INSERT, "INSERT INTO entities(name, emb, created_at) VALUES (?1, ?2, ?3)")     \
    X(ENT_INSERT_NEW, "INSERT INTO entities(name, emb, created_at) VALUES (?1, ?2, ?3)"  \
                      " ON CONFLICT(name) DO NOTHING")                                   \
    X(ENT_NAME, "SELECT name FROM entities WHERE id = ?1")                               \
    X(ENT_SET_EMB, "UPDATE entities SET emb = ?2 WHERE id = ?1")                         \
    X(ENT_EACH, "SELECT id, name, emb FROM entities ORDER BY id")                        \
    X(ENT_EACH_MISSING, "SELECT id, name, emb FROM entities WHERE emb IS NULL ORDER BY id") \
    X(ENT_PREFIX, "SELECT id, name FROM entities WHERE name >= ?1 AND name < ?2"         \
                  " AND name > ?3 ORDER BY name LIMIT ?4")                               \
    X(ENT_CLEAR_EMB, "UPDATE entities SET emb = NULL WHERE emb IS NOT NULL")             \
    X(REL_FIND, "SELECT id FROM relations WHERE name = ?1")                              \
    X(REL_INSERT, "INSERT INTO relations(name, emb, created_at) VALUES (?1, ?2, ?3)")    \
    X(REL_INSERT_NEW, "INSERT INTO relations(name, emb, created_at) VALUES (?1, ?2, ?3)" \
                      " ON CONFLICT(name) DO NOTHING")                                   \
    X(REL_NAME, "SELECT name FROM relations WHERE id = ?1")                              \
    X(REL_SET_EMB, "UPDATE relations SET emb = ?2 WHERE id = ?1")                        \
    X(REL_EACH, "SELECT id, name, emb, single_valued FROM relations ORDER BY id")        \
    X(REL_EACH_MISSING, "SELECT id, name, emb, single_valued FROM relations"             \
                        " WHERE emb IS NULL ORDER BY id")                                \
    X(REL_CLEAR_EMB, "UPDATE relations SET emb = NULL WHERE emb IS NOT NULL")            \
    X(REL_SET_SV, "UPDATE relations SET single_valued = ?2 WHERE id = ?1")               \
    X(REL_GET_SV, "SELECT single_valued FROM relations WHERE id = ?1")                   \
    X(REL_SET_WD, "UPDATE relations SET wikidata_id = ?2 WHERE id = ?1")                 \
    X(SRC_ADD, "INSERT INTO sources(kind, text, file, line, run_id, created_at)"         \
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                       \
    X(SRC_EXISTS, "SELECT 1 FROM sources WHERE id = ?1")                                 \
    X(RUN_EXISTS, "SELECT 1 FROM runs WHERE id = ?1")                                    \
    X(CALL_EXISTS, "SELECT 1 FROM run_calls WHERE run_id = ?1 AND call_no = ?2")         \
    X(TRI_EXISTS, "SELECT 1 FROM triples WHERE id = ?1")                                 \
    X(RUN_DEL_READS, "DELETE FROM reads WHERE run_id = ?1")                              \
    X(RUN_DEL_CALLS, "DELETE FROM run_calls WHERE run_id = ?1")                          \
    X(RUN_UNLINK_SOURCES, "UPDATE sources SET run_id = NULL WHERE run_id = ?1")          \
    X(TRI_FIND_LIVE, "SELECT id FROM triples WHERE subj = ?1 AND rel = ?2 AND obj = ?3"  \
                     " AND retired_at IS NULL")                                          \
    X(TRI_OTHER_LIVE, "SELECT 1 FROM triples t JOIN relations r ON r.id = t.rel"         \
                      " WHERE t.subj = ?1 AND t.rel = ?2 AND t.retired_at IS NULL"       \
                      " AND r.single_valued = 1 LIMIT 1")                                \
    X(TRI_INSERT, "INSERT INTO triples(subj, rel, obj, source_id, created_at, conflict)" \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                    \
    X(TRI_INSERT_NEW, "INSERT INTO triples(subj, rel, obj, source_id, created_at, conflict)" \
                      " VALUES (?1, ?2, ?3, ?4, ?5, 0)"                                  \
                      " ON CONFLICT(subj, rel, obj) WHERE retired_at IS NULL DO NOTHING") \
    X(TRI_RETIRE, "UPDATE triples SET retired_at = ?2, retire_reason = ?3"               \
                  " WHERE id = ?1 AND retired_at IS NULL")                               \
    X(TRI_SET_REPLACED, "UPDATE triples SET replaced_by = ?2 WHERE id = ?1")             \
    X(TRI_STATE, "SELECT subj, rel, obj, source_id, retired_at FROM triples WHERE id = ?1") \
    X(TRI_GET, "SELECT " TRIPLE_COLS ", " SOURCE_COLS TRIPLE_FROM SOURCE_JOIN            \
               " WHERE t.id = ?1")                                                       \
    X(TRI_HISTORY, "WITH RECURSIVE chain(id) AS (SELECT ?1"                              \
                   " UNION SELECT c2.replaced_by FROM triples c2 JOIN chain ON c2.id = chain.id" \
                   "   WHERE c2.replaced_by IS NOT NULL"                                 \
                   " UNION SELECT c3.id FROM triples c3 JOIN chain ON c3.replaced_by = chain.id)" \
                   " SELECT " TRIPLE_COLS TRIPLE_FROM " WHERE t.id IN (SELECT id FROM chain)" \
                   " ORDER BY t.created_at, t.id")                                       \
    X(TRI_BY_SR, "SELECT " TRIPLE_COLS TRIPLE_FROM                                       \
                 " WHERE t.subj = ?1 AND t.rel = ?2 AND t.retired_at IS NULL ORDER BY t.id") \
    X(TRI_BY_SOURCE, "SELECT " TRIPLE_COLS TRIPLE_FROM                                   \
                     " WHERE t.source_id = ?1 ORDER BY t.id")                            \
    X(TRI_BY_RO, "SELECT " TRIPLE_COLS TRIPLE_FROM                                       \
                 " WHERE t.rel = ?1 AND t.obj = ?2 AND t.retired_at IS NULL ORDER BY t.id") \
    X(CONFLICTS, "SELECT " TRIPLE_COLS CONFLICT_FROM                                     \
                 " WHERE r.single_valued = 1 AND t.retired_at IS NULL AND EXISTS ("      \
                 "  SELECT 1 FROM triples u WHERE u.subj = t.subj AND u.rel = t.rel"     \
                 "  AND u.retired_at IS NULL AND u.id <> t.id)"                          \
                 " ORDER BY t.subj, t.rel, t.id")                                        \
    X(STATS, "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM relations),"  \
             " (SELECT count(*) FROM triples WHERE retired_at IS NULL),"                 \
             " (SELECT count(*) FROM triples),"                                         \
             " (SELECT count(*) FROM sources), (SELECT count(*) FROM runs)")             \
    X(STATS_CONFLICTS, "SELECT count(*) FROM relations r"                                \
                       " CROSS JOIN triples t INDEXED BY triples_rel ON t.rel = r.id"    \
                       " WHERE r.single_valued = 1 AND t.retired_at IS NULL AND EXISTS (" \
                       "  SELECT 1 FROM triples u WHERE u.subj = t.subj AND u.rel = t.rel" \
                       "  AND u.retired_at IS NULL AND u.id <> t.id)")                   \
    X(RUN_CREATE, "INSERT INTO runs(prompt, model, settings, created_at)"                \
                  " VALUES (?1, ?2, ?3, ?4)")                                            \
    X(RUN_CALL, "INSERT INTO run_calls(run_id, call_no, kind, raw, result, created_at)"  \
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                      \
    X(RUN_READ, "INSERT INTO reads(run_id, call_no, query, triple_id, score)"            \
                " VALUES (?1, ?2, ?3, ?4, ?5)")                                          \
    X(RUN_FINISH, "UPDATE runs SET output = ?2, finished_at = ?3 WHERE id = ?1")         \
    X(RUN_DELETE, "DELETE FROM runs WHERE id = ?1")                                      \
    X(RUN_GET, "SELECT " RUN_COLS " FROM runs WHERE id = ?1")                            \
    X(RUN_CALLS, "SELECT call_no, kind, raw, result, created_at FROM run_calls"          \
                 " WHERE run_id = ?1 ORDER BY call_no")                                  \
    X(RUN_READS, "SELECT rd.call_no, rd.query, rd.score, " TRIPLE_COLS ", " SOURCE_COLS  \
                 " FROM reads rd JOIN triples t ON t.id = rd.triple_id"                  \
                 " JOIN entities s ON s.id = t.subj JOIN relations r ON r.id = t.rel"    \
                 " JOIN entities o ON o.id = t.obj" SOURCE_JOIN                          \
                 " WHERE rd.run_id = ?1 ORDER BY rd.call_no, rd.id")                     \
    X(TRI_USES, "SELECT rd.run_id, rd.call_no, rd.query, rd.score, ru.created_at"         \
                " FROM reads rd JOIN runs ru ON ru.id = rd.run_id WHERE rd.triple_id = ?1" \
                " ORDER BY rd.run_id DESC, rd.id")                                       \
    X(RUN_LIST, "SELECT " RUN_COLS " FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT ?2") \
    X(QUICK_CHECK, "PRAGMA quick_check")                                                 \
    X(FK_CHECK, "PRAGMA foreign_key_check")

enum mem_stmt {
#define MEM_STMT_ENUM_(name, sql) STMT_##name,
    MEM_STMTS(MEM_STMT_ENUM_)
#undef MEM_STMT_ENUM_
    STMT_COUNT_
};

static const char *const mem_stmt_sql[STMT_COUNT_] = {
#define MEM_STMT_SQL_(name, sql) sql,
    MEM_STMTS(MEM_STMT_SQL_)
#undef MEM_STMT_SQL_
};

/* A listing or count statement built for one query shape (see mem_list_sql()). */
struct mem_shape_stmt {
    uint32_t key;
    sqlite3_stmt *st;
};

struct mem {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[STMT_COUNT_];
    struct mem_shape_stmt *shapes; /* cache of built statements, by key */
    size_t n_shapes, cap_shapes;
    bool fts;                      /* the trigram index is complete and maintained */
    sqlite3_stmt *fts_ent_add;     /* INSERT INTO entities_fts (when fts) */
    sqlite3_stmt *fts_src_add;     /* INSERT INTO sources_fts (when fts) */
    sqlite3_stmt *fts_count[4];    /* capped candidate counts per field (when fts) */
    int walk_ticks;                /* budget of a driven page, MEM_PROBE_OPS each */
    int64_t defer_min;             /* bulk: triples before the indexes may be deferred
                                      (INT64_MAX: never) */
    char *key_buf;                 /* the last key a budgeted scan delivered */
    size_t key_cap;
    int op_depth;          /* nesting of internal atomic operations */
    bool op_savepoint;     /* the outermost one is a savepoint inside mem_begin() */
    bool bulk;             /* the open transaction came from mem_begin_bulk() */
    int64_t bulk_source;   /* in bulk: a source id known to exist (0: none yet) */
    signed char *bulk_sv;  /* in bulk: single_valued by relation id, -1 unknown */
    size_t bulk_sv_cap;
    int64_t bulk_rows;     /* in bulk: triples inserted so far */
    bool bulk_no_defer;    /* in bulk: the table is too large to rebuild its indexes */
    char **deferred;       /* in bulk: CREATE INDEX statements of the indexes dropped
                              until mem_settle() (see mem_bulk_defer()) */
    size_t n_deferred;
    int64_t fts_ent_from;  /* in bulk: entities with a larger id are not in the search
                              index yet (0: none pending) */
    int64_t fts_src_from;  /* the same for sources */
    bool fk_off;           /* SQLite's foreign-key checks are off for a bulk transaction:
                              the store checks references itself (mem_fk_*) */
    bool rollback_journal; /* a bulk transaction switched the file from WAL to a rollback
                              journal (mem_journal_bulk()); undone when it ends */
    uint64_t *ent_ok;      /* in bulk: bitmap of entity ids known to exist */
    size_t ent_ok_words;
    int busy_ms;           /* the busy timeout */
    char *emb_id;          /* recorded embedder, NULL when none */
    size_t emb_dim;        /* 0 when none */
    float *vec;            /* aligned copy of the vector handed to callbacks */
    size_t vec_cap;
};

/* ---- small helpers ------------------------------------------------------------------ */

static int64_t mem_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Map an SQLite result code to a status, with the path and SQLite's message in the
 * detail and the log. */
static enum status mem_sql_fail(const struct mem *m, int rc, const char *what)
{
    const char *msg = m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc);
    log_msg(LOG_LEVEL_WARN, "store: %s: %s: %s (%d)", m->path, what, msg, rc);
    enum status st;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        st = STATUS_DB_BUSY;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        st = STATUS_DB_CORRUPT;
        break;
    case SQLITE_NOMEM:
        st = STATUS_NOMEM;
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        st = STATUS_IO;
        break;
    default:
        st = STATUS_DB;
        break;
    }
    return status_detail_set(st, "%s: %s", m->path, msg);
}

/* prepare -> bind -> step -> reset: step once, reset on DONE or error. */
static int mem_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        sqlite3_reset(st);
    return rc;
}

static void mem_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void mem_bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    if (id > 0)
        sqlite3_bind_int64(st, i, id);
    else
        sqlite3_bind_null(st, i);
}

static const char *mem_col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* A name: non-NULL, non-empty, valid UTF-8. */
static enum status mem_check_name(const char *s, const char *what)
{
    if (!s || !s[0])
        /* TRANSLATORS: %s is "entity", "relation", ... */
        return status_detail_set(STATUS_INVALID, _("empty %s name"), _(what));
    if (!utf8_valid(s, strlen(s)))
        /* TRANSLATORS: %s is "entity", "relation", ... */
        return status_detail_set(STATUS_ENCODING, _("%s name is not valid UTF-8"), _(what));
    return STATUS_OK;
}

/* Free text: NULL allowed, else valid UTF-8. */
static enum status mem_check_text(const char *s, const char *what)
{
    if (s && !utf8_valid(s, strlen(s)))
        /* TRANSLATORS: %s names a field such as "source text" */
        return status_detail_set(STATUS_ENCODING, _("%s is not valid UTF-8"), _(what));
    return STATUS_OK;
}

/* Run one of the fixed statements that return no rows. */
static enum status mem_exec_stmt(struct mem *m, enum mem_stmt s)
{
    int rc = mem_step(m->stmt[s]);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, mem_stmt_sql[s]);
    return STATUS_OK;
}

/* ---- atomic operations: BEGIN IMMEDIATE, or a savepoint inside mem_begin() ---------- */

/* Forget the bulk state (the cached flags are valid only under the write lock; dropped
 * indexes and pending index rows came back with the rollback, or were settled before
 * the commit). */
static void mem_journal_restore(struct mem *m);

static void mem_bulk_reset(struct mem *m)
{
    mem_journal_restore(m);
    m->bulk = false;
    m->bulk_source = 0;
    free(m->bulk_sv);
    m->bulk_sv = NULL;
    m->bulk_sv_cap = 0;
    m->bulk_rows = 0;
    m->bulk_no_defer = false;
    for (size_t i = 0; i < m->n_deferred; i++)
        free(m->deferred[i]);
    free(m->deferred);
    m->deferred = NULL;
    m->n_deferred = 0;
    m->fts_ent_from = m->fts_src_from = 0;
    free(m->ent_ok);
    m->ent_ok = NULL;
    m->ent_ok_words = 0;
    if (m->fk_off && sqlite3_get_autocommit(m->db)) {
        if (sqlite3_exec(m->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) == SQLITE_OK)
            m->fk_off = false; /* else the store goes on checking (and retries) */
        else
            log_msg(LOG_LEVEL_ERROR, "store: %s: foreign_keys: %s", m->path,
                    sqlite3_errmsg(m->db));
    }
}

/* ---- references checked by the store while SQLite's foreign-key checks are off ----- *
 *
 * A bulk transaction runs with PRAGMA foreign_keys off (SQLite switches it only
 * between transactions): its checks looked up the subject, object, relation and source
 * of every triple, about a fifth of a large import's CPU time.  Instead every write that
 * SQLite would check is checked here, before it writes, with the same outcome:
 * entities, relations and sources are never deleted, so an id once seen to exist stays
 * valid for the transaction (entity ids in a bitmap, relations in the single_valued
 * cache, the last source id), and the one delete with foreign-key actions
 * (mem_run_delete) performs them itself. */

/* Row of a one-id existence query: STATUS_OK and *found. */
static enum status mem_fk_exists(struct mem *m, enum mem_stmt s, int64_t a, int64_t b,
                                 bool *found)
{
    sqlite3_stmt *q = m->stmt[s];
    sqlite3_bind_int64(q, 1, a);
    if (s == STMT_CALL_EXISTS)
        sqlite3_bind_int64(q, 2, b);
    int rc = mem_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, mem_stmt_sql[s]);
    *found = rc == SQLITE_ROW;
    return STATUS_OK;
}

/* Remember that entity id exists (no-op for ids beyond the bitmap's range). */
static void mem_fk_entity_seen(struct mem *m, int64_t id)
{
    if (!m->fk_off || id <= 0 || id >= ((int64_t)1 << 32))
        return;
    size_t w = (size_t)id / 64;
    if (w >= m->ent_ok_words) {
        size_t n = m->ent_ok_words ? m->ent_ok_words : 1024;
        while (n <= w)
            n *= 2;
        uint64_t *v = realloc(m->ent_ok, n * sizeof *v);
        if (!v)
            return; /* looked up again next time */
        memset(v + m->ent_ok_words, 0, (n - m->ent_ok_words) * sizeof *v);
        m->ent_ok = v;
        m->ent_ok_words = n;
    }
    m->ent_ok[w] |= UINT64_C(1) << (id % 64);
}

static enum status mem_fk_entity(struct mem *m, int64_t id, bool *found)
{
    if (id > 0 && (size_t)id / 64 < m->ent_ok_words &&
        (m->ent_ok[(size_t)id / 64] >> (id % 64) & 1)) {
        *found = true;
        return STATUS_OK;
    }
    sqlite3_stmt *q = m->stmt[STMT_ENT_NAME];
    sqlite3_bind_int64(q, 1, id);
    int rc = mem_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "entity");
    *found = rc == SQLITE_ROW;
    if (*found)
        mem_fk_entity_seen(m, id);
    return STATUS_OK;
}

static enum status mem_bulk_single_valued(struct mem *m, int64_t rel, int *sv);

/* What SQLite would check for a new triple (the source separately, by the callers):
 * STATUS_NOT_FOUND with the same detail as its foreign-key failure. */
static enum status mem_fk_triple(struct mem *m, int64_t subj, int64_t rel, int64_t obj)
{
    if (!m->fk_off)
        return STATUS_OK;
    bool s_ok = false, o_ok = false;
    int sv = -1;
    enum status st = mem_fk_entity(m, subj, &s_ok);
    if (st == STATUS_OK && s_ok)
        st = mem_fk_entity(m, obj, &o_ok);
    if (st == STATUS_OK && o_ok && m->bulk) {
        st = mem_bulk_single_valued(m, rel, &sv);
    } else if (st == STATUS_OK && o_ok) {
        sqlite3_stmt *q = m->stmt[STMT_REL_GET_SV];
        sqlite3_bind_int64(q, 1, rel);
        int rc = mem_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return mem_sql_fail(m, rc, "relation");
        sv = rc == SQLITE_ROW ? 0 : -1;
    }
    if (st != STATUS_OK)
        return st;
    if (!s_ok || !o_ok || sv < 0)
        return status_detail_set(STATUS_NOT_FOUND,
                                 _("entity or relation id does not exist (%lld, %lld, %lld)"),
                                 (long long)subj, (long long)rel, (long long)obj);
    return STATUS_OK;
}

/* The foreign-key checks could not be switched back on after a bulk transaction. */
static enum status mem_fk_stuck(const struct mem *m)
{
    return status_detail_set(STATUS_DB, _("%s: cannot switch foreign-key checks back on: %s"),
                             m->path, sqlite3_errmsg(m->db));
}

/* In a bulk transaction: SQLite may have ended it on its own (after an I/O error, say). */
static bool mem_bulk_on(struct mem *m)
{
    if (m->bulk && sqlite3_get_autocommit(m->db))
        mem_bulk_reset(m);
    return m->bulk;
}

static enum status mem_op_begin(struct mem *m)
{
    /* In bulk mode the caller undoes the whole transaction after any failure, so an
     * operation needs no savepoint of its own: each savepoint costs a sub-journal
     * and a walk over the dirty pages, most of a bulk import's time otherwise.  A
     * single statement stays atomic on its own (SQLite's statement journal). */
    if (mem_bulk_on(m))
        return STATUS_OK;
    if (m->fk_off && sqlite3_get_autocommit(m->db)) {
        mem_bulk_reset(m);
        if (m->fk_off)
            return mem_fk_stuck(m);
    }
    if (m->op_depth++ > 0)
        return STATUS_OK;
    m->op_savepoint = !sqlite3_get_autocommit(m->db);
    enum status st = mem_exec_stmt(m, m->op_savepoint ? STMT_SP : STMT_BEGIN);
    if (st != STATUS_OK)
        m->op_depth = 0;
    return st;
}

/* Finish the operation begun by mem_op_begin(): commit when st is OK, else undo.
 * Returns st, or the commit's failure. */
static enum status mem_op_end(struct mem *m, enum status st)
{
    if (m->op_depth == 0)
        return st; /* bulk mode: nothing was opened */
    if (--m->op_depth > 0)
        return st;
    if (m->op_savepoint) {
        if (sqlite3_get_autocommit(m->db))
            return st; /* SQLite already rolled the whole transaction back */
        if (st == STATUS_OK)
            return mem_exec_stmt(m, STMT_SP_RELEASE);
        mem_exec_stmt(m, STMT_SP_ROLLBACK);
        mem_exec_stmt(m, STMT_SP_RELEASE);
        return st;
    }
    if (sqlite3_get_autocommit(m->db))
        return st;
    if (st == STATUS_OK) {
        st = mem_exec_stmt(m, STMT_COMMIT);
        if (st == STATUS_OK)
            return STATUS_OK;
    }
    enum status saved = st;
    mem_exec_stmt(m, STMT_ROLLBACK);
    return saved;
}

static enum status mem_settle(struct mem *m);

enum status mem_begin(struct mem *m)
{
    if (!sqlite3_get_autocommit(m->db))
        return status_detail_set(STATUS_INVALID, _("a transaction is already open"));
    mem_bulk_reset(m);
    if (m->fk_off)
        return mem_fk_stuck(m);
    return mem_exec_stmt(m, STMT_BEGIN);
}

/* Page cache (KiB, as PRAGMA cache_size wants it negative): normally; while a bulk
 * transaction is open in WAL mode (the pages it writes stay in memory until the commit:
 * a page spilled to the WAL and written again is appended again); and while one is open
 * with a rollback journal (mem_journal_bulk()), where a page spilled early is written to
 * the database once, in its place: the smaller cache then costs fewer fresh pages of
 * memory (measured on a million triples: the import took 7.9-8.7 s instead of
 * 9.1-9.2 s with 256 MiB; 16 and 32 MiB were no faster). */
#define MEM_CACHE_KIB 32768
#define MEM_CACHE_BULK_KIB 262144
#define MEM_CACHE_BULK_ROLLBACK_KIB 65536

static void mem_cache_set(struct mem *m, int kib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib);
    if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        log_msg(LOG_LEVEL_WARN, "store: %s: cache_size: %s", m->path, sqlite3_errmsg(m->db));
}

/* Temporary storage in memory (queries' temporary b-trees) or, during a bulk
 * transaction, SQLite's default: with temp_store = MEMORY SQLite's sorter allocates
 * every record separately and never uses its record buffer, and the deferred indexes'
 * CREATE INDEX statements spend a third of their time in malloc and free (measured on
 * a million triples: 1.95 s instead of 3.1 s for the six indexes; a sort of that size
 * stays in memory either way, the page cache bounding it).  SQLite changes it only
 * outside a transaction (it closes the temporary database). */
static void mem_temp_set(struct mem *m, bool memory)
{
    if (sqlite3_exec(m->db, memory ? "PRAGMA temp_store = MEMORY" : "PRAGMA temp_store = DEFAULT",
                     NULL, NULL, NULL) != SQLITE_OK)
        log_msg(LOG_LEVEL_WARN, "store: %s: temp_store: %s", m->path, sqlite3_errmsg(m->db));
}

/* Run a journal_mode pragma: SQLITE_ROW with the mode it reports in out, or SQLite's
 * failure (the database busy, say) with its message in out. */
static int mem_journal_pragma(struct mem *m, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(m->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        snprintf(out, cap, "%s", mem_col_text(q, 0) ? mem_col_text(q, 0) : "?");
    else
        snprintf(out, cap, "%s", sqlite3_errmsg(m->db));
    sqlite3_finalize(q);
    return rc;
}

/* A bulk transaction on a file in WAL mode that no other connection has open runs with
 * a rollback journal instead.  In WAL mode every page a transaction writes is written
 * twice, to the WAL at the commit and to the database by the checkpoint after it; with
 * a rollback journal the pages an import adds past the end of the file are written
 * once and need no journal at all (only pages that existed before are saved to it).
 * Measured on a million triples: the commit took 0.15-0.8 s instead of 1.0-1.5 s.  The
 * price: while the import runs, other processes cannot open the database (mem_open()
 * waits for the busy timeout, then reports it locked).  A database another connection
 * has open stays in WAL mode, and its readers go on reading during the import.  A
 * crash leaves a hot journal that the next open rolls back, and mem_open() puts the
 * file back into WAL mode.  synchronous = FULL while the rollback journal is in use:
 * with NORMAL a power loss can corrupt a database in that mode on some file systems. */
static void mem_journal_bulk(struct mem *m)
{
    char mode[128];
    if (mem_journal_pragma(m, "PRAGMA journal_mode", mode, sizeof mode) != SQLITE_ROW ||
        strcmp(mode, "wal") != 0)
        return; /* in memory, or left as it was found */
    /* no waiting: a connection holding the file keeps it in WAL mode */
    sqlite3_busy_timeout(m->db, 0);
    bool ok = mem_journal_pragma(m, "PRAGMA journal_mode = DELETE", mode, sizeof mode) ==
                  SQLITE_ROW &&
              strcmp(mode, "delete") == 0;
    sqlite3_busy_timeout(m->db, m->busy_ms);
    if (!ok) {
        log_msg(LOG_LEVEL_DEBUG, "store: %s: bulk transaction in WAL mode (%s)", m->path, mode);
        return;
    }
    m->rollback_journal = true;
    if (sqlite3_exec(m->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
        log_msg(LOG_LEVEL_WARN, "store: %s: synchronous: %s", m->path, sqlite3_errmsg(m->db));
}

/* Back to WAL mode after a bulk transaction that left it (outside a transaction only:
 * SQLite changes the mode only then).  On failure the file stays in rollback-journal
 * mode, as safe, until the next mem_open() switches it back. */
static void mem_journal_restore(struct mem *m)
{
    if (!m->rollback_journal || !sqlite3_get_autocommit(m->db))
        return;
    m->rollback_journal = false;
    char mode[128];
    if (mem_journal_pragma(m, "PRAGMA journal_mode = WAL", mode, sizeof mode) != SQLITE_ROW ||
        strcmp(mode, "wal") != 0)
        log_msg(LOG_LEVEL_WARN, "store: %s: journal mode left as delete after a bulk "
                "transaction: %s", m->path, mode);
    if (sqlite3_exec(m->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        log_msg(LOG_LEVEL_WARN, "store: %s: synchronous: %s", m->path, sqlite3_errmsg(m->db));
}

enum status mem_begin_bulk(struct mem *m)
{
    if (!sqlite3_get_autocommit(m->db))
        return status_detail_set(STATUS_INVALID, _("a transaction is already open"));
    mem_bulk_reset(m);
    int rc = sqlite3_exec(m->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return mem_sql_fail(m, rc, "foreign_keys");
    m->fk_off = true;
    mem_temp_set(m, false);
    mem_journal_bulk(m);
    enum status st = mem_exec_stmt(m, STMT_BEGIN);
    if (st != STATUS_OK) {
        mem_temp_set(m, true);
        mem_bulk_reset(m); /* checks and WAL mode on again */
        return st;
    }
    m->bulk = true;
    mem_cache_set(m, m->rollback_journal ? MEM_CACHE_BULK_ROLLBACK_KIB : MEM_CACHE_BULK_KIB);
    return STATUS_OK;
}

/* After the transaction ended: back to the normal cache and temporary storage when it
 * was a bulk one. */
static void mem_bulk_done(struct mem *m)
{
    if (!sqlite3_get_autocommit(m->db))
        return;
    if (m->bulk) {
        mem_cache_set(m, MEM_CACHE_KIB);
        mem_temp_set(m, true);
    }
    mem_bulk_reset(m);
}

enum status mem_commit(struct mem *m)
{
    if (sqlite3_get_autocommit(m->db))
        return status_detail_set(STATUS_INVALID, _("no transaction is open"));
    /* On STATUS_DB_BUSY, or a failure of the index work a bulk transaction put off, the
     * transaction stays open: retry the commit or roll back. */
    enum status st = mem_settle(m);
    if (st != STATUS_OK)
        return st;
    st = mem_exec_stmt(m, STMT_COMMIT);
    mem_bulk_done(m);
    return st;
}

enum status mem_rollback(struct mem *m)
{
    if (sqlite3_get_autocommit(m->db)) {
        mem_bulk_done(m);
        return STATUS_OK;
    }
    enum status st = mem_exec_stmt(m, STMT_ROLLBACK);
    mem_bulk_done(m);
    return st;
}

bool mem_in_bulk(const struct mem *m)
{
    return m->bulk && !sqlite3_get_autocommit(m->db);
}

size_t mem_bulk_deferred(const struct mem *m)
{
    return mem_in_bulk(m) ? m->n_deferred : 0;
}

bool mem_in_transaction(const struct mem *m)
{
    return !sqlite3_get_autocommit(m->db);
}

/* ---- string pool for owned results -------------------------------------------------- */

struct mem_pool_node {
    struct mem_pool_node *next;
    max_align_t data[];
};
struct mem_pool {
    struct mem_pool_node *head;
    bool oom;
};

static void *mem_pool_alloc(struct mem_pool *p, size_t n)
{
    struct mem_pool_node *node = malloc(sizeof *node + n);
    if (!node) {
        p->oom = true;
        return NULL;
    }
    node->next = p->head;
    p->head = node;
    return node->data;
}

static const char *mem_pool_strdup(struct mem_pool *p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = mem_pool_alloc(p, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void mem_pool_free(struct mem_pool *p)
{
    if (!p)
        return;
    while (p->head) {
        struct mem_pool_node *next = p->head->next;
        free(p->head);
        p->head = next;
    }
    free(p);
}

/* ---- row readers -------------------------------------------------------------------- */

/* Columns c .. c+12 (TRIPLE_COLS) into t; strings borrowed from the statement. */
static void mem_row_triple(sqlite3_stmt *st, int c, struct mem_triple *t)
{
    t->id = sqlite3_column_int64(st, c);
    t->subj = sqlite3_column_int64(st, c + 1);
    t->rel = sqlite3_column_int64(st, c + 2);
    t->obj = sqlite3_column_int64(st, c + 3);
    t->subj_name = mem_col_text(st, c + 4);
    t->rel_name = mem_col_text(st, c + 5);
    t->obj_name = mem_col_text(st, c + 6);
    t->source_id = sqlite3_column_int64(st, c + 7);
    t->created_at = sqlite3_column_int64(st, c + 8);
    t->retired_at = sqlite3_column_int64(st, c + 9);
    t->retire_reason = mem_col_text(st, c + 10);
    t->replaced_by = sqlite3_column_int64(st, c + 11);
    t->conflict = sqlite3_column_int(st, c + 12) != 0;
}

static const char *const mem_source_kinds[] = {"sentence", "document", "user", "import"};

const char *mem_source_kind_name(enum mem_source_kind k)
{
    if ((unsigned)k < sizeof mem_source_kinds / sizeof mem_source_kinds[0])
        return mem_source_kinds[k];
    return "?";
}

static enum mem_source_kind mem_source_kind_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof mem_source_kinds / sizeof mem_source_kinds[0]; i++) {
        if (strcmp(s, mem_source_kinds[i]) == 0)
            return (enum mem_source_kind)i;
    }
    return MEM_SOURCE_KIND_IMPORT;
}

/* Columns c .. c+6 (SOURCE_COLS) into src; all zero when the join found nothing. */
static void mem_row_source(sqlite3_stmt *st, int c, struct mem_source *src)
{
    memset(src, 0, sizeof *src);
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return;
    src->id = sqlite3_column_int64(st, c);
    src->kind = mem_source_kind_parse(mem_col_text(st, c + 1));
    src->text = mem_col_text(st, c + 2);
    src->file = mem_col_text(st, c + 3);
    src->line = sqlite3_column_int64(st, c + 4);
    src->run_id = sqlite3_column_int64(st, c + 5);
    src->created_at = sqlite3_column_int64(st, c + 6);
}

static void mem_own_triple(struct mem_pool *p, struct mem_triple *t)
{
    t->subj_name = mem_pool_strdup(p, t->subj_name);
    t->rel_name = mem_pool_strdup(p, t->rel_name);
    t->obj_name = mem_pool_strdup(p, t->obj_name);
    t->retire_reason = mem_pool_strdup(p, t->retire_reason);
}

static void mem_own_source(struct mem_pool *p, struct mem_source *s)
{
    s->text = mem_pool_strdup(p, s->text);
    s->file = mem_pool_strdup(p, s->file);
}

/* Step a statement whose rows are triples at column 0 and hand them to cb. */
static enum status mem_each_triple(struct mem *m, sqlite3_stmt *st, mem_triple_cb cb, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct mem_triple t;
        mem_row_triple(st, 0, &t);
        if (cb(ctx, &t) != 0) {
            sqlite3_reset(st);
            return STATUS_OK;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "triples");
    return STATUS_OK;
}

/* ---- open and close ----------------------------------------------------------------- */

static enum status mem_pragma_int(struct mem *m, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    enum status res = rc == SQLITE_OK ? STATUS_OK : mem_sql_fail(m, rc, sql);
    sqlite3_finalize(st);
    return res;
}

static enum status mem_exec(struct mem *m, const char *sql)
{
    int rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STATUS_OK : mem_sql_fail(m, rc, "exec");
}

static enum status mem_not_memllm(const struct mem *m)
{
    return status_detail_set(STATUS_DB_CORRUPT, _("%s: not a memllm database"), m->path);
}

/* Refuse files that are not SQLite, not ours, or newer than this build; then apply the
 * pending migration steps, each in its own transaction. */
static enum status mem_migrate(struct mem *m)
{
    int64_t app = 0, version = 0, n_schema = 0;
    enum status st = mem_pragma_int(m, "SELECT count(*) FROM sqlite_schema", &n_schema);
    if (st == STATUS_OK)
        st = mem_pragma_int(m, "PRAGMA application_id", &app);
    if (st == STATUS_OK)
        st = mem_pragma_int(m, "PRAGMA user_version", &version);
    if (st == STATUS_DB_CORRUPT || st == STATUS_DB)
        return status_detail_set(STATUS_DB_CORRUPT, "%s: %s", m->path, sqlite3_errmsg(m->db));
    if (st != STATUS_OK)
        return st;
    if (app != MEM_APPLICATION_ID && (app != 0 || version != 0 || n_schema != 0))
        return mem_not_memllm(m);
    if (version > MEM_SCHEMA_VERSION)
        return status_detail_set(STATUS_DB_SCHEMA,
                                 _("%s: schema version %lld, this memllm reads up to %d"),
                                 m->path, (long long)version, MEM_SCHEMA_VERSION);

    /* A new database gets 8 KiB pages (SQLite's default is 4 KiB): shallower b-trees,
     * about 10% less CPU per imported triple.  Existing files keep theirs. */
    if (version == 0 && n_schema == 0) {
        st = mem_exec(m, "PRAGMA page_size = " MEM_PAGE_SIZE_NEW);
        if (st != STATUS_OK)
            return st;
    }
    while (version < MEM_SCHEMA_VERSION) {
        st = mem_exec(m, "BEGIN IMMEDIATE");
        if (st != STATUS_OK)
            return st;
        /* Another process may have migrated while we waited for the lock. */
        st = mem_pragma_int(m, "PRAGMA user_version", &version);
        if (st == STATUS_OK && version < MEM_SCHEMA_VERSION) {
            char pragma[64];
            st = mem_exec(m, mem_migrations[version]);
            if (st == STATUS_OK && version == 0) {
                snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", MEM_APPLICATION_ID);
                st = mem_exec(m, pragma);
            }
            if (st == STATUS_OK) {
                snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld",
                         (long long)version + 1);
                st = mem_exec(m, pragma);
            }
        }
        if (st == STATUS_OK)
            st = mem_exec(m, "COMMIT");
        if (st != STATUS_OK) {
            if (!sqlite3_get_autocommit(m->db))
                sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
            return st;
        }
        st = mem_pragma_int(m, "PRAGMA user_version", &version);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

static enum status mem_load_embedder(struct mem *m)
{
    char *id = NULL, *dim = NULL;
    enum status st = mem_meta_get(m, "embedder.id", &id);
    if (st == STATUS_OK)
        st = mem_meta_get(m, "embedder.dim", &dim);
    free(m->emb_id);
    m->emb_id = NULL;
    m->emb_dim = 0;
    if (st == STATUS_NOT_FOUND) {
        free(id);
        free(dim);
        status_detail_clear();
        return STATUS_OK;
    }
    if (st != STATUS_OK) {
        free(id);
        free(dim);
        return st;
    }
    char *end = NULL;
    unsigned long long d = strtoull(dim, &end, 10);
    if (!end || *end || d == 0 || d > INT_MAX / sizeof(float)) {
        free(id);
        free(dim);
        return status_detail_set(STATUS_DB_CORRUPT, _("%s: bad embedder dimension in meta"),
                                 m->path);
    }
    free(dim);
    m->emb_id = id;
    m->emb_dim = (size_t)d;
    return STATUS_OK;
}

/* ---- the trigram search index ------------------------------------------------------- */

/* Rows per step of an index build, and the size from which a build reports progress. */
#define MEM_FTS_CHUNK 20000
#define MEM_PROGRESS_MIN 50000

/* columnsize=0: no per-row size record (only ranking functions read it, and no query
 * here ranks): a fifth less work per indexed name (measured: 2.4 s instead of 3.0 s of
 * CPU for a million names).  Files indexed before keep their tables, which answer the
 * same queries; a rebuild of the index (a stale one) creates the new kind. */
#define MEM_FTS_OPTS "content='', detail=none, columnsize=0, tokenize='trigram'"

/* Whether this SQLite has FTS5 with the trigram tokenizer (3.34 or later, built with
 * FTS5): try to create a table in the connection's private temp schema. */
static bool mem_fts_available(struct mem *m)
{
    int rc = sqlite3_exec(m->db, "CREATE VIRTUAL TABLE temp.mem_fts_probe USING fts5(x, "
                                 MEM_FTS_OPTS ")", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_LEVEL_INFO, "store: %s: no FTS5 trigram tokenizer (%s): substring "
                "filters scan", m->path, sqlite3_errmsg(m->db));
        return false;
    }
    rc = sqlite3_exec(m->db, "DROP TABLE temp.mem_fts_probe", NULL, NULL, NULL);
    return rc == SQLITE_OK;
}

/* Index the rows of one table in id order, a chunk at a time.  *done counts rows over
 * the whole build (of total) for the progress callback. */
static enum status mem_fts_fill(struct mem *m, const char *insert_sql, const char *max_sql,
                                int64_t *done, int64_t total, const struct mem_open_opts *o)
{
    int64_t max_id = 0;
    enum status st = mem_pragma_int(m, max_sql, &max_id);
    sqlite3_stmt *q = NULL;
    if (st == STATUS_OK) {
        int rc = sqlite3_prepare_v2(m->db, insert_sql, -1, &q, NULL);
        if (rc != SQLITE_OK)
            st = mem_sql_fail(m, rc, "search index");
    }
    for (int64_t lo = 0; st == STATUS_OK && lo < max_id; lo += MEM_FTS_CHUNK) {
        sqlite3_bind_int64(q, 1, lo);
        sqlite3_bind_int64(q, 2, lo + MEM_FTS_CHUNK);
        int rc = mem_step(q);
        if (rc != SQLITE_DONE) {
            st = mem_sql_fail(m, rc, "search index");
            break;
        }
        *done += sqlite3_changes(m->db);
        if (o && o->progress && total >= MEM_PROGRESS_MIN)
            o->progress(o->progress_ctx, *done, total);
    }
    sqlite3_finalize(q);
    return st;
}

/* Create and fill the index tables in one transaction (replacing stale ones). */
static enum status mem_fts_build(struct mem *m, const struct mem_open_opts *o)
{
    enum status st = mem_exec(m, "BEGIN IMMEDIATE");
    if (st != STATUS_OK)
        return st;
    char *state = NULL;
    st = mem_meta_get(m, "search.trigram", &state);
    bool ready = st == STATUS_OK && strcmp(state, "ready") == 0;
    free(state);
    if (st == STATUS_NOT_FOUND) {
        status_detail_clear();
        st = STATUS_OK;
    }
    if (st == STATUS_OK && !ready) { /* else another process built it meanwhile */
        int64_t n_ent = 0, n_src = 0, done = 0;
        log_msg(LOG_LEVEL_INFO, "store: %s: building the trigram search index", m->path);
        st = mem_exec(m, "DROP TABLE IF EXISTS entities_fts; DROP TABLE IF EXISTS sources_fts;"
                         "CREATE VIRTUAL TABLE entities_fts USING fts5(name, " MEM_FTS_OPTS ");"
                         "CREATE VIRTUAL TABLE sources_fts USING fts5(text, file, "
                         MEM_FTS_OPTS ");");
        if (st == STATUS_OK)
            st = mem_pragma_int(m, "SELECT count(*) FROM entities", &n_ent);
        if (st == STATUS_OK)
            st = mem_pragma_int(m, "SELECT count(*) FROM sources", &n_src);
        if (st == STATUS_OK && o && o->progress && n_ent + n_src >= MEM_PROGRESS_MIN)
            o->progress(o->progress_ctx, 0, n_ent + n_src);
        if (st == STATUS_OK)
            st = mem_fts_fill(m, "INSERT INTO entities_fts(rowid, name) SELECT id, name"
                                 " FROM entities WHERE id > ?1 AND id <= ?2",
                              "SELECT coalesce(max(id), 0) FROM entities", &done,
                              n_ent + n_src, o);
        if (st == STATUS_OK)
            st = mem_fts_fill(m, "INSERT INTO sources_fts(rowid, text, file) SELECT id, text,"
                                 " file FROM sources WHERE id > ?1 AND id <= ?2",
                              "SELECT coalesce(max(id), 0) FROM sources", &done,
                              n_ent + n_src, o);
        if (st == STATUS_OK)
            st = mem_meta_set(m, "search.trigram", "ready");
    }
    if (st == STATUS_OK)
        st = mem_exec(m, "COMMIT");
    if (st != STATUS_OK && !sqlite3_get_autocommit(m->db))
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* After the migrations: use the index when SQLite can maintain it (building it when it
 * is not complete); else mark it stale, since this connection's writes will miss it. */
static enum status mem_search_prepare(struct mem *m, const struct mem_open_opts *o)
{
    bool can = !(o && o->no_search_index) && mem_fts_available(m);
    char *state = NULL;
    enum status st = mem_meta_get(m, "search.trigram", &state);
    bool ready = st == STATUS_OK && strcmp(state, "ready") == 0;
    free(state);
    if (st == STATUS_NOT_FOUND) {
        status_detail_clear();
        st = STATUS_OK;
    }
    if (st != STATUS_OK)
        return st;
    if (!can)
        return ready ? mem_meta_set(m, "search.trigram", "stale") : STATUS_OK;
    if (!ready) {
        st = mem_fts_build(m, o);
        if (st != STATUS_OK)
            return st;
    }
    static const char *const sql[] = {
        "INSERT INTO entities_fts(rowid, name) VALUES (?1, ?2)",
        "INSERT INTO sources_fts(rowid, text, file) VALUES (?1, ?2, ?3)",
        /* candidate counts, capped (see mem_triple_list) */
        "SELECT count(*) FROM (SELECT 1 FROM entities_fts WHERE entities_fts MATCH ?1"
        " LIMIT ?2)",
        "SELECT count(*) FROM (SELECT 1 FROM sources_fts WHERE sources_fts MATCH ?1"
        " LIMIT ?2)",
    };
    sqlite3_stmt **dst[] = {&m->fts_ent_add, &m->fts_src_add, &m->fts_count[0],
                            &m->fts_count[3]};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        int rc = sqlite3_prepare_v3(m->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, dst[i], NULL);
        if (rc != SQLITE_OK)
            return mem_sql_fail(m, rc, sql[i]);
    }
    m->fts = true;
    return STATUS_OK;
}

bool mem_search_indexed(const struct mem *m)
{
    return m->fts;
}

/* Index a new entity (b NULL) or source (text a, file b) when the index is kept. */
static enum status mem_fts_add(struct mem *m, bool source, int64_t id, const char *a,
                               const char *b)
{
    if (!m->fts)
        return STATUS_OK;
    if (mem_bulk_on(m)) {
        /* in bulk, rows are indexed in one statement at the commit (mem_settle()):
         * pending are all rows from *from on, so only a row with the largest id so
         * far may join them (SQLite gives new rows max(id) + 1 until that overflows) */
        int64_t *from = source ? &m->fts_src_from : &m->fts_ent_from;
        if (*from > 0 && id > *from)
            return STATUS_OK;
        if (*from == 0) {
            int64_t max_id = 0;
            enum status st = mem_pragma_int(m, source ? "SELECT max(id) FROM sources"
                                                      : "SELECT max(id) FROM entities",
                                            &max_id);
            if (st != STATUS_OK)
                return st;
            if (max_id == id) {
                *from = id;
                return STATUS_OK;
            }
        }
    }
    sqlite3_stmt *q = source ? m->fts_src_add : m->fts_ent_add;
    sqlite3_bind_int64(q, 1, id);
    mem_bind_text(q, 2, a);
    if (source)
        mem_bind_text(q, 3, b);
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? STATUS_OK : mem_sql_fail(m, rc, "search index");
}

/* ---- bulk imports: deferred index work --------------------------------------------- */

/* A bulk transaction that has added MEM_DEFER_MIN_ROWS triples, and at least
 * 1/MEM_DEFER_RATIO of the triples the table held before it, drops the triple table's
 * secondary indexes and creates them again before it commits (mem_settle()): SQLite
 * builds an index from sorted rows several times faster than it inserts the same rows
 * one by one at scattered places.  The unique index triples_live stays (it decides
 * "known" and conflicts), and so does triples_replaced_by (imports never fill it).
 * Both steps are part of the transaction: a rollback or a killed process leaves the
 * indexes as they were, and no commit ever lacks one. */
/* Measured on one core, an import of 100,000 triples into an empty file: 73k triples per
 * CPU-second never deferring, 71k deferring from 65,536 triples on, 82k from 16,384
 * on; 30,000 triples: the same either way. */
#define MEM_DEFER_MIN_ROWS 16384
#define MEM_DEFER_RATIO 4
#define MEM_DEFER_CHECK_EVERY 16384
static const char *const mem_deferrable[] = {
    "triples_subj", "triples_rel", "triples_obj", "triples_rel_obj", "triples_source",
};

/* Whether a statement is being stepped (an iteration whose callback writes): SQLite
 * cannot drop an index under it. */
static bool mem_stmt_active(struct mem *m)
{
    for (sqlite3_stmt *q = sqlite3_next_stmt(m->db, NULL); q; q = sqlite3_next_stmt(m->db, q))
        if (sqlite3_stmt_busy(q))
            return true;
    return false;
}

/* Drop the deferrable indexes, keeping their CREATE statements in m->deferred. */
static enum status mem_bulk_defer(struct mem *m)
{
    size_t n_names = sizeof mem_deferrable / sizeof mem_deferrable[0];
    char **sql = calloc(n_names, sizeof *sql);
    char **name = calloc(n_names, sizeof *name);
    sqlite3_stmt *q = NULL;
    size_t n = 0;
    enum status st = STATUS_NOMEM;
    if (!sql || !name)
        goto done;
    int rc = sqlite3_prepare_v2(m->db, "SELECT name, sql FROM sqlite_schema WHERE type = 'index'"
                                       " AND tbl_name = 'triples' AND sql IS NOT NULL", -1, &q,
                                NULL);
    st = STATUS_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(q)) {
        const char *nm = mem_col_text(q, 0), *def = mem_col_text(q, 1);
        bool want = false;
        for (size_t i = 0; i < n_names && nm && def; i++)
            want |= strcmp(nm, mem_deferrable[i]) == 0;
        if (!want || n == n_names)
            continue;
        name[n] = strdup(nm);
        sql[n] = strdup(def);
        n++;
        if (!name[n - 1] || !sql[n - 1]) {
            st = STATUS_NOMEM;
            break;
        }
    }
    if (st == STATUS_OK && rc != SQLITE_DONE)
        st = mem_sql_fail(m, rc, "schema");
    sqlite3_finalize(q);
    q = NULL;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        char drop[128];
        snprintf(drop, sizeof drop, "DROP INDEX \"%s\"", name[i]);
        st = mem_exec(m, drop);
        if (st == STATUS_OK) {
            /* from now on mem_settle() owes this index */
            m->deferred[m->n_deferred++] = sql[i];
            sql[i] = NULL;
        }
    }
    if (st == STATUS_OK)
        log_msg(LOG_LEVEL_DEBUG, "store: %s: bulk import of %lld triples: %zu indexes deferred "
                "to the commit", m->path, (long long)m->bulk_rows, n);
done:
    for (size_t i = 0; i < n; i++) {
        free(sql[i]);
        free(name[i]);
    }
    free(sql);
    free(name);
    return st;
}

/* In bulk: count an inserted triple; defer the indexes when the import got large. */
static enum status mem_bulk_count_row(struct mem *m)
{
    ++m->bulk_rows;
    if (m->bulk_rows < m->defer_min || m->bulk_no_defer || m->deferred ||
        (m->bulk_rows != m->defer_min && m->bulk_rows % MEM_DEFER_CHECK_EVERY != 0))
        return STATUS_OK;
    int64_t max_id = 0;
    enum status st = mem_pragma_int(m, "SELECT coalesce(max(id), 0) FROM triples", &max_id);
    if (st != STATUS_OK)
        return st;
    int64_t before = max_id - m->bulk_rows; /* ids are never reused: about the old count */
    if (m->bulk_rows * MEM_DEFER_RATIO < before || mem_stmt_active(m))
        return STATUS_OK; /* maybe later, when the import has grown */
    size_t n_names = sizeof mem_deferrable / sizeof mem_deferrable[0];
    m->deferred = calloc(n_names, sizeof *m->deferred);
    if (!m->deferred) {
        m->bulk_no_defer = true; /* not worth failing the import for */
        return STATUS_OK;
    }
    return mem_bulk_defer(m);
}

/* FTS5 writes the rows pending in a transaction to a new segment of the index whenever
 * they exceed its hash size (1 MiB by default, SQLite's FTS5_DEFAULT_HASHSIZE), merging
 * segments as they pile up.  A catch-up of many rows runs with a larger one, so that the
 * names of a large import are written as fewer segments, merged less often, and sets
 * the default back after (a setting of the table, kept in its _config table).  Measured
 * on a million names: 3.0 s with the default, 2.6 s with 64 MiB, 2.1 s with 8 MiB (a
 * hash that big still fits the caches better; 2 and 16 MiB took 2.2-2.3 s). */
#define MEM_FTS_HASH_DEFAULT 1048576
#define MEM_FTS_HASH_BULK 8388608

static void mem_fts_hash_set(struct mem *m, bool source, int bytes)
{
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s(%s, rank) VALUES ('hashsize', %d)",
             source ? "sources_fts" : "entities_fts", source ? "sources_fts" : "entities_fts",
             bytes);
    /* only speed is at stake: an SQLite without the setting indexes the same rows */
    if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        log_msg(LOG_LEVEL_DEBUG, "store: %s: %s: %s", m->path, sql, sqlite3_errmsg(m->db));
}

/* Index the rows of one table from id from on in the search index. */
static enum status mem_fts_catch_up(struct mem *m, bool source, int64_t from)
{
    const char *sql = source ? "INSERT INTO sources_fts(rowid, text, file) SELECT id, text, file"
                               " FROM sources WHERE id >= ?1"
                             : "INSERT INTO entities_fts(rowid, name) SELECT id, name"
                               " FROM entities WHERE id >= ?1";
    mem_fts_hash_set(m, source, MEM_FTS_HASH_BULK);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(m->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, from);
        rc = mem_step(q);
    }
    sqlite3_finalize(q);
    mem_fts_hash_set(m, source, MEM_FTS_HASH_DEFAULT);
    return rc == SQLITE_DONE ? STATUS_OK : mem_sql_fail(m, rc, "search index");
}

/* Do the index work a bulk transaction put off: before its commit, and before a read
 * that needs the indexes.  A failure leaves the rest owed (the caller rolls back). */
static enum status mem_settle(struct mem *m)
{
    enum status st = STATUS_OK;
    if (m->fts_ent_from > 0) {
        st = mem_fts_catch_up(m, false, m->fts_ent_from);
        if (st == STATUS_OK)
            m->fts_ent_from = 0;
    }
    if (st == STATUS_OK && m->fts_src_from > 0) {
        st = mem_fts_catch_up(m, true, m->fts_src_from);
        if (st == STATUS_OK)
            m->fts_src_from = 0;
    }
    while (st == STATUS_OK && m->n_deferred > 0) {
        st = mem_exec(m, m->deferred[m->n_deferred - 1]);
        if (st == STATUS_OK)
            free(m->deferred[--m->n_deferred]);
    }
    return st;
}

/* Put the file into WAL mode.  That takes an exclusive lock, which SQLite does not wait
 * for (it skips the busy handler where waiting could deadlock): a file that a bulk
 * import running elsewhere has switched to a rollback journal (mem_journal_bulk()) is
 * retried here until the busy timeout (counting any wait of the busy handler), then
 * reported busy. */
#define MEM_WAL_RETRY_MS 20

static enum status mem_wal_on(struct mem *m)
{
    uint64_t start = timing_now_ns();
    for (;;) {
        char mode[128];
        int rc = mem_journal_pragma(m, "PRAGMA journal_mode = WAL", mode, sizeof mode);
        if (rc == SQLITE_ROW) {
            if (strcmp(mode, "wal") != 0)
                log_msg(LOG_LEVEL_WARN, "store: %s: journal mode is %s, not wal", m->path, mode);
            return STATUS_OK;
        }
        if ((rc & 0xff) != SQLITE_BUSY || timing_since_s(start) * 1000.0 >= m->busy_ms)
            return mem_sql_fail(m, rc, "journal_mode");
        sqlite3_sleep(MEM_WAL_RETRY_MS);
    }
}

/* Process-wide SQLite settings, before SQLite initializes itself (when some other code
 * has initialized it already, sqlite3_config() refuses and the defaults stay): no
 * allocation statistics, whose global mutex every allocation takes (several percent
 * of a bulk import's CPU time).  Nothing in memllm reads those statistics. */
static pthread_once_t mem_config_once = PTHREAD_ONCE_INIT;

static void mem_config_sqlite(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_msg(LOG_LEVEL_DEBUG, "store: SQLite initialized before the first open: "
                "allocation statistics stay on");
}

enum status mem_open(const char *path, struct mem **out)
{
    return mem_open_with(path, NULL, out);
}

enum status mem_open_with(const char *path, const struct mem_open_opts *o, struct mem **out)
{
    if (!path || !path[0])
        return status_detail_set(STATUS_INVALID, _("no database path given"));
    pthread_once(&mem_config_once, mem_config_sqlite);
    struct mem *m = calloc(1, sizeof *m);
    if (!m)
        return STATUS_NOMEM;
    enum status st = STATUS_NOMEM;
    m->path = strdup(path);
    if (!m->path)
        goto fail;
    bool in_memory = strcmp(path, ":memory:") == 0;
    if (!in_memory && strncmp(path, "file:", 5) != 0) {
        st = xdg_mkdirs_for(path);
        if (st != STATUS_OK)
            goto fail;
    }
    /* NOMUTEX: a struct mem is used by one thread at a time, so SQLite's per-call
     * connection mutex (about 5% of a bulk import) buys nothing. */
    int rc = sqlite3_open_v2(path, &m->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        st = mem_sql_fail(m, rc, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(m->db, 1);
    mem_set_busy_timeout(m, !o || o->busy_timeout_ms == 0 ? MEM_BUSY_TIMEOUT_DEFAULT_MS
                                                           : o->busy_timeout_ms);

    st = mem_migrate(m);
    if (st != STATUS_OK)
        goto fail;
    if (!in_memory) {
        /* WAL: readers never block the writer; a crash never loses a commit that
         * returned (synchronous=NORMAL may lose the last ones on power loss, never
         * corrupts). */
        st = mem_wal_on(m);
        if (st == STATUS_OK)
            st = mem_exec(m, "PRAGMA synchronous = NORMAL");
        if (st != STATUS_OK)
            goto fail;
    }
    /* 32 MiB of page cache (256 MiB during a bulk transaction): the indexes of a
     * million triples stay in memory. */
    st = mem_exec(m, "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY");
    if (st != STATUS_OK)
        goto fail;
    mem_cache_set(m, MEM_CACHE_KIB);
    for (int i = 0; i < STMT_COUNT_; i++) {
        rc = sqlite3_prepare_v3(m->db, mem_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &m->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            st = mem_sql_fail(m, rc, mem_stmt_sql[i]);
            goto fail;
        }
    }
    m->walk_ticks = o && o->walk_budget > 0 ? o->walk_budget : MEM_PROBE_TICKS;
    m->defer_min = !o || o->defer_min_rows == 0 ? MEM_DEFER_MIN_ROWS
                   : o->defer_min_rows < 0      ? INT64_MAX
                                                : o->defer_min_rows;
    st = mem_load_embedder(m);
    if (st == STATUS_OK)
        st = mem_search_prepare(m, o);
    if (st != STATUS_OK)
        goto fail;
    *out = m;
    return STATUS_OK;
fail:
    mem_close(m);
    return st;
}

void mem_close(struct mem *m)
{
    if (!m)
        return;
    for (int i = 0; i < STMT_COUNT_; i++)
        sqlite3_finalize(m->stmt[i]);
    for (size_t i = 0; i < m->n_shapes; i++)
        sqlite3_finalize(m->shapes[i].st);
    free(m->shapes);
    sqlite3_finalize(m->fts_ent_add);
    sqlite3_finalize(m->fts_src_add);
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(m->fts_count[i]);
    free(m->key_buf);
    if (m->db && !sqlite3_get_autocommit(m->db))
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    if (m->db && sqlite3_close(m->db) != SQLITE_OK)
        log_msg(LOG_LEVEL_ERROR, "store: %s: close: %s", m->path, sqlite3_errmsg(m->db));
    free(m->path);
    free(m->emb_id);
    free(m->vec);
    free(m->bulk_sv);
    free(m);
}

void mem_set_busy_timeout(struct mem *m, int ms)
{
    m->busy_ms = ms < 0 ? 0 : ms;
    sqlite3_busy_timeout(m->db, m->busy_ms);
}

const char *mem_path(const struct mem *m)
{
    return m->path;
}

enum status mem_check(struct mem *m)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    sqlite3_stmt *st = m->stmt[STMT_QUICK_CHECK];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STATUS_OK : mem_sql_fail(m, rc, "quick_check");
    }
    const char *res = mem_col_text(st, 0);
    if (!res || strcmp(res, "ok") != 0) {
        enum status e = status_detail_set(STATUS_DB_CORRUPT, "%s: %s", m->path, res ? res : "?");
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    st = m->stmt[STMT_FK_CHECK];
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        enum status e = status_detail_set(
            STATUS_DB_CORRUPT, _("%s: row %lld of table %s refers to a missing row of %s"),
            m->path, (long long)sqlite3_column_int64(st, 1), mem_col_text(st, 0),
            mem_col_text(st, 2));
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STATUS_OK : mem_sql_fail(m, rc, "foreign_key_check");
}

/* ---- meta and embedder -------------------------------------------------------------- */

enum status mem_meta_get(struct mem *m, const char *key, char **value)
{
    sqlite3_stmt *st = m->stmt[STMT_META_GET];
    mem_bind_text(st, 1, key);
    int rc = mem_step(st);
    if (rc == SQLITE_DONE)
        return status_detail_set(STATUS_NOT_FOUND, _("no meta key '%s'"), key);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "meta");
    const char *v = mem_col_text(st, 0);
    char *copy = strdup(v ? v : "");
    sqlite3_reset(st);
    if (!copy)
        return STATUS_NOMEM;
    *value = copy;
    return STATUS_OK;
}

enum status mem_meta_set(struct mem *m, const char *key, const char *value)
{
    enum status st = mem_check_name(key, N_("meta"));
    if (st == STATUS_OK)
        st = mem_check_text(value, N_("meta value"));
    if (st != STATUS_OK)
        return st;
    if (!value)
        return status_detail_set(STATUS_INVALID, _("meta value is missing"));
    sqlite3_stmt *s = m->stmt[STMT_META_SET];
    mem_bind_text(s, 1, key);
    mem_bind_text(s, 2, value);
    return mem_exec_stmt(m, STMT_META_SET);
}

void mem_embedder_get(const struct mem *m, const char **id, size_t *dim)
{
    *id = m->emb_id;
    *dim = m->emb_dim;
}

enum status mem_embedder_set(struct mem *m, const char *id, size_t dim)
{
    enum status st = mem_check_name(id, N_("embedder"));
    if (st != STATUS_OK)
        return st;
    if (dim == 0 || dim > INT_MAX / sizeof(float))
        return status_detail_set(STATUS_OVERFLOW, _("embedding dimension %zu out of range"), dim);
    if (m->emb_id && strcmp(m->emb_id, id) == 0 && m->emb_dim == dim)
        return STATUS_OK;
    char dimbuf[32];
    snprintf(dimbuf, sizeof dimbuf, "%zu", dim);
    st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = mem_meta_set(m, "embedder.id", id);
    if (st == STATUS_OK)
        st = mem_meta_set(m, "embedder.dim", dimbuf);
    if (st == STATUS_OK)
        st = mem_exec_stmt(m, STMT_ENT_CLEAR_EMB);
    if (st == STATUS_OK)
        st = mem_exec_stmt(m, STMT_REL_CLEAR_EMB);
    st = mem_op_end(m, st);
    if (st != STATUS_OK) {
        /* re-read what is recorded; that may clear or replace the detail: keep ours */
        char why[512];
        snprintf(why, sizeof why, "%s", status_detail());
        mem_load_embedder(m);
        return status_detail_set(st, "%s", why);
    }
    return mem_load_embedder(m);
}

enum status mem_embedder_check(struct mem *m, const char *id, size_t dim)
{
    if (!m->emb_id)
        return mem_embedder_set(m, id, dim);
    if (id && strcmp(m->emb_id, id) == 0 && m->emb_dim == dim)
        return STATUS_OK;
    return status_detail_set(STATUS_EMBEDDER_MISMATCH,
                             _("%s was built with embedder '%s' (dimension %zu); "
                               "this one is '%s' (dimension %zu)"),
                             m->path, m->emb_id, m->emb_dim, id ? id : "?", dim);
}

/* A vector argument agrees with the recorded embedder. */
static enum status mem_check_vec(const struct mem *m, const float *emb, size_t dim)
{
    if (!emb)
        return STATUS_OK;
    if (m->emb_dim == 0)
        return status_detail_set(STATUS_INVALID,
                                 _("no embedder is recorded in the database; cannot store "
                                   "a vector"));
    if (dim != m->emb_dim)
        return status_detail_set(STATUS_INVALID,
                                 _("vector has dimension %zu, the database uses %zu"), dim,
                                 m->emb_dim);
    return STATUS_OK;
}

static void mem_bind_vec(sqlite3_stmt *st, int i, const float *emb, size_t dim)
{
    if (emb)
        sqlite3_bind_blob(st, i, emb, (int)(dim * sizeof(float)), SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* ---- entities and relations --------------------------------------------------------- */

static enum status mem_find_id(struct mem *m, enum mem_stmt s, const char *name, const char *what,
                               int64_t *id)
{
    enum status st = mem_check_name(name, what);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[s];
    mem_bind_text(q, 1, name);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE)
        /* TRANSLATORS: first %s is "entity" or "relation", second its name */
        return status_detail_set(STATUS_NOT_FOUND, _("no %s named '%s'"), _(what), name);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, what);
    *id = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return STATUS_OK;
}

enum status mem_entity_find(struct mem *m, const char *name, int64_t *id)
{
    return mem_find_id(m, STMT_ENT_FIND, name, N_("entity"), id);
}

enum status mem_relation_find(struct mem *m, const char *name, int64_t *id)
{
    return mem_find_id(m, STMT_REL_FIND, name, N_("relation"), id);
}

/* Get-or-create in a bulk transaction: the write lock is held, so one INSERT that
 * skips an existing name does both jobs (one search of the name index, not three). */
static enum status mem_ensure_bulk(struct mem *m, enum mem_stmt find, enum mem_stmt insert_new,
                                   const char *what, const char *name, const float *emb,
                                   size_t dim, int64_t *id, bool *created)
{
    enum status st = mem_check_name(name, what);
    if (st == STATUS_OK)
        st = mem_check_vec(m, emb, dim);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[insert_new];
    mem_bind_text(q, 1, name);
    mem_bind_vec(q, 2, emb, dim);
    sqlite3_bind_int64(q, 3, mem_now_ms());
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, what);
    if (sqlite3_changes(m->db) == 0) {
        int64_t found = 0;
        st = mem_find_id(m, find, name, what, &found);
        if (st != STATUS_OK)
            return st;
        if (insert_new == STMT_ENT_INSERT_NEW)
            mem_fk_entity_seen(m, found);
        *id = found;
        if (created)
            *created = false;
        return STATUS_OK;
    }
    int64_t new_id = sqlite3_last_insert_rowid(m->db);
    if (insert_new == STMT_ENT_INSERT_NEW) {
        mem_fk_entity_seen(m, new_id);
        st = mem_fts_add(m, false, new_id, name, NULL);
        if (st != STATUS_OK)
            return st;
    }
    *id = new_id;
    if (created)
        *created = true;
    return STATUS_OK;
}

static enum status mem_ensure(struct mem *m, enum mem_stmt find, enum mem_stmt insert,
                              const char *what, const char *name, const float *emb, size_t dim,
                              int64_t *id, bool *created)
{
    if (mem_bulk_on(m))
        return mem_ensure_bulk(m, find, insert == STMT_ENT_INSERT ? STMT_ENT_INSERT_NEW
                                                                  : STMT_REL_INSERT_NEW,
                               what, name, emb, dim, id, created);
    int64_t found = 0;
    enum status st = mem_find_id(m, find, name, what, &found);
    if (st == STATUS_OK) {
        *id = found;
        if (created)
            *created = false;
        return STATUS_OK;
    }
    if (st != STATUS_NOT_FOUND)
        return st;
    status_detail_clear();
    st = mem_check_vec(m, emb, dim);
    if (st != STATUS_OK)
        return st;
    /* Look again under the write lock: another process may have inserted the name
     * since. */
    st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = mem_find_id(m, find, name, what, &found);
    if (st != STATUS_NOT_FOUND) {
        st = mem_op_end(m, st);
        if (st != STATUS_OK)
            return st;
        *id = found;
        if (created)
            *created = false;
        return STATUS_OK;
    }
    status_detail_clear();
    sqlite3_stmt *q = m->stmt[insert];
    mem_bind_text(q, 1, name);
    mem_bind_vec(q, 2, emb, dim);
    sqlite3_bind_int64(q, 3, mem_now_ms());
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    int64_t new_id = sqlite3_last_insert_rowid(m->db);
    st = rc == SQLITE_DONE ? STATUS_OK : mem_sql_fail(m, rc, what);
    if (st == STATUS_OK && insert == STMT_ENT_INSERT)
        st = mem_fts_add(m, false, new_id, name, NULL);
    st = mem_op_end(m, st);
    if (st != STATUS_OK)
        return st;
    *id = new_id;
    if (created)
        *created = true;
    return STATUS_OK;
}

enum status mem_entity_ensure(struct mem *m, const char *name, const float *emb, size_t dim,
                              int64_t *id, bool *created)
{
    return mem_ensure(m, STMT_ENT_FIND, STMT_ENT_INSERT, N_("entity"), name, emb, dim, id, created);
}

enum status mem_relation_ensure(struct mem *m, const char *name, const float *emb, size_t dim,
                                int64_t *id, bool *created)
{
    return mem_ensure(m, STMT_REL_FIND, STMT_REL_INSERT, N_("relation"), name, emb, dim, id, created);
}

static enum status mem_name_of(struct mem *m, enum mem_stmt s, const char *what, int64_t id,
                               char **name)
{
    sqlite3_stmt *q = m->stmt[s];
    sqlite3_bind_int64(q, 1, id);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE)
        /* TRANSLATORS: %s is "entity" or "relation" */
        return status_detail_set(STATUS_NOT_FOUND, _("no %s with id %lld"), _(what),
                                 (long long)id);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, what);
    char *copy = strdup(mem_col_text(q, 0));
    sqlite3_reset(q);
    if (!copy)
        return STATUS_NOMEM;
    *name = copy;
    return STATUS_OK;
}

enum status mem_entity_name(struct mem *m, int64_t id, char **name)
{
    return mem_name_of(m, STMT_ENT_NAME, N_("entity"), id, name);
}

enum status mem_relation_name(struct mem *m, int64_t id, char **name)
{
    return mem_name_of(m, STMT_REL_NAME, N_("relation"), id, name);
}

/* Run an UPDATE ... WHERE id = ?1 and report NOT_FOUND when it touched no row. */
static enum status mem_update_one(struct mem *m, enum mem_stmt s, const char *what, int64_t id)
{
    enum status st = mem_exec_stmt(m, s);
    sqlite3_clear_bindings(m->stmt[s]);
    if (st != STATUS_OK)
        return st;
    if (sqlite3_changes(m->db) == 0)
        return status_detail_set(STATUS_NOT_FOUND, _("no %s with id %lld"), _(what),
                                 (long long)id);
    return STATUS_OK;
}

enum status mem_relation_set_single_valued(struct mem *m, int64_t id, bool single_valued)
{
    if (m->bulk_sv && id > 0 && (size_t)id < m->bulk_sv_cap)
        m->bulk_sv[id] = -1;
    sqlite3_stmt *q = m->stmt[STMT_REL_SET_SV];
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int(q, 2, single_valued ? 1 : 0);
    return mem_update_one(m, STMT_REL_SET_SV, N_("relation"), id);
}

enum status mem_relation_single_valued(struct mem *m, int64_t id, bool *single_valued)
{
    sqlite3_stmt *q = m->stmt[STMT_REL_GET_SV];
    sqlite3_bind_int64(q, 1, id);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE)
        return status_detail_set(STATUS_NOT_FOUND, _("no %s with id %lld"), _("relation"),
                                 (long long)id);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "relation");
    *single_valued = sqlite3_column_int(q, 0) != 0;
    sqlite3_reset(q);
    return STATUS_OK;
}

enum status mem_relation_set_wikidata_id(struct mem *m, int64_t id, const char *wikidata_id)
{
    enum status st = mem_check_text(wikidata_id, N_("Wikidata id"));
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_REL_SET_WD];
    sqlite3_bind_int64(q, 1, id);
    mem_bind_text(q, 2, wikidata_id && wikidata_id[0] ? wikidata_id : NULL);
    return mem_update_one(m, STMT_REL_SET_WD, N_("relation"), id);
}

enum status mem_entity_set_emb(struct mem *m, int64_t id, const float *emb, size_t dim)
{
    enum status st = mem_check_vec(m, emb, dim);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_ENT_SET_EMB];
    sqlite3_bind_int64(q, 1, id);
    mem_bind_vec(q, 2, emb, dim);
    return mem_update_one(m, STMT_ENT_SET_EMB, N_("entity"), id);
}

enum status mem_relation_set_emb(struct mem *m, int64_t id, const float *emb, size_t dim)
{
    enum status st = mem_check_vec(m, emb, dim);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_REL_SET_EMB];
    sqlite3_bind_int64(q, 1, id);
    mem_bind_vec(q, 2, emb, dim);
    return mem_update_one(m, STMT_REL_SET_EMB, N_("relation"), id);
}

/* Iterate (id, name, emb[, single_valued]) rows; vectors copied to aligned scratch. */
static enum status mem_each_named(struct mem *m, sqlite3_stmt *q, bool has_sv, mem_named_cb cb,
                                  void *ctx)
{
    int rc;
    enum status st = STATUS_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct mem_named row = {0};
        row.id = sqlite3_column_int64(q, 0);
        row.name = mem_col_text(q, 1);
        if (has_sv)
            row.single_valued = sqlite3_column_int(q, 3) != 0;
        const void *blob = sqlite3_column_blob(q, 2);
        size_t bytes = (size_t)sqlite3_column_bytes(q, 2);
        if (blob && bytes > 0) {
            if (bytes % sizeof(float) != 0 || bytes / sizeof(float) != m->emb_dim) {
                st = status_detail_set(STATUS_DB_CORRUPT,
                                       _("%s: row %lld has a vector of %zu bytes, expected %zu"),
                                       m->path, (long long)row.id, bytes,
                                       m->emb_dim * sizeof(float));
                break;
            }
            size_t dim = bytes / sizeof(float);
            if (dim > m->vec_cap) {
                float *v = realloc(m->vec, dim * sizeof(float));
                if (!v) {
                    st = STATUS_NOMEM;
                    break;
                }
                m->vec = v;
                m->vec_cap = dim;
            }
            memcpy(m->vec, blob, bytes);
            row.emb = m->vec;
            row.dim = dim;
        }
        if (cb(ctx, &row) != 0)
            break;
    }
    sqlite3_reset(q);
    if (st == STATUS_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = mem_sql_fail(m, rc, "embeddings");
    return st;
}

enum status mem_entity_each(struct mem *m, bool missing_only, mem_named_cb cb, void *ctx)
{
    return mem_each_named(m, m->stmt[missing_only ? STMT_ENT_EACH_MISSING : STMT_ENT_EACH], false,
                          cb, ctx);
}

enum status mem_relation_each(struct mem *m, bool missing_only, mem_named_cb cb, void *ctx)
{
    return mem_each_named(m, m->stmt[missing_only ? STMT_REL_EACH_MISSING : STMT_REL_EACH], true,
                          cb, ctx);
}

enum status mem_entity_prefix(struct mem *m, const char *prefix, const char *after,
                              size_t limit, mem_named_cb cb, void *ctx)
{
    enum status st = mem_check_text(prefix, N_("prefix"));
    if (st == STATUS_OK)
        st = mem_check_text(after, N_("name"));
    if (st != STATUS_OK)
        return st;
    if (!prefix)
        prefix = "";
    /* Every valid UTF-8 string starting with prefix sorts (bytewise) before prefix
     * followed by 0xF5, a byte no UTF-8 string contains. */
    size_t n = strlen(prefix);
    char *upper = malloc(n + 2);
    if (!upper)
        return STATUS_NOMEM;
    memcpy(upper, prefix, n);
    upper[n] = (char)0xF5;
    upper[n + 1] = '\0';
    sqlite3_stmt *q = m->stmt[STMT_ENT_PREFIX];
    mem_bind_text(q, 1, prefix);
    mem_bind_text(q, 2, upper);
    mem_bind_text(q, 3, after ? after : "");
    sqlite3_bind_int64(q, 4, limit ? (sqlite3_int64)limit : -1);
    st = mem_each_named(m, q, false, cb, ctx);
    sqlite3_clear_bindings(q);
    free(upper);
    return st;
}

/* ---- relations.tsv ------------------------------------------------------------------ */

const char *mem_relations_default_path(void)
{
    const char *env = getenv("MEMLLM_RELATIONS");
    if (env && env[0])
        return env;
    return PKGDATADIR "/relations.tsv";
}

struct mem_rel_load {
    struct mem *m;
    enum status st;
    size_t n;
};

static int mem_rel_load_row(void *ctx, const struct relations_row *row)
{
    struct mem_rel_load *l = ctx;
    int64_t id = 0;
    l->st = mem_relation_ensure(l->m, row->name, NULL, 0, &id, NULL);
    if (l->st == STATUS_OK)
        l->st = mem_relation_set_single_valued(l->m, id, row->single_valued);
    if (l->st == STATUS_OK)
        l->st = mem_relation_set_wikidata_id(l->m, id, row->wikidata_id);
    if (l->st != STATUS_OK)
        return 1;
    l->n++;
    return 0;
}

enum status mem_relations_load_buffer(struct mem *m, const char *buf, size_t len,
                                      const char *name, size_t *n)
{
    struct mem_rel_load l = {m, STATUS_OK, 0};
    enum status st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = relations_parse(buf, len, name, mem_rel_load_row, &l);
    if (st == STATUS_CANCELLED)
        st = l.st;
    st = mem_op_end(m, st);
    if (st == STATUS_OK && n)
        *n = l.n;
    return st;
}

enum status mem_relations_load(struct mem *m, const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc(MEM_RELATIONS_FILE_MAX);
    if (!buf) {
        fclose(f);
        return STATUS_NOMEM;
    }
    size_t len = fread(buf, 1, MEM_RELATIONS_FILE_MAX, f);
    enum status st = STATUS_OK;
    if (ferror(f))
        st = status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
    else if (len == MEM_RELATIONS_FILE_MAX)
        st = status_detail_set(STATUS_OVERFLOW, _("%s: file too large"), path);
    fclose(f);
    if (st == STATUS_OK)
        st = mem_relations_load_buffer(m, buf, len, path, n);
    free(buf);
    return st;
}

/* ---- sources ------------------------------------------------------------------------ */

enum status mem_source_add(struct mem *m, const struct mem_source *src, int64_t *id)
{
    if ((unsigned)src->kind >= sizeof mem_source_kinds / sizeof mem_source_kinds[0])
        return status_detail_set(STATUS_INVALID, _("unknown source kind %d"), (int)src->kind);
    enum status st = mem_check_text(src->text, N_("source text"));
    if (st == STATUS_OK)
        st = mem_check_text(src->file, N_("source file name"));
    if (st != STATUS_OK)
        return st;
    if (m->fk_off && src->run_id > 0) {
        bool found = false;
        st = mem_fk_exists(m, STMT_RUN_EXISTS, src->run_id, 0, &found);
        if (st != STATUS_OK)
            return st;
        if (!found)
            return status_detail_set(STATUS_NOT_FOUND, _("no run with id %lld"),
                                     (long long)src->run_id);
    }
    /* With the index, two statements: one operation. */
    if (m->fts && (st = mem_op_begin(m)) != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_SRC_ADD];
    mem_bind_text(q, 1, mem_source_kinds[src->kind]);
    mem_bind_text(q, 2, src->text);
    mem_bind_text(q, 3, src->file);
    mem_bind_id(q, 4, src->line);
    mem_bind_id(q, 5, src->run_id);
    sqlite3_bind_int64(q, 6, mem_now_ms());
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    int64_t new_id = sqlite3_last_insert_rowid(m->db);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            st = status_detail_set(STATUS_NOT_FOUND, _("no run with id %lld"),
                                   (long long)src->run_id);
        else
            st = mem_sql_fail(m, rc, "source");
    }
    if (st == STATUS_OK)
        st = mem_fts_add(m, true, new_id, src->text, src->file);
    if (m->fts)
        st = mem_op_end(m, st);
    if (st != STATUS_OK)
        return st;
    *id = new_id;
    return STATUS_OK;
}

/* ---- triples ------------------------------------------------------------------------ */

/* In bulk: whether relation rel is single-valued, cached per relation id (1, 0; -1 for
 * a relation that does not exist). */
static enum status mem_bulk_single_valued(struct mem *m, int64_t rel, int *sv)
{
    if (rel > 0 && (size_t)rel < m->bulk_sv_cap && m->bulk_sv[rel] >= 0) {
        *sv = m->bulk_sv[rel];
        return STATUS_OK;
    }
    sqlite3_stmt *q = m->stmt[STMT_REL_GET_SV];
    sqlite3_bind_int64(q, 1, rel);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE) {
        *sv = -1;
        return STATUS_OK;
    }
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "relation");
    *sv = sqlite3_column_int(q, 0) != 0;
    sqlite3_reset(q);
    if (rel > 0 && rel < ((int64_t)1 << 24)) {
        if ((size_t)rel >= m->bulk_sv_cap) {
            size_t cap = m->bulk_sv_cap ? m->bulk_sv_cap : 128;
            while (cap <= (size_t)rel)
                cap *= 2;
            signed char *v = realloc(m->bulk_sv, cap);
            if (!v)
                return STATUS_OK; /* no cache then */
            memset(v + m->bulk_sv_cap, -1, cap - m->bulk_sv_cap);
            m->bulk_sv = v;
            m->bulk_sv_cap = cap;
        }
        m->bulk_sv[rel] = (signed char)*sv;
    }
    return STATUS_OK;
}

/* The live triple (subj, rel, obj): *id, or 0 when there is none. */
static enum status mem_triple_find_live(struct mem *m, int64_t subj, int64_t rel, int64_t obj,
                                        int64_t *id)
{
    sqlite3_stmt *q = m->stmt[STMT_TRI_FIND_LIVE];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    sqlite3_bind_int64(q, 3, obj);
    int rc = mem_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        return STATUS_OK;
    }
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "triple");
    *id = 0;
    return STATUS_OK;
}

/* mem_triple_insert() in a bulk transaction, for a relation that is not single-valued
 * (so no conflict to detect): one INSERT that skips an identical live triple instead of
 * a look-up first; the source is checked once per source id. */
static enum status mem_triple_insert_bulk(struct mem *m, int64_t subj, int64_t rel,
                                          int64_t obj, int64_t source_id, int64_t *id,
                                          enum mem_outcome *outcome)
{
    if (source_id > 0 && source_id != m->bulk_source) {
        sqlite3_stmt *q = m->stmt[STMT_SRC_EXISTS];
        sqlite3_bind_int64(q, 1, source_id);
        int rc = mem_step(q);
        if (rc == SQLITE_DONE)
            return status_detail_set(STATUS_NOT_FOUND, _("no source with id %lld"),
                                     (long long)source_id);
        if (rc != SQLITE_ROW)
            return mem_sql_fail(m, rc, "source");
        sqlite3_reset(q);
        m->bulk_source = source_id; /* sources are never deleted */
    }
    enum status st = mem_fk_triple(m, subj, rel, obj);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_TRI_INSERT_NEW];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    sqlite3_bind_int64(q, 3, obj);
    mem_bind_id(q, 4, source_id);
    sqlite3_bind_int64(q, 5, mem_now_ms());
    int rc = mem_step(q);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return status_detail_set(STATUS_NOT_FOUND,
                                     _("entity or relation id does not exist (%lld, %lld, %lld)"),
                                     (long long)subj, (long long)rel, (long long)obj);
        return mem_sql_fail(m, rc, "triple");
    }
    if (sqlite3_changes(m->db) > 0) {
        *id = sqlite3_last_insert_rowid(m->db);
        *outcome = MEM_OUTCOME_NEW;
        return STATUS_OK;
    }
    int64_t known = 0;
    st = mem_triple_find_live(m, subj, rel, obj, &known);
    if (st != STATUS_OK)
        return st;
    if (known == 0)
        return status_detail_set(STATUS_DB, _("%s: triple neither stored nor found"), m->path);
    *id = known;
    *outcome = MEM_OUTCOME_KNOWN;
    return STATUS_OK;
}

/* Insert (subj, rel, obj) unless an identical live triple exists; inside an operation. */
static enum status mem_triple_insert_row(struct mem *m, int64_t subj, int64_t rel, int64_t obj,
                                         int64_t source_id, int64_t *id,
                                         enum mem_outcome *outcome)
{
    if (mem_bulk_on(m)) {
        int sv = 0;
        enum status st = mem_bulk_single_valued(m, rel, &sv);
        if (st != STATUS_OK)
            return st;
        if (sv == 0)
            return mem_triple_insert_bulk(m, subj, rel, obj, source_id, id, outcome);
        /* single-valued (conflicts to flag) or unknown relation: the general path */
    }
    sqlite3_stmt *q = m->stmt[STMT_TRI_FIND_LIVE];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    sqlite3_bind_int64(q, 3, obj);
    int rc = mem_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        *outcome = MEM_OUTCOME_KNOWN;
        sqlite3_reset(q);
        return STATUS_OK;
    }
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "triple");

    q = m->stmt[STMT_TRI_OTHER_LIVE];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    rc = mem_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "triple");
    bool conflict = rc == SQLITE_ROW;
    sqlite3_reset(q);

    if (source_id > 0) {
        q = m->stmt[STMT_SRC_EXISTS];
        sqlite3_bind_int64(q, 1, source_id);
        rc = mem_step(q);
        if (rc == SQLITE_DONE)
            return status_detail_set(STATUS_NOT_FOUND, _("no source with id %lld"),
                                     (long long)source_id);
        if (rc != SQLITE_ROW)
            return mem_sql_fail(m, rc, "source");
        sqlite3_reset(q);
    }

    enum status st = mem_fk_triple(m, subj, rel, obj);
    if (st != STATUS_OK)
        return st;
    q = m->stmt[STMT_TRI_INSERT];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    sqlite3_bind_int64(q, 3, obj);
    mem_bind_id(q, 4, source_id);
    sqlite3_bind_int64(q, 5, mem_now_ms());
    sqlite3_bind_int(q, 6, conflict ? 1 : 0);
    rc = mem_step(q);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return status_detail_set(STATUS_NOT_FOUND,
                                     _("entity or relation id does not exist (%lld, %lld, %lld)"),
                                     (long long)subj, (long long)rel, (long long)obj);
        return mem_sql_fail(m, rc, "triple");
    }
    *id = sqlite3_last_insert_rowid(m->db);
    *outcome = conflict ? MEM_OUTCOME_CONFLICT : MEM_OUTCOME_NEW;
    return STATUS_OK;
}

static enum status mem_triple_insert(struct mem *m, int64_t subj, int64_t rel, int64_t obj,
                                     int64_t source_id, int64_t *id, enum mem_outcome *outcome)
{
    enum status st = mem_triple_insert_row(m, subj, rel, obj, source_id, id, outcome);
    if (st == STATUS_OK && *outcome != MEM_OUTCOME_KNOWN && mem_bulk_on(m))
        st = mem_bulk_count_row(m);
    return st;
}

enum status mem_triple_add_ids(struct mem *m, int64_t subj, int64_t rel, int64_t obj,
                               int64_t source_id, int64_t *id, enum mem_outcome *outcome)
{
    int64_t new_id = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    enum status st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = mem_triple_insert(m, subj, rel, obj, source_id, &new_id, &oc);
    st = mem_op_end(m, st);
    if (st != STATUS_OK)
        return st;
    *id = new_id;
    if (outcome)
        *outcome = oc;
    return STATUS_OK;
}

enum status mem_triple_add(struct mem *m, const char *subj, const char *rel, const char *obj,
                           int64_t source_id, int64_t *id, enum mem_outcome *outcome)
{
    enum status st = mem_check_name(subj, N_("subject"));
    if (st == STATUS_OK)
        st = mem_check_name(rel, N_("relation"));
    if (st == STATUS_OK)
        st = mem_check_name(obj, N_("object"));
    if (st != STATUS_OK)
        return st;
    int64_t s = 0, r = 0, o = 0, new_id = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = mem_entity_ensure(m, subj, NULL, 0, &s, NULL);
    if (st == STATUS_OK)
        st = mem_relation_ensure(m, rel, NULL, 0, &r, NULL);
    if (st == STATUS_OK)
        st = mem_entity_ensure(m, obj, NULL, 0, &o, NULL);
    if (st == STATUS_OK)
        st = mem_triple_insert(m, s, r, o, source_id, &new_id, &oc);
    st = mem_op_end(m, st);
    if (st != STATUS_OK)
        return st;
    *id = new_id;
    if (outcome)
        *outcome = oc;
    return STATUS_OK;
}

struct mem_tri_state {
    int64_t subj, rel, obj, source_id;
    bool retired;
};

static enum status mem_triple_state(struct mem *m, int64_t id, struct mem_tri_state *s)
{
    sqlite3_stmt *q = m->stmt[STMT_TRI_STATE];
    sqlite3_bind_int64(q, 1, id);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE)
        return status_detail_set(STATUS_NOT_FOUND, _("no triple with id %lld"), (long long)id);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "triple");
    s->subj = sqlite3_column_int64(q, 0);
    s->rel = sqlite3_column_int64(q, 1);
    s->obj = sqlite3_column_int64(q, 2);
    s->source_id = sqlite3_column_int64(q, 3);
    s->retired = sqlite3_column_type(q, 4) != SQLITE_NULL;
    sqlite3_reset(q);
    return STATUS_OK;
}

/* Retire a live triple; inside an operation. */
static enum status mem_triple_retire_in(struct mem *m, int64_t id, const char *reason)
{
    struct mem_tri_state s;
    enum status st = mem_triple_state(m, id, &s);
    if (st != STATUS_OK)
        return st;
    if (s.retired)
        return status_detail_set(STATUS_INVALID, _("triple %lld is already retired"),
                                 (long long)id);
    sqlite3_stmt *q = m->stmt[STMT_TRI_RETIRE];
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, mem_now_ms());
    mem_bind_text(q, 3, reason);
    st = mem_exec_stmt(m, STMT_TRI_RETIRE);
    sqlite3_clear_bindings(q);
    return st;
}

enum status mem_triple_retire(struct mem *m, int64_t id, const char *reason)
{
    enum status st = mem_check_text(reason, N_("reason"));
    if (st != STATUS_OK)
        return st;
    st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    st = mem_triple_retire_in(m, id, reason);
    return mem_op_end(m, st);
}

enum status mem_triple_edit(struct mem *m, int64_t id, const char *subj, const char *rel,
                            const char *obj, int64_t source_id, const char *reason,
                            int64_t *new_id, enum mem_outcome *outcome)
{
    enum status st = mem_check_text(reason, N_("reason"));
    if (st == STATUS_OK && subj)
        st = mem_check_name(subj, N_("subject"));
    if (st == STATUS_OK && rel)
        st = mem_check_name(rel, N_("relation"));
    if (st == STATUS_OK && obj)
        st = mem_check_name(obj, N_("object"));
    if (st != STATUS_OK)
        return st;
    st = mem_op_begin(m);
    if (st != STATUS_OK)
        return st;
    struct mem_tri_state old = {0};
    int64_t s = 0, r = 0, o = 0, nid = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    st = mem_triple_state(m, id, &old);
    if (st == STATUS_OK && old.retired)
        st = status_detail_set(STATUS_INVALID, _("triple %lld is already retired"),
                               (long long)id);
    s = old.subj;
    r = old.rel;
    o = old.obj;
    if (st == STATUS_OK && subj)
        st = mem_entity_ensure(m, subj, NULL, 0, &s, NULL);
    if (st == STATUS_OK && rel)
        st = mem_relation_ensure(m, rel, NULL, 0, &r, NULL);
    if (st == STATUS_OK && obj)
        st = mem_entity_ensure(m, obj, NULL, 0, &o, NULL);
    if (st == STATUS_OK && s == old.subj && r == old.rel && o == old.obj)
        st = status_detail_set(STATUS_INVALID, _("the edit changes nothing in triple %lld"),
                               (long long)id);
    /* Retire first, so the old value neither counts as "known" nor as a conflict. */
    if (st == STATUS_OK)
        st = mem_triple_retire_in(m, id, reason);
    if (st == STATUS_OK)
        st = mem_triple_insert(m, s, r, o, source_id > 0 ? source_id : old.source_id, &nid, &oc);
    if (st == STATUS_OK) {
        sqlite3_stmt *q = m->stmt[STMT_TRI_SET_REPLACED];
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, nid);
        st = mem_exec_stmt(m, STMT_TRI_SET_REPLACED);
    }
    st = mem_op_end(m, st);
    if (st != STATUS_OK)
        return st;
    *new_id = nid;
    if (outcome)
        *outcome = oc;
    return STATUS_OK;
}

enum status mem_triple_get(struct mem *m, int64_t id, struct mem_triple_info **out)
{
    sqlite3_stmt *q = m->stmt[STMT_TRI_GET];
    sqlite3_bind_int64(q, 1, id);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE)
        return status_detail_set(STATUS_NOT_FOUND, _("no triple with id %lld"), (long long)id);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "triple");
    struct mem_triple_info *info = calloc(1, sizeof *info);
    struct mem_pool *pool = calloc(1, sizeof *pool);
    if (!info || !pool) {
        sqlite3_reset(q);
        free(info);
        free(pool);
        return STATUS_NOMEM;
    }
    info->pool_ = pool;
    mem_row_triple(q, 0, &info->triple);
    mem_row_source(q, TRIPLE_NCOLS, &info->source);
    mem_own_triple(pool, &info->triple);
    mem_own_source(pool, &info->source);
    sqlite3_reset(q);
    if (pool->oom) {
        mem_triple_info_free(info);
        return STATUS_NOMEM;
    }
    *out = info;
    return STATUS_OK;
}

void mem_triple_info_free(struct mem_triple_info *info)
{
    if (!info)
        return;
    mem_pool_free(info->pool_);
    free(info);
}

enum status mem_triple_history(struct mem *m, int64_t id, mem_triple_cb cb, void *ctx)
{
    struct mem_tri_state s;
    enum status st = mem_triple_state(m, id, &s);
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_TRI_HISTORY];
    sqlite3_bind_int64(q, 1, id);
    return mem_each_triple(m, q, cb, ctx);
}

enum status mem_triples_by_subj_rel(struct mem *m, int64_t subj, int64_t rel,
                                    mem_triple_cb cb, void *ctx)
{
    sqlite3_stmt *q = m->stmt[STMT_TRI_BY_SR];
    sqlite3_bind_int64(q, 1, subj);
    sqlite3_bind_int64(q, 2, rel);
    return mem_each_triple(m, q, cb, ctx);
}

enum status mem_triples_by_rel_obj(struct mem *m, int64_t rel, int64_t obj,
                                   mem_triple_cb cb, void *ctx)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    sqlite3_stmt *q = m->stmt[STMT_TRI_BY_RO];
    sqlite3_bind_int64(q, 1, rel);
    sqlite3_bind_int64(q, 2, obj);
    return mem_each_triple(m, q, cb, ctx);
}

enum status mem_triples_by_source(struct mem *m, int64_t source_id, mem_triple_cb cb,
                                  void *ctx)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    sqlite3_stmt *q = m->stmt[STMT_TRI_BY_SOURCE];
    sqlite3_bind_int64(q, 1, source_id);
    return mem_each_triple(m, q, cb, ctx);
}

enum status mem_conflict_each(struct mem *m, mem_triple_cb cb, void *ctx)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    return mem_each_triple(m, m->stmt[STMT_CONFLICTS], cb, ctx);
}

/* ---- listing ------------------------------------------------------------------------ */

/* A listing is built per query shape and its statement cached under a key.
 *
 * Filter fields and their text parameters: subject ?1, relation ?2, object ?3, source
 * ?7 (a LIKE pattern in substring mode, else the exact text); the FTS5 queries of the
 * subject, object and source ?8, ?10, ?11; the cursor key ?4 and id ?5; the limit ?6.
 *
 * Plans for substring filters, all giving the same rows in the same order:
 *   DRIVEN   walk the triples in the sort order (by id, or the sorted side's name index)
 *            and test each row's names: a page costs its own rows divided by the share
 *            of rows that match, cheap when many do;
 *   SET      start from the names that match (looked up in the trigram index, or found
 *            by scanning the names), join their triples and sort them: cheap when few do;
 *   PLANNER  SQLite's own choice: for exact subject or object names (few rows).
 * A driven page gets a budget of virtual-machine steps; when it runs out, the page goes
 * on from the last row delivered with the SET plan, so a rare short filter costs the
 * budget plus the scan of the names, never a walk over the whole table. */
enum { F_SUBJ, F_REL, F_OBJ, F_SRC, F_COUNT_ };
enum mem_term {
    TERM_NONE,
    TERM_EXACT,     /* = (SELECT id ... WHERE name = ?) */
    TERM_ROW,       /* test the joined row */
    TERM_FTS,       /* IN (the ids the trigram index finds, tested) */
    TERM_SCAN,      /* IN (the ids a scan of the names finds) */
    TERM_DRIVE_FTS, /* this field's table drives the join, its rows from the index */
    TERM_DRIVE_SCAN, /* this field's table drives the join, scanned */
    TERM_SCAN_CHECK  /* as TERM_SCAN, but never used to find rows (counts: let the
                        index's term drive) */
};
enum mem_plan { PLAN_PLANNER, PLAN_DRIVEN, PLAN_SET, PLAN_COUNT };

/* Rows of the trigram index a SET plan accepts without trying a driven walk first. */
#define MEM_SET_MAX 2000
/* Trigrams at most in one index query (more only narrow a candidate set further). */
#define MEM_FTS_TERMS_MAX 12

struct mem_shape {
    int sort; /* enum mem_sort, after exact-name simplification */
    bool backward, retired, src_exact;
    enum mem_plan plan;
    enum mem_term term[F_COUNT_];
};

static uint32_t mem_shape_key(const struct mem_shape *sh)
{
    uint32_t k = (uint32_t)sh->sort | (uint32_t)sh->backward << 2 | (uint32_t)sh->retired << 3 |
                 (uint32_t)sh->src_exact << 4 | (uint32_t)sh->plan << 5;
    for (int i = 0; i < F_COUNT_; i++)
        k |= (uint32_t)sh->term[i] << (8 + 3 * i);
    return k;
}

/* The source test on alias x: text or file contains (LIKE) or equals ?7. */
static void mem_src_check(char *buf, size_t cap, bool exact)
{
    size_t len = strlen(buf);
    if (exact)
        snprintf(buf + len, cap - len, "(x.text = ?7 OR x.file = ?7)");
    else
        snprintf(buf + len, cap - len,
                 "(x.text LIKE ?7 ESCAPE '\\' OR x.file LIKE ?7 ESCAPE '\\')");
}

static void mem_cat(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s", s);
}

/* Append the WHERE clause of a shape. */
static void mem_where_sql(char *buf, size_t cap, const struct mem_shape *sh)
{
    static const char *const exact[3] = {
        " AND t.subj = (SELECT id FROM entities WHERE name = ?1)",
        " AND t.rel = (SELECT id FROM relations WHERE name = ?2)",
        " AND t.obj = (SELECT id FROM entities WHERE name = ?3)",
    };
    static const char *const row[3] = {
        " AND s.name LIKE ?1 ESCAPE '\\'",
        " AND r.name LIKE ?2 ESCAPE '\\'",
        " AND o.name LIKE ?3 ESCAPE '\\'",
    };
    static const char *const fts[3] = {
        " AND t.subj IN (SELECT e.id FROM entities e WHERE e.id IN (SELECT rowid FROM"
        " entities_fts WHERE entities_fts MATCH ?8) AND e.name LIKE ?1 ESCAPE '\\')",
        NULL,
        " AND t.obj IN (SELECT e.id FROM entities e WHERE e.id IN (SELECT rowid FROM"
        " entities_fts WHERE entities_fts MATCH ?10) AND e.name LIKE ?3 ESCAPE '\\')",
    };
    static const char *const scan[3] = {
        "t.subj IN (SELECT id FROM entities WHERE name LIKE ?1 ESCAPE '\\')",
        "t.rel IN (SELECT id FROM relations WHERE name LIKE ?2 ESCAPE '\\')",
        "t.obj IN (SELECT id FROM entities WHERE name LIKE ?3 ESCAPE '\\')",
    };
    static const char *const drive_fts[3] = {
        " AND s.id IN (SELECT rowid FROM entities_fts WHERE entities_fts MATCH ?8)",
        NULL,
        " AND o.id IN (SELECT rowid FROM entities_fts WHERE entities_fts MATCH ?10)",
    };
    mem_cat(buf, cap, sh->retired ? " WHERE 1" : " WHERE t.retired_at IS NULL");
    for (int i = 0; i < 3; i++) {
        switch (sh->term[i]) {
        case TERM_NONE:
            break;
        case TERM_EXACT:
            mem_cat(buf, cap, exact[i]);
            break;
        case TERM_ROW:
        case TERM_DRIVE_SCAN:
            mem_cat(buf, cap, row[i]);
            break;
        case TERM_FTS:
            mem_cat(buf, cap, fts[i]);
            break;
        case TERM_SCAN:
        case TERM_SCAN_CHECK:
            /* a unary + keeps SQLite from using the term to look rows up */
            mem_cat(buf, cap, sh->term[i] == TERM_SCAN ? " AND " : " AND +");
            mem_cat(buf, cap, scan[i]);
            break;
        case TERM_DRIVE_FTS:
            mem_cat(buf, cap, drive_fts[i]);
            mem_cat(buf, cap, row[i]);
            break;
        }
    }
    switch (sh->term[F_SRC]) {
    case TERM_NONE:
    case TERM_EXACT: /* not used for sources */
        break;
    case TERM_ROW:
        mem_cat(buf, cap, " AND EXISTS (SELECT 1 FROM sources x WHERE x.id = t.source_id AND ");
        mem_src_check(buf, cap, sh->src_exact);
        mem_cat(buf, cap, ")");
        break;
    case TERM_FTS:
        mem_cat(buf, cap, " AND t.source_id IN (SELECT x.id FROM sources x WHERE x.id IN"
                          " (SELECT rowid FROM sources_fts WHERE sources_fts MATCH ?11) AND ");
        mem_src_check(buf, cap, sh->src_exact);
        mem_cat(buf, cap, ")");
        break;
    case TERM_SCAN:
    case TERM_SCAN_CHECK:
        mem_cat(buf, cap, sh->term[F_SRC] == TERM_SCAN ? " AND t.source_id IN ("
                                                        : " AND +t.source_id IN (");
        mem_cat(buf, cap, "SELECT x.id FROM sources x WHERE ");
        mem_src_check(buf, cap, sh->src_exact);
        mem_cat(buf, cap, ")");
        break;
    case TERM_DRIVE_FTS:
        mem_cat(buf, cap, " AND x.id IN (SELECT rowid FROM sources_fts WHERE sources_fts"
                          " MATCH ?11) AND ");
        mem_src_check(buf, cap, sh->src_exact);
        break;
    case TERM_DRIVE_SCAN:
        mem_cat(buf, cap, " AND ");
        mem_src_check(buf, cap, sh->src_exact);
        break;
    }
}

/* The whole statement of a shape. */
static void mem_shape_sql(char *sql, size_t cap, const struct mem_shape *sh)
{
    static const char *const key[4] = {NULL, "s.name", "r.name", "o.name"};
    /* Name sorts walk the name index of the sorted side and, per name, the triples in id
     * order (CROSS JOIN fixes that loop order), so a page costs about its own rows and
     * never sorts the whole table. */
    static const char *const walk[4] = {
        " FROM triples t CROSS JOIN entities s ON s.id = t.subj"
        " CROSS JOIN relations r ON r.id = t.rel CROSS JOIN entities o ON o.id = t.obj",
        " FROM entities s CROSS JOIN triples t INDEXED BY triples_subj ON t.subj = s.id"
        " JOIN relations r ON r.id = t.rel JOIN entities o ON o.id = t.obj",
        " FROM relations r CROSS JOIN triples t INDEXED BY triples_rel ON t.rel = r.id"
        " JOIN entities s ON s.id = t.subj JOIN entities o ON o.id = t.obj",
        " FROM entities o CROSS JOIN triples t INDEXED BY triples_obj ON t.obj = o.id"
        " JOIN entities s ON s.id = t.subj JOIN relations r ON r.id = t.rel",
    };
    /* SET plans: the driving field's rows by rowid (NOT INDEXED keeps SQLite from
     * walking a name index instead), then their triples. */
    static const char *const from_set[F_COUNT_] = {
        " FROM entities s NOT INDEXED CROSS JOIN triples t INDEXED BY triples_subj"
        " ON t.subj = s.id JOIN relations r ON r.id = t.rel JOIN entities o ON o.id = t.obj",
        " FROM relations r NOT INDEXED CROSS JOIN triples t INDEXED BY triples_rel"
        " ON t.rel = r.id JOIN entities s ON s.id = t.subj JOIN entities o ON o.id = t.obj",
        " FROM entities o NOT INDEXED CROSS JOIN triples t INDEXED BY triples_obj"
        " ON t.obj = o.id JOIN entities s ON s.id = t.subj JOIN relations r ON r.id = t.rel",
        " FROM sources x NOT INDEXED CROSS JOIN triples t INDEXED BY triples_source"
        " ON t.source_id = x.id JOIN entities s ON s.id = t.subj"
        " JOIN relations r ON r.id = t.rel JOIN entities o ON o.id = t.obj",
    };
    if (sh->plan == PLAN_COUNT) {
        snprintf(sql, cap, "SELECT count(*) FROM triples t");
        mem_where_sql(sql, cap, sh);
        return;
    }
    const char *from = TRIPLE_FROM;
    if (sh->plan == PLAN_DRIVEN) {
        from = walk[sh->sort];
    } else if (sh->plan == PLAN_SET) {
        for (int i = 0; i < F_COUNT_; i++) {
            if (sh->term[i] == TERM_DRIVE_FTS || sh->term[i] == TERM_DRIVE_SCAN)
                from = from_set[i];
        }
    }
    snprintf(sql, cap, "SELECT %s%s", TRIPLE_COLS, from);
    mem_where_sql(sql, cap, sh);
    size_t len = strlen(sql);
    const char *cmp = sh->backward ? "<" : ">";
    const char *dir = sh->backward ? " DESC" : "";
    if (sh->sort == MEM_SORT_ID)
        snprintf(sql + len, cap - len, " AND t.id %s ?5 ORDER BY t.id%s LIMIT ?6", cmp, dir);
    else
        snprintf(sql + len, cap - len,
                 " AND %s %s= ?4 AND (%s %s ?4 OR t.id %s ?5) ORDER BY %s%s, t.id%s LIMIT ?6",
                 key[sh->sort], cmp, key[sh->sort], cmp, cmp, key[sh->sort], dir, dir);
}

/* The cached statement of a shape, built on first use. */
static enum status mem_shape_stmt(struct mem *m, const struct mem_shape *sh, sqlite3_stmt **out)
{
    uint32_t key = mem_shape_key(sh);
    for (size_t i = 0; i < m->n_shapes; i++) {
        if (m->shapes[i].key == key) {
            *out = m->shapes[i].st;
            return STATUS_OK;
        }
    }
    if (m->n_shapes == m->cap_shapes) {
        size_t cap = m->cap_shapes ? 2 * m->cap_shapes : 32;
        struct mem_shape_stmt *v = realloc(m->shapes, cap * sizeof *v);
        if (!v)
            return STATUS_NOMEM;
        m->shapes = v;
        m->cap_shapes = cap;
    }
    char sql[4096];
    mem_shape_sql(sql, sizeof sql, sh);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL);
    if (rc != SQLITE_OK)
        return mem_sql_fail(m, rc, "list");
    m->shapes[m->n_shapes].key = key;
    m->shapes[m->n_shapes].st = q;
    m->n_shapes++;
    *out = q;
    return STATUS_OK;
}

/* "%text%" with LIKE's wildcards escaped; owned. */
static char *mem_like_pattern(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(2 * n + 3);
    if (!p)
        return NULL;
    size_t j = 0;
    p[j++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
            p[j++] = '\\';
        p[j++] = s[i];
    }
    p[j++] = '%';
    p[j] = '\0';
    return p;
}

/* The trigram-index query for "contains s": trigrams of s (every third one, and the
 * last), each a quoted FTS5 string, joined by AND.  Every text that contains s
 * (ASCII case ignored) contains each of them (the index folds case the same way and
 * more), so the index yields a superset that the LIKE test then narrows.  *out NULL
 * when s has fewer than 3 characters.  Owned. */
static enum status mem_fts_query(const char *s, char **out)
{
    *out = NULL;
    size_t n = strlen(s), nc = 0;
    for (size_t i = 0; i < n; i++)
        nc += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (nc < 3)
        return STATUS_OK;
    size_t *off = malloc((nc + 1) * sizeof *off);
    char *q = malloc(MEM_FTS_TERMS_MAX * 32 + 1);
    if (!off || !q) {
        free(off);
        free(q);
        return STATUS_NOMEM;
    }
    for (size_t i = 0, c = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            off[c++] = i;
    }
    off[nc] = n;
    size_t j = 0, terms = 0;
    for (size_t c = 0;; c += 3) {
        bool last = c + 3 >= nc || terms + 1 == MEM_FTS_TERMS_MAX;
        if (last)
            c = nc - 3;
        if (terms)
            j += (size_t)sprintf(q + j, " AND ");
        q[j++] = '"';
        for (size_t i = off[c]; i < off[c + 3]; i++) {
            if (s[i] == '"')
                q[j++] = '"';
            q[j++] = s[i];
        }
        q[j++] = '"';
        terms++;
        if (last)
            break;
    }
    q[j] = '\0';
    free(off);
    *out = q;
    return STATUS_OK;
}

static enum status mem_check_filter(const struct mem_filter *f)
{
    enum status st = mem_check_text(f->subj, N_("subject filter"));
    if (st == STATUS_OK)
        st = mem_check_text(f->rel, N_("relation filter"));
    if (st == STATUS_OK)
        st = mem_check_text(f->obj, N_("object filter"));
    if (st == STATUS_OK)
        st = mem_check_text(f->source, N_("source filter"));
    if (st == STATUS_OK && f->match != MEM_MATCH_EXACT && f->match != MEM_MATCH_SUBSTRING)
        st = status_detail_set(STATUS_INVALID, _("unknown match mode %d"), (int)f->match);
    return st;
}

/* A filter's bound texts: LIKE patterns and index queries (owned). */
struct mem_binds {
    const char *text[F_COUNT_]; /* bound as ?1 ?2 ?3 ?7 */
    char *pat[F_COUNT_];
    char *fts[F_COUNT_];        /* bound as ?8 ?10 ?11 */
};

static void mem_binds_free(struct mem_binds *b)
{
    for (int i = 0; i < F_COUNT_; i++) {
        free(b->pat[i]);
        free(b->fts[i]);
    }
}

static enum status mem_binds_make(struct mem *m, const struct mem_filter *f, struct mem_binds *b)
{
    memset(b, 0, sizeof *b);
    const char *v[F_COUNT_] = {f->subj, f->rel, f->obj, f->source};
    bool substr = f->match == MEM_MATCH_SUBSTRING;
    for (int i = 0; i < F_COUNT_; i++) {
        b->text[i] = v[i];
        if (!v[i])
            continue;
        if (substr) {
            b->pat[i] = mem_like_pattern(v[i]);
            if (!b->pat[i])
                return STATUS_NOMEM;
            b->text[i] = b->pat[i];
        }
        /* The index serves entity names and sources; exact names have their own index. */
        if (m->fts && i != F_REL && (substr || i == F_SRC)) {
            enum status st = mem_fts_query(v[i], &b->fts[i]);
            if (st != STATUS_OK)
                return st;
        }
    }
    return STATUS_OK;
}

static void mem_binds_apply(sqlite3_stmt *q, const struct mem_binds *b)
{
    static const int text_param[F_COUNT_] = {1, 2, 3, 7};
    static const int fts_param[F_COUNT_] = {8, 0, 10, 11};
    int n = sqlite3_bind_parameter_count(q);
    for (int i = 0; i < F_COUNT_; i++) {
        if (b->text[i] && text_param[i] <= n)
            mem_bind_text(q, text_param[i], b->text[i]);
        if (b->fts[i] && fts_param[i] && fts_param[i] <= n)
            mem_bind_text(q, fts_param[i], b->fts[i]);
    }
}

/* How many index rows match field i's query, counting at most MEM_SET_MAX + 1. */
static enum status mem_fts_candidates(struct mem *m, int i, const char *query, int64_t *n)
{
    sqlite3_stmt *q = m->fts_count[i == F_SRC ? 3 : 0];
    mem_bind_text(q, 1, query);
    sqlite3_bind_int64(q, 2, MEM_SET_MAX + 1);
    int rc = mem_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_clear_bindings(q);
        return mem_sql_fail(m, rc, "search index");
    }
    *n = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return STATUS_OK;
}

/* Rows handed on to the caller, with what a continuation needs. */
struct mem_relay {
    struct mem *m;
    mem_triple_cb cb;
    void *ctx;
    int sort;
    bool keep_key;   /* copy the sort key of each row (a budgeted walk) */
    size_t n;        /* rows delivered */
    int64_t last_id;
    bool stopped;    /* the callback asked to stop */
    bool oom;
};

static int mem_relay_row(struct mem_relay *r, const struct mem_triple *t)
{
    if (r->keep_key && r->sort != MEM_SORT_ID) {
        const char *k = r->sort == MEM_SORT_SUBJECT    ? t->subj_name
                        : r->sort == MEM_SORT_RELATION ? t->rel_name
                                                       : t->obj_name;
        size_t len = strlen(k) + 1;
        if (len > r->m->key_cap) {
            char *nb = realloc(r->m->key_buf, len);
            if (!nb) {
                r->oom = true;
                return 1;
            }
            r->m->key_buf = nb;
            r->m->key_cap = len;
        }
        memcpy(r->m->key_buf, k, len);
    }
    r->n++;
    r->last_id = t->id;
    if (r->cb(r->ctx, t) != 0) {
        r->stopped = true;
        return 1;
    }
    return 0;
}

struct mem_budget {
    int ticks, max;
};

static int mem_budget_tick(void *ctx)
{
    struct mem_budget *b = ctx;
    return ++b->ticks > b->max;
}

/* Run one page statement (bound) and relay its rows.  With budget: stop after the
 * budget (*ran_out set), the callbacks themselves not counted. */
static enum status mem_run_page(struct mem *m, sqlite3_stmt *q, struct mem_relay *r,
                                bool budget, bool *ran_out)
{
    struct mem_budget b = {0, m->walk_ticks};
    int rc;
    for (;;) {
        if (budget)
            sqlite3_progress_handler(m->db, MEM_PROBE_OPS, mem_budget_tick, &b);
        rc = sqlite3_step(q);
        if (budget)
            sqlite3_progress_handler(m->db, 0, NULL, NULL);
        if (rc != SQLITE_ROW)
            break;
        struct mem_triple t;
        mem_row_triple(q, 0, &t);
        if (mem_relay_row(r, &t) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(q);
    if (r->oom)
        return STATUS_NOMEM;
    if (budget && (rc & 0xff) == SQLITE_INTERRUPT && b.ticks > b.max) {
        *ran_out = true;
        return STATUS_OK;
    }
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "list");
    return STATUS_OK;
}

/* Bind and run one page of a shape from the cursor (key, id), at most limit rows
 * (0: all). */
static enum status mem_page_run(struct mem *m, const struct mem_shape *sh,
                                const struct mem_binds *bd, const char *key, int64_t id,
                                size_t limit, struct mem_relay *r, bool budget, bool *ran_out)
{
    sqlite3_stmt *q = NULL;
    enum status st = mem_shape_stmt(m, sh, &q);
    if (st != STATUS_OK)
        return st;
    mem_binds_apply(q, bd);
    if (sh->sort != MEM_SORT_ID)
        mem_bind_text(q, 4, key);
    sqlite3_bind_int64(q, 5, id);
    sqlite3_bind_int64(q, 6, limit ? (sqlite3_int64)limit : -1);
    st = mem_run_page(m, q, r, budget, ran_out);
    sqlite3_clear_bindings(q);
    return st;
}

static enum mem_term mem_field_term(const char *s, enum mem_match match, int i)
{
    if (!s)
        return TERM_NONE;
    if (match == MEM_MATCH_EXACT && i != F_SRC)
        return TERM_EXACT;
    return TERM_ROW;
}

enum status mem_triple_list(struct mem *m, const struct mem_filter *f,
                            const struct mem_page *p, mem_triple_cb cb, void *ctx)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    static const struct mem_filter none = {0};
    if (!f)
        f = &none;
    enum status st = mem_check_filter(f);
    if (st == STATUS_OK)
        st = mem_check_text(p->after_key, N_("cursor"));
    if (st != STATUS_OK)
        return st;
    if ((unsigned)p->sort > MEM_SORT_OBJECT)
        return status_detail_set(STATUS_INVALID, _("unknown sort order %d"), (int)p->sort);

    struct mem_shape sh = {.sort = (int)p->sort, .backward = p->backward,
                           .retired = f->include_retired,
                           .src_exact = f->match == MEM_MATCH_EXACT};
    const char *v[F_COUNT_] = {f->subj, f->rel, f->obj, f->source};
    bool any_row = false;
    for (int i = 0; i < F_COUNT_; i++) {
        sh.term[i] = mem_field_term(v[i], f->match, i);
        any_row |= sh.term[i] == TERM_ROW;
    }
    /* When the sort field is filtered by exact name every row has the same key, so
     * (key, id) order is id order. */
    if ((sh.sort == MEM_SORT_SUBJECT && sh.term[F_SUBJ] == TERM_EXACT) ||
        (sh.sort == MEM_SORT_RELATION && sh.term[F_REL] == TERM_EXACT) ||
        (sh.sort == MEM_SORT_OBJECT && sh.term[F_OBJ] == TERM_EXACT))
        sh.sort = MEM_SORT_ID;
    bool exact_entity = sh.term[F_SUBJ] == TERM_EXACT || sh.term[F_OBJ] == TERM_EXACT;

    struct mem_binds bd;
    st = mem_binds_make(m, f, &bd);
    if (st != STATUS_OK) {
        mem_binds_free(&bd);
        return st;
    }

    /* The plan.  An exact subject or object leaves few rows: SQLite picks. Without
     * substring filters: walk in order (by id SQLite does that itself).  Otherwise a
     * filter that the index says is rare drives a SET plan; else walk with a budget. */
    int driver = -1;
    bool budget = false;
    if (exact_entity || (!any_row && sh.sort == MEM_SORT_ID)) {
        sh.plan = PLAN_PLANNER;
    } else if (!any_row) {
        sh.plan = PLAN_DRIVEN;
    } else {
        int64_t best = INT64_MAX;
        for (int i = 0; i < F_COUNT_ && st == STATUS_OK; i++) {
            int64_t n = 0;
            if (!bd.fts[i] || (st = mem_fts_candidates(m, i, bd.fts[i], &n)) != STATUS_OK)
                continue;
            if (n < best) {
                best = n;
                driver = i;
            }
        }
        sh.plan = driver >= 0 && best <= MEM_SET_MAX ? PLAN_SET : PLAN_DRIVEN;
        budget = sh.plan == PLAN_DRIVEN;
    }

    /* The empty cursor: before every name (names are non-empty) or after all of them
     * (0xF5 starts no UTF-8 character). */
    const char *key = p->after_key ? p->after_key : p->backward ? "\xF5" : "";
    int64_t after = p->after_id;
    if (!p->after_key && after == 0 && p->backward)
        after = INT64_MAX;
    struct mem_relay r = {.m = m, .cb = cb, .ctx = ctx, .sort = sh.sort, .keep_key = budget};
    bool ran_out = false;
    if (st == STATUS_OK && sh.plan == PLAN_SET) {
        sh.term[driver] = TERM_DRIVE_FTS;
    }
    if (st == STATUS_OK)
        st = mem_page_run(m, &sh, &bd, key, after, p->limit, &r, budget, &ran_out);
    if (st == STATUS_OK && ran_out && !r.stopped) {
        /* Go on from the last row delivered with a SET plan: the rarest field by the
         * index, else a scan of the names (entities and sources before relations,
         * which a walk over their triples serves well). */
        static const int scan_order[F_COUNT_] = {F_SUBJ, F_OBJ, F_SRC, F_REL};
        sh.plan = PLAN_SET;
        if (driver >= 0) {
            sh.term[driver] = TERM_DRIVE_FTS;
        } else {
            for (int k = 0; k < F_COUNT_; k++) {
                if (sh.term[scan_order[k]] == TERM_ROW) {
                    sh.term[scan_order[k]] = TERM_DRIVE_SCAN;
                    break;
                }
            }
        }
        if (r.n > 0) {
            key = m->key_buf;
            after = r.last_id;
        }
        if (!p->limit || r.n < p->limit) {
            r.keep_key = false;
            st = mem_page_run(m, &sh, &bd, key, after, p->limit ? p->limit - r.n : 0, &r,
                              false, &ran_out);
        }
    }
    mem_binds_free(&bd);
    return st;
}

enum status mem_triple_count(struct mem *m, const struct mem_filter *f, int64_t *n)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    static const struct mem_filter none = {0};
    if (!f)
        f = &none;
    enum status st = mem_check_filter(f);
    if (st != STATUS_OK)
        return st;
    struct mem_binds bd;
    st = mem_binds_make(m, f, &bd);
    if (st != STATUS_OK) {
        mem_binds_free(&bd);
        return st;
    }
    struct mem_shape sh = {.retired = f->include_retired, .plan = PLAN_COUNT,
                           .src_exact = f->match == MEM_MATCH_EXACT};
    const char *v[F_COUNT_] = {f->subj, f->rel, f->obj, f->source};
    bool any_fts = false;
    for (int i = 0; i < F_COUNT_; i++) {
        sh.term[i] = mem_field_term(v[i], f->match, i);
        if (sh.term[i] == TERM_ROW)
            sh.term[i] = bd.fts[i] ? TERM_FTS : TERM_SCAN;
        any_fts |= sh.term[i] == TERM_FTS;
    }
    /* The index's candidates drive; scanned sets (often large) are only tested. */
    for (int i = 0; i < F_COUNT_ && any_fts; i++) {
        if (sh.term[i] == TERM_SCAN)
            sh.term[i] = TERM_SCAN_CHECK;
    }
    sqlite3_stmt *q = NULL;
    st = mem_shape_stmt(m, &sh, &q);
    if (st == STATUS_OK) {
        mem_binds_apply(q, &bd);
        int rc = mem_step(q);
        if (rc == SQLITE_ROW) {
            *n = sqlite3_column_int64(q, 0);
            sqlite3_reset(q);
        } else {
            st = mem_sql_fail(m, rc, "count");
        }
        sqlite3_clear_bindings(q);
    }
    mem_binds_free(&bd);
    return st;
}

static int mem_count_row(void *ctx, const struct mem_triple *t)
{
    (void)t;
    ++*(int64_t *)ctx;
    return 0;
}

enum status mem_triple_count_max(struct mem *m, const struct mem_filter *f, int64_t max,
                                 int64_t *n)
{
    if (max <= 0)
        return mem_triple_count(m, f, n);
    int64_t k = 0;
    struct mem_page p = {.sort = MEM_SORT_ID, .limit = (size_t)max};
    enum status st = mem_triple_list(m, f, &p, mem_count_row, &k);
    if (st == STATUS_OK)
        *n = k;
    return st;
}

/* ---- statistics --------------------------------------------------------------------- */

enum status mem_stats_get(struct mem *m, struct mem_stats *out)
{
    enum status settled = mem_settle(m);
    if (settled != STATUS_OK)
        return settled;
    struct mem_stats s = {0};
    sqlite3_stmt *q = m->stmt[STMT_STATS];
    int rc = mem_step(q);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "stats");
    s.entities = sqlite3_column_int64(q, 0);
    s.relations = sqlite3_column_int64(q, 1);
    s.triples_live = sqlite3_column_int64(q, 2);
    s.triples_retired = sqlite3_column_int64(q, 3) - s.triples_live;
    s.sources = sqlite3_column_int64(q, 4);
    s.runs = sqlite3_column_int64(q, 5);
    sqlite3_reset(q);
    q = m->stmt[STMT_STATS_CONFLICTS];
    rc = mem_step(q);
    if (rc != SQLITE_ROW)
        return mem_sql_fail(m, rc, "stats");
    s.conflicts = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    *out = s;
    return STATUS_OK;
}

/* ---- runs --------------------------------------------------------------------------- */

enum status mem_run_create(struct mem *m, const char *prompt, const char *model,
                           const char *settings, int64_t *run_id)
{
    enum status st = mem_check_text(prompt, N_("prompt"));
    if (st == STATUS_OK)
        st = mem_check_text(model, N_("model name"));
    if (st == STATUS_OK)
        st = mem_check_text(settings, N_("settings"));
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_RUN_CREATE];
    mem_bind_text(q, 1, prompt ? prompt : "");
    mem_bind_text(q, 2, model);
    mem_bind_text(q, 3, settings);
    sqlite3_bind_int64(q, 4, mem_now_ms());
    st = mem_exec_stmt(m, STMT_RUN_CREATE);
    sqlite3_clear_bindings(q);
    if (st != STATUS_OK)
        return st;
    *run_id = sqlite3_last_insert_rowid(m->db);
    return STATUS_OK;
}

enum status mem_run_add_call(struct mem *m, int64_t run_id, int64_t call_no,
                             enum mem_call_kind kind, const char *raw, const char *result)
{
    enum status st = mem_check_text(raw, N_("call text"));
    if (st == STATUS_OK)
        st = mem_check_text(result, N_("call result"));
    if (st != STATUS_OK)
        return st;
    if (kind != MEM_CALL_KIND_READ && kind != MEM_CALL_KIND_WRITE)
        return status_detail_set(STATUS_INVALID, _("unknown call kind %d"), (int)kind);
    if (m->fk_off) {
        bool found = false;
        st = mem_fk_exists(m, STMT_RUN_EXISTS, run_id, 0, &found);
        if (st != STATUS_OK)
            return st;
        if (!found)
            return status_detail_set(STATUS_NOT_FOUND, _("no run with id %lld"),
                                     (long long)run_id);
    }
    sqlite3_stmt *q = m->stmt[STMT_RUN_CALL];
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int64(q, 2, call_no);
    mem_bind_text(q, 3, kind == MEM_CALL_KIND_READ ? "read" : "write");
    mem_bind_text(q, 4, raw ? raw : "");
    mem_bind_text(q, 5, result);
    sqlite3_bind_int64(q, 6, mem_now_ms());
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return status_detail_set(STATUS_NOT_FOUND, _("no run with id %lld"), (long long)run_id);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return status_detail_set(STATUS_EXISTS, _("run %lld already has a call %lld"),
                                 (long long)run_id, (long long)call_no);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "run call");
    return STATUS_OK;
}

enum status mem_run_add_read(struct mem *m, int64_t run_id, int64_t call_no, const char *query,
                             int64_t triple_id, double score)
{
    enum status st = mem_check_text(query, N_("query"));
    if (st != STATUS_OK)
        return st;
    if (isnan(score))
        return status_detail_set(STATUS_INVALID, _("read score is not a number"));
    if (m->fk_off) {
        bool call = false, triple = false;
        st = mem_fk_exists(m, STMT_CALL_EXISTS, run_id, call_no, &call);
        if (st == STATUS_OK)
            st = mem_fk_exists(m, STMT_TRI_EXISTS, triple_id, 0, &triple);
        if (st != STATUS_OK)
            return st;
        if (!call || !triple)
            return status_detail_set(STATUS_NOT_FOUND,
                                     _("no call %lld in run %lld, or no triple %lld"),
                                     (long long)call_no, (long long)run_id,
                                     (long long)triple_id);
    }
    sqlite3_stmt *q = m->stmt[STMT_RUN_READ];
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int64(q, 2, call_no);
    mem_bind_text(q, 3, query ? query : "");
    sqlite3_bind_int64(q, 4, triple_id);
    sqlite3_bind_double(q, 5, score);
    int rc = mem_step(q);
    sqlite3_clear_bindings(q);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return status_detail_set(STATUS_NOT_FOUND,
                                 _("no call %lld in run %lld, or no triple %lld"),
                                 (long long)call_no, (long long)run_id, (long long)triple_id);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "read");
    return STATUS_OK;
}

enum status mem_run_finish(struct mem *m, int64_t run_id, const char *output)
{
    enum status st = mem_check_text(output, N_("output"));
    if (st != STATUS_OK)
        return st;
    sqlite3_stmt *q = m->stmt[STMT_RUN_FINISH];
    sqlite3_bind_int64(q, 1, run_id);
    mem_bind_text(q, 2, output);
    sqlite3_bind_int64(q, 3, mem_now_ms());
    return mem_update_one(m, STMT_RUN_FINISH, N_("run"), run_id);
}

enum status mem_run_delete(struct mem *m, int64_t run_id)
{
    /* without SQLite's foreign-key actions: the same ones here (a bulk transaction is
     * rolled back as a whole after a failure) */
    static const enum mem_stmt actions[] = {STMT_RUN_DEL_READS, STMT_RUN_DEL_CALLS,
                                            STMT_RUN_UNLINK_SOURCES};
    for (size_t i = 0; m->fk_off && i < sizeof actions / sizeof actions[0]; i++) {
        sqlite3_bind_int64(m->stmt[actions[i]], 1, run_id);
        enum status st = mem_exec_stmt(m, actions[i]);
        if (st != STATUS_OK)
            return st;
    }
    sqlite3_stmt *q = m->stmt[STMT_RUN_DELETE];
    sqlite3_bind_int64(q, 1, run_id);
    return mem_update_one(m, STMT_RUN_DELETE, N_("run"), run_id);
}

/* RUN_COLS at column 0 into r; strings borrowed. */
static void mem_row_run(sqlite3_stmt *q, struct mem_run *r)
{
    r->id = sqlite3_column_int64(q, 0);
    r->prompt = mem_col_text(q, 1);
    r->output = mem_col_text(q, 2);
    r->model = mem_col_text(q, 3);
    r->settings = mem_col_text(q, 4);
    r->created_at = sqlite3_column_int64(q, 5);
    r->finished_at = sqlite3_column_int64(q, 6);
}

void mem_run_free(struct mem_run *run)
{
    if (!run)
        return;
    mem_pool_free(run->pool_);
    free(run->calls);
    free(run->reads);
    free(run);
}

enum status mem_run_get(struct mem *m, int64_t run_id, struct mem_run **out)
{
    struct mem_run *run = calloc(1, sizeof *run);
    struct mem_pool *pool = calloc(1, sizeof *pool);
    if (!run || !pool) {
        free(run);
        free(pool);
        return STATUS_NOMEM;
    }
    run->pool_ = pool;
    enum status st = STATUS_OK;
    size_t cap = 0;
    sqlite3_stmt *q = m->stmt[STMT_RUN_GET];
    sqlite3_bind_int64(q, 1, run_id);
    int rc = mem_step(q);
    if (rc == SQLITE_DONE) {
        st = status_detail_set(STATUS_NOT_FOUND, _("no run with id %lld"), (long long)run_id);
        goto fail;
    }
    if (rc != SQLITE_ROW) {
        st = mem_sql_fail(m, rc, "run");
        goto fail;
    }
    mem_row_run(q, run);
    run->prompt = mem_pool_strdup(pool, run->prompt);
    run->output = mem_pool_strdup(pool, run->output);
    run->model = mem_pool_strdup(pool, run->model);
    run->settings = mem_pool_strdup(pool, run->settings);
    sqlite3_reset(q);

    q = m->stmt[STMT_RUN_CALLS];
    sqlite3_bind_int64(q, 1, run_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (run->n_calls == cap) {
            cap = cap ? 2 * cap : 8;
            struct mem_run_call *c = realloc(run->calls, cap * sizeof *c);
            if (!c) {
                st = STATUS_NOMEM;
                break;
            }
            run->calls = c;
        }
        struct mem_run_call *c = &run->calls[run->n_calls++];
        c->call_no = sqlite3_column_int64(q, 0);
        const char *kind = mem_col_text(q, 1);
        c->kind = kind && strcmp(kind, "write") == 0 ? MEM_CALL_KIND_WRITE : MEM_CALL_KIND_READ;
        c->raw = mem_pool_strdup(pool, mem_col_text(q, 2));
        c->result = mem_pool_strdup(pool, mem_col_text(q, 3));
        c->created_at = sqlite3_column_int64(q, 4);
    }
    sqlite3_reset(q);
    if (st != STATUS_OK)
        goto fail;
    if (rc != SQLITE_DONE) {
        st = mem_sql_fail(m, rc, "run calls");
        goto fail;
    }

    cap = 0;
    q = m->stmt[STMT_RUN_READS];
    sqlite3_bind_int64(q, 1, run_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (run->n_reads == cap) {
            cap = cap ? 2 * cap : 8;
            struct mem_run_read *r = realloc(run->reads, cap * sizeof *r);
            if (!r) {
                st = STATUS_NOMEM;
                break;
            }
            run->reads = r;
        }
        struct mem_run_read *r = &run->reads[run->n_reads++];
        r->call_no = sqlite3_column_int64(q, 0);
        r->query = mem_pool_strdup(pool, mem_col_text(q, 1));
        r->score = sqlite3_column_double(q, 2);
        mem_row_triple(q, 3, &r->triple);
        mem_row_source(q, 3 + TRIPLE_NCOLS, &r->source);
        mem_own_triple(pool, &r->triple);
        mem_own_source(pool, &r->source);
    }
    sqlite3_reset(q);
    if (st != STATUS_OK)
        goto fail;
    if (rc != SQLITE_DONE) {
        st = mem_sql_fail(m, rc, "run reads");
        goto fail;
    }
    if (pool->oom) {
        st = STATUS_NOMEM;
        goto fail;
    }
    *out = run;
    return STATUS_OK;
fail:
    mem_run_free(run);
    return st;
}

enum status mem_run_list(struct mem *m, int64_t before_id, size_t limit, mem_run_cb cb,
                         void *ctx)
{
    sqlite3_stmt *q = m->stmt[STMT_RUN_LIST];
    sqlite3_bind_int64(q, 1, before_id > 0 ? before_id : INT64_MAX);
    sqlite3_bind_int64(q, 2, limit ? (sqlite3_int64)limit : -1);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct mem_run r = {0};
        mem_row_run(q, &r);
        if (cb(ctx, &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "runs");
    return STATUS_OK;
}

enum status mem_triple_uses(struct mem *m, int64_t triple_id, mem_use_cb cb, void *ctx)
{
    sqlite3_stmt *q = m->stmt[STMT_TRI_USES];
    sqlite3_bind_int64(q, 1, triple_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct mem_triple_use u = {
            .run_id = sqlite3_column_int64(q, 0),
            .call_no = sqlite3_column_int64(q, 1),
            .query = mem_col_text(q, 2),
            .score = sqlite3_column_double(q, 3),
            .run_created_at = sqlite3_column_int64(q, 4),
        };
        if (cb(ctx, &u) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return mem_sql_fail(m, rc, "reads");
    return STATUS_OK;
}
