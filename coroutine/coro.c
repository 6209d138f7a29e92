/* coro — see coro.h.
 *
 * One mapping per coroutine, lowest address first:
 *
 *     [ guard page, PROT_NONE ][ stack, growing down ........ ][ struct coro ]
 *                              low                       top ┘
 *
 * A new coroutine's stack gets a hand-made frame that looks as if it had called
 * coro_switch() itself: saved registers that hold the coroutine and its entry,
 * and a return address, coro_start. Its first coro_resume() "returns" there.
 *
 * Only this file and coro_switch.S know the architecture; with ASan or TSan
 * they also tell the sanitizer which stack is current (fiber annotations). */
#include "coro.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(CORO_UCONTEXT)
#define CORO_ASSEMBLY 1 /* coro_switch.S */
#else
#define CORO_ASSEMBLY 0 /* the fallback: ucontext, a system call per switch */
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif
#ifndef CORO_ASAN
#define CORO_ASAN 0
#endif
#ifndef CORO_TSAN
#define CORO_TSAN 0
#endif
#if CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CORO_NO_ASAN __attribute__((no_sanitize_address))
#else
#define CORO_NO_ASAN
#endif
#if CORO_TSAN
#include <sanitizer/tsan_interface.h>
/* TSan runs a signal handler late, at the next intercepted call, and keeps the
 * pending signal with the fiber that was running when it arrived. A coroutine
 * that finishes right after the signal would take it to its grave (the server
 * then never sees SIGTERM). So before a coroutine leaves its fiber, one cheap
 * intercepted call lets TSan deliver what is pending. TSan builds only. */
static void tsan_deliver_pending_signals(void)
{
    size_t (*volatile intercepted)(const char *) = strlen;
    intercepted("");
}
#endif

struct coro {
#if CORO_ASSEMBLY
    void *sp;         /* its stack pointer while suspended */
    void *resumer_sp; /* its resumer's, while it runs */
#else
    ucontext_t context, resumer_context;
#endif
    struct coro *resumer; /* who resumed it: NULL for the main context */
    coro_fn *fn;
    void *arg;
    void *transfer; /* the value the last resume or yield passed */
    bool running;   /* resumed and not yet yielded (maybe nested below) */
    bool finished;
    char *mapping; /* guard page + stack + this struct */
    size_t mapping_size;
    struct coro *next_free;
#if CORO_ASAN
    const void *resumer_stack; /* the resumer's stack, to tell ASan on yield */
    size_t resumer_stack_size;
#endif
#if CORO_TSAN
    void *fiber, *resumer_fiber;
#endif
};

enum { CONTROL_SIZE = (sizeof(struct coro) + 63) / 64 * 64, MIN_STACK = 16 * 1024 };

static size_t stack_bytes = CORO_DEFAULT_STACK_KB * 1024;
/* Per thread: which coroutine runs, and the recycled stacks. */
static _Thread_local struct coro *current;
static _Thread_local struct coro *free_list;
static _Thread_local size_t free_count, mapped_count;

static size_t page_size(void)
{
    static size_t size;
    if (size == 0)
        size = (size_t)sysconf(_SC_PAGESIZE);
    return size;
}

static size_t mapping_size_for(size_t stack)
{
    size_t page = page_size();
    return page + (stack + CONTROL_SIZE + page - 1) / page * page;
}

void coro_set_stack_size(size_t bytes)
{
    stack_bytes = bytes < MIN_STACK ? MIN_STACK : bytes;
}

size_t coro_stack_size(void)
{
    return stack_bytes;
}
struct coro *coro_current(void)
{
    return current;
}
bool coro_finished(const struct coro *coro)
{
    return coro->finished;
}
size_t coro_stacks_mapped(void)
{
    return mapped_count;
}

const char *coro_switch_kind(void)
{
#if CORO_ASSEMBLY && defined(__x86_64__)
    return "coro_switch.S, x86-64";
#elif CORO_ASSEMBLY
    return "coro_switch.S, aarch64";
#else
    return "ucontext";
#endif
}

static char *stack_low(const struct coro *coro)
{
    return coro->mapping + page_size();
}
static char *stack_top(const struct coro *coro)
{
    return (char *)coro;
} /* 64-aligned */

