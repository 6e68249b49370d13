// The arch interface: everything mm/ needs from the machine, and nothing more.
//
//   phys_to_virt / virt_to_phys   the direct map (and, for virt_to_phys, the
//                                 kernel image mapping)
//   virt_addr_valid               whether an address lies in the direct map
//   local_flush_tlb_all / _range  invalidate this CPU's translations
//   flush_tlb_kernel_range        invalidate a kernel range on every CPU
//   smp_processor_id              dense number of the running CPU
//   local_irq_save / _restore     mask interrupts on this CPU
//   local_lock_irqsave / local_unlock_irqrestore
//                                 a section in which this CPU changes state
//                                 that only it may change (its per-CPU
//                                 slabs); never held across a wait for
//                                 another CPU. Kernel: interrupts masked.
//   stop_machine(fn, arg)         runs fn on this CPU while every other CPU
//                                 is held outside such sections, so fn may
//                                 change their per-CPU state. Kernel: the
//                                 others park in an IPI handler.
//   cpu_relax                     spin-wait hint
//   VMALLOC_START / VMALLOC_END   the virtual range mm/ may map on demand
//   kasan_poison / _unpoison      mark memory unusable / usable again for a
//                                 checker of memory accesses, if the target
//                                 has one (mm/kasan.h); no-ops otherwise
//
// Each target supplies `struct arch::machine` in <asm/arch.h>, found through
// its include path (arch/riscv/include or arch/host/include); the concept
// below checks at compile time that it has exactly this shape. The Sv39 page
// table entry format lives in <asm/sv39.h>, which the host shares because it
// simulates the same MMU in software.
#pragma once

#include "kernel/types.h"
#include <asm/arch.h>

namespace arch {

template <class M>
concept machine_interface = requires(phys_addr_t pa, const void *va, uintptr_t addr,
                                     size_t size, unsigned long flags, void (*fn)(void *), void *info) {
  { M::phys_to_virt(pa) } -> same_as<void *>;
  { M::virt_to_phys(va) } -> same_as<phys_addr_t>;
  { M::virt_addr_valid(va) } -> same_as<bool>;
  { M::local_flush_tlb_all() } -> same_as<void>;
  { M::local_flush_tlb_range(addr, size) } -> same_as<void>;
  { M::flush_tlb_kernel_range(addr, size) } -> same_as<void>;
  { M::smp_processor_id() } -> same_as<unsigned>;
  { M::local_irq_save() } -> same_as<unsigned long>;
  { M::local_irq_restore(flags) } -> same_as<void>;
  { M::local_lock_irqsave() } -> same_as<unsigned long>;
  { M::local_unlock_irqrestore(flags) } -> same_as<void>;
  { M::stop_machine(fn, info) } -> same_as<void>;
  { M::cpu_relax() } -> same_as<void>;
  { M::kasan_poison(va, size) } -> same_as<void>;
  { M::kasan_unpoison(va, size) } -> same_as<void>;
  { M::VMALLOC_START } -> same_as<const uintptr_t &>;
  { M::VMALLOC_END } -> same_as<const uintptr_t &>;
};

static_assert(machine_interface<machine>, "<asm/arch.h> does not implement the arch interface");

}  // namespace arch

inline void *phys_to_virt(phys_addr_t pa) { return arch::machine::phys_to_virt(pa); }
inline phys_addr_t virt_to_phys(const void *va) { return arch::machine::virt_to_phys(va); }
// Only the direct-map half: whether the page behind it exists is pfn_valid's question.
inline bool virt_addr_valid(const void *va) { return arch::machine::virt_addr_valid(va); }
inline void local_flush_tlb_all() { arch::machine::local_flush_tlb_all(); }
inline void local_flush_tlb_range(uintptr_t start, size_t size) {
  arch::machine::local_flush_tlb_range(start, size);
}
// Every CPU shares the kernel's table: unmapping kernel memory flushes them all.
inline void flush_tlb_kernel_range(uintptr_t start, size_t size) {
  arch::machine::flush_tlb_kernel_range(start, size);
}
inline unsigned smp_processor_id() { return arch::machine::smp_processor_id(); }
inline unsigned long local_irq_save() { return arch::machine::local_irq_save(); }
inline void local_irq_restore(unsigned long flags) { arch::machine::local_irq_restore(flags); }
inline unsigned long local_lock_irqsave() { return arch::machine::local_lock_irqsave(); }
inline void local_unlock_irqrestore(unsigned long flags) { arch::machine::local_unlock_irqrestore(flags); }
inline void stop_machine(void (*fn)(void *), void *info) { arch::machine::stop_machine(fn, info); }
inline void cpu_relax() { arch::machine::cpu_relax(); }
inline void kasan_poison(const void *addr, size_t size) { arch::machine::kasan_poison(addr, size); }
inline void kasan_unpoison(const void *addr, size_t size) { arch::machine::kasan_unpoison(addr, size); }
