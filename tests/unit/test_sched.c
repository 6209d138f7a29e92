/* test_sched — the coroutine scheduler's stop (coroutine/sched.c): a
 * connection the drain abandons, mid-sendfile or mid-/lab/sleep, must give
 * back every descriptor it holds when sched_destroy ends it — its socket and
 * the file its response is being sent from, which lives on the coroutine's
 * stack. Counts descriptors in /proc/self/fd; no timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../coroutine/sched.h"
#include "file_cache.h"

enum { BIG_FILE_BYTES = 4 << 20 }; /* far more than a socket buffer holds */

static int open_descriptors(void)
{
    DIR *dir = opendir("/proc/self/fd");
    assert_non_null(dir);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;)
        count += entry->d_name[0] != '.';
    closedir(dir);
    return count - 1; /* the directory stream's own */
}

struct fixture {
    char root[64];
    struct server server;
    struct worker_stats stats;
    struct event_loop *loop;
    struct scheduler scheduler;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/test_sched-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    char path[128];
    snprintf(path, sizeof path, "%s/big", f->root);
    FILE *big = fopen(path, "w");
    assert_non_null(big);
    for (int i = 0; i < BIG_FILE_BYTES; i++)
        fputc('a' + i % 26, big);
    fclose(big);

    file_cache_disable();
    f->server.options =
        (struct server_options){.root = f->root, .timeout_ms = 10000, .lab = true, .workers = 1};
    f->server.listen_fd = -1;
    f->server.site.root_fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->server.site.root_fd >= 0);
    f->server.site.options = &f->server.options;
    char error[128];
    f->loop = event_loop_create("epoll", 1024, error, sizeof error);
    assert_non_null(f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    event_loop_destroy(f->loop);
    close(f->server.site.root_fd);
    char path[128];
    snprintf(path, sizeof path, "%s/big", f->root);
    unlink(path);
    rmdir(f->root);
    free(f);
    return 0;
}

/* Start a coroutine on one end of a socket pair for request, which the client
 * end never reads the answer to; returns the client end. */
static int start_connection(struct fixture *f, const char *request, int *server_end)
{
    sched_init(&f->scheduler, f->loop, &f->server, &f->stats);
    io_set_hooks(&sched_io_hooks);
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    assert_int_equal(write(pair[1], request, strlen(request)), (ssize_t)strlen(request));
    struct event_acceptor acceptor = {.loop = f->loop,
                                      .server = &f->server,
                                      .stats = &f->stats,
                                      .listen_fd = -1,
                                      .batch = 1,
                                      .on_connection = sched_spawn,
                                      .data = &f->scheduler};
    sched_spawn(&acceptor, pair[0]);
    /* Let the loop run the coroutine until it has taken its request in and
     * parked in the middle of answering it (the client never reads). */
    for (int i = 0; i < 20 && f->stats.requests == 0; i++)
        assert_true(event_loop_run_once(f->loop, 50) >= 0);
    assert_int_equal(f->stats.requests, 1);
    *server_end = pair[0];
    return pair[1];
}

/* The drain ran out while the coroutine was blocked in sendfile(): destroying
 * the scheduler closes the socket and the file. */
static void test_abandoned_mid_sendfile(void **state)
{
    struct fixture *f = *state;
    int before = open_descriptors();
    int server_end;
    int client = start_connection(f, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", &server_end);
    assert_int_equal(f->scheduler.count, 1);          /* parked: the socket is full */
    assert_int_equal(open_descriptors(), before + 3); /* both ends, and the file */
    sched_destroy(&f->scheduler);
    assert_int_equal(f->scheduler.count, 0);
    assert_int_equal(fcntl(server_end, F_GETFD), -1); /* the socket is closed */
    assert_int_equal(errno, EBADF);
    assert_int_equal(open_descriptors(), before + 1); /* only the client end is left */
    close(client);
}

/* Abandoned in the middle of /lab/sleep: the sleep ends at once, and the
 * handler's error paths close the socket. */
static void test_abandoned_mid_sleep(void **state)
{
    struct fixture *f = *state;
    int before = open_descriptors();
    int server_end;
    int client =
        start_connection(f, "GET /lab/sleep/10000 HTTP/1.1\r\nHost: x\r\n\r\n", &server_end);
    assert_int_equal(f->scheduler.count, 1);
    sched_destroy(&f->scheduler);
    assert_int_equal(f->scheduler.count, 0);
    assert_int_equal(fcntl(server_end, F_GETFD), -1);
    assert_int_equal(open_descriptors(), before + 1);
    close(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_abandoned_mid_sendfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned_mid_sleep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
