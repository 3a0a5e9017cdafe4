/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Differential tester: random but valid batches of NOP, READ/READV/
 * READ_FIXED, WRITE/WRITEV/WRITE_FIXED, FSYNC, TIMEOUT (relative, counting,
 * ETIME_SUCCESS, multishot), TIMEOUT_REMOVE, POLL_ADD (oneshot, multishot),
 * POLL_REMOVE, ASYNC_CANCEL (user_data, ANY, FD|ALL), LINK_TIMEOUT and SQEs
 * the kernel rejects (bad opcode, bad SQE flag, bad nop_flags, bad fd,
 * write on a read-only fd, DRAIN once CQE_SKIP_SUCCESS was used), with
 * random IO_LINK / IO_HARDLINK / IO_DRAIN / CQE_SKIP_SUCCESS flags.
 *
 * The same binary runs on the kernel's io_uring and under uringd (difftest.sh
 * runs it both ways and diffs): it prints a canonical transcript that must be
 * byte-identical in both runs, and in two runs on the kernel.
 *
 *   difftest --seed N [--seeds M] [--count K] [--batch B] [--ops LIST]
 *            [--flags LIST] [--step-timeout MS] [--quiet-model]
 *
 * Each seed gets a fresh ring (SUBMIT_ALL, a registered buffer), fresh fds
 * and K batches of 2..B SQEs. Half of the seeds go without CQE_SKIP_SUCCESS,
 * which disables IO_DRAIN for the rest of a ring's life.
 *
 * Determinism. Every SQE's result is fixed by construction: reads of a file
 * of known size (bytes, or a short count that breaks a link), writes of a
 * pattern that depends on the file offset only (overlapping writes agree),
 * polls on fds that are ready from the start (a pipe holding a byte, a
 * non-zero eventfd, a regular file) or never ready (an empty pipe, a zero
 * eventfd), timers of 1-20 ms that nothing races (a LINK_TIMEOUT after a
 * target that completes at once gets 5 s), 10 s timers and never-ready polls
 * that are ended by exactly one cancel or by the end-of-batch cleanup,
 * counting timeouts whose count is surely reached (c plain NOPs follow them,
 * 10 s timer: the result is 0 whenever the count is reached). Never-ending
 * requests are kept
 * out of drained units and from after a drain (a drained request holds back
 * everything submitted after it); CQE_SKIP_SUCCESS alone goes only on
 * requests that end at once (their silence must not outlive the batch).
 * A small model of io_uring's rules (links, hardlinks, skip-success and
 * REQ_F_SKIP_LINK_CQES, submit-time failures failing a whole chain, drain)
 * predicts each CQE; the program waits for the predicted CQEs (at most
 * --step-timeout per wait, else "TIMEOUT waiting") and prints the CQEs it
 * got. A disagreement with the model goes to stderr, never to the
 * transcript: on the kernel it is a generator bug (difftest.sh fails).
 *
 * Canonical transcript, per batch:
 *   the SQEs (symbolic: no fd numbers, no addresses), the cleanup SQEs, then
 *   the CQEs of the batch sorted by user_data (each SQE has its own), the
 *   CQEs of one request in arrival order (a multishot request posts its
 *   F_MORE CQEs before its final one) - the multiset of (user_data, res,
 *   flags) - then one line per ordering guarantee that arrival order broke:
 *     - chain: within a link chain, the CQEs of successive members arrive in
 *       chain order (a LINK_TIMEOUT is exempt: its -ETIME may be posted
 *       before its target's -ECANCELED);
 *     - drain: every CQE of a drained unit (a chain with an IO_DRAIN member,
 *       and the unit after a chain drained in its middle) arrives after all
 *       CQEs of the SQEs submitted before it;
 *   then CQEs that came unexpected ("extra", also from an earlier batch),
 *   read data checks and the CRC of the written file. Independent requests
 *   have no order, so none is printed.
 *
 * End of a batch: a barrier NOP (requests the kernel issues from task work
 * are armed once it completes), then (random) cancels by user_data or by fd
 * of what is still pending, then, in a submission of its own, ASYNC_CANCEL
 * ANY: its res counts what was left, so "res=0" proves nothing is pending.
 *
 * Kernel behaviours kept out of the generator (seen on 6.18): a TIMEOUT with
 * ETIME_SUCCESS and CQE_SKIP_SUCCESS made other timers of the ring never
 * complete; with a multishot TIMEOUT in the batch, "count 1000" timeouts
 * completed with 0, and under load they sometimes did anyway (so there are
 * none: only counts that are surely reached); a POLL_REMOVE in the submission of a multishot poll
 * that is ready at once gets -EALREADY; a second cancel in one submission
 * counts a poll whose cancellation is still in task work again.
 *
 * URINGD_EXPECT=kernel|uringd: the ring fd must be the kernel's
 * anon_inode:[io_uring] or a uringd memfd (proves which one served it).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../e2e/helpers.h"

#ifndef IORING_TIMEOUT_MULTISHOT /* newer than Debian 12's uapi header */
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

#define MAX_SQES 96
#define DATA_SIZE 10000u   /* not a multiple of a page: short reads */
#define WFILE_SPAN 65536u
#define BAD_FD 1000        /* never open (checked at start) */
#define UD(batch, i) ((uint64_t) (batch) * 1000 + (i) + 1)
#define UD_NONE 999999999ull

/* ---- PRNG ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void) { /* splitmix64 */
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}
static unsigned rn(unsigned n) { return n ? (unsigned) (rnd() % n) : 0; }
static int chance(unsigned pct) { return rn(100) < pct; }

/* ---- options --------------------------------------------------------------- */

enum {
        O_NOP = 1 << 0, O_READ = 1 << 1, O_WRITE = 1 << 2, O_TIMEOUT = 1 << 3,
        O_POLL = 1 << 4, O_CANCEL = 1 << 5, O_LINKTO = 1 << 6, O_BAD = 1 << 7, O_MULTI = 1 << 8,
        F_LINK = 1 << 0, F_HARDLINK = 1 << 1, F_DRAIN = 1 << 2, F_SKIP = 1 << 3,
};
static const char *const op_names[] = { "nop", "read", "write", "timeout", "poll", "cancel", "linktimeout", "bad", "multishot", NULL };
static const char *const flag_names[] = { "link", "hardlink", "drain", "skip", NULL };

static unsigned opt_ops = 0x1ff, opt_flags = 0xf, opt_flags_arg = 0xf;
static unsigned opt_count = 12, opt_batch = 16, opt_step_ms = 3000;
static int opt_model_quiet;

/* ---- the generated SQEs ------------------------------------------------------ */

enum kind {
        K_NOP, K_READ, K_READ_BADFD, K_WRITE, K_WRITE_RO, K_FSYNC,
        K_POLL, K_POLL_NEVER, K_TIMEOUT, K_TIMEOUT_LONG, K_TIMEOUT_COUNT, K_TIMEOUT_COUNT_NEVER,
        K_TIMEOUT_REMOVE, K_CANCEL, K_POLL_REMOVE, K_LINK_TIMEOUT,
        K_BAD_OPCODE, K_BAD_FLAGS, K_BAD_NOPFLAGS,
        K_CANCEL_ANY, K_CANCEL_FD,
        K_POLL_MULTI, K_TIMEOUT_MULTI,
};
static const char *const kind_names[] = {
        "NOP", "READ", "READ(bad fd)", "WRITE", "WRITE(read-only fd)", "FSYNC",
        "POLL_ADD", "POLL_ADD(never ready)", "TIMEOUT", "TIMEOUT(10s)", "TIMEOUT(count)", "TIMEOUT(count never)",
        "TIMEOUT_REMOVE", "ASYNC_CANCEL", "POLL_REMOVE", "LINK_TIMEOUT",
        "BAD_OPCODE", "NOP(bad sqe flag 0x80)", "NOP(bad nop_flags)",
        "ASYNC_CANCEL(ANY)", "ASYNC_CANCEL(FD|ALL)",
        "POLL_ADD(multishot)", "TIMEOUT(multishot)",
};

