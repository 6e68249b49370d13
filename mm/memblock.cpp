// memblock: region arrays, allocation and checks. See mm/memblock.h for the
// model and its invariants.
//
// Every mutation first works out whether its result fits in the array and
// only then touches it, so a failing call leaves everything as it was (there
// is no room on a boot stack for a 3 KiB snapshot to roll back to).
#include "mm/memblock.h"

#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"

namespace {

phys_addr_t region_end(const memblock_region &r) { return r.base + r.size; }

// printk's %llx wants unsigned long long, which phys_addr_t need not be.
unsigned long long pa(phys_addr_t addr) { return addr; }

bool range_valid(phys_addr_t base, phys_addr_t size) {
  return size != 0 && size <= PHYS_ADDR_MAX - base;
}

bool same_kind(const memblock_region &r, int nid, u32 flags) {
  return r.nid == nid && r.flags == flags;
}

// Opens slot i by shifting regions i.. up. Needs cnt < INIT_MEMBLOCK_REGIONS.
// total_size is the caller's business.
void insert_slot(memblock_type &t, unsigned long i, const memblock_region &r) {
  memmove(&t.regions[i + 1], &t.regions[i], (t.cnt - i) * sizeof(memblock_region));
  t.regions[i] = r;
  t.cnt++;
}

// Closes slot i. total_size is the caller's business.
void delete_slot(memblock_type &t, unsigned long i) {
  memmove(&t.regions[i], &t.regions[i + 1], (t.cnt - i - 1) * sizeof(memblock_region));
  t.cnt--;
}

// Index of the region holding addr, or -1 (binary search: regions are sorted).
long search(const memblock_type &t, phys_addr_t addr) {
  unsigned long lo = 0, hi = t.cnt;
  while (lo < hi) {
    unsigned long mid = lo + (hi - lo) / 2;
    const memblock_region &r = t.regions[mid];
    if (addr < r.base)
      hi = mid;
    else if (addr >= region_end(r))
      lo = mid + 1;
    else
      return long(mid);
  }
  return -1;
}

// A stretch of [base, end) that no region covers, and how it touches its
// neighbours (the regions just below and just above it).
struct gap {
  phys_addr_t start, end;
  unsigned long above;          // index of the first region above the gap
  bool join_below, join_above;  // that neighbour touches it and is of the same kind
};

// Finds the first gap in [cur, end). Returns false when there is none.
bool next_gap(const memblock_type &t, phys_addr_t cur, phys_addr_t end, int nid, u32 flags,
              gap &g) {
  unsigned long i = 0;
  while (i < t.cnt && region_end(t.regions[i]) <= cur) i++;
  for (; cur < end; i++) {
    if (i < t.cnt && t.regions[i].base <= cur) {
      cur = region_end(t.regions[i]);
      continue;
    }
    g.start = cur;
    g.end = (i < t.cnt && t.regions[i].base < end) ? t.regions[i].base : end;
    g.above = i;
    g.join_below =
        i > 0 && region_end(t.regions[i - 1]) == g.start && same_kind(t.regions[i - 1], nid, flags);
    g.join_above = i < t.cnt && t.regions[i].base == g.end && same_kind(t.regions[i], nid, flags);
    return true;
  }
  return false;
}

// How many regions t would hold after add_range(t, base, end, nid, flags).
unsigned long count_after_add(const memblock_type &t, phys_addr_t base, phys_addr_t end, int nid,
                              u32 flags) {
  unsigned long cnt = t.cnt;
  gap g;
  for (phys_addr_t cur = base; next_gap(t, cur, end, nid, flags, g); cur = g.end) {
    if (g.join_below && g.join_above)
      cnt--;  // the gap welds two regions into one
    else if (!g.join_below && !g.join_above)
      cnt++;  // the gap becomes a region of its own
  }
  return cnt;
}

// Fills the gaps of [base, end) that touch a region of the same kind by
// growing that region (welding it to the one above when both touch). With
// insert, every other gap becomes a new region. Needs room for those.
void fill_gaps(memblock_type &t, phys_addr_t base, phys_addr_t end, int nid, u32 flags,
               bool insert) {
  gap g;
  for (phys_addr_t cur = base; next_gap(t, cur, end, nid, flags, g); cur = g.end) {
    phys_addr_t size = g.end - g.start;
    if (g.join_below && g.join_above) {
      t.regions[g.above - 1].size += size + t.regions[g.above].size;
      delete_slot(t, g.above);
    } else if (g.join_below) {
      t.regions[g.above - 1].size += size;
    } else if (g.join_above) {
      t.regions[g.above].base = g.start;
      t.regions[g.above].size += size;
    } else if (insert) {
      insert_slot(t, g.above, memblock_region{g.start, size, flags, nid});
    } else {
      continue;
    }
    t.total_size += size;
  }
}

// Adds the parts of [base, base+size) that t does not cover yet, merging.
// Needs a valid range. Returns 0 or -ENOSPC (nothing changed).
//
// Basic algorithm:
//  1. Count the regions of the result: each uncovered gap adds one, unless
//     it touches a region of the same kind below or above (no change) or
//     both (one fewer, as the gap welds them).
//  2. Fill the gaps that only grow or weld regions: the count never rises.
//  3. Insert the remaining gaps: the count rises to the result of step 1,
//     so no intermediate state needs more room than the result.
int add_range(memblock_type &t, phys_addr_t base, phys_addr_t size, int nid, u32 flags) {
  phys_addr_t end = base + size;
  if (count_after_add(t, base, end, nid, flags) > INIT_MEMBLOCK_REGIONS) return -ENOSPC;
  fill_gaps(t, base, end, nid, flags, false);
  fill_gaps(t, base, end, nid, flags, true);
  return 0;
}

// Cuts [base, base+size) out of t. Needs a valid range. Returns 0, or
// -ENOSPC when a region straddling the whole range cannot be split for want
// of a slot (nothing changed).
int remove_range(memblock_type &t, phys_addr_t base, phys_addr_t size) {
  phys_addr_t end = base + size;
  unsigned long i = 0;
  while (i < t.cnt && region_end(t.regions[i]) <= base) i++;
  if (i < t.cnt && t.regions[i].base < base && region_end(t.regions[i]) > end) {
    if (t.cnt == INIT_MEMBLOCK_REGIONS) return -ENOSPC;
    memblock_region upper = t.regions[i];
    upper.base = end;
    upper.size = region_end(t.regions[i]) - end;
    t.regions[i].size = base - t.regions[i].base;
    insert_slot(t, i + 1, upper);
    t.total_size -= size;
    return 0;
  }
  while (i < t.cnt && t.regions[i].base < end) {
    memblock_region &r = t.regions[i];
    phys_addr_t r_end = region_end(r);
    if (r.base < base) {  // keep the part below the range
      t.total_size -= r_end - base;
      r.size = base - r.base;
      i++;
    } else if (r_end > end) {  // keep the part above the range
      t.total_size -= end - r.base;
      r.base = end;
      r.size = r_end - end;
      i++;
    } else {
      t.total_size -= r.size;
      delete_slot(t, i);
    }
  }
  return 0;
}

// The address memblock_phys_alloc_range would pick among node nid's free
// ranges (any node for NUMA_NO_NODE), or 0. Needs start >= PAGE_SIZE.
phys_addr_t find_in_range_node(const memblock &mb, phys_addr_t size, phys_addr_t align,
                               phys_addr_t start, phys_addr_t end, int nid) {
  phys_addr_t found = 0;
  for_each_free_mem_range(mb, nid, [&](phys_addr_t fbase, phys_addr_t fend, int) {
    if (found && mb.bottom_up) return;  // the first fit is the lowest
    phys_addr_t lo = fbase > start ? fbase : start;
    phys_addr_t hi = fend < end ? fend : end;
    if (lo >= hi || hi - lo < size) return;
    phys_addr_t cand;
    if (mb.bottom_up) {
      cand = ALIGN_UP(lo, align);
      if (cand < lo || cand > hi - size) return;  // wrapped, or no room above it
    } else {
      cand = ALIGN_DOWN(hi - size, align);
      if (cand < lo) return;
    }
    found = cand;  // top-down: each later range lies higher
  });
  return found;
}

// Linux's memblock_alloc_range_nid: node nid first, then (unless exact_nid)
// any node. Returns the reserved address or 0; see memblock_phys_alloc_range.
phys_addr_t alloc_range_nid(memblock &mb, phys_addr_t size, phys_addr_t align, phys_addr_t start,
                            phys_addr_t end, int nid, bool exact_nid) {
  if (size == 0) return 0;
  if (!is_power_of_2(align)) {
    pr_warn("memblock: allocation of 0x%llx bytes with bad alignment 0x%llx\n", pa(size),
            pa(align));
    return 0;
  }
  if (end == MEMBLOCK_ALLOC_ACCESSIBLE) end = MEMBLOCK_ALLOC_ANYWHERE;
  if (start >= end) {
    pr_warn("memblock: allocation window [0x%llx-0x%llx) is empty\n", pa(start), pa(end));
    return 0;
  }
  // As in Linux, the first page is never handed out, which keeps 0 free to
  // mean failure.
  if (start < PAGE_SIZE) start = PAGE_SIZE;
  if (start >= end) return 0;

  phys_addr_t found = find_in_range_node(mb, size, align, start, end, nid);
  if (!found && nid != NUMA_NO_NODE && !exact_nid)
    found = find_in_range_node(mb, size, align, start, end, NUMA_NO_NODE);
  if (!found || add_range(mb.reserved, found, size, NUMA_NO_NODE, MEMBLOCK_NONE) != 0) return 0;
  return found;
}

// Appends one formatted line to a bounded report.
struct report_buf {
  char *buf;
  size_t size;
  size_t len;
  int count;
};

__printf(2, 3) void report_violation(report_buf &rb, const char *fmt, ...) {
  rb.count++;
  if (rb.len + 1 >= rb.size) return;
  va_list ap;
  va_start(ap, fmt);
  rb.len += vscnprintf(rb.buf + rb.len, rb.size - rb.len, fmt, ap);
  va_end(ap);
}

void check_type(const memblock_type &t, const char *name, bool is_memory, report_buf &rb) {
  unsigned long cnt = t.cnt;
  if (cnt > INIT_MEMBLOCK_REGIONS) {
    report_violation(rb, "%s.cnt %lu exceeds the capacity %lu\n", name, cnt, INIT_MEMBLOCK_REGIONS);
    cnt = INIT_MEMBLOCK_REGIONS;
  }
  phys_addr_t sum = 0;
  for (unsigned long i = 0; i < cnt; i++) {
    const memblock_region &r = t.regions[i];
    sum += r.size;
    if (r.size == 0) report_violation(rb, "%s[%lu] at 0x%llx is empty\n", name, i, pa(r.base));
    if (r.size > PHYS_ADDR_MAX - r.base)
      report_violation(rb, "%s[%lu] [0x%llx+0x%llx] ends beyond PHYS_ADDR_MAX\n", name, i,
                       pa(r.base), pa(r.size));
    if (is_memory && (r.nid < 0 || r.nid >= int(MAX_NUMNODES)))
      report_violation(rb, "%s[%lu] has bad node %d\n", name, i, r.nid);
    if (is_memory && (r.flags & ~MEMBLOCK_VALID_FLAGS))
      report_violation(rb, "%s[%lu] has unknown flags 0x%x\n", name, i, r.flags);
    if (!is_memory && (r.nid != NUMA_NO_NODE || r.flags != MEMBLOCK_NONE))
      report_violation(rb, "%s[%lu] has node %d and flags 0x%x\n", name, i, r.nid, r.flags);
    if (i == 0) continue;
    const memblock_region &prev = t.regions[i - 1];
    if (region_end(prev) > r.base)
      report_violation(rb, "%s[%lu] at 0x%llx is below the end 0x%llx of %s[%lu]\n", name, i,
                       pa(r.base), pa(region_end(prev)), name, i - 1);
    else if (region_end(prev) == r.base && prev.nid == r.nid && prev.flags == r.flags)
      report_violation(rb, "%s[%lu] at 0x%llx is not merged with %s[%lu]\n", name, i, pa(r.base),
                       name, i - 1);
  }
  if (sum != t.total_size)
    report_violation(rb, "%s.total_size 0x%llx but the regions add up to 0x%llx\n", name,
                     pa(t.total_size), pa(sum));
}

void dump_type(const memblock_type &t, const char *name) {
  pr_info(" %s.cnt  = 0x%lx\n", name, t.cnt);
  for (unsigned long i = 0; i < t.cnt; i++) {
    const memblock_region &r = t.regions[i];
    char nid_buf[32] = "";
    if (r.nid >= 0 && r.nid < int(MAX_NUMNODES))
      ksnprintf(nid_buf, sizeof(nid_buf), " on node %d", r.nid);
    // Linux prints %#x (0x0 for zero, unlike C's printf) and %pa (0x and
    // 16 digits); spelled out here so the text does not depend on that.
    pr_info(" %s[0x%lx]\t[0x%016llx-0x%016llx], 0x%016llx bytes%s flags: 0x%x\n", name, i,
            pa(r.base), pa(region_end(r) - 1), pa(r.size), nid_buf, r.flags);
  }
}

}  // namespace

