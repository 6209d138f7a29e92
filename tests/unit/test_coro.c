/* test_coro — the coroutine primitives (coroutine/coro.c): values passed back
 * and forth, nesting, 10 000 coroutines alive at once and stacks recycled,
 * floating-point formatting and stack alignment inside a coroutine, the MXCSR
 * kept per coroutine, a stack overflow stopped by the guard page (in a forked
 * child), and how much stack the shared handler really uses. No timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../coroutine/coro.h"
#include "http_conn.h"

/* ---- ping-pong: one ball, two coroutines and the caller */

struct ball {
    int hits;
    char trail[64]; /* who hit it, in order */
};

static void player(void *arg)
{
    const char *name = arg;
    struct ball *ball = coro_yield(NULL); /* the first served ball */
    while (ball != NULL) {
        ball->hits++;
        strncat(ball->trail, name, sizeof ball->trail - strlen(ball->trail) - 1);
        ball = coro_yield(ball); /* hand it back; get the next one (NULL: stop) */
    }
}

static void test_ping_pong(void **state)
{
    (void)state;
    struct coro *ping = coro_create(player, "i");
    struct coro *pong = coro_create(player, "o");
    assert_non_null(ping);
    assert_non_null(pong);
    assert_null(coro_resume(ping, NULL)); /* both started, waiting for a ball */
    assert_null(coro_resume(pong, NULL));
    struct ball ball = {0};
    struct ball *held = &ball;
    for (int round = 0; round < 5; round++) {
        held = coro_resume(ping, held);
        assert_ptr_equal(held, &ball);
        strcat(ball.trail, "-"); /* the caller's stroke */
        held = coro_resume(pong, held);
        assert_ptr_equal(held, &ball);
    }
    assert_int_equal(ball.hits, 10);
    assert_string_equal(ball.trail, "i-oi-oi-oi-oi-o");
    assert_false(coro_finished(ping));
    assert_null(coro_resume(ping, NULL)); /* NULL ball: it returns */
    assert_null(coro_resume(pong, NULL));
    assert_true(coro_finished(ping));
    assert_true(coro_finished(pong));
    coro_free(ping);
    coro_free(pong);
}

/* ---- nesting: a coroutine resumes another; each yield goes to its resumer */

struct nest {
    struct coro *outer, *inner;
    int trace[8];
    int steps;
};

static void inner_body(void *arg)
{
    struct nest *nest = arg;
    assert_ptr_equal(coro_current(), nest->inner);
    nest->trace[nest->steps++] = 2;
    coro_yield(NULL); /* back to outer, not to the test */
    nest->trace[nest->steps++] = 4;
}

static void outer_body(void *arg)
{
    struct nest *nest = arg;
    nest->trace[nest->steps++] = 1;
    coro_resume(nest->inner, NULL);
    assert_ptr_equal(coro_current(), nest->outer);
    nest->trace[nest->steps++] = 3;
    coro_yield(NULL);               /* to the test */
    coro_resume(nest->inner, NULL); /* inner finishes */
    assert_true(coro_finished(nest->inner));
    nest->trace[nest->steps++] = 5;
}

static void test_nesting(void **state)
{
    (void)state;
    struct nest nest = {0};
    nest.outer = coro_create(outer_body, &nest);
    nest.inner = coro_create(inner_body, &nest);
    assert_null(coro_current());
    coro_resume(nest.outer, NULL);
    assert_null(coro_current());
    assert_int_equal(nest.steps, 3);
    coro_resume(nest.outer, NULL);
    assert_true(coro_finished(nest.outer));
    int expected[] = {1, 2, 3, 4, 5};
    assert_int_equal(nest.steps, 5);
    assert_memory_equal(nest.trace, expected, sizeof expected);
    coro_free(nest.inner);
    coro_free(nest.outer);
}

/* ---- 10 000 at once, then recycled */

enum { MANY = 10000 };

struct probe {
    int id;
    int result; /* 1: its local survived the other 9 999 */
};

static void keep_a_local(void *arg)
{
    struct probe *probe = arg;
    volatile int local = probe->id * 7 + 1; /* on this coroutine's own stack */
    coro_yield(NULL);
    probe->result = local == probe->id * 7 + 1 ? 1 : -1;
}

