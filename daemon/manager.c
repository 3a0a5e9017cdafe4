/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "client.h"
#include "enter.h"
#include "eventfd.h"
#include "io-poll.h"
#include "log.h"
#include "evloop.h"
#include "manager.h"
#include "notify.h"
#include "task.h"
#include "req.h"
#include "ring.h"
#include "sqpoll.h"
#include "submit.h"
#include "timeout.h"
#include "uringd/macro.h"

__thread bool in_event_loop;

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct manager *m = userdata;

        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(negative_errno(), "Failed to accept a connection: %m");
                        return 0;
                }
                (void) connection_new(m, c);
        }
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct manager *m = userdata;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;

        for (;;) {
                ssize_t n = read(fd, u.buf, sizeof(u.buf));
                if (n <= 0)
                        return 0;
                for (char *p = u.buf; p < u.buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) p;
                        p += sizeof(*ev) + ev->len;
                        if (!(ev->mask & IN_CLOSE_WRITE))
                                continue;
                        struct io_ring_ctx *ctx = hashmap_get(&m->rings_by_wd, (uint64_t) ev->wd);
                        if (ctx) {
                                log_debug("Ring %llu released by the app.", (unsigned long long) ctx->ino);
                                io_ring_ctx_kill(ctx);
                        }
                }
        }
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct manager *m = userdata;
        uint64_t v;

        (void) !read(fd, &v, sizeof(v));
        manager_process_wakes(m);
        return 0;
}

/*
 * A timer or poll callback that completed a request leaves task work and
 * waiters to wake behind it: they run from this defer source, armed when
 * work is queued on the loop, at a priority below the other sources so that
 * everything that became ready together runs first (two timeouts that fire
 * together both post before the links they break, as with the kernel's
 * hrtimers and task work). Not a post source: that is marked pending after
 * every dispatch, costing a second iteration (an epoll_wait()) per trapped
 * call, even when the call already ran the queue itself.
 */
static int on_wakes_pending(sd_event_source *s, void *userdata) {
        manager_process_wakes(userdata);
        return 0;
}

static void manager_arm_wakes(struct manager *m) {
        if (in_event_loop && !m->wakes_armed) {
                m->wakes_armed = true;
                (void) sd_event_source_set_enabled(m->wakes_source, SD_EVENT_ONESHOT);
        }
}

void manager_queue_wake(struct manager *m, struct io_ring_ctx *ctx) {
        bool was_empty;

        pthread_mutex_lock(&m->wake_lock);
        if (ctx->wake_queued) {
                pthread_mutex_unlock(&m->wake_lock);
                return;
        }
        was_empty = list_empty(&m->wake_list) && list_empty(&m->task_list);
        ctx->wake_queued = true;
        io_ring_ctx_ref(ctx);
        list_add_tail(&ctx->wake_node, &m->wake_list);
        pthread_mutex_unlock(&m->wake_lock);

        /* The event loop runs the queue after each call it handles. */
        manager_arm_wakes(m);
        if (!in_event_loop && was_empty) {
                uint64_t one = 1;
                (void) !write(m->wake_fd, &one, sizeof(one));
        }
}

void manager_queue_task_work(struct manager *m, struct io_kiocb *req) {
        bool was_empty;

        pthread_mutex_lock(&m->wake_lock);
        was_empty = list_empty(&m->task_list) && list_empty(&m->wake_list);
        list_add_tail(&req->work_node, &m->task_list);
        pthread_mutex_unlock(&m->wake_lock);

        manager_arm_wakes(m);
        if (!in_event_loop && was_empty) {
                uint64_t one = 1;
                (void) !write(m->wake_fd, &one, sizeof(one));
        }
}

