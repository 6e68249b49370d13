#include "kernel/ktest.h"

#include "kernel/printk.h"
#include "kernel/boot.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

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

// With mm.check=1, every case also fails if it left the allocators'
// invariants broken.
static void check_invariants(ktest *t) {
  if (!mm_check_enabled || !system_mem) return;
  static char buf[2048];
  check_report r = make_check_report(buf, sizeof(buf));
  unsigned n = check_page_alloc(*system_mem, r);
  if (system_slab) n += check_slab(*system_slab, r);
  if (system_vmalloc) n += check_vmalloc(*system_vmalloc, r);
  if (n) ktest_fail(t, __FILE__, __LINE__, "mm.check: %u violations after this case:\n%s", n, buf);
}

static int run_suite(const ktest_suite &s, int index) {
  int failed = 0;
  printk(KERN_INFO "    KTAP version 1\n");
  printk(KERN_INFO "    # Subtest: %s\n", s.name);
  printk(KERN_INFO "    1..%zu\n", s.nr_cases);
  for (size_t i = 0; i < s.nr_cases; i++) {
    ktest t = {s.name, s.cases[i].name, 0, nullptr};
    u64 start = read_time();
    // Cases count pages exactly: no kswapd on another CPU in the middle.
    __atomic_fetch_add(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
    s.cases[i].run(&t);
    __atomic_fetch_sub(&background_reclaim_held, 1, __ATOMIC_ACQ_REL);
    check_invariants(&t);
    printk(KERN_INFO "        # %s: %lu ms\n", t.name, elapsed_ms(start));
    if (t.failures) failed++;
    if (t.skip_reason && !t.failures)
      printk(KERN_INFO "    ok %zu %s # SKIP %s\n", i + 1, t.name, t.skip_reason);
    else
      printk(KERN_INFO "    %sok %zu %s\n", t.failures ? "not " : "", i + 1, t.name);
  }
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
