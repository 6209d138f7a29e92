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
 *   client burst ADDR PORT PATH N CONC
 *       N connections with at most CONC in flight at once, one GET each with
 *       Connection: close, read to EOF: many connections quickly from one
 *       thread (the hardening suite's resources check makes 100 000 with it).
 *       Prints the same line as seq.
 *
 *   client slow ADDR PORT PATH N INTERVAL_MS MAX_S
 *       Opens N connections and trickles a request head that never ends, one
 *       byte per connection every INTERVAL_MS (the connections staggered over
 *       the interval), so a blocking model spends a worker on each. Prints
 *       "connected=C" once they are open, then trickles until its stdin closes
 *       or MAX_S pass, and prints "connected=C open=O closed=K answered=A":
 *       closed by the server, and how many of those got an answer first (408).
 *
 * "ok" means the status line was HTTP/1.x 2xx. Nothing here is clever: it is a
 * measuring tool, and its own CPU is printed so it can be subtracted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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

/* The closing line of seq and burst, with the client's own CPU so it can be subtracted. */
static void print_summary(long ok, long bad, long errors, double elapsed)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ok=%ld bad=%ld errors=%ld elapsed_s=%.6f user_s=%.6f sys_s=%.6f\n", ok, bad, errors,
           elapsed, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
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
            size_t take =
                (size_t)got < sizeof head - head_len ? (size_t)got : sizeof head - head_len;
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
    print_summary(ok, bad, errors, now_s() - start - paused); /* time connecting and reading */
    return 0;
}

/* One connection of burst: whether its request went out, the first bytes of the answer. */
struct burst_slot {
    bool sent;
    char head[16];
    size_t head_len;
};

static int hold(const struct sockaddr_in *addr, const char *path, int n, int wait_ms)
{
    char req[1024], buf[4096];
    int req_len = make_request(req, sizeof req, path, "keep-alive");
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    char *state = calloc((size_t)n, 1); /* 0 connecting, 1 sent, 2 answered, 3 dead */
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
                state[i] = 2; /* the first bytes of an answer: count it, stay idle */
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
        ; /* hold everything open until stdin closes */
    return 0;
}

/* Open one non-blocking connection into a free slot of burst; false if it failed. */
static bool burst_open(const struct sockaddr_in *addr, struct pollfd *pfd, struct burst_slot *slot)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        return false;
    }
    *pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
    *slot = (struct burst_slot){0};
    return true;
}

static int burst(const struct sockaddr_in *addr, const char *path, long n, int conc)
{
    char req[1024], buf[65536];
    int req_len = make_request(req, sizeof req, path, "close");
    struct pollfd *pfd = calloc((size_t)conc, sizeof *pfd);
    struct burst_slot *slot = calloc((size_t)conc, sizeof *slot);
    if (pfd == NULL || slot == NULL)
        return 1;
    for (int i = 0; i < conc; i++)
        pfd[i].fd = -1;
    long started = 0, done = 0, ok = 0, bad = 0, errors = 0;
    double start = now_s();
    while (done < n) {
        for (int i = 0; i < conc && started < n; i++) { /* refill the free slots */
            if (pfd[i].fd >= 0)
                continue;
            started++;
            if (!burst_open(addr, &pfd[i], &slot[i])) {
                errors++;
                done++;
            }
        }
        int ready = poll(pfd, (nfds_t)conc, 10000);
        if (ready == 0) { /* nothing moved for 10 s: count the rest as errors */
            errors += n - done;
            break;
        }
        if (ready < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < conc && ready > 0; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            int failed = 0;
            if (!slot[i].sent) { /* connected (or refused): send the request */
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
                failed = err != 0 || write(pfd[i].fd, req, (size_t)req_len) != req_len;
                slot[i].sent = true;
                pfd[i].events = POLLIN;
                if (!failed)
                    continue;
            } else {
                ssize_t got = read(pfd[i].fd, buf, sizeof buf);
                if (got < 0 && errno == EAGAIN)
                    continue;
                if (got > 0) {
                    size_t room = sizeof slot[i].head - slot[i].head_len;
                    size_t take = (size_t)got < room ? (size_t)got : room;
                    memcpy(slot[i].head + slot[i].head_len, buf, take);
                    slot[i].head_len += take;
                    continue;
                }
                failed = got < 0;
            }
            if (failed)
                errors++;
            else if (is_2xx(slot[i].head, slot[i].head_len))
                ok++;
            else
                bad++;
            close(pfd[i].fd); /* read to EOF, or failed: the slot is free */
            pfd[i].fd = -1;
            done++;
        }
    }
    print_summary(ok, bad, errors, now_s() - start);
    return 0;
}

