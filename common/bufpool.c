/* bufpool — see bufpool.h. Each buffer is a mapping of its own, so a buffer
 * beyond the bound goes back to the kernel at once with munmap (free() would
 * keep it in the process's heap). */
#include "bufpool.h"

#include <sys/mman.h>
#include <unistd.h>

void bufpool_init(struct bufpool *pool, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *pool = (struct bufpool){.size = (size + page - 1) / page * page, .free_max = BUFPOOL_FREE_MAX};
}

void *bufpool_get(struct bufpool *pool)
{
    void *buffer = pool->free;
    if (buffer != NULL) {
        pool->free = *(void **)buffer;
        pool->free_count--;
    } else {
        buffer = mmap(NULL, pool->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buffer == MAP_FAILED)
            return NULL;
    }
    pool->lent++;
    return buffer;
}

void bufpool_put(struct bufpool *pool, void *buffer)
{
    pool->lent--;
    *(void **)buffer = pool->free;
    pool->free = buffer;
    pool->free_count++;
    int keep = pool->lent > pool->free_max ? pool->lent : pool->free_max;
    while (pool->free_count > keep) { /* the returned one first: it is on top */
        void *spare = pool->free;
        pool->free = *(void **)spare;
        pool->free_count--;
        munmap(spare, pool->size);
    }
}

void bufpool_trim(struct bufpool *pool)
{
    while (pool->free != NULL) {
        void *buffer = pool->free;
        pool->free = *(void **)buffer;
        munmap(buffer, pool->size);
    }
    pool->free_count = 0;
}
