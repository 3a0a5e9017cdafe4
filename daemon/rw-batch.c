/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batched page-cache reads. A buffered read of a regular file at an explicit
 * offset, issued on the event loop, becomes an iocb with RWF_NOWAIT aimed at
 * a slot of one large per-submission buffer. At the end of the submission,
 * one io_submit() runs them all: buffered AIO reads complete inside the
 * call, from the page cache or with -EAGAIN, never waiting for the disk;
 * they are collected from the AIO ring in our memory, and one
 * process_vm_writev() per task copies them into the app. Two syscalls per
 * batch instead of two per request: on these VMs a syscall costs about
 * 1 µs. Without AIO, each read is a preadv2(RWF_NOWAIT) at issue, and only
 * the copies are batched.
 *
 * A large batch from a trapped io_uring_enter() is cut in two shares of
 * about the same bytes, and the assistant thread (assist.c) reads and
 * copies one while the loop does the other: the caller's CPU is idle while
 * it waits for us. Each share has its own AIO context and records an
 * outcome per item; completing the requests stays on the loop, in order.
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
#include "assist.h"
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
#define RW_BATCH_ASSIST_BYTES (64UL * 1024UL)   /* smaller batches: one thread */

struct rw_batch_item {
        struct iocb iocb;       /* AIO: aio_data is the item's index */
        struct io_kiocb *req;
        void *buf;              /* in batch_buf */
        uint8_t state;          /* ITEM_*, set by whoever runs its share */
        uint64_t addr;          /* the app's buffer */
        size_t len;
};

static struct rw_batch_item items[RW_BATCH_MAX];
static unsigned nr_items;
static uint8_t *batch_buf;      /* event loop only: no locking */
static size_t batch_used;
/* One AIO context for the loop's share of a batch, one for the
 * assistant's: each reaps its own completions. */
static aio_context_t batch_aio[2];
static bool batch_aio_failed[2];

