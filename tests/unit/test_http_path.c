/* test_http_path — http_path_normalize as a table, and http_path_open against a
 * real directory tree made with mkdtemp: files, index.html, symlinks inside and
 * out, a FIFO. inotify proves that a refused file outside the root is never even
 * opened. The open tests run twice: with the kernel's openat2, and with openat2
 * missing (tests/doctor/no_openat2.c says ENOSYS), so through the walk; a table of
 * links holds both resolvers to the same answers, errno included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_path.h"

/* A kernel without openat2, on demand: tests/doctor/no_openat2.c is linked in
 * (Makefile: test_http_path_EXTRA), so its syscall() comes before the C
 * library's, and NO_OPENAT2_ERRNO switches it: "off", or ENOSYS. */
static void openat2_missing(bool missing)
{
    setenv("NO_OPENAT2_ERRNO", missing ? "ENOSYS" : "off", 1);
}

/* ---- http_path_normalize ------------------------------------------------------ */

#define BYTES(s) s, sizeof(s) - 1

struct normalize_case {
    const char *name;
    const char *encoded;
    size_t length;
    int status;           /* 0, 400, 403 or 414 */
    const char *relative; /* when status is 0 */
};

static const struct normalize_case normalize_cases[] = {
    {"root", BYTES("/"), 0, "."},
    {"empty", BYTES(""), 0, "."},
    {"two segments", BYTES("/a/b"), 0, "a/b"},
    {"trailing slash", BYTES("/a/b/"), 0, "a/b"},
    {"doubled slashes", BYTES("//a//b/"), 0, "a/b"},
    {"dot segment", BYTES("/./a"), 0, "a"},
    {"dot dot inside", BYTES("/a/../b"), 0, "b"},
    {"dot and dot dot", BYTES("/a/./b/.."), 0, "a"},
    {"back to the root", BYTES("/a/.."), 0, "."},
    {"deep and back", BYTES("/a/b/c/../../d"), 0, "a/d"},
    {"encoded dot is a dot", BYTES("/%2e"), 0, "."},
    {"encoded dot dot inside", BYTES("/a/%2e%2e/b"), 0, "b"},
    {"three dots is a name", BYTES("/..."), 0, "..."},
    {"dot dot prefix is a name", BYTES("/..a"), 0, "..a"},
    {"hidden file", BYTES("/.hidden"), 0, ".hidden"},
    {"plain escapes", BYTES("/%41%62c"), 0, "Abc"},
    {"escaped space", BYTES("/a%20b"), 0, "a b"},
    {"escaped UTF-8", BYTES("/caf%C3%A9"), 0, "caf\xc3\xa9"},
    {"..%5c is a name", BYTES("/..%5cx"), 0, "..\\x"},
    {"literal backslash", BYTES("/..\\x"), 0, "..\\x"},
    {"double encoding stays", BYTES("/%252e%252e/x"), 0, "%2e%2e/x"},
    {"escaped percent", BYTES("/100%25"), 0, "100%"},
    {"query-looking name", BYTES("/a%3fb"), 0, "a?b"},

    {"dot dot at the root", BYTES("/.."), 403, NULL},
    {"dot dot then a name", BYTES("/../x"), 403, NULL},
    {"one too many", BYTES("/a/../../x"), 403, NULL},
    {"climb at the end", BYTES("/a/b/../../.."), 403, NULL},
    {"encoded dot dot", BYTES("/%2e%2e/x"), 403, NULL},
    {"mixed case encoded", BYTES("/%2E%2e/x"), 403, NULL},
    {"half encoded", BYTES("/.%2e/x"), 403, NULL},
    {"dot dot after slashes", BYTES("///..//x"), 403, NULL},

    {"encoded slash", BYTES("/a%2fb"), 400, NULL},
    {"encoded slash upper", BYTES("/%2E%2E%2Fx"), 400, NULL},
    {"dot dot encoded slash", BYTES("/..%2fx"), 400, NULL},
    {"encoded NUL", BYTES("/a%00b"), 400, NULL},
    {"raw NUL", BYTES("/a\0b"), 400, NULL},
    {"bad escape letters", BYTES("/%zz"), 400, NULL},
    {"bad escape second", BYTES("/%4g"), 400, NULL},
    {"short escape", BYTES("/%4"), 400, NULL},
    {"lone percent", BYTES("/%"), 400, NULL},
    {"short escape inside", BYTES("/a%4/b"), 400, NULL},
};

