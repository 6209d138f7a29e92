/* libFuzzer target: path normalisation.
 *
 * Properties: on success the result is relative (no leading '/'), contains no
 * "." or ".." segment and no NUL before its end, and normalising it again (as
 * "/" + result) gives the same result — so no input reaches above the root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[HTTP_PATH_MAX], again[HTTP_PATH_MAX], slash[HTTP_PATH_MAX + 1];
    if (http_path_normalize((const char *)data, size, out, sizeof out) != 0)
        return 0;
    size_t length = strlen(out);
    if (length == 0 || out[0] == '/')
        abort();
    if (strcmp(out, ".") != 0) {
        for (const char *segment = out; segment != NULL;) {
            const char *end = strchr(segment, '/');
            size_t n = end ? (size_t)(end - segment) : strlen(segment);
            if (n == 0 || (n == 1 && segment[0] == '.') ||
                (n == 2 && segment[0] == '.' && segment[1] == '.'))
                abort();
            segment = end ? end + 1 : NULL;
        }
    }
    /* Percent signs in the result are literal now: re-encoding is not the
     * question here, so only check inputs whose result has none. */
    if (strchr(out, '%') == NULL && length + 1 < sizeof slash) {
        slash[0] = '/';
        memcpy(slash + 1, out, length + 1);
        if (http_path_normalize(slash, length + 1, again, sizeof again) != 0 ||
            strcmp(again, strcmp(out, ".") == 0 ? "." : out) != 0)
            abort();
    }
    return 0;
}
