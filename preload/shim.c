/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The preload shim: a constructor that, once per process image, hands this
 * process's io_uring system calls to uringd.
 *
 * Notify mode (the default): it traps io_uring_setup/enter/register with a
 * seccomp USER_NOTIF filter (liburing issues raw syscalls: no libc symbol to
 * interpose) and passes the listener to the daemon. Trap mode (trap.c), when
 * an outer filter answers io_uring with ERRNO first or another listener
 * exists: a SECCOMP_RET_TRAP filter and a SIGSYS handler that forwards the
 * calls. $URINGD_MODE=notify|trap forces one; $URINGD_DEBUG says which.
 *
 * Rules: never exit, never print unless $URINGD_DEBUG is set, leave errno
 * as found, and when anything is missing leave the process untouched. The
 * filter survives fork() and execve(): an exec'd program that loads the shim
 * again finds the probe answered and stops there (in trap mode after giving
 * the new image a handler and a connection).
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

enum shim_mode {
        SHIM_MODE_AUTO,
        SHIM_MODE_NOTIFY,
        SHIM_MODE_TRAP,
};

static const char *const mode_names[] = {
        [SHIM_MODE_AUTO] = "auto",
        [SHIM_MODE_NOTIFY] = "notify",
        [SHIM_MODE_TRAP] = "trap",
};

static enum shim_mode mode_from_env(void) {
        const char *e = getenv(URINGD_ENV_MODE);

        if (!e || !*e)
                return SHIM_MODE_AUTO;
        for (size_t i = 0; i < ELEMENTSOF(mode_names); i++)
                if (strcmp(e, mode_names[i]) == 0)
                        return (enum shim_mode) i;
        shim_log("$" URINGD_ENV_MODE "=%s is not auto, notify or trap: using auto", e);
        return SHIM_MODE_AUTO;
}

/* Seccomp filters on this thread (inherited over fork and exec), or -1. */
static int seccomp_filters(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[128];
        int n;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Seccomp_filters: %d", &n) == 1)
                        return n;
        return -1;
}

/* A fresh, greeted connection to the daemon. */
static int open_session(const char *path, int *ret_sock, pid_t *ret_pid, uint64_t *ret_features) {
        _cleanup_close_ int sock = -1;
        int r;

        r = shim_connect(path, &sock);
        if (r < 0)
                return r;
        r = shim_hello(sock, ret_pid, ret_features);
        if (r < 0)
                return r;
        *ret_sock = TAKE_FD(sock);
        return 0;
}

/* Trap mode on @sock: attach it, point the handler at it. */
static int start_trap(int sock, uint64_t features) {
        int r = shim_attach(sock, URINGD_ATTACH_TRAP, -1);

        if (r < 0)
                return r;
        shim_trap_set_socket(sock, features & URINGD_FEATURE_TRAP_CHANNEL);
        return 0;
}

/* Notify mode serves us after all: the handler goes dormant, the daemon
 * forgets the session. */
static void stop_trap(int fd) {
        if (fd < 0)
                return;
        shim_trap_set_socket(-1, false);
        safe_close(fd);
}

/* Notify mode: the filter, its listener to the daemon on @sock. Returns 0
 * when loaded and attached, -EBUSY when another listener exists, or -errno. */
static int start_notify(int sock) {
        int listener = -1, r;

        r = shim_filter_load(&listener);
        if (r < 0)
                return r;
        r = shim_attach(sock, URINGD_ATTACH_NOTIFY, listener);
        shim_filter_release();
        if (r < 0)
                /* The filter cannot be removed: with its listener gone the kernel answers ENOSYS. */
                shim_log("filter installed but not served: io_uring calls will fail with ENOSYS");
        return r;
}

