/* http_conn — the connection loop every blocking server and the coroutine server
 * call with a connected socket (UNP's web_child): read, parse, respond, repeat
 * while the connection is kept alive; pipelined requests are answered in order. */
#ifndef HTTP_CONN_H
#define HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "bufpool.h"
#include "http_site.h"
#include "stats.h"

enum {
    HTTP_IN_SIZE = 32768,      /* request line + header section limits, plus room */
    HTTP_OUT_SIZE = 16384,     /* response head, plus a small body in the same write */
    HTTP_BODY_LIMIT = 1 << 20, /* request bodies are discarded up to this: 413 above */
};

/* DOC: conn-buffers
 * in[] and out[] are one block of HTTP_BUFFERS_SIZE bytes, held only while the
 * connection has a request in hand when it has a pool (the event servers): an
 * idle keep-alive connection with nothing buffered holds none. */
struct http_conn {
    int fd;
    const struct http_site *site;
    struct worker_stats *stats;
    size_t in_length;     /* bytes received and not yet used, from in[0] */
    char *in;             /* HTTP_IN_SIZE bytes, or NULL while it holds no buffers */
    char *out;            /* HTTP_OUT_SIZE bytes, right after in[] */
    struct bufpool *pool; /* lends in[] and out[]; NULL: they are malloc'd */
};

enum { HTTP_BUFFERS_SIZE = HTTP_IN_SIZE + HTTP_OUT_SIZE };

/* Serve conn_fd until the client or the server ends the connection; closes it.
 * The buffers are malloc'd for the whole connection (a blocking server: its
 * thread or process costs far more than they do). */
void http_serve_connection(struct http_conn *conn, int conn_fd, const struct http_site *site,
                           struct worker_stats *stats);

/* The same, borrowing the buffers from pool only while a request is in hand:
 * between requests, with nothing buffered, it waits for the socket to become
 * readable (io_wait_readable) before it borrows them again. */
void http_serve_pooled(struct http_conn *conn, int conn_fd, const struct http_site *site,
                       struct worker_stats *stats, struct bufpool *pool);

/* Borrow conn's buffers from conn->pool: 0, or -1 (no memory). */
int http_conn_borrow(struct http_conn *conn);
/* Give them back (whatever in[] still held is dropped: in_length becomes 0). */
void http_conn_release(struct http_conn *conn);

/* For common/http_forward.c, the connection loop's other way to answer. */
struct http_request;
struct http_session;
/* Proxy mode: forward the request whose head is at conn->in[*start] to the
 * upstream and relay its answer; *start moves past the request and its body.
 * True: the connection stays open for the next request; false: it is closed. */
bool http_forward(struct http_conn *conn, struct http_session *session,
                  const struct http_request *request, size_t *start);
/* A request body that follows the head at in[*start]: from the buffer, then
 * from the socket, discarded, or with upstream_fd >= 0 relayed there as it
 * came (framing and all) a buffer at a time. Returns 0, the status that ends
 * the connection (400, 408, 413), -1 (the client failed) or
 * HTTP_BODY_UPSTREAM_FAILED. */
enum { HTTP_BODY_UPSTREAM_FAILED = -2 };
int http_conn_relay_body(struct http_conn *conn, const struct http_request *request, size_t *start,
                         int upstream_fd);
/* Answer status with Connection: close, then close lingering. */
void http_conn_fail(struct http_conn *conn, int status);
/* The last answer is out: give the buffers back, then close, lingering if
 * the rule says so (DOC: linger-rule in net.h: client_closes, the request
 * asked to close; all_read, nothing it sent is left unread). */
void http_conn_close(struct http_conn *conn, bool client_closes, bool all_read);

#endif
