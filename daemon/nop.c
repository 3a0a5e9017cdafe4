/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>

#include "nop.h"
#include "req.h"

int io_nop_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        /* nop_flags (rw_flags): IORING_NOP_INJECT_RESULT and friends are not
         * implemented; refuse them rather than ignore them. */
        if (sqe->rw_flags)
                return -EINVAL;
        return 0;
}

int io_nop(struct io_kiocb *req, unsigned issue_flags) {
        io_req_set_res(req, 0, 0);
        return IOU_OK;
}
