/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "client.h"
#include "layout.h"
#include "log.h"
#include "manager.h"
#include "notify.h"
#include "ring.h"
#include "setup.h"
#include "sqpoll.h"
#include "task.h"
#include "uringd/macro.h"

void io_uring_setup_handler(struct client *c, const struct seccomp_notif *n, struct io_task *t) {
        struct manager *m = c->manager;
        uint32_t entries = (uint32_t) n->data.args[0];
        uint64_t uparams = n->data.args[1];
        struct io_uring_params p;
        struct io_sq_data *sqd = NULL;
        struct io_ring_ctx *ctx;
        int r, fd;

        r = io_task_read(t, &p, uparams, sizeof(p));
        if (r < 0) {
                client_respond(c, n->id, 0, r == -EFAULT ? -EFAULT : r);
                return;
        }
        r = ring_params_validate(entries, &p);
        if (r == 0 && m->nr_rings >= MANAGER_MAX_RINGS)
                r = -ENFILE;
        if (r == 0)
                r = io_sqpoll_prepare(m, t, &p, &sqd);
        if (r < 0) {
                client_respond(c, n->id, 0, r);
                return;
        }

        r = io_ring_ctx_new(m, &p, &ctx);
        if (r < 0) {
                log_debug_errno(r, "Failed to create a ring for pid %d: %m", (int) c->pid);
                io_sqpoll_abort(sqd);
                client_respond(c, n->id, 0, r);
                return;
        }
        r = manager_ring_add(m, ctx);
        if (r < 0) {
                io_sqpoll_abort(sqd);
                io_ring_ctx_unref(ctx);
                client_respond(c, n->id, 0, r);
                return;
        }
        if (p.flags & IORING_SETUP_SQPOLL) {
                r = io_sqpoll_add(ctx, &p, t, TAKE_PTR(sqd));
                if (r < 0) {
                        io_ring_ctx_kill(ctx);
                        client_respond(c, n->id, 0, r);
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
                client_respond(c, n->id, 0, -EFAULT);
                return;
        }
        fd = io_ring_open_app_fd(ctx);
        if (fd < 0) {
                io_ring_ctx_kill(ctx);
                client_respond(c, n->id, 0, fd);
                return;
        }
        r = notify_addfd_send(c->listener, n->id, fd, O_CLOEXEC);
        safe_close(fd);
        if (r < 0) {
                /* Our close above was the last reference: inotify will tell.
                 * -ENOENT: the call was interrupted, nothing to answer. */
                if (r != -ENOENT)
                        client_respond(c, n->id, 0, r);
                return;
        }
        log_debug("pid %d: ring %llu with %u/%u entries, fd %d.", (int) t->tid,
                  (unsigned long long) ctx->ino, p.sq_entries, p.cq_entries, r);
}
