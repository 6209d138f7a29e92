/* options — see options.h. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char server_version[] = "0.1.0";
const char *const options_linger_names[] = {"auto", "always", "never", NULL};

enum { MODEL_OPTIONS_MAX = 16 };

/* Common options: getopt_long values at 1000 and up; model options are 2000 + index. */
enum {
    OPT_PORT = 1000,
    OPT_BIND,
    OPT_ROOT,
    OPT_WORKERS,
    OPT_MAX_CONNS,
    OPT_TIMEOUT,
    OPT_STATS_FILE,
    OPT_QUIET,
    OPT_NO_LAB,
    OPT_LAB_CRASH,
    OPT_NO_FILE_CACHE,
    OPT_HELP,
    OPT_VERSION,
    OPT_KEEPALIVE_REQUESTS,
    OPT_DOTFILES,
    OPT_LAB_PUBLIC,
    OPT_UPSTREAM,
    OPT_UPSTREAM_TIMEOUT,
    OPT_LINGER,
    OPT_MODEL = 2000
};

static const struct option common_options[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"root", required_argument, NULL, OPT_ROOT},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"no-lab", no_argument, NULL, OPT_NO_LAB},
    {"lab-crash", no_argument, NULL, OPT_LAB_CRASH},
    {"no-file-cache", no_argument, NULL, OPT_NO_FILE_CACHE},
    {"keepalive-requests", required_argument, NULL, OPT_KEEPALIVE_REQUESTS},
    {"dotfiles", no_argument, NULL, OPT_DOTFILES},
    {"lab-public", no_argument, NULL, OPT_LAB_PUBLIC},
    {"upstream", required_argument, NULL, OPT_UPSTREAM},
    {"upstream-timeout-ms", required_argument, NULL, OPT_UPSTREAM_TIMEOUT},
    {"linger", required_argument, NULL, OPT_LINGER},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
};
enum { COMMON_COUNT = sizeof common_options / sizeof common_options[0] };

_Noreturn static void usage_error(const struct server_spec *spec, const char *format, const char *a,
                                  const char *b)
{
    fprintf(stderr, "%s: ", spec->name);
    fprintf(stderr, format, a, b);
    fprintf(stderr, " (see %s --help)\n", spec->name);
    exit(OPTIONS_EXIT_USAGE);
}

/* A whole decimal number in [min, max], or a usage error naming the option. */
static int parse_number(const struct server_spec *spec, const char *option, const char *text,
                        int min, int max)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        char range[64];
        snprintf(range, sizeof range, "%s: expected a number from %d to %d", option, min, max);
        usage_error(spec, "%s, got '%s'", range, text);
    }
    return (int)value;
}

/* The index of arg among choices (NULL-terminated), or a usage error naming the option. */
static int parse_choice(const struct server_spec *spec, const char *option,
                        const char *const *choices, const char *arg)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(arg, choices[i]) == 0)
            return i;
    usage_error(spec, "%s: unknown choice '%s'", option, arg);
}

static void print_help(const struct server_spec *spec)
{
    printf("usage: %s [options]\n%s\n\n", spec->name, spec->summary);
    printf("  --port N          TCP port (default 8080; 0 picks a free one)\n"
           "  --bind ADDR       address to listen on (default 127.0.0.1)\n"
           "  --root DIR        directory to serve (default: the current directory)\n");
    if (spec->default_workers > 0)
        printf("  --workers N       worker processes or threads (default %d)\n",
               spec->default_workers);
    printf("  --max-conns N     connections served at once (default 1024): threaded with a\n"
           "                    thread per connection accepts no more until one ends; each\n"
           "                    event loop of multiplex and coroutine holds N, and more\n"
           "                    get 503 only when every loop that could take them is full;\n"
           "                    iterative, fork_per_conn (--max-procs), prefork,\n"
           "                    prefork_select and threaded --pool are bound by their\n"
           "                    workers instead and ignore it\n"
           "  --keepalive-requests N  close a connection after N requests (default 1000)\n"
           "  --timeout-ms N    wait for a request head or an idle keep-alive connection\n"
           "                    at most N ms (default 10000)\n"
           "  --stats-file PATH write the counters as JSON at exit and on SIGUSR1\n"
           "  --quiet           no summary on stderr at exit\n"
           "  --no-lab          turn off the /lab/ endpoints\n"
           "  --lab-crash       enable /lab/crash (a deliberate handler fault)\n"
           "  --lab-public      answer /lab/ to every client, not only loopback ones (the\n"
           "                    TCP peer's address: behind a proxy on this host, everyone)\n"
           "  --dotfiles        serve hidden files (a path segment starting with '.')\n"
           "  --no-file-cache   open every file on every request (no 1 s small-file cache)\n"
           "  --upstream HOST:PORT  proxy mode: forward each GET and HEAD to that HTTP/1.1\n"
           "                    server and relay its answer (other methods: 405 here)\n"
           "                    (HOST: IPv4, [IPv6] or a name, resolved once at start-up)\n"
           "  --upstream-timeout-ms N  the longest the upstream may stay silent: connecting,\n"
           "                    and each wait for its answer's bytes (default 5000)\n"
           "  --linger WHEN     auto (default), always or never: before closing, shut the\n"
           "                    write side and drop what the client still sends (up to 1 s,\n"
           "                    1 MiB), so that a reset cannot destroy the last answer;\n"
           "                    auto: only when the client may still be sending; never:\n"
           "                    close at once (a lab: the reset is then seen)\n"
           "  --help, --version\n");
    const struct model_option *o = spec->model_options;
    for (; o != NULL && o->name != NULL; o++) {
        char left[64];
        if (o->choices != NULL) {
            char words[48] = "";
            for (int i = 0; o->choices[i] != NULL; i++) {
                size_t used = strlen(words);
                snprintf(words + used, sizeof words - used, "%s%s", i ? "|" : "", o->choices[i]);
            }
            snprintf(left, sizeof left, "--%s %s", o->name, words);
        } else {
            snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        }
        printf("  %-17s %s\n", left, o->help);
    }
}

