// The vmap_area treaps. See mm/vmap_area.h for the algorithm.
#include "mm/vmap_area.h"

namespace {

// A well-mixed priority from the node's address: treap balance needs
// priorities independent of the keys, not secrecy.
u32 node_priority(const vmap_area *va) {
  u64 x = reinterpret_cast<uintptr_t>(va);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return u32(x);
}

unsigned long max_size(const vmap_area *t) { return t ? t->subtree_max_size : 0; }

void update(vmap_area *t) {
  unsigned long m = va_size(t);
  if (max_size(t->left) > m) m = max_size(t->left);
  if (max_size(t->right) > m) m = max_size(t->right);
  t->subtree_max_size = m;
}

// Splits t into the nodes starting below key (*l) and the rest (*r).
void split(vmap_area *t, uintptr_t key, vmap_area **l, vmap_area **r) {
  if (!t) {
    *l = *r = nullptr;
    return;
  }
  if (t->va_start < key) {
    split(t->right, key, &t->right, r);
    *l = t;
  } else {
    split(t->left, key, l, &t->left);
    *r = t;
  }
  update(t);
}

// Joins two treaps, every key of l below every key of r.
vmap_area *merge(vmap_area *l, vmap_area *r) {
  if (!l) return r;
  if (!r) return l;
  if (l->prio >= r->prio) {
    l->right = merge(l->right, r);
    update(l);
    return l;
  }
  r->left = merge(l, r->left);
  update(r);
  return r;
}

void insert(vmap_area **root, vmap_area *va) {
  va->left = va->right = nullptr;
  va->prio = node_priority(va);
  update(va);
  vmap_area *l, *r;
  split(*root, va->va_start, &l, &r);
  *root = merge(merge(l, va), r);
}

void erase(vmap_area **root, vmap_area *va) {
  vmap_area *l, *mid, *r;
  split(*root, va->va_start, &l, &mid);
  split(mid, va->va_start + 1, &mid, &r);
  *root = merge(l, r);
  va->left = va->right = nullptr;
}

// The node with the largest va_start <= addr, or nullptr.
vmap_area *floor_node(vmap_area *t, uintptr_t addr) {
  vmap_area *best = nullptr;
  while (t) {
    if (t->va_start <= addr) {
      best = t;
      t = t->right;
    } else {
      t = t->left;
    }
  }
  return best;
}

// The node with the smallest va_start >= addr, or nullptr.
vmap_area *ceil_node(vmap_area *t, uintptr_t addr) {
  vmap_area *best = nullptr;
  while (t) {
    if (t->va_start >= addr) {
      best = t;
      t = t->left;
    } else {
      t = t->right;
    }
  }
  return best;
}

uintptr_t align_up(uintptr_t x, unsigned long a) { return (x + a - 1) & ~(a - 1); }

bool fits(const vmap_area *va, unsigned long size, unsigned long align) {
  uintptr_t s = align_up(va->va_start, align);
  return s >= va->va_start && s < va->va_end && va->va_end - s >= size;
}

// The lowest-addressed free range that holds size at align. Subtrees whose
// largest range is smaller than size are never entered.
vmap_area *first_fit(vmap_area *t, unsigned long size, unsigned long align) {
  if (!t || t->subtree_max_size < size) return nullptr;
  if (vmap_area *found = first_fit(t->left, size, align)) return found;
  if (fits(t, size, align)) return t;
  return first_fit(t->right, size, align);
}

}  // namespace

void vmap_space_init(vmap_space *vs, uintptr_t start, uintptr_t end, vmap_area *first) {
  vs->start = start;
  vs->end = end;
  vs->free_root = vs->busy_root = vs->lazy_root = vs->purging_root = nullptr;
  vs->nr_busy = vs->nr_lazy = vs->nr_purging = 0;
  first->va_start = start;
  first->va_end = end;
  first->vm = nullptr;
  insert(&vs->free_root, first);
  vs->nr_free = 1;
  vs->first = first;
  vs->first_unused = false;
}

