/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A ring fd in event loops, through libc: poll/ppoll (a glib-style loop),
 * select/pselect, and epoll (level, edge, one-shot), waiting for timed
 * completions (TIMEOUTs of a few ms, NOPs, a pipe read that completes when
 * a thread writes later). What must hold, as on the kernel: POLLIN exactly
 * while CQEs wait (or the CQ overflowed), POLLOUT while the SQ has room, no
 * completion missed, and no spinning: the process's CPU time while it
 * waits stays near zero.
 *
 *   evloop poll | select | epoll
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define MS 1000000LL

/* Not constants: with _FORTIFY_SOURCE, glibc then checks the count against
 * the array in __poll_chk/__ppoll_chk, which the shim must wrap too. */
static volatile nfds_t one = 1, two = 2;

static struct io_uring ring;
static int pipefd[2];   /* written late by a thread: a read completes then */
static int quiet[2];    /* never written: a bystander fd in every wait */

static const char *mask_name(unsigned m) {
        static char buf[128];
        buf[0] = 0;
        if (m & POLLIN)
                strcat(buf, "IN|");
        if (m & POLLRDNORM)
                strcat(buf, "RDNORM|");
        if (m & POLLOUT)
                strcat(buf, "OUT|");
        if (m & POLLWRNORM)
                strcat(buf, "WRNORM|");
        if (m & POLLERR)
                strcat(buf, "ERR|");
        if (m & POLLHUP)
                strcat(buf, "HUP|");
        if (m & POLLNVAL)
                strcat(buf, "NVAL|");
        if (!buf[0])
                return "0";
        buf[strlen(buf) - 1] = 0;
        return buf;
}

static double cpu_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void prep_timeout(long long ns, uint64_t ud) {
        static struct __kernel_timespec ts[64];
        static unsigned n;
        struct __kernel_timespec *t = &ts[n++ % 64];
        t->tv_sec = ns / 1000000000LL;
        t->tv_nsec = ns % 1000000000LL;
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_timeout(sqe, t, 0, 0);
        sqe->user_data = ud;
}

static void prep_nop(uint64_t ud) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = ud;
}

static char rbuf[64];

static void prep_pipe_read(uint64_t ud) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, pipefd[0], rbuf, sizeof(rbuf), 0);
        sqe->user_data = ud;
}

/* Reap what is there without a syscall (io_uring_peek_cqe may enter). */
static int reap_all(const char *tag) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;

        io_uring_for_each_cqe(&ring, head, cqe) {
                t_print_cqe(tag, cqe);
                n++;
        }
        io_uring_cq_advance(&ring, n);
        return (int) n;
}

static void *late_writer(void *arg) {
        struct timespec ts = { .tv_nsec = (long) (intptr_t) arg * MS };
        nanosleep(&ts, NULL);
        if (write(pipefd[1], "late", 4) != 4)
                abort();
        return NULL;
}

static pthread_t start_writer(int ms) {
        pthread_t t;
        t_assert(pthread_create(&t, NULL, late_writer, (void *) (intptr_t) ms) == 0, "pthread_create");
        return t;
}

static int ppoll_ring(short events, int timeout_ms, short *revents) {
        struct pollfd p[2] = { { .fd = quiet[0], .events = POLLIN }, { .fd = ring.ring_fd, .events = events } };
        struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * MS };
        int r = ppoll(p, two, timeout_ms < 0 ? NULL : &ts, NULL);
        t_assert(r >= 0, "ppoll: %s", strerror(errno));
        t_assert(p[0].revents == 0, "the quiet pipe answered 0x%x", p[0].revents);
        *revents = p[1].revents;
        return r;
}

static void show_poll(const char *tag, short events, int timeout_ms) {
        short re;
        int r = ppoll_ring(events, timeout_ms, &re);
        printf("%s: ppoll=%d revents=%s\n", tag, r, mask_name((unsigned short) re));
}

