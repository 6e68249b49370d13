// Kernel stacks from vmalloc (Linux's CONFIG_VMAP_STACK): every CPU's stack
// is a THREAD_SIZE vmalloc area, so the page below its lowest address is
// never mapped and a stack that grows past its bottom faults there instead
// of silently overwriting whatever lies below. trap_entry.S notices that sp
// is below the stack (percpu_area::stack) and reports on a per-CPU overflow
// stack (arch/riscv/trap.cpp).
//
// Why the page below is unmapped without an extra guard: a vmalloc area's
// own guard page is its last (mm/vmalloc.h), so the page below an area is
// either the previous area's guard, a free or lazily freed range (nothing
// mapped), or, for the first area, vmemmap's last page (unused). The range
// below a stack is never reused while the stack lives, and no CPU can hold a
// stale translation for it: it was last mapped, if ever, before a purge
// flushed it, which was before the stack's range could be handed out.
#pragma once

#include "kernel/types.h"

struct check_report;

constexpr unsigned long THREAD_SIZE = 16 * 1024;  // 4 pages, as the boot stack
constexpr unsigned THREAD_PAGES = THREAD_SIZE / PAGE_SIZE;

// A THREAD_SIZE stack (its lowest address) from vmalloc, its frames from
// node (NUMA_NO_NODE: anywhere), zeroed. vmallocinfo names the function that
// called this one as the area's caller. nullptr when vmalloc has no memory
// or is not set up yet.
void *alloc_thread_stack_node(int node);
// Gives back a stack alloc_thread_stack_node returned (nullptr: a no-op).
// Nothing may run on it any more.
void free_thread_stack(void *stack);

// The checker: each online CPU's stack is a live VM_ALLOC area of
// THREAD_PAGES pages starting at percpu_area::stack, stack_top is its end,
// no two CPUs share one, and the page below each is unmapped. Returns the
// number of violations, each described in r.
unsigned check_thread_stacks(check_report &r);
