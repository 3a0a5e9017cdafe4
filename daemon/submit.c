/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request core, after io_uring/io_uring.c: consume SQEs, assemble link
 * chains, init/prep, issue non-blocking on the event loop, punt to io-wq,
 * hold requests back behind a drain, complete, and run the next link.
 *
 * Links: a chain is issued one request at a time; when a request fails
 * (REQ_F_FAIL) the rest of a soft chain completes with -ECANCELED, while a
 * hard link goes on. An SQE that fails to prep inside a chain does not stop
 * the batch: the chain is still assembled, its head marked failed, and the
 * whole chain completes in order, the failing SQE with its own error.
 *
 * Drain: a drained request waits until every request submitted before it
 * has completed, and the requests after it wait for it. As in the kernel,
 * the rule is counted, not ordered: held-back requests are released while
 * every request still allocated is one of them.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io-poll.h"
#include "io-wq.h"
#include "kbuf.h"
#include "manager.h"
#include "opdef.h"
#include "register.h"
#include "req.h"
#include "ring.h"
#include "rsrc.h"
#include "rw.h"
#include "submit.h"
#include "task.h"
#include "timeout.h"
#include "uringd/macro.h"

/* SQE flags uringd implements; BUFFER_SELECT (provided buffers) fails the
 * SQE with -EINVAL, as on a kernel that predates it. */
#define SQE_VALID_FLAGS                                                         \
        (IOSQE_FIXED_FILE | IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | \
         IOSQE_ASYNC | IOSQE_BUFFER_SELECT | IOSQE_CQE_SKIP_SUCCESS)

/*
 * One submission's state: the link being assembled, and a small cache so
 * that the requests of a batch naming the same fd share one io_file (one
 * pidfd_getfd() per fd and batch).
 */
#define SUBMIT_FILE_CACHE 8

struct io_submit_state {
        struct io_task *task;
        struct io_kiocb *link_head, *link_last;
        unsigned nr_files;
        int app_fd[SUBMIT_FILE_CACHE];
        struct io_file *files[SUBMIT_FILE_CACHE];
};

static void io_queue_sqe(struct io_kiocb *req, struct io_submit_state *state);
static void io_queue_sqe_fallback(struct io_kiocb *req, struct io_submit_state *state);

static unsigned nr_cpus(void) {
        static unsigned n;
        if (!n) {
                long c = sysconf(_SC_NPROCESSORS_ONLN);
                n = c > 0 ? (unsigned) c : 1;
        }
        return n;
}

static void io_req_free(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        const struct io_cold_def *cold = &io_cold_defs[req->opcode];

        if (cold->cleanup)
                cold->cleanup(req);
        if (req->flags & REQ_F_APOLL)
                io_apoll_cleanup(req);
        /* A provided buffer still held (the request never completed). */
        (void) io_put_kbuf(req);
        io_file_put(req->io_file);
        io_task_unref(req->task);
        if (!(req->flags & REQ_F_UNCOUNTED))
                __atomic_sub_fetch(&ctx->inflight, 1, __ATOMIC_RELEASE);
        free(req);
        io_ring_ctx_unref(ctx);
}

/* A failed request's chain: every link completes with -ECANCELED (or its
 * own error from prep), posting CQEs unless the failed request was a
 * CQE_SKIP one. As in the kernel this runs as task work, after the rest of
 * the current batch. */
static void io_fail_links(struct io_kiocb *req) {
        bool ignore_cqes = req->flags & REQ_F_SKIP_LINK_CQES;
        struct io_kiocb *link = req->link;

        req->link = NULL;
        for (struct io_kiocb *l = link; l; l = l->link) {
                if (ignore_cqes)
                        l->flags |= REQ_F_CQE_SKIP;
                else
                        l->flags &= ~REQ_F_CQE_SKIP;
        }
        link->flags |= REQ_F_TW_FAIL_LINKS;
        manager_queue_task_work(link->ctx->manager, link);
}

static void io_req_tw_fail_links(struct io_kiocb *link) {
        while (link) {
                struct io_kiocb *next = link->link;

                link->link = NULL;
                io_req_set_res(link, (link->flags & REQ_F_FAIL) ? link->res : -ECANCELED, 0);
                io_req_complete(link, false);
                link = next;
        }
}

void io_req_task_work_add(struct io_kiocb *req, void (*func)(struct io_kiocb *req)) {
        req->tw_func = func;
        manager_queue_task_work(req->ctx->manager, req);
}

