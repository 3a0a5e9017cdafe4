/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns every event source of the daemon and frees them in one
 * place: the listening socket, the handshake connections, the clients (one
 * per seccomp listener), the inotify watch set that tells us when a ring's
 * last fd and mapping are gone, and the wake-up eventfd through which worker
 * threads hand completions to the event loop.
 */

#include <pthread.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "hashmap.h"
#include "uringd/list.h"

struct io_ring_ctx;
struct io_task;

/* Limits on what one user's apps can make us allocate. */
#define MANAGER_MAX_CLIENTS 4096
#define MANAGER_MAX_CONNECTIONS 256
#define MANAGER_MAX_RINGS 4096

struct manager {
        sd_event *event;

        int listen_fd;
        sd_event_source *listen_source;
        char *socket_path;              /* unlinked on exit when we bound it */
        bool socket_bound_here;

        struct list_head connections;   /* struct connection: handshakes */
        unsigned nr_connections;
        struct list_head clients;       /* struct client: attached listeners */
        unsigned nr_clients;

        int inotify_fd;
        sd_event_source *inotify_source;
        struct hashmap rings_by_ino;
        struct hashmap rings_by_wd;
        struct list_head rings;         /* every live ring, for shutdown */
        struct list_head sqpoll_rings;  /* io_sq_data: the SQ pollers the loop runs */
        unsigned nr_rings;

        struct hashmap waiters_by_tid;  /* struct io_waiter, see enter.c */
        struct hashmap tasks_by_tid;    /* struct io_task: handles of callers */

        int wake_fd;
        sd_event_source *wake_source;
        sd_event_source *wakes_source;  /* defer: runs the queues below */
        bool wakes_armed;
        pthread_mutex_t wake_lock;
        struct list_head wake_list;     /* rings with fresh completions */
        struct list_head task_list;     /* requests to issue on the loop */
};

/* True on the event loop thread. */
extern __thread bool in_event_loop;

int manager_new(struct manager **ret);
struct manager *manager_free(struct manager *m);
void manager_freep(struct manager **m);

/* Listen on @socket_path, or take the socket passed by systemd. */
int manager_startup(struct manager *m, const char *socket_path);

/* Run the event loop until exit: blocks in epoll, or polls while SQPOLL
 * rings are awake. Returns the exit code or -errno. */
int manager_run(struct manager *m);

int manager_ring_add(struct manager *m, struct io_ring_ctx *ctx);
void manager_ring_remove(struct manager *m, struct io_ring_ctx *ctx);
struct io_ring_ctx *manager_ring_by_ino(struct manager *m, uint64_t ino);

/* A handle on the task behind a notification (a reference): cached per tid
 * while the task lives. Returns 0, or -errno; -ENOENT when the call is gone. */
int manager_get_task(struct manager *m, int listener, uint64_t id, pid_t tid, struct io_task **ret);

/* Ask the event loop to look at @ctx's waiters and eventfd. Any thread. */
void manager_queue_wake(struct manager *m, struct io_ring_ctx *ctx);
/* Hand a request to the event loop for issue (next link, drain release).
 * Any thread. */
struct io_kiocb;
void manager_queue_task_work(struct manager *m, struct io_kiocb *req);

/* Run the queued wake-ups and task work now. Event loop only. */
void manager_process_wakes(struct manager *m);