enum fdsel { FD_NONE, FD_PIPE_FULL_R, FD_PIPE_FULL_W, FD_PIPE_EMPTY_R, FD_PIPE_EMPTY_W, FD_EFD_ONE, FD_EFD_ZERO, FD_DATA, FD_BAD, FD_COUNT };
static const char *const fd_names[] = { "-", "pipe(full).r", "pipe(full).w", "pipe(empty).r", "pipe(empty).w", "eventfd(1)", "eventfd(0)", "datafile", "badfd" };
static int fds[FD_COUNT];
static int data_fd, wfile_fd;
static unsigned char data_buf[DATA_SIZE];

enum outcome { OUT_NONE, OUT_OK, OUT_FAIL, OUT_PENDING };

struct g {
        enum kind kind;
        uint64_t ud;
        uint8_t flags;          /* IOSQE_* */
        enum fdsel fd;
        unsigned mask;          /* poll events */
        uint64_t off;
        unsigned len, ms, count;
        int variant;            /* READ/WRITE: 0 plain, 1 vectored, 2 fixed buffer;
                                 * TIMEOUT: 1 IORING_TIMEOUT_ETIME_SUCCESS */
        uint64_t target;        /* cancel/remove target user_data */
        int unit;               /* unit (chain or single) index */
        int drained;            /* the unit is drained */
        int bad;                /* submit-time error of this SQE (negative), 0 */
        unsigned char *buf;
        /* model */
        int nexp;               /* CQEs expected, in this order */
        int xres[6];
        unsigned xflags[6];
        int xphase[6];          /* 1: before the cleanup, 2-4: its steps */
        int phase;              /* of the first */
        /* observed */
        int got;                /* CQEs received */
        int gres[8], garr[8];
        unsigned gflags[8];
};

static struct g gs[MAX_SQES];
static int ng;
static int nunits;
static int unit_first[MAX_SQES], unit_len[MAX_SQES];
static int drain_disabled; /* the ring has seen CQE_SKIP_SUCCESS */
static struct io_uring ring;

static unsigned poll_result(enum fdsel fd, unsigned mask, int *never) {
        unsigned ready = 0;
        *never = 0;
        switch (fd) {
        case FD_PIPE_FULL_R: ready = POLLIN; break;
        case FD_PIPE_FULL_W: case FD_PIPE_EMPTY_W: case FD_EFD_ZERO: ready = POLLOUT; break;
        case FD_PIPE_EMPTY_R: ready = 0; break;
        case FD_EFD_ONE: case FD_DATA: ready = POLLIN | POLLOUT; break;
        default: break;
        }
        if (!(ready & mask))
                *never = 1;
        return ready & mask;
}

static void describe(const struct g *g, char *out, size_t n) {
        static const char *const rv[] = { "", "V", "_FIXED" };
        int k = snprintf(out, n, "%s", kind_names[g->kind]);
        if ((g->kind == K_READ || g->kind == K_WRITE) && g->variant)
                k += snprintf(out + k, n - k, "%s", rv[g->variant]);
        if (g->kind == K_TIMEOUT && g->variant)
                k += snprintf(out + k, n - k, "(ETIME_SUCCESS)");
        switch (g->kind) {
        case K_READ: case K_WRITE: case K_READ_BADFD: case K_WRITE_RO:
                k += snprintf(out + k, n - k, " off=%llu len=%u", (unsigned long long) g->off, g->len);
                break;
        case K_POLL: case K_POLL_NEVER: case K_POLL_MULTI:
                k += snprintf(out + k, n - k, " %s mask=0x%x", fd_names[g->fd], g->mask);
                break;
        case K_TIMEOUT: case K_TIMEOUT_COUNT: case K_TIMEOUT_COUNT_NEVER: case K_LINK_TIMEOUT:
        case K_TIMEOUT_MULTI:
                k += snprintf(out + k, n - k, " %ums count=%u", g->ms, g->count);
                break;
        case K_TIMEOUT_REMOVE: case K_CANCEL: case K_POLL_REMOVE:
                k += snprintf(out + k, n - k, " target=%llu", (unsigned long long) g->target);
                break;
        case K_CANCEL_FD:
                k += snprintf(out + k, n - k, " %s", fd_names[g->fd]);
                break;
        default: break;
        }
        if (g->flags & IOSQE_IO_LINK) k += snprintf(out + k, n - k, " LINK");
        if (g->flags & IOSQE_IO_HARDLINK) k += snprintf(out + k, n - k, " HARDLINK");
        if (g->flags & IOSQE_IO_DRAIN) k += snprintf(out + k, n - k, " DRAIN");
        if (g->flags & IOSQE_CQE_SKIP_SUCCESS) k += snprintf(out + k, n - k, " SKIP_SUCCESS");
        if (g->flags & 0x80) snprintf(out + k, n - k, " 0x80");
}

/* ---- generation ------------------------------------------------------------- */

struct gen_state {
        int batch;
        int pending_unresolved; /* never-ending things no earlier SQE surely ends */
        int drain_seen;         /* no more never-ending things after a drain */
        int count_timeout;      /* one counting timeout per batch */
        /* standalone pending targets, each cancelled at most once */
        int ntargets;
        int target_idx[MAX_SQES];
        int target_used[MAX_SQES];
};

static struct g *new_g(struct gen_state *st, enum kind k) {
        struct g *g = &gs[ng];
        memset(g, 0, sizeof(*g));
        g->kind = k;
        g->ud = UD(st->batch, ng);
        g->unit = nunits;
        ng++;
        return g;
}

/* An op usable inside a chain (never pending unless followed by LINK_TIMEOUT). */
static enum kind pick_simple(int in_chain) {
        for (;;) {
                unsigned r = rn(100);
                if (r < 20 && (opt_ops & O_NOP)) return K_NOP;
                if (r < 35 && (opt_ops & O_READ)) return chance(85) ? K_READ : K_READ_BADFD;
                if (r < 50 && (opt_ops & O_WRITE)) {
                        unsigned w = rn(100);
                        return w < 75 ? K_WRITE : w < 88 ? K_WRITE_RO : K_FSYNC;
                }
                if (r < 68 && (opt_ops & O_POLL)) return K_POLL;
                if (r < 80 && (opt_ops & O_TIMEOUT)) return K_TIMEOUT;
                if (r < 86 && (opt_ops & O_BAD) && in_chain) return K_BAD_OPCODE + rn(3);
                if (r >= 86 && (opt_ops & O_NOP)) return K_NOP;
                if (!(opt_ops & (O_NOP | O_READ | O_WRITE | O_POLL | O_TIMEOUT)))
                        return K_NOP;
        }
}

