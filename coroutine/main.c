/* coroutine — one process, one event loop, a coroutine per connection.
 *
 * The model: a single loop waits in epoll (or select, or poll: --backend) for
 * any socket to become ready, as in multiplex; but each connection is a
 * coroutine — a function with a small stack of its own — that runs the
 * blocking servers' connection loop (common/http_conn.c) unchanged, entered
 * as http_serve_pooled(): http_serve_connection() with its buffers lent by
 * the loop's pool. It parses and answers the requests. accept() is in
 * on_listen_ready (common/event_server.c), which hands each new socket to
 * sched_spawn (coroutine/sched.c), the .on_connection below; with --io uring
 * it is one plain accept at a time submitted to each ring instead (arm_accept,
 * coroutine/uring.c). A connection's life (--io readiness):
 *
 *   on_listen_ready: accept4() ─▶ sched_spawn: a task and a coroutine
 *     └▶ run(): resume the coroutine ─▶ http_serve_pooled(conn)
 *          io_read() gets EAGAIN: it would block ─▶ io layer calls the wait hook
 *          wait hook (sched.c): watch the socket, arm the deadline timer, yield
 *     loop: other coroutines run ... the socket is ready (or the timer fires)
 *     └▶ run(): resume ─▶ io_read() retries the read (or fails: timed out)
 *          ... the handler answers, and in the end closes the socket
 *     └▶ the coroutine returns: its stack and task are kept for the next one
 *
 * io_set_hooks() below is what makes "would block" mean "yield": it changes
 * the io layer (common/io.c) for the whole process. Without it the handler
 * would take the first EAGAIN of these non-blocking sockets for a timeout.
 * /lab/sleep becomes a timer and a yield the same way.
 *
 * What blocks: only the loop's wait. As in multiplex, a handler that blocks
 * in the kernel or spins (/lab/cpu) stops every connection at once, and one
 * that crashes (/lab/crash) takes all of them down with the process. 100
 * clients at once are 100 coroutines on one loop, all served.
 *
 * What it costs: per connection a stack (--stack-kb, 64 KiB reserved; only
 * the pages it touches are memory) with a guard page below it, both recycled;
 * and 48 KiB of buffers lent only while a request is in hand (an idle
 * connection holds none, and after a second idle only its stack's top page:
 * coroutine/sched.c). A switch is a few
 * nanoseconds and no system call (coroutine/coro_switch.S; swapcontext makes
 * one per switch). Overflowing the small stack is a SIGSEGV, not corruption.
 *
 * At a stop: the loop returns as multiplex's does, stops accepting, and
 * sched_interrupt_readers resumes every coroutine waiting for a request with
 * its read failing (EINTR, as a signal fails a blocking read), so the handler
 * ends those connections; the others get DRAIN_MS to finish. With --io uring
 * the stop signals are read through the ring (a signalfd: DOC:
 * uring-stop-signal), and the stop cancels the accept and every read in
 * flight, which fail with EINTR the same way (DOC: uring-stop).
 *
 * --io uring (coroutine/uring.c): the same coroutines and handler, but each
 * read and send is submitted to an io_uring and the coroutine yields until
 * its completion; one io_uring_enter per loop turn submits and reaps for
 * every connection (docs/coroutine.md, "Readiness and completion").
 *
 * Neighbour: multiplex, with the same loop and timers, but no state machine
 * (multiplex/conn.c): where a connection is in the code and its local
 * variables stay on its coroutine's stack, so the handler is the blocking
 * servers' loop again, as in iterative (http_serve_pooled runs the loop of
 * http_serve_connection; `make diffs` shows both pairs). Two more
 * differences: the loop waits in epoll by default (multiplex: select); and a
 * stop interrupts the coroutines waiting for a request where multiplex closes
 * its idle connections (conn_close_idle).
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): the coroutine runs the
 * blocking relay (common/http_forward.c) unchanged: two sockets, one handler,
 * each wait on either a yield.
 *
 * Experiment: docs/coroutine.md (the diff with iterative; strace shows no
 * system call per switch), tests/eventloop/run.py (2000 idle clients with
 * --max-conns raised, 20 sleeps at once), and `make bench` coro-switch and throughput. */

#include <stdio.h>

#include "coro.h"
#include "event_server.h"
#include "pool.h"
#include "sched.h"
#include "server.h"
#include "uring.h"

/* --io: how a coroutine does its I/O. readiness: wait for the socket (the
 * loop above, sched.c), then call; uring: hand the call itself to the kernel
 * and collect its completion (coroutine/uring.c). */
static const char *const io_names[] = {"readiness", "uring", NULL};
enum { IO_READINESS, IO_URING };

