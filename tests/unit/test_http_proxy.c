/* test_http_proxy — proxy mode's pure parts (common/http_proxy.c), as tables:
 *   - the request head sent upstream, for a request parsed by http_parse:
 *     exact bytes (origin-form, hop-by-hop fields gone, Host, Via, close);
 *   - the upstream's response head parsed: status, framing, length, or ERROR;
 *     fed whole, then cut after every byte (a prefix answers NEED_MORE, or the
 *     ERROR the whole answers), resumed with scanned as the caller passes it;
 *   - the head sent to the client: exact bytes for each framing and keep-alive;
 *   - the body relay: what goes to the client and where the body ends, fed
 *     whole, in two pieces cut at every byte, and a byte at a time.
 * Each row is one cmocka test named after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_proxy.h"

#define BYTES(s) s, sizeof(s) - 1
#define VIA      "Via: 1.1 seven-servers\r\n"

/* ---- the request head sent upstream ------------------------------------------------ */

struct request_case {
    const char *name;
    const char *request; /* a whole request head, parsed by http_parse_request */
    const char *sent;    /* what goes upstream, exactly */
};

static const struct request_case request_cases[] = {
    {"request: origin-form, fields kept, Via and close added",
     "GET /a.txt?x=1 HTTP/1.1\r\nHost: h:8\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
     "GET /a.txt?x=1 HTTP/1.1\r\nHost: h:8\r\nAccept: */*\r\nUser-Agent: t\r\n" VIA
     "Connection: close\r\n\r\n"},
    {"request: absolute-form goes as origin-form, its authority as Host",
     "GET http://evil.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
     "GET /p?q HTTP/1.1\r\nHost: evil.example:81\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: absolute-form without a path is /",
     "HEAD http://evil.example HTTP/1.1\r\nHost: evil.example\r\n\r\n",
     "HEAD / HTTP/1.1\r\nHost: evil.example\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: hop-by-hop fields dropped, and those Connection names",
     "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
     "Keep-Alive: 5\r\nProxy-Connection: k\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\n"
     "X-Kept: 2\r\nconnection: x-other\r\nX-Other: 3\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\nX-Kept: 2\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: our Via after the client's",
     "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a, 1.1 b\r\nX: y\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a, 1.1 b\r\nX: y\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: HTTP/1.0 without Host gets the upstream's", "GET /x HTTP/1.0\r\nA: b\r\n\r\n",
     "GET /x HTTP/1.1\r\nHost: up:9\r\nA: b\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: empty lines before the request-line", "\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: Content-Length kept, Expect dropped (the proxy answers it)",
     "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n" VIA "Connection: close\r\n\r\n"},
    {"request: a chunked body keeps its Transfer-Encoding",
     "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n" VIA
     "Connection: close\r\n\r\n"},
    {"request: field values trimmed, names as sent",
     "GET / HTTP/1.1\r\nhOsT: h\r\nX-A:  v \r\n\r\n",
     "GET / HTTP/1.1\r\nHost: h\r\nX-A: v\r\n" VIA "Connection: close\r\n\r\n"},
};

static void test_request_case(void **state)
{
    const struct request_case *row = *state;
    struct http_request request;
    assert_int_equal(http_parse_request(row->request, strlen(row->request), 0, &request),
                     HTTP_PARSE_COMPLETE);
    char out[1024];
    size_t length = http_proxy_request_head(&request, row->request, "up:9", out, sizeof out);
    assert_int_equal(length, strlen(row->sent));
    assert_memory_equal(out, row->sent, length);
    /* Too small a buffer, at every size: 0, never a cut head. */
    for (size_t size = 0; size < length; size++)
        assert_int_equal(http_proxy_request_head(&request, row->request, "up:9", out, size), 0);
}

/* ---- the upstream's response head ------------------------------------------------- */

struct response_case {
    const char *name;
    const char *input;
    size_t length;
    bool head_request;
    enum http_parse_result result;
    int status;
    enum http_proxy_framing framing;
    uint64_t content_length;
    size_t tail; /* bytes after the head */
};

#define RESPONSE(name, text, ...)                                                                  \
    {                                                                                              \
        name, BYTES(text), __VA_ARGS__                                                             \
    }
#define OK(s, f)  .result = HTTP_PARSE_COMPLETE, .status = (s), .framing = (f)
#define BAD       .result = HTTP_PARSE_ERROR
#define LENGTH(n) OK(200, HTTP_PROXY_LENGTH), .content_length = (n)

