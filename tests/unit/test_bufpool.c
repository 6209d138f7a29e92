/* test_bufpool — how many spare buffers a pool keeps (DOC: bufpool-spares in
 * common/bufpool.h): as many as are lent now, at least free_max. Each row
 * lends and returns buffers in steps and checks the spares and the buffers
 * lent after every step; the last rows check that a returned buffer is reused
 * before anything new is mapped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bufpool.h"

enum { MAX_HELD = 300, MAX_STEPS = 6 };
_Static_assert(BUFPOOL_FREE_MAX < 100, "the default row lends 100");

struct step {
    int change;     /* > 0: lend this many; < 0: return this many */
    int want_spare; /* free buffers kept after the step */
};

struct row {
    const char *name;
    int free_max;
    struct step steps[MAX_STEPS];
};

static const struct row rows[] = {
    {"a few lent and returned: all kept", 16, {{+5, 0}, {-5, 5}}},
    {"a burst comes home: spares shrink to the minimum", 16, {{+200, 0}, {-100, 100}, {-100, 16}}},
    {"swings while busy: a spare for each buffer still lent",
     16,
     {{+64, 0}, {-30, 30}, {+30, 0}, {-34, 30}, {-30, 16}}},
    {"the minimum holds when few are lent", 16, {{+20, 0}, {-18, 16}, {-2, 16}}},
    {"an owner's larger minimum (a completion loop)", 256, {{+300, 0}, {-300, 256}}},
    {"spares are lent before new buffers are mapped", 16, {{+10, 0}, {-10, 10}, {+4, 6}}},
    {"the default minimum (0: as bufpool_init sets it)", 0, {{+100, 0}, {-100, BUFPOOL_FREE_MAX}}},
};

static void test_row(void **state)
{
    const struct row *row = *state;
    struct bufpool pool;
    bufpool_init(&pool, 48 * 1024);
    if (row->free_max != 0)
        pool.free_max = row->free_max;
    void *held[MAX_HELD];
    int count = 0;
    for (int i = 0; i < MAX_STEPS && row->steps[i].change != 0; i++) {
        const struct step *step = &row->steps[i];
        for (int k = 0; k < step->change; k++) {
            held[count] = bufpool_get(&pool);
            assert_non_null(held[count]);
            ((char *)held[count])[pool.size - 1] = 1; /* mapped and writable to its end */
            count++;
        }
        for (int k = 0; k < -step->change; k++)
            bufpool_put(&pool, held[--count]);
        print_message("%s: step %d: lent %d, spare %d\n", row->name, i, pool.lent, pool.free_count);
        assert_int_equal(pool.lent, count);
        assert_int_equal(pool.free_count, step->want_spare);
    }
    while (count > 0)
        bufpool_put(&pool, held[--count]);
    bufpool_trim(&pool);
    assert_int_equal(pool.free_count, 0);
}

static void test_returned_buffer_reused(void **state)
{
    (void)state;
    struct bufpool pool;
    bufpool_init(&pool, 100); /* rounded up to a page */
    assert_true(pool.size >= 100 && pool.size % 4096 == 0);
    void *first = bufpool_get(&pool);
    bufpool_put(&pool, first);
    assert_ptr_equal(bufpool_get(&pool), first);
    assert_int_equal(pool.free_count, 0);
    bufpool_put(&pool, first);
    bufpool_trim(&pool);
}

int main(void)
{
    struct CMUnitTest tests[sizeof rows / sizeof rows[0] + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        tests[n++] = (struct CMUnitTest){
            .name = rows[i].name, .test_func = test_row, .initial_state = (void *)&rows[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_returned_buffer_reused);
    return _cmocka_run_group_tests("test_bufpool", tests, n, NULL, NULL);
}
