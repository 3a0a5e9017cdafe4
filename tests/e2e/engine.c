/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request engine, CQE by CQE in arrival order: TIMEOUT (relative,
 * absolute on each clock, counting, multishot, ETIME_SUCCESS, remove,
 * update, bad SQEs), LINK_TIMEOUT (fires, is cancelled, guards a poll and a
 * blocked pipe read), POLL_ADD (ready at once, later, multishot, hang-up,
 * regular file), POLL_REMOVE and update, ASYNC_CANCEL (by user_data, ALL,
 * ANY, FD, OP, a pending pipe read, bad SQEs) and SYNC_CANCEL.
 *
 * engine timeout|link|poll|cancel
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* Newer than Debian 12's uapi header. */
#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif
#ifndef IORING_ASYNC_CANCEL_OP
#define IORING_ASYNC_CANCEL_OP (1U << 5)
#endif

static struct io_uring ring;

/* Reap @n CQEs in arrival order, then anything else that shows up. */
static void reap(const char *tag, int n) {
        struct io_uring_cqe *cqe;
        char b[32];

        printf("%s:", tag);
        for (int i = 0; i < n; i++) {
                struct __kernel_timespec ts = { .tv_sec = 3 };
                if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts)) {
                        printf(" (missing)");
                        break;
                }
                printf(" %llu=%s", (unsigned long long) cqe->user_data, t_res(cqe->res, b));
                if (cqe->flags)
                        printf("/%#x", cqe->flags);
                io_uring_cqe_seen(&ring, cqe);
        }
        struct __kernel_timespec extra = { .tv_nsec = 30 * 1000 * 1000 };
        while (io_uring_wait_cqe_timeout(&ring, &cqe, &extra) == 0) {
                printf(" extra:%llu=%s", (unsigned long long) cqe->user_data, t_res(cqe->res, b));
                io_uring_cqe_seen(&ring, cqe);
        }
        printf("\n");
}

/* The SQE queued last, to adjust a field the prep helper set. */
static struct io_uring_sqe *last_sqe(void) {
        return &ring.sq.sqes[(ring.sq.sqe_tail - 1) & *ring.sq.kring_mask];
}

static void submit(const char *tag) {
        char b[32];
        printf("%s submit %s\n", tag, t_res(io_uring_submit(&ring), b));
}

static struct io_uring_sqe *sqe_ud(uint64_t ud, unsigned flags) {
        struct io_uring_sqe *s = t_get_sqe(&ring);
        io_uring_prep_nop(s);
        s->user_data = ud;
        s->flags = (uint8_t) flags;
        return s;
}

static void nop(uint64_t ud, unsigned flags) {
        sqe_ud(ud, flags);
}

static struct __kernel_timespec ms(long n) {
        return (struct __kernel_timespec) { .tv_sec = n / 1000, .tv_nsec = (n % 1000) * 1000000L };
}

static void timeout(struct __kernel_timespec *ts, unsigned count, unsigned flags, uint64_t ud, unsigned sflags) {
        struct io_uring_sqe *s = sqe_ud(ud, sflags);
        io_uring_prep_timeout(s, ts, count, flags);
        s->user_data = ud;
        s->flags = (uint8_t) sflags;
}

static void link_timeout(struct __kernel_timespec *ts, uint64_t ud, unsigned sflags) {
        struct io_uring_sqe *s = sqe_ud(ud, sflags);
        io_uring_prep_link_timeout(s, ts, 0);
        s->user_data = ud;
        s->flags = (uint8_t) sflags;
}

static void poll_add(int fd, unsigned events, bool multi, uint64_t ud, unsigned sflags) {
        struct io_uring_sqe *s = sqe_ud(ud, sflags);
        if (multi)
                io_uring_prep_poll_multishot(s, fd, events);
        else
                io_uring_prep_poll_add(s, fd, events);
        s->user_data = ud;
        s->flags = (uint8_t) sflags;
}

static void cancel(uint64_t target, int fd, unsigned flags, uint64_t ud) {
        struct io_uring_sqe *s = sqe_ud(ud, 0);
        io_uring_prep_cancel64(s, target, (int) flags);
        s->fd = fd;
        s->user_data = ud;
}

