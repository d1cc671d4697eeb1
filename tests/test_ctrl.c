/* test_ctrl.c -- cmocka tests of the memory controller (src/memory/ctrl.c): the read
 * algorithm on hand-made memories, write outcomes, batches, embedder checks, integrity. */
#include "config.h"

#include "test_util.h"

#include <math.h>

#include "memory/ctrl.h"
#include "memory/embed.h"
#include "memory/sim.h"
#include "memory/store.h"

/* ---- a table embedder: names with hand-placed vectors --------------------------------
 * A listed name's vector is c * e_axis + s * e_other with c = 1 - dist, s = sqrt(1 - c^2):
 * its cosine distance to the pure axis vector is exactly dist (up to float rounding).
 * Other names get a pseudo-random unit vector in the upper half of the dimensions, far
 * from every listed name. */
#define TDIM 32

struct tname {
    const char *name;
    int axis, other;
    double dist;
};

static const struct tname tnames[] = {
    {"Paris", 0, 1, 0.0},
    {"Paris2", 0, 3, 0.02},     /* 0.02 from Paris */
    {"Pariss", 0, 1, 0.05},     /* 0.05 from Paris */
    {"France", 2, 3, 0.0},
    {"Texas", 4, 3, 0.0},
    {"Lyon", 5, 3, 0.0},
    {"capital of", 6, 7, 0.0},
    {"capital city of", 6, 8, 0.04}, /* 0.04 from capital of */
    {"capital", 6, 9, 0.12},         /* 0.12 from capital of */
    {"has", 10, 11, 0.0},
    {"Germany", 12, 3, 0.0},
};

static enum status temb_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                              float *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * TDIM;
        memset(v, 0, TDIM * sizeof *v);
        const struct tname *t = NULL;
        for (size_t j = 0; j < sizeof tnames / sizeof tnames[0]; j++)
            if (strlen(tnames[j].name) == lens[i] && memcmp(tnames[j].name, texts[i], lens[i]) == 0)
                t = &tnames[j];
        if (t) {
            double c = 1.0 - t->dist;
            v[t->axis] = (float)c;
            v[t->other] = (float)sqrt(1.0 - c * c);
            continue;
        }
        uint64_t h = 1469598103934665603u;
        for (size_t k = 0; k < lens[i]; k++)
            h = (h ^ (unsigned char)texts[i][k]) * 1099511628211u;
        double norm = 0;
        for (int d = TDIM / 2; d < TDIM; d++) {
            h ^= h >> 33;
            h *= 0xff51afd7ed558ccdu;
            h ^= h >> 33;
            v[d] = (float)((double)(h >> 11) / 9007199254740992.0 - 0.5);
            norm += (double)v[d] * v[d];
        }
        for (int d = TDIM / 2; d < TDIM; d++)
            v[d] = (float)(v[d] / sqrt(norm));
    }
    return STATUS_OK;
}

static struct embedder temb(const char *id)
{
    struct embedder e = {id, TDIM, temb_embed, NULL, NULL};
    return e;
}

struct fixture {
    struct mem *m;
    struct embedder e;
    struct ctrl *c;
};

static struct fixture *fx_open(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(mem_open(":memory:", &f->m), STATUS_OK);
    f->e = temb("table-v1");
    assert_int_equal(ctrl_open(f->m, &f->e, &f->c), STATUS_OK);
    return f;
}

static void fx_close(struct fixture *f)
{
    ctrl_close(f->c);
    mem_close(f->m);
    free(f);
}

static int64_t put(struct ctrl *c, const char *s, const char *r, const char *o,
                   enum mem_outcome want)
{
    struct ctrl_triple_in t = {s, r, o};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(c, &t, 1, NULL, &w), STATUS_OK);
    assert_int_equal(w.outcome, want);
    assert_true(w.triple_id > 0);
    return w.triple_id;
}

static void set_params(struct ctrl *c, double de, double dr, double q)
{
    struct ctrl_params p;
    ctrl_params_default(&p);
    p.dist_thr = de;
    p.dist_rel_thr = dr;
    p.q_thr = q;
    assert_int_equal(ctrl_params_set(c, &p), STATUS_OK);
}

static struct ctrl_read *read_q(struct ctrl *c, enum ctrl_want w, const char *name,
                                const char *rel)
{
    struct ctrl_read *r = NULL;
    assert_int_equal(ctrl_read(c, w, name, rel, &r), STATUS_OK);
    assert_non_null(r);
    return r;
}

/* ---- read ---------------------------------------------------------------------------- */

