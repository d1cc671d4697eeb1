/* timing.h -- monotonic clock for durations (never wall-clock time). */
#ifndef MEMLLM_TIMING_H
#define MEMLLM_TIMING_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC; only differences are meaningful. */
uint64_t timing_now_ns(void);

/* Seconds elapsed since a timing_now_ns() reading. */
double timing_since_s(uint64_t start_ns);

#endif /* MEMLLM_TIMING_H */
