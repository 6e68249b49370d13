// Linker-script symbols that bound the kernel image's parts (arch/riscv/kernel.ld).
#pragma once

#include "kernel/types.h"

extern "C" {
extern char _start_image[], _stext[], _etext[], _srodata[], _erodata[];
extern char _sdata[], _edata[], __bss_start[], __bss_end[], _end[];
extern char boot_stack[], boot_stack_top[];
}

// Physical address the firmware loaded the image at (set by entry.S).
extern phys_addr_t kernel_load_pa;

inline uintptr_t kaddr(const void *p) { return reinterpret_cast<uintptr_t>(p); }
inline bool in_kernel_text(uintptr_t a) { return a >= kaddr(_stext) && a < kaddr(_etext); }
inline bool in_kernel_image(uintptr_t a) { return a >= kaddr(_start_image) && a < kaddr(_end); }
