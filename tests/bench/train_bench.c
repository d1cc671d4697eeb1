/* train_bench.c -- training throughput (tokens/s, GFLOP/s as 6N + attention) of one model
 * shape on random tokens: vocab 8192, batch 8 x 256, as in shared/golden/PERF.md.
 * Usage: train_bench DIM LAYERS HEADS KV_HEADS FFN [STEPS [THREADS [BATCH [SEQ]]]] */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
    double flop_tok = 6.0 * N + 12.0 * (double)c.n_layer * (double)c.dim * (double)T;
    double best = 1e30, total = 0, cpu = 0;
    for (int i = 0; i <= steps; i++) { /* step 0 warms up (allocation) */
        uint64_t t0 = timing_now_ns();
        double c0 = cpu_s();
        double loss;
        size_t cnt;
        train_zero_grad(m);
        if (train_backward(m, &b, 1.0f / (float)(n - B), &loss, &cnt) != STATUS_OK)
            return 1;
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
    train_model_free(m);
    free(tok);
    free(tg);
    free(pos);
    return 0;
}
