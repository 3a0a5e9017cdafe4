/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readiness of a ring fd for the shim's poll/select/epoll hooks; see
 * evloop.h and the "Event loops" section of docs/ARCHITECTURE.md.
 *
 * Why no "armed" flag: the shim could only write one through the app's own
 * description of the memfd (a description of its own would fire our
 * IN_CLOSE_WRITE release watch), so the signal is unconditional but
 * coalesced: one eventfd write per ring and event-loop iteration that
 * posted CQEs. A waiter never misses it: the shim drains the counter, then
 * reads the CQ tail, then sleeps; a CQE published after that read comes
 * with a write after it.
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "ring.h"
#include "uringd-proto.h"
#include "uringd/macro.h"

static uint32_t *state_word(struct io_ring_ctx *ctx) {
        return (uint32_t *) ((uint8_t *) ctx->sq_region + SQ_OFF_URINGD_STATE);
}

int io_evloop_get(struct io_ring_ctx *ctx) {
        struct io_evloop *ev = ctx->evloop;

        if (ev)
                return ev->efd;
        ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ev->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ev->efd < 0) {
                int r = negative_errno();
                free(ev);
                return r;
        }
        /* Workers read it without the lock once it is there. */
        pthread_mutex_lock(&ctx->completion_lock);
        __atomic_store_n(&ctx->evloop, ev, __ATOMIC_RELEASE);
        /* Completions held before anyone asked. */
        if (!list_empty(&ctx->local_work) && (ctx->flags & IORING_SETUP_DEFER_TASKRUN))
                __atomic_fetch_or(state_word(ctx), URINGD_EVLOOP_STATE_WORK, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&ctx->completion_lock);
        return ev->efd;
}

void io_evloop_free(struct io_evloop *ev) {
        if (!ev)
                return;
        safe_close(ev->efd);
        free(ev);
}

void io_evloop_mark(struct io_ring_ctx *ctx) {
        if (ctx->evloop)
                ctx->evloop->pending = true;
}

void io_evloop_set_work(struct io_ring_ctx *ctx, bool work) {
        if (!ctx->evloop || !(ctx->flags & IORING_SETUP_DEFER_TASKRUN))
                return;
        if (work)
                __atomic_fetch_or(state_word(ctx), URINGD_EVLOOP_STATE_WORK, __ATOMIC_RELEASE);
        else
                __atomic_fetch_and(state_word(ctx), ~URINGD_EVLOOP_STATE_WORK, __ATOMIC_RELEASE);
}

static void signal_efd(struct io_evloop *ev) {
        uint64_t one = 1;
        /* EAGAIN: the counter is at its limit, the fd readable anyway. */
        (void) !write(ev->efd, &one, sizeof(one));
}

void io_evloop_flush(struct io_ring_ctx *ctx) {
        struct io_evloop *ev = __atomic_load_n(&ctx->evloop, __ATOMIC_ACQUIRE);
        bool pending;

        if (!ev)
                return;
        pthread_mutex_lock(&ctx->completion_lock);
        pending = ev->pending;
        ev->pending = false;
        pthread_mutex_unlock(&ctx->completion_lock);
        /* The tail was published under the lock, before this write. */
        if (pending)
                signal_efd(ev);
}

void io_evloop_kill(struct io_ring_ctx *ctx) {
        struct io_evloop *ev = __atomic_load_n(&ctx->evloop, __ATOMIC_ACQUIRE);

        __atomic_fetch_or(state_word(ctx), URINGD_EVLOOP_STATE_DEAD, __ATOMIC_RELEASE);
        if (ev)
                signal_efd(ev);
}
