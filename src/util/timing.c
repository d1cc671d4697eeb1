/* timing.c -- monotonic clock. */
#include "config.h"
#include "util/timing.h"

#include <time.h>

uint64_t timing_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double timing_since_s(uint64_t start_ns)
{
    return (double)(timing_now_ns() - start_ns) * 1e-9;
}
