/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring_setup() parameter rules and the ring layout. The expected values
 * are the kernel's (io_uring/io_uring.c: io_uring_setup, io_uring_fill_params).
 */

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

static struct io_uring_params params(uint32_t flags, uint32_t cq_entries) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags;
        p.cq_entries = cq_entries;
        return p;
}

START_TEST(entries_rounding) {
        static const struct { uint32_t in, sq; } cases[] = {
                { 1, 1 }, { 2, 2 }, { 3, 4 }, { 5, 8 }, { 64, 64 }, { 100, 128 },
                { 4097, 8192 }, { 32767, 32768 }, { 32768, 32768 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct io_uring_params p = params(0, 0);
                ck_assert_int_eq(ring_params_validate(cases[i].in, &p), 0);
                ck_assert_uint_eq(p.sq_entries, cases[i].sq);
                ck_assert_uint_eq(p.cq_entries, 2 * cases[i].sq);
        }
}
END_TEST

START_TEST(entries_zero_and_too_many) {
        struct io_uring_params p = params(0, 0);
        ck_assert_int_eq(ring_params_validate(0, &p), -EINVAL);
        p = params(0, 0);
        ck_assert_int_eq(ring_params_validate(32769, &p), -EINVAL);
        p = params(0, 0);
        ck_assert_int_eq(ring_params_validate(UINT32_MAX, &p), -EINVAL);
        /* CLAMP caps instead. */
        p = params(IORING_SETUP_CLAMP, 0);
        ck_assert_int_eq(ring_params_validate(UINT32_MAX, &p), 0);
        ck_assert_uint_eq(p.sq_entries, 32768);
        ck_assert_uint_eq(p.cq_entries, 65536);
        /* CLAMP does not make 0 valid. */
        p = params(IORING_SETUP_CLAMP, 0);
        ck_assert_int_eq(ring_params_validate(0, &p), -EINVAL);
}
END_TEST

START_TEST(cqsize_rules) {
        struct io_uring_params p;

        p = params(IORING_SETUP_CQSIZE, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);

        p = params(IORING_SETUP_CQSIZE, 4);
        ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL); /* smaller than the SQ */

        p = params(IORING_SETUP_CQSIZE, 8);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        ck_assert_uint_eq(p.cq_entries, 8);

        p = params(IORING_SETUP_CQSIZE, 100);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        ck_assert_uint_eq(p.cq_entries, 128);

        p = params(IORING_SETUP_CQSIZE, 65537);
        ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);

        p = params(IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, 1000000);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        ck_assert_uint_eq(p.cq_entries, 65536);

        /* Rounding happens before the comparison with the SQ size. */
        p = params(IORING_SETUP_CQSIZE, 5);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        ck_assert_uint_eq(p.cq_entries, 8);
}
END_TEST

START_TEST(flags_and_resv) {
        struct io_uring_params p;

        /* Every flag we do not implement is refused, as by an older kernel;
         * SQ_AFF alone is refused by the kernel too. */
        static const uint32_t refused[] = {
                IORING_SETUP_IOPOLL, IORING_SETUP_SQ_AFF,
                IORING_SETUP_DEFER_TASKRUN, /* without SINGLE_ISSUER */
                IORING_SETUP_NO_MMAP, IORING_SETUP_REGISTERED_FD_ONLY, IORING_SETUP_NO_SQARRAY,
                1U << 31,
        };
        static const uint32_t accepted[] = {
                IORING_SETUP_R_DISABLED, IORING_SETUP_SQE128, IORING_SETUP_CQE32,
                IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_ATTACH_WQ,
        };
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                p = params(refused[i], 0);
                ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);
        }
        for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
                p = params(accepted[i], 0);
                ck_assert_int_eq(ring_params_validate(8, &p), 0);
        }

        p = params(IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);

        /* SQPOLL, with or without SQ_AFF; never with the IPI flags. */
        p = params(IORING_SETUP_SQPOLL, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        p = params(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        p = params(IORING_SETUP_SQPOLL | IORING_SETUP_COOP_TASKRUN, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);

        /* TASKRUN_FLAG needs COOP_TASKRUN (or DEFER_TASKRUN). */
        p = params(IORING_SETUP_TASKRUN_FLAG, 0);
        ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);

        for (int i = 0; i < 3; i++) {
                p = params(0, 0);
                p.resv[i] = 1;
                ck_assert_int_eq(ring_params_validate(8, &p), -EINVAL);
        }
}
END_TEST

/* SQE128 and CQE32 double the entry sizes, and with them the regions. */
START_TEST(big_entries) {
        struct io_uring_params p = params(IORING_SETUP_SQE128 | IORING_SETUP_CQE32, 0);
        struct ring_layout l;

        ck_assert_int_eq(ring_params_validate(64, &p), 0);
        ring_layout_compute(&p, &l);
        ck_assert_uint_eq(l.sqe_size, 128);
        ck_assert_uint_eq(l.cqe_size, 32);
        ck_assert_uint_eq(l.sqes_size, 64 * 128);
        ck_assert_uint_eq(l.cq_region_size, p.cq_off.cqes + 128 * 32);
        ck_assert_uint_eq(l.file_size % 4096, 0);
        ck_assert_uint_ge(l.file_size, IORING_OFF_SQES + 64 * 128);
}
END_TEST

