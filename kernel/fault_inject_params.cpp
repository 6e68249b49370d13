// The command line's fault injection (mm/fault_inject.h): Linux's
// fail_page_alloc= and failslab= in their boot syntax
// "<interval>,<probability>,<space>,<times>", and, for what Linux sets in
// debugfs, dotted parameters: fail_page_alloc.ignore-gfp-wait=Y|N,
// .ignore-gfp-highmem=Y|N, .min-order=N, .verbose=N, .caller=SYMBOL (fail
// only calls made with SYMBOL on the stack); failslab.ignore-gfp-wait,
// .verbose and .caller likewise.
//
// The settings take effect once the kernel is up (fault_inject_apply), not
// during the boot's own allocations: a boot that cannot finish tests nothing.
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kallsyms.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"

namespace {

fail_page_alloc_attr boot_fail_page_alloc;
failslab_attr boot_failslab;
bool fail_page_alloc_set, failslab_set;
char fail_page_alloc_caller[48], failslab_caller[48];

int parse_small(const char *val, unsigned max, unsigned *out) {
  u64 v;
  if (!val || parse_u64(val, &v) || v > max) return -EINVAL;
  *out = unsigned(v);
  return 0;
}

// The function named `name`, as the caller filter's required range.
int set_caller(fault_attr &attr, char (&saved)[48], const char *name) {
  if (!name || strscpy(saved, name, sizeof(saved)) < 0) return -EINVAL;
  uintptr_t addr = kallsyms_lookup_name(name), offset, size;
  const char *found;
  if (!addr || !kallsyms_lookup(addr, &found, &offset, &size) || offset != 0 || size == 0) return -EINVAL;
  attr.require_start = addr;
  attr.require_end = addr + size;
  return 0;
}

int set_fail_page_alloc(const char *val) {
  if (setup_fault_attr(boot_fail_page_alloc.attr, val)) return -EINVAL;
  fail_page_alloc_set = true;
  return 0;
}
int set_fpa_ignore_wait(const char *val) { return parse_bool(val, &boot_fail_page_alloc.ignore_gfp_reclaim); }
int set_fpa_ignore_highmem(const char *val) { return parse_bool(val, &boot_fail_page_alloc.ignore_gfp_highmem); }
int set_fpa_min_order(const char *val) { return parse_small(val, MAX_PAGE_ORDER + 1, &boot_fail_page_alloc.min_order); }
int set_fpa_verbose(const char *val) { return parse_small(val, 2, &boot_fail_page_alloc.attr.verbose); }
int set_fpa_caller(const char *val) { return set_caller(boot_fail_page_alloc.attr, fail_page_alloc_caller, val); }

int set_failslab(const char *val) {
  if (setup_fault_attr(boot_failslab.attr, val)) return -EINVAL;
  failslab_set = true;
  return 0;
}
int set_fs_ignore_wait(const char *val) { return parse_bool(val, &boot_failslab.ignore_gfp_reclaim); }
int set_fs_verbose(const char *val) { return parse_small(val, 2, &boot_failslab.attr.verbose); }
int set_fs_caller(const char *val) { return set_caller(boot_failslab.attr, failslab_caller, val); }

void print_attr(const char *name, const fault_attr &a, const char *caller) {
  pr_info("%s: interval %lu, probability %lu, space %ld, times %ld%s%s\n", name, a.interval, a.probability,
          a.space, a.times, caller[0] ? ", caller " : "", caller);
}

}  // namespace

KERNEL_PARAM(fail_page_alloc_param, "fail_page_alloc", set_fail_page_alloc,
             "fail_page_alloc=<interval>,<probability>,<space>,<times>: inject page allocation failures");
KERNEL_PARAM(fpa_ignore_wait_param, "fail_page_alloc.ignore-gfp-wait", set_fpa_ignore_wait,
             "Y (default): leave requests that may reclaim alone");
KERNEL_PARAM(fpa_ignore_highmem_param, "fail_page_alloc.ignore-gfp-highmem", set_fpa_ignore_highmem,
             "Y (default): leave __GFP_HIGHMEM requests alone");
KERNEL_PARAM(fpa_min_order_param, "fail_page_alloc.min-order", set_fpa_min_order,
             "the smallest order failed (default 1)");
KERNEL_PARAM(fpa_verbose_param, "fail_page_alloc.verbose", set_fpa_verbose,
             "0 silent, 1 a line per failure, 2 (default) and a backtrace");
KERNEL_PARAM(fpa_caller_param, "fail_page_alloc.caller", set_fpa_caller,
             "fail only calls with this function on the stack");
KERNEL_PARAM(failslab_param, "failslab", set_failslab,
             "failslab=<interval>,<probability>,<space>,<times>: inject slab allocation failures");
KERNEL_PARAM(fs_ignore_wait_param, "failslab.ignore-gfp-wait", set_fs_ignore_wait,
             "Y (default): leave requests that may reclaim alone");
KERNEL_PARAM(fs_verbose_param, "failslab.verbose", set_fs_verbose,
             "0 silent, 1 a line per failure, 2 (default) and a backtrace");
KERNEL_PARAM(fs_caller_param, "failslab.caller", set_fs_caller, "fail only calls with this function on the stack");

void fault_inject_apply() {
  if (fail_page_alloc_set) {
    system_mem->fail_page_alloc = boot_fail_page_alloc;
    print_attr("fail_page_alloc", boot_fail_page_alloc.attr, fail_page_alloc_caller);
    pr_info("fail_page_alloc: min-order %u, ignore-gfp-wait %c, ignore-gfp-highmem %c\n",
            boot_fail_page_alloc.min_order, boot_fail_page_alloc.ignore_gfp_reclaim ? 'Y' : 'N',
            boot_fail_page_alloc.ignore_gfp_highmem ? 'Y' : 'N');
  }
  if (failslab_set) {
    system_slab->failslab = boot_failslab;
    print_attr("failslab", boot_failslab.attr, failslab_caller);
    pr_info("failslab: ignore-gfp-wait %c\n", boot_failslab.ignore_gfp_reclaim ? 'Y' : 'N');
  }
}
