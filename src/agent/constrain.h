/* constrain.h -- constrained decoding of MemLLM calls: a byte-level state machine over the
 * call grammar (protocol/call.h, DESIGN.md section 3) and, from it, per-step allow-lists
 * of token ids.
 *
 * Grammar, as text after the call's opening "({" (SP = one optional space):
 *   head   = SP ("MEM_READ(" read | "MEM_WRITE" "-->" SP write)
 *   read   = query *2(";" query) ")" "-->"            (complete after "-->")
 *   query  = ENTITY ">>" RELATION ">>" | ">>" RELATION ">>" ENTITY
 *   write  = "})" | triple *(";" triple) "})"          (complete after "})")
 *   triple = SPAN ">>" RELATION ">>" SPAN
 * This is the canonical form that call_parse_read()/call_parse_write() accept with no
 * errors; the machine never allows the tolerated extra spaces inside the call.
 *
 * Fields.  SPAN is a whole-word span of the source text given to constrain_begin() (the
 * sentence being memorized): a run of 1..max_span_words words (whitespace-separated),
 * starting at a word's first letter after leading quotes/brackets and ending at a word's
 * end without trailing punctuation (also: with a trailing '.' for short capitalized words
 * and words containing '.', "Inc.", "U.S."; with a trailing ')' when that balances an
 * opening one, "Queen (band)"; before a possessive "'s").  Spans must have balanced
 * parentheses, no '>' '}' or ';', pass call_name_check(), and (params.byte_cover) have
 * only bytes that some token is on its own.  With params.stopwords,
 * single function words ("It", "he", "of") are not spans, nor spans that start with one
 * (other than "the"/"a"/"an") or end with one.  ENTITY (read) is such a span of the
 * question or one of the memory names given to constrain_begin() (same character rules).
 * RELATION is one of the relation names of the params (plus constrain_add_relations()).
 *
 * Structure.  A write has at most max_triples triples; no triple repeats, none is the
 * reverse (o, r, s) of an earlier one, subject != object.  A read has at most
 * max_queries queries, none repeated.  The machine only lets through prefixes that can
 * still be completed (counting, per trie node, the names below it that the rules above
 * still allow), so an allow-list is never empty before the call is complete, and every
 * path of allowed tokens ends in a complete call.  (To keep that guarantee the caps are
 * lowered to the number of relations, and a write with fewer than two spans can only be
 * the empty "({MEM_WRITE-->})"; a read needs at least one entity and one relation.)
 *
 * Tokens.  Each token's decoded text (pieces with U+2581 as ' ', byte tokens as their
 * byte, user-defined tokens as their text; control, unknown and unused tokens never) is
 * put in a byte trie once at constrain_new(); a mask walks that trie and the grammar
 * together, descending only into token prefixes the grammar accepts, so a step costs a
 * few thousand byte transitions rather than a scan of the vocabulary.  When the
 * vocabulary has "-->" or "})" as a user-defined token, that delimiter may only be
 * written as that token (as in training), never spelt out by ordinary pieces.
 *
 * Threads: one constrain per generation; it is not shared. */
#ifndef MEMLLM_CONSTRAIN_H
#define MEMLLM_CONSTRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

struct tok;
struct samp;
struct agent_constraint;

#define CONSTRAIN_MAX_TRIPLES 16 /* hard upper bound of max_triples */

struct constrain_params {
    const char *const *relations; /* relation names (borrowed during constrain_new) */
    size_t n_relations;
    size_t max_span_words;         /* words in a span (8) */
    size_t max_triples;            /* triples in a write (6; at most CONSTRAIN_MAX_TRIPLES) */
    size_t max_queries;            /* queries in a read (3; at most CALL_MAX_QUERIES) */
    bool stopwords;                /* drop function-word spans (true) */
    bool byte_cover;               /* drop names with a byte that no single token is
                                    * (true): keeps allow-lists from running empty inside a
                                    * name; byte-fallback vocabularies lose nothing */
};

/* Defaults above; no relations. */
void constrain_params_init(struct constrain_params *p);

enum constrain_kind {
    CONSTRAIN_KIND_AUTO,  /* right after "({": either keyword */
    CONSTRAIN_KIND_READ,
    CONSTRAIN_KIND_WRITE,
};

