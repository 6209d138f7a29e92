/* floor — the practical ceiling of the machine: the least a server can do.
 *
 * One process, one epoll loop, no files, no parser: every request (anything up
 * to a blank line) gets the same prepared answer, a fixed body of --body bytes
 * (default 4000, the size the bench asks the real servers for). Whatever the
 * seven servers cost beyond this line is the price of their model and of real
 * HTTP; what this costs is the kernel's TCP and syscall work over loopback.
 *
 * --io uring: the completion floor. The same answers with io_uring instead of
 * epoll: a multishot accept, and per connection a recv, then a send of the
 * fixed reply, then the next recv; all the SQEs of one turn go in with one
 * io_uring_submit_and_wait. No timeouts, no stop drain: the least a
 * completion server can do.
 *
 * It speaks the suite's contract so the bench drives it like the others:
 *   floor --port 0 [--bind ADDR] [--body N] [--io epoll|uring] [--stats-file PATH] [--quiet]
 * prints "floor listening on http://ADDR:PORT/ root=- pid=PID", and on SIGTERM
 * writes the stats JSON (connections, requests, CPU) and exits 0. --root and
 * the other common options are accepted and ignored.
 *
 * Not a server to learn HTTP from: no Host check, no methods, no paths.
 *
 * What a connection costs here is only what the kernel asks: an accept, its
 * registration, the reads and writes, a close. Nothing per connection beyond
 * that: TCP_NODELAY is set once on the listening socket (accepted sockets
 * inherit it), a connection's struct comes from a list of spare ones (no
 * calloc and free, so glibc never trims and regrows its heap per connection),
 * epoll's interest changes only when a write must wait (EPOLLOUT) and back,
 * and the close alone takes the socket out of epoll. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_FDS = 65536, REQ_BUF = 8192 };

struct conn {
    char in[REQ_BUF];
    size_t in_len;
    size_t out_off;     /* bytes of the current answer already sent */
    int answering;      /* 1 while an answer is partly written */
    int close_after;    /* the request said Connection: close */
    int watching_out;   /* epoll waits for EPOLLOUT, not EPOLLIN */
    struct conn *spare; /* next on the spare list, while not in use */
};

static volatile sig_atomic_t stopping;
static struct conn *conns[MAX_FDS];
static struct conn *spares; /* structs of closed connections, kept for the next */
static char *reply_keep, *reply_close;
static size_t reply_keep_len, reply_close_len;
static unsigned long long n_connections, n_requests, n_errors;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Build "headers + body" once; every answer is a write of these bytes. */
static char *make_reply(size_t body, int close, size_t *len)
{
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: %zu\r\n%s\r\n",
                 body, close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        fprintf(stderr, "floor: header too long\n");
        exit(1);
    }
    char *buf = malloc((size_t)n + body);
    if (buf == NULL)
        die("malloc");
    memcpy(buf, head, (size_t)n);
    memset(buf + n, 'x', body);
    *len = (size_t)n + body;
    return buf;
}

/* A struct for descriptor fd, from the spare list if it has one; NULL when fd
 * is out of range or memory is out. Only the fields are reset, not the
 * buffer: in_len says how much of it holds anything. */
static struct conn *conn_take(int fd)
{
    if (fd >= MAX_FDS)
        return NULL;
    struct conn *c = spares;
    if (c != NULL)
        spares = c->spare;
    else if ((c = malloc(sizeof *c)) == NULL)
        return NULL;
    c->in_len = c->out_off = 0;
    c->answering = c->close_after = c->watching_out = 0;
    conns[fd] = c;
    return c;
}

static void conn_give(int fd)
{
    conns[fd]->spare = spares;
    spares = conns[fd];
    conns[fd] = NULL;
}

static void drop(int fd)
{
    close(fd); /* the last descriptor of the socket: epoll forgets it too */
    conn_give(fd);
}

/* Write what is left of the current answer. Returns 0 when done, 1 when the
 * socket is full (wait for EPOLLOUT), -1 on error. */
static int send_answer(int fd, struct conn *c)
{
    const char *reply = c->close_after ? reply_close : reply_keep;
    size_t len = c->close_after ? reply_close_len : reply_keep_len;
    while (c->out_off < len) {
        ssize_t n = write(fd, reply + c->out_off, len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n < 0)
            return -1;
        c->out_off += (size_t)n;
    }
    c->answering = 0;
    c->out_off = 0;
    return 0;
}

/* Answer every complete request in the buffer (pipelining), keep the rest.
 * Returns 1 to keep the connection, 0 to close it. */
