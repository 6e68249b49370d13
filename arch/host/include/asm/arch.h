// Host implementation of the arch interface (see arch/arch.h): physical memory
// is a sparse window of this process's address space (arch/host/physmem.h),
// translations are walked in software, and "CPUs" are threads that set their
// number with host_set_cpu().
#pragma once

#include "kernel/types.h"
#include <asm/memlayout.h>
#include <asm/sv39.h>

// Physical addresses below 32 GiB: enough for every layout, and within what
// valgrind lets a process reserve (so callgrind can profile host binaries).
constexpr u64 HOST_PHYS_WINDOW = u64(32) << 30;

namespace host {
extern uintptr_t phys_window;  // host address of physical address 0
// constinit: no lazy-initialisation check on every smp_processor_id().
extern constinit thread_local unsigned current_cpu;
extern thread_local unsigned long tlb_flushes;  // counted, so tests can see them
}  // namespace host

namespace arch {

struct machine {
  static void *phys_to_virt(phys_addr_t pa) { return reinterpret_cast<void *>(host::phys_window + pa); }
  static phys_addr_t virt_to_phys(const void *va) {
    return reinterpret_cast<uintptr_t>(va) - host::phys_window;
  }
  static bool virt_addr_valid(const void *va) {
    return reinterpret_cast<uintptr_t>(va) - host::phys_window < HOST_PHYS_WINDOW;
  }
  static void local_flush_tlb_all() { host::tlb_flushes++; }
  static void local_flush_tlb_range(uintptr_t, size_t) { host::tlb_flushes++; }
  // The host's MMU is the software walker, which caches nothing.
  static void flush_tlb_kernel_range(uintptr_t, size_t) { host::tlb_flushes++; }
  static unsigned smp_processor_id() { return host::current_cpu; }
  static unsigned long local_irq_save() { return 0; }
  static void local_irq_restore(unsigned long) {}
  static void cpu_relax() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  static constexpr uintptr_t VMALLOC_START = VMALLOC_START_ADDR;
  static constexpr uintptr_t VMALLOC_END = VMALLOC_END_ADDR;
};

}  // namespace arch
