/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The assistant: one thread that takes a share of the event loop's large
 * copies (rw-batch.c). While an app waits for a batch of page-cache reads,
 * its own CPU and the other one are idle but for the loop: the kernel's
 * io_uring would do the batch on one CPU, and so would we. Split in two,
 * the copies take half the time.
 *
 * Waking a sleeping thread on an idle vCPU costs 25-50 µs on these VMs,
 * more than the share it would take, so after each piece of work the
 * assistant watches for the next one for ASSIST_SPIN_NSEC before it sleeps
 * on a futex. Under a steady stream of batches it never sleeps; when the
 * stream stops, it costs that much CPU once. The loop never waits for a
 * piece that was not begun: it takes it back (io_assist_finish()), so a
 * sleeping or descheduled assistant only costs the loop a futex wake.
 *
 * One piece at a time, posted and finished by the event loop only.
 */

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "assist.h"
#include "log.h"
#include "uringd/macro.h"

#define ASSIST_SPIN_NSEC (100ULL * 1000ULL)
#define ASSIST_STACK_SIZE (256U * 1024U)

enum {
        ASSIST_IDLE,    /* nothing posted */
        ASSIST_POSTED,  /* fn/arg set, not begun */
        ASSIST_RUNNING, /* the assistant has it */
        ASSIST_DONE,    /* the assistant finished it */
};

static struct {
        uint32_t state;         /* ASSIST_*, also the futex word */
        uint32_t sleeping;      /* the assistant sleeps on state */
        io_assist_fn fn;
        void *arg;
        int started;            /* 0 not yet tried, 1 running, -1 none */
} assist;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

/* Wait for ASSIST_POSTED: spin a while, then sleep. */
static void assist_wait_posted(void) {
        uint64_t deadline = now_nsec() + ASSIST_SPIN_NSEC;

        for (unsigned i = 0;; i++) {
                if (__atomic_load_n(&assist.state, __ATOMIC_ACQUIRE) == ASSIST_POSTED)
                        return;
                cpu_relax();
                if ((i & 63) != 0 || now_nsec() < deadline)
                        continue;
                /* Announce the sleep, then check again: the loop stores
                 * POSTED before it reads sleeping (both seq_cst), so one of
                 * us sees the other. A post between the check and the
                 * futex wait makes FUTEX_WAIT return at once. */
                __atomic_store_n(&assist.sleeping, 1, __ATOMIC_SEQ_CST);
                if (__atomic_load_n(&assist.state, __ATOMIC_SEQ_CST) != ASSIST_POSTED)
                        (void) syscall(SYS_futex, &assist.state, FUTEX_WAIT_PRIVATE, ASSIST_IDLE, NULL, NULL, 0);
                __atomic_store_n(&assist.sleeping, 0, __ATOMIC_RELAXED);
                deadline = now_nsec() + ASSIST_SPIN_NSEC;
        }
}

static void *assist_main(void *unused) {
        (void) unused;
        for (;;) {
                uint32_t expected = ASSIST_POSTED;

                assist_wait_posted();
                /* The loop may take the piece back at any time before this. */
                if (!__atomic_compare_exchange_n(&assist.state, &expected, ASSIST_RUNNING, false,
                                                 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                        continue;
                assist.fn(assist.arg);
                __atomic_store_n(&assist.state, ASSIST_DONE, __ATOMIC_RELEASE);
        }
        return NULL;
}

static int usable_cpus(void) {
        cpu_set_t set;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 1;
        return CPU_COUNT(&set);
}

static bool assist_disabled(void) {
        const char *e = getenv("URINGD_ASSIST");
        return e && strcmp(e, "0") == 0;
}

static bool assist_start(void) {
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (assist.started != 0)
                return assist.started > 0;
        assist.started = -1;
        /* On one CPU the assistant could only take turns with the loop.
         * URINGD_ASSIST=0 turns it off (to measure what it brings). */
        if (usable_cpus() < 2 || assist_disabled())
                return false;

        /* The assistant takes no signal: io-wq's cancel signal and the
         * loop's signals are not its business. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, ASSIST_STACK_SIZE);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &attr, assist_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                log_debug_errno(-r, "Cannot start the copy assistant, copying on the loop alone: %m");
                return false;
        }
        (void) pthread_setname_np(thread, "uringd-assist");
        assist.started = 1;
        return true;
}

bool io_assist_post(io_assist_fn fn, void *arg) {
        if (!assist_start())
                return false;
        assist.fn = fn;
        assist.arg = arg;
        __atomic_store_n(&assist.state, ASSIST_POSTED, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&assist.sleeping, __ATOMIC_SEQ_CST))
                (void) syscall(SYS_futex, &assist.state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        return true;
}

void io_assist_finish(void) {
        uint32_t expected = ASSIST_POSTED;

        /* Not begun: ours again. */
        if (__atomic_compare_exchange_n(&assist.state, &expected, ASSIST_IDLE, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
                assist.fn(assist.arg);
                return;
        }
        /* Begun: it is about as long as our own share, which is done. Let
         * the assistant have a CPU should it have lost its own. */
        for (unsigned i = 1; __atomic_load_n(&assist.state, __ATOMIC_ACQUIRE) != ASSIST_DONE; i++) {
                cpu_relax();
                if ((i & 4095) == 0)
                        sched_yield();
        }
        __atomic_store_n(&assist.state, ASSIST_IDLE, __ATOMIC_RELAXED);
}
