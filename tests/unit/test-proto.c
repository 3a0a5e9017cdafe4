/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of proto/: message encoding, validation (every accepted and every
 * rejected shape), the SOCK_SEQPACKET transport with fd passing, and the
 * socket path's precedence. Every test runs in its own child (CK_FORK), so
 * environment changes and leaked fds cannot reach the next one.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uringd-proto.h"
#include "uringd/macro.h"

/* Messages of every type, aligned and big enough for any of them. */
union any_msg {
        struct uringd_msg_header hdr;
        struct uringd_msg_hello hello;
        struct uringd_msg_hello_reply hello_reply;
        struct uringd_msg_attach attach;
        struct uringd_msg_attach_reply attach_reply;
        struct uringd_msg_error error;
        struct uringd_msg_call call;
        struct uringd_msg_call_reply call_reply;
        struct uringd_msg_call_interrupt call_interrupt;
        struct uringd_msg_channel channel;
        unsigned char bytes[URINGD_MSG_MAX_SIZE + 64];
};

/* A valid version-1 message of @type, as a sender would build it. */
static size_t make_valid(union any_msg *m, uint16_t type) {
        size_t size = uringd_msg_size(type);

        memset(m, 0xa5, sizeof(*m)); /* garbage past the message must not matter */
        switch (type) {
        case URINGD_MSG_HELLO:
                uringd_msg_init(&m->hdr, type, size);
                m->hello.pid = 4242;
                break;
        case URINGD_MSG_HELLO_REPLY:
                uringd_msg_init(&m->hdr, type, size);
                m->hello_reply.features = URINGD_FEATURES_ALL;
                break;
        case URINGD_MSG_ATTACH:
                uringd_msg_init(&m->hdr, type, size);
                m->attach.mode = URINGD_ATTACH_NOTIFY;
                break;
        case URINGD_MSG_ATTACH_REPLY:
                uringd_msg_init(&m->hdr, type, size);
                break;
        case URINGD_MSG_ERROR:
                uringd_msg_error_init(&m->error, -EPROTONOSUPPORT, "version mismatch");
                break;
        case URINGD_MSG_CALL:
                uringd_msg_init(&m->hdr, type, size);
                m->call.tid = 4242;
                m->call.nr = 426;
                for (int i = 0; i < 6; i++)
                        m->call.args[i] = UINT64_MAX - (uint64_t) i;
                break;
        case URINGD_MSG_CALL_REPLY:
                uringd_msg_init(&m->hdr, type, size);
                m->call_reply.val = -EINTR;
                break;
        case URINGD_MSG_CALL_INTERRUPT:
        case URINGD_MSG_CHANNEL:
                uringd_msg_init(&m->hdr, type, size);
                break;
        default:
                ck_abort_msg("no such type %u", type);
        }
        return size;
}

static const uint16_t all_types[] = {
        URINGD_MSG_HELLO,
        URINGD_MSG_HELLO_REPLY,
        URINGD_MSG_ATTACH,
        URINGD_MSG_ATTACH_REPLY,
        URINGD_MSG_ERROR,
        URINGD_MSG_CALL,
        URINGD_MSG_CALL_REPLY,
        URINGD_MSG_CALL_INTERRUPT,
        URINGD_MSG_CHANNEL,
};

/* Validate and require @want; a rejection must come with a reason. */
static void expect_validate(const void *buf, size_t len, int want, const char *what) {
        const char *reason = NULL;
        int r = uringd_msg_validate(buf, len, &reason);

        ck_assert_msg(r == want, "%s: validate returned %d (%s), wanted %d",
                      what, r, reason ?: "no reason", want);
        if (want < 0) {
                ck_assert_msg(reason && *reason, "%s: rejected without a reason", what);
                /* Same answer without a reason pointer. */
                ck_assert_int_eq(uringd_msg_validate(buf, len, NULL), want);
        }
}

/* ---- encoding ------------------------------------------------------------ */

