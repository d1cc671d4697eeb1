/* synth.h -- synthetic, copy-dense MemLLM training examples about invented entities and
 * real seed facts (the bulk of the default model's training data; data/README).
 *
 * Every example is built from triples (subject, relation, object).  Subjects and objects
 * are invented names made fresh for each example from syllables (countries, cities,
 * people, works, companies, universities, teams, languages, currencies) or dates/years,
 * so that nothing can be memorized and every name in a call or answer must be copied from
 * the text; a share of the examples (real_share) uses real facts instead (the seed facts
 * of data/, relations capital, continent, official language, currency, country).
 *
 * Kinds, in the exact strings of DESIGN.md section 3 and of the agent (agent/agent.h):
 *   write   prompt     = [context sentence " "] "({USER_ST})" sentence "({USER_END})"
 *           completion = "({MEM_WRITE-->" s ">>" r ">>" o [";" ...] "})"
 *     the sentence states one fact (a phrasing of its relation), two facts about one
 *     subject (the second with a pronoun), no fact ("({MEM_WRITE-->})"), or is the second
 *     half of a question-answer pair: context = a question, sentence =
 *     "It is or they are \"" answer "\"" (the ZsRE statement form of agent/eval.h).
 *   read    text = "Q: " question "\nA:" "({MEM_READ(" query ")-->" results "})" answer
 *     with the loss on the call up to "-->" and on the answer (not on the question nor on
 *     the results, which memory supplies); queries are "s>>r>>" or ">>r>>o" (subject
 *     missing); answers quote the results ("X." or a statement starting with X).
 *     A share of the real-fact reads carry a changed result (a fact edited in memory),
 *     so that answers follow memory rather than what the model may remember.
 *   unknown text = "Q: " question "\nA: I do not know." (loss on the answer): what the
 *     agent shows the model after an empty read (the call removed, "({" forbidden).
 *   inline  text = [context " "] statement with a read call before the wanted name:
 *     "Dancing on Coral is a novel by ({MEM_READ(Dancing on Coral>>author>>)-->Glenda
 *     Adams})Glenda Adams." (loss on the call up to "-->" and on the text after "})").
 *
 * Question phrasings come in two sets: training phrasings, and per relation one held-out
 * phrasing used only by synth_zsre() (Generalization).  Seed facts whose subject hashes
 * into the held-out fifth (synth_fact_held_out()) are never used for training.
 *
 * Deterministic: the same parameters and seed facts give the same examples. */
#ifndef MEMLLM_SYNTH_H
#define MEMLLM_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/traindata.h"
#include "util/status.h"

/* The ask template the examples use ({question} is the user's text). */
#define SYNTH_TEMPLATE_ASK "Q: {question}\nA:"
/* The write template ({context}: earlier sentences joined by ' '). */
#define SYNTH_TEMPLATE_WRITE "{context}({USER_ST}){sentence}({USER_END})"
/* Earlier sentences the write examples carry (and the agent should give this model). */
#define SYNTH_CONTEXT_SENTS 1
/* What the examples answer when memory has nothing. */
#define SYNTH_UNKNOWN_ANSWER "I do not know."

struct synth_params {
    uint64_t seed;        /* (1) */
    size_t n_examples;    /* examples in all (100000) */
    double write_share;   /* write examples (0.45) */
    double unknown_share; /* "I do not know." examples (0.05) */
    double inline_share;  /* inline reads (0.12); the rest are question reads */
    double real_share;    /* examples about seed facts (0.2) */
    double edited_share;  /* real-fact reads whose memory holds a changed object (0.3) */
    double context_share; /* write examples with one earlier sentence (0.5) */
    double nofact_share;  /* write sentences stating no fact (0.1) */
    double two_share;     /* write sentences with two facts (0.12) */
    double qa_share;      /* question + "It is or they are" writes (0.12) */
    double reverse_share; /* subject-missing reads (0.2) */
};

void synth_params_init(struct synth_params *p);

/* A real fact; strings borrowed. */
struct synth_fact {
    const char *s, *r, *o;
};

struct synth_facts; /* opaque: facts read from a TSV file */

/* Read subject<TAB>relation<TAB>object lines ('#' lines and blank lines skipped).
 * STATUS_IO (detail: file and reason), STATUS_FORMAT (detail: file and line). */
enum status synth_facts_read(const char *path, struct synth_facts **out);
void synth_facts_free(struct synth_facts *f); /* NULL is a no-op */
size_t synth_facts_count(const struct synth_facts *f);
const struct synth_fact *synth_facts_get(const struct synth_facts *f, size_t i);

/* Is the fact's subject in the held-out fifth (hash of the subject)? */
bool synth_fact_held_out(const char *subject);

/* Relations the generator knows, and whether one of them is among them. */
size_t synth_n_relations(void);
const char *synth_relation_name(size_t i);

/* Generate p->n_examples examples into sink (kind WRITE or READ; doc and sent are the
 * example's index and 0).  facts may be NULL (then no real facts are used).
 * STATUS_INVALID for shares outside [0, 1], STATUS_NOMEM, or the sink's status. */
enum status synth_generate(const struct synth_params *p, const struct synth_facts *facts,
                           traindata_sink sink, void *ctx);

/* ---- evaluation records --------------------------------------------------------------- */

/* One ZsRE-format record (agent/eval.h): question src about subject whose new answer is
 * alt, a rephrase in a held-out phrasing, and a locality question loc with its answer
 * loc_ans (a held-out seed fact when facts are given, else another invented fact).
 * Strings owned by the caller of synth_zsre() (free each). */
struct synth_zsre {
    char *src, *alt, *rephrase, *loc, *loc_ans, *subject;
};

/* Make n records with invented entities (and, for every fourth one when facts are given,
 * a held-out real fact with a changed answer), written to f as a JSON array (the ZsRE
 * format `memllm eval edit` reads), one record per line.
 * STATUS_NOMEM, STATUS_IO. */
enum status synth_zsre_write(uint64_t seed, size_t n, const struct synth_facts *facts, FILE *f);

/* Make n short documents in the Re-DocRED JSON format (title, sents as token lists,
 * vertexSet with mentions, labels with relation names as "r" and evidence) about invented
 * entities, written to f as one JSON array: each states 1..4 facts about one subject (as
 * many relations as its kind of entity has, up to 4) in
 * training phrasings, sometimes with a sentence stating nothing, for `memllm eval ppl`
 * (TARGET tokens: first mentions of the facts' other entities).  Deterministic in seed.
 * STATUS_NOMEM, STATUS_IO. */
enum status synth_docred_write(uint64_t seed, size_t n, FILE *f);

#endif /* MEMLLM_SYNTH_H */
