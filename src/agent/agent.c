/* agent.c -- the MemLLM loop: read mode with memory calls, write mode, grounding, events
 * (see agent.h for the protocol and the context editing strategy). */
#include "config.h"
#include "agent/agent.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/split.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tok.h"
#include "util/i18n.h"
#include "util/json.h"
#include "util/timing.h"
#include "util/utf8.h"

#define AGENT_DEFAULT_ASK "{question}"
#define AGENT_DEFAULT_WRITE "{context}" CALL_USER_ST "{sentence}" CALL_USER_END

/* ---- small growable buffers ------------------------------------------------------------ */

struct sbuf {
    char *s;
    size_t n, cap;
};

static bool sb_add(struct sbuf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return false;
        b->s = s;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

static bool sb_addz(struct sbuf *b, const char *z)
{
    return sb_add(b, z, strlen(z));
}

static char *sb_take(struct sbuf *b)
{
    if (!b->s && !sb_add(b, "", 0))
        return NULL;
    char *s = b->s;
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

/* A copy of s for the store, which keeps valid UTF-8 only: each byte that starts no valid
 * character becomes U+FFFD.  NULL for NULL or when out of memory. */
static char *utf8_lossy(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    struct sbuf b = {0};
    bool ok = sb_add(&b, "", 0);
    for (size_t i = 0; ok && i < len;) {
        uint32_t cp;
        int n = utf8_decode(s + i, len - i, &cp);
        ok = n > 0 ? sb_add(&b, s + i, (size_t)n) : sb_addz(&b, "\xEF\xBF\xBD");
        i += n > 0 ? (size_t)n : 1;
    }
    if (!ok) {
        free(b.s);
        return NULL;
    }
    return sb_take(&b);
}

/* ---- the engine model behind the agent_lm interface ------------------------------------ */

static enum status lm_model_eval(void *ctx, const int32_t *tokens, size_t n, size_t pos,
                                 float *logits)
{
    return model_eval(ctx, tokens, n, pos, logits, false);
}

static void lm_model_set_abort(void *ctx, bool (*abort_cb)(void *user), void *user)
{
    model_set_abort(ctx, abort_cb, user);
}

void agent_lm_from_model(struct model *m, struct agent_lm *out)
{
    memset(out, 0, sizeof *out);
    out->n_vocab = model_n_vocab(m);
    out->n_ctx = model_n_ctx(m);
    out->eval = lm_model_eval;
    out->set_abort = lm_model_set_abort;
    out->ctx = m;
}

/* ---- parameters and templates ----------------------------------------------------------- */

void agent_params_init(struct agent_params *p)
{
    memset(p, 0, sizeof *p);
    samp_params_init(&p->samp);
    p->max_tokens = 256;
    p->max_calls = 5;
    p->read = true;
    p->context_sents = 25;
    p->min_cuts = 5;
    p->write_max_tokens = 128;
    p->record = true;
    p->constrain = true;
}

static enum status tmpl_get(const struct gguf *g, const char *key, char **out)
{
    *out = NULL;
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return STATUS_OK;
    struct gguf_value v;
    gguf_kv_value(g, i, &v);
    if (v.type != GGUF_VTYPE_STRING)
        return status_detail_set(STATUS_FORMAT, _("%s is not a string"), key);
    char *s = malloc(v.v.str.len + 1);
    if (!s)
        return STATUS_NOMEM;
    memcpy(s, v.v.str.ptr, v.v.str.len);
    s[v.v.str.len] = '\0';
    *out = s;
    return STATUS_OK;
}

enum status agent_templates_load(const struct gguf *g, char **ask, char **write)
{
    char *a = NULL, *w = NULL;
    enum status st = tmpl_get(g, "memllm.template.ask", &a);
    if (st == STATUS_OK)
        st = tmpl_get(g, "memllm.template.write", &w);
    if (st != STATUS_OK) {
        free(a);
        free(w);
        return st;
    }
    *ask = a;
    *write = w;
    return STATUS_OK;
}

size_t agent_context_sents_load(const struct gguf *g, size_t fallback)
{
    uint32_t v;
    return gguf_get_u32(g, "memllm.write.context_sents", &v) == STATUS_OK ? (size_t)v : fallback;
}

enum status agent_template_fill(const char *tmpl, const char *question, const char *context,
                                const char *sentence, char **out)
{
    static const char *const names[] = {"{question}", "{context}", "{sentence}"};
    const char *vals[] = {question ? question : "", context ? context : "",
                          sentence ? sentence : ""};
    struct sbuf b = {0};
    const char *p = tmpl;
    while (*p) {
        size_t k;
        for (k = 0; k < 3; k++)
            if (strncmp(p, names[k], strlen(names[k])) == 0)
                break;
        bool ok;
        if (k < 3) {
            ok = sb_addz(&b, vals[k]);
            p += strlen(names[k]);
        } else {
            ok = sb_add(&b, p, 1);
            p++;
        }
        if (!ok) {
            free(b.s);
            return STATUS_NOMEM;
        }
    }
    char *s = sb_take(&b);
    if (!s)
        return STATUS_NOMEM;
    *out = s;
    return STATUS_OK;
}

/* ---- the agent ------------------------------------------------------------------------- */

struct agent {
    struct agent_lm lm;
    struct tok *tk;
    struct ctrl *ctrl;
    struct agent_params p;
    agent_event_fn ev_fn;
    void *ev_user;
    struct agent_constraint cons;
    bool has_cons;

    struct samp *samp;
    struct samp *wsamp; /* greedy, for the constrained write mode */
    float *logits;      /* (n_vocab) of the last evaluated token */
    int32_t *open_ids;  /* tokens whose piece contains "({" */
    size_t n_open;
    int32_t *close_ids; /* tokens whose piece contains "})" */
    size_t n_close;
    bool *is_close;     /* (n_vocab) */
    /* each token's text for quoting (tok_token_text()):
     * tok_text[tok_off[i] .. tok_off[i + 1]) */
    char *tok_text;
    size_t *tok_off;
    int32_t *quote_ids; /* scratch allow-list (n_vocab) */

    /* the context: toks[0..n_toks); the model holds toks[0..n_eval) */
    int32_t *toks;
    size_t n_toks, cap_toks, n_eval;
    bool logits_ok;     /* logits belong to toks[0..n_toks) (n_eval == n_toks) */

    struct agent_timing tim;
    atomic_int cancel;

    /* worker */
    pthread_t th;
    atomic_bool th_running;
    bool th_started;
    char *th_question, *th_out;
    int64_t th_run;
    enum status th_st;
};

static bool agent_abort_cb(void *user)
{
    struct agent *a = user;
    return atomic_load(&a->cancel) != 0;
}

static bool piece_contains(const char *piece, size_t len, const char *pat)
{
    size_t pl = strlen(pat);
    for (size_t i = 0; i + pl <= len; i++)
        if (memcmp(piece + i, pat, pl) == 0)
            return true;
    return false;
}

/* The token texts quoting compares with read results (see struct agent). */
static enum status quote_tables(struct agent *a, size_t nv)
{
    size_t total = 0, len;
    for (size_t i = 0; i < nv; i++)
        if (tok_piece(a->tk, (int32_t)i, &len))
            total += len > 0 ? len : 1;
    a->tok_text = malloc(total + 1);
    a->tok_off = malloc((nv + 1) * sizeof *a->tok_off);
    a->quote_ids = malloc((nv ? nv : 1) * sizeof *a->quote_ids);
    if (!a->tok_text || !a->tok_off || !a->quote_ids)
        return STATUS_NOMEM;
    size_t at = 0;
    for (size_t i = 0; i < nv; i++) {
        a->tok_off[i] = at;
        at += tok_token_text(a->tk, (int32_t)i, a->tok_text + at, total - at);
    }
    a->tok_off[nv] = at;
    return STATUS_OK;
}

enum status agent_new(const struct agent_lm *lm, struct tok *tk, struct ctrl *c,
                      const struct agent_params *p, struct agent **out)
{
    if (!lm || !lm->eval || !tk || !p || lm->n_vocab == 0)
        return STATUS_INVALID;
    if ((size_t)tok_n_vocab(tk) > lm->n_vocab)
        return status_detail_set(STATUS_INVALID,
                                 _("the tokenizer has %ld tokens but the model only %zu"),
                                 (long)tok_n_vocab(tk), lm->n_vocab);
    struct agent *a = calloc(1, sizeof *a);
    if (!a)
        return STATUS_NOMEM;
    a->lm = *lm;
    a->tk = tk;
    a->ctrl = c;
    a->p = *p;
    atomic_init(&a->cancel, 0);
    atomic_init(&a->th_running, false);
    enum status st = samp_new(&p->samp, lm->n_vocab, &a->samp);
    if (st != STATUS_OK)
        goto fail;
    struct samp_params gp;
    samp_params_init(&gp);
    gp.temp = 0;
    if ((st = samp_new(&gp, lm->n_vocab, &a->wsamp)) != STATUS_OK)
        goto fail;
    st = STATUS_NOMEM;
    size_t nv = (size_t)tok_n_vocab(tk);
    a->logits = malloc(lm->n_vocab * sizeof *a->logits);
    a->is_close = calloc(lm->n_vocab, sizeof *a->is_close);
    a->open_ids = malloc(nv * sizeof *a->open_ids);
    a->close_ids = malloc(nv * sizeof *a->close_ids);
    if (!a->logits || !a->is_close || !a->open_ids || !a->close_ids)
        goto fail;
    for (size_t i = 0; i < nv; i++) {
        size_t len;
        const char *pc = tok_piece(tk, (int32_t)i, &len);
        if (!pc)
            continue;
        if (piece_contains(pc, len, CALL_OPEN))
            a->open_ids[a->n_open++] = (int32_t)i;
        if (piece_contains(pc, len, CALL_CLOSE)) {
            a->close_ids[a->n_close++] = (int32_t)i;
            a->is_close[i] = true;
        }
    }
    if ((st = quote_tables(a, nv)) != STATUS_OK)
        goto fail;
    if (lm->set_abort)
        lm->set_abort(lm->ctx, agent_abort_cb, a);
    *out = a;
    return STATUS_OK;
fail:
    agent_free(a);
    return st;
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    if (a->th_started) {
        agent_cancel(a);
        pthread_join(a->th, NULL);
        free(a->th_question);
        free(a->th_out);
    }
    if (a->lm.set_abort)
        a->lm.set_abort(a->lm.ctx, NULL, NULL);
    samp_free(a->samp);
    samp_free(a->wsamp);
    free(a->logits);
    free(a->is_close);
    free(a->open_ids);
    free(a->close_ids);
    free(a->tok_text);
    free(a->tok_off);
    free(a->quote_ids);
    free(a->toks);
    free(a);
}

void agent_set_events(struct agent *a, agent_event_fn fn, void *user)
{
    a->ev_fn = fn;
    a->ev_user = user;
}

void agent_set_constraint(struct agent *a, const struct agent_constraint *c)
{
    if (c) {
        a->cons = *c;
        a->has_cons = true;
    } else {
        memset(&a->cons, 0, sizeof a->cons);
        a->has_cons = false;
    }
}

const struct agent_params *agent_params_get(const struct agent *a)
{
    return &a->p;
}

enum status agent_params_set(struct agent *a, const struct agent_params *p)
{
    if (atomic_load(&a->th_running))
        return STATUS_INVALID;
    struct samp *s;
    enum status st = samp_new(&p->samp, a->lm.n_vocab, &s);
    if (st != STATUS_OK)
        return st;
    samp_free(a->samp);
    a->samp = s;
    a->p = *p;
    return STATUS_OK;
}

void agent_cancel(struct agent *a)
{
    atomic_store(&a->cancel, 1);
}

bool agent_running(const struct agent *a)
{
    return atomic_load(&a->th_running);
}

static void emit(struct agent *a, const struct agent_event *ev)
{
    if (a->ev_fn)
        a->ev_fn(a->ev_user, ev);
}

static void emit_error(struct agent *a, enum status st, const char *what)
{
    struct sbuf b = {0};
    const char *d = status_detail();
    bool ok = sb_addz(&b, what) && sb_addz(&b, ": ") && sb_addz(&b, status_str(st));
    if (ok && d && d[0])
        ok = sb_addz(&b, ": ") && sb_addz(&b, d);
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_ERROR;
    ev.status = st;
    ev.text = ok ? b.s : what;
    ev.len = strlen(ev.text);
    emit(a, &ev);
    free(b.s);
}

/* ---- the token sequence ----------------------------------------------------------------- */

static bool toks_reserve(struct agent *a, size_t n)
{
    if (a->n_toks + n <= a->cap_toks)
        return true;
    size_t cap = a->cap_toks ? a->cap_toks : 256;
    while (cap < a->n_toks + n)
        cap *= 2;
    int32_t *t = realloc(a->toks, cap * sizeof *t);
    if (!t)
        return false;
    a->toks = t;
    a->cap_toks = cap;
    return true;
}

/* The sequence changes from index k on. */
static void toks_changed(struct agent *a, size_t k)
{
    if (a->n_eval > k)
        a->n_eval = k;
    a->logits_ok = false;
}

static void toks_truncate(struct agent *a, size_t k)
{
    if (k < a->n_toks) {
        a->n_toks = k;
        toks_changed(a, k);
    }
}

static enum status toks_push(struct agent *a, int32_t t)
{
    if (!toks_reserve(a, 1))
        return STATUS_NOMEM;
    a->toks[a->n_toks++] = t;
    a->logits_ok = false;
    return STATUS_OK;
}

static enum status toks_encode(struct agent *a, const char *text, size_t len, unsigned flags)
{
    size_t cap = tok_encode_bound(len) + 2, n;
    if (!toks_reserve(a, cap))
        return STATUS_NOMEM;
    enum status st = tok_encode(a->tk, text, len, flags, a->toks + a->n_toks, cap, &n);
    if (st != STATUS_OK)
        return st;
    toks_changed(a, a->n_toks);
    a->n_toks += n;
    return STATUS_OK;
}

/* Encode text exactly (no added space): longest vocabulary piece at each position (' ' as
 * U+2581), byte tokens or the unknown token for bytes no piece starts with. */
static enum status toks_encode_raw(struct agent *a, const char *text, size_t len)
{
    struct sbuf m = {0};
    for (size_t i = 0; i < len; i++) {
        bool ok = text[i] == ' ' ? sb_addz(&m, "\xE2\x96\x81") : sb_add(&m, text + i, 1);
        if (!ok) {
            free(m.s);
            return STATUS_NOMEM;
        }
    }
    enum status st = STATUS_OK;
    size_t maxp = tok_max_piece_len(a->tk);
    toks_changed(a, a->n_toks);
    for (size_t i = 0; i < m.n;) {
        int32_t id = -1;
        size_t take = 0;
        for (size_t l = m.n - i < maxp ? m.n - i : maxp; l > 0; l--) {
            int32_t t = tok_find(a->tk, m.s + i, l);
            if (t < 0)
                continue;
            enum tok_type ty = tok_token_type(a->tk, t);
            if (ty == TOK_TYPE_NORMAL || ty == TOK_TYPE_USER_DEFINED) {
                id = t;
                take = l;
                break;
            }
        }
        if (id < 0) {
            char bt[8];
            snprintf(bt, sizeof bt, "<0x%02X>", (unsigned char)m.s[i]);
            id = tok_find(a->tk, bt, 6);
            if (id < 0)
                id = tok_unk(a->tk);
            take = 1;
        }
        if (id < 0) {
            st = status_detail_set(STATUS_UNSUPPORTED, _("text cannot be encoded"));
            break;
        }
        if ((st = toks_push(a, id)) != STATUS_OK)
            break;
        i += take;
    }
    free(m.s);
    return st;
}

/* Make the context the encoding of text (with BOS as the vocabulary says), keeping the
 * evaluated cache up to the first token that differs (a new question or sentence with the
 * same beginning re-evaluates only the rest). */
static enum status toks_set_prompt(struct agent *a, const char *text, size_t len)
{
    size_t cap = tok_encode_bound(len) + 2, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return STATUS_NOMEM;
    unsigned flags = TOK_ENCODE_ADD_SPECIAL | (a->p.parse_special ? TOK_ENCODE_PARSE_SPECIAL : 0u);
    enum status st = tok_encode(a->tk, text, len, flags, ids, cap, &n);
    if (st == STATUS_OK) {
        size_t lcp = 0;
        while (lcp < n && lcp < a->n_toks && ids[lcp] == a->toks[lcp])
            lcp++;
        toks_truncate(a, lcp);
        if (toks_reserve(a, n - lcp)) {
            memcpy(a->toks + lcp, ids + lcp, (n - lcp) * sizeof *ids);
            a->n_toks = n;
            toks_changed(a, lcp);
        } else {
            st = STATUS_NOMEM;
        }
    }
    free(ids);
    return st;
}

/* Make the logits belong to the whole sequence. */
static enum status agent_eval(struct agent *a)
{
    if (a->logits_ok && a->n_eval == a->n_toks)
        return STATUS_OK;
    if (a->n_toks == 0)
        return STATUS_INVALID;
    if (a->n_eval >= a->n_toks)
        a->n_eval = a->n_toks - 1;
    if (a->n_toks > a->lm.n_ctx)
        return status_detail_set(STATUS_CONTEXT_FULL, _("%zu tokens, context %zu"), a->n_toks,
                                 a->lm.n_ctx);
    size_t n = a->n_toks - a->n_eval;
    uint64_t t0 = timing_now_ns();
    enum status st = a->lm.eval(a->lm.ctx, a->toks + a->n_eval, n, a->n_eval, a->logits);
    double dt = timing_since_s(t0);
    if (n == 1) {
        a->tim.t_gen += dt;
    } else {
        a->tim.t_prompt += dt;
        a->tim.n_prompt += n;
    }
    if (st != STATUS_OK) {
        a->n_eval = 0; /* unknown how far it got: re-evaluate from the start next time */
        return st;
    }
    a->n_eval = a->n_toks;
    a->logits_ok = true;
    return STATUS_OK;
}

/* ---- JSON for settings and events ------------------------------------------------------- */

static char *settings_json(const struct agent *a)
{
    char buf[1024];
    const struct agent_params *p = &a->p;
    int n = snprintf(buf, sizeof buf,
                     "{\"temp\":%g,\"top_k\":%d,\"top_p\":%g,\"min_p\":%g,\"repeat_penalty\":%g,"
                     "\"seed\":%llu,\"max_tokens\":%zu,\"max_calls\":%zu,\"read\":%s,"
                     "\"constrain\":%s,\"mode\":\"%s\"",
                     (double)p->samp.temp, (int)p->samp.top_k, (double)p->samp.top_p,
                     (double)p->samp.min_p, (double)p->samp.repeat_penalty,
                     (unsigned long long)p->samp.seed, p->max_tokens, p->max_calls,
                     p->read ? "true" : "false",
                     p->constrain && a->has_cons ? "true" : "false",
                     p->prompted ? "prompted" : "native");
    if (a->ctrl && n > 0 && (size_t)n < sizeof buf) {
        const struct ctrl_params *cp = ctrl_params_get(a->ctrl);
        snprintf(buf + n, sizeof buf - (size_t)n,
                 ",\"dist_thr\":%g,\"dist_rel_thr\":%g,\"q_thr\":%g}", cp->dist_thr,
                 cp->dist_rel_thr, cp->q_thr);
    } else if (n > 0 && (size_t)n < sizeof buf - 1) {
        strcat(buf, "}");
    }
    return strdup(buf);
}

static void json_z(FILE *f, const char *s)
{
    if (s)
        json_write_str(f, s, strlen(s));
    else
        fputs("null", f);
}

static void json_cands(FILE *f, const struct ctrl_candidate *c, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{\"id\":%lld,\"name\":", i ? "," : "", (long long)c[i].id);
        json_z(f, c[i].name);
        fprintf(f, ",\"dist\":%.6g,\"passed\":%s}", c[i].dist, c[i].passed ? "true" : "false");
    }
    fputc(']', f);
}

static void json_read(FILE *f, const struct ctrl_read *r)
{
    fputs("{\"want\":", f);
    fputs(r->want == CTRL_WANT_OBJECT ? "\"object\"" : "\"subject\"", f);
    fputs(",\"name\":", f);
    json_z(f, r->name);
    fputs(",\"relation\":", f);
    json_z(f, r->relation);
    fputs(",\"entities\":", f);
    json_cands(f, r->entities, r->n_entities);
    fputs(",\"relations\":", f);
    json_cands(f, r->relations, r->n_relations);
    fputs(",\"triples\":[", f);
    for (size_t i = 0; i < r->n_found; i++) {
        const struct ctrl_found *t = &r->found[i];
        fprintf(f, "%s{\"id\":%lld,\"subject\":", i ? "," : "", (long long)t->id);
        json_z(f, t->subj_name);
        fputs(",\"relation\":", f);
        json_z(f, t->rel_name);
        fputs(",\"object\":", f);
        json_z(f, t->obj_name);
        fprintf(f, ",\"score\":%.6g,\"kept\":%s}", t->score, t->kept ? "true" : "false");
    }
    fputs("],\"answers\":[", f);
    for (size_t i = 0; i < r->n_answers; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_z(f, r->answers[i].name);
        fprintf(f, ",\"score\":%.6g,\"triple_id\":%lld}", r->answers[i].score,
                (long long)r->answers[i].triple_id);
    }
    fputs("]}", f);
}

void agent_event_json(FILE *f, const struct agent_event *ev)
{
    switch (ev->kind) {
    case AGENT_EVENT_TOKEN:
        fputs("{\"event\":\"token\",\"text\":", f);
        json_write_str(f, ev->text, ev->len);
        fputc('}', f);
        break;
    case AGENT_EVENT_CALL_START:
        fprintf(f, "{\"event\":\"call\",\"call\":%zu,\"raw\":", ev->call_no);
        json_write_str(f, ev->text, ev->len);
        fputc('}', f);
        break;
    case AGENT_EVENT_READ:
        fprintf(f, "{\"event\":\"read\",\"call\":%zu,\"failed\":%s,\"reason\":", ev->call_no,
                ev->failed ? "true" : "false");
        json_z(f, ev->reason);
        fputs(",\"results\":", f);
        json_z(f, ev->results);
        fputs(",\"queries\":[", f);
        for (size_t i = 0; i < ev->n_reads; i++) {
            if (i)
                fputc(',', f);
            if (ev->reads[i])
                json_read(f, ev->reads[i]);
            else
                fputs("null", f);
        }
        fputs("]}", f);
        break;
    case AGENT_EVENT_WRITE:
        fprintf(f, "{\"event\":\"write\",\"sentence_no\":%zu,\"sentences\":%zu,\"sentence\":",
                ev->sentence_no, ev->n_sentences);
        json_z(f, ev->sentence);
        fputs(",\"raw\":", f);
        json_z(f, ev->raw);
        fputs(",\"triples\":[", f);
        for (size_t i = 0; i < ev->n_triples; i++) {
            fprintf(f, "%s{\"subject\":", i ? "," : "");
            json_z(f, ev->triples[i].subj);
            fputs(",\"relation\":", f);
            json_z(f, ev->triples[i].rel);
            fputs(",\"object\":", f);
            json_z(f, ev->triples[i].obj);
            if (ev->written) {
                static const char *const oc[] = {"new", "known", "conflict"};
                unsigned o = (unsigned)ev->written[i].outcome;
                fprintf(f, ",\"id\":%lld,\"outcome\":\"%s\"",
                        (long long)ev->written[i].triple_id, o < 3 ? oc[o] : "?");
            }
            fputc('}', f);
        }
        fputs("],\"rejected\":[", f);
        for (size_t i = 0; i < ev->n_rejected; i++) {
            fprintf(f, "%s{\"pos\":%zu,\"reason\":", i ? "," : "", ev->rejected[i].pos);
            json_z(f, call_error_str(ev->rejected[i].kind));
            fputc('}', f);
        }
        fprintf(f, "],\"status\":\"%s\"}", status_name(ev->status));
        break;
    case AGENT_EVENT_ERROR:
        fprintf(f, "{\"event\":\"error\",\"status\":\"%s\",\"message\":", status_name(ev->status));
        json_z(f, ev->text);
        fputc('}', f);
        break;
    case AGENT_EVENT_DONE: {
        const struct agent_timing *t = ev->timing;
        fputs("{\"event\":\"done\",\"stop\":", f);
        json_z(f, ev->stop);
        fprintf(f, ",\"run\":%lld,\"output\":", (long long)ev->run_id);
        json_z(f, ev->output);
        if (t)
            fprintf(f,
                    ",\"prompt_tokens\":%zu,\"prompt_s\":%.6f,\"prompt_tok_s\":%.3f,"
                    "\"gen_tokens\":%zu,\"gen_s\":%.6f,\"gen_tok_s\":%.3f,\"total_s\":%.6f",
                    t->n_prompt, t->t_prompt,
                    t->t_prompt > 0 ? (double)t->n_prompt / t->t_prompt : 0.0, t->n_gen,
                    t->t_gen, t->t_gen > 0 ? (double)t->n_gen / t->t_gen : 0.0, t->t_total);
        fputc('}', f);
        break;
    }
    }
}

/* ---- read mode ------------------------------------------------------------------------- */

/* State of one answer. */
struct ask {
    struct agent *a;
    struct samp_stop *stop;
    bool stopped;
    struct sbuf out;      /* answer with calls inline */
    struct sbuf pend;     /* decoded text not yet known to be outside a call */
    size_t pend_emitted;  /* bytes of pend already emitted */
    size_t *offs;         /* end offset in pend of each token since pend_tok0 */
    size_t n_offs, cap_offs;
    size_t pend_tok0;
    struct tok_stream ts;
    char *piece;
    size_t piece_cap;
    bool in_call, forbid_open;
    size_t n_calls, call_no;
    bool have_prev;
    size_t prev_b, prev_e; /* token span of the call kept in the context */
    char **raws;           /* executed calls, for the repetition check */
    size_t n_raws;
    int64_t run_id;
    /* quoting: the results of the latest read ("r1;r2"), while the answer after it is
     * still spelling one of them (qgen: its text so far); NULL when not quoting */
    char *quote;
    struct sbuf qgen;
    bool quote_tail; /* a result was just spelt: the next token may not go on with a letter */
};

static void ask_emit_text(struct ask *k, const char *s, size_t n)
{
    if (k->stopped || n == 0)
        return;
    k->stopped = samp_stop_feed(k->stop, s, n);
    const char *safe;
    size_t ns;
    samp_stop_take(k->stop, &safe, &ns);
    if (ns) {
        sb_add(&k->out, safe, ns);
        struct agent_event ev = {0};
        ev.kind = AGENT_EVENT_TOKEN;
        ev.text = safe;
        ev.len = ns;
        emit(k->a, &ev);
    }
}

static void ask_flush_stop(struct ask *k)
{
    const char *rest;
    size_t n;
    samp_stop_flush(k->stop, &rest, &n);
    if (n && !k->stopped) {
        sb_add(&k->out, rest, n);
        struct agent_event ev = {0};
        ev.kind = AGENT_EVENT_TOKEN;
        ev.text = rest;
        ev.len = n;
        emit(k->a, &ev);
    }
}

/* Forget pend (all of it emitted or cut).  restart: the context was edited, so the
 * detokenizer starts afresh; otherwise it keeps an unfinished UTF-8 character. */
static void ask_pend_reset(struct ask *k, bool restart)
{
    k->pend.n = 0;
    if (k->pend.s)
        k->pend.s[0] = '\0';
    k->pend_emitted = 0;
    k->n_offs = 0;
    k->pend_tok0 = k->a->n_toks;
    if (restart)
        tok_stream_init(&k->ts, k->a->tk, 0);
}

static void ask_end_call(struct ask *k)
{
    if (k->in_call && k->a->has_cons && k->a->p.constrain && k->a->cons.end)
        k->a->cons.end(k->a->cons.ctx);
    k->in_call = false;
}

/* Index (relative to pend_tok0) of the token holding byte b of pend, and its start. */
static size_t ask_tok_at(const struct ask *k, size_t b, size_t *start)
{
    size_t i = 0;
    while (i < k->n_offs && k->offs[i] <= b)
        i++;
    *start = i ? k->offs[i - 1] : 0;
    return i;
}

/* Cut the call starting at byte b of pend out of the context; forbid "({" next. */
static enum status ask_fail(struct ask *k, size_t b, size_t e, const struct call *c,
                            struct ctrl_read *const *reads, size_t n_reads, const char *reason)
{
    struct agent *a = k->a;
    size_t start, i = ask_tok_at(k, b, &start);
    toks_truncate(a, k->pend_tok0 + i);
    enum status st = STATUS_OK;
    if (start < b)
        st = toks_encode_raw(a, k->pend.s + start, b - start);
    k->forbid_open = true;
    k->call_no++;
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_CALL_START;
    ev.call_no = k->call_no;
    ev.text = k->pend.s + b;
    ev.len = e - b;
    char save = k->pend.s[e];
    k->pend.s[e] = '\0';
    emit(a, &ev);
    k->pend.s[e] = save;
    memset(&ev, 0, sizeof ev);
    ev.kind = AGENT_EVENT_READ;
    ev.call_no = k->call_no;
    ev.call = c;
    ev.reads = reads;
    ev.n_reads = n_reads;
    ev.failed = true;
    ev.reason = reason;
    emit(a, &ev);
    ask_end_call(k);
    ask_pend_reset(k, true);
    return st;
}

static char *query_text(const struct call_query *q)
{
    struct sbuf b = {0};
    if (q->want == CALL_WANT_OBJECT) {
        sb_addz(&b, q->subj ? q->subj : "");
        sb_addz(&b, ">>");
        sb_addz(&b, q->rel ? q->rel : "");
        sb_addz(&b, ">>");
    } else {
        sb_addz(&b, ">>");
        sb_addz(&b, q->rel ? q->rel : "");
        sb_addz(&b, ">>");
        sb_addz(&b, q->obj ? q->obj : "");
    }
    return sb_take(&b);
}

static bool same_trimmed(const char *x, const char *y, size_t ylen)
{
    /* compare ignoring spaces */
    size_t i = 0, j = 0, xl = strlen(x);
    for (;;) {
        while (i < xl && x[i] == ' ')
            i++;
        while (j < ylen && y[j] == ' ')
            j++;
        if (i == xl || j == ylen)
            return i == xl && j == ylen;
        if (x[i] != y[j])
            return false;
        i++;
        j++;
    }
}

/* A read call is complete at pend[b..e): run it. */
static enum status ask_read(struct ask *k, size_t b, size_t e)
{
    struct agent *a = k->a;
    const char *raw = k->pend.s + b;
    size_t rawlen = e - b;
    struct call *c = NULL;
    enum status st = call_parse_read(raw, rawlen, &c);
    if (st == STATUS_NOMEM)
        return st;
    if (st != STATUS_OK || c->n_errors || c->n_queries == 0) {
        st = ask_fail(k, b, e, st == STATUS_OK ? c : NULL, NULL, 0, _("malformed call"));
        call_free(c);
        return st;
    }
    for (size_t i = 0; i < k->n_raws; i++) {
        if (same_trimmed(k->raws[i], raw, rawlen)) {
            st = ask_fail(k, b, e, c, NULL, 0, _("repeated call"));
            call_free(c);
            return st;
        }
    }
    if (!a->ctrl) {
        st = ask_fail(k, b, e, c, NULL, 0, _("no memory"));
        call_free(c);
        return st;
    }
    struct ctrl_read *reads[CALL_MAX_QUERIES] = {NULL};
    const char *names[CALL_MAX_RESULTS];
    size_t from[CALL_MAX_RESULTS], ans[CALL_MAX_RESULTS], n_names = 0;
    for (size_t q = 0; q < c->n_queries; q++) {
        const struct call_query *cq = &c->queries[q];
        bool obj = cq->want == CALL_WANT_OBJECT;
        st = ctrl_read(a->ctrl, obj ? CTRL_WANT_OBJECT : CTRL_WANT_SUBJECT,
                       obj ? cq->subj : cq->obj, cq->rel, &reads[q]);
        if (st == STATUS_NOMEM)
            goto out;
        if (st != STATUS_OK) {
            emit_error(a, st, _("memory read"));
            reads[q] = NULL;
            continue;
        }
        for (size_t i = 0; i < reads[q]->n_answers && n_names < CALL_MAX_RESULTS; i++) {
            const char *nm = reads[q]->answers[i].name;
            bool dup = false;
            for (size_t j = 0; j < n_names; j++)
                dup = dup || strcmp(names[j], nm) == 0;
            if (dup || call_name_check(nm, strlen(nm), NULL) != CALL_ERR_NONE)
                continue;
            from[n_names] = q;
            ans[n_names] = i;
            names[n_names++] = nm;
        }
    }
    if (n_names == 0) {
        st = ask_fail(k, b, e, c, reads, c->n_queries, _("nothing found"));
        goto out;
    }
    char *results = NULL; /* "r1;r2})" */
    if ((st = call_format_results(names, n_names, &results)) != STATUS_OK)
        goto out;
    /* the call's tokens: keep them when the call starts and ends on token boundaries */
    size_t start, i0 = ask_tok_at(k, b, &start);
    size_t j = 0;
    while (j < k->n_offs && k->offs[j] < e)
        j++;
    size_t k_call;
    if (start == b && j < k->n_offs && k->offs[j] == e) {
        k_call = k->pend_tok0 + i0;
        toks_truncate(a, k->pend_tok0 + j + 1);
    } else {
        toks_truncate(a, k->pend_tok0 + i0);
        if (start < b && (st = toks_encode_raw(a, k->pend.s + start, b - start)) != STATUS_OK)
            goto out_res;
        k_call = a->n_toks;
        if ((st = toks_encode_raw(a, raw, rawlen)) != STATUS_OK)
            goto out_res;
    }
    int32_t last = a->toks[a->n_toks - 1];
    enum tok_type lt = tok_token_type(a->tk, last);
    if (lt == TOK_TYPE_USER_DEFINED || lt == TOK_TYPE_CONTROL)
        st = toks_encode(a, results, strlen(results), 0);
    else
        st = toks_encode_raw(a, results, strlen(results));
    if (st != STATUS_OK)
        goto out_res;
    if (k->have_prev) {
        size_t pb = k->prev_b, pe = k->prev_e, cut = pe - pb;
        memmove(a->toks + pb, a->toks + pe, (a->n_toks - pe) * sizeof *a->toks);
        a->n_toks -= cut;
        toks_changed(a, pb);
        k_call -= cut;
    }
    k->have_prev = true;
    k->prev_b = k_call;
    k->prev_e = a->n_toks;
    k->n_calls++;
    k->call_no++;
    char **nr = realloc(k->raws, (k->n_raws + 1) * sizeof *nr);
    if (!nr) {
        st = STATUS_NOMEM;
        goto out_res;
    }
    k->raws = nr;
    if (!(k->raws[k->n_raws] = strndup(raw, rawlen))) {
        st = STATUS_NOMEM;
        goto out_res;
    }
    k->n_raws++;
    sb_add(&k->out, raw, rawlen);
    sb_addz(&k->out, results);
    size_t rl = strlen(results) - strlen(CALL_CLOSE);
    if (k->run_id) {
        char *rawz = k->raws[k->n_raws - 1];
        char save = results[rl];
        results[rl] = '\0';
        enum status rs = mem_run_add_call(ctrl_mem(a->ctrl), k->run_id, (int64_t)k->call_no,
                                          MEM_CALL_KIND_READ, rawz, results);
        results[rl] = save;
        for (size_t n = 0; rs == STATUS_OK && n < n_names; n++) {
            char *qt = query_text(&c->queries[from[n]]);
            const struct ctrl_answer *an = &reads[from[n]]->answers[ans[n]];
            rs = qt ? mem_run_add_read(ctrl_mem(a->ctrl), k->run_id, (int64_t)k->call_no, qt,
                                       an->triple_id, an->score)
                    : STATUS_NOMEM;
            free(qt);
        }
        if (rs != STATUS_OK)
            emit_error(a, rs, _("recording the run"));
    }
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_CALL_START;
    ev.call_no = k->call_no;
    ev.text = k->raws[k->n_raws - 1];
    ev.len = rawlen;
    emit(a, &ev);
    memset(&ev, 0, sizeof ev);
    ev.kind = AGENT_EVENT_READ;
    ev.call_no = k->call_no;
    ev.call = c;
    ev.reads = reads;
    ev.n_reads = c->n_queries;
    results[rl] = '\0';
    ev.results = results;
    emit(a, &ev);
    ask_end_call(k);
    ask_pend_reset(k, true);
    free(k->quote);
    k->quote = NULL;
    k->qgen.n = 0;
    k->quote_tail = false;
    if (a->p.constrain && !a->p.prompted && !(k->quote = strdup(results))) {
        st = STATUS_NOMEM;
        goto out_res;
    }
    st = STATUS_OK;
out_res:
    free(results);
out:
    for (size_t q = 0; q < CALL_MAX_QUERIES; q++)
        ctrl_read_free(reads[q]);
    call_free(c);
    return st;
}

/* Look at pend after a new token: emit text outside calls, run complete calls. */
static enum status ask_scan(struct ask *k, bool cons_broken)
{
    struct agent *a = k->a;
    size_t base = k->pend_emitted;
    size_t begin = 0, end = 0;
    enum call_kind kind = CALL_KIND_UNKNOWN;
    enum call_state cs = call_find(k->pend.s + base, k->pend.n - base, &begin, &end, &kind);
    begin += base;
    end += base;
    switch (cs) {
    case CALL_STATE_NONE:
        ask_emit_text(k, k->pend.s + base, k->pend.n - base);
        ask_end_call(k);
        ask_pend_reset(k, false);
        return STATUS_OK;
    case CALL_STATE_PREFIX:
        ask_emit_text(k, k->pend.s + base, begin - base);
        k->pend_emitted = begin;
        return STATUS_OK;
    case CALL_STATE_OPEN:
        ask_emit_text(k, k->pend.s + base, begin - base);
        k->pend_emitted = begin;
        ask_flush_stop(k);
        if (cons_broken)
            return ask_fail(k, begin, k->pend.n, NULL, NULL, 0, _("constraint violated"));
        if (!k->in_call) {
            k->in_call = true;
            if (a->has_cons && a->p.constrain && a->cons.begin) {
                enum status st = a->cons.begin(a->cons.ctx, (int)kind, k->pend.s + begin,
                                               k->pend.n - begin);
                if (st != STATUS_OK)
                    return st;
            }
        }
        return STATUS_OK;
    case CALL_STATE_READ_PENDING:
        ask_emit_text(k, k->pend.s + base, begin - base);
        k->pend_emitted = begin;
        ask_flush_stop(k);
        if (cons_broken)
            return ask_fail(k, begin, end, NULL, NULL, 0, _("constraint violated"));
        return ask_read(k, begin, end);
    case CALL_STATE_COMPLETE:
    case CALL_STATE_ABANDONED:
    default:
        ask_emit_text(k, k->pend.s + base, begin - base);
        k->pend_emitted = begin;
        ask_flush_stop(k);
        return ask_fail(k, begin, end, NULL, NULL, 0,
                        cs == CALL_STATE_COMPLETE ? _("not a read call") : _("unfinished call"));
    }
}

static void ask_free(struct ask *k)
{
    samp_stop_free(k->stop);
    free(k->out.s);
    free(k->pend.s);
    free(k->offs);
    free(k->piece);
    for (size_t i = 0; i < k->n_raws; i++)
        free(k->raws[i]);
    free(k->raws);
    free(k->quote);
    free(k->qgen.s);
}

static bool quote_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           c >= 0x80;
}

