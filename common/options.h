/* options — the command line every server shares (docs/design.md#command-line),
 * plus a small declarative table for each model's own options, so --help,
 * parsing, errors and the stats file all come from one place. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>

/* One model-specific option. Three kinds, told apart by the fields:
 *   flag      arg == NULL                 --name sets *value = 1
 *   choice    choices != NULL             --name WORD sets *value = index of WORD
 *   number    arg != NULL, choices NULL   --name N sets *value = N, min <= N <= max */
struct model_option {
    const char *name;
    const char *arg;
    const char *help;
    const char *const *choices; /* NULL-terminated */
    int *value;
    int min, max;
};

struct server_spec {
    const char *name;                         /* "prefork": the binary, the start-up line, stats */
    const char *summary;                      /* one line for --help */
    int default_workers;                      /* 0: --workers means nothing to this model */
    const struct model_option *model_options; /* ends with an entry whose name is NULL */
    /* For server_start (server.h): */
    bool listens_itself;        /* the model opens its listening socket(s) itself */
    int (*counter_slots)(void); /* called after parsing; NULL: see server_start */
};

struct server_options {
    int port;
    const char *bind_address;
    const char *root;
    int workers;
    int max_conns;
    const char *max_conns_enforced; /* set by a model that keeps --max-conns: how */
    int keepalive_requests;         /* requests per connection, then Connection: close */
    int timeout_ms;
    const char *stats_file;
    bool quiet;
    bool lab;                /* --no-lab clears it */
    bool lab_crash;          /* --lab-crash */
    bool file_cache;         /* --no-file-cache clears it (file_cache.h) */
    bool dotfiles;           /* --dotfiles: serve hidden files too */
    bool lab_public;         /* --lab-public: lab endpoints for every peer */
    const char *upstream;    /* --upstream HOST:PORT: proxy mode (http_proxy.h); NULL: off */
    int upstream_timeout_ms; /* --upstream-timeout-ms: the upstream's longest silence */
    int linger;              /* --linger: enum options_linger */
};

/* --linger WHEN: when a connection the server ends closes lingering
 * (docs/design.md#lingering-close; the rule is net_close_lingers in net.h). */
enum options_linger { LINGER_AUTO, LINGER_ALWAYS, LINGER_NEVER };
extern const char *const options_linger_names[]; /* "auto", "always", "never", NULL */

enum { OPTIONS_EXIT_USAGE = 2, OPTIONS_EXIT_RUNTIME = 1 };

/* Parse argv. On --help or --version prints and exits 0; on a bad option prints
 * one line naming it and exits 2. */
void options_parse(int argc, char **argv, const struct server_spec *spec,
                   struct server_options *options);

/* The text of a model option's current value ("fcntl", "16", "on"), for reports. */
const char *options_model_value(const struct model_option *option, char *buf, int size);

extern const char server_version[];

#endif
