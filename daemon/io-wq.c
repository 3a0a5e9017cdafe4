/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io-wq.h"
#include "sqpoll.h"
#include "req.h"
#include "submit.h"
#include "uringd/list.h"
#include "uringd/macro.h"

#define IO_WQ_IDLE_TIMEOUT_SEC 5
#define IO_WQ_CANCEL_SIGNAL SIGUSR1

struct io_worker {
        struct list_head node;
        struct io_wq *wq;
        pthread_t thread;
        int acct;
        bool running;           /* inside a request: may need a signal */
        struct io_kiocb *cur;   /* that request, under lock */
        uint64_t cur_hash;      /* its wq_hash, kept apart: cur may be freed
                                 * (completed) before the worker relocks */
        bool cancel;            /* cur is cancelled: stop waiting for it */
        bool waiting;           /* cur waits for readiness: cleanly cancellable */
};

struct io_wq_acct {
        struct list_head work;
        unsigned nr_workers, nr_idle, max_workers;
        pthread_cond_t cond;
};

struct io_wq {
        int cancel_fd;          /* eventfd: readable once the pool exits */
        cpu_set_t *cpus;        /* IORING_REGISTER_IOWQ_AFF, or NULL */
        pthread_mutex_t lock;
        struct io_wq_acct acct[IO_WQ_ACCT_NR];
        struct list_head workers;
        bool exiting;
        unsigned refs;          /* creator + each worker; under lock */
};

static void io_wq_put_locked(struct io_wq *wq, bool *ret_free) {
        *ret_free = --wq->refs == 0;
}

static __thread struct io_wq *current_wq;
static __thread struct io_worker *current_worker;

static void io_wq_free(struct io_wq *wq) {
        safe_close(wq->cancel_fd);
        free(wq->cpus);
        for (int i = 0; i < IO_WQ_ACCT_NR; i++)
                pthread_cond_destroy(&wq->acct[i].cond);
        pthread_mutex_destroy(&wq->lock);
        free(wq);
}

struct io_wq *io_wq_create(unsigned bounded_max, unsigned unbounded_max) {
        struct io_wq *wq = calloc(1, sizeof(*wq));
        if (!wq)
                return NULL;
        wq->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wq->cancel_fd < 0) {
                free(wq);
                return NULL;
        }
        pthread_mutex_init(&wq->lock, NULL);
        list_init(&wq->workers);
        for (int i = 0; i < IO_WQ_ACCT_NR; i++) {
                list_init(&wq->acct[i].work);
                pthread_cond_init(&wq->acct[i].cond, NULL);
        }
        wq->acct[IO_WQ_ACCT_BOUND].max_workers = MAX(bounded_max, 1U);
        wq->acct[IO_WQ_ACCT_UNBOUND].max_workers = MAX(unbounded_max, 1U);
        wq->refs = 1;
        return wq;
}

/* Under lock: is work of @hash running on a worker? */
static bool io_wq_hash_busy(struct io_wq *wq, uint64_t hash) {
        struct io_worker *w;

        list_for_each_entry(w, &wq->workers, node)
                if (w->cur_hash == hash)
                        return true;
        return false;
}

/* Under lock: the first work of @acct that may run now: hashed work waits
 * while work of its hash runs, which keeps each hash in queue order. */
static struct io_kiocb *io_wq_next_work(struct io_wq *wq, struct io_wq_acct *acct) {
        struct io_kiocb *req;

        list_for_each_entry(req, &acct->work, work_node)
                if (!req->wq_hash || !io_wq_hash_busy(wq, req->wq_hash))
                        return req;
        return NULL;
}

/* Under lock: must @req, queued on @acct, wait for work of its hash, which
 * runs or is queued ahead of it? Then the worker that runs that work takes
 * it next, and no other worker needs waking. */
static bool io_wq_hash_blocked(struct io_wq *wq, struct io_wq_acct *acct, struct io_kiocb *req) {
        if (!req->wq_hash)
                return false;
        if (io_wq_hash_busy(wq, req->wq_hash))
                return true;
        /* Backwards from @req: a write to the same file is usually right
         * before it, so a long queue of them is not scanned per write. */
        for (struct list_head *p = req->work_node.prev; p != &acct->work; p = p->prev)
                if (list_entry(p, struct io_kiocb, work_node)->wq_hash == req->wq_hash)
                        return true;
        return false;
}

