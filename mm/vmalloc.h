// vmalloc: memory that is contiguous in virtual addresses only, its frames
// taken one page at a time wherever the page allocator finds them and mapped
// into the kernel's Sv39 table (Linux's mm/vmalloc.c, written fresh).
//
// Basic algorithm:
//  1. A request reserves size + one guard page of the vmalloc range in the
//     vmap_space (mm/vmap_area.h); the guard page is never mapped, so running
//     off the end of an area faults.
//  2. vmalloc takes size / PAGE_SIZE order-0 pages (from the zones the flags
//     allow) and maps each with R/W, G, A, D and never X; vmap maps pages the
//     caller owns.
//  3. Any failure on the way unwinds everything taken so far: frames,
//     page-table pages (pgtable_unmap gives back tables that became empty),
//     the range; the caller gets NULL.
//  4. vfree/vunmap find the area by its start address, unmap it without a
//     TLB flush, give the frames back at once (vfree only) and put the range
//     on the lazy purge list (free_vmap_area_noflush), counted in
//     vmap_lazy_nr.
//  5. Lazy purge (Linux's): once vmap_lazy_nr passes lazy_max_pages(), or
//     when an allocation finds no room (it purges and retries once), or on
//     vm_unmap_aliases, __purge_vmap_area_lazy takes every waiting range,
//     flushes the span that covers them all on every CPU with one
//     flush_tlb_kernel_range, gives back the page-table pages their unmaps
//     emptied, and only then returns the ranges to the free tree. One
//     shootdown thus pays for many vfrees.
//
// What waits for the flush, and what does not: a range is never handed
// out again before a flush has covered it, so no CPU can translate an
// address of a live area through an old entry; an emptied table page is
// never reused before it either (a CPU may cache the walk through it). The
// frames do not wait (as in Linux): a CPU that still holds a stale entry
// for a freed range reaches a frame that may have a new owner, but only
// through a use after vfree, which is a bug of the user either way.
// vm_unmap_aliases is for a caller that needs no stale entry anywhere
// (changing a page's attributes, for instance).
//
// Context: vfree and vunmap may be called wherever they could before (any
// CPU, process context, interrupts enabled or not); they take pt_lock
// without masking interrupts, so not from an interrupt handler, which is
// why no deferral to a work item is needed (Linux's vfree_atomic). The purge
// a vfree triggers only trylocks vmap_purge_lock: with a purge under way
// the vfree leaves its range for that purger's next round or the next
// trigger, and never waits.
//
// An area keeps no array of its frames (Linux does): the page table is the
// record, so an area of any size needs nothing but order-0 pages and a
// caller's vmap array is not kept.
//
// Movable areas (__GFP_MOVABLE, vmalloc_movable; beyond Linux, whose
// vmalloc memory never moves): the frames come from MOVABLE pageblocks and
// are movable pages (mm/migrate.h) whose owner is this vmalloc_system;
// compaction may move any of them at any time. Migrating one replaces its
// leaf by a migration entry (asm/sv39.h), shoots down every CPU's TLB,
// copies the frame through the direct map, and maps the new frame; a CPU
// that touches the page meanwhile faults and waits (migration_entry_wait).
// vfree waits for a migration of its area to end before it unmaps.
//
// Invariants (checked by check_vmalloc): the vmap_space's own; every
// lazily freed range (lazy or purging tree) has no vm_struct and nothing
// mapped, and vmap_lazy_nr counts their pages; every busy
// area holds a vm_struct whose range is the area; each of its pages is
// mapped with a 4 KiB leaf (vmalloc: R/W, not X, to an allocated frame
// whose mapping/index name this area and page, so no frame is mapped
// twice), its guard page is not mapped, nor the page below its start (a
// stack that runs off its bottom faults there); nothing in the vmalloc range is mapped
// outside busy areas;
// vmalloc_pages counts the frames of VM_ALLOC areas.
// A VM_MOVABLE area's frames are instead movable, with mapping = &vs.mops
// and index = their virtual address; a page of it that is migrating holds
// a migration entry whose old frame is still allocated, movable, isolated
// and this page's, one entry per migration in progress (vs.migrating).
//
// Every function takes the vmalloc_system it works on; the forms without one
// use the kernel's instance (system_vmalloc).
#pragma once