/* May text t[0..n) come next in an answer that spells result r[0..rn), given the text g
 * generated since the read?  (It continues r, or ends r and goes on with no letter.) */
static bool quote_fits(const char *r, size_t rn, const char *g, size_t gn, const char *t,
                       size_t n)
{
    if (gn > rn || memcmp(r, g, gn) != 0 || n == 0)
        return false;
    const char *rest = r + gn;
    size_t rl = rn - gn;
    if (n <= rl)
        return memcmp(rest, t, n) == 0;
    return memcmp(rest, t, rl) == 0 && !quote_word_byte((unsigned char)t[rl]);
}

/* Restrict the next token to those that go on spelling a read result (answers quote the
 * read).  Quoting ends when a result is complete or no token fits. */
static void quote_mask(struct ask *k)
{
    struct agent *a = k->a;
    size_t nv = (size_t)tok_n_vocab(a->tk), n = 0;
    const char *g = k->qgen.s ? k->qgen.s : "";
    for (size_t i = 0; i < nv; i++) {
        const char *t = a->tok_text + a->tok_off[i];
        size_t tn = a->tok_off[i + 1] - a->tok_off[i];
        for (const char *r = k->quote; tn && *r;) {
            const char *e = strchr(r, ';');
            size_t rn = e ? (size_t)(e - r) : strlen(r);
            if (quote_fits(r, rn, g, k->qgen.n, t, tn)) {
                a->quote_ids[n++] = (int32_t)i;
                break;
            }
            r += rn + (e ? 1 : 0);
        }
    }
    if (n == 0) {
        free(k->quote);
        k->quote = NULL;
        return;
    }
    samp_mask_allow(a->samp, a->quote_ids, n);
}