static void *io_wq_worker(void *arg) {
        struct io_worker *w = arg;
        struct io_wq *wq = w->wq;
        struct io_wq_acct *acct = &wq->acct[w->acct];
        sigset_t unblock;
        bool free_wq;

        /* Only this signal may interrupt a worker's blocking syscall. */
        sigemptyset(&unblock);
        sigaddset(&unblock, IO_WQ_CANCEL_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
        current_wq = wq;
        current_worker = w;

        pthread_mutex_lock(&wq->lock);
        for (;;) {
                struct io_kiocb *req;

                /* Work held back behind its hash is taken by the worker
                 * running that hash, when it is done. */
                while (!(req = io_wq_next_work(wq, acct)) && !wq->exiting) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += IO_WQ_IDLE_TIMEOUT_SEC;
                        acct->nr_idle++;
                        int r = pthread_cond_timedwait(&acct->cond, &wq->lock, &ts);
                        acct->nr_idle--;
                        if (r == ETIMEDOUT && !io_wq_next_work(wq, acct))
                                goto out;
                }
                if (!req)
                        break; /* exiting */

                list_del_init(&req->work_node);
                w->running = true;
                w->cur = req;
                w->cur_hash = req->wq_hash;
                w->cancel = false;
                pthread_mutex_unlock(&wq->lock);

                io_wq_submit_work(req);

                pthread_mutex_lock(&wq->lock);
                w->running = false;
                w->cur = NULL;
                w->cur_hash = 0;
        }
out:
        acct->nr_workers--;
        list_del_init(&w->node);
        io_wq_put_locked(wq, &free_wq);
        pthread_mutex_unlock(&wq->lock);
        if (free_wq)
                io_wq_free(wq);
        free(w);
        return NULL;
}

/* Under lock. */
static int io_wq_create_worker(struct io_wq *wq, int acct) {
        struct io_worker *w = calloc(1, sizeof(*w));
        pthread_attr_t attr;
        int r;

        if (!w)
                return -ENOMEM;
        w->wq = wq;
        w->acct = acct;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        r = pthread_create(&w->thread, &attr, io_wq_worker, w);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                free(w);
                return -r;
        }
        /* Not the event loop's CPUs, which SQ_AFF may have narrowed. */
        const cpu_set_t *cpus = wq->cpus ?: io_sqpoll_daemon_cpus();
        if (cpus)
                (void) pthread_setaffinity_np(w->thread, sizeof(*cpus), cpus);
        list_add_tail(&w->node, &wq->workers);
        wq->acct[acct].nr_workers++;
        wq->refs++;
        return 0;
}

int io_wq_enqueue(struct io_wq *wq, struct io_kiocb *req, int acct_idx) {
        struct io_wq_acct *acct = &wq->acct[acct_idx];
        int r = 0;

        pthread_mutex_lock(&wq->lock);
        if (wq->exiting) {
                pthread_mutex_unlock(&wq->lock);
                return -ECANCELED;
        }
        list_add_tail(&req->work_node, &acct->work);
        /* A write behind another to its file (hashed work) wakes nobody:
         * waking an idle worker only to find the hash busy cost a futex
         * wake on the loop and a context switch per write. */
        if (io_wq_hash_blocked(wq, acct, req))
                ;
        else if (acct->nr_idle > 0)
                pthread_cond_signal(&acct->cond);
        else if (acct->nr_workers < acct->max_workers) {
                r = io_wq_create_worker(wq, acct_idx);
                if (r < 0 && acct->nr_workers > 0)
                        r = 0; /* a running worker will get to it */
                if (r < 0)
                        list_del_init(&req->work_node);
        }
        pthread_mutex_unlock(&wq->lock);
        return r;
}

void io_wq_exit(struct io_wq *wq) {
        struct list_head cancelled;
        struct io_worker *w;
        bool free_wq;

        list_init(&cancelled);
        pthread_mutex_lock(&wq->lock);
        wq->exiting = true;
        for (int i = 0; i < IO_WQ_ACCT_NR; i++) {
                list_splice_tail_init(&wq->acct[i].work, &cancelled);
                pthread_cond_broadcast(&wq->acct[i].cond);
        }
        /* Workers waiting for readiness see the eventfd; a signal is the
         * fallback for the rare file that only knows blocking I/O. */
        uint64_t one = 1;
        (void) !write(wq->cancel_fd, &one, sizeof(one));
        list_for_each_entry(w, &wq->workers, node)
                if (w->running)
                        pthread_kill(w->thread, IO_WQ_CANCEL_SIGNAL);
        io_wq_put_locked(wq, &free_wq);
        pthread_mutex_unlock(&wq->lock);

        struct io_kiocb *req, *n;
        list_for_each_entry_safe(req, n, &cancelled, work_node) {
                list_del_init(&req->work_node);
                io_req_set_fail(req);
                io_req_set_res(req, -ECANCELED, 0);
                io_req_complete(req, true);
        }
        if (free_wq)
                io_wq_free(wq);
}

static void io_wq_cancel_handler(int sig) {
        /* Nothing: being delivered is the point, it makes syscalls EINTR. */
}

int io_wq_init_signals(void) {
        struct sigaction sa = { .sa_handler = io_wq_cancel_handler };
        sigset_t block;

        sigemptyset(&sa.sa_mask);
        if (sigaction(IO_WQ_CANCEL_SIGNAL, &sa, NULL) < 0)
                return negative_errno();
        /* Blocked everywhere but in workers. */
        sigemptyset(&block);
        sigaddset(&block, IO_WQ_CANCEL_SIGNAL);
        return -pthread_sigmask(SIG_BLOCK, &block, NULL);
}

