/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trap mode's wire, spoken by hand to the daemon at $URINGD_SOCKET (run
 * under uringd-run): thread channels work, and whatever a hostile or
 * confused client sends on them costs that client its channel or its
 * connection and nothing else:
 *   - a CALL on a channel is answered on the channel, again and again;
 *   - CALL_INTERRUPT with nothing waiting is ignored;
 *   - a CALL with an fd on a channel, or CHANNEL on a channel: the channel
 *     is closed, the connection and its other channels still served;
 *   - CHANNEL without an fd on the connection: the connection is closed;
 *   - a channel whose maker hung up is let go (the daemon serves on);
 *   - a channel whose process exited is let go, though another process
 *     holds its end: no call on it may be served as that process's.
 * Exits 0 when all hold, printing one line per check.
 */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uringd-proto.h"

static int failures;

static void check(bool ok, const char *what) {
        printf("%s: %s\n", ok ? "ok" : "FAIL", what);
        if (!ok)
                failures++;
}

/* A zeroed message of @type, its header filled in. */
static void *init(void *m, uint16_t type, size_t size) {
        uringd_msg_init(m, type, (uint32_t) size);
        return m;
}

/* HELLO, then ATTACH in trap mode. Returns the connection or -1. */
static int connect_trap(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = getenv(URINGD_ENV_SOCKET);
        struct uringd_msg_hello hello;
        struct uringd_msg_attach attach;
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        int s;

        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -1;
        init(&hello, URINGD_MSG_HELLO, sizeof(hello));
        hello.pid = (uint32_t) getpid();
        if (uringd_msg_send(s, &hello, sizeof(hello), -1) < 0 ||
            uringd_msg_recvf(s, buf, sizeof(buf), NULL, 0) != sizeof(struct uringd_msg_hello_reply) ||
            !(((struct uringd_msg_hello_reply *) buf)->features & URINGD_FEATURE_TRAP_CHANNEL))
                return -1;
        init(&attach, URINGD_MSG_ATTACH, sizeof(attach));
        attach.mode = URINGD_ATTACH_TRAP;
        if (uringd_msg_send(s, &attach, sizeof(attach), -1) < 0 ||
            uringd_msg_recvf(s, buf, sizeof(buf), NULL, 0) != sizeof(struct uringd_msg_attach_reply) ||
            ((struct uringd_msg_attach_reply *) buf)->status != 0)
                return -1;
        return s;
}

/* A new channel on @conn; returns our end or -1. */
static int open_channel(int conn) {
        struct uringd_msg_channel m;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        init(&m, URINGD_MSG_CHANNEL, sizeof(m));
        if (uringd_msg_send(conn, &m, sizeof(m), sv[1]) < 0) {
                close(sv[0]);
                sv[0] = -1;
        }
        close(sv[1]);
        return sv[0];
}

