/* http_site — what answering a request needs to know about the site: the
 * document root and the options that change answers (lab endpoints, timeout).
 * Its own header so that server.h and http_response.h, which need the site but
 * not the connection loop, do not include http_conn.h. */
#ifndef HTTP_SITE_H
#define HTTP_SITE_H

#include "options.h"

struct http_upstream; /* http_proxy.h */

struct http_site {
    int root_fd; /* the document root, opened once (O_PATH) */
    const struct server_options *options;
    const struct http_upstream *upstream; /* --upstream: proxy mode; NULL: off */
};

#endif
