/* sched — see sched.h. The whole life of a connection:
 *
 *   accept ─▶ sched_spawn(): a task, its coroutine ─▶ run()
 *                                                       │
 *      ┌──────────── http_serve_pooled() ◀──────────────┘
 *      │  io_read() meets EAGAIN ─▶ wait hook: watch fd, arm timer, yield ─┐
 *      │                                                                    │ the loop
 *      │  ◀─ resumed: IO_WAIT_READY (on_ready) or IO_WAIT_TIMEOUT (on_timer) ┘
 *      ▼
 *   the handler returns (it closed the fd through the close hook: unwatch,
 *   then close) ─▶ finish(): stack and task recycled
 *
 * Only the loop resumes coroutines (run()); a coroutine only ever yields back
 * to it, from inside a hook. */
#include "sched.h"

#include <stdlib.h>

#include "coro.h"
#include "http_conn.h"

struct task {
    struct http_conn http; /* the handler's state; its buffers only while in use */
    struct scheduler *scheduler;
    struct coro *coro;
    int fd;
    int waiting;              /* EVENT_READ or EVENT_WRITE while parked on waiting_fd, else 0 */
    int waiting_fd;           /* fd, or the upstream's (proxy mode: a second socket) */
    int wake;                 /* why it was resumed: IO_WAIT_READY, _TIMEOUT, _INTERRUPTED */
    bool interrupted;         /* the stop has failed one of its reads already */
    bool released;            /* its idle stack's pages were given back */
    int64_t idle_since;       /* when it last went idle (io_now_ms) */
    bool cancelled;           /* abandoned at sched_destroy: every wait fails at once */
    struct event_timer timer; /* the deadline of the current wait, or a /lab/sleep */
    struct list_node node;    /* in scheduler->tasks, or ->free_tasks */
};

enum { TASK_FREE_MAX = CORO_FREE_MAX };

static struct scheduler *active; /* the hooks' way to the scheduler: one per process */

void sched_init(struct scheduler *scheduler, struct event_loop *loop, const struct server *server,
                struct worker_stats *stats)
{
    *scheduler = (struct scheduler){
        .loop = loop, .server = server, .stats = stats, .idle_timer = EVENT_TIMER_INIT};
    bufpool_init(&scheduler->buffers, HTTP_BUFFERS_SIZE);
    active = scheduler;
}

/* The coroutine's body: the blocking servers' handler, as it is. */
static void serve_connection(void *arg)
{
    struct task *task = arg;
    http_serve_pooled(&task->http, task->fd, &task->scheduler->server->site, task->scheduler->stats,
                      &task->scheduler->buffers);
}

/* The handler has returned, having closed its socket through the close hook
 * (unwatched, then closed). The stack and the task go back for reuse. */
static void finish(struct task *task)
{
    struct scheduler *scheduler = task->scheduler;
    event_timer_cancel(scheduler->loop, &task->timer);
    list_remove(&task->node);
    scheduler->count--;
    event_acceptor_closed(&scheduler->acceptor); /* room again: the --max-conns rule */
    coro_free(task->coro);
    if (scheduler->free_count < TASK_FREE_MAX) {
        list_push(&scheduler->free_tasks, &task->node);
        scheduler->free_count++;
    } else {
        free(task);
    }
}

/* Idle: waiting for the next request, holding no buffers (http_conn.c gives
 * them back before it waits). */
static bool is_idle(const struct task *task)
{
    return task->waiting == EVENT_READ && task->http.in == NULL;
}

/* DOC: idle-stacks
 * The timer: release the stacks of the tasks idle for SCHED_IDLE_RELEASE_MS,
 * then look again when the next one will have been, but not sooner than a
 * tenth of that delay: ten walks over the tasks a second at most, and a stack
 * released at most 1.1 delays after its task went idle. A connection that is
 * busy again before then costs nothing
 * (releasing at once would cost a madvise and the page faults that bring the
 * pages back, for every request of a keep-alive connection). */
static void release_idle_stacks(struct event_loop *loop, void *data)
{
    struct scheduler *scheduler = data;
    int64_t now = io_now_ms(), next = -1;
    for (struct list_node *node = scheduler->tasks.first; node != NULL; node = node->next) {
        struct task *task = LIST_ITEM(node, struct task, node);
        if (is_idle(task) && !task->released)
            sched_idle_visit(task->coro, task->idle_since, &task->released, now, &next);
    }
    if (next >= 0)
        event_timer_start(loop, &scheduler->idle_timer, sched_idle_next_walk(now, next),
                          release_idle_stacks, scheduler);
}

