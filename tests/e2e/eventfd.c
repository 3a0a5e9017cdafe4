/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Completion notification through a registered eventfd: silent before any
 * completion, readable (poll) once CQEs land without anyone waiting on the
 * ring, silent again after UNREGISTER_EVENTFD; EVENTFD_ASYNC registration.
 * How many signals a batch yields is the implementation's business, so only
 * "signalled or not" is printed.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "helpers.h"

static struct io_uring ring;

/* Drain the eventfd: "signalled" or "silent" (or the error). */
static const char *efd_state(int efd, uint64_t *ret_count) {
        uint64_t v = 0;
        ssize_t n = read(efd, &v, sizeof(v));

        if (ret_count)
                *ret_count = n == sizeof(v) ? v : 0;
        if (n == sizeof(v))
                return v > 0 ? "signalled" : "zero?";
        if (n < 0 && errno == EAGAIN)
                return "silent";
        return "read error";
}

/* Wait up to @ms for the eventfd to become readable. */
static const char *efd_poll(int efd, int ms) {
        struct pollfd pfd = { .fd = efd, .events = POLLIN };
        int r = poll(&pfd, 1, ms);

        if (r < 0)
                return "poll error";
        return r == 0 ? "not readable" : (pfd.revents & POLLIN) ? "readable" : "other event";
}

static unsigned reap_all(void) {
        struct io_uring_cqe *cqe;
        unsigned n = 0;

        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                t_assert(cqe->res == 0, "NOP res %d", cqe->res);
                io_uring_cqe_seen(&ring, cqe);
                n++;
        }
        return n;
}

static void queue_nops(unsigned n, uint64_t first) {
        for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = first + i;
        }
}

int main(void) {
        char b[32];
        uint64_t count;
        int efd, r;

        t_backend();
        t_ring_init(&ring, 16, NULL);
        efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        t_assert(efd >= 0, "eventfd: %m");

        printf("register eventfd %s\n", t_res(io_uring_register_eventfd(&ring, efd), b));
        printf("before any completion: %s\n", efd_state(efd, NULL));

        /* Completions without waiting on the ring: the eventfd must fire. */
        queue_nops(3, 1);
        t_submit_n(&ring, 3);
        printf("after 3 NOPs: poll %s\n", efd_poll(efd, 5000));
        printf("after 3 NOPs: %s\n", efd_state(efd, &count));
        t_assert(count >= 1 && count <= 3, "eventfd count %llu for 3 CQEs", (unsigned long long) count);
        printf("reaped %u\n", reap_all());
        printf("after reaping: %s\n", efd_state(efd, NULL));

        /* A file write, so that completions are not only NOPs. */
        int fd = t_tmpfile("e", O_RDWR | O_TRUNC, NULL, 0);
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, "eventfd", 7, 0);
        sqe->user_data = 50;
        t_submit_n(&ring, 1);
        printf("after a write: poll %s\n", efd_poll(efd, 5000));
        printf("after a write: %s\n", efd_state(efd, NULL));
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_print_cqe("write", &cqe);

        /* Waiting in the ring also signals. */
        queue_nops(1, 60);
        r = io_uring_submit_and_wait(&ring, 1);
        t_assert(r == 1, "submit_and_wait: %d", r);
        printf("after submit_and_wait: %s\n", efd_state(efd, NULL));
        printf("reaped %u\n", reap_all());

        /* A second registration is refused while one is active. */
        printf("register again %s\n", t_res(io_uring_register_eventfd(&ring, efd), b));

        printf("unregister eventfd %s\n", t_res(io_uring_unregister_eventfd(&ring), b));
        queue_nops(2, 70);
        t_submit_n(&ring, 2);
        struct io_uring_cqe *c;
        r = io_uring_wait_cqe_nr(&ring, &c, 2);
        t_assert(r == 0, "wait_cqe_nr: %s", strerror(-r));
        printf("after unregister: %s\n", efd_state(efd, NULL));
        printf("reaped %u\n", reap_all());
        printf("unregister again %s\n", t_res(io_uring_unregister_eventfd(&ring), b));

        /* Another eventfd: a fresh registration works. */
        int efd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        t_assert(efd2 >= 0, "eventfd: %m");
        printf("register second eventfd %s\n", t_res(io_uring_register_eventfd(&ring, efd2), b));
        queue_nops(1, 80);
        t_submit_n(&ring, 1);
        printf("second eventfd: poll %s\n", efd_poll(efd2, 5000));
        printf("second eventfd: %s, first: %s\n", efd_state(efd2, NULL), efd_state(efd, NULL));
        printf("reaped %u\n", reap_all());
        printf("unregister %s\n", t_res(io_uring_unregister_eventfd(&ring), b));

        /* EVENTFD_ASYNC: registration and unregistration; which completions
         * it reports is left to the implementation (the kernel only reports
         * those completed from its workers). */
        printf("register eventfd_async %s\n", t_res(io_uring_register_eventfd_async(&ring, efd), b));
        printf("register eventfd over async %s\n", t_res(io_uring_register_eventfd(&ring, efd2), b));
        queue_nops(1, 90);
        t_submit_n(&ring, 1);
        cqe = t_wait_one(&ring);
        t_print_cqe("nop", &cqe);
        efd_state(efd, NULL);
        printf("unregister %s\n", t_res(io_uring_unregister_eventfd(&ring), b));

        /* A non-eventfd fd is refused. */
        printf("register a regular file %s\n", t_res(io_uring_register_eventfd(&ring, fd), b));
        printf("register fd -1 %s\n", t_res(io_uring_register_eventfd(&ring, -1), b));

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
