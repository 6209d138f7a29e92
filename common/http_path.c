/* http_path — see http_path.h. Two independent fences: the lexical one here
 * (no "..", no encoded '/', no NUL) and the kernel's (RESOLVE_BENEATH), so a
 * symlink inside the root cannot lead outside it. */
#include "http_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
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

/* openat2 with RESOLVE_BENEATH: the kernel refuses any resolution, ".." or
 * symlink, that leaves dir_fd. O_NONBLOCK so a FIFO cannot block us in open. */
static int open_beneath(int dir_fd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
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
