/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring_enter and io_uring_register called wrongly, with raw syscalls:
 * bad and non-ring fds, unknown flags and opcodes, double registration,
 * unregistering nothing, bad arguments. Also: a dup() of the ring fd is the
 * same ring, a closed ring fd is EBADF, a ring fd cannot be read, written,
 * or passed over a unix socket. Each line prints the errno name.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

static long sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void *arg,
                      size_t argsz) {
        return syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
}

static long sys_register(int fd, unsigned op, const void *arg, unsigned nr) {
        return syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static void show(const char *what, long r) {
        if (r < 0)
                printf("%-50s -%s\n", what, t_errname(errno));
        else
                printf("%-50s %ld\n", what, r);
}

/* A registration that should fail: print it, and if it succeeded after all,
 * undo it quietly so that the lines after it still test what they say. */
static void show_refused(int fd, const char *what, long r, unsigned unregister_op) {
        show(what, r);
        if (r >= 0)
                syscall(__NR_io_uring_register, fd, unregister_op, NULL, 0);
}

int main(void) {
        struct io_uring ring;
        static unsigned char buf[8192];
        int fd, nullfd, pfd[2], efd;

        t_backend();
        t_ring_init(&ring, 8, NULL);
        fd = ring.ring_fd;
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
        t_assert(nullfd >= 0 && pipe2(pfd, O_CLOEXEC) == 0, "open: %m");
        int file = t_tmpfile("f", O_RDWR | O_TRUNC, NULL, 0);
        efd = eventfd(0, EFD_CLOEXEC);
        t_assert(efd >= 0, "eventfd: %m");

        /* enter */
        show("enter fd -1", sys_enter(-1, 0, 0, 0, NULL, 0));
        show("enter fd 9999", sys_enter(9999, 0, 0, 0, NULL, 0));
        show("enter on /dev/null", sys_enter(nullfd, 0, 0, 0, NULL, 0));
        show("enter on a pipe", sys_enter(pfd[0], 0, 0, 0, NULL, 0));
        show("enter on a regular file", sys_enter(file, 0, 0, 0, NULL, 0));
        show("enter nothing", sys_enter(fd, 0, 0, 0, NULL, 0));
        show("enter flag bit 31", sys_enter(fd, 0, 0, 1u << 31, NULL, 0));
        show("enter flag bit 20", sys_enter(fd, 0, 0, 1u << 20, NULL, 0));
        show("enter GETEVENTS min 0", sys_enter(fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0));
        show("enter to_submit 5 with empty SQ", sys_enter(fd, 5, 0, 0, NULL, 0));
        show("enter SQ_WAKEUP without SQPOLL", sys_enter(fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0));
        show("enter SQ_WAIT without SQPOLL", sys_enter(fd, 0, 0, IORING_ENTER_SQ_WAIT, NULL, 0));
        /* With a wait to do, the sigmask's size is checked (min_complete 0
         * would return before looking at it). */
        sigset_t mask;
        sigemptyset(&mask);
        show("enter GETEVENTS min 1, sigmask size 4", sys_enter(fd, 0, 1, IORING_ENTER_GETEVENTS, &mask, 4));

        /* register: fds */
        show("register PROBE fd -1", sys_register(-1, IORING_REGISTER_PROBE, buf, 4));
        show("register PROBE fd 9999", sys_register(9999, IORING_REGISTER_PROBE, buf, 4));
        show("register PROBE on /dev/null", sys_register(nullfd, IORING_REGISTER_PROBE, buf, 4));
        show("register PROBE on a regular file", sys_register(file, IORING_REGISTER_PROBE, buf, 4));
        show("unregister buffers on a pipe", sys_register(pfd[1], IORING_UNREGISTER_BUFFERS, NULL, 0));

        /* register: opcodes */
        show("register opcode 250", sys_register(fd, 250, NULL, 0));
        show("register opcode 0x7fffffff", sys_register(fd, 0x7fffffff, NULL, 0));

        /* unregister nothing */
        show("unregister buffers, none", sys_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0));
        show("unregister files, none", sys_register(fd, IORING_UNREGISTER_FILES, NULL, 0));
        show("unregister eventfd, none", sys_register(fd, IORING_UNREGISTER_EVENTFD, NULL, 0));
        int one = file;
        struct io_uring_files_update upd = { .offset = 0, .fds = (uint64_t) (uintptr_t) &one };
        show("files update, no table", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 1));

        /* buffers */
        struct iovec iov = { buf, 4096 };
        show_refused(fd, "register buffers nr 0", sys_register(fd, IORING_REGISTER_BUFFERS, &iov, 0),
                     IORING_UNREGISTER_BUFFERS);
        show_refused(fd, "register buffers NULL array", sys_register(fd, IORING_REGISTER_BUFFERS, NULL, 1),
                     IORING_UNREGISTER_BUFFERS);
        long pg = sysconf(_SC_PAGESIZE);
        void *hole = mmap(NULL, (size_t) pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(hole != MAP_FAILED, "mmap: %m");
        munmap(hole, (size_t) pg);
        struct iovec hiov = { hole, (size_t) pg };
        show_refused(fd, "register buffers, unmapped memory", sys_register(fd, IORING_REGISTER_BUFFERS, &hiov, 1),
                     IORING_UNREGISTER_BUFFERS);
        struct iovec big = { buf, (1UL << 30) + 4096 };
        show_refused(fd, "register buffers, 1 GiB + 4 KiB", sys_register(fd, IORING_REGISTER_BUFFERS, &big, 1),
                     IORING_UNREGISTER_BUFFERS);
        show_refused(fd, "register buffers nr 16385", sys_register(fd, IORING_REGISTER_BUFFERS, &iov, 16385),
                     IORING_UNREGISTER_BUFFERS);
        show("register buffers", sys_register(fd, IORING_REGISTER_BUFFERS, &iov, 1));
        show("register buffers again", sys_register(fd, IORING_REGISTER_BUFFERS, &iov, 1));
        show("unregister buffers with nr 1", sys_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 1));
        show("unregister buffers", sys_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0));
        show("unregister buffers again", sys_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0));

        /* files */
        int files[3] = { file, nullfd, -1 };
        int badfiles[2] = { file, 9999 };
        show_refused(fd, "register files nr 0", sys_register(fd, IORING_REGISTER_FILES, files, 0),
                     IORING_UNREGISTER_FILES);
        show_refused(fd, "register files NULL array", sys_register(fd, IORING_REGISTER_FILES, NULL, 2),
                     IORING_UNREGISTER_FILES);
        show_refused(fd, "register files with fd 9999", sys_register(fd, IORING_REGISTER_FILES, badfiles, 2),
                     IORING_UNREGISTER_FILES);
        int ringself[1] = { fd };
        show_refused(fd, "register files with the ring itself", sys_register(fd, IORING_REGISTER_FILES, ringself, 1),
                     IORING_UNREGISTER_FILES);
        show("register files", sys_register(fd, IORING_REGISTER_FILES, files, 3));
        show("register files again", sys_register(fd, IORING_REGISTER_FILES, files, 3));
        upd.offset = 3;
        show("files update at 3 (out of range)", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 1));
        upd.offset = 2;
        int two[2] = { file, file };
        upd.fds = (uint64_t) (uintptr_t) two;
        show("files update 2 entries at 2", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 2));
        show("files update at 2", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 1));
        int bad = 9999;
        upd.fds = (uint64_t) (uintptr_t) &bad;
        show("files update with fd 9999", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 1));
        upd.resv = 1;
        upd.fds = (uint64_t) (uintptr_t) &one;
        show("files update with resv != 0", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 1));
        upd.resv = 0;
        show("files update, NULL arg", sys_register(fd, IORING_REGISTER_FILES_UPDATE, NULL, 1));
        show("files update, nr 0", sys_register(fd, IORING_REGISTER_FILES_UPDATE, &upd, 0));
        show("unregister files with nr 1", sys_register(fd, IORING_UNREGISTER_FILES, NULL, 1));
        show("unregister files", sys_register(fd, IORING_UNREGISTER_FILES, NULL, 0));
        show("unregister files again", sys_register(fd, IORING_UNREGISTER_FILES, NULL, 0));

        /* eventfd */
        show_refused(fd, "register eventfd nr 0", sys_register(fd, IORING_REGISTER_EVENTFD, &efd, 0),
                     IORING_UNREGISTER_EVENTFD);
        show_refused(fd, "register eventfd nr 2", sys_register(fd, IORING_REGISTER_EVENTFD, &efd, 2),
                     IORING_UNREGISTER_EVENTFD);
        show_refused(fd, "register eventfd NULL", sys_register(fd, IORING_REGISTER_EVENTFD, NULL, 1),
                     IORING_UNREGISTER_EVENTFD);
        show_refused(fd, "register eventfd with a pipe", sys_register(fd, IORING_REGISTER_EVENTFD, &pfd[0], 1),
                     IORING_UNREGISTER_EVENTFD);
        show("register eventfd", sys_register(fd, IORING_REGISTER_EVENTFD, &efd, 1));
        show("register eventfd again", sys_register(fd, IORING_REGISTER_EVENTFD, &efd, 1));
        show("register eventfd_async over it", sys_register(fd, IORING_REGISTER_EVENTFD_ASYNC, &efd, 1));
        show("unregister eventfd with nr 1", sys_register(fd, IORING_UNREGISTER_EVENTFD, NULL, 1));
        show("unregister eventfd", sys_register(fd, IORING_UNREGISTER_EVENTFD, NULL, 0));
        show("unregister eventfd again", sys_register(fd, IORING_UNREGISTER_EVENTFD, NULL, 0));

        /* probe */
        show("probe nr 0", sys_register(fd, IORING_REGISTER_PROBE, buf, 0));
        memset(buf, 0, sizeof(buf));
        long r = sys_register(fd, IORING_REGISTER_PROBE, buf, 8);
        show("probe nr 8", r);

        /* A dup of the ring fd is the same ring. */
        int dfd = dup(fd);
        t_assert(dfd >= 0, "dup: %m");
        struct io_uring_sqe *sqe = t_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        sqe->user_data = 42;
        /* io_uring_submit would enter through ring_fd: publish the tail by
         * hand and enter through the dup. */
        io_uring_smp_store_release(ring.sq.ktail, ring.sq.sqe_tail);
        show("enter via dup(ring fd), submit 1 wait 1", sys_enter(dfd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0));
        ring.sq.sqe_head = ring.sq.sqe_tail;
        struct io_uring_cqe c = t_wait_one(&ring);
        t_print_cqe("  nop via dup", &c);
        memset(buf, 0, sizeof(buf));
        show("register PROBE via dup", sys_register(dfd, IORING_REGISTER_PROBE, buf, 4));

        /* The ring file has no read or write. */
        char rbuf[64];
        show("read() of a ring fd", read(dfd, rbuf, sizeof(rbuf)));
        show("write() of a ring fd", write(dfd, rbuf, sizeof(rbuf)));

        /* The kernel refuses to pass a ring fd over a unix socket. */
        int sp[2];
        t_assert(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair: %m");
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char byte = 'x';
        struct iovec biov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &biov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &dfd, sizeof(int));
        show("sendmsg of a ring fd (SCM_RIGHTS)", sendmsg(sp[0], &mh, 0));
        int evfd = eventfd(0, EFD_CLOEXEC);
        memcpy(CMSG_DATA(cm), &evfd, sizeof(int));
        show("sendmsg of an eventfd (SCM_RIGHTS)", sendmsg(sp[0], &mh, 0));
        close(evfd);
        close(sp[0]);
        close(sp[1]);

        /* Closed ring fds. */
        close(dfd);
        show("enter on the closed dup", sys_enter(dfd, 0, 0, 0, NULL, 0));
        io_uring_queue_exit(&ring);
        show("enter after io_uring_queue_exit", sys_enter(fd, 0, 0, 0, NULL, 0));
        show("register after io_uring_queue_exit", sys_register(fd, IORING_REGISTER_PROBE, buf, 4));
        return T_EXIT_PASS;
}
