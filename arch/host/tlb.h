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
// Reports every cached entry in [start, end) that pt no longer translates
// the same way. Returns the number of such entries.
unsigned host_tlb_check(const page_table &pt, uintptr_t start, uintptr_t end, check_report &r);
