/* test_event — the event loop on each backend (select, poll, epoll): readiness
 * on a socketpair, timers firing in deadline order, unwatching (also from a
 * callback in the same pass), select refusing a descriptor beyond
 * FD_SETSIZE instead of writing past its fd_set, a stop signal raised
 * between the flag check and the wait not lost, and a timer the heap cannot
 * grow for refused, not lost. Counts things; no timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "io.h"

static struct event_loop *make_loop(const char *backend)
{
    char error[128];
    struct event_loop *loop = event_loop_create(backend, 4096, error, sizeof error);
    if (loop == NULL)
        fail_msg("%s: %s", backend, error);
    assert_string_equal(event_loop_backend(loop), backend);
    return loop;
}

struct record {
    int calls;
    int last_fd;
    int last_ready;
};

static void on_ready(struct event_loop *loop, int fd, int ready, void *data)
{
    (void)loop;
    struct record *record = data;
    record->calls++;
    record->last_fd = fd;
    record->last_ready = ready;
}

static void test_readiness(void **state)
{
    (void)state;
    for (int b = 0; event_backend_names[b] != NULL; b++) {
        struct event_loop *loop = make_loop(event_backend_names[b]);
        int pair[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
        struct record record = {0};

        assert_int_equal(event_watch(loop, pair[0], EVENT_READ, on_ready, &record), 0);
        assert_int_equal(event_loop_run_once(loop, 0), 0); /* nothing to read yet */
        assert_int_equal(record.calls, 0);

        assert_int_equal(write(pair[1], "x", 1), 1);
        assert_int_equal(event_loop_run_once(loop, 5000), 1);
        assert_int_equal(record.calls, 1);
        assert_int_equal(record.last_fd, pair[0]);
        assert_int_equal(record.last_ready, EVENT_READ);

        /* Level-triggered: still unread, so ready again. */
        assert_int_equal(event_loop_run_once(loop, 5000), 1);
        assert_int_equal(record.calls, 2);

        /* Now for writing instead: an empty socket buffer is writable at once. */
        assert_int_equal(event_watch(loop, pair[0], EVENT_WRITE, on_ready, &record), 0);
        char byte;
        assert_int_equal(read(pair[0], &byte, 1), 1);
        assert_int_equal(event_loop_run_once(loop, 5000), 1);
        assert_int_equal(record.last_ready, EVENT_WRITE);

        /* Hang-up is reported as what was watched, so the read sees end of stream. */
        assert_int_equal(event_watch(loop, pair[0], EVENT_READ, on_ready, &record), 0);
        close(pair[1]);
        assert_int_equal(event_loop_run_once(loop, 5000), 1);
        assert_int_equal(record.last_ready, EVENT_READ);
        assert_int_equal(read(pair[0], &byte, 1), 0);

        event_unwatch(loop, pair[0]);
        close(pair[0]);
        event_loop_destroy(loop);
    }
}

struct order {
    int fired[8];
    int count;
};

struct timer_case {
    struct order *order;
    int id;
};

static void on_timer(struct event_loop *loop, void *data)
{
    (void)loop;
    struct timer_case *c = data;
    c->order->fired[c->order->count++] = c->id;
}

static void test_timers_in_order(void **state)
{
    (void)state;
    for (int b = 0; event_backend_names[b] != NULL; b++) {
        struct event_loop *loop = make_loop(event_backend_names[b]);
        struct order order = {0};
        struct event_timer timers[6] = {EVENT_TIMER_INIT};
        struct timer_case cases[6];
        /* Deadlines out of arming order; ids 1 and 4 share a deadline and fire
         * in the order they were armed; id 5 is cancelled; id 3 is moved. */
        int64_t now = io_now_ms();
        int64_t offsets[6] = {40, 10, 30, 5, 10, 20};
        for (int i = 0; i < 6; i++) {
            cases[i] = (struct timer_case){&order, i};
            event_timer_start(loop, &timers[i], now + offsets[i], on_timer, &cases[i]);
        }
        assert_int_equal(event_next_deadline(loop), now + 5);
        event_timer_cancel(loop, &timers[5]);
        assert_false(event_timer_pending(&timers[5]));
        event_timer_start(loop, &timers[3], now + 35, on_timer, &cases[3]);
        assert_true(event_timer_pending(&timers[3]));
        assert_int_equal(event_next_deadline(loop), now + 10);

        for (int spins = 0; order.count < 5 && spins < 1000; spins++)
            assert_true(event_loop_run_once(loop, 1000) >= 0);
        int expected[5] = {1, 4, 2, 3, 0};
        assert_int_equal(order.count, 5);
        for (int i = 0; i < 5; i++)
            assert_int_equal(order.fired[i], expected[i]);
        assert_int_equal(event_next_deadline(loop), -1);
        event_loop_destroy(loop);
    }
}

