/* http_conn — see http_conn.h. The one handler: every server except multiplex
 * runs this loop; only the way conn_fd arrives differs. */
#include "http_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_parse.h"
#include "http_proxy.h"
#include "http_response.h"
#include "io.h"
#include "net.h"
#include "server.h"

enum read_outcome { READ_OK, READ_CLOSED, READ_TIMEOUT, READ_ERROR };

/* Read more bytes into conn->in, first moving unused bytes to the front if the
 * buffer's tail is full. */
static enum read_outcome read_more(struct http_conn *conn, size_t *start, int64_t deadline,
                                   bool request_pending)
{
    if (conn->in_length == HTTP_IN_SIZE && *start > 0) {
        memmove(conn->in, conn->in + *start, conn->in_length - *start);
        conn->in_length -= *start;
        *start = 0;
    }
    for (;;) {
        ssize_t n =
            io_read(conn->fd, conn->in + conn->in_length, HTTP_IN_SIZE - conn->in_length, deadline);
        if (n > 0) {
            conn->in_length += (size_t)n;
            return READ_OK;
        }
        if (n == 0)
            return READ_CLOSED;
        if (errno == EINTR) {
            /* A signal. Stopping with no request under way: end this connection
             * now; otherwise finish reading what the client is sending. */
            if (server_stopping() && !request_pending)
                return READ_CLOSED;
            continue;
        }
        return errno == ETIMEDOUT ? READ_TIMEOUT : READ_ERROR;
    }
}

/* Send what http_respond built: the head (and small body), then a file or the
 * /lab/bytes pattern. Each chunk gets a fresh deadline, so a slow reader of a
 * large file is bounded per step, not in total. */
static int send_response(struct http_conn *conn, struct http_response *response)
{
    int timeout = conn->site->options->timeout_ms;
    if (response->delay_ms > 0)
        io_sleep_ms(response->delay_ms);
    if (io_write_all(conn->fd, conn->out, response->head_length, io_now_ms() + timeout) != 0)
        return -1;
    off_t offset = response->file_offset;
    for (size_t left = response->file_length; left > 0;) {
        size_t chunk = left < (1 << 20) ? left : (1 << 20);
        if (io_sendfile_all(conn->fd, response->file_fd, &offset, chunk, io_now_ms() + timeout) !=
            0)
            return -1;
        left -= chunk;
    }
    for (uint64_t left = response->generated_length; left > 0;) {
        size_t chunk = left < sizeof http_pattern ? (size_t)left : sizeof http_pattern;
        if (io_write_all(conn->fd, http_pattern, chunk, io_now_ms() + timeout) != 0)
            return -1;
        left -= chunk;
    }
    return 0;
}

/* The last answer is out: close, lingering if the rule says so (DOC:
 * linger-rule in net.h; client_closes and all_read as there). The lent buffers
 * go back first: the lingering close may wait for the client for up to
 * NET_LINGER_MS, and with many connections closing at once, buffers held there
 * overflow the pool's spares and cost an mmap, page faults and a munmap per
 * connection (multiplex's linger() holds none either). */
void http_conn_close(struct http_conn *conn, bool client_closes, bool all_read)
{
    if (conn->pool != NULL)
        http_conn_release(conn);
    if (net_close_lingers(conn->site->options->linger, client_closes, all_read))
        net_lingering_close(conn->fd);
    else
        io_close(conn->fd);
}

/* Answer an error that ends the connection, then close it: lingering (unless
 * --linger never), so the client reads the answer even if it is still sending
 * (docs/design.md#lingering-close). */
void http_conn_fail(struct http_conn *conn, int status)
{
    struct http_response response;
    http_respond_error(status, true, conn->out, HTTP_OUT_SIZE, &response);
    send_response(conn, &response);
    http_conn_close(conn, false, false);
}

/* DOC: relay-body
 * The client is read only while the upstream takes what was read: the body's
 * back-pressure. */
int http_conn_relay_body(struct http_conn *conn, const struct http_request *request, size_t *start,
                         int upstream_fd)
{
    struct http_body_reader body;
    http_body_start(&body, request, HTTP_BODY_LIMIT);
    const struct server_options *options = conn->site->options;
    int64_t deadline = io_now_ms() + options->timeout_ms;
    for (;;) {
        size_t used;
        const char *at = conn->in + *start;
        enum http_body_result result =
            http_body_discard(&body, at, conn->in_length - *start, &used);
        if (upstream_fd >= 0 && used > 0 &&
            io_write_all(upstream_fd, at, used, io_now_ms() + options->upstream_timeout_ms) != 0)
            return HTTP_BODY_UPSTREAM_FAILED;
        *start += used;
        if (*start == conn->in_length)
            *start = conn->in_length = 0;
        if (result == HTTP_BODY_DONE)
            return 0;
        if (result == HTTP_BODY_TOO_LARGE)
            return 413;
        if (result == HTTP_BODY_BAD)
            return 400;
        enum read_outcome outcome = read_more(conn, start, deadline, true);
        if (outcome != READ_OK)
            return outcome == READ_TIMEOUT ? 408 : -1;
    }
}

/* DOC: answer
 * Answer from this server's own files and lab. Build the answer while the
 * request's fields still point into in[], then drop the head and any body,
 * then send. A body the client holds back until asked is never read (DOC:
 * expect in http_parse.h). True: the connection stays open for the next
 * request; false: it is closed. */
