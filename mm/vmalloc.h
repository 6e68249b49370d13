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
//  4. vfree/vunmap find the area by its start address, unmap it (flushing
//     the TLB for the range), give the frames back (vfree only) and return
//     the range to the free tree.
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
// Invariants (checked by check_vmalloc): the vmap_space's own; every busy
// area holds a vm_struct whose range is the area; each of its pages is
// mapped with a 4 KiB leaf (vmalloc: R/W, not X, to an allocated frame
// whose mapping/index name this area and page, so no frame is mapped
// twice), and its guard page is not mapped; nothing in the vmalloc range is mapped
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
// /proc/vmallocinfo: "0xSTART-0xEND SIZE CALLER pages=N vmalloc" per area.
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
