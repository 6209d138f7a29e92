/* http_parse — see http_parse.h for the contract.
 *
 * The parser keeps no state, so a blocking loop, a state machine and a coroutine
 * can all feed it whatever has arrived. Its caller says how many of the bytes it
 * already answered NEED_MORE for (scanned); a call that brings no new end of line
 * then looks only at the new bytes, and the head is parsed again from its first
 * byte only when a line has ended (see "DOC: resume"). */
#include "http_parse.h"

#include <string.h>

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
 * "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_token_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB; obs-text (0x80-0xFF) is allowed as RFC 9110 §5.5 says. */
static bool is_field_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A request-target byte: anything but CTLs, space and DEL. Raw non-ASCII bytes
 * are tolerated as nginx does (they become file names after decoding); a '#'
 * starts a fragment, which parse_target drops. */
static bool is_target_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

bool http_text_equals(struct http_text text, const char *lowercase_word)
{
    size_t length = strlen(lowercase_word);
    if (text.length != length)
        return false;
    for (size_t i = 0; i < length; i++)
        if (lower(text.start[i]) != lowercase_word[i])
            return false;
    return true;
}

static bool text_is(struct http_text text, const char *exact)
{
    return text.length == strlen(exact) && memcmp(text.start, exact, text.length) == 0;
}

static enum http_parse_result fail(struct http_request *request, int status)
{
    request->error_status = status;
    request->error_closes = true;
    return HTTP_PARSE_ERROR;
}

/* Find the end of the line starting at buf[pos]. Returns false if its '\n' has not
 * arrived; else *newline is the index of the '\n' and *content_end is where the
 * line's text ends (before an optional CR). */
static bool find_line(const char *buf, size_t length, size_t pos, size_t *newline,
                      size_t *content_end)
{
    const char *lf = memchr(buf + pos, '\n', length - pos);
    if (lf == NULL)
        return false;
    *newline = (size_t)(lf - buf);
    *content_end = (*newline > pos && buf[*newline - 1] == '\r') ? *newline - 1 : *newline;
    return true;
}

/* Is there a CR among buf[start, stop) that is not part of a CRLF (RFC 9112 §2.2)?
 * A CR is judged once the byte after it has arrived, that is lies before end. */
static bool has_bare_cr(const char *buf, size_t start, size_t stop, size_t end)
{
    for (const char *cr = memchr(buf + start, '\r', stop - start); cr != NULL;
         cr = memchr(cr + 1, '\r', (size_t)(buf + stop - (cr + 1)))) {
        size_t next = (size_t)(cr - buf) + 1;
        if (next < end && buf[next] != '\n')
            return true;
    }
    return false;
}

static const char *const refused_methods[] = {"POST",    "PUT",   "DELETE", "CONNECT",
                                              "OPTIONS", "TRACE", "PATCH",  NULL};

static enum http_method classify_method(struct http_text name)
{
    if (text_is(name, "GET"))
        return HTTP_GET;
    if (text_is(name, "HEAD"))
        return HTTP_HEAD;
    for (int i = 0; refused_methods[i] != NULL; i++)
        if (text_is(name, refused_methods[i]))
            return HTTP_OTHER_KNOWN;
    return HTTP_UNKNOWN; /* methods are case-sensitive: "get" lands here */
}

/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT. Returns 0, 400 or 505. */
static int parse_version(const char *text, size_t length, int *minor)
{
    if (length != 8 || memcmp(text, "HTTP/", 5) != 0 || text[6] != '.' || text[5] < '0' ||
        text[5] > '9' || text[7] < '0' || text[7] > '9')
        return 400;
    if (text[5] != '1')
        return 505;
    /* 1.x for x > 1: answer as the highest 1.x we speak (RFC 9110 §2.5). */
    *minor = text[7] == '0' ? 0 : 1;
    return 0;
}

/* unreserved / pct-encoded / sub-delims: the bytes of a reg-name (RFC 3986 §3.2.2). */
static bool is_host_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("-._~%!$&'()*+,;=", c) != NULL);
}

/* uri-host [ ":" port ] (RFC 9110 §7.2): a reg-name or IPv4 address, or an
 * IP-literal in brackets; the port, if any, is digits. */
