/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * poll, ppoll, select and pselect with ring fds among the fds, and the fd
 * hooks (close, dup2, dup3, close_range, closefrom) that keep the cache of
 * evloop-ring.c true and the shim's own fds out of the program's reach.
 *
 * A wait on a ring: when the ring is ready now, the other fds are polled
 * with a zero timeout and the ring's mask reported, as the kernel's
 * io_uring_poll() would. Otherwise the ring's eventfd stands in for the ring
 * fd; when it fires we look at the ring again: a signal for CQEs the program
 * has already reaped is drained and the wait goes on with the time left.
 * The counter is only emptied when the ring shows nothing after the read, so
 * another thread sleeping on the same eventfd never loses a wake-up that
 * still means something.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "evloop.h"
#include "shim.h"

#define STACK_FDS 16

/* What poll answers for a memfd: every ring fd we failed to know looks so. */
#define MEMFD_POLLMASK (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)

static bool looks_like_memfd(const struct pollfd *p) {
        short want = MEMFD_POLLMASK & (p->events | POLLERR | POLLHUP);
        return want && p->revents == want;
}

/* After a real poll of fds all cached as non-rings: did one turn out to be a
 * ring (its number reused behind our back)? */
static bool heal(const struct pollfd *fds, nfds_t nfds) {
        bool found = false;

        for (nfds_t i = 0; i < nfds; i++)
                if (fds[i].fd >= 0 && looks_like_memfd(&fds[i]) && evloop_fd_recheck(fds[i].fd)) {
                        struct evloop_ring *r = evloop_ring_get(fds[i].fd);
                        if (r) {
                                found = true;
                                evloop_ring_put(r);
                        }
                }
        return found;
}

static bool all_known_plain(const struct pollfd *fds, nfds_t nfds) {
        for (nfds_t i = 0; i < nfds; i++)
                if (evloop_fd_maybe_ring(fds[i].fd))
                        return false;
        return true;
}

static int wait_rings(struct pollfd *fds, nfds_t nfds, struct evloop_ring **rings, struct pollfd *copy,
                      const struct timespec *tmo, const sigset_t *sigmask) {
        static const struct timespec zero = {};
        struct timespec deadline = {}, left;

        if (tmo)
                deadline = evloop_deadline(tmo);
        for (;;) {
                int ready = 0, n, count = 0;

                for (nfds_t i = 0; i < nfds; i++) {
                        copy[i] = fds[i];
                        copy[i].revents = 0;
                        if (!rings[i])
                                continue;
                        short m = evloop_ring_prepare(rings[i]) & (fds[i].events | POLLERR | POLLHUP);
                        fds[i].revents = m;
                        if (m)
                                ready++;
                        copy[i].fd = rings[i]->efd;
                        copy[i].events = POLLIN;
                }
                if (ready) {
                        /* The others get their look, without waiting. */
                        for (nfds_t i = 0; i < nfds; i++)
                                if (rings[i])
                                        copy[i].fd = -1;
                        n = evloop_real.ppoll(copy, nfds, &zero, NULL);
                } else {
                        const struct timespec *t = NULL;
                        if (tmo) {
                                evloop_time_left(&deadline, &left);
                                t = &left;
                        }
                        n = evloop_real.ppoll(copy, nfds, t, sigmask);
                }
                if (n < 0)
                        return -1;

                for (nfds_t i = 0; i < nfds; i++) {
                        if (!rings[i]) {
                                fds[i].revents = copy[i].revents;
                        } else if (!ready && (copy[i].revents & POLLIN)) {
                                struct evloop_ring *r = rings[i];
                                short m = evloop_ring_mask(r);
                                if (m & POLLIN)
                                        __atomic_store_n(&r->maybe_signaled, true, __ATOMIC_RELAXED);
                                else if ((m = evloop_ring_drain(r)) & POLLIN)
                                        evloop_ring_signal(r); /* it was not stale after all */
                                fds[i].revents = m & (fds[i].events | POLLERR | POLLHUP);
                        } else if (!ready)
                                fds[i].revents = 0;
                        if (fds[i].revents)
                                count++;
                }
                if (count || ready)
                        return count;
                if (n == 0)
                        return 0;       /* timed out */
                /* Only stale signals: wait again, for the time left. */
                if (tmo && !evloop_time_left(&deadline, &left))
                        return 0;
        }
}

