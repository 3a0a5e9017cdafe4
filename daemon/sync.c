/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "req.h"
#include "sync.h"
#include "uringd/macro.h"

struct io_sync {
        uint64_t off;
        uint32_t len;
        uint32_t flags;
};

int io_fsync_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_sync *sync = io_kiocb_to_cmd(req, struct io_sync);

        if (sqe->addr || sqe->buf_index || sqe->splice_fd_in)
                return -EINVAL;
        sync->flags = sqe->fsync_flags;
        if (sync->flags & ~IORING_FSYNC_DATASYNC)
                return -EINVAL;
        sync->off = sqe->off;
        sync->len = sqe->len;
        return 0;
}

/* Always on io-wq (always_async): fsync blocks. The kernel syncs the range
 * [off, off+len); user space can only sync the whole file, which is a
 * superset of the guarantee. */
int io_fsync(struct io_kiocb *req, unsigned issue_flags) {
        struct io_sync *sync = io_kiocb_to_cmd(req, struct io_sync);
        int r;

        if (issue_flags & IO_URING_F_NONBLOCK)
                return -EAGAIN;
        r = (sync->flags & IORING_FSYNC_DATASYNC) ? fdatasync(req->file) : fsync(req->file);
        io_req_set_res(req, r < 0 ? negative_errno() : 0, 0);
        return IOU_OK;
}

int io_sfr_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_sync *sync = io_kiocb_to_cmd(req, struct io_sync);

        if (sqe->addr || sqe->buf_index || sqe->splice_fd_in)
                return -EINVAL;
        sync->off = sqe->off;
        sync->len = sqe->len;
        sync->flags = sqe->sync_range_flags;
        return 0;
}

/* Always on io-wq: with SYNC_FILE_RANGE_WAIT_* it blocks. The kernel's
 * sync_file_range() checks the flags and range itself. */
int io_sync_file_range(struct io_kiocb *req, unsigned issue_flags) {
        struct io_sync *sync = io_kiocb_to_cmd(req, struct io_sync);
        int r;

        if (issue_flags & IO_URING_F_NONBLOCK)
                return -EAGAIN;
        r = sync_file_range(req->file, (off64_t) sync->off, sync->len, sync->flags);
        io_req_set_res(req, r < 0 ? negative_errno() : 0, 0);
        return IOU_OK;
}