void memblock_init(memblock &mb) {
  mb.bottom_up = false;
  mb.memory.cnt = 0;
  mb.memory.total_size = 0;
  mb.reserved.cnt = 0;
  mb.reserved.total_size = 0;
}

int memblock_add_node(memblock &mb, phys_addr_t base, phys_addr_t size, int nid, u32 flags) {
  if (!range_valid(base, size) || nid < 0 || nid >= int(MAX_NUMNODES) ||
      (flags & ~MEMBLOCK_VALID_FLAGS))
    return -EINVAL;
  return add_range(mb.memory, base, size, nid, flags);
}

int memblock_add(memblock &mb, phys_addr_t base, phys_addr_t size) {
  return memblock_add_node(mb, base, size, 0, MEMBLOCK_NONE);
}

int memblock_remove(memblock &mb, phys_addr_t base, phys_addr_t size) {
  if (!range_valid(base, size)) return -EINVAL;
  return remove_range(mb.memory, base, size);
}

int memblock_reserve(memblock &mb, phys_addr_t base, phys_addr_t size) {
  if (!range_valid(base, size)) return -EINVAL;
  return add_range(mb.reserved, base, size, NUMA_NO_NODE, MEMBLOCK_NONE);
}

int memblock_phys_free(memblock &mb, phys_addr_t base, phys_addr_t size) {
  if (!range_valid(base, size)) return -EINVAL;
  return remove_range(mb.reserved, base, size);
}