static bool answer(struct http_conn *conn, struct http_session *session,
                   const struct http_request *request, size_t *start)
{
    struct http_response response;
    bool withheld = http_body_withheld(request, conn->in_length - *start - request->head_length);
    bool keep_alive = request->keep_alive && !server_stopping() && !withheld;
    http_respond(conn->site, session, request, keep_alive, conn->out, HTTP_OUT_SIZE, &response);
    *start += request->head_length;
    int body_status = withheld ? 0 : http_conn_relay_body(conn, request, start, -1);
    if (body_status != 0) {
        http_response_done(&response);
        if (body_status > 0)
            http_conn_fail(conn, body_status);
        else
            io_close(conn->fd);
        return false;
    }
    int sent = send_response(conn, &response);
    http_response_done(&response);
    if (sent != 0) {
        stats_add(&conn->stats->errors, 1);
        io_close(conn->fd);
        return false;
    }
    if (response.close_after) {
        /* A withheld body was never read: the client may send it yet. */
        http_conn_close(conn, !request->keep_alive, !withheld && conn->in_length == *start);
        return false;
    }
    return true;
}

int http_conn_borrow(struct http_conn *conn)
{
    char *block = bufpool_get(conn->pool);
    if (block == NULL)
        return -1;
    conn->in = block;
    conn->out = block + HTTP_IN_SIZE;
    return 0;
}

void http_conn_release(struct http_conn *conn)
{
    bufpool_put(conn->pool, conn->in);
    conn->in = conn->out = NULL;
    conn->in_length = 0;
}

/* Wait, holding no buffers, until the next request's first bytes arrive. */
static enum read_outcome wait_for_request(struct http_conn *conn, int64_t deadline)
{
    while (io_wait_readable(conn->fd, deadline) != 0) {
        if (errno == ETIMEDOUT)
            return READ_TIMEOUT;
        if (errno != EINTR)
            return READ_ERROR;
        if (server_stopping())
            return READ_CLOSED; /* as read_more: no request under way */
    }
    return READ_OK;
}

/* DOC: connection-loop */
static void serve(struct http_conn *conn)
{
    int conn_fd = conn->fd;
    const struct http_site *site = conn->site;
    struct worker_stats *stats = conn->stats;
    size_t start = 0; /* where the next request begins in conn->in */
    struct http_session session;
    http_session_start(&session, conn_fd);
    stats_add(&stats->connections, 1);

    for (;;) {
        /* One deadline bounds both an idle keep-alive wait and a slow head. */
        int64_t deadline = io_now_ms() + site->options->timeout_ms;
        if (conn->in == NULL) { /* idle, buffers given back: wait, then borrow */
            enum read_outcome outcome = wait_for_request(conn, deadline);
            if (outcome == READ_OK && http_conn_borrow(conn) != 0)
                outcome = READ_ERROR;
            if (outcome != READ_OK) {
                if (outcome == READ_ERROR)
                    stats_add(&stats->errors, 1);
                io_close(conn_fd);
                return;
            }
        }
        struct http_request request;
        enum http_parse_result parsed = HTTP_PARSE_NEED_MORE;
        enum read_outcome outcome = READ_OK;
        size_t scanned = 0; /* of this head, what the parser answered NEED_MORE for */
        while (outcome == READ_OK) {
            if (conn->in_length > start) {
                size_t length = conn->in_length - start;
                parsed = http_parse_request(conn->in + start, length, scanned, &request);
                if (parsed != HTTP_PARSE_NEED_MORE)
                    break;
                scanned = length;
            }
            outcome = read_more(conn, &start, deadline, conn->in_length > start);
        }
        bool partial = conn->in_length > start;
        if (outcome == READ_TIMEOUT && partial) {
            stats_add(&stats->errors, 1);
            http_conn_fail(conn, 408);
            return;
        }
        if (outcome != READ_OK) { /* closed, idle timeout, or an error */
            if (outcome == READ_ERROR)
                stats_add(&stats->errors, 1);
            io_close(conn_fd);
            return;
        }
        stats_add(&stats->requests, 1);
        if (parsed == HTTP_PARSE_ERROR) {
            http_conn_fail(conn, request.error_status);
            return;
        }

        if (request.body == HTTP_BODY_LENGTH && request.content_length > HTTP_BODY_LIMIT) {
            http_conn_fail(conn, 413);
            return;
        }
        bool kept = http_proxy_forwards(site, &session, &request)
                        ? http_forward(conn, &session, &request, &start)
                        : answer(conn, &session, &request, &start);
        if (!kept)
            return; /* closed */
        /* A stop that came while this answer was under way: the answer said
         * keep-alive, but the stop's signal is spent (a write retries after
         * EINTR), so none would end the wait for a next request. */
        if (server_stopping() && conn->in_length == start) {
            io_close(conn_fd);
            return;
        }
        /* DOC: take-turns
         * More pipelined requests are waiting: a cooperative server would
         * answer them all before anybody else (docs/coroutine.md#fairness). */
        if (conn->in_length > start) {
            io_yield();
        } else if (conn->pool != NULL) {
            http_conn_release(conn); /* idle with nothing buffered (pipelined bytes are) */
            start = 0;
        }
    }
}

void http_serve_connection(struct http_conn *conn, int conn_fd, const struct http_site *site,
                           struct worker_stats *stats)
{
    *conn = (struct http_conn){.fd = conn_fd, .site = site, .stats = stats};
    char *block = malloc(HTTP_BUFFERS_SIZE);
    if (block == NULL) {
        stats_add(&stats->connections, 1);
        stats_add(&stats->errors, 1);
        io_close(conn_fd);
        return;
    }
    conn->in = block;
    conn->out = block + HTTP_IN_SIZE;
    serve(conn);
    free(block);
}

void http_serve_pooled(struct http_conn *conn, int conn_fd, const struct http_site *site,
                       struct worker_stats *stats, struct bufpool *pool)
{
    *conn = (struct http_conn){.fd = conn_fd, .site = site, .stats = stats, .pool = pool};
    serve(conn);
    if (conn->in != NULL)
        http_conn_release(conn);
}
