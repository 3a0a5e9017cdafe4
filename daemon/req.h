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
#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>

#include "uringd/list.h"

struct io_file;
struct io_ring_ctx;
struct io_task;

/* req->flags */
enum {
        REQ_F_FIXED_FILE = 1U << 0,     /* IOSQE_FIXED_FILE */
        REQ_F_IO_DRAIN = 1U << 1,       /* IOSQE_IO_DRAIN */
        REQ_F_LINK = 1U << 2,           /* IOSQE_IO_LINK */
        REQ_F_HARDLINK = 1U << 3,       /* IOSQE_IO_HARDLINK */
        REQ_F_FORCE_ASYNC = 1U << 4,    /* IOSQE_ASYNC, or queued behind a drain */
        REQ_F_CQE_SKIP = 1U << 6,       /* IOSQE_CQE_SKIP_SUCCESS */
        REQ_F_NOWAIT = 1U << 8,         /* RWF_NOWAIT or O_NONBLOCK: never punt */
        REQ_F_ISREG = 1U << 9,          /* the file is a regular file */
        REQ_F_DIRECT = 1U << 10,        /* the file is open O_DIRECT */
        REQ_F_FAIL = 1U << 11,          /* failed: breaks a (soft) link */
        REQ_F_SKIP_LINK_CQES = 1U << 12, /* failed with CQE_SKIP: links fail silently */
        REQ_F_TW_FAIL_LINKS = 1U << 13, /* task work: complete this chain as failed */
        REQ_F_ARM_LTIMEOUT = 1U << 14,  /* a LINK_TIMEOUT follows: arm it when going async */
        REQ_F_LINK_TIMEOUT = 1U << 15,  /* its LINK_TIMEOUT is armed (timeout.c) */
        REQ_F_POLLED = 1U << 16,        /* waits in poll.c, cancellable there */
        REQ_F_APOLL = 1U << 17,         /* waits for readiness to retry (FAST_POLL) */
        REQ_F_NO_APOLL = 1U << 18,      /* the file has no non-blocking mode: io-wq */
        REQ_F_NONBLOCK_FILE = 1U << 19, /* a non-regular file opened O_NONBLOCK */
        REQ_F_BUFFER_SELECT = 1U << 20, /* IOSQE_BUFFER_SELECT */
        REQ_F_BUFFER_SELECTED = 1U << 21, /* holds req->kbuf */
        REQ_F_UNCOUNTED = 1U << 22,     /* left ctx->inflight with its CQE */
};

#define IO_REQ_LINK_FLAGS (REQ_F_LINK | REQ_F_HARDLINK)

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

#define IO_CMD_SIZE 96

struct async_poll;
struct io_buffer;

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
        struct io_kiocb *link;          /* next request of the chain */
        struct list_head work_node;     /* io-wq, task work or defer list */
        /* Task work: run on the event loop instead of issuing (NULL: issue). */
        void (*tw_func)(struct io_kiocb *req);
        uint32_t cancel_seq;            /* the last ASYNC_CANCEL_ALL that saw it */
        struct async_poll *apoll;       /* while REQ_F_APOLL */
        struct io_buffer *kbuf;         /* while REQ_F_BUFFER_SELECTED */
        uint16_t buf_group;             /* IOSQE_BUFFER_SELECT: sqe->buf_group */
        uint64_t wq_hash;               /* io-wq: serialise with work of the same hash (0: none) */
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

#define cmd_to_io_kiocb(ptr) ((struct io_kiocb *) ((char *) (ptr) - offsetof(struct io_kiocb, cmd)))

static inline void io_req_set_res(struct io_kiocb *req, int32_t res, uint32_t cflags) {
        req->res = res;
        req->cflags = cflags;
}

/* The request failed: a soft link breaks after it, and a CQE_SKIP request
 * posts its CQE after all (its cancelled links then post none). */
static inline void io_req_set_fail(struct io_kiocb *req) {
        req->flags |= REQ_F_FAIL;
        if (req->flags & REQ_F_CQE_SKIP) {
                req->flags &= ~REQ_F_CQE_SKIP;
                req->flags |= REQ_F_SKIP_LINK_CQES;
        }
}
