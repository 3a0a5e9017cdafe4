/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Poll requests, after io_uring/poll.c.
 *
 * POLL_ADD first asks poll(2) with a zero timeout: a one-shot poll that is
 * ready completes inline with the mask, as the kernel's does. Otherwise it
 * waits on the ring's one edge-triggered sd-event I/O source for that file
 * (struct io_poll_file, on our dup of it), shared by all its polls; when it
 * fires, the mask is read again with poll(2), as the kernel reads
 * vfs_poll() again in its task work, so a spurious wake-up posts nothing.
 * A POLL_ADD on a uringd ring's fd reports that ring's state instead.
 * A multishot poll posts each mask with IORING_CQE_F_MORE and goes on until
 * it is removed or cancelled, whose CQE (-ECANCELED) has no MORE.
 *
 * The result mask is what the file reports among the events asked for,
 * plus POLLERR, POLLHUP, POLLNVAL and POLLRDHUP, which the kernel always
 * reports (IO_POLL_UNMASK).
 *
 * Async poll (IORING_FEAT_FAST_POLL): a read or write of a pipe, socket or
 * other pollable file that would block waits here, one-shot, level
 * triggered, and is issued again on the event loop when the file is ready,
 * as the kernel's io_arm_poll_handler(). Cancellation finds it here too.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "cancel.h"
#include "manager.h"
#include "opdef.h"
#include "io-poll.h"
#include "req.h"
#include "ring.h"
#include "submit.h"
#include "task.h"
#include "timeout.h"
#include "uringd/macro.h"

#define IO_POLL_UNMASK (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)

/*
 * The polls of one ring on one open file description share one epoll
 * registration on one dup of it, as the kernel's waitqueue entries share
 * the file: 30,000 polls on a pipe hold one fd, not 30,000.
 */
struct io_poll_file {
        struct list_head node;          /* ctx->poll_file_hash bucket, by inode */
        struct list_head polls;         /* io_poll.pf_node */
        sd_event_source *source;
        int fd;                         /* our dup of the file */
        dev_t dev;
        ino_t ino;
        uint32_t epoll_events, poll_events; /* unions over the polls */
        unsigned refs;                  /* polls, and pins while in use */
        /* Not dispatched since it was made: epoll reports a file that was
         * ready then by itself, to every poll joined until then. */
        bool fresh;
};

struct io_poll {
        struct list_head node;          /* ctx->poll_list while waiting */
        struct list_head hash_node;     /* ctx->poll_hash, by user_data */
        int fd;                         /* ring polls: our dup of the task's pidfd, or -1 */
        uint32_t events;                /* poll(2) bits asked for */
        bool multishot;
        bool ring;                      /* polls a uringd ring, not a file */
        union {
                struct {                /* a file */
                        struct io_poll_file *pf;
                        struct list_head pf_node;
                };
                struct {                /* a ring: readiness is its own state */
                        struct io_ring_ctx *target;     /* reference */
                        struct list_head ring_node;     /* target->ring_pollers */
                        sd_event_source *exit_source;   /* the submitting task's pidfd */
                };
        };
};

struct async_poll {
        struct list_head node;          /* ctx->apoll_list */
        struct io_kiocb *req;
        sd_event_source *source;
        int fd;                         /* our dup of the file */
};

struct io_poll_update {
        uint64_t old_user_data;
        uint64_t new_user_data;
        uint32_t events;
        bool update_events;
        bool update_user_data;
};

static uint32_t io_poll_parse_events(const struct io_uring_sqe *sqe) {
        /* poll(2) and epoll bits agree on x86 and arm64 (no demangling). */
        return sqe->poll32_events & 0xffff;
}

