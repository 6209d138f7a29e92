/* coro — stackful coroutines: create, resume, yield, free.
 *
 * A coroutine is a function with a stack of its own. coro_resume() runs it
 * until it calls coro_yield() (or returns); the next coro_resume() continues it
 * right after that coro_yield(), with its local variables and its position in
 * the code intact. That is all a blocking handler needs in order to run on an
 * event loop: "would block" becomes "yield to the loop".
 *
 * Rules:
 *   - Asymmetric: coro_yield() always goes back to whoever resumed the running
 *     coroutine. A coroutine may resume another (nesting); none may resume
 *     itself or one that is already running further up.
 *   - One thread: coroutines, the free list of stacks and coro_current() belong
 *     to the thread that uses them; nothing here is locked.
 *   - Each stack has a PROT_NONE guard page below it: an overflow is a SIGSEGV
 *     at once, never a silent write into other memory.
 *   - The switch makes no system call (coro_switch.S on x86-64 and aarch64,
 *     ucontext elsewhere — docs/coroutine.md says what it saves and why). */
#ifndef CORO_H
#define CORO_H

#include <stdbool.h>
#include <stddef.h>

struct coro;

/* The coroutine's body. When it returns, the coroutine is finished. */
typedef void coro_fn(void *arg);

enum { CORO_DEFAULT_STACK_KB = 64 };

/* The stack size of coroutines created from now on, in bytes (rounded up to
 * whole pages; at least 16 KiB). Stacks already on the free list that are of
 * another size are unmapped rather than reused. */
void coro_set_stack_size(size_t bytes);
size_t coro_stack_size(void);

/* A coroutine that will run fn(arg) when first resumed, on a recycled stack
 * if one is free. NULL with errno (ENOMEM) if no stack could be mapped. */
struct coro *coro_create(coro_fn *fn, void *arg);

/* Run coro until it yields or finishes. value is what its coro_yield() returns
 * (ignored on the first resume: fn gets arg). Returns the value it passed to
 * coro_yield(), or NULL when it finished. Never resume a finished coroutine. */
void *coro_resume(struct coro *coro, void *value);

/* From inside a coroutine: back to its resumer, which gets value from its
 * coro_resume(). Returns the value of the next coro_resume(). */
void *coro_yield(void *value);

/* The running coroutine, or NULL in the thread's own (main) context. */
struct coro *coro_current(void);
bool coro_finished(const struct coro *coro);

/* Give the stack back: onto the free list for the next coro_create (at most
 * CORO_FREE_MAX are kept; beyond that it is unmapped). A coroutine freed while
 * suspended is abandoned: whatever its frames held (open files...) is lost. */
void coro_free(struct coro *coro);
enum { CORO_FREE_MAX = 1024 };
/* Unmap every stack on the free list. */
void coro_trim(void);

/* Give back to the kernel the pages of a suspended coroutine's stack that lie
 * wholly below its stack pointer (less the red zone the ABI lets a function
 * use below it): MADV_DONTNEED, so they cost no memory until the coroutine goes
 * that deep again and they come back as zeroed pages. For a coroutine parked
 * for a long time at a shallow point (an idle connection). Returns the bytes
 * given back; 0 with ucontext, whose stack pointer this file does not read. */
size_t coro_release_stack(struct coro *coro);

/* How this build switches: "coro_switch.S, x86-64", "... aarch64" or "ucontext". */
const char *coro_switch_kind(void);

/* Stacks currently mapped (running, suspended or on the free list): for tests
 * that check recycling. */
size_t coro_stacks_mapped(void);

/* The deepest this coroutine's stack has ever been used, in bytes: found by
 * scanning up from the guard page for the first byte that is not zero. Exact
 * for a fresh stack (mmap gives zeroed pages); a recycled stack reports the
 * peak of every coroutine that ran on it, and one whose pages were released
 * reports less. For sizing --stack-kb. */
size_t coro_stack_peak(const struct coro *coro);

#endif
