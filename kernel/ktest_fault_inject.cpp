// ktest suite `fault_inject`: fail_page_alloc and failslab in the kernel
// itself, where the caller filter walks real frame-pointer stacks and finds
// callers through kallsyms. Each case saves the kernel's settings (the
// command line's, if any) and puts them back.
#include "kernel/kallsyms.h"
#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

namespace {

mem_system &ms() { return *system_mem; }

struct saved_settings {
  fail_page_alloc_attr pages = system_mem->fail_page_alloc;
  failslab_attr slab = system_slab->failslab;
  ~saved_settings() {
    system_mem->fail_page_alloc = pages;
    system_slab->failslab = slab;
  }
};

fault_attr fail_times(long times) {
  fault_attr a;
  a.probability = 100;
  a.times = times;
  a.verbose = 0;
  return a;
}

// times N: exactly N page allocations fail, however they are asked for, and
// taking them leaves the free pages as they were.
void fail_page_alloc_times(ktest *t) {
  saved_settings saved;
  free_state before = settle();
  ms().fail_page_alloc.attr = fail_times(3);
  ms().fail_page_alloc.min_order = 0;
  ms().fail_page_alloc.ignore_gfp_reclaim = false;
  KTEST_EXPECT_TRUE(t, alloc_pages(GFP_KERNEL, 0) == nullptr);
  KTEST_EXPECT_TRUE(t, alloc_pages(GFP_ATOMIC, 2) == nullptr);
  KTEST_EXPECT_EQ(t, __get_free_pages(GFP_KERNEL, 1), 0ul);
  page *p = alloc_pages(GFP_KERNEL, 0);
  KTEST_ASSERT_TRUE(t, p != nullptr);
  __free_pages(p, 0);
  KTEST_EXPECT_EQ(t, ms().fail_page_alloc.attr.nr_failures, 3ul);
  ms().fail_page_alloc.attr.probability = 0;
  expect_same_free_state(t, before, settle());
}

// failslab fails kmalloc and kmem_cache_alloc; a failed krealloc keeps the
// old object.
void failslab_fails_kmalloc(ktest *t) {
  saved_settings saved;
  char *old = static_cast<char *>(kmalloc(32, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, old != nullptr);
  memset(old, 0x3c, 32);
  free_state before = settle();
  system_slab->failslab.attr = fail_times(2);
  system_slab->failslab.ignore_gfp_reclaim = false;
  KTEST_EXPECT_TRUE(t, kmalloc(64, GFP_KERNEL) == nullptr);
  KTEST_EXPECT_TRUE(t, krealloc(old, 500, GFP_KERNEL) == nullptr);
  KTEST_EXPECT_EQ(t, old[31], char(0x3c));
  void *ok = kmalloc(64, GFP_KERNEL);
  KTEST_EXPECT_TRUE(t, ok != nullptr);
  kfree(ok);
  system_slab->failslab.attr.probability = 0;
  expect_same_free_state(t, before, settle());
  kfree(old);
}

// The caller filter over the kernel's own stacks: required to be inside
// __vmalloc_node, every page allocation there fails and vmalloc returns NULL
// having given back what it took; the same request outside vmalloc succeeds.
void caller_filter_picks_vmalloc(ktest *t) {
  saved_settings saved;
  uintptr_t start = kallsyms_lookup_name("__vmalloc_node"), offset, size;
  const char *name;
  KTEST_ASSERT_TRUE(t, start != 0 && kallsyms_lookup(start, &name, &offset, &size));
  vfree(vmalloc(PAGE_SIZE));  // the range's first tables, before the baseline
  free_state before = settle();
  fault_attr a = fail_times(-1);
  a.require_start = start;
  a.require_end = start + size;
  ms().fail_page_alloc.attr = a;
  ms().fail_page_alloc.min_order = 0;
  ms().fail_page_alloc.ignore_gfp_reclaim = false;
  KTEST_EXPECT_TRUE(t, vmalloc(4 * PAGE_SIZE) == nullptr);
  page *p = alloc_pages(GFP_KERNEL, 0);
  KTEST_EXPECT_TRUE(t, p != nullptr);
  KTEST_EXPECT_GE(t, ms().fail_page_alloc.attr.nr_failures, 1ul);
  ms().fail_page_alloc.attr.probability = 0;
  if (p) __free_pages(p, 0);
  expect_same_free_state(t, before, settle());
}

// Settings from the command line (fail_page_alloc=, failslab=) are in place
// once the kernel is up; skipped when none were given.
void command_line_settings_apply(ktest *t) {
  const fault_attr &a = ms().fail_page_alloc.attr;
  if (a.probability == 0 && system_slab->failslab.attr.probability == 0) {
    ktest_skip(t, "no fail_page_alloc= or failslab= on the command line");
    return;
  }
  if (a.probability == 0) return;
  saved_settings saved;
  free_state before = settle();
  // Ask until the budget is spent (or a bound, for times -1): every failure
  // is a clean NULL and each is counted.
  unsigned long failures = a.nr_failures, nulls = 0;
  for (int i = 0; i < 64 && ms().fail_page_alloc.attr.times != 0; i++) {
    void *v = vmalloc(2 * PAGE_SIZE);
    if (!v) nulls++;
    vfree(v);
  }
  KTEST_EXPECT_GE(t, nulls, 1ul);
  KTEST_EXPECT_GE(t, ms().fail_page_alloc.attr.nr_failures, failures + nulls);
  ms().fail_page_alloc.attr.probability = 0;
  expect_same_free_state(t, before, settle());
}

}  // namespace

KTEST_SUITE(fault_inject, KTEST_CASE(fail_page_alloc_times), KTEST_CASE(failslab_fails_kmalloc),
            KTEST_CASE(caller_filter_picks_vmalloc), KTEST_CASE(command_line_settings_apply));
