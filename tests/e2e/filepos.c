/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * off = -1: READ, WRITE, READV and WRITEV at the file position, which must
 * advance exactly as read(2)/write(2) would, be shared with a dup()ed fd
 * (same open file description) and be left alone by explicit offsets.
 * One request at a time: concurrent ones at the file position have no
 * defined order, on the kernel either.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static int run(struct io_uring_sqe *sqe, uint64_t ud) {
        sqe->user_data = ud;
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_assert(cqe.user_data == ud, "user_data %llu, wanted %llu",
                 (unsigned long long) cqe.user_data, (unsigned long long) ud);
        return cqe.res;
}

static long pos(int fd) {
        return (long) lseek(fd, 0, SEEK_CUR);
}

static void report(const char *what, int res, int fd) {
        char b[32];
        printf("%-28s res=%s pos=%ld\n", what, t_res(res, b), pos(fd));
}

int main(void) {
        struct io_uring_params p = { 0 };
        unsigned char data[20000], back[20000];
        struct io_uring_sqe *sqe;
        int fd, dupfd, res;

        t_backend();
        t_ring_init(&ring, 8, &p);
        printf("feature rw_cur_pos=%d\n", !!(p.features & IORING_FEAT_RW_CUR_POS));

        t_fill(data, sizeof(data), 77);
        fd = t_tmpfile("pos", O_RDWR | O_TRUNC, NULL, 0);
        dupfd = dup(fd);
        t_assert(dupfd >= 0, "dup: %m");

        /* Sequential writes at the position. */
        for (int i = 0; i < 3; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_write(sqe, fd, data + i * 1000, 1000, (uint64_t) -1);
                res = run(sqe, 10 + i);
                report("write 1000 at pos", res, fd);
        }
        printf("dup sees pos=%ld\n", pos(dupfd));

        /* A write through the dup continues at the shared position. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, dupfd, data + 3000, 2000, (uint64_t) -1);
        res = run(sqe, 20);
        report("write 2000 via dup", res, fd);

        /* An explicit offset neither uses nor moves the position. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, data + 15000, 5000, 15000);
        res = run(sqe, 21);
        report("write 5000 at off 15000", res, fd);

        /* WRITEV at the position, three iovecs. */
        struct iovec wv[3] = {
                { data + 5000, 100 }, { data + 5100, 0 }, { data + 5100, 9900 },
        };
        sqe = t_get_sqe(&ring);
        io_uring_prep_writev(sqe, fd, wv, 3, (uint64_t) -1);
        res = run(sqe, 22);
        report("writev 10000 at pos", res, fd);

        /* Read it all back at the position, in odd chunks, then EOF. */
        t_assert(lseek(fd, 0, SEEK_SET) == 0, "lseek: %m");
        memset(back, 0, sizeof(back));
        size_t got = 0;
        for (int i = 0; got < sizeof(back) && i < 16; i++) {
                size_t want = sizeof(back) - got < 7000 ? sizeof(back) - got : 7000;
                sqe = t_get_sqe(&ring);
                io_uring_prep_read(sqe, fd, back + got, (unsigned) want, (uint64_t) -1);
                res = run(sqe, 30 + i);
                report("read up to 7000 at pos", res, fd);
                if (res <= 0)
                        break;
                got += (size_t) res;
        }
        /* At EOF: a read at the position returns 0 and keeps it. */
        unsigned char spare[16];
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, spare, sizeof(spare), (uint64_t) -1);
        res = run(sqe, 50);
        report("read at eof", res, fd);

        printf("readback %s crc32c=%08x\n", got == sizeof(data) && !memcmp(back, data, sizeof(data)) ? "matches" : "DIFFERS",
               t_crc32c(0, back, got));
        t_assert(got == sizeof(data) && !memcmp(back, data, sizeof(data)), "read-back differs (%zu bytes)", got);

        /* READV at the position from the middle, through the dup. */
        t_assert(lseek(dupfd, 4000, SEEK_SET) == 4000, "lseek: %m");
        memset(back, 0, sizeof(back));
        struct iovec rv[3] = { { back, 1 }, { back + 1, 999 }, { back + 1000, 3000 } };
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, dupfd, rv, 3, (uint64_t) -1);
        res = run(sqe, 60);
        report("readv 4000 via dup at 4000", res, fd);
        printf("readv data %s\n", res == 4000 && !memcmp(back, data + 4000, 4000) ? "matches" : "DIFFERS");
        t_assert(res == 4000 && !memcmp(back, data + 4000, 4000), "readv data differs");

        /* An explicit offset 0 read leaves the position at 8000. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, back, 100, 0);
        res = run(sqe, 61);
        report("read 100 at off 0", res, fd);

        /* Interleaving with plain read(2) on the same description. */
        t_assert(read(fd, back, 500) == 500, "read: %m");
        report("after read(2) of 500", 0, fd);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, back, 500, (uint64_t) -1);
        res = run(sqe, 62);
        report("read 500 at pos", res, fd);
        printf("data at 8500 %s\n", res == 500 && !memcmp(back, data + 8500, 500) ? "matches" : "DIFFERS");
        t_assert(res == 500 && !memcmp(back, data + 8500, 500), "read at 8500 differs");

        /* O_APPEND: a write at the position lands at the end. */
        int afd = t_tmpfile("pos", O_WRONLY | O_APPEND, NULL, 0);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, afd, "appended", 8, (uint64_t) -1);
        res = run(sqe, 70);
        report("append write at pos", res, afd);

        /* File position on a non-seekable file: a pipe with off = -1. */
        int pfd[2];
        t_assert(pipe2(pfd, O_CLOEXEC) == 0, "pipe: %m");
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, pfd[1], "pipe!", 5, (uint64_t) -1);
        res = run(sqe, 80);
        printf("pipe write res=%s\n", t_res(res, (char[32]) { 0 }));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, pfd[0], back, 100, (uint64_t) -1);
        res = run(sqe, 81);
        printf("pipe read res=%s data=%.5s\n", t_res(res, (char[32]) { 0 }), res == 5 ? (char *) back : "?");

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
