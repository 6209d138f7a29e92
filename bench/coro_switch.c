/* coro_switch — nanoseconds per coroutine switch: ours (coroutine/coro.c with
 * coroutine/coro_switch.S) against swapcontext, which saves and restores the
 * signal mask with a system call (rt_sigprocmask) on every switch.
 *
 * Each measurement is ROUNDS round trips between the main context and one
 * coroutine (a round trip is two switches: resume, then yield), timed with
 * CLOCK_MONOTONIC after a warm-up; the best of REPEATS runs is printed, so a
 * run that the machine's other work interrupted does not count. One line per
 * switch, "NAME: N ns per switch", which bench/bench.py reads.
 *
 * usage: coro_switch [ROUNDS]   (default 2 000 000; swapcontext does a tenth) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

#include "coro.h"

enum { REPEATS = 5 };

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ---- ours */

static void bounce(void *arg)
{
    (void)arg;
    for (;;)
        coro_yield(NULL);
}

static double ours(long rounds)
{
    struct coro *coro = coro_create(bounce, NULL);
    if (coro == NULL) {
        perror("coro_create");
        exit(1);
    }
    for (long i = 0; i < rounds / 10; i++) /* warm-up: caches, branch predictors */
        coro_resume(coro, NULL);
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        double start = now_ns();
        for (long i = 0; i < rounds; i++)
            coro_resume(coro, NULL);
        double ns = (now_ns() - start) / (2.0 * (double)rounds);
        if (r == 0 || ns < best)
            best = ns;
    }
    coro_free(coro); /* abandoned in its loop: fine, it holds nothing */
    return best;
}

/* ---- swapcontext */

static ucontext_t main_context, other_context;

static void bounce_ucontext(void)
{
    for (;;)
        swapcontext(&other_context, &main_context);
}

static double with_swapcontext(long rounds)
{
    static char stack[64 * 1024];
    getcontext(&other_context);
    other_context.uc_stack.ss_sp = stack;
    other_context.uc_stack.ss_size = sizeof stack;
    other_context.uc_link = NULL;
    makecontext(&other_context, bounce_ucontext, 0);
    for (long i = 0; i < rounds / 10; i++)
        swapcontext(&main_context, &other_context);
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        double start = now_ns();
        for (long i = 0; i < rounds; i++)
            swapcontext(&main_context, &other_context);
        double ns = (now_ns() - start) / (2.0 * (double)rounds);
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 2 * 1000 * 1000;
    if (rounds < 10) {
        fprintf(stderr, "usage: %s [ROUNDS >= 10]\n", argv[0]);
        return 2;
    }
    printf("ours (%s): %.1f ns per switch\n", coro_switch_kind(), ours(rounds));
    fflush(stdout);
    printf("swapcontext: %.1f ns per switch\n",
           with_swapcontext(rounds / 10 > 10 ? rounds / 10 : 10));
    return 0;
}
