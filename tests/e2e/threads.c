/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One ring, several threads, as MariaDB uses it: one thread blocks in
 * io_uring_enter(GETEVENTS) while others submit with enter(to_submit, 0, 0);
 * the waiter must wake on the completions of SQEs it did not submit. Then
 * four submitting threads (the SQ under a mutex, as liburing requires) and
 * one reaping thread move 4 x 2000 NOPs; every user_data comes back once.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define SUBMITTERS 4
#define PER_THREAD 2000
#define TOTAL (SUBMITTERS * PER_THREAD)

static struct io_uring ring;
static pthread_mutex_t sq_lock = PTHREAD_MUTEX_INITIALIZER;

static long sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags) {
        long r = syscall(__NR_io_uring_enter, ring.ring_fd, to_submit, min_complete, flags, NULL, 0);
        return r < 0 ? -errno : r;
}

static void msleep(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* Join with a deadline: a waiter that never wakes fails the test. */
static bool join_within(pthread_t th, int seconds, void **ret) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += seconds;
        return pthread_timedjoin_np(th, ret, &ts) == 0;
}

static void *waiter_main(void *arg) {
        long r = sys_enter(0, 1, IORING_ENTER_GETEVENTS);
        return (void *) r;
}

/* Queue one NOP under the lock and submit it through a raw enter. */
static void submit_nop(uint64_t ud) {
        pthread_mutex_lock(&sq_lock);
        struct io_uring_sqe *sqe;
        while (!(sqe = io_uring_get_sqe(&ring))) {
                /* SQ full: push what is queued. */
                io_uring_submit(&ring);
        }
        io_uring_prep_nop(sqe);
        sqe->user_data = ud;
        int r = io_uring_submit(&ring);
        pthread_mutex_unlock(&sq_lock);
        if (r < 0)
                t_fail("submit from thread: %s", strerror(-r));
}

static void *submitter_main(void *arg) {
        uint64_t base = (uint64_t) (uintptr_t) arg * PER_THREAD;
        for (uint64_t i = 0; i < PER_THREAD; i++)
                submit_nop(base + i);
        return NULL;
}

static unsigned char seen[TOTAL];
static unsigned reaped;

static void *reaper_main(void *arg) {
        while (reaped < TOTAL) {
                struct io_uring_cqe *cqe;
                int r = io_uring_wait_cqe(&ring, &cqe);
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        t_fail("reaper wait: %s", strerror(-r));
                unsigned head, n = 0;
                io_uring_for_each_cqe(&ring, head, cqe) {
                        if (cqe->user_data >= TOTAL || cqe->res != 0)
                                t_fail("bad CQE user_data=%llu res=%d", (unsigned long long) cqe->user_data,
                                       cqe->res);
                        seen[cqe->user_data]++;
                        n++;
                }
                io_uring_cq_advance(&ring, n);
                reaped += n;
        }
        return NULL;
}

int main(void) {
        struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 4096 };
        pthread_t th, subs[SUBMITTERS];
        void *ret;

        t_backend();
        t_ring_init(&ring, 64, &p);

        /* 1. A waiter woken by another thread's NOP, 20 times; the first few
         * with a pause so the waiter is surely asleep, the rest racing. */
        int woken = 0;
        for (int i = 0; i < 20; i++) {
                t_assert(pthread_create(&th, NULL, waiter_main, NULL) == 0, "pthread_create");
                if (i < 5)
                        msleep(100);
                submit_nop(1000 + i);
                if (!join_within(th, 10, &ret))
                        t_fail("round %d: the waiting thread was not woken by another thread's NOP", i);
                long r = (long) ret;
                if (r < 0)
                        t_fail("round %d: waiter's enter returned %s", i, t_errname((int) r));
                struct io_uring_cqe c = t_wait_one(&ring);
                t_assert(c.user_data == (uint64_t) (1000 + i) && c.res == 0, "round %d: CQE user_data=%llu res=%d",
                         i, (unsigned long long) c.user_data, c.res);
                woken++;
        }
        printf("waiter woken by another thread's NOP: %d of 20\n", woken);

        /* 2. Four submitters, one reaper. */
        t_assert(pthread_create(&th, NULL, reaper_main, NULL) == 0, "pthread_create");
        for (uintptr_t i = 0; i < SUBMITTERS; i++)
                t_assert(pthread_create(&subs[i], NULL, submitter_main, (void *) i) == 0, "pthread_create");
        for (int i = 0; i < SUBMITTERS; i++)
                pthread_join(subs[i], NULL);
        if (!join_within(th, 30, NULL))
                t_fail("reaper still waiting: %u of %d CQEs arrived", reaped, TOTAL);
        unsigned missing = 0, dups = 0;
        for (unsigned i = 0; i < TOTAL; i++) {
                missing += seen[i] == 0;
                dups += seen[i] > 1;
        }
        printf("%d threads x %d NOPs: reaped=%u missing=%u duplicated=%u\n", SUBMITTERS, PER_THREAD, reaped,
               missing, dups);

        io_uring_queue_exit(&ring);
        return missing || dups ? T_EXIT_FAIL : T_EXIT_PASS;
}
