/* agent.h -- the MemLLM loop: generation in which the model reads memory, write mode over
 * documents, grounding records and an event stream (DESIGN.md sections 3, 4 and 6).
 *
 * Read mode (agent_ask).  The prompt is wrapped by the ask template and encoded with the
 * model's BOS.  Tokens are sampled one at a time; their text is scanned with call_find():
 *   - text outside calls goes out as AGENT_EVENT_TOKEN (held back while it may be the
 *     start of "({" or of a stop string);
 *   - when "({MEM_READ(...)-->" is complete, the queries are parsed (call_parse_read) and
 *     each is run through ctrl_read(); the answers (wanted-side names, de-duplicated over
 *     the queries, in query then score order, at most CALL_MAX_RESULTS) joined by ';' and
 *     "})" are encoded and appended to the context (AGENT_EVENT_CALL_START, then
 *     AGENT_EVENT_READ), and generation goes on;
 *   - a read that cannot be parsed, has malformed pieces or no query, repeats an earlier
 *     call of this answer (same raw text after trimming spaces), fails in ctrl_read() or
 *     finds nothing is removed from the context from its "({" on, and "({" (every token
 *     whose piece contains "({") is forbidden for the next sampled token.  So is any other
 *     call the model writes in read mode (a write call, "({" followed by another "({").
 *   - after max_calls completed reads, "({" is forbidden for the rest of the answer.
 * Only the most recent read stays in the context: when a read completes, the span of the
 * previous one ("({" .. "})") is cut out of the token sequence.
 *
 * Context editing strategy.  The agent keeps the context as a token sequence and knows
 * how many of its tokens the model has evaluated.  An edit (cutting a call, appending
 * results, re-encoding a prefix) changes the sequence from some index k on; the cache is
 * then rebuilt by evaluating the sequence again from k (the engine rewinds when asked to
 * evaluate at an earlier position; at least the last token is re-evaluated so fresh
 * logits exist).  Nothing is shifted in the cache.  When a call's "({" starts inside a
 * token (a vocabulary without the special token "({"), the text of that token before
 * "({" is re-encoded piece by piece (longest vocabulary pieces, no added space) so the
 * call starts on a token boundary.  Appended results are encoded with the normal encoder:
 * after the special token "-->" that gives exactly what encoding the whole training text
 * gives (SentencePiece prepends its space to text after a user-defined token).
 *
 * Write mode (agent_write_text).  The text is split into sentences (agent/split.h), each
 * with its whitespace runs collapsed to one space.  For sentence i the prompt is the write
 * template with {context} = up to context_sents earlier sentences joined by ' ' and
 * {sentence} = sentence i; the default template is "{context}({USER_ST}){sentence}({USER_END})".
 * "({MEM_WRITE-->" is then appended (always) and the triples are decoded greedily with
 * late stopping:
 *   at every step the full next-token distribution is computed (log-softmax of the
 *   logits, no masks); when its most likely token is a closing token (piece contains
 *   "})") the step is a candidate cut with score (sum of the log-probabilities of the
 *   tokens generated so far + log p(closing token)) / (tokens so far + 1); the closing
 *   tokens are then masked and the best other token is taken, until min_cuts (5)
 *   candidates exist, EOS is the most likely token, or write_max_tokens are generated.
 *   The kept cut is the candidate with the highest score (earliest on ties); without any
 *   candidate the text generated so far is used (the parser reports it unterminated).
 * The cut text "({MEM_WRITE-->...})" is parsed with call_parse_write(); its triples are
 * stored with ctrl_write() with the sentence (and the document's file name) as their
 * source; malformed pieces are reported as rejected (AGENT_EVENT_WRITE).  dry_run skips
 * storing.  The KV cache is reused between sentences up to the first token that differs.
 *
 * Templates.  A model GGUF may carry `memllm.template.ask` (placeholder {question}) and
 * `memllm.template.write` (placeholders {context} and {sentence}); agent_templates_load()
 * reads them.  A placeholder is its exact text, braces included; every other character
 * (other braces too) is copied verbatim.
 *
 * Grounding.  With record on (default) and a controller, each agent_ask() creates a run
 * (prompt, model name, settings as JSON) and records every read call (raw text and
 * result), every triple a read returned (query, triple id, score), and at the end the
 * output: the answer text with every read call inline as it was executed
 * ("...({MEM_READ(q)-->r1;r2})..."), so an audit can show which span followed each read.
 * agent_write_text() records one run per document (prompt "write: <title>") with one
 * write call per sentence; the sources it adds carry that run id.
 *
 * Threads.  An agent is used by one thread at a time; agent_ask_start() runs agent_ask()
 * on a worker thread (events arrive on that thread), agent_cancel() may be called from
 * any thread, agent_wait() joins.  The ctrl and the model must not be used by anyone else
 * while a run is in progress. */
