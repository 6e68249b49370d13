// Movable vmalloc memory: vmalloc's side of page migration (mm/migrate.h).
//
// A movable area's frame is reached only through its leaf in the kernel's
// table, so moving it is a matter of that one entry:
//
//   leaf(old) --(1)--> migration entry(old, cpu) --(2,3)--> leaf(new)
//
//  1. under pt_lock: the leaf still maps the old frame (else the area is
//     going away: -EAGAIN); write the migration entry, which no hart can
//     translate through;
//  2. shoot down every CPU's translation of the page: from here on any
//     access faults and waits in migration_entry_wait, and none that
//     translated before is still in flight;
//  3. copy the frame through the direct map, then under pt_lock make the
//     new frame the area's (movable, index = the address) and write the
//     leaf for it.
//
// The migrating CPU never reads or writes the page through its vmalloc
// address (the copy goes through the direct map), and migration runs in
// process context only, so the fault that would wait for this CPU's own
// migration cannot happen; migration_entry_wait refuses it if it does.
//
// pt_lock serialises every change of a movable frame's state with the
// table: isolate, migrate, putback, and vfree (which waits for migration
// entries of its area to go before it unmaps).
#include "arch/arch.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

static vmalloc_system &mops_owner(const page *p) {
  auto *ops = static_cast<movable_operations *>(p->mapping);
  return *reinterpret_cast<vmalloc_system *>(reinterpret_cast<char *>(ops) - offsetof(vmalloc_system, mops));
}

pte_t *vmalloc_movable_slot(vmalloc_system &vs, const page *p) {
  uintptr_t va = p->index;
  if (p->mapping != &vs.mops || (va & ~PAGE_MASK) || va < vs.space.start || va >= vs.space.end) return nullptr;
  pte_t *slot = pgtable_leaf_slot(*vs.pt, va);
  if (!slot || !pte_leaf(*slot) || PHYS_PFN(pte_to_phys(*slot)) != page_to_pfn(*vs.ms, p)) return nullptr;
  return slot;
}

static bool vmalloc_isolate_page(page *p, migrate_mode) {
  vmalloc_system &vs = mops_owner(p);
  spin_lock_guard g(vs.pt_lock);
  if (!PageMovable(p) || PageIsolated(p) || !vmalloc_movable_slot(vs, p)) return false;
  get_page(p);
  set_page_flag(p, PG_isolated);
  return true;
}

static int vmalloc_migrate_page(page *dst, page *src, migrate_mode) {
  vmalloc_system &vs = mops_owner(src);
  pte_t *slot;
  pte_t leaf = 0;
  uintptr_t va = 0;
  // Interrupts stay masked while the migration entry is live: a hart that
  // touches the page spins in its fault handler with interrupts masked, so
  // a stop_machine from a third CPU could park this one but never that
  // one, and wait for it forever. The shootdown needs no S-mode interrupt
  // (SBI remote fence).
  unsigned long flags = local_irq_save();
  {
    spin_lock_guard g(vs.pt_lock);
    slot = PageMovable(src) ? vmalloc_movable_slot(vs, src) : nullptr;
    if (slot) {
      leaf = *slot;
      va = src->index;
      __atomic_store_n(slot, make_migration_entry(page_to_phys(*vs.ms, src), smp_processor_id()), __ATOMIC_RELEASE);
      vs.migrating++;
    }
  }
  if (!slot) {
    local_irq_restore(flags);
    return -EAGAIN;
  }
  flush_tlb_kernel_range(va, PAGE_SIZE);
  memcpy(page_address(*vs.ms, dst), page_address(*vs.ms, src), PAGE_SIZE);
  {
    spin_lock_guard g(vs.pt_lock);
    dst->index = va;
    __SetPageMovable(dst, &vs.mops);
    __ClearPageMovable(src);
    clear_page_flag(src, PG_isolated);
    // The leaf's release store publishes the copy to a hart waiting in
    // migration_entry_wait.
    __atomic_store_n(slot, (leaf & ~PTE_PPN_MASK) | phys_to_pte(page_to_phys(*vs.ms, dst)), __ATOMIC_RELEASE);
    vs.migrating--;
  }
  // This hart may have cached the invalid entry.
  local_flush_tlb_range(va, PAGE_SIZE);
  local_irq_restore(flags);
  return 0;
}

static void vmalloc_putback_page(page *p) {
  vmalloc_system &vs = mops_owner(p);
  spin_lock_guard g(vs.pt_lock);
  clear_page_flag(p, PG_isolated);
}

int vmalloc_register_movable(vmalloc_system &vs) {
  vs.mops = {vmalloc_isolate_page, vmalloc_migrate_page, vmalloc_putback_page};
  return register_movable_ops(*vs.ms, &vs.mops);
}
