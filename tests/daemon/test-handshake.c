/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon against hostile or confused clients: every malformed handshake
 * gets a readable ERROR (or a closed connection) and the daemon keeps
 * serving. Run under uringd-run, which exports $URINGD_SOCKET.
 * Exit: 0 pass, 1 fail, 77 skip.
 */

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "uringd-proto.h"

static int failures;

#define CHECK(cond, ...)                                        \
        do {                                                    \
                if (!(cond)) {                                  \
                        fprintf(stderr, "FAIL: " __VA_ARGS__);  \
                        fputc('\n', stderr);                    \
                        failures++;                             \
                }                                               \
        } while (0)

static int connect_daemon(void) {
        const char *path = getenv(URINGD_ENV_SOCKET);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = 5 };
        int s;

        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -1;
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(s);
                return -1;
        }
        return s;
}

/* Send @len raw bytes (+ @fd) and return the reply's type, its error field
 * for ERROR messages in *ret_error, or -1 when the daemon hung up. */
static int exchange(int s, const void *msg, size_t len, int fd, int *ret_error, char *text, size_t textlen) {
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        int passed = -1;

        if (uringd_msg_send(s, msg, len, fd) < 0)
                return -1;
        ssize_t n = uringd_msg_recv(s, buf, sizeof(buf), &passed);
        if (passed >= 0)
                close(passed);
        if (n <= 0)
                return -1;
        if (uringd_msg_validate(buf, (size_t) n, NULL) < 0)
                return -2;
        struct uringd_msg_header *h = (void *) buf;
        if (h->type == URINGD_MSG_ERROR) {
                struct uringd_msg_error *e = (void *) buf;
                *ret_error = e->error;
                if (text && textlen > 0) {
                        size_t n_copy = strnlen(e->message, sizeof(e->message));
                        if (n_copy >= textlen)
                                n_copy = textlen - 1;
                        memcpy(text, e->message, n_copy);
                        text[n_copy] = 0;
                }
        }
        return h->type;
}

/* After an ERROR the daemon closes: the next read sees EOF. */
static bool closed_after(int s) {
        char c;
        return recv(s, &c, 1, 0) == 0;
}

static void expect_error(const char *what, const void *msg, size_t len, int fd, int want_error) {
        char text[URINGD_ERROR_MESSAGE_MAX] = "";
        int err = 0, s = connect_daemon();

        CHECK(s >= 0, "%s: connect", what);
        if (s < 0)
                return;
        int type = exchange(s, msg, len, fd, &err, text, sizeof(text));
        CHECK(type == URINGD_MSG_ERROR, "%s: expected ERROR, got type %d", what, type);
        CHECK(err == want_error, "%s: expected error %d, got %d (%s)", what, want_error, err, text);
        CHECK(text[0] != 0, "%s: ERROR without a message", what);
        CHECK(closed_after(s), "%s: connection not closed after ERROR", what);
        printf("%s: %s\n", what, text);
        close(s);
}

static void hello(struct uringd_msg_hello *m) {
        uringd_msg_init(&m->hdr, URINGD_MSG_HELLO, sizeof(*m));
        m->pid = (uint32_t) getpid();
}

static int handshake_hello(void) {
        struct uringd_msg_hello m;
        int err = 0, s = connect_daemon();

        if (s < 0)
                return -1;
        hello(&m);
        if (exchange(s, &m, sizeof(m), -1, &err, NULL, 0) != URINGD_MSG_HELLO_REPLY) {
                close(s);
                return -1;
        }
        return s;
}

int main(void) {
        struct uringd_msg_hello m;
        struct uringd_msg_attach a;
        int s, err, type;

        if (!getenv(URINGD_ENV_SOCKET)) {
                fprintf(stderr, "$URINGD_SOCKET not set: run under uringd-run\n");
                return 77;
        }

        /* A good HELLO first. */
        s = handshake_hello();
        CHECK(s >= 0, "a well-formed HELLO is answered");
        if (s >= 0)
                close(s);

        hello(&m);
        m.hdr.version = URINGD_PROTO_VERSION + 1;
        expect_error("other version", &m, sizeof(m), -1, -EPROTONOSUPPORT);

        hello(&m);
        m.hdr.magic ^= 1;
        expect_error("bad magic", &m, sizeof(m), -1, -EBADMSG);

        hello(&m);
        m.hdr.size = sizeof(m) - 8;
        expect_error("size field lies", &m, sizeof(m), -1, -EBADMSG);

        hello(&m);
        expect_error("truncated packet", &m, sizeof(m) - 8, -1, -EBADMSG);

        hello(&m);
        m.reserved[1] = 1;
        expect_error("reserved bits", &m, sizeof(m), -1, -EBADMSG);

        hello(&m);
        m.hdr.type = 99;
        expect_error("unknown type", &m, sizeof(m), -1, -EOPNOTSUPP);

        uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };
        expect_error("garbage", junk, sizeof(junk), -1, -EBADMSG);

        uringd_msg_init(&a.hdr, URINGD_MSG_ATTACH, sizeof(a));
        a.mode = URINGD_ATTACH_NOTIFY;
        expect_error("ATTACH before HELLO", &a, sizeof(a), -1, -EBADMSG);

        /* ATTACH with no fd, and with an fd that is not a seccomp listener. */
        s = handshake_hello();
        CHECK(s >= 0, "HELLO for ATTACH without fd");
        if (s >= 0) {
                err = 0;
                type = exchange(s, &a, sizeof(a), -1, &err, NULL, 0);
                CHECK(type == URINGD_MSG_ERROR && err == -EBADF, "ATTACH without fd: type %d error %d", type, err);
                close(s);
        }
        s = handshake_hello();
        CHECK(s >= 0, "HELLO for ATTACH with an eventfd");
        if (s >= 0) {
                int efd = eventfd(0, EFD_CLOEXEC);
                err = 0;
                type = exchange(s, &a, sizeof(a), efd, &err, NULL, 0);
                CHECK(type == URINGD_MSG_ERROR && err == -EBADF, "ATTACH with an eventfd: type %d error %d", type, err);
                close(efd);
                close(s);
        }

        /* A client that says HELLO and hangs up, and one that says nothing. */
        s = handshake_hello();
        if (s >= 0)
                close(s);
        s = connect_daemon();
        if (s >= 0)
                close(s);

        /* Still serving. */
        s = handshake_hello();
        CHECK(s >= 0, "daemon still answers after all of the above");
        if (s >= 0)
                close(s);

        if (failures) {
                fprintf(stderr, "%d check(s) failed\n", failures);
                return 1;
        }
        printf("handshake: all checks passed\n");
        return 0;
}
