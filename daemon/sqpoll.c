/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "manager.h"
#include "ring.h"
#include "sqpoll.h"
#include "submit.h"
#include "task.h"
#include "uringd/macro.h"

/* Per ring and round when several rings are awake (IORING_SQPOLL_CAP_ENTRIES_VALUE). */
#define SQPOLL_CAP_ENTRIES 8
#define SQPOLL_DEFAULT_IDLE_USEC 1000000ULL

/*
 * What the kernel calls the SQ thread's data: the rings one poller serves.
 * IORING_SETUP_ATTACH_WQ puts a new ring into an existing one (same process
 * only, else the ring gets its own, as the kernel does). The poller sleeps
 * and wakes for all its rings at once, idles for the longest sq_thread_idle
 * among them, and caps each ring's batch when it serves several.
 */
struct io_sq_data {
        unsigned refs;                  /* rings attached */
        struct list_head node;          /* manager->sqpoll_rings */
        struct list_head ctx_list;      /* io_ring_ctx.sqd_node */
        pid_t tgid;                     /* the creating process */
        int sq_cpu;                     /* IORING_SETUP_SQ_AFF, else -1 */
        uint64_t idle_usec, last_active;
        bool sleeping;                  /* IORING_SQ_NEED_WAKEUP set on every ring */
};

/*
 * SQ_AFF pins the poller, and our poller is the event loop: while a pinned
 * poller is awake, the loop thread runs only on the CPUs of the awake
 * pinned pollers (one, unless several ask for different CPUs), and gets its
 * own CPUs back when they sleep or go. Event loop only; loop_cpus is only
 * written while loop_pinned is false, and io-wq reads it to start its
 * workers on the daemon's CPUs rather than the loop's pinned ones.
 */
static cpu_set_t loop_cpus, loop_pinned_cpus;
static bool loop_pinned;

const cpu_set_t *io_sqpoll_daemon_cpus(void) {
        return __atomic_load_n(&loop_pinned, __ATOMIC_ACQUIRE) ? &loop_cpus : NULL;
}

/* A cpulist ("0-3,8") from @path into @set. */
static int read_cpulist(const char *path, cpu_set_t *set) {
        char buf[4096], *p, *tok, *save = NULL;
        FILE *f = fopen(path, "re");
        bool any = false;

        if (!f)
                return -errno;
        p = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (!p)
                return -EINVAL;
        CPU_ZERO(set);
        for (tok = strtok_r(buf, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save)) {
                unsigned a, b;
                int n = sscanf(tok, "%u-%u", &a, &b);
                if (n == 1)
                        b = a;
                else if (n != 2)
                        return -EINVAL;
                for (unsigned c = a; c <= b && c < CPU_SETSIZE; c++)
                        CPU_SET(c, set);
                any = true;
        }
        return any ? 0 : -EINVAL;
}

/* The effective CPUs of @pid's cpuset (v1 or v2 hierarchy), walking up to
 * the first cgroup that has the file. */
static int cpuset_cpus(pid_t pid, cpu_set_t *set) {
        char path[1100], line[512], dir[1024];
        const char *file = NULL;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *cg = strchr(line, ':'), *rel;
                if (!cg || !(rel = strchr(cg + 1, ':')))
                        continue;
                rel[strcspn(rel, "\n")] = 0;
                if (strncmp(cg, ":cpuset:", 8) == 0) {
                        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpuset%s", rel + 1);
                        file = "cpuset.effective_cpus";
                        break;
                }
                if (strncmp(line, "0::", 3) == 0 && !file) {
                        snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", rel + 1);
                        file = "cpuset.cpus.effective";
                }
        }
        fclose(f);
        if (!file)
                return -ENOENT;
        for (;;) {
                char *slash;
                snprintf(path, sizeof(path), "%s/%s", dir, file);
                if (read_cpulist(path, set) == 0)
                        return 0;
                slash = strrchr(dir, '/');
                if (!slash || slash == dir + strlen("/sys/fs"))
                        return -ENOENT;
                *slash = 0;
        }
}

/* io_sq_offload_create(): a CPU past the possible ones, or outside the
 * creating task's cpuset (its sched affinity does not matter), is -EINVAL. */
static int io_sq_cpu_check(struct io_task *t, unsigned cpu) {
        cpu_set_t allowed;

        if (cpu >= (unsigned) get_nprocs_conf() || cpu >= CPU_SETSIZE)
                return -EINVAL;
        if (cpuset_cpus(io_task_tgid(t), &allowed) < 0 &&
            read_cpulist("/sys/devices/system/cpu/online", &allowed) < 0)
                return 0;
        return CPU_ISSET(cpu, &allowed) ? 0 : -EINVAL;
}

