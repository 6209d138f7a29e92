/* client — the bench's two small load shapes that wrk does not make.
 *
 *   client seq  ADDR PORT PATH N [GAP_US]
 *       N connections one after another, one GET each with Connection: close,
 *       read to EOF. At most one connection is in flight, so every other worker
 *       of the server is idle: the worst case for a thundering herd (UNP 30.6).
 *       GAP_US (default 0) pauses between connections. On a small machine the
 *       losers of one herd may not all have gone back to sleep before the next
 *       connection arrives; one still runnable is not woken again, so without a
 *       pause the herd is undercounted. The bench's herd runs use a pause.
 *       Prints: ok=N bad=B errors=E elapsed_s=S user_s=U sys_s=S
 *
 *   client hold ADDR PORT PATH N WAIT_MS
 *       Opens N connections, sends one keep-alive GET on each, waits for the
 *       answers until WAIT_MS pass without news, prints "connected=C answered=A", then keeps
 *       every connection open and idle until its stdin closes. The bench
 *       measures the server's memory meanwhile.
 *
 * "ok" means the status line was HTTP/1.x 2xx. Nothing here is clever: it is a
 * measuring tool, and its own CPU is printed so it can be subtracted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_request(char *buf, size_t size, const char *path, const char *conn)
{
    int n = snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: %s\r\n\r\n",
                     path, conn);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "client: path too long\n");
        exit(2);
    }
    return n;
}

static int is_2xx(const char *buf, size_t len)
{
    return len >= 10 && memcmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2';
}

static int seq(const struct sockaddr_in *addr, const char *path, long n, long gap_us)
{
    char req[1024], buf[65536];
    int req_len = make_request(req, sizeof req, path, "close");
    long ok = 0, bad = 0, errors = 0;
    double start = now_s(), paused = 0;
    for (long i = 0; i < n; i++) {
        if (gap_us > 0 && i > 0) {
            double before = now_s();
            struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
            while (nanosleep(&gap, &gap) != 0 && errno == EINTR)
                ;
            paused += now_s() - before;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 ||
            write(fd, req, (size_t)req_len) != req_len) {
            errors++;
            if (fd >= 0)
                close(fd);
            continue;
        }
        char head[16];
        size_t head_len = 0;
        ssize_t got;
        while ((got = read(fd, buf, sizeof buf)) > 0) {
            size_t take = (size_t)got < sizeof head - head_len ? (size_t)got : sizeof head - head_len;
            memcpy(head + head_len, buf, take);
            head_len += take;
        }
        if (got < 0)
            errors++;
        else if (is_2xx(head, head_len))
            ok++;
        else
            bad++;
        close(fd);
    }
    double elapsed = now_s() - start - paused;     /* time spent connecting and reading */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ok=%ld bad=%ld errors=%ld elapsed_s=%.6f user_s=%.6f sys_s=%.6f\n", ok, bad, errors,
           elapsed, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    return 0;
}

static int hold(const struct sockaddr_in *addr, const char *path, int n, int wait_ms)
{
    char req[1024], buf[4096];
    int req_len = make_request(req, sizeof req, path, "keep-alive");
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    char *state = calloc((size_t)n, 1);     /* 0 connecting, 1 sent, 2 answered, 3 dead */
    if (pfd == NULL || state == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        pfd[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (pfd[i].fd < 0) {
            fprintf(stderr, "client: socket: %s (raise ulimit -n)\n", strerror(errno));
            return 1;
        }
        if (connect(pfd[i].fd, (const struct sockaddr *)addr, sizeof *addr) < 0 &&
            errno != EINPROGRESS)
            state[i] = 3;
        pfd[i].events = POLLOUT;
    }
    /* Wait until every connection is answered, or nothing new has happened for
     * WAIT_MS (a model that takes no more connections), at most 30 s in all. */
    double last_progress = now_s(), give_up = now_s() + 30;
    int connected = 0, answered = 0;
    while (answered < n && now_s() < give_up) {
        int left = (int)((last_progress + wait_ms / 1000.0 - now_s()) * 1000) + 1;
        if (left <= 0 || poll(pfd, (nfds_t)n, left) <= 0)
            break;
        last_progress = now_s();
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents == 0 || state[i] >= 2)
                continue;
            if (state[i] == 0) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || write(pfd[i].fd, req, (size_t)req_len) != req_len) {
                    state[i] = 3;
                    pfd[i].events = 0;
                    continue;
                }
                state[i] = 1;
                connected++;
                pfd[i].events = POLLIN;
            } else if (read(pfd[i].fd, buf, sizeof buf) > 0) {
                state[i] = 2;       /* the first bytes of an answer: count it, stay idle */
                answered++;
                pfd[i].events = 0;
            } else {
                state[i] = 3;
                pfd[i].events = 0;
            }
        }
    }
    printf("connected=%d answered=%d\n", connected, answered);
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0)
        ;                           /* hold everything open until stdin closes */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[1], "hold") == 0 && argc < 7)) {
        fprintf(stderr, "usage: client seq ADDR PORT PATH N [GAP_US] | "
                        "client hold ADDR PORT PATH N WAIT_MS\n");
        return 2;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
        fprintf(stderr, "client: bad address %s\n", argv[2]);
        return 2;
    }
    long n = atol(argv[5]);
    if (n < 1 || n > 100000) {
        fprintf(stderr, "client: N must be 1..100000\n");
        return 2;
    }
    if (strcmp(argv[1], "seq") == 0) {
        long gap_us = argc > 6 ? atol(argv[6]) : 0;
        if (gap_us < 0 || gap_us > 1000000) {
            fprintf(stderr, "client: GAP_US must be 0..1000000\n");
            return 2;
        }
        return seq(&addr, argv[4], n, gap_us);
    }
    if (strcmp(argv[1], "hold") == 0)
        return hold(&addr, argv[4], (int)n, atoi(argv[6]));
    fprintf(stderr, "client: unknown mode %s\n", argv[1]);
    return 2;
}
