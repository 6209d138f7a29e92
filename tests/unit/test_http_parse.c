/* test_http_parse — the request parser and the body reader, as tables.
 *
 * Every parser row is fed three ways (picohttpparser's test.c does the same):
 *   1. whole, and every field of the answer is checked;
 *   2. cut after every byte: a prefix of the input must answer NEED_MORE, or the
 *      ERROR the whole input answers (with the same status); once a prefix is an
 *      ERROR every longer one is too; a COMPLETE row is COMPLETE with the same
 *      head_length from head_length bytes on, and NEED_MORE before;
 *   3. each of those prefixes placed at the very end of a buffer followed by a
 *      PROT_NONE page, so a read past the bytes given crashes the test;
 *   4. resumed: a byte at a time, and in 20 random splits, each call passing as
 *      scanned the length the last NEED_MORE was answered for; every answer must
 *      equal the one for the same prefix parsed from scratch, field by field.
 * Each row is one cmocka test named after it. The split rule (and 4, a byte at a
 * time) is then checked on inputs nobody wrote: 100 mutations of each row. The body reader's rows
 * are fed whole, in two pieces cut at every byte, and one byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http_parse.h"

/* A string literal and its length, NULs included. */
#define BYTES(s) s, sizeof(s) - 1
#define HOST     "Host: h\r\n"
#define DONE     .result = HTTP_PARSE_COMPLETE
#define MORE     .result = HTTP_PARSE_NEED_MORE
#define ERROR(s) .result = HTTP_PARSE_ERROR, .status = (s)
#define NEXT     "GET / HTTP/1.1\r\nHost: h\r\n\r\n" /* a following request */

static const char ANY[] = "(not checked)";

struct parse_case {
    const char *name;
    const char *input; /* NULL: made by make() */
    size_t length;
    size_t (*make)(char *buf, size_t size);
    enum http_parse_result result;
    int status; /* ERROR: the status */
    /* COMPLETE: every field below is checked. Strings: NULL means empty, ANY
     * means not checked; the defaults are GET, HTTP/1.1, keep-alive, no body. */
    size_t tail; /* bytes after the head (body, next request) */
    enum http_method method;
    const char *path, *query, *host, *ims;
    bool http10;
    bool closes;
    enum http_body_framing body;
    uint64_t content_length;
    bool inm, inm_any; /* If-None-Match sent; one of its members is "*" */
    bool expect_continue, forwarded;
};

/* ---- generated inputs: sizes at and around the limits ---------------------- */

static size_t put(char *buf, size_t size, size_t at, const char *text)
{
    size_t n = strlen(text);
    assert_true(at + n <= size);
    memcpy(buf + at, text, n);
    return at + n;
}

static size_t fill(char *buf, size_t size, size_t at, char c, size_t count)
{
    assert_true(at + count <= size);
    memset(buf + at, c, count);
    return at + count;
}

/* "GET /aaa...a HTTP/1.1" with a request line of line_length bytes, CRLF, Host. */
static size_t request_line_of(char *buf, size_t size, size_t line_length)
{
    size_t n = put(buf, size, 0, "GET /");
    n = fill(buf, size, n, 'a', line_length - strlen("GET / HTTP/1.1"));
    n = put(buf, size, n, " HTTP/1.1\r\n" HOST "\r\n");
    return n;
}
static size_t line_8191(char *buf, size_t size)
{
    return request_line_of(buf, size, 8191);
}
static size_t line_8192(char *buf, size_t size)
{
    return request_line_of(buf, size, 8192);
}
static size_t line_8193(char *buf, size_t size)
{
    return request_line_of(buf, size, 8193);
}

static size_t line_never_ends(char *buf, size_t size)
{
    size_t n = put(buf, size, 0, "GET /");
    return fill(buf, size, n, 'a', 9000);
}

/* Errors that could be seen early but lie beyond the limit: 414 decides first. */
static size_t long_method_then_garbage(char *buf, size_t size)
{
    size_t n = fill(buf, size, 0, 'A', 8300);
    return put(buf, size, n, "\x01 / HTTP/1.1\r\n" HOST "\r\n");
}
static size_t long_target_then_bare_cr(char *buf, size_t size)
{
    size_t n = put(buf, size, 0, "GET /");
    n = fill(buf, size, n, 'a', 8300);
    return put(buf, size, n, "\rb HTTP/1.1\r\n" HOST "\r\n");
}
/* And the other way round: garbage first, a long line after it: 400. */
static size_t garbage_then_long_line(char *buf, size_t size)
{
    size_t n = put(buf, size, 0, "G\x01T /");
    n = fill(buf, size, n, 'a', 9000);
    return put(buf, size, n, " HTTP/1.1\r\n" HOST "\r\n");
}

/* A header section (the field lines, each with its CRLF: RFC 9112 §2.1; the
 * blank line after it is not part of it) of exactly section bytes, then the
 * blank line as blank_line gives it ("" for none). */
static size_t header_section_of(char *buf, size_t size, size_t section, const char *blank_line)
{
    size_t n = put(buf, size, 0, "GET / HTTP/1.1\r\n" HOST "X: ");
    size_t fields_start = strlen("GET / HTTP/1.1\r\n");
    size_t used = n - fields_start + strlen("\r\n");
    n = fill(buf, size, n, 'x', section - used);
    n = put(buf, size, n, "\r\n");
    return put(buf, size, n, blank_line);
}
static size_t section_16383(char *buf, size_t size)
{
    return header_section_of(buf, size, 16383, "\r\n");
}
static size_t section_16384(char *buf, size_t size)
{
    return header_section_of(buf, size, 16384, "\r\n");
}
static size_t section_16384_bare_lf(char *buf, size_t size)
{
    return header_section_of(buf, size, 16384, "\n");
}
static size_t section_16385(char *buf, size_t size)
{
    return header_section_of(buf, size, 16385, "\r\n");
}
static size_t section_16384_then_field(char *buf, size_t size)
{
    return header_section_of(buf, size, 16384, "Y: 1\r\n\r\n");
}
static size_t section_never_ends(char *buf, size_t size)
{
    return header_section_of(buf, size, 20000, "");
}

static size_t bare_cr_in_huge_field(char *buf, size_t size)
{
    size_t n = put(buf, size, 0, "GET / HTTP/1.1\r\n" HOST "X: a\rb");
    n = fill(buf, size, n, 'x', 20000);
    return put(buf, size, n, "\r\n\r\n");
}

static size_t fields(char *buf, size_t size, int count)
{
    size_t n = put(buf, size, 0, "GET / HTTP/1.1\r\n" HOST);
    for (int i = 1; i < count; i++) {
        char line[32];
        snprintf(line, sizeof line, "X-%d: %d\r\n", i, i);
        n = put(buf, size, n, line);
    }
    return put(buf, size, n, "\r\n");
}
static size_t fields_99(char *buf, size_t size)
{
    return fields(buf, size, 99);
}
static size_t fields_100(char *buf, size_t size)
{
    return fields(buf, size, 100);
}
static size_t fields_101(char *buf, size_t size)
{
    return fields(buf, size, 101);
}

/* ---- the table ------------------------------------------------------------- */

