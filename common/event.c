/* event — see event.h. The backend-independent half: the descriptor table,
 * dispatch, and the timers (a binary min-heap ordered by deadline, then by the
 * order timers were armed: O(log n) to start or cancel, O(1) to find the
 * earliest, which is all a wait needs to compute its timeout). */
#include "event.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_backend.h"
#include "io.h"

/* How many waits an event loop lets pass between two readings of ru_nvcsw
 * (DOC: loop-sleeps). */
enum { EVENT_SLEEPS_READ_EVERY = 64 };

const char *const event_backend_names[] = {"select", "poll", "epoll", NULL};

static const struct event_backend *const backends[] = {
    &event_backend_select,
    &event_backend_poll,
    &event_backend_epoll,
};

struct event_watch { /* what one descriptor is watched for */
    int events;
    event_fd_fn *callback;
    void *data;
};

struct event_loop {
    const struct event_backend *backend;
    void *state; /* the backend's own */
    int capacity;
    struct event_watch *watches; /* [capacity], indexed by descriptor */
    struct event_fired *fired;   /* [capacity], filled by each wait */
    struct event_timer **heap;   /* [heap_size]; heap[0] has the earliest deadline */
    size_t timer_count, heap_size;
    uint64_t next_sequence;
    struct worker_stats *stats;
    unsigned waits_unread; /* waits since stats' sleeps were last read */
    sigset_t stop_signals; /* see event_loop_set_stop_signals */
    bool has_stop_signals;
    sigset_t wait_mask; /* the mask each wait sets, when masked: */
    bool masked;        /* inside event_loop_run, with stop signals set */
};

struct event_loop *event_loop_create(const char *backend_name, int max_fds, char *error,
                                     size_t size)
{
    const struct event_backend *backend = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, backend_name) == 0)
            backend = backends[i];
    if (backend == NULL) {
        snprintf(error, size, "unknown event backend \"%s\"", backend_name);
        return NULL;
    }
    struct event_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL) {
        snprintf(error, size, "event loop: out of memory");
        return NULL;
    }
    loop->backend = backend;
    loop->capacity = max_fds < backend->max_capacity ? max_fds : backend->max_capacity;
    if (loop->capacity < 1)
        loop->capacity = 1;
    /* calloc of a large table maps zero pages: untouched entries cost no memory. */
    loop->watches = calloc((size_t)loop->capacity, sizeof *loop->watches);
    loop->fired = calloc((size_t)loop->capacity, sizeof *loop->fired);
    if (loop->watches == NULL || loop->fired == NULL) {
        snprintf(error, size, "event loop: out of memory for %d descriptors", loop->capacity);
        event_loop_destroy(loop);
        return NULL;
    }
    loop->state = backend->create(loop->capacity);
    if (loop->state == NULL) {
        snprintf(error, size, "event backend %s: %s", backend->name, strerror(errno));
        event_loop_destroy(loop);
        return NULL;
    }
    return loop;
}

void event_loop_destroy(struct event_loop *loop)
{
    if (loop == NULL)
        return;
    if (loop->stats != NULL)
        stats_sleeps_since_mark(loop->stats);
    if (loop->state != NULL)
        loop->backend->destroy(loop->state);
    for (size_t i = 0; i < loop->timer_count; i++)
        loop->heap[i]->heap_index = 0;
    free(loop->heap);
    free(loop->fired);
    free(loop->watches);
    free(loop);
}

const char *event_loop_backend(const struct event_loop *loop)
{
    return loop->backend->name;
}
int event_loop_capacity(const struct event_loop *loop)
{
    return loop->capacity;
}

void event_loop_count_waits(struct event_loop *loop, struct worker_stats *worker)
{
    loop->stats = worker;
    loop->waits_unread = 0;
    if (worker != NULL)
        stats_sleeps_mark(worker);
}

/* DOC: event-watch */
int event_watch(struct event_loop *loop, int fd, int events, event_fd_fn *callback, void *data)
{
    if (fd < 0 || fd >= loop->capacity) {
        errno = ERANGE; /* select: FD_SET(fd) would write past the fd_set */
        return -1;
    }
    struct event_watch *watch = &loop->watches[fd];
    events &= EVENT_READ | EVENT_WRITE;
    if (events != watch->events &&
        loop->backend->update(loop->state, fd, watch->events, events) != 0)
        return -1;
    watch->events = events;
    watch->callback = events != 0 ? callback : NULL;
    watch->data = events != 0 ? data : NULL;
    return 0;
}

void event_unwatch(struct event_loop *loop, int fd)
{
    if (fd >= 0 && fd < loop->capacity && loop->watches[fd].events != 0)
        event_watch(loop, fd, 0, NULL, NULL);
}

void event_close(struct event_loop *loop, int fd)
{
    if (loop->backend->close_forgets && fd >= 0 && fd < loop->capacity)
        loop->watches[fd] = (struct event_watch){0}; /* the close below tells the kernel */
    else
        event_unwatch(loop, fd);
    close(fd);
}

/* Timers: the heap. */

static bool timer_before(const struct event_timer *a, const struct event_timer *b)
{
    return a->deadline_ms < b->deadline_ms ||
           (a->deadline_ms == b->deadline_ms && a->sequence < b->sequence);
}

static void heap_place(struct event_loop *loop, size_t index, struct event_timer *timer)
{
    loop->heap[index] = timer;
    timer->heap_index = index + 1;
}

/* Move the timer at index up or down until its parent is earlier and its
 * children later: the heap property. */