static void shim_setup(void) {
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        _cleanup_close_ int sock = -1;
        int trap_fd = -1; /* the session attached in trap mode, once it is */
        enum shim_mode mode;
        pid_t daemon_pid = 0;
        uint64_t features = 0;
        int filters, r;
        const char *e;
        long p;

        e = getenv(URINGD_ENV_DISABLE);
        if (e && *e) {
                shim_log("disabled by $" URINGD_ENV_DISABLE);
                return;
        }
        mode = mode_from_env();
        filters = seccomp_filters();

        r = uringd_socket_path(path, sizeof(path));
        if (r < 0) {
                shim_log_errno(r, "socket path: %m; process left untouched");
                return;
        }
        r = open_session(path, &sock, &daemon_pid, &features);
        if (r < 0) {
                /* A trap filter inherited over exec must not kill us: its
                 * calls then fail with ENOSYS instead. */
                if (filters != 0)
                        (void) shim_trap_install_handler();
                shim_log("process left untouched");
                return;
        }

        /* Inherited over fork/exec: a filter of ours may serve us already. A
         * trap filter reaches the daemon only through a handler and a
         * connection of this image, so both are set up before the probe. */
        if (filters != 0) {
                if ((features & URINGD_FEATURE_TRAP) && shim_trap_install_handler() >= 0 &&
                    start_trap(sock, features) >= 0)
                        trap_fd = TAKE_FD(sock);
                p = probe();
                if (p == URINGD_PROBE_ANSWER && shim_trap_forwarded()) {
                        shim_trap_activate();
                        allow_ptrace(daemon_pid);
                        shim_log("mode trap: an inherited trap filter serves us (probe answered)");
                        evloop_init();
                        return;
                }
                if (p == URINGD_PROBE_ANSWER) {
                        stop_trap(trap_fd);
                        allow_ptrace(daemon_pid_from_env() ?: daemon_pid);
                        shim_log("mode notify: an inherited filter serves us (probe answered); no second filter");
                        evloop_init();
                        return;
                }
        }

        if (mode != SHIM_MODE_TRAP && (features & URINGD_FEATURE_NOTIFY)) {
                _cleanup_close_ int nsock = -1;

                if (sock < 0 && open_session(path, &nsock, &daemon_pid, &features) < 0)
                        return;
                r = start_notify(sock >= 0 ? sock : nsock);
                if (r < 0 && !(r == -EBUSY && mode == SHIM_MODE_AUTO)) {
                        shim_log("process left untouched");
                        return;
                }
                if (r >= 0) {
                        allow_ptrace(daemon_pid);
                        p = probe();
                        if (p == URINGD_PROBE_ANSWER) {
                                stop_trap(trap_fd);
                                shim_log("mode notify: served by uringd pid %d at %s", (int) daemon_pid, path);
                                goto done;
                        }
                        log_probe(p, mode == SHIM_MODE_AUTO ?
                                  "probe not answered: an outer seccomp filter answers io_uring first; "
                                  "falling back to trap mode" :
                                  "probe not answered: an outer seccomp filter answers io_uring first "
                                  "($" URINGD_ENV_MODE "=notify: no fallback)");
                        if (mode != SHIM_MODE_AUTO)
                                return;
                } else
                        shim_log("another seccomp listener exists: falling back to trap mode");
        }

        if (!(features & URINGD_FEATURE_TRAP)) {
                shim_log("the daemon has no trap mode; process left untouched");
                return;
        }
        if (trap_fd < 0) {
                r = shim_trap_install_handler();
                if (r >= 0)
                        r = start_trap(sock, features);
                if (r >= 0)
                        trap_fd = TAKE_FD(sock);
                if (r < 0) {
                        shim_log("trap mode unavailable; process left untouched");
                        return;
                }
        }
        r = shim_trap_filter_load();
        if (r < 0) {
                shim_log("process left untouched");
                return;
        }
        shim_trap_activate();
        allow_ptrace(daemon_pid);
        p = probe();
        if (p != URINGD_PROBE_ANSWER) {
                log_probe(p, "probe failed in trap mode: io_uring calls will not reach uringd");
                return;
        }
        shim_log("mode trap: served by uringd pid %d at %s (%s)", (int) daemon_pid, path,
                 mode == SHIM_MODE_TRAP ? "forced by $" URINGD_ENV_MODE : "notify mode is not reachable");

done:
        evloop_init();
        /* The daemon reads and writes our memory: that needs a dumpable process. */
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
                shim_log("warning: process is not dumpable: the daemon cannot reach its memory");
}

__attribute__((constructor))
static void shim_init(void) {
        static bool done;
        int saved = errno;

        if (!done) {
                done = true;
                shim_log_init();
                shim_exec_init();
                shim_setup();
        }
        errno = saved;
}
