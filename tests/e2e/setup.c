/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring_setup parameter checking, with the raw syscall: entry counts
 * (zero, rounding, the 32768 limit, CLAMP), CQSIZE rules, non-zero resv,
 * an unknown flag bit, bad params pointers, garbage in output fields. Each
 * line: the result (errno name, or the sizes granted). Only flags that both
 * uringd and the kernel implement are used.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

static int bad;

static int sys_setup(unsigned entries, void *p) {
        return (int) syscall(__NR_io_uring_setup, entries, p);
}

/* Run one setup and print "what: ERRNO" or "what: sq=N cq=M". */
static void try(const char *what, unsigned entries, unsigned flags, unsigned cq_entries,
                void (*tweak)(struct io_uring_params *)) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        p.flags = flags;
        p.cq_entries = cq_entries;
        if (tweak)
                tweak(&p);
        int fd = sys_setup(entries, &p);
        if (fd < 0) {
                int e = errno;
                if (t_backend() == T_KERNEL && (e == ENOSYS || e == EPERM) && entries == 8 && !flags) {
                        fprintf(stderr, "SKIP: kernel io_uring unavailable\n");
                        exit(T_EXIT_SKIP);
                }
                printf("%-44s -%s\n", what, t_errname(e));
                return;
        }
        if (!t_ring_origin_ok(fd))
                bad++;
        printf("%-44s sq=%u cq=%u\n", what, p.sq_entries, p.cq_entries);
        close(fd);
}

static void resv0(struct io_uring_params *p) { p->resv[0] = 1; }
static void resv1(struct io_uring_params *p) { p->resv[1] = 0x80000000u; }
static void resv2(struct io_uring_params *p) { p->resv[2] = 7; }
static void outputs(struct io_uring_params *p) {
        /* Fields the kernel only writes: garbage in them is ignored. */
        p->sq_entries = 123;
        p->features = ~0u;
        memset(&p->sq_off, 0xff, sizeof(p->sq_off));
        memset(&p->cq_off, 0xff, sizeof(p->cq_off));
}

int main(void) {
        t_backend();
        unsigned before = t_count_fds();

        try("entries 8", 8, 0, 0, NULL);
        try("entries 0", 0, 0, 0, NULL);
        try("entries 0 with CLAMP", 0, IORING_SETUP_CLAMP, 0, NULL);
        try("entries 1", 1, 0, 0, NULL);
        try("entries 3 (rounded up)", 3, 0, 0, NULL);
        try("entries 100 (rounded up)", 100, 0, 0, NULL);
        try("entries 32768", 32768, 0, 0, NULL);
        try("entries 32769", 32769, 0, 0, NULL);
        try("entries 32769 with CLAMP", 32769, IORING_SETUP_CLAMP, 0, NULL);
        try("entries 1000000 with CLAMP", 1000000, IORING_SETUP_CLAMP, 0, NULL);
        try("entries 0xffffffff", 0xffffffffu, 0, 0, NULL);

        try("CQSIZE cq 0", 8, IORING_SETUP_CQSIZE, 0, NULL);
        try("CQSIZE cq 4 < sq 8", 8, IORING_SETUP_CQSIZE, 4, NULL);
        try("CQSIZE cq 5 < sq 8 (rounds to 8)", 8, IORING_SETUP_CQSIZE, 5, NULL);
        try("CQSIZE cq 8 = sq 8", 8, IORING_SETUP_CQSIZE, 8, NULL);
        try("CQSIZE cq 9 (rounded up)", 8, IORING_SETUP_CQSIZE, 9, NULL);
        try("CQSIZE cq 65536", 8, IORING_SETUP_CQSIZE, 65536, NULL);
        try("CQSIZE cq 65537", 8, IORING_SETUP_CQSIZE, 65537, NULL);
        try("CQSIZE cq 65537 with CLAMP", 8, IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, 65537, NULL);
        try("CQSIZE cq 0xffffffff with CLAMP", 8, IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, 0xffffffffu, NULL);
        try("CQSIZE cq 0 with CLAMP", 8, IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, 0, NULL);
        try("CQSIZE sq 32769 cq 8 with CLAMP", 32769, IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP, 8, NULL);
        try("cq_entries 4 without CQSIZE (ignored)", 8, 0, 4, NULL);

        try("resv[0] != 0", 8, 0, 0, resv0);
        try("resv[1] != 0", 8, 0, 0, resv1);
        try("resv[2] != 0", 8, 0, 0, resv2);
        try("flag bit 31", 8, 1u << 31, 0, NULL);
        try("flag bit 31 with CLAMP", 8, (1u << 31) | IORING_SETUP_CLAMP, 0, NULL);
        try("garbage in output fields", 8, 0, 0, outputs);

        /* Bad params pointers. */
        errno = 0;
        printf("%-44s -%s\n", "params NULL", sys_setup(8, NULL) < 0 ? t_errname(errno) : "SUCCEEDED");
        printf("%-44s -%s\n", "params (void *) 8", sys_setup(8, (void *) 8) < 0 ? t_errname(errno) : "SUCCEEDED");

        /* params whose last bytes run into an unmapped page. */
        long pg = sysconf(_SC_PAGESIZE);
        char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(two != MAP_FAILED, "mmap: %m");
        t_assert(munmap(two + pg, pg) == 0, "munmap: %m");
        struct io_uring_params *edge = (void *) (two + pg - sizeof(*edge) + 4);
        memset(edge, 0, sizeof(*edge) - 4);
        printf("%-44s -%s\n", "params crossing into an unmapped page",
               sys_setup(8, edge) < 0 ? t_errname(errno) : "SUCCEEDED");

        /* params in read-only memory: the kernel cannot write the result. */
        char *ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(ro != MAP_FAILED, "mmap: %m");
        memset(ro, 0, pg);
        t_assert(mprotect(ro, pg, PROT_READ) == 0, "mprotect: %m");
        int fd = sys_setup(8, ro);
        printf("%-44s -%s\n", "params read-only", fd < 0 ? t_errname(errno) : "SUCCEEDED");
        if (fd >= 0)
                close(fd);
        /* Failed setups leave no fd behind (the good ones were closed). */
        printf("fds leaked: %s\n", t_count_fds() == before ? "none" : "SOME");
        bad += t_count_fds() != before;

        if (bad) {
                fprintf(stderr, "%d rings from the wrong backend\n", bad);
                return T_EXIT_FAIL;
        }
        return T_EXIT_PASS;
}
