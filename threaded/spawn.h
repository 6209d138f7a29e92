/* spawn — start a detached thread the way every threaded-server thread starts. */
#ifndef THREADED_SPAWN_H
#define THREADED_SPAWN_H

/* The stack a new thread gets when none is set: glibc's default (the stack
 * limit, ulimit -s, at start-up), in KiB. The handler needs a few KiB of it (a
 * path, a date); the 48 KiB of buffers are malloc'd by
 * http_serve_connection, never put on it. */
int spawn_default_stack_kb(void);
/* From now on, threads get this much stack (threaded --stack-kb). */
void spawn_set_stack_kb(int stack_kb);

/* Start function(argument) detached, with SIGINT/SIGTERM blocked, so a stop
 * request is delivered to the main thread and never to a worker. 0, or an errno. */
int spawn_thread(void *(*function)(void *), void *argument);

#endif
