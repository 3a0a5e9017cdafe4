/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <linux/io_uring.h>
struct io_kiocb;
int io_nop_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_nop(struct io_kiocb *req, unsigned issue_flags);
