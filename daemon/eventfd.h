/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* IORING_REGISTER_EVENTFD[_ASYNC]: an eventfd of the app that we signal when
 * CQEs are posted (only for io-wq completions with _ASYNC), unless the app
 * set IORING_CQ_EVENTFD_DISABLED in cq_flags. */

#include <stdbool.h>
#include <stdint.h>

struct io_ring_ctx;
struct io_task;

struct io_ev_fd {
        int fd;                 /* daemon-side dup of the app's eventfd */
        bool async_only;
        bool pending;           /* under completion_lock */
};

int io_eventfd_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr, bool async);
int io_eventfd_unregister(struct io_ring_ctx *ctx);
void io_eventfd_free(struct io_ev_fd *ev);

/* Under completion_lock: a CQE was posted. */
void io_eventfd_mark(struct io_ring_ctx *ctx, bool async);
/* Event loop: signal the eventfd if a posted CQE asked for it. */
void io_eventfd_flush(struct io_ring_ctx *ctx);