static int serve(int epfd, int fd, struct conn *c)
{
    for (;;) {
        if (c->answering) {
            int r = send_answer(fd, c);
            if (r < 0) {
                n_errors++;
                return 0;
            }
            if (r != c->watching_out) { /* only when the wait changes direction */
                struct epoll_event ev = {.events = r ? EPOLLOUT : EPOLLIN, .data.fd = fd};
                epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
                c->watching_out = r;
            }
            if (r)
                return 1;
            if (c->close_after)
                return 0;
        }
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (end == NULL)
            return c->in_len < sizeof c->in; /* a header too big: close */
        size_t used = (size_t)(end - c->in) + 4;
        char saved = *end;
        *end = '\0';
        c->close_after = strcasestr(c->in, "\nConnection: close") != NULL;
        *end = saved;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        c->answering = 1;
        n_requests++;
    }
}

/* user_data of the accept; a connection's SQEs carry its descriptor + 1. */
enum { ACCEPT_DATA = 0 };

/* An SQE; a full submission queue is submitted first. */
static struct io_uring_sqe *take_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe;
    while ((sqe = io_uring_get_sqe(ring)) == NULL)
        io_uring_submit(ring);
    return sqe;
}

static void uring_recv(struct io_uring *ring, int fd)
{
    struct conn *c = conns[fd];
    struct io_uring_sqe *sqe = take_sqe(ring);
    io_uring_prep_recv(sqe, fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST; /* as coroutine's idle wait (uring.c) */
    io_uring_sqe_set_data64(sqe, (uint64_t)fd + 1);
}

static void uring_send(struct io_uring *ring, int fd)
{
    struct conn *c = conns[fd];
    const char *reply = c->close_after ? reply_close : reply_keep;
    size_t len = c->close_after ? reply_close_len : reply_keep_len;
    struct io_uring_sqe *sqe = take_sqe(ring);
    io_uring_prep_send(sqe, fd, reply + c->out_off, len - c->out_off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)fd + 1);
}

static void uring_drop(struct io_uring *ring, int fd)
{
    struct io_uring_sqe *sqe = take_sqe(ring);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, UINT64_MAX); /* nobody waits for it */
    conn_give(fd);
}

/* A connection's recv or send completed: answer a complete request (one at
 * a time: a pipelined one is answered after), or read more. */
static void uring_step(struct io_uring *ring, int fd, int res)
{
    struct conn *c = conns[fd];
    if (res <= 0) {
        if (res < 0)
            n_errors++;
        uring_drop(ring, fd);
        return;
    }
    if (c->answering) {
        size_t len = c->close_after ? reply_close_len : reply_keep_len;
        c->out_off += (size_t)res;
        if (c->out_off < len) {
            uring_send(ring, fd);
            return;
        }
        c->answering = 0;
        c->out_off = 0;
        if (c->close_after) {
            uring_drop(ring, fd);
            return;
        }
    } else {
        c->in_len += (size_t)res;
    }
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len == sizeof c->in)
            uring_drop(ring, fd); /* a header too big */
        else
            uring_recv(ring, fd);
        return;
    }
    size_t used = (size_t)(end - c->in) + 4;
    *end = '\0';
    c->close_after = strcasestr(c->in, "\nConnection: close") != NULL;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->answering = 1;
    n_requests++;
    uring_send(ring, fd);
}

/* The completion floor's loop: until SIGTERM interrupts the wait. */
static void uring_loop(struct io_uring *ring_made, int lfd)
{
    struct io_uring ring = *ring_made;
    struct io_uring_sqe *sqe = take_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, ACCEPT_DATA);
    while (!stopping) {
        struct io_uring_cqe *cqe;
        if (io_uring_submit_and_wait(&ring, 1) < 0)
            continue; /* EINTR: the stop */
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int res = cqe->res;
            unsigned flags = cqe->flags;
            io_uring_cqe_seen(&ring, cqe);
            if (data == ACCEPT_DATA) {
                if (res >= 0 && conn_take(res) == NULL) {
                    close(res);
                } else if (res >= 0) {
                    n_connections++;
                    uring_recv(&ring, res);
                }
                if (!(flags & IORING_CQE_F_MORE)) {
                    sqe = take_sqe(&ring);
                    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
                    io_uring_sqe_set_data64(sqe, ACCEPT_DATA);
                }
            } else if (data != UINT64_MAX && conns[data - 1] != NULL) {
                uring_step(&ring, (int)data - 1, res);
            }
        }
    }
    io_uring_queue_exit(&ring);
}

