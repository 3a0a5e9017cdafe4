/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "layout.h"
#include "uringd/macro.h"

#define RING_PAGE_SIZE 4096UL

size_t ring_page_align(size_t size) {
        return ALIGN_TO(size, RING_PAGE_SIZE);
}

int ring_params_validate(uint32_t entries, struct io_uring_params *p) {
        /* io_uring_setup(): reserved fields and unknown flags first. */
        for (size_t i = 0; i < ELEMENTSOF(p->resv); i++)
                if (p->resv[i])
                        return -EINVAL;
        if (p->flags & ~URINGD_SETUP_FLAGS)
                return -EINVAL;

        /* io_uring_sanitise_params(): flag combinations. */
        if ((p->flags & IORING_SETUP_SQPOLL) &&
            (p->flags & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_DEFER_TASKRUN)))
                return -EINVAL;
        if ((p->flags & IORING_SETUP_TASKRUN_FLAG) &&
            !(p->flags & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN)))
                return -EINVAL;
        /* Completions run in the issuer: there must be just one. */
        if ((p->flags & IORING_SETUP_DEFER_TASKRUN) && !(p->flags & IORING_SETUP_SINGLE_ISSUER))
                return -EINVAL;

        /* io_uring_fill_params(): sizes. */
        if (entries == 0)
                return -EINVAL;
        if (entries > URINGD_IORING_MAX_ENTRIES) {
                if (!(p->flags & IORING_SETUP_CLAMP))
                        return -EINVAL;
                entries = URINGD_IORING_MAX_ENTRIES;
        }

        uint32_t sq_entries = roundup_pow_of_two_u32(entries), cq_entries;
        if (p->flags & IORING_SETUP_CQSIZE) {
                /* The app's CQ size: rounded up, never smaller than the SQ. */
                cq_entries = p->cq_entries;
                if (cq_entries == 0)
                        return -EINVAL;
                if (cq_entries > URINGD_IORING_MAX_CQ_ENTRIES) {
                        if (!(p->flags & IORING_SETUP_CLAMP))
                                return -EINVAL;
                        cq_entries = URINGD_IORING_MAX_CQ_ENTRIES;
                }
                cq_entries = roundup_pow_of_two_u32(cq_entries);
                if (cq_entries < sq_entries)
                        return -EINVAL;
        } else
                cq_entries = 2 * sq_entries;

        p->sq_entries = sq_entries;
        p->cq_entries = cq_entries;

        /* io_sq_offload_create(): SQ_AFF only means something with SQPOLL. */
        if ((p->flags & IORING_SETUP_SQ_AFF) && !(p->flags & IORING_SETUP_SQPOLL))
                return -EINVAL;
        return 0;
}

void ring_layout_compute(struct io_uring_params *p, struct ring_layout *ret) {
        struct ring_layout l = {
                .sq_entries = p->sq_entries,
                .cq_entries = p->cq_entries,
                /* SQE128 and CQE32 double the entries; the extra half of a
                 * CQE is zero for every opcode we have. */
                .sqe_size = (p->flags & IORING_SETUP_SQE128 ? 2 : 1) * sizeof(struct io_uring_sqe),
                .cqe_size = (p->flags & IORING_SETUP_CQE32 ? 2 : 1) * sizeof(struct io_uring_cqe),
        };

        l.sq_region_size = SQ_OFF_ARRAY + (size_t) l.sq_entries * sizeof(uint32_t);
        l.cq_region_size = CQ_OFF_CQES + (size_t) l.cq_entries * l.cqe_size;
        l.sqes_size = (size_t) l.sq_entries * l.sqe_size;
        l.file_size = IORING_OFF_SQES + ring_page_align(l.sqes_size);

        memset(&p->sq_off, 0, sizeof(p->sq_off));
        p->sq_off.head = SQ_OFF_HEAD;
        p->sq_off.tail = SQ_OFF_TAIL;
        p->sq_off.ring_mask = SQ_OFF_RING_MASK;
        p->sq_off.ring_entries = SQ_OFF_RING_ENTRIES;
        p->sq_off.flags = SQ_OFF_FLAGS;
        p->sq_off.dropped = SQ_OFF_DROPPED;
        p->sq_off.array = SQ_OFF_ARRAY;

        memset(&p->cq_off, 0, sizeof(p->cq_off));
        p->cq_off.head = CQ_OFF_HEAD;
        p->cq_off.tail = CQ_OFF_TAIL;
        p->cq_off.ring_mask = CQ_OFF_RING_MASK;
        p->cq_off.ring_entries = CQ_OFF_RING_ENTRIES;
        p->cq_off.overflow = CQ_OFF_OVERFLOW;
        p->cq_off.flags = CQ_OFF_FLAGS;
        p->cq_off.cqes = CQ_OFF_CQES;

        p->features = URINGD_FEATURES;
        *ret = l;
}
