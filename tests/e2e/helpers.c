/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

void t_fail_at(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(T_EXIT_FAIL);
}

enum t_backend t_backend(void) {
        const char *e = getenv("URINGD_EXPECT");

        if (e && strcmp(e, "kernel") == 0)
                return T_KERNEL;
        if (e && strcmp(e, "uringd") == 0)
                return T_URINGD;
        fprintf(stderr, "FAIL: URINGD_EXPECT must be \"kernel\" or \"uringd\" (is %s%s%s)\n",
                e ? "\"" : "", e ?: "unset", e ? "\"" : "");
        exit(T_EXIT_FAIL);
}

bool t_ring_origin_ok(int ring_fd) {
        char link[64], target[256];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", ring_fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0) {
                fprintf(stderr, "readlink(%s): %m\n", link);
                return false;
        }
        target[n] = 0;

        if (t_backend() == T_URINGD) {
                if (strncmp(target, "/memfd:", 7) == 0)
                        return true;
                fprintf(stderr, "ring fd %d is \"%s\": expected a uringd memfd (\"/memfd:...\")\n",
                        ring_fd, target);
        } else {
                if (strcmp(target, "anon_inode:[io_uring]") == 0)
                        return true;
                fprintf(stderr, "ring fd %d is \"%s\": expected the kernel's \"anon_inode:[io_uring]\"\n",
                        ring_fd, target);
        }
        return false;
}

void t_ring_check(struct io_uring *ring) {
        if (!t_ring_origin_ok(ring->ring_fd))
                t_fail("ring is not served by the expected backend");
}

void t_ring_init(struct io_uring *ring, unsigned entries, struct io_uring_params *p) {
        struct io_uring_params dflt;
        int r;

        if (!p) {
                memset(&dflt, 0, sizeof(dflt));
                p = &dflt;
        }
        r = io_uring_queue_init_params(entries, ring, p);
        if (r < 0) {
                if (t_backend() == T_KERNEL && (r == -ENOSYS || r == -EPERM)) {
                        fprintf(stderr, "SKIP: kernel io_uring unavailable: %s\n", strerror(-r));
                        exit(T_EXIT_SKIP);
                }
                t_fail("io_uring_queue_init_params(%u): %s", entries, strerror(-r));
        }
        t_ring_check(ring);
}

const char *t_errname(int err) {
        static char buf[16];

        if (err < 0)
                err = -err;
        switch (err) {
        case 0: return "OK";
#define E(x) case x: return #x
        E(EPERM); E(ENOENT); E(ESRCH); E(EINTR); E(EIO); E(ENXIO); E(E2BIG);
        E(EBADF); E(ECHILD); E(EAGAIN); E(ENOMEM); E(EACCES); E(EFAULT);
        E(EBUSY); E(EEXIST); E(ENODEV); E(ENOTDIR); E(EISDIR); E(EINVAL);
        E(ENFILE); E(EMFILE); E(ENOTTY); E(EFBIG); E(ENOSPC); E(ESPIPE);
        E(EROFS); E(EPIPE); E(ERANGE); E(ENOSYS); E(ENOTSUP); E(EOVERFLOW);
        E(ETIME); E(ETIMEDOUT); E(ECANCELED); E(EALREADY); E(EMSGSIZE);
        E(ENOTSOCK); E(EBADFD); E(EBADMSG); E(EOWNERDEAD); E(EPROTO);
        E(ENAMETOOLONG); E(ENOBUFS); E(ECONNREFUSED);
#undef E
        case 512: return "ERESTARTSYS";
        case 513: return "ERESTARTNOINTR";
        case 514: return "ERESTARTNOHAND";
        case 516: return "ERESTART_RESTARTBLOCK";
        default:
                snprintf(buf, sizeof(buf), "E#%d", err);
                return buf;
        }
}

const char *t_res(int res, char buf[static 32]) {
        if (res >= 0)
                snprintf(buf, 32, "%d", res);
        else
                snprintf(buf, 32, "-%s", t_errname(res));
        return buf;
}