static void test_ten_thousand(void **state)
{
    (void)state;
    coro_trim();
    size_t before = coro_stacks_mapped();
    struct probe *probes = calloc(MANY, sizeof *probes);
    struct coro **coros = calloc(MANY, sizeof *coros);
    assert_non_null(probes);
    assert_non_null(coros);
    for (int i = 0; i < MANY; i++) {
        probes[i].id = i;
        coros[i] = coro_create(keep_a_local, &probes[i]);
        assert_non_null(coros[i]);
        coro_resume(coros[i], NULL);
    }
    assert_int_equal(coro_stacks_mapped(), before + MANY);
    for (int i = MANY - 1; i >= 0; i--) { /* finish in the other order */
        coro_resume(coros[i], NULL);
        assert_true(coro_finished(coros[i]));
        assert_int_equal(probes[i].result, 1);
        coro_free(coros[i]);
    }
    /* Up to CORO_FREE_MAX stacks stay for reuse; the rest were unmapped. */
    assert_int_equal(coro_stacks_mapped(), before + CORO_FREE_MAX);

    /* 10 000 more, one after another: every one on a recycled stack. */
    for (int i = 0; i < MANY; i++) {
        struct coro *coro = coro_create(keep_a_local, &probes[i]);
        coro_resume(coro, NULL);
        coro_resume(coro, NULL);
        assert_true(coro_finished(coro));
        coro_free(coro);
    }
    assert_int_equal(coro_stacks_mapped(), before + CORO_FREE_MAX);
    coro_trim();
    assert_int_equal(coro_stacks_mapped(), before);
    free(coros);
    free(probes);
}

/* ---- floating point and alignment inside a coroutine */

struct formatted {
    char text[128];
    uintptr_t misalignment; /* of a 16-byte aligned local: must be 0 */
};

static void format_floats(void *arg)
{
    struct formatted *out = arg;
    _Alignas(16) char probe[16] = {0};
    char *volatile where = probe; /* volatile: the compiler may not assume the answer */
    out->misalignment = (uintptr_t)where % 16;
    volatile double pi = 3.14159265358979, big = 12345.678, tenth = 0.1;
    snprintf(out->text, sizeof out->text, "%f %.3e %g %.2f", pi, big, tenth, pi * big);
    coro_yield(NULL); /* and again after a switch */
    char again[64];
    snprintf(again, sizeof again, " %.1f", pi);
    strncat(out->text, again, sizeof out->text - strlen(out->text) - 1);
}

static void test_float_format(void **state)
{
    (void)state;
    struct formatted out = {0};
    struct coro *coro = coro_create(format_floats, &out);
    coro_resume(coro, NULL);
    coro_resume(coro, NULL);
    assert_true(coro_finished(coro));
    assert_int_equal(out.misalignment, 0);
    assert_string_equal(out.text, "3.141593 1.235e+04 0.1 38785.09 3.1");
    coro_free(coro);
}

/* ---- MXCSR (SSE rounding mode) belongs to each coroutine on x86-64 */

#if defined(__x86_64__)
enum { MXCSR_ROUND_MASK = 0x6000, MXCSR_ROUND_TO_ZERO = 0x6000 };

static void change_rounding(void *arg)
{
    unsigned *seen = arg;
    __builtin_ia32_ldmxcsr((__builtin_ia32_stmxcsr() & ~MXCSR_ROUND_MASK) | MXCSR_ROUND_TO_ZERO);
    coro_yield(NULL);
    *seen = __builtin_ia32_stmxcsr() & MXCSR_ROUND_MASK; /* still its own mode? */
}
#endif

static void test_mxcsr_per_coroutine(void **state)
{
    (void)state;
#if defined(__x86_64__)
    unsigned mine = __builtin_ia32_stmxcsr(), seen = 0;
    struct coro *coro = coro_create(change_rounding, &seen);
    coro_resume(coro, NULL);
    assert_int_equal(__builtin_ia32_stmxcsr(), mine); /* not leaked to the resumer */
    coro_resume(coro, NULL);
    assert_int_equal(seen, MXCSR_ROUND_TO_ZERO); /* and kept for the coroutine */
    assert_int_equal(__builtin_ia32_stmxcsr(), mine);
    coro_free(coro);
#else
    skip(); /* only x86-64's ABI makes the control word callee-saved */
#endif
}

