/* lock — the accept locks of UNP §30.7–30.8: one worker at a time sleeps in
 * accept(), the others wait on the lock. */
#ifndef PREFORK_LOCK_H
#define PREFORK_LOCK_H

#include <stdbool.h>

enum accept_lock_kind { ACCEPT_LOCK_NONE, ACCEPT_LOCK_FCNTL, ACCEPT_LOCK_MUTEX };

/* In the parent, before the workers are forked. Returns 0, or -1 with errno set. */
int accept_lock_init(enum accept_lock_kind kind);
/* True with the lock held (always true for ACCEPT_LOCK_NONE); false if a signal
 * interrupted the wait, and then the lock is not held. */
bool accept_lock_acquire(void);
void accept_lock_release(void);

#endif
