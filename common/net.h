/* net — sockets: listen, accept, per-connection options and a lingering close. */
#ifndef NET_H
#define NET_H

#include <stdbool.h>

#include "stats.h"

/* Bind and listen (SO_REUSEADDR; SO_REUSEPORT if reuseport). Port 0 picks a free
 * port. Returns the fd, or -1 with a message in error (size bytes). */
int net_listen(const char *address, int port, bool reuseport, char *error, int size);
int net_local_port(int listen_fd);
int net_set_nonblocking(int fd, bool on);

/* accept() that retries ECONNABORTED and EPROTO, counting the wait in worker
 * (stats_wait_begin/end). Returns the connected fd, or -1 with errno: EINVAL or
 * EINTR (a stop shut the socket down, see server_wake_on_stop, or a signal: the
 * caller checks whether to stop), EAGAIN (non-blocking listen
 * socket, nothing pending: counted as spurious), or a resource error (EMFILE...,
 * after which it has already backed off briefly). */
int net_accept(int listen_fd, struct worker_stats *worker);
/* The same accept loop without the bracket, for a worker that counts its whole
 * wait itself because something comes before accept() (a lock, or select()):
 *     stats_wait_begin(stats); lock or select; net_accept_in_wait(...); stats_wait_end(stats); */
int net_accept_in_wait(int listen_fd, struct worker_stats *worker);

/* Options a blocking server's connected socket gets: send/receive timeouts and
 * TCP_NODELAY. */
void net_prepare_connection(int conn_fd, int timeout_ms);

/* Whether the peer of a connected socket is a loopback address (127.0.0.0/8,
 * ::1, or 127.x mapped into IPv6). */
bool net_peer_is_loopback(int conn_fd);
/* Whether a --bind address is a loopback one ("127.0.0.1", "::1", "localhost"). */
bool net_address_is_loopback(const char *address);

/* Close after an error while the client may still be sending: shut the write
 * side, read and drop what arrives for a short while, then close
 * (docs/design.md#lingering-close). */
void net_lingering_close(int conn_fd);

#endif
