/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel refuses to pass an io_uring fd over a unix socket (SCM_RIGHTS:
 * sendmsg fails with EINVAL since 6.7), so that a ring can never sit in
 * flight in a socket it holds itself, a cycle only a garbage collector
 * could break. A uringd ring is a memfd, which the kernel lets through: the
 * shim refuses it in sendmsg/sendmmsg instead, as the kernel would. Raw
 * syscalls bypass this.
 */

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "evloop.h"
#include "shim.h"

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned, int);
static sendmsg_fn real_sendmsg;
static sendmmsg_fn real_sendmmsg;

static void resolve(void) {
        if (!real_sendmsg)
                real_sendmsg = (sendmsg_fn) dlsym(RTLD_NEXT, "sendmsg");
        if (!real_sendmmsg)
                real_sendmmsg = (sendmmsg_fn) dlsym(RTLD_NEXT, "sendmmsg");
}

/* Does @msg pass a ring fd? */
static bool passes_ring(const struct msghdr *msg) {
        struct msghdr copy;

        if (!__atomic_load_n(&evloop_enabled, __ATOMIC_ACQUIRE) || !msg || !msg->msg_control ||
            msg->msg_controllen < sizeof(struct cmsghdr))
                return false;
        /* CMSG_NXTHDR reads only these two fields. */
        copy = (struct msghdr) { .msg_control = msg->msg_control, .msg_controllen = msg->msg_controllen };
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&copy); c; c = CMSG_NXTHDR(&copy, c)) {
                size_t nfds;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
                        continue;
                nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfds; i++) {
                        struct evloop_ring *r;
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (!evloop_fd_maybe_ring(fd))
                                continue;
                        r = evloop_ring_get(fd);
                        if (r) {
                                evloop_ring_put(r);
                                return true;
                        }
                }
        }
        return false;
}

_public_ ssize_t sendmsg(int sock, const struct msghdr *msg, int flags) {
        resolve();
        if (passes_ring(msg)) {
                errno = EINVAL;
                return -1;
        }
        return real_sendmsg(sock, msg, flags);
}

_public_ int sendmmsg(int sock, struct mmsghdr *vec, unsigned n, int flags) {
        resolve();
        /* As the kernel: the messages before the refused one go out. */
        for (unsigned i = 0; i < n; i++)
                if (passes_ring(&vec[i].msg_hdr)) {
                        if (i == 0) {
                                errno = EINVAL;
                                return -1;
                        }
                        return real_sendmmsg(sock, vec, i, flags);
                }
        return real_sendmmsg(sock, vec, n, flags);
}
