/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Timeouts, after io_uring/timeout.c.
 *
 * A TIMEOUT completes -ETIME when its timer fires, or 0 once @off CQEs have
 * been posted since it was queued (a "counting" timeout; the CQEs of other
 * timeouts do not count). They sit in ctx->timeout_list, counting ones
 * first, sorted by the sequence they wait for, so that a flush stops at the
 * first one not yet due.
 *
 * A LINK_TIMEOUT guards the request before it in a chain (its "head"): the
 * timer starts when the head goes async, and when it fires the head is
 * cancelled (the timeout completes -ETIME, or with the cancel's error);
 * when the head completes first, the timeout completes -ECANCELED and the
 * chain goes on after it. The head may complete on an io-wq thread, so the
 * pairing is undone under ctx->timeout_lock by whichever side comes first.
 */

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "cancel.h"
#include "manager.h"
#include "req.h"
#include "ring.h"
#include "submit.h"
#include "task.h"
#include "timeout.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define USEC_PER_SEC 1000000ULL
#define TIMER_USEC_MAX (UINT64_MAX - 1) /* UINT64_MAX is sd-event's "never" */

struct io_timeout {
        struct list_head list;          /* timeout_list or ltimeout_list */
        struct io_kiocb *head;          /* LINK_TIMEOUT: the guarded request */
        sd_event_source *timer;
        uint64_t ts_sec, ts_nsec;
        uint32_t off;                   /* CQEs to wait for; 0: time only */
        uint32_t target_seq;
        uint32_t repeats;               /* MULTISHOT with a count: left */
        uint32_t flags;                 /* IORING_TIMEOUT_* */
        bool abs;                       /* ts is absolute (an update may change it) */
};

struct io_timeout_rem {
        uint64_t addr;
        uint64_t ts_sec, ts_nsec;
        uint32_t flags;
        bool ltimeout;
};

static bool io_is_timeout_noseq(const struct io_timeout *t) {
        return !t->off || (t->flags & IORING_TIMEOUT_MULTISHOT);
}

static clockid_t io_timeout_clock(uint32_t flags) {
        switch (flags & IORING_TIMEOUT_CLOCK_MASK) {
        case IORING_TIMEOUT_BOOTTIME:
                return CLOCK_BOOTTIME;
        case IORING_TIMEOUT_REALTIME:
                return CLOCK_REALTIME;
        default:
                return CLOCK_MONOTONIC;
        }
}

/* sd-event counts microseconds: round up, so a timeout never fires early. */
static uint64_t io_timeout_deadline(clockid_t clock, uint64_t sec, uint64_t nsec, bool abs) {
        uint64_t usec, base = 0;
        struct timespec now;

        if (sec > TIMER_USEC_MAX / USEC_PER_SEC - 2)
                return TIMER_USEC_MAX;
        usec = sec * USEC_PER_SEC + (nsec + 999) / 1000;
        if (!abs) {
                clock_gettime(clock, &now);
                base = (uint64_t) now.tv_sec * USEC_PER_SEC + (uint64_t) now.tv_nsec / 1000;
        }
        if (usec > TIMER_USEC_MAX - base)
                return TIMER_USEC_MAX;
        return base + usec;
}

static int io_timer_start(struct io_kiocb *req, sd_event_time_handler_t fn) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        clockid_t clock = io_timeout_clock(t->flags);
        uint64_t when = io_timeout_deadline(clock, t->ts_sec, t->ts_nsec, t->abs);
        int r;

        if (t->timer) {
                r = sd_event_source_set_time(t->timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time(req->ctx->manager->event, &t->timer, clock, when, 1, fn, req);
}

static void io_timer_stop(struct io_timeout *t) {
        if (t->timer)
                sd_event_source_set_enabled(t->timer, SD_EVENT_OFF);
}

void io_timeout_cleanup(struct io_kiocb *req) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        t->timer = sd_event_source_disable_unref(t->timer);
}

static int io_read_timespec(struct io_kiocb *req, uint64_t addr, uint64_t *sec, uint64_t *nsec) {
        struct __kernel_timespec ts;

        if (io_task_read(req->task, &ts, addr, sizeof(ts)) < 0)
                return -EFAULT;
        if (ts.tv_sec < 0 || ts.tv_nsec < 0)
                return -EINVAL;
        *sec = (uint64_t) ts.tv_sec;
        *nsec = (uint64_t) ts.tv_nsec;
        return 0;
}

static int __io_timeout_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe, bool is_link) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        uint32_t off = (uint32_t) sqe->off;
        uint32_t flags = sqe->timeout_flags;

        if (sqe->buf_index || sqe->len != 1 || sqe->splice_fd_in)
                return -EINVAL;
        if (off && is_link)
                return -EINVAL;
        if (flags & ~(IORING_TIMEOUT_ABS | IORING_TIMEOUT_CLOCK_MASK | IORING_TIMEOUT_ETIME_SUCCESS |
                      IORING_TIMEOUT_MULTISHOT))
                return -EINVAL;
        if (__builtin_popcount(flags & IORING_TIMEOUT_CLOCK_MASK) > 1)
                return -EINVAL;
        /* A repeating timeout only makes sense relative to now. */
        if ((flags & IORING_TIMEOUT_MULTISHOT) && (flags & IORING_TIMEOUT_ABS))
                return -EINVAL;

        list_init(&t->list);
        t->off = off;
        t->flags = flags;
        t->abs = flags & IORING_TIMEOUT_ABS;
        t->repeats = (flags & IORING_TIMEOUT_MULTISHOT) ? off : 0;
        if (off)
                req->ctx->off_timeout_used = true;
        return io_read_timespec(req, sqe->addr, &t->ts_sec, &t->ts_nsec);
}

