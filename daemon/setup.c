/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "layout.h"
#include "log.h"
#include "manager.h"
#include "ring.h"
#include "setup.h"
#include "sqpoll.h"
#include "task.h"
#include "uringd/macro.h"

void io_uring_setup_handler(struct io_call *call, struct io_task *t) {
        struct manager *m = call->client->manager;
        uint32_t entries = (uint32_t) call->args[0];
        uint64_t uparams = call->args[1];
        struct io_uring_params p;
        struct io_sq_data *sqd = NULL;
        struct io_ring_ctx *ctx;
        int r, fd;

        r = io_task_read(t, &p, uparams, sizeof(p));
        if (r < 0) {
                io_call_respond(call, 0, r == -EFAULT ? -EFAULT : r);
                return;
        }
        r = ring_params_validate(entries, &p);
        if (r == 0 && m->nr_rings >= MANAGER_MAX_RINGS)
                r = -ENFILE;
        if (r == 0)
                r = io_sqpoll_prepare(m, t, &p, &sqd);
        if (r < 0) {
                io_call_respond(call, 0, r);
                return;
        }

        r = io_ring_ctx_new(m, &p, &ctx);
        if (r < 0) {
                log_debug_errno(r, "Failed to create a ring for pid %d: %m", (int) t->tid);
                io_sqpoll_abort(sqd);
                io_call_respond(call, 0, r);
                return;
        }
        r = manager_ring_add(m, ctx);
        if (r < 0) {
                io_sqpoll_abort(sqd);
                io_ring_ctx_unref(ctx);
                io_call_respond(call, 0, r);
                return;
        }
        if (p.flags & IORING_SETUP_SQPOLL) {
                r = io_sqpoll_add(ctx, &p, t, TAKE_PTR(sqd));
                if (r < 0) {
                        io_ring_ctx_kill(ctx);
                        io_call_respond(call, 0, r);
                        return;
                }
        }
        /* A ring created disabled gets its issuer from ENABLE_RINGS. */
        if ((p.flags & IORING_SETUP_SINGLE_ISSUER) && !(p.flags & IORING_SETUP_R_DISABLED))
                ctx->submitter_tid = t->tid;

        /* From here on the ring dies through inotify: when the description
         * we hand out is released (or never handed out). */
        r = io_task_write(t, uparams, &p, sizeof(p));
        if (r < 0) {
                io_ring_ctx_kill(ctx);
                io_call_respond(call, 0, -EFAULT);
                return;
        }
        fd = io_ring_open_app_fd(ctx);
        if (fd < 0) {
                io_ring_ctx_kill(ctx);
                io_call_respond(call, 0, fd);
                return;
        }
        r = io_call_respond_fd(call, fd);
        safe_close(fd);
        if (r < 0) {
                /* Our close above was the last reference: inotify will tell.
                 * -ENOENT: the call was interrupted, nothing to answer. */
                if (r != -ENOENT)
                        io_call_respond(call, 0, r);
                return;
        }
        log_debug("pid %d: ring %llu with %u/%u entries.", (int) t->tid,
                  (unsigned long long) ctx->ino, p.sq_entries, p.cq_entries);
}
