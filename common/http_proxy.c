/* http_proxy — see http_proxy.h. */
#include "http_proxy.h"

#include <string.h>
#include <strings.h>

bool http_proxy_forwards(const struct http_site *site, struct http_session *session,
                         const struct http_request *request)
{
    return site->upstream != NULL &&
           (request->method == HTTP_GET || request->method == HTTP_HEAD) &&
           http_lab_lets_in(site, session, request);
}

/* The field lines of a head whose first line (request or status line) starts
 * at or after buf, one at a time, until the blank line. The head has been
 * checked (http_parse_request, http_proxy_parse_response): every line is a
 * field line. */
struct field_cursor {
    const char *at, *end;
};

static struct field_cursor fields_of(const char *head, size_t length)
{
    size_t skipped = 0; /* empty lines before a request-line (RFC 9112 §2.2) */
    while (skipped < length && (head[skipped] == '\r' || head[skipped] == '\n'))
        skipped++;
    const char *first_line_end = memchr(head + skipped, '\n', length - skipped);
    return (struct field_cursor){first_line_end + 1, head + length};
}

static bool next_field(struct field_cursor *cursor, struct http_text *name, struct http_text *value)
{
    const char *newline = memchr(cursor->at, '\n', (size_t)(cursor->end - cursor->at));
    if (newline == NULL)
        return false;
    size_t length = (size_t)(newline - cursor->at);
    if (length > 0 && cursor->at[length - 1] == '\r')
        length--;
    if (length == 0 || !http_parse_field_line(cursor->at, length, name, value))
        return false; /* the blank line */
    cursor->at = newline + 1;
    return true;
}

/* Whether a comma-separated list value has the member word (case-insensitive). */
static bool list_has(struct http_text value, struct http_text word)
{
    const char *p = value.start;
    struct http_text member;
    while (http_list_next(&p, value.start + value.length, &member))
        if (member.length == word.length && strncasecmp(member.start, word.start, word.length) == 0)
            return true;
    return false;
}

/* DOC: hop-by-hop
 * RFC 9110 §7.6.1: these never cross, nor does any field a Connection field
 * names (a Connection field of the same head). */
static bool hop_by_hop(const char *head, size_t head_length, struct http_text name)
{
    static const char *const fields[] = {"connection", "keep-alive", "proxy-connection",
                                         "te",         "trailer",    "transfer-encoding",
                                         "upgrade",    NULL};
    for (int i = 0; fields[i] != NULL; i++)
        if (http_text_equals(name, fields[i]))
            return true;
    struct field_cursor cursor = fields_of(head, head_length);
    struct http_text field, value;
    while (next_field(&cursor, &field, &value))
        if (http_text_equals(field, "connection") && list_has(value, name))
            return true;
    return false;
}

/* Append bytes at *length; false if they did not fit. */
static bool put(char *out, size_t size, size_t *length, const char *text, size_t n)
{
    if (n > size - *length)
        return false;
    memcpy(out + *length, text, n);
    *length += n;
    return true;
}

static bool put_string(char *out, size_t size, size_t *length, const char *text)
{
    return put(out, size, length, text, strlen(text));
}

static bool put_field(char *out, size_t size, size_t *length, struct http_text name,
                      struct http_text value)
{
    return put(out, size, length, name.start, name.length) && put_string(out, size, length, ": ") &&
           put(out, size, length, value.start, value.length) &&
           put_string(out, size, length, "\r\n");
}