START_TEST(test_sizes) {
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_HELLO), 40);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_HELLO_REPLY), 48);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_ATTACH), 40);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_ATTACH_REPLY), 40);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_ERROR), 144);
        ck_assert_uint_eq(uringd_msg_size(0), 0);
        ck_assert_uint_eq(uringd_msg_size(_URINGD_MSG_TYPE_MAX), 0);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_CALL), 88);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_CALL_REPLY), 48);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_CALL_INTERRUPT), 32);
        ck_assert_uint_eq(uringd_msg_size(URINGD_MSG_CHANNEL), 32);
        ck_assert_uint_eq(uringd_msg_size(20), 0);
        ck_assert_uint_eq(uringd_msg_size(0xffff), 0);
        for (size_t i = 0; i < ELEMENTSOF(all_types); i++)
                ck_assert_uint_le(uringd_msg_size(all_types[i]), URINGD_MSG_MAX_SIZE);
}
END_TEST

START_TEST(test_init_header) {
        union any_msg m;

        memset(&m, 0xff, sizeof(m));
        uringd_msg_init(&m.hdr, URINGD_MSG_HELLO, sizeof(m.hello));
        ck_assert_uint_eq(m.hdr.magic, URINGD_PROTO_MAGIC);
        ck_assert_uint_eq(m.hdr.version, URINGD_PROTO_VERSION);
        ck_assert_uint_eq(m.hdr.type, URINGD_MSG_HELLO);
        ck_assert_uint_eq(m.hdr.size, sizeof(m.hello));
        ck_assert_uint_eq(m.hdr.reserved, 0);
        /* The whole message is zeroed, and nothing past it is touched. */
        ck_assert_uint_eq(m.hello.pid, 0);
        ck_assert_uint_eq(m.hello.flags, 0);
        ck_assert_uint_eq(m.hello.reserved[0], 0);
        ck_assert_uint_eq(m.hello.reserved[1], 0);
        ck_assert_uint_eq(m.bytes[sizeof(m.hello)], 0xff);
        /* "urnd" in memory order. */
        ck_assert_mem_eq(&m.hdr.magic, "urnd", 4);
}
END_TEST

START_TEST(test_hello_roundtrip) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_HELLO);

        ck_assert_uint_eq(n, sizeof(struct uringd_msg_hello));
        expect_validate(&m, n, 0, "HELLO");
        ck_assert_uint_eq(m.hello.pid, 4242);
}
END_TEST

START_TEST(test_all_valid_types_accepted) {
        union any_msg m;

        for (size_t i = 0; i < ELEMENTSOF(all_types); i++) {
                size_t n = make_valid(&m, all_types[i]);
                char what[32];
                snprintf(what, sizeof(what), "type %u", all_types[i]);
                expect_validate(&m, n, 0, what);
        }
}
END_TEST

START_TEST(test_reply_status_negative_accepted) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_HELLO_REPLY);

        m.hello_reply.status = -EPERM;
        expect_validate(&m, n, 0, "HELLO_REPLY -EPERM");
        n = make_valid(&m, URINGD_MSG_ATTACH_REPLY);
        m.attach_reply.status = -EBUSY;
        expect_validate(&m, n, 0, "ATTACH_REPLY -EBUSY");
        /* Features are the daemon's to announce: unknown bits are not an error. */
        n = make_valid(&m, URINGD_MSG_HELLO_REPLY);
        m.hello_reply.features = UINT64_MAX;
        expect_validate(&m, n, 0, "HELLO_REPLY with future features");
}
END_TEST

START_TEST(test_attach_encode) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_ATTACH);

        ck_assert_uint_eq(n, sizeof(struct uringd_msg_attach));
        ck_assert_uint_eq(m.hdr.type, URINGD_MSG_ATTACH);
        ck_assert_uint_eq(m.attach.mode, URINGD_ATTACH_NOTIFY);
        ck_assert_uint_eq(m.attach.flags, 0);
        expect_validate(&m, n, 0, "ATTACH");
}
END_TEST

