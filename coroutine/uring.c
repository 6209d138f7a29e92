/* uring — see uring.h. The readiness loop (sched.c) waits until a socket is
 * ready, then the coroutine makes the system call. Here the coroutine hands
 * the call itself to the kernel and yields; the kernel does it when it can and
 * posts the result:
 *
 *   coroutine: io_read() ─▶ read hook: a recv SQE, its deadline noted on the
 *              task (DOC: uring-deadlines) ─▶ yield
 *   loop turn: io_uring_submit_and_wait: every SQE queued since the last turn
 *              goes in, in one system call; a recv with data waiting completes
 *              at once, the others when data comes (or the deadline sweep
 *              cancels them) ─▶ for each CQE: resume its coroutine with the
 *              result
 *
 * The pieces, each an SQE whose user_data is its task (or a tag below):
 *   recv / send           io_read, io_write_all (the operation hooks, io.h)
 *   recv, buffer select   the wait hook for an idle connection: it holds no
 *                         buffer; the kernel picks a provided buffer from the
 *                         ring only when the next request's first bytes come,
 *                         and the handler's read copies them out
 *                         (DOC: uring-idle-wait; a kernel before 5.19, without
 *                         buffer rings: a poll instead), polled first
 *   poll                  sendfile(2) after EAGAIN waits to write
 *   timeout (deadlines)   one for the earliest deadline of every operation in
 *                         flight; when it fires, the sweep cancels what is
 *                         overdue and arms the next (DOC: uring-deadlines)
 *   timeout               /lab/sleep, and the pause after EMFILE on accept
 *   timeout (idle stacks) the next look for stacks idle a second, to give
 *                         their pages back (DOC: uring-idle-stacks)
 *   close                 the close hook; nobody waits for its completion
 *   accept                one at a time, re-armed after each (DOC: uring-accept)
 *   read (signalfd)       the stop signals and SIGUSR1, through the ring
 *                         (DOC: uring-stop-signal)
 *   async cancel          the sweep's overdue operations, the stop (interrupt
 *                         the readers) and the end
 *
 * A task has at most one operation in flight, and its coroutine is suspended
 * in a hook all that time: the buffer the kernel uses stays valid, and a CQE
 * for a task always finds it alive. */
#include "uring.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bufpool.h"
#include "coro.h"
#include "event_server.h"
#include "http_conn.h"
#include "io.h"
#include "list.h"
#include "sched.h"

enum {
    RING_ENTRIES = 1024,    /* SQEs per turn before an early submit; the
                             * CQ is twice that, and overflow is kept */
    ACCEPT_PAUSE_MS = 100,  /* out of descriptors: accept again after */
    SLEEPS_READ_EVERY = 64, /* as the event loop (event.c, DOC: loop-sleeps) */
    TASK_FREE_MAX = CORO_FREE_MAX,
    FIRST_BYTES = 2048, /* a provided buffer: an idle connection's first read */
    FIRST_BUFFERS = 64, /* how many (a power of two); lent for one turn each */
    FIRST_GROUP = 1,    /* their buffer group id */
    /* Spare handler buffers kept (bufpool.h). The readiness loop answers a
     * request within one resume, so a few are in hand at once; here each
     * request holds its buffers from its receive to its send's completion, a
     * turn later, so as many are in hand as requests are answered in a turn
     * (up to one per client). Keeping fewer spares than that costs an mmap
     * and a munmap per request (measured: 70 of each per turn at 256
     * clients); keeping these pins up to 12 MiB after a burst. */
    SPARE_BUFFERS = 256,
};

/* What a task's operation in flight is, for the stop. */
enum op { OP_NONE, OP_READ, OP_OTHER };