static const struct response_case response_cases[] = {
    RESPONSE("response: Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
             LENGTH(5), .tail = 5),
    RESPONSE("response: bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", LENGTH(0)),
    RESPONSE("response: HTTP/1.0, empty reason", "HTTP/1.0 200 \r\nContent-Length: 1\r\n\r\n",
             LENGTH(1)),
    RESPONSE("response: no SP before a missing reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n",
             LENGTH(1)),
    RESPONSE("response: chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             OK(200, HTTP_PROXY_CHUNKED), .tail = 5),
    RESPONSE("response: gzip, chunked",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
             OK(200, HTTP_PROXY_CHUNKED)),
    RESPONSE("response: chunked not last reads until close",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
             OK(200, HTTP_PROXY_UNTIL_CLOSE)),
    RESPONSE("response: neither length nor coding reads until close", "HTTP/1.1 200 OK\r\n\r\nab",
             OK(200, HTTP_PROXY_UNTIL_CLOSE), .tail = 2),
    RESPONSE("response: HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
             .head_request = true, OK(200, HTTP_PROXY_NO_BODY), .content_length = 9),
    RESPONSE("response: 204 has no body", "HTTP/1.1 204 No Content\r\n\r\n",
             OK(204, HTTP_PROXY_NO_BODY)),
    RESPONSE("response: 304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
             OK(304, HTTP_PROXY_NO_BODY), .content_length = 9),
    RESPONSE("response: 100 has no body", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
             OK(100, HTTP_PROXY_NO_BODY), .tail = 17),
    RESPONSE("response: the same length twice",
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
             "Content-Length: 3\r\n\r\n",
             LENGTH(3)),
    RESPONSE("response: two lengths",
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", BAD),
    RESPONSE("response: length and coding",
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", BAD),
    RESPONSE("response: length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n", BAD),
    RESPONSE("response: length a list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", BAD),
    RESPONSE("response: status not 3 digits", "HTTP/1.1 20 OK\r\n\r\n", BAD),
    RESPONSE("response: status letters", "HTTP/1.1 2xx OK\r\n\r\n", BAD),
    RESPONSE("response: status below 100", "HTTP/1.1 099 Odd\r\n\r\n", BAD),
    RESPONSE("response: not HTTP/1", "HTTP/2.0 200 OK\r\n\r\n", BAD),
    RESPONSE("response: garbage", "hello there\r\n\r\n", BAD),
    RESPONSE("response: a field without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", BAD),
    RESPONSE("response: obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", BAD),
    RESPONSE("response: a bare CR in a field", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", BAD),
    RESPONSE("response: a NUL in the reason", "HTTP/1.1 200 O\0K\r\n\r\n", BAD),
    RESPONSE("response: a head still coming", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
             .result = HTTP_PARSE_NEED_MORE),
};

/* The answer for buf[0, length), resumed the way a caller does: the bytes
 * before scanned answered NEED_MORE. */
static void expect_response(const struct response_case *row, const char *buf, size_t length,
                            size_t scanned)
{
    struct http_upstream_response response;
    enum http_parse_result result =
        http_proxy_parse_response(buf, length, scanned, row->head_request, &response);
    size_t head = row->length - row->tail;
    if (length == row->length) {
        assert_int_equal(result, row->result);
    } else if (row->result == HTTP_PARSE_COMPLETE) {
        assert_int_equal(result, length < head ? HTTP_PARSE_NEED_MORE : HTTP_PARSE_COMPLETE);
    } else if (result != HTTP_PARSE_NEED_MORE) { /* an error may show early, never another */
        assert_int_equal(result, row->result);
    }
    if (result == HTTP_PARSE_COMPLETE && row->result == HTTP_PARSE_COMPLETE) {
        assert_int_equal(response.status, row->status);
        assert_int_equal(response.framing, row->framing);
        assert_int_equal(response.head_length, head);
        if (row->framing == HTTP_PROXY_LENGTH || row->content_length > 0)
            assert_int_equal(response.content_length, row->content_length);
    }
}

static void test_response_case(void **state)
{
    const struct response_case *row = *state;
    char *buf = malloc(row->length + 1);
    assert_non_null(buf);
    memcpy(buf, row->input, row->length);
    for (size_t cut = 0; cut <= row->length; cut++) {
        expect_response(row, buf, cut, 0);
        /* resumed: the first cut bytes answered NEED_MORE before */
        struct http_upstream_response response;
        if (cut > 0 && http_proxy_parse_response(buf, cut, 0, row->head_request, &response) ==
                           HTTP_PARSE_NEED_MORE)
            expect_response(row, buf, row->length, cut);
    }
    free(buf);
}

static void test_response_too_large(void **state)
{
    (void)state;
    size_t size = HTTP_PROXY_HEAD_MAX + 64;
    char *buf = malloc(size);
    assert_non_null(buf);
    memset(buf, 'a', size);
    memcpy(buf, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
    struct http_upstream_response response;
    /* No end within HTTP_PROXY_HEAD_MAX bytes: ERROR once they are there, not before. */
    assert_int_equal(http_proxy_parse_response(buf, HTTP_PROXY_HEAD_MAX - 1, 0, false, &response),
                     HTTP_PARSE_NEED_MORE);
    assert_int_equal(http_proxy_parse_response(buf, HTTP_PROXY_HEAD_MAX, 0, false, &response),
                     HTTP_PARSE_ERROR);
    /* An end just past the limit is still too large. */
    memcpy(buf + HTTP_PROXY_HEAD_MAX - 2, "\r\n\r\n", 4);
    assert_int_equal(http_proxy_parse_response(buf, HTTP_PROXY_HEAD_MAX + 2, 0, false, &response),
                     HTTP_PARSE_ERROR);
    /* One at the limit is not. */
    memcpy(buf + HTTP_PROXY_HEAD_MAX - 4, "\r\n\r\n", 4);
    assert_int_equal(http_proxy_parse_response(buf, HTTP_PROXY_HEAD_MAX, 0, false, &response),
                     HTTP_PARSE_COMPLETE);
    /* ... and the head sent on for it fits out[], whatever the proxy adds. */
    char out[HTTP_OUT_SIZE];
    assert_int_not_equal(
        http_proxy_response_head(&response, buf, HTTP_PROXY_CHUNKED, true, true, out, sizeof out),
        0);
    free(buf);
}

static void test_response_too_many_fields(void **state)
{
    (void)state;
    char buf[4096];
    size_t length = (size_t)snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < HTTP_FIELDS_MAX; i++)
        length += (size_t)snprintf(buf + length, sizeof buf - length, "X: %d\r\n", i);
    memcpy(buf + length, "\r\n", 2);
    struct http_upstream_response response;
    assert_int_equal(http_proxy_parse_response(buf, length + 2, 0, false, &response),
                     HTTP_PARSE_COMPLETE);
    memcpy(buf + length, "Y: z\r\n\r\n", 8);
    assert_int_equal(http_proxy_parse_response(buf, length + 8, 0, false, &response),
                     HTTP_PARSE_ERROR);
}

/* ---- the head sent to the client ---------------------------------------------------- */

struct client_head_case {
    const char *name;
    const char *upstream; /* the upstream's head */
    int client_minor;     /* the client's HTTP/1.x */
    bool keep_alive;
    const char *sent;
};

static const struct client_head_case client_head_cases[] = {
    {"to client: fields kept, Via added, kept alive",
     "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 5\r\n\r\n", 1, true,
     "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 5\r\n" VIA "\r\n"},
    {"to client: the upstream's Connection is not the client's",
     "HTTP/1.0 404 Not Found\r\nConnection: close, X-H\r\nX-H: 1\r\nKeep-Alive: 1\r\n"
     "Content-Length: 0\r\n\r\n",
     1, true, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n" VIA "\r\n"},
    {"to client: closing", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1, false,
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" VIA "Connection: close\r\n\r\n"},
    {"to client: HTTP/1.0 kept alive says so", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
     true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" VIA "Connection: keep-alive\r\n\r\n"},
    {"to client: chunked stays chunked for HTTP/1.1",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\nUpgrade: y\r\n\r\n", 1, true,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" VIA "\r\n"},
    {"to client: chunked to HTTP/1.0 ends with the connection",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nA: b\r\n\r\n", 0, false,
     "HTTP/1.1 200 OK\r\nA: b\r\n" VIA "Connection: close\r\n\r\n"},
    {"to client: a reason as the upstream gave it", "HTTP/1.1 299 Odd  one\r\n\r\n", 1, false,
     "HTTP/1.1 299 Odd  one\r\n" VIA "Connection: close\r\n\r\n"},
};

static void test_client_head_case(void **state)
{
    const struct client_head_case *row = *state;
    struct http_upstream_response response;
    assert_int_equal(
        http_proxy_parse_response(row->upstream, strlen(row->upstream), 0, false, &response),
        HTTP_PARSE_COMPLETE);
    enum http_proxy_framing framing = http_proxy_client_framing(&response, row->client_minor);
    char out[1024];
    size_t length = http_proxy_response_head(&response, row->upstream, framing, row->keep_alive,
                                             row->client_minor == 0, out, sizeof out);
    assert_int_equal(length, strlen(row->sent));
    assert_memory_equal(out, row->sent, length);
    for (size_t size = 0; size < length; size++)
        assert_int_equal(http_proxy_response_head(&response, row->upstream, framing,
                                                  row->keep_alive, row->client_minor == 0, out,
                                                  size),
                         0);
}

/* ---- the body relay ---------------------------------------------------------------- */

struct body_case {
    const char *name;
    enum http_proxy_framing framing;
    uint64_t content_length;
    bool decode;
    const char *input; /* what the upstream sends after its head */
    size_t length;
    enum http_body_result result; /* after all of it */
    const char *sent;             /* what the client gets */
    size_t sent_length;
};

#define BODY(name_, framing_, input_, result_, sent_, ...)                                         \
    {                                                                                              \
        .name = name_, .framing = framing_, .input = input_, .length = sizeof(input_) - 1,         \
        .result = result_, .sent = sent_, .sent_length = sizeof(sent_) - 1, __VA_ARGS__            \
    }

static const struct body_case body_cases[] = {
    BODY("body: length, the rest is not the client's", HTTP_PROXY_LENGTH, "hello, world",
         HTTP_BODY_DONE, "hello", .content_length = 5),
    BODY("body: length short", HTTP_PROXY_LENGTH, "hel", HTTP_BODY_MORE, "hel",
         .content_length = 5),
    BODY("body: length 0", HTTP_PROXY_LENGTH, "xyz", HTTP_BODY_DONE, ""),
    BODY("body: none", HTTP_PROXY_NO_BODY, "xyz", HTTP_BODY_DONE, ""),
    BODY("body: until close", HTTP_PROXY_UNTIL_CLOSE, "anything", HTTP_BODY_MORE, "anything"),
    BODY("body: chunked passes through, framing and all", HTTP_PROXY_CHUNKED,
         "5;ext=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT", HTTP_BODY_DONE,
         "5;ext=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"),
    BODY("body: chunked decoded for HTTP/1.0", HTTP_PROXY_CHUNKED,
         "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT", HTTP_BODY_DONE,
         "hello world", .decode = true),
    BODY("body: chunked, bare LF", HTTP_PROXY_CHUNKED, "3\nabc\n0\n\n", HTTP_BODY_DONE,
         "3\nabc\n0\n\n"),
    BODY("body: chunked unfinished", HTTP_PROXY_CHUNKED, "A\r\n01234", HTTP_BODY_MORE,
         "A\r\n01234"),
    BODY("body: chunked, bad size", HTTP_PROXY_CHUNKED, "zz\r\n", HTTP_BODY_BAD, ""),
    BODY("body: chunked, no CRLF after data", HTTP_PROXY_CHUNKED, "3\r\nabcX", HTTP_BODY_BAD,
         "3\r\nabc"),
    BODY("body: chunked, larger than a request may be", HTTP_PROXY_CHUNKED, "FFFFFFFF\r\nab",
         HTTP_BODY_MORE, "FFFFFFFF\r\nab"),
};

/* Feed the row in pieces of at most step bytes (0: cut once at cut); check
 * what goes out and how it ends. BAD may cut a piece short: what came before
 * the bad byte in that piece is not sent, as a relay stops there. */
static void feed_body(const struct body_case *row, size_t cut, size_t step)
{
    struct http_upstream_response response = {.framing = row->framing,
                                              .content_length = row->content_length};
    struct http_proxy_body body;
    http_proxy_body_start(&body, &response, row->decode);
    char piece[256], out[256];
    size_t out_length = 0, at = 0;
    enum http_body_result result = HTTP_BODY_MORE;
    for (int pieces = 0; result == HTTP_BODY_MORE; pieces++) {
        size_t n = step > 0 ? step : (pieces == 0 ? cut : row->length - at);
        if (n > row->length - at)
            n = row->length - at;
        memcpy(piece, row->input + at, n);
        size_t used, send;
        result = http_proxy_body_relay(&body, piece, n, &used, &send);
        assert_true(used <= n && send <= used);
        memcpy(out + out_length, piece, send);
        out_length += send;
        at += used;
        if (result == HTTP_BODY_MORE && used < n)
            fail_msg("MORE with bytes left over");
        if (at == row->length && result == HTTP_BODY_MORE && (step > 0 || pieces > 0))
            break;
    }
    assert_int_equal(result, row->result);
    if (result == HTTP_BODY_BAD) { /* a prefix of what is sent whole */
        assert_true(out_length <= row->sent_length + 16);
        return;
    }
    assert_int_equal(out_length, row->sent_length);
    assert_memory_equal(out, row->sent, out_length);
}

static void test_body_case(void **state)
{
    const struct body_case *row = *state;
    feed_body(row, row->length, 0);
    for (size_t cut = 0; cut <= row->length; cut++)
        feed_body(row, cut, 0);
    feed_body(row, 0, 1);
}

static void test_forwards(void **state)
{
    (void)state;
    struct http_upstream upstream = {.authority = "u:1"};
    struct server_options lab = {.lab = true}, no_lab = {0},
                          public = {.lab = true, .lab_public = true};
    struct http_site off = {.options = &lab}, on = {.upstream = &upstream, .options = &lab},
                     on_no_lab = {.upstream = &upstream, .options = &no_lab},
                     on_public = {.upstream = &upstream, .options = &public};
    struct http_session loopback, remote;
    http_session_start(&loopback, -1); /* no socket: counted as loopback */
    http_session_start(&remote, -1);
    remote.peer_loopback = 0;
    struct http_request get = {.method = HTTP_GET}, head = {.method = HTTP_HEAD},
                        post = {.method = HTTP_OTHER_KNOWN}, odd = {.method = HTTP_UNKNOWN},
                        lab_get = {.method = HTTP_GET, .path = {"/lab/sleep/1", 12}};
    assert_false(http_proxy_forwards(&off, &loopback, &get));
    assert_true(http_proxy_forwards(&on, &loopback, &get));
    assert_true(http_proxy_forwards(&on, &remote, &get));
    assert_true(http_proxy_forwards(&on, &loopback, &head));
    assert_false(http_proxy_forwards(&on, &loopback, &post)); /* the proxy's own 405 */
    assert_false(http_proxy_forwards(&on, &loopback, &odd));  /* and 501 */
    /* /lab/: the proxy's own rule decides, as the upstream sees only loopback */
    assert_true(http_proxy_forwards(&on, &loopback, &lab_get));
    assert_false(http_proxy_forwards(&on, &remote, &lab_get));          /* the proxy's 403 */
    assert_false(http_proxy_forwards(&on_no_lab, &loopback, &lab_get)); /* its 404 */
    assert_true(http_proxy_forwards(&on_public, &remote, &lab_get));
}

#define COUNT(table) (sizeof table / sizeof table[0])

int main(void)
{
    enum { EXTRA = 3 };
    size_t count = COUNT(request_cases) + COUNT(response_cases) + COUNT(client_head_cases) +
                   COUNT(body_cases) + EXTRA,
           n = 0;
    struct CMUnitTest *tests = calloc(count, sizeof *tests);
    if (tests == NULL)
        return 1;
    for (size_t i = 0; i < COUNT(request_cases); i++)
        tests[n++] = (struct CMUnitTest){request_cases[i].name, test_request_case, NULL, NULL,
                                         (void *)&request_cases[i]};
    for (size_t i = 0; i < COUNT(response_cases); i++)
        tests[n++] = (struct CMUnitTest){response_cases[i].name, test_response_case, NULL, NULL,
                                         (void *)&response_cases[i]};
    for (size_t i = 0; i < COUNT(client_head_cases); i++)
        tests[n++] = (struct CMUnitTest){client_head_cases[i].name, test_client_head_case, NULL,
                                         NULL, (void *)&client_head_cases[i]};
    for (size_t i = 0; i < COUNT(body_cases); i++)
        tests[n++] = (struct CMUnitTest){body_cases[i].name, test_body_case, NULL, NULL,
                                         (void *)&body_cases[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_response_too_large);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_response_too_many_fields);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_forwards);
    /* As test_http_parse: the rows are counted at run time. */
    int failed = _cmocka_run_group_tests("http_proxy", tests, n, NULL, NULL);
    free(tests);
    return failed;
}
