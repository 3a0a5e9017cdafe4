/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * O_DIRECT reads and writes through Linux native AIO, so that the whole
 * queue depth reaches the device. Without it, each O_DIRECT request blocks
 * one io-wq worker, and at most min(sq_entries, 4 * CPUs) of them run: a
 * QD32 ring would reach the disk at QD8, with a thread hop per request.
 *
 * On the event loop, a request gets an aligned bounce buffer (for a write,
 * filled from the app at once) and an iocb; the iocbs of a submission go to
 * the kernel with one io_submit() at its end. The AIO context signals an
 * eventfd watched by the loop; there the completions are reaped, the data
 * of the reads copied into the apps with one process_vm_writev() per task,
 * and the CQEs posted.
 *
 * Anything unusual goes the ordinary way (rw.c), which gives the
 * kernel's answer: a full AIO context, io_submit() refusing an iocb, or an
 * app buffer that faults.
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/aio_abi.h>
#include <systemd/sd-event.h>

#include "aio.h"
#include "manager.h"
#include "req.h"
#include "ring.h"
#include "rw.h"
#include "submit.h"
#include "task.h"
#include "uringd/macro.h"

#define AIO_MAX_EVENTS 256      /* in flight, all rings */
#define AIO_MAX_LEN (1024UL * 1024UL)
#define AIO_SLOT_SIZE (64UL * 1024UL) /* pooled buffers; larger: allocated */
#define AIO_SPIN_NSEC 30000ULL        /* look for more completions before sleeping */
#define AIO_RING_MAGIC 0xa10a10a1

/* The head of the kernel's completion ring, mapped at the context's address
 * (fs/aio.c): peeking at it costs no syscall. The events follow it. */
struct aio_ring {
        unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
        struct io_event events[];
};

struct aio_req {
        struct iocb iocb;
        struct io_kiocb *req;
        void *buf;
        uint64_t addr;          /* the app's buffer */
        size_t len;
        bool write;
        struct aio_req *next_free;
};

static aio_context_t aio_ctx;
static int aio_efd = -1;
static bool aio_failed;         /* no AIO here: never try again */
static unsigned aio_inflight;   /* submitted or queued */
static struct iocb *queued[AIO_MAX_EVENTS];
static unsigned nr_queued;
/* A fixed pool: malloc of aligned buffers per request churned brk(). Slots
 * are only touched (and so only count in RSS) when used. */
static struct aio_req pool[AIO_MAX_EVENTS];
static struct aio_req *free_list;
static uint8_t *slots;

