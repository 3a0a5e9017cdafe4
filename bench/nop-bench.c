/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nop-bench: the NOP microbenchmark of bench/run, and the memory-per-ring
 * probe. Runs the same on the kernel's io_uring and under uringd-run; one
 * mode per process, so that bench/run can charge the CPU time of the whole
 * process tree (the daemon included) to that mode. Prints one JSON object.
 *
 *   nop-bench batch N SECONDS     submit N NOPs, wait for N, repeat
 *   nop-bench sqpoll N SECONDS    the same on an SQPOLL ring, reaping by
 *                                 polling the CQ ring (no syscall)
 *   nop-bench roundtrip SECONDS   submit 1 + wait 1 NOP in one enter; the
 *                                 latency of each enter is recorded
 *   nop-bench rings N             set up N rings of 64 entries and report
 *                                 the daemon's RSS growth (URINGD_DAEMON_PID)
 */

#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void queue_nops(struct io_uring *ring, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = i;
        }
}

/* Reap @n CQEs; returns -errno from the first failed CQE or wait. */
static int reap(struct io_uring *ring, unsigned n, bool spin) {
        while (n > 0) {
                struct io_uring_cqe *cqes[64];
                unsigned got = io_uring_peek_batch_cqe(ring, cqes, n < 64 ? n : 64);

                if (got == 0) {
                        if (spin)
                                continue;
                        struct io_uring_cqe *cqe;
                        int r = io_uring_wait_cqe(ring, &cqe);
                        if (r < 0)
                                return r;
                        continue;
                }
                for (unsigned i = 0; i < got; i++)
                        if (cqes[i]->res < 0)
                                return cqes[i]->res;
                io_uring_cq_advance(ring, got);
                n -= got;
        }
        return 0;
}

static int run_batch(const char *mode, bool sqpoll, unsigned batch, double seconds) {
        struct io_uring_params p = {};
        struct io_uring ring;
        uint64_t start, end, ops = 0, *lat;
        size_t nlat = 0;
        int r;

        if (sqpoll) {
                p.flags = IORING_SETUP_SQPOLL;
                p.sq_thread_idle = 1000;
        }
        r = io_uring_queue_init_params(batch < 64 ? 64 : batch * 2, &ring, &p);
        if (r < 0) {
                fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
                return r == -EINVAL || r == -EPERM ? 77 : 1;
        }
        lat = malloc(MAX_SAMPLES * sizeof(*lat));
        if (!lat)
                return 1;

        start = now_ns();
        end = start + (uint64_t) (seconds * 1e9);
        for (uint64_t t = start; t < end;) {
                uint64_t t0 = t;

                queue_nops(&ring, batch);
                if (sqpoll) {
                        r = io_uring_submit(&ring);
                        if (r >= 0)
                                r = reap(&ring, batch, true);
                } else {
                        r = io_uring_submit_and_wait(&ring, batch);
                        if (r >= 0)
                                r = reap(&ring, batch, false);
                }
                if (r < 0) {
                        fprintf(stderr, "NOP: %s\n", strerror(-r));
                        return 1;
                }
                ops += batch;
                t = now_ns();
                if (nlat < MAX_SAMPLES)
                        lat[nlat++] = t - t0;
        }
        print_result(mode, batch, ops, now_ns() - start, lat, nlat);
        io_uring_queue_exit(&ring);
        free(lat);
        return 0;
}

/* One trapped io_uring_enter per NOP: submit 1 and wait for it. */
static int run_roundtrip(double seconds) {
        return run_batch("roundtrip", false, 1, seconds);
}

static long rss_kib(pid_t pid, const char *field) {
        char path[64], line[256];
        long v = -1;
        size_t l = strlen(field);
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, l) == 0 && line[l] == ':') {
                        v = strtol(line + l + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static int run_rings(unsigned n) {
        const char *s = getenv("URINGD_DAEMON_PID");
        struct rlimit rl;
        struct io_uring *rings;
        long anon0, file0, shm0, anon1, file1, shm1;
        pid_t pid;

        if (!s) {
                fprintf(stderr, "rings: not under uringd-run (no URINGD_DAEMON_PID)\n");
                return 77;
        }
        pid = (pid_t) atoi(s);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        rings = calloc(n, sizeof(*rings));
        if (!rings)
                return 1;
        /* One ring first: the daemon's per-process state is not per ring. */
        if (io_uring_queue_init(64, &rings[0], 0) < 0)
                return 1;
        anon0 = rss_kib(pid, "RssAnon");
        file0 = rss_kib(pid, "RssFile");
        shm0 = rss_kib(pid, "RssShmem");
        for (unsigned i = 1; i < n; i++) {
                int r = io_uring_queue_init(64, &rings[i], 0);
                if (r < 0) {
                        fprintf(stderr, "ring %u: %s\n", i, strerror(-r));
                        return 1;
                }
                /* Used once, as a real ring would be. */
                queue_nops(&rings[i], 1);
                r = io_uring_submit_and_wait(&rings[i], 1);
                if (r < 0 || reap(&rings[i], 1, false) < 0)
                        return 1;
        }
        anon1 = rss_kib(pid, "RssAnon");
        file1 = rss_kib(pid, "RssFile");
        shm1 = rss_kib(pid, "RssShmem");
        printf("{\"mode\": \"rings\", \"rings\": %u, \"daemon_rss_anon_kib\": %ld, "
               "\"daemon_rss_file_kib\": %ld, \"daemon_rss_shmem_kib\": %ld, "
               "\"anon_kib_per_ring\": %.2f, \"file_kib_per_ring\": %.2f, \"shmem_kib_per_ring\": %.2f}\n",
               n, anon1, file1, shm1, (double) (anon1 - anon0) / (n - 1), (double) (file1 - file0) / (n - 1),
               (double) (shm1 - shm0) / (n - 1));
        for (unsigned i = 0; i < n; i++)
                io_uring_queue_exit(&rings[i]);
        free(rings);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc >= 4 && strcmp(argv[1], "batch") == 0)
                return run_batch("batch", false, (unsigned) atoi(argv[2]), atof(argv[3]));
        if (argc >= 4 && strcmp(argv[1], "sqpoll") == 0)
                return run_batch("sqpoll", true, (unsigned) atoi(argv[2]), atof(argv[3]));
        if (argc >= 3 && strcmp(argv[1], "roundtrip") == 0)
                return run_roundtrip(atof(argv[2]));
        if (argc >= 3 && strcmp(argv[1], "rings") == 0 && atoi(argv[2]) > 1)
                return run_rings((unsigned) atoi(argv[2]));
        fprintf(stderr, "usage: nop-bench batch|sqpoll N SECONDS | roundtrip SECONDS | rings N\n");
        return 2;
}
