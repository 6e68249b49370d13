// In-kernel tests of the CPUs' stacks (kernel/thread_stack.h): each CPU runs
// on a vmalloc area of its own with an unmapped page below it, what
// alloc_thread_stack_node hands out has the same shape and is named in
// vmallocinfo, and the checker notices a stack that lost its guard. The
// overflow itself is fatal by design: tests/stack_test.py makes one.
#include <asm/arch.h>
#include <asm/mmu.h>
#include <asm/traps.h>

#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/numa.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/thread_stack.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

namespace {

vmalloc_system &vs() { return *system_vmalloc; }
uintptr_t uaddr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

uintptr_t seen_sp[NR_CPUS];

void record_sp(void *) {
  seen_sp[smp_processor_id() & (NR_CPUS - 1)] = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

// Every online CPU, the boot CPU included, runs on its own vmalloc stack of
// THREAD_SIZE (sp seen inside it from a cross-call), and the checker agrees.
void every_cpu_runs_on_its_vmalloc_stack(ktest *t) {
  memset(seen_sp, 0, sizeof(seen_sp));
  on_each_cpu(record_sp, nullptr, true);
  for_each_cpu(cpu, cpu_online_mask) {
    const percpu_area &a = cpu_areas[cpu];
    KTEST_ASSERT_TRUE(t, a.stack != nullptr);
    KTEST_EXPECT_TRUE(t, is_vmalloc_addr(vs(), a.stack));
    KTEST_EXPECT_EQ(t, a.stack_top, uaddr(a.stack) + THREAD_SIZE);
    KTEST_EXPECT_GE(t, seen_sp[cpu], uaddr(a.stack));
    KTEST_EXPECT_LT(t, seen_sp[cpu], a.stack_top);
  }
  static char buf[1024];
  check_report r = make_check_report(buf, sizeof(buf));
  KTEST_EXPECT_EQ(t, check_thread_stacks(r), 0u);
  if (r.violations) printk(KERN_INFO "        # %s", buf);
}

// Below each CPU's stack is a page that faults; the stack's own pages are
// all mapped, its lowest word included.
void guard_page_below_every_stack(ktest *t) {
  for_each_cpu(cpu, cpu_online_mask) {
    const u8 *base = static_cast<const u8 *>(cpu_areas[cpu].stack);
    KTEST_ASSERT_TRUE(t, base != nullptr);
    KTEST_EXPECT_TRUE(t, read_faults(base - 8));
    KTEST_EXPECT_TRUE(t, read_faults(base - PAGE_SIZE));
    KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), base - PAGE_SIZE) == nullptr);
    u64 v;
    KTEST_EXPECT_EQ(t, probe_read_u64(base, &v), 0);
    for (unsigned i = 0; i < THREAD_PAGES; i++)
      KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), base + i * PAGE_SIZE) != nullptr);
  }
}

// A stack from alloc_thread_stack_node: zeroed, THREAD_PAGES of vmalloc
// pages, the page below it faulting even when another stack was made just
// before it, and vmallocinfo naming the function that asked; freeing gives
// the pages back.
void alloc_thread_stack_round_trip(ktest *t) {
  const unsigned long before = __atomic_load_n(&vs().vmalloc_pages, __ATOMIC_RELAXED);
  u8 *first = static_cast<u8 *>(alloc_thread_stack_node(NUMA_NO_NODE));
  u8 *s = static_cast<u8 *>(alloc_thread_stack_node(cpu_to_node(smp_processor_id())));
  KTEST_ASSERT_TRUE(t, first != nullptr && s != nullptr);
  KTEST_EXPECT_EQ(t, __atomic_load_n(&vs().vmalloc_pages, __ATOMIC_RELAXED), before + 2 * THREAD_PAGES);
  size_t nonzero = 0;
  for (size_t i = 0; i < THREAD_SIZE; i++) nonzero += s[i] != 0;
  KTEST_EXPECT_EQ(t, nonzero, 0u);
  s[0] = 1;
  s[THREAD_SIZE - 1] = 1;
  for (u8 *p : (u8 *[]){first, s}) {
    KTEST_EXPECT_TRUE(t, read_faults(p - 8));
    KTEST_EXPECT_TRUE(t, read_faults(p + THREAD_SIZE));
  }
  KTEST_EXPECT_TRUE(t, vmallocinfo_lists(s, THREAD_PAGES, "alloc_thread_stack_round_trip"));
  free_thread_stack(s);
  free_thread_stack(first);
  free_thread_stack(nullptr);
  KTEST_EXPECT_EQ(t, __atomic_load_n(&vs().vmalloc_pages, __ATOMIC_RELAXED), before);
}

