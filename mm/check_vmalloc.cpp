// vmalloc's invariants (mm/vmalloc.h), checked under the area lock and the
// page-table lock: the vmap_space, each busy area against its vm_struct and
// the page table, and the table's leaves in the range against the areas.
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

// A page of an area whose leaf is a migration entry: only a movable area's,
// and its old frame is still allocated, movable, isolated and this page's
// until the new one is mapped (mm/vmalloc_migrate.cpp).
static void check_migration_entry(vmalloc_system &vs, vmap_area *va, vm_struct *vm, unsigned i, uintptr_t a,
                                  pte_t entry, check_report &r) {
  phys_addr_t old = pte_to_phys(entry);
  if (!(vm->flags & VM_MOVABLE)) {
    check_fail(r, "vmalloc: page %u of area 0x%lx holds a migration entry (0x%lx), but the area is not movable", i,
               va->va_start, static_cast<unsigned long>(old));
    return;
  }
  const page *frame = pfn_to_page(*vs.ms, PHYS_PFN(old));
  if (!frame || page_ref_count(frame) < 2 || PageBuddy(frame) || PagePcp(frame) || !PageMovable(frame) ||
      !PageIsolated(frame) || frame->mapping != &vs.mops || frame->index != a)
    check_fail(r, "vmalloc: page %u of area 0x%lx is migrating from 0x%lx, which is not an allocated, movable, "
               "isolated frame of this page", i, va->va_start, static_cast<unsigned long>(old));
}

// One busy area: its vm_struct against its range, each page's leaf and
// frame, and its guard page. Needs vs.lock and vs.pt_lock.
void check_vmalloc_area_locked(vmalloc_system &vs, vmap_area *va, check_report &r) {
  vm_struct *vm = va->vm;
  if (!vm) {
    check_fail(r, "vmalloc: busy area 0x%lx-0x%lx has no vm_struct", va->va_start, va->va_end);
    return;
  }
  if (vm->va != va || reinterpret_cast<uintptr_t>(vm->addr) != va->va_start || vm->size != va_size(va) ||
      u64(vm->nr_pages + 1) * PAGE_SIZE != vm->size)
    check_fail(r, "vmalloc: area 0x%lx: vm_struct (addr %p, size %lu, %u pages) does not match the range of %lu",
               va->va_start, vm->addr, vm->size, vm->nr_pages, va_size(va));
  const bool movable = vm->flags & VM_MOVABLE;
  if (movable && !(vm->flags & VM_ALLOC))
    check_fail(r, "vmalloc: area 0x%lx is VM_MOVABLE but not VM_ALLOC", va->va_start);
  for (unsigned i = 0; i < vm->nr_pages; i++) {
    uintptr_t a = va->va_start + uintptr_t(i) * PAGE_SIZE;
    pt_walk_result w;
    if (!pgtable_walk(*vs.pt, a, &w)) {
      const pte_t *slot = pgtable_leaf_slot(*vs.pt, a);
      if (slot && is_migration_entry(*slot)) check_migration_entry(vs, va, vm, i, a, *slot, r);
      else check_fail(r, "vmalloc: page %u of area 0x%lx is not mapped", i, va->va_start);
      continue;
    }
    if (w.level != 0)
      check_fail(r, "vmalloc: page %u of area 0x%lx is mapped by a level-%u leaf", i, va->va_start, w.level);
    if ((vm->flags & VM_ALLOC) && ((w.prot & (PROT_READ | PROT_WRITE | PROT_EXEC | PROT_USER)) != (PROT_READ | PROT_WRITE)))
      check_fail(r, "vmalloc: page %u of area 0x%lx has prot %#x, not R/W only", i, va->va_start, w.prot);
    const page *frame = pfn_to_page(*vs.ms, PHYS_PFN(w.pa));
    if ((vm->flags & VM_ALLOC) &&
        (!frame || page_ref_count(frame) < 1 || PageBuddy(frame) || PagePcp(frame) || PageSlab(frame) || PageReserved(frame)))
      check_fail(r, "vmalloc: page %u of area 0x%lx maps 0x%lx, which is not an allocated frame", i, va->va_start, w.pa);
    else if (movable && (!PageMovable(frame) || frame->mapping != &vs.mops || frame->index != a))
      check_fail(r, "vmalloc: page %u of movable area 0x%lx maps 0x%lx, which is %s with owner %p at 0x%lx, not "
                 "movable and this area's", i, va->va_start, w.pa, PageMovable(frame) ? "movable" : "not movable",
                 frame->mapping, frame->index);
    else if ((vm->flags & VM_ALLOC) && !movable &&
             (frame->mapping != vm || frame->index != i || PageMovable(frame) || PageIsolated(frame)))
      check_fail(r, "vmalloc: page %u of area 0x%lx maps 0x%lx, which is owned by %p page %lu%s (mapped twice?)", i,
                 va->va_start, w.pa, frame->mapping, frame->index,
                 PageMovable(frame) || PageIsolated(frame) ? ", movable" : "");
  }
  if (pgtable_walk(*vs.pt, va->va_end - PAGE_SIZE, nullptr))
    check_fail(r, "vmalloc: the guard page of area 0x%lx is mapped", va->va_start);
  // What a stack growing down off the area meets (kernel/thread_stack.h):
  // in the range, the guard or a free range and so covered by the checks
  // above and the leaf scan; below the first area, the neighbour region's.
  if (va->va_start >= PAGE_SIZE && pgtable_walk(*vs.pt, va->va_start - PAGE_SIZE, nullptr))
    check_fail(r, "vmalloc: the page below area 0x%lx is mapped", va->va_start);
}

