/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
struct io_call;
struct io_task;
/* io_uring_setup(): validate, create the ring, write the params back and
 * install the ring fd in the app (answering the call atomically). */
void io_uring_setup_handler(struct io_call *call, struct io_task *t);
