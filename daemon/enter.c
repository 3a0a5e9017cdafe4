/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "client.h"
#include "enter.h"
#include "eventfd.h"
#include "manager.h"
#include "ring.h"
#include "sqpoll.h"
#include "trap.h"
#include "submit.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

/* Enter flags uringd implements. SQ_WAKEUP and SQ_WAIT only matter for
 * SQPOLL rings and are ignored on others, as by the kernel. */
#define ENTER_FLAGS                                                             \
        (IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAKEUP | IORING_ENTER_SQ_WAIT | \
         IORING_ENTER_EXT_ARG | IORING_ENTER_REGISTERED_RING)

#define KERNEL_SIGSET_SIZE 8 /* _NSIG / 8 */

struct io_waiter {
        struct list_head node;          /* ctx->waiters */
        struct list_head client_node;   /* client->waiters */
        struct io_ring_ctx *ctx;        /* reference */
        struct io_call call;            /* answered once, when the wait ends */
        sd_event_source *reply_source;  /* trap mode: the caller stops waiting */
        pid_t tid;
        uint32_t target_tail;           /* wake when the CQ tail reaches it */
        uint32_t start_tail;            /* the CQ tail when the wait began */
        uint32_t nr_timeouts;           /* ctx->cq_timeouts then: any TIMEOUT CQE wakes */
        int submitted;
        sd_event_source *timer;
        uint64_t deadline;              /* CLOCK_MONOTONIC µs, or 0: none */
        bool in_min_wait;               /* the timer ends min_wait_usec */
};

struct ext_arg {
        bool has_ts;
        struct timespec ts;
        uint32_t min_wait_usec;         /* IORING_FEAT_MIN_TIMEOUT */
};

static void io_waiter_free(struct io_waiter *w) {
        struct manager *m = w->ctx->manager;

        if (hashmap_get(&m->waiters_by_tid, (uint64_t) w->tid) == w)
                hashmap_remove(&m->waiters_by_tid, (uint64_t) w->tid);
        list_del_init(&w->node);
        list_del_init(&w->client_node);
        w->ctx->nr_waiters--;
        sd_event_source_disable_unref(w->timer);
        sd_event_source_disable_unref(w->reply_source);
        io_call_drop(&w->call);
        io_ring_ctx_unref(w->ctx);
        free(w);
}

/* The kernel's io_cqring_wait() result: a timeout or signal still reports
 * success when CQEs are there to reap. */
static int wait_result(struct io_ring_ctx *ctx, int ret) {
        if (ret < 0 && io_cqring_events(ctx) > 0)
                return 0;
        return ret;
}

static void io_waiter_answer(struct io_waiter *w, int ret) {
        int val = w->submitted > 0 ? w->submitted : wait_result(w->ctx, ret);

        /* The kernel signals the eventfd before the waiter runs again. */
        io_eventfd_flush(w->ctx);
        w->reply_source = sd_event_source_disable_unref(w->reply_source);
        io_call_respond(&w->call, val >= 0 ? val : 0, val < 0 ? val : 0);
        io_waiter_free(w);
}

static bool io_waiter_done(struct io_ring_ctx *ctx, const struct io_waiter *w) {
        uint32_t tail = __atomic_load_n(&ctx->cached_cq_tail, __ATOMIC_ACQUIRE);
        /* As the kernel's io_should_wake(): a fired TIMEOUT wakes waiters
         * whatever they wait for. */
        return (int32_t) (tail - w->target_tail) >= 0 || ctx->cq_timeouts != w->nr_timeouts;
}

void io_cqring_wake(struct io_ring_ctx *ctx) {
        struct io_waiter *w, *n;

        if (list_empty(&ctx->waiters))
                return;
        /* DEFER_TASKRUN: the only waiter is the issuer, who would run its
         * local work now. */
        io_run_local_work(ctx);
        io_cqring_overflow_flush(ctx);
        list_for_each_entry_safe(w, n, &ctx->waiters, node)
                if (io_waiter_done(ctx, w))
                        io_waiter_answer(w, 0);
}

void io_cqring_wake_all(struct io_ring_ctx *ctx) {
        struct io_waiter *w, *n;

        list_for_each_entry_safe(w, n, &ctx->waiters, node)
                io_waiter_answer(w, 0);
}

void io_waiter_drop_stale(struct manager *m, pid_t tid) {
        struct io_waiter *w = hashmap_get(&m->waiters_by_tid, (uint64_t) tid);

        if (!w)
                return;
        /* A notification is withdrawn by the kernel. A trap-mode caller still
         * waits beneath the signal handler that calls again: it hears EINTR. */
        if (w->call.reply_fd >= 0)
                io_waiter_answer(w, -EINTR);
        else
                io_waiter_free(w);
}

