/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>

#include "hashmap.h"

struct hashmap_entry {
        struct hashmap_entry *next;
        uint64_t key;
        void *value;
};

static size_t bucket_of(uint64_t key, size_t n) {
        key ^= key >> 33;
        key *= 0xff51afd7ed558ccdULL;
        key ^= key >> 33;
        return (size_t) key & (n - 1);
}

static int hashmap_grow(struct hashmap *h) {
        size_t n = h->nr_buckets ? h->nr_buckets * 2 : 64;
        struct hashmap_entry **b = calloc(n, sizeof(*b));
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < h->nr_buckets; i++)
                for (struct hashmap_entry *e = h->buckets[i], *next; e; e = next) {
                        next = e->next;
                        size_t j = bucket_of(e->key, n);
                        e->next = b[j];
                        b[j] = e;
                }
        free(h->buckets);
        h->buckets = b;
        h->nr_buckets = n;
        return 0;
}

void *hashmap_get(const struct hashmap *h, uint64_t key) {
        if (!h->nr_buckets)
                return NULL;
        for (struct hashmap_entry *e = h->buckets[bucket_of(key, h->nr_buckets)]; e; e = e->next)
                if (e->key == key)
                        return e->value;
        return NULL;
}

int hashmap_put(struct hashmap *h, uint64_t key, void *value) {
        if (hashmap_get(h, key))
                return -EEXIST;
        if (h->size >= h->nr_buckets) {
                int r = hashmap_grow(h);
                if (r < 0)
                        return r;
        }
        struct hashmap_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        size_t i = bucket_of(key, h->nr_buckets);
        *e = (struct hashmap_entry) { .next = h->buckets[i], .key = key, .value = value };
        h->buckets[i] = e;
        h->size++;
        return 0;
}

void *hashmap_remove(struct hashmap *h, uint64_t key) {
        if (!h->nr_buckets)
                return NULL;
        for (struct hashmap_entry **p = &h->buckets[bucket_of(key, h->nr_buckets)]; *p; p = &(*p)->next)
                if ((*p)->key == key) {
                        struct hashmap_entry *e = *p;
                        void *v = e->value;
                        *p = e->next;
                        free(e);
                        h->size--;
                        return v;
                }
        return NULL;
}

void hashmap_clear(struct hashmap *h) {
        for (size_t i = 0; i < h->nr_buckets; i++)
                for (struct hashmap_entry *e = h->buckets[i], *next; e; e = next) {
                        next = e->next;
                        free(e);
                }
        free(h->buckets);
        *h = (struct hashmap) {};
}

void *hashmap_first(const struct hashmap *h) {
        for (size_t i = 0; i < h->nr_buckets; i++)
                if (h->buckets[i])
                        return h->buckets[i]->value;
        return NULL;
}

void *hashmap_steal_first(struct hashmap *h) {
        for (size_t i = 0; i < h->nr_buckets; i++) {
                struct hashmap_entry *e = h->buckets[i];
                if (e) {
                        void *v = e->value;
                        h->buckets[i] = e->next;
                        free(e);
                        h->size--;
                        return v;
                }
        }
        return NULL;
}