int io_poll_add_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);
        uint32_t flags;

        if (sqe->buf_index || sqe->off || sqe->addr)
                return -EINVAL;
        flags = sqe->len;
        if (flags & ~IORING_POLL_ADD_MULTI)
                return -EINVAL;
        /* A multishot poll never completes "successfully": nothing to skip. */
        if ((flags & IORING_POLL_ADD_MULTI) && (req->flags & REQ_F_CQE_SKIP))
                return -EINVAL;

        list_init(&p->node);
        list_init(&p->hash_node);
        p->ring = false;
        p->pf = NULL;
        list_init(&p->pf_node);
        p->fd = -1;
        p->events = io_poll_parse_events(sqe);
        p->multishot = flags & IORING_POLL_ADD_MULTI;
        return 0;
}

/* The file's readiness now, among @events and IO_POLL_UNMASK. */
static int io_poll_mask(int fd, uint32_t events) {
        struct pollfd pfd = { .fd = fd, .events = (short) (events | POLLRDHUP) };

        if (poll(&pfd, 1, 0) < 0)
                return negative_errno();
        return (uint16_t) pfd.revents & (events | IO_POLL_UNMASK);
}

static uint32_t io_poll_epoll_events(uint32_t events) {
        uint32_t e = EPOLLRDHUP | EPOLLET;

        if (events & (POLLIN | POLLRDNORM | POLLRDBAND))
                e |= EPOLLIN;
        if (events & POLLPRI)
                e |= EPOLLPRI;
        if (events & (POLLOUT | POLLWRNORM | POLLWRBAND))
                e |= EPOLLOUT;
        return e;
}

/* POLL_REMOVE finds its target by user_data among thousands of polls: a
 * hash, as the kernel's cancel_table. */
#define POLL_HASH_BITS 8

static struct list_head *io_poll_bucket(struct io_ring_ctx *ctx, uint64_t user_data) {
        uint64_t h = user_data * 0x9e3779b97f4a7c15ULL;
        return &ctx->poll_hash[h >> (64 - POLL_HASH_BITS)];
}

static int io_poll_hash_init(struct io_ring_ctx *ctx) {
        if (ctx->poll_hash)
                return 0;
        /* One allocation: the user_data buckets, then the inode buckets. */
        ctx->poll_hash = malloc(2 * (sizeof(struct list_head) << POLL_HASH_BITS));
        if (!ctx->poll_hash)
                return -ENOMEM;
        for (unsigned i = 0; i < 2U << POLL_HASH_BITS; i++)
                list_init(&ctx->poll_hash[i]);
        return 0;
}

static struct list_head *io_poll_file_bucket(struct io_ring_ctx *ctx, ino_t ino) {
        uint64_t h = (uint64_t) ino * 0x9e3779b97f4a7c15ULL;
        return &ctx->poll_hash[(1U << POLL_HASH_BITS) + (h >> (64 - POLL_HASH_BITS))];
}

static struct io_poll_file *io_poll_file_pin(struct io_poll_file *pf) {
        pf->refs++;
        return pf;
}

static void io_poll_file_put(struct io_poll_file *pf) {
        if (!pf || --pf->refs > 0)
                return;
        list_del_init(&pf->node);
        /* The source before the fd: epoll forgets an fd only when its
         * file description goes, and the app keeps it open. */
        sd_event_source_disable_unref(pf->source);
        safe_close(pf->fd);
        free(pf);
}

/* Stop waiting, keeping our dup of the file when @keep_fd (an update arms
 * the same file again). Idempotent; nothing to do for a poll that never
 * waited (its cmd may not even have been through prep). */
static void __io_poll_disarm(struct io_kiocb *req, bool keep_fd) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);

        if (!(req->flags & REQ_F_POLLED))
                return;
        list_del_init(&p->node);
        list_del_init(&p->hash_node);
        req->flags &= ~REQ_F_POLLED;
        if (!p->ring) {
                list_del_init(&p->pf_node);
                io_poll_file_put(p->pf);
                p->pf = NULL;
                return;
        }
        /* The source before the fd: epoll forgets an fd only when its file
         * description goes, and ours is a dup of one kept open. */
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        if (!keep_fd)
                p->fd = safe_close(p->fd);
        list_del_init(&p->ring_node);
        io_ring_ctx_unref(p->target);
        p->target = NULL;
}