void io_waiters_interrupt_client(struct client *c) {
        while (!list_empty(&c->waiters))
                io_waiter_answer(list_first_entry(&c->waiters, struct io_waiter, client_node), -EINTR);
}

void io_waiters_drop_client(struct client *c) {
        while (!list_empty(&c->waiters))
                io_waiter_free(list_first_entry(&c->waiters, struct io_waiter, client_node));
}

/*
 * The wait's timer. In a min_wait_usec phase it behaves like the kernel's
 * min timer: with no longer timeout the wait ends here; with CQEs posted
 * since the wait began, or waiting, it ends successfully; otherwise it goes
 * on until the timeout, and from now on any single CQE ends it.
 */
static int on_waiter_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct io_waiter *w = userdata;
        struct io_ring_ctx *ctx = w->ctx;

        io_run_local_work(ctx);
        io_cqring_overflow_flush(ctx);
        if (w->in_min_wait) {
                uint32_t tail = __atomic_load_n(&ctx->cached_cq_tail, __ATOMIC_ACQUIRE);

                w->in_min_wait = false;
                if (w->deadline > usec && tail == w->start_tail && io_cqring_events(ctx) == 0) {
                        w->target_tail = tail + 1;
                        (void) sd_event_source_set_time(s, w->deadline);
                        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                        return 0;
                }
        }
        io_waiter_answer(w, io_waiter_done(ctx, w) ? 0 : -ETIME);
        return 0;
}

/* Trap mode: a signal interrupted the caller's wait (it says so), or the
 * caller is gone (its end hung up). */
static int on_waiter_reply(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct io_waiter *w = userdata;

        if (trap_read_interrupt(&w->call) == 0)
                io_waiter_answer(w, -EINTR);
        else
                io_waiter_free(w);
        return 0;
}

/* IORING_ENTER_EXT_ARG, or the plain sigmask argument. */
static int io_get_ext_arg(struct io_task *t, uint32_t flags, uint64_t argp, uint64_t argsz, struct ext_arg *ret) {
        uint64_t sig = argp, sigsz = argsz;
        int r;

        *ret = (struct ext_arg) {};
        if (flags & IORING_ENTER_EXT_ARG) {
                struct io_uring_getevents_arg arg;

                if (argsz != sizeof(arg))
                        return -EINVAL;
                r = io_task_read(t, &arg, argp, sizeof(arg));
                if (r < 0)
                        return -EFAULT;
                sig = arg.sigmask;
                sigsz = arg.sigmask_sz;
                /* Named pad in older headers; min_wait_usec since 6.12. */
                memcpy(&ret->min_wait_usec, &arg.pad, sizeof(ret->min_wait_usec));
                if (arg.ts) {
                        struct { int64_t sec, nsec; } ts;
                        r = io_task_read(t, &ts, arg.ts, sizeof(ts));
                        if (r < 0)
                                return -EFAULT;
                        ret->has_ts = true;
                        ret->ts.tv_sec = ts.sec;
                        ret->ts.tv_nsec = ts.nsec;
                }
        }
        /* We cannot swap another thread's signal mask for the wait; the mask
         * is checked the way the kernel checks it and then not applied (see
         * docs/ARCHITECTURE.md). */
        if (sig) {
                uint64_t set;
                if (sigsz != KERNEL_SIGSET_SIZE)
                        return -EINVAL;
                r = io_task_read(t, &set, sig, sizeof(set));
                if (r < 0)
                        return -EFAULT;
        }
        return 0;
}

static uint64_t timespec_to_usec(const struct timespec *ts) {
        if (ts->tv_sec < 0 || (ts->tv_sec == 0 && ts->tv_nsec <= 0))
                return 0;
        if ((uint64_t) ts->tv_sec > UINT64_MAX / 1000000 / 2)
                return UINT64_MAX / 2;
        return (uint64_t) ts->tv_sec * 1000000 + (uint64_t) MAX(ts->tv_nsec, 0) / 1000;
}

