/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reduction of difftest seed 192 (fixed): a counting TIMEOUT submitted
 * while the ring's drain state is still active.
 * Not built by meson: gcc -o /tmp/r THIS.c -luring
 *
 *   /tmp/r 3                                          (kernel)
 *   URINGD_SOCKET=$(mktemp -u) build/tools/uringd-run -- /tmp/r 3
 *
 * One run, a fresh ring (SUBMIT_ALL). MASK bits:
 *   1: batch A: POLL_ADD(fd 1000, not open) HARDLINK -> WRITE(regular file)
 *      IO_DRAIN (a chain drained in its middle); reap its 2 CQEs (-EBADF, 3038)
 *   2: a lone NOP, reaped (it takes the "drain the next unit" of batch A)
 *   4: in batch B also TIMEOUT 2ms LINK -> TIMEOUT_REMOVE LINK -> TIMEOUT_REMOVE
 * Batch B: TIMEOUT(count=3, 10 s) user_data 1, NOP 2, NOP 3, NOP 4; reaped
 * with 1 s waits.
 *
 * Kernel 6.18, MASK=3, 20 of 20 runs: B: 2 0, 3 0, 4 0, then nothing: the
 * timeout is issued from task work after the NOPs posted, they do not count.
 * uringd (main at 22cf3bb), MASK=3: 2 of 20 runs also post "B: 1 0" at
 * once (the NOPs counted), the other 18 behave as the kernel. In difftest
 * seed 192 the batch posts further CQEs, so the kernel completes the
 * timeout with 0 and uringd, when it counted from after them, does not:
 * "TIMEOUT waiting (phase 1) for 2001" in about 5% of runs.
 * MASK=1: both hang the whole batch B (the timeout is the drained unit, the
 * NOPs wait behind it): "B: missing 4", as expected.
 *
 * Cause: the drained NOP 13 runs on io-wq; its worker posted the CQE and
 * only then freed the request (ctx->inflight--). The app reaped 13 and
 * submitted B in that gap, so the drain still saw 13 allocated, held the
 * TIMEOUT back and the NOPs behind it, then issued all of them in order,
 * the NOPs after the timeout: they counted. The kernel's io-wq frees the
 * request by task work before the app is back in user space. Fix: a
 * request leaves the drain's count when its CQE is filled, before the app
 * can see it (ring.c io_req_leave_inflight()). A usleep(2000) between
 * post and free in io_req_complete() made the failure 10 of 10 before the
 * fix, 0 of 10 after; 0 of 200 runs of this repro and of difftest seed 192
 * after (7 of 150 of seed 192 before).
 */
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static struct io_uring ring;
static struct __kernel_timespec ms(long n) { struct __kernel_timespec t = { n / 1000, (n % 1000) * 1000000 }; return t; }
static void reap(int n, const char *tag) {
        for (int k = 0; k < n; k++) { struct io_uring_cqe *c; struct __kernel_timespec ts = ms(1000);
                if (io_uring_wait_cqe_timeout(&ring, &c, &ts)) { printf("%s: missing %d\n", tag, n - k); return; }
                printf("%s: %llu %d\n", tag, (unsigned long long) c->user_data, c->res); io_uring_cqe_seen(&ring, c); }
}
int main(int argc, char **argv) {
        unsigned m = strtoul(argv[1], 0, 0);
        struct io_uring_params p; memset(&p, 0, sizeof p); p.flags = IORING_SETUP_SUBMIT_ALL;
        if (io_uring_queue_init_params(64, &ring, &p)) return 2;
        int wfd = open("/var/tmp/dt-d-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
        static char wbuf[4096]; static struct __kernel_timespec t10s, t2; t10s = ms(10000); t2 = ms(2);
        struct io_uring_sqe *s;
        if (m & 1) {
                s = io_uring_get_sqe(&ring); io_uring_prep_poll_add(s, 1000, POLLIN); s->flags = IOSQE_IO_HARDLINK; s->user_data = 11;
                s = io_uring_get_sqe(&ring); io_uring_prep_write(s, wfd, wbuf, 3038, 24951); s->flags = IOSQE_IO_DRAIN; s->user_data = 12;
                io_uring_submit(&ring); reap(2, "A");
        }
        if (m & 2) { s = io_uring_get_sqe(&ring); io_uring_prep_nop(s); s->user_data = 13; io_uring_submit(&ring); reap(1, "A2"); }
        int n = 4;
        s = io_uring_get_sqe(&ring); io_uring_prep_timeout(s, &t10s, 3, 0); s->user_data = 1;
        for (int i = 0; i < 3; i++) { s = io_uring_get_sqe(&ring); io_uring_prep_nop(s); s->user_data = 2 + i; }
        if (m & 4) {
                s = io_uring_get_sqe(&ring); io_uring_prep_timeout(s, &t2, 0, 0); s->flags = IOSQE_IO_LINK; s->user_data = 5;
                s = io_uring_get_sqe(&ring); io_uring_prep_timeout_remove(s, 999, 0); s->flags = IOSQE_IO_LINK; s->user_data = 6;
                s = io_uring_get_sqe(&ring); io_uring_prep_timeout_remove(s, 999, 0); s->user_data = 7;
                n += 3;
        }
        io_uring_submit(&ring);
        reap(n, "B");
        return 0;
}
