/* threaded — a thread per connection, or a pool of threads made in advance.
 *
 * The model: the main thread accepts; each connection gets a new detached
 * thread that runs the same http_serve_connection() as every other server and
 * ends with the connection. With --pool N, N threads are created at start-up
 * instead and each serves one connection after another: they either all
 * accept() under a mutex (--pool-mode accept-lock, UNP serv07) or take sockets
 * the main thread put in a bounded queue (--pool-mode queue, CS:APP sbuf).
 *
 * What blocks: each thread, in its own read() or write(), and only itself. A
 * slow client holds one thread, not the server: the kernel schedules the rest.
 *
 * What it costs: a thread creation per connection (cheaper than fork(): no
 * address space to copy, UNP Figure 30.1), a stack per live connection (256 KiB
 * reserved here, a few pages touched) plus its 48 KiB buffers. Threads share
 * one address space, so they are cheap to start and can share data, but one
 * faulting handler ends every connection (docs/threaded.md).
 *
 * Its neighbours: fork_per_conn, with pthread_create instead of fork, a count
 * of live threads instead of SIGCHLD reaping, and nothing to close in the
 * parent because nothing was duplicated; prefork (`make diffs`), whose
 * pre-forked processes --pool replaces with pre-created threads.
 *
 * Experiment: `make bench` fig30.1 (CPU per connection) and slow-handler; the
 * isolation lab in docs/threaded.md (/lab/crash). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_conn.h"
#include "live.h"
#include "net.h"
#include "prethread.h"
#include "server.h"
#include "spawn.h"

static int pool_size;               /* --pool N; 0: a thread per connection */
static int pool_mode;               /* --pool-mode: an index into pool_modes */
static const char *const pool_modes[] = {"accept-lock", "queue", NULL};
enum { MODE_ACCEPT_LOCK, MODE_QUEUE };

static const struct model_option model_options[] = {
    {"pool", "N", "N threads made at start-up serve every connection (0: a thread each)",
     NULL, &pool_size, 0, 1024},
    {"pool-mode", "MODE", "how a pool thread gets a connection (default accept-lock)",
     pool_modes, &pool_mode, 0, 0},
    {NULL, NULL, NULL, NULL, NULL, 0, 0},
};

static const struct server_spec spec = {
    .name = "threaded",
    .summary = "A thread per connection (--max-conns caps them), or a pool of N threads.",
    .model_options = model_options,
};

static struct live_set live;        /* the connection threads, at most --max-conns */

/* What a connection thread gets: its socket travels inside the struct, so no
 * integer is ever cast to a pointer. The thread frees it. */
struct connection_task {
    struct http_conn conn;          /* conn.fd: the connected socket */
    struct server *server;
    int slot;                       /* its place in `live` */
};

/* DOC: connection-thread */
static void *connection_thread(void *argument)
{
    struct connection_task *task = argument;
    struct server *server = task->server;
    /* Every connection thread counts in slot 0, shared: stats_add is atomic. */
    http_serve_connection(&task->conn, task->conn.fd, &server->site, &server->stats->workers[0]);
    live_release(&live, task->slot);
    free(task);
    return NULL;
}

/* Hand conn_fd to a new thread. On failure (no memory, or the thread limit)
 * the connection is closed: one client's bad luck, not the server's end. */
static void start_connection_thread(struct server *server, int slot, int conn_fd)
{
    struct connection_task *task = malloc(sizeof *task);
    int error = task == NULL ? ENOMEM : 0;
    if (task != NULL) {
        task->conn.fd = conn_fd;
        task->server = server;
        task->slot = slot;
        live_set_fd(&live, slot, conn_fd);
        error = spawn_thread(connection_thread, task);
    }
    if (error != 0) {
        static time_t last_logged;  /* main thread only */
        if (time(NULL) != last_logged) {
            fprintf(stderr, "threaded: cannot start a thread: %s\n", strerror(error));
            last_logged = time(NULL);
        }
        free(task);
        close(conn_fd);
        live_release(&live, slot);
    }
}

/* DOC: accept-loop
 * With --max-conns threads live, live_reserve() makes the acceptor wait
 * before accept(): new clients then queue in the kernel's listen backlog
 * (they connect, and are served as threads end) instead of being accepted
 * into a thread that cannot be created or memory that is not there.
 * Backpressure costs latency; refusing them would cost errors. */
static void serve_thread_per_connection(struct server *server)
{
    live_init(&live, server->options.max_conns);
    server->options.max_conns_enforced = "total, accepts wait above it";
    struct worker_stats *stats = &server->stats->workers[0];
    while (!server_stopping()) {
        int slot = live_reserve(&live);
        if (slot < 0)
            break;                  /* stop requested while waiting for room */
        server_service(server);
        int conn_fd = net_accept(server->listen_fd, stats);
        if (conn_fd < 0) {
            live_release(&live, slot);
            continue;               /* EINTR (maybe a stop request), or backed off */
        }
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        start_connection_thread(server, slot, conn_fd);
    }
    /* Stop: idle connections end now, in-flight ones get LIVE_DRAIN_MS. */
    live_stop(&live);
    int left = live_wait_empty(&live, LIVE_DRAIN_MS);
    if (left > 0)
        fprintf(stderr, "threaded: %d connections still busy after %d ms; exiting anyway\n",
                left, LIVE_DRAIN_MS);
}

int main(int argc, char **argv)
{
    /* The stats slot count depends on --pool and --pool-mode: parse once to
     * learn them, rewind getopt (optind = 0 restarts it), and let server_start
     * parse again. */
    struct server server;
    struct server_options peek;
    options_parse(argc, argv, &spec, &peek);
    optind = 0;
    int slots = pool_size > 0 ? prethread_slots(pool_size, pool_mode == MODE_QUEUE) : 1;
    server_start(&server, &spec, argc, argv, slots, true);

    if (pool_size > 0)
        prethread_run(&server, pool_size, pool_mode == MODE_QUEUE);
    else
        serve_thread_per_connection(&server);
    return server_finish(&server);
}
