/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hashmap.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

/* The top of the x86-64 user address space (TASK_SIZE_MAX with 4-level
 * paging, as on these machines). */
#define USER_ADDR_MAX 0x00007ffffffff000ULL

bool io_user_range_ok(uint64_t addr, uint64_t len) {
        if (addr + len < addr)
                return false;
#if defined(__x86_64__)
        return addr + len <= USER_ADDR_MAX;
#else
        return true;
#endif
}

/*
 * The liveness check, once per pass of the event loop rather than per
 * access. process_vm_readv/writev() take a number: used after the thread
 * exited and was reaped, it could name a stranger that got the tid since.
 * Checking the pidfd before each access narrows that window to one syscall;
 * it cannot close it. Here a thread seen alive (its pidfd polled, or opened
 * on the tid) is trusted until the event loop next goes back to epoll: the
 * handling of the call, and the completions issued inline with it, which
 * never block. A tid is reused only once pid allocation has cycled through
 * the whole pid space (pid_max, at least 32768: the kernel allocates
 * cyclically), which takes seconds of forking, not the microseconds of one
 * pass. Every other thread (io-wq workers) and every later pass checks again.
 * fds are taken through the pidfd itself (pidfd_getfd() names the task, not
 * a number, and fails with ESRCH once it is gone), with no check at all.
 *
 * loop_pass is the event loop's: 0 on every other thread, which never
 * matches.
 */
static __thread uint64_t loop_pass;

void io_task_loop_pass(void) {
        /* Starts at 1 on the loop's first pass. */
        loop_pass++;
}

static void task_seen_alive(struct io_task *t) {
        if (loop_pass != 0)
                __atomic_store_n(&t->alive_pass, loop_pass, __ATOMIC_RELAXED);
}

static int pidfd_open_tid(pid_t tid) {
        int fd = (int) syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
        if (fd >= 0 || errno != EINVAL)
                return fd;
        /* Kernels before 6.9 only open thread-group leaders. */
        return (int) syscall(SYS_pidfd_open, tid, 0);
}

static pid_t read_tgid(pid_t tid) {
        char path[64], line[128];
        pid_t tgid = tid;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) tid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return tid;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Tgid: %d", &tgid) == 1)
                        break;
        return tgid;
}

int io_task_new(pid_t tid, struct io_task **ret) {
        struct io_task *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->pidfd = pidfd_open_tid(tid);
        if (t->pidfd < 0) {
                int r = negative_errno();
                free(t);
                return r;
        }
        t->tid = tid;
        t->tgid = read_tgid(tid);
        t->tgid_pidfd = -1;
        /* The process's pidfd is opened now, while the thread (so the
         * process) is known alive: opened later, after a reuse of the pid,
         * it could name a stranger. */
        if (t->tgid != tid)
                t->tgid_pidfd = (int) syscall(SYS_pidfd_open, t->tgid, 0);
        t->refs = 1;
        /* The pidfd was opened on the tid now: the thread lived this pass. */
        task_seen_alive(t);
        *ret = t;
        return 0;
}

bool io_pidfd_alive(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        return pidfd >= 0 && poll(&p, 1, 0) == 0;
}

/* Is the thread known to live (seen so in this pass of the loop), or does
 * its pidfd say so now? */
static bool task_thread_alive(struct io_task *t) {
        if (loop_pass != 0 && __atomic_load_n(&t->alive_pass, __ATOMIC_RELAXED) == loop_pass)
                return true;
        if (!io_pidfd_alive(t->pidfd))
                return false;
        task_seen_alive(t);
        return true;
}

typedef ssize_t (*vm_fn)(pid_t, const struct iovec *, unsigned long, const struct iovec *, unsigned long,
                        unsigned long);

/*
 * process_vm_readv/writev on @t: on the thread while it lives; once it is
 * gone, or exiting (its memory goes before its pidfd says so), on its
 * process, as long as the pidfd taken at creation says that lives (the
 * kernel goes on with an exited thread's requests). A number is never used
 * after its pidfd said it died: it may be someone else's by now. Returns
 * the bytes moved, or -1 with errno.
 */
static ssize_t task_vm(struct io_task *t, vm_fn fn, const struct iovec *liov, unsigned lnr,
                       const struct iovec *riov, unsigned rnr) {
        ssize_t n;

        if (task_thread_alive(t)) {
                n = fn(t->tid, liov, lnr, riov, rnr, 0);
                if (n >= 0 || errno != ESRCH)
                        return n;
        }
        if (!io_pidfd_alive(t->tgid_pidfd)) {
                errno = ESRCH;
                return -1;
        }
        return fn(t->tgid, liov, lnr, riov, rnr, 0);
}

struct io_task *io_task_ref(struct io_task *t) {
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
        return t;
}

void io_task_unref(struct io_task *t) {
        if (!t)
                return;
        if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) {
                safe_close(t->pidfd);
                safe_close(t->tgid_pidfd);
                free(t);
        }
}

void io_task_unrefp(struct io_task **t) {
        io_task_unref(*t);
}

bool io_task_thread_alive(struct io_task *t) {
        return task_thread_alive(t);
}

bool io_task_alive(struct io_task *t) {
        return task_thread_alive(t) || io_pidfd_alive(t->tgid_pidfd);
}

