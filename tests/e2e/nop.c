/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NOPs in bulk and the SQ ring protocol: 8192 NOPs in batches of 256 on a
 * 256-entry ring with every user_data accounted for; a submission through a
 * permuted SQ index array (the order of CQEs follows the array, not the SQE
 * slots); an out-of-range index in the array (dropped and counted in
 * sq.dropped, no CQE); to_submit smaller than what is queued.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

#define ENTRIES 256
#define TOTAL 8192

static struct io_uring ring;

static long sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags) {
        long r = syscall(__NR_io_uring_enter, ring.ring_fd, to_submit, min_complete, flags, NULL, 0);
        return r < 0 ? -errno : r;
}

static void print_reaped(const char *tag) {
        struct io_uring_cqe *cqe;
        char b[32];

        printf("%s:", tag);
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
                printf(" %llu/%s", (unsigned long long) cqe->user_data, t_res(cqe->res, b));
                io_uring_cqe_seen(&ring, cqe);
        }
        printf("\n");
}

int main(void) {
        static unsigned char seen[TOTAL];
        struct io_uring_cqe *cqes[ENTRIES * 2];
        unsigned submitted = 0, reaped = 0;
        char b[32];

        t_backend();
        t_ring_init(&ring, ENTRIES, NULL);

        while (submitted < TOTAL) {
                for (unsigned i = 0; i < ENTRIES; i++) {
                        struct io_uring_sqe *sqe = t_get_sqe(&ring);
                        io_uring_prep_nop(sqe);
                        sqe->user_data = submitted + i;
                }
                int r = io_uring_submit_and_wait(&ring, ENTRIES);
                t_assert(r == ENTRIES, "submit_and_wait: %d", r);
                submitted += ENTRIES;
                unsigned n;
                while ((n = io_uring_peek_batch_cqe(&ring, cqes, ENTRIES * 2)) > 0) {
                        for (unsigned k = 0; k < n; k++) {
                                uint64_t ud = cqes[k]->user_data;
                                t_assert(ud < TOTAL, "user_data %llu", (unsigned long long) ud);
                                t_assert(cqes[k]->res == 0 && cqes[k]->flags == 0, "NOP res %d flags %x",
                                         cqes[k]->res, cqes[k]->flags);
                                seen[ud]++;
                        }
                        io_uring_cq_advance(&ring, n);
                        reaped += n;
                }
        }
        unsigned missing = 0, dups = 0;
        for (unsigned i = 0; i < TOTAL; i++) {
                missing += seen[i] == 0;
                dups += seen[i] > 1;
        }
        printf("bulk: submitted=%u reaped=%u missing=%u duplicated=%u\n", submitted, reaped, missing, dups);
        t_assert(!missing && !dups && reaped == TOTAL, "bulk NOPs lost or duplicated");

        /* Permuted SQ array: fill 4 SQE slots, publish them in reverse. */
        unsigned mask = *ring.sq.kring_mask;
        unsigned tail = *ring.sq.ktail;
        unsigned slots[4];
        for (unsigned i = 0; i < 4; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 10 + i;
                slots[i] = (unsigned) (sqe - ring.sq.sqes);
        }
        for (unsigned i = 0; i < 4; i++)
                ring.sq.array[(tail + i) & mask] = slots[3 - i];
        io_uring_smp_store_release(ring.sq.ktail, tail + 4);
        ring.sq.sqe_head = ring.sq.sqe_tail;
        printf("reversed array: enter=%s\n", t_res((int) sys_enter(4, 4, IORING_ENTER_GETEVENTS), b));
        print_reaped("  cqes");

        /* The same SQE slot published twice. */
        tail = *ring.sq.ktail;
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 20;
        unsigned slot = (unsigned) (sqe - ring.sq.sqes);
        ring.sq.array[tail & mask] = slot;
        ring.sq.array[(tail + 1) & mask] = slot;
        io_uring_smp_store_release(ring.sq.ktail, tail + 2);
        ring.sq.sqe_tail++; /* liburing's view: two SQEs used */
        ring.sq.sqe_head = ring.sq.sqe_tail;
        printf("one slot twice: enter=%s\n", t_res((int) sys_enter(2, 2, IORING_ENTER_GETEVENTS), b));
        print_reaped("  cqes");

        /* An index past the SQ: dropped, counted, no CQE; the next one runs. */
        unsigned dropped0 = *ring.sq.kdropped;
        tail = *ring.sq.ktail;
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 30;
        slot = (unsigned) (sqe - ring.sq.sqes);
        sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 31;
        unsigned slot2 = (unsigned) (sqe - ring.sq.sqes);
        ring.sq.array[tail & mask] = slot;
        ring.sq.array[(tail + 1) & mask] = 0x7fffffff;
        ring.sq.array[(tail + 2) & mask] = slot2;
        io_uring_smp_store_release(ring.sq.ktail, tail + 3);
        ring.sq.sqe_tail++;
        ring.sq.sqe_head = ring.sq.sqe_tail;
        long r = sys_enter(3, 0, 0);
        printf("bad index in the middle: enter=%s dropped+%u sq_head+%u\n", t_res((int) r, b),
               *ring.sq.kdropped - dropped0, io_uring_smp_load_acquire(ring.sq.khead) - tail);
        /* Whatever the kernel left in the SQ, flush it. */
        if (io_uring_smp_load_acquire(ring.sq.khead) != tail + 3) {
                r = sys_enter(3, 0, 0);
                printf("  again: enter=%s sq_head+%u\n", t_res((int) r, b),
                       io_uring_smp_load_acquire(ring.sq.khead) - tail);
        }
        r = sys_enter(0, 0, IORING_ENTER_GETEVENTS);
        print_reaped("  cqes");

        /* Restore the identity array for the rest. */
        for (unsigned i = 0; i <= mask; i++)
                ring.sq.array[i] = i;

        /* to_submit 2 of 5 queued: the kernel takes 2, the rest stay. */
        for (unsigned i = 0; i < 5; i++) {
                sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = 40 + i;
        }
        tail = *ring.sq.ktail;
        io_uring_smp_store_release(ring.sq.ktail, ring.sq.sqe_tail);
        ring.sq.sqe_head = ring.sq.sqe_tail;
        r = sys_enter(2, 2, IORING_ENTER_GETEVENTS);
        printf("to_submit 2 of 5: enter=%s left=%u\n", t_res((int) r, b), io_uring_sq_ready(&ring));
        print_reaped("  cqes");
        r = sys_enter(10, 3, IORING_ENTER_GETEVENTS);
        printf("to_submit 10 of 3: enter=%s left=%u\n", t_res((int) r, b), io_uring_sq_ready(&ring));
        print_reaped("  cqes");

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