int io_timeout_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return __io_timeout_prep(req, sqe, false);
}

int io_link_timeout_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return __io_timeout_prep(req, sqe, true);
}

int io_link_timeout_attach(struct io_kiocb *req, struct io_kiocb *prev) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);

        if (!prev || prev->opcode == IORING_OP_LINK_TIMEOUT)
                return -EINVAL;
        t->head = prev;
        prev->flags |= REQ_F_ARM_LTIMEOUT;
        return 0;
}

/* The sequence the counting timeouts measure: CQEs posted, less those of
 * timeouts, less those this batch posted inline (not yet posted, to the
 * kernel). */
static uint32_t io_timeout_seq(struct io_ring_ctx *ctx) {
        return __atomic_load_n(&ctx->cached_cq_tail, __ATOMIC_ACQUIRE) - ctx->cq_timeouts;
}

/* MULTISHOT: is this the last expiry? */
static bool io_timeout_finish(struct io_timeout *t) {
        if (!(t->flags & IORING_TIMEOUT_MULTISHOT))
                return true;
        if (!t->off || (t->repeats && --t->repeats))
                return false;
        return true;
}

static int io_timeout_fn(sd_event_source *s, uint64_t usec, void *userdata) {
        struct io_kiocb *req = userdata;
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        struct io_ring_ctx *ctx = req->ctx;

        list_del_init(&t->list);
        ctx->cq_timeouts++;
        if (!(t->flags & IORING_TIMEOUT_ETIME_SUCCESS))
                io_req_set_fail(req);
        io_req_set_res(req, -ETIME, 0);

        if (!io_timeout_finish(t)) {
                io_post_cqe(ctx, req->user_data, -ETIME, IORING_CQE_F_MORE, false);
                list_add_tail(&t->list, &ctx->timeout_list);
                if (io_timer_start(req, io_timeout_fn) >= 0)
                        return 0;
                list_del_init(&t->list);
        }
        io_req_complete(req, false);
        return 0;
}

int io_timeout(struct io_kiocb *req, unsigned issue_flags) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        struct io_ring_ctx *ctx = req->ctx;
        struct list_head *entry = ctx->timeout_list.prev;
        int r;

        if (!io_is_timeout_noseq(t)) {
                uint32_t tail = io_timeout_seq(ctx) - ctx->submit_cqes;

                t->target_seq = tail + t->off;
                ctx->cq_last_tm_flush = tail;
                /* Insertion sort from the back: the first entry is due first. */
                for (entry = ctx->timeout_list.prev; entry != &ctx->timeout_list; entry = entry->prev) {
                        struct io_timeout *n = list_entry(entry, struct io_timeout, list);

                        if (io_is_timeout_noseq(n))
                                continue;
                        if (t->off >= n->target_seq - tail)
                                break;
                }
        }
        /* Insert after @entry. */
        t->list.prev = entry;
        t->list.next = entry->next;
        entry->next->prev = &t->list;
        entry->next = &t->list;

        r = io_timer_start(req, io_timeout_fn);
        if (r < 0) {
                list_del_init(&t->list);
                return r;
        }
        return IOU_ISSUE_SKIP_COMPLETE;
}

