/* http_response — see http_response.h. Everything a response needs is built into
 * the caller's out[] buffer, so headers and a small body leave in one write. */
#include "http_response.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "file_cache.h"
#include "http_path.h"
#include "net.h"
#include "options.h"

/* /lab/bytes content: 64-byte lines, repeated; a literal, so nothing runs at start-up. */
#define LINE64    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
#define TIMES4(s) s s s s
const char http_pattern[65536] = TIMES4(TIMES4(TIMES4(TIMES4(TIMES4(LINE64)))));

enum {
    LAB_BYTES_MAX = 64 << 20, /* (docs/design.md#lab-endpoints) */
    LAB_SLEEP_MAX_MS = 10000,
    LAB_CPU_MAX_US = 1000000,
};

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static const struct {
    const char *extension;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
};

const char *http_mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].extension) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}

void http_format_date(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Each thread keeps its own copy, so no lock is needed and the string is
 * formatted at most once a second per thread. */
const char *http_date_now(void)
{
    static _Thread_local time_t formatted_at = -1;
    static _Thread_local char text[40];
    time_t now = time(NULL);
    if (now != formatted_at) {
        http_format_date(now, text, sizeof text);
        formatted_at = now;
    }
    return text;
}

/* DOC: rfc850-year
 * RFC 9110 §5.6.7: a two-digit year "that appears to be more than 50 years in
 * the future" is the most recent past year with those digits. So the year is
 * the latest one ending in those digits whose date is at most 50 years after
 * now: 70 read in 2026 is 2070, 77 is 1977. */
static time_t rfc850_time(struct tm *tm, time_t now)
{
    struct tm limit;
    gmtime_r(&now, &limit);
    limit.tm_year += 50;
    time_t latest = timegm(&limit);
    int limit_year = limit.tm_year + 1900, digits = (tm->tm_year + 1900) % 100;
    tm->tm_year = limit_year - (limit_year - digits) % 100 - 1900; /* the latest year not after */
    time_t t = timegm(tm);
    if (t > latest) { /* the same year as the limit, but later in it */
        tm->tm_year -= 100;
        t = timegm(tm);
    }
    return t;
}

int http_parse_date(const char *text, size_t length, time_t now, time_t *t)
{
    /* IMF-fixdate, RFC 850 and asctime (RFC 9110 §5.6.7). */
    enum { RFC850 = 1 };
    static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                          "%a %b %e %H:%M:%S %Y"};
    char copy[64];
    if (length == 0 || length >= sizeof copy)
        return -1;
    memcpy(copy, text, length);
    copy[length] = '\0';
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm = {0};
        const char *end = strptime(copy, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            *t = i == RFC850 ? rfc850_time(&tm, now) : timegm(&tm);
            return 0;
        }
    }
    return -1;
}

/* Append text at *length; false if it did not fit (as snprintf's rule: a
 * byte is always left for a '\0'). The heads of the common answers are built
 * with put and put_number, not snprintf: a printf call touches about a
 * kilobyte of stack, and a coroutine resumed after many others finds its
 * stack out of the cache (docs/coroutine.md, "What it costs"). */
static bool put(char *out, size_t size, size_t *length, const char *text)
{
    size_t n = strlen(text);
    if (n >= size - *length)
        return false;
    memcpy(out + *length, text, n);
    *length += n;
    return true;
}

