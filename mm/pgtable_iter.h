// How the MMU reads one Sv39 entry, and the body of pgtable_for_each_leaf.
// Included by mm/pgtable.h only. pgtable_walk and the leaf iterator both
// decide what an entry means through pte_classify(), so that a leaf is
// reported by the iterator exactly when a walk of its addresses succeeds.
#pragma once

#include <asm/sv39.h>

#include "arch/arch.h"
#include "kernel/types.h"

namespace pgtable_detail {

enum class pte_kind { hole, table, leaf };

// What a hardware walk does with pte found at level. Everything the privileged
// spec turns into a page fault reads as a hole: V clear, the reserved W-without-R
// encodings, a pointer entry at level 0, and a superpage whose PPN is not
// aligned to its size. Bits 54-63 (Svpbmt, Svnapot) are not interpreted.
constexpr pte_kind pte_classify(pte_t pte, unsigned level) {
  if (!(pte & PTE_V)) return pte_kind::hole;
  if ((pte & PTE_W) && !(pte & PTE_R)) return pte_kind::hole;
  if (!(pte & PTE_LEAF_MASK)) return level ? pte_kind::table : pte_kind::hole;
  if (!IS_ALIGNED(pte_to_phys(pte), sv39_level_size(level))) return pte_kind::hole;
  return pte_kind::leaf;
}

constexpr unsigned pte_to_prot(pte_t pte) {
  unsigned prot = 0;
  if (pte & PTE_R) prot |= PROT_READ;
  if (pte & PTE_W) prot |= PROT_WRITE;
  if (pte & PTE_X) prot |= PROT_EXEC;
  if (pte & PTE_U) prot |= PROT_USER;
  if (pte & PTE_G) prot |= PROT_GLOBAL;
  return prot;
}

// Addresses are sign-extended from bit 38, so the upper half of the root maps
// the top of the 64-bit space.
constexpr uintptr_t sv39_sign_extend(u64 va) {
  return static_cast<uintptr_t>(static_cast<s64>(va << (64 - SV39_VA_BITS)) >> (64 - SV39_VA_BITS));
}

inline pte_t *table_ptr(phys_addr_t table) { return static_cast<pte_t *>(phys_to_virt(table)); }

// fn may return bool (false stops the walk) or nothing.
template <class F>
bool call_leaf_fn(F &fn, uintptr_t va, u64 size, const pt_walk_result &r) {
  if constexpr (same_as<decltype(fn(va, size, r)), void>) {
    fn(va, size, r);
    return true;
  } else {
    return fn(va, size, r);
  }
}

// Returns false when fn asked to stop.
template <class F>
bool for_each_leaf_in(phys_addr_t table, unsigned level, u64 base, F &fn) {
  const pte_t *tbl = table_ptr(table);
  const u64 size = sv39_level_size(level);
  for (unsigned i = 0; i < PTRS_PER_TABLE; i++) {
    const pte_t pte = tbl[i];
    const u64 va = base + i * size;
    switch (pte_classify(pte, level)) {
      case pte_kind::hole: break;
      case pte_kind::table:
        if (!for_each_leaf_in(pte_to_phys(pte), level - 1, va, fn)) return false;
        break;
      case pte_kind::leaf: {
        const pt_walk_result r = {pte_to_phys(pte), pte_to_prot(pte), level, pte};
        if (!call_leaf_fn(fn, sv39_sign_extend(va), size, r)) return false;
        break;
      }
    }
  }
  return true;
}

}  // namespace pgtable_detail

template <class F>
void pgtable_for_each_leaf(const page_table &pt, F &&fn) {
  if (!pt.root) return;
  pgtable_detail::for_each_leaf_in(pt.root, SV39_LEVELS - 1, 0, fn);
}
