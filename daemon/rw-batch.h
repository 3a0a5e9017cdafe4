/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Batched page-cache reads (see rw-batch.c). */

#include <stdint.h>

struct io_kiocb;

/*
 * Event loop: read @len bytes at @pos of req's regular file from the page
 * cache now, and queue the copy into the app's @addr. Returns
 * IOU_ISSUE_SKIP_COMPLETE when queued (completed by io_rw_batch_flush()), or
 * -EAGAIN: take the ordinary path.
 */
int io_rw_batch_read(struct io_kiocb *req, uint64_t addr, int64_t pos, uint64_t len);

/* Event loop: copy and complete every queued read. Called at the end of
 * each submission (io_submit_state_end()). */
void io_rw_batch_flush(void);