void manager_process_wakes(struct manager *m) {
        /* Issuing task work completes requests, which queues more of both:
         * go on until the lists stay empty. */
        for (;;) {
                struct list_head wakes, tasks;

                list_init(&wakes);
                list_init(&tasks);
                pthread_mutex_lock(&m->wake_lock);
                list_splice_tail_init(&m->wake_list, &wakes);
                list_splice_tail_init(&m->task_list, &tasks);
                pthread_mutex_unlock(&m->wake_lock);
                if (list_empty(&wakes) && list_empty(&tasks)) {
                        /* Drained: no iteration of its own needed. */
                        if (in_event_loop && m->wakes_armed) {
                                m->wakes_armed = false;
                                (void) sd_event_source_set_enabled(m->wakes_source, SD_EVENT_OFF);
                        }
                        return;
                }

                while (!list_empty(&tasks)) {
                        struct io_kiocb *req = list_first_entry(&tasks, struct io_kiocb, work_node);
                        list_del_init(&req->work_node);
                        io_req_task_submit(req);
                }

                while (!list_empty(&wakes)) {
                        struct io_ring_ctx *ctx = list_first_entry(&wakes, struct io_ring_ctx, wake_node);

                        pthread_mutex_lock(&m->wake_lock);
                        list_del_init(&ctx->wake_node);
                        ctx->wake_queued = false;
                        pthread_mutex_unlock(&m->wake_lock);

                        if (!ctx->dead) {
                                io_flush_timeouts(ctx);
                                io_ring_flush_deferred(ctx);
                                io_cqring_wake(ctx);
                                io_ring_poll_wake(ctx);
                                /* After the waiters: reaping held CQEs may
                                 * have posted some. */
                                io_eventfd_flush(ctx);
                                io_evloop_flush(ctx);
                        }
                        io_ring_ctx_unref(ctx);
                }
        }
}

int manager_ring_add(struct manager *m, struct io_ring_ctx *ctx) {
        int r = hashmap_put(&m->rings_by_ino, ctx->ino, ctx);
        if (r < 0)
                return r;
        r = hashmap_put(&m->rings_by_wd, (uint64_t) ctx->inotify_wd, ctx);
        if (r < 0) {
                hashmap_remove(&m->rings_by_ino, ctx->ino);
                return r;
        }
        list_add_tail(&ctx->ring_node, &m->rings);
        m->nr_rings++;
        return 0;
}

void manager_ring_remove(struct manager *m, struct io_ring_ctx *ctx) {
        if (hashmap_get(&m->rings_by_ino, ctx->ino) != ctx)
                return;
        hashmap_remove(&m->rings_by_ino, ctx->ino);
        hashmap_remove(&m->rings_by_wd, (uint64_t) ctx->inotify_wd);
        list_del_init(&ctx->ring_node);
        m->nr_rings--;
}

struct io_ring_ctx *manager_ring_by_ino(struct manager *m, uint64_t ino) {
        return hashmap_get(&m->rings_by_ino, ino);
}

int manager_get_task(struct manager *m, int listener, uint64_t id, pid_t tid, struct io_task **ret) {
        struct io_task *t;
        int r;

        /* Cached: no new pidfd, no ID_VALID round. */
        t = io_task_cache_get(&m->tasks_by_tid, (uint64_t) tid);
        if (t) {
                *ret = t;
                return 0;
        }

        r = io_task_new(tid, &t);
        if (r < 0)
                return r;
        /* The pidfd pins the task that made this call, unless the call
         * already went away (and the tid might be someone else's). */
        if (!notify_id_valid(listener, id)) {
                io_task_unref(t);
                return -ENOENT;
        }
        io_task_cache_add(&m->tasks_by_tid, (uint64_t) tid, t);
        *ret = t;
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct manager *m = userdata;

        log_debug("Received signal %u, exiting.", si->ssi_signo);
        return sd_event_exit(m->event, 0);
}

int manager_new(struct manager **ret) {
        struct manager *m;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->listen_fd = m->inotify_fd = m->wake_fd = -1;
        list_init(&m->connections);
        list_init(&m->clients);
        list_init(&m->wake_list);
        list_init(&m->task_list);
        list_init(&m->rings);
        list_init(&m->sqpoll_rings);
        pthread_mutex_init(&m->wake_lock, NULL);
        in_event_loop = true;

        /* Not sd_event_default(): that one calls gettid() on every
         * iteration to check its thread, a syscall per trapped call. */
        r = sd_event_new(&m->event);
        if (r < 0)
                goto fail;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m)) < 0)
                goto fail;
        /* A client that hangs up mid-reply must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (m->inotify_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(m->event, &m->inotify_source, m->inotify_fd, EPOLLIN, on_inotify, m);
        if (r < 0)
                goto fail;
        /* Ring releases first: a released ring's waiters go before new calls. */
        (void) sd_event_source_set_priority(m->inotify_source, SD_EVENT_PRIORITY_IMPORTANT);

        m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (m->wake_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(m->event, &m->wake_source, m->wake_fd, EPOLLIN, on_wake, m);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(m->event, &m->wakes_source, on_wakes_pending, m);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_priority(m->wakes_source, SD_EVENT_PRIORITY_NORMAL + 1);
        (void) sd_event_source_set_enabled(m->wakes_source, SD_EVENT_OFF);

        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

static int socket_prepare_path(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return negative_errno();
        }
        /* A stale socket of a dead daemon is removed; a live one is not. */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return -EADDRINUSE;
        (void) unlink(path);
        return 0;
}

