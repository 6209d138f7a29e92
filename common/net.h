/* net — sockets: listen, accept, per-connection options and a lingering close. */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "options.h"
#include "stats.h"

/* Bind and listen (SO_REUSEADDR; SO_REUSEPORT if reuseport; TCP_NODELAY, which
 * every accepted socket inherits: DOC: nodelay in net.c). Port 0 picks a free
 * port. Returns the fd, or -1 with a message in error (size bytes). */
int net_listen(const char *address, int port, bool reuseport, char *error, size_t size);
/* count listening sockets on one port, all non-blocking, SO_REUSEPORT if
 * count > 1 or reuseport: a pool's parent opens them before it forks, and
 * worker i accepts on fds[i], so a worker that replaces a dead one takes over
 * its socket and the connections queued on it. The first fixes the port
 * (port 0: a free one). Returns 0, or -1 with a message in error (size bytes)
 * and none left open. */
int net_listen_each(const char *address, int port, bool reuseport, int *fds, int count, char *error,
                    size_t size);
/* In worker worker_id after the fork: close the other workers' sockets (their
 * queues are theirs) and return its own. */
int net_listen_keep(const int *fds, int count, int worker_id);
int net_local_port(int listen_fd);
int net_set_nonblocking(int fd, bool on);

/* What an accept() failure means, decided here for every accept loop. */
enum net_accept_failure {
    NET_ACCEPT_RETRY,     /* ECONNABORTED, EPROTO: the client gave up first (UNP) */
    NET_ACCEPT_NOTHING,   /* EAGAIN: nothing pending (a lost race: spurious) */
    NET_ACCEPT_EXHAUSTED, /* EMFILE, ENFILE, ENOBUFS, ENOMEM: pause, never spin */
    NET_ACCEPT_OTHER,     /* EINTR and anything unexpected: the caller decides */
};
enum net_accept_failure net_accept_failure(int error);

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

/* Options a blocking server's connected socket gets: send/receive timeouts
 * (TCP_NODELAY it has from the listening socket). */
void net_prepare_connection(int conn_fd, int timeout_ms);

/* Whether the peer of a connected socket is a loopback address (127.0.0.0/8,
 * ::1, or 127.x mapped into IPv6). */
bool net_peer_is_loopback(int conn_fd);
/* Resolve "HOST:PORT" (HOST an IPv4 literal, [IPv6] or a name) to the first
 * address getaddrinfo gives: 0, or -1 with a message in error (size bytes).
 * *loopback: whether every address the name has is a loopback one. */
int net_resolve(const char *host_port, struct sockaddr_storage *address, socklen_t *length,
                bool *loopback, char *error, size_t size);
/* Whether a --bind address is a loopback one ("127.0.0.1", "::1", "localhost"). */
bool net_address_is_loopback(const char *address);

/* Close after an answer while the client may still be sending: shut the write
 * side, read and drop what arrives for a short while, then close
 * (docs/design.md#lingering-close). The bounds of that drain, for every server
 * (multiplex lingers in its state machine with the same ones): at most this
 * long, at most this many bytes. */
enum { NET_LINGER_MS = 1000, NET_LINGER_BYTES = 1 << 20 };
void net_lingering_close(int conn_fd);

/* DOC: linger-rule
 * Whether a connection the server closes now must close lingering, as --linger
 * says (linger: enum options_linger). always: every time. never: never (a lab:
 * the reset then destroys answers). auto, nginx's "lingering_close on": only
 * when the client may still be sending, that is unless it asked to close
 * itself (client_closes: Connection: close, or HTTP/1.0 without keep-alive)
 * and everything it sent has been read (all_read: the head, the whole body,
 * nothing more buffered). So an error answer lingers (the rest of the request
 * may be on its way), and so does the end of a connection the client asked to
 * keep (--keepalive-requests, a stop): it may have pipelined more requests. */
bool net_close_lingers(int linger, bool client_closes, bool all_read);

#endif