/* ---- the guard page is there: /proc/self/maps, seen from inside */

struct guard_seen {
    bool found;   /* the mapping of the running stack */
    bool guarded; /* a PROT_NONE page right below it */
};

static void look_for_guard(void *arg)
{
    struct guard_seen *seen = arg;
    volatile char here = 0;
    uintptr_t address = (uintptr_t)&here;
    FILE *maps = fopen("/proc/self/maps", "r");
    assert_non_null(maps);
    char line[512], perms[8];
    uintptr_t start, end, previous_end = 0;
    bool previous_none = false;
    while (fgets(line, sizeof line, maps) != NULL) {
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3)
            continue;
        if (start <= address && address < end) {
            seen->found = strncmp(perms, "rw", 2) == 0;
            seen->guarded = previous_none && previous_end == start;
        }
        previous_end = end;
        previous_none = strncmp(perms, "---", 3) == 0 && end - start == (uintptr_t)getpagesize();
    }
    fclose(maps);
}

static void test_guard_mapping(void **state)
{
    (void)state;
    struct guard_seen seen = {0};
    struct coro *coro = coro_create(look_for_guard, &seen);
    coro_resume(coro, NULL);
    assert_true(seen.found);
    assert_true(seen.guarded);
    coro_free(coro);
}

/* ---- a stack overflow hits the guard page: SIGSEGV, in a child only */

struct depth {
    uintptr_t first, lowest; /* addresses of the outermost and deepest frames */
};

static struct depth *shared_depth;

__attribute__((noinline)) static int recurse(int n)
{
    volatile char frame[1024];
    frame[0] = (char)n;
    uintptr_t here = (uintptr_t)&frame[0];
    if (shared_depth->first == 0)
        shared_depth->first = here;
    shared_depth->lowest = here;
    if (n > 1000000) /* 1 GiB deep: never, on a 64 KiB stack */
        return 0;
    return recurse(n + 1) + frame[0]; /* not a tail call */
}

static void overflow(void *arg)
{
    (void)arg;
    recurse(0);
}

static void test_guard_page(void **state)
{
    (void)state;
    shared_depth =
        mmap(NULL, sizeof *shared_depth, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_ptr_not_equal(shared_depth, MAP_FAILED);
    memset(shared_depth, 0, sizeof *shared_depth);
    size_t stack = coro_stack_size();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* The default action, no handler and no alternate stack: the kernel
         * kills the child with SIGSEGV. (Also takes the fault away from ASan.) */
        signal(SIGSEGV, SIG_DFL);
        struct coro *coro = coro_create(overflow, NULL);
        coro_resume(coro, NULL);
        _exit(0); /* not reached if the guard page works */
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    /* It died deep down, not of something else on the way. */
    size_t used = shared_depth->first - shared_depth->lowest;
    assert_true(used > stack / 2);
    assert_true(used < stack + 4 * 4096);
    munmap(shared_depth, sizeof *shared_depth);
}

/* ---- how deep the shared handler goes: sizing --stack-kb */

struct handler_run {
    struct http_conn *conn;
    int fd;
    const struct http_site *site;
    struct worker_stats stats;
};

static void serve(void *arg)
{
    struct handler_run *run = arg;
    http_serve_connection(run->conn, run->fd, run->site, &run->stats);
}

static void write_file(const char *dir, const char *name, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++)
        fputc('a' + (int)(i % 26), f);
    fclose(f);
}

