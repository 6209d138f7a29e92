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

/* DOC: bufpool-spares
 * How many free buffers a pool keeps for reuse: as many as are lent now, and
 * at least BUFPOOL_FREE_MAX; beyond that a returned buffer is unmapped, and so
 * are the spares the shrinking count no longer allows.
 * Why a bound: a burst of slow clients makes the pool lend many buffers at
 * once, and keeping all of them afterwards would pin that peak in memory for
 * good (48 KiB each); bound by what is lent, the spares shrink back to the
 * minimum as the burst's buffers come home. Why a minimum of 64: the number
 * in hand swings within each loop round when clients pipeline (a connection
 * keeps its buffer while its answers wait for the client to read them), and
 * every swing beyond the spares cost an mmap, a munmap and a fresh buffer's
 * page faults. With 64 clients pipelining 2 requests each, the minimum of 16
 * this pool had cost 0.1 mmap and 0.4 page faults per request and put
 * multiplex at 26-29 µs of CPU per request against 9-10 µs without
 * pipelining; with 64, no mmap in the run and 10.6 µs (docs/common.md). Idle,
 * the minimum pins at most 3 MiB of mappings per loop, of which only the
 * pages requests touched are memory. */
enum { BUFPOOL_FREE_MAX = 64 };

struct bufpool {
    size_t size; /* bytes per buffer, a whole number of pages */
    void *free;  /* the free buffers, chained through their first bytes */
    int free_count;
    int lent;     /* out now: for tests and the chapters' figures */
    int free_max; /* spares kept at least (DOC: bufpool-spares):
                   * BUFPOOL_FREE_MAX, unless the owner sets more (a
                   * completion loop holds a buffer per request across a turn
                   * and gives them all back at its end: coroutine/uring.c) */
};

/* An empty pool of buffers of at least size bytes. */
void bufpool_init(struct bufpool *pool, size_t size);
/* A buffer of pool->size bytes, or NULL (errno ENOMEM). Its contents are
 * undefined (a recycled one holds its last borrower's bytes): a borrower reads
 * only what its own lengths say it wrote, and keeps every count and offset in
 * its own zeroed state (a struct conn, a task), never in the buffer. Zeroing
 * 48 KiB per request would cost more than the request. */
void *bufpool_get(struct bufpool *pool);
/* Give back a buffer that bufpool_get lent: kept as a spare, or unmapped
 * (DOC: bufpool-spares). */
void bufpool_put(struct bufpool *pool, void *buffer);
/* Unmap every free buffer (at the end of a loop). */
void bufpool_trim(struct bufpool *pool);

#endif
