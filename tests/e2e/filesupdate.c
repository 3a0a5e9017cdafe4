/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_OP_FILES_UPDATE: the fixed-file table changed from an SQE, by
 * offset (with -1 and FILES_SKIP), with IORING_FILE_INDEX_ALLOC (slots
 * written back), its errors, and a READ through an updated slot.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static void update(int32_t *fds, unsigned nr, int offset, uint64_t user_data) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);

        io_uring_prep_files_update(sqe, fds, nr, offset);
        sqe->user_data = user_data;
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_print_cqe("files update", &cqe);
}

int main(void) {
        struct io_uring_params p = {};
        int32_t fds[4];
        char buf[16];
        int pfd[2];

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&ring, 8, &p);
        int fd = t_tmpfile("files-update", O_RDWR, NULL, 0);
        t_assert(pwrite(fd, "0123456789abcdef", 16, 0) == 16, "pwrite");
        t_assert(pipe(pfd) == 0, "pipe");

        fds[0] = fd;
        update(fds, 1, 0, 1); /* nothing registered: -ENXIO */

        int32_t table[4] = { -1, -1, -1, -1 };
        t_assert(io_uring_register_files(&ring, table, 4) == 0, "register files");
        fds[0] = fd;
        fds[1] = pfd[0];
        update(fds, 2, 1, 2);
        update(fds, 2, 3, 3);   /* past the end: -EINVAL */
        fds[0] = IORING_REGISTER_FILES_SKIP;
        fds[1] = -1;
        update(fds, 2, 1, 4);   /* keep slot 1, empty slot 2 */
        fds[0] = 9999;
        update(fds, 1, 0, 5);   /* a bad fd: -EBADF */

        /* Slot 1 still holds the file: read through it. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 1, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        sqe->user_data = 6;
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_print_cqe("fixed read", &cqe);
        printf("data: %.10s\n", buf);

        /* Allocation: free slots are 0, 2, 3; each index comes back. */
        fds[0] = fd;
        fds[1] = pfd[1];
        update(fds, 2, IORING_FILE_INDEX_ALLOC, 7);
        printf("allocated slots: %d %d\n", fds[0], fds[1]);
        fds[0] = fd;
        fds[1] = fd;
        update(fds, 2, IORING_FILE_INDEX_ALLOC, 8); /* one slot left */
        printf("allocated slot: %d\n", fds[0]);

        sqe = t_get_sqe(&ring);
        io_uring_prep_files_update(sqe, fds, 0, 0);
        sqe->user_data = 9;
        t_submit_n(&ring, 1);
        cqe = t_wait_one(&ring);
        t_print_cqe("zero count", &cqe);

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
