/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client.h"
#include "enter.h"
#include "log.h"
#include "manager.h"
#include "notify.h"
#include "register.h"
#include "setup.h"
#include "task.h"
#include "trap.h"
#include "uringd-proto.h"
#include "uringd/macro.h"
#include "uringd/seccomp.h"

#define HANDSHAKE_TIMEOUT_USEC (10ULL * 1000000ULL)

/* ---- calls: one answer per call, through its transport ---- */

void io_call_respond(struct io_call *call, int64_t val, int error) {
        struct client *c = call->client;
        int r;

        if (c->kind == CLIENT_TRAP) {
                trap_reply(call, error ? error : val, -1);
                return;
        }
        r = notify_respond(c->fd, call->id, val, error);
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "Failed to answer notification %llu of pid %d: %m",
                                (unsigned long long) call->id, (int) c->pid);
}

int io_call_respond_fd(struct io_call *call, int fd) {
        struct client *c = call->client;
        int r;

        if (c->kind == CLIENT_TRAP)
                return trap_reply(call, 0, fd);
        r = notify_addfd_send(c->fd, call->id, fd, O_CLOEXEC);
        return r < 0 ? r : 0;
}

void io_call_drop(struct io_call *call) {
        /* A notification simply stays unanswered: its caller was interrupted.
         * A per-call reply socket is closed: the caller reads EINTR in that.
         * A thread's channel stays open, so it is told. */
        if (call->client->channel)
                (void) trap_reply(call, -EINTR, -1);
        else
                call->reply_fd = safe_close(call->reply_fd);
}

void io_call_move(struct io_call *dst, struct io_call *src) {
        *dst = *src;
        src->reply_fd = -1;
}

void io_call_serve(struct io_call *call, struct io_task *t) {
        switch (call->nr) {
        case __NR_io_uring_setup:
                io_uring_setup_handler(call, t);
                break;
        case __NR_io_uring_enter:
                io_uring_enter_handler(call, t);
                break;
        case __NR_io_uring_register:
                io_uring_register_handler(call, t);
                break;
        default:
                io_call_respond(call, 0, -ENOSYS);
                break;
        }
}

/* ---- clients: serving a seccomp listener ---- */

static void client_dispatch(struct client *c, const struct seccomp_notif *n) {
        struct manager *m = c->manager;
        _cleanup_(io_task_unrefp) struct io_task *t = NULL;
        struct io_call call = {
                .client = c,
                .id = n->id,
                .reply_fd = -1,
                .tid = (pid_t) n->pid,
                .nr = n->data.nr,
        };
        int r;

        memcpy(call.args, n->data.args, sizeof(call.args));

        /* A thread is in one syscall at a time: an older wait of this thread
         * was interrupted by a signal. */
        io_waiter_drop_stale(m, call.tid);

        if (n->data.arch != URINGD_NATIVE_AUDIT_ARCH) {
                io_call_respond(&call, 0, -ENOSYS);
                return;
        }
        if (io_call_is_probe(&call)) {
                io_call_respond(&call, URINGD_PROBE_ANSWER, 0);
                return;
        }

        r = manager_get_task(m, c->fd, n->id, call.tid, &t);
        if (r == -ENOENT)
                return; /* the call is gone */
        if (r < 0) {
                io_call_respond(&call, 0, r == -ESRCH ? -EINTR : r);
                return;
        }
        io_call_serve(&call, t);
}

static int on_listener(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *c = userdata;
        struct seccomp_notif n;
        int r;

        if (revents & EPOLLIN) {
                r = notify_recv(c->fd, &n);
                if (r == 0) {
                        client_dispatch(c, &n);
                        manager_process_wakes(c->manager);
                        return 0;
                }
                if (r == -ENOENT || r == -EINTR)
                        return 0; /* the call vanished before we took it */
                log_debug_errno(r, "Failed to receive a notification from pid %d: %m", (int) c->pid);
        }
        {
                log_debug("Listener of pid %d closed: every task under it has exited.", (int) c->pid);
                client_free(c);
        }
        return 0;
}

