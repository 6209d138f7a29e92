/* io — the I/O layer every handler uses, with a wait hook (Lwan's I/O wrappers).
 *
 * The calls look blocking. In a blocking server the socket blocks in the kernel
 * and EAGAIN only means SO_RCVTIMEO/SO_SNDTIMEO expired (the call then polls
 * for what is left of its deadline, if anything: an upstream's deadline,
 * --upstream-timeout-ms, may lie beyond the sockets' --timeout-ms). A server that installs a
 * wait hook (the coroutine server) uses non-blocking sockets: on EAGAIN the hook
 * waits for the socket (it registers interest with the event loop and yields) and
 * the call retries. The handler code is the same in both.
 *
 * A completion backend (the coroutine server's --io uring) goes one step
 * further: it installs operation hooks, and io_read and io_write_all hand the
 * operation itself to the kernel through them (submit, yield until the
 * completion) instead of calling read/write and waiting after EAGAIN.
 *
 * Deadlines are absolute times in milliseconds on the monotonic clock (io_now_ms).
 * Every call returns -1 with errno ETIMEDOUT when its deadline passes. */
#ifndef IO_H
#define IO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum io_event { IO_READABLE = 1, IO_WRITABLE = 2 };

/* What a wait hook answers. */
enum { IO_WAIT_READY = 0, IO_WAIT_TIMEOUT = -1, IO_WAIT_INTERRUPTED = -2 };

struct io_hooks {
    /* Wait until fd is ready for event or the deadline passes. IO_WAIT_READY:
     * the call retries; IO_WAIT_TIMEOUT: it fails with ETIMEDOUT;
     * IO_WAIT_INTERRUPTED: it fails with EINTR, as a blocking call does when a
     * signal interrupts it (how a stop request reaches a waiting handler). */
    int (*wait)(int fd, enum io_event event, int64_t deadline_ms);
    /* Let milliseconds pass without holding up anybody else (for /lab/sleep). */
    void (*sleep)(int milliseconds);
    /* Close a connection's socket: an event loop stops watching it first (the
     * rule in event.h), then closes it. */
    void (*close)(int fd);
    /* Operation hooks, optional (NULL: the call above, waiting after EAGAIN).
     * Each performs one operation, waiting up to the deadline; it returns what
     * the system call would (read: >0 bytes, 0 end of stream; write: >0 bytes
     * sent), or -1 with errno: ETIMEDOUT when the deadline passed, EINTR when a
     * stop interrupted a read. sendfile has none: io_sendfile_all calls
     * sendfile(2) and waits through the wait hook (zero-copy from the page
     * cache; small files come from the file cache inside the head anyway). */
    ssize_t (*read)(int fd, void *buf, size_t length, int64_t deadline_ms);
    ssize_t (*write)(int fd, const void *buf, size_t length, int64_t deadline_ms);
};

/* Install hooks for this process; NULL restores the blocking behaviour. */
void io_set_hooks(const struct io_hooks *hooks);
/* The timeout blocking sockets carry (SO_RCVTIMEO), so a nearer deadline polls first. */
void io_set_socket_timeout(int timeout_ms);

int64_t io_now_ms(void);

/* Block signals in the calling thread: *outside gets the mask from before, and
 * *wait_mask the same without signals, the mask for ppoll (or pselect,
 * epoll_pwait) to let them in only during its wait. */
void io_block_outside_waits(const sigset_t *signals, sigset_t *outside, sigset_t *wait_mask);

/* >0 bytes read, 0 end of stream, -1 error (errno) or timeout (ETIMEDOUT). */
ssize_t io_read(int fd, void *buf, size_t length, int64_t deadline_ms);
/* Wait until fd is readable, without reading: 0, or -1 with errno ETIMEDOUT
 * (the deadline passed) or EINTR (a signal, or the stop). */
int io_wait_readable(int fd, int64_t deadline_ms);
/* Write all of buf: 0, or -1 on error or timeout. */
int io_write_all(int fd, const void *buf, size_t length, int64_t deadline_ms);
/* Send length bytes of file_fd from *offset with sendfile: 0, or -1. */
int io_sendfile_all(int fd, int file_fd, off_t *offset, size_t length, int64_t deadline_ms);
void io_sleep_ms(int milliseconds);
/* Connect a new TCP socket to address, waiting up to the deadline: the socket
 * (made as this process's connections are: non-blocking with hooks, blocking
 * with the socket timeouts without), or -1 with errno (ETIMEDOUT, ECONNREFUSED...).
 * Close it with io_close. */
int io_connect(const struct sockaddr *address, socklen_t length, int64_t deadline_ms);
/* Give the others a turn: with hooks, a zero sleep, so the scheduler runs every
 * connection that is ready before this one goes on (docs/coroutine.md); without
 * hooks each connection has a thread or process of its own, and it returns. */
void io_yield(void);
/* Close a connection's socket, the one way every handler does: through the
 * hook if one is installed, else close(). */
void io_close(int fd);

#endif
