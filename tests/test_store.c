/* test_store.c -- cmocka tests of the SQLite triple store (src/memory/store.c). */
#include "config.h"

#include "test_util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "memory/relations.h"
#include "memory/store.h"
#include "util/timing.h"

/* ---- helpers ------------------------------------------------------------------------- */

static struct mem *open_mem(void)
{
    struct mem *m = NULL;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    assert_non_null(m);
    return m;
}

static char *tmp_db(char **dir)
{
    *dir = test_tmpdir();
    char *p = malloc(4200);
    assert_non_null(p);
    snprintf(p, 4200, "%s/memory.db", *dir);
    return p;
}

static int64_t add(struct mem *m, const char *s, const char *r, const char *o,
                   enum mem_outcome want)
{
    int64_t id = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    assert_int_equal(mem_triple_add(m, s, r, o, 0, &id, &oc), STATUS_OK);
    assert_int_equal(oc, want);
    assert_true(id > 0);
    return id;
}

static struct mem_stats stats(struct mem *m)
{
    struct mem_stats s;
    assert_int_equal(mem_stats_get(m, &s), STATUS_OK);
    return s;
}

/* A copied triple row. */
struct row {
    int64_t id;
    char s[128], r[128], o[128];
    int64_t retired_at, replaced_by;
    bool conflict;
};
struct rows {
    struct row *v;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const struct mem_triple *t)
{
    struct rows *rs = ctx;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 64;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        assert_non_null(rs->v);
    }
    struct row *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    r->id = t->id;
    snprintf(r->s, sizeof r->s, "%s", t->subj_name);
    snprintf(r->r, sizeof r->r, "%s", t->rel_name);
    snprintf(r->o, sizeof r->o, "%s", t->obj_name);
    r->retired_at = t->retired_at;
    r->replaced_by = t->replaced_by;
    r->conflict = t->conflict;
    return rs->stop_after && rs->n >= rs->stop_after;
}

static int64_t sqlite_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sqlite_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The text of the one row sql returns, through a fresh connection (caller frees). */
static char *sqlite_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_non_null(sqlite3_column_text(st, 0));
    char *s = strdup((const char *)sqlite3_column_text(st, 0));
    assert_non_null(s);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return s;
}

/* The journal mode a fresh connection finds in the file's header. */
static void assert_journal_mode(const char *path, const char *want)
{
    char *mode = sqlite_text(path, "PRAGMA journal_mode");
    assert_string_equal(mode, want);
    free(mode);
}

/* ---- open, schema, migrations -------------------------------------------------------- */

static void test_store_open_creates_schema_and_reopens(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    /* Parent directories are created. */
    char nested[4300];
    snprintf(nested, sizeof nested, "%s/a/b/memory.db", dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(nested, &m), STATUS_OK);
    mem_close(m);
    assert_int_equal(access(nested, R_OK), 0);

    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_string_equal(mem_path(m), path);
    int64_t id = add(m, "Apple Inc.", "founded by", "Steve Jobs", MEM_OUTCOME_NEW);
    mem_close(m);

    assert_int_equal(sqlite_int(path, "PRAGMA user_version"), MEM_SCHEMA_VERSION);
    assert_journal_mode(path, "wal");

    assert_int_equal(mem_open(path, &m), STATUS_OK);
    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, id, &info), STATUS_OK);
    assert_string_equal(info->triple.subj_name, "Apple Inc.");
    assert_string_equal(info->triple.rel_name, "founded by");
    assert_string_equal(info->triple.obj_name, "Steve Jobs");
    assert_int_equal(info->triple.retired_at, 0);
    mem_triple_info_free(info);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

static char *schema_text(const char *path)
{
    return sqlite_text(path, "SELECT group_concat(sql, ';') FROM "
                             "(SELECT sql FROM sqlite_schema ORDER BY name)");
}

static void test_store_migrations_idempotent(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    add(m, "a", "b", "c", MEM_OUTCOME_NEW);
    mem_close(m);
    char *first = schema_text(path);
    int64_t n_meta = sqlite_int(path, "SELECT count(*) FROM meta");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mem_open(path, &m), STATUS_OK);
        mem_close(m);
        char *again = schema_text(path);
        assert_string_equal(first, again);
        free(again);
        assert_int_equal(sqlite_int(path, "PRAGMA user_version"), MEM_SCHEMA_VERSION);
        assert_int_equal(sqlite_int(path, "SELECT count(*) FROM meta"), n_meta);
        assert_int_equal(sqlite_int(path, "SELECT count(*) FROM triples"), 1);
    }
    assert_non_null(strstr(first, "CREATE TABLE triples"));
    free(first);
    free(path);
    test_rmtree(dir);
}

static void test_store_open_refuses_newer_schema(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    mem_close(m);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", MEM_SCHEMA_VERSION + 1);
    sqlite_exec(path, sql);
    m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_DB_SCHEMA);
    assert_null(m);
    assert_non_null(strstr(status_detail(), path));
    free(path);
    test_rmtree(dir);
}

static void test_store_open_refuses_garbage_file(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8192; i++)
        fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_DB_CORRUPT);
    assert_null(m);
    assert_non_null(strstr(status_detail(), path));
    free(path);
    test_rmtree(dir);
}

static void test_store_open_refuses_foreign_sqlite(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    sqlite_exec(path, "CREATE TABLE other(x); INSERT INTO other VALUES (1);");
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_DB_CORRUPT);
    assert_null(m);
    assert_non_null(strstr(status_detail(), path));
    /* The foreign file was not touched. */
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema"), 1);
    free(path);
    test_rmtree(dir);
}

static void test_store_check_finds_damage(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_begin(m), STATUS_OK);
    for (int i = 0; i < 2000; i++) {
        char s[64];
        snprintf(s, sizeof s, "entity number %d with a longer name to fill pages", i);
        add(m, s, "r", "o", MEM_OUTCOME_NEW);
    }
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);

    /* A dangling reference written behind the store's back. */
    sqlite_exec(path, "PRAGMA foreign_keys = OFF;"
                      " INSERT INTO triples(subj, rel, obj, created_at) VALUES (999999, 1, 1, 0);");
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_check(m), STATUS_DB_CORRUPT);
    assert_non_null(strstr(status_detail(), "triples"));
    mem_close(m);
    sqlite_exec(path, "DELETE FROM triples WHERE subj = 999999; PRAGMA wal_checkpoint(TRUNCATE);");

    /* Damaged pages: overwrite the middle of the file. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 16 * 4096);
    assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
    for (int i = 0; i < 3 * 4096; i++)
        fputc((i * 7 + 3) & 0xff, f);
    fclose(f);
    enum status st = mem_open(path, &m);
    if (st == STATUS_OK) {
        assert_int_equal(mem_check(m), STATUS_DB_CORRUPT);
        mem_close(m);
    } else {
        assert_int_equal(st, STATUS_DB_CORRUPT);
    }
    free(path);
    test_rmtree(dir);
}

static void test_store_busy_waits_then_fails(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *a = NULL, *b = NULL;
    assert_int_equal(mem_open(path, &a), STATUS_OK);
    assert_int_equal(mem_open(path, &b), STATUS_OK);
    assert_int_equal(mem_begin(a), STATUS_OK);
    assert_true(mem_in_transaction(a));
    add(a, "x", "r", "y", MEM_OUTCOME_NEW);
    assert_int_equal(mem_begin(a), STATUS_INVALID); /* not nestable */

    mem_set_busy_timeout(b, 200);
    uint64_t t0 = timing_now_ns();
    int64_t id = 0;
    assert_int_equal(mem_triple_add(b, "p", "q", "r", 0, &id, NULL), STATUS_DB_BUSY);
    double waited = timing_since_s(t0);
    assert_true(waited >= 0.15);
    assert_true(waited < 3.0);
    assert_int_equal(mem_begin(b), STATUS_DB_BUSY);
    assert_false(mem_in_transaction(b));
    /* Readers are not blocked by the writer (WAL) and do not see uncommitted rows. */
    assert_int_equal(stats(b).triples_live, 0);

    assert_int_equal(mem_commit(a), STATUS_OK);
    add(b, "p", "q", "r", MEM_OUTCOME_NEW);
    assert_int_equal(stats(b).triples_live, 2);
    assert_int_equal(stats(b).entities, 4);
    mem_close(a);
    mem_close(b);
    free(path);
    test_rmtree(dir);
}

/* ---- triples: history, duplicates, conflicts --------------------------------------- */

static void test_store_retire_keeps_history(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    int64_t id = add(m, "Pluto", "instance of", "planet", MEM_OUTCOME_NEW);
    add(m, "Mars", "instance of", "planet", MEM_OUTCOME_NEW);
    assert_int_equal(mem_triple_retire(m, id, "reclassified in 2006"), STATUS_OK);
    assert_int_equal(mem_triple_retire(m, id, "again"), STATUS_INVALID);
    assert_int_equal(mem_triple_retire(m, 9999, NULL), STATUS_NOT_FOUND);

    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, id, &info), STATUS_OK);
    assert_true(info->triple.retired_at > 0);
    assert_true(info->triple.retired_at >= info->triple.created_at);
    assert_string_equal(info->triple.retire_reason, "reclassified in 2006");
    assert_int_equal(info->triple.replaced_by, 0);
    mem_triple_info_free(info);

    struct mem_page page = {.sort = MEM_SORT_ID};
    struct rows live = {0}, all = {0};
    assert_int_equal(mem_triple_list(m, NULL, &page, collect, &live), STATUS_OK);
    assert_int_equal(live.n, 1);
    assert_string_equal(live.v[0].s, "Mars");
    struct mem_filter f = {.include_retired = true};
    assert_int_equal(mem_triple_list(m, &f, &page, collect, &all), STATUS_OK);
    assert_int_equal(all.n, 2);
    assert_int_equal(all.v[0].id, id);
    assert_true(all.v[0].retired_at > 0);
    struct mem_stats s = stats(m);
    assert_int_equal(s.triples_live, 1);
    assert_int_equal(s.triples_retired, 1);
    /* The read lookups see live triples only. */
    int64_t pluto = 0, inst = 0;
    assert_int_equal(mem_entity_find(m, "Pluto", &pluto), STATUS_OK);
    assert_int_equal(mem_relation_find(m, "instance of", &inst), STATUS_OK);
    struct rows sr = {0};
    assert_int_equal(mem_triples_by_subj_rel(m, pluto, inst, collect, &sr), STATUS_OK);
    assert_int_equal(sr.n, 0);
    free(live.v);
    free(all.v);
    mem_close(m);
}

static void test_store_edit_keeps_history(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    int64_t a = add(m, "Dancing on Coral", "author", "Glenda Adam", MEM_OUTCOME_NEW);
    int64_t b = 0, c = 0;
    enum mem_outcome oc;
    assert_int_equal(mem_triple_edit(m, a, NULL, NULL, "Glenda Adams", 0, "typo", &b, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    assert_true(b > a);
    assert_int_equal(mem_triple_edit(m, b, NULL, "writer", NULL, 0, NULL, &c, &oc), STATUS_OK);

    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, a, &info), STATUS_OK);
    assert_true(info->triple.retired_at > 0);
    assert_string_equal(info->triple.retire_reason, "typo");
    assert_int_equal(info->triple.replaced_by, b);
    mem_triple_info_free(info);

    /* History from any version gives the whole chain, oldest first. */
    int64_t starts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        struct rows h = {0};
        assert_int_equal(mem_triple_history(m, starts[i], collect, &h), STATUS_OK);
        assert_int_equal(h.n, 3);
        assert_int_equal(h.v[0].id, a);
        assert_int_equal(h.v[1].id, b);
        assert_int_equal(h.v[2].id, c);
        assert_string_equal(h.v[0].o, "Glenda Adam");
        assert_string_equal(h.v[1].o, "Glenda Adams");
        assert_string_equal(h.v[2].r, "writer");
        assert_int_equal(h.v[2].retired_at, 0);
        free(h.v);
    }
    /* An edit that changes nothing, or of a retired triple, is refused and changes
     * nothing. */
    int64_t x = 0;
    assert_int_equal(mem_triple_edit(m, c, "Dancing on Coral", NULL, NULL, 0, NULL, &x, NULL),
                     STATUS_INVALID);
    assert_int_equal(mem_triple_edit(m, a, "Other", NULL, NULL, 0, NULL, &x, NULL),
                     STATUS_INVALID);
    assert_int_equal(stats(m).triples_live, 1);
    assert_int_equal(stats(m).triples_retired, 2);

    /* Editing into a triple that already exists reuses it. */
    int64_t d = add(m, "Dancing on Coral", "genre", "novel", MEM_OUTCOME_NEW);
    int64_t e = add(m, "Dancing on Coral", "genre", "book", MEM_OUTCOME_NEW);
    assert_int_equal(mem_triple_edit(m, e, NULL, NULL, "novel", 0, "duplicate", &x, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_KNOWN);
    assert_int_equal(x, d);
    assert_int_equal(mem_triple_get(m, e, &info), STATUS_OK);
    assert_int_equal(info->triple.replaced_by, d);
    mem_triple_info_free(info);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
}

