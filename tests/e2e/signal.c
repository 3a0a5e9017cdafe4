/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A signal during a blocking io_uring_wait_cqe. A READ of an empty pipe is
 * in flight; another thread sends SIGUSR1 to the waiting thread.
 *  A: handler without SA_RESTART: the wait returns -EINTR.
 *  B: handler with SA_RESTART: the wait returns -EINTR (the kernel) or is
 *     restarted and returns the CQE once the helper thread feeds the pipe
 *     (a trapped call may be restarted): both are printed the same way.
 *  C: the ring works as before: a batch of NOPs, all CQEs once.
 *  D: two interrupted waits in a row; then, with SIGUSR1 blocked, only the
 *     pipe write ends the wait, and the held signal arrives on unblocking.
 * Either way the pending READ completes with the right data once the pipe
 * has it, nothing is lost or duplicated, and the ring stays usable.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;
static volatile sig_atomic_t handled;
static pthread_t waiter;
static int pipefd[2];

static void on_usr1(int sig) {
        handled++;
}

static void msleep(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

struct helper {
        long signal_after_ms;
        long write_after_ms; /* after the signal; < 0: never */
        const char *data;
        bool repeat;         /* signal every 200 ms until waiter_done */
};

/* Set by the waiting thread once its wait returned: a signal that came
 * before the wait began would otherwise leave it blocked for good. */
static volatile int waiter_done;

static void *helper_main(void *arg) {
        const struct helper *h = arg;

        msleep(h->signal_after_ms);
        pthread_kill(waiter, SIGUSR1);
        while (h->repeat && !__atomic_load_n(&waiter_done, __ATOMIC_ACQUIRE)) {
                msleep(200);
                if (!__atomic_load_n(&waiter_done, __ATOMIC_ACQUIRE))
                        pthread_kill(waiter, SIGUSR1);
        }
        if (h->write_after_ms >= 0) {
                msleep(h->write_after_ms);
                if (write(pipefd[1], h->data, strlen(h->data)) < 0)
                        abort();
        }
        return NULL;
}

static void install(bool restart) {
        struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0 };
        sigemptyset(&sa.sa_mask);
        t_assert(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %m");
}

static void queue_pipe_read(char *buf, unsigned len, uint64_t ud) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, pipefd[0], buf, len, 0);
        sqe->user_data = ud;
        t_submit_n(&ring, 1);
}

/* Check the CQE of the pending pipe read. */
static void check_read(const struct io_uring_cqe *cqe, uint64_t ud, const char *buf, const char *want) {
        int n = (int) strlen(want);
        printf("  read cqe user_data=%llu res=%d data=\"%.*s\"\n", (unsigned long long) cqe->user_data, cqe->res,
               cqe->res > 0 ? cqe->res : 0, buf);
        t_assert(cqe->user_data == ud && cqe->res == n && !memcmp(buf, want, (size_t) n), "wrong read completion");
}

