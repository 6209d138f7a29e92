/* iterative — one client at a time.
 *
 * The model: accept a connection, serve it until it closes, accept the next.
 * There is no concurrency at all, so nothing is shared and nothing can race.
 *
 * What blocks: everything. While one client is being served, including while it
 * sits idle on a keep-alive connection, every other client waits in the kernel's
 * listen queue. Only --timeout-ms bounds how long one idle client holds the rest.
 *
 * What it costs: nothing beyond the work itself, which makes it the baseline row
 * of UNP Figure 30.1 (CPU per connection); the other six servers are measured
 * against it.
 *
 * Its neighbour: fork_per_conn adds one fork() per connection around the same
 * call to http_serve_connection().
 *
 * Experiment: docs/labs (lab 1, one slow client) and `make bench` fig30.1. */
#include <errno.h>

#include "http_conn.h"
#include "net.h"
#include "server.h"

static const struct server_spec spec = {
    .name = "iterative",
    .summary = "Serves one connection at a time: the baseline.",
};

static struct http_conn conn;       /* one connection at a time: one buffer */

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv, 1, true);
    struct worker_stats *stats = &server.stats->workers[0];

    /* DOC: accept-loop */
    while (!server_stopping()) {
        server_service(&server);
        int conn_fd = net_accept(server.listen_fd, stats);
        if (conn_fd < 0)
            continue;               /* EINTR (maybe a stop request), or backed off */
        net_prepare_connection(conn_fd, server.options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server.site, stats);
    }
    return server_finish(&server);
}
