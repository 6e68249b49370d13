// Trap dispatch: fixups for probed accesses, otherwise a fatal-fault report.
#include <asm/csr.h>
#include <asm/memlayout.h>
#include <asm/sections.h>
#include <asm/traps.h>

#include "kernel/kallsyms.h"
#include "kernel/ktime.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "mm/migrate.h"
#include "mm/pgtable.h"
#include "mm/vmalloc.h"
#include "arch/arch.h"
#include <asm/mmu.h>
#include <asm/stacktrace.h>

probe_fault probe_faults[NR_CPUS];
unsigned long migration_fault_waits[NR_CPUS];

extern "C" {
struct exception_table_entry {
  uintptr_t insn, fixup;
};
extern const exception_table_entry __ex_table_start[], __ex_table_end[];
extern char probe_exec_ret[], probe_exec_fault[];
}

const char *scause_name(u64 cause) {
  if (cause & CAUSE_INTERRUPT) {
    switch (cause & ~CAUSE_INTERRUPT) {
      case IRQ_S_SOFT: return "supervisor software interrupt";
      case IRQ_S_TIMER: return "supervisor timer interrupt";
      case IRQ_S_EXT: return "supervisor external interrupt";
      default: return "unknown interrupt";
    }
  }
  switch (cause) {
    case EXC_INST_MISALIGNED: return "instruction address misaligned";
    case EXC_INST_ACCESS: return "instruction access fault";
    case EXC_ILLEGAL_INST: return "illegal instruction";
    case EXC_BREAKPOINT: return "breakpoint";
    case EXC_LOAD_MISALIGNED: return "load address misaligned";
    case EXC_LOAD_ACCESS: return "load access fault";
    case EXC_STORE_MISALIGNED: return "store/AMO address misaligned";
    case EXC_STORE_ACCESS: return "store/AMO access fault";
    case EXC_ECALL_U: return "environment call from U-mode";
    case EXC_ECALL_S: return "environment call from S-mode";
    case EXC_INST_PAGE_FAULT: return "instruction page fault";
    case EXC_LOAD_PAGE_FAULT: return "load page fault";
    case EXC_STORE_PAGE_FAULT: return "store/AMO page fault";
    default: return "unknown exception";
  }
}

static bool is_vmalloc_range(uintptr_t a) { return a >= VMALLOC_START_ADDR && a < VMALLOC_END_ADDR; }

void classify_address(uintptr_t a, char *buf, size_t size) {
  // In the vmalloc range, which area and whose: an overrun into a guard page
  // or a use after vfree is traced to the caller the answer names.
  if (is_vmalloc_range(a) && system_vmalloc) {
    vmalloc_describe(*system_vmalloc, reinterpret_cast<const void *>(a), buf, size);
    return;
  }
  const char *what;
  if (a < PAGE_SIZE) what = "NULL page";
  else if (a < USER_END) what = "user half (nothing is mapped there)";
  else if (!sv39_canonical(a)) what = "non-canonical address";
  else if (a >= kaddr(_stext) && a < kaddr(_etext)) what = "kernel text";
  else if (a >= kaddr(_srodata) && a < kaddr(_erodata)) what = "kernel rodata";
  else if (a >= kaddr(_sdata) && a < kaddr(_edata)) what = "kernel data";
  else if (a >= kaddr(__bss_start) && a < kaddr(__bss_end)) what = "kernel bss";
  else if (a >= KERNEL_VIRT_BASE) what = "kernel image area, outside the image";
  else if (a >= MODULES_START && a < MODULES_END) what = "modules area (unused)";
  else if (a >= PAGE_OFFSET && a < DIRECT_MAP_END)
    what = direct_map_covers(a) ? "direct map (RAM)" : "direct map, beyond RAM";
  else if (is_vmalloc_range(a)) what = "vmalloc area";  // before vmalloc is set up
  else if (a >= VMEMMAP_START && a < VMEMMAP_END) what = "vmemmap";
  else if (a >= FIXADDR_START && a < FIXADDR_END) what = "fixmap (early ioremap)";
  else what = "unused part of the kernel half";
  scnprintf(buf, size, "%s", what);
}

static const exception_table_entry *search_exception_table(uintptr_t epc) {
  for (const exception_table_entry *e = __ex_table_start; e < __ex_table_end; e++)
    if (e->insn == epc) return e;
  return nullptr;
}

static bool fixup_probe(pt_regs *regs) {
  if (const exception_table_entry *e = search_exception_table(regs->epc)) {
    regs->epc = e->fixup;
  } else if ((regs->cause == EXC_INST_PAGE_FAULT || regs->cause == EXC_INST_ACCESS) &&
             regs->ra == kaddr(probe_exec_ret)) {
    regs->epc = kaddr(probe_exec_fault);  // the probed jump itself faulted
  } else {
    return false;
  }
  probe_fault &f = this_cpu_probe_fault();
  f.cause = regs->cause;
  f.badaddr = regs->badaddr;
  f.count++;
  return true;
}

