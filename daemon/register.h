/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <stdbool.h>
#include <linux/seccomp.h>
#include <stdint.h>
struct client;
struct io_ring_ctx;
struct io_task;
/* Is this the shim's probe call (see proto/uringd-proto.h)? */
bool io_uring_register_is_probe(const struct seccomp_notif *n);
/* May an enabled, restricted ring issue @opcode with @sqe_flags? */
bool io_check_restriction(struct io_ring_ctx *ctx, uint8_t opcode, uint8_t sqe_flags);

void io_uring_register_handler(struct client *c, const struct seccomp_notif *n, struct io_task *t);
