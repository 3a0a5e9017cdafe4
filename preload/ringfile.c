/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's ring file has no read or write operation: read(2) and
 * write(2) on a ring fd fail with EINVAL. A uringd ring is a memfd, which
 * reads and writes its bytes; the shim answers libc's read() and write() on
 * ring fds with EINVAL instead, as the kernel would.
 *
 * Cost on other fds: a lookup in the event-loop hooks' per-fd cache, and
 * one fstat() the first time an fd number is read or written after it was
 * (re)opened. Not covered: raw syscalls, fds numbered 65536 and above (not
 * cached: they pass), and pread/readv and their kin.
 */

#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include "evloop.h"
#include "shim.h"

#define RINGFILE_FD_MAX 65536 /* the event-loop hooks' cache */

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
static read_fn real_read;
static write_fn real_write;

static bool is_ring(int fd) {
        struct evloop_ring *r;

        if (fd < 0 || fd >= RINGFILE_FD_MAX || !__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE) ||
            !evloop_fd_maybe_ring(fd))
                return false;
        /* An fstat() for an fd not yet known, the daemon once per memfd. */
        r = evloop_ring_get(fd);
        if (!r)
                return false;
        evloop_ring_put(r);
        return true;
}

_public_ ssize_t read(int fd, void *buf, size_t count) {
        if (!real_read)
                real_read = (read_fn) dlsym(RTLD_NEXT, "read");
        if (is_ring(fd)) {
                errno = EINVAL;
                return -1;
        }
        return real_read(fd, buf, count);
}

_public_ ssize_t write(int fd, const void *buf, size_t count) {
        if (!real_write)
                real_write = (write_fn) dlsym(RTLD_NEXT, "write");
        if (is_ring(fd)) {
                errno = EINVAL;
                return -1;
        }
        return real_write(fd, buf, count);
}
