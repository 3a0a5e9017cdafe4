/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * READ, WRITE, READV, WRITEV, READ_FIXED, WRITE_FIXED.
 *
 * Data moves between the app's file and the app's memory through a bounce
 * buffer of the daemon: pread into the bounce buffer, process_vm_writev into
 * the app (and the reverse for writes), in chunks of BOUNCE_SIZE. On the
 * event loop, buffered regular files are tried with RWF_NOWAIT (page cache
 * only); anything that would block is punted to io-wq, which continues from
 * the bytes already done, as the kernel completes a partial read.
 *
 * Two fast paths on the event loop take most requests before that: buffered
 * page-cache reads are batched per submission (rw-batch.c), and O_DIRECT
 * reads and writes go through native AIO (aio.c); both fall back here for
 * anything unusual. io_rw_flush() runs at the end of each submission.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "aio.h"
#include "io-wq.h"
#include "kbuf.h"
#include "req.h"
#include "ring.h"
#include "rsrc.h"
#include "rw-batch.h"
#include "rw.h"
#include "submit.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define BOUNCE_SIZE (1024UL * 1024UL)
#define RW_MAX_SEGS 1024 /* UIO_MAXIOV */

enum rw_kind {
        RW_PLAIN,
        RW_VEC,
        RW_FIXED,
};

struct io_rw {
        uint64_t addr;
        int64_t pos;
        uint64_t len;           /* bytes asked for (capped at MAX_RW_COUNT) */
        uint64_t sel_len;       /* IOSQE_BUFFER_SELECT: the length asked (0: a buffer) */
        uint64_t done;          /* bytes moved before a punt */
        struct iovec *iov;      /* RW_VEC: the app's iovecs, read at prep */
        uint32_t nr_segs;
        int32_t rw_flags;
        int32_t err;            /* RW_FIXED: buffer check result, for the CQE */
        uint16_t buf_index;
        uint8_t kind;
        uint8_t write;
};

/* One bounce buffer per thread, freed when the thread exits. */
static pthread_key_t bounce_key;
static pthread_once_t bounce_once = PTHREAD_ONCE_INIT;

static void bounce_key_init(void) {
        pthread_key_create(&bounce_key, free);
}

static void *bounce_get(void) {
        void *p;

        pthread_once(&bounce_once, bounce_key_init);
        p = pthread_getspecific(bounce_key);
        if (!p) {
                /* Page-aligned, so O_DIRECT files work through it. */
                if (posix_memalign(&p, 4096, BOUNCE_SIZE) != 0)
                        return NULL;
                pthread_setspecific(bounce_key, p);
        }
        return p;
}

static int ioprio_check(uint16_t ioprio) {
        unsigned class = ioprio >> 13, data = ioprio & 0x1fff;

        switch (class) {
        case 0: /* IOPRIO_CLASS_NONE */
        case 1: /* RT */
        case 2: /* BE */
                return (class == 0 || data < 8) ? 0 : -EINVAL;
        case 3: /* IDLE */
                return 0;
        default:
                return -EINVAL;
        }
}