static bool valid_host(struct http_text host)
{
    const char *p = host.start, *end = host.start + host.length;
    if (p < end && *p == '[') {
        for (p++; p < end && *p != ']'; p++)
            if (!is_host_char((unsigned char)*p) && *p != ':')
                return false;
        if (p == end)
            return false; /* no closing bracket */
        p++;
    } else {
        while (p < end && is_host_char((unsigned char)*p))
            p++;
    }
    if (p < end && *p++ != ':')
        return false;
    for (; p < end; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* Split the request-target into path and query; absolute-form gives the host.
 * Returns 0 or 400. Asterisk- and authority-form leave the path empty: only the
 * methods we refuse anyway (OPTIONS, CONNECT) may use them. */
static int parse_target(struct http_request *request)
{
    struct http_text target = request->target;
    const char *start = target.start, *end = target.start + target.length;
    const char *fragment = memchr(start, '#', target.length);
    if (fragment != NULL)
        end = fragment; /* never meant to be sent; ignored as nginx does */
    if (start == end)
        return 400;

    if (target.length >= 7 &&
        (http_text_equals((struct http_text){start, 7}, "http://") ||
         (target.length >= 8 && http_text_equals((struct http_text){start, 8}, "https://")))) {
        const char *authority = start + (lower(start[4]) == 's' ? 8 : 7);
        const char *slash = authority;
        while (slash < end && *slash != '/' && *slash != '?')
            slash++;
        request->host = (struct http_text){authority, (size_t)(slash - authority)};
        if (request->host.length == 0 || !valid_host(request->host))
            return 400; /* userinfo too: '@' is no host byte */
        start = slash;
        if (start == end || *start == '?') {
            static const char root[] = "/";
            request->path = (struct http_text){root, 1};
            if (start < end)
                request->query = (struct http_text){start + 1, (size_t)(end - start - 1)};
            return 0;
        }
    } else if (*start != '/') {
        return request->method == HTTP_GET || request->method == HTTP_HEAD ? 400 : 0;
    }
    const char *question = memchr(start, '?', (size_t)(end - start));
    const char *path_end = question ? question : end;
    request->path = (struct http_text){start, (size_t)(path_end - start)};
    if (question)
        request->query = (struct http_text){question + 1, (size_t)(end - question - 1)};
    return 0;
}

/* Transfer-Encoding: a list of codings; chunked must come last (RFC 9112 §6.1).
 * Codings we recognise before it are harmless because we discard the body. */
struct transfer_coding_state {
    bool seen, chunked_last, chunked_not_last, unknown;
};

static int parse_transfer_encoding(struct http_text value, struct transfer_coding_state *state)
{
    static const char *const known[] = {"gzip",     "x-gzip",     "deflate",
                                        "compress", "x-compress", NULL};
    const char *p = value.start, *end = value.start + value.length;
    state->seen = true;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        const char *name = p;
        while (p < end && is_token_char((unsigned char)*p))
            p++;
        struct http_text coding = {name, (size_t)(p - name)};
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (coding.length == 0 || (p < end && *p != ',' && *p != ';'))
            return 400;              /* "chunked x" is no list of codings */
        while (p < end && *p != ',') /* skip transfer-parameters */
            p++;
        if (state->chunked_last)
            state->chunked_not_last = true;
        state->chunked_last = http_text_equals(coding, "chunked");
        if (!state->chunked_last) {
            bool recognised = false;
            for (int i = 0; known[i] != NULL; i++)
                recognised = recognised || http_text_equals(coding, known[i]);
            state->unknown = state->unknown || !recognised;
        }
    }
    return 0;
}

/* DOC: field-line
 * field-name ":" OWS field-value OWS; a leading space is obs-fold and a space
 * before the colon is refused (RFC 9112 §5.1, §5.2). */
bool http_parse_field_line(const char *line, size_t length, struct http_text *name,
                           struct http_text *value)
{
    size_t n = 0;
    while (n < length && is_token_char((unsigned char)line[n]))
        n++;
    if (n == 0 || n == length || line[n] != ':')
        return false;
    size_t v = n + 1, v_end = length;
    while (v < v_end && (line[v] == ' ' || line[v] == '\t'))
        v++;
    while (v_end > v && (line[v_end - 1] == ' ' || line[v_end - 1] == '\t'))
        v_end--;
    for (size_t k = v; k < v_end; k++)
        if (!is_field_value_char((unsigned char)line[k]))
            return false;
    *name = (struct http_text){line, n};
    *value = (struct http_text){line + v, v_end - v};
    return true;
}

bool http_list_next(const char **at, const char *end, struct http_text *member)
{
    const char *p = *at;
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    const char *start = p;
    while (p < end && *p != ',' && *p != ' ' && *p != '\t')
        p++;
    *at = p;
    *member = (struct http_text){start, (size_t)(p - start)};
    return member->length > 0;
}

/* Connection: a list of tokens; "close" and "keep-alive" matter to us. */
static void parse_connection(struct http_text value, bool *close, bool *keep_alive)
{
    const char *p = value.start, *end = value.start + value.length;
    struct http_text token;
    while (http_list_next(&p, end, &token)) {
        if (http_text_equals(token, "close"))
            *close = true;
        else if (http_text_equals(token, "keep-alive"))
            *keep_alive = true;
    }
}

/* Expect = #expectation (RFC 9110 §10.1.1), and 100-continue is the only
 * expectation defined: sets *expect_continue if a member is 100-continue;
 * false if a member is anything else (417). Empty members are allowed. */
static bool parse_expect(struct http_text value, bool *expect_continue)
{
    const char *p = value.start, *end = value.start + value.length;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *member = p;
        while (p < end && *p != ',')
            p++;
        const char *member_end = p;
        while (member_end > member && (member_end[-1] == ' ' || member_end[-1] == '\t'))
            member_end--;
        if (member_end == member)
            continue;
        if (!http_text_equals((struct http_text){member, (size_t)(member_end - member)},
                              "100-continue"))
            return false;
        *expect_continue = true;
    }
    return true;
}