/* The overflow flag counts as POLLIN even with the CQ empty (io_has_work()). */
static void overflow_case(void (*show)(const char *, short, int)) {
        unsigned cq = ring.cq.ring_entries;

        for (unsigned i = 0; i < cq + 2; i++) {
                prep_nop(100 + i);
                if ((i + 1) % 8 == 0 || i == cq + 1)
                        io_uring_submit(&ring);
        }
        printf("overflow flag: %s\n", (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) ? "set" : "clear");
        int n = 0;
        struct io_uring_cqe *cqe;
        unsigned head;
        io_uring_for_each_cqe(&ring, head, cqe) n++;
        io_uring_cq_advance(&ring, (unsigned) n);
        printf("reaped %d from a full CQ\n", n);
        show("overflowed, CQ empty", POLLIN, 0);
        /* Flush the overflow list into the CQ. */
        t_assert(io_uring_enter(ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL) >= 0, "enter");
        n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) n++;
        io_uring_cq_advance(&ring, (unsigned) n);
        printf("reaped %d after the flush\n", n);
        show("all reaped", POLLIN, 0);
}

/* A full SQ (tail published, nothing consumed) has no POLLOUT. */
static void sq_full_case(void (*show)(const char *, short, int)) {
        for (unsigned i = 0; i < ring.sq.ring_entries; i++)
                prep_nop(200 + i);
        io_uring_smp_store_release(ring.sq.ktail, ring.sq.sqe_tail);
        show("SQ full", POLLIN | POLLOUT, 0);
        t_assert(io_uring_submit(&ring) == (int) ring.sq.ring_entries, "submit");
        show("SQ consumed", POLLIN | POLLOUT, 0);
        printf("reaped %d\n", reap_all("sq") ? (int) ring.sq.ring_entries : 0);
}

/* A glib-style loop: ppoll on the ring and a bystander until @want CQEs. */
static void glib_loop(int want) {
        int got = 0, wakeups = 0;
        double c0 = cpu_ms(), w0 = wall_ms();

        while (got < want) {
                short re;
                int r = ppoll_ring(POLLIN, -1, &re);
                wakeups++;
                t_assert(r == 1 && (re & POLLIN), "ppoll woke with %d, revents %s", r, mask_name((unsigned short) re));
                got += reap_all("loop");
        }
        double cpu = cpu_ms() - c0, wall = wall_ms() - w0;
        fprintf(stderr, "glib loop: %d CQEs, %d wake-ups, %.1f ms wall, %.2f ms CPU\n", got, wakeups, wall, cpu);
        t_assert(wakeups <= want, "more wake-ups (%d) than CQEs (%d): a stale signal woke the loop", wakeups, want);
        t_assert(cpu < wall / 4 + 5, "the loop spun: %.1f ms CPU in %.1f ms", cpu, wall);
}

/* While the ring has nothing, a wait uses no CPU and sees nothing. */
static void idle_check(const char *what, int (*wait_ms)(int), int ms) {
        double c0 = cpu_ms(), w0 = wall_ms();
        int r = wait_ms(ms);
        double cpu = cpu_ms() - c0, wall = wall_ms() - w0;
        fprintf(stderr, "%s idle: %.1f ms wall, %.2f ms CPU\n", what, wall, cpu);
        printf("%s idle wait: %d ready\n", what, r);
        t_assert(wall >= ms * 0.9, "%s returned after %.1f of %d ms", what, wall, ms);
        t_assert(cpu < 10, "%s spun: %.1f ms CPU while idle for %.1f ms", what, cpu, wall);
}

static int poll_idle(int ms) {
        short re;
        return ppoll_ring(POLLIN, ms, &re);
}

static void *poll_thread(void *arg) {
        short *re = arg;
        ppoll_ring(POLLIN, 2000, re);
        return NULL;
}

