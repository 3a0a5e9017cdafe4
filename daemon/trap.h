/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Trap mode: io_uring calls forwarded by the shim's SIGSYS handler, for
 * processes whose seccomp profile answers io_uring with ERRNO before any
 * USER_NOTIF listener could see it (SECCOMP_RET_TRAP outranks ERRNO).
 *
 * Each CALL arrives on the client's connection with one end of a fresh
 * socket pair: that end names the caller's process (SO_PEERCRED, fixed when
 * the pair was made), carries our one answer, and tells us when the caller
 * stops waiting (a CALL_INTERRUPT after a signal, or a hang-up).
 */

#include <stdint.h>
#include <systemd/sd-event.h>

struct client;
struct io_call;

/* sd-event handler of a trap-mode client's connection. */
int on_trap_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Answer @call with @val, or, when @fd >= 0, with a duplicate of @fd in the
 * caller. Ends the call. Returns 0, or -ENOENT when the caller is gone. */
int trap_reply(struct io_call *call, int64_t val, int fd);

/* A waiting call's reply socket turned readable: 0 when the caller says a
 * signal interrupted it, -ENOENT when it hung up or sent garbage. */
int trap_read_interrupt(struct io_call *call);

/* Forget the client's cached task handles. */
void trap_tasks_flush(struct client *c);