void io_req_task_complete(struct io_kiocb *req) {
        io_req_complete(req, false);
}

void io_req_complete(struct io_kiocb *req, bool async) {
        struct io_ring_ctx *ctx = io_ring_ctx_ref(req->ctx);
        struct io_kiocb *next = NULL;

        /* A consumed provided buffer is named in the CQE. */
        req->cflags |= io_put_kbuf(req);
        if (!(req->flags & REQ_F_CQE_SKIP)) {
                /* Out of the drain's count before the app can see the CQE. */
                io_post_req_cqe(ctx, req->user_data, req->res, req->cflags, async);
                req->flags |= REQ_F_UNCOUNTED;
        }
        /* Its LINK_TIMEOUT completes -ECANCELED, and the chain goes on
         * after it. */
        if (req->flags & (REQ_F_ARM_LTIMEOUT | REQ_F_LINK_TIMEOUT))
                io_disarm_next(req);
        if (req->link) {
                if ((req->flags & REQ_F_FAIL) && !(req->flags & REQ_F_HARDLINK))
                        io_fail_links(req);
                else {
                        next = req->link;
                        req->link = NULL;
                }
        }
        io_req_free(req);
        if (next)
                manager_queue_task_work(ctx->manager, next);
        /* After the free: a drain waits for the allocated count to drop. */
        manager_queue_wake(ctx->manager, ctx);
        io_ring_ctx_unref(ctx);
}

static void io_req_defer_failed(struct io_kiocb *req, int error) {
        io_req_set_fail(req);
        io_req_set_res(req, error, 0);
        io_req_complete(req, false);
}