/* Right after a result was spelt: no token that would run on into a longer word. */
static void quote_tail_mask(struct ask *k)
{
    struct agent *a = k->a;
    size_t nv = (size_t)tok_n_vocab(a->tk), n = 0;
    int32_t eos = tok_eos(a->tk);
    for (size_t i = 0; i < nv; i++) {
        size_t tn = a->tok_off[i + 1] - a->tok_off[i];
        if ((int32_t)i == eos ||
            (tn && !quote_word_byte((unsigned char)a->tok_text[a->tok_off[i]])))
            a->quote_ids[n++] = (int32_t)i;
    }
    k->quote_tail = false;
    if (n)
        samp_mask_allow(a->samp, a->quote_ids, n);
}

/* After token id was sampled while quoting: note its text; stop when a result is spelt. */
static void quote_accept(struct ask *k, int32_t id)
{
    struct agent *a = k->a;
    if (id < 0 || id >= tok_n_vocab(a->tk) ||
        !sb_add(&k->qgen, a->tok_text + a->tok_off[id], a->tok_off[id + 1] - a->tok_off[id])) {
        free(k->quote);
        k->quote = NULL;
        return;
    }
    for (const char *r = k->quote; *r;) {
        const char *e = strchr(r, ';');
        size_t rn = e ? (size_t)(e - r) : strlen(r);
        if (k->qgen.n >= rn && memcmp(k->qgen.s, r, rn) == 0) {
            free(k->quote);
            k->quote = NULL;
            k->quote_tail = k->qgen.n == rn;
            return;
        }
        r += rn + (e ? 1 : 0);
    }
}

