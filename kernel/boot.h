// What the boot sequence (kernel/main.cpp) learned, for the rest of the kernel.
#pragma once

#include "kernel/fdt.h"
#include "mm/memblock.h"
#include "mm/mmzone.h"

#define KERNEL_VERSION "0.1"

extern boot_info boot_params;      // from the device tree
extern memblock boot_memblock;     // boot-time physical memory
extern phys_addr_t boot_dtb_pa;    // where the firmware put the device tree
extern u32 boot_dtb_size;          // its header's totalsize
extern phys_addr_t boot_dtb_copy_pa;  // a copy in memblock memory, reachable after paging
extern unsigned long boot_hartid;  // the hart that booted
extern bool mm_check_enabled;      // mm.check=1
// Pageblocks of each migrate type (mm/mmzone.h) right after the page
// allocator was set up, before anything was allocated: every one MOVABLE,
// as in Linux (UNMOVABLE without mobility grouping).
extern unsigned long boot_pageblocks[MIGRATE_TYPES];
// The same once the boot is done (SMP up, before ktest or the monitor), and
// the pages then allocated or on per-CPU lists: how the boot's own memory
// spread over pageblocks.
extern unsigned long boot_end_pageblocks[MIGRATE_TYPES];
extern unsigned long boot_end_pages_in_use;

// Turns on the fault injection asked for on the command line
// (kernel/fault_inject_params.cpp), once the boot's own allocations are done.
void fault_inject_apply();
