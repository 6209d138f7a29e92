/* prefork_select — N worker processes, forked before the first client, each
 * waiting in select() for the listening socket to become readable, then accepting.
 *
 * The model: prefork's children, with one change: the listening socket is
 * non-blocking and each child first waits for it to be readable (wait.c), then
 * calls accept() (UNP §30.6, "select collisions"), both in worker_main below, and
 * then http_serve_connection() (common/http_conn.c). The parent only supervises
 * (pool_run, common/pool.c). The parent listens with event_server_listen and a
 * child finds its socket with event_server_socket (common/event_server.c): the
 * listening the event-loop servers do, borrowed whole — it is there that the
 * socket is made non-blocking (net_listen_each, common/net.c), and where
 * --reuseport opens one socket per child.
 *
 * What blocks: each child, in select() (or poll, epoll_wait) and then in its one
 * client; of 100 clients at once, 100 - N wait in the listen queue. A child
 * that loses the race for a connection gets EAGAIN from accept() and goes back
 * to waiting.
 *
 * What it costs: every child asleep in select() or poll() on one socket is woken
 * for each connection, and all but one go back to sleep: about N-1 extra wakeups
 * per connection with N idle children, the herd that blocking accept() no longer
 * has. --wait epoll (one epoll instance per child) wakes every child too;
 * --wait epoll-exclusive (EPOLLEXCLUSIVE) wakes one; --reuseport gives each child
 * its own listening socket and lets the kernel spread connections by hash.
 *
 * At a stop: as prefork's. The parent SIGTERMs every child, again every 200 ms,
 * SIGKILL after 5 s; the signal interrupts select() (or poll, epoll_wait), which
 * has no SA_RESTART to come back from, and the loop sees the flag.
 *
 * Neighbour: prefork, of which this is a copy plus the wait before accept()
 * and its options (--wait, --reuseport), less prefork's own two: no
 * --accept-lock (the wait is the herd this model shows) and no --dispatch.
 * Next: threaded, the other way out of a fixed number of processes; multiplex
 * then keeps this select() and watches every client socket with it too.
 * `make diffs`.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): each child forwards its
 * requests (common/http_forward.c); N children hold at most N at the upstream.
 *
 * Experiment: `make bench ONLY=herd` (sleeps per connection for each --wait),
 * ONLY=distribution (connections per child). docs/prefork_select.md. */
#include "event_server.h"
#include "http_conn.h"
#include "net.h"
#include "pool.h"
#include "server.h"
#include "wait.h"

static int wait_kind = WAIT_SELECT;
static int reuseport;
static const char *const wait_names[] = {"select", "poll", "epoll", "epoll-exclusive", NULL};

static const struct model_option model_options[] = {
    {.name = "wait",
     .arg = "CALL",
     .choices = wait_names,
     .value = &wait_kind,
     .help = "how a child waits for the listening socket to become readable"},
    {.name = "reuseport",
     .value = &reuseport,
     .help = "each child its own listening socket (SO_REUSEPORT)"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "prefork_select",
    .summary = "N preforked worker processes, each waiting in select() before accept().",
    .default_workers = 4,
    .model_options = model_options,
    .listens_itself = true, /* event_server_listen, in main */
};

static struct http_conn conn; /* one connection at a time per worker process */

/* DOC: accept-loop */
static void worker_main(struct server *server, int worker_id, void *context)
{
    (void)context;
    int listen_fd = event_server_socket(server, worker_id, reuseport);
    struct worker_stats *stats = &server->stats->workers[worker_id];
    if (listen_wait_init(wait_kind, listen_fd) != 0)
        server_die(server, "epoll");
    while (!server_stopping()) {
        /* The wait is select() (or poll, epoll) and accept(): count the two together. */
        stats_wait_begin(stats);
        int conn_fd = -1;
        if (listen_wait_readable())
            conn_fd = net_accept_in_wait(listen_fd, stats);
        stats_wait_end(stats);
        if (conn_fd < 0)
            continue; /* a stop (EINTR), lost the race, or backed off */
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server->site, stats);
    }
}

/* DOC: reuseport
 * The parent opens every listening socket (event_server_listen, as multiplex
 * does), so a replaced child takes over its predecessor's queue. With
 * --reuseport there is one per child, all bound to one port (SO_REUSEPORT), and
 * the kernel picks a socket for each connection by a hash of its addresses. */
int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv);
    event_server_listen(&server, reuseport != 0);
    pool_run(&server, worker_main, NULL);
    return server_finish(&server);
}
