/* server — what every server does before and after its own model: parse the
 * command line, open the root, listen, map the counters, handle signals, print
 * the start-up line; and at the end, report. */
#ifndef SERVER_H
#define SERVER_H

#include <signal.h>
#include <stdbool.h>

#include "http_conn.h"
#include "options.h"
#include "stats.h"

struct server {
    const struct server_spec *spec;
    struct server_options options;
    int listen_fd;                  /* -1 when the model listens per worker (--reuseport) */
    struct http_site site;          /* what the handler needs: root, lab switches, timeout */
    struct stats_region *stats;
};

/* Set by SIGINT/SIGTERM/SIGHUP. The handler is installed without SA_RESTART, so a
 * blocking accept() or read() returns EINTR and the loop can look at the flag. */
extern volatile sig_atomic_t server_stop_requested;

/* Threads read the flag the main thread's handler sets: a relaxed atomic load
 * (free on every CPU we run on) keeps that a non-race for ThreadSanitizer. */
static inline bool server_stopping(void)
{
    return __atomic_load_n(&server_stop_requested, __ATOMIC_RELAXED) != 0;
}

/* The race a flag alone leaves open: the stop signal lands after the loop has
 * checked server_stopping() but before it sleeps in accept(), and accept()
 * sleeps on. So the handler also shuts down the read side of this listening
 * socket (Linux then fails a blocked or later accept() with EINVAL). server_start
 * names its own socket when it listens; -1 turns it off. A child that must not
 * end its parent's listening on its own SIGTERM (a worker, fork_per_conn's
 * child) calls server_wake_on_stop(-1) first. */
void server_wake_on_stop(int listen_fd);

/* Parse options, open the root, map counters for worker_slots workers (0: one
 * per --workers, for a model whose worker count is an option), install
 * the signal handlers (SIGPIPE ignored) and, unless listen is false, bind and
 * print the start-up line. Exits with 2 or 1 and one line on stderr on failure. */
void server_start(struct server *server, const struct server_spec *spec, int argc,
                  char **argv, int worker_slots, bool listen);
/* The start-up line, for a model that listened by itself (listen == false). */
void server_announce(const struct server *server, int port);

/* What a main loop does before each wait: if SIGUSR1 asked for it, write the
 * stats file now (the handler only sets a flag: fopen is not async-signal-safe).
 * The signal interrupts the wait (EINTR), and the loop comes round to it. A
 * SIGUSR1 that lands between the call and a blocking accept() waits for the
 * next connection; the pool parent's ppoll and the event loops' 1 s passes do
 * not have that window. */
void server_service(struct server *server);

/* Record CPU, print the summary, write the stats file. Returns the exit status. */
int server_finish(struct server *server);

/* Exit status 1 with "NAME: message: strerror(errno)" on stderr, for start-up failures. */
_Noreturn void server_die(const struct server *server, const char *what);

#endif
