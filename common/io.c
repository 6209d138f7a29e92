/* io — see io.h. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const struct io_hooks *installed_hooks; /* set once per process, before serving */
static int socket_timeout_ms = 10000;

void io_set_hooks(const struct io_hooks *hooks)
{
    installed_hooks = hooks;
}
void io_set_socket_timeout(int timeout_ms)
{
    socket_timeout_ms = timeout_ms;
}

void io_block_outside_waits(const sigset_t *signals, sigset_t *outside, sigset_t *wait_mask)
{
    pthread_sigmask(SIG_BLOCK, signals, outside);
    *wait_mask = *outside;
    for (int signal_number = 1; signal_number < NSIG; signal_number++)
        if (sigismember(signals, signal_number) == 1)
            sigdelset(wait_mask, signal_number);
}

int64_t io_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Before a blocking call: if the deadline is nearer than the socket's own timeout
 * (a request head trickling in), wait with poll() for just the time that is left.
 * Otherwise go straight to the call: one system call in the common case.
 * Returns 0 to go ahead, -1 with errno ETIMEDOUT or EINTR. */
static int wait_if_deadline_near(int fd, short events, int64_t deadline_ms)
{
    if (installed_hooks != NULL)
        return 0;
    int64_t left = deadline_ms - io_now_ms();
    if (left + 100 >= socket_timeout_ms)
        return 0;
    if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int ready = poll(&p, 1, (int)left);
    if (ready == 0)
        errno = ETIMEDOUT;
    return ready > 0 ? 0 : -1;
}

/* Without hooks: wait with poll() for what is left of the deadline. A signal
 * interrupts a wait to read (the caller decides whether to stop), not one to
 * write (a response is never cut). */
static int poll_until(int fd, enum io_event event, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - io_now_ms();
        if (left <= 0)
            return IO_WAIT_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = event == IO_READABLE ? POLLIN : POLLOUT};
        int ready = poll(&p, 1, (int)left);
        if (ready > 0)
            return IO_WAIT_READY;
        if (ready == 0)
            return IO_WAIT_TIMEOUT;
        if (errno != EINTR || event == IO_READABLE)
            return IO_WAIT_INTERRUPTED;
    }
}

/* After EAGAIN: with a hook, wait for readiness and retry (0). Without one the
 * socket's own timeout (SO_RCVTIMEO) expired: at the deadline, as a rule
 * (-1, ETIMEDOUT); if the deadline lies further (an upstream's timeout longer
 * than --timeout-ms: io_connect), poll for the rest and retry. */
static int wait_after_eagain(int fd, enum io_event event, int64_t deadline_ms)
{
    int waited = installed_hooks != NULL ? installed_hooks->wait(fd, event, deadline_ms)
                                         : poll_until(fd, event, deadline_ms);
    if (waited == IO_WAIT_READY)
        return 0;
    errno = waited == IO_WAIT_INTERRUPTED ? EINTR : ETIMEDOUT;
    return -1;
}

/* DOC: io-read */
ssize_t io_read(int fd, void *buf, size_t length, int64_t deadline_ms)
{
    if (installed_hooks != NULL && installed_hooks->read != NULL)
        return installed_hooks->read(fd, buf, length, deadline_ms);
    for (;;) {
        if (wait_if_deadline_near(fd, POLLIN, deadline_ms) != 0)
            return -1;
        ssize_t n = read(fd, buf, length);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1; /* EINTR included: the caller decides whether to stop */
        if (wait_after_eagain(fd, IO_READABLE, deadline_ms) != 0)
            return -1;
    }
}

/* DOC: io-wait-readable
 * With a hook: straight to it, no read first (a connection waiting for its next
 * request holds no buffer to read into). Without one: poll(). */
int io_wait_readable(int fd, int64_t deadline_ms)
{
    if (installed_hooks != NULL)
        return wait_after_eagain(fd, IO_READABLE, deadline_ms);
    int64_t left = deadline_ms - io_now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, left > 0 ? (int)left : 0);
    if (ready == 0)
        errno = ETIMEDOUT;
    return ready > 0 ? 0 : -1;
}

int io_write_all(int fd, const void *buf, size_t length, int64_t deadline_ms)
{
    const char *p = buf;
    while (length > 0 && installed_hooks != NULL && installed_hooks->write != NULL) {
        ssize_t n = installed_hooks->write(fd, p, length, deadline_ms);
        if (n <= 0)
            return -1; /* a send of a non-empty buffer never answers 0 */
        p += n;
        length -= (size_t)n;
    }
    while (length > 0) {
        if (wait_if_deadline_near(fd, POLLOUT, deadline_ms) != 0 && errno != EINTR)
            return -1;
        ssize_t n = write(fd, p, length);
        if (n > 0) {
            p += n;
            length -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue; /* nothing was written: a response is never cut */
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_after_eagain(fd, IO_WRITABLE, deadline_ms) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int io_sendfile_all(int fd, int file_fd, off_t *offset, size_t length, int64_t deadline_ms)
{
    while (length > 0) {
        if (wait_if_deadline_near(fd, POLLOUT, deadline_ms) != 0 && errno != EINTR)
            return -1;
        ssize_t n = sendfile(fd, file_fd, offset, length);
        if (n > 0) {
            length -= (size_t)n;
        } else if (n == 0) {
            errno = EIO; /* the file shrank under us */
            return -1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_after_eagain(fd, IO_WRITABLE, deadline_ms) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* DOC: io-connect
 * connect() on a non-blocking socket answers EINPROGRESS; the socket becomes
 * writable when the handshake ends, and connect() asked again says how:
 * EISCONN (or 0) connected, EALREADY still going (a spurious wake-up), or the
 * error (ECONNREFUSED...). The wait goes through the hook like any other. */
int io_connect(const struct sockaddr *address, socklen_t length, int64_t deadline_ms)
{
    int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    while (connect(fd, address, length) != 0 && errno != EISCONN) {
        if (errno != EINPROGRESS && errno != EALREADY && errno != EINTR)
            goto fail;
        int waited = installed_hooks != NULL ? installed_hooks->wait(fd, IO_WRITABLE, deadline_ms)
                                             : poll_until(fd, IO_WRITABLE, deadline_ms);
        if (waited == IO_WAIT_TIMEOUT) {
            errno = ETIMEDOUT;
            goto fail;
        }
    }
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (installed_hooks == NULL) { /* blocking, with the timeouts the layer counts on */
        struct timeval timeout = {socket_timeout_ms / 1000, (socket_timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    return fd;
fail:;
    int error = errno;
    io_close(fd); /* an event loop may be watching it */
    errno = error;
    return -1;
}

void io_yield(void)
{
    if (installed_hooks != NULL)
        installed_hooks->sleep(0);
}

void io_sleep_ms(int milliseconds)
{
    if (installed_hooks != NULL) {
        installed_hooks->sleep(milliseconds);
        return;
    }
    struct timespec left = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

void io_close(int fd)
{
    if (installed_hooks != NULL)
        installed_hooks->close(fd);
    else
        close(fd);
}
