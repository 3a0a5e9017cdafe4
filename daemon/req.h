/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A request: the daemon's io_kiocb. Created from one SQE, which is read once
 * into private memory before prep; the op's private state lives in @cmd,
 * reached through io_kiocb_to_cmd() as in the kernel.
 *
 * Lifecycle:  init (generic SQE checks) -> prep (op checks, read what the SQE
 * points at: SUBMIT_STABLE) -> issue non-blocking on the event loop -> on
 * -EAGAIN, punt to io-wq and issue blocking there -> complete (one CQE) ->
 * free.
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/io_uring.h>

#include "uringd/list.h"

struct io_file;
struct io_ring_ctx;
struct io_task;

/* req->flags */
enum {
        REQ_F_FIXED_FILE = 1U << 0,     /* IOSQE_FIXED_FILE */
        REQ_F_FORCE_ASYNC = 1U << 1,    /* IOSQE_ASYNC */
        REQ_F_NOWAIT = 1U << 2,         /* the app asked for RWF_NOWAIT: never punt */
        REQ_F_ISREG = 1U << 3,          /* the file is a regular file */
        REQ_F_DIRECT = 1U << 4,         /* the file is open O_DIRECT */
};

/* What issue() tells the core. */
enum {
        IOU_OK = 0,                     /* done: post req->res */
        IOU_ISSUE_SKIP_COMPLETE = -529, /* the op completes itself later */
};

/* issue_flags */
enum {
        IO_URING_F_NONBLOCK = 1U << 0,  /* event loop: must not block */
        IO_URING_F_IOWQ = 1U << 1,      /* running on an io-wq worker */
};

#define IO_CMD_SIZE 64

struct io_kiocb {
        struct io_ring_ctx *ctx;
        struct io_task *task;           /* submitter: fds and memory */
        uint64_t user_data;
        uint8_t opcode;
        uint32_t flags;                 /* REQ_F_* */
        int32_t sqe_fd;                 /* sqe->fd: an fd or a fixed index */
        int file;                       /* io_file->fd, or -1 */
        struct io_file *io_file;        /* reference, for the request's life */
        int32_t res;
        uint32_t cflags;
        struct list_head work_node;     /* io-wq queue */
        union {
                uint8_t data[IO_CMD_SIZE];
                uint64_t align;
        } cmd;
};

#define io_kiocb_to_cmd(req, type)                                              \
        ({                                                                      \
                assert_cc(sizeof(type) <= IO_CMD_SIZE);                         \
                (type *) (req)->cmd.data;                                       \
        })

static inline void io_req_set_res(struct io_kiocb *req, int32_t res, uint32_t cflags) {
        req->res = res;
        req->cflags = cflags;
}
