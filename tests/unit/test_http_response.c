/* test_http_response — http_respond on a temporary root: the status line, the
 * fields, the framing (Content-Length always equals what follows), HEAD, 304,
 * inline bodies vs sendfile, the lab endpoints and their bounds, the error
 * answers; and the date and MIME helpers. Requests are built with the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "file_cache.h"
#include "http_conn.h"
#include "http_parse.h"
#include "http_response.h"
#include "options.h"

enum { FILE_TIME = 1700000000 }; /* Tue, 14 Nov 2023 22:13:20 GMT */
#define FILE_DATE "Tue, 14 Nov 2023 22:13:20 GMT"

static char base[64];
static struct server_options options;
static struct http_site site;

/* ---- the root ------------------------------------------------------------------ */

static void make_file(const char *relative, const char *content, size_t length)
{
    char path[128];
    assert_true(snprintf(path, sizeof path, "%s/%s", base, relative) < (int)sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, length), (ssize_t)length);
    struct timespec times[2] = {{FILE_TIME, 0}, {FILE_TIME, 0}};
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
}

static int make_dir(const char *relative)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", base, relative);
    return mkdir(path, 0755);
}

static void make_sized(const char *relative, size_t length)
{
    char *content = malloc(length);
    assert_non_null(content);
    for (size_t i = 0; i < length; i++)
        content[i] = (char)('a' + i % 26);
    make_file(relative, content, length);
    free(content);
}

static int root_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/test_http_response.XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    make_file("small.txt", "hello\n", 6);
    make_file("page.html", "<p>hi</p>\n", 10);
    make_file("style.css", "p{}\n", 4);
    make_file("empty.txt", "", 0);
    make_sized("inline.bin", HTTP_INLINE_BODY_MAX);
    make_sized("sendfile.bin", HTTP_INLINE_BODY_MAX + 1);
    make_sized("big.bin", 100000);
    if (make_dir("dir") != 0 || make_dir(".well-known") != 0)
        return -1;
    make_file("dir/index.html", "<h1>index</h1>\n", 15);
    if (make_dir("a b") != 0 || make_dir("back\\slash") != 0 || make_dir("100%") != 0)
        return -1;
    make_file(".env", "KEY=1\n", 6);
    make_file("dir/.secret", "KEY=2\n", 6);
    make_file(".well-known/info.txt", "info\n", 5);
    make_file(".well-known/.env", "KEY=3\n", 6);
    options = (struct server_options){
        .root = base, .lab = true, .timeout_ms = 10000, .keepalive_requests = 1000};
    site.options = &options;
    site.root_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return site.root_fd < 0 ? -1 : 0;
}

static int root_teardown(void **state)
{
    (void)state;
    close(site.root_fd);
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? 0 : -1;
}

/* ---- one exchange ---------------------------------------------------------------- */

struct answer {
    struct http_response response;
    char out[HTTP_OUT_SIZE + 1]; /* + 1: a NUL after the bytes, for strstr */
    size_t fields_end;           /* where the body starts in out[] */
    long content_length;         /* -1 if none */
};

/* Parse request (it must be COMPLETE) and answer it as the next request of
 * session's connection. */
static void ask_in(struct http_session *session, const char *request_text, struct answer *a)
{
    struct http_request request;
    assert_int_equal(http_parse_request(request_text, strlen(request_text), 0, &request),
                     HTTP_PARSE_COMPLETE);
    memset(a, 0, sizeof *a);
    http_respond(&site, session, &request, request.keep_alive, a->out, HTTP_OUT_SIZE, &a->response);
    assert_true(a->response.head_length > 0 && a->response.head_length <= HTTP_OUT_SIZE);
    a->out[a->response.head_length] = '\0';
    char *end = strstr(a->out, "\r\n\r\n");
    assert_non_null(end);
    a->fields_end = (size_t)(end - a->out) + 4;
    const char *field = strstr(a->out, "\r\nContent-Length: ");
    a->content_length = field != NULL && (size_t)(field - a->out) < a->fields_end
                            ? atol(field + strlen("\r\nContent-Length: "))
                            : -1;
}

