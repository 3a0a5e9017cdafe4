/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trap mode: io_uring for processes whose seccomp profile answers it with
 * ERRNO (Docker's, Podman's and Kubernetes' RuntimeDefault profiles do).
 * ERRNO outranks USER_NOTIF, so no listener ever hears those calls, but
 * SECCOMP_RET_TRAP outranks ERRNO: our filter raises SIGSYS on the three
 * calls, and the handler below forwards each one to the daemon and puts the
 * answer in the interrupted context's return register.
 *
 * A call needs a SOCK_SEQPACKET pair of its own with the daemon: it tells
 * the daemon who calls (SO_PEERCRED), brings back the answer and any fd, and
 * carries CALL_INTERRUPT when a signal interrupts a wait. Each thread makes
 * one on its first call and sends the daemon's end once (CHANNEL); later
 * calls are a CALL and a CALL_REPLY on it. A call nested in a signal handler
 * that interrupted another one, or any trouble with the channel, makes a
 * pair for itself and sends one end along with the CALL on the process's
 * connection, as every call did before channels. The handler is re-entrant
 * across threads and nested signals, and uses only async-signal-safe calls
 * (socketpair, sendmsg, recvmsg, close, fstat).
 *
 * A thread that blocks SIGSYS would be killed by the kernel on a trapped call
 * (a forced signal that is blocked falls back to the default action): while
 * trap mode is on, sigprocmask() and pthread_sigmask() never block it and
 * sigaction() keeps our handler, passing other SIGSYS on to the app's.
 */

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "shim.h"
#include "uringd/seccomp.h"
#include "uringd-proto.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* SECCOMP_RET_DATA of our filter: si_errno of our SIGSYS, told from others'. */
#define SHIM_TRAP_DATA 0x7572U

static int trap_sock = -1;              /* the connection CALLs go out on */
static volatile sig_atomic_t trap_forwarded;
static bool trap_on;                    /* interposition in force */
static struct sigaction app_sigsys;     /* the app's own SIGSYS disposition */

/* The handler closes with the raw syscall: close() is the event-loop hooks'
 * (evloop-poll.c), which may take a lock the interrupted code holds. */
static void raw_close(int fd) {
        if (fd >= 0)
                (void) syscall(SYS_close, fd);
}

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);
static sigaction_fn real_sigaction;
static sigmask_fn real_sigprocmask, real_pthread_sigmask;

static void resolve_real(void) {
        if (!real_sigaction)
                real_sigaction = (sigaction_fn) dlsym(RTLD_NEXT, "sigaction");
        if (!real_sigprocmask)
                real_sigprocmask = (sigmask_fn) dlsym(RTLD_NEXT, "sigprocmask");
        if (!real_pthread_sigmask)
                real_pthread_sigmask = (sigmask_fn) dlsym(RTLD_NEXT, "pthread_sigmask");
}

/* One answer on @sock: the syscall's value, or an fd that came along. *eof
 * tells a hang-up without an answer. */
static long trap_receive(int sock, bool *eof) {
        union {
                struct uringd_msg_call_reply reply;
                uint8_t buf[URINGD_MSG_MAX_SIZE];
        } in;
        int fd = -1;
        ssize_t n;

        n = uringd_msg_recvf(sock, in.buf, sizeof(in.buf), &fd, 0);
        /* Truncated control data: the fd that came along found no free
         * number in our table (the daemon sends one fd, in a short message). */
        if (n == -EMSGSIZE)
                return -EMFILE;
        if (n < 0)
                return n;
        /* The daemon closed our call unanswered: it was interrupted. */
        if (n == 0) {
                raw_close(fd);
                *eof = true;
                return -EINTR;
        }
        if (uringd_msg_validate(in.buf, (size_t) n, NULL) < 0 || in.reply.hdr.type != URINGD_MSG_CALL_REPLY) {
                raw_close(fd);
                return -EPROTO;
        }
        if (!(in.reply.flags & URINGD_CALL_REPLY_FD)) {
                raw_close(fd);
                return (long) in.reply.val;
        }
        /* No fd although one was sent: our fd table is full. */
        return fd >= 0 ? fd : -EMFILE;
}