/* Content-Length = 1*DIGIT. One field line, one value: a list or a repeat is
 * refused (400), which RFC 9112 §6.3 allows and which closes a smuggling door. */
static int parse_content_length(struct http_text value, uint64_t *length)
{
    if (value.length == 0)
        return 400;
    uint64_t n = 0;
    int significant = 0; /* digits after leading zeros: at most 18 fit */
    for (size_t i = 0; i < value.length; i++) {
        char c = value.start[i];
        if (c < '0' || c > '9')
            return 400;
        if ((n > 0 || c != '0') && ++significant > 18)
            return 400;
        n = n * 10 + (uint64_t)(c - '0');
    }
    *length = n;
    return 0;
}

/* RFC 9112 §2.2: ignore at least one empty line before the request-line. Sets
 * *line_start to where the request-line begins; returns 0, 400, or -1 when a
 * CR at the end of buf leaves it undecided. */
static int skip_empty_lines(const char *buf, size_t length, size_t *line_start)
{
    size_t pos = 0;
    for (int i = 0; i < 4 && pos < length && (buf[pos] == '\r' || buf[pos] == '\n'); i++) {
        if (buf[pos] == '\n')
            pos++;
        else if (pos + 1 < length && buf[pos + 1] == '\n')
            pos += 2;
        else if (pos + 1 < length)
            return 400;
        else
            return -1;
    }
    *line_start = pos;
    return 0;
}

/* Parse buf[0, length) from its first byte. */
static enum http_parse_result parse_head(const char *buf, size_t length,
                                         struct http_request *request)
{
    size_t pos = 0;
    int skipped = skip_empty_lines(buf, length, &pos);
    if (skipped != 0)
        return skipped > 0 ? fail(request, skipped) : HTTP_PARSE_NEED_MORE;
    /* DOC: split-consistency
     * The answer must not depend on how the bytes were split: an ERROR for a
     * prefix must be the ERROR for the whole. So the checks that fire before a
     * line has ended (a byte that cannot start a request, a bare CR) look at no
     * more bytes than the size limit allows, and run before the size check
     * whether or not the line is complete. */
    size_t line_start = pos, newline = 0, line_end = 0;
    bool complete = find_line(buf, length, pos, &newline, &line_end);
    size_t end = complete ? newline : length; /* what has arrived of the line */
    size_t stop =
        end - line_start > HTTP_REQUEST_LINE_MAX + 1 ? line_start + HTTP_REQUEST_LINE_MAX + 1 : end;

