/* dispatch — see dispatch.h.
 *
 * One channel per worker: a Unix stream socketpair, made before each fork of the
 * worker (again for a replacement). The protocol is one byte each way:
 *   child → parent  "I am idle"            (written before each wait)
 *   parent → child  one byte carrying a descriptor in an SCM_RIGHTS message
 * The parent sends only to a child whose idle byte it has read, so a child never
 * has more than one connection queued. It picks the first idle child, as UNP's
 * serv05 does: with few clients the low-numbered children get nearly everything. */
#include "dispatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_conn.h"
#include "net.h"
#include "pool.h"

struct channel {
    int parent_fd; /* the parent's end; -1 once the child is gone */
    int child_fd;  /* the child's end; the parent closes its copy
                      when the child first reports (it is running) */
    bool idle;
};

static struct channel *channels;
static int channel_count;
static struct http_conn conn;

/* Send conn_fd with one byte of data: SCM_RIGHTS needs at least one byte to ride on. */
static int send_fd(int channel_fd, int conn_fd)
{
    /* EXERCISE pass-fd: one byte with conn_fd in an SCM_RIGHTS control message */
    char byte = 0;
    struct iovec data = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr header; /* the union aligns the buffer for a cmsghdr */
        char space[CMSG_SPACE(sizeof(int))];
    } control = {0};
    struct msghdr message = {.msg_iov = &data,
                             .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &conn_fd, sizeof conn_fd);
    return sendmsg(channel_fd, &message, MSG_NOSIGNAL) == 1 ? 0 : -1;
    /* END EXERCISE */
}

/* The descriptor the parent sent, or -1: errno EINTR (a signal), EPIPE (the
 * parent is gone) or EPROTO (a byte without a descriptor). */
static int receive_fd(int channel_fd)
{
    char byte;
    struct iovec data = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr message = {.msg_iov = &data,
                             .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
    ssize_t n = recvmsg(channel_fd, &message, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
        if (n == 0)
            errno = EPIPE;
        return -1;
    }
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header == NULL || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = EPROTO;
        return -1;
    }
    int conn_fd;
    memcpy(&conn_fd, CMSG_DATA(header), sizeof conn_fd);
    return conn_fd;
}

static void close_channel(struct channel *channel)
{
    if (channel->parent_fd >= 0)
        close(channel->parent_fd);
    if (channel->child_fd >= 0)
        close(channel->child_fd);
    *channel = (struct channel){.parent_fd = -1, .child_fd = -1};
}

/* In the parent, before each fork of worker_id: a fresh channel, so nothing a
 * dead worker left queued reaches its replacement. */
static void make_channel(int worker_id, void *context)
{
    (void)context;
    struct channel *channel = &channels[worker_id];
    close_channel(channel);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return; /* the worker will find no channel and exit */
    net_set_nonblocking(pair[0], true);
    channel->parent_fd = pair[0];
    channel->child_fd = pair[1];
}

/* DOC: dispatch-worker */
static void dispatch_worker(struct server *server, int worker_id, void *context)
{
    (void)context;
    int channel_fd = channels[worker_id].child_fd;
    for (int i = 0; i < channel_count; i++) { /* keep only our own end */
        if (i != worker_id && channels[i].child_fd >= 0)
            close(channels[i].child_fd);
        if (channels[i].parent_fd >= 0)
            close(channels[i].parent_fd);
    }
    close(server->listen_fd); /* only the parent accepts */
    struct worker_stats *stats = &server->stats->workers[worker_id];
    bool reported = false; /* our idle byte is on its way, not yet answered */
    while (!server_stopping() && channel_fd >= 0) {
        if (!reported && write(channel_fd, "", 1) != 1)
            break;
        reported = true;
        stats_wait_begin(stats);
        int conn_fd = receive_fd(channel_fd);
        stats_wait_end(stats);
        if (conn_fd < 0 && errno == EINTR)
            continue; /* maybe a stop request; the idle byte still stands */
        if (conn_fd < 0)
            break; /* the parent is gone, or the channel is broken */
        reported = false;
        net_prepare_connection(conn_fd, server->options.timeout_ms);
        http_serve_connection(&conn, conn_fd, &server->site, stats);
    }
}

/* Read what a child wrote: idle bytes, or the end of the channel when it died. */
static void read_reports(struct channel *channel)
{
    char bytes[16];
    ssize_t n = read(channel->parent_fd, bytes, sizeof bytes);
    if (n > 0) {
        channel->idle = true;
        if (channel->child_fd >= 0) { /* the child runs: our copy of its end can go */
            close(channel->child_fd);
            channel->child_fd = -1;
        }
    } else if (n == 0) {
        close(channel->parent_fd); /* dead; pool replaces it and make_channel */
        channel->parent_fd = -1;   /* makes a fresh channel */
        channel->idle = false;
    }
}

static int first_idle(void)
{
    for (int i = 0; i < channel_count; i++)
        if (channels[i].idle)
            return i;
    return -1;
}

/* DOC: dispatch-loop */
void dispatch_run(struct server *server)
{
    channel_count = server->stats->worker_count;
    channels = calloc((size_t)channel_count, sizeof *channels);
    struct pollfd *fds = calloc((size_t)channel_count + 1, sizeof *fds);
    if (channels == NULL || fds == NULL)
        server_die(server, "dispatch");
    for (int i = 0; i < channel_count; i++)
        channels[i] = (struct channel){.parent_fd = -1, .child_fd = -1};
    /* poll() may say readable and a client reset before accept(): never block there. */
    net_set_nonblocking(server->listen_fd, true);
    struct worker_stats parent_stats = {0}; /* the parent's accepts are nobody's wait */

    pool_start(server, dispatch_worker, make_channel, NULL);
    while (!server_stopping()) {
        /* Watch the listening socket only while some child is idle: otherwise
         * connections wait in the kernel's queue, not in ours. */
        fds[0] = (struct pollfd){.fd = server->listen_fd, .events = first_idle() >= 0 ? POLLIN : 0};
        for (int i = 0; i < channel_count; i++)
            fds[i + 1] = (struct pollfd){.fd = channels[i].parent_fd, .events = POLLIN};
        if (pool_poll(fds, channel_count + 1) <= 0)
            continue;
        /* Channels may have been remade inside pool_poll: revents are hints, and
         * reads are non-blocking. */
        for (int i = 0; i < channel_count; i++)
            if (fds[i + 1].revents != 0 && channels[i].parent_fd >= 0)
                read_reports(&channels[i]);
        int child = first_idle();
        if (!(fds[0].revents & POLLIN) || child < 0)
            continue;
        int conn_fd = net_accept(server->listen_fd, &parent_stats);
        if (conn_fd < 0)
            continue;
        channels[child].idle = false;
        send_fd(channels[child].parent_fd, conn_fd); /* fails only if it just died */
        close(conn_fd);                              /* the child has its own copy now */
    }
    pool_stop();
    for (int i = 0; i < channel_count; i++)
        close_channel(&channels[i]);
    free(fds);
    free(channels);
}
