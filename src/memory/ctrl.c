/* ctrl.c -- the MemLLM memory controller: read and write semantics (see ctrl.h).
 *
 * Default thresholds.  The reference code's read defaults are dist_thr 0.1,
 * dist_rel_thr 0.1, q_thr 0.001 (its evaluations used 0.15 / 0.15 / 0.1).  q_thr 0.001
 * passes a pair only when d_e + d_r < 0.002: with the default hashed n-gram embedder that
 * is "same name after normalization" (case, accents, '.' and apostrophes fold to one
 * vector) and misses surface variants that the measurements in data/README.embed show
 * are safe: "the United States" / "United States" 0.007, "Barack H. Obama" 0.095,
 * "New York City" 0.194, while different entities of one Re-DocRED document are closer
 * than 0.20 only about 2 times in 1000.  Relations: the closest two distinct Re-DocRED
 * relations are 0.136 apart (participant / participant of; capital / capital of 0.184),
 * so 0.13 never reads another canonical relation while inflection and word-order
 * variants ("birth place" 0.123) still match.  So the defaults are dist_thr 0.20,
 * dist_rel_thr 0.13 and q_thr 0.10 (the reference evaluation's): a pair passes when both
 * names pass and their mean distance is below 0.1.  Exact-match priority (0.001) keeps
 * these looser matches out whenever the memory has the exact fact.  The reference values
 * remain one ctrl_params_set() (or `mem query --dist-thr 0.1 --rel-thr 0.1 --q-thr
 * 0.001`) away.
 *
 * Caches.  ctrl keeps, per kind (entities, relations): the sim index, a name -> id hash
 * map and an id -> name array (names live in an append-only arena).  Writes made in a
 * transaction are journaled so that a rollback removes them from all three. */
#include "config.h"

#include "memory/ctrl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/sim.h"
#include "util/i18n.h"
#include "util/utf8.h"

/* Names embedded per embed_texts() call, and rows per sim_add() during loading. */
#define CTRL_EMBED_CHUNK 1024
/* Names hashed ahead of their map lookup (see ctrl_map_prefetch()). */
#define CTRL_PREFETCH_AHEAD 8
/* Triples buffered by a batch before they are written. */
#define CTRL_BATCH_CHUNK 16384

/* ---- arena: append-only storage for strings and small arrays ------------------------ */