START_TEST(test_error_encode) {
        struct uringd_msg_error e;

        memset(&e, 0xcc, sizeof(e));
        uringd_msg_error_init(&e, -EPROTONOSUPPORT, "speak version 1");
        ck_assert_uint_eq(e.hdr.magic, URINGD_PROTO_MAGIC);
        ck_assert_uint_eq(e.hdr.type, URINGD_MSG_ERROR);
        ck_assert_uint_eq(e.hdr.size, sizeof(e));
        ck_assert_int_eq(e.error, -EPROTONOSUPPORT);
        ck_assert_uint_eq(e.min_version, URINGD_PROTO_VERSION);
        ck_assert_uint_eq(e.max_version, URINGD_PROTO_VERSION);
        ck_assert_str_eq(e.message, "speak version 1");
        /* The rest of the text field is zero, not stale stack bytes. */
        for (size_t i = strlen(e.message); i < sizeof(e.message); i++)
                ck_assert_uint_eq((unsigned char) e.message[i], 0);
        expect_validate(&e, sizeof(e), 0, "ERROR");
}
END_TEST

START_TEST(test_error_encode_edge) {
        struct uringd_msg_error e;
        char longtext[URINGD_ERROR_MESSAGE_MAX * 2];

        /* A non-negative error becomes -EPROTO: ERROR always carries -errno. */
        uringd_msg_error_init(&e, 0, NULL);
        ck_assert_int_eq(e.error, -EPROTO);
        ck_assert_str_eq(e.message, "");
        expect_validate(&e, sizeof(e), 0, "ERROR with no text");

        uringd_msg_error_init(&e, EINVAL, "positive");
        ck_assert_int_eq(e.error, -EPROTO);

        /* Too long a text is cut, and stays NUL-terminated. */
        memset(longtext, 'x', sizeof(longtext) - 1);
        longtext[sizeof(longtext) - 1] = 0;
        uringd_msg_error_init(&e, -EINVAL, longtext);
        ck_assert_uint_eq(strlen(e.message), URINGD_ERROR_MESSAGE_MAX - 1);
        expect_validate(&e, sizeof(e), 0, "ERROR with cut text");
}
END_TEST

/* ---- rejections ---------------------------------------------------------- */

START_TEST(test_reject_short) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_HELLO);

        expect_validate(&m, 0, -EBADMSG, "empty packet");
        expect_validate(&m, 1, -EBADMSG, "1 byte");
        expect_validate(&m, sizeof(struct uringd_msg_header) - 1, -EBADMSG, "15 bytes");
        /* A header alone that claims to be a HELLO. */
        m.hdr.size = sizeof(struct uringd_msg_header);
        expect_validate(&m, sizeof(struct uringd_msg_header), -EBADMSG, "bare header as HELLO");
        /* Truncated body with a consistent header size. */
        m.hdr.size = n - 8;
        expect_validate(&m, n - 8, -EBADMSG, "HELLO cut by 8 bytes");
}
END_TEST

START_TEST(test_reject_bad_magic) {
        union any_msg m;

        for (size_t i = 0; i < ELEMENTSOF(all_types); i++) {
                size_t n = make_valid(&m, all_types[i]);
                for (unsigned byte = 0; byte < 4; byte++) {
                        union any_msg c = m;
                        c.bytes[byte] ^= 0x20; /* "urnd" -> "Urnd"... */
                        expect_validate(&c, n, -EBADMSG, "bad magic");
                }
        }
        make_valid(&m, URINGD_MSG_HELLO);
        m.hdr.magic = 0;
        expect_validate(&m, sizeof(m.hello), -EBADMSG, "zero magic");
        m.hdr.magic = __builtin_bswap32(URINGD_PROTO_MAGIC);
        expect_validate(&m, sizeof(m.hello), -EBADMSG, "byte-swapped magic");
}
END_TEST

