/* wait — how a prefork_select child waits for the listening socket to become
 * readable before it calls accept(): select(), poll(), or an epoll instance of
 * its own (UNP §30.6, "select collisions"). */
#ifndef PREFORK_SELECT_WAIT_H
#define PREFORK_SELECT_WAIT_H

#include <stdbool.h>

enum listen_wait_kind { WAIT_SELECT, WAIT_POLL, WAIT_EPOLL, WAIT_EPOLL_EXCLUSIVE };

/* In the child, after the fork: wait on listen_fd with kind. Returns 0, or -1
 * with errno set (the epoll instance could not be made). */
int listen_wait_init(enum listen_wait_kind kind, int listen_fd);
/* Sleep until a connection is pending on the socket. False after a signal. */
bool listen_wait_readable(void);

#endif