static void test_store_duplicate_is_known(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    int64_t a = add(m, "Apple Inc.", "founded by", "Steve Jobs", MEM_OUTCOME_NEW);
    int64_t b = add(m, "Apple Inc.", "founded by", "Steve Jobs", MEM_OUTCOME_KNOWN);
    assert_int_equal(a, b);
    /* A different object or a case difference is a different triple. */
    add(m, "Apple Inc.", "founded by", "Steve Wozniak", MEM_OUTCOME_NEW);
    add(m, "apple inc.", "founded by", "Steve Jobs", MEM_OUTCOME_NEW);
    assert_int_equal(stats(m).triples_live, 3);
    /* Once retired, the same triple may be taught again: a new row. */
    assert_int_equal(mem_triple_retire(m, a, NULL), STATUS_OK);
    int64_t c = add(m, "Apple Inc.", "founded by", "Steve Jobs", MEM_OUTCOME_NEW);
    assert_true(c != a);
    add(m, "Apple Inc.", "founded by", "Steve Jobs", MEM_OUTCOME_KNOWN);
    struct mem_stats s = stats(m);
    assert_int_equal(s.triples_live, 3);
    assert_int_equal(s.triples_retired, 1);
    assert_int_equal(s.entities, 4);
    assert_int_equal(s.relations, 1);
    mem_close(m);
}

static const char small_tsv[] = "# comment\n"
                                "P19\tplace of birth\t1\r\n"
                                "P26\tspouse\t0\n"
                                "\n"
                                "\tmotto\t0";

static void test_store_single_valued_conflicts(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    size_t n = 0;
    assert_int_equal(mem_relations_load_buffer(m, small_tsv, sizeof small_tsv - 1, "t", &n),
                     STATUS_OK);
    assert_int_equal(n, 3);
    add(m, "Ada", "place of birth", "London", MEM_OUTCOME_NEW);
    add(m, "Ada", "place of birth", "London", MEM_OUTCOME_KNOWN);
    int64_t c = add(m, "Ada", "place of birth", "Paris", MEM_OUTCOME_CONFLICT);
    add(m, "Bob", "place of birth", "Paris", MEM_OUTCOME_NEW);
    add(m, "Ada", "spouse", "William", MEM_OUTCOME_NEW);
    add(m, "Ada", "spouse", "Charles", MEM_OUTCOME_NEW); /* not single-valued */

    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, c, &info), STATUS_OK);
    assert_true(info->triple.conflict);
    mem_triple_info_free(info);

    struct rows cf = {0};
    assert_int_equal(mem_conflict_each(m, collect, &cf), STATUS_OK);
    assert_int_equal(cf.n, 2);
    assert_string_equal(cf.v[0].o, "London");
    assert_false(cf.v[0].conflict);
    assert_string_equal(cf.v[1].o, "Paris");
    assert_true(cf.v[1].conflict);
    assert_int_equal(stats(m).conflicts, 2);

    /* Resolving: retire one value, the conflict list empties. */
    assert_int_equal(mem_triple_retire(m, c, "wrong"), STATUS_OK);
    cf.n = 0;
    assert_int_equal(mem_conflict_each(m, collect, &cf), STATUS_OK);
    assert_int_equal(cf.n, 0);
    assert_int_equal(stats(m).conflicts, 0);

    /* Editing the single value does not create a conflict. */
    int64_t london = 0, pob = 0, x = 0;
    enum mem_outcome oc;
    assert_int_equal(mem_relation_find(m, "place of birth", &pob), STATUS_OK);
    assert_int_equal(mem_entity_find(m, "London", &london), STATUS_OK);
    struct rows sr = {0};
    int64_t ada = 0;
    assert_int_equal(mem_entity_find(m, "Ada", &ada), STATUS_OK);
    assert_int_equal(mem_triples_by_subj_rel(m, ada, pob, collect, &sr), STATUS_OK);
    assert_int_equal(sr.n, 1);
    assert_int_equal(mem_triple_edit(m, sr.v[0].id, NULL, NULL, "Londres", 0, NULL, &x, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);

    /* The flag can be changed; relation metadata reads back. */
    bool sv = false;
    assert_int_equal(mem_relation_single_valued(m, pob, &sv), STATUS_OK);
    assert_true(sv);
    int64_t spouse = 0;
    assert_int_equal(mem_relation_find(m, "spouse", &spouse), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(m, spouse, true), STATUS_OK);
    cf.n = 0;
    assert_int_equal(mem_conflict_each(m, collect, &cf), STATUS_OK);
    assert_int_equal(cf.n, 2); /* William and Charles now conflict */
    assert_int_equal(mem_relation_set_single_valued(m, 424242, true), STATUS_NOT_FOUND);
    free(cf.v);
    free(sr.v);
    mem_close(m);
}

/* ---- keyset pagination -------------------------------------------------------------- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static int cmp_key;
static int row_cmp(const void *pa, const void *pb)
{
    const struct row *a = pa, *b = pb;
    int c = 0;
    if (cmp_key == MEM_SORT_SUBJECT)
        c = strcmp(a->s, b->s);
    else if (cmp_key == MEM_SORT_RELATION)
        c = strcmp(a->r, b->r);
    else if (cmp_key == MEM_SORT_OBJECT)
        c = strcmp(a->o, b->o);
    if (c)
        return c;
    return (a->id > b->id) - (a->id < b->id);
}

static const char *row_key(const struct row *r, enum mem_sort sort)
{
    switch (sort) {
    case MEM_SORT_SUBJECT:
        return r->s;
    case MEM_SORT_RELATION:
        return r->r;
    case MEM_SORT_OBJECT:
        return r->o;
    default:
        return NULL;
    }
}

/* Page through with a small limit; rows are copied into out in page order. */
static void page_all(struct mem *m, const struct mem_filter *f, enum mem_sort sort,
                     bool backward, size_t limit, struct rows *out, int insert_between)
{
    struct mem_page p = {.sort = sort, .backward = backward, .limit = limit};
    char key[128] = "";
    int pages = 0;
    for (;;) {
        size_t before = out->n;
        assert_int_equal(mem_triple_list(m, f, &p, collect, out), STATUS_OK);
        size_t got = out->n - before;
        assert_true(got <= limit);
        if (got == 0)
            break;
        const struct row *last = &out->v[out->n - 1];
        p.after_id = last->id;
        if (sort != MEM_SORT_ID) {
            snprintf(key, sizeof key, "%s", row_key(last, sort));
            p.after_key = key;
        }
        /* Insert during the first pages only: rows inserted past the cursor are seen,
         * so inserting on every page would never reach the end. */
        if (insert_between && pages < 12) {
            char s[32], o[32];
            snprintf(s, sizeof s, "ins%d-%d", (int)sort, pages);
            snprintf(o, sizeof o, "val%d-%d", (int)sort, pages);
            add(m, s, "inserted", o, MEM_OUTCOME_NEW);
        }
        pages++;
        assert_true(pages < 10000);
    }
}

static void test_store_keyset_pages_concatenate(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    uint32_t seed = 12345;
    static const char *const rels[] = {"country", "author", "capital", "spouse", "genre"};
    assert_int_equal(mem_begin(m), STATUS_OK);
    for (int i = 0; i < 400; i++) {
        char s[32], o[32];
        snprintf(s, sizeof s, "subject %u", lcg(&seed) % 40);
        snprintf(o, sizeof o, "object %u", lcg(&seed) % 90);
        int64_t id;
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add(m, s, rels[lcg(&seed) % 5], o, 0, &id, &oc), STATUS_OK);
        if (i % 17 == 0)
            assert_int_equal(mem_triple_retire(m, id, NULL), STATUS_OK);
    }
    assert_int_equal(mem_commit(m), STATUS_OK);

    /* Shapes that take different query plans: none, substring on the sort field or
     * another one, exact relation (name index walk), exact subject / object. */
    struct mem_filter filters[] = {
        {0},
        {.include_retired = true},
        {.subj = "subject 1", .match = MEM_MATCH_SUBSTRING}, /* subject 1, 10..19 */
        {.rel = "capital", .obj = "OBJECT 3", .match = MEM_MATCH_SUBSTRING},
        {.rel = "capital", .include_retired = true},
        {.subj = "subject 7"},
        {.obj = "object 5", .rel = "AUTH", .match = MEM_MATCH_SUBSTRING},
        {.obj = "object 12"},
    };
    for (size_t fi = 0; fi < sizeof filters / sizeof filters[0]; fi++) {
        /* The expected order: all matching rows by id, sorted here in C. */
        struct rows all = {0};
        struct mem_page p0 = {.sort = MEM_SORT_ID};
        assert_int_equal(mem_triple_list(m, &filters[fi], &p0, collect, &all), STATUS_OK);
        int64_t count = -1;
        assert_int_equal(mem_triple_count(m, &filters[fi], &count), STATUS_OK);
        assert_int_equal(count, (int64_t)all.n);
        assert_true(all.n >= 2);
        for (size_t i = 1; i < all.n; i++)
            assert_true(all.v[i - 1].id < all.v[i].id);
        for (int sort = MEM_SORT_ID; sort <= MEM_SORT_OBJECT; sort++) {
            struct rows want = {0};
            want.v = malloc(all.n * sizeof *want.v);
            assert_non_null(want.v);
            memcpy(want.v, all.v, all.n * sizeof *want.v);
            want.n = all.n;
            cmp_key = sort;
            qsort(want.v, want.n, sizeof *want.v, row_cmp);
            for (int back = 0; back < 2; back++) {
                struct rows got = {0};
                page_all(m, &filters[fi], (enum mem_sort)sort, back, 7, &got, 0);
                assert_int_equal(got.n, want.n);
                for (size_t i = 0; i < want.n; i++) {
                    size_t j = back ? want.n - 1 - i : i;
                    assert_int_equal(got.v[i].id, want.v[j].id);
                }
                free(got.v);
            }
            free(want.v);
        }
        free(all.v);
    }

    /* With inserts between pages: no row is lost or repeated, order stays monotonic. */
    for (int sort = MEM_SORT_ID; sort <= MEM_SORT_OBJECT; sort++) {
        struct rows before = {0}, got = {0};
        struct mem_page p0 = {.sort = MEM_SORT_ID};
        assert_int_equal(mem_triple_list(m, NULL, &p0, collect, &before), STATUS_OK);
        page_all(m, NULL, (enum mem_sort)sort, false, 11, &got, 1);
        cmp_key = sort;
        for (size_t i = 1; i < got.n; i++)
            assert_true(row_cmp(&got.v[i - 1], &got.v[i]) < 0);
        for (size_t i = 0; i < before.n; i++) {
            size_t seen = 0;
            for (size_t j = 0; j < got.n; j++)
                seen += got.v[j].id == before.v[i].id;
            assert_int_equal(seen, 1);
        }
        free(before.v);
        free(got.v);
    }

    /* A callback may stop early. */
    struct rows few = {.stop_after = 3};
    struct mem_page p = {.sort = MEM_SORT_SUBJECT};
    assert_int_equal(mem_triple_list(m, NULL, &p, collect, &few), STATUS_OK);
    assert_int_equal(few.n, 3);
    free(few.v);
    mem_close(m);
}

