/* stats — see stats.h. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct stats_region *stats_create(int worker_count)
{
    size_t size = sizeof(struct stats_region) + (size_t)worker_count * sizeof(struct worker_stats);
    /* Shared and anonymous: after fork() parent and children see the same pages. */
    struct stats_region *region =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return NULL;
    memset(region, 0, size);
    region->worker_count = worker_count;
    for (int i = 0; i < worker_count; i++)
        region->workers[i].id = i;
    return region;
}

void stats_add(uint64_t *counter, uint64_t amount)
{
    __atomic_fetch_add(counter, amount, __ATOMIC_RELAXED);
}

static long voluntary_switches(void)
{
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_nvcsw;
}

/* DOC: sleeps
 * A voluntary context switch is the thread going to sleep in the kernel and
 * being woken. Counting them around wait + accept says how often this worker
 * was woken for a connection, whether or not it got one. */
void stats_wait_begin(struct worker_stats *worker)
{
    stats_sleeps_mark(worker);
}

void stats_wait_end(struct worker_stats *worker)
{
    stats_add(&worker->waits, 1);
    stats_sleeps_since_mark(worker);
}

void stats_sleeps_mark(struct worker_stats *worker)
{
    worker->wait_nvcsw_start = voluntary_switches();
}

void stats_sleeps_since_mark(struct worker_stats *worker)
{
    long now = voluntary_switches();
    stats_add(&worker->sleeps, (uint64_t)(now - worker->wait_nvcsw_start));
    worker->wait_nvcsw_start = now;
}

