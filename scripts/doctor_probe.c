/* doctor_probe — try each kernel feature the servers use, the way they use it,
 * and print one line per feature: NAME, "yes" or "no", and what the kernel said.
 * scripts/doctor.py builds and runs it (make doctor); the table of features is
 * docs/design.md#kernel-features. It asks the kernel, never the version number:
 * a seccomp filter, a sysctl or valgrind can take away what the version has. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void say(const char *name, bool yes, const char *detail)
{
    printf("%s\t%s\t%s\n", name, yes ? "yes" : "no", detail);
}

static void say_errno(const char *name, int error)
{
    say(name, error == 0, error == 0 ? "" : strerror(error));
}

/* As common/http_path.c opens a file. */
static void probe_openat2(void)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
    say_errno("openat2", fd >= 0 ? 0 : errno);
    if (fd >= 0)
        close(fd);
}

/* A listening socket on 127.0.0.1, a port the kernel picks; its port in *port. */
static int listen_loopback(int *port, bool reuseport)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)*port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (fd < 0 || (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        int error = errno;
        if (fd >= 0)
            close(fd);
        errno = error;
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Submit what is queued and wait (1 s at most) for one completion: its result. */
static int complete_one(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec second = {.tv_sec = 1};
    io_uring_submit(ring);
    int result = io_uring_wait_cqe_timeout(ring, &cqe, &second);
    if (result != 0)
        return result;
    result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return result;
}

/* As coroutine/uring.c sets its ring up and uses it. */
static void probe_io_uring(void)
{
    struct io_uring ring;
    int result = io_uring_queue_init(8, &ring, 0);
    say_errno("io_uring", -result);
    if (result != 0)
        return;
    say("io_uring_ext_arg", ring.features & IORING_FEAT_EXT_ARG, "");

    struct io_uring flagged;
    struct io_uring_params params = {.flags =
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    result = io_uring_queue_init_params(8, &flagged, &params);
    say_errno("io_uring_single_issuer_defer_taskrun", -result);
    if (result == 0)
        io_uring_queue_exit(&flagged);

    static char bytes[2][64];
    struct io_uring_buf_ring *buffers = NULL;
    size_t buffers_size = 2 * sizeof(struct io_uring_buf);
    void *memory =
        mmap(NULL, buffers_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)memory, .ring_entries = 2, .bgid = 1};
    result = memory == MAP_FAILED ? -errno : io_uring_register_buf_ring(&ring, &reg, 0);
    say_errno("io_uring_provided_buffers", -result);
    if (result == 0) {
        buffers = memory;
        io_uring_buf_ring_init(buffers);
        for (int id = 0; id < 2; id++)
            io_uring_buf_ring_add(buffers, bytes[id], sizeof bytes[id], (unsigned short)id,
                                  io_uring_buf_ring_mask(2), id);
        io_uring_buf_ring_advance(buffers, 2);
    }

    int port = 0;
    int listen_fd = listen_loopback(&port, false);
    if (listen_fd >= 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int client = connect_loopback(port);
        result = complete_one(&ring);
        say_errno("io_uring_multishot_accept", result >= 0 ? 0 : -result);
        if (result >= 0)
            close(result);
        if (client >= 0)
            close(client);
        close(listen_fd);
    }

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, pair[0], bytes[0], sizeof bytes[0], 0);
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        if (write(pair[1], "x", 1) != 1)
            result = -errno;
        else
            result = complete_one(&ring);
        say_errno("io_uring_recvsend_poll_first", result >= 0 ? 0 : -result);
        close(pair[0]);
        close(pair[1]);
    }
    io_uring_queue_exit(&ring);
    if (memory != MAP_FAILED)
        munmap(memory, buffers_size);
}

/* As prefork_select --wait epoll-exclusive waits. */
static void probe_epollexclusive(void)
{
    int port = 0, listen_fd = listen_loopback(&port, false), epoll_fd = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    int result = listen_fd >= 0 && epoll_fd >= 0
                     ? epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event)
                     : -1;
    say_errno("epollexclusive", result == 0 ? 0 : errno);
    if (listen_fd >= 0)
        close(listen_fd);
    if (epoll_fd >= 0)
        close(epoll_fd);
}

/* --reuseport: two sockets on one port, and the kernel spreads 64 connections
 * over both. */
static void probe_reuseport(void)
{
    int port = 0, first = listen_loopback(&port, true);
    int second = first >= 0 ? listen_loopback(&port, true) : -1;
    if (first < 0 || second < 0) {
        say_errno("so_reuseport", errno);
        if (first >= 0)
            close(first);
        return;
    }
    int clients[64], count = 0;
    for (int i = 0; i < 64; i++) {
        clients[i] = connect_loopback(port);
        count += clients[i] >= 0;
    }
    int accepted[2] = {0, 0}, listeners[2] = {first, second};
    for (int side = 0; side < 2; side++) {
        fcntl(listeners[side], F_SETFL, O_NONBLOCK);
        for (int fd; (fd = accept(listeners[side], NULL, NULL)) >= 0; close(fd))
            accepted[side]++;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%d connections: %d and %d", count, accepted[0], accepted[1]);
    say("so_reuseport", accepted[0] > 0 && accepted[1] > 0, detail);
    for (int i = 0; i < 64; i++)
        if (clients[i] >= 0)
            close(clients[i]);
    close(first);
    close(second);
}

/* As coroutine/coro.c gives back an idle stack: the pages read zero after. */
static void probe_madv_dontneed(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *memory =
        mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        say_errno("madv_dontneed", errno);
        return;
    }
    memory[0] = 1;
    int result = madvise(memory, (size_t)page, MADV_DONTNEED);
    say("madv_dontneed", result == 0 && memory[0] == 0, result == 0 ? "" : strerror(errno));
    munmap(memory, (size_t)page);
}

/* A hardware counter for this process (perf stat's cycles). */
static void probe_perf_counters(void)
{
    struct perf_event_attr attr = {.type = PERF_TYPE_HARDWARE,
                                   .size = sizeof attr,
                                   .config = PERF_COUNT_HW_CPU_CYCLES,
                                   .disabled = 1,
                                   .exclude_kernel = 1,
                                   .exclude_hv = 1};
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    say_errno("perf_counters", fd >= 0 ? 0 : errno);
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    probe_openat2();
    probe_io_uring();
    probe_epollexclusive();
    probe_reuseport();
    probe_madv_dontneed();
    probe_perf_counters();
    return 0;
}