/* A heap under churn: many timers, half cancelled, the rest fire sorted. */
static void test_timer_heap(void **state)
{
    (void)state;
    struct event_loop *loop = make_loop("poll");
    enum { N = 200 };
    static struct event_timer timers[N];
    static struct timer_case cases[N];
    struct order unused = {0};
    int64_t base = io_now_ms() - 1000; /* all in the past: one pass fires them */
    for (int i = 0; i < N; i++) {
        timers[i] = (struct event_timer)EVENT_TIMER_INIT;
        cases[i] = (struct timer_case){&unused, i};
        event_timer_start(loop, &timers[i], base + (i * 7919) % N, on_timer, &cases[i]);
    }
    for (int i = 0; i < N; i += 2)
        event_timer_cancel(loop, &timers[i]);
    /* Walk the heap by hand rather than firing it: the order is what is checked. */
    int count = 0;
    int64_t last = INT64_MIN;
    while (event_next_deadline(loop) >= 0) {
        int64_t deadline = event_next_deadline(loop);
        assert_true(deadline >= last);
        last = deadline;
        /* Find which timer is first, check it is odd (not cancelled), cancel it. */
        int found = -1;
        for (int i = 0; i < N; i++)
            if (event_timer_pending(&timers[i]) && timers[i].deadline_ms == deadline &&
                (found < 0 || timers[i].sequence < timers[found].sequence))
                found = i;
        assert_true(found >= 0 && found % 2 == 1);
        event_timer_cancel(loop, &timers[found]);
        count++;
    }
    assert_int_equal(count, N / 2);
    event_loop_destroy(loop);
}

/* The heap full and no memory to grow it (an address-space limit just above
 * what the process has, in a child): event_timer_start refuses the timer, -1
 * and ENOMEM, leaves it not pending, and the timers already armed stay. The
 * child's exit status says which step failed (0: none). */
static int heap_out_of_memory(void)
{
    enum { N = 1 << 16 }; /* a full heap of 64 Ki pointers: the next needs 512 KiB more */
    struct event_loop *loop = make_loop("poll");
    struct event_timer *timers = calloc(N + 1, sizeof *timers);
    if (timers == NULL)
        return 10;
    for (int i = 0; i < N; i++)
        if (event_timer_start(loop, &timers[i], io_now_ms() + 60000, on_timer, NULL) != 0)
            return 11;
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm == NULL || fscanf(statm, "%ld", &pages) != 1)
        return 12;
    fclose(statm);
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + 128 * 1024;
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        return 13;
    errno = 0;
    if (event_timer_start(loop, &timers[N], io_now_ms(), on_timer, NULL) != -1)
        return 1; /* armed although the heap could not grow */
    if (errno != ENOMEM)
        return 2;
    if (event_timer_pending(&timers[N]))
        return 3;
    if (!event_timer_pending(&timers[0]) || !event_timer_pending(&timers[N - 1]))
        return 4;
    return 0;
}

/* Under ASan or TSan the allocator dies when mmap fails: no such test there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static void test_timer_heap_out_of_memory(void **state)
{
    (void)state;
    if (SANITIZED)
        skip();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(heap_out_of_memory());
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

struct unwatch_case {
    int pair_a[2], pair_b[2];
    int calls;
};

/* Whichever descriptor's callback runs first unwatches the other: the other
 * must not be called in the same pass although it was reported ready. */
static void on_ready_unwatch_other(struct event_loop *loop, int fd, int ready, void *data)
{
    (void)ready;
    struct unwatch_case *c = data;
    c->calls++;
    event_unwatch(loop, fd == c->pair_a[0] ? c->pair_b[0] : c->pair_a[0]);
    event_unwatch(loop, fd);
}

