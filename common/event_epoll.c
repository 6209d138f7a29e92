/* event_epoll — the epoll backend. The kernel keeps the interest list, so a
 * change is one epoll_ctl() and a wait returns only the ready descriptors:
 * O(ready) per wait, whatever the number watched. Level-triggered, like select
 * and poll, so the three behave alike: a descriptor stays ready until drained. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "event.h"
#include "event_backend.h"

struct epoll_state {
    int epoll_fd;
    int capacity;
    struct epoll_event *events; /* [capacity], the kernel's answer */
};

static void epoll_destroy(void *opaque)
{
    struct epoll_state *state = opaque;
    if (state->epoll_fd >= 0)
        close(state->epoll_fd);
    free(state->events);
    free(state);
}

static void *epoll_state_create(int capacity)
{
    struct epoll_state *state = calloc(1, sizeof *state);
    if (state == NULL)
        return NULL;
    state->capacity = capacity;
    state->events = calloc((size_t)capacity, sizeof *state->events);
    state->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (state->events == NULL || state->epoll_fd < 0) {
        int error = state->events == NULL ? ENOMEM : errno;
        epoll_destroy(state);
        errno = error;
        return NULL;
    }
    return state;
}

static int epoll_update(void *opaque, int fd, int old_events, int new_events)
{
    struct epoll_state *state = opaque;
    struct epoll_event event = {
        .events = ((new_events & EVENT_READ) ? EPOLLIN : 0u) |
                  ((new_events & EVENT_WRITE) ? EPOLLOUT : 0u),
        .data.fd = fd,
    };
    int operation = old_events == 0   ? EPOLL_CTL_ADD
                    : new_events == 0 ? EPOLL_CTL_DEL
                                      : EPOLL_CTL_MOD;
    if (epoll_ctl(state->epoll_fd, operation, fd, &event) == 0)
        return 0;
    /* A descriptor closed while still watched left the kernel's list by itself
     * (the caller broke the rule in event.h). Removing it is then done, and
     * changing it means adding it afresh. */
    if (operation == EPOLL_CTL_DEL)
        return 0;
    if (operation == EPOLL_CTL_MOD && errno == ENOENT)
        return epoll_ctl(state->epoll_fd, EPOLL_CTL_ADD, fd, &event);
    return -1;
}

static int epoll_wait_ready(void *opaque, int timeout_ms, const sigset_t *mask,
                            struct event_fired *fired)
{
    struct epoll_state *state = opaque;
    int ready = epoll_pwait(state->epoll_fd, state->events, state->capacity, timeout_ms, mask);
    for (int i = 0; i < ready; i++) {
        uint32_t events = state->events[i].events;
        int mask = ((events & EPOLLIN) ? EVENT_READ : 0) | ((events & EPOLLOUT) ? EVENT_WRITE : 0);
        if (events & (EPOLLERR | EPOLLHUP))
            mask = EVENT_READ | EVENT_WRITE; /* the next call will say what went wrong */
        fired[i] = (struct event_fired){state->events[i].data.fd, mask};
    }
    return ready;
}

const struct event_backend event_backend_epoll = {
    .name = "epoll",
    .max_capacity = 1 << 30,
    /* epoll drops a descriptor from its list when the file is closed for good:
     * its last descriptor is closed. A connection's socket has only the one
     * (nothing here dup()s it, and workers fork before they accept), so the
     * close is the removal, and an epoll_ctl(DEL) first would be a system
     * call per connection for nothing (nginx skips it too). */
    .close_forgets = true,
    .create = epoll_state_create,
    .destroy = epoll_destroy,
    .update = epoll_update,
    .wait = epoll_wait_ready,
};
