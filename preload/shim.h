/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Internal interface of the preload shim. Everything here is hidden
 * (-fvisibility=hidden): the shim exports no symbol to the host program.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "uringd/macro.h"

/* Our fds live at or above this number, away from what programs dup2() over. */
#define SHIM_FD_MIN 100

/* Socket send/receive timeout: a hung daemon must not hang the host program. */
#define SHIM_SOCKET_TIMEOUT_SEC 5

/* log.c: one-line messages on stderr, only when $URINGD_DEBUG is set. */
extern bool shim_debug;
void shim_log_init(void);
void shim_log(const char *fmt, ...) _printf_(1, 2);
/* Logs with errno set from @error (for %m) and returns @error. */
int shim_log_errno(int error, const char *fmt, ...) _printf_(2, 3);

/* handshake.c */
int shim_connect(const char *path, int *ret_sock);
int shim_hello(int sock, pid_t *ret_daemon_pid, uint64_t *ret_features);
/* ATTACH in @mode (URINGD_ATTACH_*), with the listener in notify mode. */
int shim_attach(int sock, uint32_t mode, int listener);

/* filter.c */
/* On success *ret_listener is libseccomp's listener fd: shim_filter_release() closes it. */
int shim_filter_load(int *ret_listener);
void shim_filter_release(void);

/* trap.c: SECCOMP_RET_TRAP and a SIGSYS handler that forwards to the daemon. */
/* Install the handler (dormant until a socket is set); the app's own
 * SIGSYS disposition is kept and called for SIGSYS that are not ours. */
int shim_trap_install_handler(void);
/* The trap-mode connection CALLs go out on, or -1; @channels: the daemon
 * keeps thread channels (URINGD_FEATURE_TRAP_CHANNEL). */
void shim_trap_set_socket(int sock, bool channels);
/* Has the handler forwarded a call (did a trap filter catch one)? */
bool shim_trap_forwarded(void);
/* Keep SIGSYS unblocked and our handler in place from now on. */
void shim_trap_activate(void);
bool shim_trap_on(void);
int shim_trap_filter_load(void);

/* exec.c: in trap mode, programs we execute keep the shim in LD_PRELOAD. */
void shim_exec_init(void);
