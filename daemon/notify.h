/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Thin wrappers over the seccomp listener ioctls. Every call that answers a
 * notification may find it gone: the app thread was interrupted by a signal
 * (or died) while we worked. That is -ENOENT, and it is not an error of ours:
 * the caller drops the notification, having lost nothing (ring state lives in
 * shared memory, and a restarted call recomputes from it).
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/seccomp.h>

/* Set SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP when the kernel has it (6.6+).
 * Returns 0, or -errno (callers ignore -EINVAL/-ENOTTY from old kernels). */
int notify_set_sync_wakeup(int listener);

/* Receive one notification. Returns 0, -ENOENT when it vanished before we
 * got it, or another -errno. */
int notify_recv(int listener, struct seccomp_notif *req);

/* Is notification @id still pending? */
bool notify_id_valid(int listener, uint64_t id);

/* Answer @id with @val, or with @error (a negative errno) when non-zero. */
int notify_respond(int listener, uint64_t id, int64_t val, int error);

/* Install @fd into the notifying task with @fd_flags (O_CLOEXEC) and answer
 * the call with the new fd number, atomically. Returns that number or -errno. */
int notify_addfd_send(int listener, uint64_t id, int fd, unsigned fd_flags);