static void test_store_filters_and_count(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    add(m, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    add(m, "Berlin", "capital of", "Germany", MEM_OUTCOME_NEW);
    add(m, "France", "capital", "Paris", MEM_OUTCOME_NEW);
    add(m, "100%_sure", "capital", "x", MEM_OUTCOME_NEW);
    struct {
        struct mem_filter f;
        int64_t n;
    } cases[] = {
        {{.subj = "Paris"}, 1},
        {{.rel = "capital"}, 2},
        {{.rel = "capital", .match = MEM_MATCH_SUBSTRING}, 4},
        {{.rel = "CAPITAL OF", .match = MEM_MATCH_SUBSTRING}, 2},
        {{.obj = "an", .match = MEM_MATCH_SUBSTRING}, 2},
        {{.subj = "%", .match = MEM_MATCH_SUBSTRING}, 1},  /* wildcard taken literally */
        {{.subj = "0%_", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.subj = "_", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.subj = "Nowhere"}, 0},
        {{.subj = "Paris", .rel = "capital of", .obj = "France"}, 1},
        {{.subj = "Paris", .rel = "capital", .obj = "France"}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = -1;
        assert_int_equal(mem_triple_count(m, &cases[i].f, &n), STATUS_OK);
        assert_int_equal(n, cases[i].n);
        struct rows r = {0};
        struct mem_page p = {.sort = MEM_SORT_OBJECT};
        assert_int_equal(mem_triple_list(m, &cases[i].f, &p, collect, &r), STATUS_OK);
        assert_int_equal((int64_t)r.n, cases[i].n);
        free(r.v);
    }
    mem_close(m);
}

/* ---- text safety -------------------------------------------------------------------- */

static void test_store_special_characters_round_trip(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    static const char *const names[] = {
        "O'Brien \"the\" 'quoted'",
        "a;b;c",
        "x>>y>>z",
        "line one\nline two\r\n",
        "'); DROP TABLE triples; --",
        "tab\there",
        "100% _under_ \\back\\",
        "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x97\xbc e\xcc\x81",
        "({MEM_READ(x>>y>>)-->z})",
    };
    size_t n = sizeof names / sizeof names[0];
    int64_t ids[16];
    for (size_t i = 0; i < n; i++)
        ids[i] = add(m, names[i], names[(i + 1) % n], names[(i + 2) % n], MEM_OUTCOME_NEW);
    for (size_t i = 0; i < n; i++) {
        struct mem_triple_info *info = NULL;
        assert_int_equal(mem_triple_get(m, ids[i], &info), STATUS_OK);
        assert_string_equal(info->triple.subj_name, names[i]);
        assert_string_equal(info->triple.rel_name, names[(i + 1) % n]);
        assert_string_equal(info->triple.obj_name, names[(i + 2) % n]);
        mem_triple_info_free(info);
        int64_t e = 0;
        assert_int_equal(mem_entity_find(m, names[i], &e), STATUS_OK);
        char *back = NULL;
        assert_int_equal(mem_entity_name(m, e, &back), STATUS_OK);
        assert_string_equal(back, names[i]);
        free(back);
        struct mem_filter f = {.subj = names[i], .match = MEM_MATCH_SUBSTRING};
        int64_t cnt = 0;
        assert_int_equal(mem_triple_count(m, &f, &cnt), STATUS_OK);
        assert_int_equal(cnt, 1);
    }
    struct mem_stats s = stats(m);
    assert_int_equal(s.triples_live, (int64_t)n);
    assert_int_equal(s.entities, (int64_t)n);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
}

static void test_store_invalid_utf8_refused(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    static const char *const bad[] = {"\xff\xfe", "over\xc0\xaflong", "sur\xed\xa0\x80rogate",
                                      "cut\xe6\x9d"};
    int64_t id = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mem_triple_add(m, bad[i], "r", "o", 0, &id, NULL), STATUS_ENCODING);
        assert_int_equal(mem_triple_add(m, "s", bad[i], "o", 0, &id, NULL), STATUS_ENCODING);
        assert_int_equal(mem_triple_add(m, "s", "r", bad[i], 0, &id, NULL), STATUS_ENCODING);
        assert_int_equal(mem_entity_ensure(m, bad[i], NULL, 0, &id, NULL), STATUS_ENCODING);
        struct mem_source src = {.kind = MEM_SOURCE_KIND_SENTENCE, .text = bad[i]};
        assert_int_equal(mem_source_add(m, &src, &id), STATUS_ENCODING);
        int64_t run = 0;
        assert_int_equal(mem_run_create(m, bad[i], NULL, NULL, &run), STATUS_ENCODING);
    }
    assert_int_equal(mem_triple_add(m, "", "r", "o", 0, &id, NULL), STATUS_INVALID);
    struct mem_stats s = stats(m);
    assert_int_equal(s.entities + s.relations + s.triples_live + s.sources + s.runs, 0);
    mem_close(m);
}

/* ---- transactions ------------------------------------------------------------------- */

static void test_store_rollback_leaves_nothing(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    assert_int_equal(mem_begin(m), STATUS_OK);
    for (int i = 0; i < 20; i++) {
        char s[32];
        snprintf(s, sizeof s, "e%d", i);
        struct mem_source src = {.kind = MEM_SOURCE_KIND_DOCUMENT, .text = s};
        int64_t sid = 0, id = 0;
        assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
        assert_int_equal(mem_triple_add(m, s, "r", "o", sid, &id, NULL), STATUS_OK);
    }
    /* A failing write inside the transaction undoes only itself. */
    int64_t id = 0;
    assert_int_equal(mem_triple_add(m, "new one", "r", "o", 424242, &id, NULL), STATUS_NOT_FOUND);
    assert_true(mem_in_transaction(m));
    assert_int_equal(stats(m).triples_live, 20);
    assert_int_equal(stats(m).entities, 21);
    assert_int_equal(mem_rollback(m), STATUS_OK);
    struct mem_stats s = stats(m);
    assert_int_equal(s.entities + s.relations + s.triples_live + s.sources, 0);
    assert_int_equal(mem_rollback(m), STATUS_OK); /* none open: no-op */
    assert_int_equal(mem_commit(m), STATUS_INVALID);

    /* Outside a transaction a failing add leaves no half-made entities. */
    assert_int_equal(mem_triple_add(m, "lonely", "r", "o", 424242, &id, NULL), STATUS_NOT_FOUND);
    s = stats(m);
    assert_int_equal(s.entities + s.relations + s.triples_live, 0);
    mem_close(m);
}

/* ---- runs, sources, stats ----------------------------------------------------------- */

static int collect_runs(void *ctx, const struct mem_run *r)
{
    int64_t *ids = ctx;
    ids[++ids[0]] = r->id;
    return 0;
}

static int collect_uses(void *ctx, const struct mem_triple_use *u)
{
    int64_t *v = ctx; /* v[0] count, then (run_id, call_no) pairs */
    v[1 + 2 * v[0]] = u->run_id;
    v[2 + 2 * v[0]] = u->call_no;
    v[0]++;
    assert_string_equal(u->query, "Dancing on Coral>>author>>");
    return 0;
}

static void test_store_runs_round_trip(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    struct mem_source src = {.kind = MEM_SOURCE_KIND_SENTENCE,
                             .text = "Glenda Adams wrote Dancing on Coral.",
                             .file = "novels.txt",
                             .line = 3};
    int64_t sid = 0, t1 = 0, t2 = 0, run = 0, run2 = 0;
    assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Dancing on Coral", "author", "Glenda Adams", sid, &t1,
                                    NULL),
                     STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Dancing on Coral", "genre", "novel", 0, &t2, NULL),
                     STATUS_OK);
    struct rows by_src = {0};
    assert_int_equal(mem_triples_by_source(m, sid, collect, &by_src), STATUS_OK);
    assert_int_equal(by_src.n, 1);
    assert_int_equal(by_src.v[0].id, t1);
    free(by_src.v);

    assert_int_equal(mem_run_create(m, "Who wrote Dancing on Coral?", "tiny.gguf",
                                    "{\"temp\":0}", &run),
                     STATUS_OK);
    const char *raw = "({MEM_READ(Dancing on Coral>>author>>)-->";
    assert_int_equal(mem_run_add_call(m, run, 1, MEM_CALL_KIND_READ, raw, "Glenda Adams"),
                     STATUS_OK);
    assert_int_equal(mem_run_add_call(m, run, 1, MEM_CALL_KIND_READ, raw, NULL), STATUS_EXISTS);
    assert_int_equal(mem_run_add_call(m, run, 2, MEM_CALL_KIND_WRITE, "({MEM_WRITE-->})", NULL),
                     STATUS_OK);
    assert_int_equal(mem_run_add_read(m, run, 1, "Dancing on Coral>>author>>", t1, 0.0),
                     STATUS_OK);
    assert_int_equal(mem_run_add_read(m, run, 1, "Dancing on Coral>>author>>", t2, 0.25),
                     STATUS_OK);
    assert_int_equal(mem_run_add_read(m, run, 7, "no such call", t1, 0.0), STATUS_NOT_FOUND);
    assert_int_equal(mem_run_add_read(m, run, 1, "nan", t1, nan("")), STATUS_INVALID);
    assert_int_equal(mem_run_add_read(m, run, 1, "no such triple", 9999, 0.0), STATUS_NOT_FOUND);
    assert_int_equal(mem_run_finish(m, run, "Glenda Adams wrote it."), STATUS_OK);
    assert_int_equal(mem_run_create(m, "second", NULL, NULL, &run2), STATUS_OK);

    struct mem_run *r = NULL;
    assert_int_equal(mem_run_get(m, run, &r), STATUS_OK);
    assert_string_equal(r->prompt, "Who wrote Dancing on Coral?");
    assert_string_equal(r->output, "Glenda Adams wrote it.");
    assert_string_equal(r->model, "tiny.gguf");
    assert_string_equal(r->settings, "{\"temp\":0}");
    assert_true(r->finished_at >= r->created_at && r->created_at > 0);
    assert_int_equal(r->n_calls, 2);
    assert_int_equal(r->calls[0].kind, MEM_CALL_KIND_READ);
    assert_string_equal(r->calls[0].raw, raw);
    assert_string_equal(r->calls[0].result, "Glenda Adams");
    assert_int_equal(r->calls[1].kind, MEM_CALL_KIND_WRITE);
    assert_null(r->calls[1].result);
    assert_int_equal(r->n_reads, 2);
    assert_int_equal(r->reads[0].triple.id, t1);
    assert_string_equal(r->reads[0].triple.obj_name, "Glenda Adams");
    assert_int_equal(r->reads[0].source.id, sid);
    assert_int_equal(r->reads[0].source.kind, MEM_SOURCE_KIND_SENTENCE);
    assert_string_equal(r->reads[0].source.text, "Glenda Adams wrote Dancing on Coral.");
    assert_string_equal(r->reads[0].source.file, "novels.txt");
    assert_int_equal(r->reads[0].source.line, 3);
    assert_int_equal(r->reads[1].source.id, 0);
    assert_null(r->reads[1].source.text);
    assert_true(r->reads[1].score == 0.25);
    mem_run_free(r);
    int64_t uses[9] = {0};
    assert_int_equal(mem_triple_uses(m, t1, collect_uses, uses), STATUS_OK);
    assert_int_equal(uses[0], 1);
    assert_int_equal(uses[1], run);
    assert_int_equal(uses[2], 1);

    int64_t ids[8] = {0};
    assert_int_equal(mem_run_list(m, 0, 0, collect_runs, ids), STATUS_OK);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], run2); /* newest first */
    assert_int_equal(ids[2], run);
    memset(ids, 0, sizeof ids);
    assert_int_equal(mem_run_list(m, run2, 5, collect_runs, ids), STATUS_OK);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], run);

    /* A source written by a run keeps its text when the run is deleted. */
    struct mem_source wsrc = {.kind = MEM_SOURCE_KIND_SENTENCE, .text = "w", .run_id = run};
    int64_t wsid = 0, t3 = 0;
    assert_int_equal(mem_source_add(m, &wsrc, &wsid), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "w", "r", "o", wsid, &t3, NULL), STATUS_OK);
    assert_int_equal(mem_run_delete(m, run), STATUS_OK);
    assert_int_equal(mem_run_get(m, run, &r), STATUS_NOT_FOUND);
    memset(uses, 0, sizeof uses);
    assert_int_equal(mem_triple_uses(m, t1, collect_uses, uses), STATUS_OK);
    assert_int_equal(uses[0], 0); /* the deleted run's reads went with it */
    assert_int_equal(mem_run_delete(m, run), STATUS_NOT_FOUND);
    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, t3, &info), STATUS_OK);
    assert_int_equal(info->source.id, wsid);
    assert_int_equal(info->source.run_id, 0);
    assert_string_equal(info->source.text, "w");
    mem_triple_info_free(info);
    struct mem_stats s = stats(m);
    assert_int_equal(s.runs, 1);
    assert_int_equal(s.sources, 2);
    assert_int_equal(s.triples_live, 3);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
}

static void test_store_stats_count_everything(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    struct mem_stats s = stats(m);
    assert_int_equal(s.entities + s.relations + s.triples_live + s.triples_retired + s.sources +
                         s.runs + s.conflicts,
                     0);
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = "taught"};
    int64_t sid = 0, run = 0, id = 0;
    assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
    add(m, "a", "r1", "b", MEM_OUTCOME_NEW);
    id = add(m, "a", "r2", "c", MEM_OUTCOME_NEW);
    add(m, "d", "r1", "a", MEM_OUTCOME_NEW);
    assert_int_equal(mem_triple_retire(m, id, NULL), STATUS_OK);
    assert_int_equal(mem_run_create(m, "p", NULL, NULL, &run), STATUS_OK);
    int64_t e = 0;
    assert_int_equal(mem_entity_ensure(m, "lonely", NULL, 0, &e, NULL), STATUS_OK);
    s = stats(m);
    assert_int_equal(s.entities, 5);
    assert_int_equal(s.relations, 2);
    assert_int_equal(s.triples_live, 2);
    assert_int_equal(s.triples_retired, 1);
    assert_int_equal(s.sources, 1);
    assert_int_equal(s.runs, 1);
    assert_int_equal(s.conflicts, 0);
    mem_close(m);
}

