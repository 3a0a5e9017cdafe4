/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File copy through the ring, pipelined on a small ring so that reads and
 * writes interleave and the queue refills: `copy rw` with READ/WRITE,
 * `copy vec` with READV/WRITEV over uneven iovecs (one of length zero).
 * Prints per-block results in block order and the checksums of both files.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

#define BLOCK 65536
#define FILE_SIZE (16 * BLOCK + 3001) /* last block short */
#define NBLOCKS ((FILE_SIZE + BLOCK - 1) / BLOCK)
#define QD 8

/* Uneven pieces of one block; the sum is BLOCK. */
static const size_t piece_len[] = { 512, 0, 3584, 8192, 4096, 49152 };
#define NPIECES (sizeof(piece_len) / sizeof(piece_len[0]))

enum { IDLE, READING, WRITING, DONE };

struct block {
        int state;
        int read_res, write_res;
        unsigned char *buf;
        struct iovec iov[NPIECES];
        unsigned niov;
};

static bool vectored;

static unsigned block_len(unsigned i) {
        return i == NBLOCKS - 1 ? FILE_SIZE - (NBLOCKS - 1) * BLOCK : BLOCK;
}

/* The iovecs of block @i covering @len bytes (the last iovec trimmed). */
static void build_iov(struct block *b, size_t len) {
        size_t off = 0;

        b->niov = 0;
        for (size_t k = 0; k < NPIECES && off < len; k++) {
                size_t l = piece_len[k];
                if (l > len - off)
                        l = len - off;
                b->iov[b->niov++] = (struct iovec) { .iov_base = b->buf + off, .iov_len = l };
                off += l;
        }
}

static void queue_io(struct io_uring *ring, struct block *blocks, unsigned i, int fd, bool write) {
        struct io_uring_sqe *sqe = t_get_sqe(ring);
        struct block *b = &blocks[i];
        uint64_t off = (uint64_t) i * BLOCK;
        size_t len = write ? (size_t) b->read_res : block_len(i);

        if (vectored) {
                build_iov(b, len);
                if (write)
                        io_uring_prep_writev(sqe, fd, b->iov, b->niov, off);
                else
                        io_uring_prep_readv(sqe, fd, b->iov, b->niov, off);
        } else {
                if (write)
                        io_uring_prep_write(sqe, fd, b->buf, (unsigned) len, off);
                else
                        io_uring_prep_read(sqe, fd, b->buf, (unsigned) len, off);
        }
        /* user_data: block number, high bit for writes */
        sqe->user_data = i | (write ? 1ULL << 63 : 0);
        b->state = write ? WRITING : READING;
}

int main(int argc, char **argv) {
        struct io_uring ring;
        static struct block blocks[NBLOCKS];
        unsigned char *src_data;
        int src, dst;
        unsigned next_read = 0, done = 0, inflight = 0;

        if (argc != 2 || (strcmp(argv[1], "rw") && strcmp(argv[1], "vec"))) {
                fprintf(stderr, "usage: %s rw|vec\n", argv[0]);
                return T_EXIT_FAIL;
        }
        vectored = strcmp(argv[1], "vec") == 0;
        t_backend();

        /* The source, written with plain syscalls. */
        src = t_tmpfile("src", O_RDWR | O_TRUNC, NULL, 0);
        dst = t_tmpfile("dst", O_RDWR | O_TRUNC, NULL, 0);
        src_data = malloc(FILE_SIZE);
        t_assert(src_data, "malloc");
        t_fill(src_data, FILE_SIZE, 1234);
        t_assert(pwrite(src, src_data, FILE_SIZE, 0) == FILE_SIZE, "pwrite src: %m");

        for (unsigned i = 0; i < NBLOCKS; i++) {
                blocks[i].buf = malloc(BLOCK);
                t_assert(blocks[i].buf, "malloc");
                memset(blocks[i].buf, 0xee, BLOCK);
        }

        t_ring_init(&ring, QD, NULL);
        printf("copy mode=%s blocks=%u size=%u\n", argv[1], NBLOCKS, FILE_SIZE);

        while (done < NBLOCKS) {
                struct io_uring_cqe *cqe;
                int r;

                while (next_read < NBLOCKS && inflight < QD) {
                        queue_io(&ring, blocks, next_read++, src, false);
                        inflight++;
                }
                r = io_uring_submit_and_wait(&ring, 1);
                if (r < 0)
                        t_fail("io_uring_submit_and_wait: %s", strerror(-r));

                /* Reap whatever is there; writes go out on the next pass. */
                while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                        uint64_t ud = cqe->user_data;
                        int res = cqe->res;
                        unsigned i = (unsigned) (ud & ~(1ULL << 63));
                        io_uring_cqe_seen(&ring, cqe);

                        t_assert(i < NBLOCKS, "CQE with unknown user_data %llu", (unsigned long long) ud);
                        struct block *b = &blocks[i];
                        if (ud >> 63) {
                                t_assert(b->state == WRITING, "write CQE for block %u in state %d", i, b->state);
                                b->write_res = res;
                                b->state = DONE;
                                done++;
                                inflight--;
                        } else {
                                t_assert(b->state == READING, "read CQE for block %u in state %d", i, b->state);
                                b->read_res = res;
                                if (res <= 0) {
                                        b->state = DONE;
                                        done++;
                                        inflight--;
                                } else {
                                        /* Same slot in flight: the write replaces the read. */
                                        queue_io(&ring, blocks, i, dst, true);
                                }
                        }
                }
        }

        int bad = 0;
        char b1[32], b2[32];
        for (unsigned i = 0; i < NBLOCKS; i++) {
                printf("block %u read=%s write=%s\n", i, t_res(blocks[i].read_res, b1),
                       t_res(blocks[i].write_res, b2));
                if (blocks[i].read_res != (int) block_len(i) || blocks[i].write_res != (int) block_len(i))
                        bad++;
        }

        uint64_t ssize, dsize;
        uint32_t scrc = t_file_crc(src, &ssize), dcrc = t_file_crc(dst, &dsize);
        printf("src size=%llu crc32c=%08x\n", (unsigned long long) ssize, scrc);
        printf("dst size=%llu crc32c=%08x\n", (unsigned long long) dsize, dcrc);
        printf("copy %s\n", scrc == dcrc && ssize == dsize && !bad ? "identical" : "DIFFERS");

        io_uring_queue_exit(&ring);
        if (bad || scrc != dcrc || ssize != dsize) {
                fprintf(stderr, "copy failed: %d bad blocks, crc %08x vs %08x\n", bad, scrc, dcrc);
                return T_EXIT_FAIL;
        }
        return T_EXIT_PASS;
}