int evloop_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask) {
        struct evloop_ring *stack_rings[STACK_FDS], **rings = stack_rings;
        struct pollfd stack_copy[STACK_FDS], *copy = stack_copy;
        struct timespec deadline = {}, left;
        unsigned nr_rings = 0;
        int r;

        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE) || nfds == 0)
                return evloop_real.ppoll(fds, nfds, tmo, sigmask);

        if (all_known_plain(fds, nfds)) {
                if (tmo)
                        deadline = evloop_deadline(tmo);
                r = evloop_real.ppoll(fds, nfds, tmo, sigmask);
                if (r <= 0 || !heal(fds, nfds))
                        return r;
                /* A ring was hiding behind a stale entry: do it properly. */
                if (tmo) {
                        evloop_time_left(&deadline, &left);
                        tmo = &left;
                }
        }

        if (nfds > STACK_FDS) {
                rings = calloc(nfds, sizeof(*rings));
                copy = calloc(nfds, sizeof(*copy));
                if (!rings || !copy) {
                        free(rings == stack_rings ? NULL : rings);
                        free(copy == stack_copy ? NULL : copy);
                        errno = ENOMEM;
                        return -1;
                }
        }
        for (nfds_t i = 0; i < nfds; i++) {
                rings[i] = evloop_fd_maybe_ring(fds[i].fd) ? evloop_ring_get(fds[i].fd) : NULL;
                if (rings[i])
                        nr_rings++;
        }

        if (nr_rings == 0)
                r = evloop_real.ppoll(fds, nfds, tmo, sigmask);
        else
                r = wait_rings(fds, nfds, rings, copy, tmo, sigmask);

        int saved = errno;
        for (nfds_t i = 0; i < nfds; i++)
                evloop_ring_put(rings[i]);
        if (rings != stack_rings) {
                free(rings);
                free(copy);
        }
        errno = saved;
        return r;
}

_public_ int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
        struct timespec t;

        if (!evloop_real.ppoll)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.poll(fds, nfds, timeout);
        if (timeout < 0)
                return evloop_ppoll(fds, nfds, NULL, NULL);
        t.tv_sec = timeout / 1000;
        t.tv_nsec = (long) (timeout % 1000) * 1000000L;
        return evloop_ppoll(fds, nfds, &t, NULL);
}

_public_ int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask) {
        if (!evloop_real.ppoll)
                evloop_resolve();
        if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L)) {
                errno = EINVAL;
                return -1;
        }
        return evloop_ppoll(fds, nfds, tmo, sigmask);
}

/* _FORTIFY_SOURCE routes here when it knows the array's size. */
extern void __chk_fail(void) __attribute__((noreturn));
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask,
                size_t fdslen);

_public_ int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen) {
        if (fdslen / sizeof(*fds) < nfds)
                __chk_fail();
        return poll(fds, nfds, timeout);
}

_public_ int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask,
                       size_t fdslen) {
        if (fdslen / sizeof(*fds) < nfds)
                __chk_fail();
        return ppoll(fds, nfds, tmo, sigmask);
}

/* ---- select ---- */

#define POLLIN_SET (POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR)
#define POLLOUT_SET (POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR)
#define POLLEX_SET POLLPRI

/* Is any fd of the sets a ring? Classifies what it has not seen yet. */
static bool select_has_ring(int nfds, fd_set *rd, fd_set *wr, fd_set *ex) {
        for (int fd = 0; fd < nfds; fd++) {
                if (!((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))))
                        continue;
                if (!evloop_fd_maybe_ring(fd))
                        continue;
                struct evloop_ring *r = evloop_ring_get(fd);
                if (r) {
                        evloop_ring_put(r);
                        return true;
                }
        }
        return false;
}