// The checker names a CPU whose stack_top is not its stack's end, and one
// whose guard page got mapped (an overflow there would corrupt that frame
// silently); both are undone, and it is quiet again.
void checker_finds_damaged_stacks(ktest *t) {
  static char buf[1024];
  percpu_area &me = this_cpu_area();
  char want[96];
  check_report r = make_check_report(buf, sizeof(buf));
  me.stack_top += PAGE_SIZE;
  unsigned n = check_thread_stacks(r);
  me.stack_top -= PAGE_SIZE;
  KTEST_EXPECT_EQ(t, n, 1u);
  scnprintf(want, sizeof(want), "CPU%u's stack_top is 0x%lx", me.cpu, me.stack_top + PAGE_SIZE);
  KTEST_EXPECT_TRUE(t, find(buf, want) != nullptr);

  page *frame = alloc_pages(GFP_KERNEL, 0);
  KTEST_ASSERT_TRUE(t, frame != nullptr);
  const uintptr_t below = uaddr(me.stack) - PAGE_SIZE;
  int err;
  {
    spin_lock_guard g(vs().pt_lock);
    err = pgtable_map(vs().pt, below, page_to_phys(*vs().ms, frame), PAGE_SIZE, PROT_READ | PROT_GLOBAL, 0, vs().pt_ops);
  }
  KTEST_EXPECT_EQ(t, err, 0);
  r = make_check_report(buf, sizeof(buf));
  n = check_thread_stacks(r);
  {
    spin_lock_guard g(vs().pt_lock);
    KTEST_EXPECT_EQ(t, pgtable_unmap(vs().pt, below, PAGE_SIZE, vs().pt_ops), 0);
  }
  __free_pages(frame, 0);
  KTEST_EXPECT_EQ(t, n, 1u);
  scnprintf(want, sizeof(want), "the page below CPU%u's stack 0x%lx is mapped", me.cpu, uaddr(me.stack));
  KTEST_EXPECT_TRUE(t, find(buf, want) != nullptr);
  r = make_check_report(buf, sizeof(buf));
  KTEST_EXPECT_EQ(t, check_thread_stacks(r), 0u);
}

struct stack_damage_result {
  unsigned none_found, shared_found;
  char none_text[256], shared_text[256];
};

// Runs with every other CPU parked in its IPI handler: none of them takes a
// trap meanwhile, so their areas' stack fields may change under them.
void damage_stack_fields(void *arg) {
  stack_damage_result &res = *static_cast<stack_damage_result *>(arg);
  percpu_area &me = this_cpu_area();
  void *const mine = me.stack;
  me.stack = nullptr;  // a base of 0: trap_entry's check never fires
  check_report r = make_check_report(res.none_text, sizeof(res.none_text));
  res.none_found = check_thread_stacks(r);
  me.stack = mine;
  for_each_cpu(cpu, cpu_online_mask) {
    if (cpu == me.cpu) continue;
    percpu_area &other = cpu_areas[cpu];
    void *const theirs = other.stack;
    const uintptr_t top = other.stack_top;
    other.stack = mine;
    other.stack_top = me.stack_top;
    r = make_check_report(res.shared_text, sizeof(res.shared_text));
    res.shared_found = check_thread_stacks(r);
    other.stack = theirs;
    other.stack_top = top;
    break;
  }
}

// The checker names a CPU without a vmalloc stack, and two CPUs on one
// stack (each would overwrite the other's frames).
void checker_finds_missing_and_shared_stacks(ktest *t) {
  static stack_damage_result res;
  res = {};
  riscv_stop_machine(damage_stack_fields, &res);
  char want[64];
  const unsigned self = smp_processor_id();
  KTEST_EXPECT_EQ(t, res.none_found, 1u);
  scnprintf(want, sizeof(want), "CPU%u runs on no vmalloc stack", self);
  KTEST_EXPECT_TRUE(t, find(res.none_text, want) != nullptr);
  if (num_online_cpus() < 2) {
    ktest_skip(t, "one CPU: no stack to share");
    return;
  }
  KTEST_EXPECT_EQ(t, res.shared_found, 1u);
  KTEST_EXPECT_TRUE(t, find(res.shared_text, "share the stack") != nullptr);
  static char buf[256];
  check_report r = make_check_report(buf, sizeof(buf));
  KTEST_EXPECT_EQ(t, check_thread_stacks(r), 0u);
}

}  // namespace

KTEST_SUITE(thread_stack, KTEST_CASE(every_cpu_runs_on_its_vmalloc_stack), KTEST_CASE(guard_page_below_every_stack),
            KTEST_CASE(alloc_thread_stack_round_trip), KTEST_CASE(checker_finds_damaged_stacks),
            KTEST_CASE(checker_finds_missing_and_shared_stacks));
