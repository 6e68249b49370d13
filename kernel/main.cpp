// The boot sequence, in order. entry.S arrives here on the boot hart with the
// MMU on (the early table), a stack, BSS cleared, and the device tree's
// physical address.
#include <asm/csr.h>
#include <asm/memlayout.h>
#include <asm/mmu.h>
#include <asm/sections.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/cxxrt.h"
#include "kernel/errno.h"
#include "kernel/fdt.h"
#include "kernel/kallsyms.h"
#include "kernel/ktest.h"
#include "kernel/monitor.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/poweroff.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/memblock.h"
#include "mm/page_alloc.h"
#include "mm/page_report.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"
#include "sbi/sbi.h"

boot_info boot_params;
unsigned long boot_pageblocks[MIGRATE_TYPES];
unsigned long boot_end_pageblocks[MIGRATE_TYPES];
unsigned long boot_end_pages_in_use;
memblock boot_memblock;
phys_addr_t boot_dtb_pa;
phys_addr_t boot_dtb_copy_pa;
u32 boot_dtb_size;
unsigned long boot_hartid;
static char command_line[FDT_BOOTARGS_MAX];

// ---- command line -------------------------------------------------------

static bool ktest_requested;
static char ktest_filter[128];
static bool memblock_debug;
bool mm_check_enabled;

static int set_ktest(const char *val) {
  ktest_requested = true;
  if (val && strscpy(ktest_filter, val, sizeof(ktest_filter)) < 0) return -EINVAL;
  return 0;
}
KERNEL_PARAM(ktest_param, "ktest", set_ktest, "run the in-kernel test suites (all, or those named) and power off");

static int set_memblock(const char *val) {
  if (!val || strcmp(val, "debug") != 0) return -EINVAL;
  memblock_debug = true;
  return 0;
}
KERNEL_PARAM(memblock_param, "memblock", set_memblock, "memblock=debug prints memblock's tables");

static int set_mm_check(const char *val) {
  u64 v;
  if (!val || parse_u64(val, &v) || v > 1) return -EINVAL;
  mm_check_enabled = v;
  return 0;
}
KERNEL_PARAM(mm_check_param, "mm.check", set_mm_check,
             "mm.check=1 checks after every allocator call and runs every checker after every ktest case");

static int min_free_kbytes_param;

static int set_min_free_kbytes(const char *val) {
  u64 v;
  if (!val || parse_u64(val, &v) || v == 0 || v > 1048576) return -EINVAL;
  min_free_kbytes_param = int(v);
  return 0;
}
KERNEL_PARAM(min_free_kbytes_kparam, "min_free_kbytes", set_min_free_kbytes,
             "pages kept free (KiB); default from Linux's int_sqrt rule");

// Linux's compaction sysctls, set here at boot (there is no /proc/sys):
// vm.compaction_proactiveness (0..100, 0 turns proactive compaction off)
// and vm.extfrag_threshold (0..1000: how fragmented a zone must be before
// compaction, rather than reclaim, is tried for a costly order). -1: the
// default mem_system_init chose.
static int compaction_proactiveness_param = -1, extfrag_threshold_param = -1;

static int set_bounded_int(const char *name, const char *val, u64 max, int *out) {
  u64 v;
  if (!val || parse_u64(val, &v) || v > max) {
    pr_err("%s: \"%s\" is not a number from 0 to %lu\n", name, val ? val : "", static_cast<unsigned long>(max));
    return -EINVAL;
  }
  *out = int(v);
  return 0;
}
static int set_compaction_proactiveness(const char *val) {
  return set_bounded_int("vm.compaction_proactiveness", val, 100, &compaction_proactiveness_param);
}
static int set_extfrag_threshold(const char *val) {
  return set_bounded_int("vm.extfrag_threshold", val, 1000, &extfrag_threshold_param);
}
KERNEL_PARAM(compaction_proactiveness_kparam, "vm.compaction_proactiveness", set_compaction_proactiveness,
             "0-100 (default 20): how hard kcompactd compacts in the background; 0 turns it off");
KERNEL_PARAM(extfrag_threshold_kparam, "vm.extfrag_threshold", set_extfrag_threshold,
             "0-1000 (default 500): fragmentation index above which compaction is tried for costly orders");

static slab_flags_t slab_debug_flags;

