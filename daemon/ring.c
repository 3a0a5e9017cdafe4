/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ring memory and the completion queue. See ring.h for the barrier contract.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enter.h"
#include "eventfd.h"
#include "evloop.h"
#include "kbuf.h"
#include "io-wq.h"
#include "manager.h"
#include "io-poll.h"
#include "ring.h"
#include "sqpoll.h"
#include "submit.h"
#include "task.h"
#include "timeout.h"
#include "uringd/macro.h"

/* Past this many CQEs waiting in the overflow list, further CQEs are dropped
 * and counted (the kernel drops when its allocation fails). Bounds the
 * memory a ring whose app never reaps can make us hold. */
#define IO_OVERFLOW_MAX (1U << 18)

/* No MAP_POPULATE: a page of the memfd exists once someone touches it, and
 * a 32768-entry ring the app barely uses costs what it uses. */
static void *map_region(int fd, off_t off, size_t size) {
        void *p = mmap(NULL, ring_page_align(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
        return p == MAP_FAILED ? NULL : p;
}

static void unmap_region(void *p, size_t size) {
        if (p)
                munmap(p, ring_page_align(size));
}

static void io_ring_ctx_free(struct io_ring_ctx *ctx) {
        struct io_overflow_cqe *o, *n;

        list_for_each_entry_safe(o, n, &ctx->overflow_list, node)
                free(o);
        list_for_each_entry_safe(o, n, &ctx->local_work, node)
                free(o);
        io_eventfd_free(ctx->ev_fd);
        io_evloop_free(ctx->evloop);
        io_destroy_buffers(ctx);
        free(ctx->poll_hash);
        free(ctx->iowq_cpus);
        io_rsrc_files_free(&ctx->files);
        io_rsrc_bufs_free(&ctx->bufs);
        unmap_region(ctx->sq_region, ctx->layout.sq_region_size);
        unmap_region(ctx->cq_region, ctx->layout.cq_region_size);
        unmap_region(ctx->sqes_region, ctx->layout.sqes_size);
        safe_close(ctx->memfd);
        pthread_mutex_destroy(&ctx->completion_lock);
        pthread_mutex_destroy(&ctx->timeout_lock);
        free(ctx);
}

struct io_ring_ctx *io_ring_ctx_ref(struct io_ring_ctx *ctx) {
        __atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
        return ctx;
}

void io_ring_ctx_unref(struct io_ring_ctx *ctx) {
        if (ctx && __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) == 0)
                io_ring_ctx_free(ctx);
}

int io_ring_ctx_new(struct manager *m, struct io_uring_params *p, struct io_ring_ctx **ret) {
        struct io_ring_ctx *ctx;
        struct stat st;
        char path[64];
        int r;

        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->refs = 1;
        ctx->manager = m;
        ctx->memfd = -1;
        ctx->inotify_wd = -1;
        ctx->flags = p->flags;
        list_init(&ctx->waiters);
        list_init(&ctx->overflow_list);
        list_init(&ctx->local_work);
        list_init(&ctx->wake_node);
        list_init(&ctx->ring_node);
        list_init(&ctx->defer_list);
        list_init(&ctx->sqd_node);
        list_init(&ctx->timeout_list);
        list_init(&ctx->ltimeout_list);
        list_init(&ctx->poll_list);
        list_init(&ctx->apoll_list);
        list_init(&ctx->ring_pollers);
        list_init(&ctx->buffer_lists);
        pthread_mutex_init(&ctx->completion_lock, NULL);
        pthread_mutex_init(&ctx->timeout_lock, NULL);
        ring_layout_compute(p, &ctx->layout);
        ctx->sq_mask = ctx->layout.sq_entries - 1;
        ctx->cq_mask = ctx->layout.cq_entries - 1;

        ctx->memfd = memfd_create("uringd-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (ctx->memfd < 0) {
                r = negative_errno();
                goto fail;
        }
        if (ftruncate(ctx->memfd, (off_t) ctx->layout.file_size) < 0 ||
            fcntl(ctx->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
            fstat(ctx->memfd, &st) < 0) {
                r = negative_errno();
                goto fail;
        }
        ctx->ino = st.st_ino;
        ctx->dev = st.st_dev;

        ctx->sq_region = map_region(ctx->memfd, IORING_OFF_SQ_RING, ctx->layout.sq_region_size);
        ctx->cq_region = map_region(ctx->memfd, IORING_OFF_CQ_RING, ctx->layout.cq_region_size);
        ctx->sqes_region = map_region(ctx->memfd, IORING_OFF_SQES, ctx->layout.sqes_size);
        if (!ctx->sq_region || !ctx->cq_region || !ctx->sqes_region) {
                r = -ENOMEM;
                goto fail;
        }

        uint8_t *sq = ctx->sq_region, *cq = ctx->cq_region;
        ctx->sq_head = (uint32_t *) (sq + SQ_OFF_HEAD);
        ctx->sq_tail = (uint32_t *) (sq + SQ_OFF_TAIL);
        ctx->sq_flags = (uint32_t *) (sq + SQ_OFF_FLAGS);
        ctx->sq_dropped = (uint32_t *) (sq + SQ_OFF_DROPPED);
        ctx->sq_array = (uint32_t *) (sq + SQ_OFF_ARRAY);
        ctx->cq_head = (uint32_t *) (cq + CQ_OFF_HEAD);
        ctx->cq_tail = (uint32_t *) (cq + CQ_OFF_TAIL);
        ctx->cq_overflow = (uint32_t *) (cq + CQ_OFF_OVERFLOW);
        ctx->cq_flags = (uint32_t *) (cq + CQ_OFF_FLAGS);
        ctx->cqes = (uint8_t *) cq + CQ_OFF_CQES;
        ctx->sqes = ctx->sqes_region;

        *(uint32_t *) (sq + SQ_OFF_RING_MASK) = ctx->sq_mask;
        *(uint32_t *) (sq + SQ_OFF_RING_ENTRIES) = ctx->layout.sq_entries;
        *(uint32_t *) (cq + CQ_OFF_RING_MASK) = ctx->cq_mask;
        *(uint32_t *) (cq + CQ_OFF_RING_ENTRIES) = ctx->layout.cq_entries;

        /* Fires when the last writable description of the inode other than
         * our own goes: the app's fds and mappings, in every process. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", ctx->memfd);
        ctx->inotify_wd = inotify_add_watch(m->inotify_fd, path, IN_CLOSE_WRITE);
        if (ctx->inotify_wd < 0) {
                r = negative_errno();
                goto fail;
        }

        *ret = ctx;
        return 0;
fail:
        if (ctx->inotify_wd >= 0)
                inotify_rm_watch(m->inotify_fd, ctx->inotify_wd);
        io_ring_ctx_free(ctx);
        return r;
}

int io_ring_open_app_fd(struct io_ring_ctx *ctx) {
        char path[64];

        /* A description of its own: its release (last fd, last mapping, in
         * every process) is what inotify reports. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", ctx->memfd);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

void io_ring_ctx_kill(struct io_ring_ctx *ctx) {
        if (ctx->dead)
                return;
        ctx->dead = true;

        io_sqpoll_remove(ctx);
        io_cqring_wake_all(ctx);
        io_ring_cancel_deferred(ctx);
        io_poll_remove_all(ctx);
        io_kill_timeouts(ctx);
        if (ctx->wq) {
                io_wq_exit(ctx->wq);
                ctx->wq = NULL;
        }
        manager_ring_remove(ctx->manager, ctx);
        io_evloop_kill(ctx);
        if (ctx->inotify_wd >= 0) {
                inotify_rm_watch(ctx->manager->inotify_fd, ctx->inotify_wd);
                ctx->inotify_wd = -1;
        }
        io_ring_ctx_unref(ctx);
}

static uint32_t cq_free_slots(struct io_ring_ctx *ctx) {
        uint32_t head = smp_load_acquire_u32(ctx->cq_head);
        uint32_t used = ctx->cached_cq_tail - head;

        /* A head the app moved past our tail, or too far back, means the
         * ring is corrupt: treat it as full so nothing is overwritten. */
        if (used > ctx->layout.cq_entries)
                return 0;
        return ctx->layout.cq_entries - used;
}

static void cqe_fill(struct io_ring_ctx *ctx, const struct io_uring_cqe *src) {
        uint8_t *cqe = ctx->cqes + (size_t) (ctx->cached_cq_tail & ctx->cq_mask) * ctx->layout.cqe_size;
        memcpy(cqe, src, sizeof(*src));
        if (ctx->layout.cqe_size > sizeof(*src))
                memset(cqe + sizeof(*src), 0, ctx->layout.cqe_size - sizeof(*src));
        ctx->cached_cq_tail++;
}

static void sq_flags_set(struct io_ring_ctx *ctx, uint32_t bits) {
        __atomic_fetch_or(ctx->sq_flags, bits, __ATOMIC_RELEASE);
}

static void sq_flags_clear(struct io_ring_ctx *ctx, uint32_t bits) {
        __atomic_fetch_and(ctx->sq_flags, ~bits, __ATOMIC_RELEASE);
}

/* Under completion_lock. */
static void __io_cqring_overflow_flush(struct io_ring_ctx *ctx) {
        struct io_overflow_cqe *o, *n;
        bool moved = false;

        list_for_each_entry_safe(o, n, &ctx->overflow_list, node) {
                if (cq_free_slots(ctx) == 0)
                        break;
                cqe_fill(ctx, &o->cqe);
                list_del_init(&o->node);
                free(o);
                ctx->nr_overflow--;
                moved = true;
        }
        if (moved)
                smp_store_release_u32(ctx->cq_tail, ctx->cached_cq_tail);
        if (list_empty(&ctx->overflow_list))
                sq_flags_clear(ctx, IORING_SQ_CQ_OVERFLOW);
        if (moved)
                io_evloop_mark(ctx);
}

void io_cqring_overflow_flush(struct io_ring_ctx *ctx) {
        if (!__atomic_load_n(&ctx->nr_overflow, __ATOMIC_RELAXED))
                return;
        pthread_mutex_lock(&ctx->completion_lock);
        __io_cqring_overflow_flush(ctx);
        pthread_mutex_unlock(&ctx->completion_lock);
        io_evloop_flush(ctx);
}

/* A completing request leaves the count a drain waits on (ctx->inflight)
 * after its CQE is filled and before the app can see it: an app that reaps
 * the CQE and submits a drained request finds it gone, as on the kernel,
 * whose io-wq frees the request by task work before the app returns to
 * user space. Released after the fill, so a request the drain lets go
 * posts and counts its CQE after this one. */
static void io_req_leave_inflight(struct io_ring_ctx *ctx) {
        __atomic_sub_fetch(&ctx->inflight, 1, __ATOMIC_RELEASE);
}

/* Under completion_lock: into the CQ, else the overflow list, else lost.
 * @leave: the CQE of a completing request (io_req_leave_inflight()). */
static void __io_fill_cqe(struct io_ring_ctx *ctx, const struct io_uring_cqe *cqe, bool async, bool leave) {
        /* Once anything overflowed, later CQEs queue behind it: order kept. */
        if (list_empty(&ctx->overflow_list) && cq_free_slots(ctx) > 0) {
                cqe_fill(ctx, cqe);
                if (leave)
                        io_req_leave_inflight(ctx);
                smp_store_release_u32(ctx->cq_tail, ctx->cached_cq_tail);
                leave = false;
        } else if (ctx->nr_overflow < IO_OVERFLOW_MAX) {
                struct io_overflow_cqe *o = malloc(sizeof(*o));
                if (o) {
                        o->cqe = *cqe;
                        list_add_tail(&o->node, &ctx->overflow_list);
                        ctx->nr_overflow++;
                        sq_flags_set(ctx, IORING_SQ_CQ_OVERFLOW);
                } else
                        goto drop;
        } else {
drop:
                write_once_u32(ctx->cq_overflow, read_once_u32(ctx->cq_overflow) + 1);
                ctx->cq_dropped = true;
        }
        if (leave)
                io_req_leave_inflight(ctx);
        io_eventfd_mark(ctx, async);
        io_evloop_mark(ctx);
}

/* Under completion_lock: hold a completion until the app reaps (see
 * io_ring_holds_completions()). With DEFER_TASKRUN, the first one held
 * raises IORING_SQ_TASKRUN and the eventfd, as the kernel's
 * io_req_local_work_add(). False when it cannot be held: out of memory, or
 * past the bound that overflowed CQEs have too; it is then posted. */
static bool io_local_work_add(struct io_ring_ctx *ctx, const struct io_uring_cqe *cqe, bool async) {
        struct io_overflow_cqe *o;

        if (ctx->nr_local_work >= IO_OVERFLOW_MAX || !(o = malloc(sizeof(*o))))
                return false;
        o->cqe = *cqe;
        /* IOPOLL completions are simply found by the next reap. */
        if (list_empty(&ctx->local_work) && (ctx->flags & IORING_SETUP_DEFER_TASKRUN)) {
                if (ctx->flags & IORING_SETUP_TASKRUN_FLAG)
                        sq_flags_set(ctx, IORING_SQ_TASKRUN);
                io_eventfd_mark(ctx, async);
                io_evloop_set_work(ctx, true);
                io_evloop_mark(ctx);
        }
        list_add_tail(&o->node, &ctx->local_work);
        ctx->nr_local_work++;
        return true;
}

unsigned io_run_local_work(struct io_ring_ctx *ctx) {
        struct io_overflow_cqe *o, *n;
        unsigned nr = 0;

        if (!io_ring_holds_completions(ctx))
                return 0;
        pthread_mutex_lock(&ctx->completion_lock);
        if (ctx->flags & IORING_SETUP_TASKRUN_FLAG)
                sq_flags_clear(ctx, IORING_SQ_TASKRUN);
        list_for_each_entry_safe(o, n, &ctx->local_work, node) {
                list_del_init(&o->node);
                __io_fill_cqe(ctx, &o->cqe, false, false);
                free(o);
                nr++;
        }
        ctx->nr_local_work = 0;
        io_evloop_set_work(ctx, false);
        pthread_mutex_unlock(&ctx->completion_lock);
        if (nr)
                io_evloop_flush(ctx);
        return nr;
}

static void __io_post_cqe(struct io_ring_ctx *ctx, uint64_t user_data, int32_t res, uint32_t cflags,
                          bool async, bool leave) {
        struct io_uring_cqe cqe = { .user_data = user_data, .res = res, .flags = cflags };
        /* submitting belongs to the loop: read it only there. */
        bool inline_completion = in_event_loop && ctx->submitting;

        pthread_mutex_lock(&ctx->completion_lock);
        /* A batch's inline completions are posted even on a ring that holds
         * the others until the app reaps. */
        if (!io_ring_holds_completions(ctx) || inline_completion || !io_local_work_add(ctx, &cqe, async))
                __io_fill_cqe(ctx, &cqe, async, leave);
        else if (leave)
                io_req_leave_inflight(ctx);
        /* The kernel posts a batch's inline completions when the batch
         * ends; a counting TIMEOUT queued in the batch must not see them. */
        if (inline_completion)
                ctx->submit_cqes++;
        pthread_mutex_unlock(&ctx->completion_lock);

        manager_queue_wake(ctx->manager, ctx);
}

void io_post_cqe(struct io_ring_ctx *ctx, uint64_t user_data, int32_t res, uint32_t cflags, bool async) {
        __io_post_cqe(ctx, user_data, res, cflags, async, false);
}

void io_post_req_cqe(struct io_ring_ctx *ctx, uint64_t user_data, int32_t res, uint32_t cflags, bool async) {
        __io_post_cqe(ctx, user_data, res, cflags, async, true);
}

uint32_t io_cqring_events(struct io_ring_ctx *ctx) {
        /* Our own copy of the tail: the app can scribble on the shared one. */
        uint32_t tail = __atomic_load_n(&ctx->cached_cq_tail, __ATOMIC_ACQUIRE);
        uint32_t head = smp_load_acquire_u32(ctx->cq_head);
        uint32_t n = tail - head;
        return MIN(n, ctx->layout.cq_entries);
}

bool io_cqring_dropped(struct io_ring_ctx *ctx) {
        bool dropped;

        pthread_mutex_lock(&ctx->completion_lock);
        dropped = ctx->cq_dropped;
        pthread_mutex_unlock(&ctx->completion_lock);
        return dropped;
}

void io_cqring_clear_dropped(struct io_ring_ctx *ctx) {
        pthread_mutex_lock(&ctx->completion_lock);
        ctx->cq_dropped = false;
        pthread_mutex_unlock(&ctx->completion_lock);
}

static struct io_ring_ctx *io_ring_by_stat(struct manager *m, const struct stat *st) {
        struct io_ring_ctx *ctx = manager_ring_by_ino(m, st->st_ino);
        /* An inode number is only unique on its file system. */
        if (!ctx || ctx->dead || ctx->dev != st->st_dev)
                return NULL;
        return ctx;
}

struct io_ring_ctx *io_ring_by_file(struct manager *m, int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return NULL;
        return io_ring_by_stat(m, &st);
}

int io_ring_get(struct manager *m, struct io_task *t, int fd, struct io_ring_ctx **ret) {
        struct io_ring_ctx *ctx;
        struct stat st;
        int dfd, r = 0;

        /* The inode names the ring: one stat() of the fd's /proc link on
         * the fast path (every io_uring_enter). A ring closed by another
         * thread meanwhile is released through inotify, after this call,
         * which holds a reference, as when our dup was the last fd. */
        if (io_task_fstat(t, fd, &st) == 0) {
                ctx = io_ring_by_stat(m, &st);
                if (!ctx)
                        return -EOPNOTSUPP;
                *ret = io_ring_ctx_ref(ctx);
                return 0;
        }
        dfd = io_task_getfd(t, fd);
        if (dfd < 0)
                return -EBADF;
        ctx = io_ring_by_file(m, dfd);
        if (!ctx)
                r = -EOPNOTSUPP;
        else
                *ret = io_ring_ctx_ref(ctx);
        /* If the app closed its last fd meanwhile, this close is the final
         * one and inotify reports it: correct, and we hold a reference. */
        safe_close(dfd);
        return r;
}
