/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * deny eperm|enosys|listener COMMAND [ARGS...]
 *
 * A container runtime's default seccomp profile in miniature: io_uring_setup,
 * io_uring_enter and io_uring_register answered with ERRNO (EPERM as
 * Docker's and containerd's profiles do, or ENOSYS), everything else allowed;
 * then exec COMMAND under it. ERRNO outranks a USER_NOTIF listener that the
 * shim installs later, so only uringd's trap mode can serve what runs here.
 *
 * listener: instead, a process that already has a seccomp listener (another
 * supervisor's, for a syscall nobody makes): a second one fails with EBUSY,
 * so the shim must fall back to trap mode there too. Its fd stays open
 * across exec, as a supervisor's would stay alive.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uringd/seccomp.h"

static int listener(char **cmd) {
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_uselib, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
        int fd;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                perror("PR_SET_NO_NEW_PRIVS");
                return 1;
        }
        fd = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0) {
                perror("seccomp NEW_LISTENER");
                return 1;
        }
        /* Out of the way of the program's own fds, and kept across exec. */
        if (dup2(fd, 200) < 0) {
                perror("dup2");
                return 1;
        }
        close(fd);
        execvp(cmd[0], cmd);
        perror(cmd[0]);
        return 127;
}

int main(int argc, char *argv[]) {
        unsigned err;

        if (argc < 3 || (strcmp(argv[1], "eperm") != 0 && strcmp(argv[1], "enosys") != 0 &&
                         strcmp(argv[1], "listener") != 0)) {
                fprintf(stderr, "usage: %s eperm|enosys|listener COMMAND [ARGS...]\n", argv[0]);
                return 2;
        }
        if (strcmp(argv[1], "listener") == 0)
                return listener(argv + 2);
        err = strcmp(argv[1], "eperm") == 0 ? EPERM : ENOSYS;

        struct sock_filter code[] = URINGD_IO_URING_FILTER(SECCOMP_RET_ERRNO | err);
        struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

        /* As a runtime does for an unprivileged container. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                perror("PR_SET_NO_NEW_PRIVS");
                return 1;
        }
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
                perror("seccomp");
                return 1;
        }
        /* Prove the profile bites before handing over. */
        if (syscall(__NR_io_uring_setup, 1, NULL) != -1 || errno != (int) err) {
                fprintf(stderr, "deny: io_uring_setup was not refused with %s\n", argv[1]);
                return 1;
        }
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        return 127;
}
