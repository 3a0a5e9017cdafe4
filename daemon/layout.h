/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Pure arithmetic of io_uring_setup: parameter validation with the kernel's
 * rules and errno, and the layout of a ring inside its memfd. No I/O here, so
 * that a unit suite can check every rule.
 *
 * A ring lives in one sparse memfd, at the kernel's mmap offsets:
 *   IORING_OFF_SQ_RING (0)          SQ region: head, tail, mask, entries,
 *                                   flags, dropped, then the index array
 *   IORING_OFF_CQ_RING (0x8000000)  CQ region: head, tail, mask, entries,
 *                                   overflow, flags, then the CQEs
 *   IORING_OFF_SQES (0x10000000)    the SQE array
 * A memfd cannot alias two offsets, so IORING_FEAT_SINGLE_MMAP is never
 * advertised and each region has offsets relative to its own start.
 */

#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>

#include "uringd/compat.h"

/* Setup flags whose semantics uringd implements. The rest get -EINVAL,
 * as from a kernel that predates them. */
#define URINGD_SETUP_FLAGS                                                      \
        (IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL |   \
         IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |                \
         IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_R_DISABLED | \
         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SQE128 | IORING_SETUP_CQE32 | \
         IORING_SETUP_ATTACH_WQ | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_IOPOLL)

/* Features uringd really provides. Never IORING_FEAT_SINGLE_MMAP. */
#define URINGD_FEATURES                                                         \
        (IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_RW_CUR_POS | \
         IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP | IORING_FEAT_LINKED_FILE |  \
         IORING_FEAT_SQPOLL_NONFIXED | IORING_FEAT_MIN_TIMEOUT | IORING_FEAT_FAST_POLL | \
         IORING_FEAT_CUR_PERSONALITY)

/* Offsets inside the SQ region. Head and tail sit on their own cache lines,
 * as in the kernel's struct io_rings. */
#define SQ_OFF_HEAD 0
#define SQ_OFF_TAIL 64
#define SQ_OFF_RING_MASK 128
#define SQ_OFF_RING_ENTRIES 132
#define SQ_OFF_FLAGS 136
#define SQ_OFF_DROPPED 140
#define SQ_OFF_ARRAY 192
/* uringd's own word in the padding, read by the shim's event-loop hooks
 * (URINGD_EVLOOP_STATE_*, proto/uringd-proto.h); the app never looks. */
#define SQ_OFF_URINGD_STATE 144

/* Offsets inside the CQ region. */
#define CQ_OFF_HEAD 0
#define CQ_OFF_TAIL 64
#define CQ_OFF_RING_MASK 128
#define CQ_OFF_RING_ENTRIES 132
#define CQ_OFF_OVERFLOW 136
#define CQ_OFF_FLAGS 140
#define CQ_OFF_CQES 192

struct ring_layout {
        uint32_t sq_entries, cq_entries;
        uint32_t sqe_size, cqe_size;
        size_t sq_region_size;  /* bytes the app maps at IORING_OFF_SQ_RING */
        size_t cq_region_size;  /* ... at IORING_OFF_CQ_RING */
        size_t sqes_size;       /* ... at IORING_OFF_SQES */
        uint64_t file_size;     /* size of the sparse memfd */
};

/*
 * Check @entries and the caller-supplied @p as io_uring_setup() does and fill
 * p->sq_entries, p->cq_entries. Returns 0 or -EINVAL. Does not touch the
 * offsets or features.
 */
int ring_params_validate(uint32_t entries, struct io_uring_params *p);

/* Compute the layout for validated @p and fill p->sq_off, p->cq_off and
 * p->features. */
void ring_layout_compute(struct io_uring_params *p, struct ring_layout *ret);

/* Round @size up to whole pages. */
size_t ring_page_align(size_t size);