static void set_model_option(const struct server_spec *spec, const struct model_option *o,
                             const char *arg)
{
    char option[64];
    snprintf(option, sizeof option, "--%s", o->name);
    if (o->arg == NULL && o->choices == NULL) {
        *o->value = 1;
    } else if (o->choices != NULL) {
        *o->value = parse_choice(spec, option, o->choices, arg);
    } else {
        *o->value = parse_number(spec, option, arg, o->min, o->max);
    }
}

/* DOC: options-parse */
void options_parse(int argc, char **argv, const struct server_spec *spec,
                   struct server_options *options)
{
    *options = (struct server_options){
        .port = 8080,
        .bind_address = "127.0.0.1",
        .root = ".",
        .workers = spec->default_workers > 0 ? spec->default_workers : 1,
        .max_conns = 1024,
        .keepalive_requests = 1000,
        .timeout_ms = 10000,
        .lab = true,
        .file_cache = true,
        .upstream_timeout_ms = 5000,
    };

    struct option table[COMMON_COUNT + MODEL_OPTIONS_MAX + 1];
    memcpy(table, common_options, sizeof common_options);
    int count = COMMON_COUNT;
    const struct model_option *model = spec->model_options;
    for (int i = 0; model != NULL && model[i].name != NULL && i < MODEL_OPTIONS_MAX; i++)
        table[count++] = (struct option){
            model[i].name, model[i].arg || model[i].choices ? required_argument : no_argument, NULL,
            OPT_MODEL + i};
    table[count] = (struct option){0};

    opterr = 0; /* we print our own one-line messages */
    int c;
    while ((c = getopt_long(argc, argv, ":", table, NULL)) != -1) {
        const char *arg = optarg;
        switch (c) {
        case OPT_PORT: options->port = parse_number(spec, "--port", arg, 0, 65535); break;
        case OPT_BIND: options->bind_address = arg; break;
        case OPT_ROOT: options->root = arg; break;
        case OPT_WORKERS: options->workers = parse_number(spec, "--workers", arg, 1, 1024); break;
        case OPT_MAX_CONNS:
            options->max_conns = parse_number(spec, "--max-conns", arg, 1, 1000000);
            break;
        case OPT_KEEPALIVE_REQUESTS:
            options->keepalive_requests =
                parse_number(spec, "--keepalive-requests", arg, 1, 1000000000);
            break;
        case OPT_DOTFILES: options->dotfiles = true; break;
        case OPT_LAB_PUBLIC: options->lab_public = true; break;
        case OPT_UPSTREAM: options->upstream = arg; break;
        case OPT_UPSTREAM_TIMEOUT:
            options->upstream_timeout_ms =
                parse_number(spec, "--upstream-timeout-ms", arg, 1, 600000);
            break;
        case OPT_LINGER:
            options->linger = parse_choice(spec, "--linger", options_linger_names, arg);
            break;
        case OPT_TIMEOUT:
            options->timeout_ms = parse_number(spec, "--timeout-ms", arg, 1, 3600000);
            break;
        case OPT_STATS_FILE: options->stats_file = arg; break;
        case OPT_QUIET: options->quiet = true; break;
        case OPT_NO_LAB: options->lab = false; break;
        case OPT_LAB_CRASH: options->lab_crash = true; break;
        case OPT_NO_FILE_CACHE: options->file_cache = false; break;
        case OPT_HELP: print_help(spec); exit(0);
        case OPT_VERSION: printf("%s %s\n", spec->name, server_version); exit(0);
        case ':': usage_error(spec, "option '%s' needs a value%s", argv[optind - 1], "");
        case '?': usage_error(spec, "unknown option '%s'%s", argv[optind - 1], "");
        default: set_model_option(spec, &model[c - OPT_MODEL], arg); break;
        }
    }
    if (optind < argc)
        usage_error(spec, "unexpected argument '%s'%s", argv[optind], "");
}

const char *options_model_value(const struct model_option *option, char *buf, int size)
{
    if (option->choices != NULL)
        return option->choices[*option->value];
    if (option->arg == NULL)
        return *option->value ? "on" : "off";
    snprintf(buf, (size_t)size, "%d", *option->value);
    return buf;
}
