/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter: allow everything, hand io_uring_setup/enter/register
 * to a USER_NOTIF listener. Built with libseccomp 2.5, whose quirks matter:
 *  - it keeps the listener fd in process-global state, and seccomp_reset(NULL)
 *    is the call that closes it and forgets it;
 *  - with TSYNC and a listener it asks for TSYNC_ESRCH itself when the kernel
 *    has it (5.7+), and fails otherwise;
 *  - without SCMP_FLTATR_API_SYSRAWRC every kernel error reads -ECANCELED,
 *    and even with it seccomp_load() turns errors outside a short list
 *    (EBUSY among them) into -EFAULT; errno still holds the kernel's answer.
 */

#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>

#include "shim.h"

static int load(bool tsync, bool nnp, int *ret_listener) {
        static const int calls[] = {
                SCMP_SYS(io_uring_setup),
                SCMP_SYS(io_uring_enter),
                SCMP_SYS(io_uring_register),
        };
        scmp_filter_ctx ctx;
        int r, fd;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;

        /*
         * Other ABIs (i386 int 0x80, x32) are not ours to serve: let them
         * reach the kernel rather than kill the process (the default).
         */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, nnp);
        if (r >= 0 && tsync)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(calls); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, calls[i], 0);
        if (r >= 0) {
                errno = 0;
                r = seccomp_load(ctx);
                if (r == -EFAULT && errno > 0)
                        r = -errno;
        }
        if (r >= 0) {
                fd = seccomp_notify_fd(ctx);
                if (fd < 0)
                        r = -EBADF; /* cannot happen: the filter uses NOTIFY */
                else
                        *ret_listener = fd;
        }

        seccomp_release(ctx);
        return r;
}

int shim_filter_load(int *ret_listener) {
        bool tsync = true, nnp = false;
        int r;

        for (;;) {
                r = load(tsync, nnp, ret_listener);
                if (r == -EACCES && !nnp) {
                        /* No CAP_SYS_ADMIN: only a no_new_privs task may install filters. */
                        shim_log("loading the filter: permission denied; retrying with no_new_privs "
                                 "(setuid programs run from here gain no privileges)");
                        nnp = true;
                        continue;
                }
                if (r >= 0 || r == -EBUSY || r == -EACCES || !tsync)
                        break;
                /* ESRCH: a thread could not be synced; anything else: no TSYNC_ESRCH. */
                shim_log_errno(r, "loading the filter on all threads: %m; retrying for this thread "
                               "(threads that already exist are not served)");
                tsync = false;
        }

        if (r == -EBUSY)
                return shim_log_errno(r, "this process already has a seccomp listener (%m): another "
                                      "supervisor, or uringd behind a filter that answers io_uring first");
        if (r < 0)
                return shim_log_errno(r, "loading the filter: %m");

        shim_log("filter loaded (%s, %s)", tsync ? "all threads" : "this thread only",
                 nnp ? "no_new_privs set" : "no_new_privs untouched");
        return 0;
}

void shim_filter_release(void) {
        /*
         * libseccomp 2.5 closes the listener it keeps in its global state
         * here, and forgets it: a program that uses libseccomp itself later
         * starts from a clean state.
         */
        seccomp_reset(NULL, 0);
}
