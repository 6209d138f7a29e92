/* race_before_wait — an LD_PRELOAD library for tests/process/run.py: it puts a signal
 * into the window between a server's last test of a condition and its wait, every
 * time, instead of once in a great many runs (docs/fork_per_conn.md, race 2),
 * whatever call the server waits in: sigsuspend, ppoll, pselect, pause,
 * sigwaitinfo, sigtimedwait, sigwait, epoll_pwait, epoll_pwait2, and the plain
 * poll, select and epoll_wait. Each of them runs the injection below first, then
 * the real call.
 *
 * The environment says what to inject, in the process that loaded the library
 * only (a forked child has its own pid and is left alone):
 *   RACE_SIGNAL=N    send the process signal N just before the wait;
 *   RACE_DELAY_MS=N  sleep N ms just before the wait, so that a real event (a
 *                    child's exit) lands in the window;
 *   RACE_EVERY=1     do it before every wait, not only before the first;
 *   RACE_LOG=FILE    append "CALL" to FILE each time, so that the check knows
 *                    the race was injected, and in which call.
 * A caller that keeps the signal blocked until the wait lets it in finds it
 * pending and returns at once; one that lets it in earlier runs the handler in
 * the window and sleeps on in the wait: the lost wakeup. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static pid_t injected_pid; /* the process that loaded us */
static int done;           /* injections made in it */

__attribute__((constructor)) static void remember_pid(void)
{
    injected_pid = getpid();
}

static void inject(const char *call)
{
    if (getpid() != injected_pid)
        return;
    const char *every = getenv("RACE_EVERY");
    if (done > 0 && !(every && every[0] == '1'))
        return;
    done++;
    int saved_errno = errno;
    const char *log = getenv("RACE_LOG");
    if (log != NULL) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            (void)!write(fd, call, strlen(call));
            (void)!write(fd, "\n", 1);
            close(fd);
        }
    }
    const char *delay = getenv("RACE_DELAY_MS");
    if (delay != NULL) {
        long ms = atol(delay);
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&pause, &pause) != 0) /* a signal handled in the window */
            ;
    }
    const char *signal_number = getenv("RACE_SIGNAL");
    if (signal_number != NULL)
        kill(getpid(), atoi(signal_number));
    errno = saved_errno;
}

/* The real function named `name`, of the type of `self`. */
#define REAL(self, name) ((__typeof__(&self))dlsym(RTLD_NEXT, name))

int sigsuspend(const sigset_t *mask)
{
    inject("sigsuspend");
    return REAL(sigsuspend, "sigsuspend")(mask);
}

int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
    inject("ppoll");
    return REAL(ppoll, "ppoll")(fds, count, timeout, mask);
}

int pselect(int count, fd_set *readable, fd_set *writable, fd_set *failed,
            const struct timespec *timeout, const sigset_t *mask)
{
    inject("pselect");
    return REAL(pselect, "pselect")(count, readable, writable, failed, timeout, mask);
}

int pause(void)
{
    inject("pause");
    return REAL(pause, "pause")();
}

int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    inject("sigwaitinfo");
    return REAL(sigwaitinfo, "sigwaitinfo")(set, info);
}

int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    inject("sigtimedwait");
    return REAL(sigtimedwait, "sigtimedwait")(set, info, timeout);
}

int sigwait(const sigset_t *set, int *signal_number)
{
    inject("sigwait");
    return REAL(sigwait, "sigwait")(set, signal_number);
}

int epoll_pwait(int epoll_fd, struct epoll_event *events, int most, int timeout,
                const sigset_t *mask)
{
    inject("epoll_pwait");
    return REAL(epoll_pwait, "epoll_pwait")(epoll_fd, events, most, timeout, mask);
}

int epoll_pwait2(int epoll_fd, struct epoll_event *events, int most, const struct timespec *timeout,
                 const sigset_t *mask)
{
    inject("epoll_pwait2");
    return REAL(epoll_pwait2, "epoll_pwait2")(epoll_fd, events, most, timeout, mask);
}

int poll(struct pollfd *fds, nfds_t count, int timeout)
{
    inject("poll");
    return REAL(poll, "poll")(fds, count, timeout);
}

int select(int count, fd_set *readable, fd_set *writable, fd_set *failed, struct timeval *timeout)
{
    inject("select");
    return REAL(select, "select")(count, readable, writable, failed, timeout);
}

int epoll_wait(int epoll_fd, struct epoll_event *events, int most, int timeout)
{
    inject("epoll_wait");
    return REAL(epoll_wait, "epoll_wait")(epoll_fd, events, most, timeout);
}
