/* event_select — the select() backend. Two master fd_sets hold what is
 * watched; each wait copies them, because select() overwrites its arguments
 * with the answer. The wait is pselect(): select() that sets the signal mask
 * for the wait only (event.h's stop signals). Cost: every wait scans
 * descriptors 0 .. highest, in the kernel and again here, however few are
 * ready: O(highest fd) per wait. Limit: an fd_set is a fixed bitmap of
 * FD_SETSIZE (1024) bits, so a descriptor >= FD_SETSIZE cannot be watched at
 * all (event.c refuses it). */
#include <errno.h>
#include <stdlib.h>
#include <sys/select.h>

#include "event.h"
#include "event_backend.h"

struct select_state {
    fd_set read_set, write_set; /* what is watched */
    int highest;                /* the highest watched descriptor, or -1 */
};

static void *select_create(int capacity)
{
    (void)capacity; /* at most FD_SETSIZE: event.c caps it */
    struct select_state *state = calloc(1, sizeof *state);
    if (state == NULL)
        return NULL;
    FD_ZERO(&state->read_set);
    FD_ZERO(&state->write_set);
    state->highest = -1;
    return state;
}

static void select_destroy(void *state)
{
    free(state);
}

static int select_update(void *opaque, int fd, int old_events, int new_events)
{
    struct select_state *state = opaque;
    (void)old_events;
    if (new_events & EVENT_READ)
        FD_SET(fd, &state->read_set);
    else
        FD_CLR(fd, &state->read_set);
    if (new_events & EVENT_WRITE)
        FD_SET(fd, &state->write_set);
    else
        FD_CLR(fd, &state->write_set);
    if (new_events != 0 && fd > state->highest)
        state->highest = fd;
    while (state->highest >= 0 && !FD_ISSET(state->highest, &state->read_set) &&
           !FD_ISSET(state->highest, &state->write_set))
        state->highest--;
    return 0;
}

static int select_wait(void *opaque, int timeout_ms, const sigset_t *mask,
                       struct event_fired *fired)
{
    struct select_state *state = opaque;
    fd_set readable = state->read_set, writable = state->write_set;
    struct timespec timeout = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    int ready = pselect(state->highest + 1, &readable, &writable, NULL,
                        timeout_ms < 0 ? NULL : &timeout, mask);
    if (ready <= 0)
        return ready;
    int count = 0;
    for (int fd = 0; fd <= state->highest && count < ready; fd++) {
        int events = (FD_ISSET(fd, &readable) ? EVENT_READ : 0) |
                     (FD_ISSET(fd, &writable) ? EVENT_WRITE : 0);
        if (events != 0)
            fired[count++] = (struct event_fired){fd, events};
    }
    return count;
}

const struct event_backend event_backend_select = {
    .name = "select",
    .max_capacity = FD_SETSIZE,
    .create = select_create,
    .destroy = select_destroy,
    .update = select_update,
    .wait = select_wait,
};
