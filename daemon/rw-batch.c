/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batched page-cache reads. A buffered read of a regular file at an explicit
 * offset, issued on the event loop, becomes an iocb with RWF_NOWAIT aimed at
 * a slot of one large per-submission buffer. At the end of the submission,
 * one io_submit() runs them all: buffered AIO reads complete inside the
 * call, from the page cache or with -EAGAIN, never waiting for the disk;
 * they are collected from the AIO ring in our memory, and one
 * process_vm_writev() per task copies them into the app. Two syscalls per
 * batch instead of two per request: on these VMs a syscall costs about 1 µs. Without AIO, each read
 * is a preadv2(RWF_NOWAIT) at issue, and only the copies are batched.
 *
 * Anything unusual takes the ordinary path of rw.c, which gives the kernel's
 * answer: a read the page cache cannot satisfy in full (EOF, or pages not
 * cached) goes to io-wq, as rw.c punts it; a copy that faults (the app's
 * buffer is not mapped) is redone by rw.c, which reports the prefix or
 * -EFAULT. The data come from the kernel's read, so a truncation racing
 * it is the kernel's business, and EOF reads as the kernel reads it.
 *
 * Why not map the file into the daemon and copy from the mapping: measured
 * on these (PVM) guests, the first touch of each page of a daemon-side
 * mapping costs more than the preadv2() it saves, and residency must still
 * be checked with one mincore() per request (see docs/PERFORMANCE.md).
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/aio_abi.h>

#include "aio.h"
#include "manager.h"
#include "req.h"
#include "ring.h"
#include "rw-batch.h"
#include "rw.h"
#include "submit.h"
#include "task.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define RW_BATCH_MAX 256                        /* requests, <= IOV_MAX */
#define RW_BATCH_BYTES (4UL * 1024UL * 1024UL)  /* data held per batch */
#define RW_BATCH_MAX_LEN (256UL * 1024UL)       /* larger reads: rw.c */

struct rw_batch_item {
        struct iocb iocb;       /* AIO: aio_data is the item's index */
        struct io_kiocb *req;
        void *buf;              /* in batch_buf */
        uint64_t addr;          /* the app's buffer */
        size_t len;
};

static struct rw_batch_item items[RW_BATCH_MAX];
static unsigned nr_items;
static uint8_t *batch_buf;      /* event loop only: no locking */
static size_t batch_used;
static aio_context_t batch_aio;
static bool batch_aio_failed;

static bool batch_aio_init(void) {
        if (batch_aio)
                return true;
        if (batch_aio_failed)
                return false;
        if (syscall(SYS_io_setup, RW_BATCH_MAX, &batch_aio) < 0) {
                batch_aio = 0;
                batch_aio_failed = true;
                return false;
        }
        return true;
}

/* Not all in the page cache, or EOF: to io-wq, as rw.c punts it, through
 * task work (the submission that queued it is over). */
static void rw_batch_punt(struct io_kiocb *req) {
        req->flags |= REQ_F_FORCE_ASYNC;
        req->tw_func = NULL;
        manager_queue_task_work(req->ctx->manager, req);
}

int io_rw_batch_read(struct io_kiocb *req, uint64_t addr, int64_t pos, uint64_t len) {
        struct rw_batch_item *it;
        struct iovec l;
        ssize_t n;

        /* The batch is the event loop's: no locking. */
        if (len == 0 || len > RW_BATCH_MAX_LEN || pos < 0 || !in_event_loop)
                return -EAGAIN;
        if (!batch_buf && posix_memalign((void **) &batch_buf, 4096, RW_BATCH_BYTES) != 0) {
                batch_buf = NULL;
                return -EAGAIN;
        }
        if (nr_items == RW_BATCH_MAX || batch_used + len > RW_BATCH_BYTES)
                io_rw_batch_flush();

        it = &items[nr_items];
        *it = (struct rw_batch_item) { .req = req, .buf = batch_buf + batch_used, .addr = addr, .len = len };
        if (batch_aio_init()) {
                it->iocb = (struct iocb) {
                        .aio_data = nr_items,
                        .aio_rw_flags = RWF_NOWAIT,
                        .aio_lio_opcode = IOCB_CMD_PREAD,
                        .aio_fildes = (uint32_t) req->file,
                        .aio_buf = (uint64_t) (uintptr_t) it->buf,
                        .aio_nbytes = len,
                        .aio_offset = pos,
                };
        } else {
                l = (struct iovec) { it->buf, len };
                n = preadv2(req->file, &l, 1, pos, RWF_NOWAIT);
                if (n < 0 || (uint64_t) n != len)
                        /* Not all in the page cache, or EOF: rw.c decides. */
                        return -EAGAIN;
        }
        nr_items++;
        /* Keep slots cache-line aligned. */
        batch_used += ALIGN_TO(len, 64);
        return IOU_ISSUE_SKIP_COMPLETE;
}

