/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registered buffers and files: WRITE_FIXED/READ_FIXED inside registered
 * buffers (at their start and in their middle), IOSQE_FIXED_FILE on a sparse
 * file table, FILES_UPDATE (set and clear a slot), and the same requests
 * after UNREGISTER_FILES / UNREGISTER_BUFFERS.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

#define BUFSZ 65536

static struct io_uring ring;

static struct io_uring_cqe run(struct io_uring_sqe *sqe, uint64_t ud) {
        sqe->user_data = ud;
        t_submit_n(&ring, 1);
        struct io_uring_cqe cqe = t_wait_one(&ring);
        t_assert(cqe.user_data == ud, "user_data mismatch");
        return cqe;
}

static void line(const char *what, int r) {
        char b[32];
        printf("%-40s %s\n", what, t_res(r, b));
}

int main(void) {
        struct io_uring_sqe *sqe;
        struct io_uring_cqe cqe;
        unsigned char *buf0, *buf1, expect[BUFSZ];
        int fa, fb, fc, r;

        t_backend();
        t_ring_init(&ring, 8, NULL);

        /* Two page-aligned buffers, the second from an anonymous mapping. */
        t_assert(posix_memalign((void **) &buf0, 4096, BUFSZ) == 0, "posix_memalign");
        buf1 = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t_assert(buf1 != MAP_FAILED, "mmap: %m");
        t_fill(buf0, BUFSZ, 5);
        memset(buf1, 0, BUFSZ);
        struct iovec iovs[2] = { { buf0, BUFSZ }, { buf1, BUFSZ } };
        line("register buffers", io_uring_register_buffers(&ring, iovs, 2));

        fa = t_tmpfile("a", O_RDWR | O_TRUNC, NULL, 0);
        fb = t_tmpfile("b", O_RDWR | O_TRUNC, NULL, 0);
        fc = t_tmpfile("c", O_RDWR | O_TRUNC, NULL, 0);
        int files[4] = { -1, fa, fb, -1 };
        line("register files [-1,a,b,-1]", io_uring_register_files(&ring, files, 4));

        /* WRITE_FIXED of all of buf0 to slot 1 (a). */
        sqe = t_get_sqe(&ring);
        io_uring_prep_write_fixed(sqe, 1, buf0, BUFSZ, 0, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 1);
        line("write_fixed buf0 -> slot1", cqe.res);

        /* READ_FIXED into the middle of buf1 from slot 1. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, 1, buf1 + 4096, 8192, 1000, 1);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 2);
        line("read_fixed slot1@1000 -> buf1+4096", cqe.res);
        bool ok = cqe.res == 8192 && !memcmp(buf1 + 4096, buf0 + 1000, 8192);
        for (int i = 0; i < 4096; i++)
                ok = ok && buf1[i] == 0 && buf1[4096 + 8192 + i] == 0;
        printf("read_fixed data %s\n", ok ? "matches, neighbours untouched" : "DIFFERS");
        t_assert(ok, "READ_FIXED data wrong");

        /* READ_FIXED up to the very last byte of buf1. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, 1, buf1 + BUFSZ - 100, 100, 0, 1);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 3);
        line("read_fixed ending at buffer end", cqe.res);
        t_assert(cqe.res == 100 && !memcmp(buf1 + BUFSZ - 100, buf0, 100), "tail read wrong");

        /* A plain READ with a fixed file; a fixed buffer with a normal fd. */
        memset(expect, 0, sizeof(expect));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 2, expect, 100, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 4);
        line("read slot2 (empty file)", cqe.res);
        sqe = t_get_sqe(&ring);
        io_uring_prep_write_fixed(sqe, fb, buf0 + 100, 1000, 0, 0);
        cqe = run(sqe, 5);
        line("write_fixed buf0+100 -> fd b", cqe.res);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 2, expect, 2000, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 6);
        line("read slot2 after write", cqe.res);
        printf("slot2 data %s\n", cqe.res == 1000 && !memcmp(expect, buf0 + 100, 1000) ? "matches" : "DIFFERS");

        /* Empty slots. */
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 0, expect, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("read empty slot0", run(sqe, 7).res);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 3, expect, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("read empty slot3", run(sqe, 8).res);

        /* FILES_UPDATE: c into slot 3, then clear slot 1. */
        line("files_update slot3 = c", io_uring_register_files_update(&ring, 3, &fc, 1));
        sqe = t_get_sqe(&ring);
        io_uring_prep_write(sqe, 3, "slot three", 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("write slot3", run(sqe, 9).res);
        char tbuf[16] = { 0 };
        r = (int) pread(fc, tbuf, sizeof(tbuf), 0);
        printf("file c holds \"%.*s\"\n", r > 0 ? r : 0, tbuf);

        int minus1 = -1;
        line("files_update slot1 = -1", io_uring_register_files_update(&ring, 1, &minus1, 1));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 1, expect, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("read cleared slot1", run(sqe, 10).res);

        /* Two slots at once, and the registered file survives close(). */
        int two[2] = { fa, fc };
        line("files_update slots 0,1 = a,c", io_uring_register_files_update(&ring, 0, two, 2));
        close(fa);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 0, expect, 50, 1000);
        sqe->flags |= IOSQE_FIXED_FILE;
        cqe = run(sqe, 11);
        line("read slot0 after close(a)", cqe.res);
        printf("slot0 data %s\n", cqe.res == 50 && !memcmp(expect, buf0 + 1000, 50) ? "matches" : "DIFFERS");

        /* Unregister files: fixed-file requests now fail. */
        line("unregister files", io_uring_unregister_files(&ring));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read(sqe, 0, expect, 10, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("read slot0 after unregister", run(sqe, 12).res);

        /* Register again, smaller, and use it. */
        int one[1] = { fb };
        line("register files [b]", io_uring_register_files(&ring, one, 1));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, 0, buf1, 1000, 0, 1);
        sqe->flags |= IOSQE_FIXED_FILE;
        line("read_fixed slot0(b) -> buf1", run(sqe, 13).res);
        line("unregister files", io_uring_unregister_files(&ring));

        /* Unregister buffers: fixed-buffer requests now fail. */
        line("unregister buffers", io_uring_unregister_buffers(&ring));
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fb, buf1, 100, 0, 0);
        line("read_fixed after unregister", run(sqe, 14).res);

        /* Register a buffer again: the new one is used. */
        struct iovec again = { buf1 + 8192, 4096 };
        line("register buffers [buf1+8192]", io_uring_register_buffers(&ring, &again, 1));
        memset(buf1, 0, BUFSZ);
        sqe = t_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, fb, buf1 + 8192, 4096, 0, 0);
        cqe = run(sqe, 15);
        line("read_fixed into re-registered buffer", cqe.res);
        printf("re-registered data %s\n", cqe.res == 1000 && !memcmp(buf1 + 8192, buf0 + 100, 1000) ? "matches" : "DIFFERS");

        io_uring_queue_exit(&ring);
        return T_EXIT_PASS;
}