    /* DOC: request-line
     * Refuse garbage at once instead of waiting for 8 KiB of it: the method is a
     * token ended by SP (a CR here is judged by has_bare_cr). */
    size_t i = line_start;
    while (i < stop && is_token_char((unsigned char)buf[i]))
        i++;
    if ((i < stop && buf[i] != ' ' && buf[i] != '\r') || has_bare_cr(buf, line_start, stop, end))
        return fail(request, 400);
    if (!complete) /* + 1: the last byte may be the CR of the CRLF */
        return length - line_start > HTTP_REQUEST_LINE_MAX + 1 ? fail(request, 414)
                                                               : HTTP_PARSE_NEED_MORE;
    if (line_end - line_start > HTTP_REQUEST_LINE_MAX)
        return fail(request, 414);

    /* method SP request-target SP HTTP-version: single spaces, nothing else. */
    const char *line = buf + line_start;
    size_t line_length = line_end - line_start;
    i = 0;
    while (i < line_length && is_token_char((unsigned char)line[i]))
        i++;
    if (i == 0 || i == line_length || line[i] != ' ')
        return fail(request, 400);
    request->method_name = (struct http_text){line, i};
    request->method = classify_method(request->method_name);
    size_t target_start = ++i;
    while (i < line_length && is_target_char((unsigned char)line[i]))
        i++;
    if (i == target_start || i == line_length || line[i] != ' ')
        return fail(request, 400);
    request->target = (struct http_text){line + target_start, i - target_start};
    i++;
    int status = parse_version(line + i, line_length - i, &request->version_minor);
    if (status != 0)
        return fail(request, status);
    pos = newline + 1;

    /* DOC: header-fields */
    size_t fields_start = pos, field_count = 0;
    int host_count = 0, if_modified_since_count = 0;
    bool has_length = false, close = false, keep_alive = false;
    bool expect_continue = false, expect_unknown = false;
    struct transfer_coding_state coding = {0};
    for (;;) {
        complete = find_line(buf, length, pos, &newline, &line_end);
        end = complete ? newline : length;
        stop = end - fields_start > HTTP_HEAD_MAX ? fields_start + HTTP_HEAD_MAX : end;
        if (has_bare_cr(buf, pos, stop, end))
            return fail(request, 400);
        /* The header section is the field lines with their line ends (RFC
         * 9112 §2.1): each must end within HTTP_HEAD_MAX bytes of the first.
         * The blank line after them is not part of it, so a CR just past the
         * limit may still be its start. */
        bool may_be_blank = length - pos == 1 && buf[pos] == '\r';
        if (!complete)
            return length - fields_start > HTTP_HEAD_MAX && !may_be_blank ? fail(request, 431)
                                                                          : HTTP_PARSE_NEED_MORE;
        if (line_end == pos) { /* the blank line: end of the head */
            pos = newline + 1;
            break;
        }
        if (newline + 1 - fields_start > HTTP_HEAD_MAX)
            return fail(request, 431);
        if (++field_count > HTTP_FIELDS_MAX)
            return fail(request, 431);
        struct http_text field, value;
        if (!http_parse_field_line(buf + pos, line_end - pos, &field, &value))
            return fail(request, 400);

        if (http_text_equals(field, "host")) {
            host_count++;
            if (!valid_host(value))
                return fail(request, 400);
            request->host = value;
        } else if (http_text_equals(field, "content-length")) {
            if (has_length || parse_content_length(value, &request->content_length) != 0)
                return fail(request, 400);
            has_length = true;
        } else if (http_text_equals(field, "transfer-encoding")) {
            if (parse_transfer_encoding(value, &coding) != 0)
                return fail(request, 400);
        } else if (http_text_equals(field, "connection")) {
            parse_connection(value, &close, &keep_alive);
        } else if (http_text_equals(field, "if-modified-since")) {
            if_modified_since_count++;
            request->if_modified_since = value;
        } else if (http_text_equals(field, "if-none-match")) {
            request->if_none_match = true;
            if (text_is(value, "*"))
                request->if_none_match_any = true;
        } else if (http_text_equals(field, "expect")) {
            if (!parse_expect(value, &expect_continue))
                expect_unknown = true;
        } else if (http_text_equals(field, "forwarded") ||
                   http_text_equals(field, "x-forwarded-for") ||
                   http_text_equals(field, "x-real-ip")) {
            request->forwarded = true;
        }
        pos = newline + 1;
    }
    request->head_length = pos;

