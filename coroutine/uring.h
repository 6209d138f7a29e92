/* uring — the coroutine server's completion loop (--io uring): the same
 * coroutines and the same handler as the readiness loop (sched.c), but each
 * coroutine hands its receive, send, wait and sleep to the kernel through an
 * io_uring and yields until the completion comes back. One
 * io_uring_submit_and_wait per loop turn submits what every coroutine asked
 * for since the last one and collects what finished. docs/coroutine.md
 * ("Readiness and completion") tells the whole story. */
#ifndef COROUTINE_URING_H
#define COROUTINE_URING_H

#include <stddef.h>

#include "server.h"

/* Whether this process may make a ring at all: 0, or -1 with one line naming
 * the cause in error (size bytes): an old kernel, kernel.io_uring_disabled, a
 * seccomp filter. Call before listening, to fail early (exit status 2). */
int uring_available(char *error, size_t size);

/* One worker's loop: accept on listen_fd, serve every connection as a
 * coroutine, until a stop request; then stop accepting, interrupt the
 * coroutines waiting for a request, give the others drain_ms, and end what is
 * left. Exits 1 if the ring cannot be made (uring_available said yes, so only
 * when out of memory or locked pages). */
void uring_serve(struct server *server, int worker_id, int listen_fd, int drain_ms);

#endif
