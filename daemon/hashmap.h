/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small chained hash map from uint64_t keys to pointers. Not thread-safe. */

#include <stddef.h>
#include <stdint.h>

struct hashmap_entry;

struct hashmap {
        struct hashmap_entry **buckets;
        size_t nr_buckets;      /* power of two, or 0 before first put */
        size_t size;
};

/* Returns 0, -EEXIST when @key is present, or -ENOMEM. */
int hashmap_put(struct hashmap *h, uint64_t key, void *value);
void *hashmap_get(const struct hashmap *h, uint64_t key);
/* Remove @key; returns its value or NULL. */
void *hashmap_remove(struct hashmap *h, uint64_t key);
void hashmap_clear(struct hashmap *h);
/* Some value of the map, or NULL when empty (to drain it). */
void *hashmap_first(const struct hashmap *h);
/* Remove some entry and return its value, or NULL when empty. */
void *hashmap_steal_first(struct hashmap *h);