static int io_prep_rw(struct io_kiocb *req, const struct io_uring_sqe *sqe, bool write, enum rw_kind kind) {
        struct io_rw *rw = io_kiocb_to_cmd(req, struct io_rw);
        int r;

        rw->pos = (int64_t) sqe->off;
        rw->buf_index = sqe->buf_index;
        rw->addr = sqe->addr;
        rw->rw_flags = sqe->rw_flags;
        rw->kind = kind;
        rw->write = write;
        r = ioprio_check(sqe->ioprio);
        if (r < 0)
                return r;
        /* Protection-information attributes (attr_type_mask) are not ours. */
        if (sqe->__pad2[0])
                return -EINVAL;
        if (rw->rw_flags & RWF_NOWAIT)
                req->flags |= REQ_F_NOWAIT;

        if (req->flags & REQ_F_BUFFER_SELECT) {
                /* The buffer comes from the group at issue. READV takes its
                 * length from its single iovec, as the kernel's
                 * io_iov_buffer_select_prep(). */
                if (kind == RW_VEC) {
                        struct iovec iov;
                        if (sqe->len != 1)
                                return -EINVAL;
                        r = io_task_read(req->task, &iov, rw->addr, sizeof(iov));
                        if (r < 0)
                                return r;
                        rw->sel_len = iov.iov_len;
                } else
                        rw->sel_len = sqe->len;
                rw->sel_len = MIN(rw->sel_len, (uint64_t) URINGD_MAX_RW_COUNT);
                rw->kind = RW_PLAIN;
                rw->len = rw->sel_len;
                return 0;
        }

        switch (kind) {
        case RW_PLAIN:
                rw->len = MIN((uint64_t) sqe->len, (uint64_t) URINGD_MAX_RW_COUNT);
                if (!io_user_range_ok(rw->addr, rw->len))
                        return -EFAULT;
                break;
        case RW_FIXED:
                rw->len = MIN((uint64_t) sqe->len, (uint64_t) URINGD_MAX_RW_COUNT);
                /* The kernel checks the buffer at issue and fails only this
                 * CQE; the table lives on the event loop, so check now and
                 * report at issue. */
                rw->err = io_fixed_buf_check(req->ctx, rw->buf_index, rw->addr, sqe->len);
                break;
        case RW_VEC: {
                uint32_t nr = sqe->len;
                uint64_t total = 0;

                if (nr > RW_MAX_SEGS)
                        return -EINVAL;
                rw->nr_segs = nr;
                if (nr == 0)
                        break;
                rw->iov = calloc(nr, sizeof(struct iovec));
                if (!rw->iov)
                        return -ENOMEM;
                r = io_task_read(req->task, rw->iov, rw->addr, nr * sizeof(struct iovec));
                if (r < 0)
                        return r == -EFAULT ? -EFAULT : r;
                for (uint32_t i = 0; i < nr; i++) {
                        if ((ssize_t) rw->iov[i].iov_len < 0)
                                return -EINVAL;
                        /* Truncate at MAX_RW_COUNT, as import_iovec() does. */
                        if (total + rw->iov[i].iov_len > (uint64_t) URINGD_MAX_RW_COUNT)
                                rw->iov[i].iov_len = URINGD_MAX_RW_COUNT - total;
                        if (!io_user_range_ok((uintptr_t) rw->iov[i].iov_base, rw->iov[i].iov_len))
                                return -EFAULT;
                        total += rw->iov[i].iov_len;
                }
                rw->len = total;
                break;
        }
        }
        return 0;
}

int io_prep_read(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, false, RW_PLAIN);
}
int io_prep_write(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, true, RW_PLAIN);
}
int io_prep_readv(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, false, RW_VEC);
}
int io_prep_writev(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, true, RW_VEC);
}
int io_prep_read_fixed(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, false, RW_FIXED);
}
int io_prep_write_fixed(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        return io_prep_rw(req, sqe, true, RW_FIXED);
}

int io_rw_buffer_select(struct io_kiocb *req) {
        struct io_rw *rw = io_kiocb_to_cmd(req, struct io_rw);
        uint64_t len = rw->sel_len;
        int err;

        rw->addr = io_buffer_select(req, &len, &err);
        if (err < 0)
                return err;
        rw->len = len;
        rw->done = 0;
        return 0;
}

void io_readv_writev_cleanup(struct io_kiocb *req) {
        struct io_rw *rw = io_kiocb_to_cmd(req, struct io_rw);
        free(rw->iov);
        rw->iov = NULL;
}

/* The app's memory from byte @skip of the request on, as remote iovecs. */
static unsigned rw_remote_iov(const struct io_rw *rw, uint64_t skip, struct iovec *out) {
        if (rw->kind != RW_VEC) {
                out[0].iov_base = (void *) (uintptr_t) (rw->addr + skip);
                out[0].iov_len = rw->len - skip;
                return 1;
        }
        unsigned n = 0;
        for (uint32_t i = 0; i < rw->nr_segs; i++) {
                size_t l = rw->iov[i].iov_len;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                out[n].iov_base = (char *) rw->iov[i].iov_base + skip;
                out[n].iov_len = l - skip;
                skip = 0;
                n++;
        }
        return n;
}

