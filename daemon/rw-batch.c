/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batched page-cache reads. A buffered read of a regular file at an explicit
 * offset, issued on the event loop, is read with preadv2(RWF_NOWAIT) into a
 * slot of one large per-batch buffer, and only the copy into the app is
 * deferred: at the end of the submission, one process_vm_writev() moves
 * every queued read of a task at once (one syscall per batch instead of one
 * per request; on these VMs a syscall costs about 1 µs).
 *
 * Anything unusual takes the ordinary path of rw.c, which gives the kernel's
 * answer: a read the page cache cannot satisfy in full (it may be EOF, or
 * pages not cached: rw.c tells them apart), and a copy that faults (the
 * app's buffer is not mapped: rw.c re-reads and reports the prefix, or
 * -EFAULT). The data come from preadv2(), so a truncation racing the read is
 * the kernel's business, and EOF reads as the kernel reads it.
 *
 * Why not map the file into the daemon and copy from the mapping: measured
 * on these (PVM) guests, the first touch of each page of a daemon-side
 * mapping costs more than the preadv2() it saves, and residency must still
 * be checked with one mincore() per request (see docs/PERFORMANCE.md).
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "req.h"
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
        struct io_kiocb *req;
        void *buf;              /* in batch_buf */
        uint64_t addr;          /* the app's buffer */
        size_t len;
};

static struct rw_batch_item items[RW_BATCH_MAX];
static unsigned nr_items;
static uint8_t *batch_buf;      /* event loop only: no locking */
static size_t batch_used;

int io_rw_batch_read(struct io_kiocb *req, uint64_t addr, int64_t pos, uint64_t len) {
        struct rw_batch_item *it;
        struct iovec l;
        ssize_t n;

        if (len == 0 || len > RW_BATCH_MAX_LEN || pos < 0)
                return -EAGAIN;
        if (!batch_buf && posix_memalign((void **) &batch_buf, 4096, RW_BATCH_BYTES) != 0) {
                batch_buf = NULL;
                return -EAGAIN;
        }
        if (nr_items == RW_BATCH_MAX || batch_used + len > RW_BATCH_BYTES)
                io_rw_batch_flush();

        l = (struct iovec) { batch_buf + batch_used, len };
        n = preadv2(req->file, &l, 1, pos, RWF_NOWAIT);
        if (n < 0 || (uint64_t) n != len)
                /* Not all in the page cache, or EOF: rw.c decides. */
                return -EAGAIN;

        it = &items[nr_items++];
        *it = (struct rw_batch_item) { .req = req, .buf = l.iov_base, .addr = addr, .len = len };
        /* Keep slots cache-line aligned. */
        batch_used += ALIGN_TO(len, 64);
        return IOU_ISSUE_SKIP_COMPLETE;
}

/* One process_vm_writev() per run of items of the same task: the items of
 * a batch nearly always share one. */
void io_rw_batch_flush(void) {
        struct iovec liov[RW_BATCH_MAX], riov[RW_BATCH_MAX];
        unsigned i = 0;

        while (i < nr_items) {
                struct io_task *task = items[i].req->task;
                unsigned j, n = 0;
                ssize_t done;

                for (j = i; j < nr_items && items[j].req->task == task; j++, n++) {
                        liov[n] = (struct iovec) { items[j].buf, items[j].len };
                        riov[n] = (struct iovec) { (void *) (uintptr_t) items[j].addr, items[j].len };
                }
                done = process_vm_writev(task->tid, liov, n, riov, n, 0);
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
