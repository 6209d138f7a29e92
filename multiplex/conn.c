/* conn — see conn.h. The state machine, in the order a request moves through it:
 *
 *   accept ─▶ IDLE ─▶ READING_HEAD ─▶ READING_BODY ─▶ [DELAYING] ─▶ SENDING_HEAD
 *              ▲          ▲                                             │
 *              │          │              SENDING_BYTES ◀─ SENDING_FILE ◀┘
 *              │          └─ pipelined ◀──────┤
 *              └── keep-alive, nothing buffered ◀──┴──▶ Connection: close ─▶ [LINGERING]
 *
 * Each state has one handler that runs until the socket would block (it then
 * says what to wait for) or the state is done (it names the next state). An
 * error response goes through SENDING_HEAD like any other, then LINGERING; a
 * Connection: close answer lingers only when the client may still be sending
 * (DOC: linger-rule in common/net.h), else it closes at once.
 * Each state also has one deadline, kept in the connection's single timer. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_proxy.h"
#include "io.h"
#include "net.h"

enum { FILE_CHUNK = 1 << 20 };

static void on_ready(struct event_loop *loop, int fd, int ready, void *data);
static void on_timer(struct event_loop *loop, void *data);

/* With no timer to end it (out of memory), a connection ends now: after the
 * shutdown its socket is readable and writable at once, and every read or
 * write fails. Returns -1 then: a wait for the timer alone would never end. */
static int set_deadline(struct conn *conn, int milliseconds)
{
    if (event_timer_start(conn->mux->loop, &conn->timer, io_now_ms() + milliseconds, on_timer,
                          conn) == 0)
        return 0;
    shutdown(conn->http.fd, SHUT_RDWR);
    return -1;
}

static int timeout_ms(const struct conn *conn)
{
    return conn->mux->server->options.timeout_ms;
}

static enum step close_conn(struct conn *conn)
{
    struct multiplex *mux = conn->mux;
    event_timer_cancel(mux->loop, &conn->timer);
    upstream_end(conn);
    http_response_done(&conn->response);
    if (conn->http.in != NULL)
        http_conn_release(&conn->http);
    event_close(mux->loop, conn->http.fd); /* unwatch, then close: see event.h */
    list_remove(&conn->node);
    mux->count--;
    event_acceptor_closed(&mux->acceptor); /* room again: the --max-conns rule */
    free(conn);
    return STEP_CLOSED;
}

static enum step fail_conn(struct conn *conn)
{
    stats_add(&conn->mux->stats->errors, 1);
    return close_conn(conn);
}

/* Watch the socket for events (0: for nothing, e.g. while a timer runs). */
static enum step wait_for(struct conn *conn, int events)
{
    if (event_watch(conn->mux->loop, conn->http.fd, events, on_ready, conn) != 0)
        return fail_conn(conn);
    return STEP_WAIT;
}

static enum step enter_reading_head(struct conn *conn)
{
    conn->state = CONN_READING_HEAD;
    set_deadline(conn, timeout_ms(conn)); /* bounds an idle keep-alive and a slow head */
    return STEP_NEXT;
}

/* DOC: idle
 * Between requests with nothing buffered (and before the first): give the
 * buffers back and wait for the socket without them. One deadline bounds the
 * idle wait and the head that follows, as in the blocking handler. */
static enum step enter_idle(struct conn *conn)
{
    if (conn->http.in != NULL)
        http_conn_release(&conn->http);
    conn->start = 0;
    conn->state = CONN_IDLE;
    set_deadline(conn, timeout_ms(conn));
    if (server_stopping())
        return STEP_NEXT; /* look now: read_head ends it unless a request is there */
    return wait_for(conn, EVENT_READ);
}

/* The socket became readable: borrow the buffers and read the head. */
static enum step leave_idle(struct conn *conn)
{
    if (http_conn_borrow(&conn->http) != 0)
        return fail_conn(conn);
    conn->state = CONN_READING_HEAD; /* the deadline enter_idle set bounds this head too */
    return STEP_NEXT;
}

static enum step enter_sending(struct conn *conn)
{
    conn->state = CONN_SENDING_HEAD;
    conn->head_sent = 0;
    conn->file_offset = conn->response.file_offset;
    conn->file_left = conn->response.file_fd >= 0 ? conn->response.file_length : 0;
    conn->bytes_left = conn->response.generated_length;
    set_deadline(conn, timeout_ms(conn));
    return STEP_NEXT;
}

/* An error that ends the connection: answer it, then linger
 * (docs/design.md#lingering-close). */
