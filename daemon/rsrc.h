/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Registered resources: fixed files and fixed buffers.
 *
 * A registered file is held as a daemon-side fd on the app's open file
 * description, exactly the reference the kernel keeps. A registered buffer is
 * an address range of the registering task, validated at registration; I/O
 * on it goes to that task's memory. Both tables are used on the event loop
 * thread only: requests take their own dup of a fixed file at issue.
 */

#include <stdint.h>

struct io_ring_ctx;
struct io_task;

struct io_rsrc_files {
        int *fds;               /* -1: empty slot */
        unsigned nr;            /* 0: nothing registered */
};

struct io_mapped_buf {
        uint64_t addr, len;
};

struct io_rsrc_bufs {
        struct io_mapped_buf *bufs;
        unsigned nr;            /* 0: nothing registered */
};

int io_sqe_files_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr);
int io_sqe_files_unregister(struct io_ring_ctx *ctx);
int io_register_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr);
void io_rsrc_files_free(struct io_rsrc_files *files);

int io_sqe_buffers_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr);
int io_sqe_buffers_unregister(struct io_ring_ctx *ctx);
void io_rsrc_bufs_free(struct io_rsrc_bufs *bufs);

/* A private dup of fixed file @index, or -EBADF. */
int io_fixed_file_get(struct io_ring_ctx *ctx, unsigned index);

/* Check that [addr, addr+len) lies inside fixed buffer @index: 0 or -EFAULT. */
int io_fixed_buf_check(struct io_ring_ctx *ctx, unsigned index, uint64_t addr, uint64_t len);
