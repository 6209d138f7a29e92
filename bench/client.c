/* client — the load shapes that wrk does not make.
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
 *       answers until WAIT_MS pass without news (10 s before the first answer),
 *       reads what is left of them, prints "connected=C answered=A" (A: 2xx
 *       answers; a connection answered otherwise is not held), then keeps
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
 *   client rate ADDR PORT PATH CONNS RATE SECONDS [keepalive|close [DRAIN_MS [DEPTH [warm]]]]
 *       Open loop: RATE requests per second for SECONDS, spread round-robin
 *       over CONNS connections (keep-alive, opened before the clock starts; or
 *       a new connection per request), whatever the server does. Each latency
 *       is taken from the request's intended send time, so a stall counts for
 *       every request scheduled behind it (wrk2's correction of coordinated
 *       omission); up to DEPTH requests in flight per keep-alive connection
 *       (pipelined; default 1), the next waits. warm: each keep-alive
 *       connection first has one request answered before the clock starts
 *       (not recorded; a process or thread per connection is then born
 *       before the run, not in it; "warmed=" counts them). After
 *       SECONDS it waits DRAIN_MS (default 1000) for the last answers; a request
 *       still unanswered then counts with latency = end - intended time.
 *       Latencies go into bench/histogram.c (<= 1 % error). Up to 100 000
 *       connections: it raises RLIMIT_NOFILE to the hard limit (and says so
 *       and exits 2 if CONNS does not fit) and binds to 127.0.0.2, .3, ... when
 *       one source address runs out of ports (9/10 of the local port range per
 *       address; CLIENT_CONNS_PER_ADDR=N in the environment sets it, for
 *       tests). Prints a summary for a person, then one line for the bench: "RATE conns=...
 * scheduled=S answered=A failed=F unanswered=U p50_us=... p99_us=... cpu_s=..." (answered: a 2xx
 *       answer; failed: another status, or the connection failed). Two checks on
 *       itself ride along: send_rate, the rate its loop took requests at, and
 *       lag_p99_us, how late it got to them (both show a client that, not the
 *       server, fell behind); and Little's law: inflight, the mean number of
 *       requests due and not yet answered, sampled from the connections at
 *       random times 100 µs apart on average (0.1 µs x CONNS above 1000
 *       connections), against completed / elapsed_s
 *       x mean_us from the latency record (bench/queueing.py says how close).
 *
 *   client sessions ADDR PORT PATH K RATE SECONDS THINK_MS [DRAIN_MS]
 *       Partly open: sessions arrive at RATE per second (Poisson, a fixed seed)
 *       for SECONDS; each opens a connection, sends K keep-alive GETs one after
 *       another with an exponential think time of mean THINK_MS between an
 *       answer and the next, and closes. After SECONDS it waits DRAIN_MS
 *       (default 1000); a session still open then counts as unanswered with
 *       time = end - arrival. Prints a summary, then "SESSIONS k=... arrived=A
 *       completed=C failed=F unanswered=U p50_us=... p99_us=... (session time
 *       from arrival) request_p50_us=... request_p99_us=... (each request from
 *       its send) cpu_s=...". Up to 4096 sessions are open at once; an arrival
 *       past that waits for one, its time running.
 *
 * "ok" means the status line was HTTP/1.x 2xx. Nothing here is clever: it is a
 * measuring tool, and its own CPU is printed so it can be subtracted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"

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
     * WAIT_MS (a model that takes no more connections), at most 30 s in all.
     * Until the first answer, the quiet may last 10 s: a server taking ten
     * thousand connections at once (a thread or a process each) can be busy
     * that long before it answers anyone. */
    double last_progress = now_s(), give_up = now_s() + 30;
    int connected = 0, answered = 0;
    ssize_t got;
    while (answered < n && now_s() < give_up) {
        double quiet = answered > 0 ? wait_ms / 1000.0 : 10.0;
        int left = (int)((last_progress + quiet - now_s()) * 1000) + 1;
        if (left <= 0 || poll(pfd, (nfds_t)n, left) <= 0)
            break;
        last_progress = now_s();
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (state[i] >= 2) {        /* closed under us: poll would say so forever */
                pfd[i].fd = ~pfd[i].fd; /* a negative fd is skipped; ~ gives it back */
                continue;
            }
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
            } else if ((got = read(pfd[i].fd, buf, sizeof buf)) > 0) {
                /* The first bytes of an answer: a 2xx is held idle and counted;
                 * another (a 503 past FD_SETSIZE) means the server let it go. */
                state[i] = is_2xx(buf, (size_t)got) ? 2 : 3;
                answered += state[i] == 2;
                pfd[i].events = 0;
            } else {
                state[i] = 3;
                pfd[i].events = 0;
            }
        }
    }
    /* Read the rest of every answer, so that nothing is left in a receive
     * buffer: an idle connection holds no data, and the kernel's memory for
     * it is measured honestly. Until 200 ms pass with nothing more to read. */
    for (int i = 0; i < n; i++) { /* only the held ones, each once more */
        pfd[i].events = POLLIN;
        if ((state[i] == 2) != (pfd[i].fd >= 0))
            pfd[i].fd = ~pfd[i].fd;
    }
    while (poll(pfd, (nfds_t)n, 200) > 0)
        for (int i = 0; i < n; i++)
            if (pfd[i].fd >= 0 && pfd[i].revents && read(pfd[i].fd, buf, sizeof buf) <= 0)
                pfd[i].fd = ~pfd[i].fd; /* closed by the server: nothing more comes */
    printf("connected=%d answered=%d\n", connected, answered);
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0)
        ; /* hold everything open until stdin closes */
    free(pfd);
    free(state);
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