static void test_ctrl_read_exact_match_priority(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    int64_t t1 = put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    put(f->c, "Pariss", "capital of", "Texas", MEM_OUTCOME_NEW);
    set_params(f->c, 0.15, 0.15, 0.1);

    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_true(r->exact);
    assert_int_equal(r->n_found, 2);
    assert_int_equal(r->found[0].id, t1);
    assert_true(r->found[0].kept);
    assert_false(r->found[1].kept);
    assert_true(fabs(r->found[1].score - 0.025) < 1e-4);
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "France");
    assert_int_equal(r->answers[0].triple_id, t1);
    ctrl_read_free(r);

    /* no exact match: both, best first */
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris2", "capital of");
    assert_false(r->exact);
    assert_int_equal(r->n_answers, 2);
    assert_string_equal(r->answers[0].name, "France");
    assert_string_equal(r->answers[1].name, "Texas");
    assert_true(fabs(r->answers[0].score - 0.01) < 1e-4);
    assert_true(r->answers[0].score < r->answers[1].score);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_read_thresholds(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);

    /* the reference defaults: only exact lookups pass q_thr */
    set_params(f->c, 0.1, 0.1, 0.001);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris2", "capital of");
    assert_int_equal(r->n_answers, 0);
    assert_int_equal(r->n_pairs, 0);
    assert_true(r->n_entities_passed >= 1);
    assert_string_equal(r->entities[0].name, "Paris");
    assert_true(r->entities[0].passed);
    assert_true(fabs(r->entities[0].dist - 0.02) < 1e-4);
    ctrl_read_free(r);

    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_int_equal(r->n_answers, 1);
    ctrl_read_free(r);
    /* this embedder's defaults let the 0.02 variant through */
    struct ctrl_params p;
    ctrl_params_default(&p);
    assert_int_equal(ctrl_params_set(f->c, &p), STATUS_OK);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris2", "capital of");
    assert_int_equal(r->n_answers, 1);
    assert_false(r->exact);
    ctrl_read_free(r);

    /* relation 0.12 away: fails dist_rel_thr 0.1, passes 0.15 */
    set_params(f->c, 0.1, 0.1, 0.1);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital");
    assert_int_equal(r->n_answers, 0);
    assert_int_equal(r->n_relations_passed, 0);
    assert_true(r->n_relations >= 1);
    assert_false(r->relations[0].passed);
    assert_string_equal(r->relations[0].name, "capital of");
    ctrl_read_free(r);
    set_params(f->c, 0.1, 0.15, 0.1);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "France");
    ctrl_read_free(r);
    /* ... unless the pair score is too high */
    set_params(f->c, 0.1, 0.15, 0.05);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    /* entity threshold */
    set_params(f->c, 0.01, 0.15, 0.5);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris2", "capital of");
    assert_int_equal(r->n_entities_passed, 0);
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_read_dedups_answers(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    int64_t t1 = put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    put(f->c, "Paris", "capital city of", "France", MEM_OUTCOME_NEW);
    put(f->c, "Paris2", "capital of", "France", MEM_OUTCOME_NEW);
    set_params(f->c, 0.15, 0.15, 0.1);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris2", "capital of");
    assert_true(r->exact);
    /* the exact pair (Paris2, capital of) wins; France once */
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "France");
    ctrl_read_free(r);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Pariss", "capital of");
    assert_false(r->exact);
    assert_int_equal(r->n_found, 3);
    assert_int_equal(r->n_answers, 1);
    /* best triple: (Paris, capital of): d_e 0.05 + d_r 0 */
    assert_int_equal(r->answers[0].triple_id, t1);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_read_caps_answers_in_id_order(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    struct ctrl_triple_in t[40];
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "item %02d", 39 - i);
        t[i] = (struct ctrl_triple_in){"Paris", "has", names[i]};
    }
    struct ctrl_written w[40];
    assert_int_equal(ctrl_write(f->c, t, 40, NULL, w), STATUS_OK);
    for (int i = 1; i < 40; i++)
        assert_true(w[i].triple_id > w[i - 1].triple_id);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "has");
    assert_int_equal(r->n_found, 40);
    assert_int_equal(r->n_answers, CTRL_MAX_ANSWERS_DEFAULT);
    assert_true(r->truncated);
    for (size_t i = 0; i < r->n_answers; i++) {
        /* equal scores: triple id order, which is insertion order here */
        assert_int_equal(r->answers[i].triple_id, w[i].triple_id);
        assert_string_equal(r->answers[i].name, names[i]);
    }
    ctrl_read_free(r);

    struct ctrl_params p;
    ctrl_params_default(&p);
    p.max_answers = 40;
    assert_int_equal(ctrl_params_set(f->c, &p), STATUS_OK);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "has");
    assert_int_equal(r->n_answers, 40);
    assert_false(r->truncated);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_read_subject_wanted_mirror(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    put(f->c, "Lyon", "capital of", "Texas", MEM_OUTCOME_NEW);
    put(f->c, "Lyon", "has", "France", MEM_OUTCOME_NEW);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_SUBJECT, "France", "capital of");
    assert_int_equal(r->want, CTRL_WANT_SUBJECT);
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "Paris");
    ctrl_read_free(r);
    /* the object side is not searched as a subject */
    r = read_q(f->c, CTRL_WANT_OBJECT, "France", "capital of");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_read_empty_results(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_int_equal(r->n_entities, 0);
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Germany", "capital of");
    assert_int_equal(r->n_answers, 0);
    assert_int_equal(r->n_found, 0);
    ctrl_read_free(r);
    r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "no such relation at all");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    assert_int_equal(ctrl_read(f->c, CTRL_WANT_OBJECT, "", "x", &r), STATUS_INVALID);
    assert_int_equal(ctrl_read(f->c, CTRL_WANT_OBJECT, "a\xff", "x", &r), STATUS_ENCODING);
    fx_close(f);
}

static void test_ctrl_read_reports_failed_candidates(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    put(f->c, "Lyon", "capital of", "Texas", MEM_OUTCOME_NEW);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    /* 4 entities: 1 passes, the other 3 are shown as failing, in distance order */
    assert_int_equal(r->n_entities_passed, 1);
    assert_int_equal(r->n_entities, 4);
    for (size_t i = 1; i < r->n_entities; i++) {
        assert_false(r->entities[i].passed);
        assert_true(r->entities[i].dist >= r->entities[i - 1].dist);
    }
    ctrl_read_free(r);
    fx_close(f);
}

/* ---- write ---------------------------------------------------------------------------- */

