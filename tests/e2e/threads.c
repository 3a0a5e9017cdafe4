/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One ring, several threads, as MariaDB uses it: one thread blocks in
 * io_uring_enter(GETEVENTS) while others submit with enter(to_submit, 0, 0);
 * the waiter must wake on the completions of SQEs it did not submit. Then
 * four submitting threads (the SQ under a mutex, as liburing requires) and
 * one reaping thread move 4 x 2000 NOPs; every user_data comes back once.
 *
 * threads stress: 8 submitting threads and 1 waiting thread move 1,000,000
 * operations in batches of 8 (every 8th a READ of a file, checked), every
 * CQE accounted for.
 *
 * threads exits: 300 threads one after another, each with a ring of its own
 * and a NOP, then exiting; no fd may be left behind (trap mode keeps a
 * channel per thread, which must go with its thread), and a forked child's
 * first thread makes calls of its own.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static unsigned SUBMITTERS = 4, PER_THREAD = 2000, BATCH = 1;
#define TOTAL (SUBMITTERS * PER_THREAD)
#define MAX_SUBMITTERS 8
static int data_fd = -1;
static char data_buf[MAX_SUBMITTERS][8][16];

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

/* Under sq_lock: an SQE, pushing what is queued while the SQ is full. */
static struct io_uring_sqe *get_sqe_locked(void) {
        struct io_uring_sqe *sqe;

        while (!(sqe = io_uring_get_sqe(&ring)))
                io_uring_submit(&ring);
        return sqe;
}

/* Submit what is queued and drop sq_lock. */
static void submit_unlock(void) {
        int r = io_uring_submit(&ring);

        pthread_mutex_unlock(&sq_lock);
        if (r < 0)
                t_fail("submit from thread: %s", strerror(-r));
}

/* Queue one NOP under the lock and submit it through a raw enter. */
static void submit_nop(uint64_t ud) {
        pthread_mutex_lock(&sq_lock);
        struct io_uring_sqe *sqe = get_sqe_locked();
        io_uring_prep_nop(sqe);
        sqe->user_data = ud;
        submit_unlock();
}

/* Queue BATCH SQEs under the lock and submit them in one enter: NOPs, and
 * for every 8th user_data a 16-byte READ of the data file. */
static void submit_batch(unsigned thread, uint64_t first) {
        pthread_mutex_lock(&sq_lock);
        for (unsigned i = 0; i < BATCH; i++) {
                uint64_t ud = first + i;
                struct io_uring_sqe *sqe = get_sqe_locked();
                if (ud % 8 == 7)
                        io_uring_prep_read(sqe, data_fd, data_buf[thread][i], 16, 7 * 16);
                else
                        io_uring_prep_nop(sqe);
                sqe->user_data = ud;
        }
        submit_unlock();
}

static void *submitter_main(void *arg) {
        unsigned thread = (unsigned) (uintptr_t) arg;
        uint64_t base = (uint64_t) thread * PER_THREAD;

        if (BATCH == 1) {
                for (uint64_t i = 0; i < PER_THREAD; i++)
                        submit_nop(base + i);
                return NULL;
        }
        for (uint64_t i = 0; i < PER_THREAD; i += BATCH)
                submit_batch(thread, base + i);
        return NULL;
}

static unsigned char *seen;
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
                        int want = data_fd >= 0 && cqe->user_data % 8 == 7 ? 16 : 0;
                        if (cqe->user_data >= TOTAL || cqe->res != want)
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

/* Start the reaper and the submitters, wait for all, count what came back. */
static void run_submitters_and_reaper(int reaper_seconds, unsigned *ret_missing, unsigned *ret_dups) {
        pthread_t th, subs[MAX_SUBMITTERS];
        unsigned missing = 0, dups = 0;

        t_assert(pthread_create(&th, NULL, reaper_main, NULL) == 0, "pthread_create");
        for (uintptr_t i = 0; i < SUBMITTERS; i++)
                t_assert(pthread_create(&subs[i], NULL, submitter_main, (void *) i) == 0, "pthread_create");
        for (unsigned i = 0; i < SUBMITTERS; i++)
                pthread_join(subs[i], NULL);
        if (!join_within(th, reaper_seconds, NULL))
                t_fail("reaper still waiting: %u of %u CQEs arrived", reaped, TOTAL);
        for (unsigned i = 0; i < TOTAL; i++) {
                missing += seen[i] == 0;
                dups += seen[i] > 1;
        }
        *ret_missing = missing;
        *ret_dups = dups;
}