START_TEST(test_reject_size_mismatch) {
        union any_msg m;

        for (size_t i = 0; i < ELEMENTSOF(all_types); i++) {
                size_t n = make_valid(&m, all_types[i]);
                /* The packet is longer than the header says. */
                expect_validate(&m, n + 1, -EBADMSG, "packet longer than hdr.size");
                expect_validate(&m, n + 8, -EBADMSG, "packet 8 longer than hdr.size");
                /* Shorter than the header says. */
                expect_validate(&m, n - 1, -EBADMSG, "packet shorter than hdr.size");
                /* Header and packet agree, but not with the type's size. */
                m.hdr.size = n + 8;
                expect_validate(&m, n + 8, -EBADMSG, "consistent but oversized");
                m.hdr.size = n - 8;
                expect_validate(&m, n - 8, -EBADMSG, "consistent but undersized");
                m.hdr.size = 0;
                expect_validate(&m, n, -EBADMSG, "hdr.size 0");
                m.hdr.size = UINT32_MAX;
                expect_validate(&m, n, -EBADMSG, "hdr.size huge");
        }
}
END_TEST

START_TEST(test_reject_other_version) {
        union any_msg m;
        const uint16_t versions[] = { 0, 2, 3, 0x100, 0xffff };

        for (size_t t = 0; t < ELEMENTSOF(all_types); t++) {
                if (all_types[t] == URINGD_MSG_ERROR)
                        continue; /* decodable whatever its version: below */
                for (size_t v = 0; v < ELEMENTSOF(versions); v++) {
                        size_t n = make_valid(&m, all_types[t]);
                        m.hdr.version = versions[v];
                        expect_validate(&m, n, -EPROTONOSUPPORT, "other version");
                }
        }

        /* A future version may have other sizes and other types: the answer
         * must still be "wrong version", so that the peer gets a useful
         * ERROR rather than "malformed". */
        make_valid(&m, URINGD_MSG_HELLO);
        m.hdr.version = 2;
        m.hdr.size = 64;
        memset(m.bytes + sizeof(struct uringd_msg_header), 0x11, 48);
        expect_validate(&m, 64, -EPROTONOSUPPORT, "v2 HELLO of another size");
        m.hdr.type = 7;
        expect_validate(&m, 64, -EPROTONOSUPPORT, "v2 message of a type v1 lacks");
        m.hdr.reserved = 1;
        expect_validate(&m, 64, -EPROTONOSUPPORT, "v2 header using its reserved field");
}
END_TEST

START_TEST(test_error_any_version_accepted) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_ERROR);

        m.hdr.version = 9;
        m.error.min_version = 7;
        m.error.max_version = 9;
        expect_validate(&m, n, 0, "ERROR of version 9");
}
END_TEST

START_TEST(test_reject_unknown_type) {
        union any_msg m;
        const uint16_t types[] = { 0, _URINGD_MSG_TYPE_MAX, 6, 15, 20, 31, 0x7fff, 0xffff };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                make_valid(&m, URINGD_MSG_HELLO);
                m.hdr.type = types[i];
                expect_validate(&m, sizeof(m.hello), -EOPNOTSUPP, "unknown type, HELLO-sized");
                m.hdr.size = sizeof(struct uringd_msg_header);
                expect_validate(&m, sizeof(struct uringd_msg_header), -EOPNOTSUPP,
                                "unknown type, bare header");
        }
}
END_TEST

START_TEST(test_reject_header_reserved) {
        union any_msg m;

        for (size_t i = 0; i < ELEMENTSOF(all_types); i++) {
                if (all_types[i] == URINGD_MSG_ERROR)
                        continue;
                for (unsigned bit = 0; bit < 32; bit++) {
                        size_t n = make_valid(&m, all_types[i]);
                        m.hdr.reserved = 1U << bit;
                        expect_validate(&m, n, -EBADMSG, "header reserved bit");
                }
        }
}
END_TEST

/* Setting any single byte in [from, to) of a valid message must be rejected. */
static void reject_each_byte(uint16_t type, size_t from, size_t to, const char *what) {
        union any_msg m;

        for (size_t off = from; off < to; off++) {
                size_t n = make_valid(&m, type);
                ck_assert_uint_le(to, n);
                m.bytes[off] = 0x01;
                char desc[96];
                snprintf(desc, sizeof(desc), "%s, byte %zu", what, off);
                expect_validate(&m, n, -EBADMSG, desc);
                make_valid(&m, type);
                m.bytes[off] = 0x80;
                expect_validate(&m, n, -EBADMSG, desc);
        }
}

