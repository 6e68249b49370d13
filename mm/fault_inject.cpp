// The fault-injection decision (mm/fault_inject.h). The order of the steps
// matters for what a setting means: the caller filter and space come before
// the interval, so "every 3rd call from vmalloc" counts only vmalloc's calls.
#include "mm/fault_inject.h"

#include <asm/stacktrace.h>

#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/gfp.h"

static long atomic_load_long(const long *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

// A cheap, decent generator (xorshift64*): the decision needs no quality
// beyond "about probability percent", and a test can seed it.
static unsigned random_below_100(fault_attr &attr) {
  u64 x = __atomic_load_n(&attr.random_state, __ATOMIC_RELAXED);
  u64 next;
  do {
    next = x;
    next ^= next >> 12;
    next ^= next << 25;
    next ^= next >> 27;
  } while (!__atomic_compare_exchange_n(&attr.random_state, &x, next, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  return unsigned(((next * 0x2545f4914f6cdd1dULL) >> 32) % 100);
}

static bool in_range(uintptr_t a, uintptr_t start, uintptr_t end) { return a >= start && a < end; }

// Linux's fail_stacktrace: with no range set, every stack passes.
static bool caller_filter_accepts(const fault_attr &attr) {
  bool require = attr.require_end > attr.require_start;
  bool reject = attr.reject_end > attr.reject_start;
  if (!require && !reject) return true;
  uintptr_t pcs[64];
  size_t depth = attr.stacktrace_depth < 64 ? attr.stacktrace_depth : 64;
  size_t n = save_stack_trace(pcs, depth);
  bool found = !require;
  for (size_t i = 0; i < n; i++) {
    // A return address points after the call; the call itself is one back.
    uintptr_t pc = pcs[i] - 1;
    if (reject && in_range(pc, attr.reject_start, attr.reject_end)) return false;
    if (require && in_range(pc, attr.require_start, attr.require_end)) found = true;
  }
  return found;
}

// Takes size off space while space lasts; true when it covered the call.
static bool take_space(fault_attr &attr, long size) {
  long space = atomic_load_long(&attr.space);
  while (space > size) {
    if (__atomic_compare_exchange_n(&attr.space, &space, space - size, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      return true;
  }
  return false;
}

// One failure off times, unless unlimited; false when another CPU took the
// last. *was: times as this failure found it (what Linux's report prints:
// its fail_dump comes before the decrement).
static bool take_one_time(fault_attr &attr, long *was) {
  long times = atomic_load_long(&attr.times);
  while (times != -1) {
    if (times == 0) return false;
    if (__atomic_compare_exchange_n(&attr.times, &times, times - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      break;
  }
  *was = times;
  return true;
}

bool should_fail(fault_attr &attr, const char *name, long size, bool nowarn) {
  if (attr.probability == 0) return false;
  if (atomic_load_long(&attr.times) == 0) return false;
  if (!caller_filter_accepts(attr)) return false;
  if (take_space(attr, size)) return false;
  if (attr.interval > 1) {
    unsigned long n = __atomic_add_fetch(&attr.count, 1, __ATOMIC_RELAXED);
    if (n % attr.interval) return false;
  }
  if (attr.probability <= random_below_100(attr)) return false;
  long times;
  if (!take_one_time(attr, &times)) return false;
  __atomic_fetch_add(&attr.nr_failures, 1, __ATOMIC_RELAXED);
  if (attr.verbose && !nowarn) {
    printk(KERN_NOTICE "FAULT_INJECTION: forcing a failure.\nname %s, interval %lu, probability %lu, space %ld, times %ld\n",
           name, attr.interval, attr.probability, atomic_load_long(&attr.space), times);
    if (attr.verbose > 1) dump_stack();
  }
  return true;
}

// A signed field: "-1" or a decimal/hex count.
static int parse_long(const char *s, long *out) {
  if (s[0] == '-' && s[1] == '1' && s[2] == '\0') {
    *out = -1;
    return 0;
  }
  u64 v;
  if (parse_u64(s, &v) || v > u64(~0UL >> 1)) return -EINVAL;
  *out = long(v);
  return 0;
}

int setup_fault_attr(fault_attr &attr, const char *str) {
  if (!str) return -EINVAL;
  char buf[96];
  if (strscpy(buf, str, sizeof(buf)) < 0) return -EINVAL;
  // Exactly four fields: three commas.
  char *fields[4] = {buf, nullptr, nullptr, nullptr};
  unsigned nr = 1;
  for (char *p = buf; *p; p++) {
    if (*p != ',') continue;
    if (nr == 4) return -EINVAL;
    *p = '\0';
    fields[nr++] = p + 1;
  }
  if (nr != 4) return -EINVAL;
  u64 interval, probability;
  long space, times;
  if (parse_u64(fields[0], &interval) || interval == 0 || parse_u64(fields[1], &probability) ||
      probability > 100 || parse_long(fields[2], &space) || space < 0 || parse_long(fields[3], &times))
    return -EINVAL;
  attr.interval = interval;
  attr.probability = probability;
  attr.space = space;
  attr.times = times;
  return 0;
}

bool __should_fail_alloc_page(fail_page_alloc_attr &f, gfp_t gfp, unsigned order) {
  if (order < f.min_order) return false;
  if (gfp & __GFP_NOFAIL) return false;
  if (f.ignore_gfp_highmem && (gfp & __GFP_HIGHMEM)) return false;
  if (f.ignore_gfp_reclaim && (gfp & __GFP_DIRECT_RECLAIM)) return false;
  return should_fail(f.attr, "fail_page_alloc", long(1) << order, gfp & __GFP_NOWARN);
}

bool __should_failslab(failslab_attr &f, gfp_t gfp, unsigned object_size) {
  if (gfp & __GFP_NOFAIL) return false;
  if (f.ignore_gfp_reclaim && (gfp & __GFP_DIRECT_RECLAIM)) return false;
  return should_fail(f.attr, "failslab", long(object_size), gfp & __GFP_NOWARN);
}
