/* libFuzzer target: the request parser and the body reader.
 *
 * Properties checked on every input, beyond "no crash, no out-of-bounds read"
 * (ASan) and "no undefined behaviour" (UBSan):
 *   - COMPLETE: head_length is within the input, and every field slice lies
 *     inside the input;
 *   - ERROR: the status is one the contract names;
 *   - the answer for the whole input is the same whether or not the input is
 *     followed by more bytes, once the head is complete (the parser must not
 *     look past the head it reports);
 *   - fed in pieces (of 1 to 8 bytes, sizes taken from the input's own bytes),
 *     each call passing as scanned the length of the last NEED_MORE (and each
 *     NEED_MORE asked again with nothing new: NEED_MORE again), the first
 *     answer that is not NEED_MORE is the one parsing that prefix from scratch
 *     gives, and an ERROR is the ERROR of the whole input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static void check_slice(struct http_text t, const uint8_t *data, size_t size)
{
    if (t.length == 0)
        return;
    const char *begin = (const char *)data, *end = begin + size;
    if (t.start < begin || t.start + t.length > end)
        abort();
}

/* Feed data in pieces, resuming; check the first answer that is not NEED_MORE
 * against a parse from scratch of the same prefix, and an ERROR against the
 * answer for the whole input. */
static void check_resumed(const uint8_t *data, size_t size, enum http_parse_result whole,
                          const struct http_request *whole_request)
{
    const char *buf = (const char *)data;
    struct http_request resumed, scratch;
    size_t scanned = 0;
    for (size_t k = 0; k < size;) {
        k += 1 + data[k] % 8;
        if (k > size)
            k = size;
        enum http_parse_result result = http_parse_request(buf, k, scanned, &resumed);
        if (result == HTTP_PARSE_NEED_MORE) {
            scanned = k;
            if (http_parse_request(buf, k, scanned, &resumed) != HTTP_PARSE_NEED_MORE)
                abort(); /* the same bytes again */
            continue;
        }
        if (http_parse_request(buf, k, 0, &scratch) != result)
            abort();
        if (result == HTTP_PARSE_ERROR &&
            (resumed.error_status != scratch.error_status || whole != HTTP_PARSE_ERROR ||
             resumed.error_status != whole_request->error_status))
            abort();
        if (result == HTTP_PARSE_COMPLETE &&
            (resumed.head_length != scratch.head_length || resumed.method != scratch.method ||
             resumed.target.start != scratch.target.start ||
             resumed.target.length != scratch.target.length ||
             resumed.host.length != scratch.host.length ||
             resumed.keep_alive != scratch.keep_alive || resumed.body != scratch.body))
            abort();
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_request request;
    enum http_parse_result result = http_parse_request((const char *)data, size, 0, &request);
    check_resumed(data, size, result, &request);
    if (result == HTTP_PARSE_COMPLETE) {
        if (request.head_length == 0 || request.head_length > size)
            abort();
        check_slice(request.method_name, data, size);
        check_slice(request.target, data, size);
        /* An absolute-form target without a path gets the constant "/". */
        if (!(request.path.length == 1 && request.path.start[0] == '/'))
            check_slice(request.path, data, size);
        check_slice(request.query, data, size);
        check_slice(request.host, data, size);
        check_slice(request.if_modified_since, data, size);
        /* The same head, cut exactly at its end, must parse the same way. */
        struct http_request again;
        if (http_parse_request((const char *)data, request.head_length, 0, &again) !=
                HTTP_PARSE_COMPLETE ||
            again.head_length != request.head_length)
            abort();
        /* Feed the rest to the body reader, in two pieces. */
        struct http_body_reader body;
        http_body_start(&body, &request, 1 << 20);
        size_t rest = size - request.head_length, half = rest / 2, used;
        const char *p = (const char *)data + request.head_length;
        enum http_body_result r = http_body_discard(&body, p, half, &used);
        if (used > half)
            abort();
        if (r == HTTP_BODY_MORE && used == half) {
            http_body_discard(&body, p + half, rest - half, &used);
            if (used > rest - half)
                abort();
        }
    } else if (result == HTTP_PARSE_ERROR) {
        switch (request.error_status) {
        case 400:
        case 413:
        case 414:
        case 417:
        case 431:
        case 501:
        case 505: break;
        default: abort();
        }
    }
    return 0;
}
