// vmalloc, vmap and their freeing. See mm/vmalloc.h for the algorithm.
// Nothing here dereferences a vmalloc address: on the host those addresses
// exist only in the simulated page table.
#include "mm/vmalloc.h"

#include "kernel/errno.h"
#include "kernel/numa.h"
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"

vmalloc_system *system_vmalloc;

// ---- table pages from the page allocator ----------------------------------------------

static phys_addr_t vmalloc_alloc_table(void *ctx) {
  vmalloc_system &vs = *static_cast<vmalloc_system *>(ctx);
  page *p = alloc_pages(*vs.ms, GFP_KERNEL | __GFP_NOWARN, 0);
  if (!p) return 0;
  set_page_flag(p, PG_pgtable);
  return page_to_phys(*vs.ms, p);
}

static void vmalloc_free_table(void *ctx, phys_addr_t table) {
  vmalloc_system &vs = *static_cast<vmalloc_system *>(ctx);
  page *p = pfn_to_page(*vs.ms, PHYS_PFN(table));
  clear_page_flag(p, PG_pgtable);
  __free_pages(*vs.ms, p, 0);
}

int vmalloc_init(vmalloc_system *vs, mem_system &ms, slab_allocator &sa, page_table *pt, uintptr_t start,
                 uintptr_t end) {
  if (!pt || start >= end || ((start | end) & (PAGE_SIZE - 1))) return -EINVAL;
  vs->ms = &ms;
  vs->sa = &sa;
  vs->pt = pt;
  vs->pt_ops = {vmalloc_alloc_table, vmalloc_free_table, vs};
  spin_lock_init(&vs->lock);
  spin_lock_init(&vs->pt_lock);
  vmap_space_init(&vs->space, start, end, &vs->first);
  vs->vmalloc_pages = 0;
  vs->movable_pages = 0;
  vs->migrating = 0;
  vs->errors = 0;
  vs->vmap_lazy_nr = 0;
  vs->lazy_tables = 0;
  spin_lock_init(&vs->vmap_purge_lock);
  vs->symbolize = nullptr;
  return vmalloc_register_movable(*vs);
}

// ---- areas ------------------------------------------------------------------------------

static void give_back_node(vmalloc_system &vs, vmap_area *va) {
  if (va && va != &vs.first) kfree(*vs.sa, va);
}

static void purge_vmap_area_lazy(vmalloc_system &vs);

// Reserves size bytes plus the guard page. Returns the busy area, or nullptr.
// A request that finds no room purges the lazily freed ranges and tries once
// more (Linux's "overflow" path).
static vmap_area *reserve_area(vmalloc_system &vs, unsigned long size, unsigned long align, gfp_t gfp) {
  gfp_t node_gfp = (gfp & __GFP_RECLAIM) | __GFP_NOWARN;
  vmap_nodes nodes = {static_cast<vmap_area *>(kmalloc(*vs.sa, sizeof(vmap_area), node_gfp)),
                      static_cast<vmap_area *>(kmalloc(*vs.sa, sizeof(vmap_area), node_gfp)), nullptr};
  vmap_area *va = nullptr;
  for (bool purged = false; nodes.busy && nodes.split; purged = true) {
    {
      spin_lock_irqsave_guard g(vs.lock);
      va = vmap_alloc_range(&vs.space, size + PAGE_SIZE, align, nodes);
    }
    if (va || purged) break;
    // Even with nothing lazy left now, another CPU's purge may have been
    // under way: purge_vmap_area_lazy waits for it, then the retry sees
    // what it freed.
    purge_vmap_area_lazy(vs);
  }
  if (!va) give_back_node(vs, nodes.busy);
  give_back_node(vs, nodes.split);
  give_back_node(vs, nodes.surplus);
  return va;
}

// A range whose pages were never mapped goes straight back to the free tree.
static void release_area(vmalloc_system &vs, vmap_area *va) {
  vmap_area *freed[3];
  unsigned n;
  {
    spin_lock_irqsave_guard g(vs.lock);
    n = vmap_free_range(&vs.space, va, freed);
  }
  for (unsigned i = 0; i < n; i++) give_back_node(vs, freed[i]);
}