/* An exponential variate of mean `mean` from the stream *random (xorshift64*,
 * then -ln u). */
static double exponential(uint64_t *random, double mean)
{
    *random ^= *random >> 12;
    *random ^= *random << 25;
    *random ^= *random >> 27;
    double u = (double)((*random * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
    return -mean * log(1.0 - u);
}

/* ---------------------------------------------------------------- rate
 *
 * Open-loop load: request k of the run is due at t0 + k / RATE, on connection
 * slot k % CONNS, whatever the server did with the ones before it, and its
 * latency is taken from that intended time (wrk2's correction of coordinated
 * omission). A slot carries up to DEPTH requests at a time (HTTP/1.1
 * pipelining; DEPTH 1, the default, is one at a time): a request whose slot is
 * full waits, and its latency grows from its intended time. The due requests a
 * slot can take go out in one write: at a rate near the server's capacity the
 * client's own cost per request (a write, a read, a wake-up for each) would
 * otherwise match the server's, and the client, not the server, would set the
 * capacity. A slot's requests are k = j, j + C, j + 2C, ..., and answers come
 * in order, so the queue of a slot is two indexes (its oldest in flight and its
 * next) and a count: nothing is stored per request. */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h; glibc's netinet/in.h lacks it */
#endif

enum slot_state { SLOT_DOWN, SLOT_CONNECTING, SLOT_IDLE, SLOT_BUSY, SLOT_CLOSING };

#define HEAD_MAX 1024 /* a response head longer than this is counted as failed */

struct slot {
    int fd;
    unsigned char state; /* enum slot_state */
    bool close_after;    /* the answer said Connection: close */
    uint16_t addr;       /* which source address: 127.0.0.(1 + addr) */
    int status;          /* of the answer being read */
    uint16_t inflight;   /* requests written and not yet answered (at most depth) */
    int64_t next_k;      /* the next request of this slot, in j, j + C, ... */
    int64_t busy_k;      /* the oldest request in flight, when busy */
    int64_t body_left;   /* bytes of body still to come; -1: until EOF */
    uint16_t head_len;
    char head[HEAD_MAX];
};

struct rate_run {
    struct sockaddr_in addr;
    const char *req;
    int req_len;
    char *batch; /* depth copies of req back to back: n due requests, one write */
    bool keepalive;
    int conns, epfd, depth;
    struct slot *slot;
    long per_addr; /* connections per source address */
    double rate, t0;
    int64_t total, scheduled;
    long answered, failed, sent, open_errors, connects;
    long warmed;    /* connections that answered their warm-up request */
    int open_errno; /* the first reason a connection could not be opened */
    struct histogram hist;
    /* The client's own lateness: how long after its intended time the loop got
     * round to each request (its slot idle: sent then). Large only when the
     * client, not the server, is the bottleneck. */
    struct histogram lag;
    double last_scheduled; /* when the loop took the last request */
    /* Little's law: requests in flight (due and not yet answered, wherever they
     * wait) counted from the slots, independently of hist, at random times
     * sample_s apart on average: Poisson sampling sees the time average whatever
     * the schedule (PASTA), where a fixed grid in step with the requests' due
     * times would count each of them once too often. */
    double sample_s, next_sample, inflight_sum;
    long samples;
    uint64_t random;
};

static double intended_s(const struct rate_run *r, int64_t k)
{
    return r->t0 + (double)k / r->rate;
}

/* Every scheduled request is recorded exactly once: answered, failed or, at the
 * end, unanswered, with its latency from the time it was due. */
static void rate_record(struct rate_run *r, int64_t k, double now)
{
    double us = (now - intended_s(r, k)) * 1e6;
    hist_record(&r->hist, us > 0 ? (uint64_t)us : 0);
}

static void slot_watch(struct rate_run *r, int j, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)j};
    epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->slot[j].fd, &ev);
}

static void slot_close(struct rate_run *r, int j)
{
    struct slot *s = &r->slot[j];
    if (s->fd >= 0)
        close(s->fd); /* also leaves the epoll set */
    s->fd = -1;
    s->state = SLOT_DOWN;
}

/* A non-blocking connect from this slot's source address; false if it failed
 * at once (counted in open_errors, the first reason kept). */
static bool slot_open(struct rate_run *r, int j)
{
    struct slot *s = &r->slot[j];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd >= 0 && s->addr > 0) {
        /* Another source address when one runs out of ports: 127.0.0.2, .3, ...
         * The port is chosen at connect, for the whole 4-tuple. */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in from = {.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK + s->addr)};
        if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0 ||
        (connect(fd, (struct sockaddr *)&r->addr, sizeof r->addr) < 0 && errno != EINPROGRESS)) {
        if (r->open_errors++ == 0)
            r->open_errno = errno;
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)j};
    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    s->fd = fd;
    s->state = SLOT_CONNECTING;
    s->close_after = false;
    r->connects++;
    return true;
}

static bool slot_pending(const struct rate_run *r, int j)
{
    return r->slot[j].next_k < r->scheduled;
}

/* Requests due by now (intended time <= now) that slot j has not finished: the
 * one in flight and those waiting behind it. Only the slot's own indexes are
 * read, not the histogram, so the sum over slots checks the latency record. */