static void fill_op(struct g *g) {
        switch (g->kind) {
        case K_READ:
                g->off = rn(100) < 75 ? rn(DATA_SIZE) : rn(DATA_SIZE + 3000);
                g->len = rn(100) < 10 ? 0 : 1 + rn(4096);
                g->fd = FD_DATA;
                g->variant = rn(100) < 60 ? 0 : rn(100) < 50 ? 1 : 2;
                break;
        case K_READ_BADFD:
                g->off = rn(DATA_SIZE);
                g->len = 1 + rn(512);
                g->fd = FD_BAD;
                break;
        case K_WRITE: case K_WRITE_RO:
                g->off = rn(WFILE_SPAN - 4096);
                g->len = 1 + rn(4096);
                g->fd = FD_DATA;
                if (g->kind == K_WRITE)
                        g->variant = rn(100) < 60 ? 0 : rn(100) < 50 ? 1 : 2;
                break;
        case K_POLL: {
                static const struct { enum fdsel fd; unsigned mask; } c[] = {
                        { FD_PIPE_FULL_R, POLLIN }, { FD_PIPE_FULL_W, POLLOUT },
                        { FD_PIPE_FULL_R, POLLIN | POLLOUT }, { FD_EFD_ONE, POLLIN },
                        { FD_EFD_ZERO, POLLOUT }, { FD_EFD_ONE, POLLIN | POLLOUT },
                        { FD_PIPE_EMPTY_W, POLLOUT }, { FD_DATA, POLLIN },
                        { FD_DATA, POLLIN | POLLOUT }, { FD_BAD, POLLIN },
                };
                unsigned i = rn(sizeof(c) / sizeof(c[0]));
                g->fd = c[i].fd;
                g->mask = c[i].mask;
                break;
        }
        case K_POLL_NEVER:
                g->fd = chance(50) ? FD_PIPE_EMPTY_R : FD_EFD_ZERO;
                g->mask = POLLIN;
                break;
        case K_POLL_MULTI: {
                static const struct { enum fdsel fd; unsigned mask; } c[] = {
                        { FD_PIPE_FULL_R, POLLIN }, { FD_PIPE_FULL_W, POLLOUT },
                        { FD_EFD_ONE, POLLIN }, { FD_EFD_ZERO, POLLOUT },
                        { FD_PIPE_EMPTY_W, POLLOUT },
                };
                unsigned i = rn(sizeof(c) / sizeof(c[0]));
                g->fd = c[i].fd;
                g->mask = c[i].mask;
                break;
        }
        case K_TIMEOUT_MULTI:
                g->ms = 1 + rn(5);
                g->count = 2 + rn(3);
                break;
        case K_TIMEOUT: case K_LINK_TIMEOUT:
                g->ms = 1 + rn(20);
                if (g->kind == K_TIMEOUT && rn(100) < 25)
                        g->variant = 1;
                break;
        case K_TIMEOUT_LONG:
                g->ms = 10000;
                break;
        case K_TIMEOUT_COUNT:
                g->ms = 10000;
                g->count = 1 + rn(3);
                break;
        case K_TIMEOUT_COUNT_NEVER:
                /* "count 1000, 1-20 ms" should end with -ETIME, but on 6.18 it
                 * sometimes completed with 0 under load (another timeout
                 * firing moves the kernel's count backwards for a moment):
                 * a plain timer instead (same random draws) */
                g->kind = K_TIMEOUT;
                g->ms = 1 + rn(20);
                break;
        default:
                break;
        }
}

/* The LINK_TIMEOUT guarding the op just made. A target that completes at
 * once gets 5 s: a short timer must not race it on a loaded machine. */
static struct g *new_link_timeout(struct gen_state *st) {
        struct g *g = new_g(st, K_LINK_TIMEOUT);

        fill_op(g);
        if (g[-1].kind != K_POLL_NEVER)
                g->ms = 5000;
        return g;
}

static uint8_t link_flag(void) {
        unsigned both = opt_flags & (F_LINK | F_HARDLINK);
        if (both == (F_LINK | F_HARDLINK))
                return chance(70) ? IOSQE_IO_LINK : IOSQE_IO_HARDLINK;
        return both == F_HARDLINK ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
}

static void close_unit(int first) {
        unit_first[nunits] = first;
        unit_len[nunits] = ng - first;
        for (int i = first; i < ng; i++)
                gs[i].unit = nunits;
        nunits++;
}

static int is_bad_kind(enum kind k) { return k == K_BAD_OPCODE || k == K_BAD_FLAGS || k == K_BAD_NOPFLAGS; }