static void io_poll_disarm(struct io_kiocb *req) {
        __io_poll_disarm(req, false);
}

void io_poll_cleanup(struct io_kiocb *req) {
        io_poll_disarm(req);
}

/* Complete or, multishot, post: @mask is ready for @req. */
static void io_poll_fire(struct io_kiocb *req, int mask) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);

        if (p->multishot && mask > 0) {
                io_post_cqe(req->ctx, req->user_data, mask, IORING_CQE_F_MORE, false);
                return;
        }
        io_poll_disarm(req);
        if (mask < 0)
                io_req_set_fail(req);
        /* A multishot poll ends on an error, as the kernel's does. */
        io_req_set_res(req, mask, 0);
        io_req_complete(req, false);
}

/* The file signalled: each of its polls looks at the readiness it asked
 * for, read once with poll(2), as the kernel reads vfs_poll() again. */
static int io_poll_file_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct io_poll_file *pf = io_poll_file_pin(userdata);
        int mask = io_poll_mask(pf->fd, pf->poll_events);
        struct io_poll *p, *n;

        pf->fresh = false;
        if (mask != 0)
                list_for_each_entry_safe(p, n, &pf->polls, pf_node) {
                        int m = mask < 0 ? mask : mask & (int) (p->events | IO_POLL_UNMASK);
                        if (m)
                                io_poll_fire(cmd_to_io_kiocb(p), m);
                }
        io_poll_file_put(pf);
        return 0;
}

/* The ring's registration for the file of @req, found (0) or made (1),
 * pinned. */
static int io_poll_file_get(struct io_kiocb *req, struct io_poll_file **ret) {
        struct io_ring_ctx *ctx = req->ctx;
        pid_t self = getpid();
        struct io_poll_file *pf;
        struct list_head *bucket;
        struct stat st;
        int r;

        if (fstat(req->file, &st) < 0)
                return negative_errno();
        bucket = io_poll_file_bucket(ctx, st.st_ino);
        list_for_each_entry(pf, bucket, node)
                if (pf->ino == st.st_ino && pf->dev == st.st_dev &&
                    syscall(SYS_kcmp, self, self, KCMP_FILE, pf->fd, req->file) == 0) {
                        *ret = io_poll_file_pin(pf);
                        return 0;
                }

        pf = calloc(1, sizeof(*pf));
        if (!pf)
                return -ENOMEM;
        list_init(&pf->polls);
        pf->dev = st.st_dev;
        pf->ino = st.st_ino;
        pf->fd = fcntl(req->file, F_DUPFD_CLOEXEC, 3);
        if (pf->fd < 0) {
                r = negative_errno();
                free(pf);
                return r;
        }
        pf->epoll_events = EPOLLRDHUP | EPOLLET;
        r = sd_event_add_io(ctx->manager->event, &pf->source, pf->fd, pf->epoll_events, io_poll_file_wake, pf);
        if (r < 0) {
                safe_close(pf->fd);
                free(pf);
                return r;
        }
        pf->refs = 1;
        pf->fresh = true;
        list_add_tail(&pf->node, bucket);
        *ret = pf;
        return 1;
}

/* Wait for readiness on the ring's shared registration for the file.
 * Returns 1 when epoll is still to report the file's readiness at the
 * time the registration was made (to this poll too), 0 when that is past,
 * or -errno (-EPERM: epoll refuses the file). */
