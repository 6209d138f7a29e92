/* spawn — start a detached thread the way every threaded-server thread starts. */
#ifndef THREADED_SPAWN_H
#define THREADED_SPAWN_H

/* The stack a new thread gets unless --stack-kb sets another, in KiB, chosen by
 * measurement (docs/threaded.md, "Stack size"; `make bench ONLY=stacks`). glibc
 * keeps the stacks of ended threads for the next ones, up to 40 MiB in all: 160
 * of this size. Its own default, the stack limit (`ulimit -s`, 8 MiB on most
 * systems), fits 5; past them each new thread maps a fresh stack and each ended
 * one unmaps it, which doubles the CPU per connection. The handler needs a few
 * KiB of it (a path, a date); the 48 KiB of buffers are malloc'd by
 * http_serve_connection, never put on it. */
enum { SPAWN_STACK_KB = 256 };

/* From now on, threads get this much stack (threaded --stack-kb). */
void spawn_set_stack_kb(int stack_kb);

/* Start function(argument) detached, with SIGINT/SIGTERM blocked, so a stop
 * request is delivered to the main thread and never to a worker. 0, or an errno. */
int spawn_thread(void *(*function)(void *), void *argument);

#endif
