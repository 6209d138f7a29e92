/* http_parse — an incremental, non-allocating HTTP/1.1 request parser (RFC 9112).
 *
 * Contract: fed the bytes received so far, http_parse_request() answers
 * COMPLETE (and how many bytes the request head used), NEED_MORE, or ERROR (and
 * the status to answer). It keeps no state between calls (the caller says how
 * much it already fed), allocates nothing and does no I/O: the request fields
 * point into the caller's buffer. */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HTTP_REQUEST_LINE_MAX = 8192, /* longer request line: 414 */
    HTTP_HEAD_MAX = 16384,        /* longer header section (its field lines, CRLFs included;
                                     not the blank line after them): 431 */
    HTTP_FIELDS_MAX = 100,        /* more header fields: 431 */
};

enum http_parse_result { HTTP_PARSE_COMPLETE, HTTP_PARSE_NEED_MORE, HTTP_PARSE_ERROR };

enum http_method {
    HTTP_GET,
    HTTP_HEAD,        /* served */
    HTTP_OTHER_KNOWN, /* a method RFC 9110 defines that we refuse: 405 */
    HTTP_UNKNOWN      /* any other token: 501 */
};

enum http_body_framing { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

struct http_text { /* a slice of the caller's buffer; not NUL-terminated */
    const char *start;
    size_t length;
};

struct http_request {
    enum http_method method;
    struct http_text method_name;
    struct http_text target; /* as sent: origin-form or absolute-form */
    struct http_text path;   /* the path part of the target, still percent-encoded */
    struct http_text query;  /* after '?', without it; length 0 if none */
    struct http_text host;   /* Host field (or authority of an absolute-form target) */
    /* If-Modified-Since: the one field's value; empty if none, or if it came
     * twice (a value of more than one member is ignored: RFC 9110 §13.1.3). */
    struct http_text if_modified_since;
    bool if_none_match;     /* an If-None-Match field came: If-Modified-Since is ignored */
    bool if_none_match_any; /* ... and one of its members is "*" */
    bool expect_continue;   /* HTTP/1.1 with Expect: 100-continue (417 for any other) */
    bool forwarded;         /* a Forwarded, X-Forwarded-For or X-Real-IP field came */
    int version_minor;      /* 0 or 1 for HTTP/1.0 or HTTP/1.1 */
    bool keep_alive;        /* the connection may persist after this request */
    enum http_body_framing body;
    uint64_t content_length; /* when body == HTTP_BODY_LENGTH */
    size_t head_length;      /* bytes of the request head, blank line included */
    /* On ERROR: the status to answer, and whether the connection must close after
     * it because the framing of what follows can no longer be trusted. */
    int error_status;
    bool error_closes;
};

/* Parse one request head from buf[0, length). COMPLETE: *request is filled and
 * request->head_length bytes belong to it. NEED_MORE: call again with more bytes.
 * ERROR: request->error_status says what to answer.
 * scanned: 0, or the length of the previous call on the same head if it answered
 * NEED_MORE (the bytes before it unchanged). The answer is the same as with 0;
 * only the time differs: a call that brings no end of line looks only at the new
 * bytes, so a head that arrives a byte at a time is parsed whole once per line
 * (at most 106 lines), not once per byte. */
enum http_parse_result http_parse_request(const char *buf, size_t length, size_t scanned,
                                          struct http_request *request);

/* Discarding a request body, incrementally: Content-Length or chunked. */
struct http_body_reader {
    enum http_body_framing framing;
    uint64_t remaining; /* of the current chunk, or of the whole body */
    uint64_t total;     /* bytes of body data seen, for the size limit */
    uint64_t limit;
    int state;       /* chunked decoder state; private */
    int line_length; /* bytes of the current size/trailer line; private */
};

enum http_body_result { HTTP_BODY_DONE, HTTP_BODY_MORE, HTTP_BODY_TOO_LARGE, HTTP_BODY_BAD };

void http_body_start(struct http_body_reader *reader, const struct http_request *request,
                     uint64_t limit);

/* DOC: expect
 * Whether the client waits to be asked for the body: Expect: 100-continue, a
 * body, and none of it among the after_head bytes that came after the head
 * (RFC 9110 §10.1.1: the server must not wait for it). The servers never ask:
 * every answer is decided by the head alone and a body is never used. So they
 * answer at once with Connection: close, read no body, and the lingering close
 * drops the body if the client sends it after all (docs/design.md#http-behaviour). */
bool http_body_withheld(const struct http_request *request, size_t after_head);
/* Consume body bytes from buf[0, length); *used says how many belong to the body. */
enum http_body_result http_body_discard(struct http_body_reader *reader, const char *buf,
                                        size_t length, size_t *used);

/* Decode body bytes in place: the same as http_body_discard, and the body's
 * data (a chunked body without its framing) is moved to buf[0, *data_length).
 * A pass-through needs no decoding: the bytes http_body_discard says are used
 * are the body, framing included, and its end is where it says DONE. */
enum http_body_result http_body_decode(struct http_body_reader *reader, char *buf, size_t length,
                                       size_t *used, size_t *data_length);

/* One header field line without its line end (the request's and a proxied
 * response's, RFC 9112 §5): true and its name and value (without the spaces
 * around it), or false if it is not one. */
bool http_parse_field_line(const char *line, size_t length, struct http_text *name,
                           struct http_text *value);

/* The next member of a comma-separated list (RFC 9110 §5.6.1) in [*at, end),
 * without the spaces and commas around it: true and *member (and *at moved
 * past it), or false when no member is left. */
bool http_list_next(const char **at, const char *end, struct http_text *member);

/* Case-insensitive comparison of a slice with a NUL-terminated lowercase word. */
bool http_text_equals(struct http_text text, const char *lowercase_word);

#endif