struct ctrl_arena_block {
    struct ctrl_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct ctrl_arena {
    struct ctrl_arena_block *head;
};

static void *ctrl_arena_alloc(struct ctrl_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct ctrl_arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static char *ctrl_arena_strdup(struct ctrl_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ctrl_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void ctrl_arena_free(struct ctrl_arena *a)
{
    struct ctrl_arena_block *b = a->head;
    while (b) {
        struct ctrl_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- name -> id map (open addressing, linear probing, backward-shift deletion) ------ */

struct ctrl_slot {
    uint64_t hash;
    int64_t id; /* 0: empty */
    const char *name;
};

struct ctrl_map {
    struct ctrl_slot *slots;
    size_t cap, n; /* cap is a power of two */
};

static uint64_t ctrl_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return h;
}

static size_t ctrl_map_find_slot(const struct ctrl_map *m, const char *name, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct ctrl_slot *s = &m->slots[i];
        if (s->id == 0 || (s->hash == h && strcmp(s->name, name) == 0))
            return i;
    }
}

/* name's id with its hash h known, 0 if absent. */
static int64_t ctrl_map_get_hashed(const struct ctrl_map *m, const char *name, uint64_t h)
{
    if (m->cap == 0)
        return 0;
    return m->slots[ctrl_map_find_slot(m, name, h)].id;
}

static int64_t ctrl_map_get(const struct ctrl_map *m, const char *name)
{
    return ctrl_map_get_hashed(m, name, ctrl_hash(name));
}

/* Ask the CPU to fetch the home slot of hash h ahead of a lookup: the map of a large
 * memory is far larger than the caches, so each lookup otherwise waits for memory. */
static void ctrl_map_prefetch(const struct ctrl_map *m, uint64_t h)
{
#if defined(__GNUC__) || defined(__clang__)
    if (m->cap)
        __builtin_prefetch(&m->slots[h & (m->cap - 1)]);
#else
    (void)m;
    (void)h;
#endif
}

static enum status ctrl_map_grow(struct ctrl_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct ctrl_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return STATUS_NOMEM;
    /* A large calloc() maps the kernel's shared zero page, which lookups read and a later
     * insert then replaces, one write fault per page, each flushing the TLB of every CPU
     * that runs a thread of the process (measured: 2% of a bulk import's main thread in
     * those faults and their interrupts).  A write to each page now gets it at once.
     * (Volatile: the compiler knows the memory is zero and would drop plain stores.) */
    volatile unsigned char *touch = (volatile unsigned char *)slots;
    for (size_t b = 0; b < cap * sizeof *slots; b += 4096)
        touch[b] = 0;
    struct ctrl_map nm = {slots, cap, m->n};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].id != 0)
            nm.slots[ctrl_map_find_slot(&nm, m->slots[i].name, m->slots[i].hash)] = m->slots[i];
    free(m->slots);
    *m = nm;
    return STATUS_OK;
}

/* name is borrowed for the map's lifetime (arena). Overwrites an existing entry. */
static enum status ctrl_map_put_hashed(struct ctrl_map *m, const char *name, uint64_t h,
                                       int64_t id)
{
    if ((m->n + 1) * 4 >= m->cap * 3) {
        enum status st = ctrl_map_grow(m);
        if (st != STATUS_OK)
            return st;
    }
    size_t i = ctrl_map_find_slot(m, name, h);
    if (m->slots[i].id == 0)
        m->n++;
    m->slots[i] = (struct ctrl_slot){h, id, name};
    return STATUS_OK;
}

static void ctrl_map_del(struct ctrl_map *m, const char *name)
{
    if (m->cap == 0)
        return;
    size_t mask = m->cap - 1;
    size_t i = ctrl_map_find_slot(m, name, ctrl_hash(name));
    if (m->slots[i].id == 0)
        return;
    m->n--;
    /* backward shift: move later members of the probe run into the hole */
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (m->slots[j].id == 0)
            break;
        size_t home = m->slots[j].hash & mask;
        /* j may move to i when its home is not cyclically in (i, j] */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->slots[i].name = NULL;
}

/* ---- the controller ------------------------------------------------------------------ */

struct ctrl_journal {
    int64_t id;
    bool in_sim;
};

/* Entities or relations. */
struct ctrl_kind {
    bool is_rel;
    struct sim *sim;
    struct ctrl_map map;
    const char **names; /* by id; NULL where unknown */
    size_t names_cap;
    struct ctrl_journal *tx; /* rows added in the open transaction */
    size_t tx_n, tx_cap;
};

struct ctrl {
    struct mem *m;
    const struct embedder *e;
    struct ctrl_params params;
    struct ctrl_kind ent, rel;
    struct ctrl_arena names; /* name strings of both kinds */
    struct ctrl_batch *batch; /* the open batch, if any */
    struct ctrl_embed_job *job; /* entity embedding on a helper thread (see below) */
    float *qbuf;              /* 2 x dim */
    bool computed;            /* vectors are computed at open, not stored */
};

/* Embedders whose vectors are not stored: deterministic, identical on every platform and
 * cheap enough to recompute at open (the default hashed n-gram embedder embeds 200k to
 * 500k names a second).  Their id says so.  Storing a 2 KiB float vector per entity
 * was half of a bulk import's CPU time and most of its I/O; loading the stored vectors
 * at open is not faster than computing them again.  A database keeps working with older
 * builds: they embed and store the missing vectors at open. */
static bool ctrl_embedder_computed(const struct embedder *e)
{
    return strncmp(e->id, "hash-ngram-", 11) == 0;
}

void ctrl_params_default(struct ctrl_params *p)
{
    p->dist_thr = CTRL_DIST_THR_DEFAULT;
    p->dist_rel_thr = CTRL_DIST_REL_THR_DEFAULT;
    p->q_thr = CTRL_Q_THR_DEFAULT;
    p->exact_thr = CTRL_EXACT_THR_DEFAULT;
    p->top_entities = CTRL_TOP_ENTITIES_DEFAULT;
    p->top_relations = CTRL_TOP_RELATIONS_DEFAULT;
    p->max_answers = CTRL_MAX_ANSWERS_DEFAULT;
    p->show_failed = CTRL_SHOW_FAILED_DEFAULT;
}

enum status ctrl_params_check(const struct ctrl_params *p)
{
    const struct {
        const char *name;
        double v;
    } thr[] = {{"dist_thr", p->dist_thr},
               {"dist_rel_thr", p->dist_rel_thr},
               {"q_thr", p->q_thr},
               {"exact_thr", p->exact_thr}};
    for (size_t i = 0; i < sizeof thr / sizeof thr[0]; i++)
        if (!(thr[i].v >= 0.0) || thr[i].v > 2.5)
            /* TRANSLATORS: %s is a setting name such as "q_thr" */
            return status_detail_set(STATUS_INVALID,
                                     _("threshold %s must be a number from 0 to 2"),
                                     thr[i].name);
    const struct {
        const char *name;
        size_t v;
    } cnt[] = {{"top_entities", p->top_entities},
               {"top_relations", p->top_relations},
               {"max_answers", p->max_answers}};
    for (size_t i = 0; i < sizeof cnt / sizeof cnt[0]; i++)
        if (cnt[i].v < 1 || cnt[i].v > CTRL_TOP_MAX)
            /* TRANSLATORS: %s is a setting name such as "max_answers" */
            return status_detail_set(STATUS_INVALID, _("%s must be from 1 to %d"),
                                     cnt[i].name, CTRL_TOP_MAX);
    if (p->show_failed > CTRL_TOP_MAX)
        return status_detail_set(STATUS_INVALID, _("%s must be from 1 to %d"), "show_failed",
                                 CTRL_TOP_MAX);
    return STATUS_OK;
}

static enum status ctrl_kind_init(struct ctrl_kind *k, bool is_rel, size_t dim)
{
    k->is_rel = is_rel;
    return sim_new(dim, &k->sim);
}

static void ctrl_kind_fini(struct ctrl_kind *k)
{
    sim_free(k->sim);
    free(k->map.slots);
    free(k->names);
    free(k->tx);
    memset(k, 0, sizeof *k);
}

static const char *ctrl_kind_name(const struct ctrl_kind *k, int64_t id)
{
    if (id <= 0 || (size_t)id >= k->names_cap)
        return NULL;
    return k->names[id];
}

/* Remember id <-> name (name copied into the arena); h is ctrl_hash(name). */
static enum status ctrl_kind_learn_hashed(struct ctrl *c, struct ctrl_kind *k, int64_t id,
                                          const char *name, uint64_t h)
{
    if (id <= 0 || (uint64_t)id > (uint64_t)1 << 40)
        return status_detail_set(STATUS_DB_CORRUPT, _("row id %lld out of range"),
                                 (long long)id);
    if ((size_t)id >= k->names_cap) {
        size_t cap = k->names_cap ? k->names_cap : 1024;
        while (cap <= (size_t)id)
            cap *= 2;
        const char **nn = realloc(k->names, cap * sizeof *nn);
        if (!nn)
            return STATUS_NOMEM;
        memset(nn + k->names_cap, 0, (cap - k->names_cap) * sizeof *nn);
        k->names = nn;
        k->names_cap = cap;
    }
    const char *copy = k->names[id];
    if (!copy || strcmp(copy, name) != 0) {
        copy = ctrl_arena_strdup(&c->names, name);
        if (!copy)
            return STATUS_NOMEM;
    }
    k->names[id] = copy;
    return ctrl_map_put_hashed(&k->map, copy, h, id);
}

static enum status ctrl_kind_learn(struct ctrl *c, struct ctrl_kind *k, int64_t id,
                                   const char *name)
{
    return ctrl_kind_learn_hashed(c, k, id, name, ctrl_hash(name));
}

static enum status ctrl_journal_add(struct ctrl_kind *k, int64_t id, bool in_sim)
{
    if (k->tx_n == k->tx_cap) {
        size_t cap = k->tx_cap ? k->tx_cap * 2 : 256;
        struct ctrl_journal *t = realloc(k->tx, cap * sizeof *t);
        if (!t)
            return STATUS_NOMEM;
        k->tx = t;
        k->tx_cap = cap;
    }
    k->tx[k->tx_n++] = (struct ctrl_journal){id, in_sim};
    return STATUS_OK;
}

/* Undo the caches' part of a rolled-back transaction. */
static void ctrl_journal_undo(struct ctrl_kind *k)
{
    for (size_t i = k->tx_n; i-- > 0;) {
        int64_t id = k->tx[i].id;
        if (k->tx[i].in_sim)
            sim_remove(k->sim, id);
        const char *name = ctrl_kind_name(k, id);
        if (name) {
            ctrl_map_del(&k->map, name);
            k->names[id] = NULL;
        }
    }
    k->tx_n = 0;
}

static enum status ctrl_ensure_row(struct ctrl *c, const struct ctrl_kind *k, const char *name,
                                   const float *emb, int64_t *id, bool *created)
{
    if (c->computed)
        emb = NULL;
    if (k->is_rel)
        return mem_relation_ensure(c->m, name, emb, c->e->dim, id, created);
    return mem_entity_ensure(c->m, name, emb, c->e->dim, id, created);
}

/* Embedding and indexing of new entity names on a helper thread while the caller goes
 * on storing (computed vectors only: the rows need no vector then, so SQLite need not
 * wait for the embedder).  At most one job is in flight, c->job: it runs while the
 * caller stores the triples of its chunk and the names of the next chunk, and is
 * finished (ctrl_embed_finish()) before the next one starts, before the caller's thread
 * uses the embedder or the entity index itself, and before the transaction ends.
 * While it runs, the helper owns the entity index and the embedder; ctrl_embed_wait()
 * only waits (for reads), leaving its outcome to ctrl_embed_finish(). */
struct ctrl_embed_job {
    struct ctrl *c;
    struct ctrl_kind *k; /* NULL: no job */
    const char **names;  /* the ctrl arena's copies */
    int64_t *ids;
    size_t n, cap;
    enum status st;
    char detail[256];    /* the helper's status detail (thread-local there) */
    pthread_t thread;
    bool running;
};

static void *ctrl_embed_run(void *arg)
{
    struct ctrl_embed_job *j = arg;
    size_t dim = j->c->e->dim;
    float *vecs = malloc(CTRL_EMBED_CHUNK * dim * sizeof *vecs);
    j->st = vecs ? STATUS_OK : STATUS_NOMEM;
    for (size_t i0 = 0; i0 < j->n && j->st == STATUS_OK; i0 += CTRL_EMBED_CHUNK) {
        size_t nb = j->n - i0 < CTRL_EMBED_CHUNK ? j->n - i0 : CTRL_EMBED_CHUNK;
        j->st = embed_texts(j->c->e, j->names + i0, NULL, nb, vecs);
        if (j->st == STATUS_OK)
            j->st = sim_add(j->k->sim, j->ids + i0, vecs, nb, dim);
    }
    if (j->st != STATUS_OK)
        snprintf(j->detail, sizeof j->detail, "%s", status_detail());
    free(vecs);
    return NULL;
}

static enum status ctrl_embed_push(struct ctrl_embed_job *j, const char *name, int64_t id)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 1024;
        const char **nn = realloc(j->names, cap * sizeof *nn);
        if (nn)
            j->names = nn;
        int64_t *ni = realloc(j->ids, cap * sizeof *ni);
        if (ni)
            j->ids = ni;
        if (!nn || !ni)
            return STATUS_NOMEM;
        j->cap = cap;
    }
    j->names[j->n] = name;
    j->ids[j->n++] = id;
    return STATUS_OK;
}

/* Wait until no helper runs (j may be NULL). */
static void ctrl_embed_wait(struct ctrl_embed_job *j)
{
    if (j && j->running) {
        pthread_join(j->thread, NULL);
        j->running = false;
    }
}

/* Wait for the job in flight, if any, and forget it.  Returns st, or the job's failure
 * (some of its rows may then be missing from the index; the journal lists them all,
 * and undoing a row the index lacks is a no-op). */
