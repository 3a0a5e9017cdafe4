/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ring teardown: 10,000 cycles of setup / mmap / close / munmap (half of them
 * munmap before close), after a warm-up of 1,000. Every 100th ring runs a NOP
 * first. Nothing may accumulate: not our fds, not our RSS, and under uringd
 * not the daemon's RSS (VmRSS of $URINGD_DAEMON_PID, +2 MiB at most) nor its
 * fds; and the daemon must still serve a ring afterwards.
 * Usage: teardown [CYCLES]
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define WARMUP 1000
#define RSS_SLACK_KB 2048
#define FD_SLACK 16

static void msleep(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static int count_pid_fds(int pid) {
        char path[64];
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        DIR *d = opendir(path);
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* One ring's life, with raw syscalls. */
static void cycle(unsigned i) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        int fd = (int) syscall(__NR_io_uring_setup, 8, &p);
        if (fd < 0) {
                if (errno == ENOSYS || errno == EPERM) {
                        if (t_backend() == T_KERNEL && i == 0) {
                                fprintf(stderr, "SKIP: kernel io_uring unavailable\n");
                                exit(T_EXIT_SKIP);
                        }
                }
                t_fail("cycle %u: io_uring_setup: %m", i);
        }
        if (i % 100 == 0 && !t_ring_origin_ok(fd))
                t_fail("cycle %u: wrong backend", i);

        size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
        size_t sqes_sz = p.sq_entries * sizeof(struct io_uring_sqe);
        void *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
        void *cq = mmap(NULL, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        void *sqes = mmap(NULL, sqes_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
        if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
                t_fail("cycle %u: mmap: %m", i);

        if (i % 100 == 0) {
                /* A NOP through the raw ring. */
                unsigned *ktail = (unsigned *) ((char *) sq + p.sq_off.tail);
                unsigned *mask = (unsigned *) ((char *) sq + p.sq_off.ring_mask);
                unsigned *array = (unsigned *) ((char *) sq + p.sq_off.array);
                unsigned tail = *ktail;
                struct io_uring_sqe *sqe = (struct io_uring_sqe *) sqes + (tail & *mask);
                memset(sqe, 0, sizeof(*sqe));
                sqe->opcode = IORING_OP_NOP;
                sqe->user_data = i;
                array[tail & *mask] = tail & *mask;
                __atomic_store_n(ktail, tail + 1, __ATOMIC_RELEASE);
                long r = syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
                if (r != 1)
                        t_fail("cycle %u: enter returned %ld: %m", i, r);
                unsigned *chead = (unsigned *) ((char *) cq + p.cq_off.head);
                unsigned *ctail = (unsigned *) ((char *) cq + p.cq_off.tail);
                unsigned *cmask = (unsigned *) ((char *) cq + p.cq_off.ring_mask);
                unsigned h = *chead;
                if (__atomic_load_n(ctail, __ATOMIC_ACQUIRE) == h)
                        t_fail("cycle %u: no CQE after enter", i);
                struct io_uring_cqe *cqe = (struct io_uring_cqe *) ((char *) cq + p.cq_off.cqes) + (h & *cmask);
                if (cqe->user_data != i || cqe->res != 0)
                        t_fail("cycle %u: CQE user_data=%llu res=%d", i, (unsigned long long) cqe->user_data,
                               cqe->res);
                __atomic_store_n(chead, h + 1, __ATOMIC_RELEASE);
        }

        if (i & 1) {
                munmap(sq, sq_sz);
                munmap(cq, cq_sz);
                munmap(sqes, sqes_sz);
                close(fd);
        } else {
                close(fd);
                munmap(sq, sq_sz);
                munmap(cq, cq_sz);
                munmap(sqes, sqes_sz);
        }
}

/* The lowest of several samples over ~2 s: teardown may lag a little. */
static long settled_kb(int pid, const char *field, long ceiling) {
        long best = -1;
        for (int k = 0; k < 20; k++) {
                long v = t_proc_status_kb(pid, field);
                if (v >= 0 && (best < 0 || v < best))
                        best = v;
                if (best >= 0 && best <= ceiling)
                        break;
                msleep(100);
        }
        return best;
}

static int settled_fds(int pid, int ceiling) {
        int best = -1;
        for (int k = 0; k < 20; k++) {
                int v = count_pid_fds(pid);
                if (v >= 0 && (best < 0 || v < best))
                        best = v;
                if (best >= 0 && best <= ceiling)
                        break;
                msleep(100);
        }
        return best;
}

int main(int argc, char **argv) {
        unsigned cycles = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 10000;
        int daemon_pid = 0;
        int bad = 0;

        enum t_backend be = t_backend();
        if (be == T_URINGD) {
                const char *e = getenv("URINGD_DAEMON_PID");
                daemon_pid = e ? atoi(e) : 0;
                if (daemon_pid <= 0)
                        t_fail("URINGD_DAEMON_PID is not set: uringd-run must export it");
                if (kill(daemon_pid, 0) < 0)
                        t_fail("daemon pid %d: %m", daemon_pid);
        }

        for (unsigned i = 0; i < WARMUP; i++)
                cycle(i);

        unsigned fds0 = t_count_fds();
        long self0 = t_proc_status_kb(getpid(), "VmRSS");
        long drss0 = 0;
        int dfds0 = 0;
        if (daemon_pid) {
                drss0 = settled_kb(daemon_pid, "VmRSS", 0);
                dfds0 = settled_fds(daemon_pid, 0);
                if (drss0 < 0 || dfds0 < 0)
                        t_fail("cannot read /proc/%d", daemon_pid);
        }

        for (unsigned i = 0; i < cycles; i++)
                cycle(WARMUP + i);
        printf("cycles %u done\n", cycles);

        unsigned fds1 = t_count_fds();
        long self1 = t_proc_status_kb(getpid(), "VmRSS");
        printf("own fds grew: %s\n", fds1 > fds0 ? "YES" : "no");
        bad += fds1 > fds0;
        fprintf(stderr, "own VmRSS %ld -> %ld kB\n", self0, self1);
        printf("own RSS grew more than 2 MiB: %s\n", self1 - self0 > RSS_SLACK_KB ? "YES" : "no");
        bad += self1 - self0 > RSS_SLACK_KB;

        if (daemon_pid) {
                long drss1 = settled_kb(daemon_pid, "VmRSS", drss0 + RSS_SLACK_KB);
                int dfds1 = settled_fds(daemon_pid, dfds0 + FD_SLACK);
                fprintf(stderr, "daemon %d: VmRSS %ld -> %ld kB, fds %d -> %d\n", daemon_pid, drss0, drss1,
                        dfds0, dfds1);
                if (drss1 < 0 || drss1 - drss0 > RSS_SLACK_KB) {
                        fprintf(stderr, "FAIL: daemon RSS grew by %ld kB over %u cycles\n", drss1 - drss0, cycles);
                        bad++;
                }
                if (dfds1 < 0 || dfds1 - dfds0 > FD_SLACK) {
                        fprintf(stderr, "FAIL: daemon fds grew by %d over %u cycles\n", dfds1 - dfds0, cycles);
                        bad++;
                }
                if (kill(daemon_pid, 0) < 0) {
                        fprintf(stderr, "FAIL: daemon %d is gone: %m\n", daemon_pid);
                        bad++;
                }
        }

        /* Still served: a fresh ring does a NOP (and the origin check). */
        struct io_uring ring;
        t_ring_init(&ring, 4, NULL);
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 12345;
        t_submit_n(&ring, 1);
        struct io_uring_cqe c = t_wait_one(&ring);
        t_print_cqe("after teardown", &c);
        io_uring_queue_exit(&ring);

        return bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