static int io_poll_arm(struct io_kiocb *req) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);
        struct io_poll_file *pf;
        uint32_t e = io_poll_epoll_events(p->events);
        int r;

        r = io_poll_hash_init(req->ctx);
        if (r < 0)
                return r;
        int created = io_poll_file_get(req, &pf);
        if (created < 0)
                return created;
        pf->poll_events |= p->events;
        if ((pf->epoll_events | e) != pf->epoll_events) {
                pf->epoll_events |= e;
                (void) sd_event_source_set_io_events(pf->source, pf->epoll_events);
        }
        /* A file poll now (an update may re-arm what polled a ring that
         * died meanwhile): no ring fields, no pidfd dup. */
        p->ring = false;
        p->fd = safe_close(p->fd);
        p->pf = pf; /* the pin is the poll's reference */
        list_add_tail(&p->pf_node, &pf->polls);
        req->flags |= REQ_F_POLLED;
        list_add_tail(&p->node, &req->ctx->poll_list);
        list_add_tail(&p->hash_node, io_poll_bucket(req->ctx, req->user_data));
        return created || pf->fresh;
}

/* What io_uring_poll() reports for a ring: room in the SQ, CQEs (or
 * overflowed or held ones) to reap. */
static int io_ring_poll_mask(struct io_ring_ctx *ctx) {
        uint32_t sq_used = smp_load_acquire_u32(ctx->sq_tail) - read_once_u32(ctx->sq_head);
        int mask = 0;

        if (sq_used < ctx->layout.sq_entries)
                mask |= POLLOUT | POLLWRNORM;
        if (io_cqring_events(ctx) > 0 || __atomic_load_n(&ctx->nr_overflow, __ATOMIC_RELAXED) ||
            !list_empty(&ctx->local_work))
                mask |= POLLIN | POLLRDNORM;
        return mask;
}

/* The submitting task exited: as the kernel's io_uring_files_cancel(), a
 * request on a ring fd (tracked in flight) is cancelled with its links. */
static int io_ring_poll_task_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        io_poll_fire(userdata, -ECANCELED);
        return 0;
}

void io_ring_poll_wake(struct io_ring_ctx *ctx) {
        struct io_poll *p, *n;

        list_for_each_entry_safe(p, n, &ctx->ring_pollers, ring_node) {
                struct io_kiocb *req = cmd_to_io_kiocb(p);
                int mask = io_ring_poll_mask(ctx) & (int) (p->events | IO_POLL_UNMASK);

                if (mask)
                        io_poll_fire(req, mask);
        }
}

static int io_ring_poll_add(struct io_kiocb *req, struct io_ring_ctx *target) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);
        int mask = io_ring_poll_mask(target) & (int) (p->events | IO_POLL_UNMASK);
        int r;

        /* A ring's wake-ups carry no event mask: the kernel ends even a
         * multishot poll on it with its first CQE. */
        p->multishot = false;
        if (mask) {
                io_req_set_res(req, mask, 0);
                return IOU_OK;
        }
        r = io_poll_hash_init(req->ctx);
        if (r < 0)
                return r;
        /* The task's exit ends the poll: watch a dup of its pidfd. */
        if (p->fd < 0)
                p->fd = fcntl(req->task->pidfd, F_DUPFD_CLOEXEC, 3);
        if (p->fd < 0)
                return negative_errno();
        r = sd_event_add_io(req->ctx->manager->event, &p->exit_source, p->fd, EPOLLIN, io_ring_poll_task_exit, req);
        if (r < 0) {
                p->fd = safe_close(p->fd);
                return r;
        }
        p->ring = true;
        p->target = io_ring_ctx_ref(target);
        req->flags |= REQ_F_POLLED;
        list_add_tail(&p->node, &req->ctx->poll_list);
        list_add_tail(&p->hash_node, io_poll_bucket(req->ctx, req->user_data));
        list_add_tail(&p->ring_node, &target->ring_pollers);
        return IOU_ISSUE_SKIP_COMPLETE;
}