int main(void) {
        struct io_uring_cqe *cqe;
        pthread_t th;
        char buf[64];
        char b[32];
        int r;

        t_backend();
        waiter = pthread_self();
        t_assert(pipe2(pipefd, O_CLOEXEC) == 0, "pipe: %m");
        t_ring_init(&ring, 8, NULL);

        /* A: no SA_RESTART. The read stays pending after the interruption. */
        install(false);
        memset(buf, 0, sizeof(buf));
        queue_pipe_read(buf, sizeof(buf), 100);
        struct helper ha = { .signal_after_ms = 300, .write_after_ms = -1, .repeat = true };
        waiter_done = 0;
        t_assert(pthread_create(&th, NULL, helper_main, &ha) == 0, "pthread_create");
        r = io_uring_wait_cqe(&ring, &cqe);
        __atomic_store_n(&waiter_done, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        printf("A (no SA_RESTART): wait %s, handler ran: %s\n", t_res(r, b), handled ? "yes" : "no");
        t_assert(r == -EINTR && handled >= 1, "A: wait should be interrupted");
        printf("A: cq_ready after the signal=%u\n", io_uring_cq_ready(&ring));

        /* The pending read completes once data arrives. */
        t_assert(write(pipefd[1], "after-A", 7) == 7, "write: %m");
        r = io_uring_wait_cqe(&ring, &cqe);
        t_assert(r == 0, "A: wait after the signal: %s", strerror(-r));
        check_read(cqe, 100, buf, "after-A");
        io_uring_cqe_seen(&ring, cqe);

        /* B: SA_RESTART. The helper signals, then feeds the pipe. */
        install(true);
        handled = 0;
        memset(buf, 0, sizeof(buf));
        queue_pipe_read(buf, sizeof(buf), 200);
        struct helper hb = { .signal_after_ms = 300, .write_after_ms = 300, .data = "after-B" };
        t_assert(pthread_create(&th, NULL, helper_main, &hb) == 0, "pthread_create");
        r = io_uring_wait_cqe(&ring, &cqe);
        int first = r;
        if (r == -EINTR)
                r = io_uring_wait_cqe(&ring, &cqe);
        pthread_join(th, NULL);
        fprintf(stderr, "B: first wait returned %d (%s)\n", first, first == -EINTR ? "interrupted" : "restarted");
        printf("B (SA_RESTART): wait %s, handler runs=%d\n",
               first == -EINTR || first == 0 ? "interrupted or restarted" : t_res(first, b), (int) handled);
        t_assert(r == 0 && handled == 1, "B: wait failed: %d, handler %d", r, (int) handled);
        check_read(cqe, 200, buf, "after-B");
        io_uring_cqe_seen(&ring, cqe);

        /* Nothing else arrived, nothing was duplicated. */
        r = io_uring_peek_cqe(&ring, &cqe);
        printf("extra CQEs: %s\n", r == -EAGAIN ? "none" : "SOME");
        t_assert(r == -EAGAIN, "unexpected CQE user_data=%llu", (unsigned long long) cqe->user_data);

        /* C: after the interruptions, a plain batch: 4 NOPs, one wait for
         * all of them, every CQE there once. */
        install(false);
        handled = 0;
        for (int i = 0; i < 4; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 300 + i;
        }
        t_submit_n(&ring, 4);
        r = io_uring_wait_cqe_nr(&ring, &cqe, 4);
        printf("C: wait for 4 NOPs %s, ready=%u\n", t_res(r, b), io_uring_cq_ready(&ring));
        for (int i = 0; i < 4; i++) {
                r = io_uring_peek_cqe(&ring, &cqe);
                t_assert(r == 0, "C: CQE %d missing", i);
                t_print_cqe("  nop", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }

        /* D: interrupted twice in a row, then a completion from another
         * thread's write arrives while waiting again. */
        memset(buf, 0, sizeof(buf));
        queue_pipe_read(buf, sizeof(buf), 400);
        int eintr = 0;
        for (int i = 0; i < 2; i++) {
                struct helper hd = { .signal_after_ms = 150, .write_after_ms = -1, .repeat = true };
                waiter_done = 0;
                t_assert(pthread_create(&th, NULL, helper_main, &hd) == 0, "pthread_create");
                r = io_uring_wait_cqe(&ring, &cqe);
                __atomic_store_n(&waiter_done, 1, __ATOMIC_RELEASE);
                pthread_join(th, NULL);
                eintr += r == -EINTR;
        }
        printf("D: two interrupted waits -> %d x EINTR\n", eintr);
        struct helper hw = { .signal_after_ms = 0, .write_after_ms = 200, .data = "after-D" };
        /* Block SIGUSR1 for this last one: only the write should wake us. */
        sigset_t blk;
        sigemptyset(&blk);
        sigaddset(&blk, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &blk, NULL);
        t_assert(pthread_create(&th, NULL, helper_main, &hw) == 0, "pthread_create");
        r = io_uring_wait_cqe(&ring, &cqe);
        pthread_join(th, NULL);
        t_assert(r == 0, "D: final wait: %s", strerror(-r));
        check_read(cqe, 400, buf, "after-D");
        io_uring_cqe_seen(&ring, cqe);
        handled = 0;
        pthread_sigmask(SIG_UNBLOCK, &blk, NULL); /* the blocked SIGUSR1 is delivered now */
        printf("D: signal held while blocked, delivered after: %s\n", handled ? "yes" : "no");

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