static int on_aio_event(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int aio_init(struct manager *m) {
        sd_event *e = m->event;
        sd_event_source *src;

        if (aio_efd >= 0)
                return 0;
        if (aio_failed)
                return -EOPNOTSUPP;
        slots = mmap(NULL, AIO_MAX_EVENTS * AIO_SLOT_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slots == MAP_FAILED) {
                slots = NULL;
                goto fail;
        }
        for (unsigned i = 0; i < AIO_MAX_EVENTS; i++) {
                pool[i].next_free = free_list;
                free_list = &pool[i];
        }
        if (syscall(SYS_io_setup, AIO_MAX_EVENTS, &aio_ctx) < 0)
                goto fail;
        aio_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (aio_efd < 0)
                goto fail;
        /* Edge-triggered: each completion signals a new edge, so the
         * counter need not be read back (a syscall per reaping round). */
        if (sd_event_add_io(e, &src, aio_efd, EPOLLIN | EPOLLET, on_aio_event, m) < 0)
                goto fail;
        /* Owned by the loop, freed with it. */
        (void) sd_event_source_set_floating(src, true);
        sd_event_source_unref(src);
        return 0;
fail:
        if (aio_ctx)
                (void) syscall(SYS_io_destroy, aio_ctx);
        aio_ctx = 0;
        aio_efd = safe_close(aio_efd);
        if (slots)
                munmap(slots, AIO_MAX_EVENTS * AIO_SLOT_SIZE);
        slots = NULL;
        free_list = NULL;
        aio_failed = true;
        return -EOPNOTSUPP;
}

static void aio_req_free(struct aio_req *a) {
        aio_inflight--;
        if (a->buf != slots + (size_t) (a - pool) * AIO_SLOT_SIZE)
                free(a->buf);
        a->next_free = free_list;
        free_list = a;
}

int io_aio_rw(struct io_kiocb *req, uint64_t addr, int64_t pos, uint64_t len, bool write) {
        struct aio_req *a;

        /* The pool is the event loop's: no locking. */
        if (len == 0 || len > AIO_MAX_LEN || pos < 0 || aio_inflight >= AIO_MAX_EVENTS || !in_event_loop)
                return -EAGAIN;
        if (aio_init(req->ctx->manager) < 0)
                return -EAGAIN;
        a = free_list;
        free_list = a->next_free;
        a->buf = slots + (size_t) (a - pool) * AIO_SLOT_SIZE;
        aio_inflight++;
        /* Aligned for any logical block size; the app's offset and length
         * alignment are checked by the kernel, as for its own io_uring. */
        if (len > AIO_SLOT_SIZE && posix_memalign(&a->buf, 4096, ALIGN_TO(len, 4096)) != 0) {
                a->buf = slots + (size_t) (a - pool) * AIO_SLOT_SIZE;
                aio_req_free(a);
                return -EAGAIN;
        }
        if (write && io_task_read(req->task, a->buf, addr, len) < 0) {
                /* The app's buffer faults: rw.c reports it. */
                aio_req_free(a);
                return -EAGAIN;
        }
        a->req = req;
        a->addr = addr;
        a->len = len;
        a->write = write;
        a->iocb = (struct iocb) {
                .aio_data = (uint64_t) (uintptr_t) a,
                .aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
                .aio_fildes = (uint32_t) req->file,
                .aio_buf = (uint64_t) (uintptr_t) a->buf,
                .aio_nbytes = len,
                .aio_offset = pos,
                .aio_flags = IOCB_FLAG_RESFD,
                .aio_resfd = (uint32_t) aio_efd,
        };
        queued[nr_queued++] = &a->iocb;
        return IOU_ISSUE_SKIP_COMPLETE;
}

/* Not submitted after all: the ordinary path, at once. */
static void aio_fallback(struct aio_req *a) {
        struct io_kiocb *req = a->req;

        aio_req_free(a);
        io_rw_issue_slow(req);
}

void io_aio_flush(void) {
        unsigned i = 0;

        while (i < nr_queued) {
                long n = syscall(SYS_io_submit, aio_ctx, (long) (nr_queued - i), &queued[i]);
                if (n <= 0) {
                        /* The first iocb is refused (or AIO broke): it goes
                         * the ordinary way, and the rest are retried. */
                        aio_fallback((struct aio_req *) (uintptr_t) queued[i]->aio_data);
                        i++;
                        continue;
                }
                i += (unsigned) n;
        }
        nr_queued = 0;
}

static void aio_complete(struct aio_req *a, int64_t res) {
        struct io_kiocb *req = a->req;

        aio_req_free(a);
        io_req_set_res(req, (int32_t) res, 0);
        if (res < 0 || (uint64_t) res != io_rw_len(req))
                io_req_set_fail(req);
        io_req_complete(req, false);
}

/*
 * Copy the reads of one task into it at once. The copy stops at the first
 * app buffer that faults: that read fails -EFAULT, whole, as the kernel's
 * O_DIRECT read does when it cannot pin the pages; the rest are retried.
 */
static void aio_finish_reads(struct aio_req **reads, int64_t *res, unsigned n) {
        struct iovec liov[AIO_MAX_EVENTS], riov[AIO_MAX_EVENTS];
        unsigned i = 0;

        while (i < n) {
                struct io_task *task = reads[i]->req->task;
                bool alive;
                unsigned j, k;

                for (j = i; j < n && reads[j]->req->task == task; j++)
                        ;
                /* Long after the call: does the thread, or its process,
                 * still live? */
                alive = io_task_alive(task);
                for (k = i; k < j;) {
                        unsigned nv = 0;
                        ssize_t done = 0;

                        for (unsigned m = k; m < j; m++)
                                if (res[m] > 0) {
                                        liov[nv] = (struct iovec) { reads[m]->buf, (size_t) res[m] };
                                        riov[nv] = (struct iovec) { (void *) (uintptr_t) reads[m]->addr, (size_t) res[m] };
                                        nv++;
                                }
                        if (nv > 0 && alive)
                                done = io_task_vm_writev(task, liov, nv, riov, nv);
                        if (done < 0)
                                done = 0;
                        for (; k < j; k++) {
                                if (res[k] <= 0) {
                                        aio_complete(reads[k], res[k]);
                                        continue;
                                }
                                if (done < res[k]) {
                                        aio_complete(reads[k], -EFAULT);
                                        k++;
                                        break;
                                }
                                done -= res[k];
                                aio_complete(reads[k], res[k]);
                        }
                        if (!alive)
                                break;
                }
                for (; k < j; k++)
                        aio_complete(reads[k], res[k] > 0 ? -EFAULT : res[k]);
                i = j;
        }
}

/*
 * The kernel produces at ring->tail and io_getevents() consumes at
 * ring->head under the context's ring lock; the ring is mapped writable in
 * user space precisely so that a sole consumer can do the same (libaio's
 * and fio's user-space reaping). We are the sole consumer of our contexts.
 */
long io_aio_reap_ring(unsigned long ctx, struct io_event *ev, long max) {
        struct aio_ring *ring = (struct aio_ring *) (uintptr_t) ctx;
        unsigned head, tail;
        long n = 0;

        if (!ring || ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0 ||
            ring->header_length != sizeof(struct aio_ring))
                return -EOPNOTSUPP;
        head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
        tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
        while (n < max && head != tail) {
                if (head >= ring->nr)
                        return n > 0 ? n : -EOPNOTSUPP;
                ev[n++] = ring->events[head];
                head = head + 1 == ring->nr ? 0 : head + 1;
        }
        /* The events are copied before the kernel may reuse their slots. */
        __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
        return n;
}

/* Wait a little for the next completion while requests are in flight: a
 * wake-up through the eventfd on an idle vCPU costs ~25 µs here. */
static bool aio_spin(void) {
        const struct aio_ring *ring = (const struct aio_ring *) (uintptr_t) aio_ctx;
        uint64_t end;

        if (aio_inflight == 0 || ring->magic != AIO_RING_MAGIC)
                return false;
        end = now_nsec() + AIO_SPIN_NSEC;
        do {
                if (__atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) != __atomic_load_n(&ring->head, __ATOMIC_RELAXED))
                        return true;
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
        } while (now_nsec() < end);
        return false;
}

static int on_aio_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct io_event ev[AIO_MAX_EVENTS];
        struct aio_req *reads[AIO_MAX_EVENTS];
        int64_t res[AIO_MAX_EVENTS];
        struct timespec zero = {};
        struct manager *m = userdata;
        long n;

        for (;;) {
                unsigned nr = 0;

                n = io_aio_reap_ring(aio_ctx, ev, AIO_MAX_EVENTS);
                if (n < 0)
                        n = syscall(SYS_io_getevents, aio_ctx, 0L, (long) AIO_MAX_EVENTS, ev, &zero);
                if (n <= 0)
                        break;
                for (long i = 0; i < n; i++) {
                        struct aio_req *a = (struct aio_req *) (uintptr_t) ev[i].data;
                        if (a->write)
                                aio_complete(a, ev[i].res);
                        else {
                                reads[nr] = a;
                                res[nr++] = ev[i].res;
                        }
                }
                aio_finish_reads(reads, res, nr);
                if (n == AIO_MAX_EVENTS)
                        continue;
                /* Answer the waiters now, then look for more. */
                manager_process_wakes(m);
                if (!aio_spin())
                        break;
        }
        return 0;
}