/* The same on a connection of its own. */
static void ask(const char *request_text, struct answer *a)
{
    struct http_session session;
    http_session_start(&session, -1);
    ask_in(&session, request_text, a);
}

/* The value of a field in the head, as a static string; NULL if absent. */
static const char *field(const struct answer *a, const char *name)
{
    static char value[256];
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\r\n%s: ", name);
    const char *at = strstr(a->out, pattern);
    if (at == NULL || (size_t)(at - a->out) >= a->fields_end)
        return NULL;
    at += strlen(pattern);
    size_t n = strcspn(at, "\r");
    assert_true(n < sizeof value);
    memcpy(value, at, n);
    value[n] = '\0';
    return value;
}

static size_t body_bytes_inline(const struct answer *a)
{
    return a->response.head_length - a->fields_end;
}

/* What every response must satisfy: a status line, Date and Server fields, and
 * a Content-Length equal to what follows the head (nothing for HEAD and 304). */
static void check_common(const struct answer *a, int status, bool head_only)
{
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    assert_int_equal(a->response.status, status);
    assert_memory_equal(a->out, line, strlen(line));
    assert_non_null(field(a, "Server"));

    const char *date = field(a, "Date");
    assert_non_null(date);
    time_t t, now = time(NULL);
    assert_int_equal(strlen(date), 29); /* IMF-fixdate */
    assert_int_equal(http_parse_date(date, strlen(date), now, &t), 0);
    char again[40];
    http_format_date(t, again, sizeof again);
    assert_string_equal(again, date); /* exactly our own format */
    assert_true(t > now - 86400 && t < now + 86400);

    uint64_t after_head =
        body_bytes_inline(a) + a->response.file_length + a->response.generated_length;
    if (head_only || status == 304) {
        assert_int_equal(after_head, 0);
        assert_int_equal(a->response.file_fd, -1);
    } else {
        assert_true(a->content_length >= 0);
        assert_int_equal(after_head, (uint64_t)a->content_length);
    }
}

/* ---- static files ------------------------------------------------------------------ */

