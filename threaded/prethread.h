/* prethread — threaded --pool N: N threads created at start-up instead of one
 * per connection (UNP's "prethreaded" servers). How a connection reaches a
 * pool thread is --pool-mode:
 *   accept-lock  every pool thread calls accept() itself, one at a time under
 *                a mutex (UNP serv07);
 *   queue        the main thread accepts and puts the socket in a bounded
 *                queue the pool threads take from (CS:APP sbuf, UNP serv08). */
#ifndef THREADED_PRETHREAD_H
#define THREADED_PRETHREAD_H

#include <stdbool.h>

#include "server.h"

/* Stats slots: one per pool thread, plus the accepting main thread in queue mode. */
static inline int prethread_slots(int threads, bool queue)
{
    return threads + (queue ? 1 : 0);
}

/* Serve until a stop is requested, then end the pool (bounded) and return. */
void prethread_run(struct server *server, int threads, bool queue);

#endif
