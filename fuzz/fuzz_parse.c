/* libFuzzer target: the request parser and the body reader.
 *
 * Properties checked on every input, beyond "no crash, no out-of-bounds read"
 * (ASan) and "no undefined behaviour" (UBSan):
 *   - COMPLETE: head_length is within the input, and every field slice lies
 *     inside the input;
 *   - ERROR: the status is one the contract names;
 *   - the answer for the whole input is the same whether or not the input is
 *     followed by more bytes, once the head is complete (the parser must not
 *     look past the head it reports). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_request request;
    enum http_parse_result result = http_parse_request((const char *)data, size, &request);
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
        if (http_parse_request((const char *)data, request.head_length, &again) !=
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
        case 400: case 413: case 414: case 431: case 501: case 505: break;
        default: abort();
        }
    }
    return 0;
}