static void gen_batch(struct gen_state *st, int budget) {
        ng = 0;
        nunits = 0;
        st->pending_unresolved = 0;
        st->drain_seen = 0;
        st->count_timeout = 0;
        st->ntargets = 0;
        int next_drained = 0;

        while (ng < budget) {
                int left = budget - ng;
                int first = ng;
                int drained = next_drained;
                next_drained = 0;
                int may_pend = !st->drain_seen && !drained;
                int want_drain = (opt_flags & F_DRAIN) && !st->pending_unresolved && chance(12);
                unsigned r = rn(100);

                if (r < 30 && left >= 2 && (opt_flags & (F_LINK | F_HARDLINK))) {
                        /* a chain of 2..5 */
                        int len = 2 + rn(4);
                        if (len > left)
                                len = left;
                        int pending_head = may_pend && (opt_ops & O_POLL) && chance(15);
                        int skip_ok = 1;
                        for (int i = 0; i < len && ng < budget; i++) {
                                struct g *g;
                                int last = (i == len - 1) || ng + 1 >= budget;
                                if (i == 0 && pending_head) {
                                        g = new_g(st, K_POLL_NEVER);
                                } else if (!pending_head && (opt_ops & O_POLL) && (opt_ops & O_LINKTO) &&
                                           chance(25) && ng + 2 <= budget) {
                                        /* poll (maybe never ready) guarded by a LINK_TIMEOUT */
                                        g = new_g(st, chance(50) ? K_POLL_NEVER : K_POLL);
                                        fill_op(g);
                                        g->flags = IOSQE_IO_LINK | (chance(30) ? IOSQE_IO_HARDLINK : 0);
                                        if (g->flags & IOSQE_IO_HARDLINK)
                                                g->flags = IOSQE_IO_HARDLINK;
                                        g = new_link_timeout(st);
                                        last = (i >= len - 2) || ng >= budget;
                                        if (!last)
                                                g->flags = IOSQE_IO_LINK;
                                        i++;
                                        if (last)
                                                break;
                                        continue;
                                } else if (!pending_head && (opt_ops & O_LINKTO) && chance(10) && ng + 2 <= budget) {
                                        g = new_g(st, K_NOP);
                                        g->flags = IOSQE_IO_LINK;
                                        g = new_link_timeout(st);
                                        last = (i >= len - 2) || ng >= budget;
                                        if (!last)
                                                g->flags = IOSQE_IO_LINK;
                                        i++;
                                        if (last)
                                                break;
                                        continue;
                                } else if (!pending_head && (opt_ops & O_CANCEL) && chance(15)) {
                                        g = new_g(st, K_CANCEL); /* target filled below */
                                } else {
                                        g = new_g(st, pick_simple(1));
                                }
                                fill_op(g);
                                if (g->kind == K_CANCEL) {
                                        /* an unused pending target, or nothing */
                                        int t = -1;
                                        for (int j = 0; j < st->ntargets; j++)
                                                if (!st->target_used[j]) { t = j; break; }
                                        if (t >= 0 && chance(70)) {
                                                st->target_used[t] = 1;
                                                struct g *tg = &gs[st->target_idx[t]];
                                                g->target = tg->ud;
                                                if (tg->kind == K_TIMEOUT_LONG && chance(50))
                                                        g->kind = K_TIMEOUT_REMOVE;
                                                if (tg->kind != K_TIMEOUT_LONG && chance(50))
                                                        g->kind = K_POLL_REMOVE;
                                        } else {
                                                g->target = chance(50) ? UD_NONE : UD(st->batch - 1, 0);
                                                unsigned c = rn(3);
                                                g->kind = c == 0 ? K_CANCEL : c == 1 ? K_TIMEOUT_REMOVE : K_POLL_REMOVE;
                                        }
                                }
                                if (!last)
                                        g->flags |= link_flag();
                                if ((opt_flags & F_SKIP) && skip_ok && !last && g->kind != K_LINK_TIMEOUT &&
                                    !(g->kind == K_TIMEOUT && g->variant) && chance(20))
                                        g->flags |= IOSQE_CQE_SKIP_SUCCESS;
                                if (g->kind == K_BAD_FLAGS)
                                        g->flags = (g->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) | 0x80;
                                if (last)
                                        break;
                        }
                        if (pending_head)
                                st->pending_unresolved++;
                        int anybad = 0;
                        for (int i = first; i < ng; i++)
                                anybad |= is_bad_kind(gs[i].kind);
                        if (want_drain && !pending_head && !anybad) {
                                /* drain on the head or in the middle */
                                int at = first + (chance(60) ? 0 : rn(ng - first));
                                if (gs[at].kind != K_LINK_TIMEOUT) {
                                        gs[at].flags |= IOSQE_IO_DRAIN;
                                        if (at != first)
                                                next_drained = 1;
                                }
                        }
                } else {
                        /* a single SQE */
                        struct g *g;
                        unsigned s = rn(100);
                        /* a drained request that never ends would hold back
                         * everything after it, the cleanup too */
                        if (want_drain)
                                may_pend = 0;
                        if (s < 12 && may_pend && (opt_ops & O_POLL)) {
                                g = new_g(st, K_POLL_NEVER);
                                st->target_idx[st->ntargets] = first;
                                st->target_used[st->ntargets++] = 0;
                                st->pending_unresolved++;
                        } else if (s < 20 && may_pend && (opt_ops & O_TIMEOUT)) {
                                g = new_g(st, K_TIMEOUT_LONG);
                                st->target_idx[st->ntargets] = first;
                                st->target_used[st->ntargets++] = 0;
                                st->pending_unresolved++;
                        } else if (s < 26 && may_pend && (opt_ops & O_TIMEOUT) && !st->count_timeout &&
                                   left >= 5) {
                                /* counting timeout, then the NOPs that surely reach the count */
                                g = new_g(st, K_TIMEOUT_COUNT);
                                fill_op(g);
                                st->count_timeout = 1;
                                st->pending_unresolved++;
                                close_unit(first);
                                for (unsigned i = 0; i < g->count; i++) {
                                        int f = ng;
                                        new_g(st, K_NOP);
                                        close_unit(f);
                                }
                                continue;
                        } else if (s < 30 && (opt_ops & O_TIMEOUT) && st->count_timeout != 1) {
                                g = new_g(st, K_TIMEOUT_COUNT_NEVER);
                                st->count_timeout = 2;
                        } else if (s < 42 && (opt_ops & O_CANCEL)) {
                                g = new_g(st, K_CANCEL);
                                int t = -1;
                                for (int j = 0; j < st->ntargets; j++)
                                        if (!st->target_used[j]) { t = j; break; }
                                if (t >= 0 && chance(75)) {
                                        st->target_used[t] = 1;
                                        struct g *tg = &gs[st->target_idx[t]];
                                        g->target = tg->ud;
                                        if (tg->kind == K_TIMEOUT_LONG && chance(50))
                                                g->kind = K_TIMEOUT_REMOVE;
                                        if (tg->kind != K_TIMEOUT_LONG && chance(50))
                                                g->kind = K_POLL_REMOVE;
                                        st->pending_unresolved--;
                                } else {
                                        unsigned c = rn(3);
                                        g->kind = c == 0 ? K_CANCEL : c == 1 ? K_TIMEOUT_REMOVE : K_POLL_REMOVE;
                                        g->target = chance(50) ? UD_NONE : UD(st->batch - 1, 0);
                                }
                        } else if (s < 48 && (opt_ops & O_BAD)) {
                                g = new_g(st, K_BAD_OPCODE + rn(3));
                        } else if (s < 54 && (opt_ops & O_MULTI) && !want_drain) {
                                if (may_pend && chance(50)) {
                                        /* ready at once: one CQE with F_MORE, then
                                         * nothing until it is cancelled */
                                        /* not a cancel target in the batch: while its
                                         * first CQE is being posted from task work,
                                         * a cancel in the same submission gets
                                         * -EALREADY (left to the cleanup) */
                                        g = new_g(st, K_POLL_MULTI);
                                        st->pending_unresolved++;
                                } else if (!st->count_timeout) {
                                        /* never with counting timeouts in one batch:
                                         * the kernel then completed "count 1000"
                                         * timeouts with 0 (seen on 6.18) */
                                        g = new_g(st, K_TIMEOUT_MULTI);
                                        st->count_timeout = 1;
                                } else {
                                        g = new_g(st, K_NOP);
                                }
                                fill_op(g);
                                close_unit(first);
                                continue;
                        } else {
                                g = new_g(st, pick_simple(0));
                        }
                        fill_op(g);
                        /* CQE_SKIP_SUCCESS alone only where a silent success is
                         * surely over before the batch's other CQEs are in: not
                         * READ/WRITE (may run on io-wq), not a counting timeout */
                        if ((opt_flags & F_SKIP) && chance(10) && g->kind != K_BAD_FLAGS &&
                            g->kind != K_READ && g->kind != K_WRITE && g->kind != K_FSYNC &&
                            g->kind != K_TIMEOUT_COUNT && !(g->kind == K_TIMEOUT && g->variant))
                                g->flags |= IOSQE_CQE_SKIP_SUCCESS;
                        if (want_drain && !is_bad_kind(g->kind) && g->kind != K_TIMEOUT_COUNT)
                                g->flags |= IOSQE_IO_DRAIN;
                        if (g->kind == K_BAD_FLAGS)
                                g->flags = 0x80;
                }
                close_unit(first);
                for (int i = first; i < ng; i++)
                        if (gs[i].flags & IOSQE_IO_DRAIN)
                                st->drain_seen = 1;
        }
}

/* ---- model -------------------------------------------------------------------- */

static int cancelled[MAX_SQES];   /* ended by a cancel in the model */
static int suspended[MAX_SQES];   /* a never-ending standalone or chain head, index */

static int find_ud(uint64_t ud) {
        for (int i = 0; i < ng; i++)
                if (gs[i].ud == ud)
                        return i;
        return -1;
}

static void expect_f(int i, int res, unsigned flags, int phase);