static void trap_send_interrupt(int sock) {
        struct uringd_msg_call_interrupt m;

        uringd_msg_init(&m.hdr, URINGD_MSG_CALL_INTERRUPT, sizeof(m));
        (void) send(sock, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * The signal mask of an io_uring_enter() wait (its sigmask argument, plain or
 * in EXT_ARG), as the kernel applies it: read from our own memory through a
 * syscall (a bad pointer is the daemon's EFAULT to report, not our SIGSEGV).
 * Returns true with the mask in *ret, never blocking SIGSYS.
 */
static bool enter_wait_mask(const uint64_t args[6], uint64_t *ret) {
        uint32_t flags = (uint32_t) args[3];
        uint64_t mask_addr = args[4], mask_size = args[5];
        struct iovec local, remote;
        pid_t self;

        if (!(flags & IORING_ENTER_GETEVENTS))
                return false;
        /* No mask (liburing passes none unless asked): no syscall. */
        if (!(flags & IORING_ENTER_EXT_ARG) && !mask_addr)
                return false;
        self = (pid_t) syscall(SYS_getpid);
        if (flags & IORING_ENTER_EXT_ARG) {
                struct io_uring_getevents_arg arg;

                if (args[5] != sizeof(arg))
                        return false;
                local = (struct iovec) { &arg, sizeof(arg) };
                remote = (struct iovec) { (void *) (uintptr_t) args[4], sizeof(arg) };
                if (process_vm_readv(self, &local, 1, &remote, 1, 0) != (ssize_t) sizeof(arg))
                        return false;
                mask_addr = arg.sigmask;
                mask_size = arg.sigmask_sz;
        }
        if (!mask_addr || mask_size != sizeof(*ret))
                return false;
        local = (struct iovec) { ret, sizeof(*ret) };
        remote = (struct iovec) { (void *) (uintptr_t) mask_addr, sizeof(*ret) };
        if (process_vm_readv(self, &local, 1, &remote, 1, 0) != (ssize_t) sizeof(*ret))
                return false;
        *ret &= ~(1ULL << (SIGSYS - 1));
        return true;
}

/*
 * Wait for the answer to an io_uring_enter(): ppoll() with the wait's mask
 * (atomically, as pselect) ends on any handled signal, SA_RESTART or not,
 * as the kernel's wait does; the daemon then ends the wait with its EINTR
 * answer. Raw ppoll: the libc one may be an event loop's interposition.
 */
static void enter_wait(int sock, const uint64_t args[6]) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        bool interrupted = false;
        uint64_t mask;
        bool masked = enter_wait_mask(args, &mask);

        for (;;) {
                long r = syscall(SYS_ppoll, &p, 1, NULL, masked ? &mask : NULL, masked ? sizeof(mask) : 0);
                if (r >= 0 || errno != EINTR || interrupted)
                        return;
                trap_send_interrupt(sock);
                interrupted = true;
        }
}

/* A pair with the daemon, both ends moved above the low numbers at once:
 * the daemon resolves a call's fd arguments in our table while they exist
 * (a just-closed ring fd must stay EBADF), and a new ring fd gets the
 * lowest free number, as from the kernel. */
static int trap_pair(int sv[2]) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        for (int i = 0; i < 2; i++) {
                int high = fcntl(sv[i], F_DUPFD_CLOEXEC, SHIM_FD_MIN);
                if (high >= 0) {
                        raw_close(sv[i]);
                        sv[i] = high;
                }
        }
        return 0;
}

static void trap_call_init(struct uringd_msg_call *m, pid_t tid, int nr, const uint64_t args[6]) {
        uringd_msg_init(&m->hdr, URINGD_MSG_CALL, sizeof(*m));
        m->tid = (uint32_t) tid;
        m->nr = (uint32_t) nr;
        memcpy(m->args, args, sizeof(m->args));
}

/* Wait for the answer on @sock and read it. */
static long trap_await(int sock, int nr, const uint64_t args[6], bool *eof) {
        *eof = false;
        if (nr == __NR_io_uring_enter)
                enter_wait(sock, args);
        /* Other calls are answered at once; a signal meanwhile just retries
         * (uringd_msg_recvf goes on after EINTR). */
        return trap_receive(sock, eof);
}

/* ---- thread channels ---- */

/* Initial-exec: the handler must not make the dynamic linker allocate. */
#define SHIM_TLS __attribute__((tls_model("initial-exec")))

static bool trap_channels;              /* the daemon keeps them */
static pthread_key_t channel_key;       /* closes a thread's channel at its exit */

static SHIM_TLS __thread struct {
        int fd;         /* our end, or -1 (0 until the thread's first call) */
        pid_t tid;      /* the thread that made it: after fork() it is not us */
        dev_t dev;      /* the socket, to tell it from whatever an app that */
        ino_t ino;      /* closed every fd may have opened on its number */
        bool made;      /* fd is meaningful */
        bool busy;      /* a call is on it: a nested call takes a pair */
} channel;

static void channel_forget(void) {
        channel.made = false;
        channel.fd = -1;
}

/* Let our end go: the daemon sees the hang-up and frees its own. */
static void channel_close(void) {
        raw_close(channel.fd);
        channel_forget();
}

/* Is our channel still the socket we made (an app may close every fd)? */
static bool channel_intact(void) {
        struct stat st;

        return syscall(SYS_fstat, channel.fd, &st) == 0 && st.st_dev == channel.dev && st.st_ino == channel.ino;
}

/* Thread exit: the daemon sees the hang-up and lets the channel go. Only a
 * channel this thread made and still holds is closed: its number may be
 * the app's by now. */
static void channel_destroy(void *unused) {
        (void) unused;
        if (channel.made && channel.tid == (pid_t) syscall(SYS_gettid) && channel_intact())
                channel_close();
        else
                channel_forget();
}

/* The calling thread's channel: kept, or made now. -1 when there is none. */
static int channel_get(pid_t tid) {
        struct uringd_msg_channel m;
        struct stat st;
        int sv[2];

        if (channel.made) {
                if (channel.tid == tid && channel_intact())
                        return channel.fd;
                /* Made before fork() (ours is a copy: let it go) or closed
                 * under us (then the number is not ours to close). */
                if (channel.tid != tid && channel_intact())
                        channel_close();
                else
                        channel_forget();
        }
        if (trap_pair(sv) < 0)
                return -1;
        uringd_msg_init(&m.hdr, URINGD_MSG_CHANNEL, sizeof(m));
        if (uringd_msg_send(trap_sock, &m, sizeof(m), sv[1]) < 0 || syscall(SYS_fstat, sv[0], &st) < 0) {
                raw_close(sv[0]);
                raw_close(sv[1]);
                return -1;
        }
        raw_close(sv[1]);
        channel.fd = sv[0];
        channel.tid = tid;
        channel.dev = st.st_dev;
        channel.ino = st.st_ino;
        channel.made = true;
        /* Any non-NULL value: the destructor reads the channel itself. */
        (void) pthread_setspecific(channel_key, &channel);
        return channel.fd;
}

/*
 * The call on the thread's channel. Returns false when it was not made: no
 * channel, or the daemon closed it before reading the CALL (it refused the
 * channel, or went away), and the call is to be made with a pair.
 */
static bool channel_call(int nr, const uint64_t args[6], pid_t tid, long *ret) {
        struct uringd_msg_call m;
        bool eof;
        int fd;

        if (!trap_channels || channel.busy)
                return false;
        fd = channel_get(tid);
        if (fd < 0)
                return false;
        trap_call_init(&m, tid, nr, args);
        channel.busy = true;
        if (uringd_msg_send(fd, &m, sizeof(m), -1) < 0) {
                channel_close();
                channel.busy = false;
                return false;
        }
        trap_forwarded = 1;
        *ret = trap_await(fd, nr, args, &eof);
        channel.busy = false;
        if (eof) {
                /* The daemon answers every call it read, a dropped one with
                 * EINTR: a hang-up means it refused the channel and never
                 * read the CALL (or is gone, and a pair finds that out). */
                channel_close();
                return false;
        }
        return true;
}

static long trap_forward(int nr, const uint64_t args[6]) {
        struct uringd_msg_call m;
        bool eof;
        pid_t tid;
        int sv[2], r;
        long ret;

        if (trap_sock < 0)
                return -ENOSYS;
        tid = (pid_t) syscall(SYS_gettid);
        if (channel_call(nr, args, tid, &ret))
                return ret;

        /* A pair for this call alone: one end rides along with the CALL. */
        r = trap_pair(sv);
        if (r < 0)
                return r;
        trap_call_init(&m, tid, nr, args);
        r = uringd_msg_send(trap_sock, &m, sizeof(m), sv[1]);
        raw_close(sv[1]);
        if (r < 0) {
                raw_close(sv[0]);
                return -ENOSYS; /* no daemon: as a notify filter without its listener */
        }
        trap_forwarded = 1;
        ret = trap_await(sv[0], nr, args, &eof);
        raw_close(sv[0]);
        return ret;
}

static void chain_sigsys(int sig, siginfo_t *si, void *ucontext) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };

        if (app_sigsys.sa_flags & SA_SIGINFO) {
                if (app_sigsys.sa_sigaction)
                        app_sigsys.sa_sigaction(sig, si, ucontext);
                return;
        }
        if (app_sigsys.sa_handler == SIG_IGN)
                return;
        if (app_sigsys.sa_handler != SIG_DFL) {
                app_sigsys.sa_handler(sig);
                return;
        }
        /* Not ours, and the app has no handler: die as without us. */
        if (real_sigaction)
                real_sigaction(SIGSYS, &dfl, NULL);
        raise(SIGSYS);
}

