// Address ranges of the vmalloc space: which are busy and which are free
// (Linux's vmap_area trees in mm/vmalloc.c, written fresh).
//
// Basic algorithm:
//  1. Every range [va_start, va_end) is a vmap_area node in one of two
//     ordered trees keyed by va_start: the free tree and the busy tree.
//     Together they tile the whole space, and no two free ranges touch
//     (freeing merges a range with its free neighbours).
//  2. The trees are treaps: binary search trees by address that are also
//     heaps by a pseudo-random priority, so every operation is logarithmic in
//     expectation whatever the order of requests. Each free-tree node also
//     keeps the largest range size in its subtree, so the lowest-addressed
//     free range that can hold a request is found in one descent.
//  3. Allocation takes the first fit by address, splitting off what is left
//     before and after it. The nodes it may need come from the caller, who
//     allocates them before taking its lock.
//  4. A freed range may wait before it is free again (vmalloc's lazy purge:
//     its translations may still be cached by some CPU until a TLB flush
//     covers it): it moves from the busy tree to the lazy tree, and a purge
//     moves the whole lazy tree to the purging tree (while the flush is under
//     way), then merges each of those ranges into the free tree. Lazy and
//     purging ranges are neither busy nor free: no allocation gets them, and
//     a free range may touch them (they are merged only when purged).
//  5. The node the space starts with is the caller's for good, never handed
//     back: a merge keeps it rather than a neighbour, and when an allocation
//     uses up its range it waits unused for the next free. So a space whose
//     every range is free again is that one node, and holds none of the
//     caller's allocated nodes (a `reset` after churn gives back every slab).
//
// No locking here: the vmalloc layer serialises calls on one vmap_space.
#pragma once

#include "kernel/types.h"

struct vm_struct;

struct vmap_area {
  uintptr_t va_start, va_end;  // [va_start, va_end), page-aligned
  vmap_area *left, *right;     // treap children
  u32 prio;                    // treap heap priority (larger: nearer the root)
  unsigned long subtree_max_size;  // free tree: the largest size below and at this node
  vm_struct *vm;               // busy areas: what the range holds
};

struct vmap_space {
  uintptr_t start, end;  // the whole range managed
  vmap_area *free_root, *busy_root;
  vmap_area *lazy_root;     // freed, waiting for a purge (Linux's purge_vmap_area_list)
  vmap_area *purging_root;  // taken by the purge under way, waiting for its flush
  unsigned long nr_free, nr_busy, nr_lazy, nr_purging;  // nodes in each tree
  vmap_area *first;   // the node given at init: in the free tree, or unused
  bool first_unused;  // allocation used up first's range; the next free takes it
};

inline unsigned long va_size(const vmap_area *va) { return va->va_end - va->va_start; }

// Starts with [start, end) as one free range held by `first` (a node the
// caller provides; the space keeps it for good: it never comes back as
// surplus nor in freed[]).
void vmap_space_init(vmap_space *vs, uintptr_t start, uintptr_t end, vmap_area *first);

// Nodes the caller hands in and gets back, so that no allocation happens
// under the caller's lock.
struct vmap_nodes {
  vmap_area *busy;     // in: the node the busy area will be (always used on success)
  vmap_area *split;    // in: used when a free range is split in three (then set to nullptr)
  vmap_area *surplus;  // out: a free-tree node that is no longer needed, or nullptr
};

// Reserves the lowest-addressed range of `size` bytes aligned to `align`
// (a power of two, at least a page) in nodes.busy and returns it; nullptr
// when no free range can hold the request (nothing changed).
vmap_area *vmap_alloc_range(vmap_space *vs, unsigned long size, unsigned long align, vmap_nodes &nodes);

// The busy area that contains addr, or nullptr.
vmap_area *vmap_find_busy(const vmap_space *vs, uintptr_t addr);

// The busy area that starts exactly at addr, or nullptr.
vmap_area *vmap_find_busy_at(const vmap_space *vs, uintptr_t addr);

// Returns a busy area to the free tree, merging it with free neighbours.
// Returns the nodes that merging made unnecessary (0 to 3 of them: the space keeps its first node, see 5. above) in
// freed[] for the caller to give back; returns how many.
unsigned vmap_free_range(vmap_space *vs, vmap_area *va, vmap_area *freed[3]);

// Moves a busy area to the lazy tree (freed, not yet free).
void vmap_lazy_range(vmap_space *vs, vmap_area *va);
// The lazy or purging range that contains addr, or nullptr.
vmap_area *vmap_find_lazy(const vmap_space *vs, uintptr_t addr);

// A purge, in two steps around its TLB flush. vmap_begin_purge moves every
// lazy range to the purging tree and returns the span [*start, *end) that
// covers them all; false (nothing moved) when there is no lazy range or a
// purge is already under way. vmap_finish_purge merges every purging range
// into the free tree; the nodes that merging made unnecessary are chained
// through their `left` into *unused for the caller to give back. Returns the
// pages (va_size / PAGE_SIZE) of the ranges it freed.
bool vmap_begin_purge(vmap_space *vs, uintptr_t *start, uintptr_t *end);
unsigned long vmap_finish_purge(vmap_space *vs, vmap_area **unused);

// Calls fn(vmap_area *) for every area of one tree in address order.
template <class F>
void vmap_for_each(vmap_area *root, F &&fn) {
  if (!root) return;
  vmap_for_each(root->left, fn);
  fn(root);
  vmap_for_each(root->right, fn);
}

// Checks the space's invariants: every tree ordered and heap-ordered, sizes
// and counts right, free ranges not touching, the four trees (free, busy,
// lazy, purging) tiling [start, end) exactly. Returns nullptr, or a description of the first
// violation found (a static string).
const char *vmap_space_check(const vmap_space *vs);
