/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_SETUP_SQ_AFF: the SQ poller runs on sq_thread_cpu.
 *
 * The poller is found where each backend keeps it: on the kernel, the
 * "iou-sqp-<pid>" thread of this process; under uringd, the daemon's event
 * loop (its main thread, $URINGD_DAEMON_PID), which is the poller. While the
 * ring is awake that thread's allowed CPUs must be exactly {cpu} and the
 * CPU it last ran on must be cpu; after the ring is gone, uringd's loop must
 * be free again. The setup rules are compared too: a CPU past the possible
 * ones is -EINVAL; a CPU outside this thread's affinity (but in its cpuset)
 * is accepted; SQ_AFF on a ring attached to another poller is not looked at.
 * (A CPU outside the cpuset is -EINVAL on both, checked by hand: a test
 * would have to create a cgroup.)
 */

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static int setup_errno(unsigned flags, unsigned cpu, int wq_fd) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags;
        p.sq_thread_cpu = cpu;
        p.wq_fd = wq_fd;
        long r = syscall(__NR_io_uring_setup, 4, &p);
        if (r >= 0) {
                close((int) r);
                return 0;
        }
        return -errno;
}

/* The poller's pid/tid, or -1. */
static pid_t find_poller(pid_t *ret_pid) {
        if (t_backend() == T_URINGD) {
                const char *e = getenv("URINGD_DAEMON_PID");
                t_assert(e, "URINGD_DAEMON_PID is not set");
                *ret_pid = (pid_t) atoi(e);
                return *ret_pid;
        }

        char prefix[32], path[300], comm[32];
        pid_t tid = -1;
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;

        t_assert(d, "opendir: %m");
        snprintf(prefix, sizeof(prefix), "iou-sqp-%d", (int) getpid());
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
                FILE *f = fopen(path, "re");
                if (!f)
                        continue;
                if (fgets(comm, sizeof(comm), f) && strncmp(comm, prefix, strlen(prefix)) == 0)
                        tid = (pid_t) atoi(de->d_name);
                fclose(f);
        }
        closedir(d);
        *ret_pid = getpid();
        return tid;
}

/* Field 39 of /proc/PID/task/TID/stat: the CPU the thread last ran on. */
static int last_cpu(pid_t pid, pid_t tid) {
        char path[64], buf[1024];
        FILE *f;
        int cpu = -1;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) tid);
        f = fopen(path, "re");
        t_assert(f, "open %s: %m", path);
        if (fgets(buf, sizeof(buf), f)) {
                /* After the command name, which may hold spaces: field 3 on. */
                char *s = strrchr(buf, ')');
                int field = 2;
                for (char *tok = s ? strtok(s + 1, " ") : NULL; tok; tok = strtok(NULL, " "))
                        if (++field == 39) {
                                cpu = atoi(tok);
                                break;
                        }
        }
        fclose(f);
        return cpu;
}

static bool only_cpu(pid_t tid, int cpu) {
        cpu_set_t set;
        t_assert(sched_getaffinity(tid, sizeof(set), &set) == 0, "sched_getaffinity(%d): %m", (int) tid);
        return CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

int main(void) {
        struct io_uring ring;
        struct io_uring_params p;
        cpu_set_t mine, one;
        pid_t pid, tid;
        int cpu = -1, r;
        char b[32];

        if (get_nprocs() < 2) {
                fprintf(stderr, "SKIP: one CPU\n");
                return T_EXIT_SKIP;
        }
        t_assert(sched_getaffinity(0, sizeof(mine), &mine) == 0, "sched_getaffinity: %m");
        for (int i = 0; i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &mine))
                        cpu = i;        /* the last one we may use */

        /* The rules. */
        printf("cpu past the possible ones: %s\n",
               t_res(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, (unsigned) get_nprocs_conf(), 0), b));
        printf("SQ_AFF without SQPOLL: %s\n", t_res(setup_errno(IORING_SETUP_SQ_AFF, 0, 0), b));

        /* Not in this thread's affinity, but in its cpuset: the kernel checks
         * the cpuset only. */
        CPU_ZERO(&one);
        for (int i = 0; i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &mine) && i != cpu) {
                        CPU_SET(i, &one);
                        break;
                }
        t_assert(sched_setaffinity(0, sizeof(one), &one) == 0, "sched_setaffinity: %m");
        printf("cpu outside the thread's affinity: %s\n",
               t_res(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, (unsigned) cpu, 0), b));
        t_assert(sched_setaffinity(0, sizeof(mine), &mine) == 0, "sched_setaffinity: %m");

        /* A pinned poller, awake for 5 s after its last work. */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned) cpu;
        p.sq_thread_idle = 5000;
        t_ring_init(&ring, 8, &p);

        /* Attached rings share the poller: their SQ_AFF is not looked at. */
        printf("attached, cpu past the possible ones: %s\n",
               t_res(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_ATTACH_WQ,
                                 (unsigned) get_nprocs_conf(), ring.ring_fd), b));

        for (int round = 0; round < 20; round++) {
                for (int i = 0; i < 4; i++) {
                        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                        io_uring_prep_nop(sqe);
                        sqe->user_data = (uint64_t) i;
                }
                /* With SQPOLL, liburing reports the SQEs not yet consumed:
                 * the kernel's poller may post CQEs before it moves the SQ
                 * head, so the last round's can still be counted. */
                r = io_uring_submit(&ring);
                t_assert(r >= 4 && r <= 8, "submit: %d", r);
                for (int i = 0; i < 4; i++) {
                        struct io_uring_cqe cqe = t_wait_one(&ring);
                        t_assert(cqe.res == 0, "nop: %d", cqe.res);
                }
        }

        tid = find_poller(&pid);
        t_assert(tid > 0, "no poller thread found");
        printf("poller allowed only on cpu: %s\n", only_cpu(tid, cpu) ? "yes" : "no");
        printf("poller last ran on cpu: %s\n", last_cpu(pid, tid) == cpu ? "yes" : "no");

        io_uring_queue_exit(&ring);

        /* uringd's loop serves everyone: once the ring is gone it must not
         * stay pinned (the kernel's thread is simply gone). */
        if (t_backend() == T_URINGD) {
                bool freed = false;
                for (int i = 0; i < 100 && !freed; i++) {
                        cpu_set_t set;
                        t_assert(sched_getaffinity(tid, sizeof(set), &set) == 0, "sched_getaffinity: %m");
                        freed = CPU_COUNT(&set) > 1;
                        if (!freed)
                                sleep_ms(20);
                }
                t_assert(freed, "the daemon's loop stayed pinned after the ring was released");
        }
        return T_EXIT_PASS;
}
