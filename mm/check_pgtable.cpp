// A kernel page table's invariants (mm/check.h): what the table builder
// promises (mm/pgtable.h) and what a kernel table must never hold. It reads
// every entry itself rather than walking leaves, because an entry the MMU
// would treat as a hole (a reserved encoding, a misaligned superpage) is a
// hole to the walker and so invisible to a leaf iterator.
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/pgtable.h"

using namespace pgtable_detail;

namespace {

struct pt_checker {
  const page_table &pt;
  check_report &r;

  void entry(pte_t pte, unsigned level, uintptr_t va) {
    if (!(pte & PTE_V)) {
      // Nothing of a cleared entry may be left behind (pgtable_unmap writes 0);
      // the one invalid entry with content is a 4 KiB leaf's migration entry.
      if (level == 0 && migration_entry_well_formed(pte)) return;
      if (pte) check_fail(r, "pgtable: 0x%lx: invalid entry holds bits %#lx at level %u", va, (unsigned long)pte, level);
      return;
    }
    switch (pte_classify(pte, level)) {
      case pte_kind::hole:
        check_fail(r, "pgtable: 0x%lx: reserved or misaligned entry %#lx at level %u", va, (unsigned long)pte, level);
        return;
      case pte_kind::table:
        if (pte & (PTE_A | PTE_D | PTE_U | PTE_G))
          check_fail(r, "pgtable: 0x%lx: pointer entry %#lx at level %u has leaf bits", va, (unsigned long)pte, level);
        table(pte_to_phys(pte), level - 1, va);
        return;
      case pte_kind::leaf:
        leaf(pte, level, va);
        return;
    }
  }

  void leaf(pte_t pte, unsigned level, uintptr_t va) {
    const unsigned long size = sv39_level_size(level);
    if ((pte & PTE_W) && (pte & PTE_X))
      check_fail(r, "pgtable: 0x%lx (%lu KiB): leaf is writable and executable (W+X)", va, size >> 10);
    if (pte & PTE_U)
      check_fail(r, "pgtable: 0x%lx (%lu KiB): user-accessible leaf in the kernel table", va, size >> 10);
    // The user half is every address with bit 38 clear (below the hole).
    if (static_cast<s64>(va) >= 0)
      check_fail(r, "pgtable: 0x%lx (%lu KiB): mapping in the user half of the kernel table", va, size >> 10);
    if (!(pte & PTE_A) || ((pte & PTE_W) && !(pte & PTE_D)))
      check_fail(r, "pgtable: 0x%lx: leaf %#lx lacks A (or D on a writable leaf)", va, (unsigned long)pte);
  }

  void table(phys_addr_t pa, unsigned level, uintptr_t base) {
    const pte_t *tbl = table_ptr(pa);
    const u64 span = sv39_level_size(level);
    for (unsigned i = 0; i < PTRS_PER_TABLE; i++) entry(tbl[i], level, sv39_sign_extend(base + i * span));
  }
};

}  // namespace

unsigned check_pgtable(const page_table &pt, check_report &r) {
  unsigned before = r.violations;
  if (!pt.root) {
    check_fail(r, "pgtable: no root table");
    return r.violations - before;
  }
  pt_checker c{pt, r};
  c.table(pt.root, SV39_LEVELS - 1, 0);
  return r.violations - before;
}