/* ---- entities, relations, embeddings, meta ------------------------------------------ */

struct named_rows {
    int64_t id[32];
    char name[32][32];
    float v[32][4];
    bool has_vec[32];
    bool sv[32];
    size_t n;
};

static int collect_named(void *ctx, const struct mem_named *row)
{
    struct named_rows *nr = ctx;
    assert_true(nr->n < 32);
    nr->id[nr->n] = row->id;
    snprintf(nr->name[nr->n], 32, "%s", row->name);
    nr->has_vec[nr->n] = row->emb != NULL;
    nr->sv[nr->n] = row->single_valued;
    if (row->emb) {
        assert_int_equal(row->dim, 4);
        memcpy(nr->v[nr->n], row->emb, sizeof nr->v[0]);
    }
    nr->n++;
    return 0;
}

static void test_store_embeddings_stored_and_checked(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    const char *eid = NULL;
    size_t dim = 9;
    mem_embedder_get(m, &eid, &dim);
    assert_null(eid);
    assert_int_equal(dim, 0);
    const float v1[4] = {1.0f, -2.5f, 0.125f, 3e-8f}, v2[4] = {0.5f, 0.5f, 0.5f, -0.5f};
    int64_t a = 0, b = 0, r = 0;
    /* No embedder recorded: vectors are refused, rows without them are fine. */
    assert_int_equal(mem_entity_ensure(m, "A", v1, 4, &a, NULL), STATUS_INVALID);
    assert_int_equal(mem_embedder_check(m, "hash-ngram-v1", 4), STATUS_OK); /* records it */
    mem_embedder_get(m, &eid, &dim);
    assert_string_equal(eid, "hash-ngram-v1");
    assert_int_equal(dim, 4);
    assert_int_equal(mem_embedder_check(m, "hash-ngram-v1", 4), STATUS_OK);
    assert_int_equal(mem_embedder_check(m, "other", 4), STATUS_EMBEDDER_MISMATCH);
    assert_int_equal(mem_embedder_check(m, "hash-ngram-v1", 8), STATUS_EMBEDDER_MISMATCH);

    bool created = false;
    assert_int_equal(mem_entity_ensure(m, "A", v1, 3, &a, &created), STATUS_INVALID);
    assert_int_equal(mem_entity_ensure(m, "A", v1, 4, &a, &created), STATUS_OK);
    assert_true(created);
    assert_int_equal(mem_entity_ensure(m, "A", v2, 4, &b, &created), STATUS_OK);
    assert_false(created); /* existing row: vector unchanged */
    assert_int_equal(a, b);
    assert_int_equal(mem_entity_ensure(m, "B", NULL, 0, &b, &created), STATUS_OK);
    assert_int_equal(mem_relation_ensure(m, "author", v2, 4, &r, &created), STATUS_OK);

    struct named_rows nr = {0};
    assert_int_equal(mem_entity_each(m, false, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 2);
    assert_string_equal(nr.name[0], "A");
    assert_true(nr.has_vec[0]);
    assert_memory_equal(nr.v[0], v1, sizeof v1);
    assert_false(nr.has_vec[1]);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_entity_each(m, true, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 1);
    assert_int_equal(nr.id[0], b);

    assert_int_equal(mem_entity_set_emb(m, b, v2, 4), STATUS_OK);
    assert_int_equal(mem_entity_set_emb(m, b, v2, 5), STATUS_INVALID);
    assert_int_equal(mem_entity_set_emb(m, 999, v2, 4), STATUS_NOT_FOUND);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_entity_each(m, false, collect_named, &nr), STATUS_OK);
    assert_memory_equal(nr.v[1], v2, sizeof v2);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_relation_each(m, false, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 1);
    assert_memory_equal(nr.v[0], v2, sizeof v2);

    /* A new embedder clears every vector (reindex fills them again). */
    assert_int_equal(mem_embedder_set(m, "model:tiny", 4), STATUS_OK);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_entity_each(m, true, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 2);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_relation_each(m, true, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 1);
    assert_int_equal(mem_relation_set_emb(m, r, v1, 4), STATUS_OK);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_relation_each(m, true, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 0);

    char *val = NULL;
    assert_int_equal(mem_meta_get(m, "embedder.id", &val), STATUS_OK);
    assert_string_equal(val, "model:tiny");
    free(val);
    mem_close(m);
}

static void test_store_embedder_survives_reopen(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_embedder_set(m, "e1", 16), STATUS_OK);
    mem_close(m);
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_embedder_check(m, "e2", 16), STATUS_EMBEDDER_MISMATCH);
    assert_non_null(strstr(status_detail(), "e1"));
    assert_int_equal(mem_embedder_check(m, "e1", 16), STATUS_OK);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

/* A failed mem_embedder_set() keeps its reason in the detail (re-reading the recorded
 * embedder afterwards must not clear it). */
static void test_store_embedder_set_failure_keeps_detail(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    mem_close(m);
    char uri[4300];
    snprintf(uri, sizeof uri, "file:%s?mode=ro", path);
    assert_int_equal(mem_open(uri, &m), STATUS_OK);
    status_detail_clear();
    assert_int_equal(mem_embedder_set(m, "e1", 16), STATUS_IO);
    assert_non_null(strstr(status_detail(), "readonly"));
    const char *id = NULL;
    size_t dim = 0;
    mem_embedder_get(m, &id, &dim);
    assert_null(id);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

static void test_store_meta_get_set(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    char *v = NULL;
    assert_int_equal(mem_meta_get(m, "missing", &v), STATUS_NOT_FOUND);
    assert_int_equal(mem_meta_set(m, "k", "one"), STATUS_OK);
    assert_int_equal(mem_meta_set(m, "k", "two; 'x'"), STATUS_OK);
    assert_int_equal(mem_meta_get(m, "k", &v), STATUS_OK);
    assert_string_equal(v, "two; 'x'");
    free(v);
    assert_int_equal(mem_meta_get(m, "schema.created_by", &v), STATUS_OK);
    assert_non_null(strstr(v, "memllm"));
    free(v);
    mem_close(m);
}

static void test_store_entity_prefix_pages(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    static const char *const names[] = {"Stevens", "Steve Jobs", "Steve Wozniak", "Stephen",
                                        "steve lower", "Ste", "Apple", "Steve\xc3\xa9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int64_t id;
        assert_int_equal(mem_entity_ensure(m, names[i], NULL, 0, &id, NULL), STATUS_OK);
    }
    struct named_rows nr = {0};
    assert_int_equal(mem_entity_prefix(m, "Steve", NULL, 2, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 2);
    assert_string_equal(nr.name[0], "Steve Jobs");
    assert_string_equal(nr.name[1], "Steve Wozniak");
    assert_int_equal(mem_entity_prefix(m, "Steve", nr.name[1], 2, collect_named, &nr),
                     STATUS_OK);
    assert_int_equal(nr.n, 4);
    assert_string_equal(nr.name[2], "Stevens");
    assert_string_equal(nr.name[3], "Steve\xc3\xa9");
    assert_int_equal(mem_entity_prefix(m, "Steve", nr.name[3], 2, collect_named, &nr),
                     STATUS_OK);
    assert_int_equal(nr.n, 4);
    memset(&nr, 0, sizeof nr);
    assert_int_equal(mem_entity_prefix(m, "", NULL, 0, collect_named, &nr), STATUS_OK);
    assert_int_equal(nr.n, 8);
    mem_close(m);
}

/* ---- relations.tsv ------------------------------------------------------------------ */

static void test_store_relations_file_loads(void **state)
{
    (void)state;
    const char *top = getenv("top_srcdir");
    char path[4200];
    snprintf(path, sizeof path, "%s/data/relations.tsv", top && top[0] ? top : "..");
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not found (set top_srcdir)\n", path);
        skip();
    }
    setenv("MEMLLM_RELATIONS", path, 1);
    assert_string_equal(mem_relations_default_path(), path);
    unsetenv("MEMLLM_RELATIONS");
    assert_non_null(strstr(mem_relations_default_path(), "/relations.tsv"));
    struct mem *m = open_mem();
    size_t n = 0;
    assert_int_equal(mem_relations_load(m, path, &n), STATUS_OK);
    assert_int_equal(n, 96);
    assert_int_equal(mem_relations_load(m, path, &n), STATUS_OK); /* idempotent */
    assert_int_equal(stats(m).relations, 96);
    static const struct {
        const char *name;
        bool sv;
    } want[] = {{"place of birth", true},  {"date of death", true}, {"capital", true},
                {"country", false},        {"spouse", false},       {"country of citizenship", false},
                {"located in the administrative territorial entity", false}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t id = 0;
        bool sv = !want[i].sv;
        assert_int_equal(mem_relation_find(m, want[i].name, &id), STATUS_OK);
        assert_int_equal(mem_relation_single_valued(m, id, &sv), STATUS_OK);
        assert_int_equal(sv, want[i].sv);
    }
    mem_close(m);
}

static int count_rows(void *ctx, const struct relations_row *row)
{
    (void)row;
    (*(size_t *)ctx)++;
    return 0;
}

static void test_store_relations_parse_rejects_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum status st;
        const char *where;
    } cases[] = {
        {"P1\tok\t0\nP2\tmissing flag\n", STATUS_PARSE, "t:2:"},
        {"P1\tname\t2\n", STATUS_PARSE, "t:1:"},
        {"Q5\tname\t0\n", STATUS_PARSE, "t:1:"},
        {"P1\t\t0\n", STATUS_PARSE, "t:1:"},
        {"P1\tbad\xff\t1\n", STATUS_ENCODING, "t:1:"},
        {"#\n\nP1\tx\x01y\t1\n", STATUS_PARSE, "t:3:"},
        {"P1\ta\tb\t1\n", STATUS_PARSE, "t:1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        assert_int_equal(relations_parse(cases[i].text, strlen(cases[i].text), "t", count_rows, &n),
                         cases[i].st);
        assert_non_null(strstr(status_detail(), cases[i].where));
    }
    size_t n = 0;
    assert_int_equal(relations_parse(small_tsv, sizeof small_tsv - 1, "t", count_rows, &n),
                     STATUS_OK);
    assert_int_equal(n, 3);
    /* A failed load changes nothing. */
    struct mem *m = open_mem();
    const char *text = "P1\tfirst\t1\nP2\tsecond\t7\n";
    assert_int_equal(mem_relations_load_buffer(m, text, strlen(text), "t", &n), STATUS_PARSE);
    assert_int_equal(stats(m).relations, 0);
    mem_close(m);
}

/* ---- crash safety ------------------------------------------------------------------- */

/* The child writes many small transactions and reports each committed id on the pipe;
 * the parent kills it mid-flight and checks that every reported triple survived. */
static void crash_child(const char *path, int fd)
{
    struct mem *m = NULL;
    if (mem_open(path, &m) != STATUS_OK)
        _exit(2);
    for (int i = 0;; i++) {
        char s[32], o[32];
        snprintf(s, sizeof s, "crash-s%d", i);
        snprintf(o, sizeof o, "crash-o%d", i);
        struct mem_source src = {.kind = MEM_SOURCE_KIND_IMPORT, .text = s, .line = i + 1};
        int64_t sid = 0, id = 0;
        if (mem_begin(m) != STATUS_OK || mem_source_add(m, &src, &sid) != STATUS_OK ||
            mem_triple_add(m, s, "crash-rel", o, sid, &id, NULL) != STATUS_OK ||
            mem_commit(m) != STATUS_OK)
            _exit(3);
        int64_t msg[2] = {i, id};
        if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg)
            _exit(4);
    }
}