static void test_small_file(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.content_length, 6);
    assert_string_equal(a.out + a.fields_end, "hello\n");
    assert_string_equal(field(&a, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(field(&a, "Last-Modified"), FILE_DATE);
    assert_null(field(&a, "Connection")); /* 1.1 persists by default */
    assert_false(a.response.close_after);
    assert_int_equal(a.response.file_fd, -1);
}

static void test_content_types(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /page.html HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(field(&a, "Content-Type"), "text/html; charset=utf-8");
    ask("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    assert_string_equal(field(&a, "Content-Type"), "text/css; charset=utf-8");
    ask("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    assert_string_equal(field(&a, "Content-Type"), "application/octet-stream");
    http_response_done(&a.response);
    ask("GET /dir/ HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(field(&a, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(a.out + a.fields_end, "<h1>index</h1>\n");
}

static void test_connection_field(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(field(&a, "Connection"), "close");
    assert_true(a.response.close_after);

    ask("GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(field(&a, "Connection"), "keep-alive");
    assert_false(a.response.close_after);

    ask("GET /small.txt HTTP/1.0\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(field(&a, "Connection"), "close");
    assert_true(a.response.close_after);

    ask("GET /missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &a);
    check_common(&a, 404, false);
    assert_string_equal(field(&a, "Connection"), "close");
    assert_true(a.response.close_after);

    ask("GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &a);
    check_common(&a, 404, false);
    assert_string_equal(field(&a, "Connection"), "keep-alive");
}

static void test_head(void **state)
{
    (void)state;
    struct answer a;
    ask("HEAD /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, true);
    assert_int_equal(a.content_length, 6);
    assert_string_equal(field(&a, "Last-Modified"), FILE_DATE);

    ask("HEAD /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, true);
    assert_int_equal(a.content_length, 100000);

    ask("HEAD /missing HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, true);
    assert_true(a.content_length > 0); /* the length a GET would get */

    ask("HEAD /lab/bytes/100000 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, true);
    assert_int_equal(a.content_length, 100000);
}

static void test_inline_or_sendfile(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /inline.bin HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(body_bytes_inline(&a), HTTP_INLINE_BODY_MAX);
    assert_int_equal(a.response.file_fd, -1);
    assert_memory_equal(a.out + a.fields_end, "abcdefghij", 10);

    ask("GET /sendfile.bin HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(body_bytes_inline(&a), 0);
    assert_true(a.response.file_fd >= 0);
    assert_int_equal(a.response.file_offset, 0);
    assert_int_equal(a.response.file_length, HTTP_INLINE_BODY_MAX + 1);
    char first[10];
    assert_int_equal(pread(a.response.file_fd, first, sizeof first, 0), 10);
    assert_memory_equal(first, "abcdefghij", 10);
    int fd = a.response.file_fd;
    http_response_done(&a.response);
    assert_int_equal(a.response.file_fd, -1);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */

    ask("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.response.file_length, 100000);
    http_response_done(&a.response);

    ask("GET /empty.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.content_length, 0);
    assert_int_equal(a.response.file_fd, -1);
}

/* The one-second small-file cache (file_cache.h), end to end: a cached answer
 * is the uncached one byte for byte apart from Date, a change to the file shows
 * once FILE_CACHE_TTL_MS has passed, and an index keeps its Content-Type. */
static void test_cached_answer(void **state)
{
    (void)state;
    make_file("cached.txt", "v1\n", 3);
    struct answer first, second, after;
    ask("GET /cached.txt HTTP/1.1\r\nHost: x\r\n\r\n", &first);
    make_file("cached.txt", "version 2\n", 10);
    ask("GET /cached.txt HTTP/1.1\r\nHost: x\r\n\r\n", &second);
    assert_int_equal(second.response.head_length, first.response.head_length);
    assert_int_equal(second.content_length, 3);
    assert_memory_equal(second.out + second.fields_end, "v1\n", 3);
    char *date_first = strstr(first.out, "\r\nDate: "),
         *date_second = strstr(second.out, "\r\nDate: ");
    assert_non_null(date_first);
    assert_non_null(date_second);
    memcpy(date_second, date_first, strlen("\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT"));
    assert_memory_equal(first.out, second.out, first.response.head_length);

    struct timespec pause = {(FILE_CACHE_TTL_MS + 50) / 1000,
                             ((FILE_CACHE_TTL_MS + 50) % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    ask("GET /cached.txt HTTP/1.1\r\nHost: x\r\n\r\n", &after);
    assert_int_equal(after.content_length, 10);
    assert_memory_equal(after.out + after.fields_end, "version 2\n", 10);

    struct answer index_first, index_second, head;
    ask("GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n", &index_first);
    ask("GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n", &index_second);
    assert_string_equal(field(&index_second, "Content-Type"), "text/html; charset=utf-8");
    assert_int_equal(body_bytes_inline(&index_second), 15);
    ask("HEAD /dir/ HTTP/1.1\r\nHost: x\r\n\r\n", &head);
    assert_int_equal(head.content_length, 15);
    assert_int_equal(body_bytes_inline(&head), 0);
}

static void test_if_modified_since(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " FILE_DATE "\r\n\r\n", &a);
    check_common(&a, 304, false);
    assert_string_equal(field(&a, "Last-Modified"), FILE_DATE);

    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\n"
        "If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n\r\n",
        &a);
    check_common(&a, 304, false);

    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\n"
        "If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n",
        &a);
    check_common(&a, 200, false); /* one second older */
    assert_string_equal(a.out + a.fields_end, "hello\n");

    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: yesterday\r\n\r\n", &a);
    check_common(&a, 200, false); /* not a date: ignored */

    ask("HEAD /small.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " FILE_DATE "\r\n\r\n", &a);
    check_common(&a, 304, true);

    ask("GET /sendfile.bin HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " FILE_DATE "\r\n\r\n", &a);
    check_common(&a, 304, false); /* and no file left open */

    /* RFC 9110 §13.1.3: two If-Modified-Since fields are no date: ignored */
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " FILE_DATE
        "\r\nIf-Modified-Since: " FILE_DATE "\r\n\r\n",
        &a);
    check_common(&a, 200, false);
    /* RFC 850's two-digit year 70 is 2070, after the file's time: 304 */
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\n"
        "If-Modified-Since: Wednesday, 01-Jan-70 00:00:00 GMT\r\n\r\n",
        &a);
    check_common(&a, 304, false);
}

/* If-None-Match decides alone when it is there (RFC 9110 §13.1.3, §13.2.2):
 * no entity-tag of ours can match (we send none), "*" matches any file. */
static void test_if_none_match(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"abc\"\r\n"
        "If-Modified-Since: " FILE_DATE "\r\n\r\n",
        &a);
    check_common(&a, 200, false);
    assert_string_equal(a.out + a.fields_end, "hello\n");
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " FILE_DATE
        "\r\nIf-None-Match: W/\"abc\", \"def\"\r\n\r\n",
        &a);
    check_common(&a, 200, false);
    ask("GET /small.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", &a);
    check_common(&a, 304, false);
    assert_string_equal(field(&a, "Last-Modified"), FILE_DATE);
    ask("HEAD /dir/ HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", &a);
    check_common(&a, 304, true);
    ask("GET /missing.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", &a);
    check_common(&a, 404, false); /* no file: no precondition to test */
}

static void test_paths(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /dir HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 301, false);
    assert_string_equal(field(&a, "Location"), "/dir/");
    ask("GET /dir?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 301, false);
    assert_string_equal(field(&a, "Location"), "/dir/");
    ask("GET /small.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    ask("GET http://example.com/small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_string_equal(a.out + a.fields_end, "hello\n");
    ask("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 403, false); /* no index.html, no listing */
    ask("GET /missing.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, false);
    ask("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 403, false);
    ask("GET /..%2fetc%2fpasswd HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 400, false);
    ask("GET /small.txt%00.html HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 400, false);
}

/* A directory named without its slash: 301 to its normalised path plus '/',
 * percent-encoded again, so Location always starts with exactly one '/' and a
 * browser can never read it as another host ("//evil/" or "/\evil/" would be). */
static void test_redirects(void **state)
{
    (void)state;
    static const struct {
        const char *target, *location;
    } rows[] = {
        {"/dir", "/dir/"},
        {"/dir?x=1", "/dir/"},
        {"//dir", "/dir/"},
        {"///dir", "/dir/"},
        {"//dir?x", "/dir/"},
        {"/.//dir", "/dir/"},
        {"/./dir", "/dir/"},
        {"/dir/.", "/dir/"},
        {"/dir/..", "/"},
        {"/.", "/"},
        {"//.well-known", "/.well-known/"},
        {"/a%20b", "/a%20b/"},
        {"/back%5Cslash", "/back%5Cslash/"},
        {"/back\\slash", "/back%5Cslash/"},
        {"/100%25", "/100%25/"},
        {"http://h//dir", "/dir/"},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char request[128];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", rows[i].target);
        struct answer a;
        ask(request, &a);
        const char *location = field(&a, "Location");
        if (a.response.status != 301 || location == NULL ||
            strcmp(location, rows[i].location) != 0) {
            print_error("GET %s: %d, Location %s, expected 301 to %s\n", rows[i].target,
                        a.response.status, location ? location : "(none)", rows[i].location);
            wrong++;
        } else {
            check_common(&a, 301, false);
        }
    }
    assert_int_equal(wrong, 0);
}

/* The path limit (docs/design.md#static-files): the target's path as sent, before
 * decoding, up to 4096 bytes; one byte more is 414. Decoding only shortens it. */
static void test_path_limit(void **state)
{
    (void)state;
    static const struct {
        size_t length; /* of the path, its leading '/' included */
        const char *fill;
        int status;
    } rows[] = {
        {4095, "a", 404},   {4096, "a", 404},   {4097, "a", 414},   {8000, "a", 414},
        {4095, "%61", 404}, {4096, "%61", 404}, {4097, "%61", 414}, /* decoded: 1366 bytes */
        {4096, "/", 404},   {4097, "/", 414},                       /* collapsed: "/a" */
    };
    static char request[9000];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = (size_t)snprintf(request, sizeof request, "GET /");
        size_t fill = strlen(rows[i].fill);
        while (n + fill < rows[i].length + 4) { /* the path ends at rows[i].length + 4 */
            memcpy(request + n, rows[i].fill, fill);
            n += fill;
        }
        memset(request + n, 'a', rows[i].length + 4 - n);
        n = rows[i].length + 4;
        snprintf(request + n, sizeof request - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
        struct answer a;
        ask(request, &a);
        if (a.response.status != rows[i].status) {
            print_error("a %zu-byte path of \"%s\": %d, expected %d\n", rows[i].length,
                        rows[i].fill, a.response.status, rows[i].status);
            fail();
        }
        check_common(&a, rows[i].status, false);
        assert_false(a.response.close_after);
    }
}

static void test_methods(void **state)
{
    (void)state;
    struct answer a;
    ask("POST /small.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &a);
    check_common(&a, 405, false);
    assert_string_equal(field(&a, "Allow"), "GET, HEAD");
    ask("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 405, false);
    assert_string_equal(field(&a, "Allow"), "GET, HEAD");
    ask("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 501, false);
    assert_null(field(&a, "Allow"));
    ask("get /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 501, false);
}

static void test_respond_error(void **state)
{
    (void)state;
    static const int statuses[] = {400, 408, 413, 414, 431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        struct answer a;
        memset(&a, 0, sizeof a);
        http_respond_error(statuses[i], true, a.out, HTTP_OUT_SIZE, &a.response);
        a.out[a.response.head_length] = '\0';
        a.fields_end = (size_t)(strstr(a.out, "\r\n\r\n") - a.out) + 4;
        a.content_length = atol(field(&a, "Content-Length"));
        check_common(&a, statuses[i], false);
        assert_string_equal(field(&a, "Connection"), "close");
        assert_true(a.response.close_after);
        assert_string_not_equal(http_reason(statuses[i]), "Unknown");
        char body[64];
        snprintf(body, sizeof body, "%d %s\n", statuses[i], http_reason(statuses[i]));
        assert_string_equal(a.out + a.fields_end, body);
    }
    struct answer a;
    memset(&a, 0, sizeof a);
    http_respond_error(405, false, a.out, HTTP_OUT_SIZE, &a.response);
    a.out[a.response.head_length] = '\0';
    a.fields_end = (size_t)(strstr(a.out, "\r\n\r\n") - a.out) + 4;
    assert_string_equal(field(&a, "Allow"), "GET, HEAD");
    assert_null(field(&a, "Connection"));
    assert_false(a.response.close_after);
}

/* ---- lab endpoints ------------------------------------------------------------------- */

static void test_lab_bytes(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /lab/bytes/100 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.content_length, 100);
    assert_int_equal(a.response.generated_length, 0);
    assert_memory_equal(a.out + a.fields_end, http_pattern, 100);

    ask("GET /lab/bytes/0 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.content_length, 0);

    ask("GET /lab/bytes/1000000 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(body_bytes_inline(&a), 0);
    assert_int_equal(a.response.generated_length, 1000000);

    ask("GET /lab/bytes/67108864 HTTP/1.1\r\nHost: h\r\n\r\n", &a); /* 64 MiB */
    check_common(&a, 200, false);
    assert_int_equal(a.response.generated_length, 67108864);

    static const char *const bad[] = {"/lab/bytes/67108865", "/lab/bytes/1000000000",
                                      "/lab/bytes/",         "/lab/bytes/12a",
                                      "/lab/bytes/-1",       "/lab/bytes/99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char request[128];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", bad[i]);
        ask(request, &a);
        check_common(&a, 400, false);
        assert_int_equal(a.response.generated_length, 0);
    }
}

static void test_lab_sleep_and_cpu(void **state)
{
    (void)state;
    struct answer a;
    ask("GET /lab/sleep/50 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.response.delay_ms, 50);
    ask("GET /lab/sleep/10000 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.response.delay_ms, 10000);
    ask("GET /lab/sleep/10001 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 400, false);
    assert_int_equal(a.response.delay_ms, 0);
    ask("GET /lab/sleep/x HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 400, false);

    ask("GET /lab/cpu/100 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_int_equal(a.response.delay_ms, 0);
    ask("GET /lab/cpu/1000001 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 400, false);
    ask("GET /lab/nothing HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, false);
}

static void test_no_lab(void **state)
{
    (void)state;
    struct answer a;
    options.lab = false;
    ask("GET /lab/bytes/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, false);
    ask("GET /lab/sleep/10 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, false);
    assert_int_equal(a.response.delay_ms, 0);
    options.lab = true;
}

static void test_dotfiles(void **state)
{
    (void)state;
    struct answer a;
    static const char *const hidden[] = {"/.env",        "/%2eenv",      "/.git/config",
                                         "/dir/.secret", "/dir/../.env", "/.well-known/.env"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        char request[128];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", hidden[i]);
        ask(request, &a);
        check_common(&a, 404, false);
        assert_false(a.response.close_after);
    }
    ask("GET /.well-known/info.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    options.dotfiles = true;
    ask("GET /.env HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_memory_equal(a.out + a.fields_end, "KEY=1\n", 6);
    options.dotfiles = false;
}

static void test_keepalive_requests(void **state)
{
    (void)state;
    struct answer a;
    struct http_session session;
    http_session_start(&session, -1);
    options.keepalive_requests = 3;
    for (int n = 1; n <= 3; n++) {
        ask_in(&session, "GET /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
        check_common(&a, 200, false);
        assert_int_equal(a.response.close_after, n == 3);
        const char *connection = field(&a, "Connection");
        assert_true(n == 3 ? connection != NULL && strcmp(connection, "close") == 0
                           : connection == NULL);
    }
    options.keepalive_requests = 1000;
}

static void test_lab_cpu_budget(void **state)
{
    (void)state;
    struct answer a;
    struct http_session session;
    http_session_start(&session, -1);
    session.lab_cpu_us = HTTP_LAB_CPU_BUDGET_US - 100; /* as if it had spun that long */
    ask_in(&session, "GET /lab/cpu/100 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    assert_false(a.response.close_after);
    ask_in(&session, "GET /lab/cpu/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 503, false);
    assert_true(a.response.close_after);
    assert_non_null(strstr(a.out + a.fields_end, "/lab/cpu"));
    ask("GET /lab/cpu/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a); /* a new connection */
    check_common(&a, 200, false);
}

/* A connected TCP socket over loopback: its peer is 127.0.0.1. */
static int loopback_socket(int *other, int *listener)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    *listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*listener >= 0);
    assert_int_equal(bind(*listener, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(*listener, 1), 0);
    assert_int_equal(getsockname(*listener, (struct sockaddr *)&address, &length), 0);
    *other = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*other, (struct sockaddr *)&address, sizeof address), 0);
    int fd = accept(*listener, NULL, NULL);
    assert_true(fd >= 0);
    return fd;
}

static void test_lab_peers(void **state)
{
    (void)state;
    struct answer a;
    struct http_session session;
    /* A UNIX socket's peer is no loopback address: it stands for a remote client. */
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    http_session_start(&session, pair[0]);
    ask_in(&session, "GET /lab/bytes/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 403, false);
    assert_non_null(strstr(a.out + a.fields_end, "--lab-public"));
    ask_in(&session, "GET /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false); /* files for everyone */
    options.lab_public = true;
    ask_in(&session, "GET /lab/bytes/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    options.lab_public = false;
    close(pair[0]);
    close(pair[1]);

    int other, listener;
    int fd = loopback_socket(&other, &listener);
    http_session_start(&session, fd);
    ask_in(&session, "GET /lab/bytes/1 HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 200, false);
    close(fd);
    close(other);
    close(listener);
}

static void test_lab_crash(void **state)
{
    (void)state;
    struct answer a;
    options.lab_crash = false;
    ask("GET /lab/crash HTTP/1.1\r\nHost: h\r\n\r\n", &a);
    check_common(&a, 404, false);

    /* With --lab-crash the handler faults: in a child, whose death we watch. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, STDERR_FILENO); /* the sanitizers' report, if any */
        signal(SIGSEGV, SIG_DFL);     /* not cmocka's handler: die */
        options.lab_crash = true;
        struct http_request request;
        const char *text = "GET /lab/crash HTTP/1.1\r\nHost: h\r\n\r\n";
        http_parse_request(text, strlen(text), 0, &request);
        struct http_session session;
        http_session_start(&session, -1);
        http_respond(&site, &session, &request, true, a.out, HTTP_OUT_SIZE, &a.response);
        _exit(0); /* reached only if it did not crash */
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    /* SIGSEGV; under ASan its handler reports the fault and exits non-zero. */
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) &&
        !(WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
        print_error("/lab/crash: the child ended with status %#x, not by the fault\n", status);
        fail();
    }
}

/* ---- helpers: dates, MIME types ------------------------------------------------------- */

static void test_dates(void **state)
{
    (void)state;
    static const char *const same[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",  /* IMF-fixdate */
        "Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850 */
        "Sun Nov  6 08:49:37 1994",       /* asctime */
    };
    time_t in_2026 = 1780272000; /* Mon, 01 Jun 2026 00:00:00 GMT */
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        time_t t = 0;
        assert_int_equal(http_parse_date(same[i], strlen(same[i]), in_2026, &t), 0);
        assert_int_equal(t, 784111777);
    }
    static const char *const bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sun, 06 Nov 1994",
        "Sun, 06 Nov 1994 08:49:37 GMT                                              x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 0;
        if (http_parse_date(bad[i], strlen(bad[i]), in_2026, &t) != -1) {
            print_error("\"%s\" parsed as a date\n", bad[i]);
            fail();
        }
    }
    /* length bounds the text: the bytes after it are not read */
    time_t t = 0;
    assert_int_equal(http_parse_date("Sun, 06 Nov 1994 08:49:37 GMTxyz", 29, in_2026, &t), 0);
    assert_int_equal(t, 784111777);

    char text[40];
    http_format_date(784111777, text, sizeof text);
    assert_string_equal(text, "Sun, 06 Nov 1994 08:49:37 GMT");
    http_format_date(FILE_TIME, text, sizeof text);
    assert_string_equal(text, FILE_DATE);
    const char *now = http_date_now();
    assert_int_equal(strlen(now), 29);
    assert_int_equal(http_parse_date(now, strlen(now), time(NULL), &t), 0);
}

#define JUN_2026 1780272000LL /* Mon, 01 Jun 2026 00:00:00 GMT */
#define JUN_2090 3799958400LL /* Thu, 01 Jun 2090 00:00:00 GMT */

/* RFC 850's two-digit year (RFC 9110 §5.6.7): the latest year with those
 * digits that is not more than 50 years after now; later ones are read as the
 * most recent past year with them. Timestamps, not just years, are compared. */
static void test_rfc850_years(void **state)
{
    (void)state;
    static const struct {
        long long now;
        const char *date;
        long long expected;
    } rows[] = {
        {JUN_2026, "Wednesday, 01-Jan-70 00:00:00 GMT", 3155760000}, /* 2070 */
        {JUN_2026, "Sunday, 06-Nov-94 08:49:37 GMT", 784111777},     /* 1994, not 2094 */
        {JUN_2026, "Saturday, 01-Jan-00 00:00:00 GMT", 946684800},   /* 2000 */
        {JUN_2026, "Monday, 01-Jun-26 00:00:00 GMT", JUN_2026},      /* now */
        {JUN_2026, "Wednesday, 01-Jan-76 00:00:00 GMT", 3345062400}, /* 2076: 49.4 years on */
        {JUN_2026, "Monday, 01-Jun-76 00:00:00 GMT", 3358195200},    /* 2076: exactly 50 */
        {JUN_2026, "Monday, 01-Jun-76 00:00:01 GMT", 202435201},     /* 1976: 1 s beyond */
        {JUN_2026, "Tuesday, 01-Jan-77 00:00:00 GMT", 220924800},    /* 1977 */
        {JUN_2090, "Friday, 01-Jan-10 00:00:00 GMT", 4417977600},    /* 2110, not 2010 */
        {JUN_2090, "Saturday, 01-Jan-40 00:00:00 GMT", 5364662400},  /* 2140: 49.4 years on */
        {JUN_2090, "Sunday, 01-Jan-41 00:00:00 GMT", 2240611200},    /* 2041 */
        {JUN_2090, "Thursday, 01-Jun-90 00:00:00 GMT", JUN_2090},    /* now */
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        time_t t = 0;
        int status = http_parse_date(rows[i].date, strlen(rows[i].date), (time_t)rows[i].now, &t);
        if (status != 0 || (long long)t != rows[i].expected) {
            print_error("%s (now %lld): %d, %lld, expected %lld\n", rows[i].date, rows[i].now,
                        status, (long long)t, rows[i].expected);
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

static void test_mime_types(void **state)
{
    (void)state;
    static const struct {
        const char *path, *type;
    } cases[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"a/b/page.HTM", "text/html; charset=utf-8"},
        {"style.css", "text/css; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"data.json", "application/json"},
        {"notes.txt", "text/plain; charset=utf-8"},
        {"logo.svg", "image/svg+xml"},
        {"photo.JPG", "image/jpeg"},
        {"photo.jpeg", "image/jpeg"},
        {"anim.gif", "image/gif"},
        {"icon.png", "image/png"},
        {"doc.pdf", "application/pdf"},
        {"module.wasm", "application/wasm"},
        {"archive.tar.gz", "application/gzip"},
        {"Makefile", "application/octet-stream"},
        {"dir.d/README", "application/octet-stream"},
        {"trailing.", "application/octet-stream"},
        {".html", "text/html; charset=utf-8"},
        {"file.unknownext", "application/octet-stream"},
        {"file.htmlx", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(http_mime_type(cases[i].path), cases[i].type) != 0) {
            print_error("%s: %s, expected %s\n", cases[i].path, http_mime_type(cases[i].path),
                        cases[i].type);
            fail();
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_file),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_connection_field),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_inline_or_sendfile),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_path_limit),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_respond_error),
        cmocka_unit_test(test_lab_bytes),
        cmocka_unit_test(test_lab_sleep_and_cpu),
        cmocka_unit_test(test_no_lab),
        cmocka_unit_test(test_lab_crash),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_rfc850_years),
        cmocka_unit_test(test_dotfiles),
        cmocka_unit_test(test_keepalive_requests),
        cmocka_unit_test(test_lab_cpu_budget),
        cmocka_unit_test(test_lab_peers),
        cmocka_unit_test(test_mime_types),
        cmocka_unit_test(test_cached_answer),
    };
    return cmocka_run_group_tests_name("http_response", tests, root_setup, root_teardown);
}
