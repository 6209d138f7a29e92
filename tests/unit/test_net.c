/* test_net — two rules of common/net.c every server relies on: when a closing
 * connection lingers (net_close_lingers, as a table: --linger, whether the
 * client asked to close, whether all it sent was read), and that a socket
 * accept() returns has TCP_NODELAY from the listening socket net_listen made
 * (the servers set it there only, DOC: nodelay). The lingering itself, seen
 * from a client, is the black-box suite's linger_* cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

static void test_linger_rule(void **state)
{
    (void)state;
    static const struct {
        int linger;
        bool client_closes, all_read;
        bool lingers;
        const char *name;
    } rows[] = {
        {LINGER_AUTO, true, true, false, "asked to close, all read: nothing more can come"},
        {LINGER_AUTO, true, false, true, "asked to close, bytes unread (pipelined, a body)"},
        {LINGER_AUTO, false, true, true, "server ends a kept connection: more may be on the way"},
        {LINGER_AUTO, false, false, true, "an error answer, the request unread"},
        {LINGER_ALWAYS, true, true, true, "always: even when nothing can come"},
        {LINGER_ALWAYS, false, false, true, "always: an error"},
        {LINGER_NEVER, false, false, false, "never: the lab's reset, even on an error"},
        {LINGER_NEVER, true, true, false, "never: asked to close"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bool got = net_close_lingers(rows[i].linger, rows[i].client_closes, rows[i].all_read);
        if (got != rows[i].lingers)
            fail_msg("%s: lingers %d, expected %d", rows[i].name, got, rows[i].lingers);
    }
}

static void test_accepted_socket_has_nodelay(void **state)
{
    (void)state;
    char error[256];
    int listen_fd = net_listen("127.0.0.1", 0, false, error, sizeof error);
    assert_true(listen_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)net_local_port(listen_fd)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(client, (struct sockaddr *)&address, sizeof address), 0);
    int conn_fd = accept(listen_fd, NULL, NULL);
    assert_true(conn_fd >= 0);
    int on = 0;
    socklen_t length = sizeof on;
    assert_int_equal(getsockopt(conn_fd, IPPROTO_TCP, TCP_NODELAY, &on, &length), 0);
    if (on == 0)
        fail_msg("the accepted socket lacks TCP_NODELAY: set it on each connection "
                 "(net_prepare_connection), the listening socket's is not inherited here");
    close(conn_fd);
    close(client);
    close(listen_fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linger_rule),
        cmocka_unit_test(test_accepted_socket_has_nodelay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
