/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uringd-run: run a command with its io_uring served by uringd.
 *
 * Uses the user's daemon when one answers on the socket; otherwise starts a
 * private one for this run, socket-activated on a socket we bind ourselves
 * (so the command can connect before the daemon has even started), and
 * stops it when the command is done. The command gets the preload shim in
 * LD_PRELOAD and the socket in $URINGD_SOCKET.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "uringd-proto.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define SHIM_NAME "liburingd-preload.so"
#define DAEMON_NAME "uringd"
#define HELLO_TIMEOUT_SEC 5
#define STOP_TIMEOUT_MSEC 5000

static const char *arg_socket;
static const char *arg_daemon;
static const char *arg_mode;
static bool arg_debug;
static char **arg_command;

/* Signals we pass on to the command; the handler only touches these. */
static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static volatile sig_atomic_t child_pidfd = -1;
static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;

struct private_daemon {
        char *dir;
        char *socket;
        pid_t pid;
};

static void log_error(const char *fmt, ...) _printf_(1, 2);
static void log_error(const char *fmt, ...) {
        va_list ap;

        fputs("uringd-run: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

#define log_debug(...)                                  \
        do {                                            \
                if (arg_debug)                          \
                        log_error(__VA_ARGS__);         \
        } while (0)

/* Sets errno from @r so that %m in @fmt prints it; returns @r. */
#define log_error_errno(r, ...)                         \
        ({                                              \
                int _r_ = (r);                          \
                errno = -_r_;                           \
                log_error(__VA_ARGS__);                 \
                _r_;                                    \
        })

static void help(void) {
        printf("Usage: uringd-run [OPTIONS...] [--] COMMAND [ARGS...]\n"
               "\n"
               "Run COMMAND with its io_uring served by uringd. Uses the daemon on the\n"
               "socket if one answers, else starts a private one for this run.\n"
               "\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n"
               "     --socket PATH   Daemon socket (default: $" URINGD_ENV_SOCKET ",\n"
               "                     else $XDG_RUNTIME_DIR/" URINGD_SOCKET_DIR "/" URINGD_SOCKET_NAME ")\n"
               "     --daemon PATH   Daemon binary for a private daemon (default: $URINGD_DAEMON,\n"
               "                     then next to this program, then " URINGD_INSTALL_BINDIR "/" DAEMON_NAME ")\n"
               "     --debug         Debug output from uringd-run, the shim and a private daemon\n"
               "     --mode=MODE     How the shim catches io_uring calls: auto (default: notify,\n"
               "                     else trap when a seccomp profile refuses io_uring first or\n"
               "                     another listener exists), notify, or trap\n"
               "\n"
               "The shim is $URINGD_PRELOAD, else found next to this program, else\n"
               URINGD_INSTALL_PKGLIBDIR "/" SHIM_NAME ".\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SOCKET,
                ARG_DAEMON,
                ARG_DEBUG,
                ARG_MODE,
        };
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h'         },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "socket",  required_argument, NULL, ARG_SOCKET  },
                { "daemon",  required_argument, NULL, ARG_DAEMON  },
                { "debug",   no_argument,       NULL, ARG_DEBUG   },
                { "mode",    required_argument, NULL, ARG_MODE    },
                {}
        };
        int c;

        /* '+': stop at the command, whose options are its own. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("uringd-run %s\n", URINGD_VERSION);
                        return 0;
                case ARG_SOCKET:
                        if (!*optarg) {
                                log_error("--socket needs a path");
                                return -EINVAL;
                        }
                        arg_socket = optarg;
                        break;
                case ARG_DAEMON:
                        arg_daemon = optarg;
                        break;
                case ARG_DEBUG:
                        arg_debug = true;
                        break;
                case ARG_MODE:
                        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "notify") != 0 &&
                            strcmp(optarg, "trap") != 0) {
                                log_error("--mode must be auto, notify or trap, not '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_mode = optarg;
                        break;
                default: /* '?': getopt printed why */
                        return -EINVAL;
                }
        }

        if (optind >= argc) {
                log_error("no command given (see --help)");
                return -EINVAL;
        }
        arg_command = argv + optind;
        return 1;
}

