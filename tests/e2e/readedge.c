/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The edges of the fast read paths (batched page-cache reads, O_DIRECT
 * through AIO), buffered and O_DIRECT alike:
 *   eof       short reads at and past EOF, in one batch
 *   fault     reads into unmapped memory (-EFAULT), and into a buffer
 *             whose second page is unmapped (the prefix), writes from it
 *   truncate  reads racing a thread that truncates and refills the file:
 *             every result is within the request and every byte returned
 *             is the file's or zero (what a truncation can leave)
 *   split     batches large enough for the daemon to share them between
 *             two threads (rw-batch.c), with EOF, a fault, an unmapped
 *             buffer and pages not in the page cache in either share,
 *             many rounds: every round must give the first one's results
 * Prints per-request results; the race prints only its verdict.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define PAGE 4096
#define FILE_SIZE (4 * PAGE + 1000) /* buffered: the last page short */
#define DIRECT_SIZE (4 * PAGE)
#define RACE_SIZE (64 * PAGE)
#define RACE_ROUNDS 300
#define QD 16
#define SPLIT_N 24                      /* reads of SPLIT_LEN per batch */
#define SPLIT_LEN (2 * PAGE)
#define SPLIT_FILE (40 * PAGE + 1000)   /* the last page short */
#define SPLIT_ROUNDS 200

static unsigned char pattern[RACE_SIZE];

static int open_file(const char *name, size_t size, bool direct) {
        char path[512];
        int fd = t_tmpfile(name, O_RDWR | O_TRUNC, path, sizeof(path));

        t_assert(pwrite(fd, pattern, size, 0) == (ssize_t) size, "pwrite: %m");
        t_assert(fsync(fd) == 0, "fsync: %m");
        if (!direct)
                return fd;
        close(fd);
        fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (fd < 0 && errno == EINVAL) {
                printf("O_DIRECT: not supported here\n");
                return -1;
        }
        t_assert(fd >= 0, "open O_DIRECT: %m");
        return fd;
}

/* Queue reads of (offset, length) pairs, all in one submission. */
static void read_batch(struct io_uring *ring, const char *tag, int fd, void *buf,
                       const uint64_t (*req)[2], unsigned n) {
        struct io_uring_cqe cqes[QD];

        for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(ring);
                io_uring_prep_read(sqe, fd, (char *) buf + (size_t) i * 2 * PAGE, (unsigned) req[i][1], req[i][0]);
                sqe->user_data = i;
        }
        t_submit_n(ring, (int) n);
        for (unsigned i = 0; i < n; i++) {
                struct io_uring_cqe c = t_wait_one(ring);
                cqes[c.user_data] = c;
        }
        for (unsigned i = 0; i < n; i++) {
                const unsigned char *p = (const unsigned char *) buf + (size_t) i * 2 * PAGE;
                int res = cqes[i].res;
                bool same = res <= 0 || memcmp(p, pattern + req[i][0], (size_t) res) == 0;

                printf("%s off=%llu len=%llu ", tag, (unsigned long long) req[i][0],
                       (unsigned long long) req[i][1]);
                t_print_cqe(same ? "data=ok" : "data=WRONG", &cqes[i]);
        }
}

static void test_eof(struct io_uring *ring, void *buf) {
        static const uint64_t breq[][2] = {
                { 0, PAGE }, { 3 * PAGE, 2 * PAGE }, { 4 * PAGE, PAGE }, { FILE_SIZE, PAGE },
                { FILE_SIZE - 1, PAGE }, { 100 * PAGE, PAGE }, { 2 * PAGE + 10, 100 },
        };
        static const uint64_t dreq[][2] = {
                { 0, PAGE }, { 3 * PAGE, 2 * PAGE }, { DIRECT_SIZE, PAGE }, { 100 * PAGE, PAGE },
                { 10, PAGE }, /* misaligned: -EINVAL */
        };
        int fd;

        fd = open_file("eof", FILE_SIZE, false);
        read_batch(ring, "buffered", fd, buf, breq, sizeof(breq) / sizeof(breq[0]));
        close(fd);
        fd = open_file("eof-direct", DIRECT_SIZE, true);
        if (fd >= 0) {
                read_batch(ring, "direct", fd, buf, dreq, sizeof(dreq) / sizeof(dreq[0]));
                close(fd);
        }
}