static void test_ctrl_write_outcomes(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    struct ctrl_triple_in t = {"Paris", "capital of", "France"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(f->c, &t, 1, NULL, &w), STATUS_OK);
    assert_int_equal(w.outcome, MEM_OUTCOME_NEW);
    assert_true(w.new_subj && w.new_rel && w.new_obj);
    int64_t first = w.triple_id;
    assert_int_equal(ctrl_entity_count(f->c), 2);
    assert_int_equal(ctrl_relation_count(f->c), 1);

    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = "taught"};
    assert_int_equal(ctrl_write(f->c, &t, 1, &src, &w), STATUS_OK);
    assert_int_equal(w.outcome, MEM_OUTCOME_KNOWN);
    assert_int_equal(w.triple_id, first);
    assert_false(w.new_subj || w.new_rel || w.new_obj);

    /* single-valued relation: the second value is stored, flagged */
    int64_t rid = 0;
    assert_int_equal(mem_relation_find(f->m, "capital of", &rid), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(f->m, rid, true), STATUS_OK);
    struct ctrl_triple_in t2 = {"Paris", "capital of", "Texas"};
    assert_int_equal(ctrl_write(f->c, &t2, 1, &src, &w), STATUS_OK);
    assert_int_equal(w.outcome, MEM_OUTCOME_CONFLICT);
    assert_true(w.new_obj);
    assert_false(w.new_subj);
    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(f->m, w.triple_id, &info), STATUS_OK);
    assert_true(info->triple.conflict);
    assert_string_equal(info->source.text, "taught");
    mem_triple_info_free(info);

    /* several triples share one source; names repeat inside the call */
    struct ctrl_triple_in many[3] = {
        {"Lyon", "has", "Germany"}, {"Germany", "has", "Lyon"}, {"Lyon", "has", "Germany"}};
    struct ctrl_written mw[3];
    assert_int_equal(ctrl_write(f->c, many, 3, &src, mw), STATUS_OK);
    assert_int_equal(mw[0].outcome, MEM_OUTCOME_NEW);
    assert_true(mw[0].new_subj && mw[0].new_obj && mw[0].new_rel);
    assert_false(mw[1].new_subj || mw[1].new_obj);
    assert_int_equal(mw[2].outcome, MEM_OUTCOME_KNOWN);
    assert_int_equal(mw[2].triple_id, mw[0].triple_id);

    /* bad names: nothing stored */
    struct mem_stats s0, s1;
    assert_int_equal(mem_stats_get(f->m, &s0), STATUS_OK);
    struct ctrl_triple_in bad[2] = {{"A", "has", "B"}, {"C", "has", "\xc3"}};
    assert_int_equal(ctrl_write(f->c, bad, 2, NULL, NULL), STATUS_ENCODING);
    assert_non_null(strstr(status_detail(), "triple 2"));
    struct ctrl_triple_in empty = {"A", "", "B"};
    assert_int_equal(ctrl_write(f->c, &empty, 1, NULL, NULL), STATUS_INVALID);
    assert_int_equal(mem_stats_get(f->m, &s1), STATUS_OK);
    assert_int_equal(s0.entities, s1.entities);
    assert_int_equal(s0.triples_live, s1.triples_live);
    fx_close(f);
}

static void test_ctrl_write_stores_awkward_text(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    const char *odd = "O'Brien \"quoted\"; DROP TABLE triples; -- a>>b\nnext line";
    int64_t id = put(f->c, odd, "has", "x;y", MEM_OUTCOME_NEW);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, odd, "has");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "x;y");
    assert_int_equal(r->answers[0].triple_id, id);
    ctrl_read_free(r);
    fx_close(f);
}

static void test_ctrl_retire_keeps_reads_consistent(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    int64_t id = put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    assert_int_equal(ctrl_retire(f->c, id, "wrong"), STATUS_OK);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_int_equal(r->n_answers, 0);
    assert_int_equal(r->n_entities_passed, 1); /* the entity stays */
    ctrl_read_free(r);
    assert_int_equal(ctrl_entity_count(f->c), 2);
    assert_int_equal(ctrl_retire(f->c, id, NULL), STATUS_INVALID);
    assert_int_equal(ctrl_retire(f->c, 9999, NULL), STATUS_NOT_FOUND);
    /* the same fact can be stored again */
    int64_t id2 = put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    assert_true(id2 != id);
    assert_int_equal(ctrl_check(f->c, NULL), STATUS_OK);
    fx_close(f);
}

static void test_ctrl_edit_indexes_new_names(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    int64_t id = put(f->c, "Paris", "capital of", "Texas", MEM_OUTCOME_NEW);
    int64_t nid = 0;
    enum mem_outcome oc;
    struct mem_source src = {.kind = MEM_SOURCE_KIND_USER, .text = "fix"};
    assert_int_equal(ctrl_edit(f->c, id, NULL, NULL, "Lyon", &src, "typo", &nid, &oc),
                     STATUS_OK);
    assert_int_equal(oc, MEM_OUTCOME_NEW);
    assert_true(nid > id);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "Lyon");
    ctrl_read_free(r);
    r = read_q(f->c, CTRL_WANT_SUBJECT, "Lyon", "capital of");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "Paris");
    ctrl_read_free(r);
    r = read_q(f->c, CTRL_WANT_SUBJECT, "Texas", "capital of");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    /* a new relation name through edit */
    assert_int_equal(ctrl_edit(f->c, nid, NULL, "capital city of", NULL, NULL, NULL, &id, &oc),
                     STATUS_OK);
    assert_int_equal(ctrl_relation_count(f->c), 2);
    assert_int_equal(ctrl_edit(f->c, id, NULL, NULL, NULL, NULL, NULL, &nid, &oc),
                     STATUS_INVALID);
    assert_int_equal(ctrl_check(f->c, NULL), STATUS_OK);
    fx_close(f);
}