static int64_t slot_outstanding(const struct rate_run *r, int j, int64_t due)
{
    const struct slot *s = &r->slot[j];
    int64_t first = s->inflight > 0 ? s->busy_k : s->next_k;
    if (first < 0) /* behind the warm-up request, which is not counted */
        first += r->conns;
    return first < due ? (due - first + r->conns - 1) / r->conns : 0;
}

static int64_t due_by(const struct rate_run *r, double now)
{
    int64_t due = (int64_t)((now - r->t0) * r->rate) + 1;
    return due < r->total ? due : r->total;
}

/* The samples of requests in flight due by now. Called when
 * the loop wakes, before it reads what woke it: an answer read now counts as in
 * flight until now, as its latency does. A period the loop slept through (or was
 * not scheduled in) is sampled from the slots as they are and the requests due
 * by then: nothing has been read since. */
static void inflight_sample(struct rate_run *r, double now)
{
    for (; r->next_sample <= now; r->next_sample += exponential(&r->random, r->sample_s)) {
        int64_t due = due_by(r, r->next_sample), inflight = 0;
        for (int j = 0; j < r->conns; j++)
            inflight += slot_outstanding(r, j, due);
        r->inflight_sum += (double)inflight;
        r->samples++;
    }
}

/* Send the slot's due requests if it can, as many as its depth allows, in one
 * write: on an idle connection, behind those in flight on a busy keep-alive one
 * (pipelined) unless the server said it closes, or by opening one (keep-alive
 * after the server closed, or a connection per request). The slot stays
 * watched for EPOLLIN from its connect on: no epoll_ctl per request. */
static void slot_kick(struct rate_run *r, int j, double now)
{
    struct slot *s = &r->slot[j];
    if (!slot_pending(r, j))
        return;
    if (s->state == SLOT_DOWN) {
        if (!slot_open(r, j)) { /* the request cannot even start: failed now */
            rate_record(r, s->next_k, now);
            s->next_k += r->conns;
            r->failed++;
        }
        return;
    }
    if (s->state != SLOT_IDLE && (s->state != SLOT_BUSY || s->close_after))
        return;
    int64_t due = (r->scheduled - s->next_k + r->conns - 1) / r->conns;
    int n = r->depth - s->inflight;
    if (n > due)
        n = (int)due;
    if (n <= 0)
        return;
    size_t len = (size_t)n * (size_t)r->req_len;
    if (write(s->fd, r->batch, len) != (ssize_t)len) {
        /* Requests are small beside a socket buffer: a short write is a
         * connection gone wrong. Its oldest request fails; the others of the
         * slot go again on a new connection. */
        int64_t oldest = s->inflight > 0 ? s->busy_k : s->next_k;
        if (oldest < 0) /* the warm-up: not counted, the slot's first goes again */
            oldest += r->conns;
        else {
            rate_record(r, oldest, now);
            r->failed++;
        }
        s->next_k = oldest + r->conns;
        s->inflight = 0;
        slot_close(r, j);
        return;
    }
    r->sent += n;
    if (s->inflight == 0) {
        s->busy_k = s->next_k;
        s->head_len = 0;
        s->body_left = -2; /* still in the head */
    }
    s->next_k += (int64_t)n * r->conns;
    s->inflight = (uint16_t)(s->inflight + n);
    s->state = SLOT_BUSY;
}

/* The connection under requests still in flight ended: they are due again from
 * the oldest (on the next connection), their latency still running from their
 * intended times. */
static void slot_requeue(struct slot *s, int conns)
{
    if (s->inflight > 0)
        s->next_k = s->busy_k < 0 ? s->busy_k + conns : s->busy_k; /* not the warm-up */
    s->inflight = 0;
}

/* The request in flight is over: answered (2xx), or failed. */
static void slot_done(struct rate_run *r, int j, bool ok, double now)
{
    struct slot *s = &r->slot[j];
    if (s->busy_k < 0) /* the warm-up request, before the clock: not in the record */
        r->warmed += ok;
    else if (ok)
        r->answered++;
    else
        r->failed++;
    if (s->busy_k >= 0)
        rate_record(r, s->busy_k, now);
    s->busy_k += r->conns;
    s->inflight--;
    if (s->fd < 0) {
        slot_requeue(s, r->conns);
        s->state = SLOT_DOWN;
    } else if (!ok || !r->keepalive || s->close_after) {
        slot_requeue(s, r->conns);
        if (ok) { /* let the server close first: its side keeps the TIME_WAIT */
            s->state = SLOT_CLOSING;
            return;
        }
        slot_close(r, j);
    } else if (s->inflight > 0) { /* the next answer, pipelined behind */
        s->head_len = 0;
        s->body_left = -2;
        s->status = 0;
    } else {
        s->state = SLOT_IDLE;
    }
    slot_kick(r, j, now);
}

/* The head is complete at s->head[0..end): status, Content-Length, Connection. */
static void parse_head(struct slot *s, size_t end)
{
    s->status = end >= 12 && memcmp(s->head, "HTTP/1.", 7) == 0 ? atoi(s->head + 9) : 0;
    s->body_left = -1;
    for (size_t i = 0; i < end; i++) {
        if (s->head[i] != '\n')
            continue;
        const char *line = s->head + i + 1;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            s->body_left = atoll(line + 15);
        else if (strncasecmp(line, "Connection:", 11) == 0)
            s->close_after = strncasecmp(line + 11 + strspn(line + 11, " \t"), "close", 5) == 0;
    }
}

