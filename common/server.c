/* server — see server.h. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_cache.h"
#include "http_path.h"
#include "http_proxy.h"
#include "io.h"
#include "net.h"

volatile sig_atomic_t server_stop_requested;
volatile sig_atomic_t server_attention;
static volatile sig_atomic_t dump_requested; /* SIGUSR1: see server_service */
static pid_t main_pid;                       /* the process that writes the stats file */
static volatile sig_atomic_t wake_fd = -1;   /* see server_wake_on_stop */

static void request_stop(int signal_number)
{
    (void)signal_number;
    /* Setting the flag is all a handler may safely do, plus async-signal-safe
     * calls such as shutdown(); atomic, because worker threads read the flag. */
    __atomic_store_n(&server_stop_requested, 1, __ATOMIC_RELAXED);
    server_attention = 1;
    int saved_errno = errno;
    if (wake_fd >= 0)
        shutdown(wake_fd, SHUT_RD);
    errno = saved_errno;
}

static void request_dump(int signal_number)
{
    (void)signal_number;
    dump_requested = 1;
    server_attention = 1;
}

void server_wake_on_stop(int listen_fd)
{
    wake_fd = listen_fd;
}

void server_service(struct server *server)
{
    server_attention = 0;
    if (!dump_requested)
        return;
    dump_requested = 0;
    /* A worker that got the signal too (sent to the process group) leaves the
     * file to the main process: two writers would race to rename over PATH. */
    if (server->options.stats_file != NULL && getpid() == main_pid)
        stats_write_file(server->stats, server->spec, &server->options);
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

void server_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaddset(set, stop_signals[i]);
    sigaddset(set, SIGUSR1); /* not a stop, but the main loop's to serve too */
}

_Noreturn void server_die(const struct server *server, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", server->spec->name, what, strerror(errno));
    exit(OPTIONS_EXIT_RUNTIME);
}

_Noreturn void server_fail(const struct server *server, const char *message)
{
    fprintf(stderr, "%s: %s\n", server->spec->name, message);
    exit(OPTIONS_EXIT_RUNTIME);
}

/* DOC: signals
 * SIGPIPE: a client that closes early must cost one write error, not the server.
 * SIGINT/SIGTERM/SIGHUP: request_stop, without SA_RESTART, so a read() it
 * interrupts returns EINTR; a blocked accept() is woken by the shutdown
 * (server.h). SIGHUP too, so a closed terminal stops a server cleanly.
 * SIGUSR1: write the stats file and go on (from the main loop, server_service).
 * SIGUSR2: ignored, so a stray one cannot kill us. */
static void install_signals(void)
{
    struct sigaction action = {0};
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, NULL);
    sigaction(SIGUSR2, &action, NULL);
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaction(stop_signals[i], &action, NULL);
    action.sa_handler = request_dump;
    sigaction(SIGUSR1, &action, NULL);
}

/* The stats file is written at exit: refuse a path that cannot be written at
 * the start, not after the run (docs/design.md#stats-file). */
static void check_stats_file(const struct server *server)
{
    const char *path = server->options.stats_file;
    if (path == NULL)
        return;
    char directory[4096];
    snprintf(directory, sizeof directory, "%s", path);
    char *slash = strrchr(directory, '/');
    if (slash == NULL)
        snprintf(directory, sizeof directory, ".");
    else
        slash[slash == directory ? 1 : 0] = '\0'; /* "/x" keeps "/" */
    struct stat info;
    if (path[0] == '\0' || path[strlen(path) - 1] == '/' ||
        (stat(path, &info) == 0 && S_ISDIR(info.st_mode)))
        errno = EISDIR;
    else if (access(directory, W_OK | X_OK) == 0)
        return;
    fprintf(stderr, "%s: --stats-file %s: %s\n", server->spec->name, path, strerror(errno));
    exit(OPTIONS_EXIT_RUNTIME);
}

/* Listening beyond loopback: say once, on one line, what that exposes. */
static void warn_if_exposed(const struct server *server)
{
    const struct server_options *o = &server->options;
    if (net_address_is_loopback(o->bind_address))
        return;
    fprintf(stderr,
            "%s: warning: --bind %s is not loopback: every file under %s%s is "
            "reachable from the network%s\n",
            server->spec->name, o->bind_address, o->root,
            o->dotfiles ? " (hidden ones too: --dotfiles)" : "",
            o->lab && o->lab_public ? ", and /lab/ (--lab-public)" : "");
}

