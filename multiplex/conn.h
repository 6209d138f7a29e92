/* conn — multiplex's per-connection state machine. It does what
 * http_serve_connection() does (common/http_conn.c), with the same parser,
 * the same response builder and the same rules, but one step at a time: each
 * step runs until the socket would block, records where it stopped in the
 * connection's struct, and returns to the event loop. Everything a blocking
 * handler keeps in local variables and in its position in the code lives in
 * struct conn here. */
#ifndef MULTIPLEX_CONN_H
#define MULTIPLEX_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "event.h"
#include "event_server.h"
#include "http_conn.h"
#include "http_parse.h"
#include "http_response.h"
#include "list.h"
#include "server.h"

/* DOC: conn-states */
enum conn_state {
    CONN_IDLE,          /* waiting for a request, holding no buffers */
    CONN_READING_HEAD,  /* waiting for (the rest of) a request head */
    CONN_READING_BODY,  /* discarding a request body */
    CONN_DELAYING,      /* /lab/sleep: a timer, not a sleeping process */
    CONN_SENDING_HEAD,  /* status line, fields, small body: out[] */
    CONN_SENDING_FILE,  /* sendfile() of the rest */
    CONN_SENDING_BYTES, /* /lab/bytes: the generated pattern */
    CONN_LINGERING,     /* closing: write side shut, draining input (DOC: linger-rule) */
    /* Proxy mode (--upstream): a second socket, multiplex/upstream.c */
    CONN_CONNECTING,       /* connecting to the upstream */
    CONN_SENDING_REQUEST,  /* the request head, then its body, to the upstream */
    CONN_READING_UPSTREAM, /* waiting for (the rest of) the upstream's head */
    CONN_RELAYING,         /* the head, then the upstream's body, to the client */
};

/* What one event loop (one process) serves. */
struct multiplex {
    struct event_loop *loop;
    const struct server *server;
    struct worker_stats *stats;     /* this loop's slot */
    struct event_acceptor acceptor; /* the listening socket (common/event_server.c) */
    struct list conns;              /* every open connection, for the stop */
    int count;
    struct bufpool buffers; /* lent to the connections with a request in hand */
};

struct conn {
    struct http_conn http; /* fd, and in[] and out[] while a request is in hand */
    struct multiplex *mux;
    enum conn_state state;
    /* The blocking handler's local variables, kept across returns to the loop: */
    size_t start;                  /* where the next request begins in http.in */
    struct http_session session;   /* the per-connection limits' counts */
    size_t head_scanned;           /* bytes of that request the parser answered NEED_MORE for */
    struct http_body_reader body;  /* progress through a request body */
    struct http_response response; /* what to send, and the file it holds */
    size_t head_sent;              /* bytes of out[] already written */
    off_t file_offset;             /* next byte of the file to send */
    size_t file_left;
    uint64_t bytes_left;       /* of the /lab/bytes pattern */
    bool client_closes;        /* the request asked to close, its body all read */
    size_t lingered;           /* bytes drained while lingering */
    struct event_timer timer;  /* the one deadline of the current state */
    struct list_node node;     /* in mux->conns */
    struct upstream *upstream; /* proxy mode: the second socket, while forwarding; else NULL */
};

/* What a state handler tells the driver. */
enum step {
    STEP_NEXT,   /* the state changed: run the new one now */
    STEP_WAIT,   /* waiting for the socket or the timer */
    STEP_CLOSED, /* the connection is gone: touch it no more */
};

/* For the upstream states (multiplex/upstream.c), the steps every state ends
 * in, as conn.c's own states take them. */
enum step conn_wait(struct conn *conn, int events); /* watch the client socket (0: not) */
int conn_set_deadline(struct conn *conn, int milliseconds);
enum step conn_close(struct conn *conn);             /* and free it */
enum step conn_fail(struct conn *conn);              /* the same, counted in errors */
enum step conn_error(struct conn *conn, int status); /* answer status, then close */
enum step conn_finish(struct conn *conn);            /* the answer is out: keep-alive or close */
void conn_advance(struct conn *conn);                /* run the states until one waits */

/* multiplex/upstream.c: forward the request just parsed (its head at
 * http.in[start]) instead of answering it. */
enum step upstream_start(struct conn *conn, const struct http_request *request);
/* The handler of the current upstream state. */
enum step upstream_step(struct conn *conn);
/* The current upstream state's deadline passed. */
void upstream_timed_out(struct conn *conn);
/* Close the upstream socket and give its buffer back (no-op without one). */
void upstream_end(struct conn *conn);

/* Set up mux's buffer pool (before the first conn_start). */
void conn_init(struct multiplex *mux);

/* The acceptor's callback: start serving a connection it accepted. */
void conn_start(struct event_acceptor *acceptor, int conn_fd);

/* At a stop: close every connection that is waiting for a request and has
 * received none of it; the others finish (their responses say Connection: close). */
void conn_close_idle(struct multiplex *mux);

/* After the drain: unmap the pool's free buffers. */
void conn_destroy(struct multiplex *mux);

#endif