/* Feed the got bytes of buf, read while an answer is awaited, into s: 1 when the
 * answer is complete (s->status says how it went), -1 when its head is longer
 * than HEAD_MAX (a failure), 0 while more is to come. *took: the bytes of buf
 * that belonged to this answer (the rest is the next, pipelined one). */
static int answer_feed(struct slot *s, const char *buf, ssize_t got, ssize_t *took)
{
    size_t used = 0;
    if (s->body_left == -2) {
        size_t take = (size_t)got < (size_t)(HEAD_MAX - s->head_len)
                          ? (size_t)got
                          : (size_t)(HEAD_MAX - s->head_len);
        memcpy(s->head + s->head_len, buf, take);
        size_t from = s->head_len > 3 ? s->head_len - 3 : 0;
        s->head_len += (uint16_t)take;
        char *end = memmem(s->head + from, s->head_len - from, "\r\n\r\n", 4);
        if (end == NULL)
            return s->head_len == HEAD_MAX ? -1 : 0;
        size_t head_end = (size_t)(end - s->head) + 4;
        parse_head(s, head_end);
        used = head_end - (s->head_len - take); /* bytes of this read that were head */
    }
    int64_t body = (int64_t)got - (int64_t)used;
    if (s->body_left == -1) /* until EOF: all of it */
        used = (size_t)got;
    else if (s->body_left > 0) {
        int64_t part = body < s->body_left ? body : s->body_left;
        s->body_left -= part;
        used += (size_t)part;
    }
    *took = (ssize_t)used;
    return s->body_left == 0;
}

static void slot_readable(struct rate_run *r, int j, double now)
{
    struct slot *s = &r->slot[j];
    char buf[65536];
    ssize_t got = read(s->fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) { /* EOF or an error */
        bool busy = s->state == SLOT_BUSY;
        bool ok = got == 0 && s->body_left == -1 && s->status / 100 == 2; /* ended by EOF */
        slot_close(r, j); /* an idle keep-alive the server closed: reopen when due */
        if (busy)
            slot_done(r, j, ok, now);
        else
            slot_kick(r, j, now);
        return;
    }
    /* One read may hold several pipelined answers, the last one in part. */
    ssize_t at = 0;
    while (at < got && s->state == SLOT_BUSY) { /* else bytes nobody asked for */
        ssize_t took = 0;
        int done = answer_feed(s, buf + at, got - at, &took);
        at += took;
        if (done == 0)
            break;
        slot_done(r, j, done == 1 && s->status / 100 == 2, now);
    }
}

static void slot_event(struct rate_run *r, int j, uint32_t events, double now)
{
    struct slot *s = &r->slot[j];
    if (s->state == SLOT_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return; /* left over from the slot's previous connection */
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            slot_close(r, j);
            if (slot_pending(r, j)) { /* refused or reset: the waiting request failed */
                rate_record(r, s->next_k, now);
                s->next_k += r->conns;
                r->failed++;
            }
            return;
        }
        s->state = SLOT_IDLE;
        slot_watch(r, j, EPOLLIN);
        slot_kick(r, j, now);
        return;
    }
    slot_readable(r, j, now);
}