enum { NORMALIZE_CASES = sizeof normalize_cases / sizeof normalize_cases[0] };

static void test_normalize_case(void **state)
{
    const struct normalize_case *c = *state;
    char out[HTTP_PATH_MAX];
    memset(out, 'Z', sizeof out);
    int status = http_path_normalize(c->encoded, c->length, out, sizeof out);
    if (status != c->status) {
        print_error("%s: status %d, expected %d\n", c->name, status, c->status);
        fail();
    }
    if (status == 0)
        assert_string_equal(out, c->relative);
}

static void test_normalize_long(void **state)
{
    (void)state;
    static char encoded[3 * HTTP_PATH_MAX], out[HTTP_PATH_MAX];
    /* 4000 bytes fit; 5000 do not (414); a long path that collapses is fine. */
    encoded[0] = '/';
    memset(encoded + 1, 'a', 4000);
    assert_int_equal(http_path_normalize(encoded, 4001, out, sizeof out), 0);
    assert_int_equal(strlen(out), 4000);
    memset(encoded + 1, 'a', 5000);
    assert_int_equal(http_path_normalize(encoded, 5001, out, sizeof out), 414);

    size_t n = 0;
    while (n + 5 < sizeof encoded - 2) {
        memcpy(encoded + n, "/a/..", 5);
        n += 5;
    }
    memcpy(encoded + n, "/x", 2);
    assert_int_equal(http_path_normalize(encoded, n + 2, out, sizeof out), 0);
    assert_string_equal(out, "x");

    /* A small output buffer: 414, never an overflow. */
    char small[4];
    assert_int_equal(http_path_normalize("/ab", 3, small, sizeof small), 0);
    assert_string_equal(small, "ab");
    assert_int_equal(http_path_normalize("/abcd", 5, small, sizeof small), 414);
    assert_int_equal(http_path_normalize("/", 1, small, 1), 414);
}

/* ---- http_path_open ----------------------------------------------------------- */

static char base[64]; /* base/root is the root, base/outside is not */
static int root_fd = -1;

static void make_file(const char *relative, const char *content)
{
    char path[PATH_MAX];
    assert_true(snprintf(path, sizeof path, "%s/%s", base, relative) < (int)sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *relative)
{
    char path[PATH_MAX];
    assert_true(snprintf(path, sizeof path, "%s/%s", base, relative) < (int)sizeof path);
    assert_int_equal(mkdir(path, 0755), 0);
}

static void make_link(const char *target, const char *relative)
{
    char path[PATH_MAX];
    assert_true(snprintf(path, sizeof path, "%s/%s", base, relative) < (int)sizeof path);
    assert_int_equal(symlink(target, path), 0);
}

static int tree_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/test_http_path.XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    make_dir("root");
    make_dir("outside");
    make_file("outside/secret", "secret\n");
    make_file("root/file.txt", "hello\n");
    make_dir("root/dir");
    make_file("root/dir/index.html", "<p>index</p>\n");
    make_dir("root/noindex");
    make_file("root/noindex/other.txt", "x");
    make_dir("root/index_is_dir");
    make_dir("root/index_is_dir/index.html");
    make_dir("root/index_out");
    char secret[PATH_MAX];
    snprintf(secret, sizeof secret, "%s/outside/secret", base);
    make_link(secret, "root/index_out/index.html");
    make_link("file.txt", "root/link_in");
    make_link("dir", "root/link_dir_in");
    make_link("dir/../file.txt", "root/link_in_dotdot");
    make_link(secret, "root/link_out");
    make_link("../outside/secret", "root/link_out_relative");
    make_link("/etc/passwd", "root/link_passwd");
    make_link("../outside", "root/link_out_dir");
    make_link("loop", "root/loop");
    /* For the resolvers' table (test_resolvers). */
    char inside[PATH_MAX];
    snprintf(inside, sizeof inside, "%s/root/file.txt", base);
    make_link(inside, "root/link_absolute_in");
    make_file("root/dir/inner.txt", "inner\n");
    make_dir("root/dir/sub");
    make_link("dir/sub", "root/link_deep");
    make_link("link_deep/../inner.txt", "root/link_deep_up");
    make_link("..", "root/dir/up");
    make_link("../..", "root/dir/up_up");
    make_link("../file.txt", "root/dir/link_sibling");
    make_link("link_in", "root/link_chain");
    make_link(".", "root/link_dot");
    make_link("dir/", "root/link_dir_slash");
    make_link("loop_b", "root/loop_a");
    make_link("loop_a", "root/loop_b");
    make_link("nowhere.txt", "root/dangling");
    make_link("dir/../../outside/secret", "root/link_out_dotdot");
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/root/fifo", base);
    if (mkfifo(fifo, 0644) != 0)
        return -1;
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/root", base);
    root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root_fd < 0 ? -1 : 0;
}

