/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_SETUP_SQPOLL: submissions without io_uring_enter while the poller
 * is awake, IORING_SQ_NEED_WAKEUP once it has idled for sq_thread_idle, a
 * wake-up through IORING_ENTER_SQ_WAKEUP (liburing does it), a plain fd
 * (IORING_FEAT_SQPOLL_NONFIXED), and the setup rules: SQ_AFF needs a possible
 * CPU and SQPOLL, SQPOLL refuses COOP_TASKRUN.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static int setup_errno(unsigned flags, unsigned cpu) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags;
        p.sq_thread_cpu = cpu;
        long r = syscall(__NR_io_uring_setup, 4, &p);
        if (r >= 0) {
                close((int) r);
                return 0;
        }
        return -errno;
}

static void reap_sorted(const char *tag, int n) {
        int seen[64] = { 0 };
        char b[32];

        for (int i = 0; i < n; i++) {
                struct io_uring_cqe cqe = t_wait_one(&ring);
                t_assert(cqe.user_data < 64, "user_data %llu", (unsigned long long) cqe.user_data);
                seen[cqe.user_data] = cqe.res == 0 ? 1 : cqe.res;
        }
        printf("%s:", tag);
        for (int i = 0; i < 64; i++)
                if (seen[i])
                        printf(" %d=%s", i, t_res(seen[i] == 1 ? 0 : seen[i], b));
        printf("\n");
}

static bool need_wakeup(void) {
        return __atomic_load_n(ring.sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP;
}

int main(void) {
        struct io_uring_params p;
        char path[] = "/var/tmp/uringd-sqpoll-XXXXXX", buf[16] = { 0 };
        int fd, r;
        char b[32];

        t_backend();
        printf("sq_aff cpu 4096: %s\n", t_errname(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, 4096)));
        printf("sq_aff without sqpoll: %s\n", t_errname(setup_errno(IORING_SETUP_SQ_AFF, 0)));
        printf("sqpoll + coop_taskrun: %s\n", t_errname(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_COOP_TASKRUN, 0)));
        printf("sqpoll + sq_aff cpu 0: %s\n", t_errname(setup_errno(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, 0)));

        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_SQPOLL;
        p.sq_thread_idle = 50; /* ms */
        t_ring_init(&ring, 32, &p);
        printf("sqpoll_nonfixed: %d\n", !!(p.features & IORING_FEAT_SQPOLL_NONFIXED));

        fd = mkstemp(path);
        t_assert(fd >= 0, "mkstemp");
        unlink(path);
        t_assert(write(fd, "uringd sqpoll!", 14) == 14, "write");

        for (int i = 1; i <= 8; i++) {
                struct io_uring_sqe *s = t_get_sqe(&ring);
                io_uring_prep_nop(s);
                s->user_data = (uint64_t) i;
        }
        struct io_uring_sqe *s = t_get_sqe(&ring);
        io_uring_prep_read(s, fd, buf, 14, 0);
        s->user_data = 9;
        r = io_uring_submit(&ring);
        printf("submit awake: %s\n", t_res(r, b));
        reap_sorted("awake", 9);
        printf("read: %.14s\n", buf);

        /* Idle past sq_thread_idle: the poller asks to be woken. */
        for (int i = 0; i < 100 && !need_wakeup(); i++)
                usleep(20 * 1000);
        printf("need_wakeup after idle: %d\n", need_wakeup());

        for (int i = 10; i < 14; i++) {
                s = t_get_sqe(&ring);
                io_uring_prep_nop(s);
                s->user_data = (uint64_t) i;
        }
        r = io_uring_submit(&ring); /* sees NEED_WAKEUP: enters with SQ_WAKEUP */
        printf("submit after wake-up: %s\n", t_res(r, b));
        reap_sorted("woken", 4);

        io_uring_queue_exit(&ring);
        close(fd);
        return T_EXIT_PASS;
}