static void test_store_crash_keeps_committed_triples(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK); /* schema before the child starts */
    mem_close(m);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(path, fds[1]);
        _exit(5);
    }
    close(fds[1]);
    int64_t (*got)[2] = malloc(100000 * sizeof *got);
    assert_non_null(got);
    size_t n = 0;
    bool killed = false;
    for (;;) {
        ssize_t r = read(fds[0], got[n], sizeof got[n]);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            break;
        assert_int_equal(r, (ssize_t)sizeof got[n]); /* 16-byte writes to a pipe are atomic */
        n++;
        if (n == 300 && !killed) {
            assert_int_equal(kill(pid, SIGKILL), 0);
            killed = true;
        }
        assert_true(n < 100000);
    }
    close(fds[0]);
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    assert_int_equal(WTERMSIG(wst), SIGKILL);
    assert_true(n >= 300);

    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_check(m), STATUS_OK);
    for (size_t i = 0; i < n; i++) {
        char s[32], o[32];
        snprintf(s, sizeof s, "crash-s%lld", (long long)got[i][0]);
        snprintf(o, sizeof o, "crash-o%lld", (long long)got[i][0]);
        struct mem_triple_info *info = NULL;
        assert_int_equal(mem_triple_get(m, got[i][1], &info), STATUS_OK);
        assert_string_equal(info->triple.subj_name, s);
        assert_string_equal(info->triple.obj_name, o);
        assert_string_equal(info->source.text, s);
        assert_int_equal(info->source.line, got[i][0] + 1);
        mem_triple_info_free(info);
    }
    /* Whatever the killed transaction left behind was rolled back as a whole. */
    struct mem_stats s = stats(m);
    assert_true(s.triples_live == (int64_t)n || s.triples_live == (int64_t)n + 1);
    assert_int_equal(s.sources, s.triples_live);
    assert_int_equal(s.entities, 2 * s.triples_live);
    mem_close(m);
    free(got);
    free(path);
    test_rmtree(dir);
}

/* ---- bulk transactions ----------------------------------------------------------------- */

/* Append the rows of one query as text, one line per row, to a growing string. */
static void dump_query(sqlite3 *db, const char *sql, char **out, size_t *len)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(q); i++) {
            const char *v = (const char *)sqlite3_column_text(q, i);
            size_t n = v ? strlen(v) : 4;
            char *grown = realloc(*out, *len + n + 2);
            assert_non_null(grown);
            *out = grown;
            memcpy(*out + *len, v ? v : "NULL", n);
            *len += n;
            (*out)[(*len)++] = i + 1 < sqlite3_column_count(q) ? '|' : '\n';
            (*out)[*len] = '\0';
        }
    }
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(q);
}

/* Everything a database holds except times. */
static char *dump_db(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *out = calloc(1, 1);
    size_t len = 0;
    assert_non_null(out);
    dump_query(db, "SELECT id, name, hex(emb) FROM entities ORDER BY id", &out, &len);
    dump_query(db, "SELECT id, name, hex(emb), single_valued, wikidata_id FROM relations"
                   " ORDER BY id", &out, &len);
    dump_query(db, "SELECT id, kind, text, file, line, run_id FROM sources ORDER BY id", &out,
               &len);
    dump_query(db, "SELECT id, subj, rel, obj, source_id, retired_at IS NULL, retire_reason,"
                   " replaced_by, conflict FROM triples ORDER BY id", &out, &len);
    dump_query(db, "SELECT key, value FROM meta ORDER BY key", &out, &len);
    dump_query(db, "SELECT id, prompt, output, model, settings FROM runs ORDER BY id", &out,
               &len);
    dump_query(db, "SELECT run_id, call_no, kind, raw, result FROM run_calls"
                   " ORDER BY run_id, call_no", &out, &len);
    dump_query(db, "SELECT id, run_id, call_no, query, triple_id, score FROM reads ORDER BY id",
               &out, &len);
    sqlite3_close(db);
    return out;
}

/* One script of writes, run inside mem_begin() or mem_begin_bulk(): every kind of
 * outcome, failures included (the caller rolls back after those). */