static enum status ctrl_embed_finish(struct ctrl *c, enum status st)
{
    struct ctrl_embed_job *j = c->job;
    if (!j || !j->k)
        return st;
    ctrl_embed_wait(j);
    if (st == STATUS_OK && j->st != STATUS_OK)
        st = j->detail[0] ? status_detail_set(j->st, "%s", j->detail) : j->st;
    free(j->names);
    free(j->ids);
    *j = (struct ctrl_embed_job){0};
    return st;
}

/* Store names[0..n) (get-or-create) without vectors, updating the caches and the
 * journal, then finish the job in flight and start embedding the rows new to the
 * index on a helper thread (here when none can start). */
static enum status ctrl_kind_insert_computed(struct ctrl *c, struct ctrl_kind *k,
                                             const char *const *names, const uint64_t *hashes,
                                             size_t n, int64_t *ids, bool *created)
{
    struct ctrl_embed_job next = {.c = c, .k = k};
    enum status st = STATUS_OK;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        bool cr = false;
        int64_t id = 0;
        /* the name's map slot is fetched while SQLite stores the row */
        ctrl_map_prefetch(&k->map, hashes[i]);
        st = ctrl_ensure_row(c, k, names[i], NULL, &id, &cr);
        if (st != STATUS_OK)
            break;
        ids[i] = id;
        if (created)
            created[i] = cr;
        /* a new row is in no index; a row another connection made may be (ask the
         * index once the job in flight is done with it) */
        bool add = cr;
        if (!cr) {
            st = ctrl_embed_finish(c, STATUS_OK);
            if (st == STATUS_OK)
                add = !sim_contains(k->sim, id);
        }
        if (st == STATUS_OK)
            st = ctrl_kind_learn_hashed(c, k, id, names[i], hashes[i]);
        if (st == STATUS_OK && add)
            st = ctrl_embed_push(&next, k->names[id], id);
        /* journaled as indexed now: undone after the job, whatever part of it ran */
        if (st == STATUS_OK)
            st = ctrl_journal_add(k, id, add);
    }
    st = ctrl_embed_finish(c, st);
    if (st == STATUS_OK && next.n > 0) {
        *c->job = next;
        next = (struct ctrl_embed_job){0};
        c->job->running = pthread_create(&c->job->thread, NULL, ctrl_embed_run, c->job) == 0;
        if (!c->job->running)
            ctrl_embed_run(c->job);
    }
    free(next.names);
    free(next.ids);
    return st;
}

/* Embed names[0..n) and store them (get-or-create), updating the caches and the
 * journal.  ids[i] receives each row id, created[i] (may be NULL) whether it was new.
 * Names that are already cached must not be passed.  hashes[i] is ctrl_hash(names[i]).
 * async: for computed vectors and many names, leave the embedding to a helper thread
 * (c->job). */
static enum status ctrl_kind_insert(struct ctrl *c, struct ctrl_kind *k, const char *const *names,
                                    const uint64_t *hashes, size_t n, int64_t *ids,
                                    bool *created, bool async)
{
    if (async && c->computed && n >= CTRL_EMBED_CHUNK)
        return ctrl_kind_insert_computed(c, k, names, hashes, n, ids, created);
    /* the embedder and the index are this thread's again */
    enum status st = ctrl_embed_finish(c, STATUS_OK);
    if (st != STATUS_OK)
        return st;
    size_t dim = c->e->dim;
    size_t chunk = n < CTRL_EMBED_CHUNK ? n : CTRL_EMBED_CHUNK;
    float *vecs = malloc(chunk * dim * sizeof *vecs);
    int64_t *sim_ids = malloc(chunk * sizeof *sim_ids);
    float *sim_vecs = malloc(chunk * dim * sizeof *sim_vecs);
    st = STATUS_NOMEM;
    if (!vecs || !sim_ids || !sim_vecs)
        goto done;
    st = STATUS_OK;
    for (size_t i0 = 0; i0 < n && st == STATUS_OK; i0 += chunk) {
        size_t nb = n - i0 < chunk ? n - i0 : chunk;
        st = embed_texts(c->e, names + i0, NULL, nb, vecs);
        size_t ns = 0;
        for (size_t i = 0; i < nb && st == STATUS_OK; i++) {
            bool cr = false;
            int64_t id = 0;
            st = ctrl_ensure_row(c, k, names[i0 + i], vecs + i * dim, &id, &cr);
            if (st != STATUS_OK)
                break;
            ids[i0 + i] = id;
            if (created)
                created[i0 + i] = cr;
            if (!cr && !c->computed) {
                /* another connection made the row after we loaded the index, maybe
                 * without a vector: store ours (same embedder, so the same vector) */
                st = k->is_rel ? mem_relation_set_emb(c->m, id, vecs + i * dim, dim)
                               : mem_entity_set_emb(c->m, id, vecs + i * dim, dim);
                if (st != STATUS_OK)
                    break;
            }
            bool add = !sim_contains(k->sim, id);
            if (add) {
                sim_ids[ns] = id;
                memcpy(sim_vecs + ns * dim, vecs + i * dim, dim * sizeof(float));
                ns++;
            }
            st = ctrl_kind_learn_hashed(c, k, id, names[i0 + i], hashes[i0 + i]);
            if (st == STATUS_OK)
                st = ctrl_journal_add(k, id, add);
        }
        if (st == STATUS_OK && ns > 0)
            st = sim_add(k->sim, sim_ids, sim_vecs, ns, dim);
        if (st != STATUS_OK && ns > 0) {
            /* the journal says these went into the index; they did not */
            for (size_t j = 0; j < k->tx_n; j++)
                for (size_t s = 0; s < ns; s++)
                    if (k->tx[j].id == sim_ids[s])
                        k->tx[j].in_sim = false;
        }
    }
done:
    free(vecs);
    free(sim_ids);
    free(sim_vecs);
    return st;
}

/* ---- transactions ------------------------------------------------------------------- */

static enum status ctrl_tx_begin(struct ctrl *c)
{
    if (mem_in_transaction(c->m))
        return status_detail_set(STATUS_INVALID,
                                 _("a transaction is already open on the memory"));
    c->ent.tx_n = c->rel.tx_n = 0;
    /* ctrl's transactions are all-or-nothing (ctrl_tx_end() rolls back on any
     * failure), which is what a bulk transaction needs */
    return mem_begin_bulk(c->m);
}

static enum status ctrl_tx_end(struct ctrl *c, enum status st)
{
    st = ctrl_embed_finish(c, st);
    if (st == STATUS_OK)
        st = mem_commit(c->m);
    if (st != STATUS_OK) {
        mem_rollback(c->m);
        ctrl_journal_undo(&c->ent);
        ctrl_journal_undo(&c->rel);
    }
    c->ent.tx_n = c->rel.tx_n = 0;
    return st;
}

/* ---- open / close -------------------------------------------------------------------- */

struct ctrl_load {
    struct ctrl *c;
    struct ctrl_kind *k;
    enum status st;
    int64_t *ids;
    float *vecs;
    size_t n;
    const char **missing; /* names (arena) of rows without a vector */
    size_t n_missing, cap_missing;
};

static enum status ctrl_load_flush(struct ctrl_load *l)
{
    enum status st = STATUS_OK;
    if (l->n > 0)
        st = sim_add(l->k->sim, l->ids, l->vecs, l->n, l->c->e->dim);
    if (st != STATUS_OK && st != STATUS_NOMEM)
        st = status_detail_set(STATUS_DB_CORRUPT, _("%s: bad stored vector: %s"),
                               mem_path(l->c->m), status_detail());
    l->n = 0;
    return st;
}

static int ctrl_load_row(void *ctx, const struct mem_named *row)
{
    struct ctrl_load *l = ctx;
    l->st = ctrl_kind_learn(l->c, l->k, row->id, row->name);
    if (l->st != STATUS_OK)
        return 1;
    if (!row->emb) {
        if (l->n_missing == l->cap_missing) {
            size_t cap = l->cap_missing ? l->cap_missing * 2 : 64;
            const char **mm = realloc(l->missing, cap * sizeof *mm);
            if (!mm) {
                l->st = STATUS_NOMEM;
                return 1;
            }
            l->missing = mm;
            l->cap_missing = cap;
        }
        l->missing[l->n_missing++] = l->k->names[row->id];
        return 0;
    }
    size_t dim = l->c->e->dim;
    l->ids[l->n] = row->id;
    memcpy(l->vecs + l->n * dim, row->emb, dim * sizeof(float));
    if (++l->n == CTRL_EMBED_CHUNK) {
        l->st = ctrl_load_flush(l);
        if (l->st != STATUS_OK)
            return 1;
    }
    return 0;
}