/* Two threads asleep on one ring both wake for one CQE, as on the kernel. */
static void two_waiters(void) {
        pthread_t t[2];
        short re[2] = {};

        for (int i = 0; i < 2; i++)
                t_assert(pthread_create(&t[i], NULL, poll_thread, &re[i]) == 0, "pthread_create");
        prep_timeout(30 * MS, 50);
        io_uring_submit(&ring);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        printf("two waiters: %s, %s\n", mask_name((unsigned short) re[0]), strdup(mask_name((unsigned short) re[1])));
        reap_all("two");
}

/* A polled fd closed with a raw syscall, its number then taken by a ring:
 * the ring must not be mistaken for what the number was. */
static void reused_number(void) {
        int p[2];
        struct io_uring r2;
        struct io_uring_params params = {};

        t_assert(pipe(p) == 0, "pipe");
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        t_assert(poll(&pf, one, 0) == 0, "poll pipe");
        syscall(SYS_close, p[0]);
        t_ring_init(&r2, 4, &params);
        printf("raw close, new ring: same number %s\n", r2.ring_fd == p[0] ? "yes" : "no");
        pf = (struct pollfd) { .fd = r2.ring_fd, .events = POLLIN };
        int n = poll(&pf, one, 30);
        printf("new ring, nothing posted: poll=%d %s\n", n, mask_name((unsigned short) pf.revents));
        io_uring_queue_exit(&r2);
        close(p[1]);
}

static void run_poll(void) {
        show_poll("fresh ring", POLLIN | POLLOUT, 0);
        show_poll("fresh ring, POLLIN only", POLLIN, 0);
        idle_check("ppoll", poll_idle, 150);

        /* plain poll() and the timed ops */
        prep_nop(1);
        io_uring_submit(&ring);
        struct pollfd p = { .fd = ring.ring_fd, .events = POLLIN | POLLOUT };
        int pr = poll(&p, one, 1000);
        printf("poll after a NOP: %d %s\n", pr, mask_name((unsigned short) p.revents));
        reap_all("nop");
        show_poll("after reaping", POLLIN | POLLOUT, 0);
        show_poll("after reaping, 30 ms", POLLIN, 30);

        prep_timeout(20 * MS, 2);
        prep_timeout(40 * MS, 3);
        prep_nop(4);
        prep_pipe_read(5);
        io_uring_submit(&ring);
        pthread_t w = start_writer(80);
        glib_loop(4);
        pthread_join(w, NULL);
        show_poll("loop done", POLLIN, 20);

        two_waiters();
        reused_number();
        sq_full_case(show_poll);
        overflow_case(show_poll);
}

/* ---- select ---- */

static int select_ring(bool rd, bool wr, int timeout_ms, bool use_pselect, char *out) {
        fd_set r, w;
        int n = (ring.ring_fd > quiet[0] ? ring.ring_fd : quiet[0]) + 1;
        FD_ZERO(&r);
        FD_ZERO(&w);
        FD_SET(quiet[0], &r);
        if (rd)
                FD_SET(ring.ring_fd, &r);
        if (wr)
                FD_SET(ring.ring_fd, &w);
        int ret;
        if (use_pselect) {
                sigset_t mask;
                sigemptyset(&mask);
                struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * MS };
                ret = pselect(n, &r, &w, NULL, timeout_ms < 0 ? NULL : &ts, &mask);
        } else {
                struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
                ret = select(n, &r, &w, NULL, timeout_ms < 0 ? NULL : &tv);
        }
        t_assert(ret >= 0, "select: %s", strerror(errno));
        t_assert(!FD_ISSET(quiet[0], &r), "the quiet pipe is readable");
        sprintf(out, "%d%s%s", ret, FD_ISSET(ring.ring_fd, &r) ? " readable" : "",
                FD_ISSET(ring.ring_fd, &w) ? " writable" : "");
        return ret;
}

static void show_select(const char *tag, short events, int timeout_ms) {
        char a[64], b[64];
        select_ring(events & POLLIN, events & POLLOUT, timeout_ms, false, a);
        select_ring(events & POLLIN, events & POLLOUT, timeout_ms, true, b);
        printf("%s: select=%s pselect=%s\n", tag, a, b);
}