/* Intrinsic outcome of executing gs[i]; sets res. */
static enum outcome exec_op(int i, int *res, int phase) {
        struct g *g = &gs[i];
        int never;
        switch (g->kind) {
        case K_NOP: *res = 0; return OUT_OK;
        case K_READ: {
                unsigned avail = g->off >= DATA_SIZE ? 0 : DATA_SIZE - (unsigned) g->off;
                unsigned n = g->len < avail ? g->len : avail;
                *res = (int) n;
                return n == g->len ? OUT_OK : OUT_FAIL;
        }
        case K_READ_BADFD: case K_WRITE_RO: *res = -EBADF; return OUT_FAIL;
        case K_WRITE: *res = (int) g->len; return OUT_OK;
        case K_FSYNC: *res = 0; return OUT_OK;
        case K_POLL:
                if (g->fd == FD_BAD) { *res = -EBADF; return OUT_FAIL; }
                *res = (int) poll_result(g->fd, g->mask, &never);
                return OUT_OK;
        case K_POLL_NEVER: case K_TIMEOUT_LONG: return OUT_PENDING;
        case K_TIMEOUT: *res = -ETIME; return g->variant ? OUT_OK : OUT_FAIL;
        case K_TIMEOUT_COUNT_NEVER: *res = -ETIME; return OUT_FAIL;
        case K_POLL_MULTI:
                expect_f(i, (int) poll_result(g->fd, g->mask, &never), IORING_CQE_F_MORE, phase);
                return OUT_PENDING;
        case K_TIMEOUT_MULTI:
                for (unsigned k = 1; k < g->count; k++)
                        expect_f(i, -ETIME, IORING_CQE_F_MORE, phase);
                *res = -ETIME;
                return OUT_FAIL;
        case K_TIMEOUT_COUNT: *res = 0; return OUT_OK;
        case K_TIMEOUT_REMOVE: case K_CANCEL: case K_POLL_REMOVE: {
                int t = find_ud(g->target);
                int ok = t >= 0 && suspended[t] && !cancelled[t] && unit_len[gs[t].unit] == 1;
                if (ok && g->kind == K_TIMEOUT_REMOVE && gs[t].kind != K_TIMEOUT_LONG) ok = 0;
                if (ok && g->kind == K_POLL_REMOVE && gs[t].kind == K_TIMEOUT_LONG) ok = 0;
                if (!ok) { *res = -ENOENT; return OUT_FAIL; }
                cancelled[t] = 1;
                expect_f(t, -ECANCELED, 0, phase);
                *res = 0;
                return OUT_OK;
        }
        default: *res = -EINVAL; return OUT_FAIL;
        }
}

static void expect_f(int i, int res, unsigned flags, int phase) {
        struct g *g = &gs[i];
        if (g->nexp == 6)
                t_fail("model: too many CQEs for one request");
        if (!g->nexp)
                g->phase = phase;
        g->xres[g->nexp] = res;
        g->xflags[g->nexp] = flags;
        g->xphase[g->nexp++] = phase;
}

static void expect(int i, int res, int phase) {
        expect_f(i, res, 0, phase);
}

/* Run a chain from member @from; @first_outcome overrides the first member's
 * outcome (used to resume a never-ending head ended by the cleanup). Returns
 * the index of a member that does not end by itself, or -1. */
static int run_chain(int u, int from, int phase, int resume_res) {
        int f = unit_first[u], n = unit_len[u];
        int broken = 0, ignore = 0;
        for (int i = from; i < f + n; i++) {
                struct g *g = &gs[i];
                int res;
                enum outcome o;
                if (g->kind == K_LINK_TIMEOUT)
                        continue; /* handled with its target */
                int lt = (i + 1 < f + n && gs[i + 1].kind == K_LINK_TIMEOUT) ? i + 1 : -1;
                if (broken) {
                        if (!ignore) expect(i, -ECANCELED, phase);
                        if (lt >= 0 && !ignore) expect(lt, -ECANCELED, phase);
                        continue;
                }
                if (i == from && resume_res) {
                        o = OUT_FAIL;
                        res = resume_res;
                } else {
                        o = exec_op(i, &res, phase);
                }
                if (lt >= 0) {
                        if (o == OUT_PENDING) {
                                o = OUT_FAIL;
                                res = -ECANCELED;
                                expect(lt, -ETIME, phase);
                        } else {
                                expect(lt, -ECANCELED, phase);
                        }
                }
                if (o == OUT_PENDING) {
                        suspended[i] = 1;
                        return i;
                }
                if (o == OUT_FAIL || !(g->flags & IOSQE_CQE_SKIP_SUCCESS))
                        expect(i, res, phase);
                int linked = (lt >= 0 ? gs[lt].flags : g->flags) & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
                if (o == OUT_FAIL && !(g->flags & IOSQE_IO_HARDLINK) && linked) {
                        broken = 1;
                        ignore = !!(g->flags & IOSQE_CQE_SKIP_SUCCESS);
                }
        }
        return -1;
}

static int bad_of(const struct g *g) {
        switch (g->kind) {
        case K_BAD_OPCODE: case K_BAD_FLAGS: case K_BAD_NOPFLAGS: return -EINVAL;
        default: break;
        }
        return 0;
}

/* Phase 1 model: everything up to the cleanup. Returns the count of things
 * left pending. */
static int model_phase1(void) {
        memset(cancelled, 0, sizeof(cancelled));
        memset(suspended, 0, sizeof(suspended));
        /* submission order: drain_disabled and submit-time failures */
        for (int i = 0; i < ng; i++) {
                struct g *g = &gs[i];
                g->bad = bad_of(g);
                if (g->kind == K_BAD_OPCODE || g->kind == K_BAD_FLAGS)
                        continue; /* fails before the flags are looked at */
                if (g->flags & IOSQE_CQE_SKIP_SUCCESS)
                        drain_disabled = 1;
                if ((g->flags & IOSQE_IO_DRAIN) && drain_disabled)
                        g->bad = -EOPNOTSUPP;
        }
        /* drained units */
        int drain_next = 0;
        for (int u = 0; u < nunits; u++) {
                int f = unit_first[u], n = unit_len[u], d = drain_next, mid = 0;
                drain_next = 0;
                int anybad = 0;
                for (int i = f; i < f + n; i++)
                        anybad |= !!gs[i].bad;
                for (int i = f; i < f + n; i++)
                        if ((gs[i].flags & IOSQE_IO_DRAIN) && !gs[i].bad) {
                                d = 1;
                                if (i != f)
                                        mid = 1;
                        }
                if (mid)
                        drain_next = 1;
                for (int i = f; i < f + n; i++)
                        gs[i].drained = d && !anybad;
        }
        /* execution: in submission order (what a cancel finds is fixed by
         * construction, so the order of independent units does not matter) */
        for (int u = 0; u < nunits; u++) {
                int f = unit_first[u], n = unit_len[u], anybad = 0;
                for (int i = f; i < f + n; i++)
                        if (gs[i].bad)
                                anybad = 1;
                if (anybad) {
                        int ignore = !!(gs[f].flags & IOSQE_CQE_SKIP_SUCCESS);
                        expect(f, gs[f].bad ? gs[f].bad : -ECANCELED, 1);
                        for (int i = f + 1; i < f + n; i++)
                                if (!ignore)
                                        expect(i, gs[i].bad ? gs[i].bad : -ECANCELED, 1);
                        continue;
                }
                run_chain(u, f, 1, 0);
        }
        int pending = 0;
        for (int i = 0; i < ng; i++)
                if (suspended[i] && !cancelled[i])
                        pending++;
        return pending;
}

/* ---- running ------------------------------------------------------------------ */

static void wpattern(unsigned char *p, uint64_t off, unsigned len) {
        for (unsigned i = 0; i < len; i++) {
                uint64_t x = off + i;
                p[i] = (unsigned char) ((x * 2654435761u) >> 13);
        }
}

static int fd_of(enum fdsel s) { return fds[s]; }

static struct iovec iovs[MAX_SQES][3];
static unsigned char *fixbuf; /* registered: one 4 KiB slice per SQE */

