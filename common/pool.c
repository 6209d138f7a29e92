/* pool — see pool.h. */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

enum {
    POOL_STOP_GRACE_MS = 5000,  /* in-flight responses may finish; then SIGKILL */
    POOL_RESEND_MS = 200,       /* during the stop, SIGTERM again this often */
    POOL_QUICK_DEATH_MS = 1000, /* a worker dying younger than this is crash-looping */
    POOL_BACKOFF_FIRST_MS = 100,
    POOL_BACKOFF_MAX_MS = 5000,
};

struct pool_slot {
    pid_t pid; /* 0: no worker in this slot right now */
    int64_t started_ms;
    int64_t restart_ms; /* when a dead slot's replacement is due */
    int backoff_ms;     /* 0 while the slot's workers live long enough */
};

/* One pool per process: the parent's bookkeeping. Only the parent touches it. */
static struct {
    struct server *server;
    pool_worker_fn *worker_main;
    pool_fork_fn *before_fork;
    void *context;
    struct pool_slot *slots;
    int count;
    sigset_t outside_mask; /* the mask before pool_start: workers get it back */
    sigset_t wait_mask;    /* inside pool_poll: the stop signals, SIGUSR1, SIGCHLD let in */
} pool;

/* Its only job is to interrupt ppoll(). Reaping happens in the loop, with
 * wait4(), outside any handler: nothing here can race with the bookkeeping. */
static void on_child(int signal_number)
{
    (void)signal_number;
}

static void name_worker(int worker_id)
{
    enum { NAME_MAX_CHARS = 15 }; /* the kernel keeps 15 characters of a name */
    char suffix[16], name[32];
    snprintf(suffix, sizeof suffix, "-w%d", worker_id);
    int room = NAME_MAX_CHARS - (int)strlen(suffix); /* shorten the server's name, */
    snprintf(name, sizeof name, "%.*s%s", room, pool.server->spec->name, suffix);
    prctl(PR_SET_NAME, name); /* not the worker number: "prefork_sele-w3" */
}

/* DOC: pool-worker
 * In the child: the signal mask and SIGCHLD as they were, a name, and death with
 * the parent (PR_SET_PDEATHSIG), so a parent killed with SIGKILL leaves no orphan
 * serving on. Then the model's own loop, and exit. */
_Noreturn static void run_worker(int worker_id, pid_t parent)
{
    struct sigaction action = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &action, NULL);
    sigprocmask(SIG_SETMASK, &pool.outside_mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before prctl took effect */
        exit(0);
    name_worker(worker_id);
    pool.worker_main(pool.server, worker_id, pool.context);
    exit(0);
}

static void start_worker(int worker_id)
{
    struct pool_slot *slot = &pool.slots[worker_id];
    if (pool.before_fork != NULL)
        pool.before_fork(worker_id, pool.context);
    pid_t parent = getpid();
    fflush(NULL); /* or the child would print the parent's buffer again */
    pid_t pid = fork();
    if (pid == 0)
        run_worker(worker_id, parent);
    if (pid < 0) {
        fprintf(stderr, "%s: fork worker %d: %s; retrying in 1 s\n", pool.server->spec->name,
                worker_id, strerror(errno));
        slot->restart_ms = io_now_ms() + 1000;
        return;
    }
    slot->pid = pid;
    slot->started_ms = io_now_ms();
    pool.server->stats->workers[worker_id].pid = pid;
}

static int slot_of(pid_t pid)
{
    for (int i = 0; i < pool.count; i++)
        if (pool.slots[i].pid == pid)
            return i;
    return -1;
}

