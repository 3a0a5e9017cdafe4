/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoding, validation and transport of uringd protocol messages. Pure
 * library code: it never logs; errors are returned as negative errno.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uringd-proto.h"
#include "uringd/macro.h"

void uringd_msg_init(struct uringd_msg_header *hdr, uint16_t type, uint32_t size) {
        memset(hdr, 0, size);
        hdr->magic = URINGD_PROTO_MAGIC;
        hdr->version = URINGD_PROTO_VERSION;
        hdr->type = type;
        hdr->size = size;
}

size_t uringd_msg_size(uint16_t type) {
        switch (type) {
        case URINGD_MSG_HELLO:
                return sizeof(struct uringd_msg_hello);
        case URINGD_MSG_HELLO_REPLY:
                return sizeof(struct uringd_msg_hello_reply);
        case URINGD_MSG_ATTACH:
                return sizeof(struct uringd_msg_attach);
        case URINGD_MSG_ATTACH_REPLY:
                return sizeof(struct uringd_msg_attach_reply);
        case URINGD_MSG_ERROR:
                return sizeof(struct uringd_msg_error);
        case URINGD_MSG_CALL:
                return sizeof(struct uringd_msg_call);
        case URINGD_MSG_CALL_REPLY:
                return sizeof(struct uringd_msg_call_reply);
        case URINGD_MSG_CALL_INTERRUPT:
                return sizeof(struct uringd_msg_call_interrupt);
        case URINGD_MSG_CHANNEL:
                return sizeof(struct uringd_msg_channel);
        default:
                return 0;
        }
}

static bool all_zero(const void *p, size_t n) {
        const unsigned char *c = p;
        for (size_t i = 0; i < n; i++)
                if (c[i])
                        return false;
        return true;
}

#define REJECT(err, why)                        \
        do {                                    \
                if (ret_reason)                 \
                        *ret_reason = (why);    \
                return (err);                   \
        } while (0)

int uringd_msg_validate(const void *buf, size_t len, const char **ret_reason) {
        struct uringd_msg_header hdr;

        if (len < sizeof(hdr))
                REJECT(-EBADMSG, "message shorter than its header");
        memcpy(&hdr, buf, sizeof(hdr));
        if (hdr.magic != URINGD_PROTO_MAGIC)
                REJECT(-EBADMSG, "bad magic: not a uringd peer");
        if (hdr.size != len)
                REJECT(-EBADMSG, "header size does not match the packet");

        /* ERROR is decodable whatever its version. */
        if (hdr.type == URINGD_MSG_ERROR) {
                struct uringd_msg_error m;
                if (len != sizeof(m))
                        REJECT(-EBADMSG, "ERROR message of the wrong size");
                memcpy(&m, buf, sizeof(m));
                if (m.error >= 0 || !memchr(m.message, 0, sizeof(m.message)))
                        REJECT(-EBADMSG, "malformed ERROR message");
                return 0;
        }

        if (hdr.version != URINGD_PROTO_VERSION)
                REJECT(-EPROTONOSUPPORT, "unsupported protocol version");
        if (hdr.reserved)
                REJECT(-EBADMSG, "reserved header field is not zero");

        size_t want = uringd_msg_size(hdr.type);
        if (want == 0)
                REJECT(-EOPNOTSUPP, "unknown message type");
        if (len != want)
                REJECT(-EBADMSG, "message of the wrong size for its type");

        switch (hdr.type) {
        case URINGD_MSG_HELLO: {
                const struct uringd_msg_hello *m = buf;
                if (m->flags || !all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "HELLO with unknown flags or reserved bits");
                break;
        }
        case URINGD_MSG_HELLO_REPLY: {
                const struct uringd_msg_hello_reply *m = buf;
                if (m->status > 0 || m->reserved0 || !all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "malformed HELLO_REPLY");
                break;
        }
        case URINGD_MSG_ATTACH: {
                const struct uringd_msg_attach *m = buf;
                if (m->mode != URINGD_ATTACH_NOTIFY && m->mode != URINGD_ATTACH_TRAP)
                        REJECT(-EBADMSG, "ATTACH with an unknown mode");
                if (m->flags || !all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "ATTACH with unknown flags or reserved bits");
                break;
        }
        case URINGD_MSG_ATTACH_REPLY: {
                const struct uringd_msg_attach_reply *m = buf;
                if (m->status > 0 || m->reserved0 || !all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "malformed ATTACH_REPLY");
                break;
        }
        case URINGD_MSG_CALL: {
                const struct uringd_msg_call *m = buf;
                if (!all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "CALL with reserved bits");
                break;
        }
        case URINGD_MSG_CALL_REPLY: {
                const struct uringd_msg_call_reply *m = buf;
                if ((m->flags & ~URINGD_CALL_REPLY_FD) || m->reserved0 ||
                    !all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "malformed CALL_REPLY");
                if ((m->flags & URINGD_CALL_REPLY_FD) && m->val < 0)
                        REJECT(-EBADMSG, "CALL_REPLY with an fd and an error");
                break;
        }
        case URINGD_MSG_CALL_INTERRUPT: {
                const struct uringd_msg_call_interrupt *m = buf;
                if (!all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "CALL_INTERRUPT with reserved bits");
                break;
        }
        case URINGD_MSG_CHANNEL: {
                const struct uringd_msg_channel *m = buf;
                if (!all_zero(m->reserved, sizeof(m->reserved)))
                        REJECT(-EBADMSG, "CHANNEL with reserved bits");
                break;
        }
        }
        return 0;
}

