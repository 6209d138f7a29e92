/* event_server — what the two event-loop servers, multiplex and coroutine, do
 * the same way around their loop: listen (once, or once per worker with
 * --reuseport, always in the parent; prefork_select listens so too), give each
 * worker a loop as large as its descriptor limit, accept without ever blocking — pausing when out
 * of descriptors, refusing with 503 what the loop cannot watch — and drain at a stop. How a
 * connection is served once accepted is each server's own model. */
#ifndef EVENT_SERVER_H
#define EVENT_SERVER_H

#include <stdbool.h>
#include <time.h>

#include "event.h"
#include "server.h"

/* Listen as the command line says, print the start-up line, and make the
 * socket non-blocking before any fork: with several loops on one socket, the
 * one that loses the race for a connection must get EAGAIN, not sleep. With
 * reuseport, one socket per worker, all opened here, in the parent
 * (net_listen_each): a worker that replaces a dead one inherits its socket and the connections
 * queued on it. Exits 1 on failure. */
void event_server_listen(struct server *server, bool reuseport);

/* The listening socket worker worker_id accepts on: server->listen_fd, or with
 * reuseport its own one of those event_server_listen opened (the kernel
 * spreads connections among them by hash; the others' are closed here). */
int event_server_socket(struct server *server, int worker_id, bool reuseport);

/* A loop on the named backend for every descriptor RLIMIT_NOFILE allows
 * (select: at most FD_SETSIZE), its waits counted in stats and the server's
 * stop signals let in only inside its waits (event_loop_set_stop_signals).
 * Exits 1 on failure. */
struct event_loop *event_server_loop(const struct server *server, const char *backend,
                                     struct worker_stats *stats);

/* Run the loop until a stop request, serving what the signals asked for
 * between passes (server_service). Returns 0, or -1 if the wait failed. */
int event_server_run(struct event_loop *loop, struct server *server);

/* After a stop: run the loop until *busy connections are left no more, or
 * milliseconds have passed; then say how many were still busy. */
void event_server_drain(struct event_loop *loop, const int *busy, int milliseconds,
                        const char *name);

/* The accepting side of one loop: set the fields up to open (designated
 * initializers), then event_acceptor_start. on_listen_ready (event_server.c)
 * calls accept4() and hands each new socket to on_connection. */
struct event_acceptor;
typedef void event_accept_fn(struct event_acceptor *acceptor, int conn_fd);

struct event_acceptor {
    struct event_loop *loop;
    const struct server *server;
    struct worker_stats *stats; /* spurious accepts and refusals are counted here */
    int listen_fd;
    int batch; /* at most this many accepts per readiness (>= 1) */
    /* Gets each accepted descriptor: non-blocking, close-on-exec, TCP_NODELAY,
     * and one the loop can watch. It owns it from then on. */
    event_accept_fn *on_connection;
    void *data;      /* for on_connection */
    const int *open; /* the loop's open connections: 503 at --max-conns */
    /* Private: */
    struct event_timer pause; /* out of descriptors: listen again after it */
    time_t paused_logged_at, refused_logged_at;
    int refused_since_log;
};

/* Watch the listening socket. */
void event_acceptor_start(struct event_acceptor *acceptor);
/* Stop accepting (at a stop request): unwatch, cancel a pause. */
void event_acceptor_stop(struct event_acceptor *acceptor);
/* Answer 503 at once, without waiting, and close conn_fd; log at most once a
 * second how many and why. For a connection on_connection cannot take (out of
 * memory); the acceptor itself refuses those beyond the loop's capacity. */
void event_acceptor_refuse(struct event_acceptor *acceptor, int conn_fd, const char *why);

/* For a server whose loops accept through an event_acceptor (or refuse as it
 * does, coroutine/uring.c): record that each loop answers 503 above --max-conns,
 * for --help's model and the stats file (docs/design.md#stats-file). */
void event_server_keeps_max_conns(struct server *server);

#endif
