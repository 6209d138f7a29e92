/* prethread — see prethread.h. */
#include "prethread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_conn.h"
#include "live.h"
#include "net.h"
#include "queue.h"
#include "spawn.h"

static struct live_set live; /* one slot per pool thread */
static struct queue queue;   /* queue mode: main thread -> pool threads */
static pthread_mutex_t accept_mutex = PTHREAD_MUTEX_INITIALIZER; /* accept-lock mode */

struct pool_thread {
    struct http_conn conn; /* its buffers are malloc'd: never on the thread's stack */
    struct server *server;
    struct worker_stats *stats; /* this thread's own slot: no sharing */
    int slot;                   /* its live slot, reserved before it starts */
    bool queue;
};

/* accept-lock: whoever holds the mutex sleeps in accept(); the others sleep on
 * the mutex. Only one thread is woken per connection. Returns -1 to retry. */
static int next_by_accept(struct pool_thread *self)
{
    pthread_mutex_lock(&accept_mutex);
    int conn_fd = live_stopping(&live) ? -1 : net_accept(self->server->listen_fd, self->stats);
    pthread_mutex_unlock(&accept_mutex);
    return conn_fd;
}

/* DOC: pool-thread */
static void *pool_thread_main(void *argument)
{
    struct pool_thread *self = argument;
    int slot = self->slot;
    while (!live_stopping(&live)) {
        int conn_fd = self->queue ? queue_remove(&queue, self->stats) : next_by_accept(self);
        if (conn_fd < 0) {
            if (self->queue)
                break; /* the queue was closed and is empty */
            continue;  /* EINTR, EAGAIN, out of descriptors, or stopping */
        }
        live_set_fd(&live, slot, conn_fd);
        net_prepare_connection(conn_fd, self->server->options.timeout_ms);
        http_serve_connection(&self->conn, conn_fd, &self->server->site, self->stats);
        live_set_fd(&live, slot, -1);
    }
    /* Record before releasing the slot: once every slot is free the main
     * thread reads all counters for the stats file. */
    stats_record_cpu(self->stats, RUSAGE_THREAD);
    live_release(&live, slot);
    free(self);
    return NULL;
}

/* queue: the main thread is the acceptor; its waits are counted in the last slot. */
static void accept_into_queue(struct server *server, struct worker_stats *stats)
{
    while (!server_stopping()) {
        server_service(server);
        int conn_fd = net_accept(server->listen_fd, stats);
        if (conn_fd < 0)
            continue;
        /* Full: the main thread waits for a pool thread to take one; meanwhile
         * new clients wait in the kernel's listen queue. */
        if (!queue_insert(&queue, conn_fd))
            close(conn_fd);
    }
    stats_record_cpu(stats, RUSAGE_THREAD);
}

/* accept-lock: the pool accepts, the main thread only waits for the stop
 * signal. sigsuspend unblocks and sleeps in one step, so a signal that arrives
 * just before cannot be missed (it stays pending until then). */
static void wait_for_stop(struct server *server)
{
    sigset_t stop_signals, unblocked;
    server_stop_signals(&stop_signals); /* SIGUSR1 too: it ends sigsuspend */
    pthread_sigmask(SIG_BLOCK, &stop_signals, &unblocked);
    for (int signal_number = 1; signal_number < NSIG; signal_number++)
        if (sigismember(&stop_signals, signal_number) == 1)
            sigdelset(&unblocked, signal_number);
    while (!server_stopping()) {
        server_service(server);
        sigsuspend(&unblocked);
    }
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
}

void prethread_run(struct server *server, int threads, bool use_queue)
{
    if (live_init(&live, threads) != 0 || (use_queue && queue_init(&queue, threads) != 0))
        server_die(server, "connection slots");
    for (int i = 0; i < threads; i++) {
        struct pool_thread *thread = malloc(sizeof *thread);
        if (thread == NULL)
            server_die(server, "pool thread");
        thread->server = server;
        thread->stats = &server->stats->workers[i];
        thread->queue = use_queue;
        /* Reserved here, not by the thread: a stop that comes before the thread
         * runs must still find it counted, or the main thread would write the
         * stats file while the thread records its CPU. */
        thread->slot = live_reserve(&live);
        if (thread->slot < 0) { /* already asked to stop */
            free(thread);
            break;
        }
        int error = spawn_thread(pool_thread_main, thread);
        if (error != 0) {
            errno = error;
            server_die(server, "pthread_create");
        }
    }

    if (use_queue)
        accept_into_queue(server, &server->stats->workers[threads]);
    else
        wait_for_stop(server);

    /* Stop: end idle connections, wake every thread where it sleeps (the queue;
     * a thread in accept() was woken already: the stop signal's handler shut
     * the listening socket, see server_wake_on_stop), then give in-flight
     * responses time to finish. */
    live_stop(&live);
    if (use_queue)
        queue_close(&queue);
    int left = live_wait_empty(&live, LIVE_DRAIN_MS);
    if (left > 0)
        fprintf(stderr, "%s: %d pool threads still busy after %d ms; exiting anyway\n",
                server->spec->name, left, LIVE_DRAIN_MS);
}