static enum step enter_error(struct conn *conn, int status)
{
    conn->client_closes = false; /* the rest of the request may be on its way */
    http_response_done(&conn->response);
    http_respond_error(status, true, conn->http.out, HTTP_OUT_SIZE, &conn->response);
    return enter_sending(conn);
}

/* Read more bytes into in[] (moving unused ones to the front if the tail is
 * full). Returns what read() returned, or -2 if there is no room at all. */
static ssize_t read_more(struct conn *conn)
{
    struct http_conn *http = &conn->http;
    if (http->in_length == HTTP_IN_SIZE && conn->start > 0) {
        memmove(http->in, http->in + conn->start, http->in_length - conn->start);
        http->in_length -= conn->start;
        conn->start = 0;
    }
    if (http->in_length == HTTP_IN_SIZE)
        return -2;
    ssize_t n = read(http->fd, http->in + http->in_length, HTTP_IN_SIZE - http->in_length);
    if (n > 0)
        http->in_length += (size_t)n;
    return n;
}

/* DOC: reading-head */
static enum step read_head(struct conn *conn)
{
    struct http_conn *http = &conn->http;
    bool partial = http->in_length > conn->start;
    if (partial) {
        struct http_request request;
        size_t length = http->in_length - conn->start;
        enum http_parse_result parsed =
            http_parse_request(http->in + conn->start, length, conn->head_scanned, &request);
        if (parsed != HTTP_PARSE_NEED_MORE) {
            stats_add(&conn->mux->stats->requests, 1);
            /* This head is over: the next one (keep-alive, pipelined) starts
             * with nothing scanned. A resume offset left by this head would
             * make the parser skip checks on bytes it never saw, or wait for
             * bytes that already came (http_parse.h). */
            conn->head_scanned = 0;
        }
        if (parsed == HTTP_PARSE_ERROR)
            return enter_error(conn, request.error_status);
        if (parsed == HTTP_PARSE_COMPLETE) {
            if (request.body == HTTP_BODY_LENGTH && request.content_length > HTTP_BODY_LIMIT)
                return enter_error(conn, 413);
            if (http_proxy_forwards(http->site, &conn->session, &request))
                return upstream_start(conn, &request);
            /* Build the answer while the request's fields still point into in[].
             * A body held back until asked is never read (DOC: expect in
             * common/http_parse.h): answered at once, and closed. */
            bool withheld = http_body_withheld(&request, length - request.head_length);
            bool keep_alive = request.keep_alive && !server_stopping() && !withheld;
            http_respond(http->site, &conn->session, &request, keep_alive, http->out, HTTP_OUT_SIZE,
                         &conn->response);
            conn->start += request.head_length;
            /* A withheld body was never read: the client may send it yet. */
            conn->client_closes = !request.keep_alive && !withheld;
            http_body_start(&conn->body, &request, HTTP_BODY_LIMIT);
            if (withheld)
                conn->body.framing = HTTP_BODY_NONE; /* READING_BODY reads none */
            conn->state = CONN_READING_BODY;
            set_deadline(conn, timeout_ms(conn));
            return STEP_NEXT;
        }
        conn->head_scanned = length;
    }
    ssize_t n = read_more(conn);
    if (n > 0)
        return STEP_NEXT;
    if (n == 0 || n == -2)
        return close_conn(conn); /* the client closed (with a head unfinished: nothing to answer) */
    if (errno == EINTR)
        return STEP_NEXT;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return fail_conn(conn);
    if (server_stopping() && !partial)
        return close_conn(conn); /* stopping, and no request under way */
    return wait_for(conn, EVENT_READ);
}

static enum step read_body(struct conn *conn)
{
    struct http_conn *http = &conn->http;
    size_t used;
    enum http_body_result result = http_body_discard(&conn->body, http->in + conn->start,
                                                     http->in_length - conn->start, &used);
    conn->start += used;
    if (conn->start == http->in_length)
        conn->start = http->in_length = 0;
    if (result == HTTP_BODY_TOO_LARGE)
        return enter_error(conn, 413);
    if (result == HTTP_BODY_BAD)
        return enter_error(conn, 400);
    if (result == HTTP_BODY_DONE) {
        if (conn->response.delay_ms > 0) {
            /* /lab/sleep: the loop serves everybody else meanwhile. */
            conn->state = CONN_DELAYING;
            if (set_deadline(conn, conn->response.delay_ms) != 0)
                return enter_sending(conn);
            return wait_for(conn, 0);
        }
        return enter_sending(conn);
    }
    ssize_t n = read_more(conn);
    if (n > 0 || (n < 0 && errno == EINTR))
        return STEP_NEXT;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return wait_for(conn, EVENT_READ);
    return close_conn(conn); /* closed or failed in the middle of a body */
}