static double seconds(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

void stats_record_cpu(struct worker_stats *worker, int who)
{
    struct rusage usage;
    getrusage(who, &usage);
    worker->user_s = seconds(usage.ru_utime);
    worker->sys_s = seconds(usage.ru_stime);
    worker->pid = getpid();
}

struct totals {
    uint64_t connections, requests, waits, sleeps, spurious, errors;
};

/* One worker's counters as they are now. Workers add to them while the stats
 * file is written mid-run (SIGUSR1), so each is read as the atomic it is
 * written as (stats_add); the CPU fields are written once, when the worker ends. */
static struct worker_stats snapshot(const struct worker_stats *w)
{
    return (struct worker_stats){
        .id = w->id,
        .pid = w->pid,
        .connections = __atomic_load_n(&w->connections, __ATOMIC_RELAXED),
        .requests = __atomic_load_n(&w->requests, __ATOMIC_RELAXED),
        .waits = __atomic_load_n(&w->waits, __ATOMIC_RELAXED),
        .sleeps = __atomic_load_n(&w->sleeps, __ATOMIC_RELAXED),
        .spurious = __atomic_load_n(&w->spurious, __ATOMIC_RELAXED),
        .errors = __atomic_load_n(&w->errors, __ATOMIC_RELAXED),
        .user_s = w->user_s,
        .sys_s = w->sys_s,
    };
}

static struct totals sum(const struct stats_region *region)
{
    struct totals t = {0};
    for (int i = 0; i < region->worker_count; i++) {
        const struct worker_stats w = snapshot(&region->workers[i]);
        t.connections += w.connections;
        t.requests += w.requests;
        t.waits += w.waits;
        t.sleeps += w.sleeps;
        t.spurious += w.spurious;
        t.errors += w.errors;
    }
    return t;
}

/* Strings in the JSON are option values and paths: escape what JSON requires. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void write_json(FILE *out, const struct stats_region *region, const struct server_spec *spec,
                       const struct server_options *options, struct rusage self,
                       struct rusage children)
{
    struct totals t = sum(region);
    fprintf(out, "{\"server\": ");
    json_string(out, spec->name);
    fprintf(out, ", \"version\": ");
    json_string(out, server_version);
    fprintf(out,
            ", \"workers\": %d,\n \"options\": {\"port\": %d, \"bind\": ", region->worker_count,
            options->port);
    json_string(out, options->bind_address);
    fprintf(out, ", \"root\": ");
    json_string(out, options->root);
    fprintf(out, ", \"workers\": %d, \"max_conns\": %d, \"max_conns_enforced\": ", options->workers,
            options->max_conns);
    json_string(out, options->max_conns_enforced ? options->max_conns_enforced : "no");
    fprintf(out,
            ", \"keepalive_requests\": %d, \"timeout_ms\": %d, \"lab\": %s, "
            "\"lab_crash\": %s, \"lab_public\": %s, \"dotfiles\": %s, \"file_cache\": %s, "
            "\"linger\": \"%s\"",
            options->keepalive_requests, options->timeout_ms, options->lab ? "true" : "false",
            options->lab_crash ? "true" : "false", options->lab_public ? "true" : "false",
            options->dotfiles ? "true" : "false", options->file_cache ? "true" : "false",
            options_linger_names[options->linger]);
    for (const struct model_option *o = spec->model_options; o && o->name; o++) {
        char buf[32];
        fprintf(out, ", ");
        json_string(out, o->name);
        fprintf(out, ": ");
        json_string(out, options_model_value(o, buf, sizeof buf));
    }
    fprintf(out,
            "},\n \"cpu\": {\"self_user_s\": %.6f, \"self_sys_s\": %.6f, "
            "\"children_user_s\": %.6f, \"children_sys_s\": %.6f},\n",
            seconds(self.ru_utime), seconds(self.ru_stime), seconds(children.ru_utime),
            seconds(children.ru_stime));
    fprintf(out,
            " \"totals\": {\"connections\": %llu, \"requests\": %llu, \"waits\": %llu, "
            "\"sleeps\": %llu, \"spurious\": %llu, \"errors\": %llu},\n \"per_worker\": [",
            (unsigned long long)t.connections, (unsigned long long)t.requests,
            (unsigned long long)t.waits, (unsigned long long)t.sleeps,
            (unsigned long long)t.spurious, (unsigned long long)t.errors);
    for (int i = 0; i < region->worker_count; i++) {
        const struct worker_stats now = snapshot(&region->workers[i]), *w = &now;
        fprintf(out,
                "%s\n  {\"id\": %d, \"pid\": %d, \"connections\": %llu, \"requests\": %llu, "
                "\"waits\": %llu, \"sleeps\": %llu, \"spurious\": %llu, \"errors\": %llu, "
                "\"user_s\": %.6f, \"sys_s\": %.6f}",
                i ? "," : "", w->id, (int)w->pid, (unsigned long long)w->connections,
                (unsigned long long)w->requests, (unsigned long long)w->waits,
                (unsigned long long)w->sleeps, (unsigned long long)w->spurious,
                (unsigned long long)w->errors, w->user_s, w->sys_s);
    }
    fprintf(out, "]}\n");
}

/* The person's view: UNP's pr_cpu_time plus the meter table. */
static void print_summary(const struct stats_region *region, const struct server_spec *spec,
                          struct rusage self, struct rusage children)
{
    struct totals t = sum(region);
    fprintf(stderr, "%s: cpu user %.3f s, sys %.3f s (self %.3f + %.3f, children %.3f + %.3f)\n",
            spec->name, seconds(self.ru_utime) + seconds(children.ru_utime),
            seconds(self.ru_stime) + seconds(children.ru_stime), seconds(self.ru_utime),
            seconds(self.ru_stime), seconds(children.ru_utime), seconds(children.ru_stime));
    fprintf(stderr,
            "%s: %llu connections, %llu requests, %llu waits, %llu sleeps, "
            "%llu spurious, %llu errors\n",
            spec->name, (unsigned long long)t.connections, (unsigned long long)t.requests,
            (unsigned long long)t.waits, (unsigned long long)t.sleeps,
            (unsigned long long)t.spurious, (unsigned long long)t.errors);
    if (region->worker_count <= 1)
        return;
    fprintf(stderr, "%6s %8s %11s %9s %8s %8s %8s %8s %8s\n", "worker", "pid", "connections",
            "requests", "waits", "sleeps", "spurious", "user_s", "sys_s");
    for (int i = 0; i < region->worker_count; i++) {
        const struct worker_stats now = snapshot(&region->workers[i]), *w = &now;
        fprintf(stderr, "%6d %8d %11llu %9llu %8llu %8llu %8llu %8.3f %8.3f\n", w->id, (int)w->pid,
                (unsigned long long)w->connections, (unsigned long long)w->requests,
                (unsigned long long)w->waits, (unsigned long long)w->sleeps,
                (unsigned long long)w->spurious, w->user_s, w->sys_s);
    }
}

static int cannot_write(const struct server_spec *spec, const char *path)
{
    fprintf(stderr, "%s: --stats-file %s: cannot write: %s\n", spec->name, path, strerror(errno));
    return 1;
}

int stats_write_file(const struct stats_region *region, const struct server_spec *spec,
                     const struct server_options *options)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children); /* only reaped children count */
    /* DOC: stats-write
     * Write beside, then rename: a reader never sees half a file. The file
     * written is always a new one with a name of its own (mkstemp: O_EXCL and
     * a random suffix), never PATH.tmp opened as it is: in a directory others
     * can write, a PATH.tmp symlink planted there would have a server run as
     * root write through it, and a file left there would be reused. */
    char temporary[4096];
    int length = snprintf(temporary, sizeof temporary, "%s.tmp-XXXXXX", options->stats_file);
    if (length < 0 || (size_t)length >= sizeof temporary) {
        errno = ENAMETOOLONG;
        return cannot_write(spec, options->stats_file);
    }
    int fd = mkstemp(temporary);
    if (fd < 0)
        return cannot_write(spec, temporary);
    FILE *out = fdopen(fd, "w");
    if (out == NULL) {
        close(fd);
        unlink(temporary);
        return cannot_write(spec, temporary);
    }
    fchmod(fd, 0644); /* mkstemp makes it 0600; readable as fopen's file was */
    write_json(out, region, spec, options, self, children);
    if (fclose(out) != 0 || rename(temporary, options->stats_file) != 0) {
        int error = errno;
        unlink(temporary);
        errno = error;
        return cannot_write(spec, options->stats_file);
    }
    return 0;
}

int stats_report(const struct stats_region *region, const struct server_spec *spec,
                 const struct server_options *options)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    if (!options->quiet)
        print_summary(region, spec, self, children);
    return options->stats_file == NULL ? 0 : stats_write_file(region, spec, options);
}
