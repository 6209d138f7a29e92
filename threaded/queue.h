/* queue — a bounded queue of connected sockets between the accepting main
 * thread and the pool threads (CS:APP's sbuf, UNP's serv08): a mutex and two
 * condition variables instead of sbuf's three semaphores. */
#ifndef THREADED_QUEUE_H
#define THREADED_QUEUE_H

#include <pthread.h>
#include <stdbool.h>

#include "stats.h"

struct queue {
    pthread_mutex_t lock;     /* guards everything below */
    pthread_cond_t not_empty; /* a pool thread waits here for work */
    pthread_cond_t not_full;  /* the main thread waits here for room */
    int *fds;                 /* ring of capacity slots */
    int capacity, head, count;
    bool closed; /* no more inserts; removers drain, then get -1 */
};

/* Returns 0, or -1 with errno ENOMEM. */
int queue_init(struct queue *queue, int capacity);
/* Append conn_fd, waiting while the queue is full. false if the queue was closed
 * or a stop was requested meanwhile (the caller still owns conn_fd). */
bool queue_insert(struct queue *queue, int conn_fd);
/* Take the oldest socket, waiting while the queue is empty, the wait counted in
 * worker. -1 once the queue is closed and empty. */
int queue_remove(struct queue *queue, struct worker_stats *worker);
/* Wake everybody: inserts fail from now on, removes drain what is queued. */
void queue_close(struct queue *queue);

#endif
