/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The preload shim: a constructor that, once per process image, hands this
 * process's io_uring system calls to uringd.
 *
 * It traps io_uring_setup/enter/register with a seccomp USER_NOTIF filter
 * (liburing issues raw syscalls: no libc symbol to interpose) and passes the
 * listener to the daemon. It interposes only the libc functions that wait
 * on fds (evloop*.c), so that a ring fd works in event loops.
 *
 * Rules: never exit, never print unless $URINGD_DEBUG is set, leave errno
 * as found, and when anything is missing leave the process untouched. The
 * filter survives fork() and execve(): an exec'd program that loads the shim
 * again finds the probe answered and stops there.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "evloop.h"
#include "shim.h"
#include "uringd-proto.h"

/* Who may ptrace (process_vm_readv) us under Yama; 0 when unknown. */
static pid_t ptracer_pid;

/* Returns URINGD_PROBE_ANSWER when uringd serves this process, else -errno. */
static long probe(void) {
        long r = syscall(__NR_io_uring_register, -1, URINGD_PROBE_OPCODE,
                         (void *) URINGD_PROBE_COOKIE, URINGD_PROTO_VERSION);
        return r < 0 ? negative_errno() : r;
}

static void log_probe(long p, const char *what) {
        if (p < 0)
                shim_log_errno((int) p, "%s (probe: %m)", what);
        else
                shim_log("%s (probe returned %ld)", what, p);
}

static void set_ptracer(void) {
        /* EINVAL: no Yama LSM, and then no exception is needed. */
        if (prctl(PR_SET_PTRACER, (unsigned long) ptracer_pid, 0, 0, 0) < 0 && errno != EINVAL)
                shim_log("PR_SET_PTRACER %d: %m", (int) ptracer_pid);
}

static void atfork_child(void) {
        int saved = errno;

        /* Yama's exception is per process: a child needs its own. */
        (void) prctl(PR_SET_PTRACER, (unsigned long) ptracer_pid, 0, 0, 0);
        errno = saved;
}

static void allow_ptrace(pid_t pid) {
        int r;

        if (pid <= 0)
                return;
        ptracer_pid = pid;
        set_ptracer();
        r = pthread_atfork(NULL, NULL, atfork_child);
        if (r != 0)
                shim_log_errno(-r, "pthread_atfork: %m; forked children keep no ptrace exception");
}

/* uringd-run tells us the daemon's pid; an exec'd image has no other way. */
static pid_t daemon_pid_from_env(void) {
        const char *e = getenv("URINGD_DAEMON_PID");
        char *end;
        long v;

        if (!e || !*e)
                return 0;
        errno = 0;
        v = strtol(e, &end, 10);
        if (errno || *end || v <= 0 || v > INT32_MAX)
                return 0;
        return (pid_t) v;
}

static void shim_setup(void) {
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        _cleanup_close_ int sock = -1;
        pid_t daemon_pid = 0;
        int listener = -1;
        const char *e;
        long p;
        int r;

        e = getenv(URINGD_ENV_DISABLE);
        if (e && *e) {
                shim_log("disabled by $" URINGD_ENV_DISABLE);
                return;
        }

        p = probe();
        if (p == URINGD_PROBE_ANSWER) {
                shim_log("already served (probe answered): no second filter");
                allow_ptrace(daemon_pid_from_env());
                evloop_init();
                return;
        }

        r = uringd_socket_path(path, sizeof(path));
        if (r < 0) {
                shim_log_errno(r, "socket path: %m; process left untouched");
                return;
        }

        r = shim_connect(path, &sock);
        if (r < 0)
                return;

        r = shim_hello(sock, &daemon_pid);
        if (r < 0) {
                shim_log("process left untouched");
                return;
        }

        r = shim_filter_load(&listener);
        if (r < 0) {
                shim_log("process left untouched");
                return;
        }

        r = shim_attach(sock, listener);
        shim_filter_release();
        if (r < 0) {
                /* The filter cannot be removed: with its listener gone the kernel answers ENOSYS. */
                shim_log("filter installed but not served: io_uring calls will fail with ENOSYS");
                return;
        }

        allow_ptrace(daemon_pid);

        p = probe();
        if (p != URINGD_PROBE_ANSWER) {
                log_probe(p, "probe failed: an outer seccomp filter answers io_uring first "
                          "(container mode not implemented yet)");
                return;
        }

        /* The daemon reads and writes our memory: that needs a dumpable process. */
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
                shim_log("warning: process is not dumpable: the daemon cannot reach its memory");

        evloop_init();
        shim_log("served by uringd pid %d at %s", (int) daemon_pid, path);
}

__attribute__((constructor))
static void shim_init(void) {
        static bool done;
        int saved = errno;

        if (!done) {
                done = true;
                shim_log_init();
                shim_setup();
        }
        errno = saved;
}
