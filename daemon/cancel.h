/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ASYNC_CANCEL and IORING_REGISTER_SYNC_CANCEL, after io_uring/cancel.c: a
 * request is found where it waits (io-wq, poll, timeout) and completes
 * -ECANCELED.
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/io_uring.h>

struct io_file;
struct io_kiocb;
struct io_ring_ctx;
struct io_task;

#ifndef IORING_ASYNC_CANCEL_FD_FIXED
#define IORING_ASYNC_CANCEL_FD_FIXED (1U << 3)
#endif
#ifndef IORING_ASYNC_CANCEL_USERDATA
#define IORING_ASYNC_CANCEL_USERDATA (1U << 4)
#endif
#ifndef IORING_ASYNC_CANCEL_OP
#define IORING_ASYNC_CANCEL_OP (1U << 5)
#endif

#define IO_CANCEL_FLAGS                                                          \
        (IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ANY | \
         IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_USERDATA | IORING_ASYNC_CANCEL_OP)

struct io_cancel_data {
        struct io_ring_ctx *ctx;
        uint64_t data;
        struct io_file *file;           /* CANCEL_FD */
        uint32_t flags;
        uint32_t seq;
        uint8_t opcode;
};

/* Does @req match @cd? With CANCEL_ALL/ANY, each request matches once per
 * cancel (its cancel_seq), so that a loop over "find one" ends. */
bool io_cancel_req_match(struct io_kiocb *req, struct io_cancel_data *cd);

/* Cancel one matching request: 0, -EALREADY (running, interrupted),
 * -ENOENT. Event loop. */
int io_try_cancel(struct io_cancel_data *cd);

int io_async_cancel_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_async_cancel(struct io_kiocb *req, unsigned issue_flags);

/* IORING_REGISTER_SYNC_CANCEL. */
int io_sync_cancel(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg);
