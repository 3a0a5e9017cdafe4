/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring_register(): the operations uringd implements; the rest answer
 * -EINVAL, as a kernel that predates them would.
 */

#include <errno.h>
#include <sys/syscall.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cancel.h"
#include "client.h"
#include "eventfd.h"
#include "evloop.h"
#include "io-wq.h"
#include "opdef.h"
#include "register.h"
#include "ring.h"
#include "rsrc.h"
#include "sqpoll.h"
#include "submit.h"
#include "task.h"
#include "uringd-proto.h"
#include "uringd/compat.h"
#include "uringd/macro.h"

#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)
#define PROBE_MAX_ARGS 256

bool io_call_is_probe(const struct io_call *call) {
        return call->nr == __NR_io_uring_register && (int) (uint32_t) call->args[0] == -1 &&
               (uint32_t) call->args[1] == URINGD_PROBE_OPCODE && call->args[2] == URINGD_PROBE_COOKIE &&
               (uint32_t) call->args[3] == URINGD_PROTO_VERSION;
}

/* IORING_REGISTER_PROBE, answered from the opcode table. */
static int io_probe(struct io_task *t, uint64_t arg, unsigned nr_args) {
        struct io_uring_probe *p;
        size_t size;
        int r;

        if (nr_args > URINGD_IORING_OP_LAST)
                nr_args = URINGD_IORING_OP_LAST;
        size = sizeof(*p) + nr_args * sizeof(struct io_uring_probe_op);
        p = calloc(1, size);
        if (!p)
                return -ENOMEM;
        r = io_task_read(t, p, arg, size);
        if (r < 0)
                goto out;
        /* The app must hand in a zeroed structure. */
        for (size_t i = 0; i < size; i++)
                if (((uint8_t *) p)[i]) {
                        r = -EINVAL;
                        goto out;
                }
        p->last_op = URINGD_IORING_OP_LAST - 1;
        for (unsigned i = 0; i < nr_args; i++) {
                p->ops[i].op = (uint8_t) i;
                if (io_op_supported(i))
                        p->ops[i].flags = IO_URING_OP_SUPPORTED;
        }
        p->ops_len = (uint8_t) nr_args;
        r = io_task_write(t, arg, p, size);
out:
        free(p);
        return r < 0 ? (r == -EFAULT ? -EFAULT : r) : 0;
}

static bool test_bit64(const uint64_t *map, unsigned bit) {
        return map[bit / 64] & (1ULL << (bit % 64));
}

static void set_bit64(uint64_t *map, unsigned bit) {
        map[bit / 64] |= 1ULL << (bit % 64);
}

static int io_parse_restrictions(struct io_task *t, uint64_t arg, unsigned nr_args, struct io_restriction *res) {
        _cleanup_free_ struct io_uring_restriction *r = NULL;
        int ret;

        if (!arg || nr_args > IORING_RESTRICTION_LAST + URINGD_IORING_REGISTER_LAST + URINGD_IORING_OP_LAST)
                return -EINVAL;
        r = calloc(MAX(nr_args, 1U), sizeof(*r));
        if (!r)
                return -ENOMEM;
        ret = io_task_read(t, r, arg, (size_t) nr_args * sizeof(*r));
        if (ret < 0)
                return ret;
        for (unsigned i = 0; i < nr_args; i++)
                switch (r[i].opcode) {
                case IORING_RESTRICTION_REGISTER_OP:
                        if (r[i].register_op >= URINGD_IORING_REGISTER_LAST)
                                return -EINVAL;
                        set_bit64(res->register_op, r[i].register_op);
                        break;
                case IORING_RESTRICTION_SQE_OP:
                        if (r[i].sqe_op >= URINGD_IORING_OP_LAST)
                                return -EINVAL;
                        set_bit64(res->sqe_op, r[i].sqe_op);
                        break;
                case IORING_RESTRICTION_SQE_FLAGS_ALLOWED:
                        res->sqe_flags_allowed = r[i].sqe_flags;
                        break;
                case IORING_RESTRICTION_SQE_FLAGS_REQUIRED:
                        res->sqe_flags_required = r[i].sqe_flags;
                        break;
                default:
                        return -EINVAL;
                }
        return 0;
}

static int io_register_restrictions(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned nr_args) {
        int r;

        /* Only on a ring created disabled, and only once. */
        if (!(ctx->flags & IORING_SETUP_R_DISABLED))
                return -EBADFD;
        if (ctx->restrictions.registered)
                return -EBUSY;
        r = io_parse_restrictions(t, arg, nr_args, &ctx->restrictions);
        if (r < 0) {
                memset(&ctx->restrictions, 0, sizeof(ctx->restrictions));
                return r;
        }
        ctx->restrictions.registered = true;
        return 0;
}