static void test_unwatch(void **state)
{
    (void)state;
    for (int b = 0; event_backend_names[b] != NULL; b++) {
        struct event_loop *loop = make_loop(event_backend_names[b]);
        struct unwatch_case c = {.calls = 0};
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c.pair_a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c.pair_b), 0);
        assert_int_equal(write(c.pair_a[1], "x", 1), 1);
        assert_int_equal(write(c.pair_b[1], "x", 1), 1);

        /* Unwatched before the wait: no callback. */
        struct record record = {0};
        assert_int_equal(event_watch(loop, c.pair_a[0], EVENT_READ, on_ready, &record), 0);
        event_unwatch(loop, c.pair_a[0]);
        event_unwatch(loop, c.pair_a[0]); /* twice is harmless */
        assert_int_equal(event_loop_run_once(loop, 0), 0);
        assert_int_equal(record.calls, 0);

        /* Unwatched by another callback in the same pass. */
        assert_int_equal(event_watch(loop, c.pair_a[0], EVENT_READ, on_ready_unwatch_other, &c), 0);
        assert_int_equal(event_watch(loop, c.pair_b[0], EVENT_READ, on_ready_unwatch_other, &c), 0);
        assert_int_equal(event_loop_run_once(loop, 5000), 1);
        assert_int_equal(c.calls, 1);
        assert_int_equal(event_loop_run_once(loop, 0), 0);
        assert_int_equal(c.calls, 1);

        for (int i = 0; i < 2; i++) {
            close(c.pair_a[i]);
            close(c.pair_b[i]);
        }
        event_loop_destroy(loop);
    }
}

static void test_select_capacity(void **state)
{
    (void)state;
    struct event_loop *loop = make_loop("select");
    assert_int_equal(event_loop_capacity(loop), FD_SETSIZE);
    int high = fcntl(0, F_DUPFD_CLOEXEC, FD_SETSIZE + 10);
    if (high < 0)
        skip(); /* RLIMIT_NOFILE too low to try */
    struct record record = {0};
    errno = 0;
    assert_int_equal(event_watch(loop, high, EVENT_READ, on_ready, &record), -1);
    assert_int_equal(errno, ERANGE);
    close(high);
    event_loop_destroy(loop);

    loop = make_loop("epoll"); /* the same descriptor number is fine for epoll */
    assert_true(event_loop_capacity(loop) > FD_SETSIZE);
    event_loop_destroy(loop);

    char error[128];
    assert_null(event_loop_create("kqueue", 16, error, sizeof error));
    assert_non_null(strstr(error, "kqueue"));
}

/* The stop signal, raised where a lost wake-up happens: after the loop has
 * checked its flag, before it waits. It must stay pending (blocked outside
 * the wait: the handler has not run when raise() returns) and end the wait
 * at once, though nothing else will ever wake it: no descriptor, no timer.
 * A lost signal would leave the wait with no limit; alarm() ends the test
 * then. */
static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t ran_early;

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    stop_flag = 1;
}

static void raise_stop(struct event_loop *loop, void *data)
{
    (void)loop, (void)data;
    raise(SIGUSR1);
    ran_early = stop_flag; /* 0: still pending, as it must be */
}

static void test_stop_signal_not_lost(void **state)
{
    (void)state;
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, NULL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGUSR1);
    for (int b = 0; event_backend_names[b] != NULL; b++) {
        struct event_loop *loop = make_loop(event_backend_names[b]);
        event_loop_set_stop_signals(loop, &stop_signals);
        struct event_timer timer = EVENT_TIMER_INIT;
        event_timer_start(loop, &timer, io_now_ms(), raise_stop, NULL);
        stop_flag = ran_early = 0;
        alarm(5);
        assert_int_equal(event_loop_run(loop, &stop_flag), 0);
        alarm(0);
        assert_int_equal(stop_flag, 1);
        assert_int_equal(ran_early, 0);
        sigset_t now; /* the mask is given back */
        pthread_sigmask(SIG_SETMASK, NULL, &now);
        assert_int_equal(sigismember(&now, SIGUSR1), 0);
        event_loop_destroy(loop);
    }
    signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_timers_in_order),
        cmocka_unit_test(test_timer_heap),
        cmocka_unit_test(test_timer_heap_out_of_memory),
        cmocka_unit_test(test_unwatch),
        cmocka_unit_test(test_select_capacity),
        cmocka_unit_test(test_stop_signal_not_lost),
    };
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
