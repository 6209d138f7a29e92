/* fork_per_conn — a new child process for every connection.
 *
 * The model: the parent calls accept(), here, in the accept loop; for each
 * connection it forks a child that calls http_serve_connection() (read, parse,
 * answer: common/http_conn.c) and exits (UNP's server 01, CS:APP's echoserverp).
 * A SIGCHLD handler reaps the children. --max-procs N bounds how many live at once.
 *
 * What blocks: the parent, in accept() (and, at --max-procs children, waiting for
 * one to exit); each child, in its one client. A slow client holds only its
 * child. 100 clients at once: 64 children (--max-procs) serve them, the rest wait
 * in the listen queue until a child exits.
 *
 * What it costs: one fork() and one exit per connection (UNP Figure 30.1's
 * dearest row), and one process per client in flight.
 *
 * The lesson is the SIGCHLD handler, and the two races it brings (docs/fork_per_conn.md):
 *   - the handler and the main loop both update the count of live children, so
 *     the loop blocks SIGCHLD around every access (from before fork() on: the
 *     child can exit before fork() even returns in the parent);
 *   - "check the count, then wait for a SIGCHLD" loses a signal that arrives in
 *     between; sigsuspend() unblocks and waits in one step. The same goes for a
 *     stop, so the stop signals are blocked with SIGCHLD and let in with it.
 * We block SIGCHLD rather than use a self-pipe or signalfd: it keeps the reaping in
 * the handler, where the lecture puts it, at the price of a sigprocmask() pair.
 *
 * At a stop: the parent's accept() is woken as iterative's is (the stop handler
 * shuts the listening socket down: server_wake_on_stop in common/server.h) and
 * the loop ends; stop_children then sends every child SIGTERM, again every
 * STOP_RESEND_MS, and SIGKILL after STOP_GRACE_MS. A child idle between two
 * requests ends at the first SIGTERM that finds it in read(); one signal could
 * land just before that read() and be missed, hence the repeats. A child in the
 * middle of a response finishes it (its answer says Connection: close).
 *
 * Neighbour: iterative is this loop with the serving done in the parent. Next:
 * prefork forks its children once, before the first client. `make diffs`.
 *
 * Proxy mode (--upstream, docs/design.md#proxy-mode): each child forwards its
 * requests (common/http_forward.c); a child is held while the upstream answers.
 *
 * Experiment: `make bench ONLY=fig30.1` (CPU per connection, children included). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_conn.h"
#include "io.h"
#include "net.h"
#include "server.h"

static int max_procs = 64;

static const struct model_option model_options[] = {
    {.name = "max-procs",
     .arg = "N",
     .value = &max_procs,
     .min = 1,
     .max = 100000,
     .help = "children alive at once; the parent waits at N (default 64)"},
    {.name = NULL},
};

static const struct server_spec spec = {
    .name = "fork_per_conn",
    .summary = "A child process per connection; SIGCHLD reaps them.",
    .model_options = model_options,
};

static struct http_conn conn; /* each child's own copy after fork() */

/* At a stop: SIGTERM to every child this often, until all are gone; SIGKILL after
 * the grace period (common/pool.c stops its workers the same way). */
enum { STOP_RESEND_MS = 200, STOP_GRACE_MS = 5000 };

/* The live children. Written by the handler and by the main loop; the loop blocks
 * SIGCHLD around each access, so the two never interleave. */
static pid_t *children; /* max_procs slots; 0 = free */
static volatile sig_atomic_t live_children;

/* DOC: sigchld-handler
 * One SIGCHLD may stand for several children (pending signals do not queue), so
 * reap in a loop until none is left; WNOHANG, because the handler must not block.
 * waitpid() may change errno under the interrupted code: save and restore it. */
static void reap_children(int signal_number)
{
    /* EXERCISE fork-reap: reap every child that has exited, and forget it */
    (void)signal_number;
    int saved_errno = errno;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        for (int i = 0; i < max_procs; i++)
            if (children[i] == pid)
                children[i] = 0;
        live_children--;
    }
    errno = saved_errno;
    /* END EXERCISE */
}

static void remember_child(pid_t pid) /* SIGCHLD blocked */
{
    /* EXERCISE fork-reap: note a new child */
    for (int i = 0; i < max_procs; i++)
        if (children[i] == 0) {
            children[i] = pid;
            break;
        }
    live_children++;
    /* END EXERCISE */
}