/* Embed the cached names[0..n) into k's index (computed vectors). */
static enum status ctrl_embed_into(struct ctrl *c, struct ctrl_kind *k, const char *const *names,
                                   size_t n)
{
    size_t dim = c->e->dim;
    float *vecs = malloc(CTRL_EMBED_CHUNK * dim * sizeof *vecs);
    int64_t *ids = malloc(CTRL_EMBED_CHUNK * sizeof *ids);
    enum status st = vecs && ids ? sim_reserve(k->sim, sim_count(k->sim) + n) : STATUS_NOMEM;
    for (size_t i0 = 0; i0 < n && st == STATUS_OK; i0 += CTRL_EMBED_CHUNK) {
        size_t nb = n - i0 < CTRL_EMBED_CHUNK ? n - i0 : CTRL_EMBED_CHUNK;
        st = embed_texts(c->e, names + i0, NULL, nb, vecs);
        for (size_t i = 0; i < nb; i++)
            ids[i] = ctrl_map_get(&k->map, names[i0 + i]);
        if (st == STATUS_OK)
            st = sim_add(k->sim, ids, vecs, nb, dim);
    }
    free(vecs);
    free(ids);
    return st;
}

/* Fill the index of one kind from the store; embed rows that have no vector (and save
 * the vectors unless they are computed). */
static enum status ctrl_kind_load(struct ctrl *c, struct ctrl_kind *k)
{
    struct ctrl_load l = {c, k, STATUS_OK, NULL, NULL, 0, NULL, 0, 0};
    size_t dim = c->e->dim;
    l.ids = malloc(CTRL_EMBED_CHUNK * sizeof *l.ids);
    l.vecs = malloc(CTRL_EMBED_CHUNK * dim * sizeof *l.vecs);
    enum status st = STATUS_NOMEM;
    if (!l.ids || !l.vecs)
        goto done;
    st = k->is_rel ? mem_relation_each(c->m, false, ctrl_load_row, &l)
                   : mem_entity_each(c->m, false, ctrl_load_row, &l);
    if (st == STATUS_OK)
        st = l.st;
    if (st == STATUS_OK)
        st = ctrl_load_flush(&l);
    if (st != STATUS_OK || l.n_missing == 0)
        goto done;
    if (c->computed) {
        /* rows without vectors: embed them into the index only */
        st = ctrl_embed_into(c, k, l.missing, l.n_missing);
        goto done;
    }
    /* rows without vectors: embed them and save the vectors, one transaction */
    st = ctrl_tx_begin(c);
    if (st != STATUS_OK)
        goto done;
    float *vecs = malloc(CTRL_EMBED_CHUNK * dim * sizeof *vecs);
    if (!vecs)
        st = STATUS_NOMEM;
    for (size_t i0 = 0; i0 < l.n_missing && st == STATUS_OK; i0 += CTRL_EMBED_CHUNK) {
        size_t nb = l.n_missing - i0 < CTRL_EMBED_CHUNK ? l.n_missing - i0 : CTRL_EMBED_CHUNK;
        st = embed_texts(c->e, l.missing + i0, NULL, nb, vecs);
        for (size_t i = 0; i < nb && st == STATUS_OK; i++) {
            int64_t id = ctrl_map_get(&k->map, l.missing[i0 + i]);
            st = k->is_rel ? mem_relation_set_emb(c->m, id, vecs + i * dim, dim)
                           : mem_entity_set_emb(c->m, id, vecs + i * dim, dim);
            l.ids[i] = id;
        }
        if (st == STATUS_OK)
            st = sim_add(k->sim, l.ids, vecs, nb, dim);
        for (size_t i = 0; i < nb && st == STATUS_OK; i++)
            st = ctrl_journal_add(k, l.ids[i], true);
    }
    free(vecs);
    /* a rollback forgets these names too: the whole open fails then anyway */
    st = ctrl_tx_end(c, st);
done:
    free(l.ids);
    free(l.vecs);
    free(l.missing);
    return st;
}

static enum status ctrl_check_embedder(const struct embedder *e)
{
    if (!e || !e->embed || !e->id || !e->id[0] || e->dim == 0 || e->dim > EMBED_DIM_MAX)
        return status_detail_set(STATUS_INVALID, _("no usable embedder"));
    return STATUS_OK;
}

enum status ctrl_open(struct mem *m, const struct embedder *e, struct ctrl **out)
{
    enum status st = ctrl_check_embedder(e);
    if (st != STATUS_OK)
        return st;
    st = mem_embedder_check(m, e->id, e->dim);
    if (st != STATUS_OK)
        return st;
    struct ctrl *c = calloc(1, sizeof *c);
    if (!c)
        return STATUS_NOMEM;
    c->m = m;
    c->e = e;
    c->computed = ctrl_embedder_computed(e);
    ctrl_params_default(&c->params);
    st = STATUS_NOMEM;
    c->qbuf = malloc(2 * e->dim * sizeof *c->qbuf);
    c->job = calloc(1, sizeof *c->job);
    if (!c->qbuf || !c->job)
        goto fail;
    st = ctrl_kind_init(&c->ent, false, e->dim);
    if (st == STATUS_OK)
        st = ctrl_kind_init(&c->rel, true, e->dim);
    if (st == STATUS_OK)
        st = ctrl_kind_load(c, &c->rel);
    if (st == STATUS_OK)
        st = ctrl_kind_load(c, &c->ent);
    if (st != STATUS_OK)
        goto fail;
    *out = c;
    return STATUS_OK;
fail:
    ctrl_close(c);
    return st;
}

void ctrl_close(struct ctrl *c)
{
    if (!c)
        return;
    if (c->batch)
        ctrl_batch_abort(c->batch);
    ctrl_embed_finish(c, STATUS_OK);
    free(c->job);
    ctrl_kind_fini(&c->ent);
    ctrl_kind_fini(&c->rel);
    ctrl_arena_free(&c->names);
    free(c->qbuf);
    free(c);
}

struct mem *ctrl_mem(const struct ctrl *c)
{
    return c->m;
}

const struct ctrl_params *ctrl_params_get(const struct ctrl *c)
{
    return &c->params;
}

enum status ctrl_params_set(struct ctrl *c, const struct ctrl_params *p)
{
    enum status st = ctrl_params_check(p);
    if (st == STATUS_OK)
        c->params = *p;
    return st;
}

size_t ctrl_entity_count(const struct ctrl *c)
{
    ctrl_embed_wait(c->job);
    return sim_count(c->ent.sim);
}

size_t ctrl_relation_count(const struct ctrl *c)
{
    return sim_count(c->rel.sim);
}

/* ---- read ---------------------------------------------------------------------------- */

struct ctrl_read_priv {
    struct ctrl_arena arena;
    struct ctrl_found *found;
    size_t n_found, cap_found;
    enum status st;
    double score, d_e, d_r;
};

static int ctrl_collect(void *ctx, const struct mem_triple *t)
{
    struct ctrl_read_priv *p = ctx;
    if (p->n_found == p->cap_found) {
        size_t cap = p->cap_found ? p->cap_found * 2 : 64;
        struct ctrl_found *f = realloc(p->found, cap * sizeof *f);
        if (!f) {
            p->st = STATUS_NOMEM;
            return 1;
        }
        p->found = f;
        p->cap_found = cap;
    }
    struct ctrl_found *f = &p->found[p->n_found];
    f->id = t->id;
    f->subj = t->subj;
    f->rel = t->rel;
    f->obj = t->obj;
    f->subj_name = ctrl_arena_strdup(&p->arena, t->subj_name);
    f->rel_name = ctrl_arena_strdup(&p->arena, t->rel_name);
    f->obj_name = ctrl_arena_strdup(&p->arena, t->obj_name);
    if (!f->subj_name || !f->rel_name || !f->obj_name) {
        p->st = STATUS_NOMEM;
        return 1;
    }
    f->score = p->score;
    f->d_e = p->d_e;
    f->d_r = p->d_r;
    f->kept = true;
    p->n_found++;
    return 0;
}

