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

struct io_kiocb;
struct io_ring_ctx;
struct io_uring_sqe;
struct io_task;

/*
 * A daemon-side reference on one of the app's open file descriptions,
 * shared by the requests that use it: held by the fixed-file table, or by
 * the requests of one submission batch that name the same fd, and closed
 * when the last of them lets go (the kernel's fget()/fput() lifetime).
 */
struct io_file {
        int refs;               /* atomic */
        int fd;
        uint32_t flags;         /* IO_FILE_* */
        uint64_t inode_hash;    /* the file's device and inode, never 0 */
};

enum {
        IO_FILE_ISREG = 1U << 0,        /* regular file or block device */
        IO_FILE_DIRECT = 1U << 1,       /* O_DIRECT */
        IO_FILE_NONBLOCK = 1U << 2,     /* O_NONBLOCK */
        IO_FILE_STREAM = 1U << 3,       /* pipe or socket: no offsets */
};

/* Wrap @fd (taken over, also on failure). */
int io_file_new(int fd, struct io_file **ret);
struct io_file *io_file_get(struct io_file *f);
void io_file_put(struct io_file *f);

struct io_rsrc_files {
        struct io_file **files; /* NULL: empty slot */
        unsigned nr;            /* 0: nothing registered */
        unsigned alloc_hint;    /* IORING_FILE_INDEX_ALLOC looks from here */
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
int io_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint32_t offset, uint64_t fds, unsigned nr);
/* IORING_FILE_INDEX_ALLOC: each fd into a free slot, whose index is written
 * back over the fd in the app's array. */
int io_files_update_alloc(struct io_ring_ctx *ctx, struct io_task *t, uint64_t fds, unsigned nr);
int io_register_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr);
void io_rsrc_files_free(struct io_rsrc_files *files);

int io_sqe_buffers_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr);
int io_sqe_buffers_unregister(struct io_ring_ctx *ctx);
void io_rsrc_bufs_free(struct io_rsrc_bufs *bufs);

/* A reference on fixed file @index, or NULL. */
struct io_file *io_fixed_file_get(struct io_ring_ctx *ctx, unsigned index);

/* Check that [addr, addr+len) lies inside fixed buffer @index: 0 or -EFAULT. */
int io_fixed_buf_check(struct io_ring_ctx *ctx, unsigned index, uint64_t addr, uint64_t len);

/* IORING_OP_FILES_UPDATE. */
int io_files_update_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_files_update_issue(struct io_kiocb *req, unsigned issue_flags);
