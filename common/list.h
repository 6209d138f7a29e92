/* list — a small intrusive list, for the event servers' live connections
 * (multiplex's struct conn, coroutine's struct task): embed a struct
 * list_node in the element and keep a struct list. Adding and removing are
 * O(1) with no special case for the first element: each node's link points
 * at whatever points at it (the list's first, or the previous node's next).
 * A zeroed struct list is empty. Nothing here allocates. */
#ifndef LIST_H
#define LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *next;
    struct list_node **link; /* the pointer that points at this node */
};

struct list {
    struct list_node *first;
};

/* The element a node is embedded in: LIST_ITEM(node, struct conn, node). */
#define LIST_ITEM(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline bool list_empty(const struct list *list)
{
    return list->first == NULL;
}

/* Add node at the front. */
static inline void list_push(struct list *list, struct list_node *node)
{
    node->next = list->first;
    node->link = &list->first;
    if (node->next != NULL)
        node->next->link = &node->next;
    list->first = node;
}

static inline void list_remove(struct list_node *node)
{
    *node->link = node->next;
    if (node->next != NULL)
        node->next->link = node->link;
}

/* Remove and return the first node, or NULL. */
static inline struct list_node *list_pop(struct list *list)
{
    struct list_node *node = list->first;
    if (node != NULL)
        list_remove(node);
    return node;
}

#endif
