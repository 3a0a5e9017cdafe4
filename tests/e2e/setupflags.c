/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Setup flags that gate who may use a ring and when: R_DISABLED with
 * IORING_REGISTER_ENABLE_RINGS, IORING_REGISTER_RESTRICTIONS, and
 * SINGLE_ISSUER (-EEXIST from any other thread, the issuer chosen at
 * setup or by ENABLE_RINGS). Every result printed, to be diffed with the
 * kernel's.
 *
 * And the entry sizes: SQE128 and CQE32 rings with NOPs (the extra CQE
 * half is zero), alone and together.
 *
 * ATTACH_WQ: its errors, and two SQPOLL rings sharing one poller that
 * sleeps and wakes for both.
 *
 * IOWQ_MAX_WORKERS and IOWQ_AFF: argument checks, caps read back.
 *
 * DEFER_TASKRUN: completions that are not a batch's inline ones wait for
 * the issuer's next GETEVENTS (IORING_SQ_TASKRUN and the eventfd tell).
 *
 * setupflags disabled|restrict|issuer|big|attach|iowq|defer
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

static int sys_register(unsigned op, const void *arg, unsigned nr) {
        long r = syscall(__NR_io_uring_register, ring.ring_fd, op, arg, nr);
        return r < 0 ? -errno : (int) r;
}

/* Queue one SQE and submit it with a raw enter: the result, not liburing's. */
static int submit_one(uint8_t opcode, uint8_t flags, uint64_t user_data, int fd, void *buf) {
        struct io_uring_sqe *sqe = t_get_sqe(&ring);

        io_uring_prep_rw(opcode, sqe, fd, buf, buf ? 8 : 0, 0);
        sqe->flags = flags;
        sqe->user_data = user_data;
        return io_uring_submit(&ring);
}

static void reap(const char *tag, int n) {
        for (int i = 0; i < n; i++) {
                struct io_uring_cqe cqe = t_wait_one(&ring);
                t_print_cqe(tag, &cqe);
        }
}

static void setup(unsigned flags) {
        struct io_uring_params p = { .flags = flags };
        t_ring_init(&ring, 8, &p);
}