/* DOC: coro-stack
 * A fresh mapping: the guard page, the stack, and the struct at the top.
 * Only the pages a coroutine touches cost memory: anonymous pages are faulted
 * in on demand. MAP_NORESERVE only skips commit accounting for the rest. */
static struct coro *map_stack(void)
{
    size_t size = mapping_size_for(stack_bytes);
    char *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED)
        return NULL;
    if (mprotect(mapping, page_size(), PROT_NONE) != 0) {
        int error = errno;
        munmap(mapping, size);
        errno = error;
        return NULL;
    }
    struct coro *coro = (struct coro *)(mapping + size - CONTROL_SIZE);
    coro->mapping = mapping;
    coro->mapping_size = size;
    mapped_count++;
    return coro;
}

static void unmap_stack(struct coro *coro)
{
    mapped_count--;
    munmap(coro->mapping, coro->mapping_size); /* the struct goes with it */
}

/* Switching: the three moves, each with what the sanitizers must be told. */

#if CORO_ASSEMBLY
void coro_switch(void **save_sp, void *load_sp); /* coro_switch.S */
void coro_start(void);
#else
static _Thread_local struct coro *starting; /* makecontext passes only ints */
#endif

_Noreturn static void coro_main(struct coro *coro);

/* From the resumer into coro. */
static void switch_in(struct coro *coro)
{
#if CORO_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, stack_low(coro),
                                   (size_t)(stack_top(coro) - stack_low(coro)));
#endif
#if CORO_TSAN
    coro->resumer_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(coro->fiber, 0);
#endif
#if CORO_ASSEMBLY
    coro_switch(&coro->resumer_sp, coro->sp);
#else
    starting = coro;
    swapcontext(&coro->resumer_context, &coro->context);
#endif
#if CORO_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#endif
}

/* From coro back to its resumer; finished: for good (coro_main's last act). */
static void switch_out(struct coro *coro, bool finished)
{
#if CORO_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(finished ? NULL : &fake_stack, coro->resumer_stack,
                                   coro->resumer_stack_size);
#else
    (void)finished;
#endif
#if CORO_TSAN
    tsan_deliver_pending_signals();
    __tsan_switch_to_fiber(coro->resumer_fiber, 0);
#endif
#if CORO_ASSEMBLY
    coro_switch(&coro->sp, coro->resumer_sp);
#else
    swapcontext(&coro->context, &coro->resumer_context);
#endif
#if CORO_ASAN
    /* Resumed, perhaps by someone else: remember whose stack to go back to. */
    __sanitizer_finish_switch_fiber(fake_stack, &coro->resumer_stack, &coro->resumer_stack_size);
#endif
}

#if !CORO_ASSEMBLY
static void coro_main_ucontext(void)
{
    coro_main(starting);
}
#endif

/* DOC: coro-frame
 * Make the first coro_resume() of coro start coro_main(coro) at the top of its
 * stack. The frame is exactly what coro_switch pops (see coro_switch.S). */
static void prepare_frame(struct coro *coro)
{
#if CORO_ASSEMBLY && defined(__x86_64__)
    /* Eight words; 16 bytes of zeros above them stand for a caller's frame. The
     * return address sits 16 bytes below the top, so after ret rsp is 16-byte
     * aligned at coro_start, whose call then aligns coro_main's frame. */
    uint64_t *frame = (uint64_t *)(stack_top(coro) - 16 - 8 * 8);
    memset(frame, 0, 16 + 8 * 8);
    frame[0] = 0x037Full << 32 | 0x1F80u; /* x87 control word, MXCSR: the ABI's initial values */
    frame[3] = (uintptr_t)coro_main;      /* r13: the entry */
    frame[4] = (uintptr_t)coro;           /* r12: its argument */
    frame[7] = (uintptr_t)coro_start;     /* return address; rbp (frame[6]) = 0 */
    coro->sp = frame;
#elif CORO_ASSEMBLY && defined(__aarch64__)
    uint64_t *frame = (uint64_t *)(stack_top(coro) - 160);
    memset(frame, 0, 160);
    frame[0] = (uintptr_t)coro;        /* x19: the argument */
    frame[1] = (uintptr_t)coro_main;   /* x20: the entry */
    frame[11] = (uintptr_t)coro_start; /* x30: return address; x29 (frame[10]) = 0 */
    coro->sp = frame;
#else
    getcontext(&coro->context);
    coro->context.uc_stack.ss_sp = stack_low(coro);
    coro->context.uc_stack.ss_size = (size_t)(stack_top(coro) - stack_low(coro));
    coro->context.uc_link = NULL;
    makecontext(&coro->context, coro_main_ucontext, 0);
#endif
}

