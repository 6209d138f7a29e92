/* http_path — see http_path.h. Two independent fences: the lexical one here
 * (no "..", no encoded '/', no NUL) and the kernel's (RESOLVE_BENEATH, or the
 * walk that does its work where openat2 is missing), so a symlink inside the
 * root cannot lead outside it. */
#include "http_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* DOC: path-normalize */
int http_path_normalize(const char *encoded, size_t length, char *out, size_t size)
{
    size_t used = 0; /* out[0, used) is "/seg/seg...", built as we go */
    size_t i = 0;
    if (size < 2)
        return 414;
    while (i < length) {
        while (i < length && encoded[i] == '/')
            i++;
        if (i == length)
            break;
        size_t segment = used; /* where this segment's '/' goes */
        if (used + 1 >= size)
            return 414;
        out[used++] = '/';
        for (; i < length && encoded[i] != '/'; i++) {
            char c = encoded[i];
            if (c == '\0')
                return 400; /* the parser never passes one; refuse it anyway */
            if (c == '%') {
                int high = i + 2 < length ? hex_digit(encoded[i + 1]) : -1;
                int low = i + 2 < length ? hex_digit(encoded[i + 2]) : -1;
                if (high < 0 || low < 0)
                    return 400;
                c = (char)(high * 16 + low);
                i += 2;
                if (c == '\0' || c == '/')
                    return 400; /* NUL ends a C string; %2F would hide a separator */
            }
            if (used + 1 >= size)
                return 414;
            out[used++] = c;
        }
        size_t name_length = used - segment - 1;
        const char *name = out + segment + 1;
        if (name_length == 1 && name[0] == '.') {
            used = segment; /* "." : stay */
        } else if (name_length == 2 && name[0] == '.' && name[1] == '.') {
            if (segment == 0)
                return 403;     /* ".." above the root */
            used = segment - 1; /* drop the previous segment */
            while (used > 0 && out[used] != '/')
                used--;
        }
    }
    if (used == 0) {
        out[0] = '.';
        out[1] = '\0';
        return 0;
    }
    memmove(out, out + 1, used - 1); /* relative: no leading '/' */
    out[used - 1] = '\0';
    return 0;
}

/* DOC: path-hidden
 * normalize has removed "." and "..", so any segment left that starts with
 * '.' is a dot-file or a dot-directory, however the request spelled it. */
bool http_path_hidden(const char *relative)
{
    static const char well_known[] = ".well-known";
    size_t skip = sizeof well_known - 1;
    if (strncmp(relative, well_known, skip) == 0 &&
        (relative[skip] == '/' || relative[skip] == '\0'))
        relative += skip;
    else if (relative[0] == '.' && relative[1] != '\0')
        return true; /* "." alone is the root */
    for (const char *slash = strchr(relative, '/'); slash != NULL; slash = strchr(slash + 1, '/'))
        if (slash[1] == '.')
            return true;
    return false;
}

static int status_for_errno(int error)
{
    switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return 404;
    case EMFILE:
    case ENFILE:
    case ENOMEM: return 503;
    default: /* EXDEV (outside the root), ELOOP, EACCES, ... */ return 403;
    }
}

/* ---- opening beneath the root ------------------------------------------------ */

enum { LINKS_MAX = 40 }; /* symlinks one walk may follow: the kernel's MAXSYMLINKS */

/* How a file is opened for a request: O_NONBLOCK so that a FIFO cannot block
 * us in open, O_NOCTTY so that a terminal never becomes ours. */
static const int FILE_FLAGS = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

/* Chosen once at start-up (http_path_choose_resolver), before any worker
 * process or thread exists; read-only afterwards. */
static enum http_path_resolver chosen = HTTP_PATH_OPENAT2;

/* openat2 with RESOLVE_BENEATH: the kernel refuses any resolution, ".." or
 * symlink, that leaves dir_fd (EXDEV), and an absolute path or link at once. */
static int open_openat2(int dir_fd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
}

