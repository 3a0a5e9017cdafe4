/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Malformed SQEs: each one alone (one submit, one CQE, its res printed), then
 * a batch in which an SQE fails before it is issued: the kernel stops the
 * submission there and leaves the rest in the SQ.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

#define BUFSZ 8192

static struct io_uring ring;
static uint64_t next_ud = 1;

/* Submit the prepared @sqe alone and print its CQE. */
static void one(const char *what, struct io_uring_sqe *sqe) {
        char b[32];
        uint64_t ud = next_ud++;

        sqe->user_data = ud;
        int r = io_uring_submit(&ring);
        if (r != 1) {
                printf("%-46s submit=%s\n", what, t_res(r, b));
                return;
        }
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_assert(cqe.user_data == ud, "%s: user_data %llu, wanted %llu", what,
                 (unsigned long long) cqe.user_data, (unsigned long long) ud);
        printf("%-46s res=%s flags=0x%x\n", what, t_res(cqe.res, b), cqe.flags);
}

int main(void) {
        struct io_uring_sqe *sqe;
        static unsigned char buf[BUFSZ], regbuf[BUFSZ];
        char b[32];
        int fd, rofd, wofd;

        t_backend();
        t_ring_init(&ring, 8, NULL);

        fd = t_tmpfile("f", O_RDWR | O_TRUNC, NULL, 0);
        t_fill(buf, BUFSZ, 9);
        t_assert(pwrite(fd, buf, BUFSZ, 0) == BUFSZ, "pwrite: %m");
        char path[600];
        int tmp = t_tmpfile("f", O_RDONLY, path, sizeof(path));
        close(tmp);
        rofd = open(path, O_RDONLY | O_CLOEXEC);
        wofd = open(path, O_WRONLY | O_CLOEXEC);
        t_assert(rofd >= 0 && wofd >= 0, "open: %m");

        /* A sane one first, as a reference. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 100, 0);
        one("good READ", sqe);

        /* SQE flag bits nobody knows (bit 7 is unused up to 6.18). */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->flags = 1 << 7;
        one("NOP with sqe flag bit 7", sqe);

        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 100, 0);
        sqe->flags = 0x80;
        one("READ with sqe flag bit 7", sqe);

        /* Opcodes nobody knows. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->opcode = 255;
        one("opcode 255", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->opcode = 200;
        one("opcode 200", sqe);

        /* Bad fds. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 9999, buf, 100, 0);
        one("READ fd 9999", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, -5, buf, 100, 0);
        one("WRITE fd -5", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, wofd, buf, 100, 0);
        one("READ on O_WRONLY fd", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, rofd, buf, 100, 0);
        one("WRITE on O_RDONLY fd", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, 9999, 0);
        one("FSYNC fd 9999", sqe);

        /* Unmapped memory. */
        /* The read-only page first: a later mmap could reuse the hole. */
        long pg = sysconf(_SC_PAGESIZE);
        void *ro = mmap(NULL, (size_t) pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(ro != MAP_FAILED, "mmap: %m");
        void *hole = mmap(NULL, (size_t) pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(hole != MAP_FAILED, "mmap: %m");
        t_assert(munmap(hole, (size_t) pg) == 0, "munmap: %m");
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, hole, 100, 0);
        one("READ into unmapped memory", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, hole, 100, 0);
        one("WRITE from unmapped memory", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, (void *) 8, 100, 0);
        one("READ into address 8", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, ro, 100, 0);
        one("READ into read-only memory", sqe);

        /* Vectored oddities. */
        struct iovec iov[2] = { { buf, 10 }, { buf + 10, 10 } };
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, (struct iovec *) hole, 1, 0);
        one("READV with unmapped iovec array", sqe);
        struct iovec bad_iov[2] = { { buf, 10 }, { hole, 10 } };
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, bad_iov, 2, 0);
        one("READV with 2nd iovec unmapped", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, iov, 1025, 0);
        one("READV with 1025 iovecs", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_readv(sqe, fd, iov, 0, 0);
        one("READV with 0 iovecs", sqe);

        /* Zero-length I/O and reads past the end. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 0, 0);
        one("READ of 0 bytes", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 100, 1 << 30);
        one("READ past EOF", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 100, (uint64_t) -2);
        one("READ at offset -2", sqe);

        /* Unknown RWF_* bits in rw_flags. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buf, 100, 0);
        sqe->rw_flags = 1 << 30;
        one("READ with rw_flags bit 30", sqe);
        /* Unknown fsync flags. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_fsync(sqe, fd, 0);
        sqe->fsync_flags = 1 << 5;
        one("FSYNC with fsync_flags bit 5", sqe);

        /* A personality that was never registered. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->personality = 77;
        one("NOP with personality 77", sqe);

        /* Fixed files: none registered, then out of range. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 0, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("FIXED_FILE 0, no table", sqe);
        int files[2] = { fd, rofd };
        printf("register 2 files: %s\n", t_res(io_uring_register_files(&ring, files, 2), b));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 1, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("FIXED_FILE 1 (good)", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 2, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("FIXED_FILE 2 (out of range)", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 1000000, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("FIXED_FILE 1000000", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, -1, buf, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        one("FIXED_FILE -1", sqe);

        /* Fixed buffers: none registered, then out of bounds. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf, 10, 0, 0);
        one("READ_FIXED, no buffers registered", sqe);
        struct iovec reg = { regbuf + 4096, 4096 };
        printf("register 1 buffer: %s\n", t_res(io_uring_register_buffers(&ring, &reg, 1), b));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 4096, 4096, 0, 0);
        one("READ_FIXED whole buffer (good)", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 4096 + 4000, 97, 0, 0);
        one("READ_FIXED one byte past the end", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 4095, 10, 0, 0);
        one("READ_FIXED one byte before the start", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 8192, 1, 0, 0);
        one("READ_FIXED starting at the end", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf, 10, 0, 0);
        one("READ_FIXED entirely before", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write_fixed(sqe, fd, (void *) (uintptr_t) -4096, 100, 0, 0);
        one("WRITE_FIXED at a wrapping address", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 4096, 10, 0, 1);
        one("READ_FIXED buf_index 1 (out of range)", sqe);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fd, regbuf + 4096, 10, 0, 65535);
        one("READ_FIXED buf_index 65535", sqe);

        /* A batch: NOP, opcode 255, NOP, NOP. Without IORING_SETUP_SUBMIT_ALL
         * the kernel stops at the SQE that fails before issue. */
        const int ops[4] = { IORING_OP_NOP, 255, IORING_OP_NOP, IORING_OP_NOP };
        for (int i = 0; i < 4; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->opcode = (uint8_t) ops[i];
                sqe->user_data = 1000 + i;
        }
        int r = io_uring_submit(&ring);
        printf("batch [NOP, op255, NOP, NOP]: submit=%s left in SQ=%u\n", t_res(r, b), io_uring_sq_ready(&ring));
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                t_print_cqe("  batch cqe", cqe);
                io_uring_cqe_seen(&ring, cqe);
        }
        r = io_uring_submit(&ring);
        printf("resubmit: submit=%s left in SQ=%u\n", t_res(r, b), io_uring_sq_ready(&ring));
        for (int i = 0; i < r; i++) {
                struct io_uring_cqe c = t_wait_one(&ring);
                t_print_cqe("  resubmit cqe", &c);
        }

        /* The same with a bad fd: that fails at issue, not before, so the
         * whole batch goes in. */
        for (int i = 0; i < 3; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_read(sqe, i == 1 ? 9999 : fd, buf, 10, 0);
                sqe->user_data = 2000 + i;
        }
        r = io_uring_submit_and_wait(&ring, 3);
        printf("batch [READ, READ fd 9999, READ]: submit=%s left in SQ=%u\n", t_res(r, b), io_uring_sq_ready(&ring));
        /* Order of completions is not defined here: print sorted. */
        int res[3] = { 1, 1, 1 };
        for (int i = 0; i < 3; i++) {
                struct io_uring_cqe c = t_wait_one(&ring);
                t_assert(c.user_data >= 2000 && c.user_data < 2003, "user_data");
                res[c.user_data - 2000] = c.res;
        }
        for (int i = 0; i < 3; i++)
                printf("  batch read %d res=%s\n", i, t_res(res[i], b));

        /* The ring still works. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        one("final NOP", sqe);

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
