/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POLL_ADD on a ring's own fd, as io_uring_poll() reports it: POLLOUT while
 * the SQ has room, POLLIN once CQEs wait (not before, though a memfd is
 * always readable); one ring polling another, multishot (which a ring fd
 * ends after one CQE, as the kernel's wake-ups carry no mask), and a poll that a
 * forked child submits being cancelled when the child exits, with its link.
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring a, b;

static void poll_ring(struct io_uring *on, int fd, unsigned events, bool multi, uint64_t user_data) {
        struct io_uring_sqe *sqe = t_get_sqe(on);
        if (multi)
                io_uring_prep_poll_multishot(sqe, fd, events);
        else
                io_uring_prep_poll_add(sqe, fd, events);
        sqe->user_data = user_data;
        t_submit_n(on, 1);
}

static void nop(struct io_uring *on, uint64_t user_data) {
        struct io_uring_sqe *sqe = t_get_sqe(on);
        io_uring_prep_nop(sqe);
        sqe->user_data = user_data;
        t_submit_n(on, 1);
}

static void pending(struct io_uring *on, const char *tag) {
        struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe_timeout(on, &cqe, &ts);
        printf("%s: %s\n", tag, r == -ETIME ? "pending" : "a CQE");
        if (r == 0) {
                t_print_cqe("unexpected", cqe);
                io_uring_cqe_seen(on, cqe);
        }
}

static void reap(struct io_uring *on, const char *tag, int n) {
        for (int i = 0; i < n; i++) {
                struct io_uring_cqe cqe = t_wait_one(on);
                t_print_cqe(tag, &cqe);
        }
}

int main(void) {
        struct io_uring_params p = {};

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&a, 8, &p);
        p = (struct io_uring_params) {};
        t_ring_init(&b, 8, &p);

        poll_ring(&a, b.ring_fd, POLLOUT, false, 1);
        reap(&a, "B has SQ room", 1);
        poll_ring(&a, b.ring_fd, POLLIN, false, 2);
        pending(&a, "B has no CQE");
        nop(&b, 100);
        reap(&a, "B got a CQE", 1);
        reap(&b, "B's NOP", 1);

        poll_ring(&a, b.ring_fd, POLLIN, true, 3);
        pending(&a, "multishot on B");
        nop(&b, 101);
        reap(&a, "multishot fires", 1);
        reap(&b, "B's NOP", 1);
        struct io_uring_sqe *sqe = t_get_sqe(&a);
        io_uring_prep_poll_remove(sqe, 3);
        sqe->user_data = 4;
        t_submit_n(&a, 1);
        /* The kernel ends a multishot poll on a ring fd after one CQE. */
        reap(&a, "remove multishot", 1);

        /* A forked child polls the ring's own fd, linked to a timeout, and
         * exits: both are cancelled; an unlinked timeout runs out. */
        pid_t pid = fork();
        if (pid == 0) {
                struct __kernel_timespec ts = { .tv_sec = 1 };
                sqe = io_uring_get_sqe(&a);
                io_uring_prep_poll_add(sqe, a.ring_fd, POLLIN);
                sqe->user_data = 10;
                sqe->flags |= IOSQE_IO_LINK;
                sqe = io_uring_get_sqe(&a);
                io_uring_prep_timeout(sqe, &ts, 0, 0);
                sqe->user_data = 11;
                sqe = io_uring_get_sqe(&a);
                io_uring_prep_timeout(sqe, &ts, 0, 0);
                sqe->user_data = 12;
                _exit(io_uring_submit(&a) == 3 ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        printf("child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "submitted 3" : "failed");
        reap(&a, "after the child's exit", 3);

        io_uring_queue_exit(&b);
        io_uring_queue_exit(&a);
        return T_EXIT_PASS;
}
