/* fail_uring_wait — an LD_PRELOAD library for tests/eventloop/run.py, case
 * uring-wait-fails: every io_uring_submit_and_wait_timeout() fails with EIO, as
 * a ring the kernel can no longer serve would. coroutine --io uring must then
 * end with exit status 1 and one line naming the call, not serve on or exit 0. */
#include <errno.h>
#include <liburing.h>

int io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
                                     unsigned wait_nr, struct __kernel_timespec *ts,
                                     sigset_t *sigmask)
{
    (void)ring, (void)cqe_ptr, (void)wait_nr, (void)ts, (void)sigmask;
    return -EIO;
}
