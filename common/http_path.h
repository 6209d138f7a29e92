/* http_path — turn a request path into a file under the root, or refuse.
 *
 * Two steps. http_path_normalize() percent-decodes and removes dot segments,
 * refusing NUL, encoded slashes and anything that climbs above the root.
 * http_path_open() opens the result relative to the root with openat2's
 * RESOLVE_BENEATH, so the kernel refuses symlinks that lead outside. */
#ifndef HTTP_PATH_H
#define HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

enum { HTTP_PATH_MAX = 4096 };

/* Decode encoded[0, length) (starts with '/') into out as a relative path
 * ("." for the root) with no dot segments. Returns 0, or the status to answer:
 * 400 (bad escape, NUL, encoded '/'), 403 (above the root), 414 (too long). */
int http_path_normalize(const char *encoded, size_t length, char *out, size_t size);

/* Whether a normalized path names a hidden file: a segment that starts with
 * '.' (".env", ".git/config"), except a first segment ".well-known"
 * (docs/design.md#dot-files). */
bool http_path_hidden(const char *relative);

/* Open relative under root_fd for reading; a directory means its index.html
 * (*is_index then says so). Returns 0 with *file_fd and *info set, or the
 * status: 301 (a directory named without its trailing slash), 403, 404. */
int http_path_open(int root_fd, const char *relative, bool trailing_slash, int *file_fd,
                   struct stat *info, bool *is_index);

#endif
