/* http_response — decide and build the answer to one request: static files under
 * the root, the lab endpoints, error responses. It builds bytes; it does not send
 * them, so the blocking loop and the multiplex state machine share it. */
#ifndef HTTP_RESPONSE_H
#define HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http_parse.h"
#include "http_site.h"

enum { HTTP_INLINE_BODY_MAX = 8192 }; /* files up to this go out in the head's write */

struct http_response {
    int status;
    size_t head_length; /* bytes in out[]: status line, fields, small body */
    int file_fd;        /* -1, or a file to send after the head (sendfile) */
    off_t file_offset;
    size_t file_length;
    uint64_t generated_length; /* /lab/bytes: bytes of http_pattern to send after the head */
    int delay_ms;              /* /lab/sleep: wait this long before sending */
    bool close_after;          /* Connection: close was sent */
};

/* DOC: session
 * What the response builder keeps about one connection across its requests,
 * for the per-connection limits (docs/design.md#per-connection-limits). */
struct http_session {
    int fd;                    /* the client's socket (its peer); -1: no socket, a test */
    int requests;              /* answered on this connection so far */
    long lab_cpu_us;           /* /lab/cpu spun for this connection so far */
    signed char peer_loopback; /* -1: not looked up yet; 0 or 1 */
};

enum { HTTP_LAB_CPU_BUDGET_US = 2000000 }; /* /lab/cpu per connection */

/* A new connection on fd (-1 for a caller without one: counted as loopback). */
void http_session_start(struct http_session *session, int fd);

/* Count one more request answered on the session: whether the connection may
 * stay open after it (keep_alive, unless it is the --keepalive-requests-th).
 * http_respond calls it; so does the proxy, which answers without it. */
bool http_session_count(const struct http_site *site, struct http_session *session,
                        bool keep_alive);

extern const char http_pattern[65536]; /* the bytes /lab/bytes sends, repeated */

/* Build the response to a parsed request into out[0, size). keep_alive: whether
 * the connection may stay open (the request's wish, unless the server is stopping);
 * the session's limits may close it anyway (response->close_after says). */
void http_respond(const struct http_site *site, struct http_session *session,
                  const struct http_request *request, bool keep_alive, char *out, size_t size,
                  struct http_response *response);

/* Whether the /lab/ rule lets this request's client in: true for a path
 * outside /lab/; for one inside it, the lab endpoints are on (no --no-lab) and
 * the client is loopback or --lab-public is given. */
bool http_lab_lets_in(const struct http_site *site, struct http_session *session,
                      const struct http_request *request);

/* An error response with a small body; closes if close_after. */
void http_respond_error(int status, bool close_after, char *out, size_t size,
                        struct http_response *response);

/* Release what the response holds (the file descriptor). */
void http_response_done(struct http_response *response);

/* "Tue, 24 Nov 2026 05:45:23 GMT" for now, formatted at most once a second. */
const char *http_date_now(void);
/* Format t as an IMF-fixdate into buf (at least 30 bytes). */
void http_format_date(time_t t, char *buf, size_t size);
/* Parse an HTTP date (IMF-fixdate, RFC 850 or asctime): 0 and *t, or -1.
 * now: the time an RFC 850 date's two-digit year is read against. */
int http_parse_date(const char *text, size_t length, time_t now, time_t *t);
const char *http_mime_type(const char *path);
const char *http_reason(int status);

#endif
