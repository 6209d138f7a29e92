/* test_histogram — bench/histogram.c, the rate client's latency record.
 *
 * The table first:
 *   empty histogram                  every percentile 0
 *   one value (0, 1, 127, 128, ...)  every percentile is that value (min/max clamp)
 *   buckets                          contiguous: low(b+1) = high(b)+1, each value in
 *                                    [low, high] of its bucket, 0..2^63 covered
 *   error bound                      the middle of a value's bucket is within 1 %
 *                                    of the value, for values from 1 to 2^62
 *   uniform 1..100 000               p50, p90, p99, p99.9 within 1 % of the exact
 *                                    quantile; p100 exactly the max
 *   squares i² for i = 1..2000       a skewed distribution: quantiles within 1 %
 *   99 % at 1 ms, 1 % at 1 s         p50 and p99 near 1 ms, p99.9 near 1 s: a stall
 *                                    behind the 99th percentile is not averaged away
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "../../bench/histogram.h"

static struct histogram h; /* 29 KiB: not on the stack */

/* |got - want| <= want / 100, or the test fails naming the percentile. */
static void assert_within_1pct(uint64_t got, double want, double p)
{
    double diff = (double)got - want;
    if (diff < 0)
        diff = -diff;
    if (diff > want / 100.0) {
        fail_msg("p%g: got %llu, want %.1f (off by %.2f %%)", p, (unsigned long long)got, want,
                 100.0 * diff / want);
    }
}

static void test_empty(void **state)
{
    (void)state;
    hist_init(&h);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_percentile(&h, 100), 0);
    assert_int_equal(h.count, 0);
    assert_true(hist_mean(&h) == 0.0);
}

/* The mean is exact, not bucketed: Little's law in bench/client.c needs it. */
static void test_mean(void **state)
{
    (void)state;
    hist_init(&h);
    const uint64_t values[] = {1, 1000, 123457, 999};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        hist_record(&h, values[i]);
    assert_true(hist_mean(&h) == (1 + 1000 + 123457 + 999) / 4.0);
}

static void test_one_value(void **state)
{
    (void)state;
    const uint64_t values[] = {0, 1, 127, 128, 129, 1000, 123456789, (uint64_t)1 << 50};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        hist_init(&h);
        hist_record(&h, values[i]);
        assert_int_equal(h.count, 1);
        assert_int_equal(hist_percentile(&h, 0.1), values[i]);
        assert_int_equal(hist_percentile(&h, 50), values[i]);
        assert_int_equal(hist_percentile(&h, 100), values[i]);
    }
}

static void test_buckets_contiguous(void **state)
{
    (void)state;
    assert_int_equal(hist_bucket_low(0), 0);
    for (int b = 0; b + 1 < HIST_BUCKETS; b++) {
        assert_true(hist_bucket_low(b) <= hist_bucket_high(b));
        assert_int_equal(hist_bucket_low(b + 1), hist_bucket_high(b) + 1);
        assert_int_equal(hist_bucket(hist_bucket_low(b)), b);
        assert_int_equal(hist_bucket(hist_bucket_high(b)), b);
    }
    assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), UINT64_MAX);
}

static void test_error_bound(void **state)
{
    (void)state;
    /* Every value near a power of two (where the bucket width changes) and a
     * spread of others: the reported middle of its bucket is within 1 %. */
    for (uint64_t v = 1; v < ((uint64_t)1 << 62); v += v / 4 + 1) {
        for (int d = -2; d <= 2; d++) {
            uint64_t x = v + (uint64_t)(int64_t)d;
            if (x == 0)
                continue;
            int b = hist_bucket(x);
            assert_true(hist_bucket_low(b) <= x && x <= hist_bucket_high(b));
            hist_init(&h);
            hist_record(&h, x);
            hist_record(&h, x == UINT64_MAX ? x : x + 1); /* so the clamp to max is not exact */
            hist_record(&h, 0);
            assert_within_1pct(hist_percentile(&h, 50), (double)x, 50);
        }
    }
}

static void test_uniform(void **state)
{
    (void)state;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(&h, v);
    const double ps[] = {50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        assert_within_1pct(hist_percentile(&h, ps[i]), ps[i] * 1000, ps[i]);
    assert_int_equal(hist_percentile(&h, 100), 100000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 100000);
}

static void test_squares(void **state)
{
    (void)state;
    hist_init(&h);
    for (uint64_t i = 1; i <= 2000; i++)
        hist_record(&h, i * i);
    const double ps[] = {10, 50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double k = ps[i] * 20; /* the rank: ceil(p % of 2000) */
        assert_within_1pct(hist_percentile(&h, ps[i]), k * k, ps[i]);
    }
}

static void test_stall_tail(void **state)
{
    (void)state;
    hist_init(&h);
    for (int i = 0; i < 99000; i++)
        hist_record(&h, 1000); /* 1 ms in µs */
    for (int i = 0; i < 1000; i++)
        hist_record(&h, 1000000); /* 1 s */
    assert_within_1pct(hist_percentile(&h, 50), 1000, 50);
    assert_within_1pct(hist_percentile(&h, 99), 1000, 99);
    assert_within_1pct(hist_percentile(&h, 99.9), 1000000, 99.9);
    assert_int_equal(hist_percentile(&h, 100), 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),       cmocka_unit_test(test_one_value),
        cmocka_unit_test(test_mean),        cmocka_unit_test(test_buckets_contiguous),
        cmocka_unit_test(test_error_bound), cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_squares),     cmocka_unit_test(test_stall_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
