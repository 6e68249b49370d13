#include "kernel/ktest.h"
#include "kernel/thread_stack.h"

#include "kernel/printk.h"
#include "kernel/boot.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/pgtable.h"
#include "mm/vmalloc.h"

#include <asm/mmu.h>

// The platform timer, for the duration diagnostics (not for pass/fail).
static u64 read_time() {
  u64 t;
  asm volatile("rdtime %0" : "=r"(t));
  return t;
}

static unsigned long elapsed_ms(u64 start) {
  u64 hz = boot_params.timebase_frequency ? boot_params.timebase_frequency : 10000000;
  return static_cast<unsigned long>((read_time() - start) * 1000 / hz);
}

extern "C" const ktest_suite __ktest_suites_start[], __ktest_suites_end[];

void ktest_fail(ktest *t, const char *file, int line, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  kvsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  t->failures++;
  printk(KERN_ERR "        # %s: %s:%d: %s\n", t->name, file, line, msg);
}

void ktest_skip(ktest *t, const char *reason) { t->skip_reason = reason; }

// True when name is one of the comma-separated words of filter.
static bool filter_has(const char *filter, const char *name) {
  size_t len = strlen(name);
  for (const char *p = filter; *p;) {
    const char *comma = strchr(p, ',');
    size_t word = comma ? size_t(comma - p) : strlen(p);
    if (word == len && strncmp(p, name, len) == 0) return true;
    if (!comma) break;
    p = comma + 1;
  }
  return false;
}

static bool suite_exists(const char *name, size_t len) {
  for (const ktest_suite *s = __ktest_suites_start; s < __ktest_suites_end; s++)
    if (strlen(s->name) == len && strncmp(s->name, name, len) == 0) return true;
  return false;
}

// Every checker of mm/check.h over the kernel's allocators and its page
// table. Other CPUs only idle meanwhile (ktest holds background work off).
static void check_invariants(ktest *t, const char *when) {
  if (!system_mem) return;
  static char buf[2048];
  check_report r = make_check_report(buf, sizeof(buf));
  unsigned n = check_page_alloc(*system_mem, r);
  if (system_slab) n += check_slab(*system_slab, r);
  if (system_vmalloc) {
    n += check_vmalloc(*system_vmalloc, r);
    spin_lock_guard g(system_vmalloc->pt_lock);
    n += check_pgtable(kernel_page_table, r);
  }
  n += check_thread_stacks(r);
  if (n) ktest_fail(t, __FILE__, __LINE__, "mm.check: %u violations %s:\n%s", n, when, buf);
}

// The per-call checks' findings (mm.check=1) since `before`.
static void check_call_findings(ktest *t, unsigned long before) {
  unsigned long now = __atomic_load_n(&system_mem->check_violations, __ATOMIC_RELAXED);
  if (now != before)
    ktest_fail(t, __FILE__, __LINE__, "mm.check: %lu violations found after allocator calls (printed above)",
               now - before);
}

static unsigned long call_findings() {
  return system_mem ? __atomic_load_n(&system_mem->check_violations, __ATOMIC_RELAXED) : 0;
}

static int run_suite(const ktest_suite &s, int index) {
  int failed = 0;
  printk(KERN_INFO "    KTAP version 1\n");
  printk(KERN_INFO "    # Subtest: %s\n", s.name);
  // One more case than the suite has: the checkers over everything once the
  // suite is done, so that every suite's damage is caught, mm.check or not.
  printk(KERN_INFO "    1..%zu\n", s.nr_cases + 1);
  for (size_t i = 0; i < s.nr_cases; i++) {
    ktest t = {s.name, s.cases[i].name, 0, nullptr};
    u64 start = read_time();
    unsigned long findings = call_findings();
    // Cases count pages exactly: no kswapd on another CPU in the middle.
    __atomic_fetch_add(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
    s.cases[i].run(&t);
    if (mm_check_enabled) {
      check_call_findings(&t, findings);
      check_invariants(&t, "after this case");
    }
    __atomic_fetch_sub(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
    printk(KERN_INFO "        # %s: %lu ms\n", t.name, elapsed_ms(start));
    if (t.failures) failed++;
    if (t.skip_reason && !t.failures)
      printk(KERN_INFO "    ok %zu %s # SKIP %s\n", i + 1, t.name, t.skip_reason);
    else
      printk(KERN_INFO "    %sok %zu %s\n", t.failures ? "not " : "", i + 1, t.name);
  }
  ktest end = {s.name, "mm_check_at_suite_end", 0, nullptr};
  __atomic_fetch_add(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
  check_invariants(&end, "at the end of the suite");
  __atomic_fetch_sub(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
  if (end.failures) failed++;
  printk(KERN_INFO "    %sok %zu %s\n", end.failures ? "not " : "", s.nr_cases + 1, end.name);
  printk(KERN_INFO "%sok %d %s\n", failed ? "not " : "", index, s.name);
  return failed;
}

int ktest_run(const char *filter) {
  bool all = !filter || !*filter;
  if (!all) {
    for (const char *p = filter; *p;) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? size_t(comma - p) : strlen(p);
      if (!suite_exists(p, len)) {
        pr_err("ktest: no suite named \"%.*s\" (try the monitor's `ktest list`)\n", int(len), p);
        return -1;
      }
      p = comma ? comma + 1 : p + len;
    }
  }
  int nr = 0;
  for (const ktest_suite *s = __ktest_suites_start; s < __ktest_suites_end; s++)
    if (all || filter_has(filter, s->name)) nr++;
  printk(KERN_INFO "KTAP version 1\n");
  printk(KERN_INFO "1..%d\n", nr);
  int failed = 0, index = 0, failed_suites = 0;
  for (const ktest_suite *s = __ktest_suites_start; s < __ktest_suites_end; s++) {
    if (!all && !filter_has(filter, s->name)) continue;
    int f = run_suite(*s, ++index);
    failed += f;
    failed_suites += f != 0;
  }
  printk(KERN_INFO "# ktest: %d suites, %d failed cases in %d suites\n", nr, failed, failed_suites);
  return failed;
}

void ktest_list() {
  for (const ktest_suite *s = __ktest_suites_start; s < __ktest_suites_end; s++) {
    printk("%s:", s->name);
    for (size_t i = 0; i < s->nr_cases; i++) printk(KERN_CONT " %s", s->cases[i].name);
    printk(KERN_CONT "\n");
  }
}