START_TEST(test_reject_hello_reserved) {
        reject_each_byte(URINGD_MSG_HELLO,
                         offsetof(struct uringd_msg_hello, flags),
                         sizeof(struct uringd_msg_hello), "HELLO flags/reserved");
}
END_TEST

START_TEST(test_reject_hello_reply_reserved) {
        reject_each_byte(URINGD_MSG_HELLO_REPLY,
                         offsetof(struct uringd_msg_hello_reply, reserved0),
                         offsetof(struct uringd_msg_hello_reply, features), "HELLO_REPLY reserved0");
        reject_each_byte(URINGD_MSG_HELLO_REPLY,
                         offsetof(struct uringd_msg_hello_reply, reserved),
                         sizeof(struct uringd_msg_hello_reply), "HELLO_REPLY reserved");
}
END_TEST

START_TEST(test_reject_positive_status) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_HELLO_REPLY);

        m.hello_reply.status = 1;
        expect_validate(&m, n, -EBADMSG, "HELLO_REPLY status 1");
        m.hello_reply.status = INT32_MAX;
        expect_validate(&m, n, -EBADMSG, "HELLO_REPLY status INT32_MAX");

        n = make_valid(&m, URINGD_MSG_ATTACH_REPLY);
        m.attach_reply.status = EPERM;
        expect_validate(&m, n, -EBADMSG, "ATTACH_REPLY positive status");
}
END_TEST

START_TEST(test_reject_attach_modes) {
        union any_msg m;
        const uint32_t modes[] = { 0, 3, 0x100, UINT32_MAX };

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                size_t n = make_valid(&m, URINGD_MSG_ATTACH);
                m.attach.mode = modes[i];
                expect_validate(&m, n, -EBADMSG, "ATTACH bad mode");
        }
        reject_each_byte(URINGD_MSG_ATTACH,
                         offsetof(struct uringd_msg_attach, flags),
                         sizeof(struct uringd_msg_attach), "ATTACH flags/reserved");
}
END_TEST

START_TEST(test_attach_trap_accepted) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_ATTACH);

        m.attach.mode = URINGD_ATTACH_TRAP;
        expect_validate(&m, n, 0, "ATTACH trap mode");
}
END_TEST

START_TEST(test_reject_call_reserved) {
        reject_each_byte(URINGD_MSG_CALL, offsetof(struct uringd_msg_call, reserved),
                         sizeof(struct uringd_msg_call), "CALL reserved");
        reject_each_byte(URINGD_MSG_CALL_INTERRUPT, offsetof(struct uringd_msg_call_interrupt, reserved),
                         sizeof(struct uringd_msg_call_interrupt), "CALL_INTERRUPT reserved");
        reject_each_byte(URINGD_MSG_CHANNEL, offsetof(struct uringd_msg_channel, reserved),
                         sizeof(struct uringd_msg_channel), "CHANNEL reserved");
        reject_each_byte(URINGD_MSG_CALL_REPLY, offsetof(struct uringd_msg_call_reply, reserved0),
                         sizeof(struct uringd_msg_call_reply), "CALL_REPLY reserved");
}
END_TEST

START_TEST(test_call_reply_flags) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_CALL_REPLY);

        m.call_reply.flags = URINGD_CALL_REPLY_FD;
        m.call_reply.val = 0;
        expect_validate(&m, n, 0, "CALL_REPLY with an fd");
        m.call_reply.val = -EBADF;
        expect_validate(&m, n, -EBADMSG, "CALL_REPLY with an fd and an error");
        m.call_reply.val = 0;
        m.call_reply.flags = 2;
        expect_validate(&m, n, -EBADMSG, "CALL_REPLY unknown flag");
}
END_TEST

