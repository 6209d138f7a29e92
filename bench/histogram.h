/* histogram — latencies in log-sized buckets, HdrHistogram's idea in a page.
 *
 * A value below 128 has a bucket of its own (exact). Above, a value keeps its
 * top 7 significant bits: values from 2^k to 2^(k+1) share 64 buckets of equal
 * width 2^(k-6), so a bucket is at most 1/64 of the values in it wide and the
 * middle of the bucket, which a percentile reports, is within 1/128 (0.8 %) of
 * every value in it. Nothing is stored per sample: 64-bit values need
 * HIST_BUCKETS counters, about 29 KiB, whatever the number of samples.
 * The unit is the caller's (the rate client records microseconds). */
#ifndef HISTOGRAM_H
#define HISTOGRAM_H

#include <stdint.h>

#define HIST_EXACT   128                          /* values below this are exact */
#define HIST_BUCKETS (HIST_EXACT + (64 - 7) * 64) /* 7..63: the top bit of the rest */

struct histogram {
    uint64_t count;
    uint64_t min, max; /* exact, not bucketed */
    double sum;        /* of every value, for the mean (Little's law needs it) */
    uint64_t counts[HIST_BUCKETS];
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t value);
/* The value at percentile p (0 < p <= 100): the smallest bucket whose
 * cumulative count reaches ceil(p% of count), as the middle of that bucket,
 * clamped to [min, max]; the rank of the last sample (p100) is the exact
 * max. 0 for an empty histogram. */
uint64_t hist_percentile(const struct histogram *h, double p);
/* The mean of the recorded values, exact (not bucketed); 0 when empty. */
double hist_mean(const struct histogram *h);
/* The bucket a value falls in, and the lowest and highest value of a bucket
 * (for the tests and for anyone checking the error bound). */
int hist_bucket(uint64_t value);
uint64_t hist_bucket_low(int bucket);
uint64_t hist_bucket_high(int bucket);

#endif