static double seconds(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* A worker that died while the server is running: say how, and schedule its
 * replacement, later and later while its workers keep dying young. */
static void schedule_replacement(int worker_id, pid_t pid, int status)
{
    struct pool_slot *slot = &pool.slots[worker_id];
    int64_t now = io_now_ms();
    if (now - slot->started_ms >= POOL_QUICK_DEATH_MS)
        slot->backoff_ms = 0;
    else if (slot->backoff_ms == 0)
        slot->backoff_ms = POOL_BACKOFF_FIRST_MS;
    else if (slot->backoff_ms < POOL_BACKOFF_MAX_MS / 2)
        slot->backoff_ms *= 2;
    else
        slot->backoff_ms = POOL_BACKOFF_MAX_MS;
    slot->restart_ms = now + slot->backoff_ms;

    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    fprintf(stderr, "%s: worker %d (pid %d) %s; replacing it in %d ms\n", pool.server->spec->name,
            worker_id, (int)pid, how, slot->backoff_ms);
}

/* DOC: pool-reap
 * Reap every dead worker without blocking (several deaths may have raised one
 * SIGCHLD) and charge its CPU to its slot. Returns the number still alive. */
static int reap_workers(void)
{
    int status;
    struct rusage usage;
    pid_t pid;
    while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
        int id = slot_of(pid);
        if (id < 0)
            continue;
        struct worker_stats *stats = &pool.server->stats->workers[id];
        stats->user_s += seconds(usage.ru_utime);
        stats->sys_s += seconds(usage.ru_stime);
        pool.slots[id].pid = 0;
        if (!server_stopping())
            schedule_replacement(id, pid, status);
    }
    int alive = 0;
    for (int i = 0; i < pool.count; i++)
        alive += pool.slots[i].pid != 0;
    return alive;
}

/* Start the replacements that are due; return ms until the next one, or -1. */
static int64_t replace_due_workers(void)
{
    int64_t next = -1, now = io_now_ms();
    for (int i = 0; i < pool.count; i++) {
        struct pool_slot *slot = &pool.slots[i];
        if (slot->pid != 0)
            continue;
        if (slot->restart_ms <= now)
            start_worker(i);
        if (slot->pid == 0 && (next < 0 || slot->restart_ms - now < next))
            next = slot->restart_ms > now ? slot->restart_ms - now : 0;
    }
    return next;
}

void pool_start(struct server *server, pool_worker_fn *worker_main, pool_fork_fn *before_fork,
                void *context)
{
    pool.server = server;
    pool.worker_main = worker_main;
    pool.before_fork = before_fork;
    pool.context = context;
    /* The workers share the listening socket: one worker's SIGTERM must not
     * shut it for all (the parent's waits are race-free, see pool_poll, and a
     * worker that missed a SIGTERM gets another every POOL_RESEND_MS). */
    server_wake_on_stop(-1);
    pool.count = server->stats->worker_count;
    pool.slots = calloc((size_t)pool.count, sizeof *pool.slots);
    if (pool.slots == NULL)
        server_die(server, "pool");

    /* DOC: pool-signals */
    sigset_t blocked;
    server_stop_signals(&blocked);
    sigaddset(&blocked, SIGCHLD);
    io_block_outside_waits(&blocked, &pool.outside_mask, &pool.wait_mask);
    struct sigaction action = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);

    for (int i = 0; i < pool.count; i++)
        start_worker(i);
}

/* DOC: pool-poll */
int pool_poll(struct pollfd *fds, int count)
{
    server_service(pool.server);
    reap_workers();
    int64_t next_ms = replace_due_workers();
    struct timespec timeout = {next_ms / 1000, (long)(next_ms % 1000) * 1000000};
    if (server_stopping()) {
        errno = EINTR;
        return -1;
    }
    /* ppoll swaps in wait_mask and waits in one step: a signal already pending
     * interrupts it at once instead of being lost between a check and a wait. */
    return ppoll(fds, (nfds_t)count, next_ms >= 0 ? &timeout : NULL, &pool.wait_mask);
}

static void signal_workers(int signal_number)
{
    for (int i = 0; i < pool.count; i++)
        if (pool.slots[i].pid != 0)
            kill(pool.slots[i].pid, signal_number);
}

/* DOC: pool-stop
 * SIGTERM every worker and wait for them all. A worker that read the stop flag
 * just before the signal arrived is blocked in accept() again, so the SIGTERM is
 * repeated until it has gone; after the grace period, SIGKILL. */
void pool_stop(void)
{
    int64_t deadline = io_now_ms() + POOL_STOP_GRACE_MS;
    while (reap_workers() > 0) {
        signal_workers(io_now_ms() < deadline ? SIGTERM : SIGKILL);
        struct timespec pause = {0, POOL_RESEND_MS * 1000000L};
        ppoll(NULL, 0, &pause, &pool.wait_mask);
    }
    sigprocmask(SIG_SETMASK, &pool.outside_mask, NULL);
    free(pool.slots);
    pool.slots = NULL;
}

void pool_run(struct server *server, pool_worker_fn *worker_main, void *context)
{
    pool_start(server, worker_main, NULL, context);
    while (!server_stopping())
        pool_poll(NULL, 0);
    pool_stop();
}
