/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A forked child uses its parent's ring: it submits NOPs and a WRITE of
 * memory that only the child has (changed after the fork) to an fd that only
 * the child has (opened after the fork), reaps everything and exits. The
 * parent then sees the CQ consumed through the shared mapping, finds the
 * child's data in the file, and goes on using the ring. A second child exits
 * without touching the ring: the parent's ring is not affected.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;
static char message[64] = "parent's bytes, never written";

static int child_main(const char *path) {
        struct io_uring_cqe *cqe;

        /* Memory and an fd that the parent does not have. */
        snprintf(message, sizeof(message), "written by the child");
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return 10;

        for (int i = 0; i < 4; i++) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                if (!sqe)
                        return 11;
                io_uring_prep_nop(sqe);
                sqe->user_data = 100 + i;
        }
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        if (!sqe)
                return 11;
        io_uring_prep_write(sqe, fd, message, (unsigned) strlen(message), 0);
        sqe->user_data = 200;
        if (io_uring_submit_and_wait(&ring, 5) != 5)
                return 12;

        int n = 0, wres = -1;
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                if (cqe->user_data == 200)
                        wres = cqe->res;
                else if (cqe->user_data < 100 || cqe->user_data > 103 || cqe->res != 0)
                        return 13;
                io_uring_cqe_seen(&ring, cqe);
                n++;
        }
        if (n != 5)
                return 14;
        if (wres != (int) strlen(message))
                return 15;
        close(fd);
        return 0;
}

int main(void) {
        char path[600], back[64];
        int status;

        t_backend();
        t_ring_init(&ring, 8, NULL);
        int fd = t_tmpfile("fork", O_RDWR | O_TRUNC, path, sizeof(path));

        /* The parent uses the ring before the fork. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 1;
        t_submit_n(&ring, 1);
        struct io_uring_cqe c = t_wait_one(&ring);
        t_print_cqe("parent before fork", &c);

        fflush(stdout);
        pid_t pid = fork();
        t_assert(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(child_main(path));
        t_assert(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        printf("child exit: %s %d\n", WIFEXITED(status) ? "status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        t_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");

        /* The child's head/tail moves are visible here. */
        unsigned sq_tail = IO_URING_READ_ONCE(*ring.sq.ktail);
        unsigned sq_head = io_uring_smp_load_acquire(ring.sq.khead);
        unsigned cq_head = IO_URING_READ_ONCE(*ring.cq.khead);
        unsigned cq_tail = io_uring_smp_load_acquire(ring.cq.ktail);
        printf("after child: sq head=%u tail=%u, cq head=%u tail=%u\n", sq_head, sq_tail, cq_head, cq_tail);

        ssize_t n = pread(fd, back, sizeof(back) - 1, 0);
        t_assert(n >= 0, "pread: %m");
        back[n] = 0;
        printf("file holds \"%s\"\n", back);
        printf("parent's memory still \"%s\"\n", message);

        /* liburing keeps the SQ tail in the struct too: the parent's copy is
         * stale after the child submitted through the same ring. */
        ring.sq.sqe_head = ring.sq.sqe_tail = sq_tail;

        for (int i = 0; i < 3; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 300 + i;
        }
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, back, 7, 0);
        sqe->user_data = 400;
        t_submit_n(&ring, 4);
        /* Completion order is not defined: print by user_data. */
        struct io_uring_cqe got[4];
        for (int i = 0; i < 4; i++)
                got[i] = t_wait_one(&ring);
        for (uint64_t ud = 300; ud <= 400; ud++)
                for (int i = 0; i < 4; i++)
                        if (got[i].user_data == ud)
                                t_print_cqe("parent after child", &got[i]);

        /* A child that exits at once, ring untouched; and one that closes the
         * ring fd and unmaps first: the parent's ring must not notice. */
        for (int k = 0; k < 2; k++) {
                fflush(stdout);
                pid = fork();
                t_assert(pid >= 0, "fork: %m");
                if (pid == 0) {
                        if (k == 1)
                                io_uring_queue_exit(&ring);
                        _exit(0);
                }
                t_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status), "waitpid");
                sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 500 + k;
                t_submit_n(&ring, 1);
                c = t_wait_one(&ring);
                t_print_cqe(k ? "after child that closed the ring" : "after idle child", &c);
        }

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