/* Bytes moved, or -errno when nothing moved. -EAGAIN asks for a punt. */
static int64_t rw_loop(struct io_kiocb *req, struct io_rw *rw, bool nonblock, bool async) {
        struct iovec riov[RW_MAX_SEGS];
        bool isreg = req->flags & REQ_F_ISREG;
        /* Only regular files and block devices take an offset; pipes,
         * sockets and ttys ignore it under the kernel but fail pread(). */
        bool cur_pos = rw->pos == -1 || !isreg;
        int flags = rw->rw_flags | (nonblock ? RWF_NOWAIT : 0);
        int64_t err = 0;
        void *buf = bounce_get();

        if (!buf)
                return -ENOMEM;

        while (rw->done < rw->len || rw->len == 0) {
                size_t chunk = MIN(rw->len - rw->done, BOUNCE_SIZE);
                struct iovec l = { .iov_base = buf, .iov_len = chunk };
                off_t off = cur_pos ? -1 : rw->pos + (off_t) rw->done;
                unsigned nr = rw_remote_iov(rw, rw->done, riov);
                ssize_t n, m;

                if (!rw->write) {
                        n = preadv2(req->file, &l, 1, off, flags);
                        if (n < 0) {
                                err = negative_errno();
                                break;
                        }
                        if (n == 0)
                                break;
                        /* On a worker, long after the call: is the tid still
                         * the app's thread? (see ARCHITECTURE.md) */
                        if (async && !io_task_alive(req->task)) {
                                err = -ECANCELED;
                                break;
                        }
                        m = io_task_writev(req->task, riov, nr, buf, (size_t) n);
                        if (m < n && (req->flags & REQ_F_DIRECT)) {
                                /* O_DIRECT fails whole when the app's pages
                                 * cannot be pinned, as the kernel's. */
                                rw->done = 0;
                                err = -EFAULT;
                                break;
                        }
                        if (m < n) {
                                /* Give back what the app never received. */
                                if (cur_pos && isreg)
                                        lseek(req->file, -(off_t) (n - MAX(m, 0)), SEEK_CUR);
                                if (m > 0)
                                        rw->done += (uint64_t) m;
                                err = -EFAULT;
                                break;
                        }
                } else {
                        m = chunk ? io_task_readv(req->task, riov, nr, buf, chunk) : 0;
                        if (m < (ssize_t) chunk && (req->flags & REQ_F_DIRECT))
                                m = -EFAULT;
                        if (m < 0) {
                                err = m;
                                break;
                        }
                        l.iov_len = (size_t) m;
                        n = pwritev2(req->file, &l, 1, off, flags);
                        if (n < 0) {
                                err = negative_errno();
                                break;
                        }
                        if (n < m || (size_t) m < chunk) {
                                rw->done += (uint64_t) n;
                                if ((size_t) m < chunk && n == m)
                                        err = -EFAULT;
                                break;
                        }
                }
                rw->done += (uint64_t) n;
                /* Short transfers end the request: EOF, or a stream's
                 * natural boundary; only regular files are continued. */
                if ((size_t) n < chunk || !isreg || rw->len == 0)
                        break;
        }

        if (rw->done > 0)
                return (int64_t) rw->done;
        return err;
}

