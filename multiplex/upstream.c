/* upstream — multiplex's proxy mode (--upstream, docs/design.md#proxy-mode):
 * the states of a connection whose request goes to the upstream. The
 * blocking handler does this in http_forward() (common/http_forward.c), one call after
 * another with a relay buffer on its stack; here each step is a state, and
 * where it stands lives in struct upstream:
 *
 *   READING_HEAD ─▶ CONNECTING ─▶ SENDING_REQUEST ─▶ READING_UPSTREAM ─▶ RELAYING ─▶ finish
 *                     (head, then the body)       (1xx skipped)   (head, body)  (conn.c)
 *                   └──────── 502 / 504: an error answer (conn.c) ┘     └─ broken: close
 *
 * Two sockets, and only one of them is watched at a time: the one the state
 * waits on. Level-triggered readiness on the other would wake the loop again
 * and again (pipelined bytes from the client, an upstream with more to send
 * while the client is slow). That is the back-pressure, both ways: the
 * upstream is not read while the relay buffer holds bytes the client has not
 * taken, and the client's body is not read while the upstream has not taken
 * the previous piece. Each state has one deadline, in the connection's timer:
 * --upstream-timeout-ms while it waits on the upstream, --timeout-ms while it
 * waits on the client. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "http_proxy.h"
#include "io.h"

/* What a blocking handler keeps in http_forward()'s local variables. Born zeroed
 * (calloc) at upstream_start, freed at upstream_end. */
struct upstream {
    int fd;
    char *relay;          /* HTTP_IN_SIZE bytes lent by the loop's pool */
    size_t length, sent;  /* relay[sent, length): bytes still to send (to either side) */
    size_t scanned;       /* of the upstream's head, what the parser said NEED_MORE for */
    size_t continue_sent; /* of the 100 Continue, when the client waits for it */
    bool withheld, keep_alive, http10, head_request;
    bool body_done;           /* the request body is all in relay[] or sent */
    bool waiting_on_upstream; /* which socket the deadline is for */
    bool response_done;       /* the upstream's body is complete */
    bool response_bad;        /* ... or its chunked framing broke: close after what is sent */
    struct http_upstream_response response;
    struct http_proxy_body body;
};

static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int upstream_timeout_ms(const struct conn *conn)
{
    return conn->mux->server->options.upstream_timeout_ms;
}

static enum step upstream_failed(struct conn *conn);

static void on_upstream_ready(struct event_loop *loop, int fd, int ready, void *data)
{
    (void)loop, (void)fd, (void)ready;
    conn_advance(data);
}

/* Wait on the upstream alone (the client is not watched meanwhile). */
static enum step wait_upstream(struct conn *conn, int events)
{
    struct upstream *up = conn->upstream;
    up->waiting_on_upstream = true;
    event_unwatch(conn->mux->loop, conn->http.fd);
    conn_set_deadline(conn, upstream_timeout_ms(conn));
    if (event_watch(conn->mux->loop, up->fd, events, on_upstream_ready, conn) != 0)
        return upstream_failed(conn); /* beyond select's FD_SETSIZE, or no memory */
    return STEP_WAIT;
}

/* Wait on the client alone (the upstream is not watched meanwhile). */
static enum step wait_client(struct conn *conn, int events)
{
    struct upstream *up = conn->upstream;
    up->waiting_on_upstream = false;
    event_unwatch(conn->mux->loop, up->fd);
    conn_set_deadline(conn, conn->mux->server->options.timeout_ms);
    return conn_wait(conn, events);
}

void upstream_end(struct conn *conn)
{
    struct upstream *up = conn->upstream;
    if (up == NULL)
        return;
    if (up->fd >= 0)
        event_close(conn->mux->loop, up->fd); /* unwatch, then close: see event.h */
    if (up->relay != NULL)
        bufpool_put(&conn->mux->buffers, up->relay);
    free(up);
    conn->upstream = NULL;
}

/* The upstream failed before the client's answer began: the proxy answers
 * status itself (502, 504; or the client's 4xx for a bad body), and closes. */
static enum step answer_instead(struct conn *conn, int status)
{
    if (status >= 500)
        stats_add(&conn->mux->stats->errors, 1);
    upstream_end(conn);
    return conn_error(conn, status);
}

/* The upstream failed in the middle of its body: only closing tells the
 * client its body is short. */
static enum step broken(struct conn *conn)
{
    return conn_fail(conn); /* conn_close ends the upstream too */
}

/* The upstream cannot be waited for: 502 before the client's answer began,
 * a closed connection after. */
static enum step upstream_failed(struct conn *conn)
{
    return conn->state == CONN_RELAYING ? broken(conn) : answer_instead(conn, 502);
}

