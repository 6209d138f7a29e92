/* wait — see wait.h.
 *
 * epoll needs an instance per child, made after the fork: one instance shared by
 * all children would be a single waiter, a different experiment. */
#include "wait.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

static enum listen_wait_kind wait_kind;
static int wait_fd = -1; /* the socket waited on */
static int epoll_fd = -1;

int listen_wait_init(enum listen_wait_kind kind, int listen_fd)
{
    wait_kind = kind;
    wait_fd = listen_fd;
    if (kind != WAIT_EPOLL && kind != WAIT_EPOLL_EXCLUSIVE)
        return 0;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return -1;
    struct epoll_event event = {.events = EPOLLIN};
    if (kind == WAIT_EPOLL_EXCLUSIVE)
        event.events |= EPOLLEXCLUSIVE; /* wake one of the waiters, not all */
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
}

/* DOC: wait-readable */
bool listen_wait_readable(void)
{
    switch (wait_kind) {
    case WAIT_SELECT: {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(wait_fd, &readable);
        return select(wait_fd + 1, &readable, NULL, NULL, NULL) > 0;
    }
    case WAIT_POLL: {
        struct pollfd wanted = {.fd = wait_fd, .events = POLLIN};
        return poll(&wanted, 1, -1) > 0;
    }
    default: {
        struct epoll_event event;
        return epoll_wait(epoll_fd, &event, 1, -1) > 0;
    }
    }
}
