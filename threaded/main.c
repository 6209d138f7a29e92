/* threaded — a thread per connection, or a pool of threads made in advance.
 *
 * The model: the main thread calls accept(), in the accept loop below; each
 * connection gets a new detached thread, connection_thread, that runs the same
 * http_serve_connection() (common/http_conn.c: read, parse, answer) as every
 * other server and ends with the connection. With --pool N (a pool of threads,
 * not common/pool.c's processes), N threads are created at start-up instead and
 * each serves one connection after another (prethread_run, prethread.c): they
 * either call accept() themselves, one at a time under a mutex (--pool-mode
 * accept-lock, UNP serv07), or take sockets the main thread accepted and put in
 * a bounded queue (--pool-mode queue, CS:APP sbuf). A pool is prefork's model
 * with threads for processes; docs/threaded.md compares the two.
 *
 * What blocks: each thread, in its own read() or write(), and only itself. A
 * slow client holds one thread, not the server: the kernel schedules the rest.
 * 100 clients at once are 100 threads. Up to --max-conns (default 1024) at
 * once: beyond it the main thread waits before accept() (live_reserve,
 * live.c) and clients wait in the listen queue, unrefused (no 503 here). With
 * --pool N, N are served and the rest wait.
 *
 * What it costs: a thread creation per connection (cheaper than fork(): no
 * address space to copy, UNP Figure 30.1), a stack per live connection
 * (--stack-kb, 256 KiB reserved, a few pages touched: spawn.h says why that
 * size) plus its 48 KiB buffers. Threads share one address space, so they
 * are cheap to start and can share data, but one faulting handler ends every
 * connection (docs/threaded.md).
 *
 * At a stop: every thread but the main one has the stop signals (SIGINT,
 * SIGTERM, SIGHUP) and SIGUSR1 blocked (spawn.c: server_stop_signals), so the
 * signal reaches the main thread, whose accept() is woken as iterative's is
 * (server_wake_on_stop, common/server.h). At --max-conns it waits for room
 * instead, in a condition wait no signal ends: it looks at the flag every
 * 500 ms (live_reserve). live_stop (live.c) then shuts down the read side of
 * every connection's socket: one waiting for its next request reads end of
 * stream and ends at once; one being answered gets LIVE_DRAIN_MS (5000 ms,
 * live.h) to finish before the process exits anyway. A pool stops the same
 * way, its threads woken where they sleep: in accept() by the same shutdown,
 * in the queue by queue_close.
 *
 * Neighbour: prefork_select, the last of the process models, read just
 * before: this one leaves the fixed set of processes for a thread per
 * connection, and its --pool N is that fixed set again, with threads. The
 * model is fork_per_conn's with a thread for a process: pthread_create
 * instead of fork, a count of live threads instead of SIGCHLD reaping, and
 * nothing to close in the parent because nothing was duplicated. Next:
 * multiplex, one thread for every connection. `make diffs` shows both pairs.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): each thread forwards its
 * requests (common/http_forward.c), blocked while the upstream answers; a
 * --pool of N holds at most N at the upstream.
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

enum { POOL_MODE_ACCEPT_LOCK, POOL_MODE_QUEUE };

static int pool_threads; /* --pool N; 0: a thread per connection */
static int pool_mode = POOL_MODE_ACCEPT_LOCK;
static int stack_kb = SPAWN_STACK_KB; /* --stack-kb */
static char stack_help[80];           /* names that default */
static const char *const pool_modes[] = {"accept-lock", "queue", NULL};

static const struct model_option model_options[] = {
    {.name = "pool",
     .arg = "N",
     .value = &pool_threads,
     .min = 0,
     .max = 1024,
     .help = "N threads made at start-up serve every connection (0: a thread each)"},
    {.name = "pool-mode",
     .arg = "MODE",
     .choices = pool_modes,
     .value = &pool_mode,
     .help = "how a pool thread gets a connection (default accept-lock)"},
    {.name = "stack-kb",
     .arg = "N",
     .value = &stack_kb,
     .min = 64,
     .max = 1048576,
     .help = stack_help},
    {.name = NULL},
};

/* The counters: one slot per pool thread, plus the accepting main thread in
 * queue mode; one slot shared by every thread of a thread per connection. */
static int counter_slots(void)
{
    return pool_threads > 0 ? prethread_slots(pool_threads, pool_mode == POOL_MODE_QUEUE) : 1;
}

static const struct server_spec spec = {
    .name = "threaded",
    .summary = "A thread per connection (--max-conns caps them), or a pool of N threads.",
    .model_options = model_options,
    .counter_slots = counter_slots,
};

static struct live_set live; /* the connection threads, at most --max-conns */

/* What a connection thread gets: its socket travels inside the struct, so no
 * integer is ever cast to a pointer. The thread frees it. */
struct connection_task {
    struct http_conn conn; /* conn.fd: the connected socket */
    struct server *server;
    int slot; /* its place in `live` */
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
        static time_t last_logged; /* main thread only */
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
    if (live_init(&live, server->options.max_conns) != 0)
        server_die(server, "connection slots");
    server->options.max_conns_enforced = "total, accepts wait above it";
    struct worker_stats *stats = &server->stats->workers[0];
    while (!server_stopping()) {
        int slot = live_reserve(&live);
        if (slot < 0)
            break; /* stop requested while waiting for room */
        /* SIGUSR1 asks for the stats file: written here (server.h) */
        server_service(server);
        int conn_fd = net_accept(server->listen_fd, stats);
        if (conn_fd < 0) {
            live_release(&live, slot);
            continue; /* a stop (the loop test ends it), or backed off */
        }
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        start_connection_thread(server, slot, conn_fd);
    }
    /* Stop: idle connections end now, in-flight ones get LIVE_DRAIN_MS. */
    live_stop(&live);
    int left = live_wait_empty(&live, LIVE_DRAIN_MS);
    if (left > 0)
        fprintf(stderr, "threaded: %d connections still busy after %d ms; exiting anyway\n", left,
                LIVE_DRAIN_MS);
}

int main(int argc, char **argv)
{
    snprintf(stack_help, sizeof stack_help, "stack per thread, KiB (default %d)", SPAWN_STACK_KB);
    struct server server;
    server_start(&server, &spec, argc, argv);
    spawn_set_stack_kb(stack_kb);

    if (pool_threads > 0)
        prethread_run(&server, pool_threads, pool_mode == POOL_MODE_QUEUE);
    else
        serve_thread_per_connection(&server);
    return server_finish(&server);
}