/* DOC: max-procs
 * At max_procs children, wait for one to exit or for a stop. SIGCHLD and the
 * stop signals are blocked by the caller, so neither an exit nor a stop is
 * missed between the test and the wait, as long as the wait lets them in and
 * sleeps in one step (docs/fork_per_conn.md, race 2). (Unblocked first, then
 * pause(): a SIGCHLD in between would leave the parent asleep with a free slot;
 * a SIGTERM there, asleep until a child exits.) */
static void wait_for_free_slot(const sigset_t *unblocked)
{
    /* EXERCISE fork-reap: wait, without a lost wakeup, while max_procs children live */
    while (live_children >= max_procs && !server_stopping())
        sigsuspend(unblocked);
    /* END EXERCISE */
}

/* The child: serve one connection, exit. It owns conn_fd, never listen_fd. */
_Noreturn static void serve_child(struct server *server, int conn_fd, const sigset_t *unblocked)
{
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, unblocked, NULL);
    /* The child shares the parent's listening socket: its stop handler must not
     * shut it down (that would end the parent's accepting). It never accepts,
     * so it needs no wake-up there; stop_children's SIGTERMs reach its read(). */
    server_wake_on_stop(-1);
    close(server->listen_fd);
    net_prepare_connection(conn_fd, server->options.timeout_ms);
    http_serve_connection(&conn, conn_fd, &server->site, &server->stats->workers[0]);
    _exit(0);
}

/* DOC: stop-children
 * At exit: SIGTERM every child until all are reaped, then SIGKILL the rest once
 * the grace period is over. One SIGTERM is not enough: a child that had just
 * decided to keep the connection alive would get it before its next read(),
 * and sleep in that read() until --timeout-ms. ppoll() lets SIGCHLD in for the
 * pause only, as sigsuspend() does, so no exit is missed either. */
static void stop_children(const sigset_t *unblocked)
{
    int64_t deadline = io_now_ms() + STOP_GRACE_MS;
    while (live_children > 0) {
        for (int i = 0; i < max_procs; i++)
            if (children[i] != 0)
                kill(children[i], io_now_ms() < deadline ? SIGTERM : SIGKILL);
        struct timespec pause = {0, STOP_RESEND_MS * 1000000L};
        ppoll(NULL, 0, &pause, unblocked);
    }
}

int main(int argc, char **argv)
{
    struct server server;
    server_start(&server, &spec, argc, argv);
    struct worker_stats *stats = &server.stats->workers[0]; /* shared by all children */
    children = calloc((size_t)max_procs, sizeof *children);
    if (children == NULL)
        server_die(&server, "calloc");

    /* Reap in the handler. No SA_RESTART, as for the stop signals: a child's exit
     * ends the parent's accept() with EINTR, and the loop simply goes round.
     * The signals the parent waits for, SIGCHLD and the stop signals (with
     * SIGUSR1: server_stop_signals), are blocked except where it sleeps. */
    struct sigaction action = {.sa_handler = reap_children, .sa_flags = SA_NOCLDSTOP};
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);
    sigset_t waited_for, unblocked;
    server_stop_signals(&waited_for);
    sigaddset(&waited_for, SIGCHLD);
    sigprocmask(SIG_BLOCK, &waited_for, &unblocked); /* blocked except where let in */

    /* DOC: accept-loop */
    while (!server_stopping()) {
        wait_for_free_slot(&unblocked);
        sigprocmask(SIG_UNBLOCK, &waited_for, NULL); /* reap while we sleep in accept */
        /* SIGUSR1 asks for the stats file: written here (server.h) */
        server_service(&server);
        int conn_fd = net_accept(server.listen_fd, stats);
        sigprocmask(SIG_BLOCK, &waited_for, NULL); /* from here to remember_child */
        if (conn_fd < 0)
            continue; /* a child's exit (EINTR), a stop, or backed off */
        pid_t pid = fork();
        if (pid == 0)
            serve_child(&server, conn_fd, &unblocked);
        if (pid > 0)
            remember_child(pid);
        else
            fprintf(stderr, "fork_per_conn: fork: %s\n", strerror(errno));
        close(conn_fd); /* the child has its own copy; ours would hold it open */
    }
    stop_children(&unblocked);
    return server_finish(&server);
}
