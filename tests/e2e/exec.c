/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rings across fork, vfork, exec and posix_spawn.
 *
 * The parent makes a ring, then starts itself again as a child four ways:
 * fork+execv (the shim inherited through LD_PRELOAD), fork+execve with
 * LD_PRELOAD removed from the environment, posix_spawn, and vfork+execve.
 * Each child checks that the parent's ring fd did not survive exec (the
 * kernel makes ring fds O_CLOEXEC), makes a ring of its own and runs a NOP on
 * it, and checks that it got no seccomp filter beyond its parent's (an
 * exec'd shim finds the inherited one serving it and stacks none). Then a
 * forked child (no exec) uses the inherited ring.
 *
 * Usage: exec            (the parent)
 *        exec child FD N (internal: a child; FD the parent's ring fd, N the
 *                         parent's seccomp filter count)
 */

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

extern char **environ;

static int seccomp_filters(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[128];
        int n = -1;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Seccomp_filters: %d", &n) == 1)
                        break;
        fclose(f);
        return n;
}

static int nop_once(struct io_uring *ring, uint64_t user_data) {
        struct io_uring_sqe *sqe = t_get_sqe(ring);
        struct io_uring_cqe cqe;

        io_uring_prep_nop(sqe);
        sqe->user_data = user_data;
        t_submit_n(ring, 1);
        cqe = t_wait_one(ring);
        return cqe.user_data == user_data ? cqe.res : -EPROTO;
}

static int child(int parent_fd, int parent_filters) {
        struct io_uring ring;
        char b[32];
        int r, fdflags;

        errno = 0;
        fdflags = fcntl(parent_fd, F_GETFD);
        printf("  parent's ring fd after exec: %s\n",
               fdflags < 0 && errno == EBADF ? "closed" : "STILL OPEN");
        t_ring_init(&ring, 8, NULL);
        r = nop_once(&ring, 7);
        printf("  own ring: nop res=%s\n", t_res(r, b));
        printf("  seccomp filters beyond the parent's: %d\n", seccomp_filters() - parent_filters);
        io_uring_queue_exit(&ring);
        fflush(stdout);
        return r == 0 && fdflags < 0 ? T_EXIT_PASS : T_EXIT_FAIL;
}

/* The environment without LD_PRELOAD (a program that drops it). */
static char **env_without_preload(void) {
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 1, sizeof(char *));
        t_assert(env, "calloc");
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "LD_PRELOAD=", strlen("LD_PRELOAD=")) != 0)
                        env[k++] = environ[i];
        return env;
}

static int reap(pid_t pid, const char *how) {
        int status;

        t_assert(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        if (WIFEXITED(status)) {
                printf("%s: child exited %d\n", how, WEXITSTATUS(status));
                return WEXITSTATUS(status) == 0 ? 0 : 1;
        }
        printf("%s: child killed by signal %d\n", how, WTERMSIG(status));
        return 1;
}

static int run_vfork(char **child_argv) {
        pid_t pid = vfork();

        t_assert(pid >= 0, "vfork: %m");
        if (pid == 0) {
                execve("/proc/self/exe", child_argv, environ);
                _exit(127);
        }
        return reap(pid, "vfork + execve");
}

int main(int argc, char *argv[]) {
        struct io_uring ring;
        char fd_str[16], filters_str[16], b[32];
        char *child_argv[5];
        int bad = 0, filters, r;
        pid_t pid;

        if (argc == 4 && strcmp(argv[1], "child") == 0)
                return child(atoi(argv[2]), atoi(argv[3]));
        t_backend();

        t_ring_init(&ring, 8, NULL);
        r = nop_once(&ring, 1);
        printf("parent: nop res=%s\n", t_res(r, b));
        bad += r != 0;
        filters = seccomp_filters();
        snprintf(fd_str, sizeof(fd_str), "%d", ring.ring_fd);
        snprintf(filters_str, sizeof(filters_str), "%d", filters);
        child_argv[0] = argv[0];
        child_argv[1] = "child";
        child_argv[2] = fd_str;
        child_argv[3] = filters_str;
        child_argv[4] = NULL;
        fflush(stdout);

        printf("fork + execv:\n");
        fflush(stdout);
        pid = fork();
        t_assert(pid >= 0, "fork: %m");
        if (pid == 0) {
                execv("/proc/self/exe", child_argv);
                _exit(127);
        }
        bad += reap(pid, "fork + execv");

        printf("fork + execve without LD_PRELOAD:\n");
        fflush(stdout);
        pid = fork();
        t_assert(pid >= 0, "fork: %m");
        if (pid == 0) {
                execve("/proc/self/exe", child_argv, env_without_preload());
                _exit(127);
        }
        bad += reap(pid, "fork + execve without LD_PRELOAD");

        printf("posix_spawn:\n");
        fflush(stdout);
        r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ);
        t_assert(r == 0, "posix_spawn: %s", strerror(r));
        bad += reap(pid, "posix_spawn");

        printf("vfork + execve:\n");
        fflush(stdout);
        bad += run_vfork(child_argv);

        /* fork without exec: the child shares the parent's ring (the parent
         * leaves it alone from now on: its liburing view of the SQ tail would
         * be stale). */
        pid = fork();
        t_assert(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(nop_once(&ring, 2) == 0 ? 0 : 1);
        bad += reap(pid, "fork, nop on the inherited ring");

        io_uring_queue_exit(&ring);
        return bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
