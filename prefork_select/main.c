/* prefork_select — N worker processes, forked before the first client, each
 * waiting in select() for the listening socket to become readable, then accepting.
 *
 * The model: prefork's children, with one change: the listening socket is
 * non-blocking and each child first waits for it to be readable, then calls
 * accept() (UNP §30.6, "select collisions"), both in worker_main below, and then
 * http_serve_connection() (common/http_conn.c). The parent only supervises
 * (pool_run, common/pool.c).
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
 * Neighbour: prefork, of which this is a copy plus the wait before accept() and
 * its options (and, for now, the per-child sockets of --reuseport). Next:
 * multiplex, the same select() watching every client socket too. `make diffs`.
 *
 * Experiment: `make bench ONLY=herd` (sleeps per connection for each --wait),
 * ONLY=distribution (connections per child). docs/prefork_select.md. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "http_conn.h"
#include "net.h"
#include "pool.h"
#include "server.h"

enum { WAIT_SELECT, WAIT_POLL, WAIT_EPOLL, WAIT_EPOLL_EXCLUSIVE };

static int wait_mode = WAIT_SELECT;
static int reuseport;
static const char *const wait_names[] = {"select", "poll", "epoll", "epoll-exclusive", NULL};

static const struct model_option model_options[] = {
    {.name = "wait", .arg = "CALL", .choices = wait_names, .value = &wait_mode,
     .help = "how a child waits for the listening socket to become readable"},
    {.name = "reuseport", .value = &reuseport,
     .help = "each child its own listening socket (SO_REUSEPORT)"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "prefork_select",
    .summary = "N preforked worker processes, each waiting in select() before accept().",
    .default_workers = 4,
    .model_options = model_options,
    .listens_itself = true,         /* open_listen_sockets, below */
};

static struct http_conn conn;       /* one connection at a time per worker process */
static int *listen_fds;             /* one, or with --reuseport one per worker */

/* DOC: reuseport
 * The parent opens every listening socket, so a replaced child takes over its
 * predecessor's queue. With --reuseport they all bind one port (SO_REUSEPORT) and
 * the kernel picks a socket for each connection by a hash of its addresses. */
static void open_listen_sockets(struct server *server)
{
    int count = reuseport ? server->options.workers : 1;
    char error[SERVER_ERROR_SIZE];
    listen_fds = calloc((size_t)count, sizeof *listen_fds);
    if (listen_fds == NULL)
        server_die(server, "listening sockets");
    if (net_listen_each(server->options.bind_address, server->options.port, reuseport,
                        listen_fds, count, error, sizeof error) != 0)
        server_fail(server, error);
    server->listen_fd = reuseport ? -1 : listen_fds[0];
    server_announce(server, net_local_port(listen_fds[0]));
}

/* epoll needs an instance per child, made after the fork: one instance shared by
 * all children would be a single waiter, a different experiment. */
static int watch_listen_fd(const struct server *server, int listen_fd)
{
    if (wait_mode != WAIT_EPOLL && wait_mode != WAIT_EPOLL_EXCLUSIVE)
        return -1;
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN};
    if (wait_mode == WAIT_EPOLL_EXCLUSIVE)
        event.events |= EPOLLEXCLUSIVE;     /* wake one of the waiters, not all */
    if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event) != 0)
        server_die(server, "epoll");
    return epoll_fd;
}

/* DOC: wait-readable
 * Sleep until a connection is pending on listen_fd. False after a signal. */
static bool wait_readable(int listen_fd, int epoll_fd)
{
    switch (wait_mode) {
    case WAIT_SELECT: {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(listen_fd, &readable);
        return select(listen_fd + 1, &readable, NULL, NULL, NULL) > 0;
    }
    case WAIT_POLL: {
        struct pollfd wanted = {.fd = listen_fd, .events = POLLIN};
        return poll(&wanted, 1, -1) > 0;
    }
    default: {
        struct epoll_event event;
        return epoll_wait(epoll_fd, &event, 1, -1) > 0;
    }
    }
}

/* DOC: accept-loop */
static void worker_main(struct server *server, int worker_id, void *context)
{
    (void)context;
    int listen_fd = reuseport ? net_listen_keep(listen_fds, server->options.workers, worker_id)
                              : server->listen_fd;
    int epoll_fd = watch_listen_fd(server, listen_fd);
    struct worker_stats *stats = &server->stats->workers[worker_id];
    while (!server_stopping()) {
        /* The wait is select() (or poll, epoll) and accept(): count the two together. */
        stats_wait_begin(stats);
        int conn_fd = -1;
        if (wait_readable(listen_fd, epoll_fd))
            conn_fd = net_accept_in_wait(listen_fd, stats);
        stats_wait_end(stats);
        if (conn_fd < 0)
            continue;               /* a stop (EINTR), lost the race, or backed off */
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server->site, stats);
    }
}

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv);
    open_listen_sockets(&server);
    pool_run(&server, worker_main, NULL);
    return server_finish(&server);
}
