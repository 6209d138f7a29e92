/* http_proxy — the pure parts of proxy mode (--upstream HOST:PORT,
 * docs/design.md#proxy-mode), shared by the blocking relay (common/http_conn.c)
 * and multiplex's upstream states (multiplex/upstream.c): the request head
 * sent upstream, the upstream's response head parsed, the head sent to the
 * client, and the body framing that finds where the upstream's body ends
 * while its bytes pass through. Like http_parse, no allocation and no I/O:
 * bytes in, bytes out.
 *
 * Hop-by-hop fields (RFC 9110 §7.6.1) never cross the proxy: Connection and
 * every field it names, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding and Upgrade. Each side's framing and persistence are its
 * own: the proxy writes them for each hop. */
#ifndef HTTP_PROXY_H
#define HTTP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_conn.h"
#include "http_parse.h"
#include "http_response.h"

/* The one upstream, resolved once at start-up (server_start). */
struct http_upstream {
    struct sockaddr_storage address;
    socklen_t address_length;
    char authority[272]; /* "HOST:PORT" as given: the Host of a request that has none */
};

/* How a message's body is delimited (RFC 9112 §6.3). */
enum http_proxy_framing {
    HTTP_PROXY_NO_BODY,     /* HEAD, 1xx, 204, 304 */
    HTTP_PROXY_LENGTH,      /* Content-Length */
    HTTP_PROXY_CHUNKED,     /* Transfer-Encoding ending in chunked */
    HTTP_PROXY_UNTIL_CLOSE, /* neither: the body ends when the connection does */
};

/* The longest head the upstream may send: the head sent on to the client must
 * fit in out[] (HTTP_OUT_SIZE) with what the proxy adds to it (its Via, the
 * client connection's Connection, Transfer-Encoding: chunked: under
 * HTTP_PROXY_HEAD_ROOM bytes), so every head up to the limit is relayed and
 * every longer one is a 502. 16 128 bytes; nginx's proxy_buffer_size, the
 * same limit there, is 4 or 8 KiB by default. */
enum {
    HTTP_PROXY_HEAD_ROOM = 256,
    HTTP_PROXY_HEAD_MAX = HTTP_OUT_SIZE - HTTP_PROXY_HEAD_ROOM,
};

/* The upstream's response head, as http_proxy_parse_response found it. Its
 * fields stay in the caller's buffer; the head sent on is built from them. */
struct http_upstream_response {
    int status;
    struct http_text reason;
    enum http_proxy_framing framing;
    uint64_t content_length; /* when framing is HTTP_PROXY_LENGTH */
    size_t head_length;      /* bytes of the head, blank line included */
};

/* Bytes sent ahead of every hop's own fields, and the one Via this proxy adds
 * in each direction. */
#define HTTP_PROXY_VIA "Via: 1.1 seven-servers\r\n"

/* Whether the request goes upstream: proxy mode is on and the proxy itself
 * would answer it (GET, HEAD); other methods get the proxy's own 405/501. A
 * /lab/ path goes only to a client this server's own /lab/ rule lets in
 * (http_lab_lets_in): the upstream sees every client as the proxy's loopback
 * address, so the proxy keeps the door (docs/design.md#proxy-mode). */
bool http_proxy_forwards(const struct http_site *site, struct http_session *session,
                         const struct http_request *request);

/* DOC: proxy-request-head
 * The head sent upstream for a parsed request whose head is head[0,
 * request->head_length): the request line in origin-form with HTTP/1.1, the
 * client's fields minus the hop-by-hop ones and Expect (the proxy answers
 * 100-continue itself), the request's Host (an absolute-form target's
 * authority; authority when there is none: HTTP/1.0), Transfer-Encoding as it
 * came when the body is chunked (its bytes pass through as they are), our Via
 * after the client's, and Connection: close. Returns its length in out[0,
 * size), or 0 if it did not fit. */
size_t http_proxy_request_head(const struct http_request *request, const char *head,
                               const char *authority, char *out, size_t size);

/* Parse the upstream's response head from buf[0, length). COMPLETE: *response
 * is filled (head_request: the request was HEAD, so no body follows).
 * NEED_MORE: call again with more bytes (scanned: how many of these bytes an
 * earlier call already looked at, or 0). ERROR: malformed, or no end within
 * HTTP_PROXY_HEAD_MAX bytes, or framing that cannot be trusted (both Content-Length
 * and Transfer-Encoding, two different lengths): the caller answers 502. */
enum http_parse_result http_proxy_parse_response(const char *buf, size_t length, size_t scanned,
                                                 bool head_request,
                                                 struct http_upstream_response *response);

/* The framing of the body sent to the client: the upstream's, except that a
 * chunked body to an HTTP/1.0 client is decoded and ends with the
 * connection (RFC 9112 §7: chunked is HTTP/1.1's). */
enum http_proxy_framing http_proxy_client_framing(const struct http_upstream_response *response,
                                                  int client_version_minor);

/* The head sent to the client for the response whose head is head[0,
 * response->head_length): its status line with HTTP/1.1, its fields minus the
 * hop-by-hop ones (Content-Length too when framing is HTTP_PROXY_UNTIL_CLOSE),
 * Transfer-Encoding: chunked when framing is HTTP_PROXY_CHUNKED, our Via, and
 * the client connection's own Connection field (keep_alive; http10: the
 * client speaks HTTP/1.0, which needs "keep-alive" said). Returns its length,
 * or 0 if it did not fit in out[0, size). */
size_t http_proxy_response_head(const struct http_upstream_response *response, const char *head,
                                enum http_proxy_framing framing, bool keep_alive, bool http10,
                                char *out, size_t size);

/* DOC: proxy-body
 * The body coming from the upstream, a piece at a time: a Content-Length
 * countdown, the chunk scanner (http_parse's body reader, which finds the end
 * of a chunked body while its bytes pass through, or decodes it in place for
 * an HTTP/1.0 client), or until close. State is born zeroed by _start. */
struct http_proxy_body {
    enum http_proxy_framing framing; /* the upstream's */
    bool decode;                     /* chunked to an HTTP/1.0 client: send the data alone */
    struct http_body_reader reader;  /* LENGTH and CHUNKED */
};

void http_proxy_body_start(struct http_proxy_body *body,
                           const struct http_upstream_response *response, bool decode);

/* Of buf[0, length), bytes read from the upstream: *used belong to the body
 * (the rest, after DONE, are not the client's), and buf[0, *send) go to the
 * client (the decoder moves the data there). DONE: the body is complete;
 * MORE: read on (until close: the end of the stream is the end of the body);
 * BAD: malformed chunked framing (the client's connection must close). */
enum http_body_result http_proxy_body_relay(struct http_proxy_body *body, char *buf, size_t length,
                                            size_t *used, size_t *send);

#endif
