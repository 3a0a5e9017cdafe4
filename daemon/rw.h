/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <stdint.h>
#include <linux/io_uring.h>
struct io_kiocb;
int io_prep_read(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_prep_write(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_prep_readv(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_prep_writev(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_prep_read_fixed(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_prep_write_fixed(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_read(struct io_kiocb *req, unsigned issue_flags);
int io_write(struct io_kiocb *req, unsigned issue_flags);
void io_readv_writev_cleanup(struct io_kiocb *req);
/* IOSQE_BUFFER_SELECT, on the event loop: take the request's buffer from
 * its group (-ENOBUFS when there is none). */
int io_rw_buffer_select(struct io_kiocb *req);

/* The bytes a read or write asked for (after MAX_RW_COUNT). */
uint64_t io_rw_len(struct io_kiocb *req);

/* Event loop: the ordinary path for a read or write that aio.c or
 * rw-batch.c could not finish (blocking allowed: rare), then complete it. */
void io_rw_issue_slow(struct io_kiocb *req);

/* Event loop: end of a submission: submit and copy what was queued. */
void io_rw_flush(void);
