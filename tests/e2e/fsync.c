/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FSYNC and FSYNC with IORING_FSYNC_DATASYNC on written files, with a range,
 * on a read-only fd, on a pipe and on bad fds; a WRITE followed by FSYNC in
 * one submission (each its own CQE); SYNC_FILE_RANGE with its flags.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;
static uint64_t next_ud = 1;

static void one(const char *what, struct io_uring_sqe *sqe) {
        char b[32];
        uint64_t ud = next_ud++;

        sqe->user_data = ud;
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_assert(cqe.user_data == ud, "user_data");
        printf("%-36s res=%s\n", what, t_res(cqe.res, b));
}

int main(void) {
        static unsigned char data[1 << 20];
        struct io_uring_sqe *sqe;
        char path[600];
        int fd, pfd[2];

        t_backend();
        t_ring_init(&ring, 8, NULL);
        fd = t_tmpfile("sync", O_RDWR | O_TRUNC, path, sizeof(path));
        t_fill(data, sizeof(data), 3);

        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, data, sizeof(data), 0);
        one("write 1 MiB", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, 0);
        one("fsync", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, data, 4096, 8192);
        one("overwrite 4 KiB", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        one("fdatasync", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        sqe->off = 8192;
        sqe->len = 4096;
        one("fdatasync range 8192+4096", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, 0);
        sqe->off = 0;
        sqe->len = 0;
        one("fsync range 0+0 (whole file)", sqe);

        int ro = open(path, O_RDONLY | O_CLOEXEC);
        t_assert(ro >= 0, "open: %m");
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, ro, 0);
        one("fsync on a read-only fd", sqe);

        t_assert(pipe2(pfd, O_CLOEXEC) == 0, "pipe: %m");
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, pfd[1], 0);
        one("fsync on a pipe", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, -1, 0);
        one("fsync on fd -1", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, 9999, IORING_FSYNC_DATASYNC);
        one("fdatasync on fd 9999", sqe);

        /* Registered file. */
        printf("register files: %s\n", t_res(io_uring_register_files(&ring, &fd, 1), (char[32]) { 0 }));
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, 0, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("fsync of fixed file 0", sqe);

        /* WRITE and FSYNC in one submission, not linked: both complete. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, data, 100, 0);
        sqe->user_data = 500;
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, 0);
        sqe->user_data = 501;
        t_submit_n(&ring, 2);
        int res[2] = { 1, 1 };
        for (int i = 0; i < 2; i++) {
                struct io_uring_cqe c = t_wait_one(&ring);
                t_assert(c.user_data == 500 || c.user_data == 501, "user_data");
                res[c.user_data - 500] = c.res;
        }
        printf("batch write res=%d fsync res=%d\n", res[0], res[1]);

        /* SYNC_FILE_RANGE: len in sqe->len, offset in sqe->off, flags in
         * sync_range_flags. */
        const unsigned wait_all = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, fd, 4096, 8192, SYNC_FILE_RANGE_WRITE);
        one("sync_file_range WRITE 8192+4096", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, fd, 0, 0, wait_all);
        one("sync_file_range all, whole file", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, fd, 0, 0, 0);
        one("sync_file_range no flags", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, fd, 100, 0, 1u << 4);
        one("sync_file_range unknown flag", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, pfd[1], 100, 0, SYNC_FILE_RANGE_WRITE);
        one("sync_file_range on a pipe", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, 9999, 100, 0, SYNC_FILE_RANGE_WRITE);
        one("sync_file_range on fd 9999", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_sync_file_range(sqe, ro, 100, 0, SYNC_FILE_RANGE_WRITE);
        one("sync_file_range on a read-only fd", sqe);

        uint64_t size;
        uint32_t crc = t_file_crc(fd, &size);
        printf("file now size=%llu crc32c=%08x\n", (unsigned long long) size, crc);

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