static void test_ctrl_batch_commit_and_abort(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    size_t ents0 = ctrl_entity_count(f->c);

    struct ctrl_batch *b = NULL;
    assert_int_equal(ctrl_batch_begin(f->c, &b), STATUS_OK);
    struct ctrl_triple_in t = {"x", "has", "y"};
    assert_int_equal(ctrl_write(f->c, &t, 1, NULL, NULL), STATUS_INVALID); /* batch open */
    struct mem_source src = {.kind = MEM_SOURCE_KIND_IMPORT, .file = "f.tsv", .line = 3};
    int64_t sid = 0;
    assert_int_equal(ctrl_batch_source(b, &src, &sid), STATUS_OK);
    char s[32], o[32];
    for (int i = 0; i < 20000; i++) { /* more than one chunk */
        snprintf(s, sizeof s, "subject %d", i % 5000);
        snprintf(o, sizeof o, "object %d", i);
        assert_int_equal(ctrl_batch_add(b, s, "has", o, i == 0 ? sid : 0), STATUS_OK);
    }
    assert_int_equal(ctrl_batch_add(b, "ok", "has", "bad\xff", 0), STATUS_ENCODING);
    assert_int_equal(ctrl_batch_add(b, "Paris", "capital of", "France", 0), STATUS_OK);
    struct ctrl_batch_stats st;
    assert_int_equal(ctrl_batch_commit(b, &st), STATUS_OK);
    assert_int_equal(st.triples, 20001);
    assert_int_equal(st.n_new, 20000);
    assert_int_equal(st.n_known, 1);
    assert_int_equal(st.entities_new, 25000);
    assert_int_equal(st.relations_new, 1);
    assert_int_equal(ctrl_entity_count(f->c), ents0 + 25000);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_SUBJECT, "object 19999", "has");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "subject 4999");
    ctrl_read_free(r);

    /* abort: nothing of it stays, in the store or the indexes */
    struct mem_stats s0, s1;
    assert_int_equal(mem_stats_get(f->m, &s0), STATUS_OK);
    assert_int_equal(ctrl_batch_begin(f->c, &b), STATUS_OK);
    for (int i = 0; i < 20000; i++) {
        snprintf(s, sizeof s, "new subject %d", i);
        assert_int_equal(ctrl_batch_add(b, s, "new relation", "France", 0), STATUS_OK);
    }
    ctrl_batch_abort(b);
    assert_int_equal(mem_stats_get(f->m, &s1), STATUS_OK);
    assert_int_equal(s1.entities, s0.entities);
    assert_int_equal(s1.triples_live, s0.triples_live);
    assert_int_equal(ctrl_entity_count(f->c), ents0 + 25000);
    assert_int_equal(ctrl_relation_count(f->c), 2);
    assert_int_equal(ctrl_check(f->c, NULL), STATUS_OK);
    /* the names are gone from the caches too: writing them again creates them */
    struct ctrl_triple_in t2 = {"new subject 7", "new relation", "France"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(f->c, &t2, 1, NULL, &w), STATUS_OK);
    assert_true(w.new_subj && w.new_rel && !w.new_obj);
    fx_close(f);
}

static void test_ctrl_batch_failure_rolls_back(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    struct ctrl_batch *b = NULL;
    assert_int_equal(ctrl_batch_begin(f->c, &b), STATUS_OK);
    assert_int_equal(ctrl_batch_add(b, "Lyon", "has", "Texas", 0), STATUS_OK);
    assert_int_equal(ctrl_batch_add(b, "Lyon", "has", "Germany", 12345), STATUS_OK);
    /* the unknown source makes the write fail at commit: all or nothing */
    assert_int_equal(ctrl_batch_commit(b, NULL), STATUS_NOT_FOUND);
    assert_int_equal(ctrl_entity_count(f->c), 2);
    assert_int_equal(ctrl_relation_count(f->c), 1);
    struct mem_stats s;
    assert_int_equal(mem_stats_get(f->m, &s), STATUS_OK);
    assert_int_equal(s.entities, 2);
    assert_int_equal(s.triples_live, 1);
    assert_int_equal(ctrl_check(f->c, NULL), STATUS_OK);
    put(f->c, "Lyon", "has", "Texas", MEM_OUTCOME_NEW);
    fx_close(f);
}

/* ---- open, embedder, maintenance ---------------------------------------------------------- */

static void test_ctrl_open_checks_embedder(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/m.db", dir);
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    struct embedder a = temb("table-v1"), b = temb("table-v2");
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &a, &c), STATUS_OK);
    put(c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    ctrl_close(c);
    const char *id;
    size_t dim;
    mem_embedder_get(m, &id, &dim);
    assert_string_equal(id, "table-v1");
    assert_int_equal(dim, TDIM);
    mem_close(m);

    assert_int_equal(mem_open(path, &m), STATUS_OK);
    c = NULL;
    assert_int_equal(ctrl_open(m, &b, &c), STATUS_EMBEDDER_MISMATCH);
    assert_null(c);
    assert_non_null(strstr(status_detail(), "table-v1"));
    struct embedder h;
    assert_int_equal(embed_hash_new(64, &h), STATUS_OK);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_EMBEDDER_MISMATCH);
    size_t ne = 0, nr = 0;
    assert_int_equal(ctrl_reindex(m, &h, &ne, &nr), STATUS_OK);
    assert_int_equal(ne, 2);
    assert_int_equal(nr, 1);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "paris", "Capital of");
    assert_int_equal(r->n_answers, 1); /* the hashed embedder folds case */
    assert_string_equal(r->answers[0].name, "France");
    ctrl_read_free(r);
    assert_int_equal(ctrl_check(c, NULL), STATUS_OK);
    ctrl_close(c);
    mem_close(m);
    embed_free(&h);
    test_rmtree(dir);
}

static void test_ctrl_open_embeds_rows_without_vectors(void **state)
{
    (void)state;
    struct mem *m = NULL;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    int64_t id = 0;
    assert_int_equal(mem_triple_add(m, "Paris", "capital of", "France", 0, &id, NULL),
                     STATUS_OK);
    struct embedder e = temb("table-v1");
    struct ctrl *c = NULL;
    assert_int_equal(ctrl_open(m, &e, &c), STATUS_OK);
    assert_int_equal(ctrl_entity_count(c), 2);
    struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "Paris", "capital of");
    assert_int_equal(r->n_answers, 1);
    assert_int_equal(r->answers[0].triple_id, id);
    ctrl_read_free(r);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    assert_int_equal(rep.entities, 2);
    assert_int_equal(rep.entities_indexed, 2);
    assert_int_equal(rep.relations, 1);
    assert_int_equal(rep.missing_vectors, 0);
    ctrl_close(c);
    mem_close(m);
}

