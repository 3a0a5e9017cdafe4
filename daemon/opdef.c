/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The opcode table. Indexed by IORING_OP_*; designated initialisers so that
 * the position of an entry is its opcode. Opcodes newer than Debian's uapi
 * header are named by number.
 */

#include <errno.h>
#include <stddef.h>

#include "cancel.h"
#include "nop.h"
#include "io-poll.h"
#include "kbuf.h"
#include "opdef.h"
#include "rsrc.h"
#include "rw.h"
#include "sync.h"
#include "timeout.h"

const struct io_issue_def io_issue_defs[URINGD_IORING_OP_LAST] = {
        [IORING_OP_NOP] = {
                .iopoll = 1,
                .prep = io_nop_prep,
                .issue = io_nop,
        },
        [IORING_OP_READV] = {
                .buffer_select = 1,
                .iopoll = 1,
                .pollin = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_readv,
                .issue = io_read,
        },
        [IORING_OP_WRITEV] = {
                .hash_reg_file = 1,
                .iopoll = 1,
                .pollout = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_writev,
                .issue = io_write,
        },
        [IORING_OP_FSYNC] = {
                .needs_file = 1,
                .always_async = 1,
                .prep = io_fsync_prep,
                .issue = io_fsync,
        },
        [IORING_OP_READ_FIXED] = {
                .iopoll = 1,
                .pollin = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_read_fixed,
                .issue = io_read,
        },
        [IORING_OP_WRITE_FIXED] = {
                .hash_reg_file = 1,
                .iopoll = 1,
                .pollout = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_write_fixed,
                .issue = io_write,
        },
        [IORING_OP_POLL_ADD] = {
                .needs_file = 1,
                .loop_only = 1,
                .prep = io_poll_add_prep,
                .issue = io_poll_add,
        },
        [IORING_OP_POLL_REMOVE] = {
                .loop_only = 1,
                .prep = io_poll_remove_prep,
                .issue = io_poll_remove,
        },
        [IORING_OP_TIMEOUT] = {
                .loop_only = 1,
                .prep = io_timeout_prep,
                .issue = io_timeout,
        },
        [IORING_OP_TIMEOUT_REMOVE] = {
                .loop_only = 1,
                .prep = io_timeout_remove_prep,
                .issue = io_timeout_remove,
        },
        [IORING_OP_ASYNC_CANCEL] = {
                .loop_only = 1,
                .prep = io_async_cancel_prep,
                .issue = io_async_cancel,
        },
        [IORING_OP_LINK_TIMEOUT] = {
                .loop_only = 1,
                .prep = io_link_timeout_prep,
                .issue = io_no_issue,
        },
        [IORING_OP_FILES_UPDATE] = {
                /* the fixed-file table belongs to the event loop */
                .loop_only = 1,
                .prep = io_files_update_prep,
                .issue = io_files_update_issue,
        },
        [IORING_OP_PROVIDE_BUFFERS] = {
                /* buffer groups belong to the event loop */
                .loop_only = 1,
                .iopoll = 1,
                .prep = io_provide_buffers_prep,
                .issue = io_provide_buffers,
        },
        [IORING_OP_REMOVE_BUFFERS] = {
                .loop_only = 1,
                .iopoll = 1,
                .prep = io_remove_buffers_prep,
                .issue = io_remove_buffers,
        },
        [IORING_OP_SYNC_FILE_RANGE] = {
                .needs_file = 1,
                .always_async = 1,
                .prep = io_sfr_prep,
                .issue = io_sync_file_range,
        },
        [IORING_OP_READ] = {
                .buffer_select = 1,
                .iopoll = 1,
                .pollin = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_read,
                .issue = io_read,
        },
        [IORING_OP_WRITE] = {
                .hash_reg_file = 1,
                .iopoll = 1,
                .pollout = 1,
                .needs_file = 1,
                .unbound_nonreg_file = 1,
                .ioprio = 1,
                .prep = io_prep_write,
                .issue = io_write,
        },
};

