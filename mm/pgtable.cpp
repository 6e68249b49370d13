// Sv39 map, unmap and walk (see mm/pgtable.h).
//
// pgtable_map never has to undo anything, because it changes nothing until it
// knows it will succeed:
//  1. plan: walk the range making the same choices as the real mapping, but
//     without writing, to find any present entry in the way (-EEXIST) and to
//     count the table pages the mapping needs;
//  2. allocate that many pages up front; if one cannot be had, give back the
//     ones already taken (-ENOMEM);
//  3. apply: walk again, writing leaves and taking new tables from the spares.
// Both passes choose alike: the apply pass only writes entries it has already
// passed, and a table it adds is empty, as the plan assumed of a missing one.
//
// pgtable_unmap also checks before it writes (only a leaf across either end can
// make it fail). Tables that it empties are unlinked at once but given back
// after the TLB flush; until then they wait on a list chained through their
// first entry, which holds a page-aligned address and so never reads as valid.

#include "mm/pgtable.h"

#include "arch/arch.h"
#include "kernel/errno.h"
#include "kernel/string.h"

namespace {

using pgtable_detail::pte_classify;
using pgtable_detail::pte_kind;
using pgtable_detail::pte_to_prot;
using pgtable_detail::table_ptr;

constexpr unsigned ROOT_LEVEL = SV39_LEVELS - 1;
constexpr unsigned PROT_ALL = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_USER | PROT_GLOBAL;
constexpr u64 SV39_PA_LIMIT = u64(1) << 56;  // 44-bit PPN of 4 KiB pages

constexpr uintptr_t min_addr(uintptr_t a, uintptr_t b) { return a < b ? a : b; }

// Entries are read by other CPUs' walks (the MMU; on the host, threads that
// walk in software, and a migration in progress): one untorn access each,
// and a new table's zeroes published before the pointer to it. On RISC-V
// the hardware walker needs no C++ ordering (sfence.vma orders it); on the
// host, release and acquire make the same order visible to ThreadSanitizer.
inline void publish_pte(pte_t &slot, pte_t v) {
#ifdef MM_HOST
  __atomic_store_n(&slot, v, __ATOMIC_RELEASE);
#else
  WRITE_ONCE(slot, v);
#endif
}
inline pte_t load_pte(const pte_t &slot) {
#ifdef MM_HOST
  return __atomic_load_n(&slot, __ATOMIC_ACQUIRE);
#else
  return READ_ONCE(slot);
#endif
}

bool ops_ok(const pt_alloc_ops &ops) { return ops.alloc_table && ops.free_table; }

// A range is usable when it is page-aligned, not empty, does not wrap and lies
// in one canonical half (a range from one half to the other would cross the
// non-canonical hole). Sets *last to its last byte's address.
bool range_ok(uintptr_t va, u64 size, uintptr_t *last) {
  if (!IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) || size == 0) return false;
  const uintptr_t l = va + (size - 1);
  if (l < va || !sv39_canonical(va) || !sv39_canonical(l)) return false;
  if ((va >> (SV39_VA_BITS - 1)) != (l >> (SV39_VA_BITS - 1))) return false;
  *last = l;
  return true;
}

// W without R is reserved by the spec, and W+X is refused so that no page is
// both writable and executable.
bool prot_ok(unsigned prot) {
  return !(prot & ~PROT_ALL) && (prot & PROT_READ) &&
         (prot & (PROT_WRITE | PROT_EXEC)) != (PROT_WRITE | PROT_EXEC);
}

pte_t prot_to_pte(unsigned prot) {
  pte_t pte = PTE_V | PTE_A | PTE_R;
  if (prot & PROT_WRITE) pte |= PTE_W | PTE_D;
  if (prot & PROT_EXEC) pte |= PTE_X;
  if (prot & PROT_USER) pte |= PTE_U;
  if (prot & PROT_GLOBAL) pte |= PTE_G;
  return pte;
}

bool table_empty(const pte_t *tbl) {
  for (unsigned i = 0; i < PTRS_PER_TABLE; i++)
    if (tbl[i] & PTE_V) return false;
  return true;
}

// Lists of table pages, linked through their first word.
void push_table(phys_addr_t *list, phys_addr_t table) {
  table_ptr(table)[0] = *list;
  *list = table;
}

phys_addr_t pop_table(phys_addr_t *list) {
  const phys_addr_t table = *list;
  *list = table_ptr(table)[0];
  return table;
}

void free_list(phys_addr_t list, const pt_alloc_ops &ops) {
  while (list) ops.free_table(ops.ctx, pop_table(&list));
}

