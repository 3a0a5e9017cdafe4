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
#include "req.h"
#include "ring.h"
#include "rsrc.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define SZ_1G (1ULL << 30)
#define PAGE_SZ 4096ULL

/* Is @fd one of our rings? The kernel refuses to register io_uring files. */
static rlim_t task_nofile_limit(struct io_task *t) {
        struct rlimit rl;
        if (prlimit(t->tid, RLIMIT_NOFILE, NULL, &rl) < 0)
                return RLIM_INFINITY;
        return rl.rlim_cur;
}

int io_file_new(int fd, struct io_file **ret) {
        struct io_file *f;
        struct stat st;
        int fl;

        if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        f = malloc(sizeof(*f));
        if (!f) {
                safe_close(fd);
                return -ENOMEM;
        }
        *f = (struct io_file) {
                .refs = 1,
                .fd = fd,
                .inode_hash = (((uint64_t) st.st_dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t) st.st_ino) | 1,
        };
        if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
                f->flags |= IO_FILE_ISREG;
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
                f->flags |= IO_FILE_STREAM;
        if (fl & O_DIRECT)
                f->flags |= IO_FILE_DIRECT;
        if (fl & O_NONBLOCK)
                f->flags |= IO_FILE_NONBLOCK;
        *ret = f;
        return 0;
}

struct io_file *io_file_get(struct io_file *f) {
        __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
        return f;
}

void io_file_put(struct io_file *f) {
        if (f && __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0) {
                safe_close(f->fd);
                free(f);
        }
}

void io_rsrc_files_free(struct io_rsrc_files *files) {
        for (unsigned i = 0; i < files->nr; i++)
                io_file_put(files->files[i]);
        free(files->files);
        *files = (struct io_rsrc_files) {};
}

/* Take the app's @app_fd into a new io_file; -EBADF for a bad fd or a ring. */
static int rsrc_file_take(struct io_ring_ctx *ctx, struct io_task *t, int app_fd, struct io_file **ret) {
        int fd = io_task_getfd(t, app_fd);
        if (fd < 0)
                return -EBADF;
        if (io_ring_by_file(ctx->manager, fd)) {
                safe_close(fd);
                return -EBADF;
        }
        return io_file_new(fd, ret);
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

        files.files = calloc(nr, sizeof(struct io_file *));
        if (!files.files)
                return -ENOMEM;
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
                r = rsrc_file_take(ctx, t, fd, &files.files[i]);
                if (r < 0)
                        goto fail;
                files.alloc_hint = i + 1;
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

/* Replace @nr slots from @offset with the app's fds at @fds (-1 empties a
 * slot, IORING_REGISTER_FILES_SKIP leaves it). Returns how many were done,
 * or the first error when none was. */
int io_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint32_t offset, uint64_t fds, unsigned nr) {
        unsigned done;
        int r, err = 0;

        if (!ctx->files.nr)
                return -ENXIO;
        if ((uint64_t) offset + nr > ctx->files.nr)
                return -EINVAL;

        for (done = 0; done < nr; done++) {
                int32_t fd;
                unsigned i = offset + done;

                r = io_task_read(t, &fd, fds + (uint64_t) done * sizeof(int32_t), sizeof(fd));
                if (r < 0) {
                        err = -EFAULT;
                        break;
                }
                if (fd == IORING_REGISTER_FILES_SKIP)
                        continue;
                /* As the kernel: the old file goes first, even when the new
                 * fd turns out bad. In-flight requests keep their own ref.
                 * The allocation hint follows each change, as the kernel's
                 * file bitmap's does. */
                if (ctx->files.files[i]) {
                        io_file_put(ctx->files.files[i]);
                        ctx->files.files[i] = NULL;
                        ctx->files.alloc_hint = i;
                }
                if (fd != -1) {
                        r = rsrc_file_take(ctx, t, fd, &ctx->files.files[i]);
                        if (r < 0) {
                                err = r;
                                break;
                        }
                        ctx->files.alloc_hint = i + 1;
                }
        }
        return done ? (int) done : err;
}

int io_files_update_alloc(struct io_ring_ctx *ctx, struct io_task *t, uint64_t fds, unsigned nr) {
        unsigned done;
        int r = 0;

        if (!ctx->files.nr)
                return -ENXIO;
        for (done = 0; done < nr; done++) {
                uint64_t at = fds + (uint64_t) done * sizeof(int32_t);
                int32_t fd, slot = -1;
                struct io_file *f;

                r = io_task_read(t, &fd, at, sizeof(fd));
                if (r < 0) {
                        r = -EFAULT;
                        break;
                }
                /* The first free slot from the hint on, then from the start. */
                for (unsigned k = 0; k < ctx->files.nr; k++) {
                        unsigned i = (ctx->files.alloc_hint + k) % ctx->files.nr;
                        if (!ctx->files.files[i]) {
                                slot = (int32_t) i;
                                break;
                        }
                }
                if (slot < 0) {
                        r = -ENFILE;
                        break;
                }
                r = rsrc_file_take(ctx, t, fd, &f);
                if (r < 0)
                        break;
                ctx->files.files[slot] = f;
                ctx->files.alloc_hint = (unsigned) slot + 1;
                r = io_task_write(t, at, &slot, sizeof(slot));
                if (r < 0) {
                        io_file_put(f);
                        ctx->files.files[slot] = NULL;
                        r = -EFAULT;
                        break;
                }
        }
        return done ? (int) done : r;
}

int io_register_files_update(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr) {
        struct io_uring_files_update up;
        int r;

        if (nr == 0)
                return -EINVAL;
        r = io_task_read(t, &up, arg, sizeof(up));
        if (r < 0)
                return -EFAULT;
        if (up.resv)
                return -EINVAL;
        return io_files_update(ctx, t, up.offset, up.fds, nr);
}

struct io_file *io_fixed_file_get(struct io_ring_ctx *ctx, unsigned index) {
        if (index >= ctx->files.nr || !ctx->files.files[index])
                return NULL;
        return io_file_get(ctx->files.files[index]);
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

/* IORING_OP_FILES_UPDATE, the register operation as an SQE. */
struct io_rsrc_update {
        uint64_t arg;
        uint32_t nr_args;
        uint32_t offset;
};

int io_files_update_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_rsrc_update *up = io_kiocb_to_cmd(req, struct io_rsrc_update);

        if (sqe->rw_flags || sqe->splice_fd_in)
                return -EINVAL;
        up->offset = (uint32_t) sqe->off;
        up->nr_args = sqe->len;
        if (!up->nr_args)
                return -EINVAL;
        up->arg = sqe->addr;
        return 0;
}

int io_files_update_issue(struct io_kiocb *req, unsigned issue_flags) {
        struct io_rsrc_update *up = io_kiocb_to_cmd(req, struct io_rsrc_update);
        int r;

        if (up->offset == IORING_FILE_INDEX_ALLOC)
                r = io_files_update_alloc(req->ctx, req->task, up->arg, up->nr_args);
        else
                r = io_files_update(req->ctx, req->task, up->offset, up->arg, up->nr_args);
        if (r < 0)
                io_req_set_fail(req);
        io_req_set_res(req, r, 0);
        return IOU_OK;
}