/* The directory of our own binary, for the build-tree and bundle layouts. */
static char *exe_dir(void) {
        char buf[PATH_MAX];
        ssize_t n;
        char *slash;

        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        slash = strrchr(buf, '/');
        if (!slash)
                return NULL;
        *slash = 0;
        return strdup(buf[0] ? buf : "/");
}

/* First of @explicit_path or the candidates that passes access(@mode); absolute. */
static int find_file(const char *what, const char *explicit_path, const char *name,
                     const char *sibling_dir, const char *installed, int mode, char **ret) {
        _cleanup_free_ char *dir = exe_dir();
        char cand[3][PATH_MAX];
        size_t ncand = 0;

        if (explicit_path) {
                char *p = realpath(explicit_path, NULL);
                if (!p || access(p, mode) < 0) {
                        int r = negative_errno();
                        free(p);
                        return log_error_errno(r, "%s %s: %m", what, explicit_path);
                }
                *ret = p;
                return 0;
        }

        if (dir) {
                snprintf(cand[ncand++], PATH_MAX, "%s/../%s/%s", dir, sibling_dir, name);
                snprintf(cand[ncand++], PATH_MAX, "%s/%s", dir, name);
        }
        snprintf(cand[ncand++], PATH_MAX, "%s/%s", installed, name);

        for (size_t i = 0; i < ncand; i++) {
                if (access(cand[i], mode) < 0)
                        continue;
                char *p = realpath(cand[i], NULL);
                if (!p)
                        continue;
                *ret = p;
                return 0;
        }

        return log_error_errno(-ENOENT, "no %s found (last tried %s): %m", what, cand[ncand - 1]);
}

static int make_sockaddr(const char *path, struct sockaddr_un *sa, socklen_t *ret_len) {
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(sa->sun_path, path, len);
        *ret_len = offsetof(struct sockaddr_un, sun_path) + len + 1;
        return 0;
}

/*
 * Is a usable daemon listening at @path? HELLO it, as the shim will. Its pid
 * comes from the credentials the kernel stamps on the reply (SO_PASSCRED):
 * SO_PEERCRED would name whoever called listen(), systemd under socket
 * activation.
 */
static int daemon_hello(const char *path, pid_t *ret_pid) {
        struct timeval tv = { .tv_sec = HELLO_TIMEOUT_SEC };
        struct sockaddr_un sa;
        socklen_t salen;
        _cleanup_close_ int fd = -1;
        struct uringd_msg_hello hello;
        union {
                struct uringd_msg_hello_reply reply;
                struct uringd_msg_error error;
                char buf[URINGD_MSG_MAX_SIZE];
        } in;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 8)];
        } control = {};
        struct iovec iov = { .iov_base = &in, .iov_len = sizeof(in) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        const char *reason = NULL;
        pid_t pid = 0;
        int one = 1, r;
        ssize_t n;

        r = make_sockaddr(path, &sa, &salen);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0)
                return negative_errno();
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return negative_errno();

        uringd_msg_init(&hello.hdr, URINGD_MSG_HELLO, sizeof(hello));
        hello.pid = (uint32_t) getpid();
        r = uringd_msg_send(fd, &hello, sizeof(hello), -1);
        if (r < 0)
                return r;

        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? -ETIMEDOUT : negative_errno();

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred cred;
                        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                        pid = cred.pid;
                } else if (c->cmsg_type == SCM_RIGHTS) {
                        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < nfds; i++) {
                                int f;
                                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(f);
                        }
                }
        }

        if (n == 0)
                return -ECONNRESET;
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                return -EMSGSIZE;
        r = uringd_msg_validate(&in, (size_t) n, &reason);
        if (r < 0) {
                log_debug("daemon at %s sent an invalid reply: %s", path, reason);
                return r;
        }
        if (in.reply.hdr.type == URINGD_MSG_ERROR) {
                log_debug("daemon at %s refused us: %s", path, in.error.message);
                return in.error.error;
        }
        if (in.reply.hdr.type != URINGD_MSG_HELLO_REPLY)
                return -EPROTO;
        if (in.reply.status < 0)
                return in.reply.status;
        if (!(in.reply.features & URINGD_FEATURE_NOTIFY))
                return -EOPNOTSUPP;

        if (pid <= 0) {
                struct ucred peer = {};
                socklen_t sl = sizeof(peer);
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &sl) >= 0)
                        pid = peer.pid;
        }

        *ret_pid = pid;
        return 0;
}

