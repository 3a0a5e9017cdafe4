/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "manager.h"
#include "ring.h"
#include "rsrc.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define SZ_1G (1ULL << 30)
#define PAGE_SZ 4096ULL

/* Is @fd one of our rings? The kernel refuses to register io_uring files. */
static bool fd_is_ring(struct io_ring_ctx *ctx, int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return false;
        return manager_ring_by_ino(ctx->manager, st.st_ino) != NULL;
}

static rlim_t task_nofile_limit(struct io_task *t) {
        struct rlimit rl;
        if (prlimit(t->tid, RLIMIT_NOFILE, NULL, &rl) < 0)
                return RLIM_INFINITY;
        return rl.rlim_cur;
}

void io_rsrc_files_free(struct io_rsrc_files *files) {
        for (unsigned i = 0; i < files->nr; i++)
                safe_close(files->fds[i]);
        free(files->fds);
        *files = (struct io_rsrc_files) {};
}

int io_sqe_files_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr) {
        struct io_rsrc_files files = {};
        int r;

        if (ctx->files.nr)
                return -EBUSY;
        if (nr == 0)
                return -EINVAL;
        if (nr > URINGD_IORING_MAX_FIXED_FILES || nr > task_nofile_limit(t))
                return -EMFILE;

        files.fds = malloc(sizeof(int) * nr);
        if (!files.fds)
                return -ENOMEM;
        for (unsigned i = 0; i < nr; i++)
                files.fds[i] = -1;
        files.nr = nr;

        for (unsigned i = 0; i < nr; i++) {
                int32_t fd = -1;

                if (arg) {
                        r = io_task_read(t, &fd, arg + (uint64_t) i * sizeof(int32_t), sizeof(fd));
                        if (r < 0)
                                goto fail;
                }
                if (fd == -1)
                        continue; /* a sparse slot */
                files.fds[i] = io_task_getfd(t, fd);
                if (files.fds[i] < 0) {
                        r = -EBADF;
                        goto fail;
                }
                if (fd_is_ring(ctx, files.fds[i])) {
                        r = -EBADF;
                        goto fail;
                }
        }
        ctx->files = files;
        return 0;
fail:
        io_rsrc_files_free(&files);
        return r;
}

int io_sqe_files_unregister(struct io_ring_ctx *ctx) {
        if (!ctx->files.nr)
                return -ENXIO;
        io_rsrc_files_free(&ctx->files);
        return 0;
}

int io_register_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr) {
        struct io_uring_files_update up;
        unsigned done;
        int r, err = 0;

        if (nr == 0)
                return -EINVAL;
        r = io_task_read(t, &up, arg, sizeof(up));
        if (r < 0)
                return -EFAULT;
        if (up.resv)
                return -EINVAL;
        if (!ctx->files.nr)
                return -ENXIO;
        if ((uint64_t) up.offset + nr > ctx->files.nr)
                return -EINVAL;

        for (done = 0; done < nr; done++) {
                int32_t fd;
                unsigned i = up.offset + done;

                r = io_task_read(t, &fd, up.fds + (uint64_t) done * sizeof(int32_t), sizeof(fd));
                if (r < 0) {
                        err = -EFAULT;
                        break;
                }
                if (fd == IORING_REGISTER_FILES_SKIP)
                        continue;
                ctx->files.fds[i] = safe_close(ctx->files.fds[i]);
                if (fd == -1)
                        continue;
                int nfd = io_task_getfd(t, fd);
                if (nfd < 0) {
                        err = -EBADF;
                        break;
                }
                if (fd_is_ring(ctx, nfd)) {
                        safe_close(nfd);
                        err = -EBADF;
                        break;
                }
                ctx->files.fds[i] = nfd;
        }
        return done ? (int) done : err;
}