static const struct parse_case parse_cases[] = {
    /* request-line forms (RFC 9112 §3.2) */
    {"origin form", BYTES("GET / HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/", .host = "h"},
    {"HEAD", BYTES("HEAD /x.txt HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_HEAD,
     .path = "/x.txt", .host = "h"},
    {"path and query", BYTES("GET /a/b?x=1&y=2 HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a/b",
     .query = "x=1&y=2", .host = "h"},
    {"question mark in query", BYTES("GET /a?b?c HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a",
     .query = "b?c", .host = "h"},
    {"empty query", BYTES("GET /a? HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a", .host = "h"},
    {"path stays percent-encoded", BYTES("GET /%2e%2e/%41 HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .path = "/%2e%2e/%41", .host = "h"},
    {"backslash in path", BYTES("GET /a\\b HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a\\b",
     .host = "h"},
    {"absolute http", BYTES("GET http://example.com/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"), DONE,
     .path = "/x", .query = "q=1", .host = "example.com"},
    {"absolute https with port", BYTES("GET https://example.com:8443/a HTTP/1.1\r\n" HOST "\r\n"),
     DONE, .path = "/a", .host = "example.com:8443"},
    {"absolute without path", BYTES("GET http://example.com HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .path = "/", .host = "example.com"},
    {"absolute without path, query", BYTES("GET http://example.com?x HTTP/1.1\r\n" HOST "\r\n"),
     DONE, .path = "/", .query = "x", .host = "example.com"},
    {"absolute scheme any case", BYTES("GET HTTP://Example.COM/a HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .path = "/a", .host = "Example.COM"},
    {"absolute IPv6 literal", BYTES("GET http://[::1]:8080/ HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .path = "/", .host = "[::1]:8080"},
    {"absolute in 1.0 without Host", BYTES("GET http://example.com/ HTTP/1.0\r\n\r\n"), DONE,
     .path = "/", .host = "example.com", .http10 = true, .closes = true},
    {"absolute empty authority", BYTES("GET http:///x HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"absolute with userinfo", BYTES("GET http://user@h/ HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"absolute bad host char", BYTES("GET http://a\"b/ HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"absolute port not digits", BYTES("GET http://h:x/ HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"absolute other scheme", BYTES("GET ftp://h/x HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"asterisk with OPTIONS", BYTES("OPTIONS * HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .host = "h"},
    {"asterisk with GET", BYTES("GET * HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"asterisk with HEAD", BYTES("HEAD * HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"authority with CONNECT", BYTES("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .host = "h:443"},
    {"authority with GET", BYTES("GET h:80 HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"relative target", BYTES("GET a/b HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"fragment in target ignored", BYTES("GET /a#f HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a",
     .host = "h"},
    {"fragment after query", BYTES("GET /a?q#f HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/a",
     .query = "q", .host = "h"},
    {"non-ASCII in target (obs-text, as nginx)", BYTES("GET /\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n"),
     DONE, .path = "/\xc3\xa9", .host = "h"},
    {"DEL in target", BYTES("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"NUL in target", BYTES("GET /a\0b HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"CTL in target", BYTES("GET /a\x01 HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},

    /* one SP between the three parts, nothing else (RFC 9112 §3) */
    {"two spaces after method", BYTES("GET  / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"two spaces before version", BYTES("GET /  HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"tab after method", BYTES("GET\t/ HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"tab before version", BYTES("GET /\tHTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"space after version", BYTES("GET / HTTP/1.1 \r\n" HOST "\r\n"), ERROR(400)},
    {"space before method", BYTES(" GET / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"missing version", BYTES("GET /\r\n" HOST "\r\n"), ERROR(400)},
    {"missing target", BYTES("GET HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"method alone", BYTES("GET\r\n\r\n"), ERROR(400)},
    {"vertical tab separator", BYTES("GET\x0b/ HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},

    /* empty lines before the request-line (RFC 9112 §2.2) */
    {"one leading CRLF", BYTES("\r\nGET / HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/",
     .host = "h"},
    {"leading bare LF", BYTES("\nGET / HTTP/1.1\r\n" HOST "\r\n"), DONE, .path = "/", .host = "h"},
    {"four leading CRLF", BYTES("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .path = "/", .host = "h"},
    {"five leading CRLF", BYTES("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"leading CR without LF", BYTES("\rGET / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"leading line of spaces", BYTES(" \r\nGET / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},

    /* line ends: bare LF accepted, bare CR refused (RFC 9112 §2.2) */
    {"bare LF line ends", BYTES("GET / HTTP/1.1\nHost: h\n\n"), DONE, .path = "/", .host = "h"},
    {"mixed line ends", BYTES("GET / HTTP/1.1\r\nHost: h\n\r\n"), DONE, .path = "/", .host = "h"},
    {"bare CR ends request line", BYTES("GET / HTTP/1.1\rHost: h\r\r"), ERROR(400)},
    {"bare CR in request line", BYTES("GET /a\rb HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"CR CR LF after request line", BYTES("GET / HTTP/1.1\r\r\n" HOST "\r\n"), ERROR(400)},
    {"bare CR ends a field line", BYTES("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), ERROR(400)},
    {"bare CR in a field value", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\rb\r\n\r\n"), ERROR(400)},
    {"bare CR in the blank line", BYTES("GET / HTTP/1.1\r\n" HOST "\r\r\n"), ERROR(400)},
    {"CR-only field lines", BYTES("GET / HTTP/1.1\r\nHost: h\r\r\r\r"), ERROR(400)},
    {"empty input", BYTES(""), MORE},
    {"request line alone", BYTES("GET / HTTP/1.1\r\n"), MORE},
    {"head without blank line", BYTES("GET / HTTP/1.1\r\n" HOST), MORE},
    {"head ends in CR", BYTES("GET / HTTP/1.1\r\n" HOST "\r"), MORE},

    /* HTTP-version (RFC 9112 §2.3, RFC 9110 §2.5) */
    {"HTTP/1.0", BYTES("GET / HTTP/1.0\r\n\r\n"), DONE, .path = "/", .http10 = true,
     .closes = true},
    {"HTTP/1.0 with Host", BYTES("GET / HTTP/1.0\r\n" HOST "\r\n"), DONE, .path = "/", .host = "h",
     .http10 = true, .closes = true},
    {"HTTP/1.2 is answered as 1.1", BYTES("GET / HTTP/1.2\r\n" HOST "\r\n"), DONE, .path = "/",
     .host = "h"},
    {"HTTP/1.9 is answered as 1.1", BYTES("GET / HTTP/1.9\r\n" HOST "\r\n"), DONE, .path = "/",
     .host = "h"},
    {"HTTP/1.2 needs Host", BYTES("GET / HTTP/1.2\r\n\r\n"), ERROR(400)},
    {"HTTP/2.0", BYTES("GET / HTTP/2.0\r\n" HOST "\r\n"), ERROR(505)},
    {"HTTP/0.9", BYTES("GET / HTTP/0.9\r\n" HOST "\r\n"), ERROR(505)},
    {"HTTP/3.0", BYTES("GET / HTTP/3.0\r\n" HOST "\r\n"), ERROR(505)},
    {"HTTP/1.10", BYTES("GET / HTTP/1.10\r\n" HOST "\r\n"), ERROR(400)},
    {"HTTP/01.1", BYTES("GET / HTTP/01.1\r\n" HOST "\r\n"), ERROR(400)},
    {"HTTP/1", BYTES("GET / HTTP/1\r\n" HOST "\r\n"), ERROR(400)},
    {"lowercase version", BYTES("GET / http/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"letter for minor", BYTES("GET / HTTP/1.x\r\n" HOST "\r\n"), ERROR(400)},
    {"HTTPS/1.1", BYTES("GET / HTTPS/1.1\r\n" HOST "\r\n"), ERROR(400)},

    /* methods (RFC 9110 §9): case-sensitive tokens */
    {"POST is known", BYTES("POST / HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_OTHER_KNOWN,
     .path = "/", .host = "h"},
    {"PUT is known", BYTES("PUT /f HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_OTHER_KNOWN,
     .path = "/f", .host = "h"},
    {"DELETE is known", BYTES("DELETE /f HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/f", .host = "h"},
    {"TRACE is known", BYTES("TRACE / HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_OTHER_KNOWN,
     .path = "/", .host = "h"},
    {"PATCH is known", BYTES("PATCH / HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_OTHER_KNOWN,
     .path = "/", .host = "h"},
    {"OPTIONS with a path", BYTES("OPTIONS /x HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/x", .host = "h"},
    {"unknown token", BYTES("BREW /pot HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_UNKNOWN,
     .path = "/pot", .host = "h"},
    {"lowercase get", BYTES("get / HTTP/1.1\r\n" HOST "\r\n"), DONE, .method = HTTP_UNKNOWN,
     .path = "/", .host = "h"},
    {"token symbols in method", BYTES("M-SEARCH! / HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .method = HTTP_UNKNOWN, .path = "/", .host = "h"},
    {"GET prefix is not GET", BYTES("GETS / HTTP/1.1\r\n" HOST "\r\n"), DONE,
     .method = HTTP_UNKNOWN, .path = "/", .host = "h"},
    {"parenthesis in method", BYTES("GE(T / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"slash in method", BYTES("GET/ / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"NUL in method", BYTES("G\0T / HTTP/1.1\r\n" HOST "\r\n"), ERROR(400)},
    {"binary garbage", BYTES("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), ERROR(400)},

    /* field syntax (RFC 9112 §5) */
    {"obs-fold", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n"), ERROR(400)},
    {"obs-fold with tab", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n"), ERROR(400)},
    {"space before first field", BYTES("GET / HTTP/1.1\r\n " HOST "\r\n"), ERROR(400)},
    {"space before colon", BYTES("GET / HTTP/1.1\r\n" HOST "X : a\r\n\r\n"), ERROR(400)},
    {"tab before colon", BYTES("GET / HTTP/1.1\r\n" HOST "X\t: a\r\n\r\n"), ERROR(400)},
    {"space before colon in Content-Length",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length : 5\r\n\r\nhello"), ERROR(400)},
    {"empty field name", BYTES("GET / HTTP/1.1\r\n" HOST ": x\r\n\r\n"), ERROR(400)},
    {"field without colon", BYTES("GET / HTTP/1.1\r\n" HOST "X-No-Colon\r\n\r\n"), ERROR(400)},
    {"space inside field name", BYTES("GET / HTTP/1.1\r\n" HOST "X Y: z\r\n\r\n"), ERROR(400)},
    {"parenthesis in field name", BYTES("GET / HTTP/1.1\r\n" HOST "X(y): z\r\n\r\n"), ERROR(400)},
    {"at sign in field name", BYTES("GET / HTTP/1.1\r\n" HOST "X@y: z\r\n\r\n"), ERROR(400)},
    {"non-ASCII field name", BYTES("GET / HTTP/1.1\r\n" HOST "X\xe9: z\r\n\r\n"), ERROR(400)},
    {"NUL in value", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n"), ERROR(400)},
    {"CTL in value", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\x01 b\r\n\r\n"), ERROR(400)},
    {"DEL in value", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\x7f\r\n\r\n"), ERROR(400)},
    {"ESC in value", BYTES("GET / HTTP/1.1\r\n" HOST "X: \x1b[1m\r\n\r\n"), ERROR(400)},
    {"obs-text in value", BYTES("GET / HTTP/1.1\r\n" HOST "X: caf\xc3\xa9 \xff\r\n\r\n"), DONE,
     .path = "/", .host = "h"},
    {"tab inside value", BYTES("GET / HTTP/1.1\r\n" HOST "X: a\tb\r\n\r\n"), DONE, .path = "/",
     .host = "h"},
    {"OWS trimmed", BYTES("GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n"), DONE, .path = "/",
     .host = "h"},
    {"no OWS after colon", BYTES("GET / HTTP/1.1\r\nHost:h\r\n\r\n"), DONE, .path = "/",
     .host = "h"},
    {"empty value", BYTES("GET / HTTP/1.1\r\n" HOST "X:\r\n\r\n"), DONE, .path = "/", .host = "h"},
    {"underscore in field name", BYTES("GET / HTTP/1.1\r\n" HOST "X_Y: z\r\n\r\n"), DONE,
     .path = "/", .host = "h"},
    {"line of spaces among fields", BYTES("GET / HTTP/1.1\r\n" HOST "  \r\n\r\n"), ERROR(400)},

    /* Host (RFC 9112 §3.2, RFC 9110 §7.2) */
    {"missing Host in 1.1", BYTES("GET / HTTP/1.1\r\n\r\n"), ERROR(400)},
    {"missing Host, other fields", BYTES("GET / HTTP/1.1\r\nX: y\r\n\r\n"), ERROR(400)},
    {"duplicate Host", BYTES("GET / HTTP/1.1\r\n" HOST HOST "\r\n"), ERROR(400)},
    {"duplicate Host, different", BYTES("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
     ERROR(400)},
    {"duplicate Host in 1.0", BYTES("GET / HTTP/1.0\r\n" HOST HOST "\r\n"), ERROR(400)},
    {"space inside Host", BYTES("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ERROR(400)},
    {"slash in Host", BYTES("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), ERROR(400)},
    {"userinfo in Host", BYTES("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), ERROR(400)},
    {"quote in Host", BYTES("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"), ERROR(400)},
    {"obs-text in Host", BYTES("GET / HTTP/1.1\r\nHost: h\xe9\r\n\r\n"), ERROR(400)},
    {"Host with port", BYTES("GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n"), DONE, .path = "/",
     .host = "h:8080"},
    {"Host port not digits", BYTES("GET / HTTP/1.1\r\nHost: h:abc\r\n\r\n"), ERROR(400)},
    {"Host two colons", BYTES("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n"), ERROR(400)},
    {"Host unclosed bracket", BYTES("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), ERROR(400)},
    {"Host stray bracket", BYTES("GET / HTTP/1.1\r\nHost: a]b\r\n\r\n"), ERROR(400)},
    {"Host empty port", BYTES("GET / HTTP/1.1\r\nHost: h:\r\n\r\n"), DONE, .path = "/",
     .host = "h:"},
    {"Host sub-delims and escapes", BYTES("GET / HTTP/1.1\r\nHost: a_b-c.%41~!$&'()*+,;=\r\n\r\n"),
     DONE, .path = "/", .host = "a_b-c.%41~!$&'()*+,;="},
    {"Host IPv6 literal", BYTES("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), DONE, .path = "/",
     .host = "[::1]:80"},
    {"empty Host", BYTES("GET / HTTP/1.1\r\nHost:\r\n\r\n"), DONE, .path = "/"},
    {"Host name in any case", BYTES("GET / HTTP/1.1\r\nhOsT: h\r\n\r\n"), DONE, .path = "/",
     .host = "h"},

    /* Content-Length (RFC 9112 §6.3, RFC 9110 §8.6) */
    {"Content-Length with body", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n\r\nhello"),
     DONE, .tail = 5, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h",
     .body = HTTP_BODY_LENGTH, .content_length = 5},
    {"Content-Length 0", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h"},
    {"Content-Length leading zeros",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 007\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_LENGTH,
     .content_length = 7},
    {"Content-Length OWS", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: \t5 \r\n\r\nhello"),
     DONE, .tail = 5, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h",
     .body = HTTP_BODY_LENGTH, .content_length = 5},
    {"Content-Length 18 digits",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 999999999999999999\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_LENGTH,
     .content_length = 999999999999999999ULL},
    {"Content-Length 28 digits, 27 zeros",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 0000000000000000000000000005\r\n\r\nhello"),
     DONE, .tail = 5, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h",
     .body = HTTP_BODY_LENGTH, .content_length = 5},
    {"Content-Length on GET", BYTES("GET / HTTP/1.1\r\n" HOST "Content-Length: 3\r\n\r\nabc"), DONE,
     .tail = 3, .path = "/", .host = "h", .body = HTTP_BODY_LENGTH, .content_length = 3},
    {"Content-Length in 1.0", BYTES("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab"), DONE,
     .tail = 2, .method = HTTP_OTHER_KNOWN, .path = "/", .http10 = true, .closes = true,
     .body = HTTP_BODY_LENGTH, .content_length = 2},
    {"Content-Length +5", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n"),
     ERROR(400)},
    {"Content-Length -1", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n"),
     ERROR(400)},
    {"Content-Length 1e3", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 1e3\r\n\r\n"),
     ERROR(400)},
    {"Content-Length hex", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n"),
     ERROR(400)},
    {"Content-Length space inside", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n"),
     ERROR(400)},
    {"Content-Length list", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\nhello"),
     ERROR(400)},
    {"Content-Length twice, same",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
     ERROR(400)},
    {"Content-Length twice, different",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
     ERROR(400)},
    {"Content-Length 19 digits",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 1000000000000000000\r\n\r\n"), ERROR(400)},
    {"Content-Length overflowing",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 18446744073709551617\r\n\r\n"), ERROR(400)},
    {"Content-Length empty", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n"),
     ERROR(400)},
    {"Content-Length letters", BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: five\r\n\r\n"),
     ERROR(400)},

    /* Transfer-Encoding (RFC 9112 §6.1, §6.3) */
    {"chunked", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     DONE, .tail = 5, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h",
     .body = HTTP_BODY_CHUNKED},
    {"CHUNKED", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: CHUNKED\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_CHUNKED},
    {"gzip, chunked", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n"),
     DONE, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_CHUNKED},
    {"empty list elements",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: , chunked\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_CHUNKED},
    {"TE on two lines",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
           "\r\n"),
     DONE, .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_CHUNKED},
    {"chunked, gzip", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n"),
     ERROR(400)},
    {"gzip alone", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n"), ERROR(400)},
    {"identity", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\n"),
     ERROR(400)},
    {"foo, chunked", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: foo, chunked\r\n\r\n"),
     ERROR(501)},
    {"chunked twice",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n"), ERROR(400)},
    {"TE on two lines, chunked first",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
           "\r\n"),
     ERROR(400)},
    {"TE and Content-Length",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
     ERROR(400)},
    {"Content-Length and TE",
     BYTES("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
     ERROR(400)},
    {"TE in HTTP/1.0", BYTES("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), ERROR(400)},
    {"empty TE", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n"), ERROR(400)},
    {"TE of commas", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: ,\r\n\r\n"), ERROR(400)},
    {"TE word after chunked",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked x\r\n\r\n"), ERROR(400)},
    {"TE vertical tab", /* \013: octal, as a hex escape would swallow the 'c' */
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \013chunked\r\n\r\n"), ERROR(400)},
    {"TE space before colon",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding : chunked\r\n\r\n"), ERROR(400)},
    {"TE obs-fold", BYTES("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n chunked\r\n\r\n"),
     ERROR(400)},
    {"Transfer_Encoding is another field",
     BYTES("POST / HTTP/1.1\r\n" HOST "Transfer_Encoding: chunked\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h"},

    /* Connection (RFC 9112 §9.3, §9.6) */
    {"Connection: close", BYTES("GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n"), DONE,
     .path = "/", .host = "h", .closes = true},
    {"close in any case", BYTES("GET / HTTP/1.1\r\n" HOST "Connection: CLOSE\r\n\r\n"), DONE,
     .path = "/", .host = "h", .closes = true},
    {"close among tokens", BYTES("GET / HTTP/1.1\r\n" HOST "Connection: Upgrade, close\r\n\r\n"),
     DONE, .path = "/", .host = "h", .closes = true},
    {"close wins", BYTES("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), DONE,
     .path = "/", .http10 = true, .closes = true},
    {"close on a second line",
     BYTES("GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\nConnection: close\r\n\r\n"), DONE,
     .path = "/", .host = "h", .closes = true},
    {"closed is not close", BYTES("GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n"), DONE,
     .path = "/", .host = "h"},
    {"1.0 keep-alive", BYTES("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), DONE, .path = "/",
     .http10 = true},
    {"1.0 Keep-Alive, Upgrade", BYTES("GET / HTTP/1.0\r\nConnection: Keep-Alive, Upgrade\r\n\r\n"),
     DONE, .path = "/", .http10 = true},
    {"1.0 keep-alive with tabs", BYTES("GET / HTTP/1.0\r\nConnection: x,\tkeep-alive\r\n\r\n"),
     DONE, .path = "/", .http10 = true},
    {"1.0 keep-alivex", BYTES("GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n"), DONE,
     .path = "/", .http10 = true, .closes = true},
    {"1.1 keep-alive token", BYTES("GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\n\r\n"),
     DONE, .path = "/", .host = "h"},

    /* If-Modified-Since is captured for the responder */
    {"If-Modified-Since",
     BYTES("GET / HTTP/1.1\r\n" HOST "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"),
     DONE, .path = "/", .host = "h", .ims = "Sun, 06 Nov 1994 08:49:37 GMT"},
    /* ... unless it comes twice: RFC 9110 §13.1.3 says ignore a value with more than one member */
    {"If-Modified-Since twice is none",
     BYTES("GET / HTTP/1.1\r\n" HOST "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
           "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"),
     DONE, .path = "/", .host = "h"},
    {"If-None-Match", BYTES("GET / HTTP/1.1\r\n" HOST "If-None-Match: \"a\", W/\"b\"\r\n\r\n"),
     DONE, .path = "/", .host = "h", .inm = true},
    {"If-None-Match star", BYTES("GET / HTTP/1.1\r\n" HOST "If-None-Match: *\r\n\r\n"), DONE,
     .path = "/", .host = "h", .inm = true, .inm_any = true},
    {"If-None-Match star on a second line",
     BYTES("GET / HTTP/1.1\r\n" HOST "If-None-Match: \"a\"\r\nif-none-match: *\r\n\r\n"), DONE,
     .path = "/", .host = "h", .inm = true, .inm_any = true},
    {"If-None-Match and If-Modified-Since",
     BYTES("GET / HTTP/1.1\r\n" HOST "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
           "If-None-Match: \"a\"\r\n\r\n"),
     DONE, .path = "/", .host = "h", .ims = "Sun, 06 Nov 1994 08:49:37 GMT", .inm = true},

    /* Expect (RFC 9110 §10.1.1): 100-continue is the one expectation; 417 for others */
    {"Expect: 100-continue",
     BYTES("POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"), DONE,
     .method = HTTP_OTHER_KNOWN, .path = "/", .host = "h", .body = HTTP_BODY_LENGTH,
     .content_length = 5, .expect_continue = true},
    {"Expect in any case", BYTES("GET / HTTP/1.1\r\n" HOST "expect:  100-Continue \r\n\r\n"), DONE,
     .path = "/", .host = "h", .expect_continue = true},
    {"Expect twice",
     BYTES("GET / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nExpect: 100-continue\r\n\r\n"), DONE,
     .path = "/", .host = "h", .expect_continue = true},
    {"empty Expect", BYTES("GET / HTTP/1.1\r\n" HOST "Expect:\r\n\r\n"), DONE, .path = "/",
     .host = "h"},
    {"Expect unknown", BYTES("GET / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\n\r\n"), ERROR(417)},
    {"Expect 100-continue among others",
     BYTES("GET / HTTP/1.1\r\n" HOST "Expect: 100-continue, x\r\n\r\n"), ERROR(417)},
    {"Expect with a parameter", BYTES("GET / HTTP/1.1\r\n" HOST "Expect: 100-continue;a=b\r\n\r\n"),
     ERROR(417)},
    {"Expect 100-continuex", BYTES("GET / HTTP/1.1\r\n" HOST "Expect: 100-continuex\r\n\r\n"),
     ERROR(417)},
    {"Expect in HTTP/1.0 is ignored",
     BYTES("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab"), DONE,
     .tail = 2, .method = HTTP_OTHER_KNOWN, .path = "/", .http10 = true, .closes = true,
     .body = HTTP_BODY_LENGTH, .content_length = 2},
    {"Expect unknown in HTTP/1.0 is ignored", BYTES("GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n"),
     DONE, .path = "/", .http10 = true, .closes = true},
    {"Expect unknown, no Host: 400 first", BYTES("GET / HTTP/1.1\r\nExpect: x\r\n\r\n"),
     ERROR(400)},

    /* a proxy's forwarding fields, for the /lab/ warning (docs/design.md#lab-endpoints) */
    {"X-Forwarded-For", BYTES("GET / HTTP/1.1\r\n" HOST "X-Forwarded-For: 192.0.2.1\r\n\r\n"), DONE,
     .path = "/", .host = "h", .forwarded = true},
    {"Forwarded", BYTES("GET / HTTP/1.1\r\n" HOST "forwarded: for=192.0.2.1\r\n\r\n"), DONE,
     .path = "/", .host = "h", .forwarded = true},
    {"X-Real-IP", BYTES("GET / HTTP/1.1\r\n" HOST "X-Real-IP: 192.0.2.1\r\n\r\n"), DONE,
     .path = "/", .host = "h", .forwarded = true},
    {"X-Forwarded-Host is not a peer",
     BYTES("GET / HTTP/1.1\r\n" HOST "X-Forwarded-Host: a\r\n\r\n"), DONE, .path = "/",
     .host = "h"},

    /* what follows the head is not the parser's */
    {"pipelined request", BYTES("GET /a HTTP/1.1\r\n" HOST "\r\n" NEXT), DONE,
     .tail = sizeof NEXT - 1, .path = "/a", .host = "h"},
    {"garbage after head", BYTES("GET / HTTP/1.1\r\n" HOST "\r\n\x01\x02\r"), DONE, .tail = 3,
     .path = "/", .host = "h"},

    /* limits: request line 8 KiB (414), header section 16 KiB and 100 fields (431) */
    {"request line 8191", .make = line_8191, DONE, .path = ANY, .host = "h"},
    {"request line 8192", .make = line_8192, DONE, .path = ANY, .host = "h"},
    {"request line 8193", .make = line_8193, ERROR(414)},
    {"request line never ends", .make = line_never_ends, ERROR(414)},
    {"garbage in method beyond limit", .make = long_method_then_garbage, ERROR(414)},
    {"bare CR beyond limit", .make = long_target_then_bare_cr, ERROR(414)},
    {"garbage before a long line", .make = garbage_then_long_line, ERROR(400)},
    {"header section 16383", .make = section_16383, DONE, .path = "/", .host = "h"},
    {"header section 16384", .make = section_16384, DONE, .path = "/", .host = "h"},
    {"header section 16384, bare LF blank line", .make = section_16384_bare_lf, DONE, .path = "/",
     .host = "h"},
    {"header section 16385", .make = section_16385, ERROR(431)},
    {"header section 16384, one field more", .make = section_16384_then_field, ERROR(431)},
    {"header section never ends", .make = section_never_ends, ERROR(431)},
    {"bare CR early in a huge field", .make = bare_cr_in_huge_field, ERROR(400)},
    {"99 fields", .make = fields_99, DONE, .path = "/", .host = "h"},
    {"100 fields", .make = fields_100, DONE, .path = "/", .host = "h"},
    {"101 fields", .make = fields_101, ERROR(431)},
};

enum { PARSE_CASES = sizeof parse_cases / sizeof parse_cases[0] };

/* ---- the guard page --------------------------------------------------------- */

enum { GUARDED_SIZE = 64 * 1024 };
static char *guarded_end; /* the first byte of the PROT_NONE page */

static void guard_setup(void)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t data = ((GUARDED_SIZE + (size_t)page - 1) / (size_t)page) * (size_t)page;
    char *region =
        mmap(NULL, data + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || mprotect(region + data, (size_t)page, PROT_NONE) != 0) {
        perror("guard page");
        exit(1);
    }
    guarded_end = region + data;
}

/* Copy bytes so that the last one sits just before the guard page. */
static const char *behind_guard(const char *bytes, size_t length)
{
    assert_true(length <= GUARDED_SIZE);
    char *start = guarded_end - length;
    memcpy(start, bytes, length);
    return start;
}

/* ---- the checks -------------------------------------------------------------- */

static void check_text(const char *row, const char *field, struct http_text got,
                       const char *expected)
{
    if (expected == ANY)
        return;
    if (expected == NULL)
        expected = "";
    if (got.length != strlen(expected) ||
        (got.length > 0 && memcmp(got.start, expected, got.length) != 0)) {
        print_error("%s: %s is \"%.*s\", expected \"%s\"\n", row, field, (int)got.length,
                    got.start ? got.start : "", expected);
        fail();
    }
}

static void check_fields(const struct parse_case *c, const struct http_request *r, size_t length)
{
    assert_int_equal(r->head_length, length - c->tail);
    assert_int_equal(r->method, c->method);
    check_text(c->name, "path", r->path, c->path);
    check_text(c->name, "query", r->query, c->query);
    check_text(c->name, "host", r->host, c->host);
    check_text(c->name, "If-Modified-Since", r->if_modified_since, c->ims);
    assert_int_equal(r->version_minor, c->http10 ? 0 : 1);
    assert_int_equal(r->keep_alive, !c->closes);
    assert_int_equal(r->body, c->body);
    if (c->body == HTTP_BODY_LENGTH)
        assert_int_equal(r->content_length, c->content_length);
    assert_int_equal(r->if_none_match, c->inm);
    assert_int_equal(r->if_none_match_any, c->inm_any);
    assert_int_equal(r->expect_continue, c->expect_continue);
    assert_int_equal(r->forwarded, c->forwarded);
}

static void check_answer(const struct parse_case *c, enum http_parse_result got,
                         const struct http_request *r, size_t length)
{
    if (got != c->result) {
        print_error("%s: result %d (status %d), expected %d (status %d)\n", c->name, got,
                    got == HTTP_PARSE_ERROR ? r->error_status : 0, c->result, c->status);
        fail();
    }
    if (got == HTTP_PARSE_ERROR && r->error_status != c->status) {
        print_error("%s: status %d, expected %d\n", c->name, r->error_status, c->status);
        fail();
    }
    if (got == HTTP_PARSE_COMPLETE)
        check_fields(c, r, length);
}

/* ---- resumed parsing ---------------------------------------------------------- */

/* An answer, and the buffer its slices point into. */
struct answer {
    enum http_parse_result result;
    struct http_request r;
    const char *base;
};

/* The same slice of the input: at the same offset from each buffer, or the same
 * constant outside both (the "/" of an absolute-form target without a path). */
static bool same_text(struct http_text a, const char *a_base, struct http_text b,
                      const char *b_base, size_t length)
{
    if (a.length != b.length)
        return false;
    if (a.length == 0)
        return true;
    bool a_inside = a.start >= a_base && a.start < a_base + length;
    bool b_inside = b.start >= b_base && b.start < b_base + length;
    if (a_inside != b_inside)
        return false;
    return a_inside ? a.start - a_base == b.start - b_base : a.start == b.start;
}

static bool same_answer(const struct answer *a, const struct answer *b, size_t length)
{
    const struct http_request *x = &a->r, *y = &b->r;
    if (a->result != b->result)
        return false;
    if (a->result == HTTP_PARSE_ERROR)
        return x->error_status == y->error_status && x->error_closes == y->error_closes;
    if (a->result == HTTP_PARSE_NEED_MORE)
        return true; /* the fields mean nothing yet */
    return x->method == y->method && x->version_minor == y->version_minor &&
           x->keep_alive == y->keep_alive && x->body == y->body &&
           x->content_length == y->content_length && x->head_length == y->head_length &&
           x->if_none_match == y->if_none_match && x->if_none_match_any == y->if_none_match_any &&
           x->expect_continue == y->expect_continue && x->forwarded == y->forwarded &&
           same_text(x->method_name, a->base, y->method_name, b->base, length) &&
           same_text(x->target, a->base, y->target, b->base, length) &&
           same_text(x->path, a->base, y->path, b->base, length) &&
           same_text(x->query, a->base, y->query, b->base, length) &&
           same_text(x->host, a->base, y->host, b->base, length) &&
           same_text(x->if_modified_since, a->base, y->if_modified_since, b->base, length);
}

/* Parse input[0, k) from scratch, behind the guard page. */
static struct answer parse_from_scratch(const char *input, size_t k)
{
    struct answer a;
    a.base = behind_guard(input, k);
    a.result = http_parse_request(a.base, k, 0, &a.r);
    return a;
}

/* Feed input[0, length) at the cuts cuts[0] < cuts[1] < ... = length, resuming
 * after each NEED_MORE, the prefix at a new place each time (as a server moves
 * unused bytes to the front of its buffer), until an answer other than
 * NEED_MORE. Each answer must be the one parsing that prefix from scratch gives.
 * Returns false, having said why, if not. */
static bool resumed_matches(const char *input, const size_t *cuts, size_t count, const char *name)
{
    static char moving[2][GUARDED_SIZE];
    size_t scanned = 0;
    for (size_t j = 0; j < count; j++) {
        size_t k = cuts[j];
        struct answer expected = parse_from_scratch(input, k), got;
        got.base = memcpy(moving[j % 2], input, k);
        got.result = http_parse_request(got.base, k, scanned, &got.r);
        if (!same_answer(&got, &expected, k)) {
            print_error("%s: prefix %zu resumed after %zu answers %d (status %d), from scratch "
                        "%d (status %d)\n",
                        name, k, scanned, got.result, got.r.error_status, expected.result,
                        expected.r.error_status);
            return false;
        }
        if (got.result != HTTP_PARSE_NEED_MORE)
            return true;
        scanned = k;
    }
    return true;
}

static uint32_t next_random(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* 4. a byte at a time, then in random splits: pieces of 1 to 4 bytes, or up to
 * a quarter of the input, or none (the same length again), mixed. */
static void check_resumed(const struct parse_case *c, const char *input, size_t length)
{
    size_t *cuts = calloc(length + 1, sizeof *cuts);
    assert_non_null(cuts);
    for (size_t k = 1; k <= length; k++)
        cuts[k - 1] = k;
    if (!resumed_matches(input, cuts, length, c->name))
        fail();
    uint32_t seed = (uint32_t)length;
    for (int split = 0; split < 20; split++) {
        size_t count = 0;
        for (size_t k = 0; k < length;) {
            uint32_t r = next_random(&seed);
            size_t piece = r % 8 == 0 ? 0 /* no new bytes: a wake-up with nothing read */
                           : r % 2    ? 1 + (r >> 1) % 4
                                      : 1 + (r >> 1) % (1 + length / 4);
            k = k + piece < length ? k + piece : length;
            cuts[count++] = k;
        }
        if (!resumed_matches(input, cuts, count, c->name))
            fail();
    }
    free(cuts);
}

/* Every prefix, behind the guard page: NEED_MORE, or the row's final answer. */
static void check_prefixes(const struct parse_case *c, const char *input, size_t length)
{
    size_t head = c->result == HTTP_PARSE_COMPLETE ? length - c->tail : length + 1;
    bool failed_before = false;
    for (size_t k = 0; k <= length; k++) {
        struct http_request r;
        enum http_parse_result got = http_parse_request(behind_guard(input, k), k, 0, &r);
        if (k >= head) {
            if (got != HTTP_PARSE_COMPLETE || r.head_length != head) {
                print_error("%s: prefix %zu: result %d head_length %zu, expected COMPLETE %zu\n",
                            c->name, k, got, r.head_length, head);
                fail();
            }
        } else if (got == HTTP_PARSE_ERROR) {
            if (c->result != HTTP_PARSE_ERROR || r.error_status != c->status) {
                print_error("%s: prefix %zu of %zu: ERROR %d, expected %s %d\n", c->name, k, length,
                            r.error_status, c->result == HTTP_PARSE_ERROR ? "ERROR" : "no error",
                            c->status);
                fail();
            }
            failed_before = true;
        } else if (got != HTTP_PARSE_NEED_MORE || failed_before) {
            print_error("%s: prefix %zu of %zu: result %d, expected NEED_MORE%s\n", c->name, k,
                        length, got, failed_before ? " never after an ERROR" : "");
            fail();
        }
    }
}

static void test_parse_case(void **state)
{
    const struct parse_case *c = *state;
    static char made[GUARDED_SIZE];
    const char *input = c->input;
    size_t length = c->length;
    if (input == NULL) {
        length = c->make(made, sizeof made);
        input = made;
    }
    /* 1. whole */
    struct http_request r;
    check_answer(c, http_parse_request(input, length, 0, &r), &r, length);
    /* 3. whole, behind the guard page, with the same answer */
    check_answer(c, http_parse_request(behind_guard(input, length), length, 0, &r), &r, length);
    /* 2 and 3. every prefix, behind the guard page */
    check_prefixes(c, input, length);
    /* 4. resumed */
    check_resumed(c, input, length);
}

/* The split rule for any input, not only the rows': every prefix answers
 * NEED_MORE, or the ERROR the whole answers, or (from head_length on) the same
 * COMPLETE. Returns false, having said why, if it does not hold. */
static bool split_consistent(const char *input, size_t length)
{
    struct http_request whole, part;
    enum http_parse_result answer = http_parse_request(input, length, 0, &whole);
    size_t head = answer == HTTP_PARSE_COMPLETE ? whole.head_length : length + 1;
    for (size_t k = 0; k < length; k++) {
        enum http_parse_result got = http_parse_request(behind_guard(input, k), k, 0, &part);
        bool ok = k >= head ? got == HTTP_PARSE_COMPLETE && part.head_length == head
                  : got == HTTP_PARSE_ERROR
                      ? answer == HTTP_PARSE_ERROR && part.error_status == whole.error_status
                      : got == HTTP_PARSE_NEED_MORE;
        if (!ok) {
            print_error("prefix %zu of %zu answers %d (status %d), the whole %d (status %d): "
                        "\"%.*s\"\n",
                        k, length, got, part.error_status, answer, whole.error_status, (int)length,
                        input);
            return false;
        }
    }
    return true;
}

/* Inputs nobody wrote by hand: each row with a few bytes replaced, inserted or
 * removed, from a fixed seed so that a failure repeats. */
static void test_split_consistency_mutated(void **state)
{
    (void)state;
    static const char alphabet[] = "\r\n \t:,;/%?#aZ09\0\x01\x7f\xff";
    static char buf[GUARDED_SIZE];
    uint32_t seed = 2026;
    size_t checked = 0;
    for (size_t row = 0; row < PARSE_CASES; row++) {
        const struct parse_case *c = &parse_cases[row];
        if (c->input == NULL || c->length < 2)
            continue;
        for (int m = 0; m < 100; m++) {
            size_t length = c->length;
            memcpy(buf, c->input, length);
            int edits = 1 + m % 3;
            for (int e = 0; e < edits; e++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % length;
                char byte = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
                switch ((seed >> 28) % 3) {
                case 0: buf[at] = byte; break;
                case 1:
                    memmove(buf + at + 1, buf + at, length - at);
                    buf[at] = byte;
                    length++;
                    break;
                default:
                    memmove(buf + at, buf + at + 1, length - at - 1);
                    length--;
                    break;
                }
            }
            if (!split_consistent(buf, length))
                fail();
            size_t cuts[GUARDED_SIZE / 256];
            assert_true(length <= sizeof cuts / sizeof cuts[0]);
            for (size_t k = 1; k <= length; k++)
                cuts[k - 1] = k;
            if (!resumed_matches(buf, cuts, length, c->name))
                fail();
            checked++;
        }
    }
    assert_true(checked > 10000);
}

/* ---- http_body_discard -------------------------------------------------------- */

enum { LIMIT = 1 << 20 };

struct body_case {
    const char *name;
    const char *input;
    size_t length;
    enum http_body_result result; /* DONE, or the error; MORE: wants more after all */
    enum http_body_framing framing;
    uint64_t content_length; /* HTTP_BODY_LENGTH */
    size_t tail;             /* DONE: bytes after the body, left alone */
    uint64_t limit;          /* 0: LIMIT */
};

#define LENGTH(n) .framing = HTTP_BODY_LENGTH, .content_length = (n)
#define CHUNKED   .framing = HTTP_BODY_CHUNKED

static const struct body_case body_cases[] = {
    {"length", BYTES("hello"), HTTP_BODY_DONE, LENGTH(5)},
    {"length, next request after", BYTES("hello" NEXT), HTTP_BODY_DONE, LENGTH(5),
     .tail = sizeof NEXT - 1},
    {"length, short", BYTES("hel"), HTTP_BODY_MORE, LENGTH(5)},
    {"length at the limit", BYTES("0123456789"), HTTP_BODY_DONE, LENGTH(10), .limit = 10},
    {"length over the limit", BYTES("0123456789a"), HTTP_BODY_TOO_LARGE, LENGTH(11), .limit = 10},
    {"length huge", BYTES("x"), HTTP_BODY_TOO_LARGE, LENGTH(999999999999999999ULL)},
    {"no body", BYTES(NEXT), .framing = HTTP_BODY_NONE, .result = HTTP_BODY_DONE,
     .tail = sizeof NEXT - 1},

    {"one chunk", BYTES("5\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"two chunks", BYTES("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"last chunk only", BYTES("0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"next request after", BYTES("3\r\nabc\r\n0\r\n\r\n" NEXT), HTTP_BODY_DONE, CHUNKED,
     .tail = sizeof NEXT - 1},
    {"extensions", BYTES("5;name=value\r\nhello\r\n0;last\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"quoted extension", BYTES("5;n=\"a b;c\"\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"BWS before extension", BYTES("5 \t;x\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"trailers", BYTES("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n" NEXT), HTTP_BODY_DONE, CHUNKED,
     .tail = sizeof NEXT - 1},
    {"bare LF", BYTES("5\nhello\n0\nX: 1\n\n" NEXT), HTTP_BODY_DONE, CHUNKED,
     .tail = sizeof NEXT - 1},
    {"uppercase hex",
     BYTES("A\r\n0123456789\r\nFF\r\n"
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
           "\r\n0\r\n\r\n"),
     HTTP_BODY_DONE, CHUNKED},
    {"lowercase hex", BYTES("a\r\n0123456789\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"leading zeros", BYTES("0005\r\nhello\r\n000\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"CRLF inside data", BYTES("4\r\n\r\n\r\n\r\n0\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"chunked, short", BYTES("5\r\nhel"), HTTP_BODY_MORE, CHUNKED},
    {"no trailer end", BYTES("5\r\nhello\r\n0\r\n"), HTTP_BODY_MORE, CHUNKED},
    {"chunked at the limit", BYTES("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), HTTP_BODY_DONE,
     CHUNKED, .limit = 10},

    {"missing size", BYTES("\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"size not hex", BYTES("g\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"negative size", BYTES("-5\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"0x size", BYTES("0x5\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"space inside size", BYTES("5 5\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"space before size", BYTES(" 5\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"too many hex digits", BYTES("1000000000000005\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD,
     CHUNKED},
    {"64-bit overflow", BYTES("10000000000000000000\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD,
     CHUNKED},
    {"bare CR after size", BYTES("5\rhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"CTL in extension", BYTES("5;\x01\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"missing CRLF after data", BYTES("5\r\nhelloX0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"data longer than size", BYTES("3\r\nhello\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"CR without LF after data", BYTES("5\r\nhello\rX\r\n0\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"bare CR opens the trailer", BYTES("0\r\n\rX\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    /* a trailer is a field line: a request line after a last chunk whose final
     * CRLF never came is the next request, never a trailer (RFC 9112 §7.1.2) */
    {"request where the final CRLF belongs", BYTES("5\r\nhello\r\n0\r\n" NEXT), HTTP_BODY_BAD,
     CHUNKED},
    {"trailer without colon", BYTES("0\r\nX-No-Colon\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer space before colon", BYTES("0\r\nX : 1\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer empty name", BYTES("0\r\n: 1\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer obs-fold", BYTES("0\r\nX: 1\r\n 2\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer CTL in value", BYTES("0\r\nX: a\x01\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer bare CR in value", BYTES("0\r\nX: a\rb\r\n\r\n"), HTTP_BODY_BAD, CHUNKED},
    {"trailer empty value", BYTES("0\r\nX:\r\n\r\n" NEXT), HTTP_BODY_DONE, CHUNKED,
     .tail = sizeof NEXT - 1},
    {"trailer obs-text and tab", BYTES("0\r\nX: a\tb \xe9\r\n\r\n"), HTTP_BODY_DONE, CHUNKED},
    {"chunk over the limit", BYTES("b\r\nhello world\r\n0\r\n\r\n"), HTTP_BODY_TOO_LARGE, CHUNKED,
     .limit = 10},
    {"chunks add up over the limit", BYTES("6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n"),
     HTTP_BODY_TOO_LARGE, CHUNKED, .limit = 10},
};

enum { BODY_CASES = sizeof body_cases / sizeof body_cases[0] };

static void start_reader(struct http_body_reader *reader, const struct body_case *c)
{
    struct http_request request = {.body = c->framing, .content_length = c->content_length};
    http_body_start(reader, &request, c->limit ? c->limit : LIMIT);
}

/* Feed input in pieces cut at the given offsets (ascending, ending at length);
 * returns the last answer and the bytes used in all. */
static enum http_body_result feed(const struct body_case *c, const char *input, const size_t *cuts,
                                  size_t cut_count, size_t *total_used)
{
    struct http_body_reader reader;
    start_reader(&reader, c);
    size_t at = 0;
    enum http_body_result result = HTTP_BODY_MORE;
    *total_used = 0;
    for (size_t i = 0; i < cut_count; i++) {
        size_t piece = cuts[i] - at, used = 12345;
        result = http_body_discard(&reader, behind_guard(input + at, piece), piece, &used);
        if (result == HTTP_BODY_MORE)
            assert_int_equal(used, piece); /* MORE: everything given was body */
        if (result == HTTP_BODY_DONE)
            assert_true(used <= piece);
        *total_used += result == HTTP_BODY_DONE || result == HTTP_BODY_MORE ? used : 0;
        if (result != HTTP_BODY_MORE)
            return result;
        at = cuts[i];
    }
    return result;
}

static void check_body_answer(const struct body_case *c, const char *how, enum http_body_result got,
                              size_t used)
{
    if (got != c->result) {
        print_error("%s (%s): result %d, expected %d\n", c->name, how, got, c->result);
        fail();
    }
    if (got == HTTP_BODY_DONE && used != c->length - c->tail) {
        print_error("%s (%s): used %zu, expected %zu\n", c->name, how, used, c->length - c->tail);
        fail();
    }
}

static void test_body_case(void **state)
{
    const struct body_case *c = *state;
    size_t used, whole[] = {c->length};
    enum http_body_result got = feed(c, c->input, whole, 1, &used);
    check_body_answer(c, "whole", got, used);

    /* in two pieces, cut at every byte */
    for (size_t k = 0; k <= c->length; k++) {
        size_t cuts[] = {k, c->length};
        char how[32];
        snprintf(how, sizeof how, "cut at %zu", k);
        got = feed(c, c->input, cuts, 2, &used);
        check_body_answer(c, how, got, used);
    }

    /* one byte at a time */
    size_t *cuts = malloc((c->length + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t k = 0; k < c->length; k++)
        cuts[k] = k + 1;
    got = feed(c, c->input, cuts, c->length, &used);
    check_body_answer(c, "byte by byte", got, used);
    free(cuts);
}

/* After DONE with a following request, the reader reports DONE and uses nothing. */
static void test_body_done_stays_done(void **state)
{
    (void)state;
    struct http_request request = {.body = HTTP_BODY_LENGTH, .content_length = 2};
    struct http_body_reader reader;
    http_body_start(&reader, &request, LIMIT);
    size_t used;
    assert_int_equal(http_body_discard(&reader, "ab" NEXT, 29, &used), HTTP_BODY_DONE);
    assert_int_equal(used, 2);
    assert_int_equal(http_body_discard(&reader, NEXT, 27, &used), HTTP_BODY_DONE);
    assert_int_equal(used, 0);
}

/* DOC: expect's rule: only a body announced, asked for with 100-continue and
 * not begun is withheld; any byte after the head means the client is sending. */
static void test_body_withheld(void **state)
{
    (void)state;
    static const struct {
        bool expect_continue;
        enum http_body_framing body;
        size_t after_head;
        bool withheld;
    } rows[] = {
        {true, HTTP_BODY_LENGTH, 0, true},    {true, HTTP_BODY_CHUNKED, 0, true},
        {true, HTTP_BODY_LENGTH, 1, false},   {true, HTTP_BODY_CHUNKED, 3, false},
        {true, HTTP_BODY_NONE, 0, false},     {false, HTTP_BODY_LENGTH, 0, false},
        {false, HTTP_BODY_CHUNKED, 0, false}, {false, HTTP_BODY_NONE, 0, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct http_request request = {.expect_continue = rows[i].expect_continue,
                                       .body = rows[i].body};
        if (http_body_withheld(&request, rows[i].after_head) != rows[i].withheld) {
            print_error("row %zu: withheld should be %d\n", i, rows[i].withheld);
            fail();
        }
    }
}

static void test_text_equals(void **state)
{
    (void)state;
    assert_true(http_text_equals((struct http_text){"Keep-Alive", 10}, "keep-alive"));
    assert_true(http_text_equals((struct http_text){"", 0}, ""));
    assert_false(http_text_equals((struct http_text){"keep-aliv", 9}, "keep-alive"));
    assert_false(http_text_equals((struct http_text){"keep-alivee", 11}, "keep-alive"));
    assert_false(http_text_equals((struct http_text){"keep_alive", 10}, "keep-alive"));
}

/* `test_http_parse --seeds DIR` writes every row's input to DIR, one file a
 * row: the fuzzer's starting corpus (make fuzz) is the table itself. */
static int write_seeds(const char *directory)
{
    static char made[GUARDED_SIZE];
    for (size_t i = 0; i < PARSE_CASES; i++) {
        const struct parse_case *c = &parse_cases[i];
        const char *input = c->input;
        size_t length = c->length;
        if (input == NULL) {
            length = c->make(made, sizeof made);
            input = made;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/row-%03zu", directory, i);
        FILE *out = fopen(path, "wb");
        if (out == NULL || fwrite(input, 1, length, out) != length || fclose(out) != 0) {
            perror(path);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        return write_seeds(argv[2]);
    guard_setup();
    enum { EXTRA = 4 };
    size_t count = PARSE_CASES + BODY_CASES + EXTRA, n = 0;
    struct CMUnitTest *tests = calloc(count, sizeof *tests);
    if (tests == NULL)
        return 1;
    for (size_t i = 0; i < PARSE_CASES; i++)
        tests[n++] = (struct CMUnitTest){.name = parse_cases[i].name,
                                         .test_func = test_parse_case,
                                         .initial_state = (void *)&parse_cases[i]};
    for (size_t i = 0; i < BODY_CASES; i++)
        tests[n++] = (struct CMUnitTest){.name = body_cases[i].name,
                                         .test_func = test_body_case,
                                         .initial_state = (void *)&body_cases[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_body_done_stays_done);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_text_equals);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_body_withheld);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_split_consistency_mutated);
    /* cmocka_run_group_tests() wants an array whose size the compiler knows; the
     * table rows are counted at run time, so call the function it expands to. */
    int failed = _cmocka_run_group_tests("http_parse", tests, n, NULL, NULL);
    free(tests);
    return failed;
}
