/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * IORING_SETUP_SQPOLL: the event loop is the SQ poller.
 *
 * While any SQPOLL ring is awake the loop does not sleep in epoll: it runs
 * its sources with a zero timeout and sweeps the SQ tails of the awake rings,
 * submitting what it finds (capped per ring and round when several share
 * the loop, as the kernel caps rings sharing one SQ thread). The app
 * submits without any syscall and reads CQEs from shared memory. A ring
 * idle for sq_thread_idle sets IORING_SQ_NEED_WAKEUP, with a full barrier
 * and a re-check of the tail (the kernel's protocol), and is swept no more
 * until io_uring_enter(IORING_ENTER_SQ_WAKEUP). Submission stays on one
 * thread, so the core needs no locking for it, and no hand-off between
 * threads (the most expensive thing on these VMs) sits on the data path.
 * IORING_SETUP_SQ_AFF pins the loop itself while such a poller is awake.
 */

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/io_uring.h>

struct io_ring_ctx;
struct io_sq_data;
struct io_task;
struct manager;

/* Before the ring exists: resolve IORING_SETUP_ATTACH_WQ (with or without
 * SQPOLL) to the poller to join in *@ret (NULL: a new one). -ENXIO/-EINVAL
 * as the kernel for a bad wq_fd; for a new poller with SQ_AFF, -EINVAL for
 * a CPU past the possible ones or outside the app's cpuset. The reference
 * taken goes to io_sqpoll_add(), or back with io_sqpoll_abort(). */
int io_sqpoll_prepare(struct manager *m, struct io_task *t, const struct io_uring_params *p,
                      struct io_sq_data **ret);
void io_sqpoll_abort(struct io_sq_data *sqd);

/* Make @ctx an SQPOLL ring submitting as @t (its creator), served by @sqd
 * or by a new poller. */
int io_sqpoll_add(struct io_ring_ctx *ctx, const struct io_uring_params *p, struct io_task *t,
                  struct io_sq_data *sqd);
void io_sqpoll_remove(struct io_ring_ctx *ctx);

/* IORING_ENTER_SQ_WAKEUP. */
void io_sqpoll_wake(struct io_ring_ctx *ctx);

/* IORING_ENTER_SQ_WAIT: make room in the SQ now. */
void io_sqpoll_wait_sq(struct io_ring_ctx *ctx);

/* While SQ_AFF pins the event loop: the daemon's own CPUs, for threads it
 * starts (io-wq workers); else NULL (they inherit the loop's). Any thread. */
const cpu_set_t *io_sqpoll_daemon_cpus(void);

/* One sweep over the awake rings. Returns true while any ring is awake,
 * i.e. the loop should keep polling. */
bool io_sqpoll_sweep(struct manager *m);
