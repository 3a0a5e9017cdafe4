/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_SETUP_IOPOLL: only NOP and the read/write ops are allowed (the
 * others complete -EINVAL), buffered files answer -EOPNOTSUPP, and an
 * O_DIRECT write completes only when the app reaps with GETEVENTS (a peek
 * right after the submit finds nothing; NOPs are there at once).
 *
 * An O_DIRECT read is left out: its result depends on whether the block
 * device has poll queues (-EOPNOTSUPP on this kernel's virtio disks).
 */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

int main(void) {
        struct io_uring_params p = { .flags = IORING_SETUP_IOPOLL };
        struct __kernel_timespec ts = { .tv_nsec = 1000000 };
        char path[4096], *buf;
        char b[32];

        setvbuf(stdout, NULL, _IOLBF, 0);
        t_ring_init(&ring, 8, &p);
        int fd = t_tmpfile("iopoll-data", O_RDWR, path, sizeof(path));
        t_assert(posix_memalign((void **) &buf, 4096, 8192) == 0, "posix_memalign");
        memset(buf, 'a', 8192);
        t_assert(pwrite(fd, buf, 8192, 0) == 8192 && fsync(fd) == 0, "pwrite");
        int dfd = open(path, O_RDWR | O_DIRECT);
        if (dfd < 0) {
                fprintf(stderr, "no O_DIRECT here\n");
                return T_EXIT_SKIP;
        }

        static const char *names[] = { "nop", "timeout", "buffered read", "fsync", "direct write", "poll", "cancel" };
        for (int i = 0; i < 7; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                struct io_uring_cqe *cqe;

                switch (i) {
                case 0: io_uring_prep_nop(sqe); break;
                case 1: io_uring_prep_timeout(sqe, &ts, 0, 0); break;
                case 2: io_uring_prep_read(sqe, fd, buf, 4096, 0); break;
                case 3: io_uring_prep_fsync(sqe, fd, 0); break;
                case 4: io_uring_prep_write(sqe, dfd, buf, 4096, 4096); break;
                case 5: io_uring_prep_poll_add(sqe, fd, POLLIN); break;
                case 6: io_uring_prep_cancel64(sqe, 1, 0); break;
                }
                sqe->user_data = (uint64_t) i;
                int r = io_uring_submit(&ring);
                /* A successful direct write may not be reaped yet. */
                bool seen = io_uring_peek_cqe(&ring, &cqe) == 0;
                if (i == 4)
                        seen = false;
                printf("%s: submit %s, %s at once", names[i], t_res(r, b), seen ? "there" : "not there");
                t_assert(io_uring_wait_cqe(&ring, &cqe) == 0, "wait");
                printf(", res %s\n", t_res(cqe->res, b));
                io_uring_cqe_seen(&ring, cqe);
        }
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
