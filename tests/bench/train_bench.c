/* train_bench.c -- training throughput (tokens/s, GFLOP/s as 6N + attention) of one model
 * shape on random tokens: vocab 8192, batch 8 x 256, as in shared/golden/PERF.md.
 * Usage: train_bench DIM LAYERS HEADS KV_HEADS FFN [STEPS [THREADS [BATCH [SEQ]]]]
 * LoRA: set TRAIN_BENCH_LORA=TYPE:RANK[:DROPOUT] (TYPE Q8_0, Q4_K, F32, ...; dropout 0.05
 * unless given): the random model is
 * stored as TYPE (norms F32) and kept frozen and quantized, rank-RANK adapters on all
 * eight targets are trained, and GFLOP/s counts 4N + attention (no weight gradients). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/train.h"
#include "util/timing.h"

/* CPU seconds of the whole process (all threads): the machine is shared, so wall time
 * alone says little about the code */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s DIM LAYERS HEADS KV_HEADS FFN [STEPS [THREADS [BATCH [SEQ]]]]\n",
                argv[0]);
        return 1;
    }
    struct train_config c;
    train_config_init(&c);
    c.dim = (size_t)atol(argv[1]);
    c.n_layer = (size_t)atol(argv[2]);
    c.n_head = (size_t)atol(argv[3]);
    c.n_head_kv = (size_t)atol(argv[4]);
    c.n_ff = (size_t)atol(argv[5]);
    int steps = argc > 6 ? atoi(argv[6]) : 3;
    int threads = argc > 7 ? atoi(argv[7]) : 0;
    size_t B = argc > 8 ? (size_t)atol(argv[8]) : 8;
    size_t T = argc > 9 ? (size_t)atol(argv[9]) : 256;
    c.n_vocab = 8192;
    c.n_ctx = T;
    struct train_model *m;
    if (train_model_new(&c, 1, &m) != STATUS_OK || train_model_set_threads(m, threads) != STATUS_OK)
        return 1;
    const char *lora_env = getenv("TRAIN_BENCH_LORA");
    struct train_lora *lora = NULL;
    struct gguf *g = NULL;
    void *gbuf = NULL, **blobs = NULL;
    if (lora_env) {
        char tname[16] = "";
        unsigned rank = 16;
        float dropout = 0.05f;
        if (sscanf(lora_env, "%15[^:]:%u:%f", tname, &rank, &dropout) < 1)
            return 1;
        int tyi = dtype_from_name(tname);
        enum dtype ty = (enum dtype)tyi;
        if (tyi < 0) {
            fprintf(stderr, "unknown type %s\n", tname);
            return 1;
        }
        quant_init();
        struct gguf_writer *w;
        void *f32buf;
        size_t size;
        struct gguf *gf;
        if (gguf_writer_new(&w) != STATUS_OK || train_add_to_writer(m, w, false) != STATUS_OK ||
            gguf_writer_to_buffer(w, &f32buf, &size) != STATUS_OK)
            return 1;
        gguf_writer_free(w);
        if (gguf_open_buffer(f32buf, size, &gf) != STATUS_OK || gguf_writer_new(&w) != STATUS_OK ||
            gguf_writer_copy_kv(w, gf, NULL) != STATUS_OK)
            return 1;
        int64_t nt = gguf_n_tensors(gf);
        blobs = calloc((size_t)nt, sizeof *blobs);
        for (int64_t i = 0; i < nt; i++) {
            uint64_t dims[2] = {gguf_tensor_dim(gf, i, 0), gguf_tensor_dim(gf, i, 1)};
            size_t rb;
            bool q = gguf_tensor_n_dims(gf, i) == 2 && dtype_row_bytes(ty, dims[0], &rb) == STATUS_OK;
            if (!q) {
                if (gguf_writer_add_tensor(w, gguf_tensor_name(gf, i), DTYPE_F32,
                                           gguf_tensor_n_dims(gf, i), dims, gguf_tensor_data(gf, i),
                                           gguf_tensor_size(gf, i)) != STATUS_OK)
                    return 1;
                continue;
            }
            unsigned char *qb = malloc(rb * dims[1]);
            blobs[i] = qb;
            const float *src = gguf_tensor_data(gf, i);
            for (uint64_t r = 0; r < dims[1]; r++)
                quant_quantize_row(ty, src + r * dims[0], qb + r * rb, dims[0]);
            if (gguf_writer_add_tensor(w, gguf_tensor_name(gf, i), ty, 2, dims, qb,
                                       rb * dims[1]) != STATUS_OK)
                return 1;
        }
        if (gguf_writer_to_buffer(w, &gbuf, &size) != STATUS_OK ||
            gguf_open_buffer(gbuf, size, &g) != STATUS_OK)
            return 1;
        gguf_writer_free(w);
        for (int64_t i = 0; i < nt; i++)
            free(blobs[i]);
        free(blobs);
        gguf_close(gf);
        free(f32buf);
        train_model_free(m);
        struct train_lora_params lp;
        train_lora_params_init(&lp);
        lp.rank = rank;
        lp.dropout = dropout;
        lp.targets = 0xFFFu & ~(1u << TRAIN_TENSOR_TOK_EMBD | 1u << TRAIN_TENSOR_ATTN_NORM |
                                1u << TRAIN_TENSOR_FFN_NORM | 1u << TRAIN_TENSOR_OUTPUT_NORM);
        if (train_model_from_gguf_quant(g, T, &m) != STATUS_OK ||
            train_model_set_threads(m, threads) != STATUS_OK ||
            train_lora_new(m, &lp, &lora) != STATUS_OK)
            return 1;
        fprintf(stderr, "LoRA rank %u (dropout %g) on a %s base: %zu trainable parameters, "
                "base %.1f MiB\n", rank, (double)dropout, tname, train_lora_n_params(lora),
                (double)size / (1 << 20));
    }
    size_t n = B * T;
    int32_t *tok = malloc(n * sizeof *tok), *tg = malloc(n * sizeof *tg),
            *pos = malloc(n * sizeof *pos);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((s >> 33) % c.n_vocab);
        pos[i] = (int32_t)(i % T);
    }
    for (size_t i = 0; i < n; i++)
        tg[i] = i % T + 1 < T ? tok[i + 1] : -1;
    struct train_batch b = {B, T, tok, tg, pos};
    struct train_opt_params p;
    train_opt_params_init(&p);
    double N = (double)train_model_n_params_nonembd(m);
    double flop_tok = (lora ? 4.0 : 6.0) * N + 12.0 * (double)c.n_layer * (double)c.dim * (double)T;
    double best = 1e30, total = 0, cpu = 0;
    for (int i = 0; i <= steps; i++) { /* step 0 warms up (allocation) */
        uint64_t t0 = timing_now_ns();
        double c0 = cpu_s();
        double loss;
        size_t cnt;
        if (lora) {
            train_lora_zero_grad(lora);
            train_lora_set_training(lora, true, (uint64_t)i);
        } else {
            train_zero_grad(m);
        }
        if (train_backward(m, &b, 1.0f / (float)(n - B), &loss, &cnt) != STATUS_OK)
            return 1;
        if (lora)
            train_lora_opt_step(lora, &p, NULL);
        else
            train_opt_step(m, &p, NULL);
        double dt = (double)(timing_now_ns() - t0) * 1e-9;
        if (i > 0) {
            cpu += cpu_s() - c0;
            total += dt;
            best = dt < best ? dt : best;
        }
        fprintf(stderr, "step %d: %.3f s, loss %.4f\n", i, dt, loss / (double)cnt);
    }
    double avg = total / steps;
    printf("dim %zu layers %zu heads %zu/%zu ffn %zu: N %.2f M, %zu x %zu tokens/step, "
           "mean %.3f s/step: %.0f tok/s, %.1f GFLOP/s (best step %.0f tok/s, %.1f GFLOP/s)\n",
           c.dim, c.n_layer, c.n_head, c.n_head_kv, c.n_ff, N * 1e-6, B, T, avg, (double)n / avg,
           (double)n / avg * flop_tok * 1e-9, (double)n / best, (double)n / best * flop_tok * 1e-9);
    printf("  CPU time %.3f s/step (all threads): %.1f GFLOP per CPU-second\n", cpu / steps,
           (double)n * flop_tok * 1e-9 / (cpu / steps));
    train_lora_free(lora);
    train_model_free(m);
    gguf_close(g);
    free(gbuf);
    free(tok);
    free(tg);
    free(pos);
    return 0;
}
