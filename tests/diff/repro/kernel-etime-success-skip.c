/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why difftest never puts CQE_SKIP_SUCCESS on a TIMEOUT with
 * IORING_TIMEOUT_ETIME_SUCCESS: on the 6.18 kernel, such a timeout made the
 * ring's other timers never post. Not built by meson:
 *   gcc -o /tmp/k THIS.c -luring -include stdlib.h; /tmp/k 7
 * Submits POLL_ADD(empty pipe, POLLIN) user_data 1, TIMEOUT 13 ms user_data 2
 * (bit 8: LINK_TIMEOUT 13 ms after the poll instead) and, with bit 1, TIMEOUT
 * 5 ms user_data 3 (bit 2: CQE_SKIP_SUCCESS, bit 4: ETIME_SUCCESS).
 * Kernel 6.18: /tmp/k 1, 3, 5: "cqe 2 -62" (and 3); /tmp/k 7 and 15: no CQE
 * at all within 1 s ("wait -62, ready 0"). uringd: /tmp/k 7 posts "cqe 2 -62".
 */
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/eventfd.h>
int main(int argc, char **argv) {
        int variant = atoi(argv[1]);
        struct io_uring ring; struct io_uring_params p; memset(&p,0,sizeof p); p.flags = IORING_SETUP_SUBMIT_ALL;
        if (io_uring_queue_init_params(64, &ring, &p)) return 2;
        int pb[2]; pipe(pb);
        struct __kernel_timespec t13 = { .tv_nsec = 13000000 }, t5 = { .tv_nsec = 5000000 };
        struct io_uring_sqe *s;
        s = io_uring_get_sqe(&ring); io_uring_prep_poll_add(s, pb[0], POLLIN); s->flags = (variant & 8) ? IOSQE_IO_LINK : 0; s->user_data = 1;
        s = io_uring_get_sqe(&ring); if (variant & 8) { io_uring_prep_link_timeout(s, &t13, 0); } else { s->flags = 0; io_uring_prep_timeout(s, &t13, 0, 0); } s->user_data = 2;
        if (variant & 1) { s = io_uring_get_sqe(&ring); io_uring_prep_timeout(s, &t5, 0, (variant & 4) ? IORING_TIMEOUT_ETIME_SUCCESS : 0); s->flags = (variant & 2) ? IOSQE_CQE_SKIP_SUCCESS : 0; s->user_data = 3; }
        printf("submit %d\n", io_uring_submit(&ring));
        for (;;) {
                struct io_uring_cqe *c; struct __kernel_timespec ts = { .tv_sec = 1 };
                int r = io_uring_wait_cqe_timeout(&ring, &c, &ts);
                if (r) { printf("wait %d, ready %u\n", r, io_uring_cq_ready(&ring)); if (io_uring_cq_ready(&ring)) continue; break; }
                printf("cqe %llu %d\n", (unsigned long long) c->user_data, c->res);
                io_uring_cqe_seen(&ring, c);
        }
        return 0;
}