static void on_sigsys(int sig, siginfo_t *si, void *ucontext) {
        ucontext_t *uc = ucontext;
        int saved = errno;
        uint64_t args[6];
        long ret;

        if (si->si_code != SYS_SECCOMP || (unsigned) si->si_errno != SHIM_TRAP_DATA ||
            si->si_arch != URINGD_NATIVE_AUDIT_ARCH) {
                chain_sigsys(sig, si, ucontext);
                errno = saved;
                return;
        }

#if defined(__x86_64__)
        args[0] = (uint64_t) uc->uc_mcontext.gregs[REG_RDI];
        args[1] = (uint64_t) uc->uc_mcontext.gregs[REG_RSI];
        args[2] = (uint64_t) uc->uc_mcontext.gregs[REG_RDX];
        args[3] = (uint64_t) uc->uc_mcontext.gregs[REG_R10];
        args[4] = (uint64_t) uc->uc_mcontext.gregs[REG_R8];
        args[5] = (uint64_t) uc->uc_mcontext.gregs[REG_R9];
        ret = trap_forward(si->si_syscall, args);
        uc->uc_mcontext.gregs[REG_RAX] = (greg_t) ret;
#else
        for (int i = 0; i < 6; i++)
                args[i] = uc->uc_mcontext.regs[i];
        ret = trap_forward(si->si_syscall, args);
        uc->uc_mcontext.regs[0] = (uint64_t) ret;
#endif
        errno = saved;
}

