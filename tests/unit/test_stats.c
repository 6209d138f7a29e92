/* test_stats — the shared counter region and the stats file
 * (docs/design.md#stats-file): a slot written by a forked child is seen by the
 * parent; the JSON file has every key the contract names, and its totals are
 * the sums of its per_worker entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "options.h"
#include "stats.h"

static char directory[64];
static char path[128];

static int directory_setup(void **state)
{
    (void)state;
    snprintf(directory, sizeof directory, "/tmp/test_stats.XXXXXX");
    if (mkdtemp(directory) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/stats.json", directory);
    return 0;
}

static int directory_teardown(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    return system(command) == 0 ? 0 : -1;
}

static char *read_all(const char *name)
{
    FILE *f = fopen(name, "r");
    assert_non_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The number after "key": at or after from; fails the test if there is none. */
static double number_after(const char *from, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(from, pattern);
    if (at == NULL) {
        print_error("no %s in %.80s\n", pattern, from);
        fail();
    }
    double value;
    assert_int_equal(sscanf(at + strlen(pattern), "%lf", &value), 1);
    return value;
}

static void test_counters_shared_with_child(void **state)
{
    (void)state;
    struct stats_region *region = stats_create(3);
    assert_int_equal(region->worker_count, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(region->workers[i].id, i);
        assert_int_equal(region->workers[i].connections, 0);
    }
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct worker_stats *mine = &region->workers[2];
        stats_add(&mine->connections, 7);
        stats_add(&mine->requests, 11);
        stats_record_cpu(mine, RUSAGE_SELF);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(region->workers[2].connections, 7);
    assert_int_equal(region->workers[2].requests, 11);
    assert_int_equal(region->workers[2].pid, child);
    assert_int_equal(region->workers[0].connections, 0);
}

static void test_wait_counts(void **state)
{
    (void)state;
    struct stats_region *region = stats_create(1);
    struct worker_stats *w = &region->workers[0];
    stats_wait_begin(w);
    struct timespec pause = {0, 2000000}; /* sleeping is a voluntary switch */
    nanosleep(&pause, NULL);
    stats_wait_end(w);
    assert_int_equal(w->waits, 1);
    assert_true(w->sleeps >= 1);
    stats_wait_begin(w);
    stats_wait_end(w);
    assert_int_equal(w->waits, 2);
}

/* An event loop counts every wait, but reads the sleeps only every so many
 * waits and when it is destroyed (DOC: loop-sleeps): none may be lost. */
static void test_loop_counts_sleeps_at_destroy(void **state)
{
    (void)state;
    struct stats_region *region = stats_create(1);
    struct worker_stats *w = &region->workers[0];
    char error[128];
    struct event_loop *loop = event_loop_create("poll", 64, error, sizeof error);
    assert_non_null(loop);
    event_loop_count_waits(loop, w);
    for (int i = 0; i < 3; i++)
        assert_int_equal(event_loop_run_once(loop, 2), 0); /* nothing watched: a 2 ms sleep */
    assert_int_equal(w->waits, 3);
    assert_int_equal(w->sleeps, 0); /* not read yet */
    event_loop_destroy(loop);
    assert_true(w->sleeps >= 3);
}

static const char *const model_choices[] = {"fcntl", "flock", NULL};
static int model_lock = 1, model_depth = 16;