bool io_check_restriction(struct io_ring_ctx *ctx, uint8_t opcode, uint8_t sqe_flags) {
        const struct io_restriction *res = &ctx->restrictions;

        if (opcode >= URINGD_IORING_OP_LAST || !test_bit64(res->sqe_op, opcode))
                return false;
        if ((sqe_flags & res->sqe_flags_required) != res->sqe_flags_required)
                return false;
        if (sqe_flags & ~(res->sqe_flags_allowed | res->sqe_flags_required))
                return false;
        return true;
}

static int io_register_enable_rings(struct io_ring_ctx *ctx, struct io_task *t) {
        if (!(ctx->flags & IORING_SETUP_R_DISABLED))
                return -EBADFD;
        if ((ctx->flags & IORING_SETUP_SINGLE_ISSUER) && !ctx->submitter_tid)
                ctx->submitter_tid = t->tid;
        if (ctx->restrictions.registered)
                ctx->restricted = true;
        ctx->flags &= ~IORING_SETUP_R_DISABLED;
        if (ctx->flags & IORING_SETUP_SQPOLL)
                io_sqpoll_wake(ctx);
        return 0;
}

static int io_register_iowq_max_workers(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg) {
        unsigned counts[IO_WQ_ACCT_NR];
        int r;

        /* The ABI's __u32[2]: bounded, unbounded. */
        assert_cc(sizeof(counts) == 2 * sizeof(uint32_t));
        r = io_task_read(t, counts, arg, sizeof(counts));
        if (r < 0)
                return r;
        for (int i = 0; i < IO_WQ_ACCT_NR; i++)
                if (counts[i] > INT_MAX)
                        return -EINVAL;
        /* The kernel caps at the app's RLIMIT_NPROC; our threads are the
         * daemon's, shared by every app: cap at the pool's own maximum. */
        for (int i = 0; i < IO_WQ_ACCT_NR; i++) {
                counts[i] = MIN(counts[i], IO_WQ_UNBOUNDED_MAX);
                if (counts[i])
                        ctx->iowq_limits[i] = counts[i];
        }
        /* The pool is made on first use: create it, so that the caps it
         * reports back are the ones that apply. */
        if (!ctx->wq) {
                r = io_ring_create_wq(ctx);
                if (r < 0)
                        return r;
        }
        io_wq_max_workers(ctx->wq, counts);
        return io_task_write(t, arg, counts, sizeof(counts));
}

static int io_register_iowq_aff(struct io_ring_ctx *ctx, struct io_task *t, uint64_t arg, unsigned len) {
        cpu_set_t mask, allowed;
        int r;

        if (!arg || !len)
                return -EINVAL;
        CPU_ZERO(&mask);
        r = io_task_read(t, &mask, arg, MIN((size_t) len, sizeof(mask)));
        if (r < 0)
                return r;
        /* Only CPUs we may run on (the kernel: the task's allowed CPUs). */
        if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
                return -errno;
        /* Bits past the possible CPUs mean nothing, to the kernel too. */
        long possible = sysconf(_SC_NPROCESSORS_CONF);
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
                if (cpu >= possible)
                        CPU_CLR(cpu, &mask);
                else if (CPU_ISSET(cpu, &mask) && !CPU_ISSET(cpu, &allowed))
                        return -EINVAL;
        }
        cpu_set_t *copy = malloc(sizeof(*copy));
        if (!copy)
                return -ENOMEM;
        *copy = mask;
        free(ctx->iowq_cpus);
        ctx->iowq_cpus = copy;
        return ctx->wq ? io_wq_cpu_affinity(ctx->wq, copy) : 0;
}

static int io_unregister_iowq_aff(struct io_ring_ctx *ctx) {
        free(ctx->iowq_cpus);
        ctx->iowq_cpus = NULL;
        return ctx->wq ? io_wq_cpu_affinity(ctx->wq, NULL) : 0;
}

