/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * served PROGRAM [ARGS...]
 *
 * Runs PROGRAM only when uringd serves this process's io_uring calls: under
 * uringd-run, the shim's seccomp filter survives execve(), so PROGRAM's
 * rings are the daemon's too. Otherwise (no daemon reached, the shim left
 * the process to the kernel) it prints why and exits 99, a status no
 * liburing test uses, so that a test cannot pass on the kernel's io_uring
 * while the suite believes it ran under uringd.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uringd-proto.h"

#define EXIT_NOT_SERVED 99

int main(int argc, char *argv[]) {
        long r;

        if (argc < 2) {
                fprintf(stderr, "usage: served PROGRAM [ARGS...]\n");
                return EXIT_NOT_SERVED;
        }

        r = syscall(__NR_io_uring_register, -1, URINGD_PROBE_OPCODE,
                    (void *) URINGD_PROBE_COOKIE, URINGD_PROTO_VERSION);
        if (r != URINGD_PROBE_ANSWER) {
                fprintf(stderr, "served: uringd does not serve this process (probe: %ld%s%s)\n",
                        r, r < 0 ? ", " : "", r < 0 ? strerror(errno) : "");
                return EXIT_NOT_SERVED;
        }

        execv(argv[1], argv + 1);
        fprintf(stderr, "served: execv(%s): %m\n", argv[1]);
        return EXIT_NOT_SERVED;
}
