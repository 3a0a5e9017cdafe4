/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One trapped io_uring syscall, whichever way it reached us:
 *  - notify mode: a seccomp notification on a client's listener; answered
 *    with SECCOMP_IOCTL_NOTIF_SEND, fds installed with NOTIF_ADDFD;
 *  - trap mode: a CALL message from the shim's SIGSYS handler (trap.c);
 *    answered with CALL_REPLY on the caller's own reply socket, fds riding
 *    along with SCM_RIGHTS.
 * The handlers (setup.c, enter.c, register.c) see only this.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct client;

struct io_call {
        struct client *client;
        uint64_t id;            /* notify: the notification's id */
        int reply_fd;           /* trap: our end of the caller's reply socket, or
                                 * on a thread channel (client->channel) the
                                 * channel's fd, not the call's to close; else -1 */
        pid_t tid;              /* the calling thread, in our pid namespace */
        int nr;                 /* syscall number */
        uint64_t args[6];
};

/* Answer with @val, or with @error (a negative errno) when non-zero. A call
 * whose caller went away (interrupted, killed) is dropped silently. Ends the
 * call: its reply socket is closed. */
void io_call_respond(struct io_call *call, int64_t val, int error);

/* Answer with a new fd in the caller (O_CLOEXEC) that is a duplicate of @fd.
 * Returns 0 or -errno; -ENOENT when the caller is gone. Ends the call unless
 * it fails with another error, which the caller then answers. */
int io_call_respond_fd(struct io_call *call, int fd);

/* End the call without an answer (the caller sees it interrupted). */
void io_call_drop(struct io_call *call);

/* Take over @src's reply socket: @dst answers from now on. */
void io_call_move(struct io_call *dst, struct io_call *src);
