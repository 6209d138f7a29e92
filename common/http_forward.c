/* http_forward — proxy mode in the blocking servers and the coroutine server
 * (docs/design.md#proxy-mode): the connection loop (common/http_conn.c) hands
 * it each request it would otherwise answer itself. Two sockets, one blocking
 * handler: each step waits on one of them through the io layer, so the
 * coroutine server runs this unchanged, and multiplex does the same in
 * explicit states (multiplex/upstream.c; `make diffs` shows the pair). The
 * pure parts, the heads each way and the body framing, are common/http_proxy.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"
#include "http_proxy.h"
#include "http_response.h"
#include "io.h"
#include "server.h"

/* forward's relay buffer goes back where it came from. */
static void release_relay(struct http_conn *conn, char *relay)
{
    if (relay != NULL && conn->pool != NULL)
        bufpool_put(conn->pool, relay);
    else
        free(relay);
}

/* The upstream's answer to a forwarded request: its head read into
 * relay[0, HTTP_IN_SIZE) and parsed (1xx interim answers skipped: the proxy
 * asked for none). Returns 0 with *filled bytes in relay, or the status the
 * proxy answers instead: 504 if the upstream stayed silent past its timeout,
 * 502 for anything else (closed, reset, malformed, too large). */
static int read_upstream_head(int upstream_fd, int timeout_ms, bool head_request, char *relay,
                              size_t *filled, struct http_upstream_response *response)
{
    size_t scanned = 0;
    for (;;) {
        enum http_parse_result parsed =
            http_proxy_parse_response(relay, *filled, scanned, head_request, response);
        if (parsed == HTTP_PARSE_ERROR)
            return 502;
        if (parsed == HTTP_PARSE_COMPLETE && response->status == 101)
            return 502; /* an upgrade nobody asked for (Upgrade never goes upstream) */
        if (parsed == HTTP_PARSE_COMPLETE && response->status >= 200)
            return 0;
        if (parsed == HTTP_PARSE_COMPLETE) { /* 1xx: drop it, the answer follows */
            *filled -= response->head_length;
            memmove(relay, relay + response->head_length, *filled);
            scanned = 0;
            continue;
        }
        scanned = *filled;
        ssize_t n =
            io_read(upstream_fd, relay + *filled, HTTP_IN_SIZE - *filled, io_now_ms() + timeout_ms);
        if (n > 0)
            *filled += (size_t)n;
        else if (n == 0)
            return 502;
        else if (errno != EINTR) /* a stop: the request is under way, finish it */
            return errno == ETIMEDOUT ? 504 : 502;
    }
}

/* The upstream's body, relayed to the client a buffer at a time: read a
 * bounded piece from one socket, write it all to the other (so the upstream
 * is read only as fast as the client takes it: back-pressure for free).
 * relay[0, pending) holds what came after the head. Returns 0 when the body
 * is complete, -1 when the client failed (gone, or too slow), -2 when the
 * upstream did (closed or silent in the middle: a short body). */
static int relay_response_body(struct http_conn *conn, int upstream_fd,
                               struct http_proxy_body *body, char *relay, size_t pending)
{
    const struct server_options *options = conn->site->options;
    for (;;) {
        size_t used, send;
        enum http_body_result result = http_proxy_body_relay(body, relay, pending, &used, &send);
        if (send > 0 && io_write_all(conn->fd, relay, send, io_now_ms() + options->timeout_ms) != 0)
            return -1;
        if (result == HTTP_BODY_DONE)
            return 0;
        if (result != HTTP_BODY_MORE)
            return -2;
        ssize_t n;
        do
            n = io_read(upstream_fd, relay, HTTP_IN_SIZE,
                        io_now_ms() + options->upstream_timeout_ms);
        while (n < 0 && errno == EINTR);
        if (n == 0 && body->framing == HTTP_PROXY_UNTIL_CLOSE)
            return 0;
        if (n <= 0)
            return -2;
        pending = (size_t)n;
    }
}

/* DOC: forward
 * Proxy mode (docs/design.md#proxy-mode): the same request goes to the
 * upstream, the answer comes back. Two sockets, one blocking handler: each
 * step waits on one of them through the io layer, so the coroutine server
 * runs this unchanged. The relay buffer holds the request head sent upstream,
 * then the upstream's head, then its body a piece at a time: at most
 * HTTP_IN_SIZE bytes in flight per direction. */
