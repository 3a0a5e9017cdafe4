/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io-wq.h"
#include "opdef.h"
#include "req.h"
#include "ring.h"
#include "rsrc.h"
#include "submit.h"
#include "task.h"
#include "uringd/macro.h"

/* SQE flags uringd implements; the others fail the SQE with -EINVAL, as on a
 * kernel that predates them. */
#define SQE_VALID_FLAGS (IOSQE_FIXED_FILE | IOSQE_ASYNC)

static unsigned nr_cpus(void) {
        static unsigned n;
        if (!n) {
                long c = sysconf(_SC_NPROCESSORS_ONLN);
                n = c > 0 ? (unsigned) c : 1;
        }
        return n;
}

/*
 * One io_uring_enter()'s worth of submission state. Requests of a batch that
 * name the same fd share one io_file: one pidfd_getfd() per fd and batch.
 */
#define SUBMIT_FILE_CACHE 8

struct io_submit_state {
        struct io_task *task;
        unsigned nr_files;
        int app_fd[SUBMIT_FILE_CACHE];
        struct io_file *files[SUBMIT_FILE_CACHE];
};

static void io_submit_state_end(struct io_submit_state *state) {
        for (unsigned i = 0; i < state->nr_files; i++)
                io_file_put(state->files[i]);
        state->nr_files = 0;
}

static void io_req_free(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        const struct io_cold_def *cold = &io_cold_defs[req->opcode];

        if (cold->cleanup)
                cold->cleanup(req);
        io_file_put(req->io_file);
        io_task_unref(req->task);
        __atomic_sub_fetch(&ctx->inflight, 1, __ATOMIC_RELAXED);
        free(req);
        io_ring_ctx_unref(ctx);
}

void io_req_complete(struct io_kiocb *req, bool async) {
        io_post_cqe(req->ctx, req->user_data, req->res, req->cflags, async);
        io_req_free(req);
}

static void io_req_fail(struct io_kiocb *req, int error) {
        io_req_set_res(req, error, 0);
        io_req_complete(req, false);
}

static struct io_file *io_file_get_normal(struct io_submit_state *state, int app_fd) {
        struct io_file *f;

        for (unsigned i = 0; i < state->nr_files; i++)
                if (state->app_fd[i] == app_fd)
                        return io_file_get(state->files[i]);

        int fd = io_task_getfd(state->task, app_fd);
        if (fd < 0 || io_file_new(fd, &f) < 0)
                return NULL;
        if (state->nr_files < SUBMIT_FILE_CACHE) {
                state->app_fd[state->nr_files] = app_fd;
                state->files[state->nr_files++] = io_file_get(f);
        }
        return f;
}

/* Resolve sqe->fd into a daemon-side file before issue (event loop). */
static int io_assign_file(struct io_kiocb *req, struct io_submit_state *state) {
        struct io_file *f;

        if (req->flags & REQ_F_FIXED_FILE)
                f = req->sqe_fd < 0 ? NULL : io_fixed_file_get(req->ctx, (unsigned) req->sqe_fd);
        else
                f = req->sqe_fd < 0 ? NULL : io_file_get_normal(state, req->sqe_fd);
        if (!f)
                return -EBADF;
        req->io_file = f;
        req->file = f->fd;

        if (f->flags & IO_FILE_ISREG)
                req->flags |= REQ_F_ISREG;
        if (f->flags & IO_FILE_DIRECT)
                req->flags |= REQ_F_DIRECT;
        /* As the kernel: an O_NONBLOCK file answers -EAGAIN, never waits.
         * The app may flip O_NONBLOCK on a registered file at any time. */
        if (req->flags & REQ_F_FIXED_FILE && !(f->flags & IO_FILE_ISREG)) {
                int fl = fcntl(f->fd, F_GETFL);
                if (fl >= 0 && (fl & O_NONBLOCK))
                        req->flags |= REQ_F_NOWAIT;
        } else if (f->flags & IO_FILE_NONBLOCK)
                req->flags |= REQ_F_NOWAIT;
        return 0;
}

static int io_init_req(struct io_ring_ctx *ctx, struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        const struct io_issue_def *def;
        uint8_t sqe_flags = sqe->flags;

        req->opcode = sqe->opcode;
        req->user_data = sqe->user_data;
        req->sqe_fd = sqe->fd;

        if (req->opcode >= URINGD_IORING_OP_LAST || !io_op_supported(req->opcode)) {
                req->opcode = IORING_OP_NOP;
                return -EINVAL;
        }
        if (sqe_flags & ~SQE_VALID_FLAGS)
                return -EINVAL;
        if (sqe_flags & IOSQE_FIXED_FILE)
                req->flags |= REQ_F_FIXED_FILE;
        if (sqe_flags & IOSQE_ASYNC)
                req->flags |= REQ_F_FORCE_ASYNC;
        /* No personalities are ever registered. */
        if (sqe->personality)
                return -EINVAL;

        def = &io_issue_defs[req->opcode];
        return def->prep(req, sqe);
}

