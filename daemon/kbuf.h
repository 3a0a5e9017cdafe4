/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Provided buffers, the legacy kind (io_uring/kbuf.c): PROVIDE_BUFFERS
 * hands the ring groups of buffers in the app's memory, REMOVE_BUFFERS
 * takes them back, and a read with IOSQE_BUFFER_SELECT picks the first
 * buffer of its group when it is issued; its CQE names the buffer
 * (IORING_CQE_F_BUFFER, the id in the upper 16 bits of flags). Groups live
 * on the event loop; a selected buffer belongs to its request until the
 * request completes, or goes back to the head of its group when the request
 * waits for a poll, as the kernel recycles it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "uringd/list.h"

struct io_kiocb;
struct io_ring_ctx;
struct io_uring_sqe;

struct io_buffer {
        struct list_head node;
        uint64_t addr;
        uint32_t len;
        uint16_t bid;
        uint16_t bgid;
};

int io_provide_buffers_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_provide_buffers(struct io_kiocb *req, unsigned issue_flags);
int io_remove_buffers_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_remove_buffers(struct io_kiocb *req, unsigned issue_flags);

/* Event loop: select a buffer of @req's group, at most *@len bytes (0: the
 * whole buffer); sets *@len and returns its address, or 0 and -ENOBUFS in
 * *@err when the group is empty or missing. */
uint64_t io_buffer_select(struct io_kiocb *req, uint64_t *len, int *err);

/* Event loop: give a selected buffer back to the head of its group. */
void io_kbuf_recycle(struct io_kiocb *req);

/* Any thread, at completion: the CQE flags naming the consumed buffer. */
uint32_t io_put_kbuf(struct io_kiocb *req);

/* The ring is freed: drop every group. */
void io_destroy_buffers(struct io_ring_ctx *ctx);