static int io_mode = IO_READINESS;           /* --io */
static int backend = EVENT_BACKEND_EPOLL;    /* --backend */
static int reuseport;                        /* --reuseport */
static int stack_kb = CORO_DEFAULT_STACK_KB; /* --stack-kb */

static const struct model_option model_options[] = {
    {.name = "backend",
     .arg = "NAME",
     .choices = event_backend_names,
     .value = &backend,
     .help = "how the loop waits (default epoll; readiness only)"},
    {.name = "io",
     .arg = "MODE",
     .choices = io_names,
     .value = &io_mode,
     .help = "readiness (wait, then call) or uring (io_uring completions) (default readiness)"},
    {.name = "reuseport",
     .value = &reuseport,
     .help = "each worker listens on its own socket (SO_REUSEPORT)"},
    {.name = "stack-kb",
     .arg = "N",
     .value = &stack_kb,
     .min = 32,
     .max = 65536,
     .help = "stack per coroutine, KiB (default 64)"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "coroutine",
    .summary = "One event loop per process, a coroutine per connection.",
    .default_workers = 1,
    .model_options = model_options,
    .listens_itself = true, /* event_server_listen, in main */
};

/* After a stop request, how long in-flight responses get (inside the pool's
 * own 5 s grace period before it kills a worker). */
enum { DRAIN_MS = 4000 };

/* DOC: serve-loop
 * One loop process: watch the listening socket, run until a stop request, then
 * stop accepting, interrupt the coroutines waiting for a request and let the
 * others finish. */
static void serve_loop(struct server *server, int worker_id, void *context)
{
    (void)context;
    if (io_mode == IO_URING) {
        uring_serve(server, worker_id, event_server_socket(server, worker_id, reuseport), DRAIN_MS);
        return;
    }
    struct worker_stats *stats = &server->stats->workers[worker_id];
    struct event_loop *loop = event_server_loop(server, event_backend_names[backend], stats);
    struct scheduler scheduler;
    sched_init(&scheduler, loop, server, stats);
    /* DOC: hooks
     * From here on, in this process, "would block" means "yield to the loop". */
    io_set_hooks(&sched_io_hooks);
    scheduler.acceptor = (struct event_acceptor){
        .loop = loop,
        .server = server,
        .stats = stats,
        .worker_id = worker_id,
        .listen_fd = event_server_socket(server, worker_id, reuseport),
        /* One accept per readiness, as in multiplex: while connections are
         * pending, the next wait (level-triggered) reports the listening
         * socket again, with whatever else is ready. Accepting until EAGAIN
         * ends every batch with an accept that finds nothing, and this kernel
         * allocates the new socket and its file before it looks at the queue,
         * then frees them: at 50 clients opening a connection per request,
         * 0.7 failed accepts per connection, 7 to 10 % of the server's CPU
         * (docs/coroutine.md, "Beside multiplex"). */
        .batch = 1,
        .on_connection = sched_spawn,
        .data = &scheduler,
        .open = &scheduler.count,
    };
    event_acceptor_start(&scheduler.acceptor);

    /* DOC: event-loop */
    if (event_server_run(loop, server) != 0)
        server_die(server, "event loop");

    event_acceptor_stop(&scheduler.acceptor);
    sched_interrupt_readers(&scheduler);
    event_server_drain(loop, &scheduler.count, DRAIN_MS, spec.name);
    sched_destroy(&scheduler);
    event_loop_destroy(loop);
}

int main(int argc, char **argv)
{
    /* We listen ourselves, because --reuseport must be set on the socket before
     * bind(); the counters have one slot per --workers. */
    struct server server;
    server_start(&server, &spec, argc, argv);
    char error[SERVER_ERROR_SIZE];
    if (io_mode == IO_URING && uring_available(error, sizeof error) != 0) {
        fprintf(stderr, "%s: --io uring: %s\n", spec.name, error);
        return 2;
    }
    event_server_listen(&server, reuseport != 0);
    /* --max-conns N (default 1024) bounds each loop, in either --io mode: the
     * acceptor keeps it (common/event_server.h, DOC: max-conns; uring.c's
     * arm_accept). With --workers W on the shared socket a full loop leaves new
     * connections to a loop with room, and 503 comes only when all W x N are
     * taken; with --reuseport, above a loop's own N. This call only records
     * that rule for the stats file. */
    event_server_keeps_max_conns(&server);
    coro_set_stack_size((size_t)stack_kb * 1024);

    if (server.options.workers > 1)
        pool_run(&server, serve_loop, NULL);
    else
        serve_loop(&server, 0, NULL);
    return server_finish(&server);
}