/* After a write that made progress: the next step gets a fresh deadline, so a
 * slow reader of a large file is bounded per step, not in total. */
static enum step wrote(struct conn *conn, ssize_t n, enum conn_state done_state, bool done)
{
    /* EXERCISE mux-write: after a write, go on, wait for room, or give up */
    if (n < 0) {
        if (errno == EINTR)
            return STEP_NEXT;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return wait_for(conn, EVENT_WRITE);
        return fail_conn(conn); /* EPIPE, ECONNRESET: the client went away */
    }
    set_deadline(conn, timeout_ms(conn));
    if (done)
        conn->state = done_state;
    return STEP_NEXT;
    /* END EXERCISE */
}

static enum step finish_response(struct conn *conn)
{
    http_response_done(&conn->response);
    if (!conn->response.close_after) { /* keep-alive */
        if (conn->http.in_length == conn->start)
            return enter_idle(conn); /* back to the loop: it waits for the socket */
        enter_reading_head(conn);    /* a pipelined request is in in[] */
        /* DOC: take-turns
         * Answering it now, and the next, would keep the loop from everybody
         * else. Wait for the socket to be writable instead (it is: the loop
         * reports it next pass, after the others ready in this one).
         * (docs/multiplex.md#fairness) */
        return wait_for(conn, EVENT_WRITE);
    }
    /* Connection: close. If the client may still be sending (DOC: linger-rule
     * in common/net.h), shut our side, then read what it sends until it
     * closes too, so our answer is not destroyed by a reset; else close now. */
    bool all_read = conn->http.in_length == conn->start;
    http_conn_release(&conn->http); /* linger() reads into a buffer of its own */
    if (!net_close_lingers(conn->mux->server->options.linger, conn->client_closes, all_read))
        return close_conn(conn);
    shutdown(conn->http.fd, SHUT_WR);
    conn->state = CONN_LINGERING;
    conn->lingered = 0;
    set_deadline(conn, NET_LINGER_MS); /* net.h's bounds */
    return STEP_NEXT;
}

/* DOC: sending */
static enum step send_some(struct conn *conn)
{
    /* EXERCISE mux-write: write the next part of the response, never blocking */
    struct http_conn *http = &conn->http;
    ssize_t n;
    switch (conn->state) {
    case CONN_SENDING_HEAD:
        n = write(http->fd, http->out + conn->head_sent,
                  conn->response.head_length - conn->head_sent);
        if (n > 0)
            conn->head_sent += (size_t)n;
        return wrote(conn, n, CONN_SENDING_FILE, conn->head_sent == conn->response.head_length);
    case CONN_SENDING_FILE:
        if (conn->file_left == 0) {
            conn->state = CONN_SENDING_BYTES;
            return STEP_NEXT;
        }
        n = sendfile(http->fd, conn->response.file_fd, &conn->file_offset,
                     conn->file_left < FILE_CHUNK ? conn->file_left : FILE_CHUNK);
        if (n == 0) {
            errno = EIO; /* the file shrank under us */
            n = -1;
        }
        if (n > 0)
            conn->file_left -= (size_t)n;
        return wrote(conn, n, CONN_SENDING_BYTES, conn->file_left == 0);
    default: /* CONN_SENDING_BYTES */
        if (conn->bytes_left == 0)
            return finish_response(conn);
        size_t at =
            (size_t)((conn->response.generated_length - conn->bytes_left) % sizeof http_pattern);
        size_t chunk = sizeof http_pattern - at;
        if (chunk > conn->bytes_left)
            chunk = (size_t)conn->bytes_left;
        n = write(http->fd, http_pattern + at, chunk);
        if (n > 0)
            conn->bytes_left -= (uint64_t)n;
        return wrote(conn, n, CONN_SENDING_BYTES, false);
    }
    /* END EXERCISE */
}

static enum step linger(struct conn *conn)
{
    char discard[4096];
    ssize_t n = read(conn->http.fd, discard, sizeof discard);
    if (n > 0) {
        conn->lingered += (size_t)n;
        return conn->lingered < NET_LINGER_BYTES ? STEP_NEXT : close_conn(conn);
    }
    if (n < 0 && errno == EINTR)
        return STEP_NEXT;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return wait_for(conn, EVENT_READ);
    return close_conn(conn); /* the client closed too (or reset): done */
}

/* DOC: advance
 * Run the current state's handler until the connection must wait or is gone. */
