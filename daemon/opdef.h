/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The opcode table, one entry per IORING_OP_*, as io_uring/opdef.h: the hot
 * part (prep/issue and behaviour bits) apart from the cold part (name,
 * cleanup). An opcode without prep/issue is unsupported: its SQE fails with
 * -EINVAL and IORING_REGISTER_PROBE reports it as such.
 */

#include <stdbool.h>
#include <linux/io_uring.h>

#include "uringd/compat.h"

struct io_kiocb;

struct io_issue_def {
        /* needs req->file: sqe->fd is resolved before issue */
        unsigned needs_file : 1;
        /* a non-regular file may block forever: unbounded io-wq */
        unsigned unbound_nonreg_file : 1;
        /* never issue on the event loop: always punt */
        unsigned always_async : 1;
        /* takes sqe->ioprio; for the others a non-zero ioprio is -EINVAL */
        unsigned ioprio : 1;
        /* issued on the event loop only, never on io-wq (it arms event
         * sources there: timers, polls) */
        unsigned loop_only : 1;
        /* takes IOSQE_BUFFER_SELECT (the others: -EOPNOTSUPP) */
        unsigned buffer_select : 1;
        /* allowed on an IORING_SETUP_IOPOLL ring (the others are -EINVAL) */
        unsigned iopoll : 1;
        /* on io-wq, serialised with the other such work on the same regular
         * file, in submission order (the kernel's io_wq_hash_work()) */
        unsigned hash_reg_file : 1;
        /* waits for POLLIN / POLLOUT on a file that is not ready (FAST_POLL) */
        unsigned pollin : 1;
        unsigned pollout : 1;

        int (*prep)(struct io_kiocb *req, const struct io_uring_sqe *sqe);
        int (*issue)(struct io_kiocb *req, unsigned issue_flags);
};

struct io_cold_def {
        const char *name;
        void (*cleanup)(struct io_kiocb *req);
};

extern const struct io_issue_def io_issue_defs[URINGD_IORING_OP_LAST];
extern const struct io_cold_def io_cold_defs[URINGD_IORING_OP_LAST];

int io_no_issue(struct io_kiocb *req, unsigned issue_flags);

bool io_op_supported(unsigned opcode);
const char *io_op_name(unsigned opcode);

/* Start-up self-check: every opcode has a name; prep and issue go together. */
int io_uring_optable_init(void);
