/* bufpool — buffers lent to connections only while they have a request in hand.
 *
 * A keep-alive connection spends most of its life idle, waiting for a next
 * request that may never come. nginx gives an idle connection's buffers back
 * and takes fresh ones when bytes arrive; the event servers (multiplex,
 * coroutine) do the same with one pool per event loop: a connection borrows its
 * buffers when its socket becomes readable and returns them when it has
 * answered and nothing more is buffered. 10 000 idle connections then hold no
 * buffers at all, and the pool holds about as many as there are requests in
 * hand at once.
 *
 * Every buffer of a pool has the same size. One pool belongs to one thread (one
 * event loop): nothing here is locked. */
#ifndef BUFPOOL_H
#define BUFPOOL_H

#include <stddef.h>

/* Free buffers kept for reuse; beyond this many a returned buffer is unmapped.
 * Why a bound: a burst of slow clients makes the pool lend many buffers at
 * once, and keeping all of them afterwards would pin that peak in memory for
 * good (48 KiB each). Why not zero: under steady traffic a handful of requests
 * are in hand at once, and keeping that many spares saves an mmap, a munmap
 * and the page faults of a fresh buffer per request. */
enum { BUFPOOL_FREE_MAX = 16 };

struct bufpool {
    size_t size; /* bytes per buffer, a whole number of pages */
    void *free;  /* the free buffers, chained through their first bytes */
    int free_count;
    int lent;     /* out now: for tests and the chapters' figures */
    int free_max; /* spares kept: BUFPOOL_FREE_MAX, unless the owner sets
                   * more (a completion loop holds a buffer per request
                   * across a turn: coroutine/uring.c) */
};

/* An empty pool of buffers of at least size bytes. */
void bufpool_init(struct bufpool *pool, size_t size);
/* A buffer of pool->size bytes, or NULL (errno ENOMEM). Its contents are
 * undefined (a recycled one holds its last borrower's bytes): a borrower reads
 * only what its own lengths say it wrote, and keeps every count and offset in
 * its own zeroed state (a struct conn, a task), never in the buffer. Zeroing
 * 48 KiB per request would cost more than the request. */
void *bufpool_get(struct bufpool *pool);
/* Give back a buffer that bufpool_get lent. */
void bufpool_put(struct bufpool *pool, void *buffer);
/* Unmap every free buffer (at the end of a loop). */
void bufpool_trim(struct bufpool *pool);

#endif