int io_fixed_file_get(struct io_ring_ctx *ctx, unsigned index) {
        if (index >= ctx->files.nr || ctx->files.fds[index] < 0)
                return -EBADF;
        int fd = fcntl(ctx->files.fds[index], F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? negative_errno() : fd;
}

void io_rsrc_bufs_free(struct io_rsrc_bufs *bufs) {
        free(bufs->bufs);
        *bufs = (struct io_rsrc_bufs) {};
}

/* The kernel pins every page of a registered buffer and fails with -EFAULT
 * when one is not mapped. We touch one byte of each page instead. */
static int buffer_pages_mapped(struct io_task *t, uint64_t addr, uint64_t len) {
        enum { BATCH = 1024 };
        struct iovec remote[BATCH];
        uint8_t sink[BATCH];
        uint64_t first = addr & ~(PAGE_SZ - 1), end = addr + len;

        for (uint64_t p = first; p < end;) {
                unsigned n = 0;
                for (; n < BATCH && p < end; n++, p += PAGE_SZ) {
                        uint64_t a = MAX(p, addr);
                        remote[n] = (struct iovec) { .iov_base = (void *) (uintptr_t) a, .iov_len = 1 };
                }
                struct iovec local = { .iov_base = sink, .iov_len = n };
                ssize_t got = process_vm_readv(t->tid, &local, 1, remote, n, 0);
                if (got != (ssize_t) n)
                        return -EFAULT;
        }
        return 0;
}

int io_sqe_buffers_register(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr) {
        struct io_rsrc_bufs bufs = {};
        int r;

        if (ctx->bufs.nr)
                return -EBUSY;
        if (nr == 0 || nr > URINGD_IORING_MAX_REG_BUFFERS)
                return -EINVAL;

        bufs.bufs = calloc(nr, sizeof(*bufs.bufs));
        if (!bufs.bufs)
                return -ENOMEM;
        bufs.nr = nr;

        for (unsigned i = 0; i < nr; i++) {
                struct iovec iov;

                r = io_task_read(t, &iov, arg + (uint64_t) i * sizeof(iov), sizeof(iov));
                if (r < 0)
                        goto fail;
                if ((ssize_t) iov.iov_len < 0) {
                        r = -EINVAL;
                        goto fail;
                }
                if (!iov.iov_base) {
                        /* A sparse slot is fine; a length without memory is not. */
                        if (iov.iov_len) {
                                r = -EFAULT;
                                goto fail;
                        }
                        continue;
                }
                if (iov.iov_len > SZ_1G) {
                        r = -EFAULT;
                        goto fail;
                }
                uint64_t base = (uintptr_t) iov.iov_base;
                if (base + ALIGN_TO(iov.iov_len, PAGE_SZ) < base) {
                        r = -EOVERFLOW;
                        goto fail;
                }
                if (iov.iov_len && (!io_user_range_ok(base, iov.iov_len) ||
                                    buffer_pages_mapped(t, base, iov.iov_len) < 0)) {
                        r = -EFAULT;
                        goto fail;
                }
                bufs.bufs[i] = (struct io_mapped_buf) { .addr = base, .len = iov.iov_len };
        }
        ctx->bufs = bufs;
        return 0;
fail:
        io_rsrc_bufs_free(&bufs);
        return r;
}

int io_sqe_buffers_unregister(struct io_ring_ctx *ctx) {
        if (!ctx->bufs.nr)
                return -ENXIO;
        io_rsrc_bufs_free(&ctx->bufs);
        return 0;
}

int io_fixed_buf_check(struct io_ring_ctx *ctx, unsigned index, uint64_t addr, uint64_t len) {
        const struct io_mapped_buf *b;

        if (index >= ctx->bufs.nr)
                return -EFAULT;
        b = &ctx->bufs.bufs[index];
        if (!b->addr && !b->len)
                return -EFAULT;
        if (addr + len < addr || addr < b->addr || addr + len > b->addr + b->len)
                return -EFAULT;
        return 0;
}