struct task {
    struct http_conn http; /* the handler's state; its buffers only while in use */
    struct coro *coro;
    int fd;
    int result;                      /* the completion's res */
    unsigned result_flags;           /* and its flags */
    enum op op;                      /* in flight, or OP_NONE */
    int64_t deadline_ms;             /* of the operation in flight; -1 none (a sleep) */
    bool timed_out;                  /* the deadline sweep cancelled it */
    char *first;                     /* a provided buffer holding the request's first */
    size_t first_length, first_used; /* bytes, read before the handler had buffers */
    unsigned first_id;
    bool interrupted;              /* the stop has failed one of its reads already */
    bool interrupting;             /* a cancel for the stop is on its way */
    bool cancelled;                /* abandoned after the drain: every hook fails at once */
    bool idle;                     /* waiting for its next request, holding no buffers */
    bool released;                 /* its idle stack's pages were given back */
    int64_t idle_since;            /* when it last went idle */
    struct __kernel_timespec when; /* /lab/sleep's time, read by the kernel at submit */
    struct list_node node;         /* in tasks, or free_tasks */
};

/* user_data of the SQEs that are not a task's; 0: nobody waits for it. */
static char accept_tag, pause_tag, signal_tag, deadline_tag, idle_tag;
#define TAG(tag) ((void *)&(tag))

static struct uring_loop {
    struct io_uring ring;
    struct server *server;
    struct worker_stats *stats;
    int listen_fd;
    bool accepting;       /* an accept is armed, or the pause before one */
    bool stepped_aside;   /* at --max-conns, the socket left to a sibling */
    bool poll_first;      /* idle waits poll first, until the kernel says EINVAL */
    struct task *current; /* the task running now; NULL in the loop */
    struct list tasks, free_tasks;
    int count, free_count;
    struct bufpool buffers;
    struct event_acceptor refuser; /* for the --max-conns rule and its 503 (event_server.h) */
    unsigned waits_unread;
    struct __kernel_timespec pause;
    bool idle_walk_armed; /* the timeout of the next look for idle stacks */
    struct __kernel_timespec idle_walk_when;
    int64_t sweep_at; /* the deadline timeout armed last; -1 none */
    struct __kernel_timespec sweep_when;
    struct io_uring_buf_ring *first_ring; /* NULL: idle waits are polls */
    char *first_bytes;                    /* FIRST_BUFFERS x FIRST_BYTES */
    int signal_fd;                        /* the stop signals, read through the ring */
    struct signalfd_siginfo signal;       /* what the read of signal_fd fills */
} loop;

/* A test switch: URING_TEST_SETUP_ERRNO=N makes the ring's creation fail with
 * errno N, as a kernel without io_uring (ENOSYS), kernel.io_uring_disabled
 * (EPERM) or a seccomp filter would. tests/eventloop checks the message. */
static int queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
    const char *fake = getenv("URING_TEST_SETUP_ERRNO");
    if (fake != NULL && atoi(fake) > 0)
        return -atoi(fake);
    return io_uring_queue_init(entries, ring, flags);
}

int uring_available(char *error, size_t size)
{
    struct io_uring probe;
    int result = queue_init(2, &probe, 0);
    if (result == 0) {
        bool ext_arg = probe.features & IORING_FEAT_EXT_ARG;
        io_uring_queue_exit(&probe);
        if (ext_arg)
            return 0;
        snprintf(error, size,
                 "io_uring unavailable: the kernel is older than 5.11 "
                 "(no IORING_FEAT_EXT_ARG)");
        return -1;
    }
    const char *why = result == -ENOSYS   ? " (a kernel without io_uring, or a seccomp filter)"
                      : result == -EPERM  ? " (sysctl kernel.io_uring_disabled, or a seccomp "
                                            "filter)"
                      : result == -ENOMEM ? " (locked memory: ulimit -l)"
                                          : "";
    snprintf(error, size, "io_uring unavailable: io_uring_setup: %s%s", strerror(-result), why);
    return -1;
}

/* An SQE; if the submission queue is full, submit what is in it first. room:
 * how many SQEs the caller will take in a row (a linked pair must not be cut
 * by a submit between them). */
static struct io_uring_sqe *take_sqe(unsigned room)
{
    if (io_uring_sq_space_left(&loop.ring) < room)
        io_uring_submit(&loop.ring);
    return io_uring_get_sqe(&loop.ring);
}

