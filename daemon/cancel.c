/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cancellation, after io_uring/cancel.c. A request can be cancelled where
 * it waits: queued or waiting for readiness in io-wq, in poll, or as a
 * TIMEOUT; elsewhere (issued inline, in a chain behind its head, held by a
 * drain) it cannot, as in the kernel.
 *
 * CANCEL_FD compares open file descriptions: ours are duplicates of the
 * app's (pidfd_getfd), so two requests name the same file when kcmp() says
 * our fds share a description.
 */

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "cancel.h"
#include "io-wq.h"
#include "io-poll.h"
#include "req.h"
#include "ring.h"
#include "rsrc.h"
#include "submit.h"
#include "task.h"
#include "timeout.h"
#include "uringd/macro.h"

struct io_cancel {
        uint64_t addr;
        uint32_t flags;
        int32_t fd;
        uint8_t opcode;
};

static bool io_same_file(const struct io_file *a, const struct io_file *b) {
        pid_t self;

        if (!a || !b)
                return false;
        if (a == b)
                return true;
        self = getpid();
        return syscall(SYS_kcmp, self, self, KCMP_FILE, a->fd, b->fd) == 0;
}

bool io_cancel_req_match(struct io_kiocb *req, struct io_cancel_data *cd) {
        bool match_user_data = cd->flags & IORING_ASYNC_CANCEL_USERDATA;

        if (req->ctx != cd->ctx)
                return false;
        if (!(cd->flags & (IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_OP)))
                match_user_data = true;

        if (!(cd->flags & IORING_ASYNC_CANCEL_ANY)) {
                if ((cd->flags & IORING_ASYNC_CANCEL_FD) && !io_same_file(req->io_file, cd->file))
                        return false;
                if ((cd->flags & IORING_ASYNC_CANCEL_OP) && req->opcode != cd->opcode)
                        return false;
                if (match_user_data && req->user_data != cd->data)
                        return false;
                if (!(cd->flags & IORING_ASYNC_CANCEL_ALL))
                        return true;
        }
        /* ALL and ANY: each request once per cancel. */
        if (req->cancel_seq == cd->seq)
                return false;
        req->cancel_seq = cd->seq;
        return true;
}

static bool io_cancel_cb(struct io_kiocb *req, void *data) {
        return io_cancel_req_match(req, data);
}

static int io_async_cancel_one(struct io_cancel_data *cd) {
        bool all = cd->flags & (IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);

        if (!cd->ctx->wq)
                return -ENOENT;
        switch (io_wq_cancel_cb(cd->ctx->wq, io_cancel_cb, cd, all)) {
        case IO_WQ_CANCEL_OK:
                return 0;
        case IO_WQ_CANCEL_RUNNING:
                return -EALREADY;
        default:
                return -ENOENT;
        }
}

int io_try_cancel(struct io_cancel_data *cd) {
        int r;

        r = io_async_cancel_one(cd);
        /* On -EALREADY go on: as the kernel, the answer becomes what poll
         * and timeouts say. */
        if (r == 0)
                return 0;
        r = io_poll_cancel(cd->ctx, cd);
        if (r != -ENOENT)
                return r;
        if (!(cd->flags & IORING_ASYNC_CANCEL_FD))
                r = io_timeout_cancel(cd->ctx, cd);
        return r;
}

static int __io_async_cancel(struct io_cancel_data *cd) {
        bool all = cd->flags & (IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
        int r, nr = 0;

        for (;;) {
                r = io_try_cancel(cd);
                if (r == -ENOENT)
                        break;
                if (!all)
                        return r;
                nr++;
        }
        /* The kernel's slow path: each task's io-wq once more. */
        r = io_async_cancel_one(cd);
        if (r != -ENOENT)
                nr++;
        return all ? nr : r;
}

int io_async_cancel_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_cancel *c = io_kiocb_to_cmd(req, struct io_cancel);

        if (sqe->off || sqe->splice_fd_in)
                return -EINVAL;
        c->addr = sqe->addr;
        c->flags = sqe->cancel_flags;
        if (c->flags & ~IO_CANCEL_FLAGS)
                return -EINVAL;
        if (c->flags & IORING_ASYNC_CANCEL_FD) {
                if (c->flags & IORING_ASYNC_CANCEL_ANY)
                        return -EINVAL;
                c->fd = sqe->fd;
        }
        if (c->flags & IORING_ASYNC_CANCEL_OP) {
                if (c->flags & IORING_ASYNC_CANCEL_ANY)
                        return -EINVAL;
                c->opcode = (uint8_t) sqe->len;
        }
        return 0;
}

static struct io_file *io_cancel_file(struct io_ring_ctx *ctx, struct io_task *t, int fd, bool fixed) {
        struct io_file *f;
        int dfd;

        if (fd < 0)
                return NULL;
        if (fixed)
                return io_fixed_file_get(ctx, (unsigned) fd);
        dfd = io_task_getfd(t, fd);
        if (dfd < 0)
                return NULL;
        if (io_file_new(dfd, &f) < 0)
                return NULL;
        return f;
}

int io_async_cancel(struct io_kiocb *req, unsigned issue_flags) {
        struct io_cancel *c = io_kiocb_to_cmd(req, struct io_cancel);
        struct io_cancel_data cd = {
                .ctx = req->ctx,
                .data = c->addr,
                .flags = c->flags,
                .opcode = c->opcode,
                .seq = ++req->ctx->cancel_seq,
        };
        int r;

        if (cd.flags & IORING_ASYNC_CANCEL_FD) {
                bool fixed = (req->flags & REQ_F_FIXED_FILE) || (cd.flags & IORING_ASYNC_CANCEL_FD_FIXED);

                cd.file = io_cancel_file(req->ctx, req->task, c->fd, fixed);
                if (!cd.file) {
                        r = -EBADF;
                        goto done;
                }
        }
        r = __io_async_cancel(&cd);
        io_file_put(cd.file);
done:
        if (r < 0)
                io_req_set_fail(req);
        io_req_set_res(req, r, 0);
        return IOU_OK;
}

/* The 6.18 layout of struct io_uring_sync_cancel_reg (6.1's lacks opcode). */
struct sync_cancel_reg {
        uint64_t addr;
        int32_t fd;
        uint32_t flags;
        struct __kernel_timespec timeout;
        uint8_t opcode;
        uint8_t pad[7];
        uint64_t pad2[3];
};

int io_sync_cancel(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg) {
        struct sync_cancel_reg sc;
        struct io_cancel_data cd = { .ctx = ctx };
        int r;

        if (io_task_read(t, &sc, arg, sizeof(sc)) < 0)
                return -EFAULT;
        if (sc.flags & ~IO_CANCEL_FLAGS)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(sc.pad); i++)
                if (sc.pad[i])
                        return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(sc.pad2); i++)
                if (sc.pad2[i])
                        return -EINVAL;

        cd.data = sc.addr;
        cd.flags = sc.flags;
        cd.opcode = sc.opcode;
        cd.seq = ++ctx->cancel_seq;
        if (cd.flags & IORING_ASYNC_CANCEL_FD) {
                cd.file = io_cancel_file(ctx, t, sc.fd, cd.flags & IORING_ASYNC_CANCEL_FD_FIXED);
                if (!cd.file)
                        return -EBADF;
        }
        r = __io_async_cancel(&cd);
        io_file_put(cd.file);
        /* A running request was interrupted: the kernel waits until it
         * has completed and says 0. Ours is interrupted and completes
         * promptly; we answer without waiting for its CQE (documented). */
        return r == -EALREADY ? 0 : r;
}
