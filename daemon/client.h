/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Two kinds of peers:
 *  - a connection: a shim on our socket, going through the handshake
 *    (HELLO, ATTACH with its seccomp listener);
 *  - a client: one attached seccomp listener, i.e. one app process tree,
 *    whose trapped io_uring calls we serve until the last task in it exits
 *    (the listener then reports EPOLLHUP).
 */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "uringd/list.h"

struct manager;

struct client {
        struct manager *manager;
        struct list_head node;
        int listener;
        sd_event_source *source;
        pid_t pid;                      /* the attaching process, for logs */
        struct list_head waiters;       /* struct io_waiter */
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

int client_new(struct manager *m, int listener, pid_t pid, struct client **ret);
void client_free(struct client *c);

/* Answer notification @id: @val, or @error when non-zero. A vanished
 * notification (interrupted call) is not an error. */
void client_respond(struct client *c, uint64_t id, int64_t val, int error);
