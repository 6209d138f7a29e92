/* http_conn — the connection loop every blocking server and the coroutine server
 * call with a connected socket (UNP's web_child): read, parse, respond, repeat
 * while the connection is kept alive; pipelined requests are answered in order. */
#ifndef HTTP_CONN_H
#define HTTP_CONN_H

#include <stddef.h>

#include "http_site.h"
#include "stats.h"

enum {
    HTTP_IN_SIZE = 32768,           /* request line + header section limits, plus room */
    HTTP_OUT_SIZE = 16384,          /* response head, plus a small body in the same write */
    HTTP_BODY_LIMIT = 1 << 20,      /* request bodies are discarded up to this: 413 above */
};

struct http_conn {
    int fd;
    const struct http_site *site;
    struct worker_stats *stats;
    size_t in_length;               /* bytes received and not yet used, from in[0] */
    char in[HTTP_IN_SIZE];
    char out[HTTP_OUT_SIZE];
};

/* Serve conn_fd until the client or the server ends the connection; closes it.
 * conn is scratch space (large: keep it off small stacks). */
void http_serve_connection(struct http_conn *conn, int conn_fd, const struct http_site *site,
                           struct worker_stats *stats);

#endif