static void io_queue_iowq(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int acct = IO_WQ_ACCT_BOUND;
        int r;

        if (def->unbound_nonreg_file && req->file >= 0 && !(req->flags & REQ_F_ISREG))
                acct = IO_WQ_ACCT_UNBOUND;
        if (!ctx->wq) {
                unsigned bounded = MIN(ctx->layout.sq_entries, 4 * nr_cpus());
                ctx->wq = io_wq_create(bounded, 256);
                if (!ctx->wq) {
                        io_req_fail(req, -ENOMEM);
                        return;
                }
        }
        r = io_wq_enqueue(ctx->wq, req, acct);
        if (r < 0)
                io_req_fail(req, r);
}

/* Issue on the event loop, non-blocking; punt to io-wq on -EAGAIN. */
static void io_queue_sqe(struct io_kiocb *req, struct io_submit_state *state) {
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int r;

        if (def->needs_file) {
                r = io_assign_file(req, state);
                if (r < 0) {
                        io_req_fail(req, r);
                        return;
                }
        }
        if ((req->flags & REQ_F_FORCE_ASYNC) || def->always_async) {
                io_queue_iowq(req);
                return;
        }

        r = def->issue(req, IO_URING_F_NONBLOCK);
        if (r == IOU_OK)
                io_req_complete(req, false);
        else if (r == -EAGAIN && !(req->flags & REQ_F_NOWAIT))
                io_queue_iowq(req);
        else if (r != IOU_ISSUE_SKIP_COMPLETE)
                io_req_fail(req, r);
}

void io_wq_submit_work(struct io_kiocb *req) {
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int r = def->issue(req, IO_URING_F_IOWQ);

        if (r == IOU_ISSUE_SKIP_COMPLETE)
                return;
        if (r != IOU_OK)
                io_req_set_res(req, r, 0);
        io_req_complete(req, true);
}

/* Returns 0 or the SQE's error (already posted in its CQE). */
static int io_submit_sqe(struct io_ring_ctx *ctx, struct io_submit_state *state, const struct io_uring_sqe *sqe) {
        struct io_kiocb *req = calloc(1, sizeof(*req));
        int r;

        if (!req)
                return -ENOMEM;
        req->ctx = io_ring_ctx_ref(ctx);
        req->task = io_task_ref(state->task);
        req->file = -1;
        __atomic_add_fetch(&ctx->inflight, 1, __ATOMIC_RELAXED);

        r = io_init_req(ctx, req, sqe);
        if (r < 0) {
                io_req_fail(req, r);
                return r;
        }
        io_queue_sqe(req, state);
        return 0;
}

/* Fetch the next SQE into @out (read once). False: invalid index, dropped. */
static bool io_get_sqe(struct io_ring_ctx *ctx, struct io_uring_sqe *out) {
        uint32_t idx = read_once_u32(&ctx->sq_array[ctx->cached_sq_head++ & ctx->sq_mask]);

        if (idx >= ctx->layout.sq_entries) {
                write_once_u32(ctx->sq_dropped, read_once_u32(ctx->sq_dropped) + 1);
                return false;
        }
        /* The app may rewrite the SQE under us: one private copy, read once. */
        memcpy(out, (const void *) &ctx->sqes[idx], sizeof(*out));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        return true;
}

int io_submit_sqes(struct io_ring_ctx *ctx, struct io_task *task, uint32_t nr) {
        uint32_t entries = smp_load_acquire_u32(ctx->sq_tail) - ctx->cached_sq_head;
        struct io_submit_state state = { .task = task };
        uint32_t left;

        entries = MIN(entries, ctx->layout.sq_entries);
        nr = MIN(nr, entries);
        if (nr == 0)
                return 0;

        left = nr;
        do {
                struct io_uring_sqe sqe;

                if (!io_get_sqe(ctx, &sqe))
                        break;
                if (io_submit_sqe(ctx, &state, &sqe) < 0 && !(ctx->flags & IORING_SETUP_SUBMIT_ALL)) {
                        left--;
                        break;
                }
        } while (--left);

        io_submit_state_end(&state);
        smp_store_release_u32(ctx->sq_head, ctx->cached_sq_head);
        return (int) (nr - left);
}
