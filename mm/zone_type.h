// The kinds of zone, in Linux's order: each zone holds the physical memory
// between the previous zone's end and its own limit (the zone boundary table,
// mem_system::max_zone_pfn). ZONE_DMA and ZONE_HIGHMEM are empty on riscv64
// (no device needs ISA DMA, and all RAM is in the direct map) but host layouts
// can give them memory.
#pragma once

enum zone_type : int {
  ZONE_DMA,      // below 16 MiB where configured
  ZONE_DMA32,    // below 4 GiB
  ZONE_NORMAL,   // the rest of the direct-mapped memory
  ZONE_HIGHMEM,  // memory outside the direct map (host layouts only)
  ZONE_MOVABLE,  // movable allocations only (host layouts only)
  MAX_NR_ZONES,
  ZONE_INVALID = -1,
};

constexpr const char *zone_names[MAX_NR_ZONES] = {"DMA", "DMA32", "Normal", "HighMem", "Movable"};