static bool put_number(char *out, size_t size, size_t *length, unsigned long long value)
{
    char digits[24];
    size_t first = sizeof digits - 1;
    digits[first] = '\0';
    do {
        digits[--first] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return put(out, size, length, digits + first);
}

/* The status line and the fields every response has. Returns the length, or 0
 * if it did not fit (the caller answers 500 instead). */
static size_t start_head(char *out, size_t size, int status, bool keep_alive,
                         bool http10_keep_alive)
{
    size_t length = 0;
    bool fits = put(out, size, &length, "HTTP/1.1 ") &&
                put_number(out, size, &length, (unsigned)status) && put(out, size, &length, " ") &&
                put(out, size, &length, http_reason(status)) &&
                put(out, size, &length, "\r\nServer: seven-servers/") &&
                put(out, size, &length, server_version) && put(out, size, &length, "\r\nDate: ") &&
                put(out, size, &length, http_date_now()) &&
                put(out, size, &length,
                    !keep_alive         ? "\r\nConnection: close\r\n"
                    : http10_keep_alive ? "\r\nConnection: keep-alive\r\n"
                                        : "\r\n");
    return fits ? length : 0;
}

/* Append printf-style text at *length; false if it did not fit. */
static bool append(char *out, size_t size, size_t *length, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static bool append(char *out, size_t size, size_t *length, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(out + *length, size - *length, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= size - *length)
        return false;
    *length += (size_t)n;
    return true;
}

/* What ends a small text answer after its status line and its own fields:
 * Content-Type, Content-Length, the blank line and, unless head_only, the body
 * (HEAD gets the length a GET would). */
static bool put_text_body(char *out, size_t size, size_t *length, const char *body, bool head_only)
{
    return put(out, size, length, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ") &&
           put_number(out, size, length, strlen(body)) && put(out, size, length, "\r\n\r\n") &&
           (head_only || put(out, size, length, body));
}

/* A head with a small text body, e.g. an error page or a lab answer.
 * extra: further fields ("Allow: GET, HEAD\r\n") or "". */
static void respond_text(int status, bool keep_alive, bool http10, bool head_only,
                         const char *extra, const char *body, char *out, size_t size,
                         struct http_response *response)
{
    size_t length = start_head(out, size, status, keep_alive, http10 && keep_alive);
    if (length == 0 || !put(out, size, &length, extra) ||
        !put_text_body(out, size, &length, body, head_only))
        length = 0; /* cannot happen with our sizes; send nothing */
    response->status = status;
    response->head_length = length;
    response->close_after = !keep_alive;
}

static void response_init(struct http_response *response)
{
    memset(response, 0, sizeof *response);
    response->file_fd = -1;
}

void http_respond_error(int status, bool close_after, char *out, size_t size,
                        struct http_response *response)
{
    char body[64];
    snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
    response_init(response);
    respond_text(status, !close_after, false, false, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                 body, out, size, response);
}

/* An error page for a parsed request: HEAD gets the head alone. */
static void respond_status(const struct http_request *request, int status, bool keep_alive,
                           char *out, size_t size, struct http_response *response)
{
    char body[64];
    snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
    response_init(response);
    respond_text(status, keep_alive, request->version_minor == 0, request->method == HTTP_HEAD,
                 status == 405 ? "Allow: GET, HEAD\r\n" : "", body, out, size, response);
}

void http_response_done(struct http_response *response)
{
    if (response->file_fd >= 0)
        close(response->file_fd);
    response->file_fd = -1;
}

/* Parse the decimal number that ends the path after prefix; -1 if it is not one
 * or exceeds max. */
static long lab_number(struct http_text path, size_t prefix_length, long max)
{
    size_t digits = path.length - prefix_length;
    if (digits == 0 || digits > 9)
        return -1;
    long n = 0;
    for (size_t i = prefix_length; i < path.length; i++) {
        if (path.start[i] < '0' || path.start[i] > '9')
            return -1;
        n = n * 10 + (path.start[i] - '0');
    }
    return n <= max ? n : -1;
}

static bool has_prefix(struct http_text path, const char *prefix)
{
    size_t n = strlen(prefix);
    return path.length >= n && memcmp(path.start, prefix, n) == 0;
}

static void spin_microseconds(long microseconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000 <
           microseconds);
}

void http_session_start(struct http_session *session, int fd)
{
    *session = (struct http_session){.fd = fd, .peer_loopback = fd < 0 ? 1 : -1};
}

static bool peer_is_loopback(struct http_session *session)
{
    if (session->peer_loopback < 0)
        session->peer_loopback = net_peer_is_loopback(session->fd);
    return session->peer_loopback == 1;
}

bool http_lab_lets_in(const struct http_site *site, struct http_session *session,
                      const struct http_request *request)
{
    if (!has_prefix(request->path, "/lab/"))
        return true;
    return site->options->lab && (site->options->lab_public || peer_is_loopback(session));
}

/* DOC: lab-forwarded
 * /lab/ trusts the TCP peer's address: behind a reverse proxy on this host
 * every visitor is loopback. A forwarding field on a /lab/ request let in as
 * loopback is the sign of one: say so once per process, on stderr, rather
 * than once per request (docs/design.md#lab-endpoints). */
static void warn_if_forwarded(const struct http_request *request)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT; /* threads of one process share it */
    if (request->forwarded && !atomic_flag_test_and_set(&warned))
        fprintf(stderr,
                "%s: warning: a /lab/ request from a loopback peer carries a forwarding "
                "field (Forwarded, X-Forwarded-For or X-Real-IP): /lab/ trusts the TCP peer's "
                "address, so behind a proxy on this host every client counts as loopback\n",
                program_invocation_short_name);
}

/* DOC: lab-endpoints
 * The lab endpoints. Returns false if path is not one of them. They answer
 * loopback clients only unless --lab-public: they spend the server's CPU and
 * time on request. */
static bool respond_lab(const struct http_site *site, struct http_session *session,
                        const struct http_request *request, bool keep_alive, char *out, size_t size,
                        struct http_response *response)
{
    bool head_only = request->method == HTTP_HEAD, http10 = request->version_minor == 0;
    char body[96];
    long n;
    if (!http_lab_lets_in(site, session, request)) {
        respond_text(403, keep_alive, http10, head_only, "",
                     "403 Forbidden: /lab/ answers loopback clients only (--lab-public)\n", out,
                     size, response);
        return true;
    }
    if (!site->options->lab_public)
        warn_if_forwarded(request);
    if (has_prefix(request->path, "/lab/bytes/")) {
        if ((n = lab_number(request->path, 11, LAB_BYTES_MAX)) < 0)
            goto bad;
        size_t length = start_head(out, size, 200, keep_alive, http10 && keep_alive);
        if (length == 0 || !append(out, size, &length,
                                   "Content-Type: application/octet-stream\r\n"
                                   "Content-Length: %ld\r\n\r\n",
                                   n))
            goto bad;
        response->status = 200;
        response->close_after = !keep_alive;
        if (!head_only && (size_t)n <= size - length) {
            memcpy(out + length, http_pattern, (size_t)n); /* small: one write */
            length += (size_t)n;
        } else if (!head_only) {
            response->generated_length = (uint64_t)n;
        }
        response->head_length = length;
        return true;
    }
    if (has_prefix(request->path, "/lab/sleep/")) {
        if ((n = lab_number(request->path, 11, LAB_SLEEP_MAX_MS)) < 0)
            goto bad;
        snprintf(body, sizeof body, "slept %ld ms\n", n);
        respond_text(200, keep_alive, http10, head_only, "", body, out, size, response);
        response->delay_ms = (int)n; /* the caller waits: blocking or by a timer */
        return true;
    }
    if (has_prefix(request->path, "/lab/cpu/")) {
        if ((n = lab_number(request->path, 9, LAB_CPU_MAX_US)) < 0)
            goto bad;
        if (session->lab_cpu_us + n > HTTP_LAB_CPU_BUDGET_US) {
            /* A connection pipelining spins would hold a loop for as long as it likes. */
            snprintf(body, sizeof body,
                     "503 Service Unavailable: this connection has spent its %d s of /lab/cpu\n",
                     HTTP_LAB_CPU_BUDGET_US / 1000000);
            respond_text(503, false, http10, head_only, "", body, out, size, response);
            return true;
        }
        session->lab_cpu_us += n;
        spin_microseconds(n); /* CPU-bound work: it holds whoever runs it */
        snprintf(body, sizeof body, "spun %ld us\n", n);
        respond_text(200, keep_alive, http10, head_only, "", body, out, size, response);
        return true;
    }
    if (site->options->lab_crash && http_text_equals(request->path, "/lab/crash")) {
        /* A handler fault, for the isolation lab: a real invalid access. */
        volatile int *nowhere = NULL;
        *nowhere = 1;
    }
    return false;
bad:
    respond_status(request, 400, keep_alive, out, size, response);
    return true;
}

/* Append a normalised relative path (no dot or empty segments; "." is the
 * root) as the URL path "/relative/": a byte a path segment may hold as it is
 * stays (RFC 3986 §3.3), every other one is percent-encoded, so neither a '%',
 * '?', '#' or '\\' nor a byte above 0x7e changes what the URL means. */
static bool put_directory_url(char *out, size_t size, size_t *length, const char *relative)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!put(out, size, length, "/"))
        return false;
    if (strcmp(relative, ".") == 0)
        return true;
    for (const unsigned char *p = (const unsigned char *)relative; *p != '\0'; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~!$&'()*+,;=:@/", *p) != NULL;
        char text[4] = {(char)*p, '\0', '\0', '\0'};
        if (!plain) {
            text[0] = '%';
            text[1] = hex[*p >> 4];
            text[2] = hex[*p & 15];
        }
        if (!put(out, size, length, text))
            return false;
    }
    return put(out, size, length, "/");
}

