/* stop_before_sigsuspend — an LD_PRELOAD library for tests/process/run.py, check
 * stop-max-procs. Its sigsuspend() sends the process SIGTERM first, then waits:
 * the stop lands between the caller's last test of the stop flag and its wait,
 * every time, instead of once in a great many runs (docs/fork_per_conn.md, race 2).
 * A caller that blocks SIGTERM outside the wait finds it pending and returns at
 * once; one that does not runs the handler now and sleeps on in the wait. */
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask)
{
    int (*real_sigsuspend)(const sigset_t *) =
        (int (*)(const sigset_t *))dlsym(RTLD_NEXT, "sigsuspend");
    kill(getpid(), SIGTERM);
    return real_sigsuspend(mask);
}
