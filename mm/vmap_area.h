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
  unsigned long nr_free, nr_busy;  // nodes in each tree
};

inline unsigned long va_size(const vmap_area *va) { return va->va_end - va->va_start; }

// Starts with [start, end) as one free range held by `first` (a node the
// caller provides; the space keeps it).
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
// Returns the nodes that merging made unnecessary (0, 1 or 2 of them) in
// freed[] for the caller to give back; returns how many.
unsigned vmap_free_range(vmap_space *vs, vmap_area *va, vmap_area *freed[2]);

// Calls fn(vmap_area *) for every busy (or free) area in address order.
template <class F>
void vmap_for_each(vmap_area *root, F &&fn) {
  if (!root) return;
  vmap_for_each(root->left, fn);
  fn(root);
  vmap_for_each(root->right, fn);
}

// Checks the space's invariants: both trees ordered and heap-ordered, sizes
// and counts right, free ranges not touching, the two trees tiling
// [start, end) exactly. Returns nullptr, or a description of the first
// violation found (a static string).
const char *vmap_space_check(const vmap_space *vs);
