// The kernel's own address space (arch/riscv/mmu.cpp): the page table every
// hart runs on after paging_init, the direct map, and early ioremap.
#pragma once

#include "kernel/types.h"
#include "mm/pgtable.h"

struct boot_info;
struct memblock;

extern page_table kernel_page_table;  // Linux's swapper_pg_dir
extern phys_addr_t phys_ram_base;     // physical address at PAGE_OFFSET

// Builds the kernel page table (image W^X per section, direct map of RAM
// without no-map ranges, nothing in the low half), switches every later
// access to it and prints the virtual layout. Table pages come from memblock.
// Panics if memory for the tables cannot be had: there is no way on.
void paging_init(memblock &mb, const boot_info &bi);

// Maps device registers into the fixmap window (RW, never X). Returns the
// virtual address for pa, or nullptr when the window is full or the mapping
// fails (printed). Its table pages come from memblock, so it is for boot
// only, before mm_init hands memory to the page allocator.
void *ioremap(phys_addr_t pa, u64 size);

// True when va is a direct-map address that has RAM behind it.
bool direct_map_covers(uintptr_t va);

// Prints the virtual memory layout, as Linux does at boot.
void print_vm_layout();
// Prints every mapping of the kernel page table, merged into runs.
void ptdump_kernel();

// Allocation callbacks for the kernel page table during boot (memblock).
extern const pt_alloc_ops boot_pt_alloc_ops;
