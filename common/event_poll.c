/* event_poll — the poll() backend. The watched descriptors sit packed in one
 * pollfd array, with a table from descriptor to its slot so a change costs
 * O(1) (a removal moves the last slot into the hole). Cost: every wait copies
 * the whole array into the kernel, which polls each descriptor in it and
 * queues and dequeues a wait entry on each (as select does), then writes every
 * revents back, and we scan the array for the ready ones: O(watched) per
 * wait, but no FD_SETSIZE limit. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "event.h"
#include "event_backend.h"

struct poll_state {
    struct pollfd *slots; /* [count] watched descriptors */
    int count;
    int *slot_of; /* [capacity]: slot index + 1, 0 when not watched */
};

static void poll_destroy(void *opaque)
{
    struct poll_state *state = opaque;
    free(state->slots);
    free(state->slot_of);
    free(state);
}

static void *poll_create(int capacity)
{
    struct poll_state *state = calloc(1, sizeof *state);
    if (state == NULL)
        return NULL;
    state->slots = calloc((size_t)capacity, sizeof *state->slots);
    state->slot_of = calloc((size_t)capacity, sizeof *state->slot_of);
    if (state->slots == NULL || state->slot_of == NULL) {
        poll_destroy(state);
        errno = ENOMEM;
        return NULL;
    }
    return state;
}

static int poll_update(void *opaque, int fd, int old_events, int new_events)
{
    struct poll_state *state = opaque;
    (void)old_events;
    if (new_events == 0) { /* remove: move the last slot into the hole */
        int slot = state->slot_of[fd] - 1;
        if (slot < 0)
            return 0;
        struct pollfd last = state->slots[--state->count];
        if (slot < state->count) {
            state->slots[slot] = last;
            state->slot_of[last.fd] = slot + 1;
        }
        state->slot_of[fd] = 0;
        return 0;
    }
    if (state->slot_of[fd] == 0) {
        state->slots[state->count] = (struct pollfd){.fd = fd};
        state->slot_of[fd] = ++state->count;
    }
    struct pollfd *slot = &state->slots[state->slot_of[fd] - 1];
    slot->events = (short)(((new_events & EVENT_READ) ? POLLIN : 0) |
                           ((new_events & EVENT_WRITE) ? POLLOUT : 0));
    return 0;
}

static int poll_wait(void *opaque, int timeout_ms, const sigset_t *mask, struct event_fired *fired)
{
    struct poll_state *state = opaque;
    struct timespec timeout = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    int ready = ppoll(state->slots, (nfds_t)state->count, timeout_ms < 0 ? NULL : &timeout, mask);
    if (ready <= 0)
        return ready;
    int count = 0;
    for (int i = 0; i < state->count && count < ready; i++) {
        short revents = state->slots[i].revents;
        if (revents == 0)
            continue;
        int events =
            ((revents & POLLIN) ? EVENT_READ : 0) | ((revents & POLLOUT) ? EVENT_WRITE : 0);
        if (revents & (POLLERR | POLLHUP | POLLNVAL))
            events = EVENT_READ | EVENT_WRITE; /* the next call will say what went wrong */
        fired[count++] = (struct event_fired){state->slots[i].fd, events};
    }
    return count;
}

const struct event_backend event_backend_poll = {
    .name = "poll",
    .max_capacity = 1 << 30,
    .create = poll_create,
    .destroy = poll_destroy,
    .update = poll_update,
    .wait = poll_wait,
};
