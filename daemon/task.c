/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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
        *ret = t;
        return 0;
}

static bool pidfd_alive(int pidfd) {
        /* A pidfd polls readable once its task has exited. */
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        return pidfd >= 0 && poll(&p, 1, 0) == 0;
}

/*
 * Whom to reach for @t's memory: the thread while it lives; once it is gone
 * its process, as long as the pidfd taken at creation says it lives (the
 * kernel goes on with an exited thread's requests). -ESRCH otherwise: a
 * number never retried after it died, as it may be someone else's by now.
 */
static pid_t task_vm_pid(struct io_task *t) {
        if (pidfd_alive(t->pidfd))
                return t->tid;
        if (pidfd_alive(t->tgid_pidfd))
                return t->tgid;
        return -ESRCH;
}

/* Likewise for its fds: the pidfd to take them through. */
static int task_fd_pidfd(struct io_task *t) {
        if (pidfd_alive(t->pidfd))
                return t->pidfd;
        if (pidfd_alive(t->tgid_pidfd))
                return t->tgid_pidfd;
        return -1;
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
        return pidfd_alive(t->pidfd);
}

bool io_task_alive(struct io_task *t) {
        return task_vm_pid(t) > 0;
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
        pid_t pid = task_vm_pid(t);
        if (pid < 0)
                return -ESRCH;
        ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
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
        pid_t pid = task_vm_pid(t);
        if (pid < 0)
                return -ESRCH;
        ssize_t n = process_vm_writev(pid, &l, 1, &r, 1, 0);
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
        pid_t pid = task_vm_pid(t);
        if (pid < 0)
                return -ESRCH;
        ssize_t n = process_vm_writev(pid, &l, 1, riov, nr, 0);
        if (n < 0)
                return vm_errno();
        return n == 0 ? -EFAULT : n;
}

ssize_t io_task_readv(struct io_task *t, const struct iovec *riov, unsigned nr, void *dst, size_t len) {
        if (len == 0)
                return 0;
        struct iovec l = { .iov_base = dst, .iov_len = len };
        pid_t pid = task_vm_pid(t);
        if (pid < 0)
                return -ESRCH;
        ssize_t n = process_vm_readv(pid, &l, 1, riov, nr, 0);
        if (n < 0)
                return vm_errno();
        return n == 0 ? -EFAULT : n;
}

int io_task_getfd(struct io_task *t, int fd) {
        if (fd < 0)
                return -EBADF;
        int pidfd = task_fd_pidfd(t);
        if (pidfd < 0)
                return -ESRCH;
        int r = (int) syscall(SYS_pidfd_getfd, pidfd, fd, 0);
        if (r < 0)
                return errno == EBADF ? -EBADF : negative_errno();
        return r;
}

pid_t io_task_tgid(struct io_task *t) {
        return t->tgid;
}
