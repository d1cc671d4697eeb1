/* embed_model.h -- a text embedder that uses the loaded language model (DESIGN.md section 1:
 * memory knows only `struct embedder`; the engine knows no memory; this module, in the
 * agent layer, joins the two).
 *
 * A text is encoded with the model's tokenizer (BOS first when the vocabulary adds one,
 * no added space prefix beyond the tokenizer's own rule), cut to the first
 * EMBED_MODEL_MAX_TOKENS tokens, evaluated by a private copy of the model (its own small
 * KV cache, so embedding never disturbs a generation in progress; the weights are shared
 * through the GGUF mapping), and the final hidden state before the output head is
 * mean-pooled over the text's tokens (BOS left out) and L2-normalized (model_embed()).
 * Identical texts give identical vectors.
 *
 * Its id is "model:<general.name or ?>:<n_embd>:<file size in bytes>:<hash>" where hash
 * is 16 hex digits of FNV-1a 64 over the first 64 KiB of the token embedding tensor's
 * data, so a database built with another model (or the hash embedder) is refused by the
 * store's embedder check (STATUS_EMBEDDER_MISMATCH). */
#ifndef MEMLLM_EMBED_MODEL_H
#define MEMLLM_EMBED_MODEL_H

#include <stdbool.h>

#include "memory/embed.h"
#include "util/status.h"

struct gguf;

#define EMBED_MODEL_MAX_TOKENS 64

/* Fill *out with the model embedder for the model in g (borrowed: it must outlive the
 * embedder).  n_threads 0 = one per online core.  Errors: those of tok_from_gguf() and
 * model_open(); STATUS_NOMEM.  Release with embed_free(). */
enum status embed_model_new(const struct gguf *g, int n_threads, struct embedder *out);

/* Names accepted by the CLI's --embedder: "hash" (the default, memory/embed.h) and
 * "model".  True when s is one of them. */
bool embed_model_name_ok(const char *s);

#endif /* MEMLLM_EMBED_MODEL_H */
