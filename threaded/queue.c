/* queue — see queue.h. */
#include "queue.h"

#include <stdlib.h>
#include <time.h>

#include "live.h"
#include "server.h"

int queue_init(struct queue *queue, int capacity)
{
    queue->fds = malloc((size_t)capacity * sizeof *queue->fds);
    if (queue->fds == NULL)
        return -1; /* errno ENOMEM */
    queue->capacity = capacity;
    queue->head = queue->count = 0;
    queue->closed = false;
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->not_empty, NULL);
    pthread_condattr_t attributes; /* timed waits on the monotonic clock */
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&queue->not_full, &attributes);
    pthread_condattr_destroy(&attributes);
    return 0;
}

/* DOC: queue-insert */
bool queue_insert(struct queue *queue, int conn_fd)
{
    /* EXERCISE queue: the producer's side, waiting while the queue is full */
    pthread_mutex_lock(&queue->lock);
    /* Full. A signal does not wake a condition variable, so the main thread
     * waits in half-second steps and looks at the stop flag between them. */
    while (queue->count == queue->capacity && !queue->closed && !server_stopping()) {
        struct timespec until = live_deadline(500);
        pthread_cond_timedwait(&queue->not_full, &queue->lock, &until);
    }
    bool inserted = !queue->closed && queue->count < queue->capacity;
    if (inserted) {
        queue->fds[(queue->head + queue->count) % queue->capacity] = conn_fd;
        queue->count++;
        pthread_cond_signal(&queue->not_empty); /* one socket: wake one thread, no herd */
    }
    pthread_mutex_unlock(&queue->lock);
    return inserted;
    /* END EXERCISE */
}

int queue_remove(struct queue *queue, struct worker_stats *worker)
{
    /* EXERCISE queue: the consumers' side, waiting while the queue is empty */
    pthread_mutex_lock(&queue->lock);
    stats_wait_begin(worker);
    while (queue->count == 0 && !queue->closed)
        pthread_cond_wait(&queue->not_empty, &queue->lock);
    stats_wait_end(worker);
    int conn_fd = -1;
    if (queue->count > 0) {
        conn_fd = queue->fds[queue->head];
        queue->head = (queue->head + 1) % queue->capacity;
        queue->count--;
        pthread_cond_signal(&queue->not_full);
    }
    pthread_mutex_unlock(&queue->lock);
    return conn_fd;
    /* END EXERCISE */
}

void queue_close(struct queue *queue)
{
    /* EXERCISE queue: the stop, waking every thread that waits */
    pthread_mutex_lock(&queue->lock);
    queue->closed = true;
    pthread_cond_broadcast(&queue->not_empty);
    pthread_cond_broadcast(&queue->not_full);
    pthread_mutex_unlock(&queue->lock);
    /* END EXERCISE */
}
