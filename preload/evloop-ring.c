/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which of the host program's fds are uringd rings, and what each ring
 * would report to poll. See evloop.h.
 *
 * Finding rings: in notify mode the shim never sees io_uring_setup (liburing
 * issues raw syscalls), so rings are found among the fds we are asked to
 * poll. A ring fd is a memfd: fstat tells memfds apart from everything else
 * (st_dev of the kernel's internal shmem mount), and for a memfd not seen
 * before a private io_uring_register call asks uringd (a round trip, once
 * per ring). The answer is cached per fd number:
 *  - "not a ring" is trusted without a syscall: a stale entry (the number
 *    was closed behind our back, by a raw syscall or inside libc, and a ring
 *    now has it) is caught when poll reports that fd ready the way a memfd
 *    always is, and the fd is looked at again. Its only cost is one early
 *    return from the real poll.
 *  - "a ring" is checked with fstat on every use: handing a socket's events
 *    to a ring's eventfd would lose them.
 *
 * The ring's head and tail are read through a read-only mapping of our own
 * read-only description (/proc/self/fd): uringd's release watch
 * (IN_CLOSE_WRITE) ignores read-only descriptions, so we never delay or fake
 * the ring's release.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>

#include "evloop.h"
#include "shim.h"
#include "uringd-proto.h"

#define FD_CACHE_MAX 65536      /* fds above are looked at every time */
#define RINGS_MAX 1024
#define NEG_INO_MAX 16
/* A ready fd cached as a non-ring is looked at again at most this often:
 * a ready socket would otherwise cost an fstat per poll. */
#define RECHECK_MS 50

enum {
        FD_UNKNOWN = 0,
        FD_NOT_RING = 1,
        FD_RING = 2,            /* FD_RING + index in rings[] */
};

struct evloop_real evloop_real;
bool evloop_enabled;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint16_t *fd_cache;              /* atomic entries, FD_CACHE_MAX of them */
static uint32_t *fd_checked;            /* when each entry was last rechecked, ms */
static uint64_t ours[FD_CACHE_MAX / 64]; /* atomic bits: the shim's fds */
static struct evloop_ring *rings[RINGS_MAX];
static dev_t memfd_dev;
static ino_t neg_ino[NEG_INO_MAX];      /* memfds that are not rings */
static unsigned neg_next;
static long page_size;

#define RESOLVE(name) \
        if (!evloop_real.name) evloop_real.name = dlsym(RTLD_NEXT, #name)

void evloop_resolve(void) {
        RESOLVE(poll);
        RESOLVE(ppoll);
        RESOLVE(select);
        RESOLVE(pselect);
        RESOLVE(epoll_ctl);
        RESOLVE(epoll_wait);
        RESOLVE(epoll_pwait);
        RESOLVE(epoll_pwait2);
        RESOLVE(close);
        RESOLVE(dup2);
        RESOLVE(dup3);
}

/* A fork while another thread holds the lock must not leave it held. */
static void atfork_prepare(void) {
        pthread_mutex_lock(&lock);
}

static void atfork_release(void) {
        pthread_mutex_unlock(&lock);
}

void evloop_init(void) {
        struct stat st;
        int fd;

        evloop_resolve();
        if (!evloop_real.ppoll || !evloop_real.epoll_ctl || !evloop_real.epoll_pwait) {
                shim_log("event loops: libc's poll functions not found; ring fds poll as memfds");
                return;
        }
        page_size = sysconf(_SC_PAGESIZE);
        fd = memfd_create("uringd-evloop-probe", MFD_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                shim_log("event loops: memfd_create: %m; ring fds poll as memfds");
                if (fd >= 0)
                        evloop_real.close(fd);
                return;
        }
        memfd_dev = st.st_dev;
        evloop_real.close(fd);
        fd_cache = mmap(NULL, FD_CACHE_MAX * (sizeof(*fd_cache) + sizeof(*fd_checked)),
                        PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (fd_cache == MAP_FAILED) {
                fd_cache = NULL;
                return;
        }
        fd_checked = (uint32_t *) (fd_cache + FD_CACHE_MAX);
        if (pthread_atfork(atfork_prepare, atfork_release, atfork_release) != 0)
                return;
        __atomic_store_n(&evloop_enabled, true, __ATOMIC_RELEASE);
}

static uint16_t cache_get(int fd) {
        return fd >= 0 && fd < FD_CACHE_MAX ? __atomic_load_n(&fd_cache[fd], __ATOMIC_RELAXED) : FD_UNKNOWN;
}

static void cache_set(int fd, uint16_t v) {
        if (fd >= 0 && fd < FD_CACHE_MAX)
                __atomic_store_n(&fd_cache[fd], v, __ATOMIC_RELAXED);
}

bool evloop_fd_maybe_ring(int fd) {
        return fd >= 0 && cache_get(fd) != FD_NOT_RING;
}

void evloop_fd_forget(int fd) {
        if (fd_cache)
                cache_set(fd, FD_UNKNOWN);
}

bool evloop_fd_recheck(int fd) {
        struct timespec ts;
        uint32_t now;

        if (fd < 0 || fd >= FD_CACHE_MAX) {
                evloop_fd_forget(fd);
                return true;
        }
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        now = (uint32_t) (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (now - __atomic_load_n(&fd_checked[fd], __ATOMIC_RELAXED) < RECHECK_MS)
                return false;
        __atomic_store_n(&fd_checked[fd], now, __ATOMIC_RELAXED);
        evloop_fd_forget(fd);
        return true;
}

bool evloop_fd_is_ours(int fd) {
        return fd >= 0 && fd < FD_CACHE_MAX &&
               (__atomic_load_n(&ours[fd / 64], __ATOMIC_RELAXED) & (1ULL << (fd % 64)));
}

void evloop_fd_set_ours(int fd, bool set) {
        if (fd < 0 || fd >= FD_CACHE_MAX)
                return;
        if (set)
                __atomic_fetch_or(&ours[fd / 64], 1ULL << (fd % 64), __ATOMIC_RELAXED);
        else
                __atomic_fetch_and(&ours[fd / 64], ~(1ULL << (fd % 64)), __ATOMIC_RELAXED);
}

struct evloop_ring *evloop_ring_ref(struct evloop_ring *r) {
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
        return r;
}

static void ring_free(struct evloop_ring *r) {
        if (r->sq_map)
                munmap(r->sq_map, page_size);
        if (r->cq_map)
                munmap(r->cq_map, page_size);
        if (r->efd >= 0) {
                evloop_fd_set_ours(r->efd, false);
                evloop_real.close(r->efd);
        }
        free(r);
}

void evloop_ring_put(struct evloop_ring *r) {
        if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
                ring_free(r);
}

bool evloop_ring_dead(struct evloop_ring *r) {
        return __atomic_load_n(r->state, __ATOMIC_ACQUIRE) & URINGD_EVLOOP_STATE_DEAD;
}

/* Under lock: drop the table's reference of rings uringd has released. */
static void sweep_dead(void) {
        for (int i = 0; i < RINGS_MAX; i++)
                if (rings[i] && evloop_ring_dead(rings[i])) {
                        struct evloop_ring *r = rings[i];
                        rings[i] = NULL;
                        evloop_ring_put(r);
                }
}

static bool neg_ino_has(ino_t ino) {
        for (unsigned i = 0; i < NEG_INO_MAX; i++)
                if (neg_ino[i] == ino)
                        return true;
        return false;
}

static const uint32_t *word(void *map, uint64_t off, uint64_t base) {
        return (const uint32_t *) ((uint8_t *) map + (off - base));
}

/* Under lock: ask uringd about memfd @fd, map its headers. */
static struct evloop_ring *ring_new(int fd, const struct stat *st) {
        struct uringd_evloop_info info = {};
        struct evloop_ring *r;
        char path[64];
        long efd;
        int rofd, slot = -1;

        efd = syscall(__NR_io_uring_register, fd, URINGD_EVLOOP_OPCODE, &info, sizeof(info));
        if (efd < 0) {
                neg_ino[neg_next++ % NEG_INO_MAX] = st->st_ino;
                return NULL;
        }
        /* The words must sit in the first page of each region. */
        if (info.size != sizeof(info) || info.sq_entries == 0 ||
            info.sq_head_off >= (uint64_t) page_size || info.sq_tail_off >= (uint64_t) page_size ||
            info.sq_flags_off >= (uint64_t) page_size || info.state_off >= (uint64_t) page_size ||
            info.cq_head_off < IORING_OFF_CQ_RING || info.cq_head_off - IORING_OFF_CQ_RING >= (uint64_t) page_size ||
            info.cq_tail_off < IORING_OFF_CQ_RING || info.cq_tail_off - IORING_OFF_CQ_RING >= (uint64_t) page_size) {
                evloop_real.close((int) efd);
                return NULL;
        }

        sweep_dead();
        for (int i = 0; i < RINGS_MAX; i++)
                if (!rings[i]) {
                        slot = i;
                        break;
                }
        r = slot >= 0 ? calloc(1, sizeof(*r)) : NULL;
        if (!r) {
                evloop_real.close((int) efd);
                return NULL;
        }
        r->refs = 1;
        r->index = slot;
        r->dev = st->st_dev;
        r->ino = st->st_ino;
        /* Away from the numbers programs dup2() over. */
        r->efd = fcntl((int) efd, F_DUPFD_CLOEXEC, SHIM_FD_MIN);
        evloop_real.close((int) efd);
        if (r->efd < 0)
                goto fail;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        rofd = open(path, O_RDONLY | O_CLOEXEC);
        if (rofd < 0)
                goto fail;
        r->sq_map = mmap(NULL, page_size, PROT_READ, MAP_SHARED, rofd, IORING_OFF_SQ_RING);
        if (r->sq_map == MAP_FAILED)
                r->sq_map = NULL;
        r->cq_map = mmap(NULL, page_size, PROT_READ, MAP_SHARED, rofd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED)
                r->cq_map = NULL;
        evloop_real.close(rofd);
        if (!r->sq_map || !r->cq_map)
                goto fail;
        r->sq_entries = info.sq_entries;
        r->sq_head = word(r->sq_map, info.sq_head_off, IORING_OFF_SQ_RING);
        r->sq_tail = word(r->sq_map, info.sq_tail_off, IORING_OFF_SQ_RING);
        r->sq_flags = word(r->sq_map, info.sq_flags_off, IORING_OFF_SQ_RING);
        r->state = word(r->sq_map, info.state_off, IORING_OFF_SQ_RING);
        r->cq_head = word(r->cq_map, info.cq_head_off, IORING_OFF_CQ_RING);
        r->cq_tail = word(r->cq_map, info.cq_tail_off, IORING_OFF_CQ_RING);
        evloop_fd_set_ours(r->efd, true);
        rings[slot] = r;
        return r;
fail:
        shim_log("event loops: ring fd %d: cannot map its header (%m); it polls as a memfd", fd);
        neg_ino[neg_next++ % NEG_INO_MAX] = st->st_ino;
        ring_free(r);
        return NULL;
}

struct evloop_ring *evloop_ring_get(int fd) {
        struct evloop_ring *r = NULL;
        uint16_t v = cache_get(fd);
        struct stat st;

        if (fd < 0 || v == FD_NOT_RING)
                return NULL;
        if (fstat(fd, &st) < 0)
                return NULL;    /* poll answers POLLNVAL itself */
        if (!S_ISREG(st.st_mode) || st.st_dev != memfd_dev) {
                cache_set(fd, FD_NOT_RING);
                return NULL;
        }

        pthread_mutex_lock(&lock);
        if (v >= FD_RING && v - FD_RING < RINGS_MAX)
                r = rings[v - FD_RING];
        if (!r || r->ino != st.st_ino || r->dev != st.st_dev) {
                r = NULL;
                for (int i = 0; i < RINGS_MAX && !r; i++)
                        if (rings[i] && rings[i]->ino == st.st_ino && rings[i]->dev == st.st_dev)
                                r = rings[i];
        }
        if (r && evloop_ring_dead(r)) {
                /* An fd open on it means it is alive: this is another memfd
                 * that got the dead one's inode number. */
                rings[r->index] = NULL;
                evloop_ring_put(r);
                r = NULL;
        }
        if (!r && !neg_ino_has(st.st_ino))
                r = ring_new(fd, &st);
        if (r) {
                evloop_ring_ref(r);
                cache_set(fd, (uint16_t) (FD_RING + r->index));
        } else
                cache_set(fd, FD_NOT_RING);
        pthread_mutex_unlock(&lock);
        return r;
}

short evloop_ring_mask(struct evloop_ring *r) {
        short mask = 0;

        /* io_sqring_full(): the app's tail against our published head. */
        uint32_t sq_tail = __atomic_load_n(r->sq_tail, __ATOMIC_RELAXED);
        uint32_t sq_head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
        if (sq_tail - sq_head != r->sq_entries)
                mask |= POLLOUT | POLLWRNORM;

        /* __io_cqring_events_user() || io_has_work() */
        uint32_t cq_tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        uint32_t cq_head = __atomic_load_n(r->cq_head, __ATOMIC_RELAXED);
        if (cq_tail != cq_head ||
            (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) ||
            (__atomic_load_n(r->state, __ATOMIC_ACQUIRE) & URINGD_EVLOOP_STATE_WORK))
                mask |= POLLIN | POLLRDNORM;
        return mask;
}

short evloop_ring_drain(struct evloop_ring *r) {
        uint64_t v;

        __atomic_store_n(&r->maybe_signaled, false, __ATOMIC_RELAXED);
        /* Non-blocking: uringd created it with EFD_NONBLOCK. */
        (void) !read(r->efd, &v, sizeof(v));
        return evloop_ring_mask(r);
}

void evloop_ring_signal(struct evloop_ring *r) {
        uint64_t one = 1;
        (void) !write(r->efd, &one, sizeof(one));
}

short evloop_ring_prepare(struct evloop_ring *r) {
        short mask = evloop_ring_mask(r);

        if (!(mask & POLLIN) && __atomic_load_n(&r->maybe_signaled, __ATOMIC_RELAXED))
                mask = evloop_ring_drain(r);
        return mask;
}

struct timespec evloop_deadline(const struct timespec *tmo) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        now.tv_sec += tmo->tv_sec;
        now.tv_nsec += tmo->tv_nsec;
        if (now.tv_nsec >= 1000000000L) {
                now.tv_sec++;
                now.tv_nsec -= 1000000000L;
        }
        return now;
}

bool evloop_time_left(const struct timespec *deadline, struct timespec *left) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left->tv_sec = deadline->tv_sec - now.tv_sec;
        left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
        if (left->tv_nsec < 0) {
                left->tv_sec--;
                left->tv_nsec += 1000000000L;
        }
        if (left->tv_sec < 0) {
                left->tv_sec = left->tv_nsec = 0;
                return false;
        }
        return true;
}
