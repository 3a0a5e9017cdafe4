/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * io-wq: the worker pool that runs requests which would block the event
 * loop, as io_uring/io-wq.c. Two accounts: bounded work (regular files and
 * block devices, which finish) with at most min(sq_entries, 4 * CPUs)
 * workers, and unbounded work (pipes, sockets, ttys: may block forever) with
 * a larger cap. Workers are created on demand and exit after an idle period.
 */

#include <sched.h>
#include <stdbool.h>

struct io_kiocb;
struct io_wq;

enum {
        IO_WQ_ACCT_BOUND,
        IO_WQ_ACCT_UNBOUND,
        IO_WQ_ACCT_NR,
};

/* The unbounded account's default cap (the kernel's is RLIMIT_NPROC). */
#define IO_WQ_UNBOUNDED_MAX 256U

struct io_wq *io_wq_create(unsigned bounded_max, unsigned unbounded_max);

/* Queue @req on @acct. Returns 0 or -ENOMEM/-EAGAIN when no worker could be
 * started and none runs. */
int io_wq_enqueue(struct io_wq *wq, struct io_kiocb *req, int acct);

/* Stop accepting work, cancel what is queued (completed with -ECANCELED),
 * interrupt running workers, and drop the creator's reference. Workers free
 * the pool when the last one leaves. */
void io_wq_exit(struct io_wq *wq);

/*
 * On a worker: wait until @fd reports @events, or the pool exits
 * (-ECANCELED). Work that may block forever waits here rather than in a
 * blocking syscall, so that a dying ring never leaves a worker behind.
 */
int io_wq_wait_ready(int fd, short events);

enum {
        IO_WQ_CANCEL_OK,        /* found and cancelled */
        IO_WQ_CANCEL_RUNNING,   /* found running: interrupted, completes later */
        IO_WQ_CANCEL_NOTFOUND,
};

/* Cancel queued or running work that @match accepts (the first, or @all).
 * Cancelled queued work completes -ECANCELED before this returns. */
int io_wq_cancel_cb(struct io_wq *wq, bool (*match)(struct io_kiocb *req, void *data), void *data, bool all);

/* On a worker, once its request has run and before it completes (which
 * may free it): io_wq_cancel_cb() stops looking at it. The hash stays
 * until the worker takes its next work. */
void io_wq_work_done(void);

/* IORING_REGISTER_IOWQ_MAX_WORKERS: set each nonzero cap in @counts and
 * return the previous caps in it. */
void io_wq_max_workers(struct io_wq *wq, unsigned counts[IO_WQ_ACCT_NR]);

/* IORING_REGISTER_IOWQ_AFF: pin present and future workers to @cpus (NULL:
 * back to the daemon's own CPUs). */
int io_wq_cpu_affinity(struct io_wq *wq, const cpu_set_t *cpus);

/* Installed once at start-up: the signal that interrupts a blocked worker. */
int io_wq_init_signals(void);
