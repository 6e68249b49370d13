// Host implementation of the arch interface (see arch/arch.h): physical memory
// is a sparse window of this process's address space (arch/host/physmem.h),
// translations are walked in software, and "CPUs" are threads that set their
// number with host_set_cpu().
#pragma once

#include "kernel/types.h"
#include <asm/memlayout.h>
#include <asm/sv39.h>

#include "arch/host/tlb.h"

// HOST_ASAN: built with AddressSanitizer (GCC says so with a macro, clang
// with a feature test).
#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif
#ifdef HOST_ASAN
#include <sanitizer/asan_interface.h>
#endif

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
  static void local_flush_tlb_all() {
    host::tlb_flushes++;
    host_tlb_flush(0, 0);
  }
  static void local_flush_tlb_range(uintptr_t start, size_t size) {
    host::tlb_flushes++;
    host_tlb_flush(start, size);
  }
  // The simulated TLB (arch/host/tlb.h) is shared by every simulated CPU.
  static void flush_tlb_kernel_range(uintptr_t start, size_t size) {
    host::tlb_flushes++;
    host_tlb_flush(start, size);
  }
  static unsigned smp_processor_id() { return host::current_cpu; }
  static unsigned long local_irq_save() { return 0; }
  static void local_irq_restore(unsigned long) {}
  static void cpu_relax() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  // Under AddressSanitizer an access to poisoned memory is reported as
  // use-after-poison, which is how host tests catch a use of a free page.
  static void kasan_poison(const void *addr, size_t size) {
#ifdef HOST_ASAN
    ASAN_POISON_MEMORY_REGION(addr, size);
#else
    (void)addr, (void)size;
#endif
  }
  static void kasan_unpoison(const void *addr, size_t size) {
#ifdef HOST_ASAN
    ASAN_UNPOISON_MEMORY_REGION(addr, size);
#else
    (void)addr, (void)size;
#endif
  }
  static constexpr uintptr_t VMALLOC_START = VMALLOC_START_ADDR;
  static constexpr uintptr_t VMALLOC_END = VMALLOC_END_ADDR;
};

}  // namespace arch