static enum status agent_ask_impl(struct agent *a, const char *question, char **output,
                                  int64_t *run_id)
{
    struct ask k;
    memset(&k, 0, sizeof k);
    k.a = a;
    memset(&a->tim, 0, sizeof a->tim);
    uint64_t t_start = timing_now_ns();
    const char *stop_reason = "error";
    char *prompt = NULL, *settings = NULL;
    enum status st = agent_template_fill(a->p.template_ask ? a->p.template_ask : AGENT_DEFAULT_ASK,
                                         question, NULL, NULL, &prompt);
    if (st != STATUS_OK)
        goto done;
    if ((st = samp_stop_new(a->p.stops, a->p.n_stops, &k.stop)) != STATUS_OK)
        goto done;
    k.piece_cap = tok_stream_bufsize(a->tk) + 1;
    if (!(k.piece = malloc(k.piece_cap))) {
        st = STATUS_NOMEM;
        goto done;
    }
    if ((st = toks_set_prompt(a, prompt, strlen(prompt))) != STATUS_OK)
        goto done;
    if (a->n_toks == 0) {
        st = status_detail_set(STATUS_INVALID, _("the prompt gives no tokens"));
        goto done;
    }
    samp_reset(a->samp);
    for (size_t i = 0; i < a->n_toks; i++)
        samp_accept(a->samp, a->toks[i]);
    if (a->has_cons && a->p.constrain && a->cons.source &&
        (st = a->cons.source(a->cons.ctx, question, strlen(question))) != STATUS_OK)
        goto done;
    if (a->p.record && a->ctrl) {
        settings = settings_json(a);
        char *q8 = utf8_lossy(question), *model8 = utf8_lossy(a->p.model_name);
        enum status rs = q8 && (model8 || !a->p.model_name)
                             ? mem_run_create(ctrl_mem(a->ctrl), q8, model8, settings, &k.run_id)
                             : STATUS_NOMEM;
        free(q8);
        free(model8);
        if (rs != STATUS_OK) {
            emit_error(a, rs, _("recording the run"));
            k.run_id = 0;
        }
    }
    ask_pend_reset(&k, true);
    bool use_cons = a->has_cons && a->p.constrain;
    int32_t eos = tok_eos(a->tk);
    stop_reason = "length";
    while (a->tim.n_gen < a->p.max_tokens) {
        if (atomic_load(&a->cancel)) {
            st = STATUS_CANCELLED;
            break;
        }
        st = agent_eval(a);
        if (st == STATUS_CONTEXT_FULL) {
            st = STATUS_OK;
            stop_reason = "context";
            break;
        }
        if (st != STATUS_OK)
            break;
        samp_mask_clear(a->samp);
        if (k.forbid_open || !a->p.read || k.n_calls >= a->p.max_calls)
            samp_mask_forbid(a->samp, a->open_ids, a->n_open);
        k.forbid_open = false;
        if (k.in_call && use_cons && a->cons.mask &&
            (st = a->cons.mask(a->cons.ctx, a->samp)) != STATUS_OK)
            break;
        bool quoting = k.quote && !k.in_call;
        if (quoting)
            quote_mask(&k);
        else if (k.quote_tail && !k.in_call)
            quote_tail_mask(&k);
        int32_t t;
        if ((st = samp_sample(a->samp, a->logits, &t, NULL)) != STATUS_OK)
            break;
        if (quoting && k.quote)
            quote_accept(&k, t);
        a->tim.n_gen++;
        if (t == eos && !a->p.ignore_eos) {
            stop_reason = "eos";
            break;
        }
        if ((st = toks_push(a, t)) != STATUS_OK)
            break;
        bool broken = k.in_call && use_cons && a->cons.accept && !a->cons.accept(a->cons.ctx, t);
        size_t np = 0;
        if ((st = tok_stream_put(&k.ts, t, k.piece, k.piece_cap, &np)) != STATUS_OK)
            break;
        if (k.n_offs == k.cap_offs) {
            size_t cap = k.cap_offs ? k.cap_offs * 2 : 64;
            size_t *o = realloc(k.offs, cap * sizeof *o);
            if (!o) {
                st = STATUS_NOMEM;
                break;
            }
            k.offs = o;
            k.cap_offs = cap;
        }
        if (!sb_add(&k.pend, k.piece, np)) {
            st = STATUS_NOMEM;
            break;
        }
        k.offs[k.n_offs++] = k.pend.n;
        if ((st = ask_scan(&k, broken)) != STATUS_OK)
            break;
        if (k.stopped) {
            stop_reason = "stop";
            break;
        }
    }
    if (st == STATUS_CANCELLED)
        stop_reason = "cancelled";
    else if (st != STATUS_OK)
        stop_reason = "error";
    if (st == STATUS_OK || st == STATUS_CANCELLED) {
        size_t nt = 0;
        if (tok_stream_flush(&k.ts, k.piece, k.piece_cap, &nt) == STATUS_OK && nt)
            sb_add(&k.pend, k.piece, nt);
        /* a held-back "(" that never became "({" is answer text */
        size_t b0 = 0, e0 = 0;
        enum call_kind kd;
        if (k.pend.n > k.pend_emitted &&
            call_find(k.pend.s + k.pend_emitted, k.pend.n - k.pend_emitted, &b0, &e0, &kd) ==
                CALL_STATE_PREFIX)
            ask_emit_text(&k, k.pend.s + k.pend_emitted, k.pend.n - k.pend_emitted);
        ask_flush_stop(&k);
    }
    ask_end_call(&k);
done:
    if (st != STATUS_OK && st != STATUS_CANCELLED)
        emit_error(a, st, _("generation"));
    if (!k.out.s)
        sb_add(&k.out, "", 0);
    if (k.run_id) {
        char *out8 = utf8_lossy(k.out.s); /* generation may stop inside a character */
        enum status rs = out8 ? mem_run_finish(ctrl_mem(a->ctrl), k.run_id, out8) : STATUS_NOMEM;
        free(out8);
        if (rs != STATUS_OK)
            emit_error(a, rs, _("recording the run"));
    }
    a->tim.t_total = timing_since_s(t_start);
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_DONE;
    ev.stop = stop_reason;
    ev.timing = &a->tim;
    ev.run_id = k.run_id;
    ev.output = k.out.s;
    ev.status = st;
    emit(a, &ev);
    if (st == STATUS_OK || st == STATUS_CANCELLED) {
        if (output)
            *output = sb_take(&k.out);
        if (run_id)
            *run_id = k.run_id;
    }
    free(prompt);
    free(settings);
    ask_free(&k);
    return st;
}