static void reset_signals(void) {
        sigset_t all;

        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++) {
                struct sigaction sa;
                if (sigaction(forwarded_signals[i], NULL, &sa) >= 0 && sa.sa_handler != SIG_IGN)
                        signal(forwarded_signals[i], SIG_DFL);
        }
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}

static void block_signals(sigset_t *old) {
        sigset_t s;

        sigemptyset(&s);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                sigaddset(&s, forwarded_signals[i]);
        sigprocmask(SIG_BLOCK, &s, old);
}

static char *join_path(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

static int private_dir(char **ret) {
        static const char template[] = "uringd-run.XXXXXX";
        const char *bases[2] = { getenv("XDG_RUNTIME_DIR"), "/tmp" };
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                char *d;

                if (!bases[i] || bases[i][0] != '/')
                        continue;
                /* The socket inside must fit in sun_path. */
                if (strlen(bases[i]) + sizeof(template) + sizeof(URINGD_SOCKET_NAME) + 1 >
                    sizeof(((struct sockaddr_un *) NULL)->sun_path))
                        continue;
                d = join_path(bases[i], template);
                if (!d)
                        return -ENOMEM;
                /* mkdtemp() creates it 0700: only we can reach the socket. */
                if (mkdtemp(d)) {
                        *ret = d;
                        return 0;
                }
                r = negative_errno();
                log_debug("cannot create a private directory under %s: %m", bases[i]);
                free(d);
        }
        return log_error_errno(r, "cannot create a private directory: %m");
}

static void private_daemon_cleanup(struct private_daemon *p) {
        if (p->socket && unlink(p->socket) < 0 && errno != ENOENT)
                log_error("removing %s: %m", p->socket);
        if (p->dir && rmdir(p->dir) < 0 && errno != ENOENT)
                log_error("removing %s: %m", p->dir);
        free(p->socket);
        free(p->dir);
        p->socket = p->dir = NULL;
}

static _Noreturn void exec_daemon(const char *daemon, const char *socket_path, int listen_fd,
                                  int err_fd, pid_t parent) {
        const char *argv[6] = { DAEMON_NAME, "--socket", socket_path };
        char pid_str[16];
        int null_fd, e;

        /* A wrapper stays quiet unless asked: the daemon's info lines are noise here. */
        argv[3] = "--log-level";
        argv[4] = arg_debug ? "debug" : "warning";

        reset_signals();

        /* If uringd-run dies, so does its daemon: nobody else would stop it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        /* Its own session: ^C on the terminal is for the command, not for it. */
        (void) setsid();

        /* fd 3 is about to be the listening socket: keep the error pipe off it. */
        if (err_fd == 3) {
                err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 4);
                if (err_fd < 0)
                        goto fail;
        }
        if (listen_fd == 3) {
                if (fcntl(listen_fd, F_SETFD, 0) < 0)
                        goto fail;
        } else if (dup2(listen_fd, 3) < 0)
                goto fail;

        /* Not the command's stdin and stdout: stderr is enough for logs. */
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0)
                goto fail;

        snprintf(pid_str, sizeof(pid_str), "%d", (int) getpid());
        if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid_str, 1) < 0 ||
            unsetenv("LISTEN_FDNAMES") < 0 ||
            /* Should the shim be preloaded here too, it must not attach the daemon to itself. */
            setenv(URINGD_ENV_DISABLE, "1", 1) < 0)
                goto fail;

        execv(daemon, (char **) argv);
fail:
        e = errno;
        (void) !write(err_fd, &e, sizeof(e));
        _exit(127);
}