// Linux's letters: Z red zone, P poison, in any order and either case; the
// bare word turns on both (Linux's "all" of the checks we have).
static int set_slab_debug(const char *val) {
  if (!val) {
    slab_debug_flags = SLAB_RED_ZONE | SLAB_POISON;
    return 0;
  }
  if (!*val) return -EINVAL;
  slab_flags_t flags = 0;
  for (const char *c = val; *c; c++) {
    if (*c == 'Z' || *c == 'z') flags |= SLAB_RED_ZONE;
    else if (*c == 'P' || *c == 'p') flags |= SLAB_POISON;
    else return -EINVAL;
  }
  slab_debug_flags = flags;
  return 0;
}
KERNEL_PARAM(slab_debug_param, "slab_debug", set_slab_debug,
             "slab_debug[=Z|P|ZP]: red zones (Z) and/or poison (P) on every slab cache; bare: both");

static int set_loglevel(const char *val) {
  u64 v;
  if (!val || parse_u64(val, &v) || v > 8) return -EINVAL;
  console_loglevel = int(v);
  return 0;
}
KERNEL_PARAM(loglevel_param, "loglevel", set_loglevel, "print messages below this level (0-8)");

extern "C" const kernel_param __kernel_params_start[], __kernel_params_end[];

static void report_param(param_problem problem, const char *name, const char *val) {
  switch (problem) {
    case param_problem::unknown:
      pr_warn("Unknown kernel command line parameter \"%s\": ignored (see `help params`)\n", name);
      break;
    case param_problem::bad_value:
      pr_err("Kernel command line: invalid value \"%s\" for \"%s\": ignored\n", val ? val : "", name);
      break;
    case param_problem::bad_quoting:
      pr_err("Kernel command line: unterminated quote in \"%s\": ignored\n", name);
      break;
  }
}

static void parse_command_line() {
  strscpy(command_line, boot_params.bootargs, sizeof(command_line));
  pr_notice("Kernel command line: %s\n", command_line);
  parse_args(command_line, __kernel_params_start, size_t(__kernel_params_end - __kernel_params_start),
             report_param);
}

// ---- boot steps -----------------------------------------------------------

// A device tree larger than this is refused as corrupt.
constexpr size_t FDT_MAX_BLOB_SIZE = 16 * SZ_1M;

static void parse_device_tree(phys_addr_t dtb_pa) {
  if (!dtb_pa || (dtb_pa & 7)) panic("no device tree: the firmware passed %#lx", dtb_pa);
  // Before paging_init the boot table maps RAM one to one: the physical
  // address is usable as is. fdt_parse checks every read against the
  // header's totalsize, and that against FDT_MAX_BLOB_SIZE.
  const u8 *blob = reinterpret_cast<const u8 *>(dtb_pa);
  boot_dtb_size = u32(blob[4]) << 24 | u32(blob[5]) << 16 | u32(blob[6]) << 8 | blob[7];
  fdt_diag diag;
  fdt_error err = fdt_parse(blob, FDT_MAX_BLOB_SIZE, &boot_params, &diag);
  if (err != fdt_error::ok)
    panic("device tree at %#lx is unusable: %s (at byte %u)", dtb_pa, fdt_strerror(err), diag.offset);
}

static void setup_memblock(phys_addr_t dtb_pa) {
  memblock &mb = boot_memblock;
  memblock_init(mb);
  for (size_t i = 0; i < boot_params.nr_memory; i++) {
    const boot_mem_range &m = boot_params.memory[i];
    if (int err = memblock_add_node(mb, m.base, m.size, int(m.nid), MEMBLOCK_NONE))
      pr_err("memblock: cannot add [%#lx-%#lx]: %d\n", m.base, m.base + m.size - 1, err);
  }
  if (memblock_phys_mem_size(mb) == 0) panic("the device tree describes no memory");
  // The image, the device tree and every reservation the firmware made.
  u64 image_size = kaddr(_end) - kaddr(_start_image);
  memblock_reserve(mb, kernel_load_pa, image_size);
  memblock_reserve(mb, dtb_pa, boot_dtb_size);
  for (size_t i = 0; i < boot_params.nr_reserved; i++)
    memblock_reserve(mb, boot_params.reserved[i].base, boot_params.reserved[i].size);
  if (memblock_debug) memblock_dump(mb);
}

// The firmware may leave the device tree outside the memory it describes
// (QEMU puts it at the top of its RAM, whatever the tree says), where the
// direct map will not reach it. Like Linux, keep a copy in memblock memory.
static void copy_device_tree(phys_addr_t dtb_pa) {
  phys_addr_t copy = memblock_phys_alloc(boot_memblock, boot_dtb_size, 8);
  if (!copy) panic("no memory for a copy of the device tree (%u bytes)", boot_dtb_size);
  memcpy(reinterpret_cast<void *>(copy), reinterpret_cast<const void *>(dtb_pa), boot_dtb_size);
  boot_dtb_copy_pa = copy;
}