/* Returns 1 when a waiter now owns the answer, else the value to answer. */
static int io_cqring_wait(struct io_call *call, struct io_ring_ctx *ctx,
                          uint32_t min_events, const struct ext_arg *ext, int submitted, int *ret_val) {
        struct manager *m = ctx->manager;
        struct io_waiter *w;
        int r;

        io_run_local_work(ctx);
        io_cqring_overflow_flush(ctx);
        if (io_cqring_dropped(ctx)) {
                *ret_val = -EBADR;
                return 0;
        }
        min_events = MIN(min_events, ctx->layout.cq_entries);
        if (io_cqring_events(ctx) >= min_events) {
                *ret_val = 0;
                return 0;
        }
        if (ext->has_ts && timespec_to_usec(&ext->ts) == 0 && !ext->min_wait_usec) {
                *ret_val = -ETIME;
                return 0;
        }

        w = calloc(1, sizeof(*w));
        if (!w) {
                *ret_val = -ENOMEM;
                return 0;
        }
        w->ctx = io_ring_ctx_ref(ctx);
        io_call_move(&w->call, call);
        w->tid = w->call.tid;
        w->submitted = submitted;
        w->target_tail = smp_load_acquire_u32(ctx->cq_head) + min_events;
        w->start_tail = __atomic_load_n(&ctx->cached_cq_tail, __ATOMIC_ACQUIRE);
        w->nr_timeouts = ctx->cq_timeouts;
        list_add_tail(&w->node, &ctx->waiters);
        list_add_tail(&w->client_node, &w->call.client->waiters);
        ctx->nr_waiters++;
        (void) hashmap_put(&m->waiters_by_tid, (uint64_t) w->tid, w);

        if (ext->has_ts || ext->min_wait_usec) {
                uint64_t now = now_usec(), first;

                if (ext->has_ts)
                        w->deadline = now + MAX(timespec_to_usec(&ext->ts), 1ULL);
                w->in_min_wait = ext->min_wait_usec > 0;
                first = w->in_min_wait ? now + ext->min_wait_usec : w->deadline;
                r = sd_event_add_time(m->event, &w->timer, CLOCK_MONOTONIC, first, 1, on_waiter_timer, w);
                if (r < 0)
                        goto fail;
        }
        /* A thread's channel is watched by its client (trap.c). */
        if (w->call.reply_fd >= 0 && !w->call.client->channel) {
                r = sd_event_add_io(m->event, &w->reply_source, w->call.reply_fd, EPOLLIN | EPOLLRDHUP,
                                    on_waiter_reply, w);
                if (r < 0)
                        goto fail;
        }
        return 1;

fail:
        /* The handler answers the call itself. */
        io_call_move(call, &w->call);
        io_waiter_free(w);
        *ret_val = r;
        return 0;
}

void io_uring_enter_handler(struct io_call *call, struct io_task *t) {
        int fd = (int) (uint32_t) call->args[0];
        uint32_t to_submit = (uint32_t) call->args[1];
        uint32_t min_complete = (uint32_t) call->args[2];
        uint32_t flags = (uint32_t) call->args[3];
        uint64_t argp = call->args[4], argsz = call->args[5];
        struct io_ring_ctx *ctx = NULL;
        int ret = 0, r;

        if (flags & ~ENTER_FLAGS) {
                io_call_respond(call, 0, -EINVAL);
                return;
        }
        if (flags & IORING_ENTER_REGISTERED_RING) {
                /* Ring fds are never registered with uringd. */
                io_call_respond(call, 0, (unsigned) fd >= URINGD_IO_RINGFD_REG_MAX ? -EINVAL : -EBADF);
                return;
        }
        r = io_ring_get(call->client->manager, t, fd, &ctx);
        if (r < 0) {
                io_call_respond(call, 0, r);
                return;
        }
        if (ctx->flags & IORING_SETUP_R_DISABLED) {
                ret = -EBADFD;
                goto out;
        }

        if (ctx->flags & IORING_SETUP_SQPOLL) {
                /* The poller submits; the call only wakes it or waits for
                 * SQ space, and reports to_submit, as the kernel. */
                if (flags & IORING_ENTER_SQ_WAKEUP)
                        io_sqpoll_wake(ctx);
                if (flags & IORING_ENTER_SQ_WAIT)
                        io_sqpoll_wait_sq(ctx);
                ret = (int) to_submit;
        } else if (to_submit) {
                if (ctx->submitter_tid && ctx->submitter_tid != t->tid) {
                        ret = -EEXIST;
                        goto out;
                }
                ret = io_submit_sqes(ctx, t, to_submit);
                if ((uint32_t) ret != to_submit)
                        goto out;
        }
        if (flags & IORING_ENTER_GETEVENTS) {
                struct ext_arg ext;
                int ret2;

                r = io_get_ext_arg(t, flags, argp, argsz, &ext);
                if (r < 0)
                        ret2 = r;
                else if ((ctx->flags & IORING_SETUP_DEFER_TASKRUN) && ctx->submitter_tid != t->tid)
                        ret2 = -EEXIST; /* only the issuer may run its completions */
                else if (io_cqring_wait(call, ctx, min_complete, &ext, ret, &ret2) > 0) {
                        io_ring_ctx_unref(ctx);
                        return; /* answered by the waiter */
                }
                if (!ret) {
                        ret = ret2;
                        /* The app has been told that CQEs were dropped. */
                        if (ret2 == -EBADR)
                                io_cqring_clear_dropped(ctx);
                }
        }
out:
        io_eventfd_flush(ctx);
        io_call_respond(call, ret >= 0 ? ret : 0, ret < 0 ? ret : 0);
        io_ring_ctx_unref(ctx);
}
