/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Kernel ABI names that Debian 12's uapi headers (Linux 6.1) lack. The values
 * are the kernel's; each is defined only when the system header does not.
 */

#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

/* seccomp (6.6+): run the woken task on the waker's CPU. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* The peer's pidfd, fixed when the socket was made or connected (6.5+). */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* pidfd_open() of a thread that is not a group leader (6.9+). */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD 00000200 /* O_EXCL */
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* io_uring setup flags newer than 6.1: named so that we can reject them. */
#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

/* io_uring_enter flags newer than 6.1. */
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif

/* io_uring SQE flags newer than 6.1. */
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 14)
#endif
#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

/* Maximum number of registered rings per task, as in the kernel. */
#define URINGD_IO_RINGFD_REG_MAX 16

/* The kernel's ring sizing limits (io_uring/io_uring.h). */
#define URINGD_IORING_MAX_ENTRIES 32768U
#define URINGD_IORING_MAX_CQ_ENTRIES (2U * URINGD_IORING_MAX_ENTRIES)

/* Registration limits (io_uring/rsrc.h, io_uring/filetable.h). */
#define URINGD_IORING_MAX_FIXED_FILES (1U << 20)
#define URINGD_IORING_MAX_REG_BUFFERS (1U << 14)

/*
 * The kernel here knows opcodes 0..62 (IORING_OP_LAST == 63 on 6.18): our
 * opcode table covers all of them so that PROBE can answer for each.
 */
#define URINGD_IORING_OP_LAST 63
#define URINGD_IORING_REGISTER_LAST 37

/* Kernel read/write size cap: INT_MAX rounded down to a page. */
#define URINGD_MAX_RW_COUNT (0x7fffffffL & ~4095L)
