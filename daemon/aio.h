/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* O_DIRECT reads and writes through Linux native AIO (see aio.c). */

#include <stdbool.h>
#include <stdint.h>

struct io_kiocb;

/*
 * Event loop: start an O_DIRECT read or write of @len bytes at @pos of
 * req's file, to or from the app's @addr. Returns IOU_ISSUE_SKIP_COMPLETE
 * when queued (submitted by io_aio_flush(), completed from the loop), or
 * -EAGAIN: take the ordinary path.
 */
int io_aio_rw(struct io_kiocb *req, uint64_t addr, int64_t pos, uint64_t len, bool write);

/* Event loop: submit what io_aio_rw() queued, with one io_submit(). */
void io_aio_flush(void);

struct io_event;
/*
 * Take up to @max completions of the AIO context @ctx from its ring, mapped
 * in our memory, without a syscall: what io_getevents() with a zero timeout
 * returns, minus the syscall. One consumer per context (the event loop).
 * Returns the number taken, or -EOPNOTSUPP when the ring has a layout we
 * do not know (use io_getevents()).
 */
long io_aio_reap_ring(unsigned long ctx, struct io_event *ev, long max);
