/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A task of an app: the thread that made a trapped call. Requests remember
 * their submitter, because the kernel resolves fds and buffer addresses in
 * the submitting task (its fd table, its address space), and so do we:
 * fds through pidfd_getfd(), memory through process_vm_readv/writev().
 *
 * A task handle is created while the task's notification is pending (so the
 * tid is known to be that task) and pins it with a pidfd. Refcounted: the
 * handle lives as long as the last request that needs it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct io_task {
        int refs;       /* atomic */
        pid_t tid;      /* in the daemon's pid namespace */
        pid_t tgid;     /* its process: serves requests the thread outlived */
        int pidfd;
        int tgid_pidfd; /* on the process, from creation; -1 for a leader */
        pid_t app_tid;  /* trap mode: the id the thread knows itself by */
};

/* Open a handle on @tid. Returns 0 or -errno (-ESRCH when gone). */
int io_task_new(pid_t tid, struct io_task **ret);
struct io_task *io_task_ref(struct io_task *t);
void io_task_unref(struct io_task *t);
void io_task_unrefp(struct io_task **t);

/* The task's thread group id (its process), or -ESRCH. */
pid_t io_task_tgid(struct io_task *t);

/* Is the thread still alive? A cached handle is only reused then. */
bool io_task_thread_alive(struct io_task *t);

/* Can its requests still reach its memory (the thread, or after its exit
 * its process)? Narrows pid-reuse races before asynchronous writes. */
bool io_task_alive(struct io_task *t);

/* Copy @len bytes from the task's @addr. Returns 0, -EFAULT when any byte is
 * unreadable, -ESRCH when the task is gone, -EPERM without ptrace access. */
int io_task_read(struct io_task *t, void *dst, uint64_t addr, size_t len);

/* Copy @len bytes to the task's @addr. Returns 0 or -errno as above. */
int io_task_write(struct io_task *t, uint64_t addr, const void *src, size_t len);

/*
 * Scatter @len bytes of @src into the task's iovecs @riov (at most IOV_MAX).
 * Returns the bytes written (a prefix, as copy_to_user), or -EFAULT when not
 * even the first byte could be written.
 */
ssize_t io_task_writev(struct io_task *t, const struct iovec *riov, unsigned nr, const void *src, size_t len);

/* process_vm_writev() of local @liov to the task's @riov, as the others:
 * the bytes written (a prefix), or -errno. */
ssize_t io_task_vm_writev(struct io_task *t, const struct iovec *liov, unsigned lnr, const struct iovec *riov,
                          unsigned rnr);

/* Gather up to @len bytes from the task's iovecs @riov into @dst. Returns the
 * bytes read (a prefix), or -EFAULT when nothing could be read. */
ssize_t io_task_readv(struct io_task *t, const struct iovec *riov, unsigned nr, void *dst, size_t len);

/* Duplicate the task's fd @fd into the daemon (O_CLOEXEC). Returns the new
 * fd or -EBADF when the task has no such fd. */
int io_task_getfd(struct io_task *t, int fd);

/* Is @addr..@addr+@len a plausible user range (the kernel's access_ok())? */
bool io_user_range_ok(uint64_t addr, uint64_t len);
