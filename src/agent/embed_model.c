/* embed_model.c -- the model-based embedder (see embed_model.h). */
#include "config.h"

#include "agent/embed_model.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"

struct embed_model {
    struct model *m;
    struct tok *tk;
    size_t dim;
    int32_t *ids;     /* EMBED_MODEL_MAX_TOKENS + 1 */
    int32_t *work;    /* tok_encode_bound() of the longest text seen */
    size_t work_cap;
    char id[512];
};

bool embed_model_name_ok(const char *s)
{
    return s && (strcmp(s, "hash") == 0 || strcmp(s, "model") == 0);
}

static void em_free(void *ctx)
{
    struct embed_model *e = ctx;
    if (!e)
        return;
    model_close(e->m);
    tok_free(e->tk);
    free(e->ids);
    free(e->work);
    free(e);
}

/* One text into out[0..dim). */
static enum status em_one(struct embed_model *e, const char *text, size_t len, float *out)
{
    size_t need = tok_encode_bound(len) + 2, n = 0;
    if (need > e->work_cap) {
        int32_t *w = realloc(e->work, need * sizeof *w);
        if (!w)
            return STATUS_NOMEM;
        e->work = w;
        e->work_cap = need;
    }
    int32_t bos = tok_bos(e->tk);
    size_t k = 0;
    if (bos >= 0 && tok_add_bos(e->tk))
        e->ids[k++] = bos;
    enum status st = STATUS_OK;
    if (len) {
        st = tok_encode(e->tk, text, len, 0, e->work, e->work_cap, &n);
        if (st != STATUS_OK)
            return st;
    }
    if (n > EMBED_MODEL_MAX_TOKENS)
        n = EMBED_MODEL_MAX_TOKENS;
    memcpy(e->ids + k, e->work, n * sizeof *e->ids);
    if (k + n == 0) /* no BOS and no text: embed the end-of-text token */
        e->ids[n++] = tok_eos(e->tk) >= 0 ? tok_eos(e->tk) : 0;
    return model_embed(e->m, e->ids, k + n, k, out);
}

static enum status em_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                            float *out)
{
    struct embed_model *e = ctx;
    for (size_t i = 0; i < n; i++) {
        enum status st = em_one(e, texts[i] ? texts[i] : "", texts[i] ? lens[i] : 0,
                                out + i * e->dim);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

/* FNV-1a 64 over the first 64 KiB of the token embedding's data ("" when absent). */
static uint64_t weights_hash(const struct gguf *g)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int64_t ti = gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0)
        return h;
    const unsigned char *p = gguf_tensor_data(g, ti);
    size_t n = gguf_tensor_size(g, ti);
    if (n > 65536)
        n = 65536;
    for (size_t i = 0; p && i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

enum status embed_model_new(const struct gguf *g, int n_threads, struct embedder *out)
{
    memset(out, 0, sizeof *out);
    struct embed_model *e = calloc(1, sizeof *e);
    if (!e)
        return STATUS_NOMEM;
    enum status st = tok_from_gguf(g, &e->tk);
    if (st != STATUS_OK)
        goto fail;
    struct model_params mp;
    model_params_init(&mp);
    mp.n_ctx = EMBED_MODEL_MAX_TOKENS + 1;
    mp.n_batch = EMBED_MODEL_MAX_TOKENS + 1;
    mp.n_threads = n_threads;
    /* short batches, not bandwidth-bound; the generating model over the same file takes
     * the copy */
    mp.weights = MODEL_WEIGHTS_MAPPED;
    if ((st = model_open(g, &mp, &e->m)) != STATUS_OK)
        goto fail;
    e->dim = model_n_embd(e->m);
    if (!(e->ids = malloc((EMBED_MODEL_MAX_TOKENS + 1) * sizeof *e->ids))) {
        st = STATUS_NOMEM;
        goto fail;
    }
    const char *name = NULL;
    size_t nl = 0;
    if (gguf_get_str(g, "general.name", &name, &nl) != STATUS_OK || nl > 200) {
        name = "?";
        nl = 1;
    }
    snprintf(e->id, sizeof e->id, "model:%.*s:%zu:%llu:%016llx", (int)nl, name, e->dim,
             (unsigned long long)gguf_file_size(g), (unsigned long long)weights_hash(g));
    out->id = e->id;
    out->dim = e->dim;
    out->embed = em_embed;
    out->free = em_free;
    out->ctx = e;
    return STATUS_OK;
fail:
    em_free(e);
    return st;
}
