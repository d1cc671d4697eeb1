/* traindata.h -- MemLLM training examples from Re-DocRED-format documents (the exact strings
 * of DESIGN.md section 3, as the MemLLM reference code builds them).
 *
 * Input: a Re-DocRED / DocRED JSON array of documents (title, sents, vertexSet, labels; see
 * shared/data/redocred/README.md) and rel_info.json (P-id -> relation name).  Sentence
 * text is its tokens joined by single spaces; the document is its sentences joined by
 * single spaces.  A mention's surface form is the tokens of its span joined the same way,
 * so it is always a substring of the sentence.
 *
 * Memory-write examples, one per sentence i (all sentences, also those without a fact):
 *   prompt     = S[i-N] " " ... " " S[i-1] "({USER_ST})" S[i] "({USER_END})"
 *   completion = "({MEM_WRITE-->" s1 ">>" r1 ">>" o1 ";" ... "})"   or "({MEM_WRITE-->})"
 * with N = context_sents earlier sentences (fewer at the start of a document; none: the
 * prompt starts with "({USER_ST})").  The loss belongs on the completion only.
 * Rule for the triples of sentence i: a gold label (h, r, t) belongs to sentence i when
 * both h and t have a mention in sentence i, and its evidence list includes i or is empty
 * (57% of Re-DocRED's labels have no evidence; with this rule they are written where both
 * entities appear together).  Names are the surface forms of the first mention of h and
 * of t in sentence i; the relation is rel_info's name for r.  Triples are ordered by the
 * later of their two mentions (then the earlier one, then label order); identical
 * triples are written once; a triple with a name the protocol cannot carry (containing
 * ">>", ";", a delimiter, ...: call_name_check()) is left out and counted.
 *
 * Memory-read examples, at most one per entity: at the first mention m of an entity E
 * (the target), for each gold label that links E with a partner entity P mentioned
 * before m, a query "P>>r>>" (E is the object) or ">>r>>P" (E is the subject), with P
 * written as its latest mention before m.  Identical queries are merged; the queries
 * with the fewest results come first and at most 3 are kept.  The results are the
 * wanted-side entities of all gold labels matching a kept query, named by the target's
 * surface at m for E and by their first mention in the document otherwise, the target
 * first, at most 30.  Like the reference, a target whose surface form already occurs in
 * the text before m is skipped (it could be copied, not read).  The example is
 *   text = T[start .. m) "({MEM_READ(" q1 ";" q2 ")-->" results "})" T[m .. next) ["({"]
 * where start is the first sentence of the context (N sentences back, or earlier when a
 * partner's mention lies before that) and next is the next read point of the document
 * (then "({" follows, teaching the model to open the next call there) or the document end
 * (with read_to_sentence_end: or the end of the target's sentence, whichever comes first).
 * Loss spans: the call up to and including "-->", and everything after "})"; not the
 * text before the call and not the results, which memory supplies.
 * Offsets in struct traindata_example are byte offsets into the UTF-8 text; the JSON
 * lines give them in characters (code points), as engine/train reads "loss_from". */
#ifndef MEMLLM_TRAINDATA_H
#define MEMLLM_TRAINDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/status.h"

struct traindata_params {
    size_t context_sents; /* earlier sentences before a write or read (default 25) */
    bool writes;          /* make memory-write examples (default true) */
    bool reads;           /* make memory-read examples (default true) */
    /* end a read example's text at the end of the target's sentence when the next read
     * point lies beyond it (default false: run on to the next read point, as the
     * reference does); keeps examples short for small context windows */
    bool read_to_sentence_end;
    /* query only partners mentioned within the context_sents sentences before the read
     * (or earlier in its own sentence), so the text never reaches further back (default
     * false: any earlier mention in the document, as the reference does) */
    bool read_partner_in_context;
};

void traindata_params_init(struct traindata_params *p);

struct traindata; /* opaque: parsed documents and relation names */

/* Parse documents (the JSON array) and relation names (the rel_info.json object) from
 * buffers; nothing is borrowed after the call.  STATUS_PARSE for bad JSON, STATUS_FORMAT
 * for a document that does not follow the format (detail: "document N: ..."), also for a
 * label whose relation id rel_info does not name.  *out is set only on success. */