/* IORING_SETUP_ATTACH_WQ: the ring behind the app's @wq_fd, with the
 * kernel's errors: no such fd -ENXIO, not a ring -EINVAL. */
static int io_attach_target(struct manager *m, struct io_task *t, int wq_fd, struct io_ring_ctx **ret) {
        int r = io_ring_get(m, t, wq_fd, ret);
        if (r == -EBADF)
                return -ENXIO;
        if (r < 0)
                return -EINVAL;
        return 0;
}

int io_sqpoll_prepare(struct manager *m, struct io_task *t, const struct io_uring_params *p,
                      struct io_sq_data **ret) {
        struct io_ring_ctx *target = NULL;
        struct io_sq_data *sqd = NULL;
        int r;

        *ret = NULL;
        if (!(p->flags & IORING_SETUP_ATTACH_WQ))
                goto new_poller;
        r = io_attach_target(m, t, (int) p->wq_fd, &target);
        if (r < 0)
                return r;
        if (!(p->flags & IORING_SETUP_SQPOLL)) {
                /* Only checked: our io-wq pools are per ring already. */
                io_ring_ctx_unref(target);
                return 0;
        }
        sqd = target->sq_data;
        io_ring_ctx_unref(target);
        if (!sqd)
                return -EINVAL;
        /* Another process's poller: the kernel quietly starts a new one. */
        if (sqd->tgid != io_task_tgid(t))
                goto new_poller;
        /* A ring joining a poller leaves its SQ_AFF unread, as the kernel. */
        sqd->refs++;
        *ret = sqd;
        return 0;

new_poller:
        if ((p->flags & IORING_SETUP_SQPOLL) && (p->flags & IORING_SETUP_SQ_AFF))
                return io_sq_cpu_check(t, p->sq_thread_cpu);
        return 0;
}

static void io_sqd_update_idle(struct io_sq_data *sqd) {
        struct io_ring_ctx *ctx;
        uint64_t idle = 0;

        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                idle = MAX(idle, ctx->sq_idle_usec);
        sqd->idle_usec = idle;
}

static void io_sqd_put(struct io_sq_data *sqd) {
        if (--sqd->refs > 0)
                return;
        list_del_init(&sqd->node);
        free(sqd);
}

void io_sqpoll_abort(struct io_sq_data *sqd) {
        if (sqd)
                io_sqd_put(sqd);
}

int io_sqpoll_add(struct io_ring_ctx *ctx, const struct io_uring_params *p, struct io_task *t,
                  struct io_sq_data *sqd) {
        if (!sqd) {
                sqd = calloc(1, sizeof(*sqd));
                if (!sqd)
                        return -ENOMEM;
                sqd->refs = 1;
                list_init(&sqd->ctx_list);
                sqd->tgid = io_task_tgid(t);
                sqd->sq_cpu = (p->flags & IORING_SETUP_SQ_AFF) ? (int) p->sq_thread_cpu : -1;
                list_add_tail(&sqd->node, &ctx->manager->sqpoll_rings);
        }
        ctx->sq_data = sqd;
        ctx->sq_task = io_task_ref(t);
        ctx->sq_idle_usec = p->sq_thread_idle ? (uint64_t) p->sq_thread_idle * 1000ULL : SQPOLL_DEFAULT_IDLE_USEC;
        list_add_tail(&ctx->sqd_node, &sqd->ctx_list);
        io_sqd_update_idle(sqd);
        /* A new ring wakes the poller, as attaching unparks the kernel's. */
        io_sqpoll_wake(ctx);
        return 0;
}

void io_sqpoll_remove(struct io_ring_ctx *ctx) {
        struct io_sq_data *sqd = ctx->sq_data;

        if (!sqd)
                return;
        list_del_init(&ctx->sqd_node);
        io_sqd_update_idle(sqd);
        ctx->sq_data = NULL;
        io_task_unref(ctx->sq_task);
        ctx->sq_task = NULL;
        io_sqd_put(sqd);
}

/* IORING_SQ_NEED_WAKEUP on or off on every ring of the poller, each with a
 * full barrier (the app's side of the protocol reads it after its tail). */