static void bulk_script(struct mem *m, bool bulk)
{
    assert_int_equal(bulk ? mem_begin_bulk(m) : mem_begin(m), STATUS_OK);
    assert_int_equal(mem_in_bulk(m), bulk);
    assert_int_equal(mem_embedder_set(m, "t", 2), STATUS_OK);
    float v[2] = {0.6f, 0.8f};
    int64_t paris = 0, again = 0, cap = 0, lives = 0, src = 0, id = 0, id2 = 0;
    bool created = false;
    assert_int_equal(mem_entity_ensure(m, "Paris", v, 2, &paris, &created), STATUS_OK);
    assert_true(created);
    assert_int_equal(mem_entity_ensure(m, "Paris", NULL, 2, &again, &created), STATUS_OK);
    assert_false(created);
    assert_int_equal(again, paris);
    assert_int_equal(mem_relation_ensure(m, "capital of", v, 2, &cap, &created), STATUS_OK);
    assert_true(created);
    assert_int_equal(mem_relation_set_single_valued(m, cap, true), STATUS_OK);
    struct mem_source s = {.kind = MEM_SOURCE_KIND_IMPORT, .text = "t", .file = "f.tsv",
                           .line = 3};
    assert_int_equal(mem_source_add(m, &s, &src), STATUS_OK);
    enum mem_outcome oc = MEM_OUTCOME_KNOWN;
    assert_int_equal(mem_triple_add(m, "Paris", "capital of", "France", src, &id, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    assert_int_equal(mem_triple_add(m, "Paris", "capital of", "France", src, &id2, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_KNOWN);
    assert_int_equal(id2, id);
    assert_int_equal(mem_triple_add(m, "Paris", "capital of", "Texas", 0, &id2, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_CONFLICT);
    /* a relation that is not single-valued: the bulk path's one-INSERT case */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mem_triple_add(m, "Paris", "lives in", "Ann", src, &id2, &oc),
                         STATUS_OK);
        assert_int_equal(oc, i == 0 ? MEM_OUTCOME_NEW : MEM_OUTCOME_KNOWN);
    }
    assert_int_equal(mem_relation_find(m, "lives in", &lives), STATUS_OK);
    /* retired, then stored again: a new live copy */
    assert_int_equal(mem_triple_retire(m, id2, "moved"), STATUS_OK);
    int64_t id3 = 0;
    assert_int_equal(mem_triple_add(m, "Paris", "lives in", "Ann", src, &id3, &oc), STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    assert_true(id3 > id2);
    /* the flag changes inside the transaction and the next triple sees it */
    assert_int_equal(mem_relation_set_single_valued(m, lives, true), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Paris", "lives in", "Bob", 0, &id2, &oc), STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_CONFLICT);
    assert_int_equal(mem_relation_set_single_valued(m, lives, false), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Paris", "lives in", "Cy", 0, &id2, &oc), STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    int64_t nid = 0;
    assert_int_equal(mem_triple_edit(m, id3, NULL, NULL, "Dee", 0, "typo", &nid, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    /* refused writes: same status either way */
    assert_int_equal(mem_triple_add_ids(m, paris, cap, 9999, 0, &id2, &oc), STATUS_NOT_FOUND);
    assert_int_equal(mem_triple_add_ids(m, paris, lives, paris, 777, &id2, &oc),
                     STATUS_NOT_FOUND);
    assert_int_equal(mem_triple_add_ids(m, paris, 4242, paris, 0, &id2, &oc), STATUS_NOT_FOUND);
    assert_int_equal(mem_entity_ensure(m, "", NULL, 0, &id2, NULL), STATUS_INVALID);
    assert_int_equal(mem_triple_add_ids(m, 8888, lives, paris, 0, &id2, &oc), STATUS_NOT_FOUND);
    assert_int_equal(mem_triple_add_ids(m, paris, lives, paris, src, &id2, &oc), STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    /* runs: in a bulk transaction the store checks what SQLite's foreign keys check in a
     * plain one, and performs the delete's actions */
    int64_t run = 0, run2 = 0, rsrc = 0;
    assert_int_equal(mem_run_create(m, "q?", NULL, NULL, &run), STATUS_OK);
    assert_int_equal(mem_run_add_call(m, run, 1, MEM_CALL_KIND_READ, "raw", "res"), STATUS_OK);
    assert_int_equal(mem_run_add_call(m, run + 100, 1, MEM_CALL_KIND_READ, "raw", NULL),
                     STATUS_NOT_FOUND);
    assert_int_equal(mem_run_add_read(m, run, 1, "q", id, 0.5), STATUS_OK);
    assert_int_equal(mem_run_add_read(m, run, 2, "q", id, 0.5), STATUS_NOT_FOUND);
    assert_int_equal(mem_run_add_read(m, run, 1, "q", 99999, 0.5), STATUS_NOT_FOUND);
    struct mem_source rs = {.kind = MEM_SOURCE_KIND_SENTENCE, .text = "said", .run_id = run};
    assert_int_equal(mem_source_add(m, &rs, &rsrc), STATUS_OK);
    rs.run_id = run + 100;
    assert_int_equal(mem_source_add(m, &rs, &id2), STATUS_NOT_FOUND);
    assert_int_equal(mem_run_create(m, "kept", NULL, NULL, &run2), STATUS_OK);
    assert_int_equal(mem_run_add_call(m, run2, 1, MEM_CALL_KIND_WRITE, "w", NULL), STATUS_OK);
    assert_int_equal(mem_run_add_read(m, run2, 1, "q", id, 0.25), STATUS_OK);
    assert_int_equal(mem_run_delete(m, run), STATUS_OK);
    assert_int_equal(mem_run_delete(m, run), STATUS_NOT_FOUND);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_false(mem_in_bulk(m));
    /* afterwards SQLite checks again */
    assert_int_equal(mem_triple_add_ids(m, 8888, lives, paris, 0, &id2, &oc), STATUS_NOT_FOUND);
    assert_int_equal(mem_run_add_call(m, run + 100, 1, MEM_CALL_KIND_READ, "raw", NULL),
                     STATUS_NOT_FOUND);
}

static void test_store_bulk_same_contents_as_plain(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    char path2[4300];
    snprintf(path2, sizeof path2, "%s/bulk.db", dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    bulk_script(m, false);
    mem_close(m);
    assert_int_equal(mem_open(path2, &m), STATUS_OK);
    bulk_script(m, true);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
    char *a = dump_db(path), *b = dump_db(path2);
    assert_true(strlen(a) > 200);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(path);
    test_rmtree(dir);
}

static void test_store_bulk_ends_with_its_transaction(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    int64_t id = 0;
    /* a rolled-back bulk transaction leaves nothing */
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    assert_true(mem_in_bulk(m));
    assert_int_equal(mem_begin_bulk(m), STATUS_INVALID); /* not nestable */
    assert_int_equal(mem_triple_add(m, "a", "r", "b", 0, &id, NULL), STATUS_OK);
    assert_int_equal(mem_rollback(m), STATUS_OK);
    assert_false(mem_in_bulk(m));
    assert_int_equal(stats(m).entities, 0);
    /* afterwards each write is atomic on its own again: a failing one leaves no part */
    assert_int_equal(mem_triple_add(m, "a", "r", "b", 12345, &id, NULL), STATUS_NOT_FOUND);
    struct mem_stats s = stats(m);
    assert_int_equal(s.entities, 0);
    assert_int_equal(s.relations, 0);
    /* and inside a plain transaction too (a savepoint per write) */
    assert_int_equal(mem_begin(m), STATUS_OK);
    assert_false(mem_in_bulk(m));
    assert_int_equal(mem_triple_add(m, "a", "r", "b", 12345, &id, NULL), STATUS_NOT_FOUND);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(stats(m).entities, 0);
    /* a cached relation flag does not outlive the transaction */
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "b", MEM_OUTCOME_NEW);
    assert_int_equal(mem_commit(m), STATUS_OK);
    int64_t r = 0;
    assert_int_equal(mem_relation_find(m, "r", &r), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(m, r, true), STATUS_OK);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "c", MEM_OUTCOME_CONFLICT);
    assert_int_equal(mem_commit(m), STATUS_OK);
    mem_close(m);
}

/* A bulk transaction on a file nobody else has open runs with a rollback journal and
 * leaves the file in WAL mode, committed or rolled back; with another connection open
 * it stays in WAL mode, and that connection goes on reading while the import runs. */
static void test_store_bulk_journal_mode(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    add(m, "a", "r", "b", MEM_OUTCOME_NEW);
    assert_journal_mode(path, "wal");

    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "c", MEM_OUTCOME_NEW);
    assert_journal_mode(path, "delete");
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_journal_mode(path, "wal");
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM triples"), 2);

    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "d", MEM_OUTCOME_NEW);
    assert_int_equal(mem_rollback(m), STATUS_OK);
    assert_journal_mode(path, "wal");
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM triples"), 2);

    /* a reader holding the file: the import stays in WAL mode */
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open(path, &reader), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM triples", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), 2);
    assert_int_equal(sqlite3_reset(q), SQLITE_OK);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "e", MEM_OUTCOME_NEW);
    assert_journal_mode(path, "wal");
    assert_int_equal(sqlite3_step(q), SQLITE_ROW); /* sees the last commit, not the import */
    assert_int_equal(sqlite3_column_int64(q, 0), 2);
    assert_int_equal(sqlite3_reset(q), SQLITE_OK);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), 3);
    sqlite3_finalize(q);
    sqlite3_close(reader);
    assert_journal_mode(path, "wal");
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

/* Opening a file that a bulk import has switched to a rollback journal waits for the
 * busy timeout, reports the database busy, and succeeds once the import is over. */
static void test_store_open_waits_for_bulk_import(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    add(m, "a", "r", "b", MEM_OUTCOME_NEW);
    assert_journal_mode(path, "delete");
    struct mem_open_opts o = {.busy_timeout_ms = 300};
    struct mem *other = NULL;
    uint64_t t0 = timing_now_ns();
    assert_int_equal(mem_open_with(path, &o, &other), STATUS_DB_BUSY);
    double waited = timing_since_s(t0);
    assert_null(other);
    assert_true(waited >= 0.25); /* waited, did not give up at once */
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_open_with(path, &o, &other), STATUS_OK);
    assert_int_equal(stats(other).triples_live, 1);
    mem_close(other);
    mem_close(m);
    assert_journal_mode(path, "wal");
    free(path);
    test_rmtree(dir);
}

/* ---- bulk imports: index work deferred to the commit --------------------------------- */

static int count_triples(void *ctx, const struct mem_triple *t)
{
    (void)t;
    ++*(size_t *)ctx;
    return 0;
}

static struct mem *open_defer(const char *path, int64_t defer_min)
{
    struct mem_open_opts o = {.defer_min_rows = defer_min};
    struct mem *m = NULL;
    assert_int_equal(mem_open_with(path, &o, &m), STATUS_OK);
    return m;
}

/* The database's index and table definitions, one per line, by name. */
static char *dump_schema(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *out = calloc(1, 1);
    size_t len = 0;
    assert_non_null(out);
    dump_query(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name", &out,
               &len);
    sqlite3_close(db);
    return out;
}

/* The schema and the rows of a closed database file, to compare it before and after. */
struct file_state {
    char *schema, *rows;
};

static struct file_state file_state_of(const char *path)
{
    struct file_state f = {dump_schema(path), dump_db(path)};
    return f;
}

/* The file at path has the schema and rows it had in *was; frees *was. */
static void assert_file_state(struct file_state *was, const char *path)
{
    struct file_state now = file_state_of(path);
    assert_string_equal(was->schema, now.schema);
    assert_string_equal(was->rows, now.rows);
    free(was->schema);
    free(was->rows);
    free(now.schema);
    free(now.rows);
}

/* An import of n triples, triple i from its own source: subjects repeat (every third),
 * five relations of which "rel 0" is single-valued (conflicts), every 10th triple
 * repeats an earlier one (known). */
static void import_script(struct mem *m, int n, int base)
{
    int64_t r0 = 0;
    assert_int_equal(mem_relation_ensure(m, "rel 0", NULL, 0, &r0, NULL), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(m, r0, true), STATUS_OK);
    for (int i = base; i < base + n; i++) {
        char s[48], r[16], o[48], text[64];
        int k = i % 10 == 9 ? i - 9 : i;
        snprintf(s, sizeof s, "Subject %d q", k / 3);
        snprintf(r, sizeof r, "rel %d", k % 5);
        snprintf(o, sizeof o, "Object %d z", k);
        snprintf(text, sizeof text, "line %d", i);
        struct mem_source src = {.kind = MEM_SOURCE_KIND_IMPORT, .text = text,
                                 .file = "big.tsv", .line = i + 1};
        int64_t sid = 0, id = 0;
        enum mem_outcome oc = MEM_OUTCOME_NEW;
        assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
        enum status st = mem_triple_add(m, s, r, o, sid, &id, &oc);
        if (st != STATUS_OK)
            fprintf(stderr, "triple %d: %s\n", i, status_detail());
        assert_int_equal(st, STATUS_OK);
        assert_int_equal(oc == MEM_OUTCOME_KNOWN, k != i);
    }
}

/* Counts of substring filters, with the search index and by scanning (the oracle). */
static void assert_search_matches_scan(const char *path)
{
    static const char *const subj[] = {"ubject 1", "ject 33 ", "T 99", "bject", "nothing"};
    static const char *const src[] = {"ine 1", "line 250", "big.t", "ine 6", "absent"};
    struct mem *m = NULL, *scan = NULL;
    struct mem_open_opts no_index = {.no_search_index = true};
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_true(mem_search_indexed(m));
    for (size_t i = 0; i < sizeof subj / sizeof subj[0]; i++) {
        struct mem_filter fs = {.subj = subj[i], .match = MEM_MATCH_SUBSTRING};
        struct mem_filter fo = {.obj = subj[i] + 1, .match = MEM_MATCH_SUBSTRING};
        struct mem_filter fx = {.source = src[i], .match = MEM_MATCH_SUBSTRING};
        int64_t a[3] = {0}, b[3] = {0};
        assert_int_equal(mem_triple_count(m, &fs, &a[0]), STATUS_OK);
        assert_int_equal(mem_triple_count(m, &fo, &a[1]), STATUS_OK);
        assert_int_equal(mem_triple_count(m, &fx, &a[2]), STATUS_OK);
        mem_close(m);
        assert_int_equal(mem_open_with(path, &no_index, &scan), STATUS_OK);
        assert_int_equal(mem_triple_count(scan, &fs, &b[0]), STATUS_OK);
        assert_int_equal(mem_triple_count(scan, &fo, &b[1]), STATUS_OK);
        assert_int_equal(mem_triple_count(scan, &fx, &b[2]), STATUS_OK);
        mem_close(scan);
        for (int j = 0; j < 3; j++)
            assert_int_equal(a[j], b[j]);
        /* the scan marked the index stale: the next open builds it again */
        assert_int_equal(mem_open(path, &m), STATUS_OK);
    }
    mem_close(m);
}

static void test_store_bulk_deferred_indexes_same_contents(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    char path2[4300];
    snprintf(path2, sizeof path2, "%s/deferred.db", dir);
    const int n = 600;
    /* plain transaction, never deferring */
    struct mem *m = open_defer(path, -1);
    assert_int_equal(mem_begin(m), STATUS_OK);
    import_script(m, 30, 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_begin(m), STATUS_OK);
    import_script(m, n, 30);
    assert_int_equal(mem_commit(m), STATUS_OK);
    mem_close(m);
    /* bulk, deferring from 50 triples on */
    m = open_defer(path2, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 30, 0);
    assert_int_equal(mem_bulk_deferred(m), 0); /* below the threshold */
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 60, 30);
    size_t deferred = mem_bulk_deferred(m);
    assert_int_equal(deferred, 5);
    import_script(m, n - 60, 90);
    assert_int_equal(mem_bulk_deferred(m), deferred);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_bulk_deferred(m), 0);
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);

    char *a = dump_db(path), *b = dump_db(path2);
    assert_true(strlen(a) > 1000);
    assert_string_equal(a, b);
    free(a);
    free(b);
    a = dump_schema(path);
    b = dump_schema(path2);
    assert_non_null(strstr(a, "triples_rel_obj"));
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_search_matches_scan(path2);

    /* a second import into a table four times larger than it defers nothing */
    m = open_defer(path2, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 60, 5000);
    assert_int_equal(mem_bulk_deferred(m), 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    struct mem_stats s = stats(m);
    assert_int_equal(s.sources, 30 + n + 60);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

/* While the indexes are deferred, reads through the connection see complete ones. */
static void test_store_bulk_reads_settle_deferred_work(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = open_defer(path, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 100, 0);
    assert_true(mem_bulk_deferred(m) > 0);
    /* a page by subject walks triples_subj (INDEXED BY) */
    struct rows rs = {0};
    struct mem_page p = {.sort = MEM_SORT_SUBJECT};
    assert_int_equal(mem_triple_list(m, NULL, &p, collect, &rs), STATUS_OK);
    assert_int_equal(mem_bulk_deferred(m), 0);
    assert_int_equal(rs.n, 90); /* 10 were known */
    for (size_t i = 1; i < rs.n; i++)
        assert_true(strcmp(rs.v[i - 1].s, rs.v[i].s) < 0 ||
                    (strcmp(rs.v[i - 1].s, rs.v[i].s) == 0 && rs.v[i - 1].id < rs.v[i].id));
    free(rs.v);
    /* names added in this transaction are found by the search index */
    struct mem_filter f = {.subj = "ject 3 q", .match = MEM_MATCH_SUBSTRING};
    int64_t n = 0;
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 2); /* Subject 3 q: triples 10 and 11 (19 repeats 10) */
    f = (struct mem_filter){.source = "line 7", .match = MEM_MATCH_SUBSTRING};
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 10); /* line 7, line 70..79 less the known 79 */
    /* conflicts walk triples_rel */
    size_t conflicts = 0;
    assert_int_equal(mem_conflict_each(m, count_triples, &conflicts), STATUS_OK);
    assert_int_equal(conflicts, 0);
    /* the rest of the import is not deferred again; everything commits */
    import_script(m, 200, 100);
    assert_int_equal(mem_bulk_deferred(m), 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    assert_int_equal(mem_check(m), STATUS_OK);
    assert_int_equal(stats(m).triples_live, 270);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

static void test_store_bulk_deferred_rollback_restores_indexes(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = open_defer(path, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 20, 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    mem_close(m);
    struct file_state before = file_state_of(path);
    m = open_defer(path, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 200, 20);
    assert_true(mem_bulk_deferred(m) > 0);
    assert_int_equal(mem_rollback(m), STATUS_OK);
    assert_int_equal(mem_bulk_deferred(m), 0);
    assert_int_equal(stats(m).triples_live, 18);
    /* the connection goes on with complete indexes: a page by object (triples_obj) */
    struct rows rs = {0};
    struct mem_page p = {.sort = MEM_SORT_OBJECT};
    assert_int_equal(mem_triple_list(m, NULL, &p, collect, &rs), STATUS_OK);
    assert_int_equal(rs.n, 18);
    free(rs.v);
    mem_close(m);
    assert_file_state(&before, path);
    free(path);
    test_rmtree(dir);
}

/* A process killed while its import has the indexes dropped: the file keeps every
 * index and every committed triple, and none of the import. */
static void test_store_bulk_killed_while_deferred(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = open_defer(path, -1);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 40, 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    mem_close(m);
    struct file_state before = file_state_of(path);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct mem_open_opts o = {.defer_min_rows = 50};
        struct mem *c = NULL;
        if (mem_open_with(path, &o, &c) != STATUS_OK || mem_begin_bulk(c) != STATUS_OK)
            _exit(2);
        import_script(c, 3000, 40);
        char msg = mem_bulk_deferred(c) > 0 ? 'd' : 'n';
        if (write(fds[1], &msg, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(fds[1]);
    char msg = 0;
    ssize_t r;
    while ((r = read(fds[0], &msg, 1)) < 0 && errno == EINTR)
        ;
    assert_int_equal(r, 1);
    assert_int_equal(msg, 'd');
    assert_int_equal(kill(pid, SIGKILL), 0);
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    close(fds[0]);
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(mem_check(m), STATUS_OK);
    assert_int_equal(stats(m).triples_live, 36);
    mem_close(m);
    assert_file_state(&before, path);
    free(path);
    test_rmtree(dir);
}

/* Search-index tables from before columnsize=0 keep answering and taking new rows. */
static void test_store_older_search_tables_kept(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = open_defer(path, 50);
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 40, 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    mem_close(m);
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                      " 'entities_fts' AND sql LIKE '%columnsize=0%'"), 1);
    sqlite_exec(path, "DROP TABLE entities_fts; DROP TABLE sources_fts;"
                      "CREATE VIRTUAL TABLE entities_fts USING fts5(name, content='',"
                      " detail=none, tokenize='trigram');"
                      "CREATE VIRTUAL TABLE sources_fts USING fts5(text, file, content='',"
                      " detail=none, tokenize='trigram');"
                      "INSERT INTO entities_fts(rowid, name) SELECT id, name FROM entities;"
                      "INSERT INTO sources_fts(rowid, text, file) SELECT id, text, file"
                      " FROM sources;");
    m = open_defer(path, 50);
    assert_true(mem_search_indexed(m));
    assert_int_equal(mem_begin_bulk(m), STATUS_OK);
    import_script(m, 300, 40);
    assert_true(mem_bulk_deferred(m) > 0);
    assert_int_equal(mem_commit(m), STATUS_OK);
    struct mem_filter f = {.subj = "ject 50 q", .match = MEM_MATCH_SUBSTRING};
    int64_t n = 0;
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 3); /* Subject 50 q: triples 150, 151, 152 */
    mem_close(m);
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                      " 'entities_fts' AND sql LIKE '%columnsize%'"), 0);
    assert_search_matches_scan(path);
    free(path);
    test_rmtree(dir);
}

