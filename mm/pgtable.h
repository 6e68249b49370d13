// Sv39 page-table logic: map, unmap and walk, over tables that live in
// physical memory and are reached through the direct map (phys_to_virt). The
// same code builds the kernel's tables on riscv and simulated ones on the host.
//
// Invariants of a table built here:
//  - every leaf has V, A and at least R (W alone is reserved by the spec), and
//    never both W and X;
//  - a leaf at level L maps a 2^(12+9L)-aligned virtual and physical range;
//  - a non-leaf entry points to a zeroed-at-allocation table page obtained
//    from the caller's pt_alloc_ops, and pgtable_unmap gives a table page back
//    as soon as it holds no valid entry (the root is never given back).
//
// There is no lock in here: the caller serialises the calls on one table.
#pragma once

#include <asm/sv39.h>

#include "kernel/types.h"

// Protection asked of a mapping; translated to PTE bits by mm/pgtable.cpp.
enum pgprot : unsigned {
  PROT_READ = 1u << 0,
  PROT_WRITE = 1u << 1,
  PROT_EXEC = 1u << 2,
  PROT_USER = 1u << 3,
  PROT_GLOBAL = 1u << 4,
};

// Where table pages come from. alloc_table returns the physical address of a
// page (it need not be zeroed) or 0 when none is left.
struct pt_alloc_ops {
  phys_addr_t (*alloc_table)(void *ctx);
  void (*free_table)(void *ctx, phys_addr_t table);
  void *ctx;
};

struct page_table {
  phys_addr_t root;  // physical address of the level-2 table
};

// Allocates and zeroes a root table. Needs pt and both ops callbacks.
// Returns 0, -EINVAL (missing argument) or -ENOMEM (pt left untouched).
int pgtable_init(page_table *pt, const pt_alloc_ops &ops);

// Gives every table page back, the root included, and sets pt->root to 0.
// The frames that leaves point to are not touched, and no TLB is flushed: the
// table must no longer be in use by any hart.
void pgtable_destroy(page_table *pt, const pt_alloc_ops &ops);

// Number of table pages reachable from the root, the root included (0 when
// there is no root).
unsigned long pgtable_count_tables(const page_table &pt);

// Maps [va, va+size) to [pa, pa+size) with the largest leaves (up to level
// max_level: 0 = 4 KiB only, 1 = up to 2 MiB, 2 = up to 1 GiB) that the
// alignment of va, pa and the remaining size allow.
// Needs: va, pa, size page-aligned, size > 0, the range canonical (in one
// half) and not wrapping, pa + size within the 56-bit physical space, prot
// with PROT_READ, not both PROT_WRITE and PROT_EXEC and no unknown bit,
// max_level <= 2, and no part of the range already mapped.
// Returns 0, or -EINVAL (bad arguments), -EEXIST (something already mapped
// there) or -ENOMEM (a table page could not be had). On failure nothing of
// this call stays mapped and every table page it added is given back (in
// fact a failing call writes nothing: it checks and allocates first).
// Leaves get V, A, R and the asked W, X, U, G; writable leaves also get D, so
// that nothing depends on the hardware updating A/D. Where a huge leaf would
// cover an existing (empty) lower-level table, smaller leaves go inside it.
// RISC-V lets a hart cache a not-valid entry, so on success the local TLB is
// flushed for the range; other harts are the caller's business.
int pgtable_map(page_table *pt, uintptr_t va, phys_addr_t pa, u64 size, unsigned prot,
                unsigned max_level, const pt_alloc_ops &ops);

// Removes every leaf in [va, va+size), gives back table pages that became
// empty and flushes the range on every CPU (flush_tlb_kernel_range). Unmapped holes inside the
// range are fine. Needs va and size page-aligned, size > 0, the range
// canonical and not wrapping, and no leaf that straddles either end of the
// range (a huge leaf is never split): -EINVAL, with nothing changed.
// Returns 0 or -EINVAL. Emptied tables are given back only after the flush,
// so that no cached pointer of any CPU can still lead a walk into them.
int pgtable_unmap(page_table *pt, uintptr_t va, u64 size, const pt_alloc_ops &ops);

// pgtable_unmap without the flush, for a caller that unmaps several ranges
// (or holds a lock it would rather not wait under) and flushes once: the
// emptied table pages are added to *freed_tables instead of given back;
// pass that list to pgtable_free_tables after the flush.
int pgtable_unmap_noflush(page_table *pt, uintptr_t va, u64 size, phys_addr_t *freed_tables);
void pgtable_free_tables(phys_addr_t freed_tables, const pt_alloc_ops &ops);
// Moves every table page of the list `more` onto *list (lists of emptied
// tables from several pgtable_unmap_noflush calls, freed after one flush).
void pgtable_splice_tables(phys_addr_t *list, phys_addr_t more);

struct pt_walk_result {
  phys_addr_t pa;  // the physical address that va translates to
  unsigned prot;   // pgprot bits of the leaf
  unsigned level;  // level of the leaf: 0 (4 KiB), 1 (2 MiB), 2 (1 GiB)
  pte_t pte;       // the leaf entry itself
};

// Translates va as the MMU would. Returns true and fills *out (when out is
// not null) if a valid leaf maps it; false for a non-canonical address, a
// hole, or a malformed entry (W without R, a pointer entry at level 0, a
// misaligned huge leaf). The A and D bits are not looked at.
bool pgtable_walk(const page_table &pt, uintptr_t va, pt_walk_result *out);

// The level-0 entry that maps (or would map) va's 4 KiB page, or nullptr
// when no level-0 table covers va (a hole above it, or a huge leaf). For
// the few who change one leaf in place (migration, mm/migrate.h) and for
// readers of migration entries; the caller serialises writers.
pte_t *pgtable_leaf_slot(const page_table &pt, uintptr_t va);

// Calls fn(uintptr_t va, u64 size, const pt_walk_result &r) for every leaf in
// ascending address order, r being what pgtable_walk(va) gives; used by dumps
// and by the checker. Malformed entries, which walk treats as holes, are
// skipped. fn returns bool (false stops the iteration) or void.
template <class F>
void pgtable_for_each_leaf(const page_table &pt, F &&fn);

#include "mm/pgtable_iter.h"
