/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A ring: the daemon's io_ring_ctx.
 *
 * The barrier contract of the shared rings (the same as the kernel's):
 *  - The app produces SQEs and release-stores the SQ tail; we acquire-load
 *    the tail, read each SQE once into private memory, and release-store
 *    the SQ head when the batch is consumed.
 *  - We write CQEs and release-store the CQ tail; the app acquire-loads it,
 *    consumes, and release-stores the CQ head, which we acquire-load before
 *    reusing a slot.
 *  - sq_flags bits (IORING_SQ_CQ_OVERFLOW) are set and cleared atomically;
 *    the app only reads them.
 * Nothing the app writes into the memfd is trusted: indexes are masked,
 * counts are clamped, and the memfd is sealed against resizing so that a
 * hostile app cannot make us fault.
 *
 * Threads: submission, registration and waiting run on the event loop
 * thread. Completions are posted from any thread under completion_lock.
 */

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/io_uring.h>

#include "layout.h"
#include "uringd/compat.h"
#include "rsrc.h"
#include "uringd/list.h"

struct manager;
struct io_wq;
struct io_ev_fd;
struct io_evloop;

/* IORING_REGISTER_RESTRICTIONS: bitmaps of what an enabled ring may do. */
struct io_restriction {
        uint64_t register_op[(URINGD_IORING_REGISTER_LAST + 63) / 64];
        uint64_t sqe_op[(URINGD_IORING_OP_LAST + 63) / 64];
        uint8_t sqe_flags_allowed, sqe_flags_required;
        bool registered;
};

struct io_overflow_cqe {
        struct list_head node;
        struct io_uring_cqe cqe;
};

struct io_ring_ctx {
        int refs;                       /* atomic: registry + requests + users */
        struct manager *manager;
        uint64_t ino;                   /* the memfd's inode: our ring's identity */
        dev_t dev;                      /* ... on the memfd file system */
        struct list_head ring_node;     /* manager->rings */
        int memfd;                      /* the daemon's own description */
        int inotify_wd;
        bool dead;                      /* the app's last fd and mapping are gone */

        uint32_t flags;                 /* IORING_SETUP_*; R_DISABLED cleared by ENABLE_RINGS */
        /* IORING_SETUP_SINGLE_ISSUER: the only thread that may submit and
         * register (0 until ENABLE_RINGS on a ring created disabled). */
        pid_t submitter_tid;
        struct io_restriction restrictions;
        bool restricted;                /* restrictions registered and ring enabled */
        struct ring_layout layout;
        uint32_t sq_mask, cq_mask;

        /* The shared regions, mapped in the daemon. */
        void *sq_region, *cq_region, *sqes_region;
        uint32_t *sq_head, *sq_tail, *sq_flags, *sq_dropped, *sq_array;
        uint32_t *cq_head, *cq_tail, *cq_overflow, *cq_flags;
        uint8_t *cqes, *sqes;           /* entries of layout.cqe_size/sqe_size bytes */

        /* Submission side (event loop only). */
        uint32_t cached_sq_head;
        struct io_rsrc_files files;
        struct io_rsrc_bufs bufs;
        struct list_head waiters;       /* struct io_waiter, see enter.c */
        unsigned nr_waiters;
        struct list_head defer_list;    /* requests held back by a drain */
        unsigned nr_drained;            /* ... counting their links */
        bool drain_active, drain_next, drain_disabled;

        /* Completion side, under completion_lock. */
        pthread_mutex_t completion_lock;
        uint32_t cached_cq_tail;
        struct list_head overflow_list;
        unsigned nr_overflow;
        bool cq_dropped;                /* a CQE was lost: report -EBADR once */
        struct io_ev_fd *ev_fd;
        struct io_evloop *evloop;       /* the shim's poll/epoll eventfd (evloop.c) */
        unsigned inflight;              /* requests issued, not yet completed */
        /* IORING_SETUP_DEFER_TASKRUN: completions that wait for the issuer's
         * next io_uring_enter(GETEVENTS), as the kernel's local task work. */
        struct list_head local_work;    /* struct io_overflow_cqe */
        unsigned nr_local_work;

        struct io_wq *wq;               /* created on first punt */
        unsigned iowq_limits[2];        /* IOWQ_MAX_WORKERS: bounded, unbounded (0: default) */
        cpu_set_t *iowq_cpus;           /* IOWQ_AFF, or NULL */

        /* Timeouts and polls: event loop only (timeout.c, poll.c), except
         * the head <-> LINK_TIMEOUT pairing, which completions on io-wq
         * threads undo under timeout_lock. */
        pthread_mutex_t timeout_lock;
        struct list_head timeout_list;  /* TIMEOUT: counted ones first, by target */
        struct list_head ltimeout_list; /* armed LINK_TIMEOUTs */
        struct list_head poll_list;     /* POLL_ADD requests waiting */
        struct list_head *poll_hash;    /* ... by user_data, allocated on first use */
        struct list_head ring_pollers;  /* POLL_ADDs of any ring on this ring's fd */
        struct list_head apoll_list;    /* struct async_poll: requests waiting to retry */
        struct list_head buffer_lists;  /* provided buffer groups (kbuf.c) */
        unsigned nr_buffers;            /* provided buffers in them */
        uint32_t cq_timeouts;           /* timeout CQEs: not counted as events */
        uint32_t cq_last_tm_flush;
        bool off_timeout_used;          /* a counting timeout was ever queued */
        bool submitting;                /* inside io_submit_sqes() */
        uint32_t submit_cqes;           /* CQEs posted inline by this batch */
        uint32_t cancel_seq;

        /* SQPOLL: the event loop polls this ring's SQ (sqpoll.c). */
        struct io_sq_data *sq_data;     /* the poller serving this ring */
        struct io_task *sq_task;        /* the creator: its fds and memory */
        struct list_head sqd_node;      /* sq_data->ctx_list */
        uint64_t sq_idle_usec;

        /* Event-loop wake-up after completions posted by other threads. */
        struct list_head wake_node;
        bool wake_queued;               /* under manager->wake_lock */
};

/* Create a ring for validated @p (layout filled in @p). Returns 0 or -errno. */
int io_ring_ctx_new(struct manager *m, struct io_uring_params *p, struct io_ring_ctx **ret);
struct io_ring_ctx *io_ring_ctx_ref(struct io_ring_ctx *ctx);
void io_ring_ctx_unref(struct io_ring_ctx *ctx);

/* The app's last reference is gone: stop everything, drop the registry's
 * reference. Event loop only. */
void io_ring_ctx_kill(struct io_ring_ctx *ctx);

/* Open a new description of the ring's memfd for the app (O_RDWR|O_CLOEXEC). */
int io_ring_open_app_fd(struct io_ring_ctx *ctx);

/*
 * Post one CQE. Takes completion_lock. Lands in the CQ when there is room,
 * else in the overflow list (IORING_FEAT_NODROP) or, past our overflow limit,
 * is dropped and counted. Publishes the tail, signals the registered eventfd,
 * and arranges for waiters to be checked. @async: posted from an io-wq worker
 * (matters for EVENTFD_ASYNC).
 */
void io_post_cqe(struct io_ring_ctx *ctx, uint64_t user_data, int32_t res, uint32_t cflags, bool async);

/* The same for a request's final CQE: the request leaves ctx->inflight (the
 * count a drain waits on) before the app can see the CQE; the caller marks
 * it REQ_F_UNCOUNTED. */
void io_post_req_cqe(struct io_ring_ctx *ctx, uint64_t user_data, int32_t res, uint32_t cflags, bool async);

/*
 * Completions other than a batch's inline ones are held until the app
 * enters with GETEVENTS: DEFER_TASKRUN (the issuer's local task work) and
 * IOPOLL without SQPOLL (found by the app's reaping, the kernel's
 * io_iopoll_check()).
 */
static inline bool io_ring_holds_completions(const struct io_ring_ctx *ctx) {
        return (ctx->flags & IORING_SETUP_DEFER_TASKRUN) ||
               (ctx->flags & (IORING_SETUP_IOPOLL | IORING_SETUP_SQPOLL)) == IORING_SETUP_IOPOLL;
}

/* Post the held completions (see above). Takes the lock.
 * Returns how many were posted. */
unsigned io_run_local_work(struct io_ring_ctx *ctx);

/* Move overflowed CQEs into the CQ while it has room. Takes the lock. */
void io_cqring_overflow_flush(struct io_ring_ctx *ctx);

/* CQEs visible to the app now (tail - head, clamped to the ring size). */
uint32_t io_cqring_events(struct io_ring_ctx *ctx);

/* Was a CQE dropped? Cleared once -EBADR has reached the app. */
bool io_cqring_dropped(struct io_ring_ctx *ctx);
void io_cqring_clear_dropped(struct io_ring_ctx *ctx);

/* Release/acquire helpers for the shared words. */
static inline uint32_t smp_load_acquire_u32(const uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void smp_store_release_u32(uint32_t *p, uint32_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint32_t read_once_u32(const uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void write_once_u32(uint32_t *p, uint32_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

struct io_task;

/* The ring behind the app's fd @fd: -EBADF when the task has no such fd,
 * -EOPNOTSUPP when it is not one of our rings. Returns a reference. */
/* The live ring whose memfd the daemon-side @fd opens, or NULL. */
struct io_ring_ctx *io_ring_by_file(struct manager *m, int fd);

int io_ring_get(struct manager *m, struct io_task *t, int fd, struct io_ring_ctx **ret);