int io_poll_add(struct io_kiocb *req, unsigned issue_flags) {
        struct io_poll *p = io_kiocb_to_cmd(req, struct io_poll);
        struct io_ring_ctx *target = io_ring_by_file(req->ctx->manager, req->file);
        int mask, r;

        if (target)
                return io_ring_poll_add(req, target);

        mask = io_poll_mask(req->file, p->events);
        if (mask < 0)
                return mask;
        if (mask && !p->multishot) {
                io_req_set_res(req, mask, 0);
                return IOU_OK;
        }
        r = io_poll_arm(req);
        /* Multishot and ready: a shared registration saw that edge
         * already, so report the current state once, right away (a new
         * one reports it by itself). */
        if (r == 0 && mask)
                io_post_cqe(req->ctx, req->user_data, mask, IORING_CQE_F_MORE, false);
        if (r > 0)
                r = 0;
        if (r == -EPERM) {
                /* A file epoll refuses (a regular file) never waits: the
                 * kernel completes it once with its mask, MORE or not. */
                if (!mask)
                        return -EINVAL;
                io_req_set_res(req, mask, 0);
                return IOU_OK;
        }
        if (r < 0)
                return r;
        return IOU_ISSUE_SKIP_COMPLETE;
}

static void io_poll_complete_cancelled(struct io_kiocb *req) {
        io_req_set_fail(req);
        io_req_set_res(req, -ECANCELED, 0);
        io_req_complete(req, false);
}

static void io_apoll_disarm(struct io_kiocb *req) {
        struct async_poll *ap = req->apoll;

        if (!(req->flags & REQ_F_APOLL))
                return;
        req->flags &= ~REQ_F_APOLL;
        req->apoll = NULL;
        list_del_init(&ap->node);
        sd_event_source_disable_unref(ap->source);
        safe_close(ap->fd);
        free(ap);
}

static int io_apoll_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct io_kiocb *req = userdata;

        /* Issue it again, in order with other task work. */
        io_apoll_disarm(req);
        manager_queue_task_work(req->ctx->manager, req);
        return 0;
}

int io_arm_poll_handler(struct io_kiocb *req) {
        const struct io_issue_def *def = &io_issue_defs[req->opcode];
        struct async_poll *ap;
        uint32_t events;
        int r;

        if (!(def->pollin || def->pollout) || (req->flags & (REQ_F_ISREG | REQ_F_NO_APOLL | REQ_F_APOLL)) ||
            req->file < 0)
                return IO_APOLL_ABORTED;
        events = def->pollin ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
        ap = calloc(1, sizeof(*ap));
        if (!ap)
                return IO_APOLL_ABORTED;
        ap->req = req;
        ap->fd = fcntl(req->file, F_DUPFD_CLOEXEC, 3);
        if (ap->fd < 0) {
                free(ap);
                return IO_APOLL_ABORTED;
        }
        /* Level-triggered and one-shot: readiness that came between our
         * try and now fires at once. */
        r = sd_event_add_io(req->ctx->manager->event, &ap->source, ap->fd, events, io_apoll_wake, req);
        if (r >= 0)
                r = sd_event_source_set_enabled(ap->source, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* epoll refuses the file (-EPERM): it never waits in poll. */
                sd_event_source_disable_unref(ap->source);
                safe_close(ap->fd);
                free(ap);
                return IO_APOLL_ABORTED;
        }
        req->apoll = ap;
        req->flags |= REQ_F_APOLL;
        list_add_tail(&ap->node, &req->ctx->apoll_list);
        return IO_APOLL_OK;
}

void io_apoll_cleanup(struct io_kiocb *req) {
        io_apoll_disarm(req);
}

int io_poll_cancel(struct io_ring_ctx *ctx, struct io_cancel_data *cd) {
        struct async_poll *ap;
        struct io_poll *p;

        list_for_each_entry(ap, &ctx->apoll_list, node) {
                struct io_kiocb *req = ap->req;

                if (!io_cancel_req_match(req, cd))
                        continue;
                io_apoll_disarm(req);
                io_req_task_work_add(req, io_poll_complete_cancelled);
                return 0;
        }

        list_for_each_entry(p, &ctx->poll_list, node) {
                struct io_kiocb *req = cmd_to_io_kiocb(p);

                if (!io_cancel_req_match(req, cd))
                        continue;
                io_poll_disarm(req);
                io_req_task_work_add(req, io_poll_complete_cancelled);
                return 0;
        }
        return -ENOENT;
}

