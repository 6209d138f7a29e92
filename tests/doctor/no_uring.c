/* no_uring — LD_PRELOAD shim: a machine where io_uring cannot be had. Every
 * ring creation through liburing fails with ENOSYS (a kernel without io_uring,
 * or a seccomp filter: Docker's default profile), or with NO_URING_ERRNO=EPERM
 * (sysctl kernel.io_uring_disabled). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

static int refusal(void)
{
    const char *name = getenv("NO_URING_ERRNO");
    return name != NULL && strcmp(name, "EPERM") == 0 ? -EPERM : -ENOSYS;
}

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
    (void)entries, (void)ring, (void)p;
    return refusal();
}

int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
    (void)entries, (void)ring, (void)flags;
    return refusal();
}