static int select_idle(int ms) {
        char buf[64];
        return select_ring(true, false, ms, false, buf);
}

static int pselect_idle(int ms) {
        char buf[64];
        return select_ring(true, false, ms, true, buf);
}

static void run_select(void) {
        char buf[64];

        show_select("fresh ring", POLLIN | POLLOUT, 0);
        idle_check("select", select_idle, 120);
        idle_check("pselect", pselect_idle, 120);

        prep_timeout(20 * MS, 1);
        prep_pipe_read(2);
        io_uring_submit(&ring);
        pthread_t w = start_writer(50);
        int got = 0, wakeups = 0;
        double c0 = cpu_ms();
        while (got < 2) {
                select_ring(true, false, -1, wakeups % 2, buf);
                wakeups++;
                printf("select woke: %s\n", buf);
                got += reap_all("select");
        }
        pthread_join(w, NULL);
        t_assert(cpu_ms() - c0 < 20, "select loop spun: %.1f ms CPU", cpu_ms() - c0);
        show_select("after reaping", POLLIN, 20);
        sq_full_case(show_select);
        overflow_case(show_select);
}

/* ---- epoll ---- */

static int epfd;

/* The kernel's io_uring interrupts epoll_wait with task work (EINTR, not
 * restarted) when the ring lacks COOP_TASKRUN: event loops retry. */
static int epoll_wait_retry(struct epoll_event *ev, int max, int timeout_ms) {
        int n;
        do
                n = epoll_pwait(epfd, ev, max, timeout_ms, NULL);
        while (n < 0 && errno == EINTR);
        return n;
}

static void show_epoll(const char *tag, int timeout_ms) {
        struct epoll_event ev[4];
        int n = epoll_wait_retry(ev, 4, timeout_ms);
        t_assert(n >= 0, "epoll_wait: %s", strerror(errno));
        printf("%s: epoll_wait=%d", tag, n);
        /* Two registrations may come in either order: print them sorted. */
        if (n == 2 && ev[0].data.u64 > ev[1].data.u64) {
                struct epoll_event t = ev[0];
                ev[0] = ev[1];
                ev[1] = t;
        }
        for (int i = 0; i < n; i++)
                printf(" [data=0x%llx %s]", (unsigned long long) ev[i].data.u64, mask_name(ev[i].events));
        printf("\n");
}

static void ctl(int op, int fd, uint32_t events, uint64_t data) {
        struct epoll_event ev = { .events = events, .data.u64 = data };
        t_assert(epoll_ctl(epfd, op, fd, &ev) == 0, "epoll_ctl(%d): %s", op, strerror(errno));
}

static void submit_nop(uint64_t ud) {
        prep_nop(ud);
        io_uring_submit(&ring);
}

static int epoll_idle(int ms) {
        struct epoll_event ev[4];
        return epoll_wait_retry(ev, 4, ms);
}

