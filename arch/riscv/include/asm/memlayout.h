// The Sv39 kernel's virtual address map (as Linux's vm-layout.rst for Sv39).
//
//   start               end                 size     what
//   0000000000000000    0000003fffffffff    256 GiB  user half (unmapped after boot)
//   ffffffc000000000    ffffffc4ffffffff     20 GiB  unused
//   ffffffc500000000    ffffffc5ffffffff      4 GiB  vmemmap (reserved for struct page)
//   ffffffc600000000    ffffffd5ffffffff     64 GiB  vmalloc / ioremap
//   ffffffd600000000    fffffff5ffffffff    128 GiB  direct map of all RAM
//   ffffffff00000000    ffffffff7fffffff      2 GiB  modules (reserved)
//   ffffffff80000000    ffffffffffffffff      2 GiB  kernel image
//
// The direct map starts at PAGE_OFFSET with the lowest RAM address rounded
// down to 1 GiB, so that gigapage leaves can map it. The kernel image is
// linked at KERNEL_LINK_ADDR and mapped to wherever the firmware loaded it.
#pragma once

#include "kernel/types.h"

constexpr uintptr_t USER_END = 0x0000004000000000ul;
constexpr uintptr_t VMEMMAP_START = 0xffffffc500000000ul;
constexpr uintptr_t VMEMMAP_END = 0xffffffc600000000ul;
constexpr uintptr_t VMALLOC_START_ADDR = 0xffffffc600000000ul;
constexpr uintptr_t VMALLOC_END_ADDR = 0xffffffd600000000ul;
constexpr uintptr_t PAGE_OFFSET = 0xffffffd600000000ul;
constexpr uintptr_t DIRECT_MAP_END = 0xfffffff600000000ul;
constexpr uintptr_t MODULES_START = 0xffffffff00000000ul;
constexpr uintptr_t MODULES_END = 0xffffffff80000000ul;
constexpr uintptr_t KERNEL_VIRT_BASE = 0xffffffff80000000ul;
constexpr uintptr_t KERNEL_LINK_ADDR = 0xffffffff80200000ul;

constexpr u64 DIRECT_MAP_SIZE = DIRECT_MAP_END - PAGE_OFFSET;

// Early ioremap window (Linux's fixmap sits here too): device registers the
// kernel needs from boot on (UART, poweroff) are mapped into it.
constexpr uintptr_t FIXADDR_START = 0xffffffc4fea00000ul;
constexpr uintptr_t FIXADDR_END = 0xffffffc4ff000000ul;
