/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "notify.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

int notify_set_sync_wakeup(int listener) {
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (uint64_t) SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
                return negative_errno();
        return 0;
}

int notify_recv(int listener, struct seccomp_notif *req) {
        /* The kernel insists on a zeroed request. */
        memset(req, 0, sizeof(*req));
        for (;;) {
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0)
                        return 0;
                if (errno != EINTR)
                        return negative_errno();
        }
}

bool notify_id_valid(int listener, uint64_t id) {
        return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int notify_respond(int listener, uint64_t id, int64_t val, int error) {
        struct seccomp_notif_resp resp = {
                .id = id,
                .val = error ? 0 : val,
                .error = error,
        };
        for (;;) {
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
                        return 0;
                if (errno != EINTR)
                        return negative_errno();
        }
}

int notify_addfd_send(int listener, uint64_t id, int fd, unsigned fd_flags) {
        struct seccomp_notif_addfd addfd = {
                .id = id,
                .flags = SECCOMP_ADDFD_FLAG_SEND,
                .srcfd = (uint32_t) fd,
                .newfd = 0,
                .newfd_flags = fd_flags,
        };
        int r;
        do
                r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
        while (r < 0 && errno == EINTR);
        return r < 0 ? negative_errno() : r;
}