static void io_submit_state_end(struct io_submit_state *state) {
        if (state->link_head) {
                struct io_kiocb *head = state->link_head;
                state->link_head = NULL;
                io_queue_sqe_fallback(head, state);
        }
        for (unsigned i = 0; i < state->nr_files; i++)
                io_file_put(state->files[i]);
        state->nr_files = 0;
        /* Reads and writes queued by rw.c: one syscall for the batch. */
        io_rw_flush();
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

/* Resolve sqe->fd into a daemon-side file, at issue (event loop): a linked
 * request sees the fd table as it is when its turn comes. */
static int io_assign_file(struct io_kiocb *req, struct io_submit_state *state) {
        struct io_file *f;

        if (!io_issue_defs[req->opcode].needs_file || req->io_file)
                return 0;
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
        /* O_NONBLOCK matters only for a file with no non-blocking mode of
         * its own (rw.c finds out): the kernel still waits for the others.
         * The app may flip O_NONBLOCK on a registered file at any time. */
        if (!(f->flags & IO_FILE_ISREG)) {
                bool nonblock = f->flags & IO_FILE_NONBLOCK;
                if (req->flags & REQ_F_FIXED_FILE) {
                        int fl = fcntl(f->fd, F_GETFL);
                        nonblock = fl >= 0 && (fl & O_NONBLOCK);
                }
                if (nonblock)
                        req->flags |= REQ_F_NONBLOCK_FILE;
        }
        return 0;
}

static void io_queue_iowq(struct io_kiocb *req, struct io_submit_state *state) {
        struct io_ring_ctx *ctx = req->ctx;
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int acct = IO_WQ_ACCT_BOUND;
        int r;

        /* Timeouts, polls and cancels live on the event loop: IOSQE_ASYNC
         * or a drain changes when they are issued, not where. */
        if (def->loop_only) {
                io_queue_sqe(req, state);
                return;
        }
        r = io_assign_file(req, state);
        if (r < 0) {
                io_req_defer_failed(req, r);
                return;
        }
        /* IOSQE_ASYNC on a pipe or socket: the kernel's worker tries once
         * without blocking and then arms a poll; do both from task work,
         * after this batch, where a poll can be armed and cancelled. */
        if ((req->flags & REQ_F_FORCE_ASYNC) && (def->pollin || def->pollout) &&
            !(req->flags & (REQ_F_ISREG | REQ_F_NO_APOLL | REQ_F_NOWAIT))) {
                req->flags &= ~REQ_F_FORCE_ASYNC;
                manager_queue_task_work(ctx->manager, req);
                return;
        }
        /* Workers cannot touch buffer groups: choose the buffer now. */
        if ((req->flags & (REQ_F_BUFFER_SELECT | REQ_F_BUFFER_SELECTED)) == REQ_F_BUFFER_SELECT) {
                r = io_rw_buffer_select(req);
                if (r < 0) {
                        io_req_defer_failed(req, r);
                        return;
                }
        }
        if (def->unbound_nonreg_file && req->io_file && !(req->flags & REQ_F_ISREG))
                acct = IO_WQ_ACCT_UNBOUND;
        /* Writes to one regular file run one at a time, in order. */
        if (def->hash_reg_file && (req->flags & REQ_F_ISREG))
                req->wq_hash = req->io_file->inode_hash;
        if (!ctx->wq) {
                r = io_ring_create_wq(ctx);
                if (r < 0) {
                        io_req_defer_failed(req, r);
                        return;
                }
        }
        if (req->flags & REQ_F_ARM_LTIMEOUT)
                io_arm_ltimeout(req);
        r = io_wq_enqueue(ctx->wq, req, acct);
        if (r < 0)
                io_req_defer_failed(req, r);
}

static unsigned io_linked_nr(struct io_kiocb *req) {
        unsigned n = 0;
        for (; req; req = req->link)
                n++;
        return n;
}

/* Release held-back requests while everything still allocated is held back. */
static void io_queue_deferred(struct io_ring_ctx *ctx) {
        bool drain_seen = false, first = true;

        while (!list_empty(&ctx->defer_list)) {
                struct io_kiocb *req = list_first_entry(&ctx->defer_list, struct io_kiocb, work_node);
                unsigned allocated = __atomic_load_n(&ctx->inflight, __ATOMIC_ACQUIRE);

                drain_seen |= req->flags & REQ_F_IO_DRAIN;
                if ((drain_seen || first) && allocated != ctx->nr_drained)
                        return;
                list_del_init(&req->work_node);
                ctx->nr_drained -= io_linked_nr(req);
                manager_queue_task_work(ctx->manager, req);
                first = false;
        }
}

static void io_drain_req(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        bool drain = req->flags & REQ_F_IO_DRAIN;

        ctx->nr_drained += io_linked_nr(req);
        list_add_tail(&req->work_node, &ctx->defer_list);
        io_queue_deferred(ctx);
        if (!drain && list_empty(&ctx->defer_list))
                ctx->drain_active = false;
}

void io_ring_flush_deferred(struct io_ring_ctx *ctx) {
        if (!list_empty(&ctx->defer_list))
                io_queue_deferred(ctx);
}

void io_ring_cancel_deferred(struct io_ring_ctx *ctx) {
        while (!list_empty(&ctx->defer_list)) {
                struct io_kiocb *req = list_first_entry(&ctx->defer_list, struct io_kiocb, work_node);
                list_del_init(&req->work_node);
                ctx->nr_drained -= io_linked_nr(req);
                io_req_defer_failed(req, -ECANCELED);
        }
}

static void io_queue_sqe_fallback(struct io_kiocb *req, struct io_submit_state *state) {
        if (req->flags & REQ_F_FAIL) {
                /* Not submitted: fail the whole chain, hard links too. */
                req->flags &= ~REQ_F_HARDLINK;
                req->flags |= REQ_F_LINK;
                io_req_complete(req, false);
        } else if (req->ctx->drain_active)
                io_drain_req(req);
        else
                io_queue_iowq(req, state);
}

/* After issue: a negative result is a failure that breaks soft links. */
static void io_req_issued(struct io_kiocb *req, bool async) {
        if (req->res < 0)
                io_req_set_fail(req);
        io_req_complete(req, async);
}

/* Issue on the event loop, non-blocking; punt to io-wq on -EAGAIN. */
static void io_queue_sqe(struct io_kiocb *req, struct io_submit_state *state) {
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int r;

        r = io_assign_file(req, state);
        if (r < 0) {
                io_req_defer_failed(req, r);
                return;
        }
        if (def->always_async) {
                io_queue_iowq(req, state);
                return;
        }

        r = def->issue(req, IO_URING_F_NONBLOCK);
        if (r == IOU_OK)
                io_req_issued(req, false);
        else if (r == -EAGAIN && !(req->flags & REQ_F_NOWAIT) && !def->loop_only) {
                /* A pollable file waits for readiness here, the rest on io-wq.
                 * A waiting request gives its provided buffer back. */
                if (io_arm_poll_handler(req) == IO_APOLL_OK) {
                        io_kbuf_recycle(req);
                        if (req->flags & REQ_F_ARM_LTIMEOUT)
                                io_arm_ltimeout(req);
                } else
                        io_queue_iowq(req, state);
        } else if (r == IOU_ISSUE_SKIP_COMPLETE) {
                /* Waiting on the loop (poll, timeout): so may its guard. */
                if (req->flags & REQ_F_ARM_LTIMEOUT)
                        io_arm_ltimeout(req);
        } else
                io_req_defer_failed(req, r);
}

void io_req_task_submit(struct io_kiocb *req) {
        struct io_submit_state state = { .task = req->task };

        if (req->tw_func) {
                void (*func)(struct io_kiocb *) = req->tw_func;
                req->tw_func = NULL;
                func(req);
                return;
        }
        if (req->flags & REQ_F_TW_FAIL_LINKS)
                io_req_tw_fail_links(req);
        else if (req->ctx->dead)
                io_req_defer_failed(req, -ECANCELED);
        else if (req->flags & REQ_F_FORCE_ASYNC)
                io_queue_iowq(req, &state);
        else
                io_queue_sqe(req, &state);
        io_submit_state_end(&state);
}

void io_wq_submit_work(struct io_kiocb *req) {
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        int r = def->issue(req, IO_URING_F_IOWQ);

        /* Done running: cancellation must not look at it any more, as
         * completing may free it. */
        io_wq_work_done();
        if (r == IOU_ISSUE_SKIP_COMPLETE)
                return;
        if (r != IOU_OK)
                io_req_set_res(req, r, 0);
        io_req_issued(req, true);
}

/* A drain inside a link drains the whole link and what follows it. */
static void io_init_drain(struct io_ring_ctx *ctx, struct io_submit_state *state) {
        ctx->drain_active = true;
        if (state->link_head) {
                state->link_head->flags |= REQ_F_IO_DRAIN | REQ_F_FORCE_ASYNC;
                ctx->drain_next = true;
        }
}

int io_ring_create_wq(struct io_ring_ctx *ctx) {
        unsigned counts[IO_WQ_ACCT_NR] = { ctx->iowq_limits[0], ctx->iowq_limits[1] };

        ctx->wq = io_wq_create(MIN(ctx->layout.sq_entries, 4 * nr_cpus()), IO_WQ_UNBOUNDED_MAX);
        if (!ctx->wq)
                return -ENOMEM;
        io_wq_max_workers(ctx->wq, counts);
        if (ctx->iowq_cpus)
                (void) io_wq_cpu_affinity(ctx->wq, ctx->iowq_cpus);
        return 0;
}

static int io_init_req(struct io_ring_ctx *ctx, struct io_kiocb *req, const struct io_uring_sqe *sqe,
                       struct io_submit_state *state) {
        const struct io_issue_def *def;
        uint8_t sqe_flags = sqe->flags;

        req->opcode = sqe->opcode;
        req->user_data = sqe->user_data;
        req->sqe_fd = sqe->fd;
        /* The flags count even when the SQE is refused: a bad SQE inside a
         * chain still belongs to the chain. */
        if (sqe_flags & IOSQE_FIXED_FILE)
                req->flags |= REQ_F_FIXED_FILE;
        if (sqe_flags & IOSQE_IO_DRAIN)
                req->flags |= REQ_F_IO_DRAIN;
        if (sqe_flags & IOSQE_IO_LINK)
                req->flags |= REQ_F_LINK;
        if (sqe_flags & IOSQE_IO_HARDLINK)
                req->flags |= REQ_F_HARDLINK;
        if (sqe_flags & IOSQE_ASYNC)
                req->flags |= REQ_F_FORCE_ASYNC;
        if (sqe_flags & IOSQE_CQE_SKIP_SUCCESS)
                req->flags |= REQ_F_CQE_SKIP;

        if (req->opcode >= URINGD_IORING_OP_LAST || !io_op_supported(req->opcode)) {
                req->opcode = IORING_OP_NOP;
                return -EINVAL;
        }
        if (sqe_flags & ~SQE_VALID_FLAGS)
                return -EINVAL;
        def = &io_issue_defs[req->opcode];
        if (sqe_flags & IOSQE_BUFFER_SELECT) {
                if (!def->buffer_select)
                        return -EOPNOTSUPP;
                req->flags |= REQ_F_BUFFER_SELECT;
                req->buf_group = sqe->buf_group;
        }
        if (sqe_flags & IOSQE_CQE_SKIP_SUCCESS)
                ctx->drain_disabled = true;
        if (sqe_flags & IOSQE_IO_DRAIN) {
                if (ctx->drain_disabled)
                        return -EOPNOTSUPP;
                io_init_drain(ctx, state);
        }
        if (ctx->restricted && !io_check_restriction(ctx, req->opcode, sqe_flags))
                return -EACCES;
        if (ctx->drain_active || ctx->drain_next) {
                /* Down the slow path, to be drained there. */
                if (ctx->drain_active)
                        req->flags |= REQ_F_FORCE_ASYNC;
                if (ctx->drain_next && !state->link_head) {
                        ctx->drain_next = false;
                        ctx->drain_active = true;
                        req->flags |= REQ_F_IO_DRAIN | REQ_F_FORCE_ASYNC;
                }
        }

        if (!def->ioprio && sqe->ioprio)
                return -EINVAL;
        if (!def->iopoll && (ctx->flags & IORING_SETUP_IOPOLL))
                return -EINVAL;
        /* No personalities are ever registered. */
        if (sqe->personality)
                return -EINVAL;
        return def->prep(req, sqe);
}

/* A bad SQE: inside a chain it joins the chain and the batch goes on. */
static int io_submit_fail_init(struct io_submit_state *state, struct io_kiocb *req, int error) {
        struct io_kiocb *head = state->link_head;

        io_req_set_fail(req);
        io_req_set_res(req, error, 0);
        if (head && !(head->flags & REQ_F_FAIL)) {
                io_req_set_fail(head);
                io_req_set_res(head, -ECANCELED, 0);
        }

        if (!(req->flags & IO_REQ_LINK_FLAGS)) {
                if (head) {
                        state->link_last->link = req;
                        state->link_head = NULL;
                        req = head;
                }
                io_queue_sqe_fallback(req, state);
                return error;
        }
        if (head)
                state->link_last->link = req;
        else
                state->link_head = req;
        state->link_last = req;
        return 0;
}

/* Returns 0 or the SQE's error (already on its way to its CQE). */
static int io_submit_sqe(struct io_ring_ctx *ctx, struct io_submit_state *state, const struct io_uring_sqe *sqe) {
        struct io_kiocb *req = calloc(1, sizeof(*req));
        int r;

        if (!req)
                return -ENOMEM;
        req->ctx = io_ring_ctx_ref(ctx);
        req->task = io_task_ref(state->task);
        req->file = -1;
        __atomic_add_fetch(&ctx->inflight, 1, __ATOMIC_RELAXED);

        r = io_init_req(ctx, req, sqe, state);
        if (r == 0 && req->opcode == IORING_OP_LINK_TIMEOUT)
                r = io_link_timeout_attach(req, state->link_head ? state->link_last : NULL);
        if (r < 0)
                return io_submit_fail_init(state, req, r);

        if (state->link_head) {
                state->link_last->link = req;
                state->link_last = req;
                if (req->flags & IO_REQ_LINK_FLAGS)
                        return 0;
                /* The last request of the chain: issue its head. */
                req = state->link_head;
                state->link_head = NULL;
                if (req->flags & (REQ_F_FORCE_ASYNC | REQ_F_FAIL)) {
                        io_queue_sqe_fallback(req, state);
                        return 0;
                }
        } else if (req->flags & (IO_REQ_LINK_FLAGS | REQ_F_FORCE_ASYNC | REQ_F_FAIL)) {
                if (req->flags & IO_REQ_LINK_FLAGS)
                        state->link_head = state->link_last = req;
                else
                        io_queue_sqe_fallback(req, state);
                return 0;
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
        memcpy(out, ctx->sqes + (size_t) idx * ctx->layout.sqe_size, sizeof(*out));
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
        ctx->submitting = true;
        ctx->submit_cqes = 0;
        do {
                struct io_uring_sqe sqe;

                if (!io_get_sqe(ctx, &sqe))
                        break;
                if (io_submit_sqe(ctx, &state, &sqe) < 0 && !(ctx->flags & IORING_SETUP_SUBMIT_ALL)) {
                        left--;
                        break;
                }
        } while (--left);

        /* A chain left open at the end of the batch is issued as it is. */
        io_submit_state_end(&state);
        ctx->submitting = false;
        ctx->submit_cqes = 0;
        smp_store_release_u32(ctx->sq_head, ctx->cached_sq_head);
        return (int) (nr - left);
}