static void setup_devices() {
  if (boot_params.poweroff.present) {
    auto *base = static_cast<u8 *>(ioremap(boot_params.poweroff.base, PAGE_SIZE));
    if (base)
      poweroff_set_device(reinterpret_cast<volatile u32 *>(base + boot_params.poweroff.offset),
                          boot_params.poweroff.value, boot_params.sifive_test);
  }
  if (boot_params.uart.present) {
    auto *base = static_cast<volatile u8 *>(ioremap(boot_params.uart.base, boot_params.uart.size));
    if (base) {
      uart_console_init({base, boot_params.uart.reg_shift, boot_params.uart.reg_io_width});
      pr_info("console [ttyS0] ns16550a at MMIO %#lx enabled\n", boot_params.uart.base);
    }
  } else {
    pr_warn("no ns16550 UART in the device tree: staying on the SBI console\n");
  }
}

static mem_system kernel_mem;

// Adds up the pageblocks of each migrate type of every populated zone.
static void count_all_pageblocks(unsigned long count[MIGRATE_TYPES]) {
  for_each_online_pgdat(*system_mem, pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    unsigned long c[MIGRATE_TYPES];
    count_pageblock_types(z, c);
    for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++) count[mt] += c[mt];
  }
}

static slab_allocator kernel_slab;
static vmalloc_system kernel_vmalloc;

// vmallocinfo and vmalloc fault reports name each area's caller the way
// Linux's %pS does: function+offset/size.
static void vmalloc_symbolize(const void *addr, char *buf, size_t size) {
  sprint_symbol(buf, size, reinterpret_cast<uintptr_t>(addr));
}

// The seed of the slab freelists' hardening secrets. It has to differ from
// boot to boot, so that a stored link read in one boot (a leak, a crash
// dump) says nothing about the next. There is no entropy source here: the
// time since the machine started (the 10 MHz timer, whose low bits jitter
// with the host under QEMU; fixed with --icount, which is for reproducible
// runs anyway), mixed with the hart we booted on, is the best at hand.
static unsigned long slab_secret_seed() {
  unsigned long t = csr_read(time);
  return (t ^ (boot_hartid << 48) ^ (t << 29)) * 0x9e3779b97f4a7c15ul;
}

// Hands memblock's memory to the page allocator: one node per numa-node-id,
// ZONE_DMA32 below 4 GiB and ZONE_NORMAL above, as Linux on riscv64; then
// builds the slab allocator (kmalloc) on it, and vmalloc on both.
static void mm_init() {
  mem_layout layout{};
  unsigned long max_pfn = PFN_DOWN(memblock_end_of_DRAM(boot_memblock));
  layout.max_zone_pfn[ZONE_DMA] = 0;
  layout.max_zone_pfn[ZONE_DMA32] = max_pfn < PFN_DOWN(SZ_4G) ? max_pfn : PFN_DOWN(SZ_4G);
  for (int z = ZONE_NORMAL; z < int(MAX_NR_ZONES); z++) layout.max_zone_pfn[z] = max_pfn;
  for (u32 a = 0; a < boot_params.nr_nodes; a++)
    for (u32 b = 0; b < boot_params.nr_nodes; b++) layout.node_distance[a][b] = boot_params.distance[a][b];
  layout.nr_cpus = nr_cpu_ids;
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) layout.cpu_to_node[cpu] = cpu_to_node(cpu);
  layout.min_free_kbytes = min_free_kbytes_param;
  if (int err = mem_system_init(&kernel_mem, boot_memblock, layout))
    panic("cannot set up the page allocator: error %d", err);
  system_mem = &kernel_mem;
  if (compaction_proactiveness_param >= 0) kernel_mem.compaction_proactiveness = compaction_proactiveness_param;
  if (extfrag_threshold_param >= 0) kernel_mem.extfrag_threshold = extfrag_threshold_param;
  if (compaction_proactiveness_param >= 0 || extfrag_threshold_param >= 0)
    pr_info("compaction: proactiveness %d, extfrag_threshold %d\n", kernel_mem.compaction_proactiveness,
            kernel_mem.extfrag_threshold);
  count_all_pageblocks(boot_pageblocks);
  // As Linux's build_zonelists reports each node's (its format, trailing space and all).
  for_each_online_pgdat(kernel_mem, pgdat) {
    int order[MAX_NUMNODES];
    unsigned n = zonelist_node_order(pgdat, order);
    pr_info("Fallback order for Node %d: ", pgdat->node_id);
    for (unsigned i = 0; i < n; i++) pr_cont("%d ", order[i]);
    pr_cont("\n");
  }
  pr_info("Built %u zonelists, mobility grouping %s.  Total pages: %lu\n", kernel_mem.nr_online_nodes,
          kernel_mem.page_group_by_mobility_disabled ? "off" : "on", kernel_mem.vm_total_pages);
  if (int err = slab_allocator_init(&kernel_slab, kernel_mem, slab_debug_flags, slab_secret_seed()))
    panic("cannot set up the slab allocator (kmalloc caches): error %d", err);
  system_slab = &kernel_slab;
  if (slab_debug_flags)
    pr_info("slab_debug: %s%s%s on every cache\n", slab_debug_flags & SLAB_RED_ZONE ? "red zones" : "",
            slab_debug_flags == SLAB_DEBUG_FLAGS ? " and " : "", slab_debug_flags & SLAB_POISON ? "poison" : "");
  // The vmalloc range's top-level entries live in kernel_page_table, the one
  // table every hart runs on, so a mapping made here is seen by all of them;
  // its lower tables come from the page allocator (vmalloc_init's pt_ops).
  if (int err = vmalloc_init(&kernel_vmalloc, kernel_mem, kernel_slab, &kernel_page_table, VMALLOC_START_ADDR,
                             VMALLOC_END_ADDR))
    panic("cannot set up vmalloc over [%#lx-%#lx): error %d", VMALLOC_START_ADDR, VMALLOC_END_ADDR, err);
  kernel_vmalloc.symbolize = vmalloc_symbolize;
  system_vmalloc = &kernel_vmalloc;
  kernel_mem.check_calls = mm_check_enabled;
}