static int ctrl_found_cmp(const void *a, const void *b)
{
    const struct ctrl_found *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Search one index and turn the hits into candidates: passing ones, then up to
 * show_failed failing ones. */
static enum status ctrl_candidates(struct ctrl *c, struct ctrl_kind *k, const float *q, size_t top,
                                   double thr, struct ctrl_arena *a, struct ctrl_candidate **out,
                                   size_t *n_out, size_t *n_passed)
{
    size_t n_rows = sim_count(k->sim);
    size_t kk = top < n_rows ? top : n_rows;
    *out = NULL;
    *n_out = *n_passed = 0;
    if (kk == 0)
        return STATUS_OK;
    struct sim_hit *hits = malloc(kk * sizeof *hits);
    if (!hits)
        return STATUS_NOMEM;
    size_t nh = 0;
    enum status st = sim_search(k->sim, q, c->e->dim, kk, INFINITY, hits, &nh);
    if (st != STATUS_OK) {
        free(hits);
        return st;
    }
    size_t np = 0;
    while (np < nh && hits[np].dist < thr)
        np++;
    size_t nshow = np + (nh - np < c->params.show_failed ? nh - np : c->params.show_failed);
    struct ctrl_candidate *cand = nshow ? ctrl_arena_alloc(a, nshow * sizeof *cand) : NULL;
    if (nshow && !cand) {
        free(hits);
        return STATUS_NOMEM;
    }
    for (size_t i = 0; i < nshow; i++) {
        const char *name = ctrl_kind_name(k, hits[i].id);
        cand[i].id = hits[i].id;
        cand[i].name = ctrl_arena_strdup(a, name ? name : "");
        /* 1 - cos of two equal unit vectors can come out a hair below 0 */
        cand[i].dist = hits[i].dist > 0 ? hits[i].dist : 0.0;
        cand[i].passed = i < np;
        if (!cand[i].name) {
            free(hits);
            return STATUS_NOMEM;
        }
    }
    free(hits);
    *out = cand;
    *n_out = nshow;
    *n_passed = np;
    return STATUS_OK;
}

static enum status ctrl_check_name(const char *s, const char *what)
{
    if (!s || !s[0])
        /* TRANSLATORS: %s is "subject", "relation", "object" or "name" */
        return status_detail_set(STATUS_INVALID, _("empty %s"), what);
    if (!utf8_valid(s, strlen(s)))
        /* TRANSLATORS: %s is "subject", "relation", "object" or "name" */
        return status_detail_set(STATUS_ENCODING, _("%s is not valid UTF-8"), what);
    return STATUS_OK;
}

enum status ctrl_read(struct ctrl *c, enum ctrl_want want, const char *name,
                      const char *relation, struct ctrl_read **out)
{
    enum status st = ctrl_check_name(name, "name");
    if (st == STATUS_OK)
        st = ctrl_check_name(relation, "relation");
    if (st != STATUS_OK)
        return st;
    if (want != CTRL_WANT_OBJECT && want != CTRL_WANT_SUBJECT)
        return status_detail_set(STATUS_INVALID, _("unknown query direction"));
    ctrl_embed_wait(c->job); /* in a batch: the index and embedder are ours again */
    size_t dim = c->e->dim;
    float *qe = c->qbuf, *qr = c->qbuf + dim;
    st = embed_one(c->e, name, strlen(name), qe);
    if (st == STATUS_OK)
        st = embed_one(c->e, relation, strlen(relation), qr);
    if (st != STATUS_OK)
        return st;

    struct ctrl_read *r = calloc(1, sizeof *r);
    struct ctrl_read_priv *p = calloc(1, sizeof *p);
    if (!r || !p) {
        free(r);
        free(p);
        return STATUS_NOMEM;
    }
    r->pool_ = p;
    st = STATUS_NOMEM;
    r->want = want;
    r->params = c->params;
    r->name = ctrl_arena_strdup(&p->arena, name);
    r->relation = ctrl_arena_strdup(&p->arena, relation);
    if (!r->name || !r->relation)
        goto fail;
    const struct ctrl_params *pa = &c->params;
    st = ctrl_candidates(c, &c->ent, qe, pa->top_entities, pa->dist_thr, &p->arena,
                         &r->entities, &r->n_entities, &r->n_entities_passed);
    if (st == STATUS_OK)
        st = ctrl_candidates(c, &c->rel, qr, pa->top_relations, pa->dist_rel_thr, &p->arena,
                             &r->relations, &r->n_relations, &r->n_relations_passed);
    if (st != STATUS_OK)
        goto fail;

    /* E x R: the passing pairs' triples */
    for (size_t i = 0; i < r->n_entities_passed; i++) {
        for (size_t j = 0; j < r->n_relations_passed; j++) {
            double score = (r->entities[i].dist + r->relations[j].dist) / 2;
            if (!(score < pa->q_thr))
                continue;
            r->n_pairs++;
            p->score = score;
            p->d_e = r->entities[i].dist;
            p->d_r = r->relations[j].dist;
            p->st = STATUS_OK;
            st = want == CTRL_WANT_OBJECT
                     ? mem_triples_by_subj_rel(c->m, r->entities[i].id, r->relations[j].id,
                                               ctrl_collect, p)
                     : mem_triples_by_rel_obj(c->m, r->relations[j].id, r->entities[i].id,
                                              ctrl_collect, p);
            if (st == STATUS_OK)
                st = p->st;
            if (st != STATUS_OK)
                goto fail;
        }
    }
    if (p->n_found > 1)
        qsort(p->found, p->n_found, sizeof *p->found, ctrl_found_cmp);
    r->found = p->found;
    r->n_found = p->n_found;

    /* exact-match priority */
    if (r->n_found > 0 && r->found[0].score < pa->exact_thr) {
        r->exact = true;
        for (size_t i = 0; i < r->n_found; i++)
            r->found[i].kept = r->found[i].score < pa->exact_thr;
    }

    /* answers: the wanted side, de-duplicated, in (score, id) order */
    size_t cap = pa->max_answers < r->n_found ? pa->max_answers : r->n_found;
    if (cap > 0) {
        r->answers = ctrl_arena_alloc(&p->arena, cap * sizeof *r->answers);
        if (!r->answers) {
            st = STATUS_NOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < r->n_found && !r->truncated; i++) {
        const struct ctrl_found *f = &r->found[i];
        if (!f->kept)
            continue;
        int64_t ent = want == CTRL_WANT_OBJECT ? f->obj : f->subj;
        bool seen = false;
        for (size_t a = 0; a < r->n_answers && !seen; a++)
            seen = r->answers[a].entity_id == ent;
        if (seen)
            continue;
        if (r->n_answers == pa->max_answers) {
            r->truncated = true;
            break;
        }
        struct ctrl_answer *ans = &r->answers[r->n_answers++];
        ans->entity_id = ent;
        ans->name = want == CTRL_WANT_OBJECT ? f->obj_name : f->subj_name;
        ans->score = f->score;
        ans->triple_id = f->id;
    }
    *out = r;
    return STATUS_OK;
fail:
    ctrl_read_free(r);
    return st;
}

void ctrl_read_free(struct ctrl_read *r)
{
    if (!r)
        return;
    struct ctrl_read_priv *p = r->pool_;
    if (p) {
        ctrl_arena_free(&p->arena);
        free(p->found);
        free(p);
    }
    free(r);
}

/* ---- write ----------------------------------------------------------------------------- */

/* A name to sort, with its first 8 bytes as a big-endian number (zero after its end):
 * keys compare as strcmp() compares the names' first 8 bytes, so most comparisons of a
 * chunk's sort need neither the strings nor strcmp() (a quarter less sorting time). */
struct ctrl_sorted {
    uint64_t key;
    const char *name;
    size_t idx;
};

static uint64_t ctrl_sort_key(const char *s)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8 && s[i]; i++)
        k |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
    return k;
}