enum status agent_ask(struct agent *a, const char *question, char **output, int64_t *run_id)
{
    if (!a || !question)
        return STATUS_INVALID;
    if (atomic_load(&a->th_running))
        return STATUS_INVALID;
    atomic_store(&a->cancel, 0);
    return agent_ask_impl(a, question, output, run_id);
}

static void *agent_worker(void *arg)
{
    struct agent *a = arg;
    a->th_st = agent_ask_impl(a, a->th_question, &a->th_out, &a->th_run);
    atomic_store(&a->th_running, false);
    return NULL;
}

enum status agent_ask_start(struct agent *a, const char *question)
{
    if (!a || !question || a->th_started)
        return STATUS_INVALID;
    if (!(a->th_question = strdup(question)))
        return STATUS_NOMEM;
    a->th_out = NULL;
    a->th_run = 0;
    atomic_store(&a->cancel, 0);
    atomic_store(&a->th_running, true);
    if (pthread_create(&a->th, NULL, agent_worker, a) != 0) {
        atomic_store(&a->th_running, false);
        free(a->th_question);
        a->th_question = NULL;
        return status_detail_set(STATUS_INTERNAL, _("cannot start a thread"));
    }
    a->th_started = true;
    return STATUS_OK;
}

enum status agent_wait(struct agent *a, char **output, int64_t *run_id)
{
    if (!a || !a->th_started)
        return STATUS_INVALID;
    pthread_join(a->th, NULL);
    a->th_started = false;
    free(a->th_question);
    a->th_question = NULL;
    if (output)
        *output = a->th_out;
    else
        free(a->th_out);
    a->th_out = NULL;
    if (run_id)
        *run_id = a->th_run;
    return a->th_st;
}

