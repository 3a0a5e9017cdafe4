/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uringd: io_uring served from user space. See docs/ARCHITECTURE.md.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "io-wq.h"
#include "log.h"
#include "manager.h"
#include "opdef.h"
#include "uringd-proto.h"

static void help(void) {
        printf("uringd [OPTIONS...]\n\n"
               "Serve io_uring to applications that run under the uringd preload shim.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --socket PATH       Listen on PATH (default: $XDG_RUNTIME_DIR/uringd/socket)\n"
               "     --log-level LEVEL   err, warning, info or debug (default: info)\n\n"
               "With socket activation (LISTEN_FDS), the passed socket is used.\n");
}

static int parse_argv(int argc, char *argv[], char **ret_socket) {
        enum { ARG_VERSION = 0x100, ARG_SOCKET, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int c, l;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("uringd %s (protocol %d)\n", URINGD_VERSION, URINGD_PROTO_VERSION);
                        return 0;
                case ARG_SOCKET:
                        free(*ret_socket);
                        *ret_socket = strdup(optarg);
                        if (!*ret_socket)
                                return log_oom();
                        break;
                case ARG_LOG_LEVEL:
                        l = log_level_from_string(optarg);
                        if (l < 0)
                                return log_error_errno(l, "Unknown log level: %s", optarg);
                        log_set_max_level(l);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "This program takes no positional arguments.");
        return 1;
}

/* Registered files and app fds in flight are held as our own fds. */
static void raise_nofile(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) struct manager *m = NULL;
        char *socket_path = NULL;
        char buf[4096];
        int r;

        r = parse_argv(argc, argv, &socket_path);
        if (r <= 0)
                goto out;

        if (!socket_path && sd_listen_fds(false) <= 0) {
                r = uringd_socket_path(buf, sizeof(buf));
                if (r < 0) {
                        log_error_errno(r, "Socket path too long.");
                        goto out;
                }
                socket_path = strdup(buf);
        }

        r = io_uring_optable_init();
        if (r < 0) {
                log_error_errno(r, "The opcode table is inconsistent.");
                goto out;
        }
        raise_nofile();
        r = io_wq_init_signals();
        if (r < 0) {
                log_error_errno(r, "Failed to set up worker signals: %m");
                goto out;
        }

        r = manager_new(&m);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate the manager: %m");
                goto out;
        }
        r = manager_startup(m, socket_path);
        if (r < 0)
                goto out;

        (void) sd_notify(false, "READY=1\nSTATUS=Serving io_uring.");
        r = manager_run(m);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
        (void) sd_notify(false, "STOPPING=1");
out:
        free(socket_path);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