static void test_handler_stack(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-coro-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "index.html", 300);
    write_file(dir, "big.bin", 12000); /* > HTTP_INLINE_BODY_MAX: sendfile */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);

    /* The io layer's default socket timeout: no poll() before each call, and all
     * the answers fit in the socket buffer, so one coroutine can run it all. */
    struct server_options options = {.timeout_ms = 10000, .lab = true, .keepalive_requests = 1000};
    struct http_site site = {.root_fd = open(dir, O_PATH | O_DIRECTORY), .options = &options};
    assert_true(site.root_fd >= 0);
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    static const char requests[] =
        "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /lab/bytes/3000 HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 2094 08:49:37 "
        "GMT\r\n\r\n"
        "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /%2e%2e/secret HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /bad HTTP/1.1\r\nHost x\r\n\r\n"; /* 400, then a lingering close */
    assert_int_equal(write(pair[1], requests, sizeof requests - 1), (ssize_t)(sizeof requests - 1));
    shutdown(pair[1], SHUT_WR); /* the lingering close then sees the end at once */

    struct http_conn *conn = malloc(sizeof *conn);
    assert_non_null(conn);
    struct handler_run run = {.conn = conn, .fd = pair[0], .site = &site};
    coro_trim(); /* a fresh, zeroed stack: the peak is exact */
    struct coro *coro = coro_create(serve, &run);
    assert_null(coro_resume(coro, NULL)); /* blocking sockets: it runs to the end */
    assert_true(coro_finished(coro));
    size_t peak = coro_stack_peak(coro);

    char answer[1 << 17];
    size_t got = 0;
    for (ssize_t n; (n = read(pair[1], answer + got, sizeof answer - 1 - got)) > 0;)
        got += (size_t)n;
    answer[got] = '\0';
    int responses = 0;
    for (const char *p = answer; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
        responses++;
    assert_int_equal(responses, 10); /* every path above was taken */
    assert_int_equal(run.stats.requests, 10);
    print_message("the handler used %zu bytes of a %zu-byte coroutine stack\n", peak,
                  coro_stack_size());
    /* Half the default leaves room for what the paths above do not reach
     * (glibc's printf and strptime vary), and for ASan's redzones. */
    assert_true(peak < coro_stack_size() / 2);
    coro_free(coro);
    free(conn);
    close(pair[1]);
    unlinkat(site.root_fd, "index.html", 0);
    unlinkat(site.root_fd, "big.bin", 0);
    unlinkat(site.root_fd, "sub", AT_REMOVEDIR);
    close(site.root_fd);
    rmdir(dir);
}

/* ---- giving an idle coroutine's deep stack pages back */

/* Fill a kilobyte per level, deep down, and return a checksum of it all. */
static unsigned dig(int levels)
{
    volatile unsigned char block[1024];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (unsigned char)(i * 7 + (size_t)levels);
    unsigned sum = levels > 1 ? dig(levels - 1) : 0;
    for (size_t i = 0; i < sizeof block; i++)
        sum += block[i];
    return sum;
}

struct dig_run {
    unsigned sums[2];
    bool shallow_intact;
};

static void dig_and_rest(void *arg)
{
    struct dig_run *run = arg;
    unsigned char shallow[256]; /* lives in the idle frame: must survive */
    memset(shallow, 0x5A, sizeof shallow);
    run->sums[0] = dig(40);
    coro_yield(NULL);       /* idle here, 40 KiB below us released */
    run->sums[1] = dig(40); /* the pages come back, zeroed, and work */
    run->shallow_intact = true;
    for (size_t i = 0; i < sizeof shallow; i++)
        run->shallow_intact &= shallow[i] == 0x5A;
}

static void test_release_stack(void **state)
{
    (void)state;
    if (strcmp(coro_switch_kind(), "ucontext") == 0)
        skip(); /* coro_release_stack gives nothing back there */
    struct dig_run run = {{0, 0}, false};
    coro_trim();
    struct coro *coro = coro_create(dig_and_rest, &run);
    coro_resume(coro, NULL);
    size_t peak = coro_stack_peak(coro);
    assert_true(peak > 40 * 1024);
    size_t released = coro_release_stack(coro);
    assert_true(released > 36 * 1024);
    assert_true(coro_stack_size() - released < 8 * 1024); /* only the idle frames are kept */
    assert_true(coro_stack_peak(coro) < 8 * 1024);        /* the deep pages read as zeros */
    assert_null(coro_resume(coro, NULL));
    assert_true(coro_finished(coro));
    assert_int_equal(run.sums[0], run.sums[1]);
    assert_true(run.shallow_intact);
    coro_free(coro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handler_stack), /* first: before other tests dirty stacks */
        cmocka_unit_test(test_ping_pong),           cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_ten_thousand),        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_mxcsr_per_coroutine), cmocka_unit_test(test_guard_mapping),
        cmocka_unit_test(test_guard_page),          cmocka_unit_test(test_release_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
