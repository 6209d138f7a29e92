/* http_path — turn a request path into a file under the root, or refuse.
 *
 * Two steps. http_path_normalize() percent-decodes and removes dot segments,
 * refusing NUL, encoded slashes and anything that climbs above the root.
 * http_path_open() opens the result relative to the root with openat2's
 * RESOLVE_BENEATH, so the kernel refuses symlinks that lead outside; where
 * openat2 is missing, a walk one component at a time keeps the same rules. */
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

/* The two ways to open a path beneath a directory, with the same rules
 * (docs/design.md#static-files): nothing outside it, through ".." or a
 * symlink; an absolute path or symlink refused, wherever it points. */
enum http_path_resolver {
    HTTP_PATH_OPENAT2, /* the kernel's openat2(RESOLVE_BENEATH): Linux 5.6 */
    HTTP_PATH_WALK,    /* openat(O_NOFOLLOW) one component at a time, links read */
};

/* Choose the resolver http_path_open uses, once, at start-up before any
 * worker process or thread exists: openat2 is tried beneath root_fd, and where
 * it fails with ENOSYS (a kernel before 5.6, valgrind 3.19), EPERM (a seccomp
 * filter) or EINVAL (flags the kernel does not know), the walk is used.
 * Returns NULL, or the reason for the walk ("openat2: Function not
 * implemented"), which the caller says on stderr. */
const char *http_path_choose_resolver(int root_fd);

/* Open path beneath dir_fd for reading with the given resolver (the unit tests
 * hold both to one table). The descriptor, or -1 with errno: EXDEV when the
 * path leads outside or is absolute, ELOOP for too many links. */
int http_path_open_beneath(int dir_fd, const char *path, enum http_path_resolver resolver);

/* Open relative under root_fd for reading; a directory means its index.html
 * (*is_index then says so). Returns 0 with *file_fd and *info set, or the
 * status: 301 (a directory named without its trailing slash), 403, 404. */
int http_path_open(int root_fd, const char *relative, bool trailing_slash, int *file_fd,
                   struct stat *info, bool *is_index);

#endif