/* ---- substring filters: the trigram index and the scans agree ------------------------ */

/* Pieces of generated names: ASCII of both cases, LIKE's wildcards and escape, a double
 * quote (FTS5's string delimiter), a space and multi-byte characters whose case the
 * index folds but LIKE does not. */
static const char *const name_pieces[] = {
    "a", "B", "c", "A", "b", "%", "_", "\\", "\"", " ", "x", "Y", "\xC3\xA9" /* é */,
    "\xC3\x89" /* É */, "\xC3\x9F" /* ß */, "\xC3\xBC" /* ü */, "\xC3\x9C" /* Ü */,
    "\xE6\x97\xA5" /* 日 */, "\xC4\xB0" /* İ */, "\xF0\x9F\x99\x82" /* emoji */,
};
#define N_PIECES (sizeof name_pieces / sizeof name_pieces[0])

static void gen_name(uint32_t *seed, char *out, size_t cap, unsigned max_pieces)
{
    out[0] = '\0';
    unsigned n = 1 + lcg(seed) % max_pieces;
    for (unsigned i = 0; i < n; i++)
        strncat(out, name_pieces[lcg(seed) % N_PIECES], cap - strlen(out) - 1);
}

/* "contains needle, ASCII letters of either case", written out here as the oracle. */
static bool contains_ci(const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t n = strlen(needle), h = strlen(hay);
    for (size_t i = 0; i + n <= h; i++) {
        size_t k = 0;
        while (k < n) {
            unsigned char a = (unsigned char)hay[i + k], b = (unsigned char)needle[k];
            if (a >= 'A' && a <= 'Z')
                a = (unsigned char)(a + 32);
            if (b >= 'A' && b <= 'Z')
                b = (unsigned char)(b + 32);
            if (a != b)
                break;
            k++;
        }
        if (k == n)
            return true;
    }
    return false;
}

/* A filter text: a piece of a stored name with its ASCII case flipped at random, or
 * random pieces; 1 to 6 pieces long. */
