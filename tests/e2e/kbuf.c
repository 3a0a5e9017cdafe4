/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Provided buffers (the legacy kind): PROVIDE_BUFFERS and REMOVE_BUFFERS
 * with their errors, READ and READV with IOSQE_BUFFER_SELECT taking
 * buffers first in, first out (IORING_CQE_F_BUFFER and the id in the CQE),
 * -ENOBUFS on an empty group, -EOPNOTSUPP where the op takes none, and a
 * pipe read that waits giving its buffer back until data comes.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;
static char pool[16][8];

static void run(const char *tag) {
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        char b[32];

        printf("%s: res %s", tag, t_res(cqe.res, b));
        if (cqe.flags & IORING_CQE_F_BUFFER)
                printf(" buffer %u", cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        if (cqe.flags & ~(IORING_CQE_F_BUFFER | (0xffffu << IORING_CQE_BUFFER_SHIFT)))
                printf(" flags 0x%x", cqe.flags);
        printf("\n");
}

static void provide(int nr, int bgid, int bid, int len, const char *tag) {
        io_uring_prep_provide_buffers(t_get_sqe(&ring), pool[bid % 16], len, nr, bgid, bid);
        run(tag);
}

static void remove_bufs(int nr, int bgid, const char *tag) {
        io_uring_prep_remove_buffers(t_get_sqe(&ring), nr, bgid);
        run(tag);
}

static void read_select(int fd, unsigned len, int bgid, off_t off, const char *tag) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, NULL, len, off);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = (uint16_t) bgid;
        run(tag);
}

int main(void) {
        struct io_uring_params p = {};
        int pfd[2];

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&ring, 8, &p);
        int fd = t_tmpfile("kbuf-data", O_RDWR, NULL, 0);
        t_assert(pwrite(fd, "abcdefghijklmnopqrstuvwxyz0123456789", 36, 0) == 36, "pwrite");
        t_assert(pipe(pfd) == 0, "pipe");

        remove_bufs(1, 3, "remove from a missing group");
        provide(0, 3, 0, 8, "provide none");
        provide(4, 3, 0, 0, "provide zero length");
        provide(4, 3, 10, 8, "provide 4");
        for (int i = 0; i < 5; i++)
                read_select(fd, 6, 3, i * 6, "read with a buffer");
        printf("buffers hold: %.6s %.6s %.6s %.6s\n", pool[10], pool[11], pool[12], pool[13]);
        remove_bufs(4, 3, "remove from an empty group");
        provide(3, 3, 0, 8, "provide 3 more");
        remove_bufs(1, 3, "remove 1");
        read_select(fd, 0, 3, 0, "read, whole buffer");
        read_select(fd, 4, 7, 0, "read from another group");

        struct iovec iov[2] = { { NULL, 5 }, { NULL, 5 } };
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, iov, 1, 20);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 3;
        run("readv, one iovec");
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, iov, 2, 20);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 3;
        run("readv, two iovecs");
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, NULL, 4, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        run("write with buffer select");

        /* A waiting pipe read gives its buffer back: a read that is ready
         * later still gets the first one. */
        provide(2, 5, 4, 8, "provide 2 to group 5");
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, pfd[0], NULL, 8, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 5;
        sqe->user_data = 77;
        t_submit_n(&ring, 1);
        usleep(50 * 1000);
        t_assert(write(pfd[1], "pipe", 4) == 4, "write");
        struct io_uring_cqe cqe = t_wait_one(&ring);
        printf("pipe read: res %d buffer %u\n", cqe.res, cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
