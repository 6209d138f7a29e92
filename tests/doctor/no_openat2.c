/* no_openat2 — LD_PRELOAD shim: a kernel without openat2 (before 5.6), or
 * valgrind 3.19, which does not know the system call. syscall(SYS_openat2, ...)
 * fails with ENOSYS (NO_OPENAT2_ERRNO=EPERM: a seccomp filter that refuses it);
 * every other system call goes through. */
#define _GNU_SOURCE
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
    if (number == SYS_openat2) {
        const char *name = getenv("NO_OPENAT2_ERRNO");
        errno = name != NULL && strcmp(name, "EPERM") == 0 ? EPERM : ENOSYS;
        return -1;
    }
    static long (*real)(long, ...);
    if (real == NULL)
        real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, args[0], args[1], args[2], args[3], args[4], args[5]);
}
