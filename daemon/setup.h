/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <linux/seccomp.h>
struct client;
struct io_task;
/* io_uring_setup(): validate, create the ring, write the params back and
 * install the ring fd in the app (answering the call atomically). */
void io_uring_setup_handler(struct client *c, const struct seccomp_notif *n, struct io_task *t);