START_TEST(test_reject_attach_reply_reserved) {
        reject_each_byte(URINGD_MSG_ATTACH_REPLY,
                         offsetof(struct uringd_msg_attach_reply, reserved0),
                         sizeof(struct uringd_msg_attach_reply), "ATTACH_REPLY reserved");
}
END_TEST

START_TEST(test_reject_bad_error) {
        union any_msg m;
        size_t n = make_valid(&m, URINGD_MSG_ERROR);

        m.error.error = 0;
        expect_validate(&m, n, -EBADMSG, "ERROR with error 0");
        m.error.error = EINVAL;
        expect_validate(&m, n, -EBADMSG, "ERROR with a positive error");

        make_valid(&m, URINGD_MSG_ERROR);
        memset(m.error.message, 'A', sizeof(m.error.message));
        expect_validate(&m, n, -EBADMSG, "ERROR text without NUL");
        m.error.message[sizeof(m.error.message) - 1] = 0;
        expect_validate(&m, n, 0, "ERROR text with NUL in the last byte");

        make_valid(&m, URINGD_MSG_ERROR);
        m.hdr.size = n - 4;
        expect_validate(&m, n - 4, -EBADMSG, "short ERROR");
        m.hdr.version = 3;
        expect_validate(&m, n - 4, -EBADMSG, "short ERROR of another version");
}
END_TEST

/* ---- transport ----------------------------------------------------------- */

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}

static void seqpacket_pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

START_TEST(test_send_recv_plain) {
        int sv[2];
        union any_msg out, in;
        size_t n = make_valid(&out, URINGD_MSG_HELLO);
        int fd = 12345;

        seqpacket_pair(sv);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, -1), 0);
        memset(&in, 0, sizeof(in));
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, &fd), (ssize_t) n);
        ck_assert_int_eq(fd, -1);
        ck_assert_mem_eq(&in, &out, n);
        expect_validate(&in, n, 0, "received HELLO");

        /* One packet per message: two sends are two receives. */
        size_t n2 = make_valid(&out, URINGD_MSG_ERROR);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, -1), 0);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n2, -1), 0);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, NULL), (ssize_t) n);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, NULL), (ssize_t) n2);

        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_send_recv_fd) {
        int sv[2], p[2], fd = -1;
        union any_msg out, in;
        size_t n = make_valid(&out, URINGD_MSG_ATTACH);
        struct stat a, b;
        char c = 0;

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, p[1]), 0);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, &fd), (ssize_t) n);
        ck_assert_mem_eq(&in, &out, n);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fd, p[1]);

        /* The same open file, close-on-exec. */
        ck_assert_int_eq(fstat(fd, &a), 0);
        ck_assert_int_eq(fstat(p[1], &b), 0);
        ck_assert_uint_eq(a.st_ino, b.st_ino);
        ck_assert_uint_eq(a.st_dev, b.st_dev);
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_int_eq(write(fd, "z", 1), 1);
        ck_assert_int_eq(read(p[0], &c, 1), 1);
        ck_assert_int_eq(c, 'z');

        close(fd);
        close(p[0]);
        close(p[1]);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_recv_fd_unwanted_closed) {
        int sv[2], p[2];
        union any_msg out, in;
        size_t n = make_valid(&out, URINGD_MSG_HELLO);

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        unsigned before = count_fds();
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, p[0]), 0);
        /* No ret_fd: the passed fd must be closed, not leaked. */
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, NULL), (ssize_t) n);
        ck_assert_uint_eq(count_fds(), before);
}
END_TEST

/* Send @nfds copies of @fd with one raw packet. */
static void send_fds(int sock, const void *msg, size_t size, int fd, unsigned nfds) {
        struct iovec iov = { .iov_base = (void *) msg, .iov_len = size };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 16)];
        } control;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = CMSG_SPACE(sizeof(int) * nfds),
        };

        ck_assert_uint_le(nfds, 16);
        memset(&control, 0, sizeof(control));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        for (unsigned i = 0; i < nfds; i++)
                memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
        ck_assert_int_eq(sendmsg(sock, &mh, 0), (ssize_t) size);
}

