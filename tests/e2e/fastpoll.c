/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reads and writes of pipes and sockets, as the kernel's FAST_POLL does
 * them: a ready pipe completes inline, in its batch; one that is not ready
 * waits, even when opened O_NONBLOCK, and completes when data comes; a full
 * pipe's write waits for room; waiting requests are cancelled by
 * ASYNC_CANCEL, by their LINK_TIMEOUT, and when the ring goes away.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static void reap(const char *tag, int n) {
        for (int i = 0; i < n; i++) {
                struct io_uring_cqe cqe = t_wait_one(&ring);
                t_print_cqe(tag, &cqe);
        }
}

/* Nothing more may be waiting: a short look. */
static void nothing_more(const char *tag) {
        struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);

        printf("%s: %s\n", tag, r == -ETIME ? "nothing yet" : "a CQE");
        if (r == 0) {
                t_print_cqe("unexpected", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }
}

static struct io_uring_sqe *prep_read(int fd, void *buf, unsigned len, uint64_t user_data) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, len, 0);
        sqe->user_data = user_data;
        return sqe;
}

int main(void) {
        struct io_uring_params p = {};
        char buf[64], big[70000];
        int pfd[2], nbp[2], sv[2];

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&ring, 16, &p);
        printf("fast poll: %s\n", p.features & IORING_FEAT_FAST_POLL ? "yes" : "no");
        t_assert(pipe(pfd) == 0 && pipe2(nbp, O_NONBLOCK) == 0, "pipe");
        t_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");

        /* Ready: inline, before the NOP queued after it. */
        t_assert(write(pfd[1], "abc", 3) == 3, "write");
        prep_read(pfd[0], buf, sizeof(buf), 1);
        io_uring_prep_nop(t_get_sqe(&ring));
        ring.sq.sqes[(ring.sq.sqe_tail - 1) & *ring.sq.kring_mask].user_data = 2;
        t_submit_n(&ring, 2);
        reap("ready pipe, then nop", 2);

        /* Not ready: waits, O_NONBLOCK or not, pipe or socket. */
        prep_read(pfd[0], buf, sizeof(buf), 3);
        prep_read(nbp[0], buf + 16, 8, 4);
        prep_read(sv[0], buf + 32, 8, 5);
        t_submit_n(&ring, 3);
        nothing_more("three empty files");
        t_assert(write(nbp[1], "nb", 2) == 2, "write");
        reap("nonblocking pipe", 1);
        t_assert(write(sv[1], "sock", 4) == 4, "write");
        reap("socket", 1);
        t_assert(write(pfd[1], "hello", 5) == 5, "write");
        reap("pipe", 1);
        printf("data: %.5s %.2s %.4s\n", buf, buf + 16, buf + 32);

        /* A full pipe's write waits for room. */
        fcntl(pfd[1], F_SETFL, O_NONBLOCK);
        memset(big, 'x', sizeof(big));
        ssize_t filled = 0, n;
        while ((n = write(pfd[1], big, sizeof(big))) > 0)
                filled += n;
        fcntl(pfd[1], F_SETFL, 0);
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, pfd[1], "tail", 4, 0);
        sqe->user_data = 6;
        t_submit_n(&ring, 1);
        nothing_more("write to a full pipe");
        while (filled > 0) {
                n = read(pfd[0], big, sizeof(big) < (size_t) filled ? sizeof(big) : (size_t) filled);
                t_assert(n > 0, "read");
                filled -= n;
        }
        reap("write after room", 1);
        t_assert(read(pfd[0], buf, 4) == 4 && !memcmp(buf, "tail", 4), "the write's data");

        /* Cancelled while waiting: by user_data, by fd, by a LINK_TIMEOUT. */
        prep_read(pfd[0], buf, 8, 7);
        prep_read(sv[0], buf, 8, 8);
        t_submit_n(&ring, 2);
        nothing_more("two waiting reads");
        sqe = t_get_sqe(&ring);
        io_uring_prep_cancel64(sqe, 7, 0);
        sqe->user_data = 9;
        sqe = t_get_sqe(&ring);
        io_uring_prep_cancel_fd(sqe, sv[0], 0);
        sqe->user_data = 10;
        t_submit_n(&ring, 2);
        reap("cancel", 4);

        struct __kernel_timespec lt = { .tv_nsec = 30 * 1000 * 1000 };
        sqe = prep_read(pfd[0], buf, 8, 11);
        sqe->flags |= IOSQE_IO_LINK;
        sqe = t_get_sqe(&ring);
        io_uring_prep_link_timeout(sqe, &lt, 0);
        sqe->user_data = 12;
        t_submit_n(&ring, 2);
        reap("link timeout", 2);

        /* Still waiting when the ring goes: nothing leaks, nothing hangs. */
        prep_read(pfd[0], buf, 8, 13);
        t_submit_n(&ring, 1);
        io_uring_queue_exit(&ring);
        printf("ring closed with a read waiting\n");
        return T_EXIT_PASS;
}
