/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventfd.h"
#include "ring.h"
#include "task.h"
#include "uringd/macro.h"

static bool fd_is_eventfd(int fd) {
        char path[64], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return false;
        target[n] = 0;
        return strcmp(target, "anon_inode:[eventfd]") == 0;
}

int io_eventfd_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr, bool async) {
        int32_t app_fd;
        int r;

        if (nr != 1)
                return -EINVAL;
        if (ctx->ev_fd)
                return -EBUSY;
        r = io_task_read(t, &app_fd, arg, sizeof(app_fd));
        if (r < 0)
                return r;

        _cleanup_close_ int fd = io_task_getfd(t, app_fd);
        if (fd < 0)
                return fd;
        if (!fd_is_eventfd(fd))
                return -EINVAL;

        struct io_ev_fd *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ev->fd = TAKE_FD(fd);
        ev->async_only = async;

        pthread_mutex_lock(&ctx->completion_lock);
        ctx->ev_fd = ev;
        pthread_mutex_unlock(&ctx->completion_lock);
        return 0;
}

int io_eventfd_unregister(struct io_ring_ctx *ctx) {
        struct io_ev_fd *ev;

        pthread_mutex_lock(&ctx->completion_lock);
        ev = ctx->ev_fd;
        ctx->ev_fd = NULL;
        pthread_mutex_unlock(&ctx->completion_lock);
        if (!ev)
                return -ENXIO;
        io_eventfd_free(ev);
        return 0;
}

void io_eventfd_free(struct io_ev_fd *ev) {
        if (!ev)
                return;
        safe_close(ev->fd);
        free(ev);
}

/* Called with completion_lock held, when a CQE is posted: like the kernel,
 * IORING_CQ_EVENTFD_DISABLED counts at posting time, not at signal time. */
void io_eventfd_mark(struct io_ring_ctx *ctx, bool async) {
        if (ctx->ev_fd && (async || !ctx->ev_fd->async_only) &&
            !(read_once_u32(ctx->cq_flags) & IORING_CQ_EVENTFD_DISABLED))
                ctx->ev_fd->pending = true;
}

void io_eventfd_flush(struct io_ring_ctx *ctx) {
        bool pending = false;
        int fd = -1;

        pthread_mutex_lock(&ctx->completion_lock);
        if (ctx->ev_fd) {
                pending = ctx->ev_fd->pending;
                ctx->ev_fd->pending = false;
                fd = ctx->ev_fd->fd;
        }
        pthread_mutex_unlock(&ctx->completion_lock);

        if (!pending)
                return;

        /* The description is the app's, in blocking mode: a counter at its
         * limit would block the loop, so only write when there is room. */
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
                uint64_t one = 1;
                (void) !write(fd, &one, sizeof(one));
        }
}