// Maps the pages at addr one by one. On failure unmaps what it mapped (which
// gives back every table page that became empty) and returns the error.
static int map_pages(vmalloc_system &vs, uintptr_t addr, page **pages, unsigned count, unsigned prot) {
  spin_lock_guard g(vs.pt_lock);
  for (unsigned i = 0; i < count; i++) {
    int err = pgtable_map(vs.pt, addr + uintptr_t(i) * PAGE_SIZE, page_to_phys(*vs.ms, pages[i]), PAGE_SIZE, prot, 0,
                          vs.pt_ops);
    if (err) {
      if (i) pgtable_unmap(vs.pt, addr, u64(i) * PAGE_SIZE, vs.pt_ops);
      return err;
    }
  }
  return 0;
}

// The frame mapped at addr (the caller holds pt_lock or owns the area).
static page *mapped_frame(vmalloc_system &vs, uintptr_t addr) {
  pt_walk_result w;
  return pgtable_walk(*vs.pt, addr, &w) ? pfn_to_page(*vs.ms, PHYS_PFN(w.pa)) : nullptr;
}

// Unmaps the first `count` pages of an area without a TLB flush and gives
// their frames back when free_frames. The frames are read from the table
// itself: an area keeps no page array, so that nothing but order-0 pages is
// ever needed however large it is; they wait on a list through their lru
// until pt_lock is dropped. Returns the table pages the unmap emptied:
// they wait with the range for the purge's flush (free_vmap_area_noflush).
//
// The frames go back before any flush, as in Linux: a CPU may still cache
// a translation of the range, but only a use after vfree can follow it (see
// mm/vmalloc.h), and the range itself is not reused before the flush.
//
// A movable area first waits for migrations of its pages to end (a
// migration entry is no leaf to unmap, and its frame is the migrator's
// until then). Its frames stop being movable under pt_lock, so that a
// compactor that has isolated one gives up on it; such a frame's lru is on
// the compactor's list, so it waits for the flush chained through its
// private_ instead, and the free drops this owner's reference only.
static phys_addr_t unmap_area_pages_noflush(vmalloc_system &vs, uintptr_t addr, unsigned count, bool free_frames,
                                            bool movable) {
  list_head frames;
  INIT_LIST_HEAD(&frames);
  page *isolated = nullptr;
  phys_addr_t tables = 0;
  for (;;) {
    spin_lock(&vs.pt_lock);
    pte_t *busy = nullptr;
    if (movable)
      for (unsigned i = 0; i < count && !busy; i++) {
        pte_t *slot = pgtable_leaf_slot(*vs.pt, addr + uintptr_t(i) * PAGE_SIZE);
        if (slot && is_migration_entry(*slot)) busy = slot;
      }
    if (!busy) break;
    spin_unlock(&vs.pt_lock);
    wait_for_migration_entry(busy);
  }
  if (free_frames)
    for (unsigned i = 0; i < count; i++) {
      page *p = mapped_frame(vs, addr + uintptr_t(i) * PAGE_SIZE);
      if (!p) continue;
      if (movable) __ClearPageMovable(p);
      if (PageIsolated(p)) {
        p->private_ = reinterpret_cast<unsigned long>(isolated);
        isolated = p;
      } else {
        list_add_tail(&p->lru, &frames);
      }
    }
  pgtable_unmap_noflush(vs.pt, addr, u64(count) * PAGE_SIZE, &tables);
  spin_unlock(&vs.pt_lock);
  while (!list_empty(&frames)) {
    page *p = list_first_entry(&frames, page, lru);
    list_del(&p->lru);
    __free_pages(*vs.ms, p, 0);
  }
  while (isolated) {
    page *p = isolated;
    isolated = reinterpret_cast<page *>(p->private_);
    p->private_ = 0;
    __free_pages(*vs.ms, p, 0);
  }
  return tables;
}

// ---- the lazy purge ----------------------------------------------------------------------

unsigned long lazy_max_pages(const vmalloc_system &vs) {
  unsigned cpus = vs.ms->nr_cpus;  // at least 1: mem_system_init refuses 0
  unsigned long log = 32 - unsigned(__builtin_clz(cpus));  // fls()
  unsigned long lazy = log * (32 * SZ_1M / PAGE_SIZE);
  unsigned long half = (vs.space.end - vs.space.start) / PAGE_SIZE / 2;
  return lazy < half ? lazy : half;
}