static void write_stats(const char *path, int port)
{
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    double user = (double)self.ru_utime.tv_sec + (double)self.ru_utime.tv_usec / 1e6;
    double sys = (double)self.ru_stime.tv_sec + (double)self.ru_stime.tv_usec / 1e6;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f,
            "{\"server\": \"floor\", \"version\": \"bench\", \"workers\": 1,\n"
            " \"options\": {\"port\": %d},\n"
            " \"cpu\": {\"self_user_s\": %.6f, \"self_sys_s\": %.6f, \"children_user_s\": 0.0, "
            "\"children_sys_s\": 0.0},\n"
            " \"totals\": {\"connections\": %llu, \"requests\": %llu, \"waits\": 0, \"sleeps\": 0, "
            "\"spurious\": 0, \"errors\": %llu},\n"
            " \"per_worker\": [{\"id\": 0, \"pid\": %d, \"connections\": %llu, \"requests\": %llu, "
            "\"waits\": 0, \"sleeps\": 0, \"spurious\": 0, \"errors\": %llu, \"user_s\": %.6f, "
            "\"sys_s\": %.6f}]}\n",
            port, user, sys, n_connections, n_requests, n_errors, (int)getpid(), n_connections,
            n_requests, n_errors, user, sys);
    fclose(f);
}

int main(int argc, char **argv)
{
    int port = 8080;
    long body = 4000;
    const char *bind_addr = "127.0.0.1", *stats_file = NULL;
    bool uring = false;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quiet") == 0)
            continue;
        if (value == NULL) {
            fprintf(stderr, "floor: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(value);
        else if (strcmp(argv[i], "--bind") == 0)
            bind_addr = value;
        else if (strcmp(argv[i], "--body") == 0)
            body = atol(value);
        else if (strcmp(argv[i], "--io") == 0 &&
                 (strcmp(value, "epoll") == 0 || strcmp(value, "uring") == 0))
            uring = strcmp(value, "uring") == 0;
        else if (strcmp(argv[i], "--stats-file") == 0)
            stats_file = value;
        else if (strcmp(argv[i], "--root") != 0 && strcmp(argv[i], "--workers") != 0 &&
                 strcmp(argv[i], "--timeout-ms") != 0 && strcmp(argv[i], "--max-conns") != 0) {
            fprintf(stderr, "floor: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (body < 0 || body > (64L << 20) || port < 0 || port > 65535) {
        fprintf(stderr, "floor: --body or --port out of range\n");
        return 2;
    }
    reply_keep = make_reply((size_t)body, 0, &reply_keep_len);
    reply_close = make_reply((size_t)body, 1, &reply_close_len);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accept */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "floor: bad --bind %s\n", bind_addr);
        return 2;
    }
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    if (listen(lfd, 4096) < 0 || getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0)
        die("listen");
    port = ntohs(addr.sin_port);
    struct io_uring ring; /* made before the start-up line: without it, exit 2 */
    struct io_uring_params params = {.flags =
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int made = uring ? io_uring_queue_init_params(1024, &ring, &params) : 0;
    if (made == -EINVAL) /* a kernel before 6.1: without those two */
        made = io_uring_queue_init(1024, &ring, 0);
    if (made < 0) {
        fprintf(stderr, "floor: --io uring: io_uring_setup: %s\n", strerror(-made));
        return 2;
    }
    printf("floor listening on http://%s:%d/ root=- pid=%d\n", bind_addr, port, (int)getpid());
    fflush(stdout);

    if (uring) {
        uring_loop(&ring, lfd);
        if (stats_file != NULL)
            write_stats(stats_file, port);
        return 0;
    }
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll");

    struct epoll_event events[256];
    while (!stopping) {
        int n = epoll_wait(epfd, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (conn_take(cfd) == NULL) {
                        close(cfd);
                        continue;
                    }
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                    n_connections++;
                }
                continue;
            }
            struct conn *c = conns[fd];
            if (c == NULL)
                continue;
            if (!c->answering) {
                ssize_t got = read(fd, c->in + c->in_len, sizeof c->in - c->in_len);
                if (got <= 0) {
                    if (got < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                    if (got < 0)
                        n_errors++;
                    drop(fd);
                    continue;
                }
                c->in_len += (size_t)got;
            }
            if (!serve(epfd, fd, c))
                drop(fd);
        }
    }
    if (stats_file != NULL)
        write_stats(stats_file, port);
    return 0;
}