/* Reads and writes whose app buffer is (partly) not mapped. */
static void test_fault(struct io_uring *ring, bool direct) {
        const char *tag = direct ? "direct" : "buffered";
        char *map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int fd = open_file(direct ? "fault-direct" : "fault", 4 * PAGE, direct);
        struct { const char *what; char *addr; unsigned len; bool write; } cases[] = {
                { "read-unmapped", map + PAGE, PAGE, false },
                { "read-half-mapped", map, 2 * PAGE, false },
                { "write-unmapped", map + PAGE, PAGE, true },
                { "write-half-mapped", map, 2 * PAGE, true },
                { "read-mapped", map + 2 * PAGE, PAGE, false },
        };

        t_assert(map != MAP_FAILED, "mmap: %m");
        if (fd < 0)
                return;
        /* The middle page goes away: [0] mapped, [1] not, [2] mapped. */
        t_assert(munmap(map + PAGE, PAGE) == 0, "munmap: %m");
        for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct io_uring_sqe *sqe = t_get_sqe(ring);
                char label[64];

                if (cases[i].write)
                        io_uring_prep_write(sqe, fd, cases[i].addr, cases[i].len, PAGE);
                else
                        io_uring_prep_read(sqe, fd, cases[i].addr, cases[i].len, 0);
                sqe->user_data = i;
                t_submit_n(ring, 1);
                struct io_uring_cqe c = t_wait_one(ring);
                snprintf(label, sizeof(label), "%s %s", tag, cases[i].what);
                t_print_cqe(label, &c);
        }
        printf("%s mapped page intact: %s\n", tag,
               memcmp(map + 2 * PAGE, pattern, PAGE) == 0 ? "yes" : "no");
        munmap(map, PAGE);
        munmap(map + 2 * PAGE, PAGE);
        close(fd);
}

static volatile int race_stop;

static void *truncator(void *arg) {
        int fd = *(int *) arg;

        while (!race_stop) {
                if (ftruncate(fd, RACE_SIZE / 3) < 0 || ftruncate(fd, 0) < 0 ||
                    pwrite(fd, pattern, RACE_SIZE, 0) != RACE_SIZE)
                        break;
        }
        return NULL;
}

static void test_truncate(struct io_uring *ring, void *buf) {
        int fd = open_file("truncate", RACE_SIZE, false);
        unsigned bad = 0, rounds = 0;
        pthread_t th;

        t_assert(pthread_create(&th, NULL, truncator, &fd) == 0, "pthread_create");
        for (; rounds < RACE_ROUNDS; rounds++) {
                for (unsigned i = 0; i < QD; i++) {
                        struct io_uring_sqe *sqe = t_get_sqe(ring);
                        uint64_t off = (uint64_t) ((rounds * 7 + i * 13) % 64) * PAGE;
                        io_uring_prep_read(sqe, fd, (char *) buf + (size_t) i * PAGE, PAGE, off);
                        sqe->user_data = off;
                }
                t_submit_n(ring, QD);
                for (unsigned i = 0; i < QD; i++) {
                        struct io_uring_cqe c = t_wait_one(ring);
                        /* Which buffer: the one queued i-th; find it by offset. */
                        if (c.res < 0 || c.res > PAGE) {
                                fprintf(stderr, "race: res %d\n", c.res);
                                bad++;
                        }
                }
                /* Every byte of every buffer: the file's, or zero. */
                for (unsigned i = 0; i < QD; i++) {
                        uint64_t off = (uint64_t) ((rounds * 7 + i * 13) % 64) * PAGE;
                        const unsigned char *p = (const unsigned char *) buf + (size_t) i * PAGE;
                        for (unsigned k = 0; k < PAGE; k++)
                                if (p[k] != pattern[off + k] && p[k] != 0 && p[k] != 0xa5) {
                                        bad++;
                                        break;
                                }
                }
                memset(buf, 0xa5, QD * PAGE);
        }
        race_stop = 1;
        pthread_join(th, NULL);
        printf("truncate race: %u rounds, %s\n", rounds, bad ? "WRONG results" : "results ok");
        close(fd);
}

/* The odd reads of a split batch, at @base in it (once in each share). */
static void split_odd_reads(uint64_t (*req)[2], char **dst, unsigned base, char *hole) {
        req[base][0] = SPLIT_FILE - 1000;       /* short: EOF inside */
        req[base + 1][0] = SPLIT_FILE + PAGE;   /* past EOF: 0 */
        dst[base + 2] = hole - PAGE;            /* second page unmapped: the prefix */
        dst[base + 3] = hole;                   /* unmapped: -EFAULT */
        req[base + 4][0] = 32 * PAGE;           /* not in the page cache */
}

