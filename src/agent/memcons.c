/* memcons.c -- constrained decoding over a memory: relation names from the store, memory
 * names for reads (see memcons.h). */
#include "config.h"
#include "agent/memcons.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/constrain.h"
#include "memory/store.h"

struct memcons {
    struct constrain *c;
    struct agent_constraint inner; /* constrain's own hook; source() is replaced */
    struct mem *m;                 /* names for reads; NULL: none */
};

/* ---- relation names ------------------------------------------------------------------ */

struct rel_list {
    char **names;
    size_t n, cap;
    bool nomem;
};

static int collect_relation(void *ctx, const struct mem_named *row)
{
    struct rel_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nn = realloc(l->names, cap * sizeof *nn);
        if (!nn) {
            l->nomem = true;
            return 1;
        }
        l->names = nn;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(row->name))) {
        l->nomem = true;
        return 1;
    }
    l->n++;
    return 0;
}

enum status memcons_relation_names(struct mem *m, char ***names, size_t *n)
{
    struct rel_list l = {0};
    enum status st = mem_relation_each(m, false, collect_relation, &l);
    if (st == STATUS_OK && l.nomem)
        st = STATUS_NOMEM;
    if (st != STATUS_OK) {
        agent_names_free(l.names, l.n);
        return st;
    }
    *names = l.names;
    *n = l.n;
    return STATUS_OK;
}

/* ---- the hook ------------------------------------------------------------------------- */

/* The question or sentence the constraint takes its spans from, with the memory names
 * that share a word with it (bounded: the cost of a read's entity field is linear in
 * their total length). */
static enum status mc_source(void *ctx, const char *text, size_t len)
{
    struct memcons *mc = ctx;
    char **names = NULL;
    size_t n = 0;
    enum status st = STATUS_OK;
    if (mc->m)
        st = agent_memory_names(mc->m, text, len, AGENT_NAMES_MAX, AGENT_NAMES_BYTES, &names,
                                &n);
    if (st == STATUS_OK)
        st = constrain_set_source(mc->c, text, len, (const char *const *)names, n);
    agent_names_free(names, n);
    return st;
}

static enum status mc_begin(void *ctx, int kind, const char *context, size_t len)
{
    struct memcons *mc = ctx;
    return mc->inner.begin(mc->inner.ctx, kind, context, len);
}

static enum status mc_mask(void *ctx, struct samp *s)
{
    struct memcons *mc = ctx;
    return mc->inner.mask(mc->inner.ctx, s);
}

static bool mc_accept(void *ctx, int32_t token)
{
    struct memcons *mc = ctx;
    return mc->inner.accept(mc->inner.ctx, token);
}

static void mc_end(void *ctx)
{
    struct memcons *mc = ctx;
    mc->inner.end(mc->inner.ctx);
}

/* ---- lifetime ------------------------------------------------------------------------- */

enum status memcons_new(const struct tok *t, struct mem *m, struct memcons **out)
{
    struct memcons *mc = calloc(1, sizeof *mc);
    if (!mc)
        return STATUS_NOMEM;
    char **names = NULL;
    size_t n = 0;
    enum status st = memcons_relation_names(m, &names, &n);
    if (st == STATUS_OK) {
        struct constrain_params cp;
        constrain_params_init(&cp);
        cp.relations = (const char *const *)names;
        cp.n_relations = n;
        st = constrain_new(t, &cp, &mc->c);
    }
    agent_names_free(names, n);
    if (st != STATUS_OK) {
        free(mc);
        return st;
    }
    constrain_as_agent_constraint(mc->c, &mc->inner);
    *out = mc;
    return STATUS_OK;
}

void memcons_free(struct memcons *mc)
{
    if (!mc)
        return;
    constrain_free(mc->c);
    free(mc);
}

void memcons_set_memory(struct memcons *mc, struct mem *m)
{
    if (mc)
        mc->m = m;
}

void memcons_hook(struct memcons *mc, struct agent_constraint *out)
{
    *out = mc->inner;
    out->source = mc_source;
    out->begin = mc_begin;
    out->mask = mc_mask;
    out->accept = mc_accept;
    out->end = mc_end;
    out->ctx = mc;
}

struct constrain *memcons_constrain(struct memcons *mc)
{
    return mc->c;
}
