/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * TIMEOUT, TIMEOUT_REMOVE (and update) and LINK_TIMEOUT, after
 * io_uring/timeout.c. Timers are sd-event time sources on the ring's clock;
 * everything here runs on the event loop, except io_disarm_next(), which a
 * completion on any thread calls.
 */

#include <stdbool.h>
#include <linux/io_uring.h>

struct io_cancel_data;
struct io_kiocb;
struct io_ring_ctx;

int io_timeout_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_timeout(struct io_kiocb *req, unsigned issue_flags);
int io_timeout_remove_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_timeout_remove(struct io_kiocb *req, unsigned issue_flags);
int io_link_timeout_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
void io_timeout_cleanup(struct io_kiocb *req);

/* Submission: @req is a LINK_TIMEOUT that follows @prev in a chain. */
int io_link_timeout_attach(struct io_kiocb *req, struct io_kiocb *prev);

/* @req (flagged REQ_F_ARM_LTIMEOUT) goes async: start its LINK_TIMEOUT. */
void io_arm_ltimeout(struct io_kiocb *req);

/* @req completes: detach its LINK_TIMEOUT, which completes -ECANCELED as
 * task work. Any thread. */
void io_disarm_next(struct io_kiocb *req);

/* Complete counting timeouts whose number of CQEs has been reached. */
void io_flush_timeouts(struct io_ring_ctx *ctx);

/* Cancel the first pending TIMEOUT matching @cd: 0, -ENOENT. */
int io_timeout_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd);

/* The ring is going away: every timeout completes -ECANCELED. */
void io_kill_timeouts(struct io_ring_ctx *ctx);