void io_flush_timeouts(struct io_ring_ctx *ctx) {
        uint32_t seq;

        if (!ctx->off_timeout_used || list_empty(&ctx->timeout_list))
                return;
        seq = io_timeout_seq(ctx);
        while (!list_empty(&ctx->timeout_list)) {
                struct io_timeout *t = list_first_entry(&ctx->timeout_list, struct io_timeout, list);
                struct io_kiocb *req = cmd_to_io_kiocb(t);
                /* Relative to the last flush, so that wrapping is harmless. */
                uint32_t needed = t->target_seq - ctx->cq_last_tm_flush;
                uint32_t got = seq - ctx->cq_last_tm_flush;

                if (io_is_timeout_noseq(t) || got < needed)
                        break;
                io_timer_stop(t);
                list_del_init(&t->list);
                ctx->cq_timeouts++;
                io_req_set_res(req, 0, 0);
                io_req_complete(req, false);
        }
        ctx->cq_last_tm_flush = seq;
}

static void io_timeout_complete_cancelled(struct io_kiocb *req) {
        io_req_set_fail(req);
        io_req_set_res(req, -ECANCELED, 0);
        io_req_complete(req, false);
}

static struct io_kiocb *io_timeout_find(struct io_ring_ctx *ctx, struct io_cancel_data *cd) {
        struct io_timeout *t;

        list_for_each_entry(t, &ctx->timeout_list, list) {
                struct io_kiocb *req = cmd_to_io_kiocb(t);
                if (io_cancel_req_match(req, cd))
                        return req;
        }
        return NULL;
}

int io_timeout_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd) {
        struct io_kiocb *req = io_timeout_find(ctx, cd);
        struct io_timeout *t;

        if (!req)
                return -ENOENT;
        t = io_kiocb_to_cmd(req, struct io_timeout);
        io_timer_stop(t);
        list_del_init(&t->list);
        /* Completes after the canceller's CQE, as the kernel's task work. */
        io_req_task_work_add(req, io_timeout_complete_cancelled);
        return 0;
}

void io_kill_timeouts(struct io_ring_ctx *ctx) {
        while (!list_empty(&ctx->timeout_list)) {
                struct io_timeout *t = list_first_entry(&ctx->timeout_list, struct io_timeout, list);

                io_timer_stop(t);
                list_del_init(&t->list);
                ctx->cq_timeouts++;
                io_timeout_complete_cancelled(cmd_to_io_kiocb(t));
        }
        /* Armed LINK_TIMEOUTs go with their heads, which are being cancelled;
         * stop the timers so that none fires into a dying ring. */
        struct io_timeout *t;
        list_for_each_entry(t, &ctx->ltimeout_list, list)
                io_timer_stop(t);
}

/* ---- LINK_TIMEOUT --------------------------------------------------------- */

static int io_link_timeout_fn(sd_event_source *s, uint64_t usec, void *userdata) {
        struct io_kiocb *req = userdata;
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);
        struct io_ring_ctx *ctx = req->ctx;
        struct io_kiocb *prev;
        uint64_t user_data = 0;

        pthread_mutex_lock(&ctx->timeout_lock);
        prev = t->head;
        t->head = NULL;
        if (prev) {
                /* Out of the chain: what follows now follows the head. */
                prev->link = req->link;
                req->link = NULL;
                user_data = prev->user_data;
        }
        pthread_mutex_unlock(&ctx->timeout_lock);

        /* No head: it completed and its disarm, queued, completes us. */
        if (!prev)
                return 0;
        list_del_init(&t->list);

        struct io_cancel_data cd = { .ctx = ctx, .data = user_data };
        int r = ctx->dead ? -ECANCELED : io_try_cancel(&cd);
        io_req_set_res(req, r ? r : -ETIME, 0);
        io_req_complete(req, false);
        return 0;
}

void io_arm_ltimeout(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        struct io_kiocb *lt = req->link;
        struct io_timeout *t;

        req->flags &= ~REQ_F_ARM_LTIMEOUT;
        if (!lt || lt->opcode != IORING_OP_LINK_TIMEOUT)
                return;
        t = io_kiocb_to_cmd(lt, struct io_timeout);
        if (io_timer_start(lt, io_link_timeout_fn) < 0)
                return; /* never fires: the head's completion cancels it */
        req->flags |= REQ_F_LINK_TIMEOUT;
        list_add_tail(&t->list, &ctx->ltimeout_list);
}

static void io_link_timeout_disarmed(struct io_kiocb *req) {
        struct io_timeout *t = io_kiocb_to_cmd(req, struct io_timeout);

        io_timer_stop(t);
        list_del_init(&t->list);
        io_req_complete(req, false);
}