bool http_forward(struct http_conn *conn, struct http_session *session,
                  const struct http_request *request, size_t *start)
{
    const struct http_site *site = conn->site;
    int upstream_timeout = site->options->upstream_timeout_ms;
    bool withheld = http_body_withheld(request, conn->in_length - *start - request->head_length);
    bool keep_alive = http_session_count(site, session, request->keep_alive && !server_stopping());
    bool head_request = request->method == HTTP_HEAD, http10 = request->version_minor == 0;
    char *relay = conn->pool != NULL ? bufpool_get(conn->pool) : malloc(HTTP_IN_SIZE);
    int upstream_fd = -1, status = 502;
    if (relay == NULL)
        goto fail;
    size_t length = http_proxy_request_head(request, conn->in + *start, site->upstream->authority,
                                            relay, HTTP_IN_SIZE);
    *start += request->head_length; /* request's text fields are stale from here on */
    if (length == 0)
        goto fail;
    upstream_fd = io_connect((const struct sockaddr *)&site->upstream->address,
                             site->upstream->address_length, io_now_ms() + upstream_timeout);
    if (upstream_fd < 0 ||
        io_write_all(upstream_fd, relay, length, io_now_ms() + upstream_timeout) != 0) {
        status = errno == ETIMEDOUT ? 504 : 502;
        goto fail;
    }
    if (request->body != HTTP_BODY_NONE) {
        /* The proxy reads the body, so it answers 100-continue itself. */
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (withheld && io_write_all(conn->fd, go_on, sizeof go_on - 1,
                                     io_now_ms() + site->options->timeout_ms) != 0)
            goto client_gone;
        int body_status = http_conn_relay_body(conn, request, start, upstream_fd);
        if (body_status == -1)
            goto client_gone;
        if (body_status != 0) { /* a 4xx of the client's, or the upstream failed */
            status = body_status > 0 ? body_status : errno == ETIMEDOUT ? 504 : 502;
            goto fail;
        }
    }
    size_t filled = 0;
    struct http_upstream_response response;
    status =
        read_upstream_head(upstream_fd, upstream_timeout, head_request, relay, &filled, &response);
    if (status != 0)
        goto fail;
    enum http_proxy_framing framing = http_proxy_client_framing(&response, http10 ? 0 : 1);
    keep_alive = keep_alive && framing != HTTP_PROXY_UNTIL_CLOSE;
    length = http_proxy_response_head(&response, relay, framing, keep_alive, http10, conn->out,
                                      HTTP_OUT_SIZE);
    status = 502;
    if (length == 0)
        goto fail;
    if (io_write_all(conn->fd, conn->out, length, io_now_ms() + site->options->timeout_ms) != 0)
        goto client_gone;
    struct http_proxy_body body;
    http_proxy_body_start(&body, &response, framing != response.framing);
    size_t pending = filled - response.head_length;
    memmove(relay, relay + response.head_length, pending);
    int relayed = relay_response_body(conn, upstream_fd, &body, relay, pending);
    io_close(upstream_fd);
    release_relay(conn, relay);
    if (relayed != 0) { /* a short body: only closing tells the client */
        stats_add(&conn->stats->errors, 1);
        io_close(conn->fd);
        return false;
    }
    /* A stop that came while the upstream had the request ends the connection
     * now: the stop's one interrupt of a read (sched.c, uring.c) may have been
     * spent on the upstream's, and the idle wait would sit out the drain. */
    if (!keep_alive || server_stopping()) {
        http_conn_close(conn, !request->keep_alive, conn->in_length == *start);
        return false;
    }
    return true;

client_gone:
    stats_add(&conn->stats->errors, 1);
    io_close(upstream_fd);
    release_relay(conn, relay);
    io_close(conn->fd);
    return false;
fail: /* the proxy answers instead, and closes: a body may be left unread */
    if (status >= 500)
        stats_add(&conn->stats->errors, 1); /* the upstream's failures; 4xx are the client's */
    if (upstream_fd >= 0)
        io_close(upstream_fd);
    release_relay(conn, relay);
    http_conn_fail(conn, status);
    return false;
}