size_t http_proxy_request_head(const struct http_request *request, const char *head,
                               const char *authority, char *out, size_t size)
{
    /* origin-form: the path and query alone, whatever form the target came in,
     * so the target never chooses where the request goes (no open proxy). */
    size_t length = 0;
    bool fits = put(out, size, &length, request->method_name.start, request->method_name.length) &&
                put_string(out, size, &length, " ") &&
                put(out, size, &length, request->path.start, request->path.length);
    if (fits && request->query.length > 0)
        fits = put_string(out, size, &length, "?") &&
               put(out, size, &length, request->query.start, request->query.length);
    fits = fits && put_string(out, size, &length, " HTTP/1.1\r\nHost: ");
    if (fits && request->host.length > 0)
        fits = put(out, size, &length, request->host.start, request->host.length);
    else if (fits)
        fits = put_string(out, size, &length, authority);
    fits = fits && put_string(out, size, &length, "\r\n");

    struct field_cursor cursor = fields_of(head, request->head_length);
    struct http_text name, value;
    while (fits && next_field(&cursor, &name, &value)) {
        bool chunked_framing =
            http_text_equals(name, "transfer-encoding") && request->body == HTTP_BODY_CHUNKED;
        if (http_text_equals(name, "host") || http_text_equals(name, "expect") ||
            (hop_by_hop(head, request->head_length, name) && !chunked_framing))
            continue;
        fits = put_field(out, size, &length, name, value);
    }
    fits = fits && put_string(out, size, &length, HTTP_PROXY_VIA "Connection: close\r\n\r\n");
    return fits ? length : 0;
}

/* The end of a head: the index just past its blank line, or 0 if it has not
 * come. from: where to start looking (bytes before it held no end). */
static size_t head_end(const char *buf, size_t length, size_t from)
{
    for (size_t i = from; i < length; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < length && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < length && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* DOC: proxy-status-line
 * HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 §4); a missing SP
 * before an empty reason is tolerated. */
static bool parse_status_line(const char *line, size_t length,
                              struct http_upstream_response *response)
{
    if (length < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !is_digit(line[7]) || line[8] != ' ' ||
        !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
        (length > 12 && line[12] != ' '))
        return false;
    response->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (response->status < 100 || response->status > 599)
        return false;
    size_t reason = length > 12 ? 13 : 12;
    for (size_t i = reason; i < length; i++)
        if (line[i] != '\t' && ((unsigned char)line[i] < 0x20 || line[i] == 0x7f))
            return false;
    response->reason = (struct http_text){line + reason, length - reason};
    return true;
}

static bool parse_length(struct http_text value, uint64_t *length)
{
    if (value.length == 0 || value.length > 18)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < value.length; i++) {
        if (!is_digit(value.start[i]))
            return false;
        n = n * 10 + (uint64_t)(value.start[i] - '0');
    }
    *length = n;
    return true;
}

/* Whether the last member of a Transfer-Encoding list is chunked. */
static bool ends_in_chunked(struct http_text value)
{
    const char *end = value.start + value.length, *p = end;
    while (p > value.start && p[-1] != ',')
        p--;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return http_text_equals((struct http_text){p, (size_t)(end - p)}, "chunked");
}

/* DOC: proxy-response-head */
enum http_parse_result http_proxy_parse_response(const char *buf, size_t length, size_t scanned,
                                                 bool head_request,
                                                 struct http_upstream_response *response)
{
    memset(response, 0, sizeof *response);
    size_t end = head_end(buf, length, scanned > 2 ? scanned - 2 : 0);
    if (end == 0)
        return length >= HTTP_PROXY_HEAD_MAX ? HTTP_PARSE_ERROR : HTTP_PARSE_NEED_MORE;
    if (end > HTTP_PROXY_HEAD_MAX)
        return HTTP_PARSE_ERROR;
    const char *newline = memchr(buf, '\n', end);
    size_t line_length = (size_t)(newline - buf);
    if (line_length > 0 && buf[line_length - 1] == '\r')
        line_length--;
    if (!parse_status_line(buf, line_length, response))
        return HTTP_PARSE_ERROR;

