/* sim_bench.c -- measures the default embedder's throughput and sim's top-k latency against
 * the time to read the same matrix once (a STREAM-like read in the same run).  Not a test.
 *
 * usage: sim_bench [--sizes N,N,...] [--dim D] [--queries Q] [--batch B] [--threads T]
 * Defaults: sizes 10000,100000,1000000, dim 512 (the default embedder's), 20 queries,
 * batch 16, 1 BLAS thread.  The matrix holds default-embedder vectors of synthetic names
 * ("Name Word 123"), so scores are distributed as for real entity names. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "memory/embed.h"
#include "memory/sim.h"
#include "util/timing.h"

static uint64_t rng = 0x2545F4914F6CDD1Du;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * UINT64_C(2685821657736338717);
}

/* A pronounceable random word of 3..9 letters, capitalized. */
static size_t make_word(char *out)
{
    static const char cons[] = "bcdfghjklmnprstvwz";
    static const char vow[] = "aeiou";
    size_t n = 3 + rnd() % 7;
    for (size_t i = 0; i < n; i++)
        out[i] = (i % 2) ? vow[rnd() % 5] : cons[rnd() % 18];
    out[0] = (char)(out[0] - 32);
    return n;
}

static size_t make_name(char *out)
{
    size_t o = make_word(out);
    out[o++] = ' ';
    o += make_word(out + o);
    if (rnd() % 3 == 0)
        o += (size_t)sprintf(out + o, " %u", (unsigned)(rnd() % 1000));
    out[o] = 0;
    return o;
}

/* ---- STREAM-like read ----------------------------------------------------------------- */

struct read_job {
    const float *p;
    size_t n; /* floats */
    double sink;
};

static void *read_part(void *arg)
{
    struct read_job *j = arg;
    size_t i = 0;
#if defined(__SSE2__)
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= j->n; i += 16) {
        a0 = _mm_add_ps(a0, _mm_loadu_ps(j->p + i));
        a1 = _mm_add_ps(a1, _mm_loadu_ps(j->p + i + 4));
        a2 = _mm_add_ps(a2, _mm_loadu_ps(j->p + i + 8));
        a3 = _mm_add_ps(a3, _mm_loadu_ps(j->p + i + 12));
    }
    float t[4];
    _mm_storeu_ps(t, _mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
    double s = (double)t[0] + t[1] + t[2] + t[3];
#else
    double s = 0;
#endif
    for (; i < j->n; i++)
        s += j->p[i];
    j->sink = s;
    return NULL;
}

/* Seconds to read n floats once with nt threads (best of reps). */
static double read_time(const float *p, size_t n, int nt, int reps, double *sink)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        struct read_job jobs[16];
        pthread_t th[16];
        uint64_t t0 = timing_now_ns();
        for (int t = 0; t < nt; t++) {
            size_t a = n * (size_t)t / (size_t)nt, b = n * (size_t)(t + 1) / (size_t)nt;
            jobs[t].p = p + a;
            jobs[t].n = b - a;
            if (t > 0)
                pthread_create(&th[t], NULL, read_part, &jobs[t]);
        }
        read_part(&jobs[0]);
        for (int t = 1; t < nt; t++)
            pthread_join(th[t], NULL);
        double el = timing_since_s(t0);
        for (int t = 0; t < nt; t++)
            *sink += jobs[t].sink;
        if (el < best)
            best = el;
    }
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static size_t parse_sizes(const char *s, size_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
            break;
        out[n++] = (size_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = { 10000, 100000, 1000000 };
    size_t nsizes = 3, dim = EMBED_HASH_DIM_DEFAULT, nq = 20, batch = 16, k = 10;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--sizes N,N,...] [--dim D] [--queries Q] [--batch B] "
                   "[--threads T]\n", argv[0]);
            return 0;
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = parse_sizes(argv[++i], sizes, 8);
        } else if (!strcmp(argv[i], "--dim") && i + 1 < argc) {
            dim = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--queries") && i + 1 < argc) {
            nq = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            batch = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else {
            fprintf(stderr, "%s: bad argument '%s' (try --help)\n", argv[0], argv[i]);
            return 2;
        }
    }
    if (nsizes == 0 || nq == 0 || batch == 0 || threads < 1 || threads > 16) {
        fprintf(stderr, "%s: bad sizes, queries, batch or threads\n", argv[0]);
        return 2;
    }
