/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "call.h"
#include "client.h"
#include "enter.h"
#include "log.h"
#include "manager.h"
#include "register.h"
#include "task.h"
#include "trap.h"
#include "uringd-proto.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

void trap_tasks_flush(struct client *c) {
        io_task_cache_flush(&c->trap_tasks);
}

static int pidns_ino(const char *path, ino_t *ret) {
        struct stat st;

        if (stat(path, &st) < 0)
                return negative_errno();
        *ret = st.st_ino;
        return 0;
}

/* The last number of a "NSpid:" line: the thread's id in its own namespace. */
static pid_t status_own_tid(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[256];

        if (!f)
                return -ESRCH;
        while (fgets(line, sizeof(line), f)) {
                char *p = line + strlen("NSpid:"), *last = NULL;
                if (strncmp(line, "NSpid:", strlen("NSpid:")) != 0)
                        continue;
                for (char *tok = strtok(p, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
                        last = tok;
                return last ? (pid_t) atoi(last) : -ESRCH;
        }
        return -ESRCH;
}

/*
 * @app_tid names a thread of @tgid in the caller's own pid namespace; we need
 * its number in ours. The same namespace (the common case) costs one stat();
 * another one (unshare --pid) a scan of the process's threads.
 */
static pid_t resolve_tid(pid_t tgid, pid_t app_tid) {
        static ino_t our_ns;
        char path[64];
        ino_t ns;
        int r;

        if (app_tid <= 0)
                return -ESRCH;
        if (our_ns == 0 && pidns_ino("/proc/self/ns/pid", &our_ns) < 0)
                our_ns = (ino_t) -1;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) tgid);
        r = pidns_ino(path, &ns);
        if (r < 0)
                return -ESRCH;
        if (ns == our_ns)
                return app_tid;

        snprintf(path, sizeof(path), "/proc/%d/task", (int) tgid);
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return -ESRCH;
        for (struct dirent *de; (de = readdir(d));) {
                char status[128];
                pid_t tid = (pid_t) atoi(de->d_name);

                if (tid <= 0)
                        continue;
                snprintf(status, sizeof(status), "/proc/%d/task/%d/status", (int) tgid, (int) tid);
                if (status_own_tid(status) == app_tid)
                        return tid;
        }
        return -ESRCH;
}

/* The handle of the calling thread: @tgid from the reply socket, @app_tid as
 * the caller says. A claim about a thread outside @tgid is refused. */
static int trap_get_task(struct client *c, pid_t tgid, pid_t app_tid, struct io_task **ret) {
        uint64_t key = ((uint64_t) tgid << 32) | (uint32_t) app_tid;
        struct io_task *t = io_task_cache_get(&c->trap_tasks, key);
        pid_t tid;
        int r;

        if (t) {
                *ret = t;
                return 0;
        }

        tid = resolve_tid(tgid, app_tid);
        if (tid < 0)
                return tid;
        r = io_task_new(tid, &t);
        if (r < 0)
                return r;
        /* Read after the pidfd pinned it: the thread is (still) the caller's. */
        if (io_task_tgid(t) != tgid) {
                io_task_unref(t);
                return -ESRCH;
        }
        io_task_cache_add(&c->trap_tasks, key, t);
        *ret = t;
        return 0;
}

int trap_reply(struct io_call *call, int64_t val, int fd) {
        struct uringd_msg_call_reply m;
        int r;

        if (call->reply_fd < 0)
                return -ENOENT;
        uringd_msg_init(&m.hdr, URINGD_MSG_CALL_REPLY, sizeof(m));
        m.val = fd >= 0 ? 0 : val;
        m.flags = fd >= 0 ? URINGD_CALL_REPLY_FD : 0;
        /* Never block: the caller owns the other end and could have filled it. */
        r = uringd_msg_sendf(call->reply_fd, &m, sizeof(m), fd, MSG_DONTWAIT);
        if (call->client->channel)
                call->reply_fd = -1;    /* the channel's, not the call's */
        else
                call->reply_fd = safe_close(call->reply_fd);
        return r < 0 ? -ENOENT : 0;
}

int trap_read_interrupt(struct io_call *call) {
        uint8_t buf[URINGD_MSG_MAX_SIZE];
        const struct uringd_msg_header *hdr = (const void *) buf;
        ssize_t n;

        n = uringd_msg_recvf(call->reply_fd, buf, sizeof(buf), NULL, MSG_DONTWAIT);
        if (n <= 0 || uringd_msg_validate(buf, (size_t) n, NULL) < 0 || hdr->type != URINGD_MSG_CALL_INTERRUPT)
                return -ENOENT;
        return 0;
}

/*
 * The process that made @sock, as our namespace sees it, if it is our
 * user's and alive; else 0. SO_PEERCRED gives a number, which a process
 * made later may hold once the maker is gone: its pidfd (SO_PEERPIDFD,
 * 6.5+) tells whether the maker still lives. With @ret_pidfd, the pidfd is
 * handed over (-1 on older kernels).
 */