/* A buffer of three pages whose middle one is unmapped; returns the hole. */
static char *split_holed(void) {
        char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        t_assert(m != MAP_FAILED, "mmap: %m");
        t_assert(munmap(m + PAGE, PAGE) == 0, "munmap: %m");
        return m + PAGE;
}

static void test_split(struct io_uring *ring) {
        char path[512];
        int fd = t_tmpfile("split", O_RDWR | O_TRUNC, path, sizeof(path));
        char *bufs = NULL, *dst[SPLIT_N];
        uint64_t req[SPLIT_N][2];
        int first[SPLIT_N];
        unsigned differ = 0, wrong = 0;

        t_assert(pwrite(fd, pattern, SPLIT_FILE, 0) == (ssize_t) SPLIT_FILE, "pwrite: %m");
        t_assert(fsync(fd) == 0, "fsync: %m");
        t_assert(posix_memalign((void **) &bufs, PAGE, SPLIT_N * SPLIT_LEN) == 0, "posix_memalign");
        for (unsigned i = 0; i < SPLIT_N; i++) {
                req[i][0] = (uint64_t) ((i * 7) % 30) * PAGE;
                req[i][1] = SPLIT_LEN;
                dst[i] = bufs + (size_t) i * SPLIT_LEN;
        }
        split_odd_reads(req, dst, 2, split_holed());
        split_odd_reads(req, dst, SPLIT_N - 6, split_holed());

        for (unsigned round = 0; round < SPLIT_ROUNDS; round++) {
                struct io_uring_cqe cqes[SPLIT_N];

                /* The page-cache misses: dropped again every round. */
                t_assert(posix_fadvise(fd, 32 * PAGE, SPLIT_LEN, POSIX_FADV_DONTNEED) == 0, "fadvise");
                for (unsigned i = 0; i < SPLIT_N; i++) {
                        struct io_uring_sqe *sqe = t_get_sqe(ring);
                        io_uring_prep_read(sqe, fd, dst[i], (unsigned) req[i][1], req[i][0]);
                        sqe->user_data = i;
                }
                t_submit_n(ring, SPLIT_N);
                /* Printed in submission order: the order of completion of
                 * independent requests is nobody's promise. */
                for (unsigned i = 0; i < SPLIT_N; i++) {
                        struct io_uring_cqe c = t_wait_one(ring);
                        cqes[c.user_data] = c;
                }
                for (unsigned i = 0; i < SPLIT_N; i++) {
                        int res = cqes[i].res;
                        size_t n = res > 0 ? (size_t) res : 0;

                        if (round == 0) {
                                char label[64];
                                snprintf(label, sizeof(label), "split off=%llu", (unsigned long long) req[i][0]);
                                t_print_cqe(label, &cqes[i]);
                                first[i] = res;
                        } else if (res != first[i])
                                differ++;
                        if (n && memcmp(dst[i], pattern + req[i][0], n) != 0)
                                wrong++;
                        if (n)
                                memset(dst[i], 0xa5, n);
                }
        }
        printf("split: %u rounds, %s, %s\n", SPLIT_ROUNDS, differ ? "results DIFFER between rounds" : "same results",
               wrong ? "data WRONG" : "data ok");
        free(bufs);
        close(fd);
}

int main(int argc, char *argv[]) {
        const char *mode = argc > 1 ? argv[1] : "eof";
        struct io_uring ring;
        void *buf;

        t_fill(pattern, sizeof(pattern), 42);
        for (size_t i = 0; i < sizeof(pattern); i++)
                if (pattern[i] == 0 || pattern[i] == 0xa5)
                        pattern[i] = 1; /* zero and the poison mark no file byte */
        t_ring_init(&ring, 32, NULL);
        t_assert(posix_memalign(&buf, PAGE, 2 * QD * PAGE) == 0, "posix_memalign");
        memset(buf, 0xa5, 2 * QD * PAGE);

        if (strcmp(mode, "eof") == 0)
                test_eof(&ring, buf);
        else if (strcmp(mode, "fault") == 0) {
                test_fault(&ring, false);
                test_fault(&ring, true);
        } else if (strcmp(mode, "truncate") == 0)
                test_truncate(&ring, buf);
        else if (strcmp(mode, "split") == 0)
                test_split(&ring);
        else
                t_fail("unknown mode %s", mode);

        io_uring_queue_exit(&ring);
        free(buf);
        return T_EXIT_PASS;
}