int manager_startup(struct manager *m, const char *socket_path) {
        int n, r;

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to read passed file descriptors: %m");
        if (n > 1)
                return log_error_errno(-EINVAL, "Expected one socket from the service manager, got %d.", n);

        if (n == 1) {
                m->listen_fd = SD_LISTEN_FDS_START;
                if (sd_is_socket(m->listen_fd, AF_UNIX, SOCK_SEQPACKET, 1) <= 0)
                        return log_error_errno(-EINVAL, "The passed socket is not a listening AF_UNIX SOCK_SEQPACKET socket.");
                (void) fcntl(m->listen_fd, F_SETFD, FD_CLOEXEC);
                (void) fcntl(m->listen_fd, F_SETFL, fcntl(m->listen_fd, F_GETFL) | O_NONBLOCK);
                log_debug("Using the socket passed by the service manager.");
        } else {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };

                if (strlen(socket_path) >= sizeof(sa.sun_path))
                        return log_error_errno(-ENAMETOOLONG, "Socket path too long: %s", socket_path);
                r = socket_prepare_path(socket_path);
                if (r == -EADDRINUSE)
                        return log_error_errno(r, "Another uringd already listens on %s.", socket_path);
                if (r < 0)
                        return log_error_errno(r, "Failed to prepare %s: %m", socket_path);
                strcpy(sa.sun_path, socket_path);

                m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (m->listen_fd < 0)
                        return log_error_errno(negative_errno(), "Failed to create socket: %m");
                mode_t old = umask(0077);
                r = bind(m->listen_fd, (struct sockaddr *) &sa, sizeof(sa));
                umask(old);
                if (r < 0)
                        return log_error_errno(negative_errno(), "Failed to bind %s: %m", socket_path);
                m->socket_bound_here = true;
                if (listen(m->listen_fd, SOMAXCONN) < 0)
                        return log_error_errno(negative_errno(), "Failed to listen on %s: %m", socket_path);
        }
        if (socket_path) {
                m->socket_path = strdup(socket_path);
                if (!m->socket_path)
                        return log_oom();
        }

        r = sd_event_add_io(m->event, &m->listen_source, m->listen_fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the socket: %m");

        log_info("Listening on %s.", socket_path ? socket_path : "the passed socket");
        return 0;
}

int manager_run(struct manager *m) {
        for (;;) {
                bool poll_sq = io_sqpoll_sweep(m);
                int r = sd_event_run(m->event, poll_sq ? 0 : UINT64_MAX);
                if (r < 0)
                        return r;
                io_task_loop_pass();
                if (sd_event_get_state(m->event) == SD_EVENT_FINISHED)
                        break;
        }
        int code = 0;
        (void) sd_event_get_exit_code(m->event, &code);
        return code;
}

struct manager *manager_free(struct manager *m) {
        if (!m)
                return NULL;

        while (!list_empty(&m->connections))
                connection_free(list_first_entry(&m->connections, struct connection, node));
        while (!list_empty(&m->clients))
                client_free(list_first_entry(&m->clients, struct client, node));

        sd_event_source_disable_unref(m->listen_source);
        safe_close(m->listen_fd);
        if (m->socket_bound_here && m->socket_path)
                (void) unlink(m->socket_path);
        free(m->socket_path);

        /* Rings still alive belong to apps that outlive us: their calls will
         * fail (ENOSYS) once the listeners are gone. Free what we hold. */
        while (!list_empty(&m->rings))
                io_ring_ctx_kill(list_first_entry(&m->rings, struct io_ring_ctx, ring_node));
        manager_process_wakes(m);
        hashmap_clear(&m->rings_by_ino);
        hashmap_clear(&m->rings_by_wd);
        hashmap_clear(&m->waiters_by_tid);
        io_task_cache_flush(&m->tasks_by_tid);

        sd_event_source_disable_unref(m->inotify_source);
        safe_close(m->inotify_fd);
        sd_event_source_disable_unref(m->wakes_source);
        sd_event_source_disable_unref(m->wake_source);
        safe_close(m->wake_fd);
        sd_event_unref(m->event);
        pthread_mutex_destroy(&m->wake_lock);
        free(m);
        return NULL;
}

void manager_freep(struct manager **m) {
        manager_free(*m);
}