struct map_walk {
  uintptr_t va;  // start of the whole mapping, with pa: va + x maps to pa + x
  phys_addr_t pa;
  pte_t leaf_bits;
  unsigned max_level;
  bool apply;            // false: plan only, writing nothing
  unsigned long tables;  // plan: table pages the mapping needs
  phys_addr_t spares;    // apply: the pages allocated for it
};

// Maps [va, last], all of it under tbl, a table at level; in the plan pass a
// null tbl stands for a table that does not exist yet. Returns 0 or -EEXIST
// (only the plan pass can fail).
int map_table(map_walk &w, pte_t *tbl, unsigned level, uintptr_t va, uintptr_t last) {
  const u64 size = sv39_level_size(level);
  for (;;) {
    const unsigned idx = sv39_index(va, level);
    const uintptr_t entry_last = va | (size - 1);
    const phys_addr_t pa = w.pa + (va - w.va);
    const pte_t pte = tbl ? tbl[idx] : 0;
    // A leaf here needs va and pa aligned to its size and the whole entry in
    // range; at level 0 that always holds, so below a leaf is never at level 0.
    const bool leaf_fits = level <= w.max_level && IS_ALIGNED(va | pa, size) && last >= entry_last;
    const bool lower_table = level > 0 && pte_table(pte);

    if (leaf_fits && !lower_table) {
      if (pte_present(pte)) return -EEXIST;
      if (w.apply) publish_pte(tbl[idx], phys_to_pte(pa) | w.leaf_bits);
    } else {
      if (pte_present(pte) && !lower_table) return -EEXIST;
      pte_t *child = nullptr;
      if (lower_table) {
        child = table_ptr(pte_to_phys(pte));
      } else if (w.apply) {
        const phys_addr_t table = pop_table(&w.spares);
        child = table_ptr(table);
        memset(child, 0, PAGE_SIZE);
        publish_pte(tbl[idx], phys_to_pte(table) | PTE_V);
      } else {
        w.tables++;
      }
      const int err = map_table(w, child, level - 1, va, min_addr(entry_last, last));
      if (err) return err;
    }
    if (entry_last >= last) return 0;
    va = entry_last + 1;
  }
}

// Returns the first and last address of the present non-table entry that
// covers addr, or false when addr lies in a hole.
bool entry_span(const page_table &pt, uintptr_t addr, uintptr_t *first, uintptr_t *last) {
  phys_addr_t table = pt.root;
  for (unsigned level = ROOT_LEVEL;; level--) {
    const pte_t pte = table_ptr(table)[sv39_index(addr, level)];
    if (!pte_present(pte)) return false;
    if (level > 0 && pte_table(pte)) {
      table = pte_to_phys(pte);
      continue;
    }
    const u64 size = sv39_level_size(level);
    *first = addr & ~(size - 1);
    *last = addr | (size - 1);
    return true;
  }
}

// Clears every present entry in [va, last] under tbl, a table at level.
// Tables that this empties are unlinked and pushed on *freed.
void clear_table(pte_t *tbl, unsigned level, uintptr_t va, uintptr_t last, phys_addr_t *freed) {
  const u64 size = sv39_level_size(level);
  for (;;) {
    const unsigned idx = sv39_index(va, level);
    const uintptr_t entry_last = va | (size - 1);
    const pte_t pte = tbl[idx];
    if (level > 0 && pte_table(pte)) {
      const phys_addr_t child = pte_to_phys(pte);
      clear_table(table_ptr(child), level - 1, va, min_addr(entry_last, last), freed);
      if (table_empty(table_ptr(child))) {
        WRITE_ONCE(tbl[idx], pte_t(0));
        push_table(freed, child);
      }
    } else if (pte_present(pte)) {
      WRITE_ONCE(tbl[idx], pte_t(0));  // range_ok and the end checks ensure this entry lies wholly inside
    }
    if (entry_last >= last) return;
    va = entry_last + 1;
  }
}

void free_tables(phys_addr_t table, unsigned level, const pt_alloc_ops &ops) {
  if (level > 0) {
    const pte_t *tbl = table_ptr(table);
    for (unsigned i = 0; i < PTRS_PER_TABLE; i++)
      if (pte_table(tbl[i])) free_tables(pte_to_phys(tbl[i]), level - 1, ops);
  }
  ops.free_table(ops.ctx, table);
}

unsigned long count_tables(phys_addr_t table, unsigned level) {
  unsigned long n = 1;
  if (level > 0) {
    const pte_t *tbl = table_ptr(table);
    for (unsigned i = 0; i < PTRS_PER_TABLE; i++)
      if (pte_table(tbl[i])) n += count_tables(pte_to_phys(tbl[i]), level - 1);
  }
  return n;
}

}  // namespace