/* DOC: redirect
 * A directory asked for without its slash: 301 to its normalised path plus
 * '/'. Built from the path as normalised, never from the target as sent:
 * "GET //evil.example" echoed back would be "Location: //evil.example/", which a
 * browser reads as another host (docs/design.md#static-files). The longest
 * Location, 4096 bytes each encoded in three, fits in out[] beside the head. */
static void respond_redirect(const struct http_request *request, const char *relative,
                             bool keep_alive, char *out, size_t size,
                             struct http_response *response)
{
    size_t length =
        start_head(out, size, 301, keep_alive, request->version_minor == 0 && keep_alive);
    if (length == 0 || !put(out, size, &length, "Location: ") ||
        !put_directory_url(out, size, &length, relative) || !put(out, size, &length, "\r\n") ||
        !put_text_body(out, size, &length, "301 Moved Permanently\n",
                       request->method == HTTP_HEAD)) {
        respond_status(request, 500, false, out, size, response);
        return;
    }
    response->status = 301;
    response->head_length = length;
    response->close_after = !keep_alive;
}

/* DOC: conditional
 * Whether a GET or HEAD for a file of this mtime gets 304. If-None-Match, when
 * sent, decides alone and If-Modified-Since is ignored (RFC 9110 §13.1.3). We
 * send no entity-tags, so of its members only "*" (any current file) matches
 * (§13.1.2). Otherwise If-Modified-Since (one valid date: two fields are
 * ignored by the parser) at or after the file's time. */