static void print_memory_summary() {
  const memblock &mb = boot_memblock;
  u64 total = memblock_phys_mem_size(mb);
  u64 available = u64(kernel_mem.totalram_pages) << PAGE_SHIFT;
  pr_info("Memory: %luK/%luK available (%luK kernel image, %luK reserved)\n", available >> 10,
          total >> 10, (kaddr(_end) - kaddr(_start_image)) >> 10, (total - available) >> 10);
  pr_info("min_free_kbytes %d, %lu pages in the page allocator\n", kernel_mem.min_free_kbytes,
          kernel_mem.totalram_pages);
}

__noreturn static void rest_init();

extern "C" __noreturn void kernel_main(unsigned long hartid, phys_addr_t dtb_pa) {
  cpu_areas[0].hartid = hartid;  // CPU 0 is the boot hart (tp points at its area)
  run_global_constructors();
  early_console_init();
  boot_hartid = hartid;
  boot_dtb_pa = dtb_pa;
  pr_notice("riscv-mm kernel " KERNEL_VERSION " (riscv64, Sv39), booting on hart %lu\n", hartid);
  long spec = sbi::spec_version();
  pr_info("SBI specification v%ld.%ld, implementation %ld version %#lx\n", (spec >> 24) & 0x7f,
          spec & 0xffffff, sbi::impl_id(), sbi::impl_version());

  parse_device_tree(dtb_pa);
  smp_setup_cpu_ids(hartid);
  // Until paging_init, the identity mapping reaches the exit device too.
  if (boot_params.poweroff.present)
    poweroff_set_device(reinterpret_cast<volatile u32 *>(boot_params.poweroff.base + boot_params.poweroff.offset),
                        boot_params.poweroff.value, boot_params.sifive_test);
  parse_command_line();
  boot_info_print(boot_params);
  setup_memblock(dtb_pa);
  copy_device_tree(dtb_pa);
  paging_init(boot_memblock, boot_params);
  setup_devices();
  // Everything that needs memblock is done: the page allocator owns memory now.
  mm_init();
  // Off boot_stack, whose neighbours in the image are mapped: from here on
  // an overflow of CPU 0's stack faults in a guard page, as any CPU's.
  switch_boot_cpu_stack(rest_init);
}

// The rest of the boot, on CPU 0's vmalloc stack (Linux's rest_init is the
// part of start_kernel that becomes the idle task).
__noreturn static void rest_init() {
  print_vm_layout();
  print_memory_summary();
  smp_init();
  fault_inject_apply();
  count_all_pageblocks(boot_end_pageblocks);
  for_each_online_pgdat(kernel_mem, pgdat) for_each_zone_of(pgdat, z) boot_end_pages_in_use +=
      zone_page_state_snapshot(z, NR_ZONE_ALLOCATED) + zone_page_state_snapshot(z, NR_PCP_PAGES);

  if (ktest_requested) {
    int failed = ktest_run(ktest_filter);
    machine_power_off(failed == 0 ? POWEROFF_OK : POWEROFF_TEST_FAILED);
  }
  monitor_run();
}
