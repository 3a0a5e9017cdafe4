/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shim's side of the protocol: connect, HELLO, ATTACH. Each step logs
 * why it failed (when debugging) and returns a negative errno.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"
#include "uringd-proto.h"

/* Programs close or dup2() over low fds; keep ours out of their way. */
static int fd_move_high(int fd) {
        int nfd = fcntl(fd, F_DUPFD_CLOEXEC, SHIM_FD_MIN);

        if (nfd < 0)
                return fd; /* a low limit on fds: keep the one we have */
        safe_close(fd);
        return nfd;
}

int shim_connect(const char *path, int *ret_sock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = SHIM_SOCKET_TIMEOUT_SEC };
        _cleanup_close_ int fd = -1;
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof(sa.sun_path))
                return shim_log_errno(-ENAMETOOLONG, "socket path %s: %m", path);
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return shim_log_errno(negative_errno(), "socket(): %m");
        fd = fd_move_high(fd);

        /* SO_SNDTIMEO also bounds connect() on a full backlog. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return shim_log_errno(negative_errno(), "setting socket timeouts: %m");

        int r;
        do
                r = connect(fd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + len + 1);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return shim_log_errno(negative_errno(), "no daemon at %s: %m; process left untouched", path);

        *ret_sock = TAKE_FD(fd);
        return 0;
}

/*
 * Receive one message and check that it is @type. With SO_PASSCRED on, the
 * kernel stamps every packet with its sender's pid: *ret_pid gets it (0 if
 * absent or not visible in our pid namespace).
 */
static int receive(int sock, uint16_t type, void *buf, pid_t *ret_pid) {
        struct iovec iov = { .iov_base = buf, .iov_len = URINGD_MSG_MAX_SIZE };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 8)];
        } control = {};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        const struct uringd_msg_header *hdr = buf;
        const char *reason = NULL;
        pid_t pid = 0;
        ssize_t n;
        int r;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return shim_log_errno(-ETIMEDOUT, "daemon did not answer within %d s", SHIM_SOCKET_TIMEOUT_SEC);
        if (n < 0)
                return shim_log_errno(negative_errno(), "receiving from the daemon: %m");

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred cred;
                        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                        pid = cred.pid;
                } else if (c->cmsg_type == SCM_RIGHTS) {
                        /* Nothing the daemon sends us carries fds: drop them. */
                        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < nfds; i++) {
                                int f;
                                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(f);
                        }
                }
        }

        if (n == 0)
                return shim_log_errno(-ECONNRESET, "daemon closed the connection");
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                return shim_log_errno(-EMSGSIZE, "oversized message from the daemon");

        r = uringd_msg_validate(buf, (size_t) n, &reason);
        if (r < 0)
                return shim_log_errno(r, "invalid message from the daemon: %s", reason);

        if (hdr->type == URINGD_MSG_ERROR) {
                const struct uringd_msg_error *e = buf;
                return shim_log_errno(e->error, "daemon refused us: %s (%m; it speaks versions %u..%u)",
                                      e->message, e->min_version, e->max_version);
        }
        if (hdr->type != type)
                return shim_log_errno(-EPROTO, "daemon sent message type %u, expected %u",
                                      hdr->type, type);

        if (ret_pid)
                *ret_pid = pid;
        return 0;
}

int shim_hello(int sock, pid_t *ret_daemon_pid, uint64_t *ret_features) {
        union {
                struct uringd_msg_hello_reply reply;
                char buf[URINGD_MSG_MAX_SIZE];
        } in;
        struct uringd_msg_hello m;
        struct ucred peer = {};
        socklen_t sl = sizeof(peer);
        pid_t pid = 0;
        int one = 1, r;

        /*
         * SO_PEERCRED names whoever called listen(): with socket activation
         * that is systemd or uringd-run, not the daemon. The credentials the
         * kernel attaches to the reply name the daemon itself.
         */
        if (setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                shim_log("SO_PASSCRED: %m; falling back to SO_PEERCRED for the daemon's pid");

        uringd_msg_init(&m.hdr, URINGD_MSG_HELLO, sizeof(m));
        m.pid = (uint32_t) getpid();
        r = uringd_msg_send(sock, &m, sizeof(m), -1);
        if (r < 0)
                return shim_log_errno(r, "sending HELLO: %m");

        r = receive(sock, URINGD_MSG_HELLO_REPLY, &in, &pid);
        if (r < 0)
                return r;
        if (in.reply.status < 0)
                return shim_log_errno(in.reply.status, "daemon refused HELLO: %m");
        if (!(in.reply.features & (URINGD_FEATURE_NOTIFY | URINGD_FEATURE_TRAP)))
                return shim_log_errno(-EOPNOTSUPP, "daemon serves neither mode (features 0x%llx)",
                                      (unsigned long long) in.reply.features);

        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &sl) < 0)
                peer.pid = 0;
        if (pid <= 0)
                pid = peer.pid;
        else if (peer.pid > 0 && peer.pid != pid)
                shim_log("daemon is pid %d (socket listener opened by pid %d)", (int) pid, (int) peer.pid);

        *ret_daemon_pid = pid;
        *ret_features = in.reply.features;
        return 0;
}

int shim_attach(int sock, uint32_t mode, int listener) {
        union {
                struct uringd_msg_attach_reply reply;
                char buf[URINGD_MSG_MAX_SIZE];
        } in;
        struct uringd_msg_attach m;
        int r;

        uringd_msg_init(&m.hdr, URINGD_MSG_ATTACH, sizeof(m));
        m.mode = mode;
        r = uringd_msg_send(sock, &m, sizeof(m), listener);
        if (r < 0)
                return shim_log_errno(r, "sending ATTACH: %m");

        r = receive(sock, URINGD_MSG_ATTACH_REPLY, &in, NULL);
        if (r < 0)
                return r;
        if (in.reply.status < 0)
                return shim_log_errno(in.reply.status, "daemon refused ATTACH: %m");
        return 0;
}
