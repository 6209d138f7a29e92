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

/* Set by SIGINT/SIGTERM. The handler is installed without SA_RESTART, so a
 * blocking accept() or read() returns EINTR and the loop can look at the flag. */
extern volatile sig_atomic_t server_stop_requested;

static inline bool server_stopping(void) { return server_stop_requested != 0; }

/* Parse options, open the root, map counters for worker_slots workers, install
 * the signal handlers (SIGPIPE ignored) and, unless listen is false, bind and
 * print the start-up line. Exits with 2 or 1 and one line on stderr on failure. */
void server_start(struct server *server, const struct server_spec *spec, int argc,
                  char **argv, int worker_slots, bool listen);
/* The start-up line, for a model that listened by itself (listen == false). */
void server_announce(const struct server *server, int port);

/* Record CPU, print the summary, write the stats file. Returns the exit status. */
int server_finish(struct server *server);

/* Exit status 1 with "NAME: message: strerror(errno)" on stderr, for start-up failures. */
_Noreturn void server_die(const struct server *server, const char *what);

#endif