/* Cancel what is in flight with user_data data: a task's operation, whose
 * completion then comes back -ECANCELED (or with its result, if it finished
 * first), or a tagged one. The cancel's own completion is nobody's. */
static void cancel_data(void *data)
{
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_cancel(sqe, data, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

static void set_time(struct __kernel_timespec *when, int64_t ms)
{
    when->tv_sec = ms / 1000;
    when->tv_nsec = (ms % 1000) * 1000000;
}

/* The task whose coroutine called a hook. Only coroutines do I/O here. */
static struct task *calling_task(void)
{
    if (loop.current == NULL)
        abort();
    return loop.current;
}

/* A ring timeout at at_ms on the io_now_ms clock (the kernel's monotonic one),
 * its completion tagged tag; when must outlive the submit. */
static void arm_timeout_at(struct __kernel_timespec *when, int64_t at_ms, void *tag)
{
    set_time(when, at_ms);
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_timeout(sqe, when, 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data(sqe, tag);
}

/* DOC: uring-deadlines
 * Deadlines are not a timer per operation (a linked timeout is an SQE, a
 * kernel timer armed and cancelled, and a CQE, for every receive and send:
 * about a fifth of the CPU per request, measured). Each operation notes its
 * deadline; one ring timeout is armed for the earliest, and when it fires
 * the sweep cancels what is overdue and arms the next. A keep-alive
 * connection's deadlines move forward with every request, so under load the
 * sweep runs about once per --timeout-ms, not once per request. */
static void arm_sweep(int64_t at_ms)
{
    arm_timeout_at(&loop.sweep_when, at_ms, TAG(deadline_tag));
    loop.sweep_at = at_ms;
}

/* The deadline timeout fired (or an older one armed for a later time). */
static void sweep_deadlines(void)
{
    int64_t now = io_now_ms(), next = -1;
    loop.sweep_at = -1;
    for (struct list_node *node = loop.tasks.first; node != NULL; node = node->next) {
        struct task *task = LIST_ITEM(node, struct task, node);
        if (task->op == OP_NONE || task->deadline_ms < 0 || task->timed_out)
            continue;
        if (task->deadline_ms <= now) {
            task->timed_out = true;
            cancel_data(task);
        } else if (next < 0 || task->deadline_ms < next) {
            next = task->deadline_ms;
        }
    }
    if (next >= 0)
        arm_sweep(next);
}

/* DOC: uring-idle-stacks
 * As the readiness scheduler (sched.c, DOC: idle-stacks): a task idle for
 * SCHED_IDLE_RELEASE_MS gives the pages of its stack below its idle frame back
 * (coro_release_stack); one ring timeout at a time says when to look. */
static void arm_idle_walk(int64_t at_ms)
{
    arm_timeout_at(&loop.idle_walk_when, at_ms, TAG(idle_tag));
    loop.idle_walk_armed = true;
}

static void release_idle_stacks(void)
{
    int64_t now = io_now_ms(), next = -1;
    loop.idle_walk_armed = false;
    for (struct list_node *node = loop.tasks.first; node != NULL; node = node->next) {
        struct task *task = LIST_ITEM(node, struct task, node);
        if (task->idle && !task->released)
            sched_idle_visit(task->coro, task->idle_since, &task->released, now, &next);
    }
    if (next >= 0 && !server_stopping())
        arm_idle_walk(sched_idle_next_walk(now, next));
}

/* The task starts to wait for its next request, holding no buffers. */
static void went_idle(struct task *task)
{
    task->idle = true;
    task->released = false;
    task->idle_since = io_now_ms();
    if (!loop.idle_walk_armed && !server_stopping())
        arm_idle_walk(task->idle_since + SCHED_IDLE_RELEASE_MS);
}

/* Queue sqe for the calling task with its deadline, yield until its
 * completion, and return the completion's res. */
static int submit_and_yield(struct task *task, struct io_uring_sqe *sqe, enum op op,
                            int64_t deadline_ms)
{
    io_uring_sqe_set_data(sqe, task);
    task->deadline_ms = deadline_ms;
    task->timed_out = false;
    if (loop.sweep_at < 0 || deadline_ms < loop.sweep_at)
        arm_sweep(deadline_ms);
    task->op = op;
    coro_yield(NULL); /* the loop resumes us with task->result */
    return task->result;
}

/* A failed operation's res as errno: cancelled by its timeout is ETIMEDOUT,
 * cancelled by the stop is EINTR. */
static int failure_errno(struct task *task, int result)
{
    if (result == -ECANCELED || result == -EINTR) {
        bool stop = task->interrupting && !task->timed_out;
        task->interrupting = false;
        return stop ? EINTR : ETIMEDOUT;
    }
    return -result;
}

/* A stop fails one read of each connection at once, as a signal fails a
 * blocking read (sched.c does the same). */
static bool interrupt_read(struct task *task)
{
    if (!server_stopping() || task->interrupted)
        return false;
    task->interrupted = true;
    return true;
}

/* DOC: uring-read-hook */
/* The request's first bytes, read by the idle wait into a provided buffer,
 * go back to the ring once the handler has them. */
static void give_back_first(struct task *task)
{
    io_uring_buf_ring_add(loop.first_ring, task->first, FIRST_BYTES, task->first_id,
                          io_uring_buf_ring_mask(FIRST_BUFFERS), 0);
    io_uring_buf_ring_advance(loop.first_ring, 1);
    task->first = NULL;
}

static ssize_t ring_read(int fd, void *buf, size_t length, int64_t deadline_ms)
{
    struct task *task = calling_task();
    if (task->first != NULL && fd == task->fd) { /* what the idle wait read: no system call */
        size_t n = task->first_length - task->first_used;
        n = n < length ? n : length;
        memcpy(buf, task->first + task->first_used, n);
        task->first_used += n;
        if (task->first_used == task->first_length)
            give_back_first(task);
        return (ssize_t)n;
    }
    if (task->cancelled || interrupt_read(task)) {
        errno = task->cancelled ? ETIMEDOUT : EINTR;
        return -1;
    }
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_recv(sqe, fd, buf, length, 0);
    int result = submit_and_yield(task, sqe, OP_READ, deadline_ms);
    if (result >= 0)
        return result;
    errno = failure_errno(task, result);
    return -1;
}

static ssize_t ring_write(int fd, const void *buf, size_t length, int64_t deadline_ms)
{
    struct task *task = calling_task();
    if (task->cancelled) {
        errno = ETIMEDOUT;
        return -1;
    }
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_send(sqe, fd, buf, length, MSG_NOSIGNAL);
    int result = submit_and_yield(task, sqe, OP_OTHER, deadline_ms);
    if (result > 0)
        return result;
    errno = result == 0 ? EIO : failure_errno(task, result);
    return -1;
}

/* DOC: uring-idle-wait
 * An idle connection waits for its next request holding no buffer. With
 * provided buffers, the wait is a receive whose buffer the kernel picks from
 * the ring only when data comes (IOSQE_BUFFER_SELECT): the request's first
 * bytes arrive with the wake-up, and the handler's read copies them out, one
 * operation per request instead of a poll and then a receive (which cost
 * twice the CPU per request, measured). If the ring is empty (ENOBUFS), the
 * wait just returns and the handler's own receive waits.
 * The wait is queued right after the answer went out, before the client can
 * have sent its next request, so a first try would fail: IORING_RECVSEND_
 * POLL_FIRST skips it and arms the kernel's poll at once (about 0.4 us of
 * system time per request at 256 clients, measured; a kernel before 5.19
 * refuses the flag with EINVAL, and the wait is queued again without it). */
static int first_bytes_wait(struct task *task, int fd, int64_t deadline_ms)
{
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_recv(sqe, fd, NULL, FIRST_BYTES, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = FIRST_GROUP;
    if (loop.poll_first)
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    int result = submit_and_yield(task, sqe, OP_READ, deadline_ms);
    if (result == -EINVAL && loop.poll_first) { /* a kernel before 5.19 */
        loop.poll_first = false;
        return first_bytes_wait(task, fd, deadline_ms);
    }
    if (result > 0 && (task->result_flags & IORING_CQE_F_BUFFER)) {
        task->first_id = task->result_flags >> IORING_CQE_BUFFER_SHIFT;
        task->first = loop.first_bytes + (size_t)task->first_id * FIRST_BYTES;
        task->first_length = (size_t)result;
        task->first_used = 0;
    }
    if (result >= 0 || result == -ENOBUFS)
        return IO_WAIT_READY; /* end of stream or data: the read sees which */
    int error = failure_errno(task, result);
    return error == EINTR       ? IO_WAIT_INTERRUPTED
           : error == ETIMEDOUT ? IO_WAIT_TIMEOUT
                                : IO_WAIT_READY;
}

/* The wait hook: for reading, first_bytes_wait if there are provided
 * buffers; else, and for writing (sendfile(2) after EAGAIN), a one-shot poll. */
static int ring_wait(int fd, enum io_event event, int64_t deadline_ms)
{
    struct task *task = calling_task();
    if (task->cancelled)
        return IO_WAIT_TIMEOUT;
    if (event == IO_READABLE && interrupt_read(task))
        return IO_WAIT_INTERRUPTED;
    if (event == IO_READABLE && task->http.in == NULL)
        went_idle(task);
    if (event == IO_READABLE && loop.first_ring != NULL)
        return first_bytes_wait(task, fd, deadline_ms);
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_poll_add(sqe, fd, event == IO_READABLE ? POLLIN : POLLOUT);
    int result =
        submit_and_yield(task, sqe, event == IO_READABLE ? OP_READ : OP_OTHER, deadline_ms);
    if (result >= 0)
        return IO_WAIT_READY; /* ready, or an error the retried call will see */
    int error = failure_errno(task, result);
    return error == EINTR       ? IO_WAIT_INTERRUPTED
           : error == ETIMEDOUT ? IO_WAIT_TIMEOUT
                                : IO_WAIT_READY;
}

/* DOC: uring-sleep-hook */
static void ring_sleep(int milliseconds)
{
    struct task *task = calling_task();
    if (task->cancelled)
        return;
    set_time(&task->when, milliseconds);
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_timeout(sqe, &task->when, 0, 0);
    io_uring_sqe_set_data(sqe, task);
    task->op = OP_OTHER;
    task->deadline_ms = -1; /* not the sweep's */
    coro_yield(NULL);       /* res -ETIME: the time is up */
}

/* The close hook: closed by the ring, in the next submit; nobody waits. */
static void ring_close(int fd)
{
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, NULL);
}

static const struct io_hooks ring_hooks = {.wait = ring_wait,
                                           .sleep = ring_sleep,
                                           .close = ring_close,
                                           .read = ring_read,
                                           .write = ring_write};

static void arm_accept(void);

/* The coroutine's body: the blocking servers' handler, as it is. */
static void serve_connection(void *arg)
{
    struct task *task = arg;
    http_serve_pooled(&task->http, task->fd, &loop.server->site, loop.stats, &loop.buffers);
}

/* Resume task's coroutine until its next operation or its end. */
static void run(struct task *task)
{
    task->op = OP_NONE;
    loop.current = task;
    coro_resume(task->coro, NULL);
    loop.current = NULL;
    if (!coro_finished(task->coro))
        return;
    if (task->first != NULL)
        give_back_first(task); /* its handler ended before reading them */
    list_remove(&task->node);
    loop.count--;
    event_acceptor_publish(&loop.refuser); /* room again: the --max-conns rule */
    if (loop.stepped_aside && !server_stopping()) {
        loop.stepped_aside = false;
        arm_accept();
    }
    coro_free(task->coro);
    if (loop.free_count < TASK_FREE_MAX) {
        list_push(&loop.free_tasks, &task->node);
        loop.free_count++;
    } else {
        free(task);
    }
}

static void spawn(int conn_fd)
{
    struct list_node *recycled = list_pop(&loop.free_tasks);
    struct task *task;
    if (recycled != NULL) {
        task = LIST_ITEM(recycled, struct task, node);
        loop.free_count--;
    } else {
        task = malloc(sizeof *task);
    }
    struct coro *coro = task != NULL ? coro_create(serve_connection, task) : NULL;
    if (coro == NULL) {
        free(task);
        stats_add(&loop.stats->errors, 1);
        close(conn_fd);
        return;
    }
    *task = (struct task){.coro = coro, .fd = conn_fd};
    list_push(&loop.tasks, &task->node);
    loop.count++;
    run(task); /* usually as far as its first wait */
}

/* DOC: uring-accept
 * One accept in flight per ring, never a multishot one. On a listening socket
 * the loops share (--workers N), a multishot accept takes every connection
 * queued on it, as fast as they come, into the ring that armed it first: one
 * worker served them all, the other none (docs/coroutine.md, "One accept at a
 * time"). With one at a time, a ring takes a connection and arms the next
 * accept at its next turn, while the other rings' accepts take theirs: the
 * kernel's queue, not a ring, holds what nobody took yet. That also bounds
 * what a kill -9 of a worker loses: the connections it was serving and at most
 * the one its last accept took, never the queue.
 * The --max-conns rule (event_server.h): at --max-conns, with a sibling that
 * has room, arm nothing (step aside) until one of this ring's connections ends
 * (run()); with every loop full, arm it: the connection gets 503. */
static void arm_accept(void)
{
    if (loop.accepting)
        return; /* one in flight already */
    if (!event_acceptor_may_accept(&loop.refuser)) {
        loop.stepped_aside = true;
        return;
    }
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_accept(sqe, loop.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, TAG(accept_tag));
    loop.accepting = true;
}

static void accepted(int result)
{
    loop.accepting = false;
    if (result >= 0) {
        if (server_stopping()) {
            close(result); /* taken in the moment the stop came: not served */
        } else if (loop.count >= loop.server->options.max_conns) {
            /* Every loop was full when this accept was armed (a sibling that
             * got room since may make this one 503 too many: a narrow race). */
            event_acceptor_refuse(&loop.refuser, result,
                                  "--max-conns reached in every loop on this socket");
        } else { /* TCP_NODELAY came from the listening socket (common/net.c) */
            spawn(result);
            event_acceptor_publish(&loop.refuser);
        }
    }
    if (server_stopping())
        return;
    if (result == -EMFILE || result == -ENFILE) {
        fprintf(stderr, "%s: accept: %s; pausing %d ms\n", loop.server->spec->name,
                strerror(-result), ACCEPT_PAUSE_MS);
        set_time(&loop.pause, ACCEPT_PAUSE_MS);
        struct io_uring_sqe *sqe = take_sqe(1);
        io_uring_prep_timeout(sqe, &loop.pause, 0, 0);
        io_uring_sqe_set_data(sqe, TAG(pause_tag));
        loop.accepting = true;
        return;
    }
    arm_accept();
}

/* A read of the signalfd: its completion is the stop. */
static void read_signals(void)
{
    struct io_uring_sqe *sqe = take_sqe(1);
    io_uring_prep_read(sqe, loop.signal_fd, &loop.signal, sizeof loop.signal, 0);
    io_uring_sqe_set_data(sqe, TAG(signal_tag));
}

/* A signal came through the signalfd: let the process's own handler have it
 * (raised, then let in for a moment: the stop's flag, or SIGUSR1's stats
 * dump, exactly as in the other servers), serve it, and read again unless
 * it was the stop. */
static void signalled(int result)
{
    if (result == (int)sizeof loop.signal) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, (int)loop.signal.ssi_signo);
        raise((int)loop.signal.ssi_signo);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL); /* the handler runs here */
        pthread_sigmask(SIG_BLOCK, &one, NULL);
    }
    if (server_attention)
        server_service(loop.server);
    if (!server_stopping())
        read_signals();
}