phys_addr_t memblock_phys_alloc_range(memblock &mb, phys_addr_t size, phys_addr_t align,
                                      phys_addr_t start, phys_addr_t end) {
  return alloc_range_nid(mb, size, align, start, end, NUMA_NO_NODE, false);
}

phys_addr_t memblock_phys_alloc(memblock &mb, phys_addr_t size, phys_addr_t align) {
  return alloc_range_nid(mb, size, align, 0, MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE, false);
}

phys_addr_t memblock_phys_alloc_try_nid(memblock &mb, phys_addr_t size, phys_addr_t align,
                                        int nid) {
  if (nid != NUMA_NO_NODE && (nid < 0 || nid >= int(MAX_NUMNODES))) {
    pr_warn("memblock: allocation of 0x%llx bytes on bad node %d\n", pa(size), nid);
    return 0;
  }
  return alloc_range_nid(mb, size, align, 0, MEMBLOCK_ALLOC_ANYWHERE, nid, false);
}

phys_addr_t memblock_phys_mem_size(const memblock &mb) { return mb.memory.total_size; }

phys_addr_t memblock_reserved_size(const memblock &mb) { return mb.reserved.total_size; }

phys_addr_t memblock_start_of_DRAM(const memblock &mb) {
  return mb.memory.cnt ? mb.memory.regions[0].base : 0;
}