static long port_range(void)
{
    long low = 32768, high = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &low, &high) != 2)
            low = 32768, high = 60999;
        fclose(f);
    }
    return high - low + 1;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int rate(const struct sockaddr_in *addr, const char *path, int conns, double per_s,
                double seconds, bool keepalive, int drain_ms, int depth, bool warm)
{
    static struct rate_run r; /* the histogram is large: not on the stack */
    char req[1024];
    r = (struct rate_run){.addr = *addr,
                          .req = req,
                          .keepalive = keepalive,
                          .conns = conns,
                          .rate = per_s,
                          .depth = keepalive ? depth : 1};
    r.req_len = make_request(req, sizeof req, path, keepalive ? "keep-alive" : "close");
    r.batch = malloc((size_t)r.depth * (size_t)r.req_len);
    if (r.batch == NULL) {
        fprintf(stderr, "client: out of memory for a batch of %d requests\n", r.depth);
        return 1;
    }
    for (int i = 0; i < r.depth; i++)
        memcpy(r.batch + (size_t)i * (size_t)r.req_len, req, (size_t)r.req_len);
    hist_init(&r.hist);

    /* Descriptors: raise the soft limit to the hard one, and say so if C does not fit. */
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    if ((rlim_t)conns + 16 > lim.rlim_cur) {
        fprintf(stderr,
                "client: %d connections need %d descriptors, but RLIMIT_NOFILE's hard limit "
                "is %llu here (raising it needs CAP_SYS_RESOURCE: ulimit -Hn, limits.conf)\n",
                conns, conns + 16, (unsigned long long)lim.rlim_cur);
        return 2;
    }
    /* Source addresses: one per port range's worth of connections, if the
     * server is on loopback (the whole 127.0.0.0/8 is ours). */
    r.per_addr = port_range() * 9 / 10;
    const char *per_addr = getenv("CLIENT_CONNS_PER_ADDR"); /* tests: more addresses sooner */
    if (per_addr != NULL && atol(per_addr) > 0)
        r.per_addr = atol(per_addr);
    int addrs = (int)((conns + r.per_addr - 1) / r.per_addr);
    bool loopback = (ntohl(addr->sin_addr.s_addr) >> 24) == 127;
    if (addrs > 1 && !loopback) {
        fprintf(stderr,
                "client: %d connections need %d source addresses; only a server on "
                "127.0.0.0/8 can be reached from more than one\n",
                conns, addrs);
        return 2;
    }
    r.slot = calloc((size_t)conns, sizeof *r.slot);
    r.epfd = epoll_create1(0);
    if (r.slot == NULL || r.epfd < 0) {
        fprintf(stderr, "client: out of memory for %d connections\n", conns);
        return 1;
    }
    for (int j = 0; j < conns; j++)
        r.slot[j] = (struct slot){.fd = -1, .next_k = j, .addr = (uint16_t)(j / r.per_addr)};

    /* Keep-alive: open every connection before the clock starts, waiting until
     * all are up or a bound passes (a full listen queue drops the rest's SYNs;
     * they keep trying, and their requests wait and count). */
    double start = now_s(), cpu0 = cpu_s();
    struct epoll_event events[1024];
    int connected = 0;
    if (keepalive) {
        for (int j = 0; j < conns; j++)
            slot_open(&r, j);
        double bound = start + 1 + conns / 10000.0;
        int connecting = (int)r.connects;
        while (connecting > 0) { /* past the bound, take only what is already there */
            bool late = now_s() >= bound;
            int n = epoll_wait(r.epfd, events, 1024, late ? 0 : 50);
            if (n <= 0 && late)
                break;
            for (int i = 0; i < n; i++) {
                int j = (int)events[i].data.u32;
                if (r.slot[j].state == SLOT_CONNECTING) {
                    slot_event(&r, j, events[i].events, now_s());
                    connecting--;
                } else {
                    slot_readable(&r, j, now_s());
                }
            }
        }
        for (int j = 0; j < conns; j++)
            connected += r.slot[j].state == SLOT_IDLE;
    }
    /* Warm-up: one request on each connection, answered before the clock starts
     * (or half a second passes), so that what a model does once per connection
     * (fork a process, start a thread) is not in the run. Request -C + j of
     * slot j: before its first, and never recorded. */
    if (keepalive && warm) {
        for (int j = 0; j < conns; j++) {
            struct slot *s = &r.slot[j];
            if (s->state != SLOT_IDLE ||
                write(s->fd, r.req, (size_t)r.req_len) != (ssize_t)r.req_len)
                continue;
            s->busy_k = j - conns;
            s->inflight = 1;
            s->head_len = 0;
            s->body_left = -2;
            s->state = SLOT_BUSY;
        }
        double bound = now_s() + 0.5 + conns / 10000.0; /* a model that never serves some */
        for (;;) {
            bool waiting = false;
            for (int j = 0; j < conns && !waiting; j++)
                waiting = r.slot[j].inflight > 0 && r.slot[j].busy_k < 0;
            double left = bound - now_s();
            if (!waiting || left <= 0)
                break;
            int n = epoll_wait(r.epfd, events, 1024, (int)(left * 1000) + 1);
            for (int i = 0; i < n; i++)
                slot_event(&r, (int)events[i].data.u32, events[i].events, now_s());
        }
    }
    if (keepalive && warm)
        printf("rate: %d of %d connections up, %ld answered a warm-up request, in %.2f s; "
               "the clock starts\n",
               connected, conns, r.warmed, now_s() - start);
    else
        printf("rate: %d of %d connections up in %.2f s; the clock starts\n", connected, conns,
               now_s() - start);
    fflush(stdout); /* the bench measures the server's memory from here */

    r.t0 = now_s();
    r.total = (int64_t)(per_s * seconds + 0.5);
    r.sample_s = conns > 1000 ? 1e-7 * conns : 1e-4; /* a sample costs a pass over the slots */
    r.random = 88172645463325252ULL;
    r.next_sample = r.t0 + exponential(&r.random, r.sample_s);
    hist_init(&r.lag);
    double stop = r.t0 + seconds + drain_ms / 1000.0;
    int busy = 0;
    for (;;) {
        double now = now_s();
        int64_t due = due_by(&r, now), from = r.scheduled;
        while (r.scheduled < due) {
            int64_t k = r.scheduled++;
            double late_us = (now - intended_s(&r, k)) * 1e6;
            hist_record(&r.lag, late_us > 0 ? (uint64_t)late_us : 0);
            r.last_scheduled = now;
        }
        /* Then each slot that got a due request once: it sends what it can of
         * its due ones in one write (the rest wait behind its full depth). */
        for (int64_t k = from; k < due && k < from + conns; k++)
            slot_kick(&r, (int)(k % conns), now);
        if (now >= stop)
            break;
        if (r.scheduled == r.total) { /* all sent: stop when nothing is outstanding */
            busy = 0;
            for (int j = 0; j < conns && !busy; j++)
                busy = r.slot[j].state == SLOT_BUSY || slot_pending(&r, j);
            if (!busy)
                break;
        }
        double next = r.scheduled < r.total ? intended_s(&r, r.scheduled) : stop;
        if (r.next_sample < next)
            next = r.next_sample;
        double wait = (next < stop ? next : stop) - now;
        if (wait < 0)
            wait = 0;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int n = epoll_pwait2(r.epfd, events, 1024, &ts, NULL);
        now = now_s();
        inflight_sample(&r, now);
        for (int i = 0; i < n; i++)
            slot_event(&r, (int)events[i].data.u32, events[i].events, now);
    }
    /* What is left is unanswered: in flight, or waiting behind a busy slot. */
    double end = now_s();
    long unanswered = 0;
    for (int j = 0; j < conns; j++) {
        struct slot *s = &r.slot[j];
        for (int i = 0; i < s->inflight; i++) {
            if (s->busy_k + (int64_t)i * conns < 0)
                continue; /* a warm-up request never answered */
            rate_record(&r, s->busy_k + (int64_t)i * conns, end);
            unanswered++;
        }
        for (int64_t k = s->next_k; k < r.scheduled; k += conns) {
            rate_record(&r, k, end);
            unanswered++;
        }
        if (s->fd >= 0)
            close(s->fd);
    }
    double cpu = cpu_s() - cpu0, elapsed = end - r.t0;
    struct histogram *h = &r.hist;
    /* The rate the loop took requests at: the offered one unless it fell behind. */
    double send_rate = r.scheduled > 1 && r.last_scheduled > r.t0
                           ? (double)(r.scheduled - 1) / (r.last_scheduled - r.t0)
                           : per_s;
    double inflight = r.samples ? r.inflight_sum / (double)r.samples : 0.0;
    printf("rate: %.0f requests/s for %.1f s over %d %s, up to %d in flight on each\n", per_s,
           seconds, conns,
           keepalive ? "keep-alive connections" : "slots, a new connection per request", r.depth);
    printf("  scheduled %lld: answered %ld (%.1f %%), failed %ld, unanswered %ld\n",
           (long long)r.scheduled, r.answered,
           r.scheduled ? 100.0 * (double)r.answered / (double)r.scheduled : 0.0, r.failed,
           unanswered);
    printf("  latency from the intended send time: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
           "p99.9 %.3f ms, max %.3f ms\n",
           hist_percentile(h, 50) / 1e3, hist_percentile(h, 90) / 1e3, hist_percentile(h, 99) / 1e3,
           hist_percentile(h, 99.9) / 1e3, hist_percentile(h, 100) / 1e3);
    if (r.open_errors)
        printf("  %ld connections could not be opened (first: %s)\n", r.open_errors,
               strerror(r.open_errno));
    printf("  client CPU %.3f s (%.1f %% of one core); %d source address%s\n", cpu,
           elapsed > 0 ? 100 * cpu / elapsed : 0.0, addrs, addrs > 1 ? "es" : "");
    printf("  sent at %.0f/s of %.0f/s asked; the client's own lateness p99 %.3f ms\n", send_rate,
           per_s, hist_percentile(&r.lag, 99) / 1e3);
    printf("  Little's law: %.2f requests in flight (sampled) vs %.2f = %.0f/s x %.3f ms\n",
           inflight, elapsed > 0 ? (double)h->count / elapsed * hist_mean(h) / 1e6 : 0.0,
           elapsed > 0 ? (double)h->count / elapsed : 0.0, hist_mean(h) / 1e3);
    printf("RATE conns=%d connected=%d mode=%s rate=%.6g seconds=%.6g scheduled=%lld "
           "answered=%ld failed=%ld unanswered=%ld sent=%ld connects=%ld open_errors=%ld "
           "p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu elapsed_s=%.6f "
           "cpu_s=%.6f nofile=%llu addrs=%d completed=%llu mean_us=%.6g inflight=%.6g "
           "send_rate=%.6g lag_p99_us=%llu lag_max_us=%llu depth=%d warmed=%ld\n",
           conns, connected, keepalive ? "keepalive" : "close", per_s, seconds,
           (long long)r.scheduled, r.answered, r.failed, unanswered, r.sent, r.connects,
           r.open_errors, (unsigned long long)hist_percentile(h, 50),
           (unsigned long long)hist_percentile(h, 90), (unsigned long long)hist_percentile(h, 99),
           (unsigned long long)hist_percentile(h, 99.9),
           (unsigned long long)hist_percentile(h, 100), elapsed, cpu,
           (unsigned long long)lim.rlim_cur, addrs, (unsigned long long)h->count, hist_mean(h),
           inflight, send_rate, (unsigned long long)hist_percentile(&r.lag, 99),
           (unsigned long long)hist_percentile(&r.lag, 100), r.depth, r.warmed);
    free(r.batch);
    return 0;
}