static int ctrl_sorted_cmp(const void *a, const void *b)
{
    const struct ctrl_sorted *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Resolve names of one kind to ids: cached ones from the map, the others embedded and
 * stored.  names[i] may repeat. created[i] (may be NULL) tells whether this call created
 * row i's name (only its first occurrence). */
static enum status ctrl_resolve(struct ctrl *c, struct ctrl_kind *k, const char *const *names,
                                size_t n, int64_t *ids, bool *created, bool async)
{
    /* first pass: cached ids; uncached names get a placeholder -(index into fresh)-1 */
    const char **fresh = NULL;
    size_t n_fresh = 0;
    int64_t *fresh_ids = NULL;
    bool *fresh_created = NULL;
    size_t *first = NULL;
    enum status st = STATUS_OK;
    struct ctrl_map pend = {0};
    struct ctrl_sorted *sorted = NULL;
    const char **sorted_names = NULL;
    int64_t *sorted_ids = NULL;
    bool *sorted_created = NULL;
    uint64_t *sorted_hash = NULL;
    /* hashes first, so that each lookup's slot can be fetched a few names ahead */
    uint64_t *hash = malloc(n * sizeof *hash);
    if (!hash && n > 0) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        hash[i] = ctrl_hash(names[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + CTRL_PREFETCH_AHEAD < n)
            ctrl_map_prefetch(&k->map, hash[i + CTRL_PREFETCH_AHEAD]);
        int64_t id = ctrl_map_get_hashed(&k->map, names[i], hash[i]);
        if (id > 0) {
            ids[i] = id;
            if (created)
                created[i] = false;
            continue;
        }
        int64_t pid = ctrl_map_get_hashed(&pend, names[i], hash[i]);
        if (pid > 0) {
            ids[i] = -pid;
            if (created)
                created[i] = false;
            continue;
        }
        if (!fresh) {
            fresh = malloc((n - i) * sizeof *fresh);
            first = malloc((n - i) * sizeof *first);
            if (!fresh || !first) {
                st = STATUS_NOMEM;
                goto done;
            }
        }
        fresh[n_fresh] = names[i];
        first[n_fresh] = i;
        n_fresh++;
        st = ctrl_map_put_hashed(&pend, names[i], hash[i], (int64_t)n_fresh);
        if (st != STATUS_OK)
            goto done;
        ids[i] = -(int64_t)n_fresh;
    }
    if (n_fresh == 0)
        goto done;
    fresh_ids = malloc(n_fresh * sizeof *fresh_ids);
    fresh_created = malloc(n_fresh * sizeof *fresh_created);
    if (!fresh_ids || !fresh_created) {
        st = STATUS_NOMEM;
        goto done;
    }
    /* insert in name order: the UNIQUE name index then takes the chunk as one ordered
     * pass instead of random page accesses (several times faster once the index is larger
     * than SQLite's page cache) */
    sorted = malloc(n_fresh * sizeof *sorted);
    sorted_names = malloc(n_fresh * sizeof *sorted_names);
    sorted_ids = malloc(n_fresh * sizeof *sorted_ids);
    sorted_created = malloc(n_fresh * sizeof *sorted_created);
    sorted_hash = malloc(n_fresh * sizeof *sorted_hash);
    if (!sorted || !sorted_names || !sorted_ids || !sorted_created || !sorted_hash) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t f = 0; f < n_fresh; f++)
        sorted[f] = (struct ctrl_sorted){ctrl_sort_key(fresh[f]), fresh[f], f};
    qsort(sorted, n_fresh, sizeof *sorted, ctrl_sorted_cmp);
    for (size_t f = 0; f < n_fresh; f++) {
        sorted_names[f] = sorted[f].name;
        sorted_hash[f] = hash[first[sorted[f].idx]];
    }
    st = ctrl_kind_insert(c, k, sorted_names, sorted_hash, n_fresh, sorted_ids, sorted_created,
                          async);
    if (st != STATUS_OK)
        goto done;
    for (size_t f = 0; f < n_fresh; f++) {
        fresh_ids[sorted[f].idx] = sorted_ids[f];
        fresh_created[sorted[f].idx] = sorted_created[f];
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0)
            ids[i] = fresh_ids[-ids[i] - 1];
    if (created)
        for (size_t f = 0; f < n_fresh; f++)
            created[first[f]] = fresh_created[f];
done:
    free(hash);
    free(sorted_hash);
    free(sorted);
    free(sorted_names);
    free(sorted_ids);
    free(sorted_created);
    free(pend.slots);
    free(fresh);
    free(first);
    free(fresh_ids);
    free(fresh_created);
    return st;
}

/* Store n triples (names checked) inside the open transaction. */
static enum status ctrl_apply(struct ctrl *c, const struct ctrl_triple_in *t, size_t n,
                              const int64_t *source_ids, int64_t source_id,
                              struct ctrl_written *res, struct ctrl_batch_stats *stats)
{
    if (n == 0)
        return STATUS_OK;
    enum status st = STATUS_NOMEM;
    const char **en = calloc(2 * n, sizeof *en);
    const char **rn = calloc(n, sizeof *rn);
    int64_t *eid = malloc(2 * n * sizeof *eid);
    int64_t *rid = malloc(n * sizeof *rid);
    bool *ecr = malloc(2 * n * sizeof *ecr);
    bool *rcr = malloc(n * sizeof *rcr);
    if (!en || !rn || !eid || !rid || !ecr || !rcr)
        goto done;
    for (size_t i = 0; i < n; i++) {
        en[2 * i] = t[i].subj;
        en[2 * i + 1] = t[i].obj;
        rn[i] = t[i].rel;
    }
    /* relations first (embedded here), then entities, whose embedding may run on a
     * helper thread while the triples (and the next chunk's names) are stored */
    st = ctrl_resolve(c, &c->rel, rn, n, rid, rcr, false);
    if (st == STATUS_OK)
        st = ctrl_resolve(c, &c->ent, en, 2 * n, eid, ecr, true);
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        int64_t id = 0;
        enum mem_outcome oc = MEM_OUTCOME_NEW;
        st = mem_triple_add_ids(c->m, eid[2 * i], rid[i], eid[2 * i + 1],
                                source_ids ? source_ids[i] : source_id, &id, &oc);
        if (st != STATUS_OK)
            break;
        if (res) {
            res[i].triple_id = id;
            res[i].outcome = oc;
            res[i].new_subj = ecr[2 * i];
            res[i].new_obj = ecr[2 * i + 1];
            res[i].new_rel = rcr[i];
        }
        if (stats) {
            stats->n_new += oc == MEM_OUTCOME_NEW;
            stats->n_known += oc == MEM_OUTCOME_KNOWN;
            stats->n_conflict += oc == MEM_OUTCOME_CONFLICT;
            stats->entities_new += ecr[2 * i] + ecr[2 * i + 1];
            stats->relations_new += rcr[i];
        }
    }
done:
    free(en);
    free(rn);
    free(eid);
    free(rid);
    free(ecr);
    free(rcr);
    return st;
}

static enum status ctrl_check_triple(const struct ctrl_triple_in *t, size_t i)
{
    const char *parts[3] = {t->subj, t->rel, t->obj};
    const char *what[3] = {"subject", "relation", "object"};
    for (int j = 0; j < 3; j++) {
        enum status st = ctrl_check_name(parts[j], what[j]);
        if (st != STATUS_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", status_detail());
            /* TRANSLATORS: "triple 2: empty object" */
            return status_detail_set(st, _("triple %zu: %s"), i + 1, why);
        }
    }
    return STATUS_OK;
}

static enum status ctrl_no_batch(const struct ctrl *c)
{
    if (c->batch)
        return status_detail_set(STATUS_INVALID, _("a batch write is open"));
    return STATUS_OK;
}

enum status ctrl_write(struct ctrl *c, const struct ctrl_triple_in *t, size_t n,
                       const struct mem_source *src, struct ctrl_written *res)
{
    enum status st = ctrl_no_batch(c);
    for (size_t i = 0; i < n && st == STATUS_OK; i++)
        st = ctrl_check_triple(&t[i], i);
    if (st != STATUS_OK)
        return st;
    st = ctrl_tx_begin(c);
    if (st != STATUS_OK)
        return st;
    int64_t sid = 0;
    if (src)
        st = mem_source_add(c->m, src, &sid);
    if (st == STATUS_OK)
        st = ctrl_apply(c, t, n, NULL, sid, res, NULL);
    return ctrl_tx_end(c, st);
}