int client_new(struct manager *m, enum client_kind kind, int fd, pid_t pid, struct client **ret) {
        struct client *c;
        int r;

        if (m->nr_clients >= MANAGER_MAX_CLIENTS)
                return -EMFILE;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->kind = kind;
        c->fd = fd;
        c->pid = pid;
        c->maker_pidfd = -1;
        list_init(&c->waiters);

        r = sd_event_add_io(m->event, &c->source, fd, EPOLLIN,
                            kind == CLIENT_TRAP ? on_trap_connection : on_listener, c);
        if (r < 0) {
                free(c);
                return r;
        }
        /* Calls come last in an iteration: a file that became ready, a timer
         * that fired, and the task work they left (NORMAL + 1) are posted
         * before a call that was made after them looks at the ring, as the
         * kernel posts a poll's CQE in the waker's write(). */
        (void) sd_event_source_set_priority(c->source, SD_EVENT_PRIORITY_NORMAL + 2);
        /* Answered threads then run on the answering CPU: ~5 µs per round
         * trip instead of ~50 on these VMs. Kernels before 6.6 lack it. */
        if (kind == CLIENT_NOTIFY) {
                r = notify_set_sync_wakeup(fd);
                if (r < 0)
                        log_debug_errno(r, "Listener of pid %d without SYNC_WAKE_UP: %m", (int) pid);
        }

        list_add_tail(&c->node, &m->clients);
        m->nr_clients++;
        if (ret)
                *ret = c;
        return 0;
}

void client_free(struct client *c) {
        if (!c)
                return;
        io_waiters_drop_client(c);
        trap_tasks_flush(c);
        sd_event_source_disable_unref(c->source);
        sd_event_source_disable_unref(c->maker_source);
        safe_close(c->maker_pidfd);
        safe_close(c->fd);
        list_del_init(&c->node);
        c->manager->nr_clients--;
        free(c);
}

/* ---- connections: the handshake ---- */

static int connection_send_error(struct connection *conn, int error, const char *message) {
        struct uringd_msg_error e;

        uringd_msg_error_init(&e, error, message);
        return uringd_msg_send(conn->fd, &e, sizeof(e), -1);
}

static bool fd_is_seccomp_listener(int fd) {
        char path[64], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return false;
        target[n] = 0;
        return strcmp(target, "anon_inode:seccomp notify") == 0;
}

/*
 * Trap mode: the connection's socket becomes the client and carries CALLs
 * from now on. Returns -ECONNABORTED on success: the handshake is over and
 * the caller frees the connection, whose socket has moved.
 */
static int connection_attach_trap(struct connection *conn, int passed) {
        struct uringd_msg_attach_reply reply;
        int r;

        if (passed >= 0) {
                safe_close(passed);
                connection_send_error(conn, -EBADMSG, "ATTACH in trap mode carries no fd");
                return -EBADMSG;
        }
        uringd_msg_init(&reply.hdr, URINGD_MSG_ATTACH_REPLY, sizeof(reply));
        /* One watch per fd in an epoll set: the client's replaces ours. */
        conn->source = sd_event_source_disable_unref(conn->source);
        r = client_new(conn->manager, CLIENT_TRAP, conn->fd, conn->pid, NULL);
        if (r < 0) {
                log_warning_errno(r, "Failed to serve pid %d in trap mode: %m", (int) conn->pid);
                reply.status = r;
                (void) uringd_msg_send(conn->fd, &reply, sizeof(reply), -1);
                return r;
        }
        reply.status = 0;
        r = uringd_msg_send(conn->fd, &reply, sizeof(reply), -1);
        /* The socket is the client's now, answered or not (it then hangs up). */
        conn->fd = -1;
        log_debug("Serving io_uring for pid %d in trap mode.", (int) conn->pid);
        return r < 0 ? r : -ECONNABORTED;
}