#ifndef MEMLLM_AGENT_H
#define MEMLLM_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/samp.h"
#include "memory/ctrl.h"
#include "protocol/call.h"
#include "util/status.h"

struct gguf;
struct model;
struct tok;

/* ---- the language model, as the agent sees it ---------------------------------------- */

/* Evaluate tokens[0..n) at positions pos .. pos+n-1 (pos <= what was evaluated so far;
 * an earlier pos forgets everything from pos on) and write the logits of the last one to
 * logits[0..n_vocab).  STATUS_CANCELLED when the abort hook said so.
 * set_abort (may be NULL): install a hook the model polls during long evaluations. */
struct agent_lm {
    size_t n_vocab, n_ctx;
    enum status (*eval)(void *ctx, const int32_t *tokens, size_t n, size_t pos, float *logits);
    void (*set_abort)(void *ctx, bool (*abort_cb)(void *user), void *user);
    void *ctx;
};

/* Wrap an engine model (borrowed; it must outlive every agent using out). */
void agent_lm_from_model(struct model *m, struct agent_lm *out);

/* ---- constrained decoding hook -------------------------------------------------------- */

/* While the loop is inside a call (after "({" and before the call is complete), it asks
 * the constraint for the allowed tokens before each sample.  source() (may be NULL): the
 * text the coming calls are about, given before each answer (the question) and each
 * sentence of the write mode (the sentence).  begin(): a call of kind (enum call_kind;
 * CALL_KIND_UNKNOWN until the keyword is written) starts; context is the call text
 * written so far (write mode: "({MEM_WRITE-->").  mask(): restrict s with
 * samp_mask_allow/forbid (the loop clears the masks before every step).  accept(): the
 * token that was chosen; false means the call cannot be completed (a read is then
 * treated as failed; a write call ends there).  end(): the call is over (completed or
 * abandoned).  Any pointer may be NULL.  In the write mode the late-stopping rule works
 * on the allowed tokens only (the best allowed token decides whether a step is a
 * candidate cut), while log-probabilities stay those of the model's full distribution. */
struct agent_constraint {
    enum status (*source)(void *ctx, const char *text, size_t len);
    enum status (*begin)(void *ctx, int kind, const char *context, size_t len);
    enum status (*mask)(void *ctx, struct samp *s);
    bool (*accept)(void *ctx, int32_t token);
    void (*end)(void *ctx);
    void *ctx;
};

/* ---- events --------------------------------------------------------------------------- */

enum agent_event_kind {
    AGENT_EVENT_TOKEN,      /* text: answer text (valid UTF-8, possibly several tokens) */
    AGENT_EVENT_CALL_START, /* text: the raw call "({MEM_READ(...)-->" */
    AGENT_EVENT_READ,       /* a read call's outcome (see below) */
    AGENT_EVENT_WRITE,      /* a write call's outcome (one per sentence) */
    AGENT_EVENT_ERROR,      /* status + text: a message (status_detail or a description) */
    AGENT_EVENT_DONE,       /* the run is over: timing, stop reason, run id, output */
};

struct agent_timing {
    size_t n_prompt, n_gen;     /* tokens evaluated as prompt/edits, tokens sampled */
    double t_prompt, t_gen, t_total; /* seconds */
};

/* Everything is borrowed for the duration of the callback. */
struct agent_event {
    enum agent_event_kind kind;
    const char *text; /* TOKEN, CALL_START, ERROR (NUL-terminated) */
    size_t len;
    size_t call_no;   /* READ, WRITE, CALL_START: 1-based within the run */
    /* READ */
    const struct call *call;           /* the parsed call; NULL when it did not parse */
    struct ctrl_read *const *reads;    /* one per query (entry NULL when the query failed) */
    size_t n_reads;
    const char *results;               /* "r1;r2" as spliced; NULL when failed */
    bool failed;                       /* removed from the context */
    const char *reason;                /* why it failed (translated), else NULL */
    /* WRITE */
    const char *sentence;
    size_t sentence_no, n_sentences;   /* 1-based */
    const char *raw;                   /* the write call as cut */
    const struct ctrl_triple_in *triples; /* parsed triples */
    const struct ctrl_written *written;   /* per triple, NULL for a dry run or a failure */
    size_t n_triples;
    const struct call_error *rejected;    /* malformed pieces */
    size_t n_rejected;
    /* ERROR (and WRITE when storing failed) */
    enum status status;
    /* DONE */
    const char *stop;                  /* "eos", "stop", "length", "context", "cancelled",
                                          "error" */
    const struct agent_timing *timing;
    int64_t run_id;                    /* 0: not recorded */
    const char *output;                /* the answer with calls inline */
};