static bool is_page_fault(u64 cause) {
  return cause == EXC_INST_PAGE_FAULT || cause == EXC_LOAD_PAGE_FAULT ||
         cause == EXC_STORE_PAGE_FAULT || cause == EXC_INST_ACCESS ||
         cause == EXC_LOAD_ACCESS || cause == EXC_STORE_ACCESS;
}

// Whether a valid leaf lets the faulting access through (the A and D bits
// included: this kernel sets them on its leaves, and a leaf without them
// would fault again, so it must not count as a fault to retry).
static bool leaf_grants(pte_t pte, u64 cause) {
  if (!pte_leaf(pte) || !(pte & PTE_A)) return false;
  switch (cause) {
    case EXC_LOAD_PAGE_FAULT: return pte & PTE_R;
    case EXC_STORE_PAGE_FAULT: return (pte & PTE_W) && (pte & PTE_D);
    default: return pte & PTE_X;
  }
}

[[noreturn]] static void die_own_migration(const pt_regs *regs) {
  pr_alert("BUG: CPU%u touched a page this CPU is migrating, at address %016lx\n", smp_processor_id(),
           regs->badaddr);
  die(regs, "touched a page this CPU is migrating");
}

// A page fault on movable vmalloc memory whose frame is being migrated
// (mm/vmalloc_migrate.cpp): the level-0 entry of the kernel's table is a
// migration entry until the copy is done. Waits for it and returns true so
// that the instruction is retried. Only page faults in the vmalloc range
// get here, so every other trap pays two compares for it.
//
// This hart spins with interrupts masked. That cannot hold up the migrating
// CPU: its TLB shootdown (flush_tlb_kernel_range) is SBI remote sfence,
// carried out by M-mode IPIs that reach a hart whatever its S-mode
// interrupt state, and the rest of a migration is a copy and pt_lock, which
// no faulting access holds.
static bool handle_migration_fault(const pt_regs *regs) {
  const page_table &pt = *system_vmalloc->pt;
  const pte_t *slot = pgtable_leaf_slot(pt, regs->badaddr);
  if (!slot) return false;
  pte_t pte = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (is_migration_entry(pte)) {
    if (migration_entry_wait(pt, regs->badaddr)) {
      migration_fault_waits[smp_processor_id() & (NR_CPUS - 1)]++;
      return true;
    }
    // False: the entry is this CPU's own (a bug waiting would turn into a
    // hang), or the migration ended between our read and its own.
    pte = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (is_migration_entry(pte) && migration_entry_cpu(pte) == (smp_processor_id() & 0xff))
      die_own_migration(regs);
  }
  // The hart's walk saw the migration entry, and the new leaf was written
  // before we looked: retry once the stale (invalid) translation is gone.
  // A leaf that does not grant the access is a real fault.
  if (is_migration_entry(pte) || leaf_grants(pte, regs->cause)) {
    local_flush_tlb_range(regs->badaddr & PAGE_MASK, PAGE_SIZE);
    return true;
  }
  return false;
}

static bool is_vmalloc_page_fault(const pt_regs *regs) {
  return (regs->cause == EXC_LOAD_PAGE_FAULT || regs->cause == EXC_STORE_PAGE_FAULT ||
          regs->cause == EXC_INST_PAGE_FAULT) &&
         is_vmalloc_range(regs->badaddr) && system_vmalloc;
}

void riscv_software_interrupt();

extern "C" void handle_trap(pt_regs *regs) {
  if (regs->cause & CAUSE_INTERRUPT) {
    switch (regs->cause & ~CAUSE_INTERRUPT) {
      case IRQ_S_SOFT: riscv_software_interrupt(); return;
      case IRQ_S_TIMER: timer_interrupt(); return;
    }
    pr_warn("unexpected %s (scause %#lx)\n", scause_name(regs->cause), regs->cause);
    return;
  }
  // Before the fixups: a probed access to a page in migration waits and
  // succeeds like any other.
  if (is_vmalloc_page_fault(regs) && handle_migration_fault(regs)) return;
  if (fixup_probe(regs)) return;
  if (is_page_fault(regs->cause)) {
    // Linux's words for a bad kernel access to vmalloc space (x86's
    // page_fault_oops); die() then says which area the address belongs to.
    if (is_vmalloc_range(regs->badaddr))
      pr_alert("BUG: unable to handle page fault for address: %016lx\n", regs->badaddr);
    else if (regs->badaddr < PAGE_SIZE)
      pr_alert("Unable to handle kernel NULL pointer dereference at virtual address %016lx\n",
               regs->badaddr);
    else
      pr_alert("Unable to handle kernel paging request at virtual address %016lx\n",
               regs->badaddr);
  }
  die(regs, scause_name(regs->cause));
}

// ---- kernel stack overflow -----------------------------------------------------------

// Where trap_entry.S goes when sp has run into the guard page below this
// CPU's stack (Linux's per-CPU overflow_stack): the report must not touch
// the stack that overflowed.
alignas(16) u8 overflow_stack[NR_CPUS][OVERFLOW_STACK_SIZE];
static_assert(OVERFLOW_STACK_SIZE == 1ul << 12, "trap_entry.S hard-codes OVERFLOW_STACK_SHIFT");

