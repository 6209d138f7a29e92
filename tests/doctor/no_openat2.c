/* no_openat2 — LD_PRELOAD shim: a kernel without openat2 (before 5.6), or
 * valgrind 3.19, which does not know the system call. syscall(SYS_openat2, ...)
 * fails with ENOSYS (NO_OPENAT2_ERRNO=EPERM: a seccomp filter that refuses it;
 * NO_OPENAT2_ERRNO=off: it goes through); every other system call goes through.
 * tests/unit/test_http_path links this file in, and switches it per group. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long args[6];
    for (int i = 0; i < 6; i++)
        args[i] = va_arg(ap, long);
    va_end(ap);
    const char *name = getenv("NO_OPENAT2_ERRNO");
    if (number == SYS_openat2 && (name == NULL || strcmp(name, "off") != 0)) {
        errno = name != NULL && strcmp(name, "EPERM") == 0 ? EPERM : ENOSYS;
        return -1;
    }
    static long (*real)(long, ...);
    if (real == NULL)
        real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, args[0], args[1], args[2], args[3], args[4], args[5]);
}
