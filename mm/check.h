// mm/check: the invariant checker, one for the kernel and the host tests.
// It never stops at the first problem: it describes every violation it finds
// in a check_report and returns how many there were. It never throws and
// never changes what it checks (callers that need a quiet allocator hold
// off other CPUs; the checker takes the zone locks itself).
#pragma once

#include "kernel/types.h"

struct mem_system;
struct slab_allocator;

struct check_report {
  char *buf;         // the descriptions, one per line, NUL-terminated
  size_t size;
  size_t len;
  unsigned violations;
};

inline check_report make_check_report(char *buf, size_t size) {
  if (size) buf[0] = '\0';
  return {buf, size, 0, 0};
}
// Records one violation (the text is cut when the buffer is full, the count is not).
void check_fail(check_report &r, const char *fmt, ...) __printf(2, 3);

// The page allocator: free lists, buddies, counters, per-CPU lists,
// watermarks and the accounting of every page of every zone.
unsigned check_page_alloc(const mem_system &ms, check_report &r);
// The slab allocator: every cache's slabs, freelists, bitmaps, per-CPU
// arrays and counters, and the slab page counts against the node counters
// (which assumes one slab allocator per mem_system, as in the kernel).
unsigned check_slab(const slab_allocator &sa, check_report &r);
