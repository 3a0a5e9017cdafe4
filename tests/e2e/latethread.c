/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Threads that exist before the shim loads. The shim normally loads before
 * main(); here it comes later, with dlopen(), while a thread is already
 * running: its filter must cover that thread too (TSYNC), and in trap mode
 * the thread must reach the same SIGSYS handler.
 *
 * Under uringd the program re-executes itself without the shim in
 * LD_PRELOAD (and with URINGD_DISABLE cleared), starts a thread, then loads
 * the shim by path. The thread and main each make a ring and run NOPs. On
 * the kernel there is nothing to load.
 *
 * Usage: latethread   (URINGD_DISABLE=1 must be set under uringd, so that
 *                      the preloaded shim stays out of the first image)
 */

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define LATE_ENV "URINGD_TEST_LATE_SHIM"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool go;

static int nops(const char *who) {
        struct io_uring ring;
        int bad = 0;

        t_ring_init(&ring, 8, NULL);
        for (int i = 0; i < 4; i++) {
                struct io_uring_sqe *sqe = t_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = (uint64_t) i;
        }
        t_submit_n(&ring, 4);
        for (int i = 0; i < 4; i++) {
                struct io_uring_cqe cqe = t_wait_one(&ring);
                bad += cqe.res != 0;
        }
        printf("%s: 4 nops, %s\n", who, bad ? "FAILED" : "all res=0");
        io_uring_queue_exit(&ring);
        return bad;
}

static void *early_thread(void *arg) {
        int *bad = arg;

        pthread_mutex_lock(&lock);
        while (!go)
                pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
        *bad = nops("thread started before the shim");
        return NULL;
}

/* Under uringd: start again with the shim out of LD_PRELOAD, to load later. */
static void reexec_without_shim(char *argv0) {
        const char *preload = getenv("LD_PRELOAD");
        char *shim, *colon;

        t_assert(preload && *preload, "no LD_PRELOAD: not run by uringd-run?");
        t_assert(getenv("URINGD_DISABLE"), "URINGD_DISABLE must be set for this test under uringd");
        shim = strdup(preload);
        t_assert(shim, "strdup");
        colon = strchr(shim, ':');
        if (colon)
                *colon = 0;
        t_assert(setenv(LATE_ENV, shim, 1) == 0, "setenv");
        unsetenv("LD_PRELOAD");
        unsetenv("URINGD_DISABLE");
        execl("/proc/self/exe", argv0, (char *) NULL);
        t_fail("exec: %m");
}

int main(int argc, char *argv[]) {
        enum t_backend backend = t_backend();
        const char *late = getenv(LATE_ENV);
        pthread_t th;
        int tbad = 0, bad;

        if (backend == T_URINGD && !late)
                reexec_without_shim(argv[0]);

        t_assert(pthread_create(&th, NULL, early_thread, &tbad) == 0, "pthread_create");
        if (late) {
                /* The thread exists; now the shim. */
                t_assert(dlopen(late, RTLD_NOW | RTLD_GLOBAL), "dlopen %s: %s", late, dlerror());
        }
        printf("a thread runs, then the shim is loaded (under uringd)\n");
        pthread_mutex_lock(&lock);
        go = true;
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&lock);
        t_assert(pthread_join(th, NULL) == 0, "pthread_join");
        bad = nops("main thread") + tbad;
        return bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
