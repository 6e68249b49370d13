// memblock: the boot-time physical memory allocator (Linux's mm/memblock.c,
// written afresh as an object that tests can build many of).
//
// A memblock holds two region arrays of fixed capacity:
//   memory    the RAM the firmware reported, each region with a NUMA node
//             and flags (MEMBLOCK_NOMAP: RAM that must never be handed out);
//   reserved  what is in use: the kernel image, the device tree, and every
//             range memblock itself allocated.
// Free memory is memory (without NOMAP regions) minus reserved. Allocation
// picks the highest fitting free address (top-down, as Linux does by
// default; memblock_set_bottom_up picks the lowest instead) and reserves it.
//
// Invariants of each array (memblock_check verifies them):
//  - 0 <= cnt <= INIT_MEMBLOCK_REGIONS, and every region has size > 0 and
//    base + size <= PHYS_ADDR_MAX (its exclusive end is representable);
//  - regions are sorted by base and disjoint: end(r[i]) <= r[i+1].base;
//  - merged: two touching regions always differ in nid or flags;
//  - total_size is the sum of the sizes;
//  - memory regions have a node in [0, MAX_NUMNODES) and only known flags;
//    reserved regions have NUMA_NO_NODE and no flags.
// The arrays never grow: an operation whose result would need more than
// INIT_MEMBLOCK_REGIONS regions fails with -ENOSPC and changes nothing.
//
// A zero-initialized memblock is valid and empty. Nothing here locks: it is
// meant for the single boot CPU, before the page allocator exists.
#pragma once

#include "kernel/numa.h"
#include "kernel/types.h"

// Region flags, with Linux's values for the ones we have.
enum memblock_flags : u32 {
  MEMBLOCK_NONE = 0x0,
  MEMBLOCK_NOMAP = 0x4,  // RAM, but not in the direct map and never allocated
};
constexpr u32 MEMBLOCK_VALID_FLAGS = MEMBLOCK_NOMAP;

constexpr unsigned long INIT_MEMBLOCK_REGIONS = 128;  // capacity of each array

// The `end` limits of memblock_phys_alloc_range. ACCESSIBLE (0) stands for
// "up to the current limit" in Linux; here there is no limit, so it means
// ANYWHERE.
constexpr phys_addr_t MEMBLOCK_ALLOC_ANYWHERE = PHYS_ADDR_MAX;
constexpr phys_addr_t MEMBLOCK_ALLOC_ACCESSIBLE = 0;

struct memblock_region {
  phys_addr_t base;
  phys_addr_t size;
  u32 flags;  // memblock_flags
  int nid;
};
static_assert(sizeof(memblock_region) == 24, "memblock_region grew");

struct memblock_type {
  unsigned long cnt;
  phys_addr_t total_size;
  memblock_region regions[INIT_MEMBLOCK_REGIONS];
};

struct memblock {
  bool bottom_up;  // allocate from low addresses up (default: top-down)
  memblock_type memory;
  memblock_type reserved;
};

// Empties mb (also to reset one) and makes allocation top-down.
void memblock_init(memblock &mb);
inline void memblock_set_bottom_up(memblock &mb, bool enable) { mb.bottom_up = enable; }
inline bool memblock_bottom_up(const memblock &mb) { return mb.bottom_up; }

// Adds [base, base+size) of RAM on node nid. Parts already in memory keep
// their node and flags; only what is new is added.
// Needs size > 0, base + size <= PHYS_ADDR_MAX, 0 <= nid < MAX_NUMNODES and
// flags within MEMBLOCK_VALID_FLAGS. Returns 0, -EINVAL (bad arguments) or
// -ENOSPC (the memory array would overflow); on failure nothing changes.
int memblock_add_node(memblock &mb, phys_addr_t base, phys_addr_t size, int nid, u32 flags);
// memblock_add_node on node 0 with no flags.
int memblock_add(memblock &mb, phys_addr_t base, phys_addr_t size);
// Removes [base, base+size) from memory, splitting a region that straddles
// it; holes in the range are fine. Needs size > 0 and base + size <=
// PHYS_ADDR_MAX. Returns 0, -EINVAL or -ENOSPC (a split would overflow);
// on failure nothing changes.
int memblock_remove(memblock &mb, phys_addr_t base, phys_addr_t size);

// Marks [base, base+size) as in use; it need not be memory, and may overlap
// what is already reserved. Same needs and errors as memblock_remove.
int memblock_reserve(memblock &mb, phys_addr_t base, phys_addr_t size);
// Un-reserves [base, base+size), splitting a reserved region that straddles
// it. Same needs and errors as memblock_remove.
int memblock_phys_free(memblock &mb, phys_addr_t base, phys_addr_t size);