static void prep(const struct g *g, struct io_uring_sqe *sqe) {
        switch (g->kind) {
        case K_NOP: case K_BAD_FLAGS:
                io_uring_prep_nop(sqe);
                break;
        case K_BAD_NOPFLAGS:
                io_uring_prep_nop(sqe);
                sqe->rw_flags = (int) (1u << 31); /* nop_flags: no such flag */
                break;
        case K_BAD_OPCODE:
                io_uring_prep_nop(sqe);
                sqe->opcode = 250;
                break;
        case K_READ: case K_WRITE: {
                int fd = g->kind == K_READ ? data_fd : wfile_fd;
                struct iovec *v = iovs[g - gs];
                if (g->variant == 1) {
                        /* up to three pieces */
                        unsigned a = g->len / 3, b = g->len / 2;
                        v[0] = (struct iovec) { g->buf, a };
                        v[1] = (struct iovec) { g->buf + a, b - a };
                        v[2] = (struct iovec) { g->buf + b, g->len - b };
                        if (g->kind == K_READ)
                                io_uring_prep_readv(sqe, fd, v, 3, g->off);
                        else
                                io_uring_prep_writev(sqe, fd, v, 3, g->off);
                } else if (g->variant == 2) {
                        if (g->kind == K_READ)
                                io_uring_prep_read_fixed(sqe, fd, g->buf, g->len, g->off, 0);
                        else
                                io_uring_prep_write_fixed(sqe, fd, g->buf, g->len, g->off, 0);
                } else if (g->kind == K_READ) {
                        io_uring_prep_read(sqe, fd, g->buf, g->len, g->off);
                } else {
                        io_uring_prep_write(sqe, fd, g->buf, g->len, g->off);
                }
                break;
        }
        case K_FSYNC:
                io_uring_prep_fsync(sqe, wfile_fd, 0);
                break;
        case K_READ_BADFD:
                io_uring_prep_read(sqe, fds[FD_BAD], g->buf, g->len, g->off);
                break;
        case K_WRITE_RO:
                io_uring_prep_write(sqe, data_fd, g->buf, g->len, g->off);
                break;
        case K_POLL: case K_POLL_NEVER:
                io_uring_prep_poll_add(sqe, fd_of(g->fd), g->mask);
                break;
        case K_POLL_MULTI:
                io_uring_prep_poll_multishot(sqe, fd_of(g->fd), g->mask);
                break;
        case K_TIMEOUT: case K_TIMEOUT_LONG: case K_TIMEOUT_COUNT: case K_TIMEOUT_COUNT_NEVER:
        case K_LINK_TIMEOUT: case K_TIMEOUT_MULTI: {
                static struct __kernel_timespec ts[MAX_SQES];
                struct __kernel_timespec *t = &ts[g - gs];
                t->tv_sec = g->ms / 1000;
                t->tv_nsec = (long long) (g->ms % 1000) * 1000000;
                if (g->kind == K_LINK_TIMEOUT)
                        io_uring_prep_link_timeout(sqe, t, 0);
                else if (g->kind == K_TIMEOUT_MULTI)
                        io_uring_prep_timeout(sqe, t, g->count, IORING_TIMEOUT_MULTISHOT);
                else
                        io_uring_prep_timeout(sqe, t, g->count, g->variant ? IORING_TIMEOUT_ETIME_SUCCESS : 0);
                break;
        }
        case K_TIMEOUT_REMOVE:
                io_uring_prep_timeout_remove(sqe, g->target, 0);
                break;
        case K_POLL_REMOVE:
                io_uring_prep_poll_remove(sqe, g->target);
                break;
        case K_CANCEL:
                io_uring_prep_cancel64(sqe, g->target, 0);
                break;
        case K_CANCEL_ANY:
                io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
                break;
        case K_CANCEL_FD:
                io_uring_prep_cancel_fd(sqe, fd_of(g->fd), IORING_ASYNC_CANCEL_ALL);
                break;
        }
        sqe->flags = g->flags;
        sqe->user_data = g->ud;
}

static int arrival_counter;
static uint64_t cur_seed;
static char extra_lines[64][96];
static int nextra;

static void record(const struct io_uring_cqe *cqe, int batch) {
        int i = find_ud(cqe->user_data);
        if (i < 0 || gs[i].got == 8) {
                char b[32];
                uint64_t ud = cqe->user_data;
                if (nextra < 64)
                        snprintf(extra_lines[nextra++], sizeof(extra_lines[0]), " extra cqe %llu res=%s flags=0x%x%s",
                                 (unsigned long long) ud, t_res(cqe->res, b), cqe->flags,
                                 ud / 1000 != (uint64_t) batch ? " (from another batch)" : "");
                return;
        }
        struct g *g = &gs[i];
        g->gres[g->got] = cqe->res;
        g->gflags[g->got] = cqe->flags;
        g->garr[g->got++] = ++arrival_counter;
}

/* CQEs of @g expected by the end of @phase */
static int wanted(const struct g *g, int phase) {
        int n = 0;
        for (int k = 0; k < g->nexp; k++)
                if (g->xphase[k] <= phase)
                        n++;
        return n;
}

/* Wait until every expected CQE of @phase arrived; 0 on success. */
static int wait_phase(int phase, int batch) {
        for (;;) {
                int missing = 0;
                for (int i = 0; i < ng; i++)
                        if (wanted(&gs[i], phase) > gs[i].got)
                                missing++;
                if (!missing)
                        return 0;
                struct io_uring_cqe *cqe;
                struct __kernel_timespec ts = { .tv_sec = opt_step_ms / 1000, .tv_nsec = (opt_step_ms % 1000) * 1000000ll };
                int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
                if (r == -ETIME) {
                        printf(" TIMEOUT waiting (phase %d) for", phase);
                        for (int i = 0; i < ng; i++)
                                if (wanted(&gs[i], phase) > gs[i].got)
                                        printf(" %llu", (unsigned long long) gs[i].ud);
                        printf("\n");
                        return -1;
                }
                if (r < 0)
                        t_fail("io_uring_wait_cqe_timeout: %s", strerror(-r));
                record(cqe, batch);
                io_uring_cqe_seen(&ring, cqe);
        }
}

static void sweep(int batch, int wait_ms) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = { .tv_nsec = wait_ms * 1000000ll };
        while (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
                record(cqe, batch);
                io_uring_cqe_seen(&ring, cqe);
        }
}

static int cmp_idx(const void *a, const void *b) {
        const struct g *x = &gs[*(const int *) a], *y = &gs[*(const int *) b];
        return x->ud < y->ud ? -1 : x->ud > y->ud;
}