static bool unchanged_since_asked(const struct http_request *request, time_t mtime)
{
    time_t since;
    if (request->if_none_match)
        return request->if_none_match_any;
    return request->if_modified_since.length > 0 &&
           http_parse_date(request->if_modified_since.start, request->if_modified_since.length,
                           time(NULL), &since) == 0 &&
           mtime <= since;
}

/* DOC: respond-file
 * Hidden files (a segment starting with '.') answer 404 unless --dotfiles, as
 * if absent: a root that holds .git or .env must not hand them out.
 * A small file comes from the one-second cache when it can (file_cache.h):
 * the head is built from the cached facts and the body copied right behind it.
 * Only if another thread replaced the entry in between is the file opened. */
static void respond_file(const struct http_site *site, const struct http_request *request,
                         bool keep_alive, bool use_cache, char *out, size_t size,
                         struct http_response *response)
{
    char relative[HTTP_PATH_MAX + 1]; /* decoding never lengthens: the limit's path fits */
    struct file_cache_meta file;
    int file_fd = -1;
    const struct http_text path = request->path;
    bool trailing_slash = path.length > 0 && path.start[path.length - 1] == '/';
    bool from_cache = false;
    /* The path limit is on the path as sent (docs/design.md#static-files). */
    int status = path.length > HTTP_PATH_MAX
                     ? 414
                     : http_path_normalize(path.start, path.length, relative, sizeof relative);
    if (status == 0 && !site->options->dotfiles && http_path_hidden(relative))
        status = 404;
    if (status == 0 && use_cache)
        from_cache = file_cache_get(relative, trailing_slash, &file);
    if (status == 0 && !from_cache) {
        struct stat info;
        status = http_path_open(site->root_fd, relative, trailing_slash, &file_fd, &info,
                                &file.is_index);
        if (status == 0) { /* info is only filled in on success */
            file.size = (size_t)info.st_size;
            file.mtime = info.st_mtime;
            http_format_date(file.mtime, file.last_modified, sizeof file.last_modified);
        }
    }
    if (status == 301) {
        respond_redirect(request, relative, keep_alive, out, size, response);
        return;
    }
    if (status != 0) {
        respond_status(request, status, keep_alive, out, size, response);
        return;
    }

