// A simulated TLB for host tests. The host walks page tables in software,
// which on its own caches nothing, so a missing TLB flush could never show.
// Tests that read memory through a page table (vmalloc_fixture) look here
// first, as a hart would, and fill it on a miss; the arch's flush functions
// drop entries. An entry that no longer matches the table is what a missed
// flush leaves behind: host_tlb_check reports it, and a read through it
// reaches the old frame, as it would on hardware.
//
// One TLB for all simulated CPUs: a flush on any CPU reaches every CPU here,
// which is what flush_tlb_kernel_range promises, and a test that skips the
// flush is caught either way. Thread-safe.
#pragma once

#include "kernel/types.h"

struct page_table;
struct check_report;

// The cached translation of va's page, if any.
bool host_tlb_lookup(uintptr_t va, phys_addr_t *pa);
// Caches va's page -> pa's page (evicting the oldest entry when full).
void host_tlb_fill(uintptr_t va, phys_addr_t pa);
// Drops the entries of [start, start + size); size 0 or ~0: all.
void host_tlb_flush(uintptr_t start, size_t size);
// flush_tlb_kernel_range: the flush, then a wait until no access through
// host_mmu_access that may have used a dropped entry is still under way,
// as a hart's acknowledgement of a shootdown comes between two of its
// accesses.
void host_tlb_shootdown(uintptr_t start, size_t size);
// Tests that model which ranges have been flushed set this: it is called
// with each shootdown's range once the shootdown is complete (from the
// thread that made it). Set it before any thread that may shoot down starts.
extern void (*host_shootdown_observer)(uintptr_t start, size_t size);

// One access of n bytes at va through the simulated MMU (TLB, then the
// table), as a hart's loads or stores: copies to buf (read) or from it
// (write), page by page, each page's copy atomic with respect to
// shootdowns. A page that holds a migration entry (asm/sv39.h) waits for
// the migration to end and is retried, as the kernel's fault handler does
// (migration_entry_wait). False at the first page that is not mapped.
bool host_mmu_access(const page_table &pt, uintptr_t va, void *buf, size_t n, bool write);
// Reports every cached entry in [start, end) that pt no longer translates
// the same way, except entries for which may_be_stale(ctx, page) is true
// (ranges whose flush is legitimately still to come, such as vmalloc's
// lazily freed ones). Returns the number of such entries.
unsigned host_tlb_check(const page_table &pt, uintptr_t start, uintptr_t end, check_report &r,
                        bool (*may_be_stale)(const void *ctx, uintptr_t page) = nullptr, const void *ctx = nullptr);
