/* spurious_wakeup — an LD_PRELOAD library for tests/process/run.py, check stop-pool:
 * every other pthread_cond_wait and pthread_cond_timedwait of each thread returns
 * at once, without waiting, as POSIX allows a condition wait to do at any time
 * (a "spurious wakeup"; the mutex is held on return, as after a real wait). Code
 * that tests its condition again after every wait (a while loop) waits again and
 * sees no difference; code that takes "woken" for "the condition holds" (an if)
 * goes on with an empty queue, every time instead of once in a great many runs. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

static _Thread_local unsigned long waits; /* this thread's condition waits so far */

/* The real function named `name` (glibc's current version), of the type of `self`. */
#define REAL(self, name) ((__typeof__(&self))dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2"))

int pthread_cond_wait(pthread_cond_t *condition, pthread_mutex_t *mutex)
{
    if (waits++ % 2 == 0)
        return 0; /* woken for nothing */
    return REAL(pthread_cond_wait, "pthread_cond_wait")(condition, mutex);
}

int pthread_cond_timedwait(pthread_cond_t *condition, pthread_mutex_t *mutex,
                           const struct timespec *until)
{
    if (waits++ % 2 == 0)
        return 0; /* woken for nothing */
    return REAL(pthread_cond_timedwait, "pthread_cond_timedwait")(condition, mutex, until);
}
