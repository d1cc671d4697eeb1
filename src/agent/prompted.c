/* prompted.c -- few-shot prompts for MemLLM calls in a chat template (see prompted.h). */
#include "config.h"

#include "agent/prompted.h"

#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tok.h"

/* Model prompts: English on purpose, never translated. */
static const char read_system[] =
    "You can read facts from an explicit memory before you answer. To read, write a memory "
    "call: ({MEM_READ(query)--> where a query is subject>>relation>> to ask for the object "
    "or >>relation>>object to ask for the subject, up to 3 queries joined by ;. Use names "
    "exactly as they appear in the question. The memory appends the names it found and "
    "}), then you answer from them in one sentence. If the memory finds nothing, answer "
    "\"I do not know.\"\n\nExamples:\n"
    "Question: Who wrote Dancing on Coral?\n"
    "Answer: ({MEM_READ(Dancing on Coral>>author>>)-->Glenda Adams})Dancing on Coral was "
    "written by Glenda Adams.\n"
    "Question: Who founded Apple Inc.?\n"
    "Answer: ({MEM_READ(>>founded by>>Apple Inc.)-->Steve Jobs;Steve Wozniak;Ronald Wayne})"
    "Apple Inc. was founded by Steve Jobs, Steve Wozniak and Ronald Wayne.\n"
    "Question: What are the capitals of France and Italy?\n"
    "Answer: ({MEM_READ(France>>capital>>;Italy>>capital>>)-->Paris;Rome})The capital of "
    "France is Paris and the capital of Italy is Rome.\n"
    "Question: Where was Ada Lovelace born?\n"
    "Answer: ({MEM_READ(Ada Lovelace>>place of birth>>)-->})I do not know.\n\n"
    "Now answer the next question the same way.\n"
    "Question: ";

static const char write_system[] =
    "You store the facts stated in a sentence in an explicit memory. Write one memory "
    "call: ({MEM_WRITE-->subject>>relation>>object;subject>>relation>>object}) with every "
    "fact the sentence states, triples joined by ;. Subject and object are copied word for "
    "word from the sentence (full names, never pronouns such as \"he\" or \"it\"); use "
    "the earlier text only to know who or what is meant. Write ({MEM_WRITE-->}) when the "
    "sentence states no fact.\n\nExamples:\n"
    "Sentence: Dancing on Coral is a novel by Glenda Adams.\n"
    "Call: ({MEM_WRITE-->Dancing on Coral>>author>>Glenda Adams;Dancing on Coral>>instance "
    "of>>novel})\n"
    "Sentence: Steve Jobs was born in San Francisco and co-founded Apple Inc. in 1976.\n"
    "Call: ({MEM_WRITE-->Steve Jobs>>place of birth>>San Francisco;Apple Inc.>>founded "
    "by>>Steve Jobs;Apple Inc.>>inception>>1976})\n"
    "Sentence: Paris is the capital of France.\n"
    "Call: ({MEM_WRITE-->France>>capital>>Paris;Paris>>country>>France})\n"
    "Sentence: It rained all day.\n"
    "Call: ({MEM_WRITE-->})\n";

struct buf {
    char *p;
    size_t len, cap;
    bool fail;
};

static void put(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->fail)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->fail = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static enum status finish(struct buf *b, char **out)
{
    if (b->fail || !b->p) {
        free(b->p);
        return STATUS_NOMEM;
    }
    *out = b->p;
    return STATUS_OK;
}

static void open_user(struct buf *b, enum prompted_format f)
{
    if (f == PROMPTED_FORMAT_CHATML)
        put(b, "<|im_start|>user\n");
    else
        put(b, "[INST] ");
}

static void close_user(struct buf *b, enum prompted_format f)
{
    if (f == PROMPTED_FORMAT_CHATML)
        put(b, "<|im_end|>\n<|im_start|>assistant\n");
    else
        put(b, " [/INST]");
}

bool prompted_detect(const struct tok *t)
{
    int32_t id = tok_find(t, "({", 2);
    return id < 0 || tok_token_type(t, id) != TOK_TYPE_USER_DEFINED;
}

bool prompted_mode_parse(const char *s, enum prompted_mode *out)
{
    static const char *const names[] = {"auto", "native", "prompted"};
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum prompted_mode)i;
            return true;
        }
    return false;
}

const char *prompted_mode_name(enum prompted_mode m)
{
    return m == PROMPTED_MODE_NATIVE     ? "native"
           : m == PROMPTED_MODE_PROMPTED ? "prompted"
                                         : "auto";
}

enum prompted_mode prompted_mode_resolve(enum prompted_mode m, const struct tok *t)
{
    if (m != PROMPTED_MODE_AUTO)
        return m;
    return prompted_detect(t) ? PROMPTED_MODE_PROMPTED : PROMPTED_MODE_NATIVE;
}

enum prompted_format prompted_format_from_template(const char *tmpl)
{
    if (tmpl && strstr(tmpl, "<|im_start|>") && !strstr(tmpl, "[INST]"))
        return PROMPTED_FORMAT_CHATML;
    return PROMPTED_FORMAT_MISTRAL;
}

enum prompted_format prompted_format_from_gguf(const struct gguf *g)
{
    const char *s = NULL;
    if (!g || gguf_get_cstr(g, "tokenizer.chat_template", &s) != STATUS_OK)
        return PROMPTED_FORMAT_MISTRAL;
    return prompted_format_from_template(s);
}

const char *prompted_format_name(enum prompted_format f)
{
    return f == PROMPTED_FORMAT_CHATML ? "chatml" : "mistral";
}

static enum status build_read(enum prompted_format f, const char *question, char **out)
{
    struct buf b = {0};
    open_user(&b, f);
    put(&b, read_system);
    put(&b, question);
    close_user(&b, f);
    return finish(&b, out);
}

static enum status build_write(enum prompted_format f, const char *context,
                               const char *sentence, const char *const *relations,
                               size_t n_relations, char **out)
{
    struct buf b = {0};
    open_user(&b, f);
    put(&b, write_system);
    if (n_relations) {
        put(&b, "\nRelations to use: ");
        for (size_t i = 0; i < n_relations; i++) {
            if (i)
                put(&b, "; ");
            put(&b, relations[i] ? relations[i] : "");
        }
        put(&b, "\n");
    }
    put(&b, "\nNow write the call for the next sentence.\n");
    if (context && context[0]) {
        put(&b, "Earlier text: ");
        put(&b, context);
        put(&b, "\n");
    }
    put(&b, "Sentence: ");
    put(&b, sentence);
    close_user(&b, f);
    return finish(&b, out);
}

enum status prompted_build_read(enum prompted_format f, const char *question, char **out)
{
    if (!question)
        return status_detail_set(STATUS_INVALID, "prompted_build_read: question");
    return build_read(f, question, out);
}

enum status prompted_build_write(enum prompted_format f, const char *context,
                                 const char *sentence, const char *const *relations,
                                 size_t n_relations, char **out)
{
    if (!sentence)
        return status_detail_set(STATUS_INVALID, "prompted_build_write: sentence");
    return build_write(f, context, sentence, relations, n_relations, out);
}

enum status prompted_template_read(enum prompted_format f, char **out)
{
    return build_read(f, "{question}", out);
}

enum status prompted_template_write(enum prompted_format f, const char *const *relations,
                                    size_t n_relations, char **out)
{
    return build_write(f, "{context}", "{sentence}", relations, n_relations, out);
}
