/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What nop-bench and notify-floor share: the clock, and the one JSON line
 * bench/run reads. */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_SAMPLES (4U << 20)

static inline uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Samples are per batch, in ns; percentiles of what was recorded. */
static inline void print_result(const char *mode, unsigned batch, uint64_t ops, uint64_t elapsed_ns,
                         uint64_t *lat, size_t nlat) {
        double p50 = 0, p99 = 0;

        if (nlat > 0) {
                qsort(lat, nlat, sizeof(*lat), cmp_u64);
                p50 = lat[nlat / 2] / 1000.0;
                p99 = lat[(size_t) ((double) nlat * 0.99)] / 1000.0;
        }
        printf("{\"mode\": \"%s\", \"batch\": %u, \"ops\": %" PRIu64 ", \"seconds\": %.6f, "
               "\"ops_per_sec\": %.1f, \"lat_p50_us\": %.3f, \"lat_p99_us\": %.3f}\n",
               mode, batch, ops, elapsed_ns / 1e9, ops / (elapsed_ns / 1e9), p50, p99);
}