// Basic algorithm:
//  1. find the lowest free range F that holds size at align;
//  2. the busy range is [s, s + size) with s = F's start aligned up;
//  3. what is left of F before s and after s + size stays free: F itself is
//     shrunk or, when both sides remain, split with nodes.split; when
//     nothing remains, F's node is handed back as nodes.surplus.
vmap_area *vmap_alloc_range(vmap_space *vs, unsigned long size, unsigned long align, vmap_nodes &nodes) {
  nodes.surplus = nullptr;
  if (size == 0 || (align & (align - 1)) || !nodes.busy) return nullptr;
  vmap_area *f = first_fit(vs->free_root, size, align);
  if (!f) return nullptr;
  uintptr_t s = align_up(f->va_start, align), e = s + size;
  bool before = s > f->va_start, after = e < f->va_end;
  if (before && after && !nodes.split) return nullptr;
  uintptr_t f_end = f->va_end;
  erase(&vs->free_root, f);
  vs->nr_free--;
  if (before) {
    f->va_end = s;
    insert(&vs->free_root, f);
    vs->nr_free++;
  }
  if (after) {
    vmap_area *rest = before ? nodes.split : f;
    if (before) nodes.split = nullptr;
    rest->va_start = e;
    rest->va_end = f_end;
    rest->vm = nullptr;
    insert(&vs->free_root, rest);
    vs->nr_free++;
  }
  if (!before && !after) {
    if (f == vs->first) vs->first_unused = true;
    else nodes.surplus = f;
  }
  vmap_area *va = nodes.busy;
  va->va_start = s;
  va->va_end = e;
  va->vm = nullptr;
  insert(&vs->busy_root, va);
  vs->nr_busy++;
  return va;
}

vmap_area *vmap_find_busy(const vmap_space *vs, uintptr_t addr) {
  vmap_area *va = floor_node(vs->busy_root, addr);
  return va && addr < va->va_end ? va : nullptr;
}

vmap_area *vmap_find_busy_at(const vmap_space *vs, uintptr_t addr) {
  vmap_area *va = floor_node(vs->busy_root, addr);
  return va && va->va_start == addr ? va : nullptr;
}

namespace {

// Inserts va (in no tree) into the free tree, merged with its free
// neighbours, whose nodes go to freed[]. Returns how many did.
// The space's first node, when unused or a neighbour, takes va's place, and va
// goes to freed[] too.
unsigned insert_free_merged(vmap_space *vs, vmap_area *va, vmap_area *freed[3]) {
  va->vm = nullptr;
  unsigned n = 0;
  vmap_area *prev = va->va_start > vs->start ? floor_node(vs->free_root, va->va_start - 1) : nullptr;
  vmap_area *next = ceil_node(vs->free_root, va->va_end);
  if (prev && prev->va_end != va->va_start) prev = nullptr;
  if (next && next->va_start != va->va_end) next = nullptr;
  uintptr_t start = va->va_start, end = va->va_end;
  if (prev) {
    erase(&vs->free_root, prev);
    vs->nr_free--;
    start = prev->va_start;
    freed[n++] = prev;
  }
  if (next) {
    erase(&vs->free_root, next);
    vs->nr_free--;
    end = next->va_end;
    freed[n++] = next;
  }
  vmap_area *keep = vs->first_unused || prev == vs->first || next == vs->first ? vs->first : va;
  if (keep != va) {
    for (unsigned i = 0; i < n; i++)
      if (freed[i] == keep) freed[i] = va;
    if (vs->first_unused) freed[n++] = va;
    vs->first_unused = false;
    va = keep;
    va->vm = nullptr;
  }
  va->va_start = start;
  va->va_end = end;
  insert(&vs->free_root, va);
  vs->nr_free++;
  return n;
}

// The node with the smallest (or largest) va_start of a tree.
const vmap_area *first_node(const vmap_area *t) {
  while (t && t->left) t = t->left;
  return t;
}
const vmap_area *last_node(const vmap_area *t) {
  while (t && t->right) t = t->right;
  return t;
}

// Frees every node of the detached tree t (its links read before each
// node is reused), in address order.
void drain_to_free(vmap_space *vs, vmap_area *t, vmap_area **unused, unsigned long *pages) {
  if (!t) return;
  vmap_area *l = t->left, *r = t->right;
  drain_to_free(vs, l, unused, pages);
  *pages += va_size(t) / PAGE_SIZE;
  vmap_area *freed[3];
  unsigned n = insert_free_merged(vs, t, freed);
  for (unsigned i = 0; i < n; i++) {
    freed[i]->left = *unused;
    *unused = freed[i];
  }
  drain_to_free(vs, r, unused, pages);
}

}  // namespace

unsigned vmap_free_range(vmap_space *vs, vmap_area *va, vmap_area *freed[3]) {
  erase(&vs->busy_root, va);
  vs->nr_busy--;
  return insert_free_merged(vs, va, freed);
}

void vmap_lazy_range(vmap_space *vs, vmap_area *va) {
  erase(&vs->busy_root, va);
  vs->nr_busy--;
  va->vm = nullptr;
  insert(&vs->lazy_root, va);
  vs->nr_lazy++;
}

vmap_area *vmap_find_lazy(const vmap_space *vs, uintptr_t addr) {
  vmap_area *const roots[] = {vs->lazy_root, vs->purging_root};
  for (vmap_area *root : roots) {
    vmap_area *va = floor_node(root, addr);
    if (va && addr < va->va_end) return va;
  }
  return nullptr;
}

