/* live — see live.h. */
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "server.h"

int live_init(struct live_set *set, int capacity)
{
    set->capacity = capacity;
    set->count = 0;
    set->stopping = false;
    set->fds = malloc((size_t)capacity * sizeof *set->fds);
    set->used = calloc((size_t)capacity, sizeof *set->used);
    if (set->fds == NULL || set->used == NULL) {
        free(set->fds);
        free(set->used);
        errno = ENOMEM;
        return -1;
    }
    for (int i = 0; i < capacity; i++)
        set->fds[i] = -1;
    pthread_mutex_init(&set->lock, NULL);
    /* Timed waits measure on the monotonic clock: a clock change cannot stretch them. */
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&set->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    return 0;
}

struct timespec live_deadline(int milliseconds)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += milliseconds / 1000;
    t.tv_nsec += (long)(milliseconds % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

/* DOC: live-reserve */
int live_reserve(struct live_set *set)
{
    pthread_mutex_lock(&set->lock);
    /* Full: wait for a thread to end. A signal does not wake a condition
     * variable, so the wait is timed and the stop flag looked at each time. */
    while (set->count == set->capacity && !set->stopping && !server_stopping()) {
        struct timespec until = live_deadline(500);
        pthread_cond_timedwait(&set->changed, &set->lock, &until);
    }
    int slot = -1;
    if (!set->stopping && !server_stopping()) {
        for (slot = 0; set->used[slot]; slot++)
            ;
        set->used[slot] = true;
        set->count++;
    }
    pthread_mutex_unlock(&set->lock);
    return slot;
}

void live_set_fd(struct live_set *set, int slot, int fd)
{
    pthread_mutex_lock(&set->lock);
    set->fds[slot] = fd;
    if (set->stopping && fd >= 0)
        shutdown(fd, SHUT_RD); /* taken from the queue after the stop: see live_stop */
    pthread_mutex_unlock(&set->lock);
}

void live_release(struct live_set *set, int slot)
{
    pthread_mutex_lock(&set->lock);
    set->fds[slot] = -1;
    set->used[slot] = false;
    set->count--;
    pthread_cond_broadcast(&set->changed);
    pthread_mutex_unlock(&set->lock);
}

/* DOC: live-stop
 * shutdown(SHUT_RD) makes a read() that waits for the next request return end
 * of stream, so an idle keep-alive connection ends now instead of after
 * --timeout-ms; bytes already received are still read, and a response being
 * written is not touched (the write side stays open). A slot's socket may
 * already be closed inside http_serve_connection with the slot not yet
 * released; its number can then only name a file a handler opened (nothing is
 * accepted any more), and shutdown() on a file fails harmlessly (ENOTSOCK). */
void live_stop(struct live_set *set)
{
    pthread_mutex_lock(&set->lock);
    set->stopping = true;
    for (int i = 0; i < set->capacity; i++)
        if (set->used[i] && set->fds[i] >= 0)
            shutdown(set->fds[i], SHUT_RD);
    pthread_cond_broadcast(&set->changed);
    pthread_mutex_unlock(&set->lock);
}

bool live_stopping(struct live_set *set)
{
    pthread_mutex_lock(&set->lock);
    bool stopping = set->stopping;
    pthread_mutex_unlock(&set->lock);
    return stopping;
}

int live_wait_empty(struct live_set *set, int milliseconds)
{
    struct timespec until = live_deadline(milliseconds);
    pthread_mutex_lock(&set->lock);
    int error = 0;
    while (set->count > 0 && error != ETIMEDOUT)
        error = pthread_cond_timedwait(&set->changed, &set->lock, &until);
    int left = set->count;
    pthread_mutex_unlock(&set->lock);
    return left;
}