void sched_idle_visit(struct coro *coro, int64_t idle_since, bool *released, int64_t now_ms,
                      int64_t *oldest)
{
    if (now_ms - idle_since >= SCHED_IDLE_RELEASE_MS) {
        coro_release_stack(coro);
        *released = true;
    } else if (*oldest < 0 || idle_since < *oldest) {
        *oldest = idle_since;
    }
}

int64_t sched_idle_next_walk(int64_t now_ms, int64_t oldest_idle_since)
{
    /* Not before a tenth of the delay from now: with many connections idle
     * since different moments, the next one due may be a millisecond away,
     * and each walk is over every task. */
    int64_t at = oldest_idle_since + SCHED_IDLE_RELEASE_MS;
    int64_t soonest = now_ms + SCHED_IDLE_RELEASE_MS / 10;
    return at > soonest ? at : soonest;
}

/* The coroutine has just parked: if idle, note since when (or, with a release
 * delay of 0, release its stack now). */
static void parked(struct task *task)
{
    if (!is_idle(task))
        return;
    struct scheduler *scheduler = task->scheduler;
    if (SCHED_IDLE_RELEASE_MS == 0) {
        coro_release_stack(task->coro);
        return;
    }
    task->idle_since = io_now_ms();
    task->released = false;
    if (!event_timer_pending(&scheduler->idle_timer))
        event_timer_start(scheduler->loop, &scheduler->idle_timer,
                          task->idle_since + SCHED_IDLE_RELEASE_MS, release_idle_stacks, scheduler);
}

/* DOC: run
 * Resume task's coroutine (from the loop only), telling it why; it runs until
 * its next wait or until its handler returns. */
static void run(struct task *task, int wake)
{
    struct scheduler *scheduler = task->scheduler;
    event_timer_cancel(scheduler->loop, &task->timer);
    task->waiting = 0;
    task->wake = wake;
    scheduler->current = task;
    coro_resume(task->coro, NULL);
    scheduler->current = NULL;
    if (coro_finished(task->coro))
        finish(task);
    else
        parked(task);
}

/* DOC: on-ready
 * The socket is ready. The interest is left registered when the coroutine
 * goes on (a keep-alive connection waits for its next request right after
 * answering, and re-registering would cost two epoll_ctl calls a request); if
 * it fires while the coroutine is busy with something else (a /lab/sleep with
 * a pipelined request arriving), it is dropped then, or level-triggered
 * readiness would wake the loop again and again. The same for a socket the
 * coroutine is not waiting on: the client's, left watched while a proxied
 * request waits for the upstream. */
static void on_ready(struct event_loop *loop, int fd, int ready, void *data)
{
    struct task *task = data;
    if (fd == task->waiting_fd && (task->waiting & ready))
        run(task, IO_WAIT_READY);
    else
        event_unwatch(loop, fd);
}

/* The timer: the deadline of a wait passed, or a /lab/sleep is over. */
static void on_timer(struct event_loop *loop, void *data)
{
    (void)loop;
    struct task *task = data;
    run(task, task->waiting != 0 ? IO_WAIT_TIMEOUT : IO_WAIT_READY);
}

/* The task whose coroutine called a hook. Only coroutines do I/O here. */
static struct task *calling_task(void)
{
    if (active == NULL || active->current == NULL)
        abort();
    return active->current;
}

/* DOC: wait-hook
 * io_read and friends met EAGAIN: park this coroutine on the socket and the
 * deadline, and yield to the loop. */
static int wait_for_socket(int fd, enum io_event event, int64_t deadline_ms)
{
    /* EXERCISE coro-wait: park on the socket and the deadline, yield to the loop */
    struct task *task = calling_task();
    if (task->cancelled)
        return IO_WAIT_TIMEOUT; /* unwinding (sched_destroy): never yield again */
    if (event == IO_READABLE && server_stopping() && !task->interrupted) {
        task->interrupted = true; /* a stop interrupts a read once, like a signal */
        return IO_WAIT_INTERRUPTED;
    }
    int events = event == IO_READABLE ? EVENT_READ : EVENT_WRITE;
    if (event_watch(active->loop, fd, events, on_ready, task) != 0 ||
        event_timer_start(active->loop, &task->timer, deadline_ms, on_timer, task) != 0)
        return IO_WAIT_TIMEOUT; /* cannot wait for it at all: the call fails */
    task->waiting = events;
    coro_yield(NULL); /* the loop runs the others; run() comes back here */
    return task->wake;
    /* END EXERCISE */
}

