// Fault injection, as Linux's fail_page_alloc and failslab: make chosen
// allocations fail as if memory had run out, so that every caller's failure
// path runs. One fault_attr per injection point, owned by the allocator
// object it governs (mem_system::fail_page_alloc, slab_allocator::failslab),
// so that host tests can have many.
//
// A call that passes its point's own filters (order, gfp) fails when, in
// this order (Linux's should_fail):
//   1. probability is not 0 and times (the failures left, -1 = unlimited)
//      is not 0;
//   2. the caller filter accepts the call stack: some return address within
//      stacktrace_depth frames lies in [require_start, require_end) (when
//      require_end is set) and none lies in [reject_start, reject_end);
//   3. space, the bytes still to be allowed before failures start, is used
//      up (each call below it takes its size off);
//   4. it is the interval-th call to get here (interval <= 1: every one);
//   5. a random number below 100 is less than probability.
// A failure takes one off times (unless -1) and is counted in nr_failures.
// With verbose >= 1, and unless the caller passed nowarn, it is reported as
// Linux's fail_dump does ("FAULT_INJECTION: forcing a failure.", then "name
// N, interval I, probability P, space S, times T", T as the failure found
// it, before its own decrement); verbose >= 2 adds a backtrace.
//
// Thread-safe: the counters are atomic; the settings are written while no
// allocation runs (at boot, or by a test between operations).
#pragma once

#include "kernel/types.h"
#include "mm/gfp.h"

struct fault_attr {
  // Settings, with Linux's defaults from fault_attr_init().
  unsigned long probability = 0;  // percent, 0..100
  unsigned long interval = 1;
  long times = 1;                 // failures still allowed; -1: no limit
  long space = 0;                 // bytes to let through first
  unsigned verbose = 2;           // 0: silent, 1: one line per failure, 2: and a backtrace
  unsigned stacktrace_depth = 32;  // frames the caller filter looks at (at most 64)
  uintptr_t require_start = 0, require_end = 0;  // require_end == 0: no requirement
  uintptr_t reject_start = 0, reject_end = 0;

  // State.
  unsigned long count = 0;        // calls that reached the interval step
  unsigned long nr_failures = 0;  // failures injected so far
  u64 random_state = 0x853c49e6748fea9bULL;
};

// Decides for one call of the given size (bytes, or pages for the page
// allocator as in Linux); true means "fail this call". `name` says which
// point injected, in the verbose report (which nowarn, the caller's
// __GFP_NOWARN, leaves out).
bool should_fail(fault_attr &attr, const char *name, long size, bool nowarn = false);

// Parses Linux's boot syntax "<interval>,<probability>,<space>,<times>"
// into attr. Returns 0, or -EINVAL with attr unchanged.
int setup_fault_attr(fault_attr &attr, const char *str);

// What fail_page_alloc and failslab add to fault_attr: which calls they
// look at at all. Defaults are Linux's: only order >= 1 atomic requests.
struct fail_page_alloc_attr {
  fault_attr attr;
  bool ignore_gfp_highmem = true;  // leave __GFP_HIGHMEM requests alone
  bool ignore_gfp_reclaim = true;  // leave requests that may reclaim alone
  unsigned min_order = 1;
};

struct failslab_attr {
  fault_attr attr;
  bool ignore_gfp_reclaim = true;
};

// The two injection points' filters; see page_alloc.cpp and slab.cpp for
// where they are asked. gfp is the caller's. Inline up to the probability
// test, so that an allocator with injection off pays one load and branch.
bool __should_fail_alloc_page(fail_page_alloc_attr &f, gfp_t gfp, unsigned order);
bool __should_failslab(failslab_attr &f, gfp_t gfp, unsigned object_size);

inline bool should_fail_alloc_page(fail_page_alloc_attr &f, gfp_t gfp, unsigned order) {
  return __builtin_expect(f.attr.probability != 0, 0) && __should_fail_alloc_page(f, gfp, order);
}
inline bool should_failslab(failslab_attr &f, gfp_t gfp, unsigned object_size) {
  return __builtin_expect(f.attr.probability != 0, 0) && __should_failslab(f, gfp, object_size);
}
