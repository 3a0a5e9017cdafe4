/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The wire protocol between the preload shim and uringd.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket, one message per packet. Every
 * message starts with the same 16-byte header, whose layout is frozen for all
 * versions so that any peer can read the version and answer a mismatch with
 * a readable URINGD_MSG_ERROR. All fields are fixed-width and in host byte
 * order (the two ends share a kernel); every reserved field must be zero, and
 * a message whose size does not match its type exactly is rejected.
 *
 * The exchange (version 1):
 *   shim   -> daemon  HELLO              (version check)
 *   daemon -> shim    HELLO_REPLY        (status, daemon's features)
 *   shim   -> daemon  ATTACH + SCM_RIGHTS(seccomp listener fd)
 *   daemon -> shim    ATTACH_REPLY       (status)
 * after which the shim proves the path with the probe call below. Any
 * rejected message is answered with ERROR and the connection closed.
 *
 * Trap mode (URINGD_FEATURE_TRAP): ATTACH with mode TRAP carries no fd; the
 * connection then stays open and carries CALL messages, each with one end of
 * a fresh SOCK_SEQPACKET pair (SCM_RIGHTS) on which the daemon answers with
 * CALL_REPLY (plus an fd when the call returns one) and the shim may send
 * CALL_INTERRUPT while it waits.
 *
 * Thread channels (URINGD_FEATURE_TRAP_CHANNEL): instead of a pair per call,
 * a thread may make one pair and send its daemon end once, with CHANNEL on
 * the connection. The daemon keeps it: CALLs then come on the channel itself
 * with no fd, CALL_REPLY and CALL_INTERRUPT go the same way, and a call the
 * daemon drops is answered -EINTR rather than by a hang-up. The channel's
 * SO_PEERCRED names the process, as the per-call pair's does.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define URINGD_PROTO_MAGIC 0x646e7275U /* "urnd" in memory order */
#define URINGD_PROTO_VERSION 1

/* Largest message of any version this code understands. */
#define URINGD_MSG_MAX_SIZE 256

enum uringd_msg_type {
        URINGD_MSG_HELLO = 1,
        URINGD_MSG_HELLO_REPLY = 2,
        URINGD_MSG_ATTACH = 3,
        URINGD_MSG_ATTACH_REPLY = 4,
        URINGD_MSG_ERROR = 5,
        /* 16..31: trap mode's forwarded syscalls. */
        URINGD_MSG_CALL = 16,
        URINGD_MSG_CALL_REPLY = 17,
        URINGD_MSG_CALL_INTERRUPT = 18,
        URINGD_MSG_CHANNEL = 19,
        _URINGD_MSG_TYPE_MAX,
};

struct uringd_msg_header {
        uint32_t magic;
        uint16_t version;
        uint16_t type;
        uint32_t size;     /* whole message, header included */
        uint32_t reserved; /* must be 0 */
};

struct uringd_msg_hello {
        struct uringd_msg_header hdr;
        uint32_t pid;      /* sender's pid in its own namespace: for logs only */
        uint32_t flags;    /* must be 0 */
        uint64_t reserved[2];
};

/* Feature bits a daemon announces in HELLO_REPLY. */
#define URINGD_FEATURE_NOTIFY (1ULL << 0) /* serves USER_NOTIF listeners */
#define URINGD_FEATURE_TRAP (1ULL << 1)   /* serves forwarded calls (trap mode) */
#define URINGD_FEATURE_TRAP_CHANNEL (1ULL << 2) /* keeps a thread's reply socket */
#define URINGD_FEATURES_ALL (URINGD_FEATURE_NOTIFY | URINGD_FEATURE_TRAP | URINGD_FEATURE_TRAP_CHANNEL)

struct uringd_msg_hello_reply {
        struct uringd_msg_header hdr;
        int32_t status;    /* 0 or -errno */
        uint32_t reserved0;
        uint64_t features; /* URINGD_FEATURE_* */
        uint64_t reserved[2];
};

enum uringd_attach_mode {
        URINGD_ATTACH_NOTIFY = 1, /* one fd rides along: the seccomp listener */
        URINGD_ATTACH_TRAP = 2,   /* no fd: the connection then carries CALLs */
};

struct uringd_msg_attach {
        struct uringd_msg_header hdr;
        uint32_t mode;     /* enum uringd_attach_mode */
        uint32_t flags;    /* must be 0 */
        uint64_t reserved[2];
};

struct uringd_msg_attach_reply {
        struct uringd_msg_header hdr;
        int32_t status;    /* 0 or -errno */
        uint32_t reserved0;
        uint64_t reserved[2];
};

/*
 * Trap mode: one io_uring syscall caught by the shim's SIGSYS handler. One fd
 * rides along: the daemon's end of the caller's reply socket. The caller's
 * process is the reply socket's SO_PEERCRED; @tid names the thread within it.
 */
struct uringd_msg_call {
        struct uringd_msg_header hdr;
        uint32_t tid;      /* calling thread, in its own pid namespace */
        uint32_t nr;       /* syscall number, native ABI */
        uint64_t args[6];
        uint64_t reserved[2];
};

/* The reply carries an fd: the call returns the number it gets in the app. */
#define URINGD_CALL_REPLY_FD (1U << 0)

struct uringd_msg_call_reply {
        struct uringd_msg_header hdr;
        int64_t val;       /* the syscall's return value: >= 0 or -errno */
        uint32_t flags;    /* URINGD_CALL_REPLY_* */
        uint32_t reserved0;
        uint64_t reserved[2];
};

/* Shim -> daemon on the reply socket: a signal interrupted the caller's wait. */
struct uringd_msg_call_interrupt {
        struct uringd_msg_header hdr;
        uint64_t reserved[2];
};

/* Shim -> daemon on the connection, one fd along: a thread's channel. */
struct uringd_msg_channel {
        struct uringd_msg_header hdr;
        uint64_t reserved[2];
};

#define URINGD_ERROR_MESSAGE_MAX 120

/* Layout frozen for every version: a peer of any version can decode it. */
struct uringd_msg_error {
        struct uringd_msg_header hdr; /* hdr.version: the sender's version */
        int32_t error;     /* -errno */
        uint16_t min_version, max_version; /* versions the sender speaks */
        char message[URINGD_ERROR_MESSAGE_MAX]; /* NUL-terminated */
};

_Static_assert(sizeof(struct uringd_msg_header) == 16, "header layout");
_Static_assert(sizeof(struct uringd_msg_hello) == 40, "hello layout");
_Static_assert(sizeof(struct uringd_msg_hello_reply) == 48, "hello_reply layout");
_Static_assert(sizeof(struct uringd_msg_attach) == 40, "attach layout");
_Static_assert(sizeof(struct uringd_msg_attach_reply) == 40, "attach_reply layout");
_Static_assert(sizeof(struct uringd_msg_error) == 144, "error layout");
_Static_assert(sizeof(struct uringd_msg_call) == 88, "call layout");
_Static_assert(sizeof(struct uringd_msg_call_reply) == 48, "call_reply layout");
_Static_assert(sizeof(struct uringd_msg_call_interrupt) == 32, "call_interrupt layout");
_Static_assert(sizeof(struct uringd_msg_channel) == 32, "channel layout");

/*
 * The probe: a call that only uringd answers with a positive value. The kernel
 * answers any register call on fd -1 with a negative errno.
 *   syscall(__NR_io_uring_register, -1, URINGD_PROBE_OPCODE,
 *           (void *) URINGD_PROBE_COOKIE, URINGD_PROTO_VERSION)
 * returns URINGD_PROBE_ANSWER when uringd serves this process.
 */
#define URINGD_PROBE_OPCODE 0x75726400U
#define URINGD_PROBE_COOKIE 0x75726e67642d7072ULL
#define URINGD_PROBE_ANSWER 0x7572

/*
 * Event loops: poll/select/epoll on a ring fd (preload/evloop*.c). The ring fd
 * is a memfd, always "ready"; the shim waits on an eventfd of the ring instead.
 *   syscall(__NR_io_uring_register, ring_fd, URINGD_EVLOOP_OPCODE,
 *           &info, sizeof(info))
 * fills @info and returns a new fd (O_CLOEXEC) of the ring's eventfd, which
 * uringd signals after it posts CQEs (coalesced) and when the ring dies;
 * -EOPNOTSUPP when @ring_fd is not a uringd ring. The offsets are into the
 * ring's memfd; the words at state_off are written by uringd only.
 */
#define URINGD_EVLOOP_OPCODE 0x75726401U

struct uringd_evloop_info {
        uint32_t size;          /* sizeof(struct uringd_evloop_info), from uringd */
        uint32_t sq_entries;
        uint32_t cq_entries;
        uint32_t reserved0;
        uint64_t sq_head_off, sq_tail_off, sq_flags_off;
        uint64_t cq_head_off, cq_tail_off;
        uint64_t state_off;     /* uint32_t: URINGD_EVLOOP_STATE_* */
        uint64_t reserved[2];
};

#define URINGD_EVLOOP_STATE_DEAD (1U << 0)  /* the app released the ring */
#define URINGD_EVLOOP_STATE_WORK (1U << 1)  /* DEFER_TASKRUN completions wait */

_Static_assert(sizeof(struct uringd_evloop_info) == 80, "evloop info layout");

/* Environment: where the daemon listens, and debug output of the shim. */
#define URINGD_ENV_SOCKET "URINGD_SOCKET"
#define URINGD_ENV_DEBUG "URINGD_DEBUG"
#define URINGD_ENV_DISABLE "URINGD_DISABLE"
#define URINGD_ENV_MODE "URINGD_MODE" /* auto (default), notify or trap */

/* Default socket: $XDG_RUNTIME_DIR/uringd/socket. */
#define URINGD_SOCKET_DIR "uringd"
#define URINGD_SOCKET_NAME "socket"

/* Initialise a header for a message of @type and @size. */
void uringd_msg_init(struct uringd_msg_header *hdr, uint16_t type, uint32_t size);

/* Expected size of a version-1 message of @type, or 0 for unknown types. */
size_t uringd_msg_size(uint16_t type);

/*
 * Validate a received packet of @len bytes: header, version, size and every
 * reserved field of its type. Returns 0, or a negative errno:
 *   -EBADMSG        wrong magic, truncated, size mismatch, reserved bits set
 *   -EPROTONOSUPPORT another protocol version (header otherwise sound)
 *   -EOPNOTSUPP     unknown message type
 * On failure *ret_reason, when given, points at a static description.
 */
int uringd_msg_validate(const void *buf, size_t len, const char **ret_reason);

/* Fill an ERROR message. @fmt may be NULL. */
void uringd_msg_error_init(struct uringd_msg_error *m, int error, const char *message);

/* Resolve the socket path: $URINGD_SOCKET, else $XDG_RUNTIME_DIR/uringd/socket,
 * else /run/user/<uid>/uringd/socket. Returns 0 or -ENAMETOOLONG. */
int uringd_socket_path(char *buf, size_t size);

/* Send one message, with an optional fd (SCM_RIGHTS). Returns 0 or -errno. */
int uringd_msg_send(int sock, const void *msg, size_t size, int fd);
/* The same with extra sendmsg() @flags (MSG_DONTWAIT). */
int uringd_msg_sendf(int sock, const void *msg, size_t size, int fd, int flags);

/* Receive one message into @buf (at least URINGD_MSG_MAX_SIZE bytes).
 * A passed fd lands in *ret_fd (O_CLOEXEC), else -1. Returns the byte count
 * or -errno; 0 means the peer closed. Extra fds are closed, never leaked. */
ssize_t uringd_msg_recv(int sock, void *buf, size_t size, int *ret_fd);
/* The same with extra recvmsg() @flags (MSG_DONTWAIT). */
ssize_t uringd_msg_recvf(int sock, void *buf, size_t size, int *ret_fd, int flags);