/* The resolver http_path_open uses is chosen as at start-up, by the probe. */
static int setup_with_openat2(void **state)
{
    openat2_missing(false);
    if (tree_setup(state) != 0 || http_path_choose_resolver(root_fd) != NULL)
        return -1;
    return 0;
}

static int setup_without_openat2(void **state)
{
    openat2_missing(true);
    if (tree_setup(state) != 0)
        return -1;
    const char *reason = http_path_choose_resolver(root_fd);
    return reason != NULL && strcmp(reason, "openat2: Function not implemented") == 0 ? 0 : -1;
}

static int tree_teardown(void **state)
{
    (void)state;
    close(root_fd);
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? 0 : -1;
}

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Open relative; expect the status; on 0 the content and is_index. */
static void expect_open(const char *relative, bool trailing_slash, int status, const char *content,
                        bool is_index)
{
    int fd = -12345, before = open_fd_count();
    struct stat info;
    bool index = !is_index;
    int got = http_path_open(root_fd, relative, trailing_slash, &fd, &info, &index);
    if (got != status) {
        print_error("open \"%s\"%s: %d, expected %d\n", relative, trailing_slash ? " (slash)" : "",
                    got, status);
        fail();
    }
    if (status != 0) {
        assert_int_equal(fd, -12345);              /* untouched */
        assert_int_equal(open_fd_count(), before); /* nothing leaked */
        return;
    }
    assert_true(S_ISREG(info.st_mode));
    assert_int_equal(index, is_index);
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, content);
    assert_int_equal(info.st_size, (off_t)strlen(content));
    close(fd);
    assert_int_equal(open_fd_count(), before);
}

static void test_open_files(void **state)
{
    (void)state;
    expect_open("file.txt", false, 0, "hello\n", false);
    expect_open("dir", true, 0, "<p>index</p>\n", true);
    expect_open("dir/index.html", false, 0, "<p>index</p>\n", false);
    expect_open("link_in", false, 0, "hello\n", false);
    expect_open("link_dir_in", true, 0, "<p>index</p>\n", true);
    expect_open("link_in_dotdot", false, 0, "hello\n", false);
}

static void test_open_refusals(void **state)
{
    (void)state;
    expect_open("dir", false, 301, NULL, false);
    expect_open(".", false, 301, NULL, false);
    expect_open(".", true, 403, NULL, false);       /* the root has no index.html */
    expect_open("noindex", true, 403, NULL, false); /* no listings */
    expect_open("index_is_dir", true, 403, NULL, false);
    expect_open("missing", false, 404, NULL, false);
    expect_open("dir/missing.html", false, 404, NULL, false);
    expect_open("missing/", true, 404, NULL, false);
    expect_open("file.txt/x", false, 404, NULL, false);
    expect_open("file.txt", true, 404, NULL, false); /* "/file.txt/" */
    expect_open("loop", false, 403, NULL, false);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    expect_open(long_name, false, 404, NULL, false);
}

/* A FIFO must be refused at once: open(2) without O_NONBLOCK would wait for a
 * writer forever. The alarm turns a hang into a failure. */
static void test_open_fifo(void **state)
{
    (void)state;
    alarm(10);
    expect_open("fifo", false, 403, NULL, false);
    alarm(0);
}

/* Refusals of paths that lead outside: 403, and inotify sees no open of the
 * file outside, so the kernel refused before opening anything. */