int shim_trap_install_handler(void) {
        struct sigaction sa = {
                .sa_sigaction = on_sigsys,
                /* NODEFER: a signal handler that runs while we wait may make
                 * an io_uring call of its own; a blocked SIGSYS would kill. */
                .sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART,
        };

        resolve_real();
        if (!real_sigaction)
                return shim_log_errno(-ENOSYS, "no sigaction() to call: %m");
        sigemptyset(&sa.sa_mask);
        if (real_sigaction(SIGSYS, &sa, &app_sigsys) < 0)
                return shim_log_errno(negative_errno(), "installing the SIGSYS handler: %m");
        /* Exec resets handlers: one found here was set by an earlier constructor. */
        if ((app_sigsys.sa_flags & SA_SIGINFO) && app_sigsys.sa_sigaction == on_sigsys)
                app_sigsys = (struct sigaction) { .sa_handler = SIG_DFL };
        return 0;
}

void shim_trap_set_socket(int sock, bool channels) {
        static bool key_made;

        trap_sock = sock;
        /* The handler sets the key: only a key of the first block is set
         * without allocating (glibc's PTHREAD_KEY_2NDLEVEL_SIZE). */
        if (channels && !key_made && pthread_key_create(&channel_key, channel_destroy) == 0)
                key_made = true;
        trap_channels = channels && key_made && channel_key < 32;
}

