// The monitor commands of the boot layer. Subsystems add their own next to
// their code with MONITOR_COMMAND.
#include <asm/mmu.h>
#include <asm/sections.h>
#include <asm/traps.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/monitor.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/poweroff.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/vmalloc.h"

static int cmd_poweroff(int argc, char **argv) {
  u64 status = 0;
  if (argc > 1 && (parse_u64(argv[1], &status) || status > 0xffff)) {
    printk("poweroff: status must be a number from 0 to 65535\n");
    return 1;
  }
  printk("Power down.\n");
  machine_power_off(int(status));
}
MONITOR_COMMAND(poweroff_cmd, "poweroff", "[status]", "power the machine off (QEMU exits with status)", cmd_poweroff);

static int cmd_dmesg(int, char **) {
  static char buf[16384];
  size_t n = log_buf_copy(buf, sizeof(buf));
  // The console already shows new messages; print the saved text raw.
  for (size_t i = 0; i < n; i += 512) printk(KERN_CONT "%.*s", int(n - i < 512 ? n - i : 512), buf + i);
  return 0;
}
MONITOR_COMMAND(dmesg_cmd, "dmesg", "", "print the kernel log buffer", cmd_dmesg);

static int cmd_bootinfo(int, char **) {
  boot_info_print(boot_params);
  return 0;
}
MONITOR_COMMAND(bootinfo_cmd, "bootinfo", "", "what the device tree described", cmd_bootinfo);

static int cmd_memblock(int, char **) {
  memblock_dump(boot_memblock);
  return 0;
}
MONITOR_COMMAND(memblock_cmd, "memblock", "", "memblock's memory and reserved tables", cmd_memblock);

static int cmd_layout(int, char **) {
  print_vm_layout();
  return 0;
}
MONITOR_COMMAND(layout_cmd, "layout", "", "the virtual memory layout", cmd_layout);

static int cmd_ptdump(int, char **) {
  ptdump_kernel();
  return 0;
}
MONITOR_COMMAND(ptdump_cmd, "ptdump", "", "every mapping of the kernel page table", cmd_ptdump);

static int cmd_ktest(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "list") == 0) {
    ktest_list();
    return 0;
  }
  return ktest_run(argc > 1 ? argv[1] : nullptr) == 0 ? 0 : 1;
}
MONITOR_COMMAND(ktest_cmd, "ktest", "[list|suite,...]", "run in-kernel test suites (KTAP output)", cmd_ktest);

static int cmd_peek(int argc, char **argv) {
  u64 addr, val;
  if (argc != 2 || parse_u64(argv[1], &addr)) {
    printk("usage: peek <address>   (hex with 0x, or decimal)\n");
    return 1;
  }
  char where[CLASSIFY_ADDRESS_LEN];
  classify_address(addr, where, sizeof(where));
  if (probe_read_u64(reinterpret_cast<const void *>(addr), &val)) {
    printk("%016lx: not readable (%s, %s)\n", addr, scause_name(this_cpu_probe_fault().cause), where);
    return 1;
  }
  printk("%016lx: %016lx  (%s)\n", addr, val, where);
  return 0;
}
MONITOR_COMMAND(peek_cmd, "peek", "<address>", "read 8 bytes, safely (a fault is reported, not fatal)", cmd_peek);

#define FAULT_KINDS "null|user|wx|exec|vmalloc-guard|vmalloc-free|vmalloc-migrating|stack [CPU]|stack-edge|bug|panic"

static const char fault_rodata_target[8] = "rodata";
static u32 fault_data_insn = 0x00008067;  // `ret`, in writable data