#include "kernel/spinlock.h"
#include "kernel/types.h"
#include "mm/gfp.h"
#include "mm/migrate.h"
#include "mm/page.h"
#include "mm/pgtable.h"
#include "mm/vmap_area.h"

struct mem_system;
struct slab_allocator;
struct seq_out;

constexpr unsigned long VM_ALLOC = 0x2;  // vmalloc: the frames belong to the area
constexpr unsigned long VM_MAP = 0x4;    // vmap: the caller's frames
constexpr unsigned long VM_USER = 0x8;   // vmalloc_user: zeroed, may be mapped to user space
constexpr unsigned long VM_MOVABLE = 0x10;  // vmalloc with __GFP_MOVABLE: compaction may move its frames

struct vm_struct {
  void *addr;             // the area's start
  unsigned long size;     // mapped bytes + the guard page (as Linux counts it)
  unsigned long flags;    // VM_ALLOC / VM_MAP (/ VM_USER)
  unsigned nr_pages;      // mapped pages; the frames are read from the page table
  const void *caller;     // who asked (return address), for vmallocinfo and fault reports
  vmap_area *va;
};

struct vmalloc_system {
  mem_system *ms;
  slab_allocator *sa;    // vm_struct and vmap_area nodes come from kmalloc
  page_table *pt;        // the table the areas are mapped in
  pt_alloc_ops pt_ops;   // table pages: from ms's page allocator
  spinlock_t lock;       // the vmap_space and every area's vm pointer
  spinlock_t pt_lock;    // changes to the vmalloc part of *pt
  vmap_space space;
  vmap_area first;       // the node the space starts with (never kfree'd)
  unsigned long vmalloc_pages;  // frames held by VM_ALLOC areas
  // Movable areas (VM_MOVABLE, mm/vmalloc_migrate.cpp): the owner's side of
  // migration, registered with ms; its frames' mapping points here, and
  // their index holds the virtual address they are mapped at. migrating
  // counts the migration entries in the table (under pt_lock).
  movable_operations mops;
  unsigned long movable_pages;  // frames of VM_MOVABLE areas
  unsigned migrating;
  unsigned long errors;         // bad vfree/vunmap reports
  // The lazy purge. vmap_lazy_nr: pages (va_size / PAGE_SIZE) of the ranges
  // on the lazy and purging trees; written under lock, read without.
  // lazy_tables: table pages the unmaps of those ranges emptied, freed after
  // the flush that covers them (under lock). vmap_purge_lock: one purge at
  // a time (taken before lock, never under it).
  unsigned long vmap_lazy_nr;
  phys_addr_t lazy_tables;
  spinlock_t vmap_purge_lock;
  // Names a caller address ("func+0x1c/0x80") into buf; the kernel sets it to
  // its kallsyms lookup. nullptr: the address in hex.
  void (*symbolize)(const void *addr, char *buf, size_t size);
};

// Sets up vs over [start, end) (page-aligned) of *pt, whose table pages will
// come from ms. Returns 0 or -EINVAL.
int vmalloc_init(vmalloc_system *vs, mem_system &ms, slab_allocator &sa, page_table *pt, uintptr_t start,
                 uintptr_t end);

extern vmalloc_system *system_vmalloc;

// ---- allocation -----------------------------------------------------------------------
// Returns the area's start, or nullptr (with a warning unless __GFP_NOWARN)
// for size 0, a size beyond the range, flags that cannot sleep (page tables
// need GFP_KERNEL, as in Linux), or no memory; nothing stays taken on failure.
void *__vmalloc_node(vmalloc_system &vs, unsigned long size, unsigned long align, gfp_t gfp, int nid,
                     const void *caller);
void *__vmalloc(vmalloc_system &vs, unsigned long size, gfp_t gfp);
void *vmalloc(vmalloc_system &vs, unsigned long size);
void *vzalloc(vmalloc_system &vs, unsigned long size);
void *vmalloc_node(vmalloc_system &vs, unsigned long size, int nid);
void *vmalloc_user(vmalloc_system &vs, unsigned long size);  // zeroed, VM_USER
void *vmalloc_32(vmalloc_system &vs, unsigned long size);    // frames from ZONE_DMA32 or below
void *vmalloc_movable(vmalloc_system &vs, unsigned long size);  // __GFP_MOVABLE: frames compaction may move
// Maps count caller-owned pages contiguously; prot is pgprot bits (PROT_READ
// needed, PROT_WRITE optional, PROT_EXEC with PROT_WRITE refused). The array
// is not kept: the caller may reuse it at once. nullptr on bad arguments or
// no memory.
void *vmap(vmalloc_system &vs, page **pages, unsigned count, unsigned long flags, unsigned prot);