/* One process_vm_writev() per run of items of the same task: the items of
 * a batch nearly always share one. */
/* Run the queued iocbs; the reads that did not complete in full are
 * punted and dropped from the batch. */
static void rw_batch_run_aio(void) {
        struct iocb *iocbs[RW_BATCH_MAX];
        struct io_event ev[RW_BATCH_MAX];
        bool ok[RW_BATCH_MAX] = {};
        unsigned nr = 0, kept = 0;
        long submitted = 0, got = 0;

        for (unsigned i = 0; i < nr_items; i++)
                iocbs[i] = &items[i].iocb;
        while (submitted < (long) nr_items) {
                long n = syscall(SYS_io_submit, batch_aio, (long) nr_items - submitted, &iocbs[submitted]);
                if (n <= 0) {
                        /* Refused: this one goes the ordinary way. */
                        rw_batch_punt(items[submitted].req);
                        items[submitted].req = NULL;
                        iocbs[submitted] = NULL;
                        submitted++;
                        continue;
                }
                nr += (unsigned) n;
                submitted += n;
        }
        /* Buffered AIO reads complete inside io_submit(): the events are in
         * the ring already, taken without a syscall; io_getevents() only
         * for what is not (it never waits). */
        if (nr > 0) {
                got = io_aio_reap_ring(batch_aio, ev, (long) nr);
                if (got < 0)
                        got = 0;
        }
        while (got < (long) nr) {
                long n = syscall(SYS_io_getevents, batch_aio, (long) nr - got, (long) nr - got, ev + got, NULL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += n;
        }
        for (long i = 0; i < got; i++) {
                struct rw_batch_item *it = &items[ev[i].data];
                if (ev[i].res >= 0 && (uint64_t) ev[i].res == it->len)
                        ok[ev[i].data] = true;
        }
        for (unsigned i = 0; i < nr_items; i++) {
                if (!items[i].req)
                        continue;
                if (!ok[i]) {
                        rw_batch_punt(items[i].req);
                        continue;
                }
                items[kept++] = items[i];
        }
        nr_items = kept;
}

void io_rw_batch_flush(void) {
        struct iovec liov[RW_BATCH_MAX], riov[RW_BATCH_MAX];
        unsigned i = 0;

        if (batch_aio && nr_items == 1) {
                /* One read: a preadv2() is one syscall, AIO two. */
                struct rw_batch_item *it = &items[0];
                struct iovec l = { it->buf, it->len };
                ssize_t n = preadv2(it->req->file, &l, 1, (off_t) it->iocb.aio_offset, RWF_NOWAIT);
                if (n < 0 || (size_t) n != it->len) {
                        rw_batch_punt(it->req);
                        nr_items = 0;
                }
        } else if (batch_aio && nr_items > 1)
                rw_batch_run_aio();

        while (i < nr_items) {
                struct io_task *task = items[i].req->task;
                unsigned j, n = 0;
                ssize_t done;

                for (j = i; j < nr_items && items[j].req->task == task; j++, n++) {
                        liov[n] = (struct iovec) { items[j].buf, items[j].len };
                        riov[n] = (struct iovec) { (void *) (uintptr_t) items[j].addr, items[j].len };
                }
                done = io_task_vm_writev(task, liov, n, riov, n);
                if (done < 0)
                        done = 0;
                /* The copy stops at the first fault: a prefix of the items
                 * is done; the others go the ordinary way. */
                for (unsigned k = i; k < j; k++) {
                        struct io_kiocb *req = items[k].req;

                        if ((size_t) done >= items[k].len) {
                                done -= (ssize_t) items[k].len;
                                io_req_set_res(req, (int32_t) items[k].len, 0);
                                io_req_complete(req, false);
                        } else {
                                done = 0;
                                io_rw_issue_slow(req);
                        }
                }
                i = j;
        }
        nr_items = 0;
        batch_used = 0;
}
