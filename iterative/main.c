/* iterative — one client at a time.
 *
 * The model: accept a connection, serve it until it closes, accept the next.
 * There is no concurrency at all, so nothing is shared and nothing can race.
 * accept() is called here, by the one process; the handler,
 * http_serve_connection() (common/http_conn.c), reads, parses and answers every
 * request of the connection, and closes it.
 *
 * What blocks: everything. While one client is being served, including while it
 * sits idle on a keep-alive connection, every other client waits in the kernel's
 * listen queue: 100 clients at once are served one after another. Only
 * --timeout-ms bounds how long one idle client holds the rest.
 *
 * What it costs: nothing beyond the work itself, which makes it the baseline row
 * of UNP Figure 30.1 (CPU per connection); the other six servers are measured
 * against it.
 *
 * At a stop (every server starts from this one): SIGINT, SIGTERM or SIGHUP runs
 * the handler server_start installed (common/server.c). It sets the stop flag
 * and shuts down the read side of the listening socket. An accept() asleep now
 * is interrupted by the signal itself (EINTR: the handler has no SA_RESTART);
 * one called after fails at once (EINVAL: the shutdown) instead of sleeping on.
 * Either way the loop comes round, sees server_stopping() and ends. The flag
 * alone would leave a race: land between the check and accept(), and accept()
 * sleeps until the next client; the shutdown closes it. A client
 * being served is finished first; one idle between requests has its read()
 * interrupted (EINTR) and is closed (unless the signal landed just before that
 * read(): then it waits out --timeout-ms). server_finish prints the summary.
 *
 * Neighbour: fork_per_conn, which adds one fork() per connection around the same
 * call to http_serve_connection(). `make diffs`.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): the same loop forwards
 * each request (common/http_forward.c), and every other client waits for the
 * upstream too.
 *
 * Experiment: docs/labs (lab 1, one slow client) and `make bench` fig30.1. */
#include "http_conn.h"
#include "net.h"
#include "server.h"

static const struct server_spec spec = {
    .name = "iterative",
    .summary = "Serves one connection at a time: the baseline.",
};

static struct http_conn conn; /* one connection at a time: one handler state */

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv);
    struct worker_stats *stats = &server.stats->workers[0];

    /* DOC: accept-loop */
    while (!server_stopping()) {
        /* SIGUSR1 asks for the stats file: written here (server.h) */
        server_service(&server);
        int conn_fd = net_accept(server.listen_fd, stats);
        if (conn_fd < 0)
            continue; /* a stop (the loop test ends it), or backed off */
        net_prepare_connection(conn_fd, server.options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server.site, stats);
    }
    return server_finish(&server);
}
