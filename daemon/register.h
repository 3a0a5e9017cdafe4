/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <stdbool.h>
#include <stdint.h>
struct io_call;
struct io_ring_ctx;
struct io_task;
/* Is this the shim's probe call (see proto/uringd-proto.h)? */
bool io_call_is_probe(const struct io_call *call);
/* May an enabled, restricted ring issue @opcode with @sqe_flags? */
bool io_check_restriction(struct io_ring_ctx *ctx, uint8_t opcode, uint8_t sqe_flags);

void io_uring_register_handler(struct io_call *call, struct io_task *t);