void t_print_cqe(const char *tag, const struct io_uring_cqe *cqe) {
        char b[32];

        printf("%s user_data=%llu res=%s flags=0x%x\n", tag,
               (unsigned long long) cqe->user_data, t_res(cqe->res, b), cqe->flags);
}

struct io_uring_cqe t_wait_one(struct io_uring *ring) {
        struct io_uring_cqe *cqe, copy;
        int r = io_uring_wait_cqe(ring, &cqe);

        if (r < 0)
                t_fail("io_uring_wait_cqe: %s", strerror(-r));
        copy = *cqe;
        io_uring_cqe_seen(ring, cqe);
        return copy;
}

void t_submit_n(struct io_uring *ring, int n) {
        int r = io_uring_submit(ring);

        if (r != n)
                t_fail("io_uring_submit returned %d (%s), wanted %d", r,
                       r < 0 ? strerror(-r) : "short", n);
}

struct io_uring_sqe *t_get_sqe(struct io_uring *ring) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

        if (!sqe)
                t_fail("no free SQE");
        return sqe;
}

static char tmpdir_path[512];

static void remove_tree(const char *dir) {
        DIR *d = opendir(dir);

        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
        rmdir(dir);
}

static pid_t tmpdir_owner;

static void tmpdir_cleanup(void) {
        /* A forked child inherits the atexit handler: only the creator cleans. */
        if (tmpdir_path[0] && getpid() == tmpdir_owner)
                remove_tree(tmpdir_path);
}

const char *t_tmpdir(void) {
        if (tmpdir_path[0])
                return tmpdir_path;

        const char *base = getenv("URINGD_TEST_TMPDIR");
        if (!base || !*base)
                base = "/var/tmp";
        snprintf(tmpdir_path, sizeof(tmpdir_path), "%s/uringd-e2e.XXXXXX", base);
        if (!mkdtemp(tmpdir_path)) {
                int e = errno;
                tmpdir_path[0] = 0;
                t_fail("mkdtemp under %s: %s", base, strerror(e));
        }
        tmpdir_owner = getpid();
        atexit(tmpdir_cleanup);
        return tmpdir_path;
}

int t_tmpfile(const char *name, int flags, char *path, size_t path_size) {
        char p[600];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", t_tmpdir(), name);
        fd = open(p, flags | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                t_fail("open %s: %m", p);
        if (path)
                snprintf(path, path_size, "%s", p);
        return fd;
}

void t_fill(void *buf, size_t len, uint32_t seed) {
        uint64_t x = 0x9e3779b97f4a7c15ULL ^ seed;
        unsigned char *p = buf;

        for (size_t i = 0; i < len; i++) {
                /* xorshift64* */
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                p[i] = (unsigned char) ((x * 0x2545f4914f6cdd1dULL) >> 56);
        }
}

uint32_t t_crc32c(uint32_t crc, const void *buf, size_t len) {
        static uint32_t table[256];
        const unsigned char *p = buf;

        if (!table[1]) {
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
                        table[i] = c;
                }
        }
        crc = ~crc;
        for (size_t i = 0; i < len; i++)
                crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
        return ~crc;
}

uint32_t t_file_crc(int fd, uint64_t *ret_size) {
        static unsigned char buf[65536];
        uint64_t off = 0;
        uint32_t crc = 0;

        for (;;) {
                ssize_t n = pread(fd, buf, sizeof(buf), (off_t) off);
                if (n < 0)
                        t_fail("pread: %m");
                if (n == 0)
                        break;
                crc = t_crc32c(crc, buf, (size_t) n);
                off += (uint64_t) n;
        }
        if (ret_size)
                *ret_size = off;
        return crc;
}

unsigned t_count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        if (!d)
                t_fail("opendir /proc/self/fd: %m");
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1;
}

long t_proc_status_kb(int pid, const char *field) {
        char path[64], line[256];
        size_t flen = strlen(field);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
                        v = strtol(line + flen + 1, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return v;
}