    /* DOC: request-semantics */
    if (request->version_minor == 1 && host_count != 1)
        return fail(request, 400); /* RFC 9112 §3.2 */
    if (host_count > 1)
        return fail(request, 400);
    if (coding.seen) {
        /* RFC 9112 §6.1, §6.3: with both, or in HTTP/1.0, or with chunked not
         * last, the body's length cannot be trusted. */
        if (has_length || request->version_minor == 0 || coding.chunked_not_last ||
            !coding.chunked_last)
            return fail(request, 400);
        if (coding.unknown)
            return fail(request, 501);
        request->body = HTTP_BODY_CHUNKED;
    } else if (has_length && request->content_length > 0) {
        request->body = HTTP_BODY_LENGTH;
    }
    status = parse_target(request);
    if (status != 0)
        return fail(request, status);
    if (if_modified_since_count > 1)
        request->if_modified_since = (struct http_text){0}; /* RFC 9110 §13.1.3 */
    /* RFC 9110 §10.1.1: an HTTP/1.0 client may not know Expect; it is ignored. */
    if (request->version_minor == 1 && expect_unknown)
        return fail(request, 417);
    request->expect_continue = request->version_minor == 1 && expect_continue;
    request->keep_alive = request->version_minor == 1 ? !close : (keep_alive && !close);
    return HTTP_PARSE_COMPLETE;
}

/* DOC: resume
 * The previous call, on buf[0, scanned), answered NEED_MORE: every line that had
 * ended by then passed its checks, and so did the bytes of the open line. If no
 * '\n' has arrived since, no line has ended, so parse_head would pass the same
 * lines again and decide only on the open line: its new bytes (and a CR that was
 * the last old byte, undecided until now) and the size limits. That is what this
 * function decides, in time proportional to the new bytes plus a memchr over the
 * request-line. It returns false when it cannot, and parse_head runs: when a line
 * has ended (once per line, and a head has at most HTTP_FIELDS_MAX + 2 lines after
 * up to 4 empty ones: about a hundred passes over at most 24 KiB, where reading
 * from the first byte on every call made one pass per byte), or when the
 * request-line had not begun before scanned. This keeps every answer exactly parse_head's, early
 * errors included, where picohttpparser's last_len only looks for the end of the
 * head and would wait for it to refuse a garbage request-line. */
static bool resume(const char *buf, size_t length, size_t scanned, struct http_request *request,
                   enum http_parse_result *result)
{
    size_t line_start;
    if (skip_empty_lines(buf, length, &line_start) != 0 || line_start >= scanned ||
        memchr(buf + scanned, '\n', length - scanned) != NULL)
        return false;
    size_t from = scanned - 1; /* a CR there had no next byte to be judged by */
    const char *lf = memchr(buf + line_start, '\n', scanned - line_start);
    if (lf == NULL) {
        /* The request-line is open: as parse_head, the method token must end in
         * SP (or a CR, judged as a bare CR), and no CR may stand alone, within
         * HTTP_REQUEST_LINE_MAX + 1 bytes; beyond them the answer is 414. The
         * old bytes passed, so the method has ended iff they hold a SP or CR. */
        size_t stop = length - line_start > HTTP_REQUEST_LINE_MAX + 1
                          ? line_start + HTTP_REQUEST_LINE_MAX + 1
                          : length;
        bool method_ended = memchr(buf + line_start, ' ', scanned - line_start) != NULL ||
                            memchr(buf + line_start, '\r', scanned - line_start) != NULL;
        size_t i = scanned;
        while (!method_ended && i < stop && is_token_char((unsigned char)buf[i]))
            i++;
        if ((!method_ended && i < stop && buf[i] != ' ' && buf[i] != '\r') ||
            (from < stop && has_bare_cr(buf, from, stop, length)))
            *result = fail(request, 400);
        else if (length - line_start > HTTP_REQUEST_LINE_MAX + 1)
            *result = fail(request, 414);
        else
            *result = HTTP_PARSE_NEED_MORE;
        return true;
    }
    /* A field line (or the blank line) is open: no bare CR within HTTP_HEAD_MAX
     * bytes of the header section. Beyond them it is 431 unless the open line
     * is the blank line's CR, which only parse_head, knowing where the line
     * began, can tell: at most twice per head, as the next byte ends it. */
    size_t fields_start = (size_t)(lf - buf) + 1;
    size_t stop = length - fields_start > HTTP_HEAD_MAX ? fields_start + HTTP_HEAD_MAX : length;
    if (from < stop && has_bare_cr(buf, from, stop, length))
        *result = fail(request, 400);
    else if (length - fields_start > HTTP_HEAD_MAX)
        return false;
    else
        *result = HTTP_PARSE_NEED_MORE;
    return true;
}

