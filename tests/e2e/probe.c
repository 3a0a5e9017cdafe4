/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IORING_REGISTER_PROBE. Under uringd exactly the opcodes it implements (the
 * support table of docs/ARCHITECTURE.md: keep slice_ops in step with it) are
 * flagged supported, and every other opcode gives -EINVAL in its CQE; on the
 * kernel those opcodes are a subset of what it supports. Only
 * the lines both must agree on are printed. Also: a probe buffer that is not
 * zeroed is refused, and each entry's op field is its index.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const struct {
        int op;
        const char *name;
} slice_ops[] = {
        { IORING_OP_NOP, "NOP" },
        { IORING_OP_READV, "READV" },
        { IORING_OP_WRITEV, "WRITEV" },
        { IORING_OP_FSYNC, "FSYNC" },
        { IORING_OP_READ_FIXED, "READ_FIXED" },
        { IORING_OP_WRITE_FIXED, "WRITE_FIXED" },
        { IORING_OP_POLL_ADD, "POLL_ADD" },
        { IORING_OP_POLL_REMOVE, "POLL_REMOVE" },
        { IORING_OP_SYNC_FILE_RANGE, "SYNC_FILE_RANGE" },
        { IORING_OP_TIMEOUT, "TIMEOUT" },
        { IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE" },
        { IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
        { IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT" },
        { IORING_OP_FILES_UPDATE, "FILES_UPDATE" },
        { IORING_OP_PROVIDE_BUFFERS, "PROVIDE_BUFFERS" },
        { IORING_OP_REMOVE_BUFFERS, "REMOVE_BUFFERS" },
        { IORING_OP_READ, "READ" },
        { IORING_OP_WRITE, "WRITE" },
};

static bool in_slice(int op) {
        for (size_t i = 0; i < sizeof(slice_ops) / sizeof(slice_ops[0]); i++)
                if (slice_ops[i].op == op)
                        return true;
        return false;
}

#define PROBE_OPS 256

int main(void) {
        struct io_uring ring;
        struct io_uring_probe *p;
        size_t psize = sizeof(*p) + PROBE_OPS * sizeof(struct io_uring_probe_op);
        char b[32];
        int r, bad = 0;

        enum t_backend be = t_backend();
        t_ring_init(&ring, 8, NULL);

        p = calloc(1, psize);
        t_assert(p, "calloc");
        r = io_uring_register_probe(&ring, p, PROBE_OPS);
        printf("probe %s\n", t_res(r, b));
        t_assert(r == 0, "probe failed");
        fprintf(stderr, "last_op=%u ops_len=%u\n", p->last_op, p->ops_len);

        t_assert(p->ops_len <= PROBE_OPS, "ops_len %u > %u", p->ops_len, PROBE_OPS);
        t_assert(p->ops_len == 0 || p->last_op == p->ops_len - 1u,
                 "last_op %u and ops_len %u disagree", p->last_op, p->ops_len);
        printf("last_op covers the slice: %s\n", p->last_op >= IORING_OP_WRITE ? "yes" : "NO");

        for (unsigned i = 0; i < p->ops_len; i++) {
                if (p->ops[i].op != i) {
                        fprintf(stderr, "ops[%u].op = %u\n", i, p->ops[i].op);
                        bad++;
                }
                if (p->ops[i].flags & ~IO_URING_OP_SUPPORTED) {
                        fprintf(stderr, "ops[%u].flags = 0x%x: unknown bits\n", i, p->ops[i].flags);
                        bad++;
                }
        }
        /* Entries past ops_len stay zero. */
        for (unsigned i = p->ops_len; i < PROBE_OPS; i++)
                if (p->ops[i].op || p->ops[i].flags || p->ops[i].resv || p->ops[i].resv2) {
                        fprintf(stderr, "ops[%u] past ops_len written\n", i);
                        bad++;
                }
        printf("entries well-formed: %s\n", bad ? "NO" : "yes");

        for (size_t i = 0; i < sizeof(slice_ops) / sizeof(slice_ops[0]); i++) {
                int op = slice_ops[i].op;
                bool sup = (unsigned) op < p->ops_len && (p->ops[op].flags & IO_URING_OP_SUPPORTED);
                printf("op %2d %-16s %s\n", op, slice_ops[i].name, sup ? "supported" : "NOT SUPPORTED");
                if (!sup)
                        bad++;
        }

        if (be == T_URINGD) {
                /* Nothing outside the slice may be claimed... */
                for (unsigned op = 0; op < p->ops_len; op++)
                        if ((p->ops[op].flags & IO_URING_OP_SUPPORTED) && !in_slice((int) op)) {
                                fprintf(stderr, "uringd claims op %u, which it does not implement\n", op);
                                bad++;
                        }
                /* ...and every unsupported opcode fails in its CQE. A zeroed
                 * SQE with only the opcode set. */
                for (unsigned op = 0; op < 256; op++) {
                        bool sup = op < p->ops_len && (p->ops[op].flags & IO_URING_OP_SUPPORTED);
                        if (sup)
                                continue;
                        struct io_uring_sqe *sqe = t_get_sqe(&ring);
                        memset(sqe, 0, sizeof(*sqe));
                        sqe->opcode = (uint8_t) op;
                        sqe->fd = -1;
                        sqe->user_data = op;
                        r = io_uring_submit(&ring);
                        if (r != 1) {
                                fprintf(stderr, "submit of op %u returned %d\n", op, r);
                                bad++;
                                break;
                        }
                        struct io_uring_cqe cqe = t_wait_one(&ring);
                        if (cqe.user_data != op || cqe.res != -EINVAL) {
                                fprintf(stderr, "unsupported op %u: CQE user_data=%llu res=%d, wanted -EINVAL\n",
                                        op, (unsigned long long) cqe.user_data, cqe.res);
                                bad++;
                        }
                }
        }

        /* A probe buffer with garbage in it is refused. */
        memset(p, 0, psize);
        p->ops[3].resv2 = 1;
        printf("dirty probe buffer %s\n", t_res(io_uring_register_probe(&ring, p, PROBE_OPS), b));
        memset(p, 0, psize);
        p->last_op = 1;
        printf("dirty probe header %s\n", t_res(io_uring_register_probe(&ring, p, PROBE_OPS), b));

        /* A short probe: only as many entries as asked for. */
        memset(p, 0, psize);
        r = io_uring_register_probe(&ring, p, 4);
        printf("probe of 4 ops %s ops_len=%u\n", t_res(r, b), p->ops_len);
        for (unsigned i = 4; i < PROBE_OPS; i++)
                if (p->ops[i].op || p->ops[i].flags) {
                        fprintf(stderr, "probe of 4 wrote entry %u\n", i);
                        bad++;
                        break;
                }
        for (unsigned i = 0; i < 4 && i < p->ops_len; i++)
                printf("  op %u %s\n", i, (p->ops[i].flags & IO_URING_OP_SUPPORTED) ? "supported" : "not supported");

        /* Bad pointer. */
        printf("probe at NULL %s\n",
               t_res(io_uring_register(ring.ring_fd, IORING_REGISTER_PROBE, NULL, 8), b));

        free(p);
        io_uring_queue_exit(&ring);
        if (bad) {
                fprintf(stderr, "%d problems\n", bad);
                return T_EXIT_FAIL;
        }
        return T_EXIT_PASS;
}
