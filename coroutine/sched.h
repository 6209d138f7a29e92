/* sched — the coroutine scheduler: each connection is a coroutine running the
 * blocking servers' handler, http_serve_connection(), unchanged, on one event
 * loop. The io layer's wait hook turns "would block" into: watch the socket,
 * arm a timer for the deadline, yield to the loop. The loop resumes the
 * coroutine when the socket is ready (the call retries) or the timer fires
 * (the call times out). /lab/sleep is a timer and a yield.
 *
 * One scheduler per process: the io hooks are per process, and so is the
 * scheduler they reach. Nothing here is locked. */
#ifndef COROUTINE_SCHED_H
#define COROUTINE_SCHED_H

#include "bufpool.h"
#include "coro.h"
#include "event.h"
#include "event_server.h"
#include "io.h"
#include "list.h"
#include "server.h"

struct task; /* one connection: a coroutine, its timer */

struct scheduler {
    struct event_loop *loop;
    const struct server *server;
    struct worker_stats *stats;     /* this loop's slot */
    struct event_acceptor acceptor; /* the listening socket (common/event_server.c) */
    struct task *current;           /* the task running now; NULL in the loop */
    struct list tasks;              /* every live task, for the stop */
    int count;
    struct list free_tasks; /* finished ones, kept for the next */
    int free_count;
    struct bufpool buffers;        /* lent to the connections with a request in hand */
    struct event_timer idle_timer; /* the next look for long-idle stacks to release */
};

/* A connection idle (no request in hand, no buffers) this long gives the pages
 * of its stack below its idle frame back to the kernel (coro_release_stack). */
#ifndef SCHED_IDLE_RELEASE_MS
#define SCHED_IDLE_RELEASE_MS 1000
#endif

/* When to walk the idle tasks again (DOC: idle-stacks): when the one idle since
 * oldest_idle_since will be due, but not sooner than a tenth of the delay from
 * now. Both loops use it: this scheduler's timer and coroutine/uring.c's. */
int64_t sched_idle_next_walk(int64_t now_ms, int64_t oldest_idle_since);

/* One task of such a walk, idle since idle_since and not yet released: give its
 * stack's pages back (and set *released) if it has been idle long enough, else
 * keep the oldest idle_since still to come in *oldest (-1: none yet). */
void sched_idle_visit(struct coro *coro, int64_t idle_since, bool *released, int64_t now_ms,
                      int64_t *oldest);

/* wait: the socket and a deadline timer; sleep: a timer; close: unwatch, then
 * close. Install after sched_init. */
extern const struct io_hooks sched_io_hooks;

void sched_init(struct scheduler *scheduler, struct event_loop *loop, const struct server *server,
                struct worker_stats *stats);

/* The acceptor's callback: a coroutine for conn_fd, run at once as far as it goes. */
void sched_spawn(struct event_acceptor *acceptor, int conn_fd);

/* At a stop: resume every coroutine waiting to read, its read failing with
 * EINTR as a signal would fail a blocking one. The handler then ends the
 * connections with no request under way and finishes the others (their
 * answers say Connection: close). */
void sched_interrupt_readers(struct scheduler *scheduler);

/* After the drain: end what is left (each coroutine resumed once more, its
 * waits failing at once, so its handler releases the socket and any file it
 * holds), free the recycled tasks and stacks, uninstall the hooks. */
void sched_destroy(struct scheduler *scheduler);

#endif