START_TEST(test_recv_extra_fds_closed) {
        int sv[2], p[2], fd = -1;
        union any_msg out, in;
        size_t n = make_valid(&out, URINGD_MSG_ATTACH);

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        unsigned before = count_fds();
        send_fds(sv[0], &out, n, p[1], 5);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, &fd), (ssize_t) n);
        ck_assert_int_ge(fd, 0);
        /* Exactly one fd more than before: the first, handed out. */
        ck_assert_uint_eq(count_fds(), before + 1);
        close(fd);
        ck_assert_uint_eq(count_fds(), before);
}
END_TEST

START_TEST(test_recv_trunc) {
        int sv[2], p[2], fd = 77;
        unsigned char big[URINGD_MSG_MAX_SIZE + 40];
        union any_msg in;

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        memset(big, 0x5a, sizeof(big));
        unsigned before = count_fds();

        /* Too big for the buffer, with an fd riding along: -EMSGSIZE, the fd
         * is closed, *ret_fd untouched. */
        send_fds(sv[0], big, sizeof(big), p[1], 1);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, &fd), -EMSGSIZE);
        ck_assert_int_eq(fd, 77);
        ck_assert_uint_eq(count_fds(), before);

        /* A smaller buffer than the packet, no fd. */
        union any_msg out;
        size_t n = make_valid(&out, URINGD_MSG_HELLO);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, -1), 0);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, n - 1, NULL), -EMSGSIZE);

        /* The truncated packets are gone: the next one arrives whole. */
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, -1), 0);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, NULL), (ssize_t) n);
        ck_assert_mem_eq(&in, &out, n);
}
END_TEST

START_TEST(test_recv_peer_closed) {
        int sv[2], fd = 77;
        union any_msg in;

        seqpacket_pair(sv);
        close(sv[0]);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, &fd), 0);
        ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(test_recv_nonblocking_empty) {
        int sv[2];
        union any_msg in;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        ck_assert_int_eq(uringd_msg_recv(sv[1], &in, URINGD_MSG_MAX_SIZE, NULL), -EAGAIN);
}
END_TEST

START_TEST(test_send_errors) {
        int sv[2];
        union any_msg out;
        size_t n = make_valid(&out, URINGD_MSG_HELLO);

        /* Default SIGPIPE: a send without MSG_NOSIGNAL would kill us. */
        signal(SIGPIPE, SIG_DFL);
        seqpacket_pair(sv);
        close(sv[1]);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, -1), -EPIPE);
        close(sv[0]);

        ck_assert_int_eq(uringd_msg_send(-1, &out, n, -1), -EBADF);
        ck_assert_int_eq(uringd_msg_recv(-1, &out, sizeof(out), NULL), -EBADF);

        /* Passing an fd that is not open. */
        seqpacket_pair(sv);
        ck_assert_int_eq(uringd_msg_send(sv[0], &out, n, 999), -EBADF);
        /* Not a socket. */
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(uringd_msg_send(p[1], &out, n, -1), -ENOTSOCK);
}
END_TEST

/* ---- socket path --------------------------------------------------------- */

static void clear_env(void) {
        unsetenv(URINGD_ENV_SOCKET);
        unsetenv("XDG_RUNTIME_DIR");
}

START_TEST(test_path_env_socket_wins) {
        char buf[256];

        clear_env();
        setenv("XDG_RUNTIME_DIR", "/run/user/999", 1);
        setenv(URINGD_ENV_SOCKET, "/tmp/x/my.sock", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "/tmp/x/my.sock");

        /* Taken as given, even relative. */
        setenv(URINGD_ENV_SOCKET, "rel/sock", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "rel/sock");
}
END_TEST

START_TEST(test_path_xdg) {
        char buf[256];

        clear_env();
        setenv("XDG_RUNTIME_DIR", "/run/user/999", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "/run/user/999/uringd/socket");

        /* An empty URINGD_SOCKET is as good as unset. */
        setenv(URINGD_ENV_SOCKET, "", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "/run/user/999/uringd/socket");
}
END_TEST

