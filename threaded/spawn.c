/* spawn — see spawn.h. */
#include "spawn.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "server.h"

static size_t stack_size = (size_t)SPAWN_STACK_KB * 1024;

void spawn_set_stack_kb(int stack_kb)
{
    stack_size = (size_t)stack_kb * 1024;
}

/* DOC: spawn-thread */
int spawn_thread(void *(*function)(void *), void *argument)
{
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, stack_size);
    /* A new thread inherits its creator's signal mask: block the stop signals
     * and SIGUSR1 (server_stop_signals) around the creation, and the main
     * thread alone keeps receiving them. */
    sigset_t stop_signals, old;
    server_stop_signals(&stop_signals);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
    pthread_t thread;
    int error = pthread_create(&thread, &attributes, function, argument);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attributes);
    return error;
}
