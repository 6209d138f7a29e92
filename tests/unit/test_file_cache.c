/* test_file_cache — the one-second small-file cache: a hit gives back exactly
 * what was put, the key includes the trailing slash, what is too long or too
 * large is never kept, an entry is gone once FILE_CACHE_TTL_MS has passed, and
 * a disabled cache misses. The end-to-end check (a cached answer equals an
 * uncached one) is in test_http_response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "file_cache.h"

/* Both steps of a hit, as respond_file takes them. */
static bool get(const char *relative, bool trailing_slash, struct file_cache_meta *meta, char *body,
                size_t body_size)
{
    return file_cache_get(relative, trailing_slash, meta) &&
           file_cache_copy_body(relative, trailing_slash, meta, body, body_size);
}

static struct file_cache_meta meta_of(size_t size, bool is_index)
{
    struct file_cache_meta meta = {.size = size, .mtime = 1700000000, .is_index = is_index};
    strcpy(meta.last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
    return meta;
}

static void test_hit_returns_what_was_put(void **state)
{
    (void)state;
    const char body[] = "hello, cache\n";
    struct file_cache_meta meta = meta_of(sizeof body - 1, false);
    file_cache_put("hit.txt", false, &meta, body, 8192);

    struct file_cache_meta got;
    char out[64] = {0};
    assert_true(get("hit.txt", false, &got, out, sizeof out));
    assert_int_equal(got.size, sizeof body - 1);
    assert_int_equal(got.mtime, meta.mtime);
    assert_false(got.is_index);
    assert_string_equal(got.last_modified, meta.last_modified);
    assert_memory_equal(out, body, sizeof body - 1);
}

/* Rows: what is looked up after "dir/" (trailing slash, an index) was put. */
static void test_key_is_path_and_slash(void **state)
{
    (void)state;
    struct file_cache_meta meta = meta_of(5, true);
    file_cache_put("dir", true, &meta, "index", 8192);
    static const struct {
        const char *path;
        bool trailing_slash;
        bool hit;
    } rows[] = {
        {"dir", true, true}, {"dir", false, false}, /* "/dir" is a 301, never the index */
        {"di", true, false}, {"dir2", true, false}, {"", true, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct file_cache_meta got;
        char out[16];
        assert_int_equal(get(rows[i].path, rows[i].trailing_slash, &got, out, sizeof out),
                         rows[i].hit);
    }
}

static void test_too_long_or_too_large_is_not_kept(void **state)
{
    (void)state;
    char long_key[FILE_CACHE_KEY_MAX + 8];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    struct file_cache_meta small = meta_of(3, false);
    file_cache_put(long_key, false, &small, "abc", 8192);
    struct file_cache_meta got;
    char out[16];
    assert_false(get(long_key, false, &got, out, sizeof out));

    static char big[9000];
    struct file_cache_meta large = meta_of(sizeof big, false);
    file_cache_put("big.bin", false, &large, big, 8192);
    assert_false(get("big.bin", false, &got, big, sizeof big));

    /* Kept, but the caller's buffer is too small for it: a miss, never an overrun. */
    file_cache_put("fits.txt", false, &small, "abc", 8192);
    assert_false(get("fits.txt", false, &got, out, 2));
    assert_true(get("fits.txt", false, &got, out, 3));
}

/* A put between the two steps (another thread) makes the second step fail. */
static void test_replaced_between_steps(void **state)
{
    (void)state;
    struct file_cache_meta first = meta_of(3, false), second = meta_of(6, false), got;
    file_cache_put("race.txt", false, &first, "old", 8192);
    assert_true(file_cache_get("race.txt", false, &got));
    file_cache_put("race.txt", false, &second, "newer!", 8192);
    char out[16];
    assert_false(file_cache_copy_body("race.txt", false, &got, out, sizeof out));
    assert_true(get("race.txt", false, &got, out, sizeof out));
    assert_memory_equal(out, "newer!", 6);
}

static void test_newer_put_replaces(void **state)
{
    (void)state;
    struct file_cache_meta first = meta_of(5, false), second = meta_of(11, false);
    file_cache_put("change.txt", false, &first, "first", 8192);
    file_cache_put("change.txt", false, &second, "second body", 8192);
    struct file_cache_meta got;
    char out[32];
    assert_true(get("change.txt", false, &got, out, sizeof out));
    assert_int_equal(got.size, 11);
    assert_memory_equal(out, "second body", 11);
}

/* The one rule that makes caching safe to teach: a change shows within the TTL. */
static void test_entry_expires(void **state)
{
    (void)state;
    struct file_cache_meta meta = meta_of(3, false);
    file_cache_put("old.txt", false, &meta, "old", 8192);
    struct file_cache_meta got;
    char out[8];
    assert_true(get("old.txt", false, &got, out, sizeof out));
    struct timespec pause = {0, (FILE_CACHE_TTL_MS + 50) * 1000000L};
    while (pause.tv_nsec >= 1000000000L) {
        pause.tv_sec++;
        pause.tv_nsec -= 1000000000L;
    }
    nanosleep(&pause, NULL);
    assert_false(get("old.txt", false, &got, out, sizeof out));
}

/* Last: disabling is for the whole process. */
static void test_disabled_always_misses(void **state)
{
    (void)state;
    struct file_cache_meta meta = meta_of(3, false);
    file_cache_put("on.txt", false, &meta, "abc", 8192);
    file_cache_disable();
    struct file_cache_meta got;
    char out[8];
    assert_false(get("on.txt", false, &got, out, sizeof out));
    file_cache_put("off.txt", false, &meta, "abc", 8192);
    assert_false(get("off.txt", false, &got, out, sizeof out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_returns_what_was_put),
        cmocka_unit_test(test_key_is_path_and_slash),
        cmocka_unit_test(test_too_long_or_too_large_is_not_kept),
        cmocka_unit_test(test_newer_put_replaces),
        cmocka_unit_test(test_replaced_between_steps),
        cmocka_unit_test(test_entry_expires),
        cmocka_unit_test(test_disabled_always_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