static int test_disabled(void) {
        char b[32];

        setup(IORING_SETUP_R_DISABLED);
        printf("submit while disabled: %s\n", t_res(submit_one(IORING_OP_NOP, 0, 1, -1, NULL), b));
        /* The SQE stays queued: the ring never consumed it. */
        printf("enable with args: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, &b, 1), b));
        printf("enable: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0), b));
        printf("enable again: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0), b));
        printf("submit after enable: %s\n", t_res(io_uring_submit(&ring), b));
        reap("nop", 1);
        io_uring_queue_exit(&ring);

        /* SQPOLL rings start polling only once enabled. */
        setup(IORING_SETUP_R_DISABLED | IORING_SETUP_SQPOLL);
        submit_one(IORING_OP_NOP, 0, 2, -1, NULL);
        struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
        struct io_uring_cqe *cqe;
        printf("sqpoll disabled, wait: %s\n", t_res(io_uring_wait_cqe_timeout(&ring, &cqe, &ts), b));
        printf("enable sqpoll: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0), b));
        reap("sqpoll nop", 1);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

static int test_restrict(void) {
        struct io_uring_restriction res[3];
        char b[32], buf[8];
        int r;

        setup(0);
        memset(res, 0, sizeof(res));
        res[0].opcode = IORING_RESTRICTION_SQE_OP;
        res[0].sqe_op = IORING_OP_NOP;
        printf("restrict enabled ring: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, res, 1), b));
        io_uring_queue_exit(&ring);

        setup(IORING_SETUP_R_DISABLED);
        res[0].opcode = 99;
        printf("bad restriction opcode: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, res, 1), b));
        res[0].opcode = IORING_RESTRICTION_SQE_OP;
        res[0].sqe_op = 200;
        printf("bad sqe op: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, res, 1), b));
        printf("no array: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, NULL, 1), b));

        memset(res, 0, sizeof(res));
        res[0].opcode = IORING_RESTRICTION_SQE_OP;
        res[0].sqe_op = IORING_OP_NOP;
        res[1].opcode = IORING_RESTRICTION_REGISTER_OP;
        res[1].register_op = IORING_REGISTER_PROBE;
        res[2].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
        res[2].sqe_flags = IOSQE_IO_LINK;
        printf("restrict: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, res, 3), b));
        printf("restrict again: %s\n", t_res(sys_register(IORING_REGISTER_RESTRICTIONS, res, 3), b));
        printf("enable: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0), b));

        r = submit_one(IORING_OP_NOP, 0, 10, -1, NULL);
        printf("nop: %s\n", t_res(r, b));
        reap("allowed nop", 1);
        r = submit_one(IORING_OP_READ, 0, 11, 0, buf);
        printf("read: %s\n", t_res(r, b));
        reap("refused read", 1);
        r = submit_one(IORING_OP_NOP, IOSQE_IO_DRAIN, 12, -1, NULL);
        printf("drain nop: %s\n", t_res(r, b));
        reap("refused flag", 1);
        /* One batch: a chain left open at the end of a submit goes to
         * io-wq and would race the next call. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->flags = IOSQE_IO_LINK;
        sqe->user_data = 13;
        r = submit_one(IORING_OP_NOP, 0, 14, -1, NULL);
        printf("linked nops: %s\n", t_res(r, b));
        reap("allowed link", 2);

        struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
        printf("probe allowed: %s\n", probe ? "yes" : "no");
        io_uring_free_probe(probe);
        int fds[1] = { 0 };
        printf("register files refused: %s\n", t_res(sys_register(IORING_REGISTER_FILES, fds, 1), b));
        printf("enable refused: %s\n", t_res(sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0), b));
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

/* Another thread's view: submit a NOP, register a probe, maybe enable. */
struct other {
        int submit, reg, enable;
        bool do_enable;
};

static void *other_thread(void *arg) {
        struct other *o = arg;
        struct io_uring_probe probe[2];

        if (o->do_enable)
                o->enable = sys_register(IORING_REGISTER_ENABLE_RINGS, NULL, 0);
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 40;
        o->submit = io_uring_submit(&ring);
        memset(probe, 0, sizeof(probe));
        o->reg = sys_register(IORING_REGISTER_PROBE, probe, 1);
        return NULL;
}

static void run_other(struct other *o) {
        pthread_t th;
        t_assert(pthread_create(&th, NULL, other_thread, o) == 0, "pthread_create");
        pthread_join(th, NULL);
}

static int test_issuer(void) {
        struct other o = {};
        char b[32], b2[32], b3[32];

        setup(IORING_SETUP_SINGLE_ISSUER);
        run_other(&o);
        printf("other thread: submit %s register %s\n", t_res(o.submit, b), t_res(o.reg, b2));
        /* The other thread's SQE is still queued: the creator submits it. */
        printf("creator submit: %s\n", t_res(io_uring_submit(&ring), b));
        reap("creator", 1);
        io_uring_queue_exit(&ring);

        setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED);
        o = (struct other) { .do_enable = true };
        run_other(&o);
        printf("enabling thread: enable %s submit %s register %s\n", t_res(o.enable, b3), t_res(o.submit, b),
               t_res(o.reg, b2));
        reap("enabler", 1);
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        printf("creator submit: %s\n", t_res(io_uring_submit(&ring), b));
        printf("creator register: %s\n", t_res(sys_register(IORING_REGISTER_PROBE, NULL, 0), b));
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

static int test_big(void) {
        static const unsigned variants[] = {
                IORING_SETUP_SQE128,
                IORING_SETUP_CQE32,
                IORING_SETUP_SQE128 | IORING_SETUP_CQE32,
        };
        char b[32];

        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
                setup(variants[v]);
                printf("flags %#x: sqe %s, cqe %s\n", variants[v],
                       ring.flags & IORING_SETUP_SQE128 ? "128" : "64",
                       ring.flags & IORING_SETUP_CQE32 ? "32" : "16");
                /* More than the ring holds, so that slots are reused. */
                for (int round = 0; round < 3; round++) {
                        for (int i = 0; i < 8; i++) {
                                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                                io_uring_prep_nop(sqe);
                                sqe->user_data = 100 * (v + 1) + 10 * round + i;
                                if (ring.flags & IORING_SETUP_SQE128)
                                        memset(sqe + 1, 0xa5, sizeof(*sqe));
                        }
                        printf("submit: %s\n", t_res(io_uring_submit_and_wait(&ring, 8), b));
                        for (int i = 0; i < 8; i++) {
                                struct io_uring_cqe *cqe;
                                t_assert(io_uring_peek_cqe(&ring, &cqe) == 0, "missing CQE");
                                printf("nop user_data=%llu res=%d flags=%#x", (unsigned long long) cqe->user_data,
                                       cqe->res, cqe->flags);
                                if (ring.flags & IORING_SETUP_CQE32)
                                        printf(" big=%llx,%llx", (unsigned long long) cqe->big_cqe[0],
                                               (unsigned long long) cqe->big_cqe[1]);
                                printf("\n");
                                io_uring_cqe_seen(&ring, cqe);
                        }
                }
                io_uring_queue_exit(&ring);
        }
        return T_EXIT_PASS;
}

static int setup_attach(struct io_uring *r, unsigned flags, int wq_fd) {
        struct io_uring_params p = { .flags = flags | IORING_SETUP_ATTACH_WQ, .wq_fd = (uint32_t) wq_fd,
                                     .sq_thread_idle = 300 };
        int ret = io_uring_queue_init_params(8, r, &p);
        if (ret == 0)
                t_ring_check(r);
        return ret;
}

static bool need_wakeup(struct io_uring *r) {
        return __atomic_load_n(r->sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP;
}

/* Poll @r's flag for up to 4 s until it reads @want. */
static bool wait_flag(struct io_uring *r, bool want) {
        for (int i = 0; i < 4000; i++) {
                if (need_wakeup(r) == want)
                        return true;
                usleep(1000);
        }
        return false;
}

static int test_attach(void) {
        struct io_uring other, b_ring;
        int pipefd[2];
        char b[32];

        t_assert(pipe(pipefd) == 0, "pipe");
        printf("attach to fd -1: %s\n", t_res(setup_attach(&other, 0, -1), b));
        printf("attach to a pipe: %s\n", t_res(setup_attach(&other, IORING_SETUP_SQPOLL, pipefd[0]), b));

        setup(0);
        printf("sqpoll attach to a plain ring: %s\n",
               t_res(setup_attach(&other, IORING_SETUP_SQPOLL, ring.ring_fd), b));
        int r = setup_attach(&other, 0, ring.ring_fd);
        printf("plain attach to a plain ring: %s\n", t_res(r, b));
        if (r == 0)
                io_uring_queue_exit(&other);
        io_uring_queue_exit(&ring);

        /* Two rings, one poller. */
        struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 300 };
        t_ring_init(&ring, 8, &p);
        printf("sqpoll attach to sqpoll: %s\n", t_res(setup_attach(&b_ring, IORING_SETUP_SQPOLL, ring.ring_fd), b));
        for (int i = 0; i < 4; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(i % 2 ? &b_ring : &ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 60 + i;
        }
        io_uring_submit(&ring);
        io_uring_submit(&b_ring);
        for (int i = 0; i < 2; i++) {
                struct io_uring_cqe a = t_wait_one(&ring), bb = t_wait_one(&b_ring);
                t_print_cqe("ring a", &a);
                t_print_cqe("ring b", &bb);
        }
        printf("both asleep after idle: %s\n", wait_flag(&ring, true) && wait_flag(&b_ring, true) ? "yes" : "no");
        /* Waking the poller through one ring wakes it for both. */
        syscall(__NR_io_uring_enter, ring.ring_fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
        printf("b awake after waking a: %s\n", wait_flag(&b_ring, false) ? "yes" : "no");
        struct io_uring_sqe *sqe = t_get_sqe(&b_ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 70;
        io_uring_submit(&b_ring);
        struct io_uring_cqe cqe = t_wait_one(&b_ring);
        t_print_cqe("ring b after waking a", &cqe);
        printf("asleep again: %s\n", wait_flag(&ring, true) && wait_flag(&b_ring, true) ? "yes" : "no");

        /* A child's ring cannot join the parent's poller: it gets its own. */
        pid_t pid = fork();
        if (pid == 0) {
                struct io_uring c;
                int ret = setup_attach(&c, IORING_SETUP_SQPOLL, ring.ring_fd);
                printf("child attach: %s\n", t_res(ret, b));
                if (ret == 0) {
                        struct io_uring_sqe *s2 = t_get_sqe(&c);
                        io_uring_prep_nop(s2);
                        s2->user_data = 80;
                        io_uring_submit(&c);
                        struct io_uring_cqe c2 = t_wait_one(&c);
                        t_print_cqe("child ring", &c2);
                }
                fflush(stdout);
                _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        io_uring_queue_exit(&b_ring);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

static int test_iowq(void) {
        uint32_t counts[2];
        uint64_t mask;
        char b[32];

        setup(0);
        /* The kernel makes the task's pool on its first submit. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cq_advance(&ring, 1);

        printf("max workers, one arg: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 1), b));
        printf("max workers, no array: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, NULL, 2), b));
        counts[0] = 0x80000000u;
        counts[1] = 1;
        printf("max workers, too many: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2), b));
        counts[0] = 2;
        counts[1] = 3;
        printf("set 2/3: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2), b));
        counts[0] = counts[1] = 0;
        printf("query: %s", t_res(sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2), b));
        printf(" -> %u/%u\n", counts[0], counts[1]);
        counts[0] = 0;
        counts[1] = 5;
        sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2);
        printf("set 0/5, was %u/%u\n", counts[0], counts[1]);
        counts[0] = counts[1] = 0;
        sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2);
        printf("now %u/%u\n", counts[0], counts[1]);

        printf("aff, no mask: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_AFF, NULL, 8), b));
        mask = 1;
        printf("aff, zero length: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_AFF, &mask, 0), b));
        printf("aff cpu0: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_AFF, &mask, sizeof(mask)), b));
        mask = 1ULL << 63;
        printf("aff cpu63: %s\n", t_res(sys_register(IORING_REGISTER_IOWQ_AFF, &mask, sizeof(mask)), b));
        printf("unregister aff with arg: %s\n", t_res(sys_register(IORING_UNREGISTER_IOWQ_AFF, &mask, 1), b));
        printf("unregister aff: %s\n", t_res(sys_register(IORING_UNREGISTER_IOWQ_AFF, NULL, 0), b));

        /* Work still runs with a cap of 1 on a pinned pool. */
        counts[0] = counts[1] = 1;
        sys_register(IORING_REGISTER_IOWQ_MAX_WORKERS, counts, 2);
        mask = 1;
        sys_register(IORING_REGISTER_IOWQ_AFF, &mask, sizeof(mask));
        for (int i = 0; i < 4; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->flags = IOSQE_ASYNC;
                sqe->user_data = 90 + i;
        }
        io_uring_submit(&ring);
        int seen = 0;
        for (int i = 0; i < 4; i++) {
                struct io_uring_cqe cqe = t_wait_one(&ring);
                seen += cqe.res == 0;
        }
        printf("async nops done: %d\n", seen);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

static int try_setup(unsigned flags) {
        struct io_uring r;
        struct io_uring_params p = { .flags = flags };
        int ret = io_uring_queue_init_params(4, &r, &p);
        if (ret == 0)
                io_uring_queue_exit(&r);
        return ret;
}

static unsigned visible(void) {
        return io_uring_cq_ready(&ring);
}

static bool taskrun_flag(void) {
        return __atomic_load_n(ring.sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN;
}

static void *getevents_thread(void *arg) {
        int *ret = arg;
        long r = syscall(__NR_io_uring_enter, ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
        *ret = r < 0 ? -errno : (int) r;
        return NULL;
}

static void drain_all(const char *tag) {
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                t_print_cqe(tag, cqe);
                io_uring_cqe_seen(&ring, cqe);
        }
}

static int test_defer(void) {
        struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
        uint64_t count;
        char b[32];
        int pipefd[2], ret;

        printf("defer without single issuer: %s\n", t_res(try_setup(IORING_SETUP_DEFER_TASKRUN), b));
        printf("defer with sqpoll: %s\n", t_res(try_setup(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                                                             IORING_SETUP_SQPOLL), b));
        printf("taskrun flag with defer: %s\n", t_res(try_setup(IORING_SETUP_DEFER_TASKRUN |
                                                                  IORING_SETUP_SINGLE_ISSUER |
                                                                  IORING_SETUP_TASKRUN_FLAG), b));

        setup(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG);
        int efd = eventfd(0, EFD_NONBLOCK);
        t_assert(io_uring_register_eventfd(&ring, efd) == 0, "register eventfd");

        /* Inline completions are there at once. */
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 1;
        io_uring_submit(&ring);
        printf("nop visible at once: %u\n", visible());
        drain_all("inline");
        (void) !read(efd, &count, sizeof(count));

        /* A timer's completion waits for GETEVENTS. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_timeout(sqe, &ts, 0, 0);
        sqe->user_data = 2;
        io_uring_submit(&ring);
        usleep(100 * 1000);
        printf("timeout fired: visible %u, taskrun %d, eventfd %s\n", visible(), taskrun_flag(),
               read(efd, &count, sizeof(count)) == sizeof(count) ? "signalled" : "silent");
        printf("get_events: %s\n", t_res(io_uring_get_events(&ring), b));
        printf("after get_events: visible %u, taskrun %d\n", visible(), taskrun_flag());
        drain_all("deferred");

        /* A pipe read made ready later, then a NOP in the same enter that
         * runs the work: the batch's inline CQE comes first. */
        t_assert(pipe(pipefd) == 0, "pipe");
        char buf[8];
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, pipefd[0], buf, sizeof(buf), 0);
        sqe->user_data = 3;
        io_uring_submit(&ring);
        t_assert(write(pipefd[1], "abc", 3) == 3, "write");
        usleep(100 * 1000);
        printf("read done: visible %u\n", visible());
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 4;
        ret = io_uring_submit_and_wait(&ring, 2);
        printf("submit_and_wait: %s\n", t_res(ret, b));
        drain_all("ordered");

        /* Nobody else may run the issuer's completions. */
        pthread_t th;
        pthread_create(&th, NULL, getevents_thread, &ret);
        pthread_join(th, NULL);
        printf("getevents from another thread: %s\n", t_res(ret, b));

        /* A waiting issuer is woken by its deferred completions. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_timeout(sqe, &ts, 0, 0);
        sqe->user_data = 5;
        struct io_uring_cqe *cqe;
        ret = io_uring_submit_and_wait(&ring, 1);
        printf("wait for timeout: %s\n", t_res(ret, b));
        t_assert(io_uring_peek_cqe(&ring, &cqe) == 0, "no CQE after the wait");
        t_print_cqe("waited", cqe);
        io_uring_cqe_seen(&ring, cqe);
        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc != 2)
                t_fail("usage: setupflags disabled|restrict|issuer");
        if (!strcmp(argv[1], "disabled"))
                return test_disabled();
        if (!strcmp(argv[1], "restrict"))
                return test_restrict();
        if (!strcmp(argv[1], "issuer"))
                return test_issuer();
        if (!strcmp(argv[1], "big"))
                return test_big();
        if (!strcmp(argv[1], "attach"))
                return test_attach();
        if (!strcmp(argv[1], "iowq"))
                return test_iowq();
        if (!strcmp(argv[1], "defer"))
                return test_defer();
        t_fail("unknown test %s", argv[1]);
}
