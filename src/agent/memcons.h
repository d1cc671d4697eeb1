/* memcons.h -- constrained decoding (agent/constrain.h) over a memory, as memllm ask, chat,
 * write and eval use it.  The relation field takes the relation names the memory holds
 * when the constraint is made (those seeded from relations.tsv, imported facts, earlier
 * writes).  A read's entity may be a span of the question or one of the memory names
 * that agent_memory_names() picks for it (at most AGENT_NAMES_MAX names and
 * AGENT_NAMES_BYTES bytes per question); a write's spans come from the text the agent
 * gives the hook's source() (the sentence and its context).
 *
 * Kept apart from constrain.c so that the state machine (and its fuzz harness) links
 * without the agent and the store. */
#ifndef MEMLLM_MEMCONS_H
#define MEMLLM_MEMCONS_H

#include <stddef.h>

#include "util/status.h"

struct agent_constraint;
struct constrain;
struct mem;
struct tok;

/* The names of every relation of m, in id order: *names is an owned array of owned
 * strings (free with agent_names_free()), set only on success.  STATUS_NOMEM or the
 * store's error. */
enum status memcons_relation_names(struct mem *m, char ***names, size_t *n);

struct memcons; /* opaque */

/* A constraint over t's vocabulary (only read here, not kept: indexing a 32k vocabulary
 * is the costly part, so make one and reuse it) with constrain_params_init()'s settings
 * and the relation names of m (only read here).  Reads use no memory names until
 * memcons_set_memory().  *out set only on success; free with memcons_free(). */
enum status memcons_new(const struct tok *t, struct mem *m, struct memcons **out);
void memcons_free(struct memcons *mc); /* NULL is a no-op */

/* The memory whose names reads may use from the next source() on (borrowed until the
 * next call or memcons_free(); NULL: the question's spans only, as while writing, where
 * the lookup would be wasted).  The relation names stay those of memcons_new().
 * NULL mc is a no-op. */
void memcons_set_memory(struct memcons *mc, struct mem *m);

/* Fill *out with the agent's hook (for agent_set_constraint()): the hook of
 * constrain_as_agent_constraint() whose source() also gives the memory names.  mc is
 * borrowed and must outlive the agent's use of the hook. */
void memcons_hook(struct memcons *mc, struct agent_constraint *out);

/* The state machine inside (borrowed until memcons_free()); for tests and logs. */
struct constrain *memcons_constrain(struct memcons *mc);

#endif /* MEMLLM_MEMCONS_H */
