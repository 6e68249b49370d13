// vmalloc over a host slab_fixture: a page table of its own in simulated
// physical memory (table pages from the fixture's page allocator), covering
// the kernel's vmalloc range. Addresses it returns are not host addresses:
// reach their bytes through the walker (vread/vwrite below).
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arch/host/tlb.h"
#include "mm/vmalloc.h"
#include "proptest/slab_fixture.h"

struct vmalloc_fixture {
  slab_fixture slab;
  page_table pt{};
  std::unique_ptr<vmalloc_system> vs = std::make_unique<vmalloc_system>();

  int build(layout_kind k, uintptr_t start = VMALLOC_START_ADDR, uintptr_t end = VMALLOC_END_ADDR) {
    if (int err = slab.build(k)) return err;
    if (int err = vmalloc_init(vs.get(), *slab.mm.ms, *slab.sa, &pt, start, end)) return err;
    if (int err = pgtable_init(&pt, vs->pt_ops)) return err;
    host_tlb_flush(0, 0);  // nothing cached from an earlier fixture's table
    system_vmalloc = vs.get();
    return 0;
  }
  ~vmalloc_fixture() {
    if (system_vmalloc == vs.get()) system_vmalloc = nullptr;
  }

  // All three checkers; "" when every invariant holds.
  std::string check() const {
    static char buf[1 << 16];
    check_report r = make_check_report(buf, sizeof(buf));
    unsigned n = check_page_alloc(*slab.mm.ms, r);
    n += check_slab(*slab.sa, r);
    n += check_vmalloc(*vs, r);
    n += check_pgtable(pt, r);
    // A lazily freed range may still be cached until the purge flushes it.
    std::vector<std::pair<uintptr_t, uintptr_t>> lazy = lazy_ranges();
    n += host_tlb_check(pt, vs->space.start, vs->space.end, r, in_ranges, &lazy);
    return n ? std::to_string(n) + " violations:\n" + std::string(buf) : std::string();
  }

  // The ranges freed and waiting for the purge (lazy or purging), in order.
  std::vector<std::pair<uintptr_t, uintptr_t>> lazy_ranges() const {
    std::vector<std::pair<uintptr_t, uintptr_t>> out;
    spin_lock_irqsave_guard g(vs->lock);
    for_each_lazy_range_locked(*vs, [&](uintptr_t s, uintptr_t e) { out.emplace_back(s, e); });
    return out;
  }
  static bool in_ranges(const void *ctx, uintptr_t page) {
    for (const auto &[s, e] : *static_cast<const std::vector<std::pair<uintptr_t, uintptr_t>> *>(ctx))
      if (page >= s && page < e) return true;
    return false;
  }

  // Table pages the unmaps of waiting ranges emptied, still allocated
  // until the purge frees them.
  unsigned long lazy_table_pages() const {
    spin_lock_irqsave_guard g(vs->lock);
    unsigned long n = 0;
    for (phys_addr_t t = vs->lazy_tables; t; t = *static_cast<const phys_addr_t *>(phys_to_virt(t))) n++;
    return n;
  }

  // The direct-map address behind a vmalloc address, or nullptr if unmapped.
  // Through the simulated TLB, as a hart would: a stale entry left by a
  // missed flush reaches the old frame.
  void *translate(uintptr_t va) const {
    phys_addr_t pa;
    if (host_tlb_lookup(va, &pa)) return phys_to_virt(pa);
    pt_walk_result w;
    if (!pgtable_walk(pt, va, &w)) return nullptr;
    host_tlb_fill(va, w.pa);
    return phys_to_virt(w.pa);
  }
  // Copies through the simulated MMU (arch/host/tlb.h), page by page;
  // false at the first hole. Waits out a migration of a page it touches.
  bool vwrite(uintptr_t va, const void *src, size_t n) const {
    return host_mmu_access(pt, va, const_cast<void *>(src), n, true);
  }
  bool vread(uintptr_t va, void *dst, size_t n) const { return host_mmu_access(pt, va, dst, n, false); }
};
