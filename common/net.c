/* net — see net.h. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

int net_listen(const char *address, int port, bool reuseport, char *error, size_t size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(address, service, &hints, &found);
    if (rc != 0) {
        snprintf(error, size, "--bind %s: %s", address, gai_strerror(rc));
        return -1;
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    /* DOC: nodelay
     * TCP_NODELAY (an answer's last small segment goes out at once instead of
     * waiting for the ACK of the one before: Nagle's algorithm) is set here,
     * once: Linux copies it to every socket accept() returns (an accepted
     * socket starts as a copy of the listening one), which saves a
     * setsockopt() per connection. tests/unit/test_net.c checks it. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(error, size, "cannot listen on %s port %d: %s", address, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    return fd;
}

/* DOC: listen-each */
int net_listen_each(const char *address, int port, bool reuseport, int *fds, int count, char *error,
                    size_t size)
{
    reuseport = reuseport || count > 1;
    for (int i = 0; i < count; i++) {
        fds[i] = net_listen(address, port, reuseport, error, size);
        if (fds[i] < 0 || net_set_nonblocking(fds[i], true) != 0) {
            if (fds[i] >= 0) {
                snprintf(error, size, "listening socket: %s", strerror(errno));
                close(fds[i]);
            }
            for (int opened = 0; opened < i; opened++)
                close(fds[opened]);
            return -1;
        }
        port = net_local_port(fds[i]); /* --port 0: the rest join the first */
    }
    return 0;
}

int net_listen_keep(const int *fds, int count, int worker_id)
{
    for (int i = 0; i < count; i++)
        if (i != worker_id)
            close(fds[i]);
    return fds[worker_id];
}

int net_local_port(int listen_fd)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(listen_fd, (struct sockaddr *)&address, &length) != 0)
        return -1;
    if (address.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
    return ntohs(((struct sockaddr_in *)&address)->sin_port);
}

static bool sockaddr_is_loopback(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)address)->sin_addr.s_addr) >> 24) == 127;
    if (address->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)address)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

bool net_peer_is_loopback(int conn_fd)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    return getpeername(conn_fd, (struct sockaddr *)&address, &length) == 0 &&
           sockaddr_is_loopback((struct sockaddr *)&address);
}

/* Every address the name resolves to must be a loopback one. */
bool net_address_is_loopback(const char *address)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found;
    if (getaddrinfo(address, NULL, &hints, &found) != 0)
        return false;
    bool loopback = true;
    for (struct addrinfo *a = found; a != NULL; a = a->ai_next)
        loopback = loopback && sockaddr_is_loopback(a->ai_addr);
    freeaddrinfo(found);
    return loopback;
}

int net_resolve(const char *host_port, struct sockaddr_storage *address, socklen_t *length,
                bool *loopback, char *error, size_t size)
{
    char host[256];
    const char *colon = strrchr(host_port, ':');
    const char *host_start = host_port, *host_end = colon;
    if (host_port[0] == '[') { /* [IPv6]:PORT (RFC 3986) */
        host_start++;
        host_end = strchr(host_port, ']');
        if (host_end == NULL || host_end[1] != ':')
            host_end = NULL;
        colon = host_end != NULL ? host_end + 1 : NULL;
    }
    if (colon == NULL || host_end == NULL || host_end == host_start || colon[1] == '\0' ||
        (size_t)(host_end - host_start) >= sizeof host ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 ||
        atoi(colon + 1) > 65535 || strlen(colon + 1) > 5) {
        snprintf(error, size, "expected HOST:PORT (a port from 1 to 65535), got '%s'", host_port);
        return -1;
    }
    memcpy(host, host_start, (size_t)(host_end - host_start));
    host[host_end - host_start] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found;
    int status = getaddrinfo(host, colon + 1, &hints, &found);
    if (status != 0) {
        snprintf(error, size, "cannot resolve '%s': %s", host, gai_strerror(status));
        return -1;
    }
    memcpy(address, found->ai_addr, found->ai_addrlen);
    *length = found->ai_addrlen;
    *loopback = true;
    for (struct addrinfo *a = found; a != NULL; a = a->ai_next)
        *loopback = *loopback && sockaddr_is_loopback(a->ai_addr);
    freeaddrinfo(found);
    return 0;
}

int net_set_nonblocking(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/* Out of descriptors: log at most once a second and pause, so a full table does
 * not turn the accept loop into a 100 % CPU spin. */
static void back_off(int error)
{
    static _Thread_local time_t last_logged;
    time_t now = time(NULL);
    if (now != last_logged) {
        fprintf(stderr, "accept: %s; backing off\n", strerror(error));
        last_logged = now;
    }
    struct timespec pause = {0, 50 * 1000000};
    nanosleep(&pause, NULL);
}

enum net_accept_failure net_accept_failure(int error)
{
    switch (error) {
    case ECONNABORTED:
    case EPROTO: return NET_ACCEPT_RETRY;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return NET_ACCEPT_NOTHING;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM: return NET_ACCEPT_EXHAUSTED;
    default: return NET_ACCEPT_OTHER;
    }
}

/* DOC: net-accept */
int net_accept_in_wait(int listen_fd, struct worker_stats *worker)
{
    for (;;) {
        int conn_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn_fd >= 0)
            return conn_fd;
        int error = errno;
        switch (net_accept_failure(error)) {
        case NET_ACCEPT_RETRY: /* the client gave up first: try again (UNP) */ continue;
        case NET_ACCEPT_NOTHING: /* readiness said yes, accept found nothing */
            stats_add(&worker->spurious, 1);
            break;
        case NET_ACCEPT_EXHAUSTED: /* out of descriptors: pause, never spin */
            back_off(error);
            break;
        case NET_ACCEPT_OTHER: /* EINTR and anything unexpected */ break;
        }
        errno = error;
        return -1;
    }
}

int net_accept(int listen_fd, struct worker_stats *worker)
{
    stats_wait_begin(worker);
    int conn_fd = net_accept_in_wait(listen_fd, worker);
    int error = errno;
    stats_wait_end(worker);
    errno = error;
    return conn_fd;
}

void net_prepare_connection(int conn_fd, int timeout_ms)
{
    if (timeout_ms > 0) {
        struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(conn_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(conn_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    }
}

/* DOC: lingering-close */
void net_lingering_close(int conn_fd)
{
    char discard[4096];
    shutdown(conn_fd, SHUT_WR);
    int64_t deadline = io_now_ms() + NET_LINGER_MS;
    for (size_t total = 0; total < NET_LINGER_BYTES;) {
        ssize_t n = io_read(conn_fd, discard, sizeof discard, deadline);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    io_close(conn_fd);
}

bool net_close_lingers(int linger, bool client_closes, bool all_read)
{
    if (linger == LINGER_AUTO)
        return !(client_closes && all_read);
    return linger == LINGER_ALWAYS;
}