// ---- freeing ------------------------------------------------------------------------
// nullptr is a no-op. An address that is not the start of a live area of the
// right kind (vmalloc for vfree, vmap for vunmap), or one already freed, is
// reported and changes nothing.
void vfree(vmalloc_system &vs, const void *addr);
void vunmap(vmalloc_system &vs, const void *addr);

// ---- the lazy purge ----------------------------------------------------------------
// Linux's fls(num_online_cpus()) * 32 MiB, in pages, with vs.ms->nr_cpus
// for the CPUs (every CPU the machine has comes online at boot); at most
// half of vs's range, so that a small range (a test's) does not fill up
// with ranges waiting for the flush before the trigger is reached.
unsigned long lazy_max_pages(const vmalloc_system &vs);
// Flushes every lazily freed range now and frees it: on return no CPU
// translates any address of a range freed before the call. Takes
// vmap_purge_lock (waits for a purge under way). Not from an interrupt handler.
void vm_unmap_aliases(vmalloc_system &vs);
void vm_unmap_aliases();
// With vmap_purge_lock held: one purge of every range then waiting (see
// the algorithm above). Returns false when there was none.
bool __purge_vmap_area_lazy(vmalloc_system &vs);
// Calls fn(start, end) for each lazily freed range, in address order within
// the lazy ranges then the purging ones; vs.lock held.
template <class F>
void for_each_lazy_range_locked(vmalloc_system &vs, F &&fn) {
  vmap_for_each(vs.space.lazy_root, [&](vmap_area *va) { fn(va->va_start, va->va_end); });
  vmap_for_each(vs.space.purging_root, [&](vmap_area *va) { fn(va->va_start, va->va_end); });
}

// ---- lookups ------------------------------------------------------------------------
bool is_vmalloc_addr(const vmalloc_system &vs, const void *addr);
// The frame mapped at addr, or nullptr. A movable area's page that is being
// migrated gives the new frame, once the move is done; for a movable area
// the answer holds only until the next compaction.
page *vmalloc_to_page(vmalloc_system &vs, const void *addr);
unsigned long vmalloc_to_pfn(vmalloc_system &vs, const void *addr);  // 0 when unmapped
// What addr is, for fault reports, written into buf: "vmalloc guard page of
// area 0xSTART <caller>", "vmalloc area 0xSTART of <caller>", or "vmalloc
// range outside any area". Uses a trylock: says so if the lock is held. Returns buf.
const char *vmalloc_describe(vmalloc_system &vs, const void *addr, char *buf, size_t size);

// ---- reports ------------------------------------------------------------------------
// /proc/vmallocinfo: "0xSTART-0xEND SIZE CALLER pages=N vmalloc" per area,
// then "0xSTART-0xEND SIZE unpurged vm_area" per range waiting for the purge
// (Linux's show_purge_info).
void show_vmallocinfo(vmalloc_system &vs, seq_out &out);
// VmallocTotal and VmallocUsed of meminfo, in pages.
unsigned long vmalloc_total_pages(const vmalloc_system &vs);
unsigned long vmalloc_used_pages(const vmalloc_system &vs);

// The checker (see the invariants above): returns the number of violations,
// each described in r.
struct check_report;
unsigned check_vmalloc(vmalloc_system &vs, check_report &r);
// The same checks for one busy area, with vs.lock and vs.pt_lock held (mm.check's per-call check).
void check_vmalloc_area_locked(vmalloc_system &vs, vmap_area *va, check_report &r);

// The owner's side of migration (mm/vmalloc_migrate.cpp), set up and
// registered with vs.ms by vmalloc_init.
int vmalloc_register_movable(vmalloc_system &vs);
// With vs.pt_lock: the level-0 slot that maps p as one of vs's movable
// frames (p's index in the range, the leaf valid and pointing at p), or
// nullptr.
pte_t *vmalloc_movable_slot(vmalloc_system &vs, const page *p);

void *vmalloc(unsigned long size);
void *vzalloc(unsigned long size);
void vfree(const void *addr);