static bool batch_aio_init(unsigned which) {
        if (batch_aio[which])
                return true;
        if (batch_aio_failed[which])
                return false;
        if (syscall(SYS_io_setup, RW_BATCH_MAX, &batch_aio[which]) < 0) {
                batch_aio[which] = 0;
                batch_aio_failed[which] = true;
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
        if (batch_aio_init(0)) {
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

enum {
        ITEM_QUEUED,    /* read at issue (no AIO), or to be read */
        ITEM_READ,      /* in its slot in full, to be copied */
        ITEM_COPIED,    /* in the app: complete it */
        ITEM_PUNT,      /* not all in the page cache, or EOF: io-wq */
        ITEM_SLOW,      /* the copy faulted: rw.c redoes it */
};

/* A share of the batch, run by the loop or by the assistant: no request
 * state is touched here, only the items' own. */
struct rw_batch_share {
        unsigned first, end;
        aio_context_t aio;      /* this share's AIO context, or 0 */
};

/* Read items [first, end) into their slots with one io_submit(); the reads
 * that did not complete in full become ITEM_PUNT. */
static void rw_batch_share_read_aio(const struct rw_batch_share *sh) {
        struct iocb *iocbs[RW_BATCH_MAX];
        struct io_event ev[RW_BATCH_MAX];
        unsigned nr = sh->end - sh->first, queued = 0;
        long submitted = 0, got = 0;

        for (unsigned i = 0; i < nr; i++) {
                iocbs[i] = &items[sh->first + i].iocb;
                items[sh->first + i].state = ITEM_PUNT;
        }
        while (submitted < (long) nr) {
                long n = syscall(SYS_io_submit, sh->aio, (long) nr - submitted, &iocbs[submitted]);
                if (n <= 0) {
                        /* Refused: this one goes the ordinary way. */
                        submitted++;
                        continue;
                }
                queued += (unsigned) n;
                submitted += n;
        }
        /* Buffered AIO reads complete inside io_submit(): the events are in
         * the ring already, taken without a syscall; io_getevents() only
         * for what is not (it never waits). */
        if (queued > 0) {
                got = io_aio_reap_ring(sh->aio, ev, (long) queued);
                if (got < 0)
                        got = 0;
        }
        while (got < (long) queued) {
                long n = syscall(SYS_io_getevents, sh->aio, (long) queued - got, (long) queued - got, ev + got,
                                 NULL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += n;
        }
        for (long i = 0; i < got; i++) {
                struct rw_batch_item *it = &items[ev[i].data];
                if (ev[i].res >= 0 && (uint64_t) ev[i].res == it->len)
                        it->state = ITEM_READ;
        }
}

static void rw_batch_share_read(const struct rw_batch_share *sh) {
        if (!sh->aio) {
                /* Read at issue with preadv2(). */
                for (unsigned i = sh->first; i < sh->end; i++)
                        items[i].state = ITEM_READ;
        } else if (sh->end - sh->first == 1) {
                /* One read: a preadv2() is one syscall, AIO two. */
                struct rw_batch_item *it = &items[sh->first];
                struct iovec l = { it->buf, it->len };
                ssize_t n = preadv2(it->req->file, &l, 1, (off_t) it->iocb.aio_offset, RWF_NOWAIT);
                it->state = n >= 0 && (size_t) n == it->len ? ITEM_READ : ITEM_PUNT;
        } else
                rw_batch_share_read_aio(sh);
}

/* Copy the read items of a share into the app: one process_vm_writev() per
 * run of items of the same task (the items of a batch nearly always share
 * one). The copy stops at the first fault: a prefix of the run is done,
 * the others go the ordinary way. */
static void rw_batch_share_copy(const struct rw_batch_share *sh) {
        struct iovec liov[RW_BATCH_MAX], riov[RW_BATCH_MAX];
        unsigned idx[RW_BATCH_MAX];
        unsigned i = sh->first;

        while (i < sh->end) {
                struct io_task *task;
                unsigned n = 0;
                ssize_t done;

                if (items[i].state != ITEM_READ) {
                        i++;
                        continue;
                }
                task = items[i].req->task;
                for (; i < sh->end && (items[i].state != ITEM_READ || items[i].req->task == task); i++) {
                        if (items[i].state != ITEM_READ)
                                continue;
                        liov[n] = (struct iovec) { items[i].buf, items[i].len };
                        riov[n] = (struct iovec) { (void *) (uintptr_t) items[i].addr, items[i].len };
                        idx[n++] = i;
                }
                done = io_task_vm_writev(task, liov, n, riov, n);
                if (done < 0)
                        done = 0;
                for (unsigned k = 0; k < n; k++) {
                        struct rw_batch_item *it = &items[idx[k]];

                        if ((size_t) done >= it->len) {
                                done -= (ssize_t) it->len;
                                it->state = ITEM_COPIED;
                        } else {
                                done = 0;
                                it->state = ITEM_SLOW;
                        }
                }
        }
}

static void rw_batch_share_run(void *arg) {
        const struct rw_batch_share *sh = arg;

        rw_batch_share_read(sh);
        rw_batch_share_copy(sh);
}

/* Where to cut the batch in two shares of about the same bytes, or 0 to
 * keep it whole: small batches are not worth a second thread, and an SQPOLL
 * ring's app is running (polling its CQ) on the CPU the assistant would
 * take. A trapped io_uring_enter() leaves its caller's CPU idle meanwhile. */
static unsigned rw_batch_split_point(void) {
        size_t half = 0, total = 0;
        unsigned i;

        if (nr_items < 2)
                return 0;
        for (i = 0; i < nr_items; i++) {
                if (items[i].req->ctx->flags & IORING_SETUP_SQPOLL)
                        return 0;
                total += items[i].len;
        }
        if (total < RW_BATCH_ASSIST_BYTES)
                return 0;
        for (i = 0; i < nr_items - 1 && half + items[i].len <= total / 2; i++)
                half += items[i].len;
        return i == 0 ? 1 : i;
}

void io_rw_batch_flush(void) {
        struct rw_batch_share mine = { .first = 0, .end = nr_items, .aio = batch_aio[0] };
        struct rw_batch_share theirs;
        /* With AIO, each share needs its context; without, the reads were
         * done at issue and the shares only copy. */
        unsigned cut = !batch_aio[0] || batch_aio_init(1) ? rw_batch_split_point() : 0;
        bool assisted = false;

        if (nr_items == 0)
                return;
        if (cut > 0) {
                theirs = (struct rw_batch_share) {
                        .first = cut, .end = nr_items, .aio = batch_aio[0] ? batch_aio[1] : 0,
                };
                mine.end = cut;
                assisted = io_assist_post(rw_batch_share_run, &theirs);
                if (!assisted)
                        mine.end = nr_items;
        }
        rw_batch_share_run(&mine);
        if (assisted)
                io_assist_finish();

        /* Back on the loop alone: complete, in order. */
        for (unsigned i = 0; i < nr_items; i++) {
                struct io_kiocb *req = items[i].req;

                switch (items[i].state) {
                case ITEM_COPIED:
                        io_req_set_res(req, (int32_t) items[i].len, 0);
                        io_req_complete(req, false);
                        break;
                case ITEM_SLOW:
                        io_rw_issue_slow(req);
                        break;
                default:
                        rw_batch_punt(req);
                        break;
                }
        }
        nr_items = 0;
        batch_used = 0;
}