static void io_sqd_need_wakeup(struct io_sq_data *sqd, bool on) {
        struct io_ring_ctx *ctx;

        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                if (on)
                        __atomic_fetch_or(ctx->sq_flags, IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
                else
                        __atomic_fetch_and(ctx->sq_flags, ~IORING_SQ_NEED_WAKEUP, __ATOMIC_SEQ_CST);
}

void io_sqpoll_wake(struct io_ring_ctx *ctx) {
        struct io_sq_data *sqd = ctx->sq_data;

        if (!sqd)
                return;
        io_sqd_need_wakeup(sqd, false);
        sqd->sleeping = false;
        sqd->last_active = now_usec();
}

static uint32_t sq_entries_pending(struct io_ring_ctx *ctx) {
        uint32_t n;

        if (ctx->dead || (ctx->flags & IORING_SETUP_R_DISABLED))
                return 0;
        n = smp_load_acquire_u32(ctx->sq_tail) - ctx->cached_sq_head;
        return MIN(n, ctx->layout.sq_entries);
}

void io_sqpoll_wait_sq(struct io_ring_ctx *ctx) {
        uint32_t n = sq_entries_pending(ctx);
        if (n)
                io_submit_sqes(ctx, ctx->sq_task, n);
        if (ctx->sq_data)
                ctx->sq_data->last_active = now_usec();
}

/* Going to sleep: announce it on every ring, then look once more, so that
 * an app that queued after our check but before seeing the flag is not left
 * waiting (it does the mirror image: store the tail, full barrier, read the
 * flags). Returns false when work turned up and the poller stays awake. */
static bool io_sqd_try_sleep(struct io_sq_data *sqd) {
        struct io_ring_ctx *ctx;
        bool pending = false;

        io_sqd_need_wakeup(sqd, true);
        list_for_each_entry(ctx, &sqd->ctx_list, sqd_node)
                if (sq_entries_pending(ctx))
                        pending = true;
        if (pending) {
                io_sqd_need_wakeup(sqd, false);
                return false;
        }
        sqd->sleeping = true;
        return true;
}

/* Pin the loop to the CPUs of the awake pinned pollers, or unpin it. */
static void io_sqpoll_pin_loop(struct manager *m) {
        struct io_sq_data *sqd;
        cpu_set_t want;
        bool pin = false;

        CPU_ZERO(&want);
        list_for_each_entry(sqd, &m->sqpoll_rings, node)
                if (!sqd->sleeping && sqd->sq_cpu >= 0) {
                        CPU_SET(sqd->sq_cpu, &want);
                        pin = true;
                }
        if (!pin) {
                if (loop_pinned && sched_setaffinity(0, sizeof(loop_cpus), &loop_cpus) == 0)
                        __atomic_store_n(&loop_pinned, false, __ATOMIC_RELEASE);
                return;
        }
        if (loop_pinned && CPU_EQUAL(&want, &loop_pinned_cpus))
                return;
        if (!loop_pinned && sched_getaffinity(0, sizeof(loop_cpus), &loop_cpus) < 0)
                return;
        /* A CPU the daemon may not use (its own cpuset is narrower than the
         * app's): the poller stays where it is. */
        if (sched_setaffinity(0, sizeof(want), &want) < 0)
                return;
        loop_pinned_cpus = want;
        __atomic_store_n(&loop_pinned, true, __ATOMIC_RELEASE);
}

bool io_sqpoll_sweep(struct manager *m) {
        struct io_sq_data *sqd, *tmp;
        unsigned awake = 0;
        bool busy = false;
        uint64_t now;

        list_for_each_entry(sqd, &m->sqpoll_rings, node)
                if (!sqd->sleeping)
                        awake += sqd->refs;
        if (loop_pinned || awake)
                io_sqpoll_pin_loop(m);
        if (!awake)
                return false;

        now = now_usec();
        list_for_each_entry_safe(sqd, tmp, &m->sqpoll_rings, node) {
                struct io_ring_ctx *ctx, *ctmp;
                bool active = false;

                if (sqd->sleeping)
                        continue;
                /* Submitting may free a ring (and with it the sqd): pin it. */
                sqd->refs++;
                list_for_each_entry_safe(ctx, ctmp, &sqd->ctx_list, sqd_node) {
                        uint32_t n = sq_entries_pending(ctx);
                        if (!n)
                                continue;
                        io_submit_sqes(ctx, ctx->sq_task, awake > 1 ? MIN(n, SQPOLL_CAP_ENTRIES) : n);
                        active = true;
                }
                if (active || now - sqd->last_active < sqd->idle_usec) {
                        if (active)
                                sqd->last_active = now;
                        busy = true;
                } else if (!io_sqd_try_sleep(sqd)) {
                        sqd->last_active = now;
                        busy = true;
                }
                io_sqd_put(sqd);
        }
        manager_process_wakes(m);
        return busy;
}
