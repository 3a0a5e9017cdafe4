/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "kbuf.h"
#include "req.h"
#include "ring.h"
#include "task.h"
#include "uringd/macro.h"

#define MAX_BIDS_PER_BGID (1U << 16)
/* The kernel charges provided buffers to the app's memory cgroup; we hold
 * them in ours, so an app gets at most this many per ring (-ENOMEM). */
#define MAX_BUFFERS_PER_RING (1U << 20)

struct io_buffer_list {
        struct list_head node;          /* ctx->buffer_lists */
        struct list_head bufs;          /* struct io_buffer, first out first */
        uint16_t bgid;
};

struct io_provide_buf {
        uint64_t addr;
        uint32_t len;
        uint32_t nbufs;
        uint16_t bgid;
        uint16_t bid;
};

static struct io_buffer_list *io_buffer_get_list(struct io_ring_ctx *ctx, uint16_t bgid) {
        struct io_buffer_list *bl;

        list_for_each_entry(bl, &ctx->buffer_lists, node)
                if (bl->bgid == bgid)
                        return bl;
        return NULL;
}

int io_provide_buffers_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_provide_buf *p = io_kiocb_to_cmd(req, struct io_provide_buf);
        uint64_t size;
        uint32_t nbufs;

        if (sqe->rw_flags || sqe->splice_fd_in)
                return -EINVAL;
        nbufs = (uint32_t) sqe->fd;
        if (!nbufs || nbufs > MAX_BIDS_PER_BGID)
                return -E2BIG;
        p->nbufs = nbufs;
        p->addr = sqe->addr;
        p->len = sqe->len;
        if (!p->len)
                return -EINVAL;
        size = (uint64_t) p->len * nbufs;
        if (!io_user_range_ok(p->addr, size))
                return -EFAULT;
        p->bgid = sqe->buf_group;
        if (sqe->off > UINT16_MAX)
                return -E2BIG;
        if (sqe->off + nbufs > MAX_BIDS_PER_BGID)
                return -EINVAL;
        p->bid = (uint16_t) sqe->off;
        return 0;
}

int io_provide_buffers(struct io_kiocb *req, unsigned issue_flags) {
        struct io_provide_buf *p = io_kiocb_to_cmd(req, struct io_provide_buf);
        struct io_ring_ctx *ctx = req->ctx;
        struct io_buffer_list *bl = io_buffer_get_list(ctx, p->bgid);
        uint32_t added = 0;

        if (!bl) {
                bl = calloc(1, sizeof(*bl));
                if (!bl) {
                        io_req_set_fail(req);
                        io_req_set_res(req, -ENOMEM, 0);
                        return IOU_OK;
                }
                bl->bgid = p->bgid;
                list_init(&bl->bufs);
                list_add_tail(&bl->node, &ctx->buffer_lists);
        }
        for (; added < p->nbufs; added++) {
                struct io_buffer *b;

                if (ctx->nr_buffers >= MAX_BUFFERS_PER_RING || !(b = malloc(sizeof(*b))))
                        break;
                ctx->nr_buffers++;
                b->addr = p->addr + (uint64_t) added * p->len;
                b->len = p->len;
                b->bid = (uint16_t) (p->bid + added);
                b->bgid = p->bgid;
                list_add_tail(&b->node, &bl->bufs);
        }
        /* As the kernel: all or some is success, none is -ENOMEM. */
        if (!added) {
                io_req_set_fail(req);
                io_req_set_res(req, -ENOMEM, 0);
        } else
                io_req_set_res(req, 0, 0);
        return IOU_OK;
}

int io_remove_buffers_prep(struct io_kiocb *req, const struct io_uring_sqe *sqe) {
        struct io_provide_buf *p = io_kiocb_to_cmd(req, struct io_provide_buf);
        uint32_t nbufs;

        if (sqe->rw_flags || sqe->addr || sqe->len || sqe->off || sqe->splice_fd_in)
                return -EINVAL;
        nbufs = (uint32_t) sqe->fd;
        if (!nbufs || nbufs > MAX_BIDS_PER_BGID)
                return -EINVAL;
        p->nbufs = nbufs;
        p->bgid = sqe->buf_group;
        return 0;
}

/* Free up to @nr buffers of @bl from its head. Returns how many. */
static unsigned __io_remove_buffers(struct io_ring_ctx *ctx, struct io_buffer_list *bl, unsigned nr) {
        unsigned removed = 0;

        while (removed < nr && !list_empty(&bl->bufs)) {
                struct io_buffer *b = list_first_entry(&bl->bufs, struct io_buffer, node);
                list_del_init(&b->node);
                free(b);
                ctx->nr_buffers--;
                removed++;
        }
        return removed;
}

int io_remove_buffers(struct io_kiocb *req, unsigned issue_flags) {
        struct io_provide_buf *p = io_kiocb_to_cmd(req, struct io_provide_buf);
        struct io_buffer_list *bl = io_buffer_get_list(req->ctx, p->bgid);

        if (!bl) {
                io_req_set_fail(req);
                io_req_set_res(req, -ENOENT, 0);
                return IOU_OK;
        }
        io_req_set_res(req, (int32_t) __io_remove_buffers(req->ctx, bl, p->nbufs), 0);
        return IOU_OK;
}

uint64_t io_buffer_select(struct io_kiocb *req, uint64_t *len, int *err) {
        struct io_buffer_list *bl = io_buffer_get_list(req->ctx, req->buf_group);
        struct io_buffer *b;

        if (!bl || list_empty(&bl->bufs)) {
                *err = -ENOBUFS;
                return 0;
        }
        b = list_first_entry(&bl->bufs, struct io_buffer, node);
        list_del_init(&b->node);
        req->ctx->nr_buffers--;
        if (*len == 0 || *len > b->len)
                *len = b->len;
        req->kbuf = b;
        req->flags |= REQ_F_BUFFER_SELECTED;
        *err = 0;
        return b->addr;
}

void io_kbuf_recycle(struct io_kiocb *req) {
        struct io_buffer *b = req->kbuf;
        struct io_buffer_list *bl;

        if (!(req->flags & REQ_F_BUFFER_SELECTED))
                return;
        req->flags &= ~REQ_F_BUFFER_SELECTED;
        req->kbuf = NULL;
        bl = io_buffer_get_list(req->ctx, b->bgid);
        if (!bl) {
                free(b);
                return;
        }
        list_add(&b->node, &bl->bufs);
        req->ctx->nr_buffers++;
}

uint32_t io_put_kbuf(struct io_kiocb *req) {
        struct io_buffer *b = req->kbuf;
        uint32_t cflags;

        if (!(req->flags & REQ_F_BUFFER_SELECTED))
                return 0;
        cflags = IORING_CQE_F_BUFFER | ((uint32_t) b->bid << IORING_CQE_BUFFER_SHIFT);
        req->flags &= ~REQ_F_BUFFER_SELECTED;
        req->kbuf = NULL;
        free(b);
        return cflags;
}

void io_destroy_buffers(struct io_ring_ctx *ctx) {
        while (!list_empty(&ctx->buffer_lists)) {
                struct io_buffer_list *bl = list_first_entry(&ctx->buffer_lists, struct io_buffer_list, node);
                __io_remove_buffers(ctx, bl, UINT_MAX);
                list_del_init(&bl->node);
                free(bl);
        }
}