enum http_parse_result http_parse_request(const char *buf, size_t length, size_t scanned,
                                          struct http_request *request)
{
    memset(request, 0, sizeof *request);
    if (scanned > 0 && scanned == length)
        return HTTP_PARSE_NEED_MORE; /* the same bytes again: the same answer */
    enum http_parse_result result;
    if (scanned > 0 && scanned < length && resume(buf, length, scanned, request, &result))
        return result;
    return parse_head(buf, length, request);
}

/* DOC: body-discard */
enum chunk_state {
    CHUNK_SIZE,
    CHUNK_SIZE_END,
    CHUNK_EXTENSION,
    CHUNK_SIZE_LF,
    CHUNK_DATA,
    CHUNK_DATA_CR,
    CHUNK_DATA_LF,
    CHUNK_TRAILER_START,
    CHUNK_TRAILER_NAME,
    CHUNK_TRAILER_VALUE,
    CHUNK_TRAILER_LF,
    CHUNK_FINAL_LF
};

void http_body_start(struct http_body_reader *reader, const struct http_request *request,
                     uint64_t limit)
{
    memset(reader, 0, sizeof *reader);
    reader->framing = request->body;
    reader->limit = limit;
    if (request->body == HTTP_BODY_LENGTH)
        reader->remaining = request->content_length;
}

bool http_body_withheld(const struct http_request *request, size_t after_head)
{
    return request->expect_continue && request->body != HTTP_BODY_NONE && after_head == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* The chunk scanner behind http_body_discard and http_body_decode. data: NULL,
 * or where the body's data bytes are gathered (at or before buf: the decoder
 * moves them down within the same buffer), *data_length of them. */