// Runs off the end of a two-page vmalloc area into its guard page: the
// report must name the area and this function as its owner (not inlined,
// so that the owner is this function rather than cmd_fault).
static __attribute__((noinline)) int fault_vmalloc_guard() {
  auto *p = static_cast<volatile u8 *>(vmalloc(2 * PAGE_SIZE));
  if (!p) {
    printk("fault: vmalloc(2 pages) failed\n");
    return 1;
  }
  p[0] = 1;  // the area itself is mapped and writable
  printk("reading the guard page after the vmalloc area at %p...\n", p);
  // Reached only if the read did not fault; it also keeps the read out of
  // the epilogue, where the frame pointer the backtrace follows is gone.
  printk("fault: read %#x from the guard page: it is mapped!\n", p[2 * PAGE_SIZE]);
  return 1;
}

// A use after vfree: the range is unmapped and, after the purge, back in
// the free tree, so the report finds no area there. Without the purge the
// read might still go through this hart's cached translation to the freed
// frame (the lazy purge's rule, as in Linux: only a use after free can), so
// the demonstration forces it with vm_unmap_aliases.
static __attribute__((noinline)) int fault_vmalloc_free() {
  auto *p = static_cast<volatile u8 *>(vmalloc(PAGE_SIZE));
  if (!p) {
    printk("fault: vmalloc(1 page) failed\n");
    return 1;
  }
  p[0] = 1;
  vfree(const_cast<u8 *>(p));
  vm_unmap_aliases();
  printk("reading %p after vfree...\n", p);
  printk("fault: read %#x after vfree: the area is still mapped!\n", p[0]);
  return 1;
}

// A touch of a movable page while this very CPU has it under migration
// (what an interrupt handler touching movable memory would do): the entry
// is put in place as vmalloc_migrate_page would, and the read must die with
// the fault handler's report, not wait for itself forever.
static __attribute__((noinline)) int fault_vmalloc_migrating() {
  vmalloc_system &vs = *system_vmalloc;
  auto *p = static_cast<volatile u8 *>(vmalloc_movable(vs, PAGE_SIZE));
  if (!p) {
    printk("fault: vmalloc_movable(1 page) failed\n");
    return 1;
  }
  p[0] = 1;
  const uintptr_t va = reinterpret_cast<uintptr_t>(p);
  const phys_addr_t pa = page_to_phys(*vs.ms, vmalloc_to_page(vs, const_cast<u8 *>(p)));  // takes pt_lock
  {
    spin_lock_guard g(vs.pt_lock);
    pte_t *slot = pgtable_leaf_slot(*vs.pt, va);
    __atomic_store_n(slot, make_migration_entry(pa, smp_processor_id()), __ATOMIC_RELEASE);
    vs.migrating++;
  }
  local_flush_tlb_range(va, PAGE_SIZE);
  printk("reading %p while this CPU migrates it...\n", p);
  printk("fault: read %#x through a migration entry!\n", p[0]);
  return 1;
}

// Deep enough to be unbounded for a 16 KiB stack; volatile, so that the
// compiler neither sees an endless recursion nor bounds the depth itself.
static volatile unsigned long fault_stack_max_depth = ~0ul;

// Recurses with a frame of more than 1 KiB, each one written from its top
// down, until the guard page below this CPU's stack stops it: the trap
// lands with sp in the guard page and is reported from the overflow stack.
// The frame is smaller than a page, so the first write below the stack is in
// the guard page. The addition after the call keeps it from being a tail call.
static __attribute__((noinline)) unsigned long fault_stack_recurse(unsigned long depth) {
  volatile u8 frame[1024];
  for (size_t i = sizeof(frame); i-- > 0;) frame[i] = u8(depth);
  if (depth >= fault_stack_max_depth) return frame[0];
  return fault_stack_recurse(depth + 1) + frame[depth % sizeof(frame)];
}

static void fault_stack_here() {
  const percpu_area &me = this_cpu_area();
  printk("recursing on CPU%u's stack [%016lx-%016lx)...\n", me.cpu, reinterpret_cast<uintptr_t>(me.stack),
         me.stack_top);
  printk("fault: the recursion ended at depth %lu: no guard page stopped it!\n", fault_stack_recurse(0));
}

