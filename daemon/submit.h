/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The request core: consume SQEs, init/prep/issue requests, punt to io-wq,
 * complete. The kernel's io_uring.c submission and completion paths. */

#include <stdbool.h>
#include <stdint.h>

struct io_kiocb;
struct io_ring_ctx;
struct io_task;

/*
 * Consume up to @nr SQEs (clamped to what the app queued) on behalf of @task.
 * Returns the number consumed, the failing SQE included (its error goes in
 * its CQE); an invalid SQ index is dropped, counted in sq_dropped and ends
 * the batch. Event loop only.
 */
int io_submit_sqes(struct io_ring_ctx *ctx, struct io_task *task, uint32_t nr);

/* Post req->res as its CQE and free it. Any thread. */
void io_req_complete(struct io_kiocb *req, bool async);

/* Run @func(req) on the event loop, after what is queued there. Any thread. */
void io_req_task_work_add(struct io_kiocb *req, void (*func)(struct io_kiocb *req));

/* Task work that posts req->res. */
void io_req_task_complete(struct io_kiocb *req);

/* Run a punted request on an io-wq worker, blocking allowed. */
void io_wq_submit_work(struct io_kiocb *req);

/* Event loop: issue a request handed over as task work (the next link of a
 * chain, or a request released by a drain). */
void io_req_task_submit(struct io_kiocb *req);

/* Event loop: release drained requests whose turn has come; or, when the
 * ring dies, cancel them. */
/* Create the ring's io-wq with its registered limits and affinity. */
int io_ring_create_wq(struct io_ring_ctx *ctx);

void io_ring_flush_deferred(struct io_ring_ctx *ctx);
void io_ring_cancel_deferred(struct io_ring_ctx *ctx);