static int __io_uring_register(struct io_ring_ctx *ctx, struct io_task *t, unsigned opcode, uint64_t arg,
                               unsigned nr_args) {
        if (ctx->submitter_tid && ctx->submitter_tid != t->tid)
                return -EEXIST;
        if (ctx->restricted && !test_bit64(ctx->restrictions.register_op, opcode))
                return -EACCES;

        switch (opcode) {
        case IORING_REGISTER_ENABLE_RINGS:
                if (arg || nr_args)
                        return -EINVAL;
                return io_register_enable_rings(ctx, t);
        case IORING_REGISTER_RESTRICTIONS:
                return io_register_restrictions(ctx, t, arg, nr_args);
        case IORING_REGISTER_IOWQ_MAX_WORKERS:
                if (!arg || nr_args != 2)
                        return -EINVAL;
                return io_register_iowq_max_workers(ctx, t, arg);
        case IORING_REGISTER_IOWQ_AFF:
                return io_register_iowq_aff(ctx, t, arg, nr_args);
        case IORING_UNREGISTER_IOWQ_AFF:
                if (arg || nr_args)
                        return -EINVAL;
                return io_unregister_iowq_aff(ctx);
        case IORING_REGISTER_BUFFERS:
                if (!arg)
                        return -EFAULT;
                return io_sqe_buffers_register(ctx, t, arg, nr_args);
        case IORING_UNREGISTER_BUFFERS:
                if (arg || nr_args)
                        return -EINVAL;
                return io_sqe_buffers_unregister(ctx);
        case IORING_REGISTER_FILES:
                if (!arg)
                        return -EFAULT;
                return io_sqe_files_register(ctx, t, arg, nr_args);
        case IORING_UNREGISTER_FILES:
                if (arg || nr_args)
                        return -EINVAL;
                return io_sqe_files_unregister(ctx);
        case IORING_REGISTER_FILES_UPDATE:
                return io_register_files_update(ctx, t, arg, nr_args);
        case IORING_REGISTER_EVENTFD:
        case IORING_REGISTER_EVENTFD_ASYNC:
                return io_eventfd_register(ctx, t, arg, nr_args, opcode == IORING_REGISTER_EVENTFD_ASYNC);
        case IORING_UNREGISTER_EVENTFD:
                if (arg || nr_args)
                        return -EINVAL;
                return io_eventfd_unregister(ctx);
        case IORING_REGISTER_PROBE:
                if (!arg || nr_args > PROBE_MAX_ARGS)
                        return -EINVAL;
                return io_probe(t, arg, nr_args);
        case IORING_REGISTER_SYNC_CANCEL:
                if (nr_args != 1)
                        return -EINVAL;
                return io_sync_cancel(ctx, t, arg);
        default:
                return -EINVAL;
        }
}

/* URINGD_EVLOOP_OPCODE (proto/uringd-proto.h): the shim's poll/epoll hooks
 * ask for the ring's eventfd and where its words are. From any thread, on
 * any ring state: it is not an io_uring operation. */
static void io_register_evloop(struct io_call *call, struct io_task *t, struct io_ring_ctx *ctx, uint64_t arg,
                               unsigned len) {
        struct uringd_evloop_info info = {
                .size = sizeof(info),
                .sq_entries = ctx->layout.sq_entries,
                .cq_entries = ctx->layout.cq_entries,
                .sq_head_off = IORING_OFF_SQ_RING + SQ_OFF_HEAD,
                .sq_tail_off = IORING_OFF_SQ_RING + SQ_OFF_TAIL,
                .sq_flags_off = IORING_OFF_SQ_RING + SQ_OFF_FLAGS,
                .cq_head_off = IORING_OFF_CQ_RING + CQ_OFF_HEAD,
                .cq_tail_off = IORING_OFF_CQ_RING + CQ_OFF_TAIL,
                .state_off = IORING_OFF_SQ_RING + SQ_OFF_URINGD_STATE,
        };
        int r, efd;

        if (len != sizeof(info) || !arg) {
                io_call_respond(call, 0, -EINVAL);
                return;
        }
        efd = io_evloop_get(ctx);
        if (efd < 0) {
                io_call_respond(call, 0, efd);
                return;
        }
        r = io_task_write(t, arg, &info, sizeof(info));
        if (r >= 0)
                r = io_call_respond_fd(call, efd);
        if (r < 0 && r != -ENOENT)
                io_call_respond(call, 0, r);
}

void io_uring_register_handler(struct io_call *call, struct io_task *t) {
        int fd = (int) (uint32_t) call->args[0];
        unsigned opcode = (uint32_t) call->args[1];
        uint64_t arg = call->args[2];
        unsigned nr_args = (uint32_t) call->args[3];
        bool use_registered_ring = opcode & IORING_REGISTER_USE_REGISTERED_RING;
        struct io_ring_ctx *ctx;
        int r;

        if (opcode == URINGD_EVLOOP_OPCODE && fd != -1) {
                r = io_ring_get(call->client->manager, t, fd, &ctx);
                if (r < 0)
                        io_call_respond(call, 0, r);
                else {
                        io_register_evloop(call, t, ctx, arg, nr_args);
                        io_ring_ctx_unref(ctx);
                }
                return;
        }
        opcode &= ~IORING_REGISTER_USE_REGISTERED_RING;
        if (opcode >= URINGD_IORING_REGISTER_LAST || fd == -1) {
                /* fd -1: the kernel's "blind" operations, none of which we have. */
                io_call_respond(call, 0, -EINVAL);
                return;
        }
        if (use_registered_ring) {
                io_call_respond(call, 0, (unsigned) fd >= URINGD_IO_RINGFD_REG_MAX ? -EINVAL : -EBADF);
                return;
        }
        r = io_ring_get(call->client->manager, t, fd, &ctx);
        if (r < 0) {
                io_call_respond(call, 0, r);
                return;
        }
        r = __io_uring_register(ctx, t, opcode, arg, nr_args);
        io_call_respond(call, r >= 0 ? r : 0, r < 0 ? r : 0);
        io_ring_ctx_unref(ctx);
}