START_TEST(test_path_fallback) {
        char buf[256], want[256];

        snprintf(want, sizeof(want), "/run/user/%u/uringd/socket", (unsigned) getuid());

        clear_env();
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, want);

        /* XDG_RUNTIME_DIR must be absolute to count; empty does not count. */
        setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, want);
        setenv("XDG_RUNTIME_DIR", "", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_path_too_long) {
        char buf[32];
        const char *p = "/0123456789/0123456789/01234567"; /* 31 characters */

        clear_env();
        setenv(URINGD_ENV_SOCKET, p, 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, p);
        ck_assert_int_eq(uringd_socket_path(buf, strlen(p)), -ENAMETOOLONG);

        unsetenv(URINGD_ENV_SOCKET);
        setenv("XDG_RUNTIME_DIR", "/run/user/123456789012345", 1);
        ck_assert_int_eq(uringd_socket_path(buf, sizeof(buf)), -ENAMETOOLONG);
        char big[64];
        ck_assert_int_eq(uringd_socket_path(big, sizeof(big)), 0);
        ck_assert_str_eq(big, "/run/user/123456789012345/uringd/socket");

        unsetenv("XDG_RUNTIME_DIR");
        ck_assert_int_eq(uringd_socket_path(buf, 8), -ENAMETOOLONG);
}
END_TEST

static Suite *proto_suite(void) {
        Suite *s = suite_create("proto");
        TCase *tc;

        tc = tcase_create("encode");
        tcase_add_test(tc, test_sizes);
        tcase_add_test(tc, test_attach_trap_accepted);
        tcase_add_test(tc, test_reject_call_reserved);
        tcase_add_test(tc, test_call_reply_flags);
        tcase_add_test(tc, test_init_header);
        tcase_add_test(tc, test_hello_roundtrip);
        tcase_add_test(tc, test_all_valid_types_accepted);
        tcase_add_test(tc, test_reply_status_negative_accepted);
        tcase_add_test(tc, test_attach_encode);
        tcase_add_test(tc, test_error_encode);
        tcase_add_test(tc, test_error_encode_edge);
        suite_add_tcase(s, tc);

        tc = tcase_create("reject");
        tcase_add_test(tc, test_reject_short);
        tcase_add_test(tc, test_reject_bad_magic);
        tcase_add_test(tc, test_reject_size_mismatch);
        tcase_add_test(tc, test_reject_other_version);
        tcase_add_test(tc, test_error_any_version_accepted);
        tcase_add_test(tc, test_reject_unknown_type);
        tcase_add_test(tc, test_reject_header_reserved);
        tcase_add_test(tc, test_reject_hello_reserved);
        tcase_add_test(tc, test_reject_hello_reply_reserved);
        tcase_add_test(tc, test_reject_positive_status);
        tcase_add_test(tc, test_reject_attach_modes);
        tcase_add_test(tc, test_reject_attach_reply_reserved);
        tcase_add_test(tc, test_reject_bad_error);
        suite_add_tcase(s, tc);

        tc = tcase_create("transport");
        tcase_add_test(tc, test_send_recv_plain);
        tcase_add_test(tc, test_send_recv_fd);
        tcase_add_test(tc, test_recv_fd_unwanted_closed);
        tcase_add_test(tc, test_recv_extra_fds_closed);
        tcase_add_test(tc, test_recv_trunc);
        tcase_add_test(tc, test_recv_peer_closed);
        tcase_add_test(tc, test_recv_nonblocking_empty);
        tcase_add_test(tc, test_send_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("socket-path");
        tcase_add_test(tc, test_path_env_socket_wins);
        tcase_add_test(tc, test_path_xdg);
        tcase_add_test(tc, test_path_fallback);
        tcase_add_test(tc, test_path_too_long);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(proto_suite());

        /* TAP on stdout for meson; each test in its own child. */
        srunner_set_tap(sr, "-");
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