int pgtable_init(page_table *pt, const pt_alloc_ops &ops) {
  if (!pt || !ops_ok(ops)) return -EINVAL;
  const phys_addr_t root = ops.alloc_table(ops.ctx);
  if (!root) return -ENOMEM;
  memset(table_ptr(root), 0, PAGE_SIZE);
  pt->root = root;
  return 0;
}

void pgtable_destroy(page_table *pt, const pt_alloc_ops &ops) {
  if (!pt || !pt->root) return;
  free_tables(pt->root, ROOT_LEVEL, ops);
  pt->root = 0;
}

unsigned long pgtable_count_tables(const page_table &pt) {
  return pt.root ? count_tables(pt.root, ROOT_LEVEL) : 0;
}

int pgtable_map(page_table *pt, uintptr_t va, phys_addr_t pa, u64 size, unsigned prot,
                unsigned max_level, const pt_alloc_ops &ops) {
  uintptr_t last;
  if (!pt || !pt->root || !ops_ok(ops) || !range_ok(va, size, &last)) return -EINVAL;
  if (!IS_ALIGNED(pa, PAGE_SIZE) || pa >= SV39_PA_LIMIT || size > SV39_PA_LIMIT - pa)
    return -EINVAL;
  if (!prot_ok(prot) || max_level > ROOT_LEVEL) return -EINVAL;

  map_walk w = {va, pa, prot_to_pte(prot), max_level, false, 0, 0};
  const int err = map_table(w, table_ptr(pt->root), ROOT_LEVEL, va, last);
  if (err) return err;

  for (unsigned long i = 0; i < w.tables; i++) {
    const phys_addr_t table = ops.alloc_table(ops.ctx);
    if (!table) {
      free_list(w.spares, ops);
      return -ENOMEM;
    }
    push_table(&w.spares, table);
  }

  w.apply = true;
  map_table(w, table_ptr(pt->root), ROOT_LEVEL, va, last);  // cannot fail: the plan passed
  local_flush_tlb_range(va, size);
  return 0;
}

int pgtable_unmap_noflush(page_table *pt, uintptr_t va, u64 size, phys_addr_t *freed_tables) {
  uintptr_t last;
  if (!pt || !pt->root || !freed_tables || !range_ok(va, size, &last)) return -EINVAL;

  // Leaves are aligned to their size, so only one covering va or last can
  // reach outside the range.
  uintptr_t first_addr, last_addr;
  if (entry_span(*pt, va, &first_addr, &last_addr) && first_addr != va) return -EINVAL;
  if (entry_span(*pt, last, &first_addr, &last_addr) && last_addr != last) return -EINVAL;

  clear_table(table_ptr(pt->root), ROOT_LEVEL, va, last, freed_tables);
  return 0;
}

void pgtable_free_tables(phys_addr_t freed_tables, const pt_alloc_ops &ops) { free_list(freed_tables, ops); }

void pgtable_splice_tables(phys_addr_t *list, phys_addr_t more) {
  while (more) push_table(list, pop_table(&more));
}

int pgtable_unmap(page_table *pt, uintptr_t va, u64 size, const pt_alloc_ops &ops) {
  if (!ops.free_table) return -EINVAL;
  phys_addr_t freed = 0;
  if (int err = pgtable_unmap_noflush(pt, va, size, &freed)) return err;
  // Every CPU may hold translations of the range, or walk the freed tables:
  // they are given back only after every CPU has fenced.
  flush_tlb_kernel_range(va, size);
  free_list(freed, ops);
  return 0;
}

bool pgtable_walk(const page_table &pt, uintptr_t va, pt_walk_result *out) {
  if (!pt.root || !sv39_canonical(va)) return false;
  phys_addr_t table = pt.root;
  for (unsigned level = ROOT_LEVEL;; level--) {
    const pte_t pte = load_pte(table_ptr(table)[sv39_index(va, level)]);
    switch (pte_classify(pte, level)) {
      case pte_kind::hole: return false;
      case pte_kind::table:  // never at level 0
        table = pte_to_phys(pte);
        break;
      case pte_kind::leaf:
        if (out) {
          const u64 size = sv39_level_size(level);
          *out = {pte_to_phys(pte) + (va & (size - 1)), pte_to_prot(pte), level, pte};
        }
        return true;
    }
  }
}

pte_t *pgtable_leaf_slot(const page_table &pt, uintptr_t va) {
  if (!pt.root || !sv39_canonical(va)) return nullptr;
  phys_addr_t table = pt.root;
  for (unsigned level = ROOT_LEVEL; level > 0; level--) {
    const pte_t pte = load_pte(table_ptr(table)[sv39_index(va, level)]);
    if (pte_classify(pte, level) != pte_kind::table) return nullptr;
    table = pte_to_phys(pte);
  }
  return &table_ptr(table)[sv39_index(va, 0)];
}