static void complete(const struct io_uring_cqe *cqe)
{
    void *data = io_uring_cqe_get_data(cqe);
    if (data == NULL)
        return; /* a close, a cancel */
    if (data == TAG(accept_tag)) {
        accepted(cqe->res);
    } else if (data == TAG(signal_tag)) {
        signalled(cqe->res);
    } else if (data == TAG(deadline_tag)) {
        sweep_deadlines();
    } else if (data == TAG(idle_tag)) {
        release_idle_stacks();
    } else if (data == TAG(pause_tag)) {
        loop.accepting = false;
        if (!server_stopping())
            arm_accept();
    } else {
        struct task *task = data;
        task->idle = false;
        task->result = cqe->res;
        task->result_flags = cqe->flags;
        if (cqe->res >= 0)
            task->interrupting = false; /* done before the stop's cancel reached it */
        run(task);
    }
}

/* DOC: uring-turn
 * One loop turn: submit everything queued, wait for at least one completion
 * (at most until deadline_ms, if >= 0), then resume a coroutine per
 * completion. -1 on a ring error. */
static int turn(int64_t deadline_ms)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec limit, *limit_p = NULL;
    if (deadline_ms >= 0) {
        int64_t left = deadline_ms - io_now_ms();
        set_time(&limit, left > 0 ? left : 0);
        limit_p = &limit;
    }
    int result = io_uring_submit_and_wait_timeout(&loop.ring, &cqe, 1, limit_p, NULL);
    stats_add(&loop.stats->waits, 1);
    if (++loop.waits_unread == SLEEPS_READ_EVERY) {
        stats_sleeps_since_mark(loop.stats);
        loop.waits_unread = 0;
    }
    if (result < 0 && result != -EINTR && result != -ETIME && result != -EBUSY) {
        errno = -result;
        return -1;
    }
    while (io_uring_peek_cqe(&loop.ring, &cqe) == 0) {
        struct io_uring_cqe copy = *cqe;
        io_uring_cqe_seen(&loop.ring, cqe);
        complete(&copy);
    }
    return 0;
}

