/* event_server — see event_server.h. */
#include "event_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_response.h"
#include "io.h"
#include "net.h"

enum { ACCEPT_PAUSE_MS = 100 };

/* With --reuseport, every worker's listening socket, opened before any fork
 * (net_listen_each): worker i accepts on reuseport_fds[i]. */
static int *reuseport_fds;

/* DOC: max-conns-shared
 * With --workers N on one shared listening socket, each loop's open
 * connections, in a region shared by every worker (mapped before any fork).
 * Each loop writes its own slot (event_acceptor_publish) whenever its count
 * changes; the others only read it. NULL with one loop, or with --reuseport:
 * then no loop can take another's connections, and each refuses at its own
 * --max-conns. */
static int *open_counts;
static int open_count_slots;
void event_server_listen(struct server *server, bool reuseport)
{
    char error[SERVER_ERROR_SIZE];
    int count = reuseport ? server->options.workers : 1;
    int *fds = calloc((size_t)count, sizeof *fds);
    if (fds == NULL)
        server_die(server, "listening sockets");
    if (net_listen_each(server->options.bind_address, server->options.port, reuseport, fds, count,
                        error, sizeof error) != 0)
        server_fail(server, error);
    server_announce(server, net_local_port(fds[0]));
    if (!reuseport && server->options.workers > 1) {
        open_count_slots = server->options.workers;
        open_counts = mmap(NULL, (size_t)open_count_slots * sizeof *open_counts,
                           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (open_counts == MAP_FAILED)
            server_die(server, "the loops' shared counts");
    }
    if (reuseport) {
        reuseport_fds = fds;
    } else {
        server->listen_fd = fds[0];
        free(fds);
    }
}

int event_server_socket(struct server *server, int worker_id, bool reuseport)
{
    if (!reuseport)
        return server->listen_fd;
    return net_listen_keep(reuseport_fds, server->options.workers, worker_id);
}

struct event_loop *event_server_loop(const struct server *server, const char *backend,
                                     struct worker_stats *stats)
{
    /* server_start raised the soft limit to the hard one; a table that large
     * costs only what is touched (see event_loop_create). */
    struct rlimit limit;
    int max_fds = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (1 << 20)
                      ? (int)limit.rlim_cur
                      : 1 << 20;
    char error[SERVER_ERROR_SIZE];
    struct event_loop *loop = event_loop_create(backend, max_fds, error, sizeof error);
    if (loop == NULL)
        server_fail(server, error);
    event_loop_count_waits(loop, stats);
    sigset_t stop_signals;
    server_stop_signals(&stop_signals);
    event_loop_set_stop_signals(loop, &stop_signals);
    return loop;
}

void event_server_drain(struct event_loop *loop, const int *busy, int milliseconds,
                        const char *name)
{
    int64_t deadline = io_now_ms() + milliseconds;
    while (*busy > 0 && io_now_ms() < deadline)
        if (event_loop_run_once(loop, 100) < 0)
            break;
    if (*busy > 0)
        fprintf(stderr, "%s: %d connections still busy after %d ms; closing them\n", name, *busy,
                milliseconds);
}

void event_server_keeps_max_conns(struct server *server)
{
    server->options.max_conns_enforced = open_counts != NULL
                                             ? "per event loop; 503 only when every loop is full"
                                             : "per event loop, 503 above it";
}

void event_acceptor_publish(const struct event_acceptor *acceptor)
{
    if (open_counts != NULL && acceptor->open != NULL)
        __atomic_store_n(&open_counts[acceptor->worker_id], *acceptor->open, __ATOMIC_RELAXED);
}

/* DOC: max-conns-rule
 * May this loop take the next connection? Yes below --max-conns. At it, only
 * if no loop on the same listening socket has room (then the connection gets
 * 503: every loop is full). If a sibling has room, the answer is no: this loop
 * steps aside and the sibling, which is watching the socket, takes it. */
bool event_acceptor_may_accept(const struct event_acceptor *acceptor)
{
    int max = acceptor->server->options.max_conns;
    if (acceptor->open == NULL || *acceptor->open < max || open_counts == NULL)
        return true;
    for (int worker = 0; worker < open_count_slots; worker++)
        if (worker != acceptor->worker_id &&
            __atomic_load_n(&open_counts[worker], __ATOMIC_RELAXED) < max)
            return false;
    return true;
}

void event_acceptor_closed(struct event_acceptor *acceptor)
{
    event_acceptor_publish(acceptor);
    if (acceptor->stepped_aside && *acceptor->open < acceptor->server->options.max_conns) {
        acceptor->stepped_aside = false;
        event_acceptor_start(acceptor);
    }
}

/* DOC: refuse
 * Beyond what the loop can watch (select: FD_SETSIZE), or out of memory:
 * answer 503 at once and close. Never FD_SET it. */
void event_acceptor_refuse(struct event_acceptor *acceptor, int conn_fd, const char *why)
{
    char answer[1024], discard[4096];
    struct http_response response;
    http_respond_error(503, true, answer, sizeof answer, &response);
    /* Read what already arrived, so close() does not answer it with a reset. */
    while (read(conn_fd, discard, sizeof discard) > 0)
        ;
    if (write(conn_fd, answer, response.head_length) < 0) {
        /* nothing more to do for it */
    }
    shutdown(conn_fd, SHUT_WR);
    close(conn_fd);
    stats_add(&acceptor->stats->errors, 1);
    acceptor->refused_since_log++;
    time_t now = time(NULL);
    if (now != acceptor->refused_logged_at) {
        fprintf(stderr, "%s: %d connection(s) refused with 503: %s\n", acceptor->server->spec->name,
                acceptor->refused_since_log, why);
        acceptor->refused_logged_at = now;
        acceptor->refused_since_log = 0;
    }
}

static void on_listen_ready(struct event_loop *loop, int listen_fd, int ready, void *data);

int event_server_run(struct event_loop *loop, struct server *server)
{
    while (!server_stopping()) {
        if (event_loop_run(loop, &server_attention) != 0)
            return -1;
        server_service(server);
    }
    return 0;
}

void event_acceptor_start(struct event_acceptor *acceptor)
{
    event_acceptor_publish(acceptor);
    if (event_watch(acceptor->loop, acceptor->listen_fd, EVENT_READ, on_listen_ready, acceptor) !=
        0)
        server_die(acceptor->server, "watch the listening socket");
}

static void resume_accepting(struct event_loop *loop, void *data)
{
    (void)loop;
    event_acceptor_start(data);
}

void event_acceptor_stop(struct event_acceptor *acceptor)
{
    event_unwatch(acceptor->loop, acceptor->listen_fd);
    event_timer_cancel(acceptor->loop, &acceptor->pause);
    acceptor->stepped_aside = false; /* a connection that closes now does not watch again */
}

/* Out of descriptors. Sleeping would stall every client; instead stop
 * listening for a while (the backlog holds the new ones meanwhile). */
static void pause_accepting(struct event_acceptor *acceptor, int error)
{
    time_t now = time(NULL);
    if (now != acceptor->paused_logged_at) {
        fprintf(stderr, "%s: accept: %s; pausing accepts for %d ms\n", acceptor->server->spec->name,
                strerror(error), ACCEPT_PAUSE_MS);
        acceptor->paused_logged_at = now;
    }
    /* With no timer to end the pause (out of memory), keep listening. */
    if (event_timer_start(acceptor->loop, &acceptor->pause, io_now_ms() + ACCEPT_PAUSE_MS,
                          resume_accepting, acceptor) == 0)
        event_unwatch(acceptor->loop, acceptor->listen_fd);
}

/* DOC: accept-batch
 * The listening socket is readable: accept up to batch connections. With
 * several loops on one socket every loop is woken for a connection and only
 * one gets it. Most losers re-check inside the kernel and sleep again; one that
 * returns first finds nothing (EAGAIN), counted as spurious: a lower bound on
 * the herd. An EAGAIN after at least one connection just ends the batch. */
static void on_listen_ready(struct event_loop *loop, int listen_fd, int ready, void *data)
{
    (void)ready;
    struct event_acceptor *acceptor = data;
    for (int accepted = 0; accepted < acceptor->batch; accepted++) {
        if (!event_acceptor_may_accept(acceptor)) {
            /* Full, and a sibling has room: leave the socket to it until one
             * of ours closes (event_acceptor_closed watches it again). */
            event_unwatch(loop, listen_fd);
            acceptor->stepped_aside = true;
            return;
        }
        int conn_fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn_fd < 0) {
            enum net_accept_failure failure = net_accept_failure(errno);
            if (failure == NET_ACCEPT_RETRY)
                continue; /* the client gave up first: try the next (UNP) */
            if (failure == NET_ACCEPT_NOTHING && accepted == 0)
                stats_add(&acceptor->stats->spurious, 1);
            if (failure == NET_ACCEPT_EXHAUSTED)
                pause_accepting(acceptor, errno); /* a timer, never a sleep */
            return;                               /* EAGAIN, EINTR...: the next readiness retries */
        }
        if (conn_fd >= event_loop_capacity(loop)) {
            event_acceptor_refuse(
                acceptor, conn_fd,
                "descriptor beyond what the backend can watch (select: FD_SETSIZE)");
            continue;
        }
        if (acceptor->open != NULL && *acceptor->open >= acceptor->server->options.max_conns) {
            event_acceptor_refuse(acceptor, conn_fd,
                                  "--max-conns reached in every loop on this socket");
            continue;
        }
        acceptor->on_connection(acceptor, conn_fd);
        event_acceptor_publish(acceptor);
    }
}
