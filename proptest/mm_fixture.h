// A machine's memory for host tests: simulated physical RAM (arch/host),
// memblock over it, and a mem_system built by the same mem_system_init the
// kernel runs at boot. One fixture at a time per process (the physical
// window is global); building a new one discards the old.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arch/host/physmem.h"
#include "kernel/numa.h"
#include "mm/check.h"
#include "mm/memblock.h"
#include "mm/page_alloc.h"
#include "mm/watermark.h"

struct ram_range {
  phys_addr_t base;
  u64 size;
  int nid;
};

struct mm_fixture {
  std::unique_ptr<memblock> mb = std::make_unique<memblock>();
  std::unique_ptr<mem_system> ms = std::make_unique<mem_system>();
  std::vector<ram_range> ram;
  mem_layout layout{};

  // Builds RAM, memblock and the mem_system; returns mem_system_init's result.
  // `reserve` ranges are memblock-reserved first (firmware, "kernel image").
  int build(const std::vector<ram_range> &ranges, const mem_layout &l,
            const std::vector<std::pair<phys_addr_t, u64>> &reserve = {}) {
    host_physmem_reset();
    ram = ranges;
    layout = l;
    memblock_init(*mb);
    for (const ram_range &r : ranges) {
      if (host_physmem_add(r.base, r.size) != 0) return -1;
      if (memblock_add_node(*mb, r.base, r.size, r.nid, MEMBLOCK_NONE) != 0) return -1;
    }
    for (auto &[base, size] : reserve)
      if (memblock_reserve(*mb, base, size) != 0) return -1;
    *ms = mem_system{};
    int err = mem_system_init(ms.get(), *mb, layout);
    if (err == 0) system_mem = ms.get();
    return err;
  }

  // Runs the checker; returns its report ("" when everything holds).
  std::string check() const {
    static char buf[1 << 16];
    check_report r = make_check_report(buf, sizeof(buf));
    unsigned n = check_page_alloc(*ms, r);
    return n ? std::to_string(n) + " violations:\n" + std::string(buf) : std::string();
  }
};

// Layouts the properties run on, from simple to awkward.
inline mem_layout layout_with_limits(unsigned long dma, unsigned long dma32, unsigned long normal,
                                     unsigned nr_cpus = 2) {
  mem_layout l{};
  l.max_zone_pfn[ZONE_DMA] = dma;
  l.max_zone_pfn[ZONE_DMA32] = dma32;
  l.max_zone_pfn[ZONE_NORMAL] = normal;
  l.max_zone_pfn[ZONE_HIGHMEM] = normal;
  l.max_zone_pfn[ZONE_MOVABLE] = normal;
  l.nr_cpus = nr_cpus;
  return l;
}

constexpr unsigned long PFN_16M = SZ_16M >> PAGE_SHIFT;
constexpr unsigned long PFN_4G = SZ_4G >> PAGE_SHIFT;
constexpr unsigned long PFN_MAX = HOST_PHYS_WINDOW >> PAGE_SHIFT;  // the host window's end

// 64 MiB at 0x80000000: one node, one zone (DMA32), like a small QEMU virt.
inline int build_single_zone(mm_fixture &f, u64 size = 64 * SZ_1M, unsigned nr_cpus = 2,
                             mobility_grouping grouping = mobility_grouping::by_size) {
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, nr_cpus);
  l.grouping = grouping;
  return f.build({{0x80000000, size, 0}}, l);
}

// Three zones, DMA below 16 MiB, DMA32 below 32 MiB and Normal above, in
// 63 MiB from 1 MiB. mem_map is flat per node (holes cost struct pages), so
// host layouts keep a node's memory close together; the boundaries are a
// table, and here they are not the physical 16 MiB / 4 GiB ones.
inline int build_three_zones(mm_fixture &f) {
  return f.build({{SZ_1M, 63 * SZ_1M, 0}},
                 layout_with_limits(PFN_16M, (32 * SZ_1M) >> PAGE_SHIFT, PFN_MAX));
}