/* select through our poll; returns the count, or -1 with errno. */
static int select_via_poll(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
                           const sigset_t *sigmask) {
        struct pollfd *fds = calloc((size_t) nfds, sizeof(*fds));
        nfds_t n = 0;
        int r, count = 0;

        if (!fds) {
                errno = ENOMEM;
                return -1;
        }
        for (int fd = 0; fd < nfds; fd++) {
                short ev = 0;
                if (rd && FD_ISSET(fd, rd))
                        ev |= POLLIN | POLLRDNORM | POLLRDBAND;
                if (wr && FD_ISSET(fd, wr))
                        ev |= POLLOUT | POLLWRNORM | POLLWRBAND;
                if (ex && FD_ISSET(fd, ex))
                        ev |= POLLPRI;
                if (ev)
                        fds[n++] = (struct pollfd) { .fd = fd, .events = ev };
        }
        r = evloop_ppoll(fds, n, tmo, sigmask);
        if (r < 0) {
                int saved = errno;
                free(fds);
                errno = saved;
                return -1;
        }
        for (nfds_t i = 0; i < n; i++)
                if (fds[i].revents & POLLNVAL) {
                        free(fds);
                        errno = EBADF;
                        return -1;
                }
        for (nfds_t i = 0; i < n; i++) {
                int fd = fds[i].fd;
                short re = fds[i].revents;
                if (rd && FD_ISSET(fd, rd) && !(re & POLLIN_SET))
                        FD_CLR(fd, rd);
                else if (rd && FD_ISSET(fd, rd))
                        count++;
                if (wr && FD_ISSET(fd, wr) && !(re & POLLOUT_SET))
                        FD_CLR(fd, wr);
                else if (wr && FD_ISSET(fd, wr))
                        count++;
                if (ex && FD_ISSET(fd, ex) && !(re & POLLEX_SET))
                        FD_CLR(fd, ex);
                else if (ex && FD_ISSET(fd, ex))
                        count++;
        }
        free(fds);
        return count;
}

/* After a real select: a memfd answers readable and writable, so an fd
 * cached as a non-ring that answered all it was asked is looked at again. */
static bool select_heal(int nfds, const fd_set *srd, const fd_set *swr, const fd_set *rd, const fd_set *wr) {
        bool found = false;

        for (int fd = 0; fd < nfds; fd++) {
                bool ask_rd = srd && FD_ISSET(fd, srd), ask_wr = swr && FD_ISSET(fd, swr);
                if (!(ask_rd || ask_wr) || (ask_rd && !FD_ISSET(fd, rd)) || (ask_wr && !FD_ISSET(fd, wr)))
                        continue;
                if (!evloop_fd_recheck(fd))
                        continue;
                struct evloop_ring *r = evloop_ring_get(fd);
                if (r) {
                        found = true;
                        evloop_ring_put(r);
                }
        }
        return found;
}

static int select_common(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
                         const sigset_t *sigmask, struct timeval *update) {
        fd_set srd, swr, sex;
        struct timespec deadline = {}, left;
        int r;

        if (nfds < 0 || nfds > FD_SETSIZE) {
                errno = EINVAL;
                return -1;
        }
        if (tmo)
                deadline = evloop_deadline(tmo);
        if (!select_has_ring(nfds, rd, wr, ex)) {
                FD_ZERO(&srd);
                FD_ZERO(&swr);
                FD_ZERO(&sex);
                if (rd)
                        srd = *rd;
                if (wr)
                        swr = *wr;
                if (ex)
                        sex = *ex;
                if (update)
                        r = evloop_real.select(nfds, rd, wr, ex, update);
                else
                        r = evloop_real.pselect(nfds, rd, wr, ex, tmo, sigmask);
                if (r <= 0 || !select_heal(nfds, rd ? &srd : NULL, wr ? &swr : NULL, rd, wr))
                        return r;
                /* A ring hid behind a stale entry: again, properly. */
                if (rd)
                        *rd = srd;
                if (wr)
                        *wr = swr;
                if (ex)
                        *ex = sex;
        }
        if (tmo) {
                evloop_time_left(&deadline, &left);
                tmo = &left;
        }
        r = select_via_poll(nfds, rd, wr, ex, tmo, sigmask);
        if (update && tmo) {
                /* Linux's select() leaves the time not slept in the timeval. */
                evloop_time_left(&deadline, &left);
                update->tv_sec = left.tv_sec;
                update->tv_usec = left.tv_nsec / 1000;
        }
        return r;
}

