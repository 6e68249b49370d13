// The simulated TLB (arch/host/tlb.h): a small fully associative cache with
// FIFO replacement, big enough that a test's recent pages stay in it.
#include "arch/host/tlb.h"

#include <mutex>

#include "mm/check.h"
#include "mm/pgtable.h"

namespace {

constexpr unsigned TLB_ENTRIES = 256;

struct tlb_entry {
  bool valid;
  uintptr_t vpage;
  phys_addr_t ppage;
};

std::mutex tlb_lock;
tlb_entry tlb[TLB_ENTRIES];
unsigned next_victim;

}  // namespace

bool host_tlb_lookup(uintptr_t va, phys_addr_t *pa) {
  std::lock_guard g(tlb_lock);
  for (const tlb_entry &e : tlb)
    if (e.valid && e.vpage == (va & PAGE_MASK)) {
      *pa = e.ppage | (va & ~PAGE_MASK);
      return true;
    }
  return false;
}

void host_tlb_fill(uintptr_t va, phys_addr_t pa) {
  std::lock_guard g(tlb_lock);
  tlb_entry &e = tlb[next_victim];
  next_victim = (next_victim + 1) % TLB_ENTRIES;
  e = {true, va & PAGE_MASK, pa & PAGE_MASK};
}

void host_tlb_flush(uintptr_t start, size_t size) {
  std::lock_guard g(tlb_lock);
  bool all = size == 0 || size == ~size_t(0) || start + size < start;
  for (tlb_entry &e : tlb)
    if (all || (e.vpage >= (start & PAGE_MASK) && e.vpage < start + size)) e.valid = false;
}

unsigned host_tlb_check(const page_table &pt, uintptr_t start, uintptr_t end, check_report &r) {
  std::lock_guard g(tlb_lock);
  unsigned before = r.violations;
  for (const tlb_entry &e : tlb) {
    if (!e.valid || e.vpage < start || e.vpage >= end) continue;
    pt_walk_result w;
    if (!pgtable_walk(pt, e.vpage, &w))
      check_fail(r, "tlb: stale entry 0x%lx -> 0x%lx: the page is no longer mapped (a missed TLB flush)", e.vpage,
                 static_cast<unsigned long>(e.ppage));
    else if ((w.pa & PAGE_MASK) != e.ppage)
      check_fail(r, "tlb: stale entry 0x%lx -> 0x%lx: the table now maps 0x%lx (a missed TLB flush)", e.vpage,
                 static_cast<unsigned long>(e.ppage), static_cast<unsigned long>(w.pa));
  }
  return r.violations - before;
}
