/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <linux/io_uring.h>
struct io_kiocb;
int io_fsync_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_fsync(struct io_kiocb *req, unsigned issue_flags);
int io_sfr_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe);
int io_sync_file_range(struct io_kiocb *req, unsigned issue_flags);