    bool not_modified = unchanged_since_asked(request, file.mtime);
    int code = not_modified ? 304 : 200;
    size_t length =
        start_head(out, size, code, keep_alive, request->version_minor == 0 && keep_alive);
    bool fits = length > 0;
    if (fits && !not_modified)
        fits = put(out, size, &length, "Content-Type: ") &&
               put(out, size, &length, http_mime_type(file.is_index ? "index.html" : relative)) &&
               put(out, size, &length, "\r\nContent-Length: ") &&
               put_number(out, size, &length, file.size) && put(out, size, &length, "\r\n");
    if (fits)
        fits = put(out, size, &length, "Last-Modified: ") &&
               put(out, size, &length, file.last_modified) && put(out, size, &length, "\r\n\r\n");
    if (!fits) {
        if (file_fd >= 0)
            close(file_fd);
        respond_status(request, 500, false, out, size, response);
        return;
    }
    response->status = code;
    response->close_after = !keep_alive;
    if (not_modified || request->method == HTTP_HEAD || file.size == 0) {
        if (file_fd >= 0)
            close(file_fd);
    } else if (from_cache) {
        if (!file_cache_copy_body(relative, trailing_slash, &file, out + length, size - length)) {
            respond_file(site, request, keep_alive, false, out, size, response);
            return; /* replaced meanwhile: open it after all */
        }
        length += file.size;
    } else if (file.size <= HTTP_INLINE_BODY_MAX && file.size <= size - length) {
        /* Small file: into the same buffer, so head and body leave in one write. */
        ssize_t n = pread(file_fd, out + length, file.size, 0);
        close(file_fd);
        if (n != (ssize_t)file.size) {
            respond_status(request, 500, false, out, size, response);
            return;
        }
        file_cache_put(relative, trailing_slash, &file, out + length, HTTP_INLINE_BODY_MAX);
        length += file.size;
    } else {
        response->file_fd = file_fd; /* the caller sends it with sendfile */
        response->file_length = file.size;
    }
    response->head_length = length;
}

bool http_session_count(const struct http_site *site, struct http_session *session, bool keep_alive)
{
    return ++session->requests < site->options->keepalive_requests && keep_alive;
}

/* DOC: respond
 * The N-th request of a connection (--keepalive-requests) is its last: its
 * answer says Connection: close. */
void http_respond(const struct http_site *site, struct http_session *session,
                  const struct http_request *request, bool keep_alive, char *out, size_t size,
                  struct http_response *response)
{
    response_init(response);
    keep_alive = http_session_count(site, session, keep_alive);
    if (request->method == HTTP_UNKNOWN)
        respond_status(request, 501, keep_alive, out, size, response);
    else if (request->method == HTTP_OTHER_KNOWN)
        respond_status(request, 405, keep_alive, out, size, response);
    else if (site->options->lab && has_prefix(request->path, "/lab/") &&
             respond_lab(site, session, request, keep_alive, out, size, response))
        return;
    else
        respond_file(site, request, keep_alive, true, out, size, response);
}