static int io_rw_issue(struct io_kiocb *req, unsigned issue_flags) {
        struct io_rw *rw = io_kiocb_to_cmd(req, struct io_rw);
        bool nonblock = issue_flags & IO_URING_F_NONBLOCK;
        uint64_t before = rw->done;
        int64_t r;

        if (rw->err) {
                io_req_set_res(req, rw->err, 0);
                return IOU_OK;
        }
        /* A provided buffer is chosen when the read is issued. */
        if ((req->flags & (REQ_F_BUFFER_SELECT | REQ_F_BUFFER_SELECTED)) == REQ_F_BUFFER_SELECT) {
                int err = io_rw_buffer_select(req);
                if (err < 0) {
                        io_req_set_res(req, err, 0);
                        return IOU_OK;
                }
        }
        /* IOPOLL polls the device for completions: O_DIRECT only. */
        if ((req->ctx->flags & IORING_SETUP_IOPOLL) && !(req->flags & REQ_F_DIRECT)) {
                io_req_set_res(req, -EOPNOTSUPP, 0);
                return IOU_OK;
        }
        /* O_DIRECT: the whole queue depth to the device, through AIO. */
        if (nonblock && rw->kind != RW_VEC && rw->rw_flags == 0 && rw->done == 0 &&
            (req->flags & (REQ_F_ISREG | REQ_F_DIRECT | REQ_F_NOWAIT)) == (REQ_F_ISREG | REQ_F_DIRECT)) {
                r = io_aio_rw(req, rw->addr, rw->pos, rw->len, rw->write);
                if (r != -EAGAIN)
                        return (int) r;
        }
        /* Otherwise O_DIRECT waits for the device on a worker. */
        if (nonblock && !(req->flags & REQ_F_NOWAIT) && (req->flags & REQ_F_DIRECT))
                return -EAGAIN;
        /* Buffered reads from the page cache: batched by rw-batch.c. */
        if (nonblock && !rw->write && rw->kind != RW_VEC && rw->rw_flags == 0 && rw->done == 0 &&
            (req->flags & (REQ_F_ISREG | REQ_F_DIRECT | REQ_F_NOWAIT)) == REQ_F_ISREG) {
                r = io_rw_batch_read(req, rw->addr, rw->pos, rw->len);
                if (r != -EAGAIN)
                        return (int) r;
        }

        if ((issue_flags & IO_URING_F_IOWQ) && !(req->flags & (REQ_F_ISREG | REQ_F_NOWAIT))) {
                /* A pipe, socket or tty may never become ready: wait for it
                 * in poll() next to the pool's cancel fd, then retry. */
                for (;;) {
                        r = rw_loop(req, rw, true, true);
                        if (r == -EOPNOTSUPP) {
                                r = rw_loop(req, rw, false, true);
                                break;
                        }
                        if (r != -EAGAIN)
                                break;
                        r = io_wq_wait_ready(req->file, rw->write ? POLLOUT : POLLIN);
                        if (r < 0)
                                break;
                }
                io_req_set_res(req, (int32_t) r, 0);
                if (r >= 0 && (uint64_t) r != rw->len)
                        io_req_set_fail(req);
                return IOU_OK;
        }
        /* On the loop everything is tried with RWF_NOWAIT first: the page
         * cache of a regular file, whatever a pipe or socket holds. */
        r = rw_loop(req, rw, nonblock, issue_flags & IO_URING_F_IOWQ);
        if (r == -EOPNOTSUPP && nonblock && !(req->flags & REQ_F_NOWAIT)) {
                /* No non-blocking mode (a tty, buffered writes on many file
                 * systems): a worker does it, never the loop (the app may
                 * clear O_NONBLOCK under us), nor a poll that could not
                 * help. On an O_NONBLOCK file the worker gets -EAGAIN. */
                req->flags |= REQ_F_NO_APOLL;
                return -EAGAIN;
        }
        /* A pipe or socket that is not ready waits in an async poll
         * (FAST_POLL), a regular file's page-cache miss on a worker. */
        if (r == -EAGAIN && nonblock && !(req->flags & REQ_F_NOWAIT))
                return -EAGAIN;
        if (nonblock && !(req->flags & REQ_F_NOWAIT) && r >= 0 && rw->done < rw->len &&
            rw->done > before && (req->flags & REQ_F_ISREG)) {
                /* Partly from the page cache: let a worker finish the rest,
                 * unless this was EOF (a blocking retry tells). */
                return -EAGAIN;
        }
        io_req_set_res(req, (int32_t) r, 0);
        /* A short transfer fails the request for its links, as the kernel's
         * __io_complete_rw_common() does. */
        if (r >= 0 && (uint64_t) r != rw->len)
                io_req_set_fail(req);
        return IOU_OK;
}

int io_read(struct io_kiocb *req, unsigned issue_flags) {
        return io_rw_issue(req, issue_flags);
}

int io_write(struct io_kiocb *req, unsigned issue_flags) {
        return io_rw_issue(req, issue_flags);
}

uint64_t io_rw_len(struct io_kiocb *req) {
        return io_kiocb_to_cmd(req, struct io_rw)->len;
}

void io_rw_issue_slow(struct io_kiocb *req) {
        struct io_rw *rw = io_kiocb_to_cmd(req, struct io_rw);
        int64_t r;

        rw->done = 0;
        r = rw_loop(req, rw, false, false);
        io_req_set_res(req, (int32_t) r, 0);
        if (r < 0 || (uint64_t) r != rw->len)
                io_req_set_fail(req);
        io_req_complete(req, false);
}

void io_rw_flush(void) {
        io_aio_flush();
        io_rw_batch_flush();
}
