/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The native syscall ABI, as seccomp names it, and a seccomp program that
 * answers the three io_uring syscalls of that ABI with one action and allows
 * everything else (other ABIs included: i386 and x32 are not ours). Used by
 * the shim's trap filter, the daemon's check of notifications, and the
 * tests' container profile.
 */

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define URINGD_NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define URINGD_NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "uringd knows the syscall ABI of x86-64 and aarch64 only"
#endif

/* Initialiser of a struct sock_filter[8]. */
#define URINGD_IO_URING_FILTER(action)                                                          \
        {                                                                                       \
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),        \
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, URINGD_NATIVE_AUDIT_ARCH, 0, 5),            \
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),          \
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),                 \
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),                 \
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),              \
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                                   \
                BPF_STMT(BPF_RET | BPF_K, (action)),                                            \
        }