/* ---------------------------------------------------------------- sessions
 *
 * Partly-open load (Schroeder, Wierman and Harchol-Balter, "Open Versus
 * Closed: A Cautionary Tale", NSDI 2006): sessions arrive open-loop, at
 * exponential gaps of mean 1 / RATE (a Poisson stream from a fixed seed: the
 * same arrivals every run), and inside a session the client is closed-loop:
 * it opens a connection, sends a request, waits for the answer, thinks
 * (exponential, mean THINK_MS) and sends the next, K in all, then closes. A
 * session's time runs from its arrival to its last answer. Every session that
 * arrived is recorded once: completed, failed (a non-2xx answer or a broken
 * connection ends it) or, at the end, unanswered with end - arrival. */

#define SESSIONS_MAX 4096 /* open at once; an arrival past that waits, its time running */

enum session_state { SESSION_FREE, SESSION_CONNECTING, SESSION_BUSY, SESSION_THINKING };

struct session {
    struct slot conn; /* the connection and the answer being read, as in rate */
    unsigned char state;
    int answered;         /* requests of this session answered */
    double arrival, wake; /* its arrival; when it sent, or when its think time ends */
};

struct session_run {
    struct sockaddr_in addr;
    const char *req;
    int req_len, k, epfd;
    double think_s;
    uint64_t arrivals, thinks; /* two random streams: the arrivals are the same every run */
    long arrived, completed, failed, unanswered, opened;
    int free[SESSIONS_MAX], nfree, high; /* free session numbers; those below high were used */
    struct session s[SESSIONS_MAX];
    struct histogram time, request; /* session times; each request's, from its send */
};