static void test_ctrl_write_indexes_rows_made_elsewhere(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    /* another writer (the store directly, as another process would) adds rows the
     * controller's caches do not know, without vectors */
    int64_t id = 0;
    assert_int_equal(mem_triple_add(f->m, "Lyon", "has", "Texas", 0, &id, NULL), STATUS_OK);
    struct ctrl_triple_in t = {"Lyon", "has", "France"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(f->c, &t, 1, NULL, &w), STATUS_OK);
    assert_false(w.new_subj); /* found by name */
    assert_false(w.new_rel);
    struct ctrl_read *r = read_q(f->c, CTRL_WANT_OBJECT, "Lyon", "has");
    assert_int_equal(r->n_answers, 2);
    assert_string_equal(r->answers[0].name, "Texas");
    assert_string_equal(r->answers[1].name, "France");
    ctrl_read_free(r);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_DB_CORRUPT);
    assert_int_equal(rep.missing_vectors, 1); /* Texas only: Lyon and has got theirs */
    assert_int_equal(rep.index_mismatch, 0);
    /* reopening indexes everything */
    ctrl_close(f->c);
    assert_int_equal(ctrl_open(f->m, &f->e, &f->c), STATUS_OK);
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_OK);
    fx_close(f);
}

static void test_ctrl_check_finds_inconsistencies(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    int64_t tid = put(f->c, "Lyon", "has", "Texas", MEM_OUTCOME_NEW);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_OK);
    assert_int_equal(rep.orphan_entities, 0);
    /* an entity whose triples are all retired... still named by a retired triple */
    assert_int_equal(ctrl_retire(f->c, tid, NULL), STATUS_OK);
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_OK);
    assert_int_equal(rep.orphan_entities, 0);
    /* an entity without triples is an orphan, which is allowed */
    int64_t eid = 0;
    float v[TDIM];
    const char *nm = "Germany";
    size_t len = strlen(nm);
    assert_int_equal(temb_embed(NULL, &nm, &len, 1, v), STATUS_OK);
    assert_int_equal(mem_entity_ensure(f->m, nm, v, TDIM, &eid, NULL), STATUS_OK);
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_DB_CORRUPT); /* not in the index */
    assert_int_equal(rep.orphan_entities, 1);
    assert_int_equal(rep.index_mismatch, 1);
    fx_close(f);

    /* a stored vector that is not the embedder's */
    f = fx_open();
    put(f->c, "Paris", "capital of", "France", MEM_OUTCOME_NEW);
    int64_t pid = 0;
    assert_int_equal(mem_entity_find(f->m, "Paris", &pid), STATUS_OK);
    nm = "Texas";
    len = strlen(nm);
    assert_int_equal(temb_embed(NULL, &nm, &len, 1, v), STATUS_OK);
    assert_int_equal(mem_entity_set_emb(f->m, pid, v, TDIM), STATUS_OK);
    ctrl_close(f->c);
    assert_int_equal(ctrl_open(f->m, &f->e, &f->c), STATUS_OK);
    assert_int_equal(ctrl_check(f->c, &rep), STATUS_DB_CORRUPT);
    assert_int_equal(rep.stale_vectors, 1);
    assert_non_null(strstr(status_detail(), "reindex"));
    fx_close(f);
}

static void test_ctrl_params_checked(void **state)
{
    (void)state;
    struct ctrl_params p;
    ctrl_params_default(&p);
    assert_true(p.dist_thr == 0.20 && p.dist_rel_thr == 0.13 && p.q_thr == 0.10);
    assert_true(p.exact_thr == 0.001);
    assert_int_equal(p.top_entities, 300);
    assert_int_equal(p.top_relations, 25);
    assert_int_equal(p.max_answers, 30);
    assert_int_equal(ctrl_params_check(&p), STATUS_OK);
    p.q_thr = NAN;
    assert_int_equal(ctrl_params_check(&p), STATUS_INVALID);
    p.q_thr = -0.1;
    assert_int_equal(ctrl_params_check(&p), STATUS_INVALID);
    ctrl_params_default(&p);
    p.max_answers = 0;
    assert_int_equal(ctrl_params_check(&p), STATUS_INVALID);
}

static void test_ctrl_transaction_owned(void **state)
{
    (void)state;
    struct fixture *f = fx_open();
    assert_int_equal(mem_begin(f->m), STATUS_OK);
    struct ctrl_triple_in t = {"x", "has", "y"};
    assert_int_equal(ctrl_write(f->c, &t, 1, NULL, NULL), STATUS_INVALID);
    assert_int_equal(mem_rollback(f->m), STATUS_OK);
    assert_int_equal(ctrl_write(f->c, &t, 1, NULL, NULL), STATUS_OK);
    fx_close(f);
}

/* ---- bulk path against the per-call path ---------------------------------------------------- */

/* Appends one line per triple / name: contents by name, independent of row ids. */
struct dump {
    char *s;
    size_t len;
};

static void dump_add(struct dump *d, const char *a, const char *b, const char *c, long long x,
                     long long y)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%s|%s|%s|%lld|%lld\n", a, b, c ? c : "-", x, y);
    assert_true(n > 0 && (size_t)n < sizeof line);
    char *g = realloc(d->s, d->len + (size_t)n + 1);
    assert_non_null(g);
    d->s = g;
    memcpy(d->s + d->len, line, (size_t)n + 1);
    d->len += (size_t)n;
}

static int dump_triple(void *ctx, const struct mem_triple *t)
{
    dump_add(ctx, t->subj_name, t->rel_name, t->obj_name, t->retired_at != 0, t->conflict);
    return 0;
}

static int dump_named(void *ctx, const struct mem_named *row)
{
    /* the vector by its first components (exact: both paths store the same floats) */
    char v[64] = "-";
    if (row->emb)
        snprintf(v, sizeof v, "%a,%a", row->emb[0], row->emb[row->dim - 1]);
    dump_add(ctx, row->name, v, NULL, row->single_valued, (long long)row->dim);
    return 0;
}