    bool has_length = false, has_coding = false, chunked = false;
    int count = 0;
    const char *at = newline + 1;
    for (;;) { /* every line up to the blank one must be a field line */
        const char *line_end = memchr(at, '\n', (size_t)(buf + end - at));
        size_t n = (size_t)(line_end - at);
        if (n > 0 && at[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        struct http_text name, value;
        if (!http_parse_field_line(at, n, &name, &value) || ++count > HTTP_FIELDS_MAX)
            return HTTP_PARSE_ERROR; /* a bare CR too: no field-value byte */
        if (http_text_equals(name, "content-length")) {
            uint64_t content_length;
            if (!parse_length(value, &content_length) ||
                (has_length && content_length != response->content_length))
                return HTTP_PARSE_ERROR;
            has_length = true;
            response->content_length = content_length;
        } else if (http_text_equals(name, "transfer-encoding")) {
            has_coding = true;
            chunked = ends_in_chunked(value); /* the last field's last member counts */
        }
        at = line_end + 1;
    }
    response->head_length = end;
    /* RFC 9112 §6.1: both is a sign of smuggling or splitting; refuse it. */
    if (has_length && has_coding)
        return HTTP_PARSE_ERROR;
    int status = response->status;
    if (head_request || status < 200 || status == 204 || status == 304)
        response->framing = HTTP_PROXY_NO_BODY;
    else if (has_coding)
        response->framing = chunked ? HTTP_PROXY_CHUNKED : HTTP_PROXY_UNTIL_CLOSE;
    else if (has_length)
        response->framing = HTTP_PROXY_LENGTH;
    else
        response->framing = HTTP_PROXY_UNTIL_CLOSE;
    return HTTP_PARSE_COMPLETE;
}

enum http_proxy_framing http_proxy_client_framing(const struct http_upstream_response *response,
                                                  int client_version_minor)
{
    if (response->framing == HTTP_PROXY_CHUNKED && client_version_minor == 0)
        return HTTP_PROXY_UNTIL_CLOSE;
    return response->framing;
}

size_t http_proxy_response_head(const struct http_upstream_response *response, const char *head,
                                enum http_proxy_framing framing, bool keep_alive, bool http10,
                                char *out, size_t size)
{
    size_t length = 0;
    char status[5] = {(char)('0' + response->status / 100),
                      (char)('0' + response->status / 10 % 10), (char)('0' + response->status % 10),
                      ' ', '\0'};
    bool fits = put_string(out, size, &length, "HTTP/1.1 ") &&
                put_string(out, size, &length, status) &&
                put(out, size, &length, response->reason.start, response->reason.length) &&
                put_string(out, size, &length, "\r\n");
    struct field_cursor cursor = fields_of(head, response->head_length);
    struct http_text name, value;
    while (fits && next_field(&cursor, &name, &value)) {
        if (hop_by_hop(head, response->head_length, name) ||
            (framing == HTTP_PROXY_UNTIL_CLOSE && http_text_equals(name, "content-length")))
            continue;
        fits = put_field(out, size, &length, name, value);
    }
    if (fits && framing == HTTP_PROXY_CHUNKED)
        fits = put_string(out, size, &length, "Transfer-Encoding: chunked\r\n");
    fits = fits && put_string(out, size, &length, HTTP_PROXY_VIA) &&
           put_string(out, size, &length,
                      !keep_alive ? "Connection: close\r\n\r\n"
                      : http10    ? "Connection: keep-alive\r\n\r\n"
                                  : "\r\n");
    return fits ? length : 0;
}

void http_proxy_body_start(struct http_proxy_body *body,
                           const struct http_upstream_response *response, bool decode)
{
    *body = (struct http_proxy_body){.framing = response->framing, .decode = decode};
    /* The body reader's limit is the request body's; a response has none. */
    body->reader.limit = UINT64_MAX / 2;
    if (response->framing == HTTP_PROXY_LENGTH) {
        body->reader.framing = HTTP_BODY_LENGTH;
        body->reader.remaining = response->content_length;
    } else if (response->framing == HTTP_PROXY_CHUNKED) {
        body->reader.framing = HTTP_BODY_CHUNKED;
    }
}

enum http_body_result http_proxy_body_relay(struct http_proxy_body *body, char *buf, size_t length,
                                            size_t *used, size_t *send)
{
    switch (body->framing) {
    case HTTP_PROXY_NO_BODY: *used = *send = 0; return HTTP_BODY_DONE;
    case HTTP_PROXY_UNTIL_CLOSE: *used = *send = length; return HTTP_BODY_MORE;
    default: break;
    }
    if (body->decode)
        return http_body_decode(&body->reader, buf, length, used, send);
    enum http_body_result result = http_body_discard(&body->reader, buf, length, used);
    *send = *used; /* passed through as it came, framing and all */
    return result;
}
