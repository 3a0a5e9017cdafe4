/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * epoll with ring fds: the program's epoll instance holds, for each ring fd
 * it added, a dup of the ring's eventfd (a dup, so that two fds of one ring
 * can be added as the kernel allows), tagged with a record of ours that
 * keeps the program's events and epoll_data. epoll_wait gives the program
 * its data back with the ring's real mask, and drops signals for CQEs
 * already reaped (draining them, and re-arming a one-shot registration that
 * such a signal used up). Edge-triggered registrations fire on each signal,
 * that is on each batch of CQEs posted, as the kernel's do on each post;
 * level-triggered ones keep firing while CQEs wait, because the counter is
 * only emptied once the ring shows nothing.
 *
 * A record lives until EPOLL_CTL_DEL, the close of its epoll fd, or the
 * ring's death (the kernel drops a registration when the file is released).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "evloop.h"
#include "shim.h"


/* epoll_data of our registrations: a user-space pointer never has these
 * high bits; the index names the record. */
#define EP_TAG 0x75726e6400000000ULL
#define EP_TAG_MASK 0xffffffff00000000ULL
#define EP_MAX 4096
#define EP_FLAGS (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

struct ep_rec {
        bool used;
        bool disabled;          /* one-shot, fired */
        int epfd, fd;
        int efd;                /* our dup of the ring's eventfd, in epfd */
        struct evloop_ring *ring;
        uint32_t events;        /* the program's */
        epoll_data_t data;      /* the program's */
};

static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep_rec recs[EP_MAX];
static int nr_recs;             /* atomic reads: the fast path */
static int recs_end;            /* past the last used slot */

static struct ep_rec *rec_find(int epfd, int fd) {
        for (int i = 0; i < recs_end; i++)
                if (recs[i].used && recs[i].epfd == epfd && recs[i].fd == fd)
                        return &recs[i];
        return NULL;
}

static bool epfd_has_recs(int epfd) {
        for (int i = 0; i < recs_end; i++)
                if (recs[i].used && recs[i].epfd == epfd)
                        return true;
        return false;
}

static struct epoll_event rec_event(const struct ep_rec *rec) {
        return (struct epoll_event) {
                .events = EPOLLIN | (rec->events & EP_FLAGS),
                .data.u64 = EP_TAG | (uint64_t) (rec - recs),
        };
}

/* Under ep_lock. */
static void rec_free(struct ep_rec *rec) {
        evloop_fd_set_ours(rec->efd, false);
        evloop_real.close(rec->efd);
        evloop_ring_put(rec->ring);
        *rec = (struct ep_rec) {};
        __atomic_sub_fetch(&nr_recs, 1, __ATOMIC_RELAXED);
        while (recs_end > 0 && !recs[recs_end - 1].used)
                recs_end--;
}

/* A registration must report now when the ring is ready now (ep_insert()
 * and ep_modify() poll the file): make sure the eventfd says so. */
static void rec_sync(struct ep_rec *rec) {
        short m = evloop_ring_prepare(rec->ring);
        if (m & rec->events & (EPOLLIN | EPOLLOUT))
                evloop_ring_signal(rec->ring);
}

void evloop_epoll_forget(int epfd) {
        if (!__atomic_load_n(&nr_recs, __ATOMIC_RELAXED))
                return;
        pthread_mutex_lock(&ep_lock);
        for (int i = 0; i < recs_end; i++)
                if (recs[i].used && recs[i].epfd == epfd)
                        rec_free(&recs[i]);
        pthread_mutex_unlock(&ep_lock);
}

static int ep_add(int epfd, int fd, struct evloop_ring *ring, const struct epoll_event *ev) {
        struct ep_rec *rec = NULL;
        struct epoll_event e;
        int efd;

        if (rec_find(epfd, fd)) {
                errno = EEXIST;
                return -1;
        }
        for (int i = 0; i < EP_MAX && !rec; i++)
                if (!recs[i].used)
                        rec = &recs[i];
        if (!rec) {
                errno = ENOSPC;
                return -1;
        }
        efd = fcntl(ring->efd, F_DUPFD_CLOEXEC, SHIM_FD_MIN);
        if (efd < 0)
                return -1;
        *rec = (struct ep_rec) {
                .used = true, .epfd = epfd, .fd = fd, .efd = efd,
                .ring = evloop_ring_ref(ring), .events = ev->events, .data = ev->data,
        };
        if (rec - recs >= recs_end)
                recs_end = (int) (rec - recs) + 1;
        __atomic_add_fetch(&nr_recs, 1, __ATOMIC_RELAXED);
        evloop_fd_set_ours(efd, true);
        rec_sync(rec);
        e = rec_event(rec);
        if (evloop_real.epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &e) < 0) {
                int saved = errno;
                rec_free(rec);
                errno = saved;
                return -1;
        }
        return 0;
}