/* DOC: upstream-start */
enum step upstream_start(struct conn *conn, const struct http_request *request)
{
    struct http_conn *http = &conn->http;
    struct upstream *up = calloc(1, sizeof *up);
    if (up == NULL)
        return conn_error(conn, 503);
    conn->upstream = up;
    up->fd = -1;
    up->withheld =
        http_body_withheld(request, http->in_length - conn->start - request->head_length);
    up->keep_alive =
        http_session_count(http->site, &conn->session, request->keep_alive && !server_stopping());
    up->http10 = request->version_minor == 0;
    up->head_request = request->method == HTTP_HEAD;
    up->relay = bufpool_get(&conn->mux->buffers);
    if (up->relay != NULL)
        up->length =
            http_proxy_request_head(request, http->in + conn->start,
                                    http->site->upstream->authority, up->relay, HTTP_IN_SIZE);
    conn->start += request->head_length; /* request's text is stale from here on */
    http_body_start(&conn->body, request, HTTP_BODY_LIMIT);
    up->body_done = request->body == HTTP_BODY_NONE;
    if (up->length == 0)
        return answer_instead(conn, 502);
    const struct http_upstream *upstream = http->site->upstream;
    up->fd = socket(upstream->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (up->fd < 0)
        return answer_instead(conn, 502);
    conn->state = CONN_CONNECTING;
    return STEP_NEXT;
}

/* DOC: upstream-connecting
 * connect() asked again says how the handshake went (as io_connect in
 * common/io.c): EINPROGRESS or EALREADY, still going; EISCONN, done. */
static enum step connecting(struct conn *conn)
{
    struct upstream *up = conn->upstream;
    const struct http_upstream *upstream = conn->http.site->upstream;
    if (connect(up->fd, (const struct sockaddr *)&upstream->address, upstream->address_length) !=
            0 &&
        errno != EISCONN) {
        if (errno == EINPROGRESS || errno == EALREADY || errno == EINTR)
            return wait_upstream(conn, EVENT_WRITE);
        return answer_instead(conn, 502); /* refused, unreachable */
    }
    int on = 1;
    setsockopt(up->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    conn->state = CONN_SENDING_REQUEST;
    return STEP_NEXT;
}

/* A write to the upstream or the client failed, or would block. */
static enum step write_failed(struct conn *conn, bool to_upstream)
{
    if (errno == EINTR)
        return STEP_NEXT;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return to_upstream ? wait_upstream(conn, EVENT_WRITE) : wait_client(conn, EVENT_WRITE);
    if (to_upstream)
        return answer_instead(conn, 502);
    return conn_fail(conn); /* the client went away: the upstream goes too */
}

/* DOC: upstream-sending
 * The head, from relay[], then the request body a piece at a time: the body
 * reader (common/http_parse.c) says how much of in[] belongs to the body, and
 * that piece goes to the upstream before the client is read again. */
static enum step send_request(struct conn *conn)
{
    struct upstream *up = conn->upstream;
    struct http_conn *http = &conn->http;
    if (up->sent < up->length) { /* the head, then each piece of the body */
        ssize_t n = write(up->fd, up->relay + up->sent, up->length - up->sent);
        if (n < 0)
            return write_failed(conn, true);
        up->sent += (size_t)n;
        conn_set_deadline(conn, upstream_timeout_ms(conn));
        return STEP_NEXT;
    }
    if (up->withheld && up->continue_sent < sizeof go_on - 1) { /* the client waits to be asked */
        ssize_t n =
            write(http->fd, go_on + up->continue_sent, sizeof go_on - 1 - up->continue_sent);
        if (n < 0)
            return write_failed(conn, false);
        up->continue_sent += (size_t)n;
        return STEP_NEXT;
    }
    if (up->body_done) {
        up->length = up->sent = 0;
        conn->state = CONN_READING_UPSTREAM;
        return STEP_NEXT;
    }
    /* The next piece of the body: copied into relay[], where it waits until the
     * upstream takes it. */
    size_t used;
    enum http_body_result result = http_body_discard(&conn->body, http->in + conn->start,
                                                     http->in_length - conn->start, &used);
    memcpy(up->relay, http->in + conn->start, used);
    up->length = used;
    up->sent = 0;
    conn->start += used;
    if (conn->start == http->in_length)
        conn->start = http->in_length = 0;
    if (result == HTTP_BODY_TOO_LARGE)
        return answer_instead(conn, 413);
    if (result == HTTP_BODY_BAD)
        return answer_instead(conn, 400);
    up->body_done = result == HTTP_BODY_DONE;
    if (used > 0 || up->body_done)
        return STEP_NEXT;
    ssize_t n = read(http->fd, http->in + http->in_length, HTTP_IN_SIZE - http->in_length);
    if (n > 0) {
        http->in_length += (size_t)n;
        conn_set_deadline(conn, conn->mux->server->options.timeout_ms);
        return STEP_NEXT;
    }
    if (n < 0 && errno == EINTR)
        return STEP_NEXT;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return wait_client(conn, EVENT_READ);
    return conn_close(conn); /* the client closed (or failed) in the middle of its body */
}

/* Of relay[0, n), bytes from the upstream: what goes to the client. */
static enum step take_body(struct conn *conn, size_t n)
{
    struct upstream *up = conn->upstream;
    size_t used, send;
    enum http_body_result result = http_proxy_body_relay(&up->body, up->relay, n, &used, &send);
    up->response_bad = result == HTTP_BODY_BAD;
    up->response_done = result == HTTP_BODY_DONE;
    up->length = send;
    up->sent = 0;
    return STEP_NEXT;
}

/* DOC: upstream-reading-head */
static enum step read_upstream_head(struct conn *conn)
{
    struct upstream *up = conn->upstream;
    struct http_upstream_response *response = &up->response;
    enum http_parse_result parsed =
        http_proxy_parse_response(up->relay, up->length, up->scanned, up->head_request, response);
    if (parsed == HTTP_PARSE_ERROR || (parsed == HTTP_PARSE_COMPLETE && response->status == 101))
        return answer_instead(conn, 502);
    if (parsed == HTTP_PARSE_COMPLETE && response->status < 200) { /* 1xx: the answer follows */
        up->length -= response->head_length;
        memmove(up->relay, up->relay + response->head_length, up->length);
        up->scanned = 0;
        return STEP_NEXT;
    }
    if (parsed == HTTP_PARSE_COMPLETE) {
        enum http_proxy_framing framing = http_proxy_client_framing(response, up->http10 ? 0 : 1);
        up->keep_alive = up->keep_alive && framing != HTTP_PROXY_UNTIL_CLOSE;
        size_t head_length = http_proxy_response_head(response, up->relay, framing, up->keep_alive,
                                                      up->http10, conn->http.out, HTTP_OUT_SIZE);
        if (head_length == 0)
            return answer_instead(conn, 502);
        /* conn.c's SENDING_HEAD bookkeeping: finish_response reads close_after. */
        conn->response = (struct http_response){
            .file_fd = -1, .head_length = head_length, .close_after = !up->keep_alive};
        conn->head_sent = 0;
        http_proxy_body_start(&up->body, response, framing != response->framing);
        size_t rest = up->length - response->head_length;
        memmove(up->relay, up->relay + response->head_length, rest);
        conn->state = CONN_RELAYING;
        conn_set_deadline(conn, conn->mux->server->options.timeout_ms);
        return take_body(conn, rest);
    }
    up->scanned = up->length;
    ssize_t n = read(up->fd, up->relay + up->length, HTTP_IN_SIZE - up->length);
    if (n > 0) {
        up->length += (size_t)n;
        conn_set_deadline(conn, upstream_timeout_ms(conn));
        return STEP_NEXT;
    }
    if (n < 0 && errno == EINTR)
        return STEP_NEXT;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return wait_upstream(conn, EVENT_READ);
    return answer_instead(conn, 502); /* closed or reset before its head was complete */
}

/* DOC: upstream-relaying
 * The client's head, then the body: relay[] is emptied into the client
 * before the upstream is read again. */
static enum step relay(struct conn *conn)
{
    struct upstream *up = conn->upstream;
    struct http_conn *http = &conn->http;
    const char *from = http->out + conn->head_sent;
    size_t left = conn->response.head_length - conn->head_sent;
    if (left == 0) {
        from = up->relay + up->sent;
        left = up->length - up->sent;
    }
    if (left > 0) {
        ssize_t n = write(http->fd, from, left);
        if (n < 0)
            return write_failed(conn, false);
        if (conn->head_sent < conn->response.head_length)
            conn->head_sent += (size_t)n;
        else
            up->sent += (size_t)n;
        conn_set_deadline(conn, conn->mux->server->options.timeout_ms);
        return STEP_NEXT;
    }
    if (up->response_bad)
        return broken(conn);
    if (up->response_done) {
        upstream_end(conn);
        return conn_finish(conn);
    }
    ssize_t n = read(up->fd, up->relay, HTTP_IN_SIZE);
    if (n > 0) {
        conn_set_deadline(conn, upstream_timeout_ms(conn));
        return take_body(conn, (size_t)n);
    }
    if (n == 0 && up->body.framing == HTTP_PROXY_UNTIL_CLOSE) {
        up->response_done = true;
        return STEP_NEXT;
    }
    if (n < 0 && errno == EINTR)
        return STEP_NEXT;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return wait_upstream(conn, EVENT_READ);
    return broken(conn); /* closed, or reset, in the middle of the body */
}

enum step upstream_step(struct conn *conn)
{
    switch (conn->state) {
    case CONN_CONNECTING: return connecting(conn);
    case CONN_SENDING_REQUEST: return send_request(conn);
    case CONN_READING_UPSTREAM: return read_upstream_head(conn);
    default: return relay(conn); /* CONN_RELAYING */
    }
}

/* DOC: upstream-timeout
 * Mirrors what http_forward() does when a read or write of its times out. */
void upstream_timed_out(struct conn *conn)
{
    bool upstream_silent = conn->upstream->waiting_on_upstream;
    enum step step;
    if (conn->state == CONN_RELAYING)
        step = broken(conn); /* a silent upstream or a client that stopped reading */
    else if (upstream_silent)
        step = answer_instead(conn, 504);
    else
        step = answer_instead(conn, 408); /* the client's body stopped coming */
    if (step == STEP_NEXT)
        conn_advance(conn);
}
