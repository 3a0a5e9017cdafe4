/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_ENTER_EXT_ARG: waits with a timeout (nothing pending -> -ETIME after
 * roughly the timeout; a completion present -> at once) and with a signal
 * mask installed for the wait only (a pending signal it unblocks interrupts
 * the wait with -EINTR; one it blocks does not), the same with the plain
 * sigmask argument of io_uring_enter, and malformed EXT_ARG arguments.
 * Times are checked loosely and never printed.
 * Usage: timeout timeout|sigmask   (the timeouts and argument checks, or the
 * signal masks: uringd documents that it cannot apply the latter)
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;
static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig) {
        got_usr1++;
}

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig) {
        got_alarm++;
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Elapsed time as a word: the bounds are generous, the word is stable. */
static const char *span(double t, double lo, double hi) {
        if (t < lo)
                return "too early";
        if (t > hi)
                return "too late";
        return "in time";
}

static int part_timeouts(void) {
        struct __kernel_timespec ts;
        struct io_uring_cqe *cqe;
        const char *w;
        char b[32];
        double t0;
        int r, bad = 0;

        /* Nothing pending: -ETIME after about 200 ms. */
        ts = (struct __kernel_timespec) { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
        t0 = now();
        r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
        w = span(now() - t0, 0.19, 5.0);
        printf("wait 200ms, nothing pending: %s, %s\n", t_res(r, b), w);
        bad += r != -ETIME || strcmp(w, "in time");

        /* A zero timeout polls. */
        ts = (struct __kernel_timespec) { 0 };
        t0 = now();
        r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
        w = span(now() - t0, 0, 1.0);
        printf("wait 0, nothing pending: %s, %s\n", t_res(r, b), w);
        bad += strcmp(w, "in time") != 0;

        /* A 1 s timeout with a completion already there returns at once. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 7;
        t_submit_n(&ring, 1);
        ts = (struct __kernel_timespec) { .tv_sec = 1 };
        t0 = now();
        r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
        w = span(now() - t0, 0, 0.9);
        printf("wait 1s, one CQE ready: %s, %s\n", t_res(r, b), w);
        bad += r != 0 || strcmp(w, "in time");
        if (r == 0) {
                t_print_cqe("  cqe", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }

        /* submit_and_wait_timeout: the NOP goes in and comes back. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 8;
        ts = (struct __kernel_timespec) { .tv_sec = 1 };
        r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        printf("submit_and_wait_timeout 1 NOP: %s\n", r >= 0 ? "ok" : t_res(r, b));
        if (r >= 0) {
                t_print_cqe("  cqe", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }

        /* Waiting for 2 with only 1 ready: times out, the 1 stays. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 9;
        t_submit_n(&ring, 1);
        ts = (struct __kernel_timespec) { .tv_nsec = 100 * 1000 * 1000 };
        r = io_uring_wait_cqes(&ring, &cqe, 2, &ts, NULL);
        printf("wait for 2 with 1 ready: %s, ready=%u\n", t_res(r, b), io_uring_cq_ready(&ring));
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                t_print_cqe("  cqe", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }
        return bad;
}

static int part_sigmask(void) {
        struct __kernel_timespec ts;
        struct io_uring_cqe *cqe;
        char b[32];
        double t0;
        int r, bad = 0;

        /* The signal mask. SIGUSR1 is blocked in the thread and pending. */
        struct sigaction sa = { .sa_handler = on_usr1 };
        sigemptyset(&sa.sa_mask);
        t_assert(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %m");
        sigset_t block, unblock, all, old;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        t_assert(sigprocmask(SIG_BLOCK, &block, &old) == 0, "sigprocmask");
        t_assert(raise(SIGUSR1) == 0, "raise");
        printf("SIGUSR1 pending and blocked, handler runs=%d\n", (int) got_usr1);

        /* A wait whose mask keeps SIGUSR1 blocked times out normally. */
        sigfillset(&all);
        ts = (struct __kernel_timespec) { .tv_nsec = 100 * 1000 * 1000 };
        r = io_uring_wait_cqes(&ring, &cqe, 1, &ts, &all);
        printf("wait 100ms, mask blocks SIGUSR1: %s, handler runs=%d\n", t_res(r, b), (int) got_usr1);
        bad += r != -ETIME || got_usr1 != 0;

        /* A wait whose mask unblocks it is interrupted, and the handler runs
         * (on the way out of the wait, before the old mask is back). */
        sigemptyset(&unblock);
        ts = (struct __kernel_timespec) { .tv_sec = 5 };
        t0 = now();
        r = io_uring_wait_cqes(&ring, &cqe, 1, &ts, &unblock);
        const char *w = span(now() - t0, 0, 4.0);
        printf("wait 5s, mask unblocks SIGUSR1: %s, %s, handler runs=%d\n", t_res(r, b), w, (int) got_usr1);
        bad += r != -EINTR || got_usr1 != 1 || strcmp(w, "in time");

        /* The thread's own mask is back: SIGUSR1 still blocked. */
        sigset_t cur;
        t_assert(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "sigprocmask");
        printf("mask restored after the wait: %s\n", sigismember(&cur, SIGUSR1) ? "yes" : "NO");
        bad += !sigismember(&cur, SIGUSR1);

        /* No signal pending: the mask does not disturb a normal timeout. */
        ts = (struct __kernel_timespec) { .tv_nsec = 100 * 1000 * 1000 };
        r = io_uring_wait_cqes(&ring, &cqe, 1, &ts, &unblock);
        printf("wait 100ms, mask unblocks, nothing pending: %s\n", t_res(r, b));
        bad += r != -ETIME;

        /* The plain sigmask argument of io_uring_enter (no EXT_ARG, no
         * timeout). A SIGALRM 3 s later ends the wait if the mask is not
         * applied, so that the failure is quick and visible. */
        struct sigaction alrm = { .sa_handler = on_alarm };
        sigemptyset(&alrm.sa_mask);
        t_assert(sigaction(SIGALRM, &alrm, NULL) == 0, "sigaction: %m");
        got_usr1 = 0;
        got_alarm = 0;
        t_assert(raise(SIGUSR1) == 0, "raise");
        alarm(3);
        r = io_uring_enter(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, &unblock);
        alarm(0);
        printf("enter with sigmask, no timeout: %s, SIGUSR1 handler ran: %s, safety alarm fired: %s\n",
               t_res(r, b), got_usr1 ? "yes" : "no", got_alarm ? "yes" : "no");
        bad += r != -EINTR || !got_usr1 || got_alarm;
        t_assert(sigprocmask(SIG_SETMASK, &old, NULL) == 0, "sigprocmask");
        return bad;
}

static void part_errors(void) {
        struct __kernel_timespec ts;
        char b[32];
        int r;

        /* Raw EXT_ARG errors: wrong argument size, bad pointer, bad timespec. */
        sigset_t all;
        sigfillset(&all);
        struct io_uring_getevents_arg arg = { .ts = (uint64_t) (uintptr_t) &ts };
        ts = (struct __kernel_timespec) { .tv_nsec = 1000 };
        r = io_uring_enter2(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *) &arg,
                            sizeof(arg) - 1);
        printf("ext_arg size - 1: %s\n", t_res(r, b));
        r = io_uring_enter2(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *) 8,
                            sizeof(arg));
        printf("ext_arg bad pointer: %s\n", t_res(r, b));
        arg.ts = 8;
        r = io_uring_enter2(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *) &arg,
                            sizeof(arg));
        printf("ext_arg bad timespec pointer: %s\n", t_res(r, b));
        arg.ts = (uint64_t) (uintptr_t) &ts;
        arg.sigmask_sz = 4;
        arg.sigmask = (uint64_t) (uintptr_t) &all;
        r = io_uring_enter2(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *) &arg,
                            sizeof(arg));
        printf("ext_arg sigmask_sz 4: %s\n", t_res(r, b));
        ts = (struct __kernel_timespec) { .tv_nsec = -1 };
        arg.sigmask = 0;
        arg.sigmask_sz = 0;
        r = io_uring_enter2(ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *) &arg,
                            sizeof(arg));
        printf("ext_arg negative tv_nsec: %s\n", t_res(r, b));
        /* EXT_ARG without GETEVENTS: the argument is ignored. */
        r = io_uring_enter2(ring.ring_fd, 0, 0, IORING_ENTER_EXT_ARG, (sigset_t *) 8, 3);
        printf("ext_arg without getevents: %s\n", t_res(r, b));
}

int main(int argc, char **argv) {
        struct io_uring_params p = { 0 };
        bool sig;
        int bad;

        if (argc != 2 || (strcmp(argv[1], "timeout") && strcmp(argv[1], "sigmask"))) {
                fprintf(stderr, "usage: %s timeout|sigmask\n", argv[0]);
                return T_EXIT_FAIL;
        }
        sig = strcmp(argv[1], "sigmask") == 0;

        t_backend();
        t_ring_init(&ring, 8, &p);
        printf("feature ext_arg=%d\n", !!(p.features & IORING_FEAT_EXT_ARG));
        if (!(p.features & IORING_FEAT_EXT_ARG))
                t_fail("no IORING_FEAT_EXT_ARG: liburing would fall back to a TIMEOUT SQE");

        if (sig) {
                bad = part_sigmask();
        } else {
                bad = part_timeouts();
                part_errors();
        }

        /* The ring still works. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 99;
        t_submit_n(&ring, 1);
        struct io_uring_cqe c = t_wait_one(&ring);
        t_print_cqe("final nop", &c);

        io_uring_queue_exit(&ring);
        if (bad) {
                fprintf(stderr, "%d checks failed\n", bad);
                return T_EXIT_FAIL;
        }
        return T_EXIT_PASS;
}
