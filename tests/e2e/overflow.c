/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CQ overflow on a small CQ (CQSIZE): more completions than the CQ holds are
 * kept (IORING_FEAT_NODROP) and flushed in order as the app reaps, with
 * IORING_SQ_CQ_OVERFLOW and the overflow counter behaving as the kernel's.
 * Completions that arrive while older ones wait in the overflow list must
 * queue behind them: the order of user_data is printed.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define SQ 4
#define CQ 8
#define TOTAL 40

static struct io_uring ring;
static unsigned seen[TOTAL];
static unsigned next_ud;

static void state(const char *when) {
        unsigned flags = IO_URING_READ_ONCE(*ring.sq.kflags);
        printf("%-34s cq_ready=%u sq_cq_overflow=%d koverflow=%u\n", when, io_uring_cq_ready(&ring),
               !!(flags & IORING_SQ_CQ_OVERFLOW), IO_URING_READ_ONCE(*ring.cq.koverflow));
}

/* Queue and submit one batch of @n NOPs with consecutive user_data. */
static void batch(unsigned n) {
        char b[32];

        for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = next_ud++;
        }
        /* Plain io_uring_enter without GETEVENTS, as io_uring_submit does. */
        int r = io_uring_submit(&ring);
        printf("submit %u -> %s\n", n, t_res(r, b));
        t_assert(r == (int) n, "submit returned %d", r);
}

/* Reap up to @max CQEs (all when 0), printing their user_data in order. */
static unsigned reap(unsigned max, const char *tag) {
        struct io_uring_cqe *cqe;
        unsigned n = 0;

        printf("%s:", tag);
        while (max == 0 || n < max) {
                int r = io_uring_peek_cqe(&ring, &cqe);
                if (r == -EAGAIN)
                        break;
                t_assert(r == 0, "peek: %s", strerror(-r));
                t_assert(cqe->user_data < TOTAL, "user_data %llu", (unsigned long long) cqe->user_data);
                t_assert(cqe->res == 0, "NOP res %d", cqe->res);
                seen[cqe->user_data]++;
                printf(" %llu", (unsigned long long) cqe->user_data);
                io_uring_cqe_seen(&ring, cqe);
                n++;
        }
        printf(" (%u)\n", n);
        return n;
}

int main(void) {
        struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ };

        t_backend();
        t_ring_init(&ring, SQ, &p);
        printf("sq_entries=%u cq_entries=%u nodrop=%d\n", p.sq_entries, p.cq_entries,
               !!(p.features & IORING_FEAT_NODROP));
        t_assert(p.features & IORING_FEAT_NODROP, "no IORING_FEAT_NODROP");
        state("fresh");

        /* Fill the CQ exactly. */
        batch(4);
        batch(4);
        state("CQ full");

        /* Overflow by 12. */
        batch(4);
        state("4 over");
        batch(4);
        batch(4);
        state("12 over");

        /* Reap 3: the CQ has room again but the old ones stay queued until
         * someone enters the kernel to flush them. */
        reap(3, "reap 3");
        state("after reaping 3");

        /* More completions while the overflow list is not empty. */
        batch(4);
        state("4 more while overflowed");

        /* Reap everything; liburing flushes with GETEVENTS when it sees the
         * overflow flag and an empty CQ. */
        unsigned total = 3;
        while (total < next_ud) {
                unsigned n = reap(0, "reap");
                total += n;
                state("after reap");
                if (n == 0) {
                        struct io_uring_cqe *cqe;
                        int r = io_uring_wait_cqe(&ring, &cqe);
                        t_assert(r == 0, "wait_cqe: %s", strerror(-r));
                }
        }
        state("all reaped");

        /* A second round after the overflow list drained: no leftover state. */
        batch(4);
        batch(4);
        batch(4);
        state("second round, 4 over");
        struct io_uring_cqe *cqes[TOTAL];
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe_nr(&ring, &cqe, CQ);
        printf("wait_cqe_nr(CQ) -> %s\n", t_res(r, (char[32]) { 0 }));
        state("after wait_cqe_nr(CQ)");
        unsigned got = io_uring_peek_batch_cqe(&ring, cqes, TOTAL);
        printf("peek_batch:");
        for (unsigned i = 0; i < got; i++) {
                t_assert(cqes[i]->user_data < TOTAL, "user_data");
                seen[cqes[i]->user_data]++;
                printf(" %llu", (unsigned long long) cqes[i]->user_data);
        }
        printf(" (%u)\n", got);
        io_uring_cq_advance(&ring, got);
        while (reap(0, "reap") > 0)
                ;
        state("second round reaped");

        int lost = 0, dup = 0;
        for (unsigned i = 0; i < next_ud; i++) {
                if (seen[i] == 0)
                        lost++;
                if (seen[i] > 1)
                        dup++;
        }
        printf("completions=%u lost=%d duplicated=%d\n", next_ud, lost, dup);
        io_uring_queue_exit(&ring);
        return lost || dup ? T_EXIT_FAIL : T_EXIT_PASS;
}