static enum http_body_result scan_body(struct http_body_reader *reader, const char *buf,
                                       size_t length, size_t *used, char *data, size_t *data_length)
{
    *used = 0;
    *data_length = 0;
    if (reader->framing == HTTP_BODY_NONE)
        return HTTP_BODY_DONE;
    if (reader->framing == HTTP_BODY_LENGTH) {
        if (reader->remaining > reader->limit)
            return HTTP_BODY_TOO_LARGE;
        size_t take = length < reader->remaining ? length : (size_t)reader->remaining;
        reader->remaining -= take;
        *used = *data_length = take; /* the data is where it is: buf[0, take) */
        return reader->remaining == 0 ? HTTP_BODY_DONE : HTTP_BODY_MORE;
    }

    /* chunked = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1) */
    size_t i = 0;
    while (i < length) {
        char c = buf[i];
        switch ((enum chunk_state)reader->state) {
        case CHUNK_SIZE: {
            int digit = hex_value(c);
            if (digit >= 0) {
                if (++reader->line_length > 15)
                    return HTTP_BODY_BAD;
                reader->remaining = reader->remaining * 16 + (uint64_t)digit;
                i++;
                break;
            }
            if (reader->line_length == 0)
                return HTTP_BODY_BAD;
            reader->state = CHUNK_SIZE_END;
            continue; /* judge c again in the new state */
        }
        case CHUNK_SIZE_END:
            /* chunk-size [ BWS ";" chunk-ext ] CRLF: after the digits only
             * whitespace before a ';', so "5 5" is not taken for 5. */
            if (++reader->line_length > 4096)
                return HTTP_BODY_BAD;
            if (c == ';')
                reader->state = CHUNK_EXTENSION;
            else if (c == '\r' || c == '\n')
                reader->state = CHUNK_SIZE_LF;
            else if (c != ' ' && c != '\t')
                return HTTP_BODY_BAD;
            i += c != '\n'; /* CHUNK_SIZE_LF reads the '\n' itself */
            break;
        case CHUNK_SIZE_LF:
            if (c != '\n')
                return HTTP_BODY_BAD;
            i++;
            reader->line_length = 0;
            if (reader->remaining == 0) {
                reader->state = CHUNK_TRAILER_START;
                break;
            }
            reader->total += reader->remaining;
            if (reader->total > reader->limit)
                return HTTP_BODY_TOO_LARGE;
            reader->state = CHUNK_DATA;
            break;
        case CHUNK_EXTENSION:
            if (++reader->line_length > 4096)
                return HTTP_BODY_BAD;
            if (c == '\r' || c == '\n') {
                reader->state = CHUNK_SIZE_LF; /* which reads the '\n' itself */
                i += c == '\r';
                break;
            }
            if (!is_field_value_char((unsigned char)c))
                return HTTP_BODY_BAD;
            i++;
            break;
        case CHUNK_DATA: {
            size_t take = length - i < reader->remaining ? length - i : (size_t)reader->remaining;
            if (data != NULL)
                memmove(data + *data_length, buf + i, take);
            *data_length += take;
            reader->remaining -= take;
            i += take;
            if (reader->remaining == 0)
                reader->state = CHUNK_DATA_CR;
            break;
        }
        case CHUNK_DATA_CR:
            if (c == '\r')
                reader->state = CHUNK_DATA_LF;
            else if (c == '\n')
                reader->state = CHUNK_SIZE;
            else
                return HTTP_BODY_BAD;
            i++;
            break;
        case CHUNK_DATA_LF:
            if (c != '\n')
                return HTTP_BODY_BAD;
            reader->state = CHUNK_SIZE;
            i++;
            break;
        case CHUNK_TRAILER_START:
            /* DOC: trailer
             * The final CRLF, or a trailer field line (RFC 9112 §7.1.2), checked
             * as a header field line is. Anything else, such as the next
             * request's line where this body's final CRLF never came, is BAD:
             * two requests are never read as one. */
            i++;
            if (c == '\n') {
                *used = i;
                return HTTP_BODY_DONE;
            }
            if (c == '\r')
                reader->state = CHUNK_FINAL_LF;
            else if (is_token_char((unsigned char)c))
                reader->state = CHUNK_TRAILER_NAME;
            else
                return HTTP_BODY_BAD;
            break;
        case CHUNK_TRAILER_NAME: /* field-name ":" */
            if ((reader->total += 1) > reader->limit + HTTP_HEAD_MAX)
                return HTTP_BODY_TOO_LARGE;
            if (c == ':')
                reader->state = CHUNK_TRAILER_VALUE;
            else if (!is_token_char((unsigned char)c))
                return HTTP_BODY_BAD; /* a space before the colon too */
            i++;
            break;
        case CHUNK_TRAILER_VALUE: /* field-value, then CRLF (or a bare LF) */
            if ((reader->total += 1) > reader->limit + HTTP_HEAD_MAX)
                return HTTP_BODY_TOO_LARGE;
            if (c == '\r')
                reader->state = CHUNK_TRAILER_LF;
            else if (c == '\n')
                reader->state = CHUNK_TRAILER_START;
            else if (!is_field_value_char((unsigned char)c))
                return HTTP_BODY_BAD;
            i++;
            break;
        case CHUNK_TRAILER_LF:
            if (c != '\n')
                return HTTP_BODY_BAD; /* a bare CR */
            reader->state = CHUNK_TRAILER_START;
            i++;
            break;
        case CHUNK_FINAL_LF:
            if (c != '\n')
                return HTTP_BODY_BAD;
            *used = i + 1;
            return HTTP_BODY_DONE;
        }
    }
    *used = i;
    return HTTP_BODY_MORE;
}

enum http_body_result http_body_discard(struct http_body_reader *reader, const char *buf,
                                        size_t length, size_t *used)
{
    size_t data_length;
    return scan_body(reader, buf, length, used, NULL, &data_length);
}

enum http_body_result http_body_decode(struct http_body_reader *reader, char *buf, size_t length,
                                       size_t *used, size_t *data_length)
{
    return scan_body(reader, buf, length, used, buf, data_length);
}
