/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * POLL_ADD (one-shot and multishot, edge or level) and POLL_REMOVE (and
 * update), after io_uring/poll.c. A waiting poll is an sd-event I/O source
 * on our own duplicate of the app's file; readiness is re-read with poll(2)
 * when it fires, as the kernel re-reads vfs_poll(). Event loop only.
 */

#include <linux/io_uring.h>

struct io_cancel_data;
struct io_kiocb;
struct io_ring_ctx;

int io_poll_add_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_poll_add(struct io_kiocb *req, unsigned issue_flags);
int io_poll_remove_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_poll_remove(struct io_kiocb *req, unsigned issue_flags);
void io_poll_cleanup(struct io_kiocb *req);

/* FAST_POLL: a request that would block waits for its file to be ready and
 * is then issued again. */
enum {
        IO_APOLL_OK,            /* armed: the request waits */
        IO_APOLL_ABORTED,       /* cannot poll this: punt to io-wq */
};
int io_arm_poll_handler(struct io_kiocb *req);
void io_apoll_cleanup(struct io_kiocb *req);

/* Cancel the first waiting poll (POLL_ADD or async) matching @cd: 0 or
 * -ENOENT. */
int io_poll_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd);

/* @ctx posted CQEs: POLL_ADDs on its fd may be ready. */
void io_ring_poll_wake(struct io_ring_ctx *ctx);

/* The ring is going away: every poll completes -ECANCELED. */
void io_poll_remove_all(struct io_ring_ctx *ctx);
