/* prompted.h -- prompted mode: MemLLM calls from a general instruct model (any Mistral-
 * Instruct GGUF) that was never trained on them.
 *
 * A vocabulary without "({" as a user-defined token (prompted_detect()) gets a built-in
 * English instruction with few-shot examples of the exact call syntax (DESIGN.md
 * section 3), wrapped in the model's chat template; the call itself is then kept
 * well-formed by constrained decoding (agent/constrain.h works on text, so it works with
 * any vocabulary).  Two prompts: read (answer a question, reading memory with MEM_READ
 * first) and write (turn a sentence into a MEM_WRITE call).
 *
 * Templates.  Only known formats, chosen by looking for their markers in the GGUF's
 * `tokenizer.chat_template` (no Jinja engine): Mistral "[INST] ... [/INST]" (also the
 * default when the key is absent or unknown) and ChatML "<|im_start|>...<|im_end|>".
 * The prompts contain no BOS: encode them with the tokenizer's add_bos.  ChatML markers,
 * and "[INST]" in vocabularies where it is a control token, are special tokens: encode
 * with TOK_ENCODE_PARSE_SPECIAL.
 *
 * The read prompt ends where the assistant's answer starts; the write prompt ends there
 * too, and the caller appends "({MEM_WRITE-->" (as the agent's write mode always does).
 * prompted_template_read()/_write() give the same prompts as templates with the
 * agent's placeholders ({question}; {context} and {sentence}) for agent_params. */
#ifndef MEMLLM_PROMPTED_H
#define MEMLLM_PROMPTED_H

#include <stdbool.h>
#include <stddef.h>

#include "util/status.h"

struct gguf;
struct tok;

enum prompted_format {
    PROMPTED_FORMAT_MISTRAL, /* [INST] ... [/INST] */
    PROMPTED_FORMAT_CHATML,  /* <|im_start|>system ... <|im_start|>assistant\n */
};

/* True when t is not a memllm-trained vocabulary ("({" is not a user-defined token), so
 * prompted mode is needed. */
bool prompted_detect(const struct tok *t);

/* Which way the agent talks to a model: native (memllm-trained: its own templates or the
 * default ones, calls as special tokens) or prompted (the few-shot prompts below). */
enum prompted_mode {
    PROMPTED_MODE_AUTO,     /* prompted exactly when prompted_detect() says so */
    PROMPTED_MODE_NATIVE,
    PROMPTED_MODE_PROMPTED,
};

/* "auto", "native", "prompted" -> *out; false for anything else. */
bool prompted_mode_parse(const char *s, enum prompted_mode *out);
const char *prompted_mode_name(enum prompted_mode m);
/* The mode to use for vocabulary t: AUTO becomes NATIVE or PROMPTED; the others stay. */
enum prompted_mode prompted_mode_resolve(enum prompted_mode m, const struct tok *t);

/* The format for a chat template text (NULL: the default, Mistral). */
enum prompted_format prompted_format_from_template(const char *chat_template);
/* The same from `tokenizer.chat_template` in g (absent: Mistral). */
enum prompted_format prompted_format_from_gguf(const struct gguf *g);
const char *prompted_format_name(enum prompted_format f); /* "mistral", "chatml" */

/* The read prompt for question (owned, free()).  STATUS_INVALID for a NULL question. */
enum status prompted_build_read(enum prompted_format f, const char *question, char **out);

/* The write prompt for sentence, with earlier text context (may be NULL or "") and,
 * when n_relations > 0, the relation names to choose from (listed in the prompt).
 * Owned result (free()).  STATUS_INVALID for a NULL sentence. */
enum status prompted_build_write(enum prompted_format f, const char *context,
                                 const char *sentence, const char *const *relations,
                                 size_t n_relations, char **out);

/* The prompts as templates with placeholders (owned, free()). */
enum status prompted_template_read(enum prompted_format f, char **out);
enum status prompted_template_write(enum prompted_format f, const char *const *relations,
                                    size_t n_relations, char **out);

#endif /* MEMLLM_PROMPTED_H */
