/* prefork — N worker processes, forked before the first client, all asleep in
 * accept().
 *
 * The model: the parent forks --workers children at start (UNP's server 02);
 * each child loops accept → serve, and the kernel hands each new connection to
 * one child asleep in accept(). The parent only supervises (common/pool.c): it
 * replaces a child that dies, and stops and reaps them all at the end.
 *
 * What blocks: each child, in accept() and then in its one client. N children
 * serve N clients at once; client N+1 waits in the listen queue.
 *
 * What it costs: no fork per connection, so CPU per connection falls to about
 * the iterative server's; but N processes exist whether or not clients come.
 * The thundering herd: 4.4BSD woke every child asleep in accept() for each
 * connection; Linux wakes exactly one, first come first served, so connections
 * go round the children in turn.
 *
 * UNP Figure 30.1 rows 3-5: --accept-lock fcntl|mutex lets one child at a time
 * sleep in accept() (lock.c); --dispatch pass-fd has the parent accept and pass
 * each descriptor to an idle child (dispatch.c).
 *
 * Its neighbours: fork_per_conn forks a child per connection instead; prefork_select
 * waits for the listening socket to become readable before accept(). `make diffs`.
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
    {"accept-lock", "KIND", "a lock around accept(): one child at a time sleeps in it",
     lock_names, &accept_lock, 0, 0},
    {"dispatch", "HOW", "accept: every child accepts; pass-fd: the parent accepts and "
     "passes the descriptor", dispatch_names, &dispatch, 0, 0},
    {NULL, NULL, NULL, NULL, NULL, 0, 0},
};

static const struct server_spec spec = {
    .name = "prefork",
    .summary = "N preforked worker processes, all blocking in accept().",
    .default_workers = 4,
    .model_options = model_options,
};

static struct http_conn conn;       /* one connection at a time per worker process */

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
            continue;               /* EINTR (maybe a stop request), or backed off */
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server->site, stats);
    }
}

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv, 0, true);
    if (dispatch == DISPATCH_PASS_FD) {
        dispatch_run(&server);
    } else {
        accept_lock_init(accept_lock);
        pool_run(&server, worker_main, NULL);
    }
    return server_finish(&server);
}