enum status ctrl_retire(struct ctrl *c, int64_t id, const char *reason)
{
    enum status st = ctrl_no_batch(c);
    if (st != STATUS_OK)
        return st;
    /* the indexes hold entities and relations only; a retired triple drops out of reads
     * because the store's lookups return live triples only */
    return mem_triple_retire(c->m, id, reason);
}

enum status ctrl_edit(struct ctrl *c, int64_t id, const char *subj, const char *rel,
                      const char *obj, const struct mem_source *src, const char *reason,
                      int64_t *new_id, enum mem_outcome *outcome)
{
    enum status st = ctrl_no_batch(c);
    if (st == STATUS_OK && subj)
        st = ctrl_check_name(subj, "subject");
    if (st == STATUS_OK && rel)
        st = ctrl_check_name(rel, "relation");
    if (st == STATUS_OK && obj)
        st = ctrl_check_name(obj, "object");
    if (st != STATUS_OK)
        return st;
    st = ctrl_tx_begin(c);
    if (st != STATUS_OK)
        return st;
    /* new names get their vectors first; mem_triple_edit then finds them by name */
    const char *ents[2];
    size_t ne = 0;
    if (subj)
        ents[ne++] = subj;
    if (obj)
        ents[ne++] = obj;
    int64_t ids[2];
    if (ne)
        st = ctrl_resolve(c, &c->ent, ents, ne, ids, NULL, false);
    if (st == STATUS_OK && rel)
        st = ctrl_resolve(c, &c->rel, &rel, 1, ids, NULL, false);
    int64_t sid = 0;
    if (st == STATUS_OK && src)
        st = mem_source_add(c->m, src, &sid);
    int64_t nid = 0;
    enum mem_outcome oc = MEM_OUTCOME_NEW;
    if (st == STATUS_OK)
        st = mem_triple_edit(c->m, id, subj, rel, obj, sid, reason, &nid, &oc);
    st = ctrl_tx_end(c, st);
    if (st != STATUS_OK)
        return st;
    *new_id = nid;
    if (outcome)
        *outcome = oc;
    return STATUS_OK;
}

/* ---- batch --------------------------------------------------------------------------- */

struct ctrl_batch {
    struct ctrl *c;
    struct ctrl_arena names; /* the queued triples' names; reset after each chunk */
    struct ctrl_triple_in *t;
    int64_t *src;
    size_t n;
    struct ctrl_batch_stats stats;
    enum status broken; /* STATUS_OK while usable */
};

enum status ctrl_batch_begin(struct ctrl *c, struct ctrl_batch **out)
{
    enum status st = ctrl_no_batch(c);
    if (st != STATUS_OK)
        return st;
    struct ctrl_batch *b = calloc(1, sizeof *b);
    if (!b)
        return STATUS_NOMEM;
    b->c = c;
    b->t = malloc(CTRL_BATCH_CHUNK * sizeof *b->t);
    b->src = malloc(CTRL_BATCH_CHUNK * sizeof *b->src);
    if (!b->t || !b->src) {
        free(b->t);
        free(b->src);
        free(b);
        return STATUS_NOMEM;
    }
    st = ctrl_tx_begin(c);
    if (st != STATUS_OK) {
        free(b->t);
        free(b->src);
        free(b);
        return st;
    }
    c->batch = b;
    *out = b;
    return STATUS_OK;
}

enum status ctrl_batch_source(struct ctrl_batch *b, const struct mem_source *src, int64_t *id)
{
    if (b->broken != STATUS_OK)
        return b->broken;
    return mem_source_add(b->c->m, src, id);
}

static enum status ctrl_batch_flush(struct ctrl_batch *b)
{
    if (b->broken != STATUS_OK)
        return b->broken;
    enum status st = ctrl_apply(b->c, b->t, b->n, b->src, 0, NULL, &b->stats);
    b->n = 0;
    ctrl_arena_free(&b->names);
    if (st != STATUS_OK)
        b->broken = st;
    return st;
}

enum status ctrl_batch_add(struct ctrl_batch *b, const char *subj, const char *rel,
                           const char *obj, int64_t source_id)
{
    if (b->broken != STATUS_OK)
        return b->broken;
    struct ctrl_triple_in t = {subj, rel, obj};
    enum status st = ctrl_check_name(subj, "subject");
    if (st == STATUS_OK)
        st = ctrl_check_name(rel, "relation");
    if (st == STATUS_OK)
        st = ctrl_check_name(obj, "object");
    if (st != STATUS_OK)
        return st;
    t.subj = ctrl_arena_strdup(&b->names, subj);
    t.rel = ctrl_arena_strdup(&b->names, rel);
    t.obj = ctrl_arena_strdup(&b->names, obj);
    if (!t.subj || !t.rel || !t.obj)
        return b->broken = STATUS_NOMEM;
    b->t[b->n] = t;
    b->src[b->n] = source_id;
    b->n++;
    b->stats.triples++;
    if (b->n == CTRL_BATCH_CHUNK)
        return ctrl_batch_flush(b);
    return STATUS_OK;
}

void ctrl_batch_stats_get(const struct ctrl_batch *b, struct ctrl_batch_stats *out)
{
    *out = b->stats;
}

static void ctrl_batch_free(struct ctrl_batch *b)
{
    b->c->batch = NULL;
    ctrl_arena_free(&b->names);
    free(b->t);
    free(b->src);
    free(b);
}

enum status ctrl_batch_commit(struct ctrl_batch *b, struct ctrl_batch_stats *stats)
{
    enum status st = ctrl_batch_flush(b);
    st = ctrl_tx_end(b->c, st);
    if (st == STATUS_OK && stats)
        *stats = b->stats;
    ctrl_batch_free(b);
    return st;
}

void ctrl_batch_abort(struct ctrl_batch *b)
{
    if (!b)
        return;
    ctrl_tx_end(b->c, STATUS_CANCELLED);
    ctrl_batch_free(b);
}

/* ---- reindex ----------------------------------------------------------------------------- */

struct ctrl_names {
    struct ctrl_arena arena;
    const char **name;
    int64_t *id;
    size_t n, cap;
    enum status st;
};

static int ctrl_names_row(void *ctx, const struct mem_named *row)
{
    struct ctrl_names *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        const char **nn = realloc(l->name, cap * sizeof *nn);
        if (nn)
            l->name = nn;
        int64_t *ni = realloc(l->id, cap * sizeof *ni);
        if (ni)
            l->id = ni;
        if (!nn || !ni) {
            l->st = STATUS_NOMEM;
            return 1;
        }
        l->cap = cap;
    }
    l->name[l->n] = ctrl_arena_strdup(&l->arena, row->name);
    if (!l->name[l->n]) {
        l->st = STATUS_NOMEM;
        return 1;
    }
    l->id[l->n++] = row->id;
    return 0;
}

static void ctrl_names_free(struct ctrl_names *l)
{
    ctrl_arena_free(&l->arena);
    free(l->name);
    free(l->id);
}

static enum status ctrl_reindex_kind(struct mem *m, const struct embedder *e, bool is_rel,
                                     size_t *count)
{
    struct ctrl_names l = {0};
    enum status st = is_rel ? mem_relation_each(m, false, ctrl_names_row, &l)
                            : mem_entity_each(m, false, ctrl_names_row, &l);
    if (st == STATUS_OK)
        st = l.st;
    float *vecs = malloc(CTRL_EMBED_CHUNK * e->dim * sizeof *vecs);
    if (!vecs && st == STATUS_OK)
        st = STATUS_NOMEM;
    bool computed = ctrl_embedder_computed(e);
    for (size_t i0 = 0; i0 < l.n && st == STATUS_OK; i0 += CTRL_EMBED_CHUNK) {
        size_t nb = l.n - i0 < CTRL_EMBED_CHUNK ? l.n - i0 : CTRL_EMBED_CHUNK;
        /* computed vectors: clear stored ones (every open embeds the names) */
        if (!computed)
            st = embed_texts(e, l.name + i0, NULL, nb, vecs);
        for (size_t i = 0; i < nb && st == STATUS_OK; i++) {
            const float *v = computed ? NULL : vecs + i * e->dim;
            st = is_rel ? mem_relation_set_emb(m, l.id[i0 + i], v, e->dim)
                        : mem_entity_set_emb(m, l.id[i0 + i], v, e->dim);
        }
    }
    free(vecs);
    if (st == STATUS_OK && count)
        *count = l.n;
    ctrl_names_free(&l);
    return st;
}

