/* pool — a supervised pool of worker processes, for every model that preforks
 * (prefork, prefork_select, and multiplex/coroutine with --workers N).
 *
 * The parent forks the workers after the counters are mapped (UNP's meter), names
 * each one (prctl: "prefork-w3"), replaces a worker that dies abnormally (logged,
 * with back-off against a crash loop) and, on SIGINT/SIGTERM, stops the workers,
 * reaps them all and returns. */
#ifndef POOL_H
#define POOL_H

#include "server.h"

/* What one worker runs: serve until server_stopping(), then return. */
typedef void pool_worker_fn(struct server *server, int worker_id, void *context);

/* Fork server->options.workers workers running worker_main and supervise them
 * until the server is asked to stop. Returns in the parent once every worker
 * has been reaped; workers never return from it. */
void pool_run(struct server *server, pool_worker_fn *worker_main, void *context);

#endif