/* The daemon's open fds (uringd-run says which daemon), or -1. */
static int daemon_fds(void) {
        const char *pid = getenv("URINGD_DAEMON_PID");
        char path[64];
        struct dirent *de;
        DIR *d;
        int n = 0;

        if (!pid)
                return -1;
        snprintf(path, sizeof(path), "/proc/%s/fd", pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* Does the daemon hold fewer than @n fds within a second? */
static bool daemon_fds_below(int n) {
        for (int i = 0; i < 100; i++) {
                int now = daemon_fds();
                if (now >= 0 && now < n)
                        return true;
                usleep(10000);
        }
        return false;
}

static void make_probe(struct uringd_msg_call *m) {
        init(m, URINGD_MSG_CALL, sizeof(*m));
        m->tid = (uint32_t) syscall(SYS_gettid);
        m->nr = __NR_io_uring_register;
        m->args[0] = (uint64_t) -1;
        m->args[1] = URINGD_PROBE_OPCODE;
        m->args[2] = URINGD_PROBE_COOKIE;
        m->args[3] = URINGD_PROTO_VERSION;
}

/* Is the peer of @s gone (a read within a second sees the hang-up)? */
static bool hung_up(int s) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        uint8_t buf[URINGD_MSG_MAX_SIZE];

        if (poll(&p, 1, 1000) != 1)
                return false;
        return uringd_msg_recvf(s, buf, sizeof(buf), NULL, MSG_DONTWAIT) == 0;
}

/* The probe, sent on @s (with @fd along, or -1), answered on @answer_on. */
static bool probe_answered(int s, int fd, int answer_on) {
        struct uringd_msg_call m;
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        const struct uringd_msg_call_reply *r = (const void *) buf;
        struct pollfd p = { .fd = answer_on, .events = POLLIN };

        make_probe(&m);
        if (uringd_msg_send(s, &m, sizeof(m), fd) < 0 || poll(&p, 1, 5000) != 1)
                return false;
        return uringd_msg_recvf(answer_on, buf, sizeof(buf), NULL, 0) == sizeof(*r) &&
               r->hdr.type == URINGD_MSG_CALL_REPLY && r->val == URINGD_PROBE_ANSWER && r->flags == 0;
}

/* A channel made on @conn by a child that hands its end to us and exits. */
static int channel_of_exited_child(int conn) {
        struct uringd_msg_channel carrier;
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        int sp[2], fd = -1;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int ch = open_channel(conn);

                /* Served while the child lives. */
                if (ch < 0 || !probe_answered(ch, -1, ch))
                        _exit(1);
                init(&carrier, URINGD_MSG_CHANNEL, sizeof(carrier));
                _exit(uringd_msg_send(sp[1], &carrier, sizeof(carrier), ch) < 0);
        }
        close(sp[1]);
        if (uringd_msg_recvf(sp[0], buf, sizeof(buf), &fd, 0) <= 0)
                fd = -1;
        close(sp[0]);
        (void) waitpid(pid, NULL, 0);
        return fd;
}

int main(void) {
        struct uringd_msg_call_interrupt intr;
        struct uringd_msg_channel chmsg;
        int conn = connect_trap(), ch, ch2, ch3, sv[2];
        bool all = true;

        if (conn < 0) {
                printf("FAIL: no trap-mode connection with thread channels at $%s\n", URINGD_ENV_SOCKET);
                return 1;
        }

        ch = open_channel(conn);
        for (int i = 0; i < 100; i++)
                all = all && probe_answered(ch, -1, ch);
        check(ch >= 0 && all, "100 calls on one channel, each answered on it");

        init(&intr, URINGD_MSG_CALL_INTERRUPT, sizeof(intr));
        check(uringd_msg_send(ch, &intr, sizeof(intr), -1) == 0 && probe_answered(ch, -1, ch),
              "CALL_INTERRUPT with nothing waiting is ignored");

        ch2 = open_channel(conn);
        check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0 && !probe_answered(ch2, sv[1], ch2) &&
              hung_up(ch2), "a CALL with an fd on a channel: that channel is closed");
        check(probe_answered(ch, -1, ch), "... the other channel is still served");
        check(probe_answered(conn, sv[1], sv[0]), "... and so is a call with its own reply socket");

        ch3 = open_channel(conn);
        init(&chmsg, URINGD_MSG_CHANNEL, sizeof(chmsg));
        check(uringd_msg_send(ch3, &chmsg, sizeof(chmsg), sv[1]) == 0 && hung_up(ch3),
              "CHANNEL on a channel: that channel is closed");

        /* Our end goes away: the daemon lets the channel go and serves on. */
        int held = daemon_fds();
        close(ch);
        check(held > 0 && daemon_fds_below(held) && probe_answered(conn, sv[1], sv[0]),
              "a channel whose thread hung up is let go (the daemon closes its end)");

        int orphan = channel_of_exited_child(conn);
        check(orphan >= 0 && hung_up(orphan),
              "a channel whose process exited is let go, though we hold its end");

        check(uringd_msg_send(conn, &chmsg, sizeof(chmsg), -1) == 0 && hung_up(conn),
              "CHANNEL without an fd: the connection is closed");

        conn = connect_trap();
        ch = conn >= 0 ? open_channel(conn) : -1;
        check(ch >= 0 && probe_answered(ch, -1, ch), "the daemon serves a new connection after all that");
        return failures ? 1 : 0;
}