static int run_batch(int batch, struct gen_state *st) {
        int model_bad = 0;
        char d[160], b1[32], b2[32];

        gen_batch(st, 2 + rn(opt_batch > 2 ? opt_batch - 1 : 1));
        model_phase1();

        /* buffers */
        for (int i = 0; i < ng; i++) {
                struct g *g = &gs[i];
                if (g->kind == K_READ || g->kind == K_READ_BADFD || g->kind == K_WRITE || g->kind == K_WRITE_RO) {
                        g->buf = g->variant == 2 ? fixbuf + (size_t) i * 4096 : malloc(g->len ? g->len : 1);
                        memset(g->buf, 0xee, g->len ? g->len : 1);
                        if (g->kind == K_WRITE || g->kind == K_WRITE_RO)
                                wpattern(g->buf, g->off, g->len);
                }
        }

        printf("batch %d: %d sqes\n", batch, ng);
        for (int i = 0; i < ng; i++) {
                describe(&gs[i], d, sizeof(d));
                printf(" sqe %llu unit %d: %s\n", (unsigned long long) gs[i].ud, gs[i].unit, d);
        }

        nextra = 0;
        arrival_counter = 0;
        for (int i = 0; i < ng; i++)
                prep(&gs[i], t_get_sqe(&ring));
        int r = io_uring_submit(&ring);
        if (r != ng)
                printf(" submit returned %s (wanted %d)\n", t_res(r, b1), ng);
        int timed_out = wait_phase(1, batch);

        /*
         * Cleanup: end what is still pending, in two submissions: first
         * (modes 1, 2) cancels by user_data or by fd, then ASYNC_CANCEL ANY,
         * whose res counts what was left (0: nothing pending). The ANY goes
         * in a submission of its own once the victims of the first step have
         * posted: a poll being cancelled stays findable until its task work
         * ran, and the kernel would count it twice.
         */
        int first_cleanup = ng;
        unsigned mode = rn(3);
        struct gen_state dummy = *st;
        int victim[MAX_SQES] = { 0 };
        /* A barrier first: a NOP submitted and reaped on its own. Requests
         * the kernel issues from task work (after a drain, say) are armed
         * before it completes, so the cancels below find them. */
        struct g *barrier = new_g(&dummy, K_NOP);
        barrier->unit = -1;
        expect(ng - 1, 0, 2);
        first_cleanup = ng;
        if (mode == 1) {
                for (int i = 0; i < first_cleanup; i++)
                        if (suspended[i] && !cancelled[i]) {
                                struct g *g = new_g(&dummy, K_CANCEL);
                                g->unit = -1;
                                g->target = gs[i].ud;
                                expect(ng - 1, 0, 3);
                                victim[i] = 1;
                        }
        } else if (mode == 2) {
                enum fdsel fsel[2] = { FD_PIPE_EMPTY_R, FD_EFD_ZERO };
                for (int k = 0; k < 2; k++) {
                        int n = 0;
                        for (int i = 0; i < first_cleanup; i++)
                                if (suspended[i] && !cancelled[i] && (gs[i].kind == K_POLL_NEVER || gs[i].kind == K_POLL_MULTI) &&
                                    gs[i].fd == fsel[k]) {
                                        n++;
                                        victim[i] = 1;
                                }
                        struct g *g = new_g(&dummy, K_CANCEL_FD);
                        g->unit = -1;
                        g->fd = fsel[k];
                        expect(ng - 1, n, 3);
                }
        }
        int any_at = ng;
        struct g *any = new_g(&dummy, K_CANCEL_ANY);
        any->unit = -1;
        int left = 0;
        for (int i = 0; i < first_cleanup; i++)
                if (suspended[i] && !cancelled[i] && !victim[i])
                        left++;
        expect(any_at, left, 4);
        /* what the cleanup ends */
        for (int i = 0; i < first_cleanup; i++) {
                if (!suspended[i] || cancelled[i])
                        continue;
                int ph = victim[i] ? 3 : 4;
                cancelled[i] = 1;
                int u = gs[i].unit;
                if (unit_len[u] == 1) {
                        expect(i, -ECANCELED, ph);
                } else {
                        /* a never-ready chain head: the chain goes on */
                        suspended[i] = 0;
                        run_chain(u, i, ph, -ECANCELED);
                }
        }
        for (int i = first_cleanup - 1; i < ng; i++) {
                describe(&gs[i], d, sizeof(d));
                printf(" cleanup %llu: %s%s\n", (unsigned long long) gs[i].ud, d,
                       i == first_cleanup - 1 ? " (barrier)" : "");
        }
        prep(&gs[first_cleanup - 1], t_get_sqe(&ring));
        r = io_uring_submit(&ring);
        if (r != 1)
                printf(" barrier submit returned %s (wanted 1)\n", t_res(r, b1));
        if (!timed_out)
                timed_out = wait_phase(2, batch);
        if (any_at > first_cleanup) {
                for (int i = first_cleanup; i < any_at; i++)
                        prep(&gs[i], t_get_sqe(&ring));
                r = io_uring_submit(&ring);
                if (r != any_at - first_cleanup)
                        printf(" cleanup submit returned %s (wanted %d)\n", t_res(r, b1), any_at - first_cleanup);
                if (!timed_out)
                        timed_out = wait_phase(3, batch);
        }
        prep(&gs[any_at], t_get_sqe(&ring));
        r = io_uring_submit(&ring);
        if (r != 1)
                printf(" cleanup submit returned %s (wanted 1)\n", t_res(r, b1));
        if (!timed_out)
                timed_out = wait_phase(4, batch);
        sweep(batch, 2);

        /* transcript: CQEs sorted by user_data */
        int idx[MAX_SQES];
        for (int i = 0; i < ng; i++)
                idx[i] = i;
        qsort(idx, ng, sizeof(idx[0]), cmp_idx);
        for (int k = 0; k < ng; k++) {
                struct g *g = &gs[idx[k]];
                /* the CQEs of one request, in arrival order: a multishot
                 * request posts its F_MORE ones before the final one */
                for (int c = 0; c < g->got; c++)
                        printf(" cqe %llu res=%s flags=0x%x\n", (unsigned long long) g->ud, t_res(g->gres[c], b1), g->gflags[c]);
                int same = g->got == g->nexp;
                for (int c = 0; same && c < g->got; c++)
                        same = g->gres[c] == g->xres[c] && g->gflags[c] == g->xflags[c];
                if (!same) {
                        model_bad = 1;
                        if (!opt_model_quiet) {
                                fprintf(stderr, "model: seed %llu batch %d ud %llu: expected", (unsigned long long) cur_seed, batch,
                                        (unsigned long long) g->ud);
                                for (int c = 0; c < g->nexp; c++)
                                        fprintf(stderr, " %s/%#x", t_res(g->xres[c], b1), g->xflags[c]);
                                fprintf(stderr, "%s, got", g->nexp ? "" : " no cqe");
                                for (int c = 0; c < g->got; c++)
                                        fprintf(stderr, " %s/%#x", t_res(g->gres[c], b2), g->gflags[c]);
                                fprintf(stderr, "%s\n", g->got ? "" : " no cqe");
                        }
                }
        }
        for (int k = 0; k < nextra; k++)
                printf("%s\n", extra_lines[k]);
        if (nextra)
                model_bad = 1;

        /* ordering guarantees */
        for (int u = 0; u < nunits; u++) {
                int f = unit_first[u], n = unit_len[u], prev = -1;
                for (int i = f; i < f + n; i++) {
                        if (gs[i].kind == K_LINK_TIMEOUT || !gs[i].got)
                                continue;
                        if (prev >= 0 && gs[prev].garr[0] > gs[i].garr[0])
                                printf(" ORDER chain: %llu completed before %llu\n",
                                       (unsigned long long) gs[i].ud, (unsigned long long) gs[prev].ud);
                        prev = i;
                }
        }
        for (int i = 0; i < first_cleanup; i++) {
                if (!gs[i].drained || !gs[i].got)
                        continue;
                int f = unit_first[gs[i].unit];
                for (int j = 0; j < f; j++)
                        if (gs[j].got && gs[j].phase == 1 && gs[j].garr[0] > gs[i].garr[0])
                                printf(" ORDER drain: %llu (drained) completed before %llu\n",
                                       (unsigned long long) gs[i].ud, (unsigned long long) gs[j].ud);
        }

        /* data */
        for (int i = 0; i < first_cleanup; i++) {
                struct g *g = &gs[i];
                if (g->kind == K_READ && g->got && g->gres[0] > 0 &&
                    memcmp(g->buf, data_buf + g->off, (size_t) g->gres[0]) != 0)
                        printf(" DATA read %llu: wrong bytes\n", (unsigned long long) g->ud);
                if (g->variant != 2 || (g->kind != K_READ && g->kind != K_WRITE))
                        free(g->buf);
                g->buf = NULL;
        }
        uint64_t size;
        uint32_t crc = t_file_crc(wfile_fd, &size);
        printf(" written file: size %llu crc32c %08x\n", (unsigned long long) size, crc);
        fflush(stdout);
        return timed_out ? -1 : model_bad ? 1 : 0;
}

