/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The ring fd in the host program's event loops: poll, ppoll, select,
 * pselect and epoll on a uringd ring fd report what the kernel's
 * io_uring_poll() would (POLLIN while CQEs wait or the CQ overflowed,
 * POLLOUT while the SQ has room), by waiting on the ring's eventfd, which
 * uringd signals after posting CQEs. See docs/ARCHITECTURE.md, "Event loops".
 *
 * evloop-ring.c: which fds are rings (a per-fd cache), their state.
 * evloop-poll.c: poll/ppoll/select/pselect, close/dup2/dup3.
 * evloop-epoll.c: epoll_ctl/epoll_wait/epoll_pwait/epoll_pwait2.
 */

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/types.h>
#include <time.h>

/* One ring seen by this process. */
struct evloop_ring {
        int refs;                       /* atomic: the table + users */
        int index;                      /* in the table */
        dev_t dev;
        ino_t ino;
        int efd;                        /* our fd of the ring's eventfd */
        void *sq_map, *cq_map;          /* read-only views of the region headers */
        uint32_t sq_entries;
        const uint32_t *sq_head, *sq_tail, *sq_flags, *cq_head, *cq_tail, *state;
        bool maybe_signaled;            /* atomic: we left the counter above 0 */
};

/* The libc functions we wrap. */
struct evloop_real {
        int (*poll)(struct pollfd *, nfds_t, int);
        int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
        int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
        int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
        int (*epoll_ctl)(int, int, int, struct epoll_event *);
        int (*epoll_wait)(int, struct epoll_event *, int, int);
        int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
        int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
        int (*close)(int);
        int (*dup2)(int, int);
        int (*dup3)(int, int, int);
};
extern struct evloop_real evloop_real;

/* Set once uringd serves this process: until then every hook passes through. */
extern bool evloop_enabled;
void evloop_init(void);
void evloop_resolve(void);

/* Could @fd be a ring? False only for fds known not to be (cached). */
bool evloop_fd_maybe_ring(int fd);
/* @fd was closed or replaced: forget what we knew. */
void evloop_fd_forget(int fd);
/* A cached non-ring fd looked like a memfd in a poll answer: forget it, at
 * most every RECHECK_MS per fd. True when forgotten. */
bool evloop_fd_recheck(int fd);
/* Is @fd one of the shim's own? */
bool evloop_fd_is_ours(int fd);
void evloop_fd_set_ours(int fd, bool ours);

/* The ring behind @fd, with a reference, or NULL (not a ring, or not
 * ours to handle). Costs an fstat for a cached ring, nothing for a cached
 * non-ring. */
struct evloop_ring *evloop_ring_get(int fd);
struct evloop_ring *evloop_ring_ref(struct evloop_ring *r);
void evloop_ring_put(struct evloop_ring *r);

/* What io_uring_poll() would report now: POLLIN|POLLRDNORM, POLLOUT|POLLWRNORM. */
short evloop_ring_mask(struct evloop_ring *r);
bool evloop_ring_dead(struct evloop_ring *r);
/* Empty the eventfd's counter, then answer evloop_ring_mask(): a CQE posted
 * after that answer comes with a new signal. */
short evloop_ring_drain(struct evloop_ring *r);
/* Make the eventfd readable (for the other waiters on it). */
void evloop_ring_signal(struct evloop_ring *r);

/* Prepare a wait on the ring: drain a counter we left up if nothing is
 * ready. Returns the ring's mask. */
short evloop_ring_prepare(struct evloop_ring *r);

/* poll core shared by poll/ppoll/select/pselect (evloop-poll.c). */
int evloop_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask);

/* Time helpers: a deadline on CLOCK_MONOTONIC and what is left of it. */
struct timespec evloop_deadline(const struct timespec *tmo);
/* false when the deadline passed; @left gets the time left. */
bool evloop_time_left(const struct timespec *deadline, struct timespec *left);

/* epoll: close() of an epoll fd drops its records (evloop-epoll.c). */
void evloop_epoll_forget(int epfd);