// A trap that arrives with less room above the stack's base than its frame
// needs (an interrupt near the bottom would): an ebreak with sp 64 bytes
// above the base. trap_entry must not push its frame into the guard page;
// the report is the overflow's, for the ebreak itself.
static __attribute__((noinline)) int fault_stack_edge() {
  const percpu_area &me = this_cpu_area();
  const uintptr_t sp = reinterpret_cast<uintptr_t>(me.stack) + 64;
  printk("ebreak with sp %016lx, 64 bytes above CPU%u's stack base...\n", sp, me.cpu);
  asm volatile("mv t1, sp\n\tmv sp, %0\n\tebreak\n\tmv sp, t1" : : "r"(sp) : "t1", "memory");
  printk("fault: the ebreak returned!\n");
  return 1;
}

static void fault_stack_work(work_struct *) { fault_stack_here(); }

// On this CPU, or on another (from its idle loop, as queued work).
static int fault_stack(const char *cpu_arg) {
  u64 cpu = smp_processor_id();
  if (cpu_arg && (parse_u64(cpu_arg, &cpu) || cpu >= NR_CPUS || !cpu_online(unsigned(cpu)))) {
    printk("fault: stack: \"%s\" is not an online CPU\n", cpu_arg);
    return 1;
  }
  if (cpu == smp_processor_id()) {
    fault_stack_here();
    return 1;
  }
  static work_struct w = {nullptr, fault_stack_work, WORK_IDLE};
  if (!queue_work_on(unsigned(cpu), &w)) {
    printk("fault: stack: cannot queue work on CPU%lu\n", static_cast<unsigned long>(cpu));
    return 1;
  }
  flush_work(&w);
  return 1;
}

static int cmd_fault(int argc, char **argv) {
  const char *kind = argc > 1 ? argv[1] : "";
  if (strcmp(kind, "null") == 0) {
    printk("dereferencing NULL...\n");
    return *static_cast<volatile int *>(nullptr);
  }
  if (strcmp(kind, "user") == 0) {
    printk("reading the user half at 0x10000...\n");
    return *reinterpret_cast<volatile int *>(0x10000ul);
  }
  if (strcmp(kind, "wx") == 0) {
    printk("writing to kernel rodata...\n");
    *const_cast<volatile char *>(&fault_rodata_target[0]) = 'X';
    return 0;
  }
  if (strcmp(kind, "exec") == 0) {
    printk("executing kernel data...\n");
    reinterpret_cast<void (*)()>(&fault_data_insn)();
    return 0;
  }
  if (strcmp(kind, "vmalloc-guard") == 0) return fault_vmalloc_guard();
  if (strcmp(kind, "vmalloc-free") == 0) return fault_vmalloc_free();
  if (strcmp(kind, "vmalloc-migrating") == 0) return fault_vmalloc_migrating();
  if (strcmp(kind, "stack") == 0) return fault_stack(argc > 2 ? argv[2] : nullptr);
  if (strcmp(kind, "stack-edge") == 0) return fault_stack_edge();
  if (strcmp(kind, "bug") == 0) BUG();
  if (strcmp(kind, "panic") == 0) panic("requested from the monitor");
  printk("usage: fault " FAULT_KINDS "\n");
  return 1;
}
// The kinds are listed in the help text: the usage column of `help` is too
// narrow for all of them.
MONITOR_COMMAND(fault_cmd, "fault", "<kind>", "crash on purpose, to see the report; kind: " FAULT_KINDS, cmd_fault);

extern "C" const kernel_param __kernel_params_start[], __kernel_params_end[];

static int cmd_params(int, char **) {
  for (const kernel_param *p = __kernel_params_start; p < __kernel_params_end; p++)
    printk("  %-14s %s\n", p->name, p->help);
  return 0;
}
MONITOR_COMMAND(params_cmd, "params", "", "the kernel command line parameters", cmd_params);
