/* lock — see lock.h.
 *
 * fcntl: a record lock on an unlinked temporary file (UNP's my_lock_wait). POSIX
 * record locks belong to a process, not to a descriptor, so each child that
 * inherited the descriptor locks for itself, and the kernel drops the lock of a
 * child that dies.
 *
 * mutex: a pthread mutex in a MAP_SHARED page mapped before the fork, marked
 * process-shared. It is also robust: a child killed while holding it (kill -9
 * while asleep in accept()) would otherwise leave every other child waiting
 * forever; with a robust mutex the next locker gets EOWNERDEAD and repairs it. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static enum accept_lock_kind lock_kind;
static int lock_fd = -1;
static pthread_mutex_t *lock_mutex;

int accept_lock_init(enum accept_lock_kind kind)
{
    lock_kind = kind;
    if (kind == ACCEPT_LOCK_FCNTL) {
        char path[] = "/tmp/prefork-lock-XXXXXX";
        lock_fd = mkostemp(path, O_CLOEXEC);
        if (lock_fd < 0)
            return -1;
        unlink(path); /* the open descriptor is all the children need */
    } else if (kind == ACCEPT_LOCK_MUTEX) {
        lock_mutex = mmap(NULL, sizeof *lock_mutex, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (lock_mutex == MAP_FAILED)
            return -1;
        pthread_mutexattr_t attributes;
        pthread_mutexattr_init(&attributes);
        pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
        int rc = pthread_mutex_init(lock_mutex, &attributes);
        pthread_mutexattr_destroy(&attributes);
        if (rc != 0) {
            errno = rc;
            return -1;
        }
    }
    return 0;
}

/* DOC: lock-acquire */
bool accept_lock_acquire(void)
{
    switch (lock_kind) {
    case ACCEPT_LOCK_FCNTL: {
        /* EXERCISE prefork-lock: take the record lock, sleeping until it is free */
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        return fcntl(lock_fd, F_SETLKW, &lock) == 0; /* EINTR: a signal */
        /* END EXERCISE */
    }
    case ACCEPT_LOCK_MUTEX: {
        /* Never EINTR: a signal runs its handler and the wait goes on, so the
         * caller must look at the stop flag once it holds the lock. */
        int rc = pthread_mutex_lock(lock_mutex);
        if (rc == EOWNERDEAD) /* the holder died; nothing it guarded is broken */
            rc = pthread_mutex_consistent(lock_mutex);
        return rc == 0;
    }
    default: return true;
    }
}

void accept_lock_release(void)
{
    if (lock_kind == ACCEPT_LOCK_FCNTL) {
        /* EXERCISE prefork-lock: give the record lock back */
        struct flock lock = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
        fcntl(lock_fd, F_SETLK, &lock);
        /* END EXERCISE */
    } else if (lock_kind == ACCEPT_LOCK_MUTEX) {
        pthread_mutex_unlock(lock_mutex);
    }
}