// Finds free memory for [addr, addr+size) with addr a multiple of align and
// start <= addr, addr + size <= end (end MEMBLOCK_ALLOC_ACCESSIBLE or
// _ANYWHERE: no upper limit), reserves it and returns addr: the highest such
// address, or the lowest when bottom-up. The range lies inside one memory
// region (never NOMAP) and never in the first page, as in Linux, so physical
// address 0 is never handed out and 0 can mean failure.
// Needs align a power of two (0 or anything else is a caller bug: pr_warn)
// and start < end (else pr_warn). Returns 0 on bad arguments, size 0, when
// nothing fits, or when reserving the range would overflow the reserved
// array; on failure nothing changes.
phys_addr_t memblock_phys_alloc_range(memblock &mb, phys_addr_t size, phys_addr_t align,
                                      phys_addr_t start, phys_addr_t end);
// memblock_phys_alloc_range over all of memory.
phys_addr_t memblock_phys_alloc(memblock &mb, phys_addr_t size, phys_addr_t align);
// Like memblock_phys_alloc, from node nid's memory if anything fits there,
// else from any node. nid NUMA_NO_NODE means any node at once; another nid
// outside [0, MAX_NUMNODES) is a caller bug (pr_warn, returns 0).
phys_addr_t memblock_phys_alloc_try_nid(memblock &mb, phys_addr_t size, phys_addr_t align, int nid);

phys_addr_t memblock_phys_mem_size(const memblock &mb);
phys_addr_t memblock_reserved_size(const memblock &mb);
// Lowest memory address and end of the highest region (0 when there is no
// memory).
phys_addr_t memblock_start_of_DRAM(const memblock &mb);
phys_addr_t memblock_end_of_DRAM(const memblock &mb);
// Whether addr lies in memory (NOMAP memory included) / in a reserved range.
bool memblock_is_memory(const memblock &mb, phys_addr_t addr);
bool memblock_is_reserved(const memblock &mb, phys_addr_t addr);
// Whether [base, base+size) lies inside a single memory region, as in Linux:
// a range over two touching regions of different nodes or flags is not.
// False for size 0 or a range that wraps.
bool memblock_is_region_memory(const memblock &mb, phys_addr_t base, phys_addr_t size);

// Checks the invariants above. Returns the number of violations and writes a
// line describing each into report (truncated to size; report may be null
// when size is 0). Never changes anything, so it may run after every step.
int memblock_check(const memblock &mb, char *report, size_t size);

// Prints both arrays with pr_info in Linux's memblock=debug format.
void memblock_dump(const memblock &mb);

// Iterators: fn(base, end, nid) for each range, in ascending order, with end
// exclusive. fn must not change mb.
template <class F>
void for_each_mem_range(const memblock &mb, F fn) {
  for (unsigned long i = 0; i < mb.memory.cnt; i++) {
    const memblock_region &r = mb.memory.regions[i];
    fn(r.base, r.base + r.size, r.nid);
  }
}

template <class F>
void for_each_reserved_mem_range(const memblock &mb, F fn) {
  for (unsigned long i = 0; i < mb.reserved.cnt; i++) {
    const memblock_region &r = mb.reserved.regions[i];
    fn(r.base, r.base + r.size, r.nid);
  }
}

// The free ranges: memory minus NOMAP regions minus reserved, one memory
// region at a time (a range never spans two regions), only on node nid
// unless nid is NUMA_NO_NODE.
template <class F>
void for_each_free_mem_range(const memblock &mb, int nid, F fn) {
  const memblock_type &rsv = mb.reserved;
  unsigned long first = 0;  // first reserved region that may still overlap
  for (unsigned long i = 0; i < mb.memory.cnt; i++) {
    const memblock_region &m = mb.memory.regions[i];
    if ((m.flags & MEMBLOCK_NOMAP) || (nid != NUMA_NO_NODE && m.nid != nid)) continue;
    phys_addr_t cur = m.base, end = m.base + m.size;
    while (first < rsv.cnt && rsv.regions[first].base + rsv.regions[first].size <= cur) first++;
    // A reserved region may reach into the next memory region too, so the
    // scan below does not advance `first`.
    for (unsigned long j = first; cur < end; j++) {
      if (j == rsv.cnt || rsv.regions[j].base >= end) {
        fn(cur, end, m.nid);
        break;
      }
      const memblock_region &r = rsv.regions[j];
      if (r.base > cur) fn(cur, r.base, m.nid);
      if (r.base + r.size > cur) cur = r.base + r.size;
    }
  }
}