#if HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(threads);
#endif
    size_t nmax = 0;
    for (size_t i = 0; i < nsizes; i++)
        if (sizes[i] > nmax)
            nmax = sizes[i];

    struct embedder e;
    if (embed_hash_new(dim, &e) != STATUS_OK) {
        fprintf(stderr, "bad dim\n");
        return 2;
    }
    printf("embedder %s, BLAS threads %d, top-%zu, %zu queries, batch %zu\n", e.id, threads, k,
           nq, batch);

    /* embed nmax synthetic names in chunks: bulk-insert throughput of the embedder */
    const size_t chunk = 4096;
    float *mat = malloc(nmax * dim * sizeof *mat);
    int64_t *ids = malloc(nmax * sizeof *ids);
    char *names = malloc(chunk * 40);
    const char **texts = malloc(chunk * sizeof *texts);
    size_t *lens = malloc(chunk * sizeof *lens);
    if (!mat || !ids || !names || !texts || !lens) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double t_embed = 0;
    size_t bytes_in = 0;
    for (size_t r0 = 0; r0 < nmax; r0 += chunk) {
        size_t nb = nmax - r0 < chunk ? nmax - r0 : chunk;
        for (size_t i = 0; i < nb; i++) {
            texts[i] = names + i * 40;
            lens[i] = make_name(names + i * 40);
            bytes_in += lens[i];
            ids[r0 + i] = (int64_t)(r0 + i + 1);
        }
        uint64_t t0 = timing_now_ns();
        if (embed_texts(&e, texts, lens, nb, mat + r0 * dim) != STATUS_OK) {
            fprintf(stderr, "embed failed\n");
            return 1;
        }
        t_embed += timing_since_s(t0);
    }
    printf("embed: %zu names (avg %.1f bytes) in %.2f s = %.0f embeddings/s\n", nmax,
           (double)bytes_in / (double)nmax, t_embed, (double)nmax / t_embed);

    /* queries: embeddings of fresh names */
    float *qs = malloc(nq * dim * sizeof *qs);
    for (size_t j = 0; j < nq; j++) {
        char buf[40];
        size_t l = make_name(buf);
        embed_one(&e, buf, l, qs + j * dim);
    }
    struct sim_hit *hits = malloc(batch * k * sizeof *hits);
    size_t *nh = malloc(batch * sizeof *nh);
    double *lat = malloc(nq * sizeof *lat);
    double sink = 0;

    printf("%9s %9s %9s %9s %9s %9s %10s %10s\n", "n", "MB", "read_ms", "GB/s", "top10_ms",
           "x_read", "batch_ms/q", "x_read");
    for (size_t si = 0; si < nsizes; si++) {
        size_t n = sizes[si];
        struct sim *s = NULL;
        uint64_t t0 = timing_now_ns();
        if (sim_new(dim, &s) != STATUS_OK || sim_reserve(s, n) != STATUS_OK ||
            sim_add(s, ids, mat, n, dim) != STATUS_OK) {
            fprintf(stderr, "sim setup failed at n=%zu\n", n);
            return 1;
        }
        double t_add = timing_since_s(t0);
        /* warm up (page faults, BLAS buffers) */
        sim_search(s, qs, dim, k, INFINITY, hits, nh);
        read_time(mat, n * dim, threads, 1, &sink);
        /* A/B interleaved: a read of the matrix, then one query, nq times (the machine
         * is shared, so only figures taken side by side compare) */
        double *rd = malloc(nq * sizeof *rd);
        for (size_t j = 0; j < nq; j++) {
            rd[j] = read_time(mat, n * dim, threads, 1, &sink);
            uint64_t q0 = timing_now_ns();
            sim_search(s, qs + j * dim, dim, k, INFINITY, hits, nh);
            lat[j] = timing_since_s(q0);
        }
        double t_read = median(rd, nq);
        free(rd);
        double t_q = median(lat, nq);
        size_t nbatches = (nq + batch - 1) / batch, done = 0;
        double t_b = 0;
        for (size_t b = 0; b < nbatches; b++) {
            size_t m = nq - done < batch ? nq - done : batch;
            uint64_t q0 = timing_now_ns();
            sim_search_batch(s, qs + done * dim, m, dim, k, INFINITY, hits, nh);
            t_b += timing_since_s(q0);
            done += m;
        }
        t_b /= (double)nq;
        double mb = (double)n * (double)dim * 4.0 / 1e6;
        printf("%9zu %9.1f %9.3f %9.2f %9.3f %9.2f %10.3f %10.2f   (sim_add %.0f rows/s)\n", n,
               mb, t_read * 1e3, mb / 1e3 / t_read, t_q * 1e3, t_q / t_read, t_b * 1e3,
               t_b / t_read, (double)n / t_add);
        sim_free(s);
    }
    printf("(checksum %g)\n", sink);
    embed_free(&e);
    free(mat);
    free(ids);
    free(names);
    free(texts);
    free(lens);
    free(qs);
    free(hits);
    free(nh);
    free(lat);
    return 0;
}