enum status ctrl_reindex(struct mem *m, const struct embedder *e, size_t *n_entities,
                         size_t *n_relations)
{
    enum status st = ctrl_check_embedder(e);
    if (st != STATUS_OK)
        return st;
    if (mem_in_transaction(m))
        return status_detail_set(STATUS_INVALID,
                                 _("a transaction is already open on the memory"));
    st = mem_begin(m);
    if (st != STATUS_OK)
        return st;
    size_t ne = 0, nr = 0;
    st = mem_embedder_set(m, e->id, e->dim);
    if (st == STATUS_OK)
        st = ctrl_reindex_kind(m, e, false, &ne);
    if (st == STATUS_OK)
        st = ctrl_reindex_kind(m, e, true, &nr);
    if (st == STATUS_OK)
        st = mem_commit(m);
    if (st != STATUS_OK) {
        mem_rollback(m);
        return st;
    }
    if (n_entities)
        *n_entities = ne;
    if (n_relations)
        *n_relations = nr;
    return STATUS_OK;
}

/* ---- check ------------------------------------------------------------------------------- */

struct ctrl_chk {
    struct ctrl *c;
    struct ctrl_kind *k;
    struct ctrl_check_report *rep;
    size_t rows, in_index;
    /* rows waiting for a fresh embedding */
    struct ctrl_arena arena;
    const char **names;
    float *stored, *fresh;
    bool *from_index; /* stored[i] is the index's vector (computed vectors) */
    size_t n;
    enum status st;
};

static enum status ctrl_chk_flush(struct ctrl_chk *k)
{
    size_t dim = k->c->e->dim;
    if (k->n == 0)
        return STATUS_OK;
    enum status st = embed_texts(k->c->e, k->names, NULL, k->n, k->fresh);
    for (size_t i = 0; i < k->n && st == STATUS_OK; i++) {
        double diff = 0;
        for (size_t d = 0; d < dim; d++)
            diff = fmax(diff, fabs((double)k->fresh[i * dim + d] - k->stored[i * dim + d]));
        if (diff > 1e-5) {
            if (k->from_index[i])
                k->rep->index_mismatch++;
            else
                k->rep->stale_vectors++;
        }
    }
    k->n = 0;
    ctrl_arena_free(&k->arena);
    return st;
}

static int ctrl_chk_row(void *ctx, const struct mem_named *row)
{
    struct ctrl_chk *k = ctx;
    size_t dim = k->c->e->dim;
    k->rows++;
    const float *v = sim_vector(k->k->sim, row->id);
    bool from_index = false;
    if (!row->emb && k->c->computed) {
        /* no stored vector by design: the index must hold the embedder's */
        if (!v) {
            k->rep->index_mismatch++;
            return 0;
        }
        k->in_index++;
        from_index = true;
    } else if (!row->emb) {
        k->rep->missing_vectors++;
        if (v) {
            k->in_index++;
            k->rep->index_mismatch++;
        }
        return 0;
    } else if (!v) {
        k->rep->index_mismatch++;
    } else {
        k->in_index++;
        if (memcmp(v, row->emb, dim * sizeof(float)) != 0)
            k->rep->index_mismatch++;
    }
    k->names[k->n] = ctrl_arena_strdup(&k->arena, row->name);
    if (!k->names[k->n]) {
        k->st = STATUS_NOMEM;
        return 1;
    }
    memcpy(k->stored + k->n * dim, from_index ? v : row->emb, dim * sizeof(float));
    k->from_index[k->n] = from_index;
    if (++k->n == CTRL_EMBED_CHUNK) {
        k->st = ctrl_chk_flush(k);
        if (k->st != STATUS_OK)
            return 1;
    }
    return 0;
}

static enum status ctrl_check_kind(struct ctrl *c, struct ctrl_kind *kind,
                                   struct ctrl_check_report *rep, size_t *rows, size_t *indexed)
{
    size_t dim = c->e->dim;
    struct ctrl_chk k = {.c = c, .k = kind, .rep = rep};
    k.names = malloc(CTRL_EMBED_CHUNK * sizeof *k.names);
    k.stored = malloc(CTRL_EMBED_CHUNK * dim * sizeof *k.stored);
    k.fresh = malloc(CTRL_EMBED_CHUNK * dim * sizeof *k.fresh);
    k.from_index = malloc(CTRL_EMBED_CHUNK * sizeof *k.from_index);
    enum status st = STATUS_NOMEM;
    if (k.names && k.stored && k.fresh && k.from_index) {
        st = kind->is_rel ? mem_relation_each(c->m, false, ctrl_chk_row, &k)
                          : mem_entity_each(c->m, false, ctrl_chk_row, &k);
        if (st == STATUS_OK)
            st = k.st;
        if (st == STATUS_OK)
            st = ctrl_chk_flush(&k);
    }
    /* index rows that the table does not have */
    size_t n_index = sim_count(kind->sim);
    if (n_index > k.in_index)
        rep->index_mismatch += n_index - k.in_index;
    *rows = k.rows;
    *indexed = n_index;
    ctrl_arena_free(&k.arena);
    free(k.names);
    free(k.stored);
    free(k.fresh);
    free(k.from_index);
    return st;
}

struct ctrl_orphans {
    unsigned char *used;
    size_t cap;
};

static int ctrl_orphan_row(void *ctx, const struct mem_triple *t)
{
    struct ctrl_orphans *o = ctx;
    if (t->subj > 0 && (size_t)t->subj < o->cap)
        o->used[t->subj] = 1;
    if (t->obj > 0 && (size_t)t->obj < o->cap)
        o->used[t->obj] = 1;
    return 0;
}

static int ctrl_orphan_count(void *ctx, const struct mem_named *row)
{
    struct ctrl_orphans *o = ctx;
    if (row->id > 0 && (size_t)row->id < o->cap && !o->used[row->id])
        o->used[row->id] = 2;
    return 0;
}

enum status ctrl_check(struct ctrl *c, struct ctrl_check_report *rep)
{
    struct ctrl_check_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    ctrl_embed_wait(c->job);
    enum status st = mem_check(c->m);
    if (st != STATUS_OK)
        return st;
    st = ctrl_check_kind(c, &c->ent, rep, &rep->entities, &rep->entities_indexed);
    if (st == STATUS_OK)
        st = ctrl_check_kind(c, &c->rel, rep, &rep->relations, &rep->relations_indexed);
    if (st != STATUS_OK)
        return st;

    /* orphans: entities no triple names (ids are bounded by the name cache) */
    struct ctrl_orphans o = {calloc(c->ent.names_cap + 1, 1), c->ent.names_cap + 1};
    if (!o.used)
        return STATUS_NOMEM;
    struct mem_filter f = {.include_retired = true};
    struct mem_page pg = {.sort = MEM_SORT_ID};
    st = mem_triple_list(c->m, &f, &pg, ctrl_orphan_row, &o);
    if (st == STATUS_OK)
        st = mem_entity_each(c->m, false, ctrl_orphan_count, &o);
    for (size_t i = 0; i < o.cap && st == STATUS_OK; i++)
        rep->orphan_entities += o.used[i] == 2;
    free(o.used);
    if (st != STATUS_OK)
        return st;

    if (rep->index_mismatch)
        return status_detail_set(STATUS_DB_CORRUPT,
                                 _("%s: %zu rows of the similarity index differ from the "
                                   "database"),
                                 mem_path(c->m), rep->index_mismatch);
    if (rep->missing_vectors)
        return status_detail_set(STATUS_DB_CORRUPT, _("%s: %zu names have no stored vector"),
                                 mem_path(c->m), rep->missing_vectors);
    if (rep->stale_vectors)
        return status_detail_set(STATUS_DB_CORRUPT,
                                 _("%s: %zu stored vectors differ from the embedder's; run "
                                   "'memllm mem reindex'"),
                                 mem_path(c->m), rep->stale_vectors);
    return STATUS_OK;
}