/* Run turns until no task is left or deadline_ms. */
static void run_until_idle(int64_t deadline_ms)
{
    while (loop.count > 0 && io_now_ms() < deadline_ms)
        if (turn(deadline_ms) != 0)
            break;
}

static void stop_accepting(void)
{
    if (!loop.accepting)
        return;
    cancel_data(TAG(accept_tag));
    cancel_data(TAG(pause_tag));
}

/* At the stop: no more looks for idle stacks. */
static void stop_idle_walk(void)
{
    if (!loop.idle_walk_armed)
        return;
    cancel_data(TAG(idle_tag));
    loop.idle_walk_armed = false;
}

/* DOC: uring-stop
 * As sched_interrupt_readers: every coroutine waiting to read (for a request,
 * or inside one) has that read cancelled, and fails with EINTR. */
static void interrupt_readers(void)
{
    for (struct list_node *node = loop.tasks.first; node != NULL; node = node->next) {
        struct task *task = LIST_ITEM(node, struct task, node);
        if (task->op == OP_READ && !task->interrupted) {
            task->interrupted = task->interrupting = true;
            cancel_data(task);
        }
    }
}

/* After the drain: cancel what is left; each coroutine is resumed once more,
 * its waits failing at once, so its handler unwinds and closes its socket. */