static pid_t socket_maker(int sock, int *ret_pidfd) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int pidfd = -1;

        if (ret_pidfd)
                *ret_pidfd = -1;
        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0 ||
            cred.uid != geteuid())
                return 0;
        len = sizeof(pidfd);
        if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
                if (errno != ENOPROTOOPT)
                        return 0; /* ESRCH: the maker is gone */
                return cred.pid;
        }
        if (!io_pidfd_alive(pidfd)) {
                safe_close(pidfd);
                return 0;
        }
        if (ret_pidfd)
                *ret_pidfd = pidfd;
        else
                safe_close(pidfd);
        return cred.pid;
}

/*
 * One CALL: answered on @reply_fd, a per-call reply socket of ours (closed
 * when the call ends) or, on a thread channel, the channel itself. The
 * caller's process is the socket's maker: a per-call pair's is read now, a
 * channel's when it came.
 */
static void trap_call(struct client *c, const struct uringd_msg_call *m, int reply_fd) {
        _cleanup_(io_task_unrefp) struct io_task *t = NULL;
        struct io_call call = {
                .client = c,
                .reply_fd = reply_fd,
                .nr = (int) m->nr,
        };
        pid_t tgid = c->channel ? c->pid : socket_maker(reply_fd, NULL);
        int r;

        memcpy(call.args, m->args, sizeof(call.args));

        if (tgid <= 0) {
                log_debug("Trap-mode client pid %d sent a call without a usable reply socket.", (int) c->pid);
                io_call_drop(&call);
                return;
        }
        if (io_call_is_probe(&call)) {
                io_call_respond(&call, URINGD_PROBE_ANSWER, 0);
                return;
        }

        r = trap_get_task(c, tgid, (pid_t) m->tid, &t);
        if (r < 0) {
                io_call_respond(&call, 0, r == -ESRCH ? -EINTR : r);
                return;
        }
        call.tid = t->tid;
        /* A new call from a waiting thread: a signal handler interrupted
         * the wait and calls again from within it. */
        io_waiter_drop_stale(c->manager, call.tid);
        io_call_serve(&call, t);
}

/* The channel's process has exited: whoever holds a copy of its end now
 * (a child it forked) cannot speak for it, and a process that gets its
 * number later must not be served through it. */
static int on_channel_maker_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *c = userdata;

        log_debug("Trap-mode channel of pid %d: its process has exited.", (int) c->pid);
        client_free(c);
        return 0;
}

/* CHANNEL on a connection: serve the thread's channel @fd as a client of its
 * own. Refused (closed) when it is not our user's or we have too many: the
 * shim then takes a pair per call. */
static void trap_channel_new(struct client *conn, int fd) {
        struct client *ch;
        int pidfd = -1;
        pid_t maker = socket_maker(fd, &pidfd);

        if (maker <= 0 || client_new(conn->manager, CLIENT_TRAP, fd, maker, &ch) < 0) {
                log_debug("Refused a thread channel on the connection of pid %d.", (int) conn->pid);
                safe_close(pidfd);
                safe_close(fd);
                return;
        }
        ch->channel = true;
        ch->maker_pidfd = pidfd;
        /* Before the channel's calls in the same iteration (NORMAL + 2). */
        if (pidfd >= 0 &&
            (sd_event_add_io(conn->manager->event, &ch->maker_source, pidfd, EPOLLIN, on_channel_maker_exit, ch) < 0 ||
             sd_event_source_set_priority(ch->maker_source, SD_EVENT_PRIORITY_NORMAL) < 0)) {
                log_debug("Refused a thread channel of pid %d: cannot watch its process.", (int) maker);
                client_free(ch);
        }
}

int on_trap_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *c = userdata;
        union {
                struct uringd_msg_header hdr;
                struct uringd_msg_call call;
                uint8_t buf[URINGD_MSG_MAX_SIZE];
        } in;
        const char *reason = "unexpected";
        int passed = -1;
        ssize_t n;

        if (!(revents & EPOLLIN))
                goto gone;
        n = uringd_msg_recvf(c->fd, in.buf, sizeof(in.buf), &passed, MSG_DONTWAIT);
        if (n == -EAGAIN || n == -EINTR)
                return 0;
        if (n <= 0)
                goto gone;
        if (uringd_msg_validate(in.buf, (size_t) n, &reason) < 0)
                goto bad;
        /* A connection carries CALLs with a reply socket and CHANNELs; a
         * channel carries CALLs without, and CALL_INTERRUPT. */
        switch (in.hdr.type) {
        case URINGD_MSG_CALL:
                if ((passed >= 0) == c->channel)
                        goto bad;
                trap_call(c, &in.call, c->channel ? c->fd : passed);
                break;
        case URINGD_MSG_CHANNEL:
                if (c->channel || passed < 0)
                        goto bad;
                trap_channel_new(c, passed);
                return 0;
        case URINGD_MSG_CALL_INTERRUPT:
                /* Late (the call was answered) or early: nothing waits. */
                if (!c->channel || passed >= 0)
                        goto bad;
                io_waiters_interrupt_client(c);
                break;
        default:
                goto bad;
        }
        manager_process_wakes(c->manager);
        return 0;

bad:
        /* A hostile client only loses its own connection or channel. */
        log_debug("Trap-mode client pid %d sent a bad message (%s).", (int) c->pid, reason);
        safe_close(passed);
gone:
        log_debug("Trap-mode %s of pid %d closed.", c->channel ? "channel" : "connection", (int) c->pid);
        client_free(c);
        return 0;
}
