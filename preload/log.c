/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Debug output of the shim. The host program's stderr is not ours: we write
 * nothing unless $URINGD_DEBUG asks for it, and then one write() per line so
 * that lines from several processes do not interleave.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "uringd-proto.h"

bool shim_debug;

void shim_log_init(void) {
        const char *e = getenv(URINGD_ENV_DEBUG);

        shim_debug = e && *e && strcmp(e, "0") != 0;
}

static void shim_logv(int error, const char *fmt, va_list ap) _printf_(2, 0);
static void shim_logv(int error, const char *fmt, va_list ap) {
        char buf[512];
        int saved = errno;
        size_t n;
        int k;

        k = snprintf(buf, sizeof(buf), "uringd-preload[%d]: ", (int) getpid());
        if (k < 0)
                goto out;
        n = (size_t) k;

        /* %m in @fmt prints @error. */
        errno = error;
        k = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
        if (k < 0)
                goto out;
        n = MIN(n + (size_t) k, sizeof(buf) - 2);
        buf[n++] = '\n';

        for (size_t done = 0; done < n;) {
                ssize_t w = write(STDERR_FILENO, buf + done, n - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                done += (size_t) w;
        }
out:
        errno = saved;
}

void shim_log(const char *fmt, ...) {
        va_list ap;

        if (!shim_debug)
                return;
        va_start(ap, fmt);
        shim_logv(errno, fmt, ap);
        va_end(ap);
}

int shim_log_errno(int error, const char *fmt, ...) {
        va_list ap;

        if (!shim_debug)
                return error;
        va_start(ap, fmt);
        shim_logv(error < 0 ? -error : error, fmt, ap);
        va_end(ap);
        return error;
}