/* ---- write mode ------------------------------------------------------------------------ */

/* log-sum-exp of the logits (for log-probabilities of the full distribution). */
static double logits_lse(const float *l, size_t n)
{
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (l[i] > mx)
            mx = l[i];
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += exp((double)(l[i] - mx));
    return (double)mx + log(s);
}

/* Best token; with no_close, the best one that is not a closing token. */
static int32_t logits_best(const struct agent *a, bool no_close)
{
    int32_t best = -1;
    size_t nv = (size_t)tok_n_vocab(a->tk);
    for (size_t i = 0; i < nv; i++) {
        if (no_close && a->is_close[i])
            continue;
        if (best < 0 || a->logits[i] > a->logits[best])
            best = (int32_t)i;
    }
    return best;
}

/* The most likely token (no_close: that is not a closing token); with the constraint, among
 * the tokens it allows.  *t = -1 when no token is allowed. */
static enum status write_pick(struct agent *a, bool use_cons, bool no_close, int32_t *t)
{
    if (!use_cons) {
        *t = logits_best(a, no_close);
        return STATUS_OK;
    }
    samp_mask_clear(a->wsamp);
    enum status st = a->cons.mask ? a->cons.mask(a->cons.ctx, a->wsamp) : STATUS_OK;
    if (st != STATUS_OK)
        return st;
    if (no_close)
        samp_mask_forbid(a->wsamp, a->close_ids, a->n_close);
    st = samp_sample(a->wsamp, a->logits, t, NULL);
    if (st == STATUS_INVALID) {
        *t = -1;
        st = STATUS_OK;
    }
    return st;
}

/* Greedy decoding of the write call's body with late stopping (agent.h).  The prompt is
 * already in toks.  *out: owned "({MEM_WRITE-->...})" text. */
static enum status write_decode(struct agent *a, char **out)
{
    int32_t *gen = malloc((a->p.write_max_tokens + 1) * sizeof *gen);
    if (!gen)
        return STATUS_NOMEM;
    size_t ng = 0, best_n = 0, n_cands = 0;
    int32_t best_tok = -1;
    double cum = 0, best_score = -INFINITY;
    int32_t eos = tok_eos(a->tk);
    enum status st = STATUS_OK;
    size_t min_cuts = a->p.min_cuts ? a->p.min_cuts : 1;
    bool use_cons = a->has_cons && a->p.constrain;
    if (use_cons && a->cons.begin &&
        a->cons.begin(a->cons.ctx, CALL_KIND_WRITE, CALL_WRITE_PREFIX,
                      strlen(CALL_WRITE_PREFIX)) != STATUS_OK)
        use_cons = false; /* the constraint cannot handle this sentence: decode freely */
    while (ng < a->p.write_max_tokens) {
        if (atomic_load(&a->cancel)) {
            st = STATUS_CANCELLED;
            goto fail;
        }
        st = agent_eval(a);
        if (st == STATUS_CONTEXT_FULL) {
            st = STATUS_OK; /* what fits is all there is: cut from what was generated */
            break;
        }
        if (st != STATUS_OK)
            goto fail;
        double lse = logits_lse(a->logits, a->lm.n_vocab);
        int32_t t;
        if ((st = write_pick(a, use_cons, false, &t)) != STATUS_OK)
            goto fail;
        if (t < 0 || t == eos)
            break;
        if (a->is_close[t]) {
            double score = (cum + (double)a->logits[t] - lse) / (double)(ng + 1);
            if (score > best_score) {
                best_score = score;
                best_n = ng;
                best_tok = t;
            }
            if (++n_cands >= min_cuts)
                break;
            if ((st = write_pick(a, use_cons, true, &t)) != STATUS_OK)
                goto fail;
            if (t < 0 || t == eos)
                break;
        }
        if (use_cons && a->cons.accept && !a->cons.accept(a->cons.ctx, t))
            break;
        cum += (double)a->logits[t] - lse;
        gen[ng++] = t;
        a->tim.n_gen++;
        if ((st = toks_push(a, t)) != STATUS_OK)
            goto fail;
    }
    if (use_cons && a->cons.end)
        a->cons.end(a->cons.ctx);
    use_cons = false;
    size_t n_keep = ng;
    if (best_tok >= 0) {
        n_keep = best_n;
        gen[n_keep++] = best_tok;
    }
    char *text = NULL;
    size_t tl;
    if ((st = tok_decode(a->tk, gen, n_keep, 0, &text, &tl)) != STATUS_OK)
        goto fail;
    if (best_tok >= 0) {
        char *cl = strstr(text, CALL_CLOSE);
        if (cl)
            cl[strlen(CALL_CLOSE)] = '\0';
    }
    struct sbuf b = {0};
    if (!sb_addz(&b, CALL_WRITE_PREFIX) || !sb_addz(&b, text)) {
        free(b.s);
        free(text);
        st = STATUS_NOMEM;
        goto fail;
    }
    free(text);
    free(gen);
    *out = sb_take(&b);
    return STATUS_OK;
fail:
    if (use_cons && a->cons.end)
        a->cons.end(a->cons.ctx);
    free(gen);
    return st;
}

/* Copy s[0..n) with whitespace runs as one space, trimmed. */
static char *collapse_ws(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    bool sp = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            sp = j > 0;
            continue;
        }
        if (sp)
            o[j++] = ' ';
        sp = false;
        o[j++] = c;
    }
    o[j] = '\0';
    return o;
}

static enum status write_sentence(struct agent *a, char **sents, size_t i, size_t n_sents,
                                  const char *file, int64_t run_id,
                                  struct agent_write_stats *ws)
{
    struct sbuf ctx = {0};
    size_t first = i > a->p.context_sents ? i - a->p.context_sents : 0;
    for (size_t j = first; j < i; j++)
        if ((j > first && !sb_addz(&ctx, " ")) || !sb_addz(&ctx, sents[j])) {
            free(ctx.s);
            return STATUS_NOMEM;
        }
    char *prompt = NULL, *raw = NULL;
    struct call *c = NULL;
    struct ctrl_triple_in *tin = NULL;
    struct ctrl_written *wr = NULL;
    enum status st = agent_template_fill(
        a->p.template_write ? a->p.template_write : AGENT_DEFAULT_WRITE, NULL,
        ctx.s ? ctx.s : "", sents[i], &prompt);
    if (st != STATUS_OK) {
        free(ctx.s);
        return st;
    }
    struct sbuf pb = {0};
    if (!sb_addz(&pb, prompt) || !sb_addz(&pb, CALL_WRITE_PREFIX)) {
        st = STATUS_NOMEM;
        free(pb.s);
        goto out;
    }
    st = toks_set_prompt(a, pb.s, pb.n);
    free(pb.s);
    if (st != STATUS_OK)
        goto out;
    /* names may come from the sentence or its context ("What is the capital of X? It is
     * or they are "Y"" names X in the context) */
    if (a->has_cons && a->p.constrain && a->cons.source) {
        if ((ctx.n && !sb_addz(&ctx, " ")) || !sb_addz(&ctx, sents[i])) {
            st = STATUS_NOMEM;
            goto out;
        }
        if ((st = a->cons.source(a->cons.ctx, ctx.s, ctx.n)) != STATUS_OK)
            goto out;
    }
    if ((st = write_decode(a, &raw)) != STATUS_OK)
        goto out;
    ws->sentences++;
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_WRITE;
    ev.sentence = sents[i];
    ev.sentence_no = i + 1;
    ev.n_sentences = n_sents;
    ev.call_no = i + 1;
    ev.raw = raw;
    enum status pst = call_parse_write(raw, strlen(raw), &c);
    if (pst == STATUS_NOMEM) {
        st = pst;
        goto out;
    }
    if (pst != STATUS_OK) {
        ev.status = pst;
        ws->rejected++;
        emit(a, &ev);
        goto out;
    }
    ws->calls_ok++;
    ws->rejected += c->n_errors;
    if (c->n_triples) {
        tin = malloc(c->n_triples * sizeof *tin);
        wr = malloc(c->n_triples * sizeof *wr);
        if (!tin || !wr) {
            st = STATUS_NOMEM;
            goto out;
        }
        for (size_t t = 0; t < c->n_triples; t++) {
            tin[t].subj = c->triples[t].subj;
            tin[t].rel = c->triples[t].rel;
            tin[t].obj = c->triples[t].obj;
        }
    }
    ev.triples = tin;
    ev.n_triples = c->n_triples;
    ev.rejected = c->errors;
    ev.n_rejected = c->n_errors;
    ws->triples += c->n_triples;
    if (!a->p.dry_run && a->ctrl && c->n_triples) {
        struct mem_source src = {0};
        char *text8 = utf8_lossy(sents[i]), *file8 = utf8_lossy(file); /* store: UTF-8 */
        src.kind = MEM_SOURCE_KIND_SENTENCE;
        src.text = text8;
        src.file = file8;
        src.run_id = run_id;
        ev.status = text8 && (file8 || !file) ? ctrl_write(a->ctrl, tin, c->n_triples, &src, wr)
                                              : STATUS_NOMEM;
        free(text8);
        free(file8);
        if (ev.status == STATUS_OK) {
            ev.written = wr;
            for (size_t t = 0; t < c->n_triples; t++) {
                if (wr[t].outcome == MEM_OUTCOME_NEW)
                    ws->n_new++;
                else if (wr[t].outcome == MEM_OUTCOME_KNOWN)
                    ws->n_known++;
                else
                    ws->n_conflict++;
            }
        } else {
            emit_error(a, ev.status, _("storing triples"));
        }
    }
    if (run_id) {
        struct sbuf r = {0};
        for (size_t t = 0; ev.written && t < c->n_triples; t++) {
            char num[32];
            snprintf(num, sizeof num, "%s%lld", t ? ";" : "", (long long)wr[t].triple_id);
            sb_addz(&r, num);
        }
        char *raw8 = utf8_lossy(raw);
        enum status rs = raw8 ? mem_run_add_call(ctrl_mem(a->ctrl), run_id, (int64_t)(i + 1),
                                                 MEM_CALL_KIND_WRITE, raw8, r.s)
                              : STATUS_NOMEM;
        free(raw8);
        free(r.s);
        if (rs != STATUS_OK)
            emit_error(a, rs, _("recording the run"));
    }
    emit(a, &ev);
out:
    free(tin);
    free(ctx.s);
    free(wr);
    call_free(c);
    free(raw);
    free(prompt);
    return st;
}

