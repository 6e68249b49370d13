// RISC-V (S-mode, Sv39) implementation of the arch interface (see arch/arch.h).
#pragma once

#include "kernel/types.h"
#include <asm/memlayout.h>
#include <asm/sv39.h>

// Offsets of the two kernel mappings: the direct map (0 while the boot page
// table still maps RAM one to one) and the kernel image.
extern uintptr_t va_pa_offset;
extern uintptr_t kernel_va_pa_offset;
// arch/riscv/smp.cpp: this hart's flush, then every other online hart's.
void riscv_flush_tlb_kernel_range(uintptr_t start, size_t size);
extern unsigned long nr_remote_tlb_flushes;  // shootdowns sent to other harts
// kernel/smp.cpp: fn(info) with every other online hart parked in its IPI
// handler (so outside any section with interrupts masked).
void riscv_stop_machine(void (*fn)(void *), void *info);

namespace arch {

struct machine {
  static void *phys_to_virt(phys_addr_t pa) { return reinterpret_cast<void *>(pa + va_pa_offset); }
  static phys_addr_t virt_to_phys(const void *va) {
    uintptr_t a = reinterpret_cast<uintptr_t>(va);
    if (a >= KERNEL_VIRT_BASE) return a - kernel_va_pa_offset;
    return a - va_pa_offset;
  }
  static bool virt_addr_valid(const void *va) {
    uintptr_t a = reinterpret_cast<uintptr_t>(va);
    return a >= PAGE_OFFSET && a < DIRECT_MAP_END;
  }
  static void local_flush_tlb_all() { asm volatile("sfence.vma" ::: "memory"); }
  static void local_flush_tlb_range(uintptr_t start, size_t size) {
    // Past a few dozen pages one full flush is cheaper than many single ones.
    if (size > 64 * PAGE_SIZE) return local_flush_tlb_all();
    for (uintptr_t a = start & PAGE_MASK; a < start + size; a += PAGE_SIZE)
      asm volatile("sfence.vma %0" ::"r"(a) : "memory");
  }
  static void flush_tlb_kernel_range(uintptr_t start, size_t size) { riscv_flush_tlb_kernel_range(start, size); }
  static unsigned smp_processor_id() {
    // tp points at this hart's per-CPU area, whose first word is its number;
    // entry.S sets it before any C code runs.
    unsigned cpu;
    asm volatile("lw %0, 0(tp)" : "=r"(cpu));
    return cpu;
  }
  static unsigned long local_irq_save() {
    unsigned long flags;
    asm volatile("csrrc %0, sstatus, %1" : "=r"(flags) : "r"(2ul) : "memory");
    return flags & 2ul;
  }
  static void local_irq_restore(unsigned long flags) {
    asm volatile("csrs sstatus, %0" ::"r"(flags & 2ul) : "memory");
  }
  // A hart's own per-CPU state is safe from itself with interrupts masked,
  // and from others because they reach it only through stop_machine, whose
  // IPI waits for the mask to lift.
  static unsigned long local_lock_irqsave() { return local_irq_save(); }
  static void local_unlock_irqrestore(unsigned long flags) { local_irq_restore(flags); }
  static void stop_machine(void (*fn)(void *), void *info) { riscv_stop_machine(fn, info); }
  static void cpu_relax() { asm volatile(".insn i 0x0f, 0, x0, x0, 0x010"); /* pause */ }
  // No shadow memory in the kernel: nothing checks accesses to free pages.
  static void kasan_poison(const void *, size_t) {}
  static void kasan_unpoison(const void *, size_t) {}
  static constexpr uintptr_t VMALLOC_START = VMALLOC_START_ADDR;
  static constexpr uintptr_t VMALLOC_END = VMALLOC_END_ADDR;
};

}  // namespace arch