static void gen_filter(uint32_t *seed, const struct rows *all, char *out, size_t cap)
{
    if (lcg(seed) % 4 == 0 || all->n == 0) {
        gen_name(seed, out, cap, 4);
        return;
    }
    const struct row *r = &all->v[lcg(seed) % all->n];
    const char *src = lcg(seed) % 2 ? r->s : r->o;
    size_t len = strlen(src);
    size_t at = lcg(seed) % len;
    while (at > 0 && ((unsigned char)src[at] & 0xC0) == 0x80)
        at--;
    size_t want = 1 + lcg(seed) % 6, end = at;
    for (size_t c = 0; c < want && end < len; c++) {
        end++;
        while (end < len && ((unsigned char)src[end] & 0xC0) == 0x80)
            end++;
    }
    snprintf(out, cap, "%.*s", (int)(end - at), src + at);
    for (char *p = out; *p; p++) {
        if (lcg(seed) % 2 && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            *p = (char)(*p ^ 0x20);
    }
}

static void rows_free(struct rows *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Page through every sort and direction on two connections (one using the index, one
 * scanning) and against the oracle's rows (ids of all, in id order). */
static void check_filter_both(struct mem *fast, struct mem *slow, const struct mem_filter *f,
                              const struct rows *want, size_t page)
{
    int64_t n_fast = -1, n_slow = -1, n_max = -1;
    enum status st = mem_triple_count(fast, f, &n_fast);
    if (st != STATUS_OK)
        fprintf(stderr, "count [%s|%s|%s|%s]: %s\n", f->subj ? f->subj : "-",
                f->rel ? f->rel : "-", f->obj ? f->obj : "-", f->source ? f->source : "-",
                status_detail());
    assert_int_equal(st, STATUS_OK);
    assert_int_equal(mem_triple_count(slow, f, &n_slow), STATUS_OK);
    assert_int_equal(n_fast, (int64_t)want->n);
    assert_int_equal(n_slow, (int64_t)want->n);
    assert_int_equal(mem_triple_count_max(fast, f, 5, &n_max), STATUS_OK);
    assert_int_equal(n_max, want->n < 5 ? (int64_t)want->n : 5);
    for (int sort = MEM_SORT_ID; sort <= MEM_SORT_OBJECT; sort++) {
        struct rows exp = {0};
        exp.v = malloc((want->n + 1) * sizeof *exp.v);
        assert_non_null(exp.v);
        if (want->n)
            memcpy(exp.v, want->v, want->n * sizeof *exp.v);
        exp.n = want->n;
        cmp_key = sort;
        qsort(exp.v, exp.n, sizeof *exp.v, row_cmp);
        for (int back = 0; back < 2; back++) {
            struct rows a = {0}, b = {0};
            page_all(fast, f, (enum mem_sort)sort, back, page, &a, 0);
            page_all(slow, f, (enum mem_sort)sort, back, page, &b, 0);
            assert_int_equal(a.n, exp.n);
            assert_int_equal(b.n, exp.n);
            for (size_t i = 0; i < exp.n; i++) {
                size_t j = back ? exp.n - 1 - i : i;
                assert_int_equal(a.v[i].id, exp.v[j].id);
                assert_int_equal(b.v[i].id, exp.v[j].id);
            }
            rows_free(&a);
            rows_free(&b);
        }
        rows_free(&exp);
    }
}

/* The source of each triple, for the oracle (index: triple id). */
struct src_of {
    char text[64], file[64];
    bool has;
};

static void filter_index_matches_scan(int walk_budget)
{
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *fast = NULL, *slow = NULL;
    struct mem_open_opts fo = {.walk_budget = walk_budget};
    assert_int_equal(mem_open_with(path, &fo, &fast), STATUS_OK);
    assert_true(mem_search_indexed(fast)); /* Debian 12's SQLite 3.40 has FTS5 trigram */
    enum { N = 700 };
    static struct src_of srcs[N + 8];
    memset(srcs, 0, sizeof srcs);
    uint32_t seed = 4242;
    int64_t src_ids[6];
    char src_text[6][64], src_file[6][64];
    assert_int_equal(mem_begin(fast), STATUS_OK);
    for (int k = 0; k < 6; k++) {
        gen_name(&seed, src_text[k], sizeof src_text[k], 6);
        snprintf(src_file[k], sizeof src_file[k], "file%d-%s.tsv", k, k % 2 ? "Ab%" : "c_D");
        struct mem_source ms = {.kind = MEM_SOURCE_KIND_IMPORT,
                                .text = k == 5 ? NULL : src_text[k], .file = src_file[k]};
        assert_int_equal(mem_source_add(fast, &ms, &src_ids[k]), STATUS_OK);
    }
    for (int i = 0; i < N; i++) {
        char s[64], r[64], o[64];
        gen_name(&seed, s, sizeof s, i % 3 ? 7 : 2);
        snprintf(r, sizeof r, "rel %c%u", "aBc%_"[lcg(&seed) % 5], lcg(&seed) % 6);
        gen_name(&seed, o, sizeof o, 5);
        int k = (int)(lcg(&seed) % 7);
        int64_t id = 0;
        enum mem_outcome oc;
        /* half of them through the bulk path */
        if (i == N / 2) {
            assert_int_equal(mem_commit(fast), STATUS_OK);
            assert_int_equal(mem_begin_bulk(fast), STATUS_OK);
        }
        assert_int_equal(mem_triple_add(fast, s, r, o, k < 6 ? src_ids[k] : 0, &id, &oc),
                         STATUS_OK);
        if (oc != MEM_OUTCOME_KNOWN && id < N + 8 && k < 6) {
            srcs[id].has = k != 5 || true;
            snprintf(srcs[id].text, sizeof srcs[id].text, "%s", k == 5 ? "" : src_text[k]);
            snprintf(srcs[id].file, sizeof srcs[id].file, "%s", src_file[k]);
        }
        if (i % 13 == 0)
            assert_int_equal(mem_triple_retire(fast, id, NULL), STATUS_OK);
    }
    assert_int_equal(mem_commit(fast), STATUS_OK);
    struct mem_open_opts no_index = {.no_search_index = true};
    assert_int_equal(mem_open_with(path, &no_index, &slow), STATUS_OK);
    assert_false(mem_search_indexed(slow));

    struct rows all = {0};
    struct mem_filter every = {.include_retired = true};
    struct mem_page p0 = {.sort = MEM_SORT_ID};
    assert_int_equal(mem_triple_list(fast, &every, &p0, collect, &all), STATUS_OK);
    assert_true(all.n > N / 2);

    for (int round = 0; round < 60; round++) {
        char ts[64] = "", tr[64] = "", to[64] = "", tsrc[64] = "";
        struct mem_filter f = {.match = MEM_MATCH_SUBSTRING, .include_retired = round % 3 == 0};
        int which = round % 8;
        if (which == 0 || which == 4 || which == 6) {
            gen_filter(&seed, &all, ts, sizeof ts);
            f.subj = ts;
        }
        if (which == 1 || which == 4) {
            gen_filter(&seed, &all, to, sizeof to);
            f.obj = to;
        }
        if (which == 2 || which == 6) {
            snprintf(tr, sizeof tr, "%c", "aBc%_"[lcg(&seed) % 5]);
            f.rel = tr;
        }
        if (which == 3 || which == 5 || which == 7) {
            int k = (int)(lcg(&seed) % 6);
            const char *t = src_text[k];
            size_t skip = 1; /* drop the first character */
            while (t[skip] && ((unsigned char)t[skip] & 0xC0) == 0x80)
                skip++;
            if (round % 2 && strlen(t + skip) >= 1)
                snprintf(tsrc, sizeof tsrc, "%s", t + skip);
            else
                snprintf(tsrc, sizeof tsrc, "%s", k % 2 ? "ab%" : "FILE");
            f.source = tsrc;
            if (which == 7) {
                gen_filter(&seed, &all, ts, sizeof ts);
                f.subj = ts;
            }
        }
        struct rows want = {0};
        for (size_t i = 0; i < all.n; i++) {
            const struct row *r = &all.v[i];
            if (!f.include_retired && r->retired_at)
                continue;
            if ((f.subj && !contains_ci(r->s, f.subj)) || (f.rel && !contains_ci(r->r, f.rel)) ||
                (f.obj && !contains_ci(r->o, f.obj)))
                continue;
            if (f.source) {
                const struct src_of *so = r->id < N + 8 ? &srcs[r->id] : NULL;
                if (!so || !so->has ||
                    !(contains_ci(so->text, f.source) || contains_ci(so->file, f.source)))
                    continue;
            }
            if (want.n == want.cap) {
                want.cap = want.cap ? 2 * want.cap : 64;
                want.v = realloc(want.v, want.cap * sizeof *want.v);
                assert_non_null(want.v);
            }
            want.v[want.n++] = *r;
        }
        check_filter_both(fast, slow, &f, &want, 1 + lcg(&seed) % 9);
        rows_free(&want);
    }
    rows_free(&all);
    mem_close(slow);
    mem_close(fast);
    free(path);
    test_rmtree(dir);
}

static void test_store_filter_index_matches_scan(void **state)
{
    (void)state;
    filter_index_matches_scan(0);
}

/* The same with the smallest walk budget: pages change plan midway. */
static void test_store_filter_small_budget_matches_scan(void **state)
{
    (void)state;
    filter_index_matches_scan(1);
}

/* Enough rows that a page's walk runs out of its budget on a rare short filter and goes
 * on with the scan plan: the same rows as the scanning connection, page after page. */
static void test_store_filter_budget_fallback_same_rows(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *fast = NULL, *slow = NULL;
    struct mem_open_opts small = {.walk_budget = 20};
    assert_int_equal(mem_open_with(path, &small, &fast), STATUS_OK);
    assert_int_equal(mem_begin_bulk(fast), STATUS_OK);
    enum { N = 30000 };
    for (int i = 0; i < N; i++) {
        char s[64], o[64];
        /* rare marks: "Q" and "qzq" early and late, a common "ab" everywhere */
        bool rare = i < 3 || i % 4999 == 0 || i > N - 3;
        snprintf(s, sizeof s, "%s subject %d ab", rare ? "Qzq" : "s", i);
        snprintf(o, sizeof o, "object %d", i % 5000);
        add(fast, s, i % 2 ? "rel one" : "rel two", o, MEM_OUTCOME_NEW);
    }
    assert_int_equal(mem_commit(fast), STATUS_OK);
    struct mem_open_opts no_index = {.no_search_index = true};
    assert_int_equal(mem_open_with(path, &no_index, &slow), STATUS_OK);
    const char *texts[] = {"q", "QZ", "qzq", "zq s", "ab", "9 ab"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        for (int sort = MEM_SORT_ID; sort <= MEM_SORT_OBJECT; sort += 1) {
            struct mem_filter f = {.subj = texts[t], .match = MEM_MATCH_SUBSTRING};
            if (sort == MEM_SORT_RELATION)
                f.rel = "one";
            for (int back = 0; back < 2; back++) {
                /* three pages of 4 from each end */
                struct mem_page pa = {.sort = (enum mem_sort)sort, .backward = back,
                                      .limit = 4};
                struct mem_page pb = pa;
                char ka[128] = "", kb[128] = "";
                for (int pg = 0; pg < 3; pg++) {
                    struct rows a = {0}, b = {0};
                    assert_int_equal(mem_triple_list(fast, &f, &pa, collect, &a), STATUS_OK);
                    assert_int_equal(mem_triple_list(slow, &f, &pb, collect, &b), STATUS_OK);
                    assert_int_equal(a.n, b.n);
                    for (size_t i = 0; i < a.n; i++)
                        assert_int_equal(a.v[i].id, b.v[i].id);
                    if (a.n) {
                        pa.after_id = pb.after_id = a.v[a.n - 1].id;
                        const char *k = row_key(&a.v[a.n - 1], (enum mem_sort)sort);
                        snprintf(ka, sizeof ka, "%s", k ? k : "");
                        snprintf(kb, sizeof kb, "%s", ka);
                        if (sort != MEM_SORT_ID) {
                            pa.after_key = ka;
                            pb.after_key = kb;
                        }
                    }
                    rows_free(&a);
                    rows_free(&b);
                }
            }
            int64_t na = -1, nb = -1, nm = -1;
            assert_int_equal(mem_triple_count(fast, &f, &na), STATUS_OK);
            assert_int_equal(mem_triple_count(slow, &f, &nb), STATUS_OK);
            assert_int_equal(na, nb);
            assert_int_equal(mem_triple_count_max(fast, &f, 100, &nm), STATUS_OK);
            assert_int_equal(nm, na < 100 ? na : 100);
        }
    }
    mem_close(slow);
    mem_close(fast);
    free(path);
    test_rmtree(dir);
}

static void test_store_source_filter(void **state)
{
    (void)state;
    struct mem *m = open_mem();
    struct mem_source a = {.kind = MEM_SOURCE_KIND_SENTENCE,
                           .text = "Marie Curie won the Nobel Prize in 1903.", .file = "bio.txt"};
    struct mem_source b = {.kind = MEM_SOURCE_KIND_IMPORT, .text = NULL, .file = "facts_2%.tsv"};
    int64_t ia = 0, ib = 0, id = 0;
    assert_int_equal(mem_source_add(m, &a, &ia), STATUS_OK);
    assert_int_equal(mem_source_add(m, &b, &ib), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Marie Curie", "award received", "Nobel Prize", ia, &id,
                                    NULL), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Paris", "country", "France", ib, &id, NULL), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Berlin", "country", "Germany", ib, &id, NULL),
                     STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Rome", "country", "Italy", 0, &id, NULL), STATUS_OK);
    struct {
        struct mem_filter f;
        int64_t n;
    } cases[] = {
        {{.source = "nobel prize", .match = MEM_MATCH_SUBSTRING}, 1}, /* text, case ignored */
        {{.source = "BIO", .match = MEM_MATCH_SUBSTRING}, 1},         /* file name */
        {{.source = "s_2%.", .match = MEM_MATCH_SUBSTRING}, 2},       /* literal % and _ */
        {{.source = "s_2%x", .match = MEM_MATCH_SUBSTRING}, 0},
        {{.source = "t", .match = MEM_MATCH_SUBSTRING}, 3},           /* short: scanned */
        {{.source = "facts_2%.tsv"}, 2},                              /* exact file */
        {{.source = "facts"}, 0},
        {{.source = "Marie Curie won the Nobel Prize in 1903."}, 1},
        {{.source = "t", .subj = "ber", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.source = "Rome", .match = MEM_MATCH_SUBSTRING}, 0},        /* no source: never */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = -1;
        assert_int_equal(mem_triple_count(m, &cases[i].f, &n), STATUS_OK);
        assert_int_equal(n, cases[i].n);
        for (int sort = MEM_SORT_ID; sort <= MEM_SORT_OBJECT; sort++) {
            struct rows r = {0};
            struct mem_page p = {.sort = (enum mem_sort)sort};
            assert_int_equal(mem_triple_list(m, &cases[i].f, &p, collect, &r), STATUS_OK);
            assert_int_equal((int64_t)r.n, cases[i].n);
            free(r.v);
        }
    }
    struct mem_filter bad = {.source = "\xff", .match = MEM_MATCH_SUBSTRING};
    int64_t n = 0;
    assert_int_equal(mem_triple_count(m, &bad, &n), STATUS_ENCODING);
    mem_close(m);
}

struct progress_seen {
    int calls;
    int64_t last_done, total;
    bool monotonic;
};

static void progress_note(void *ctx, int64_t done, int64_t total)
{
    struct progress_seen *p = ctx;
    if (done < p->last_done || (p->total && total != p->total))
        p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->total = total;
}

/* A schema-1 file (the first schema, without the index; as memllm 0.x left it) gains the
 * index at open, with progress for a large one, and its filters find the old rows. */
static void test_store_migrates_schema_1_with_index(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = "told by Ada"};
    int64_t sid = 0, id = 0;
    assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Ada Lovelace", "field of work", "Mathematics", sid,
                                    &id, NULL), STATUS_OK);
    mem_close(m);
    /* back to schema 1: no index tables, no meta key, version 1; then 60,000 more
     * entities as a schema-1 memllm would have written them */
    sqlite_exec(path, "DROP TABLE entities_fts; DROP TABLE sources_fts;"
                      "DELETE FROM meta WHERE key = 'search.trigram'; PRAGMA user_version = 1;"
                      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
                      " WHERE i < 60000) INSERT INTO entities(name, created_at)"
                      " SELECT 'Old entity ' || i, 0 FROM c;"
                      "INSERT INTO triples(subj, rel, obj, created_at)"
                      " SELECT e.id, 1, 1, 0 FROM entities e WHERE e.name = 'Old entity 4711';");
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                      " 'entities_fts'"), 0);
    struct progress_seen ps = {.monotonic = true};
    struct mem_open_opts o = {.progress = progress_note, .progress_ctx = &ps};
    assert_int_equal(mem_open_with(path, &o, &m), STATUS_OK);
    assert_true(mem_search_indexed(m));
    assert_int_equal(sqlite_int(path, "PRAGMA user_version"), MEM_SCHEMA_VERSION);
    /* step 2 -> 3 dropped the unused index, and nothing else */
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                      " 'triples_created'"), 0);
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                      " 'triples_rel_obj'"), 1);
    char *state_v = NULL;
    assert_int_equal(mem_meta_get(m, "search.trigram", &state_v), STATUS_OK);
    assert_string_equal(state_v, "ready");
    free(state_v);
    assert_true(ps.calls >= 2);
    assert_true(ps.monotonic);
    assert_int_equal(ps.total, 60000 + 3);
    assert_int_equal(ps.last_done, ps.total);
    struct {
        struct mem_filter f;
        int64_t n;
    } cases[] = {
        {{.subj = "ENTITY 4711", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.subj = "lovelace", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.source = "by ada", .match = MEM_MATCH_SUBSTRING}, 1},
        {{.obj = "Mathem", .match = MEM_MATCH_SUBSTRING}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rows r = {0};
        struct mem_page p = {.sort = MEM_SORT_SUBJECT, .limit = 10};
        assert_int_equal(mem_triple_list(m, &cases[i].f, &p, collect, &r), STATUS_OK);
        assert_int_equal((int64_t)r.n, cases[i].n);
        free(r.v);
    }
    assert_int_equal(mem_check(m), STATUS_OK);
    mem_close(m);
    /* a second open has nothing to build */
    ps = (struct progress_seen){.monotonic = true};
    assert_int_equal(mem_open_with(path, &o, &m), STATUS_OK);
    assert_int_equal(ps.calls, 0);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

/* Writes by a connection without the index mark it stale; the next open with it
 * rebuilds, so rows written meanwhile are found. */
static void test_store_unindexed_writes_mark_index_stale(void **state)
{
    (void)state;
    char *dir = NULL;
    char *path = tmp_db(&dir);
    struct mem *m = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    add(m, "Grace Hopper", "occupation", "computer scientist", MEM_OUTCOME_NEW);
    mem_close(m);
    struct mem_open_opts no_index = {.no_search_index = true};
    assert_int_equal(mem_open_with(path, &no_index, &m), STATUS_OK);
    assert_false(mem_search_indexed(m));
    add(m, "Alan Turing", "occupation", "computer scientist", MEM_OUTCOME_NEW);
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = "unindexed source"};
    int64_t sid = 0, id = 0;
    assert_int_equal(mem_source_add(m, &src, &sid), STATUS_OK);
    assert_int_equal(mem_triple_add(m, "Alan Turing", "field", "logic", sid, &id, NULL),
                     STATUS_OK);
    char *v = NULL;
    assert_int_equal(mem_meta_get(m, "search.trigram", &v), STATUS_OK);
    assert_string_equal(v, "stale");
    free(v);
    mem_close(m);
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_true(mem_search_indexed(m));
    struct mem_filter f = {.subj = "TURING", .match = MEM_MATCH_SUBSTRING};
    int64_t n = 0;
    assert_int_equal(mem_triple_count(m, &f, &n), STATUS_OK);
    assert_int_equal(n, 2);
    struct mem_filter g = {.source = "unindexed", .match = MEM_MATCH_SUBSTRING};
    assert_int_equal(mem_triple_count(m, &g, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(mem_meta_get(m, "search.trigram", &v), STATUS_OK);
    assert_string_equal(v, "ready");
    free(v);
    mem_close(m);
    free(path);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_open_creates_schema_and_reopens),
        cmocka_unit_test(test_store_migrations_idempotent),
        cmocka_unit_test(test_store_open_refuses_newer_schema),
        cmocka_unit_test(test_store_open_refuses_garbage_file),
        cmocka_unit_test(test_store_open_refuses_foreign_sqlite),
        cmocka_unit_test(test_store_check_finds_damage),
        cmocka_unit_test(test_store_busy_waits_then_fails),
        cmocka_unit_test(test_store_retire_keeps_history),
        cmocka_unit_test(test_store_edit_keeps_history),
        cmocka_unit_test(test_store_duplicate_is_known),
        cmocka_unit_test(test_store_single_valued_conflicts),
        cmocka_unit_test(test_store_keyset_pages_concatenate),
        cmocka_unit_test(test_store_filters_and_count),
        cmocka_unit_test(test_store_special_characters_round_trip),
        cmocka_unit_test(test_store_invalid_utf8_refused),
        cmocka_unit_test(test_store_rollback_leaves_nothing),
        cmocka_unit_test(test_store_runs_round_trip),
        cmocka_unit_test(test_store_stats_count_everything),
        cmocka_unit_test(test_store_embeddings_stored_and_checked),
        cmocka_unit_test(test_store_embedder_survives_reopen),
        cmocka_unit_test(test_store_embedder_set_failure_keeps_detail),
        cmocka_unit_test(test_store_meta_get_set),
        cmocka_unit_test(test_store_entity_prefix_pages),
        cmocka_unit_test(test_store_relations_file_loads),
        cmocka_unit_test(test_store_relations_parse_rejects_bad_lines),
        cmocka_unit_test(test_store_crash_keeps_committed_triples),
        cmocka_unit_test(test_store_bulk_same_contents_as_plain),
        cmocka_unit_test(test_store_bulk_ends_with_its_transaction),
        cmocka_unit_test(test_store_bulk_journal_mode),
        cmocka_unit_test(test_store_open_waits_for_bulk_import),
        cmocka_unit_test(test_store_bulk_deferred_indexes_same_contents),
        cmocka_unit_test(test_store_bulk_reads_settle_deferred_work),
        cmocka_unit_test(test_store_bulk_deferred_rollback_restores_indexes),
        cmocka_unit_test(test_store_bulk_killed_while_deferred),
        cmocka_unit_test(test_store_older_search_tables_kept),
        cmocka_unit_test(test_store_filter_index_matches_scan),
        cmocka_unit_test(test_store_filter_small_budget_matches_scan),
        cmocka_unit_test(test_store_filter_budget_fallback_same_rows),
        cmocka_unit_test(test_store_source_filter),
        cmocka_unit_test(test_store_migrates_schema_1_with_index),
        cmocka_unit_test(test_store_unindexed_writes_mark_index_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
