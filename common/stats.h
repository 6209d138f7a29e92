/* stats — per-worker counters in one shared region (UNP's meter()), the stats
 * JSON file and the stderr summary (docs/design.md#stats-file).
 *
 * The region is created before any fork, so children write their own slot and
 * the parent reads them all at exit. Each slot is written by its owner only,
 * except for per-connection threads that share slot 0; increments are therefore
 * relaxed atomic adds, which cost little and keep ThreadSanitizer quiet. */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "options.h"

struct worker_stats {
    int id;
    pid_t pid;
    uint64_t connections;
    uint64_t requests;
    uint64_t waits;        /* returns from the blocking wait (accept, select, ...) */
    uint64_t sleeps;       /* ru_nvcsw delta around wait + accept */
    uint64_t spurious;     /* an accept that found nothing */
    uint64_t errors;       /* connections ended by an I/O error or a timeout */
    double user_s, sys_s;  /* CPU of this worker, filled when it ends */
    long wait_nvcsw_start; /* private to stats_wait_begin/end */
};

struct stats_region {
    int worker_count;
    struct worker_stats workers[];
};

/* Map a region for worker_count workers, MAP_SHARED|MAP_ANONYMOUS. NULL (errno
 * set) on failure. */
struct stats_region *stats_create(int worker_count);

void stats_add(uint64_t *counter, uint64_t amount);

/* Bracket the wait + accept: counts one wait and the voluntary context switches
 * (sleeps) the calling thread made in between. */
void stats_wait_begin(struct worker_stats *worker);
void stats_wait_end(struct worker_stats *worker);

/* The same count read less often, for an event loop (common/event.c): mark
 * where counting starts, then add the voluntary context switches since the mark
 * (and mark again). */
void stats_sleeps_mark(struct worker_stats *worker);
void stats_sleeps_since_mark(struct worker_stats *worker);

/* Record the calling thread's (RUSAGE_THREAD) or process's CPU into the slot. */
void stats_record_cpu(struct worker_stats *worker, int who);

/* Write options->stats_file now (beside, then renamed). Returns 0, or 1 after
 * one line on stderr naming the file and the system's reason. */
int stats_write_file(const struct stats_region *region, const struct server_spec *spec,
                     const struct server_options *options);

/* At exit: the summary on stderr and, if options->stats_file, the JSON file.
 * Returns 0, or 1 if the stats file could not be written. */
int stats_report(const struct stats_region *region, const struct server_spec *spec,
                 const struct server_options *options);

#endif