static void cancel_all(void)
{
    for (struct list_node *node = loop.tasks.first; node != NULL; node = node->next) {
        struct task *task = LIST_ITEM(node, struct task, node);
        task->cancelled = true;
        if (task->op != OP_NONE)
            cancel_data(task);
    }
    run_until_idle(io_now_ms() + 1000);
}

/* The provided buffers of the idle waits (a kernel of 5.19 or later; before,
 * the waits are polls). */
static void provide_first_buffers(void)
{
    size_t ring_size = FIRST_BUFFERS * sizeof(struct io_uring_buf);
    void *ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    loop.first_bytes = malloc((size_t)FIRST_BUFFERS * FIRST_BYTES);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)ring, .ring_entries = FIRST_BUFFERS, .bgid = FIRST_GROUP};
    if (ring == MAP_FAILED || loop.first_bytes == NULL ||
        io_uring_register_buf_ring(&loop.ring, &reg, 0) != 0) {
        if (ring != MAP_FAILED)
            munmap(ring, ring_size);
        free(loop.first_bytes);
        loop.first_bytes = NULL;
        return;
    }
    loop.first_ring = ring;
    io_uring_buf_ring_init(loop.first_ring);
    for (unsigned id = 0; id < FIRST_BUFFERS; id++)
        io_uring_buf_ring_add(loop.first_ring, loop.first_bytes + (size_t)id * FIRST_BYTES,
                              FIRST_BYTES, id, io_uring_buf_ring_mask(FIRST_BUFFERS), (int)id);
    io_uring_buf_ring_advance(loop.first_ring, FIRST_BUFFERS);
}