enum status agent_write_text(struct agent *a, const char *text, size_t len, const char *file,
                             const char *title, struct agent_write_stats *stats)
{
    if (!a || (!text && len))
        return STATUS_INVALID;
    if (atomic_load(&a->th_running))
        return STATUS_INVALID;
    atomic_store(&a->cancel, 0);
    memset(&a->tim, 0, sizeof a->tim);
    uint64_t t_start = timing_now_ns();
    struct agent_write_stats ws = {0};
    struct split_span *sp = NULL;
    size_t n = 0;
    char **sents = NULL;
    int64_t run_id = 0;
    char *settings = NULL;
    enum status st = split_sentences(text, len, &sp, &n);
    if (st != STATUS_OK)
        goto done;
    if (n && !(sents = calloc(n, sizeof *sents))) {
        st = STATUS_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!(sents[i] = collapse_ws(text + sp[i].off, sp[i].len))) {
            st = STATUS_NOMEM;
            goto done;
        }
    if (a->p.record && a->ctrl && !a->p.dry_run) {
        struct sbuf pr = {0};
        sb_addz(&pr, "write: ");
        sb_addz(&pr, title ? title : file ? file : "-");
        settings = settings_json(a);
        char *pr8 = utf8_lossy(pr.s), *model8 = utf8_lossy(a->p.model_name);
        enum status rs = pr8 && (model8 || !a->p.model_name)
                             ? mem_run_create(ctrl_mem(a->ctrl), pr8, model8, settings, &run_id)
                             : STATUS_NOMEM;
        free(pr8);
        free(model8);
        free(pr.s);
        if (rs != STATUS_OK) {
            emit_error(a, rs, _("recording the run"));
            run_id = 0;
        }
    }
    for (size_t i = 0; i < n && st == STATUS_OK; i++)
        st = write_sentence(a, sents, i, n, file, run_id, &ws);
    if (run_id) {
        char summary[128];
        snprintf(summary, sizeof summary, "%zu sentences, %zu triples", ws.sentences,
                 ws.triples);
        mem_run_finish(ctrl_mem(a->ctrl), run_id, summary);
    }
done:
    if (st != STATUS_OK && st != STATUS_CANCELLED)
        emit_error(a, st, _("write mode"));
    a->tim.t_total = timing_since_s(t_start);
    struct agent_event ev = {0};
    ev.kind = AGENT_EVENT_DONE;
    ev.stop = st == STATUS_OK ? "end" : st == STATUS_CANCELLED ? "cancelled" : "error";
    ev.timing = &a->tim;
    ev.run_id = run_id;
    ev.status = st;
    emit(a, &ev);
    for (size_t i = 0; sents && i < n; i++)
        free(sents[i]);
    free(sents);
    free(sp);
    free(settings);
    if (stats)
        *stats = ws;
    return st;
}

/* ---- audit ----------------------------------------------------------------------------- */

static int audit_newest(void *ctx, const struct mem_run *run)
{
    *(int64_t *)ctx = run->id;
    return 1;
}

/* The spans of the answer that follow each complete read call in output. */
struct audit_span {
    size_t call_b, call_e, next;
};

static size_t audit_spans(const char *out, struct audit_span *sp, size_t max)
{
    size_t n = 0, pos = 0, len = strlen(out);
    while (pos < len && n < max) {
        size_t b, e;
        enum call_kind kd = CALL_KIND_UNKNOWN;
        enum call_state cs = call_find(out + pos, len - pos, &b, &e, &kd);
        if (cs == CALL_STATE_NONE || cs == CALL_STATE_PREFIX || cs == CALL_STATE_OPEN)
            break;
        if (cs == CALL_STATE_ABANDONED || cs == CALL_STATE_READ_PENDING) {
            pos += e > b ? e : b + 1;
            continue;
        }
        sp[n].call_b = pos + b;
        sp[n].call_e = pos + e;
        sp[n].next = len;
        if (n > 0)
            sp[n - 1].next = pos + b;
        n++;
        pos += e;
    }
    return n;
}

static void audit_put(FILE *f, const char *s, size_t n);

/* A name, or "?" when missing. */
static void audit_name(FILE *f, const char *s)
{
    if (!s)
        s = "?";
    audit_put(f, s, strlen(s));
}

static void audit_put(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02X", c);
        else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] < 0xA0)
            fprintf(f, "\\u%04X", (unsigned char)s[++i]); /* C1 control U+0080..U+009F */
        else
            fputc(c, f);
    }
}

enum status agent_audit(struct mem *m, int64_t run_id, bool json, FILE *f)
{
    enum status st;
    if (run_id == 0) {
        if ((st = mem_run_list(m, 0, 1, audit_newest, &run_id)) != STATUS_OK)
            return st;
        if (run_id == 0)
            return status_detail_set(STATUS_NOT_FOUND, _("no runs recorded"));
    }
    struct mem_run *run = NULL;
    if ((st = mem_run_get(m, run_id, &run)) != STATUS_OK) {
        if (st == STATUS_NOT_FOUND)
            status_detail_set(st, _("run %lld"), (long long)run_id);
        return st;
    }
    const char *output = run->output ? run->output : "";
    struct audit_span spans[64];
    size_t n_spans = audit_spans(output, spans, 64);
    if (json) {
        fprintf(f, "{\"run\":%lld,\"prompt\":", (long long)run->id);
        json_z(f, run->prompt);
        fputs(",\"output\":", f);
        json_z(f, run->output);
        fputs(",\"model\":", f);
        json_z(f, run->model);
        fputs(",\"settings\":", f);
        json_z(f, run->settings);
        fprintf(f, ",\"created_at\":%lld,\"finished_at\":%lld,\"calls\":[",
                (long long)run->created_at, (long long)run->finished_at);
    } else {
        fprintf(f, _("run %lld"), (long long)run->id);
        if (run->model) {
            fprintf(f, " (%s ", _("model"));
            audit_name(f, run->model);
            fputc(')', f);
        }
        fputc('\n', f);
        fprintf(f, "%s ", _("prompt:"));
        audit_put(f, run->prompt ? run->prompt : "", run->prompt ? strlen(run->prompt) : 0);
        fprintf(f, "\n%s ", _("output:"));
        audit_put(f, output, strlen(output));
        fputc('\n', f);
    }
    size_t read_no = 0;
    for (size_t c = 0; c < run->n_calls; c++) {
        const struct mem_run_call *rc = &run->calls[c];
        const struct audit_span *sp = NULL;
        if (rc->kind == MEM_CALL_KIND_READ && rc->result && read_no < n_spans)
            sp = &spans[read_no++];
        if (json) {
            fprintf(f, "%s{\"call\":%lld,\"kind\":\"%s\",\"raw\":", c ? "," : "",
                    (long long)rc->call_no, rc->kind == MEM_CALL_KIND_READ ? "read" : "write");
            json_z(f, rc->raw);
            fputs(",\"result\":", f);
            json_z(f, rc->result);
            fputs(",\"span\":", f);
            if (sp)
                json_write_str(f, output + sp->call_e, sp->next - sp->call_e);
            else
                fputs("null", f);
            fputs(",\"reads\":[", f);
        } else {
            fprintf(f, "\n%s %lld: ", _("call"), (long long)rc->call_no);
            audit_put(f, rc->raw ? rc->raw : "", rc->raw ? strlen(rc->raw) : 0);
            fprintf(f, "\n  %s ", _("result:"));
            audit_put(f, rc->result ? rc->result : "-", strlen(rc->result ? rc->result : "-"));
            fputc('\n', f);
        }
        bool first = true;
        for (size_t r = 0; r < run->n_reads; r++) {
            const struct mem_run_read *rd = &run->reads[r];
            if (rd->call_no != rc->call_no)
                continue;
            const struct mem_triple *t = &rd->triple;
            const struct mem_source *s = &rd->source;
            if (json) {
                fprintf(f, "%s{\"query\":", first ? "" : ",");
                json_z(f, rd->query);
                fprintf(f, ",\"score\":%.6g,\"triple\":{\"id\":%lld,\"subject\":", rd->score,
                        (long long)t->id);
                json_z(f, t->subj_name);
                fputs(",\"relation\":", f);
                json_z(f, t->rel_name);
                fputs(",\"object\":", f);
                json_z(f, t->obj_name);
                fprintf(f, ",\"retired\":%s},\"source\":", t->retired_at ? "true" : "false");
                if (s->id) {
                    fprintf(f, "{\"id\":%lld,\"kind\":\"%s\",\"text\":", (long long)s->id,
                            mem_source_kind_name(s->kind));
                    json_z(f, s->text);
                    fputs(",\"file\":", f);
                    json_z(f, s->file);
                    fputc('}', f);
                } else {
                    fputs("null", f);
                }
                fputc('}', f);
            } else {
                fprintf(f, "  %s %lld: ", _("triple"), (long long)t->id);
                audit_name(f, t->subj_name);
                fputs(" | ", f);
                audit_name(f, t->rel_name);
                fputs(" | ", f);
                audit_name(f, t->obj_name);
                fprintf(f, "  (%s %.4f, %s ", _("score"), rd->score, _("query"));
                audit_put(f, rd->query ? rd->query : "", rd->query ? strlen(rd->query) : 0);
                fprintf(f, ")%s\n", t->retired_at ? _(" [retired]") : "");
                if (s->id) {
                    fprintf(f, "    %s %s: ", _("source"), mem_source_kind_name(s->kind));
                    audit_put(f, s->text ? s->text : "", s->text ? strlen(s->text) : 0);
                    if (s->file) {
                        fputs(" (", f);
                        audit_name(f, s->file);
                        fputc(')', f);
                    }
                    fputc('\n', f);
                } else {
                    fprintf(f, "    %s\n", _("source: none recorded"));
                }
            }
            first = false;
        }
        if (json) {
            fputs("]}", f);
        } else if (sp) {
            fprintf(f, "  %s ", _("followed by:"));
            audit_put(f, output + sp->call_e, sp->next - sp->call_e);
            fputc('\n', f);
        }
    }
    if (json)
        fputs("]}\n", f);
    mem_run_free(run);
    return STATUS_OK;
}