phys_addr_t memblock_end_of_DRAM(const memblock &mb) {
  return mb.memory.cnt ? region_end(mb.memory.regions[mb.memory.cnt - 1]) : 0;
}

bool memblock_is_memory(const memblock &mb, phys_addr_t addr) {
  return search(mb.memory, addr) >= 0;
}

bool memblock_is_reserved(const memblock &mb, phys_addr_t addr) {
  return search(mb.reserved, addr) >= 0;
}

bool memblock_is_region_memory(const memblock &mb, phys_addr_t base, phys_addr_t size) {
  if (!range_valid(base, size)) return false;
  long i = search(mb.memory, base);
  return i >= 0 && base + size <= region_end(mb.memory.regions[i]);
}

int memblock_check(const memblock &mb, char *report, size_t size) {
  report_buf rb{report, size, 0, 0};
  if (report && size) report[0] = '\0';
  check_type(mb.memory, "memory", true, rb);
  check_type(mb.reserved, "reserved", false, rb);
  return rb.count;
}

void memblock_dump(const memblock &mb) {
  pr_info("MEMBLOCK configuration:\n");
  pr_info(" memory size = 0x%016llx reserved size = 0x%016llx\n", pa(mb.memory.total_size),
          pa(mb.reserved.total_size));
  dump_type(mb.memory, "memory");
  dump_type(mb.reserved, "reserved");
}