/* The bottom frame of every coroutine. */
_Noreturn static void coro_main(struct coro *coro)
{
#if CORO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &coro->resumer_stack, &coro->resumer_stack_size);
#endif
    coro->fn(coro->arg);
    coro->running = false;
    coro->finished = true;
    coro->transfer = NULL;
    switch_out(coro, true);
    abort(); /* a finished coroutine was resumed */
}

/* DOC: coro-create */
struct coro *coro_create(coro_fn *fn, void *arg)
{
    struct coro *coro = free_list;
    size_t wanted = mapping_size_for(stack_bytes);
    while (coro != NULL && coro->mapping_size != wanted) { /* the size changed: drop */
        free_list = coro->next_free;
        free_count--;
        unmap_stack(coro);
        coro = free_list;
    }
    if (coro != NULL) {
        free_list = coro->next_free;
        free_count--;
    } else if ((coro = map_stack()) == NULL) {
        return NULL;
    }
    coro->resumer = NULL;
    coro->fn = fn;
    coro->arg = arg;
    coro->transfer = NULL;
    coro->running = false;
    coro->finished = false;
    coro->next_free = NULL;
#if CORO_TSAN
    coro->fiber = __tsan_create_fiber(0);
#endif
    prepare_frame(coro);
    return coro;
}

/* DOC: coro-resume */
void *coro_resume(struct coro *coro, void *value)
{
    if (coro->finished || coro->running)
        abort(); /* a bug in the caller: fail loudly, at once */
    coro->running = true;
    coro->transfer = value;
    coro->resumer = current;
    current = coro;
    switch_in(coro);
    current = coro->resumer; /* it yielded or finished */
    return coro->transfer;
}

void *coro_yield(void *value)
{
    struct coro *coro = current;
    if (coro == NULL)
        abort(); /* yield outside any coroutine */
    coro->transfer = value;
    coro->running = false;
    switch_out(coro, false);
    return coro->transfer; /* what the next coro_resume passed */
}

void coro_free(struct coro *coro)
{
    if (coro == NULL)
        return;
    if (coro->running)
        abort(); /* freeing the stack it runs on */
#if CORO_ASAN
    /* Frames that never returned (an abandoned coroutine, coro_main's last)
     * leave their redzones poisoned; the next user of the stack must not trip. */
    __asan_unpoison_memory_region(stack_low(coro), (size_t)(stack_top(coro) - stack_low(coro)));
#endif
#if CORO_TSAN
    __tsan_destroy_fiber(coro->fiber);
#endif
    if (free_count < CORO_FREE_MAX && coro->mapping_size == mapping_size_for(stack_bytes)) {
        coro->next_free = free_list;
        free_list = coro;
        free_count++;
    } else {
        unmap_stack(coro);
    }
}

/* DOC: coro-release-stack */
size_t coro_release_stack(struct coro *coro)
{
    if (coro->running || coro->finished)
        abort(); /* only a suspended stack stands still */
#if CORO_ASSEMBLY
    enum { RED_ZONE = 128 }; /* x86-64 System V; aarch64 has none */
    size_t page = page_size();
    uintptr_t below = ((uintptr_t)coro->sp - RED_ZONE) / page * page;
    char *low = stack_low(coro);
    if (below <= (uintptr_t)low)
        return 0;
    size_t length = below - (uintptr_t)low;
    if (madvise(low, length, MADV_DONTNEED) != 0)
        return 0; /* only memory is at stake: leave it be */
    return length;
#else
    return 0;
#endif
}

void coro_trim(void)
{
    while (free_list != NULL) {
        struct coro *coro = free_list;
        free_list = coro->next_free;
        unmap_stack(coro);
    }
    free_count = 0;
}

CORO_NO_ASAN size_t coro_stack_peak(const struct coro *coro)
{
    const char *p = stack_low(coro);
    while (p < stack_top(coro) && *p == 0)
        p++;
    return (size_t)(stack_top(coro) - p);
}