START_TEST(layout_offsets) {
        struct io_uring_params p = params(0, 0);
        struct ring_layout l;

        ck_assert_int_eq(ring_params_validate(64, &p), 0);
        ring_layout_compute(&p, &l);

        ck_assert_uint_eq(l.sq_entries, 64);
        ck_assert_uint_eq(l.cq_entries, 128);
        /* The app maps exactly what liburing computes from the offsets. */
        ck_assert_uint_eq(l.sq_region_size, p.sq_off.array + 64 * sizeof(uint32_t));
        ck_assert_uint_eq(l.cq_region_size, p.cq_off.cqes + 128 * sizeof(struct io_uring_cqe));
        ck_assert_uint_eq(l.sqes_size, 64 * sizeof(struct io_uring_sqe));
        /* The regions fit between the kernel's offsets. */
        ck_assert(l.sq_region_size <= IORING_OFF_CQ_RING);
        ck_assert(IORING_OFF_CQ_RING + l.cq_region_size <= IORING_OFF_SQES);
        ck_assert_uint_eq(l.file_size, IORING_OFF_SQES + 4096);
        /* Head and tail on their own cache lines; CQEs aligned. */
        ck_assert_uint_eq(p.sq_off.tail - p.sq_off.head, 64);
        ck_assert_uint_eq(p.cq_off.tail - p.cq_off.head, 64);
        ck_assert_uint_eq(p.cq_off.cqes % 64, 0);
        ck_assert_uint_eq(p.sq_off.array % 4, 0);
        /* No field overlaps another. */
        uint32_t sq_fields[] = { p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask,
                                 p.sq_off.ring_entries, p.sq_off.flags, p.sq_off.dropped };
        for (size_t i = 0; i < 6; i++) {
                ck_assert_uint_lt(sq_fields[i] + 4, p.sq_off.array + 1);
                for (size_t j = i + 1; j < 6; j++)
                        ck_assert_uint_ne(sq_fields[i], sq_fields[j]);
        }
        uint32_t cq_fields[] = { p.cq_off.head, p.cq_off.tail, p.cq_off.ring_mask,
                                 p.cq_off.ring_entries, p.cq_off.overflow, p.cq_off.flags };
        for (size_t i = 0; i < 6; i++) {
                ck_assert_uint_lt(cq_fields[i] + 4, p.cq_off.cqes + 1);
                for (size_t j = i + 1; j < 6; j++)
                        ck_assert_uint_ne(cq_fields[i], cq_fields[j]);
        }
}
END_TEST

START_TEST(layout_largest) {
        struct io_uring_params p = params(IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, UINT32_MAX);
        struct ring_layout l;

        ck_assert_int_eq(ring_params_validate(UINT32_MAX, &p), 0);
        ring_layout_compute(&p, &l);
        ck_assert(l.sq_region_size <= IORING_OFF_CQ_RING);
        ck_assert(IORING_OFF_CQ_RING + l.cq_region_size <= IORING_OFF_SQES);
        ck_assert_uint_eq(l.file_size, IORING_OFF_SQES + 32768 * 64);
}
END_TEST

START_TEST(features_truthful) {
        struct io_uring_params p = params(0, 0);
        struct ring_layout l;

        ck_assert_int_eq(ring_params_validate(8, &p), 0);
        ring_layout_compute(&p, &l);
        /* One memfd cannot alias two offsets: never SINGLE_MMAP. */
        ck_assert(!(p.features & IORING_FEAT_SINGLE_MMAP));
        ck_assert(p.features & IORING_FEAT_NODROP);
        ck_assert(p.features & IORING_FEAT_EXT_ARG);
        ck_assert(p.features & IORING_FEAT_FAST_POLL);
        ck_assert(p.features & IORING_FEAT_MIN_TIMEOUT);
        /* Nothing we cannot do: registered rings, recvsend bundles, ... */
        ck_assert(!(p.features & IORING_FEAT_REG_REG_RING));
        ck_assert(p.features & IORING_FEAT_SQPOLL_NONFIXED);
        ck_assert(p.features & IORING_FEAT_CQE_SKIP);
}
END_TEST

static Suite *layout_suite(void) {
        Suite *s = suite_create("layout");
        TCase *tc = tcase_create("setup");
        tcase_add_test(tc, entries_rounding);
        tcase_add_test(tc, entries_zero_and_too_many);
        tcase_add_test(tc, cqsize_rules);
        tcase_add_test(tc, flags_and_resv);
        tcase_add_test(tc, layout_offsets);
        tcase_add_test(tc, big_entries);
        tcase_add_test(tc, layout_largest);
        tcase_add_test(tc, features_truthful);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(layout_suite());
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