static void session_end(struct session_run *r, int i, double now, long *counter)
{
    struct session *s = &r->s[i];
    double us = (now - s->arrival) * 1e6;
    hist_record(&r->time, us > 0 ? (uint64_t)us : 0);
    (*counter)++;
    if (s->conn.fd >= 0)
        close(s->conn.fd);
    s->conn.fd = -1;
    s->state = SESSION_FREE;
    r->free[r->nfree++] = i;
}

/* A connection for session i, non-blocking; false (the session failed) if it
 * cannot even start. */
static bool session_connect(struct session_run *r, int i, double now)
{
    struct session *s = &r->s[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 ||
        (connect(fd, (struct sockaddr *)&r->addr, sizeof r->addr) < 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        session_end(r, i, now, &r->failed);
        return false;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    s->conn.fd = fd;
    s->state = SESSION_CONNECTING;
    r->opened++;
    return true;
}

static void session_send(struct session_run *r, int i, double now)
{
    struct session *s = &r->s[i];
    if (s->conn.fd < 0) { /* the server closed it while we thought: a new one */
        session_connect(r, i, now);
        return;
    }
    if (write(s->conn.fd, r->req, (size_t)r->req_len) != r->req_len) {
        session_end(r, i, now, &r->failed);
        return;
    }
    s->state = SESSION_BUSY;
    s->wake = now; /* sent at */
    s->conn.head_len = 0;
    s->conn.body_left = -2; /* still in the head */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(r->epfd, EPOLL_CTL_MOD, s->conn.fd, &ev);
}

static void session_event(struct session_run *r, int i, uint32_t events, double now)
{
    struct session *s = &r->s[i];
    if (s->state == SESSION_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP)))
            session_end(r, i, now, &r->failed);
        else if (events & EPOLLOUT)
            session_send(r, i, now);
        return;
    }
    char buf[65536];
    ssize_t got = read(s->conn.fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        if (s->state == SESSION_BUSY) { /* closed under a request */
            session_end(r, i, now, &r->failed);
        } else { /* an idle keep-alive the server closed: reopen at the next send */
            close(s->conn.fd);
            s->conn.fd = -1;
        }
        return;
    }
    if (s->state != SESSION_BUSY)
        return;
    ssize_t took; /* one request at a time: nothing follows its answer */
    int done = answer_feed(&s->conn, buf, got, &took);
    if (done == 0)
        return;
    double us = (now - s->wake) * 1e6;
    hist_record(&r->request, us > 0 ? (uint64_t)us : 0);
    if (done < 0 || s->conn.status / 100 != 2) {
        session_end(r, i, now, &r->failed);
    } else if (++s->answered == r->k) {
        session_end(r, i, now, &r->completed);
    } else {
        s->state = SESSION_THINKING;
        s->wake = now + exponential(&r->thinks, r->think_s);
        if (s->conn.close_after) { /* the server closes it: a new one for the next */
            close(s->conn.fd);
            s->conn.fd = -1;
        }
    }
}

