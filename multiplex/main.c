/* multiplex — one process, one event loop, an explicit state machine per
 * connection.
 *
 * The model: a single loop waits in select() (or poll, or epoll: --backend)
 * for any socket to become ready, then advances that connection's state
 * machine (multiplex/conn.c) as far as it can go without blocking: read →
 * parse → discard a body → send the head → send the body → keep-alive or
 * close. Sockets are non-blocking; /lab/sleep and every timeout are timers.
 *
 * What blocks: only the loop's wait. Nothing else may: one handler that
 * blocks or spins (/lab/cpu) stops every connection at once.
 *
 * What it costs: no process or thread per client, only a struct conn (48 KiB
 * of buffers) — but the code is longer, because what a blocking handler keeps
 * on its stack and in its position in the code (which request, how much is
 * sent, what comes next) must be stored in that struct by hand
 * (docs/multiplex.md counts it). select() also cannot watch a descriptor
 * beyond FD_SETSIZE (1024): such a connection gets 503 and is closed.
 *
 * What changed from its neighbour, prefork_select: the same select(), but
 * watching every client socket as well as the listening one, in one process.
 * With --workers N there are N such loops sharing the listening socket (or
 * each with its own: --reuseport). coroutine keeps this loop and gives each
 * connection a stack back, so its handler is http_serve_connection again.
 *
 * Experiment: docs/multiplex.md (1000 idle clients; select's limit), and
 * `make bench` slow-handler: /lab/sleep costs a timer, not a worker. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conn.h"
#include "event.h"
#include "io.h"
#include "net.h"
#include "pool.h"
#include "server.h"

static int backend;                 /* --backend: an index into event_backend_names */
static int reuseport;               /* --reuseport */

static const struct model_option model_options[] = {
    {"backend", "NAME", "how the loop waits (default select)", event_backend_names, &backend,
     0, 0},
    {"reuseport", NULL, "each worker listens on its own socket (SO_REUSEPORT)", NULL,
     &reuseport, 0, 1},
    {NULL, NULL, NULL, NULL, NULL, 0, 0},
};

static const struct server_spec spec = {
    .name = "multiplex",
    .summary = "One event loop per process, a state machine per connection.",
    .default_workers = 1,
    .model_options = model_options,
};

/* After a stop request, how long in-flight responses get (inside the pool's
 * own 5 s grace period before it kills a worker). */
enum { DRAIN_MS = 4000 };

/* With --reuseport every worker after the first opens a socket of its own on
 * the same port; the kernel then spreads connections among them by hash.
 * Worker 0 keeps the socket main() opened, which fixed the port. */
static int own_listening_socket(struct server *server, int worker_id)
{
    if (!reuseport || worker_id == 0)
        return server->listen_fd;
    char error[256];
    int fd = net_listen(server->options.bind_address, net_local_port(server->listen_fd), true,
                        error, sizeof error);
    if (fd < 0) {
        fprintf(stderr, "%s: worker %d: %s\n", spec.name, worker_id, error);
        exit(OPTIONS_EXIT_RUNTIME);
    }
    close(server->listen_fd);       /* not ours to accept on */
    net_set_nonblocking(fd, true);
    return fd;
}

/* DOC: serve-loop
 * One loop process: watch the listening socket, run until a stop request, then
 * stop accepting, close idle connections and let the others finish. */
static void serve_loop(struct server *server, int worker_id, void *context)
{
    (void)context;
    struct rlimit limit;
    int max_fds = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (1 << 20)
                      ? (int)limit.rlim_cur : 1 << 20;
    char error[256];
    struct event_loop *loop =
        event_loop_create(event_backend_names[backend], max_fds, error, sizeof error);
    if (loop == NULL) {
        fprintf(stderr, "%s: %s\n", spec.name, error);
        exit(OPTIONS_EXIT_RUNTIME);
    }
    struct multiplex mux = {
        .loop = loop,
        .server = server,
        .stats = &server->stats->workers[worker_id],
        .listen_fd = own_listening_socket(server, worker_id),
        .accept_pause = EVENT_TIMER_INIT,
    };
    event_loop_count_waits(loop, mux.stats);
    if (event_watch(loop, mux.listen_fd, EVENT_READ, conn_accept, &mux) != 0)
        server_die(server, "watch the listening socket");

    /* DOC: event-loop */
    if (event_loop_run(loop, &server_stop_requested) != 0)
        perror("multiplex: event loop");

    event_unwatch(loop, mux.listen_fd);
    event_timer_cancel(loop, &mux.accept_pause);
    conn_close_idle(&mux);
    int64_t deadline = io_now_ms() + DRAIN_MS;
    while (mux.count > 0 && io_now_ms() < deadline)
        if (event_loop_run_once(loop, 100) < 0)
            break;
    if (mux.count > 0)
        fprintf(stderr, "%s: %d connections still busy after %d ms; closing them\n",
                spec.name, mux.count, DRAIN_MS);
    event_loop_destroy(loop);
}

int main(int argc, char **argv)
{
    /* One stats slot per --workers (slots 0); we listen ourselves, because
     * --reuseport must be set on the socket before bind(). */
    struct server server;
    server_start(&server, &spec, argc, argv, 0, false);
    char error[256];
    server.listen_fd = net_listen(server.options.bind_address, server.options.port,
                                  reuseport != 0, error, sizeof error);
    if (server.listen_fd < 0) {
        fprintf(stderr, "%s: %s\n", spec.name, error);
        return OPTIONS_EXIT_RUNTIME;
    }
    server_announce(&server, net_local_port(server.listen_fd));
    /* Non-blocking before any fork: with several loops on one socket, the one
     * that loses the race for a connection must get EAGAIN, not sleep. */
    net_set_nonblocking(server.listen_fd, true);

    if (server.options.workers > 1)
        pool_run(&server, serve_loop, NULL);
    else
        serve_loop(&server, 0, NULL);
    return server_finish(&server);
}
