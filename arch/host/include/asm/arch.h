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

// What a simulated CPU tells stop_machine (arch/host/cpu.cpp). A thread
// cannot be interrupted, so the kernel's "interrupts masked" becomes a count
// the CPU's own thread keeps (busy), and the IPI that parks it becomes a
// flag it polls on entry (held). The stopper's membarrier makes the owner's
// plain store of busy visible before the stopper reads it, so the owner's
// entry needs no fence of its own.
struct alignas(64) cpu_hold {
  unsigned busy;  // depth of local_lock_irqsave sections; written by the CPU's thread only
  unsigned held;  // set while a stopper holds this CPU
};
constexpr unsigned HOST_NR_CPUS = 8;  // kernel/cpumask.h's NR_CPUS, checked there
extern cpu_hold cpu_holds[HOST_NR_CPUS];
extern bool local_lock_needs_fence;  // no membarrier on this host: entry fences instead
void local_lock_wait(cpu_hold &h);   // held on entry: wait until the stopper is done
// A full barrier. ThreadSanitizer does not model fences: an atomic
// read-modify-write of a word nobody reads orders the same under it.
inline void full_fence() {
#if defined(__SANITIZE_THREAD__)
  static unsigned fence_word;
  __atomic_fetch_add(&fence_word, 0u, __ATOMIC_SEQ_CST);
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
void stop_machine(void (*fn)(void *), void *info);
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
    host_tlb_shootdown(start, size);
  }
  static unsigned smp_processor_id() { return host::current_cpu; }
  static unsigned long local_irq_save() { return 0; }
  static void local_irq_restore(unsigned long) {}
  static unsigned long local_lock_irqsave() {
    host::cpu_hold &h = host::cpu_holds[host::current_cpu & (host::HOST_NR_CPUS - 1)];
    unsigned depth = __atomic_load_n(&h.busy, __ATOMIC_RELAXED);
    __atomic_store_n(&h.busy, depth + 1, __ATOMIC_RELAXED);
    if (depth == 0) {
      // Keeps the compiler from moving the check above the store; the
      // processor's order is the stopper's membarrier's business.
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      if (__builtin_expect(host::local_lock_needs_fence, 0)) host::full_fence();
      if (__builtin_expect(__atomic_load_n(&h.held, __ATOMIC_ACQUIRE), 0)) host::local_lock_wait(h);
    }
    return 0;
  }
  static void local_unlock_irqrestore(unsigned long) {
    host::cpu_hold &h = host::cpu_holds[host::current_cpu & (host::HOST_NR_CPUS - 1)];
    __atomic_store_n(&h.busy, __atomic_load_n(&h.busy, __ATOMIC_RELAXED) - 1, __ATOMIC_RELEASE);
  }
  static void stop_machine(void (*fn)(void *), void *info) { host::stop_machine(fn, info); }
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