/* out = first[0, first_length) + rest, through a copy: rest may lie in out. */
static bool join(char *out, const char *first, size_t first_length, const char *rest)
{
    char joined[HTTP_PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%.*s%s", (int)first_length, first, rest);
    if (n < 0 || (size_t)n >= sizeof joined)
        return false;
    memcpy(out, joined, (size_t)n + 1);
    return true;
}

/* DOC: path-walk
 * What RESOLVE_BENEATH saves a server from writing, for kernels (and sandboxes,
 * and valgrind) without openat2. The kernel is never asked to follow a symlink:
 * every directory is opened with O_NOFOLLOW, one component at a time, and a
 * link found on the way is read (readlinkat) and its target put in front of
 * what is left, to be walked by the same rules. So:
 *   - an absolute path or link is refused (EXDEV), as RESOLVE_BENEATH does;
 *   - ".." is never resolved by the file system: it drops the last directory
 *     of the path walked so far and starts again from dir_fd, so it cannot climb
 *     out through a directory moved away meanwhile; above dir_fd it is EXDEV;
 *   - more than LINKS_MAX links is ELOOP, a name too long ENAMETOOLONG;
 *   - the kernel's magic links (/proc/PID/fd/N) are never followed: no link is.
 * Returns the descriptor, or -1 with errno as openat2 would set it. */
static int open_walk(int dir_fd, const char *path, int flags)
{
    char pending[HTTP_PATH_MAX]; /* what is still to resolve */
    char walked[HTTP_PATH_MAX];  /* directories opened below dir_fd: "a/b/" */
    char target[HTTP_PATH_MAX];  /* a link's contents */
    size_t walked_length = 0;
    int links = 0, fd = -1;
    if (path[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    if (!join(pending, "", 0, path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int here = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0); /* the directory we are in: ours */
    if (here < 0)
        return -1;
    char *next = pending;
    for (;;) {
        next += strspn(next, "/");
        if (*next == '\0') { /* nothing left: the directory we are in */
            fd = openat(here, ".", flags);
            break;
        }
        char *name = next;
        next += strcspn(next, "/");
        bool last = next[strspn(next, "/")] == '\0';
        if (*next != '\0')
            *next++ = '\0';
        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            if (walked_length == 0) {
                errno = EXDEV; /* above dir_fd */
                break;
            }
            walked_length--; /* its '/' */
            while (walked_length > 0 && walked[walked_length - 1] != '/')
                walked_length--;
            if (!join(pending, walked, walked_length, next)) {
                errno = ENAMETOOLONG;
                break;
            }
            next = pending;
            walked_length = 0;
            int top = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
            if (top < 0)
                break;
            close(here);
            here = top;
            continue;
        }
        /* A directory on the way needs only search permission: O_PATH. */
        int opened = last ? openat(here, name, flags | O_NOFOLLOW)
                          : openat(here, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (opened >= 0 && last) {
            fd = opened;
            break;
        }
        if (opened >= 0) {
            size_t length = strlen(name);
            if (walked_length + length + 1 >= sizeof walked) {
                close(opened);
                errno = ENAMETOOLONG;
                break;
            }
            memcpy(walked + walked_length, name, length);
            walked_length += length;
            walked[walked_length++] = '/';
            close(here);
            here = opened;
            continue;
        }
        /* O_NOFOLLOW refuses a link with ELOOP, or ENOTDIR where a directory
         * was asked for: is it one? */
        int open_error = errno;
        if (open_error != ELOOP && open_error != ENOTDIR)
            break;
        ssize_t n = readlinkat(here, name, target, sizeof target);
        if (n < 0) {
            errno = open_error; /* not a link: the open's own answer */
            break;
        }
        if ((size_t)n + 1 >= sizeof target) {
            errno = ENAMETOOLONG;
            break;
        }
        target[n] = '/'; /* what is left goes after it */
        target[n + 1] = '\0';
        if (++links > LINKS_MAX) {
            errno = ELOOP;
            break;
        }
        if (n == 0 || target[0] == '/') {
            errno = n == 0 ? ENOENT : EXDEV; /* absolute: refused, whatever it names */
            break;
        }
        if (!join(pending, target, (size_t)n + 1, next)) {
            errno = ENAMETOOLONG;
            break;
        }
        next = pending;
    }
    int error = errno;
    close(here);
    errno = error;
    return fd;
}
const char *http_path_choose_resolver(int root_fd)
{
    static char reason[128];
    int fd = open_openat2(root_fd, ".", O_PATH | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        chosen = HTTP_PATH_OPENAT2;
        return NULL;
    }
    if (errno != ENOSYS && errno != EPERM && errno != EINVAL) {
        chosen = HTTP_PATH_OPENAT2; /* it is there; this failure is another story */
        return NULL;
    }
    snprintf(reason, sizeof reason, "openat2: %s", strerror(errno));
    chosen = HTTP_PATH_WALK;
    return reason;
}

int http_path_open_beneath(int dir_fd, const char *path, enum http_path_resolver resolver)
{
    if (resolver == HTTP_PATH_WALK)
        return open_walk(dir_fd, path, FILE_FLAGS);
    return open_openat2(dir_fd, path, FILE_FLAGS);
}

static int open_beneath(int dir_fd, const char *path)
{
    return http_path_open_beneath(dir_fd, path, chosen);
}

/* DOC: path-open */
int http_path_open(int root_fd, const char *relative, bool trailing_slash, int *file_fd,
                   struct stat *info, bool *is_index)
{
    *is_index = false;
    int fd = open_beneath(root_fd, relative);
    if (fd < 0)
        return status_for_errno(errno);
    if (fstat(fd, info) != 0)
        goto fail;
    if (!S_ISDIR(info->st_mode) && trailing_slash) {
        close(fd);
        return 404; /* "file.txt/" names a directory that is not there */
    }
    if (S_ISDIR(info->st_mode)) {
        if (!trailing_slash) {
            close(fd);
            return 301; /* so relative links in its index resolve */
        }
        int index_fd = open_beneath(fd, "index.html");
        int saved = errno;
        close(fd);
        if (index_fd < 0)
            return saved == ENOENT ? 403 : status_for_errno(saved); /* no listings */
        fd = index_fd;
        *is_index = true;
        if (fstat(fd, info) != 0)
            goto fail;
    }
    if (!S_ISREG(info->st_mode)) {
        close(fd);
        return 403; /* devices, FIFOs, sockets: never */
    }
    *file_fd = fd;
    return 0;
fail:;
    int status = status_for_errno(errno);
    close(fd);
    return status;
}
