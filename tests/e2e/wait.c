/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How io_uring_enter(GETEVENTS) waits end: EXT_ARG min_wait_usec
 * (IORING_FEAT_MIN_TIMEOUT) alone, with a longer or shorter timeout, with
 * CQEs ready, arriving during and after the min wait; and a TIMEOUT CQE
 * ending a wait for more CQEs than there are. Each line says how the wait
 * ended and within which band of time, wide enough for a loaded machine.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

/* Wait for @nr CQEs with min_wait @min_us and timeout @ts_ms (< 0: none). */
static int wait_ext(unsigned nr, unsigned min_us, long ts_ms) {
        struct __kernel_timespec ts = { .tv_sec = ts_ms / 1000, .tv_nsec = (ts_ms % 1000) * 1000000 };
        struct io_uring_getevents_arg arg = { .ts = ts_ms >= 0 ? (uint64_t) (uintptr_t) &ts : 0 };

        /* min_wait_usec, named pad in liburing 2.3's header. */
        memcpy(&arg.pad, &min_us, sizeof(min_us));
        long r = syscall(__NR_io_uring_enter, ring.ring_fd, 0, nr, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                         &arg, sizeof(arg));
        return r < 0 ? -errno : (int) r;
}

static void queue_timeout(long ms, uint64_t user_data) {
        static struct __kernel_timespec ts[8];
        static int i;
        struct io_uring_sqe *sqe = t_get_sqe(&ring);

        ts[i] = (struct __kernel_timespec) { .tv_nsec = ms * 1000000 };
        io_uring_prep_timeout(sqe, &ts[i++ % 8], 0, 0);
        sqe->user_data = user_data;
        t_submit_n(&ring, 1);
}

static void queue_nop(void) {
        io_uring_prep_nop(t_get_sqe(&ring));
        t_submit_n(&ring, 1);
}

/* Report how a wait ended: its result, the CQEs there, and whether it took
 * at least @lo and less than @hi ms. */
static void report(const char *what, int ret, double start, double lo, double hi) {
        double took = now_ms() - start;
        char b[32];

        printf("%s: %s, %u ready, %s\n", what, t_res(ret, b), io_uring_cq_ready(&ring),
               took >= lo && took < hi ? "in time" : "OUT OF TIME");
        if (took < lo || took >= hi)
                fprintf(stderr, "%s took %.1f ms, expected [%.0f, %.0f)\n", what, took, lo, hi);
        io_uring_cq_advance(&ring, io_uring_cq_ready(&ring));
}

int main(void) {
        struct io_uring_params p = {};
        double t;
        int ret;

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&ring, 8, &p);
        printf("min timeout feature: %s\n", p.features & (1U << 14) ? "yes" : "no");

        t = now_ms();
        ret = wait_ext(2, 100000, -1);
        report("min wait, no timeout, nothing comes", ret, t, 90, 1000);

        queue_nop();
        t = now_ms();
        ret = wait_ext(2, 100000, 2000);
        report("min wait, one CQE ready", ret, t, 90, 1000);

        queue_timeout(300, 1);
        t = now_ms();
        ret = wait_ext(2, 100000, 3000);
        report("one CQE after the min wait", ret, t, 290, 2000);

        t = now_ms();
        ret = wait_ext(2, 100000, 400);
        report("nothing comes, timeout after min wait", ret, t, 390, 2000);

        t = now_ms();
        ret = wait_ext(2, 200000, 20);
        report("timeout shorter than min wait", ret, t, 190, 1000);

        queue_timeout(20, 2);
        t = now_ms();
        ret = wait_ext(2, 300000, 3000);
        report("TIMEOUT CQE during the min wait", ret, t, 15, 280);

        queue_timeout(20, 3);
        t = now_ms();
        ret = wait_ext(2, 0, -1);
        report("TIMEOUT CQE ends a wait for two", ret, t, 15, 1000);

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
