/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * io_uring_enter(): submission and waiting.
 *
 * A thread that waits for completions stays blocked in its trapped call: we
 * keep its notification as an io_waiter and answer it when enough CQEs have
 * been posted, its timeout fires, or the ring dies. The event loop never
 * blocks. If the thread is interrupted by a signal the kernel withdraws the
 * notification; our answer then fails with ENOENT and is dropped, and since
 * everything lives in the shared ring (SQ head, CQEs), nothing is lost and a
 * restarted call starts from the ring's state. In trap mode the caller's
 * shim tells us over the call's reply socket when a signal interrupts it,
 * and the wait ends with the kernel's answer to a signal.
 */

#include <stdint.h>
#include <sys/types.h>

#include "uringd/list.h"

struct client;
struct io_call;
struct io_ring_ctx;
struct io_task;
struct manager;

struct io_waiter;

void io_uring_enter_handler(struct io_call *call, struct io_task *t);

/* Answer the waiters of @ctx whose condition now holds. Event loop only. */
void io_cqring_wake(struct io_ring_ctx *ctx);
/* The ring died: answer every waiter. */
void io_cqring_wake_all(struct io_ring_ctx *ctx);

/* A new call from @tid means its previous wait was interrupted. */
void io_waiter_drop_stale(struct manager *m, pid_t tid);
/* The client is gone: its waiters can never be answered. */
void io_waiters_drop_client(struct client *c);

/* Trap mode: the caller on @c's thread channel says a signal interrupted
 * its wait: answer it -EINTR (or what was submitted), as the kernel. */
void io_waiters_interrupt_client(struct client *c);