static int stress(void) {
        struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 8192 };
        char block[1024];

        SUBMITTERS = 8;
        PER_THREAD = 125000;
        BATCH = 8;
        seen = calloc(TOTAL, 1);
        t_assert(seen, "calloc");
        data_fd = t_tmpfile("stress-data", O_RDWR, NULL, 0);
        t_fill(block, sizeof(block), 7);
        t_assert(pwrite(data_fd, block, sizeof(block), 0) == (ssize_t) sizeof(block), "pwrite");
        t_ring_init(&ring, 256, &p);

        unsigned missing, dups;
        run_submitters_and_reaper(120, &missing, &dups);
        /* The reads landed: every thread's read buffer holds bytes 112-127. */
        unsigned bad = 0;
        for (unsigned t = 0; t < SUBMITTERS; t++)
                bad += memcmp(data_buf[t][7], block + 7 * 16, 16) != 0;
        printf("%u threads x %u operations, batches of %u: reaped=%u missing=%u duplicated=%u bad=%u\n",
               SUBMITTERS, PER_THREAD, BATCH, reaped, missing, dups, bad);
        io_uring_queue_exit(&ring);
        return missing || dups || bad ? T_EXIT_FAIL : T_EXIT_PASS;
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        t_assert(d, "opendir /proc/self/fd: %m");
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own */
}

static void *one_ring_main(void *arg) {
        struct io_uring r;
        struct io_uring_cqe c;

        t_ring_init(&r, 8, NULL);
        struct io_uring_sqe *sqe = t_get_sqe(&r);

        io_uring_prep_nop(sqe);
        sqe->user_data = (uintptr_t) arg;
        t_submit_n(&r, 1);
        c = t_wait_one(&r);
        io_uring_queue_exit(&r);
        return (void *) (uintptr_t) (c.res == 0 && c.user_data == (uintptr_t) arg);
}

static int exits(void) {
        unsigned before, after, ok = 0;
        pthread_t th;
        void *ret;
        pid_t pid;
        int status;

        /* One call on this thread first: it has a channel, its children not. */
        ok += (unsigned) (uintptr_t) one_ring_main((void *) 1);
        before = count_fds();
        for (unsigned i = 0; i < 300; i++) {
                t_assert(pthread_create(&th, NULL, one_ring_main, (void *) (uintptr_t) (i + 2)) == 0,
                         "pthread_create");
                t_assert(pthread_join(th, &ret) == 0, "pthread_join");
                ok += (unsigned) (uintptr_t) ret;
        }
        after = count_fds();
        printf("threads exits: %u of 301 NOPs completed, fds left behind: %d\n", ok, (int) after - (int) before);

        pid = fork();
        t_assert(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(one_ring_main((void *) 7) && one_ring_main((void *) 8) ? 0 : 1);
        t_assert(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        printf("forked child's NOPs: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED");
        printf("parent's NOP after fork: %s\n", one_ring_main((void *) 9) ? "ok" : "FAILED");
        return T_EXIT_PASS;
}

int main(int argc, char **argv) {
        struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 4096 };
        pthread_t th;
        void *ret;

        t_backend();
        if (argc > 1 && !strcmp(argv[1], "stress"))
                return stress();
        if (argc > 1 && !strcmp(argv[1], "exits"))
                return exits();
        seen = calloc(TOTAL, 1);
        t_assert(seen, "calloc");
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
        unsigned missing, dups;
        run_submitters_and_reaper(30, &missing, &dups);
        printf("%u threads x %u NOPs: reaped=%u missing=%u duplicated=%u\n", SUBMITTERS, PER_THREAD, reaped,
               missing, dups);

        io_uring_queue_exit(&ring);
        return missing || dups ? T_EXIT_FAIL : T_EXIT_PASS;
}
