/* prefork — N worker processes, forked before the first client, all asleep in
 * accept().
 *
 * The model: the parent forks --workers children at start (UNP's server 02);
 * each child loops accept → serve in worker_main below: it calls accept() itself
 * and then http_serve_connection() (common/http_conn.c), and the kernel hands
 * each new connection to one child asleep in accept(). The parent only
 * supervises (pool_run, common/pool.c): it replaces a child that dies, and stops
 * and reaps them all at the end.
 *
 * What blocks: each child, in accept() and then in its one client. N children
 * serve N clients at once; of 100 clients at once, 100 - N wait in the listen
 * queue until a child is free.
 *
 * What it costs: no fork per connection, so CPU per connection falls to about
 * the iterative server's; but N processes exist whether or not clients come.
 * The thundering herd: 4.4BSD woke every child asleep in accept() for each
 * connection; Linux wakes exactly one, first come first served, so connections
 * go round the children in turn.
 *
 * UNP Figure 30.1 rows 3-5: --accept-lock fcntl|mutex lets one child at a time
 * sleep in accept() (lock.c); --dispatch pass-fd has the parent accept, in
 * dispatch_run (dispatch.c), and pass each descriptor to an idle child.
 *
 * At a stop: the parent's pool_run sees the flag and sends every child SIGTERM,
 * again every 200 ms until all are gone (a child that had just checked the flag
 * would sleep in accept() through one signal), SIGKILL after 5 s. The children
 * share the listening socket, so pool_start turned the stop handler's shutdown
 * off (server_wake_on_stop(-1), common/server.h) before forking: the SIGTERM
 * interrupts accept(), or an fcntl lock's wait (EINTR), instead. A mutex's wait
 * is never interrupted (lock.c): the waiter gets the lock once the holder,
 * interrupted in accept(), lets it go, and then sees the flag.
 *
 * Neighbour: fork_per_conn forks a child per connection instead. Next:
 * prefork_select waits for the listening socket to become readable before
 * accept(). `make diffs`.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): each child forwards its
 * requests (common/http_forward.c); N children hold at most N at the upstream.
 *
 * Experiment: `make bench ONLY=herd` (sleeps per connection), ONLY=distribution
 * (connections per child), ONLY=fig30.1 (CPU per connection). docs/prefork.md. */
#include "dispatch.h"
#include "http_conn.h"
#include "lock.h"
#include "net.h"
#include "pool.h"
#include "server.h"

enum { DISPATCH_ACCEPT, DISPATCH_PASS_FD };

static int accept_lock = ACCEPT_LOCK_NONE;
static int dispatch = DISPATCH_ACCEPT;
static const char *const lock_names[] = {"none", "fcntl", "mutex", NULL};
static const char *const dispatch_names[] = {"accept", "pass-fd", NULL};

static const struct model_option model_options[] = {
    {.name = "accept-lock",
     .arg = "KIND",
     .choices = lock_names,
     .value = &accept_lock,
     .help = "a lock around accept(): one child at a time sleeps in it"},
    {.name = "dispatch",
     .arg = "HOW",
     .choices = dispatch_names,
     .value = &dispatch,
     .help = "accept: every child accepts; pass-fd: the parent accepts and passes the "
             "descriptor"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "prefork",
    .summary = "N preforked worker processes, all blocking in accept().",
    .default_workers = 4,
    .model_options = model_options,
};

static struct http_conn conn; /* one connection at a time per worker process */

/* DOC: accept-loop */
static void worker_main(struct server *server, int worker_id, void *context)
{
    (void)context;
    int listen_fd = server->listen_fd;
    struct worker_stats *stats = &server->stats->workers[worker_id];
    while (!server_stopping()) {
        /* The wait is the lock, if any, and accept(): count the two together. */
        stats_wait_begin(stats);
        int conn_fd = -1;
        if (accept_lock_acquire()) {
            if (!server_stopping())
                conn_fd = net_accept_in_wait(listen_fd, stats);
            accept_lock_release();
        }
        stats_wait_end(stats);
        if (conn_fd < 0)
            continue; /* a stop (EINTR), or backed off */
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server->site, stats);
    }
}

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv);
    if (dispatch == DISPATCH_PASS_FD) {
        dispatch_run(&server);
    } else {
        if (accept_lock_init(accept_lock) != 0)
            server_die(&server, "accept lock");
        pool_run(&server, worker_main, NULL);
    }
    return server_finish(&server);
}