// On the overflow stack, interrupts masked. What the report needs is read
// from regs and this CPU's area; nothing takes a lock but printk's, which
// oops_in_progress lets it take over (and which it re-enters, in shorter
// lines, if the overflow happened inside printk). Lines stay under 128
// characters for that case.
extern "C" __noreturn void handle_kernel_stack_overflow(pt_regs *regs) {
  const percpu_area &me = this_cpu_area();
  const uintptr_t base = reinterpret_cast<uintptr_t>(me.stack);
  const uintptr_t ovf = reinterpret_cast<uintptr_t>(overflow_stack[me.cpu & (NR_CPUS - 1)]);
  char sym[96];
  oops_in_progress = 1;
  smp_send_stop();
  pr_emerg("Insufficient stack space to handle exception!\n");
  pr_emerg("kernel stack overflow on CPU%u: stack [%016lx-%016lx), sp %016lx\n", me.cpu, base, me.stack_top,
           regs->sp);
  if (is_page_fault(regs->cause))
    pr_emerg("faulting address %016lx: %s\n", regs->badaddr,
             regs->badaddr >= base - PAGE_SIZE && regs->badaddr < base ? "the guard page below the stack"
                                                                        : "not the guard page");
  sprint_symbol(sym, sizeof(sym), regs->epc);
  pr_emerg("epc %016lx: %s (%s)\n", regs->epc, sym, scause_name(regs->cause));
  show_regs(regs);
  pr_alert("Call Trace:\n");
  print_backtrace(regs->epc, regs->s0);
  // How deep the report went (the array starts zeroed and only this uses
  // it): the margin OVERFLOW_STACK_SIZE leaves.
  const u8 *deepest = overflow_stack[me.cpu & (NR_CPUS - 1)];
  while (deepest < overflow_stack[me.cpu & (NR_CPUS - 1)] + OVERFLOW_STACK_SIZE && !*deepest) deepest++;
  pr_emerg("overflow stack: [%016lx-%016lx), %lu bytes used\n", ovf, ovf + OVERFLOW_STACK_SIZE,
           ovf + OVERFLOW_STACK_SIZE - reinterpret_cast<uintptr_t>(deepest));
  panic_end("Kernel stack overflow");
}

void show_regs(const pt_regs *r) {
  char sym[96];
  sprint_symbol(sym, sizeof(sym), r->epc);
  pr_alert("epc : %s\n", sym);
  sprint_symbol(sym, sizeof(sym), r->ra);
  pr_alert(" ra : %s\n", sym);
  pr_alert("epc : %016lx ra : %016lx sp : %016lx\n", r->epc, r->ra, r->sp);
  pr_alert(" gp : %016lx tp : %016lx t0 : %016lx\n", r->gp, r->tp, r->t0);
  pr_alert(" t1 : %016lx t2 : %016lx s0 : %016lx\n", r->t1, r->t2, r->s0);
  pr_alert(" s1 : %016lx a0 : %016lx a1 : %016lx\n", r->s1, r->a0, r->a1);
  pr_alert(" a2 : %016lx a3 : %016lx a4 : %016lx\n", r->a2, r->a3, r->a4);
  pr_alert(" a5 : %016lx a6 : %016lx a7 : %016lx\n", r->a5, r->a6, r->a7);
  pr_alert(" s2 : %016lx s3 : %016lx s4 : %016lx\n", r->s2, r->s3, r->s4);
  pr_alert(" s5 : %016lx s6 : %016lx s7 : %016lx\n", r->s5, r->s6, r->s7);
  pr_alert(" s8 : %016lx s9 : %016lx s10: %016lx\n", r->s8, r->s9, r->s10);
  pr_alert(" s11: %016lx t3 : %016lx t4 : %016lx\n", r->s11, r->t3, r->t4);
  pr_alert(" t5 : %016lx t6 : %016lx\n", r->t5, r->t6);
  pr_alert("status: %016lx badaddr: %016lx cause: %016lx\n", r->status, r->badaddr, r->cause);
}

void die(const pt_regs *regs, const char *what) {
  static int die_counter;
  char where[CLASSIFY_ADDRESS_LEN];
  oops_in_progress = 1;
  smp_send_stop();
  pr_alert("Oops - %s [#%d]\n", what, __atomic_add_fetch(&die_counter, 1, __ATOMIC_RELAXED));
  pr_alert("CPU: %u\n", smp_processor_id());
  show_regs(regs);
  pr_alert("scause: %lu (%s)\n", regs->cause, scause_name(regs->cause));
  if (is_page_fault(regs->cause) || regs->cause == EXC_LOAD_MISALIGNED ||
      regs->cause == EXC_STORE_MISALIGNED) {
    classify_address(regs->badaddr, where, sizeof(where));
    pr_alert("faulting address %016lx: %s\n", regs->badaddr, where);
  }
  classify_address(regs->epc, where, sizeof(where));
  pr_alert("epc %016lx: %s\n", regs->epc, where);
  pr_alert("Call Trace:\n");
  print_backtrace(regs->epc, regs->s0);
  panic_end("Fatal exception");
}