static void test_open_outside(void **state)
{
    (void)state;
    char secret[PATH_MAX];
    snprintf(secret, sizeof secret, "%s/outside/secret", base);
    int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(watch >= 0);
    assert_true(inotify_add_watch(watch, secret, IN_OPEN | IN_ACCESS) >= 0);

    expect_open("link_out", false, 403, NULL, false);
    expect_open("link_out_relative", false, 403, NULL, false);
    expect_open("link_out_dir/secret", false, 403, NULL, false);
    expect_open("index_out", true, 403, NULL, false);
    expect_open("../outside/secret", false, 403, NULL, false);
    expect_open("dir/../../outside/secret", false, 403, NULL, false);
    expect_open(secret, false, 403, NULL, false); /* absolute */
    expect_open("link_passwd", false, 403, NULL, false);
    expect_open("/etc/passwd", false, 403, NULL, false);

    char events[4096];
    ssize_t n = read(watch, events, sizeof events);
    assert_int_equal(n, -1); /* no event: never opened */
    assert_int_equal(errno, EAGAIN);

    /* The watch does work: opening the file ourselves is seen. */
    int fd = open(secret, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    assert_true(read(watch, events, sizeof events) > 0);
    close(watch);
}

/* The absolute symlink that stays inside the root is refused too: whether an
 * absolute target lies inside would depend on where the root is mounted
 * (docs/design.md#static-files). */
static void test_open_absolute_inside(void **state)
{
    (void)state;
    expect_open("link_absolute_in", false, 403, NULL, false);
}

/* Both resolvers against one table: the content, or the errno openat2 gives. */
static void test_resolvers(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *content; /* NULL: refused with error */
        int error;
    } cases[] = {
        {"file.txt", "hello\n", 0},
        {"dir/inner.txt", "inner\n", 0},
        {"link_in", "hello\n", 0},                  /* a link inside */
        {"link_chain", "hello\n", 0},               /* a link to a link */
        {"link_dir_in/inner.txt", "inner\n", 0},    /* a directory link */
        {"link_dir_slash/inner.txt", "inner\n", 0}, /* ... written "dir/" */
        {"link_dot/file.txt", "hello\n", 0},        /* "." */
        {"link_in_dotdot", "hello\n", 0},           /* "dir/../file.txt" */
        {"dir/link_sibling", "hello\n", 0},         /* "../file.txt" from dir */
        {"dir/up/file.txt", "hello\n", 0},          /* ".." back to the root */
        {"dir/up/dir/up/link_in", "hello\n", 0},    /* and round again */
        {"link_deep_up", "inner\n", 0},             /* ".." after a link: dir/sub/.. */
        {"link_deep/../inner.txt", "inner\n", 0},   /* is dir, not the root */
        {"dir/./inner.txt", "inner\n", 0},
        {"link_absolute_in", NULL, EXDEV}, /* absolute, though inside */
        {"link_out", NULL, EXDEV},         /* absolute, outside */
        {"link_passwd", NULL, EXDEV},
        {"link_out_relative", NULL, EXDEV},        /* "../outside/secret" */
        {"link_out_dotdot", NULL, EXDEV},          /* "dir/../../outside/secret" */
        {"link_out_dir/secret", NULL, EXDEV},      /* a directory link out */
        {"dir/up_up/outside/secret", NULL, EXDEV}, /* "../.." from dir */
        {"..", NULL, EXDEV},
        {"dir/../../outside/secret", NULL, EXDEV},
        {"/etc/passwd", NULL, EXDEV},
        {"loop", NULL, ELOOP},
        {"loop_a", NULL, ELOOP},
        {"dangling", NULL, ENOENT},
        {"missing/file.txt", NULL, ENOENT},
        {"file.txt/x", NULL, ENOTDIR},
    };
    static const struct {
        const char *name;
        enum http_path_resolver resolver;
    } resolvers[] = {{"openat2", HTTP_PATH_OPENAT2}, {"walk", HTTP_PATH_WALK}};
    for (size_t r = 0; r < sizeof resolvers / sizeof resolvers[0]; r++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int before = open_fd_count();
            errno = 0;
            int fd = http_path_open_beneath(root_fd, cases[i].path, resolvers[r].resolver);
            int error = errno;
            char got[64] = "";
            if (fd >= 0) {
                ssize_t n = pread(fd, got, sizeof got - 1, 0);
                got[n > 0 ? n : 0] = '\0';
                close(fd);
            }
            bool right = cases[i].content != NULL ? fd >= 0 && strcmp(got, cases[i].content) == 0
                                                  : fd < 0 && error == cases[i].error;
            if (!right) {
                print_error("%s: %s: fd %d, \"%s\", errno %s; expected %s\n", resolvers[r].name,
                            cases[i].path, fd, got, fd < 0 ? strerror(error) : "-",
                            cases[i].content ? cases[i].content : strerror(cases[i].error));
                fail();
            }
            assert_int_equal(open_fd_count(), before); /* nothing leaked */
        }
    }
}