_public_ int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
        struct evloop_ring *ring = NULL;
        struct ep_rec *rec;
        struct epoll_event e;
        int r;

        if (!evloop_real.epoll_ctl)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.epoll_ctl(epfd, op, fd, ev);

        if (op == EPOLL_CTL_ADD) {
                if (!ev || evloop_fd_is_ours(fd))
                        return evloop_real.epoll_ctl(epfd, op, fd, ev);
                /* Rare enough to look afresh: no stale answer here. */
                evloop_fd_forget(fd);
                ring = evloop_ring_get(fd);
                if (!ring)
                        return evloop_real.epoll_ctl(epfd, op, fd, ev);
                pthread_mutex_lock(&ep_lock);
                r = ep_add(epfd, fd, ring, ev);
                pthread_mutex_unlock(&ep_lock);
                int saved = errno;
                evloop_ring_put(ring);
                errno = saved;
                return r;
        }

        if (!__atomic_load_n(&nr_recs, __ATOMIC_RELAXED))
                return evloop_real.epoll_ctl(epfd, op, fd, ev);
        pthread_mutex_lock(&ep_lock);
        rec = rec_find(epfd, fd);
        if (!rec) {
                pthread_mutex_unlock(&ep_lock);
                return evloop_real.epoll_ctl(epfd, op, fd, ev);
        }
        if (op == EPOLL_CTL_DEL) {
                r = evloop_real.epoll_ctl(epfd, EPOLL_CTL_DEL, rec->efd, NULL);
                if (r == 0)
                        rec_free(rec);
        } else if (op == EPOLL_CTL_MOD && ev) {
                struct ep_rec old = *rec;
                rec->events = ev->events;
                rec->data = ev->data;
                rec->disabled = false;
                rec_sync(rec);
                e = rec_event(rec);
                r = evloop_real.epoll_ctl(epfd, EPOLL_CTL_MOD, rec->efd, &e);
                if (r < 0) {
                        int saved = errno;
                        *rec = old;
                        errno = saved;
                }
        } else
                r = evloop_real.epoll_ctl(epfd, op, rec->efd, ev);
        pthread_mutex_unlock(&ep_lock);
        return r;
}

/* Before sleeping: drain what we left up on rings that show nothing, and
 * let level-triggered EPOLLOUT interest report, as the kernel's always-ready
 * SQ room would. */
static void ep_prepare(int epfd) {
        pthread_mutex_lock(&ep_lock);
        for (int i = 0; i < recs_end; i++) {
                struct ep_rec *rec = &recs[i];
                if (!rec->used || rec->epfd != epfd || rec->disabled)
                        continue;
                short m = evloop_ring_prepare(rec->ring);
                if ((rec->events & EPOLLOUT) && !(rec->events & EPOLLET) && (m & POLLOUT))
                        evloop_ring_signal(rec->ring);
        }
        pthread_mutex_unlock(&ep_lock);
}