void io_poll_remove_all(struct io_ring_ctx *ctx) {
        while (!list_empty(&ctx->apoll_list)) {
                struct async_poll *ap = list_first_entry(&ctx->apoll_list, struct async_poll, node);
                struct io_kiocb *req = ap->req;

                io_apoll_disarm(req);
                io_poll_complete_cancelled(req);
        }
        while (!list_empty(&ctx->poll_list)) {
                struct io_poll *p = list_first_entry(&ctx->poll_list, struct io_poll, node);
                struct io_kiocb *req = cmd_to_io_kiocb(p);

                io_poll_disarm(req);
                io_poll_complete_cancelled(req);
        }
}

int io_poll_remove_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_poll_update *upd = io_kiocb_to_cmd(req, struct io_poll_update);
        uint32_t flags;

        if (sqe->buf_index || sqe->splice_fd_in)
                return -EINVAL;
        flags = sqe->len;
        if (flags & ~(IORING_POLL_UPDATE_EVENTS | IORING_POLL_UPDATE_USER_DATA | IORING_POLL_ADD_MULTI))
                return -EINVAL;
        /* MULTI means something only with an update. */
        if (flags == IORING_POLL_ADD_MULTI)
                return -EINVAL;

        upd->old_user_data = sqe->addr;
        upd->update_events = flags & IORING_POLL_UPDATE_EVENTS;
        upd->update_user_data = flags & IORING_POLL_UPDATE_USER_DATA;
        upd->new_user_data = sqe->off;
        if (!upd->update_user_data && upd->new_user_data)
                return -EINVAL;
        if (upd->update_events)
                upd->events = io_poll_parse_events(sqe);
        else if (sqe->poll32_events)
                return -EINVAL;
        return 0;
}

int io_poll_remove(struct io_kiocb *req, unsigned issue_flags) {
        struct io_poll_update *upd = io_kiocb_to_cmd(req, struct io_poll_update);
        struct io_kiocb *preq = NULL;
        struct io_poll *p;
        int r;

        if (req->ctx->poll_hash)
                list_for_each_entry(p, io_poll_bucket(req->ctx, upd->old_user_data), hash_node) {
                        struct io_kiocb *tmp = cmd_to_io_kiocb(p);
                        if (tmp->opcode == IORING_OP_POLL_ADD && tmp->user_data == upd->old_user_data) {
                                preq = tmp;
                                break;
                        }
                }
        if (!preq) {
                io_req_set_fail(req);
                io_req_set_res(req, -ENOENT, 0);
                return IOU_OK;
        }
        /* An update arms the same file again: keep its registration (or
         * the ring poll's pidfd dup) through the re-arm. */
        p = io_kiocb_to_cmd(preq, struct io_poll);
        struct io_poll_file *pin = !p->ring && p->pf ? io_poll_file_pin(p->pf) : NULL;
        __io_poll_disarm(preq, upd->update_events || upd->update_user_data);

        if (upd->update_events || upd->update_user_data) {
                p = io_kiocb_to_cmd(preq, struct io_poll);
                if (upd->update_events)
                        p->events = upd->events;
                if (upd->update_user_data)
                        preq->user_data = upd->new_user_data;
                r = io_poll_add(preq, issue_flags);
                if (r == IOU_ISSUE_SKIP_COMPLETE)
                        goto out;
                /* Not waiting again: the dup kept for it goes. */
                p->fd = safe_close(p->fd);
                if (r == IOU_OK) {
                        /* Ready at once: the updated poll completes. */
                        io_req_task_work_add(preq, io_req_task_complete);
                        goto out;
                }
        }
        /* Removed (or the update failed): the poll ends, after our CQE. */
        io_req_task_work_add(preq, io_poll_complete_cancelled);
out:
        io_poll_file_put(pin);
        io_req_set_res(req, 0, 0);
        return IOU_OK;
}
