/* server — what every server does before and after its own model: parse the
 * command line, open the root, listen, map the counters, handle signals, print
 * the start-up line; and at the end, report. */
#ifndef SERVER_H
#define SERVER_H

#include <signal.h>
#include <stdbool.h>

#include "http_site.h"
#include "options.h"
#include "stats.h"

struct server {
    const struct server_spec *spec;
    struct server_options options;
    int listen_fd;         /* -1 when the model listens per worker (--reuseport) */
    struct http_site site; /* what the handler needs: root, lab switches, timeout */
    struct stats_region *stats;
};

/* Set by SIGINT/SIGTERM/SIGHUP (see server_wake_on_stop for the rest of a stop).
 * The handler is installed without SA_RESTART, so a read() it interrupts returns
 * EINTR and the connection loop can look at the flag. */
extern volatile sig_atomic_t server_stop_requested;

/* Threads read the flag the main thread's handler sets: a relaxed atomic load
 * (free on every CPU we run on) keeps that a non-race for ThreadSanitizer. */
static inline bool server_stopping(void)
{
    return __atomic_load_n(&server_stop_requested, __ATOMIC_RELAXED) != 0;
}

/* Set by every signal the main loop must act on (a stop, SIGUSR1), for a loop
 * that waits on one flag (event_loop_run in event_server_run); server_service
 * clears it. */
extern volatile sig_atomic_t server_attention;

/* DOC: stop-wake
 * What a stop does, in every server. SIGINT or SIGTERM runs one handler
 * (server.c): it sets server_stop_requested, and it shuts down the read side of
 * the listening socket named here. The flag alone leaves a race: the signal can
 * land after the loop has checked server_stopping() but before it sleeps in
 * accept(), and accept() would sleep on. After the shutdown Linux fails every
 * accept() on that socket, blocked or later, with EINVAL (or EINTR, if the
 * signal interrupted it), so the loop comes round and sees the flag.
 *
 * server_start names the socket it listens on. Pass -1 where a process must not
 * close the listening for others on its own SIGTERM: pool_start (common/pool.c)
 * does, in the parent, before it forks the workers, who share the socket and
 * are stopped by the parent's repeated SIGTERM; fork_per_conn's child does, as
 * its first step. */
void server_wake_on_stop(int listen_fd);

/* The signals a main loop serves, as a set: the stop signals SIGINT, SIGTERM and
 * SIGHUP, and SIGUSR1 (server_service). For a loop that blocks them outside its
 * wait (common/pool.c, event_loop_set_stop_signals). */
void server_stop_signals(sigset_t *set);

/* Parse the options, open the root, map the counters, install the signal
 * handlers (SIGPIPE ignored) and, unless spec->listens_itself, listen, call
 * server_wake_on_stop on the socket and print the start-up line. The counters get
 * spec->counter_slots() worker slots if it is set, else one per --workers, or
 * one if --workers means nothing to the model (spec->default_workers == 0).
 * Exits with 2 or 1 and one line on stderr on failure. */
void server_start(struct server *server, const struct server_spec *spec, int argc, char **argv);
/* The start-up line, for a model that listens itself (spec->listens_itself). */
void server_announce(const struct server *server, int port);

/* What a main loop does before each wait: if SIGUSR1 asked for it, write the
 * stats file now (the handler only sets a flag: fopen is not async-signal-safe).
 * The signal interrupts the wait (EINTR), and the loop comes round to it. A
 * SIGUSR1 that lands between the call and a blocking accept() waits for the
 * next connection; the pool parent's ppoll and the event loops' waits, which
 * let the signal in only while they wait (server_stop_signals), do not have
 * that window. */
void server_service(struct server *server);

/* Record CPU, print the summary, write the stats file. Returns the exit status. */
int server_finish(struct server *server);

/* Room for a one-line error message from the library (net_listen,
 * event_loop_create): every caller's buffer has this size. */
enum { SERVER_ERROR_SIZE = 256 };

/* Exit status 1 with "NAME: message: strerror(errno)" on stderr, for start-up failures. */
_Noreturn void server_die(const struct server *server, const char *what);
/* The same with a message the library wrote (net_listen, event_loop_create):
 * "NAME: message". */
_Noreturn void server_fail(const struct server *server, const char *message);

#endif
