/* file_cache — small files kept in memory for one second, so a keep-alive
 * request for one costs a read and a write instead of open, fstat, pread and
 * close as well (four of six system calls; `make bench` throughput and the
 * scoreboard show the difference, `--no-file-cache` turns it off to compare).
 *
 * The rule that keeps it honest: an entry is only ever made from a file that
 * http_path_open() opened safely under the root, and it is forgotten
 * FILE_CACHE_TTL_MS after that open. So a change to a file (new content, a
 * chmod, removal) shows within a second, exactly as the Date header is
 * formatted at most once a second. Errors are never cached.
 *
 * One cache per process, behind one mutex (threaded shares it between its
 * threads; the critical sections only copy memory, never wait). A worker
 * process forked later starts from its parent's copy, which is empty because
 * parents never serve. */
#ifndef FILE_CACHE_H
#define FILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum {
    FILE_CACHE_TTL_MS = 1000,
    FILE_CACHE_SLOTS = 64,    /* direct-mapped by a hash of the path */
    FILE_CACHE_KEY_MAX = 256, /* longer paths are simply not cached */
};

/* What a hit hands back besides the body. */
struct file_cache_meta {
    size_t size;
    time_t mtime;
    char last_modified[40]; /* mtime as an HTTP date, formatted once */
    bool is_index;          /* the path named a directory: its index.html */
    unsigned long version;  /* which put made it (filled in by the cache) */
};

/* Off for the whole process (--no-file-cache). */
void file_cache_disable(void);

/* Look up the normalised relative path (trailing_slash as the request had it).
 * A hit fills meta, so the caller can build the head; then it copies the body
 * straight behind the head with file_cache_copy_body, which fails (false) if
 * another thread replaced the entry in between: the caller then opens the
 * file after all. Two steps, so the body never needs a buffer of its own. */
bool file_cache_get(const char *relative, bool trailing_slash, struct file_cache_meta *meta);
bool file_cache_copy_body(const char *relative, bool trailing_slash,
                          const struct file_cache_meta *meta, char *body, size_t body_size);

/* Remember a file just read whole from a safe open. Bodies over max_size,
 * and keys over FILE_CACHE_KEY_MAX, are not kept. */
void file_cache_put(const char *relative, bool trailing_slash, const struct file_cache_meta *meta,
                    const char *body, size_t max_size);

#endif