// Basic algorithm:
//  1. under lock, take every lazy range (they move to the purging tree, so
//     the space stays tiled for the checker and vmallocinfo) and the table
//     pages their unmaps emptied;
//  2. one flush_tlb_kernel_range over the span from the lowest start to the
//     highest end (on riscv a span past 64 pages is one full flush per hart);
//  3. free the table pages, then under lock merge the ranges into the free
//     tree and drop their pages from vmap_lazy_nr; give back the nodes
//     merging made unnecessary.
bool __purge_vmap_area_lazy(vmalloc_system &vs) {
  uintptr_t start, end;
  phys_addr_t tables;
  {
    spin_lock_irqsave_guard g(vs.lock);
    if (!vmap_begin_purge(&vs.space, &start, &end)) return false;
    tables = vs.lazy_tables;
    vs.lazy_tables = 0;
  }
  flush_tlb_kernel_range(start, end - start);
  pgtable_free_tables(tables, vs.pt_ops);
  vmap_area *unused = nullptr;
  {
    spin_lock_irqsave_guard g(vs.lock);
    unsigned long pages = vmap_finish_purge(&vs.space, &unused);
    __atomic_store_n(&vs.vmap_lazy_nr, vs.vmap_lazy_nr - pages, __ATOMIC_RELAXED);
  }
  while (unused) {
    vmap_area *va = unused;
    unused = va->left;
    give_back_node(vs, va);
  }
  return true;
}

static void purge_vmap_area_lazy(vmalloc_system &vs) {
  spin_lock_guard g(vs.vmap_purge_lock);
  __purge_vmap_area_lazy(vs);
}

void vm_unmap_aliases(vmalloc_system &vs) { purge_vmap_area_lazy(vs); }
void vm_unmap_aliases() { vm_unmap_aliases(*system_vmalloc); }

// The range of an unmapped area goes on the lazy list with the table pages
// its unmap emptied (and, under the same lock hold, the area's frames leave
// the counts: alloc_pages of vmalloc_pages, movable of movable_pages); past
// lazy_max_pages() this CPU purges, unless another one is purging already
// (that purge, or the next trigger, takes the range).
static void free_vmap_area_noflush(vmalloc_system &vs, vmap_area *va, phys_addr_t tables,
                                   unsigned long alloc_pages = 0, unsigned long movable = 0) {
  unsigned long nr_lazy;
  {
    spin_lock_irqsave_guard g(vs.lock);
    vs.vmalloc_pages -= alloc_pages;
    vs.movable_pages -= movable;
    vmap_lazy_range(&vs.space, va);
    pgtable_splice_tables(&vs.lazy_tables, tables);
    nr_lazy = vs.vmap_lazy_nr + va_size(va) / PAGE_SIZE;
    __atomic_store_n(&vs.vmap_lazy_nr, nr_lazy, __ATOMIC_RELAXED);
  }
  if (nr_lazy > lazy_max_pages(vs) && spin_trylock(&vs.vmap_purge_lock)) {
    __purge_vmap_area_lazy(vs);
    spin_unlock(&vs.vmap_purge_lock);
  }
}

static void vmalloc_warn(gfp_t gfp, unsigned long size, const char *why) {
  if (gfp & __GFP_NOWARN) return;
  pr_warn("vmalloc error: size %lu, %s, mode:%#x\n", size, why, gfp);
}

// Fills in the vm_struct of a new area and publishes it.
static void *publish_area(vmalloc_system &vs, vmap_area *va, vm_struct *vm, unsigned count, unsigned long flags,
                          const void *caller) {
  vm->addr = reinterpret_cast<void *>(va->va_start);
  vm->size = va_size(va);
  vm->flags = flags;
  vm->nr_pages = count;
  vm->caller = caller;
  vm->va = va;
  spin_lock_irqsave_guard g(vs.lock);
  va->vm = vm;
  if (flags & VM_ALLOC) vs.vmalloc_pages += count;
  if (flags & VM_MOVABLE) vs.movable_pages += count;
  return vm->addr;
}

// Frames taken before they are mapped together (on the stack).
constexpr unsigned VMALLOC_MAP_BATCH = 16;

