// The simulated TLB (arch/host/tlb.h): a small fully associative cache with
// FIFO replacement, big enough that a test's recent pages stay in it.
#include "arch/host/tlb.h"

#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "mm/check.h"
#include "mm/migrate.h"
#include "mm/pgtable.h"

namespace {

constexpr unsigned TLB_ENTRIES = 256;

struct tlb_entry {
  bool valid;
  uintptr_t vpage;
  phys_addr_t ppage;
};

std::mutex tlb_lock;
// Held shared by every access in flight (translation and copy of one page),
// exclusively by a shootdown once it has dropped the entries.
std::shared_mutex access_lock;
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

unsigned host_tlb_check(const page_table &pt, uintptr_t start, uintptr_t end, check_report &r,
                        bool (*may_be_stale)(const void *ctx, uintptr_t page), const void *ctx) {
  std::lock_guard g(tlb_lock);
  unsigned before = r.violations;
  for (const tlb_entry &e : tlb) {
    if (!e.valid || e.vpage < start || e.vpage >= end) continue;
    if (may_be_stale && may_be_stale(ctx, e.vpage)) continue;
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

void (*host_shootdown_observer)(uintptr_t start, size_t size);

void host_tlb_shootdown(uintptr_t start, size_t size) {
  host_tlb_flush(start, size);
  { std::unique_lock g(access_lock); }
  if (host_shootdown_observer) host_shootdown_observer(start, size);
}

bool host_mmu_access(const page_table &pt, uintptr_t va, void *buf, size_t n, bool write) {
  u8 *b = static_cast<u8 *>(buf);
  while (n) {
    size_t chunk = PAGE_SIZE - (va & (PAGE_SIZE - 1));
    if (chunk > n) chunk = n;
    {
      std::shared_lock g(access_lock);
      phys_addr_t pa;
      if (!host_tlb_lookup(va, &pa)) {
        pt_walk_result w;
        if (!pgtable_walk(pt, va, &w)) {
          pa = 0;
        } else {
          pa = w.pa;
          host_tlb_fill(va, w.pa);
        }
      }
      if (pa) {
        void *frame = phys_to_virt(pa);
        if (write) memcpy(frame, b, chunk);
        else memcpy(b, frame, chunk);
        va += chunk, b += chunk, n -= chunk;
        continue;
      }
    }
    // Not mapped: a migration entry is a fault to wait out (outside the
    // access, so that the migrator's shootdown is not held up by it). The
    // migration may also have ended between the walk and the wait: the
    // new leaf is there, a spurious fault, and the access is retried.
    if (!migration_entry_wait(pt, va) && !pgtable_walk(pt, va, nullptr)) return false;
  }
  return true;
}
