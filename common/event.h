/* event — one event loop over three interchangeable backends, "select", "poll"
 * and "epoll" (Redis ae style: a handful of functions per backend file, chosen
 * by name at run time), plus one-shot timers. multiplex drives its state
 * machine from it and coroutine resumes its coroutines from it, so the two
 * servers differ only in programming model.
 *
 * Rules for callers:
 *   - Watch only non-blocking descriptors; a callback that meets EAGAIN returns
 *     and waits for the next event.
 *   - Unwatch a descriptor BEFORE closing it (event_close does both, in that
 *     order). select() fails with EBADF on a closed descriptor in its set, and
 *     epoll forgets a closed descriptor by itself, so the loop's table would
 *     disagree with the kernel's. (On epoll, event_close only clears the
 *     table: the close itself is the kernel's unwatch, see event_epoll.c.)
 *   - Callbacks may watch, unwatch, start and cancel timers, and close other
 *     descriptors, freely; a descriptor unwatched during an iteration gets no
 *     further callback in that iteration.
 *   - One loop per thread; nothing here is locked. */
#ifndef EVENT_H
#define EVENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct event_loop;

enum { EVENT_READ = 1, EVENT_WRITE = 2 };

/* ready: EVENT_READ and/or EVENT_WRITE. An error or hang-up on the descriptor
 * is reported as every event it was watched for, so the next read or write
 * returns the error. */
typedef void event_fd_fn(struct event_loop *loop, int fd, int ready, void *data);
typedef void event_timer_fn(struct event_loop *loop, void *data);

/* A one-shot timer. The caller owns the storage (embed it in the connection or
 * coroutine it belongs to): starting and cancelling never allocate. Zero it (or
 * use EVENT_TIMER_INIT) before first use; the fields are private to event.c. */
struct event_timer {
    int64_t deadline_ms; /* absolute, on io_now_ms()'s monotonic clock */
    uint64_t sequence;   /* ties broken first-armed-first-fired */
    size_t heap_index;   /* 0: not pending; else its place in the heap + 1 */
    event_timer_fn *callback;
    void *data;
};
/* clang-format off */
#define EVENT_TIMER_INIT {0, 0, 0, NULL, NULL}
/* clang-format on */

/* The backend names, NULL-terminated, in --backend order; the enum indexes them. */
extern const char *const event_backend_names[];
enum { EVENT_BACKEND_SELECT, EVENT_BACKEND_POLL, EVENT_BACKEND_EPOLL };

/* A loop on the named backend able to watch descriptors 0 .. max_fds-1
 * (the select backend caps this at FD_SETSIZE). NULL on failure, with one line
 * naming the cause in error (size bytes). */
struct event_loop *event_loop_create(const char *backend, int max_fds, char *error, size_t size);
void event_loop_destroy(struct event_loop *loop);

const char *event_loop_backend(const struct event_loop *loop);
/* One more than the highest descriptor this loop can watch (select: FD_SETSIZE). */
int event_loop_capacity(const struct event_loop *loop);

/* Count each return from the backend's wait in worker's waits/sleeps
 * (stats_wait_begin/end). NULL (the default) counts nothing. */
void event_loop_count_waits(struct event_loop *loop, struct worker_stats *worker);

/* Watch fd for events (EVENT_READ | EVENT_WRITE); replaces what fd was watched
 * for before, with this callback and data. events == 0 is event_unwatch.
 * Returns 0, or -1 with errno: ERANGE when fd >= event_loop_capacity() (with
 * select: beyond FD_SETSIZE, where FD_SET would write past the set), or the
 * backend's error (epoll_ctl). */
int event_watch(struct event_loop *loop, int fd, int events, event_fd_fn *callback, void *data);
/* Stop watching fd (no-op if it is not watched). */
void event_unwatch(struct event_loop *loop, int fd);
/* Unwatch fd, then close it: the order the rule above asks for, in one call. */
void event_close(struct event_loop *loop, int fd);

/* Arm timer to call callback(loop, data) once, at deadline_ms (absolute,
 * io_now_ms() clock; a past deadline fires at the next iteration). Re-arming a
 * pending timer moves it. Cost O(log n) in pending timers: a binary heap.
 * Returns 0, or -1 with errno ENOMEM when the heap cannot grow: the timer is
 * then not pending, and the caller must not wait for it. */
int event_timer_start(struct event_loop *loop, struct event_timer *timer, int64_t deadline_ms,
                      event_timer_fn *callback, void *data);
/* Disarm timer (no-op if it is not pending). O(log n). */
void event_timer_cancel(struct event_loop *loop, struct event_timer *timer);
static inline bool event_timer_pending(const struct event_timer *timer)
{
    return timer->heap_index != 0;
}
/* The earliest pending deadline, or -1 if no timer is pending. O(1). */
int64_t event_next_deadline(const struct event_loop *loop);

/* One iteration: wait for readiness at most max_wait_ms (-1: no limit) and no
 * later than the earliest timer, run the callbacks of the ready descriptors,
 * then the callbacks of the timers that are due. Returns how many callbacks
 * ran (0 after a signal interrupted the wait: check your stop flag), or -1
 * with errno if the backend's wait failed. */
int event_loop_run_once(struct event_loop *loop, int max_wait_ms);

/* The signals whose handlers set the flag event_loop_run watches (a server's
 * stop signals SIGINT, SIGTERM and SIGHUP, and SIGUSR1: server_stop_signals). While event_loop_run
 * runs, they are blocked in this thread except inside each wait, which lets them in and waits in
 * one step (pselect, ppoll, epoll_pwait), as common/pool.c does with ppoll: a signal that lands
 * after the check of the flag stays pending and ends the wait at once instead of being lost. */
void event_loop_set_stop_signals(struct event_loop *loop, const sigset_t *signals);

/* Iterate until *stop becomes non-zero (e.g. server_stop_requested) or a wait
 * fails. A wait lasts until something is ready, a timer is due or a signal
 * arrives; set the stop signals first, or a stop signal that lands between
 * the check of *stop and the wait is not seen until the wait ends for some
 * other reason. Returns 0, or -1 with errno. */
int event_loop_run(struct event_loop *loop, volatile sig_atomic_t *stop);

#endif
