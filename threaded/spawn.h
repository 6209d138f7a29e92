/* spawn — start a detached thread the way every threaded-server thread starts. */
#ifndef THREADED_SPAWN_H
#define THREADED_SPAWN_H

/* The thread's stack: the handler needs a few KiB of it (a path, a date); the
 * 48 KiB of buffers are malloc'd by http_serve_connection, never put on it. */
enum { THREAD_STACK_SIZE = 256 * 1024 };

/* Start function(argument) detached, with THREAD_STACK_SIZE of stack and
 * SIGINT/SIGTERM blocked, so a stop request is delivered to the main thread
 * (its accept() or sigsuspend() returns) and never to a worker. 0, or an errno. */
int spawn_thread(void *(*function)(void *), void *argument);

#endif