/* DOC: uring-serve */
void uring_serve(struct server *server, int worker_id, int listen_fd, int drain_ms)
{
    loop = (struct uring_loop){.server = server,
                               .stats = &server->stats->workers[worker_id],
                               .listen_fd = listen_fd,
                               .poll_first = true};
    struct io_uring_params params = {.flags =
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int result = io_uring_queue_init_params(RING_ENTRIES, &loop.ring, &params);
    if (result == -EINVAL) /* a kernel before 6.1: without those two */
        result = queue_init(RING_ENTRIES, &loop.ring, 0);
    if (result != 0) {
        errno = -result;
        server_die(server, "io_uring_queue_init");
    }
    io_uring_register_ring_fd(&loop.ring); /* each enter skips a file lookup; optional */
    loop.sweep_at = -1;
    provide_first_buffers();
    bufpool_init(&loop.buffers, HTTP_BUFFERS_SIZE);
    loop.buffers.free_max = SPARE_BUFFERS;
    loop.refuser = (struct event_acceptor){
        .server = server, .stats = loop.stats, .worker_id = worker_id, .open = &loop.count};
    stats_sleeps_mark(loop.stats);
    io_set_hooks(&ring_hooks);

    /* DOC: uring-stop-signal
     * The stop signals (and SIGUSR1) are blocked from here on and read from
     * a signalfd, through the ring: a SIGTERM is a completion like any
     * other, which ends the wait (signalled() hands it to the handler). (One that came before the
     * block ran the handler, which set the flag: the loop below does not start.) io_uring_enter's
     * own sigmask argument is not enough here: the kernels we run on (6.x) let the handler run
     * without ending the wait. */
    sigset_t stop_signals, outside;
    server_stop_signals(&stop_signals);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &outside);
    loop.signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    if (loop.signal_fd < 0)
        server_die(server, "signalfd");
    read_signals();

    arm_accept();
    while (!server_stopping())
        if (turn(-1) != 0) /* as the readiness loop's failure: exit status 1 */
            server_die(server, "io_uring_submit_and_wait");

    stop_accepting();
    stop_idle_walk();
    interrupt_readers();
    run_until_idle(io_now_ms() + drain_ms);
    if (loop.count > 0)
        fprintf(stderr, "%s: %d connections still busy after %d ms; closing them\n",
                server->spec->name, loop.count, drain_ms);
    cancel_all();
    io_uring_submit(&loop.ring); /* the closes queued last */
    io_uring_queue_exit(&loop.ring);
    if (loop.first_ring != NULL) {
        munmap(loop.first_ring, FIRST_BUFFERS * sizeof(struct io_uring_buf));
        free(loop.first_bytes);
    }
    close(loop.signal_fd);
    pthread_sigmask(SIG_SETMASK, &outside, NULL);
    stats_sleeps_since_mark(loop.stats);

    io_set_hooks(NULL);
    for (struct list_node *node; (node = list_pop(&loop.free_tasks)) != NULL;)
        free(LIST_ITEM(node, struct task, node));
    bufpool_trim(&loop.buffers);
    coro_trim();
}