/* Turn our events into the program's; returns how many are left. */
static int ep_translate(int epfd, struct epoll_event *events, int n) {
        int k = 0;

        pthread_mutex_lock(&ep_lock);
        for (int i = 0; i < n; i++) {
                uint64_t u = events[i].data.u64;
                uint64_t idx = u & ~EP_TAG_MASK;
                struct ep_rec *rec;

                if ((u & EP_TAG_MASK) != EP_TAG || idx >= EP_MAX || !recs[idx].used || recs[idx].epfd != epfd) {
                        events[k++] = events[i];
                        continue;
                }
                rec = &recs[idx];
                if (evloop_ring_dead(rec->ring)) {
                        /* The file is gone: the kernel drops the registration. */
                        (void) evloop_real.epoll_ctl(epfd, EPOLL_CTL_DEL, rec->efd, NULL);
                        rec_free(rec);
                        continue;
                }
                short m = evloop_ring_mask(rec->ring);
                if (m & POLLIN)
                        __atomic_store_n(&rec->ring->maybe_signaled, true, __ATOMIC_RELAXED);
                else if ((m = evloop_ring_drain(rec->ring)) & POLLIN)
                        evloop_ring_signal(rec->ring);
                uint32_t rep = (uint32_t) m & (rec->events | EPOLLERR | EPOLLHUP);
                if (rep) {
                        events[k].events = rep;
                        events[k].data = rec->data;
                        k++;
                        if (rec->events & EPOLLONESHOT)
                                rec->disabled = true;
                } else if (rec->events & EPOLLONESHOT) {
                        /* A stale signal used the one shot: arm it again. */
                        struct epoll_event e = rec_event(rec);
                        (void) evloop_real.epoll_ctl(epfd, EPOLL_CTL_MOD, rec->efd, &e);
                }
        }
        pthread_mutex_unlock(&ep_lock);
        return k;
}

static int real_wait(int epfd, struct epoll_event *events, int maxevents, const struct timespec *tmo,
                     const sigset_t *sigmask) {
        if (evloop_real.epoll_pwait2)
                return evloop_real.epoll_pwait2(epfd, events, maxevents, tmo, sigmask);
        /* Rounded up, so that we never wake before the deadline. */
        int ms = tmo ? (int) (tmo->tv_sec * 1000 + (tmo->tv_nsec + 999999) / 1000000) : -1;
        return evloop_real.epoll_pwait(epfd, events, maxevents, ms, sigmask);
}

static int ep_wait(int epfd, struct epoll_event *events, int maxevents, const struct timespec *tmo,
                   const sigset_t *sigmask) {
        struct timespec deadline = {}, left;

        if (tmo)
                deadline = evloop_deadline(tmo);
        for (;;) {
                const struct timespec *t = NULL;
                int n, k;

                ep_prepare(epfd);
                if (tmo) {
                        evloop_time_left(&deadline, &left);
                        t = &left;
                }
                n = real_wait(epfd, events, maxevents, t, sigmask);
                if (n <= 0)
                        return n;
                k = ep_translate(epfd, events, n);
                if (k > 0)
                        return k;
                if (tmo && !evloop_time_left(&deadline, &left))
                        return 0;
        }
}

static bool ep_ours(int epfd) {
        bool r;

        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE) || !__atomic_load_n(&nr_recs, __ATOMIC_RELAXED))
                return false;
        pthread_mutex_lock(&ep_lock);
        r = epfd_has_recs(epfd);
        pthread_mutex_unlock(&ep_lock);
        return r;
}

static const struct timespec *ms_to_ts(int ms, struct timespec *ts) {
        if (ms < 0)
                return NULL;
        ts->tv_sec = ms / 1000;
        ts->tv_nsec = (long) (ms % 1000) * 1000000L;
        return ts;
}

_public_ int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
        struct timespec ts;

        if (!evloop_real.epoll_wait)
                evloop_resolve();
        if (!ep_ours(epfd))
                return evloop_real.epoll_wait(epfd, events, maxevents, timeout);
        return ep_wait(epfd, events, maxevents, ms_to_ts(timeout, &ts), NULL);
}

_public_ int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask) {
        struct timespec ts;

        if (!evloop_real.epoll_pwait)
                evloop_resolve();
        if (!ep_ours(epfd))
                return evloop_real.epoll_pwait(epfd, events, maxevents, timeout, sigmask);
        return ep_wait(epfd, events, maxevents, ms_to_ts(timeout, &ts), sigmask);
}

_public_ int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *tmo,
                        const sigset_t *sigmask) {
        if (!evloop_real.epoll_pwait2)
                evloop_resolve();
        if (!ep_ours(epfd)) {
                if (!evloop_real.epoll_pwait2) {
                        errno = ENOSYS;
                        return -1;
                }
                return evloop_real.epoll_pwait2(epfd, events, maxevents, tmo, sigmask);
        }
        return ep_wait(epfd, events, maxevents, tmo, sigmask);
}
