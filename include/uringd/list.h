/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An intrusive doubly linked list, as in the kernel's <linux/list.h>. */

#include <stdbool.h>
#include "uringd/macro.h"

struct list_head {
        struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void list_init(struct list_head *h) {
        h->next = h->prev = h;
}

static inline bool list_empty(const struct list_head *h) {
        return h->next == h;
}

static inline void list_insert_between(struct list_head *n, struct list_head *prev, struct list_head *next) {
        next->prev = n;
        n->next = next;
        n->prev = prev;
        prev->next = n;
}

static inline void list_add(struct list_head *n, struct list_head *h) {
        list_insert_between(n, h, h->next);
}

static inline void list_add_tail(struct list_head *n, struct list_head *h) {
        list_insert_between(n, h->prev, h);
}

static inline void list_del_init(struct list_head *n) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        list_init(n);
}

/* Move every entry of @from to the tail of @to, leaving @from empty. */
static inline void list_splice_tail_init(struct list_head *from, struct list_head *to) {
        if (list_empty(from))
                return;
        struct list_head *first = from->next, *last = from->prev;
        first->prev = to->prev;
        to->prev->next = first;
        last->next = to;
        to->prev = last;
        list_init(from);
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)

#define list_for_each_entry(pos, head, member)                                  \
        for (pos = list_entry((head)->next, __typeof__(*pos), member);          \
             &pos->member != (head);                                            \
             pos = list_entry(pos->member.next, __typeof__(*pos), member))

#define list_for_each_entry_safe(pos, n, head, member)                          \
        for (pos = list_entry((head)->next, __typeof__(*pos), member),          \
             n = list_entry(pos->member.next, __typeof__(*pos), member);        \
             &pos->member != (head);                                            \
             pos = n, n = list_entry(n->member.next, __typeof__(*n), member))