static int connection_handle(struct connection *conn, const void *buf, size_t len, int fd) {
        _cleanup_close_ int passed = fd;
        const struct uringd_msg_header *hdr = buf;
        const char *reason = NULL;
        int r;

        r = uringd_msg_validate(buf, len, &reason);
        if (r == -EPROTONOSUPPORT) {
                char msg[URINGD_ERROR_MESSAGE_MAX];
                snprintf(msg, sizeof(msg), "uringd speaks protocol version %d, the client sent version %u",
                         URINGD_PROTO_VERSION, (unsigned) hdr->version);
                log_notice("Client pid %d: %s.", (int) conn->pid, msg);
                connection_send_error(conn, r, msg);
                return r;
        }
        if (r < 0) {
                /* The client hears why; a hostile one must not flood our log. */
                log_debug("Client pid %d sent a bad message: %s.", (int) conn->pid, reason);
                connection_send_error(conn, r, reason);
                return r;
        }

        switch (hdr->type) {
        case URINGD_MSG_HELLO: {
                struct uringd_msg_hello_reply reply;

                if (conn->state != CONNECTION_HELLO)
                        break;
                uringd_msg_init(&reply.hdr, URINGD_MSG_HELLO_REPLY, sizeof(reply));
                reply.status = 0;
                reply.features = URINGD_FEATURES_ALL;
                conn->state = CONNECTION_ATTACH;
                return uringd_msg_send(conn->fd, &reply, sizeof(reply), -1);
        }
        case URINGD_MSG_ATTACH: {
                const struct uringd_msg_attach *a = buf;
                struct uringd_msg_attach_reply reply;

                /* Trap mode may follow a listener (a fallback of the shim). */
                if (a->mode == URINGD_ATTACH_TRAP && conn->state != CONNECTION_HELLO)
                        return connection_attach_trap(conn, TAKE_FD(passed));
                if (conn->state != CONNECTION_ATTACH)
                        break;
                uringd_msg_init(&reply.hdr, URINGD_MSG_ATTACH_REPLY, sizeof(reply));
                if (passed < 0 || !fd_is_seccomp_listener(passed)) {
                        connection_send_error(conn, -EBADF, "ATTACH must carry a seccomp listener fd");
                        return -EBADF;
                }
                r = client_new(conn->manager, CLIENT_NOTIFY, passed, conn->pid, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to serve the listener of pid %d: %m", (int) conn->pid);
                else {
                        TAKE_FD(passed);
                        log_debug("Serving io_uring for pid %d.", (int) conn->pid);
                }
                reply.status = r < 0 ? r : 0;
                conn->state = CONNECTION_DONE;
                return uringd_msg_send(conn->fd, &reply, sizeof(reply), -1);
        }
        }

        connection_send_error(conn, -EBADMSG, "message out of sequence");
        return -EBADMSG;
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct connection *conn = userdata;
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        int passed = -1;

        if (revents & EPOLLIN) {
                ssize_t n = uringd_msg_recv(conn->fd, buf, sizeof(buf), &passed);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n > 0 && connection_handle(conn, buf, (size_t) n, passed) >= 0)
                        return 0;
                /* -ECONNABORTED: the socket moved to a trap-mode client. */
                if (n < 0 && n != -ECONNRESET)
                        log_debug_errno((int) n, "Failed to read from client pid %d: %m", (int) conn->pid);
        }
        connection_free(conn);
        return 0;
}

static int on_connection_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct connection *conn = userdata;

        if (conn->state != CONNECTION_DONE)
                log_debug("Client pid %d did not finish the handshake in time.", (int) conn->pid);
        connection_free(conn);
        return 0;
}

int connection_new(struct manager *m, int fd) {
        _cleanup_close_ int sock = fd;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct connection *conn;
        int r;

        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return log_warning_errno(negative_errno(), "Failed to get peer credentials: %m");
        if (cred.uid != geteuid()) {
                log_warning("Refusing client pid %d of uid %u: uringd serves uid %u only.",
                            (int) cred.pid, (unsigned) cred.uid, (unsigned) geteuid());
                return -EPERM;
        }
        if (m->nr_connections >= MANAGER_MAX_CONNECTIONS)
                return log_warning_errno(-EMFILE, "Too many handshakes in progress, refusing pid %d.",
                                         (int) cred.pid);

        conn = calloc(1, sizeof(*conn));
        if (!conn)
                return log_oom();
        conn->manager = m;
        conn->fd = TAKE_FD(sock);
        conn->pid = cred.pid;
        conn->state = CONNECTION_HELLO;
        list_add_tail(&conn->node, &m->connections);
        m->nr_connections++;

        r = sd_event_add_io(m->event, &conn->source, conn->fd, EPOLLIN, on_connection, conn);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &conn->timeout, CLOCK_MONOTONIC,
                                               HANDSHAKE_TIMEOUT_USEC, 0, on_connection_timeout, conn);
        if (r < 0) {
                connection_free(conn);
                return log_error_errno(r, "Failed to watch a client connection: %m");
        }
        return 0;
}

void connection_free(struct connection *conn) {
        if (!conn)
                return;
        sd_event_source_disable_unref(conn->source);
        sd_event_source_disable_unref(conn->timeout);
        safe_close(conn->fd);
        list_del_init(&conn->node);
        conn->manager->nr_connections--;
        free(conn);
}