static void advance(struct conn *conn)
{
    enum step step = STEP_NEXT;
    while (step == STEP_NEXT) {
        switch (conn->state) {
        case CONN_IDLE: step = leave_idle(conn); break;
        case CONN_READING_HEAD: step = read_head(conn); break;
        case CONN_READING_BODY: step = read_body(conn); break;
        case CONN_DELAYING: step = STEP_WAIT; break;
        case CONN_LINGERING: step = linger(conn); break;
        case CONN_CONNECTING:
        case CONN_SENDING_REQUEST:
        case CONN_READING_UPSTREAM:
        case CONN_RELAYING: step = upstream_step(conn); break;
        default: step = send_some(conn); break;
        }
    }
}

static void on_ready(struct event_loop *loop, int fd, int ready, void *data)
{
    (void)loop, (void)fd, (void)ready;
    advance(data);
}

/* DOC: on-timer
 * The state's deadline passed. Mirrors what the blocking handler does when a
 * read or write times out. */
static void on_timer(struct event_loop *loop, void *data)
{
    (void)loop;
    struct conn *conn = data;
    switch (conn->state) {
    case CONN_DELAYING: /* not a timeout: the /lab/sleep delay is over */
        if (enter_sending(conn) == STEP_NEXT)
            advance(conn);
        return;
    case CONN_IDLE:
        close_conn(conn); /* idle keep-alive: end it quietly */
        return;
    case CONN_READING_HEAD:
        if (conn->http.in_length == conn->start) {
            close_conn(conn); /* idle keep-alive: end it quietly */
            return;
        }
        stats_add(&conn->mux->stats->errors, 1);
        enter_error(conn, 408); /* a head that never finished */
        advance(conn);
        return;
    case CONN_READING_BODY:
        enter_error(conn, 408);
        advance(conn);
        return;
    case CONN_LINGERING: close_conn(conn); return;
    case CONN_CONNECTING:
    case CONN_SENDING_REQUEST:
    case CONN_READING_UPSTREAM:
    case CONN_RELAYING: upstream_timed_out(conn); return;
    default: /* sending: the client stopped reading */ fail_conn(conn); return;
    }
}

/* The steps, for multiplex/upstream.c (conn.h). */
enum step conn_wait(struct conn *conn, int events)
{
    return wait_for(conn, events);
}
int conn_set_deadline(struct conn *conn, int milliseconds)
{
    return set_deadline(conn, milliseconds);
}
enum step conn_close(struct conn *conn)
{
    return close_conn(conn);
}
enum step conn_fail(struct conn *conn)
{
    return fail_conn(conn);
}
enum step conn_error(struct conn *conn, int status)
{
    return enter_error(conn, status);
}
enum step conn_finish(struct conn *conn)
{
    return finish_response(conn);
}
void conn_advance(struct conn *conn)
{
    advance(conn);
}

/* DOC: conn-start
 * A new connection (common/event_server.c accepted it): a struct conn, IDLE,
 * and as far as it can go at once. The struct is born zeroed (calloc): malloc
 * would hand it the bytes of a connection freed before, and any field not set
 * here (a count, an offset) would carry that connection's state into this one.
 * Only the fields whose start is not zero are set below. */
void conn_start(struct event_acceptor *acceptor, int conn_fd)
{
    struct multiplex *mux = acceptor->data;
    struct conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        event_acceptor_refuse(acceptor, conn_fd, "out of memory");
        return;
    }
    conn->http = (struct http_conn){
        .fd = conn_fd, .site = &mux->server->site, .stats = mux->stats, .pool = &mux->buffers};
    conn->mux = mux;
    http_session_start(&conn->session, conn_fd);
    conn->response.file_fd = -1;
    conn->timer = (struct event_timer)EVENT_TIMER_INIT;
    list_push(&mux->conns, &conn->node);
    mux->count++;
    stats_add(&mux->stats->connections, 1);
    if (enter_idle(conn) == STEP_NEXT)
        advance(conn);
}

void conn_init(struct multiplex *mux)
{
    bufpool_init(&mux->buffers, HTTP_BUFFERS_SIZE);
}
void conn_destroy(struct multiplex *mux)
{
    bufpool_trim(&mux->buffers);
}

void conn_close_idle(struct multiplex *mux)
{
    for (struct list_node *node = mux->conns.first, *next; node != NULL; node = next) {
        next = node->next; /* close_conn frees conn, never next */
        struct conn *conn = LIST_ITEM(node, struct conn, node);
        if (conn->state == CONN_IDLE ||
            (conn->state == CONN_READING_HEAD && conn->http.in_length == conn->start))
            close_conn(conn);
    }
}