/* Normalize then open, as the responder does, for the traversal spellings. */
static void test_normalize_then_open(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/file.txt", 0},
        {"/dir/", 0},
        {"/./file.txt", 0},
        {"/dir/../file.txt", 0},
        {"/%66ile.txt", 0},
        {"/../outside/secret", 403},
        {"/%2e%2e/outside/secret", 403},
        {"/..%2foutside%2fsecret", 400},
        {"/..%5coutside%5csecret", 404},
        {"/%252e%252e/outside/secret", 404},
        {"/link_out", 403},
        {"/file.txt%00.html", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = cases[i].path;
        size_t length = strlen(path);
        char relative[HTTP_PATH_MAX];
        int status = http_path_normalize(path, length, relative, sizeof relative);
        int fd = -1;
        struct stat info;
        bool is_index;
        if (status == 0)
            status =
                http_path_open(root_fd, relative, path[length - 1] == '/', &fd, &info, &is_index);
        if (status != cases[i].status) {
            print_error("%s: %d, expected %d\n", path, status, cases[i].status);
            fail();
        }
        if (fd >= 0)
            close(fd);
    }
}

/* ---- http_path_hidden ---------------------------------------------------------- */

static void test_hidden(void **state)
{
    (void)state;
    static const struct {
        const char *relative; /* as http_path_normalize leaves it */
        bool hidden;
    } cases[] = {
        {".env", true},
        {".git/config", true},
        {"a/.git/config", true},
        {"a/b/.c", true},
        {"..a", true},
        {"...", true},
        {".well-known/.x", true},
        {".well-knownx/y", true},
        {"a/.well-known/x", true},
        {".", false},
        {"a.txt", false},
        {"dir/file.name", false},
        {"a/b./c", false},
        {".well-known", false},
        {".well-known/x", false},
        {".well-known/a/b", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (http_path_hidden(cases[i].relative) != cases[i].hidden) {
            print_error("%s: expected %s\n", cases[i].relative,
                        cases[i].hidden ? "hidden" : "not hidden");
            fail();
        }
    }
}

int main(void)
{
    struct CMUnitTest tests[NORMALIZE_CASES + 1];
    for (size_t i = 0; i < NORMALIZE_CASES; i++)
        tests[i] = (struct CMUnitTest){.name = normalize_cases[i].name,
                                       .test_func = test_normalize_case,
                                       .initial_state = (void *)&normalize_cases[i]};
    tests[NORMALIZE_CASES] = (struct CMUnitTest)cmocka_unit_test(test_normalize_long);
    int failed =
        _cmocka_run_group_tests("http_path_normalize", tests, NORMALIZE_CASES + 1, NULL, NULL);

    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open_files),
        cmocka_unit_test(test_open_refusals),
        cmocka_unit_test(test_open_fifo),
        cmocka_unit_test(test_open_outside),
        cmocka_unit_test(test_open_absolute_inside),
        cmocka_unit_test(test_normalize_then_open),
        cmocka_unit_test(test_hidden),
    };
    const struct CMUnitTest resolver_tests[] = {cmocka_unit_test(test_resolvers)};
    failed += cmocka_run_group_tests_name("http_path_open_beneath (both resolvers)", resolver_tests,
                                          setup_with_openat2, tree_teardown);
    failed += cmocka_run_group_tests_name("http_path_open (openat2)", open_tests,
                                          setup_with_openat2, tree_teardown);
    failed += cmocka_run_group_tests_name("http_path_open (walk: no openat2)", open_tests,
                                          setup_without_openat2, tree_teardown);
    return failed;
}