static struct __kernel_timespec abs_in(clockid_t clock, long msec) {
        struct timespec now;
        clock_gettime(clock, &now);
        long long ns = now.tv_nsec + msec * 1000000LL;
        return (struct __kernel_timespec) { .tv_sec = now.tv_sec + ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
}

static void test_timeout(void) {
        struct __kernel_timespec t10 = ms(10), t5s = ms(5000), t3 = ms(3), bad = { .tv_sec = -1 };

        timeout(&t10, 0, 0, 1, 0);
        submit("rel");
        reap("rel", 1);

        struct __kernel_timespec a1 = abs_in(CLOCK_MONOTONIC, 10);
        struct __kernel_timespec a2 = abs_in(CLOCK_BOOTTIME, 20);
        struct __kernel_timespec a3 = abs_in(CLOCK_REALTIME, 30);
        timeout(&a1, 0, IORING_TIMEOUT_ABS, 1, 0);
        timeout(&a2, 0, IORING_TIMEOUT_ABS | IORING_TIMEOUT_BOOTTIME, 2, 0);
        timeout(&a3, 0, IORING_TIMEOUT_ABS | IORING_TIMEOUT_REALTIME, 3, 0);
        submit("abs");
        reap("abs", 3);

        /* Counting: due after two more CQEs. */
        timeout(&t5s, 2, 0, 10, 0);
        submit("count");
        nop(11, 0);
        submit("count-nop1");
        nop(12, 0);
        submit("count-nop2");
        reap("count", 3);

        /* A batch's own inline CQEs are counted as the kernel counts them. */
        nop(20, 0);
        timeout(&t5s, 1, 0, 21, 0);
        nop(22, 0);
        submit("count-batch");
        reap("count-batch", 3);
        timeout(&t5s, 1, 0, 23, 0);
        submit("count-batch2");
        nop(24, 0);
        submit("count-batch2b");
        reap("count-batch2", 2);

        /* Remove, update, not found. */
        timeout(&t5s, 0, 0, 30, 0);
        submit("remove-arm");
        io_uring_prep_timeout_remove(t_get_sqe(&ring), 30, 0);
        last_sqe()->user_data = 31;
        submit("remove");
        reap("remove", 2);
        io_uring_prep_timeout_remove(t_get_sqe(&ring), 999, 0);
        last_sqe()->user_data = 32;
        submit("remove-none");
        reap("remove-none", 1);
        timeout(&t5s, 0, 0, 33, 0);
        submit("update-arm");
        io_uring_prep_timeout_update(t_get_sqe(&ring), &t10, 33, 0);
        last_sqe()->user_data = 34;
        submit("update");
        reap("update", 2);

        /* In a chain: -ETIME breaks it unless ETIME_SUCCESS. */
        timeout(&t3, 0, 0, 40, IOSQE_IO_LINK);
        nop(41, 0);
        timeout(&t3, 0, IORING_TIMEOUT_ETIME_SUCCESS, 42, IOSQE_IO_LINK);
        nop(43, 0);
        submit("chain");
        reap("chain", 4);

        /* Multishot, three times. */
        timeout(&t3, 3, IORING_TIMEOUT_MULTISHOT, 50, 0);
        submit("multishot");
        reap("multishot", 3);

        /* Bad SQEs, one per submit (a bad SQE ends its batch). */
        timeout(&t10, 0, 0, 60, 0);
        last_sqe()->len = 2;
        submit("bad-len");
        timeout(&t10, 0, 0x80, 61, 0);
        submit("bad-flags");
        timeout(&t10, 0, IORING_TIMEOUT_BOOTTIME | IORING_TIMEOUT_REALTIME, 62, 0);
        submit("bad-clocks");
        timeout(&bad, 0, 0, 63, 0);
        submit("bad-ts");
        timeout(&t10, 0, 0, 64, 0);
        last_sqe()->addr = 16;
        submit("bad-addr");
        timeout(&t10, 1, IORING_TIMEOUT_MULTISHOT | IORING_TIMEOUT_ABS, 65, 0);
        submit("bad-multi-abs");
        io_uring_prep_timeout_remove(t_get_sqe(&ring), 1, 0x40);
        last_sqe()->user_data = 66;
        submit("bad-remove-flags");
        reap("bad", 7);
}

static void test_link(void) {
        struct __kernel_timespec t10 = ms(10), t2s = ms(2000);
        int p[2];
        char c = 'x', buf[8];

        t_assert(pipe2(p, O_CLOEXEC) == 0, "pipe");

        /* The guarded poll never fires: the timeout cancels it. */
        poll_add(p[0], POLLIN, false, 1, IOSQE_IO_LINK);
        link_timeout(&t10, 2, 0);
        submit("fires");
        reap("fires", 2);

        /* The head completes first: -ECANCELED for the timeout. */
        nop(3, IOSQE_IO_LINK);
        link_timeout(&t2s, 4, 0);
        submit("head-first");
        reap("head-first", 2);

        /* A chain after the timeout goes on when the head succeeds. */
        poll_add(p[0], POLLIN, false, 5, IOSQE_IO_LINK);
        link_timeout(&t2s, 6, IOSQE_IO_LINK);
        nop(7, 0);
        submit("chain");
        t_assert(write(p[1], &c, 1) == 1, "write");
        reap("chain", 3);
        t_assert(read(p[0], buf, 1) == 1, "read");

        /* ... and is cancelled when the timeout fires. */
        poll_add(p[0], POLLIN, false, 8, IOSQE_IO_LINK);
        link_timeout(&t10, 9, IOSQE_IO_LINK);
        nop(10, 0);
        submit("chain-fires");
        reap("chain-fires", 3);

        /* A read of an empty pipe, timed out. */
        io_uring_prep_read(t_get_sqe(&ring), p[0], buf, sizeof(buf), 0);
        last_sqe()->user_data = 11;
        last_sqe()->flags = IOSQE_IO_LINK;
        link_timeout(&t10, 12, 0);
        submit("read");
        reap("read", 2);

        /* Alone, or after another LINK_TIMEOUT: -EINVAL. */
        link_timeout(&t10, 13, 0);
        submit("alone");
        reap("alone", 1);
        nop(14, IOSQE_IO_LINK);
        link_timeout(&t10, 15, IOSQE_IO_LINK);
        link_timeout(&t10, 16, 0);
        submit("double");
        reap("double", 3);

        close(p[0]);
        close(p[1]);
}

static void test_poll(void) {
        int p[2], fd;
        char c = 'x';
        char path[256];

        t_assert(pipe2(p, O_CLOEXEC) == 0, "pipe");

        poll_add(p[1], POLLOUT, false, 1, 0);
        submit("ready");
        reap("ready", 1);

        poll_add(p[0], POLLIN, false, 2, 0);
        submit("later");
        t_assert(write(p[1], &c, 1) == 1, "write");
        reap("later", 1);
        t_assert(read(p[0], &c, 1) == 1, "read");

        poll_add(p[0], POLLIN, true, 3, 0);
        submit("multi");
        for (int i = 0; i < 3; i++) {
                t_assert(write(p[1], &c, 1) == 1, "write");
                reap("multi-event", 1);
                t_assert(read(p[0], &c, 1) == 1, "read");
        }
        io_uring_prep_poll_remove(t_get_sqe(&ring), 3);
        last_sqe()->user_data = 4;
        submit("multi-remove");
        reap("multi-remove", 2);

        io_uring_prep_poll_remove(t_get_sqe(&ring), 999);
        last_sqe()->user_data = 5;
        submit("remove-none");
        reap("remove-none", 1);

        /* Update: new user_data, then new events that are ready at once. */
        poll_add(p[0], POLLIN, false, 6, 0);
        submit("upd-arm");
        io_uring_prep_poll_update(t_get_sqe(&ring), 6, 7, 0, IORING_POLL_UPDATE_USER_DATA);
        last_sqe()->user_data = 8;
        submit("upd-ud");
        reap("upd-ud", 1);
        t_assert(write(p[1], &c, 1) == 1, "write");
        reap("upd-ud-fire", 1);
        t_assert(read(p[0], &c, 1) == 1, "read");

        fd = t_tmpfile("poll-reg", O_RDWR | O_CREAT, path, sizeof(path));
        poll_add(fd, POLLIN | POLLOUT, false, 9, 0);
        poll_add(fd, POLLIN, true, 10, 0);
        submit("regular");
        reap("regular", 2);
        close(fd);

        poll_add(p[0], POLLIN, true, 11, IOSQE_CQE_SKIP_SUCCESS);
        submit("multi-skip");
        reap("multi-skip", 1);

        poll_add(p[0], POLLIN, false, 12, 0);
        submit("hangup");
        close(p[1]);
        reap("hangup", 1);
        close(p[0]);
}

static void test_cancel(void) {
        struct __kernel_timespec t5s = ms(5000);
        int p[2], q[2];
        char buf[8];

        t_assert(pipe2(p, O_CLOEXEC) == 0 && pipe2(q, O_CLOEXEC) == 0, "pipe");

        poll_add(p[0], POLLIN, false, 1, 0);
        submit("ud-arm");
        cancel(1, 0, 0, 2);
        submit("ud");
        reap("ud", 2);

        cancel(12345, 0, 0, 3);
        submit("none");
        reap("none", 1);

        timeout(&t5s, 0, 0, 4, 0);
        submit("timeout-arm");
        cancel(4, 0, 0, 5);
        submit("timeout");
        reap("timeout", 2);

        for (int i = 0; i < 3; i++)
                poll_add(p[0], POLLIN, false, 6, 0);
        submit("all-arm");
        cancel(6, 0, IORING_ASYNC_CANCEL_ALL, 7);
        submit("all");
        reap("all", 4);

        poll_add(p[0], POLLIN, false, 8, 0);
        poll_add(q[0], POLLIN, false, 9, 0);
        poll_add(p[0], POLLIN, false, 10, 0);
        submit("fd-arm");
        cancel(0, p[0], IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, 11);
        submit("fd");
        reap("fd", 3);
        cancel(0, q[0], IORING_ASYNC_CANCEL_FD, 12);
        submit("fd-one");
        reap("fd-one", 2);

        poll_add(p[0], POLLIN, false, 13, 0);
        timeout(&t5s, 0, 0, 14, 0);
        submit("op-arm");
        cancel(0, 0, IORING_ASYNC_CANCEL_OP | IORING_ASYNC_CANCEL_ALL, 15);
        last_sqe()->len = IORING_OP_TIMEOUT;
        submit("op");
        reap("op", 2);
        cancel(0, 0, IORING_ASYNC_CANCEL_ANY, 16);
        submit("any");
        reap("any", 2);

        /* A read of an empty pipe waits: cancelled cleanly. */
        io_uring_prep_read(t_get_sqe(&ring), p[0], buf, sizeof(buf), 0);
        last_sqe()->user_data = 17;
        submit("read-arm");
        usleep(20000);
        cancel(17, 0, 0, 18);
        submit("read");
        reap("read", 2);

        /* Bad SQEs, one per submit. */
        cancel(0, 0, 0x80, 19);
        submit("bad-flags");
        cancel(0, p[0], IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ANY, 20);
        submit("bad-fd-any");
        cancel(0, 9999, IORING_ASYNC_CANCEL_FD, 21);
        submit("bad-fd");
        cancel(0, 0, IORING_ASYNC_CANCEL_OP | IORING_ASYNC_CANCEL_ANY, 22);
        submit("bad-op-any");
        reap("bad", 4);

        /* SYNC_CANCEL. */
        char b[32];
        poll_add(p[0], POLLIN, false, 23, 0);
        submit("sync-arm");
        struct io_uring_sync_cancel_reg reg = { .addr = 23, .timeout = { -1, -1 } };
        printf("sync %s\n", t_res(io_uring_register_sync_cancel(&ring, &reg), b));
        reap("sync", 1);
        reg.addr = 999;
        printf("sync-none %s\n", t_res(io_uring_register_sync_cancel(&ring, &reg), b));
        reg.flags = 0x80;
        printf("sync-bad %s\n", t_res(io_uring_register_sync_cancel(&ring, &reg), b));

        close(p[0]);
        close(p[1]);
        close(q[0]);
        close(q[1]);
}

int main(int argc, char **argv) {
        t_backend();
        t_assert(argc == 2, "usage: engine timeout|link|poll|cancel");
        t_ring_init(&ring, 64, NULL);

        if (!strcmp(argv[1], "timeout"))
                test_timeout();
        else if (!strcmp(argv[1], "link"))
                test_link();
        else if (!strcmp(argv[1], "poll"))
                test_poll();
        else if (!strcmp(argv[1], "cancel"))
                test_cancel();
        else
                t_fail("unknown scenario %s", argv[1]);

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
