/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
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

/*
 * What the kernel calls the SQ thread's data: the rings one poller serves.
 * IORING_SETUP_ATTACH_WQ puts a new ring into an existing one (same process
 * only, else the ring gets its own, as the kernel does). The poller sleeps
 * and wakes for all its rings at once, idles for the longest sq_thread_idle
 * among them, and caps each ring's batch when it serves several.
 */
struct io_sq_data {
        unsigned refs;                  /* rings attached */
        struct list_head node;          /* manager->sqpoll_rings */
        struct list_head ctx_list;      /* io_ring_ctx.sqd_node */
        pid_t tgid;                     /* the creating process */
        uint64_t idle_usec, last_active;
        bool sleeping;                  /* IORING_SQ_NEED_WAKEUP set on every ring */
};

int io_sqpoll_check_params(const struct io_uring_params *p) {
        if (p->flags & IORING_SETUP_SQ_AFF) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                if (n <= 0 || p->sq_thread_cpu >= (unsigned long) n)
                        return -EINVAL;
        }
        return 0;
}

/* IORING_SETUP_ATTACH_WQ: the ring behind the app's @wq_fd, with the
 * kernel's errors: no such fd -ENXIO, not a ring -EINVAL. */
static int io_attach_target(struct manager *m, struct io_task *t, int wq_fd, struct io_ring_ctx **ret) {
        int r = io_ring_get(m, t, wq_fd, ret);
        if (r == -EBADF)
                return -ENXIO;
        if (r < 0)
                return -EINVAL;
        return 0;
}

int io_sqpoll_prepare(struct manager *m, struct io_task *t, const struct io_uring_params *p,
                      struct io_sq_data **ret) {
        struct io_ring_ctx *target = NULL;
        struct io_sq_data *sqd = NULL;
        int r;

        *ret = NULL;
        if (!(p->flags & IORING_SETUP_ATTACH_WQ))
                return 0;
        r = io_attach_target(m, t, (int) p->wq_fd, &target);
        if (r < 0)
                return r;
        if (!(p->flags & IORING_SETUP_SQPOLL)) {
                /* Only checked: our io-wq pools are per ring already. */
                io_ring_ctx_unref(target);
                return 0;
        }
        sqd = target->sq_data;
        io_ring_ctx_unref(target);
        if (!sqd)
                return -EINVAL;
        /* Another process's poller: the kernel quietly starts a new one. */
        if (sqd->tgid != io_task_tgid(t))
                return 0;
        sqd->refs++;
        *ret = sqd;
        return 0;
}

static void io_sqd_update_idle(struct io_sq_data *sqd) {
        struct io_ring_ctx *ctx;
        uint64_t idle = 0;

        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                idle = MAX(idle, ctx->sq_idle_usec);
        sqd->idle_usec = idle;
}

static void io_sqd_put(struct io_sq_data *sqd) {
        if (--sqd->refs > 0)
                return;
        list_del_init(&sqd->node);
        free(sqd);
}

void io_sqpoll_abort(struct io_sq_data *sqd) {
        if (sqd)
                io_sqd_put(sqd);
}

int io_sqpoll_add(struct io_ring_ctx *ctx, const struct io_uring_params *p, struct io_task *t,
                  struct io_sq_data *sqd) {
        if (!sqd) {
                sqd = calloc(1, sizeof(*sqd));
                if (!sqd)
                        return -ENOMEM;
                sqd->refs = 1;
                list_init(&sqd->ctx_list);
                sqd->tgid = io_task_tgid(t);
                list_add_tail(&sqd->node, &ctx->manager->sqpoll_rings);
        }
        ctx->sq_data = sqd;
        ctx->sq_task = io_task_ref(t);
        ctx->sq_idle_usec = p->sq_thread_idle ? (uint64_t) p->sq_thread_idle * 1000ULL : SQPOLL_DEFAULT_IDLE_USEC;
        list_add_tail(&ctx->sqd_node, &sqd->ctx_list);
        io_sqd_update_idle(sqd);
        /* A new ring wakes the poller, as attaching unparks the kernel's. */
        io_sqpoll_wake(ctx);
        return 0;
}