static char *dump_mem(struct mem *m)
{
    struct dump d = {calloc(1, 1), 0};
    assert_non_null(d.s);
    struct mem_filter f = {.include_retired = true};
    struct mem_page pg = {.sort = MEM_SORT_ID};
    assert_int_equal(mem_triple_list(m, &f, &pg, dump_triple, &d), STATUS_OK);
    /* names in name order (the bulk path inserts a chunk's new names sorted) */
    assert_int_equal(mem_entity_prefix(m, "", NULL, 0, dump_named, &d), STATUS_OK);
    assert_int_equal(mem_relation_each(m, false, dump_named, &d), STATUS_OK);
    struct mem_stats st;
    assert_int_equal(mem_stats_get(m, &st), STATUS_OK);
    dump_add(&d, "stats", "", NULL, st.entities * 1000 + st.relations,
             st.triples_live * 1000 + st.sources);
    return d.s;
}

#define BULK_N 700

static void bulk_triple(int i, char *s, char *r, char *o)
{
    /* names repeat (known entities), triples repeat (KNOWN), and "capital of" is
     * single-valued (CONFLICT for a subject's second capital) */
    int j = i % 400;
    snprintf(s, 32, "Town %d", j % 150);
    snprintf(r, 32, "%s", j % 3 == 0 ? "capital of" : "has");
    snprintf(o, 32, "Land %d", (j * 13) % 97);
}

static void test_ctrl_batch_same_contents_as_per_call_writes(void **state)
{
    (void)state;
    struct embedder e = temb("table-v1");
    /* the per-call path: store calls one at a time, each in its own savepoint */
    struct mem *ref = NULL;
    assert_int_equal(mem_open(":memory:", &ref), STATUS_OK);
    assert_int_equal(mem_embedder_set(ref, e.id, e.dim), STATUS_OK);
    int64_t rid = 0, sid = 0;
    float vs[TDIM], vr[TDIM], vo[TDIM];
    assert_int_equal(mem_begin(ref), STATUS_OK);
    const char *cap = "capital of";
    assert_int_equal(embed_texts(&e, &cap, NULL, 1, vr), STATUS_OK);
    assert_int_equal(mem_relation_ensure(ref, cap, vr, TDIM, &rid, NULL), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(ref, rid, true), STATUS_OK);
    struct mem_source src = {.kind = MEM_SOURCE_KIND_IMPORT, .file = "x.tsv"};
    assert_int_equal(mem_source_add(ref, &src, &sid), STATUS_OK);
    size_t n_new = 0, n_known = 0, n_conflict = 0;
    for (int i = 0; i < BULK_N; i++) {
        char s[32], r[32], o[32];
        bulk_triple(i, s, r, o);
        const char *names[3] = {s, r, o};
        int64_t is = 0, ir = 0, io = 0, id = 0;
        assert_int_equal(embed_texts(&e, names, NULL, 1, vs), STATUS_OK);
        assert_int_equal(embed_texts(&e, names + 1, NULL, 1, vr), STATUS_OK);
        assert_int_equal(embed_texts(&e, names + 2, NULL, 1, vo), STATUS_OK);
        assert_int_equal(mem_entity_ensure(ref, s, vs, TDIM, &is, NULL), STATUS_OK);
        assert_int_equal(mem_relation_ensure(ref, r, vr, TDIM, &ir, NULL), STATUS_OK);
        assert_int_equal(mem_entity_ensure(ref, o, vo, TDIM, &io, NULL), STATUS_OK);
        enum mem_outcome oc;
        assert_int_equal(mem_triple_add_ids(ref, is, ir, io, i % 2 ? sid : 0, &id, &oc),
                         STATUS_OK);
        n_new += oc == MEM_OUTCOME_NEW;
        n_known += oc == MEM_OUTCOME_KNOWN;
        n_conflict += oc == MEM_OUTCOME_CONFLICT;
    }
    assert_int_equal(mem_commit(ref), STATUS_OK);
    assert_true(n_known > 0 && n_conflict > 0);

    /* the bulk path: one ctrl batch */
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &e, &c), STATUS_OK);
    struct ctrl_triple_in t0 = {"Nobody", cap, "Nowhere"};
    struct ctrl_written w;
    assert_int_equal(ctrl_write(c, &t0, 1, NULL, &w), STATUS_OK);
    int64_t mrid = 0;
    assert_int_equal(mem_relation_find(m, cap, &mrid), STATUS_OK);
    assert_int_equal(mem_relation_set_single_valued(m, mrid, true), STATUS_OK);
    assert_int_equal(ctrl_retire(c, w.triple_id, NULL), STATUS_OK);
    struct ctrl_batch *b = NULL;
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    int64_t bsid = 0;
    assert_int_equal(ctrl_batch_source(b, &src, &bsid), STATUS_OK);
    for (int i = 0; i < BULK_N; i++) {
        char s[32], r[32], o[32];
        bulk_triple(i, s, r, o);
        assert_int_equal(ctrl_batch_add(b, s, r, o, i % 2 ? bsid : 0), STATUS_OK);
    }
    struct ctrl_batch_stats bs;
    assert_int_equal(ctrl_batch_commit(b, &bs), STATUS_OK);
    assert_int_equal(bs.n_new, n_new);
    assert_int_equal(bs.n_known, n_known);
    assert_int_equal(bs.n_conflict, n_conflict);

    /* same contents once the extra retired triple and its two names are put aside */
    struct mem_triple_info *info = NULL;
    assert_int_equal(mem_triple_get(m, w.triple_id, &info), STATUS_OK);
    assert_string_equal(info->triple.subj_name, "Nobody");
    mem_triple_info_free(info);
    char *want = dump_mem(ref);
    char *got = dump_mem(m);
    const char *extra = "Nobody|capital of|Nowhere|1|0\n";
    assert_memory_equal(got, extra, strlen(extra));
    char *rest = got + strlen(extra);
    /* drop the lines of the two extra entities and the stats line, compare the rest */
    char *filtered = calloc(1, strlen(rest) + 1), *wf = calloc(1, strlen(want) + 1);
    assert_non_null(filtered);
    assert_non_null(wf);
    for (char *line = strtok(rest, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "Nobody|", 7) || !strncmp(line, "Nowhere|", 8) ||
            !strncmp(line, "stats|", 6))
            continue;
        strcat(filtered, line);
        strcat(filtered, "\n");
    }
    for (char *line = strtok(want, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "stats|", 6)) {
            strcat(wf, line);
            strcat(wf, "\n");
        }
    }
    assert_true(strlen(wf) > 1000);
    assert_string_equal(filtered, wf);
    struct mem_stats s1, s2;
    assert_int_equal(mem_stats_get(ref, &s1), STATUS_OK);
    assert_int_equal(mem_stats_get(m, &s2), STATUS_OK);
    assert_int_equal(s2.entities, s1.entities + 2);
    assert_int_equal(s2.triples_live, s1.triples_live);
    assert_int_equal(s2.conflicts, s1.conflicts);
    assert_int_equal(ctrl_check(c, NULL), STATUS_OK);
    free(filtered);
    free(wf);
    free(want);
    free(got);
    ctrl_close(c);
    mem_close(m);
    mem_close(ref);
}