unsigned check_vmalloc(vmalloc_system &vs, check_report &r) {
  unsigned before = r.violations;
  spin_lock_irqsave_guard g(vs.lock);
  spin_lock_guard gp(vs.pt_lock);
  if (const char *why = vmap_space_check(&vs.space)) check_fail(r, "vmalloc: vmap space: %s", why);
  unsigned long alloc_pages_total = 0, movable_total = 0;
  vmap_for_each(vs.space.busy_root, [&](vmap_area *va) {
    check_vmalloc_area_locked(vs, va, r);
    if (va->vm && (va->vm->flags & VM_ALLOC)) alloc_pages_total += va->vm->nr_pages;
    if (va->vm && (va->vm->flags & VM_MOVABLE)) movable_total += va->vm->nr_pages;
  });
  if (alloc_pages_total != vs.vmalloc_pages)
    check_fail(r, "vmalloc: vmalloc_pages is %lu, the areas hold %lu", vs.vmalloc_pages, alloc_pages_total);
  if (movable_total != vs.movable_pages)
    check_fail(r, "vmalloc: movable_pages is %lu, the movable areas hold %lu", vs.movable_pages, movable_total);
  // One migration entry per migration in progress, each in a busy area's
  // page (which the areas' checks above have looked at).
  unsigned long entries = 0;
  for (uintptr_t a = vs.space.start; a < vs.space.end;) {
    const pte_t *slot = pgtable_leaf_slot(*vs.pt, a);
    if (!slot) {
      // No level-0 table here: skip to the next 2 MiB.
      a = (a | (sv39_level_size(1) - 1)) + 1;
      continue;
    }
    if (is_migration_entry(*slot)) {
      entries++;
      vmap_area *area = vmap_find_busy(&vs.space, a);
      if (!area || !area->vm || a >= area->va_end - PAGE_SIZE)
        check_fail(r, "vmalloc: migration entry at 0x%lx outside every area's pages", a);
    }
    a += PAGE_SIZE;
  }
  // The lazily freed ranges: no vm_struct, nothing mapped (checked with
  // the leaves below), their pages in vmap_lazy_nr; their emptied table
  // pages still allocated table pages until the flush.
  unsigned long lazy_pages = 0;
  vmap_area *const roots[] = {vs.space.lazy_root, vs.space.purging_root};
  for (vmap_area *root : roots)
    vmap_for_each(root, [&](vmap_area *va) {
      lazy_pages += va_size(va) / PAGE_SIZE;
      if (va->vm)
        check_fail(r, "vmalloc: lazily freed range 0x%lx-0x%lx still has a vm_struct (%p)", va->va_start,
                   va->va_end, static_cast<void *>(va->vm));
    });
  if (lazy_pages != vs.vmap_lazy_nr)
    check_fail(r, "vmalloc: vmap_lazy_nr is %lu, the ranges waiting for the purge hold %lu pages", vs.vmap_lazy_nr,
               lazy_pages);
  unsigned long chained = 0;
  for (phys_addr_t t = vs.lazy_tables; t; t = *static_cast<const phys_addr_t *>(phys_to_virt(t))) {
    const page *p = pfn_to_page(*vs.ms, PHYS_PFN(t));
    if (!p || !test_page_flag(p, PG_pgtable) || page_ref_count(p) < 1 || PageBuddy(p) || ++chained > lazy_pages) {
      check_fail(r, "vmalloc: 0x%lx on the lazily freed table pages is not an allocated table page (or the "
                 "list loops)",
                 static_cast<unsigned long>(t));
      break;
    }
  }
  if (entries != vs.migrating)
    check_fail(r, "vmalloc: %lu migration entries in the table, but %u migrations in progress", entries, vs.migrating);
  // No leaf in the range outside the areas' mapped pages.
  pgtable_for_each_leaf(*vs.pt, [&](uintptr_t va, u64 size, const pt_walk_result &) {
    if (va + size <= vs.space.start || va >= vs.space.end) return;
    vmap_area *a = vmap_find_busy(&vs.space, va);
    if (vmap_area *lazy = vmap_find_lazy(&vs.space, va))
      check_fail(r, "vmalloc: 0x%lx (%lu bytes) is mapped inside 0x%lx-0x%lx, freed and waiting for the purge", va,
                 static_cast<unsigned long>(size), lazy->va_start, lazy->va_end);
    else if (!a || !a->vm || va + size > a->va_end - PAGE_SIZE)
      check_fail(r, "vmalloc: 0x%lx (%lu bytes) is mapped outside every area", va, static_cast<unsigned long>(size));
  });
  return r.violations - before;
}