int io_wq_cancel_cb(struct io_wq *wq, bool (*match)(struct io_kiocb *req, void *data), void *data, bool all) {
        struct list_head cancelled;
        struct io_worker *w;
        int ret = IO_WQ_CANCEL_NOTFOUND;

        list_init(&cancelled);
        pthread_mutex_lock(&wq->lock);
        /* Queued work first: it is taken off the queue and never runs. */
        for (int i = 0; i < IO_WQ_ACCT_NR; i++) {
                struct io_kiocb *req, *n;

                list_for_each_entry_safe(req, n, &wq->acct[i].work, work_node) {
                        if (!match(req, data))
                                continue;
                        list_del_init(&req->work_node);
                        list_add_tail(&req->work_node, &cancelled);
                        ret = IO_WQ_CANCEL_OK;
                        if (!all)
                                goto done;
                }
        }
        /* Running work: interrupted. One waiting for readiness ends with
         * -ECANCELED, as a request waiting in the kernel's poll would. */
        list_for_each_entry(w, &wq->workers, node) {
                if (!w->running || !w->cur || w->cancel || !match(w->cur, data))
                        continue;
                w->cancel = true;
                pthread_kill(w->thread, IO_WQ_CANCEL_SIGNAL);
                if (ret == IO_WQ_CANCEL_NOTFOUND)
                        ret = w->waiting ? IO_WQ_CANCEL_OK : IO_WQ_CANCEL_RUNNING;
                if (!all)
                        break;
        }
done:
        pthread_mutex_unlock(&wq->lock);

        struct io_kiocb *req, *n;
        list_for_each_entry_safe(req, n, &cancelled, work_node) {
                list_del_init(&req->work_node);
                io_req_set_fail(req);
                io_req_set_res(req, -ECANCELED, 0);
                io_req_complete(req, false);
        }
        return ret;
}

int io_wq_wait_ready(int fd, short events) {
        struct io_worker *w = current_worker;
        struct io_wq *wq = current_wq;
        struct pollfd p[2] = {
                { .fd = fd, .events = events },
                { .fd = wq ? wq->cancel_fd : -1, .events = POLLIN },
        };
        sigset_t block, during;
        int r;

        if (!w)
                return -ECANCELED;
        /* The cancel signal is let in only inside ppoll(): one sent before
         * we get there waits, pending, and ends the ppoll() at once. */
        sigemptyset(&block);
        sigaddset(&block, IO_WQ_CANCEL_SIGNAL);
        pthread_sigmask(SIG_BLOCK, &block, &during);
        sigdelset(&during, IO_WQ_CANCEL_SIGNAL);

        for (;;) {
                pthread_mutex_lock(&wq->lock);
                if (w->cancel) {
                        pthread_mutex_unlock(&wq->lock);
                        r = -ECANCELED;
                        break;
                }
                w->waiting = true;
                pthread_mutex_unlock(&wq->lock);

                r = ppoll(p, 2, NULL, &during);
                if (r < 0)
                        r = negative_errno();

                pthread_mutex_lock(&wq->lock);
                w->waiting = false;
                pthread_mutex_unlock(&wq->lock);
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        break;
                r = p[1].revents ? -ECANCELED : 0;
                break;
        }
        pthread_sigmask(SIG_UNBLOCK, &block, NULL);
        return r;
}

void io_wq_max_workers(struct io_wq *wq, unsigned counts[IO_WQ_ACCT_NR]) {
        pthread_mutex_lock(&wq->lock);
        for (int i = 0; i < IO_WQ_ACCT_NR; i++) {
                unsigned prev = wq->acct[i].max_workers;
                /* Running workers beyond a lowered cap finish their work and
                 * are not replaced, as in the kernel. */
                if (counts[i])
                        wq->acct[i].max_workers = counts[i];
                counts[i] = prev;
        }
        pthread_mutex_unlock(&wq->lock);
}

int io_wq_cpu_affinity(struct io_wq *wq, const cpu_set_t *cpus) {
        struct io_worker *w;
        cpu_set_t *copy = NULL;

        if (cpus) {
                copy = malloc(sizeof(*copy));
                if (!copy)
                        return -ENOMEM;
                *copy = *cpus;
        }
        pthread_mutex_lock(&wq->lock);
        free(wq->cpus);
        wq->cpus = copy;
        list_for_each_entry(w, &wq->workers, node) {
                if (copy)
                        (void) pthread_setaffinity_np(w->thread, sizeof(*copy), copy);
                else {
                        const cpu_set_t *daemon = io_sqpoll_daemon_cpus();
                        cpu_set_t all;
                        if (daemon)
                                (void) pthread_setaffinity_np(w->thread, sizeof(*daemon), daemon);
                        else if (sched_getaffinity(0, sizeof(all), &all) == 0)
                                (void) pthread_setaffinity_np(w->thread, sizeof(all), &all);
                }
        }
        pthread_mutex_unlock(&wq->lock);
        return 0;
}

void io_wq_work_done(void) {
        struct io_worker *w = current_worker;

        if (!w)
                return;
        pthread_mutex_lock(&current_wq->lock);
        w->cur = NULL;
        w->running = false;
        pthread_mutex_unlock(&current_wq->lock);
}
