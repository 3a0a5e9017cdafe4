/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared bits of the end-to-end programs. Each program is one scenario, run
 * twice by compare.sh: on the kernel (URINGD_EXPECT=kernel) and under
 * uringd-run (URINGD_EXPECT=uringd). It exits T_EXIT_PASS, T_EXIT_FAIL or
 * T_EXIT_SKIP, and prints to stdout only what must be identical in both runs
 * (results, errno names, checksums): never times, pids or addresses.
 * Diagnostics go to stderr.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

enum {
        T_EXIT_PASS = 0,
        T_EXIT_FAIL = 1,
        T_EXIT_SKIP = 77,
};

enum t_backend {
        T_KERNEL,
        T_URINGD,
};

/* Which backend this run expects, from $URINGD_EXPECT. Exits T_EXIT_FAIL
 * when it is unset or unknown. */
enum t_backend t_backend(void);

/*
 * Check that @ring_fd was made by the expected backend: a uringd ring is a
 * memfd ("/memfd:..."), a kernel ring an "anon_inode:[io_uring]". Returns
 * true when it matches; otherwise says why on stderr and returns false.
 */
bool t_ring_origin_ok(int ring_fd);

/* Exit T_EXIT_FAIL with a message (and the source line) on stderr. */
#define t_fail(...) t_fail_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void t_fail_at(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Assert @cond, else t_fail. */
#define t_assert(cond, ...)                     \
        do {                                    \
                if (!(cond))                    \
                        t_fail(__VA_ARGS__);    \
        } while (0)

/*
 * io_uring_queue_init_params() with the origin check. A setup that the kernel
 * refuses as disabled (-ENOSYS, -EPERM) makes the program skip on the kernel
 * backend; any other failure fails.
 */
void t_ring_init(struct io_uring *ring, unsigned entries, struct io_uring_params *p);

/* Check the origin of the fd of an already set-up ring (t_fail if wrong). */
void t_ring_check(struct io_uring *ring);

/* The symbolic name of an errno value (positive or negative), "OK" for 0 and
 * the number for unknown ones: a stable token for the outputs. */
const char *t_errname(int err);

/* Print one line per CQE: "<tag> user_data=<u64> res=<name|n> flags=0x<x>".
 * A non-negative res is printed as a number, a negative one by errno name. */
void t_print_cqe(const char *tag, const struct io_uring_cqe *cqe);

/* Format a result: a number when >= 0, "-ENAME" when negative. */
const char *t_res(int res, char buf[static 32]);

/* Wait for exactly one CQE (t_fail on error) and copy it out. */
struct io_uring_cqe t_wait_one(struct io_uring *ring);

/* Submit what is queued and check that exactly @n SQEs went in. */
void t_submit_n(struct io_uring *ring, int n);

/* Get an SQE or fail. */
struct io_uring_sqe *t_get_sqe(struct io_uring *ring);

/*
 * A private scratch directory on the root file system (not tmpfs): under
 * $URINGD_TEST_TMPDIR when set, else /var/tmp. Removed with its files by
 * t_cleanup(), which runs at exit.
 */
const char *t_tmpdir(void);

/* Create @name in the scratch directory with @flags (O_CREAT implied);
 * returns the fd, t_fail on error. The path is returned in @path if given. */
int t_tmpfile(const char *name, int flags, char *path, size_t path_size);

/* Deterministic pseudo-random bytes from @seed. */
void t_fill(void *buf, size_t len, uint32_t seed);

/* CRC-32C (Castagnoli) of @len bytes, continuing from @crc (start with 0). */
uint32_t t_crc32c(uint32_t crc, const void *buf, size_t len);

/* CRC-32C of a whole file read with pread (not io_uring); size in *ret_size. */
uint32_t t_file_crc(int fd, uint64_t *ret_size);

/* Number of open fds of this process. */
unsigned t_count_fds(void);

/* A field of /proc/<pid>/status in kB (VmRSS, ...); -1 when unreadable. */
long t_proc_status_kb(int pid, const char *field);
