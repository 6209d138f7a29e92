/* histogram — see histogram.h. */
#include "histogram.h"

#include <string.h>

void hist_init(struct histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

int hist_bucket(uint64_t value)
{
    if (value < HIST_EXACT)
        return (int)value;
    int top = 63 - __builtin_clzll(value); /* 7..63 */
    int shift = top - 6;                   /* value >> shift is in 64..127 */
    return HIST_EXACT + (top - 7) * 64 + (int)((value >> shift) - 64);
}

uint64_t hist_bucket_low(int bucket)
{
    if (bucket < HIST_EXACT)
        return (uint64_t)bucket;
    int top = 7 + (bucket - HIST_EXACT) / 64;
    uint64_t sub = (uint64_t)((bucket - HIST_EXACT) % 64) + 64;
    return sub << (top - 6);
}

uint64_t hist_bucket_high(int bucket)
{
    if (bucket < HIST_EXACT)
        return (uint64_t)bucket;
    int top = 7 + (bucket - HIST_EXACT) / 64;
    return hist_bucket_low(bucket) + ((uint64_t)1 << (top - 6)) - 1;
}

void hist_record(struct histogram *h, uint64_t value)
{
    h->counts[hist_bucket(value)]++;
    h->count++;
    h->sum += (double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

uint64_t hist_percentile(const struct histogram *h, double p)
{
    if (h->count == 0)
        return 0;
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = want < 1 ? 1 : want >= (double)h->count ? h->count : (uint64_t)want;
    if ((double)rank < want) /* ceil without libm */
        rank++;
    if (rank == h->count)
        return h->max; /* the last sample: known exactly */
    uint64_t seen = 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t low = hist_bucket_low(b), high = hist_bucket_high(b);
            uint64_t mid = low + (high - low) / 2;
            return mid < h->min ? h->min : mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}

double hist_mean(const struct histogram *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