// DMA32 and Normal at their real boundary: 32 MiB across 4 GiB.
inline int build_across_4g(mm_fixture &f) {
  return f.build({{SZ_4G - 16 * SZ_1M, 32 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX));
}

// Two nodes: node 0 has 32 MiB across 4 GiB (DMA32 and Normal), node 1 has
// 32 MiB of Normal after it; CPUs 0-1 on node 0, 2-3 on node 1; distance 20.
inline int build_two_nodes(mm_fixture &f) {
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 4);
  l.cpu_to_node[0] = l.cpu_to_node[1] = 0;
  l.cpu_to_node[2] = l.cpu_to_node[3] = 1;
  return f.build({{SZ_4G - 16 * SZ_1M, 32 * SZ_1M, 0}, {SZ_4G + 16 * SZ_1M, 32 * SZ_1M, 1}}, l);
}

// 64 MiB at 2 GiB with a HighMem zone, as a 32-bit machine has one: 32 MiB
// of DMA32, 16 MiB of Normal, 16 MiB of HighMem.
inline int build_with_highmem(mm_fixture &f) {
  const unsigned long base = 0x80000000ul >> PAGE_SHIFT, mib = SZ_1M >> PAGE_SHIFT;
  mem_layout l{};
  l.max_zone_pfn[ZONE_DMA32] = base + 32 * mib;
  l.max_zone_pfn[ZONE_NORMAL] = base + 48 * mib;
  l.max_zone_pfn[ZONE_HIGHMEM] = PFN_MAX;
  l.max_zone_pfn[ZONE_MOVABLE] = PFN_MAX;
  l.nr_cpus = 2;
  return f.build({{0x80000000, 64 * SZ_1M, 0}}, l);
}

// The layouts above, by name, for tests that run on each or pick one.
enum class layout_kind { single_zone, three_zones, across_4g, two_nodes };
constexpr layout_kind all_layouts[] = {layout_kind::single_zone, layout_kind::three_zones,
                                       layout_kind::across_4g, layout_kind::two_nodes};

inline const char *layout_name(layout_kind k) {
  switch (k) {
    case layout_kind::single_zone: return "single_zone";
    case layout_kind::three_zones: return "three_zones";
    case layout_kind::across_4g: return "across_4g";
    case layout_kind::two_nodes: return "two_nodes";
  }
  return "?";
}

inline int build_layout(mm_fixture &f, layout_kind k) {
  switch (k) {
    case layout_kind::single_zone: return build_single_zone(f);
    case layout_kind::three_zones: return build_three_zones(f);
    case layout_kind::across_4g: return build_across_4g(f);
    case layout_kind::two_nodes: return build_two_nodes(f);
  }
  return -1;
}

// Sets min_free_kbytes as the sysctl would, and back when it goes.
struct min_free_kbytes_scope {
  mem_system &ms;
  int saved;
  min_free_kbytes_scope(mem_system &m, int kb) : ms(m), saved(m.user_min_free_kbytes) {
    ms.user_min_free_kbytes = kb;
    init_per_zone_wmark_min(ms);
  }
  ~min_free_kbytes_scope() {
    ms.user_min_free_kbytes = saved;
    init_per_zone_wmark_min(ms);
  }
};

// How far a zone's total of a counter (what the allocator's watermark checks
// read, zone_page_state) may be from its exact count (the snapshot): every
// CPU's delta at its threshold (mm/vmstat.h). Where a test once found an
// allocation loop ending exactly at a watermark, the exact count now ends
// within this of it, as in Linux.
inline long vmstat_drift(const mem_system &ms, const zone *z) {
  return long(z->per_cpu_zonestats[0].stat_threshold) * long(ms.nr_cpus);
}

// mm-reference.md's formula for Linux's calculate_normal_threshold, written
// apart from mm/vmstat.h so that each checks the other: 2 * fls(online
// CPUs) * (1 + fls(managed MiB / 128)), at most 125.
inline int reference_normal_threshold(unsigned long managed_pages, unsigned online_cpus) {
  auto fls = [](unsigned long x) {
    int n = 0;
    for (; x; x >>= 1) n++;
    return n;
  };
  const unsigned long mib = managed_pages * (PAGE_SIZE / 1024) / 1024;
  const int t = 2 * fls(online_cpus) * (1 + fls(mib / 128));
  return t < 125 ? t : 125;
}

// The machine's first zone with pages (the only one of build_single_zone).
inline zone *first_managed_zone(const mem_system &ms) {
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) return z;
  return nullptr;
}
