/* old_uring — LD_PRELOAD shim: io_uring as a kernel of 5.11 to 5.18 has it. The
 * setup flags IORING_SETUP_SINGLE_ISSUER and IORING_SETUP_DEFER_TASKRUN (6.1)
 * are refused with EINVAL, and so is a ring of provided buffers (5.19); the
 * ring itself works. (Multishot accept and IORING_RECVSEND_POLL_FIRST, also
 * 5.19, are flags inside a submission: not faked here.) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
    if (p->flags & (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN))
        return -EINVAL;
    int (*real)(unsigned, struct io_uring *, struct io_uring_params *) =
        (int (*)(unsigned, struct io_uring *, struct io_uring_params *))dlsym(
            RTLD_NEXT, "io_uring_queue_init_params");
    return real(entries, ring, p);
}

int io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg,
                               unsigned int flags)
{
    (void)ring, (void)reg, (void)flags;
    return -EINVAL;
}
