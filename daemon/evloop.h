/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The ring fd in the app's event loops (poll/select/epoll through the shim,
 * preload/evloop*.c): each ring that the shim asked about gets an eventfd,
 * signalled once per event-loop iteration that posted CQEs (the kernel's
 * io_uring_poll() wake-up on ctx->poll_wq) and when the ring dies. The shim
 * reads the ring's head/tail to tell real readiness from a stale signal.
 */

#include <stdbool.h>
#include <stdint.h>

struct io_ring_ctx;

struct io_evloop {
        int efd;                /* EFD_NONBLOCK: a full counter must not block us */
        bool pending;           /* under completion_lock */
};

/* The ring's eventfd, created on first use (event loop only). Returns the
 * daemon's fd (owned by the ring) or -errno. */
int io_evloop_get(struct io_ring_ctx *ctx);
void io_evloop_free(struct io_evloop *ev);

/* Under completion_lock: a CQE was posted or held (DEFER_TASKRUN). */
void io_evloop_mark(struct io_ring_ctx *ctx);
/* DEFER_TASKRUN completions wait (true) or were all posted (false). Under
 * completion_lock. */
void io_evloop_set_work(struct io_ring_ctx *ctx, bool work);
/* Signal the eventfd when marked. Any thread. */
void io_evloop_flush(struct io_ring_ctx *ctx);
/* The ring died: tell the shim, wake its waiters. */
void io_evloop_kill(struct io_ring_ctx *ctx);