static int vm_errno(void) {
        switch (errno) {
        case ESRCH:
                return -ESRCH;
        case EPERM:
                return -EPERM;
        case ENOMEM:
                return -ENOMEM;
        default:
                return -EFAULT;
        }
}

int io_task_read(struct io_task *t, void *dst, uint64_t addr, size_t len) {
        if (len == 0)
                return 0;
        if (!io_user_range_ok(addr, len))
                return -EFAULT;
        struct iovec l = { .iov_base = dst, .iov_len = len };
        struct iovec r = { .iov_base = (void *) (uintptr_t) addr, .iov_len = len };
        ssize_t n = task_vm(t, process_vm_readv, &l, 1, &r, 1);
        if (n < 0)
                return vm_errno();
        return (size_t) n == len ? 0 : -EFAULT;
}

int io_task_write(struct io_task *t, uint64_t addr, const void *src, size_t len) {
        if (len == 0)
                return 0;
        if (!io_user_range_ok(addr, len))
                return -EFAULT;
        struct iovec l = { .iov_base = (void *) src, .iov_len = len };
        struct iovec r = { .iov_base = (void *) (uintptr_t) addr, .iov_len = len };
        ssize_t n = task_vm(t, process_vm_writev, &l, 1, &r, 1);
        if (n < 0)
                return vm_errno();
        return (size_t) n == len ? 0 : -EFAULT;
}

/*
 * process_vm_* stop at the first remote iovec that faults and report the
 * bytes moved so far: exactly the prefix semantics of copy_to/from_user.
 * Zero-length remote iovecs are skipped by the kernel.
 */
ssize_t io_task_writev(struct io_task *t, const struct iovec *riov, unsigned nr, const void *src, size_t len) {
        if (len == 0)
                return 0;
        struct iovec l = { .iov_base = (void *) src, .iov_len = len };
        ssize_t n = task_vm(t, process_vm_writev, &l, 1, riov, nr);
        if (n < 0)
                return vm_errno();
        return n == 0 ? -EFAULT : n;
}

ssize_t io_task_readv(struct io_task *t, const struct iovec *riov, unsigned nr, void *dst, size_t len) {
        if (len == 0)
                return 0;
        struct iovec l = { .iov_base = dst, .iov_len = len };
        ssize_t n = task_vm(t, process_vm_readv, &l, 1, riov, nr);
        if (n < 0)
                return vm_errno();
        return n == 0 ? -EFAULT : n;
}

ssize_t io_task_vm_writev(struct io_task *t, const struct iovec *liov, unsigned lnr, const struct iovec *riov,
                          unsigned rnr) {
        ssize_t n = task_vm(t, process_vm_writev, liov, lnr, riov, rnr);
        return n < 0 ? vm_errno() : n;
}

int io_task_getfd(struct io_task *t, int fd) {
        int r = -1;

        if (fd < 0)
                return -EBADF;
        /* Through the thread, else (gone, or exiting) its process, as above.
         * No liveness check: a pidfd names its task, never a reused number,
         * and pidfd_getfd() fails with ESRCH for a task that has exited or
         * is exiting (its files are gone), which is what the check said. */
        r = (int) syscall(SYS_pidfd_getfd, t->pidfd, fd, 0);
        if (r < 0 && errno == ESRCH && t->tgid_pidfd >= 0)
                r = (int) syscall(SYS_pidfd_getfd, t->tgid_pidfd, fd, 0);
        if (r < 0)
                return errno == EBADF ? -EBADF : negative_errno();
        return r;
}

/* Does our /proc show our own pid namespace, so that /proc/<tid> is the
 * thread we know by that number? Checked once. */
static bool proc_is_ours(void) {
        static int ours = -1;
        char buf[32];

        if (ours < 0) {
                ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
                if (n > 0) {
                        buf[n] = 0;
                        ours = atoi(buf) == (int) getpid();
                } else
                        ours = 0;
        }
        return ours;
}

int io_task_fstat(struct io_task *t, int fd, struct stat *st) {
        char path[64];

        if (fd < 0)
                return -EBADF;
        /* A number again: only while the thread is known alive (see
         * task_thread_alive()); otherwise the caller takes the fd itself. */
        if (!proc_is_ours() || !task_thread_alive(t))
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) t->tid, fd);
        if (stat(path, st) < 0)
                return negative_errno();
        return 0;
}

pid_t io_task_tgid(struct io_task *t) {
        return t->tgid;
}

/* Bounds a cache; handles of exited tasks go when their key calls again or
 * when the cache is full. */
#define IO_TASK_CACHE_MAX 4096

struct io_task *io_task_cache_get(struct hashmap *h, uint64_t key) {
        struct io_task *t = hashmap_get(h, key);

        if (!t)
                return NULL;
        if (io_task_thread_alive(t))
                return io_task_ref(t);
        hashmap_remove(h, key);
        io_task_unref(t);
        return NULL;
}

void io_task_cache_add(struct hashmap *h, uint64_t key, struct io_task *t) {
        if (h->size >= IO_TASK_CACHE_MAX)
                io_task_cache_flush(h);
        if (hashmap_put(h, key, t) == 0)
                io_task_ref(t);
}

void io_task_cache_flush(struct hashmap *h) {
        struct io_task *t;

        while ((t = hashmap_steal_first(h)))
                io_task_unref(t);
        hashmap_clear(h);
}