_public_ int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
        struct timespec t;

        if (!evloop_real.select)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.select(nfds, rd, wr, ex, tv);
        if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
                errno = EINVAL;
                return -1;
        }
        if (!tv)
                return select_common(nfds, rd, wr, ex, NULL, NULL, NULL);
        /* The kernel normalises an oversized tv_usec. */
        t.tv_sec = tv->tv_sec + tv->tv_usec / 1000000;
        t.tv_nsec = (tv->tv_usec % 1000000) * 1000L;
        return select_common(nfds, rd, wr, ex, &t, NULL, tv);
}

_public_ int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
                   const sigset_t *sigmask) {
        if (!evloop_real.pselect)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.pselect(nfds, rd, wr, ex, tmo, sigmask);
        if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L)) {
                errno = EINVAL;
                return -1;
        }
        return select_common(nfds, rd, wr, ex, tmo, sigmask, NULL);
}

/* ---- fd hooks ---- */

_public_ int close(int fd) {
        int r;

        if (!evloop_real.close)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.close(fd);
        /* Programs that close every fd must not take our eventfds. */
        if (evloop_fd_is_ours(fd))
                return 0;
        r = evloop_real.close(fd);
        evloop_fd_forget(fd);
        evloop_epoll_forget(fd);
        return r;
}

_public_ int dup2(int oldfd, int newfd) {
        int r;

        if (!evloop_real.dup2)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.dup2(oldfd, newfd);
        if (evloop_fd_is_ours(newfd)) {
                errno = EBUSY;  /* what dup2 says of a number the kernel holds */
                return -1;
        }
        r = evloop_real.dup2(oldfd, newfd);
        if (r >= 0 && oldfd != newfd) {
                evloop_fd_forget(newfd);
                evloop_epoll_forget(newfd);
        }
        return r;
}

_public_ int dup3(int oldfd, int newfd, int flags) {
        int r;

        if (!evloop_real.dup3)
                evloop_resolve();
        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE))
                return evloop_real.dup3(oldfd, newfd, flags);
        if (evloop_fd_is_ours(newfd)) {
                errno = EBUSY;
                return -1;
        }
        r = evloop_real.dup3(oldfd, newfd, flags);
        if (r >= 0) {
                evloop_fd_forget(newfd);
                evloop_epoll_forget(newfd);
        }
        return r;
}

/* close_range() around our fds. */
_public_ int close_range(unsigned first, unsigned last, int flags) {
        unsigned lo = first;

        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE) || first > last)
                return (int) syscall(SYS_close_range, first, last, flags);
        for (unsigned fd = first; fd <= last && fd < 65536; fd++)
                if (evloop_fd_is_ours((int) fd)) {
                        if (fd > lo && syscall(SYS_close_range, lo, fd - 1, flags) < 0)
                                return -1;
                        lo = fd + 1;
                }
        if (lo <= last && syscall(SYS_close_range, lo, last, flags) < 0)
                return -1;
        if (!(flags & CLOSE_RANGE_CLOEXEC))
                for (unsigned fd = first; fd <= last && fd < 65536; fd++) {
                        evloop_fd_forget((int) fd);
                        evloop_epoll_forget((int) fd);
                }
        return 0;
}

_public_ void closefrom(int lowfd) {
        if (lowfd < 0)
                lowfd = 0;
        if (close_range((unsigned) lowfd, ~0U, 0) == 0)
                return;
        /* No close_range (old kernel): one by one, through our close(). */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = lowfd; fd < max; fd++)
                (void) close((int) fd);
}