struct constrain; /* opaque */

/* Index the vocabulary of t (only read here; not kept) and the relation names.  Names
 * that could not be written in a call (call_name_check(), '>', '}', unbalanced
 * parentheses) are skipped.  STATUS_INVALID for bad params (detail names the field),
 * STATUS_NOMEM.  *out set only on success; free with constrain_free(). */
enum status constrain_new(const struct tok *t, const struct constrain_params *p,
                          struct constrain **out);
void constrain_free(struct constrain *c); /* NULL is a no-op */

/* Add relation names (e.g. those already in memory) to the relation field; copied. */
enum status constrain_add_relations(struct constrain *c, const char *const *names, size_t n);

/* Start a call whose "({" has just been written.  context[0..len) is the source text
 * (write: the sentence; read: the question); memory_names[0..n_names) extra read
 * entities (copied; keep the list bounded, e.g. names near the question: the cost is
 * linear in their total length).  STATUS_NOT_FOUND (detail) for a READ that has no
 * entity or no relation.  Any earlier call is ended first. */
enum status constrain_begin(struct constrain *c, enum constrain_kind kind, const char *context,
                            size_t len, const char *const *memory_names, size_t n_names);

/* Feed call text that is already written (after "({"), byte by byte.  STATUS_INVALID
 * (detail: byte offset) at the first byte the grammar refuses; the bytes before it stay
 * fed.  *complete (may be NULL): the call is complete. */
enum status constrain_feed(struct constrain *c, const char *text, size_t len, bool *complete);

/* The token ids that may come next, ascending: borrowed until the next call on c.
 * STATUS_INVALID when no call is active or it is complete; STATUS_NOT_FOUND when no
 * token continues the call (cannot happen after a successful begin, see above). */
enum status constrain_allowed(struct constrain *c, const int32_t **ids, size_t *n);

/* The same installed as s's allow-list (samp_mask_allow). */
enum status constrain_mask(struct constrain *c, struct samp *s);

/* Advance by token.  STATUS_INVALID (state unchanged) for a token the grammar refuses.
 * *complete (may be NULL) receives whether the call is now complete. */
enum status constrain_accept(struct constrain *c, int32_t token, bool *complete);

bool constrain_active(const struct constrain *c);   /* begun and not ended */
bool constrain_complete(const struct constrain *c); /* the call is complete */
/* READ or WRITE once the keyword is written, else AUTO. */
enum constrain_kind constrain_kind_get(const struct constrain *c);
/* Number of names the current entity field draws from (spans, plus memory names for a
 * read); 0 without an active call.  For tests and logs. */
size_t constrain_entity_count(const struct constrain *c);

void constrain_end(struct constrain *c); /* NULL or no active call: no-op */

/* ---- the agent's hook (agent/agent.h) ------------------------------------------------- */

/* The source text that the hook's begin() gives constrain_begin(): the question or
 * sentence, and memory names (all copied).  The hook's source() replaces the text and
 * keeps the names; the agent calls it before each answer and each sentence. */
enum status constrain_set_source(struct constrain *c, const char *text, size_t len,
                                 const char *const *memory_names, size_t n_names);

/* The kind the hook's begin() uses while the agent does not know it yet
 * (CALL_KIND_UNKNOWN): AUTO by default; READ in read mode keeps the model from starting a
 * write call there. */
void constrain_set_hook_kind(struct constrain *c, enum constrain_kind kind);

/* Fill *out so that the agent's loop drives c: source() sets the source text; begin() maps CALL_KIND_UNKNOWN/READ/WRITE
 * to the hook kind/READ/WRITE, calls constrain_begin() with the source and then feeds the call
 * text after its "({"; mask() installs the allow-list; accept() returns false for a
 * refused token; end() ends the call.  A call the machine cannot follow (a read with no
 * entity to name, call text it refuses) is not reported as an error: mask() then leaves
 * the sampler alone and accept() refuses the next token, so the agent drops the call as a
 * failed read.  c is borrowed and must outlive the agent's use. */
void constrain_as_agent_constraint(struct constrain *c, struct agent_constraint *out);

#endif /* MEMLLM_CONSTRAIN_H */