// Basic algorithm: check the request; reserve the range; take the frames;
// map them; publish the area. Each step that fails undoes the ones before.
void *__vmalloc_node(vmalloc_system &vs, unsigned long size, unsigned long align, gfp_t gfp, int nid,
                     const void *caller) {
  unsigned long range = vs.space.end - vs.space.start;
  if (size == 0 || size > range - PAGE_SIZE) {
    vmalloc_warn(gfp, size, size ? "larger than the vmalloc range" : "size 0");
    return nullptr;
  }
  if (!gfpflags_allow_blocking(gfp)) {
    // Page-table pages are allocated with GFP_KERNEL: an atomic vmalloc could
    // sleep behind the caller's back. Linux refuses it too.
    vmalloc_warn(gfp & ~__GFP_NOWARN, size, "flags that cannot sleep (vmalloc needs __GFP_DIRECT_RECLAIM)");
    return nullptr;
  }
  if (align < PAGE_SIZE) align = PAGE_SIZE;
  if (align & (align - 1)) {
    vmalloc_warn(gfp & ~__GFP_NOWARN, size, "alignment not a power of two");
    return nullptr;
  }
  size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
  unsigned count = unsigned(size / PAGE_SIZE);
  const bool movable = gfp & __GFP_MOVABLE;
  gfp_t meta_gfp = (gfp & __GFP_RECLAIM) | __GFP_NOWARN;
  vm_struct *vm = static_cast<vm_struct *>(kmalloc(*vs.sa, sizeof(vm_struct), meta_gfp));
  vmap_area *va = vm ? reserve_area(vs, size, align, gfp) : nullptr;
  unsigned mapped = 0;
  if (va) {
    // Frames are taken a batch at a time and the batch mapped under one
    // pt_lock hold: the table is then the only record of them, and
    // unwinding reads it back. The batch (on the stack) bounds what is held
    // outside the table, and one lock hold per batch instead of per page
    // keeps pt_lock from becoming the CPUs' meeting point once vfree no
    // longer serialises them behind a shootdown.
    gfp_t page_gfp = (gfp & ~(__GFP_COMP | __GFP_NOFAIL)) | __GFP_NOWARN;
    while (mapped < count) {
      page *batch[VMALLOC_MAP_BATCH];
      unsigned want = count - mapped < VMALLOC_MAP_BATCH ? count - mapped : VMALLOC_MAP_BATCH, taken = 0, done = 0;
      while (taken < want && (batch[taken] = alloc_pages_node(*vs.ms, nid, page_gfp, 0))) taken++;
      {
        spin_lock_guard g(vs.pt_lock);
        for (; done < taken; done++) {
          // The frame's owner, so the checker can tell a frame mapped twice.
          // A movable frame is compaction's to move as soon as it is
          // mapped: it names its owner and address before that, under
          // pt_lock.
          page *p = batch[done];
          uintptr_t addr = va->va_start + uintptr_t(mapped + done) * PAGE_SIZE;
          if (movable) {
            p->index = addr;
            __SetPageMovable(p, &vs.mops);
          } else {
            p->mapping = vm;
            p->index = mapped + done;
          }
          if (pgtable_map(vs.pt, addr, page_to_phys(*vs.ms, p), PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_GLOBAL, 0,
                          vs.pt_ops)) {
            if (movable) __ClearPageMovable(p);
            break;
          }
        }
      }
      mapped += done;
      for (unsigned i = done; i < taken; i++) __free_pages(*vs.ms, batch[i], 0);
      if (done < want) break;
    }
    if (mapped == count) {
      void *addr = publish_area(vs, va, vm, count, movable ? VM_ALLOC | VM_MOVABLE : VM_ALLOC, caller);
      if (unlikely(vs.ms->check_calls)) check_vmalloc_call(vs, addr);
      return addr;
    }
  }
  // Unwind: frames and the tables that held them, the range, bookkeeping.
  if (va && mapped) free_vmap_area_noflush(vs, va, unmap_area_pages_noflush(vs, va->va_start, mapped, true, movable));
  else if (va) release_area(vs, va);
  kfree(*vs.sa, vm);
  vmalloc_warn(gfp, size, "out of memory");
  return nullptr;
}

#define CALLER __builtin_return_address(0)