static int run_seed(uint64_t seed, int *model_bad) {
        struct io_uring_params p;
        int pa[2], pb[2];
        uint64_t one = 1;
        int failed = 0;

        rng_state = seed * 0x2545f4914f6cdd1dull + 1;
        /* CQE_SKIP_SUCCESS disables IO_DRAIN for the ring's life: half of
         * the seeds go without it, so that drains are exercised */
        opt_flags = opt_flags_arg;
        if ((opt_flags & F_SKIP) && (opt_flags & F_DRAIN) && chance(50))
                opt_flags &= ~F_SKIP;
        printf("seed %llu flags%s%s%s%s\n", (unsigned long long) seed,
               opt_flags & F_LINK ? " link" : "", opt_flags & F_HARDLINK ? " hardlink" : "",
               opt_flags & F_DRAIN ? " drain" : "", opt_flags & F_SKIP ? " skip" : "");
        cur_seed = seed;
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_SUBMIT_ALL; /* a bad SQE does not stop the batch */
        t_ring_init(&ring, 128, &p);
        drain_disabled = 0;
        struct iovec fixiov = { fixbuf, (size_t) MAX_SQES * 4096 };
        int rr = io_uring_register_buffers(&ring, &fixiov, 1);
        if (rr < 0)
                t_fail("io_uring_register_buffers: %s", strerror(-rr));

        if (pipe2(pa, O_CLOEXEC) || pipe2(pb, O_CLOEXEC))
                t_fail("pipe: %m");
        if (write(pa[1], "x", 1) != 1)
                t_fail("write pipe: %m");
        fds[FD_PIPE_FULL_R] = pa[0];
        fds[FD_PIPE_FULL_W] = pa[1];
        fds[FD_PIPE_EMPTY_R] = pb[0];
        fds[FD_PIPE_EMPTY_W] = pb[1];
        fds[FD_EFD_ONE] = eventfd(0, EFD_CLOEXEC);
        fds[FD_EFD_ZERO] = eventfd(0, EFD_CLOEXEC);
        if (fds[FD_EFD_ONE] < 0 || fds[FD_EFD_ZERO] < 0)
                t_fail("eventfd: %m");
        if (write(fds[FD_EFD_ONE], &one, 8) != 8)
                t_fail("eventfd write: %m");
        fds[FD_DATA] = data_fd;
        fds[FD_BAD] = BAD_FD;
        if (ftruncate(wfile_fd, 0))
                t_fail("ftruncate: %m");

        struct gen_state st;
        memset(&st, 0, sizeof(st));
        for (unsigned b = 1; b <= opt_count; b++) {
                st.batch = (int) b;
                int r = run_batch((int) b, &st);
                if (r > 0)
                        *model_bad = 1;
                if (r < 0) {
                        failed = 1;
                        break; /* a ring in an unknown state: stop this seed */
                }
        }
        io_uring_queue_exit(&ring);
        close(pa[0]);
        close(pa[1]);
        close(pb[0]);
        close(pb[1]);
        close(fds[FD_EFD_ONE]);
        close(fds[FD_EFD_ZERO]);
        return failed;
}

static unsigned parse_list(const char *s, const char *const *names, const char *what) {
        unsigned m = 0;
        char *dup = strdup(s), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int found = 0;
                if (strcmp(t, "all") == 0) {
                        m = ~0u;
                        continue;
                }
                for (int i = 0; names[i]; i++)
                        if (strcmp(t, names[i]) == 0) {
                                m |= 1u << i;
                                found = 1;
                        }
                if (!found) {
                        fprintf(stderr, "unknown %s \"%s\"\n", what, t);
                        exit(2);
                }
        }
        free(dup);
        return m;
}

static void usage(void) {
        fprintf(stderr,
                "usage: difftest --seed N [--seeds M] [--count K] [--batch B] [--ops LIST]\n"
                "                [--flags LIST] [--step-timeout MS] [--quiet-model]\n"
                "  ops:   nop,read,write,timeout,poll,cancel,linktimeout,bad,multishot (default all)\n"
                "  flags: link,hardlink,drain,skip (default all)\n");
        exit(2);
}

int main(int argc, char **argv) {
        static const struct option lo[] = {
                { "seed", required_argument, 0, 's' }, { "seeds", required_argument, 0, 'n' },
                { "count", required_argument, 0, 'c' }, { "batch", required_argument, 0, 'b' },
                { "ops", required_argument, 0, 'o' }, { "flags", required_argument, 0, 'f' },
                { "step-timeout", required_argument, 0, 't' }, { "quiet-model", no_argument, 0, 'q' },
                { 0, 0, 0, 0 },
        };
        uint64_t seed = 0, nseeds = 1;
        int have_seed = 0, c;

        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 's': seed = strtoull(optarg, NULL, 0); have_seed = 1; break;
                case 'n': nseeds = strtoull(optarg, NULL, 0); break;
                case 'c': opt_count = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'b': opt_batch = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'o': opt_ops = parse_list(optarg, op_names, "op"); break;
                case 'f': opt_flags_arg = parse_list(optarg, flag_names, "flag"); break;
                case 't': opt_step_ms = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'q': opt_model_quiet = 1; break;
                default: usage();
                }
        }
        if (!have_seed || optind != argc)
                usage();
        if (opt_batch < 2)
                opt_batch = 2;
        if (opt_batch > 48)
                opt_batch = 48;
        t_backend();
        if (fcntl(BAD_FD, F_GETFD) >= 0)
                t_fail("fd %d is open: it is the bad fd", BAD_FD);

        /* the data file: DATA_SIZE known bytes, read-only */
        char path[512];
        int w = t_tmpfile("data", O_RDWR, path, sizeof(path));
        t_fill(data_buf, DATA_SIZE, 0x5eed);
        if (pwrite(w, data_buf, DATA_SIZE, 0) != DATA_SIZE)
                t_fail("pwrite: %m");
        close(w);
        data_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (data_fd < 0)
                t_fail("open %s: %m", path);
        wfile_fd = t_tmpfile("written", O_RDWR, NULL, 0);
        fixbuf = aligned_alloc(4096, (size_t) MAX_SQES * 4096);
        if (!fixbuf)
                t_fail("out of memory");

        int failed = 0, model_bad = 0;
        for (uint64_t s = seed; s < seed + nseeds; s++)
                failed |= run_seed(s, &model_bad);
        printf("end\n");
        fflush(stdout);
        if (model_bad)
                fprintf(stderr, "difftest: results differ from the model (see above)\n");
        return failed ? T_EXIT_FAIL : T_EXIT_PASS;
}
