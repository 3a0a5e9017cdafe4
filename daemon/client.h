/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Two kinds of peers:
 *  - a connection: a shim on our socket, going through the handshake
 *    (HELLO, then ATTACH with its seccomp listener, or ATTACH in trap mode);
 *  - a client: what we serve calls from until it goes away:
 *      notify: one attached seccomp listener, i.e. one app process tree,
 *              until the last task in it exits (EPOLLHUP on the listener);
 *      trap:   one attached connection, shared by the processes that
 *              inherit it, carrying CALL messages (trap.c) until closed.
 */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "call.h"
#include "hashmap.h"
#include "uringd/list.h"

struct manager;

enum client_kind {
        CLIENT_NOTIFY,
        CLIENT_TRAP,
};

struct client {
        struct manager *manager;
        struct list_head node;
        enum client_kind kind;
        int fd;                         /* the seccomp listener, or the trap connection */
        sd_event_source *source;
        pid_t pid;                      /* the attaching process, for logs */
        struct list_head waiters;       /* struct io_waiter */
        struct hashmap trap_tasks;      /* trap: (tgid << 32 | app tid) -> struct io_task */
        bool channel;                   /* trap: a thread's channel; pid is its process */
        int maker_pidfd;                /* channel: its process, gone when that exits; or -1 */
        sd_event_source *maker_source;
};

struct connection {
        struct manager *manager;
        struct list_head node;
        int fd;
        sd_event_source *source;
        sd_event_source *timeout;
        pid_t pid;
        enum {
                CONNECTION_HELLO,
                CONNECTION_ATTACH,
                CONNECTION_DONE,
        } state;
};

/* Take a freshly accepted socket; checks the peer's uid. */
int connection_new(struct manager *m, int fd);
void connection_free(struct connection *conn);

int client_new(struct manager *m, enum client_kind kind, int fd, pid_t pid, struct client **ret);
void client_free(struct client *c);

struct io_task;

/* Serve setup/enter/register for task @t. Answers @call, now or (waits) later. */
void io_call_serve(struct io_call *call, struct io_task *t);
