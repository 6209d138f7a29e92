/* dispatch — prefork --dispatch pass-fd (UNP §30.9): the parent accepts every
 * connection and passes the descriptor to an idle child over a Unix socket
 * (SCM_RIGHTS); the child writes one byte back each time it is idle again. */
#ifndef PREFORK_DISPATCH_H
#define PREFORK_DISPATCH_H

#include "server.h"

/* Run the server in this mode until it is asked to stop; workers never return. */
void dispatch_run(struct server *server);

#endif
