// RISC-V side of SMP (kernel/smp.h): harts started through SBI HSM, IPIs
// through SBI IPI, both addressed by hart id.
#include <asm/csr.h>

#include "arch/arch.h"
#include "kernel/errno.h"
#include "kernel/ktime.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "sbi/sbi.h"

extern "C" char secondary_entry[];

constexpr u64 SIE_SSIE = 1ul << 1;  // supervisor software interrupt: IPIs
constexpr u64 SIE_STIE = 1ul << 5;  // supervisor timer interrupt
constexpr u64 SIP_SSIP = 1ul << 1;

// SBI addresses harts as (mask, base): bit i is hart base + i. Calls
// sbi_call(mask, base) once per run of the set's harts that fits one mask.
template <class SbiCall>
static void for_each_hart_mask(const cpumask &cpus, SbiCall sbi_call) {
  unsigned long base = 0, bits = 0;
  for_each_cpu(cpu, cpus) {
    unsigned long hart = cpu_areas[cpu].hartid;
    if (bits && (hart < base || hart - base >= 64)) {
      sbi_call(bits, base);
      bits = 0;
    }
    if (!bits) base = hart;
    bits |= 1ul << (hart - base);
  }
  if (bits) sbi_call(bits, base);
}

void arch_send_ipi_mask(const cpumask &mask) {
  for_each_hart_mask(mask, [](unsigned long bits, unsigned long base) { sbi::send_ipi(bits, base); });
}

unsigned long nr_remote_tlb_flushes;

// Every hart runs on kernel_page_table, so a kernel unmapping must leave no
// translation cached anywhere: this hart's sfence.vma, then SBI RFENCE for
// the other online harts, which returns once they have fenced. The kernel
// has a single address space, so no ASID is involved.
void riscv_flush_tlb_kernel_range(uintptr_t start, size_t size) {
  arch::machine::local_flush_tlb_range(start, size);
  cpumask others = cpumask_snapshot(cpu_online_mask);
  cpumask_clear_cpu(smp_processor_id(), others);
  if (!others.bits) return;
  __atomic_fetch_add(&nr_remote_tlb_flushes, 1, __ATOMIC_RELAXED);
  // Past the local flush's threshold one full flush is cheaper (size ~0 is "all").
  unsigned long len = size > 64 * PAGE_SIZE ? ~0ul : size;
  for_each_hart_mask(others, [&](unsigned long bits, unsigned long base) {
    if (long err = sbi::remote_sfence_vma(bits, base, start, len))
      panic("SBI remote_sfence_vma failed: %s; stale translations may remain", sbi::strerror(err));
  });
}

int arch_cpu_start(unsigned cpu) {
  const percpu_area &a = cpu_areas[cpu];
  long status = sbi::hart_get_status(a.hartid);
  if (status != sbi::HART_STOPPED) {
    pr_err("smp: hart %lu is not stopped (HSM status %ld: %s)\n", a.hartid, status,
           status < 0 ? sbi::strerror(status) : "in use");
    return -EBUSY;
  }
  long err = sbi::hart_start(a.hartid, virt_to_phys(secondary_entry), reinterpret_cast<unsigned long>(&a));
  if (err) {
    pr_err("smp: SBI hart_start(%lu) failed: %s\n", a.hartid, sbi::strerror(err));
    return -EINVAL;
  }
  return 0;
}

void arch_cpu_enable_interrupts() {
  csr_clear(sip, SIP_SSIP);
  csr_set(sie, SIE_SSIE | SIE_STIE);
  tick_start();
  csr_set(sstatus, SSTATUS_SIE);
}

void arch_cpu_idle() { asm volatile("wfi" ::: "memory"); }

// The IPI: acknowledged before the queue is read, so that a request pushed
// after the read raises it again.
void riscv_software_interrupt() {
  csr_clear(sip, SIP_SSIP);
  handle_IPI();
}