static int sessions(const struct sockaddr_in *addr, const char *path, int k, double per_s,
                    double seconds, int think_ms, int drain_ms)
{
    static struct session_run r; /* large: not on the stack */
    char req[1024];
    r = (struct session_run){.addr = *addr,
                             .req = req,
                             .k = k,
                             .think_s = think_ms / 1000.0,
                             .arrivals = 88172645463325252ULL,
                             .thinks = 2463534242ULL};
    r.req_len = make_request(req, sizeof req, path, "keep-alive");
    hist_init(&r.time);
    hist_init(&r.request);
    for (int i = 0; i < SESSIONS_MAX; i++) {
        r.s[i].conn.fd = -1;
        r.free[i] = SESSIONS_MAX - 1 - i; /* 0 is taken first */
    }
    r.nfree = SESSIONS_MAX;
    r.epfd = epoll_create1(0);
    if (r.epfd < 0) {
        perror("client: epoll_create1");
        return 1;
    }
    double t0 = now_s(), cpu0 = cpu_s();
    double arrivals_end = t0 + seconds, stop = arrivals_end + drain_ms / 1000.0;
    double next = t0 + exponential(&r.arrivals, 1.0 / per_s);
    struct epoll_event events[1024];
    for (;;) {
        double now = now_s();
        while (next <= now && next < arrivals_end && r.nfree > 0) { /* arrivals */
            int i = r.free[--r.nfree];
            if (i >= r.high)
                r.high = i + 1;
            r.s[i] = (struct session){.conn = {.fd = -1}, .arrival = next};
            r.arrived++;
            next += exponential(&r.arrivals, 1.0 / per_s);
            session_connect(&r, i, now);
        }
        double wake = next < arrivals_end && r.nfree > 0 ? next : stop;
        for (int i = 0; i < r.high; i++) { /* think times over */
            if (r.s[i].state != SESSION_THINKING)
                continue;
            if (r.s[i].wake <= now)
                session_send(&r, i, now);
            else if (r.s[i].wake < wake)
                wake = r.s[i].wake;
        }
        if (now >= stop || (next >= arrivals_end && r.nfree == SESSIONS_MAX))
            break;
        double wait = (wake < stop ? wake : stop) - now;
        if (wait < 0)
            wait = 0;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int n = epoll_pwait2(r.epfd, events, 1024, &ts, NULL);
        now = now_s();
        for (int e = 0; e < n; e++)
            if (r.s[events[e].data.u32].state != SESSION_FREE)
                session_event(&r, (int)events[e].data.u32, events[e].events, now);
    }
    /* What is left is unanswered: open sessions, and arrivals still waiting for one. */
    double end = now_s();
    for (int i = 0; i < r.high; i++)
        if (r.s[i].state != SESSION_FREE)
            session_end(&r, i, end, &r.unanswered);
    for (; next < arrivals_end && next <= end; next += exponential(&r.arrivals, 1.0 / per_s)) {
        uint64_t us = (uint64_t)((end - next) * 1e6);
        hist_record(&r.time, us);
        r.arrived++;
        r.unanswered++;
    }
    double cpu = cpu_s() - cpu0, elapsed = end - t0;
    printf("sessions: %.6g per second for %.6g s, %d requests each, think %d ms\n", per_s, seconds,
           k, think_ms);
    printf("  arrived %ld: completed %ld (%.1f %%), failed %ld, unanswered %ld\n", r.arrived,
           r.completed, r.arrived ? 100.0 * (double)r.completed / (double)r.arrived : 0.0, r.failed,
           r.unanswered);
    printf("  session time from arrival: p50 %.3f ms, p99 %.3f ms; a request from its send: "
           "p50 %.3f ms, p99 %.3f ms\n",
           hist_percentile(&r.time, 50) / 1e3, hist_percentile(&r.time, 99) / 1e3,
           hist_percentile(&r.request, 50) / 1e3, hist_percentile(&r.request, 99) / 1e3);
    printf("SESSIONS k=%d rate=%.6g seconds=%.6g think_ms=%d arrived=%ld completed=%ld failed=%ld "
           "unanswered=%ld connects=%ld p50_us=%llu p90_us=%llu p99_us=%llu max_us=%llu "
           "request_p50_us=%llu request_p99_us=%llu elapsed_s=%.6f cpu_s=%.6f\n",
           k, per_s, seconds, think_ms, r.arrived, r.completed, r.failed, r.unanswered, r.opened,
           (unsigned long long)hist_percentile(&r.time, 50),
           (unsigned long long)hist_percentile(&r.time, 90),
           (unsigned long long)hist_percentile(&r.time, 99),
           (unsigned long long)hist_percentile(&r.time, 100),
           (unsigned long long)hist_percentile(&r.request, 50),
           (unsigned long long)hist_percentile(&r.request, 99), elapsed, cpu);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: client seq   ADDR PORT PATH N [GAP_US]\n"
                    "       client hold  ADDR PORT PATH N WAIT_MS\n"
                    "       client burst ADDR PORT PATH N CONC\n"
                    "       client slow  ADDR PORT PATH N INTERVAL_MS MAX_S\n"
                    "       client rate  ADDR PORT PATH CONNS RATE SECONDS [keepalive|close "
                    "[DRAIN_MS [DEPTH [warm]]]]\n"
                    "       client sessions ADDR PORT PATH K RATE SECONDS THINK_MS [DRAIN_MS]\n");
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

/* argv[i] as a real number in [low, high], or exit with a usage error naming it. */
static double real(char **argv, int i, const char *name, double low, double high)
{
    char *end;
    double value = strtod(argv[i], &end);
    if (*argv[i] == '\0' || *end != '\0' || !(value >= low && value <= high)) {
        fprintf(stderr, "client: %s must be %g..%g\n", name, low, high);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    int need = 6; /* client MODE ADDR PORT PATH N ... */
    if (argc >= 2 && (strcmp(argv[1], "hold") == 0 || strcmp(argv[1], "burst") == 0))
        need = 7;
    else if (argc >= 2 && (strcmp(argv[1], "slow") == 0 || strcmp(argv[1], "rate") == 0))
        need = 8;
    else if (argc >= 2 && strcmp(argv[1], "sessions") == 0)
        need = 9;
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
    if (strcmp(argv[1], "rate") == 0) {
        const char *mode = argc > 8 ? argv[8] : "keepalive";
        if (strcmp(mode, "keepalive") != 0 && strcmp(mode, "close") != 0) {
            fprintf(stderr, "client: rate's MODE must be keepalive or close, not %s\n", mode);
            return 2;
        }
        int drain_ms = argc > 9 ? (int)number(argv, 9, "DRAIN_MS", 0, 60000) : 1000;
        int depth = argc > 10 ? (int)number(argv, 10, "DEPTH", 1, 64) : 1;
        bool warm = argc > 11 && strcmp(argv[11], "warm") == 0;
        if (argc > 11 && !warm) {
            fprintf(stderr, "client: rate's last argument must be warm, not %s\n", argv[11]);
            return 2;
        }
        return rate(&addr, argv[4], (int)n, real(argv, 6, "RATE", 0.1, 1e7),
                    real(argv, 7, "SECONDS", 0.01, 3600), strcmp(mode, "keepalive") == 0, drain_ms,
                    depth, warm);
    }
    if (strcmp(argv[1], "sessions") == 0)
        return sessions(&addr, argv[4], (int)n, real(argv, 6, "RATE", 0.01, 1e6),
                        real(argv, 7, "SECONDS", 0.01, 3600),
                        (int)number(argv, 8, "THINK_MS", 0, 60000),
                        argc > 9 ? (int)number(argv, 9, "DRAIN_MS", 0, 60000) : 1000);
    fprintf(stderr, "client: unknown mode %s\n", argv[1]);
    return 2;
}
