/* live — the connections a threaded server is serving right now, so the main
 * thread can (1) cap them (--max-conns), (2) end the idle ones when asked to
 * stop, and (3) wait, bounded, for the rest to finish. Threads are detached,
 * so this count is how the main thread "reaps" them. */
#ifndef THREADED_LIVE_H
#define THREADED_LIVE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* After a stop request, how long in-flight responses get to finish. */
enum { LIVE_DRAIN_MS = 5000 };

struct live_set {
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t changed; /* a slot was released */
    int capacity;
    int count;     /* slots in use */
    int *fds;      /* [capacity]: the socket slot i serves, or -1 */
    bool *used;    /* [capacity] */
    bool stopping; /* set once by the main thread */
};

/* Now plus milliseconds on the monotonic clock: the deadline of a timed wait
 * on a condition variable made with pthread_condattr_setclock(CLOCK_MONOTONIC). */
struct timespec live_deadline(int milliseconds);

/* Returns 0, or -1 with errno ENOMEM (nothing left allocated). */
int live_init(struct live_set *set, int capacity);

/* Take a free slot, waiting while all are used. Returns the slot, or -1 once
 * live_stop() was called or a stop was requested (checked twice a second). */
int live_reserve(struct live_set *set);
/* The socket the slot now serves (-1: none between connections). */
void live_set_fd(struct live_set *set, int slot, int fd);
void live_release(struct live_set *set, int slot);

/* No more reservations; every connection waiting for a request ends at once. */
void live_stop(struct live_set *set);
bool live_stopping(struct live_set *set);
/* Wait until every slot is released or milliseconds pass. Returns the count left. */
int live_wait_empty(struct live_set *set, int milliseconds);

#endif
