/* multiplex — one process, one event loop, an explicit state machine per
 * connection.
 *
 * The model: a single loop waits in select() (or poll, or epoll: --backend)
 * for any socket to become ready, then advances that connection's state
 * machine (multiplex/conn.c) as far as it can go without blocking: read →
 * parse → discard a body → send the head → send the body → keep-alive or
 * close. Sockets are non-blocking; /lab/sleep and every timeout are timers.
 * accept() is not in this folder: when the listening socket is readable the
 * loop calls on_listen_ready (common/event_server.c), which accepts and hands
 * each new socket to conn_start (multiplex/conn.c), the .on_connection below.
 * Requests are parsed and answered in conn.c's states, with the same parser
 * and http_respond() the blocking handler uses.
 *
 * What blocks: only the loop's wait. Nothing else may: one handler that
 * blocks or spins (/lab/cpu) stops every connection at once. 100 clients at
 * once are 100 struct conn on one loop, all served.
 *
 * What it costs: no process or thread per client, only a struct conn (a few
 * hundred bytes; the 48 KiB of buffers are lent from the loop's pool only
 * while a request is in hand, so an idle connection holds none:
 * common/bufpool.h, docs/multiplex.md#what-it-costs) — but the code is
 * longer, because what a blocking handler keeps on its stack and in its
 * position in the code (which request, how much is sent, what comes next)
 * must be stored in that struct by hand
 * (docs/multiplex.md counts it). select() also cannot watch a descriptor
 * beyond FD_SETSIZE (1024): such a connection gets 503 and is closed.
 *
 * At a stop: the stop handler sets the flag (and server_attention, the flag
 * the loop watches) and interrupts the loop's wait (EINTR). event_server_run
 * (common/event_server.c) runs event_loop_run (common/event.c), which lets the
 * stop signals in only inside its wait and returns once server_attention is
 * set (event.c's comments say why a signal that lands just before the wait is
 * not lost); event_server_run then sees the stop flag and returns. Then the
 * loop stops
 * accepting, closes the connections waiting for a request (conn_close_idle)
 * and gives the others DRAIN_MS to finish. With --workers N the parent stops
 * the N loop processes as prefork's parent stops its children (common/pool.c).
 *
 * Neighbour: threaded, read just before, which gives each connection a
 * thread, and so a stack that holds where it is; this keeps one thread and
 * stores that place in a struct conn. The wait is prefork_select's select(),
 * watching every client socket as well as the listening one, in one process
 * (`make diffs` shows that pair too). With --workers N there are N such loops
 * sharing the listening socket (or each with its own: --reuseport). Next:
 * coroutine keeps this loop and gives each connection a stack back, so its
 * handler is http_serve_connection's loop again. `make diffs`.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): a forwarded request
 * takes four more states with a second socket (multiplex/upstream.c), one of
 * the two sockets watched at a time.
 *
 * Experiment: docs/multiplex.md (1000 idle clients; select's limit), and
 * `make bench` slow-handler: /lab/sleep costs a timer, not a worker. */

#include "conn.h"
#include "event_server.h"
#include "pool.h"
#include "server.h"

static int backend = EVENT_BACKEND_SELECT; /* --backend */
static int reuseport;                      /* --reuseport */

static const struct model_option model_options[] = {
    {.name = "backend",
     .arg = "NAME",
     .choices = event_backend_names,
     .value = &backend,
     .help = "how the loop waits (default select)"},
    {.name = "reuseport",
     .value = &reuseport,
     .help = "each worker listens on its own socket (SO_REUSEPORT)"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "multiplex",
    .summary = "One event loop per process, a state machine per connection.",
    .default_workers = 1,
    .model_options = model_options,
    .listens_itself = true, /* event_server_listen, in main */
};

/* After a stop request, how long in-flight responses get (inside the pool's
 * own 5 s grace period before it kills a worker). */
enum { DRAIN_MS = 4000 };

/* DOC: serve-loop
 * One loop process: watch the listening socket, run until a stop request, then
 * stop accepting, close idle connections and let the others finish. */
static void serve_loop(struct server *server, int worker_id, void *context)
{
    (void)context;
    struct worker_stats *stats = &server->stats->workers[worker_id];
    struct event_loop *loop = event_server_loop(server, event_backend_names[backend], stats);
    struct multiplex mux = {.loop = loop, .server = server, .stats = stats};
    conn_init(&mux);
    /* One accept per readiness, like UNP's servers: with --workers N every
     * loop is woken for a connection, one gets it, the others count a spurious
     * accept (the thundering herd, at the level of event loops). */
    mux.acceptor = (struct event_acceptor){
        .loop = loop,
        .server = server,
        .stats = stats,
        .worker_id = worker_id,
        .listen_fd = event_server_socket(server, worker_id, reuseport),
        .batch = 1,
        .on_connection = conn_start,
        .data = &mux,
        .open = &mux.count,
    };
    event_acceptor_start(&mux.acceptor);

    /* DOC: event-loop */
    if (event_server_run(loop, server) != 0)
        server_die(server, "event loop");

    event_acceptor_stop(&mux.acceptor);
    conn_close_idle(&mux);
    event_server_drain(loop, &mux.count, DRAIN_MS, spec.name);
    conn_destroy(&mux);
    event_loop_destroy(loop);
}

int main(int argc, char **argv)
{
    /* We listen ourselves, because --reuseport must be set on the socket before
     * bind(); the counters have one slot per --workers. */
    struct server server;
    server_start(&server, &spec, argc, argv);
    event_server_listen(&server, reuseport != 0);
    /* --max-conns N (default 1024) bounds each loop; the acceptor keeps it
     * (common/event_server.h, DOC: max-conns). With --workers W on the shared
     * socket a full loop leaves new connections to a loop with room, and 503
     * comes only when all W x N are taken; with --reuseport, above a loop's own
     * N. This call only records that rule for the stats file. */
    event_server_keeps_max_conns(&server);

    if (server.options.workers > 1)
        pool_run(&server, serve_loop, NULL);
    else
        serve_loop(&server, 0, NULL);
    return server_finish(&server);
}
