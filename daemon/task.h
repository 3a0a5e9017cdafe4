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
        uint64_t alive_pass; /* the loop pass the thread was last seen alive in */
};

/* The event loop starts a new pass (after each dispatched event): threads
 * seen alive in the previous one are checked again. Event loop only. */
void io_task_loop_pass(void);

struct hashmap;

/*
 * Caches of handles, by a key of the owner's choosing (the manager: tid;
 * a trap-mode client: process and thread id). A live task owns its id, so a
 * cached handle whose thread still lives is the caller's.
 */
/* The cached handle for @key (a new reference) while its thread lives;
 * a dead one is dropped. NULL when there is none. */
struct io_task *io_task_cache_get(struct hashmap *h, uint64_t key);
/* Cache @t (takes a reference); a full cache is emptied first. */
void io_task_cache_add(struct hashmap *h, uint64_t key, struct io_task *t);
/* Drop every handle and free the map. */
void io_task_cache_flush(struct hashmap *h);

/* Open a handle on @tid. Returns 0 or -errno (-ESRCH when gone). */
int io_task_new(pid_t tid, struct io_task **ret);
struct io_task *io_task_ref(struct io_task *t);
void io_task_unref(struct io_task *t);
void io_task_unrefp(struct io_task **t);

/* The task's thread group id (its process), or -ESRCH. */
pid_t io_task_tgid(struct io_task *t);

/* Is the thread still alive? A cached handle is only reused then. On the
 * event loop, the answer holds for the rest of its pass (see task.c). */
bool io_task_thread_alive(struct io_task *t);

/* Does @pidfd name a task that has not exited (a pidfd polls readable once
 * it has)? False for -1. */
bool io_pidfd_alive(int pidfd);

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

/*
 * fstat() of the task's fd @fd without taking it into the daemon: a stat()
 * of /proc/<tid>/fd/<fd>, one syscall where pidfd_getfd(), fstat() and
 * close() are three. Returns 0 or -errno, also when this way is not open
 * (thread not known alive, a /proc of another pid namespace): then take
 * the fd with io_task_getfd().
 */
struct stat;
int io_task_fstat(struct io_task *t, int fd, struct stat *st);

/* Is @addr..@addr+@len a plausible user range (the kernel's access_ok())? */
bool io_user_range_ok(uint64_t addr, uint64_t len);
