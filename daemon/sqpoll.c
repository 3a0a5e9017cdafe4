/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "manager.h"
#include "ring.h"
#include "sqpoll.h"
#include "submit.h"
#include "task.h"
#include "uringd/macro.h"

/* Per ring and round when several rings are awake (IORING_SQPOLL_CAP_ENTRIES_VALUE). */
#define SQPOLL_CAP_ENTRIES 8
#define SQPOLL_DEFAULT_IDLE_USEC 1000000ULL

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

int io_sqpoll_check_params(const struct io_uring_params *p) {
        if (p->flags & IORING_SETUP_SQ_AFF) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                if (n <= 0 || p->sq_thread_cpu >= (unsigned long) n)
                        return -EINVAL;
        }
        return 0;
}

int io_sqpoll_add(struct io_ring_ctx *ctx, const struct io_uring_params *p, struct io_task *t) {
        ctx->sq_task = io_task_ref(t);
        ctx->sq_idle_usec = p->sq_thread_idle ? (uint64_t) p->sq_thread_idle * 1000ULL : SQPOLL_DEFAULT_IDLE_USEC;
        ctx->sq_last_active = now_usec();
        ctx->sq_sleeping = false;
        list_add_tail(&ctx->sqpoll_node, &ctx->manager->sqpoll_rings);
        return 0;
}

void io_sqpoll_remove(struct io_ring_ctx *ctx) {
        if (!ctx->sq_task)
                return;
        list_del_init(&ctx->sqpoll_node);
        io_task_unref(ctx->sq_task);
        ctx->sq_task = NULL;
}

void io_sqpoll_wake(struct io_ring_ctx *ctx) {
        __atomic_fetch_and(ctx->sq_flags, ~IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
        ctx->sq_sleeping = false;
        ctx->sq_last_active = now_usec();
}

static uint32_t sq_entries_pending(struct io_ring_ctx *ctx) {
        uint32_t n = smp_load_acquire_u32(ctx->sq_tail) - ctx->cached_sq_head;
        return MIN(n, ctx->layout.sq_entries);
}

void io_sqpoll_wait_sq(struct io_ring_ctx *ctx) {
        uint32_t n = sq_entries_pending(ctx);
        if (n)
                io_submit_sqes(ctx, ctx->sq_task, n);
        ctx->sq_last_active = now_usec();
}

bool io_sqpoll_sweep(struct manager *m) {
        struct io_ring_ctx *ctx, *tmp;
        unsigned awake = 0;
        bool busy = false;
        uint64_t now;

        list_for_each_entry(ctx, &m->sqpoll_rings, sqpoll_node)
                if (!ctx->sq_sleeping)
                        awake++;
        if (!awake)
                return false;

        now = now_usec();
        list_for_each_entry_safe(ctx, tmp, &m->sqpoll_rings, sqpoll_node) {
                uint32_t n;

                if (ctx->sq_sleeping || ctx->dead || (ctx->flags & IORING_SETUP_R_DISABLED))
                        continue;
                n = sq_entries_pending(ctx);
                if (n) {
                        io_submit_sqes(ctx, ctx->sq_task, awake > 1 ? MIN(n, SQPOLL_CAP_ENTRIES) : n);
                        ctx->sq_last_active = now;
                        busy = true;
                        continue;
                }
                if (now - ctx->sq_last_active < ctx->sq_idle_usec) {
                        busy = true;
                        continue;
                }
                /* Going to sleep: announce it, then look once more, so that
                 * an app that queued after our check but before seeing the
                 * flag is not left waiting (it does the mirror image: store
                 * the tail, full barrier, read the flags). */
                __atomic_fetch_or(ctx->sq_flags, IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
                if (sq_entries_pending(ctx)) {
                        __atomic_fetch_and(ctx->sq_flags, ~IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
                        ctx->sq_last_active = now;
                        busy = true;
                        continue;
                }
                ctx->sq_sleeping = true;
        }
        manager_process_wakes(m);
        return busy;
}
