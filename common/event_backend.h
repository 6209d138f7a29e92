/* event_backend — what each backend file provides to event.c (Redis ae's
 * aeApi* functions). Private to the event module: servers include event.h. */
#ifndef EVENT_BACKEND_H
#define EVENT_BACKEND_H

#include <signal.h>
#include <stdbool.h>

struct event_fired {
    int fd;
    int ready; /* EVENT_READ | EVENT_WRITE; error/hang-up sets both */
};

struct event_backend {
    const char *name;
    int max_capacity; /* descriptors it can watch at most (select: FD_SETSIZE) */
    /* close() takes a descriptor out of the kernel's watch list by itself
     * (epoll), so event_close need not ask the backend first. */
    bool close_forgets;
    /* State for descriptors 0 .. capacity-1, or NULL with errno. */
    void *(*create)(int capacity);
    void (*destroy)(void *state);
    /* fd was watched for old_events (0: not at all), now for new_events (0: not
     * at all). 0, or -1 with errno. */
    int (*update)(void *state, int fd, int old_events, int new_events);
    /* Wait at most timeout_ms (-1: no limit) with the signal mask set to mask
     * for the wait only, atomically (NULL: the mask as it is), and fill
     * fired[0 .. n-1], n <= capacity. Returns n, or -1 with errno (EINTR: a signal). */
    int (*wait)(void *state, int timeout_ms, const sigset_t *mask, struct event_fired *fired);
};

extern const struct event_backend event_backend_select;
extern const struct event_backend event_backend_poll;
extern const struct event_backend event_backend_epoll;

#endif