static void heap_fix(struct event_loop *loop, size_t index)
{
    struct event_timer *timer = loop->heap[index];
    while (index > 0 && timer_before(timer, loop->heap[(index - 1) / 2])) {
        heap_place(loop, index, loop->heap[(index - 1) / 2]);
        index = (index - 1) / 2;
    }
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= loop->timer_count)
            break;
        if (child + 1 < loop->timer_count && timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop->heap[child], timer))
            break;
        heap_place(loop, index, loop->heap[child]);
        index = child;
    }
    heap_place(loop, index, timer);
}

void event_timer_cancel(struct event_loop *loop, struct event_timer *timer)
{
    if (timer->heap_index == 0)
        return;
    size_t index = timer->heap_index - 1;
    timer->heap_index = 0;
    struct event_timer *last = loop->heap[--loop->timer_count];
    if (index < loop->timer_count) { /* fill the hole with the last one, then fix */
        loop->heap[index] = last;
        heap_fix(loop, index);
    }
}

int event_timer_start(struct event_loop *loop, struct event_timer *timer, int64_t deadline_ms,
                      event_timer_fn *callback, void *data)
{
    event_timer_cancel(loop, timer);
    if (loop->timer_count == loop->heap_size) {
        size_t size = loop->heap_size ? 2 * loop->heap_size : 64;
        struct event_timer **heap = realloc(loop->heap, size * sizeof *heap);
        if (heap == NULL)
            return -1; /* errno ENOMEM */
        loop->heap = heap;
        loop->heap_size = size;
    }
    timer->deadline_ms = deadline_ms;
    timer->sequence = loop->next_sequence++;
    timer->callback = callback;
    timer->data = data;
    loop->heap[loop->timer_count++] = timer;
    heap_fix(loop, loop->timer_count - 1);
    return 0;
}

int64_t event_next_deadline(const struct event_loop *loop)
{
    return loop->timer_count > 0 ? loop->heap[0]->deadline_ms : -1;
}

/* Run the timers that are due. Only those armed before this pass began: a
 * callback that re-arms for "now" runs again next iteration, not in a loop here. */
static int fire_timers(struct event_loop *loop)
{
    int64_t now = io_now_ms();
    uint64_t pass_start = loop->next_sequence;
    int ran = 0;
    while (loop->timer_count > 0) {
        struct event_timer *timer = loop->heap[0];
        if (timer->deadline_ms > now || timer->sequence >= pass_start)
            break;
        event_timer_cancel(loop, timer);
        timer->callback(loop, timer->data); /* may free the timer: touch it no more */
        ran++;
    }
    return ran;
}

/* DOC: event-run-once */
int event_loop_run_once(struct event_loop *loop, int max_wait_ms)
{
    int timeout = max_wait_ms;
    int64_t next = event_next_deadline(loop);
    if (next >= 0) {
        int64_t left = next - io_now_ms();
        if (left < 0)
            left = 0;
        if (timeout < 0 || left < timeout)
            timeout = (int)left;
    }
    int count = loop->backend->wait(loop->state, timeout, loop->masked ? &loop->wait_mask : NULL,
                                    loop->fired);
    /* DOC: loop-sleeps
     * waits counts every return of the wait; sleeps, the voluntary context
     * switches, is read with getrusage only every EVENT_SLEEPS_READ_EVERY waits
     * and when the loop is destroyed, not around each wait: a pair of system
     * calls per wait was over a third of the loop's system calls when a client
     * sends a byte at a time (a few per cent of its CPU). Nothing else in the loop's thread blocks
     * (every socket is non-blocking), so the switches between two readings are the wait's; only a
     * callback that sleeps (a file read missing the page cache) adds to them. */
    if (loop->stats != NULL) {
        stats_add(&loop->stats->waits, 1);
        if (++loop->waits_unread == EVENT_SLEEPS_READ_EVERY) {
            stats_sleeps_since_mark(loop->stats);
            loop->waits_unread = 0;
        }
    }
    if (count < 0 && errno != EINTR)
        return -1;

    int ran = 0;
    for (int i = 0; i < count; i++) {
        /* Look the descriptor up again: an earlier callback in this same pass
         * may have unwatched it, or changed what it waits for. */
        int fd = loop->fired[i].fd;
        struct event_watch *watch = &loop->watches[fd];
        int ready = loop->fired[i].ready & watch->events;
        if (ready != 0) {
            watch->callback(loop, fd, ready, watch->data);
            ran++;
        }
    }
    return ran + fire_timers(loop);
}

void event_loop_set_stop_signals(struct event_loop *loop, const sigset_t *signals)
{
    loop->stop_signals = *signals;
    loop->has_stop_signals = true;
}

/* DOC: event-run
 * The stop signals stay blocked from the check of *stop to the wait, and the
 * wait lets them in atomically: one that arrives in between is pending, and
 * interrupts the wait at once. So the wait needs no limit of its own. */
int event_loop_run(struct event_loop *loop, volatile sig_atomic_t *stop)
{
    sigset_t outside;
    if (loop->has_stop_signals) {
        io_block_outside_waits(&loop->stop_signals, &outside, &loop->wait_mask);
        loop->masked = true;
    }
    int result = 0;
    while (!*stop && result == 0)
        if (event_loop_run_once(loop, -1) < 0)
            result = -1;
    if (loop->has_stop_signals) {
        int error = errno;
        loop->masked = false;
        pthread_sigmask(SIG_SETMASK, &outside, NULL);
        errno = error;
    }
    return result;
}