void io_sqpoll_remove(struct io_ring_ctx *ctx) {
        struct io_sq_data *sqd = ctx->sq_data;

        if (!sqd)
                return;
        list_del_init(&ctx->sqd_node);
        io_sqd_update_idle(sqd);
        ctx->sq_data = NULL;
        io_task_unref(ctx->sq_task);
        ctx->sq_task = NULL;
        io_sqd_put(sqd);
}

/* IORING_SQ_NEED_WAKEUP on or off on every ring of the poller, each with a
 * full barrier (the app's side of the protocol reads it after its tail). */
static void io_sqd_need_wakeup(struct io_sq_data *sqd, bool on) {
        struct io_ring_ctx *ctx;

        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                if (on)
                        __atomic_fetch_or(ctx->sq_flags, IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
                else
                        __atomic_fetch_and(ctx->sq_flags, ~IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
}

void io_sqpoll_wake(struct io_ring_ctx *ctx) {
        struct io_sq_data *sqd = ctx->sq_data;

        if (!sqd)
                return;
        io_sqd_need_wakeup(sqd, false);
        sqd->sleeping = false;
        sqd->last_active = now_usec();
}

static uint32_t sq_entries_pending(struct io_ring_ctx *ctx) {
        uint32_t n;

        if (ctx->dead || (ctx->flags & IORING_SETUP_R_DISABLED))
                return 0;
        n = smp_load_acquire_u32(ctx->sq_tail) - ctx->cached_sq_head;
        return MIN(n, ctx->layout.sq_entries);
}

void io_sqpoll_wait_sq(struct io_ring_ctx *ctx) {
        uint32_t n = sq_entries_pending(ctx);
        if (n)
                io_submit_sqes(ctx, ctx->sq_task, n);
        if (ctx->sq_data)
                ctx->sq_data->last_active = now_usec();
}

/* Going to sleep: announce it on every ring, then look once more, so that
 * an app that queued after our check but before seeing the flag is not left
 * waiting (it does the mirror image: store the tail, full barrier, read the
 * flags). Returns false when work turned up and the poller stays awake. */
static bool io_sqd_try_sleep(struct io_sq_data *sqd) {
        struct io_ring_ctx *ctx;
        bool pending = false;

        io_sqd_need_wakeup(sqd, true);
        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                if (sq_entries_pending(ctx))
                        pending = true;
        if (pending) {
                io_sqd_need_wakeup(sqd, false);
                return false;
        }
        sqd->sleeping = true;
        return true;
}

bool io_sqpoll_sweep(struct manager *m) {
        struct io_sq_data *sqd, *tmp;
        unsigned awake = 0;
        bool busy = false;
        uint64_t now;

        list_for_each_entry(sqd, &m->sqpoll_rings, node)
                if (!sqd->sleeping)
                        awake += sqd->refs;
        if (!awake)
                return false;

        now = now_usec();
        list_for_each_entry_safe(sqd, tmp, &m->sqpoll_rings, node) {
                struct io_ring_ctx *ctx, *ctmp;
                bool active = false;

                if (sqd->sleeping)
                        continue;
                /* Submitting may free a ring (and with it the sqd): pin it. */
                sqd->refs++;
                list_for_each_entry_safe(ctx, ctmp, &sqd->ctx_list, sqd_node) {
                        uint32_t n = sq_entries_pending(ctx);
                        if (!n)
                                continue;
                        io_submit_sqes(ctx, ctx->sq_task, awake > 1 ? MIN(n, SQPOLL_CAP_ENTRIES) : n);
                        active = true;
                }
                if (active || now - sqd->last_active < sqd->idle_usec) {
                        if (active)
                                sqd->last_active = now;
                        busy = true;
                } else if (!io_sqd_try_sleep(sqd)) {
                        sqd->last_active = now;
                        busy = true;
                }
                io_sqd_put(sqd);
        }
        manager_process_wakes(m);
        return busy;
}
