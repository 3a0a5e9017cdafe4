/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Link chains, hard links, drain and CQE_SKIP_SUCCESS, CQE by CQE: a failing
 * request breaks a soft chain (-ECANCELED for the rest) but not a hard one;
 * a bad SQE inside a chain fails the chain whole, in the kernel's order,
 * without stopping the batch; a bad SQE outside a chain stops the batch; a
 * short read breaks a chain; CQE_SKIP_SUCCESS hides successes only, and a
 * drain after it is -EOPNOTSUPP; a drain waits for everything before it;
 * an open chain at the end of a batch is issued; ioprio on NOP and an
 * unknown SQE flag are refused.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

/* Reap @n CQEs in arrival order, then anything else that shows up. */
static void reap(const char *tag, int n) {
        struct io_uring_cqe *cqe;
        char b[32];

        printf("%s:", tag);
        for (int i = 0; i < n; i++) {
                struct __kernel_timespec ts = { .tv_sec = 2 };
                if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts)) {
                        printf(" (missing)");
                        break;
                }
                printf(" %llu=%s", (unsigned long long) cqe->user_data, t_res(cqe->res, b));
                io_uring_cqe_seen(&ring, cqe);
        }
        struct __kernel_timespec extra = { .tv_nsec = 50 * 1000 * 1000 };
        while (io_uring_wait_cqe_timeout(&ring, &cqe, &extra) == 0) {
                printf(" extra:%llu=%s", (unsigned long long) cqe->user_data, t_res(cqe->res, b));
                io_uring_cqe_seen(&ring, cqe);
        }
        printf("\n");
}

static struct io_uring_sqe *nop(uint64_t ud, unsigned flags) {
        struct io_uring_sqe *s = t_get_sqe(&ring);
        io_uring_prep_nop(s);
        s->user_data = ud;
        s->flags = (uint8_t) flags;
        return s;
}

static struct io_uring_sqe *rd(int fd, void *buf, unsigned len, uint64_t off, uint64_t ud, unsigned flags) {
        struct io_uring_sqe *s = t_get_sqe(&ring);
        io_uring_prep_read(s, fd, buf, len, off);
        s->user_data = ud;
        s->flags = (uint8_t) flags;
        return s;
}

static void submit(const char *tag) {
        char b[32];
        printf("%s submit %s\n", tag, t_res(io_uring_submit(&ring), b));
}

int main(void) {
        char buf[64];
        struct io_uring_sqe *s;
        int fd;

        t_backend();
        t_ring_init(&ring, 32, NULL);
        fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
        t_assert(fd >= 0, "open /etc/passwd");

        nop(1, IOSQE_IO_LINK);
        rd(9999, buf, 8, 0, 2, IOSQE_IO_LINK);
        nop(3, 0);
        submit("soft");
        reap("soft", 3);

        nop(1, IOSQE_IO_HARDLINK);
        rd(9999, buf, 8, 0, 2, IOSQE_IO_HARDLINK);
        nop(3, 0);
        submit("hard");
        reap("hard", 3);

        nop(1, IOSQE_IO_LINK);
        s = nop(2, IOSQE_IO_LINK);
        s->opcode = 250;
        nop(3, IOSQE_IO_LINK);
        nop(4, 0);
        nop(5, 0);
        submit("prep-fail-in-chain");
        reap("prep-fail-in-chain", 5);

        s = nop(1, 0);
        s->opcode = 250;
        nop(2, 0);
        submit("bad-op-stops-batch");
        reap("bad-op-stops-batch", 1);
        submit("rest");
        reap("rest", 1);

        rd(fd, buf, 8, 0, 1, IOSQE_IO_LINK);
        rd(fd, buf, 64, 1 << 30, 2, IOSQE_IO_LINK); /* past EOF: 0 bytes, short */
        nop(3, 0);
        submit("short-read");
        reap("short-read", 3);

        nop(1, IOSQE_IO_LINK);
        submit("open-chain");
        reap("open-chain", 1);

        s = nop(1, 0);
        s->ioprio = 1;
        submit("nop-ioprio");
        reap("nop-ioprio", 1);

        nop(1, 0x80);
        submit("unknown-flag");
        reap("unknown-flag", 1);

        /* A drain waits for the reads before it; what follows waits for it. */
        for (int i = 0; i < 4; i++)
                rd(fd, buf, 8, 0, 10 + i, 0);
        nop(20, IOSQE_IO_DRAIN);
        nop(21, 0);
        nop(22, IOSQE_IO_LINK);
        nop(23, IOSQE_IO_DRAIN);
        nop(24, 0);
        submit("drain");
        reap("drain", 9);

        /* Skips last: once used, drains are refused on this ring. */
        nop(1, IOSQE_CQE_SKIP_SUCCESS);
        nop(2, 0);
        rd(9999, buf, 8, 0, 3, IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_LINK);
        nop(4, 0);
        submit("skip");
        reap("skip", 2);
        nop(1, 0);
        nop(2, IOSQE_IO_DRAIN);
        submit("drain-after-skip");
        reap("drain-after-skip", 2);

        io_uring_queue_exit(&ring);
        close(fd);
        return T_EXIT_PASS;
}