/* ---- memory names for the constraint ------------------------------------------------------ */

/* Words that never start an entity name worth looking up (lower case). */
static const char *const names_stop[] = {
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for",
    "from", "had", "has", "have", "he", "her", "his", "how", "in", "is", "it", "its", "of",
    "on", "or", "she", "that", "the", "their", "they", "this", "to", "was", "were", "what",
    "when", "where", "which", "who", "whom", "whose", "why", "with",
};

struct names_acc {
    char **names;
    size_t n, bytes, max_names, max_bytes, per_query, got;
    const char *prefix;
    size_t plen;
    bool nomem;
};

static bool names_word_byte(unsigned char b)
{
    return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') ||
           (b >= 'A' && b <= 'Z') || b == '-' || b == '\'' || b == '.' || b == '&';
}

static int names_collect(void *ctx, const struct mem_named *row)
{
    struct names_acc *acc = ctx;
    unsigned char next = (unsigned char)row->name[acc->plen];
    /* the prefix must end on a word boundary of the name ("Paris" not "Parisian") */
    if (next >= 0x80 || (next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') ||
        (next >= 'A' && next <= 'Z'))
        return 0;
    for (size_t i = 0; i < acc->n; i++)
        if (strcmp(acc->names[i], row->name) == 0)
            return 0;
    size_t l = strlen(row->name);
    if (acc->n == acc->max_names || acc->bytes + l > acc->max_bytes)
        return 1;
    char *d = strdup(row->name);
    if (!d) {
        acc->nomem = true;
        return 1;
    }
    acc->names[acc->n++] = d;
    acc->bytes += l;
    return ++acc->got >= acc->per_query;
}

static enum status names_query(struct mem *m, struct names_acc *acc, const char *prefix,
                               size_t plen)
{
    if (acc->n == acc->max_names || acc->bytes >= acc->max_bytes)
        return STATUS_OK;
    if (!utf8_valid(prefix, plen))
        return STATUS_OK; /* names are UTF-8: none starts with these bytes */
    char *p = strndup(prefix, plen);
    if (!p)
        return STATUS_NOMEM;
    acc->got = 0;
    acc->plen = plen;
    /* a few more rows than wanted: some fail the word-boundary test */
    enum status st = mem_entity_prefix(m, p, NULL, acc->per_query * 4, names_collect, acc);
    free(p);
    if (st == STATUS_OK && acc->nomem)
        st = STATUS_NOMEM;
    return st;
}

void agent_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

enum status agent_memory_names(struct mem *m, const char *text, size_t len, size_t max_names,
                               size_t max_bytes, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (!m || !text || !max_names || !max_bytes)
        return STATUS_OK;
    struct names_acc acc = {0};
    acc.max_names = max_names;
    acc.max_bytes = max_bytes;
    acc.per_query = AGENT_NAMES_PER_WORD;
    if (!(acc.names = calloc(max_names, sizeof *acc.names)))
        return STATUS_NOMEM;
    /* words: runs of letters, digits and - ' . & (a trailing '.' or '\'' is cut) */
    size_t ws[64], wl[64], nw = 0;
    for (size_t i = 0; i < len && nw < 64;) {
        while (i < len && !names_word_byte((unsigned char)text[i]))
            i++;
        size_t s = i;
        while (i < len && names_word_byte((unsigned char)text[i]))
            i++;
        size_t e = i;
        while (e > s && (text[e - 1] == '.' || text[e - 1] == '\'' || text[e - 1] == '-'))
            e--;
        if (e > s) {
            ws[nw] = s;
            wl[nw++] = e - s;
        }
    }
    enum status st = STATUS_OK;
    char buf[256];
    for (size_t w = 0; w < nw && st == STATUS_OK; w++) {
        const char *word = text + ws[w];
        size_t l = wl[w];
        if (l >= 128)
            continue;
        bool stop = false;
        for (size_t k = 0; k < sizeof names_stop / sizeof names_stop[0] && !stop; k++)
            stop = strlen(names_stop[k]) == l && strncasecmp(names_stop[k], word, l) == 0;
        if (stop || (l < 2 && !(word[0] >= '0' && word[0] <= '9')))
            continue;
        /* two-word prefix first (it names the entity more precisely), then the word; a
         * lower-case word is also tried capitalized ("paris" -> "Paris") */
        for (int cap = 0; cap < 2 && st == STATUS_OK; cap++) {
            if (cap && !(word[0] >= 'a' && word[0] <= 'z'))
                break;
            memcpy(buf, word, l);
            if (cap)
                buf[0] = (char)(buf[0] - 'a' + 'A');
            size_t bl = l;
            if (w + 1 < nw && wl[w + 1] < 100) {
                buf[bl] = ' ';
                memcpy(buf + bl + 1, text + ws[w + 1], wl[w + 1]);
                st = names_query(m, &acc, buf, bl + 1 + wl[w + 1]);
            }
            if (st == STATUS_OK)
                st = names_query(m, &acc, buf, bl);
        }
    }
    if (st != STATUS_OK) {
        agent_names_free(acc.names, acc.n);
        return st;
    }
    *names = acc.names;
    *n = acc.n;
    return STATUS_OK;
}

/* ---- chat history ------------------------------------------------------------------------- */

struct agent_history {
    enum agent_history_format f;
    char **turns; /* formatted turn texts, oldest first */
    size_t n, cap;
};

enum status agent_history_new(enum agent_history_format f, struct agent_history **out)
{
    if ((unsigned)f > AGENT_HISTORY_CHATML) /* it indexes the turn markers */
        return status_detail_set(STATUS_INVALID, "agent_history_new: format %d", (int)f);
    struct agent_history *h = calloc(1, sizeof *h);
    if (!h)
        return STATUS_NOMEM;
    h->f = f;
    *out = h;
    return STATUS_OK;
}

void agent_history_clear(struct agent_history *h)
{
    for (size_t i = 0; h && i < h->n; i++)
        free(h->turns[i]);
    if (h)
        h->n = 0;
}

void agent_history_free(struct agent_history *h)
{
    if (!h)
        return;
    agent_history_clear(h);
    free(h->turns);
    free(h);
}

size_t agent_history_count(const struct agent_history *h)
{
    return h ? h->n : 0;
}

/* Append answer a without its "({" .. "})" spans (an unclosed "({" cuts the rest),
 * trimmed of surrounding whitespace. */
static bool hist_strip(struct sbuf *b, const char *a)
{
    struct sbuf t = {0};
    bool ok = sb_add(&t, "", 0);
    while (ok && *a) {
        const char *o = strstr(a, CALL_OPEN);
        if (!o) {
            ok = sb_addz(&t, a);
            break;
        }
        ok = sb_add(&t, a, (size_t)(o - a));
        const char *c = strstr(o + strlen(CALL_OPEN), CALL_CLOSE);
        if (!c)
            break;
        a = c + strlen(CALL_CLOSE);
    }
    if (ok) {
        size_t s0 = 0, e = t.n;
        while (s0 < e && (t.s[s0] == ' ' || t.s[s0] == '\n' || t.s[s0] == '\t'))
            s0++;
        while (e > s0 && (t.s[e - 1] == ' ' || t.s[e - 1] == '\n' || t.s[e - 1] == '\t'))
            e--;
        ok = sb_add(b, t.s + s0, e - s0);
    }
    free(t.s);
    return ok;
}

enum status agent_history_add(struct agent_history *h, const char *question,
                              const char *answer)
{
    if (!h || !question)
        return status_detail_set(STATUS_INVALID, "agent_history_add: question");
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        char **nt = realloc(h->turns, cap * sizeof *nt);
        if (!nt)
            return STATUS_NOMEM;
        h->turns = nt;
        h->cap = cap;
    }
    static const char *const mid[] = {"\n", " [/INST] ",
                                      "<|im_end|>\n<|im_start|>assistant\n"};
    static const char *const tail[] = {"\n\n", "</s>[INST] ",
                                       "<|im_end|>\n<|im_start|>user\n"};
    struct sbuf b = {0};
    if (!sb_addz(&b, question) || !sb_addz(&b, mid[h->f]) ||
        !hist_strip(&b, answer ? answer : "") || !sb_addz(&b, tail[h->f])) {
        free(b.s);
        return STATUS_NOMEM;
    }
    h->turns[h->n++] = sb_take(&b);
    return STATUS_OK;
}

static size_t hist_tokens(struct tok *tk, const char *s)
{
    size_t len = strlen(s);
    if (!tk)
        return len;
    size_t cap = tok_encode_bound(len) + 2, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids || tok_encode(tk, s, len, TOK_ENCODE_PARSE_SPECIAL, ids, cap, &n) != STATUS_OK)
        n = len; /* an upper bound of sorts: keeps the budget honest */
    free(ids);
    return n;
}

enum status agent_history_prompt(const struct agent_history *h, struct tok *tk,
                                 const char *question, size_t max_tokens, char **out,
                                 size_t *n_kept)
{
    if (!question)
        return status_detail_set(STATUS_INVALID, "agent_history_prompt: question");
    size_t first = h ? h->n : 0, used = 0;
    while (first > 0) {
        size_t t = hist_tokens(tk, h->turns[first - 1]);
        if (used + t > max_tokens)
            break;
        used += t;
        first--;
    }
    struct sbuf b = {0};
    bool ok = sb_add(&b, "", 0);
    for (size_t i = first; ok && h && i < h->n; i++)
        ok = sb_addz(&b, h->turns[i]);
    if (!ok || !sb_addz(&b, question)) {
        free(b.s);
        return STATUS_NOMEM;
    }
    *out = sb_take(&b);
    if (n_kept)
        *n_kept = (h ? h->n : 0) - first;
    return STATUS_OK;
}