void io_disarm_next(struct io_kiocb *req) {
        struct io_ring_ctx *ctx = req->ctx;
        struct io_kiocb *lt = NULL;

        if (req->flags & REQ_F_ARM_LTIMEOUT) {
                /* Completed before going async: the timer never started. */
                req->flags &= ~REQ_F_ARM_LTIMEOUT;
                lt = req->link;
        } else if (req->flags & REQ_F_LINK_TIMEOUT) {
                req->flags &= ~REQ_F_LINK_TIMEOUT;
                pthread_mutex_lock(&ctx->timeout_lock);
                lt = req->link;
                if (lt && (lt->opcode != IORING_OP_LINK_TIMEOUT ||
                           io_kiocb_to_cmd(lt, struct io_timeout)->head != req))
                        lt = NULL; /* the timer fired and took it out */
                if (lt) {
                        req->link = lt->link;
                        lt->link = NULL;
                        io_kiocb_to_cmd(lt, struct io_timeout)->head = NULL;
                }
                pthread_mutex_unlock(&ctx->timeout_lock);
                if (lt)
                        goto queue;
                return;
        }
        if (!lt || lt->opcode != IORING_OP_LINK_TIMEOUT)
                return;
        req->link = lt->link;
        lt->link = NULL;
        io_kiocb_to_cmd(lt, struct io_timeout)->head = NULL;
queue:
        io_req_set_res(lt, -ECANCELED, 0);
        io_req_task_work_add(lt, io_link_timeout_disarmed);
}

/* ---- TIMEOUT_REMOVE ------------------------------------------------------- */

int io_timeout_remove_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_timeout_rem *tr = io_kiocb_to_cmd(req, struct io_timeout_rem);

        if (req->flags & REQ_F_FIXED_FILE)
                return -EINVAL;
        if (sqe->buf_index || sqe->len || sqe->splice_fd_in)
                return -EINVAL;

        tr->ltimeout = false;
        tr->addr = sqe->addr;
        tr->flags = sqe->timeout_flags;
        if (tr->flags & IORING_TIMEOUT_UPDATE_MASK) {
                if (__builtin_popcount(tr->flags & IORING_TIMEOUT_CLOCK_MASK) > 1)
                        return -EINVAL;
                if (tr->flags & IORING_LINK_TIMEOUT_UPDATE)
                        tr->ltimeout = true;
                if (tr->flags & ~(IORING_TIMEOUT_UPDATE_MASK | IORING_TIMEOUT_ABS))
                        return -EINVAL;
                return io_read_timespec(req, sqe->addr2, &tr->ts_sec, &tr->ts_nsec);
        }
        if (tr->flags)
                return -EINVAL; /* removal takes no flags */
        return 0;
}

static int io_timeout_update(struct io_ring_ctx *ctx, struct io_timeout_rem *tr) {
        struct io_cancel_data cd = { .ctx = ctx, .data = tr->addr };
        struct io_kiocb *req = io_timeout_find(ctx, &cd);
        struct io_timeout *t;

        if (!req)
                return -ENOENT;
        t = io_kiocb_to_cmd(req, struct io_timeout);
        list_del_init(&t->list);
        t->off = 0; /* time only from now on */
        t->ts_sec = tr->ts_sec;
        t->ts_nsec = tr->ts_nsec;
        t->abs = tr->flags & IORING_TIMEOUT_ABS;
        list_add_tail(&t->list, &ctx->timeout_list);
        if (io_timer_start(req, io_timeout_fn) < 0) {
                list_del_init(&t->list);
                io_req_task_work_add(req, io_timeout_complete_cancelled);
        }
        return 0;
}

static int io_linked_timeout_update(struct io_ring_ctx *ctx, struct io_timeout_rem *tr) {
        struct io_timeout *t;

        list_for_each_entry(t, &ctx->ltimeout_list, list) {
                struct io_kiocb *req = cmd_to_io_kiocb(t);

                if (req->user_data != tr->addr)
                        continue;
                t->ts_sec = tr->ts_sec;
                t->ts_nsec = tr->ts_nsec;
                t->abs = tr->flags & IORING_TIMEOUT_ABS;
                return io_timer_start(req, io_link_timeout_fn) < 0 ? -ENOMEM : 0;
        }
        return -ENOENT;
}

int io_timeout_remove(struct io_kiocb *req, unsigned issue_flags) {
        struct io_timeout_rem *tr = io_kiocb_to_cmd(req, struct io_timeout_rem);
        struct io_ring_ctx *ctx = req->ctx;
        int r;

        /* As the kernel: LINK_TIMEOUT_UPDATE alone still means removal. */
        if (!(tr->flags & IORING_TIMEOUT_UPDATE)) {
                struct io_cancel_data cd = { .ctx = ctx, .data = tr->addr };
                r = io_timeout_cancel(ctx, &cd);
        } else if (tr->ltimeout)
                r = io_linked_timeout_update(ctx, tr);
        else
                r = io_timeout_update(ctx, tr);

        if (r < 0)
                io_req_set_fail(req);
        io_req_set_res(req, r, 0);
        return IOU_OK;
}