void *__vmalloc(vmalloc_system &vs, unsigned long size, gfp_t gfp) {
  return __vmalloc_node(vs, size, PAGE_SIZE, gfp, NUMA_NO_NODE, CALLER);
}
void *vmalloc(vmalloc_system &vs, unsigned long size) {
  return __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL, NUMA_NO_NODE, CALLER);
}
void *vzalloc(vmalloc_system &vs, unsigned long size) {
  return __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL | __GFP_ZERO, NUMA_NO_NODE, CALLER);
}
void *vmalloc_node(vmalloc_system &vs, unsigned long size, int nid) {
  return __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL, nid, CALLER);
}
void *vmalloc_32(vmalloc_system &vs, unsigned long size) {
  return __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL | __GFP_DMA32, NUMA_NO_NODE, CALLER);
}
void *vmalloc_movable(vmalloc_system &vs, unsigned long size) {
  return __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL | __GFP_MOVABLE, NUMA_NO_NODE, CALLER);
}
void *vmalloc_user(vmalloc_system &vs, unsigned long size) {
  void *p = __vmalloc_node(vs, size, PAGE_SIZE, GFP_KERNEL | __GFP_ZERO, NUMA_NO_NODE, CALLER);
  if (p) {
    spin_lock_irqsave_guard g(vs.lock);
    vmap_find_busy_at(&vs.space, reinterpret_cast<uintptr_t>(p))->vm->flags |= VM_USER;
  }
  return p;
}

void *vmap(vmalloc_system &vs, page **pages, unsigned count, unsigned long flags, unsigned prot) {
  if (!pages || count == 0 || count > (vs.space.end - vs.space.start) / PAGE_SIZE - 1 || !(prot & PROT_READ) ||
      ((prot & PROT_WRITE) && (prot & PROT_EXEC)) || (prot & ~unsigned(PROT_READ | PROT_WRITE | PROT_EXEC))) {
    pr_warn("vmap: bad arguments (%u pages, prot %#x)\n", count, prot);
    return nullptr;
  }
  for (unsigned i = 0; i < count; i++)
    if (!pages[i]) {
      pr_warn("vmap: page %u is NULL\n", i);
      return nullptr;
    }
  vm_struct *vm = static_cast<vm_struct *>(kmalloc(*vs.sa, sizeof(vm_struct), GFP_KERNEL | __GFP_NOWARN));
  vmap_area *va = vm ? reserve_area(vs, u64(count) * PAGE_SIZE, PAGE_SIZE, GFP_KERNEL) : nullptr;
  if (va && map_pages(vs, va->va_start, pages, count, prot | PROT_GLOBAL) == 0)
    return publish_area(vs, va, vm, count, VM_MAP | (flags & ~(VM_ALLOC | VM_MAP | VM_MOVABLE)), CALLER);
  if (va) release_area(vs, va);
  kfree(*vs.sa, vm);
  pr_warn("vmap: out of memory for %u pages\n", count);
  return nullptr;
}

// ---- freeing --------------------------------------------------------------------------

static void name_caller(const vmalloc_system &vs, const void *caller, char *buf, size_t size);

// Takes the live area starting at addr away from lookups (its vm pointer is
// cleared under the lock, so a second free finds nothing). nullptr, with a
// report naming the caller, when addr is no such area of the wanted kind.
static vm_struct *detach_area(vmalloc_system &vs, const void *addr, unsigned long kind, const char *fn,
                              const void *ret) {
  const char *why;
  {
    spin_lock_irqsave_guard g(vs.lock);
    uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    vmap_area *va = vmap_find_busy_at(&vs.space, a);
    vm_struct *vm = va ? va->vm : nullptr;
    if (vm && (vm->flags & kind)) {
      va->vm = nullptr;
      return vm;
    }
    vmap_area *around = va ? nullptr : vmap_find_busy(&vs.space, a);
    why = !is_vmalloc_addr(vs, addr) ? "not a vmalloc address"
          : vm                       ? (kind == VM_ALLOC ? "the area was made by vmap (use vunmap)"
                                                         : "the area was made by vmalloc (use vfree)")
          : va                       ? "the area is already being freed"
          : around && a >= around->va_end - PAGE_SIZE ? "a guard page, not the start of an area"
          : around                                   ? "not the start of its area"
                                                     : "no area there (already freed?)";
  }
  __atomic_fetch_add(&vs.errors, 1ul, __ATOMIC_RELAXED);
  char who[96];
  name_caller(vs, ret, who, sizeof(who));
  pr_err("%s: Trying to %s() bad address (%p): %s, called from %s\n", fn, fn, addr, why, who);
  return nullptr;
}