typedef void (*agent_event_fn)(void *user, const struct agent_event *ev);

/* One event as a JSON object on one line (no newline): {"event":"token","text":...}. */
void agent_event_json(FILE *f, const struct agent_event *ev);

/* ---- parameters ----------------------------------------------------------------------- */

struct agent_params {
    struct samp_params samp;  /* read mode sampling (write mode is always greedy) */
    size_t max_tokens;        /* sampled tokens per answer, calls included (256) */
    size_t max_calls;         /* completed reads per answer (5) */
    bool read;                /* read mode on (true); false forbids "({" */
    bool ignore_eos;
    const char *const *stops; /* stop strings (borrowed), n_stops of them */
    size_t n_stops;
    size_t context_sents;     /* write: earlier sentences in the prompt (25) */
    size_t min_cuts;          /* write: late-stopping candidates wanted (5) */
    size_t write_max_tokens;  /* write: tokens per sentence (128) */
    bool dry_run;             /* write: parse but do not store */
    bool record;              /* store runs (true) */
    bool constrain;           /* use the constraint hook when one is set, and (not in
                               * prompted mode, whose models answer in their own words)
                               * quote (true): after a read that returned results, the
                               * answer's next tokens are restricted to those that spell
                               * one of the results (a token may end it and go on with a
                               * non-letter); quoting ends when a result is spelt out or
                               * no token fits */
    const char *model_name;   /* recorded with runs (borrowed; may be NULL) */
    const char *template_ask;   /* NULL: "{question}" */
    const char *template_write; /* NULL: "{context}({USER_ST}){sentence}({USER_END})" */
    /* Encode the filled prompt with TOK_ENCODE_PARSE_SPECIAL (false): control pieces
     * written in it ("[INST]" where it is a control token, ChatML markers) become their
     * tokens.  For prompted mode (agent/prompted.h); the question's text is then parsed
     * too. */
    bool parse_special;
    bool prompted;              /* recorded with runs as "mode":"prompted" (else "native") */
};

void agent_params_init(struct agent_params *p);

/* Read the templates a memllm GGUF carries: owned strings (free()), NULL when absent. */
enum status agent_templates_load(const struct gguf *g, char **ask, char **write);

/* The number of earlier sentences a memllm GGUF's write examples carried
 * (`memllm.write.context_sents`, UINT32), or fallback when the key is absent or not a
 * UINT32. */
size_t agent_context_sents_load(const struct gguf *g, size_t fallback);

/* Fill a template: {question}, {context}, {sentence} are replaced by the given texts
 * (NULL = ""); owned result (free()). */
enum status agent_template_fill(const char *tmpl, const char *question, const char *context,
                                const char *sentence, char **out);

/* ---- the agent ------------------------------------------------------------------------ */

struct agent; /* opaque */

/* lm, tk and c are borrowed and must outlive the agent; c may be NULL (no memory: every
 * read fails, writes are dry runs).  p is copied (its strings stay borrowed).  The
 * tokenizer's vocabulary must fit in lm->n_vocab (STATUS_INVALID). */
enum status agent_new(const struct agent_lm *lm, struct tok *tk, struct ctrl *c,
                      const struct agent_params *p, struct agent **out);
void agent_free(struct agent *a); /* NULL is a no-op; waits for a running worker */

void agent_set_events(struct agent *a, agent_event_fn fn, void *user);
/* The constraint (copied; NULL removes it).  Used only while params.constrain is on. */
void agent_set_constraint(struct agent *a, const struct agent_constraint *c);
const struct agent_params *agent_params_get(const struct agent *a);
/* Replace the parameters (not while a worker runs: STATUS_INVALID). */
enum status agent_params_set(struct agent *a, const struct agent_params *p);

/* Answer question in read mode (synchronous).  *output (may be NULL) receives the owned
 * answer with calls inline (free()), *run_id (may be NULL) the run recorded (0: none).
 * A cancelled run returns STATUS_CANCELLED (the run is still finished and recorded). */
enum status agent_ask(struct agent *a, const char *question, char **output, int64_t *run_id);

/* The same on a worker thread (question copied).  STATUS_INVALID while one runs. */
enum status agent_ask_start(struct agent *a, const char *question);
/* Ask the running generation to stop (any thread; async-signal-safe: sets a flag). */
void agent_cancel(struct agent *a);
/* Wait for the worker; returns its status and outputs as agent_ask().  STATUS_INVALID
 * when none was started. */