bool vmap_begin_purge(vmap_space *vs, uintptr_t *start, uintptr_t *end) {
  if (!vs->lazy_root || vs->purging_root) return false;
  *start = first_node(vs->lazy_root)->va_start;
  *end = last_node(vs->lazy_root)->va_end;
  vs->purging_root = vs->lazy_root;
  vs->nr_purging = vs->nr_lazy;
  vs->lazy_root = nullptr;
  vs->nr_lazy = 0;
  return true;
}

unsigned long vmap_finish_purge(vmap_space *vs, vmap_area **unused) {
  vmap_area *t = vs->purging_root;
  vs->purging_root = nullptr;
  vs->nr_purging = 0;
  unsigned long pages = 0;
  drain_to_free(vs, t, unused, &pages);
  return pages;
}

namespace {

struct tree_walk {
  unsigned long nodes = 0;
  const char *error = nullptr;
};

// Checks order within (lo, hi), heap order and (for the free tree) sizes.
unsigned long check_tree(const vmap_area *t, uintptr_t lo, uintptr_t hi, u32 max_prio, bool free_tree,
                         tree_walk &w) {
  if (!t || w.error) return 0;
  w.nodes++;
  if (t->va_start < lo || t->va_end > hi || t->va_start >= t->va_end) w.error = "a node out of order or empty";
  else if (t->prio > max_prio) w.error = "a node breaks the heap order";
  else if ((t->va_start | t->va_end) & (PAGE_SIZE - 1)) w.error = "a range is not page-aligned";
  unsigned long l = check_tree(t->left, lo, t->va_start, t->prio, free_tree, w);
  unsigned long r = check_tree(t->right, t->va_end, hi, t->prio, free_tree, w);
  unsigned long m = va_size(t);
  if (l > m) m = l;
  if (r > m) m = r;
  if (free_tree && t->subtree_max_size != m && !w.error) w.error = "a free node's subtree_max_size is wrong";
  return m;
}

}  // namespace

const char *vmap_space_check(const vmap_space *vs) {
  tree_walk fw, bw, lw, pw;
  check_tree(vs->free_root, vs->start, vs->end, ~0u, true, fw);
  if (fw.error) return fw.error;
  check_tree(vs->busy_root, vs->start, vs->end, ~0u, false, bw);
  if (bw.error) return bw.error;
  check_tree(vs->lazy_root, vs->start, vs->end, ~0u, false, lw);
  if (lw.error) return lw.error;
  check_tree(vs->purging_root, vs->start, vs->end, ~0u, false, pw);
  if (pw.error) return pw.error;
  if (fw.nodes != vs->nr_free || bw.nodes != vs->nr_busy) return "nr_free or nr_busy does not match the trees";
  if (lw.nodes != vs->nr_lazy || pw.nodes != vs->nr_purging)
    return "nr_lazy or nr_purging does not match the trees";
  // Walk all four in address order: exactly one range starts where the
  // last one ended, until they tile [start, end) (check_tree kept every
  // range inside it, so the walk ends at end exactly); free ranges never
  // adjacent.
  uintptr_t at = vs->start;
  bool last_free = false;
  const char *error = nullptr;
  unsigned long reached = 0;  // a range inside another is never reached
  while (at < vs->end && !error) {
    reached++;
    vmap_area *fr = floor_node(vs->free_root, at);
    vmap_area *starting[3] = {floor_node(vs->busy_root, at), floor_node(vs->lazy_root, at),
                              floor_node(vs->purging_root, at)};
    unsigned here = fr && fr->va_start == at;
    vmap_area *next = here ? fr : nullptr;
    for (vmap_area *va : starting)
      if (va && va->va_start == at) {
        here++;
        next = va;
      }
    if (here != 1) {
      error = here ? "two ranges start at one address (a range in two trees?)"
                   : "a gap or an overlap between the free, busy and lazily freed ranges";
    } else if (next == fr) {
      if (last_free) error = "two free ranges touch (not merged)";
      at = fr->va_end;
      last_free = true;
    } else {
      at = next->va_end;
      last_free = false;
    }
  }
  if (!error && reached != vs->nr_free + vs->nr_busy + vs->nr_lazy + vs->nr_purging)
    error = "a range lies inside another (the ranges overlap)";
  if (!error && (floor_node(vs->free_root, vs->first->va_start) == vs->first) == vs->first_unused)
    error = vs->first_unused ? "the space's first node is marked unused but is in the free tree"
                             : "the space's first node is neither in the free tree nor marked unused";
  return error;
}
