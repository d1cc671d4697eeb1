/* bench.h -- engine benchmarking: random-weight models, a memory-bandwidth probe, and
 * llama-bench-style prompt (pp) and generation (tg) speed runs over model_eval().
 *
 * Decode reads every weight once per token, so generation can never run faster than
 * (memory bandwidth) / (bytes of weights read per token).  bench_bandwidth() measures the
 * first with a STREAM-like read kernel over a buffer much larger than the caches, on the
 * same number of threads as the model; bench_weight_bytes() gives the second from the
 * file's tensor index. */
#ifndef MEMLLM_BENCH_H
#define MEMLLM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "util/status.h"

struct gguf;
struct model;

/* ---- Random-weight model ------------------------------------------------------------- */

/* Shape of a Mistral-architecture (GGUF arch "llama") model; bench_shape_init() gives the
 * 852.56 M-parameter model of shared/golden/PERF.md: dim 2048, 16 layers, 32 heads, 8 KV
 * heads, ffn 5632, vocab 32000, context 4096, F16 weights, untied output. */
struct bench_shape {
    uint32_t dim, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    enum dtype wtype; /* 2-D weights: DTYPE_F16 or DTYPE_F32 (norms are always F32) */
    uint64_t seed;    /* weights are a function of the seed and the shape */
};

void bench_shape_init(struct bench_shape *s);

/* Parameters (values) the model of shape s holds: all weights, norms included. */
uint64_t bench_shape_n_params(const struct bench_shape *s);

/* Write a model of shape s with random weights (uniform, scaled so that activations stay
 * finite) and a SentencePiece vocabulary (<unk>, <s>, </s>, the 256 byte tokens, "▁", the
 * printable ASCII characters, then distinct dummy pieces) to path, atomically.  The writer holds every tensor until the
 * write: peak memory is about the file's size.  STATUS_INVALID for a shape that cannot
 * work (zero sizes, dim not a multiple of n_head, n_head not a multiple of n_head_kv, odd
 * head size, vocab under 259 tokens or over 2^24, wtype not F16/F32), STATUS_NOMEM,
 * STATUS_IO (detail names the file). */
enum status bench_make_model(const struct bench_shape *s, const char *path);

/* ---- Bandwidth ---------------------------------------------------------------------- */

/* Read bandwidth in bytes per second: n_threads threads (0 = one per online core) sum
 * their parts of a buffer of `bytes` (rounded up to 1 MiB; at least 1 MiB), `passes`
 * times (at least 1); the best pass counts, as in STREAM.  The buffer is written once
 * first so that every page exists.  cpu_share (may be NULL) receives the best pass's CPU
 * time over (wall time x threads), as in struct bench_series.  STATUS_NOMEM,
 * STATUS_INVALID (bytes 0). */
enum status bench_bandwidth(int n_threads, size_t bytes, int passes, double *out,
                            double *cpu_share);

/* CPU time this process has used, in seconds (all threads). */
double bench_cpu_seconds(void);

/* Bytes of weights one decode step reads: every tensor, except that token_embd.weight
 * contributes one row when the model has an output.weight of its own (a tied embedding
 * is the output head and is read whole).  0 when the file has no tensors. */
uint64_t bench_weight_bytes(const struct gguf *g);

/* ---- Speed runs --------------------------------------------------------------------- */

#define BENCH_MAX_REPS 100

struct bench_params {
    size_t n_prompt; /* pp: one batch of n_prompt tokens at position 0; 0 = skip */
    size_t n_gen;    /* tg: n_gen single-token steps from an empty cache; 0 = skip */
    int reps;        /* repetitions, 1 .. BENCH_MAX_REPS */
    uint64_t seed;   /* the random token ids */
};

/* Per-test results: tokens per second of each repetition, and their mean and sample
 * standard deviation (0 for one repetition).  cpu_share: the process's CPU time (all its
 * threads, a library's too) over (wall time x threads) summed over the repetitions; well
 * below 1 means other processes took the cores (a shared machine) or the threads waited,
 * and the speed may understate the engine. */
struct bench_series {
    size_t n;
    double ts[BENCH_MAX_REPS];
    double mean, stdev;
    double cpu_share;
};

struct bench_result {
    struct bench_series pp, tg;
};

/* Mean and sample standard deviation of v[0..n) (0, 0 for n 0; stdev 0 for n 1). */
void bench_stats(const double *v, size_t n, double *mean, double *stdev);

/* Run the tests on m: first a warm-up (one token, which also pages the weights in), then
 * for each repetition a pp pass (cache reset, n_prompt random tokens in one model_eval,
 * logits of the last) and a tg pass (cache reset, n_gen model_eval calls of one token).
 * Token ids are random in [0, n_vocab), drawn from seed.  The cache is reset at the end.
 * STATUS_INVALID for reps out of range or n_prompt / n_gen over model_n_ctx(); any
 * model_eval() failure is returned as is. */
enum status bench_model_run(struct model *m, const struct bench_params *p,
                            struct bench_result *out);

#endif /* MEMLLM_BENCH_H */