static void free_vm_area(vmalloc_system &vs, vm_struct *vm, bool free_pages) {
  vmap_area *va = vm->va;
  phys_addr_t tables = unmap_area_pages_noflush(vs, va->va_start, vm->nr_pages, free_pages,
                                                free_pages && (vm->flags & VM_MOVABLE));
  uintptr_t start = va->va_start, end = va->va_end;
  free_vmap_area_noflush(vs, va, tables, free_pages ? vm->nr_pages : 0,
                         free_pages && (vm->flags & VM_MOVABLE) ? vm->nr_pages : 0);
  kfree(*vs.sa, vm);
  if (unlikely(vs.ms->check_calls)) check_vfree_call(vs, start, end);
}

void vfree(vmalloc_system &vs, const void *addr) {
  if (!addr) return;
  if (vm_struct *vm = detach_area(vs, addr, VM_ALLOC, "vfree", CALLER)) free_vm_area(vs, vm, true);
}

void vunmap(vmalloc_system &vs, const void *addr) {
  if (!addr) return;
  if (vm_struct *vm = detach_area(vs, addr, VM_MAP, "vunmap", CALLER)) free_vm_area(vs, vm, false);
}

// ---- lookups --------------------------------------------------------------------------

bool is_vmalloc_addr(const vmalloc_system &vs, const void *addr) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  return a >= vs.space.start && a < vs.space.end;
}

page *vmalloc_to_page(vmalloc_system &vs, const void *addr) {
  if (!is_vmalloc_addr(vs, addr)) return nullptr;
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (;;) {
    pt_walk_result w;
    pte_t *slot;
    {
      spin_lock_guard g(vs.pt_lock);
      if (pgtable_walk(*vs.pt, a, &w)) return pfn_to_page(*vs.ms, PHYS_PFN(w.pa));
      slot = pgtable_leaf_slot(*vs.pt, a);
      if (!slot || !is_migration_entry(*slot)) return nullptr;
    }
    // A movable page in the middle of a move: its frame is the one it is
    // moving to, once the move is done.
    wait_for_migration_entry(slot);
  }
}

unsigned long vmalloc_to_pfn(vmalloc_system &vs, const void *addr) {
  page *p = vmalloc_to_page(vs, addr);
  return p ? page_to_pfn(*vs.ms, p) : 0;
}

static void name_caller(const vmalloc_system &vs, const void *caller, char *buf, size_t size) {
  if (vs.symbolize) vs.symbolize(caller, buf, size);
  else scnprintf(buf, size, "%p", caller);
}

const char *vmalloc_describe(vmalloc_system &vs, const void *addr, char *buf, size_t size) {
  if (!spin_trylock(&vs.lock)) {
    scnprintf(buf, size, "vmalloc range (areas locked: not looked up)");
    return buf;
  }
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  vmap_area *va = vmap_find_busy(&vs.space, a);
  const void *caller = va && va->vm ? va->vm->caller : nullptr;
  bool guard = va && a >= va->va_end - PAGE_SIZE;
  uintptr_t start = va ? va->va_start : 0;
  spin_unlock(&vs.lock);
  if (!va) {
    scnprintf(buf, size, "vmalloc range outside any area");
    return buf;
  }
  char who[96];
  if (caller) name_caller(vs, caller, who, sizeof(who));
  else scnprintf(who, sizeof(who), "(being freed)");
  if (guard) scnprintf(buf, size, "vmalloc guard page of area 0x%lx %s", start, who);
  else scnprintf(buf, size, "vmalloc area 0x%lx of %s", start, who);
  return buf;
}

// ---- totals ---------------------------------------------------------------------------

unsigned long vmalloc_total_pages(const vmalloc_system &vs) { return (vs.space.end - vs.space.start) / PAGE_SIZE; }
unsigned long vmalloc_used_pages(const vmalloc_system &vs) {
  return __atomic_load_n(&vs.vmalloc_pages, __ATOMIC_RELAXED);
}

void *vmalloc(unsigned long size) {
  return __vmalloc_node(*system_vmalloc, size, PAGE_SIZE, GFP_KERNEL, NUMA_NO_NODE, CALLER);
}
void *vzalloc(unsigned long size) {
  return __vmalloc_node(*system_vmalloc, size, PAGE_SIZE, GFP_KERNEL | __GFP_ZERO, NUMA_NO_NODE, CALLER);
}
void vfree(const void *addr) {
  if (!addr) return;
  if (vm_struct *vm = detach_area(*system_vmalloc, addr, VM_ALLOC, "vfree", CALLER)) free_vm_area(*system_vmalloc, vm, true);
}