static int slow(const struct sockaddr_in *addr, const char *path, int n, int interval_ms, int max_s)
{
    char head[1024], buf[4096];
    int head_len =
        snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", path);
    if (head_len < 0 || (size_t)head_len >= sizeof head)
        return 2;
    struct pollfd *pfd = calloc((size_t)n + 1, sizeof *pfd); /* [0] stdin, [1..n] connections */
    long *sent = calloc((size_t)n + 1, sizeof *sent);
    bool *answered = calloc((size_t)n + 1, sizeof *answered);
    if (pfd == NULL || sent == NULL || answered == NULL)
        return 1;
    int connected = 0, closed = 0, closed_answered = 0;
    double give_up_connecting = now_s() + 10; /* a full listen queue: stop trying */
    for (int i = 1; i <= n; i++) {
        int fd = now_s() < give_up_connecting ? socket(AF_INET, SOCK_STREAM, 0) : -1;
        struct timeval bound = {2, 0}; /* SO_SNDTIMEO also bounds a blocking connect */
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
        if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
            if (fd >= 0)
                close(fd);
            pfd[i].fd = -1;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
        connected++;
    }
    printf("connected=%d\n", connected);
    fflush(stdout);
    pfd[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    /* Tick k sends connection 1 + k % n its next byte at start + k * interval / n:
     * every connection gets a byte per interval, and the bytes are spread out. */
    double start = now_s(), end = start + max_s, step = interval_ms / 1000.0 / n;
    for (long tick = 0;;) {
        double now = now_s(), due = start + (double)tick * step;
        if (now >= end)
            break;
        if (now >= due) {
            int i = 1 + (int)(tick % n);
            char byte = sent[i] < head_len ? head[sent[i]] : 'z';
            if (pfd[i].fd >= 0 && write(pfd[i].fd, &byte, 1) == 1)
                sent[i]++;
            tick++;
            continue;
        }
        int wait_ms = (int)(((due < end ? due : end) - now) * 1000) + 1;
        if (poll(pfd, (nfds_t)n + 1, wait_ms) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents && read(0, buf, sizeof buf) <= 0)
            break; /* stdin closed: the caller is done */
        for (int i = 1; i <= n; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            ssize_t got = read(pfd[i].fd, buf, sizeof buf);
            if (got > 0)
                answered[i] = true; /* an error answer (408, 431) before the close */
            if (got > 0 || (got < 0 && errno == EAGAIN))
                continue;
            close(pfd[i].fd);
            pfd[i].fd = -1;
            closed++;
            closed_answered += answered[i];
        }
    }
    printf("connected=%d open=%d closed=%d answered=%d\n", connected, connected - closed, closed,
           closed_answered);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: client seq   ADDR PORT PATH N [GAP_US]\n"
                    "       client hold  ADDR PORT PATH N WAIT_MS\n"
                    "       client burst ADDR PORT PATH N CONC\n"
                    "       client slow  ADDR PORT PATH N INTERVAL_MS MAX_S\n");
}

/* argv[i] as a number in [low, high], or exit with a usage error naming it. */
static long number(char **argv, int i, const char *name, long low, long high)
{
    char *end;
    long value = strtol(argv[i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "client: %s must be %ld..%ld\n", name, low, high);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    int need = 6; /* client MODE ADDR PORT PATH N ... */
    if (argc >= 2 && (strcmp(argv[1], "hold") == 0 || strcmp(argv[1], "burst") == 0))
        need = 7;
    else if (argc >= 2 && strcmp(argv[1], "slow") == 0)
        need = 8;
    if (argc < need) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that closes first is an error count, not death */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
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
    if (strcmp(argv[1], "burst") == 0)
        return burst(&addr, argv[4], n, (int)number(argv, 6, "CONC", 1, 1024));
    if (strcmp(argv[1], "slow") == 0)
        return slow(&addr, argv[4], (int)n, (int)number(argv, 6, "INTERVAL_MS", 1, 60000),
                    (int)number(argv, 7, "MAX_S", 1, 600));
    fprintf(stderr, "client: unknown mode %s\n", argv[1]);
    return 2;
}