const struct io_cold_def io_cold_defs[URINGD_IORING_OP_LAST] = {
        [IORING_OP_NOP] = { .name = "NOP" },
        [IORING_OP_READV] = { .name = "READV", .cleanup = io_readv_writev_cleanup },
        [IORING_OP_WRITEV] = { .name = "WRITEV", .cleanup = io_readv_writev_cleanup },
        [IORING_OP_FSYNC] = { .name = "FSYNC" },
        [IORING_OP_READ_FIXED] = { .name = "READ_FIXED" },
        [IORING_OP_WRITE_FIXED] = { .name = "WRITE_FIXED" },
        [IORING_OP_POLL_ADD] = { .name = "POLL_ADD", .cleanup = io_poll_cleanup },
        [IORING_OP_POLL_REMOVE] = { .name = "POLL_REMOVE" },
        [IORING_OP_SYNC_FILE_RANGE] = { .name = "SYNC_FILE_RANGE" },
        [IORING_OP_SENDMSG] = { .name = "SENDMSG" },
        [IORING_OP_RECVMSG] = { .name = "RECVMSG" },
        [IORING_OP_TIMEOUT] = { .name = "TIMEOUT", .cleanup = io_timeout_cleanup },
        [IORING_OP_TIMEOUT_REMOVE] = { .name = "TIMEOUT_REMOVE" },
        [IORING_OP_ACCEPT] = { .name = "ACCEPT" },
        [IORING_OP_ASYNC_CANCEL] = { .name = "ASYNC_CANCEL" },
        [IORING_OP_LINK_TIMEOUT] = { .name = "LINK_TIMEOUT", .cleanup = io_timeout_cleanup },
        [IORING_OP_CONNECT] = { .name = "CONNECT" },
        [IORING_OP_FALLOCATE] = { .name = "FALLOCATE" },
        [IORING_OP_OPENAT] = { .name = "OPENAT" },
        [IORING_OP_CLOSE] = { .name = "CLOSE" },
        [IORING_OP_FILES_UPDATE] = { .name = "FILES_UPDATE" },
        [IORING_OP_STATX] = { .name = "STATX" },
        [IORING_OP_READ] = { .name = "READ" },
        [IORING_OP_WRITE] = { .name = "WRITE" },
        [IORING_OP_FADVISE] = { .name = "FADVISE" },
        [IORING_OP_MADVISE] = { .name = "MADVISE" },
        [IORING_OP_SEND] = { .name = "SEND" },
        [IORING_OP_RECV] = { .name = "RECV" },
        [IORING_OP_OPENAT2] = { .name = "OPENAT2" },
        [IORING_OP_EPOLL_CTL] = { .name = "EPOLL_CTL" },
        [IORING_OP_SPLICE] = { .name = "SPLICE" },
        [IORING_OP_PROVIDE_BUFFERS] = { .name = "PROVIDE_BUFFERS" },
        [IORING_OP_REMOVE_BUFFERS] = { .name = "REMOVE_BUFFERS" },
        [IORING_OP_TEE] = { .name = "TEE" },
        [IORING_OP_SHUTDOWN] = { .name = "SHUTDOWN" },
        [IORING_OP_RENAMEAT] = { .name = "RENAMEAT" },
        [IORING_OP_UNLINKAT] = { .name = "UNLINKAT" },
        [IORING_OP_MKDIRAT] = { .name = "MKDIRAT" },
        [IORING_OP_SYMLINKAT] = { .name = "SYMLINKAT" },
        [IORING_OP_LINKAT] = { .name = "LINKAT" },
        [IORING_OP_MSG_RING] = { .name = "MSG_RING" },
        [IORING_OP_FSETXATTR] = { .name = "FSETXATTR" },
        [IORING_OP_SETXATTR] = { .name = "SETXATTR" },
        [IORING_OP_FGETXATTR] = { .name = "FGETXATTR" },
        [IORING_OP_GETXATTR] = { .name = "GETXATTR" },
        [IORING_OP_SOCKET] = { .name = "SOCKET" },
        [IORING_OP_URING_CMD] = { .name = "URING_CMD" },
        [IORING_OP_SEND_ZC] = { .name = "SEND_ZC" },
        [IORING_OP_SENDMSG_ZC] = { .name = "SENDMSG_ZC" },
        [49] = { .name = "READ_MULTISHOT" },
        [50] = { .name = "WAITID" },
        [51] = { .name = "FUTEX_WAIT" },
        [52] = { .name = "FUTEX_WAKE" },
        [53] = { .name = "FUTEX_WAITV" },
        [54] = { .name = "FIXED_FD_INSTALL" },
        [55] = { .name = "FTRUNCATE" },
        [56] = { .name = "BIND" },
        [57] = { .name = "LISTEN" },
        [58] = { .name = "RECV_ZC" },
        [59] = { .name = "EPOLL_WAIT" },
        [60] = { .name = "READV_FIXED" },
        [61] = { .name = "WRITEV_FIXED" },
        [62] = { .name = "PIPE" },
};

/* A LINK_TIMEOUT is never issued: its head arms it (timeout.c). */
int io_no_issue(struct io_kiocb *req, unsigned issue_flags) {
        return -ECANCELED;
}

bool io_op_supported(unsigned opcode) {
        return opcode < URINGD_IORING_OP_LAST && io_issue_defs[opcode].prep != NULL;
}

const char *io_op_name(unsigned opcode) {
        if (opcode < URINGD_IORING_OP_LAST && io_cold_defs[opcode].name)
                return io_cold_defs[opcode].name;
        return "INVALID";
}

int io_uring_optable_init(void) {
        for (unsigned i = 0; i < URINGD_IORING_OP_LAST; i++) {
                if (!io_cold_defs[i].name)
                        return -EINVAL;
                if (!io_issue_defs[i].prep != !io_issue_defs[i].issue)
                        return -EINVAL;
        }
        return 0;
}
