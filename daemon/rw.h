/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
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
