/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify-floor: what one trapped syscall costs with no daemon work at all,
 * the floor under every io_uring_enter() that uringd serves in notify mode.
 *
 *   notify-floor SECONDS
 *
 * A child process traps getppid() with SECCOMP_RET_USER_NOTIF; the parent,
 * another process as uringd is, answers each notification at once from a
 * blocking SECCOMP_IOCTL_NOTIF_RECV, with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
 * set when the kernel has it (as uringd sets it). The child times each call.
 * Prints one JSON object in nop-bench's format (batch 1).
 */

#include <errno.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "uringd/compat.h"

#define ANSWER 4242

static int send_fd(int sock, int fd) {
        char c = 0, ctl[CMSG_SPACE(sizeof(int))] = {};
        struct iovec iov = { &c, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        return sendmsg(sock, &mh, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
        char c, ctl[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { &c, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
        struct cmsghdr *cm;
        int fd;

        if (recvmsg(sock, &mh, 0) != 1 || !(cm = CMSG_FIRSTHDR(&mh)) || cm->cmsg_type != SCM_RIGHTS)
                return -1;
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        return fd;
}

/* The child: trap getppid(), time each call, print the result. */
static int trapped_child(int sock, double seconds) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
        uint64_t *lat = malloc(MAX_SAMPLES * sizeof(*lat)), start, end, ops = 0, t;
        size_t nlat = 0;
        char go;
        int listener;

        if (!lat || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 1;
        listener = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (listener < 0) {
                fprintf(stderr, "notify-floor: seccomp: %m\n");
                return errno == EINVAL || errno == EACCES ? 77 : 1;
        }
        if (send_fd(sock, listener) < 0 || read(sock, &go, 1) != 1)
                return 1;
        close(listener);

        start = t = now_ns();
        end = start + (uint64_t) (seconds * 1e9);
        while (t < end) {
                uint64_t t0 = t;
                if (syscall(SYS_getppid) != ANSWER) {
                        fprintf(stderr, "notify-floor: the trapped call was not answered\n");
                        return 1;
                }
                ops++;
                t = now_ns();
                if (nlat < MAX_SAMPLES)
                        lat[nlat++] = t - t0;
        }
        print_result("notify-floor", 1, ops, t - start, lat, nlat);
        return 0;
}

/* The parent: answer every notification at once, until the child exits. */
static void supervise(int listener) {
        for (;;) {
                struct seccomp_notif req;
                struct seccomp_notif_resp resp = {};

                memset(&req, 0, sizeof(req));
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        struct pollfd p = { .fd = listener, .events = POLLIN };
                        /* ENOENT also once the filter has no task left:
                         * the listener then polls POLLHUP. */
                        if ((errno == EINTR || errno == ENOENT) &&
                            !(poll(&p, 1, 0) >= 0 && (p.revents & POLLHUP)))
                                continue;
                        return;
                }
                resp.id = req.id;
                resp.val = ANSWER;
                (void) ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
}

int main(int argc, char *argv[]) {
        double seconds = argc > 1 ? atof(argv[1]) : 0;
        int sv[2], listener, status;
        pid_t pid;

        if (seconds <= 0) {
                fprintf(stderr, "usage: notify-floor SECONDS\n");
                return 2;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 1;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                int r;

                close(sv[0]);
                r = trapped_child(sv[1], seconds);
                fflush(stdout);
                _exit(r);
        }
        close(sv[1]);
        listener = recv_fd(sv[0]);
        if (listener >= 0) {
                /* Old kernels lack the flag: the floor is then theirs. */
                (void) ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (uint64_t) SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
                if (write(sv[0], "g", 1) == 1)
                        supervise(listener);
        }
        if (waitpid(pid, &status, 0) < 0)
                return 1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