enum status traindata_load(const char *docs_json, size_t docs_len, const char *rel_json,
                           size_t rel_len, struct traindata **out);
/* The same from files; the detail names the file. */
enum status traindata_open(const char *docs_path, const char *rel_path, struct traindata **out);
void traindata_free(struct traindata *td); /* NULL is a no-op */

size_t traindata_n_docs(const struct traindata *td);
/* Title of document i (NUL-terminated, borrowed until traindata_free()). */
const char *traindata_doc_title(const struct traindata *td, size_t i);
size_t traindata_doc_n_sents(const struct traindata *td, size_t i);

enum traindata_kind {
    TRAINDATA_KIND_WRITE, /* prompt + completion */
    TRAINDATA_KIND_READ,  /* text + loss spans */
};

#define TRAINDATA_MAX_SPANS 2

/* One example; every pointer is borrowed for the duration of the callback only. */
struct traindata_example {
    enum traindata_kind kind;
    size_t doc, sent;          /* document, and sentence written or read at */
    const char *prompt;        /* WRITE */
    size_t prompt_len;
    const char *completion;    /* WRITE: the call */
    size_t completion_len;
    const char *text;          /* READ */
    size_t text_len;
    size_t loss_from;          /* READ: start of the call */
    size_t spans[TRAINDATA_MAX_SPANS][2]; /* READ: [begin, end) byte ranges with loss */
    size_t n_spans;
    size_t n_items;            /* triples written, or queries made */
};

/* Receives each example; a status other than STATUS_OK stops the walk and is returned. */
typedef enum status (*traindata_sink)(void *ctx, const struct traindata_example *ex);

/* Counters, added to by traindata_doc_examples(). */
struct traindata_stats {
    size_t n_writes, n_write_triples, n_writes_empty;
    size_t n_labels, n_labels_written; /* gold labels, and those in some write example */
    size_t n_triples_skipped;          /* names the protocol cannot carry */
    size_t n_reads, n_read_queries, n_read_results;
    size_t n_reads_skipped_copyable;   /* target already in the text before it */
};

/* All examples of document doc, writes first (sentence order), then reads (text order).
 * STATUS_NOMEM, STATUS_INVALID for doc out of range, or the sink's status. */
enum status traindata_doc_examples(const struct traindata *td, size_t doc,
                                   const struct traindata_params *p, traindata_sink sink,
                                   void *ctx, struct traindata_stats *stats);

/* Write ex to f as one JSON line: {"kind":"write","prompt":...,"completion":...} or
 * {"kind":"read","text":...,"loss_from":N,"loss_spans":[[b,e],[b,e]]}, the offsets
 * counted in characters (code points) of text. */
void traindata_example_write_json(FILE *f, const struct traindata_example *ex);

/* ---- Split by document ---------------------------------------------------------------- */

#define TRAINDATA_HASH_HEX 16 /* hex digits of SHA-256 kept per title */

/* The first TRAINDATA_HASH_HEX hex digits (lower case) of SHA-256(title) into out
 * (TRAINDATA_HASH_HEX + 1 bytes, NUL-terminated). */
void traindata_title_hash(const char *title, size_t len, char *out);

/* The full SHA-256 of data[0..len) into digest (exposed for tests). */
void traindata_sha256(const void *data, size_t len, uint8_t digest[32]);

struct traindata_split; /* opaque: the set of held-out title hashes */

/* Read a split file: one hash per line; blank lines and lines starting with '#' are
 * ignored.  STATUS_IO, STATUS_FORMAT (detail: file and line) for a line that is not
 * TRAINDATA_HASH_HEX hex digits. */
enum status traindata_split_read(const char *path, struct traindata_split **out);
/* A split holding out the last n_eval documents of td (in file order). */
enum status traindata_split_last(const struct traindata *td, size_t n_eval,
                                 struct traindata_split **out);
/* Write the split (comment header, then the hashes in the order they were added). */
enum status traindata_split_write(const struct traindata_split *s, const char *path,
                                  const char *comment);
void traindata_split_free(struct traindata_split *s); /* NULL is a no-op */
size_t traindata_split_size(const struct traindata_split *s);
/* Is document i of td held out? */
bool traindata_split_is_eval(const struct traindata_split *s, const struct traindata *td,
                             size_t i);

#endif /* MEMLLM_TRAINDATA_H */