bool shim_trap_on(void) {
        return trap_on;
}

bool shim_trap_forwarded(void) {
        return trap_forwarded;
}

void shim_trap_activate(void) {
        sigset_t set;

        trap_on = true;
        /* Threads that exist now keep their masks: unblock SIGSYS in ours. */
        sigemptyset(&set);
        sigaddset(&set, SIGSYS);
        if (real_pthread_sigmask)
                real_pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* The filter, by hand: libseccomp has no SECCOMP_RET_TRAP with data. */
static int trap_filter_install(unsigned flags) {
        struct sock_filter code[] = URINGD_IO_URING_FILTER(SECCOMP_RET_TRAP | SHIM_TRAP_DATA);
        struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);

        if (r < 0)
                return negative_errno();
        /* TSYNC: a positive value is a thread that could not be synced. */
        return r > 0 ? -ESRCH : 0;
}

int shim_trap_filter_load(void) {
        bool nnp = false, tsync = true;
        int r;

        for (;;) {
                r = trap_filter_install(tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0);
                if (r == -EACCES && !nnp) {
                        shim_log("loading the trap filter: permission denied; retrying with no_new_privs");
                        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                                return shim_log_errno(negative_errno(), "PR_SET_NO_NEW_PRIVS: %m");
                        nnp = true;
                        continue;
                }
                if (r == -ESRCH && tsync) {
                        shim_log("a thread could not take the trap filter; loading it for this thread only");
                        tsync = false;
                        continue;
                }
                break;
        }
        if (r < 0)
                return shim_log_errno(r, "loading the trap filter: %m");
        shim_log("trap filter loaded (%s, %s)", tsync ? "all threads" : "this thread only",
                 nnp ? "no_new_privs set" : "no_new_privs untouched");
        return 0;
}

/* ---- interposed libc entry points (exported) ---- */

static const sigset_t *without_sigsys(int how, const sigset_t *set, sigset_t *copy) {
        if (!trap_on || !set || how == SIG_UNBLOCK || !sigismember(set, SIGSYS))
                return set;
        *copy = *set;
        sigdelset(copy, SIGSYS);
        return copy;
}

_public_ int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
        sigset_t copy;

        resolve_real();
        return real_sigprocmask(how, without_sigsys(how, set, &copy), old);
}

_public_ int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
        sigset_t copy;

        resolve_real();
        return real_pthread_sigmask(how, without_sigsys(how, set, &copy), old);
}

_public_ int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
        struct sigaction copy;

        resolve_real();
        if (!trap_on)
                return real_sigaction(sig, act, old);
        if (sig == SIGSYS) {
                /* Ours stays; the app's is called for every SIGSYS not ours. */
                if (old)
                        *old = app_sigsys;
                if (act)
                        app_sigsys = *act;
                return 0;
        }
        if (act && sigismember(&act->sa_mask, SIGSYS)) {
                copy = *act;
                sigdelset(&copy.sa_mask, SIGSYS);
                act = &copy;
        }
        return real_sigaction(sig, act, old);
}

_public_ sighandler_t signal(int sig, sighandler_t handler) {
        struct sigaction act = { .sa_handler = handler, .sa_flags = SA_RESTART }, old;

        /* glibc's signal() calls its internal sigaction, past ours. */
        sigemptyset(&act.sa_mask);
        if (sigaction(sig, &act, &old) < 0)
                return SIG_ERR;
        return old.sa_handler;
}