static void test_report_file(void **state)
{
    (void)state;
    enum { WORKERS = 3 };
    struct stats_region *region = stats_create(WORKERS);
    for (int i = 0; i < WORKERS; i++) {
        struct worker_stats *w = &region->workers[i];
        stats_add(&w->connections, (uint64_t)(10 + i));
        stats_add(&w->requests, (uint64_t)(100 + 3 * i));
        stats_add(&w->waits, (uint64_t)(20 + i));
        stats_add(&w->sleeps, (uint64_t)(5 * i));
        stats_add(&w->spurious, (uint64_t)i);
        stats_add(&w->errors, i == 1 ? 4 : 0);
    }
    pid_t child = fork(); /* worker 1 is a real child */
    assert_true(child >= 0);
    if (child == 0) {
        stats_add(&region->workers[1].connections, 1000);
        stats_record_cpu(&region->workers[1], RUSAGE_SELF);
        _exit(0);
    }
    assert_int_equal(waitpid(child, NULL, 0), child);

    static const struct model_option model[] = {
        {"lock", "KIND", "how to serialise accept", model_choices, &model_lock, 0, 0},
        {"depth", "N", "queue depth", NULL, &model_depth, 1, 64},
        {NULL, NULL, NULL, NULL, NULL, 0, 0},
    };
    struct server_spec spec = {
        .name = "unit", .summary = "a test", .default_workers = 3, .model_options = model};
    struct server_options options = {.port = 8080,
                                     .bind_address = "127.0.0.1",
                                     .root = "/srv/a \"quoted\" root",
                                     .workers = WORKERS,
                                     .max_conns = 64,
                                     .timeout_ms = 10000,
                                     .stats_file = path,
                                     .quiet = true,
                                     .lab = true};
    assert_int_equal(stats_report(region, &spec, &options), 0);

    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    DIR *listing = opendir(directory); /* the temporary was renamed into place */
    assert_non_null(listing);
    for (struct dirent *entry; (entry = readdir(listing)) != NULL;)
        if (entry->d_name[0] != '.' && strcmp(entry->d_name, "stats.json") != 0) {
            print_error("%s left in the stats file's directory\n", entry->d_name);
            fail();
        }
    closedir(listing);

    const char *json = read_all(path);
    static const char *const keys[] = {
        "\"server\": \"unit\"",
        "\"version\"",
        "\"workers\": 3",
        "\"options\"",
        "\"cpu\"",
        "\"self_user_s\"",
        "\"self_sys_s\"",
        "\"children_user_s\"",
        "\"children_sys_s\"",
        "\"totals\"",
        "\"per_worker\"",
        "\"connections\"",
        "\"requests\"",
        "\"waits\"",
        "\"sleeps\"",
        "\"spurious\"",
        "\"errors\"",
        "\"id\"",
        "\"pid\"",
        "\"user_s\"",
        "\"sys_s\"",
        "\"port\": 8080",
        "\"timeout_ms\": 10000",
        "\"lock\": \"flock\"",
        "\"depth\": \"16\"",
        "\"root\": \"/srv/a \\\"quoted\\\" root\"",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strstr(json, keys[i]) == NULL) {
            print_error("missing %s in\n%s\n", keys[i], json);
            fail();
        }

    /* Braces and brackets balance outside strings: a minimal well-formedness check. */
    int depth = 0;
    bool in_string = false;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            assert_true(--depth >= 0);
        }
    }
    assert_int_equal(depth, 0);
    assert_false(in_string);

    /* totals == the sums of per_worker */
    static const char *const counters[] = {"connections", "requests", "waits",
                                           "sleeps",      "spurious", "errors"};
    const char *totals = strstr(json, "\"totals\"");
    const char *workers = strstr(json, "\"per_worker\"");
    assert_non_null(totals);
    assert_non_null(workers);
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        double sum = 0;
        const char *entry = workers;
        for (int i = 0; i < WORKERS; i++) {
            char id[32];
            snprintf(id, sizeof id, "\"id\": %d,", i);
            entry = strstr(entry, id);
            assert_non_null(entry);
            sum += number_after(entry, counters[c]);
        }
        assert_true(number_after(totals, counters[c]) == sum);
    }
    assert_true(number_after(totals, "connections") == 10 + 1011 + 12);
    const char *worker1 = strstr(workers, "\"id\": 1,");
    assert_true(number_after(worker1, "pid") == child);
}

static void test_report_unwritable(void **state)
{
    (void)state;
    struct stats_region *region = stats_create(1);
    struct server_spec spec = {.name = "unit", .summary = "a test"};
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/stats.json", directory);
    struct server_options options = {
        .bind_address = "127.0.0.1", .root = ".", .stats_file = missing, .quiet = true};
    int saved = dup(STDERR_FILENO), null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDERR_FILENO); /* its "cannot write" line is expected */
    int status = stats_report(region, &spec, &options);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(null_fd);
    assert_int_equal(status, 1);
    options.stats_file = NULL;
    assert_int_equal(stats_report(region, &spec, &options), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_shared_with_child),
        cmocka_unit_test(test_wait_counts),
        cmocka_unit_test(test_loop_counts_sleeps_at_destroy),
        cmocka_unit_test(test_report_file),
        cmocka_unit_test(test_report_unwritable),
    };
    return cmocka_run_group_tests_name("stats", tests, directory_setup, directory_teardown);
}