/* DOC: upstream-start
 * --upstream: resolved once, here (a name that stops resolving later changes
 * nothing); a failure is a usage error. Like --bind's, an address off this
 * host gets a warning: the requests cross the network in clear text. */
static void resolve_upstream(struct server *server)
{
    static struct http_upstream upstream; /* the site points here for the process's life */
    const char *text = server->options.upstream;
    if (text == NULL)
        return;
    char error[SERVER_ERROR_SIZE];
    bool loopback;
    if (net_resolve(text, &upstream.address, &upstream.address_length, &loopback, error,
                    sizeof error) != 0) {
        fprintf(stderr, "%s: --upstream: %s (see %s --help)\n", server->spec->name, error,
                server->spec->name);
        exit(OPTIONS_EXIT_USAGE);
    }
    snprintf(upstream.authority, sizeof upstream.authority, "%s", text);
    server->site.upstream = &upstream;
    if (!loopback)
        fprintf(stderr,
                "%s: warning: --upstream %s is not loopback: every request is forwarded "
                "over the network unencrypted\n",
                server->spec->name, text);
}

/* Use every descriptor the hard limit allows: a thousand idle clients need them. */
static void raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

void server_announce(const struct server *server, int port)
{
    const char *address = server->options.bind_address;
    bool literal_v6 = strchr(address, ':') != NULL; /* RFC 3986: in brackets */
    printf("%s listening on http://%s%s%s:%d/ root=%s pid=%d\n", server->spec->name,
           literal_v6 ? "[" : "", address, literal_v6 ? "]" : "", port, server->options.root,
           (int)getpid());
    fflush(stdout);
}

static int counter_slots(const struct server_spec *spec, const struct server_options *options)
{
    if (spec->counter_slots != NULL)
        return spec->counter_slots();
    return spec->default_workers > 0 ? options->workers : 1;
}

void server_start(struct server *server, const struct server_spec *spec, int argc, char **argv)
{
    memset(server, 0, sizeof *server);
    main_pid = getpid();
    server->spec = spec;
    server->listen_fd = -1;
    options_parse(argc, argv, spec, &server->options);

    static char root[4096]; /* the absolute root, shown in the start-up line */
    if (realpath(server->options.root, root) == NULL) {
        fprintf(stderr, "%s: --root %s: %s\n", spec->name, server->options.root, strerror(errno));
        exit(OPTIONS_EXIT_RUNTIME);
    }
    server->options.root = root;
    server->site.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (server->site.root_fd < 0) {
        fprintf(stderr, "%s: --root %s: %s\n", spec->name, root, strerror(errno));
        exit(OPTIONS_EXIT_RUNTIME);
    }
    server->site.options = &server->options;
    check_stats_file(server);
    warn_if_exposed(server);
    resolve_upstream(server);
    const char *no_openat2 = http_path_choose_resolver(server->site.root_fd);
    if (no_openat2 != NULL)
        fprintf(stderr,
                "%s: %s: files are opened one path component at a time instead "
                "(docs/common.md#paths-http_pathh)\n",
                spec->name, no_openat2);
    if (!server->options.file_cache)
        file_cache_disable();
    io_set_socket_timeout(server->options.timeout_ms);
    raise_fd_limit();
    server->stats = stats_create(counter_slots(spec, &server->options));
    if (server->stats == NULL)
        server_die(server, "counters");
    install_signals();

    if (!spec->listens_itself) {
        char error[SERVER_ERROR_SIZE];
        server->listen_fd = net_listen(server->options.bind_address, server->options.port, false,
                                       error, sizeof error);
        if (server->listen_fd < 0)
            server_fail(server, error);
        server_announce(server, net_local_port(server->listen_fd));
        server_wake_on_stop(server->listen_fd);
    }
}

int server_finish(struct server *server)
{
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    /* A model whose workers are this process's threads or this process itself
     * leaves slot 0's CPU unrecorded; record the process then. */
    if (server->stats->worker_count == 1 && server->stats->workers[0].pid == 0)
        stats_record_cpu(&server->stats->workers[0], RUSAGE_SELF);
    return stats_report(server->stats, server->spec, &server->options);
}