static int private_daemon_start(const char *daemon, struct private_daemon *p) {
        _cleanup_close_ int listen_fd = -1;
        int pipefd[2] = { -1, -1 };
        struct sockaddr_un sa;
        socklen_t salen;
        sigset_t old;
        pid_t parent = getpid(), pid;
        ssize_t n;
        int r, e;

        r = private_dir(&p->dir);
        if (r < 0)
                return r;
        p->socket = join_path(p->dir, URINGD_SOCKET_NAME);
        if (!p->socket)
                return log_error_errno(-ENOMEM, "%m");
        r = make_sockaddr(p->socket, &sa, &salen);
        if (r < 0)
                return log_error_errno(r, "socket path %s: %m", p->socket);

        /* Listening before the daemon runs: the command can connect at once. */
        listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (listen_fd < 0)
                return log_error_errno(negative_errno(), "socket(): %m");
        if (bind(listen_fd, (struct sockaddr *) &sa, salen) < 0)
                return log_error_errno(negative_errno(), "binding %s: %m", p->socket);
        if (listen(listen_fd, SOMAXCONN) < 0)
                return log_error_errno(negative_errno(), "listening on %s: %m", p->socket);

        /* Tells us whether execv() worked: EOF on success (O_CLOEXEC), errno else. */
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(negative_errno(), "pipe2(): %m");

        block_signals(&old);
        pid = fork();
        if (pid == 0) {
                safe_close(pipefd[0]);
                exec_daemon(daemon, p->socket, listen_fd, pipefd[1], parent);
        }
        e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        safe_close(pipefd[1]);
        if (pid < 0) {
                safe_close(pipefd[0]);
                return log_error_errno(-e, "fork(): %m");
        }
        p->pid = pid;

        do
                n = read(pipefd[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        safe_close(pipefd[0]);
        if (n == sizeof(e))
                return log_error_errno(-e, "failed to start daemon %s: %m", daemon);

        log_debug("started private daemon %s, pid %d, on %s", daemon, (int) pid, p->socket);
        return 0;
}

static void private_daemon_stop(struct private_daemon *p) {
        int status;

        if (p->pid > 0) {
                pid_t r = 0;

                (void) kill(p->pid, SIGTERM);
                for (int waited = 0; waited < STOP_TIMEOUT_MSEC; waited += 10) {
                        r = waitpid(p->pid, &status, WNOHANG);
                        if (r != 0 && !(r < 0 && errno == EINTR))
                                break;
                        nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                }
                if (r == 0) {
                        log_error("daemon pid %d did not stop within %d s, killing it",
                                  (int) p->pid, STOP_TIMEOUT_MSEC / 1000);
                        (void) kill(p->pid, SIGKILL);
                        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                                ;
                } else if (r > 0)
                        log_debug("private daemon pid %d stopped", (int) p->pid);
                p->pid = 0;
        }
        private_daemon_cleanup(p);
}

static void forward_signal(int sig, siginfo_t *si, void *ucontext) {
        int saved = errno;

        if (child_pid <= 0) {
                /* No command yet: remember to stop before starting it. */
                pending_signal = sig;
        } else if (si->si_code != SI_KERNEL) {
                /*
                 * SI_KERNEL: the terminal sent it to the whole foreground
                 * process group, the command included; do not double it.
                 * A pidfd cannot hit a recycled pid once the child is reaped.
                 */
                if (child_pidfd >= 0)
                        (void) syscall(SYS_pidfd_send_signal, (int) child_pidfd, sig, NULL, 0);
                else
                        (void) kill(child_pid, sig);
        }
        errno = saved;
}

static int install_signal_handlers(void) {
        struct sigaction sa = {
                .sa_sigaction = forward_signal,
                .sa_flags = SA_SIGINFO | SA_RESTART,
        };

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++) {
                struct sigaction old;

                /* An ignored signal stays ignored, for us and for the command. */
                if (sigaction(forwarded_signals[i], NULL, &old) < 0)
                        return negative_errno();
                if (old.sa_handler == SIG_IGN)
                        continue;
                if (sigaction(forwarded_signals[i], &sa, NULL) < 0)
                        return negative_errno();
        }
        return 0;
}

static _Noreturn void exec_command(const char *shim, const char *socket_path, pid_t daemon_pid) {
        const char *old = getenv("LD_PRELOAD");
        _cleanup_free_ char *preload = NULL;
        char pid_str[16];

        reset_signals();

        if (old && *old) {
                if (asprintf(&preload, "%s:%s", shim, old) < 0)
                        preload = NULL;
        } else
                preload = strdup(shim);
        snprintf(pid_str, sizeof(pid_str), "%d", (int) daemon_pid);

        if (!preload ||
            setenv("LD_PRELOAD", preload, 1) < 0 ||
            setenv(URINGD_ENV_SOCKET, socket_path, 1) < 0 ||
            setenv("URINGD_DAEMON_PID", pid_str, 1) < 0 ||
            (arg_debug && setenv(URINGD_ENV_DEBUG, "1", 1) < 0) ||
            (arg_mode && setenv(URINGD_ENV_MODE, arg_mode, 1) < 0)) {
                log_error("setting up the environment: %m");
                _exit(EXIT_FAILURE);
        }

        execvp(arg_command[0], arg_command);
        int e = errno;
        log_error("failed to execute %s: %m", arg_command[0]);
        _exit(e == EACCES ? 126 : 127);
}

/* Returns the command's exit status as a shell reports it, or -errno. */
static int run_command(const char *shim, const char *socket_path, pid_t daemon_pid) {
        sigset_t old;
        pid_t pid;
        int status, pidfd, e;

        block_signals(&old);
        if (pending_signal) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                return 128 + pending_signal;
        }
        pid = fork();
        if (pid == 0)
                exec_command(shim, socket_path, daemon_pid);
        e = errno;
        if (pid > 0) {
                child_pid = pid;
                pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
                child_pidfd = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 3) : -1;
                safe_close(pidfd);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (pid < 0)
                return log_error_errno(-e, "fork(): %m");

        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return log_error_errno(negative_errno(), "waitpid(): %m");
        }

        block_signals(&old);
        safe_close(child_pidfd);
        child_pidfd = -1;
        child_pid = 0;
        sigprocmask(SIG_SETMASK, &old, NULL);

        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *shim = NULL, *daemon = NULL;
        struct private_daemon priv = {};
        char socket_path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        const char *used_socket;
        pid_t daemon_pid = 0;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = install_signal_handlers();
        if (r < 0) {
                log_error_errno(r, "installing signal handlers: %m");
                return EXIT_FAILURE;
        }

        r = find_file("preload shim", getenv("URINGD_PRELOAD"), SHIM_NAME, "preload",
                      URINGD_INSTALL_PKGLIBDIR, R_OK, &shim);
        if (r < 0)
                return EXIT_FAILURE;
        /* The loader splits LD_PRELOAD on ':' and spaces. */
        if (strpbrk(shim, ": \t")) {
                log_error("shim path %s contains ':' or a space, which LD_PRELOAD cannot carry", shim);
                return EXIT_FAILURE;
        }
        log_debug("shim: %s", shim);

        if (arg_socket) {
                if (strlen(arg_socket) >= sizeof(socket_path)) {
                        log_error("socket path %s is too long", arg_socket);
                        return EXIT_FAILURE;
                }
                strcpy(socket_path, arg_socket);
                r = 0;
        } else
                r = uringd_socket_path(socket_path, sizeof(socket_path));

        /* A default path too long for sun_path cannot have a daemon: go private. */
        if (r < 0)
                log_debug("the default socket path is too long: starting a private daemon");
        else {
                r = daemon_hello(socket_path, &daemon_pid);
                if (r < 0) {
                        errno = -r;
                        log_debug("no usable daemon at %s (%m): starting a private one", socket_path);
                }
        }

        if (r >= 0) {
                used_socket = socket_path;
                log_debug("using the daemon at %s, pid %d", socket_path, (int) daemon_pid);
        } else {
                r = find_file("daemon", arg_daemon ?: getenv("URINGD_DAEMON"), DAEMON_NAME, "daemon",
                              URINGD_INSTALL_BINDIR, X_OK, &daemon);
                if (r < 0)
                        return EXIT_FAILURE;
                r = private_daemon_start(daemon, &priv);
                if (r < 0) {
                        private_daemon_stop(&priv);
                        return EXIT_FAILURE;
                }
                used_socket = priv.socket;
                daemon_pid = priv.pid;
        }

        r = run_command(shim, used_socket, daemon_pid);
        private_daemon_stop(&priv);
        if (r < 0)
                return EXIT_FAILURE;
        log_debug("command exited with status %d", r);
        return r;
}