/* The default embedder's vectors are computed at open, not stored. */
static void test_ctrl_computed_vectors_not_stored(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/computed.db", dir);
    struct embedder h;
    assert_int_equal(embed_hash_new(64, &h), STATUS_OK);
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    struct ctrl_batch *b = NULL;
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    assert_int_equal(ctrl_batch_add(b, "Marie Curie", "award received", "Nobel Prize", 0),
                     STATUS_OK);
    assert_int_equal(ctrl_batch_add(b, "Pierre Curie", "spouse", "Marie Curie", 0), STATUS_OK);
    assert_int_equal(ctrl_batch_commit(b, NULL), STATUS_OK);
    struct ctrl_triple_in t = {"Paris", "capital of", "France"};
    assert_int_equal(ctrl_write(c, &t, 1, NULL, NULL), STATUS_OK);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    assert_int_equal(rep.entities, 5);
    assert_int_equal(rep.entities_indexed, 5);
    assert_int_equal(rep.missing_vectors, 0);
    ctrl_close(c);
    /* no vector in the database */
    struct dump d = {calloc(1, 1), 0};
    assert_int_equal(mem_entity_each(m, false, dump_named, &d), STATUS_OK);
    assert_int_equal(mem_relation_each(m, false, dump_named, &d), STATUS_OK);
    assert_null(strstr(d.s, "0x"));
    assert_non_null(strstr(d.s, "Nobel Prize|-"));
    free(d.s);
    mem_close(m);

    /* reopened: every name is embedded again and found by similarity */
    assert_int_equal(mem_open(path, &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    assert_int_equal(ctrl_entity_count(c), 5);
    struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "marie curie", "award received");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "Nobel Prize");
    ctrl_read_free(r);
    assert_int_equal(ctrl_check(c, NULL), STATUS_OK);
    /* a stored vector (an older build wrote it) is used and checked */
    int64_t id = 0;
    assert_int_equal(mem_entity_find(m, "France", &id), STATUS_OK);
    float v[64];
    const char *nm = "Texas";
    assert_int_equal(embed_texts(&h, &nm, NULL, 1, v), STATUS_OK);
    assert_int_equal(mem_entity_set_emb(m, id, v, 64), STATUS_OK);
    ctrl_close(c);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    assert_int_equal(ctrl_check(c, &rep), STATUS_DB_CORRUPT);
    assert_int_equal(rep.stale_vectors, 1);
    ctrl_close(c);
    /* reindex clears stored vectors of a computed embedder */
    size_t ne = 0, nr = 0;
    assert_int_equal(ctrl_reindex(m, &h, &ne, &nr), STATUS_OK);
    assert_int_equal(ne, 5);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    assert_int_equal(rep.stale_vectors, 0);
    ctrl_close(c);
    mem_close(m);
    embed_free(&h);
    test_rmtree(dir);
}

/* Many new names with computed vectors: embedded on a helper thread while the triples are
 * stored; the index ends up as a fresh open would build it, and a failed batch leaves no
 * trace in it. */
/* The embedding of one chunk's new names runs on while the next chunk is stored: reads
 * and counts in the middle of a batch, a name another writer made (the index is asked
 * about it while a chunk's embedding is in flight), and a failure in a later chunk. */
