/* pool — a supervised pool of worker processes, for every model that preforks
 * (prefork, prefork_select, and multiplex/coroutine with --workers N).
 *
 * The parent forks the workers after the counters are mapped (UNP's meter), names
 * each one (prctl: "prefork-w3"), replaces a worker that dies abnormally (logged,
 * with back-off against a crash loop) and, on SIGINT/SIGTERM/SIGHUP, stops the workers,
 * reaps them all and returns. A worker's CPU time goes into its counter slot when
 * it is reaped (wait4's rusage), so a killed worker's CPU is counted too. */
#ifndef POOL_H
#define POOL_H

#include <poll.h>

#include "server.h"

/* What one worker runs: serve until server_stopping(), then return. */
typedef void pool_worker_fn(struct server *server, int worker_id, void *context);

/* Fork server->options.workers workers running worker_main and supervise them
 * until the server is asked to stop. Returns in the parent once every worker
 * has been reaped; workers never return from it. */
void pool_run(struct server *server, pool_worker_fn *worker_main, void *context);

/* A parent with a loop of its own (prefork --dispatch pass-fd) drives the pool in
 * three steps instead: pool_run is exactly
 *     pool_start(...); while (!server_stopping()) pool_poll(NULL, 0); pool_stop();
 * before_fork, if not NULL, runs in the parent before each worker is forked, the
 * first time and for every replacement: the place to make that worker's channel.
 *
 * Between pool_start and pool_stop the parent keeps SIGCHLD and the signals of
 * server_stop_signals (SIGINT, SIGTERM, SIGHUP, SIGUSR1) blocked except inside pool_poll, so a stop
 * request or a child's death can never slip in between the loop's check and its wait (the lost
 * wakeup). */
typedef void pool_fork_fn(int worker_id, void *context);
void pool_start(struct server *server, pool_worker_fn *worker_main, pool_fork_fn *before_fork,
                void *context);
/* poll(fds, count) with no timeout of its own; the signals are let in only here.
 * Reaps and replaces dead workers before waiting. Returns poll's count, or -1 with
 * errno EINTR after a signal (the caller looks at server_stopping()). */
int pool_poll(struct pollfd *fds, int count);
void pool_stop(void);

#endif
