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
    int worker_id;              /* this loop's slot among --workers (the --max-conns rule) */
    int listen_fd;
    int batch; /* at most this many accepts per readiness (>= 1) */
    /* Gets each accepted descriptor: non-blocking, close-on-exec, TCP_NODELAY
     * (from the listening socket: DOC: nodelay in common/net.c), no socket
     * timeouts (the loop's timers bound every wait),
     * and one the loop can watch. It owns it from then on. */
    event_accept_fn *on_connection;
    void *data;      /* for on_connection */
    const int *open; /* the loop's open connections, for --max-conns */
    /* Private: */
    struct event_timer pause; /* out of descriptors: listen again after it */
    bool stepped_aside;       /* full, the socket left to a sibling with room */
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

/* DOC: max-conns
 * --max-conns N (default 1024) bounds the connections each loop serves at
 * once. A loop that has N does not refuse the next while another loop on the
 * same listening socket has room: it stops watching the socket (steps aside),
 * the loop with room takes the connection, and the full one watches again
 * when one of its own connections closes. Only when every loop is full does
 * the one woken accept and answer 503 at once (event_acceptor_refuse). With
 * one loop, or --reuseport (each loop its own socket: the kernel has chosen
 * the loop before anybody accepts), a loop refuses at its own N. So
 * --workers W serves up to W x N connections, and a refusal means all W x N
 * are taken. The loops see each other's counts in a region shared across the
 * fork (event_server.c, DOC: max-conns-shared); each loop publishes its count
 * whenever it changes.
 *
 * event_server_keeps_max_conns only records which rule this server keeps, for
 * the stats file (docs/design.md#stats-file); the acceptors keep it. Call it
 * after event_server_listen. */
void event_server_keeps_max_conns(struct server *server);

/* The loop's count changed (the acceptor publishes after each accept itself). */
void event_acceptor_publish(const struct event_acceptor *acceptor);
/* The rule above: true if this loop may accept the next connection now. */
bool event_acceptor_may_accept(const struct event_acceptor *acceptor);
/* One of this loop's connections closed (after its count went down): publish
 * the count, and watch the socket again if the loop had stepped aside. */
void event_acceptor_closed(struct event_acceptor *acceptor);

#endif