/* The hook itself: note which socket the task waits on, so on_ready wakes it
 * for that one only (proxy mode gives a handler two), then wait. */
static int wait_hook(int fd, enum io_event event, int64_t deadline_ms)
{
    calling_task()->waiting_fd = fd;
    return wait_for_socket(fd, event, deadline_ms);
}

/* DOC: sleep-hook */
static void sleep_a_while(int milliseconds)
{
    struct task *task = calling_task();
    if (task->cancelled)
        return;
    if (event_timer_start(active->loop, &task->timer, io_now_ms() + milliseconds, on_timer, task) !=
        0)
        return;       /* no timer to wake it: the sleep is cut short */
    coro_yield(NULL); /* waiting stays 0: on_timer resumes with READY */
}

/* DOC: close-hook
 * The handler closes its socket: the loop forgets it first (event.h's rule). */
static void close_socket(int fd)
{
    event_close(active->loop, fd);
}

const struct io_hooks sched_io_hooks = {
    .wait = wait_hook, .sleep = sleep_a_while, .close = close_socket};

/* DOC: sched-spawn */
void sched_spawn(struct event_acceptor *acceptor, int conn_fd)
{
    struct scheduler *scheduler = acceptor->data;
    struct list_node *recycled = list_pop(&scheduler->free_tasks);
    struct task *task;
    if (recycled != NULL) {
        task = LIST_ITEM(recycled, struct task, node);
        scheduler->free_count--;
    } else {
        task = malloc(sizeof *task);
    }
    struct coro *coro = task != NULL ? coro_create(serve_connection, task) : NULL;
    if (coro == NULL) {
        free(task);
        event_acceptor_refuse(acceptor, conn_fd, "out of memory for a coroutine");
        return;
    }
    /* Born zeroed, recycled or not: nothing of the task's last connection
     * (a wake reason, an idle time, its http_conn) reaches this one. */
    *task = (struct task){
        .scheduler = scheduler, .coro = coro, .fd = conn_fd, .timer = EVENT_TIMER_INIT};
    list_push(&scheduler->tasks, &task->node);
    scheduler->count++;
    run(task, IO_WAIT_READY); /* usually as far as its first read's EAGAIN */
}

/* DOC: stop */
void sched_interrupt_readers(struct scheduler *scheduler)
{
    for (struct list_node *node = scheduler->tasks.first, *next; node != NULL; node = next) {
        next = node->next; /* run() may finish and recycle task, never next */
        struct task *task = LIST_ITEM(node, struct task, node);
        if (task->waiting == EVENT_READ && !task->interrupted) {
            task->interrupted = true;
            run(task, IO_WAIT_INTERRUPTED);
        }
    }
}

/* DOC: cancel
 * Abandon a task the drain left busy. Freeing its stack as it is would leak
 * what its handler holds in local variables (the socket, and the file a
 * response is being sent from: struct http_response lives on that stack).
 * So resume it once more, cancelled: its pending wait fails as a timeout, and
 * so does every later one, at once, so the handler unwinds by its own error
 * paths, releasing what it holds and closing the socket, and returns. */
static void cancel(struct task *task)
{
    task->cancelled = true;
    run(task, IO_WAIT_TIMEOUT); /* ends in finish(): no hook yields any more */
}

void sched_destroy(struct scheduler *scheduler)
{
    while (!list_empty(&scheduler->tasks)) /* abandoned mid-request: the drain ran out */
        cancel(LIST_ITEM(scheduler->tasks.first, struct task, node));
    event_timer_cancel(scheduler->loop, &scheduler->idle_timer);
    bufpool_trim(&scheduler->buffers);
    for (struct list_node *node; (node = list_pop(&scheduler->free_tasks)) != NULL;)
        free(LIST_ITEM(node, struct task, node));
    scheduler->free_count = 0;
    coro_trim();
    io_set_hooks(NULL);
    active = NULL;
}
