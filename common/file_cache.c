/* file_cache — see file_cache.h. */
#include "file_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

struct entry {
    bool used;
    bool trailing_slash;
    int64_t expires_ms; /* io_now_ms() clock */
    struct file_cache_meta meta;
    char key[FILE_CACHE_KEY_MAX];
    char *body; /* meta.size bytes, in a buffer of capacity */
    size_t capacity;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards everything below */
static struct entry slots[FILE_CACHE_SLOTS];
static bool disabled;           /* set once at start-up, before any thread */
static unsigned long put_count; /* versions: one per put */

void file_cache_disable(void)
{
    disabled = true;
}

/* FNV-1a: short, and plenty for 64 slots. */
static struct entry *slot_for(const char *key, size_t length, bool trailing_slash)
{
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)key[i]) * 16777619u;
    hash = (hash ^ (trailing_slash ? 1u : 0u)) * 16777619u;
    return &slots[hash % FILE_CACHE_SLOTS];
}

/* The entry for this key if it is there and fresh; the lock must be held. */
static struct entry *find(const char *relative, bool trailing_slash)
{
    size_t length = strlen(relative);
    if (disabled || length >= FILE_CACHE_KEY_MAX)
        return NULL;
    struct entry *entry = slot_for(relative, length, trailing_slash);
    bool fresh = entry->used && entry->trailing_slash == trailing_slash &&
                 strcmp(entry->key, relative) == 0 && io_now_ms() < entry->expires_ms;
    return fresh ? entry : NULL;
}

bool file_cache_get(const char *relative, bool trailing_slash, struct file_cache_meta *meta)
{
    pthread_mutex_lock(&lock);
    struct entry *entry = find(relative, trailing_slash);
    if (entry != NULL)
        *meta = entry->meta;
    pthread_mutex_unlock(&lock);
    return entry != NULL;
}

bool file_cache_copy_body(const char *relative, bool trailing_slash,
                          const struct file_cache_meta *meta, char *body, size_t body_size)
{
    pthread_mutex_lock(&lock);
    struct entry *entry = find(relative, trailing_slash);
    bool same =
        entry != NULL && entry->meta.version == meta->version && entry->meta.size <= body_size;
    if (same)
        memcpy(body, entry->body, entry->meta.size);
    pthread_mutex_unlock(&lock);
    return same;
}

void file_cache_put(const char *relative, bool trailing_slash, const struct file_cache_meta *meta,
                    const char *body, size_t max_size)
{
    size_t length = strlen(relative);
    if (disabled || length >= FILE_CACHE_KEY_MAX || meta->size > max_size)
        return;
    struct entry *entry = slot_for(relative, length, trailing_slash);
    pthread_mutex_lock(&lock);
    if (entry->capacity < meta->size || entry->body == NULL) {
        char *grown = realloc(entry->body, meta->size > 0 ? meta->size : 1);
        if (grown == NULL) { /* no memory: just don't cache */
            entry->used = false;
            pthread_mutex_unlock(&lock);
            return;
        }
        entry->body = grown;
        entry->capacity = meta->size > 0 ? meta->size : 1;
    }
    memcpy(entry->key, relative, length + 1);
    memcpy(entry->body, body, meta->size);
    entry->meta = *meta;
    entry->meta.version = ++put_count;
    entry->trailing_slash = trailing_slash;
    entry->expires_ms = io_now_ms() + FILE_CACHE_TTL_MS;
    entry->used = true;
    pthread_mutex_unlock(&lock);
}
