/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        return -EINVAL;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        /* Under systemd, stderr goes to the journal, which reads "<N>" prefixes. */
        static int journal = -1;
        char buf[1024];
        va_list ap;
        int saved = errno;

        if (journal < 0)
                journal = getenv("JOURNAL_STREAM") != NULL;

        errno = abs(error);
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (journal)
                fprintf(stderr, "<%i>%s\n", level, buf);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "uringd[%d]: %s:%d: %s\n", (int) getpid(), file, line, buf);
        else
                fprintf(stderr, "uringd[%d]: %s\n", (int) getpid(), buf);

        errno = saved;
        return -abs(error);
}