static void run_epoll(void) {
        struct epoll_event ev[4];

        epfd = epoll_create1(EPOLL_CLOEXEC);
        t_assert(epfd >= 0, "epoll_create1");
        ctl(EPOLL_CTL_ADD, quiet[0], EPOLLIN, 0x9999);

        printf("-- level-triggered\n");
        ctl(EPOLL_CTL_ADD, ring.ring_fd, EPOLLIN, 0xabc);
        show_epoll("fresh ring", 0);
        idle_check("epoll_wait", epoll_idle, 120);
        submit_nop(1);
        show_epoll("after a NOP", 1000);
        show_epoll("again, not reaped", 0);
        reap_all("lt");
        show_epoll("reaped", 30);

        printf("-- edge-triggered\n");
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN | EPOLLET, 0xe7);
        prep_timeout(20 * MS, 2);
        io_uring_submit(&ring);
        show_epoll("timeout fired", 1000);
        show_epoll("no new CQE", 30);
        submit_nop(3);
        show_epoll("one more CQE", 1000);
        reap_all("et");
        show_epoll("reaped", 30);

        printf("-- one-shot\n");
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN | EPOLLONESHOT, 0x05);
        submit_nop(4);
        show_epoll("first", 1000);
        submit_nop(5);
        show_epoll("disarmed", 30);
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN | EPOLLONESHOT, 0x06);
        show_epoll("re-armed while ready", 0);
        reap_all("oneshot");
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN | EPOLLONESHOT, 0x07);
        /* A CQE reaped before the wait: not reported, and the shot stays. */
        submit_nop(6);
        reap_all("oneshot");
        show_epoll("reaped before the wait", 30);
        submit_nop(7);
        show_epoll("still armed", 1000);
        reap_all("oneshot");

        printf("-- EPOLLOUT, two fds of one ring, DEL\n");
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN | EPOLLOUT, 0x0u);
        show_epoll("SQ room", 0);
        int dupfd = dup(ring.ring_fd);
        t_assert(dupfd >= 0, "dup");
        ctl(EPOLL_CTL_MOD, ring.ring_fd, EPOLLIN, 0x11);
        ctl(EPOLL_CTL_ADD, dupfd, EPOLLIN, 0x22);
        submit_nop(8);
        show_epoll("both fds", 1000);
        reap_all("dup");
        ctl(EPOLL_CTL_DEL, dupfd, 0, 0);
        close(dupfd);
        ctl(EPOLL_CTL_DEL, ring.ring_fd, 0, 0);
        submit_nop(9);
        show_epoll("deleted", 30);
        reap_all("del");

        printf("-- an event loop\n");
        ctl(EPOLL_CTL_ADD, ring.ring_fd, EPOLLIN | EPOLLET, 0x100);
        prep_timeout(10 * MS, 10);
        prep_timeout(30 * MS, 11);
        prep_pipe_read(12);
        prep_nop(13);
        io_uring_submit(&ring);
        pthread_t w = start_writer(60);
        int got = 0, wakeups = 0;
        double c0 = cpu_ms(), w0 = wall_ms();
        while (got < 4) {
                int n = epoll_wait_retry(ev, 4, -1);
                if (n < 0 && errno == EINTR)
                        continue;
                t_assert(n == 1 && ev[0].data.u64 == 0x100, "epoll woke with %d", n);
                wakeups++;
                got += reap_all("loop");
        }
        pthread_join(w, NULL);
        double cpu = cpu_ms() - c0, wall = wall_ms() - w0;
        fprintf(stderr, "epoll loop: %d wake-ups, %.1f ms wall, %.2f ms CPU\n", wakeups, wall, cpu);
        t_assert(wakeups <= 4, "stale wake-ups: %d", wakeups);
        t_assert(cpu < wall / 4 + 5, "the loop spun");
        show_epoll("loop done", 20);
        ctl(EPOLL_CTL_DEL, ring.ring_fd, 0, 0);

        printf("-- overflow\n");
        ctl(EPOLL_CTL_ADD, ring.ring_fd, EPOLLIN, 0x200);
        overflow_case(show_poll);
        show_epoll("after overflow", 0);
        close(epfd);
}

int main(int argc, char **argv) {
        struct io_uring_params p = {};

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc != 2)
                t_fail("usage: evloop poll|select|epoll");
        t_assert(pipe(pipefd) == 0 && pipe(quiet) == 0, "pipe");
        t_ring_init(&ring, 8, &p);
        printf("ring: %u SQ, %u CQ entries\n", ring.sq.ring_entries, ring.cq.ring_entries);

        if (!strcmp(argv[1], "poll"))
                run_poll();
        else if (!strcmp(argv[1], "select"))
                run_select();
        else if (!strcmp(argv[1], "epoll"))
                run_epoll();
        else
                t_fail("unknown mode %s", argv[1]);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