void uringd_msg_error_init(struct uringd_msg_error *m, int error, const char *message) {
        uringd_msg_init(&m->hdr, URINGD_MSG_ERROR, sizeof(*m));
        m->error = error < 0 ? error : -EPROTO;
        m->min_version = URINGD_PROTO_VERSION;
        m->max_version = URINGD_PROTO_VERSION;
        if (message)
                snprintf(m->message, sizeof(m->message), "%s", message);
}

int uringd_socket_path(char *buf, size_t size) {
        const char *e = getenv(URINGD_ENV_SOCKET);
        int n;

        if (e && *e)
                n = snprintf(buf, size, "%s", e);
        else if ((e = getenv("XDG_RUNTIME_DIR")) && *e == '/')
                n = snprintf(buf, size, "%s/" URINGD_SOCKET_DIR "/" URINGD_SOCKET_NAME, e);
        else
                n = snprintf(buf, size, "/run/user/%u/" URINGD_SOCKET_DIR "/" URINGD_SOCKET_NAME,
                             (unsigned) getuid());
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* Raw calls where the shim hooks libc (preload/scm.c, evloop-poll.c): its
 * SIGSYS handler uses these functions and must not enter the hooks. */
static void raw_close(int fd) {
        if (fd >= 0)
                (void) syscall(SYS_close, fd);
}

int uringd_msg_send(int sock, const void *msg, size_t size, int fd) {
        return uringd_msg_sendf(sock, msg, size, fd, 0);
}

int uringd_msg_sendf(int sock, const void *msg, size_t size, int fd, int flags) {
        struct iovec iov = { .iov_base = (void *) msg, .iov_len = size };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }

        ssize_t n;
        do
                n = syscall(SYS_sendmsg, sock, &mh, MSG_NOSIGNAL | flags);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != size)
                return -EIO;
        return 0;
}

ssize_t uringd_msg_recv(int sock, void *buf, size_t size, int *ret_fd) {
        return uringd_msg_recvf(sock, buf, size, ret_fd, 0);
}

ssize_t uringd_msg_recvf(int sock, void *buf, size_t size, int *ret_fd, int flags) {
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 8)];
        } control = {};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        int fd = -1;

        ssize_t n;
        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfds; i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (fd < 0 && ret_fd)
                                fd = f;
                        else
                                raw_close(f);
                }
        }

        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                raw_close(fd);
                return -EMSGSIZE;
        }
        if (ret_fd)
                *ret_fd = fd;
        return n;
}