static void test_ctrl_batch_embedding_overlaps_chunks(void **state)
{
    (void)state;
    struct embedder h;
    assert_int_equal(embed_hash_new(32, &h), STATUS_OK);
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    /* another writer's rows, unknown to the controller's caches */
    int64_t tid = 0;
    assert_int_equal(mem_triple_add(m, "outsider", "lives in", "town 5", 0, &tid, NULL), STATUS_OK);
    const int n = 40000; /* three chunks of the batch */
    struct ctrl_batch *b = NULL;
    char s[64], o[64];
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    for (int i = 0; i < n; i++) {
        snprintf(s, sizeof s, "person %d", i);
        snprintf(o, sizeof o, "town %d", i % 1000);
        assert_int_equal(ctrl_batch_add(b, i == 20000 ? "outsider" : s, "lives in", o, 0),
                         STATUS_OK);
        if (i == 17000) {
            /* the first chunk is stored, its names maybe still being embedded */
            assert_int_equal(ctrl_entity_count(c), 16384 + 1000);
            struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "person 16000", "lives in");
            assert_int_equal(r->n_answers, 1);
            assert_string_equal(r->answers[0].name, "town 0");
            ctrl_read_free(r);
        }
    }
    struct ctrl_batch_stats bs;
    assert_int_equal(ctrl_batch_commit(b, &bs), STATUS_OK);
    assert_int_equal(bs.n_new, n);
    assert_int_equal(bs.entities_new, n - 1 + 1000 - 1);
    size_t ents = (size_t)n + 1000;
    assert_int_equal(ctrl_entity_count(c), ents);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    assert_int_equal(rep.entities_indexed, ents);
    struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "outsider", "lives in");
    assert_int_equal(r->n_answers, 2);
    assert_string_equal(r->answers[0].name, "town 5");
    assert_string_equal(r->answers[1].name, "town 0");
    ctrl_read_free(r);
    r = read_q(c, CTRL_WANT_OBJECT, "person 39999", "lives in");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "town 999");
    ctrl_read_free(r);

    /* a failure in the last chunk, with the previous chunk's embedding in flight */
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    for (int i = 0; i < n; i++) {
        snprintf(s, sizeof s, "visitor %d", i);
        assert_int_equal(ctrl_batch_add(b, s, "visited", "town 1", i == n - 1 ? 424242 : 0),
                         STATUS_OK);
    }
    assert_int_equal(ctrl_batch_commit(b, NULL), STATUS_NOT_FOUND);
    assert_int_equal(ctrl_entity_count(c), ents);
    assert_int_equal(ctrl_relation_count(c), 1);
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    r = read_q(c, CTRL_WANT_OBJECT, "visitor 5", "visited");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    struct mem_stats st;
    assert_int_equal(mem_stats_get(m, &st), STATUS_OK);
    assert_int_equal(st.entities, (int64_t)ents);
    assert_int_equal(st.triples_live, n + 1);
    ctrl_close(c);
    mem_close(m);
    embed_free(&h);
}

static void test_ctrl_batch_helper_thread_indexes(void **state)
{
    (void)state;
    struct embedder h;
    assert_int_equal(embed_hash_new(32, &h), STATUS_OK);
    struct mem *m = NULL;
    struct ctrl *c = NULL;
    assert_int_equal(mem_open(":memory:", &m), STATUS_OK);
    assert_int_equal(ctrl_open(m, &h, &c), STATUS_OK);
    const int n = 3000; /* more than one embedding chunk of new names */
    struct ctrl_batch *b = NULL;
    char s[64], o[64];
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    for (int i = 0; i < n; i++) {
        snprintf(s, sizeof s, "person %d", i);
        snprintf(o, sizeof o, "town %d", i % 500);
        assert_int_equal(ctrl_batch_add(b, s, "lives in", o, 0), STATUS_OK);
    }
    struct ctrl_batch_stats bs;
    assert_int_equal(ctrl_batch_commit(b, &bs), STATUS_OK);
    assert_int_equal(bs.n_new, n);
    assert_int_equal(bs.entities_new, n + 500);
    assert_int_equal(ctrl_entity_count(c), n + 500);
    struct ctrl_check_report rep;
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    assert_int_equal(rep.entities_indexed, n + 500);
    assert_int_equal(rep.index_mismatch, 0);
    struct ctrl_read *r = read_q(c, CTRL_WANT_OBJECT, "person 2718", "lives in");
    assert_int_equal(r->n_answers, 1);
    assert_string_equal(r->answers[0].name, "town 218");
    ctrl_read_free(r);

    /* a batch that fails while the helper indexes its names: rolled back everywhere */
    assert_int_equal(ctrl_batch_begin(c, &b), STATUS_OK);
    for (int i = 0; i < n; i++) {
        snprintf(s, sizeof s, "visitor %d", i);
        assert_int_equal(ctrl_batch_add(b, s, "visited", "town 1", i == n - 1 ? 424242 : 0),
                         STATUS_OK);
    }
    assert_int_equal(ctrl_batch_commit(b, NULL), STATUS_NOT_FOUND);
    assert_int_equal(ctrl_entity_count(c), n + 500);
    assert_int_equal(ctrl_relation_count(c), 1);
    assert_int_equal(ctrl_check(c, &rep), STATUS_OK);
    r = read_q(c, CTRL_WANT_OBJECT, "visitor 5", "visited");
    assert_int_equal(r->n_answers, 0);
    ctrl_read_free(r);
    struct mem_stats st;
    assert_int_equal(mem_stats_get(m, &st), STATUS_OK);
    assert_int_equal(st.entities, n + 500);
    assert_int_equal(st.triples_live, n);
    ctrl_close(c);
    mem_close(m);
    embed_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctrl_read_exact_match_priority),
        cmocka_unit_test(test_ctrl_read_thresholds),
        cmocka_unit_test(test_ctrl_read_dedups_answers),
        cmocka_unit_test(test_ctrl_read_caps_answers_in_id_order),
        cmocka_unit_test(test_ctrl_read_subject_wanted_mirror),
        cmocka_unit_test(test_ctrl_read_empty_results),
        cmocka_unit_test(test_ctrl_read_reports_failed_candidates),
        cmocka_unit_test(test_ctrl_write_outcomes),
        cmocka_unit_test(test_ctrl_write_stores_awkward_text),
        cmocka_unit_test(test_ctrl_retire_keeps_reads_consistent),
        cmocka_unit_test(test_ctrl_edit_indexes_new_names),
        cmocka_unit_test(test_ctrl_batch_commit_and_abort),
        cmocka_unit_test(test_ctrl_batch_failure_rolls_back),
        cmocka_unit_test(test_ctrl_open_checks_embedder),
        cmocka_unit_test(test_ctrl_batch_same_contents_as_per_call_writes),
        cmocka_unit_test(test_ctrl_computed_vectors_not_stored),
        cmocka_unit_test(test_ctrl_batch_helper_thread_indexes),
        cmocka_unit_test(test_ctrl_batch_embedding_overlaps_chunks),
        cmocka_unit_test(test_ctrl_open_embeds_rows_without_vectors),
        cmocka_unit_test(test_ctrl_write_indexes_rows_made_elsewhere),
        cmocka_unit_test(test_ctrl_check_finds_inconsistencies),
        cmocka_unit_test(test_ctrl_params_checked),
        cmocka_unit_test(test_ctrl_transaction_owned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