enum status agent_wait(struct agent *a, char **output, int64_t *run_id);
bool agent_running(const struct agent *a);

struct agent_write_stats {
    size_t sentences, calls_ok, triples, n_new, n_known, n_conflict, rejected;
};

/* Memorize text[0..len) (write mode, synchronous).  file (may be NULL) is recorded as the
 * source file of every sentence; title (may be NULL) names the run.  *stats (may be NULL)
 * receives the counts. */
enum status agent_write_text(struct agent *a, const char *text, size_t len, const char *file,
                             const char *title, struct agent_write_stats *stats);

/* ---- memory names for the constraint -------------------------------------------------- */

/* The constraint (agent/constrain.h) lets a read name an entity that is a word span of the
 * question or one of a list of memory names; its cost grows with the list's total length,
 * so the list is bounded.  Choice: names from the store that share a leading word with
 * the text.  For each word of text[0..len) (runs of letters, digits and - ' . &; function
 * words such as "the", "who", "of" and one-letter words skipped), the entities whose name
 * starts with that word and the next one ("Apple Inc" -> "Apple Inc."), then with that
 * word alone ("Apple" -> "Apple", "Apple Records"), each prefix ending on a word boundary
 * of the name; a lower-case word is also tried capitalized.  At most AGENT_NAMES_PER_WORD
 * names per prefix, max_names names and max_bytes bytes in all, first found first (the
 * order of the text).  Cheap: SQLite prefix queries on the unique name index.
 * *names: owned array of owned strings (free with agent_names_free()); none for a NULL m. */
#define AGENT_NAMES_PER_WORD 8
#define AGENT_NAMES_MAX 64      /* suggested max_names */
#define AGENT_NAMES_BYTES 2048  /* suggested max_bytes */
enum status agent_memory_names(struct mem *m, const char *text, size_t len, size_t max_names,
                               size_t max_bytes, char ***names, size_t *n);
void agent_names_free(char **names, size_t n);

/* ---- chat history --------------------------------------------------------------------- */

/* Earlier turns of a conversation (memllm chat), put before a new question so the model
 * sees them.  A turn is a question and the answer text with its read calls removed (only
 * the current answer's latest call stays in a context, DESIGN.md section 3).  The text
 * goes into the ask template's {question}, so the formats close and reopen the template's
 * user turn around earlier answers:
 *   PLAIN (native models):  "<q1>\n<a1>\n\n<q2>\n<a2>\n\n<question>"
 *   MISTRAL (prompted, "[INST] ... [/INST]"): "<q1> [/INST] <a1></s>[INST] <question>"
 *   CHATML (prompted): "<q1><|im_end|>\n<|im_start|>assistant\n<a1><|im_end|>\n"
 *                      "<|im_start|>user\n<question>"
 * (the markers are control tokens where the vocabulary has them: encode with
 * agent_params.parse_special). */
enum agent_history_format {
    AGENT_HISTORY_PLAIN,
    AGENT_HISTORY_MISTRAL,
    AGENT_HISTORY_CHATML,
};

struct agent_history; /* opaque */

enum status agent_history_new(enum agent_history_format f, struct agent_history **out);
void agent_history_free(struct agent_history *h); /* NULL is a no-op */
/* Append a turn (both copied; answer may contain calls, which are removed: every
 * "({" .. "})" span, and an unclosed "({" to the end). */
enum status agent_history_add(struct agent_history *h, const char *question,
                              const char *answer);
void agent_history_clear(struct agent_history *h);
size_t agent_history_count(const struct agent_history *h);
/* The text for {question}: as many of the most recent turns as fit max_tokens tokens
 * (counted with tk's encoder, no BOS; NULL tk: bytes), oldest first, then question.
 * Owned result (free()); *n_kept (may be NULL): turns included. */
enum status agent_history_prompt(const struct agent_history *h, struct tok *tk,
                                 const char *question, size_t max_tokens, char **out,
                                 size_t *n_kept);

/* ---- audit ---------------------------------------------------------------------------- */

/* Show run run_id (0: the newest) of m: the prompt, the answer, and per call its raw text
 * and result; for a read, each triple it returned (id, names, score, query) with the
 * triple's source, and the span of the answer that followed the call (up to the next
 * call or the end).  json: one JSON object on one line.  STATUS_NOT_FOUND (detail names
 * the run) when there is no such run. */
enum status agent_audit(struct mem *m, int64_t run_id, bool json, FILE *out);

#endif /* MEMLLM_AGENT_H */
